/* Helpers shared by the files of the kernels module (not public API). */
#ifndef RHEMA_KERNELS_INTERNAL_H
#define RHEMA_KERNELS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Little-endian loads and stores that need no alignment. */
static inline uint16_t kern_rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t kern_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline void kern_wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* f32 to BF16, rounded to nearest even, NaN kept quiet (kern_f32_to_bf16);
 * inline so that a row of them vectorizes. */
static inline uint16_t kern_bf16_of(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

/* Ask for the line at p in a state ready for writing. A buffer written
 * after megabytes of weights have streamed past has left every cache; its
 * stores then miss one line at a time (measured: 2 KiB of quantized
 * activations took 5 us instead of 0.7), while these requests overlap.
 * Older x86 CPUs run prefetchw as a no-op. */
static inline void kern_prefetch_write(const void *p)
{
#if defined(__x86_64__)
    __asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
#else
    __builtin_prefetch(p, 1, 3);
#endif
}

/* Six-bit scale and min j (0..7) of a Q4_K/Q5_K block's 12 scale bytes. */
static inline void kern_k4_scale_min(const uint8_t *s, int j, int *sc, int *mn)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *mn = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0xf) | ((s[j - 4] >> 6) << 4);
        *mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* Q3_K scale j (0..15) of a block's 12 scale bytes, -32..31: low nibbles
 * in bytes 0..7 (scales 8..15 use the high nibbles), the top two bits in
 * bytes 8..11. */
static inline int kern_k3_scale(const uint8_t *s, int j)
{
    int lo = j < 8 ? (s[j] & 0xf) : (s[j - 8] >> 4);
    int hi = (s[8 + (j & 3)] >> (2 * (j >> 2))) & 3;
    return (lo | (hi << 4)) - 32;
}

/* Dequantize one block of a supported type into y (blck values). */
void kern_dequant_block(uint32_t type, const uint8_t *b, float *y);

/* Bytes per block (0 for an unknown type); *blck gets elements per block. */
size_t kern_block_bytes(uint32_t type, size_t *blck);

#endif
