/* aarch64 Advanced SIMD kernels, compiled twice from this file: for the
 * armv8-a base (kern_ops_neon: widening multiplies) and with the dot
 * product extension (kern_ops_neon_dotprod: sdot). One weight row with one
 * activation row at a time; quantized types take integer dot products of
 * the weight's integers with the 8-bit activations, scaled per block. With
 * sdot, Q4_0, Q8_0, Q4_K, Q5_K and Q6_K weights are packed (pack_neon.c). */
#include "kernels/simd_internal.h"

#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "kernels/kernels_internal.h"
#include "kernels/pack_internal.h"

#if defined(KERN_NEON_DOTPROD)
#define OPS_NAME kern_ops_neon_dotprod
#define SET_NAME "neon-dotprod"
#else
#define OPS_NAME kern_ops_neon
#define SET_NAME "neon"
#endif

#define AI static inline __attribute__((always_inline))

AI float ld_h(const uint8_t *p)
{
    __fp16 h;
    memcpy(&h, p, 2);
    return (float)h;
}

AI float ld_f(const uint8_t *p)
{
    float f;
    memcpy(&f, p, 4);
    return f;
}

/* acc + four-element sums of a * b per lane. */
AI int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b)
{
#if defined(KERN_NEON_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    int16x8_t hi = vmull_s8(vget_high_s8(a), vget_high_s8(b));
    return vpadalq_s16(vpadalq_s16(acc, lo), hi);
#endif
}

/* Sum of a * b over 32 elements given as two 16-byte halves. */
AI int dot32(int8x16_t w0, int8x16_t w1, const int8_t *q)
{
    int32x4_t acc = dot16(vdupq_n_s32(0), w0, vld1q_s8(q));
    return vaddvq_s32(dot16(acc, w1, vld1q_s8(q + 16)));
}

/* 0x10 in byte j where bit j of the 32-bit little-endian mask is set:
 * bytes 0..15 (half 0) or 16..31 (half 1). */
AI uint8x16_t high_bits(uint32_t qh, int half)
{
    static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    uint8x8_t b0 = vdup_n_u8((uint8_t)(qh >> (16 * half)));
    uint8x8_t b1 = vdup_n_u8((uint8_t)(qh >> (16 * half + 8)));
    uint8x16_t set = vtstq_u8(vcombine_u8(b0, b1), vld1q_u8(bit));
    return vandq_u8(set, vdupq_n_u8(0x10));
}

/* ---- legacy 32-element blocks against Q8_0 / Q8_1 ---- */

enum { L_Q4_0, L_Q4_1, L_Q5_0, L_Q5_1, L_Q8_0 };

AI float legacy_dot(const int kind, const uint8_t *w, const uint8_t *a, size_t n)
{
    static const size_t wbytes[] = {18, 20, 22, 24, 34};
    const int aff = kind == L_Q4_1 || kind == L_Q5_1;
    const size_t wb = wbytes[kind], ab = aff ? 36 : 34;
    float s = 0.0f;
    for (size_t b = 0; b < n / 32; b++, w += wb, a += ab) {
        int8x16_t w0, w1;
        if (kind == L_Q8_0) {
            w0 = vld1q_s8((const int8_t *)w + 2);
            w1 = vld1q_s8((const int8_t *)w + 18);
        } else {
            const size_t qs = kind == L_Q4_0 ? 2 : kind == L_Q4_1 ? 4 : kind == L_Q5_0 ? 6 : 8;
            uint8x16_t q = vld1q_u8(w + qs);
            uint8x16_t lo = vandq_u8(q, vdupq_n_u8(0x0f)), hi = vshrq_n_u8(q, 4);
            if (kind == L_Q5_0 || kind == L_Q5_1) {
                uint32_t qh;
                memcpy(&qh, w + (kind == L_Q5_0 ? 2 : 4), 4);
                lo = vorrq_u8(lo, high_bits(qh, 0));
                hi = vorrq_u8(hi, high_bits(qh, 1));
            }
            const int off = kind == L_Q4_0 ? 8 : kind == L_Q5_0 ? 16 : 0;
            w0 = vsubq_s8(vreinterpretq_s8_u8(lo), vdupq_n_s8((int8_t)off));
            w1 = vsubq_s8(vreinterpretq_s8_u8(hi), vdupq_n_s8((int8_t)off));
        }
        int isum = dot32(w0, w1, (const int8_t *)a + (aff ? 4 : 2));
        s += ld_h(w) * ld_h(a) * (float)isum;
        if (aff) /* the min with the activation's stored f16 sum, as the reference */
            s += ld_h(w + 2) * ld_h(a + 2);
    }
    return s;
}

