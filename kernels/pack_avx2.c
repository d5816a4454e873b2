/* AVX2 products over weights packed sixteen rows at a time (pack.c's
 * layout, the one the AVX-512 set reads), taken as two halves of eight
 * rows: a 256-bit vector holds four bytes of each of eight rows.
 *
 * Without VNNI the four-byte dot is vpmaddubsw (unsigned codes times
 * signed activation bytes, pairs summed to int16) and vpmaddwd. Four-bit
 * codes times quants of at most 128 in magnitude sum to at most 8 * 2 *
 * 15 * 128 = 30720 over a 32-quant block, so a block's eight pairs add up
 * in int16 and one vpmaddwd (by ones, or by Q4_K's sub-block scale)
 * widens them. Q5_K's five-bit codes add up four pairs at a time (31744),
 * Q6_K's six-bit ones two; Q8_0's are widened pair by pair: its codes,
 * stored + 128, go back to signed and multiply as |code| times the
 * activation with the code's sign (2 * 128 * 127 nearly fills an int16).
 *
 * The integer sums are exact and scaled in the same order as the AVX-512
 * set's, so both sets give the same bits, and a token alone the bits it
 * gets in a batch. */
#include "kernels/simd_internal.h"

#include <immintrin.h>
#include <string.h>

#include "gguf/gguf.h"
#include "kernels/kernels_internal.h"
#include "kernels/pack_internal.h"

#define AI static inline __attribute__((always_inline))

/* Compiled a second time with AVX-VNNI (Intel cores since Alder Lake):
 * vpdpbusd adds four products of unsigned codes and signed quants into
 * each int32 lane in one instruction, where AVX2 takes vpmaddubsw and then
 * vpmaddwd: the legacy types take it (dotn_32), and Q4_K's, Q5_K's and
 * Q6_K's scaling (vpdpwssd; a lone Q4_K token both). The integer sums are
 * the same, so are the bits. Q3_K and Q2_K are as without: a sub-block's
 * one vpmaddwd leaves only the add into the token's sums to fold, and in
 * that chain a lone token waits on each vpdpwssd. */
#if defined(KERN_X86_AVXVNNI)
#define VNNI 1
#define PACKED_GETTER kern_packed_gemm_avx2_vnni
#define LONE_GETTER kern_lone_gemm_avx2_vnni
#else
#define VNNI 0
#define PACKED_GETTER kern_packed_gemm_avx2
#define LONE_GETTER kern_lone_gemm_avx2
#endif

/* Tokens per tile: two halves' accumulators per token plus one half's
 * codes fit the sixteen vector registers. */
#define CM 4

