/* GGUF reader: parse and validate a mapped file; lookups and type traits. */
#include "gguf/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF reader assumes a little-endian host"
#endif

#define GGUF_MAGIC "GGUF"
/* Arrays of arrays are legal but no real file nests deeply; the bound keeps
 * a hostile file from recursing the parser off the stack. */
#define MAX_ARRAY_DEPTH 8

static const gguf_type_traits type_traits[GGUF_T_COUNT] = {
    [GGUF_T_F32] = {"f32", 1, 4},         [GGUF_T_F16] = {"f16", 1, 2},
    [GGUF_T_Q4_0] = {"q4_0", 32, 18},     [GGUF_T_Q4_1] = {"q4_1", 32, 20},
    [GGUF_T_Q5_0] = {"q5_0", 32, 22},     [GGUF_T_Q5_1] = {"q5_1", 32, 24},
    [GGUF_T_Q8_0] = {"q8_0", 32, 34},     [GGUF_T_Q8_1] = {"q8_1", 32, 36},
    [GGUF_T_Q2_K] = {"q2_K", 256, 84},    [GGUF_T_Q3_K] = {"q3_K", 256, 110},
    [GGUF_T_Q4_K] = {"q4_K", 256, 144},   [GGUF_T_Q5_K] = {"q5_K", 256, 176},
    [GGUF_T_Q6_K] = {"q6_K", 256, 210},   [GGUF_T_Q8_K] = {"q8_K", 256, 292},
    [GGUF_T_IQ2_XXS] = {"iq2_xxs", 256, 66}, [GGUF_T_IQ2_XS] = {"iq2_xs", 256, 74},
    [GGUF_T_IQ3_XXS] = {"iq3_xxs", 256, 98}, [GGUF_T_IQ1_S] = {"iq1_s", 256, 50},
    [GGUF_T_IQ4_NL] = {"iq4_nl", 32, 18}, [GGUF_T_IQ3_S] = {"iq3_s", 256, 110},
    [GGUF_T_IQ2_S] = {"iq2_s", 256, 82},  [GGUF_T_IQ4_XS] = {"iq4_xs", 256, 136},
    [GGUF_T_I8] = {"i8", 1, 1},           [GGUF_T_I16] = {"i16", 1, 2},
    [GGUF_T_I32] = {"i32", 1, 4},         [GGUF_T_I64] = {"i64", 1, 8},
    [GGUF_T_F64] = {"f64", 1, 8},         [GGUF_T_IQ1_M] = {"iq1_m", 256, 56},
    [GGUF_T_BF16] = {"bf16", 1, 2},       [GGUF_T_TQ1_0] = {"tq1_0", 256, 54},
    [GGUF_T_TQ2_0] = {"tq2_0", 256, 66},
};

static const char *const vtype_names[GGUF_V_COUNT] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
    "bool", "string", "array", "uint64", "int64", "float64",
};

