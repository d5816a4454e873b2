/* Model loading: hyper-parameters from metadata, weights bound to the
 * mapped tensors (and packed for the CPU's kernels where they have a packed
 * form), and the checks behind `rhema ai models validate`. */
#include "engine/engine_internal.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

int eng_fail(char *err, size_t errlen, int status, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return status;
}

/* Problems go to a callback (validate) or the first one into err (load). */
typedef struct reporter {
    void (*fn)(void *ud, const char *problem);
    void *ud;
    char *err;
    size_t errlen;
    int count;
} reporter;

__attribute__((format(printf, 2, 3)))
static void report(reporter *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->fn)
        r->fn(r->ud, msg);
    if (r->count == 0 && r->err && r->errlen)
        snprintf(r->err, r->errlen, "%s", msg);
    r->count++;
}

static const struct {
    const char *name;
    eng_arch arch;
} arch_names[] = {
    {"llama", ENG_ARCH_LLAMA}, {"qwen2", ENG_ARCH_QWEN2}, {"phi2", ENG_ARCH_PHI2},
    {"phi3", ENG_ARCH_PHI3}, {"gemma", ENG_ARCH_GEMMA},
};

/* An optional u32 key: absent leaves *out as the default. */
static void opt_u32(const gguf_file *f, reporter *r, const char *arch, const char *key, uint32_t *out)
{
    char full[128], e[256];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    int st = gguf_get_u32(f, full, out, e, sizeof e);
    if (st != GGUF_OK && st != GGUF_ENOTFOUND)
        report(r, "%s: %s", f->name, e);
}

static void req_u32(const gguf_file *f, reporter *r, const char *arch, const char *key, uint32_t *out)
{
    char full[128];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    if (!gguf_find(f, full))
        report(r, "%s: metadata key %s is missing", f->name, full);
    else
        opt_u32(f, r, arch, key, out);
}

static void opt_f32(const gguf_file *f, reporter *r, const char *arch, const char *key, float *out)
{
    char full[128], e[256];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    int st = gguf_get_f32(f, full, out, e, sizeof e);
    if (st != GGUF_OK && st != GGUF_ENOTFOUND)
        report(r, "%s: %s", f->name, e);
}

/* Fills hp; returns false when the architecture is not supported. */
static bool read_hparams(const gguf_file *f, reporter *r, eng_hparams *hp)
{
    memset(hp, 0, sizeof *hp);
    gguf_str an = {0};
    char e[256];
    if (gguf_get_str(f, "general.architecture", &an, e, sizeof e) != GGUF_OK) {
        report(r, "%s: %s", f->name, e);
        return false;
    }
    size_t i = 0;
    while (i < sizeof arch_names / sizeof arch_names[0] && !gguf_str_eq(an, arch_names[i].name))
        i++;
    if (i == sizeof arch_names / sizeof arch_names[0]) {
        report(r, "%s: architecture '%.*s' is not supported (supported: llama, qwen2, phi2, phi3, gemma)",
               f->name, (int)(an.len > 64 ? 64 : an.len), an.ptr);
        return false;
    }
    const char *a = arch_names[i].name;
    hp->arch = arch_names[i].arch;
    hp->arch_name = a;
    req_u32(f, r, a, "block_count", &hp->n_layer);
    req_u32(f, r, a, "embedding_length", &hp->n_embd);
    req_u32(f, r, a, "feed_forward_length", &hp->n_ff);
    req_u32(f, r, a, "attention.head_count", &hp->n_head);
    hp->n_head_kv = hp->n_head;
    opt_u32(f, r, a, "attention.head_count_kv", &hp->n_head_kv);
    hp->head_dim = hp->n_head ? hp->n_embd / hp->n_head : 0;
    opt_u32(f, r, a, "attention.key_length", &hp->head_dim);
    uint32_t vlen = hp->head_dim;
    opt_u32(f, r, a, "attention.value_length", &vlen);
    hp->n_rot = hp->head_dim;
    opt_u32(f, r, a, "rope.dimension_count", &hp->n_rot);
    hp->n_ctx_train = 2048;
    opt_u32(f, r, a, "context_length", &hp->n_ctx_train);
    hp->rope_base = 10000.0f;
    opt_f32(f, r, a, "rope.freq_base", &hp->rope_base);
    hp->norm_eps = 1e-5f;
    opt_f32(f, r, a, hp->arch == ENG_ARCH_PHI2 ? "attention.layer_norm_epsilon"
                                               : "attention.layer_norm_rms_epsilon", &hp->norm_eps);
    hp->rope_scale = 1.0f;
    gguf_str st;
    float factor = 1.0f;
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    if (gguf_get_str(f, key, &st, NULL, 0) == GGUF_OK && gguf_str_eq(st, "linear")) {
        opt_f32(f, r, a, "rope.scaling.factor", &factor);
        if (factor > 0.0f)
            hp->rope_scale = 1.0f / factor;
    }

    if (hp->n_layer == 0 || hp->n_embd == 0 || hp->n_ff == 0 || hp->n_head == 0)
        report(r, "%s: block_count, embedding_length, feed_forward_length and head_count must be positive",
               f->name);
    if (hp->n_head_kv == 0 || (hp->n_head && hp->n_head % hp->n_head_kv))
        report(r, "%s: attention.head_count %u is not a multiple of head_count_kv %u", f->name,
               hp->n_head, hp->n_head_kv);
    if (hp->head_dim == 0 || hp->head_dim % 2 || vlen != hp->head_dim)
        report(r, "%s: head size %u (value length %u) must be even and equal", f->name, hp->head_dim, vlen);
    if (hp->n_rot % 2 || hp->n_rot > hp->head_dim)
        report(r, "%s: rope.dimension_count %u must be even and at most the head size %u", f->name,
               hp->n_rot, hp->head_dim);
    if (!(hp->norm_eps > 0.0f) || !(hp->rope_base > 0.0f))
        report(r, "%s: norm epsilon and rope.freq_base must be positive", f->name);
    if (hp->n_layer > 4096 || hp->n_head > 4096 || hp->head_dim > 4096 || hp->n_embd > (1u << 20) ||
        hp->n_ff > (1u << 22))
        report(r, "%s: hyper-parameters are implausibly large", f->name);
    return true;
}

