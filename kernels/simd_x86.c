/* x86-64 kernels, compiled twice from this file: with AVX2+FMA+F16C
 * (kern_ops_avx2) and with AVX-512 BW/VL + VNNI (kern_ops_avx512: 256-bit
 * VNNI dot products and the 32 vector registers for taller tiles).
 *
 * Every product is a tile of up to RM weight rows by CM activation rows:
 * a weight block is unpacked once and used against several tokens, which
 * is what makes prompt processing compute-bound rather than memory-bound.
 * Quantized types take integer dot products of the weight's small integers
 * with the 8-bit activations and scale each block's sum in f32. */
#include "kernels/simd_internal.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "kernels/kernels_internal.h"
#include "kernels/pack_internal.h"

#if defined(KERN_X86_AVX512)
#define OPS_NAME kern_ops_avx512
#define SET_NAME "avx512-vnni"
#define VNNI 1
#define RM_LEGACY 4
#define RM_KQ 1
#define CM_LEGACY 4
#define CM_KQ 8
#else
#define OPS_NAME kern_ops_avx2
#define SET_NAME "avx2-fma"
#define VNNI 0
#define RM_LEGACY 2
#define RM_KQ 1
#define CM_LEGACY 4
#define CM_KQ 4
#endif
#define RM_FLOAT RM_LEGACY
#define CM_FLOAT CM_LEGACY

#define AI static inline __attribute__((always_inline))

AI float ld_h(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

AI float ld_f(const uint8_t *p)
{
    float f;
    memcpy(&f, p, 4);
    return f;
}

AI __m256i ld256(const uint8_t *p)
{
    return _mm256_loadu_si256((const __m256i *)p);
}

AI float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* acc + sums of four u8*s8 products per i32 lane (the AVX2 form needs
 * every pair sum to fit in i16, which holds for the operands used here). */
AI __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s)
{
#if VNNI
    return _mm256_dpbusd_epi32(acc, u, s);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}

/* acc + sums of two i16*i16 products per i32 lane. */
AI __m256i dot_i16(__m256i acc, __m256i a, __m256i b)
{
#if VNNI
    return _mm256_dpwssd_epi32(acc, a, b);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
#endif
}

/* ---- legacy 32-element blocks: Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 ---- */

enum { L_Q4_0, L_Q4_1, L_Q5_0, L_Q5_1, L_Q8_0 };

/* 16 packed bytes -> 32 nibbles: low halves are elements 0..15. */
AI __m256i nibbles(const uint8_t *qs)
{
    __m128i q = _mm_loadu_si128((const __m128i *)qs);
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

/* Bit j of a 32-bit little-endian mask -> 0x10 in byte j. */
AI __m256i high_bits(const uint8_t *qh4)
{
    uint32_t qh;
    memcpy(&qh, qh4, 4);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh),
                                    _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL,
                                                      0x0101010101010101LL, 0));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

AI size_t legacy_bytes(int kind)
{
    static const size_t b[] = {18, 20, 22, 24, 34};
    return b[kind];
}

AI int legacy_affine(int kind)
{
    return kind == L_Q4_1 || kind == L_Q5_1;
}

/* Q4_0/Q5_0 store q + offset: the products are taken with the unsigned q
 * and offset * (sum of the activation block) taken off once per token. */
AI int legacy_offset(int kind)
{
    return kind == L_Q4_0 ? 8 : kind == L_Q5_0 ? 16 : 0;
}

/* The block's integers: signed for Q8_0, unsigned (0..31) otherwise. */
AI __m256i legacy_unpack(int kind, const uint8_t *b)
{
    switch (kind) {
    case L_Q4_0: return nibbles(b + 2);
    case L_Q4_1: return nibbles(b + 4);
    case L_Q5_0: return _mm256_or_si256(nibbles(b + 6), high_bits(b + 2));
    case L_Q5_1: return _mm256_or_si256(nibbles(b + 8), high_bits(b + 4));
    default: return ld256(b + 2);
    }
}

AI void legacy_tile(const int kind, const int R, const int C, const uint8_t *w, size_t ws,
                    const uint8_t *a, size_t as, size_t n, float *y, size_t ldy)
{
    const int aff = legacy_affine(kind), off = legacy_offset(kind), sgn = kind == L_Q8_0;
    const size_t wb = legacy_bytes(kind), ab = aff ? 36 : 34, aq = aff ? 4 : 2;
    const __m256i zero = _mm256_setzero_si256();
    __m256 acc[RM_LEGACY][CM_LEGACY];
#pragma GCC unroll 16
    for (int r = 0; r < R; r++)
#pragma GCC unroll 16
        for (int c = 0; c < C; c++)
            acc[r][c] = _mm256_setzero_ps();
    for (size_t b = 0; b < n / 32; b++) {
        __m256i wv[RM_LEGACY], wx[RM_LEGACY];
        __m256 dw[RM_LEGACY], mw[RM_LEGACY];
#pragma GCC unroll 16
        for (int r = 0; r < R; r++) {
            const uint8_t *blk = w + r * ws + b * wb;
            wv[r] = legacy_unpack(kind, blk);
            dw[r] = _mm256_set1_ps(ld_h(blk));
            mw[r] = aff ? _mm256_set1_ps(ld_h(blk + 2)) : dw[r];
            wx[r] = zero;
            if (sgn) {
#if VNNI
                /* (a + 128) * w - 128 * w: vpdpbusd wants an unsigned side */
                wx[r] = _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, _mm256_set1_epi8(-128), wv[r]));
#else
                /* |w| * (a with w's sign): maddubs wants an unsigned side */
                wx[r] = wv[r];
                wv[r] = _mm256_sign_epi8(wv[r], wv[r]);
#endif
            }
        }
