/* Incremental HTTP/1.1 response parser (RFC 9112 message framing). */
#include "net/net_internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

enum {
    S_HEAD,        /* status line and header fields */
    S_EMPTY,       /* headers reported, no body follows */
    S_LENGTH,      /* Content-Length body, r->remaining left */
    S_CLOSE,       /* body runs to the end of the connection */
    S_CHUNK_SIZE,  /* chunk-size line */
    S_CHUNK_DATA,  /* inside a chunk, r->remaining left */
    S_CHUNK_END,   /* the CRLF after chunk data */
    S_TRAILER,     /* trailer fields after the last chunk */
    S_DONE,
    S_FAILED,
};

#define CHUNK_LINE_MAX 4096

void net_http_resp_init(net_http_resp *r)
{
    memset(r, 0, sizeof *r);
    r->max_header_bytes = 64 * 1024;
    net_buf_init(&r->head);
    net_buf_init(&r->line);
    r->content_length = -1;
}

void net_http_resp_reset(net_http_resp *r)
{
    net_http_resp keep = *r;
    memset(r, 0, sizeof *r);
    r->max_header_bytes = keep.max_header_bytes;
    r->max_body_bytes = keep.max_body_bytes;
    r->no_body = keep.no_body;
    r->head = keep.head;
    r->line = keep.line;
    r->head.len = r->line.len = 0;
    r->content_length = -1;
}

void net_http_resp_free(net_http_resp *r)
{
    net_buf_free(&r->head);
    net_buf_free(&r->line);
}

static int fail(net_http_resp *r, int rc, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail(net_http_resp *r, int rc, char *err, size_t errlen, const char *fmt, ...)
{
    r->state = S_FAILED;
    if (err && errlen) {
        char msg[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snprintf(err, errlen, "HTTP response: %s", msg);
    }
    return rc;
}

/* Move bytes up to and including the next '\n' into b. Returns 1 when a
 * line is complete (b holds it, '\n' and any '\r' before it removed), 0
 * when data ran out first, or NET_E_LIMIT / NET_E_NOMEM. */
static int take_line(net_buf *b, size_t start, size_t limit, const char *data, size_t len, size_t *i)
{
    const char *nl = memchr(data + *i, '\n', len - *i);
    size_t n = nl ? (size_t)(nl - (data + *i)) + 1 : len - *i;
    if (b->len + n > limit)
        return NET_E_LIMIT;
    int rc = net_buf_append(b, data + *i, n);
    if (rc < 0)
        return rc;
    *i += n;
    if (!nl)
        return 0;
    b->len--;
    if (b->len > start && b->data[b->len - 1] == '\r')
        b->len--;
    b->data[b->len] = '\0';
    return 1;
}

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Does the comma-separated list s contain token tok (case-insensitive)? */
static bool list_has(const char *s, const char *tok, bool last_only)
{
    size_t tl = strlen(tok);
    bool found = false;
    while (*s) {
        s += strspn(s, " \t,");
        size_t n = strcspn(s, ",");
        size_t m = n;
        while (m && (s[m - 1] == ' ' || s[m - 1] == '\t'))
            m--;
        if (m)
            found = m == tl && strncasecmp(s, tok, tl) == 0;
        if (found && !last_only)
            return true;
        s += n;
    }
    return found;
}

static int parse_status_line(net_http_resp *r, char *s, char *err, size_t errlen)
{
    if (strncmp(s, "HTTP/1.", 7) != 0 || (s[7] != '0' && s[7] != '1') || s[8] != ' ')
        return fail(r, NET_E_SYNTAX, err, errlen, "status line \"%.40s\" is not HTTP/1.0 or HTTP/1.1", s);
    r->version_minor = s[7] - '0';
    for (int k = 9; k < 12; k++)
        if (s[k] < '0' || s[k] > '9')
            return fail(r, NET_E_SYNTAX, err, errlen, "status code in \"%.40s\" is not three digits", s);
    r->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    if (r->status < 100)
        return fail(r, NET_E_SYNTAX, err, errlen, "status code %d out of range", r->status);
    if (s[12] != '\0' && s[12] != ' ')
        return fail(r, NET_E_SYNTAX, err, errlen, "status line \"%.40s\": junk after the status code", s);
    r->reason = s[12] ? s + 13 : s + 12;
    for (const unsigned char *p = (const unsigned char *)r->reason; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7F)
            return fail(r, NET_E_SYNTAX, err, errlen, "control character 0x%02X in the reason phrase", *p);
    return NET_OK;
}

static int parse_field(net_http_resp *r, char *s, char *err, size_t errlen)
{
    if (*s == ' ' || *s == '\t')
        return fail(r, NET_E_SYNTAX, err, errlen, "obsolete line folding is not supported");
    char *colon = s;
    while (is_tchar((unsigned char)*colon))
        colon++;
    if (*colon != ':' || colon == s)
        return fail(r, NET_E_SYNTAX, err, errlen, "malformed header line \"%.40s\"", s);
    *colon = '\0';
    char *v = colon + 1;
    v += strspn(v, " \t");
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        v[--n] = '\0';
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7F)
            return fail(r, NET_E_SYNTAX, err, errlen, "control character 0x%02X in header %s", *p, s);
    if (r->n_headers >= NET_HTTP_MAX_HEADERS)
        return fail(r, NET_E_LIMIT, err, errlen, "more than %d header fields", NET_HTTP_MAX_HEADERS);
    r->headers[r->n_headers].name = s;
    r->headers[r->n_headers].value = v;
    r->n_headers++;
    return NET_OK;
}

static int content_length(net_http_resp *r, const char *v, char *err, size_t errlen)
{
    uint64_t n = 0;
    if (!*v)
        return fail(r, NET_E_SYNTAX, err, errlen, "empty Content-Length");
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9')
            return fail(r, NET_E_SYNTAX, err, errlen, "Content-Length \"%.40s\" is not a number", v);
        if (n > ((uint64_t)INT64_MAX - 9) / 10)
            return fail(r, NET_E_SYNTAX, err, errlen, "Content-Length %.40s is too large", v);
        n = n * 10 + (uint64_t)(*p - '0');
    }
    if (r->content_length >= 0 && (uint64_t)r->content_length != n)
        return fail(r, NET_E_SYNTAX, err, errlen, "conflicting Content-Length values");
    r->content_length = (int64_t)n;
    return NET_OK;
}

