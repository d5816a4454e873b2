/* Building a tok_vocab from the tokenizer.ggml.* metadata of a GGUF file. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/internal.h"
#include "tokenizer/unicode.h"

void tok_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* FNV-1a: token texts are short, so a simple byte hash is enough. */
static uint32_t hash_bytes(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static uint32_t hash_u64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (uint32_t)k;
}

/* Smallest power of two >= 2n (load factor <= 1/2). */
static uint32_t table_size(size_t n)
{
    uint32_t sz = 16;
    while (sz < 2 * n)
        sz *= 2;
    return sz;
}

int32_t tok_lookup(const tok_vocab *v, const char *s, size_t len)
{
    uint32_t i = hash_bytes(s, len) & v->hash_mask;
    for (;;) {
        int32_t id = v->hash[i];
        if (id < 0)
            return -1;
        size_t tl;
        const char *t = tok_text_of(v, id, &tl);
        if (tl == len && memcmp(t, s, len) == 0)
            return id;
        i = (i + 1) & v->hash_mask;
    }
}

const tok_merge *tok_merge_find(const tok_vocab *v, int32_t a, int32_t b)
{
    if (!v->merges || a < 0 || b < 0)
        return NULL;
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    uint32_t i = hash_u64(key) & v->merge_mask;
    for (;;) {
        const tok_merge *m = &v->merges[i];
        if (m->key == key)
            return m;
        if (m->key == UINT64_MAX)
            return NULL;
        i = (i + 1) & v->merge_mask;
    }
}

int tok_reserve(void *pv, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return TOK_OK;
    size_t c = *cap ? *cap : 64;
    while (c < need) {
        if (c > SIZE_MAX / 2)
            return TOK_ENOMEM;
        c *= 2;
    }
    if (c > SIZE_MAX / elem)
        return TOK_ENOMEM;
    void *old;
    memcpy(&old, pv, sizeof old);
    void *p = realloc(old, c * elem);
    if (!p)
        return TOK_ENOMEM;
    memcpy(pv, &p, sizeof p);
    *cap = c;
    return TOK_OK;
}

int tok_ids_push(tok_ids *ids, int32_t id)
{
    if (tok_reserve(&ids->v, &ids->cap, ids->n + 1, sizeof *ids->v) != TOK_OK)
        return TOK_ENOMEM;
    ids->v[ids->n++] = id;
    return TOK_OK;
}

/* ---- byte-level mapping ---- */

/* Bytes that are printable Latin-1 keep their code point; the other 68
 * bytes take U+0100 onwards in byte order (the GPT-2 convention). */
static bool byte_is_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

uint32_t tok_byte_to_cp(uint8_t b)
{
    if (byte_is_printable(b))
        return b;
    uint32_t n = 0;
    for (unsigned i = 0; i < b; i++)
        n += !byte_is_printable(i);
    return 0x100 + n;
}

/* ---- loading ---- */

typedef struct pre_name {
    const char *name;
    tok_pre pre;
} pre_name;

static const pre_name pre_names[] = {
    {"default", TOK_PRE_DEFAULT},
    {"gpt-2", TOK_PRE_GPT2},
    {"gpt2", TOK_PRE_GPT2},
    {"mpt", TOK_PRE_GPT2},
    {"gpt-neox", TOK_PRE_GPT2},
    {"phi-2", TOK_PRE_GPT2},
    {"olmo", TOK_PRE_GPT2},
    {"llama-bpe", TOK_PRE_LLAMA3},
    {"llama3", TOK_PRE_LLAMA3},
    {"llama-v3", TOK_PRE_LLAMA3},
    {"smaug-bpe", TOK_PRE_LLAMA3},
    {"dbrx", TOK_PRE_LLAMA3},
    {"qwen2", TOK_PRE_QWEN2},
    {"stablelm2", TOK_PRE_QWEN2},
    {"deepseek-llm", TOK_PRE_DEEPSEEK_LLM},
    {"deepseek-coder", TOK_PRE_DEEPSEEK_CODER},
    {"falcon", TOK_PRE_FALCON},
    {"starcoder", TOK_PRE_STARCODER},
    {"refact", TOK_PRE_STARCODER},
    {"command-r", TOK_PRE_STARCODER},
    {"smollm", TOK_PRE_STARCODER},
};

