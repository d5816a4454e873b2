/* Service statistics from the ledger: counts, tokens, cost and latency
 * percentiles per side, for `ai service status` and `ai performance compare`. */
#include "router/internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct side_acc {
    route_side_stats *s;
    route_samples ms;
    double timed_ms;
    uint64_t timed_out;
} side_acc;

typedef struct stats_acc {
    side_acc side[2];
    int64_t until;
    int status;
} stats_acc;

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
        if ((acc->status = route_samples_push(&a->ms, u->ms))) return 1;
    }
    return 0;
}

static void finish(side_acc *a)
{
    route_side_stats *s = a->s;
    if (!a->ms.n) return;
    route_samples_sort(&a->ms);
    s->mean_ms = a->timed_ms / (double)a->ms.n;
    s->p50_ms = route_samples_at(&a->ms, 0.50);
    s->p95_ms = route_samples_at(&a->ms, 0.95);
    s->p99_ms = route_samples_at(&a->ms, 0.99);
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
        route_samples_free(&acc.side[i].ms);
    }
    return rc;
}
