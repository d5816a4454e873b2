/* Vector work between the products on x86-64 (AVX2, FMA, F16C): SiLU
 * times up, F32 rows to F16 for the KV cache, the activations quantized
 * for the integer products, and attention over the cache. Built once with
 * the AVX2 flags and shared by both x86 tables, as the code is 256-bit
 * either way. */
#include "kernels/simd_internal.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/kernels_internal.h"

#define AI static inline __attribute__((always_inline))

/* e^x for x <= 0 within a few ulp: x = n ln2 + r with |r| <= ln2 / 2, e^r
 * from its Taylor series to the 7th power, 2^n built in the exponent bits;
 * below cut (at least -87, where 2^n would leave the normal range) the
 * result is 0. */
AI __m256 exp_neg8(__m256 x, float cut)
{
    const __m256 lo = _mm256_set1_ps(cut);
    __m256 keep = _mm256_cmp_ps(x, lo, _CMP_GE_OQ);
    x = _mm256_max_ps(x, lo);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f),
                                _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x));
    static const float c[] = {1.0f / 5040, 1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f};
    __m256 p = _mm256_set1_ps(c[0]);
    for (int i = 1; i < 8; i++)
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c[i]));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(keep, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

/* silu(x) * up for eight values, with e = e^-|x| never overflowing:
 * sigmoid is 1 / (1 + e) for x >= 0 and e / (1 + e) below. */
AI __m256 silu_mul8(__m256 x, __m256 up)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 e = exp_neg8(_mm256_or_ps(x, _mm256_set1_ps(-0.0f)), -87.0f);
    __m256 s = _mm256_div_ps(_mm256_blendv_ps(one, e, x), _mm256_add_ps(one, e));
    return _mm256_mul_ps(_mm256_mul_ps(x, s), up);
}

/* Plain loads and stores, only the tail masked: masked moves are slow on
 * some CPUs (here 7.7 -> 2.7-3.6 us for 5632 values, hot). */
void kern_silu_mul_avx2(const float *gate, const float *up, float *out, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, silu_mul8(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
    if (i == n)
        return;
    __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - i)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_ps(out + i, m, silu_mul8(_mm256_maskload_ps(gate + i, m), _mm256_maskload_ps(up + i, m)));
}

/* Round to nearest even, as kern_f32_to_f16; the cache row written is
 * cold, so its lines are asked for first. */
void kern_f32_to_f16_avx2(const float *x, uint16_t *y, size_t n)
{
    for (size_t i = 0; i < n * 2; i += 64)
        kern_prefetch_write((const uint8_t *)y + i);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++)
        y[i] = kern_f32_to_f16(x[i]);
}

/* each lane rounded to F16 and back */
AI __m256 vec_round_f16(__m256 x)
{
    return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

void kern_round_f16_avx2(const float *x, float *y, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, vec_round_f16(_mm256_loadu_ps(x + i)));
    for (; i < n; i++)
        y[i] = kern_f16_to_f32(kern_f32_to_f16(x[i]));
}

/* Lane i of the result: the largest of v[i]'s eight lanes; pairs folded
 * within 128-bit halves the way _mm256_hadd_ps folds sums, then across. */
AI __m256 fold8_max(const __m256 *v)
{
#define PAIRS(x, y) _mm256_max_ps(_mm256_shuffle_ps(x, y, 0x88), _mm256_shuffle_ps(x, y, 0xdd))
    __m256 u0 = PAIRS(PAIRS(v[0], v[1]), PAIRS(v[2], v[3]));
    __m256 u1 = PAIRS(PAIRS(v[4], v[5]), PAIRS(v[6], v[7]));
#undef PAIRS
    return _mm256_max_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

/* Lane i of the result: the sum of v[i]'s eight lanes. */
AI __m256i fold8_add(const __m256i *v)
{
    __m256i u0 = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    __m256i u1 = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u0, u1, 0x31));
}

/* Q8_0 (q1 false) or Q8_1 (true: after d, the f16 of d * the sum of the
 * quants) the way the reference quantizer computes it (amax / 127 as the
 * scale, quants rounded to nearest even from x * (127 / amax)), plus
 * kern_matmul's side: Q8_0's scales and sums, Q8_1's scales and stored
 * sums as f32. Eight blocks at a time, so that their largest magnitudes,
 * scales, half-precision rounding and sums are each one vector operation:
 * a product of 16 rows by 2048 inputs, hot, 0.89 -> 0.67 us a call;
 * during decoding (run before every product, on one thread) 4-7 -> 1-4 us
 * a product. */
