#!/usr/bin/env python3
"""Loopback HTTPS file server for the model store tests.

Usage: model_server.py DIR CERT KEY PORTFILE LOG

Paths are /MODE/NAME for a file NAME in DIR:
  models     the file, Range answered with 206, ETag "<sha256>"
  redirect   302 to /models/NAME
  cut        the first GET of NAME stops half-way and closes the connection
  wrongetag  an ETag with another sha256
  nolength   no Content-Length, no ETag: the body ends when the connection closes
Anything else is a 404. Each request line and Range goes to LOG.
"""
import hashlib
import http.server
import os
import ssl
import sys
import threading

root, cert, key, portfile, logfile = sys.argv[1:6]
lock = threading.Lock()
cut_done = set()
digests = {}


def sha256(path):
    with lock:
        if path not in digests:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            digests[path] = h.hexdigest()
        return digests[path]


def log(line):
    with lock, open(logfile, "a") as f:
        f.write(line + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self.serve(head=True)

    def do_GET(self):
        self.serve(head=False)

    def plain(self, status, text, extra=()):
        body = text.encode()
        self.send_response(status)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def serve(self, head):
        log("%s %s range=%s" % (self.command, self.path, self.headers.get("Range", "-")))
        parts = self.path.split("/")
        if len(parts) != 3 or not parts[2] or parts[2].startswith("."):
            return self.plain(404, "not found\n")
        mode, name = parts[1], parts[2]
        path = os.path.join(root, name)
        if mode == "redirect":
            return self.plain(302, "moved\n", [("Location", "/models/" + name)])
        if mode not in ("models", "cut", "wrongetag", "nolength") or not os.path.isfile(path):
            return self.plain(404, "not found\n")
        with open(path, "rb") as f:
            data = f.read()
        start = 0
        rng = self.headers.get("Range")
        if rng and mode != "nolength":
            if not rng.startswith("bytes=") or not rng.endswith("-"):
                return self.plain(416, "bad range\n")
            start = int(rng[6:-1])
            if start >= len(data):
                return self.plain(416, "range not satisfiable\n",
                                  [("Content-Range", "bytes */%d" % len(data))])
        body = data[start:]
        self.send_response(206 if start else 200)
        if mode == "nolength":
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            digest = "0" * 64 if mode == "wrongetag" else sha256(path)
            self.send_header("ETag", '"%s"' % digest)
            self.send_header("Content-Length", str(len(body)))
            if start:
                self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.end_headers()
        if head:
            return
        if mode == "cut" and name not in cut_done:
            cut_done.add(name)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(portfile + ".tmp", portfile)
server.serve_forever()
