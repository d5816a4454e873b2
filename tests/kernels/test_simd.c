/* The fast kernels against the reference: every kernel set this CPU runs,
 * every weight type, odd sizes and tails over rows, tokens and elements;
 * the thread pool and CPU detection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "kernels/simd_internal.h"

static const uint32_t types[] = {
    GGUF_T_F32, GGUF_T_F16, GGUF_T_BF16, GGUF_T_Q4_0, GGUF_T_Q4_1, GGUF_T_Q5_0, GGUF_T_Q5_1,
    GGUF_T_Q8_0, GGUF_T_Q2_K, GGUF_T_Q3_K, GGUF_T_Q4_K, GGUF_T_Q5_K, GGUF_T_Q6_K,
};

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static float frnd(void)
{
    return (float)(rnd() % 20001) / 10000.0f - 1.0f;
}

static void put_f16(uint8_t *p, float v)
{
    uint16_t h = kern_f32_to_f16(v);
    memcpy(p, &h, 2);
}

/* Offsets of the f16 scale and min fields of a block with a min or of a
 * k-quant block (-1: none). */
static void kq_scale_fields(uint32_t type, int *d, int *dmin)
{
    *d = *dmin = -1;
    switch (type) {
    case GGUF_T_Q4_1: case GGUF_T_Q5_1: *d = 0; *dmin = 2; break;
    case GGUF_T_Q2_K: *d = 80; *dmin = 82; break;
    case GGUF_T_Q3_K: *d = 108; break;
    case GGUF_T_Q4_K: case GGUF_T_Q5_K: *d = 0; *dmin = 2; break;
    case GGUF_T_Q6_K: *d = 208; break;
    default: break;
    }
}

/* Rows of random values: quantized from floats where a quantizer exists,
 * else random bytes with small finite scales. */
static uint8_t *random_rows(uint32_t type, size_t n, size_t rows)
{
    size_t rs = gguf_row_size(type, n);
    uint8_t *w = malloc(rs * rows);
    float *x = malloc(n * sizeof(float));
    assert_non_null(w);
    for (size_t r = 0; r < rows; r++) {
        uint8_t *row = w + r * rs;
        for (size_t i = 0; i < n; i++)
            x[i] = frnd() * (r % 3 == 2 ? 30.0f : 1.0f);
        if (kern_quantize_row(type, x, row, n) == KERN_OK)
            continue;
        for (size_t i = 0; i < rs; i++)
            row[i] = (uint8_t)rnd();
        int d, dmin;
        kq_scale_fields(type, &d, &dmin);
        const gguf_type_traits *t = gguf_type_info(type);
        for (size_t b = 0; b < n / t->blck; b++) {
            put_f16(row + b * t->size + d, frnd() * 0.05f);
            if (dmin >= 0)
                put_f16(row + b * t->size + dmin, frnd() * 0.05f);
        }
    }
    free(x);
    return w;
}

/* Rows whose codes are all the type's largest magnitude (every byte 0xff,
 * Q8_0's quants -128) under small scales: with activations all at 127 (or
 * all at -127, -128 in Q8_K), the integer sums the kernels keep reach
 * their bounds. */
static uint8_t *extreme_rows(uint32_t type, size_t n, size_t rows)
{
    size_t rs = gguf_row_size(type, n);
    const gguf_type_traits *t = gguf_type_info(type);
    uint8_t *w = malloc(rs * rows);
    assert_non_null(w);
    memset(w, type == GGUF_T_Q8_0 ? 0x80 : 0xff, rs * rows);
    int d, dmin;
    kq_scale_fields(type, &d, &dmin);
    if (d < 0)
        d = 0; /* the legacy blocks start with d */
    for (size_t b = 0; b < rs * rows / t->size; b++) {
        put_f16(w + b * t->size + d, 0.01f);
        if (dmin >= 0)
            put_f16(w + b * t->size + dmin, 0.01f);
    }
    return w;
}

/* One product, through the weights as stored or packed for cpu. */
static void product(const kern_cpu *cpu, kern_pool *pool, bool packed, uint32_t type, const uint8_t *w,
                    size_t n, size_t n_out, const float *x, size_t n_tok, float *y, void *scratch)
{
    if (!packed) {
        kern_matmul(cpu, pool, type, w, n, n_out, x, n_tok, y, scratch);
        return;
    }
    size_t bytes = kern_pack_size(cpu, type, n, n_out);
    assert_true(bytes > 0);
    void *pw = malloc(bytes);
    assert_non_null(pw);
    kern_pack(cpu, type, w, n, n_out, pw);
    kern_matmul_packed(cpu, pool, type, pw, n, n_out, x, n_tok, y, scratch);
    free(pw);
}

/* Compare one product against kern_vec_dot row by row. The tolerance is
 * relative to sum |w_i * a_i|, the scale of any summation-order error. */
