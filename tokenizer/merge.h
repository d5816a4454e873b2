/* tokenizer internal: the symbol list and priority queue shared by the SPM
 * and BPE merge loops. A word of n symbols is merged in O(n log n). */
#ifndef RHEMA_TOKENIZER_MERGE_H
#define RHEMA_TOKENIZER_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/internal.h"

typedef struct tok_sym {
    uint32_t start, len; /* bytes of the word; len 0 once merged away */
    int32_t prev, next;  /* neighbours, -1 at the ends */
    int32_t id;          /* BPE: current token (-1 none); SPM: unused */
} tok_sym;

/* A candidate merge of symbol left with its right neighbour. The smallest
 * key pops first: priority in the high half, then the leftmost pair, as
 * the references order ties. The pair is stale (skipped) once either
 * symbol has changed, which shows as a different combined length. */
typedef struct tok_bigram {
    uint64_t key;  /* prio << 32 | left */
    uint32_t size; /* byte length of the pair when queued */
    int32_t result;
} tok_bigram;

static inline tok_bigram tok_bigram_make(uint32_t prio, int32_t left, uint32_t size,
                                         int32_t result)
{
    tok_bigram b = {(uint64_t)prio << 32 | (uint32_t)left, size, result};
    return b;
}

static inline int32_t tok_bigram_left(const tok_bigram *b)
{
    return (int32_t)(uint32_t)b->key;
}

typedef struct tok_heap {
    tok_bigram *v;
    size_t n, cap;
} tok_heap;

int tok_heap_push(tok_heap *h, tok_bigram b);
/* Remove the first bigram into *out; false when empty. */
bool tok_heap_pop(tok_heap *h, tok_bigram *out);

/* Queue the merge of symbol left with its right neighbour, if the
 * vocabulary has one (w->syms holds the symbols, s the word's bytes). */
typedef int (*tok_pair_fn)(const tok_vocab *v, tok_work *w, const char *s, int32_t left);

/* Growable symbol array. */
typedef struct tok_syms {
    tok_sym *v;
    size_t n, cap;
} tok_syms;

int tok_syms_reserve(tok_syms *s, size_t n);

/* Link the w->syms->n symbols (start, len and id filled in) into a list,
 * queue every adjacent pair through pair, then merge in queue order until
 * nothing is left: the merged symbol takes the pair's result id. */
int tok_merge_all(const tok_vocab *v, tok_work *w, const char *s, tok_pair_fn pair);

#endif

/* Per-call cache of words already tokenized: text repeats a lot, and a hit
 * skips the merge loop. Bounded; it stops taking entries when full. */
typedef struct tok_cache_ent {
    uint32_t hash;
    uint32_t key_off, key_len;
    uint32_t ids_off, n_ids;
} tok_cache_ent;

typedef struct tok_cache {
    uint32_t *slot; /* entry index + 1, 0 when empty */
    tok_cache_ent *ent;
    size_t n_ent;
    char *keys;
    size_t keys_n;
    int32_t *ids;
    size_t ids_n;
    size_t seen;    /* words looked up: the cache is built after a few */
} tok_cache;

/* Ids for the word, or NULL. */
const int32_t *tok_cache_get(tok_cache *c, const char *w, size_t len, size_t *n);
/* Remember ids for the word; silently skipped when full or on ENOMEM. */
void tok_cache_put(tok_cache *c, const char *w, size_t len, const int32_t *ids, size_t n);
void tok_cache_free(tok_cache *c);

/* fn(v, w, word, n, out), through w's cache. */
typedef int (*tok_word_fn)(const tok_vocab *v, tok_work *w, const char *word, size_t n,
                           tok_ids *out);
int tok_encode_cached(const tok_vocab *v, tok_work *w, const char *word, size_t n, tok_ids *out,
                      tok_word_fn fn);
