/* The routing rule language of the proposal, compiled once at load:
 *   condition: prompt contains 'x' | 'x' (short for prompt contains 'x')
 *              | tokens|context_tokens|complexity (<|<=|>|>=|==|!=) NUMBER
 *              | private | not C | C and C | C or C | ( C )
 *   action:    [use] embedded [MODEL] | [use] external [[PROVIDER] MODEL]
 *              | [use] hybrid [processing]
 * so "prompt contains 'generate code' or 'write function'" reads as the
 * proposal means it. */
#include "router/internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Bounds keep evaluation's recursion shallow whatever the input. */
enum { MAX_DEPTH = 64, MAX_TERMS = 256 };

typedef enum ekind { E_OR, E_AND, E_NOT, E_CONTAINS, E_CMP, E_PRIVATE } ekind;
typedef enum efield { F_TOKENS, F_CONTEXT, F_COMPLEXITY } efield;
typedef enum eop { OP_LT, OP_LE, OP_GT, OP_GE, OP_EQ, OP_NE } eop;

struct route_expr {
    ekind kind;
    route_expr *a, *b;
    char *text; /* E_CONTAINS */
    efield field;
    eop op;
    double num;
};

typedef enum tkind { T_END, T_LP, T_RP, T_STR, T_NUM, T_WORD, T_OP, T_BAD } tkind;

typedef struct parser {
    const char *s;
    size_t pos;     /* start of the current token */
    size_t next;    /* just past it */
    tkind tok;
    eop op;
    int depth;
    int terms;
    char *err;
    size_t errlen;
    size_t errcol;
} parser;

static int perr(parser *p, size_t col, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int perr(parser *p, size_t col, const char *fmt, ...)
{
    p->errcol = col;
    if (p->err && p->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err, p->errlen, fmt, ap);
        va_end(ap);
    }
    return ROUTE_ERR_RULE;
}

static void lex(parser *p)
{
    const char *s = p->s;
    size_t i = p->next;
    while (s[i] && isspace((unsigned char)s[i])) i++;
    p->pos = i;
    char ch = s[i];
    if (!ch) {
        p->tok = T_END;
    } else if (ch == '(' || ch == ')') {
        p->tok = ch == '(' ? T_LP : T_RP;
        i++;
    } else if (ch == '\'' || ch == '"') {
        const char *close = strchr(s + i + 1, ch);
        p->tok = close ? T_STR : T_BAD;
        i = close ? (size_t)(close - s) + 1 : i + 1;
    } else if (strchr("<>=!", ch)) {
        bool eq = s[i + 1] == '=';
        p->tok = T_OP;
        p->op = ch == '<' ? (eq ? OP_LE : OP_LT) : ch == '>' ? (eq ? OP_GE : OP_GT) : ch == '=' ? OP_EQ : OP_NE;
        if ((ch == '=' || ch == '!') && !eq) p->tok = T_BAD;
        i += eq ? 2 : 1;
    } else if (isdigit((unsigned char)ch) || ch == '.' || ch == '-') {
        p->tok = T_NUM;
        while (isalnum((unsigned char)s[i]) || s[i] == '.' || s[i] == '-' || s[i] == '+') i++;
    } else if (isalpha((unsigned char)ch) || ch == '_') {
        p->tok = T_WORD;
        while (isalnum((unsigned char)s[i]) || s[i] == '_') i++;
    } else {
        p->tok = T_BAD;
        i++;
    }
    p->next = i;
}

static bool is_word(const parser *p, const char *w)
{
    size_t n = strlen(w);
    return p->tok == T_WORD && p->next - p->pos == n && !strncasecmp(p->s + p->pos, w, n);
}

static route_expr *node(ekind k, route_expr *a, route_expr *b)
{
    route_expr *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->kind = k;
    e->a = a;
    e->b = b;
    return e;
}

void route_expr_free(route_expr *e)
{
    if (!e) return;
    route_expr_free(e->a);
    route_expr_free(e->b);
    free(e->text);
    free(e);
}

static int parse_or(parser *p, route_expr **out);

static int parse_string(parser *p, route_expr **out)
{
    size_t len = p->next - p->pos - 2;
    if (!len) return perr(p, p->pos, "empty string: nothing to look for");
    route_expr *e = node(E_CONTAINS, NULL, NULL);
    char *t = malloc(len + 1);
    if (!e || !t) {
        free(e);
        free(t);
        return perr(p, p->pos, "out of memory");
    }
    memcpy(t, p->s + p->pos + 1, len);
    t[len] = 0;
    e->text = t;
    *out = e;
    lex(p);
    return ROUTE_OK;
}

