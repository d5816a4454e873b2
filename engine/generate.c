/* Generation loop: prompt, then sample / report / evaluate until a stop
 * condition, with stop strings matched on the decoded text. */
#include "engine/forward_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Decoded text not yet handed to the caller. */
typedef struct held {
    char *buf;
    size_t len, cap;
} held;

static bool held_append(held *h, const char *s, size_t n)
{
    if (n == 0)
        return true;
    if (h->len + n > h->cap) {
        size_t cap = h->cap * 2 + n + 64;
        char *nb = realloc(h->buf, cap);
        if (!nb)
            return false;
        h->buf = nb;
        h->cap = cap;
    }
    memcpy(h->buf + h->len, s, n);
    h->len += n;
    return true;
}

/* Where the first stop string starts in h, or h->len when none does. */
static size_t find_stop(const held *h, const eng_gen_params *gp)
{
    size_t best = h->len;
    for (size_t i = 0; i < gp->n_stop_strings; i++) {
        size_t sl = strlen(gp->stop_strings[i]);
        for (size_t at = 0; sl && at + sl <= h->len && at < best; at++)
            if (memcmp(h->buf + at, gp->stop_strings[i], sl) == 0)
                best = at;
    }
    return best;
}

/* Bytes of h that can be released: all but the longest tail that is a
 * proper prefix of some stop string. */
static size_t releasable(const held *h, const eng_gen_params *gp)
{
    size_t keep = 0;
    for (size_t i = 0; i < gp->n_stop_strings; i++) {
        size_t sl = strlen(gp->stop_strings[i]);
        if (sl == 0)
            continue;
        for (size_t k = sl > h->len ? h->len : sl - 1; k > keep; k--)
            if (memcmp(h->buf + h->len - k, gp->stop_strings[i], k) == 0) {
                keep = k;
                break;
            }
    }
    return h->len - keep;
}

static void held_drop(held *h, size_t n)
{
    if (n == 0)
        return;
    memmove(h->buf, h->buf + n, h->len - n);
    h->len -= n;
}

double eng_logprob(const float *logits, uint32_t n_vocab, int32_t token)
{
    if (!logits || token < 0 || (uint32_t)token >= n_vocab)
        return NAN;
    float mx = logits[0];
    for (uint32_t i = 1; i < n_vocab; i++)
        if (logits[i] > mx)
            mx = logits[i];
    if (!isfinite(mx))
        return NAN;
    /* log-sum-exp shifted by the largest logit, so nothing overflows */
    double sum = 0.0;
    for (uint32_t i = 0; i < n_vocab; i++)
        sum += expf(logits[i] - mx);
    return (double)(logits[token] - mx) - log(sum);
}

int eng_generate(eng_ctx *c, eng_sampler *s, const tok_vocab *vocab, const int32_t *prompt,
                 size_t n_prompt, const eng_gen_params *gp, eng_token_fn fn, void *ud,
                 size_t *n_out, char *err, size_t errlen)
{
    eng_gen_params none = {0};
    if (!gp)
        gp = &none;
    if (n_out)
        *n_out = 0;
    if (gp->n_stop_strings && !vocab)
        return eng_fail(err, errlen, ENG_ERANGE, "stop strings need a vocabulary to decode tokens");
    int st = eng_eval(c, prompt, n_prompt, false, err, errlen);
    if (st != ENG_OK)
        return st;
    for (size_t i = 0; i < n_prompt; i++)
        eng_sampler_accept(s, prompt[i]);

    tok_stream ts;
    tok_stream_init(&ts, 0);
    held h = {0};
    size_t piece_cap = vocab ? tok_max_piece(vocab) + 8 : 8;
    char *piece = malloc(piece_cap);
    if (!piece)
        return eng_fail(err, errlen, ENG_ENOMEM, "out of memory for token text");
    size_t n = 0;
    bool stop = false;
    eng_gen_stats stats = {ENG_STOP_MAX_TOKENS, 0.0, 0};
    while (!stop && (gp->max_tokens == 0 || n < gp->max_tokens)) {
        int32_t tok = eng_sample(s, eng_logits(c, 0));
        eng_sampler_accept(s, tok);
        if (gp->stop_at_eog && vocab && tok_is_eog(vocab, tok)) {
            stats.stop = ENG_STOP_EOG;
            break;
        }
        n++;
        if (gp->stats)
            stats.sum_logprob += eng_logprob(eng_logits(c, 0), c->m->hp.n_vocab, tok);
        size_t plen = 0;
        if (vocab && tok_stream_feed(&ts, vocab, tok, piece, piece_cap, &plen) != TOK_OK)
            plen = 0;
        if (!held_append(&h, piece, plen)) {
            st = eng_fail(err, errlen, ENG_ENOMEM, "out of memory for generated text");
            break;
        }
        size_t cut = find_stop(&h, gp);
        if (cut < h.len) {
            h.len = cut; /* the stop string and what follows are dropped */
            stop = true;
            stats.stop = ENG_STOP_STRING;
        }
        size_t rel = stop ? h.len : releasable(&h, gp);
        if (fn && fn(ud, tok, h.buf ? h.buf : "", rel) && !stop) {
            stop = true;
            stats.stop = ENG_STOP_CALLER;
        }
        held_drop(&h, rel);
        if (!stop && eng_ctx_n_past(c) >= eng_ctx_n_ctx(c)) {
            stats.stop = ENG_STOP_CONTEXT;
            break;
        }
        if (!stop && (gp->max_tokens == 0 || n < gp->max_tokens)) {
            st = eng_eval(c, &tok, 1, false, err, errlen);
            if (st != ENG_OK)
                break;
        }
    }
    if (st == ENG_OK && !stop) {
        /* the end of the output: whatever is still held back */
        size_t fl = vocab ? tok_stream_flush(&ts, piece, piece_cap) : 0;
        if (held_append(&h, piece, fl) && h.len && fn)
            fn(ud, -1, h.buf, h.len);
    }
    free(piece);
    free(h.buf);
    if (n_out)
        *n_out = n;
    if (gp->stats) {
        stats.n_tokens = n;
        *gp->stats = stats;
    }
    return st;
}
