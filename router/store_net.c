/* The download fetcher over net's HTTPS client. Before each GET it asks
 * for the headers alone without following redirects: Hugging Face answers
 * a resolve/ URL with a redirect that carries the LFS file's sha256 in
 * X-Linked-Etag (the CDN's final answer does not); other servers may give
 * it as a plain ETag. */
#include "router/store_internal.h"

#include "net/net.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct netf {
    net_client *get;   /* follows redirects */
    net_client *peek;  /* does not: sees the first hop's headers */
} netf;

/* One GET in flight. */
typedef struct xfer {
    const route_fetch_sink *sink;
    uint64_t offset;
    route_fetch_head head;
    bool head_sent;
    int rc;            /* the sink's status when it stopped the transfer */
    char *err;
    size_t errlen;
} xfer;

/* A sha256 in an ETag-like value: optional W/, quotes, 64 hex digits. */
static bool etag_digest(const char *v, char out[65])
{
    char hex[65];
    if (!v)
        return false;
    if (!strncmp(v, "W/", 2))
        v += 2;
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"')
        v++, n -= 2;
    if (n != 64)
        return false;
    memcpy(hex, v, 64);
    hex[64] = '\0';
    return route_store_hex_ok(hex, out);
}

/* "bytes START-END/TOTAL": START must be what was asked; TOTAL may be '*'. */
static bool content_range(const char *v, uint64_t want, int64_t *total)
{
    unsigned long long start, end;
    int used = 0;
    if (!v || sscanf(v, "bytes %llu-%llu/%n", &start, &end, &used) < 2 || !used || start != want ||
        end < start)
        return false;
    *total = -1;
    if (v[used] != '*') {
        char *stop;
        unsigned long long t = strtoull(v + used, &stop, 10);
        if (*stop || t <= end || t > INT64_MAX)
            return false;
        *total = (int64_t)t;
    }
    return true;
}

/* Fill x->head from the final response's status and headers and hand it
 * to the sink (once). */
static int send_head(xfer *x, int status, int64_t clen, const char *crange, const char *etag)
{
    if (x->head_sent)
        return x->rc;
    x->head_sent = true;
    x->head.status = status;
    if (status == 206) {
        x->head.partial = true;
        if (!content_range(crange, x->offset, &x->head.total)) {
            x->rc = route_fail(x->err, x->errlen, ROUTE_ERR_NET, "the server resumed with an "
                               "unexpected Content-Range '%.80s'", crange ? crange : "");
            return x->rc;
        }
    } else if (status == 200) {
        x->head.total = clen;
    }
    char d[65];
    if (!x->head.sha256[0] && etag_digest(etag, d))
        memcpy(x->head.sha256, d, sizeof d);
    x->rc = x->sink->head(x->sink->ctx, &x->head, x->err, x->errlen);
    return x->rc;
}

static int on_body(void *user, const net_http_resp *h, const char *data, size_t len)
{
    xfer *x = user;
    int rc = send_head(x, h->status, h->content_length,
                       net_http_resp_header(h, "Content-Range"), net_http_resp_header(h, "ETag"));
    if (!rc)
        rc = x->rc = x->sink->data(x->sink->ctx, data, len, x->err, x->errlen);
    return rc != 0;
}

/* The first hop's digest: X-Linked-Etag (Hugging Face) or ETag. Failures
 * here are left to the GET to report. */
static void peek_digest(netf *f, const char *url, char out[65])
{
    net_request req;
    net_response *resp = NULL;
    net_request_init(&req);
    req.method = "HEAD";
    req.url = url;
    out[0] = '\0';
    if (net_request_send(f->peek, &req, &resp, NULL, 0) == 0 &&
        !etag_digest(net_response_header(resp, "X-Linked-Etag"), out))
        etag_digest(net_response_header(resp, "ETag"), out);
    net_response_free(resp);
}

static int net_fetch(void *self, const char *url, uint64_t offset, const route_fetch_sink *sink,
                     char *err, size_t errlen)
{
    netf *f = self;
    xfer x = {.sink = sink, .offset = offset, .head = {0, -1, false, ""}, .err = err,
              .errlen = errlen};
    peek_digest(f, url, x.head.sha256);
    net_request req;
    net_response *resp = NULL;
    net_request_init(&req);
    req.url = url;
    req.on_body = on_body;
    req.user = &x;
    if (offset > 0)
        req.range_start = (int64_t)offset;
    char nerr[512];
    int rc = net_request_send(f->get, &req, &resp, nerr, sizeof nerr);
    if (x.rc) {
        rc = x.rc; /* the sink stopped it and wrote the message */
    } else if (rc) {
        rc = route_fail(err, errlen, ROUTE_ERR_NET, "downloading %s: %s (%s)", url, nerr,
                        net_status_name(rc));
    } else {
        /* An empty body never reached on_body: the head still counts. */
        const char *cl = net_response_header(resp, "Content-Length");
        rc = send_head(&x, net_response_status(resp), cl ? strtoll(cl, NULL, 10) : -1,
                       net_response_header(resp, "Content-Range"),
                       net_response_header(resp, "ETag"));
    }
    net_response_free(resp);
    return rc;
}

int route_store_net_fetcher_new(const char *ca_file, route_fetcher *out, char *err, size_t errlen)
{
    netf *f = calloc(1, sizeof *f);
    if (!f)
        return route_fail(err, errlen, ROUTE_ERR_NOMEM, "out of memory");
    net_client_opts o = {.ca_file = ca_file, .max_body_bytes = UINT64_MAX / 2};
    char nerr[512];
    int rc = net_client_new(&o, &f->get, nerr, sizeof nerr);
    o.max_redirects = -1;
    if (!rc)
        rc = net_client_new(&o, &f->peek, nerr, sizeof nerr);
    if (rc) {
        net_client_free(f->get);
        free(f);
        return route_fail(err, errlen, ROUTE_ERR_NET, "%s", nerr);
    }
    out->fetch = net_fetch;
    out->self = f;
    return 0;
}

void route_store_net_fetcher_free(route_fetcher *fe)
{
    netf *f = fe ? fe->self : NULL;
    if (!f)
        return;
    net_client_free(f->get);
    net_client_free(f->peek);
    free(f);
    fe->self = NULL;
}
