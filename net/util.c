/* Small helpers shared inside net: messages, UTF-8, arena and buffer. */
#include "net/net_internal.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int net_errf(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

int net_vsticky(int *slot, char *msg, size_t n, int rc, const char *fmt, va_list ap)
{
    if (*slot)
        return *slot;
    *slot = rc;
    vsnprintf(msg, n, fmt, ap);
    return rc;
}

size_t net_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (n == 0)
        return 0;
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2; v = c & 0x1F; min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3; v = c & 0x0F; min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4; v = c & 0x07; min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

size_t net_utf8_encode(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

const char *net_byte_desc(unsigned char c, char buf[16])
{
    if (c > 0x20 && c < 0x7F)
        snprintf(buf, 16, "'%c'", c);
    else
        snprintf(buf, 16, "byte 0x%02X", c);
    return buf;
}

double net_strtod_c(const char *text)
{
    /* strtod honours LC_NUMERIC; an embedding program may have set a locale
     * whose decimal point is ',', so swap '.' for it in a copy. */
    const char *dp = localeconv()->decimal_point;
    const char *dot = strchr(text, '.');
    if (!dot || !dp || strcmp(dp, ".") == 0)
        return strtod(text, NULL);
    size_t n = strlen(text), dpl = strlen(dp);
    char small[128];
    char *tmp = n + dpl < sizeof small ? small : malloc(n + dpl + 1);
    if (!tmp)
        return strtod(text, NULL);
    size_t pre = (size_t)(dot - text);
    memcpy(tmp, text, pre);
    memcpy(tmp + pre, dp, dpl);
    memcpy(tmp + pre + dpl, dot + 1, n - pre);
    double v = strtod(tmp, NULL);
    if (tmp != small)
        free(tmp);
    return v;
}

/* ---- arena ---- */

#define ARENA_ALIGN 16
#define ARENA_MIN_CHUNK 4096

typedef struct chunk {
    struct chunk *prev;
    _Alignas(ARENA_ALIGN) unsigned char data[];
} chunk;

void net_arena_init(net_arena *a, void *buf, size_t size)
{
    memset(a, 0, sizeof *a);
    if (buf) {
        /* Align the start so every allocation is aligned. */
        uintptr_t p = (uintptr_t)buf, q = (p + ARENA_ALIGN - 1) & ~(uintptr_t)(ARENA_ALIGN - 1);
        size_t skip = (size_t)(q - p);
        a->cur = (unsigned char *)buf + (skip < size ? skip : size);
        a->cap = skip < size ? size - skip : 0;
        a->fixed = true;
    }
}

void net_arena_free(net_arena *a)
{
    chunk *c = a->chunks;
    while (c) {
        chunk *p = c->prev;
        free(c);
        c = p;
    }
    a->chunks = NULL;
    a->cur = NULL;
    a->cap = a->used = 0;
}

void *net_arena_alloc(net_arena *a, size_t n)
{
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need < n)
        return NULL;
    if (a->cur && a->cap - a->used >= need) {
        void *p = a->cur + a->used;
        a->used += need;
        return p;
    }
    if (a->fixed)
        return NULL;
    /* Blocks double with the total so a big document takes few mallocs. */
    size_t size = a->cap * 2 > ARENA_MIN_CHUNK ? a->cap * 2 : ARENA_MIN_CHUNK;
    if (size < need)
        size = need;
    if (size > SIZE_MAX - sizeof(chunk))
        return NULL;
    chunk *c = malloc(sizeof(chunk) + size);
    if (!c)
        return NULL;
    c->prev = a->chunks;
    a->chunks = c;
    a->cur = c->data;
    a->cap = size;
    a->used = need;
    return c->data;
}

/* ---- growable buffer ---- */

void net_buf_init(net_buf *b)
{
    memset(b, 0, sizeof *b);
}

void net_buf_free(net_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int net_buf_append(net_buf *b, const void *p, size_t n)
{
    if (n > SIZE_MAX - b->len - 1)
        return NET_E_NOMEM;
    if (b->max && b->len + n > b->max)
        return NET_E_LIMIT;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap = cap > SIZE_MAX / 2 ? b->len + n + 1 : cap * 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return NET_E_NOMEM;
        b->data = d;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return NET_OK;
}

int net_buf_puts(net_buf *b, const char *s)
{
    return net_buf_append(b, s, strlen(s));
}

void net_buf_consume(net_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data)
        b->data[b->len] = '\0';
}

const char *net_status_name(int status)
{
    static const char *const names[] = {
        "ok", "syntax", "nomem", "depth", "type", "range", "utf8", "limit", "arg", "state",
        "notfound", "dns", "connect", "timeout", "tls", "io", "http", "ca", "proxy", "api",
    };
    size_t i = status <= 0 ? (size_t)-(long)status : SIZE_MAX;
    return i < sizeof names / sizeof names[0] ? names[i] : "unknown";
}
