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
        __mmask32 m = n - i >= 32 ? 0xffffffffu : (1u << (n - i)) - 1;
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

/* The AMX set's (Intel server cores): a lone token asks for the weights
 * KERN_WEIGHT_AHEAD bytes ahead. */
void kern_gemm_bf16_amx(const uint8_t *w, size_t ws, size_t nr, const uint8_t *a, size_t as, size_t nc,
                        size_t n, float *y, size_t ldy)
{
    gemm_bf16(KERN_WEIGHT_AHEAD, w, ws, nr, a, as, nc, n, y, ldy);
}
