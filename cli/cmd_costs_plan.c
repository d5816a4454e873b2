/* rhema ai costs savings | project | optimize: what local and cached
 * answers saved, a month's projection for a usage profile, and thresholds
 * recommended from the ledger. */
#include "cli/ai_config.h"
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

/* What one ledger row saved against external prices: local answers on the
 * default external model, cached ones on their own model (local: default). */
static bool row_saved(const route_config *cfg, const route_cost_report *r, const route_cost_row *row, double *usd)
{
    double pin, pout;
    bool local = row->target == ROUTE_TO_EMBEDDED;
    *usd = 0;
    if (!route_price_lookup(cfg, local ? r->ref_provider : row->provider, local ? r->ref_model : row->model, &pin, &pout))
        return false;
    *usd = route_cost(pin, pout, row->cached_in_tokens, row->cached_out_tokens);
    if (local) *usd += route_cost(pin, pout, row->in_tokens, row->out_tokens);
    return true;
}

static void json_savings(net_jw *w, const route_config *cfg, const route_cost_report *r, const char *period,
                         const char *ledger, bool show)
{
    double saved = r->local_savings + r->cached_savings;
    bool known = r->savings_known && r->cached_savings_known;
    net_jw_obj_begin(w);
    cli_ai_json_kv(w, "period", period);
    cli_ai_json_kv(w, "ledger", ledger);
    cli_ai_json_kv(w, "priced_on", r->ref_model[0] ? r->ref_model : NULL);
    cli_ai_json_kd(w, "external_spend_usd", r->total_cost);
    cli_ai_json_ki(w, "local_requests", (int64_t)r->local_requests);
    net_jw_key(w, "local_savings_usd");
    r->savings_known ? net_jw_double(w, r->local_savings) : net_jw_null(w);
    cli_ai_json_ki(w, "cached_requests", (int64_t)r->cached_requests);
    net_jw_key(w, "cached_savings_usd");
    r->cached_savings_known ? net_jw_double(w, r->cached_savings) : net_jw_null(w);
    net_jw_key(w, "total_savings_usd");
    known ? net_jw_double(w, saved) : net_jw_null(w);
    net_jw_key(w, "saved_share");
    known && saved + r->total_cost > 0 ? net_jw_double(w, saved / (saved + r->total_cost)) : net_jw_null(w);
    if (show) {
        net_jw_key(w, "rows");
        net_jw_arr_begin(w);
        for (size_t i = 0; i < r->n_rows; i++) {
            const route_cost_row *row = &r->rows[i];
            double usd;
            bool ok = row_saved(cfg, r, row, &usd);
            if (!row->requests) continue;
            net_jw_obj_begin(w);
            cli_ai_json_kv(w, "route", route_target_name(row->target));
            cli_ai_json_kv(w, "provider", row->provider[0] ? row->provider : NULL);
            cli_ai_json_kv(w, "model", row->model);
            cli_ai_json_ki(w, "requests", (int64_t)row->requests);
            cli_ai_json_ki(w, "cached_requests", (int64_t)row->cached);
            net_jw_key(w, "saved_usd");
            ok ? net_jw_double(w, usd) : net_jw_null(w);
            net_jw_obj_end(w);
        }
        net_jw_arr_end(w);
    }
    net_jw_obj_end(w);
}

static void print_savings(const route_config *cfg, const route_cost_report *r, const char *period, const char *ledger,
                          bool show)
{
    double saved = r->local_savings + r->cached_savings;
    printf("last %s, from %s\n", period, ledger);
    if (!r->ref_model[0]) printf("no external provider is configured: savings cannot be priced\n");
    else printf("priced on %s/%s\n", r->ref_provider, r->ref_model);
    printf("external spend:   $%.4f\n", r->total_cost);
    printf("local answers:    %llu, would have cost %s$%.4f\n", (unsigned long long)r->local_requests,
           r->savings_known ? "" : "unknown, at least ", r->local_savings);
    printf("cached answers:   %llu, would have cost %s$%.4f\n", (unsigned long long)r->cached_requests,
           r->cached_savings_known ? "" : "unknown, at least ", r->cached_savings);
    printf("saved:            $%.4f", saved);
    if (saved + r->total_cost > 0) printf(" (%.1f %% of the all-external cost)", 100 * saved / (saved + r->total_cost));
    printf("\n");
    if (!show) return;
    printf("\n%-9s %-12s %-28s %9s %8s %12s\n", "route", "provider", "model", "requests", "cached", "saved");
    size_t shown = 0;
    for (size_t i = 0; i < r->n_rows; i++) {
        const route_cost_row *row = &r->rows[i];
        double usd;
        bool ok = row_saved(cfg, r, row, &usd);
        if (!row->requests) continue;
        shown++;
        char saved_s[32];
        if (ok) snprintf(saved_s, sizeof saved_s, "$%.4f", usd);
        else snprintf(saved_s, sizeof saved_s, "unpriced");
        printf("%-9s %-12s %-28s %9llu %8llu %12s\n", route_target_name(row->target), row->provider[0] ? row->provider : "-",
               row->model, (unsigned long long)row->requests, (unsigned long long)row->cached, saved_s);
    }
    if (!shown) printf("(no requests recorded in this period)\n");
}

