/* net: JSON, HTTP/1.1 and SSE parsing, and an HTTPS client on BearSSL.
 *
 * Everything here is embeddable: no globals, no printing, no exit. Functions
 * that can fail return 0 (NET_OK) or a negative net_status and, when err is
 * not NULL, write a one-line message into err[errlen] naming the position
 * and what was wrong. */
#ifndef RHEMA_NET_H
#define RHEMA_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum net_status {
    NET_OK = 0,
    NET_E_SYNTAX = -1,    /* malformed JSON / HTTP / SSE */
    NET_E_NOMEM = -2,     /* malloc failed or a fixed arena is full */
    NET_E_DEPTH = -3,     /* nesting deeper than the limit */
    NET_E_TYPE = -4,      /* value has another type than asked for */
    NET_E_RANGE = -5,     /* number does not fit the asked type */
    NET_E_UTF8 = -6,      /* invalid UTF-8 */
    NET_E_LIMIT = -7,     /* a configured size limit was exceeded */
    NET_E_ARG = -8,       /* bad argument (NULL, bad URL, ...) */
    NET_E_STATE = -9,     /* call not valid in the current state */
    NET_E_NOTFOUND = -10, /* key, path or header not present */
    NET_E_DNS = -11,      /* host name did not resolve (offline?) */
    NET_E_CONNECT = -12,  /* TCP connection refused / unreachable */
    NET_E_TIMEOUT = -13,  /* connect or read/write timed out */
    NET_E_TLS = -14,      /* handshake or certificate failure */
    NET_E_IO = -15,       /* connection reset / closed unexpectedly */
    NET_E_HTTP = -16,     /* malformed response or too many redirects */
    NET_E_CA = -17,       /* CA file unreadable or has no certificates */
    NET_E_PROXY = -18,    /* the HTTPS proxy refused or failed CONNECT */
    NET_E_API = -19,      /* an AI API answered with an error (see net_ai_error) */
} net_status;

/* "timeout", "dns", ... for a net_status (for logs and error kinds). */
const char *net_status_name(int status);

/* ------------------------------------------------------------------ */
/* Memory                                                              */

/* An arena: many allocations, one release. Fields are private. */
typedef struct net_arena {
    unsigned char *cur;  /* current block */
    size_t cap, used;
    void *chunks;        /* malloc'd blocks, newest first */
    bool fixed;          /* caller's buffer: never mallocs */
} net_arena;

/* buf != NULL: allocate only from buf[size] (NET_E_NOMEM when full, no
 * malloc at all). buf == NULL: grow with malloc as needed. */
void net_arena_init(net_arena *a, void *buf, size_t size);
/* Release every malloc'd block; a caller buffer is left alone. The arena
 * may be net_arena_init'ed again afterwards. */
void net_arena_free(net_arena *a);
/* n bytes aligned for any type, or NULL. */
void *net_arena_alloc(net_arena *a, size_t n);

/* A growable byte buffer, always NUL-terminated after len (data may be
 * NULL while len == 0). max (0 = unlimited) caps len: NET_E_LIMIT. */
typedef struct net_buf {
    char *data;
    size_t len, cap, max;
} net_buf;

void net_buf_init(net_buf *b);
void net_buf_free(net_buf *b);
int net_buf_append(net_buf *b, const void *p, size_t n);
int net_buf_puts(net_buf *b, const char *s);
/* Remove the first n bytes (n <= len). */
void net_buf_consume(net_buf *b, size_t n);

/* ------------------------------------------------------------------ */
/* JSON (RFC 8259, strict)                                             */
/*
 * The parser accepts exactly RFC 8259: no comments, no trailing commas, no
 * leading zeros, no BOM, only space/tab/CR/LF as white space, UTF-8 input
 * validated (no overlongs, no surrogate code points, nothing above
 * U+10FFFF), and \u escapes must pair surrogates correctly (a lone
 * surrogate is refused since it has no UTF-8 form). Strings are decoded to
 * UTF-8 and NUL-terminated, but may contain U+0000, so use the length.
 * Numbers keep their exact text (integers beyond 2^53 lose nothing).
 * Duplicate object keys are kept; lookups return the first one.
 */

typedef enum net_json_type {
    NET_JSON_NULL, NET_JSON_BOOL, NET_JSON_NUMBER,
    NET_JSON_STRING, NET_JSON_ARRAY, NET_JSON_OBJECT
} net_json_type;

