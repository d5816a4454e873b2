/* One chat call against an AI provider: request, streaming, usage, and
 * failures sorted into kinds a router can act on. */
#include "net/ai_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_RAW_BODY (16u << 20)

const char *net_ai_error_name(net_ai_error e)
{
    static const char *const names[] = {
        "ok", "auth", "rate-limited", "overloaded", "timeout", "offline", "bad-request",
        "content-filtered", "tls", "protocol",
    };
    return (unsigned)e < sizeof names / sizeof names[0] ? names[e] : "?";
}

int net_provider_parse(const char *name, net_provider *out)
{
    if (name && strcmp(name, "openai") == 0)
        *out = NET_PROVIDER_OPENAI;
    else if (name && strcmp(name, "anthropic") == 0)
        *out = NET_PROVIDER_ANTHROPIC;
    else
        return NET_E_ARG;
    return NET_OK;
}

void net_chat_req_init(net_chat_req *req)
{
    memset(req, 0, sizeof *req);
    req->temperature = -1;
}

void net_chat_result_free(net_chat_result *res)
{
    if (!res)
        return;
    free(res->text);
    res->text = NULL;
    res->text_len = 0;
}

void net_ai_copy(const net_json *obj, const char *key, char *dst, size_t n)
{
    const char *s = net_json_str(net_json_get(obj, key), NULL);
    if (s)
        snprintf(dst, n, "%s", s);
}

void net_ai_write_messages(net_jw *w, const net_chat_req *req, bool skip_system)
{
    net_jw_key(w, "messages");
    net_jw_arr_begin(w);
    for (size_t i = 0; i < req->n_messages; i++) {
        if (skip_system && strcmp(req->messages[i].role, "system") == 0)
            continue;
        net_jw_obj_begin(w);
        net_jw_key(w, "role");
        net_jw_str(w, req->messages[i].role);
        net_jw_key(w, "content");
        net_jw_str(w, req->messages[i].content);
        net_jw_obj_end(w);
    }
    net_jw_arr_end(w);
}

void net_ai_write_options(net_jw *w, const net_chat_req *req)
{
    if (req->temperature >= 0) {
        net_jw_key(w, "temperature");
        net_jw_double(w, req->temperature);
    }
    if (req->stream) {
        net_jw_key(w, "stream");
        net_jw_bool(w, true);
    }
}

void net_ai_usage(const net_json *usage, const char *in_key, const char *out_key, net_chat_result *res)
{
    int64_t v;
    if (net_json_int64(net_json_get(usage, in_key), &v, NULL, 0) == NET_OK)
        res->input_tokens = v;
    if (net_json_int64(net_json_get(usage, out_key), &v, NULL, 0) == NET_OK)
        res->output_tokens = v;
}

int net_ai_fail(ai_call *call, net_ai_error kind, const char *fmt, ...)
{
    if (!call->fail_rc)
        call->fail_kind = kind;
    va_list ap;
    va_start(ap, fmt);
    int rc = net_vsticky(&call->fail_rc, call->fail_msg, sizeof call->fail_msg, NET_E_API, fmt, ap);
    va_end(ap);
    return rc;
}

int net_ai_text(ai_call *call, const char *s, size_t n)
{
    if (net_buf_append(&call->text, s, n) < 0)
        return net_ai_fail(call, NET_AI_PROTOCOL, "out of memory for the answer");
    if (call->req->on_delta && call->req->on_delta(call->req->user, s, n) != 0)
        return net_ai_fail(call, NET_AI_PROTOCOL, "stopped by the caller");
    return NET_OK;
}

