/* Prompt classification without a model call: weighted signals (length,
 * attached context, the configured simple/complex patterns, code terms,
 * reasoning markers, simple indicators, multi-step structure, questions)
 * add up to a score; tiers come from the score with the proposal's hard
 * rules on top (token thresholds, complex patterns), and every signal's
 * contribution is reported. */
#include "router/internal.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Tier edges on the score (simple < 0.35 <= medium < 0.60 <= complex). */
#define EDGE_MEDIUM 0.35
#define EDGE_COMPLEX 0.60
#define BASE_SCORE 0.2

static const char *const code_terms[] = {"function", "class ", "implement", "refactor", "compile", "algorithm", "```",
                                         "def ", "struct", "regex", "sql", "debug", "stack trace", "unit test",
                                         "write code", "generate code"};
static const char *const reasoning_markers[] = {"prove", "step by step", "analyze", "analyse", "analysis", "derive", "trade-off",
                                                "tradeoff", "compare", "evaluate", "explain why", "design",
                                                "architecture", "optimiz", "reason about"};
static const char *const simple_markers[] = {"what is", "list ", "validate", "check ", "define", "translate",
                                             "format ", "rename", "spell", "lookup", "look up"};

size_t route_estimate_tokens(const char *text, size_t len)
{
    /* Word pieces of up to 4 letters, one token per punctuation mark and per
     * non-ASCII character: close to BPE counts for English and code. */
    size_t tokens = 0, run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (isalnum(ch) || ch == '_') {
            if (run % 4 == 0) tokens++;
            run++;
            continue;
        }
        run = 0;
        if (ch >= 0x80) {
            if ((ch & 0xC0) != 0x80) tokens++;
        } else if (!isspace(ch)) {
            tokens++;
        }
    }
    return tokens;
}

static void add_reason(route_class *c, const char *signal, double weight, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add_reason(route_class *c, const char *signal, double weight, const char *fmt, ...)
{
    if (c->n_reasons >= ROUTE_MAX_REASONS) return;
    route_reason *r = &c->reasons[c->n_reasons++];
    route_copy(r->signal, sizeof r->signal, signal);
    r->weight = weight;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof r->detail, fmt, ap);
    va_end(ap);
}

/* Count the markers found in text, listing them into buf. */
static size_t count_markers(const char *text, const char *const *list, size_t n, char *buf, size_t buflen)
{
    size_t hits = 0, k = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n; i++) {
        if (route_find_ci(text, list[i]) < 0) continue;
        hits++;
        if (k < buflen) k += (size_t)snprintf(buf + k, buflen - k, "%s'%s'", hits > 1 ? ", " : "", list[i]);
    }
    return hits;
}

static double capped(size_t hits, double each, double cap)
{
    double w = (double)hits * each;
    return w > cap ? cap : w;
}

static bool multi_step(const char *p)
{
    long first = route_find_ci(p, "first");
    if (first >= 0 && (route_find_ci(p + first, "then") > 0 || route_find_ci(p + first, "finally") > 0)) return true;
    /* A numbered list of at least two steps. */
    return strstr(p, "1.") && strstr(p, "2.") && (strstr(p, "\n1.") || p[0] == '1');
}

static void score_patterns(const route_config *cfg, const char *prompt, route_class *out, double *score,
                           bool *complex_hit, bool *simple_hit)
{
    for (size_t i = 0; i < cfg->n_complex_patterns; i++) {
        if (route_find_ci(prompt, cfg->complex_patterns[i]) < 0) continue;
        *complex_hit = true;
        *score += 0.3;
        add_reason(out, "complex_pattern", 0.3, "matches complex pattern '%s'", cfg->complex_patterns[i]);
    }
    for (size_t i = 0; i < cfg->n_simple_patterns; i++) {
        if (route_find_ci(prompt, cfg->simple_patterns[i]) < 0) continue;
        *simple_hit = true;
        *score -= 0.2;
        add_reason(out, "simple_pattern", -0.2, "matches simple pattern '%s'", cfg->simple_patterns[i]);
    }
}

/* Signals of the prompt's content; returns how many reasoning markers it has. */
static size_t score_content(const char *prompt, route_class *out, double *score)
{
    char found[100];
    size_t hits = count_markers(prompt, code_terms, sizeof code_terms / sizeof code_terms[0], found, sizeof found);
    if (hits) {
        double w = capped(hits, 0.1, 0.3);
        *score += w;
        add_reason(out, "code", w, "code terms: %s", found);
    }
    size_t reasoning = count_markers(prompt, reasoning_markers, sizeof reasoning_markers / sizeof reasoning_markers[0],
                                     found, sizeof found);
    if (reasoning) {
        double w = capped(reasoning, 0.15, 0.45);
        *score += w;
        add_reason(out, "reasoning", w, "reasoning markers: %s", found);
    }
    hits = count_markers(prompt, simple_markers, sizeof simple_markers / sizeof simple_markers[0], found, sizeof found);
    if (hits) {
        double w = -capped(hits, 0.1, 0.2);
        *score += w;
        add_reason(out, "simple", w, "simple indicators: %s", found);
    }
    if (multi_step(prompt)) {
        *score += 0.15;
        add_reason(out, "multi_step", 0.15, "several steps (first ... then, or a numbered list)");
    }
    size_t questions = 0;
    for (const char *q = prompt; (q = strchr(q, '?')); q++) questions++;
    if (questions >= 2) {
        double w = capped(questions - 1, 0.05, 0.15);
        *score += w;
        add_reason(out, "questions", w, "%zu questions", questions);
    }
    return reasoning;
}

