/* Provider limits shared by every process on the machine, in
 * .rhema/ai/limits/ beside the configuration:
 *  - rate: one line per provider, "NAME TOKENS LAST_MS", a token bucket
 *    holding up to rate_limit_per_minute requests and refilled at that
 *    rate, rewritten under flock. A line damaged by a crash is dropped,
 *    which only refills that provider's bucket.
 *  - PROVIDER.N.slot: max_concurrent_requests lock files; a request holds
 *    an exclusive flock on one while it runs. The kernel drops the lock
 *    when a process dies, so a crash never leaks a slot. */
#include "router/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

enum { MAX_STATE = 1 << 20 };

int route_limits_dir(const route_config *cfg, char *out, size_t outlen, char *err, size_t errlen)
{
    return route_ai_dir(cfg, "limits", out, outlen, err, errlen);
}

static int lock_fd(int fd, int op)
{
    int rc;
    while ((rc = flock(fd, op)) != 0 && errno == EINTR) {}
    return rc;
}

/* Provider names go into a space-separated file and into file names. */
static bool safe_name(const char *s)
{
    if (!*s || strlen(s) > 64) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || strchr("._-", *s)))
            return false;
    return *s == 0;
}

static int open_in(const char *dir, const char *name, int *fd, char *err, size_t errlen)
{
    char path[4096 + 96];
    int rc = route_mkdir_p(dir, err, errlen);
    if (rc) return rc;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (*fd < 0) return route_fail(err, errlen, ROUTE_ERR_IO, "%s: %s", path, strerror(errno));
    return ROUTE_OK;
}

/* The whole state file (locked by the caller), NUL-terminated. */
static char *read_state(int fd, size_t *len)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < 0 || st.st_size > MAX_STATE) return NULL;
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) return NULL;
    ssize_t n = pread(fd, buf, (size_t)st.st_size, 0);
    *len = n > 0 ? (size_t)n : 0;
    buf[*len] = 0;
    return buf;
}

/* Find provider's line; on success tokens and last are set. */
static bool find_bucket(const char *state, const char *provider, double *tokens, int64_t *last)
{
    size_t plen = strlen(provider);
    for (const char *line = state; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (strncmp(line, provider, plen) || line[plen] != ' ') continue;
        char *end;
        double t = strtod(line + plen + 1, &end);
        if (*end != ' ' || !isfinite(t)) return false;
        errno = 0;
        long long l = strtoll(end + 1, &end, 10);
        if (errno || (*end != '\n' && *end)) return false;
        *tokens = t;
        *last = l;
        return true;
    }
    return false;
}

/* The state with provider's line replaced by a new one. */
static int write_state(int fd, const char *old, const char *provider, double tokens, int64_t now_ms)
{
    size_t plen = strlen(provider), cap = strlen(old) + 128, k = 0;
    char *out = malloc(cap);
    if (!out) return -1;
    for (const char *line = old; *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        bool mine = n > plen && !strncmp(line, provider, plen) && line[plen] == ' ';
        if (!mine && nl) { /* keep others' complete lines */
            memcpy(out + k, line, n + 1);
            k += n + 1;
        }
        line += n + (nl ? 1 : 0);
    }
    k += (size_t)snprintf(out + k, cap - k, "%s %.6f %" PRId64 "\n", provider, tokens, now_ms);
    int rc = ftruncate(fd, 0) == 0 && pwrite(fd, out, k, 0) == (ssize_t)k ? 0 : -1;
    free(out);
    return rc;
}

/* The bucket refilled to now_ms; take one from it when take and one is there. */
static int bucket(const char *dir, const char *provider, long per_minute, int64_t now_ms, bool take, int64_t *wait_ms,
                  char *err, size_t errlen)
{
    if (!dir || !provider || !wait_ms) return route_fail(err, errlen, ROUTE_ERR_ARG, "rate limit: missing argument");
    *wait_ms = 0;
    if (per_minute <= 0) return ROUTE_OK;
    if (!safe_name(provider)) return route_fail(err, errlen, ROUTE_ERR_ARG, "provider name '%s' cannot name a limit", provider);
    int fd, rc = open_in(dir, "rate", &fd, err, errlen);
    if (rc) return rc;
    if (lock_fd(fd, LOCK_EX) != 0) {
        close(fd);
        return route_fail(err, errlen, ROUTE_ERR_LEDGER, "%s/rate: cannot lock: %s", dir, strerror(errno));
    }
    size_t len;
    char *state = read_state(fd, &len);
    double cap = (double)per_minute, per_ms = cap / 60000.0, tokens = cap;
    int64_t last = now_ms;
    if (state && find_bucket(state, provider, &tokens, &last)) {
        /* A clock that moved back refills nothing; a bucket never exceeds the limit. */
        if (now_ms > last) tokens += (double)(now_ms - last) * per_ms;
        if (tokens > cap || tokens < 0) tokens = tokens < 0 ? 0 : cap;
    }
    if (tokens >= 1) tokens -= take ? 1 : 0;
    else *wait_ms = (int64_t)ceil((1 - tokens) / per_ms);
    if (take && (!state || write_state(fd, state, provider, tokens, now_ms) != 0))
        rc = route_fail(err, errlen, ROUTE_ERR_IO, "%s/rate: cannot update", dir);
    free(state);
    lock_fd(fd, LOCK_UN);
    close(fd);
    return rc;
}

