/* `ai performance optimize`: recommendations from the ledger, each with
 * the numbers behind it, measured against the configuration's latency
 * target. Every check needs a minimum of records and says so when the
 * ledger is too thin, rather than guessing. */
#include "router/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Documented in router/README.md ("Performance tuning"). */
enum { MIN_SIDE = 10, MIN_FIT = 10, MIN_SIZES = 3, MIN_MODEL = 5, MIN_CACHE = 20, MIN_CALLS = 5, MIN_LOADS = 3 };
static const double LOW_HIT_RATE = 0.10, FAILING = 0.20, SLOW_LOAD_MS = 1000, LOAD_SHARE = 0.25;
enum { MAX_TTL = 86400, ANSWER_ROOM = 512 };

typedef struct point {
    double in, out, ms;
} point;

typedef struct points {
    point *v;
    size_t n, cap;
    int64_t until;
    int status;
} points;

/* Timed local answers: what the fit of answer time on prompt size uses. */
static int add_point(void *user, const route_usage *u)
{
    points *p = user;
    if (u->time > p->until || u->target != ROUTE_TO_EMBEDDED || u->failed || u->cached || u->ms <= 0) return 0;
    point *v = route_grow(p->v, p->n, &p->cap, sizeof *v, 64);
    if (!v) {
        p->status = ROUTE_ERR_NOMEM;
        return 1;
    }
    p->v = v;
    p->v[p->n++] = (point){(double)u->in_tokens, (double)u->out_tokens, u->ms};
    return 0;
}

static route_advice *advise(route_perf_plan *p, const char *topic, const char *subject, route_advice_status st,
                            uint64_t samples, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static route_advice *advise(route_perf_plan *p, const char *topic, const char *subject, route_advice_status st,
                            uint64_t samples, const char *fmt, ...)
{
    if (p->n_advice == ROUTE_MAX_ADVICE) return NULL;
    route_advice *a = &p->advice[p->n_advice++];
    *a = (route_advice){.status = st, .samples = samples};
    route_copy(a->topic, sizeof a->topic, topic);
    route_copy(a->subject, sizeof a->subject, subject ? subject : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->why, sizeof a->why, fmt, ap);
    va_end(ap);
    if (st != ROUTE_ADVICE_THIN) p->enough_data = true;
    return a;
}

static void set_change(route_advice *a, const char *setting, const char *current, const char *recommended)
{
    if (!a) return;
    route_copy(a->setting, sizeof a->setting, setting);
    route_copy(a->current, sizeof a->current, current);
    route_copy(a->recommended, sizeof a->recommended, recommended);
}

static void set_long(route_advice *a, const char *setting, long current, long recommended)
{
    char cur[32], rec[32];
    snprintf(cur, sizeof cur, "%ld", current);
    snprintf(rec, sizeof rec, "%ld", recommended);
    set_change(a, setting, cur, rec);
}

/* response_time_ms just above both sides' normal answers: past it a
 * side's average means it has slowed beyond its own 95th percentile. */
static void latency_threshold(const route_config *cfg, const route_service_stats *ss, route_perf_plan *p)
{
    const route_side_stats *side[2] = {&ss->embedded, &ss->external};
    const char *name[2] = {"embedded", "external"};
    char parts[2][160];
    double worst = 0;
    uint64_t used = 0;
    for (int i = 0; i < 2; i++) {
        const route_side_stats *s = side[i];
        if (s->timed < MIN_SIDE) {
            snprintf(parts[i], sizeof parts[i], "%s: %llu timed answers, too few", name[i], (unsigned long long)s->timed);
            continue;
        }
        snprintf(parts[i], sizeof parts[i], "%s p95 %.0f ms (mean %.0f ms, %llu answers)", name[i], s->p95_ms, s->mean_ms,
                 (unsigned long long)s->timed);
        if (s->p95_ms > worst) worst = s->p95_ms;
        used += s->timed;
    }
    if (!used) {
        advise(p, "latency_threshold", NULL, ROUTE_ADVICE_THIN, ss->embedded.timed + ss->external.timed,
               "%s; %s; a threshold needs %d timed answers on a side", parts[0], parts[1], MIN_SIDE);
        return;
    }
    long rec = (long)ceil(worst / 100) * 100, cur = cfg->perf_response_time_ms;
    char note[200] = "";
    for (int i = 0; i < 2; i++)
        if (side[i]->timed >= MIN_SIDE && side[i]->mean_ms > (double)cur)
            snprintf(note, sizeof note, "; now %ld ms is below the %s mean, so performance_routing moves that side's "
                     "work to the other", cur, name[i]);
    route_advice *a = advise(p, "latency_threshold", NULL, rec == cur ? ROUTE_ADVICE_OK : ROUTE_ADVICE_CHANGE, used,
                             "%s; %s: at %ld ms neither side's usual answers trip performance_routing, and a side whose "
                             "average passes it has slowed beyond its own 95th percentile%s%s", parts[0], parts[1], rec,
                             note, cfg->perf_enable ? "" : " (performance_routing is off: the threshold acts when it is on)");
    set_long(a, "performance_routing.thresholds.response_time_ms", cur, rec);
}

static int by_out(const void *x, const void *y)
{
    const point *a = x, *b = y;
    return a->out < b->out ? -1 : a->out > b->out;
}

/* Least squares of local answer time on prompt and answer size:
 * ms = a + b * in (+ c * out when answer sizes vary); *base is a + c * the
 * median answer size. False when the sizes are too alike to fit. */
static bool fit(point *v, size_t n, double *base, double *per_in, double *med_out)
{
    double mi = 0, mo = 0, mm = 0, s11 = 0, s12 = 0, s22 = 0, s1y = 0, s2y = 0;
    for (size_t i = 0; i < n; i++) {
        mi += v[i].in;
        mo += v[i].out;
        mm += v[i].ms;
    }
    mi /= (double)n;
    mo /= (double)n;
    mm /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double x1 = v[i].in - mi, x2 = v[i].out - mo, y = v[i].ms - mm;
        s11 += x1 * x1;
        s12 += x1 * x2;
        s22 += x2 * x2;
        s1y += x1 * y;
        s2y += x2 * y;
    }
    if (s11 <= 0) return false;
    double det = s11 * s22 - s12 * s12, b = s1y / s11, c = 0;
    if (s22 > 0 && det > 1e-9 * s11 * s22) {
        b = (s1y * s22 - s2y * s12) / det;
        c = (s2y * s11 - s1y * s12) / det;
    }
    qsort(v, n, sizeof *v, by_out);
    *med_out = v[route_rank(n, 0.5)].out;
    *per_in = b;
    *base = mm - b * mi - c * mo + c * *med_out;
    return true;
}

