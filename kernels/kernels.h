/* kernels: numeric building blocks on GGUF tensor rows.
 *
 * This is the portable C reference path: for every supported block type it
 * dequantizes a row, takes the dot product of a row with an f32 vector, and
 * pairs a row with an 8-bit quantized activation the way the widely used
 * reference engine does. Faster (SIMD, GPU) kernels are tested against it.
 *
 * Types are gguf_ttype ids; block sizes come from gguf_type_info(). Row
 * functions need n to be a whole number of blocks and a supported type:
 * check once with kern_check() (the hot functions do not re-check).
 */
#ifndef RHEMA_KERNELS_H
#define RHEMA_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum kern_status {
    KERN_OK = 0,
    KERN_ETYPE = -1,  /* block type not supported for this operation */
    KERN_ESIZE = -2,  /* n is not a whole number of blocks */
    KERN_ENOMEM = -3, /* an allocation failed */
    KERN_ETHREAD = -4, /* a worker thread could not be started */
} kern_status;

/* IEEE half and bfloat16 conversions (round to nearest even). */
float kern_f16_to_f32(uint16_t h);
uint16_t kern_f32_to_f16(float f);
float kern_bf16_to_f32(uint16_t h);
uint16_t kern_f32_to_bf16(float f);

/* Whether rows of `type` can be dequantized / dotted. */
bool kern_supported(uint32_t type);

/* KERN_OK when rows of n elements of `type` can be dequantized, else a
 * status and a message naming the type. */
int kern_check(uint32_t type, uint64_t n, char *err, size_t errlen);

/* dst[0..n) = the values of one row (kern_check must have passed). */
void kern_dequant_row(uint32_t type, const void *row, float *dst, size_t n);

/* Exact dot product of one row with x[0..n), accumulated in f32 per block. */
float kern_dot_row(uint32_t type, const void *row, const float *x, size_t n);

/* Plain f32 dot product. */
float kern_dot_f32(const float *a, const float *b, size_t n);

/* Quantize n values into blocks of `type`: F32, F16, BF16, Q4_0, Q4_1, Q5_0,
 * Q5_1, Q8_0, Q8_1 and Q8_K (simple round-to-nearest quantizers; the
 * k-quants other than Q8_K are not produced here). Returns KERN_ETYPE for
 * other types, KERN_ESIZE when n is not a whole number of blocks. */
int kern_quantize_row(uint32_t type, const float *src, void *dst, size_t n);

/* The activation format the reference engine uses with weights of `type`
 * inside a matrix product: F32 for F32, F16 for F16, BF16 for BF16, Q8_1
 * for Q4_1/Q5_1, Q8_0 for the other legacy types, Q8_K for the k-quants. */
uint32_t kern_vec_dot_type(uint32_t type);

/* Round x[0..n) in place through kern_vec_dot_type(type) and back, so an
 * f32 dot with a dequantized row of `type` reproduces the reference engine's
 * quantized product. scratch holds gguf_row_size(kern_vec_dot_type(type), n)
 * bytes. */
void kern_round_activation(uint32_t type, float *x, size_t n, void *scratch);

/* Dot product of a row of `type` with an activation already quantized in
 * kern_vec_dot_type(type) (n elements). */
float kern_vec_dot(uint32_t type, const void *row, const void *act, size_t n);

/* ---- Fast paths: CPU dispatch, thread pool, matrix products ---- */

/* Instruction sets the fast kernels are built for. */
typedef enum kern_isa {
    KERN_ISA_PORTABLE = 0, /* the reference C above */
    KERN_ISA_AVX2 = 1,     /* x86-64 AVX2 + FMA + F16C (+ AVX-VNNI when present) */
    KERN_ISA_AVX512 = 2,   /* x86-64 AVX-512 F/BW/VL + VNNI (+ BF16 when present) */
    KERN_ISA_NEON = 3,     /* aarch64 Advanced SIMD (+ dotprod when present) */
    KERN_ISA_AMX = 4,      /* x86-64 AVX-512 + BF16 with AMX-INT8 tiles for prompts, and a lone token's
                            * weights asked for ahead (Intel server cores); selecting it asks Linux for the
                            * process's permission to use the tile data */
} kern_isa;

struct kern_ops;

/* The kernel set chosen for this CPU; caller-owned, filled once. */
typedef struct kern_cpu {
    kern_isa isa;
    const struct kern_ops *ops;
} kern_cpu;

/* Pick the best kernel set the running CPU (and OS) supports. */
void kern_cpu_detect(kern_cpu *cpu);
/* Whether this binary and CPU can run isa. */
bool kern_cpu_has(kern_isa isa);
/* Use isa (tests and benchmarks compare sets); KERN_ETYPE with a message
 * when the binary or the CPU lacks it. */
