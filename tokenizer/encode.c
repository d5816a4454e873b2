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

/* A piece of the input: raw text (id -1) or one matched token. */
typedef struct frag {
    size_t pos, len;
    int32_t id;
} frag;

typedef struct frags {
    frag *v;
    size_t n, cap;
} frags;

static int push_frag(frags *f, size_t pos, size_t len, int32_t id)
{
    if (tok_reserve(&f->v, &f->cap, f->n + 1, sizeof *f->v) != TOK_OK)
        return TOK_ENOMEM;
    f->v[f->n++] = (frag){pos, len, id};
    return TOK_OK;
}

static bool wanted(const tok_vocab *v, int32_t id, bool parse_special)
{
    return v->types[id] == TOK_T_USER_DEFINED || parse_special;
}

/* The matchable tokens whose text occurs somewhere in s, each once. */
static int occurring(const tok_vocab *v, const uint8_t *s, size_t len, bool parse_special,
                     tok_ids *found)
{
    uint8_t *seen = NULL; /* a bit per token, allocated at the first hit */
    for (size_t p = 0; p < len; p++) {
        int32_t node = v->trie_root[s[p]];
        for (size_t d = 0; node >= 0;) {
            const tok_trie_node *t = &v->trie[node];
            if (t->token >= 0 && wanted(v, t->token, parse_special)) {
                if (!seen && !(seen = calloc(((size_t)v->n + 7) / 8, 1)))
                    return TOK_ENOMEM;
                uint8_t bit = (uint8_t)(1u << (t->token & 7));
                if (!(seen[t->token >> 3] & bit)) {
                    seen[t->token >> 3] |= bit;
                    if (tok_ids_push(found, t->token) != TOK_OK) {
                        free(seen);
                        return TOK_ENOMEM;
                    }
                }
            }
            if (++d >= len - p)
                break;
            node = t->child;
            while (node >= 0 && v->trie[node].byte != s[p + d])
                node = v->trie[node].sibling;
        }
    }
    free(seen);
    return TOK_OK;
}

typedef struct by_len {
    size_t len;
    int32_t id;
} by_len;

/* Longest text first; equal lengths by id, for a stable order. */
static int cmp_by_len(const void *a, const void *b)
{
    const by_len *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Cut the tokens' texts out of the raw pieces as the reference does: the
 * longest token first, each leftmost first within every piece left raw.
 * Only tokens that occur are tried, so plain text costs one trie scan. */
static int partition(const tok_vocab *v, const char *text, size_t len, bool parse_special,
                     frags *f)
{
    tok_ids found = {0};
    frags tmp = {0};
    by_len *order = NULL;
    int rc = push_frag(f, 0, len, -1);
    if (rc == TOK_OK && v->n_trie > 0)
        rc = occurring(v, (const uint8_t *)text, len, parse_special, &found);
    if (rc == TOK_OK && found.n > 0 && !(order = malloc(found.n * sizeof *order)))
        rc = TOK_ENOMEM;
    for (size_t i = 0; rc == TOK_OK && i < found.n; i++)
        order[i] = (by_len){v->text_off[found.v[i] + 1] - v->text_off[found.v[i]], found.v[i]};
    if (order)
        qsort(order, found.n, sizeof *order, cmp_by_len);
    for (size_t k = 0; rc == TOK_OK && k < found.n; k++) {
        size_t tl;
        const char *t = tok_text_of(v, order[k].id, &tl);
        tmp.n = 0;
        for (size_t i = 0; rc == TOK_OK && i < f->n; i++) {
            frag g = f->v[i];
            if (g.id >= 0) {
                rc = push_frag(&tmp, g.pos, g.len, g.id);
                continue;
            }
            size_t p = g.pos, end = g.pos + g.len;
            const char *hit;
            while (rc == TOK_OK && p < end && (hit = memmem(text + p, end - p, t, tl))) {
                size_t q = (size_t)(hit - text);
                if (q > p)
                    rc = push_frag(&tmp, p, q - p, -1);
                if (rc == TOK_OK)
                    rc = push_frag(&tmp, q, tl, order[k].id);
                p = q + tl;
            }
            if (rc == TOK_OK && p < end)
                rc = push_frag(&tmp, p, end - p, -1);
        }
        frags swap = *f;
        *f = tmp;
        tmp = swap;
    }
    free(tmp.v);
    free(order);
    free(found.v);
    return rc;
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
    frags f = {0};
    int rc = TOK_OK;
    if (add_special && v->sp.add_bos && v->sp.bos >= 0)
        rc = tok_ids_push(&out, v->sp.bos);
    if (rc == TOK_OK && len > 0)
        rc = partition(v, text, len, parse_special, &f);
    /* SPM puts its space before the first text and after each special. */
    bool after_special = true;
    for (size_t i = 0; i < f.n && rc == TOK_OK; i++) {
        if (f.v[i].id >= 0) {
            rc = tok_ids_push(&out, f.v[i].id);
            after_special = true;
        } else {
            rc = encode_text(v, &w, text + f.v[i].pos, f.v[i].len, after_special, &out);
            after_special = false;
        }
    }
    if (rc == TOK_OK && add_special && v->sp.add_eos && v->sp.eos >= 0)
        rc = tok_ids_push(&out, v->sp.eos);
    free(f.v);
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