static int by_in(const void *x, const void *y)
{
    const point *a = x, *b = y;
    return a->in < b->in ? -1 : a->in > b->in;
}

static size_t distinct_sizes(point *v, size_t n)
{
    if (n) qsort(v, n, sizeof *v, by_in);
    size_t k = n > 0;
    for (size_t i = 1; i < n; i++) k += v[i].in != v[i - 1].in;
    return k;
}

/* simple_max_tokens: the largest prompt the local model answers within the
 * target; medium_max_tokens: within twice the target, past which a local
 * draft costs more time than it saves. Both within the local context. */
static void token_thresholds(const route_config *cfg, points *pts, route_perf_plan *p)
{
    long t = p->target_ms;
    size_t sizes = distinct_sizes(pts->v, pts->n);
    if (pts->n < MIN_FIT || sizes < MIN_SIZES) {
        advise(p, "simple_max_tokens", NULL, ROUTE_ADVICE_THIN, pts->n,
               "%zu timed local answers over %zu prompt sizes; the fit needs %d over %d sizes", pts->n,
               sizes, MIN_FIT, MIN_SIZES);
        return;
    }
    double base, per_in, out;
    if (!fit(pts->v, pts->n, &base, &per_in, &out)) return;
    char model[160];
    snprintf(model, sizeof model, "local answers take about %.0f ms + %.3f ms per prompt token (least squares over %zu "
             "answers, at the median %.0f output tokens)", base, per_in, pts->n, out);
    if (per_in <= 0) {
        advise(p, "simple_max_tokens", NULL, ROUTE_ADVICE_OK, pts->n,
               "%s: the time does not grow with the prompt, so the size thresholds buy no latency", model);
        return;
    }
    if (base >= (double)t) {
        advise(p, "simple_max_tokens", NULL, ROUTE_ADVICE_OK, pts->n,
               "%s: even a short prompt takes longer than the %ld ms target, so no size threshold keeps local answers "
               "within it (see slow_model)", model, t);
        return;
    }
    long ctx = route_default_model(cfg, &(route_class){0})->max_context_length;
    long cap = ctx > 2 * ANSWER_ROOM ? ctx - ANSWER_ROOM : ctx / 2;
    long simple = (long)floor(((double)t - base) / per_in), medium = (long)floor((2.0 * (double)t - base) / per_in);
    simple = simple < 1 ? 1 : simple > cap ? cap : simple;
    medium = medium > cap ? cap : medium < simple ? simple : medium;
    route_advice *a = advise(p, "simple_max_tokens", NULL,
                             simple == cfg->simple_max_tokens ? ROUTE_ADVICE_OK : ROUTE_ADVICE_CHANGE, pts->n,
                             "%s: up to %ld prompt tokens finish within the %ld ms target (the local context of %ld "
                             "tokens leaves room for %ld)", model, simple, t, ctx, cap);
    set_long(a, "simple_max_tokens", cfg->simple_max_tokens, simple);
    a = advise(p, "medium_max_tokens", NULL, medium == cfg->medium_max_tokens ? ROUTE_ADVICE_OK : ROUTE_ADVICE_CHANGE,
               pts->n, "%s: up to %ld prompt tokens finish within twice the target (%ld ms); past that a local draft "
               "costs more time than it is worth and the request is better sent out whole", model, medium, 2 * t);
    set_long(a, "medium_max_tokens", cfg->medium_max_tokens, medium);
}

