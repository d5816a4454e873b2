/* Reference kernels: half/bfloat16 conversions, quantize -> dequantize
 * round trips for every block type (small k-quant quantizers live here),
 * and dot products against dequantize + f32 dot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gguf/gguf.h"
#include "kernels/kernels.h"

/* Deterministic test data: a normal-ish distribution from an LCG. */
static uint64_t rng_state = 12345;

static float frand(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) & 0xffffff) / 16777216.0f;
}

static void fill(float *x, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = scale * ((frand() + frand() + frand() + frand()) - 2.0f);
}

static void put16(uint8_t *p, float v)
{
    uint16_t h = kern_f32_to_f16(v);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

static float maxabs(const float *x, size_t n)
{
    float m = 0.0f;
    for (size_t i = 0; i < n; i++)
        m = fmaxf(m, fabsf(x[i]));
    return m;
}

static int nearest(float v, int lo, int hi)
{
    int q = (int)lrintf(v);
    return q < lo ? lo : (q > hi ? hi : q);
}

/* ---- k-quant reference quantizers (plain round to nearest) ---- */

/* Per sub-block affine fit x ~ d*sc*q - dmin*mn for Q2_K/Q4_K/Q5_K:
 * scale_f[j] and min_f[j] (>= 0) for sub-blocks of len over qmax levels. */
static void affine_fit(const float *x, int nsub, int len, int qmax, float *scale_f, float *min_f)
{
    for (int j = 0; j < nsub; j++) {
        float lo = 0.0f, hi = 0.0f;
        for (int l = 0; l < len; l++) {
            lo = fminf(lo, x[j * len + l]);
            hi = fmaxf(hi, x[j * len + l]);
        }
        min_f[j] = -lo;
        scale_f[j] = (hi - lo) / (float)qmax;
    }
}

static void quant_q2_k(const float *x, uint8_t *b)
{
    float sf[16], mf[16];
    affine_fit(x, 16, 16, 3, sf, mf);
    float d = maxabs(sf, 16) / 15.0f, dm = maxabs(mf, 16) / 15.0f;
    memset(b, 0, 84);
    for (int j = 0; j < 16; j++) {
        int sc = d > 0 ? nearest(sf[j] / d, 0, 15) : 0, mn = dm > 0 ? nearest(mf[j] / dm, 0, 15) : 0;
        b[j] = (uint8_t)(sc | (mn << 4));
        float ds = kern_f16_to_f32(kern_f32_to_f16(d)) * (float)sc;
        float m = kern_f16_to_f32(kern_f32_to_f16(dm)) * (float)mn;
        for (int l = 0; l < 16; l++) {
            int i = j * 16 + l; /* = c*128 + s*32 + h*16 + l */
            int c = i / 128, s = (i % 128) / 32, h = (i % 32) / 16;
            int q = ds > 0 ? nearest((x[i] + m) / ds, 0, 3) : 0;
            b[16 + c * 32 + h * 16 + l] |= (uint8_t)(q << (2 * s));
        }
    }
    put16(b + 80, d);
    put16(b + 82, dm);
}

static void quant_q3_k(const float *x, uint8_t *b)
{
    float sf[16];
    for (int j = 0; j < 16; j++) {
        float m = 0.0f, am = 0.0f;
        for (int l = 0; l < 16; l++)
            if (fabsf(x[j * 16 + l]) > am) {
                am = fabsf(x[j * 16 + l]);
                m = x[j * 16 + l];
            }
        sf[j] = m / -4.0f;
    }
    float d = maxabs(sf, 16) / 31.0f;
    float dh = kern_f16_to_f32(kern_f32_to_f16(d));
    memset(b, 0, 110);
    for (int j = 0; j < 16; j++) {
        int sc = d > 0 ? nearest(sf[j] / d, -32, 31) : 0;
        int u = sc + 32;
        if (j < 8)
            b[96 + j] |= (uint8_t)(u & 0xf);
        else
            b[96 + j - 8] |= (uint8_t)((u & 0xf) << 4);
        b[96 + 8 + (j & 3)] |= (uint8_t)(((u >> 4) & 3) << (2 * (j >> 2)));
        for (int l = 0; l < 16; l++) {
            int i = j * 16 + l;
            int c = i / 128, s = (i % 128) / 32, h = (i % 32) / 16;
            int q = sc ? nearest(x[i] / (dh * (float)sc), -4, 3) : 0;
            if (q >= 0)
                b[h * 16 + l] |= (uint8_t)(1u << (c * 4 + s));
            b[32 + c * 32 + h * 16 + l] |= (uint8_t)(((q >= 0 ? q : q + 4) & 3) << (2 * s));
        }
    }
    put16(b + 108, d);
}

/* Q4_K (bits 4) and Q5_K (bits 5). */
static void quant_q45_k(const float *x, uint8_t *b, int bits)
{
    int qmax = (1 << bits) - 1;
    float sf[8], mf[8];
    affine_fit(x, 8, 32, qmax, sf, mf);
    float d = maxabs(sf, 8) / 63.0f, dm = maxabs(mf, 8) / 63.0f;
    float dh = kern_f16_to_f32(kern_f32_to_f16(d)), dmh = kern_f16_to_f32(kern_f32_to_f16(dm));
    size_t size = bits == 5 ? 176 : 144;
    memset(b, 0, size);
    uint8_t *s = b + 4, *qh = b + 16, *ql = b + (bits == 5 ? 48 : 16);
    for (int j = 0; j < 8; j++) {
        int sc = d > 0 ? nearest(sf[j] / d, 0, 63) : 0, mn = dm > 0 ? nearest(mf[j] / dm, 0, 63) : 0;
        if (j < 4) {
            s[j] |= (uint8_t)sc;
            s[j + 4] |= (uint8_t)mn;
        } else {
            s[j + 4] = (uint8_t)((sc & 0xf) | ((mn & 0xf) << 4));
            s[j - 4] |= (uint8_t)((sc >> 4) << 6);
            s[j] |= (uint8_t)((mn >> 4) << 6);
        }
        for (int l = 0; l < 32; l++) {
            float ds = dh * (float)sc;
            int q = ds > 0 ? nearest((x[j * 32 + l] + dmh * (float)mn) / ds, 0, qmax) : 0;
            ql[(j / 2) * 32 + l] |= (uint8_t)((q & 0xf) << (j % 2 ? 4 : 0));
            if (bits == 5 && q > 15)
                qh[l] |= (uint8_t)(1u << j);
        }
    }
    put16(b, d);
    put16(b + 2, dm);
}

static void quant_q6_k(const float *x, uint8_t *b)
{
    float sf[16];
    for (int j = 0; j < 16; j++)
        sf[j] = maxabs(x + j * 16, 16) / 31.0f;
    float d = maxabs(sf, 16) / 127.0f;
    float dh = kern_f16_to_f32(kern_f32_to_f16(d));
    memset(b, 0, 210);
    for (int j = 0; j < 16; j++) {
        int sc = d > 0 ? nearest(sf[j] / d, -128, 127) : 0;
        b[192 + j] = (uint8_t)(int8_t)sc;
        for (int l16 = 0; l16 < 16; l16++) {
            int i = j * 16 + l16;
            int c = i / 128, k = (i % 128) / 32, l = i % 32;
            int q = sc ? nearest(x[i] / (dh * (float)sc), -32, 31) + 32 : 32;
            uint8_t *ql = b + c * 64 + (k & 1) * 32 + l;
            *ql |= (uint8_t)((q & 0xf) << (k >= 2 ? 4 : 0));
            b[128 + c * 32 + l] |= (uint8_t)((q >> 4) << (2 * k));
        }
    }
    put16(b + 208, d);
}

/* Quantize a row of any type: kernels' own quantizers, else the above. */
static void quantize(uint32_t type, const float *x, uint8_t *out, size_t n)
{
    if (kern_quantize_row(type, x, out, n) == KERN_OK)
        return;
    size_t bytes = gguf_type_info(type)->size;
    for (size_t i = 0; i < n; i += 256, out += bytes) {
        switch (type) {
        case GGUF_T_Q2_K: quant_q2_k(x + i, out); break;
        case GGUF_T_Q3_K: quant_q3_k(x + i, out); break;
        case GGUF_T_Q4_K: quant_q45_k(x + i, out, 4); break;
        case GGUF_T_Q5_K: quant_q45_k(x + i, out, 5); break;
        case GGUF_T_Q6_K: quant_q6_k(x + i, out); break;
        default: fail_msg("no quantizer for type %u", type);
        }
    }
}

#define N 1024

static const struct {
    uint32_t type;
    double max_rel_rms; /* round-trip RMS error / RMS of the data */
} types[] = {
    {GGUF_T_F32, 0.0}, {GGUF_T_F16, 0.001}, {GGUF_T_BF16, 0.005},
    {GGUF_T_Q8_0, 0.01}, {GGUF_T_Q8_1, 0.01}, {GGUF_T_Q8_K, 0.01},
    {GGUF_T_Q5_0, 0.05}, {GGUF_T_Q5_1, 0.05}, {GGUF_T_Q4_0, 0.1}, {GGUF_T_Q4_1, 0.1},
    {GGUF_T_Q6_K, 0.03}, {GGUF_T_Q5_K, 0.06}, {GGUF_T_Q4_K, 0.12}, {GGUF_T_Q3_K, 0.25},
    {GGUF_T_Q2_K, 0.5},
};

static void test_round_trips(void **state)
{
    (void)state;
    static float x[N], y[N];
    static uint8_t q[N * 4];
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        uint32_t t = types[k].type;
        assert_int_equal(kern_check(t, N, NULL, 0), KERN_OK);
        double worst = 0.0;
        for (int rep = 0; rep < 8; rep++) {
            fill(x, N, rep % 2 ? 0.02f : 3.0f);
            quantize(t, x, q, N);
            kern_dequant_row(t, q, y, N);
            double e = 0.0, s = 0.0;
            for (size_t i = 0; i < N; i++) {
                e += (double)(x[i] - y[i]) * (x[i] - y[i]);
                s += (double)x[i] * x[i];
            }
            worst = fmax(worst, sqrt(e / s));
        }
        printf("  %-5s round-trip rel. RMS error %.5f\n", gguf_type_info(t)->name, worst);
        assert_true(worst <= types[k].max_rel_rms);
    }
}

