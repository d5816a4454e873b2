/* Token ids back to bytes: pieces, whole sequences, and a streaming
 * decoder that only ever emits whole UTF-8 characters. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/internal.h"
#include "tokenizer/unicode.h"

int tok_piece(const tok_vocab *v, int32_t id, bool special, const char **ptr, size_t *len)
{
    *ptr = "";
    *len = 0;
    if (id < 0 || id >= v->n)
        return TOK_ERANGE;
    if (!special && v->types[id] == TOK_T_CONTROL)
        return TOK_OK;
    *ptr = v->piece + v->piece_off[id];
    *len = v->piece_off[id + 1] - v->piece_off[id];
    return TOK_OK;
}

size_t tok_max_piece(const tok_vocab *v)
{
    return v->max_piece;
}

int tok_decode(const tok_vocab *v, const int32_t *ids, size_t n_ids, int flags, char **out,
               size_t *out_len, char *err, size_t errlen)
{
    *out = NULL;
    *out_len = 0;
    bool special = flags & TOK_DECODE_SPECIAL;
    size_t total = 0;
    for (size_t i = 0; i < n_ids; i++) {
        const char *p;
        size_t len;
        if (tok_piece(v, ids[i], special, &p, &len) != TOK_OK) {
            tok_seterr(err, errlen, "token %zu: id %ld is outside the vocabulary of %d", i,
                       (long)ids[i], (int)v->n);
            return TOK_ERANGE;
        }
        total += len;
    }
    char *s = malloc(total + 1);
    if (!s) {
        tok_seterr(err, errlen, "out of memory decoding %zu tokens", n_ids);
        return TOK_ENOMEM;
    }
    size_t k = 0;
    bool at_start = true;
    for (size_t i = 0; i < n_ids; i++) {
        const char *p;
        size_t len;
        tok_piece(v, ids[i], special, &p, &len);
        if (at_start && len > 0) {
            at_start = false;
            if (p[0] == ' ' && (flags & TOK_DECODE_STRIP_SPACE) && v->sp.add_space_prefix) {
                p++;
                len--;
            }
        }
        memcpy(s + k, p, len);
        k += len;
    }
    s[k] = 0;
    *out = s;
    *out_len = k;
    return TOK_OK;
}

void tok_stream_init(tok_stream *s, int flags)
{
    memset(s, 0, sizeof *s);
    s->at_start = true;
    s->flags = flags;
}

/* Length of the longest prefix of b[0..n) that does not end inside a
 * character which later bytes could still complete. */
static size_t complete_prefix(const uint8_t *b, size_t n)
{
    /* Only the last 3 bytes can start an unfinished character. */
    size_t from = n > 3 ? n - 3 : 0;
    for (size_t i = n; i-- > from;) {
        uint8_t c = b[i];
        if ((c & 0xC0) == 0x80)
            continue; /* a continuation byte: look further back */
        size_t need = tok_utf8_len(c);
        if (c < 0xC2 || c > 0xF4 || need <= n - i)
            return n; /* ASCII, invalid lead, or a complete sequence */
        /* The bytes after the lead must be able to continue it. */
        for (size_t j = i + 1; j < n; j++)
            if ((b[j] & 0xC0) != 0x80)
                return n;
        return i;
    }
    return n;
}

int tok_stream_feed(tok_stream *s, const tok_vocab *v, int32_t id, char *out, size_t cap,
                    size_t *n_out)
{
    *n_out = 0;
    const char *p;
    size_t len;
    if (tok_piece(v, id, s->flags & TOK_DECODE_SPECIAL, &p, &len) != TOK_OK)
        return TOK_ERANGE;
    bool strip = s->at_start && len > 0 && p[0] == ' ' && (s->flags & TOK_DECODE_STRIP_SPACE) &&
                 v->sp.add_space_prefix;
    if (cap < s->n_pend + len - strip)
        return TOK_ERANGE;
    if (strip) {
        p++;
        len--;
    }
    if (len > 0 || strip)
        s->at_start = false;
    memcpy(out, s->pend, s->n_pend);
    memcpy(out + s->n_pend, p, len);
    size_t n = s->n_pend + len;
    size_t keep = complete_prefix((const uint8_t *)out, n);
    s->n_pend = (uint8_t)(n - keep);
    memcpy(s->pend, out + keep, s->n_pend);
    *n_out = keep;
    return TOK_OK;
}

size_t tok_stream_flush(tok_stream *s, char *out, size_t cap)
{
    size_t n = s->n_pend <= cap ? s->n_pend : cap;
    memcpy(out, s->pend, n);
    int flags = s->flags;
    tok_stream_init(s, flags);
    return n;
}