/* Tensor dimensions, by symbol. */
enum { D_NONE, D_EMBD, D_VOCAB, D_Q, D_KV, D_QKV, D_FF, D_FF2, D_ROT2 };

static uint64_t dim_value(const eng_hparams *hp, int d)
{
    uint64_t q = (uint64_t)hp->n_head * hp->head_dim, kv = (uint64_t)hp->n_head_kv * hp->head_dim;
    switch (d) {
    case D_EMBD: return hp->n_embd;
    case D_VOCAB: return hp->n_vocab;
    case D_Q: return q;
    case D_KV: return kv;
    case D_QKV: return q + 2 * kv;
    case D_FF: return hp->n_ff;
    case D_FF2: return 2 * (uint64_t)hp->n_ff;
    case D_ROT2: return hp->n_rot / 2;
    default: return 1;
    }
}

#define A_L (1u << ENG_ARCH_LLAMA)
#define A_Q (1u << ENG_ARCH_QWEN2)
#define A_P2 (1u << ENG_ARCH_PHI2)
#define A_P3 (1u << ENG_ARCH_PHI3)
#define A_G (1u << ENG_ARCH_GEMMA)
#define A_ALL (A_L | A_Q | A_P2 | A_P3 | A_G)

/* One tensor an architecture uses: required for the archs in `req`,
 * bound when present for those in `opt`; slot is its place in eng_model
 * (global) or eng_layer (per block). */
typedef struct tspec {
    const char *name;
    int d0, d1;          /* d1 = D_NONE: a vector */
    unsigned req, opt;
    size_t slot;
    bool matrix_weight;  /* used in a matrix product (any block type) */
} tspec;

#define M(f) offsetof(eng_model, f)
#define L(f) offsetof(eng_layer, f)

static const tspec global_specs[] = {
    {"token_embd.weight", D_EMBD, D_VOCAB, A_ALL, 0, M(tok_embd), true},
    {"output_norm.weight", D_EMBD, D_NONE, A_ALL, 0, M(out_norm), false},
    {"output_norm.bias", D_EMBD, D_NONE, A_P2, 0, M(out_norm_b), false},
    {"output.weight", D_EMBD, D_VOCAB, A_P2, A_L | A_Q | A_P3 | A_G, M(output), true},
    {"output.bias", D_VOCAB, D_NONE, A_P2, 0, M(output_b), false},
    {"rope_freqs.weight", D_ROT2, D_NONE, 0, A_L, M(rope_freqs), false},
};