/* ---- k-quants against Q8_K (f32 d, 256 quants, 16 sums of 16) ---- */

AI void k4_scales(const uint8_t *s, uint8_t *sc, uint8_t *mn)
{
    for (int j = 0; j < 4; j++) {
        sc[j] = s[j] & 63;
        mn[j] = s[j + 4] & 63;
        sc[j + 4] = (uint8_t)((s[j + 8] & 0xf) | ((s[j] >> 6) << 4));
        mn[j + 4] = (uint8_t)((s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4));
    }
}

AI float q45k_dot(const int five, const uint8_t *w, const uint8_t *a, size_t n)
{
    const size_t wb = five ? 176 : 144;
    float s = 0.0f;
    for (size_t b = 0; b < n / 256; b++, w += wb, a += KERN_Q8K_BYTES) {
        uint8_t sc[8], mn[8];
        k4_scales(w + 4, sc, mn);
        const uint8_t *ql = w + (five ? 48 : 16), *qh = w + 16;
        const int8_t *q = (const int8_t *)(a + KERN_Q8K_QS);
        int isum = 0, msum = 0;
        for (int g = 0; g < 4; g++) {
            for (int half = 0; half < 2; half++) {
                uint8x16_t x0 = vld1q_u8(ql + 32 * g), x1 = vld1q_u8(ql + 32 * g + 16);
                if (half) {
                    x0 = vshrq_n_u8(x0, 4);
                    x1 = vshrq_n_u8(x1, 4);
                } else {
                    x0 = vandq_u8(x0, vdupq_n_u8(0x0f));
                    x1 = vandq_u8(x1, vdupq_n_u8(0x0f));
                }
                if (five) {
                    uint8x16_t m = vdupq_n_u8((uint8_t)(1 << (2 * g + half)));
                    x0 = vorrq_u8(x0, vandq_u8(vtstq_u8(vld1q_u8(qh), m), vdupq_n_u8(0x10)));
                    x1 = vorrq_u8(x1, vandq_u8(vtstq_u8(vld1q_u8(qh + 16), m), vdupq_n_u8(0x10)));
                }
                int j = 2 * g + half;
                isum += sc[j] * dot32(vreinterpretq_s8_u8(x0), vreinterpretq_s8_u8(x1), q + 32 * j);
                int16_t bs[2];
                memcpy(bs, a + KERN_Q8K_SUMS + 4 * j, 4);
                msum += mn[j] * (bs[0] + bs[1]);
            }
        }
        float da = ld_f(a);
        s += ld_h(w) * da * (float)isum - ld_h(w + 2) * da * (float)msum;
    }
    return s;
}

enum { K_Q6, K_Q3, K_Q2 };

/* Signed values of elements 32k..32k+31 (k = 4h + j) as two halves; Q2_K
 * gives its unsigned codes (the mins are taken off separately). */
AI void k16_values(const int kind, const uint8_t *w, int k, int8x16_t *v0, int8x16_t *v1)
{
    const int h = k >> 2, j = k & 3;
    for (int part = 0; part < 2; part++) {
        uint8x16_t q;
        if (kind == K_Q6) {
            uint8x16_t ql = vld1q_u8(w + 64 * h + 32 * (j & 1) + 16 * part);
            uint8x16_t qh = vld1q_u8(w + 128 + 32 * h + 16 * part);
            ql = j >= 2 ? vshrq_n_u8(ql, 4) : vandq_u8(ql, vdupq_n_u8(0x0f));
            qh = vandq_u8(vshlq_u8(qh, vdupq_n_s8((int8_t)(4 - 2 * j))), vdupq_n_u8(0x30));
            q = vsubq_u8(vorrq_u8(ql, qh), vdupq_n_u8(32));
        } else {
            q = vld1q_u8(w + (kind == K_Q3 ? 32 : 16) + 32 * h + 16 * part);
            q = vandq_u8(vshlq_u8(q, vdupq_n_s8((int8_t)(-2 * j))), vdupq_n_u8(3));
            if (kind == K_Q3) {
                /* a clear high-mask bit means the code - 4 */
                uint8x16_t m = vdupq_n_u8((uint8_t)(1 << (4 * h + j)));
                uint8x16_t set = vtstq_u8(vld1q_u8(w + 16 * part), m);
                q = vsubq_u8(q, vbicq_u8(vdupq_n_u8(4), set));
            }
        }
        *(part ? v1 : v0) = vreinterpretq_s8_u8(q);
    }
}