static int set_pre(tok_vocab *v, gguf_str name, const char *file, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof pre_names / sizeof pre_names[0]; i++) {
        if (gguf_str_eq(name, pre_names[i].name)) {
            v->pre = pre_names[i].pre;
            snprintf(v->pre_name, sizeof v->pre_name, "%s", pre_names[i].name);
            v->ignore_merges = v->pre == TOK_PRE_LLAMA3;
            return TOK_OK;
        }
    }
    char list[512];
    size_t used = 0;
    list[0] = 0;
    for (size_t i = 0; i < sizeof pre_names / sizeof pre_names[0] && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                 pre_names[i].name);
    tok_seterr(err, errlen, "%s: tokenizer.ggml.pre '%.*s' is not supported (supported: %s)",
               file, (int)(name.len > 64 ? 64 : name.len), name.ptr, list);
    return TOK_EUNSUPPORTED;
}

/* Copy the token texts and build the text -> id table. */
static int load_texts(tok_vocab *v, const gguf_kv *toks, const char *file, char *err,
                      size_t errlen)
{
    uint64_t total = 0;
    for (int32_t i = 0; i < v->n; i++) {
        total += gguf_arr_str(toks, (uint64_t)i).len;
        if (total > UINT32_MAX - 1) {
            tok_seterr(err, errlen, "%s: tokenizer.ggml.tokens: texts exceed 4 GiB", file);
            return TOK_EFORMAT;
        }
    }
    v->text = malloc(total + 1);
    v->text_off = malloc(((size_t)v->n + 1) * sizeof *v->text_off);
    v->hash_mask = table_size((size_t)v->n) - 1;
    v->hash = malloc(((size_t)v->hash_mask + 1) * sizeof *v->hash);
    if (!v->text || !v->text_off || !v->hash)
        return TOK_ENOMEM;
    memset(v->hash, 0xff, ((size_t)v->hash_mask + 1) * sizeof *v->hash);
    uint32_t off = 0;
    for (int32_t i = 0; i < v->n; i++) {
        gguf_str s = gguf_arr_str(toks, (uint64_t)i);
        v->text_off[i] = off;
        memcpy(v->text + off, s.ptr, s.len);
        off += (uint32_t)s.len;
    }
    v->text_off[v->n] = off;
    /* Later ids win for duplicate texts, as the reference's map does. */
    for (int32_t i = 0; i < v->n; i++) {
        size_t len;
        const char *t = tok_text_of(v, i, &len);
        uint32_t h = hash_bytes(t, len) & v->hash_mask;
        for (;;) {
            int32_t id = v->hash[h];
            size_t l2;
            if (id < 0 || (l2 = v->text_off[id + 1] - v->text_off[id], l2 == len &&
                           memcmp(v->text + v->text_off[id], t, len) == 0)) {
                v->hash[h] = i;
                break;
            }
            h = (h + 1) & v->hash_mask;
        }
    }
    return TOK_OK;
}

static int load_types_scores(tok_vocab *v, const gguf_file *f, char *err, size_t errlen)
{
    v->types = malloc((size_t)v->n);
    if (!v->types)
        return TOK_ENOMEM;
    memset(v->types, TOK_T_NORMAL, (size_t)v->n);
    const gguf_kv *kv = gguf_find(f, "tokenizer.ggml.token_type");
    if (kv) {
        if (kv->type != GGUF_V_ARRAY || kv->v.arr.n != (uint64_t)v->n ||
            kv->v.arr.type == GGUF_V_STRING || kv->v.arr.type == GGUF_V_ARRAY) {
            tok_seterr(err, errlen,
                       "%s: tokenizer.ggml.token_type must be an integer array of %d", f->name,
                       (int)v->n);
            return TOK_EFORMAT;
        }
        for (int32_t i = 0; i < v->n; i++) {
            int64_t t = gguf_arr_int(kv, (uint64_t)i);
            v->types[i] = (uint8_t)(t >= 0 && t <= TOK_T_BYTE ? t : TOK_T_UNDEFINED);
        }
    }
    if (v->kind != TOK_KIND_SPM)
        return TOK_OK;
    v->scores = calloc((size_t)v->n, sizeof *v->scores);
    if (!v->scores)
        return TOK_ENOMEM;
    kv = gguf_find(f, "tokenizer.ggml.scores");
    if (kv) {
        if (kv->type != GGUF_V_ARRAY || kv->v.arr.n != (uint64_t)v->n ||
            kv->v.arr.type == GGUF_V_STRING || kv->v.arr.type == GGUF_V_ARRAY) {
            tok_seterr(err, errlen, "%s: tokenizer.ggml.scores must be a number array of %d",
                       f->name, (int)v->n);
            return TOK_EFORMAT;
        }
        for (int32_t i = 0; i < v->n; i++)
            v->scores[i] = (float)gguf_arr_float(kv, (uint64_t)i);
    }
    return TOK_OK;
}

