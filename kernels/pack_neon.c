/* aarch64 products over weights packed sixteen rows at a time (pack.c's
 * layout, the one the x86 sets read), for CPUs with the dot product
 * extension, taken as four quarters of four rows: a 128-bit vector holds
 * four bytes of each of four rows, and sdot by element multiplies them by
 * one group of four activation bytes from a vector of sixteen, so the
 * activations need no broadcasts. Codes are signed for sdot: Q4_0's and
 * Q4_K's nibbles as they are (0..15), Q8_0's stored + 128 flipped back.
 *
 * The integer sums are exact and scaled in the same order as the x86
 * sets', so every set gives the same bits, and a token alone the bits it
 * gets in a batch. */
#include "kernels/simd_internal.h"

#include <arm_neon.h>
#include <string.h>

#include "gguf/gguf.h"
#include "kernels/kernels_internal.h"
#include "kernels/pack_internal.h"

#define AI static inline __attribute__((always_inline))

/* Tokens per tile: four quarters' accumulators per token plus one
 * quarter's codes fit the 32 vector registers. */
#define CM 4

/* A tile's sums per quarter and token: y's partial sums (y is NULL for
 * the first panel: zero), and back. */
AI void acc_load(const int C, float32x4_t acc[4][CM], const float *y, size_t ldy)
{
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < C; c++)
            acc[r][c] = y ? vld1q_f32(y + c * ldy + 4 * r) : vdupq_n_f32(0.0f);
}

AI void acc_store(const int C, float32x4_t acc[4][CM], float *y, size_t ldy)
{
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < C; c++)
            vst1q_f32(y + c * ldy + 4 * r, acc[r][c]);
}

/* acc + the eight code vectors W against the 32 quants at q (codes k < 4
 * with quants 4k.., codes k >= 4 with quants 16 + 4(k - 4)..). */
AI int32x4_t dot8(int32x4_t acc, const int8x16_t *W, const int8_t *q)
{
    int8x16_t lo = vld1q_s8(q), hi = vld1q_s8(q + 16);
    acc = vdotq_laneq_s32(acc, W[0], lo, 0);
    acc = vdotq_laneq_s32(acc, W[1], lo, 1);
    acc = vdotq_laneq_s32(acc, W[2], lo, 2);
    acc = vdotq_laneq_s32(acc, W[3], lo, 3);
    acc = vdotq_laneq_s32(acc, W[4], hi, 0);
    acc = vdotq_laneq_s32(acc, W[5], hi, 1);
    acc = vdotq_laneq_s32(acc, W[6], hi, 2);
    return vdotq_laneq_s32(acc, W[7], hi, 3);
}

/* ---- Q4_0 and Q8_0 against kern_matmul's Q8_0 rows (side scales and
 * sums after the blocks) */

