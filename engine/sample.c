/* Token sampling: penalties, top-k, top-p, min-p, temperature and a
 * seeded random draw, in the order the reference engine applies them. */
#include "engine/engine_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cand {
    int32_t id;
    float logit;
    float p;
} cand;

struct eng_sampler {
    eng_sampler_params p;
    uint32_t n_vocab;
    uint64_t rng;
    int32_t *hist;      /* ring of the last repeat_last_n accepted tokens */
    size_t hist_n, hist_pos;
    uint32_t *counts;   /* occurrences of each token in hist */
    cand *cands;
};

eng_sampler_params eng_sampler_default_params(void)
{
    eng_sampler_params p = {
        .temp = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
        .repeat_penalty = 1.0f, .repeat_last_n = 64,
        .freq_penalty = 0.0f, .presence_penalty = 0.0f, .seed = 0,
    };
    return p;
}

int eng_sampler_new(eng_sampler **out, const eng_sampler_params *p, uint32_t n_vocab, char *err,
                    size_t errlen)
{
    *out = NULL;
    if (n_vocab == 0)
        return eng_fail(err, errlen, ENG_ERANGE, "sampler needs a vocabulary of at least one token");
    if (!(p->temp == p->temp) || !(p->top_p >= 0.0f && p->top_p <= 1.0f) ||
        !(p->min_p >= 0.0f && p->min_p <= 1.0f) || !(p->repeat_penalty > 0.0f) ||
        !isfinite(p->freq_penalty) || !isfinite(p->presence_penalty))
        return eng_fail(err, errlen, ENG_ERANGE,
                        "sampling settings out of range (top-p and min-p in 0..1, repeat penalty > 0)");
    if (p->repeat_last_n > (1u << 20))
        return eng_fail(err, errlen, ENG_ERANGE, "repeat_last_n %u is too large", p->repeat_last_n);
    eng_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return eng_fail(err, errlen, ENG_ENOMEM, "out of memory for a sampler");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->rng = p->seed;
    s->hist = calloc(p->repeat_last_n ? p->repeat_last_n : 1, sizeof *s->hist);
    s->counts = calloc(n_vocab, sizeof *s->counts);
    s->cands = calloc(n_vocab, sizeof *s->cands);
    if (!s->hist || !s->counts || !s->cands) {
        eng_sampler_free(s);
        return eng_fail(err, errlen, ENG_ENOMEM, "out of memory for a sampler over %u tokens", n_vocab);
    }
    *out = s;
    return ENG_OK;
}

void eng_sampler_free(eng_sampler *s)
{
    if (!s)
        return;
    free(s->hist);
    free(s->counts);
    free(s->cands);
    free(s);
}

void eng_sampler_accept(eng_sampler *s, int32_t token)
{
    uint32_t n = s->p.repeat_last_n;
    if (n == 0 || token < 0 || (uint32_t)token >= s->n_vocab)
        return;
    if (s->hist_n == n) {
        s->counts[s->hist[s->hist_pos]]--;
    } else {
        s->hist_n++;
    }
    s->hist[s->hist_pos] = token;
    s->counts[token]++;
    s->hist_pos = (s->hist_pos + 1) % n;
}

/* splitmix64: small, fast and fully determined by the seed. */
static uint64_t next_u64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double next_unit(uint64_t *state)
{
    return (double)(next_u64(state) >> 11) * (1.0 / 9007199254740992.0);
}

static void apply_penalties(eng_sampler *s, cand *c)
{
    const eng_sampler_params *p = &s->p;
    if (p->repeat_penalty == 1.0f && p->freq_penalty == 0.0f && p->presence_penalty == 0.0f)
        return;
    /* each distinct token once, whatever its count */
    for (size_t i = 0; i < s->hist_n; i++) {
        int32_t t = s->hist[i];
        uint32_t cnt = s->counts[t];
        if (cnt == 0 || c[t].p != 0.0f)
            continue;
        c[t].p = 1.0f; /* mark done */
        float l = c[t].logit;
        l = l > 0.0f ? l / p->repeat_penalty : l * p->repeat_penalty;
        c[t].logit = l - (float)cnt * p->freq_penalty - p->presence_penalty;
    }
    for (size_t i = 0; i < s->hist_n; i++)
        c[s->hist[i]].p = 0.0f;
}

/* Descending logit, ties by id: a total order, so sorting is deterministic. */
static int by_logit(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->logit != y->logit)
        return x->logit > y->logit ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Heap of the k best candidates with the worst at the root. */
static void sift_down(cand *h, size_t k, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < k && by_logit(&h[l], &h[w]) > 0)
            w = l;
        if (r < k && by_logit(&h[r], &h[w]) > 0)
            w = r;
        if (w == i)
            return;
        cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* Move the k best of c[0..n) to the front, sorted: O(n log k) instead of
 * sorting a whole vocabulary for every token. */
static void select_top(cand *c, size_t n, size_t k)
{
    for (size_t i = k / 2; i-- > 0;)
        sift_down(c, k, i);
    for (size_t i = k; i < n; i++) {
        if (by_logit(&c[i], &c[0]) < 0) {
            c[0] = c[i];
            sift_down(c, k, 0);
        }
    }
    qsort(c, k, sizeof *c, by_logit);
}

/* Probabilities of c[0..n) at temperature t (c sorted, c[0] the largest). */
static void softmax(cand *c, size_t n, float t)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        c[i].p = expf((c[i].logit - c[0].logit) / t);
        sum += c[i].p;
    }
    for (size_t i = 0; i < n; i++)
        c[i].p = (float)(c[i].p / sum);
}

int32_t eng_sample(eng_sampler *s, const float *logits)
{
    const eng_sampler_params *p = &s->p;
    size_t n = s->n_vocab;
    cand *c = s->cands;
    for (size_t i = 0; i < n; i++)
        c[i] = (cand){(int32_t)i, isnan(logits[i]) ? -INFINITY : logits[i], 0.0f};
    apply_penalties(s, c);
    if (p->temp <= 0.0f) {
        size_t best = 0;
        for (size_t i = 1; i < n; i++)
            if (c[i].logit > c[best].logit)
                best = i;
        return (int32_t)best;
    }
    if (p->top_k > 0 && p->top_k < n) {
        select_top(c, n, p->top_k);
        n = p->top_k;
    } else {
        qsort(c, n, sizeof *c, by_logit);
    }
    if (p->top_p < 1.0f) {
        softmax(c, n, 1.0f);
        double cum = 0.0;
        size_t keep = n;
        for (size_t i = 0; i < n; i++) {
            cum += c[i].p;
            if (cum >= p->top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    if (p->min_p > 0.0f) {
        /* p_i >= min_p * p_max  <=>  logit_i >= logit_max + log(min_p) */
        float floor_logit = c[0].logit + logf(p->min_p);
        size_t keep = 1;
        while (keep < n && c[keep].logit >= floor_logit)
            keep++;
        n = keep;
    }
    softmax(c, n, p->temp);
    double r = next_unit(&s->rng), cum = 0.0;
    for (size_t i = 0; i < n; i++) {
        cum += c[i].p;
        if (r < cum)
            return c[i].id;
    }
    return c[n - 1].id;
}
