/* HTTP/1.1 client: requests over plain or TLS connections, keep-alive
 * reuse, bounded redirects, Range, body limits, HTTPS proxy via CONNECT. */
#include "net/net_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_CA "/etc/ssl/certs/ca-certificates.crt"

struct net_client {
    net_client_opts o;
    char ca_file[1024];
    net_trust trust;
    bool trust_loaded;
    net_url proxy;
    bool have_proxy;
    char no_proxy[1024];
    /* One kept-alive connection and where it goes. */
    net_conn *conn;
    char conn_host[256];
    int conn_port;
    bool conn_tls;
};

struct net_response {
    net_http_resp http;
    net_buf body;
    char url[2400];
};

static const char *env2(const char *a, const char *b)
{
    const char *v = getenv(a);
    return v && *v ? v : getenv(b);
}

int net_client_new(const net_client_opts *opts, net_client **out, char *err, size_t errlen)
{
    *out = NULL;
    net_client *c = calloc(1, sizeof *c);
    if (!c)
        return net_errf(err, errlen, NET_E_NOMEM, "out of memory");
    if (opts)
        c->o = *opts;
    snprintf(c->ca_file, sizeof c->ca_file, "%s", c->o.ca_file ? c->o.ca_file : DEFAULT_CA);
    c->o.ca_file = c->ca_file;
    if (c->o.connect_timeout_ms <= 0)
        c->o.connect_timeout_ms = 15000;
    if (c->o.io_timeout_ms <= 0)
        c->o.io_timeout_ms = 120000;
    if (!c->o.max_body_bytes)
        c->o.max_body_bytes = 256u << 20;
    if (c->o.max_redirects == 0)
        c->o.max_redirects = 5;
    const char *proxy = c->o.proxy ? c->o.proxy : c->o.no_env_proxy ? NULL : env2("HTTPS_PROXY", "https_proxy");
    const char *np = c->o.no_proxy ? c->o.no_proxy : c->o.no_env_proxy ? NULL : env2("NO_PROXY", "no_proxy");
    snprintf(c->no_proxy, sizeof c->no_proxy, "%s", np ? np : "");
    c->o.proxy = c->o.no_proxy = NULL;
    if (proxy && *proxy) {
        char full[600];
        snprintf(full, sizeof full, "%s%s", strstr(proxy, "://") ? "" : "http://", proxy);
        char msg[200];
        int rc = net_url_parse(full, &c->proxy, msg, sizeof msg);
        if (rc == NET_OK && c->proxy.https)
            rc = net_errf(msg, sizeof msg, NET_E_ARG, "only http:// proxies are supported");
        if (rc < 0) {
            free(c);
            return net_errf(err, errlen, NET_E_ARG, "HTTPS proxy setting: %s", msg);
        }
        c->have_proxy = true;
    }
    *out = c;
    return NET_OK;
}

static void drop_conn(net_client *c)
{
    net_conn_close(c->conn);
    c->conn = NULL;
}

void net_client_free(net_client *c)
{
    if (!c)
        return;
    drop_conn(c);
    if (c->trust_loaded)
        net_trust_free(&c->trust);
    free(c);
}

void net_request_init(net_request *req)
{
    memset(req, 0, sizeof *req);
    req->range_start = -1;
    req->range_end = -1;
}

/* NO_PROXY: comma/space separated host names; "*" matches everything and
 * "example.com" or ".example.com" match it and its subdomains. */
static bool no_proxy_match(const char *list, const char *host)
{
    size_t hl = strlen(host);
    for (const char *s = list; *s;) {
        s += strspn(s, ", \t");
        size_t n = strcspn(s, ", \t");
        const char *e = s;
        size_t el = n;
        if (el && e[0] == '.') {
            e++;
            el--;
        }
        const char *colon = memchr(e, ':', el);
        if (colon && !memchr(colon + 1, ':', el - (size_t)(colon + 1 - e)))
            el = (size_t)(colon - e);  /* "host:port": the port is ignored */
        if (el == 1 && e[0] == '*')
            return true;
        if (el && el <= hl && strncasecmp(host + hl - el, e, el) == 0 && (el == hl || host[hl - el - 1] == '.'))
            return true;
        s += n;
    }
    return false;
}

static bool is_auth_header(const char *line)
{
    static const char *const names[] = {"authorization:", "x-api-key:", "api-key:", "proxy-authorization:",
                                        "cookie:"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strncasecmp(line, names[i], strlen(names[i])) == 0)
            return true;
    return false;
}

