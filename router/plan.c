/* Cost planning from the ledger: a month's projection for a usage profile
 * and threshold recommendations with their expected saving. */
#include "router/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Documented in router/README.md ("Cost planning"). */
static const route_usage_profile profiles[] = {
    {"light", 50, 400, 200, 0.50, 0.35, 0.15},
    {"medium", 500, 800, 400, 0.50, 0.35, 0.15},
    {"heavy", 5000, 1500, 600, 0.50, 0.35, 0.15},
};

enum { DAY = 86400, MIN_MEASURED = 20, ANSWER_ROOM = 512 };

const route_usage_profile *route_usage_profile_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof profiles / sizeof profiles[0]; i++)
        if (!strcmp(profiles[i].name, name)) return &profiles[i];
    return NULL;
}

const route_provider *route_default_provider(const route_config *cfg)
{
    if (!cfg || !cfg->n_providers) return NULL;
    const route_provider *p = &cfg->providers[0];
    for (size_t i = 1; i < cfg->n_providers; i++)
        if (cfg->providers[i].priority < p->priority) p = &cfg->providers[i];
    return p;
}

typedef struct share_count {
    uint64_t total, external;
} share_count;

static int count_share(void *user, const route_usage *u)
{
    share_count *c = user;
    if (u->failed) return 0;
    c->total++;
    c->external += u->target != ROUTE_TO_EMBEDDED && !u->cached;
    return 0;
}

/* Share of requests reaching an external model, and how many of those are
 * hybrid, from the strategy and the tier mix. */
static void strategy_share(const route_config *cfg, const route_usage_profile *p, double *ext, double *hyb)
{
    *ext = *hyb = 0;
    switch (cfg->strategy) {
    case ROUTE_STRAT_HYBRID:
        *ext = p->medium_share + p->complex_share;
        *hyb = cfg->enable_hybrid ? p->medium_share : 0;
        break;
    case ROUTE_STRAT_COST: *ext = p->complex_share; break;
    case ROUTE_STRAT_QUALITY: *ext = p->medium_share + p->complex_share; break;
    case ROUTE_STRAT_EXTERNAL_ONLY: *ext = 1; break;
    case ROUTE_STRAT_LATENCY:
    case ROUTE_STRAT_LOCAL_ONLY: break;
    }
}

int route_costs_project(const route_config *cfg, const char *ledger, int64_t now, const route_usage_profile *profile,
                        route_projection *out, char *err, size_t errlen)
{
    if (!cfg || !profile || !out) return route_fail(err, errlen, ROUTE_ERR_ARG, "route_costs_project: missing argument");
    memset(out, 0, sizeof *out);
    out->profile = *profile;
    out->monthly_requests = profile->requests_per_day * 30;
    const route_provider *ref = route_default_provider(cfg);
    double pin = 0, pout = 0;
    if (ref) {
        route_copy(out->ref_provider, sizeof out->ref_provider, ref->name);
        route_copy(out->ref_model, sizeof out->ref_model, ref->models[0]);
        out->cost_known = route_price_lookup(cfg, ref->name, ref->models[0], &pin, &pout);
    }
    share_count c = {0, 0};
    if (ledger) {
        int rc = route_ledger_read(ledger, now - 30 * DAY, count_share, &c, NULL, err, errlen);
        if (rc) return rc;
    }
    out->ledger_requests = c.total;
    if (!ref) {
        out->external_share = 0;
    } else if (c.total >= MIN_MEASURED) {
        out->share_from_ledger = true;
        out->external_share = (double)c.external / (double)c.total;
    } else {
        strategy_share(cfg, profile, &out->external_share, &out->hybrid_share);
    }
    uint64_t in = (uint64_t)profile->in_tokens, outk = (uint64_t)profile->out_tokens;
    double one = route_cost(pin, pout, in, outk), hybrid = route_cost(pin, pout, in + outk, outk);
    out->all_external_usd = out->monthly_requests * one;
    out->routed_usd = out->monthly_requests * ((out->external_share - out->hybrid_share) * one + out->hybrid_share * hybrid);
    out->savings_usd = out->all_external_usd - out->routed_usd;
    return ROUTE_OK;
}

/* ------------------------------------------------------------ optimize */

typedef struct ext_req {
    uint64_t in_tokens;
    double cost;
    int64_t time;
} ext_req;

typedef struct collect {
    ext_req *v;
    size_t n, cap;
    int64_t until, first, last;
    int status;
} collect;

static int add_ext(void *user, const route_usage *u)
{
    collect *c = user;
    if (u->time > c->until || u->failed || u->cached || u->target == ROUTE_TO_EMBEDDED || !u->cost_known) return 0;
    ext_req *nv = route_grow(c->v, c->n, &c->cap, sizeof *nv, 64);
    if (!nv) {
        c->status = ROUTE_ERR_NOMEM;
        return 1;
    }
    c->v = nv;
    c->v[c->n++] = (ext_req){u->in_tokens, u->cost, u->time};
    if (c->n == 1 || u->time < c->first) c->first = u->time;
    if (c->n == 1 || u->time > c->last) c->last = u->time;
    return 0;
}

static int by_tokens(const void *x, const void *y)
{
    const ext_req *a = x, *b = y;
    return a->in_tokens < b->in_tokens ? -1 : a->in_tokens > b->in_tokens;
}

