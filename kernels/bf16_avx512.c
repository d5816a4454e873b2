/* AVX-512 BF16 products: BF16 weights against activations rounded to BF16
 * (the reference's vec-dot format for them), pairs of exact products added
 * in f32 by vdpbf16ps, 32 elements an instruction. Like the instruction,
 * and the reference engine's own path on such CPUs, subnormal BF16 values
 * count as zero. */
#include "kernels/simd_internal.h"

#include <immintrin.h>

#define AI static inline __attribute__((always_inline))
#define RM 4
#define CM 4

/* R weight rows by C tokens; every element of y is one accumulator's
 * 32-element steps in order and then its lanes' sum, whatever R and C. A
 * lone row asks for the weights `ahead` bytes on (0: not), across rows:
 * they come from the model file's 4 KiB pages, where the hardware's
 * prefetchers stop at every page. */
AI void bf16_tile(const int R, const int C, const size_t ahead, const uint8_t *w, size_t ws, const uint8_t *a,
                  size_t as, size_t n, float *y, size_t ldy)
{
    __m512 acc[RM][CM];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            acc[r][c] = _mm512_setzero_ps();
    for (size_t i = 0; i < n; i += 32) {
        /* every load masked, the last step's to the row's end. Written as
         * a test, GCC 12 -O3 split the loop into unmasked loads and a
         * masked last step, and a lone token's product read 0.88-0.95
         * times as fast (Zen 5, 2048 x 16384 in copies filling 480 MB,
         * builds in turn; llama-1b bf16 decoding 0.80-0.83 -> 0.88-0.93 of
         * the limit, 512-token prompts alike) */
        const __mmask32 m = (__mmask32)(0xffffffffu >> (32 - (n - i < 32 ? n - i : 32)));
        __m512bh wv[RM];
        if (R == 1 && ahead)
            _mm_prefetch((const char *)w + 2 * i + ahead, _MM_HINT_T1);
        for (int r = 0; r < R; r++)
            wv[r] = (__m512bh)_mm512_maskz_loadu_epi16(m, w + r * ws + 2 * i);
        for (int c = 0; c < C; c++) {
            __m512bh av = (__m512bh)_mm512_maskz_loadu_epi16(m, a + c * as + 2 * i);
            for (int r = 0; r < R; r++)
                acc[r][c] = _mm512_dpbf16_ps(acc[r][c], wv[r], av);
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            y[c * ldy + r] = _mm512_reduce_add_ps(acc[r][c]);
}

#define TILE(R, C) \
    case R * 8 + C: bf16_tile(R, C, ahead, w + r * ws, ws, a + c * as, as, n, y + c * ldy + r, ldy); break;
#define COLS(R) TILE(R, 1) TILE(R, 2) TILE(R, 3) TILE(R, 4)

AI void gemm_bf16(const size_t ahead, const uint8_t *w, size_t ws, size_t nr, const uint8_t *a, size_t as,
                  size_t nc, size_t n, float *y, size_t ldy)
{
    /* a single token reads one row at a time: one stream is faster */
    const size_t rm = nc == 1 ? 1 : RM;
    for (size_t r = 0; r < nr; r += rm) {
        size_t rr = nr - r < rm ? nr - r : rm;
        for (size_t c = 0; c < nc; c += CM) {
            size_t cc = nc - c < CM ? nc - c : CM;
            switch (rr * 8 + cc) { COLS(1) COLS(2) COLS(3) COLS(4) default: break; }
        }
    }
}

void kern_gemm_bf16_avx512(const uint8_t *w, size_t ws, size_t nr, const uint8_t *a, size_t as, size_t nc,
                           size_t n, float *y, size_t ldy)
{
    gemm_bf16(0, w, ws, nr, a, as, nc, n, y, ldy);
}

void kern_gemm_bf16_avx512_ahead(const uint8_t *w, size_t ws, size_t nr, const uint8_t *a, size_t as, size_t nc,
                                 size_t n, float *y, size_t ldy)
{
    gemm_bf16(KERN_WEIGHT_AHEAD, w, ws, nr, a, as, nc, n, y, ldy);
}

/* ---- AMX (Intel Sapphire Rapids and later): tiles of 16 tokens by 16
 * rows, the tokens' BF16 activations the left matrix as they lie (16 x 32
 * values a step), the weights the right one: a step's 16 rows x 32 values
 * (16 pairs) transposed into 16 rows of pairs, once per panel of AMX_PANEL
 * values and then read by every tile of tokens. An element of y is one
 * chain of pair products added in order along the row, as the tile
 * multiply adds them (subnormal values count as zero, as in vdpbf16ps):
 * not the AVX-512 product's lane order, so a token's bits depend on
 * whether it falls in a tile of 16 or among the tokens left over, which
 * the AVX-512 product takes. */

#define AMX_PANEL 1024

/* The 16 x 16 four-byte words at src (rows `stride` bytes apart),
 * transposed into dst: word k of row r goes to dst[16 k + r]. */
AI void transpose16(const uint8_t *src, size_t stride, uint32_t *dst)
{
    __m512i r[16], t[16];
    for (int i = 0; i < 16; i++)
        r[i] = _mm512_loadu_si512(src + i * stride);
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        r[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        r[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        r[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        r[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) {
            t[8 * i + j] = _mm512_shuffle_i32x4(r[8 * i + j], r[8 * i + j + 4], 0x88);
            t[8 * i + j + 4] = _mm512_shuffle_i32x4(r[8 * i + j], r[8 * i + j + 4], 0xdd);
        }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0x88);
        r[j + 8] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0xdd);
    }
    for (int i = 0; i < 16; i++)
        _mm512_store_si512(dst + 16 * i, r[i]);
}

/* Rows 0..nr (a multiple of 16) by tokens 0..nc (a multiple of 16) on the
 * tiles; n a multiple of 32. A panel's partial sums wait in y. */
static void amx_bf16(const uint8_t *w, size_t ws, size_t nr, const uint8_t *a, size_t as, size_t nc, size_t n,
                     float *y, size_t ldy)
{
    kern_amx_config cfg = {.palette = 1};
    for (int t = 0; t < 3; t++) {
        cfg.rows[t] = 16;
        cfg.colsb[t] = 64;
    }
    _tile_loadconfig(&cfg);
    _Alignas(64) uint32_t panel[AMX_PANEL / 32 * 256];
    for (size_t r = 0; r < nr; r += 16)
        for (size_t k0 = 0; k0 < n; k0 += AMX_PANEL) {
            const size_t steps = (n - k0 < AMX_PANEL ? n - k0 : AMX_PANEL) / 32;
            for (size_t s = 0; s < steps; s++)
                transpose16(w + r * ws + 2 * (k0 + 32 * s), ws, panel + 256 * s);
            for (size_t c = 0; c < nc; c += 16) {
                float *yt = y + c * ldy + r;
                if (k0)
                    _tile_loadd(2, yt, ldy * sizeof(float));
                else
                    _tile_zero(2);
                for (size_t s = 0; s < steps; s++) {
                    _tile_loadd(0, a + c * as + 2 * (k0 + 32 * s), as);
                    _tile_loadd(1, panel + 256 * s, 64);
                    _tile_dpbf16ps(2, 0, 1);
                }
                _tile_stored(2, yt, ldy * sizeof(float));
            }
        }
    _tile_release();
}

/* The AMX set's (Intel server cores): tiles of 16 tokens by 16 rows, the
 * rest through the AVX-512 product; a lone token asks for the weights
 * KERN_WEIGHT_AHEAD bytes ahead. The kernel must hold the process's
 * permission for the tile data (kern_cpu_has). */
void kern_gemm_bf16_amx(const uint8_t *w, size_t ws, size_t nr, const uint8_t *a, size_t as, size_t nc,
                        size_t n, float *y, size_t ldy)
{
    const size_t tr = n % 32 ? 0 : nr / 16 * 16;
    const size_t tc = tr ? nc / 16 * 16 : 0;
    if (tc)
        amx_bf16(w, ws, tr, a, as, tc, n, y, ldy);
    if (tc < nc)
        kern_gemm_bf16_avx512_ahead(w, ws, tr, a + tc * as, as, nc - tc, n, y + tc * ldy, ldy);
    if (tr < nr)
        kern_gemm_bf16_avx512_ahead(w + tr * ws, ws, nr - tr, a, as, nc, n, y + tr, ldy);
}
