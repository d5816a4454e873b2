/* The packed weight layout (pack.c packs it), shared by the kernel sets
 * whose products read it (pack_avx512.c, pack_avx2.c, pack_neon.c):
 * kernels-internal. */
#ifndef RHEMA_PACK_INTERNAL_H
#define RHEMA_PACK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/simd_internal.h"

/* Bytes of one block of a group of KERN_PACK_ROWS rows. */
#define KERN_PK_Q4_0 (4 * 64 + 32)
#define KERN_PK_Q8_0 (8 * 64 + 32)
/* Q5_0: Q4_0's codes, then the fifth bits qh[16][4], then d; Q4_1 and
 * Q5_1: Q4_0's and Q5_0's, then their mins m */
#define KERN_PK_Q5_0 (5 * 64 + 32)
#define KERN_PK_Q4_1 (4 * 64 + 64)
#define KERN_PK_Q5_1 (5 * 64 + 64)
#define KERN_PK_Q5_QH 256
/* The types of legacy_tile: 32-quant blocks with a scale (and a min:
 * against Q8_1 activations). */
enum { KERN_LEG_Q4, KERN_LEG_Q8, KERN_LEG_Q5, KERN_LEG_Q4_1, KERN_LEG_Q5_1 };

/* KERN_PK_* of a legacy_tile kind. */
static inline size_t kern_pk_leg_bytes(int kind)
{
    static const size_t bytes[] = {KERN_PK_Q4_0, KERN_PK_Q8_0, KERN_PK_Q5_0, KERN_PK_Q4_1, KERN_PK_Q5_1};
    return bytes[kind];
}

/* Whether a legacy kind has mins (Q4_1, Q5_1: against Q8_1 rows). */
static inline int kern_leg_has_min(int kind)
{
    return kind == KERN_LEG_Q4_1 || kind == KERN_LEG_Q5_1;
}

/* Whether a legacy kind has a fifth bit (Q5_0, Q5_1). */
static inline int kern_leg_has_q5(int kind)
{
    return kind == KERN_LEG_Q5 || kind == KERN_LEG_Q5_1;
}

/* Where a legacy kind's packed block keeps its rows' scales (and then
 * mins): after its 64-byte code vectors, eight for Q8_0, five with a fifth
 * bit, else four. */
static inline size_t kern_pk_leg_scales(int kind)
{
    return 64 * (size_t)(kind == KERN_LEG_Q8 ? 8 : kern_leg_has_q5(kind) ? 5 : 4);
}

#define KERN_PK_Q4_K (192 + 4 * 8 * 64 + 64)
/* Where a Q4_K block's six-bit scales and mins (12 bytes a row, as
 * stored: [3][16][4]), codes, d and dmin start: in the order a product
 * reads them. With the scales after the codes, a super-block's first
 * loads waited on lines not yet asked for: decoding 1.6% slower. */
#define KERN_PK_Q4K_SC 0
#define KERN_PK_Q4K_QS 192
#define KERN_PK_Q4K_D 2240
#define KERN_PK_Q4K_DMIN 2272
/* A Q5_K block: its high bits, qh[8][16][4] (bytes 4k..4k+3 of each row,
 * bit j for sub-block j), then a Q4_K block. */
#define KERN_PK_Q5_K (8 * 64 + KERN_PK_Q4_K)
#define KERN_PK_Q5K_QH 512
/* A Q6_K block: the code bytes of half n, quants 16p.. of each 32 (see
 * pack.c), then the scales and d. */
#define KERN_PK_Q6_K (32 * 64 + 16 * 64 + 256 + 32)
#define KERN_PK_Q6K_LO(n, p, k) (768 * (2 * (n) + (p)) + 64 * (k))
#define KERN_PK_Q6K_QH(n, p, k) (KERN_PK_Q6K_LO(n, p, k) + 256)
#define KERN_PK_Q6K_HI(n, p, k) (KERN_PK_Q6K_LO(n, p, k) + 512)
#define KERN_PK_Q6K_SC 3072
#define KERN_PK_Q6K_D 3328
/* A Q3_K block: the high-bit bytes 16p + 4k.. (p = 0, 1), each followed
 * by the low-bit bytes 16p + 4k.. of the first half, then those of the
 * second half (see pack.c), then the scales and d. */
#define KERN_PK_Q3_K (24 * 64 + 256 + 32)
#define KERN_PK_Q3K_H(p, k) (512 * (p) + 64 * (k))
#define KERN_PK_Q3K_L(n, p, k) ((n) ? 1024 + 256 * (p) + 64 * (k) : 512 * (p) + 256 + 64 * (k))
#define KERN_PK_Q3K_SC 1536
#define KERN_PK_Q3K_D 1792
/* A Q2_K block: the code bytes 16p + 4k.. of half n, (n, p) in turn, then
 * the scale-and-min bytes of sub-blocks 2m and 2m + 1 of each row side by
 * side (sm[8][16][2]), then d and dmin. */