int kern_cpu_select(kern_cpu *cpu, kern_isa isa, char *err, size_t errlen);
/* Use the set named "portable", "avx2", "avx512", "neon" or "amx" (the set's
 * table this CPU runs best), or one table by its own name
 * (kern_cpu_tables, kern_cpu_name); KERN_ETYPE with a message naming the
 * sets and tables when the name is unknown or the set unavailable. */
int kern_cpu_select_name(kern_cpu *cpu, const char *name, char *err, size_t errlen);
/* Most tables one set has: the x86 sets each have one whose lone token's
 * products ask for the weights ahead ("avx2-fma-prefetch", chosen on Intel
 * cores) and one that leaves it to the hardware ("avx2-fma", chosen
 * elsewhere), and both again with AVX-VNNI ("avx2-vnni") or, for AVX-512,
 * the BF16 dot product; NEON one with the dot product instructions and one
 * without ("neon", named as its set: by that name, the set's first). */
#define KERN_MAX_TABLES 4
/* Every table of set isa this CPU runs, at most max of them into out, the
 * one kern_cpu_select picks first; 0 for the portable set (it has none)
 * and a set this CPU lacks. kern_cpu_select_name takes each by its name. */
size_t kern_cpu_tables(kern_isa isa, kern_cpu *out, size_t max);
/* The active set's name for `--version --verbose`: "avx512-vnni-bf16-amx", ... */
const char *kern_cpu_name(const kern_cpu *cpu);
/* Whether weights kern_pack packed for a read as packed for b: the sets
 * share one layout (false when either has none). */
bool kern_cpu_same_packing(const kern_cpu *a, const kern_cpu *b);

/* A persistent pool of worker threads (the caller's thread is one of
 * them). Runs one parallel-for at a time; not for concurrent callers. */
typedef struct kern_pool kern_pool;

/* Work on items [begin, end); tid < kern_pool_threads() names the thread. */
typedef void (*kern_task_fn)(void *arg, size_t begin, size_t end, unsigned tid);

/* Physical cores of this machine (1 when unknown). */
unsigned kern_physical_cores(void);
/* Stack bytes of each worker, whatever the platform's default (glibc 8
 * MiB, musl 128 KiB). The kernels keep panels of codes and tiles of sums
 * on the stack of the thread that runs them, the calling thread's too: a
 * 512-token prompt through `rhema ai run` ran in 80 KiB of stack and not
 * in 64 (under ASan: 256, not 160). */
#define KERN_POOL_STACK ((size_t)1 << 20)
/* n_threads 0: kern_physical_cores(). KERN_ENOMEM / KERN_ETHREAD on failure. */
int kern_pool_new(kern_pool **out, unsigned n_threads, char *err, size_t errlen);
void kern_pool_free(kern_pool *p);
unsigned kern_pool_threads(const kern_pool *p);
/* Call fn over [0, n) in chunks of at least `grain` items spread over the
 * threads; returns when all are done. p may be NULL (runs inline). */
void kern_pool_for(kern_pool *p, size_t n, size_t grain, kern_task_fn fn, void *arg);
/* The same for a job that streams memory: each thread runs one contiguous
 * part of [0, n) front to back in chunks of `grain` (one unbroken read),
 * and a thread done early takes chunks from the back of the parts left, so
 * no thread waits long on another. */
void kern_pool_for_parts(kern_pool *p, size_t n, size_t grain, kern_task_fn fn, void *arg);
/* Chunks [*c0, *c1) of n_chunks that kern_pool_for_parts gives thread tid
 * as its own part. */
void kern_pool_part(const kern_pool *p, size_t n_chunks, unsigned tid, size_t *c0, size_t *c1);
/* Thread tid, while it waits, reads ahead [addr, addr + len) into its
 * caches (until the next call for it names another range). Called by the
 * thread that runs the pool's jobs. */
void kern_pool_prefetch(kern_pool *p, unsigned tid, const void *addr, size_t len);

/* Bytes of scratch kern_matmul needs for n_tokens rows of n_in. */
size_t kern_matmul_scratch_size(uint32_t wtype, size_t n_in, size_t n_tokens);

/* y[t * n_out + o] = dot(row o of w, x[t * n_in ..]) for t < n_tokens,
 * o < n_out, with the activations quantized once per token into
 * kern_vec_dot_type(wtype) (the same numbers kern_vec_dot sees) and rows
 * spread over the pool. w holds n_out rows of gguf_row_size(wtype, n_in)
 * bytes; kern_check(wtype, n_in) must have passed. */
void kern_matmul(const kern_cpu *cpu, kern_pool *pool, uint32_t wtype, const void *w,
                 size_t n_in, size_t n_out, const float *x, size_t n_tokens, float *y,
                 void *scratch);

