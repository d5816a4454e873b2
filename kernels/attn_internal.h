/* The blocked attention of the AVX2 and NEON sets, kern_attn_f16's
 * numerics written once. A set's file includes this after defining:
 *   ATTN_W, values per vector (8 or 4), and AI, its always-inline marker;
 *   attn_vec, a vector of ATTN_W floats, with vec_ld, vec_st, vec_set1,
 *   vec_mul, vec_add and vec_round_f16 (each lane rounded to F16 and back);
 *   rowv(row, i, f32) and row1(row, i, f32): values i.. of a row in F32
 *     (f32) or F16, a vector of them or one;
 *   round1_f16(x): x rounded to F16 and back;
 *   attn_round_q(x, y, n): y[i] = round1_f16(x[i]), vectorized;
 *   attn_weights(f32, qv, mx, sum, k, rb, nk, hd, scale, e): one query's
 *     weights for a block of nk keys (key j's row at k + j * rb bytes)
 *     into e[0, 8), its running maximum and denominator updated; returns
 *     the keys that set a new maximum, one bit each.
 * It defines attn_run(), the kernel.
 *
 * Keys go eight at a time: their scores, the running maximum before each
 * key by a prefix maximum (the serial loop's comparisons, without its
 * branches) and their weights each take a vector or two; only the value
 * updates stay one key after another. Up to ATTN_BUF_HD values a row, a
 * block's keys and values are converted to F32 once for all the queries
 * that read them (when there are several): the conversions, not the
 * arithmetic, are what the value updates wait on. Up to ATTN_GROUP
 * queries walk the keys together, as many as their rows fit in
 * KERN_ATTN_MAX_HD values. */
#ifndef RHEMA_KERNELS_ATTN_INTERNAL_H
#define RHEMA_KERNELS_ATTN_INTERNAL_H

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "kernels/kernels.h"

#define ATTN_BUF_HD 256
#define ATTN_GROUP 16

/* ATTN_W NV values of one query's accumulator over a block's nk keys, in
 * registers: where key j set a new maximum (bit j of nm) the sum is first
 * rescaled by e[j] and the key's weight is 1, else its weight is e[j];
 * then the weighted value row is added. Multiply, then add: the portable
 * loop's two roundings. */
AI void attn_update(const int NV, const bool f32, float *acc, const char *v, size_t rb, int nk, const float *e,
                    unsigned nm)
{
    attn_vec a[64 / ATTN_W];
    for (int i = 0; i < NV; i++)
        a[i] = vec_ld(acc + ATTN_W * i);
    for (int j = 0; j < nk; j++) {
        attn_vec w = vec_set1(e[j]);
        if (nm >> j & 1) {
            for (int i = 0; i < NV; i++)
                a[i] = vec_round_f16(vec_mul(a[i], w));
            w = vec_set1(1.0f);
        }
        for (int i = 0; i < NV; i++)
            a[i] = vec_round_f16(vec_add(a[i], vec_mul(rowv(v + j * rb, ATTN_W * (size_t)i, f32), w)));
    }
    for (int i = 0; i < NV; i++)
        vec_st(acc + ATTN_W * i, a[i]);
}

/* One query's accumulator over one block: 64 values at a time in
 * registers, then the rest by halves, then the last hd % ATTN_W one by
 * one. */
AI void attn_values(const bool f32, float *acc, const char *v, size_t rb, int nk, size_t hd, const float *e,
                    unsigned nm)
{
    const size_t hv = hd / ATTN_W * ATTN_W, es = f32 ? sizeof(float) : sizeof(uint16_t);
    size_t c = 0;
    for (; c + 64 <= hv; c += 64)
        attn_update(64 / ATTN_W, f32, acc + c, v + c * es, rb, nk, e, nm);
    const int left = (int)(hv - c) / ATTN_W;
#define PART(NV) \
    if ((NV) >= 1 && left & (NV)) { \
        attn_update((NV) >= 1 ? (NV) : 1, f32, acc + c, v + c * es, rb, nk, e, nm); \
        c += (NV) * ATTN_W; \
    }
    PART(32 / ATTN_W)
    PART(16 / ATTN_W)
    PART(8 / ATTN_W)
    PART(4 / ATTN_W)
#undef PART
    for (; c < hd; c++)
        for (int j = 0; j < nk; j++) {
            float w = e[j];
            if (nm >> j & 1) {
                acc[c] = round1_f16(acc[c] * w);
                w = 1.0f;
            }
            acc[c] = round1_f16(acc[c] + row1(v + j * rb, c, f32) * w);
        }
}