AI void legacy_tile(const int kind, const int C, const uint8_t *w, size_t b0, size_t b1, size_t nb,
                    const uint8_t *a, size_t as, float *y, size_t ldy)
{
    const int q8 = kind == KERN_LEG_Q8, q1 = kern_leg_has_min(kind);
    const int q5 = kern_leg_has_q5(kind);
    const size_t bb = kern_pk_leg_bytes(kind), at = kern_pk_leg_scales(kind);
    const int off = q8 || q1 ? 0 : q5 ? 16 : 8; /* Q8_0: signed codes here */
    const size_t ab = q1 ? 36 : 34, side = q1 ? KERN_Q8_1_SIDE(nb) : KERN_Q8_0_SIDE(nb);
    const uint8x16_t m4 = vdupq_n_u8(0x0f), flip = vdupq_n_u8(0x80), b4 = vdupq_n_u8(0x10);
    float32x4_t acc[4][CM];
    acc_load(C, acc, b0 ? y : NULL, ldy);
    for (size_t b = b0; b < b1; b++, w += bb) {
        for (int r = 0; r < 4; r++) {
            int8x16_t W[8];
            if (q8) {
                for (int k = 0; k < 8; k++)
                    W[k] = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(w + 64 * k + 16 * r), flip));
            } else {
                /* Q5_0, Q5_1: bit k (or 4 + k) of the byte beside code byte e, at bit 4 */
                uint8x16_t qh = q5 ? vld1q_u8(w + KERN_PK_Q5_QH + 16 * r) : vdupq_n_u8(0);
                for (int k = 0; k < 4; k++) {
                    uint8x16_t v = vld1q_u8(w + 64 * k + 16 * r);
                    uint8x16_t lo = vandq_u8(v, m4), hi = vshrq_n_u8(v, 4);
                    if (q5) {
                        lo = vorrq_u8(lo, vandq_u8(vshlq_u8(qh, vdupq_n_s8((int8_t)(4 - k))), b4));
                        hi = vorrq_u8(hi, vandq_u8(vshlq_u8(qh, vdupq_n_s8((int8_t)-k)), b4));
                    }
                    W[k] = vreinterpretq_s8_u8(lo);
                    W[k + 4] = vreinterpretq_s8_u8(hi);
                }
            }
            float16x4_t dh;
            memcpy(&dh, w + at + 8 * r, 8);
            float32x4_t dw = vcvt_f32_f16(dh), mw = dw;
            if (q1) {
                memcpy(&dh, w + at + 32 + 8 * r, 8);
                mw = vcvt_f32_f16(dh);
            }
            for (int c = 0; c < C; c++) {
                const uint8_t *row = a + c * as;
                const float *da = (const float *)(row + side);
                const int32_t *sa = (const int32_t *)(da + nb);
                int32x4_t s = vdupq_n_s32(off ? -off * sa[b] : 0);
                s = dot8(s, W, (const int8_t *)(row + ab * b + ab - 32));
                acc[r][c] = vfmaq_f32(acc[r][c], vcvtq_f32_s32(s), vmulq_n_f32(dw, da[b]));
                if (q1)
                    acc[r][c] = vfmaq_n_f32(acc[r][c], mw, da[nb + b]);
            }
        }
    }
    acc_store(C, acc, y, ldy);
}

/* ---- Q4_K against kern_matmul's Q8_K rows (after the blocks, each
 * block's eight 32-element sums as int16): per super-block the integer
 * sum of scale * (codes . quants) and of min * (sums of the quants),
 * scaled by d and dmin in f32, as the reference does. */

/* The six-bit scales and mins of rows 4r..4r+3 of the Q4_K block at wk,
 * unpacked from the stored twelve bytes of each row, one row a lane: byte
 * j of sc[g] is sub-block 4g + j's scale, of mn[g] its min. */
AI void q4k_scales(const uint8_t *wk, int r, uint8x16_t *sc, uint8x16_t *mn)
{
    const uint8x16_t m6 = vdupq_n_u8(0x3f), m4 = vdupq_n_u8(0x0f);
    const uint8_t *p = wk + KERN_PK_Q4K_SC + 16 * r;
    const uint8x16_t q0 = vld1q_u8(p), q4 = vld1q_u8(p + 64), q8 = vld1q_u8(p + 128);
    sc[0] = vandq_u8(q0, m6);
    mn[0] = vandq_u8(q4, m6);
    /* sub-blocks 4-7: four bits from bytes 8-11, the top two of 0-3 (4-7) */
    sc[1] = vorrq_u8(vandq_u8(q8, m4), vshlq_n_u8(vshrq_n_u8(q0, 6), 4));
    mn[1] = vorrq_u8(vshrq_n_u8(q8, 4), vshlq_n_u8(vshrq_n_u8(q4, 6), 4));
}

/* Bytes e and f of each lane of v, as its two 16-bit halves; byte
 * NO_BYTE is 0. */
#define NO_BYTE 0xff
AI uint8x16_t lane_bytes(uint8x16_t v, int e, int f)
{
    uint8_t idx[16];
    for (int l = 0; l < 4; l++) {
        idx[4 * l] = (uint8_t)(4 * l + e);
        idx[4 * l + 1] = NO_BYTE;
        idx[4 * l + 2] = f == NO_BYTE ? NO_BYTE : (uint8_t)(4 * l + f);
        idx[4 * l + 3] = NO_BYTE;
    }
    return vqtbl1q_u8(v, vld1q_u8(idx));
}