static int load_merges(tok_vocab *v, const gguf_file *f, char *err, size_t errlen)
{
    const gguf_kv *kv;
    int rc = gguf_get_arr(f, "tokenizer.ggml.merges", GGUF_V_STRING, &kv, err, errlen);
    if (rc != GGUF_OK)
        return TOK_EFORMAT;
    uint64_t n = kv->v.arr.n;
    if (n > INT32_MAX / 2) {
        tok_seterr(err, errlen, "%s: tokenizer.ggml.merges: too many merges", f->name);
        return TOK_EFORMAT;
    }
    v->merge_mask = table_size((size_t)n) - 1;
    v->merges = malloc(((size_t)v->merge_mask + 1) * sizeof *v->merges);
    if (!v->merges)
        return TOK_ENOMEM;
    for (size_t i = 0; i <= v->merge_mask; i++)
        v->merges[i].key = UINT64_MAX;
    char *cat = NULL;
    size_t cat_cap = 0;
    for (uint64_t r = 0; r < n; r++) {
        gguf_str s = gguf_arr_str(kv, r);
        /* The separator is the first space after the first byte. */
        const char *sp = s.len > 1 ? memchr(s.ptr + 1, ' ', s.len - 1) : NULL;
        if (!sp)
            continue;
        size_t ll = (size_t)(sp - s.ptr), rl = s.len - ll - 1;
        int32_t a = tok_lookup(v, s.ptr, ll), b = tok_lookup(v, sp + 1, rl);
        if (a < 0 || b < 0)
            continue;
        if (ll + rl > cat_cap) {
            char *p = realloc(cat, ll + rl);
            if (!p) {
                free(cat);
                return TOK_ENOMEM;
            }
            cat = p;
            cat_cap = ll + rl;
        }
        memcpy(cat, s.ptr, ll);
        memcpy(cat + ll, sp + 1, rl);
        uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
        uint32_t h = hash_u64(key) & v->merge_mask;
        while (v->merges[h].key != UINT64_MAX && v->merges[h].key != key)
            h = (h + 1) & v->merge_mask;
        if (v->merges[h].key == key)
            continue; /* the first rank of a pair wins */
        v->merges[h].key = key;
        v->merges[h].rank = (int32_t)r;
        v->merges[h].result = tok_lookup(v, cat, ll + rl);
    }
    free(cat);
    return TOK_OK;
}