static void test_dots(void **state)
{
    (void)state;
    static float x[N], w[N], wd[N], a[N], ad[N];
    static uint8_t q[N * 4], qa[N * 4];
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        uint32_t t = types[k].type;
        fill(w, N, 1.0f);
        fill(x, N, 1.0f);
        quantize(t, w, q, N);
        kern_dequant_row(t, q, wd, N);
        float ref = kern_dot_f32(wd, x, N);
        float got = kern_dot_row(t, q, x, N);
        assert_true(fabsf(got - ref) <= 1e-4f * (1.0f + fabsf(ref)));
        /* against an activation in the vec-dot format */
        uint32_t vt = kern_vec_dot_type(t);
        memcpy(a, x, sizeof a);
        quantize(vt, x, qa, N);
        kern_dequant_row(vt, qa, ad, N);
        float vref = kern_dot_f32(wd, ad, N);
        float vgot = kern_vec_dot(t, q, qa, N);
        /* Q4_1/Q5_1 use the activation's F16 block sums, a small deviation */
        assert_true(fabsf(vgot - vref) <= 2e-3f * (1.0f + fabsf(vref)));
        /* kern_round_activation is the same rounding, in place */
        kern_round_activation(t, a, N, qa);
        assert_memory_equal(a, vt == GGUF_T_F32 ? x : ad, sizeof a);
    }
}

