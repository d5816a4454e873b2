/* tok_encode: cut out special tokens, then tokenize the text between them. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/internal.h"
#include "tokenizer/merge.h"

int tok_work_buf(tok_work *w, size_t n)
{
    return tok_reserve(&w->buf, &w->buf_cap, n, 1);
}

void tok_work_free(tok_work *w)
{
    if (w->syms)
        free(w->syms->v);
    if (w->heap)
        free(w->heap->v);
    if (w->cache)
        tok_cache_free(w->cache);
    free(w->cps);
    free(w->cp_off);
    free(w->buf);
    free(w->ends.v);
}

/* One occurrence of a special token's text in the input. */
typedef struct occ {
    size_t pos, len;
    int32_t id;
} occ;

typedef struct occs {
    occ *v;
    size_t n, cap;
} occs;

static int push_occ(occs *o, size_t pos, size_t len, int32_t id)
{
    if (tok_reserve(&o->v, &o->cap, o->n + 1, sizeof *o->v) != TOK_OK)
        return TOK_ENOMEM;
    o->v[o->n++] = (occ){pos, len, id};
    return TOK_OK;
}

static bool wanted(const tok_vocab *v, int32_t id, bool parse_special)
{
    return v->types[id] == TOK_T_USER_DEFINED || parse_special;
}

/* Every occurrence of every matchable token text (overlaps included). */
static int find_occurrences(const tok_vocab *v, const uint8_t *s, size_t len,
                            bool parse_special, occs *o)
{
    for (size_t p = 0; p < len; p++) {
        int32_t node = v->trie_root[s[p]];
        for (size_t d = 0; node >= 0;) {
            const tok_trie_node *t = &v->trie[node];
            if (t->token >= 0 && wanted(v, t->token, parse_special) &&
                push_occ(o, p, d + 1, t->token) != TOK_OK)
                return TOK_ENOMEM;
            if (++d >= len - p)
                break;
            node = t->child;
            while (node >= 0 && v->trie[node].byte != s[p + d])
                node = v->trie[node].sibling;
        }
    }
    return TOK_OK;
}

/* The reference takes token texts longest first and cuts each one out of
 * the text left so far, leftmost first. */
static int by_priority(const void *a, const void *b)
{
    const occ *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int by_pos(const void *a, const void *b)
{
    const occ *x = a, *y = b;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Keep the occurrences the reference would cut out, sorted by position. */
static int select_occurrences(occs *o, size_t len)
{
    if (o->n == 0)
        return TOK_OK;
    uint8_t *taken = calloc(len, 1);
    if (!taken)
        return TOK_ENOMEM;
    qsort(o->v, o->n, sizeof *o->v, by_priority);
    size_t k = 0;
    for (size_t i = 0; i < o->n; i++) {
        occ c = o->v[i];
        if (memchr(taken + c.pos, 1, c.len))
            continue;
        memset(taken + c.pos, 1, c.len);
        o->v[k++] = c;
    }
    o->n = k;
    free(taken);
    qsort(o->v, o->n, sizeof *o->v, by_pos);
    return TOK_OK;
}

static int encode_text(const tok_vocab *v, tok_work *w, const char *s, size_t len,
                       bool after_special, tok_ids *out)
{
    if (len == 0)
        return TOK_OK;
    if (v->kind == TOK_KIND_SPM)
        return tok_spm_encode(v, w, s, len, v->sp.add_space_prefix && after_special, out);
    return tok_bpe_encode(v, w, s, len, out);
}

int tok_encode(const tok_vocab *v, const char *text, size_t len, bool add_special,
               bool parse_special, int32_t **ids, size_t *n_ids, char *err, size_t errlen)
{
    *ids = NULL;
    *n_ids = 0;
    if (len > UINT32_MAX / 4) {
        tok_seterr(err, errlen, "text of %zu bytes is too long to tokenize at once", len);
        return TOK_ERANGE;
    }
    tok_ids out = {0};
    tok_syms syms = {0};
    tok_heap heap = {0};
    tok_cache cache = {0};
    tok_work w = {.syms = &syms, .heap = &heap, .cache = &cache};
    occs o = {0};
    int rc = TOK_OK;
    if (add_special && v->sp.add_bos && v->sp.bos >= 0)
        rc = tok_ids_push(&out, v->sp.bos);
    if (rc == TOK_OK && v->n_trie > 0 && len > 0)
        rc = find_occurrences(v, (const uint8_t *)text, len, parse_special, &o);
    if (rc == TOK_OK)
        rc = select_occurrences(&o, len);
    /* SPM puts its space before the first text and after each special. */
    size_t pos = 0;
    bool after_special = true;
    for (size_t i = 0; i <= o.n && rc == TOK_OK; i++) {
        size_t end = i < o.n ? o.v[i].pos : len;
        if (end > pos) {
            rc = encode_text(v, &w, text + pos, end - pos, after_special, &out);
            after_special = false;
        }
        if (i < o.n && rc == TOK_OK) {
            rc = tok_ids_push(&out, o.v[i].id);
            after_special = true;
            pos = o.v[i].pos + o.v[i].len;
        }
    }
    if (rc == TOK_OK && add_special && v->sp.add_eos && v->sp.eos >= 0)
        rc = tok_ids_push(&out, v->sp.eos);
    free(o.v);
    tok_work_free(&w);
    if (rc != TOK_OK) {
        free(out.v);
        tok_seterr(err, errlen, "out of memory tokenizing %zu bytes", len);
        return rc;
    }
    *ids = out.v;
    *n_ids = out.n;
    return TOK_OK;
}
