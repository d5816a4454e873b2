/* Reading a parsed JSON tree: documents, lookups, iteration, typed getters. */
#include "net/net_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct net_json_doc {
    net_arena arena;
    const net_json *root;
};

int net_json_parse_doc(const char *text, size_t len, net_json_doc **doc, char *err, size_t errlen)
{
    if (!doc)
        return net_errf(err, errlen, NET_E_ARG, "JSON: NULL argument");
    *doc = NULL;
    net_json_doc *d = malloc(sizeof *d);
    if (!d)
        return net_errf(err, errlen, NET_E_NOMEM, "JSON: out of memory");
    net_arena_init(&d->arena, NULL, 0);
    int rc = net_json_parse(&d->arena, text, len, 0, &d->root, err, errlen);
    if (rc < 0) {
        net_json_free(d);
        return rc;
    }
    *doc = d;
    return NET_OK;
}

const net_json *net_json_root(const net_json_doc *doc)
{
    return doc ? doc->root : NULL;
}

void net_json_free(net_json_doc *doc)
{
    if (!doc)
        return;
    net_arena_free(&doc->arena);
    free(doc);
}

net_json_type net_json_typeof(const net_json *v)
{
    return v ? v->type : NET_JSON_NULL;
}

const char *net_json_type_name(net_json_type t)
{
    static const char *const names[] = {"null", "boolean", "number", "string", "array", "object"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

const net_json *net_json_getn(const net_json *obj, const char *key, size_t keylen)
{
    if (!obj || obj->type != NET_JSON_OBJECT || !key)
        return NULL;
    for (const net_json *c = obj->child; c; c = c->next)
        if (c->keylen == keylen && memcmp(c->key, key, keylen) == 0)
            return c;
    return NULL;
}

const net_json *net_json_get(const net_json *obj, const char *key)
{
    return key ? net_json_getn(obj, key, strlen(key)) : NULL;
}

/* One reference token of a JSON Pointer, unescaped into tok; its length or
 * -1 for a bad "~" escape or an oversized token. */
static long pointer_token(const char *s, size_t n, char *tok, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '~') {
            if (i + 1 >= n || (s[i + 1] != '0' && s[i + 1] != '1'))
                return -1;
            c = s[++i] == '0' ? '~' : '/';
        }
        if (o >= cap)
            return -1;
        tok[o++] = c;
    }
    return (long)o;
}

static bool array_index(const char *tok, size_t n, size_t *idx)
{
    if (n == 0 || (n > 1 && tok[0] == '0'))
        return false;
    size_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (tok[i] < '0' || tok[i] > '9' || v > (SIZE_MAX - 9) / 10)
            return false;
        v = v * 10 + (size_t)(tok[i] - '0');
    }
    *idx = v;
    return true;
}

const net_json *net_json_path(const net_json *v, const char *pointer)
{
    if (!pointer)
        return NULL;
    const char *s = pointer;
    char tok[256];
    while (v && *s) {
        if (*s != '/')
            return NULL;
        s++;
        size_t n = strcspn(s, "/");
        long tl = pointer_token(s, n, tok, sizeof tok);
        if (tl < 0)
            return NULL;
        size_t idx;
        if (v->type == NET_JSON_OBJECT)
            v = net_json_getn(v, tok, (size_t)tl);
        else if (v->type == NET_JSON_ARRAY && array_index(tok, (size_t)tl, &idx))
            v = net_json_at(v, idx);
        else
            return NULL;
        s += n;
    }
    return v;
}

const net_json *net_json_first(const net_json *v)
{
    return v && (v->type == NET_JSON_ARRAY || v->type == NET_JSON_OBJECT) ? v->child : NULL;
}

const net_json *net_json_next(const net_json *v)
{
    return v ? v->next : NULL;
}

const char *net_json_key(const net_json *member, size_t *len)
{
    if (len)
        *len = member && member->key ? member->keylen : 0;
    return member ? member->key : NULL;
}

size_t net_json_count(const net_json *v)
{
    return v && (v->type == NET_JSON_ARRAY || v->type == NET_JSON_OBJECT) ? v->len : 0;
}

const net_json *net_json_at(const net_json *v, size_t i)
{
    const net_json *c = net_json_first(v);
    while (c && i--)
        c = c->next;
    return c;
}

bool net_json_is_null(const net_json *v)
{
    return v && v->type == NET_JSON_NULL;
}

const char *net_json_str(const net_json *v, size_t *len)
{
    bool ok = v && v->type == NET_JSON_STRING;
    if (len)
        *len = ok ? v->len : 0;
    return ok ? v->s : NULL;
}

const char *net_json_num_text(const net_json *v)
{
    return v && v->type == NET_JSON_NUMBER ? v->s : NULL;
}

static int type_error(const net_json *v, const char *want, char *err, size_t errlen)
{
    return net_errf(err, errlen, NET_E_TYPE, "JSON value%s%.*s%s is %s, expected %s",
                    v && v->key ? " \"" : "", v && v->key ? (int)(v->keylen > 64 ? 64 : v->keylen) : 0,
                    v && v->key ? v->key : "", v && v->key ? "\"" : "",
                    v ? net_json_type_name(v->type) : "missing", want);
}

int net_json_bool(const net_json *v, bool *out)
{
    if (!v || v->type != NET_JSON_BOOL)
        return NET_E_TYPE;
    *out = v->b;
    return NET_OK;
}

int net_json_double(const net_json *v, double *out, char *err, size_t errlen)
{
    if (!v || v->type != NET_JSON_NUMBER)
        return type_error(v, "a number", err, errlen);
    errno = 0;
    double d = net_strtod_c(v->s);
    *out = d;
    if (isinf(d))
        return net_errf(err, errlen, NET_E_RANGE, "JSON number %.40s does not fit a double", v->s);
    return NET_OK;
}

int net_json_int64(const net_json *v, int64_t *out, char *err, size_t errlen)
{
    if (!v || v->type != NET_JSON_NUMBER)
        return type_error(v, "an integer", err, errlen);
    const char *s = v->s;
    bool neg = *s == '-';
    if (neg)
        s++;
    if (s[strspn(s, "0123456789")] != '\0')
        return net_errf(err, errlen, NET_E_TYPE, "JSON number %.40s is not an integer", v->s);
    uint64_t acc = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; *s; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (acc > (lim - d) / 10)
            return net_errf(err, errlen, NET_E_RANGE, "JSON integer %.40s is outside the int64 range",
                            v->s);
        acc = acc * 10 + d;
    }
    *out = neg ? (acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc) : (int64_t)acc;
    return NET_OK;
}

const char *net_json_get_str(const net_json *obj, const char *key, const char *dflt)
{
    const char *s = net_json_str(net_json_get(obj, key), NULL);
    return s ? s : dflt;
}

int64_t net_json_get_int(const net_json *obj, const char *key, int64_t dflt)
{
    int64_t v;
    return net_json_int64(net_json_get(obj, key), &v, NULL, 0) == NET_OK ? v : dflt;
}