static void check_product_ext(const kern_cpu *cpu, kern_pool *pool, bool packed, float extreme, uint32_t type,
                              size_t n, size_t n_out, size_t n_tok)
{
    uint32_t vt = kern_vec_dot_type(type);
    size_t rs = gguf_row_size(type, n), as = gguf_row_size(vt, n);
    uint8_t *w = extreme != 0.0f ? extreme_rows(type, n, n_out) : random_rows(type, n, n_out);
    float *x = malloc(n * n_tok * sizeof(float));
    float *y = malloc(n_out * n_tok * sizeof(float));
    uint8_t *act = malloc(as * n_tok);
    float *wd = malloc(n * sizeof(float)), *ad = malloc(n * sizeof(float));
    /* misaligned on purpose: kern_matmul aligns inside */
    uint8_t *scratch = malloc(kern_matmul_scratch_size(type, n, n_tok) + 1);
    for (size_t i = 0; i < n * n_tok; i++)
        x[i] = extreme != 0.0f ? extreme : frnd() * (i % 97 == 0 ? 8.0f : 1.0f);
    for (size_t t = 0; t < n_tok; t++)
        assert_int_equal(kern_quantize_row(vt, x + t * n, act + t * as, n), KERN_OK);
    product(cpu, pool, packed, type, w, n, n_out, x, n_tok, y, scratch + 1);
    for (size_t o = 0; o < n_out; o++) {
        kern_dequant_row(type, w + o * rs, wd, n);
        for (size_t t = 0; t < n_tok; t++) {
            kern_dequant_row(vt, act + t * as, ad, n);
            double mag = 0;
            for (size_t i = 0; i < n; i++)
                mag += fabs((double)wd[i] * ad[i]);
            float ref = kern_vec_dot(type, w + o * rs, act + t * as, n);
            float got = y[t * n_out + o];
            double tol = 2e-5 * mag + 1e-6;
            if (!(fabs((double)got - ref) <= tol))
                fail_msg("%s%s type %u n %zu rows %zu tokens %zu: row %zu token %zu got %.7g want %.7g",
                         kern_cpu_name(cpu), packed ? " packed" : "", type, n, n_out, n_tok, o, t, got, ref);
        }
    }
    free(w);
    free(x);
    free(y);
    free(act);
    free(wd);
    free(ad);
    free(scratch);
}

static void check_product_as(const kern_cpu *cpu, kern_pool *pool, bool packed, uint32_t type, size_t n,
                             size_t n_out, size_t n_tok)
{
    check_product_ext(cpu, pool, packed, 0.0f, type, n, n_out, n_tok);
}

static void check_product(const kern_cpu *cpu, kern_pool *pool, uint32_t type, size_t n, size_t n_out,
                          size_t n_tok)
{
    check_product_as(cpu, pool, false, type, n, n_out, n_tok);
}

static void check_set(const kern_cpu *cpu, kern_pool *pool);

static void check_isa(kern_isa isa, kern_pool *pool)
{
    kern_cpu cpu;
    if (kern_cpu_select(&cpu, isa, NULL, 0) == KERN_OK)
        check_set(&cpu, pool);
}

static void check_set(const kern_cpu *cpu, kern_pool *pool)
{
    static const size_t outs[] = {1, 3, 5, 18, 37};
    static const size_t toks[] = {1, 2, 3, 4, 5, 7, 9};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        uint32_t type = types[ti];
        size_t blck = gguf_type_info(type)->blck;
        size_t ns[3] = {blck, 3 * blck, blck == 1 ? 37 : 5 * blck};
        if (blck == 1) {
            ns[0] = 7;
            ns[1] = 64;
        }
        for (size_t ni = 0; ni < 3; ni++)
            for (size_t oi = 0; oi < sizeof outs / sizeof outs[0]; oi++)
                for (size_t k = 0; k < sizeof toks / sizeof toks[0]; k++)
                    check_product(cpu, pool, type, ns[ni], outs[oi], toks[k]);
    }
}

static void test_portable(void **state)
{
    check_isa(KERN_ISA_PORTABLE, NULL);
}

static void test_avx2(void **state)
{
    if (!kern_cpu_has(KERN_ISA_AVX2))
        skip();
    check_isa(KERN_ISA_AVX2, NULL);
}

static void test_avx512(void **state)
{
    if (!kern_cpu_has(KERN_ISA_AVX512))
        skip();
    check_isa(KERN_ISA_AVX512, NULL);
}

static const kern_isa all_isas[] = {KERN_ISA_PORTABLE, KERN_ISA_AVX2, KERN_ISA_AVX512, KERN_ISA_NEON, KERN_ISA_AMX};
#define N_ALL_ISAS (sizeof all_isas / sizeof all_isas[0])

/* Every table of every set this CPU runs, a set's tables together and the
 * one it picks first, into out (N_ALL_ISAS * KERN_MAX_TABLES); how many. */
static size_t every_table(kern_cpu *out)
{
    size_t n = 0;
    for (size_t i = 0; i < N_ALL_ISAS; i++)
        n += kern_cpu_tables(all_isas[i], out + n, KERN_MAX_TABLES);
    return n;
}

/* Each set's tables beyond the one this CPU picks: on an Intel core the
 * plain ones, elsewhere the prefetching ones, and on a CPU with the BF16
 * dot product the AVX-512 tables for CPUs without. */
static void test_other_tables(void **state)
{
    int n = 0;
    for (size_t i = 0; i < N_ALL_ISAS; i++) {
        kern_cpu t[KERN_MAX_TABLES];
        for (size_t k = 1, nt = kern_cpu_tables(all_isas[i], t, KERN_MAX_TABLES); k < nt; k++, n++)
            check_set(&t[k], NULL);
    }
    if (!n)
        skip();
}

static void test_neon(void **state)
{
    if (!kern_cpu_has(KERN_ISA_NEON))
        skip();
    check_isa(KERN_ISA_NEON, NULL);
}

/* Each set with a pool: rows split over threads give the same bits as one
 * thread, and a token alone the same bits as in a batch. */
