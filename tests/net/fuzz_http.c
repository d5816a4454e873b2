/* libFuzzer harness for the HTTP/1.1 response parser and the SSE parser.
 * The first input byte picks a piece size; the rest is the response. The
 * invariant: fed whole or in pieces, the parser reports the same outcome
 * (and, on success, the same body); the body then goes through the SSE parser. */
#include "net/net.h"

#include <stdlib.h>
#include <string.h>

typedef struct outcome {
    int rc, status;
    net_buf body;
} outcome;

static void parse(const char *data, size_t n, size_t step, bool head, outcome *o)
{
    net_http_resp r;
    net_http_resp_init(&r);
    r.max_header_bytes = 4096;
    r.max_body_bytes = 1 << 20;
    r.no_body = head;
    net_buf_init(&o->body);
    o->status = 0;
    char err[256];
    size_t at = 0, avail = step < n ? step : n;
    for (;;) {
        size_t used, blen;
        const char *body;
        int rc = net_http_resp_feed(&r, data + at, avail - at, &used, &body, &blen, err, sizeof err);
        if (used > avail - at)
            abort();
        at += used;
        if (rc == NET_HTTP_HEADERS) {
            o->status = r.status;
            net_http_resp_header(&r, "content-length");
        } else if (rc == NET_HTTP_BODY) {
            if (net_buf_append(&o->body, body, blen) < 0)
                abort();
        } else if (rc == NET_HTTP_MORE) {
            if (at != avail)
                abort();
            if (avail == n) {
                o->rc = net_http_resp_eof(&r, err, sizeof err);
                break;
            }
            avail = avail + step < n ? avail + step : n;
        } else {
            o->rc = rc;
            break;
        }
    }
    net_http_resp_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (data[0] & 0x3F) + 1;
    bool head = data[0] & 0x40;
    const char *text = (const char *)data + 1;
    size--;
    outcome whole, pieces;
    parse(text, size, size ? size : 1, head, &whole);
    parse(text, size, step, head, &pieces);
    /* After an error the body delivered so far may differ (pieces can come
     * before a limit trips), so compare bodies only on success. */
    if (whole.rc != pieces.rc || whole.status != pieces.status)
        abort();
    if (whole.rc == NET_HTTP_DONE && (whole.body.len != pieces.body.len ||
        (whole.body.len && memcmp(whole.body.data, pieces.body.data, whole.body.len) != 0)))
        abort();

    net_sse s;
    net_sse_init(&s);
    s.max_event = 4096;
    char err[256];
    for (size_t at = 0; at < whole.body.len;) {
        size_t used;
        net_sse_event ev;
        int rc = net_sse_feed(&s, whole.body.data + at, whole.body.len - at, &used, &ev, err, sizeof err);
        if (rc < 0)
            break;
        if (rc == 1 && ev.data[ev.data_len] != '\0')
            abort();
        at += used;
    }
    net_sse_free(&s);
    net_buf_free(&whole.body);
    net_buf_free(&pieces.body);
    return 0;
}