#pragma GCC unroll 16
        for (int c = 0; c < C; c++) {
            const uint8_t *ablk = a + c * as + b * ab;
            __m256i av = ld256(ablk + aq);
            __m256 da = _mm256_set1_ps(ld_h(ablk));
            /* the min term uses the activation's stored f16 block sum
             * (d * sum of its quants), as the reference does */
            __m256 fsa = aff ? _mm256_set_ps(0, 0, 0, 0, 0, 0, 0, ld_h(ablk + 2)) : _mm256_setzero_ps();
            __m256i base = zero;
            if (off)
                base = _mm256_sub_epi32(zero, dot_u8s8(zero, _mm256_set1_epi8((char)off), av));
#if VNNI
            __m256i au = _mm256_xor_si256(av, _mm256_set1_epi8(-128));
#endif
#pragma GCC unroll 16
            for (int r = 0; r < R; r++) {
                __m256i d;
                if (!sgn)
                    d = dot_u8s8(base, wv[r], av);
                else
#if VNNI
                    d = _mm256_dpbusd_epi32(wx[r], au, wv[r]);
#else
                    d = dot_u8s8(zero, wv[r], _mm256_sign_epi8(av, wx[r]));
#endif
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), _mm256_mul_ps(dw[r], da), acc[r][c]);
                if (aff)
                    acc[r][c] = _mm256_fmadd_ps(fsa, mw[r], acc[r][c]);
            }
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; r++)
#pragma GCC unroll 16
        for (int c = 0; c < C; c++)
            y[c * ldy + r] = hsum(acc[r][c]);
}

/* ---- Q4_0 and Q8_0, eight rows at a time ----
 * The eight rows' blocks are transposed in 4-byte groups so that lane i of
 * one vector holds four codes of row i: one dot instruction with a
 * broadcast group of activations then advances all eight rows, and each
 * block costs one conversion and scaling for eight rows instead of one.
 * The codes are unsigned (Q4_0 as stored, Q8_0 + 128); offset * (sum of
 * the activation block) is taken off through kern_matmul's side sums. */

#if VNNI
#define CM_ROWS8 8
#else
#define CM_ROWS8 4 /* two accumulators per token must fit 16 registers */
#endif

/* Q4_0: lane i of z[k] holds row ROWS8_Q4[i]'s bytes 4k..4k+3. */
static const int rows8_q4_order[8] = {0, 2, 4, 6, 1, 3, 5, 7};

AI void rows8_codes_q4_0(const uint8_t *w, size_t ws, size_t off, __m256i *W)
{
    __m256i y[4];
    for (int j = 0; j < 4; j++)
        y[j] = _mm256_loadu2_m128i((const __m128i *)(w + (2 * j + 1) * ws + off + 2),
                                   (const __m128i *)(w + 2 * j * ws + off + 2));
    __m256i a = _mm256_unpacklo_epi32(y[0], y[1]), b = _mm256_unpackhi_epi32(y[0], y[1]);
    __m256i c = _mm256_unpacklo_epi32(y[2], y[3]), d = _mm256_unpackhi_epi32(y[2], y[3]);
    __m256i z[4] = {_mm256_unpacklo_epi64(a, c), _mm256_unpackhi_epi64(a, c),
                    _mm256_unpacklo_epi64(b, d), _mm256_unpackhi_epi64(b, d)};
    const __m256i m = _mm256_set1_epi8(0x0f);
    for (int k = 0; k < 4; k++) {
        W[k] = _mm256_and_si256(z[k], m);                        /* elements 4k.. */
        W[k + 4] = _mm256_and_si256(_mm256_srli_epi16(z[k], 4), m); /* 16 + 4k.. */
    }
}

#if VNNI
AI void rows8_codes_q8_0(const uint8_t *w, size_t ws, size_t off, __m256i *W)
{
    __m256i y[8], t[8], u[8];
    for (int r = 0; r < 8; r++)
        y[r] = ld256(w + r * ws + off + 2);
    for (int r = 0; r < 8; r += 2) {
        t[r] = _mm256_unpacklo_epi32(y[r], y[r + 1]);
        t[r + 1] = _mm256_unpackhi_epi32(y[r], y[r + 1]);
    }
    for (int r = 0; r < 8; r += 4) {
        u[r] = _mm256_unpacklo_epi64(t[r], t[r + 2]);
        u[r + 1] = _mm256_unpackhi_epi64(t[r], t[r + 2]);
        u[r + 2] = _mm256_unpacklo_epi64(t[r + 1], t[r + 3]);
        u[r + 3] = _mm256_unpackhi_epi64(t[r + 1], t[r + 3]);
    }
    const __m256i flip = _mm256_set1_epi8(-128);
    for (int k = 0; k < 4; k++) {
        W[k] = _mm256_xor_si256(_mm256_permute2x128_si256(u[k], u[k + 4], 0x20), flip);
        W[k + 4] = _mm256_xor_si256(_mm256_permute2x128_si256(u[k], u[k + 4], 0x31), flip);
    }
}
#endif

