/* Reference dequantization of every supported GGUF block type.
 * Block layouts follow the public GGUF/GGML format description; all
 * multi-byte fields are little-endian. */
#include "kernels/kernels.h"
#include "kernels/kernels_internal.h"

#include <stdio.h>
#include <string.h>

#include "gguf/gguf.h"

float kern_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else {
        /* subnormal half: normalize into an f32 exponent */
        int e = -1;
        do {
            mant <<= 1;
            e++;
        } while (!(mant & 0x400u));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t kern_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* inf or nan (nan keeps a quiet bit) */
        return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0));
    if (ax >= 0x477ff000u) /* rounds to beyond the largest half */
        return (uint16_t)(sign | 0x7c00u);
    if (ax < 0x38800000u) { /* below the smallest normal half */
        if (ax < 0x33000000u)
            return sign;
        uint32_t e = ax >> 23;
        uint32_t m = (ax & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t q = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1)))
            q++;
        return (uint16_t)(sign | q);
    }
    uint32_t q = ((ax >> 13) - (112u << 10)) & 0xffffu;
    uint32_t rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1)))
        q++; /* a carry into the exponent is the right rounding */
    return (uint16_t)(sign | q);
}

float kern_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t kern_f32_to_bf16(float f)
{
    return kern_bf16_of(f);
}

static void deq_q4_0(const uint8_t *b, float *y)
{
    float d = kern_f16_to_f32(kern_rd16(b));
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)((qs[j] & 0xf) - 8) * d;
        y[j + 16] = (float)((qs[j] >> 4) - 8) * d;
    }
}

static void deq_q4_1(const uint8_t *b, float *y)
{
    float d = kern_f16_to_f32(kern_rd16(b));
    float m = kern_f16_to_f32(kern_rd16(b + 2));
    const uint8_t *qs = b + 4;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)(qs[j] & 0xf) * d + m;
        y[j + 16] = (float)(qs[j] >> 4) * d + m;
    }
}

/* Q5_0/Q5_1: low nibbles as Q4, bit 4 of element j is bit j of qh. */
static void deq_q5(const uint8_t *qh4, const uint8_t *qs, float d, float m, int off, float *y)
{
    uint32_t qh = kern_rd32(qh4);
    for (int j = 0; j < 16; j++) {
        int h0 = (int)((qh >> j) & 1u) << 4;
        int h1 = (int)((qh >> (j + 16)) & 1u) << 4;
        y[j] = (float)(((qs[j] & 0xf) | h0) - off) * d + m;
        y[j + 16] = (float)(((qs[j] >> 4) | h1) - off) * d + m;
    }
}

/* Q8_0, or Q8_1 (qs_off 4: a sum follows d) */
static void deq_q8(const uint8_t *b, size_t qs_off, float *y)
{
    float d = kern_f16_to_f32(kern_rd16(b));
    const int8_t *qs = (const int8_t *)(b + qs_off);
    for (int j = 0; j < 32; j++)
        y[j] = (float)qs[j] * d;
}

static void deq_q2_k(const uint8_t *b, float *y)
{
    const uint8_t *scales = b, *q = b + 16;
    float d = kern_f16_to_f32(kern_rd16(b + 80));
    float dmin = kern_f16_to_f32(kern_rd16(b + 82));
    int is = 0;
    for (int n = 0; n < 256; n += 128) {
        for (int shift = 0; shift < 8; shift += 2) {
            for (int half = 0; half < 2; half++) {
                uint8_t sc = scales[is++];
                float dl = d * (float)(sc & 0xf), ml = dmin * (float)(sc >> 4);
                for (int l = 0; l < 16; l++)
                    *y++ = dl * (float)((q[l + 16 * half] >> shift) & 3) - ml;
            }
        }
        q += 32;
    }
}