static int parse_compare(parser *p, efield field, route_expr **out)
{
    size_t wordpos = p->pos, wordlen = p->next - p->pos;
    lex(p);
    if (p->tok != T_OP) return perr(p, p->pos, "expected <, <=, >, >=, == or != after '%.*s'", (int)wordlen, p->s + wordpos);
    eop op = p->op;
    lex(p);
    char *end;
    errno = 0;
    double v = p->tok == T_NUM ? strtod(p->s + p->pos, &end) : 0;
    if (p->tok != T_NUM || end != p->s + p->next || errno || !isfinite(v)) return perr(p, p->pos, "expected a number");
    if (field == F_COMPLEXITY && (v < 0 || v > 1)) return perr(p, p->pos, "complexity is a score between 0 and 1");
    route_expr *e = node(E_CMP, NULL, NULL);
    if (!e) return perr(p, p->pos, "out of memory");
    e->field = field;
    e->op = op;
    e->num = v;
    *out = e;
    lex(p);
    return ROUTE_OK;
}

static int parse_primary(parser *p, route_expr **out)
{
    static const char *const words[] = {"prompt", "tokens", "context_tokens", "complexity", "private", "not"};
    if (++p->depth > MAX_DEPTH) return perr(p, p->pos, "condition nests deeper than %d levels", MAX_DEPTH);
    if (++p->terms > MAX_TERMS) return perr(p, p->pos, "condition has more than %d terms", MAX_TERMS);
    int rc;
    if (p->tok == T_LP) {
        size_t open = p->pos;
        lex(p);
        if ((rc = parse_or(p, out))) return rc;
        if (p->tok != T_RP) return perr(p, p->tok == T_END ? open : p->pos, p->tok == T_END ? "unbalanced '(': no matching ')'" : "expected ')'");
        lex(p);
        rc = ROUTE_OK;
    } else if (p->tok == T_STR) {
        rc = parse_string(p, out);
    } else if (is_word(p, "not")) {
        lex(p);
        route_expr *a = NULL;
        if ((rc = parse_primary(p, &a))) {
            route_expr_free(a);  /* a failed operand may hold a partial tree */
            return rc;
        }
        if (!(*out = node(E_NOT, a, NULL))) {
            route_expr_free(a);
            return perr(p, p->pos, "out of memory");
        }
    } else if (is_word(p, "prompt")) {
        lex(p);
        if (!is_word(p, "contains")) return perr(p, p->pos, "expected 'contains' after 'prompt'");
        lex(p);
        if (p->tok != T_STR) return perr(p, p->pos, p->tok == T_BAD ? "unterminated string" : "expected a quoted string after 'contains'");
        rc = parse_string(p, out);
    } else if (is_word(p, "tokens")) {
        rc = parse_compare(p, F_TOKENS, out);
    } else if (is_word(p, "context_tokens")) {
        rc = parse_compare(p, F_CONTEXT, out);
    } else if (is_word(p, "complexity")) {
        rc = parse_compare(p, F_COMPLEXITY, out);
    } else if (is_word(p, "private")) {
        if (!(*out = node(E_PRIVATE, NULL, NULL))) return perr(p, p->pos, "out of memory");
        lex(p);
        rc = ROUTE_OK;
    } else if (p->tok == T_WORD) {
        char w[64];
        snprintf(w, sizeof w, "%.*s", (int)(p->next - p->pos < 63 ? p->next - p->pos : 63), p->s + p->pos);
        const char *near = route_nearest(w, words, sizeof words / sizeof words[0]);
        if (near) return perr(p, p->pos, "unknown word '%s'; did you mean '%s'?", w, near);
        return perr(p, p->pos, "unknown word '%s'; expected prompt contains '...', tokens, complexity, private, not or '('", w);
    } else if (p->tok == T_BAD && (p->s[p->pos] == '\'' || p->s[p->pos] == '"')) {
        return perr(p, p->pos, "unterminated string");
    } else {
        return perr(p, p->pos, p->tok == T_END ? "condition ends too early" : "unexpected '%c'", p->s[p->pos]);
    }
    p->depth--;
    return rc;
}

static int parse_chain(parser *p, route_expr **out, const char *word, ekind kind,
                       int (*operand)(parser *, route_expr **))
{
    int rc = operand(p, out);
    while (!rc && is_word(p, word)) {
        lex(p);
        route_expr *b = NULL, *e;
        if ((rc = operand(p, &b))) {
            route_expr_free(b);  /* a failed operand may hold a partial tree */
            break;
        }
        if (!(e = node(kind, *out, b))) {
            route_expr_free(b);
            return perr(p, p->pos, "out of memory");
        }
        *out = e;
    }
    return rc;
}

static int parse_and(parser *p, route_expr **out) { return parse_chain(p, out, "and", E_AND, parse_primary); }
static int parse_or(parser *p, route_expr **out) { return parse_chain(p, out, "or", E_OR, parse_and); }

