/* Shared by the files of the router module only. */
#ifndef RHEMA_ROUTER_INTERNAL_H
#define RHEMA_ROUTER_INTERNAL_H

#include "router/router.h"

#include <stdarg.h>

/* Output tokens a cost estimate assumes when the caller sets no limit. */
enum { ROUTE_EST_OUTPUT_TOKENS = 512 };

/* printf into err (when err is non-NULL) and return status. */
int route_fail(char *err, size_t errlen, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Levenshtein distance for "did you mean". */
size_t route_edit_distance(const char *a, const char *b);

/* The candidate closest to word (distance at most a third of its length,
 * at least 2), or NULL. */
const char *route_nearest(const char *word, const char *const *cands, size_t n);

/* Case-insensitive substring search; returns the offset or -1. */
long route_find_ci(const char *hay, const char *needle);

/* Copy src into dst (always terminated, truncating). */
void route_copy(char *dst, size_t dstlen, const char *src);

/* Create dir and its missing parents (mode 0755). */
int route_mkdir_p(const char *dir, char *err, size_t errlen);

/* The folder part of path ("." when it has none) into out. */
void route_dirname(const char *path, char *out, size_t outlen);

/* write() all of buf, retrying short writes and EINTR; 0 or -1 (errno set). */
int route_write_all(int fd, const void *buf, size_t len);

/* The whole file into a malloc'd NUL-terminated buffer; more than limit
 * bytes is an error. */
int route_read_file(const char *path, size_t limit, char **text, size_t *len, char *err, size_t errlen);

/* DIR/.rhema/ai/SUB beside the configuration, where the ledger lives. */
int route_ai_dir(const route_config *cfg, const char *sub, char *out, size_t outlen, char *err, size_t errlen);

/* The ledger under an exclusive flock (created with its folder): *fd. */
int route_ledger_lock(const char *path, int *fd, char *err, size_t errlen);
void route_ledger_unlock(int fd);
/* Append to, or read, a ledger this process holds locked as fd. */
int route_ledger_append_fd(int fd, const char *path, const route_usage *u, char *err, size_t errlen);
int route_ledger_read_fd(int fd, const char *path, int64_t since, int (*fn)(void *user, const route_usage *u), void *user,
                         size_t *bad, char *err, size_t errlen);
/* External spend since the start of now's UTC day, from a locked ledger. */
int route_ledger_spent_fd(int fd, const char *path, int64_t now, double *spent, char *err, size_t errlen);
/* The start of now's UTC day (unix seconds). */
int64_t route_day_start(int64_t now);

/* Why a daily budget has no room: spent today, held by n_held requests in
 * flight, the estimate, the budget. */
void route_budget_why(char *out, size_t n, double spent, double held, size_t n_held, double est, double max);
/* Turn a decision to the local model because a budget has no room. */
void route_decision_local(const route_config *cfg, route_decision *d, const char *reason);

/* printf one more line into lines[*n] (each width bytes, at most max),
 * dropping it when full. */
void route_line_add(char *lines, size_t width, size_t max, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The array v, holding n elements of size bytes in room for *cap, with
 * room for one more: when full it doubles (from first) and *cap says so.
 * NULL when out of memory, v then unchanged. */
void *route_grow(void *v, size_t n, size_t *cap, size_t size, size_t first);

/* A growing list of measurements (latencies, load times) and their
 * nearest-rank quantiles. Zero it to start. */
typedef struct route_samples {
    double *v;
    size_t n, cap;
} route_samples;

int route_samples_push(route_samples *s, double x);
void route_samples_sort(route_samples *s);
/* The q-quantile (0..1) of sorted samples by nearest rank; 0 when empty. */
double route_samples_at(const route_samples *s, double q);
void route_samples_free(route_samples *s);
/* Index of the nearest-rank q-quantile among n sorted values. */
size_t route_rank(size_t n, double q);

/* Compile a rule condition. On error *errcol is the 0-based column in text. */
int route_expr_compile(const char *text, route_expr **out, size_t *errcol, char *err, size_t errlen);
void route_expr_free(route_expr *e);

/* What a condition can look at. */
typedef struct route_facts {
    const char *prompt;
    double tokens;
    double context_tokens;
    double complexity; /* classifier score */
    bool is_private;
} route_facts;

bool route_expr_eval(const route_expr *e, const route_facts *f);

/* Parse "use embedded MODEL", "use external [PROVIDER] MODEL",
 * "hybrid processing" (a leading "use" is optional, so fallbacks like
 * "external gpt-4" read the same). Strings are malloc'd into a. */
int route_action_parse(const char *text, route_action *a, size_t *errcol, char *err, size_t errlen);
void route_action_free(route_action *a);

/* The preferred local model for a classified request (a code model for
 * code), and a model by name (NULL when absent). */
const route_model *route_default_model(const route_config *cfg, const route_class *cls);
const route_model *route_model_named(const route_config *cfg, const char *name);

/* The preferred external provider (lowest priority), or NULL: the model
 * savings are priced on. */
const route_provider *route_default_provider(const route_config *cfg);

/* The cached answer for key if still fresh (owned by the cache), or NULL. */
const char *route_cache_get(route_cache *c, const char *key, int64_t now_ms);
/* Store a copy of text for ttl_ms (0: not cached). */
int route_cache_put(route_cache *c, const char *key, const char *text, int64_t now_ms, int64_t ttl_ms);

#endif
