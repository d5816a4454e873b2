/* Sampling, chat templates and generation: greedy decoding of the real
 * stories260K model against the reference continuation, seeded sampling
 * reproducible across runs and thread counts, stop strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "tests/testutil.h"

static eng_sampler *sampler(eng_sampler_params p, uint32_t n_vocab)
{
    eng_sampler *s = NULL;
    char err[256];
    if (eng_sampler_new(&s, &p, n_vocab, err, sizeof err) != ENG_OK)
        fail_msg("eng_sampler_new: %s", err);
    return s;
}

static void test_greedy_and_penalties(void **state)
{
    (void)state;
    eng_sampler_params p = eng_sampler_default_params();
    p.temp = 0.0f;
    float logits[4] = {0.5f, 2.0f, 1.9f, NAN};
    eng_sampler *s = sampler(p, 4);
    assert_int_equal(eng_sample(s, logits), 1);
    eng_sampler_free(s);

    p.repeat_penalty = 1.5f; /* 2.0 -> 1.33 after token 1 was seen */
    s = sampler(p, 4);
    eng_sampler_accept(s, 1);
    assert_int_equal(eng_sample(s, logits), 2);
    eng_sampler_free(s);

    p.repeat_penalty = 1.0f;
    p.presence_penalty = 0.2f;
    s = sampler(p, 4);
    eng_sampler_accept(s, 1);
    assert_int_equal(eng_sample(s, logits), 2);
    eng_sampler_free(s);

    p.presence_penalty = 0.0f;
    p.freq_penalty = 0.06f; /* 2.0 - 2 * 0.06 < 1.9 only after two */
    p.repeat_last_n = 2;
    s = sampler(p, 4);
    eng_sampler_accept(s, 1);
    assert_int_equal(eng_sample(s, logits), 1);
    eng_sampler_accept(s, 1);
    assert_int_equal(eng_sample(s, logits), 2);
    eng_sampler_accept(s, 0);
    eng_sampler_accept(s, 0); /* token 1 fell out of the window */
    assert_int_equal(eng_sample(s, logits), 1);
    eng_sampler_free(s);
}

static void test_distribution_and_filters(void **state)
{
    (void)state;
    eng_sampler_params p = eng_sampler_default_params();
    p.temp = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = 99;
    float logits[3] = {0.0f, logf(3.0f), -30.0f};
    eng_sampler *s = sampler(p, 3);
    int hits = 0;
    for (int i = 0; i < 4000; i++)
        hits += eng_sample(s, logits) == 1;
    eng_sampler_free(s);
    assert_true(hits > 2880 && hits < 3120); /* p = 0.75 */

    p.top_k = 1; /* only the best survives */
    s = sampler(p, 3);
    for (int i = 0; i < 100; i++)
        assert_int_equal(eng_sample(s, logits), 1);
    eng_sampler_free(s);

    p.top_k = 0;
    p.min_p = 0.5f; /* 0.25 < 0.5 * 0.75 */
    s = sampler(p, 3);
    for (int i = 0; i < 100; i++)
        assert_int_equal(eng_sample(s, logits), 1);
    eng_sampler_free(s);

    p.min_p = 0.0f;
    p.top_p = 0.7f; /* the best token alone covers 0.75 */
    s = sampler(p, 3);
    for (int i = 0; i < 100; i++)
        assert_int_equal(eng_sample(s, logits), 1);
    eng_sampler_free(s);

    char err[256];
    eng_sampler *bad = NULL;
    p.top_p = 1.5f;
    assert_int_equal(eng_sampler_new(&bad, &p, 3, err, sizeof err), ENG_ERANGE);
    assert_null(bad);
}

static void test_chat_templates(void **state)
{
    (void)state;
    const eng_chat_msg msgs[] = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello."},
                                 {"user", "Bye"}};
    static const struct {
        const char *name, *want;
    } cases[] = {
        {"chatml", "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                   "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
                   "<|im_start|>assistant\n"},
        {"llama2", "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello.</s><s>[INST] Bye [/INST]"},
        {"llama3", "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                   "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                   "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
                   "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
                   "<|start_header_id|>assistant<|end_header_id|>\n\n"},
        {"mistral", "[INST] Be brief.\n\nHi [/INST] Hello.</s><s>[INST] Bye [/INST]"},
        {"phi3", "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello.<|end|>\n"
                 "<|user|>\nBye<|end|>\n<|assistant|>\n"},
        {"gemma", "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n"
                  "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n"},
        {"zephyr", "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello.</s>\n"
                   "<|user|>\nBye</s>\n<|assistant|>\n"},
    };
    char err[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        eng_chat_tmpl t;
        assert_int_equal(eng_chat_template_by_name(cases[i].name, &t, err, sizeof err), ENG_OK);
        assert_string_equal(eng_chat_template_name(t), cases[i].name);
        char *out = NULL;
        assert_int_equal(eng_chat_render(t, msgs, 4, true, &out, err, sizeof err), ENG_OK);
        assert_string_equal(out, cases[i].want);
        free(out);
    }
    eng_chat_tmpl t;
    assert_int_equal(eng_chat_template_by_name("vicuna", &t, err, sizeof err), ENG_ETEMPLATE);
    assert_non_null(strstr(err, "unknown chat template 'vicuna'"));
    char *out = NULL;
    const eng_chat_msg bad = {"robot", "x"};
    assert_int_equal(eng_chat_render(ENG_CHAT_CHATML, &bad, 1, true, &out, err, sizeof err), ENG_ERANGE);
    assert_null(out);
}

