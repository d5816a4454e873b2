/* GGUF reader and writer: real fixture files, writer round trips, and a
 * corpus of malformed files each rejected with its own message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gguf/gguf.h"
#include "tests/testutil.h"

/* ---- A byte builder for hand-made files ---- */

typedef struct bb {
    uint8_t p[4096];
    size_t n;
} bb;

static void b_raw(bb *b, const void *p, size_t n)
{
    assert_true(b->n + n <= sizeof b->p);
    memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void b_u8(bb *b, uint8_t v) { b_raw(b, &v, 1); }
static void b_u32(bb *b, uint32_t v) { b_raw(b, &v, 4); }
static void b_u64(bb *b, uint64_t v) { b_raw(b, &v, 8); }
static void b_str(bb *b, const char *s)
{
    b_u64(b, strlen(s));
    b_raw(b, s, strlen(s));
}
static void b_header(bb *b, uint64_t n_tensors, uint64_t n_kv)
{
    b_raw(b, "GGUF", 4);
    b_u32(b, 3);
    b_u64(b, n_tensors);
    b_u64(b, n_kv);
}
static void b_kv_u32(bb *b, const char *key, uint32_t v)
{
    b_str(b, key);
    b_u32(b, GGUF_V_UINT32);
    b_u32(b, v);
}
/* A tensor info with dims ne[0..n_dims). */
static void b_tensor(bb *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                     uint64_t offset)
{
    b_str(b, name);
    b_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++)
        b_u64(b, ne[d]);
    b_u32(b, type);
    b_u64(b, offset);
}
static void b_pad(bb *b, size_t align)
{
    while (b->n % align)
        b_u8(b, 0);
}
static void b_zeros(bb *b, size_t n)
{
    while (n--)
        b_u8(b, 0);
}

/* Parse b and require failure with a message containing want. */
static void expect_reject(const bb *b, const char *want)
{
    gguf_file f;
    char err[512] = "";
    int rc = gguf_open_mem(&f, b->p, b->n, "bad.gguf", err, sizeof err);
    if (rc == GGUF_OK || !strstr(err, want) || strncmp(err, "bad.gguf: ", 10) != 0)
        fail_msg("expected rejection containing \"%s\", got rc=%d \"%s\"", want, rc, err);
    gguf_close(&f);
}

/* ---- Malformed files ---- */

static void bad_header(void **state)
{
    (void)state;
    bb b = {.n = 0};
    expect_reject(&b, "header: truncated: needs 4 bytes at offset 0");
    b_raw(&b, "GGUG", 4);
    b_u32(&b, 3);
    expect_reject(&b, "not a GGUF file (magic 47 47 55 47");
    b.n = 0;
    b_raw(&b, "GGUF", 4);
    b_u32(&b, 1);
    expect_reject(&b, "GGUF version 1 is obsolete");
    b.n = 4;
    b_u32(&b, 7);
    expect_reject(&b, "unsupported GGUF version 7");
    b.n = 4;
    b_u32(&b, 0x03000000u);
    expect_reject(&b, "big-endian GGUF files are not supported");
    b.n = 4;
    b_u32(&b, 3);
    b_u32(&b, 0);
    expect_reject(&b, "header: truncated: needs 8 bytes at offset 8");
}

static void bad_counts(void **state)
{
    (void)state;
    bb b = {.n = 0};
    b_header(&b, 0, 1ull << 60);
    expect_reject(&b, "metadata count 1152921504606846976 cannot fit");
    b.n = 0;
    b_header(&b, 1ull << 58, 0);
    expect_reject(&b, "tensor count 288230376151711744 cannot fit");
    b.n = 0;
    b_header(&b, 0, 2);
    b_str(&b, "a");
    b_u32(&b, GGUF_V_STRING);
    b_str(&b, "a value long enough for the count check to pass");
    b_u32(&b, 0);
    expect_reject(&b, "metadata key #1: truncated: needs 8 bytes at offset 92, file has 96");
}