static void row_name(const route_cost_row *row, char *out, size_t n)
{
    snprintf(out, n, "%s%s%s", row->provider, row->provider[0] ? "/" : "", row->model);
}

static void slow_models(const route_cost_report *r, route_perf_plan *p)
{
    size_t judged = 0;
    const route_cost_row *slowest = NULL;
    for (size_t i = 0; i < r->n_rows; i++) {
        const route_cost_row *row = &r->rows[i];
        if (row->timed < MIN_MODEL) continue;
        judged++;
        if (!slowest || row->p50_ms > slowest->p50_ms) slowest = row;
        if (row->p50_ms <= (double)p->target_ms) continue;
        char name[140];
        row_name(row, name, sizeof name);
        bool local = row->target == ROUTE_TO_EMBEDDED;
        advise(p, "slow_model", name, ROUTE_ADVICE_CHANGE, row->timed,
               "%s %s: median %.0f ms over %llu answers, past the %ld ms target; %s", route_target_name(row->target),
               name, row->p50_ms, (unsigned long long)row->timed, p->target_ms,
               local ? "a smaller or more quantized model, or sending its work out, would meet it"
                     : "a faster model or provider would meet it");
    }
    if (!judged) {
        advise(p, "slow_model", NULL, ROUTE_ADVICE_THIN, 0, "no model has %d timed answers", MIN_MODEL);
    } else if (slowest->p50_ms <= (double)p->target_ms) {
        char name[140];
        row_name(slowest, name, sizeof name);
        advise(p, "slow_model", NULL, ROUTE_ADVICE_OK, slowest->timed,
               "every model with %d or more timed answers has its median within the %ld ms target (slowest: %s, %.0f ms)",
               MIN_MODEL, p->target_ms, name, slowest->p50_ms);
    }
}

/* The longest answer lifetime of a side's models or providers; 0: caching off. */
static long side_ttl(const route_config *cfg, bool local)
{
    long ttl = 0;
    for (size_t i = 0; local && i < cfg->n_models; i++)
        if (cfg->models[i].enable_caching && cfg->models[i].cache_ttl_seconds > ttl) ttl = cfg->models[i].cache_ttl_seconds;
    for (size_t i = 0; !local && i < cfg->n_providers; i++)
        if (cfg->providers[i].enable_caching && cfg->providers[i].cache_ttl_seconds > ttl)
            ttl = cfg->providers[i].cache_ttl_seconds;
    return ttl;
}

