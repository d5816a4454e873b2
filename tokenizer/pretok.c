/* Pre-tokenizers of the byte-level BPE vocabularies.
 *
 * Each pre-tokenizer is the list of regular expressions its upstream
 * configuration publishes, applied in turn: every pattern cuts each piece
 * left by the previous one into its matches and the gaps between them
 * (Hugging Face's Split with "isolated" behaviour). Instead of a regex
 * engine, each pattern is a hand-written matcher with the same leftmost,
 * greedy-with-backtracking result; the patterns are quoted above them.
 * Anchors and look-aheads see the end of the current piece.
 */
#include <stdlib.h>

#include "tokenizer/internal.h"
#include "tokenizer/unicode.h"

enum {
    L = TOK_U_LETTER,
    N = TOK_U_NUMBER,
    P = TOK_U_PUNCT,
    S = TOK_U_SPACE,
};

/* Match length at p within [p, e) (p < e), 0 for none. On no match a
 * matcher may set *skip to the first position worth trying again (when a
 * scan showed that nothing before it can match); it starts as p + 1. */
typedef size_t (*matcher)(const uint32_t *c, const uint8_t *f, size_t p, size_t e,
                          size_t *skip);

static bool is_nl(uint32_t c)
{
    return c == '\r' || c == '\n';
}

/* 's|'t|'re|'ve|'m|'ll|'d, ASCII case-insensitive when fold. */
static size_t contraction(const uint32_t *c, size_t p, size_t e, bool fold)
{
    if (c[p] != '\'' || p + 1 >= e)
        return 0;
    uint32_t a = c[p + 1], b = p + 2 < e ? c[p + 2] : 0;
    if (fold) {
        a = a >= 'A' && a <= 'Z' ? a + 32 : a;
        b = b >= 'A' && b <= 'Z' ? b + 32 : b;
    }
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return 3;
    return 0;
}

/* Run of code points from q whose flags have any bit of `any` and none of
 * `none`; returns the end. */
static size_t run_flags(const uint8_t *f, size_t q, size_t e, unsigned any, unsigned none)
{
    while (q < e && (f[q] & any) && !(f[q] & none))
        q++;
    return q;
}

/* \s+(?!\S): a whitespace run, less its last character unless the run ends
 * the piece (that character is left for what follows). */
static size_t space_not_before_nonspace(const uint8_t *f, size_t p, size_t e)
{
    size_t q = run_flags(f, p, e, S, 0);
    size_t run = q - p;
    if (run == 0 || q == e)
        return run;
    return run - 1;
}

/* [^\s\p{L}\p{N}] */
static bool is_other(uint8_t f)
{
    return !(f & (S | L | N));
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S) */
static size_t m_gpt2(const uint32_t *c, const uint8_t *f, size_t p, size_t e, size_t *skip)
{
    size_t n = contraction(c, p, e, false);
    if (n)
        return n;
    size_t q = p + (c[p] == ' ' && p + 1 < e);
    if (f[q] & L)
        return run_flags(f, q, e, L, 0) - p;
    if (f[q] & N)
        return run_flags(f, q, e, N, 0) - p;
    if (is_other(f[q])) {
        while (q < e && is_other(f[q]))
            q++;
        return q - p;
    }
    return space_not_before_nonspace(f, p, e);
}

/* Llama 3 and Qwen2: digits is 3 or 1 in
 * (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|
 * \p{N}{1,digits}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t llama3_like(const uint32_t *c, const uint8_t *f, size_t p, size_t e, size_t digits)
{
    size_t n = contraction(c, p, e, true);
    if (n)
        return n;
    if (f[p] & L)
        return run_flags(f, p, e, L, 0) - p;
    if (!is_nl(c[p]) && !(f[p] & (L | N)) && p + 1 < e && (f[p + 1] & L))
        return run_flags(f, p + 1, e, L, 0) - p;
    if (f[p] & N) {
        size_t q = p;
        while (q < e && q - p < digits && (f[q] & N))
            q++;
        return q - p;
    }
    size_t q = p + (c[p] == ' ' && p + 1 < e && is_other(f[p + 1]));
    if (is_other(f[q])) {
        while (q < e && is_other(f[q]))
            q++;
        while (q < e && is_nl(c[q]))
            q++;
        return q - p;
    }
    /* \s*[\r\n]+ ends after the last newline of the whitespace run. */
    size_t end = 0;
    for (q = p; q < e && (f[q] & S); q++)
        if (is_nl(c[q]))
            end = q + 1;
    if (end)
        return end - p;
    n = space_not_before_nonspace(f, p, e);
    return n ? n : q - p;
}

static size_t m_llama3(const uint32_t *c, const uint8_t *f, size_t p, size_t e, size_t *skip)
{
    return llama3_like(c, f, p, e, 3);
}

