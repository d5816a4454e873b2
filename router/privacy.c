/* Sensitive-data detection: anything that looks like a credential or
 * personal data keeps the request on this machine. False positives only
 * cost a local answer; false negatives leak, so the patterns lean wide. */
#include "router/internal.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool tokch(unsigned char c) { return isalnum(c) || c == '_' || c == '-'; }

static size_t run_len(const char *s, bool (*pred)(unsigned char))
{
    size_t n = 0;
    while (s[n] && pred((unsigned char)s[n])) n++;
    return n;
}

static bool upper_or_digit(unsigned char c) { return isupper(c) || isdigit(c); }
static bool b64url(unsigned char c) { return isalnum(c) || c == '_' || c == '-'; }

/* A key of the form PREFIX + at least min token characters. */
static bool prefixed_key(const char *p, const char *prefix, size_t min)
{
    size_t n = strlen(prefix);
    if (strncmp(p, prefix, n)) return false;
    return run_len(p + n, tokch) >= min;
}

static bool jwt_at(const char *p)
{
    if (strncmp(p, "eyJ", 3)) return false;
    size_t a = run_len(p, b64url);
    if (a < 10 || p[a] != '.') return false;
    size_t b = run_len(p + a + 1, b64url);
    return b >= 10 && p[a + 1 + b] == '.';
}

/* "password: hunter2", "api_key=...", "secret = '...'" */
static bool assignment_at(const char *p, const char *text)
{
    static const char *const names[] = {"password", "passwd", "passphrase", "pwd", "secret", "api_key", "apikey", "api-key",
                                        "access_token", "auth_token", "token", "private_key"};
    if (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_')) return false;
    if (!strchr("pPsSaAtT", *p)) return false; /* the names' first letters */
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n = strlen(names[i]);
        if (strncasecmp(p, names[i], n)) continue;
        const char *q = p + n;
        while (*q == ' ' || *q == '\t') q++;
        /* "password is hunter2" says it too; "token is valid" does not. */
        bool said = i < 3 && (!strncasecmp(q, "is ", 3) || !strncasecmp(q, "was ", 4));
        if (*q != ':' && *q != '=' && !said) continue;
        q += said ? (q[0] == 'i' || q[0] == 'I' ? 3 : 4) : 1;
        while (*q == ' ' || *q == '\t' || *q == '"' || *q == '\'') q++;
        size_t v = 0;
        while (q[v] && !isspace((unsigned char)q[v]) && q[v] != '"' && q[v] != '\'') v++;
        if (v >= 4) return true;
    }
    return false;
}

static bool email_at(const char *p, const char *text)
{
    if (*p != '@' || p == text) return false;
    const char *l = p;
    while (l > text && (isalnum((unsigned char)l[-1]) || strchr("._%+-", l[-1]))) l--;
    if (l == p) return false;
    const char *d = p + 1;
    size_t labels = 0, len = 0;
    while (isalnum((unsigned char)d[len]) || d[len] == '-' || d[len] == '.') {
        if (d[len] == '.') labels++;
        len++;
    }
    return labels >= 1 && len >= 4 && d[len - 1] != '.';
}

/* 13 to 19 digits (spaces or dashes between) passing the Luhn check. */
static bool card_at(const char *p, const char *text)
{
    if (!isdigit((unsigned char)*p) || (p > text && isalnum((unsigned char)p[-1]))) return false;
    int digits[19], n = 0;
    const char *q = p;
    for (; *q && n < 19; q++) {
        if (isdigit((unsigned char)*q)) digits[n++] = *q - '0';
        else if (!(*q == ' ' || *q == '-') || !isdigit((unsigned char)q[1])) break;
    }
    if (n < 13 || isdigit((unsigned char)*q)) return false;
    int sum = 0;
    for (int i = 0; i < n; i++) {
        int d = digits[n - 1 - i];
        if (i % 2) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
        sum += d;
    }
    return sum % 10 == 0;
}

static bool ssn_at(const char *p, const char *text)
{
    if (p > text && isalnum((unsigned char)p[-1])) return false;
    static const char shape[] = "ddd-dd-dddd";
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? !isdigit((unsigned char)p[i]) : p[i] != '-') return false;
    return !isalnum((unsigned char)p[11]);
}

static const char *scan_at(const char *p, const char *text)
{
    /* Keys start a word: "task-force-..." is no "sk-" key. */
    if (email_at(p, text)) return "an e-mail address";
    bool word_start = p == text || !(isalnum((unsigned char)p[-1]) || p[-1] == '_' || p[-1] == '-');
    if (!word_start) return NULL;
    if (!strncmp(p, "-----BEGIN", 10) && strstr(p, "PRIVATE KEY")) return "a private key block";
    if (prefixed_key(p, "sk-ant-", 20)) return "an Anthropic API key";
    if (prefixed_key(p, "sk-", 20)) return "an OpenAI-style API key";
    if (!strncmp(p, "AKIA", 4) && run_len(p + 4, upper_or_digit) >= 16) return "an AWS access key";
    if (prefixed_key(p, "ghp_", 20) || prefixed_key(p, "gho_", 20) || prefixed_key(p, "github_pat_", 20)) return "a GitHub token";
    if (prefixed_key(p, "xoxb-", 10) || prefixed_key(p, "xoxp-", 10)) return "a Slack token";
    if (jwt_at(p)) return "a JSON web token";
    if (!strncasecmp(p, "bearer ", 7) && run_len(p + 7, tokch) >= 20) return "a bearer token";
    if (assignment_at(p, text)) return "a password or secret assignment";
    if (card_at(p, text)) return "a payment card number";
    if (ssn_at(p, text)) return "a social security number";
    return NULL;
}

bool route_privacy_scan(const route_config *cfg, const char *text, char *what, size_t whatlen)
{
    if (!text) return false;
    if (cfg && !cfg->privacy_enable) return false;
    for (size_t i = 0; cfg && i < cfg->n_private_patterns; i++) {
        long at = route_find_ci(text, cfg->private_patterns[i]);
        if (at >= 0) {
            if (what) snprintf(what, whatlen, "private pattern '%s' at byte %ld", cfg->private_patterns[i], at);
            return true;
        }
    }
    for (const char *p = text; *p; p++) {
        const char *kind = scan_at(p, text);
        if (kind) {
            if (what) snprintf(what, whatlen, "%s at byte %ld", kind, (long)(p - text));
            return true;
        }
    }
    return false;
}
