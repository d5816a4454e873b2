/* route_execute with scripted backends: fallback chains, privacy, hybrid
 * drafting, low-confidence escalation, benching, the exact cache, the
 * attempt limit, metrics and the ledger. */
#include "router/router.h"
#include "tests/testutil.h"
#include "tests/router/routeutil.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char err[1024];

typedef struct fake {
    int emb_calls, ext_calls;
    int emb_fail, ext_fail; /* fail this many more calls (-1: always) */
    bool ext_timeout;       /* failures are the caller's own timeout */
    bool ext_transient;     /* failures are worth retrying */
    long retry_after_ms;
    int64_t slept[8];
    int n_sleeps;
    double emb_conf;
    const char *emb_text;  /* the local answer, else "local answer from MODEL" */
    bool emb_truncated;
    bool emb_logprob;      /* report emb_mean as the mean token log-probability */
    double emb_mean;
    char last_ext_prompt[1024];
    int64_t clock;
} fake;

static int call_side(int *fails)
{
    if (*fails == 0) return 0;
    if (*fails > 0) (*fails)--;
    return 1;
}

static int fake_embedded(void *user, const route_call *call, route_reply *reply, char *e, size_t n)
{
    fake *f = user;
    f->emb_calls++;
    if (call_side(&f->emb_fail)) return snprintf(e, n, "model crashed"), 1;
    char text[128];
    snprintf(text, sizeof text, "local answer from %s", call->model);
    reply->text = strdup(f->emb_text ? f->emb_text : text);
    reply->in_tokens = 10;
    reply->out_tokens = 5;
    reply->confidence = f->emb_conf;
    reply->truncated = f->emb_truncated;
    reply->has_logprob = f->emb_logprob;
    reply->mean_logprob = f->emb_mean;
    return 0;
}

static int fake_external(void *user, const route_call *call, route_reply *reply, char *e, size_t n)
{
    fake *f = user;
    f->ext_calls++;
    snprintf(f->last_ext_prompt, sizeof f->last_ext_prompt, "%s", call->prompt);
    if (call_side(&f->ext_fail)) {
        reply->caller_timeout = f->ext_timeout;
        reply->transient = f->ext_transient;
        reply->retry_after_ms = f->retry_after_ms;
        return snprintf(e, n, "HTTP 503 from %s", call->provider_cfg->name), 1;
    }
    char text[128];
    snprintf(text, sizeof text, "remote answer from %s/%s", call->provider_cfg->name, call->model);
    reply->text = strdup(text);
    reply->in_tokens = 1000;
    reply->out_tokens = 100;
    reply->confidence = -1;
    return 0;
}

static int64_t fake_clock(void *user) { return ((fake *)user)->clock; }

static void fake_sleep(void *user, int64_t ms)
{
    fake *f = user;
    if (f->n_sleeps < 8) f->slept[f->n_sleeps++] = ms;
    f->clock += ms;
}

static const char yaml[] =
    "ai_service:\n  external:\n    providers:\n"
    "      openai: {base_url: https://api.openai.com, models: [gpt-4o], priority: 1}\n"
    "      anthropic: {base_url: https://api.anthropic.com, models: [claude-3-haiku], priority: 2}\n"
    "  embedded:\n    models:\n      small: {model_path: s.gguf}\n"
    "  routing:\n    rules:\n"
    "      - {name: ext, condition: \"prompt contains 'remote'\", action: use external openai gpt-4o, fallback: embedded small}\n"
    "      - {name: mix, condition: \"prompt contains 'mix'\", action: hybrid processing}\n"
    "      - {name: loc, condition: \"prompt contains 'local'\", action: use embedded small}\n";

static route_config *cfg;
static fake f;
static route_backends backends = {fake_embedded, fake_external, &f};
static route_runtime rt;
static char ledger[256];
static char tmpdir[64];