static void bad_keys(void **state)
{
    (void)state;
    bb b = {.n = 0};
    b_header(&b, 0, 1);
    b_u64(&b, 1000);
    b_zeros(&b, 8);
    expect_reject(&b, "metadata key #0: string length 1000 at offset 24 runs past end of file (40 bytes)");
    b.n = 0;
    b_header(&b, 0, 1);
    b_str(&b, "");
    b_u32(&b, GGUF_V_UINT8);
    b_u8(&b, 1);
    expect_reject(&b, "metadata key #0: empty name at offset 24");
    b.n = 0;
    b_header(&b, 0, 1);
    b_str(&b, "bad\xff\xfekey");
    b_u32(&b, GGUF_V_UINT8);
    b_u8(&b, 1);
    expect_reject(&b, "is not valid UTF-8 (bad byte 0xff at offset 35)");
    b.n = 0;
    b_header(&b, 0, 1);
    b_str(&b, "surrogate.\xed\xa0\x80");
    b_u32(&b, GGUF_V_UINT8);
    b_u8(&b, 1);
    expect_reject(&b, "is not valid UTF-8 (bad byte 0xed");
    b.n = 0;
    b_header(&b, 0, 2);
    b_kv_u32(&b, "dup.key", 1);
    b_kv_u32(&b, "dup.key", 2);
    expect_reject(&b, "metadata key #1 'dup.key': duplicate name (also metadata key #0)");
}

static void bad_values(void **state)
{
    (void)state;
    bb b = {.n = 0};
    b_header(&b, 0, 1);
    b_str(&b, "k");
    b_u32(&b, 99);
    expect_reject(&b, "metadata 'k': value type 99 is not a GGUF value type");
    b.n = 0;
    b_header(&b, 0, 1);
    b_str(&b, "k");
    b_u32(&b, GGUF_V_UINT64);
    b_u32(&b, 0);
    expect_reject(&b, "metadata 'k': truncated: needs 8 bytes at offset 37, file has 41");
    b.n = 0;
    b_header(&b, 0, 1);
    b_str(&b, "k");
    b_u32(&b, GGUF_V_BOOL);
    b_u8(&b, 2);
    expect_reject(&b, "metadata 'k': bool has value 2");
    b.n = 0;
    b_header(&b, 0, 1);
    b_str(&b, "k");
    b_u32(&b, GGUF_V_STRING);
    b_u64(&b, 1ull << 62);
    expect_reject(&b, "metadata 'k': string length 4611686018427387904 at offset 37 runs past end");
    b.n = 0;
    b_header(&b, 0, 1);
    b_str(&b, "k");
    b_u32(&b, GGUF_V_UINT32);
    expect_reject(&b, "metadata 'k': truncated: needs 4 bytes");
}

static void bad_arrays(void **state)
{
    (void)state;
    bb b = {.n = 0};
    b_header(&b, 0, 1);
    b_str(&b, "a");
    b_u32(&b, GGUF_V_ARRAY);
    b_u32(&b, 77);
    b_u64(&b, 1);
    expect_reject(&b, "metadata 'a': array element type 77 is not a GGUF value type");
    b.n = 0;
    b_header(&b, 0, 1);
    b_str(&b, "a");
    b_u32(&b, GGUF_V_ARRAY);
    b_u32(&b, GGUF_V_UINT32);
    b_u64(&b, 1ull << 61);
    expect_reject(&b, "metadata 'a': array of 2305843009213693952 uint32 elements at offset 49 runs past end of file (49 bytes)");
    b.n = 0;
    b_header(&b, 0, 1);
    b_str(&b, "a");
    b_u32(&b, GGUF_V_ARRAY);
    b_u32(&b, GGUF_V_STRING);
    b_u64(&b, 1000000);
    b_str(&b, "x");
    expect_reject(&b, "array of 1000000 string elements at offset 49 runs past end");
    b.n = 0;
    b_header(&b, 0, 1);
    b_str(&b, "a");
    b_u32(&b, GGUF_V_ARRAY);
    b_u32(&b, GGUF_V_STRING);
    b_u64(&b, 2);
    b_str(&b, "x");
    b_u64(&b, 5);
    b_raw(&b, "ab", 2);
    expect_reject(&b, "metadata 'a': string length 5 at offset 58 runs past end");
    b.n = 0;
    b_header(&b, 0, 1);
    b_str(&b, "a");
    b_u32(&b, GGUF_V_ARRAY);
    b_u32(&b, GGUF_V_BOOL);
    b_u64(&b, 3);
    b_u8(&b, 1);
    b_u8(&b, 0);
    b_u8(&b, 3);
    expect_reject(&b, "metadata 'a': bool array element 2 has value 3");
}

