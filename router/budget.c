/* max_daily_cost held across processes. Before an external call its
 * estimated maximum cost is reserved: under the ledger's exclusive lock,
 * today's spend (from the ledger) plus what live reservations hold plus
 * the estimate must fit the budget. Reservations live in the file
 * `reservations` beside the ledger, one line each,
 *   H1 PID START BOOT SEQ EXPIRES_MS USD
 * rewritten whole (temporary file + rename) under that lock, so the
 * ledger stays a record of calls only. A reservation counts while its
 * process lives (pid, start time and boot id: a reused pid or a reboot is
 * not its holder) and until EXPIRES_MS, which the holder pushes forward
 * before each external call. */
#include "router/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { MAX_FILE = 1 << 20, MARGIN_MS = 60000 };

/* A process: its pid, when it started (clock ticks after boot; 0 unknown)
 * and the boot it belongs to ("-" unknown). */
typedef struct owner {
    long pid;
    uint64_t start;
    char boot[40];
} owner;

typedef struct held {
    owner o;
    uint32_t seq;
    int64_t expires_ms;
    double usd;
} held;

/* The reservations, read and rewritten under the ledger's lock. */
typedef struct book {
    held *v;
    size_t n, cap;
    bool dirty; /* something changed: write it back */
} book;

/* State and start time of pid from /proc/PID/stat (fields 3 and 22, after
 * the parenthesised command name); false when it cannot be read. Opened
 * relative to /proc: qemu's user-mode emulation answers "/proc/self" and
 * "/proc/OWN-PID" itself, with a start time others do not see (a forked
 * child gets its parent's). */
static bool proc_stat(long pid, char *state, uint64_t *start)
{
    char path[32], buf[1024];
    snprintf(path, sizeof path, "%ld/stat", pid);
    int dir = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return false;
    int fd = openat(dir, path, O_RDONLY | O_CLOEXEC);
    close(dir);
    if (fd < 0) return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return false;
    buf[n] = 0;
    char *p = strrchr(buf, ')'), *save = NULL;
    if (!p) return false;
    int field = 3;
    for (char *t = strtok_r(p + 1, " ", &save); t; t = strtok_r(NULL, " ", &save), field++) {
        if (field == 3) *state = t[0];
        if (field == 22) return (*start = strtoull(t, NULL, 10)) != 0;
    }
    return false;
}

static owner self_owner(void)
{
    owner o = {.pid = (long)getpid()};
    char state;
    if (!proc_stat(o.pid, &state, &o.start)) o.start = 0;
    route_copy(o.boot, sizeof o.boot, "-");
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
    if (f) {
        char id[64];
        if (fgets(id, sizeof id, f) && id[0]) {
            id[strcspn(id, "\n ")] = 0;
            if (id[0]) route_copy(o.boot, sizeof o.boot, id);
        }
        fclose(f);
    }
    return o;
}

static bool same_owner(const owner *a, const owner *b)
{
    return a->pid == b->pid && a->start == b->start && !strcmp(a->boot, b->boot);
}

/* Does the reservation still count? Its process must run (not a zombie),
 * be the one that took it, on this boot, and the bound must not be past. */
static bool alive(const held *h, const owner *self, int64_t now_ms)
{
    if (h->expires_ms <= now_ms) return false;
    if (strcmp(h->o.boot, "-") && strcmp(self->boot, "-") && strcmp(h->o.boot, self->boot)) return false;
    if (h->o.pid <= 0 || (kill((pid_t)h->o.pid, 0) != 0 && errno == ESRCH)) return false;
    char state;
    uint64_t start;
    if (!proc_stat(h->o.pid, &state, &start)) return true; /* no /proc: the pid and the bound decide */
    return state != 'Z' && state != 'X' && (!h->o.start || start == h->o.start);
}