AI __m256i bcast4(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* A tile's sums per half and token: y's partial sums (y is NULL for the
 * first panel: zero), and back. */
AI void acc_load(const int C, __m256 acc[2][CM], const float *y, size_t ldy)
{
#pragma GCC unroll 8
    for (int h = 0; h < 2; h++)
#pragma GCC unroll 8
        for (int c = 0; c < C; c++)
            acc[h][c] = y ? _mm256_loadu_ps(y + c * ldy + 8 * h) : _mm256_setzero_ps();
}

AI void acc_store(const int C, __m256 acc[2][CM], float *y, size_t ldy)
{
#pragma GCC unroll 8
    for (int h = 0; h < 2; h++)
#pragma GCC unroll 8
        for (int c = 0; c < C; c++)
            _mm256_storeu_ps(y + c * ldy + 8 * h, acc[h][c]);
}

/* n (unsigned, at most 15; with n = 4, at most 31) code vectors W
 * against the groups of four quants at q + off[k]: per row, the int16
 * pair sums (at most n * 2 * 31 * 128 <= 31744 with n = 4). */
AI __m256i dotn_16(const int n, const __m256i *W, const uint8_t *q, const int *off)
{
    __m256i s = _mm256_maddubs_epi16(W[0], bcast4(q + off[0]));
    for (int k = 1; k < n; k++)
        s = _mm256_add_epi16(s, _mm256_maddubs_epi16(W[k], bcast4(q + off[k])));
    return s;
}

#if VNNI
/* The same as int32 sums, one vpdpbusd a code vector, in two chains;
 * with Q8_0's signed codes (q8), |code| times the quant with the code's
 * sign. */
AI __m256i dotn_32(const int q8, const int n, const __m256i *W, const uint8_t *q, const int *off)
{
    __m256i s[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int k = 0; k < n; k++) {
        __m256i a = bcast4(q + off[k]);
        s[k % 2] = q8 ? _mm256_dpbusd_avx_epi32(s[k % 2], _mm256_abs_epi8(W[k]), _mm256_sign_epi8(a, W[k]))
                      : _mm256_dpbusd_avx_epi32(s[k % 2], W[k], a);
    }
    return _mm256_add_epi32(s[0], s[1]);
}
#endif

/* ---- Q4_0, Q8_0 and Q5_0 against kern_matmul's Q8_0 rows (side scales
 * and sums after the blocks), Q4_1 and Q5_1 against its Q8_1 rows (see
 * pack_avx512.c) */

/* Block b's half h (rows 8h..8h+7) at w against C tokens, into their
 * sums acc. */
AI void leg_step(const int kind, const int C, const uint8_t *w, int h, size_t b, size_t nb, const uint8_t *a,
                 size_t as, __m256 *acc)
{
    const int q8 = kind == KERN_LEG_Q8, q1 = kern_leg_has_min(kind);
    const int q5 = kern_leg_has_q5(kind);
    const size_t at = kern_pk_leg_scales(kind);
    const int off = q8 || q1 ? 0 : q5 ? 16 : 8; /* Q8_0: signed codes here */
    const size_t ab = q1 ? 36 : 34, side = q1 ? KERN_Q8_1_SIDE(nb) : KERN_Q8_0_SIDE(nb);
    /* Q4_0: low nibbles are quants 0-15 of the block, high ones 16-31 */
    static const int off4[8] = {0, 4, 8, 12, 16, 20, 24, 28};
    const __m256i m4 = _mm256_set1_epi8(0x0f), b4 = _mm256_set1_epi8(0x10), ones = _mm256_set1_epi16(1);
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    __m256i W[8];
    if (q8) {
        for (int k = 0; k < 8; k++)
            W[k] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(w + 64 * k + 32 * h)), flip);
    } else {
        for (int k = 0; k < 4; k++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(w + 64 * k + 32 * h));
            W[k] = _mm256_and_si256(v, m4);
            W[k + 4] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        }
        /* Q5_0, Q5_1: bit k (or 4 + k) of the byte beside code byte e, at bit 4 */
        if (q5) {
            __m256i qh = _mm256_loadu_si256((const __m256i *)(w + KERN_PK_Q5_QH + 32 * h));
            for (int k = 0; k < 4; k++) {
                W[k] = _mm256_or_si256(W[k], _mm256_and_si256(_mm256_slli_epi16(qh, 4 - k), b4));
                W[k + 4] = _mm256_or_si256(W[k + 4], _mm256_and_si256(k ? _mm256_srli_epi16(qh, k) : qh, b4));
            }
        }
    }
    __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + at + 16 * h)));
    __m256 mw = q1 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + at + 32 + 16 * h))) : dw;
#pragma GCC unroll 8
    for (int c = 0; c < C; c++) {
        const uint8_t *row = a + c * as;
        const float *da = (const float *)(row + side);
        const int32_t *sa = (const int32_t *)(da + nb);
        const uint8_t *q = row + ab * b + ab - 32;
        __m256i s;
#if VNNI
        s = dotn_32(q8, 8, W, q, off4);
        (void)ones;
#else
        if (q8) {
            s = _mm256_setzero_si256();
            for (int k = 0; k < 8; k++) {
                __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(W[k]), _mm256_sign_epi8(bcast4(q + 4 * k), W[k]));
                s = _mm256_add_epi32(s, _mm256_madd_epi16(p, ones));
            }
        } else if (q5) { /* five-bit codes: eight pairs could pass an int16 */
            s = _mm256_add_epi32(_mm256_madd_epi16(dotn_16(4, W, q, off4), ones),
                                 _mm256_madd_epi16(dotn_16(4, W + 4, q, off4 + 4), ones));
        } else {
            s = _mm256_madd_epi16(dotn_16(8, W, q, off4), ones);
        }
#endif
        if (off)
            s = _mm256_sub_epi32(s, _mm256_set1_epi32(off * sa[b]));
        __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(da[b]));
        acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), scale, acc[c]);
        if (q1)
            acc[c] = _mm256_fmadd_ps(mw, _mm256_set1_ps(da[nb + b]), acc[c]);
    }
}

/* Blocks b0..b1 of one group at w against C tokens, added to y's partial
 * sums unless b0 is 0; a lone token asks for the weights `ahead` bytes
 * ahead (0: not), two blocks' lines at a time, as the AVX-512 set's. */
