/* Byte-level BPE encoding: pre-tokenize, then merge the bytes of each word
 * by merge rank (lowest first). */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/internal.h"
#include "tokenizer/merge.h"
#include "tokenizer/unicode.h"

static int reserve_cps(tok_work *w, size_t n)
{
    if (tok_reserve(&w->cps, &w->cps_cap, n, sizeof *w->cps) != TOK_OK)
        return TOK_ENOMEM;
    return tok_reserve(&w->cp_off, &w->cp_off_cap, n + 1, sizeof *w->cp_off);
}

/* Code points of s with their byte offsets; *bad when some bytes were not
 * valid UTF-8 (they decoded to U+FFFD). */
static size_t decode_all(tok_work *w, const uint8_t *s, size_t len, bool *bad)
{
    size_t n = 0;
    *bad = false;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = tok_utf8_decode(s + i, len - i, &cp);
        *bad |= cp == TOK_UNI_REPLACEMENT && k == 1;
        w->cps[n] = cp;
        w->cp_off[n++] = (uint32_t)i;
        i += k;
    }
    w->cp_off[n] = (uint32_t)len;
    return n;
}

static int try_pair(const tok_vocab *v, tok_work *w, const char *s, int32_t left)
{
    tok_sym *sym = w->syms->v;
    if (left < 0 || sym[left].next < 0)
        return TOK_OK;
    int32_t right = sym[left].next;
    const tok_merge *m = tok_merge_find(v, sym[left].id, sym[right].id);
    if (!m || m->result < 0)
        return TOK_OK;
    return tok_heap_push(w->heap, tok_bigram_make((uint32_t)m->rank, left,
                                                  sym[left].len + sym[right].len, m->result));
}

static int merge_word(const tok_vocab *v, tok_work *w, const uint8_t *s, size_t n, tok_ids *out)
{
    tok_syms *syms = w->syms;
    if (tok_syms_reserve(syms, n) != TOK_OK)
        return TOK_ENOMEM;
    syms->n = n;
    for (size_t i = 0; i < n; i++) {
        tok_sym *y = &syms->v[i];
        y->start = (uint32_t)i;
        y->len = 1;
        y->id = v->byte_tok[s[i]];
    }
    if (tok_merge_all(v, w, (const char *)s, try_pair) != TOK_OK)
        return TOK_ENOMEM;
    for (int32_t i = 0; i >= 0; i = syms->v[i].next)
        if (syms->v[i].id >= 0 && tok_ids_push(out, syms->v[i].id) != TOK_OK)
            return TOK_ENOMEM;
    return TOK_OK;
}

/* The whole word as one token, when the vocabulary has it. */
static int32_t whole_word(const tok_vocab *v, tok_work *w, const uint8_t *s, size_t n)
{
    if (n > (SIZE_MAX - 1) / 2 || tok_work_buf(w, 2 * n) != TOK_OK)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(w->buf + k, v->byte_map[s[i]], v->byte_map_len[s[i]]);
        k += v->byte_map_len[s[i]];
    }
    return tok_lookup(v, w->buf, k);
}

static int encode_word(const tok_vocab *v, tok_work *w, const char *word, size_t n,
                       tok_ids *out)
{
    const uint8_t *s = (const uint8_t *)word;
    if (n == 1) {
        int32_t id = v->byte_tok[s[0]];
        return id >= 0 ? tok_ids_push(out, id) : TOK_OK;
    }
    if (v->ignore_merges) {
        int32_t id = whole_word(v, w, s, n);
        if (id >= 0)
            return tok_ids_push(out, id);
    }
    return merge_word(v, w, s, n, out);
}

/* Text with every invalid byte replaced by U+FFFD, as the reference does
 * before byte-level encoding; into a fresh buffer (*fixed, freed by the
 * caller), with the code point offsets moved onto it. */
static int repair(tok_work *w, size_t n, char **fixed)
{
    if (n > SIZE_MAX / 4)
        return TOK_ENOMEM;
    char *p = malloc(4 * n + 1);
    if (!p)
        return TOK_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        w->cp_off[i] = (uint32_t)k;
        k += tok_utf8_encode(w->cps[i], (uint8_t *)p + k);
    }
    w->cp_off[n] = (uint32_t)k;
    *fixed = p;
    return TOK_OK;
}

int tok_bpe_encode(const tok_vocab *v, tok_work *w, const char *text, size_t len,
                   tok_ids *out)
{
    if (len == 0)
        return TOK_OK;
    if (len > UINT32_MAX / 4 || reserve_cps(w, len) != TOK_OK)
        return TOK_ENOMEM;
    bool bad;
    size_t n = decode_all(w, (const uint8_t *)text, len, &bad);
    char *fixed = NULL;
    if (bad) {
        if (repair(w, n, &fixed) != TOK_OK)
            return TOK_ENOMEM;
        text = fixed;
    }
    int rc = tok_pretokenize(v->pre, w->cps, n, &w->ends);
    size_t s = 0;
    for (size_t i = 0; i < w->ends.n && rc == TOK_OK; i++) {
        size_t e = w->ends.v[i];
        size_t a = w->cp_off[s], b = w->cp_off[e];
        rc = tok_encode_cached(v, w, text + a, b - a, out, encode_word);
        s = e;
    }
    free(fixed);
    return rc;
}
