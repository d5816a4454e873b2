/* GGUF writer: metadata and aligned tensor data assembled in memory. */
#include "gguf/gguf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct buf {
    uint8_t *p;
    size_t len, cap;
} buf;

struct gguf_writer {
    uint32_t alignment;
    uint64_t n_kv, n_tensors;
    buf kv;       /* encoded key/value pairs */
    buf info;     /* encoded tensor infos */
    buf data;     /* tensor data, each tensor padded to the alignment */
    int failed;   /* an allocation failed: finish reports it */
};

static int put(gguf_writer *w, buf *b, const void *p, size_t n)
{
    if (w->failed)
        return GGUF_ENOMEM;
    if (n > SIZE_MAX - b->len) {
        w->failed = 1;
        return GGUF_ENOMEM;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap = cap > SIZE_MAX / 2 ? b->len + n : cap * 2;
        uint8_t *np = realloc(b->p, cap);
        if (!np) {
            w->failed = 1;
            return GGUF_ENOMEM;
        }
        b->p = np;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    return GGUF_OK;
}

static int put_u32(gguf_writer *w, buf *b, uint32_t v) { return put(w, b, &v, 4); }
static int put_u64(gguf_writer *w, buf *b, uint64_t v) { return put(w, b, &v, 8); }

static int put_str(gguf_writer *w, buf *b, const char *s)
{
    size_t n = strlen(s);
    put_u64(w, b, n);
    return put(w, b, s, n);
}

static int pad(gguf_writer *w, buf *b, size_t base)
{
    static const uint8_t zeros[64];
    size_t n = (w->alignment - (base + b->len) % w->alignment) % w->alignment;
    while (n) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        put(w, b, zeros, k);
        n -= k;
    }
    return w->failed ? GGUF_ENOMEM : GGUF_OK;
}

gguf_writer *gguf_writer_new(uint32_t alignment)
{
    if (alignment == 0 || (alignment & (alignment - 1)))
        return NULL;
    gguf_writer *w = calloc(1, sizeof *w);
    if (w)
        w->alignment = alignment;
    return w;
}

void gguf_writer_free(gguf_writer *w)
{
    if (!w)
        return;
    free(w->kv.p);
    free(w->info.p);
    free(w->data.p);
    free(w);
}

static int put_key(gguf_writer *w, const char *key, uint32_t type)
{
    w->n_kv++;
    put_str(w, &w->kv, key);
    return put_u32(w, &w->kv, type);
}

int gguf_writer_u32(gguf_writer *w, const char *key, uint32_t v)
{
    put_key(w, key, GGUF_V_UINT32);
    return put_u32(w, &w->kv, v);
}

int gguf_writer_i32(gguf_writer *w, const char *key, int32_t v)
{
    put_key(w, key, GGUF_V_INT32);
    return put(w, &w->kv, &v, 4);
}

int gguf_writer_u64(gguf_writer *w, const char *key, uint64_t v)
{
    put_key(w, key, GGUF_V_UINT64);
    return put_u64(w, &w->kv, v);
}

int gguf_writer_f32(gguf_writer *w, const char *key, float v)
{
    put_key(w, key, GGUF_V_FLOAT32);
    return put(w, &w->kv, &v, 4);
}

int gguf_writer_bool(gguf_writer *w, const char *key, bool v)
{
    uint8_t b = v;
    put_key(w, key, GGUF_V_BOOL);
    return put(w, &w->kv, &b, 1);
}

int gguf_writer_str(gguf_writer *w, const char *key, const char *v)
{
    put_key(w, key, GGUF_V_STRING);
    return put_str(w, &w->kv, v);
}

int gguf_writer_arr(gguf_writer *w, const char *key, uint32_t vtype, const void *elems, uint64_t n)
{
    static const uint8_t size[GGUF_V_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (vtype >= GGUF_V_COUNT || !size[vtype] || n > SIZE_MAX / size[vtype])
        return GGUF_ERANGE;
    put_key(w, key, GGUF_V_ARRAY);
    put_u32(w, &w->kv, vtype);
    put_u64(w, &w->kv, n);
    return put(w, &w->kv, elems, (size_t)n * size[vtype]);
}

int gguf_writer_arr_str(gguf_writer *w, const char *key, const char *const *elems, uint64_t n)
{
    put_key(w, key, GGUF_V_ARRAY);
    put_u32(w, &w->kv, GGUF_V_STRING);
    put_u64(w, &w->kv, n);
    for (uint64_t i = 0; i < n; i++)
        put_str(w, &w->kv, elems[i]);
    return w->failed ? GGUF_ENOMEM : GGUF_OK;
}

int gguf_writer_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                       const uint64_t *ne, const void *data)
{
    if (n_dims == 0 || n_dims > GGUF_MAX_DIMS)
        return GGUF_ERANGE;
    uint64_t row = gguf_row_size(type, ne[0]), rows = 1;
    for (uint32_t d = 1; d < n_dims; d++) {
        if (ne[d] == 0 || rows > UINT64_MAX / ne[d])
            return GGUF_ERANGE;
        rows *= ne[d];
    }
    if (!row || rows > SIZE_MAX / row)
        return GGUF_ERANGE;
    w->n_tensors++;
    put_str(w, &w->info, name);
    put_u32(w, &w->info, n_dims);
    for (uint32_t d = 0; d < n_dims; d++)
        put_u64(w, &w->info, ne[d]);
    put_u32(w, &w->info, type);
    put_u64(w, &w->info, w->data.len);
    put(w, &w->data, data, (size_t)(row * rows));
    return pad(w, &w->data, 0);
}

int gguf_writer_finish(gguf_writer *w, uint8_t **out, size_t *out_size)
{
    buf f = {0};
    put(w, &f, "GGUF", 4);
    put_u32(w, &f, 3);
    put_u64(w, &f, w->n_tensors);
    put_u64(w, &f, w->n_kv + (w->alignment != 32));
    put(w, &f, w->kv.p, w->kv.len);
    if (w->alignment != 32) {
        put_str(w, &f, "general.alignment");
        put_u32(w, &f, GGUF_V_UINT32);
        put_u32(w, &f, w->alignment);
    }
    put(w, &f, w->info.p, w->info.len);
    if (w->n_tensors)
        pad(w, &f, 0);
    put(w, &f, w->data.p, w->data.len);
    if (w->failed) {
        free(f.p);
        return GGUF_ENOMEM;
    }
    *out = f.p;
    *out_size = f.len;
    return GGUF_OK;
}

int gguf_writer_save(gguf_writer *w, const char *path, char *err, size_t errlen)
{
    uint8_t *p;
    size_t n;
    if (gguf_writer_finish(w, &p, &n)) {
        if (err)
            snprintf(err, errlen, "%s: out of memory assembling the file", path);
        return GGUF_ENOMEM;
    }
    FILE *fp = fopen(path, "wb");
    int ok = fp && fwrite(p, 1, n, fp) == n;
    int saved = errno;
    if (fp && fclose(fp) != 0)
        ok = 0;
    free(p);
    if (!ok) {
        if (err)
            snprintf(err, errlen, "%s: cannot write: %s", path, strerror(saved ? saved : EIO));
        return GGUF_EIO;
    }
    return GGUF_OK;
}