static void test_chat_detect(void **state)
{
    (void)state;
    const char *fx = tu_fixtures();
    if (!fx)
        skip();
    static const struct {
        const char *file;
        eng_chat_tmpl want;
    } cases[] = {
        {"vocab/ggml-vocab-phi-3.gguf", ENG_CHAT_PHI3},     /* from tokenizer.chat_template */
        {"models/qwen2-tiny-f32.gguf", ENG_CHAT_CHATML},    /* from the architecture */
        {"models/gemma-tiny-f32.gguf", ENG_CHAT_GEMMA},
    };
    char path[1024], err[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gguf_file f;
        tu_path(path, sizeof path, fx, cases[i].file);
        assert_int_equal(gguf_open(&f, path, err, sizeof err), 0);
        eng_chat_tmpl t;
        assert_int_equal(eng_chat_template_detect(&f, &t, err, sizeof err), ENG_OK);
        assert_int_equal(t, cases[i].want);
        gguf_close(&f);
    }
    gguf_file f;
    tu_path(path, sizeof path, fx, "models/phi2-tiny-f32.gguf");
    assert_int_equal(gguf_open(&f, path, err, sizeof err), 0);
    eng_chat_tmpl t;
    assert_int_equal(eng_chat_template_detect(&f, &t, err, sizeof err), ENG_ETEMPLATE);
    assert_non_null(strstr(err, "--chat-template"));
    gguf_close(&f);
}

/* ---- generation ---- */

typedef struct collected {
    char text[4096];
    size_t len;
    int32_t tokens[256];
    size_t n_tokens;
} collected;

static int collect(void *ud, int32_t token, const char *text, size_t len)
{
    collected *c = ud;
    if (token >= 0 && c->n_tokens < 256)
        c->tokens[c->n_tokens++] = token;
    if (c->len + len < sizeof c->text) {
        memcpy(c->text + c->len, text, len);
        c->len += len;
        c->text[c->len] = 0;
    }
    return 0;
}

typedef struct run_opts {
    const char *model;
    const char *prompt;
    eng_sampler_params sp;
    uint32_t threads, max_tokens;
    const char *stop;
    eng_gen_stats *stats;
} run_opts;

static void run(const char *fx, const run_opts *o, collected *out)
{
    char path[1024], err[256];
    tu_path(path, sizeof path, fx, o->model);
    eng_model *m = NULL;
    assert_int_equal(eng_model_open(&m, path, err, sizeof err), ENG_OK);
    tok_vocab *v = NULL;
    assert_int_equal(tok_vocab_load(&v, eng_model_file(m), err, sizeof err), TOK_OK);
    eng_ctx_params cp = eng_ctx_default_params();
    cp.n_threads = o->threads;
    eng_ctx *c = NULL;
    assert_int_equal(eng_ctx_new(&c, m, &cp, err, sizeof err), ENG_OK);
    eng_sampler *s = sampler(o->sp, eng_model_hparams(m)->n_vocab);
    int32_t *ids = NULL;
    size_t n = 0;
    assert_int_equal(tok_encode(v, o->prompt, strlen(o->prompt), true, false, &ids, &n, err, sizeof err), TOK_OK);
    const char *stops[1] = {o->stop};
    eng_gen_params gp = {o->max_tokens, stops, o->stop ? 1 : 0, true, o->stats};
    memset(out, 0, sizeof *out);
    size_t n_gen = 0;
    int st = eng_generate(c, s, v, ids, n, &gp, collect, out, &n_gen, err, sizeof err);
    if (st != ENG_OK)
        fail_msg("eng_generate: %s", err);
    assert_true(n_gen <= o->max_tokens);
    free(ids);
    eng_sampler_free(s);
    eng_ctx_free(c);
    tok_vocab_free(v);
    eng_model_free(m);
}