AI float k16_dot(const int kind, const uint8_t *w, const uint8_t *a, size_t n)
{
    const size_t wb = kind == K_Q6 ? 210 : kind == K_Q3 ? 110 : 84;
    float s = 0.0f;
    for (size_t b = 0; b < n / 256; b++, w += wb, a += KERN_Q8K_BYTES) {
        int sc[16], mn[16];
        float d;
        if (kind == K_Q6) {
            for (int i = 0; i < 16; i++)
                sc[i] = ((const int8_t *)w)[192 + i];
            d = ld_h(w + 208);
        } else if (kind == K_Q3) {
            for (int i = 0; i < 16; i++)
                sc[i] = kern_k3_scale(w + 96, i);
            d = ld_h(w + 108);
        } else {
            for (int i = 0; i < 16; i++) {
                sc[i] = w[i] & 0xf;
                mn[i] = w[i] >> 4;
            }
            d = ld_h(w + 80);
        }
        const int8_t *q = (const int8_t *)(a + KERN_Q8K_QS);
        int isum = 0, msum = 0;
        for (int k = 0; k < 8; k++) {
            int8x16_t v0, v1;
            k16_values(kind, w, k, &v0, &v1);
            isum += sc[2 * k] * vaddvq_s32(dot16(vdupq_n_s32(0), v0, vld1q_s8(q + 32 * k)));
            isum += sc[2 * k + 1] * vaddvq_s32(dot16(vdupq_n_s32(0), v1, vld1q_s8(q + 32 * k + 16)));
        }
        float da = ld_f(a);
        s += d * da * (float)isum;
        if (kind == K_Q2) {
            for (int i = 0; i < 16; i++) {
                int16_t bs;
                memcpy(&bs, a + KERN_Q8K_SUMS + 2 * i, 2);
                msum += mn[i] * bs;
            }
            s -= ld_h(w + 82) * da * (float)msum;
        }
    }
    return s;
}

/* ---- float weights ---- */

enum { F_F32, F_F16, F_BF16 };

AI float32x4_t ld4(int kind, const uint8_t *p)
{
    if (kind == F_F32)
        return vld1q_f32((const float *)p);
    uint16x4_t h = vld1_u16((const uint16_t *)p);
    if (kind == F_F16)
        return vcvt_f32_f16(vreinterpret_f16_u16(h));
    return vreinterpretq_f32_u32(vshlq_n_u32(vmovl_u16(h), 16));
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

/* F16 weights take f32 activations (rounded to F16 by kern_matmul), BF16
 * weights BF16 ones. */
AI float float_dot(const int kind, const uint8_t *w, const uint8_t *a, size_t n)
{
    const int ak = kind == F_BF16 ? F_BF16 : F_F32;
    const size_t es = kind == F_F32 ? 4 : 2, as = ak == F_F32 ? 4 : 2;
    float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        acc0 = vfmaq_f32(acc0, ld4(kind, w + i * es), ld4(ak, a + i * as));
        acc1 = vfmaq_f32(acc1, ld4(kind, w + (i + 4) * es), ld4(ak, a + (i + 4) * as));
    }
    float s = vaddvq_f32(vaddq_f32(acc0, acc1));
    for (; i < n; i++)
        s += ld1(kind, w + i * es) * ld1(ak, a + i * as);
    return s;
}

