/* Binary heap of candidate merges. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/internal.h"
#include "tokenizer/merge.h"

static bool before(const tok_bigram *a, const tok_bigram *b)
{
    return a->key < b->key;
}

/* A 4-ary heap: half the depth of a binary one, and the four children of
 * a node share a cache line, which matters for the long words (megabytes of
 * one character) whose heaps outgrow the caches. */
int tok_heap_push(tok_heap *h, tok_bigram b)
{
    if (tok_reserve(&h->v, &h->cap, h->n + 1, sizeof *h->v) != TOK_OK)
        return TOK_ENOMEM;
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 4;
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
        size_t c = 4 * i + 1;
        if (c >= n)
            break;
        size_t best = c;
        size_t end = c + 4 < n ? c + 4 : n;
        for (size_t k = c + 1; k < end; k++)
            if (before(&h->v[k], &h->v[best]))
                best = k;
        if (!before(&h->v[best], &last))
            break;
        h->v[i] = h->v[best];
        i = best;
    }
    if (n > 0)
        h->v[i] = last;
    return true;
}

int tok_merge_all(const tok_vocab *v, tok_work *w, const char *s, tok_pair_fn pair)
{
    tok_sym *sym = w->syms->v;
    size_t n = w->syms->n;
    for (size_t i = 0; i < n; i++) {
        sym[i].prev = (int32_t)i - 1;
        sym[i].next = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    w->heap->n = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (pair(v, w, s, (int32_t)i) != TOK_OK)
            return TOK_ENOMEM;
    tok_bigram b;
    while (tok_heap_pop(w->heap, &b)) {
        int32_t left = tok_bigram_left(&b);
        tok_sym *l = &sym[left];
        if (l->len == 0 || l->next < 0)
            continue;
        tok_sym *r = &sym[l->next];
        if (l->len + r->len != b.size)
            continue;
        l->len += r->len;
        l->id = b.result;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0)
            sym[r->next].prev = left;
        if (pair(v, w, s, l->prev) != TOK_OK || pair(v, w, s, left) != TOK_OK)
            return TOK_ENOMEM;
    }
    return TOK_OK;
}

int tok_syms_reserve(tok_syms *s, size_t n)
{
    return tok_reserve(&s->v, &s->cap, n, sizeof *s->v);
}

#define CACHE_SLOTS (1u << 16)
#define CACHE_MAX_ENT (CACHE_SLOTS / 2)
#define CACHE_MAX_WORD 64
#define CACHE_KEYS (CACHE_MAX_ENT * 16)
#define CACHE_IDS (CACHE_MAX_ENT * 8)
/* Short texts are not worth the cache's setup. */
#define CACHE_AFTER 256

static uint32_t word_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

const int32_t *tok_cache_get(tok_cache *c, const char *w, size_t len, size_t *n)
{
    if (!c->slot || len > CACHE_MAX_WORD)
        return NULL;
    uint32_t h = word_hash(w, len);
    for (uint32_t i = h & (CACHE_SLOTS - 1);; i = (i + 1) & (CACHE_SLOTS - 1)) {
        uint32_t e = c->slot[i];
        if (e == 0)
            return NULL;
        const tok_cache_ent *x = &c->ent[e - 1];
        if (x->hash == h && x->key_len == len && memcmp(c->keys + x->key_off, w, len) == 0) {
            *n = x->n_ids;
            return c->ids + x->ids_off;
        }
    }
}

void tok_cache_put(tok_cache *c, const char *w, size_t len, const int32_t *ids, size_t n)
{
    if (len > CACHE_MAX_WORD || c->n_ent >= CACHE_MAX_ENT)
        return;
    if (!c->slot) {
        if (++c->seen < CACHE_AFTER)
            return;
        c->slot = calloc(CACHE_SLOTS, sizeof *c->slot);
        c->ent = malloc(CACHE_MAX_ENT * sizeof *c->ent);
        c->keys = malloc(CACHE_KEYS);
        c->ids = malloc(CACHE_IDS * sizeof *c->ids);
        if (!c->slot || !c->ent || !c->keys || !c->ids) {
            tok_cache_free(c);
            c->n_ent = CACHE_MAX_ENT; /* never try again in this call */
            return;
        }
    }
    if (c->keys_n + len > CACHE_KEYS || c->ids_n + n > CACHE_IDS)
        return;
    uint32_t h = word_hash(w, len);
    uint32_t i = h & (CACHE_SLOTS - 1);
    while (c->slot[i] != 0)
        i = (i + 1) & (CACHE_SLOTS - 1);
    tok_cache_ent *x = &c->ent[c->n_ent++];
    *x = (tok_cache_ent){h, (uint32_t)c->keys_n, (uint32_t)len, (uint32_t)c->ids_n, (uint32_t)n};
    memcpy(c->keys + c->keys_n, w, len);
    c->keys_n += len;
    memcpy(c->ids + c->ids_n, ids, n * sizeof *ids);
    c->ids_n += n;
    c->slot[i] = (uint32_t)c->n_ent;
}

void tok_cache_free(tok_cache *c)
{
    free(c->slot);
    free(c->ent);
    free(c->keys);
    free(c->ids);
    c->slot = NULL;
    c->ent = NULL;
    c->keys = NULL;
    c->ids = NULL;
}

int tok_encode_cached(const tok_vocab *v, tok_work *w, const char *word, size_t n, tok_ids *out,
                      tok_word_fn fn)
{
    size_t nc;
    const int32_t *cached = tok_cache_get(w->cache, word, n, &nc);
    if (cached) {
        for (size_t i = 0; i < nc; i++)
            if (tok_ids_push(out, cached[i]) != TOK_OK)
                return TOK_ENOMEM;
        return TOK_OK;
    }
    size_t before = out->n;
    int rc = fn(v, w, word, n, out);
    if (rc == TOK_OK)
        tok_cache_put(w->cache, word, n, out->v + before, out->n - before);
    return rc;
}
