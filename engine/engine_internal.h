/* Structures shared by the files of the engine module (not public API). */
#ifndef RHEMA_ENGINE_INTERNAL_H
#define RHEMA_ENGINE_INTERNAL_H

#include "engine/engine.h"
#include "kernels/kernels.h"

/* Tensors of one block; NULL where the architecture has none. */
typedef struct eng_layer {
    const gguf_tensor *attn_norm, *attn_norm_b;
    const gguf_tensor *wq, *wk, *wv, *wqkv;
    const gguf_tensor *bq, *bk, *bv, *bqkv;
    const gguf_tensor *wo, *bo;
    const gguf_tensor *ffn_norm;
    const gguf_tensor *w_gate, *w_up, *w_down, *b_up, *b_down;
    /* wq, wk, wv and w_gate, w_up packed as one matrix each (rows one
     * after another), or NULL */
    const void *pk_qkv, *pk_gate_up;
} eng_layer;

struct eng_model {
    gguf_file *owned;          /* set by eng_model_open */
    const gguf_file *f;
    eng_hparams hp;
    bool neox;                 /* RoPE rotates halves, not adjacent pairs */
    bool layer_norm;           /* LayerNorm with bias instead of RMSNorm */
    const gguf_tensor *tok_embd, *out_norm, *out_norm_b, *output, *output_b;
    const gguf_tensor *rope_freqs; /* optional per-pair frequency divisors */
    eng_layer *layers;
    kern_cpu pack_cpu;         /* the kernels the packed weights are for */
    const void **packed;       /* per tensor of f: kern_pack's copy, or NULL */
    uint8_t *pack_buf;         /* the one buffer those point into */
    size_t pack_used;
};

/* Whether m's packed weights are for cpu's kernels. */
static inline bool eng_packed_for(const eng_model *m, const kern_cpu *cpu)
{
    return m->packed && kern_cpu_same_packing(cpu, &m->pack_cpu);
}

/* t's weights packed for cpu's kernels, or NULL (use t->data). */
static inline const void *eng_packed(const eng_model *m, const kern_cpu *cpu, const gguf_tensor *t)
{
    return eng_packed_for(m, cpu) ? m->packed[t - m->f->tensors] : NULL;
}

/* Write a message into err (when not NULL) and return status. */
int eng_fail(char *err, size_t errlen, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