AI void legacy_tile_at(const int kind, const int C, const size_t ahead, const uint8_t *w, size_t b0, size_t b1,
                       size_t nb, const uint8_t *a, size_t as, float *y, size_t ldy)
{
    const size_t bb = kern_pk_leg_bytes(kind);
    __m256 acc[2][CM];
    acc_load(C, acc, b0 ? y : NULL, ldy);
    if (C == 1 || kind == KERN_LEG_Q8) {
        size_t b = b0;
        /* a lone token that asks ahead: KERN_LEG_RUN blocks a pass, as in
         * the AVX-512 set (pack_avx512.c) */
        if (C == 1 && ahead)
            KERN_LEG_RUNS(ahead, KERN_LEG_RUN, b, b1, w, bb, for (int h = 0; h < 2; h++)
                              leg_step(kind, C, w + kern_j * bb, h, b + kern_j, nb, a, as, acc[h]));
        for (; b < b1; b++, w += bb) {
            if (C == 1 && (b - b0) % 2 == 0)
                kern_weights_ahead(w, ahead, KERN_WEIGHT_NEAR, 2 * bb, 0, 1);
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++)
                leg_step(kind, C, w, h, b, nb, a, as, acc[h]);
        }
    } else {
        /* Several tokens go half by half, so that only one half's sums
         * need registers: prompts of 128 tokens 20% faster for Q4_0 and
         * Q4_1 (Q8_0, whose codes take more registers: 9% slower) */
        for (int h = 0; h < 2; h++)
            for (size_t b = b0; b < b1; b++)
                leg_step(kind, C, w + (b - b0) * bb, h, b, nb, a, as, acc[h]);
    }
    acc_store(C, acc, y, ldy);
}

AI void legacy_tile(const int kind, const int C, const uint8_t *w, size_t b0, size_t b1, size_t nb,
                    const uint8_t *a, size_t as, float *y, size_t ldy)
{
    legacy_tile_at(kind, C, 0, w, b0, b1, nb, a, as, y, ldy);
}

/* ---- Q4_K against kern_matmul's Q8_K rows (after the blocks, each
 * block's eight 32-element sums as int16): per super-block the integer
 * sum of scale * (codes . quants) and of min * (sums of the quants),
 * scaled by d and dmin in f32, as the reference does. */

/* The six-bit scales and mins of rows 8h..8h+7 of the Q4_K block at wk,
 * unpacked from the stored twelve bytes of each row, one row a lane: byte
 * j of sc[g] is sub-block 4g + j's scale, of mn[g] its min. */
AI void q4k_scales(const uint8_t *wk, int h, __m256i *sc, __m256i *mn)
{
    const __m256i m6 = _mm256_set1_epi8(0x3f), m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
    const uint8_t *p = wk + KERN_PK_Q4K_SC + 32 * h;
    const __m256i q0 = _mm256_loadu_si256((const __m256i *)p), q4 = _mm256_loadu_si256((const __m256i *)(p + 64));
    const __m256i q8 = _mm256_loadu_si256((const __m256i *)(p + 128));
    sc[0] = _mm256_and_si256(q0, m6);
    mn[0] = _mm256_and_si256(q4, m6);
    /* sub-blocks 4-7: four bits from bytes 8-11, the top two of 0-3 (4-7) */
    sc[1] = _mm256_or_si256(_mm256_and_si256(q8, m4), _mm256_and_si256(_mm256_srli_epi16(q0, 2), m30));
    mn[1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q8, 4), m4),
                            _mm256_and_si256(_mm256_srli_epi16(q4, 2), m30));
}

/* Bytes e and f of each lane of v, as its two int16 halves; byte
 * NO_BYTE (below) is 0. */
AI __m256i lane_bytes(__m256i v, int e, int f)
{
    const __m256i at = _mm256_setr_epi32(0, 0x40004, 0x80008, 0xc000c, 0, 0x40004, 0x80008, 0xc000c);
    return _mm256_shuffle_epi8(v, _mm256_add_epi32(_mm256_set1_epi32((int)(0x80008000u + 65536u * f + e)), at));
}

/* isum + the int16 pairs s times the int16 pairs sc, per int32 lane:
 * vpmaddwd and an add, or with VNNI one vpdpwssd. */
AI __m256i add_pairs(__m256i isum, __m256i s, __m256i sc)
{
#if VNNI
    return _mm256_dpwssd_avx_epi32(isum, s, sc);
#else
    return _mm256_add_epi32(isum, _mm256_madd_epi16(s, sc));
#endif
}

