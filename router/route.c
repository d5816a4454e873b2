/* The routing decision: privacy first (sensitive work never leaves the
 * machine), then the first matching rule, else the strategy on the
 * classifier's tier; then budgets (an exhausted budget sends work local,
 * never blocks it), the local model's context size, and the fallback. */
#include "router/internal.h"

#include <stdio.h>
#include <string.h>

static void why(route_decision *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void why(route_decision *d, const char *fmt, ...)
{
    if (d->n_why >= ROUTE_MAX_REASONS) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->why[d->n_why++], sizeof d->why[0], fmt, ap);
    va_end(ap);
}

static bool has_signal(const route_class *c, const char *signal)
{
    for (size_t i = 0; i < c->n_reasons; i++)
        if (!strcmp(c->reasons[i].signal, signal)) return true;
    return false;
}

/* The preferred local model: lowest priority, or a code model for code. */
const route_model *route_default_model(const route_config *cfg, const route_class *cls)
{
    const route_model *best = &cfg->models[0];
    for (size_t i = 1; i < cfg->n_models; i++)
        if (cfg->models[i].priority < best->priority) best = &cfg->models[i];
    if (has_signal(cls, "code"))
        for (size_t i = 0; i < cfg->n_models; i++)
            if (route_find_ci(cfg->models[i].use_case, "code") >= 0) return &cfg->models[i];
    return best;
}

const route_model *route_model_named(const route_config *cfg, const char *name)
{
    for (size_t i = 0; name && i < cfg->n_models; i++)
        if (!strcmp(cfg->models[i].name, name)) return &cfg->models[i];
    return NULL;
}

static const route_provider *top_provider(const route_config *cfg)
{
    const route_provider *best = NULL;
    for (size_t i = 0; i < cfg->n_providers; i++)
        if (!best || cfg->providers[i].priority < best->priority) best = &cfg->providers[i];
    return best;
}

static double blended_price(const route_config *cfg, const char *provider, const char *model)
{
    double in, out;
    return route_price_lookup(cfg, provider, model, &in, &out) ? in + out : -1;
}

/* The cheapest priced external model; the top provider's default if none is priced. */
static void cheapest_external(const route_config *cfg, const char **provider, const char **model)
{
    double best = -1;
    for (size_t i = 0; i < cfg->n_providers; i++)
        for (size_t j = 0; j < cfg->providers[i].n_models; j++) {
            double p = blended_price(cfg, cfg->providers[i].name, cfg->providers[i].models[j]);
            if (p >= 0 && (best < 0 || p < best)) {
                best = p;
                *provider = cfg->providers[i].name;
                *model = cfg->providers[i].models[j];
            }
        }
    if (best >= 0) return;
    const route_provider *top = top_provider(cfg);
    *provider = top->name;
    *model = top->models[0];
}

static void set_embedded(const route_config *cfg, route_decision *d, const char *model);

static void set_external(const route_config *cfg, route_decision *d, route_target t, const char *provider, const char *model)
{
    /* Loading refuses external actions without providers; stay safe anyway. */
    if (!cfg->n_providers) {
        set_embedded(cfg, d, NULL);
        return;
    }
    const route_provider *p = provider ? NULL : top_provider(cfg);
    d->target = t;
    route_copy(d->provider, sizeof d->provider, provider ? provider : p->name);
    route_copy(d->model, sizeof d->model, model ? model : p->models[0]);
    if (t == ROUTE_TO_HYBRID) route_copy(d->embedded_model, sizeof d->embedded_model, route_default_model(cfg, &d->cls)->name);
}

static void set_embedded(const route_config *cfg, route_decision *d, const char *model)
{
    const route_model *m = route_model_named(cfg, model);
    if (!m) m = route_default_model(cfg, &d->cls);
    d->target = ROUTE_TO_EMBEDDED;
    d->provider[0] = 0;
    route_copy(d->model, sizeof d->model, m->name);
    route_copy(d->embedded_model, sizeof d->embedded_model, m->name);
}

static void apply_action(const route_config *cfg, route_decision *d, const route_action *a)
{
    if (a->target == ROUTE_TO_EMBEDDED) set_embedded(cfg, d, a->model);
    else set_external(cfg, d, a->target, a->target == ROUTE_TO_EXTERNAL ? a->provider : NULL,
                      a->target == ROUTE_TO_EXTERNAL ? a->model : NULL);
}

