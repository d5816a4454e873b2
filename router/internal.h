/* Shared by the files of the router module only. */
#ifndef RHEMA_ROUTER_INTERNAL_H
#define RHEMA_ROUTER_INTERNAL_H

#include "router/router.h"

#include <stdarg.h>

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

/* printf one more line into lines[*n] (each width bytes, at most max),
 * dropping it when full. */
void route_line_add(char *lines, size_t width, size_t max, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

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