static size_t m_qwen2(const uint32_t *c, const uint8_t *f, size_t p, size_t e, size_t *skip)
{
    return llama3_like(c, f, p, e, 1);
}

/* [\p{P}\$\+<=>\^~\|]+ (with_backtick adds `) */
static bool is_punct_sym(uint32_t c, uint8_t f, bool with_backtick)
{
    return (f & P) || c == '$' || c == '+' || c == '<' || c == '=' || c == '>' || c == '^' ||
           c == '~' || c == '|' || (with_backtick && c == '`');
}

static size_t punct_run(const uint32_t *c, const uint8_t *f, size_t p, size_t e, bool bt)
{
    size_t q = p;
    while (q < e && is_punct_sym(c[q], f[q], bt))
        q++;
    return q - p;
}

static size_t m_punct(const uint32_t *c, const uint8_t *f, size_t p, size_t e, size_t *skip)
{
    return punct_run(c, f, p, e, false);
}

static size_t m_punct_bt(const uint32_t *c, const uint8_t *f, size_t p, size_t e, size_t *skip)
{
    return punct_run(c, f, p, e, true);
}

/* \p{N}+ */
static size_t m_numbers(const uint32_t *c, const uint8_t *f, size_t p, size_t e, size_t *skip)
{
    return run_flags(f, p, e, N, 0) - p;
}

/* \p{N} */
static size_t m_number(const uint32_t *c, const uint8_t *f, size_t p, size_t e, size_t *skip)
{
    return (f[p] & N) ? 1 : 0;
}

/* [0-9][0-9][0-9] */
static size_t m_three_digits(const uint32_t *c, const uint8_t *f, size_t p, size_t e,
                             size_t *skip)
{
    for (size_t i = 0; i < 3; i++) {
        if (p + i >= e || c[p + i] < '0' || c[p + i] > '9') {
            *skip = p + i + 1;
            return 0;
        }
    }
    return 3;
}

/* [\r\n] */
static size_t m_newline(const uint32_t *c, const uint8_t *f, size_t p, size_t e, size_t *skip)
{
    return is_nl(c[p]) ? 1 : 0;
}

/* \s+$ */
static size_t m_trailing_space(const uint32_t *c, const uint8_t *f, size_t p, size_t e,
                               size_t *skip)
{
    size_t q = run_flags(f, p, e, S, 0);
    if (q == e)
        return q - p;
    *skip = q + 1;
    return 0;
}

typedef struct cp_range {
    uint32_t lo, hi;
} cp_range;

static bool in_ranges(uint32_t c, const cp_range *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (c >= r[i].lo && c <= r[i].hi)
            return true;
    return false;
}

/* The letters of DeepSeek LLM's second pattern (its bracket expression,
 * as code point ranges). */
static const cp_range ds_letters[] = {
    {0x41, 0x5A}, {0x61, 0x7A}, {0xB5, 0xB5}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x1BA},
    {0x1BC, 0x1BF}, {0x1C4, 0x293}, {0x295, 0x2AF}, {0x370, 0x373}, {0x376, 0x377},
    {0x37B, 0x37D}, {0x37F, 0x37F}, {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C},
    {0x38E, 0x3A1}, {0x3A3, 0x3F5}, {0x3F7, 0x481}, {0x48A, 0x52F}, {0x531, 0x556},
    {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, {0x1C90, 0x1CBA}, {0x1CBD, 0x1CBF},
    {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A}, {0x1E00, 0x1F15}, {0x1F18, 0x1F1D},
    {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B},
    {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE},
    {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC},
    {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102}, {0x2107, 0x2107}, {0x210A, 0x2113},
    {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126}, {0x2128, 0x2128},
    {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F}, {0x2145, 0x2149},
    {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4}, {0x2CEB, 0x2CEE},
    {0x2CF2, 0x2CF3}, {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F}, {0xA771, 0xA787},
    {0xA78B, 0xA78E}, {0xAB70, 0xABBF}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFF21, 0xFF3A},
    {0xFF41, 0xFF5A}, {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};

/* [!-/:-~！-／：-～‘-‟　-。] */
static const cp_range ds_punct[] = {
    {0x21, 0x2F}, {0x3A, 0x7E}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E}, {0x2018, 0x201F},
    {0x3000, 0x3002},
};

/* [一-龥ࠀ-一가-퟿] */
static const cp_range ds_cjk[] = {{0x4E00, 0x9FA5}, {0x800, 0x4E00}, {0xAC00, 0xD7FF}};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

typedef bool (*cp_pred)(uint32_t c, uint8_t f);

static bool pred_ds_letter(uint32_t c, uint8_t f)
{
    return c < 0x80 ? (f & L) != 0 : in_ranges(c, ds_letters, N_OF(ds_letters));
}

static bool pred_ds_punct(uint32_t c, uint8_t f)
{
    return in_ranges(c, ds_punct, N_OF(ds_punct));
}

