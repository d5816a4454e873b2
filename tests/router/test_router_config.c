/* ai-config.yaml: the proposal's two examples load unchanged, broken files
 * give positioned messages, defaults, ${ENV}, masking, search order and
 * atomic update. */
#include "router/router.h"
#include "tests/testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/router/broken_cases.h"

static char err[1024];

static route_config *load_data(const char *name)
{
    const char *dir = getenv("ROUTER_TEST_DATA");
    char path[1024];
    assert_non_null(dir);
    route_config *cfg = NULL;
    int rc = route_config_load(tu_path(path, sizeof path, dir, name), &cfg, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, ROUTE_OK);
    return cfg;
}

static route_config *load_text(const char *yaml)
{
    route_config *cfg = NULL;
    int rc = route_config_load_mem(yaml, strlen(yaml), "t.yaml", &cfg, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, ROUTE_OK);
    return cfg;
}

static const route_setting *setting(const route_config *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->n_settings; i++)
        if (!strcmp(cfg->settings[i].key, key)) return &cfg->settings[i];
    fail_msg("no setting %s", key);
    return NULL;
}

static void test_basic_example(void **state)
{
    setenv("OPENAI_API_KEY", "sk-test-0123456789abcdefghij", 1);
    route_config *cfg = load_data("basic.yaml");
    assert_int_equal(cfg->n_providers, 1);
    const route_provider *p = &cfg->providers[0];
    assert_string_equal(p->name, "openai");
    assert_string_equal(p->api_key, "sk-test-0123456789abcdefghij");
    assert_string_equal(p->base_url, "https://api.openai.com");
    assert_int_equal(p->n_models, 1);
    assert_string_equal(p->models[0], "gpt-4");
    assert_int_equal(p->timeout_seconds, 30);
    assert_int_equal(p->rate_limit_per_minute, 300);
    assert_int_equal(cfg->n_models, 1);
    const route_model *m = &cfg->models[0];
    assert_string_equal(m->name, "codellama-7b");
    assert_string_equal(m->model_path, "./models/codellama-7b-q4.gguf");
    assert_string_equal(m->quantization, "q4");
    assert_int_equal(m->max_context_length, 4096);
    assert_int_equal(m->gpu_memory_limit_mb, 4096);
    assert_true(m->enable_gpu);
    assert_int_equal(cfg->simple_max_tokens, 512);
    assert_int_equal(cfg->medium_max_tokens, 2048);
    assert_int_equal(cfg->n_simple_patterns, 3);
    assert_string_equal(cfg->complex_patterns[2], "large context");
    assert_true(cfg->max_cost_per_request == 0.10);
    assert_true(cfg->max_daily_cost == 10.0);
    assert_int_equal(cfg->strategy, ROUTE_STRAT_HYBRID);
    assert_true(cfg->enable_hybrid);
    assert_true(cfg->enable_fallback);
    assert_true(cfg->fallback_threshold == 0.7);
    assert_int_equal(cfg->max_fallback_attempts, 3);
    /* The secret is masked and its origin names the variable. */
    const route_setting *s = setting(cfg, "ai_service.external.api_key");
    assert_null(strstr(s->value, "0123456789"));
    assert_non_null(strstr(s->origin, "basic.yaml:4:14 via $OPENAI_API_KEY"));
    for (size_t i = 0; i < cfg->n_settings; i++) assert_null(strstr(cfg->settings[i].value, "0123456789abcdefghij"));
    assert_string_equal(setting(cfg, "ai_service.external.provider")->origin, "derived from base_url");
    assert_string_equal(setting(cfg, "ai_service.routing.privacy.enable")->origin, "default");
    route_config_free(cfg);
    unsetenv("OPENAI_API_KEY");
}