net_ai_error net_ai_kind_for_type(const char *type)
{
    static const struct { const char *type; net_ai_error kind; } map[] = {
        {"authentication_error", NET_AI_AUTH}, {"permission_error", NET_AI_AUTH},
        {"invalid_api_key", NET_AI_AUTH}, {"rate_limit_error", NET_AI_RATE_LIMITED},
        {"rate_limit_exceeded", NET_AI_RATE_LIMITED}, {"insufficient_quota", NET_AI_RATE_LIMITED},
        {"overloaded_error", NET_AI_OVERLOADED}, {"api_error", NET_AI_OVERLOADED},
        {"server_error", NET_AI_OVERLOADED}, {"timeout_error", NET_AI_TIMEOUT},
        {"invalid_request_error", NET_AI_BAD_REQUEST}, {"not_found_error", NET_AI_BAD_REQUEST},
        {"request_too_large", NET_AI_BAD_REQUEST}, {"model_not_found", NET_AI_BAD_REQUEST},
        {"content_filter", NET_AI_CONTENT_FILTERED}, {"content_policy_violation", NET_AI_CONTENT_FILTERED},
    };
    for (size_t i = 0; type && i < sizeof map / sizeof map[0]; i++)
        if (strcmp(type, map[i].type) == 0)
            return map[i].kind;
    return NET_AI_OK;
}

static net_ai_error kind_for_status(int st)
{
    if (st == 401 || st == 403)
        return NET_AI_AUTH;
    if (st == 429)
        return NET_AI_RATE_LIMITED;
    if (st == 408)
        return NET_AI_TIMEOUT;
    if (st >= 500)
        return NET_AI_OVERLOADED;
    return st >= 400 ? NET_AI_BAD_REQUEST : NET_AI_PROTOCOL;
}

static net_ai_error kind_for_transport(int rc)
{
    switch (rc) {
    case NET_E_TIMEOUT: return NET_AI_TIMEOUT;
    case NET_E_DNS:
    case NET_E_CONNECT:
    case NET_E_PROXY: return NET_AI_OFFLINE;
    case NET_E_TLS:
    case NET_E_CA: return NET_AI_TLS;
    case NET_E_ARG: return NET_AI_BAD_REQUEST;
    default: return NET_AI_PROTOCOL;
    }
}

/* Seconds from a Retry-After value: delay-seconds or an HTTP date. */
static int retry_after(const char *v)
{
    if (!v)
        return -1;
    if (*v >= '0' && *v <= '9') {
        long s = strtol(v, NULL, 10);
        return s > 86400 ? 86400 : (int)s;
    }
    struct tm tm = {0};
    const char *end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end)
        return -1;
    long d = (long)(timegm(&tm) - time(NULL));
    return d < 0 ? 0 : d > 86400 ? 86400 : (int)d;
}

/* Replace every copy of the key (and of "sk-" tokens, in case the server
 * echoed a variant) with "[redacted]". */
static void redact(char *s, size_t cap, const char *key)
{
    size_t kl = key ? strlen(key) : 0;
    for (char *p = s; *p;) {
        size_t n = 0;
        if (kl >= 4 && strncmp(p, key, kl) == 0)
            n = kl;
        else if (strncmp(p, "sk-", 3) == 0 && (p == s || !isalnum((unsigned char)p[-1])))
            n = 3 + strcspn(p + 3, " \t\r\n\",.'");
        if (!n) {
            p++;
            continue;
        }
        const char *r = "[redacted]";
        size_t rl = strlen(r), tail = strlen(p + n);
        if ((size_t)(p - s) + rl + tail >= cap)
            tail = cap - 1 - (size_t)(p - s) - rl;
        memmove(p + rl, p + n, tail);
        p[rl + tail] = '\0';
        memcpy(p, r, rl);
        p += rl;
    }
}

static const ai_provider *provider_of(net_provider p)
{
    return p == NET_PROVIDER_ANTHROPIC ? &net_ai_anthropic : p == NET_PROVIDER_OPENAI ? &net_ai_openai : NULL;
}

