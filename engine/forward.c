/* The forward pass: embeddings, norms, attention with RoPE and a KV cache,
 * feed-forward blocks and the output head, for every supported
 * architecture. Matrix products reproduce the reference engine's numerics:
 * activations are rounded through the weight type's vec-dot format before
 * an f32 dot with the exactly dequantized weight row. */
#include "engine/forward_internal.h"

#include <math.h>
#include <string.h>

#include <cblas.h>

#include "kernels/kernels.h"

/* Below this many multiply-adds a product is not worth a thread. */
#define PAR_MIN_WORK (1u << 16)
/* From this many tokens F32 weights go through BLAS sgemm; shorter
 * batches keep the kernels' row-wise products (the same summation as
 * single-token decoding). */
#define BLAS_MIN_TOKENS 32

/* Spread [0, n) over the context's threads; small jobs run inline. Every
 * item is computed the same way whatever the split, so results do not
 * depend on the thread count. */
static void parallel_for(const eng_ctx *c, size_t n, size_t work, kern_task_fn fn, void *arg)
{
    kern_pool_for(work < PAR_MIN_WORK ? NULL : c->pool, n, 1, fn, arg);
}

/* The steps between a batch's products (norms, rotations, SiLU...) work
 * on each token's rows alone: fn(c, t, arg) for each of b tokens, spread
 * over the pool like a product (on one thread, with the others waiting,
 * they took ~7% of a q4_0 prompt's time). */
typedef void (*token_fn)(eng_ctx *c, size_t t, const void *arg);

typedef struct token_job {
    eng_ctx *c;
    token_fn fn;
    const void *arg;
} token_job;

static void token_items(void *arg, size_t begin, size_t end, unsigned tid)
{
    (void)tid;
    const token_job *j = arg;
    for (size_t t = begin; t < end; t++)
        j->fn(j->c, t, j->arg);
}

static void each_token(eng_ctx *c, size_t b, size_t work_per_token, token_fn fn, const void *arg)
{
    token_job j = {c, fn, arg};
    parallel_for(c, b, b * work_per_token, token_items, &j);
}

/* A norm or bias vector as f32: the mapped data itself when F32. */
static const float *vec_f32(const gguf_tensor *t, float *buf)
{
    if (!t)
        return NULL;
    if (t->type == GGUF_T_F32)
        return t->data;
    kern_dequant_row(t->type, t->data, buf, t->ne[0]);
    return buf;
}

typedef struct matmul_job {
    const eng_ctx *c;
    const gguf_tensor *w;
    const float *x;   /* b rows of n_in, already rounded for w's type */
    const uint8_t *xq; /* or: b rows quantized for kern_vec_dot */
    size_t xq_row;
    float *y;         /* b rows of n_out */
    const float *bias;
    size_t b, n_in, n_out;
} matmul_job;

static void matmul_rows(void *arg, size_t begin, size_t end, unsigned tid)
{
    const matmul_job *j = arg;
    size_t rs = gguf_row_size(j->w->type, j->n_in);
    float *buf = j->c->rowbuf + (size_t)tid * j->c->max_in;
    for (size_t o = begin; o < end; o++) {
        const uint8_t *row = (const uint8_t *)j->w->data + o * rs;
        const float *wr = (const float *)row;
        if (j->xq) {
            for (size_t t = 0; t < j->b; t++)
                j->y[t * j->n_out + o] = kern_vec_dot(j->w->type, row, j->xq + t * j->xq_row, j->n_in) +
                                         (j->bias ? j->bias[o] : 0.0f);
            continue;
        }
        if (j->w->type != GGUF_T_F32) {
            kern_dequant_row(j->w->type, row, buf, j->n_in);
            wr = buf;
        }
        float bo = j->bias ? j->bias[o] : 0.0f;
        for (size_t t = 0; t < j->b; t++)
            j->y[t * j->n_out + o] = kern_dot_f32(wr, j->x + t * j->n_in, j->n_in) + bo;
    }
}

/* dst[i] += src[i] for n values. */
static void add_into(float *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] += src[i];
}

typedef struct bias_args {
    float *y;
    const float *bias;
    size_t n;
} bias_args;

/* Token t's row of y (n values) plus the bias. */
static void bias_token(eng_ctx *c, size_t t, const void *arg)
{
    (void)c;
    const bias_args *a = arg;
    add_into(a->y + t * a->n, a->bias, a->n);
}