/* Every (row, token) pair through one dot function. */
#define DEFINE_GEMM(fname, dot, K) \
    static void fname(const uint8_t *w, size_t ws, size_t nr, const uint8_t *a, size_t as, \
                      size_t nc, size_t n, float *y, size_t ldy) \
    { \
        for (size_t r = 0; r < nr; r++) \
            for (size_t c = 0; c < nc; c++) \
                y[c * ldy + r] = dot(K, w + r * ws, a + c * as, n); \
    }

DEFINE_GEMM(gemm_q4_0, legacy_dot, L_Q4_0)
DEFINE_GEMM(gemm_q4_1, legacy_dot, L_Q4_1)
DEFINE_GEMM(gemm_q5_0, legacy_dot, L_Q5_0)
DEFINE_GEMM(gemm_q5_1, legacy_dot, L_Q5_1)
DEFINE_GEMM(gemm_q8_0, legacy_dot, L_Q8_0)
DEFINE_GEMM(gemm_q4_k, q45k_dot, 0)
DEFINE_GEMM(gemm_q5_k, q45k_dot, 1)
DEFINE_GEMM(gemm_q6_k, k16_dot, K_Q6)
DEFINE_GEMM(gemm_q3_k, k16_dot, K_Q3)
DEFINE_GEMM(gemm_q2_k, k16_dot, K_Q2)
DEFINE_GEMM(gemm_f32, float_dot, F_F32)
DEFINE_GEMM(gemm_f16, float_dot, F_F16)
DEFINE_GEMM(gemm_bf16, float_dot, F_BF16)

/* e^x for x <= 0 within a few ulp: x = n ln2 + r with |r| <= ln2 / 2, e^r
 * from its Taylor series to the 7th power, 2^n built in the exponent bits;
 * below cut (at least -87, where 2^n would leave the normal range) the
 * result is 0. */
static inline float32x4_t exp_neg4(float32x4_t x, float cut)
{
    const float32x4_t lo = vdupq_n_f32(cut);
    uint32x4_t keep = vcgeq_f32(x, lo);
    x = vmaxq_f32(x, lo);
    float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504f));
    float32x4_t r = vfmsq_f32(vfmsq_f32(x, n, vdupq_n_f32(0.693359375f)), n, vdupq_n_f32(-2.12194440e-4f));
    static const float c[] = {1.0f / 5040, 1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f};
    float32x4_t p = vdupq_n_f32(c[0]);
    for (int i = 1; i < 8; i++)
        p = vfmaq_f32(vdupq_n_f32(c[i]), p, r);
    int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtnq_s32_f32(n), vdupq_n_s32(127)), 23);
    float32x4_t v = vmulq_f32(p, vreinterpretq_f32_s32(e));
    return vreinterpretq_f32_u32(vandq_u32(keep, vreinterpretq_u32_f32(v)));
}

/* silu(x) = x * sigmoid(x), with e = e^-|x| never overflowing: sigmoid is
 * 1 / (1 + e) for x >= 0 and e / (1 + e) below. */
static float32x4_t silu4(float32x4_t x)
{
    const float32x4_t one = vdupq_n_f32(1.0f);
    float32x4_t e = exp_neg4(vnegq_f32(vabsq_f32(x)), -87.0f);
    float32x4_t s = vdivq_f32(vbslq_f32(vcltzq_f32(x), e, one), vaddq_f32(one, e));
    return vmulq_f32(x, s);
}

/* Round to nearest even (the default mode), as kern_f32_to_f16. */
static void f32_to_f16(const float *x, uint16_t *y, size_t n)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    for (; i < n; i++)
        y[i] = kern_f32_to_f16(x[i]);
}

/* each lane rounded to F16 and back */
AI float32x4_t vec_round_f16(float32x4_t x)
{
    return vcvt_f32_f16(vcvt_f16_f32(x));
}

static void round_f16(const float *x, float *y, size_t n)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vec_round_f16(vld1q_f32(x + i)));
    for (; i < n; i++)
        y[i] = kern_f16_to_f32(kern_f32_to_f16(x[i]));
}

/* ---- activation quantizers, byte for byte the reference's (quant.c):
 * the largest magnitude by fmaxf's rules (FMAXNM), quants rounded to
 * nearest even (FCVTNS) from the same products ---- */