static void threads_isa(kern_isa isa, bool packed)
{
    kern_cpu cpu;
    if (kern_cpu_select(&cpu, isa, NULL, 0) != KERN_OK)
        return;
    kern_pool *pool;
    assert_int_equal(kern_pool_new(&pool, 3, NULL, 0), KERN_OK);
    assert_int_equal(kern_pool_threads(pool), 3);
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        uint32_t type = types[ti];
        size_t n = gguf_type_info(type)->blck == 1 ? 96 : packed ? 4352 : 512, n_out = packed ? 304 : 301;
        size_t n_tok = 11;
        if (packed && !kern_pack_size(&cpu, type, n, n_out))
            continue;
        check_product_as(&cpu, pool, packed, type, n, n_out, n_tok);
        uint8_t *w = random_rows(type, n, n_out);
        float *x = malloc(n * n_tok * sizeof(float));
        float *y1 = malloc(n_out * n_tok * sizeof(float)), *y3 = malloc(n_out * n_tok * sizeof(float));
        void *scratch = malloc(kern_matmul_scratch_size(type, n, n_tok));
        for (size_t i = 0; i < n * n_tok; i++)
            x[i] = frnd();
        product(&cpu, NULL, packed, type, w, n, n_out, x, n_tok, y1, scratch);
        product(&cpu, pool, packed, type, w, n, n_out, x, n_tok, y3, scratch);
        if (packed) {
            /* naming the next product (read ahead while waiting) changes no bit */
            uint8_t *pk = malloc(kern_pack_size(&cpu, type, n, n_out));
            kern_pack(&cpu, type, w, n, n_out, pk);
            kern_matmul_packed_next(&cpu, pool, type, pk, n, n_out);
            kern_matmul_packed_next(&cpu, NULL, type, pk, n, n_out);
            float *y4 = malloc(n_out * sizeof(float));
            for (size_t t = 0; t < n_tok; t++) {
                kern_matmul_packed(&cpu, pool, type, pk, n, n_out, x + t * n, 1, y4, scratch);
                assert_memory_equal(y1 + t * n_out, y4, n_out * sizeof(float));
            }
            free(y4);
            free(pk);
        }
        assert_memory_equal(y1, y3, n_out * n_tok * sizeof(float));
        /* a token alone gives the bits it gets within a batch */
        for (size_t t = 0; t < n_tok; t++) {
            product(&cpu, pool, packed, type, w, n, n_out, x + t * n, 1, y3, scratch);
            assert_memory_equal(y1 + t * n_out, y3, n_out * sizeof(float));
        }
        free(w);
        free(x);
        free(y1);
        free(y3);
        free(scratch);
    }
    kern_pool_free(pool);
}

static void test_threads(void **state)
{
    for (size_t i = 0; i < N_ALL_ISAS; i++)
        threads_isa(all_isas[i], false);
}

/* F16's several tokens (from 8, the AVX-512 sets' panels of weights
 * converted once for 64 tokens, the chains of sums waiting between
 * panels) give each token the bits it gets alone: rows of sixteen panels
 * and a part, tokens in two tiles to past the 64, one thread and three. */
static void check_f16_alone(const kern_cpu *cpu)
{
    static const size_t ft[] = {8, 17, 70};
    const size_t n = 4192, n_out = 32;
    kern_pool *pool;
    assert_int_equal(kern_pool_new(&pool, 3, NULL, 0), KERN_OK);
    for (size_t k = 0; k < sizeof ft / sizeof ft[0]; k++) {
        size_t n_tok = ft[k];
        uint8_t *w = random_rows(GGUF_T_F16, n, n_out);
        float *x = malloc(n * n_tok * sizeof(float));
        float *y = malloc(n_out * n_tok * sizeof(float)), *one = malloc(n_out * sizeof(float));
        void *scratch = malloc(kern_matmul_scratch_size(GGUF_T_F16, n, n_tok));
        for (size_t e = 0; e < n * n_tok; e++)
            x[e] = frnd();
        product(cpu, k % 2 ? pool : NULL, true, GGUF_T_F16, w, n, n_out, x, n_tok, y, scratch);
        for (size_t t = 0; t < n_tok; t++) {
            product(cpu, NULL, true, GGUF_T_F16, w, n, n_out, x + t * n, 1, one, scratch);
            if (memcmp(one, y + t * n_out, n_out * sizeof(float)))
                fail_msg("%s F16: token %zu of %zu differs from the token alone", kern_cpu_name(cpu), t, n_tok);
        }
        free(w);
        free(x);
        free(y);
        free(one);
        free(scratch);
    }
    kern_pool_free(pool);
}

/* Every set that packs weights: packed products against the reference
 * over whole groups of 16 rows, tiles of tokens with tails, and the
 * same bits over threads and for a token alone; shapes it cannot pack
 * say so. A set's other tables differ in a lone token's products only:
 * those are checked for them. */
static void test_packed(void **state)
{
    static const uint32_t ptypes[] = {GGUF_T_Q4_0, GGUF_T_Q4_1, GGUF_T_Q5_0, GGUF_T_Q5_1, GGUF_T_Q8_0,
                                      GGUF_T_Q2_K, GGUF_T_Q3_K, GGUF_T_Q4_K, GGUF_T_Q5_K, GGUF_T_Q6_K,
                                      GGUF_T_F16};
    static const size_t outs[] = {16, 48, 80};
    static const size_t toks[] = {1, 2, 3, 7, 8, 9, 17};
    int sets = 0;
    kern_cpu tables[N_ALL_ISAS * KERN_MAX_TABLES];
    size_t n_tables = every_table(tables);
    for (size_t i = 0; i < n_tables; i++) {
        const kern_cpu cpu = tables[i];
        /* a set's tables lie together, the one it picks first */
        const bool first = i == 0 || cpu.isa != tables[i - 1].isa;
        const size_t n_toks = first ? sizeof toks / sizeof toks[0] : 1;
        for (size_t ti = 0; ti < sizeof ptypes / sizeof ptypes[0]; ti++) {
            uint32_t type = ptypes[ti];
            /* F16 is packed 32 elements at a time, without panels */
            const bool f16 = type == GGUF_T_F16;
            size_t blck = f16 ? 32 : gguf_type_info(type)->blck;
            if (!kern_pack_size(&cpu, type, blck, 16))
                continue;
            sets++;
            assert_int_equal(kern_pack_size(&cpu, type, blck, 18), 0);
            assert_int_equal(kern_pack_size(&cpu, type, blck + blck / 2, 16), 0);
            assert_int_equal(kern_pack_size(&cpu, GGUF_T_F32, 32, 16), 0);
            /* one block, a few, and rows longer than the first-level cache,
             * in panels and a shorter one, over 1, 3 and 5 groups (a whole
             * super-group and a part of one) */
            size_t ns[4] = {blck, 3 * blck, 5 * blck, blck == 32 ? 131 * blck : 17 * blck};
            /* rows of one panel keep groups of 16 apart; long rows more */
            assert_int_equal(kern_pack_grain(&cpu, type, blck), 16);
            size_t grain = kern_pack_grain(&cpu, type, ns[3]);
            assert_true(f16 ? grain == 16 : grain > 16 && grain % 16 == 0);
            for (size_t ni = 0; ni < 4; ni++)
                for (size_t oi = 0; oi < sizeof outs / sizeof outs[0]; oi++)
                    for (size_t k = 0; k < n_toks; k++)
                        check_product_as(&cpu, NULL, true, type, ns[ni], outs[oi], toks[k]);
            /* codes and activations at their largest, of either sign (Q8_K
             * quants reach -128): no integer sum wraps */
            for (size_t k = 0; k < (n_toks < 3 ? n_toks : 3); k++) {
                check_product_ext(&cpu, NULL, true, 1.0f, type, ns[1], 48, toks[k]);
                check_product_ext(&cpu, NULL, true, -1.0f, type, ns[1], 48, toks[k]);
            }
            if (f16 && first)
                check_f16_alone(&cpu);
        }
        if (first)
            threads_isa(cpu.isa, true);
    }
    if (!sets)
        skip();
}

