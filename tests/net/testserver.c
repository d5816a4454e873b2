#include "tests/net/testserver.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

void ts_header(const char *head, const char *name, char *out, size_t n)
{
    snprintf(out, n, "none");
    size_t nl = strlen(name);
    for (const char *l = strstr(head, "\r\n"); l; l = strstr(l + 2, "\r\n")) {
        if (strncasecmp(l + 2, name, nl) == 0 && l[2 + nl] == ':') {
            const char *v = l + 3 + nl + strspn(l + 3 + nl, " ");
            snprintf(out, n, "%.*s", (int)strcspn(v, "\r\n"), v);
        }
    }
}

void ts_write(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t k = write(fd, s, n);
        if (k <= 0)
            return;
        s += k;
        n -= (size_t)k;
    }
}

typedef struct conn_arg {
    ts_server *s;
    int fd;
} conn_arg;

static void *handle(void *arg)
{
    conn_arg a = *(conn_arg *)arg;
    free(arg);
    size_t cap = 1 << 16, n = 0;
    char *req = malloc(cap);
    for (bool open = req != NULL; open;) {
        char *end = n ? strstr(req, "\r\n\r\n") : NULL;
        if (end) {
            size_t hl = (size_t)(end + 4 - req);
            char cl[32];
            ts_header(req, "Content-Length", cl, sizeof cl);
            size_t bl = strcmp(cl, "none") ? (size_t)atoi(cl) : 0;
            if (n >= hl + bl && hl + bl < cap) {
                char path[256] = "", saved = req[hl + bl];
                sscanf(req, "%*s %255s", path);
                req[hl + bl] = '\0';
                pthread_mutex_lock(&a.s->mu);
                snprintf(a.s->last_request, sizeof a.s->last_request, "%s", req);
                pthread_mutex_unlock(&a.s->mu);
                req[hl - 2] = '\0';  /* head without the blank line; body after */
                open = a.s->reply(a.fd, req, path, req + hl, a.s->user);
                req[hl + bl] = saved;
                memmove(req, req + hl + bl, n - hl - bl);
                n -= hl + bl;
                req[n] = '\0';
                continue;
            }
        }
        ssize_t k = n + 1 < cap ? read(a.fd, req + n, cap - 1 - n) : 0;
        if (k <= 0)
            break;
        n += (size_t)k;
        req[n] = '\0';
    }
    free(req);
    close(a.fd);
    return NULL;
}

static void *serve(void *arg)
{
    ts_server *s = arg;
    for (;;) {
        int fd = accept(s->ls, NULL, NULL);
        if (fd < 0)
            return NULL;
        pthread_mutex_lock(&s->mu);
        s->accepted++;
        pthread_mutex_unlock(&s->mu);
        conn_arg *a = malloc(sizeof *a);
        pthread_t th;
        if (a) {
            a->s = s;
            a->fd = fd;
        }
        if (a && pthread_create(&th, NULL, handle, a) == 0) {
            pthread_detach(th);
        } else {
            free(a);
            close(fd);
        }
    }
}

int ts_start(ts_server *s, ts_reply_fn reply, void *user)
{
    memset(s, 0, sizeof *s);
    s->reply = reply;
    s->user = user;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    s->ls = socket(AF_INET, SOCK_STREAM, 0);
    if (s->ls < 0 || bind(s->ls, (struct sockaddr *)&sa, sizeof sa) || listen(s->ls, 16) ||
        getsockname(s->ls, (struct sockaddr *)&sa, &sl))
        return -1;
    s->port = ntohs(sa.sin_port);
    pthread_mutex_init(&s->mu, NULL);
    return pthread_create(&s->th, NULL, serve, s);
}

void ts_stop(ts_server *s)
{
    shutdown(s->ls, SHUT_RDWR);
    close(s->ls);
    pthread_join(s->th, NULL);
}

int ts_accepted(ts_server *s)
{
    pthread_mutex_lock(&s->mu);
    int a = s->accepted;
    pthread_mutex_unlock(&s->mu);
    return a;
}

void ts_last_request(ts_server *s, char *out, size_t n)
{
    pthread_mutex_lock(&s->mu);
    snprintf(out, n, "%s", s->last_request);
    pthread_mutex_unlock(&s->mu);
}