/* Eight vectors of 4 int32 quants (in range) as 32 int8 at q. */
static void narrow32(const int32x4_t *v, int8_t *q)
{
    for (int h = 0; h < 2; h++) {
        int16x8_t a = vcombine_s16(vmovn_s32(v[4 * h]), vmovn_s32(v[4 * h + 1]));
        int16x8_t b = vcombine_s16(vmovn_s32(v[4 * h + 2]), vmovn_s32(v[4 * h + 3]));
        vst1q_s8(q + 16 * h, vcombine_s8(vmovn_s16(a), vmovn_s16(b)));
    }
}

/* Q8_0 (q1 false) or Q8_1 rows with kern_matmul's side (see vec_x86.c). */
static void quant_q8(const float *x, uint8_t *row, size_t n, const bool q1)
{
    const size_t nb = n / 32, bs = q1 ? 36 : 34;
    float *dside = (float *)(row + (q1 ? KERN_Q8_1_SIDE(nb) : KERN_Q8_0_SIDE(nb)));
    for (size_t b = 0; b < nb; b++) {
        const float *xb = x + 32 * b;
        uint8_t *blk = row + bs * b;
        float32x4_t v[8], m = vdupq_n_f32(0.0f);
        for (int i = 0; i < 8; i++) {
            v[i] = vld1q_f32(xb + 4 * i);
            m = vmaxnmq_f32(m, vabsq_f32(v[i]));
        }
        const float amax = vmaxnmvq_f32(m), d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int32x4_t q[8], sum = vdupq_n_s32(0);
        for (int i = 0; i < 8; i++) {
            q[i] = vcvtnq_s32_f32(vmulq_n_f32(v[i], id));
            sum = vaddq_s32(sum, q[i]);
        }
        narrow32(q, (int8_t *)(blk + bs - 32));
        const uint16_t hd = kern_f32_to_f16(d);
        kern_wr16(blk, hd);
        dside[b] = kern_f16_to_f32(hd);
        const int32_t s = vaddvq_s32(sum);
        if (q1) {
            const uint16_t hs = kern_f32_to_f16(d * (float)s);
            kern_wr16(blk + 2, hs);
            dside[nb + b] = kern_f16_to_f32(hs);
        } else {
            ((int32_t *)(dside + nb))[b] = s;
        }
    }
}

static void quant_q8_0(const float *x, uint8_t *row, size_t n)
{
    quant_q8(x, row, n, false);
}

static void quant_q8_1(const float *x, uint8_t *row, size_t n)
{
    quant_q8(x, row, n, true);
}

/* Q8_K blocks: the value of largest magnitude (the first of equals) maps
 * to -127. */
static void quant_q8_k(const float *x, uint8_t *row, size_t n)
{
    for (size_t blk = 0; blk < n / 256; blk++) {
        const float *xb = x + 256 * blk;
        uint8_t *b = row + KERN_Q8K_BYTES * blk;
        float32x4_t m = vdupq_n_f32(0.0f);
        for (int i = 0; i < 64; i++)
            m = vmaxnmq_f32(m, vabsq_f32(vld1q_f32(xb + 4 * i)));
        const float amax = vmaxnmvq_f32(m);
        float max = 0.0f, d = 0.0f;
        for (int i = 0; amax > 0.0f && i < 256; i++)
            if (fabsf(xb[i]) == amax) {
                max = xb[i];
                break;
            }
        const float iscale = max != 0.0f ? -127.0f / max : 0.0f;
        if (max != 0.0f)
            d = 1.0f / iscale;
        for (int g = 0; g < 8; g++) {
            int32x4_t q[8];
            for (int i = 0; i < 8; i++)
                q[i] = vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(xb + 32 * g + 4 * i), iscale)),
                                 vdupq_n_s32(127));
            narrow32(q, (int8_t *)(b + KERN_Q8K_QS + 32 * g));
            for (int h = 0; h < 2; h++) {
                int32x4_t s = vaddq_s32(vaddq_s32(q[4 * h], q[4 * h + 1]), vaddq_s32(q[4 * h + 2], q[4 * h + 3]));
                kern_wr16(b + KERN_Q8K_SUMS + 4 * g + 2 * h, (uint16_t)(int16_t)vaddvq_s32(s));
            }
        }
        memcpy(b, &d, 4);
    }
}

