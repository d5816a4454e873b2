/* Reference dot products: a row of any supported type with an f32 vector
 * or with an activation quantized in the type's vec-dot format. */
#include "kernels/kernels.h"
#include "kernels/kernels_internal.h"

#include "gguf/gguf.h"

/* Values dequantized at a time: a whole number of blocks of every type. */
#define SEG 256

float kern_dot_f32(const float *a, const float *b, size_t n)
{
    /* independent partial sums let the compiler vectorize without
     * reassociating a single accumulator */
    float acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += a[i + k] * b[i + k];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* The part of a row that starts at element i (a block boundary). */
static const uint8_t *row_at(uint32_t type, const void *row, size_t i)
{
    size_t blck;
    size_t bytes = kern_block_bytes(type, &blck);
    return (const uint8_t *)row + i / blck * bytes;
}

float kern_dot_row(uint32_t type, const void *row, const float *x, size_t n)
{
    if (type == GGUF_T_F32)
        return kern_dot_f32(row, x, n);
    float buf[SEG];
    float s = 0.0f;
    for (size_t i = 0; i < n; i += SEG) {
        size_t m = n - i < SEG ? n - i : SEG;
        kern_dequant_row(type, row_at(type, row, i), buf, m);
        s += kern_dot_f32(buf, x + i, m);
    }
    return s;
}

/* Q4_1/Q5_1 with a Q8_1 activation, as the reference engine computes it:
 * integer products per block, and the min term taken with the
 * activation's stored F16 sum (its rounding is part of the result). */
static float vec_dot_q_1(uint32_t type, const uint8_t *w, const uint8_t *a, size_t n)
{
    bool q5 = type == GGUF_T_Q5_1;
    size_t wbytes = q5 ? 24 : 20;
    float s = 0.0f;
    for (size_t i = 0; i < n; i += 32, w += wbytes, a += 36) {
        const uint8_t *qs = w + (q5 ? 8 : 4);
        const int8_t *qa = (const int8_t *)(a + 4);
        uint32_t qh = q5 ? kern_rd32(w + 4) : 0;
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = (qs[j] & 0xf) | (int)(((qh >> j) & 1u) << 4);
            int q1 = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
            sumi += q0 * qa[j] + q1 * qa[j + 16];
        }
        float dw = kern_f16_to_f32(kern_rd16(w)), mw = kern_f16_to_f32(kern_rd16(w + 2));
        float da = kern_f16_to_f32(kern_rd16(a)), sa = kern_f16_to_f32(kern_rd16(a + 2));
        s += dw * da * (float)sumi + mw * sa;
    }
    return s;
}

float kern_vec_dot(uint32_t type, const void *row, const void *act, size_t n)
{
    if (type == GGUF_T_Q4_1 || type == GGUF_T_Q5_1)
        return vec_dot_q_1(type, row, act, n);
    uint32_t vt = kern_vec_dot_type(type);
    float w[SEG], a[SEG];
    float s = 0.0f;
    for (size_t i = 0; i < n; i += SEG) {
        size_t m = n - i < SEG ? n - i : SEG;
        kern_dequant_row(type, row_at(type, row, i), w, m);
        kern_dequant_row(vt, row_at(vt, act, i), a, m);
        s += kern_dot_f32(w, a, m);
    }
    return s;
}