/* y[b][n_out] = x[b][n_in] W^T + bias, W with ne = [n_in, n_out]. */
static void matmul(eng_ctx *c, const gguf_tensor *w, const gguf_tensor *bias, const float *x,
                   size_t b, float *y)
{
    size_t n_in = w->ne[0], n_out = w->ne[1];
    const float *bv = vec_f32(bias, c->vec1);
    if (!c->reference) {
        const void *pw;
        if (w->type == GGUF_T_F32 && b >= BLAS_MIN_TOKENS)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b, (int)n_out, (int)n_in, 1.0f, x,
                        (int)n_in, w->data, (int)n_in, 0.0f, y, (int)n_out);
        else if ((pw = eng_packed(c->m, &c->cpu, w)))
            kern_matmul_packed(&c->cpu, c->pool, w->type, pw, n_in, n_out, x, b, y, c->kscratch);
        else
            kern_matmul(&c->cpu, c->pool, w->type, w->data, n_in, n_out, x, b, y, c->kscratch);
        if (bv)
            each_token(c, b, n_out, bias_token, &(bias_args){y, bv, n_out});
        return;
    }
    matmul_job j = {c, w, x, NULL, 0, y, bv, b, n_in, n_out};
    uint32_t vt = kern_vec_dot_type(w->type);
    if (vt == GGUF_T_Q8_1) {
        /* the reference's Q4_1/Q5_1 products depend on the Q8_1 block sums:
         * take them from the quantized activation itself */
        j.xq_row = gguf_row_size(vt, n_in);
        for (size_t t = 0; t < b; t++)
            kern_quantize_row(vt, x + t * n_in, (uint8_t *)c->qscratch + t * j.xq_row, n_in);
        j.xq = c->qscratch;
    } else if (vt != GGUF_T_F32) {
        memcpy(c->xr, x, b * n_in * sizeof(float));
        for (size_t t = 0; t < b; t++)
            kern_round_activation(w->type, c->xr + t * n_in, n_in, c->qscratch);
        j.x = c->xr;
    }
    parallel_for(c, n_out, b * n_in * n_out, matmul_rows, &j);
}

/* The sum of (x[i] - mean)^p, p 1 or 2, in double, over eight interleaved
 * partial sums: the adder's throughput instead of its latency (a 2048-wide
 * norm took 3 us one add after another). */