static void silu_mul(const float *gate, const float *up, float *out, size_t n)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(out + i, vmulq_f32(silu4(vld1q_f32(gate + i)), vld1q_f32(up + i)));
    if (i < n) {
        float g[4] = {0}, u[4] = {0}, o[4];
        memcpy(g, gate + i, (n - i) * sizeof(float));
        memcpy(u, up + i, (n - i) * sizeof(float));
        vst1q_f32(o, vmulq_f32(silu4(vld1q_f32(g)), vld1q_f32(u)));
        memcpy(out + i, o, (n - i) * sizeof(float));
    }
}

/* ---- attention over an F16 cache (kern_attn_f16; attn_internal.h) ---- */

#define ATTN_W 4

/* the vector primitives of attn_internal.h */
typedef float32x4_t attn_vec;
#define vec_ld vld1q_f32
#define vec_st vst1q_f32
#define vec_set1 vdupq_n_f32
#define vec_mul vmulq_f32
#define vec_add vaddq_f32

AI float round1_f16(float x)
{
    return (float)(__fp16)x;
}

/* Four values (rowv) or one (row1) of a row from value i on: the row in F32
 * (f32) or in F16. */
AI float32x4_t rowv(const void *row, size_t i, const bool f32)
{
    if (f32)
        return vld1q_f32((const float *)row + i);
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)row + i)));
}

AI float row1(const void *row, size_t i, const bool f32)
{
    return f32 ? ((const float *)row)[i] : ld_h((const uint8_t *)((const uint16_t *)row + i));
}

/* A block's eight scores before scaling (key j's row at k + j * rb
 * bytes), keys 0-3 in s[0] and 4-7 in s[1]: each key's dot product with
 * the query in one chain of four-lane products along the row, the lanes
 * added pairwise, then the row's last hd % 4 values one by one. Keys from
 * nk on read key 0 again, for the caller to mask. */
AI void scores8(const bool f32, const float *qv, const char *k, size_t rb, int nk, size_t hd, float32x4_t *s)
{
    const size_t h4 = hd / 4 * 4;
    const char *kp[8];
    float32x4_t d[8];
    for (int j = 0; j < 8; j++) {
        kp[j] = k + (size_t)(j < nk ? j : 0) * rb;
        d[j] = vdupq_n_f32(0.0f);
    }
    for (size_t i = 0; i < h4; i += 4) {
        float32x4_t qi = vld1q_f32(qv + i);
        for (int j = 0; j < 8; j++)
            d[j] = vfmaq_f32(d[j], qi, rowv(kp[j], i, f32));
    }
    for (int h = 0; h < 2; h++)
        s[h] = vpaddq_f32(vpaddq_f32(d[4 * h], d[4 * h + 1]), vpaddq_f32(d[4 * h + 2], d[4 * h + 3]));
    if (h4 == hd)
        return;
    float t[8];
    vst1q_f32(t, s[0]);
    vst1q_f32(t + 4, s[1]);
    for (int j = 0; j < 8; j++)
        for (size_t i = h4; i < hd; i++)
            t[j] += qv[i] * row1(kp[j], i, f32);
    s[0] = vld1q_f32(t);
    s[1] = vld1q_f32(t + 4);
}

/* x's lanes moved up by n (1 or 2), the lowest n taking -inf. */
#define UP(x, n) vextq_f32(ninf, x, 4 - (n))

/* One query's weights for one block (attn_internal.h):
 * the prefix maximum runs in each half, the upper half then taking the
 * lower's. */