static int handle_event(ai_call *call, const ai_provider *p, const net_sse_event *ev)
{
    net_json_doc *doc = NULL;
    char jerr[160];
    int rc = net_json_parse_doc(ev->data, ev->data_len, &doc, jerr, sizeof jerr);
    bool is_json = rc == NET_OK;
    if (!is_json && ev->data[0] == '{')
        rc = net_ai_fail(call, NET_AI_PROTOCOL, "bad JSON in the stream: %s", jerr);
    else
        rc = p->on_event(call, ev, is_json ? net_json_root(doc) : NULL);
    net_json_free(doc);
    return rc;
}

typedef struct body_ctx {
    ai_call *call;
    const ai_provider *p;
} body_ctx;

/* Body pieces of the answer: an event stream goes through the SSE parser,
 * anything else (errors, whole answers) is kept to parse at the end. */
static int on_body(void *user, const net_http_resp *head, const char *data, size_t len)
{
    body_ctx *bc = user;
    ai_call *call = bc->call;
    const char *ct = net_http_resp_header(head, "Content-Type");
    call->sse_mode = head->status / 100 == 2 && ct && strncasecmp(ct, "text/event-stream", 17) == 0;
    if (!call->sse_mode)
        return net_buf_append(&call->raw, data, len) < 0
                   ? net_ai_fail(call, NET_AI_PROTOCOL, "answer larger than %u bytes", MAX_RAW_BODY) : 0;
    while (len) {
        size_t used;
        net_sse_event ev;
        char serr[160];
        int rc = net_sse_feed(&call->sse, data, len, &used, &ev, serr, sizeof serr);
        if (rc < 0)
            return net_ai_fail(call, NET_AI_PROTOCOL, "%s", serr);
        data += used;
        len -= used;
        if (rc == 1 && handle_event(call, bc->p, &ev) < 0)
            return -1;
    }
    return 0;
}

/* The answer of a failed HTTP status: kind, message, Retry-After. */
static int http_failure(ai_call *call, const ai_provider *p, const net_response *resp)
{
    net_chat_result *res = call->res;
    char type[64] = "", msg[200] = "";
    net_json_doc *doc = NULL;
    if (net_json_parse_doc(call->raw.data, call->raw.len, &doc, NULL, 0) == NET_OK)
        p->error_info(net_json_root(doc), type, sizeof type, msg, sizeof msg);
    net_json_free(doc);
    if (!msg[0])
        snprintf(msg, sizeof msg, "%.120s", call->raw.len ? call->raw.data : "(empty answer)");
    net_ai_error k = net_ai_kind_for_type(type);
    /* The status decides, except where the type is more precise. */
    res->kind = k == NET_AI_CONTENT_FILTERED || (k == NET_AI_OVERLOADED && res->http_status == 529)
                    ? k : kind_for_status(res->http_status);
    res->retry_after_s = retry_after(net_response_header(resp, "Retry-After"));
    char ra[48] = "";
    if (res->retry_after_s >= 0)
        snprintf(ra, sizeof ra, ", retry after %d s", res->retry_after_s);
    return net_ai_fail(call, res->kind, "(HTTP %d%s): %s", res->http_status, ra, msg);
}

static int finish_answer(ai_call *call, const ai_provider *p)
{
    int rc = NET_OK;
    if (call->sse_mode) {
        if (!call->done && !call->res->finish_reason[0])
            return net_ai_fail(call, NET_AI_PROTOCOL, "the stream ended before the answer was complete");
    } else {
        net_json_doc *doc;
        char jerr[200];
        if (net_json_parse_doc(call->raw.data ? call->raw.data : "", call->raw.len, &doc, jerr, sizeof jerr) < 0)
            return net_ai_fail(call, NET_AI_PROTOCOL, "answer is not valid JSON: %s", jerr);
        rc = p->parse_full(call, net_json_root(doc));
        net_json_free(doc);
    }
    /* Streamed or not, a filtered answer is a failure, not a short answer. */
    if (rc == NET_OK && !strcmp(call->res->finish_reason, "content_filter"))
        rc = net_ai_fail(call, NET_AI_CONTENT_FILTERED, "the answer was cut by the content filter");
    return rc;
}