/* isum + the int16 pair sums s of sub-block j times its scale (scs from
 * q4k_scales), per row. (Several tokens' sums as int32 from vpdpbusd, then
 * multiplied by the scale, took 1.06 times as long for 64 tokens, hot.) */
AI __m256i add_scaled(__m256i isum, __m256i s, const __m256i *scs, int j)
{
    return add_pairs(isum, s, lane_bytes(scs[j / 4], j % 4, j % 4));
}

/* A lone token's sums (q4k_lone): s + the products of codes w and quants
 * a as int16 pairs, or with VNNI as int32 sums of four (vpdpbusd), which
 * lone_scaled then multiplies by the scale: hot, 0.83-0.93 of the time of
 * add_scaled's way, with the two sets alternated. */
AI __m256i lone_dot(__m256i s, __m256i w, __m256i a)
{
#if VNNI
    return _mm256_dpbusd_avx_epi32(s, w, a);
#else
    return _mm256_add_epi16(s, _mm256_maddubs_epi16(w, a));
#endif
}

#define NO_BYTE 0x80
AI __m256i lone_scaled(__m256i isum, __m256i s, const __m256i *scs, int j)
{
#if VNNI
    return _mm256_add_epi32(isum, _mm256_mullo_epi32(s, lane_bytes(scs[j / 4], j % 4, NO_BYTE)));
#else
    return add_scaled(isum, s, scs, j);
#endif
}

/* A lone token's Q4_K integer sums of one super-block, both halves of
 * rows at once: each pair of sub-blocks' code bytes is read once for its
 * low and high nibbles, front to back, and each group of four quants is
 * broadcast once for both halves. Hot, that is 40% faster than half by
 * half, but read front to back the lines are asked for no sooner than
 * they are used, and decoding was 6% slower; asking for the next
 * super-block's lines first made it 5-6% faster instead (a block further
 * ahead, half a block, this block, or into the second level only: 2-18%
 * slower than that; two builds' tokens alternated in one process). With
 * `ahead` (the -prefetch tables) they are asked for as the AVX-512 set asks, a
 * quarter of the block at a time: decoding 0.78 of the limit against 0.75
 * asking for the next block's lines at once, into both levels (four runs
 * of each in turn, an Emerald Rapids Xeon). */
AI void q4k_lone(const size_t ahead, const uint8_t *wk, __m256i (*scs)[2], const uint8_t *qs, __m256i *isum)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    isum[0] = isum[1] = _mm256_setzero_si256();
    for (int l = 0; !ahead && l < KERN_PK_Q4_K; l += 64) /* a prefetch never faults */
        _mm_prefetch((const char *)wk + KERN_PK_Q4_K + l, _MM_HINT_T0);
#pragma GCC unroll 4
    for (int jp = 0; jp < 4; jp++) {
        kern_weights_ahead(wk, ahead, KERN_NEAR_K, KERN_PK_Q4_K, jp, 4);
        const uint8_t *p = wk + KERN_PK_Q4K_QS + 512 * jp, *q = qs + 64 * jp;
        __m256i s[2][2];
        for (int h = 0; h < 2; h++)
            s[h][0] = s[h][1] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            const __m256i alo = bcast4(q + 4 * k), ahi = bcast4(q + 32 + 4 * k);
            for (int h = 0; h < 2; h++) {
                __m256i v = _mm256_loadu_si256((const __m256i *)(p + 64 * k + 32 * h));
                __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
                s[h][0] = lone_dot(s[h][0], lo, alo);
                s[h][1] = lone_dot(s[h][1], hi, ahi);
            }
        }
        for (int h = 0; h < 2; h++)
            for (int e = 0; e < 2; e++)
                isum[h] = lone_scaled(isum[h], s[h][e], scs[h], 2 * jp + e);
    }
}

/* Half h's (rows 8h..8h+7) integer sums of one super-block against C
 * tokens, sub-block by sub-block: its codes are read once for them all.
 * Not unrolled: unrolled, several tokens' sums spilled (4 tokens hot: 26%
 * slower for Q4_K, 32% for Q5_K) and the code grew threefold, which cost
 * a lone token's decoding 9% as well. */