/* Encoded size of a fixed-size value type, 0 for STRING/ARRAY/unknown. */
static const uint8_t vtype_size[GGUF_V_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const gguf_type_traits *gguf_type_info(uint32_t type)
{
    if (type >= GGUF_T_COUNT || !type_traits[type].name)
        return NULL;
    return &type_traits[type];
}

const char *gguf_vtype_name(uint32_t vtype)
{
    return vtype < GGUF_V_COUNT ? vtype_names[vtype] : "unknown";
}

uint64_t gguf_row_size(uint32_t type, uint64_t n)
{
    const gguf_type_traits *t = gguf_type_info(type);
    if (!t || n % t->blck)
        return 0;
    uint64_t blocks = n / t->blck;
    if (blocks > UINT64_MAX / t->size)
        return 0;
    return blocks * t->size;
}

bool gguf_str_eq(gguf_str s, const char *c)
{
    size_t n = strlen(c);
    return s.len == n && memcmp(s.ptr, c, n) == 0;
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- Parsing ---- */

typedef struct cursor {
    gguf_file *f;
    uint64_t pos;
    char *err;
    size_t errlen;
    char what[160];  /* what is being read, for messages */
} cursor;

static int fail(cursor *c, int status, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    seterr(c->err, c->errlen, "%s: %s: %s", c->f->name, c->what, msg);
    return status;
}

static int need(cursor *c, uint64_t n)
{
    if (n > c->f->size - c->pos)
        return fail(c, GGUF_EFORMAT,
                    "truncated: needs %llu bytes at offset %llu, file has %llu",
                    (unsigned long long)n, (unsigned long long)c->pos,
                    (unsigned long long)c->f->size);
    return GGUF_OK;
}

static int rd(cursor *c, void *out, uint64_t n)
{
    int rc = need(c, n);
    if (rc)
        return rc;
    memcpy(out, c->f->base + c->pos, n);
    c->pos += n;
    return GGUF_OK;
}

static int rd_u32(cursor *c, uint32_t *v) { return rd(c, v, 4); }
static int rd_u64(cursor *c, uint64_t *v) { return rd(c, v, 8); }

uint64_t gguf_utf8_prefix(const char *str, uint64_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    uint64_t i = 0;
    while (i < n) {
        unsigned char b = s[i];
        uint64_t len;
        uint32_t cp, min;
        if (b < 0x80) {
            i++;
            continue;
        } else if ((b & 0xE0) == 0xC0) {
            len = 2, cp = b & 0x1F, min = 0x80;
        } else if ((b & 0xF0) == 0xE0) {
            len = 3, cp = b & 0x0F, min = 0x800;
        } else if ((b & 0xF8) == 0xF0) {
            len = 4, cp = b & 0x07, min = 0x10000;
        } else {
            return i;
        }
        if (len > n - i)
            return i;
        for (uint64_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += len;
    }
    return n;
}

/* A string: uint64 length then bytes. Names (keys, tensor names) must be
 * non-empty valid UTF-8; values may hold any bytes (token pieces do). */
static int rd_str(cursor *c, gguf_str *s, bool is_name)
{
    uint64_t at = c->pos;
    int rc = rd_u64(c, &s->len);
    if (rc)
        return rc;
    if (s->len > c->f->size - c->pos)
        return fail(c, GGUF_EFORMAT,
                    "string length %llu at offset %llu runs past end of file (%llu bytes)",
                    (unsigned long long)s->len, (unsigned long long)at,
                    (unsigned long long)c->f->size);
    s->ptr = (const char *)c->f->base + c->pos;
    c->pos += s->len;
    if (is_name) {
        if (s->len == 0)
            return fail(c, GGUF_EFORMAT, "empty name at offset %llu", (unsigned long long)at);
        uint64_t ok = gguf_utf8_prefix(s->ptr, s->len);
        if (ok != s->len)
            return fail(c, GGUF_EFORMAT, "name at offset %llu is not valid UTF-8 (bad byte 0x%02x at offset %llu)",
                        (unsigned long long)at, (unsigned char)s->ptr[ok],
                        (unsigned long long)(at + 8 + ok));
    }
    return GGUF_OK;
}

static int rd_value(cursor *c, uint32_t type, gguf_kv *kv, int depth);

/* An array: element type, count, elements. Fixed-size elements are used in
 * place; for strings (and nested arrays) an offset table is built so that
 * element i is found in constant time. */
static int rd_array(cursor *c, gguf_kv *kv, int depth)
{
    uint32_t et;
    uint64_t n;
    int rc;
    if ((rc = rd_u32(c, &et)) || (rc = rd_u64(c, &n)))
        return rc;
    if (et >= GGUF_V_COUNT)
        return fail(c, GGUF_EFORMAT, "array element type %u is not a GGUF value type", et);
    if (depth >= MAX_ARRAY_DEPTH)
        return fail(c, GGUF_EFORMAT, "arrays nested more than %d deep", MAX_ARRAY_DEPTH);
    kv->v.arr.type = et;
    kv->v.arr.n = n;
    kv->v.arr.data = c->f->base + c->pos;
    kv->v.arr.offs = NULL;
    uint64_t start = c->pos;
    if (vtype_size[et]) {
        uint64_t sz = vtype_size[et];
        if (n > (c->f->size - c->pos) / sz)
            return fail(c, GGUF_EFORMAT,
                        "array of %llu %s elements at offset %llu runs past end of file (%llu bytes)",
                        (unsigned long long)n, vtype_names[et], (unsigned long long)start,
                        (unsigned long long)c->f->size);
        c->pos += n * sz;
        if (et == GGUF_V_BOOL)
            for (uint64_t i = 0; i < n; i++)
                if (kv->v.arr.data[i] > 1)
                    return fail(c, GGUF_EFORMAT, "bool array element %llu has value %u",
                                (unsigned long long)i, kv->v.arr.data[i]);
    } else {
        /* Each string or array element takes at least 8 bytes: bound n
         * before allocating the offset table. */
        if (n > (c->f->size - c->pos) / 8)
            return fail(c, GGUF_EFORMAT,
                        "array of %llu %s elements at offset %llu runs past end of file (%llu bytes)",
                        (unsigned long long)n, vtype_names[et], (unsigned long long)start,
                        (unsigned long long)c->f->size);
        uint64_t *offs = malloc((n ? n : 1) * sizeof *offs);
        if (!offs)
            return fail(c, GGUF_ENOMEM, "out of memory for %llu array elements", (unsigned long long)n);
        kv->v.arr.offs = offs;  /* owned by kv from here on, freed on close */
        for (uint64_t i = 0; i < n; i++) {
            gguf_kv elem = {0};
            offs[i] = c->pos - start;
            rc = rd_value(c, et, &elem, depth + 1);
            if (et == GGUF_V_ARRAY)
                free(elem.v.arr.offs);  /* nested arrays are validated, not indexed */
            if (rc)
                return rc;
        }
    }
    kv->v.arr.nbytes = c->pos - start;
    return GGUF_OK;
}

static int rd_value(cursor *c, uint32_t type, gguf_kv *kv, int depth)
{
    int rc;
    kv->type = type;
    switch (type) {
    case GGUF_V_UINT8: case GGUF_V_UINT16: case GGUF_V_UINT32: case GGUF_V_UINT64: {
        uint64_t v = 0;
        if ((rc = rd(c, &v, vtype_size[type])))
            return rc;
        kv->v.u = v;
        return GGUF_OK;
    }
    case GGUF_V_INT8: { int8_t v; if ((rc = rd(c, &v, 1))) return rc; kv->v.i = v; return GGUF_OK; }
    case GGUF_V_INT16: { int16_t v; if ((rc = rd(c, &v, 2))) return rc; kv->v.i = v; return GGUF_OK; }
    case GGUF_V_INT32: { int32_t v; if ((rc = rd(c, &v, 4))) return rc; kv->v.i = v; return GGUF_OK; }
    case GGUF_V_INT64: { int64_t v; if ((rc = rd(c, &v, 8))) return rc; kv->v.i = v; return GGUF_OK; }
    case GGUF_V_FLOAT32: { float v; if ((rc = rd(c, &v, 4))) return rc; kv->v.f = v; return GGUF_OK; }
    case GGUF_V_FLOAT64: { double v; if ((rc = rd(c, &v, 8))) return rc; kv->v.f = v; return GGUF_OK; }
    case GGUF_V_BOOL: {
        uint8_t v;
        if ((rc = rd(c, &v, 1)))
            return rc;
        if (v > 1)
            return fail(c, GGUF_EFORMAT, "bool has value %u (must be 0 or 1)", v);
        kv->v.b = v;
        return GGUF_OK;
    }
    case GGUF_V_STRING:
        return rd_str(c, &kv->v.s, false);
    case GGUF_V_ARRAY:
        return rd_array(c, kv, depth);
    default:
        return fail(c, GGUF_EFORMAT, "value type %u is not a GGUF value type", type);
    }
}

static int cmp_u64p(const void *a, const void *b, void *ctx);

typedef struct names_ctx {
    const uint8_t *items;
    size_t stride, off;
} names_ctx;

static gguf_str name_at(const names_ctx *nc, uint64_t i)
{
    gguf_str s;
    memcpy(&s, nc->items + i * nc->stride + nc->off, sizeof s);
    return s;
}

static int cmp_names(const void *a, const void *b, void *ctx)
{
    gguf_str x = name_at(ctx, *(const uint64_t *)a), y = name_at(ctx, *(const uint64_t *)b);
    int r = memcmp(x.ptr, y.ptr, x.len < y.len ? x.len : y.len);
    return r ? r : (x.len > y.len) - (x.len < y.len);
}

/* Names must be unique; sorting keeps this O(n log n) for hostile counts. */
static int check_unique(cursor *c, const void *items, size_t stride, size_t off, uint64_t n,
                        const char *what)
{
    names_ctx nc = {items, stride, off};
    uint64_t *order = malloc((n ? n : 1) * sizeof *order);
    if (!order)
        return fail(c, GGUF_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < n; i++)
        order[i] = i;
    qsort_r(order, n, sizeof *order, cmp_names, &nc);
    for (uint64_t k = 1; k < n; k++) {
        if (cmp_names(&order[k - 1], &order[k], &nc) == 0) {
            uint64_t a = order[k - 1] < order[k] ? order[k - 1] : order[k];
            uint64_t b = order[k - 1] < order[k] ? order[k] : order[k - 1];
            gguf_str s = name_at(&nc, b);
            snprintf(c->what, sizeof c->what, "%s #%llu '%.*s'", what, (unsigned long long)b,
                     (int)(s.len > 96 ? 96 : s.len), s.ptr);
            free(order);
            return fail(c, GGUF_EFORMAT, "duplicate name (also %s #%llu)", what, (unsigned long long)a);
        }
    }
    free(order);
    return GGUF_OK;
}

static void free_tables(gguf_file *f)
{
    if (f->kv)
        for (uint64_t i = 0; i < f->n_kv; i++)
            if (f->kv[i].type == GGUF_V_ARRAY)
                free(f->kv[i].v.arr.offs);
    free(f->kv);
    free(f->tensors);
    f->kv = NULL;
    f->tensors = NULL;
}

/* "<prefix> '<name>'" as the subject of later messages. */
static void set_what(cursor *c, const char *prefix, gguf_str name)
{
    snprintf(c->what, sizeof c->what, "%s '%.*s'", prefix, (int)(name.len > 96 ? 96 : name.len), name.ptr);
}

/* A zeroed table of n entries, each of which takes at least min_bytes of
 * what is left of the file: a hostile count fails here, before allocating. */
static void *alloc_table(cursor *c, uint64_t n, uint64_t min_bytes, size_t elem, const char *what,
                         int *rc)
{
    void *p;
    if (n > (c->f->size - c->pos) / min_bytes) {
        snprintf(c->what, sizeof c->what, "header");
        *rc = fail(c, GGUF_EFORMAT, "%s count %llu cannot fit in a file of %llu bytes", what,
                   (unsigned long long)n, (unsigned long long)c->f->size);
        return NULL;
    }
    if (!(p = calloc(n ? n : 1, elem)))
        *rc = fail(c, GGUF_ENOMEM, "out of memory for %llu %s entries", (unsigned long long)n, what);
    return p;
}

static int parse_kvs(cursor *c, uint64_t n_kv)
{
    gguf_file *f = c->f;
    int rc;
    /* A key/value pair takes at least 13 bytes: key length, one key byte, type. */
    if (!(f->kv = alloc_table(c, n_kv, 13, sizeof *f->kv, "metadata", &rc)))
        return rc;
    for (uint64_t i = 0; i < n_kv; i++) {
        gguf_kv *kv = &f->kv[i];
        uint32_t type;
        snprintf(c->what, sizeof c->what, "metadata key #%llu", (unsigned long long)i);
        if ((rc = rd_str(c, &kv->key, true)))
            return rc;
        set_what(c, "metadata", kv->key);
        f->n_kv = i + 1;  /* from here on gguf_close frees this entry's table */
        if ((rc = rd_u32(c, &type)) || (rc = rd_value(c, type, kv, 0)))
            return rc;
    }
    return check_unique(c, f->kv, sizeof *f->kv, offsetof(gguf_kv, key), n_kv, "metadata key");
}

static int parse_alignment(cursor *c)
{
    gguf_file *f = c->f;
    const gguf_kv *kv = gguf_find(f, "general.alignment");
    f->alignment = 32;
    if (!kv)
        return GGUF_OK;
    snprintf(c->what, sizeof c->what, "metadata 'general.alignment'");
    if (kv->type != GGUF_V_UINT32)
        return fail(c, GGUF_EFORMAT, "must be uint32, is %s", gguf_vtype_name(kv->type));
    if (kv->v.u == 0 || (kv->v.u & (kv->v.u - 1)))
        return fail(c, GGUF_EFORMAT, "%llu is not a power of two", (unsigned long long)kv->v.u);
    f->alignment = (uint32_t)kv->v.u;
    return GGUF_OK;
}

static int parse_tensor_info(cursor *c, gguf_tensor *t, uint64_t i)
{
    int rc;
    snprintf(c->what, sizeof c->what, "tensor #%llu", (unsigned long long)i);
    if ((rc = rd_str(c, &t->name, true)))
        return rc;
    set_what(c, "tensor", t->name);
    if ((rc = rd_u32(c, &t->n_dims)))
        return rc;
    if (t->n_dims == 0 || t->n_dims > GGUF_MAX_DIMS)
        return fail(c, GGUF_EFORMAT, "has %u dimensions (1 to %d allowed)", t->n_dims, GGUF_MAX_DIMS);
    t->nelem = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        t->ne[d] = 1;
        if (d >= t->n_dims)
            continue;
        if ((rc = rd_u64(c, &t->ne[d])))
            return rc;
        if (t->ne[d] == 0 || t->ne[d] > (uint64_t)INT64_MAX)
            return fail(c, GGUF_EFORMAT, "dimension %u is %llu", d, (unsigned long long)t->ne[d]);
        if (t->nelem > (uint64_t)INT64_MAX / t->ne[d])
            return fail(c, GGUF_EFORMAT, "element count overflows at dimension %u", d);
        t->nelem *= t->ne[d];
    }
    if ((rc = rd_u32(c, &t->type)) || (rc = rd_u64(c, &t->offset)))
        return rc;
    const gguf_type_traits *tr = gguf_type_info(t->type);
    if (!tr)
        return fail(c, GGUF_EFORMAT, "unknown tensor type id %u", t->type);
    uint64_t row = gguf_row_size(t->type, t->ne[0]);
    if (!row)
        return fail(c, GGUF_EFORMAT, "row length %llu is not a multiple of the %s block size %u",
                    (unsigned long long)t->ne[0], tr->name, tr->blck);
    uint64_t rows = t->nelem / t->ne[0];
    if (rows > UINT64_MAX / row)
        return fail(c, GGUF_EFORMAT, "byte size overflows");
    t->nbytes = row * rows;
    return GGUF_OK;
}

static int check_tensor_data(cursor *c)
{
    gguf_file *f = c->f;
    uint64_t n = f->n_tensors;
    uint64_t *order = malloc((n ? n : 1) * sizeof *order);
    if (!order)
        return fail(c, GGUF_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < n; i++) {
        gguf_tensor *t = &f->tensors[i];
        uint64_t start = f->data_offset + t->offset;
        set_what(c, "tensor", t->name);
        if (t->offset % f->alignment) {
            free(order);
            return fail(c, GGUF_EFORMAT, "data offset %llu is not a multiple of the alignment %u",
                        (unsigned long long)t->offset, f->alignment);
        }
        if (t->offset > f->size || f->data_offset > f->size - t->offset ||
            t->nbytes > f->size - start) {
            int rc = fail(c, GGUF_EFORMAT, "data [%llu, %llu) runs past end of file (%llu bytes)",
                          (unsigned long long)(f->data_offset + t->offset),
                          (unsigned long long)(f->data_offset + t->offset + t->nbytes),
                          (unsigned long long)f->size);
            free(order);
            return rc;
        }
        t->data = f->base + start;
        order[i] = i;
    }
    qsort_r(order, n, sizeof *order, cmp_u64p, f->tensors);
    for (uint64_t k = 1; k < n; k++) {
        const gguf_tensor *a = &f->tensors[order[k - 1]], *b = &f->tensors[order[k]];
        if (a->offset + a->nbytes > b->offset) {
            set_what(c, "tensor", b->name);
            int rc = fail(c, GGUF_EFORMAT, "data [%llu, %llu) overlaps tensor '%.*s' [%llu, %llu)",
                          (unsigned long long)(f->data_offset + b->offset),
                          (unsigned long long)(f->data_offset + b->offset + b->nbytes),
                          (int)(a->name.len > 96 ? 96 : a->name.len), a->name.ptr,
                          (unsigned long long)(f->data_offset + a->offset),
                          (unsigned long long)(f->data_offset + a->offset + a->nbytes));
            free(order);
            return rc;
        }
    }
    free(order);
    return GGUF_OK;
}

static int cmp_u64p(const void *a, const void *b, void *ctx)
{
    const gguf_tensor *t = ctx;
    uint64_t x = t[*(const uint64_t *)a].offset, y = t[*(const uint64_t *)b].offset;
    return x < y ? -1 : x > y;
}

static int parse_tensors(cursor *c, uint64_t n)
{
    gguf_file *f = c->f;
    int rc;
    /* A tensor info takes at least 33 bytes: name length, one name byte,
     * n_dims, one dimension, type, offset. */
    if (!(f->tensors = alloc_table(c, n, 33, sizeof *f->tensors, "tensor", &rc)))
        return rc;
    for (uint64_t i = 0; i < n; i++)
        if ((rc = parse_tensor_info(c, &f->tensors[i], i)))
            return rc;
    f->n_tensors = n;
    rc = check_unique(c, f->tensors, sizeof *f->tensors, offsetof(gguf_tensor, name), n, "tensor");
    if (rc)
        return rc;
    uint64_t pad = (f->alignment - c->pos % f->alignment) % f->alignment;
    f->data_offset = c->pos + pad;
    if (n && f->data_offset > f->size) {
        snprintf(c->what, sizeof c->what, "data section");
        return fail(c, GGUF_EFORMAT, "starts at offset %llu, past end of file (%llu bytes)",
                    (unsigned long long)f->data_offset, (unsigned long long)f->size);
    }
    return check_tensor_data(c);
}

static int parse(gguf_file *f, char *err, size_t errlen)
{
    cursor c = {.f = f, .pos = 0, .err = err, .errlen = errlen};
    char magic[4];
    uint64_t n_tensors, n_kv;
    int rc;
    snprintf(c.what, sizeof c.what, "header");
    if ((rc = rd(&c, magic, 4)))
        return rc;
    if (memcmp(magic, GGUF_MAGIC, 4) != 0)
        return fail(&c, GGUF_EFORMAT, "not a GGUF file (magic %02x %02x %02x %02x, expected 'GGUF')",
                    (uint8_t)magic[0], (uint8_t)magic[1], (uint8_t)magic[2], (uint8_t)magic[3]);
    if ((rc = rd_u32(&c, &f->version)))
        return rc;
    if (f->version == 1)
        return fail(&c, GGUF_EFORMAT, "GGUF version 1 is obsolete; convert the file to version 3");
    if (f->version == 0x02000000u || f->version == 0x03000000u)
        return fail(&c, GGUF_EFORMAT, "big-endian GGUF files are not supported");
    if (f->version != 2 && f->version != 3)
        return fail(&c, GGUF_EFORMAT, "unsupported GGUF version %u (2 and 3 are read)", f->version);
    if ((rc = rd_u64(&c, &n_tensors)) || (rc = rd_u64(&c, &n_kv)))
        return rc;
    if ((rc = parse_kvs(&c, n_kv)) || (rc = parse_alignment(&c)))
        return rc;
    return parse_tensors(&c, n_tensors);
}

int gguf_open_mem(gguf_file *f, const void *data, size_t size, const char *name,
                  char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    f->name = name ? name : "<memory>";
    f->base = data;
    f->size = size;
    int rc = parse(f, err, errlen);
    if (rc) {
        free_tables(f);
        f->n_kv = f->n_tensors = 0;
    }
    return rc;
}

int gguf_open(gguf_file *f, const char *path, char *err, size_t errlen)
{
    struct stat st;
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        seterr(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return GGUF_EIO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        seterr(err, errlen, "%s: not a regular file", path);
        close(fd);
        return GGUF_EIO;
    }
    if (st.st_size == 0) {
        seterr(err, errlen, "%s: header: file is empty", path);
        close(fd);
        return GGUF_EFORMAT;
    }
    void *base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (base == MAP_FAILED) {
        seterr(err, errlen, "%s: cannot map %lld bytes: %s", path, (long long)st.st_size, strerror(errno));
        return GGUF_EIO;
    }
    char *name = strdup(path);
    if (!name) {
        munmap(base, (size_t)st.st_size);
        seterr(err, errlen, "%s: out of memory", path);
        return GGUF_ENOMEM;
    }
    int rc = gguf_open_mem(f, base, (size_t)st.st_size, name, err, errlen);
    if (rc) {
        munmap(base, (size_t)st.st_size);
        free(name);
        memset(f, 0, sizeof *f);
        return rc;
    }
    f->mapped = true;
    f->name_owned = name;
    return GGUF_OK;
}

void gguf_close(gguf_file *f)
{
    if (!f)
        return;
    free_tables(f);
    if (f->mapped)
        munmap((void *)f->base, f->size);
    free(f->name_owned);
    memset(f, 0, sizeof *f);
}

void gguf_drop_pages(const gguf_file *f, const void *p, uint64_t n)
{
    if (!f->mapped || n == 0)
        return;
    /* only whole pages inside the range: neighbours may still be in use */
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1), hi = ((uintptr_t)p + n) & ~(page - 1);
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* ---- Lookups ---- */

const gguf_kv *gguf_find(const gguf_file *f, const char *key)
{
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (gguf_str_eq(f->kv[i].key, key))
            return &f->kv[i];
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name)
{
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (gguf_str_eq(f->tensors[i].name, name))
            return &f->tensors[i];
    return NULL;
}

static const gguf_kv *find_typed(const gguf_file *f, const char *key, const char *want,
                                 bool (*ok)(uint32_t), char *err, size_t errlen, int *rc)
{
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) {
        seterr(err, errlen, "%s: metadata '%s' is missing", f->name, key);
        *rc = GGUF_ENOTFOUND;
        return NULL;
    }
    if (!ok(kv->type)) {
        seterr(err, errlen, "%s: metadata '%s' is %s, expected %s", f->name, key,
               gguf_vtype_name(kv->type), want);
        *rc = GGUF_ETYPE;
        return NULL;
    }
    *rc = GGUF_OK;
    return kv;
}

static bool is_uint(uint32_t t) { return t == GGUF_V_UINT8 || t == GGUF_V_UINT16 || t == GGUF_V_UINT32 || t == GGUF_V_UINT64; }
static bool is_sint(uint32_t t) { return t == GGUF_V_INT8 || t == GGUF_V_INT16 || t == GGUF_V_INT32 || t == GGUF_V_INT64; }
static bool is_int(uint32_t t) { return is_uint(t) || is_sint(t); }
static bool is_float(uint32_t t) { return t == GGUF_V_FLOAT32 || t == GGUF_V_FLOAT64; }
static bool is_num(uint32_t t) { return is_int(t) || is_float(t); }
static bool is_bool(uint32_t t) { return t == GGUF_V_BOOL; }
static bool is_string(uint32_t t) { return t == GGUF_V_STRING; }
static bool is_array(uint32_t t) { return t == GGUF_V_ARRAY; }

/* Integer value as a signed/unsigned pair, with range checks by caller. */
static int get_int(const gguf_file *f, const char *key, uint64_t max, int64_t min,
                   uint64_t *uout, int64_t *iout, char *err, size_t errlen)
{
    int rc;
    const gguf_kv *kv = find_typed(f, key, "an integer", is_int, err, errlen, &rc);
    if (!kv)
        return rc;
    bool neg = is_sint(kv->type) && kv->v.i < 0;
    if ((neg && kv->v.i < min) || (!neg && kv->v.u > max)) {
        if (neg)
            seterr(err, errlen, "%s: metadata '%s' = %lld is out of range", f->name, key, (long long)kv->v.i);
        else
            seterr(err, errlen, "%s: metadata '%s' = %llu is out of range", f->name, key, (unsigned long long)kv->v.u);
        return GGUF_ERANGE;
    }
    if (uout)
        *uout = kv->v.u;
    if (iout)
        *iout = kv->v.i;
    return GGUF_OK;
}

int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, char *err, size_t errlen)
{
    uint64_t v;
    int rc = get_int(f, key, UINT32_MAX, 0, &v, NULL, err, errlen);
    if (!rc)
        *out = (uint32_t)v;
    return rc;
}

int gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out, char *err, size_t errlen)
{
    return get_int(f, key, UINT64_MAX, 0, out, NULL, err, errlen);
}

int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out, char *err, size_t errlen)
{
    return get_int(f, key, INT64_MAX, INT64_MIN, NULL, out, err, errlen);
}

int gguf_get_f32(const gguf_file *f, const char *key, float *out, char *err, size_t errlen)
{
    int rc;
    const gguf_kv *kv = find_typed(f, key, "a number", is_num, err, errlen, &rc);
    if (kv)
        *out = is_float(kv->type) ? (float)kv->v.f : is_sint(kv->type) ? (float)kv->v.i : (float)kv->v.u;
    return rc;
}

int gguf_get_bool(const gguf_file *f, const char *key, bool *out, char *err, size_t errlen)
{
    int rc;
    const gguf_kv *kv = find_typed(f, key, "bool", is_bool, err, errlen, &rc);
    if (kv)
        *out = kv->v.b;
    return rc;
}

int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, char *err, size_t errlen)
{
    int rc;
    const gguf_kv *kv = find_typed(f, key, "string", is_string, err, errlen, &rc);
    if (kv)
        *out = kv->v.s;
    return rc;
}

int gguf_get_arr(const gguf_file *f, const char *key, int elem_type, const gguf_kv **out,
                 char *err, size_t errlen)
{
    int rc;
    const gguf_kv *kv = find_typed(f, key, "array", is_array, err, errlen, &rc);
    if (!kv)
        return rc;
    if (elem_type >= 0 && kv->v.arr.type != (uint32_t)elem_type) {
        seterr(err, errlen, "%s: metadata '%s' is an array of %s, expected %s", f->name, key,
               gguf_vtype_name(kv->v.arr.type), gguf_vtype_name((uint32_t)elem_type));
        return GGUF_ETYPE;
    }
    *out = kv;
    return GGUF_OK;
}