static void by_strategy(const route_config *cfg, route_decision *d)
{
    route_complexity tier = d->cls.complexity;
    const char *tname = route_complexity_name(tier), *sname = route_strategy_name(cfg->strategy);
    const char *provider = NULL, *model = NULL;
    switch (cfg->strategy) {
    case ROUTE_STRAT_HYBRID:
        if (tier == ROUTE_SIMPLE) set_embedded(cfg, d, NULL);
        else if (tier == ROUTE_MEDIUM && cfg->enable_hybrid) set_external(cfg, d, ROUTE_TO_HYBRID, NULL, NULL);
        else set_external(cfg, d, ROUTE_TO_EXTERNAL, NULL, NULL);
        why(d, "strategy %s: %s task -> %s", sname, tname, route_target_name(d->target));
        return;
    case ROUTE_STRAT_COST:
        if (tier != ROUTE_COMPLEX) {
            set_embedded(cfg, d, NULL);
        } else {
            cheapest_external(cfg, &provider, &model);
            set_external(cfg, d, ROUTE_TO_EXTERNAL, provider, model);
        }
        why(d, "strategy cost: %s task -> %s%s", tname, route_target_name(d->target),
            d->target == ROUTE_TO_EXTERNAL ? " (cheapest priced model)" : "");
        return;
    case ROUTE_STRAT_LATENCY:
        set_embedded(cfg, d, NULL);
        why(d, "strategy latency: the local model answers without a network round trip");
        return;
    case ROUTE_STRAT_QUALITY:
        if (tier == ROUTE_SIMPLE) set_embedded(cfg, d, NULL);
        else set_external(cfg, d, ROUTE_TO_EXTERNAL, NULL, NULL);
        why(d, "strategy quality: %s task -> %s", tname, route_target_name(d->target));
        return;
    case ROUTE_STRAT_EXTERNAL_ONLY:
        set_external(cfg, d, ROUTE_TO_EXTERNAL, NULL, NULL);
        why(d, "strategy external_only");
        return;
    case ROUTE_STRAT_LOCAL_ONLY:
        set_embedded(cfg, d, NULL);
        why(d, "strategy local_only: nothing leaves the machine");
        return;
    }
}

static void estimate_cost(const route_config *cfg, const route_request *req, route_decision *d)
{
    d->est_cost = 0;
    d->cost_known = true;
    if (d->target == ROUTE_TO_EMBEDDED) return;
    double in, out;
    uint64_t out_tokens = req->max_output_tokens > 0 ? (uint64_t)req->max_output_tokens : ROUTE_EST_OUTPUT_TOKENS;
    /* Hybrid sends the prompt plus the local draft (about one answer long). */
    uint64_t in_tokens = (uint64_t)d->cls.tokens + (d->target == ROUTE_TO_HYBRID ? out_tokens : 0);
    d->cost_known = route_price_lookup(cfg, d->provider, d->model, &in, &out);
    if (d->cost_known) d->est_cost = route_cost(in, out, in_tokens, out_tokens);
}

static bool may_leave(const route_config *cfg, const route_decision *d)
{
    return cfg->n_providers && !d->is_private && !d->budget_local && cfg->strategy != ROUTE_STRAT_LOCAL_ONLY;
}

/* Budgets are checked before anything is sent; going over sends the work
 * to the local model instead of refusing it. */
static void check_budget(const route_config *cfg, const route_request *req, const route_state *state, route_decision *d)
{
    estimate_cost(cfg, req, d);
    if (d->target == ROUTE_TO_EMBEDDED) return;
    bool budgets = cfg->max_cost_per_request > 0 || cfg->max_daily_cost > 0;
    if (d->cost_known) why(d, "estimated cost $%.6f on %s/%s", d->est_cost, d->provider, d->model);
    char reason[320] = "";
    double spent = state ? state->spent_today : 0, held = state ? state->reserved_today : 0;
    size_t n_held = state ? state->reservations : 0;
    if (!d->cost_known && budgets)
        snprintf(reason, sizeof reason, "no price known for %s/%s, so the budget cannot be checked (add it under ai_service.pricing)", d->provider, d->model);
    else if (cfg->max_cost_per_request > 0 && d->est_cost > cfg->max_cost_per_request)
        snprintf(reason, sizeof reason, "estimate $%.6f exceeds max_cost_per_request $%.4f", d->est_cost, cfg->max_cost_per_request);
    else if (cfg->max_daily_cost > 0 && spent + held + d->est_cost > cfg->max_daily_cost)
        route_budget_why(reason, sizeof reason, spent, held, n_held, d->est_cost, cfg->max_daily_cost);
    if (reason[0]) route_decision_local(cfg, d, reason);
}