static void cache(const route_config *cfg, const route_side_stats *s, bool local, route_perf_plan *p)
{
    const char *side = local ? "embedded" : "external";
    long ttl = side_ttl(cfg, local);
    uint64_t calls = s->cache_hits + s->cache_misses;
    if (!ttl || (!local && !cfg->n_providers)) return;
    if (calls < MIN_CACHE) {
        advise(p, "cache", side, ROUTE_ADVICE_THIN, calls, "%llu %s requests; a hit rate needs %d",
               (unsigned long long)calls, side, MIN_CACHE);
        return;
    }
    double rate = (double)s->cache_hits / (double)calls;
    if (rate >= LOW_HIT_RATE) {
        advise(p, "cache", side, ROUTE_ADVICE_OK, calls, "%llu of %llu %s requests (%.1f %%) came from the cache with "
               "cache_ttl_seconds %ld", (unsigned long long)s->cache_hits, (unsigned long long)calls, side, 100 * rate, ttl);
        return;
    }
    route_advice *a = advise(p, "cache", side, ROUTE_ADVICE_CHANGE, calls,
                             "only %llu of %llu %s requests (%.1f %%) came from the cache with cache_ttl_seconds %ld: "
                             "prompts rarely repeat within that time; %s", (unsigned long long)s->cache_hits,
                             (unsigned long long)calls, side, 100 * rate, ttl,
                             ttl < MAX_TTL ? "a longer TTL keeps answers for prompts that come back later (or turn "
                                             "enable_caching off if they never do)"
                                           : "at a day already, turning enable_caching off saves the cache writes");
    char cur[32], rec[32];
    snprintf(cur, sizeof cur, "%ld", ttl);
    snprintf(rec, sizeof rec, "%ld", ttl * 4 < MAX_TTL ? ttl * 4 : MAX_TTL);
    if (ttl < MAX_TTL) set_change(a, "cache_ttl_seconds", cur, rec);
    else set_change(a, "enable_caching", "true", "false");
}

typedef struct prov_calls {
    const route_provider *prov;
    uint64_t calls, failed;
} prov_calls;

static double fail_share(const prov_calls *c) { return c->calls ? (double)c->failed / (double)c->calls : 0; }

/* A provider that fails often goes after a steadier one. Failures include
 * calls a local limit or the budget passed over: the ledger marks both. */
static void fallback_order(const route_config *cfg, const route_cost_report *r, route_perf_plan *p)
{
    prov_calls pc[16];
    size_t n = 0, enough = 0;
    for (size_t i = 0; i < cfg->n_providers && n < 16; i++) pc[n++] = (prov_calls){&cfg->providers[i], 0, 0};
    for (size_t i = 0; i < r->n_rows; i++)
        for (size_t k = 0; k < n; k++)
            if (r->rows[i].target != ROUTE_TO_EMBEDDED && !strcmp(r->rows[i].provider, pc[k].prov->name)) {
                pc[k].calls += r->rows[i].requests - r->rows[i].cached + r->rows[i].failed;
                pc[k].failed += r->rows[i].failed;
            }
    bool failing_any = false;
    for (size_t k = 0; k < n; k++) {
        if (pc[k].calls < MIN_CALLS) continue;
        enough++;
        if (fail_share(&pc[k]) < FAILING) continue;
        failing_any = true;
        const prov_calls *alt = NULL;
        for (size_t j = 0; j < n; j++)
            if (j != k && pc[j].calls >= MIN_CALLS && fail_share(&pc[j]) < fail_share(&pc[k]) &&
                (!alt || fail_share(&pc[j]) < fail_share(alt)))
                alt = &pc[j];
        const route_provider *bad = pc[k].prov;
        char head[200];
        snprintf(head, sizeof head, "%s failed %llu of %llu calls (%.0f %%)", bad->name, (unsigned long long)pc[k].failed,
                 (unsigned long long)pc[k].calls, 100 * fail_share(&pc[k]));
        if (!alt) {
            advise(p, "fallback_order", bad->name, ROUTE_ADVICE_CHANGE, pc[k].calls,
                   "%s and no steadier provider has %d calls: its work falls back to the local model; check its "
                   "status, key and timeout_seconds (%ld s)", head, MIN_CALLS, bad->timeout_seconds);
            continue;
        }
        bool first = bad->priority <= alt->prov->priority;
        route_advice *a = advise(p, "fallback_order", bad->name, first ? ROUTE_ADVICE_CHANGE : ROUTE_ADVICE_OK,
                                 pc[k].calls, "%s, %s %llu of %llu (%.0f %%): %s", head, alt->prov->name,
                                 (unsigned long long)alt->failed, (unsigned long long)alt->calls, 100 * fail_share(alt),
                                 first ? "try the steadier one first" : "it is already tried after the steadier one");
        if (!first) continue;
        char setting[64];
        snprintf(setting, sizeof setting, "%s.priority", bad->name);
        set_long(a, setting, bad->priority, alt->prov->priority + 1);
    }
    if (!enough)
        advise(p, "fallback_order", NULL, ROUTE_ADVICE_THIN, 0, "no provider has %d calls", MIN_CALLS);
    else if (!failing_any)
        advise(p, "fallback_order", NULL, ROUTE_ADVICE_OK, 0, "every provider with %d or more calls failed under %.0f %% "
               "of them", MIN_CALLS, 100 * FAILING);
}

