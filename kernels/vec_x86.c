/* Element-wise vector work between the products on x86-64 (AVX2, FMA,
 * F16C): SiLU times up, and F32 rows to F16 for the KV cache. Built once
 * with the AVX2 flags and shared by both x86 tables, as the code is
 * 256-bit either way. */
#include "kernels/simd_internal.h"

#include <immintrin.h>

#include "kernels/kernels.h"
#include "kernels/kernels_internal.h"

#define AI static inline __attribute__((always_inline))

/* e^x for x <= 0 within a few ulp: x = n ln2 + r with |r| <= ln2 / 2, e^r
 * from its Taylor series to the 7th power, 2^n built in the exponent bits;
 * below -87 (where 2^n would leave the normal range) the result is 0. */
AI __m256 exp_neg8(__m256 x)
{
    const __m256 lo = _mm256_set1_ps(-87.0f);
    __m256 keep = _mm256_cmp_ps(x, lo, _CMP_GE_OQ);
    x = _mm256_max_ps(x, lo);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f),
                                _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x));
    static const float c[] = {1.0f / 5040, 1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f};
    __m256 p = _mm256_set1_ps(c[0]);
    for (int i = 1; i < 8; i++)
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c[i]));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(keep, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

/* silu(x) = x * sigmoid(x), with e = e^-|x| never overflowing: sigmoid is
 * 1 / (1 + e) for x >= 0 and e / (1 + e) below. The tail goes masked. */
void kern_silu_mul_avx2(const float *gate, const float *up, float *out, size_t n)
{
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    for (size_t i = 0; i < n; i += 8) {
        __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - i < 8 ? n - i : 8)),
                                       _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        __m256 x = _mm256_maskload_ps(gate + i, m);
        __m256 e = exp_neg8(_mm256_or_ps(x, sign));
        __m256 s = _mm256_div_ps(_mm256_blendv_ps(one, e, x), _mm256_add_ps(one, e));
        _mm256_maskstore_ps(out + i, m, _mm256_mul_ps(_mm256_mul_ps(x, s), _mm256_maskload_ps(up + i, m)));
    }
}

/* Round to nearest even, as kern_f32_to_f16; the cache row written is
 * cold, so its lines are asked for first. */
void kern_f32_to_f16_avx2(const float *x, uint16_t *y, size_t n)
{
    for (size_t i = 0; i < n * 2; i += 64)
        kern_prefetch_write((const uint8_t *)y + i);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++)
        y[i] = kern_f32_to_f16(x[i]);
}
