/* AVX-512 VNNI products over weights packed sixteen rows at a time.
 *
 * A 512-bit vector holds four bytes of each of sixteen rows, so one
 * vpdpbusd with a broadcast group of four activation bytes advances all
 * sixteen rows, and one conversion and multiply-add per block scales them.
 * The layout is pack.c's. Decoding is a single linear read of the weights
 * at memory speed and prompt processing a dense run of dot instructions.
 *
 * Each token's arithmetic is the same whatever the number of tokens, so a
 * token decoded alone gives the bits it gets in a batch. */
#include "kernels/simd_internal.h"

#include <immintrin.h>
#include <string.h>

#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "kernels/kernels_internal.h"
#include "kernels/pack_internal.h"

#define AI static inline __attribute__((always_inline))

/* Tokens per tile: their accumulators (and Q4_K's integer sums) plus the
 * codes of one block fit the 32 vector registers; 16 tokens spill (measured
 * 6-9% slower). */
#define CM_LEG 8
#define CM_Q4K 8
/* F16: four chains of sums per token */
#define CM_F16 4

/* A tile's sums per token: y's partial sums (y is NULL for the first
 * panel: zero), and back. */
AI void acc_load(const int C, __m512 *acc, const float *y, size_t ldy)
{
#pragma GCC unroll 16
    for (int c = 0; c < C; c++)
        acc[c] = y ? _mm512_loadu_ps(y + c * ldy) : _mm512_setzero_ps();
}

AI void acc_store(const int C, const __m512 *acc, float *y, size_t ldy)
{
#pragma GCC unroll 16
    for (int c = 0; c < C; c++)
        _mm512_storeu_ps(y + c * ldy, acc[c]);
}

/* s + the dot products of each lane's four bytes of w (unsigned) with the
 * four bytes at p (signed), and the same with 16-bit pairs: the four bytes
 * broadcast from memory within the instruction. GCC 12 loads them into a
 * register first, with an instruction of its own; folded, 512-token
 * products of the AVX-512 set took 0.78 (Q8_0), 0.85 (Q4_K) and 0.87
 * (Q4_0) of the time, hot, one thread, on an Emerald Rapids Xeon. */
AI __m512i dpbusd_m(__m512i s, __m512i w, const uint8_t *p)
{
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(s) : "v"(w), "m"(*(const uint8_t(*)[4])p));
    return s;
}

AI __m512i dpwssd_m(__m512i s, __m512i w, const uint8_t *p)
{
    __asm__("vpdpwssd %2%{1to16%}, %1, %0" : "+v"(s) : "v"(w), "m"(*(const uint8_t(*)[4])p));
    return s;
}

/* s + the products of eight code vectors with the eight groups of four
 * activation bytes at q, in two chains (the sum is exact either way):
 * hot, 2048 x 2048 by 64 tokens, 1-5% faster than one chain. */
AI __m512i dot8(const __m512i *W, const uint8_t *q, __m512i s)
{
    __m512i t = _mm512_setzero_si512();
    for (int k = 0; k < 8; k += 2) {
        s = dpbusd_m(s, W[k], q + 4 * k);
        t = dpbusd_m(t, W[k + 1], q + 4 * k + 4);
    }
    return _mm512_add_epi32(s, t);
}

/* A lone token's activations on long rows are still read from the second
 * level at the start of each panel of a super-group; asking for them
 * ACT_AHEAD blocks (Q4_K: a super-block) early helps a little. Measured
 * over ~55 alternating benchmark runs of each build: without panels, Q4_K
 * decoding 0.880 -> 0.949 of the limit when bandwidth was low and 0.691
 * -> 0.721 when high, Q4_0 +0.7% and +1.7%; with panels, over ~95 runs,
 * Q4_0 +0.6% and Q4_K +0.8% (low). Q8_0 (half the activation bytes per
 * weight byte) lost 1-4% and goes without. Prefetches never fault:
 * running past the panel or the row is harmless. */
#define ACT_AHEAD 8

/* The quants of Q8_0 activation block b (at q), and every sixteenth block
 * the line of scales and of sums that holds it (d, sums at d + 4 * nb),
 * asked for ahead. A block (34 or 36 bytes) is shorter than a line, so
 * asking for each block's first byte reaches every line; asking for its
 * last byte too cost a lone Q4_0 product about 1% (fewer instructions per
 * line of weights stream faster, below). */
AI void act_ahead(const uint8_t *q, const uint8_t *d, size_t b, size_t nb)
{
    _mm_prefetch((const char *)q, _MM_HINT_T0);
    if (b % 16 == 0) {
        _mm_prefetch((const char *)d, _MM_HINT_T0);
        _mm_prefetch((const char *)d + 4 * nb, _MM_HINT_T0);
    }
}

/* ---- Q4_0, Q8_0 and Q5_0 against kern_matmul's Q8_0 rows (side scales
 * and sums after the blocks): the codes are unsigned (Q4_0 as stored, Q8_0
 * + 128, Q5_0 with its fifth bit at bit 4) and offset * (sum of the
 * activation block) comes off up front. Q4_1 and Q5_1 (codes as Q4_0's and
 * Q5_0's, no offset) against Q8_1 rows, whose side holds each block's
 * scale and stored sum: + m * that sum, as the reference adds it. */

/* The eight code vectors of the legacy block at w, unsigned (Q4_0's high
 * nibbles in place, 16 times the code, when in_place). */
AI void leg_codes(const int kind, const int in_place, const uint8_t *w, __m512i *W)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f), b4 = _mm512_set1_epi8(0x10);
    if (kind == KERN_LEG_Q8) {
        for (int k = 0; k < 8; k++)
            W[k] = _mm512_loadu_si512(w + 64 * k);
        return;
    }
    for (int k = 0; k < 4; k++) {
        __m512i v = _mm512_loadu_si512(w + 64 * k);
        /* loaded once: GCC folds the load into both the and and the
         * andnot, two loads a vector, which cost a lone Q4_0 product ~1% */
        if (in_place)
            __asm__("" : "+v"(v));
        W[k] = _mm512_and_si512(v, m4);
        W[k + 4] = in_place ? _mm512_andnot_si512(m4, v) : _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
    }
    /* Q5_0, Q5_1: bit k (or 4 + k) of the byte beside code byte e, at bit 4 */
    if (kern_leg_has_q5(kind)) {
        __m512i qh = _mm512_loadu_si512(w + KERN_PK_Q5_QH);
        for (int k = 0; k < 4; k++) {
            W[k] = _mm512_or_si512(W[k], _mm512_and_si512(_mm512_slli_epi16(qh, 4 - k), b4));
            W[k + 4] = _mm512_or_si512(W[k + 4], _mm512_and_si512(k ? _mm512_srli_epi16(qh, k) : qh, b4));
        }
    }
}

/* What a legacy kind's packed codes stand above its signed quants. */
AI int leg_offset(const int kind)
{
    return kind == KERN_LEG_Q8 ? 128 : kern_leg_has_min(kind) ? 0 : kind == KERN_LEG_Q5 ? 16 : 8;
}

/* The sixteen rows' scales of the legacy block at w, and their mins
 * (Q4_1, Q5_1; else the scales again) at *mw. */