/* Decoded bytes of every token (what tok_piece returns). */
static int build_pieces(tok_vocab *v)
{
    size_t total = v->text_off[v->n];
    /* A piece is never longer than its text: ▁ (3 bytes) becomes 1 and a
     * mapped character (1-2 bytes) becomes 1, except unmapped characters
     * kept as they are. */
    v->piece = malloc(total + 1);
    v->piece_off = malloc(((size_t)v->n + 1) * sizeof *v->piece_off);
    if (!v->piece || !v->piece_off)
        return TOK_ENOMEM;
    /* Mapped code points run up to U+0143. */
    int16_t rev[0x144];
    memset(rev, 0xff, sizeof rev);
    for (unsigned b = 0; b < 256; b++)
        rev[tok_byte_to_cp((uint8_t)b)] = (int16_t)b;
    uint32_t off = 0;
    for (int32_t id = 0; id < v->n; id++) {
        size_t len;
        const uint8_t *t = (const uint8_t *)tok_text_of(v, id, &len);
        uint8_t *o = (uint8_t *)v->piece + off;
        size_t k = 0;
        int type = v->types[id];
        v->piece_off[id] = off;
        if (type == TOK_T_CONTROL || type == TOK_T_UNKNOWN || type == TOK_T_USER_DEFINED) {
            memcpy(o, t, len);
            k = len;
        } else if (type == TOK_T_BYTE && v->kind == TOK_KIND_SPM) {
            unsigned byte;
            char tail;
            char buf[16];
            size_t cl = len < sizeof buf - 1 ? len : sizeof buf - 1;
            memcpy(buf, t, cl);
            buf[cl] = 0;
            if (len == 6 && sscanf(buf, "<0x%2x%c", &byte, &tail) == 2 && tail == '>')
                o[k++] = (uint8_t)byte;
        } else if (type == TOK_T_NORMAL || type == TOK_T_UNDEFINED) {
            for (size_t i = 0; i < len;) {
                if (v->kind == TOK_KIND_SPM) {
                    if (len - i >= 3 && t[i] == 0xE2 && t[i + 1] == 0x96 && t[i + 2] == 0x81) {
                        o[k++] = ' ';
                        i += 3;
                    } else {
                        o[k++] = t[i++];
                    }
                    continue;
                }
                uint32_t cp;
                size_t n = tok_utf8_decode(t + i, len - i, &cp);
                int b = cp < 0x144 ? rev[cp] : -1;
                if (b >= 0) {
                    o[k++] = (uint8_t)b;
                } else {
                    memcpy(o + k, t + i, n);
                    k += n;
                }
                i += n;
            }
        }
        off += (uint32_t)k;
        if (k > v->max_piece)
            v->max_piece = k;
    }
    v->piece_off[v->n] = off;
    return TOK_OK;
}

static int32_t get_id(const gguf_file *f, const tok_vocab *v, const char *key, int32_t dflt)
{
    uint32_t id;
    if (gguf_get_u32(f, key, &id, NULL, 0) != GGUF_OK)
        return dflt;
    return id < (uint32_t)v->n ? (int32_t)id : -1;
}

static bool get_flag(const gguf_file *f, const char *key, bool dflt)
{
    bool b;
    return gguf_get_bool(f, key, &b, NULL, 0) == GGUF_OK ? b : dflt;
}

static int32_t find_first(const tok_vocab *v, const char *const *texts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int32_t id = tok_lookup(v, texts[i], strlen(texts[i]));
        if (id >= 0)
            return id;
    }
    return -1;
}

/* Texts that end a turn in the chat formats of the supported families. */
static const char *const eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
    "<|eom_id|>", "<EOT>", "<\357\275\234end\342\226\201of\342\226\201sentence\357\275\234>",
};
#define N_EOG_TEXTS (sizeof eog_texts / sizeof eog_texts[0])

static int load_specials(tok_vocab *v, const gguf_file *f)
{
    tok_specials *sp = &v->sp;
    bool spm = v->kind == TOK_KIND_SPM;
    sp->bos = get_id(f, v, "tokenizer.ggml.bos_token_id", spm && v->n > 1 ? 1 : -1);
    sp->eos = get_id(f, v, "tokenizer.ggml.eos_token_id", spm && v->n > 2 ? 2 : -1);
    sp->unk = get_id(f, v, "tokenizer.ggml.unknown_token_id", spm && v->n > 0 ? 0 : -1);
    sp->pad = get_id(f, v, "tokenizer.ggml.padding_token_id", -1);
    sp->sep = get_id(f, v, "tokenizer.ggml.seperator_token_id", -1);
    sp->eot = get_id(f, v, "tokenizer.ggml.eot_token_id", -1);
    sp->eom = get_id(f, v, "tokenizer.ggml.eom_token_id", -1);
    sp->fim_pre = get_id(f, v, "tokenizer.ggml.fim_pre_token_id", -1);
    sp->fim_suf = get_id(f, v, "tokenizer.ggml.fim_suf_token_id", -1);
    sp->fim_mid = get_id(f, v, "tokenizer.ggml.fim_mid_token_id", -1);
    sp->add_bos = get_flag(f, "tokenizer.ggml.add_bos_token", spm || v->pre == TOK_PRE_LLAMA3);
    sp->add_eos = get_flag(f, "tokenizer.ggml.add_eos_token", false);
    sp->add_space_prefix = spm && get_flag(f, "tokenizer.ggml.add_space_prefix", true);
    if (sp->eot < 0) {
        int32_t id = find_first(v, eog_texts, N_EOG_TEXTS);
        if (id >= 0 && v->types[id] == TOK_T_CONTROL)
            sp->eot = id;
    }
    sp->nl = spm ? v->byte_tok['\n'] : tok_lookup(v, "\xc4\x8a", 2);

    v->eog = malloc((N_EOG_TEXTS + 3) * sizeof *v->eog);
    if (!v->eog)
        return TOK_ENOMEM;
    int32_t cand[N_EOG_TEXTS + 3];
    size_t nc = 0;
    cand[nc++] = sp->eos;
    cand[nc++] = sp->eot;
    cand[nc++] = sp->eom;
    for (size_t i = 0; i < N_EOG_TEXTS; i++) {
        int32_t id = tok_lookup(v, eog_texts[i], strlen(eog_texts[i]));
        cand[nc++] = id >= 0 && v->types[id] == TOK_T_CONTROL ? id : -1;
    }
    for (size_t i = 0; i < nc; i++) {
        bool dup = cand[i] < 0;
        for (size_t j = 0; j < v->n_eog && !dup; j++)
            dup = v->eog[j] == cand[i];
        if (!dup)
            v->eog[v->n_eog++] = cand[i];
    }
    return TOK_OK;
}

