/* The keys of .rhema/ai-config.yaml. Both shapes of the proposal are
 * accepted: a single `external`/`embedded` block or `providers`/`models`
 * maps. */
#include "router/config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- schema */


static const key_spec provider_specs[] = {
    STR(route_provider, name, "provider"),
    {"api_key", K_SECRET, offsetof(route_provider, api_key), 0, 0, 0, NULL, NULL, 0},
    STR(route_provider, base_url, "base_url"),
    STR(route_provider, ca_file, "ca_file"),
    LIST(route_provider, models, n_models, "models"),
    INT(route_provider, priority, "priority", 0, 1000),
    INT(route_provider, timeout_seconds, "timeout_seconds", 1, 3600),
    INT(route_provider, max_concurrent_requests, "max_concurrent_requests", 1, 10000),
    INT(route_provider, rate_limit_per_minute, "rate_limit_per_minute", 0, 1000000),
    INT(route_provider, cache_ttl_seconds, "cache_ttl_seconds", 0, 31536000),
    BOOL(route_provider, enable_caching, "enable_caching"),
    BOOL(route_provider, enable_rate_limiting, "enable_rate_limiting"),
    BOOL(route_provider, enable_monitoring, "enable_monitoring"),
};

static const char *const quant_names[] = {"auto", "q2_k", "q3_k", "q3_k_m", "q4", "q4_0", "q4_1", "q4_k", "q4_k_m",
                                          "q4_k_s", "q5", "q5_0", "q5_1", "q5_k_m", "q6_k", "q8", "q8_0", "f16",
                                          "bf16", "f32", "none", NULL};
/* All of these name the embedded engine: rhema's own engine stands in for
 * the proposal's llama-cpp/candle. */
static const char *const engine_names[] = {"rhema", "llama-cpp", "llama.cpp", "candle", "auto", NULL};

static const key_spec model_specs[] = {
    STR(route_model, name, "model_type"),
    STR(route_model, model_path, "model_path"),
    {"quantization", K_CHOICE, offsetof(route_model, quantization), 0, 0, 0, quant_names, NULL, 0},
    INT(route_model, max_context_length, "max_context_length", 16, 10000000),
    {"inference_engine", K_CHOICE, offsetof(route_model, inference_engine), 0, 0, 0, engine_names, NULL, 0},
    INT(route_model, memory_limit_mb, "memory_limit_mb", 0, 100000000),
    BOOL(route_model, enable_gpu, "enable_gpu"),
    INT(route_model, gpu_memory_limit_mb, "gpu_memory_limit_mb", 0, 100000000),
    STR(route_model, use_case, "use_case"),
    INT(route_model, priority, "priority", 0, 1000),
    INT(route_model, cache_ttl_seconds, "cache_ttl_seconds", 0, 31536000),
    BOOL(route_model, enable_caching, "enable_caching"),
    FLT(route_model, confidence_threshold, "confidence_threshold", 0, 1),
};

static int init_str(char **f, const char *v)
{
    *f = route_cfg_dupstr(v);
    return *f ? ROUTE_OK : ROUTE_ERR_NOMEM;
}

static int new_provider(route_config *cfg, const char *name, route_provider **out)
{
    route_provider *np = realloc(cfg->providers, (cfg->n_providers + 1) * sizeof *np);
    if (!np) return ROUTE_ERR_NOMEM;
    cfg->providers = np;
    route_provider *p = &np[cfg->n_providers++];
    *p = (route_provider){.priority = (long)cfg->n_providers, .timeout_seconds = 30, .max_concurrent_requests = 100,
                          .rate_limit_per_minute = 300, .cache_ttl_seconds = 3600, .enable_caching = true,
                          .enable_rate_limiting = true, .enable_monitoring = true};
    *out = p;
    if (init_str(&p->name, name) || init_str(&p->api_key, "") || init_str(&p->base_url, "") ||
        init_str(&p->ca_file, ""))
        return ROUTE_ERR_NOMEM;
    return ROUTE_OK;
}