static int book_path(const char *ledger, const char *name, char *out, size_t n, char *err, size_t errlen)
{
    char dir[4096];
    route_dirname(ledger, dir, sizeof dir);
    int k = snprintf(out, n, "%s/%s", dir, name);
    if (k < 0 || (size_t)k >= n) return route_fail(err, errlen, ROUTE_ERR_ARG, "reservations path too long");
    return ROUTE_OK;
}

static int book_add(book *b, const held *h)
{
    held *v = route_grow(b->v, b->n, &b->cap, sizeof *v, 16);
    if (!v) return ROUTE_ERR_NOMEM;
    b->v = v;
    b->v[b->n++] = *h;
    b->dirty = true;
    return ROUTE_OK;
}

static bool parse_held(char *line, held *h)
{
    char *f[8], *save = NULL, *end;
    size_t n = 0;
    for (char *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        if (n == 8) return false;
        f[n++] = t;
    }
    if (n != 7 || strcmp(f[0], "H1") || strlen(f[3]) >= sizeof h->o.boot) return false;
    errno = 0;
    h->o.pid = strtol(f[1], &end, 10);
    bool ok = !*end && h->o.pid > 0;
    h->o.start = strtoull(f[2], &end, 10);
    ok = ok && !*end;
    route_copy(h->o.boot, sizeof h->o.boot, f[3]);
    h->seq = (uint32_t)strtoul(f[4], &end, 10);
    ok = ok && !*end;
    h->expires_ms = strtoll(f[5], &end, 10);
    ok = ok && !*end;
    h->usd = strtod(f[6], &end);
    return ok && !*end && !errno && h->usd >= 0 && h->usd < 1e12;
}

/* Read the reservations; those that no longer count (and unreadable
 * lines) are dropped, to be written back without them. */
static int book_load(const char *path, const owner *self, int64_t now_ms, book *b, char *err, size_t errlen)
{
    *b = (book){0};
    char *text;
    size_t len;
    if (access(path, F_OK) != 0 && errno == ENOENT) return ROUTE_OK;
    int rc = route_read_file(path, MAX_FILE, &text, &len, err, errlen);
    if (rc) return rc;
    char *save = NULL;
    size_t lines = 0;
    for (char *line = strtok_r(text, "\n", &save); line && !rc; line = strtok_r(NULL, "\n", &save)) {
        held h;
        lines++;
        if (parse_held(line, &h) && alive(&h, self, now_ms)) rc = book_add(b, &h);
    }
    free(text);
    if (rc) {
        free(b->v);
        return route_fail(err, errlen, rc, "out of memory");
    }
    b->dirty = b->n != lines; /* what was dropped is written away on the next save */
    return ROUTE_OK;
}

static int book_save(const char *path, const book *b, char *err, size_t errlen)
{
    if (!b->dirty) return ROUTE_OK;
    if (!b->n) {
        if (unlink(path) != 0 && errno != ENOENT)
            return route_fail(err, errlen, ROUTE_ERR_IO, "%s: %s", path, strerror(errno));
        return ROUTE_OK;
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "we");
    if (!f) return route_fail(err, errlen, ROUTE_ERR_IO, "%s: %s", tmp, strerror(errno));
    for (size_t i = 0; i < b->n; i++) {
        const held *h = &b->v[i];
        fprintf(f, "H1 %ld %" PRIu64 " %s %" PRIu32 " %" PRId64 " %.9f\n", h->o.pid, h->o.start, h->o.boot, h->seq,
                h->expires_ms, h->usd);
    }
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        int rc = route_fail(err, errlen, ROUTE_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
        return rc;
    }
    return ROUTE_OK;
}

static held *book_find(book *b, const owner *self, uint32_t seq)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->v[i].seq == seq && same_owner(&b->v[i].o, self)) return &b->v[i];
    return NULL;
}

static void book_drop(book *b, held *h)
{
    *h = b->v[--b->n];
    b->dirty = true;
}

static double book_sum(const book *b, const held *except, size_t *n)
{
    double usd = 0;
    *n = 0;
    for (size_t i = 0; i < b->n; i++)
        if (&b->v[i] != except) {
            usd += b->v[i].usd;
            (*n)++;
        }
    return usd;
}