static int send_chat(net_client *c, const ai_provider *p, ai_call *call, char *err, size_t errlen)
{
    const net_chat_req *req = call->req;
    net_buf body;
    net_buf_init(&body);
    net_jw w;
    net_jw_init(&w, &body);
    p->build(req, &w);
    int rc = net_jw_finish(&w, err, errlen);
    char url[2400], key_line[1200] = "";
    const char *extra[4] = {NULL};
    const char *base = req->base_url && *req->base_url ? req->base_url : p->default_base;
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        bl--;
    snprintf(url, sizeof url, "%.*s%s", (int)bl, base, p->path);
    p->auth(req, key_line, sizeof key_line, extra);
    const char *headers[8];
    size_t nh = 0;
    headers[nh++] = "Content-Type: application/json";
    headers[nh++] = req->stream ? "Accept: text/event-stream" : "Accept: application/json";
    if (key_line[0])
        headers[nh++] = key_line;
    for (size_t i = 0; extra[i] && nh < 7; i++)
        headers[nh++] = extra[i];
    headers[nh] = NULL;
    net_response *resp = NULL;
    body_ctx bc = {call, p};
    if (rc == NET_OK) {
        net_request r;
        net_request_init(&r);
        r.method = "POST";
        r.url = url;
        r.headers = headers;
        r.body = body.data;
        r.body_len = body.len;
        r.on_body = on_body;
        r.user = &bc;
        rc = net_request_send(c, &r, &resp, err, errlen);
    }
    explicit_bzero(key_line, sizeof key_line);
    net_buf_free(&body);
    if (rc < 0 && call->fail_rc)
        rc = call->fail_rc;
    else if (rc < 0)
        call->res->kind = kind_for_transport(rc);
    else if ((call->res->http_status = net_response_status(resp)) / 100 != 2)
        rc = http_failure(call, p, resp);
    else
        rc = finish_answer(call, p);
    net_response_free(resp);
    return rc;
}

int net_chat(net_client *c, const net_chat_req *req, net_chat_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    res->input_tokens = res->output_tokens = -1;
    res->retry_after_s = -1;
    const ai_provider *p = req ? provider_of(req->provider) : NULL;
    if (!c || !p || !req->model || !req->n_messages || !req->messages) {
        res->kind = NET_AI_BAD_REQUEST;
        return net_errf(err, errlen, NET_E_ARG, "chat: %s", !p ? "unknown provider" : "model and messages are required");
    }
    for (size_t i = 0; i < req->n_messages; i++)
        if (!req->messages[i].role || !req->messages[i].content) {
            res->kind = NET_AI_BAD_REQUEST;
            return net_errf(err, errlen, NET_E_ARG, "chat: message %zu lacks a role or content", i);
        }
    ai_call call = {.req = req, .res = res};
    net_buf_init(&call.text);
    net_buf_init(&call.raw);
    call.raw.max = MAX_RAW_BODY;
    net_sse_init(&call.sse);
    char msg[512] = "";
    int rc = send_chat(c, p, &call, msg, sizeof msg);
    if (rc < 0 && call.fail_rc) {
        res->kind = call.fail_kind;
        snprintf(msg, sizeof msg, "%s", call.fail_msg);
    }
    if (rc < 0 && res->kind == NET_AI_OK)
        res->kind = NET_AI_PROTOCOL;
    redact(msg, sizeof msg, req->api_key);
    /* "openai: rate-limited (HTTP 429, ...): ..." or "openai: offline: cannot ..." */
    if (rc < 0)
        net_errf(err, errlen, rc, "%s: %s%s%s", p->name, net_ai_error_name(res->kind), msg[0] == '(' ? " " : ": ",
                 msg);
    res->text = call.text.data ? call.text.data : calloc(1, 1);
    res->text_len = call.text.len;
    net_buf_free(&call.raw);
    net_sse_free(&call.sse);
    return rc;
}