AI __m512 leg_dw(const int kind, const uint8_t *w, __m512 *mw)
{
    const int q1 = kern_leg_has_min(kind);
    const size_t at = kern_pk_leg_scales(kind);
    __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + at)));
    *mw = q1 ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + at + 32))) : dw;
    return dw;
}

/* A lone token's product on Intel and Zen 5 cores (the AMX set, and the AVX-512 and
 * AVX2 sets' -prefetch tables: kern_lone_gemm_*) asks for the weights
 * KERN_WEIGHT_AHEAD bytes ahead of each block it reads, into the second
 * level; the hardware's own prefetchers leave the memory idle part of the
 * time there. On an Emerald Rapids Xeon, 400 MB products of one
 * token read 1.3-1.45 times faster (Q4_0, Q8_0) and Q4_K 1.35 with 3 KB
 * into the first level; 12 KB into the second took 0.93-0.98 of that
 * time (Q4_K 0.96, Q4_0 0.98, Q8_0 0.93, F16 0.95; 6-24 KB alike). On
 * an earlier AMD EPYC prefetching lost 2.5-14%, so older AMD cores go
 * without; on Zen 5 it gains (cpu.c).
 *
 * The same lines are asked for again, nearer, into the first level: the
 * more instructions a product runs per line, the fewer lines it kept in
 * flight (loads alone read ~8% faster than Q4_0's product). Streamed over
 * 600 MB with two threads, alternated, against the build without: Q4_0
 * 1.04-1.06, Q4_K 1.06-1.08, Q6_K 1.07, Q5_K 1.06, Q5_0 1.05, Q8_0 and
 * F16 1.01-1.03, Q2_K and Q3_K alike. The legacy types did best 4 KB
 * ahead (KERN_WEIGHT_NEAR). The K-quants' blocks are many lines long and
 * ask a part at a time: 1.5 KB ahead for Q4_K and Q5_K (NEAR_Q4K:
 * 1.01-1.03 over 2 KB, decoding q4_k 1.012 with builds alternated; Q6_K
 * lost 5% so), 4 KB for Q6_K, Q3_K and Q2_K (KERN_NEAR_K, below). */
#define NEAR_Q4K 1536

/* Fewer loads and vector operations per line stream faster still, and
 * scalar ones cost nothing: loading each Q4_0 code vector once, asking
 * for two legacy blocks' lines at a time and for one byte of each
 * activation block made Q4_0 products 1.01-1.04 times as fast (streamed
 * as above, alternated; Q8_0, Q5_0 and Q4_1 within the noise).
 * Broadcasting the activations by shuffles from two loads instead of
 * eight broadcast loads lost 3-4%; a precomputed offset (no scalar
 * multiply) changed nothing. */

/* acc + block b's integer sums s of one token scaled by the rows' dw and
 * the token's scale (its side da), + the rows' mins mw times the token's
 * stored sum (Q4_1, Q5_1). */
AI __m512 leg_scale(const int q1, __m512i s, __m512 dw, __m512 mw, const float *da, size_t b, size_t nb, __m512 acc)
{
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_set1_ps(da[b])), acc);
    return q1 ? _mm512_fmadd_ps(mw, _mm512_set1_ps(da[nb + b]), acc) : acc;
}

/* acc of C tokens + the legacy block b at w (of nb in a row). */
AI void legacy_block(const int kind, const int C, const uint8_t *w, size_t b, size_t nb, const uint8_t *a,
                     size_t as, __m512 *acc)
{
    const int q8 = kind == KERN_LEG_Q8, q1 = kern_leg_has_min(kind);
    const int off = leg_offset(kind);
    /* the activation blocks: Q8_0 (34 bytes) or Q8_1 (36), and their side */
    const size_t ab = q1 ? 36 : 34, side = q1 ? KERN_Q8_1_SIDE(nb) : KERN_Q8_0_SIDE(nb);
    /* A lone token's Q4_0 keeps the high nibbles in place (16 times the
     * code) and shifts their sum once instead of four code vectors: +4-15%
     * on a product hot in the second level (decoding unchanged within the
     * noise). */
    const int in_place = kind == KERN_LEG_Q4 && C == 1;
    __m512i W[8];
    leg_codes(kind, in_place, w, W);
    __m512 mw, dw = leg_dw(kind, w, &mw);
    if (C == 1 && !q8 && nb > 64)
        act_ahead(a + ab * (b + ACT_AHEAD), a + side + 4 * (b + ACT_AHEAD), b, nb);
#pragma GCC unroll 16
    for (int c = 0; c < C; c++) {
        const uint8_t *row = a + c * as;
        const float *da = (const float *)(row + side);
        const int32_t *sa = (const int32_t *)(da + nb);
        __m512i s;
        if (in_place) {
            const uint8_t *q = row + 34 * b + 2;
            __m512i lo = _mm512_set1_epi32(-off * sa[b]), hi = _mm512_setzero_si512();
            for (int k = 0; k < 4; k++) {
                lo = dpbusd_m(lo, W[k], q + 4 * k);
                hi = dpbusd_m(hi, W[k + 4], q + 16 + 4 * k);
            }
            s = _mm512_add_epi32(lo, _mm512_srai_epi32(hi, 4));
        } else {
            s = dot8(W, row + ab * b + ab - 32, _mm512_set1_epi32(q1 ? 0 : -off * sa[b]));
        }
        acc[c] = leg_scale(q1, s, dw, mw, da, b, nb, acc[c]);
    }
}

/* Blocks a lone token's legacy product takes a pass when it asks ahead.
 * Q4_0 goes sixteen: on Zen 5, a 2048 x 16384 matrix in copies filling
 * 480 MB, one token, against the probe's product way over the same
 * copies, builds in turn, it read 0.74-0.86 of the probe eight blocks a
 * pass and 0.96-1.09 sixteen (12: 0.94-1.00; 20 and 24: 0.70-0.75;
 * 2048 x 2048, 8192 x 2048 and 2048 x 8192 alike), and llama-1b q4_0
 * decoded at 0.81-0.83 -> 0.98-1.01 of the benchmark's limit. The other
 * kinds read no faster so: Q5_0, Q4_1 and Q5_1 at a quarter of their
 * panel (13, 14, 12 blocks) took 1.02-1.10 times the time of eight, Q8_0
 * sixteen 1.3 times; Q4_K two super-blocks a pass 1.05-1.07 times, and
 * the AVX2 set's Q4_0 sixteen 1.4 times. Why sixteen wins for Q4_0 alone
 * is not known: the lines asked for, and when, are the same. */
AI int leg_run(const int kind)
{
    return kind == KERN_LEG_Q4 ? 2 * KERN_LEG_RUN : KERN_LEG_RUN;
}

/* Blocks b0..b1 of one group at w (of nb in a row) against C tokens,
 * added to y's partial sums unless b0 is 0; a lone token asks for the
 * weights `ahead` bytes ahead (0: not). */