int64_t route_budget_bound_ms(const route_config *cfg)
{
    long timeout = 0;
    for (size_t i = 0; cfg && i < cfg->n_providers; i++)
        if (cfg->providers[i].timeout_seconds > timeout) timeout = cfg->providers[i].timeout_seconds;
    return (1 + ROUTE_MAX_RETRIES) * ((int64_t)timeout * 1000 + ROUTE_MAX_WAIT_MS) + MARGIN_MS;
}

void route_budget_why(char *out, size_t n, double spent, double held, size_t n_held, double est, double max)
{
    if (n_held)
        snprintf(out, n, "today's spend $%.4f + $%.4f held by %zu request%s in flight + estimate $%.6f exceeds "
                 "max_daily_cost $%.4f", spent, held, n_held, n_held == 1 ? "" : "s", est, max);
    else
        snprintf(out, n, "today's spend $%.4f + estimate $%.6f exceeds max_daily_cost $%.4f", spent, est, max);
}

/* Renew r, or hold usd for it: the heart of reserve and hold, under the
 * ledger's lock. ROUTE_ERR_BUDGET with msg when it does not fit. */
static int take(const route_config *cfg, const char *ledger, int64_t now_ms, route_reservation *r, double usd,
                char *msg, size_t msglen, double *spent_out, double *held_out, size_t *n_out, char *err, size_t errlen)
{
    static uint32_t next_seq;
    char path[4200];
    int fd, rc = book_path(ledger, "reservations", path, sizeof path, err, errlen);
    if (rc || (rc = route_ledger_lock(ledger, &fd, err, errlen))) return rc;
    owner self = self_owner();
    double spent = 0;
    book b = {0};
    rc = route_ledger_spent_fd(fd, ledger, now_ms / 1000, &spent, err, errlen);
    if (!rc) rc = book_load(path, &self, now_ms, &b, err, errlen);
    held *mine = !rc && r->held ? book_find(&b, &self, r->seq) : NULL;
    size_t n_other = 0;
    double others = rc ? 0 : book_sum(&b, mine, &n_other);
    if (!rc && !mine && spent + others + usd > cfg->max_daily_cost) {
        route_budget_why(msg, msglen, spent, others, n_other, usd, cfg->max_daily_cost);
        r->lost = r->held;
        r->held = false;
        rc = ROUTE_ERR_BUDGET;
    } else if (!rc) {
        held h = {self, mine ? r->seq : __atomic_add_fetch(&next_seq, 1, __ATOMIC_RELAXED), now_ms + route_budget_bound_ms(cfg), usd};
        if (mine) *mine = h;
        else rc = book_add(&b, &h) ? route_fail(err, errlen, ROUTE_ERR_NOMEM, "out of memory") : ROUTE_OK;
        b.dirty = true;
        if (!rc) rc = book_save(path, &b, err, errlen);
        if (!rc) *r = (route_reservation){.held = true, .seq = h.seq, .usd = usd, .expires_ms = h.expires_ms};
    }
    if (rc == ROUTE_OK || rc == ROUTE_ERR_BUDGET) {
        *spent_out = spent;
        *held_out = others;
        *n_out = n_other;
    }
    free(b.v);
    route_ledger_unlock(fd);
    return rc;
}

int route_budget_reserve(const route_config *cfg, const char *ledger, int64_t now_ms, route_decision *d,
                         route_reservation *r, char *err, size_t errlen)
{
    if (!r) return route_fail(err, errlen, ROUTE_ERR_ARG, "route_budget_reserve: missing reservation");
    *r = (route_reservation){0};
    if (!cfg || !ledger || !d || cfg->max_daily_cost <= 0 || d->target == ROUTE_TO_EMBEDDED || !d->cost_known)
        return ROUTE_OK;
    char msg[320];
    double spent = 0, others = 0;
    size_t n = 0;
    int rc = take(cfg, ledger, now_ms, r, d->est_cost, msg, sizeof msg, &spent, &others, &n, err, errlen);
    if (rc == ROUTE_ERR_BUDGET) {
        route_decision_local(cfg, d, msg);
        return ROUTE_OK;
    }
    if (!rc)
        route_line_add(d->why[0], sizeof d->why[0], ROUTE_MAX_REASONS, &d->n_why,
                       "budget: $%.6f held against max_daily_cost $%.4f (today's spend $%.4f, $%.4f held by %zu other "
                       "request%s in flight)", d->est_cost, cfg->max_daily_cost, spent, others, n, n == 1 ? "" : "s");
    return rc;
}

