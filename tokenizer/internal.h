/* tokenizer internal: the vocabulary layout shared by the module's files. */
#ifndef RHEMA_TOKENIZER_INTERNAL_H
#define RHEMA_TOKENIZER_INTERNAL_H

#include "tokenizer/tokenizer.h"

/* Pre-tokenizers (byte-level BPE); each is a list of patterns applied in
 * turn, see pretok.c. */
typedef enum tok_pre {
    TOK_PRE_DEFAULT,
    TOK_PRE_GPT2,
    TOK_PRE_LLAMA3,
    TOK_PRE_QWEN2,
    TOK_PRE_DEEPSEEK_LLM,
    TOK_PRE_DEEPSEEK_CODER,
    TOK_PRE_FALCON,
    TOK_PRE_STARCODER,
} tok_pre;

/* A merge of two tokens (BPE): (left, right) -> rank and result token. */
typedef struct tok_merge {
    uint64_t key;   /* left << 32 | right; UINT64_MAX marks an empty slot */
    int32_t rank;
    int32_t result; /* token with the concatenated text, -1 when none */
} tok_merge;

/* Byte trie over the texts of the tokens matched before tokenization
 * (CONTROL, UNKNOWN and USER_DEFINED). */
typedef struct tok_trie_node {
    int32_t child;   /* first child, -1 when none */
    int32_t sibling; /* next sibling, -1 when none */
    int32_t token;   /* token ending here, -1 when none */
    uint8_t byte;
} tok_trie_node;

struct tok_vocab {
    tok_kind kind;
    tok_pre pre;
    char pre_name[64];
    bool ignore_merges; /* a whole pre-token found in the vocab is kept (Llama 3) */
    bool spm_split;     /* SPM: no token has U+2581 after another character, so
                           merges never cross the start of a space run */

    int32_t n;
    char *text;          /* every token's text, back to back */
    uint32_t *text_off;  /* n + 1 offsets into text */
    float *scores;       /* SPM merge scores (NULL for BPE) */
    uint8_t *types;      /* tok_type */
    char *piece;         /* decoded bytes of every token, back to back */
    uint32_t *piece_off; /* n + 1 offsets into piece */
    size_t max_piece;

    int32_t *hash;       /* open addressing text -> id, -1 empty */
    uint32_t hash_mask;

    tok_merge *merges;   /* open addressing; NULL for SPM */
    uint32_t merge_mask;

    int32_t byte_tok[256]; /* SPM: <0xNN>; BPE: the token of one raw byte; -1 */
    uint8_t byte_map[256][2]; /* BPE: UTF-8 of the character each byte maps to */
    uint8_t byte_map_len[256];

    int32_t trie_root[256]; /* first node for each first byte, -1 */
    tok_trie_node *trie;
    size_t n_trie;
    size_t max_special_len;

    int32_t *eog;
    size_t n_eog;

    tok_specials sp;
};

/* Make room for need elements of elem bytes in the array *pv points to
 * (a T **), growing *cap by doubling. TOK_OK, or TOK_ENOMEM with the array
 * unchanged. */
int tok_reserve(void *pv, size_t *cap, size_t need, size_t elem);

/* printf into the caller's error buffer (err may be NULL). */
void tok_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A growable list of ids. */
typedef struct tok_ids {
    int32_t *v;
    size_t n, cap;
} tok_ids;

int tok_ids_push(tok_ids *ids, int32_t id);

static inline const char *tok_text_of(const tok_vocab *v, int32_t id, size_t *len)
{
    *len = v->text_off[id + 1] - v->text_off[id];
    return v->text + v->text_off[id];
}

/* Id for an exact text, or -1. */
int32_t tok_lookup(const tok_vocab *v, const char *s, size_t len);

/* Rank and result of merging tokens a and b, or NULL. */
const tok_merge *tok_merge_find(const tok_vocab *v, int32_t a, int32_t b);

/* Pre-tokenization: cut cps[0..n) into words. Sets *ends to the word end
 * offsets (in code points, ascending, the last equal to n). Returns 0 or
 * TOK_ENOMEM. */
typedef struct tok_offsets {
    size_t *v;
    size_t n, cap;
} tok_offsets;
int tok_pretokenize(tok_pre pre, const uint32_t *cps, size_t n, tok_offsets *ends);

/* Scratch buffers of one tok_encode call, reused across its fragments. */
typedef struct tok_work {
    struct tok_syms *syms;
    struct tok_heap *heap;
    struct tok_cache *cache;
    uint32_t *cps;     /* code points of the fragment */
    uint32_t *cp_off;  /* byte offset of each code point, n + 1 */
    size_t cps_cap, cp_off_cap;
    char *buf;         /* escaped (SPM), repaired or byte-mapped (BPE) text */
    size_t buf_cap;
    tok_offsets ends;
} tok_work;

int tok_work_buf(tok_work *w, size_t n);
void tok_work_free(tok_work *w);

/* Tokenize one fragment of plain text (no special tokens in it). */
int tok_spm_encode(const tok_vocab *v, tok_work *w, const char *text, size_t len,
                   bool add_space, tok_ids *out);
int tok_bpe_encode(const tok_vocab *v, tok_work *w, const char *text, size_t len,
                   tok_ids *out);

/* Byte <-> code point mapping of byte-level BPE (bytes become printable
 * characters: '!'..'~' stay, space becomes U+0120 'Ġ', ...). */
uint32_t tok_byte_to_cp(uint8_t b);

#endif