AI void q4k_half(const int q5, const int C, const size_t ahead, const uint8_t *w, const uint8_t *wk, int h,
                 const __m256i *scs, const uint8_t *a, size_t as, size_t b, __m256i *isum)
{
    static const int off[8] = {0, 4, 8, 12, 16, 20, 24, 28};
    const __m256i m4 = _mm256_set1_epi8(0x0f), m10 = _mm256_set1_epi8(0x10);
#pragma GCC unroll 8
    for (int c = 0; c < C; c++)
        isum[c] = _mm256_setzero_si256();
    for (int j = 0; j < 8; j++) {
        /* sub-block j: the low (even j) or high nibbles of pair j / 2 */
        const uint8_t *p = wk + KERN_PK_Q4K_QS + 512 * (j / 2) + 32 * h;
        __m256i W[8];
        if (C == 1 && h == 0)
            kern_weights_ahead(w, ahead, KERN_NEAR_K, q5 ? KERN_PK_Q5_K : KERN_PK_Q4_K, j, 8);
        for (int k = 0; k < 8; k++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(p + 64 * k));
            W[k] = _mm256_and_si256(j % 2 ? _mm256_srli_epi16(v, 4) : v, m4);
            if (q5) { /* the fifth bit: bit j of the high-bit bytes, at bit 4 */
                __m256i hb = _mm256_loadu_si256((const __m256i *)(w + 64 * k + 32 * h));
                hb = j < 4 ? _mm256_slli_epi16(hb, 4 - j) : _mm256_srli_epi16(hb, j - 4);
                W[k] = _mm256_or_si256(W[k], _mm256_and_si256(hb, m10));
            }
        }
#pragma GCC unroll 8
        for (int c = 0; c < C; c++) {
            const uint8_t *q = a + c * as + b * KERN_Q8K_BYTES + KERN_Q8K_QS + 32 * j;
            if (q5) /* five-bit codes: eight pairs could pass an int16 */
                isum[c] = add_scaled(add_scaled(isum[c], dotn_16(4, W, q, off), scs, j), dotn_16(4, W + 4, q, off + 4),
                                     scs, j);
            else
                isum[c] = add_scaled(isum[c], dotn_16(8, W, q, off), scs, j);
        }
    }
}

AI void q4k_tile_at(const int q5, const int C, const size_t ahead, const uint8_t *w, size_t b0, size_t b1,
                    size_t nb, const uint8_t *a, size_t as, float *y, size_t ldy)
{
    __m256 acc[2][CM];
    acc_load(C, acc, b0 ? y : NULL, ldy);
    for (size_t b = b0; b < b1; b++, w += q5 ? KERN_PK_Q5_K : KERN_PK_Q4_K) {
        /* Q5_K: after its high bits, a Q4_K block */
        const uint8_t *wk = w + (q5 ? KERN_PK_Q5K_QH : 0);
        const int lone = C == 1 && !q5;
        __m256i both[2], scs[2][2], mns[2][2];
        for (int h = 0; h < 2; h++)
            q4k_scales(wk, h, scs[h], mns[h]);
        if (lone)
            q4k_lone(ahead, wk, scs, a + b * KERN_Q8K_BYTES + KERN_Q8K_QS, both);
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i isum[CM];
            if (lone)
                isum[0] = both[h];
            else
                q4k_half(q5, C, ahead, w, wk, h, scs[h], a, as, b, isum);
            /* (min 2m, min 2m + 1) of each row */
            __m256i mn[4];
            for (int m = 0; m < 4; m++)
                mn[m] = lane_bytes(mns[h][m / 2], 2 * (m % 2), 2 * (m % 2) + 1);
            __m256 dd = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wk + KERN_PK_Q4K_D + 16 * h)));
            __m256 dm = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wk + KERN_PK_Q4K_DMIN + 16 * h)));
#pragma GCC unroll 8
            for (int c = 0; c < C; c++) {
                const uint8_t *row = a + c * as;
                const uint8_t *side = row + KERN_Q8_K_SIDE(nb) + 16 * b;
                float da;
                memcpy(&da, row + b * KERN_Q8K_BYTES, 4);
                __m256i ms = _mm256_madd_epi16(mn[0], bcast4(side));
                for (int m = 1; m < 4; m++)
                    ms = _mm256_add_epi32(ms, _mm256_madd_epi16(mn[m], bcast4(side + 4 * m)));
                __m256 vda = _mm256_set1_ps(da);
                acc[h][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_mul_ps(dd, vda), acc[h][c]);
                acc[h][c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(ms), _mm256_mul_ps(dm, vda), acc[h][c]);
            }
        }
    }
    acc_store(C, acc, y, ldy);
}