void route_decision_local(const route_config *cfg, route_decision *d, const char *reason)
{
    why(d, "budget: %s -> embedded", reason);
    d->budget_local = true;
    set_embedded(cfg, d, NULL);
    d->est_cost = 0;
    d->cost_known = true;
    /* Decided before: a fallback may no longer leave the machine either. */
    d->has_fallback = false;
    d->fb_provider[0] = d->fb_model[0] = 0;
}


/* performance_routing: move a request off a side whose measured latency
 * or accuracy, or whose estimated cost, is past its threshold, when the
 * other side may take it. Explicit rules are left as written. */
static void perf_route(const route_config *cfg, const route_request *req, const route_state *st, route_decision *d)
{
    if (!cfg->perf_enable) return;
    route_state none = {0};
    if (!st) st = &none;
    unsigned m = cfg->perf_metrics;
    double limit_ms = (double)cfg->perf_response_time_ms;
    if (d->target == ROUTE_TO_EMBEDDED) {
        if (!may_leave(cfg, d)) return;
        if ((m & ROUTE_PERF_RESPONSE_TIME) && st->embedded_ms > limit_ms && (!st->external_ms || st->external_ms <= limit_ms)) {
            why(d, "performance_routing: local answers take %.0f ms on average (> response_time_ms %ld) -> external", st->embedded_ms, cfg->perf_response_time_ms);
            set_external(cfg, d, ROUTE_TO_EXTERNAL, NULL, NULL);
        } else if ((m & ROUTE_PERF_ACCURACY) && st->embedded_accuracy > 0 && st->embedded_accuracy < cfg->perf_accuracy_threshold &&
                   d->cls.complexity != ROUTE_SIMPLE) {
            why(d, "performance_routing: local accuracy %.2f < accuracy_threshold %.2f -> external", st->embedded_accuracy, cfg->perf_accuracy_threshold);
            set_external(cfg, d, ROUTE_TO_EXTERNAL, NULL, NULL);
        }
        return;
    }
    if (m & ROUTE_PERF_COST) {
        estimate_cost(cfg, req, d);
        if (d->cost_known && d->est_cost > cfg->perf_cost_threshold) {
            double was = d->est_cost;
            const char *provider = NULL, *model = NULL;
            cheapest_external(cfg, &provider, &model);
            set_external(cfg, d, d->target, provider, model);
            estimate_cost(cfg, req, d);
            if (d->cost_known && d->est_cost <= cfg->perf_cost_threshold) {
                why(d, "performance_routing: estimate $%.6f > cost_threshold $%.4f -> cheaper %s/%s", was, cfg->perf_cost_threshold, provider, model);
            } else if (d->cls.complexity != ROUTE_COMPLEX) {
                why(d, "performance_routing: estimate $%.6f > cost_threshold $%.4f -> embedded", was, cfg->perf_cost_threshold);
                set_embedded(cfg, d, NULL);
                return;
            }
        }
    }
    if ((m & ROUTE_PERF_RESPONSE_TIME) && st->external_ms > limit_ms && (!st->embedded_ms || st->embedded_ms <= limit_ms) &&
        d->cls.complexity != ROUTE_COMPLEX) {
        why(d, "performance_routing: external answers take %.0f ms on average (> response_time_ms %ld) -> embedded", st->external_ms, cfg->perf_response_time_ms);
        set_embedded(cfg, d, NULL);
    }
}

