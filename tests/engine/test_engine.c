/* Engine conformance: every fixture model's logits against the reference
 * engine's, batch vs token-by-token decoding, thread-count determinism, and
 * eng_check on broken models. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "engine/engine_internal.h"
#include "tests/testutil.h"

typedef struct ref_logits {
    int32_t n_tokens, n_vocab;
    int32_t *tokens;
    float *logits;
    uint8_t *raw;
} ref_logits;

static int load_ref(const char *path, ref_logits *r)
{
    size_t size;
    memset(r, 0, sizeof *r);
    r->raw = tu_read_file(path, &size);
    if (!r->raw || size < 8)
        return -1;
    memcpy(&r->n_tokens, r->raw, 4);
    memcpy(&r->n_vocab, r->raw + 4, 4);
    size_t want = 8 + 4 * (size_t)r->n_tokens + 4 * (size_t)r->n_tokens * (size_t)r->n_vocab;
    if (r->n_tokens <= 0 || r->n_vocab <= 0 || size != want)
        return -1;
    r->tokens = malloc(4 * (size_t)r->n_tokens);
    r->logits = malloc(4 * (size_t)r->n_tokens * (size_t)r->n_vocab);
    memcpy(r->tokens, r->raw + 8, 4 * (size_t)r->n_tokens);
    memcpy(r->logits, r->raw + 8 + 4 * (size_t)r->n_tokens, 4 * (size_t)r->n_tokens * (size_t)r->n_vocab);
    return 0;
}

static void free_ref(ref_logits *r)
{
    free(r->raw);
    free(r->tokens);
    free(r->logits);
}

static size_t argmax(const float *x, size_t n)
{
    size_t b = 0;
    for (size_t i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

/* Our arg-max is the reference's, or a near tie in the reference itself
 * (its logit there within 1e-3 of its best), which the order of a float
 * sum decides: phi2-tiny-f32's token 13 has its two best 0.0003 apart. */
static bool argmax_agrees(const float *ours, const float *ref, size_t n)
{
    size_t a = argmax(ours, n), b = argmax(ref, n);
    return a == b || ref[b] - ref[a] <= 1e-3f;
}

static eng_ctx *new_ctx_set(const eng_model *m, uint32_t threads, bool reference, const kern_cpu *set)
{
    eng_ctx_params p = eng_ctx_default_params();
    p.n_threads = threads;
    p.reference = reference;
    p.cpu = set;
    eng_ctx *c = NULL;
    char err[256];
    int st = eng_ctx_new(&c, m, &p, err, sizeof err);
    if (st != ENG_OK)
        fail_msg("eng_ctx_new: %s", err);
    return c;
}

static eng_ctx *new_ctx(const eng_model *m, uint32_t threads)
{
    return new_ctx_set(m, threads, false, NULL);
}

static eng_model *open_model(const char *dir, const char *rel)
{
    char path[1024], err[256];
    tu_path(path, sizeof path, dir, rel);
    eng_model *m = NULL;
    if (eng_model_open(&m, path, err, sizeof err) != ENG_OK)
        fail_msg("%s: %s", rel, err);
    return m;
}

/* Evaluate toks as one batch (2 threads) and one by one (1 thread);
 * the largest and mean absolute difference of their logits. */
static void batch_vs_decode(const eng_model *m, const int32_t *toks, size_t n, double *maxd, double *mean)
{
    char err[256];
    size_t V = eng_model_hparams(m)->n_vocab;
    eng_ctx *cb = new_ctx(m, 2), *cd = new_ctx(m, 1);
    assert_int_equal(eng_eval(cb, toks, n, true, err, sizeof err), ENG_OK);
    double sum = 0.0;
    *maxd = 0.0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(eng_eval(cd, &toks[i], 1, false, err, sizeof err), ENG_OK);
        const float *a = eng_logits(cb, i), *b = eng_logits(cd, 0);
        for (size_t j = 0; j < V; j++) {
            double d = fabs((double)a[j] - b[j]);
            sum += d;
            *maxd = d > *maxd ? d : *maxd;
        }
    }
    assert_int_equal(eng_ctx_n_past(cd), (uint32_t)n);
    *mean = sum / ((double)n * (double)V);
    eng_ctx_free(cb);
    eng_ctx_free(cd);
}