static void bad_nesting(void **state)
{
    (void)state;
    bb b = {.n = 0};
    b_header(&b, 0, 1);
    b_str(&b, "deep");
    b_u32(&b, GGUF_V_ARRAY);
    for (int i = 0; i < 12; i++) {
        b_u32(&b, GGUF_V_ARRAY);
        b_u64(&b, 1);
    }
    b_u32(&b, GGUF_V_UINT8);
    b_u64(&b, 1);
    b_u8(&b, 7);
    expect_reject(&b, "metadata 'deep': arrays nested more than 8 deep");
    /* Nested arrays within the limit are fine. */
    b.n = 0;
    b_header(&b, 0, 1);
    b_str(&b, "nest");
    b_u32(&b, GGUF_V_ARRAY);
    b_u32(&b, GGUF_V_ARRAY);
    b_u64(&b, 2);
    for (int i = 0; i < 2; i++) {
        b_u32(&b, GGUF_V_STRING);
        b_u64(&b, 1);
        b_str(&b, i ? "two" : "one");
    }
    gguf_file f;
    char err[256];
    assert_int_equal(gguf_open_mem(&f, b.p, b.n, "nest.gguf", err, sizeof err), GGUF_OK);
    assert_int_equal(f.kv[0].v.arr.n, 2);
    assert_int_equal(f.kv[0].v.arr.type, GGUF_V_ARRAY);
    gguf_close(&f);
}

static void bad_alignment(void **state)
{
    (void)state;
    bb b = {.n = 0};
    b_header(&b, 0, 1);
    b_str(&b, "general.alignment");
    b_u32(&b, GGUF_V_STRING);
    b_str(&b, "32");
    expect_reject(&b, "metadata 'general.alignment': must be uint32, is string");
    b.n = 0;
    b_header(&b, 0, 1);
    b_kv_u32(&b, "general.alignment", 48);
    expect_reject(&b, "metadata 'general.alignment': 48 is not a power of two");
    b.n = 0;
    b_header(&b, 0, 1);
    b_kv_u32(&b, "general.alignment", 0);
    expect_reject(&b, "metadata 'general.alignment': 0 is not a power of two");
}

