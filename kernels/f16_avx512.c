/* The AVX-512 set's F16 products of several tokens (from
 * KERN_F16_MIN_TOKENS). The set's tiles (pack_avx512.c's f16_tile)
 * convert each element's sixteen weights again for every tile of four
 * tokens: two of every six vector operations. Here a panel of a group's
 * weights is converted to f32 once for F16_TOKENS tokens, and each tile
 * multiplies from it; a token's four chains of sums wait in memory
 * between panels (stored and loaded exactly), so the sums are f16_tile's,
 * bit for bit.
 * On an Emerald Rapids Xeon (the amx set) llama-1b f16's 512-token
 * prompts ran 1.39 times as fast. */
#include "kernels/simd_internal.h"

#include <immintrin.h>

#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "kernels/kernels_internal.h"
#include "kernels/pack_internal.h"

#define AI static inline __attribute__((always_inline))
#define F16_PANEL 256     /* elements: 16 KiB of f32 */
#define F16_TOKENS 64     /* tokens whose chains wait: 16 KiB */
#define CM_F16 4          /* tokens a tile; a token's sums do not depend on it */

/* Elements e0..e1 of C tokens' rows at a (stride as) against the
 * converted weights wf (element e0 first), into their chains ch (zero
 * first when e0 is 0); the last panel (e1 == n) adds the chains up into y
 * as f16_tile does. */
AI void f16_panel(const int C, const float *wf, size_t e0, size_t e1, size_t n, const uint8_t *a, size_t as,
                  float (*ch)[4][16], float *y, size_t ldy)
{
    __m512 acc[CM_F16][4];
#pragma GCC unroll 4
    for (int c = 0; c < C; c++)
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++)
            acc[c][k] = e0 ? _mm512_load_ps(ch[c][k]) : _mm512_setzero_ps();
    for (size_t e = e0; e < e1; e += 4, wf += 4 * 16)
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            __m512 wv = _mm512_load_ps(wf + 16 * k);
#pragma GCC unroll 4
            for (int c = 0; c < C; c++)
                acc[c][k] = _mm512_fmadd_ps(wv, _mm512_set1_ps(((const float *)(a + c * as))[e + k]), acc[c][k]);
        }
#pragma GCC unroll 4
    for (int c = 0; c < C; c++) {
        if (e1 == n) {
            _mm512_storeu_ps(y + c * ldy, _mm512_add_ps(_mm512_add_ps(acc[c][0], acc[c][1]),
                                                        _mm512_add_ps(acc[c][2], acc[c][3])));
            continue;
        }
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++)
            _mm512_store_ps(ch[c][k], acc[c][k]);
    }
}

#define CASE_F16_PANEL(C) \
    case C: f16_panel(C, wf, e0, e1, n, a + c * as, as, ch + (c - c0), y + c * ldy + g * KERN_PACK_ROWS, ldy); break;

void kern_f16_panels_avx512(const uint8_t *w, size_t ws, size_t nr, const uint8_t *a, size_t as, size_t nc,
                            size_t n, float *y, size_t ldy)
{
    (void)ws;
    const size_t nb = n / KERN_PK_F16_BLCK, ng = nr / KERN_PACK_ROWS;
    _Alignas(64) float wf[F16_PANEL * 16];
    _Alignas(64) float ch[F16_TOKENS][4][16];
    for (size_t g = 0; g < ng; g++) {
        const uint8_t *wg = w + kern_pack16_at(g, 0, ng, nb, KERN_PK_F16, KERN_PANEL_F16);
        for (size_t c0 = 0; c0 < nc; c0 += F16_TOKENS) {
            const size_t c1 = nc - c0 < F16_TOKENS ? nc : c0 + F16_TOKENS;
            for (size_t e0 = 0; e0 < n; e0 += F16_PANEL) {
                const size_t e1 = n - e0 < F16_PANEL ? n : e0 + F16_PANEL;
                for (size_t e = e0; e < e1; e++)
                    _mm512_store_ps(wf + 16 * (e - e0),
                                    _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(wg + 32 * e))));
                for (size_t c = c0; c < c1; c += CM_F16)
                    switch (c1 - c < CM_F16 ? c1 - c : CM_F16) {
                        CASE_F16_PANEL(1)
                        CASE_F16_PANEL(2)
                        CASE_F16_PANEL(3)
                        CASE_F16_PANEL(4)
                    default: break;
                    }
            }
        }
    }
}