/* The AMX set's product of n_tok tokens x (random, or all xv when xv is
 * not 0) by the n_out rows w of type gives the AVX-512 set's bits; frees
 * w. */
static void amx_matches(const kern_cpu *amx, const kern_cpu *avx512, kern_pool *pool, uint32_t type, uint8_t *w,
                        size_t n, size_t n_out, size_t n_tok, float xv)
{
    float *x = malloc(n * n_tok * sizeof(float));
    float *y = malloc(n_out * n_tok * sizeof(float)), *want = malloc(n_out * n_tok * sizeof(float));
    void *scratch = malloc(kern_matmul_scratch_size(type, n, n_tok));
    for (size_t e = 0; e < n * n_tok; e++)
        x[e] = xv != 0.0f ? xv : frnd() * (e % 97 == 0 ? 8.0f : 1.0f);
    product(avx512, NULL, true, type, w, n, n_out, x, n_tok, want, scratch);
    product(amx, pool, true, type, w, n, n_out, x, n_tok, y, scratch);
    if (memcmp(y, want, n_out * n_tok * sizeof(float)))
        fail_msg("amx type %u n %zu rows %zu tokens %zu differs from avx512", type, n, n_out, n_tok);
    free(w);
    free(x);
    free(y);
    free(want);
    free(scratch);
}

/* The AMX set's prompts (tiles of 16 tokens on the tiles, the tokens left
 * through the AVX-512 set) give the AVX-512 set's bits: every type it takes, one block to rows of
 * several panels, one group to a super-group and a part, tokens on both
 * sides of a tile, one thread and three, codes and activations at their
 * largest of either sign. */
static void test_amx(void **state)
{
    static const uint32_t atypes[] = {GGUF_T_Q4_0, GGUF_T_Q4_1, GGUF_T_Q5_0, GGUF_T_Q5_1, GGUF_T_Q8_0, GGUF_T_Q4_K,
                                      GGUF_T_Q5_K};
    static const size_t outs[] = {16, 48, 80};
    static const size_t toks[] = {15, 16, 17, 33, 48};
    kern_cpu amx, avx512;
    if (kern_cpu_select(&amx, KERN_ISA_AMX, NULL, 0) != KERN_OK)
        skip();
    assert_int_equal(kern_cpu_select(&avx512, KERN_ISA_AVX512, NULL, 0), KERN_OK);
    assert_true(kern_cpu_same_packing(&amx, &avx512));
    kern_pool *pool;
    assert_int_equal(kern_pool_new(&pool, 3, NULL, 0), KERN_OK);
    for (size_t ti = 0; ti < sizeof atypes / sizeof atypes[0]; ti++) {
        uint32_t type = atypes[ti];
        size_t blck = gguf_type_info(type)->blck;
        size_t ns[4] = {blck, 3 * blck, 5 * blck, 131 * blck};
        for (size_t i = 0; i < 4 * 3 * 5 + 4; i++) {
            const bool ext = i >= 60;
            size_t n = ns[ext ? 1 : i / 15], n_out = ext ? 48 : outs[i / 5 % 3], n_tok = ext ? toks[1 + i % 2 * 2] : toks[i % 5];
            uint8_t *w = ext ? extreme_rows(type, n, n_out) : random_rows(type, n, n_out);
            amx_matches(&amx, &avx512, i % 2 ? pool : NULL, type, w, n, n_out, n_tok,
                        ext ? (i % 4 < 2 ? 1.0f : -1.0f) : 0.0f);
        }
    }
    kern_pool_free(pool);
}

/* The AMX set's BF16 products on tiles (16 tokens by 16 rows, rows of a
 * multiple of 32) against the reference, with tails of rows and tokens,
 * panels of 1024 and a shorter one, rows the tiles cannot take, and a
 * pool: the tiles add each element's pairs in one chain, so these are
 * checked to the summation-order tolerance, not the AVX-512 set's bits. */
static void test_amx_bf16(void **state)
{
    static const size_t ns[] = {32, 96, 2080, 40};
    static const size_t outs[] = {16, 37, 80};
    static const size_t toks[] = {16, 17, 35};
    kern_cpu amx;
    if (kern_cpu_select(&amx, KERN_ISA_AMX, NULL, 0) != KERN_OK)
        skip();
    kern_pool *pool;
    assert_int_equal(kern_pool_new(&pool, 3, NULL, 0), KERN_OK);
    for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
        for (size_t oi = 0; oi < sizeof outs / sizeof outs[0]; oi++)
            for (size_t k = 0; k < sizeof toks / sizeof toks[0]; k++)
                check_product(&amx, k % 2 ? pool : NULL, GGUF_T_BF16, ns[ni], outs[oi], toks[k]);
    kern_pool_free(pool);
}