typedef struct net_json net_json;  /* a node of the tree; read-only */

#define NET_JSON_DEFAULT_DEPTH 512
#define NET_JSON_MAX_DEPTH 4096  /* the parser recurses: larger requests are clamped */

/* Parse text[len] (need not be NUL-terminated) into the arena. max_depth
 * 0 means NET_JSON_DEFAULT_DEPTH. On error *root is NULL and err reads like
 * "JSON line 2, column 7 (byte 19): expected ',' or '}' after object member". */
int net_json_parse(net_arena *a, const char *text, size_t len, int max_depth,
                   const net_json **root, char *err, size_t errlen);

/* The same into one malloc'd document, released by net_json_free. */
typedef struct net_json_doc net_json_doc;
int net_json_parse_doc(const char *text, size_t len, net_json_doc **doc,
                       char *err, size_t errlen);
const net_json *net_json_root(const net_json_doc *doc);
void net_json_free(net_json_doc *doc);

net_json_type net_json_typeof(const net_json *v);
const char *net_json_type_name(net_json_type t);  /* "object", "string", ... */

/* Object member by key (first match), or NULL (also when v is not an object). */
const net_json *net_json_get(const net_json *obj, const char *key);
const net_json *net_json_getn(const net_json *obj, const char *key, size_t keylen);
/* RFC 6901 JSON Pointer: "" is v itself, "/choices/0/delta/content";
 * "~1" stands for '/', "~0" for '~'. NULL when absent. */
const net_json *net_json_path(const net_json *v, const char *pointer);

/* Iteration: children of an array or object in document order.
 *   for (const net_json *c = net_json_first(v); c; c = net_json_next(c)) */
const net_json *net_json_first(const net_json *v);
const net_json *net_json_next(const net_json *v);
/* Member key of an object child (NULL otherwise); *len gets its length. */
const char *net_json_key(const net_json *member, size_t *len);
/* Number of children (0 for scalars); i-th child (linear time) or NULL. */
size_t net_json_count(const net_json *v);
const net_json *net_json_at(const net_json *v, size_t i);

/* Typed getters. Scalars: NULL / false when the type differs. */
bool net_json_is_null(const net_json *v);
/* Decoded UTF-8 string, NUL-terminated; *len (may be NULL) its length. */
const char *net_json_str(const net_json *v, size_t *len);
/* The number exactly as written in the document ("12345678901234567890"). */
const char *net_json_num_text(const net_json *v);
/* Status-returning conversions: NET_E_TYPE if v is not of that kind. */
int net_json_bool(const net_json *v, bool *out);
/* Nearest double (locale-independent); huge exponents give +-HUGE_VAL
 * and NET_E_RANGE. */
int net_json_double(const net_json *v, double *out, char *err, size_t errlen);
/* Integers only ("3", "-7"; not "3.0" or "1e2"): NET_E_TYPE otherwise,
 * NET_E_RANGE outside int64. */
int net_json_int64(const net_json *v, int64_t *out, char *err, size_t errlen);
/* Convenience: member key of obj as string / int64 / bool with a default. */
const char *net_json_get_str(const net_json *obj, const char *key, const char *dflt);
int64_t net_json_get_int(const net_json *obj, const char *key, int64_t dflt);

/* JSON writer: appends to a net_buf. Errors are sticky: after the first
 * one every call does nothing and net_jw_finish reports it. Strings must
 * be valid UTF-8: invalid input is an error (NET_E_UTF8), never silently
 * replaced. Control characters, '"' and '\\' are escaped; all other
 * characters, non-ASCII included, are written as they are. */
#define NET_JW_MAX_DEPTH NET_JSON_DEFAULT_DEPTH  /* any parsed document can be written back */
typedef struct net_jw {
    net_buf *out;
    int rc;
    int depth;
    bool done;                               /* top-level value written */
    bool after_key;                          /* a key awaits its value */
    unsigned char st[NET_JW_MAX_DEPTH];      /* per level: object?, non-empty? */
    char msg[128];
} net_jw;

