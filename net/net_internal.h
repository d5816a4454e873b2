/* Internals shared by the files of the net module. */
#ifndef RHEMA_NET_INTERNAL_H
#define RHEMA_NET_INTERNAL_H

#include "net/net.h"

#include <stdarg.h>
#include <sys/socket.h>

struct net_json {
    net_json_type type;
    bool b;
    size_t len;            /* string bytes, number text bytes, or child count */
    const char *s;         /* string or number text, NUL-terminated */
    const char *key;       /* member key when the parent is an object */
    size_t keylen;
    const net_json *child; /* first child */
    const net_json *next;  /* next sibling */
};

/* Write a formatted message into err[errlen] (err may be NULL); returns rc. */
int net_errf(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* First-error-wins: when *slot is 0, set it to rc and format msg[n];
 * returns *slot. */
int net_vsticky(int *slot, char *msg, size_t n, int rc, const char *fmt, va_list ap);

/* Decode one UTF-8 sequence at s[n]: its length (1..4) and *cp, or 0 when
 * the bytes are not a valid, shortest-form, non-surrogate sequence. */
size_t net_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* Encode cp (<= 0x10FFFF, not a surrogate) into out; returns the length. */
size_t net_utf8_encode(uint32_t cp, char *out);

/* Printable description of byte c for messages: "'x'" or "byte 0x1F". */
const char *net_byte_desc(unsigned char c, char buf[16]);

/* Locale-independent strtod for a validated JSON number. */
double net_strtod_c(const char *text);

/* URLs (url.c). */
void net_url_authority(const net_url *u, char *out, size_t n);
int net_url_resolve(const net_url *base, const char *location, net_url *out, char *err, size_t errlen);

/* Trust anchors from a PEM bundle (tls.c). */
typedef struct net_trust {
    net_arena arena;   /* DN and key bytes */
    void *anchors;     /* br_x509_trust_anchor[n] */
    size_t n;
} net_trust;
int net_trust_load(net_trust *t, const char *path, char *err, size_t errlen);
void net_trust_free(net_trust *t);

/* A connection: TCP, optionally through an HTTP proxy's CONNECT, optionally
 * TLS (conn.c, tls.c). Reads and writes wait at most io_timeout_ms. */
typedef struct net_conn net_conn;
typedef struct net_conn_target {
    const char *host;
    int port;
    bool tls;
    const net_trust *trust;
    const char *proxy_host;   /* NULL: direct */
    int proxy_port;
    int connect_timeout_ms, io_timeout_ms;
} net_conn_target;
int net_conn_open(const net_conn_target *t, net_conn **out, char *err, size_t errlen);
int net_conn_write(net_conn *c, const void *p, size_t n, char *err, size_t errlen);
/* *got == 0 means the peer closed the connection. */
int net_conn_read(net_conn *c, void *p, size_t n, size_t *got, char *err, size_t errlen);
void net_conn_close(net_conn *c);

/* Socket helpers shared by conn.c and tls.c. */
int net_fd_wait(int fd, bool for_write, int timeout_ms);
int net_fd_send(int fd, const void *p, size_t n, int timeout_ms, char *err, size_t errlen);
int net_fd_recv(int fd, void *p, size_t n, size_t *got, int timeout_ms, char *err, size_t errlen);

/* Host name resolution (dns.c): IP literals, the hosts file, then the
 * resolv.conf name servers over UDP; IPv4 addresses before IPv6. Fills at
 * most max addresses with the port set. */
typedef struct net_addr {
    struct sockaddr_storage ss;
    socklen_t len;
} net_addr;
int net_resolve(const char *host, int port, net_addr *out, size_t max, size_t *n, int timeout_ms,
                char *err, size_t errlen);

/* TLS session on a connected socket (tls.c). */
typedef struct net_tls net_tls;
int net_tls_start(int fd, const char *host, const net_trust *trust, int handshake_timeout_ms,
                  int io_timeout_ms, net_tls **out, char *err, size_t errlen);
int net_tls_write(net_tls *t, const void *p, size_t n, char *err, size_t errlen);
int net_tls_read(net_tls *t, void *p, size_t n, size_t *got, char *err, size_t errlen);
void net_tls_end(net_tls *t);

#endif