/* base + the dot products of the eight transposed code vectors with the
 * activation block q (32 signed bytes), 4 bytes per group. */
AI __m256i rows8_dot(const __m256i *W, const uint8_t *q, __m256i base)
{
#if VNNI
    /* four short chains: one token alone must not wait on eight in a row */
    __m256i s[4] = {base, _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int g = 0; g < 8; g++) {
        int32_t v;
        memcpy(&v, q + 4 * g, 4);
        s[g & 3] = _mm256_dpbusd_epi32(s[g & 3], W[g], _mm256_set1_epi32(v));
    }
    return _mm256_add_epi32(_mm256_add_epi32(s[0], s[1]), _mm256_add_epi32(s[2], s[3]));
#else
    /* codes <= 15: eight pair sums of 2 * 15 * 127 still fit in i16 */
    __m256i s = _mm256_setzero_si256();
    for (int g = 0; g < 8; g++) {
        int32_t v;
        memcpy(&v, q + 4 * g, 4);
        s = _mm256_add_epi16(s, _mm256_maddubs_epi16(W[g], _mm256_set1_epi32(v)));
    }
    return _mm256_add_epi32(base, _mm256_madd_epi16(s, _mm256_set1_epi16(1)));
#endif
}

/* Block b of the eight rows against C tokens, added into acc. */
AI void rows8_block(const int kind, const int C, const uint8_t *w, size_t ws, const uint8_t *a,
                    size_t as, size_t nb, size_t b, const int *order, __m256 *acc)
{
    const size_t wb = kind == L_Q4_0 ? 18 : 34;
    const int off = kind == L_Q4_0 ? 8 : 128;
    __m256i W[8];
#if VNNI
    if (kind != L_Q4_0)
        rows8_codes_q8_0(w, ws, b * wb, W);
    else
#endif
        rows8_codes_q4_0(w, ws, b * wb, W);
    uint16_t h[8];
    for (int i = 0; i < 8; i++)
        memcpy(&h[i], w + order[i] * ws + b * wb, 2);
    __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
#pragma GCC unroll 16
    for (int c = 0; c < C; c++) {
        const uint8_t *row = a + c * as;
        const float *da = (const float *)(row + KERN_Q8_0_SIDE(nb));
        const int32_t *sa = (const int32_t *)(da + nb);
        __m256i base = _mm256_set1_epi32(-off * sa[b]);
        __m256i d = rows8_dot(W, row + 34 * b + 2, base);
        acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), _mm256_mul_ps(dw, _mm256_set1_ps(da[b])), acc[c]);
    }
}

/* Even and odd blocks go to two accumulators (summed at the end), which
 * halves the multiply-add chain a single token waits on. */
AI void rows8_tile(const int kind, const int C, const uint8_t *w, size_t ws, const uint8_t *a,
                   size_t as, size_t n, float *y, size_t ldy)
{
    const size_t nb = n / 32;
    static const int identity[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    const int *order = kind == L_Q4_0 ? rows8_q4_order : identity;
    __m256 even[CM_ROWS8], odd[CM_ROWS8];
#pragma GCC unroll 16
    for (int c = 0; c < C; c++)
        even[c] = odd[c] = _mm256_setzero_ps();
    size_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        rows8_block(kind, C, w, ws, a, as, nb, b, order, even);
        rows8_block(kind, C, w, ws, a, as, nb, b + 1, order, odd);
    }
    if (b < nb)
        rows8_block(kind, C, w, ws, a, as, nb, b, order, even);
#pragma GCC unroll 16
    for (int c = 0; c < C; c++) {
        float v[8];
        _mm256_storeu_ps(v, _mm256_add_ps(even[c], odd[c]));
        for (int i = 0; i < 8; i++)
            y[c * ldy + order[i]] = v[i];
    }
}

AI int hsum_i32(__m256i v)
{
    __m128i x = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0x4e));
    x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0xb1));
    return _mm_cvtsi128_si32(x);
}

/* One row with one token, reading a single memory stream, with exactly
 * rows8_tile's arithmetic for that row (the block's integer sum is exact,
 * then the same f32 multiply-add per block), so decoding a token gives the
 * bits a batch gives. */
