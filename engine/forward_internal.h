/* The context structure and the forward pass entry (engine-internal). */
#ifndef RHEMA_FORWARD_INTERNAL_H
#define RHEMA_FORWARD_INTERNAL_H

#include "engine/engine_internal.h"
#include "kernels/kernels.h"

/* Tokens evaluated together unless the caller says (eng_ctx_params
 * n_batch): bounds the scratch memory of long prompts (llama-1b: ~180 KB a
 * token). Each chunk reads every weight once, and the packed products
 * unpack a panel once for all its tokens: a 512-token prompt on an Emerald
 * Rapids Xeon, two threads, ran 1.2 (q4_0, q8_0) and 1.33 (q4_k) times
 * faster in chunks of 128 than of 32 (f16 alike; 256 no faster than 128). */
#define ENG_BATCH 128

struct eng_ctx {
    const eng_model *m;
    uint32_t n_ctx, n_past, n_threads;
    uint32_t n_batch;         /* tokens evaluated together */
    eng_kv_type kv_type;
    bool reference;           /* reference kernels instead of kern_matmul */
    kern_cpu cpu;
    kern_pool *pool;          /* n_threads workers, the caller's included */
    bool own_pool;            /* started by the context, freed with it */
    void *kscratch;           /* kern_matmul's quantized activations */
    size_t kv_dim;            /* n_head_kv * head_dim */
    /* [layer][KV head][pos][head_dim], F16 or F32: a head's keys (and
     * values) one after another, the stream attention reads */
    void *k_cache, *v_cache;
    size_t max_in;            /* longest input row of any product */
    /* scratch, n_batch rows each */
    float *x, *h, *q, *k, *v, *att, *o, *big, *ff, *xr;
    float *vec0, *vec1;       /* norm weights and biases as f32 */
    void *qscratch;           /* quantized activation rows */
    float *rowbuf;            /* per thread: one dequantized weight row */
    float *f16tab;            /* every half value as f32 */
    float *rope_cs;           /* per token of the chunk, its rotation cosines and sines */
    float *logits;
    size_t logits_cap, n_logits;
};

/* Run b tokens (b <= n_batch) at positions n_past.. through the model,
 * writing their K/V into the cache. When logits is not NULL it receives the
 * logits of tokens first..b-1, one n_vocab row each, from logits[0].
 * Does not advance n_past. */
void eng_forward_chunk(eng_ctx *c, const int32_t *tokens, size_t b, size_t first, float *logits);

#endif