AI void q4k_tile(const int q5, const int C, const uint8_t *w, size_t b0, size_t b1, size_t nb,
                 const uint8_t *a, size_t as, float *y, size_t ldy)
{
    q4k_tile_at(q5, C, 0, w, b0, b1, nb, a, as, y, ldy);
}

/* ---- Q6_K, Q3_K and Q2_K against kern_matmul's Q8_K rows: per
 * super-block the integer sum over the sixteen sub-blocks of scale *
 * (codes . quants - offset * sum of the quants), scaled by d in f32, less
 * (Q2_K) dmin * the sum of min * sum of the quants (see pack_avx512.c for
 * the codes). A sub-block's four code vectors give int16 pairs of
 * products, at most 2 * 63 * 128 = 16128 for Q6_K, so two of them add up
 * in int16 before vpmaddwd widens them by the sub-block's scale; Q3_K's
 * (1792) and Q2_K's (768) add up all four, and Q3_K's offset * the sum of
 * the quants (at most 4 * 2048) joins them in the low half of each pair,
 * so one vpmaddwd does a sub-block (Q6_K's offset is a vpmaddwd too, not
 * a vpmulld). Exact as before; llama-1b with two builds' tokens
 * alternated, decoding 1.6% (Q6_K), 3.8% (Q3_K) and 12.5% (Q2_K, with
 * the unrolling below) faster. */

/* Code vectors of half n, quants 32t + 16p + 4k.. (Q[k]) and 32(t + 2) +
 * 16p + 4k.. (Q[4 + k]) for k = 0..3, t = 0 or 1, of rows 8h..8h+7: the
 * two share their low-bit bytes (low and high nibbles) and all four t
 * their high-bit bytes. */
AI void q6k_codes(const uint8_t *w, int h, int n, int p, int t, __m256i *Q)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
    for (int k = 0; k < 4; k++) {
        const uint8_t *lb = w + (t ? KERN_PK_Q6K_HI(n, p, k) : KERN_PK_Q6K_LO(n, p, k)) + 32 * h;
        __m256i lq = _mm256_loadu_si256((const __m256i *)lb);
        __m256i qh = _mm256_loadu_si256((const __m256i *)(w + KERN_PK_Q6K_QH(n, p, k) + 32 * h));
        Q[k] = _mm256_or_si256(_mm256_and_si256(lq, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4 - 2 * t), m30));
        Q[4 + k] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lq, 4), m4),
                                   _mm256_and_si256(_mm256_srli_epi16(qh, 2 * t), m30));
    }
}

/* Q3_K's code vectors in q6k_codes' order: two bits of the low-bit bytes
 * of half n (bits 2t and 2t + 4), one of the high-bit bytes (4n + t, 4n +
 * t + 2) at bit 2. */
AI void q3k_codes(const uint8_t *w, int h, int n, int p, int t, __m256i *Q)
{
    const __m256i m3 = _mm256_set1_epi8(3), b2 = _mm256_set1_epi8(4);
    for (int k = 0; k < 4; k++) {
        __m256i lb = _mm256_loadu_si256((const __m256i *)(w + KERN_PK_Q3K_L(n, p, k) + 32 * h));
        __m256i hb = _mm256_loadu_si256((const __m256i *)(w + KERN_PK_Q3K_H(p, k) + 32 * h));
        for (int u = 0; u < 2; u++) {
            const int tt = t + 2 * u, hs = 4 * n + tt - 2;
            __m256i hv = hs > 0 ? _mm256_srli_epi16(hb, hs) : hs < 0 ? _mm256_slli_epi16(hb, -hs) : hb;
            __m256i lv = tt ? _mm256_srli_epi16(lb, 2 * tt) : lb;
            Q[4 * u + k] = _mm256_or_si256(_mm256_and_si256(lv, m3), _mm256_and_si256(hv, b2));
        }
    }
}

/* Q2_K's code vectors in q6k_codes' order: bits 2t and 2t + 4 of the
 * code bytes of half n. */
AI void q2k_codes(const uint8_t *w, int h, int n, int p, int t, __m256i *Q)
{
    const __m256i m3 = _mm256_set1_epi8(3);
    for (int k = 0; k < 4; k++) {
        __m256i lb = _mm256_loadu_si256((const __m256i *)(w + KERN_PK_Q2K_L(n, p, k) + 32 * h));
        Q[k] = _mm256_and_si256(t ? _mm256_srli_epi16(lb, 2) : lb, m3);
        Q[4 + k] = _mm256_and_si256(_mm256_srli_epi16(lb, 4 + 2 * t), m3);
    }
}

