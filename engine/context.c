/* Inference contexts: KV cache, scratch buffers and the logits of the last
 * evaluation. */
#include "engine/engine_internal.h"
#include "engine/forward_internal.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

/* Default context when the caller gives none: the model's, capped to keep
 * the KV cache of large models modest. */
#define DEFAULT_CTX_CAP 4096u
#define MAX_CTX (1u << 20)

eng_ctx_params eng_ctx_default_params(void)
{
    eng_ctx_params p = {.n_ctx = 0, .n_threads = 1, .kv_type = ENG_KV_F16, .n_batch = 0};
    return p;
}

static void *alloc_floats(size_t n, bool *ok)
{
    void *p = calloc(n ? n : 1, sizeof(float));
    if (!p)
        *ok = false;
    return p;
}

static size_t max3(size_t a, size_t b, size_t c)
{
    size_t m = a > b ? a : b;
    return m > c ? m : c;
}

static size_t scratch_of(const gguf_tensor *t, size_t b)
{
    return t ? kern_matmul_scratch_size(t->type, t->ne[0], b) : 0;
}

/* Scratch for the largest quantized activation of b tokens any product
 * needs. */
static size_t matmul_scratch(const eng_model *m, size_t b)
{
    size_t s = scratch_of(m->output, b);
    for (uint32_t l = 0; l < m->hp.n_layer; l++) {
        const eng_layer *L = &m->layers[l];
        const gguf_tensor *ts[] = {L->wq, L->wk, L->wv, L->wqkv, L->wo, L->w_gate, L->w_up, L->w_down};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
            s = scratch_of(ts[i], b) > s ? scratch_of(ts[i], b) : s;
    }
    return s + 64;
}

int eng_ctx_new(eng_ctx **out, const eng_model *m, const eng_ctx_params *p, char *err,
                size_t errlen)
{
    *out = NULL;
    eng_ctx_params dp = eng_ctx_default_params();
    if (!p)
        p = &dp;
    const eng_hparams *hp = &m->hp;
    uint32_t n_ctx = p->n_ctx;
    if (n_ctx == 0)
        n_ctx = hp->n_ctx_train < DEFAULT_CTX_CAP ? hp->n_ctx_train : DEFAULT_CTX_CAP;
    if (n_ctx == 0 || n_ctx > MAX_CTX)
        return eng_fail(err, errlen, ENG_ERANGE, "context length %u is out of range (1..%u)", n_ctx, MAX_CTX);
    if (p->kv_type != ENG_KV_F16 && p->kv_type != ENG_KV_F32)
        return eng_fail(err, errlen, ENG_ERANGE, "unknown KV cache type %d", (int)p->kv_type);
    uint32_t nt = p->pool ? kern_pool_threads(p->pool) : p->n_threads ? p->n_threads : 1;
    if (nt > 256)
        return eng_fail(err, errlen, ENG_ERANGE, "thread count %u is out of range (1..256)", nt);

    eng_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return eng_fail(err, errlen, ENG_ENOMEM, "out of memory creating a context");
    c->m = m;
    c->n_ctx = n_ctx;
    c->n_threads = nt;
    /* a batch longer than the context could never fill */
    c->n_batch = p->n_batch ? p->n_batch : ENG_BATCH;
    if (c->n_batch > n_ctx)
        c->n_batch = n_ctx;
    c->kv_type = p->kv_type;
    c->reference = p->reference;
    if (p->cpu)
        c->cpu = *p->cpu;
    else
        kern_cpu_detect(&c->cpu);
    c->pool = p->pool;
    c->own_pool = !p->pool;
    int kst = c->own_pool ? kern_pool_new(&c->pool, nt, err, errlen) : KERN_OK;
    if (kst != KERN_OK) {
        free(c);
        return ENG_ENOMEM; /* no memory or no thread for the pool */
    }
    size_t E = hp->n_embd, Q = (size_t)hp->n_head * hp->head_dim, KV = (size_t)hp->n_head_kv * hp->head_dim;
    size_t FF = hp->n_ff, V = hp->n_vocab, B = c->n_batch;
    c->kv_dim = KV;
    size_t el = p->kv_type == ENG_KV_F16 ? 2 : 4;
    size_t per_layer = (size_t)n_ctx * KV;
    if (per_layer / n_ctx != KV || per_layer > SIZE_MAX / el / 2 / (hp->n_layer ? hp->n_layer : 1)) {
        free(c);
        return eng_fail(err, errlen, ENG_ENOMEM, "a KV cache of %u positions is too large", n_ctx);
    }
    c->k_cache = calloc(hp->n_layer ? hp->n_layer : 1, per_layer * el);
    c->v_cache = calloc(hp->n_layer ? hp->n_layer : 1, per_layer * el);
    size_t max_in = max3(E, Q, 2 * FF);
    /* the widest product into c->big (logits go straight to c->logits) */
    size_t max_out = max3(Q + 2 * KV, 2 * FF, E);
    c->max_in = max_in;
    bool ok = c->k_cache && c->v_cache;
    c->x = alloc_floats(B * E, &ok);
    c->h = alloc_floats(B * E, &ok);
    c->q = alloc_floats(B * Q, &ok);
    c->k = alloc_floats(B * KV, &ok);
    c->v = alloc_floats(B * KV, &ok);
    c->att = alloc_floats(B * Q, &ok);
    c->o = alloc_floats(B * E, &ok);
    c->big = alloc_floats(B * max_out, &ok);
    c->ff = alloc_floats(B * FF, &ok);
    c->xr = alloc_floats(B * max_in, &ok);
    size_t max_vec = max_out > V ? max_out : V; /* the output head's bias too */
    c->vec0 = alloc_floats(max_vec, &ok);
    c->vec1 = alloc_floats(max_vec, &ok);
    /* quantized activations take at most ~1.2 bytes per value */
    c->qscratch = calloc(B * max_in * 2 + 1024, 1);
    c->kscratch = calloc(matmul_scratch(m, B), 1);
    c->rowbuf = alloc_floats((size_t)nt * max_in, &ok);
    c->f16tab = alloc_floats(65536, &ok);
    c->rope_cs = alloc_floats(B * hp->n_rot, &ok);
    c->logits = alloc_floats(V, &ok);
    c->logits_cap = 1;
    if (!ok || !c->qscratch || !c->kscratch) {
        eng_ctx_free(c);
        return eng_fail(err, errlen, ENG_ENOMEM, "out of memory for a context of %u positions", n_ctx);
    }
    for (uint32_t i = 0; i < 65536; i++)
        c->f16tab[i] = kern_f16_to_f32((uint16_t)i);
    *out = c;
    return ENG_OK;
}