void net_jw_init(net_jw *w, net_buf *out);
int net_jw_obj_begin(net_jw *w);
int net_jw_obj_end(net_jw *w);
int net_jw_arr_begin(net_jw *w);
int net_jw_arr_end(net_jw *w);
int net_jw_key(net_jw *w, const char *key);
int net_jw_str(net_jw *w, const char *s);
int net_jw_strn(net_jw *w, const char *s, size_t n);
int net_jw_int(net_jw *w, int64_t v);
/* Shortest text that reads back as the same double; NaN/Inf are errors. */
int net_jw_double(net_jw *w, double v);
int net_jw_bool(net_jw *w, bool v);
int net_jw_null(net_jw *w);
/* A number given as text; checked against the JSON number grammar. */
int net_jw_num_text(net_jw *w, const char *text);
/* Copy a parsed value (and everything under it). */
int net_jw_value(net_jw *w, const net_json *v);
/* 0 when exactly one complete value was written, else the error. */
int net_jw_finish(net_jw *w, char *err, size_t errlen);

/* Append s[n] as a quoted, escaped JSON string (no writer state). */
int net_json_quote(net_buf *out, const char *s, size_t n, char *err, size_t errlen);

/* Streaming: cut a byte stream fed in arbitrary pieces into complete
 * top-level values (newline-delimited JSON, or the elements of one big
 * array when array_mode is set) so each can go to net_json_parse. It only
 * tracks strings and brackets; the parser does the validation. */
typedef struct net_json_split {
    net_buf value;      /* the current value's bytes */
    bool array_mode;
    bool ready;         /* private from here */
    bool in_value, in_outer, in_str, esc, scalar;
    long depth;
} net_json_split;

/* max_value (0 = unlimited) caps one value's size (NET_E_LIMIT). */
void net_json_split_init(net_json_split *s, bool array_mode, size_t max_value);
/* Consume data[len]. Returns 1 when s->value holds one complete value
 * (*used bytes consumed; call again with the rest, which first drops the
 * value), 0 when all was consumed and more is needed, or NET_E_SYNTAX for
 * a closing bracket that matches nothing / junk between array elements. */
int net_json_split_feed(net_json_split *s, const char *data, size_t len,
                        size_t *used, char *err, size_t errlen);
void net_json_split_free(net_json_split *s);

/* ------------------------------------------------------------------ */
/* HTTP/1.1 response parser (RFC 9112): a pure, incremental state       */
/* machine. It does no I/O: feed it whatever bytes arrived.             */

#define NET_HTTP_MAX_HEADERS 100

typedef struct net_http_header {
    const char *name;   /* as sent; compare case-insensitively */
    const char *value;  /* leading/trailing white space removed */
} net_http_header;

typedef enum net_http_event {
    NET_HTTP_MORE = 0,     /* all input consumed, feed more */
    NET_HTTP_HEADERS = 1,  /* status line and headers are complete */
    NET_HTTP_BODY = 2,     /* *body[*body_len] is the next piece of body */
    NET_HTTP_DONE = 3,     /* the response is complete */
} net_http_event;

typedef struct net_http_resp {
    /* Limits: set after net_http_resp_init, before feeding. */
    size_t max_header_bytes;  /* status line + headers, and trailers; default 64 KiB */
    uint64_t max_body_bytes;  /* 0 = unlimited (default) */
    bool no_body;             /* the request was HEAD: headers only */

    /* Valid from NET_HTTP_HEADERS until reset/free. Informational 1xx
     * responses (other than 101) are skipped over. */
    int status;               /* 200 */
    int version_minor;        /* 1 for HTTP/1.1 */
    const char *reason;       /* "OK" (may be "") */
    net_http_header headers[NET_HTTP_MAX_HEADERS];
    size_t n_headers;
    int64_t content_length;   /* -1 when not given */
    bool chunked;
    bool until_close;         /* body ends when the connection closes */
    bool keep_alive;          /* the connection may carry another request */
    uint64_t body_received;   /* body bytes so far (decoded) */

    /* Private. */
    int state;
    uint64_t remaining;
    net_buf head, line;
    size_t line_start;
} net_http_resp;

void net_http_resp_init(net_http_resp *r);
/* Ready for the next response on the same connection; limits are kept. */
void net_http_resp_reset(net_http_resp *r);
void net_http_resp_free(net_http_resp *r);
/* Consume data[len]: *used bytes were taken; returns a net_http_event or a
 * negative error (NET_E_SYNTAX, NET_E_LIMIT, NET_E_NOMEM). Body pieces
 * point into data. Call again with the rest (also with len 0: an empty
 * body finishes without input). After an error the parser stays failed. */
int net_http_resp_feed(net_http_resp *r, const char *data, size_t len, size_t *used,
                       const char **body, size_t *body_len, char *err, size_t errlen);
