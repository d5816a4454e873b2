/* rhema ai tasks classify | route: the router's view of a prompt. */
#include "cli/ai_backends.h"
#include "cli/ai_config.h"
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Options shared by both commands. */
typedef struct task_opts {
    const char *prompt, *task, *config, *context;
    bool json, dry_run, is_private, explain, no_cache;
    long max_output;
    /* the embedded engine's threads and kernel set (route only) */
    const char *kernels;
    long threads;
    kern_cpu cpu;
} task_opts;

/* A request ready to classify or route, with what it borrows from. */
typedef struct prepared {
    route_task t;
    route_request rq;
    char *ctx;
    route_config *cfg;
} prepared;

/* Build the request from --prompt or --task; t holds what --task loaded. */
static int make_request(const cli_cmd *cmd, const task_opts *o, route_task *t, char **ctx, route_request *rq)
{
    char err[1024];
    memset(t, 0, sizeof *t);
    *ctx = NULL;
    if (!o->prompt == !o->task) return cli_usage_error(cmd, "give exactly one of --prompt TEXT or --task FILE");
    if (o->max_output < 0 || o->max_output > 1000000) return cli_usage_error(cmd, "--max-tokens must be between 1 and 1000000");
    *rq = (route_request){.prompt = o->prompt, .is_private = o->is_private, .max_output_tokens = o->max_output};
    if (o->task) {
        if (route_task_load(o->task, t, err, sizeof err)) {
            fprintf(stderr, "rhema: %s\n", err);
            return CLI_EXIT_FAIL;
        }
        rq->prompt = t->prompt;
        rq->context = t->context;
        rq->is_private |= t->is_private;
        if (!rq->max_output_tokens) rq->max_output_tokens = t->max_output_tokens;
    }
    if (o->context) {
        size_t len;
        if (rq->context) return cli_usage_error(cmd, "--context cannot be combined with a task's context");
        FILE *f = fopen(o->context, "rb");
        if (!f) {
            fprintf(stderr, "rhema: %s: cannot open\n", o->context);
            return CLI_EXIT_FAIL;
        }
        *ctx = malloc((16u << 20) + 1);
        len = *ctx ? fread(*ctx, 1, 16u << 20, f) : 0;
        fclose(f);
        if (!*ctx) return CLI_EXIT_FAIL;
        (*ctx)[len] = 0;
        rq->context = *ctx;
    }
    return CLI_EXIT_OK;
}

static int prepare(const cli_cmd *cmd, const task_opts *o, prepared *p)
{
    p->cfg = NULL;
    int rc = make_request(cmd, o, &p->t, &p->ctx, &p->rq);
    return rc ? rc : cli_ai_config_load(o->config, &p->cfg);
}

static void release(prepared *p)
{
    route_config_free(p->cfg);
    route_task_free(&p->t);
    free(p->ctx);
}

static void json_signals(net_jw *w, const route_class *c)
{
    net_jw_key(w, "signals");
    net_jw_arr_begin(w);
    for (size_t i = 0; i < c->n_reasons; i++) {
        net_jw_obj_begin(w);
        cli_ai_json_kv(w, "signal", c->reasons[i].signal);
        cli_ai_json_kd(w, "weight", c->reasons[i].weight);
        cli_ai_json_kv(w, "detail", c->reasons[i].detail);
        net_jw_obj_end(w);
    }
    net_jw_arr_end(w);
}

static void json_class(net_jw *w, const route_class *c)
{
    cli_ai_json_kv(w, "complexity", route_complexity_name(c->complexity));
    cli_ai_json_kd(w, "score", c->score);
    net_jw_key(w, "tokens");
    net_jw_obj_begin(w);
    cli_ai_json_ki(w, "prompt", (int64_t)c->prompt_tokens);
    cli_ai_json_ki(w, "context", (int64_t)c->context_tokens);
    cli_ai_json_ki(w, "total", (int64_t)c->tokens);
    net_jw_obj_end(w);
}

static void print_signals(const route_class *c)
{
    printf("complexity: %s (score %.2f)\ntokens:     %zu (prompt %zu, context %zu)\nsignals:\n",
           route_complexity_name(c->complexity), c->score, c->tokens, c->prompt_tokens, c->context_tokens);
    for (size_t i = 0; i < c->n_reasons; i++)
        printf("  %+.2f  %-16s %s\n", c->reasons[i].weight, c->reasons[i].signal, c->reasons[i].detail);
}