AI void legacy_tile_at(const int kind, const int C, const size_t ahead, const uint8_t *w, size_t b0, size_t b1,
                       size_t nb, const uint8_t *a, size_t as, float *y, size_t ldy)
{
    const size_t bb = kern_pk_leg_bytes(kind);
    __m512 acc[CM_LEG];
    acc_load(C, acc, b0 ? y : NULL, ldy);
    size_t b = b0;
    /* A lone token that asks ahead goes leg_run(kind) blocks a pass,
     * unrolled, asking for the run's lines a block's share at a time, as
     * Q4_K's product goes through the sub-blocks of a super-block. On Zen
     * 5, a 2048 x 16384 matrix in copies filling 480 MB, one token,
     * against the probe over the same copies, builds in turn: Q4_0 0.80-0.84
     * -> 0.90-1.07 of the probe (the AVX2 set's -prefetch table 0.84-0.86
     * -> 0.89-1.01), Q8_0 0.88 -> 1.04, Q4_1 0.81 -> 1.05, Q5_0 0.86 ->
     * 0.96, Q5_1 0.84 -> 1.08, all eight blocks a pass; decoding llama-1b
     * q4_0 71-75 -> 80 tokens/s and q8_0 42 -> 55-59. The plain tables,
     * which do not ask, read slower so (AVX2 0.66-0.79 against 0.99,
     * AVX-512 0.77 against 0.88) and keep going block by block. */
    if (C == 1 && ahead)
        KERN_LEG_RUNS(ahead, leg_run(kind), b, b1, w, bb,
                      legacy_block(kind, C, w + kern_j * bb, b + kern_j, nb, a, as, acc));
    for (; b < b1; b++, w += bb) {
        /* two blocks' lines at a time: a whole number of lines (a block
         * is 4.5 to 8.5), each asked for once */
        if (C == 1 && (b - b0) % 2 == 0)
            kern_weights_ahead(w, ahead, KERN_WEIGHT_NEAR, 2 * bb, 0, 1);
        legacy_block(kind, C, w, b, nb, a, as, acc);
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

/* Sub-block j's code vectors of the Q4_K or Q5_K block at w: the low
 * (even j) or high nibbles of pair j / 2 (odd j without Q5_K in place, 16
 * times the code, when in_place), Q5_K's fifth bit (bit j of the high-bit
 * bytes) at bit 4. */
AI void q4k_codes(const int q5, const int in_place, const uint8_t *w, int j, __m512i *W)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f), m10 = _mm512_set1_epi8(0x10);
    const uint8_t *p = w + (q5 ? KERN_PK_Q5K_QH : 0) + KERN_PK_Q4K_QS + 512 * (j / 2);
    for (int k = 0; k < 8; k++) {
        __m512i v = _mm512_loadu_si512(p + 64 * k);
        if (q5) {
            __m512i hb = _mm512_loadu_si512(w + 64 * k);
            hb = j < 4 ? _mm512_slli_epi16(hb, 4 - j) : _mm512_srli_epi16(hb, j - 4);
            v = j % 2 ? _mm512_srli_epi16(v, 4) : v;
            W[k] = _mm512_or_si512(_mm512_and_si512(v, m4), _mm512_and_si512(hb, m10));
        } else if (j % 2) {
            W[k] = in_place ? _mm512_andnot_si512(m4, v) : _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        } else {
            W[k] = _mm512_and_si512(v, m4);
        }
    }
}

/* The six-bit scales and mins of the Q4_K block (its Q4_K part) at wk,
 * unpacked from the stored twelve bytes of each row, one row a lane:
 * byte j of sc[h] is sub-block 4h + j's scale, of mn[h] its min. */
AI void q4k_scales(const uint8_t *wk, __m512i *sc, __m512i *mn)
{
    const __m512i m6 = _mm512_set1_epi8(0x3f), m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
    const __m512i q0 = _mm512_loadu_si512(wk + KERN_PK_Q4K_SC), q4 = _mm512_loadu_si512(wk + KERN_PK_Q4K_SC + 64);
    const __m512i q8 = _mm512_loadu_si512(wk + KERN_PK_Q4K_SC + 128);
    sc[0] = _mm512_and_si512(q0, m6);
    mn[0] = _mm512_and_si512(q4, m6);
    /* sub-blocks 4-7: four bits from bytes 8-11, the top two of 0-3 (4-7) */
    sc[1] = _mm512_or_si512(_mm512_and_si512(q8, m4), _mm512_and_si512(_mm512_srli_epi16(q0, 2), m30));
    mn[1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(q8, 4), m4),
                            _mm512_and_si512(_mm512_srli_epi16(q4, 2), m30));
}

/* Bytes e and f of each lane of v, as its two int16 halves; byte
 * NO_BYTE is 0. */
#define NO_BYTE 0x80
AI __m512i lane_bytes(__m512i v, int e, int f)
{
    const __m512i at = _mm512_set4_epi32(0xc000c, 0x80008, 0x40004, 0);
    return _mm512_shuffle_epi8(v, _mm512_add_epi32(_mm512_set1_epi32((int)(0x80008000u + 65536u * f + e)), at));
}

/* acc of C tokens + super-block b's integer sums isum of the Q4_K block
 * (its Q4_K part) at wk scaled by d, less its mins (mns, from q4k_scales)
 * times the tokens' sums scaled by dmin. */
AI void q4k_block_sums(const int C, const uint8_t *wk, const __m512i *mns, size_t b, size_t nb, const uint8_t *a,
                       size_t as, const __m512i *isum, __m512 *acc)
{
    __m512i mn[4];
    for (int m = 0; m < 4; m++)
        mn[m] = lane_bytes(mns[m / 2], 2 * (m % 2), 2 * (m % 2) + 1);
    __m512 dd = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(wk + KERN_PK_Q4K_D)));
    __m512 dm = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(wk + KERN_PK_Q4K_DMIN)));
#pragma GCC unroll 16
    for (int c = 0; c < C; c++) {
        const uint8_t *row = a + c * as;
        const uint8_t *side = row + KERN_Q8_K_SIDE(nb) + 16 * b;
        float da;
        memcpy(&da, row + b * KERN_Q8K_BYTES, 4);
        __m512i ms = _mm512_setzero_si512();
        for (int m = 0; m < 4; m++)
            ms = dpwssd_m(ms, mn[m], side + 4 * m);
        __m512 vda = _mm512_set1_ps(da);
        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[c]), _mm512_mul_ps(dd, vda), acc[c]);
        acc[c] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(ms), _mm512_mul_ps(dm, vda), acc[c]);
    }
}