static bool plain_float_type(const char *name)
{
    return strstr(name, "-f32.") || strstr(name, "-f16.") || strstr(name, "-bf16.");
}

/* One model against its .logits: the acceptance bar of the issue, with
 * the fast kernels, the reference path, or a chosen kernel set. */
static void check_model(const char *dir, const char *name, bool reference, const kern_cpu *set)
{
    char path[1024], lpath[1024], err[256];
    tu_path(path, sizeof path, dir, name);
    snprintf(lpath, sizeof lpath, "%.*s.logits", (int)(strlen(path) - 5), path);
    ref_logits r;
    assert_int_equal(load_ref(lpath, &r), 0);
    eng_model *m = open_model(dir, name);
    assert_int_equal((int)eng_model_hparams(m)->n_vocab, r.n_vocab);
    eng_ctx *c1 = new_ctx_set(m, 1, reference, set), *c2 = new_ctx_set(m, 2, reference, set);
    assert_int_equal(eng_eval(c1, r.tokens, (size_t)r.n_tokens, true, err, sizeof err), ENG_OK);
    assert_int_equal(eng_eval(c2, r.tokens, (size_t)r.n_tokens, true, err, sizeof err), ENG_OK);
    size_t V = (size_t)r.n_vocab, agree = 0;
    double maxd = 0.0, sumd = 0.0;
    for (int32_t i = 0; i < r.n_tokens; i++) {
        const float *ours = eng_logits(c1, (size_t)i), *ref = r.logits + (size_t)i * V;
        assert_non_null(ours);
        assert_memory_equal(ours, eng_logits(c2, (size_t)i), V * sizeof(float));
        agree += argmax_agrees(ours, ref, V);
        for (size_t j = 0; j < V; j++) {
            double d = fabs((double)ours[j] - (double)ref[j]);
            maxd = d > maxd ? d : maxd;
            sumd += d;
        }
    }
    double mean = sumd / ((double)r.n_tokens * (double)V);
    printf("  %-26s %-9s argmax %2zu/%d  max|d| %.4f  mean|d| %.5f\n", name,
           reference ? "reference" : set ? kern_cpu_name(set) : "fast", agree, r.n_tokens, maxd, mean);
    if (plain_float_type(name)) {
        assert_int_equal(agree, (size_t)r.n_tokens);
        assert_true(maxd <= 0.03);
    } else {
        assert_true(agree * 100 >= (size_t)r.n_tokens * 85);
        assert_true(mean <= 0.03);
        assert_true(maxd <= 0.25);
    }
    eng_ctx_free(c1);
    eng_ctx_free(c2);
    eng_model_free(m);
    free_ref(&r);
}

static void test_conformance(void **state)
{
    (void)state;
    const char *fx = tu_fixtures();
    if (!fx)
        skip();
    char dir[1024];
    tu_path(dir, sizeof dir, fx, "models");
    char **names;
    size_t n = tu_list(dir, ".gguf", &names), tested = 0;
    for (size_t i = 0; i < n; i++) {
        char lp[1024], full[1024];
        tu_path(full, sizeof full, dir, names[i]);
        snprintf(lp, sizeof lp, "%.*s.logits", (int)(strlen(full) - 5), full);
        FILE *f = fopen(lp, "rb");
        if (!f)
            continue; /* stories260K has no logits */
        fclose(f);
        check_model(dir, names[i], false, NULL);
        check_model(dir, names[i], true, NULL);
        /* the AVX2 set too where the fastest is another (it reads the
         * weights the model packed for that one) */
        kern_cpu best, avx2;
        kern_cpu_detect(&best);
        if (best.isa != KERN_ISA_AVX2 && kern_cpu_select(&avx2, KERN_ISA_AVX2, NULL, 0) == KERN_OK)
            check_model(dir, names[i], false, &avx2);
        tested++;
    }
    tu_free_names(names, n);
    assert_true(tested >= 25);
}

/* Decoding one token at a time through the KV cache gives the batch's
 * logits: the fixtures' 20 tokens, and 140 tokens (a full chunk, where F32
 * weights go through BLAS, then a partial one). */