#define KERN_PK_Q2_K (16 * 64 + 256 + 64)
#define KERN_PK_Q2K_L(n, p, k) (256 * (2 * (n) + (p)) + 64 * (k))
#define KERN_PK_Q2K_SM 1024
#define KERN_PK_Q2K_D 1280
#define KERN_PK_Q2K_DMIN 1312
/* The types of k16_tile: sixteen sub-blocks of sixteen quants each. */
enum { KERN_K16_Q6, KERN_K16_Q3, KERN_K16_Q2 };

/* F16: per element, the sixteen rows' weights (32 bytes: one vector of
 * sixteen f32 once converted), in blocks of KERN_PK_F16_BLCK elements. */
#define KERN_PK_F16_BLCK 32
#define KERN_PK_F16 (KERN_PK_F16_BLCK * 32)

/* Groups per super-group, and blocks per panel (about 18 KB of weights of
 * one group) for rows longer than one panel (see pack.c). */
#define KERN_PK_SUPER 4
#define KERN_PANEL_Q4_0 64
#define KERN_PANEL_Q8_0 32
#define KERN_PANEL_Q5_0 52
#define KERN_PANEL_Q4_1 56
#define KERN_PANEL_Q5_1 48
#define KERN_PANEL_Q4_K 8
#define KERN_PANEL_Q5_K 6
#define KERN_PANEL_Q6_K 5
#define KERN_PANEL_Q3_K 10
#define KERN_PANEL_Q2_K 14
/* F16 is not cut into panels: its tiles keep several chains of sums per
 * token in registers, which y could not carry between panels. */
#define KERN_PANEL_F16 (SIZE_MAX / 2)

size_t kern_pack16_size(uint32_t type, size_t n_in, size_t n_out);
size_t kern_pack16_grain(uint32_t type, size_t n_in);
void kern_pack16(uint32_t type, const uint8_t *w, size_t n_in, size_t n_out, uint8_t *dst);
/* Where block b of group g starts, in bytes, in ng groups of nb blocks of
 * bb bytes in panels of pb blocks that begin with a super-group. */
size_t kern_pack16_at(size_t g, size_t b, size_t ng, size_t nb, size_t bb, size_t pb);

/* A set's packed product `fname` (a kern_gemm_fn): w is the first of
 * nr / 16 packed groups (the start of a super-group), each of PB-block
 * panels; panel by panel within each super-group, CM tokens at a time,
 * CASES switching on the tokens of a tile to the set's tile function
 * with wg, b0, b1, nb, at, as, yt and ldy. */
#define KERN_DEFINE_PACKED(fname, CM, BLCK, BB, PB, CASES) \
    static void fname(const uint8_t *w, size_t ws, size_t nr, const uint8_t *a, size_t as, size_t nc, \
                      size_t n, float *y, size_t ldy) \
    { \
        (void)ws; \
        const size_t nb = n / BLCK, ng = nr / KERN_PACK_ROWS; \
        for (size_t sg = 0; sg < ng; sg += KERN_PK_SUPER) \
            for (size_t b0 = 0; b0 < nb; b0 += PB) { \
                const size_t b1 = nb - b0 < PB ? nb : b0 + PB; \
                for (size_t g = sg; g < ng && g < sg + KERN_PK_SUPER; g++) { \
                    const uint8_t *wg = w + kern_pack16_at(g, b0, ng, nb, BB, PB); \
                    for (size_t c = 0; c < nc; c += CM) { \
                        const uint8_t *at = a + c * as; \
                        float *yt = y + c * ldy + g * KERN_PACK_ROWS; \
                        switch (nc - c < CM ? nc - c : CM) { CASES default: break; } \
                    } \
                } \
            } \
    }

/* The cases of a tile switch for 1, 1..4 or 1..8 tokens, and a case for a
 * set's legacy_tile(kind, C, ...), q4k_tile(q5, C, ...) and k16_tile(kind,
 * C, ...) (see above). */
#define KERN_CASES_1(M, ...) M(__VA_ARGS__ 1)
#define KERN_CASES_4(M, ...) KERN_CASES_1(M, __VA_ARGS__) M(__VA_ARGS__ 2) M(__VA_ARGS__ 3) M(__VA_ARGS__ 4)
#define KERN_CASES_8(M, ...) KERN_CASES_4(M, __VA_ARGS__) M(__VA_ARGS__ 5) M(__VA_ARGS__ 6) \
    M(__VA_ARGS__ 7) M(__VA_ARGS__ 8)
