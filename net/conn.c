/* TCP connections (DNS, IPv4/IPv6, timeouts), HTTP proxy CONNECT, and the
 * plain-or-TLS connection used by the HTTP client. */
#include "net/net_internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct net_conn {
    int fd;
    net_tls *tls;
    int io_timeout_ms;
    char host[256];
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int net_fd_wait(int fd, bool for_write, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = for_write ? POLLOUT : POLLIN};
    long long end = now_ms() + timeout_ms;
    for (;;) {
        long long left = end - now_ms();
        int r = poll(&p, 1, left > 0 ? (int)left : 0);
        if (r > 0)
            return NET_OK;
        if (r == 0)
            return NET_E_TIMEOUT;
        if (errno != EINTR)
            return NET_E_IO;
    }
}

int net_fd_send(int fd, const void *p, size_t n, int timeout_ms, char *err, size_t errlen)
{
    const char *s = p;
    while (n) {
        ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
        if (k > 0) {
            s += k;
            n -= (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = net_fd_wait(fd, true, timeout_ms);
            if (rc == NET_E_TIMEOUT)
                return net_errf(err, errlen, rc, "timed out after %d ms sending", timeout_ms);
            if (rc < 0)
                return net_errf(err, errlen, rc, "send failed: %s", strerror(errno));
            continue;
        }
        return net_errf(err, errlen, NET_E_IO, "send failed: %s", k < 0 ? strerror(errno) : "closed");
    }
    return NET_OK;
}

int net_fd_recv(int fd, void *p, size_t n, size_t *got, int timeout_ms, char *err, size_t errlen)
{
    for (;;) {
        ssize_t k = recv(fd, p, n, 0);
        if (k >= 0) {
            *got = (size_t)k;
            return NET_OK;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return net_errf(err, errlen, NET_E_IO, "receive failed: %s", strerror(errno));
        int rc = net_fd_wait(fd, false, timeout_ms);
        if (rc == NET_E_TIMEOUT)
            return net_errf(err, errlen, rc, "timed out after %d ms waiting for data", timeout_ms);
        if (rc < 0)
            return net_errf(err, errlen, rc, "receive failed: %s", strerror(errno));
    }
}

/* Non-blocking connect to each address in turn until one answers. */
static int tcp_connect(const char *host, int port, int timeout_ms, int *out, char *err, size_t errlen)
{
    net_addr addrs[8];
    size_t n;
    long long end = now_ms() + timeout_ms;
    int rc = net_resolve(host, port, addrs, 8, &n, timeout_ms, err, errlen);
    if (rc)
        return rc;
    int last_errno = 0;
    rc = NET_E_CONNECT;
    for (size_t i = 0; i < n; i++) {
        const net_addr *a = &addrs[i];
        int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        int ok = connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0 ? 0 : errno;
        if (ok == EINPROGRESS) {
            long long left = end - now_ms();
            int w = net_fd_wait(fd, true, left > 0 ? (int)left : 0);
            socklen_t sl = sizeof ok;
            if (w == NET_E_TIMEOUT)
                ok = ETIMEDOUT;
            else if (w < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &ok, &sl) != 0)
                ok = errno ? errno : EIO;
        }
        if (ok == 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            *out = fd;
            return NET_OK;
        }
        close(fd);
        last_errno = ok;
        if (ok == ETIMEDOUT && now_ms() >= end) {
            rc = NET_E_TIMEOUT;
            break;
        }
    }
    if (rc == NET_E_TIMEOUT)
        return net_errf(err, errlen, rc, "timed out after %d ms connecting to %s port %d", timeout_ms, host, port);
    return net_errf(err, errlen, rc, "cannot connect to %s port %d: %s", host, port,
                    last_errno ? strerror(last_errno) : "no address");
}

/* Ask the proxy on fd for a tunnel to host:port. */
static int proxy_connect(int fd, const char *host, int port, int timeout_ms, char *err, size_t errlen)
{
    char req[700];
    bool v6 = strchr(host, ':') != NULL;
    snprintf(req, sizeof req, "CONNECT %s%s%s:%d HTTP/1.1\r\nHost: %s%s%s:%d\r\n\r\n",
             v6 ? "[" : "", host, v6 ? "]" : "", port, v6 ? "[" : "", host, v6 ? "]" : "", port);
    char msg[200];
    int rc = net_fd_send(fd, req, strlen(req), timeout_ms, msg, sizeof msg);
    if (rc < 0)
        return net_errf(err, errlen, NET_E_PROXY, "proxy CONNECT: %s", msg);
    net_http_resp r;
    net_http_resp_init(&r);
    r.no_body = true;  /* a 2xx answer to CONNECT has no body: the tunnel follows */
    char buf[1024];
    for (;;) {
        size_t got, used, blen;
        const char *body;
        /* Read one byte at a time so no tunnel byte is swallowed. */
        rc = net_fd_recv(fd, buf, 1, &got, timeout_ms, msg, sizeof msg);
        if (rc == NET_OK && got == 0)
            rc = net_errf(msg, sizeof msg, NET_E_IO, "proxy closed the connection");
        if (rc == NET_OK)
            rc = net_http_resp_feed(&r, buf, got, &used, &body, &blen, msg, sizeof msg);
        if (rc != NET_HTTP_MORE)
            break;
    }
    int status = r.status;
    net_http_resp_free(&r);
    if (rc < 0)
        return net_errf(err, errlen, rc == NET_E_TIMEOUT ? rc : NET_E_PROXY, "proxy CONNECT to %s:%d: %s",
                        host, port, msg);
    if (status < 200 || status > 299)
        return net_errf(err, errlen, NET_E_PROXY, "proxy refused CONNECT to %s:%d with status %d", host, port,
                        status);
    return NET_OK;
}

int net_conn_open(const net_conn_target *t, net_conn **out, char *err, size_t errlen)
{
    *out = NULL;
    net_conn *c = calloc(1, sizeof *c);
    if (!c)
        return net_errf(err, errlen, NET_E_NOMEM, "out of memory");
    c->fd = -1;
    c->io_timeout_ms = t->io_timeout_ms;
    snprintf(c->host, sizeof c->host, "%s", t->host);
    const char *h = t->proxy_host ? t->proxy_host : t->host;
    int rc = tcp_connect(h, t->proxy_host ? t->proxy_port : t->port, t->connect_timeout_ms, &c->fd, err, errlen);
    if (rc == NET_OK && t->proxy_host)
        rc = proxy_connect(c->fd, t->host, t->port, t->connect_timeout_ms, err, errlen);
    if (rc == NET_OK && t->tls)
        rc = net_tls_start(c->fd, t->host, t->trust, t->connect_timeout_ms, t->io_timeout_ms, &c->tls, err, errlen);
    if (rc < 0) {
        net_conn_close(c);
        return rc;
    }
    *out = c;
    return NET_OK;
}

int net_conn_write(net_conn *c, const void *p, size_t n, char *err, size_t errlen)
{
    if (c->tls)
        return net_tls_write(c->tls, p, n, err, errlen);
    return net_fd_send(c->fd, p, n, c->io_timeout_ms, err, errlen);
}

int net_conn_read(net_conn *c, void *p, size_t n, size_t *got, char *err, size_t errlen)
{
    if (c->tls)
        return net_tls_read(c->tls, p, n, got, err, errlen);
    return net_fd_recv(c->fd, p, n, got, c->io_timeout_ms, err, errlen);
}

void net_conn_close(net_conn *c)
{
    if (!c)
        return;
    if (c->tls)
        net_tls_end(c->tls);
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}