/* Sub-block j's scales of rows 8h..8h+7 as int32. */
AI __m256i k16_scale(const int kind, const uint8_t *w, int h, int j)
{
    if (kind == KERN_K16_Q2) {
        const uint8_t *p = w + KERN_PK_Q2K_SM + 32 * (j / 2) + 16 * h;
        __m256i sm = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
        return _mm256_and_si256(j % 2 ? _mm256_srli_epi32(sm, 8) : sm, _mm256_set1_epi32(0xf));
    }
    const size_t at = kind == KERN_K16_Q3 ? KERN_PK_Q3K_SC : KERN_PK_Q6K_SC;
    return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(w + at + 16 * j + 8 * h)));
}

/* Step ntp = 4n + 2p + t of a super-block's half of rows h: the quants
 * 32t + 16p.. and 32(t + 2) + 16p.. of its half n against C tokens, into
 * their sums. */
AI void k16_step(const int kind, const int C, const uint8_t *w, int h, int ntp, const uint8_t *a, size_t as,
                 size_t b, __m256i *isum)
{
    const int q3 = kind == KERN_K16_Q3, q2 = kind == KERN_K16_Q2, q6 = !q3 && !q2;
    const int n = ntp / 4, p = (ntp / 2) % 2, t = ntp % 2;
    __m256i Q[8];
    if (q2)
        q2k_codes(w, h, n, p, t, Q);
    else if (q3)
        q3k_codes(w, h, n, p, t, Q);
    else
        q6k_codes(w, h, n, p, t, Q);
#pragma GCC unroll 2
    for (int u = 0; u < 2; u++) {
        const int j = 8 * n + 2 * (t + 2 * u) + p; /* the sub-block */
        __m256i sc = k16_scale(kind, w, h, j);
        /* row i's scale in both int16 halves of its lane */
        __m256i sc2 = _mm256_or_si256(_mm256_and_si256(sc, _mm256_set1_epi32(0xffff)), _mm256_slli_epi32(sc, 16));
#pragma GCC unroll 8
        for (int c = 0; c < C; c++) {
            const uint8_t *blk = a + c * as + b * KERN_Q8K_BYTES;
            const uint8_t *q = blk + KERN_Q8K_QS + 128 * n + 32 * (t + 2 * u) + 16 * p;
            int16_t bsum;
            memcpy(&bsum, blk + KERN_Q8K_SUMS + 2 * j, 2);
            __m256i pr[4], s;
            for (int k = 0; k < 4; k++)
                pr[k] = _mm256_maddubs_epi16(Q[4 * u + k], bcast4(q + 4 * k));
            __m256i lo = _mm256_add_epi16(pr[0], pr[1]), hi = _mm256_add_epi16(pr[2], pr[3]);
            if (q6) {
                /* the offset, -32 * bsum * scale, then the two sums (a
                 * chain of its own: through isum, a lone token's waited
                 * on each vpdpwssd) */
                s = _mm256_slli_epi32(_mm256_madd_epi16(sc2, _mm256_set1_epi32((uint16_t)-bsum)), 5);
                s = add_pairs(add_pairs(s, lo, sc2), hi, sc2);
            } else {
                lo = _mm256_add_epi16(lo, hi);
                if (q3) /* the offset, -4 * bsum */
                    lo = _mm256_add_epi16(lo, _mm256_set1_epi32((uint16_t)(-4 * bsum)));
                s = _mm256_madd_epi16(lo, sc2);
            }
            isum[c] = _mm256_add_epi32(isum[c], s);
        }
    }
}