static int new_model(route_config *cfg, const char *name, route_model **out)
{
    route_model *nm = realloc(cfg->models, (cfg->n_models + 1) * sizeof *nm);
    if (!nm) return ROUTE_ERR_NOMEM;
    cfg->models = nm;
    route_model *m = &nm[cfg->n_models++];
    *m = (route_model){.max_context_length = 4096, .priority = (long)cfg->n_models, .enable_gpu = true,
                       .cache_ttl_seconds = 3600, .enable_caching = true, .confidence_threshold = -1};
    *out = m;
    if (init_str(&m->name, name) || init_str(&m->model_path, "") || init_str(&m->quantization, "auto") ||
        init_str(&m->inference_engine, "rhema") || init_str(&m->use_case, "general"))
        return ROUTE_ERR_NOMEM;
    return ROUTE_OK;
}

static const struct { const char *name, *host, *url, *model, *key_var; } known_providers[] = {
    {"openai", "openai.com", "https://api.openai.com", "gpt-4o", "OPENAI_API_KEY"},
    {"anthropic", "anthropic.com", "https://api.anthropic.com", "claude-sonnet-4-5", "ANTHROPIC_API_KEY"},
};

static int replace_str(char **f, const char *v)
{
    char *d = route_cfg_dupstr(v);
    if (!d) return ROUTE_ERR_NOMEM;
    free(*f);
    *f = d;
    return ROUTE_OK;
}

/* Record a value the walk did not see in the file, under c->path.key. */
static int set_sub_setting(cfg_ctx *c, const char *key, const char *value, const char *origin)
{
    size_t old = route_cfg_push(c, "%s%s", key);
    int rc = route_cfg_set_setting(c, value, origin);
    c->path[old] = 0;
    return rc;
}

/* A model without its own confidence_threshold follows fallback_threshold
 * (read later in the walk): say so in `config --show`, not "-1". */
static int walk_model(cfg_ctx *c, const yaml_node_t *map, const key_spec *specs, size_t n, route_model *m)
{
    int rc = route_cfg_walk(c, map, specs, n, m);
    if (!rc && m->confidence_threshold < 0)
        rc = set_sub_setting(c, "confidence_threshold", "fallback_threshold", "default");
    return rc;
}

/* Fill what a provider block left out: its name from base_url, the
 * default URL and model of a known provider; model_version leads the list. */
static int finish_provider(cfg_ctx *c, const yaml_node_t *map, route_provider *p, const char *model_version)
{
    size_t nk = sizeof known_providers / sizeof known_providers[0];
    bool named_by_url = !p->name[0];
    int rc;
    for (size_t i = 0; !p->name[0] && i < nk; i++)
        if (strstr(p->base_url, known_providers[i].host) && (rc = replace_str(&p->name, known_providers[i].name))) return rc;
    if (!p->name[0] && (rc = replace_str(&p->name, "external"))) return rc;
    if (named_by_url && (rc = set_sub_setting(c, "provider", p->name, "derived from base_url"))) return rc;
    for (size_t i = 0; !p->base_url[0] && i < nk; i++)
        if (!strcmp(p->name, known_providers[i].name) && (rc = replace_str(&p->base_url, known_providers[i].url))) return rc;
    const yaml_node_t *url = route_cfg_lookup(c, map, "base_url", NULL);
    if (!p->base_url[0]) return AT(c, map, ROUTE_ERR_CONFIG, "missing required key 'base_url' in %s (provider '%s' is not built in)", c->path, p->name);
    if (strncmp(p->base_url, "https://", 8) && strncmp(p->base_url, "http://", 7))
        return AT(c, url ? url : map, ROUTE_ERR_CONFIG, "'%s.base_url' must start with https:// or http://, got '%s'", c->path, p->base_url);
    const char *first = model_version && *model_version ? model_version : NULL;
    for (size_t i = 0; !first && !p->n_models && i < nk; i++)
        if (!strcmp(p->name, known_providers[i].name)) first = known_providers[i].model;
    if (first && !route_cfg_list_has(p->models, p->n_models, first)) {
        char **nm = realloc(p->models, (p->n_models + 1) * sizeof *nm);
        if (!nm) return ROUTE_ERR_NOMEM;
        p->models = nm;
        memmove(nm + 1, nm, p->n_models * sizeof *nm);
        if (!(nm[0] = route_cfg_dupstr(first))) return ROUTE_ERR_NOMEM;
        p->n_models++;
    }
    if (!p->n_models) return AT(c, map, ROUTE_ERR_CONFIG, "provider '%s' in %s names no model: add model_version or models", p->name, c->path);
    char shown[1024];
    route_cfg_join_list(p->models, p->n_models, shown, sizeof shown);
    if (model_version && *model_version) return set_sub_setting(c, "models", shown, "derived from model_version");
    return route_cfg_lookup(c, map, "models", NULL) ? ROUTE_OK : set_sub_setting(c, "models", shown, "default");
}