static double sum_pow(const float *x, float mean, int p, size_t n)
{
    double s[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) {
            float d = x[i + k] - mean;
            s[k] += (double)(p == 2 ? d * d : d);
        }
    for (; i < n; i++) {
        float d = x[i] - mean;
        s[i % 8] += (double)(p == 2 ? d * d : d);
    }
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

typedef struct norm_args {
    const float *w, *bias, *x;
    float *out;
} norm_args;

static void norm_token(eng_ctx *c, size_t t, const void *arg)
{
    const norm_args *a = arg;
    const eng_model *m = c->m;
    size_t n = m->hp.n_embd;
    const float *xi = a->x + t * n;
    float *yi = a->out + t * n;
    double mean = m->layer_norm ? sum_pow(xi, 0.0f, 1, n) / (double)n : 0.0;
    double ss = sum_pow(xi, (float)mean, 2, n);
    float scale = 1.0f / sqrtf((float)(ss / (double)n) + m->hp.norm_eps);
    for (size_t i = 0; i < n; i++)
        yi[i] = (xi[i] - (float)mean) * scale * a->w[i] + (a->bias ? a->bias[i] : 0.0f);
}

/* out = norm(x) * w (+ bias), RMSNorm or LayerNorm, row by row. */
static void norm(eng_ctx *c, const gguf_tensor *wt, const gguf_tensor *bt, const float *x, float *out, size_t b)
{
    norm_args a = {vec_f32(wt, c->vec0), vec_f32(bt, c->vec1), x, out};
    each_token(c, b, 4 * c->m->hp.n_embd, norm_token, &a);
}

/* The rotation angles' cosines and sines of position pos, cs[i] and
 * cs[i + 1] for dims i, i + 1 of n_rot: the same for every layer, so they
 * are computed once per token. */
static void rope_table(const eng_model *m, uint32_t pos, float *cs)
{
    const eng_hparams *hp = &m->hp;
    uint32_t nr = hp->n_rot;
    float ffb[2048];
    float theta_scale = powf(hp->rope_base, -2.0f / (float)nr);
    const float *ff = vec_f32(m->rope_freqs, ffb);
    float theta = (float)pos;
    for (uint32_t i = 0; i < nr; i += 2) {
        float th = theta / (ff ? ff[i / 2] : 1.0f) * hp->rope_scale;
        cs[i] = cosf(th);
        cs[i + 1] = sinf(th);
        theta *= theta_scale;
    }
}

/* Rotate the first n_rot dims of each of nh heads of one token by cs. */
static void rope(const eng_model *m, float *x, size_t nh, const float *cs)
{
    const eng_hparams *hp = &m->hp;
    uint32_t nr = hp->n_rot, hd = hp->head_dim;
    for (size_t h = 0; h < nh; h++) {
        float *xh = x + h * hd;
        for (uint32_t i = 0; i < nr; i += 2) {
            /* llama pairs adjacent dims; NeoX-style models pair i with i + n_rot/2 */
            size_t a = m->neox ? i / 2 : i, bi = m->neox ? i / 2 + nr / 2 : i + 1;
            float x0 = xh[a], x1 = xh[bi];
            xh[a] = x0 * cs[i] - x1 * cs[i + 1];
            xh[bi] = x0 * cs[i + 1] + x1 * cs[i];
        }
    }
}

/* Where KV head g's row at position pos of layer starts in cache, in
 * elements of the cache's type from the cache's start. */
static size_t kv_at(const eng_ctx *c, uint32_t layer, size_t g, size_t pos)
{
    size_t hd = c->m->hp.head_dim;
    return (size_t)layer * c->n_ctx * c->kv_dim + (g * c->n_ctx + pos) * hd;
}

/* Token t's keys and values into the cache of layer. */
static void store_kv(eng_ctx *c, uint32_t layer, size_t t)
{
    size_t kvd = c->kv_dim, hd = c->m->hp.head_dim;
    const kern_cpu *cpu = c->reference ? NULL : &c->cpu;
    for (size_t g = 0; g < c->m->hp.n_head_kv; g++) {
        size_t at = kv_at(c, layer, g, c->n_past + t);
        const float *ks = c->k + t * kvd + g * hd, *vs = c->v + t * kvd + g * hd;
        if (c->kv_type == ENG_KV_F16) {
            kern_f32_to_f16_row(cpu, ks, (uint16_t *)c->k_cache + at, hd);
            kern_f32_to_f16_row(cpu, vs, (uint16_t *)c->v_cache + at, hd);
        } else {
            memcpy((float *)c->k_cache + at, ks, hd * sizeof(float));
            memcpy((float *)c->v_cache + at, vs, hd * sizeof(float));
        }
    }
}

typedef struct attn_job {
    const eng_ctx *c;
    uint32_t layer;
} attn_job;

/* KV head g's cached row pos (K or V) of one layer, hd values, as f32
 * into out. */
static void cache_row(const eng_ctx *c, const void *cache, uint32_t layer, size_t g, size_t pos, size_t hd,
                      float *out)
{
    size_t at = kv_at(c, layer, g, pos);
    if (c->kv_type == ENG_KV_F16) {
        const uint16_t *h = (const uint16_t *)cache + at;
        for (size_t i = 0; i < hd; i++)
            out[i] = c->f16tab[h[i]];
    } else {
        memcpy(out, (const float *)cache + at, hd * sizeof(float));
    }
}

/* Round to half precision and back. The normal half range is done on the
 * f32 bits (round to nearest even at bit 13); the rest goes through the
 * full conversion. */
static float f16_round(float x)
{
    float ax = fabsf(x);
    if (ax >= 6.103515625e-05f && ax <= 65504.0f) {
        uint32_t b;
        memcpy(&b, &x, 4);
        b += 0xfffu + ((b >> 13) & 1u);
        b &= ~0x1fffu;
        float r;
        memcpy(&r, &b, 4);
        if (fabsf(r) <= 65504.0f)
            return r;
    }
    return kern_f16_to_f32(kern_f32_to_f16(x));
}

/* One item = one (token, KV head) pair: the query heads that share the KV
 * head. Single-pass softmax: the running maximum rescales the accumulated
 * values. With an F16 cache the query is rounded to F16 and the accumulator
 * kept in F16, as the reference engine's flash attention does, so its
 * numerics carry over. */
static void attn_items(void *arg, size_t begin, size_t end, unsigned tid)
{
    (void)tid;
    const attn_job *j = arg;
    const eng_ctx *c = j->c;
    const eng_hparams *hp = &c->m->hp;
    size_t hd = hp->head_dim, nq = (size_t)hp->n_head * hd;
    bool half = c->kv_type == ENG_KV_F16;
    float scale = 1.0f / sqrtf((float)hd);
    float qv[4096], acc[4096], row[4096];
    size_t group = hp->n_head / hp->n_head_kv;
    for (size_t it = begin * group; it < end * group; it++) {
        size_t t = it / hp->n_head, h = it % hp->n_head;
        size_t g = h / group;
        size_t n_kv = c->n_past + t + 1;
        const float *q = c->q + t * nq + h * hd;
        if (half && !c->reference && hd <= KERN_ATTN_MAX_HD) {
            /* the same numerics, vectorized by the kernel set, for the
             * whole group at once */
            size_t at = kv_at(c, j->layer, g, 0);
            const uint16_t *kc = (const uint16_t *)c->k_cache + at, *vc = (const uint16_t *)c->v_cache + at;
            kern_attn_f16(&c->cpu, group, q, kc, vc, hd, n_kv, hd, scale, c->att + t * nq + h * hd);
            it += group - 1;
            continue;
        }
        for (size_t i = 0; i < hd; i++) {
            qv[i] = half ? f16_round(q[i]) : q[i];
            acc[i] = 0.0f;
        }
        float mx = -INFINITY, sum = 0.0f;
        for (size_t p = 0; p < n_kv; p++) {
            float s = 0.0f;
            cache_row(c, c->k_cache, j->layer, g, p, hd, row);
            for (size_t i = 0; i < hd; i++)
                s += qv[i] * row[i];
            s *= scale;
            float ms = 1.0f, vs = 1.0f;
            if (s > mx) {
                ms = expf(mx - s);
                mx = s;
                for (size_t i = 0; i < hd; i++)
                    acc[i] = half ? f16_round(acc[i] * ms) : acc[i] * ms;
            } else {
                vs = expf(s - mx);
            }
            cache_row(c, c->v_cache, j->layer, g, p, hd, row);
            for (size_t i = 0; i < hd; i++) {
                float a = acc[i] + row[i] * vs;
                acc[i] = half ? f16_round(a) : a;
            }
            sum = sum * ms + vs;
        }
        float inv = 1.0f / sum;
        float *out = c->att + t * nq + h * hd;
        for (size_t i = 0; i < hd; i++)
            out[i] = acc[i] * inv;
    }
}

/* Token t's queries and keys rotated, its keys and values cached. */
static void rope_token(eng_ctx *c, size_t t, const void *arg)
{
    const eng_hparams *hp = &c->m->hp;
    const float *cs = c->rope_cs + t * hp->n_rot;
    rope(c->m, c->q + t * hp->n_head * hp->head_dim, hp->n_head, cs);
    rope(c->m, c->k + t * c->kv_dim, hp->n_head_kv, cs);
    store_kv(c, *(const uint32_t *)arg, t);
}

static void attention(eng_ctx *c, uint32_t layer, size_t b)
{
    const eng_hparams *hp = &c->m->hp;
    each_token(c, b, 4 * ((size_t)hp->n_head * hp->head_dim + 2 * c->kv_dim), rope_token, &layer);
    attn_job j = {c, layer};
    size_t work = b * hp->n_head * (c->n_past + b) * hp->head_dim * 2;
    parallel_for(c, b * hp->n_head_kv, work, attn_items, &j);
}

/* L's q, k, v or gate, up weights packed as one matrix (pk) when c's
 * kernels read them: one product instead of several. */
static const void *fused(const eng_ctx *c, const void *pk)
{
    return pk && !c->reference && eng_packed_for(c->m, &c->cpu) ? pk : NULL;
}

/* dst = src (+ bias when not NULL), n values. */
static void copy_bias(float *dst, const float *src, const float *bias, size_t n)
{
    if (!bias) {
        memcpy(dst, src, n * sizeof(float));
        return;
    }
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i] + bias[i];
}