/* The head is complete in r->head as NUL-separated lines: fill in the
 * fields and choose how the body is framed. */
static int parse_head(net_http_resp *r, char *err, size_t errlen)
{
    char *s = r->head.data, *end = r->head.data + r->head.len;
    int rc = parse_status_line(r, s, err, errlen);
    const char *te = NULL, *conn = NULL;
    char *next;
    for (s += strlen(s) + 1; rc == NET_OK && s < end; s = next) {
        next = s + strlen(s) + 1;  /* before parse_field cuts the line at ':' */
        rc = parse_field(r, s, err, errlen);
        if (rc < 0)
            break;
        const net_http_header *h = &r->headers[r->n_headers - 1];
        if (strcasecmp(h->name, "Content-Length") == 0)
            rc = content_length(r, h->value, err, errlen);
        else if (strcasecmp(h->name, "Transfer-Encoding") == 0)
            te = h->value;
        else if (strcasecmp(h->name, "Connection") == 0)
            conn = h->value;
    }
    if (rc < 0)
        return rc;
    r->keep_alive = r->version_minor == 1 ? !(conn && list_has(conn, "close", false))
                                          : (conn && list_has(conn, "keep-alive", false));
    if (r->no_body || r->status < 200 || r->status == 204 || r->status == 304) {
        r->state = S_EMPTY;
        if (r->status == 101)
            r->keep_alive = false;
        return NET_OK;
    }
    if (te) {
        /* Transfer-Encoding overrides Content-Length (RFC 9112 6.3). */
        r->content_length = -1;
        r->chunked = list_has(te, "chunked", true);
        if (r->chunked) {
            r->state = S_CHUNK_SIZE;
            return NET_OK;
        }
    } else if (r->content_length >= 0) {
        if (r->max_body_bytes && (uint64_t)r->content_length > r->max_body_bytes)
            return fail(r, NET_E_LIMIT, err, errlen, "body of %lld bytes exceeds the limit of %llu",
                        (long long)r->content_length, (unsigned long long)r->max_body_bytes);
        r->remaining = (uint64_t)r->content_length;
        r->state = r->remaining ? S_LENGTH : S_EMPTY;
        return NET_OK;
    }
    r->until_close = true;
    r->keep_alive = false;
    r->state = S_CLOSE;
    return NET_OK;
}

static int feed_head(net_http_resp *r, const char *data, size_t len, size_t *i, char *err, size_t errlen)
{
    for (;;) {
        int rc = take_line(&r->head, r->line_start, r->max_header_bytes, data, len, i);
        if (rc == NET_E_LIMIT)
            return fail(r, rc, err, errlen, "status line and headers exceed %zu bytes", r->max_header_bytes);
        if (rc < 0)
            return fail(r, rc, err, errlen, "out of memory");
        if (rc == 0)
            return NET_HTTP_MORE;
        bool empty = r->head.len == r->line_start;
        if (empty && r->line_start == 0)
            continue;  /* stray CRLF before the status line */
        if (!empty) {
            if (net_buf_append(&r->head, "", 1) < 0)
                return fail(r, NET_E_NOMEM, err, errlen, "out of memory");
            r->line_start = r->head.len;
            continue;
        }
        rc = parse_head(r, err, errlen);
        if (rc < 0)
            return rc;
        if (r->status >= 100 && r->status < 200 && r->status != 101) {
            net_http_resp_reset(r);
            continue;
        }
        return NET_HTTP_HEADERS;
    }
}