/* The peer closed the connection: NET_HTTP_DONE when that ends the body
 * (until_close), otherwise NET_E_SYNTAX "closed before the end of ...". */
int net_http_resp_eof(net_http_resp *r, char *err, size_t errlen);
/* First header with that name (case-insensitive), or NULL. */
const char *net_http_resp_header(const net_http_resp *r, const char *name);

/* ------------------------------------------------------------------ */
/* Server-Sent Events (WHATWG HTML, "event stream" interpretation).     */

typedef struct net_sse_event {
    const char *event;   /* "message" unless the stream named a type */
    const char *data;    /* lines joined with '\n', NUL-terminated */
    size_t data_len;
    const char *id;      /* last event id so far ("" when none) */
} net_sse_event;

typedef struct net_sse {
    size_t max_event;    /* cap on one event's data + a line; default 1 MiB */
    long retry_ms;       /* last valid "retry:" value, -1 when none */
    /* Private. */
    net_buf line, data, type, id;
    bool started, skip_lf, dispatched;
} net_sse;

void net_sse_init(net_sse *s);
void net_sse_free(net_sse *s);
/* Consume data[len] (*used bytes). Returns 1 with *ev filled when an event
 * is complete (valid until the next call), 0 when all input was consumed,
 * or NET_E_LIMIT / NET_E_NOMEM. Events without data are not dispatched,
 * as the standard says. */
int net_sse_feed(net_sse *s, const char *data, size_t len, size_t *used, net_sse_event *ev,
                 char *err, size_t errlen);

/* ------------------------------------------------------------------ */
/* HTTP(S) client: TLS 1.2 on BearSSL, keep-alive, redirects, proxy.    */

typedef struct net_client_opts {
    const char *ca_file;        /* PEM bundle; NULL: /etc/ssl/certs/ca-certificates.crt */
    int connect_timeout_ms;     /* DNS + TCP + TLS handshake; 0: 15000 */
    int io_timeout_ms;          /* each read/write wait; 0: 120000 */
    uint64_t max_body_bytes;    /* 0: 256 MiB */
    int max_redirects;          /* 0: 5; -1: do not follow redirects */
    /* Proxy for https:// URLs ("http://host:port"), used through CONNECT.
     * NULL: taken from HTTPS_PROXY / https_proxy unless no_env_proxy. */
    const char *proxy;
    const char *no_proxy;       /* "localhost,.internal"; NULL: NO_PROXY / no_proxy */
    bool no_env_proxy;
} net_client_opts;

typedef struct net_client net_client;

/* opts may be NULL (all defaults). The CA bundle is read once, at the
 * first https:// request (so plain-http use needs none). A client keeps
 * one idle connection for reuse; use one client per thread. DNS waits
 * are the system resolver's own (resolv.conf), not connect_timeout_ms. */
int net_client_new(const net_client_opts *opts, net_client **out, char *err, size_t errlen);
/* Closes any kept-alive connection. */
void net_client_free(net_client *c);

typedef struct net_response net_response;

/* Streaming: called for each piece of the final response's body (after
 * redirects) with the parsed status and headers; return non-zero to stop
 * (the request then fails with NET_E_STATE and the connection is closed). */
typedef int (*net_body_fn)(void *user, const net_http_resp *head, const char *data, size_t len);

typedef struct net_request {
    const char *method;            /* NULL: "GET", or "POST" when body is set */
    const char *url;               /* http:// or https://, host may be [IPv6]; TLS checks
                                      the certificate's DNS names, so use host names */
    const char *const *headers;    /* "Name: value" lines, NULL-terminated, or NULL; Host,
                                      Content-Length and Range are added by the client.
                                      Authorization / x-api-key / api-key / Cookie lines
                                      are dropped when a redirect leaves the origin. */
    const char *body;
    size_t body_len;
    int64_t range_start;           /* >= 0: send Range: bytes=start-end */
    int64_t range_end;             /* inclusive; < 0: to the end */
    net_body_fn on_body;           /* NULL: collect the body in the response */
    void *user;
} net_request;

/* A request with defaults (GET, no range); set the url. */
void net_request_init(net_request *req);

/* Send req and read the whole response (following redirects). Any HTTP
 * status is a success here: look at net_response_status. Failures: DNS,
 * CONNECT, TIMEOUT, TLS (message says: certificate expired, does not
 * match host, unknown CA, handshake failure), IO, HTTP, LIMIT, PROXY.
 * Messages name the host, never header values (API keys stay out). */