AI void q4k_tile(const int q5, const int C, const uint8_t *w, size_t b0, size_t b1, size_t nb,
                 const uint8_t *a, size_t as, float *y, size_t ldy)
{
    const uint8x16_t m4 = vdupq_n_u8(0x0f), m10 = vdupq_n_u8(0x10);
    float32x4_t acc[4][CM];
    acc_load(C, acc, b0 ? y : NULL, ldy);
    for (size_t b = b0; b < b1; b++, w += q5 ? KERN_PK_Q5_K : KERN_PK_Q4_K) {
        /* Q5_K: after its high bits, a Q4_K block */
        const uint8_t *wk = w + (q5 ? KERN_PK_Q5K_QH : 0);
        for (int r = 0; r < 4; r++) {
            int32x4_t isum[CM];
            for (int c = 0; c < C; c++)
                isum[c] = vdupq_n_s32(0);
            uint8x16_t scs[2], mns[2];
            q4k_scales(wk, r, scs, mns);
            for (int j = 0; j < 8; j++) {
                /* sub-block j: the low (even j) or high nibbles of pair j / 2 */
                const uint8_t *p = wk + KERN_PK_Q4K_QS + 512 * (j / 2) + 16 * r;
                int8x16_t W[8];
                for (int k = 0; k < 8; k++) {
                    uint8x16_t v = vld1q_u8(p + 64 * k);
                    v = j % 2 ? vshrq_n_u8(v, 4) : vandq_u8(v, m4);
                    if (q5) /* the fifth bit: bit j of the high-bit bytes, at bit 4 */
                        v = vorrq_u8(v, vandq_u8(vshlq_u8(vld1q_u8(w + 64 * k + 16 * r), vdupq_n_s8((int8_t)(4 - j))), m10));
                    W[k] = vreinterpretq_s8_u8(v);
                }
                int32x4_t sc = vreinterpretq_s32_u8(lane_bytes(scs[j / 4], j % 4, NO_BYTE));
                for (int c = 0; c < C; c++) {
                    const int8_t *q = (const int8_t *)(a + c * as + b * KERN_Q8K_BYTES + KERN_Q8K_QS + 32 * j);
                    isum[c] = vmlaq_s32(isum[c], dot8(vdupq_n_s32(0), W, q), sc);
                }
            }
            /* rows 4r..4r+3: (min 2m, min 2m + 1) each */
            int16x8_t mn[4];
            for (int m = 0; m < 4; m++)
                mn[m] = vreinterpretq_s16_u8(lane_bytes(mns[m / 2], 2 * (m % 2), 2 * (m % 2) + 1));
            float16x4_t dh, mh;
            memcpy(&dh, wk + KERN_PK_Q4K_D + 8 * r, 8);
            memcpy(&mh, wk + KERN_PK_Q4K_DMIN + 8 * r, 8);
            float32x4_t dd = vcvt_f32_f16(dh), dm = vcvt_f32_f16(mh);
            for (int c = 0; c < C; c++) {
                const uint8_t *row = a + c * as;
                const uint8_t *side = row + KERN_Q8_K_SIDE(nb) + 16 * b;
                float da;
                memcpy(&da, row + b * KERN_Q8K_BYTES, 4);
                int32x4_t ms = vdupq_n_s32(0);
                for (int m = 0; m < 4; m++) {
                    int32_t pair;
                    memcpy(&pair, side + 4 * m, 4);
                    int16x4_t s2 = vreinterpret_s16_s32(vdup_n_s32(pair));
                    int32x4_t lo = vmull_s16(vget_low_s16(mn[m]), s2), hi = vmull_s16(vget_high_s16(mn[m]), s2);
                    ms = vaddq_s32(ms, vpaddq_s32(lo, hi));
                }
                acc[r][c] = vfmaq_f32(acc[r][c], vcvtq_f32_s32(isum[c]), vmulq_n_f32(dd, da));
                acc[r][c] = vfmsq_f32(acc[r][c], vcvtq_f32_s32(ms), vmulq_n_f32(dm, da));
            }
        }
    }
    acc_store(C, acc, y, ldy);
}

/* ---- Q6_K, Q3_K and Q2_K against kern_matmul's Q8_K rows: per
 * super-block the integer sum over the sixteen sub-blocks of scale *
 * (codes . quants - offset * sum of the quants), scaled by d in f32, less
 * (Q2_K) dmin * the sum of min * sum of the quants (see pack_avx512.c for
 * the codes). */