/* The test's folder: ledger, cache and limits. */
static int cleanup(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static int setup(void **state)
{
    return tu_config(yaml, &cfg);
}

static int teardown(void **state)
{
    route_config_free(cfg);
    return 0;
}

static int reset(void **state)
{
    f = (fake){.emb_conf = -1, .clock = 1000000};
    rt = (route_runtime){.now_ms = fake_clock, .sleep_ms = fake_sleep, .clock_user = &f};
    if (!tu_temp_dir(tmpdir, sizeof tmpdir, "rhema-exec")) return -1;
    snprintf(ledger, sizeof ledger, "%s/usage.log", tmpdir);
    rt.ledger_path = ledger;
    return 0;
}

static int exec(const char *prompt, bool is_private, route_result *res)
{
    route_request rq = {.prompt = prompt, .is_private = is_private};
    route_decision d;
    assert_int_equal(route_decide(cfg, &rq, NULL, &d, err, sizeof err), ROUTE_OK);
    return route_execute(cfg, &rq, &d, &backends, &rt, res, err, sizeof err);
}

/* Ledger records by kind: answered calls, cached answers, failed calls. */
typedef struct counts {
    int answered, cached, failed;
} counts;

static int count_records(void *user, const route_usage *u)
{
    counts *c = user;
    if (u->failed) c->failed++;
    else if (u->cached) c->cached++;
    else c->answered++;
    return 0;
}

static counts ledger_counts(void)
{
    counts c = {0, 0, 0};
    assert_int_equal(route_ledger_read(ledger, 0, count_records, &c, NULL, err, sizeof err), ROUTE_OK);
    return c;
}

static int ledger_count(void) { return ledger_counts().answered; }

static void test_external_then_fallback(void **state)
{
    route_result res;
    assert_int_equal(exec("remote: summarize", false, &res), ROUTE_OK);
    assert_string_equal(res.text, "remote answer from openai/gpt-4o");
    assert_false(res.fell_back);
    assert_true(res.cost_known && res.total_cost > 0.0034 && res.total_cost < 0.0036); /* 1000 in + 100 out at gpt-4o */
    route_result_free(&res);
    f.ext_fail = 1;
    assert_int_equal(exec("remote: summarize again", false, &res), ROUTE_OK);
    assert_string_equal(res.text, "local answer from small");
    assert_true(res.fell_back);
    assert_int_equal(res.n_attempts, 2);
    assert_string_equal(res.attempts[0].error, "HTTP 503 from openai");
    route_result_free(&res);
    assert_int_equal(ledger_count(), 2);
    assert_int_equal(ledger_counts().failed, 1);
    assert_int_equal(rt.external.failures, 1);
    assert_int_equal(rt.external.successes, 1);
    assert_int_equal(rt.embedded.successes, 1);
}

static void test_private_never_leaves(void **state)
{
    route_result res;
    f.emb_fail = -1;
    assert_int_equal(exec("remote: my password: hunter22", false, &res), ROUTE_ERR_BACKEND);
    assert_int_equal(f.ext_calls, 0);
    assert_non_null(strstr(err, "model crashed"));
    route_result_free(&res);
    assert_int_equal(exec("mix this up", true, &res), ROUTE_ERR_BACKEND);
    assert_int_equal(f.ext_calls, 0);
    route_result_free(&res);
}

static void test_hybrid(void **state)
{
    route_result res;
    assert_int_equal(exec("mix a plan", false, &res), ROUTE_OK);
    assert_true(res.enhanced);
    assert_int_equal(res.served_by, ROUTE_TO_EXTERNAL);
    assert_non_null(strstr(f.last_ext_prompt, "Draft answer:\nlocal answer from small"));
    route_result_free(&res);
    f.emb_conf = 0.9; /* a confident draft is not sent out */
    assert_int_equal(exec("mix another plan", false, &res), ROUTE_OK);
    assert_false(res.enhanced);
    assert_int_equal(f.ext_calls, 1);
    route_result_free(&res);
    f.emb_conf = -1;
    f.ext_fail = 1; /* the enhancement fails: the draft stands */
    assert_int_equal(exec("mix a third plan", false, &res), ROUTE_OK);
    assert_string_equal(res.text, "local answer from small");
    assert_true(res.fell_back);
    route_result_free(&res);
}

/* The signals one by one: refusal openings (any case, typographic
 * apostrophe, after white space or a quote), emptiness, truncation, the
 * confidence from the mean log-probability or the backend's own. */
static void test_judge(void **state)
{
    route_judgement j;
    route_reply rp = {.confidence = -1};
    static const char *const refusals[] = {"I'm sorry, but I can't help with that.", "  \"As an AI language model, I",
                                           "i cannot do that", "I\xe2\x80\x99m unable to answer", "SORRY, no."};
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        route_judge(refusals[i], &rp, 0.7, true, &j);
        assert_true(j.refused && j.weak);
    }
    route_judge("I'm sorry", &rp, 0.7, false, &j); /* external answers: their confidence only */
    assert_false(j.refused || j.weak);
    route_judge("Sorry to hear that; here is how", &rp, 0.7, true, &j);
    assert_false(j.refused || j.weak);
    route_judge(" \n\t", &rp, 0.7, true, &j);
    assert_true(j.empty && j.weak && !j.refused);
    route_judge("fine", &rp, 0.7, true, &j);
    assert_false(j.weak);
    assert_true(j.confidence == -1);
    rp.has_logprob = true;
    rp.mean_logprob = log(0.5);
    route_judge("fine", &rp, 0.7, true, &j);
    assert_true(fabs(j.confidence - 0.5) < 1e-12 && j.weak);
    route_judge("fine", &rp, 0.4, true, &j);
    assert_false(j.weak);
    char line[240];
    route_judgement_describe(&j, line, sizeof line);
    assert_string_equal(line, "confidence 0.50 (mean log-probability -0.693 nats/token) at or above the threshold 0.40");
    rp.truncated = true;
    route_judge("fine", &rp, 0.4, true, &j);
    assert_true(j.truncated && j.weak);
    route_judgement_describe(&j, line, sizeof line);
    assert_non_null(strstr(line, "; cut at the length limit"));
    rp = (route_reply){.confidence = 0.9, .has_logprob = true, .mean_logprob = -5}; /* the backend's own wins */
    route_judge("fine", &rp, 0.7, true, &j);
    assert_true(j.confidence == 0.9 && !j.weak);
    rp = (route_reply){.confidence = -1, .has_logprob = true, .mean_logprob = NAN}; /* not a measurement */
    route_judge("fine", &rp, 0.7, true, &j);
    assert_true(j.confidence == -1 && !j.has_logprob);
}