static int by_cost(const void *x, const void *y)
{
    const ext_req *a = x, *b = y;
    return a->cost < b->cost ? -1 : a->cost > b->cost;
}

static int by_time(const void *x, const void *y)
{
    const ext_req *a = x, *b = y;
    return a->time < b->time ? -1 : a->time > b->time;
}

/* The costliest UTC day's spend (v sorted by time). */
static double costliest_day(const ext_req *v, size_t n)
{
    double best = 0, day_sum = 0;
    int64_t day = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t d = v[i].time - ((v[i].time % DAY) + DAY) % DAY;
        if (i == 0 || d != day) day_sum = 0;
        day = d;
        day_sum += v[i].cost;
        if (day_sum > best) best = day_sum;
    }
    return best;
}

#define WHY(p, ...) route_line_add((p)->why[0], sizeof (p)->why[0], sizeof (p)->why / sizeof (p)->why[0], &(p)->n_why, __VA_ARGS__)

static void recommend(const route_config *cfg, collect *c, route_optimize_plan *p)
{
    bool hybrid = p->strategy == ROUTE_STRAT_HYBRID;
    ext_req *v = c->v;
    size_t n = c->n;
    long ctx = route_default_model(cfg, &(route_class){0})->max_context_length;
    long cap = ctx > 2 * ANSWER_ROOM ? ctx - ANSWER_ROOM : ctx / 2;
    qsort(v, n, sizeof *v, by_tokens);
    long tok = (long)v[route_rank(n, hybrid ? 0.5 : 0.75)].in_tokens;
    p->rec_simple_max_tokens = tok > p->simple_max_tokens ? (tok < cap ? tok : cap) : p->simple_max_tokens;
    WHY(p, "simple_max_tokens %ld -> %ld: the %s prompt size of %zu external requests (%ld tokens), within the "
        "local model's %ld-token context", p->simple_max_tokens, p->rec_simple_max_tokens, hybrid ? "median" : "third-quartile",
        n, tok, ctx);
    qsort(v, n, sizeof *v, by_cost);
    double q = v[route_rank(n, hybrid ? 0.95 : 0.5)].cost;
    p->rec_max_cost_per_request = p->max_cost_per_request > 0 && p->max_cost_per_request < q ? p->max_cost_per_request : q;
    WHY(p, "max_cost_per_request %.6f -> %.6f: the %s cost of an external request; dearer ones run locally",
        p->max_cost_per_request, p->rec_max_cost_per_request, hybrid ? "95th-percentile" : "median");
    qsort(v, n, sizeof *v, by_time);
    double day = costliest_day(v, n);
    p->rec_max_daily_cost = ceil(day * 1.2 * 100) / 100;
    WHY(p, "max_daily_cost %.2f -> %.2f: 20 %% above the costliest day ($%.4f)", p->max_daily_cost, p->rec_max_daily_cost, day);
    for (size_t i = 0; i < n; i++) {
        bool by_size = (long)v[i].in_tokens > p->simple_max_tokens && (long)v[i].in_tokens <= p->rec_simple_max_tokens;
        if (by_size || v[i].cost > p->rec_max_cost_per_request) {
            p->moved_requests++;
            p->moved_usd += v[i].cost;
        }
    }
}

int route_costs_optimize(const route_config *cfg, const char *ledger, int64_t since, int64_t until,
                         route_strategy strategy, route_optimize_plan *out, char *err, size_t errlen)
{
    if (!cfg || !ledger || !out) return route_fail(err, errlen, ROUTE_ERR_ARG, "route_costs_optimize: missing argument");
    if (strategy != ROUTE_STRAT_HYBRID && strategy != ROUTE_STRAT_COST)
        return route_fail(err, errlen, ROUTE_ERR_ARG, "optimize supports the hybrid and cost strategies, not %s",
                          route_strategy_name(strategy));
    memset(out, 0, sizeof *out);
    *out = (route_optimize_plan){.strategy = strategy, .since = since, .until = until, .days = 1,
                                 .simple_max_tokens = cfg->simple_max_tokens,
                                 .max_cost_per_request = cfg->max_cost_per_request,
                                 .max_daily_cost = cfg->max_daily_cost};
    out->rec_simple_max_tokens = out->simple_max_tokens;
    out->rec_max_cost_per_request = out->max_cost_per_request;
    out->rec_max_daily_cost = out->max_daily_cost;
    collect c = {.until = until};
    int rc = route_ledger_read(ledger, since, add_ext, &c, NULL, err, errlen);
    if (!rc && c.status) rc = route_fail(err, errlen, c.status, "out of memory");
    if (rc) {
        free(c.v);
        return rc;
    }
    out->external_requests = c.n;
    for (size_t i = 0; i < c.n; i++) out->external_usd += c.v[i].cost;
    if (!c.n) {
        WHY(out, "no priced external requests in the ledger for this period: nothing to tune");
    } else {
        double span = (double)(c.last - c.first) / DAY;
        out->days = span > 1 ? span : 1;
        recommend(cfg, &c, out);
        out->monthly_saving_usd = out->moved_usd * 30 / out->days;
    }
    free(c.v);
    return ROUTE_OK;
}