static int chunk_size(net_http_resp *r, char *err, size_t errlen)
{
    const char *s = r->line.data;
    uint64_t n = 0;
    size_t k = 0;
    for (; s[k]; k++) {
        int h = s[k] >= '0' && s[k] <= '9' ? s[k] - '0'
              : s[k] >= 'a' && s[k] <= 'f' ? s[k] - 'a' + 10
              : s[k] >= 'A' && s[k] <= 'F' ? s[k] - 'A' + 10 : -1;
        if (h < 0)
            break;
        if (n >> 59)
            return fail(r, NET_E_SYNTAX, err, errlen, "chunk size %.40s is too large", s);
        n = n * 16 + (uint64_t)h;
    }
    size_t ws = strspn(s + k, " \t");
    if (k == 0 || (s[k + ws] != '\0' && s[k + ws] != ';'))
        return fail(r, NET_E_SYNTAX, err, errlen, "bad chunk size line \"%.40s\"", s);
    r->remaining = n;
    r->state = n ? S_CHUNK_DATA : S_TRAILER;
    return NET_OK;
}

/* A line of chunked framing (size, CRLF after data, trailer): 1 when one
 * was handled, 0 when data ran out first, or an error. */
static int feed_chunk_line(net_http_resp *r, const char *data, size_t len, size_t *i, char *err, size_t errlen)
{
    size_t limit = r->state == S_TRAILER ? r->max_header_bytes : CHUNK_LINE_MAX;
    int rc = take_line(&r->line, 0, limit, data, len, i);
    if (rc == NET_E_LIMIT)
        return fail(r, rc, err, errlen, "chunk framing line longer than %zu bytes", limit);
    if (rc < 0)
        return fail(r, rc, err, errlen, "out of memory");
    if (rc == 0)
        return 0;
    bool empty = r->line.len == 0;
    r->line.len = 0;
    if (r->state == S_CHUNK_SIZE)
        rc = chunk_size(r, err, errlen);
    else if (r->state == S_CHUNK_END && !empty)
        rc = fail(r, NET_E_SYNTAX, err, errlen, "chunk data not followed by CRLF");
    else if (r->state == S_CHUNK_END)
        r->state = S_CHUNK_SIZE;
    else if (empty)
        r->state = S_DONE;
    return rc < 0 ? rc : 1;
}

static int body_piece(net_http_resp *r, const char *data, size_t len, size_t *i, const char **body,
                      size_t *body_len, char *err, size_t errlen)
{
    uint64_t n = len - *i;
    if (r->state != S_CLOSE && n > r->remaining)
        n = r->remaining;
    if (r->max_body_bytes && r->body_received + n > r->max_body_bytes)
        return fail(r, NET_E_LIMIT, err, errlen, "body exceeds the limit of %llu bytes",
                    (unsigned long long)r->max_body_bytes);
    *body = data + *i;
    *body_len = (size_t)n;
    *i += (size_t)n;
    r->body_received += n;
    if (r->state != S_CLOSE) {
        r->remaining -= n;
        if (r->remaining == 0)
            r->state = r->state == S_LENGTH ? S_DONE : S_CHUNK_END;
    }
    return NET_HTTP_BODY;
}

int net_http_resp_feed(net_http_resp *r, const char *data, size_t len, size_t *used,
                       const char **body, size_t *body_len, char *err, size_t errlen)
{
    size_t i = 0;
    int rc;
    *body = NULL;
    *body_len = 0;
    for (;;) {
        switch (r->state) {
        case S_HEAD:
            rc = feed_head(r, data, len, &i, err, errlen);
            goto out;
        case S_EMPTY:
        case S_DONE:
            r->state = S_DONE;
            rc = NET_HTTP_DONE;
            goto out;
        case S_LENGTH:
        case S_CLOSE:
        case S_CHUNK_DATA:
            rc = i == len ? NET_HTTP_MORE : body_piece(r, data, len, &i, body, body_len, err, errlen);
            goto out;
        case S_CHUNK_SIZE:
        case S_CHUNK_END:
        case S_TRAILER:
            rc = i == len ? NET_HTTP_MORE : feed_chunk_line(r, data, len, &i, err, errlen);
            if (rc != 1)
                goto out;
            break;
        default:
            *used = 0;
            return net_errf(err, errlen, NET_E_STATE, "HTTP response: parser already failed");
        }
    }
out:
    *used = i;
    return rc;
}

int net_http_resp_eof(net_http_resp *r, char *err, size_t errlen)
{
    if (r->state == S_CLOSE || r->state == S_DONE || r->state == S_EMPTY) {
        r->state = S_DONE;
        return NET_HTTP_DONE;
    }
    if (r->state == S_HEAD && r->head.len == 0)
        return fail(r, NET_E_SYNTAX, err, errlen, "connection closed before any response");
    if (r->state == S_HEAD)
        return fail(r, NET_E_SYNTAX, err, errlen, "connection closed inside the headers");
    if (r->state == S_FAILED)
        return net_errf(err, errlen, NET_E_STATE, "HTTP response: parser already failed");
    return fail(r, NET_E_SYNTAX, err, errlen, "connection closed before the end of the body (%llu bytes received)",
                (unsigned long long)r->body_received);
}

const char *net_http_resp_header(const net_http_resp *r, const char *name)
{
    for (size_t k = 0; k < r->n_headers; k++)
        if (strcasecmp(r->headers[k].name, name) == 0)
            return r->headers[k].value;
    return NULL;
}