/* Hybrid judges its draft: a confident one is kept (and cached), a weak
 * one (low mean log-probability, cut off, a refusal, empty) goes out for
 * enhancement with the draft in the request; the result says why. */
static void test_hybrid_draft_signals(void **state)
{
    rt.cache = route_cache_new(8);
    route_result res;
    f.emb_logprob = true;
    f.emb_mean = -0.05; /* confidence 0.95 */
    assert_int_equal(exec("mix: a sure thing", false, &res), ROUTE_OK);
    assert_true(res.draft.ran);
    assert_false(res.draft.needs_enhancement || res.enhanced);
    assert_true(fabs(res.draft.judged.confidence - exp(-0.05)) < 1e-12);
    assert_true(res.draft.judged.mean_logprob == -0.05);
    assert_true(res.attempts[0].judged.confidence == res.draft.judged.confidence);
    assert_string_equal(res.draft.text, "local answer from small");
    assert_int_equal(res.served_by, ROUTE_TO_EMBEDDED);
    assert_non_null(strstr(res.draft.why, "draft kept: confidence 0.95"));
    route_result_free(&res);
    assert_int_equal(exec("mix: a sure thing", false, &res), ROUTE_OK); /* kept, so cached */
    assert_true(res.cached && res.draft.cached && !res.draft.needs_enhancement);
    assert_int_equal(f.emb_calls, 1);
    assert_non_null(strstr(res.draft.why, "from the answer cache"));
    route_result_free(&res);
    assert_int_equal(f.ext_calls, 0);

    f.emb_mean = -2.0; /* confidence 0.14 */
    assert_int_equal(exec("mix: a guess", false, &res), ROUTE_OK);
    assert_true(res.draft.needs_enhancement && res.enhanced);
    assert_int_equal(res.served_by, ROUTE_TO_EXTERNAL);
    assert_string_equal(res.text, "remote answer from openai/gpt-4o");
    assert_string_equal(res.draft.text, "local answer from small");
    assert_non_null(strstr(f.last_ext_prompt, "Draft answer:\nlocal answer from small"));
    assert_non_null(strstr(res.draft.why, "enhanced by openai/gpt-4o: the draft needed it (confidence 0.14 "
                                          "(mean log-probability -2.000 nats/token) below the threshold 0.70)"));
    assert_true(res.attempts[0].low_confidence);
    route_result_free(&res);
    /* The weak draft was not cached: drafted again; the same draft's
     * enhancement is the same request, answered from the cache. */
    assert_int_equal(exec("mix: a guess", false, &res), ROUTE_OK);
    assert_false(res.attempts[0].cached);
    assert_true(res.enhanced && res.attempts[1].cached);
    route_result_free(&res);
    assert_int_equal(f.emb_calls, 3);
    assert_int_equal(f.ext_calls, 1);

    f.emb_mean = -0.01;
    f.emb_truncated = true; /* sure, but cut off */
    assert_int_equal(exec("mix: a long story", false, &res), ROUTE_OK);
    assert_true(res.enhanced && res.draft.judged.truncated);
    assert_non_null(strstr(res.draft.why, "; cut at the length limit"));
    route_result_free(&res);
    f.emb_truncated = false;
    f.emb_text = "I\xe2\x80\x99m sorry, I cannot help with that."; /* sure, but a refusal */
    assert_int_equal(exec("mix: something", false, &res), ROUTE_OK);
    assert_true(res.enhanced && res.draft.judged.refused);
    assert_non_null(strstr(res.draft.why, "opens like a refusal ('i'm sorry')"));
    route_result_free(&res);
    f.emb_text = "";
    assert_int_equal(exec("mix: nothing", false, &res), ROUTE_OK);
    assert_true(res.enhanced && res.draft.judged.empty);
    route_result_free(&res);
    f.emb_text = NULL;

    /* A per-model threshold: 0.14 is enough for a model calibrated lower. */
    f.emb_mean = -2.0;
    cfg->models[0].confidence_threshold = 0.1;
    assert_int_equal(exec("mix: calibrated", false, &res), ROUTE_OK);
    assert_false(res.enhanced);
    assert_true(res.draft.judged.threshold == 0.1);
    route_result_free(&res);
    cfg->models[0].confidence_threshold = -1;
    route_cache_free(rt.cache);
}