#define KERN_CASE_LEG(KIND, C) case C: legacy_tile(KIND, C, wg, b0, b1, nb, at, as, yt, ldy); break;
#define KERN_CASE_Q4K(Q5, C) case C: q4k_tile(Q5, C, wg, b0, b1, nb, at, as, yt, ldy); break;
#define KERN_CASE_K16(KIND, C) case C: k16_tile(KIND, C, wg, b0, b1, nb, at, as, yt, ldy); break;
#define KERN_CASE_F16(KIND, C) case C: f16_tile(C, wg, b1, at, as, yt, ldy); break;

/* A set's products `P_q4_0` ... `P_f16`, of Q4_0, Q8_0, Q5_0, Q4_1 and
 * Q5_1 (its legacy_tile, up to CM_LEG tokens a tile, cases CASES_LEG of
 * CASE_LEG), Q4_K, Q5_K (CASE_Q4K) and Q6_K, Q3_K, Q2_K (CASE_K16; CM_Q4K,
 * CASES_Q4K), F16 (CASE_F16, blocks 0..b1; CM_F16, CASES_F16), and
 * `getter`, the kern_gemm_fn of a type or NULL; KERN_PACKED_TYPE defines
 * one, of type T, with the tile case CASE(KIND, C). */
#define KERN_PACKED_TYPE(name, CM, BLCK, T, CASES, CASE, KIND) \
    KERN_DEFINE_PACKED(name, CM, BLCK, KERN_PK_##T, KERN_PANEL_##T, CASES(CASE, KIND, ))
#define KERN_DEFINE_PRODUCTS(getter, P, CM_LEG, CASES_LEG, CASE_LEG, CM_Q4K, CASES_Q4K, CASE_Q4K, CASE_K16, \
                             CM_F16, CASES_F16, CASE_F16) \
    KERN_PACKED_TYPE(P##_q4_0, CM_LEG, 32, Q4_0, CASES_LEG, CASE_LEG, KERN_LEG_Q4) \
    KERN_PACKED_TYPE(P##_q8_0, CM_LEG, 32, Q8_0, CASES_LEG, CASE_LEG, KERN_LEG_Q8) \
    KERN_PACKED_TYPE(P##_q5_0, CM_LEG, 32, Q5_0, CASES_LEG, CASE_LEG, KERN_LEG_Q5) \
    KERN_PACKED_TYPE(P##_q4_1, CM_LEG, 32, Q4_1, CASES_LEG, CASE_LEG, KERN_LEG_Q4_1) \
    KERN_PACKED_TYPE(P##_q5_1, CM_LEG, 32, Q5_1, CASES_LEG, CASE_LEG, KERN_LEG_Q5_1) \
    KERN_PACKED_TYPE(P##_q4_k, CM_Q4K, 256, Q4_K, CASES_Q4K, CASE_Q4K, 0) \
    KERN_PACKED_TYPE(P##_q5_k, CM_Q4K, 256, Q5_K, CASES_Q4K, CASE_Q4K, 1) \
    KERN_PACKED_TYPE(P##_q6_k, CM_Q4K, 256, Q6_K, CASES_Q4K, CASE_K16, KERN_K16_Q6) \
    KERN_PACKED_TYPE(P##_q3_k, CM_Q4K, 256, Q3_K, CASES_Q4K, CASE_K16, KERN_K16_Q3) \
    KERN_PACKED_TYPE(P##_q2_k, CM_Q4K, 256, Q2_K, CASES_Q4K, CASE_K16, KERN_K16_Q2) \
    KERN_PACKED_TYPE(P##_f16, CM_F16, KERN_PK_F16_BLCK, F16, CASES_F16, CASE_F16, 0) \
    kern_gemm_fn getter(uint32_t type) \
    { \
        switch (type) { \
        case GGUF_T_Q4_0: return P##_q4_0; \
        case GGUF_T_Q8_0: return P##_q8_0; \
        case GGUF_T_Q5_0: return P##_q5_0; \
        case GGUF_T_Q4_1: return P##_q4_1; \
        case GGUF_T_Q5_1: return P##_q5_1; \
        case GGUF_T_Q4_K: return P##_q4_k; \
        case GGUF_T_Q5_K: return P##_q5_k; \
        case GGUF_T_Q6_K: return P##_q6_k; \
        case GGUF_T_Q3_K: return P##_q3_k; \
        case GGUF_T_Q2_K: return P##_q2_k; \
        case GGUF_T_F16: return P##_f16; \
        default: return NULL; \
        } \
    }

/* A set's packed products (its legacy_tile, q4k_tile, k16_tile and
 * f16_tile). */
#define KERN_DEFINE_PACKED_SET(getter, CM_LEG, CASES_LEG, CM_Q4K, CASES_Q4K, CM_F16, CASES_F16) \
    KERN_DEFINE_PRODUCTS(getter, packed, CM_LEG, CASES_LEG, KERN_CASE_LEG, CM_Q4K, CASES_Q4K, KERN_CASE_Q4K, \
                         KERN_CASE_K16, CM_F16, CASES_F16, KERN_CASE_F16)

/* Blocks of a legacy type (32 quants) that a lone token's product, when it
 * asks ahead, takes in one unrolled pass, asking for their lines a block's
 * share at a time (eight blocks of Q4_0: 2304 bytes, one Q4_K
 * super-block's worth). Block by block, asking for two blocks' lines
 * every other block, the legacy products streamed at 0.8-0.9 of the probe
 * while Q4_K's, a super-block a pass, read at 1.0-1.1 (pack_avx512.c,
 * where the AVX-512 set's Q4_0 goes sixteen). */
#define KERN_LEG_RUN 8
/* Blocks b.. of a group at w (bb bytes each, to b1) run by run, while a
 * whole run of `run` blocks (a constant) is left: STEP (a statement of
 * kern_j, the block's place in its run) after asking for block kern_j's
 * share of the run's lines. */
#define KERN_LEG_RUNS(ahead, run, b, b1, w, bb, STEP) \
    for (; (b1) - (b) >= (size_t)(run); (b) += (run), (w) += (run) * (bb)) \
        _Pragma("GCC unroll 32") for (int kern_j = 0; kern_j < (run); kern_j++) { \
            kern_weights_ahead(w, ahead, KERN_WEIGHT_NEAR, (run) * (bb), kern_j, (run)); \
            STEP; \
        }

/* Bytes of weights ahead that the K-quants' products of a lone token ask
 * for into the first level (the legacy types and F16: KERN_WEIGHT_NEAR;
 * the AVX-512 set's Q4_K and Q5_K: its NEAR_Q4K); see pack_avx512.c. The
 * AVX2 set's -prefetch table on Zen 5, decoding llama-1b in one process
 * in turns of eight tokens against 1.5 KB (Q4_K) and 2 KB (Q6_K): q4_k
 * 1.10-1.15 times as fast at 56-61 GB/s and 1.04 at 32, q6_k 1.02-1.03. */
#define KERN_NEAR_K 4096

/* Ask for part j of `parts` of the lines of the bb bytes of weights at w:
 * ahead bytes on into the second level and near bytes on into the first
 * (ahead 0: neither). Products whose blocks are many lines long ask a part
 * at a time, spread over the block. */
static inline __attribute__((always_inline)) void kern_weights_ahead(const uint8_t *w, size_t ahead, size_t near,
                                                                     size_t bb, int j, int parts)
{
    if (!ahead)
        return;
    const size_t lines = (bb + 63) / 64;
#pragma GCC unroll 64
    for (size_t l = lines * j / parts; l < lines * (j + 1) / parts; l++) {
        __builtin_prefetch(w + ahead + 64 * l, 0, 2);
        __builtin_prefetch(w + near + 64 * l, 0, 3);
    }
}

/* A set's products of a lone token that ask for the weights
 * KERN_WEIGHT_AHEAD bytes ahead (its legacy_tile_at, q4k_tile_at,
 * k16_tile_at and f16_tile_at with that distance), for CPUs whose own
 * prefetchers leave the memory idle part of the time (Intel's). */
#define KERN_CASE_LEG_AHEAD(KIND, C) \
    case C: legacy_tile_at(KIND, C, KERN_WEIGHT_AHEAD, wg, b0, b1, nb, at, as, yt, ldy); break;
#define KERN_CASE_Q4K_AHEAD(Q5, C) \
    case C: q4k_tile_at(Q5, C, KERN_WEIGHT_AHEAD, wg, b0, b1, nb, at, as, yt, ldy); break;
#define KERN_CASE_K16_AHEAD(KIND, C) \
    case C: k16_tile_at(KIND, C, KERN_WEIGHT_AHEAD, wg, b0, b1, nb, at, as, yt, ldy); break;
#define KERN_CASE_F16_AHEAD(KIND, C) case C: f16_tile_at(C, KERN_WEIGHT_AHEAD, wg, b1, at, as, yt, ldy); break;
#define KERN_DEFINE_LONE_SET(getter) \
    KERN_DEFINE_PRODUCTS(getter, lone, 1, KERN_CASES_1, KERN_CASE_LEG_AHEAD, 1, KERN_CASES_1, KERN_CASE_Q4K_AHEAD, \
                         KERN_CASE_K16_AHEAD, 1, KERN_CASES_1, KERN_CASE_F16_AHEAD)

#endif