static void score_length(const route_config *cfg, route_class *out, double *score)
{
    double w = 0;
    if (out->prompt_tokens < 15) w = -0.05;
    else if (out->tokens > (size_t)cfg->medium_max_tokens) w = 0.45;
    else if (out->tokens > (size_t)cfg->simple_max_tokens) w = 0.25;
    *score += w;
    add_reason(out, "tokens", w, "%zu tokens (simple <= %ld, medium <= %ld)", out->tokens, cfg->simple_max_tokens,
               cfg->medium_max_tokens);
    if (out->context_tokens) {
        double frac = (double)out->context_tokens / (double)cfg->medium_max_tokens;
        double cw = 0.15 * (frac > 1 ? 1 : frac);
        *score += cw;
        add_reason(out, "context", cw, "%zu tokens of attached context", out->context_tokens);
    }
}

/* Lift or lower the score into the band of a forced tier. */
static void force_tier(route_class *out, route_complexity tier, const char *why)
{
    static const double lo[] = {0, EDGE_MEDIUM, EDGE_COMPLEX}, hi[] = {EDGE_MEDIUM - 0.01, EDGE_COMPLEX - 0.01, 1};
    if (out->complexity == tier) return;
    out->complexity = tier;
    if (out->score < lo[tier]) out->score = lo[tier];
    if (out->score > hi[tier]) out->score = hi[tier];
    add_reason(out, "tier", 0, "%s: %s", route_complexity_name(tier), why);
}

int route_classify(const route_config *cfg, const route_request *req, route_class *out, char *err, size_t errlen)
{
    if (!cfg || !req || !out || !req->prompt) return route_fail(err, errlen, ROUTE_ERR_ARG, "route_classify: missing config, request or prompt");
    memset(out, 0, sizeof *out);
    const char *prompt = req->prompt;
    size_t plen = strlen(prompt), clen = req->context ? strlen(req->context) : 0;
    out->prompt_tokens = req->count_tokens ? req->count_tokens(req->count_user, prompt, plen) : route_estimate_tokens(prompt, plen);
    size_t ctx = req->context ? (req->count_tokens ? req->count_tokens(req->count_user, req->context, clen)
                                                   : route_estimate_tokens(req->context, clen))
                              : 0;
    out->context_tokens = ctx > SIZE_MAX - req->context_tokens ? SIZE_MAX : ctx + req->context_tokens;
    out->tokens = out->prompt_tokens > SIZE_MAX - out->context_tokens ? SIZE_MAX : out->prompt_tokens + out->context_tokens;

    double score = BASE_SCORE;
    bool complex_hit = false, simple_hit = false;
    add_reason(out, "base", BASE_SCORE, "starting score");
    score_length(cfg, out, &score);
    score_patterns(cfg, prompt, out, &score, &complex_hit, &simple_hit);
    size_t reasoning = score_content(prompt, out, &score);

    /* Three decimals: the weights are round, the sum should read so too. */
    out->score = score < 0 ? 0 : score > 1 ? 1 : round(score * 1000) / 1000;
    out->complexity = out->score >= EDGE_COMPLEX ? ROUTE_COMPLEX : out->score >= EDGE_MEDIUM ? ROUTE_MEDIUM : ROUTE_SIMPLE;

    char why[96];
    if (out->tokens > (size_t)cfg->medium_max_tokens) {
        snprintf(why, sizeof why, "%zu tokens > medium_max_tokens %ld", out->tokens, cfg->medium_max_tokens);
        force_tier(out, ROUTE_COMPLEX, why);
    } else if (complex_hit) {
        force_tier(out, ROUTE_COMPLEX, "a complex pattern matched");
    } else if (reasoning >= 2) {
        force_tier(out, ROUTE_COMPLEX, "two or more reasoning markers");
    } else if (out->tokens > (size_t)cfg->simple_max_tokens && out->complexity == ROUTE_SIMPLE) {
        snprintf(why, sizeof why, "%zu tokens > simple_max_tokens %ld", out->tokens, cfg->simple_max_tokens);
        force_tier(out, ROUTE_MEDIUM, why);
    } else if (simple_hit && out->complexity == ROUTE_MEDIUM && out->tokens <= (size_t)cfg->simple_max_tokens &&
               !reasoning) {
        force_tier(out, ROUTE_SIMPLE, "short, a simple pattern matched, no reasoning markers");
    }
    return ROUTE_OK;
}