/* The request head and body for one attempt. */
static int build_request(const net_request *req, const net_url *u, const char *method, bool send_body,
                         bool drop_auth, net_buf *out, char *err, size_t errlen)
{
    char auth[300], line[600];
    net_url_authority(u, auth, sizeof auth);
    int rc = NET_OK;
    snprintf(line, sizeof line, "%s ", method);
    rc |= net_buf_puts(out, line);
    rc |= net_buf_puts(out, u->path);
    snprintf(line, sizeof line, " HTTP/1.1\r\nHost: %s\r\nUser-Agent: rhema/0.1\r\nAccept-Encoding: identity\r\n",
             auth);
    rc |= net_buf_puts(out, line);
    if (req->range_start >= 0) {
        if (req->range_end >= 0)
            snprintf(line, sizeof line, "Range: bytes=%lld-%lld\r\n", (long long)req->range_start,
                     (long long)req->range_end);
        else
            snprintf(line, sizeof line, "Range: bytes=%lld-\r\n", (long long)req->range_start);
        rc |= net_buf_puts(out, line);
    }
    for (const char *const *h = req->headers; h && *h; h++) {
        const char *colon = strchr(*h, ':');
        if (!colon || colon == *h || strpbrk(*h, "\r\n"))
            return net_errf(err, errlen, NET_E_ARG, "request header %zu is not a single \"Name: value\" line",
                            (size_t)(h - req->headers));
        if (drop_auth && is_auth_header(*h))
            continue;
        rc |= net_buf_puts(out, *h);
        rc |= net_buf_puts(out, "\r\n");
    }
    bool wants_length = send_body || !strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "PATCH");
    if (wants_length) {
        snprintf(line, sizeof line, "Content-Length: %zu\r\n", send_body ? req->body_len : 0);
        rc |= net_buf_puts(out, line);
    }
    rc |= net_buf_puts(out, "\r\n");
    if (send_body)
        rc |= net_buf_append(out, req->body, req->body_len);
    return rc ? net_errf(err, errlen, NET_E_NOMEM, "out of memory building the request") : NET_OK;
}

static int get_conn(net_client *c, const net_url *u, bool *reused, char *err, size_t errlen)
{
    if (c->conn && c->conn_tls == u->https && c->conn_port == u->port && strcmp(c->conn_host, u->host) == 0) {
        *reused = true;
        return NET_OK;
    }
    drop_conn(c);
    *reused = false;
    if (u->https && !c->trust_loaded) {
        int rc = net_trust_load(&c->trust, c->ca_file, err, errlen);
        if (rc < 0)
            return rc;
        c->trust_loaded = true;
    }
    bool via_proxy = c->have_proxy && u->https && !no_proxy_match(c->no_proxy, u->host);
    net_conn_target t = {
        .host = u->host, .port = u->port, .tls = u->https, .trust = &c->trust,
        .proxy_host = via_proxy ? c->proxy.host : NULL, .proxy_port = c->proxy.port,
        .connect_timeout_ms = c->o.connect_timeout_ms, .io_timeout_ms = c->o.io_timeout_ms,
    };
    int rc = net_conn_open(&t, &c->conn, err, errlen);
    if (rc == NET_OK) {
        snprintf(c->conn_host, sizeof c->conn_host, "%s", u->host);
        c->conn_port = u->port;
        c->conn_tls = u->https;
    }
    return rc;
}