typedef struct count_job {
    unsigned char *hits;
    unsigned max_tid;
} count_job;

static void count_items(void *arg, size_t begin, size_t end, unsigned tid)
{
    count_job *j = arg;
    for (size_t i = begin; i < end; i++)
        j->hits[i]++;
    if (tid > j->max_tid)
        __atomic_store_n(&j->max_tid, tid, __ATOMIC_RELAXED);
}

static void test_pool(void **state)
{
    static const unsigned threads[] = {1, 2, 4};
    static const size_t sizes[] = {0, 1, 2, 7, 100, 1001, 100000};
    for (size_t ti = 0; ti < 3; ti++) {
        kern_pool *pool;
        assert_int_equal(kern_pool_new(&pool, threads[ti], NULL, 0), KERN_OK);
        for (int rep = 0; rep < 50; rep++) {
            for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
                size_t n = sizes[si];
                count_job j = {calloc(n + 1, 1), 0};
                /* both kinds of job, one after another on the same pool */
                if (rep % 2)
                    kern_pool_for_parts(pool, n, 1 + (size_t)rep % 5, count_items, &j);
                else
                    kern_pool_for(pool, n, 1 + (size_t)rep % 5, count_items, &j);
                for (size_t i = 0; i < n; i++)
                    assert_int_equal(j.hits[i], 1);
                assert_true(j.max_tid < threads[ti]);
                free(j.hits);
            }
        }
        kern_pool_free(pool);
    }
    kern_pool_free(NULL);
    assert_true(kern_physical_cores() >= 1);
}

typedef struct steal_job {
    unsigned char who[64];
    int holder;     /* 1 + the thread that ran the job's first chunk */
    int stolen;     /* another thread has run a chunk of the holder's part */
} steal_job;

/* The first thread to run a chunk holds it until the other has run a chunk
 * of the holder's part (or 10 s have passed). Which thread that is depends
 * on scheduling: a caller descheduled right after publishing the job may
 * find the worker has already run both parts. */