int route_budget_hold(const route_config *cfg, const char *ledger, int64_t now_ms, route_reservation *r, double usd,
                      char *msg, size_t msglen)
{
    if (!cfg || !ledger || !r || cfg->max_daily_cost <= 0) return ROUTE_OK;
    char why[320] = "", err[300] = "";
    double spent, others;
    size_t n;
    bool was = r->held || r->lost;
    int rc = r->lost ? ROUTE_ERR_BUDGET
                     : take(cfg, ledger, now_ms, r, r->held ? r->usd : usd, why, sizeof why, &spent, &others, &n, err, sizeof err);
    if (rc == ROUTE_ERR_BUDGET)
        snprintf(msg, msglen, "budget: %s%s", was ? "the reservation expired and " : "",
                 why[0] ? why : "max_daily_cost has no room left");
    else if (rc)
        snprintf(msg, msglen, "budget: cannot hold the cost against max_daily_cost: %s", err);
    return rc ? ROUTE_ERR_BUDGET : ROUTE_OK;
}

/* Drop r from the reservations while the ledger is locked as fd. */
static int drop_locked(const char *ledger, route_reservation *r, char *err, size_t errlen)
{
    char path[4200];
    int rc = book_path(ledger, "reservations", path, sizeof path, err, errlen);
    if (rc || !r->held) return rc;
    owner self = self_owner();
    book b;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    rc = book_load(path, &self, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, &b, err, errlen);
    if (rc) return rc;
    held *mine = book_find(&b, &self, r->seq);
    if (mine) book_drop(&b, mine);
    rc = book_save(path, &b, err, errlen);
    free(b.v);
    r->held = false;
    return rc;
}

int route_budget_settle(const char *ledger, route_reservation *r, const route_usage *u, char *err, size_t errlen)
{
    if (!ledger || !r || !u) return route_fail(err, errlen, ROUTE_ERR_ARG, "route_budget_settle: missing argument");
    int fd, rc = route_ledger_lock(ledger, &fd, err, errlen);
    if (rc) return rc;
    rc = route_ledger_append_fd(fd, ledger, u, err, errlen);
    /* The record is written: from now on it, not the reservation, counts. */
    int drc = drop_locked(ledger, r, rc ? NULL : err, errlen);
    route_ledger_unlock(fd);
    return rc ? rc : drc;
}

int route_budget_release(const char *ledger, route_reservation *r, char *err, size_t errlen)
{
    if (!ledger || !r || !r->held) return ROUTE_OK;
    int fd, rc = route_ledger_lock(ledger, &fd, err, errlen);
    if (rc) return rc;
    rc = drop_locked(ledger, r, err, errlen);
    route_ledger_unlock(fd);
    return rc;
}

int route_budget_held(const char *ledger, int64_t now_ms, double *usd, size_t *n, char *err, size_t errlen)
{
    *usd = 0;
    *n = 0;
    char path[4200];
    int rc = book_path(ledger, "reservations", path, sizeof path, err, errlen);
    if (rc || (access(path, F_OK) != 0 && errno == ENOENT)) return rc; /* the usual case: nothing held */
    owner self = self_owner();
    book b;
    if ((rc = book_load(path, &self, now_ms, &b, err, errlen))) return rc;
    *usd = book_sum(&b, NULL, n);
    free(b.v);
    return ROUTE_OK;
}