static int run_savings(const cli_cmd *cmd, int argc, char **argv)
{
    const char *period = "month", *config = NULL;
    bool json = false, show = false;
    const cli_opt opts[] = {
        {"show", 0, CLI_FLAG, &show, "list what each model's answers saved"},
        {"period", 'p', CLI_STR, &period, "day|week|month  how far back (default month)"},
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
        json_savings(w, cfg, &r, period, ledger, show);
        rc = cli_ai_json_print(&doc);
    } else {
        print_savings(cfg, &r, period, ledger, show);
    }
    route_cost_report_free(&r);
    route_config_free(cfg);
    return rc;
}

static void json_projection(net_jw *w, const route_projection *p)
{
    net_jw_obj_begin(w);
    cli_ai_json_kv(w, "usage", p->profile.name);
    net_jw_key(w, "assumptions");
    net_jw_obj_begin(w);
    cli_ai_json_ki(w, "requests_per_day", (int64_t)p->profile.requests_per_day);
    cli_ai_json_ki(w, "input_tokens", (int64_t)p->profile.in_tokens);
    cli_ai_json_ki(w, "output_tokens", (int64_t)p->profile.out_tokens);
    cli_ai_json_kd(w, "simple_share", p->profile.simple_share);
    cli_ai_json_kd(w, "medium_share", p->profile.medium_share);
    cli_ai_json_kd(w, "complex_share", p->profile.complex_share);
    net_jw_obj_end(w);
    cli_ai_json_kv(w, "priced_on", p->ref_model[0] ? p->ref_model : NULL);
    cli_ai_json_kd(w, "external_share", p->external_share);
    cli_ai_json_kd(w, "hybrid_share", p->hybrid_share);
    cli_ai_json_kv(w, "share_from", p->share_from_ledger ? "ledger" : "strategy");
    cli_ai_json_ki(w, "monthly_requests", (int64_t)p->monthly_requests);
    net_jw_key(w, "all_external_usd");
    p->cost_known ? net_jw_double(w, p->all_external_usd) : net_jw_null(w);
    net_jw_key(w, "routed_usd");
    p->cost_known ? net_jw_double(w, p->routed_usd) : net_jw_null(w);
    net_jw_key(w, "savings_usd");
    p->cost_known ? net_jw_double(w, p->savings_usd) : net_jw_null(w);
    net_jw_obj_end(w);
}