static void quant_q8(const float *x, uint8_t *row, size_t n, const bool q1)
{
    const size_t nb = n / 32, bs = q1 ? 36 : 34;
    float *dside = (float *)(row + (q1 ? KERN_Q8_1_SIDE(nb) : KERN_Q8_0_SIDE(nb)));
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (size_t b0 = 0; b0 < nb; b0 += 8) {
        const size_t nk = nb - b0 < 8 ? nb - b0 : 8;
        const float *xb = x + 32 * b0;
        __m256 m[8];
        for (size_t k = 0; k < 8; k++) {
            m[k] = _mm256_setzero_ps();
            for (int i = 0; i < 4 && k < nk; i++)
                m[k] = _mm256_max_ps(m[k], _mm256_andnot_ps(sign, _mm256_loadu_ps(xb + 32 * k + 8 * i)));
        }
        __m256 amax = fold8_max(m);
        __m256 d = _mm256_div_ps(amax, _mm256_set1_ps(127.0f));
        __m256 id = _mm256_and_ps(_mm256_div_ps(_mm256_set1_ps(127.0f), amax),
                                  _mm256_cmp_ps(amax, _mm256_setzero_ps(), _CMP_NEQ_OQ));
        __m128i h = _mm256_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        uint16_t hs[8];
        float ids[8], ds[8];
        _mm_storeu_si128((__m128i *)hs, h);
        _mm256_storeu_ps(ids, id);
        _mm256_storeu_ps(ds, _mm256_cvtph_ps(h));
        __m256i qs[8];
        for (size_t k = 0; k < nk; k++) {
            __m256i q[4];
            for (int i = 0; i < 4; i++)
                q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + 32 * k + 8 * i), _mm256_set1_ps(ids[k])));
            /* the packs interleave 128-bit lanes; the permute restores order */
            __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
            p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            uint8_t *blk = row + bs * (b0 + k);
            memcpy(blk, &hs[k], 2);
            _mm256_storeu_si256((__m256i *)(blk + bs - 32), p);
            qs[k] = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        }
        for (size_t k = nk; k < 8; k++)
            qs[k] = _mm256_setzero_si256();
        __m256i sum = fold8_add(qs);
        memcpy(dside + b0, ds, nk * sizeof *ds);
        if (q1) {
            /* the scale before its rounding to f16, times the sum */
            __m128i sh = _mm256_cvtps_ph(_mm256_mul_ps(d, _mm256_cvtepi32_ps(sum)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            float sf[8];
            _mm_storeu_si128((__m128i *)hs, sh);
            _mm256_storeu_ps(sf, _mm256_cvtph_ps(sh));
            for (size_t k = 0; k < nk; k++)
                memcpy(row + bs * (b0 + k) + 2, &hs[k], 2);
            memcpy(dside + nb + b0, sf, nk * sizeof *sf);
        } else {
            int32_t ss[8];
            _mm256_storeu_si256((__m256i *)ss, sum);
            memcpy((int32_t *)(dside + nb) + b0, ss, nk * sizeof *ss);
        }
    }
}

void kern_quant_q8_0_avx2(const float *x, uint8_t *row, size_t n)
{
    quant_q8(x, row, n, false);
}

void kern_quant_q8_1_avx2(const float *x, uint8_t *row, size_t n)
{
    quant_q8(x, row, n, true);
}

/* Q8_K the way the reference quantizer computes it: the value of largest
 * magnitude (the first of equals) maps to -127, quants rounded to nearest
 * even from x * (-127 / that value), the scale its inverse, and the sums
 * of each 16 quants. */
void kern_quant_q8_k_avx2(const float *x, uint8_t *row, size_t n)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (uint8_t *blk = row; blk < row + n / 256 * KERN_Q8K_BYTES; blk += KERN_Q8K_BYTES, x += 256) {
        __m256 m = _mm256_setzero_ps();
        for (int i = 0; i < 256; i += 8)
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4), max = 0.0f;
        for (int i = 0; i < 256 && amax != 0.0f; i += 8) {
            __m256 a = _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i));
            int hit = _mm256_movemask_ps(_mm256_cmp_ps(a, _mm256_set1_ps(amax), _CMP_EQ_OQ));
            if (hit) {
                max = x[i + __builtin_ctz((unsigned)hit)];
                break;
            }
        }
        float iscale = max != 0.0f ? -127.0f / max : 0.0f, d = max != 0.0f ? 1.0f / iscale : 0.0f;
        memcpy(blk, &d, 4);
        __m256i qs[16];
        for (int g = 0; g < 16; g++) {
            __m256i q0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16 * g), _mm256_set1_ps(iscale)));
            __m256i q1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16 * g + 8), _mm256_set1_ps(iscale)));
            /* saturation caps at 127 like the reference; nothing is below -127 */
            __m256i p16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), 0xd8);
            __m128i p8 = _mm_packs_epi16(_mm256_castsi256_si128(p16), _mm256_extracti128_si256(p16, 1));
            _mm_storeu_si128((__m128i *)(blk + KERN_Q8K_QS + 16 * g), p8);
            qs[g] = _mm256_add_epi32(_mm256_cvtepi8_epi32(p8), _mm256_cvtepi8_epi32(_mm_srli_si128(p8, 8)));
        }
        /* the sixteen sums (at most 16 * 127 in magnitude) as int16 */
        __m256i s0 = fold8_add(qs), s1 = fold8_add(qs + 8);
        __m256i s16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(s0, s1), 0xd8);
        _mm256_storeu_si256((__m256i *)(blk + KERN_Q8K_SUMS), s16);
    }
}

