/* route_perf_optimize on ledgers written here: each recommendation with
 * the numbers behind it, and "not enough data" where the ledger is thin. */
#include "router/router.h"
#include "tests/router/routeutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char err[1024];

static const char yaml[] =
    "ai_service:\n"
    "  external:\n"
    "    providers:\n"
    "      openai: {base_url: https://api.openai.com, models: [gpt-4o], priority: 1}\n"
    "      acme: {base_url: https://acme.example, models: [slow-1], priority: 1}\n"
    "  embedded:\n"
    "    models:\n"
    "      small: {model_path: s.gguf, memory_limit_mb: 2, max_context_length: 4096}\n"
    "  routing:\n"
    "    performance_routing: {enable: true, thresholds: {response_time_ms: 3000}}\n";

static route_config *cfg;

static int setup(void **state)
{
    return tu_config(yaml, &cfg);
}

static int teardown(void **state)
{
    route_config_free(cfg);
    return 0;
}

static void add(const char *path, route_target t, const char *provider, const char *model, uint64_t in, double ms,
                bool cached, bool failed)
{
    route_usage u = tu_usage(1000, t, provider, model, in, 50, 0);
    u.ms = ms;
    u.cached = cached;
    u.failed = failed;
    tu_append(path, &u);
}

static const route_advice *find(const route_perf_plan *p, const char *topic, const char *subject)
{
    for (size_t i = 0; i < p->n_advice; i++)
        if (!strcmp(p->advice[i].topic, topic) && !strcmp(p->advice[i].subject, subject)) return &p->advice[i];
    fail_msg("no advice %s (%s)", topic, subject);
    return NULL;
}

static void change(const route_perf_plan *p, const char *topic, const char *subject, const char *setting,
                   const char *current, const char *recommended, const char *why)
{
    const route_advice *a = find(p, topic, subject);
    assert_int_equal(a->status, ROUTE_ADVICE_CHANGE);
    assert_string_equal(a->setting, setting);
    assert_string_equal(a->current, current);
    assert_string_equal(a->recommended, recommended);
    if (!strstr(a->why, why)) fail_msg("%s: '%s' lacks '%s'", topic, a->why, why);
}

static void thin(const route_perf_plan *p, const char *topic, const char *subject, const char *why)
{
    const route_advice *a = find(p, topic, subject);
    assert_int_equal(a->status, ROUTE_ADVICE_THIN);
    if (!strstr(a->why, why)) fail_msg("%s: '%s' lacks '%s'", topic, a->why, why);
}

/* An empty or nearly empty ledger: every check says what it lacks. */
static void test_thin(void **state)
{
    char path[256];
    tu_ledger(path, sizeof path, "rhema-tune");
    route_perf_plan p;
    assert_int_equal(route_perf_optimize(cfg, path, 0, 5000, &p, err, sizeof err), ROUTE_OK);
    assert_false(p.enough_data);
    assert_int_equal(p.answered, 0);
    assert_int_equal(p.target_ms, 3000);
    assert_string_equal(p.target_key, "performance_routing.thresholds.response_time_ms");
    thin(&p, "latency_threshold", "", "embedded: 0 timed answers, too few; external: 0 timed answers, too few");
    thin(&p, "simple_max_tokens", "", "0 timed local answers over 0 prompt sizes; the fit needs 10 over 3 sizes");
    thin(&p, "slow_model", "", "no model has 5 timed answers");
    thin(&p, "cache", "embedded", "0 embedded requests; a hit rate needs 20");
    thin(&p, "fallback_order", "", "no provider has 5 calls");
    thin(&p, "model_load", "", "no local model has 3 measured loads");
    for (int i = 0; i < 4; i++) add(path, ROUTE_TO_EMBEDDED, "", "small", 100 * (uint64_t)(i % 3 + 1), 500, false, false);
    assert_int_equal(route_perf_optimize(cfg, path, 0, 5000, &p, err, sizeof err), ROUTE_OK);
    assert_false(p.enough_data);
    assert_int_equal(p.answered, 4);
    thin(&p, "simple_max_tokens", "", "4 timed local answers over 3 prompt sizes");
    thin(&p, "latency_threshold", "", "embedded: 4 timed answers, too few");
    /* Outside the period nothing counts. */
    assert_int_equal(route_perf_optimize(cfg, path, 2000, 5000, &p, err, sizeof err), ROUTE_OK);
    assert_int_equal(p.answered, 0);
}

/* Twenty local answers taking 500 ms + 2 ms per prompt token (100..2000
 * tokens), ten quick external ones, a slow failing provider, a cache that
 * rarely hits, long model loads and memory past the limit. */
