/* kernels: numeric building blocks on GGUF tensor rows.
 *
 * This is the portable C reference path: for every supported block type it
 * dequantizes a row, takes the dot product of a row with an f32 vector, and
 * pairs a row with an 8-bit quantized activation the way the widely used
 * reference engine does. Faster (SIMD, GPU) kernels are tested against it.
 *
 * Types are gguf_ttype ids; block sizes come from gguf_type_info(). Row
 * functions need n to be a whole number of blocks and a supported type:
 * check once with kern_check() (the hot functions do not re-check).
 */
#ifndef RHEMA_KERNELS_H
#define RHEMA_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum kern_status {
    KERN_OK = 0,
    KERN_ETYPE = -1,  /* block type not supported for this operation */
    KERN_ESIZE = -2,  /* n is not a whole number of blocks */
} kern_status;

/* IEEE half and bfloat16 conversions (round to nearest even). */
float kern_f16_to_f32(uint16_t h);
uint16_t kern_f32_to_f16(float f);
float kern_bf16_to_f32(uint16_t h);
uint16_t kern_f32_to_bf16(float f);

/* Whether rows of `type` can be dequantized / dotted. */
bool kern_supported(uint32_t type);

/* KERN_OK when rows of n elements of `type` can be dequantized, else a
 * status and a message naming the type. */
int kern_check(uint32_t type, uint64_t n, char *err, size_t errlen);

/* dst[0..n) = the values of one row (kern_check must have passed). */
void kern_dequant_row(uint32_t type, const void *row, float *dst, size_t n);

/* Exact dot product of one row with x[0..n), accumulated in f32 per block. */
float kern_dot_row(uint32_t type, const void *row, const float *x, size_t n);

/* Plain f32 dot product. */
float kern_dot_f32(const float *a, const float *b, size_t n);

/* Quantize n values into blocks of `type`: F32, F16, BF16, Q4_0, Q4_1, Q5_0,
 * Q5_1, Q8_0, Q8_1 and Q8_K (simple round-to-nearest quantizers; the
 * k-quants other than Q8_K are not produced here). Returns KERN_ETYPE for
 * other types, KERN_ESIZE when n is not a whole number of blocks. */
int kern_quantize_row(uint32_t type, const float *src, void *dst, size_t n);

/* The activation format the reference engine uses with weights of `type`
 * inside a matrix product: F32 for F32, F16 for F16, BF16 for BF16, Q8_1
 * for Q4_1/Q5_1, Q8_0 for the other legacy types, Q8_K for the k-quants. */
uint32_t kern_vec_dot_type(uint32_t type);

/* Round x[0..n) in place through kern_vec_dot_type(type) and back, so an
 * f32 dot with a dequantized row of `type` reproduces the reference engine's
 * quantized product. scratch holds gguf_row_size(kern_vec_dot_type(type), n)
 * bytes. */
void kern_round_activation(uint32_t type, float *x, size_t n, void *scratch);

/* Dot product of a row of `type` with an activation already quantized in
 * kern_vec_dot_type(type) (n elements). */
float kern_vec_dot(uint32_t type, const void *row, const void *act, size_t n);

#endif
