/* Binary heap of candidate merges. */
#include <stdbool.h>
#include <stdlib.h>

#include "tokenizer/internal.h"
#include "tokenizer/merge.h"

static bool before(const tok_bigram *a, const tok_bigram *b)
{
    return a->prio < b->prio || (a->prio == b->prio && a->left < b->left);
}

int tok_heap_push(tok_heap *h, tok_bigram b)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        tok_bigram *p = realloc(h->v, cap * sizeof *p);
        if (!p)
            return TOK_ENOMEM;
        h->v = p;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&b, &h->v[parent]))
            break;
        h->v[i] = h->v[parent];
        i = parent;
    }
    h->v[i] = b;
    return TOK_OK;
}

bool tok_heap_pop(tok_heap *h, tok_bigram *out)
{
    if (h->n == 0)
        return false;
    *out = h->v[0];
    tok_bigram last = h->v[--h->n];
    size_t i = 0, n = h->n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && before(&h->v[c + 1], &h->v[c]))
            c++;
        if (!before(&h->v[c], &last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (n > 0)
        h->v[i] = last;
    return true;
}

int tok_syms_reserve(tok_syms *s, size_t n)
{
    if (n <= s->cap)
        return TOK_OK;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < n)
        cap *= 2;
    tok_sym *p = realloc(s->v, cap * sizeof *p);
    if (!p)
        return TOK_ENOMEM;
    s->v = p;
    s->cap = cap;
    return TOK_OK;
}
