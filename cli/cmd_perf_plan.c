/* rhema ai performance optimize: recommendations from the ledger, each
 * with the numbers behind it, or an honest "not enough data". */
#include "cli/ai_config.h"
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

static const char *status_name(route_advice_status s)
{
    return s == ROUTE_ADVICE_CHANGE ? "change" : s == ROUTE_ADVICE_OK ? "ok" : "not enough data";
}

static void json_plan(net_jw *w, const route_perf_plan *p, const char *period, const char *ledger)
{
    net_jw_obj_begin(w);
    cli_ai_json_kv(w, "period", period);
    cli_ai_json_kv(w, "ledger", ledger);
    cli_ai_json_ki(w, "answered_requests", (int64_t)p->answered);
    cli_ai_json_ki(w, "timed_embedded", (int64_t)p->embedded_timed);
    cli_ai_json_ki(w, "timed_external", (int64_t)p->external_timed);
    cli_ai_json_ki(w, "latency_target_ms", p->target_ms);
    cli_ai_json_kv(w, "latency_target_key", p->target_key);
    cli_ai_json_kb(w, "enough_data", p->enough_data);
    net_jw_key(w, "recommendations");
    net_jw_arr_begin(w);
    for (size_t i = 0; i < p->n_advice; i++) {
        const route_advice *a = &p->advice[i];
        net_jw_obj_begin(w);
        cli_ai_json_kv(w, "topic", a->topic);
        cli_ai_json_kv(w, "subject", a->subject[0] ? a->subject : NULL);
        cli_ai_json_kv(w, "status", a->status == ROUTE_ADVICE_THIN ? "not_enough_data" : status_name(a->status));
        cli_ai_json_kv(w, "setting", a->setting[0] ? a->setting : NULL);
        cli_ai_json_kv(w, "current", a->setting[0] ? a->current : NULL);
        cli_ai_json_kv(w, "recommended", a->setting[0] ? a->recommended : NULL);
        cli_ai_json_ki(w, "samples", (int64_t)a->samples);
        cli_ai_json_kv(w, "reason", a->why);
        net_jw_obj_end(w);
    }
    net_jw_arr_end(w);
    net_jw_obj_end(w);
}

static void print_plan(const route_perf_plan *p, const char *period, const char *ledger)
{
    printf("last %s, from %s: %llu answered requests (%llu timed local, %llu timed external)\n", period, ledger,
           (unsigned long long)p->answered, (unsigned long long)p->embedded_timed, (unsigned long long)p->external_timed);
    printf("latency target: %ld ms (%s)\n", p->target_ms, p->target_key);
    if (!p->enough_data)
        printf("not enough data: every check below needs more records than the ledger holds for this period\n");
    for (size_t i = 0; i < p->n_advice; i++) {
        const route_advice *a = &p->advice[i];
        printf("\n[%s] %s", status_name(a->status), a->topic);
        if (a->subject[0]) printf(" (%s)", a->subject);
        if (a->setting[0] && a->status == ROUTE_ADVICE_CHANGE) printf(": %s %s -> %s", a->setting, a->current, a->recommended);
        printf("\n    %s\n", a->why);
    }
}

static int run_optimize(const cli_cmd *cmd, int argc, char **argv)
{
    const char *period = "week", *config = NULL;
    bool json = false;
    const cli_opt opts[] = {
        {"period", 'p', CLI_STR, &period, "day|week|month  ledger span to learn from (default week)"},
        CLI_OPT_LEDGER_CONFIG(config),
        CLI_OPT_JSON(json),
    };
    int rc = cli_parse(cmd, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (rc) return rc;
    route_config *cfg;
    char ledger[4096], err[1024];
    int64_t since = 0, now = 0;
    route_perf_plan p;
    if ((rc = cli_ai_ledger_open(cmd, config, period, &cfg, ledger, sizeof ledger, &since, &now))) return rc;
    if (route_perf_optimize(cfg, ledger, since, now, &p, err, sizeof err)) return cli_ai_ledger_failed(&cfg, err);
    if (json) {
        cli_json doc;
        net_jw *w = cli_ai_json_begin(&doc);
        json_plan(w, &p, period, ledger);
        rc = cli_ai_json_print(&doc);
    } else {
        print_plan(&p, period, ledger);
    }
    route_config_free(cfg);
    return rc;
}

const cli_cmd cli_cmd_perf_optimize = {"ai performance optimize", "[--period day|week|month] [--json]",
                                       "performance settings recommended from the ledger, with the numbers behind them",
                                       run_optimize};