gguf_str gguf_arr_str(const gguf_kv *kv, uint64_t i)
{
    gguf_str s = {"", 0};
    if (kv->type != GGUF_V_ARRAY || kv->v.arr.type != GGUF_V_STRING || i >= kv->v.arr.n)
        return s;
    const uint8_t *p = kv->v.arr.data + kv->v.arr.offs[i];
    memcpy(&s.len, p, 8);
    s.ptr = (const char *)p + 8;
    return s;
}

int64_t gguf_arr_int(const gguf_kv *kv, uint64_t i)
{
    if (kv->type != GGUF_V_ARRAY || i >= kv->v.arr.n)
        return 0;
    const uint8_t *p = kv->v.arr.data + i * vtype_size[kv->v.arr.type];
    switch (kv->v.arr.type) {
    case GGUF_V_UINT8: return *p;
    case GGUF_V_INT8: return (int8_t)*p;
    case GGUF_V_UINT16: { uint16_t v; memcpy(&v, p, 2); return v; }
    case GGUF_V_INT16: { int16_t v; memcpy(&v, p, 2); return v; }
    case GGUF_V_UINT32: { uint32_t v; memcpy(&v, p, 4); return v; }
    case GGUF_V_INT32: { int32_t v; memcpy(&v, p, 4); return v; }
    case GGUF_V_UINT64: case GGUF_V_INT64: { int64_t v; memcpy(&v, p, 8); return v; }
    case GGUF_V_BOOL: return *p;
    default: return 0;
    }
}

double gguf_arr_float(const gguf_kv *kv, uint64_t i)
{
    if (kv->type != GGUF_V_ARRAY || i >= kv->v.arr.n)
        return 0;
    const uint8_t *p = kv->v.arr.data + i * vtype_size[kv->v.arr.type];
    if (kv->v.arr.type == GGUF_V_FLOAT32) {
        float v;
        memcpy(&v, p, 4);
        return v;
    }
    if (kv->v.arr.type == GGUF_V_FLOAT64) {
        double v;
        memcpy(&v, p, 8);
        return v;
    }
    return (double)gguf_arr_int(kv, i);
}
