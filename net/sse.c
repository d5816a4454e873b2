/* Server-Sent Events stream parser (WHATWG HTML "event stream"). */
#include "net/net_internal.h"

#include <string.h>

void net_sse_init(net_sse *s)
{
    memset(s, 0, sizeof *s);
    s->max_event = 1024 * 1024;
    s->retry_ms = -1;
}

void net_sse_free(net_sse *s)
{
    net_buf_free(&s->line);
    net_buf_free(&s->data);
    net_buf_free(&s->type);
    net_buf_free(&s->id);
}

static bool field_is(const char *f, size_t n, const char *name)
{
    return n == strlen(name) && memcmp(f, name, n) == 0;
}

/* Replace b's content with v[n]. */
static int set_buf(net_buf *b, const char *v, size_t n)
{
    b->len = 0;
    return net_buf_append(b, v, n);
}

/* One complete line (no terminator). Returns 1 when it dispatched an event. */
static int process_line(net_sse *s, net_sse_event *ev)
{
    const char *l = s->line.data ? s->line.data : "";
    size_t n = s->line.len;
    if (n == 0) {
        if (s->data.len == 0) {
            s->type.len = 0;
            return 0;
        }
        /* The data buffer's last '\n' is not part of the event. */
        s->data.data[--s->data.len] = '\0';
        ev->event = s->type.len ? s->type.data : "message";
        ev->data = s->data.data;
        ev->data_len = s->data.len;
        ev->id = s->id.len ? s->id.data : "";
        s->dispatched = true;
        return 1;
    }
    if (l[0] == ':')
        return 0;
    const char *colon = memchr(l, ':', n);
    size_t fl = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : l + n;
    size_t vl = (size_t)(l + n - v);
    if (vl && *v == ' ') {
        v++;
        vl--;
    }
    int rc = NET_OK;
    if (field_is(l, fl, "data")) {
        rc = net_buf_append(&s->data, v, vl);
        if (rc == NET_OK)
            rc = net_buf_append(&s->data, "\n", 1);
    } else if (field_is(l, fl, "event")) {
        rc = set_buf(&s->type, v, vl);
    } else if (field_is(l, fl, "id") && !memchr(v, '\0', vl)) {
        rc = set_buf(&s->id, v, vl);
    } else if (field_is(l, fl, "retry") && vl && vl < 10 && strspn(v, "0123456789") >= vl) {
        long ms = 0;
        for (size_t k = 0; k < vl; k++)
            ms = ms * 10 + (v[k] - '0');
        s->retry_ms = ms;
    }
    return rc;
}

int net_sse_feed(net_sse *s, const char *data, size_t len, size_t *used, net_sse_event *ev,
                 char *err, size_t errlen)
{
    if (s->dispatched) {
        s->data.len = 0;
        s->type.len = 0;
        s->dispatched = false;
    }
    size_t i = 0;
    while (i < len) {
        if (!s->started) {
            /* One UTF-8 BOM may open the stream; it can arrive split. */
            static const char bom[] = "\xEF\xBB\xBF";
            size_t have = s->line.len;
            if (have < 3 && (unsigned char)data[i] == (unsigned char)bom[have]) {
                net_buf_append(&s->line, data + i, 1);
                i++;
                if (s->line.len == 3) {
                    s->line.len = 0;
                    s->started = true;
                }
                continue;
            }
            s->started = true;
        }
        char c = data[i];
        if (s->skip_lf) {
            s->skip_lf = false;
            if (c == '\n') {
                i++;
                continue;
            }
        }
        if (c == '\r' || c == '\n') {
            i++;
            s->skip_lf = c == '\r';
            int rc = process_line(s, ev);
            s->line.len = 0;
            if (rc < 0)
                return net_errf(err, errlen, rc, "SSE: out of memory");
            if (s->data.len > s->max_event)
                return net_errf(err, errlen, NET_E_LIMIT, "SSE: event data exceeds %zu bytes", s->max_event);
            if (rc == 1) {
                *used = i;
                return 1;
            }
            continue;
        }
        size_t run = i;
        while (run < len && data[run] != '\r' && data[run] != '\n')
            run++;
        if (s->line.len + (run - i) > s->max_event)
            return net_errf(err, errlen, NET_E_LIMIT, "SSE: line longer than %zu bytes", s->max_event);
        if (net_buf_append(&s->line, data + i, run - i) < 0)
            return net_errf(err, errlen, NET_E_NOMEM, "SSE: out of memory");
        i = run;
    }
    *used = len;
    return 0;
}
