/* Strict RFC 8259 JSON parser building a tree in a net_arena. */
#include "net/net_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct jp {
    const unsigned char *s;
    size_t len, pos;
    net_arena *a;
    int depth, max_depth;
    char *err;
    size_t errlen;
    int rc;  /* the first error */
} jp;

/* Report msg at byte offset at as "JSON line L, column C (byte N): msg". */
static int jp_fail(jp *p, size_t at, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int jp_fail(jp *p, size_t at, int rc, const char *fmt, ...)
{
    if (!p->rc)
        p->rc = rc;
    if (!p->err || !p->errlen)
        return rc;
    size_t line = 1, col = 1;
    for (size_t i = 0; i < at && i < p->len; i++) {
        if (p->s[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    char msg[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return net_errf(p->err, p->errlen, rc, "JSON line %zu, column %zu (byte %zu): %s",
                    line, col, at, msg);
}

static int jp_unexpected(jp *p, const char *what)
{
    if (p->pos >= p->len)
        return jp_fail(p, p->pos, NET_E_SYNTAX, "unexpected end of input, expected %s", what);
    char b[16];
    return jp_fail(p, p->pos, NET_E_SYNTAX, "unexpected %s, expected %s",
                   net_byte_desc(p->s[p->pos], b), what);
}

static void skip_ws(jp *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static net_json *new_node(jp *p, net_json_type t)
{
    net_json *n = net_arena_alloc(p->a, sizeof *n);
    if (!n) {
        jp_fail(p, p->pos, NET_E_NOMEM, "out of memory building the tree");
        return NULL;
    }
    memset(n, 0, sizeof *n);
    n->type = t;
    return n;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four hex digits at s[i]; -1 when not. */
static long hex4(const jp *p, size_t i)
{
    if (p->len - i < 4)
        return -1;
    long v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(p->s[i + (size_t)k]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Validate the string whose opening quote is at p->pos; on success *end is
 * the offset of the closing quote and *dlen the decoded length. */
static int scan_string(jp *p, size_t *end, size_t *dlen)
{
    size_t i = p->pos + 1, n = 0;
    while (i < p->len) {
        unsigned char c = p->s[i];
        if (c == '"') {
            *end = i;
            *dlen = n;
            return NET_OK;
        }
        if (c < 0x20)
            return jp_fail(p, i, NET_E_SYNTAX,
                           "control character 0x%02X must be escaped inside a string", c);
        if (c >= 0x80) {
            uint32_t cp;
            size_t k = net_utf8_decode(p->s + i, p->len - i, &cp);
            if (!k)
                return jp_fail(p, i, NET_E_UTF8, "invalid UTF-8 sequence starting with byte 0x%02X", c);
            i += k;
            n += k;
            continue;
        }
        if (c != '\\') {
            i++;
            n++;
            continue;
        }
        if (i + 1 >= p->len)
            break;
        unsigned char e = p->s[i + 1];
        if (strchr("\"\\/bfnrt", e) && e) {
            i += 2;
            n++;
            continue;
        }
        if (e != 'u') {
            char b[16];
            return jp_fail(p, i, NET_E_SYNTAX, "invalid escape '\\' followed by %s",
                           net_byte_desc(e, b));
        }
        long u = hex4(p, i + 2);
        if (u < 0)
            return jp_fail(p, i, NET_E_SYNTAX, "\\u must be followed by four hex digits");
        if (u >= 0xDC00 && u <= 0xDFFF)
            return jp_fail(p, i, NET_E_UTF8, "lone low surrogate \\u%04lX", u);
        if (u >= 0xD800 && u <= 0xDBFF) {
            long lo = (p->len - i >= 8 && p->s[i + 6] == '\\' && p->s[i + 7] == 'u')
                          ? hex4(p, i + 8) : -1;
            if (lo < 0xDC00 || lo > 0xDFFF)
                return jp_fail(p, i, NET_E_UTF8,
                               "high surrogate \\u%04lX not followed by a low surrogate escape", u);
            i += 12;
            n += 4;
            continue;
        }
        i += 6;
        n += u < 0x80 ? 1 : u < 0x800 ? 2 : 3;
    }
    return jp_fail(p, p->pos, NET_E_SYNTAX, "unterminated string");
}

/* Decode the string validated by scan_string into dst (NUL-terminated). */
static void decode_string(const jp *p, size_t i, size_t end, char *dst)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    while (i < end) {
        unsigned char c = p->s[i];
        if (c != '\\') {
            *dst++ = (char)c;
            i++;
            continue;
        }
        unsigned char e = p->s[i + 1];
        if (e != 'u') {
            *dst++ = to[strchr(from, e) - from];
            i += 2;
            continue;
        }
        uint32_t u = (uint32_t)hex4(p, i + 2);
        i += 6;
        if (u >= 0xD800 && u <= 0xDBFF) {
            uint32_t lo = (uint32_t)hex4(p, i + 2);
            u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
        }
        dst += net_utf8_encode(u, dst);
    }
    *dst = '\0';
}

/* Parse a string at p->pos into a decoded copy; advances past the quote. */
static const char *parse_string(jp *p, size_t *outlen)
{
    size_t end = 0, dlen = 0;
    if (scan_string(p, &end, &dlen) < 0)
        return NULL;
    char *d = net_arena_alloc(p->a, dlen + 1);
    if (!d) {
        jp_fail(p, p->pos, NET_E_NOMEM, "out of memory for a string of %zu bytes", dlen);
        return NULL;
    }
    decode_string(p, p->pos + 1, end, d);
    *outlen = dlen;
    p->pos = end + 1;
    return d;
}

static bool is_digit(const jp *p, size_t i)
{
    return i < p->len && p->s[i] >= '0' && p->s[i] <= '9';
}

static size_t skip_digits(const jp *p, size_t i)
{
    while (is_digit(p, i))
        i++;
    return i;
}

static net_json *parse_number(jp *p)
{
    size_t start = p->pos, i = start;
    if (p->s[i] == '-')
        i++;
    if (!is_digit(p, i)) {
        jp_fail(p, i, NET_E_SYNTAX, "expected a digit after '-'");
        return NULL;
    }
    if (p->s[i] == '0' && is_digit(p, i + 1)) {
        jp_fail(p, i, NET_E_SYNTAX, "leading zeros are not allowed in numbers");
        return NULL;
    }
    i = skip_digits(p, i);
    if (i < p->len && p->s[i] == '.') {
        if (!is_digit(p, i + 1)) {
            jp_fail(p, i + 1, NET_E_SYNTAX, "expected a digit after the decimal point");
            return NULL;
        }
        i = skip_digits(p, i + 1);
    }
    if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
        i++;
        if (i < p->len && (p->s[i] == '+' || p->s[i] == '-'))
            i++;
        if (!is_digit(p, i)) {
            jp_fail(p, i, NET_E_SYNTAX, "expected a digit in the exponent");
            return NULL;
        }
        i = skip_digits(p, i);
    }
    net_json *n = new_node(p, NET_JSON_NUMBER);
    char *t = n ? net_arena_alloc(p->a, i - start + 1) : NULL;
    if (!t) {
        if (n)
            jp_fail(p, start, NET_E_NOMEM, "out of memory for a number");
        return NULL;
    }
    memcpy(t, p->s + start, i - start);
    t[i - start] = '\0';
    n->s = t;
    n->len = i - start;
    p->pos = i;
    return n;
}

static net_json *parse_literal(jp *p)
{
    static const struct { const char *word; net_json_type t; bool b; } lits[] = {
        {"true", NET_JSON_BOOL, true}, {"false", NET_JSON_BOOL, false}, {"null", NET_JSON_NULL, false},
    };
    for (size_t k = 0; k < sizeof lits / sizeof lits[0]; k++) {
        size_t wl = strlen(lits[k].word);
        if (p->len - p->pos >= wl && memcmp(p->s + p->pos, lits[k].word, wl) == 0) {
            net_json *n = new_node(p, lits[k].t);
            if (n) {
                n->b = lits[k].b;
                p->pos += wl;
            }
            return n;
        }
    }
    for (size_t k = 0; k < sizeof lits / sizeof lits[0]; k++)
        if (p->s[p->pos] == (unsigned char)lits[k].word[0]) {
            jp_fail(p, p->pos, NET_E_SYNTAX, "invalid literal, expected \"%s\"", lits[k].word);
            return NULL;
        }
    jp_unexpected(p, "a value");
    return NULL;
}

static net_json *parse_value(jp *p);

static bool enter(jp *p)
{
    if (++p->depth > p->max_depth) {
        jp_fail(p, p->pos, NET_E_DEPTH, "nesting deeper than %d levels", p->max_depth);
        return false;
    }
    p->pos++;
    skip_ws(p);
    return true;
}

/* After a ',' the next token must not close the container. */
static bool trailing_comma(jp *p, unsigned char close)
{
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        jp_fail(p, p->pos, NET_E_SYNTAX, "trailing comma before '%c'", close);
        return true;
    }
    return false;
}

/* After an element: ',' (more follow, returns 1), the close (returns 0),
 * or an error (-1). */
static int after_item(jp *p, unsigned char close, const char *what)
{
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ',') {
        p->pos++;
        return trailing_comma(p, close) ? -1 : 1;
    }
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        p->depth--;
        return 0;
    }
    char want[64];
    snprintf(want, sizeof want, "',' or '%c' after %s", close, what);
    jp_unexpected(p, want);
    return -1;
}

/* An object key and its ':'; NULL after reporting an error. */
static const char *parse_key(jp *p, size_t *klen)
{
    if (p->pos >= p->len || p->s[p->pos] != '"') {
        jp_unexpected(p, "a string key");
        return NULL;
    }
    const char *key = parse_string(p, klen);
    if (!key)
        return NULL;
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != ':') {
        jp_unexpected(p, "':' after the object key");
        return NULL;
    }
    p->pos++;
    return key;
}

/* The array or object opening at p->pos, with everything in it. */
static net_json *parse_container(jp *p, bool object)
{
    unsigned char close = object ? '}' : ']';
    net_json *c = new_node(p, object ? NET_JSON_OBJECT : NET_JSON_ARRAY);
    if (!c || !enter(p))
        return NULL;
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        p->depth--;
        return c;
    }
    const net_json **tail = &c->child;
    for (;;) {
        const char *key = NULL;
        size_t klen = 0;
        if (object && !(key = parse_key(p, &klen)))
            return NULL;
        net_json *v = parse_value(p);
        if (!v)
            return NULL;
        v->key = key;
        v->keylen = klen;
        *tail = v;
        tail = &v->next;
        c->len++;
        int r = after_item(p, close, object ? "an object member" : "an array element");
        if (r <= 0)
            return r < 0 ? NULL : c;
        skip_ws(p);
    }
}

static net_json *parse_value(jp *p)
{
    skip_ws(p);
    if (p->pos >= p->len) {
        jp_unexpected(p, "a value");
        return NULL;
    }
    unsigned char c = p->s[p->pos];
    if (c == '{' || c == '[')
        return parse_container(p, c == '{');
    if (c == '-' || (c >= '0' && c <= '9'))
        return parse_number(p);
    if (c == '"') {
        net_json *n = new_node(p, NET_JSON_STRING);
        if (n && !(n->s = parse_string(p, &n->len)))
            return NULL;
        return n;
    }
    return parse_literal(p);
}

int net_json_parse(net_arena *a, const char *text, size_t len, int max_depth,
                   const net_json **root, char *err, size_t errlen)
{
    if (root)
        *root = NULL;
    if (!a || !root || (!text && len))
        return net_errf(err, errlen, NET_E_ARG, "JSON: NULL argument");
    jp p = {.s = (const unsigned char *)text, .len = len, .a = a,
            .max_depth = max_depth <= 0 ? NET_JSON_DEFAULT_DEPTH
                         : max_depth > NET_JSON_MAX_DEPTH ? NET_JSON_MAX_DEPTH : max_depth,
            .err = err, .errlen = errlen};
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        return jp_fail(&p, 0, NET_E_SYNTAX, "byte order mark is not allowed in JSON");
    skip_ws(&p);
    if (p.pos >= len)
        return jp_fail(&p, p.pos, NET_E_SYNTAX, "empty input, expected a JSON value");
    net_json *v = parse_value(&p);
    if (!v)
        return p.rc ? p.rc : NET_E_SYNTAX;
    skip_ws(&p);
    if (p.pos < len) {
        char b[16];
        return jp_fail(&p, p.pos, NET_E_SYNTAX, "unexpected %s after the JSON value",
                       net_byte_desc(p.s[p.pos], b));
    }
    *root = v;
    return NET_OK;
}