/* The single-provider block (basic shape) also takes model_version. */
typedef struct single_provider {
    route_provider p;
    char *model_version;
} single_provider;

static int parse_one_provider(cfg_ctx *c, const yaml_node_t *map, const char *name, bool single)
{
    route_provider *p;
    int rc = new_provider(c->cfg, name, &p);
    if (rc) return rc;
    single_provider sp = {.p = *p};
    static const key_spec version_spec[] = {STR(single_provider, model_version, "model_version")};
    key_spec specs[NSPECS(provider_specs) + 1];
    size_t n = 0;
    for (size_t i = single ? 0 : 1; i < NSPECS(provider_specs); i++) specs[n++] = provider_specs[i];
    specs[n++] = version_spec[0];
    rc = route_cfg_walk(c, map, specs, n, &sp);
    *p = sp.p; /* provider_specs offsets are from the start of sp, which holds p first */
    if (!rc) rc = finish_provider(c, map, p, sp.model_version);
    free(sp.model_version);
    return rc;
}

static int providers_sub(cfg_ctx *c, const yaml_node_t *v, void *base)
{
    if (!v || route_cfg_is_null(v)) return ROUTE_OK;
    if (v->type != YAML_MAPPING_NODE)
        return AT(c, v, ROUTE_ERR_CONFIG, "'%s' must map provider names to their settings, not %s", c->path, route_cfg_node_kind(v));
    for (yaml_node_pair_t *pr = v->data.mapping.pairs.start; pr < v->data.mapping.pairs.top; pr++) {
        const yaml_node_t *k = route_cfg_node_at(c, pr->key);
        if (k->type != YAML_SCALAR_NODE || !k->data.scalar.value[0]) return AT(c, k, ROUTE_ERR_CONFIG, "provider names in %s must be plain names", c->path);
        const char *name = (const char *)k->data.scalar.value;
        if (route_cfg_find_provider(c->cfg, name)) return AT(c, k, ROUTE_ERR_CONFIG, "duplicate provider '%s' in %s", name, c->path);
        size_t old = route_cfg_push(c, "%s%s", name);
        int rc = parse_one_provider(c, route_cfg_node_at(c, pr->value), name, false);
        c->path[old] = 0;
        if (rc) return rc;
    }
    return ROUTE_OK;
}

/* Without a configuration file, each built-in provider whose API key is in
 * the environment is available; with none, everything stays local. */