/* A group of ng queries over one block: every query's weights first, so
 * that their chains of scores, maxima and exponentials overlap, then
 * every query's value updates. */
AI void attn_block(const bool f32, size_t ng, const float *qv, float *acc, float *mx, float *sum,
                   const char *k, const char *v, size_t rb, int nk, size_t hd, float scale)
{
    float e[ATTN_GROUP][8];
    unsigned nm[ATTN_GROUP];
    for (size_t b = 0; b < ng; b++)
        nm[b] = attn_weights(f32, qv + b * hd, &mx[b], &sum[b], k, rb, nk, hd, scale, e[b]);
    for (size_t b = 0; b < ng; b++)
        attn_values(f32, acc + b * hd, v, rb, nk, hd, e[b], nm[b]);
}

/* rows [0, n) of an F16 block (row j at src + j * stride) into F32 (row j
 * at dst + j * hd) */
static void widen_rows(const uint16_t *src, size_t stride, int n, size_t hd, float *dst)
{
    for (int j = 0; j < n; j++, src += stride, dst += hd) {
        size_t i = 0;
        for (; i + ATTN_W <= hd; i += ATTN_W)
            vec_st(dst + i, rowv(src, i, false));
        for (; i < hd; i++)
            dst[i] = row1(src, i, false);
    }
}

/* kern_attn_f16 for hd <= KERN_ATTN_MAX_HD, each query on its own. */
AI void attn_run(size_t nq, const float *q, const uint16_t *k, const uint16_t *v, size_t stride, size_t n_kv,
                 size_t hd, float scale, float *out)
{
    float qv[KERN_ATTN_MAX_HD], acc[KERN_ATTN_MAX_HD], kf[8 * ATTN_BUF_HD], vf[8 * ATTN_BUF_HD];
    float mx[ATTN_GROUP], sum[ATTN_GROUP];
    const bool buf = nq > 1 && hd <= ATTN_BUF_HD;
    const size_t group = KERN_ATTN_MAX_HD / hd < ATTN_GROUP ? KERN_ATTN_MAX_HD / hd : ATTN_GROUP;
    for (size_t r0 = 0; r0 < nq; r0 += group) {
        const size_t ng = nq - r0 < group ? nq - r0 : group;
        attn_round_q(q + r0 * hd, qv, ng * hd);
        memset(acc, 0, ng * hd * sizeof *acc);
        for (size_t b = 0; b < ng; b++) {
            mx[b] = -INFINITY;
            sum[b] = 0.0f;
        }
        for (size_t p0 = 0; p0 < n_kv; p0 += 8) {
            const int nk = n_kv - p0 < 8 ? (int)(n_kv - p0) : 8;
            const uint16_t *kb = k + p0 * stride, *vb = v + p0 * stride;
            if (buf) {
                widen_rows(kb, stride, nk, hd, kf);
                widen_rows(vb, stride, nk, hd, vf);
                attn_block(true, ng, qv, acc, mx, sum, (const char *)kf, (const char *)vf, hd * sizeof(float), nk,
                           hd, scale);
            } else {
                attn_block(false, ng, qv, acc, mx, sum, (const char *)kb, (const char *)vb,
                           stride * sizeof(uint16_t), nk, hd, scale);
            }
        }
        for (size_t b = 0; b < ng; b++) {
            const float inv = 1.0f / sum[b];
            for (size_t i = 0; i < hd; i++)
                out[(r0 + b) * hd + i] = acc[b * hd + i] * inv;
        }
    }
}

#endif