static void test_advanced_example(void **state)
{
    unsetenv("ANTHROPIC_API_KEY");
    route_config *cfg = load_data("advanced.yaml");
    assert_int_equal(cfg->n_providers, 2);
    assert_string_equal(cfg->providers[1].name, "anthropic");
    assert_int_equal(cfg->providers[1].priority, 2);
    assert_string_equal(cfg->providers[1].api_key, "");
    assert_string_equal(cfg->providers[0].models[1], "gpt-3.5-turbo");
    assert_int_equal(cfg->n_models, 3);
    assert_string_equal(cfg->models[1].name, "phi-2");
    assert_int_equal(cfg->models[1].max_context_length, 2048);
    assert_string_equal(cfg->models[2].use_case, "conversation");
    assert_int_equal(cfg->n_rules, 3);
    assert_string_equal(cfg->rules[0].name, "code_generation");
    assert_int_equal(cfg->rules[0].action.target, ROUTE_TO_EMBEDDED);
    assert_string_equal(cfg->rules[0].action.model, "codellama-7b");
    assert_true(cfg->rules[0].has_fallback);
    assert_string_equal(cfg->rules[0].fallback.provider, "openai");
    assert_string_equal(cfg->rules[2].action.model, "gpt-4");
    assert_int_equal(cfg->rules[2].fallback.target, ROUTE_TO_HYBRID);
    assert_true(cfg->perf_enable);
    assert_int_equal(cfg->perf_metrics, ROUTE_PERF_RESPONSE_TIME | ROUTE_PERF_ACCURACY | ROUTE_PERF_COST);
    assert_int_equal(cfg->perf_response_time_ms, 3000);
    assert_true(cfg->perf_cost_threshold == 0.05);
    assert_non_null(strstr(setting(cfg, "ai_service.external.providers.anthropic.api_key")->origin, "(unset)"));
    route_config_free(cfg);
}

static void test_broken_configs(void **state)
{
    size_t n = sizeof broken_cases / sizeof broken_cases[0];
    assert_true(n >= 20);
    for (size_t i = 0; i < n; i++) {
        route_config *cfg = NULL;
        err[0] = 0;
        int rc = route_config_load_mem(broken_cases[i].yaml, strlen(broken_cases[i].yaml), "t.yaml", &cfg, err, sizeof err);
        if (!rc || strncmp(err, broken_cases[i].expect, strlen(broken_cases[i].expect)))
            fail_msg("case %zu:\n  got:  %s\n  want: %s", i, rc ? err : "(loaded)", broken_cases[i].expect);
        assert_null(cfg);
    }
}

static void test_defaults(void **state)
{
    route_config *cfg = NULL;
    unsetenv("ANTHROPIC_API_KEY");
    setenv("OPENAI_API_KEY", "sk-test-0123456789abcdefghij", 1);
    assert_int_equal(route_config_load(NULL, &cfg, err, sizeof err), ROUTE_OK);
    assert_int_equal(cfg->n_providers, 1); /* a key in the environment enables its provider */
    assert_string_equal(cfg->providers[0].name, "openai");
    assert_string_equal(cfg->providers[0].api_key, "sk-test-0123456789abcdefghij");
    assert_string_equal(cfg->providers[0].models[0], "gpt-4o");
    assert_string_equal(setting(cfg, "ai_service.external.providers.openai.api_key")->origin, "$OPENAI_API_KEY");
    assert_string_equal(setting(cfg, "ai_service.external.providers.openai.api_key")->value, "sk-****ghij");
    route_config_free(cfg);
    unsetenv("OPENAI_API_KEY");
    setenv("RHEMA_MODEL", "/m/tiny-model.Q8_0.gguf", 1);
    assert_int_equal(route_config_load(NULL, &cfg, err, sizeof err), ROUTE_OK);
    assert_string_equal(cfg->models[0].name, "tiny-model");
    assert_string_equal(setting(cfg, "ai_service.embedded.model_path")->origin, "$RHEMA_MODEL");
    route_config_free(cfg);
    unsetenv("RHEMA_MODEL");
    assert_int_equal(route_config_load(NULL, &cfg, err, sizeof err), ROUTE_OK);
    assert_int_equal(cfg->n_providers, 0);
    assert_int_equal(cfg->n_models, 1);
    assert_string_equal(cfg->models[0].name, "default");
    assert_null(cfg->path);
    for (size_t i = 0; i < cfg->n_settings; i++) assert_string_equal(cfg->settings[i].origin, "default");
    assert_int_equal(cfg->n_providers, 0);
    assert_string_equal(setting(cfg, "ai_service.routing.routing_strategy")->value, "hybrid");
    /* No threshold of its own: the model follows fallback_threshold. */
    assert_string_equal(setting(cfg, "ai_service.embedded.confidence_threshold")->value, "fallback_threshold");
    assert_true(route_model_threshold(cfg, &cfg->models[0]) == 0.7);
    route_config_free(cfg);
}