static void test_half_conversions(void **state)
{
    (void)state;
    assert_int_equal(kern_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(kern_f32_to_f16(-2.0f), 0xc000);
    assert_int_equal(kern_f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(kern_f32_to_f16(65520.0f), 0x7c00); /* rounds to infinity */
    assert_int_equal(kern_f32_to_f16(INFINITY), 0x7c00);
    assert_int_equal(kern_f32_to_f16(5.9604645e-8f), 0x0001); /* smallest subnormal */
    assert_int_equal(kern_f32_to_f16(2.9802322e-8f), 0x0000); /* tie to even: 0 */
    assert_int_equal(kern_f32_to_f16(1.0f + 1.0f / 2048.0f), 0x3c00); /* tie to even */
    assert_int_equal(kern_f32_to_f16(1.0f + 3.0f / 2048.0f), 0x3c02);
    assert_true(isnan(kern_f16_to_f32(kern_f32_to_f16(NAN))));
    assert_true(kern_f16_to_f32(0x0001) == 5.9604645e-8f);
    assert_true(kern_f16_to_f32(0x03ff) == 6.0975552e-5f);
    assert_true(kern_f16_to_f32(0x7bff) == 65504.0f);
    /* every finite half survives a round trip */
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00)
            continue;
        assert_int_equal(kern_f32_to_f16(kern_f16_to_f32((uint16_t)h)), h);
    }
    assert_int_equal(kern_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(kern_f32_to_bf16(1.00390625f), 0x3f80); /* tie to even */
    assert_int_equal(kern_f32_to_bf16(1.01171875f), 0x3f82);
    assert_true(kern_bf16_to_f32(0x4049) == 3.140625f);
    assert_true(isnan(kern_bf16_to_f32(kern_f32_to_bf16(NAN))));
}

static void test_check(void **state)
{
    (void)state;
    char err[128];
    assert_int_equal(kern_check(GGUF_T_Q4_K, 255, err, sizeof err), KERN_ESIZE);
    assert_non_null(strstr(err, "q4_K"));
    assert_int_equal(kern_check(GGUF_T_IQ2_XXS, 256, err, sizeof err), KERN_ETYPE);
    assert_int_equal(kern_check(9999, 32, err, sizeof err), KERN_ETYPE);
    assert_int_equal(kern_quantize_row(GGUF_T_Q4_K, (float[256]){0}, (uint8_t[256]){0}, 256), KERN_ETYPE);
    assert_false(kern_supported(GGUF_T_I32));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_half_conversions),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_dots),
        cmocka_unit_test(test_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