AI void q4k_tile_at(const int q5, const int C, const size_t ahead, const uint8_t *w, size_t b0, size_t b1,
                    size_t nb, const uint8_t *a, size_t as, float *y, size_t ldy)
{
    __m512 acc[CM_Q4K];
    acc_load(C, acc, b0 ? y : NULL, ldy);
    for (size_t b = b0; b < b1; b++, w += q5 ? KERN_PK_Q5_K : KERN_PK_Q4_K) {
        /* Q5_K: after its high bits, a Q4_K block */
        const uint8_t *wk = w + (q5 ? KERN_PK_Q5K_QH : 0);
        __m512i isum[CM_Q4K], scs[2], mns[2];
        q4k_scales(wk, scs, mns);
        if (C == 1 && nb > 8)
            for (int l = 0; l < KERN_Q8K_BYTES; l += 64)
                _mm_prefetch((const char *)a + KERN_Q8K_BYTES * (b + 1) + l, _MM_HINT_T0);
        if (C == 1 && nb > 8 && b % 4 == 0)
            _mm_prefetch((const char *)a + KERN_Q8_K_SIDE(nb) + 16 * (b + 4), _MM_HINT_T0);
#pragma GCC unroll 16
        for (int c = 0; c < C; c++)
            isum[c] = _mm512_setzero_si512();
        /* Unrolled, the sub-blocks of a pair share their loads and lose a
         * branch each: +8-16% hot, and decoding 0.853 -> 0.906 of the limit
         * at low bandwidth, 0.663 -> 0.768 at high (~57 and ~9 runs each).
         * Q4_K's high nibbles stay in place, 16 times the code, the sum
         * shifted; Q5_K's take their fifth bit (bit j of the high-bit bytes)
         * at bit 4. */
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            __m512i W[8];
            if (C == 1)
                kern_weights_ahead(w, ahead, NEAR_Q4K, q5 ? KERN_PK_Q5_K : KERN_PK_Q4_K, j, 8);
            q4k_codes(q5, 1, w, j, W);
            const __m512i sc = lane_bytes(scs[j / 4], j % 4, NO_BYTE);
#pragma GCC unroll 16
            for (int c = 0; c < C; c++) {
                const uint8_t *q = a + c * as + b * KERN_Q8K_BYTES + KERN_Q8K_QS + 32 * j;
                __m512i s = dot8(W, q, _mm512_setzero_si512());
                if (j % 2 && !q5)
                    s = _mm512_srai_epi32(s, 4);
                isum[c] = _mm512_add_epi32(isum[c], _mm512_mullo_epi32(s, sc));
            }
        }
        q4k_block_sums(C, wk, mns, b, nb, a, as, isum, acc);
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
 * (Q2_K) dmin * the sum of min * sum of the quants; the codes are unsigned
 * (Q6_K q + 32, Q3_K q + 4, Q2_K q). Code vector k of a half of 128 and p
 * (quants 16p + 4k.. of each 32): Q6_K joins a nibble of its low-bit
 * bytes (low: the first 32, high: the third; of the second 32 and fourth)
 * with two bits of its high-bit bytes, Q3_K two bits of its low-bit bytes
 * (bits 2t for the t-th 32) with one of its high-bit bytes (bit 4n + t),
 * Q2_K is two bits of its code bytes (bits 2t). */

/* Sub-block j's scales of the sixteen rows as int32. */
AI __m512i k16_scale(const int kind, const uint8_t *w, int j)
{
    if (kind == KERN_K16_Q2) {
        __m512i sm = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(w + KERN_PK_Q2K_SM + 32 * (j / 2))));
        return _mm512_and_si512(j % 2 ? _mm512_srli_epi32(sm, 8) : sm, _mm512_set1_epi32(0xf));
    }
    const size_t at = kind == KERN_K16_Q3 ? KERN_PK_Q3K_SC : KERN_PK_Q6K_SC;
    return _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(w + at + 16 * j)));
}

/* Q6_K's code vector of the t-th 32 from its lines lo, qh and hi: a
 * nibble of lo (t = 0, 2) or hi (t = 1, 3) with two bits of qh. */
AI __m512i k16_q6_code(__m512i lo, __m512i qh, __m512i hi, int t)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
    __m512i h = t == 0 ? _mm512_slli_epi16(qh, 4) : t == 1 ? _mm512_slli_epi16(qh, 2) : t == 2 ? qh
                                                                                        : _mm512_srli_epi16(qh, 2);
    __m512i l = t == 0 ? lo : t == 1 ? hi : _mm512_srli_epi16(t == 2 ? lo : hi, 4);
    return _mm512_or_si512(_mm512_and_si512(l, m4), _mm512_and_si512(h, m30));
}

/* A lone token's integer sums of the K16 block at w against its
 * activation block blk (k16_tile_at's C == 1). Each sub-block pair's code
 * lines are loaded once, and each t's four code vectors built just before
 * their products, so that only a pair's lines and one t's codes are live
 * (building a pair's sixteen codes first, as the tiles of several tokens
 * do, spilled). Q2_K's and Q3_K's fields are masked where they lie
 * instead of shifted down, their high bits (Q3_K) shifted next to them:
 * the codes of the t-th 32 are 4^t times theirs (Q3_K's fourth 16 times),
 * the sum shifted back, exactly. On Zen 5, hot, one core: Q3_K 1.17-1.18,
 * Q2_K 1.24-1.27, Q6_K 1.02-1.11 times as fast as the tiles' way; the
 * tiles of 7 and 64 tokens lost 1-10% this way. Streamed by two threads
 * (2048 x 11264 and 5632 x 2048, 50-70 GB/s, six runs each), of the
 * probe: Q3_K 0.715 -> 0.774, Q6_K 0.860 alike, Q2_K 0.85 -> 0.84, and
 * 0.935 asking Q2K_AHEAD ahead (the tiles' way there 0.883). */
#define Q2K_AHEAD 6144
AI __m512i k16_lone_sums(const int kind, const uint8_t *w, size_t ahead, const uint8_t *blk)
{
    const int q3 = kind == KERN_K16_Q3, q2 = kind == KERN_K16_Q2, off = q3 ? 4 : q2 ? 0 : 32;
    const size_t bb = q3 ? KERN_PK_Q3_K : q2 ? KERN_PK_Q2_K : KERN_PK_Q6_K;
    __m512i isum = _mm512_setzero_si512();
    /* half n, sub-block pair p: quants 128n + 32t + 16p.. for t = 0..3 */
#pragma GCC unroll 4
    for (int np = 0; np < 4; np++) {
        const int n = np / 2, p = np % 2;
        kern_weights_ahead(w, q2 && ahead ? Q2K_AHEAD : ahead, KERN_NEAR_K, bb, np, 4);
        __m512i v0[4], v1[4], v2[4];
        for (int k = 0; k < 4; k++) {
            if (q2) {
                v0[k] = _mm512_loadu_si512(w + KERN_PK_Q2K_L(n, p, k));
            } else if (q3) {
                v0[k] = _mm512_loadu_si512(w + KERN_PK_Q3K_L(n, p, k));
                v1[k] = _mm512_loadu_si512(w + KERN_PK_Q3K_H(p, k));
            } else {
                v0[k] = _mm512_loadu_si512(w + KERN_PK_Q6K_LO(n, p, k));
                v1[k] = _mm512_loadu_si512(w + KERN_PK_Q6K_QH(n, p, k));
                v2[k] = _mm512_loadu_si512(w + KERN_PK_Q6K_HI(n, p, k));
            }
        }
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++) {
            const int j = 8 * n + 2 * t + p; /* the sub-block */
            /* the codes' scale 4^(sh / 2); Q3_K's high bit (4n + t) goes to
             * bit `top`, just above its two low bits */
            const int sh = q2 ? 2 * t : q3 ? 2 * (t < 2 ? t : 2) : 0;
            const int top = t == 3 ? 6 : 2 * t + 2, hs = top - (4 * n + t);
            __m512i code[4];
            for (int k = 0; k < 4; k++) {
                if (q2) {
                    code[k] = _mm512_and_si512(v0[k], _mm512_set1_epi8((char)(3 << 2 * t)));
                } else if (q3) {
                    __m512i h = hs > 0 ? _mm512_slli_epi16(v1[k], hs) : hs < 0 ? _mm512_srli_epi16(v1[k], -hs) : v1[k];
                    __m512i l = t == 3 ? _mm512_srli_epi16(v0[k], 2) : v0[k];
                    h = _mm512_and_si512(h, _mm512_set1_epi8((char)(1 << top)));
                    /* (l & low bits) | h */
                    code[k] = _mm512_ternarylogic_epi32(l, h, _mm512_set1_epi8((char)(3 << (top - 2))), 0xec);
                } else {
                    code[k] = k16_q6_code(v0[k], v1[k], v2[k], t);
                }
            }
            const uint8_t *q = blk + KERN_Q8K_QS + 128 * n + 32 * t + 16 * p;
            int16_t bsum;
            memcpy(&bsum, blk + KERN_Q8K_SUMS + 2 * j, 2);
            __m512i s = _mm512_set1_epi32(-off * bsum * (1 << sh));
            for (int k = 0; k < 4; k++)
                s = dpbusd_m(s, code[k], q + 4 * k);
            if (sh)
                s = _mm512_srai_epi32(s, sh);
            isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(s, k16_scale(kind, w, j)));
        }
    }
    return isum;
}

