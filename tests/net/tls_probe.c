/* Test helper: fetch one URL with the net client and print the outcome:
 *   OK <status> <body>      or      ERR <kind>: <message>
 * Usage: tls_probe URL [--ca FILE] [--builtin-proxy] [--no-proxy LIST]
 * --builtin-proxy runs a one-shot CONNECT proxy on 127.0.0.1 in a thread
 * and sends the request through it (it prints "PROXY host:port" to stderr). */
#include "net/net.h"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int tcp_to(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

static void relay(int a, int b)
{
    char buf[16384];
    struct pollfd p[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
    while (poll(p, 2, 10000) > 0) {
        for (int i = 0; i < 2; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(p[i].fd, buf, sizeof buf);
            if (n <= 0 || write(p[1 - i].fd, buf, (size_t)n) != n)
                return;
        }
    }
}

static void *proxy_main(void *arg)
{
    int ls = *(int *)arg, c = accept(ls, NULL, NULL);
    char req[2048] = "";
    size_t n = 0;
    while (c >= 0 && n < sizeof req - 1 && !strstr(req, "\r\n\r\n")) {
        ssize_t k = read(c, req + n, 1);
        if (k <= 0)
            break;
        req[++n] = '\0';
    }
    char host[256], port[16];
    if (c >= 0 && sscanf(req, "CONNECT %255[^:]:%15[0-9] HTTP/1.1", host, port) == 2) {
        fprintf(stderr, "PROXY %s:%s\n", host, port);
        int t = tcp_to(host, port);
        const char *ans = t >= 0 ? "HTTP/1.1 200 Connection established\r\n\r\n" : "HTTP/1.1 502 Bad Gateway\r\n\r\n";
        if (write(c, ans, strlen(ans)) > 0 && t >= 0)
            relay(c, t);
        if (t >= 0)
            close(t);
    }
    if (c >= 0)
        close(c);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: tls_probe URL [--ca FILE] [--builtin-proxy] [--no-proxy LIST]\n");
        return 2;
    }
    net_client_opts o = {.connect_timeout_ms = 5000, .io_timeout_ms = 5000, .no_env_proxy = true};
    bool proxy = false;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--ca") && i + 1 < argc)
            o.ca_file = argv[++i];
        else if (!strcmp(argv[i], "--no-proxy") && i + 1 < argc)
            o.no_proxy = argv[++i];
        else if (!strcmp(argv[i], "--builtin-proxy"))
            proxy = true;
    }
    pthread_t th;
    char proxy_url[64];
    int ls = -1;
    if (proxy) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t sl = sizeof sa;
        ls = socket(AF_INET, SOCK_STREAM, 0);
        if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(ls, 1) != 0 ||
            getsockname(ls, (struct sockaddr *)&sa, &sl) != 0)
            return 2;
        snprintf(proxy_url, sizeof proxy_url, "http://127.0.0.1:%d", ntohs(sa.sin_port));
        o.proxy = proxy_url;
        pthread_create(&th, NULL, proxy_main, &ls);
    }
    char err[512];
    net_client *c;
    int rc = net_client_new(&o, &c, err, sizeof err);
    net_response *r = NULL;
    if (rc == NET_OK) {
        net_request req;
        net_request_init(&req);
        req.url = argv[1];
        rc = net_request_send(c, &req, &r, err, sizeof err);
    }
    if (rc == NET_OK) {
        size_t len;
        const char *body = net_response_body(r, &len);
        printf("OK %d %.*s\n", net_response_status(r), (int)len, body);
    } else {
        printf("ERR %s: %s\n", net_status_name(rc), err);
    }
    net_response_free(r);
    net_client_free(c);
    if (proxy) {
        shutdown(ls, SHUT_RDWR);
        close(ls);
        pthread_detach(th);
    }
    return rc == NET_OK ? 0 : 1;
}