AI unsigned attn_weights(const bool f32, const float *qv, float *mx, float *sum, const char *k, size_t rb,
                         int nk, size_t hd, float scale, float *e)
{
    const float32x4_t ninf = vdupq_n_f32(-INFINITY);
    const int32x4_t lane = {0, 1, 2, 3};
    float32x4_t s[2], pm[2];
    scores8(f32, qv, k, rb, nk, hd, s);
    unsigned nm = 0;
    for (int h = 0; h < 2; h++) {
        uint32x4_t live = vcltq_s32(vaddq_s32(lane, vdupq_n_s32(4 * h)), vdupq_n_s32(nk));
        s[h] = vbslq_f32(live, vmulq_n_f32(s[h], scale), ninf);
        pm[h] = vmaxq_f32(s[h], UP(s[h], 1));
        pm[h] = vmaxq_f32(pm[h], UP(pm[h], 2));
    }
    float32x4_t before[2] = {UP(pm[0], 1), vmaxq_f32(UP(pm[1], 1), vdupq_laneq_f32(pm[0], 3))};
    for (int h = 0; h < 2; h++) {
        float32x4_t prev = vmaxq_f32(before[h], vdupq_n_f32(*mx));
        uint32x4_t nmv = vcgtq_f32(s[h], prev);
        vst1q_f32(e + 4 * h,
                  exp_neg4(vbslq_f32(nmv, vsubq_f32(prev, s[h]), vsubq_f32(s[h], prev)), KERN_SOFTMAX_MIN));
        const uint32x4_t bit = {1, 2, 4, 8};
        nm |= vaddvq_u32(vandq_u32(nmv, bit)) << 4 * h;
    }
    if (nm)
        *mx = vmaxvq_f32(vmaxq_f32(pm[0], pm[1]));
    for (int j = 0; j < nk; j++)
        *sum = nm >> j & 1 ? *sum * e[j] + 1.0f : *sum + e[j];
    return nm;
}
#undef UP

#define attn_round_q round_f16
#include "kernels/attn_internal.h"

static void attn_f16(size_t nq, const float *q, const uint16_t *k, const uint16_t *v, size_t stride,
                     size_t n_kv, size_t hd, float scale, float *out)
{
    attn_run(nq, q, k, v, stride, n_kv, hd, scale, out);
}

/* The bandwidth probe's KERN_READ_WIDE way: each line by four 16-byte
 * loads, four lines at a time in independent sums. */
static uint64_t read_lines(const uint8_t *p, size_t n)
{
    uint64x2_t s[4] = {vdupq_n_u64(0), vdupq_n_u64(0), vdupq_n_u64(0), vdupq_n_u64(0)};
    for (size_t i = 0; i < n; i += 256)
        for (int l = 0; l < 4; l++) {
            uint64x2x4_t v = vld1q_u64_x4((const uint64_t *)(p + i + 64 * l));
            s[l] = vaddq_u64(s[l], vaddq_u64(vaddq_u64(v.val[0], v.val[1]), vaddq_u64(v.val[2], v.val[3])));
        }
    return vaddvq_u64(vaddq_u64(vaddq_u64(s[0], s[1]), vaddq_u64(s[2], s[3])));
}

const struct kern_ops OPS_NAME = {
    .name = SET_NAME,
    .gemm = {
        [GGUF_T_F32] = gemm_f32, [GGUF_T_F16] = gemm_f16, [GGUF_T_BF16] = gemm_bf16,
        [GGUF_T_Q4_0] = gemm_q4_0, [GGUF_T_Q4_1] = gemm_q4_1, [GGUF_T_Q5_0] = gemm_q5_0,
        [GGUF_T_Q5_1] = gemm_q5_1, [GGUF_T_Q8_0] = gemm_q8_0, [GGUF_T_Q2_K] = gemm_q2_k,
        [GGUF_T_Q3_K] = gemm_q3_k, [GGUF_T_Q4_K] = gemm_q4_k, [GGUF_T_Q5_K] = gemm_q5_k,
        [GGUF_T_Q6_K] = gemm_q6_k,
    },
#if defined(KERN_NEON_DOTPROD)
    .pack_size = kern_pack16_size,
    .pack_grain = kern_pack16_grain,
    .pack = kern_pack16,
    .packed_gemm = kern_packed_gemm_neon,
#endif
    .quant_q8_0 = quant_q8_0,
    .quant_q8_1 = quant_q8_1,
    .quant_q8_k = quant_q8_k,
    .silu_mul = silu_mul,
    .f32_to_f16 = f32_to_f16,
    .round_f16 = round_f16,
    .attn_f16 = attn_f16,
    .read_lines = read_lines,
};