static int env_providers(cfg_ctx *c)
{
    for (size_t i = 0; i < sizeof known_providers / sizeof known_providers[0]; i++) {
        const char *key = getenv(known_providers[i].key_var);
        if (!key || !*key) continue;
        size_t old = route_cfg_push(c, "%s%s", "providers");
        route_cfg_push(c, "%s%s", known_providers[i].name);
        char shown[64], origin[64];
        route_cfg_mask(key, shown, sizeof shown);
        snprintf(origin, sizeof origin, "$%s", known_providers[i].key_var);
        int rc = parse_one_provider(c, NULL, known_providers[i].name, false);
        if (!rc) rc = replace_str(&c->cfg->providers[c->cfg->n_providers - 1].api_key, key);
        if (!rc) rc = set_sub_setting(c, "api_key", shown, origin);
        c->path[old] = 0;
        if (rc) return rc;
    }
    return ROUTE_OK;
}

static int external_sub(cfg_ctx *c, const yaml_node_t *v, void *base)
{
    if (!v || route_cfg_is_null(v)) return c->doc ? ROUTE_OK : env_providers(c);
    if (v->type == YAML_MAPPING_NODE && route_cfg_lookup(c, v, "providers", NULL)) {
        static const key_spec specs[] = {SUB("providers", providers_sub)};
        c->misplaced = provider_specs;
        c->n_misplaced = NSPECS(provider_specs);
        c->misplaced_where = "providers.<name>";
        return route_cfg_walk(c, v, specs, 1, c->cfg);
    }
    return parse_one_provider(c, v, "", true);
}

static int finish_model(cfg_ctx *c, const yaml_node_t *map, route_model *m)
{
    if (!m->model_path[0]) {
        /* A model named but not placed: the model store supplies its file. */
        if (m->name[0]) return ROUTE_OK;
        return AT(c, map, ROUTE_ERR_CONFIG, "%s needs model_path (a GGUF file) or model_type (a catalogue model)", c->path);
    }
    if (m->name[0]) return ROUTE_OK;
    /* The basic shape may omit model_type: name the model after its file. */
    const char *base = strrchr(m->model_path, '/');
    base = base ? base + 1 : m->model_path;
    size_t len = strcspn(base, ".");
    char *name = malloc(len + 1);
    if (!name) return ROUTE_ERR_NOMEM;
    memcpy(name, base, len);
    name[len] = 0;
    free(m->name);
    m->name = name;
    return ROUTE_OK;
}

static int models_sub(cfg_ctx *c, const yaml_node_t *v, void *base)
{
    if (!v || route_cfg_is_null(v)) return ROUTE_OK;
    if (v->type != YAML_MAPPING_NODE)
        return AT(c, v, ROUTE_ERR_CONFIG, "'%s' must map model names to their settings, not %s", c->path, route_cfg_node_kind(v));
    for (yaml_node_pair_t *pr = v->data.mapping.pairs.start; pr < v->data.mapping.pairs.top; pr++) {
        const yaml_node_t *k = route_cfg_node_at(c, pr->key);
        if (k->type != YAML_SCALAR_NODE || !k->data.scalar.value[0]) return AT(c, k, ROUTE_ERR_CONFIG, "model names in %s must be plain names", c->path);
        const char *name = (const char *)k->data.scalar.value;
        for (size_t i = 0; i < c->cfg->n_models; i++)
            if (!strcmp(c->cfg->models[i].name, name)) return AT(c, k, ROUTE_ERR_CONFIG, "duplicate model '%s' in %s", name, c->path);
        route_model *m;
        int rc = new_model(c->cfg, name, &m);
        size_t old = route_cfg_push(c, "%s%s", name);
        const yaml_node_t *mv = route_cfg_node_at(c, pr->value);
        if (!rc) rc = walk_model(c, mv, model_specs + 1, NSPECS(model_specs) - 1, m);
        if (!rc) rc = finish_model(c, mv, m);
        c->path[old] = 0;
        if (rc) return rc;
    }
    return ROUTE_OK;
}