/* A lone token's Q6_K, Q3_K and Q2_K products ask for their lines
 * KERN_NEAR_K (4 KB) ahead into the first level. Decoding llama-1b q6_k
 * on Zen 5 in one process, turns of eight tokens at each distance: 4 KB
 * read 1.03-1.09 times as fast as 2 KB over 19 runs while the host's
 * bandwidth was 56-71 GB/s, 0.99-1.00 at 32-40 GB/s; q3_k 0.99, q2_k
 * 1.00. Q4_K at 4 KB read 0.99-1.06 (mean 1.02) and 0.98-0.99, and stays
 * at NEAR_Q4K. */
AI void k16_tile_at(const int kind, const int C, const size_t ahead, const uint8_t *w, size_t b0, size_t b1,
                    size_t nb, const uint8_t *a, size_t as, float *y, size_t ldy)
{
    (void)nb;
    const __m512i m3 = _mm512_set1_epi8(3), b2 = _mm512_set1_epi8(4);
    const int q3 = kind == KERN_K16_Q3, q2 = kind == KERN_K16_Q2, off = q3 ? 4 : q2 ? 0 : 32;
    const size_t bb = q3 ? KERN_PK_Q3_K : q2 ? KERN_PK_Q2_K : KERN_PK_Q6_K;
    const size_t d_at = q3 ? KERN_PK_Q3K_D : q2 ? KERN_PK_Q2K_D : KERN_PK_Q6K_D;
    __m512 acc[CM_Q4K];
    acc_load(C, acc, b0 ? y : NULL, ldy);
    for (size_t b = b0; b < b1; b++, w += bb) {
        __m512i isum[CM_Q4K];
        if (C == 1)
            isum[0] = k16_lone_sums(kind, w, ahead, a + b * KERN_Q8K_BYTES);
#pragma GCC unroll 16
        for (int c = 0; C > 1 && c < C; c++)
            isum[c] = _mm512_setzero_si512();
        /* half n, sub-block pair p: quants 128n + 32t + 16p.. for t = 0..3 */
#pragma GCC unroll 4
        for (int np = 0; C > 1 && np < 4; np++) {
            const int n = np / 2, p = np % 2;
            __m512i Q[4][4];
            for (int k = 0; q2 && k < 4; k++) {
                __m512i lb = _mm512_loadu_si512(w + KERN_PK_Q2K_L(n, p, k));
                for (int t = 0; t < 4; t++)
                    Q[t][k] = _mm512_and_si512(t ? _mm512_srli_epi16(lb, 2 * t) : lb, m3);
            }
            for (int k = 0; q3 && k < 4; k++) {
                __m512i hb = _mm512_loadu_si512(w + KERN_PK_Q3K_H(p, k));
                __m512i lb = _mm512_loadu_si512(w + KERN_PK_Q3K_L(n, p, k));
                for (int t = 0; t < 4; t++) {
                    const int hs = 4 * n + t - 2; /* the high bit to bit 2 */
                    __m512i h = hs > 0 ? _mm512_srli_epi16(hb, hs) : hs < 0 ? _mm512_slli_epi16(hb, -hs) : hb;
                    __m512i l = t ? _mm512_srli_epi16(lb, 2 * t) : lb;
                    Q[t][k] = _mm512_or_si512(_mm512_and_si512(l, m3), _mm512_and_si512(h, b2));
                }
            }
            for (int k = 0; kind == KERN_K16_Q6 && k < 4; k++) {
                __m512i lo = _mm512_loadu_si512(w + KERN_PK_Q6K_LO(n, p, k));
                __m512i qh = _mm512_loadu_si512(w + KERN_PK_Q6K_QH(n, p, k));
                __m512i hi = _mm512_loadu_si512(w + KERN_PK_Q6K_HI(n, p, k));
                for (int t = 0; t < 4; t++)
                    Q[t][k] = k16_q6_code(lo, qh, hi, t);
            }
            for (int t = 0; t < 4; t++) {
                const int j = 8 * n + 2 * t + p; /* the sub-block */
                __m512i sc = k16_scale(kind, w, j);
#pragma GCC unroll 16
                for (int c = 0; c < C; c++) {
                    const uint8_t *blk = a + c * as + b * KERN_Q8K_BYTES;
                    const uint8_t *q = blk + KERN_Q8K_QS + 128 * n + 32 * t + 16 * p;
                    int16_t bsum;
                    memcpy(&bsum, blk + KERN_Q8K_SUMS + 2 * j, 2);
                    __m512i s = _mm512_set1_epi32(-off * bsum);
                    for (int k = 0; k < 4; k++)
                        s = dpbusd_m(s, Q[t][k], q + 4 * k);
                    isum[c] = _mm512_add_epi32(isum[c], _mm512_mullo_epi32(s, sc));
                }
            }
        }
        /* Q2_K's mins of sub-blocks 2m and 2m + 1 as an int16 pair a row */
        __m512i mn[8];
        for (int m = 0; q2 && m < 8; m++)
            mn[m] = _mm512_srli_epi16(
                _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(w + KERN_PK_Q2K_SM + 32 * m))), 4);
        __m512 dd = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + d_at)));
        __m512 dm = q2 ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + KERN_PK_Q2K_DMIN))) : dd;
#pragma GCC unroll 16
        for (int c = 0; c < C; c++) {
            const uint8_t *blk = a + c * as + b * KERN_Q8K_BYTES;
            float da;
            memcpy(&da, blk, 4);
            __m512 vda = _mm512_set1_ps(da);
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[c]), _mm512_mul_ps(dd, vda), acc[c]);
            if (q2) {
                __m512i ms = _mm512_setzero_si512();
                for (int m = 0; m < 8; m++)
                    ms = dpwssd_m(ms, mn[m], blk + KERN_Q8K_SUMS + 4 * m);
                acc[c] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(ms), _mm512_mul_ps(dm, vda), acc[c]);
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

