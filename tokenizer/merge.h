/* tokenizer internal: the symbol list and priority queue shared by the SPM
 * and BPE merge loops. A word of n symbols is merged in O(n log n). */
#ifndef RHEMA_TOKENIZER_MERGE_H
#define RHEMA_TOKENIZER_MERGE_H

#include <stddef.h>
#include <stdint.h>

typedef struct tok_sym {
    uint32_t start, len; /* bytes of the word; len 0 once merged away */
    int32_t prev, next;  /* neighbours, -1 at the ends */
    int32_t id;          /* BPE: current token (-1 none); SPM: unused */
} tok_sym;

/* A candidate merge of symbols left and left's next. Smaller prio pops
 * first; ties pop the leftmost first, as the references do. */
typedef struct tok_bigram {
    int64_t prio;  /* BPE: rank; SPM: derived from the score */
    int32_t left, right;
    uint32_t size; /* SPM: byte length of the pair when queued */
    int32_t result;
} tok_bigram;

typedef struct tok_heap {
    tok_bigram *v;
    size_t n, cap;
} tok_heap;

int tok_heap_push(tok_heap *h, tok_bigram b);
/* Remove the first bigram into *out; false when empty. */
bool tok_heap_pop(tok_heap *h, tok_bigram *out);

/* Growable symbol array. */
typedef struct tok_syms {
    tok_sym *v;
    size_t n, cap;
} tok_syms;

int tok_syms_reserve(tok_syms *s, size_t n);

#endif