static void bad_tensor_infos(void **state)
{
    (void)state;
    uint64_t ne[5] = {32, 2, 1, 1, 1};
    bb b = {.n = 0};
    b_header(&b, 1, 0);
    b_u64(&b, 3);
    b_raw(&b, "abc", 3);
    b_zeros(&b, 30);
    b.n -= 30;
    b_u32(&b, 2);
    expect_reject(&b, "tensor count 1 cannot fit");
    b.n = 0;
    b_header(&b, 1, 0);
    b_tensor(&b, "t", 0, ne, GGUF_T_F32, 0);
    b_zeros(&b, 64);
    expect_reject(&b, "tensor 't': has 0 dimensions (1 to 4 allowed)");
    b.n = 0;
    b_header(&b, 1, 0);
    b_tensor(&b, "t", 5, ne, GGUF_T_F32, 0);
    b_zeros(&b, 64);
    expect_reject(&b, "tensor 't': has 5 dimensions");
    b.n = 0;
    uint64_t zero[2] = {32, 0};
    b_header(&b, 1, 0);
    b_tensor(&b, "t", 2, zero, GGUF_T_F32, 0);
    b_zeros(&b, 64);
    expect_reject(&b, "tensor 't': dimension 1 is 0");
    b.n = 0;
    uint64_t huge[1] = {1ull << 63};
    b_header(&b, 1, 0);
    b_tensor(&b, "t", 1, huge, GGUF_T_F32, 0);
    b_zeros(&b, 64);
    expect_reject(&b, "tensor 't': dimension 0 is 9223372036854775808");
    b.n = 0;
    uint64_t over[3] = {1ull << 31, 1ull << 31, 1ull << 31};
    b_header(&b, 1, 0);
    b_tensor(&b, "t", 3, over, GGUF_T_F32, 0);
    b_zeros(&b, 64);
    expect_reject(&b, "tensor 't': element count overflows at dimension 2");
    b.n = 0;
    b_header(&b, 1, 0);
    b_tensor(&b, "t", 2, ne, 99, 0);
    b_zeros(&b, 64);
    expect_reject(&b, "tensor 't': unknown tensor type id 99");
    b.n = 0;
    b_header(&b, 1, 0);
    b_tensor(&b, "t", 2, ne, 4, 0);
    b_zeros(&b, 64);
    expect_reject(&b, "tensor 't': unknown tensor type id 4");
    b.n = 0;
    uint64_t odd[2] = {33, 2};
    b_header(&b, 1, 0);
    b_tensor(&b, "t", 2, odd, GGUF_T_Q4_0, 0);
    b_zeros(&b, 64);
    expect_reject(&b, "tensor 't': row length 33 is not a multiple of the q4_0 block size 32");
    b.n = 0;
    b_header(&b, 1, 0);
    b_tensor(&b, "t", 2, ne, GGUF_T_F32, 0);
    b.n -= 6;
    expect_reject(&b, "tensor 't': truncated: needs 8 bytes");
    b.n = 0;
    b_header(&b, 1, 0);
    b_str(&b, "name\xc0\xafx");
    b_zeros(&b, 24);
    expect_reject(&b, "tensor #0: name at offset 24 is not valid UTF-8 (bad byte 0xc0");
}

static void bad_tensor_data(void **state)
{
    (void)state;
    uint64_t ne[2] = {8, 2};
    bb b = {.n = 0};
    b_header(&b, 1, 0);
    b_tensor(&b, "w", 2, ne, GGUF_T_F32, 4);
    b_pad(&b, 32);
    b_zeros(&b, 128);
    expect_reject(&b, "tensor 'w': data offset 4 is not a multiple of the alignment 32");
    b.n = 0;
    b_header(&b, 1, 0);
    b_tensor(&b, "blk.3.ffn_up.weight", 2, ne, GGUF_T_F32, 0);
    b_pad(&b, 32);
    b_zeros(&b, 40);
    expect_reject(&b, "tensor 'blk.3.ffn_up.weight': data [96, 160) runs past end of file (136 bytes)");
    b.n = 0;
    b_header(&b, 1, 0);
    b_tensor(&b, "w", 2, ne, GGUF_T_F32, 1ull << 63);
    b_pad(&b, 32);
    b_zeros(&b, 64);
    expect_reject(&b, "tensor 'w': data [9223372036854775904");
    b.n = 0;
    b_header(&b, 2, 0);
    b_tensor(&b, "a", 2, ne, GGUF_T_F32, 0);
    b_tensor(&b, "b", 2, ne, GGUF_T_F32, 32);
    b_pad(&b, 32);
    b_zeros(&b, 96);
    expect_reject(&b, "tensor 'b': data [160, 224) overlaps tensor 'a' [128, 192)");
    b.n = 0;
    b_header(&b, 2, 0);
    b_tensor(&b, "same", 2, ne, GGUF_T_F32, 0);
    b_tensor(&b, "same", 2, ne, GGUF_T_F32, 64);
    b_pad(&b, 32);
    b_zeros(&b, 128);
    expect_reject(&b, "tensor #1 'same': duplicate name (also tensor #0)");
    b.n = 0;
    b_header(&b, 1, 0);
    b_tensor(&b, "w", 2, ne, GGUF_T_F32, 0);
    b_u8(&b, 0);
    expect_reject(&b, "data section: starts at offset 96, past end of file (66 bytes)");
}