AI void k16_tile_at(const int kind, const int C, const size_t ahead, const uint8_t *w, size_t b0, size_t b1,
                    size_t nb, const uint8_t *a, size_t as, float *y, size_t ldy)
{
    (void)nb;
    const int q3 = kind == KERN_K16_Q3, q2 = kind == KERN_K16_Q2;
    const size_t bb = q3 ? KERN_PK_Q3_K : q2 ? KERN_PK_Q2_K : KERN_PK_Q6_K;
    const size_t d_at = q3 ? KERN_PK_Q3K_D : q2 ? KERN_PK_Q2K_D : KERN_PK_Q6K_D;
    __m256 acc[2][CM];
    acc_load(C, acc, b0 ? y : NULL, ldy);
    for (size_t b = b0; b < b1; b++, w += bb) {
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i isum[CM];
#pragma GCC unroll 8
            for (int c = 0; c < C; c++)
                isum[c] = _mm256_setzero_si256();
            /* Q2_K's small steps unrolled for a lone token: decoding 9%
             * faster than without (two builds' tokens alternated); Q3_K's
             * and Q6_K's, and several tokens', were slower so */
            if (C == 1 && q2) {
#pragma GCC unroll 8
                for (int ntp = 0; ntp < 8; ntp++) {
                    if (h == 0)
                        kern_weights_ahead(w, ahead, KERN_NEAR_K, bb, ntp, 8);
                    k16_step(kind, C, w, h, ntp, a, as, b, isum);
                }
            } else {
                for (int ntp = 0; ntp < 8; ntp++) {
                    if (C == 1 && h == 0)
                        kern_weights_ahead(w, ahead, KERN_NEAR_K, bb, ntp, 8);
                    k16_step(kind, C, w, h, ntp, a, as, b, isum);
                }
            }
            /* Q2_K's mins of sub-blocks 2m and 2m + 1 as an int16 pair a row */
            __m256i mn[8];
            for (int m = 0; q2 && m < 8; m++)
                mn[m] = _mm256_srli_epi16(
                    _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(w + KERN_PK_Q2K_SM + 32 * m + 16 * h))), 4);
            __m256 dd = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + d_at + 16 * h)));
            __m256 dm = q2 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + KERN_PK_Q2K_DMIN + 16 * h))) : dd;
#pragma GCC unroll 8
            for (int c = 0; c < C; c++) {
                const uint8_t *blk = a + c * as + b * KERN_Q8K_BYTES;
                float da;
                memcpy(&da, blk, 4);
                __m256 vda = _mm256_set1_ps(da);
                acc[h][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_mul_ps(dd, vda), acc[h][c]);
                if (q2) {
                    __m256i ms = _mm256_madd_epi16(mn[0], bcast4(blk + KERN_Q8K_SUMS));
                    for (int m = 1; m < 8; m++)
                        ms = _mm256_add_epi32(ms, _mm256_madd_epi16(mn[m], bcast4(blk + KERN_Q8K_SUMS + 4 * m)));
                    acc[h][c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(ms), _mm256_mul_ps(dm, vda), acc[h][c]);
                }
            }
        }
    }
    acc_store(C, acc, y, ldy);
}

AI void k16_tile(const int kind, const int C, const uint8_t *w, size_t b0, size_t b1, size_t nb,
                 const uint8_t *a, size_t as, float *y, size_t ldy)
{
    k16_tile_at(kind, C, 0, w, b0, b1, nb, a, as, y, ldy);
}

/* ---- F16: as the AVX-512 set's f16_tile, in two halves of eight rows;
 * the eight chains of a token fill half the registers, so a tile is one
 * token. */

AI void f16_tile_at(const int C, const size_t ahead, const uint8_t *w, size_t b1, const uint8_t *a, size_t as,
                    float *y, size_t ldy)
{
    (void)C;
    (void)as;
    (void)ldy;
    __m256 acc[2][4];
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++)
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++)
            acc[h][k] = _mm256_setzero_ps();
    const float *x = (const float *)a;
    const size_t n = b1 * KERN_PK_F16_BLCK;
    for (size_t e = 0; e < n; e += 4, w += 4 * 32) {
        kern_weights_ahead(w, ahead, KERN_WEIGHT_NEAR, 4 * 32, 0, 1);
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            __m256 xv = _mm256_set1_ps(x[e + k]);
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++)
                acc[h][k] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 32 * k + 16 * h))),
                                            xv, acc[h][k]);
        }
    }
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++)
        _mm256_storeu_ps(y + 8 * h, _mm256_add_ps(_mm256_add_ps(acc[h][0], acc[h][1]),
                                                  _mm256_add_ps(acc[h][2], acc[h][3])));
}

AI void f16_tile(const int C, const uint8_t *w, size_t b1, const uint8_t *a, size_t as, float *y, size_t ldy)
{
    f16_tile_at(C, 0, w, b1, a, as, y, ldy);
}

KERN_DEFINE_PACKED_SET(PACKED_GETTER, CM, KERN_CASES_4, CM, KERN_CASES_4, 1, KERN_CASES_1)
/* the products of a lone token that ask ahead (see pack_avx512.c) */
KERN_DEFINE_LONE_SET(LONE_GETTER)
