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

float kern_vec_dot(uint32_t type, const void *row, const void *act, size_t n)
{
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