/* Every prefix of a valid file is rejected cleanly. */
static void truncations(void **state)
{
    (void)state;
    gguf_writer *w = gguf_writer_new(32);
    const char *toks[] = {"<s>", "</s>", "hello"};
    float vec[64];
    for (int i = 0; i < 64; i++)
        vec[i] = (float)i;
    uint64_t ne[2] = {32, 2};
    gguf_writer_str(w, "general.architecture", "llama");
    gguf_writer_arr_str(w, "tokenizer.ggml.tokens", toks, 3);
    gguf_writer_arr(w, "tokenizer.ggml.scores", GGUF_V_FLOAT32, vec, 3);
    gguf_writer_tensor(w, "a", GGUF_T_F32, 2, ne, vec);
    gguf_writer_tensor(w, "b", GGUF_T_F16, 1, ne, vec);
    uint8_t *p;
    size_t n;
    assert_int_equal(gguf_writer_finish(w, &p, &n), GGUF_OK);
    gguf_writer_free(w);
    char err[512];
    gguf_file f;
    assert_int_equal(gguf_open_mem(&f, p, n, "t.gguf", err, sizeof err), GGUF_OK);
    gguf_close(&f);
    for (size_t cut = 0; cut < n; cut++) {
        err[0] = 0;
        assert_int_not_equal(gguf_open_mem(&f, p, cut, "t.gguf", err, sizeof err), GGUF_OK);
        assert_non_null(strstr(err, "t.gguf: "));
        gguf_close(&f);
    }
    free(p);
}

/* ---- Writer round trip and getters ---- */

static void writer_roundtrip(void **state)
{
    (void)state;
    gguf_writer *w = gguf_writer_new(64);
    const char *toks[] = {"a", "", "\xe2\x96\x81the"};
    int32_t ints[4] = {-1, 2, 3, 4};
    float data[3 * 32];
    for (int i = 0; i < 96; i++)
        data[i] = (float)i * 0.5f;
    uint64_t ne[2] = {32, 3};
    assert_int_equal(gguf_writer_str(w, "general.architecture", "llama"), 0);
    assert_int_equal(gguf_writer_u32(w, "llama.block_count", 5), 0);
    assert_int_equal(gguf_writer_i32(w, "neg", -7), 0);
    assert_int_equal(gguf_writer_u64(w, "big", 1ull << 40), 0);
    assert_int_equal(gguf_writer_f32(w, "eps", 1e-5f), 0);
    assert_int_equal(gguf_writer_bool(w, "flag", true), 0);
    assert_int_equal(gguf_writer_arr_str(w, "toks", toks, 3), 0);
    assert_int_equal(gguf_writer_arr(w, "ints", GGUF_V_INT32, ints, 4), 0);
    assert_int_equal(gguf_writer_tensor(w, "w", GGUF_T_F32, 2, ne, data), 0);
    assert_int_equal(gguf_writer_tensor(w, "v", GGUF_T_F32, 1, ne, data), 0);
    uint8_t *p;
    size_t n;
    assert_int_equal(gguf_writer_finish(w, &p, &n), 0);
    gguf_writer_free(w);

    gguf_file f;
    char err[256];
    assert_int_equal(gguf_open_mem(&f, p, n, "rt.gguf", err, sizeof err), GGUF_OK);
    assert_int_equal(f.alignment, 64);
    assert_int_equal(f.n_tensors, 2);
    assert_int_equal(f.data_offset % 64, 0);
    uint32_t u;
    uint64_t u64;
    int64_t i64;
    float eps;
    bool flag;
    gguf_str s;
    const gguf_kv *arr;
    assert_int_equal(gguf_get_u32(&f, "llama.block_count", &u, err, sizeof err), 0);
    assert_int_equal(u, 5);
    assert_int_equal(gguf_get_i64(&f, "neg", &i64, err, sizeof err), 0);
    assert_int_equal(i64, -7);
    assert_int_equal(gguf_get_u32(&f, "neg", &u, err, sizeof err), GGUF_ERANGE);
    assert_string_equal(err, "rt.gguf: metadata 'neg' = -7 is out of range");
    assert_int_equal(gguf_get_u32(&f, "big", &u, err, sizeof err), GGUF_ERANGE);
    assert_int_equal(gguf_get_u64(&f, "big", &u64, err, sizeof err), 0);
    assert_true(u64 == 1ull << 40);
    assert_int_equal(gguf_get_f32(&f, "eps", &eps, err, sizeof err), 0);
    assert_true(eps == 1e-5f);
    assert_int_equal(gguf_get_bool(&f, "flag", &flag, err, sizeof err), 0);
    assert_true(flag);
    assert_int_equal(gguf_get_str(&f, "general.architecture", &s, err, sizeof err), 0);
    assert_true(gguf_str_eq(s, "llama"));
    assert_int_equal(gguf_get_str(&f, "llama.block_count", &s, err, sizeof err), GGUF_ETYPE);
    assert_string_equal(err, "rt.gguf: metadata 'llama.block_count' is uint32, expected string");
    assert_int_equal(gguf_get_str(&f, "nope", &s, err, sizeof err), GGUF_ENOTFOUND);
    assert_string_equal(err, "rt.gguf: metadata 'nope' is missing");
    assert_int_equal(gguf_get_arr(&f, "toks", GGUF_V_STRING, &arr, err, sizeof err), 0);
    assert_true(gguf_str_eq(gguf_arr_str(arr, 2), "\xe2\x96\x81the"));
    assert_true(gguf_str_eq(gguf_arr_str(arr, 1), ""));
    assert_int_equal(gguf_get_arr(&f, "ints", GGUF_V_STRING, &arr, err, sizeof err), GGUF_ETYPE);
    assert_int_equal(gguf_get_arr(&f, "ints", -1, &arr, err, sizeof err), 0);
    assert_int_equal(gguf_arr_int(arr, 0), -1);
    assert_true(gguf_arr_float(arr, 3) == 4.0);
    const gguf_tensor *t = gguf_find_tensor(&f, "w");
    assert_non_null(t);
    assert_int_equal(t->nbytes, sizeof data);
    assert_memory_equal(t->data, data, sizeof data);
    t = gguf_find_tensor(&f, "v");
    assert_int_equal(t->ne[0], 32);
    assert_int_equal(t->ne[1], 1);
    assert_memory_equal(t->data, data, 32 * sizeof(float));
    assert_null(gguf_find_tensor(&f, "x"));
    gguf_close(&f);
    free(p);
}