static eng_sampler_params greedy(void)
{
    eng_sampler_params p = eng_sampler_default_params();
    p.temp = 0.0f;
    return p;
}

static void test_greedy_stories(void **state)
{
    (void)state;
    const char *fx = tu_fixtures();
    if (!fx)
        skip();
    char path[1024];
    size_t size;
    tu_path(path, sizeof path, fx, "models/stories260K.greedy48.txt");
    char *want = (char *)tu_read_file(path, &size);
    assert_non_null(want);
    while (size && (want[size - 1] == '\n' || want[size - 1] == ' '))
        want[--size] = 0;
    const char *prefix = " Once upon a time";
    assert_memory_equal(want, prefix, strlen(prefix));
    collected out;
    run_opts o = {"models/stories260K.gguf", "Once upon a time", greedy(), 1, 48, NULL, NULL};
    run(fx, &o, &out);
    assert_int_equal(out.n_tokens, 48);
    assert_string_equal(out.text, want + strlen(prefix));

    /* a stop string ends the text right before it */
    o.stop = "Lily";
    run(fx, &o, &out);
    assert_string_equal(out.text, ", there was a little girl named ");
    free(want);
}

static void test_seeded_reproducible(void **state)
{
    (void)state;
    const char *fx = tu_fixtures();
    if (!fx)
        skip();
    eng_sampler_params p = eng_sampler_default_params();
    p.seed = 1234;
    p.temp = 1.0f;
    p.repeat_penalty = 1.1f;
    collected a, b, c;
    run_opts o = {"models/llama-tiny-f32.gguf", "abc", p, 1, 40, NULL, NULL};
    run(fx, &o, &a);
    run(fx, &o, &b);
    o.threads = 2;
    run(fx, &o, &c);
    assert_int_equal(a.n_tokens, 40);
    assert_memory_equal(a.tokens, b.tokens, sizeof a.tokens);
    assert_memory_equal(a.tokens, c.tokens, sizeof a.tokens);
    assert_string_equal(a.text, c.text);
    o.sp.seed = 4321;
    run(fx, &o, &b);
    assert_memory_not_equal(a.tokens, b.tokens, sizeof a.tokens);
}

static void test_logprob(void **state)
{
    (void)state;
    float logits[3] = {0.0f, logf(3.0f), -30.0f};
    assert_true(fabs(eng_logprob(logits, 3, 1) - log(0.75)) < 1e-6);
    assert_true(fabs(eng_logprob(logits, 3, 0) - log(0.25)) < 1e-6);
    assert_true(fabs(eng_logprob(logits, 3, 2) - (-30.0 + log(0.25))) < 1e-4);
    float big[2] = {1000.0f, 1000.0f}; /* no overflow */
    assert_true(fabs(eng_logprob(big, 2, 1) - log(0.5)) < 1e-6);
    assert_true(isnan(eng_logprob(logits, 3, 3)));
    assert_true(isnan(eng_logprob(logits, 3, -1)));
    float bad[2] = {NAN, 1.0f};
    assert_true(isnan(eng_logprob(bad, 2, 1)));
}

/* The log-probability of each generated token under the model's own
 * distribution: the same as scoring the text afterwards in one batch. */
static double rescore(const char *fx, const char *prompt, const collected *out)
{
    char path[1024], err[256];
    tu_path(path, sizeof path, fx, "models/stories260K.gguf");
    eng_model *m = NULL;
    assert_int_equal(eng_model_open(&m, path, err, sizeof err), ENG_OK);
    tok_vocab *v = NULL;
    assert_int_equal(tok_vocab_load(&v, eng_model_file(m), err, sizeof err), TOK_OK);
    eng_ctx_params cp = eng_ctx_default_params();
    eng_ctx *c = NULL;
    assert_int_equal(eng_ctx_new(&c, m, &cp, err, sizeof err), ENG_OK);
    int32_t *ids = NULL, all[512];
    size_t n = 0;
    assert_int_equal(tok_encode(v, prompt, strlen(prompt), true, false, &ids, &n, err, sizeof err), TOK_OK);
    assert_true(n + out->n_tokens <= 512);
    memcpy(all, ids, n * sizeof *ids);
    memcpy(all + n, out->tokens, out->n_tokens * sizeof *ids);
    assert_int_equal(eng_eval(c, all, n + out->n_tokens, true, err, sizeof err), ENG_OK);
    double sum = 0.0;
    for (size_t i = 0; i < out->n_tokens; i++)
        sum += eng_logprob(eng_logits(c, n - 1 + i), eng_model_hparams(m)->n_vocab, out->tokens[i]);
    free(ids);
    eng_ctx_free(c);
    tok_vocab_free(v);
    eng_model_free(m);
    return sum;
}

