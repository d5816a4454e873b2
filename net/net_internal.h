/* Internals shared by the files of the net module. */
#ifndef RHEMA_NET_INTERNAL_H
#define RHEMA_NET_INTERNAL_H

#include "net/net.h"

#include <stdarg.h>

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

/* Decode one UTF-8 sequence at s[n]: its length (1..4) and *cp, or 0 when
 * the bytes are not a valid, shortest-form, non-surrogate sequence. */
size_t net_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* Encode cp (<= 0x10FFFF, not a surrogate) into out; returns the length. */
size_t net_utf8_encode(uint32_t cp, char *out);

/* Printable description of byte c for messages: "'x'" or "byte 0x1F". */
const char *net_byte_desc(unsigned char c, char buf[16]);

/* Locale-independent strtod for a validated JSON number. */
double net_strtod_c(const char *text);

#endif