static void type_traits(void **state)
{
    (void)state;
    static const struct { uint32_t t; const char *name; uint32_t blck, size; } want[] = {
        {GGUF_T_F32, "f32", 1, 4}, {GGUF_T_F16, "f16", 1, 2}, {GGUF_T_BF16, "bf16", 1, 2},
        {GGUF_T_Q4_0, "q4_0", 32, 18}, {GGUF_T_Q4_1, "q4_1", 32, 20}, {GGUF_T_Q5_0, "q5_0", 32, 22},
        {GGUF_T_Q5_1, "q5_1", 32, 24}, {GGUF_T_Q8_0, "q8_0", 32, 34}, {GGUF_T_Q2_K, "q2_K", 256, 84},
        {GGUF_T_Q3_K, "q3_K", 256, 110}, {GGUF_T_Q4_K, "q4_K", 256, 144}, {GGUF_T_Q5_K, "q5_K", 256, 176},
        {GGUF_T_Q6_K, "q6_K", 256, 210}, {GGUF_T_Q8_K, "q8_K", 256, 292}, {GGUF_T_IQ4_NL, "iq4_nl", 32, 18},
        {GGUF_T_IQ4_XS, "iq4_xs", 256, 136},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const gguf_type_traits *t = gguf_type_info(want[i].t);
        assert_non_null(t);
        assert_string_equal(t->name, want[i].name);
        assert_int_equal(t->blck, want[i].blck);
        assert_int_equal(t->size, want[i].size);
    }
    assert_null(gguf_type_info(4));
    assert_null(gguf_type_info(1000));
    assert_int_equal(gguf_row_size(GGUF_T_Q4_K, 4096), 16 * 144);
    assert_int_equal(gguf_row_size(GGUF_T_Q4_K, 100), 0);
}

/* ---- Fixtures ---- */

