/* libFuzzer harness: models built from the fuzzer's bytes (architecture,
 * small hyper-parameters, some tensors dropped or misshapen, odd metadata
 * types), then eng_check, loading and a short evaluation. Anything
 * eng_check and eng_model_load accept must evaluate without a fault. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

typedef struct src {
    const uint8_t *p;
    size_t n;
} src;

static unsigned take(src *s, unsigned mod)
{
    if (!s->n)
        return 0;
    unsigned v = *s->p++;
    s->n--;
    return mod ? v % mod : v;
}

static void on_problem(void *ud, const char *problem)
{
    (void)problem;
    (*(int *)ud)++;
}

static const char *const archs[] = {"llama", "qwen2", "phi2", "phi3", "gemma", "mamba"};

static const char *const layer_names[] = {
    "attn_norm.weight", "attn_norm.bias", "attn_q.weight", "attn_k.weight", "attn_v.weight",
    "attn_q.bias", "attn_k.bias", "attn_v.bias", "attn_qkv.weight", "attn_qkv.bias",
    "attn_output.weight", "attn_output.bias", "ffn_norm.weight", "ffn_gate.weight",
    "ffn_up.weight", "ffn_up.bias", "ffn_down.weight", "ffn_down.bias",
};

/* A tensor of F32 or Q8_0 values: ne0 x ne1, with fuzzer-chosen noise. */
static void add(gguf_writer *w, src *s, const char *name, uint64_t ne0, uint64_t ne1)
{
    if (take(s, 16) == 0)
        return; /* dropped */
    if (take(s, 16) == 0)
        ne0 += 32; /* misshapen */
    uint64_t ne[2] = {ne0, ne1};
    bool q8 = ne0 % 32 == 0 && take(s, 2);
    size_t bytes = q8 ? (size_t)(ne0 / 32 * 34 * ne1) : (size_t)(ne0 * ne1 * 4);
    uint8_t *data = calloc(bytes ? bytes : 1, 1);
    if (!data)
        return;
    for (size_t i = 0; i + 4 <= bytes; i += 4) {
        float v = (float)((int)take(s, 0) - 128) / 256.0f;
        memcpy(data + i, &v, 4);
    }
    if (q8)
        for (size_t b = 0; b < bytes; b += 34)
            data[b + 1] = 0x20; /* finite F16 scales */
    gguf_writer_tensor(w, name, q8 ? GGUF_T_Q8_0 : GGUF_T_F32, ne1 > 1 ? 2 : 1, ne, data);
    free(data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    src s = {data, size};
    const char *arch = archs[take(&s, 6)];
    uint32_t n_head = 1 + take(&s, 4), n_kv = 1 + take(&s, 4), hd = 32 * (1 + take(&s, 2));
    uint32_t n_embd = 32 * (1 + take(&s, 4)), n_ff = 32 * (1 + take(&s, 4)), n_layer = take(&s, 3);
    uint32_t vocab = 8 + take(&s, 32), rot = 2 * take(&s, 40);
    gguf_writer *w = gguf_writer_new(32);
    if (!w)
        return 0;
    char key[96];
    gguf_writer_str(w, "general.architecture", arch);
#define KEY(k) (snprintf(key, sizeof key, "%s.%s", arch, k), key)
    gguf_writer_u32(w, KEY("block_count"), n_layer);
    gguf_writer_u32(w, KEY("embedding_length"), n_embd);
    gguf_writer_u32(w, KEY("feed_forward_length"), n_ff);
    gguf_writer_u32(w, KEY("attention.head_count"), n_head);
    if (take(&s, 2))
        gguf_writer_u32(w, KEY("attention.head_count_kv"), n_kv);
    if (take(&s, 2))
        gguf_writer_u32(w, KEY("attention.key_length"), hd);
    else
        hd = n_embd / n_head;
    if (take(&s, 2))
        gguf_writer_u32(w, KEY("rope.dimension_count"), rot);
    if (take(&s, 4) == 0)
        gguf_writer_str(w, KEY("rope.freq_base"), "not a number");
    gguf_writer_f32(w, KEY("attention.layer_norm_rms_epsilon"), take(&s, 8) ? 1e-5f : 0.0f);
    uint64_t q = (uint64_t)n_head * hd, kv = (uint64_t)n_kv * hd;
    add(w, &s, "token_embd.weight", n_embd, vocab);
    add(w, &s, "output_norm.weight", n_embd, 1);
    add(w, &s, "output_norm.bias", n_embd, 1);
    add(w, &s, "output.weight", n_embd, vocab);
    add(w, &s, "output.bias", vocab, 1);
    for (uint32_t l = 0; l < n_layer; l++) {
        const uint64_t shapes[][2] = {
            {n_embd, 1}, {n_embd, 1}, {n_embd, q}, {n_embd, kv}, {n_embd, kv}, {q, 1}, {kv, 1},
            {kv, 1}, {n_embd, q + 2 * kv}, {q + 2 * kv, 1}, {q, n_embd}, {n_embd, 1}, {n_embd, 1},
            {n_embd, n_ff}, {n_embd, take(&s, 2) ? n_ff : 2 * (uint64_t)n_ff}, {n_ff, 1},
            {n_ff, n_embd}, {n_embd, 1},
        };
        for (size_t i = 0; i < sizeof layer_names / sizeof layer_names[0]; i++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%u.%s", l, layer_names[i]);
            add(w, &s, name, shapes[i][0], shapes[i][1]);
        }
    }
    uint8_t *file;
    size_t fsize;
    if (gguf_writer_finish(w, &file, &fsize) == 0) {
        gguf_file f;
        char err[256];
        if (gguf_open_mem(&f, file, fsize, "fuzz.gguf", err, sizeof err) == GGUF_OK) {
            int problems = 0;
            int n = eng_check(&f, on_problem, &problems);
            eng_model *m = NULL;
            int st = eng_model_load(&m, &f, err, sizeof err);
            if ((st == ENG_OK) != (n == 0))
                abort(); /* load and check must agree */
            if (st == ENG_OK) {
                eng_ctx_params p = eng_ctx_default_params();
                p.n_ctx = 8;
                p.kv_type = take(&s, 2) ? ENG_KV_F16 : ENG_KV_F32;
                p.reference = take(&s, 2);
                eng_ctx *c = NULL;
                if (eng_ctx_new(&c, m, &p, err, sizeof err) == ENG_OK) {
                    int32_t toks[3] = {(int32_t)take(&s, 0), (int32_t)take(&s, 0), (int32_t)vocab - 1};
                    eng_eval(c, toks, 3, true, err, sizeof err);
                    eng_eval(c, toks + 2, 1, false, err, sizeof err);
                    eng_ctx_free(c);
                }
                eng_model_free(m);
            }
            gguf_close(&f);
        }
        free(file);
    }
    gguf_writer_free(w);
    return 0;
}