static int embedded_sub(cfg_ctx *c, const yaml_node_t *v, void *base)
{
    route_model *m;
    int rc;
    if (!v || route_cfg_is_null(v)) {
        /* Built-in default: one local model, the file $RHEMA_MODEL names
         * (else the caller picks one, e.g. the model store's default). */
        const char *env = getenv("RHEMA_MODEL");
        bool from_env = env && *env;
        if ((rc = new_model(c->cfg, from_env ? "" : "default", &m)) ||
            (from_env && (rc = replace_str(&m->model_path, env))) || (from_env && (rc = finish_model(c, v, m))) ||
            (rc = walk_model(c, NULL, model_specs, NSPECS(model_specs), m)))
            return rc;
        return from_env ? set_sub_setting(c, "model_path", env, "$RHEMA_MODEL") : ROUTE_OK;
    }
    if (v->type == YAML_MAPPING_NODE && route_cfg_lookup(c, v, "models", NULL)) {
        static const key_spec specs[] = {SUB("models", models_sub)};
        c->misplaced = model_specs;
        c->n_misplaced = NSPECS(model_specs);
        c->misplaced_where = "models.<name>";
        if ((rc = route_cfg_walk(c, v, specs, 1, c->cfg))) return rc;
        if (!c->cfg->n_models) return AT(c, v, ROUTE_ERR_CONFIG, "'%s.models' is empty: name at least one model", c->path);
        return ROUTE_OK;
    }
    if ((rc = new_model(c->cfg, "", &m))) return rc;
    if ((rc = walk_model(c, v, model_specs, NSPECS(model_specs), m))) return rc;
    return finish_model(c, v, m);
}

static int check_token_order(cfg_ctx *c, const yaml_node_t *map)
{
    if (c->cfg->simple_max_tokens <= c->cfg->medium_max_tokens) return ROUTE_OK;
    const yaml_node_t *v = route_cfg_lookup(c, map, "medium_max_tokens", NULL);
    if (!v) v = route_cfg_lookup(c, map, "simple_max_tokens", NULL);
    return AT(c, v ? v : map, ROUTE_ERR_CONFIG, "%s: simple_max_tokens (%ld) must not exceed medium_max_tokens (%ld)",
              c->path, c->cfg->simple_max_tokens, c->cfg->medium_max_tokens);
}

static int complexity_sub(cfg_ctx *c, const yaml_node_t *v, void *base)
{
    static const key_spec specs[] = {
        INT(route_config, simple_max_tokens, "simple_max_tokens", 1, 100000000),
        INT(route_config, medium_max_tokens, "medium_max_tokens", 1, 100000000),
        LIST(route_config, simple_patterns, n_simple_patterns, "simple_patterns"),
        LIST(route_config, complex_patterns, n_complex_patterns, "complex_patterns"),
    };
    int rc = route_cfg_walk(c, v, specs, NSPECS(specs), c->cfg);
    return rc ? rc : check_token_order(c, v);
}

static int cost_sub(cfg_ctx *c, const yaml_node_t *v, void *base)
{
    static const key_spec specs[] = {
        FLT(route_config, max_cost_per_request, "max_cost_per_request", 0, 1e6),
        FLT(route_config, max_daily_cost, "max_daily_cost", 0, 1e9),
    };
    return route_cfg_walk(c, v, specs, NSPECS(specs), c->cfg);
}

static int perf_sub(cfg_ctx *c, const yaml_node_t *v, void *base)
{
    static const key_spec specs[] = {
        INT(route_config, max_response_time_ms, "max_response_time_ms", 1, 86400000),
        FLT(route_config, min_accuracy_threshold, "min_accuracy_threshold", 0, 1),
    };
    return route_cfg_walk(c, v, specs, NSPECS(specs), c->cfg);
}

static int perf_thresholds_sub(cfg_ctx *c, const yaml_node_t *v, void *base)
{
    static const key_spec specs[] = {
        INT(route_config, perf_response_time_ms, "response_time_ms", 1, 86400000),
        FLT(route_config, perf_accuracy_threshold, "accuracy_threshold", 0, 1),
        FLT(route_config, perf_cost_threshold, "cost_threshold", 0, 1e6),
    };
    return route_cfg_walk(c, v, specs, NSPECS(specs), c->cfg);
}

