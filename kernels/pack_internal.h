/* The packed weight layout (pack.c packs it), shared by the kernel sets
 * whose products read it (pack_avx512.c, pack_avx2.c): kernels-internal. */
#ifndef RHEMA_PACK_INTERNAL_H
#define RHEMA_PACK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/simd_internal.h"

/* Bytes of one block of a group of KERN_PACK_ROWS rows. */
#define KERN_PK_Q4_0 (4 * 64 + 32)
#define KERN_PK_Q8_0 (8 * 64 + 32)
#define KERN_PK_Q4_K (4 * 8 * 64 + 128 + 128 + 64)
/* One Q8_K activation block: f32 scale, 256 quants, sixteen int16 sums. */
#define KERN_Q8K_BYTES 292

/* Groups per super-group, and blocks per panel (about 18 KB of weights of
 * one group) for rows longer than one panel (see pack.c). */
#define KERN_PK_SUPER 4
#define KERN_PANEL_Q4_0 64
#define KERN_PANEL_Q8_0 32
#define KERN_PANEL_Q4_K 8

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

#endif
