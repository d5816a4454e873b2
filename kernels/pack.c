/* Weights packed sixteen rows at a time, for the kernel sets whose
 * products read them (pack_avx512.c, pack_avx2.c, pack_neon.c): one
 * vector holds four bytes of each of sixteen rows (the AVX2 set reads it
 * as two halves of eight, the NEON set as four quarters of four), so one
 * dot instruction with a group of four activation bytes advances all of
 * them. Packing once at load moves the transposition (and, for Q4_K, Q5_K
 * and Q3_K, the six-bit scale unpacking) out of every product. Every
 * quantized type the engine reads is packed, and F16.
 *
 * Layout of one group of 16 rows, block after block (each block's part is
 * KERN_PK_* long, so a group is nb of them):
 *   F16   per 32 elements: [32][16] (element e of row i at [e][i])
 *   Q4_0  codes[4][16][4] (row i's quant bytes 4k..4k+3 at [k][i]), f16 d[16]
 *   Q8_0  codes[8][16][4] (quants + 128, unsigned), f16 d[16]
 *   Q5_0  Q4_0's codes[4][16][4], qh[16][4], f16 d[16]: row i's fifth bits
 *         of quants 4k + e (k = 0..3) in bits 0..3 of qh[i][e], of quants
 *         16 + 4k + e in bits 4..7 (so bit k, or 4 + k, of the byte
 *         beside code byte e of [k])
 *   Q4_1  Q4_0's layout, then f16 m[16]
 *   Q5_1  Q5_0's layout, then f16 m[16]
 *   Q4_K  per super-block: the six-bit scales and mins as stored,
 *         sm[3][16][4] (bytes 4k..4k+3 of row i's twelve at [k][i]), then
 *         codes[4][8][16][4] (pair p of sub-blocks, bytes 32p+4k.. of row
 *         i: low nibbles sub-block 2p, high 2p+1), f16 d[16], f16 dmin[16]
 *   Q5_K  per super-block: qh[8][16][4] (high-bit bytes 4k..4k+3 of each
 *         row: bit j for sub-block j), then Q4_K's layout
 *   Q6_K  per super-block, for half n and p = 0, 1 in turn: [3][4][16][4]:
 *         the low-bit bytes of quants 16p + 4k.. of the half's first 32
 *         (their high nibbles: of the third 32), the high-bit bytes of
 *         them all, the low-bit bytes of the second 32 (and fourth);
 *         then int8 sc[16][16], f16 d[16]. The kernels read a block front
 *         to back (an order that jumped between the low- and high-bit
 *         bytes decoded at a third of the speed).
 *   Q3_K  per super-block, for p = 0, 1 in turn: [4][16][4] high-bit
 *         (hmask) bytes 16p + 4k.., [4][16][4] low-bit bytes 16p + 4k.. of
 *         the first half; then those of the second half for p = 0, 1;
 *         then int8 sc[16][16] (the six-bit scales less 32), f16 d[16].
 *         Quant 128n + 32t + 16p + 4k + e of a row is bits 2t, 2t + 1 of
 *         its low-bit byte of half n and byte e of [k], and bit 4n + t of
 *         its high-bit byte, as stored.
 *   Q2_K  per super-block, for half n and p = 0, 1 in turn: [4][16][4]
 *         code bytes 16p + 4k.. of the half (quant 128n + 32t + 16p + 4k
 *         + e is bits 2t, 2t + 1 of byte e of [k]); then sm[8][16][2]
 *         (row i's scale-and-min bytes of sub-blocks 2m, 2m + 1 at [m][i]),
 *         f16 d[16], f16 dmin[16].
 * The byte counts equal the stored blocks' except Q3_K's (1824 against
 * 1760 bytes for 16 rows of a super-block): its scales unpacked. Q4_K's
 * scales and mins stay as stored, unpacked by the kernels a super-block
 * at a time: unpacked here, they were 2.8% more bytes for a token to read.
 *
 * Long rows: a lone token reads its activations a block at a time in step
 * with the weights, and when one group's weights outgrow the first-level
 * cache (5632 inputs: 50 KB of Q4_0) they push the activations out of it
 * before the next group reads them again. So groups go KERN_PK_SUPER at a
 * time, and within such a super-group the rows are cut into panels of
 * about 18 KB of weights per group (KERN_PANEL_* blocks): panel 0 of each
 * of its groups, then panel 1 of each, and so on. One thread still reads
 * one straight stream (a super-group is contiguous), and a panel of
 * activations serves KERN_PK_SUPER groups while it is in the first level.
 * Rows of one panel keep the plain layout, group after group. (Panels of
 * the whole matrix, read panel by panel, were slower: each thread's stream
 * then jumped between panels.) Measured with the AVX-512 set over ~55
 * alternating benchmark runs of each build: Q4_0 decoding 0.942 -> 0.979
 * of the limit when bandwidth was low, 0.784 -> 0.848 when high; Q4_K
 * 0.857 -> 0.871 (low); Q8_0 unchanged (0.920 -> 0.907, then 0.873 ->
 * 0.871; 64-block panels: 0.834). The accumulators are kept in y between
 * panels, so every output is summed block after block as before. */
