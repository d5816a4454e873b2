/* Matrix products: quantize each token's activations once into the weight
 * type's vec-dot format, then spread weight rows over the pool, each
 * thread running the chosen kernel set's tile product (or the reference
 * kern_vec_dot where the set has none). Also the memory bandwidth probe. */
#include "kernels/kernels.h"
#include "kernels/simd_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "gguf/gguf.h"
#include "kernels/kernels_internal.h"
#include "kernels/pack_internal.h"

/* Rows per chunk: enough to amortize a chunk, few enough to balance; a
 * whole group of packed rows, or more as kern_pack_grain says. */
#define ROW_GRAIN KERN_PACK_ROWS
/* Bytes of weights per chunk of a single token's product. */
#define STREAM_CHUNK (64u << 10)
/* Bytes of its part of the next product a waiting thread reads ahead, as
 * much as its second-level cache holds (measured per token, alternating
 * with and without: 1-3% faster decoding when bandwidth is low, within the
 * noise when it is high; 256 KiB did less). */
#define READ_AHEAD (1024u << 10)

/* F16 weights take their activations rounded to F16 but kept as f32: the
 * reference's values, with one conversion per multiply-add instead of
 * two. */
static size_t act_row_bytes(uint32_t wtype, size_t n_in)
{
    uint32_t vt = kern_vec_dot_type(wtype);
    size_t bytes = vt == GGUF_T_F16 ? n_in * sizeof(float) : (size_t)gguf_row_size(vt, n_in);
    if (vt == GGUF_T_Q8_0)
        bytes = KERN_Q8_0_SIDE(n_in / 32) + 8 * (n_in / 32);
    if (vt == GGUF_T_Q8_1)
        bytes = KERN_Q8_1_SIDE(n_in / 32) + 8 * (n_in / 32);
    if (vt == GGUF_T_Q8_K)
        bytes = KERN_Q8_K_SIDE(n_in / 256) + 16 * (n_in / 256);
    /* round up to keep every activation row 64-byte aligned */
    return (bytes + 63) & ~(size_t)63;
}

size_t kern_matmul_scratch_size(uint32_t wtype, size_t n_in, size_t n_tokens)
{
    if (kern_vec_dot_type(wtype) == GGUF_T_F32)
        return 0;
    return act_row_bytes(wtype, n_in) * n_tokens + 64;
}

typedef struct mm_job {
    kern_gemm_fn gemm;
    const struct kern_ops *ops; /* NULL: the reference quantizers */
    uint32_t type;
    const uint8_t *w;
    size_t ws;
    const uint8_t *a;
    size_t as;
    size_t n_in, n_out, n_tok;
    const float *x;
    float *y;
    bool packed;      /* w is kern_pack's layout, ws bytes per group of rows */
    size_t grain;     /* rows a chunk is a multiple of */
} mm_job;

/* Each Q8_K block's eight 32-element sums, from its sixteen 16-element
 * sums, after the blocks. */
static void q8_k_side(uint8_t *row, size_t nb)
{
    int16_t *side = (int16_t *)(row + KERN_Q8_K_SIDE(nb));
    for (size_t b = 0; b < nb; b++) {
        const uint8_t *bs = row + b * KERN_Q8K_BYTES + KERN_Q8K_SUMS;
        for (int j = 0; j < 8; j++)
            side[8 * b + j] = (int16_t)((int16_t)kern_rd16(bs + 4 * j) + (int16_t)kern_rd16(bs + 4 * j + 2));
    }
}

