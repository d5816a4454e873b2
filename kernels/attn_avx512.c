/* AVX-512 attention over an F16 cache for head sizes 64 and 128: the
 * numerics of kern_attn_f16 (query rounded to F16, values accumulated in
 * F16 through a single-pass softmax), with the accumulators held in
 * registers. Keys go sixteen at a time: their scores first, then the
 * running maximum in order, then the sixteen exponentials in one vector,
 * and only the value updates stay one key after another. Other head sizes
 * take the AVX2 kernel. */
#include "kernels/simd_internal.h"

#include <immintrin.h>
#include <math.h>

#define AI static inline __attribute__((always_inline))

AI __m512 round_f16(__m512 x)
{
    return _mm512_cvtph_ps(_mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

AI __m512 ld_h16(const uint16_t *p)
{
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

/* e^x of each of the n vectors x[0, n) (x <= 0, in place) within about
 * one ulp; below KERN_SOFTMAX_MIN the result is 0, as kern_expf_softmax
 * gives. x = k ln2 + r with |r| <= ln2 / 2, e^r from its Taylor series
 * to the 7th power (the first omitted term is < 5e-9). The vectors go
 * side by side, so that their chains of dependent steps overlap. */
AI void exp_neg(const int n, __m512 *x)
{
    const __m512 ln2_hi = _mm512_set1_ps(0.693359375f), ln2_lo = _mm512_set1_ps(-2.12194440e-4f);
    static const float c[] = {1.0f / 5040, 1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f};
    __mmask16 keep[4];
    __m512 k[4], r[4], p[4];
    for (int b = 0; b < n; b++) {
        keep[b] = _mm512_cmp_ps_mask(x[b], _mm512_set1_ps(KERN_SOFTMAX_MIN), _CMP_GE_OQ);
        __m512 xb = _mm512_max_ps(x[b], _mm512_set1_ps(KERN_SOFTMAX_MIN));
        k[b] = _mm512_roundscale_ps(_mm512_mul_ps(xb, _mm512_set1_ps(1.44269504f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        r[b] = _mm512_fnmadd_ps(k[b], ln2_lo, _mm512_fnmadd_ps(k[b], ln2_hi, xb));
        p[b] = _mm512_set1_ps(c[0]);
    }
    for (int i = 1; i < 8; i++)
        for (int b = 0; b < n; b++)
            p[b] = _mm512_fmadd_ps(p[b], r[b], _mm512_set1_ps(c[i]));
    for (int b = 0; b < n; b++)
        x[b] = _mm512_maskz_mov_ps(keep[b], _mm512_scalef_ps(p[b], k[b]));
}

/* Sixteen lanes' sums of each of d[0..16), in lane j of the result, each
 * added in the order _mm512_reduce_add_ps uses (lane l with l + 8, then
 * l + 4, l + 2, l + 1), so a score has the same bits as a lone reduction:
 * 45 shuffles and adds instead of 16 * 7. */
AI __m512 sum16(const __m512 *d)
{
    __m512 h[8], u[4], v[2];
    for (int i = 0; i < 8; i++) /* key a's eight partial sums, then key b's */
        h[i] = _mm512_add_ps(_mm512_shuffle_f32x4(d[2 * i], d[2 * i + 1], 0x44),
                             _mm512_shuffle_f32x4(d[2 * i], d[2 * i + 1], 0xee));
    for (int i = 0; i < 4; i++) /* four keys' four partial sums */
        u[i] = _mm512_add_ps(_mm512_shuffle_f32x4(h[2 * i], h[2 * i + 1], 0x88),
                             _mm512_shuffle_f32x4(h[2 * i], h[2 * i + 1], 0xdd));
    for (int i = 0; i < 2; i++) /* in each 128 bits: two keys' two partial sums */
        v[i] = _mm512_add_ps(_mm512_shuffle_ps(u[2 * i], u[2 * i + 1], 0x44),
                             _mm512_shuffle_ps(u[2 * i], u[2 * i + 1], 0xee));
    __m512 w = _mm512_add_ps(_mm512_shuffle_ps(v[0], v[1], 0x88), _mm512_shuffle_ps(v[0], v[1], 0xdd));
    /* lane 4c + e holds key c + 4e */
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), w);
}

/* x's lanes shifted up by n, the lowest n taking -inf (ninf); a macro, as
 * the shift must be a constant where the intrinsic is used. */
#define UP(x, n) \
    _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(x), _mm512_castps_si512(ninf), 16 - (n)))

/* QB queries (rows of 16 * NV values in q and out) over the same keys
 * and values. Each query's arithmetic is the single-query loop's; running
 * them side by side keeps the F16 rounding chains of the value updates,
 * one key after another, from waiting on each other. Per block of sixteen
 * keys: the keys in F32 once for all queries, each query's sixteen scores
 * in one vector, the running maximum before each key by a prefix maximum
 * (the serial loop's comparisons, without its branches), and the
 * exponentials together. */
AI void attn_group(const int NV, const int QB, const float *q, const uint16_t *k, const uint16_t *v,
                   size_t stride, size_t n_kv, float scale, float *out)
{
    const size_t hd = 16 * (size_t)NV;
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    __m512 acc[4][8], qv[4][8];
    __m512 mx[4];
    float sum[4];
    for (int b = 0; b < QB; b++) {
        mx[b] = ninf;
        sum[b] = 0.0f;
        for (int i = 0; i < NV; i++) {
            acc[b][i] = _mm512_setzero_ps();
            qv[b][i] = round_f16(_mm512_loadu_ps(q + b * hd + 16 * i));
        }
    }
    for (size_t p0 = 0; p0 < n_kv; p0 += 16) {
        const int nk = n_kv - p0 < 16 ? (int)(n_kv - p0) : 16;
        const __mmask16 live = (__mmask16)((1u << nk) - 1);
        __m512 kf[16][8];
        float e[4][16];
        __mmask16 newmax[4];
        for (int j = 0; QB > 1 && j < nk; j++)
            for (int i = 0; i < NV; i++)
                kf[j][i] = ld_h16(k + (p0 + j) * stride + 16 * i);
        __m512 sc[4], pm[4], arg[4];
        for (int b = 0; b < QB; b++) {
            __m512 d[16];
            for (int j = 0; j < 16; j++) {
                if (j >= nk) {
                    d[j] = _mm512_setzero_ps();
                    continue;
                }
                const uint16_t *kp = k + (p0 + j) * stride;
                d[j] = _mm512_mul_ps(qv[b][0], QB > 1 ? kf[j][0] : ld_h16(kp));
                for (int i = 1; i < NV; i++)
                    d[j] = _mm512_fmadd_ps(qv[b][i], QB > 1 ? kf[j][i] : ld_h16(kp + 16 * i), d[j]);
            }
            sc[b] = _mm512_mask_mul_ps(ninf, live, sum16(d), _mm512_set1_ps(scale));
        }
        /* the maximum of the scores before each key (and mx); from here on
         * the queries go side by side, their chains overlapping (hot, 512
         * keys: 0.93-0.95 of the time one after another took, for 8 queries
         * of head size 64 and 4 of 128; the same bits) */
        for (int b = 0; b < QB; b++)
            pm[b] = _mm512_max_ps(sc[b], UP(sc[b], 1));
        for (int b = 0; b < QB; b++)
            pm[b] = _mm512_max_ps(pm[b], UP(pm[b], 2));
        for (int b = 0; b < QB; b++)
            pm[b] = _mm512_max_ps(pm[b], UP(pm[b], 4));
        for (int b = 0; b < QB; b++)
            pm[b] = _mm512_max_ps(pm[b], UP(pm[b], 8));
        for (int b = 0; b < QB; b++) {
            __m512 prev = _mm512_max_ps(UP(pm[b], 1), mx[b]);
            newmax[b] = _mm512_cmp_ps_mask(sc[b], prev, _CMP_GT_OQ);
            arg[b] = _mm512_mask_sub_ps(_mm512_sub_ps(sc[b], prev), newmax[b], prev, sc[b]);
            /* the running maximum after the block, in every lane */
            mx[b] = _mm512_permutexvar_ps(_mm512_set1_epi32(15), _mm512_max_ps(pm[b], mx[b]));
        }
        exp_neg(QB, arg);
        for (int b = 0; b < QB; b++)
            _mm512_storeu_ps(e[b], arg[b]);
        for (int j = 0; j < nk; j++) {
            const uint16_t *vp = v + (p0 + j) * stride;
            __m512 vv[8];
            for (int i = 0; i < NV; i++)
                vv[i] = ld_h16(vp + 16 * i);
            for (int b = 0; b < QB; b++) {
                float ms = 1.0f, vs = e[b][j];
                if (newmax[b] >> j & 1) {
                    ms = e[b][j];
                    vs = 1.0f;
                    for (int i = 0; i < NV; i++)
                        acc[b][i] = round_f16(_mm512_mul_ps(acc[b][i], _mm512_set1_ps(ms)));
                }
                /* multiply, then add: the same two roundings as the portable loop */
                __m512 w = _mm512_set1_ps(vs);
                for (int i = 0; i < NV; i++)
                    acc[b][i] = round_f16(_mm512_add_ps(acc[b][i], _mm512_mul_ps(vv[i], w)));
                sum[b] = sum[b] * ms + vs;
            }
        }
    }
    for (int b = 0; b < QB; b++) {
        __m512 inv = _mm512_set1_ps(1.0f / sum[b]);
        for (int i = 0; i < NV; i++)
            _mm512_storeu_ps(out + b * hd + 16 * i, _mm512_mul_ps(acc[b][i], inv));
    }
}

#define GROUP(NV, QB) attn_group(NV, QB, q + r * hd, k, v, stride, n_kv, scale, out + r * hd)

void kern_attn_f16_avx512(size_t nq, const float *q, const uint16_t *k, const uint16_t *v, size_t stride,
                          size_t n_kv, size_t hd, float scale, float *out)
{
    if (hd != 64 && hd != 128) {
        kern_attn_f16_avx2(nq, q, k, v, stride, n_kv, hd, scale, out);
        return;
    }
    /* as many queries at once as leave the accumulators in registers */
    const size_t qb = hd == 64 ? 4 : 2;
    for (size_t r = 0; r < nq;) {
        size_t n = nq - r < qb ? nq - r : qb;
        if (hd == 64)
            switch (n) {
            case 4: GROUP(4, 4); break;
            case 3: GROUP(4, 3); break;
            case 2: GROUP(4, 2); break;
            default: GROUP(4, 1); break;
            }
        else if (n == 2)
            GROUP(8, 2);
        else
            GROUP(8, 1);
        r += n;
    }
}