int route_expr_compile(const char *text, route_expr **out, size_t *errcol, char *err, size_t errlen)
{
    parser p = {.s = text, .err = err, .errlen = errlen};
    *out = NULL;
    lex(&p);
    if (p.tok == T_END) {
        *errcol = 0;
        return perr(&p, 0, "empty condition");
    }
    int rc = parse_or(&p, out);
    if (!rc && p.tok != T_END)
        rc = perr(&p, p.pos, p.tok == T_RP ? "unbalanced ')'" : "expected 'and', 'or' or the end of the condition");
    if (rc) {
        route_expr_free(*out);
        *out = NULL;
        *errcol = p.errcol;
    }
    return rc;
}

static bool compare(double x, eop op, double y)
{
    switch (op) {
    case OP_LT: return x < y;
    case OP_LE: return x <= y;
    case OP_GT: return x > y;
    case OP_GE: return x >= y;
    case OP_EQ: return x == y;
    case OP_NE: return x != y;
    }
    return false;
}

bool route_expr_eval(const route_expr *e, const route_facts *f)
{
    switch (e->kind) {
    case E_OR: return route_expr_eval(e->a, f) || route_expr_eval(e->b, f);
    case E_AND: return route_expr_eval(e->a, f) && route_expr_eval(e->b, f);
    case E_NOT: return !route_expr_eval(e->a, f);
    case E_CONTAINS: return f->prompt && route_find_ci(f->prompt, e->text) >= 0;
    case E_PRIVATE: return f->is_private;
    case E_CMP: {
        double x = e->field == F_TOKENS ? f->tokens : e->field == F_CONTEXT ? f->context_tokens : f->complexity;
        return compare(x, e->op, e->num);
    }
    }
    return false;
}

/* ---------------------------------------------------------------- actions */

static int word_at(const char *s, size_t *i, size_t *start, size_t *len)
{
    while (s[*i] && isspace((unsigned char)s[*i])) (*i)++;
    *start = *i;
    while (s[*i] && !isspace((unsigned char)s[*i])) (*i)++;
    *len = *i - *start;
    return *len > 0;
}

static bool word_is(const char *s, size_t start, size_t len, const char *w)
{
    return strlen(w) == len && !strncasecmp(s + start, w, len);
}

static char *word_dup(const char *s, size_t start, size_t len)
{
    char *d = malloc(len + 1);
    if (d) {
        memcpy(d, s + start, len);
        d[len] = 0;
    }
    return d;
}

int route_action_parse(const char *text, route_action *a, size_t *errcol, char *err, size_t errlen)
{
    static const char *const usage = "expected 'use embedded MODEL', 'use external [PROVIDER] MODEL' or 'hybrid processing'";
    size_t i = 0, st, len, ws[3], wl[3], n = 0;
    *a = (route_action){0};
    *errcol = 0;
    if (!word_at(text, &i, &st, &len)) return route_fail(err, errlen, ROUTE_ERR_RULE, "empty action: %s", usage);
    if (word_is(text, st, len, "use") && !word_at(text, &i, &st, &len)) {
        *errcol = i;
        return route_fail(err, errlen, ROUTE_ERR_RULE, "'use' what? %s", usage);
    }
    size_t kst = st, klen = len;
    while (word_at(text, &i, &st, &len)) {
        if (n == 2 || (n == 1 && !word_is(text, kst, klen, "external"))) {
            *errcol = st;
            return route_fail(err, errlen, ROUTE_ERR_RULE, "unexpected '%.*s' at the end of the action", (int)len, text + st);
        }
        ws[n] = st;
        wl[n++] = len;
    }
    if (word_is(text, kst, klen, "embedded") || word_is(text, kst, klen, "local")) {
        a->target = ROUTE_TO_EMBEDDED;
    } else if (word_is(text, kst, klen, "external")) {
        a->target = ROUTE_TO_EXTERNAL;
    } else if (word_is(text, kst, klen, "hybrid")) {
        a->target = ROUTE_TO_HYBRID;
        if (n && !word_is(text, ws[0], wl[0], "processing")) {
            *errcol = ws[0];
            return route_fail(err, errlen, ROUTE_ERR_RULE, "unexpected '%.*s' after 'hybrid'", (int)wl[0], text + ws[0]);
        }
        return ROUTE_OK;
    } else {
        *errcol = kst;
        return route_fail(err, errlen, ROUTE_ERR_RULE, "unknown target '%.*s': %s", (int)klen, text + kst, usage);
    }
    if (n == 2 && !(a->provider = word_dup(text, ws[0], wl[0]))) return route_fail(err, errlen, ROUTE_ERR_NOMEM, "out of memory");
    if (n && !(a->model = word_dup(text, ws[n - 1], wl[n - 1]))) {
        route_action_free(a);
        return route_fail(err, errlen, ROUTE_ERR_NOMEM, "out of memory");
    }
    return ROUTE_OK;
}