/* A weak draft that may not leave stands and says why; a weak local answer
 * that could not escalate is cached as the answer, but never served to a
 * request that could escalate. */
static void test_weak_but_local(void **state)
{
    rt.cache = route_cache_new(8);
    f.emb_logprob = true;
    f.emb_mean = -3.0;
    route_request rq = {.prompt = "mix: a secret plan"};
    route_decision d;
    route_result res;
    assert_int_equal(route_decide(cfg, &rq, NULL, &d, err, sizeof err), ROUTE_OK);
    assert_int_equal(d.target, ROUTE_TO_HYBRID);
    d.is_private = true;
    assert_int_equal(route_execute(cfg, &rq, &d, &backends, &rt, &res, err, sizeof err), ROUTE_OK);
    assert_false(res.enhanced);
    assert_int_equal(f.ext_calls, 0);
    assert_non_null(strstr(res.draft.why, "but the request is private: the draft stands"));
    route_result_free(&res);

    assert_int_equal(exec("local: what is this", true, &res), ROUTE_OK);
    assert_true(res.attempts[0].low_confidence);
    route_result_free(&res);
    assert_int_equal(exec("local: what is this", true, &res), ROUTE_OK);
    assert_true(res.cached); /* nowhere to escalate: the answer stands */
    route_result_free(&res);
    assert_int_equal(exec("local: what is this", false, &res), ROUTE_OK);
    assert_false(res.attempts[0].cached); /* this one may escalate, and does */
    assert_int_equal(res.served_by, ROUTE_TO_EXTERNAL);
    route_result_free(&res);
    assert_int_equal(f.emb_calls, 3);
    route_cache_free(rt.cache);
}