AI float row1_exact(const int kind, const uint8_t *w, const uint8_t *a, size_t n)
{
    const size_t nb = n / 32, wb = kind == L_Q4_0 ? 18 : 34;
    const int off = kind == L_Q4_0 ? 8 : 128;
    const float *da = (const float *)(a + KERN_Q8_0_SIDE(nb));
    const int32_t *sa = (const int32_t *)(da + nb);
    float acc[2] = {0.0f, 0.0f};
    size_t b = 0;
    if (nb >= 4) {
        /* four blocks per step: one reduction for four integer sums, the
         * even and odd chains as the two low lanes of one vector */
        __m128 ch = _mm_setzero_ps();
        for (; b + 4 <= nb; b += 4, w += 4 * wb) {
            __m256i v[4];
            for (int i = 0; i < 4; i++) {
                const uint8_t *blk = w + i * wb;
                __m256i codes = kind == L_Q4_0 ? nibbles(blk + 2)
                                               : _mm256_xor_si256(ld256(blk + 2), _mm256_set1_epi8(-128));
                v[i] = dot_u8s8(_mm256_setzero_si256(), codes, ld256(a + 34 * (b + i) + 2));
            }
            __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
            __m128i is = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
            is = _mm_sub_epi32(is, _mm_mullo_epi32(_mm_loadu_si128((const __m128i *)(sa + b)), _mm_set1_epi32(off)));
            uint16_t hw[4];
            for (int i = 0; i < 4; i++)
                memcpy(&hw[i], w + i * wb, 2);
            __m128 dw = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)hw));
            __m128 sc = _mm_mul_ps(dw, _mm_loadu_ps(da + b));
            __m128 fi = _mm_cvtepi32_ps(is);
            ch = _mm_fmadd_ps(fi, sc, ch);
            ch = _mm_fmadd_ps(_mm_movehl_ps(fi, fi), _mm_movehl_ps(sc, sc), ch);
        }
        float lanes[4];
        _mm_storeu_ps(lanes, ch);
        acc[0] = lanes[0];
        acc[1] = lanes[1];
    }
    for (; b < nb; b++, w += wb) {
        __m256i av = ld256(a + 34 * b + 2), codes;
        if (kind == L_Q4_0)
            codes = nibbles(w + 2);
        else
            codes = _mm256_xor_si256(ld256(w + 2), _mm256_set1_epi8(-128));
        int isum = hsum_i32(dot_u8s8(_mm256_setzero_si256(), codes, av)) - off * sa[b];
        acc[b & 1] = fmaf((float)isum, ld_h(w) * da[b], acc[b & 1]);
    }
    return acc[0] + acc[1];
}

#if CM_ROWS8 == 8
#define ROWS8_MORE(K) ROWS8_CASE(K, 5) ROWS8_CASE(K, 6) ROWS8_CASE(K, 7) ROWS8_CASE(K, 8)
#else
#define ROWS8_MORE(K)
#endif
#define ROWS8_CASE(K, C) \
    case C: rows8_tile(K, C, w + r * ws, ws, a + c * as, as, n, y + c * ldy + r, ldy); break;

/* Whole groups of eight rows go through rows8_tile, the rest (only at the
 * end of the matrix, since kern_matmul's chunks are multiples of 16 rows)
 * and a single token through row1_exact, the same arithmetic row by row. */
#define DEFINE_GEMM_ROWS8(fname, K) \
    static void fname(const uint8_t *w, size_t ws, size_t nr, const uint8_t *a, size_t as, \
                      size_t nc, size_t n, float *y, size_t ldy) \
    { \
        size_t r = 0; \
        if (nc == 1) { \
            for (; r < nr; r++) \
                y[r] = row1_exact(K, w + r * ws, a, n); \
            return; \
        } \
        for (; r + 8 <= nr; r += 8) { \
            for (size_t c = 0; c < nc; c += CM_ROWS8) { \
                switch (nc - c < CM_ROWS8 ? nc - c : CM_ROWS8) { \
                ROWS8_CASE(K, 1) ROWS8_CASE(K, 2) ROWS8_CASE(K, 3) ROWS8_CASE(K, 4) \
                ROWS8_MORE(K) \
                default: break; \
                } \
            } \
        } \
        for (; r < nr; r++) \
            for (size_t c = 0; c < nc; c++) \
                y[c * ldy + r] = row1_exact(K, w + r * ws, a + c * as, n); \
    }

/* ---- k-quants against Q8_K (292-byte blocks: f32 d, 256 q, 16 sums) ---- */


/* Q4_K/Q5_K six-bit scales and mins of the 8 sub-blocks. */
AI void k4_scales(const uint8_t *s, uint8_t *sc, uint8_t *mn)
{
    for (int j = 0; j < 8; j++) {
        int a, b;
        kern_k4_scale_min(s, j, &a, &b);
        sc[j] = (uint8_t)a;
        mn[j] = (uint8_t)b;
    }
}

AI void q45k_tile(const int five, const int R, const int C, const uint8_t *w, size_t ws,
                  const uint8_t *a, size_t as, size_t n, float *y, size_t ldy)
{
    const size_t wb = five ? 176 : 144, qlo = five ? 48 : 16;
    __m256 acc[RM_KQ][CM_KQ];
#pragma GCC unroll 16
    for (int r = 0; r < R; r++)
#pragma GCC unroll 16
        for (int c = 0; c < C; c++)
            acc[r][c] = _mm256_setzero_ps();
    for (size_t b = 0; b < n / 256; b++) {
        uint8_t sc[RM_KQ][8], mn[RM_KQ][8];
        /* a lone token splits its integer sums over two chains (exact) */
        __m256i mins[RM_KQ], ia[RM_KQ][CM_KQ], ib[RM_KQ];
#pragma GCC unroll 16
        for (int r = 0; r < R; r++) {
            const uint8_t *blk = w + r * ws + b * wb;
            k4_scales(blk + 4, sc[r], mn[r]);
            __m128i m8 = _mm_loadl_epi64((const __m128i *)mn[r]);
            mins[r] = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
            ib[r] = _mm256_setzero_si256();
#pragma GCC unroll 16
            for (int c = 0; c < C; c++)
                ia[r][c] = _mm256_setzero_si256();
        }
        for (int g = 0; g < 4; g++) {
            __m256i lo[RM_KQ], hi[RM_KQ], slo[RM_KQ], shi[RM_KQ];
#pragma GCC unroll 16
            for (int r = 0; r < R; r++) {
                const uint8_t *blk = w + r * ws + b * wb;
                __m256i q = ld256(blk + qlo + 32 * g);
                lo[r] = _mm256_and_si256(q, _mm256_set1_epi8(0x0f));
                hi[r] = _mm256_and_si256(_mm256_srli_epi16(q, 4), _mm256_set1_epi8(0x0f));
                if (five) {
                    __m256i h = ld256(blk + 16);
                    __m256i m1 = _mm256_set1_epi8((char)(1 << (2 * g)));
                    __m256i m2 = _mm256_set1_epi8((char)(2 << (2 * g)));
                    __m256i b4 = _mm256_set1_epi8(0x10);
                    lo[r] = _mm256_or_si256(lo[r], _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(h, m1), m1), b4));
                    hi[r] = _mm256_or_si256(hi[r], _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(h, m2), m2), b4));
                }
                slo[r] = _mm256_set1_epi16(sc[r][2 * g]);
                shi[r] = _mm256_set1_epi16(sc[r][2 * g + 1]);
            }
