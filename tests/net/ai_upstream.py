#!/usr/bin/env python3
"""Loopback HTTPS stand-in for the OpenAI and Anthropic chat APIs.

Usage: ai_upstream.py CERT KEY PORTFILE LOG API_KEY

POST /v1/chat/completions (OpenAI) and POST /v1/messages (Anthropic), with
"stream": true answered as an event stream (chunked). The request is
checked first (key header, anthropic-version, JSON shape): anything wrong
is a 400 naming the problem, a missing or different key a 401. Then the
model name picks the answer:
  ok         the answer "Hello from upstream" (plus "[system: S]" when a
             system prompt came, as each API expects it) and usage 11 + 5
  auth       401, the error message echoes the key (clients must hide it)
  ratelimit  429 with Retry-After: 7
  error500   500
  overloaded Anthropic's 529 overloaded_error (OpenAI: 503)
  cut        closes the connection half-way through the body
  slow       waits SLOW_S seconds (before the answer; streams: after the
             first piece)
  gated      waits until a file named "release" exists in the working
             folder (at most GATE_S seconds), then answers as ok: a test
             holds requests in flight as long as it needs, untimed
  badjson    a 200 whose JSON is broken
  huge       a 200 larger than the client accepts (17 MiB; streams: one
             2 MiB event)
  filtered   the provider's content filter / refusal
  echo       the answer "Improved: " and the last user message, so a test
             sees what was asked (hybrid: the draft sent for enhancement)
Each request goes to LOG as "METHOD PATH model=M stream=S" (never the key).
"""
import json
import os
import ssl
import sys
import threading
import time
import http.server

cert, key, portfile, logfile, api_key = sys.argv[1:6]
SLOW_S = 4
GATE_S = 60
lock = threading.Lock()


def log(line):
    with lock, open(logfile, "a") as f:
        f.write(line + "\n")


def check_messages(msgs, allow_system):
    if not isinstance(msgs, list) or not msgs:
        return "messages must be a non-empty array"
    for m in msgs:
        if not isinstance(m, dict) or not isinstance(m.get("content"), str):
            return "each message needs a string content"
        roles = ("system", "user", "assistant") if allow_system else ("user", "assistant")
        if m.get("role") not in roles:
            return "bad role %r in messages" % m.get("role")
    if msgs[-1]["role"] != "user":
        return "the last message must be the user's"
    return None


def check_openai(headers, body):
    if headers.get("Authorization") != "Bearer " + api_key:
        return 401, "missing or wrong Authorization: Bearer key"
    err = check_messages(body.get("messages"), True)
    if err:
        return 400, err
    if "max_tokens" in body and (not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1):
        return 400, "max_tokens must be a positive integer"
    if body.get("stream") and body.get("stream_options") != {"include_usage": True}:
        return 400, "streams are expected to ask for usage"
    return None


def check_anthropic(headers, body):
    if headers.get("x-api-key") != api_key:
        return 401, "missing or wrong x-api-key"
    if headers.get("anthropic-version") != "2023-06-01":
        return 400, "anthropic-version header missing"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return 400, "max_tokens is required"
    err = check_messages(body.get("messages"), False)
    if err:
        return 400, err
    sys_ = body.get("system")
    if sys_ is not None and not isinstance(sys_, str) and not (
            isinstance(sys_, list) and all(isinstance(b, dict) and b.get("type") == "text"
                                           and isinstance(b.get("text"), str) for b in sys_)):
        return 400, "system must be a string or text blocks"
    return None