static void test_low_confidence_escalates(void **state)
{
    route_result res;
    f.emb_conf = 0.3; /* below fallback_threshold 0.7 */
    assert_int_equal(exec("local: what is this", false, &res), ROUTE_OK);
    assert_true(res.attempts[0].low_confidence);
    assert_int_equal(res.served_by, ROUTE_TO_EXTERNAL);
    route_result_free(&res);
    f.ext_fail = -1; /* nothing better comes: the local answer is served */
    assert_int_equal(exec("local: what is that", false, &res), ROUTE_OK);
    assert_string_equal(res.text, "local answer from small");
    route_result_free(&res);
}

static void test_bench_and_recover(void **state)
{
    route_result res;
    f.ext_fail = 3;
    for (int i = 0; i < 3; i++) {
        char p[64];
        snprintf(p, sizeof p, "remote %d", i);
        assert_int_equal(exec(p, false, &res), ROUTE_OK);
        assert_string_equal(res.attempts[0].provider, "openai");
        route_result_free(&res);
    }
    /* openai is benched: tried last, after the local fallback answers. */
    assert_int_equal(exec("remote 4", false, &res), ROUTE_OK);
    assert_int_equal(res.attempts[0].target, ROUTE_TO_EMBEDDED);
    route_result_free(&res);
    f.clock += ROUTE_BENCH_MS + 1;
    assert_int_equal(exec("remote 5", false, &res), ROUTE_OK);
    assert_string_equal(res.attempts[0].provider, "openai");
    assert_string_equal(res.text, "remote answer from openai/gpt-4o");
    route_result_free(&res);
}

static void test_caller_timeout_does_not_bench(void **state)
{
    route_result res;
    f.ext_fail = 5;
    f.ext_timeout = true;
    for (int i = 0; i < 5; i++) {
        char p[64];
        snprintf(p, sizeof p, "remote t%d", i);
        assert_int_equal(exec(p, false, &res), ROUTE_OK);
        assert_string_equal(res.attempts[0].provider, "openai");
        route_result_free(&res);
    }
}

static void test_exact_cache(void **state)
{
    rt.cache = route_cache_new(4);
    route_result res;
    assert_int_equal(exec("remote: same question", false, &res), ROUTE_OK);
    route_result_free(&res);
    assert_int_equal(exec("remote: same question", false, &res), ROUTE_OK);
    assert_true(res.cached);
    assert_int_equal(f.ext_calls, 1);
    assert_true(res.total_cost == 0);
    route_result_free(&res);
    assert_int_equal(exec("remote: same question!", false, &res), ROUTE_OK);
    assert_false(res.cached);
    assert_int_equal(f.ext_calls, 2);
    route_result_free(&res);
    f.clock += 3600 * 1000 + 1; /* the provider's cache_ttl_seconds default */
    assert_int_equal(exec("remote: same question", false, &res), ROUTE_OK);
    assert_false(res.cached);
    route_result_free(&res);
    for (int i = 0; i < 10; i++) {
        char p[64];
        snprintf(p, sizeof p, "remote: q%d", i);
        assert_int_equal(exec(p, false, &res), ROUTE_OK);
        route_result_free(&res);
    }
    assert_int_equal(rt.external.cache_hits, 1);
    assert_int_equal(ledger_count(), 13);
    assert_int_equal(ledger_counts().cached, 1); /* recorded at no cost, for savings */
    route_cache_free(rt.cache);
}