static bool pred_letter(uint32_t c, uint8_t f)
{
    return (f & L) != 0;
}

static bool pred_punct(uint32_t c, uint8_t f)
{
    return (f & P) != 0;
}

/* \s?X+ for a class X. */
static size_t space_then_run(const uint32_t *c, const uint8_t *f, size_t p, size_t e, cp_pred x)
{
    size_t q;
    if ((f[p] & S) && p + 1 < e && x(c[p + 1], f[p + 1]))
        q = p + 1;
    else if (x(c[p], f[p]))
        q = p;
    else
        return 0;
    while (q < e && x(c[q], f[q]))
        q++;
    return q - p;
}

static size_t m_ds_letters(const uint32_t *c, const uint8_t *f, size_t p, size_t e, size_t *skip)
{
    return space_then_run(c, f, p, e, pred_ds_letter);
}

static size_t m_ds_punct(const uint32_t *c, const uint8_t *f, size_t p, size_t e, size_t *skip)
{
    return space_then_run(c, f, p, e, pred_ds_punct);
}

static size_t m_space_letters(const uint32_t *c, const uint8_t *f, size_t p, size_t e,
                              size_t *skip)
{
    return space_then_run(c, f, p, e, pred_letter);
}

static size_t m_space_punct(const uint32_t *c, const uint8_t *f, size_t p, size_t e,
                            size_t *skip)
{
    return space_then_run(c, f, p, e, pred_punct);
}

static size_t m_ds_cjk(const uint32_t *c, const uint8_t *f, size_t p, size_t e, size_t *skip)
{
    size_t q = p;
    while (q < e && in_ranges(c[q], ds_cjk, N_OF(ds_cjk)))
        q++;
    return q - p;
}

#define MAX_PATTERNS 6

typedef struct pre_def {
    size_t n;
    matcher m[MAX_PATTERNS];
} pre_def;

static const pre_def pre_defs[] = {
    [TOK_PRE_DEFAULT] = {4, {m_punct, m_gpt2, m_numbers, m_three_digits}},
    [TOK_PRE_GPT2] = {1, {m_gpt2}},
    [TOK_PRE_LLAMA3] = {1, {m_llama3}},
    [TOK_PRE_QWEN2] = {1, {m_qwen2}},
    [TOK_PRE_DEEPSEEK_LLM] = {6, {m_newline, m_ds_letters, m_ds_punct, m_trailing_space,
                                  m_ds_cjk, m_numbers}},
    [TOK_PRE_DEEPSEEK_CODER] = {5, {m_newline, m_space_letters, m_space_punct, m_ds_cjk,
                                    m_number}},
    [TOK_PRE_FALCON] = {3, {m_punct_bt, m_gpt2, m_three_digits}},
    [TOK_PRE_STARCODER] = {2, {m_number, m_gpt2}},
};

static int push_off(tok_offsets *o, size_t x)
{
    if (tok_reserve(&o->v, &o->cap, o->n + 1, sizeof *o->v) != TOK_OK)
        return TOK_ENOMEM;
    o->v[o->n++] = x;
    return TOK_OK;
}

/* Cut [s, e) by one pattern, appending piece ends to out. */
static int split_piece(matcher m, const uint32_t *c, const uint8_t *f, size_t s, size_t e,
                       tok_offsets *out)
{
    size_t p = s, gap = s;
    while (p < e) {
        size_t skip = p + 1;
        size_t n = m(c, f, p, e, &skip);
        if (n == 0) {
            p = skip < e ? skip : e;
            continue;
        }
        if (gap < p && push_off(out, p) != TOK_OK)
            return TOK_ENOMEM;
        p += n;
        gap = p;
        if (push_off(out, p) != TOK_OK)
            return TOK_ENOMEM;
    }
    if (gap < e && push_off(out, e) != TOK_OK)
        return TOK_ENOMEM;
    return TOK_OK;
}

int tok_pretokenize(tok_pre pre, const uint32_t *cps, size_t n, tok_offsets *ends)
{
    ends->n = 0;
    if (n == 0)
        return TOK_OK;
    uint8_t *f = malloc(n);
    if (!f)
        return TOK_ENOMEM;
    for (size_t i = 0; i < n; i++)
        f[i] = (uint8_t)tok_uni_flags(cps[i]);
    const pre_def *d = &pre_defs[pre];
    tok_offsets tmp = {0};
    int rc = push_off(ends, n);
    for (size_t k = 0; k < d->n && rc == TOK_OK; k++) {
        tok_offsets prev = *ends;
        *ends = tmp;
        ends->n = 0;
        size_t s = 0;
        for (size_t i = 0; i < prev.n && rc == TOK_OK; i++) {
            rc = split_piece(d->m[k], cps, f, s, prev.v[i], ends);
            s = prev.v[i];
        }
        tmp = prev;
    }
    free(tmp.v);
    free(f);
    return rc;
}