static int perf_routing_sub(cfg_ctx *c, const yaml_node_t *v, void *base)
{
    static const key_spec specs[] = {
        BOOL(route_config, perf_enable, "enable"),
        {"metrics", K_METRICS, offsetof(route_config, perf_metrics), 0, 0, 0, route_cfg_perf_metric_names, NULL, 0},
        SUB("thresholds", perf_thresholds_sub),
    };
    return route_cfg_walk(c, v, specs, NSPECS(specs), c->cfg);
}

static int privacy_sub(cfg_ctx *c, const yaml_node_t *v, void *base)
{
    static const key_spec specs[] = {
        BOOL(route_config, privacy_enable, "enable"),
        LIST(route_config, private_patterns, n_private_patterns, "patterns"),
    };
    return route_cfg_walk(c, v, specs, NSPECS(specs), c->cfg);
}

static int rules_sub(cfg_ctx *c, const yaml_node_t *v, void *base)
{
    static const key_spec specs[] = {
        STR(route_rule, name, "name"),
        {"condition", K_COND, offsetof(route_rule, condition), 0, 0, 0, NULL, NULL, F_REQ},
        {"action", K_ACTION, offsetof(route_rule, action), 0, 0, 0, NULL, NULL, F_REQ},
        {"fallback", K_ACTION, offsetof(route_rule, fallback), offsetof(route_rule, has_fallback), 0, 0, NULL, NULL, 0},
    };
    route_config *cfg = c->cfg;
    if (!v || route_cfg_is_null(v)) return ROUTE_OK;
    if (v->type != YAML_SEQUENCE_NODE)
        return AT(c, v, ROUTE_ERR_CONFIG, "'%s' must be a list of rules ('- name: ...'), not %s", c->path, route_cfg_node_kind(v));
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (!n) return ROUTE_OK;
    if (!(cfg->rules = calloc(n, sizeof *cfg->rules))) return ROUTE_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *item = route_cfg_node_at(c, v->data.sequence.items.start[i]);
        route_rule *r = &cfg->rules[cfg->n_rules++];
        char idx[24], dflt[32];
        snprintf(idx, sizeof idx, "%zu", i);
        snprintf(dflt, sizeof dflt, "rule-%zu", i + 1);
        if (!(r->name = route_cfg_dupstr(dflt))) return ROUTE_ERR_NOMEM;
        size_t old = strlen(c->path);
        snprintf(c->path + old, sizeof c->path - old, "[%s]", idx);
        int rc = item->type == YAML_MAPPING_NODE ? route_cfg_walk(c, item, specs, NSPECS(specs), r)
                                                 : AT(c, item, ROUTE_ERR_CONFIG, "each rule in %s must be a mapping with name, condition, action", c->path);
        c->path[old] = 0;
        if (rc) return rc;
    }
    return ROUTE_OK;
}

static int check_strategy(cfg_ctx *c, const yaml_node_t *map)
{
    if (c->cfg->strategy != ROUTE_STRAT_EXTERNAL_ONLY || c->cfg->n_providers) return ROUTE_OK;
    const yaml_node_t *v = route_cfg_lookup(c, map, "routing_strategy", NULL);
    return AT(c, v ? v : map, ROUTE_ERR_CONFIG, "routing_strategy external_only needs a provider in ai_service.external");
}