static void test_advice(void **state)
{
    char path[256];
    tu_ledger(path, sizeof path, "rhema-tune");
    for (int i = 1; i <= 20; i++) {
        route_usage u = {.time = 1000, .target = ROUTE_TO_EMBEDDED, .in_tokens = 100 * (uint64_t)i, .out_tokens = 50,
                         .cost_known = true, .ms = 500 + 200.0 * i, .model_bytes = 1 << 20, .kv_bytes = 2 << 20,
                         .peak_rss = (5 << 20) / 2};
        strcpy(u.model, "small");
        if (i <= 4) u.load_ms = 1500 + 100.0 * i;
        tu_append(path, &u);
    }
    add(path, ROUTE_TO_EMBEDDED, "", "small", 100, 0, true, false);
    for (int i = 1; i <= 10; i++) add(path, ROUTE_TO_EXTERNAL, "openai", "gpt-4o", 100, 900 + 100.0 * i, false, false);
    for (int i = 0; i < 5; i++) {
        add(path, ROUTE_TO_EXTERNAL, "acme", "slow-1", 100, 5000, false, false);
        add(path, ROUTE_TO_EXTERNAL, "acme", "slow-1", 0, 30000, false, true);
    }
    route_perf_plan p;
    assert_int_equal(route_perf_optimize(cfg, path, 0, 5000, &p, err, sizeof err), ROUTE_OK);
    assert_true(p.enough_data);
    assert_int_equal(p.answered, 35);
    assert_int_equal(p.embedded_timed, 20);
    assert_int_equal(p.external_timed, 15);

    /* p95: the 19th of 20 local times (4300 ms), the 15th of 15 external (5000 ms). */
    change(&p, "latency_threshold", "", "performance_routing.thresholds.response_time_ms", "3000", "5000",
           "embedded p95 4300 ms (mean 2600 ms, 20 answers); external p95 5000 ms (mean 2633 ms, 15 answers): at 5000 ms");
    change(&p, "simple_max_tokens", "", "simple_max_tokens", "512", "1250",
           "local answers take about 500 ms + 2.000 ms per prompt token (least squares over 20 answers, at the median 50 "
           "output tokens): up to 1250 prompt tokens finish within the 3000 ms target");
    change(&p, "medium_max_tokens", "", "medium_max_tokens", "2048", "2750",
           "up to 2750 prompt tokens finish within twice the target (6000 ms)");
    const route_advice *a = find(&p, "slow_model", "acme/slow-1");
    assert_int_equal(a->status, ROUTE_ADVICE_CHANGE);
    assert_non_null(strstr(a->why, "external acme/slow-1: median 5000 ms over 5 answers, past the 3000 ms target"));
    change(&p, "cache", "embedded", "cache_ttl_seconds", "3600", "14400",
           "only 1 of 21 embedded requests (4.8 %) came from the cache with cache_ttl_seconds 3600");
    change(&p, "cache", "external", "cache_ttl_seconds", "3600", "14400",
           "only 0 of 20 external requests (0.0 %) came from the cache");
    change(&p, "fallback_order", "acme", "acme.priority", "1", "2",
           "acme failed 5 of 10 calls (50 %), openai 0 of 10 (0 %): try the steadier one first");
    change(&p, "model_load", "small", "", "", "",
           "small: loading takes 1700 ms at the median (max 1900 ms) over 4 loads, 68 % of its median answer (2500 ms): "
           "every `rhema ai tasks route` run loads it again");
    change(&p, "memory", "small", "max_context_length", "4096", "3072",
           "small: peak resident memory 2.5 MiB is past memory_limit_mb 2 (model 1.0 MiB mapped, KV cache 2.0 MiB at "
           "max_context_length 4096)");
}

/* Settings already right read as ok; a model too slow even for short
 * prompts says so instead of a threshold. */
static void test_ok_and_slow_base(void **state)
{
    char path[256];
    tu_ledger(path, sizeof path, "rhema-tune");
    for (int i = 1; i <= 10; i++) add(path, ROUTE_TO_EMBEDDED, "", "small", 100 * (uint64_t)i, 3100 + 10.0 * i, false, false);
    route_perf_plan p;
    assert_int_equal(route_perf_optimize(cfg, path, 0, 5000, &p, err, sizeof err), ROUTE_OK);
    const route_advice *a = find(&p, "simple_max_tokens", "");
    assert_int_equal(a->status, ROUTE_ADVICE_OK);
    assert_non_null(strstr(a->why, "about 3100 ms + 0.100 ms per prompt token"));
    assert_non_null(strstr(a->why, "even a short prompt takes longer than the 3000 ms target"));
    a = find(&p, "slow_model", "small");
    assert_int_equal(a->status, ROUTE_ADVICE_CHANGE);
    assert_non_null(strstr(a->why, "a smaller or more quantized model"));
    a = find(&p, "latency_threshold", "");
    assert_int_equal(a->status, ROUTE_ADVICE_CHANGE);
    assert_non_null(strstr(a->why, "now 3000 ms is below the embedded mean, so performance_routing moves that side's work"));
    cfg->perf_response_time_ms = 3200;
    assert_int_equal(route_perf_optimize(cfg, path, 0, 5000, &p, err, sizeof err), ROUTE_OK);
    cfg->perf_response_time_ms = 3000;
    assert_int_equal(find(&p, "latency_threshold", "")->status, ROUTE_ADVICE_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thin),
        cmocka_unit_test(test_advice),
        cmocka_unit_test(test_ok_and_slow_base),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