#pragma GCC unroll 16
            for (int c = 0; c < C; c++) {
                const uint8_t *aq = a + c * as + b * KERN_Q8K_BYTES + KERN_Q8K_QS + 64 * g;
                __m256i alo = ld256(aq), ahi = ld256(aq + 32);
#pragma GCC unroll 16
                for (int r = 0; r < R; r++) {
                    ia[r][c] = dot_i16(ia[r][c], _mm256_maddubs_epi16(lo[r], alo), slo[r]);
                    if (C == 1)
                        ib[r] = dot_i16(ib[r], _mm256_maddubs_epi16(hi[r], ahi), shi[r]);
                    else
                        ia[r][c] = dot_i16(ia[r][c], _mm256_maddubs_epi16(hi[r], ahi), shi[r]);
                }
            }
        }
#pragma GCC unroll 16
        for (int c = 0; c < C; c++) {
            const uint8_t *ablk = a + c * as + b * KERN_Q8K_BYTES;
            float da = ld_f(ablk);
            __m256i bs = ld256(ablk + KERN_Q8K_SUMS);
#pragma GCC unroll 16
            for (int r = 0; r < R; r++) {
                const uint8_t *blk = w + r * ws + b * wb;
                if (C == 1)
                    ia[r][c] = _mm256_add_epi32(ia[r][c], ib[r]);
                __m256 m = _mm256_cvtepi32_ps(_mm256_madd_epi16(bs, mins[r]));
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ia[r][c]), _mm256_set1_ps(ld_h(blk) * da), acc[r][c]);
                acc[r][c] = _mm256_fnmadd_ps(m, _mm256_set1_ps(ld_h(blk + 2) * da), acc[r][c]);
            }
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; r++)
#pragma GCC unroll 16
        for (int c = 0; c < C; c++)
            y[c * ldy + r] = hsum(acc[r][c]);
}

/* Q6_K, Q3_K and Q2_K: 16 sub-blocks of 16 with one integer scale each.
 * The products use the unsigned codes (Q6_K 0..63 for q - 32, Q3_K 0..7
 * for q - 4, Q2_K 0..3); Q6_K and Q3_K take the offset off through the
 * activation's 16-element sums, Q2_K's mins likewise in f32. */
enum { K_Q6, K_Q3, K_Q2 };

AI size_t k16_bytes(int kind)
{
    return kind == K_Q6 ? 210 : kind == K_Q3 ? 110 : 84;
}

/* Signed scales and (Q2_K) mins of the 16 sub-blocks; returns d. */
AI float k16_scales(int kind, const uint8_t *blk, int8_t *sc, uint8_t *mn)
{
    if (kind == K_Q6) {
        memcpy(sc, blk + 192, 16);
        return ld_h(blk + 208);
    }
    if (kind == K_Q3) {
        for (int j = 0; j < 16; j++)
            sc[j] = (int8_t)kern_k3_scale(blk + 96, j);
        return ld_h(blk + 108);
    }
    for (int j = 0; j < 16; j++) {
        sc[j] = (int8_t)(blk[j] & 0xf);
        mn[j] = blk[j] >> 4;
    }
    return ld_h(blk + 80);
}

/* The unsigned codes of elements 32k..32k+31 (k = 4h + j: half h of 128,
 * quarter j). */
AI __m256i k16_codes(int kind, const uint8_t *blk, int k)
{
    const int h = k >> 2, j = k & 3;
    if (kind == K_Q6) {
        __m256i ql = ld256(blk + 64 * h + 32 * (j & 1));
        __m256i qh = ld256(blk + 128 + 32 * h);
        if (j >= 2)
            ql = _mm256_srli_epi16(ql, 4);
        qh = j == 3 ? _mm256_srli_epi16(qh, 2) : _mm256_slli_epi16(qh, 4 - 2 * j);
        return _mm256_or_si256(_mm256_and_si256(ql, _mm256_set1_epi8(0x0f)),
                               _mm256_and_si256(qh, _mm256_set1_epi8(0x30)));
    }
    __m256i q = ld256(blk + (kind == K_Q3 ? 32 : 16) + 32 * h);
    q = _mm256_and_si256(_mm256_srli_epi16(q, 2 * j), _mm256_set1_epi8(3));
    if (kind == K_Q3) {
        /* a set high-mask bit means the code as it is, a clear one - 4 */
        __m256i m = _mm256_set1_epi8((char)(1 << (4 * h + j)));
        __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(ld256(blk), m), m);
        q = _mm256_or_si256(q, _mm256_and_si256(set, _mm256_set1_epi8(4)));
    }
    return q;
}

