/* Simple round-to-nearest quantizers: the activation formats (Q8_0, Q8_1,
 * Q8_K, F16, BF16) and the legacy 32-element weight formats. */
#include "kernels/kernels.h"
#include "kernels/kernels_internal.h"

#include <math.h>
#include <string.h>

#include "gguf/gguf.h"

static float absmax(const float *x, size_t n)
{
    float m = 0.0f;
    for (size_t i = 0; i < n; i++)
        m = fmaxf(m, fabsf(x[i]));
    return m;
}

/* The value of largest magnitude, with its sign. */
static float signed_max(const float *x, size_t n)
{
    float amax = 0.0f, max = 0.0f;
    for (size_t i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    return max;
}

static void minmax(const float *x, size_t n, float *mn, float *mx)
{
    *mn = x[0];
    *mx = x[0];
    for (size_t i = 1; i < n; i++) {
        *mn = fminf(*mn, x[i]);
        *mx = fmaxf(*mx, x[i]);
    }
}

/* Q8_0 (with_sum false) or Q8_1 (true: d, then d * sum of the quants). */
static void q8_block(const float *x, uint8_t *b, bool with_sum)
{
    float amax = absmax(x, 32);
    float d = amax / 127.0f;
    float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    int8_t *qs = (int8_t *)(b + (with_sum ? 4 : 2));
    int sum = 0;
    for (int j = 0; j < 32; j++) {
        qs[j] = (int8_t)lrintf(x[j] * id);
        sum += qs[j];
    }
    kern_wr16(b, kern_f32_to_f16(d));
    if (with_sum)
        kern_wr16(b + 2, kern_f32_to_f16(d * (float)sum));
}

static void q8_k_block(const float *x, uint8_t *b)
{
    float max = signed_max(x, 256);
    int8_t *qs = (int8_t *)(b + 4);
    float d = 0.0f;
    if (max != 0.0f) {
        /* map the extreme value to -127 so the full int8 range is usable */
        float iscale = -127.0f / max;
        for (int j = 0; j < 256; j++) {
            long v = lrintf(iscale * x[j]);
            qs[j] = (int8_t)(v > 127 ? 127 : v);
        }
        d = 1.0f / iscale;
    } else {
        memset(qs, 0, 256);
    }
    memcpy(b, &d, 4);
    for (int g = 0; g < 16; g++) {
        int s = 0;
        for (int j = 0; j < 16; j++)
            s += qs[16 * g + j];
        kern_wr16(b + 260 + 2 * g, (uint16_t)(int16_t)s);
    }
}

static int clampq(float v, int hi)
{
    int q = (int)v;
    return q > hi ? hi : (q < 0 ? 0 : q);
}

/* Legacy 32-element layout: element j in the low nibble of qs[j], j + 16
 * in the high nibble; for 5-bit types bit 4 of element j is bit j of qh. */
static void pack_q(const int *q, uint8_t *qs, uint8_t *qh4)
{
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0xf) | ((q[j + 16] & 0xf) << 4));
        qh |= ((uint32_t)(q[j] >> 4) & 1u) << j;
        qh |= ((uint32_t)(q[j + 16] >> 4) & 1u) << (j + 16);
    }
    if (qh4)
        for (int k = 0; k < 4; k++)
            qh4[k] = (uint8_t)(qh >> (8 * k));
}

/* Q4_0/Q5_0: symmetric, d = signed max / -2^(bits-1). */
static void q_sym_block(const float *x, uint8_t *b, int bits)
{
    int off = 1 << (bits - 1), hi = (1 << bits) - 1, q[32];
    float d = signed_max(x, 32) / (float)-off;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; j++)
        q[j] = clampq(x[j] * id + (float)off + 0.5f, hi);
    kern_wr16(b, kern_f32_to_f16(d));
    pack_q(q, b + (bits == 5 ? 6 : 2), bits == 5 ? b + 2 : NULL);
}

/* Q4_1/Q5_1: affine, x = d * q + min. */
static void q_aff_block(const float *x, uint8_t *b, int bits)
{
    int hi = (1 << bits) - 1, q[32];
    float mn, mx;
    minmax(x, 32, &mn, &mx);
    float d = (mx - mn) / (float)hi;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; j++)
        q[j] = clampq((x[j] - mn) * id + 0.5f, hi);
    kern_wr16(b, kern_f32_to_f16(d));
    kern_wr16(b + 2, kern_f32_to_f16(mn));
    pack_q(q, b + (bits == 5 ? 8 : 4), bits == 5 ? b + 4 : NULL);
}

static void quant_block(uint32_t type, const float *x, uint8_t *b)
{
    switch (type) {
    case GGUF_T_F32: memcpy(b, x, 4); break;
    case GGUF_T_F16: kern_wr16(b, kern_f32_to_f16(x[0])); break;
    case GGUF_T_Q4_0: q_sym_block(x, b, 4); break;
    case GGUF_T_Q5_0: q_sym_block(x, b, 5); break;
    case GGUF_T_Q4_1: q_aff_block(x, b, 4); break;
    case GGUF_T_Q5_1: q_aff_block(x, b, 5); break;
    case GGUF_T_Q8_0: q8_block(x, b, false); break;
    case GGUF_T_Q8_1: q8_block(x, b, true); break;
    case GGUF_T_Q8_K: q8_k_block(x, b); break;
    default: break;
    }
}

int kern_quantize_row(uint32_t type, const float *src, void *dst, size_t n)
{
    switch (type) {
    case GGUF_T_F32: case GGUF_T_F16: case GGUF_T_BF16:
    case GGUF_T_Q4_0: case GGUF_T_Q4_1: case GGUF_T_Q5_0: case GGUF_T_Q5_1:
    case GGUF_T_Q8_0: case GGUF_T_Q8_1: case GGUF_T_Q8_K:
        break;
    default:
        return KERN_ETYPE;
    }
    size_t blck;
    size_t bytes = kern_block_bytes(type, &blck);
    if (n % blck)
        return KERN_ESIZE;
    uint8_t *b = dst;
    if (type == GGUF_T_BF16) {
        /* one loop the compiler vectorizes: BF16 activations of prompts */
        for (size_t i = 0; i < n; i++)
            kern_wr16(b + 2 * i, kern_bf16_of(src[i]));
        return KERN_OK;
    }
    for (size_t i = 0; i < n; i += blck, b += bytes)
        quant_block(type, src + i, b);
    return KERN_OK;
}

uint32_t kern_vec_dot_type(uint32_t type)
{
    switch (type) {
    case GGUF_T_F16: return GGUF_T_F16;
    case GGUF_T_BF16: return GGUF_T_BF16;
    case GGUF_T_Q4_1: case GGUF_T_Q5_1: return GGUF_T_Q8_1;
    case GGUF_T_Q4_0: case GGUF_T_Q5_0: case GGUF_T_Q8_0: case GGUF_T_Q8_1: return GGUF_T_Q8_0;
    case GGUF_T_Q2_K: case GGUF_T_Q3_K: case GGUF_T_Q4_K: case GGUF_T_Q5_K:
    case GGUF_T_Q6_K: case GGUF_T_Q8_K: return GGUF_T_Q8_K;
    default: return GGUF_T_F32;
    }
}

void kern_round_activation(uint32_t type, float *x, size_t n, void *scratch)
{
    uint32_t vt = kern_vec_dot_type(type);
    if (vt == GGUF_T_F32)
        return;
    if (kern_quantize_row(vt, x, scratch, n) == KERN_OK)
        kern_dequant_row(vt, scratch, x, n);
}