/* ---- F16 against f32 activations (rounded to F16 by kern_matmul): one
 * element's sixteen weights converted to one vector, times the element's
 * activation broadcast, into chain e % 4 of the token's sums (one chain
 * would wait on the adder's latency: four cover it). The chains are
 * added (0 + 1) + (2 + 3) at the end, in every set, so every set gives the
 * same bits. A single panel: the blocks are 0..b1. */

/* C tokens' four chains + elements e..e + 3 of one group at w (two lines),
 * each line loaded whole and its halves converted: one load a line
 * instead of two. */
AI void f16_quad(const int C, const uint8_t *w, size_t e, const uint8_t *a, size_t as, __m512 (*acc)[4])
{
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        const __m512i v = _mm512_loadu_si512(w + 64 * h);
        const __m512 lo = _mm512_cvtph_ps(_mm512_castsi512_si256(v));
        const __m512 hi = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(v, 1));
#pragma GCC unroll 8
        for (int c = 0; c < C; c++) {
            const float *x = (const float *)(a + c * as) + e + 2 * h;
            acc[c][2 * h] = _mm512_fmadd_ps(lo, _mm512_set1_ps(x[0]), acc[c][2 * h]);
            acc[c][2 * h + 1] = _mm512_fmadd_ps(hi, _mm512_set1_ps(x[1]), acc[c][2 * h + 1]);
        }
    }
}

/* Quads (four elements, two lines) a lone token's F16 product takes a
 * pass when it asks ahead, as the legacy products go (KERN_LEG_RUNS). On
 * Zen 5, a 2048 x 16384 matrix in copies filling 480 MB, one token,
 * against the probe's product way over the same copies: 0.69-0.86 quad by
 * quad, two half-line loads a line; 0.72-0.79 in runs of 8-16 so; whole
 * lines loaded, 0.79 in runs of 8, 0.87 of 12, 0.93-0.96 of 16, 0.97-1.00
 * of 20-24, 0.89-0.90 of 28 and 0.69-0.72 of 32 (5632 x 2048 and 2048 x
 * 5632 alike at 24). Why the run's length matters so is not known, as for
 * Q4_0 (leg_run). */
#define F16_RUN 24

AI void f16_tile_at(const int C, const size_t ahead, const uint8_t *w, size_t b1, const uint8_t *a, size_t as,
                    float *y, size_t ldy)
{
    __m512 acc[CM_F16][4];
#pragma GCC unroll 8
    for (int c = 0; c < C; c++)
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++)
            acc[c][k] = _mm512_setzero_ps();
    const size_t n = b1 * KERN_PK_F16_BLCK / 4;
    size_t q = 0;
    if (C == 1 && ahead)
        KERN_LEG_RUNS(ahead, F16_RUN, q, n, w, 4 * 32,
                      f16_quad(C, w + kern_j * 4 * 32, 4 * (q + kern_j), a, as, acc));
    for (; q < n; q++, w += 4 * 32) {
        if (C == 1)
            kern_weights_ahead(w, ahead, KERN_WEIGHT_NEAR, 4 * 32, 0, 1);
        f16_quad(C, w, 4 * q, a, as, acc);
    }
#pragma GCC unroll 8
    for (int c = 0; c < C; c++)
        _mm512_storeu_ps(y + c * ldy, _mm512_add_ps(_mm512_add_ps(acc[c][0], acc[c][1]),
                                                    _mm512_add_ps(acc[c][2], acc[c][3])));
}

AI void f16_tile(const int C, const uint8_t *w, size_t b1, const uint8_t *a, size_t as, float *y, size_t ldy)
{
    f16_tile_at(C, 0, w, b1, a, as, y, ldy);
}

static kern_gemm_fn avx512_base(uint32_t type);

/* F16's products: from KERN_F16_MIN_TOKENS tokens through converted
 * panels (f16_avx512.c), fewer as the set's tiles. */
static void f16_products(const uint8_t *w, size_t ws, size_t nr, const uint8_t *a, size_t as, size_t nc, size_t n,
                         float *y, size_t ldy)
{
    if (nc < KERN_F16_MIN_TOKENS)
        avx512_base(GGUF_T_F16)(w, ws, nr, a, as, nc, n, y, ldy);
    else
        kern_f16_panels_avx512(w, ws, nr, a, as, nc, n, y, ldy);
}

/* The set's products: the macro's, but F16's several tokens. */
KERN_DEFINE_PACKED_SET(avx512_base, CM_LEG, KERN_CASES_8, CM_Q4K, KERN_CASES_8, CM_F16, KERN_CASES_4)

kern_gemm_fn kern_packed_gemm_avx512(uint32_t type)
{
    return type == GGUF_T_F16 ? f16_products : avx512_base(type);
}

/* ---- AMX (Intel Sapphire Rapids and later): the legacy types' prompts.
 * One tile multiply takes 16 tokens by one block of 32 quants against the
 * block's sixteen rows. A packed block's code vector k is already a row of
 * the tile's right matrix (four bytes of each of the sixteen rows), so a
 * group's codes are only made signed (less the type's offset), once per
 * panel, then read by every tile of tokens. The 16 x 16 integer sums are
 * exact, and each is scaled by leg_scale as legacy_tile scales its own:
 * the same bits as the AVX-512 set, which takes the tokens short of a
 * tile of 16. The kernel must hold the process's permission for the tile
 * data (kern_cpu_has). */

#define AMX_TOKENS 16

/* The tile configuration: tiles 0 and 3 a block of 16 tokens' quants, 1
 * and 4 its 32 x 16 codes, 2 and 5 their 16 x 16 sums. */
static void amx_begin(void)
{
    kern_amx_config c = {.palette = 1};
    for (int t = 0; t < 6; t += 3) {
        c.rows[t] = AMX_TOKENS;
        c.colsb[t] = 32;
        c.rows[t + 1] = 8;
        c.colsb[t + 1] = 64;
        c.rows[t + 2] = AMX_TOKENS;
        c.colsb[t + 2] = 64;
    }
    _tile_loadconfig(&c);
}

/* After the first `full` tokens on the tiles: the rest through the
 * AVX-512 set's product of type. */
static void amx_end(uint32_t type, size_t full, const uint8_t *w, size_t ws, size_t nr, const uint8_t *a,
                    size_t as, size_t nc, size_t n, float *y, size_t ldy)
{
    if (full)
        _tile_release();
    if (nc > full)
        kern_packed_gemm_avx512(type)(w, ws, nr, a + full * as, as, nc - full, n, y + full * ldy, ldy);
}

/* The integer sums of blocks b and b + 1 (when below b1) of AMX_TOKENS
 * tokens' quants at q (ab bytes a block) and the codes at codes, into
 * sums[0] and sums[1], through tiles 0-2 and 3-5. */