/* confidence_threshold per embedded model, in both shapes; fallback_threshold
 * stays the default for the others. */
static void test_confidence_threshold(void **state)
{
    route_config *cfg = load_text("ai_service:\n  embedded:\n    model_path: m.gguf\n    confidence_threshold: 0.25\n"
                                  "  fallback: {fallback_threshold: 0.6}\n");
    assert_true(route_model_threshold(cfg, &cfg->models[0]) == 0.25);
    assert_string_equal(setting(cfg, "ai_service.embedded.confidence_threshold")->value, "0.25");
    assert_string_equal(setting(cfg, "ai_service.embedded.confidence_threshold")->origin, "t.yaml:4:27");
    route_config_free(cfg);
    cfg = load_text("ai_service:\n  embedded:\n    models:\n      a: {model_path: a.gguf, confidence_threshold: 0}\n"
                    "      b: {model_path: b.gguf}\n  fallback: {fallback_threshold: 0.6}\n");
    assert_true(route_model_threshold(cfg, &cfg->models[0]) == 0);
    assert_true(route_model_threshold(cfg, &cfg->models[1]) == 0.6);
    assert_string_equal(setting(cfg, "ai_service.embedded.models.b.confidence_threshold")->value, "fallback_threshold");
    route_config_free(cfg);
}

static void test_env_expansion(void **state)
{
    setenv("RT_URL_HOST", "api.anthropic.com", 1);
    unsetenv("RT_UNSET");
    route_config *cfg = load_text("ai_service:\n  external:\n    base_url: https://${RT_URL_HOST}\n"
                                  "    api_key: ${RT_UNSET:-fallback-key}\n    timeout_seconds: ${RT_UNSET:-12}\n");
    assert_string_equal(cfg->providers[0].name, "anthropic");
    assert_string_equal(cfg->providers[0].base_url, "https://api.anthropic.com");
    assert_string_equal(cfg->providers[0].api_key, "fallback-key");
    assert_int_equal(cfg->providers[0].timeout_seconds, 12);
    assert_string_equal(cfg->providers[0].models[0], "claude-sonnet-4-5");
    assert_non_null(strstr(setting(cfg, "ai_service.external.timeout_seconds")->origin, "$RT_UNSET (unset, default used)"));
    route_config_free(cfg);
}