AI void k16_tile(const int kind, const int R, const int C, const uint8_t *w, size_t ws,
                 const uint8_t *a, size_t as, size_t n, float *y, size_t ldy)
{
    const size_t wb = k16_bytes(kind);
    const int shift = kind == K_Q6 ? 5 : 2; /* offsets 32 and 4 */
    __m256 acc[RM_KQ][CM_KQ];
#pragma GCC unroll 16
    for (int r = 0; r < R; r++)
#pragma GCC unroll 16
        for (int c = 0; c < C; c++)
            acc[r][c] = _mm256_setzero_ps();
    for (size_t b = 0; b < n / 256; b++) {
        __m256i ia[RM_KQ][CM_KQ], ib[RM_KQ], sc16[RM_KQ], mn16[RM_KQ];
        int8_t sc[RM_KQ][16];
        uint8_t mn[RM_KQ][16];
        float d[RM_KQ];
#pragma GCC unroll 16
        for (int r = 0; r < R; r++) {
            d[r] = k16_scales(kind, w + r * ws + b * wb, sc[r], mn[r]);
            sc16[r] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc[r]));
            mn16[r] = kind == K_Q2 ? _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)mn[r])) : sc16[r];
            ib[r] = _mm256_setzero_si256();
#pragma GCC unroll 16
            for (int c = 0; c < C; c++)
                ia[r][c] = _mm256_setzero_si256();
        }
        for (int k = 0; k < 8; k++) {
            __m256i q[RM_KQ], s[RM_KQ];
#pragma GCC unroll 16
            for (int r = 0; r < R; r++) {
                q[r] = k16_codes(kind, w + r * ws + b * wb, k);
                s[r] = _mm256_set_m128i(_mm_set1_epi16(sc[r][2 * k + 1]), _mm_set1_epi16(sc[r][2 * k]));
            }
#pragma GCC unroll 16
            for (int c = 0; c < C; c++) {
                __m256i av = ld256(a + c * as + b * KERN_Q8K_BYTES + KERN_Q8K_QS + 32 * k);
#pragma GCC unroll 16
                for (int r = 0; r < R; r++) {
                    /* a lone token alternates two integer chains (exact) */
                    if (C == 1 && (k & 1))
                        ib[r] = dot_i16(ib[r], _mm256_maddubs_epi16(q[r], av), s[r]);
                    else
                        ia[r][c] = dot_i16(ia[r][c], _mm256_maddubs_epi16(q[r], av), s[r]);
                }
            }
        }
#pragma GCC unroll 16
        for (int c = 0; c < C; c++) {
            const uint8_t *ablk = a + c * as + b * KERN_Q8K_BYTES;
            float da = ld_f(ablk);
            __m256i bs = ld256(ablk + KERN_Q8K_SUMS);
#pragma GCC unroll 16
            for (int r = 0; r < R; r++) {
                __m256i t = C == 1 ? _mm256_add_epi32(ia[r][c], ib[r]) : ia[r][c];
                if (kind != K_Q2)
                    t = _mm256_sub_epi32(t, _mm256_slli_epi32(_mm256_madd_epi16(bs, sc16[r]), shift));
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(t), _mm256_set1_ps(d[r] * da), acc[r][c]);
                if (kind == K_Q2) {
                    float dmin = ld_h(w + r * ws + b * wb + 82);
                    __m256 m = _mm256_cvtepi32_ps(_mm256_madd_epi16(bs, mn16[r]));
                    acc[r][c] = _mm256_fnmadd_ps(m, _mm256_set1_ps(dmin * da), acc[r][c]);
                }
            }
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; r++)
#pragma GCC unroll 16
        for (int c = 0; c < C; c++)
            y[c * ldy + r] = hsum(acc[r][c]);
}

/* ---- float weights: F32 and F16 (f32 activations, for F16 rounded to
 * F16 by kern_matmul) and BF16 (activations rounded to BF16) ---- */

enum { F_F32, F_F16, F_BF16 };

AI __m256 ld8(int kind, const uint8_t *p)
{
    switch (kind) {
    case F_F32: return _mm256_loadu_ps((const float *)p);
    case F_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    default:
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
    }
}