/* Two runtimes stand for two CLI runs: the second answers from the shared
 * folder, without a call and without a ledger record; the answer length,
 * the salt and the configured TTL are honoured. */
static void test_shared_cache(void **state)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%.*s/cache", (int)(strrchr(ledger, '/') - ledger), ledger);
    route_request rq = {.prompt = "local: what is a cat", .max_output_tokens = 8};
    route_decision d;
    route_result res;
    assert_int_equal(route_decide(cfg, &rq, NULL, &d, err, sizeof err), ROUTE_OK);
    for (int run = 0; run < 2; run++) {
        route_runtime r2 = {.cache_dir = dir, .ledger_path = ledger};
        assert_int_equal(route_execute(cfg, &rq, &d, &backends, &r2, &res, err, sizeof err), ROUTE_OK);
        assert_string_equal(res.text, "local answer from small");
        assert_int_equal(res.cached, run == 1);
        assert_int_equal(r2.embedded.cache_hits, run);
        route_result_free(&res);
    }
    assert_int_equal(f.emb_calls, 1);
    assert_int_equal(ledger_count(), 1);
    assert_int_equal(ledger_counts().cached, 1);
    route_runtime r3 = {.cache_dir = dir, .ledger_path = ledger};
    rq.max_output_tokens = 9; /* other parameters: another answer */
    assert_int_equal(route_execute(cfg, &rq, &d, &backends, &r3, &res, err, sizeof err), ROUTE_OK);
    assert_false(res.cached);
    route_result_free(&res);
    r3.cache_salt = "other model file";
    assert_int_equal(route_execute(cfg, &rq, &d, &backends, &r3, &res, err, sizeof err), ROUTE_OK);
    assert_false(res.cached);
    route_result_free(&res);
    assert_int_equal(f.emb_calls, 3);
    f.emb_conf = 0.1; /* below fallback_threshold: not cached */
    rq.max_output_tokens = 10;
    route_runtime r4 = {.cache_dir = dir};
    assert_int_equal(route_execute(cfg, &rq, &d, &backends, &r4, &res, err, sizeof err), ROUTE_OK);
    route_result_free(&res);
    assert_int_equal(route_execute(cfg, &rq, &d, &backends, &r4, &res, err, sizeof err), ROUTE_OK);
    assert_int_equal(res.attempts[0].target, ROUTE_TO_EMBEDDED);
    assert_false(res.attempts[0].cached); /* asked again, so it escalates again */
    assert_true(res.attempts[0].low_confidence);
    route_result_free(&res);
    assert_int_equal(f.emb_calls, 5);
    f.emb_conf = -1;
    cfg->models[0].enable_caching = false; /* off: neither read nor written */
    assert_int_equal(route_execute(cfg, &rq, &d, &backends, &r3, &res, err, sizeof err), ROUTE_OK);
    assert_false(res.cached);
    route_result_free(&res);
    cfg->models[0].enable_caching = true;
    cfg->models[0].cache_ttl_seconds = 0;
    assert_int_equal(route_execute(cfg, &rq, &d, &backends, &r3, &res, err, sizeof err), ROUTE_OK);
    assert_false(res.cached);
    route_result_free(&res);
    cfg->models[0].cache_ttl_seconds = 3600;
    assert_int_equal(f.emb_calls, 7);
}

/* Transient failures are retried on the same provider with doubling,
 * jittered waits or the provider's Retry-After; a wait past max_wait_ms or
 * a permanent failure moves on to the fallback at once. */