static void test_shapes_mix(void **state)
{
    /* Basic external with advanced embedded, model named after its file. */
    route_config *cfg = load_text("ai_service:\n  external:\n    base_url: https://api.openai.com\n    models: [gpt-4o-mini, gpt-4o]\n"
                                  "  embedded:\n    model_path: /m/qwen2-0.5b.Q4_0.gguf\n  routing:\n    rules:\n"
                                  "      - condition: \"not (tokens > 100) and prompt contains 'hi'\"\n        action: local\n");
    assert_string_equal(cfg->providers[0].models[0], "gpt-4o-mini");
    assert_string_equal(cfg->models[0].name, "qwen2-0");
    assert_string_equal(cfg->rules[0].name, "rule-1");
    route_config_free(cfg);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char tmpdir[256];

static void make_tmpdir(void)
{
    assert_non_null(tu_temp_dir(tmpdir, sizeof tmpdir, "rhema-router-cfg"));
}

static void test_update_atomic(void **state)
{
    make_tmpdir();
    char good[512], bad[512], dst[512];
    snprintf(good, sizeof good, "%s/good.yaml", tmpdir);
    snprintf(bad, sizeof bad, "%s/bad.yaml", tmpdir);
    snprintf(dst, sizeof dst, "%s/proj/.rhema/ai-config.yaml", tmpdir);
    write_text(good, "ai_service:\n  routing:\n    routing_strategy: cost\n");
    write_text(bad, "ai_service:\n  routing:\n    routing_strategy: costly\n");
    assert_int_equal(route_config_update(good, dst, err, sizeof err), ROUTE_OK);
    size_t n1, n2;
    uint8_t *a = tu_read_file(dst, &n1);
    assert_non_null(a);
    assert_int_equal(route_config_update(bad, dst, err, sizeof err), ROUTE_ERR_CONFIG);
    assert_non_null(strstr(err, "bad.yaml:3:23:"));
    uint8_t *b = tu_read_file(dst, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    free(a);
    free(b);
    char listing[600];
    snprintf(listing, sizeof listing, "%s/proj/.rhema", tmpdir);
    char **names;
    size_t count = tu_list(listing, "", &names);
    for (size_t i = 0; i < count; i++) assert_null(strstr(names[i], ".tmp.")); /* no temp file left behind */
    tu_free_names(names, count);
}

static void test_find_order(void **state)
{
    make_tmpdir();
    char cwd[1024], home[600], out[1024], p[700];
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(home, sizeof home, "%s/home", tmpdir);
    snprintf(p, sizeof p, "%s/.rhema", home);
    assert_int_equal(mkdir(home, 0755), 0);
    assert_int_equal(mkdir(p, 0755), 0);
    assert_int_equal(chdir(tmpdir), 0);
    setenv("HOME", home, 1);
    unsetenv("RHEMA_AI_CONFIG");
    assert_int_equal(route_config_find(NULL, out, sizeof out, err, sizeof err), ROUTE_OK);
    assert_string_equal(out, "");
    snprintf(p, sizeof p, "%s/.rhema/ai-config.yaml", home);
    write_text(p, "ai_service: {}\n");
    assert_int_equal(route_config_find(NULL, out, sizeof out, err, sizeof err), ROUTE_OK);
    assert_string_equal(out, p);
    assert_int_equal(mkdir(".rhema", 0755), 0);
    write_text(".rhema/ai-config.yaml", "ai_service: {}\n");
    assert_int_equal(route_config_find(NULL, out, sizeof out, err, sizeof err), ROUTE_OK);
    assert_string_equal(out, ".rhema/ai-config.yaml");
    setenv("RHEMA_AI_CONFIG", p, 1);
    assert_int_equal(route_config_find(NULL, out, sizeof out, err, sizeof err), ROUTE_OK);
    assert_string_equal(out, p);
    assert_int_equal(route_config_find(".rhema/ai-config.yaml", out, sizeof out, err, sizeof err), ROUTE_OK);
    assert_string_equal(out, ".rhema/ai-config.yaml");
    assert_int_equal(route_config_find("nope.yaml", out, sizeof out, err, sizeof err), ROUTE_ERR_IO);
    assert_string_equal(err, "nope.yaml: no such configuration file");
    setenv("RHEMA_AI_CONFIG", "missing.yaml", 1);
    assert_int_equal(route_config_find(NULL, out, sizeof out, err, sizeof err), ROUTE_ERR_IO);
    unsetenv("RHEMA_AI_CONFIG");
    assert_int_equal(chdir(cwd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_example), cmocka_unit_test(test_advanced_example),
        cmocka_unit_test(test_broken_configs), cmocka_unit_test(test_defaults), cmocka_unit_test(test_confidence_threshold),
        cmocka_unit_test(test_env_expansion), cmocka_unit_test(test_shapes_mix),
        cmocka_unit_test(test_update_atomic), cmocka_unit_test(test_find_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