AI void amx_leg_sums(const uint8_t *q, size_t as, size_t ab, const int8_t *codes, size_t b, size_t b1,
                     int32_t (*sums)[AMX_TOKENS * 16])
{
    _tile_loadd(0, q + ab * b, as);
    _tile_loadd(1, codes, 64);
    _tile_zero(2);
    _tile_dpbssd(2, 0, 1);
    _tile_stored(2, sums[0], 64);
    if (b + 1 < b1) {
        _tile_loadd(3, q + ab * (b + 1), as);
        _tile_loadd(4, codes + 512, 64);
        _tile_zero(5);
        _tile_dpbssd(5, 3, 4);
        _tile_stored(5, sums[1], 64);
    }
}

/* Blocks b0..b1 of one group (packed at w, signed codes at codes) against
 * AMX_TOKENS tokens, two blocks at a time. The tiles' sums of the next two
 * are asked for before this two's are scaled, so that the tiles need not
 * wait for the vector scaling (not measured apart). */
static void amx_leg_tile(const int kind, const uint8_t *w, const int8_t *codes, size_t b0, size_t b1, size_t nb,
                         const uint8_t *a, size_t as, float *y, size_t ldy)
{
    const int q1 = kern_leg_has_min(kind);
    const size_t bb = kern_pk_leg_bytes(kind), ab = q1 ? 36 : 34;
    const size_t side = q1 ? KERN_Q8_1_SIDE(nb) : KERN_Q8_0_SIDE(nb);
    const uint8_t *q = a + ab - 32;
    _Alignas(64) int32_t sums[2][2][AMX_TOKENS * 16];
    __m512 acc[AMX_TOKENS];
    acc_load(AMX_TOKENS, acc, b0 ? y : NULL, ldy);
    amx_leg_sums(q, as, ab, codes, b0, b1, sums[0]);
    for (size_t b = b0; b < b1; b += 2) {
        const int cur = (int)((b - b0) / 2 % 2);
        if (b + 2 < b1)
            amx_leg_sums(q, as, ab, codes + 512 * (b + 2 - b0), b + 2, b1, sums[!cur]);
        for (int i = 0; i < 2 && b + i < b1; i++) {
            __m512 mw, dw = leg_dw(kind, w + bb * (b + i - b0), &mw);
#pragma GCC unroll 16
            for (int c = 0; c < AMX_TOKENS; c++)
                acc[c] = leg_scale(q1, _mm512_load_si512(sums[cur][i] + 16 * c), dw, mw,
                                   (const float *)(a + c * as + side), b + i, nb, acc[c]);
        }
    }
    acc_store(AMX_TOKENS, acc, y, ldy);
}

/* The packed product of a legacy type (type, kind; BB bytes a block, PB
 * blocks a panel) in tiles of AMX_TOKENS tokens, as KERN_DEFINE_PACKED
 * walks it; the tokens left go to the AVX-512 set's product. */
static void amx_legacy(uint32_t type, const int kind, size_t BB, size_t PB, const uint8_t *w, size_t ws, size_t nr,
                       const uint8_t *a, size_t as, size_t nc, size_t n, float *y, size_t ldy)
{
    const size_t nb = n / 32, ng = nr / KERN_PACK_ROWS, full = nc / AMX_TOKENS * AMX_TOKENS;
    const __m512i off = _mm512_set1_epi8((char)leg_offset(kind));
    /* a panel's codes; Q4_0's panels are the legacy types' longest */
    _Static_assert(KERN_PANEL_Q4_0 >= KERN_PANEL_Q8_0 && KERN_PANEL_Q4_0 >= KERN_PANEL_Q5_0 &&
                       KERN_PANEL_Q4_0 >= KERN_PANEL_Q4_1 && KERN_PANEL_Q4_0 >= KERN_PANEL_Q5_1,
                   "codes holds a panel");
    _Alignas(64) int8_t codes[KERN_PANEL_Q4_0 * 512];
    if (full)
        amx_begin();
    for (size_t sg = 0; full && sg < ng; sg += KERN_PK_SUPER)
        for (size_t b0 = 0; b0 < nb; b0 += PB) {
            const size_t b1 = nb - b0 < PB ? nb : b0 + PB;
            for (size_t g = sg; g < ng && g < sg + KERN_PK_SUPER; g++) {
                const uint8_t *wg = w + kern_pack16_at(g, b0, ng, nb, BB, PB);
                for (size_t b = b0; b < b1; b++) {
                    __m512i W[8];
                    leg_codes(kind, 0, wg + BB * (b - b0), W);
                    for (int k = 0; k < 8; k++)
                        _mm512_store_si512(codes + 512 * (b - b0) + 64 * k, _mm512_sub_epi8(W[k], off));
                }
                for (size_t c = 0; c < full; c += AMX_TOKENS)
                    amx_leg_tile(kind, wg, codes, b0, b1, nb, a + c * as, as, y + c * ldy + g * KERN_PACK_ROWS, ldy);
            }
        }
    amx_end(type, full, w, ws, nr, a, as, nc, n, y, ldy);
}

/* ---- The products of a lone token that ask for the weights
 * KERN_WEIGHT_AHEAD bytes ahead: the AMX set's, and the AVX-512 set's on
 * Intel and Zen 5 cores. */
KERN_DEFINE_LONE_SET(kern_lone_gemm_avx512)

/* The AMX set's product `name` of type T through `several`, called with
 * (T's type id, ARGS..., the product's arguments); fewer tokens than a
 * tile go to the AVX-512 set's. */