int route_rate_take(const char *dir, const char *provider, long per_minute, int64_t now_ms, int64_t *wait_ms,
                    char *err, size_t errlen)
{
    return bucket(dir, provider, per_minute, now_ms, true, wait_ms, err, errlen);
}

int route_rate_peek(const char *dir, const char *provider, long per_minute, int64_t now_ms, int64_t *wait_ms,
                    char *err, size_t errlen)
{
    return bucket(dir, provider, per_minute, now_ms, false, wait_ms, err, errlen);
}

int route_slot_take(const char *dir, const char *provider, long max, int *fd, char *err, size_t errlen)
{
    if (!dir || !provider || !fd) return route_fail(err, errlen, ROUTE_ERR_ARG, "route_slot_take: missing argument");
    *fd = -1;
    if (!safe_name(provider)) return route_fail(err, errlen, ROUTE_ERR_ARG, "provider name '%s' cannot name a limit", provider);
    for (long i = 0; i < max; i++) {
        char name[96];
        int f, rc;
        snprintf(name, sizeof name, "%s.%ld.slot", provider, i);
        if ((rc = open_in(dir, name, &f, err, errlen))) return rc;
        int lr;
        while ((lr = flock(f, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {}
        if (lr == 0) {
            *fd = f;
            return ROUTE_OK;
        }
        close(f);
    }
    return ROUTE_OK;
}

void route_slot_release(int fd)
{
    if (fd >= 0) close(fd); /* closing drops the flock */
}

int route_limits_explain(const route_config *cfg, const char *dir, int64_t now_ms, long max_wait_ms, route_decision *d,
                         char *err, size_t errlen)
{
    if (!cfg || !dir || !d) return route_fail(err, errlen, ROUTE_ERR_ARG, "route_limits_explain: missing argument");
    if (d->target == ROUTE_TO_EMBEDDED || d->is_private || d->budget_local) return ROUTE_OK;
    const route_provider *p = NULL;
    for (size_t i = 0; i < cfg->n_providers && !p; i++)
        if (!strcmp(cfg->providers[i].name, d->provider)) p = &cfg->providers[i];
    struct stat st;
    /* No folder yet: no process has used a limit, nothing is busy (and a dry run creates nothing). */
    if (!p || !p->enable_rate_limiting || !safe_name(p->name) || stat(dir, &st) != 0) return ROUTE_OK;
    double bound = (double)(max_wait_ms > 0 ? max_wait_ms : ROUTE_MAX_WAIT_MS) / 1000;
    int64_t wait;
    int rc = route_rate_peek(dir, p->name, p->rate_limit_per_minute, now_ms, &wait, err, errlen);
    if (rc) return rc;
    if (wait > 0)
        route_line_add(d->why[0], sizeof d->why[0], ROUTE_MAX_REASONS, &d->n_why, "local limit: %s is at its %ld requests a minute (rate_limit_per_minute) for %.1f s more -> %s",
                p->name, p->rate_limit_per_minute, (double)wait / 1000,
                (double)wait / 1000 <= bound ? "the request waits for it" : "the request goes to the fallback");
    int slot;
    if ((rc = route_slot_take(dir, p->name, p->max_concurrent_requests, &slot, err, errlen))) return rc;
    if (slot < 0)
        route_line_add(d->why[0], sizeof d->why[0], ROUTE_MAX_REASONS, &d->n_why, "local limit: all %ld concurrent requests to %s (max_concurrent_requests) are busy -> the request "
                "waits up to %.1f s for one, then goes to the fallback", p->max_concurrent_requests, p->name, bound);
    route_slot_release(slot);
    return ROUTE_OK;
}