static void round_f16(const struct kern_ops *ops, const float *x, float *y, size_t n)
{
    if (ops && ops->round_f16) {
        ops->round_f16(x, y, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        y[i] = kern_f16_to_f32(kern_f32_to_f16(x[i]));
}

static void quant_rows(void *arg, size_t begin, size_t end, unsigned tid)
{
    const mm_job *j = arg;
    uint32_t vt = kern_vec_dot_type(j->type);
    size_t nb = j->n_in / 32;
    for (size_t t = begin; t < end; t++) {
        uint8_t *row = (uint8_t *)j->a + t * j->as;
        if (vt == GGUF_T_Q8_0 && j->ops && j->ops->quant_q8_0) {
            j->ops->quant_q8_0(j->x + t * j->n_in, row, j->n_in);
            continue;
        }
        if (vt == GGUF_T_Q8_1 && j->ops && j->ops->quant_q8_1) {
            j->ops->quant_q8_1(j->x + t * j->n_in, row, j->n_in);
            continue;
        }
        if (vt == GGUF_T_F16) {
            round_f16(j->ops, j->x + t * j->n_in, (float *)row, j->n_in);
            continue;
        }
        if (vt == GGUF_T_Q8_K && j->ops && j->ops->quant_q8_k)
            j->ops->quant_q8_k(j->x + t * j->n_in, row, j->n_in);
        else
            kern_quantize_row(vt, j->x + t * j->n_in, row, j->n_in);
        if (vt == GGUF_T_Q8_K) {
            q8_k_side(row, j->n_in / 256);
            continue;
        }
        if (vt == GGUF_T_Q8_1) {
            float *d = (float *)(row + KERN_Q8_1_SIDE(nb));
            for (size_t b = 0; b < nb; b++) {
                d[b] = kern_f16_to_f32(kern_rd16(row + 36 * b));
                d[nb + b] = kern_f16_to_f32(kern_rd16(row + 36 * b + 2));
            }
            continue;
        }
        if (vt != GGUF_T_Q8_0)
            continue;
        /* each block's scale as f32 and the sum of its quants */
        float *d = (float *)(row + KERN_Q8_0_SIDE(nb));
        int32_t *sum = (int32_t *)(d + nb);
        for (size_t b = 0; b < nb; b++) {
            const uint8_t *blk = row + 34 * b;
            d[b] = kern_f16_to_f32((uint16_t)(blk[0] | (blk[1] << 8)));
            int s = 0;
            for (int i = 0; i < 32; i++)
                s += (int8_t)blk[2 + i];
            sum[b] = s;
        }
    }
}

static void ref_gemm(const mm_job *j, size_t r0, size_t r1)
{
    for (size_t r = r0; r < r1; r++)
        for (size_t t = 0; t < j->n_tok; t++) {
            const uint8_t *w = j->w + r * j->ws, *a = j->a + t * j->as;
            j->y[t * j->n_out + r] = j->type == GGUF_T_F16 ? kern_dot_row(j->type, w, (const float *)a, j->n_in)
                                                            : kern_vec_dot(j->type, w, a, j->n_in);
        }
}

/* Where row r's weights start in j->w (r a whole group when packed). */
static size_t rows_at(const mm_job *j, size_t r)
{
    return j->packed ? r / KERN_PACK_ROWS * j->ws : r * j->ws;
}

static void mm_rows(void *arg, size_t begin, size_t end, unsigned tid)
{
    const mm_job *j = arg;
    if (j->gemm)
        j->gemm(j->w + rows_at(j, begin), j->ws, end - begin, j->a, j->as, j->n_tok, j->n_in, j->y + begin,
                j->n_out);
    else
        ref_gemm(j, begin, end);
}

/* A lone token streams the weights: one long stretch per thread reads
 * faster than many short ones (kern_pool_for_parts), in chunks of about
 * STREAM_CHUNK bytes, so a thread done early takes over the end of
 * another's stretch instead of waiting for it. Rows per chunk: */
static size_t stream_grain(const mm_job *j)
{
    size_t rows = (STREAM_CHUNK / j->ws + 1) * (j->packed ? KERN_PACK_ROWS : 1);
    return (rows + j->grain - 1) / j->grain * j->grain;
}

/* Quantize the activations x when the type wants it, then the rows into y. */
static void run_job(mm_job *j, kern_pool *pool, const float *x, float *y, void *scratch)
{
    j->x = x;
    j->y = y;
    if (kern_vec_dot_type(j->type) == GGUF_T_F32) {
        j->a = (const uint8_t *)j->x;
        j->as = j->n_in * sizeof(float);
    } else {
        uintptr_t p = ((uintptr_t)scratch + 63) & ~(uintptr_t)63;
        j->a = (const uint8_t *)p;
        j->as = act_row_bytes(j->type, j->n_in);
        for (size_t o = 0; o < j->as * j->n_tok; o += 64)
            kern_prefetch_write(j->a + o);
        kern_pool_for(j->n_tok > 1 ? pool : NULL, j->n_tok, 1, quant_rows, j);
    }
    if (j->n_tok > 1)
        kern_pool_for(pool, j->n_out, j->grain, mm_rows, j);
    else
        kern_pool_for_parts(pool, j->n_out, stream_grain(j), mm_rows, j);
}

/* A product over rows as stored (n_out rows of n_in at w), by the set's
 * row product where it has one, else the reference. */
static mm_job rows_job(const kern_cpu *cpu, uint32_t wtype, const void *w, size_t n_in, size_t n_out,
                       size_t n_tok)
{
    mm_job j = {.type = wtype, .w = w, .ws = (size_t)gguf_row_size(wtype, n_in), .n_in = n_in,
                .n_out = n_out, .n_tok = n_tok, .grain = ROW_GRAIN};
    if (cpu && cpu->ops && wtype < KERN_OPS_NTYPES) {
        j.gemm = cpu->ops->gemm[wtype];
        j.ops = cpu->ops;
    }
    return j;
}

void kern_matmul(const kern_cpu *cpu, kern_pool *pool, uint32_t wtype, const void *w,
                 size_t n_in, size_t n_out, const float *x, size_t n_tokens, float *y,
                 void *scratch)
{
    mm_job j = rows_job(cpu, wtype, w, n_in, n_out, n_tokens);
    run_job(&j, pool, x, y, scratch);
}

/* Whether a set that packs keeps wtype's rows as stored, only copied into
 * the packed stream (BF16: its products read rows). From the model file's
 * 4 KiB pages llama-1b bf16 decoded at 16.5-18.2 tokens/s (0.59-0.65 of
 * the benchmark's limit), from the copy at 22.6-24.6 (0.79-0.85; Zen 5,
 * builds in turn), though the probe read those pages as fast. */
static bool as_stored(const kern_cpu *cpu, uint32_t wtype)
{
    return wtype == GGUF_T_BF16 && cpu && cpu->ops && cpu->ops->pack_size && cpu->ops->gemm[wtype];
}

size_t kern_pack_size(const kern_cpu *cpu, uint32_t wtype, size_t n_in, size_t n_out)
{
    if (as_stored(cpu, wtype))
        return n_out % KERN_PACK_ROWS ? 0 : n_out * (size_t)gguf_row_size(wtype, n_in);
    if (!cpu || !cpu->ops || !cpu->ops->pack_size)
        return 0;
    return cpu->ops->pack_size(wtype, n_in, n_out);
}

size_t kern_pack_grain(const kern_cpu *cpu, uint32_t wtype, size_t n_in)
{
    if (!cpu || !cpu->ops || !cpu->ops->pack_grain || as_stored(cpu, wtype))
        return ROW_GRAIN;
    return cpu->ops->pack_grain(wtype, n_in);
}

void kern_pack(const kern_cpu *cpu, uint32_t wtype, const void *w, size_t n_in, size_t n_out, void *dst)
{
    if (as_stored(cpu, wtype))
        memcpy(dst, w, kern_pack_size(cpu, wtype, n_in, n_out));
    else
        cpu->ops->pack(wtype, w, n_in, n_out, dst);
}

static mm_job packed_job(const kern_cpu *cpu, uint32_t wtype, const void *packed, size_t n_in, size_t n_out,
                         size_t n_tok)
{
    if (as_stored(cpu, wtype))
        return rows_job(cpu, wtype, packed, n_in, n_out, n_tok);
    size_t group_bytes = kern_pack_size(cpu, wtype, n_in, n_out) / (n_out / KERN_PACK_ROWS);
    const struct kern_ops *ops = cpu->ops;
    kern_gemm_fn gemm = n_tok == 1 && ops->lone_gemm ? ops->lone_gemm(wtype) : ops->packed_gemm(wtype);
    return (mm_job){.type = wtype, .w = packed, .ws = group_bytes, .packed = true,
                    .grain = kern_pack_grain(cpu, wtype, n_in), .gemm = gemm, .ops = ops, .n_in = n_in,
                    .n_out = n_out, .n_tok = n_tok};
}

void kern_matmul_packed(const kern_cpu *cpu, kern_pool *pool, uint32_t wtype, const void *packed,
                        size_t n_in, size_t n_out, const float *x, size_t n_tokens, float *y,
                        void *scratch)
{
    mm_job j = packed_job(cpu, wtype, packed, n_in, n_out, n_tokens);
    run_job(&j, pool, x, y, scratch);
}

void kern_matmul_packed_next(const kern_cpu *cpu, kern_pool *pool, uint32_t wtype, const void *packed,
                             size_t n_in, size_t n_out)
{
    if (!pool)
        return;
    mm_job j = packed_job(cpu, wtype, packed, n_in, n_out, 1);
    /* each thread's part as kern_pool_for_parts splits it, its groups of
     * rows one after another */
    size_t grain = stream_grain(&j), n_chunks = (n_out + grain - 1) / grain;
    for (unsigned t = 0; t < kern_pool_threads(pool); t++) {
        size_t c0, c1;
        kern_pool_part(pool, n_chunks, t, &c0, &c1);
        size_t r0 = c0 * grain, r1 = c1 * grain < n_out ? c1 * grain : n_out;
        size_t len = r1 > r0 ? rows_at(&j, r1) - rows_at(&j, r0) : 0;
        kern_pool_prefetch(pool, t, j.w + rows_at(&j, r0), len < READ_AHEAD ? len : READ_AHEAD);
    }
}

typedef struct bw_job {
    const uint64_t *buf;
    unsigned way;
    uint64_t (*read_lines)(const uint8_t *p, size_t n); /* the wide way */
    uint64_t sink[1024];
} bw_job;

/* The wide way without a kernel set's: every word of each line. */
static uint64_t read_words(const uint8_t *p, size_t n)
{
    const uint64_t *w = (const uint64_t *)p;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i < n / 8; i += 4) {
        s0 += w[i];
        s1 += w[i + 1];
        s2 += w[i + 2];
        s3 += w[i + 3];
    }
    return s0 + s1 + s2 + s3;
}

static void bw_read(void *arg, size_t begin, size_t end, unsigned tid)
{
    bw_job *j = arg;
    if (j->way == KERN_READ_WIDE) {
        j->sink[tid % 1024] += j->read_lines((const uint8_t *)(j->buf + begin * 512), (end - begin) * 4096);
        return;
    }
    /* One word of each 64-byte line, four lines at a time in independent
     * sums: memory moves whole lines, and loading every word left fewer
     * lines in flight (on an Emerald Rapids Xeon 0.87 of this rate, below
     * what the products themselves read). KERN_READ_AHEAD asks for the
     * lines as the AMX set's products of a lone token do, into the second
     * level and again into the first: there 1.07-1.10 times the plain
     * way's rate (512 MB, two threads), where one-token Q8_0 products had
     * read above the plain way's rate once they asked so. */
    const bool ahead = j->way == KERN_READ_AHEAD;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = begin * 512; i < end * 512; i += 32) {
        for (size_t k = 0; ahead && k < 32; k += 8) {
            __builtin_prefetch(j->buf + i + k + KERN_WEIGHT_AHEAD / 8, 0, 2);
            __builtin_prefetch(j->buf + i + k + KERN_WEIGHT_NEAR / 8, 0, 3);
        }
        s0 += j->buf[i];
        s1 += j->buf[i + 8];
        s2 += j->buf[i + 16];
        s3 += j->buf[i + 24];
    }
    j->sink[tid % 1024] += s0 + s1 + s2 + s3;
}

