/* rhema ai performance metrics [--embedded | --external]: latency and
 * throughput per model from the usage ledger. */
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
        net_jw_key(w, "requests");
        net_jw_int(w, (int64_t)row->requests);
        net_jw_key(w, "failed_requests");
        net_jw_int(w, (int64_t)row->failed);
        net_jw_key(w, "cached_requests");
        net_jw_int(w, (int64_t)row->cached);
        net_jw_key(w, "timed_requests");
        net_jw_int(w, (int64_t)row->timed);
        net_jw_key(w, "average_ms");
        row->timed ? net_jw_double(w, avg_ms(row)) : net_jw_null(w);
        net_jw_key(w, "output_tokens_per_second");
        row->total_ms > 0 ? net_jw_double(w, tokens_per_s(row)) : net_jw_null(w);
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
        {"config", 'c', CLI_STR, &config, "FILE  ai-config.yaml; the ledger is .rhema/ai/usage.log beside it"},
        {"json", 0, CLI_FLAG, &json, "print one JSON object"},
    };
    int rc = cli_parse(cmd, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (rc) return rc;
    route_config *cfg;
    route_cost_report r;
    char ledger[4096];
    if ((rc = cli_ai_ledger_report(cmd, config, period, &cfg, &r, ledger, sizeof ledger))) return rc;
    if (json) {
        net_buf out;
        net_jw w;
        net_buf_init(&out);
        net_jw_init(&w, &out);
        net_jw_obj_begin(&w);
        cli_ai_json_kv(&w, "period", period);
        cli_ai_json_kv(&w, "ledger", ledger);
        json_rows(&w, &r, embedded, external);
        net_jw_obj_end(&w);
        rc = cli_ai_json_print(&w, &out);
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
    }
    route_cost_report_free(&r);
    route_config_free(cfg);
    return rc;
}

const cli_cmd cli_cmd_perf_metrics = {"ai performance metrics", "[--embedded | --external] [--period day|week|month] [--json]",
                                      "average latency and output tokens per second per model, from the usage ledger",
                                      run_metrics};