#define AMX_PRODUCT(name, T, several, ...) \
    static void name(const uint8_t *w, size_t ws, size_t nr, const uint8_t *a, size_t as, size_t nc, size_t n, \
                     float *y, size_t ldy) \
    { \
        several(GGUF_T_##T, __VA_ARGS__ w, ws, nr, a, as, nc, n, y, ldy); \
    }
#define AMX_LEGACY(name, T, KIND) AMX_PRODUCT(name, T, amx_legacy, KIND, KERN_PK_##T, KERN_PANEL_##T,)
AMX_LEGACY(amx_q4_0, Q4_0, KERN_LEG_Q4)
AMX_LEGACY(amx_q8_0, Q8_0, KERN_LEG_Q8)
AMX_LEGACY(amx_q5_0, Q5_0, KERN_LEG_Q5)
AMX_LEGACY(amx_q4_1, Q4_1, KERN_LEG_Q4_1)
AMX_LEGACY(amx_q5_1, Q5_1, KERN_LEG_Q5_1)

/* ---- AMX Q4_K and Q5_K. A sub-block's six-bit scale is 8h + l (h, l <
 * 8), and its codes times l and times h (at most 31 * 7: unsigned bytes)
 * make two right matrices, so the tiles add up a super-block's eight
 * sub-blocks in two sums, of which 8 x the second + the first is
 * q4k_tile's integer sum exactly; q4k_block_sums does the rest. Tiles of
 * 16 tokens by 64 quants (two sub-blocks) against 64 x 16 codes. */

/* Super-blocks unpacked at a time: 8 KiB each. */
#define AMX_K_BLOCKS 4

static void amx_begin_k(void)
{
    kern_amx_config c = {.palette = 1};
    for (int t = 0; t < 8; t++) {
        c.rows[t] = 16;
        c.colsb[t] = 64;
    }
    _tile_loadconfig(&c);
}

/* The two right matrices of each pair p of sub-blocks of the block at w:
 * its codes times l at out + 2048p, times h at out + 2048p + 1024, in
 * tile rows of four quants of the sixteen rows. */
AI void amx_q4k_unpack(const int q5, const uint8_t *w, uint8_t *out)
{
    __m512i scs[2], mns[2];
    q4k_scales(w + (q5 ? KERN_PK_Q5K_QH : 0), scs, mns);
    for (int j = 0; j < 8; j++) {
        __m512i W[8];
        q4k_codes(q5, 0, w, j, W);
        /* each row's scale in both 16-bit halves of its four bytes */
        const __m512i sc = lane_bytes(scs[j / 4], j % 4, j % 4);
        __m512i l = _mm512_and_si512(sc, _mm512_set1_epi16(7)), h = _mm512_srli_epi16(sc, 3);
        uint8_t *o = out + 2048 * (j / 2) + 512 * (j % 2);
        /* bytes below 256 times l or h: no carry crosses a byte */
        for (int k = 0; k < 8; k++) {
            _mm512_store_si512(o + 64 * k, _mm512_mullo_epi16(W[k], l));
            _mm512_store_si512(o + 1024 + 64 * k, _mm512_mullo_epi16(W[k], h));
        }
    }
}

/* One pair of sub-blocks: the tokens' quants at q (tile A), the codes
 * times l and h at u (tiles L, H), into sums 3 and 4. */
#define AMX_K_PAIR(A, L, H, q, as, u) \
    do { \
        _tile_loadd(A, q, as); \
        _tile_loadd(L, u, 64); \
        _tile_loadd(H, (u) + 1024, 64); \
        _tile_dpbsud(3, A, L); \
        _tile_dpbsud(4, A, H); \
    } while (0)

/* Super-block b's two sums of AMX_TOKENS tokens (rows at a) against the
 * unpacked block at u, into sums[0] and sums[1]. */
AI void amx_q4k_sums(const uint8_t *a, size_t as, size_t b, const uint8_t *u, int32_t (*sums)[AMX_TOKENS * 16])
{
    const uint8_t *q = a + b * KERN_Q8K_BYTES + KERN_Q8K_QS;
    _tile_zero(3);
    _tile_zero(4);
    AMX_K_PAIR(0, 1, 2, q, as, u);
    AMX_K_PAIR(5, 6, 7, q + 64, as, u + 2048);
    AMX_K_PAIR(0, 1, 2, q + 128, as, u + 4096);
    AMX_K_PAIR(5, 6, 7, q + 192, as, u + 6144);
    _tile_stored(3, sums[0], 64);
    _tile_stored(4, sums[1], 64);
}

/* Blocks b0..b1 of one group (packed at w, unpacked at u) against
 * AMX_TOKENS tokens; the tiles' sums of the next block asked for before
 * this one's are scaled (see amx_leg_tile). */
static void amx_q4k_tile(const int q5, const uint8_t *w, const uint8_t *u, size_t b0, size_t b1, size_t nb,
                         const uint8_t *a, size_t as, float *y, size_t ldy)
{
    const size_t bb = q5 ? KERN_PK_Q5_K : KERN_PK_Q4_K;
    _Alignas(64) int32_t sums[2][2][AMX_TOKENS * 16];
    __m512 acc[AMX_TOKENS];
    acc_load(AMX_TOKENS, acc, b0 ? y : NULL, ldy);
    amx_q4k_sums(a, as, b0, u, sums[0]);
    for (size_t b = b0; b < b1; b++) {
        const int cur = (int)((b - b0) % 2);
        if (b + 1 < b1)
            amx_q4k_sums(a, as, b + 1, u + 8192 * (b + 1 - b0), sums[!cur]);
        __m512i isum[AMX_TOKENS];
#pragma GCC unroll 16
        for (int c = 0; c < AMX_TOKENS; c++)
            isum[c] = _mm512_add_epi32(_mm512_load_si512(sums[cur][0] + 16 * c),
                                       _mm512_slli_epi32(_mm512_load_si512(sums[cur][1] + 16 * c), 3));
        const uint8_t *wk = w + bb * (b - b0) + (q5 ? KERN_PK_Q5K_QH : 0);
        __m512i scs[2], mns[2];
        q4k_scales(wk, scs, mns);
        q4k_block_sums(AMX_TOKENS, wk, mns, b, nb, a, as, isum, acc);
    }
    acc_store(AMX_TOKENS, acc, y, ldy);
}

static void amx_q4k(uint32_t type, const int q5, size_t BB, size_t PB, const uint8_t *w, size_t ws, size_t nr,
                    const uint8_t *a, size_t as, size_t nc, size_t n, float *y, size_t ldy)
{
    const size_t nb = n / 256, ng = nr / KERN_PACK_ROWS, full = nc / AMX_TOKENS * AMX_TOKENS;
    _Alignas(64) uint8_t u[AMX_K_BLOCKS * 8192];
    if (full)
        amx_begin_k();
    for (size_t sg = 0; full && sg < ng; sg += KERN_PK_SUPER)
        for (size_t p0 = 0; p0 < nb; p0 += PB)
            for (size_t g = sg; g < ng && g < sg + KERN_PK_SUPER; g++)
                for (size_t b0 = p0; b0 < nb && b0 < p0 + PB; b0 += AMX_K_BLOCKS) {
                    const size_t b1 = nb - b0 < AMX_K_BLOCKS ? nb : b0 + AMX_K_BLOCKS;
                    const size_t e1 = b1 < p0 + PB ? b1 : p0 + PB;
                    const uint8_t *wg = w + kern_pack16_at(g, b0, ng, nb, BB, PB);
                    for (size_t b = b0; b < e1; b++)
                        amx_q4k_unpack(q5, wg + BB * (b - b0), u + 8192 * (b - b0));
                    for (size_t c = 0; c < full; c += AMX_TOKENS)
                        amx_q4k_tile(q5, wg, u, b0, e1, nb, a + c * as, as, y + c * ldy + g * KERN_PACK_ROWS, ldy);
                }
    amx_end(type, full, w, ws, nr, a, as, nc, n, y, ldy);
}

AMX_PRODUCT(amx_q4_k, Q4_K, amx_q4k, 0, KERN_PK_Q4_K, KERN_PANEL_Q4_K,)
AMX_PRODUCT(amx_q5_k, Q5_K, amx_q4k, 1, KERN_PK_Q5_K, KERN_PANEL_Q5_K,)

kern_gemm_fn kern_packed_gemm_amx(uint32_t type)
{
    switch (type) {
    case GGUF_T_Q4_0: return amx_q4_0;
    case GGUF_T_Q8_0: return amx_q8_0;
    case GGUF_T_Q5_0: return amx_q5_0;
    case GGUF_T_Q4_1: return amx_q4_1;
    case GGUF_T_Q5_1: return amx_q5_1;
    case GGUF_T_Q4_K: return amx_q4_k;
    case GGUF_T_Q5_K: return amx_q5_k;
    default: return kern_packed_gemm_avx512(type);
    }
}