void *kern_alloc_stream(size_t bytes)
{
    const size_t huge = (size_t)2 << 20;
    size_t n = bytes ? (bytes + huge - 1) / huge * huge : huge;
    void *p = aligned_alloc(huge, n);
#ifdef MADV_HUGEPAGE
    /* advice only: without transparent huge pages it changes nothing */
    if (p)
        madvise(p, n, MADV_HUGEPAGE);
#endif
    return p;
}

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* KERN_READ_PRODUCT reads the buffer as the packed weights of a lone
 * token's Q8_0 product of rows of PROBE_N_IN inputs (KERN_READ_PRODUCT_Q4_0:
 * Q4_0's, whose activations are the same Q8_0 row), against activations
 * of zero (any bytes serve as codes and scales), a super-group of rows a
 * chunk as the product's own stream goes at that width; the pages left
 * over, the wide way. On Zen 5, once Q4_0's product went sixteen blocks a
 * pass, llama-1b q4_0 decoded at up to 1.05 of what the Q8_0 product
 * alone read while the host's bandwidth was low. */
#define PROBE_N_IN 2048
#define PROBE_ACT (KERN_Q8_0_SIDE(PROBE_N_IN / 32) + 8 * (PROBE_N_IN / 32))
#define PROBE_ROWS (KERN_PK_SUPER * KERN_PACK_ROWS)