static void test_decode_matches_batch(void **state)
{
    (void)state;
    const char *fx = tu_fixtures();
    if (!fx)
        skip();
    const char *models[] = {"models/llama-tiny-f32.gguf", "models/qwen2-tiny-q8_0.gguf",
                            "models/phi2-tiny-f32.gguf", "models/phi3-tiny-q4_k_m.gguf",
                            "models/gemma-tiny-f32.gguf"};
    const int32_t fixture_toks[20] = {1, 300, 17, 45, 260, 499, 3, 88, 120, 305,
                                      77, 1, 411, 230, 5, 67, 299, 100, 42, 7};
    int32_t long_toks[140];
    for (int i = 0; i < 140; i++)
        long_toks[i] = (i * 37 + 11) % 512;
    for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) {
        eng_model *m = open_model(fx, models[k]);
        double maxd, mean;
        batch_vs_decode(m, fixture_toks, 20, &maxd, &mean);
        assert_true(maxd < 1e-3);
        batch_vs_decode(m, long_toks, 140, &maxd, &mean);
        printf("  %s: batch of 140 vs one by one: max|d| %.5f mean|d| %.6f\n", models[k], maxd, mean);
        assert_true(maxd < 5e-3);
        eng_model_free(m);
    }
}

/* A fixture of each kernel path: legacy quants (Q8_0, Q4_0), K-quants
 * (Q4_K_M) and F32. */
static const char *const path_models[] = {"models/qwen2-tiny-q8_0.gguf", "models/phi3-tiny-q4_k_m.gguf",
                                          "models/llama-tiny-q4_0.gguf", "models/llama-tiny-f32.gguf"};
#define N_PATH_MODELS (sizeof path_models / sizeof path_models[0])

/* Forty token ids below 512: (a i + b) mod 512. */
static void prompt40(int32_t *toks, int a, int b)
{
    for (int i = 0; i < 40; i++)
        toks[i] = (i * a + b) % 512;
}

/* A context's batch size changes how many tokens go through the model
 * together, not what they give: 40 tokens in batches of 7 against one
 * batch of 40. Quantized weights give the same bits (every kernel path
 * sums a token alike); F32 weights take BLAS from 32 tokens, so there the
 * sums' order differs. A batch longer than the context is cut to it. */
static void test_batch_size(void **state)
{
    (void)state;
    const char *fx = tu_fixtures();
    if (!fx)
        skip();
    int32_t toks[40];
    prompt40(toks, 53, 7);
    char err[256];
    for (size_t k = 0; k < N_PATH_MODELS; k++) {
        eng_model *m = open_model(fx, path_models[k]);
        size_t V = eng_model_hparams(m)->n_vocab;
        eng_ctx_params p = eng_ctx_default_params();
        p.n_threads = 2;
        p.n_ctx = 64;
        eng_ctx *whole = NULL, *small = NULL, *capped = NULL;
        assert_int_equal(eng_ctx_new(&whole, m, &p, err, sizeof err), ENG_OK);
        assert_int_equal(eng_ctx_n_batch(whole), 64); /* the default 128, cut to the context */
        p.n_batch = 7;
        assert_int_equal(eng_ctx_new(&small, m, &p, err, sizeof err), ENG_OK);
        assert_int_equal(eng_ctx_n_batch(small), 7);
        p.n_batch = 1000;
        assert_int_equal(eng_ctx_new(&capped, m, &p, err, sizeof err), ENG_OK);
        assert_int_equal(eng_ctx_n_batch(capped), 64);
        assert_int_equal(eng_eval(whole, toks, 40, true, err, sizeof err), ENG_OK);
        assert_int_equal(eng_eval(small, toks, 40, true, err, sizeof err), ENG_OK);
        assert_int_equal(eng_ctx_n_past(small), 40);
        double maxd = 0.0;
        for (size_t i = 0; i < 40; i++)
            for (size_t j = 0; j < V; j++) {
                double d = fabs((double)eng_logits(whole, i)[j] - eng_logits(small, i)[j]);
                maxd = d > maxd ? d : maxd;
            }
        printf("  %s: batches of 7 vs one of 40: max|d| %.6f\n", path_models[k], maxd);
        if (strstr(path_models[k], "f32"))
            assert_true(maxd < 5e-3);
        else
            assert_true(maxd == 0.0);
        eng_ctx_free(whole);
        eng_ctx_free(small);
        eng_ctx_free(capped);
        eng_model_free(m);
    }
}