static void test_retries(void **state)
{
    route_result res;
    f.ext_fail = 2;
    f.ext_transient = true;
    assert_int_equal(exec("remote: flaky", false, &res), ROUTE_OK);
    assert_string_equal(res.text, "remote answer from openai/gpt-4o");
    assert_int_equal(res.n_attempts, 3);
    assert_int_equal(f.n_sleeps, 2);
    assert_true(f.slept[0] >= ROUTE_BACKOFF_MS / 2 && f.slept[0] <= ROUTE_BACKOFF_MS);
    assert_true(f.slept[1] >= ROUTE_BACKOFF_MS && f.slept[1] <= 2 * ROUTE_BACKOFF_MS);
    assert_non_null(strstr(res.attempts[0].error, "HTTP 503 from openai; retrying in"));
    assert_false(res.fell_back);
    route_result_free(&res);

    f = (fake){.emb_conf = -1, .ext_fail = 1, .ext_transient = true, .retry_after_ms = 2000};
    assert_int_equal(exec("remote: rate limited", false, &res), ROUTE_OK);
    assert_int_equal(f.n_sleeps, 1);
    assert_int_equal(f.slept[0], 2000);
    assert_int_equal(f.ext_calls, 2);
    route_result_free(&res);

    f = (fake){.emb_conf = -1, .ext_fail = 1, .ext_transient = true, .retry_after_ms = 60000};
    assert_int_equal(exec("remote: come back later", false, &res), ROUTE_OK);
    assert_int_equal(f.n_sleeps, 0);
    assert_string_equal(res.text, "local answer from small");
    assert_true(res.fell_back);
    assert_non_null(strstr(res.attempts[0].error, "waiting 60.0 s is more than allowed, moving on"));
    route_result_free(&res);

    f = (fake){.emb_conf = -1, .ext_fail = -1, .ext_transient = true};
    assert_int_equal(exec("remote: down", false, &res), ROUTE_OK);
    assert_int_equal(f.ext_calls, 1 + ROUTE_MAX_RETRIES); /* then the fallback */
    assert_string_equal(res.text, "local answer from small");
    route_result_free(&res);

    rt.n_health = 0; /* three failures in a row benched openai */
    f = (fake){.emb_conf = -1, .ext_fail = 1};
    assert_int_equal(exec("remote: bad key", false, &res), ROUTE_OK);
    assert_int_equal(f.ext_calls, 1);
    assert_int_equal(f.n_sleeps, 0);
    route_result_free(&res);
}

/* rate_limit_per_minute and max_concurrent_requests, through the shared
 * limits folder: over the limit the request waits when the wait is short,
 * else goes to the fallback with the reason in the attempt. */