typedef struct probe_job {
    mm_job mm;
    _Alignas(64) uint8_t act[PROBE_ACT];
} probe_job;

/* Rows begin..end a super-group at a time (a pool without threads runs
 * them all at once); the product cannot be elided, so its sums need not
 * be kept. */
static void probe_rows(void *arg, size_t begin, size_t end, unsigned tid)
{
    (void)tid;
    probe_job *j = arg;
    float y[PROBE_ROWS];
    for (size_t r = begin; r < end; r += PROBE_ROWS) {
        size_t n = end - r < PROBE_ROWS ? end - r : PROBE_ROWS;
        j->mm.gemm(j->mm.w + r / KERN_PACK_ROWS * j->mm.ws, j->mm.ws, n, j->act, PROBE_ACT, 1, PROBE_N_IN, y, n);
    }
}

/* Bytes at the front of buf that a product way reads as a product of
 * `type` (whole super-groups of rows), and the job; 0 where cpu's kernels
 * have no packed product of that type. */
static size_t probe_product(const kern_cpu *cpu, uint32_t type, const void *buf, size_t bytes, probe_job *j)
{
    if (!cpu || !cpu->ops || !cpu->ops->packed_gemm)
        return 0;
    size_t group = kern_pack_size(cpu, type, PROBE_N_IN, KERN_PACK_ROWS);
    size_t super = group * KERN_PK_SUPER;
    if (!group || bytes < super)
        return 0;
    size_t rows = bytes / super * PROBE_ROWS;
    j->mm = packed_job(cpu, type, buf, PROBE_N_IN, rows, 1);
    if (!j->mm.gemm || PROBE_ROWS % j->mm.grain)
        return 0;
    memset(j->act, 0, sizeof j->act);
    return rows / KERN_PACK_ROWS * group;
}