/* Q2_K's scale-and-min bytes of sub-blocks 2m and 2m + 1 of rows
 * 4r..4r+3, one row a lane. */
AI uint32x4_t q2k_sm(const uint8_t *w, int m, int r)
{
    uint16x4_t sm;
    memcpy(&sm, w + KERN_PK_Q2K_SM + 32 * m + 8 * r, 8);
    return vmovl_u16(sm);
}

AI void k16_tile(const int kind, const int C, const uint8_t *w, size_t b0, size_t b1, size_t nb,
                 const uint8_t *a, size_t as, float *y, size_t ldy)
{
    (void)nb;
    const uint8x16_t m4 = vdupq_n_u8(0x0f), m30 = vdupq_n_u8(0x30), m3 = vdupq_n_u8(3), b2 = vdupq_n_u8(4);
    const uint32x4_t n4 = vdupq_n_u32(0xf);
    const int q3 = kind == KERN_K16_Q3, q2 = kind == KERN_K16_Q2, off = q3 ? 4 : q2 ? 0 : 32;
    const size_t bb = q3 ? KERN_PK_Q3_K : q2 ? KERN_PK_Q2_K : KERN_PK_Q6_K;
    const size_t sc_at = q3 ? KERN_PK_Q3K_SC : KERN_PK_Q6K_SC;
    const size_t d_at = q3 ? KERN_PK_Q3K_D : q2 ? KERN_PK_Q2K_D : KERN_PK_Q6K_D;
    float32x4_t acc[4][CM];
    acc_load(C, acc, b0 ? y : NULL, ldy);
    for (size_t b = b0; b < b1; b++, w += bb) {
        for (int r = 0; r < 4; r++) {
            int32x4_t isum[CM];
            for (int c = 0; c < C; c++)
                isum[c] = vdupq_n_s32(0);
            for (int npt = 0; npt < 16; npt++) {
                /* half n, quants 32t + 16p.. of it: sub-block j */
                const int n = npt / 8, p = (npt / 4) % 2, t = npt % 4, j = 8 * n + 2 * t + p;
                int8x16_t Q[4];
                for (int k = 0; q2 && k < 4; k++) {
                    uint8x16_t lb = vld1q_u8(w + KERN_PK_Q2K_L(n, p, k) + 16 * r);
                    Q[k] = vreinterpretq_s8_u8(vandq_u8(vshlq_u8(lb, vdupq_n_s8((int8_t)(-2 * t))), m3));
                }
                for (int k = 0; q3 && k < 4; k++) {
                    /* two bits of the low-bit bytes, the high bit at bit 2 */
                    uint8x16_t lb = vld1q_u8(w + KERN_PK_Q3K_L(n, p, k) + 16 * r);
                    uint8x16_t hb = vld1q_u8(w + KERN_PK_Q3K_H(p, k) + 16 * r);
                    lb = vshlq_u8(lb, vdupq_n_s8((int8_t)(-2 * t)));
                    hb = vshlq_u8(hb, vdupq_n_s8((int8_t)(2 - 4 * n - t)));
                    Q[k] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(lb, m3), vandq_u8(hb, b2)));
                }
                for (int k = 0; kind == KERN_K16_Q6 && k < 4; k++) {
                    uint8x16_t lq = vld1q_u8(w + (t % 2 ? KERN_PK_Q6K_HI(n, p, k) : KERN_PK_Q6K_LO(n, p, k)) + 16 * r);
                    uint8x16_t qh = vld1q_u8(w + KERN_PK_Q6K_QH(n, p, k) + 16 * r);
                    if (t >= 2)
                        lq = vshrq_n_u8(lq, 4);
                    qh = t == 3 ? vshrq_n_u8(qh, 2) : t == 2 ? qh : t == 1 ? vshlq_n_u8(qh, 2) : vshlq_n_u8(qh, 4);
                    Q[k] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(lq, m4), vandq_u8(qh, m30)));
                }
                int32x4_t sc;
                if (q2) {
                    uint32x4_t sm = q2k_sm(w, j / 2, r);
                    sc = vreinterpretq_s32_u32(vandq_u32(j % 2 ? vshrq_n_u32(sm, 8) : sm, n4));
                } else {
                    uint32_t sc4;
                    memcpy(&sc4, w + sc_at + 16 * j + 4 * r, 4);
                    sc = vmovl_s16(vget_low_s16(vmovl_s8(vcreate_s8(sc4))));
                }
                for (int c = 0; c < C; c++) {
                    const uint8_t *blk = a + c * as + b * KERN_Q8K_BYTES;
                    int8x16_t qv = vld1q_s8((const int8_t *)(blk + KERN_Q8K_QS + 128 * n + 32 * t + 16 * p));
                    int16_t bsum;
                    memcpy(&bsum, blk + KERN_Q8K_SUMS + 2 * j, 2);
                    int32x4_t s = vdupq_n_s32(-off * bsum);
                    s = vdotq_laneq_s32(s, Q[0], qv, 0);
                    s = vdotq_laneq_s32(s, Q[1], qv, 1);
                    s = vdotq_laneq_s32(s, Q[2], qv, 2);
                    s = vdotq_laneq_s32(s, Q[3], qv, 3);
                    isum[c] = vmlaq_s32(isum[c], s, sc);
                }
            }
            float16x4_t dh;
            memcpy(&dh, w + d_at + 8 * r, 8);
            float32x4_t dd = vcvt_f32_f16(dh), dm = dd;
            /* Q2_K's mins of sub-block j of the four rows */
            int32x4_t mn[16];
            for (int m = 0; q2 && m < 8; m++) {
                uint32x4_t sm = q2k_sm(w, m, r);
                mn[2 * m] = vreinterpretq_s32_u32(vandq_u32(vshrq_n_u32(sm, 4), n4));
                mn[2 * m + 1] = vreinterpretq_s32_u32(vshrq_n_u32(sm, 12));
            }
            if (q2) {
                memcpy(&dh, w + KERN_PK_Q2K_DMIN + 8 * r, 8);
                dm = vcvt_f32_f16(dh);
            }
            for (int c = 0; c < C; c++) {
                const uint8_t *blk = a + c * as + b * KERN_Q8K_BYTES;
                float da;
                memcpy(&da, blk, 4);
                acc[r][c] = vfmaq_f32(acc[r][c], vcvtq_f32_s32(isum[c]), vmulq_n_f32(dd, da));
                if (q2) {
                    int16_t bs[16];
                    memcpy(bs, blk + KERN_Q8K_SUMS, 32);
                    int32x4_t ms = vdupq_n_s32(0);
                    for (int j = 0; j < 16; j++)
                        ms = vmlaq_n_s32(ms, mn[j], bs[j]);
                    acc[r][c] = vfmsq_f32(acc[r][c], vcvtq_f32_s32(ms), vmulq_n_f32(dm, da));
                }
            }
        }
    }
    acc_store(C, acc, y, ldy);
}