static void load_byte_tokens(tok_vocab *v)
{
    for (unsigned b = 0; b < 256; b++) {
        char buf[8];
        size_t len;
        if (v->kind == TOK_KIND_SPM) {
            len = (size_t)snprintf(buf, sizeof buf, "<0x%02X>", b);
        } else {
            len = tok_utf8_encode(tok_byte_to_cp((uint8_t)b), (uint8_t *)buf);
            memcpy(v->byte_map[b], buf, len);
            v->byte_map_len[b] = (uint8_t)len;
        }
        v->byte_tok[b] = tok_lookup(v, buf, len);
    }
}

static bool is_space_mark(const char *t, size_t len)
{
    return len == 3 && memcmp(t, "\xe2\x96\x81", 3) == 0;
}

/* Whether SPM text may be cut before each run of U+2581 (see spm.c). */
static bool spm_can_split(const tok_vocab *v)
{
    for (int32_t id = 0; id < v->n; id++) {
        size_t len;
        const char *t = tok_text_of(v, id, &len);
        bool prev_space = true;
        for (size_t i = 0; i < len;) {
            size_t cl = tok_utf8_len((uint8_t)t[i]);
            cl = cl < len - i ? cl : len - i;
            bool sp = is_space_mark(t + i, cl);
            if (sp && !prev_space)
                return false;
            prev_space = sp;
            i += cl;
        }
    }
    return true;
}

static bool is_matched_type(int type)
{
    return type == TOK_T_CONTROL || type == TOK_T_UNKNOWN || type == TOK_T_USER_DEFINED;
}

/* The byte trie over the texts of the tokens tok_encode looks for first. */
static int build_trie(tok_vocab *v)
{
    size_t cap = 0;
    for (int32_t id = 0; id < v->n; id++)
        if (is_matched_type(v->types[id]))
            cap += v->text_off[id + 1] - v->text_off[id];
    memset(v->trie_root, 0xff, sizeof v->trie_root);
    if (cap == 0)
        return TOK_OK;
    v->trie = malloc(cap * sizeof *v->trie);
    if (!v->trie)
        return TOK_ENOMEM;
    for (int32_t id = 0; id < v->n; id++) {
        size_t len;
        const uint8_t *t = (const uint8_t *)tok_text_of(v, id, &len);
        if (!is_matched_type(v->types[id]) || len == 0)
            continue;
        if (len > v->max_special_len)
            v->max_special_len = len;
        int32_t *link = &v->trie_root[t[0]];
        int32_t node = -1;
        for (size_t i = 0; i < len; i++) {
            if (i > 0)
                link = &v->trie[node].child;
            while (*link >= 0 && v->trie[*link].byte != t[i])
                link = &v->trie[*link].sibling;
            if (*link < 0) {
                tok_trie_node *nn = &v->trie[v->n_trie];
                nn->child = nn->sibling = nn->token = -1;
                nn->byte = t[i];
                *link = (int32_t)v->n_trie++;
            }
            node = *link;
        }
        if (v->trie[node].token < 0)
            v->trie[node].token = id;
    }
    return TOK_OK;
}

