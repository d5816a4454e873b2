/* The kernel table each instruction-set file provides (kernels-internal). */
#ifndef RHEMA_SIMD_INTERNAL_H
#define RHEMA_SIMD_INTERNAL_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Tile product: y[c * ldy + r] = dot(weight row r, activation row c) for
 * r < nr, c < nc; rows are n elements, w rows ws bytes apart, activation
 * rows (in the type's vec-dot format) as bytes apart. For a given nc,
 * every y element is computed the same way whatever nr and the row offset
 * (within kern_matmul's chunks, multiples of 16 rows), so results do not
 * depend on how rows are split over threads. */
typedef void (*kern_gemm_fn)(const uint8_t *w, size_t ws, size_t nr, const uint8_t *a,
                             size_t as, size_t nc, size_t n, float *y, size_t ldy);

/* Q8_0 activation rows (kern_matmul's own) carry, after the nb blocks at
 * this 4-aligned offset, each block's scale as f32 and then the sum of its
 * quants as int32. */
#define KERN_Q8_0_SIDE(nb) (((nb) * 34 + 3) & ~(size_t)3)

/* Q8_1 activation rows (kern_matmul's own) carry, after the nb blocks,
 * each block's scale and then its stored sum (d * the sum of its quants,
 * as F16), both as f32. */
#define KERN_Q8_1_SIDE(nb) ((nb) * (size_t)36)

/* A Q8_K block: f32 scale, 256 quants at KERN_Q8K_QS, sixteen int16 sums
 * of 16 quants each at KERN_Q8K_SUMS. */
#define KERN_Q8K_BYTES 292
#define KERN_Q8K_QS 4
#define KERN_Q8K_SUMS 260

/* Q8_K activation rows (kern_matmul's own) carry, after the nb blocks,
 * each block's eight 32-element sums as int16. */
#define KERN_Q8_K_SIDE(nb) ((nb) * (size_t)KERN_Q8K_BYTES)

/* Rows per group of packed weights (see pack.c). */
#define KERN_PACK_ROWS 16

/* Number of ggml type ids a table covers (BF16 = 30 is the largest). */
#define KERN_OPS_NTYPES 31

struct kern_ops {
    const char *name;
    /* NULL entries fall back to the reference kern_vec_dot */
    kern_gemm_fn gemm[KERN_OPS_NTYPES];
    /* n values into kern_matmul's Q8_0 activation row: the blocks exactly
     * as kern_quantize_row writes them, then the side scales and sums;
     * NULL: the reference quantizer */
    void (*quant_q8_0)(const float *x, uint8_t *row, size_t n);
    /* the same for Q8_1 rows (side: scales and stored sums as f32) */
    void (*quant_q8_1)(const float *x, uint8_t *row, size_t n);
    /* n values into Q8_K blocks exactly as kern_quantize_row writes them;
     * NULL: the reference quantizer */
    void (*quant_q8_k)(const float *x, uint8_t *row, size_t n);
    /* Packed weights (kern_pack): bytes for a matrix, 0 when the type or
     * shape has no packed form; the packing; the product over groups of
     * KERN_PACK_ROWS rows (w: the first group, ws: bytes per group).
     * NULL: this set reads weights as stored. */
    size_t (*pack_size)(uint32_t type, size_t n_in, size_t n_out);
    /* rows of a packed matrix that stay together (see kern_pack_grain) */
    size_t (*pack_grain)(uint32_t type, size_t n_in);
    void (*pack)(uint32_t type, const uint8_t *w, size_t n_in, size_t n_out, uint8_t *dst);
    kern_gemm_fn (*packed_gemm)(uint32_t type);
    /* the packed product of a lone token, where the set's differs (it asks
     * for the weights ahead); NULL: packed_gemm's */
    kern_gemm_fn (*lone_gemm)(uint32_t type);
    /* kern_f32_to_f16_row; NULL: the portable loop */
    void (*f32_to_f16)(const float *x, uint16_t *y, size_t n);
    /* y[i] = x[i] rounded to F16 and back: kern_matmul's activation row
     * for F16 weights; NULL: the portable loop */
    void (*round_f16)(const float *x, float *y, size_t n);
    /* kern_silu_mul; NULL: the portable loop */
    void (*silu_mul)(const float *gate, const float *up, float *out, size_t n);
    /* kern_attn_f16; NULL: the portable loop */
    void (*attn_f16)(size_t nq, const float *q, const uint16_t *k, const uint16_t *v, size_t stride,
                     size_t n_kv, size_t hd, float scale, float *out);
    /* the bandwidth probe's KERN_READ_WIDE way: every 64-byte line of the
     * n bytes at p (a multiple of 256) loaded whole by the
     * set's widest loads, summed so that no load is left out; NULL: the
     * portable loop */
    uint64_t (*read_lines)(const uint8_t *p, size_t n);
};

/* Softmax weights e^x below e^KERN_SOFTMAX_MIN (1.6e-28) are 0 in every
 * set. Such a weight changes no F16 accumulator of attention (its largest
 * term, 65504 e^-64, is under half the smallest F16 step, 2^-25) and no
 * sum of weights (at least 1), only the sign of a zero. Kept, its products
 * with small values are subnormal floats, each a microcode assist on x86
 * cores: attention over such scores ran up to 6 times as long. */
#define KERN_SOFTMAX_MIN -64.0f

/* expf for softmax weights (KERN_SOFTMAX_MIN) */
static inline float kern_expf_softmax(float x)
{
    return x < KERN_SOFTMAX_MIN ? 0.0f : expf(x);
}

kern_gemm_fn kern_packed_gemm_avx512(uint32_t type);
/* The AVX-512 set's F16 products of KERN_F16_MIN_TOKENS tokens or more
 * (f16_avx512.c), a kern_gemm_fn; fewer take the set's tiles. */
#define KERN_F16_MIN_TOKENS 8 /* two tiles: fewer convert as often either way */
void kern_f16_panels_avx512(const uint8_t *w, size_t ws, size_t nr, const uint8_t *a, size_t as, size_t nc,
                            size_t n, float *y, size_t ldy);
kern_gemm_fn kern_packed_gemm_avx2(uint32_t type);
/* The sets' products of a lone token asking for the weights
 * KERN_WEIGHT_AHEAD bytes ahead (Intel cores) */
kern_gemm_fn kern_lone_gemm_avx512(uint32_t type);
kern_gemm_fn kern_lone_gemm_avx2(uint32_t type);
/* pack_avx2.c's products with AVX-VNNI */
kern_gemm_fn kern_packed_gemm_avx2_vnni(uint32_t type);
kern_gemm_fn kern_lone_gemm_avx2_vnni(uint32_t type);
/* kern_packed_gemm_avx512's products, the legacy types' prompts on AMX
 * tiles (the calling thread must hold the permission for tile data) */
kern_gemm_fn kern_packed_gemm_amx(uint32_t type);
kern_gemm_fn kern_packed_gemm_neon(uint32_t type);
void kern_attn_f16_avx512(size_t nq, const float *q, const uint16_t *k, const uint16_t *v, size_t stride,
                          size_t n_kv, size_t hd, float scale, float *out);

/* The 64-byte tile configuration _tile_loadconfig reads (palette 1:
 * rows and bytes a row of each of the eight tiles), for the AMX set's
 * products (pack_avx512.c, bf16_avx512.c). */
typedef struct kern_amx_config {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} kern_amx_config;

/* Bytes of weights ahead that the prefetching sets' products of a lone
 * token ask for (lone_gemm), into the second level, and (the legacy types and F16) again into
 * the first; see pack_avx512.c, where they were measured. The bandwidth
 * probe's prefetching way asks the same (matmul.c). */
#define KERN_WEIGHT_AHEAD 12288
#define KERN_WEIGHT_NEAR 4096

/* kern_silu_mul, kern_f32_to_f16_row, the activation quantizers and
 * kern_attn_f16 (struct kern_ops) on x86 (vec_x86.c). */
void kern_silu_mul_avx2(const float *gate, const float *up, float *out, size_t n);
void kern_f32_to_f16_avx2(const float *x, uint16_t *y, size_t n);
void kern_round_f16_avx2(const float *x, float *y, size_t n);
void kern_attn_f16_avx2(size_t nq, const float *q, const uint16_t *k, const uint16_t *v, size_t stride,
                        size_t n_kv, size_t hd, float scale, float *out);
void kern_quant_q8_0_avx2(const float *x, uint8_t *row, size_t n);
void kern_quant_q8_1_avx2(const float *x, uint8_t *row, size_t n);
void kern_quant_q8_k_avx2(const float *x, uint8_t *row, size_t n);

/* BF16 products with vdpbf16ps (AVX-512 BF16). */
void kern_gemm_bf16_avx512(const uint8_t *w, size_t ws, size_t nr, const uint8_t *a, size_t as, size_t nc,
                           size_t n, float *y, size_t ldy);
/* the same, a lone token asking for the weights ahead (Intel cores) */
void kern_gemm_bf16_avx512_ahead(const uint8_t *w, size_t ws, size_t nr, const uint8_t *a, size_t as, size_t nc,
                                 size_t n, float *y, size_t ldy);
/* the same with AMX tiles from 16 tokens (Intel server cores) */
void kern_gemm_bf16_amx(const uint8_t *w, size_t ws, size_t nr, const uint8_t *a, size_t as, size_t nc,
                        size_t n, float *y, size_t ldy);

/* Each x86 set plain (older AMD cores, other vendors) and asking for a
 * lone token's weights ahead (_prefetch: Intel cores, AMD's from Zen 5;
 * the AMX set always does). */
extern const struct kern_ops kern_ops_avx2;
extern const struct kern_ops kern_ops_avx2_prefetch;
extern const struct kern_ops kern_ops_avx2_vnni;
extern const struct kern_ops kern_ops_avx2_vnni_prefetch;
extern const struct kern_ops kern_ops_avx512;
extern const struct kern_ops kern_ops_avx512_prefetch;
extern const struct kern_ops kern_ops_avx512_bf16;
extern const struct kern_ops kern_ops_avx512_bf16_prefetch;
extern const struct kern_ops kern_ops_amx;
extern const struct kern_ops kern_ops_neon;
extern const struct kern_ops kern_ops_neon_dotprod;

#endif