double kern_read_pass(kern_pool *pool, const kern_cpu *cpu, const void *buf, size_t bytes, unsigned way)
{
    const struct kern_ops *ops = cpu ? cpu->ops : NULL;
    const bool product = way == KERN_READ_PRODUCT || way == KERN_READ_PRODUCT_Q4_0;
    const uint32_t type = way == KERN_READ_PRODUCT ? GGUF_T_Q8_0 : GGUF_T_Q4_0;
    bw_job j = {.buf = buf, .way = product ? KERN_READ_WIDE : way,
                .read_lines = ops && ops->read_lines ? ops->read_lines : read_words};
    probe_job pj;
    /* the product's part, to the page after its last byte; the rest the
     * wide way */
    size_t pages = bytes / 4096;
    size_t front = product ? (probe_product(cpu, type, buf, pages * 4096, &pj) + 4095) / 4096 : 0;
    double t0 = seconds();
    if (front)
        kern_pool_for_parts(pool, pj.mm.n_out, PROBE_ROWS, probe_rows, &pj);
    /* each thread one stretch, as a lone token's products read */
    if (pages > front) {
        j.buf = (const uint64_t *)((const uint8_t *)buf + front * 4096);
        kern_pool_for_parts(pool, pages - front, 16, bw_read, &j);
    }
    return seconds() - t0;
}

double kern_read_bandwidth(kern_pool *pool, const kern_cpu *cpu, size_t bytes, unsigned reps)
{
    size_t pages = bytes / 4096 ? bytes / 4096 : 1;
    uint64_t *buf = kern_alloc_stream(pages * 4096);
    if (!buf)
        return KERN_ENOMEM;
    memset(buf, 1, pages * 4096);
    double best = 0.0;
    for (unsigned r = 0; r < (reps ? reps : 1); r++)
        for (unsigned way = 0; way < KERN_READ_WAYS; way++) {
            double s = kern_read_pass(pool, cpu, buf, pages * 4096, way);
            if (s > 0 && (double)(pages * 4096) / s > best)
                best = (double)(pages * 4096) / s;
        }
    free(buf);
    return best;
}
