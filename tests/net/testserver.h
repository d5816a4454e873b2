/* A scripted HTTP server on 127.0.0.1 for the client tests: each request
 * (head and Content-Length body read in full) goes to a reply function,
 * one thread per connection. */
#ifndef RHEMA_TESTSERVER_H
#define RHEMA_TESTSERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* Write the answer to fd; return false to close the connection after it. */
typedef bool (*ts_reply_fn)(int fd, const char *head, const char *path, const char *body, void *user);

typedef struct ts_server {
    int ls, port, accepted;
    ts_reply_fn reply;
    void *user;
    char last_request[8192];
    pthread_t th;
    pthread_mutex_t mu;
} ts_server;

int ts_start(ts_server *s, ts_reply_fn reply, void *user);
void ts_stop(ts_server *s);
int ts_accepted(ts_server *s);
/* Copy of the last request (head and body). */
void ts_last_request(ts_server *s, char *out, size_t n);
/* Value of header name in a request head, or "none". */
void ts_header(const char *head, const char *name, char *out, size_t n);
/* Write all of s to fd. */
void ts_write(int fd, const char *s, size_t n);

#endif