static int stop_after_three(void *ud, int32_t token, const char *text, size_t len)
{
    (void)text;
    (void)len;
    return token >= 0 && ++*(int *)ud == 3;
}

static void test_gen_stats(void **state)
{
    (void)state;
    const char *fx = tu_fixtures();
    if (!fx)
        skip();
    eng_gen_stats st;
    collected out;
    run_opts o = {"models/stories260K.gguf", "Once upon a time", greedy(), 1, 48, NULL, &st};
    run(fx, &o, &out);
    assert_int_equal(st.stop, ENG_STOP_MAX_TOKENS);
    assert_int_equal(st.n_tokens, 48);
    assert_true(isfinite(st.sum_logprob) && st.sum_logprob < 0.0);
    assert_true(fabs(st.sum_logprob - rescore(fx, o.prompt, &out)) < 1e-3 * 48);

    /* Sampled hot: still the model's own probabilities at temperature 1. */
    o.sp = eng_sampler_default_params();
    o.sp.temp = 1.8f;
    o.sp.top_k = 0;
    o.sp.seed = 7;
    eng_gen_stats hot;
    o.stats = &hot;
    run(fx, &o, &out);
    assert_true(fabs(hot.sum_logprob - rescore(fx, o.prompt, &out)) < 1e-3 * 48);
    assert_true(hot.sum_logprob < st.sum_logprob); /* greedy text is the likelier one */

    o.sp = greedy();
    o.stats = &st;
    o.stop = "Lily";
    run(fx, &o, &out);
    assert_int_equal(st.stop, ENG_STOP_STRING);
    assert_int_equal(st.n_tokens, out.n_tokens);

    /* The callback asks to stop. */
    char path[1024], err[256];
    tu_path(path, sizeof path, fx, "models/stories260K.gguf");
    eng_model *m = NULL;
    assert_int_equal(eng_model_open(&m, path, err, sizeof err), ENG_OK);
    eng_ctx_params cp = eng_ctx_default_params();
    eng_ctx *c = NULL;
    assert_int_equal(eng_ctx_new(&c, m, &cp, err, sizeof err), ENG_OK);
    eng_sampler *s = sampler(greedy(), eng_model_hparams(m)->n_vocab);
    int32_t ids[2] = {1, 400};
    int seen = 0;
    eng_gen_params gp = {.max_tokens = 10, .stats = &st};
    assert_int_equal(eng_generate(c, s, NULL, ids, 2, &gp, stop_after_three, &seen, NULL, err, sizeof err), ENG_OK);
    assert_int_equal(st.stop, ENG_STOP_CALLER);
    assert_int_equal(st.n_tokens, 3);
    eng_sampler_free(s);
    eng_ctx_free(c);
    eng_model_free(m);
}

static void test_prompt_too_long(void **state)
{
    (void)state;
    const char *fx = tu_fixtures();
    if (!fx)
        skip();
    char path[1024], err[256];
    tu_path(path, sizeof path, fx, "models/stories260K.gguf");
    eng_model *m = NULL;
    assert_int_equal(eng_model_open(&m, path, err, sizeof err), ENG_OK);
    eng_ctx_params cp = eng_ctx_default_params();
    cp.n_ctx = 4;
    eng_ctx *c = NULL;
    assert_int_equal(eng_ctx_new(&c, m, &cp, err, sizeof err), ENG_OK);
    eng_sampler *s = sampler(greedy(), eng_model_hparams(m)->n_vocab);
    int32_t ids[5] = {1, 2, 3, 4, 5};
    assert_int_equal(eng_generate(c, s, NULL, ids, 5, NULL, NULL, NULL, NULL, err, sizeof err), ENG_ECTX);
    assert_non_null(strstr(err, "context of 4"));
    /* generation stops at the end of the context */
    size_t n = 0;
    eng_gen_stats st;
    eng_gen_params gp = {.stats = &st};
    assert_int_equal(eng_generate(c, s, NULL, ids, 2, &gp, NULL, NULL, &n, err, sizeof err), ENG_OK);
    assert_int_equal(n, 3);
    assert_int_equal(st.stop, ENG_STOP_CONTEXT);
    assert_int_equal(st.n_tokens, 3);
    eng_sampler_free(s);
    eng_ctx_free(c);
    eng_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_and_penalties),
        cmocka_unit_test(test_distribution_and_filters),
        cmocka_unit_test(test_chat_templates),
        cmocka_unit_test(test_chat_detect),
        cmocka_unit_test(test_greedy_stories),
        cmocka_unit_test(test_seeded_reproducible),
        cmocka_unit_test(test_logprob),
        cmocka_unit_test(test_gen_stats),
        cmocka_unit_test(test_prompt_too_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