static const tspec layer_specs[] = {
    {"attn_norm.weight", D_EMBD, D_NONE, A_ALL, 0, L(attn_norm), false},
    {"attn_norm.bias", D_EMBD, D_NONE, A_P2, 0, L(attn_norm_b), false},
    {"attn_q.weight", D_EMBD, D_Q, A_L | A_Q | A_G, 0, L(wq), true},
    {"attn_k.weight", D_EMBD, D_KV, A_L | A_Q | A_G, 0, L(wk), true},
    {"attn_v.weight", D_EMBD, D_KV, A_L | A_Q | A_G, 0, L(wv), true},
    {"attn_q.bias", D_Q, D_NONE, A_Q, A_L, L(bq), false},
    {"attn_k.bias", D_KV, D_NONE, A_Q, A_L, L(bk), false},
    {"attn_v.bias", D_KV, D_NONE, A_Q, A_L, L(bv), false},
    {"attn_qkv.weight", D_EMBD, D_QKV, A_P2 | A_P3, 0, L(wqkv), true},
    {"attn_qkv.bias", D_QKV, D_NONE, A_P2, 0, L(bqkv), false},
    {"attn_output.weight", D_Q, D_EMBD, A_ALL, 0, L(wo), true},
    {"attn_output.bias", D_EMBD, D_NONE, A_P2, A_L, L(bo), false},
    {"ffn_norm.weight", D_EMBD, D_NONE, A_L | A_Q | A_P3 | A_G, 0, L(ffn_norm), false},
    {"ffn_gate.weight", D_EMBD, D_FF, A_L | A_Q | A_G, 0, L(w_gate), true},
    {"ffn_up.weight", D_EMBD, D_FF, A_L | A_Q | A_P2 | A_G, 0, L(w_up), true},
    {"ffn_up.weight", D_EMBD, D_FF2, A_P3, 0, L(w_up), true},
    {"ffn_up.bias", D_FF, D_NONE, A_P2, 0, L(b_up), false},
    {"ffn_down.weight", D_FF, D_EMBD, A_ALL, 0, L(w_down), true},
    {"ffn_down.bias", D_EMBD, D_NONE, A_P2, 0, L(b_down), false},
};

static const char *dims_str(const uint64_t *ne, uint32_t n, char *buf, size_t cap)
{
    int k = snprintf(buf, cap, "[");
    for (uint32_t i = 0; i < n && k > 0 && (size_t)k < cap; i++)
        k += snprintf(buf + k, cap - (size_t)k, "%s%llu", i ? ", " : "", (unsigned long long)ne[i]);
    if (k > 0 && (size_t)k < cap)
        snprintf(buf + k, cap - (size_t)k, "]");
    return buf;
}

/* Look up, check and bind one tensor; *slot is left NULL when absent. */
static void bind_one(const gguf_file *f, const eng_hparams *hp, const tspec *s, const char *name,
                     reporter *r, const gguf_tensor **slot)
{
    unsigned bit = 1u << hp->arch;
    const gguf_tensor *t = gguf_find_tensor(f, name);
    if (!t) {
        if (s->req & bit)
            report(r, "%s: tensor %s is missing", f->name, name);
        return;
    }
    uint64_t want[2] = {dim_value(hp, s->d0), dim_value(hp, s->d1)};
    uint32_t want_dims = s->d1 == D_NONE ? 1 : 2;
    bool ok = true;
    for (uint32_t i = 0; i < GGUF_MAX_DIMS; i++) {
        uint64_t have = i < t->n_dims ? t->ne[i] : 1;
        if (have != (i < want_dims ? want[i] : 1))
            ok = false;
    }
    if (!ok) {
        char hb[96], wb[64];
        report(r, "%s: tensor %s has shape %s, expected %s", f->name, name,
               dims_str(t->ne, t->n_dims, hb, sizeof hb), dims_str(want, want_dims, wb, sizeof wb));
        return;
    }
    char e[200];
    if (kern_check(t->type, t->ne[0], e, sizeof e) != KERN_OK) {
        report(r, "%s: tensor %s: %s", f->name, name, e);
        return;
    }
    if (!s->matrix_weight && t->type != GGUF_T_F32 && t->type != GGUF_T_F16 && t->type != GGUF_T_BF16) {
        report(r, "%s: tensor %s: a norm or bias vector must be F32, F16 or BF16", f->name, name);
        return;
    }
    if (!t->data || t->nbytes < gguf_row_size(t->type, t->ne[0]) * t->ne[1]) {
        report(r, "%s: tensor %s: data is too short for its shape", f->name, name);
        return;
    }
    *slot = t;
}

static void bind_specs(const gguf_file *f, const eng_hparams *hp, const tspec *specs, size_t n,
                       int layer, void *base, reporter *r)
{
    unsigned bit = 1u << hp->arch;
    for (size_t i = 0; i < n; i++) {
        const tspec *s = &specs[i];
        if (!((s->req | s->opt) & bit))
            continue;
        char name[96];
        if (layer >= 0)
            snprintf(name, sizeof name, "blk.%d.%s", layer, s->name);
        else
            snprintf(name, sizeof name, "%s", s->name);
        const gguf_tensor *dummy = NULL;
        const gguf_tensor **slot = base ? (const gguf_tensor **)((char *)base + s->slot) : &dummy;
        bind_one(f, hp, s, name, r, slot);
    }
}