/* Long loads: each `rhema ai tasks route` run loads the model again. */
static void model_load(const route_config *cfg, const route_cost_report *r, route_perf_plan *p)
{
    bool any = false;
    for (size_t i = 0; i < r->n_rows; i++) {
        const route_cost_row *row = &r->rows[i];
        if (row->target != ROUTE_TO_EMBEDDED) continue;
        const route_model *m = route_model_named(cfg, row->model);
        double mib = 1024.0 * 1024.0;
        if (m && m->memory_limit_mb > 0 && row->peak_rss > (uint64_t)m->memory_limit_mb * 1024 * 1024) {
            route_advice *a = advise(p, "memory", row->model, ROUTE_ADVICE_CHANGE, row->requests - row->cached,
                   "%s: peak resident memory %.1f MiB is past memory_limit_mb %ld (model %.1f MiB mapped, KV cache "
                   "%.1f MiB at max_context_length %ld): a smaller or more quantized model, or a shorter context, "
                   "would fit", row->model, (double)row->peak_rss / mib, m->memory_limit_mb,
                   (double)row->model_bytes / mib, (double)row->kv_bytes / mib, m->max_context_length);
            char cur[32], rec[32];
            snprintf(cur, sizeof cur, "%ld", m->max_context_length);
            uint64_t over = row->peak_rss - (uint64_t)m->memory_limit_mb * 1024 * 1024;
            long fewer = row->kv_bytes > over ? (long)((double)m->max_context_length * (1 - (double)over / (double)row->kv_bytes)) : 0;
            snprintf(rec, sizeof rec, "%ld", fewer);
            if (fewer >= 16) set_change(a, "max_context_length", cur, rec);
        }
        if (row->loads < MIN_LOADS) continue;
        any = true;
        double share = row->p50_ms > 0 ? row->load_p50_ms / row->p50_ms : 0;
        bool slow = row->load_p50_ms >= SLOW_LOAD_MS || share >= LOAD_SHARE;
        char head[240];
        snprintf(head, sizeof head, "%s: loading takes %.0f ms at the median (max %.0f ms) over %llu loads, %.0f %% of "
                 "its median answer (%.0f ms)", row->model, row->load_p50_ms, row->load_max_ms,
                 (unsigned long long)row->loads, 100 * share, row->p50_ms);
        advise(p, "model_load", row->model, slow ? ROUTE_ADVICE_CHANGE : ROUTE_ADVICE_OK, row->loads, "%s%s", head,
               slow ? ": every `rhema ai tasks route` run loads it again; a process that stays resident for many "
                      "requests would load it once, and a smaller model loads faster" : "");
    }
    if (!any)
        advise(p, "model_load", NULL, ROUTE_ADVICE_THIN, 0, "no local model has %d measured loads",
               MIN_LOADS);
}

int route_perf_optimize(const route_config *cfg, const char *ledger, int64_t since, int64_t until,
                        route_perf_plan *out, char *err, size_t errlen)
{
    if (!cfg || !ledger || !out) return route_fail(err, errlen, ROUTE_ERR_ARG, "route_perf_optimize: missing argument");
    memset(out, 0, sizeof *out);
    out->since = since;
    out->until = until;
    out->target_ms = cfg->perf_enable ? cfg->perf_response_time_ms : cfg->max_response_time_ms;
    out->target_key = cfg->perf_enable ? "performance_routing.thresholds.response_time_ms"
                                       : "performance_thresholds.max_response_time_ms";
    route_service_stats ss;
    route_cost_report r;
    points pts = {.until = until};
    int rc = route_service_stats_read(ledger, since, until, &ss, err, errlen);
    if (rc) return rc;
    if ((rc = route_costs_analyze(cfg, ledger, since, until, &r, err, errlen))) return rc;
    rc = route_ledger_read(ledger, since, add_point, &pts, NULL, err, errlen);
    if (!rc && pts.status) rc = route_fail(err, errlen, pts.status, "out of memory");
    if (!rc) {
        out->embedded_timed = ss.embedded.timed;
        out->external_timed = ss.external.timed;
        out->answered = ss.embedded.successes - ss.embedded.cache_hits + ss.external.successes - ss.external.cache_hits;
        latency_threshold(cfg, &ss, out);
        token_thresholds(cfg, &pts, out);
        slow_models(&r, out);
        cache(cfg, &ss.embedded, true, out);
        cache(cfg, &ss.external, false, out);
        fallback_order(cfg, &r, out);
        model_load(cfg, &r, out);
    }
    free(pts.v);
    route_cost_report_free(&r);
    return rc;
}