/* ---- attention over an F16 cache (kern_attn_f16; attn_internal.h) ---- */

#define ATTN_W 8

/* the vector primitives of attn_internal.h */
typedef __m256 attn_vec;
#define vec_ld _mm256_loadu_ps
#define vec_st _mm256_storeu_ps
#define vec_set1 _mm256_set1_ps
#define vec_mul _mm256_mul_ps
#define vec_add _mm256_add_ps

AI float round1_f16(float x)
{
    return _cvtsh_ss(_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

/* Eight values (rowv) or one (row1) of a row from value i on: the row in
 * F32 (f32) or in F16. */
AI __m256 rowv(const void *row, size_t i, const bool f32)
{
    if (f32)
        return _mm256_loadu_ps((const float *)row + i);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)));
}

AI float row1(const void *row, size_t i, const bool f32)
{
    return f32 ? ((const float *)row)[i] : _cvtsh_ss(((const uint16_t *)row)[i]);
}

/* Lane i of the result: the sum of v[i]'s eight lanes. */
AI __m256 fold8_sum(const __m256 *v)
{
    __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
    __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(v[4], v[5]), _mm256_hadd_ps(v[6], v[7]));
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

/* A block's eight scores before scaling (key j's row at k + j * rb
 * bytes): each key's dot product with the query in one chain of
 * eight-lane products along the row, the lanes folded, then the row's
 * last hd % 8 values one by one. Keys from nk on read key 0 again, for the
 * caller to mask. */
AI __m256 scores8(const bool f32, const float *qv, const char *k, size_t rb, int nk, size_t hd)
{
    const size_t h8 = hd / 8 * 8;
    const char *kp[8];
    __m256 d[8];
    for (int j = 0; j < 8; j++) {
        kp[j] = k + (size_t)(j < nk ? j : 0) * rb;
        d[j] = _mm256_setzero_ps();
    }
    for (size_t i = 0; i < h8; i += 8) {
        __m256 qi = _mm256_loadu_ps(qv + i);
        for (int j = 0; j < 8; j++)
            d[j] = _mm256_fmadd_ps(qi, rowv(kp[j], i, f32), d[j]);
    }
    __m256 s = fold8_sum(d);
    if (h8 == hd)
        return s;
    float t[8];
    _mm256_storeu_ps(t, s);
    for (int j = 0; j < 8; j++)
        for (size_t i = h8; i < hd; i++)
            t[j] += qv[i] * row1(kp[j], i, f32);
    return _mm256_loadu_ps(t);
}

/* x's lanes moved up by n, the lowest n taking -inf (ninf); a macro, as
 * the blend's mask must be a constant. */
#define UP(x, n) \
    _mm256_blend_ps(_mm256_permutevar8x32_ps(x, _mm256_max_epi32(_mm256_sub_epi32(lane, _mm256_set1_epi32(n)), \
                                                                 _mm256_setzero_si256())), \
                    ninf, (1 << (n)) - 1)

/* One query's weights for one block of nk keys (its row rounded in qv, its
 * running maximum and softmax denominator in *mx and *sum): the scores,
 * the maximum before each key by a prefix maximum (the serial loop's
 * comparisons, without its branches) and the weights in one vector each.
 * Returns the keys that set a new maximum, one bit each. */
AI unsigned attn_weights(const bool f32, const float *qv, float *mx, float *sum, const char *k, size_t rb,
                         int nk, size_t hd, float scale, float *e)
{
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256 live = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(nk), lane));
    __m256 s = _mm256_blendv_ps(ninf, _mm256_mul_ps(scores8(f32, qv, k, rb, nk, hd), _mm256_set1_ps(scale)), live);
    __m256 pm = s;
    pm = _mm256_max_ps(pm, UP(pm, 1));
    pm = _mm256_max_ps(pm, UP(pm, 2));
    pm = _mm256_max_ps(pm, UP(pm, 4));
    __m256 prev = _mm256_max_ps(UP(pm, 1), _mm256_set1_ps(*mx));
    __m256 nmv = _mm256_cmp_ps(s, prev, _CMP_GT_OQ);
    _mm256_storeu_ps(e, exp_neg8(_mm256_blendv_ps(_mm256_sub_ps(s, prev), _mm256_sub_ps(prev, s), nmv),
                                 KERN_SOFTMAX_MIN));
    const unsigned nm = (unsigned)_mm256_movemask_ps(nmv);
    if (nm)
        *mx = _mm256_cvtss_f32(_mm256_permutevar8x32_ps(pm, _mm256_set1_epi32(7)));
    for (int j = 0; j < nk; j++)
        *sum = nm >> j & 1 ? *sum * e[j] + 1.0f : *sum + e[j];
    return nm;
}

#undef UP

#define attn_round_q kern_round_f16_avx2
#include "kernels/attn_internal.h"

void kern_attn_f16_avx2(size_t nq, const float *q, const uint16_t *k, const uint16_t *v, size_t stride,
                        size_t n_kv, size_t hd, float scale, float *out)
{
    attn_run(nq, q, k, v, stride, n_kv, hd, scale, out);
}