/* ---- F16: as the x86 sets' f16_tile, in four quarters of four rows;
 * the sixteen chains of a token fill half the registers, so a tile is one
 * token. */

AI void f16_tile(const int C, const uint8_t *w, size_t b1, const uint8_t *a, size_t as, float *y, size_t ldy)
{
    (void)C;
    (void)as;
    (void)ldy;
    float32x4_t acc[4][4];
    for (int q = 0; q < 4; q++)
        for (int k = 0; k < 4; k++)
            acc[q][k] = vdupq_n_f32(0.0f);
    const float *x = (const float *)a;
    const size_t n = b1 * KERN_PK_F16_BLCK;
    for (size_t e = 0; e < n; e += 4, w += 4 * 32)
        for (int k = 0; k < 4; k++)
            for (int q = 0; q < 4; q++) {
                float16x4_t h = vreinterpret_f16_u16(vld1_u16((const uint16_t *)(w + 32 * k + 8 * q)));
                acc[q][k] = vfmaq_n_f32(acc[q][k], vcvt_f32_f16(h), x[e + k]);
            }
    for (int q = 0; q < 4; q++)
        vst1q_f32(y + 4 * q, vaddq_f32(vaddq_f32(acc[q][0], acc[q][1]), vaddq_f32(acc[q][2], acc[q][3])));
}

KERN_DEFINE_PACKED_SET(kern_packed_gemm_neon, CM, KERN_CASES_4, CM, KERN_CASES_4, 1, KERN_CASES_1)