int tok_vocab_load(tok_vocab **out, const gguf_file *f, char *err, size_t errlen)
{
    *out = NULL;
    gguf_str model;
    if (gguf_get_str(f, "tokenizer.ggml.model", &model, err, errlen) != GGUF_OK)
        return TOK_EFORMAT;
    tok_kind kind;
    if (gguf_str_eq(model, "llama")) {
        kind = TOK_KIND_SPM;
    } else if (gguf_str_eq(model, "gpt2")) {
        kind = TOK_KIND_BPE;
    } else {
        tok_seterr(err, errlen,
                   "%s: tokenizer.ggml.model '%.*s' is not supported (supported: llama, gpt2)",
                   f->name, (int)(model.len > 64 ? 64 : model.len), model.ptr);
        return TOK_EUNSUPPORTED;
    }
    const gguf_kv *toks;
    if (gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_V_STRING, &toks, err, errlen) != GGUF_OK)
        return TOK_EFORMAT;
    if (toks->v.arr.n == 0 || toks->v.arr.n >= INT32_MAX) {
        tok_seterr(err, errlen, "%s: tokenizer.ggml.tokens has %llu entries", f->name,
                   (unsigned long long)toks->v.arr.n);
        return TOK_EFORMAT;
    }
    tok_vocab *v = calloc(1, sizeof *v);
    if (!v)
        return TOK_ENOMEM;
    v->kind = kind;
    v->n = (int32_t)toks->v.arr.n;
    snprintf(v->pre_name, sizeof v->pre_name, "default");
    int rc = TOK_OK;
    if (kind == TOK_KIND_BPE) {
        gguf_str pre = {"default", 7};
        const gguf_kv *kv = gguf_find(f, "tokenizer.ggml.pre");
        if (kv && kv->type == GGUF_V_STRING)
            pre = kv->v.s;
        rc = set_pre(v, pre, f->name, err, errlen);
    }
    if (rc == TOK_OK)
        rc = load_texts(v, toks, f->name, err, errlen);
    if (rc == TOK_OK)
        rc = load_types_scores(v, f, err, errlen);
    if (rc == TOK_OK && kind == TOK_KIND_BPE)
        rc = load_merges(v, f, err, errlen);
    if (rc == TOK_OK) {
        load_byte_tokens(v);
        rc = load_specials(v, f);
    }
    if (rc == TOK_OK)
        rc = build_pieces(v);
    if (rc == TOK_OK)
        rc = build_trie(v);
    v->spm_split = kind == TOK_KIND_SPM && spm_can_split(v);
    if (rc != TOK_OK) {
        if (rc == TOK_ENOMEM)
            tok_seterr(err, errlen, "%s: out of memory loading the vocabulary", f->name);
        tok_vocab_free(v);
        return rc;
    }
    *out = v;
    return TOK_OK;
}

void tok_vocab_free(tok_vocab *v)
{
    if (!v)
        return;
    free(v->text);
    free(v->text_off);
    free(v->scores);
    free(v->types);
    free(v->piece);
    free(v->piece_off);
    free(v->hash);
    free(v->merges);
    free(v->trie);
    free(v->eog);
    free(v);
}

int32_t tok_n_vocab(const tok_vocab *v)
{
    return v->n;
}

tok_kind tok_vocab_kind(const tok_vocab *v)
{
    return v->kind;
}

const char *tok_pre_name(const tok_vocab *v)
{
    return v->pre_name;
}

const tok_specials *tok_get_specials(const tok_vocab *v)
{
    return &v->sp;
}

int tok_token_type(const tok_vocab *v, int32_t id)
{
    return id >= 0 && id < v->n ? v->types[id] : -1;
}

bool tok_is_eog(const tok_vocab *v, int32_t id)
{
    for (size_t i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id)
            return true;
    return false;
}

const char *tok_token_text(const tok_vocab *v, int32_t id, size_t *len)
{
    if (id < 0 || id >= v->n) {
        *len = 0;
        return NULL;
    }
    return tok_text_of(v, id, len);
}

int32_t tok_find(const tok_vocab *v, const char *text, size_t len)
{
    return tok_lookup(v, text, len);
}