static int run_project(const cli_cmd *cmd, int argc, char **argv)
{
    const char *usage = NULL, *config = NULL;
    bool json = false;
    const cli_opt opts[] = {
        {"usage", 'u', CLI_STR, &usage, "light|medium|heavy  50, 500 or 5000 requests a day (see router/README.md)"},
        CLI_OPT_LEDGER_CONFIG(config),
        CLI_OPT_JSON(json),
    };
    int rc = cli_parse(cmd, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (rc) return rc;
    const route_usage_profile *prof = route_usage_profile_find(usage ? usage : "medium");
    if (!prof) return cli_usage_error(cmd, "--usage must be light, medium or heavy, not '%s'", usage);
    route_config *cfg;
    char ledger[4096], err[1024];
    route_projection p;
    int64_t since = 0, now = 0;
    if ((rc = cli_ai_ledger_open(cmd, config, "month", &cfg, ledger, sizeof ledger, &since, &now))) return rc;
    if (route_costs_project(cfg, ledger, now, prof, &p, err, sizeof err)) return cli_ai_ledger_failed(&cfg, err);
    if (json) {
        cli_json doc;
        net_jw *w = cli_ai_json_begin(&doc);
        json_projection(w, &p);
        rc = cli_ai_json_print(&doc);
    } else {
        printf("usage %s: %.0f requests a day of %.0f tokens in, %.0f out; tiers %.0f %% simple, %.0f %% medium, "
               "%.0f %% complex\n", prof->name, prof->requests_per_day, prof->in_tokens, prof->out_tokens,
               100 * prof->simple_share, 100 * prof->medium_share, 100 * prof->complex_share);
        printf("external share: %.1f %% (%.1f %% hybrid), from %s\n", 100 * p.external_share, 100 * p.hybrid_share,
               p.share_from_ledger ? "the ledger's last 30 days" : "the routing strategy");
        if (!p.ref_model[0]) printf("no external provider is configured: everything runs locally, $0\n");
        else if (!p.cost_known) printf("no price known for %s/%s: costs unknown\n", p.ref_provider, p.ref_model);
        else printf("per month (%.0f requests) on %s/%s:\n  all external: $%.2f\n  routed:       $%.2f\n  saved:        $%.2f\n",
                    p.monthly_requests, p.ref_provider, p.ref_model, p.all_external_usd, p.routed_usd, p.savings_usd);
    }
    route_config_free(cfg);
    return rc;
}

static void json_plan(net_jw *w, const route_optimize_plan *p)
{
    net_jw_obj_begin(w);
    cli_ai_json_kv(w, "strategy", route_strategy_name(p->strategy));
    cli_ai_json_ki(w, "external_requests", (int64_t)p->external_requests);
    cli_ai_json_kd(w, "external_usd", p->external_usd);
    cli_ai_json_kd(w, "days", p->days);
    net_jw_key(w, "current");
    net_jw_obj_begin(w);
    cli_ai_json_ki(w, "simple_max_tokens", p->simple_max_tokens);
    cli_ai_json_kd(w, "max_cost_per_request", p->max_cost_per_request);
    cli_ai_json_kd(w, "max_daily_cost", p->max_daily_cost);
    net_jw_obj_end(w);
    net_jw_key(w, "recommended");
    net_jw_obj_begin(w);
    cli_ai_json_ki(w, "simple_max_tokens", p->rec_simple_max_tokens);
    cli_ai_json_kd(w, "max_cost_per_request", p->rec_max_cost_per_request);
    cli_ai_json_kd(w, "max_daily_cost", p->rec_max_daily_cost);
    net_jw_obj_end(w);
    cli_ai_json_ki(w, "moved_requests", (int64_t)p->moved_requests);
    cli_ai_json_kd(w, "expected_saving_usd", p->moved_usd);
    cli_ai_json_kd(w, "expected_monthly_saving_usd", p->monthly_saving_usd);
    net_jw_key(w, "reasons");
    net_jw_arr_begin(w);
    for (size_t i = 0; i < p->n_why; i++) net_jw_str(w, p->why[i]);
    net_jw_arr_end(w);
    net_jw_obj_end(w);
}

static int run_optimize(const cli_cmd *cmd, int argc, char **argv)
{
    const char *strategy = "hybrid", *period = "month", *config = NULL;
    bool json = false;
    const cli_opt opts[] = {
        {"strategy", 's', CLI_STR, &strategy, "hybrid|cost  how far to move work local (default hybrid)"},
        {"period", 'p', CLI_STR, &period, "day|week|month  ledger span to learn from (default month)"},
        CLI_OPT_LEDGER_CONFIG(config),
        CLI_OPT_JSON(json),
    };
    int rc = cli_parse(cmd, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (rc) return rc;
    route_strategy st;
    if (!strcmp(strategy, "hybrid")) st = ROUTE_STRAT_HYBRID;
    else if (!strcmp(strategy, "cost")) st = ROUTE_STRAT_COST;
    else return cli_usage_error(cmd, "--strategy must be hybrid or cost, not '%s'", strategy);
    route_config *cfg;
    char ledger[4096], err[1024];
    route_optimize_plan p;
    int64_t since = 0, now = 0;
    if ((rc = cli_ai_ledger_open(cmd, config, period, &cfg, ledger, sizeof ledger, &since, &now))) return rc;
    if (route_costs_optimize(cfg, ledger, since, now, st, &p, err, sizeof err)) return cli_ai_ledger_failed(&cfg, err);
    if (json) {
        cli_json doc;
        net_jw *w = cli_ai_json_begin(&doc);
        json_plan(w, &p);
        rc = cli_ai_json_print(&doc);
    } else {
        printf("strategy %s, from %llu external requests ($%.4f) over %.1f days in %s\n", strategy,
               (unsigned long long)p.external_requests, p.external_usd, p.days, ledger);
        for (size_t i = 0; i < p.n_why; i++) printf("  - %s\n", p.why[i]);
        if (p.external_requests)
            printf("expected saving: $%.4f in the period (%llu requests run locally instead), about $%.2f a month\n"
                   "an upper bound: the classifier may still send some of them out\n",
                   p.moved_usd, (unsigned long long)p.moved_requests, p.monthly_saving_usd);
    }
    route_config_free(cfg);
    return rc;
}

const cli_cmd cli_cmd_costs_savings = {"ai costs savings", "[--show] [--period day|week|month] [--json]",
                                       "what local and cached answers saved against external prices, from the ledger",
                                       run_savings};
const cli_cmd cli_cmd_costs_project = {"ai costs project", "--usage light|medium|heavy [--json]",
                                       "a month's external cost for a usage profile, routed and all external",
                                       run_project};
const cli_cmd cli_cmd_costs_optimize = {"ai costs optimize", "[--strategy hybrid|cost] [--period day|week|month] [--json]",
                                        "thresholds recommended from the ledger, with the expected saving", run_optimize};
