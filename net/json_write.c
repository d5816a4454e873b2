/* JSON writer appending to a net_buf, with validation and escaping. */
#include "net/net_internal.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

enum { ST_OBJECT = 1, ST_NONEMPTY = 2 };

static int jw_fail(net_jw *w, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int jw_fail(net_jw *w, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rc = net_vsticky(&w->rc, w->msg, sizeof w->msg, rc, fmt, ap);
    va_end(ap);
    return rc;
}

static int jw_put(net_jw *w, const char *s, size_t n)
{
    int rc = net_buf_append(w->out, s, n);
    if (rc < 0)
        return jw_fail(w, rc, rc == NET_E_LIMIT ? "JSON writer: output limit reached"
                                                : "JSON writer: out of memory");
    return NET_OK;
}

void net_jw_init(net_jw *w, net_buf *out)
{
    memset(w, 0, sizeof *w);
    w->out = out;
    if (!out)
        jw_fail(w, NET_E_ARG, "JSON writer: NULL buffer");
}

/* Before any value: a separator, and a check that a value may go here. */
static int jw_value_start(net_jw *w, const char *what)
{
    if (w->rc)
        return w->rc;
    if (w->depth == 0) {
        if (w->done)
            return jw_fail(w, NET_E_STATE, "JSON writer: %s after the complete top-level value", what);
        return NET_OK;
    }
    unsigned char *st = &w->st[w->depth - 1];
    if ((*st & ST_OBJECT) && !w->after_key)
        return jw_fail(w, NET_E_STATE, "JSON writer: %s inside an object needs a key first", what);
    w->after_key = false;
    if (!(*st & ST_OBJECT) && (*st & ST_NONEMPTY) && jw_put(w, ",", 1) < 0)
        return w->rc;
    *st |= ST_NONEMPTY;
    return NET_OK;
}

static int jw_value_end(net_jw *w)
{
    if (!w->rc && w->depth == 0)
        w->done = true;
    return w->rc;
}

static int jw_scalar(net_jw *w, const char *what, const char *text, size_t n)
{
    if (jw_value_start(w, what) < 0 || jw_put(w, text, n) < 0)
        return w->rc;
    return jw_value_end(w);
}

static int jw_open(net_jw *w, bool object)
{
    if (jw_value_start(w, object ? "an object" : "an array") < 0)
        return w->rc;
    if (w->depth >= NET_JW_MAX_DEPTH)
        return jw_fail(w, NET_E_DEPTH, "JSON writer: nesting deeper than %d", NET_JW_MAX_DEPTH);
    w->st[w->depth++] = object ? ST_OBJECT : 0;
    return jw_put(w, object ? "{" : "[", 1);
}

static int jw_close(net_jw *w, bool object)
{
    if (w->rc)
        return w->rc;
    if (w->depth == 0 || !(w->st[w->depth - 1] & ST_OBJECT) != !object)
        return jw_fail(w, NET_E_STATE, "JSON writer: '%c' does not match the open container",
                       object ? '}' : ']');
    if (w->after_key)
        return jw_fail(w, NET_E_STATE, "JSON writer: key without a value before '}'");
    w->depth--;
    if (jw_put(w, object ? "}" : "]", 1) < 0)
        return w->rc;
    return jw_value_end(w);
}

int net_jw_obj_begin(net_jw *w) { return jw_open(w, true); }
int net_jw_obj_end(net_jw *w) { return jw_close(w, true); }
int net_jw_arr_begin(net_jw *w) { return jw_open(w, false); }
int net_jw_arr_end(net_jw *w) { return jw_close(w, false); }

int net_json_quote(net_buf *out, const char *s, size_t n, char *err, size_t errlen)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    /* Validate first so a failure leaves out unchanged. */
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = net_utf8_decode(u + i, n - i, &cp);
        if (!k)
            return net_errf(err, errlen, NET_E_UTF8,
                            "JSON writer: invalid UTF-8 at byte %zu of a string (byte 0x%02X)", i, u[i]);
        i += k;
    }
    size_t start = out->len;
    int rc = net_buf_append(out, "\"", 1);
    size_t run = 0;  /* bytes copied unchanged in one append */
    for (size_t i = 0; i < n && rc == NET_OK; i++) {
        unsigned char c = u[i];
        char esc[7];
        size_t el = 0;
        if (c == '"' || c == '\\') {
            esc[0] = '\\'; esc[1] = (char)c; el = 2;
        } else if (c < 0x20) {
            const char *shortc = c == '\n' ? "n" : c == '\r' ? "r" : c == '\t' ? "t"
                               : c == '\b' ? "b" : c == '\f' ? "f" : NULL;
            esc[0] = '\\';
            if (shortc) {
                esc[1] = shortc[0]; el = 2;
            } else {
                memcpy(esc + 1, "u00", 3); esc[4] = hex[c >> 4]; esc[5] = hex[c & 15]; el = 6;
            }
        }
        if (!el) {
            run++;
            continue;
        }
        rc = net_buf_append(out, s + i - run, run);
        run = 0;
        if (rc == NET_OK)
            rc = net_buf_append(out, esc, el);
    }
    if (rc == NET_OK)
        rc = net_buf_append(out, s + n - run, run);
    if (rc == NET_OK)
        rc = net_buf_append(out, "\"", 1);
    if (rc < 0) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
        return net_errf(err, errlen, rc, "JSON writer: %s",
                        rc == NET_E_LIMIT ? "output limit reached" : "out of memory");
    }
    return NET_OK;
}