static void test_context_overflow(void **state)
{
    (void)state;
    const char *fx = tu_fixtures();
    if (!fx)
        skip();
    char err[256];
    eng_model *m = open_model(fx, "models/llama-tiny-f32.gguf");
    eng_ctx_params p = eng_ctx_default_params();
    p.n_ctx = 8;
    p.kv_type = ENG_KV_F32;
    eng_ctx *c = NULL;
    assert_int_equal(eng_ctx_new(&c, m, &p, err, sizeof err), ENG_OK);
    int32_t toks[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    assert_int_equal(eng_eval(c, toks, 9, false, err, sizeof err), ENG_ECTX);
    assert_non_null(strstr(err, "context of 8"));
    assert_int_equal(eng_ctx_n_past(c), 0);
    int32_t bad = 512;
    assert_int_equal(eng_eval(c, &bad, 1, false, err, sizeof err), ENG_ERANGE);
    assert_int_equal(eng_eval(c, toks, 8, false, err, sizeof err), ENG_OK);
    assert_int_equal(eng_eval(c, toks, 1, false, err, sizeof err), ENG_ECTX);
    eng_ctx_reset(c);
    assert_int_equal(eng_eval(c, toks, 1, false, err, sizeof err), ENG_OK);
    eng_ctx_free(c);
    eng_model_free(m);
}

/* Contexts on a pool the caller owns, one after another on the same pool,
 * give the bits of a context with threads of its own; the pool outlives
 * them and still runs jobs. */
static void test_caller_pool(void **state)
{
    (void)state;
    const char *fx = tu_fixtures();
    if (!fx)
        skip();
    char err[256];
    eng_model *m = open_model(fx, "models/qwen2-tiny-q8_0.gguf");
    size_t V = eng_model_hparams(m)->n_vocab;
    const int32_t toks[6] = {1, 300, 17, 45, 260, 499};
    eng_ctx *own = new_ctx(m, 2);
    assert_int_equal(eng_eval(own, toks, 6, false, err, sizeof err), ENG_OK);
    kern_pool *pool = NULL;
    assert_int_equal(kern_pool_new(&pool, 2, err, sizeof err), KERN_OK);
    eng_ctx_params p = eng_ctx_default_params();
    p.pool = pool;
    p.n_threads = 7; /* ignored: the pool's threads run it */
    for (int k = 0; k < 2; k++) {
        eng_ctx *c = NULL;
        assert_int_equal(eng_ctx_new(&c, m, &p, err, sizeof err), ENG_OK);
        /* the prompt in one batch, then one token at a time */
        assert_int_equal(eng_eval(c, toks, 3, false, err, sizeof err), ENG_OK);
        for (int i = 3; i < 6; i++)
            assert_int_equal(eng_eval(c, &toks[i], 1, false, err, sizeof err), ENG_OK);
        eng_ctx_reset(c);
        assert_int_equal(eng_eval(c, toks, 6, false, err, sizeof err), ENG_OK);
        assert_memory_equal(eng_logits(c, 0), eng_logits(own, 0), V * sizeof(float));
        eng_ctx_free(c);
    }
    /* a plain job on the pool after both contexts are gone */
    uint64_t probe[4096];
    memset(probe, 1, sizeof probe);
    kern_cpu cpu;
    kern_cpu_detect(&cpu);
    for (unsigned way = 0; way < KERN_READ_WAYS; way++) {
        assert_true(kern_read_pass(pool, &cpu, probe, sizeof probe, way) >= 0.0);
        assert_true(kern_read_pass(pool, NULL, probe, sizeof probe, way) >= 0.0);
    }
    kern_pool_free(pool);
    eng_ctx_free(own);
    eng_model_free(m);
}

/* The memory a bandwidth probe reads for a token: the packed weights, in
 * the order a token's products read them (each layer's q|k|v, o, gate|up
 * and down, then the output head), where the kernels pack; else the
 * file's tensor data. */
static void test_stream(void **state)
{
    (void)state;
    const char *fx = tu_fixtures();
    if (!fx)
        skip();
    eng_model *m = open_model(fx, "models/llama-tiny-q4_0.gguf");
    const gguf_file *f = eng_model_file(m);
    kern_cpu cpu;
    size_t bytes = 0;
    assert_int_equal(kern_cpu_select(&cpu, KERN_ISA_PORTABLE, NULL, 0), KERN_OK);
    assert_ptr_equal(eng_model_stream(m, &cpu, &bytes), f->base + f->data_offset);
    assert_int_equal(bytes, f->size - f->data_offset);
    kern_cpu_detect(&cpu);
    const uint8_t *s = eng_model_stream(m, &cpu, &bytes);
    if (!eng_packed_for(m, &cpu)) {
        assert_ptr_equal(s, f->base + f->data_offset);
        eng_model_free(m);
        return;
    }
    const uint8_t *at = s;
    for (uint32_t l = 0; l < m->hp.n_layer; l++) {
        const eng_layer *L = &m->layers[l];
        const void *order[] = {L->pk_qkv, eng_packed(m, &cpu, L->wo), L->pk_gate_up,
                               eng_packed(m, &cpu, L->w_down)};
        for (size_t i = 0; i < 4; i++) {
            assert_non_null(order[i]);
            assert_true((const uint8_t *)order[i] >= at);
            at = order[i];
        }
    }
    const uint8_t *out = eng_packed(m, &cpu, m->output);
    assert_true(out > at);
    assert_int_equal(out + kern_pack_size(&cpu, m->output->type, m->output->ne[0], m->output->ne[1]), s + bytes);
    eng_model_free(m);
}

/* The stack engine.h promises a thread that calls eng_eval (ASan's
 * redzones need more). */
#ifdef __SANITIZE_ADDRESS__
#define CALLER_STACK (512u << 10)
#else
#define CALLER_STACK (128u << 10)
#endif

typedef struct stack_run {
    eng_ctx *ctx;
    const int32_t *toks;
    size_t n;
    int st;
} stack_run;

static void *eval_on_thread(void *arg)
{
    stack_run *r = arg;
    char err[256];
    r->st = eng_eval(r->ctx, r->toks, r->n, true, err, sizeof err);
    return NULL;
}

/* A prompt (tiles of 16 tokens and more) evaluated from a thread of
 * CALLER_STACK bytes, its pool's workers on KERN_POOL_STACK, gives the
 * bits it gets on the main thread: legacy, K-quant and F32 weights. */
static void test_bounded_stack(void **state)
{
    (void)state;
    const char *fx = tu_fixtures();
    if (!fx)
        skip();
    int32_t toks[40];
    prompt40(toks, 37, 11);
    char err[256];
    for (size_t k = 0; k < N_PATH_MODELS; k++) {
        eng_model *m = open_model(fx, path_models[k]);
        size_t V = eng_model_hparams(m)->n_vocab;
        eng_ctx *main_ctx = new_ctx(m, 2), *thread_ctx = new_ctx(m, 2);
        assert_int_equal(eng_eval(main_ctx, toks, 40, true, err, sizeof err), ENG_OK);
        stack_run r = {thread_ctx, toks, 40, -1};
        pthread_attr_t attr;
        pthread_t th;
        assert_int_equal(pthread_attr_init(&attr), 0);
        assert_int_equal(pthread_attr_setstacksize(&attr, CALLER_STACK), 0);
        assert_int_equal(pthread_create(&th, &attr, eval_on_thread, &r), 0);
        assert_int_equal(pthread_join(th, NULL), 0);
        pthread_attr_destroy(&attr);
        assert_int_equal(r.st, ENG_OK);
        for (size_t i = 0; i < 40; i++)
            assert_memory_equal(eng_logits(thread_ctx, i), eng_logits(main_ctx, i), V * sizeof(float));
        eng_ctx_free(main_ctx);
        eng_ctx_free(thread_ctx);
        eng_model_free(m);
    }
}

/* ---- eng_check on synthetic broken models ---- */

typedef struct problems {
    int n;
    char text[4096];
} problems;

static void collect(void *ud, const char *p)
{
    problems *ps = ud;
    ps->n++;
    size_t used = strlen(ps->text);
    snprintf(ps->text + used, sizeof ps->text - used, "%s\n", p);
}

static void add_tensor(gguf_writer *w, const char *name, uint64_t ne0, uint64_t ne1)
{
    uint64_t ne[2] = {ne0, ne1};
    float *data = calloc((size_t)(ne0 * ne1), sizeof(float));
    assert_int_equal(gguf_writer_tensor(w, name, GGUF_T_F32, ne1 > 1 ? 2 : 1, ne, data), 0);
    free(data);
}

static int check_mem(gguf_writer *w, problems *ps)
{
    uint8_t *buf;
    size_t size;
    assert_int_equal(gguf_writer_finish(w, &buf, &size), 0);
    gguf_file f;
    char err[256];
    assert_int_equal(gguf_open_mem(&f, buf, size, "broken.gguf", err, sizeof err), 0);
    memset(ps, 0, sizeof *ps);
    int n = eng_check(&f, collect, ps);
    gguf_close(&f);
    free(buf);
    return n;
}

static void test_check_reports_every_problem(void **state)
{
    (void)state;
    gguf_writer *w = gguf_writer_new(32);
    gguf_writer_str(w, "general.architecture", "llama");
    gguf_writer_u32(w, "llama.block_count", 1);
    gguf_writer_u32(w, "llama.embedding_length", 32);
    gguf_writer_u32(w, "llama.feed_forward_length", 64);
    gguf_writer_u32(w, "llama.attention.head_count", 4);
    add_tensor(w, "token_embd.weight", 32, 16);
    add_tensor(w, "output_norm.weight", 32, 1);
    add_tensor(w, "blk.0.attn_norm.weight", 32, 1);
    add_tensor(w, "blk.0.attn_q.weight", 32, 32);
    add_tensor(w, "blk.0.attn_k.weight", 32, 16); /* wrong: 32 outputs */
    add_tensor(w, "blk.0.attn_output.weight", 32, 32);
    add_tensor(w, "blk.0.ffn_norm.weight", 32, 1);
    add_tensor(w, "blk.0.ffn_gate.weight", 32, 64);
    add_tensor(w, "blk.0.ffn_up.weight", 32, 64);
    /* attn_v and ffn_down are missing */
    problems ps;
    int n = check_mem(w, &ps);
    gguf_writer_free(w);
    assert_int_equal(n, 3);
    assert_int_equal(ps.n, 3);
    assert_non_null(strstr(ps.text, "blk.0.attn_k.weight has shape [32, 16], expected [32, 32]"));
    assert_non_null(strstr(ps.text, "blk.0.attn_v.weight is missing"));
    assert_non_null(strstr(ps.text, "blk.0.ffn_down.weight is missing"));
}

static void test_check_unsupported_arch(void **state)
{
    (void)state;
    gguf_writer *w = gguf_writer_new(32);
    gguf_writer_str(w, "general.architecture", "mamba");
    problems ps;
    assert_int_equal(check_mem(w, &ps), ENG_EUNSUPPORTED);
    gguf_writer_free(w);
    assert_non_null(strstr(ps.text, "'mamba' is not supported"));
}

static void test_check_fixtures_clean(void **state)
{
    (void)state;
    const char *fx = tu_fixtures();
    if (!fx)
        skip();
    char dir[1024];
    tu_path(dir, sizeof dir, fx, "models");
    char **names;
    size_t n = tu_list(dir, ".gguf", &names);
    for (size_t i = 0; i < n; i++) {
        char path[1024], err[256];
        gguf_file f;
        tu_path(path, sizeof path, dir, names[i]);
        assert_int_equal(gguf_open(&f, path, err, sizeof err), 0);
        problems ps = {0};
        int np = eng_check(&f, collect, &ps);
        if (np != 0)
            fail_msg("%s: %s", names[i], ps.text);
        gguf_close(&f);
    }
    tu_free_names(names, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conformance),
        cmocka_unit_test(test_decode_matches_batch),
        cmocka_unit_test(test_batch_size),
        cmocka_unit_test(test_context_overflow),
        cmocka_unit_test(test_caller_pool),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_bounded_stack),
        cmocka_unit_test(test_check_reports_every_problem),
        cmocka_unit_test(test_check_unsupported_arch),
        cmocka_unit_test(test_check_fixtures_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