typedef struct split_args {
    const float *bq, *bk, *bv;
} split_args;

/* Token t's row of c->big, its q, k and v one after another, into c->q,
 * c->k and c->v, with their biases. */
static void split_token(eng_ctx *c, size_t t, const void *arg)
{
    const split_args *a = arg;
    size_t nq = (size_t)c->m->hp.n_head * c->m->hp.head_dim, kvd = c->kv_dim;
    const float *r = c->big + t * (nq + 2 * kvd);
    copy_bias(c->q + t * nq, r, a->bq, nq);
    copy_bias(c->k + t * kvd, r + nq, a->bk, kvd);
    copy_bias(c->v + t * kvd, r + nq + kvd, a->bv, kvd);
}

/* q, k, v projections of h (fused or separate). */
static void qkv(eng_ctx *c, const eng_layer *L, size_t b)
{
    const eng_hparams *hp = &c->m->hp;
    size_t nq = (size_t)hp->n_head * hp->head_dim, kvd = c->kv_dim;
    const void *pk = fused(c, L->pk_qkv);
    if (pk) {
        kern_matmul_packed(&c->cpu, c->pool, L->wq->type, pk, hp->n_embd, nq + 2 * kvd, c->h, b, c->big,
                           c->kscratch);
        /* vec0 holds max_out >= nq values, vec1 as many */
        split_args a = {vec_f32(L->bq, c->vec0), vec_f32(L->bk, c->vec1), vec_f32(L->bv, c->vec1 + kvd)};
        each_token(c, b, nq + 2 * kvd, split_token, &a);
        return;
    }
    if (!L->wqkv) {
        matmul(c, L->wq, L->bq, c->h, b, c->q);
        matmul(c, L->wk, L->bk, c->h, b, c->k);
        matmul(c, L->wv, L->bv, c->h, b, c->v);
        return;
    }
    matmul(c, L->wqkv, L->bqkv, c->h, b, c->big);
    split_args a = {NULL, NULL, NULL};
    each_token(c, b, nq + 2 * kvd, split_token, &a);
}

