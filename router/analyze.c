/* Cost and usage per model from the ledger, for `ai costs analyze`,
 * `ai costs savings` and `ai performance metrics`: requests, tokens,
 * spend, what local and cached answers saved, latency, and the embedded
 * models' load times and memory. */
#include "router/internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct agg {
    const route_config *cfg;
    route_cost_report *r;
    size_t cap;
    int64_t until;
    double ref_in, ref_out; /* price of the default external model */
    bool ref_known;
    route_samples *ms, *loads; /* per row, in the order rows are added */
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
        if (nr) r->rows = nr;
        route_samples *ms = nr ? realloc(a->ms, cap * sizeof *ms) : NULL;
        if (ms) a->ms = ms;
        route_samples *loads = ms ? realloc(a->loads, cap * sizeof *loads) : NULL;
        if (!loads) return NULL;
        a->loads = loads;
        a->cap = cap;
    }
    a->ms[r->n_rows] = a->loads[r->n_rows] = (route_samples){0};
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
    size_t k = (size_t)(row - a->r->rows);
    if (u->ms > 0) {
        row->timed++;
        row->total_ms += u->ms;
        row->timed_out_tokens += u->out_tokens;
        if ((a->status = route_samples_push(&a->ms[k], u->ms))) return 1;
    }
    if (u->load_ms > 0 && (a->status = route_samples_push(&a->loads[k], u->load_ms))) return 1;
    if (u->peak_rss > row->peak_rss) row->peak_rss = u->peak_rss;
    if (u->model_bytes > row->model_bytes) row->model_bytes = u->model_bytes;
    if (u->kv_bytes > row->kv_bytes) row->kv_bytes = u->kv_bytes;
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

/* Median latency and the load times' median and maximum. */
static void finish_row(route_cost_row *row, route_samples *ms, route_samples *loads)
{
    route_samples_sort(ms);
    route_samples_sort(loads);
    row->p50_ms = route_samples_at(ms, 0.5);
    row->loads = loads->n;
    row->load_p50_ms = route_samples_at(loads, 0.5);
    row->load_max_ms = route_samples_at(loads, 1);
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
    for (size_t i = 0; i < out->n_rows; i++) {
        if (!rc) finish_row(&out->rows[i], &a.ms[i], &a.loads[i]);
        route_samples_free(&a.ms[i]);
        route_samples_free(&a.loads[i]);
    }
    free(a.ms);
    free(a.loads);
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
