/* rhema ai costs analyze --period day|week|month */
#include "cli/ai_config.h"
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static void json_report(net_jw *w, const route_cost_report *r, const char *period, const char *ledger)
{
    net_jw_obj_begin(w);
    cli_ai_json_kv(w, "period", period);
    cli_ai_json_ki(w, "since", r->since);
    cli_ai_json_ki(w, "until", r->until);
    cli_ai_json_kv(w, "ledger", ledger);
    cli_ai_json_kd(w, "total_cost_usd", r->total_cost);
    cli_ai_json_ki(w, "local_requests", (int64_t)r->local_requests);
    net_jw_key(w, "local_savings_usd");
    r->savings_known ? net_jw_double(w, r->local_savings) : net_jw_null(w);
    cli_ai_json_ki(w, "cached_requests", (int64_t)r->cached_requests);
    net_jw_key(w, "cached_savings_usd");
    r->cached_savings_known ? net_jw_double(w, r->cached_savings) : net_jw_null(w);
    cli_ai_json_ki(w, "failed_requests", (int64_t)r->failed_requests);
    cli_ai_json_ki(w, "damaged_records", (int64_t)r->bad_lines);
    net_jw_key(w, "rows");
    net_jw_arr_begin(w);
    for (size_t i = 0; i < r->n_rows; i++) {
        const route_cost_row *row = &r->rows[i];
        net_jw_obj_begin(w);
        cli_ai_json_kv(w, "route", route_target_name(row->target));
        cli_ai_json_kv(w, "provider", row->provider[0] ? row->provider : NULL);
        cli_ai_json_kv(w, "model", row->model);
        cli_ai_json_ki(w, "requests", (int64_t)row->requests);
        cli_ai_json_ki(w, "input_tokens", (int64_t)row->in_tokens);
        cli_ai_json_ki(w, "output_tokens", (int64_t)row->out_tokens);
        cli_ai_json_kd(w, "cost_usd", row->cost);
        cli_ai_json_ki(w, "unpriced_requests", (int64_t)row->unpriced);
        cli_ai_json_ki(w, "cached_requests", (int64_t)row->cached);
        cli_ai_json_ki(w, "failed_requests", (int64_t)row->failed);
        net_jw_obj_end(w);
    }
    net_jw_arr_end(w);
    net_jw_obj_end(w);
}

static void print_report(const route_cost_report *r, const char *period, const char *ledger)
{
    char since[32];
    time_t t = (time_t)r->since;
    strftime(since, sizeof since, "%Y-%m-%d %H:%M UTC", gmtime(&t));
    printf("period: last %s (since %s)\nledger: %s\n\n", period, since, ledger);
    printf("%-9s %-12s %-28s %9s %12s %12s %12s\n", "route", "provider", "model", "requests", "in tokens", "out tokens", "cost");
    size_t shown = 0;
    for (size_t i = 0; i < r->n_rows; i++) {
        const route_cost_row *row = &r->rows[i];
        if (!row->requests) continue; /* only failures: counted below */
        shown++;
        printf("%-9s %-12s %-28s %9llu %12llu %12llu %11s$%.4f%s\n", route_target_name(row->target),
               row->provider[0] ? row->provider : "-", row->model, (unsigned long long)row->requests,
               (unsigned long long)row->in_tokens, (unsigned long long)row->out_tokens, "", row->cost,
               row->unpriced ? " (some unpriced)" : "");
    }
    if (!shown) printf("(no requests recorded in this period)\n");
    printf("\nexternal cost: $%.4f\nlocal requests: %llu", r->total_cost, (unsigned long long)r->local_requests);
    if (r->savings_known && r->local_requests) printf(", about $%.4f saved against the default external model", r->local_savings);
    printf("\n");
    if (r->cached_requests) {
        printf("cached answers: %llu", (unsigned long long)r->cached_requests);
        if (r->cached_savings_known) printf(", about $%.4f saved", r->cached_savings);
        printf("\n");
    }
    if (r->failed_requests) printf("failed calls: %llu (not counted above)\n", (unsigned long long)r->failed_requests);
    if (r->bad_lines) printf("warning: %zu damaged ledger lines skipped\n", r->bad_lines);
}

static int run_analyze(const cli_cmd *cmd, int argc, char **argv)
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
    route_cost_report r;
    char ledger[4096];
    if ((rc = cli_ai_ledger_report(cmd, config, period, &cfg, &r, ledger, sizeof ledger))) return rc;
    if (json) {
        cli_json doc;
        net_jw *w = cli_ai_json_begin(&doc);
        json_report(w, &r, period, ledger);
        rc = cli_ai_json_print(&doc);
    } else {
        print_report(&r, period, ledger);
    }
    route_cost_report_free(&r);
    route_config_free(cfg);
    return rc;
}

const cli_cmd cli_cmd_costs_analyze = {"ai costs analyze", "[--period day|week|month] [--json]",
                                       "external spend, local requests and savings from the usage ledger", run_analyze};