void eng_ctx_free(eng_ctx *c)
{
    if (!c)
        return;
    float *bufs[] = {c->x, c->h, c->q, c->k, c->v, c->att, c->o, c->big, c->ff, c->xr,
                     c->vec0, c->vec1, c->rowbuf, c->f16tab, c->logits, c->rope_cs};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(c->qscratch);
    free(c->kscratch);
    if (c->own_pool)
        kern_pool_free(c->pool);
    free(c->k_cache);
    free(c->v_cache);
    free(c);
}

void eng_ctx_reset(eng_ctx *c)
{
    c->n_past = 0;
    c->n_logits = 0;
}

uint32_t eng_ctx_n_ctx(const eng_ctx *c)
{
    return c->n_ctx;
}

uint32_t eng_ctx_n_batch(const eng_ctx *c)
{
    return c->n_batch;
}

uint32_t eng_ctx_n_past(const eng_ctx *c)
{
    return c->n_past;
}

const float *eng_logits(const eng_ctx *c, size_t i)
{
    if (i >= c->n_logits)
        return NULL;
    return c->logits + i * c->m->hp.n_vocab;
}

int eng_eval(eng_ctx *c, const int32_t *tokens, size_t n, bool all_logits, char *err,
             size_t errlen)
{
    const eng_hparams *hp = &c->m->hp;
    if (n == 0)
        return eng_fail(err, errlen, ENG_ERANGE, "no tokens to evaluate");
    if (n > c->n_ctx - c->n_past)
        return eng_fail(err, errlen, ENG_ECTX,
                        "%zu tokens at position %u do not fit in the context of %u tokens", n,
                        c->n_past, c->n_ctx);
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= hp->n_vocab)
            return eng_fail(err, errlen, ENG_ERANGE, "token %d at index %zu is outside the vocabulary of %u",
                            tokens[i], i, hp->n_vocab);
    size_t rows = all_logits ? n : 1;
    if (rows > c->logits_cap) {
        float *nl = realloc(c->logits, rows * hp->n_vocab * sizeof(float));
        if (!nl)
            return eng_fail(err, errlen, ENG_ENOMEM, "out of memory for %zu rows of logits", rows);
        c->logits = nl;
        c->logits_cap = rows;
    }
    c->n_logits = 0;
    for (size_t s = 0; s < n; s += c->n_batch) {
        size_t b = n - s < c->n_batch ? n - s : c->n_batch;
        bool last = s + b == n;
        float *dst = NULL;
        size_t first = 0;
        if (all_logits) {
            dst = c->logits + s * hp->n_vocab;
        } else if (last) {
            dst = c->logits;
            first = b - 1;
        }
        eng_forward_chunk(c, tokens + s, b, first, dst);
        c->n_past += (uint32_t)b;
    }
    c->n_logits = rows;
    return ENG_OK;
}