/* Everything shared by check and load. m may be NULL (check only). */
static int examine(const gguf_file *f, reporter *r, eng_model *m)
{
    eng_hparams hp;
    if (!read_hparams(f, r, &hp))
        return ENG_EUNSUPPORTED;
    const gguf_tensor *te = gguf_find_tensor(f, "token_embd.weight");
    if (te)
        hp.n_vocab = te->ne[1] > UINT32_MAX ? 0 : (uint32_t)te->ne[1];
    if (m) {
        m->hp = hp;
        m->layers = calloc(hp.n_layer ? hp.n_layer : 1, sizeof *m->layers);
        if (!m->layers) {
            report(r, "%s: out of memory for %u layers", f->name, hp.n_layer);
            return ENG_ENOMEM;
        }
    }
    bind_specs(f, &hp, global_specs, sizeof global_specs / sizeof global_specs[0], -1, m, r);
    for (uint32_t l = 0; l < hp.n_layer && l < 4096; l++)
        bind_specs(f, &hp, layer_specs, sizeof layer_specs / sizeof layer_specs[0], (int)l,
                   m ? &m->layers[l] : NULL, r);
    char name[64];
    snprintf(name, sizeof name, "blk.%u.attn_norm.weight", hp.n_layer);
    if (gguf_find_tensor(f, name))
        report(r, "%s: tensor %s exists beyond block_count %u", f->name, name, hp.n_layer);
    return ENG_OK;
}

int eng_check(const gguf_file *f, void (*fn)(void *ud, const char *problem), void *ud)
{
    reporter r = {fn, ud, NULL, 0, 0};
    int st = examine(f, &r, NULL);
    return st < 0 ? st : r.count;
}

/* Bytes of t packed for m's kernels; 0 when absent or without a packed form. */
static size_t packed_size(const eng_model *m, const gguf_tensor *t)
{
    return t ? kern_pack_size(&m->pack_cpu, t->type, t->ne[0], t->ne[1]) : 0;
}

/* Whether ts[0..n) can be packed into one matrix: all packable, of one
 * type and one input size, each but the last a whole number of the rows
 * the packed layout keeps together (their rows are then simply one after
 * another). */
static bool fusable(const eng_model *m, const gguf_tensor *const *ts, size_t n)
{
    if (!packed_size(m, ts[0]))
        return false;
    size_t grain = kern_pack_grain(&m->pack_cpu, ts[0]->type, ts[0]->ne[0]);
    for (size_t i = 0; i < n; i++)
        if (!packed_size(m, ts[i]) || ts[i]->type != ts[0]->type || ts[i]->ne[0] != ts[0]->ne[0] ||
            (i + 1 < n && ts[i]->ne[1] % grain))
            return false;
    return true;
}

/* Pack ts[0..n) one after another into the model's packed buffer (from
 * the next 64-byte boundary), so that their products may run as one. The
 * stored copies' pages are handed back to the OS, so memory stays about
 * the file's size, except the token embeddings' (their rows are also read
 * as stored). */
static const void *pack_run(eng_model *m, const gguf_tensor *const *ts, size_t n)
{
    m->pack_used = (m->pack_used + 63) & ~(size_t)63;
    uint8_t *run = m->pack_buf + m->pack_used;
    for (size_t i = 0; i < n; i++) {
        const gguf_tensor *t = ts[i];
        uint8_t *p = m->pack_buf + m->pack_used;
        kern_pack(&m->pack_cpu, t->type, t->data, t->ne[0], t->ne[1], p);
        m->packed[t - m->f->tensors] = p;
        if (t != m->tok_embd)
            gguf_drop_pages(m->f, t->data, t->nbytes);
        m->pack_used += packed_size(m, t);
    }
    return run;
}

/* Each matrix alone, if it has a packed form and is not packed yet. */
static void pack_each(eng_model *m, const gguf_tensor *const *ts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (packed_size(m, ts[i]) && !m->packed[ts[i] - m->f->tensors])
            pack_run(m, &ts[i], 1);
}

/* The matrices of layer L: its attention's, then its feed-forward's, in
 * the order a token's products read them. */
#define LAYER_ATTN_MATS(L) (L)->wq, (L)->wk, (L)->wv, (L)->wqkv, (L)->wo
#define LAYER_FF_MATS(L) (L)->w_gate, (L)->w_up, (L)->w_down
#define LAYER_MATS(L) {LAYER_ATTN_MATS(L), LAYER_FF_MATS(L)}