static int jw_string(net_jw *w, const char *s, size_t n, bool key)
{
    if (w->rc)
        return w->rc;
    if (!s)
        return jw_fail(w, NET_E_ARG, "JSON writer: NULL string");
    if (key) {
        if (w->depth == 0 || !(w->st[w->depth - 1] & ST_OBJECT) || w->after_key)
            return jw_fail(w, NET_E_STATE, "JSON writer: key \"%.40s\" outside an object or after a key", s);
        if ((w->st[w->depth - 1] & ST_NONEMPTY) && jw_put(w, ",", 1) < 0)
            return w->rc;
    } else if (jw_value_start(w, "a string") < 0) {
        return w->rc;
    }
    int rc = net_json_quote(w->out, s, n, w->msg, sizeof w->msg);
    if (rc < 0)
        return w->rc = rc;
    if (key) {
        w->st[w->depth - 1] |= ST_NONEMPTY;
        w->after_key = true;
        return jw_put(w, ":", 1);
    }
    return jw_value_end(w);
}

int net_jw_key(net_jw *w, const char *key)
{
    return jw_string(w, key, key ? strlen(key) : 0, true);
}

int net_jw_strn(net_jw *w, const char *s, size_t n)
{
    return jw_string(w, s, n, false);
}

int net_jw_str(net_jw *w, const char *s)
{
    return jw_string(w, s, s ? strlen(s) : 0, false);
}

int net_jw_int(net_jw *w, int64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof t, "%lld", (long long)v);
    return jw_scalar(w, "a number", t, (size_t)n);
}

/* printf's decimal point follows the locale; JSON needs '.'. */
static size_t fmt_double(char *t, size_t cap, int prec, double v)
{
    int n = snprintf(t, cap, "%.*g", prec, v);
    const char *dp = localeconv()->decimal_point;
    size_t dpl = dp ? strlen(dp) : 1;
    char *at = dp && strcmp(dp, ".") != 0 ? strstr(t, dp) : NULL;
    if (at) {
        *at = '.';
        memmove(at + 1, at + dpl, strlen(at + dpl) + 1);
        n -= (int)dpl - 1;
    }
    return (size_t)n;
}

int net_jw_double(net_jw *w, double v)
{
    if (w->rc)
        return w->rc;
    if (!isfinite(v))
        return jw_fail(w, NET_E_RANGE, "JSON writer: %s has no JSON form", isnan(v) ? "NaN" : "infinity");
    char t[40];
    size_t n = 0;
    /* Whole numbers as integers ("10", not the shorter-precision "1e+01"). */
    if (v == floor(v) && fabs(v) < 9007199254740992.0)
        return jw_scalar(w, "a number", t, (size_t)snprintf(t, sizeof t, "%.0f", v));
    /* Otherwise the shortest precision that reads back exactly. */
    for (int prec = 1; prec <= 17; prec++) {
        n = fmt_double(t, sizeof t, prec, v);
        if (net_strtod_c(t) == v)
            break;
    }
    return jw_scalar(w, "a number", t, n);
}

int net_jw_bool(net_jw *w, bool v)
{
    return jw_scalar(w, "a boolean", v ? "true" : "false", v ? 4 : 5);
}

int net_jw_null(net_jw *w)
{
    return jw_scalar(w, "null", "null", 4);
}

/* Length of a JSON number at the start of s, or 0 when it is not one. */
static size_t number_len(const char *s)
{
    size_t i = 0;
    if (s[i] == '-')
        i++;
    if (s[i] == '0')
        i++;
    else if (s[i] >= '1' && s[i] <= '9')
        i += strspn(s + i, "0123456789");
    else
        return 0;
    if (s[i] == '.') {
        size_t d = strspn(s + i + 1, "0123456789");
        if (!d)
            return 0;
        i += 1 + d;
    }
    if (s[i] == 'e' || s[i] == 'E') {
        i++;
        if (s[i] == '+' || s[i] == '-')
            i++;
        size_t d = strspn(s + i, "0123456789");
        if (!d)
            return 0;
        i += d;
    }
    return i;
}

int net_jw_num_text(net_jw *w, const char *text)
{
    if (w->rc)
        return w->rc;
    size_t n = text ? number_len(text) : 0;
    if (!n || text[n] != '\0')
        return jw_fail(w, NET_E_SYNTAX, "JSON writer: \"%.40s\" is not a JSON number", text ? text : "(null)");
    return jw_scalar(w, "a number", text, n);
}

int net_jw_value(net_jw *w, const net_json *v)
{
    if (w->rc)
        return w->rc;
    if (!v)
        return jw_fail(w, NET_E_ARG, "JSON writer: NULL value");
    switch (v->type) {
    case NET_JSON_NULL:
        return net_jw_null(w);
    case NET_JSON_BOOL:
        return net_jw_bool(w, v->b);
    case NET_JSON_NUMBER:
        return jw_scalar(w, "a number", v->s, v->len);
    case NET_JSON_STRING:
        return net_jw_strn(w, v->s, v->len);
    case NET_JSON_ARRAY:
    case NET_JSON_OBJECT:
        break;
    }
    bool obj = v->type == NET_JSON_OBJECT;
    jw_open(w, obj);
    for (const net_json *c = v->child; c && !w->rc; c = c->next) {
        if (obj)
            jw_string(w, c->key, c->keylen, true);
        net_jw_value(w, c);
    }
    return jw_close(w, obj);
}

int net_jw_finish(net_jw *w, char *err, size_t errlen)
{
    if (!w->rc && (w->depth || !w->done))
        jw_fail(w, NET_E_STATE, "JSON writer: %s", w->depth ? "unclosed object or array" : "nothing written");
    if (w->rc)
        return net_errf(err, errlen, w->rc, "%s", w->msg);
    return NET_OK;
}