static bool is_redirect(int status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

typedef struct attempt {
    bool redirect;    /* this response is a redirect we follow */
    bool got_bytes;   /* any response byte arrived */
} attempt;

/* Read and parse one response on c->conn into resp. */
static int read_response(net_client *c, const net_request *req, const net_url *u, net_response *resp, attempt *at,
                         char *err, size_t errlen)
{
    char buf[16384], msg[256];
    size_t n = 0, off = 0;
    bool need = true;  /* read only when the parser asks for more */
    for (;;) {
        if (need) {
            need = false;
            size_t got;
            int rc = net_conn_read(c->conn, buf, sizeof buf, &got, err, errlen);
            if (rc < 0)
                return rc;
            off = 0;
            n = got;
            if (got == 0) {
                rc = net_http_resp_eof(&resp->http, msg, sizeof msg);
                if (rc == NET_HTTP_DONE)
                    return NET_OK;
                return net_errf(err, errlen, NET_E_IO, "%s: %s", u->host, msg);
            }
            at->got_bytes = true;
        }
        size_t used, blen;
        const char *body;
        int ev = net_http_resp_feed(&resp->http, buf + off, n - off, &used, &body, &blen, msg, sizeof msg);
        off += used;
        need = ev == NET_HTTP_MORE;
        if (ev < 0)
            return net_errf(err, errlen, ev == NET_E_LIMIT ? ev : NET_E_HTTP, "%s: %s", u->host, msg);
        if (ev == NET_HTTP_HEADERS)
            at->redirect = c->o.max_redirects > 0 && is_redirect(resp->http.status) &&
                           net_http_resp_header(&resp->http, "Location");
        else if (ev == NET_HTTP_BODY && !at->redirect && req->on_body) {
            if (req->on_body(req->user, &resp->http, body, blen) != 0)
                return net_errf(err, errlen, NET_E_STATE, "%s: transfer stopped by the caller", u->host);
        } else if (ev == NET_HTTP_BODY && !at->redirect) {
            if (net_buf_append(&resp->body, body, blen) < 0)
                return net_errf(err, errlen, NET_E_NOMEM, "%s: out of memory for the body", u->host);
        } else if (ev == NET_HTTP_DONE) {
            /* Bytes beyond the response mean we lost track: do not reuse. */
            if (off != n || !resp->http.keep_alive)
                drop_conn(c);
            return NET_OK;
        }
    }
}

/* One request/response exchange; retried once on a fresh connection when
 * a kept-alive one turns out to have been closed by the server. */
static int exchange(net_client *c, const net_request *req, const net_url *u, const net_buf *wire, net_response *resp,
                    attempt *at, char *err, size_t errlen)
{
    for (int tries = 0;; tries++) {
        bool reused;
        int rc = get_conn(c, u, &reused, err, errlen);
        if (rc < 0)
            return rc;
        net_http_resp_reset(&resp->http);
        resp->body.len = 0;
        at->got_bytes = false;
        rc = net_conn_write(c->conn, wire->data, wire->len, err, errlen);
        if (rc == NET_OK)
            rc = read_response(c, req, u, resp, at, err, errlen);
        if (rc == NET_OK)
            return rc;
        drop_conn(c);
        if (!(reused && !at->got_bytes && tries == 0 && (rc == NET_E_IO || rc == NET_E_TLS)))
            return rc;
    }
}

int net_request_send(net_client *c, const net_request *req, net_response **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!c || !req || !req->url)
        return net_errf(err, errlen, NET_E_ARG, "request: NULL argument");
    net_url u;
    int rc = net_url_parse(req->url, &u, err, errlen);
    if (rc < 0)
        return rc;
    net_response *resp = calloc(1, sizeof *resp);
    if (!resp)
        return net_errf(err, errlen, NET_E_NOMEM, "out of memory");
    net_http_resp_init(&resp->http);
    resp->http.max_body_bytes = c->o.max_body_bytes;
    net_buf_init(&resp->body);
    const char *method = req->method ? req->method : req->body ? "POST" : "GET";
    bool send_body = req->body != NULL;
    bool drop_auth = false;
    net_buf wire;
    net_buf_init(&wire);
    for (int hops = 0;; hops++) {
        resp->http.no_body = strcmp(method, "HEAD") == 0;
        wire.len = 0;
        attempt at = {0};
        rc = build_request(req, &u, method, send_body, drop_auth, &wire, err, errlen);
        if (rc == NET_OK)
            rc = exchange(c, req, &u, &wire, resp, &at, err, errlen);
        if (rc < 0 || !at.redirect)
            break;
        if (hops >= c->o.max_redirects) {
            rc = net_errf(err, errlen, NET_E_HTTP, "%s: more than %d redirects", u.host, c->o.max_redirects);
            break;
        }
        net_url next;
        char msg[200];
        rc = net_url_resolve(&u, net_http_resp_header(&resp->http, "Location"), &next, msg, sizeof msg);
        if (rc < 0) {
            rc = net_errf(err, errlen, NET_E_HTTP, "%s: bad redirect: %s", u.host, msg);
            break;
        }
        int st = resp->http.status;
        if (st == 303 || ((st == 301 || st == 302) && strcmp(method, "POST") == 0)) {
            method = "GET";
            send_body = false;
        }
        /* Credentials stay with the host they were meant for. */
        if (strcasecmp(next.host, u.host) != 0 || next.port != u.port || next.https != u.https)
            drop_auth = true;
        u = next;
    }
    /* The request may hold an API key: do not leave it in freed memory. */
    if (wire.data)
        explicit_bzero(wire.data, wire.cap);
    net_buf_free(&wire);
    if (rc < 0) {
        net_response_free(resp);
        return rc;
    }
    char auth[300];
    net_url_authority(&u, auth, sizeof auth);
    snprintf(resp->url, sizeof resp->url, "%s://%s%s", u.https ? "https" : "http", auth, u.path);
    *out = resp;
    return NET_OK;
}

int net_response_status(const net_response *r)
{
    return r ? r->http.status : 0;
}

const char *net_response_header(const net_response *r, const char *name)
{
    return r ? net_http_resp_header(&r->http, name) : NULL;
}

const char *net_response_body(const net_response *r, size_t *len)
{
    if (len)
        *len = r ? r->body.len : 0;
    return r && r->body.data ? r->body.data : "";
}

const char *net_response_url(const net_response *r)
{
    return r ? r->url : NULL;
}

void net_response_free(net_response *r)
{
    if (!r)
        return;
    net_http_resp_free(&r->http);
    net_buf_free(&r->body);
    free(r);
}