/* Pack every matrix the CPU's kernels have a packed form for into one
 * buffer (read as one stream of huge pages where the OS has them), in the
 * order a token's products read them: layer by layer, the output head
 * last; a layer's q, k and v, and its gate and up, into one matrix each
 * when they can be. */
static int pack_weights(eng_model *m, char *err, size_t errlen)
{
    kern_cpu_detect(&m->pack_cpu);
    /* every packable matrix once, each run from a 64-byte boundary */
    size_t total = packed_size(m, m->output) ? packed_size(m, m->output) + 64 : 0;
    for (uint32_t l = 0; l < m->hp.n_layer; l++) {
        const gguf_tensor *mats[] = LAYER_MATS(&m->layers[l]);
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++)
            total += packed_size(m, mats[i]) ? packed_size(m, mats[i]) + 64 : 0;
    }
    if (!total)
        return ENG_OK; /* nothing these kernels pack: the weights are read as stored */
    m->packed = calloc(m->f->n_tensors ? m->f->n_tensors : 1, sizeof *m->packed);
    m->pack_buf = kern_alloc_stream(total);
    if (!m->packed || !m->pack_buf)
        return eng_fail(err, errlen, ENG_ENOMEM, "%s: out of memory packing the weights (%zu bytes)", m->f->name,
                        total);
    for (uint32_t l = 0; l < m->hp.n_layer; l++) {
        eng_layer *L = &m->layers[l];
        const gguf_tensor *qkv[] = {L->wq, L->wk, L->wv}, *gu[] = {L->w_gate, L->w_up};
        const gguf_tensor *attn[] = {LAYER_ATTN_MATS(L)}, *ff[] = {LAYER_FF_MATS(L)};
        if (fusable(m, qkv, 3))
            L->pk_qkv = pack_run(m, qkv, 3);
        pack_each(m, attn, sizeof attn / sizeof attn[0]);
        if (fusable(m, gu, 2))
            L->pk_gate_up = pack_run(m, gu, 2);
        pack_each(m, ff, sizeof ff / sizeof ff[0]);
    }
    pack_each(m, &m->output, 1);
    return ENG_OK;
}

int eng_model_load(eng_model **out, const gguf_file *f, char *err, size_t errlen)
{
    *out = NULL;
    eng_model *m = calloc(1, sizeof *m);
    if (!m)
        return eng_fail(err, errlen, ENG_ENOMEM, "out of memory loading %s", f->name);
    m->f = f;
    reporter r = {NULL, NULL, err, errlen, 0};
    int st = examine(f, &r, m);
    if (st == ENG_OK && r.count)
        st = ENG_EFORMAT;
    if (st != ENG_OK) {
        eng_model_free(m);
        return st;
    }
    const eng_arch a = m->hp.arch;
    m->neox = a != ENG_ARCH_LLAMA;
    m->layer_norm = a == ENG_ARCH_PHI2;
    if (!m->output)
        m->output = m->tok_embd; /* tied embedding */
    st = pack_weights(m, err, errlen);
    if (st != ENG_OK) {
        eng_model_free(m);
        return st;
    }
    *out = m;
    return ENG_OK;
}

int eng_model_open(eng_model **out, const char *path, char *err, size_t errlen)
{
    *out = NULL;
    gguf_file *f = calloc(1, sizeof *f);
    if (!f)
        return eng_fail(err, errlen, ENG_ENOMEM, "out of memory opening %s", path);
    if (gguf_open(f, path, err, errlen) != GGUF_OK) {
        free(f);
        return ENG_EIO;
    }
    int st = eng_model_load(out, f, err, errlen);
    if (st != ENG_OK) {
        gguf_close(f);
        free(f);
        return st;
    }
    (*out)->owned = f;
    return ENG_OK;
}

void eng_model_free(eng_model *m)
{
    if (!m)
        return;
    free(m->pack_buf);
    free(m->packed);
    free(m->layers);
    if (m->owned) {
        gguf_close(m->owned);
        free(m->owned);
    }
    free(m);
}

const eng_hparams *eng_model_hparams(const eng_model *m)
{
    return &m->hp;
}

const gguf_file *eng_model_file(const eng_model *m)
{
    return m->f;
}

const void *eng_model_stream(const eng_model *m, const kern_cpu *cpu, size_t *bytes)
{
    if (eng_packed_for(m, cpu)) {
        *bytes = m->pack_used;
        return m->pack_buf;
    }
    *bytes = (size_t)(m->f->size - m->f->data_offset);
    return m->f->base + m->f->data_offset;
}