static void steal_items(void *arg, size_t begin, size_t end, unsigned tid)
{
    steal_job *j = arg;
    for (size_t i = begin; i < end; i++)
        j->who[i] = (unsigned char)tid;
    int none = 0;
    if (__atomic_compare_exchange_n(&j->holder, &none, (int)tid + 1, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        for (int i = 0; i < 10000 && !__atomic_load_n(&j->stolen, __ATOMIC_ACQUIRE); i++)
            usleep(1000);
        return;
    }
    unsigned h = (unsigned)__atomic_load_n(&j->holder, __ATOMIC_ACQUIRE) - 1;
    if (tid != h && begin / 32 == h)
        __atomic_store_n(&j->stolen, 1, __ATOMIC_RELEASE);
}

/* By parts: each thread runs its own part from the front; a thread done
 * early takes chunks from the back of another's. */
static void test_pool_parts(void **state)
{
    kern_pool *pool;
    assert_int_equal(kern_pool_new(&pool, 2, NULL, 0), KERN_OK);
    steal_job j = {{0}, 0, 0};
    memset(j.who, 0xff, sizeof j.who);
    kern_pool_for_parts(pool, 64, 4, steal_items, &j);
    assert_int_equal(j.stolen, 1);
    unsigned h = (unsigned)j.holder - 1, o = 1 - h;
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(j.who[h * 32 + i], h);  /* the holder began at its part's front */
    for (size_t i = 28; i < 32; i++)
        assert_int_equal(j.who[h * 32 + i], o);  /* the back was taken by the other */
    for (size_t i = 0; i < 32; i++)
        assert_int_equal(j.who[o * 32 + i], o);  /* the other's part, all its own */
    size_t i = 0;
    while (i < 32 && j.who[h * 32 + i] == h)
        i++;
    while (i < 32 && j.who[h * 32 + i] == o)
        i++;
    assert_int_equal(i, 32);                     /* the holder's front, then the taken back */
    kern_pool_free(pool);
}

static void test_detect(void **state)
{
    kern_cpu cpu;
    kern_cpu_detect(&cpu);
    assert_true(kern_cpu_has(cpu.isa));
    assert_non_null(kern_cpu_name(&cpu));
    char err[160] = "";
#if defined(__x86_64__)
    assert_int_equal(kern_cpu_select(&cpu, KERN_ISA_NEON, err, sizeof err), KERN_ETYPE);
    assert_non_null(strstr(err, "kernel set neon is not available"));
    assert_non_null(strstr(err, "(available: portable, avx2"));
    assert_int_equal(kern_cpu_select_name(&cpu, "neon", err, sizeof err), KERN_ETYPE);
#endif
    assert_int_equal(kern_cpu_select(&cpu, KERN_ISA_PORTABLE, NULL, 0), KERN_OK);
    assert_string_equal(kern_cpu_name(&cpu), "portable");
    /* by name; sets that pack share one layout, the portable one has none */
    kern_cpu best, named;
    kern_cpu_detect(&best);
    assert_int_equal(kern_cpu_select_name(&named, "portable", err, sizeof err), KERN_OK);
    assert_false(kern_cpu_same_packing(&named, &best));
    char big[512];
    assert_int_equal(kern_cpu_select_name(&named, "avx-512", big, sizeof big), KERN_ETYPE);
    const char *unknown = "unknown kernel set 'avx-512' (portable, avx2, avx512, neon, amx";
    assert_memory_equal(big, unknown, strlen(unknown));
    assert_int_equal(big[strlen(big) - 1], ')');
    /* every table by its own name, which the message lists; a set's name
     * picks its first table */
    for (size_t i = 0; i < N_ALL_ISAS; i++) {
        kern_cpu t[KERN_MAX_TABLES];
        size_t n = kern_cpu_tables(all_isas[i], t, KERN_MAX_TABLES);
        assert_int_equal(n > 0, all_isas[i] != KERN_ISA_PORTABLE && kern_cpu_has(all_isas[i]));
        if (n) {
            assert_int_equal(kern_cpu_select(&named, all_isas[i], NULL, 0), KERN_OK);
            assert_ptr_equal(named.ops, t[0].ops);
        }
        for (size_t k = 0; k < n; k++) {
            assert_int_equal(t[k].isa, all_isas[i]);
            assert_non_null(strstr(big, kern_cpu_name(&t[k])));
            assert_int_equal(kern_cpu_select_name(&named, kern_cpu_name(&t[k]), err, sizeof err), KERN_OK);
            /* "neon" names its set, whose first table has the dot product
             * where the CPU does */
            if (strcmp(kern_cpu_name(&t[k]), "neon") != 0)
                assert_ptr_equal(named.ops, t[k].ops);
            /* the tables that pack share one layout (NEON without the dot
             * product reads the weights as stored) */
            if (t[k].ops->pack)
                assert_true(kern_cpu_same_packing(&t[k], &best));
        }
    }
#if defined(__x86_64__)
    if (kern_cpu_has(KERN_ISA_AVX2)) {
        /* the prefetching table first on Intel cores and AMD's from family
         * 0x1a (Zen 5), the plain one elsewhere */
        unsigned a = 0, b = 0, c = 0, d = 0;
        char vendor[13] = {0};
        assert_true(__get_cpuid(0, &a, &b, &c, &d));
        memcpy(vendor, &b, 4);
        memcpy(vendor + 4, &d, 4);
        memcpy(vendor + 8, &c, 4);
        assert_true(__get_cpuid(1, &a, &b, &c, &d));
        const unsigned family = ((a >> 8) & 0xf) == 0xf ? 0xf + ((a >> 20) & 0xff) : (a >> 8) & 0xf;
        const bool ahead = strcmp(vendor, "GenuineIntel") == 0 ||
                           (strcmp(vendor, "AuthenticAMD") == 0 && family >= 0x1a);
        assert_int_equal(kern_cpu_select_name(&named, "avx2", err, sizeof err), KERN_OK);
        const char *name = kern_cpu_name(&named);
        assert_int_equal(strlen(name) > 9 && strcmp(name + strlen(name) - 9, "-prefetch") == 0, ahead);
        /* with or without AVX-VNNI, the tables of plain AVX2 */
        static const char *const fma[] = {"avx2-fma", "avx2-fma-prefetch"};
        for (int k = 0; k < 2; k++) {
            assert_int_equal(kern_cpu_select_name(&named, fma[k], err, sizeof err), KERN_OK);
            assert_string_equal(kern_cpu_name(&named), fma[k]);
            assert_int_equal(named.isa, KERN_ISA_AVX2);
        }
    }
#endif
}

/* Each set's attention against the portable loop (scores summed in
 * another order may move the F16 accumulator by an F16 step), and a
 * query's result the same whether alone or among others over the same
 * cache. Three rounds of scores:
 * - random;
 * - all near -128: a running maximum that went wrong would then take
 *   every weight below e^KERN_SOFTMAX_MIN, to 0;
 * - one key (the middle one) 64-104 above all others, whose weights then
 *   change nothing, in every set, where they are cut and where not (nor
 *   do the weights of the keys before it, once it rescales them): the
 *   result is that key's value row, exactly. */
static void test_attn(void **state)
{
    /* 300: rows read in F16 as stored, three queries at a time, a tail */
    static const size_t hds[] = {13, 64, 80, 128, 300};
    static const size_t nkvs[] = {1, 2, 9, 16, 17, 100};
    static const kern_isa isas[] = {KERN_ISA_PORTABLE, KERN_ISA_AVX2, KERN_ISA_AVX512, KERN_ISA_NEON};
    static const char *rounds[] = {"random", "near -128", "one far above"};
    enum { NQ = 7 };
    for (size_t ii = 0; ii < 4 * 3; ii++) {
        const int low = ii % 3 == 1, far = ii % 3 == 2;
        kern_cpu cpu, ref;
        if (kern_cpu_select(&cpu, isas[ii / 3], NULL, 0) != KERN_OK)
            continue;
        kern_cpu_select(&ref, KERN_ISA_PORTABLE, NULL, 0);
        for (size_t hi = 0; hi < sizeof hds / sizeof hds[0]; hi++) {
            for (size_t ni = 0; ni < sizeof nkvs / sizeof nkvs[0]; ni++) {
                size_t hd = hds[hi], n_kv = nkvs[ni], stride = hd + 3, top = n_kv / 2;
                uint16_t *k = malloc(n_kv * stride * 2), *v = malloc(n_kv * stride * 2);
                float q[NQ * 300], a[NQ * 300], b[300], one[300];
                /* low: q = 4 in every place, k = -16 / hd * 128 +- 10%;
                 * far: q = 4, scores 0 (top) and -64 to -104 */
                for (size_t i = 0; i < n_kv * stride; i++) {
                    float lo = -256.0f / (float)hd * (1.0f + 0.1f * frnd());
                    float gap = (-84.0f + 20.0f * frnd()) / (0.5f * (float)hd);
                    k[i] = kern_f32_to_f16(low ? lo : far ? (i / stride == top ? 0.0f : gap) : frnd() * 2.0f);
                    v[i] = kern_f32_to_f16(frnd());
                }
                for (size_t i = 0; i < NQ * hd; i++)
                    q[i] = low || far ? 4.0f : frnd() * 2.0f;
                kern_attn_f16(&cpu, NQ, q, k, v, stride, n_kv, hd, 0.125f, a);
                for (size_t r = 0; r < NQ; r++) {
                    kern_attn_f16(&ref, 1, q + r * hd, k, v, stride, n_kv, hd, 0.125f, b);
                    kern_attn_f16(&cpu, 1, q + r * hd, k, v, stride, n_kv, hd, 0.125f, one);
                    assert_memory_equal(one, a + r * hd, hd * sizeof(float));
                    for (size_t i = 0; i < hd; i++) {
                        float want = far ? kern_f16_to_f32(v[top * stride + i]) : b[i];
                        if (far ? a[r * hd + i] != want : !(fabsf(a[r * hd + i] - want) <= 4e-3f))
                            fail_msg("%s attention (scores %s) hd %zu n_kv %zu query %zu: [%zu] %g vs %g",
                                     kern_cpu_name(&cpu), rounds[ii % 3], hd, n_kv, r, i, a[r * hd + i], want);
                    }
                }
                free(k);
                free(v);
            }
        }
    }
}

/* A kernel set's Q8_0 and Q8_1 activation quantizers write the
 * reference's bytes, and their sides what the blocks say. */
static void test_quant_q8_0(void **state)
{
    static const kern_isa isas[] = {KERN_ISA_AVX2, KERN_ISA_AVX512, KERN_ISA_NEON};
    for (size_t ii = 0; ii < 3; ii++) {
        kern_cpu cpu;
        if (kern_cpu_select(&cpu, isas[ii], NULL, 0) != KERN_OK || !cpu.ops->quant_q8_0)
            continue;
        for (int rep = 0; rep < 400; rep++) {
            const bool q1 = rep % 2;
            if (q1 && !cpu.ops->quant_q8_1)
                continue;
            size_t n = 32 * (1 + (size_t)rep / 2 % 9), nb = n / 32, bs = q1 ? 36 : 34;
            float x[288];
            /* zero blocks, and scales below the smallest normal half */
            float scale = rep / 2 % 11 == 0 ? 1e-4f : (float)(1 + rep / 2 % 5) * 10.0f;
            for (size_t i = 0; i < n; i++)
                x[i] = rep / 2 % 7 == 0 && i < 64 ? 0.0f : frnd() * scale;
            uint8_t want[9 * 36], got[9 * 36 + 9 * 8 + 4];
            kern_quantize_row(q1 ? GGUF_T_Q8_1 : GGUF_T_Q8_0, x, want, n);
            (q1 ? cpu.ops->quant_q8_1 : cpu.ops->quant_q8_0)(x, got, n);
            assert_memory_equal(want, got, nb * bs);
            /* the side: each block's scale as f32, then Q8_0's sum of its
             * quants or Q8_1's stored sum as f32 */
            const float *d = (const float *)(got + (q1 ? KERN_Q8_1_SIDE(nb) : KERN_Q8_0_SIDE(nb)));
            for (size_t b = 0; b < nb; b++) {
                const uint8_t *blk = want + bs * b;
                int s = 0;
                for (int i = 0; i < 32; i++)
                    s += (int8_t)blk[bs - 32 + i];
                assert_true(d[b] == kern_f16_to_f32((uint16_t)(blk[0] | blk[1] << 8)));
                if (q1)
                    assert_true(d[nb + b] == kern_f16_to_f32((uint16_t)(blk[2] | blk[3] << 8)));
                else
                    assert_int_equal(((const int32_t *)(d + nb))[b], s);
            }
        }
    }
}

/* And its Q8_K quantizer too: ties, zeros, saturation. */
static void test_quant_q8_k(void **state)
{
    static const kern_isa isas[] = {KERN_ISA_AVX2, KERN_ISA_AVX512, KERN_ISA_NEON};
    int sets = 0;
    for (size_t ii = 0; ii < 3; ii++) {
        kern_cpu cpu;
        if (kern_cpu_select(&cpu, isas[ii], NULL, 0) != KERN_OK || !cpu.ops->quant_q8_k)
            continue;
        sets++;
        for (int rep = 0; rep < 100; rep++) {
            size_t n = 256 * (1 + (size_t)rep % 3);
            float x[768];
            for (size_t i = 0; i < n; i++)
                x[i] = rep % 7 == 0 && i < 256 ? 0.0f : frnd() * (float)(1 + rep % 5) * 10.0f;
            if (rep % 5 == 1) {
                /* equal magnitudes of both signs: the first decides */
                x[3] = 60.0f;
                x[200] = -60.0f;
            }
            uint8_t want[3 * 292], got[3 * 292];
            kern_quantize_row(GGUF_T_Q8_K, x, want, n);
            cpu.ops->quant_q8_k(x, got, n);
            assert_memory_equal(want, got, n / 256 * 292);
        }
    }
    if (!sets)
        skip();
}

/* A kernel set's SiLU-times-up agrees with the portable expf loop to a
 * few ulp over the whole range, tails and in place included. */
static void test_silu_mul(void **state)
{
    static const kern_isa isas[] = {KERN_ISA_AVX2, KERN_ISA_AVX512, KERN_ISA_NEON};
    static const float edge[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 88.0f, -86.9f, -87.5f, -88.8f, -200.0f, 200.0f};
    int sets = 0;
    for (size_t ii = 0; ii < 3; ii++) {
        kern_cpu cpu;
        if (kern_cpu_select(&cpu, isas[ii], NULL, 0) != KERN_OK || !cpu.ops->silu_mul)
            continue;
        sets++;
        for (size_t n = 1; n <= 40; n++) {
            float g[40], u[40], want[40], got[40];
            for (size_t i = 0; i < n; i++) {
                g[i] = i < 10 && n == 40 ? edge[i] : frnd() * (n % 3 ? 8.0f : 60.0f);
                u[i] = frnd() * 3.0f;
            }
            kern_silu_mul(NULL, g, u, want, n);
            kern_silu_mul(&cpu, g, u, got, n);
            for (size_t i = 0; i < n; i++)
                assert_true(fabsf(got[i] - want[i]) <= 1e-6f * fabsf(want[i]) + 1e-35f);
            kern_silu_mul(&cpu, g, u, g, n);
            assert_memory_equal(g, got, n * sizeof(float));
        }
    }
    if (!sets)
        skip();
}

/* A kernel set's F16 rows: the portable conversion's bits, ties to even,
 * subnormals, overflow and infinities included, tails too. */
static void test_f32_to_f16_row(void **state)
{
    static const kern_isa isas[] = {KERN_ISA_AVX2, KERN_ISA_AVX512, KERN_ISA_NEON};
    static const uint32_t edge[] = {0x00000000u, 0x80000000u, 0x33000000u, 0x33000001u, 0x38800000u,
                                    0x387fe000u, 0x3f801000u, 0x3f803000u, 0x477fe000u, 0x477ff000u,
                                    0x7f800000u, 0xff800000u, 0x35800000u, 0x45000000u};
    int sets = 0;
    for (size_t ii = 0; ii < 3; ii++) {
        kern_cpu cpu;
        if (kern_cpu_select(&cpu, isas[ii], NULL, 0) != KERN_OK || !cpu.ops->f32_to_f16)
            continue;
        sets++;
        for (size_t n = 1; n <= 40; n++) {
            float x[40];
            uint16_t want[40], got[40];
            for (size_t i = 0; i < n; i++) {
                uint32_t bits = (uint32_t)rand() << 1 ^ (uint32_t)rand();
                if (i < 14 && n == 40)
                    bits = edge[i];
                else if ((bits & 0x7f800000u) == 0x7f800000u)
                    bits &= ~0x40000000u; /* no NaN: its payload may differ */
                memcpy(&x[i], &bits, 4);
            }
            kern_f32_to_f16_row(NULL, x, want, n);
            kern_f32_to_f16_row(&cpu, x, got, n);
            assert_memory_equal(want, got, n * sizeof(uint16_t));
        }
    }
    if (!sets)
        skip();
}

/* Every table's wide way of reading loads every word: its sum is the
 * words' sum, from any starting byte, over lengths that are multiples of
 * four lines. */
static void test_read_lines(void **state)
{
    static const kern_isa isas[] = {KERN_ISA_AVX2, KERN_ISA_AVX512, KERN_ISA_AMX, KERN_ISA_NEON};
    enum { N = 4096 };
    static uint8_t buf[N + 64];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)rnd();
    int tables = 0;
    for (size_t ii = 0; ii < sizeof isas / sizeof isas[0]; ii++) {
        kern_cpu t[KERN_MAX_TABLES];
        size_t nt = kern_cpu_tables(isas[ii], t, KERN_MAX_TABLES);
        for (size_t k = 0; k < nt; k++) {
            assert_non_null(t[k].ops->read_lines);
            tables++;
            for (size_t off = 0; off < 64; off += 8)
                for (size_t n = 0; n <= N; n += 256 * 3) {
                    uint64_t want = 0, w;
                    for (size_t i = 0; i < n; i += 8) {
                        memcpy(&w, buf + off + i, 8);
                        want += w;
                    }
                    assert_true(t[k].ops->read_lines(buf + off, n) == want);
                }
        }
    }
    if (!tables)
        skip();
}