static int routing_sub(cfg_ctx *c, const yaml_node_t *v, void *base)
{
    static const key_spec specs[] = {
        SUB("complexity_thresholds", complexity_sub),
        SUB("cost_thresholds", cost_sub),
        SUB("performance_thresholds", perf_sub),
        {"routing_strategy", K_STRATEGY, offsetof(route_config, strategy), 0, 0, 0, NULL, NULL, 0},
        BOOL(route_config, enable_hybrid, "enable_hybrid_processing"),
        SUB("rules", rules_sub),
        SUB("performance_routing", perf_routing_sub),
        SUB("privacy", privacy_sub),
    };
    int rc = route_cfg_walk(c, v, specs, NSPECS(specs), c->cfg);
    return rc ? rc : check_strategy(c, v);
}

static int fallback_sub(cfg_ctx *c, const yaml_node_t *v, void *base)
{
    static const key_spec specs[] = {
        BOOL(route_config, enable_fallback, "enable_fallback"),
        FLT(route_config, fallback_threshold, "fallback_threshold", 0, 1),
        INT(route_config, max_fallback_attempts, "max_fallback_attempts", 0, 10),
    };
    return route_cfg_walk(c, v, specs, NSPECS(specs), c->cfg);
}

/* pricing: {provider: {model: {input_per_million: X, output_per_million: Y}}} */
static int pricing_sub(cfg_ctx *c, const yaml_node_t *v, void *base)
{
    static const key_spec specs[] = {
        {"input_per_million", K_FLOAT, offsetof(route_price, input_per_mtok), 0, 0, 1e6, NULL, NULL, F_REQ},
        {"output_per_million", K_FLOAT, offsetof(route_price, output_per_mtok), 0, 0, 1e6, NULL, NULL, F_REQ},
    };
    route_config *cfg = c->cfg;
    if (!v || route_cfg_is_null(v)) return ROUTE_OK;
    if (v->type != YAML_MAPPING_NODE) return AT(c, v, ROUTE_ERR_CONFIG, "'%s' must map provider names to model prices", c->path);
    for (yaml_node_pair_t *pp = v->data.mapping.pairs.start; pp < v->data.mapping.pairs.top; pp++) {
        const yaml_node_t *pk = route_cfg_node_at(c, pp->key), *pv = route_cfg_node_at(c, pp->value);
        if (pk->type != YAML_SCALAR_NODE) return AT(c, pk, ROUTE_ERR_CONFIG, "provider names in %s must be plain names", c->path);
        if (pv->type != YAML_MAPPING_NODE) return AT(c, pv, ROUTE_ERR_CONFIG, "'%s.%s' must map model names to prices", c->path, pk->data.scalar.value);
        for (yaml_node_pair_t *mp = pv->data.mapping.pairs.start; mp < pv->data.mapping.pairs.top; mp++) {
            const yaml_node_t *mk = route_cfg_node_at(c, mp->key);
            if (mk->type != YAML_SCALAR_NODE) return AT(c, mk, ROUTE_ERR_CONFIG, "model names in %s must be plain names", c->path);
            route_price *np = realloc(cfg->prices, (cfg->n_prices + 1) * sizeof *np);
            if (!np) return ROUTE_ERR_NOMEM;
            cfg->prices = np;
            route_price *pr = &np[cfg->n_prices++];
            *pr = (route_price){route_cfg_dupstr((const char *)pk->data.scalar.value), route_cfg_dupstr((const char *)mk->data.scalar.value), 0, 0};
            if (!pr->provider || !pr->model) return ROUTE_ERR_NOMEM;
            size_t old = route_cfg_push(c, "%s%s", pr->provider);
            route_cfg_push(c, "%s%s", pr->model);
            int rc = route_cfg_walk(c, route_cfg_node_at(c, mp->value), specs, NSPECS(specs), pr);
            c->path[old] = 0;
            if (rc) return rc;
        }
    }
    return ROUTE_OK;
}

static int service_sub(cfg_ctx *c, const yaml_node_t *v, void *base)
{
    /* Order matters: rules check references to the models and providers. */
    static const key_spec specs[] = {
        SUB("external", external_sub),
        SUB("embedded", embedded_sub),
        SUB("routing", routing_sub),
        SUB("fallback", fallback_sub),
        SUB("pricing", pricing_sub),
    };
    return route_cfg_walk(c, v, specs, NSPECS(specs), c->cfg);
}

