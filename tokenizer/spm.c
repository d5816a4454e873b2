/* SentencePiece-style encoding: merge adjacent pieces by the highest vocab
 * score, then fall back to <0xNN> byte tokens for what is left unknown. */
#include <string.h>

#include "tokenizer/internal.h"
#include "tokenizer/merge.h"
#include "tokenizer/unicode.h"

/* Order-reversing integer for a float: larger scores give smaller prio so
 * they pop first. */
static uint32_t score_prio(float score)
{
    uint32_t u;
    memcpy(&u, &score, sizeof u);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return ~u;
}

static int try_pair(const tok_vocab *v, tok_work *w, const char *s, int32_t left)
{
    tok_sym *sym = w->syms->v;
    if (left < 0 || sym[left].next < 0)
        return TOK_OK;
    int32_t right = sym[left].next;
    uint32_t size = sym[left].len + sym[right].len;
    int32_t id = tok_lookup(v, s + sym[left].start, size);
    if (id < 0)
        return TOK_OK;
    return tok_heap_push(w->heap, tok_bigram_make(score_prio(v->scores[id]), left, size, id));
}

/* A symbol's token, or its bytes as <0xNN> tokens (the unknown token
 * for a byte the vocabulary lacks). */
static int emit_symbol(const tok_vocab *v, const char *s, const tok_sym *sym, tok_ids *out)
{
    if (sym->id >= 0)
        return tok_ids_push(out, sym->id);
    for (uint32_t i = 0; i < sym->len; i++) {
        int32_t id = v->byte_tok[(uint8_t)s[sym->start + i]];
        if (id < 0)
            id = v->sp.unk;
        if (id >= 0 && tok_ids_push(out, id) != TOK_OK)
            return TOK_ENOMEM;
    }
    return TOK_OK;
}

static bool is_space_mark(const char *s, size_t len)
{
    return len == 3 && memcmp(s, "\xe2\x96\x81", 3) == 0;
}

/* Merge the symbols (UTF-8 characters) of one chunk of escaped text. */
static int merge_chunk(const tok_vocab *v, tok_work *w, const char *s, size_t n, tok_ids *out)
{
    tok_syms *syms = w->syms;
    syms->n = 0;
    if (tok_syms_reserve(syms, n) != TOK_OK)
        return TOK_ENOMEM;
    for (size_t i = 0; i < n;) {
        size_t cl = tok_utf8_len((uint8_t)s[i]);
        if (cl > n - i)
            cl = n - i;
        tok_sym *y = &syms->v[syms->n++];
        y->start = (uint32_t)i;
        y->len = (uint32_t)cl;
        y->id = tok_lookup(v, s + i, cl);
        i += cl;
    }
    if (tok_merge_all(v, w, s, try_pair) != TOK_OK)
        return TOK_ENOMEM;
    for (int32_t i = 0; i >= 0; i = syms->v[i].next)
        if (emit_symbol(v, s, &syms->v[i], out) != TOK_OK)
            return TOK_ENOMEM;
    return TOK_OK;
}

int tok_spm_encode(const tok_vocab *v, tok_work *w, const char *text, size_t len,
                   bool add_space, tok_ids *out)
{
    /* Spaces become U+2581 (3 bytes each). */
    size_t spaces = add_space;
    for (size_t i = 0; i < len; i++)
        spaces += text[i] == ' ';
    if (len > (SIZE_MAX - 2 * spaces) / 2 || len + 2 * spaces > UINT32_MAX - 4)
        return TOK_ENOMEM;
    if (tok_work_buf(w, len + 2 * spaces + 3) != TOK_OK)
        return TOK_ENOMEM;
    char *s = w->buf;
    size_t n = 0;
    for (size_t i = 0; i < len + add_space; i++) {
        char c = add_space ? (i == 0 ? ' ' : text[i - 1]) : text[i];
        if (c == ' ') {
            memcpy(s + n, "\xe2\x96\x81", 3);
            n += 3;
        } else {
            s[n++] = c;
        }
    }
    /* Where no token holds U+2581 after another character, no merge can
     * cross the start of a run of them: each "word" is merged on its own
     * (same result, bounded heaps, and repeated words come from the cache).
     * Chunks end on character boundaries, as the symbols do. */
    for (size_t i = 0; i < n;) {
        size_t j = i;
        bool prev_space = false;
        while (j < n) {
            size_t cl = tok_utf8_len((uint8_t)s[j]);
            if (cl > n - j)
                cl = n - j;
            bool sp = is_space_mark(s + j, cl);
            if (v->spm_split && sp && !prev_space && j > i)
                break;
            prev_space = sp;
            j += cl;
        }
        int rc = tok_encode_cached(v, w, s + i, j - i, out, merge_chunk);
        if (rc != TOK_OK)
            return rc;
        i = j;
    }
    return TOK_OK;
}