AI float ld1(int kind, const uint8_t *p)
{
    if (kind == F_F32)
        return ld_f(p);
    if (kind == F_F16)
        return ld_h(p);
    uint32_t bits = (uint32_t)(p[0] | (p[1] << 8)) << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* The activations' format for weights of the given kind. */
AI int act_kind(int kind)
{
    return kind == F_BF16 ? F_BF16 : F_F32;
}

AI void float_tile(const int kind, const int R, const int C, const uint8_t *w, size_t ws,
                   const uint8_t *a, size_t as, size_t n, float *y, size_t ldy)
{
    const int ak = act_kind(kind);
    const size_t es = kind == F_F32 ? 4 : 2, aes = ak == F_F32 ? 4 : 2;
    __m256 acc[RM_FLOAT][CM_FLOAT];
#pragma GCC unroll 16
    for (int r = 0; r < R; r++)
#pragma GCC unroll 16
        for (int c = 0; c < C; c++)
            acc[r][c] = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 wv[RM_FLOAT];
#pragma GCC unroll 16
        for (int r = 0; r < R; r++)
            wv[r] = ld8(kind, w + r * ws + i * es);
#pragma GCC unroll 16
        for (int c = 0; c < C; c++) {
            __m256 av = ld8(ak, a + c * as + i * aes);
#pragma GCC unroll 16
            for (int r = 0; r < R; r++)
                acc[r][c] = _mm256_fmadd_ps(wv[r], av, acc[r][c]);
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 16
        for (int c = 0; c < C; c++) {
            float s = hsum(acc[r][c]);
            for (size_t j = i; j < n; j++)
                s += ld1(kind, w + r * ws + j * es) * ld1(ak, a + c * as + j * aes);
            y[c * ldy + r] = s;
        }
    }
}

/* ---- drivers: walk the rows RM at a time and the tokens CM at a time,
 * with the tile's shape known at compile time ---- */

#define TILE(T, K, R, C) \
    case R * 16 + C: T(K, R, C, wt, ws, at, as, n, yt, ldy); break;
#define COLS_4(T, K, R) TILE(T, K, R, 1) TILE(T, K, R, 2) TILE(T, K, R, 3) TILE(T, K, R, 4)
#define COLS_8(T, K, R) COLS_4(T, K, R) TILE(T, K, R, 5) TILE(T, K, R, 6) TILE(T, K, R, 7) TILE(T, K, R, 8)
#define COLS_(CM, T, K, R) COLS_##CM(T, K, R)
#define COLS(CM, T, K, R) COLS_(CM, T, K, R)
#define TILES_1(CM, T, K) COLS(CM, T, K, 1)
#define TILES_2(CM, T, K) TILES_1(CM, T, K) COLS(CM, T, K, 2)
#define TILES_4(CM, T, K) TILES_2(CM, T, K) COLS(CM, T, K, 3) COLS(CM, T, K, 4)
#define TILES_(RM, CM, T, K) TILES_##RM(CM, T, K)
#define TILES(RM, CM, T, K) TILES_(RM, CM, T, K)

#define DEFINE_GEMM(fname, RM, CM, T, K) \
    static void fname(const uint8_t *w, size_t ws, size_t nr, const uint8_t *a, size_t as, \
                      size_t nc, size_t n, float *y, size_t ldy) \
    { \
        /* a single token streams one row at a time: several interleaved \
         * row streams read memory slower than one */ \
        const size_t rm = nc == 1 ? 1 : RM; \
        for (size_t r = 0; r < nr; r += rm) { \
            size_t rr = nr - r < rm ? nr - r : rm; \
            for (size_t c = 0; c < nc; c += CM) { \
                size_t cc = nc - c < CM ? nc - c : CM; \
                const uint8_t *wt = w + r * ws, *at = a + c * as; \
                float *yt = y + c * ldy + r; \
                switch (rr * 16 + cc) { TILES(RM, CM, T, K) default: break; } \
            } \
        } \
    }

DEFINE_GEMM_ROWS8(gemm_q4_0, L_Q4_0)
DEFINE_GEMM(gemm_q4_1, RM_LEGACY, CM_LEGACY, legacy_tile, L_Q4_1)
DEFINE_GEMM(gemm_q5_0, RM_LEGACY, CM_LEGACY, legacy_tile, L_Q5_0)
DEFINE_GEMM(gemm_q5_1, RM_LEGACY, CM_LEGACY, legacy_tile, L_Q5_1)
#if VNNI
DEFINE_GEMM_ROWS8(gemm_q8_0, L_Q8_0)
#else
DEFINE_GEMM(gemm_q8_0, RM_LEGACY, CM_LEGACY, legacy_tile, L_Q8_0)
#endif
DEFINE_GEMM(gemm_q4_k, RM_KQ, CM_KQ, q45k_tile, 0)
DEFINE_GEMM(gemm_q5_k, RM_KQ, CM_KQ, q45k_tile, 1)
DEFINE_GEMM(gemm_q6_k, RM_KQ, CM_KQ, k16_tile, K_Q6)
DEFINE_GEMM(gemm_q3_k, RM_KQ, CM_KQ, k16_tile, K_Q3)
DEFINE_GEMM(gemm_q2_k, RM_KQ, CM_KQ, k16_tile, K_Q2)
DEFINE_GEMM(gemm_f32, RM_FLOAT, CM_FLOAT, float_tile, F_F32)
DEFINE_GEMM(gemm_f16, RM_FLOAT, CM_FLOAT, float_tile, F_F16)
DEFINE_GEMM(gemm_bf16, RM_FLOAT, CM_FLOAT, float_tile, F_BF16)

/* Four lines at a time in independent sums, each line by one AVX-512 load
 * or two AVX2 loads. On an AMD EPYC (Zen 5) whole lines read 1.12-1.17
 * times as fast as one word of each line (KERN_READ_PLAIN), and two AVX2
 * loads a line 1.06 times; both ways load a line per instruction. */
static uint64_t read_lines(const uint8_t *p, size_t n)
{
#if VNNI
    __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i < n; i += 256) {
        s0 = _mm512_add_epi64(s0, _mm512_loadu_si512(p + i));
        s1 = _mm512_add_epi64(s1, _mm512_loadu_si512(p + i + 64));
        s2 = _mm512_add_epi64(s2, _mm512_loadu_si512(p + i + 128));
        s3 = _mm512_add_epi64(s3, _mm512_loadu_si512(p + i + 192));
    }
    /* summed as unsigned: _mm512_reduce_add_epi64 adds signed lanes,
     * whose overflow UBSan reports */
    uint64_t lane[8], sum = 0;
    _mm512_storeu_si512(lane, _mm512_add_epi64(_mm512_add_epi64(s0, s1), _mm512_add_epi64(s2, s3)));
    for (int i = 0; i < 8; i++)
        sum += lane[i];
    return sum;
#else
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i < n; i += 256)
        for (size_t h = 0; h < 64; h += 32) {
            s0 = _mm256_add_epi64(s0, _mm256_loadu_si256((const __m256i *)(p + i + h)));
            s1 = _mm256_add_epi64(s1, _mm256_loadu_si256((const __m256i *)(p + i + 64 + h)));
            s2 = _mm256_add_epi64(s2, _mm256_loadu_si256((const __m256i *)(p + i + 128 + h)));
            s3 = _mm256_add_epi64(s3, _mm256_loadu_si256((const __m256i *)(p + i + 192 + h)));
        }
    __m256i s = _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3));
    __m128i h = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    return (uint64_t)_mm_cvtsi128_si64(h) + (uint64_t)_mm_extract_epi64(h, 1);
