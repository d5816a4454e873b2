/* SentencePiece-style encoding: merge adjacent pieces by the highest vocab
 * score, then fall back to <0xNN> byte tokens for what is left unknown. */
#include <string.h>

#include "tokenizer/internal.h"
#include "tokenizer/merge.h"
#include "tokenizer/unicode.h"

/* Order-preserving integer for a float: larger scores give smaller prio so
 * they pop first. */
static int64_t score_prio(float score)
{
    uint32_t u;
    memcpy(&u, &score, sizeof u);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return -(int64_t)u;
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
    tok_bigram b = {score_prio(v->scores[id]), left, right, size, id};
    return tok_heap_push(w->heap, b);
}

static int emit_symbol(const tok_vocab *v, const char *s, const tok_sym *sym, tok_ids *out)
{
    int32_t id = tok_lookup(v, s + sym->start, sym->len);
    if (id >= 0)
        return tok_ids_push(out, id);
    for (uint32_t i = 0; i < sym->len; i++) {
        id = v->byte_tok[(uint8_t)s[sym->start + i]];
        if (id < 0)
            id = v->sp.unk;
        if (id >= 0 && tok_ids_push(out, id) != TOK_OK)
            return TOK_ENOMEM;
    }
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
    if (n == 0)
        return TOK_OK;

    tok_syms *syms = w->syms;
    syms->n = 0;
    if (tok_syms_reserve(syms, n) != TOK_OK)
        return TOK_ENOMEM;
    for (size_t i = 0; i < n;) {
        size_t cl = tok_utf8_len((uint8_t)s[i]);
        if (cl > n - i)
            cl = n - i;
        tok_sym *y = &syms->v[syms->n];
        y->start = (uint32_t)i;
        y->len = (uint32_t)cl;
        y->prev = (int32_t)syms->n - 1;
        y->next = (int32_t)syms->n + 1;
        syms->n++;
        i += cl;
    }
    syms->v[syms->n - 1].next = -1;

    w->heap->n = 0;
    for (size_t i = 0; i + 1 < syms->n; i++)
        if (try_pair(v, w, s, (int32_t)i) != TOK_OK)
            return TOK_ENOMEM;
    tok_bigram b;
    while (tok_heap_pop(w->heap, &b)) {
        tok_sym *l = &syms->v[b.left], *r = &syms->v[b.right];
        if (l->len == 0 || r->len == 0 || l->len + r->len != b.size)
            continue;
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0)
            syms->v[r->next].prev = b.left;
        if (try_pair(v, w, s, l->prev) != TOK_OK || try_pair(v, w, s, b.left) != TOK_OK)
            return TOK_ENOMEM;
    }
    for (int32_t i = 0; i >= 0; i = syms->v[i].next)
        if (emit_symbol(v, s, &syms->v[i], out) != TOK_OK)
            return TOK_ENOMEM;
    return TOK_OK;
}