static void test_bandwidth(void **state)
{
    kern_pool *pool;
    assert_int_equal(kern_pool_new(&pool, 2, NULL, 0), KERN_OK);
    kern_cpu cpu;
    kern_cpu_detect(&cpu);
    /* every way, by the chosen kernels' loads and by the portable ones */
    assert_true(kern_read_bandwidth(pool, &cpu, 8u << 20, 2) > 1e8);
    assert_true(kern_read_bandwidth(pool, NULL, 8u << 20, 1) > 1e8);
    /* the product's ways over every table, with the pool and without (all
     * rows in one call): whole super-groups of Q8_0 rows (139 KB at 2048
     * inputs) or Q4_0 rows (74 KB) and pages left over, fewer pages than
     * one, and any bytes as codes and scales */
    kern_cpu tables[N_ALL_ISAS * KERN_MAX_TABLES];
    size_t n_tables = every_table(tables);
    static const size_t pages[] = {1, 33, 70, 103};
    uint8_t *buf = kern_alloc_stream(103 * 4096);
    assert_non_null(buf);
    for (size_t i = 0; i < 103 * 4096; i++)
        buf[i] = (uint8_t)(i * 2654435761u >> 11);
    for (size_t i = 0; i < n_tables; i++)
        for (size_t k = 0; k < sizeof pages / sizeof pages[0]; k++)
            for (unsigned way = KERN_READ_PRODUCT; way <= KERN_READ_PRODUCT_Q4_0; way++) {
                assert_true(kern_read_pass(pool, &tables[i], buf, pages[k] * 4096, way) >= 0.0);
                assert_true(kern_read_pass(NULL, &tables[i], buf, pages[k] * 4096, way) >= 0.0);
            }
    free(buf);
    kern_pool_free(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_pool_parts),
        cmocka_unit_test(test_portable),
        cmocka_unit_test(test_avx2),
        cmocka_unit_test(test_avx512),
        cmocka_unit_test(test_other_tables),
        cmocka_unit_test(test_neon),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_packed),
        cmocka_unit_test(test_amx),
        cmocka_unit_test(test_amx_bf16),
        cmocka_unit_test(test_attn),
        cmocka_unit_test(test_quant_q8_0),
        cmocka_unit_test(test_quant_q8_k),
        cmocka_unit_test(test_silu_mul),
        cmocka_unit_test(test_f32_to_f16_row),
        cmocka_unit_test(test_read_lines),
        cmocka_unit_test(test_bandwidth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