static int run_classify(const cli_cmd *cmd, int argc, char **argv)
{
    task_opts o = {0};
    const cli_opt opts[] = {
        {"prompt", 'p', CLI_STR, &o.prompt, "TEXT  the prompt to classify"},
        {"task", 0, CLI_STR, &o.task, "FILE  a task.yaml (prompt, context, context_files)"},
        {"context", 0, CLI_STR, &o.context, "FILE  attached context to count"},
        {"json", 0, CLI_FLAG, &o.json, "print one JSON object"},
        {"config", 'c', CLI_STR, &o.config, "FILE  ai-config.yaml (default: search)"},
    };
    int rc = cli_parse(cmd, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (rc) return rc;
    prepared p;
    if ((rc = prepare(cmd, &o, &p))) goto done;
    route_class c;
    char err[512];
    if (route_classify(p.cfg, &p.rq, &c, err, sizeof err)) {
        fprintf(stderr, "rhema: %s\n", err);
        rc = CLI_EXIT_FAIL;
        goto done;
    }
    if (o.json) {
        cli_json doc;
        net_jw *w = cli_ai_json_begin(&doc);
        net_jw_obj_begin(w);
        json_class(w, &c);
        json_signals(w, &c);
        net_jw_key(w, "reasons");
        net_jw_arr_begin(w);
        for (size_t i = 0; i < c.n_reasons; i++) {
            char line[200];
            snprintf(line, sizeof line, "%+.2f %s: %s", c.reasons[i].weight, c.reasons[i].signal, c.reasons[i].detail);
            net_jw_str(w, line);
        }
        net_jw_arr_end(w);
        net_jw_obj_end(w);
        rc = cli_ai_json_print(&doc);
    } else {
        print_signals(&c);
    }
done:
    release(&p);
    return rc;
}

/* The decision's fields, inside an object the caller opened. */
static void json_decision(net_jw *w, const route_decision *d, const route_config *cfg, bool dry_run)
{
    json_class(w, &d->cls);
    cli_ai_json_kv(w, "route", route_target_name(d->target));
    cli_ai_json_kv(w, "model", d->model);
    cli_ai_json_kv(w, "provider", d->provider[0] ? d->provider : NULL);
    cli_ai_json_kv(w, "embedded_model", d->embedded_model[0] ? d->embedded_model : NULL);
    cli_ai_json_kv(w, "rule", d->rule[0] ? d->rule : NULL);
    cli_ai_json_kb(w, "private", d->is_private);
    cli_ai_json_kb(w, "budget_local", d->budget_local);
    net_jw_key(w, "estimated_cost_usd");
    d->cost_known ? net_jw_double(w, d->est_cost) : net_jw_null(w);
    net_jw_key(w, "fallback");
    if (d->has_fallback) {
        net_jw_obj_begin(w);
        cli_ai_json_kv(w, "route", route_target_name(d->fb_target));
        cli_ai_json_kv(w, "provider", d->fb_provider[0] ? d->fb_provider : NULL);
        cli_ai_json_kv(w, "model", d->fb_model);
        net_jw_obj_end(w);
    } else {
        net_jw_null(w);
    }
    net_jw_key(w, "reasons");
    net_jw_arr_begin(w);
    for (size_t i = 0; i < d->n_why; i++) net_jw_str(w, d->why[i]);
    net_jw_arr_end(w);
    json_signals(w, &d->cls);
    cli_ai_json_kv(w, "config", cfg->path);
    cli_ai_json_kb(w, "dry_run", dry_run);
}

/* A measured number, or null when it was not measured. */
static void json_measured(net_jw *w, const char *key, bool known, double v)
{
    net_jw_key(w, key);
    known ? net_jw_double(w, v) : net_jw_null(w);
}

/* Hybrid: the draft with its signals, and what became of the enhancement. */
static void json_hybrid(net_jw *w, const route_result *r)
{
    const route_draft *dr = &r->draft;
    net_jw_key(w, "draft");
    if (!dr->ran) {
        net_jw_null(w);
        net_jw_key(w, "enhancement");
        net_jw_null(w);
        return;
    }
    net_jw_obj_begin(w);
    cli_ai_json_text(w, "content", dr->text);
    cli_ai_json_ki(w, "tokens", (int64_t)dr->tokens);
    cli_ai_json_kb(w, "cached", dr->cached);
    json_measured(w, "mean_logprob", dr->judged.has_logprob, dr->judged.mean_logprob);
    json_measured(w, "confidence", dr->judged.confidence >= 0, dr->judged.confidence);
    cli_ai_json_kd(w, "threshold", dr->judged.threshold);
    cli_ai_json_kb(w, "truncated", dr->judged.truncated);
    cli_ai_json_kb(w, "refused", dr->judged.refused);
    cli_ai_json_kb(w, "empty", dr->judged.empty);
    cli_ai_json_kb(w, "needs_enhancement", dr->needs_enhancement);
    net_jw_obj_end(w);
    const route_attempt *ext = NULL;
    for (size_t i = 0; i < r->n_attempts && !ext; i++)
        if (r->attempts[i].target == ROUTE_TO_EXTERNAL) ext = &r->attempts[i];
    net_jw_key(w, "enhancement");
    net_jw_obj_begin(w);
    cli_ai_json_kb(w, "ran", ext != NULL);
    cli_ai_json_kb(w, "answered", r->enhanced);
    cli_ai_json_kv(w, "provider", ext ? ext->provider : NULL);
    cli_ai_json_kv(w, "model", ext ? ext->model : NULL);
    cli_ai_json_text(w, "content", r->enhanced ? r->text : NULL);
    cli_ai_json_kv(w, "reason", dr->why);
    net_jw_obj_end(w);
}

static void json_result(net_jw *w, const route_result *r)
{
    cli_ai_json_text(w, "content", r->text);
    cli_ai_json_kv(w, "served_by", r->text ? route_target_name(r->served_by) : NULL);
    cli_ai_json_kv(w, "served_model", r->text ? r->model : NULL);
    cli_ai_json_kb(w, "cached", r->cached);
    net_jw_key(w, "cost_usd");
    r->cost_known ? net_jw_double(w, r->total_cost) : net_jw_null(w);
    /* Latency and tokens of the whole request, every attempt included. */
    double ms = 0;
    uint64_t in = 0, out = 0;
    for (size_t i = 0; i < r->n_attempts; i++) {
        ms += r->attempts[i].ms;
        in += r->attempts[i].in_tokens;
        out += r->attempts[i].out_tokens;
    }
    cli_ai_json_kd(w, "latency_ms", ms);
    net_jw_key(w, "usage");
    net_jw_obj_begin(w);
    cli_ai_json_ki(w, "input_tokens", (int64_t)in);
    cli_ai_json_ki(w, "output_tokens", (int64_t)out);
    net_jw_obj_end(w);
    net_jw_key(w, "attempts");
    net_jw_arr_begin(w);
    for (size_t i = 0; i < r->n_attempts; i++) {
        const route_attempt *a = &r->attempts[i];
        net_jw_obj_begin(w);
        cli_ai_json_kv(w, "route", route_target_name(a->target));
        cli_ai_json_kv(w, "provider", a->provider[0] ? a->provider : NULL);
        cli_ai_json_kv(w, "model", a->model);
        cli_ai_json_kv(w, "error", a->status ? a->error : NULL);
        cli_ai_json_kb(w, "cached", a->cached);
        cli_ai_json_kb(w, "low_confidence", a->low_confidence);
        json_measured(w, "confidence", a->judged.confidence >= 0, a->judged.confidence);
        json_measured(w, "mean_logprob", a->judged.has_logprob, a->judged.mean_logprob);
        cli_ai_json_kb(w, "truncated", a->judged.truncated);
        cli_ai_json_kb(w, "refused", a->judged.refused);
        cli_ai_json_kd(w, "ms", a->ms);
        net_jw_obj_end(w);
    }
    net_jw_arr_end(w);
    json_hybrid(w, r);
}

/* The longest answer lifetime configured: older cache entries serve no one. */
static int64_t longest_ttl_ms(const route_config *cfg)
{
    long ttl = 0;
    for (size_t i = 0; i < cfg->n_providers; i++)
        if (cfg->providers[i].enable_caching && cfg->providers[i].cache_ttl_seconds > ttl) ttl = cfg->providers[i].cache_ttl_seconds;
    for (size_t i = 0; i < cfg->n_models; i++)
        if (cfg->models[i].enable_caching && cfg->models[i].cache_ttl_seconds > ttl) ttl = cfg->models[i].cache_ttl_seconds;
    return (int64_t)ttl * 1000;
}

/* Run the decision through the engine and the providers under the
 * providers' local limits; usage goes to the ledger, answers to the cache
 * shared by later runs (the model file
 * $RHEMA_MODEL names is part of the key: a default model has no path). */
static int execute(const route_config *cfg, const route_request *rq, const route_decision *d, const char *ledger,
                   const char *limits_dir, route_reservation *held, const task_opts *o)
{
    route_backends b;
    cli_ai_backend_state st;
    route_runtime rt = {.ledger_path = ledger, .limits_dir = limits_dir, .cache_salt = getenv("RHEMA_MODEL"),
                        .reservation = held};
    route_result res;
    char err[1024], cache_dir[4096];
    bool json = o->json;
    if (!o->no_cache && !route_cache_dir(cfg, cache_dir, sizeof cache_dir, err, sizeof err)) rt.cache_dir = cache_dir;
    cli_ai_backends_init(&b, &st);
    st.n_threads = (unsigned)o->threads;
    st.cpu = &o->cpu;
    int rc = route_execute(cfg, rq, d, &b, &rt, &res, err, sizeof err);
    cli_ai_backends_free(&st);
    /* At most hourly; a sweep that fails leaves only stale files behind. */
    if (rt.cache_dir) route_cache_prune(rt.cache_dir, (int64_t)time(NULL) * 1000, longest_ttl_ms(cfg), false, NULL, NULL, 0);
    if (json) {
        cli_json doc;
        net_jw *w = cli_ai_json_begin(&doc);
        net_jw_obj_begin(w);
        json_decision(w, d, cfg, false);
        json_result(w, &res);
        cli_ai_json_kv(w, "error", rc ? err : NULL);
        net_jw_obj_end(w);
        int prc = cli_ai_json_print(&doc);
        route_result_free(&res);
        return rc ? CLI_EXIT_FAIL : prc;
    }
    /* Why earlier candidates were passed over: limits, retries, failures. */
    for (size_t i = 0; i < res.n_attempts; i++) {
        const route_attempt *a = &res.attempts[i];
        char why[240];
        if (a->status)
            snprintf(why, sizeof why, "%s", a->error);
        else if (a->low_confidence && !res.draft.ran) /* hybrid says it in its own line */
            route_judgement_describe(&a->judged, why, sizeof why);
        else
            continue;
        fprintf(stderr, "rhema: %s %s%s%s: %s%s\n", route_target_name(a->target), a->provider, a->provider[0] ? "/" : "",
                a->model, a->status ? "" : "a weak answer: ", why);
    }
    if (rc) {
        fprintf(stderr, "rhema: %s\n", err);
    } else {
        printf("%s\n", res.text);
        fflush(stdout);  /* the answer before the summary when both go to a terminal */
        fprintf(stderr, "[%s %s%s%s, %zu attempt%s%s, $%.6f%s]\n", route_target_name(res.served_by), res.provider,
                res.provider[0] ? "/" : "", res.model, res.n_attempts, res.n_attempts == 1 ? "" : "s",
                res.cached ? ", cached" : "", res.total_cost, res.cost_known ? "" : " + unpriced");
        if (res.draft.ran) fprintf(stderr, "[hybrid: %s]\n", res.draft.why);
    }
    route_result_free(&res);
    return rc ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

static void print_decision(const route_decision *d, const route_config *cfg)
{
    printf("route:      %s -> ", route_target_name(d->target));
    if (d->target == ROUTE_TO_EMBEDDED) printf("%s (local)\n", d->model);
    else printf("%s/%s%s%s\n", d->provider, d->model, d->target == ROUTE_TO_HYBRID ? ", local draft by " : "",
                d->target == ROUTE_TO_HYBRID ? d->embedded_model : "");
    if (d->has_fallback)
        printf("fallback:   %s %s%s%s\n", route_target_name(d->fb_target), d->fb_provider, d->fb_provider[0] ? "/" : "", d->fb_model);
    else
        printf("fallback:   none\n");
    if (d->target == ROUTE_TO_EMBEDDED) printf("cost:       $0 (local)\n");
    else if (d->cost_known) printf("cost:       $%.6f (estimate)\n", d->est_cost);
    else printf("cost:       unknown (no price for %s/%s)\n", d->provider, d->model);
    if (d->rule[0]) printf("rule:       %s\n", d->rule);
    if (d->is_private) printf("private:    yes, stays on this machine\n");
    printf("config:     %s\n", cfg->path ? cfg->path : "(built-in defaults)");
    print_signals(&d->cls);
    printf("decision:\n");
    for (size_t i = 0; i < d->n_why; i++) printf("  - %s\n", d->why[i]);
}

static int run_route(const cli_cmd *cmd, int argc, char **argv)
{
    task_opts o = {0};
    const cli_opt opts[] = {
        {"prompt", 'p', CLI_STR, &o.prompt, "TEXT  the prompt to route"},
        {"task", 't', CLI_STR, &o.task, "FILE  a task.yaml (prompt, context, context_files, private, max_output_tokens)"},
        {"context", 0, CLI_STR, &o.context, "FILE  attached context"},
        {"private", 0, CLI_FLAG, &o.is_private, "never send this request off the machine"},
        {"max-tokens", 0, CLI_INT, &o.max_output, "N  longest answer in tokens (default: 256 local; the cost estimate assumes 512)"},
        {"config", 'c', CLI_STR, &o.config, "FILE  ai-config.yaml (default: search)"},
        {"dry-run", 'n', CLI_FLAG, &o.dry_run, "print the decision only; run nothing"},
        {"no-cache", 0, CLI_FLAG, &o.no_cache, "neither answer from nor write to the answer cache"},
        {"explain", 'v', CLI_FLAG, &o.explain, "print the decision, then run it"},
        {"json", 0, CLI_FLAG, &o.json, "print one JSON object"},
        {"threads", 0, CLI_INT, &o.threads, CLI_THREADS_HELP},
        {"kernels", 0, CLI_STR, &o.kernels, CLI_KERNELS_HELP},
    };
    int rc = cli_parse(cmd, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (rc || (rc = cli_threads(cmd, &o.threads)) || (rc = cli_kernels(cmd, o.kernels, &o.cpu))) return rc;
    prepared p;
    if ((rc = prepare(cmd, &o, &p))) goto done;
    route_config *cfg = p.cfg;
    char ledger[4096], err[1024];
    route_state st = {0};
    /* Today's spend and latencies feed budgets and performance_routing;
     * an unreadable ledger only warns. */
    if (route_ledger_path(cfg, ledger, sizeof ledger, err, sizeof err) ||
        route_ledger_state(ledger, (int64_t)time(NULL), &st, err, sizeof err))
        fprintf(stderr, "rhema: warning: %s\n", err);
    route_decision d;
    if (route_decide(cfg, &p.rq, &st, &d, err, sizeof err)) {
        fprintf(stderr, "rhema: %s\n", err);
        rc = CLI_EXIT_FAIL;
        goto done;
    }
    /* The providers' local limits, shared with other runs: said in the reasons. */
    char limits[4096];
    const char *limits_dir = route_limits_dir(cfg, limits, sizeof limits, err, sizeof err) ? NULL : limits;
    if (limits_dir && route_limits_explain(cfg, limits_dir, (int64_t)time(NULL) * 1000, 0, &d, err, sizeof err))
        fprintf(stderr, "rhema: warning: %s\n", err);
    /* The daily budget, held against other runs until the call settles it;
     * with no room the request goes local and the reasons say why. */
    route_reservation held = {0};
    if (!o.dry_run && route_budget_reserve(cfg, ledger, (int64_t)time(NULL) * 1000, &d, &held, err, sizeof err))
        fprintf(stderr, "rhema: warning: %s\n", err);
    if (!o.dry_run) {
        if (o.explain && !o.json) {
            print_decision(&d, cfg);
            printf("answer:\n");
            fflush(stdout);
        }
        rc = execute(cfg, &p.rq, &d, ledger, limits_dir, cfg->max_daily_cost > 0 ? &held : NULL, &o);
    } else if (o.json) {
        cli_json doc;
        net_jw *w = cli_ai_json_begin(&doc);
        net_jw_obj_begin(w);
        json_decision(w, &d, cfg, true);
        net_jw_obj_end(w);
        rc = cli_ai_json_print(&doc);
    } else {
        print_decision(&d, cfg);
    }
done:
    release(&p);
    return rc;
}

const cli_cmd cli_cmd_tasks_classify = {"ai tasks classify", "(--prompt TEXT | --task FILE) [--context FILE] [--json]",
                                        "classify a prompt as simple, medium or complex, with each signal's weight",
                                        run_classify};
const cli_cmd cli_cmd_tasks_route = {"ai tasks route", "(--prompt TEXT | --task FILE) [--dry-run | --explain] [--private] [--no-cache] [--threads N] [--kernels SET] [--json]",
                                     "decide where a request runs (embedded, external or hybrid) and why, then run it",
                                     run_route};
