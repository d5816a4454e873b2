/* The usage ledger: one text line per request,
 *   R3 TIME TARGET PROVIDER MODEL IN OUT COST MS FLAGS CHECK
 * FLAGS: "-", "c" (answered from the cache) or "f" (failed). (R2 lines,
 * without FLAGS, and R1 lines, without MS, are still read.)
 * appended under flock with a single write and fsync. COST is "-" when no
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
    if (n < 0 || (size_t)n + 12 >= len) return -1;
    n += snprintf(line + n, len - (size_t)n, " %08" PRIx32 "\n", fnv1a(line, (size_t)n));
    return n;
}

static int lock(int fd, int op)
{
    int rc;
    while ((rc = flock(fd, op)) != 0 && errno == EINTR) {}
    return rc;
}

int route_ledger_append(const char *path, const route_usage *u, char *err, size_t errlen)
{
    if (!path || !u) return route_fail(err, errlen, ROUTE_ERR_ARG, "route_ledger_append: missing path or record");
    char line[MAX_LINE + 2];
    int n = format_record(u, line + 1, sizeof line - 1);
    if (n < 0) return route_fail(err, errlen, ROUTE_ERR_ARG, "ledger record too long");
    char dir[4096];
    route_dirname(path, dir, sizeof dir);
    int rc = route_mkdir_p(dir, err, errlen);
    if (rc) return rc;
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return route_fail(err, errlen, ROUTE_ERR_IO, "%s: %s", path, strerror(errno));
    if (lock(fd, LOCK_EX) != 0) {
        rc = route_fail(err, errlen, ROUTE_ERR_LEDGER, "%s: cannot lock: %s", path, strerror(errno));
        close(fd);
        return rc;
    }
    struct stat st;
    char last = '\n';
    if (fstat(fd, &st) == 0 && st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) != 1) last = '\n';
    /* End a torn line left by a crashed writer before adding ours. */
    const char *rec = last == '\n' ? line + 1 : line;
    line[0] = '\n';
    size_t len = (size_t)n + (last == '\n' ? 0 : 1);
    if (route_write_all(fd, rec, len) != 0 || fsync(fd) != 0)
        rc = route_fail(err, errlen, ROUTE_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    lock(fd, LOCK_UN);
    close(fd);
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

/* One line (without its newline) into u; false when damaged. */
static bool parse_record(char *line, size_t len, route_usage *u)
{
    if (len < 12 || len > MAX_LINE) return false;
    char *sp = strrchr(line, ' ');
    if (!sp || strlen(sp + 1) != 8) return false;
    char *end;
    unsigned long check = strtoul(sp + 1, &end, 16);
    if (*end || check != fnv1a(line, (size_t)(sp - line))) return false;
    *sp = 0;
    char *f[10], *save = NULL;
    size_t n = 0;
    for (char *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        if (n == 10) return false;
        f[n++] = t;
    }
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
    return ok;
}

int route_ledger_read(const char *path, int64_t since, int (*fn)(void *user, const route_usage *u), void *user,
                      size_t *bad, char *err, size_t errlen)
{
    if (bad) *bad = 0;
    FILE *f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT) return ROUTE_OK;
        return route_fail(err, errlen, ROUTE_ERR_IO, "%s: %s", path, strerror(errno));
    }
    /* A shared lock: never read a record while it is being written. */
    if (lock(fileno(f), LOCK_SH) != 0) {
        fclose(f);
        return route_fail(err, errlen, ROUTE_ERR_LEDGER, "%s: cannot lock: %s", path, strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = ROUTE_OK;
    while ((n = getline(&line, &cap, f)) > 0) {
        bool complete = line[n - 1] == '\n';
        if (complete) line[--n] = 0;
        route_usage u;
        if (!complete || !parse_record(line, (size_t)n, &u)) {
            if (bad && n > 0) (*bad)++;
            continue;
        }
        if (u.time >= since && fn && fn(user, &u)) break;
    }
    if (ferror(f)) rc = route_fail(err, errlen, ROUTE_ERR_IO, "%s: read error", path);
    free(line);
    lock(fileno(f), LOCK_UN);
    fclose(f);
    return rc;
}

static int add_cost(void *user, const route_usage *u)
{
    if (u->target != ROUTE_TO_EMBEDDED && u->cost_known) *(double *)user += u->cost;
    return 0;
}

int route_ledger_spent_today(const char *path, int64_t now, double *spent, char *err, size_t errlen)
{
    *spent = 0;
    int64_t day = now - ((now % 86400) + 86400) % 86400;
    return route_ledger_read(path, day, add_cost, spent, NULL, err, errlen);
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
    if (!rc) rc = route_ledger_read(path, now - 86400, add_latency, &l, NULL, err, errlen);
    if (l.n[0]) st->embedded_ms = l.sum[0] / (double)l.n[0];
    if (l.n[1]) st->external_ms = l.sum[1] / (double)l.n[1];
    return rc;
}

/* ------------------------------------------------------------- analysis */

typedef struct agg {
    const route_config *cfg;
    route_cost_report *r;
    size_t cap;
    int64_t until;
    double ref_in, ref_out; /* price of the default external model */
    bool ref_known;
    int status;
} agg;

static route_cost_row *row_for(agg *a, const route_usage *u)
{
    route_cost_report *r = a->r;
    for (size_t i = 0; i < r->n_rows; i++) {
        route_cost_row *row = &r->rows[i];
        if (row->target == u->target && !strcmp(row->provider, u->provider) && !strcmp(row->model, u->model)) return row;
    }
    if (r->n_rows == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        route_cost_row *nr = realloc(r->rows, cap * sizeof *nr);
        if (!nr) return NULL;
        r->rows = nr;
        a->cap = cap;
    }
    route_cost_row *row = &r->rows[r->n_rows++];
    *row = (route_cost_row){.target = u->target};
    route_copy(row->provider, sizeof row->provider, u->provider);
    route_copy(row->model, sizeof row->model, u->model);
    return row;
}

/* A cached answer saved what its own model would have charged (the
 * default external model's price for a local one). */
static void add_cached(agg *a, route_cost_row *row, const route_usage *u)
{
    row->cached++;
    row->cached_in_tokens += u->in_tokens;
    row->cached_out_tokens += u->out_tokens;
    a->r->cached_requests++;
    double pin = a->ref_in, pout = a->ref_out;
    bool known = u->target == ROUTE_TO_EMBEDDED ? a->ref_known : route_price_lookup(a->cfg, u->provider, u->model, &pin, &pout);
    if (known) a->r->cached_savings += route_cost(pin, pout, u->in_tokens, u->out_tokens);
    else a->r->cached_savings_known = false;
}

static int add_row(void *user, const route_usage *u)
{
    agg *a = user;
    if (u->time > a->until) return 0;
    route_cost_row *row = row_for(a, u);
    if (!row) {
        a->status = ROUTE_ERR_NOMEM;
        return 1;
    }
    if (u->failed) {
        row->failed++;
        a->r->failed_requests++;
        return 0;
    }
    row->requests++;
    if (u->cached) {
        add_cached(a, row, u);
        return 0;
    }
    row->in_tokens += u->in_tokens;
    row->out_tokens += u->out_tokens;
    if (u->ms > 0) {
        row->timed++;
        row->total_ms += u->ms;
        row->timed_out_tokens += u->out_tokens;
    }
    if (u->target == ROUTE_TO_EMBEDDED) {
        a->r->local_requests++;
        if (a->ref_known) a->r->local_savings += route_cost(a->ref_in, a->ref_out, u->in_tokens, u->out_tokens);
    } else if (u->cost_known) {
        row->cost += u->cost;
        a->r->total_cost += u->cost;
    } else {
        row->unpriced++;
    }
    return 0;
}

static int row_order(const void *x, const void *y)
{
    const route_cost_row *a = x, *b = y;
    if ((a->target == ROUTE_TO_EMBEDDED) != (b->target == ROUTE_TO_EMBEDDED)) return a->target == ROUTE_TO_EMBEDDED ? 1 : -1;
    if (a->cost != b->cost) return a->cost < b->cost ? 1 : -1;
    return a->requests < b->requests ? 1 : a->requests > b->requests ? -1 : 0;
}

int route_costs_analyze(const route_config *cfg, const char *ledger, int64_t since, int64_t until,
                        route_cost_report *out, char *err, size_t errlen)
{
    if (!ledger || !out) return route_fail(err, errlen, ROUTE_ERR_ARG, "route_costs_analyze: missing ledger or report");
    memset(out, 0, sizeof *out);
    out->since = since;
    out->until = until;
    agg a = {.cfg = cfg, .r = out, .until = until};
    const route_provider *p = route_default_provider(cfg);
    if (p) {
        a.ref_known = route_price_lookup(cfg, p->name, p->models[0], &a.ref_in, &a.ref_out);
        route_copy(out->ref_provider, sizeof out->ref_provider, p->name);
        route_copy(out->ref_model, sizeof out->ref_model, p->models[0]);
    }
    out->savings_known = a.ref_known;
    out->cached_savings_known = true;
    int rc = route_ledger_read(ledger, since, add_row, &a, &out->bad_lines, err, errlen);
    if (!rc && a.status) rc = route_fail(err, errlen, a.status, "out of memory");
    if (rc) {
        route_cost_report_free(out);
        return rc;
    }
    if (out->n_rows) qsort(out->rows, out->n_rows, sizeof *out->rows, row_order);
    return ROUTE_OK;
}

void route_cost_report_free(route_cost_report *r)
{
    if (!r) return;
    free(r->rows);
    r->rows = NULL;
    r->n_rows = 0;
}