/* tanh-approximated GELU, evaluated like the reference engine: on the
 * input rounded to F16, result rounded to F16 (it reads a table indexed by
 * half values), and exact outside (-10, 10). */
static float gelu(float x)
{
    if (x <= -10.0f)
        return 0.0f;
    if (x >= 10.0f)
        return x;
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    float h = f16_round(x);
    return f16_round(0.5f * h * (1.0f + tanhf(k * h * (1.0f + 0.044715f * h * h))));
}

/* Token t's row of c->ff through GELU, in place (phi2). */
static void gelu_token(eng_ctx *c, size_t t, const void *arg)
{
    (void)arg;
    size_t nf = c->m->hp.n_ff;
    float *f = c->ff + t * nf;
    for (size_t i = 0; i < nf; i++)
        f[i] = gelu(f[i]);
}

/* out = act(gate) * up for n values: GELU for gemma, SiLU otherwise
 * (vectorized by the kernel set unless on the reference path). */
static void gate_mul(const eng_ctx *c, const float *gate, const float *up, float *out, size_t n)
{
    if (c->m->hp.arch == ENG_ARCH_GEMMA) {
        for (size_t i = 0; i < n; i++)
            out[i] = gelu(gate[i]) * up[i];
        return;
    }
    kern_silu_mul(c->reference ? NULL : &c->cpu, gate, up, out, n);
}

/* Token t's gate and up rows (`stride` apart from token to token) into its
 * row of out (n_ff). */
typedef struct gate_args {
    const float *gate, *up;
    float *out;
    size_t stride;
} gate_args;

static void gate_token(eng_ctx *c, size_t t, const void *arg)
{
    const gate_args *a = arg;
    size_t nf = c->m->hp.n_ff;
    gate_mul(c, a->gate + t * a->stride, a->up + t * a->stride, a->out + t * nf, nf);
}

/* The products of decoding one token, in the order they run. */
enum { NEXT_WO, NEXT_GATE_UP, NEXT_DOWN, NEXT_LAYER };

/* Decoding streams the weights product after product: name the one that
 * follows the product about to run (`what` of layer l, or the next layer's
 * q|k|v, or the output head), so that threads waiting meanwhile read the
 * start of it ahead. Only packed products are named. */
static void name_next(eng_ctx *c, size_t b, uint32_t l, int what)
{
    const eng_model *m = c->m;
    if (b != 1 || c->reference || !eng_packed_for(m, &c->cpu))
        return;
    const eng_hparams *hp = &m->hp;
    const gguf_tensor *w = NULL;
    const void *pk = NULL;
    size_t n_out = 0;
    if (what == NEXT_WO) {
        w = m->layers[l].wo;
    } else if (what == NEXT_GATE_UP) {
        w = m->layers[l].w_gate;
        pk = m->layers[l].pk_gate_up;
        n_out = 2 * (size_t)hp->n_ff;
    } else if (what == NEXT_DOWN) {
        w = m->layers[l].w_down;
    } else if (l + 1 < hp->n_layer) {
        w = m->layers[l + 1].wq;
        pk = m->layers[l + 1].pk_qkv;
        n_out = (size_t)hp->n_head * hp->head_dim + 2 * c->kv_dim;
    } else {
        w = m->output;
    }
    if (!w)
        return;
    if (!pk) {
        pk = eng_packed(m, &c->cpu, w);
        n_out = w->ne[1];
    }
    if (pk)
        kern_matmul_packed_next(&c->cpu, c->pool, w->type, pk, w->ne[0], n_out);
}

