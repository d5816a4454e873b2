/* The usage ledger: one text line per request,
 *   R3 TIME TARGET PROVIDER MODEL IN OUT COST MS FLAGS CHECK
 * FLAGS: "-", "c" (answered from the cache) or "f" (failed). (R2 lines,
 * without FLAGS, and R1 lines, without MS, are still read.) An embedded
 * call the backend measured is followed, in the same write, by
 *   M1 RCHECK LOAD_MS|- PEAK_RSS MODEL_BYTES KV_BYTES CHECK
 * where RCHECK is the record's own CHECK: older readers skip the M1 line as
 * one they cannot read and keep every figure of the record.
 * Appended under flock with a single write and fsync. COST is "-" when no
 * price was known; CHECK is an FNV-1a hash of the rest of the line, so a
 * record torn by a crash (or by a full disk) is recognised and skipped, and
 * a writer that finds the file not ending in a newline ends the torn line
 * first, so a completed record is never glued onto it. */
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

enum { MAX_LINE = 512 };

static uint32_t fnv1a(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

/* Names go into a space-separated line: keep them to safe characters. */
static void clean_name(const char *in, char *out, size_t outlen)
{
    size_t k = 0;
    for (; in && *in && k + 1 < outlen; in++) {
        char c = *in;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("._:/@+-", c);
        out[k++] = ok ? c : '_';
    }
    if (!k && outlen > 1) out[k++] = '-';
    out[k] = 0;
}

int route_ledger_path(const route_config *cfg, char *out, size_t outlen, char *err, size_t errlen)
{
    const char *cfgpath = cfg && cfg->path ? cfg->path : NULL;
    char dir[4096];
    if (!cfgpath) route_copy(dir, sizeof dir, ".rhema");
    else route_dirname(cfgpath, dir, sizeof dir);
    const char *base = strrchr(dir, '/');
    base = base ? base + 1 : dir;
    int n = !strcmp(base, ".rhema") ? snprintf(out, outlen, "%s/ai/usage.log", dir)
                                    : snprintf(out, outlen, "%s/.rhema/ai/usage.log", dir);
    if (n < 0 || (size_t)n >= outlen) return route_fail(err, errlen, ROUTE_ERR_ARG, "ledger path too long");
    return ROUTE_OK;
}

int route_ai_dir(const route_config *cfg, const char *sub, char *out, size_t outlen, char *err, size_t errlen)
{
    char ledger[4096], dir[4096];
    int rc = route_ledger_path(cfg, ledger, sizeof ledger, err, errlen);
    if (rc) return rc;
    route_dirname(ledger, dir, sizeof dir);
    int n = snprintf(out, outlen, "%s/%s", dir, sub);
    if (n < 0 || (size_t)n >= outlen) return route_fail(err, errlen, ROUTE_ERR_ARG, "%s path too long", sub);
    return ROUTE_OK;
}

static bool has_metrics(const route_usage *u)
{
    return (isfinite(u->load_ms) && u->load_ms > 0) || u->peak_rss || u->model_bytes || u->kv_bytes;
}

/* The record's line, and its M1 line when the call was measured. */
static int format_record(const route_usage *u, char *line, size_t len)
{
    char prov[sizeof u->provider], model[sizeof u->model], cost[32];
    clean_name(u->provider, prov, sizeof prov);
    clean_name(u->model, model, sizeof model);
    if (u->cost_known && isfinite(u->cost) && u->cost >= 0) snprintf(cost, sizeof cost, "%.9f", u->cost);
    else snprintf(cost, sizeof cost, "-");
    double ms = isfinite(u->ms) && u->ms > 0 && u->ms < 1e12 ? u->ms : 0;
    int n = snprintf(line, len, "R3 %" PRId64 " %s %s %s %" PRIu64 " %" PRIu64 " %s %.0f %s", u->time,
                     route_target_name(u->target), prov, model, u->in_tokens, u->out_tokens, cost, ms,
                     u->failed ? "f" : u->cached ? "c" : "-");
    if (n < 0 || (size_t)n + 10 > MAX_LINE || (size_t)n + 12 >= len) return -1; /* readers take MAX_LINE */
    uint32_t check = fnv1a(line, (size_t)n);
    n += snprintf(line + n, len - (size_t)n, " %08" PRIx32 "\n", check);
    if (!has_metrics(u)) return n;
    char load[32] = "-", *m = line + n;
    if (isfinite(u->load_ms) && u->load_ms > 0 && u->load_ms < 1e12) snprintf(load, sizeof load, "%.1f", u->load_ms);
    int k = snprintf(m, len - (size_t)n, "M1 %08" PRIx32 " %s %" PRIu64 " %" PRIu64 " %" PRIu64, check, load, u->peak_rss,
                     u->model_bytes, u->kv_bytes);
    if (k < 0 || (size_t)(n + k) + 12 >= len) return -1;
    k += snprintf(m + k, len - (size_t)(n + k), " %08" PRIx32 "\n", fnv1a(m, (size_t)k));
    return n + k;
}

static int lock(int fd, int op)
{
    int rc;
    while ((rc = flock(fd, op)) != 0 && errno == EINTR) {}
    return rc;
}

int route_ledger_lock(const char *path, int *fd, char *err, size_t errlen)
{
    char dir[4096];
    route_dirname(path, dir, sizeof dir);
    int rc = route_mkdir_p(dir, err, errlen);
    if (rc) return rc;
    *fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (*fd < 0) return route_fail(err, errlen, ROUTE_ERR_IO, "%s: %s", path, strerror(errno));
    if (lock(*fd, LOCK_EX) != 0) {
        rc = route_fail(err, errlen, ROUTE_ERR_LEDGER, "%s: cannot lock: %s", path, strerror(errno));
        close(*fd);
        *fd = -1;
    }
    return rc;
}

void route_ledger_unlock(int fd)
{
    if (fd < 0) return;
    lock(fd, LOCK_UN);
    close(fd);
}

int route_ledger_append_fd(int fd, const char *path, const route_usage *u, char *err, size_t errlen)
{
    char line[2 * MAX_LINE + 2];
    int n = format_record(u, line + 1, sizeof line - 1);
    if (n < 0) return route_fail(err, errlen, ROUTE_ERR_ARG, "ledger record too long");
    int rc = ROUTE_OK;
    struct stat st;
    char last = '\n';
    if (fstat(fd, &st) == 0 && st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) != 1) last = '\n';
    /* End a torn line left by a crashed writer before adding ours. */
    const char *rec = last == '\n' ? line + 1 : line;
    line[0] = '\n';
    size_t len = (size_t)n + (last == '\n' ? 0 : 1);
    if (route_write_all(fd, rec, len) != 0 || fsync(fd) != 0)
        rc = route_fail(err, errlen, ROUTE_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    return rc;
}

int route_ledger_append(const char *path, const route_usage *u, char *err, size_t errlen)
{
    if (!path || !u) return route_fail(err, errlen, ROUTE_ERR_ARG, "route_ledger_append: missing path or record");
    int fd, rc = route_ledger_lock(path, &fd, err, errlen);
    if (rc) return rc;
    rc = route_ledger_append_fd(fd, path, u, err, errlen);
    route_ledger_unlock(fd);
    return rc;
}

static bool parse_u64(const char *s, uint64_t *v)
{
    char *end;
    if (*s < '0' || *s > '9') return false;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (*end || errno) return false;
    *v = x;
    return true;
}

static route_target target_of(const char *s, bool *ok)
{
    for (int t = ROUTE_TO_EMBEDDED; t <= ROUTE_TO_HYBRID; t++)
        if (!strcmp(s, route_target_name((route_target)t))) return (route_target)t;
    *ok = false;
    return ROUTE_TO_EMBEDDED;
}

/* Split a checked line (without its newline) into at most max fields;
 * *check is its CHECK. Returns the number of fields, 0 when damaged. */
static size_t split_checked(char *line, size_t len, char **f, size_t max, uint32_t *check)
{
    if (len < 12 || len > MAX_LINE || strlen(line) != len) return 0;
    char *sp = strrchr(line, ' ');
    if (!sp || strlen(sp + 1) != 8) return 0;
    char *end;
    unsigned long c = strtoul(sp + 1, &end, 16);
    if (*end || c != fnv1a(line, (size_t)(sp - line))) return 0;
    *check = (uint32_t)c;
    *sp = 0;
    char *save = NULL;
    size_t n = 0;
    for (char *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        if (n == max) return 0;
        f[n++] = t;
    }
    return n;
}

/* One record line into u (metrics cleared); false when damaged. */
static bool parse_record(char *line, size_t len, route_usage *u, uint32_t *check)
{
    char *f[10];
    size_t n = split_checked(line, len, f, 10, check);
    char *end;
    uint64_t time, ms = 0;
    const char *flags = n == 10 ? f[9] : "-";
    bool ok = ((n == 8 && !strcmp(f[0], "R1")) || (n == 9 && !strcmp(f[0], "R2") && parse_u64(f[8], &ms)) ||
               (n == 10 && !strcmp(f[0], "R3") && parse_u64(f[8], &ms) && flags[0] && !flags[1] &&
                strchr("-cf", flags[0]))) &&
              parse_u64(f[1], &time) && time <= INT64_MAX && parse_u64(f[5], &u->in_tokens) &&
              parse_u64(f[6], &u->out_tokens);
    if (!ok) return false;
    u->ms = (double)ms;
    u->time = (int64_t)time;
    u->cached = flags[0] == 'c';
    u->failed = flags[0] == 'f';
    u->target = target_of(f[2], &ok);
    route_copy(u->provider, sizeof u->provider, strcmp(f[3], "-") ? f[3] : "");
    route_copy(u->model, sizeof u->model, f[4]);
    u->cost_known = strcmp(f[7], "-") != 0;
    u->cost = 0;
    if (u->cost_known) {
        u->cost = strtod(f[7], &end);
        ok = ok && !*end && isfinite(u->cost) && u->cost >= 0;
    }
    u->load_ms = 0;
    u->peak_rss = u->model_bytes = u->kv_bytes = 0;
    return ok;
}

/* An M1 line into m's metrics; *owner is the CHECK of the record it
 * belongs to. False when damaged. */
static bool parse_metrics(char *line, size_t len, uint32_t *owner, route_usage *m)
{
    char *f[6], *end;
    uint32_t check;
    if (split_checked(line, len, f, 6, &check) != 6 || strcmp(f[0], "M1") || strlen(f[1]) != 8) return false;
    *owner = (uint32_t)strtoul(f[1], &end, 16);
    if (*end) return false;
    m->load_ms = 0;
    if (strcmp(f[2], "-")) {
        m->load_ms = strtod(f[2], &end);
        if (*end || !isfinite(m->load_ms) || m->load_ms < 0) return false;
    }
    return parse_u64(f[3], &m->peak_rss) && parse_u64(f[4], &m->model_bytes) && parse_u64(f[5], &m->kv_bytes);
}

static bool is_metrics_line(const char *line) { return !strncmp(line, "M1 ", 3); }

/* A record waits for the line after it, which may hold its metrics. */
typedef struct pending {
    route_usage u;
    uint32_t check;
    bool has;
} pending;

static int deliver(pending *p, int64_t since, int (*fn)(void *user, const route_usage *u), void *user)
{
    bool has = p->has;
    p->has = false;
    return has && p->u.time >= since && fn ? fn(user, &p->u) : 0;
}

int route_ledger_read_fd(int fd, const char *path, int64_t since, int (*fn)(void *user, const route_usage *u), void *user,
                         size_t *bad, char *err, size_t errlen)
{
    if (bad) *bad = 0;
    int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    FILE *f = dup_fd >= 0 ? fdopen(dup_fd, "r") : NULL;
    if (!f) {
        if (dup_fd >= 0) close(dup_fd);
        return route_fail(err, errlen, ROUTE_ERR_IO, "%s: %s", path, strerror(errno));
    }
    rewind(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = ROUTE_OK, stop = 0;
    pending p = {.has = false};
    while (!stop && (n = getline(&line, &cap, f)) > 0) {
        bool complete = line[n - 1] == '\n';
        if (complete) line[--n] = 0;
        route_usage u;
        uint32_t check;
        if (complete && is_metrics_line(line)) {
            uint32_t owner;
            if (!parse_metrics(line, (size_t)n, &owner, &u)) {
                if (bad) (*bad)++;
            } else if (p.has && owner == p.check) {
                /* One whose record was damaged has nothing to attach to. */
                p.u.load_ms = u.load_ms;
                p.u.peak_rss = u.peak_rss;
                p.u.model_bytes = u.model_bytes;
                p.u.kv_bytes = u.kv_bytes;
            }
            continue;
        }
        if (!complete || !parse_record(line, (size_t)n, &u, &check)) {
            if (bad && n > 0) (*bad)++;
            continue;
        }
        stop = deliver(&p, since, fn, user);
        p = (pending){u, check, true};
    }
    if (!stop) deliver(&p, since, fn, user);
    if (ferror(f)) rc = route_fail(err, errlen, ROUTE_ERR_IO, "%s: read error", path);
    free(line);
    fclose(f);
    return rc;
}

int route_ledger_read(const char *path, int64_t since, int (*fn)(void *user, const route_usage *u), void *user,
                      size_t *bad, char *err, size_t errlen)
{
    if (bad) *bad = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return ROUTE_OK;
        return route_fail(err, errlen, ROUTE_ERR_IO, "%s: %s", path, strerror(errno));
    }
    /* A shared lock: never read a record while it is being written. */
    if (lock(fd, LOCK_SH) != 0) {
        close(fd);
        return route_fail(err, errlen, ROUTE_ERR_LEDGER, "%s: cannot lock: %s", path, strerror(errno));
    }
    int rc = route_ledger_read_fd(fd, path, since, fn, user, bad, err, errlen);
    route_ledger_unlock(fd);
    return rc;
}

static int add_cost(void *user, const route_usage *u)
{
    if (u->target != ROUTE_TO_EMBEDDED && u->cost_known) *(double *)user += u->cost;
    return 0;
}

int64_t route_day_start(int64_t now) { return now - ((now % 86400) + 86400) % 86400; }

int route_ledger_spent_fd(int fd, const char *path, int64_t now, double *spent, char *err, size_t errlen)
{
    *spent = 0;
    return route_ledger_read_fd(fd, path, route_day_start(now), add_cost, spent, NULL, err, errlen);
}

int route_ledger_spent_today(const char *path, int64_t now, double *spent, char *err, size_t errlen)
{
    *spent = 0;
    return route_ledger_read(path, route_day_start(now), add_cost, spent, NULL, err, errlen);
}

typedef struct latency {
    double sum[2];
    uint64_t n[2];
} latency;

static int add_latency(void *user, const route_usage *u)
{
    latency *l = user;
    int side = u->target != ROUTE_TO_EMBEDDED;
    if (u->ms > 0 && !u->failed && !u->cached) {
        l->sum[side] += u->ms;
        l->n[side]++;
    }
    return 0;
}

int route_ledger_state(const char *path, int64_t now, route_state *st, char *err, size_t errlen)
{
    latency l = {{0, 0}, {0, 0}};
    double accuracy = st->embedded_accuracy;
    memset(st, 0, sizeof *st);
    st->embedded_accuracy = accuracy;
    int rc = route_ledger_spent_today(path, now, &st->spent_today, err, errlen);
    if (!rc) rc = route_budget_held(path, now * 1000, &st->reserved_today, &st->reservations, err, errlen);
    if (!rc) rc = route_ledger_read(path, now - 86400, add_latency, &l, NULL, err, errlen);
    if (l.n[0]) st->embedded_ms = l.sum[0] / (double)l.n[0];
    if (l.n[1]) st->external_ms = l.sum[1] / (double)l.n[1];
    return rc;
}