/* ---------------------------------------------------------------- load */

static void config_defaults(route_config *cfg)
{
    cfg->simple_max_tokens = 512;
    cfg->medium_max_tokens = 2048;
    cfg->max_response_time_ms = 5000;
    cfg->min_accuracy_threshold = 0.8;
    cfg->strategy = ROUTE_STRAT_HYBRID;
    cfg->enable_hybrid = true;
    cfg->perf_response_time_ms = 3000;
    cfg->perf_accuracy_threshold = 0.85;
    cfg->perf_cost_threshold = 0.05;
    cfg->privacy_enable = true;
    cfg->enable_fallback = true;
    cfg->fallback_threshold = 0.7;
    cfg->max_fallback_attempts = 3;
}

int route_config_load_mem(const char *text, size_t len, const char *name, route_config **out, char *err, size_t errlen)
{
    static const key_spec root[] = {{"ai_service", K_SUB, 0, 0, 0, 0, NULL, service_sub, F_REQ}};
    if (!out) return route_fail(err, errlen, ROUTE_ERR_ARG, "route_config_load: out is NULL");
    *out = NULL;
    if (len > MAX_CONFIG_BYTES) return route_fail(err, errlen, ROUTE_ERR_CONFIG, "%s: larger than %d bytes", name, MAX_CONFIG_BYTES);
    route_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg) return route_fail(err, errlen, ROUTE_ERR_NOMEM, "out of memory");
    config_defaults(cfg);
    int rc = route_cfg_load_doc(text, len, name ? name : "(config)", "'ai_service:'", root, 1, cfg, cfg, err, errlen);
    if (!rc && name && !(cfg->path = route_cfg_dupstr(name))) rc = ROUTE_ERR_NOMEM;
    if (rc == ROUTE_ERR_NOMEM) route_fail(err, errlen, rc, "out of memory");
    if (rc) {
        route_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return ROUTE_OK;
}

void route_action_free(route_action *a)
{
    free(a->provider);
    free(a->model);
    a->provider = a->model = NULL;
}

void route_config_free(route_config *cfg)
{
    if (!cfg) return;
    for (size_t i = 0; i < cfg->n_providers; i++) {
        route_provider *p = &cfg->providers[i];
        free(p->name);
        free(p->api_key);
        free(p->base_url);
        free(p->ca_file);
        route_cfg_free_strs(p->models, p->n_models);
    }
    free(cfg->providers);
    for (size_t i = 0; i < cfg->n_models; i++) {
        route_model *m = &cfg->models[i];
        free(m->name);
        free(m->model_path);
        free(m->quantization);
        free(m->inference_engine);
        free(m->use_case);
    }
    free(cfg->models);
    route_cfg_free_strs(cfg->simple_patterns, cfg->n_simple_patterns);
    route_cfg_free_strs(cfg->complex_patterns, cfg->n_complex_patterns);
    route_cfg_free_strs(cfg->private_patterns, cfg->n_private_patterns);
    for (size_t i = 0; i < cfg->n_rules; i++) {
        route_rule *r = &cfg->rules[i];
        free(r->name);
        free(r->condition);
        route_expr_free(r->expr);
        route_action_free(&r->action);
        route_action_free(&r->fallback);
    }
    free(cfg->rules);
    for (size_t i = 0; i < cfg->n_prices; i++) {
        free((char *)cfg->prices[i].provider);
        free((char *)cfg->prices[i].model);
    }
    free(cfg->prices);
    for (size_t i = 0; i < cfg->n_settings; i++) {
        free(cfg->settings[i].key);
        free(cfg->settings[i].value);
        free(cfg->settings[i].origin);
    }
    free(cfg->settings);
    free(cfg->path);
    free(cfg);
}