/* Feed-forward block of h into c->o. */
static void ffn(eng_ctx *c, uint32_t l, size_t b)
{
    const eng_layer *L = &c->m->layers[l];
    const eng_hparams *hp = &c->m->hp;
    size_t nf = hp->n_ff;
    name_next(c, b, l, NEXT_DOWN);
    switch (hp->arch) {
    case ENG_ARCH_PHI2:
        matmul(c, L->w_up, L->b_up, c->h, b, c->ff);
        each_token(c, b, 16 * nf, gelu_token, NULL);
        break;
    case ENG_ARCH_PHI3:
        /* fused gate/up: the first n_ff outputs are the gate */
        matmul(c, L->w_up, NULL, c->h, b, c->big);
        each_token(c, b, 4 * nf, gate_token, &(gate_args){c->big, c->big + nf, c->ff, 2 * nf});
        break;
    default:
        if (fused(c, L->pk_gate_up)) {
            /* gate and up as one product, as phi3's fused weights */
            kern_matmul_packed(&c->cpu, c->pool, L->w_gate->type, L->pk_gate_up, hp->n_embd, 2 * nf, c->h, b,
                               c->big, c->kscratch);
            each_token(c, b, 4 * nf, gate_token, &(gate_args){c->big, c->big + nf, c->ff, 2 * nf});
            break;
        }
        matmul(c, L->w_gate, NULL, c->h, b, c->ff);
        matmul(c, L->w_up, NULL, c->h, b, c->big);
        each_token(c, b, 4 * nf, gate_token, &(gate_args){c->ff, c->big, c->ff, nf});
        break;
    }
    name_next(c, b, l, NEXT_LAYER);
    matmul(c, L->w_down, L->b_down, c->ff, b, c->o);
}

static void embed(eng_ctx *c, const int32_t *tokens, size_t b)
{
    const eng_model *m = c->m;
    size_t n = m->hp.n_embd;
    size_t rs = gguf_row_size(m->tok_embd->type, n);
    for (size_t t = 0; t < b; t++) {
        const uint8_t *row = (const uint8_t *)m->tok_embd->data + (size_t)tokens[t] * rs;
        kern_dequant_row(m->tok_embd->type, row, c->x + t * n, n);
        if (m->hp.arch == ENG_ARCH_GEMMA) {
            float s = sqrtf((float)n);
            for (size_t i = 0; i < n; i++)
                c->x[t * n + i] *= s;
        }
    }
}

/* The residual: token t's row of c->o added into its row of c->x. */
static void residual_token(eng_ctx *c, size_t t, const void *arg)
{
    (void)arg;
    size_t n = c->m->hp.n_embd;
    add_into(c->x + t * n, c->o + t * n, n);
}

void eng_forward_chunk(eng_ctx *c, const int32_t *tokens, size_t b, size_t first, float *logits)
{
    const eng_model *m = c->m;
    size_t E = m->hp.n_embd;
    embed(c, tokens, b);
    for (size_t t = 0; t < b; t++)
        rope_table(m, c->n_past + (uint32_t)t, c->rope_cs + t * m->hp.n_rot);
    for (uint32_t l = 0; l < m->hp.n_layer; l++) {
        const eng_layer *L = &m->layers[l];
        norm(c, L->attn_norm, L->attn_norm_b, c->x, c->h, b);
        name_next(c, b, l, NEXT_WO);
        qkv(c, L, b);
        attention(c, l, b);
        name_next(c, b, l, NEXT_GATE_UP);
        matmul(c, L->wo, L->bo, c->att, b, c->o);
        each_token(c, b, E, residual_token, NULL);
        if (m->hp.arch == ENG_ARCH_PHI2) {
            /* phi2 runs attention and MLP in parallel on the same input */
            ffn(c, l, b);
        } else {
            norm(c, L->ffn_norm, NULL, c->x, c->h, b);
            ffn(c, l, b);
        }
        each_token(c, b, E, residual_token, NULL);
    }
    if (!logits)
        return;
    norm(c, m->out_norm, m->out_norm_b, c->x + first * E, c->h, b - first);
    matmul(c, m->output, m->output_b, c->h, b - first, logits);
}