def system_text(api, body):
    if api == "openai":
        return " ".join(m["content"] for m in body["messages"] if m["role"] == "system")
    s = body.get("system")
    return s if isinstance(s, str) or s is None else " ".join(b["text"] for b in s)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body, ctype="application/json", extra=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, api, status, etype, msg, extra=()):
        if api == "openai":
            body = {"error": {"message": msg, "type": etype, "param": None, "code": etype}}
        else:
            body = {"type": "error", "error": {"type": etype, "message": msg}}
        self.send(status, body, extra=extra)

    def do_POST(self):
        try:
            self.handle_post()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True

    def handle_post(self):
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        api = {"/v1/chat/completions": "openai", "/v1/messages": "anthropic"}.get(self.path)
        if not api:
            log("POST %s unknown" % self.path)
            return self.send(404, {"error": {"message": "no route " + self.path, "type": "not_found"}})
        try:
            body = json.loads(raw)
            model = body["model"]
        except (ValueError, KeyError, TypeError):
            return self.error(api, 400, "invalid_request_error", "body is not JSON with a model")
        stream = body.get("stream") is True
        log("POST %s model=%s stream=%s" % (self.path, model, stream))
        bad = (check_openai if api == "openai" else check_anthropic)(self.headers, body)
        if bad:
            etype = "invalid_request_error" if bad[0] == 400 else (
                "invalid_api_key" if api == "openai" else "authentication_error")
            return self.error(api, bad[0], etype, bad[1])
        handler = getattr(self, "s_" + model, None)
        if not handler:
            return self.error(api, 404, "not_found_error", "model %s does not exist" % model)
        handler(api, stream, body)

    # ---- answers
    def answer(self, api, body, text, finish):
        if api == "openai":
            return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": body["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "finish_reason": finish}],
                    "usage": {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}}
        return {"id": "msg_1", "type": "message", "role": "assistant", "model": body["model"],
                "content": [{"type": "text", "text": text}], "stop_reason": finish, "stop_sequence": None,
                "usage": {"input_tokens": 11, "output_tokens": 5}}

    def events(self, api, body, pieces, finish):
        """The SSE payloads of a streamed answer, as (event, data) pairs."""
        m = body["model"]
        if api == "openai":
            out = [(None, {"id": "c1", "model": m, "choices": [{"index": 0, "delta": {"role": "assistant"},
                                                                 "finish_reason": None}]})]
            out += [(None, {"id": "c1", "model": m, "choices": [{"index": 0, "delta": {"content": p},
                                                                  "finish_reason": None}]}) for p in pieces]
            out.append((None, {"id": "c1", "model": m, "choices": [{"index": 0, "delta": {},
                                                                     "finish_reason": finish}]}))
            out.append((None, {"id": "c1", "model": m, "choices": [],
                               "usage": {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}}))
            out.append((None, "[DONE]"))
            return out
        out = [("message_start", {"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": m, "content": [],
            "stop_reason": None, "usage": {"input_tokens": 11, "output_tokens": 1}}}),
            ("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}}),
            ("ping", {"type": "ping"})]
        out += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                         "delta": {"type": "text_delta", "text": p}}) for p in pieces]
        out += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
                ("message_delta", {"type": "message_delta", "delta": {"stop_reason": finish},
                                   "usage": {"output_tokens": 5}}),
                ("message_stop", {"type": "message_stop"})]
        return out

    def start_stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    @staticmethod
    def sse(ev, data):
        payload = data if isinstance(data, str) else json.dumps(data)
        return ((("event: %s\n" % ev) if ev else "") + "data: %s\n\n" % payload).encode()

    def stream_events(self, evs, cut_after=None, pause_after=None):
        self.start_stream()
        for i, (ev, data) in enumerate(evs):
            frame = self.sse(ev, data)
            if i == cut_after:
                # Half a chunk, then the connection drops.
                self.wfile.write(b"%x\r\n%s" % (len(frame), frame[: len(frame) // 2]))
                self.wfile.flush()
                self.close_connection = True
                return
            self.chunk(frame)
            if i == pause_after:
                time.sleep(SLOW_S)
        self.wfile.write(b"0\r\n\r\n")

    def reply_ok(self, api, stream, body, text, finish=None):
        finish = finish or ("stop" if api == "openai" else "end_turn")
        if stream:
            pieces = [text[i:i + 6] for i in range(0, len(text), 6)]
            return self.stream_events(self.events(api, body, pieces, finish))
        self.send(200, self.answer(api, body, text, finish))

    # ---- scenarios, by model name
    def s_ok(self, api, stream, body):
        s = system_text(api, body)
        self.reply_ok(api, stream, body, "Hello from upstream" + (" [system: %s]" % s if s else ""))

    def s_auth(self, api, stream, body):
        self.error(api, 401, "invalid_api_key" if api == "openai" else "authentication_error",
                   "Incorrect API key provided: %s. Find your key in the console." % api_key)

    def s_ratelimit(self, api, stream, body):
        self.error(api, 429, "rate_limit_exceeded" if api == "openai" else "rate_limit_error",
                   "Rate limit reached for requests", extra=[("Retry-After", "7")])

    def s_error500(self, api, stream, body):
        self.error(api, 500, "server_error" if api == "openai" else "api_error", "The server had an error")

    def s_overloaded(self, api, stream, body):
        if api == "openai":
            return self.error(api, 503, "server_error", "The engine is currently overloaded")
        self.error(api, 529, "overloaded_error", "Overloaded")

    def s_cut(self, api, stream, body):
        if stream:
            return self.stream_events(self.events(api, body, ["Hello ", "from ", "upstream"], "stop"),
                                      cut_after=3)
        data = json.dumps(self.answer(api, body, "Hello from upstream", "stop")).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True

    def s_slow(self, api, stream, body):
        if stream:
            # The pause follows the first piece of text.
            first = 1 if api == "openai" else 3
            return self.stream_events(self.events(api, body, ["Hello ", "slowly"], "stop"), pause_after=first)
        time.sleep(SLOW_S)
        self.send(200, self.answer(api, body, "too late", "stop"))

    def s_gated(self, api, stream, body):
        for _ in range(GATE_S * 20):
            if os.path.exists("release"):
                break
            time.sleep(0.05)
        self.s_ok(api, stream, body)

    def s_badjson(self, api, stream, body):
        if stream:
            self.start_stream()
            self.chunk(b'data: {"id": "c1", "choices": [{"delta": {"content": "Hel\n\n')
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send(200, b'{"id": "chatcmpl-1", "choices": [{"message": {"content": "Hello"}}, }',)

    def s_huge(self, api, stream, body):
        if stream:
            ev = self.events(api, body, ["x" * (2 << 20)], "stop")
            return self.stream_events(ev)
        self.send(200, self.answer(api, body, "x" * (17 << 20), "stop"))

    def s_echo(self, api, stream, body):
        self.reply_ok(api, stream, body, "Improved: " + body["messages"][-1]["content"])

    def s_filtered(self, api, stream, body):
        if api == "anthropic":
            return self.reply_ok(api, stream, body, "I can't help with that.", "refusal")
        self.reply_ok(api, stream, body, "", "content_filter")


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(portfile + ".tmp", portfile)
server.serve_forever()