#include "kernels/pack_internal.h"

#include <string.h>

#include "gguf/gguf.h"
#include "kernels/kernels_internal.h"

/* The packed types: elements per block, bytes of a block of 16 rows,
 * blocks per panel. */
typedef struct pack_kind {
    uint32_t type;
    size_t blck, bytes, panel;
} pack_kind;

static const pack_kind *kind_of(uint32_t type)
{
    static const pack_kind kinds[] = {
        {GGUF_T_Q4_0, 32, KERN_PK_Q4_0, KERN_PANEL_Q4_0}, {GGUF_T_Q8_0, 32, KERN_PK_Q8_0, KERN_PANEL_Q8_0},
        {GGUF_T_Q5_0, 32, KERN_PK_Q5_0, KERN_PANEL_Q5_0}, {GGUF_T_Q4_1, 32, KERN_PK_Q4_1, KERN_PANEL_Q4_1},
        {GGUF_T_Q5_1, 32, KERN_PK_Q5_1, KERN_PANEL_Q5_1},
        {GGUF_T_Q4_K, 256, KERN_PK_Q4_K, KERN_PANEL_Q4_K}, {GGUF_T_Q5_K, 256, KERN_PK_Q5_K, KERN_PANEL_Q5_K},
        {GGUF_T_Q6_K, 256, KERN_PK_Q6_K, KERN_PANEL_Q6_K}, {GGUF_T_Q3_K, 256, KERN_PK_Q3_K, KERN_PANEL_Q3_K},
        {GGUF_T_Q2_K, 256, KERN_PK_Q2_K, KERN_PANEL_Q2_K},
        {GGUF_T_F16, KERN_PK_F16_BLCK, KERN_PK_F16, KERN_PANEL_F16},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (kinds[i].type == type)
            return &kinds[i];
    return NULL;
}

size_t kern_pack16_size(uint32_t type, size_t n_in, size_t n_out)
{
    const pack_kind *k = kind_of(type);
    if (!k || n_out % KERN_PACK_ROWS || n_in % k->blck)
        return 0;
    return n_out / KERN_PACK_ROWS * (n_in / k->blck) * k->bytes;
}

size_t kern_pack16_grain(uint32_t type, size_t n_in)
{
    const pack_kind *k = kind_of(type);
    if (!k)
        return KERN_PACK_ROWS;
    return n_in / k->blck > k->panel ? KERN_PK_SUPER * KERN_PACK_ROWS : KERN_PACK_ROWS;
}

size_t kern_pack16_at(size_t g, size_t b, size_t ng, size_t nb, size_t bb, size_t pb)
{
    size_t sg = g / KERN_PK_SUPER * KERN_PK_SUPER, s_eff = ng - sg < KERN_PK_SUPER ? ng - sg : KERN_PK_SUPER;
    size_t b0 = b / pb * pb, len = nb - b0 < pb ? nb - b0 : pb;
    return (sg * nb + s_eff * b0 + (g - sg) * len + (b - b0)) * bb;
}

/* Row i's four bytes at byte `off` of its block into their place in a
 * vector's worth (64 bytes, four bytes of each of the 16 rows) at dst.
 * Every packer goes row by row, reading each row's block once: 2-3 times
 * as fast as gathering four bytes of sixteen rows at a time. */
static void put4(const uint8_t *blk, size_t off, int i, uint8_t *dst)
{
    memcpy(dst + 4 * i, blk + off, 4);
}

/* Bits 0, 4, 8 and 12 of x as bits 0..3: the product moves each to bits
 * 12..15 without carries (the shifted copies never share a bit). */
static uint8_t nibble_bits(uint32_t x)
{
    return (uint8_t)(((x & 0x1111u) * 0x1248u) >> 12 & 0xf);
}

/* Block b (of bs bytes) of the 16 rows at w (ws bytes apart) into dst:
 * stored as d (f16), m (f16, Q4_1 and Q5_1), qh (32 bits, Q5_0 and Q5_1),
 * then the quants. */
static void pack_legacy(uint32_t type, const uint8_t *w, size_t ws, size_t b, size_t bs, uint8_t *dst)
{
    const int q8 = type == GGUF_T_Q8_0, q5 = type == GGUF_T_Q5_0 || type == GGUF_T_Q5_1;
    const int q1 = type == GGUF_T_Q4_1 || type == GGUF_T_Q5_1;
    const size_t ncode = q8 ? 8 : q5 ? 5 : 4, qh_at = q1 ? 4 : 2, qs_at = qh_at + (q5 ? 4 : 0);
    for (int i = 0; i < KERN_PACK_ROWS; i++) {
        const uint8_t *blk = w + i * ws + b * bs;
        for (size_t k = 0; k < (q8 ? 8 : 4); k++) {
            uint32_t v;
            memcpy(&v, blk + qs_at + 4 * k, 4);
            v ^= q8 ? 0x80808080u : 0; /* every byte + 128 */
            memcpy(dst + 64 * k + 4 * i, &v, 4);
        }
        const uint32_t qh = q5 ? kern_rd32(blk + qh_at) : 0;
        for (int e = 0; q5 && e < 4; e++)
            dst[KERN_PK_Q5_QH + 4 * i + e] = (uint8_t)(nibble_bits(qh >> e) | nibble_bits(qh >> (16 + e)) << 4);
        memcpy(dst + 64 * ncode + 2 * i, blk, 2);
        if (q1)
            memcpy(dst + 64 * ncode + 32 + 2 * i, blk + 2, 2);
    }
}

/* Q4_K (quants at 16) or Q5_K (its high bits at 16, quants at 48); d,
 * dmin and the six-bit scales as Q4_K's. */
static void pack_q45_k(uint32_t type, const uint8_t *w, size_t ws, size_t b, size_t bs, uint8_t *dst)
{
    const int q5 = type == GGUF_T_Q5_K;
    const size_t qs = q5 ? 48 : 16;
    uint8_t *q4 = dst + (q5 ? KERN_PK_Q5K_QH : 0);
    uint8_t *sm = q4 + KERN_PK_Q4K_SC, *d = q4 + KERN_PK_Q4K_D;
    for (int i = 0; i < KERN_PACK_ROWS; i++) {
        const uint8_t *blk = w + i * ws + b * bs;
        for (size_t k = 0; q5 && k < 8; k++)
            put4(blk, 16 + 4 * k, i, dst + 64 * k);
        for (size_t p = 0; p < 4; p++)
            for (size_t k = 0; k < 8; k++)
                put4(blk, qs + 32 * p + 4 * k, i, q4 + KERN_PK_Q4K_QS + 512 * p + 64 * k);
        for (int k = 0; k < 3; k++)
            memcpy(sm + 64 * k + 4 * i, blk + 4 + 4 * k, 4);
        memcpy(d + 2 * i, blk, 2);
        memcpy(d + 32 + 2 * i, blk + 2, 2);
    }
}

static void pack_q6_k(const uint8_t *w, size_t ws, size_t b, size_t bs, uint8_t *dst)
{
    for (int i = 0; i < KERN_PACK_ROWS; i++) {
        const uint8_t *blk = w + i * ws + b * bs;
        for (int n = 0; n < 2; n++)
            for (int p = 0; p < 2; p++)
                for (int k = 0; k < 4; k++) {
                    const size_t l = 4 * (4 * (size_t)p + (size_t)k); /* byte of the half's 32 */
                    put4(blk, 64 * (size_t)n + l, i, dst + KERN_PK_Q6K_LO(n, p, k));
                    put4(blk, 128 + 32 * (size_t)n + l, i, dst + KERN_PK_Q6K_QH(n, p, k));
                    put4(blk, 64 * (size_t)n + 32 + l, i, dst + KERN_PK_Q6K_HI(n, p, k));
                }
        for (int j = 0; j < 16; j++)
            dst[KERN_PK_Q6K_SC + 16 * j + i] = blk[192 + j];
        memcpy(dst + KERN_PK_Q6K_D + 2 * i, blk + 208, 2);
    }
}

static void pack_q3_k(const uint8_t *w, size_t ws, size_t b, size_t bs, uint8_t *dst)
{
    for (int i = 0; i < KERN_PACK_ROWS; i++) {
        const uint8_t *blk = w + i * ws + b * bs;
        for (size_t p = 0; p < 2; p++)
            for (size_t k = 0; k < 4; k++) {
                const size_t l = 16 * p + 4 * k;
                put4(blk, l, i, dst + KERN_PK_Q3K_H(p, k));
                for (size_t n = 0; n < 2; n++)
                    put4(blk, 32 + 32 * n + l, i, dst + KERN_PK_Q3K_L(n, p, k));
            }
        for (int j = 0; j < 16; j++)
            dst[KERN_PK_Q3K_SC + 16 * j + i] = (uint8_t)(int8_t)kern_k3_scale(blk + 96, j);
        memcpy(dst + KERN_PK_Q3K_D + 2 * i, blk + 108, 2);
    }
}

static void pack_q2_k(const uint8_t *w, size_t ws, size_t b, size_t bs, uint8_t *dst)
{
    for (int i = 0; i < KERN_PACK_ROWS; i++) {
        const uint8_t *blk = w + i * ws + b * bs;
        for (size_t n = 0; n < 2; n++)
            for (size_t p = 0; p < 2; p++)
                for (size_t k = 0; k < 4; k++)
                    put4(blk, 16 + 32 * n + 16 * p + 4 * k, i, dst + KERN_PK_Q2K_L(n, p, k));
        for (int j = 0; j < 16; j++)
            dst[KERN_PK_Q2K_SM + 32 * (j / 2) + 2 * i + j % 2] = blk[j];
        memcpy(dst + KERN_PK_Q2K_D + 2 * i, blk + 80, 2);
        memcpy(dst + KERN_PK_Q2K_DMIN + 2 * i, blk + 82, 2);
    }
}

/* F16 block b: element e of row i at [e][i], row by row (each row's 64
 * bytes read at once: twice as fast as element by element). */
static void pack_f16(const uint8_t *w, size_t ws, size_t b, uint8_t *dst)
{
    for (int i = 0; i < KERN_PACK_ROWS; i++) {
        uint16_t h[KERN_PK_F16_BLCK];
        memcpy(h, w + i * ws + 2 * KERN_PK_F16_BLCK * b, sizeof h);
        for (size_t e = 0; e < KERN_PK_F16_BLCK; e++)
            memcpy(dst + 32 * e + 2 * i, &h[e], 2);
    }
}

void kern_pack16(uint32_t type, const uint8_t *w, size_t n_in, size_t n_out, uint8_t *dst)
{
    const pack_kind *k = kind_of(type);
    size_t nb = n_in / k->blck, bs = (size_t)gguf_row_size(type, k->blck), ws = (size_t)gguf_row_size(type, n_in);
    size_t ng = n_out / KERN_PACK_ROWS;
    for (size_t g = 0; g < ng; g++)
        for (size_t b = 0; b < nb; b++) {
            const uint8_t *rows = w + g * KERN_PACK_ROWS * ws;
            uint8_t *out = dst + kern_pack16_at(g, b, ng, nb, k->bytes, k->panel);
            if (type == GGUF_T_Q4_K || type == GGUF_T_Q5_K)
                pack_q45_k(type, rows, ws, b, bs, out);
            else if (type == GGUF_T_Q6_K)
                pack_q6_k(rows, ws, b, bs, out);
            else if (type == GGUF_T_Q3_K)
                pack_q3_k(rows, ws, b, bs, out);
            else if (type == GGUF_T_Q2_K)
                pack_q2_k(rows, ws, b, bs, out);
            else if (type == GGUF_T_F16)
                pack_f16(rows, ws, b, out);
            else
                pack_legacy(type, rows, ws, b, bs, out);
        }
}