/* Packed weights: a matrix rearranged once (at load) into the layout the
 * chosen kernel set reads fastest, sixteen rows together (BF16: its rows
 * as stored, only copied, so that they too are read from the packed
 * stream's huge pages rather than the file's). Bytes needed for n_out
 * rows of n_in, or 0 when this set has no packed form for the type or
 * shape (then use kern_matmul on the weights as stored). */
size_t kern_pack_size(const kern_cpu *cpu, uint32_t wtype, size_t n_in, size_t n_out);
/* Rows of a packed matrix that stay together (16, or more for long rows):
 * matrices packed one after another run as one product only when each but
 * the last has a multiple of it rows. */
size_t kern_pack_grain(const kern_cpu *cpu, uint32_t wtype, size_t n_in);
/* Pack w (n_out rows as stored) into dst (kern_pack_size bytes). */
void kern_pack(const kern_cpu *cpu, uint32_t wtype, const void *w, size_t n_in, size_t n_out, void *dst);
/* kern_matmul over weights packed by kern_pack for the same cpu. */
void kern_matmul_packed(const kern_cpu *cpu, kern_pool *pool, uint32_t wtype, const void *packed,
                        size_t n_in, size_t n_out, const float *x, size_t n_tokens, float *y,
                        void *scratch);
/* Name the packed product likely to follow the one about to run: threads
 * that wait meanwhile read the start of their part of it ahead. */
void kern_matmul_packed_next(const kern_cpu *cpu, kern_pool *pool, uint32_t wtype, const void *packed,
                             size_t n_in, size_t n_out);

/* Attention of nq queries (rows of hd values one after another in q, and
 * likewise in out: e.g. the heads that share one KV head) over the same
 * n_kv cached key and value rows in F16 (row p of k and v at
 * k + p * stride), the way the reference engine's flash attention rounds:
 * each query is rounded to F16, its weighted sum of values kept in F16
 * through a single-pass softmax (a new maximum rescales it), and its output
 * row = that sum / the softmax denominator. Scores are scale * dot(q, k_p).
 * A query's result does not depend on nq. hd <= KERN_ATTN_MAX_HD. */
#define KERN_ATTN_MAX_HD 1024
void kern_attn_f16(const kern_cpu *cpu, size_t nq, const float *q, const uint16_t *k, const uint16_t *v,
                   size_t stride, size_t n_kv, size_t hd, float scale, float *out);

/* y[i] = kern_f32_to_f16(x[i]) for n values, by the kernel set's
 * conversion instruction where it has one (the same bits but for NaN
 * payloads), or the portable loop when cpu is NULL. */
void kern_f32_to_f16_row(const kern_cpu *cpu, const float *x, uint16_t *y, size_t n);

/* out[i] = silu(gate[i]) * up[i], silu(x) = x / (1 + e^-x): the kernel
 * set's vector form (within a few ulp of the portable one, which uses
 * expf), or the portable loop when cpu is NULL. out may be gate or up. */
void kern_silu_mul(const kern_cpu *cpu, const float *gate, const float *up, float *out, size_t n);

/* Memory for data read as one long stream (packed weights, the bandwidth
 * probe): 2 MiB aligned and, where the OS offers it, backed by huge pages,
 * so that streaming it does not wait on page-table walks (measured: 46 ->
 * 62 GB/s decoding a 300 MB matrix here). NULL when out of memory; release
 * with free(). */
void *kern_alloc_stream(size_t bytes);

/* Streaming read bandwidth of main memory in bytes/s, measured over a
 * buffer of `bytes` (>= 64 MiB is sensible, from kern_alloc_stream, as
 * the weights are) with the pool's threads, the best of `reps` passes of
 * each way of reading (cpu's wide loads; NULL: the portable ones);
 * negative KERN_ENOMEM when the buffer cannot be allocated. */
double kern_read_bandwidth(kern_pool *pool, const kern_cpu *cpu, size_t bytes, unsigned reps);
/* The probe's ways of reading: one word of each line, leaving the lines
 * in flight to the hardware's prefetchers; the same with software
 * prefetches ahead; every line loaded whole by the kernel set's widest
 * loads; and as the kernel set's product of a lone token reads packed
 * Q8_0, or Q4_0, weights (any bytes serve; the wide way without a packed
 * product), which out-read every plain loop on a Zen 5 machine. Which is
 * fastest depends on the machine, so a limit is the fastest. */
enum { KERN_READ_PLAIN, KERN_READ_AHEAD, KERN_READ_WIDE, KERN_READ_PRODUCT, KERN_READ_PRODUCT_Q4_0, KERN_READ_WAYS };
/* Seconds the pool's threads take to read the first bytes / 4096 pages of
 * buf once, one way (KERN_READ_*; the wide way by cpu's
 * loads, NULL: the portable ones): one pass of the probe, for callers
 * that interleave short passes with other work. */
double kern_read_pass(kern_pool *pool, const kern_cpu *cpu, const void *buf, size_t bytes, unsigned way);

#endif