static void open_or_fail(gguf_file *f, const char *path)
{
    char err[512];
    if (gguf_open(f, path, err, sizeof err) != GGUF_OK)
        fail_msg("%s", err);
}

static void fixture_stories(void **state)
{
    (void)state;
    const char *fx = tu_fixtures();
    if (!fx)
        skip();
    char path[1024];
    gguf_file f;
    open_or_fail(&f, tu_path(path, sizeof path, fx, "models/stories260K.gguf"));
    assert_int_equal(f.n_tensors, 48);
    assert_int_equal(f.n_kv, 19);
    gguf_str arch;
    uint32_t blocks, heads, kv_heads;
    char err[256];
    assert_int_equal(gguf_get_str(&f, "general.architecture", &arch, err, sizeof err), 0);
    assert_true(gguf_str_eq(arch, "llama"));
    assert_int_equal(gguf_get_u32(&f, "llama.block_count", &blocks, err, sizeof err), 0);
    assert_int_equal(gguf_get_u32(&f, "llama.attention.head_count", &heads, err, sizeof err), 0);
    assert_int_equal(gguf_get_u32(&f, "llama.attention.head_count_kv", &kv_heads, err, sizeof err), 0);
    assert_int_equal(blocks, 5);
    assert_int_equal(heads, 8);
    assert_int_equal(kv_heads, 4);
    const gguf_kv *toks;
    assert_int_equal(gguf_get_arr(&f, "tokenizer.ggml.tokens", GGUF_V_STRING, &toks, err, sizeof err), 0);
    assert_int_equal(toks->v.arr.n, 512);
    assert_true(gguf_str_eq(gguf_arr_str(toks, 1), "<s>"));
    const gguf_tensor *t = gguf_find_tensor(&f, "token_embd.weight");
    assert_non_null(t);
    assert_int_equal(t->ne[0], 64);
    assert_int_equal(t->ne[1], 512);
    gguf_close(&f);
}

/* Every .gguf under models/ and vocab/ opens, with every tensor in bounds. */
static void fixture_all(void **state)
{
    (void)state;
    const char *fx = tu_fixtures();
    if (!fx)
        skip();
    const char *dirs[] = {"models", "vocab"};
    size_t total = 0;
    for (int d = 0; d < 2; d++) {
        char dir[1024], path[1200];
        char **names;
        size_t n = tu_list(tu_path(dir, sizeof dir, fx, dirs[d]), ".gguf", &names);
        assert_true(n > 0);
        for (size_t i = 0; i < n; i++) {
            gguf_file f;
            open_or_fail(&f, tu_path(path, sizeof path, dir, names[i]));
            for (uint64_t k = 0; k < f.n_tensors; k++) {
                const gguf_tensor *t = &f.tensors[k];
                assert_true((const uint8_t *)t->data + t->nbytes <= f.base + f.size);
            }
            assert_non_null(gguf_find(&f, "general.architecture"));
            gguf_close(&f);
            total++;
        }
        tu_free_names(names, n);
    }
    assert_true(total >= 30);
}

static void open_errors(void **state)
{
    (void)state;
    gguf_file f;
    char err[512];
    assert_int_equal(gguf_open(&f, "/nonexistent/x.gguf", err, sizeof err), GGUF_EIO);
    assert_string_equal(err, "/nonexistent/x.gguf: cannot open: No such file or directory");
    assert_int_equal(gguf_open(&f, "/", err, sizeof err), GGUF_EIO);
    gguf_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_header),       cmocka_unit_test(bad_counts),
        cmocka_unit_test(bad_keys),         cmocka_unit_test(bad_values),
        cmocka_unit_test(bad_arrays),       cmocka_unit_test(bad_nesting),
        cmocka_unit_test(bad_alignment),    cmocka_unit_test(bad_tensor_infos),
        cmocka_unit_test(bad_tensor_data),  cmocka_unit_test(truncations),
        cmocka_unit_test(writer_roundtrip), cmocka_unit_test(type_traits),
        cmocka_unit_test(fixture_stories),  cmocka_unit_test(fixture_all),
        cmocka_unit_test(open_errors),
    };
    return cmocka_run_group_tests_name("gguf", tests, NULL, NULL);
}
