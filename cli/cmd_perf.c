/* rhema ai performance metrics [--embedded | --external]: latency and
 * throughput per model from the usage ledger, and the embedded models'
 * load times and memory; performance compare and service status: both
 * sides' counts, latency percentiles, tokens and cost. */
#include "cli/ai_config.h"
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static bool wanted(const route_cost_row *row, bool embedded, bool external)
{
    bool local = row->target == ROUTE_TO_EMBEDDED;
    return (!embedded && !external) || (embedded && local) || (external && !local);
}

static double avg_ms(const route_cost_row *row) { return row->timed ? row->total_ms / (double)row->timed : 0; }

static double tokens_per_s(const route_cost_row *row)
{
    return row->total_ms > 0 ? (double)row->timed_out_tokens * 1000.0 / row->total_ms : 0;
}

static double mib(uint64_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

static void json_bytes(net_jw *w, const char *key, uint64_t v)
{
    net_jw_key(w, key);
    v ? net_jw_int(w, (int64_t)v) : net_jw_null(w);
}

/* Load time and memory of a model (null where not measured). */
static void json_load_fields(net_jw *w, const route_cost_row *row)
{
    cli_ai_json_ki(w, "loads", (int64_t)row->loads);
    net_jw_key(w, "load_p50_ms");
    row->loads ? net_jw_double(w, row->load_p50_ms) : net_jw_null(w);
    net_jw_key(w, "load_max_ms");
    row->loads ? net_jw_double(w, row->load_max_ms) : net_jw_null(w);
    json_bytes(w, "peak_rss_bytes", row->peak_rss);
    json_bytes(w, "model_bytes", row->model_bytes);
    json_bytes(w, "kv_cache_bytes", row->kv_bytes);
}

static bool measured(const route_cost_row *row)
{
    return row->target == ROUTE_TO_EMBEDDED && (row->loads || row->peak_rss || row->model_bytes || row->kv_bytes);
}

/* The embedded models' load times and memory, as a table. */
static void print_loads(const route_cost_report *r)
{
    size_t shown = 0;
    for (size_t i = 0; i < r->n_rows; i++) {
        const route_cost_row *row = &r->rows[i];
        if (!measured(row)) continue;
        if (!shown++)
            printf("\n%-28s %6s %12s %12s %13s %10s %10s\n", "embedded model", "loads", "load p50 ms", "load max ms",
                   "peak RSS MiB", "model MiB", "KV MiB");
        char p50[32] = "-", max[32] = "-";
        if (row->loads) {
            snprintf(p50, sizeof p50, "%.1f", row->load_p50_ms);
            snprintf(max, sizeof max, "%.1f", row->load_max_ms);
        }
        printf("%-28s %6llu %12s %12s %13.1f %10.1f %10.1f\n", row->model, (unsigned long long)row->loads, p50, max,
               mib(row->peak_rss), mib(row->model_bytes), mib(row->kv_bytes));
    }
}

static void json_rows(net_jw *w, const route_cost_report *r, bool embedded, bool external)
{
    net_jw_key(w, "models");
    net_jw_arr_begin(w);
    for (size_t i = 0; i < r->n_rows; i++) {
        const route_cost_row *row = &r->rows[i];
        if (!wanted(row, embedded, external)) continue;
        net_jw_obj_begin(w);
        cli_ai_json_kv(w, "route", route_target_name(row->target));
        cli_ai_json_kv(w, "provider", row->provider[0] ? row->provider : NULL);
        cli_ai_json_kv(w, "model", row->model);
        cli_ai_json_ki(w, "requests", (int64_t)row->requests);
        cli_ai_json_ki(w, "failed_requests", (int64_t)row->failed);
        cli_ai_json_ki(w, "cached_requests", (int64_t)row->cached);
        cli_ai_json_ki(w, "timed_requests", (int64_t)row->timed);
        net_jw_key(w, "average_ms");
        row->timed ? net_jw_double(w, avg_ms(row)) : net_jw_null(w);
        net_jw_key(w, "output_tokens_per_second");
        row->total_ms > 0 ? net_jw_double(w, tokens_per_s(row)) : net_jw_null(w);
        net_jw_key(w, "p50_ms");
        row->timed ? net_jw_double(w, row->p50_ms) : net_jw_null(w);
        json_load_fields(w, row);
        net_jw_obj_end(w);
    }
    net_jw_arr_end(w);
}

static int run_metrics(const cli_cmd *cmd, int argc, char **argv)
{
    const char *period = "week", *config = NULL;
    bool embedded = false, external = false, json = false;
    const cli_opt opts[] = {
        {"embedded", 0, CLI_FLAG, &embedded, "only the embedded models"},
        {"external", 0, CLI_FLAG, &external, "only the external providers"},
        {"period", 'p', CLI_STR, &period, "day|week|month  how far back (default week)"},
        CLI_OPT_LEDGER_CONFIG(config),
        CLI_OPT_JSON(json),
    };
    int rc = cli_parse(cmd, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (rc) return rc;
    route_config *cfg;
    route_cost_report r;
    char ledger[4096];
    if ((rc = cli_ai_ledger_report(cmd, config, period, &cfg, &r, ledger, sizeof ledger))) return rc;
    if (json) {
        cli_json doc;
        net_jw *w = cli_ai_json_begin(&doc);
        net_jw_obj_begin(w);
        cli_ai_json_kv(w, "period", period);
        cli_ai_json_kv(w, "ledger", ledger);
        json_rows(w, &r, embedded, external);
        net_jw_obj_end(w);
        rc = cli_ai_json_print(&doc);
    } else {
        printf("last %s, from %s\n\n%-9s %-12s %-28s %9s %12s %14s\n", period, ledger, "route", "provider", "model",
               "requests", "average ms", "output tok/s");
        size_t shown = 0;
        for (size_t i = 0; i < r.n_rows; i++) {
            const route_cost_row *row = &r.rows[i];
            if (!wanted(row, embedded, external)) continue;
            shown++;
            printf("%-9s %-12s %-28s %9llu %12.0f %14.1f\n", route_target_name(row->target),
                   row->provider[0] ? row->provider : "-", row->model, (unsigned long long)row->requests, avg_ms(row),
                   tokens_per_s(row));
        }
        if (!shown) printf("(no requests recorded in this period)\n");
        if (!external) print_loads(&r);
    }
    route_cost_report_free(&r);
    route_config_free(cfg);
    return rc;
}

/* The configuration and the ledger's statistics over --period; per model
 * too when models is not NULL. */
static int load_stats(const cli_cmd *cmd, const char *config, const char *period, route_config **cfg,
                      route_service_stats *st, route_cost_report *models, char *ledger, size_t ledgerlen)
{
    int64_t since = 0, now = 0;
    char err[1024];
    int rc = cli_ai_ledger_open(cmd, config, period, cfg, ledger, ledgerlen, &since, &now);
    if (rc) return rc;
    if (route_service_stats_read(ledger, since, now, st, err, sizeof err) ||
        (models && route_costs_analyze(*cfg, ledger, since, now, models, err, sizeof err)))
        return cli_ai_ledger_failed(cfg, err);
    return CLI_EXIT_OK;
}

/* The embedded models' load times and memory, for service status. */
static void json_models(net_jw *w, const route_cost_report *r)
{
    net_jw_key(w, "models");
    net_jw_arr_begin(w);
    for (size_t i = 0; i < r->n_rows; i++) {
        if (!measured(&r->rows[i])) continue;
        net_jw_obj_begin(w);
        cli_ai_json_kv(w, "model", r->rows[i].model);
        json_load_fields(w, &r->rows[i]);
        net_jw_obj_end(w);
    }
    net_jw_arr_end(w);
}

static void json_u64(net_jw *w, const char *key, uint64_t v)
{
    net_jw_key(w, key);
    net_jw_int(w, (int64_t)v);
}

static void json_ms(net_jw *w, const char *key, const route_side_stats *s, double v)
{
    net_jw_key(w, key);
    s->timed ? net_jw_double(w, v) : net_jw_null(w);
}

static void json_side(net_jw *w, const char *key, const route_side_stats *s)
{
    net_jw_key(w, key);
    net_jw_obj_begin(w);
    json_u64(w, "requests", s->requests);
    json_u64(w, "successes", s->successes);
    json_u64(w, "failures", s->failures);
    json_u64(w, "cache_hits", s->cache_hits);
    json_u64(w, "cache_misses", s->cache_misses);
    json_u64(w, "input_tokens", s->in_tokens);
    json_u64(w, "output_tokens", s->out_tokens);
    cli_ai_json_kd(w, "cost_usd", s->cost);
    json_u64(w, "unpriced_requests", s->unpriced);
    json_u64(w, "timed_requests", s->timed);
    json_ms(w, "mean_ms", s, s->mean_ms);
    json_ms(w, "p50_ms", s, s->p50_ms);
    json_ms(w, "p95_ms", s, s->p95_ms);
    json_ms(w, "p99_ms", s, s->p99_ms);
    json_ms(w, "output_tokens_per_second", s, s->out_tokens_per_s);
    net_jw_obj_end(w);
}

static void print_side(const char *name, const route_side_stats *s)
{
    printf("%-9s %9llu %9llu %8llu %6llu/%-6llu", name, (unsigned long long)s->requests,
           (unsigned long long)s->successes, (unsigned long long)s->failures, (unsigned long long)s->cache_hits,
           (unsigned long long)s->cache_misses);
    if (s->timed) printf(" %8.0f %8.0f %8.0f", s->p50_ms, s->p95_ms, s->p99_ms);
    else printf(" %8s %8s %8s", "-", "-", "-");
    printf(" %10llu %10llu  $%.4f%s\n", (unsigned long long)s->in_tokens, (unsigned long long)s->out_tokens, s->cost,
           s->unpriced ? " + unpriced" : "");
}

static int run_status(const cli_cmd *cmd, int argc, char **argv)
{
    const char *period = "day", *config = NULL;
    bool json = false;
    const cli_opt opts[] = {
        {"period", 'p', CLI_STR, &period, "day|week|month  how far back (default day)"},
        CLI_OPT_LEDGER_CONFIG(config),
        CLI_OPT_JSON(json),
    };
    int rc = cli_parse(cmd, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (rc) return rc;
    route_config *cfg;
    route_service_stats st;
    route_cost_report models;
    char ledger[4096], err[1024];
    if ((rc = load_stats(cmd, config, period, &cfg, &st, &models, ledger, sizeof ledger))) return rc;
    /* Held by requests in flight against max_daily_cost: not spend. */
    double held = 0;
    size_t n_held = 0;
    if (route_budget_held(ledger, (int64_t)time(NULL) * 1000, &held, &n_held, err, sizeof err))
        fprintf(stderr, "rhema: warning: %s\n", err);
    route_side_stats total = {
        .requests = st.embedded.requests + st.external.requests,
        .successes = st.embedded.successes + st.external.successes,
        .failures = st.embedded.failures + st.external.failures,
        .cache_hits = st.embedded.cache_hits + st.external.cache_hits,
        .cache_misses = st.embedded.cache_misses + st.external.cache_misses,
        .in_tokens = st.embedded.in_tokens + st.external.in_tokens,
        .out_tokens = st.embedded.out_tokens + st.external.out_tokens,
        .cost = st.external.cost,
        .unpriced = st.external.unpriced,
    };
    if (json) {
        cli_json doc;
        net_jw *w = cli_ai_json_begin(&doc);
        net_jw_obj_begin(w);
        cli_ai_json_kv(w, "period", period);
        cli_ai_json_kv(w, "config", cfg->path);
        cli_ai_json_kv(w, "ledger", ledger);
        json_side(w, "embedded", &st.embedded);
        json_side(w, "external", &st.external);
        json_side(w, "total", &total);
        json_models(w, &models);
        json_u64(w, "reserved_requests", n_held);
        cli_ai_json_kd(w, "reserved_usd", held);
        json_u64(w, "damaged_records", st.bad_lines);
        net_jw_obj_end(w);
        rc = cli_ai_json_print(&doc);
    } else {
        printf("config: %s\nledger: %s (last %s)\n\n", cfg->path ? cfg->path : "(built-in defaults)", ledger, period);
        printf("%-9s %9s %9s %8s %13s %8s %8s %8s %10s %10s  %s\n", "side", "requests", "successes", "failures",
               "cache hit/miss", "p50 ms", "p95 ms", "p99 ms", "in tokens", "out tokens", "cost");
        print_side("embedded", &st.embedded);
        print_side("external", &st.external);
        print_side("total", &total);
        print_loads(&models);
        if (n_held)
            printf("\nin flight: %zu request%s hold%s $%.4f against max_daily_cost $%.4f (not spent)\n", n_held,
                   n_held == 1 ? "" : "s", n_held == 1 ? "s" : "", held, cfg->max_daily_cost);
        if (st.bad_lines) printf("warning: %zu damaged ledger lines skipped\n", st.bad_lines);
    }
    route_cost_report_free(&models);
    route_config_free(cfg);
    return rc;
}

static int run_compare(const cli_cmd *cmd, int argc, char **argv)
{
    const char *period = "week", *config = NULL;
    bool json = false;
    const cli_opt opts[] = {
        {"period", 'p', CLI_STR, &period, "day|week|month  how far back (default week)"},
        CLI_OPT_LEDGER_CONFIG(config),
        CLI_OPT_JSON(json),
    };
    int rc = cli_parse(cmd, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (rc) return rc;
    route_config *cfg;
    route_service_stats st;
    char ledger[4096];
    if ((rc = load_stats(cmd, config, period, &cfg, &st, NULL, ledger, sizeof ledger))) return rc;
    const route_side_stats *e = &st.embedded, *x = &st.external;
    bool speed = e->timed && x->timed && e->p50_ms > 0;
    uint64_t answered = x->cache_misses - x->failures;
    if (json) {
        cli_json doc;
        net_jw *w = cli_ai_json_begin(&doc);
        net_jw_obj_begin(w);
        cli_ai_json_kv(w, "period", period);
        cli_ai_json_kv(w, "ledger", ledger);
        json_side(w, "embedded", e);
        json_side(w, "external", x);
        net_jw_key(w, "external_over_embedded_p50");
        speed ? net_jw_double(w, x->p50_ms / e->p50_ms) : net_jw_null(w);
        net_jw_key(w, "external_cost_per_answer_usd");
        answered ? net_jw_double(w, x->cost / (double)answered) : net_jw_null(w);
        net_jw_obj_end(w);
        rc = cli_ai_json_print(&doc);
    } else {
        printf("last %s, from %s\n\n%-22s %14s %14s\n", period, ledger, "", "embedded", "external");
        printf("%-22s %14llu %14llu\n", "requests", (unsigned long long)e->requests, (unsigned long long)x->requests);
        printf("%-22s %13.1f%% %13.1f%%\n", "success rate", e->requests ? 100.0 * (double)e->successes / (double)e->requests : 0,
               x->requests ? 100.0 * (double)x->successes / (double)x->requests : 0);
        printf("%-22s %14.0f %14.0f\n%-22s %14.0f %14.0f\n%-22s %14.0f %14.0f\n", "p50 ms", e->p50_ms, x->p50_ms, "p95 ms",
               e->p95_ms, x->p95_ms, "p99 ms", e->p99_ms, x->p99_ms);
        printf("%-22s %14.1f %14.1f\n", "output tokens/s", e->out_tokens_per_s, x->out_tokens_per_s);
        printf("%-22s %14s %13s$%.6f\n", "cost per answer", "$0", "", answered ? x->cost / (double)answered : 0);
        if (speed) printf("\nthe external side takes %.2fx the embedded time at the median\n", x->p50_ms / e->p50_ms);
        else printf("\nnot enough timed requests on both sides to compare latency\n");
    }
    route_config_free(cfg);
    return rc;
}

const cli_cmd cli_cmd_perf_compare = {"ai performance compare", "[--period day|week|month] [--json]",
                                      "embedded against external: success rate, latency percentiles, throughput, cost",
                                      run_compare};
const cli_cmd cli_cmd_service_status = {"ai service status", "[--period day|week|month] [--json]",
                                        "requests, failures, cache hits, latency p50/p95/p99, tokens and cost from the ledger",
                                        run_status};
const cli_cmd cli_cmd_perf_metrics = {"ai performance metrics", "[--embedded | --external] [--period day|week|month] [--json]",
                                      "average latency, output tokens per second, load time and memory per model, from the ledger",
                                      run_metrics};
