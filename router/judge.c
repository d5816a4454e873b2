/* Judging a local answer by what can be measured: the model's own
 * certainty (mean token log-probability), whether it was cut off, whether
 * it opens like a refusal, whether it is empty. A weak answer is what
 * hybrid sends out for enhancement and the fallback chain tries to beat. */
#include "router/internal.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* How assistants open when they decline; matched case-insensitively at the
 * start of the answer, with the typographic apostrophe folded to '. */
static const char *const refusal_openings[] = {
    "i'm sorry", "i am sorry", "sorry, ", "i apologize", "i cannot", "i can't", "i can not",
    "i won't", "i will not", "i'm unable", "i am unable", "i'm not able", "i am not able",
    "as an ai", "as a language model", "i must decline",
};

/* Up to n bytes of s lower-cased, with U+2019 as '. */
static void fold(const char *s, char *out, size_t n)
{
    size_t k = 0;
    while (*s && k + 1 < n) {
        if (!strncmp(s, "\xe2\x80\x99", 3)) {
            out[k++] = '\'';
            s += 3;
        } else {
            out[k++] = (char)tolower((unsigned char)*s++);
        }
    }
    out[k] = 0;
}

static bool is_refusal(const char *text, char *what, size_t n)
{
    while (isspace((unsigned char)*text) || *text == '"' || *text == '*') text++;
    char head[48];
    fold(text, head, sizeof head);
    for (size_t i = 0; i < sizeof refusal_openings / sizeof refusal_openings[0]; i++)
        if (!strncmp(head, refusal_openings[i], strlen(refusal_openings[i]))) {
            snprintf(what, n, "%s", refusal_openings[i]);
            return true;
        }
    return false;
}

void route_judge(const char *text, const route_reply *reply, double threshold, bool local, route_judgement *out)
{
    route_judgement j = {.confidence = -1, .threshold = threshold};
    j.has_logprob = reply && reply->has_logprob && isfinite(reply->mean_logprob);
    if (j.has_logprob) j.mean_logprob = reply->mean_logprob;
    if (reply && reply->confidence >= 0) j.confidence = reply->confidence > 1 ? 1 : reply->confidence;
    else if (j.has_logprob) j.confidence = exp(j.mean_logprob > 0 ? 0 : j.mean_logprob);
    if (local) {
        j.truncated = reply && reply->truncated;
        const char *p = text ? text : "";
        while (isspace((unsigned char)*p)) p++;
        j.empty = !*p;
        j.refused = !j.empty && is_refusal(p, j.refusal, sizeof j.refusal);
    }
    j.weak = j.truncated || j.refused || j.empty || (j.confidence >= 0 && j.confidence < threshold);
    *out = j;
}

/* Append to buf (n bytes) at *k, never past its end. */
static void add(char *buf, size_t n, size_t *k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *k, n - *k, fmt, ap);
    va_end(ap);
    if (w > 0) *k = *k + (size_t)w < n ? *k + (size_t)w : n - 1;
}

void route_judgement_describe(const route_judgement *j, char *buf, size_t n)
{
    size_t k = 0;
    if (!n) return;
    buf[0] = 0;
    if (j->confidence < 0) add(buf, n, &k, "confidence unknown");
    else add(buf, n, &k, "confidence %.2f", j->confidence);
    if (j->has_logprob) add(buf, n, &k, " (mean log-probability %.3f nats/token)", j->mean_logprob);
    if (j->confidence >= 0)
        add(buf, n, &k, " %s the threshold %.2f", j->confidence < j->threshold ? "below" : "at or above", j->threshold);
    if (j->truncated) add(buf, n, &k, "; cut at the length limit");
    if (j->refused) add(buf, n, &k, "; opens like a refusal ('%s')", j->refusal);
    if (j->empty) add(buf, n, &k, "; empty");
}

double route_model_threshold(const route_config *cfg, const route_model *m)
{
    return m && m->confidence_threshold >= 0 ? m->confidence_threshold : cfg->fallback_threshold;
}