static void deq_q3_k(const uint8_t *b, float *y)
{
    const uint8_t *hm = b, *q = b + 32, *sc = b + 96;
    float d = kern_f16_to_f32(kern_rd16(b + 108));
    int is = 0;
    uint8_t m = 1;
    for (int n = 0; n < 256; n += 128) {
        for (int shift = 0; shift < 8; shift += 2) {
            for (int half = 0; half < 2; half++) {
                float dl = d * (float)kern_k3_scale(sc, is++);
                for (int l = 16 * half; l < 16 * half + 16; l++) {
                    int v = ((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4);
                    *y++ = dl * (float)v;
                }
            }
            m = (uint8_t)(m << 1);
        }
        q += 32;
    }
}

/* Q4_K and Q5_K share scales; qh is NULL for Q4_K. */
static void deq_q45_k(const uint8_t *b, const uint8_t *qh, const uint8_t *ql, float *y)
{
    float d = kern_f16_to_f32(kern_rd16(b));
    float dmin = kern_f16_to_f32(kern_rd16(b + 2));
    const uint8_t *scales = b + 4;
    int is = 0;
    for (int j = 0; j < 256; j += 64) {
        int sc, mn;
        kern_k4_scale_min(scales, is, &sc, &mn);
        float d1 = d * (float)sc, m1 = dmin * (float)mn;
        kern_k4_scale_min(scales, is + 1, &sc, &mn);
        float d2 = d * (float)sc, m2 = dmin * (float)mn;
        for (int l = 0; l < 32; l++) {
            int h = qh ? ((qh[l] >> is) & 1) << 4 : 0;
            y[l] = d1 * (float)((ql[l] & 0xf) | h) - m1;
        }
        for (int l = 0; l < 32; l++) {
            int h = qh ? ((qh[l] >> (is + 1)) & 1) << 4 : 0;
            y[l + 32] = d2 * (float)((ql[l] >> 4) | h) - m2;
        }
        y += 64;
        ql += 32;
        is += 2;
    }
}

static void deq_q6_k(const uint8_t *b, float *y)
{
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    float d = kern_f16_to_f32(kern_rd16(b + 208));
    for (int n = 0; n < 256; n += 128) {
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int q1 = ((ql[l] & 0xf) | (((qh[l] >> 0) & 3) << 4)) - 32;
            int q2 = ((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32;
            int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * (float)sc[is] * (float)q1;
            y[l + 32] = d * (float)sc[is + 2] * (float)q2;
            y[l + 64] = d * (float)sc[is + 4] * (float)q3;
            y[l + 96] = d * (float)sc[is + 6] * (float)q4;
        }
        y += 128;
        ql += 64;
        qh += 32;
        sc += 8;
    }
}

static void deq_q8_k(const uint8_t *b, float *y)
{
    float d;
    memcpy(&d, b, 4);
    const int8_t *qs = (const int8_t *)(b + 4);
    for (int j = 0; j < 256; j++)
        y[j] = d * (float)qs[j];
}

void kern_dequant_block(uint32_t type, const uint8_t *b, float *y)
{
    switch (type) {
    case GGUF_T_F32: memcpy(y, b, 4); break;
    case GGUF_T_F16: y[0] = kern_f16_to_f32(kern_rd16(b)); break;
    case GGUF_T_BF16: y[0] = kern_bf16_to_f32(kern_rd16(b)); break;
    case GGUF_T_Q4_0: deq_q4_0(b, y); break;
    case GGUF_T_Q4_1: deq_q4_1(b, y); break;
    case GGUF_T_Q5_0:
        deq_q5(b + 2, b + 6, kern_f16_to_f32(kern_rd16(b)), 0.0f, 16, y);
        break;
    case GGUF_T_Q5_1:
        deq_q5(b + 4, b + 8, kern_f16_to_f32(kern_rd16(b)), kern_f16_to_f32(kern_rd16(b + 2)), 0, y);
        break;
    case GGUF_T_Q8_0: deq_q8(b, 2, y); break;
    case GGUF_T_Q8_1: deq_q8(b, 4, y); break;
    case GGUF_T_Q2_K: deq_q2_k(b, y); break;
    case GGUF_T_Q3_K: deq_q3_k(b, y); break;
    case GGUF_T_Q4_K: deq_q45_k(b, NULL, b + 16, y); break;
    case GGUF_T_Q5_K: deq_q45_k(b, b + 16, b + 48, y); break;
    case GGUF_T_Q6_K: deq_q6_k(b, y); break;
    case GGUF_T_Q8_K: deq_q8_k(b, y); break;
    default: break;
    }
}

bool kern_supported(uint32_t type)
{
    switch (type) {
    case GGUF_T_F32: case GGUF_T_F16: case GGUF_T_BF16:
    case GGUF_T_Q4_0: case GGUF_T_Q4_1: case GGUF_T_Q5_0: case GGUF_T_Q5_1:
    case GGUF_T_Q8_0: case GGUF_T_Q8_1:
    case GGUF_T_Q2_K: case GGUF_T_Q3_K: case GGUF_T_Q4_K: case GGUF_T_Q5_K:
    case GGUF_T_Q6_K: case GGUF_T_Q8_K:
        return true;
    default:
        return false;
    }
}

int kern_check(uint32_t type, uint64_t n, char *err, size_t errlen)
{
    const gguf_type_traits *t = gguf_type_info(type);
    if (!kern_supported(type) || !t) {
        if (err && errlen)
            snprintf(err, errlen, "tensor type %s (%u) is not supported", t ? t->name : "unknown", type);
        return KERN_ETYPE;
    }
    if (n % t->blck) {
        if (err && errlen)
            snprintf(err, errlen, "a row of %llu elements is not a whole number of %s blocks of %u",
                     (unsigned long long)n, t->name, t->blck);
        return KERN_ESIZE;
    }
    return KERN_OK;
}

size_t kern_block_bytes(uint32_t type, size_t *blck)
{
    const gguf_type_traits *t = gguf_type_info(type);
    *blck = t ? t->blck : 1;
    return t ? t->size : 0;
}

void kern_dequant_row(uint32_t type, const void *row, float *dst, size_t n)
{
    size_t blck;
    size_t bytes = kern_block_bytes(type, &blck);
    const uint8_t *b = row;
    for (size_t i = 0; i + blck <= n; i += blck, b += bytes)
        kern_dequant_block(type, b, dst + i);
}