static void test_local_limits(void **state)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%.*s/limits", (int)(strrchr(ledger, '/') - ledger), ledger);
    rt.limits_dir = dir;
    route_provider *p = &cfg->providers[0];
    long old_rate = p->rate_limit_per_minute;
    p->rate_limit_per_minute = 2;
    route_result res;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(exec("remote: limited", false, &res), ROUTE_OK);
        assert_string_equal(res.text, "remote answer from openai/gpt-4o");
        route_result_free(&res);
    }
    assert_int_equal(exec("remote: limited", false, &res), ROUTE_OK);
    assert_string_equal(res.text, "local answer from small");
    assert_int_equal(f.ext_calls, 2);
    assert_non_null(strstr(res.attempts[0].error, "local limit: at most 2 requests a minute to openai"));
    assert_non_null(strstr(res.attempts[0].error, "longer than the 5.0 s wait allowed; moving on"));
    assert_int_equal(rt.n_health ? rt.health[0].failures : 0, 0); /* not the provider's fault */
    route_result_free(&res);

    /* 1200 a minute: an empty bucket refills in 50 ms, worth waiting for (real time). */
    p->rate_limit_per_minute = 1200;
    rt.sleep_ms = NULL;
    int64_t wait;
    for (int i = 0; i < 1200; i++) route_rate_take(dir, "openai", 1200, 0, &wait, err, sizeof err);
    do
        assert_int_equal(route_rate_take(dir, "openai", 1200, INT64_MAX / 4, &wait, err, sizeof err), ROUTE_OK);
    while (!wait);
    assert_int_equal(exec("remote: wait a little", false, &res), ROUTE_OK);
    assert_string_equal(res.text, "remote answer from openai/gpt-4o");
    route_result_free(&res);
    rt.sleep_ms = fake_sleep;

    /* Every concurrency slot held elsewhere: wait max_wait_ms, then move on. */
    p->rate_limit_per_minute = 0;
    long old_conc = p->max_concurrent_requests;
    p->max_concurrent_requests = 1;
    int held;
    assert_int_equal(route_slot_take(dir, "openai", 1, &held, err, sizeof err), ROUTE_OK);
    assert_true(held >= 0);
    rt.max_wait_ms = 200;
    assert_int_equal(exec("remote: busy", false, &res), ROUTE_OK);
    assert_string_equal(res.text, "local answer from small");
    assert_non_null(strstr(res.attempts[0].error, "all 1 concurrent requests to openai"));
    route_result_free(&res);
    route_slot_release(held);
    assert_int_equal(exec("remote: busy", false, &res), ROUTE_OK);
    assert_string_equal(res.text, "remote answer from openai/gpt-4o");
    route_result_free(&res);
    p->enable_rate_limiting = false; /* off: limits ignored */
    p->rate_limit_per_minute = 1;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(exec("remote: unlimited", false, &res), ROUTE_OK);
        assert_string_equal(res.text, "remote answer from openai/gpt-4o");
        route_result_free(&res);
    }
    p->enable_rate_limiting = true;
    p->rate_limit_per_minute = old_rate;
    p->max_concurrent_requests = old_conc;
}

static void test_attempt_limit(void **state)
{
    static const char y[] = "ai_service:\n  external:\n    base_url: https://api.openai.com\n"
                            "  fallback: {max_fallback_attempts: 0}\n  routing: {routing_strategy: external_only}\n";
    route_config *c1;
    assert_int_equal(route_config_load_mem(y, sizeof y - 1, "t.yaml", &c1, err, sizeof err), ROUTE_OK);
    route_request rq = {.prompt = "hi"};
    route_decision d;
    route_result res;
    assert_int_equal(route_decide(c1, &rq, NULL, &d, err, sizeof err), ROUTE_OK);
    f.ext_fail = -1;
    assert_int_equal(route_execute(c1, &rq, &d, &backends, &rt, &res, err, sizeof err), ROUTE_ERR_BACKEND);
    assert_int_equal(res.n_attempts, 1);
    assert_int_equal(f.emb_calls, 0);
    assert_string_equal(err, "all 1 attempts failed; last: external gpt-4o: HTTP 503 from openai");
    route_result_free(&res);
    route_config_free(c1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_external_then_fallback, reset, cleanup),
        cmocka_unit_test_setup_teardown(test_private_never_leaves, reset, cleanup),
        cmocka_unit_test_setup_teardown(test_hybrid, reset, cleanup),
        cmocka_unit_test_setup_teardown(test_judge, reset, cleanup),
        cmocka_unit_test_setup_teardown(test_hybrid_draft_signals, reset, cleanup),
        cmocka_unit_test_setup_teardown(test_weak_but_local, reset, cleanup),
        cmocka_unit_test_setup_teardown(test_low_confidence_escalates, reset, cleanup),
        cmocka_unit_test_setup_teardown(test_bench_and_recover, reset, cleanup),
        cmocka_unit_test_setup_teardown(test_caller_timeout_does_not_bench, reset, cleanup),
        cmocka_unit_test_setup_teardown(test_exact_cache, reset, cleanup),
        cmocka_unit_test_setup_teardown(test_shared_cache, reset, cleanup),
        cmocka_unit_test_setup_teardown(test_retries, reset, cleanup),
        cmocka_unit_test_setup_teardown(test_local_limits, reset, cleanup),
        cmocka_unit_test_setup_teardown(test_attempt_limit, reset, cleanup),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
