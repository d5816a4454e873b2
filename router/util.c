/* Small helpers shared by the router's files, and the enum names. */
#include "router/internal.h"

#include <ctype.h>
#include <math.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int route_fail(char *err, size_t errlen, int status, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return status;
}

size_t route_edit_distance(const char *a, const char *b)
{
    /* Names compared here are config keys and model names: cap the length so
     * the single-row table fits on the stack. */
    enum { MAXLEN = 63 };
    size_t row[MAXLEN + 2];
    size_t la = strlen(a), lb = strlen(b);
    if (la > MAXLEN) la = MAXLEN;
    if (lb > MAXLEN) lb = MAXLEN;
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *route_nearest(const char *word, const char *const *cands, size_t n)
{
    size_t limit = strlen(word) / 3;
    if (limit < 2) limit = 2;
    const char *best = NULL;
    size_t bestd = limit + 1;
    for (size_t i = 0; i < n; i++) {
        size_t d = route_edit_distance(word, cands[i]);
        if (d < bestd) {
            bestd = d;
            best = cands[i];
        }
    }
    return best;
}

long route_find_ci(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);
    if (nl == 0) return 0;
    /* The first letter filters almost every position before the compare. */
    int lo = tolower((unsigned char)needle[0]), up = toupper((unsigned char)needle[0]);
    for (const char *p = hay; *p; p++) {
        if ((*p == lo || *p == up) && strncasecmp(p, needle, nl) == 0) return (long)(p - hay);
    }
    return -1;
}

void route_copy(char *dst, size_t dstlen, const char *src)
{
    if (!dstlen) return;
    snprintf(dst, dstlen, "%s", src ? src : "");
}

const char *route_status_str(int status)
{
    switch (status) {
    case ROUTE_OK: return "ok";
    case ROUTE_ERR_ARG: return "bad argument";
    case ROUTE_ERR_IO: return "i/o error";
    case ROUTE_ERR_SYNTAX: return "YAML syntax error";
    case ROUTE_ERR_CONFIG: return "invalid configuration";
    case ROUTE_ERR_RULE: return "invalid rule";
    case ROUTE_ERR_NOMEM: return "out of memory";
    case ROUTE_ERR_BACKEND: return "backend failed";
    case ROUTE_ERR_LEDGER: return "ledger error";
    case ROUTE_ERR_BUDGET: return "over budget";
    default: return "unknown error";
    }
}

const char *route_strategy_name(route_strategy s)
{
    static const char *const names[] = {"hybrid", "cost", "latency", "quality", "local_only", "external_only"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

const char *route_target_name(route_target t)
{
    static const char *const names[] = {"embedded", "external", "hybrid"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

const char *route_complexity_name(route_complexity c)
{
    static const char *const names[] = {"simple", "medium", "complex"};
    return (unsigned)c < sizeof names / sizeof names[0] ? names[c] : "?";
}

int route_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void route_dirname(const char *path, char *out, size_t outlen)
{
    const char *slash = strrchr(path, '/');
    if (!slash) route_copy(out, outlen, ".");
    else if (slash == path) route_copy(out, outlen, "/");
    else snprintf(out, outlen, "%.*s", (int)(slash - path), path);
}

int route_mkdir_p(const char *dir, char *err, size_t errlen)
{
    char buf[4096];
    if (!*dir) return ROUTE_OK;
    if (strlen(dir) >= sizeof buf) return route_fail(err, errlen, ROUTE_ERR_IO, "%s: path too long", dir);
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; ; p++) {
        bool end = *p == 0;
        if (*p == '/' || end) {
            *p = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return route_fail(err, errlen, ROUTE_ERR_IO, "cannot create folder %s: %s", buf, strerror(errno));
            if (end) break;
            *p = '/';
        }
    }
    return ROUTE_OK;
}

int route_read_file(const char *path, size_t limit, char **text, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) return route_fail(err, errlen, ROUTE_ERR_IO, "%s: %s", path, strerror(errno));
    char *buf = malloc(limit + 1);
    if (!buf) {
        fclose(f);
        return route_fail(err, errlen, ROUTE_ERR_NOMEM, "out of memory");
    }
    size_t n = fread(buf, 1, limit + 1, f);
    bool bad = ferror(f);
    fclose(f);
    if (bad || n > limit) {
        free(buf);
        if (bad) return route_fail(err, errlen, ROUTE_ERR_IO, "%s: read error", path);
        return route_fail(err, errlen, ROUTE_ERR_IO, "%s: larger than %zu bytes", path, limit);
    }
    buf[n] = 0;
    *text = buf;
    *len = n;
    return ROUTE_OK;
}

void route_line_add(char *lines, size_t width, size_t max, size_t *n, const char *fmt, ...)
{
    if (*n >= max) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lines + *n * width, width, fmt, ap);
    va_end(ap);
    (*n)++;
}

void *route_grow(void *v, size_t n, size_t *cap, size_t size, size_t first)
{
    if (n < *cap) return v;
    size_t want = *cap ? *cap * 2 : first;
    if (want > SIZE_MAX / size) return NULL;
    void *nv = realloc(v, want * size);
    if (nv) *cap = want;
    return nv;
}

int route_samples_push(route_samples *s, double x)
{
    double *v = route_grow(s->v, s->n, &s->cap, sizeof *v, 64);
    if (!v) return ROUTE_ERR_NOMEM;
    s->v = v;
    s->v[s->n++] = x;
    return ROUTE_OK;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

void route_samples_sort(route_samples *s)
{
    if (s->n) qsort(s->v, s->n, sizeof *s->v, cmp_double);
}

size_t route_rank(size_t n, double q)
{
    size_t k = (size_t)ceil(q * (double)n);
    return k ? (k > n ? n - 1 : k - 1) : 0;
}

double route_samples_at(const route_samples *s, double q)
{
    return s->n ? s->v[route_rank(s->n, q)] : 0;
}

void route_samples_free(route_samples *s)
{
    free(s->v);
    *s = (route_samples){0};
}
