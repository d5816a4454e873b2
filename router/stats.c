/* Service statistics from the ledger: counts, tokens, cost and latency
 * percentiles per side, for `ai service status` and `ai performance compare`. */
#include "router/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct side_acc {
    route_side_stats *s;
    double *ms;
    size_t n, cap;
    double timed_ms;
    uint64_t timed_out;
} side_acc;

typedef struct stats_acc {
    side_acc side[2];
    int64_t until;
    int status;
} stats_acc;

static int push_ms(side_acc *a, double ms)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        double *nv = realloc(a->ms, cap * sizeof *nv);
        if (!nv) return ROUTE_ERR_NOMEM;
        a->ms = nv;
        a->cap = cap;
    }
    a->ms[a->n++] = ms;
    return ROUTE_OK;
}

static int add_stat(void *user, const route_usage *u)
{
    stats_acc *acc = user;
    if (u->time > acc->until) return 0;
    side_acc *a = &acc->side[u->target != ROUTE_TO_EMBEDDED];
    route_side_stats *s = a->s;
    s->requests++;
    if (u->failed) {
        s->failures++;
        s->cache_misses++;
        return 0;
    }
    s->successes++;
    if (u->cached) {
        s->cache_hits++;
        return 0;
    }
    s->cache_misses++;
    s->in_tokens += u->in_tokens;
    s->out_tokens += u->out_tokens;
    if (u->cost_known) s->cost += u->cost;
    else s->unpriced++;
    if (u->ms > 0) {
        s->timed++;
        a->timed_ms += u->ms;
        a->timed_out += u->out_tokens;
        if ((acc->status = push_ms(a, u->ms))) return 1;
    }
    return 0;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static double pct(const double *v, size_t n, double q)
{
    size_t k = (size_t)ceil(q * (double)n);
    return v[k ? k - 1 : 0];
}

static void finish(side_acc *a)
{
    route_side_stats *s = a->s;
    if (!a->n) return;
    qsort(a->ms, a->n, sizeof *a->ms, cmp_double);
    s->mean_ms = a->timed_ms / (double)a->n;
    s->p50_ms = pct(a->ms, a->n, 0.50);
    s->p95_ms = pct(a->ms, a->n, 0.95);
    s->p99_ms = pct(a->ms, a->n, 0.99);
    s->out_tokens_per_s = a->timed_ms > 0 ? (double)a->timed_out * 1000.0 / a->timed_ms : 0;
}

int route_service_stats_read(const char *ledger, int64_t since, int64_t until, route_service_stats *out, char *err,
                             size_t errlen)
{
    if (!ledger || !out) return route_fail(err, errlen, ROUTE_ERR_ARG, "route_service_stats_read: missing argument");
    memset(out, 0, sizeof *out);
    out->since = since;
    out->until = until;
    stats_acc acc = {.side = {{.s = &out->embedded}, {.s = &out->external}}, .until = until};
    int rc = route_ledger_read(ledger, since, add_stat, &acc, &out->bad_lines, err, errlen);
    if (!rc && acc.status) rc = route_fail(err, errlen, acc.status, "out of memory");
    for (int i = 0; i < 2; i++) {
        if (!rc) finish(&acc.side[i]);
        free(acc.side[i].ms);
    }
    return rc;
}