static void check_context(const route_config *cfg, const route_request *req, const route_state *state, route_decision *d)
{
    const route_model *m = route_model_named(cfg, d->embedded_model);
    if (d->target != ROUTE_TO_EMBEDDED || !m || d->cls.tokens <= (size_t)m->max_context_length) return;
    if (!may_leave(cfg, d)) {
        why(d, "warning: %zu tokens exceed %s's context of %ld; the input will be cut", d->cls.tokens, m->name, m->max_context_length);
        return;
    }
    why(d, "%zu tokens exceed %s's context of %ld -> external", d->cls.tokens, m->name, m->max_context_length);
    set_external(cfg, d, ROUTE_TO_EXTERNAL, NULL, NULL);
    check_budget(cfg, req, state, d);
}

static void set_fallback(const route_config *cfg, route_decision *d, const route_rule *rule)
{
    if (!cfg->enable_fallback) return;
    route_action fb = {0};
    if (rule && rule->has_fallback) fb = rule->fallback;
    else if (d->target == ROUTE_TO_EMBEDDED) fb.target = ROUTE_TO_EXTERNAL;
    else fb.target = ROUTE_TO_EMBEDDED;
    if (fb.target != ROUTE_TO_EMBEDDED && !may_leave(cfg, d)) {
        if (rule && rule->has_fallback) why(d, "fallback '%s' dropped: the request may not leave the machine", rule->name);
        if (d->target == ROUTE_TO_EMBEDDED) return;
        fb = (route_action){ROUTE_TO_EMBEDDED, NULL, NULL};
    }
    d->has_fallback = true;
    d->fb_target = fb.target;
    if (fb.target == ROUTE_TO_EMBEDDED) {
        const route_model *m = route_model_named(cfg, fb.model);
        route_copy(d->fb_model, sizeof d->fb_model, m ? m->name : route_default_model(cfg, &d->cls)->name);
        return;
    }
    const route_provider *top = top_provider(cfg);
    bool ext = fb.target == ROUTE_TO_EXTERNAL;
    route_copy(d->fb_provider, sizeof d->fb_provider, ext && fb.provider ? fb.provider : top->name);
    route_copy(d->fb_model, sizeof d->fb_model, ext && fb.model ? fb.model : top->models[0]);
}

int route_decide(const route_config *cfg, const route_request *req, const route_state *state, route_decision *out,
                 char *err, size_t errlen)
{
    if (!out) return route_fail(err, errlen, ROUTE_ERR_ARG, "route_decide: out is NULL");
    memset(out, 0, sizeof *out);
    int rc = route_classify(cfg, req, &out->cls, err, errlen);
    if (rc) return rc;
    route_decision *d = out;
    char what[160];
    if (req->is_private) {
        d->is_private = true;
        why(d, "private: the request is marked private; it stays on this machine");
    } else if (route_privacy_scan(cfg, req->prompt, what, sizeof what) ||
               (req->context && route_privacy_scan(cfg, req->context, what, sizeof what))) {
        d->is_private = true;
        why(d, "private: the input contains %s; it stays on this machine", what);
    }
    route_facts facts = {req->prompt, (double)d->cls.tokens, (double)d->cls.context_tokens, d->cls.score, d->is_private};
    const route_rule *rule = NULL;
    for (size_t i = 0; i < cfg->n_rules && !rule; i++)
        if (route_expr_eval(cfg->rules[i].expr, &facts)) rule = &cfg->rules[i];
    if (rule) {
        route_copy(d->rule, sizeof d->rule, rule->name);
        apply_action(cfg, d, &rule->action);
        why(d, "rule '%s' matched (%s) -> %s", rule->name, rule->condition, route_target_name(d->target));
    } else if (!cfg->n_providers) {
        set_embedded(cfg, d, NULL);
        why(d, "no external provider configured -> embedded");
    } else {
        by_strategy(cfg, d);
    }
    if (d->target != ROUTE_TO_EMBEDDED && (d->is_private || cfg->strategy == ROUTE_STRAT_LOCAL_ONLY)) {
        const route_action *a = rule ? &rule->action : NULL;
        set_embedded(cfg, d, a && a->target == ROUTE_TO_EMBEDDED ? a->model : NULL);
        why(d, "%s -> embedded", d->is_private ? "private" : "strategy local_only");
    }
    if (!rule) perf_route(cfg, req, state, d);
    check_budget(cfg, req, state, d);
    check_context(cfg, req, state, d);
    set_fallback(cfg, d, rule);
    return ROUTE_OK;
}