#endif
}

/* The table, with `bf16` as the BF16 product and `lone` as the packed
 * product of a lone token (NULL: packed's): each set has a second table
 * whose lone token asks for the weights ahead (Intel and Zen 5 cores),
 * the AVX2 set two more with AVX-VNNI and the AVX-512 set two more for
 * CPUs with the BF16 dot product. */
#define OPS_TABLE(bf16, packed, lone) \
    .gemm = { \
        [GGUF_T_F32] = gemm_f32, [GGUF_T_F16] = gemm_f16, [GGUF_T_BF16] = bf16, \
        [GGUF_T_Q4_0] = gemm_q4_0, [GGUF_T_Q4_1] = gemm_q4_1, [GGUF_T_Q5_0] = gemm_q5_0, \
        [GGUF_T_Q5_1] = gemm_q5_1, [GGUF_T_Q8_0] = gemm_q8_0, [GGUF_T_Q4_K] = gemm_q4_k, \
        [GGUF_T_Q5_K] = gemm_q5_k, [GGUF_T_Q6_K] = gemm_q6_k, [GGUF_T_Q2_K] = gemm_q2_k, \
        [GGUF_T_Q3_K] = gemm_q3_k, \
    }, \
    .quant_q8_0 = kern_quant_q8_0_avx2, \
    .quant_q8_1 = kern_quant_q8_1_avx2, \
    .quant_q8_k = kern_quant_q8_k_avx2, \
    PACK16_OPS .packed_gemm = packed, .lone_gemm = lone, \
    .silu_mul = kern_silu_mul_avx2, \
    .f32_to_f16 = kern_f32_to_f16_avx2, \
    .round_f16 = kern_round_f16_avx2, \
    .read_lines = read_lines, \
    ATTN_OPS

#define PACK16_OPS .pack_size = kern_pack16_size, .pack_grain = kern_pack16_grain, .pack = kern_pack16,
#if VNNI
#define PACKED_GEMM kern_packed_gemm_avx512
#define LONE_GEMM kern_lone_gemm_avx512
#define OPS_PREFETCH kern_ops_avx512_prefetch
#define ATTN_OPS .attn_f16 = kern_attn_f16_avx512
#else
#define PACKED_GEMM kern_packed_gemm_avx2
#define LONE_GEMM kern_lone_gemm_avx2
#define OPS_PREFETCH kern_ops_avx2_prefetch
#define ATTN_OPS .attn_f16 = kern_attn_f16_avx2
#endif

const struct kern_ops OPS_NAME = {.name = SET_NAME, OPS_TABLE(gemm_bf16, PACKED_GEMM, NULL)};
const struct kern_ops OPS_PREFETCH = {.name = SET_NAME "-prefetch", OPS_TABLE(gemm_bf16, PACKED_GEMM, LONE_GEMM)};
#if VNNI
const struct kern_ops kern_ops_avx512_bf16 = {.name = SET_NAME "-bf16",
                                              OPS_TABLE(kern_gemm_bf16_avx512, kern_packed_gemm_avx512, NULL)};
const struct kern_ops kern_ops_avx512_bf16_prefetch = {
    .name = SET_NAME "-bf16-prefetch",
    OPS_TABLE(kern_gemm_bf16_avx512_ahead, kern_packed_gemm_avx512, kern_lone_gemm_avx512)};
/* AMX CPUs all have the BF16 dot product */
const struct kern_ops kern_ops_amx = {.name = SET_NAME "-bf16-amx",
                                      OPS_TABLE(kern_gemm_bf16_amx, kern_packed_gemm_amx, kern_lone_gemm_avx512)};
#else
/* the AVX2 set's packed products with AVX-VNNI (pack_avx2.c) */
const struct kern_ops kern_ops_avx2_vnni = {.name = "avx2-vnni",
                                            OPS_TABLE(gemm_bf16, kern_packed_gemm_avx2_vnni, NULL)};
const struct kern_ops kern_ops_avx2_vnni_prefetch = {
    .name = "avx2-vnni-prefetch", OPS_TABLE(gemm_bf16, kern_packed_gemm_avx2_vnni, kern_lone_gemm_avx2_vnni)};
#endif