int net_request_send(net_client *c, const net_request *req, net_response **resp, char *err, size_t errlen);

int net_response_status(const net_response *r);
const char *net_response_header(const net_response *r, const char *name);
/* Collected body (NUL-terminated; empty when on_body streamed it). */
const char *net_response_body(const net_response *r, size_t *len);
/* The URL finally answered, after redirects. */
const char *net_response_url(const net_response *r);
void net_response_free(net_response *r);

/* Split an http(s) URL. Host is without brackets; port defaults to 80/443;
 * path starts with '/' (query included). */
typedef struct net_url {
    bool https;
    char host[256];
    int port;
    char path[2048];
} net_url;
int net_url_parse(const char *url, net_url *out, char *err, size_t errlen);

/* ------------------------------------------------------------------ */
/* AI providers: OpenAI-compatible chat completions and the Anthropic    */
/* Messages API, streaming or not.                                       */

typedef enum net_provider {
    NET_PROVIDER_OPENAI,     /* POST {base}/chat/completions; base default https://api.openai.com/v1 */
    NET_PROVIDER_ANTHROPIC,  /* POST {base}/v1/messages; base default https://api.anthropic.com */
} net_provider;

/* What kind of failure a chat call met (for retry and fallback policy). */
typedef enum net_ai_error {
    NET_AI_OK = 0,
    NET_AI_AUTH,              /* 401/403: bad or missing API key, no permission */
    NET_AI_RATE_LIMITED,      /* 429; see retry_after_s */
    NET_AI_OVERLOADED,        /* 5xx, Anthropic 529 / overloaded_error */
    NET_AI_TIMEOUT,           /* connect/read timeout, HTTP 408 */
    NET_AI_OFFLINE,           /* DNS failure or connection refused */
    NET_AI_BAD_REQUEST,       /* other 4xx: unknown model, bad parameters, too long */
    NET_AI_CONTENT_FILTERED,  /* refused or cut by the provider's content filter */
    NET_AI_TLS,               /* certificate or handshake problem */
    NET_AI_PROTOCOL,          /* unparsable answer, limits, anything else */
} net_ai_error;

const char *net_ai_error_name(net_ai_error e);  /* "rate-limited", ... */
/* "openai" / "anthropic" -> provider; NET_E_ARG for anything else. */
int net_provider_parse(const char *name, net_provider *out);

typedef struct net_chat_msg {
    const char *role;      /* "system", "user" or "assistant" */
    const char *content;   /* UTF-8 */
} net_chat_msg;

typedef struct net_chat_req {
    net_provider provider;
    const char *base_url;  /* NULL: the provider's default */
    const char *api_key;   /* NULL or "": no key sent (local servers) */
    const char *model;
    const net_chat_msg *messages;
    size_t n_messages;
    int max_tokens;        /* 0: unset (Anthropic requires one: 1024 then) */
    double temperature;    /* < 0: unset */
    bool stream;
    /* Streaming: each piece of generated text as it arrives; non-zero stops. */
    int (*on_delta)(void *user, const char *text, size_t len);
    void *user;
} net_chat_req;

/* Set defaults: OpenAI, temperature unset. */
void net_chat_req_init(net_chat_req *req);

typedef struct net_chat_result {
    char *text;             /* the whole answer, malloc'd, NUL-terminated (also when streamed) */
    size_t text_len;
    char finish_reason[32]; /* as the provider says: "stop", "length", "end_turn", "max_tokens"... */
    char model[128];        /* model the provider reports */
    char id[128];
    int64_t input_tokens;   /* usage; -1 when not reported */
    int64_t output_tokens;
    /* On failure: */
    net_ai_error kind;
    int http_status;        /* 0 when no HTTP answer */
    int retry_after_s;      /* from Retry-After; -1 when absent */
} net_chat_result;

/* One chat call. 0 on success; otherwise a net_status (NET_E_API for an
 * error answer) with res->kind set and err "PROVIDER: KIND..." like
 * "anthropic: rate-limited (HTTP 429, retry after 20 s): Number of request
 * tokens has exceeded..." or "openai: offline: cannot resolve host ...".
 * The API key never appears in err (it is also scrubbed out of the
 * server's messages). Free res with net_chat_result_free either way. */
int net_chat(net_client *c, const net_chat_req *req, net_chat_result *res, char *err, size_t errlen);
void net_chat_result_free(net_chat_result *res);

#endif
