/* Tokenizer tests: exact ids on the reference vectors of every vocabulary
 * fixture, round trips, special tokens, streaming decode, hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "gguf/gguf.h"
#include "tests/testutil.h"
#include "tokenizer/tokenizer.h"

#define SEP "\n__ggml_vocab_test__\n"

typedef struct loaded {
    gguf_file f;
    tok_vocab *v;
} loaded;

/* Load dir/name; fails the test on error. */
static void load(loaded *l, const char *dir, const char *name)
{
    char path[1024], err[512];
    tu_path(path, sizeof path, dir, name);
    int rc = gguf_open(&l->f, path, err, sizeof err);
    if (rc != GGUF_OK)
        fail_msg("%s", err);
    rc = tok_vocab_load(&l->v, &l->f, err, sizeof err);
    if (rc != TOK_OK)
        fail_msg("%s", err);
}

static void unload(loaded *l)
{
    tok_vocab_free(l->v);
    gguf_close(&l->f);
}

static const char *vocab_dir(char *buf, size_t n)
{
    const char *fx = tu_fixtures();
    if (!fx)
        return NULL;
    return tu_path(buf, n, fx, "vocab");
}

/* Parse one line of space-separated ids. */
static size_t parse_ids(const char *line, size_t len, int32_t *out, size_t cap)
{
    size_t n = 0;
    const char *p = line, *end = line + len;
    while (p < end && n < cap) {
        while (p < end && *p == ' ')
            p++;
        if (p >= end)
            break;
        out[n++] = (int32_t)strtol(p, (char **)&p, 10);
    }
    return n;
}

/* Check one vocabulary against its .inp/.out; returns failures. */
static size_t check_vocab(const char *dir, const char *name, size_t *n_cases)
{
    char path[1024];
    size_t inp_len, out_len;
    snprintf(path, sizeof path, "%s/%s.inp", dir, name);
    char *inp = (char *)tu_read_file(path, &inp_len);
    snprintf(path, sizeof path, "%s/%s.out", dir, name);
    char *out = (char *)tu_read_file(path, &out_len);
    assert_non_null(inp);
    assert_non_null(out);
    loaded l;
    load(&l, dir, name);
    bool bytelevel = tok_vocab_kind(l.v) == TOK_KIND_BPE;

    size_t fails = 0, cases = 0;
    char *s = inp, *o = out;
    char *inp_end = inp + inp_len, *out_end = out + out_len;
    int32_t want[4096];
    while (s < inp_end && o < out_end) {
        char *sep = strstr(s, SEP);
        size_t slen = sep ? (size_t)(sep - s) : (size_t)(inp_end - s);
        char *nl = memchr(o, '\n', (size_t)(out_end - o));
        size_t olen = nl ? (size_t)(nl - o) : (size_t)(out_end - o);
        size_t nwant = parse_ids(o, olen, want, 4096);

        int32_t *ids;
        size_t n;
        char err[256];
        assert_int_equal(tok_encode(l.v, s, slen, false, false, &ids, &n, err, sizeof err),
                         TOK_OK);
        bool ok = n == nwant && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
        if (ok && bytelevel) {
            char *dec;
            size_t dlen;
            assert_int_equal(tok_decode(l.v, ids, n, 0, &dec, &dlen, NULL, 0), TOK_OK);
            if (dlen != slen || memcmp(dec, s, slen) != 0) {
                fprintf(stderr, "%s case %zu: decode(encode(s)) != s\n", name, cases);
                ok = false;
            }
            free(dec);
        }
        if (!ok) {
            fails++;
            fprintf(stderr, "%s case %zu: '%.*s'\n  want:", name, cases, (int)slen, s);
            for (size_t i = 0; i < nwant; i++)
                fprintf(stderr, " %d", want[i]);
            fprintf(stderr, "\n  got: ");
            for (size_t i = 0; i < n; i++)
                fprintf(stderr, " %d", ids[i]);
            fprintf(stderr, "\n");
        }
        free(ids);
        cases++;
        if (!sep)
            break;
        s = sep + strlen(SEP);
        o = nl ? nl + 1 : out_end;
    }
    fprintf(stderr, "%-32s %zu/%zu\n", name, cases - fails, cases);
    unload(&l);
    free(inp);
    free(out);
    *n_cases = cases;
    return fails;
}

static void test_conformance(void **state)
{
    char dir[1024];
    if (!vocab_dir(dir, sizeof dir))
        skip();
    char **names;
    size_t n = tu_list(dir, ".gguf.inp", &names);
    assert_true(n > 0);
    size_t fails = 0, files = 0;
    for (size_t i = 0; i < n; i++) {
        char name[512];
        snprintf(name, sizeof name, "%.*s", (int)(strlen(names[i]) - 4), names[i]);
        size_t cases;
        fails += check_vocab(dir, name, &cases);
        files++;
    }
    tu_free_names(names, n);
    if (fails)
        fail_msg("%zu reference strings tokenized differently (see the per-file counts)", fails);
}

static void encode_expect(const tok_vocab *v, const char *text, bool add, bool parse,
                          const int32_t *want, size_t nwant)
{
    int32_t *ids;
    size_t n;
    assert_int_equal(tok_encode(v, text, strlen(text), add, parse, &ids, &n, NULL, 0), TOK_OK);
    if (n != nwant || memcmp(ids, want, n * sizeof *ids) != 0) {
        fprintf(stderr, "'%s':", text);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, "\n");
    }
    assert_int_equal(n, nwant);
    assert_memory_equal(ids, want, n * sizeof *ids);
    free(ids);
}

static void test_special_tokens(void **state)
{
    char dir[1024];
    if (!vocab_dir(dir, sizeof dir))
        skip();
    loaded l;
    load(&l, dir, "ggml-vocab-llama-bpe.gguf");
    int32_t eot = tok_find(l.v, "<|eot_id|>", 10);
    assert_int_equal(eot, 128009);
    assert_true(tok_is_eog(l.v, eot));
    assert_int_equal(tok_token_type(l.v, eot), TOK_T_CONTROL);
    const int32_t parsed[] = {9906, 128009, 14957};
    encode_expect(l.v, "Hello<|eot_id|>world", false, true, parsed, 3);
    int32_t *ids;
    size_t n;
    assert_int_equal(tok_encode(l.v, "Hello<|eot_id|>world", 20, false, false, &ids, &n, NULL, 0),
                     TOK_OK);
    assert_true(n > 3);
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(ids[i], eot);
    /* Control tokens render only on request. */
    char *s;
    size_t len;
    assert_int_equal(tok_decode(l.v, parsed, 3, 0, &s, &len, NULL, 0), TOK_OK);
    assert_string_equal(s, "Helloworld");
    free(s);
    assert_int_equal(tok_decode(l.v, parsed, 3, TOK_DECODE_SPECIAL, &s, &len, NULL, 0), TOK_OK);
    assert_string_equal(s, "Hello<|eot_id|>world");
    free(s);
    free(ids);
    unload(&l);
}

static void test_stream_split_character(void **state)
{
    char dir[1024];
    if (!vocab_dir(dir, sizeof dir))
        skip();
    loaded l;
    load(&l, dir, "ggml-vocab-llama-spm.gguf");
    /* U+1F999 has no token: it falls back to four <0xNN> byte tokens. */
    const char *text = "a\xf0\x9f\xa6\x99" "b";
    int32_t *ids;
    size_t n;
    assert_int_equal(tok_encode(l.v, text, strlen(text), true, false, &ids, &n, NULL, 0), TOK_OK);
    assert_int_equal(ids[0], tok_get_specials(l.v)->bos);
    tok_stream st;
    tok_stream_init(&st, TOK_DECODE_STRIP_SPACE);
    char out[256], all[256];
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k;
        assert_int_equal(tok_stream_feed(&st, l.v, ids[i], out, sizeof out, &k), TOK_OK);
        /* Whatever comes out is whole characters: never a lone lead byte. */
        if (k > 0)
            assert_true(((uint8_t)out[k - 1] & 0xC0) != 0xC0 && (uint8_t)out[k - 1] < 0xF0);
        memcpy(all + total, out, k);
        total += k;
    }
    total += tok_stream_flush(&st, all + total, sizeof all - total);
    assert_int_equal(total, strlen(text));
    assert_memory_equal(all, text, total);
    free(ids);
    unload(&l);
}

static void test_stories(void **state)
{
    const char *fx = tu_fixtures();
    if (!fx)
        skip();
    char dir[1024];
    tu_path(dir, sizeof dir, fx, "models");
    loaded l;
    load(&l, dir, "stories260K.gguf");
    assert_int_equal(tok_n_vocab(l.v), 512);
    assert_int_equal(tok_vocab_kind(l.v), TOK_KIND_SPM);
    const char *texts[] = {" Once upon a time", "Once upon a time, there was a little girl.",
                           "Lily and Tom played in the park.\nThe end."};
    for (size_t t = 0; t < 3; t++) {
        int32_t *ids;
        size_t n;
        assert_int_equal(tok_encode(l.v, texts[t], strlen(texts[t]), true, false, &ids, &n,
                                    NULL, 0), TOK_OK);
        assert_true(n >= 2);
        assert_int_equal(ids[0], tok_get_specials(l.v)->bos);
        /* A 512-entry vocab still needs far fewer tokens than bytes. */
        assert_true(n < strlen(texts[t]));
        char *s;
        size_t len;
        assert_int_equal(tok_decode(l.v, ids, n, TOK_DECODE_STRIP_SPACE, &s, &len, NULL, 0),
                         TOK_OK);
        assert_string_equal(s, texts[t]);
        free(s);
        free(ids);
    }
    /* The reference engine's greedy output starts with the prompt as the
     * tokenizer gives it back: with SentencePiece's leading space. */
    char path[1024];
    size_t plen, glen;
    tu_path(path, sizeof path, dir, "stories260K.prompt.txt");
    char *prompt = (char *)tu_read_file(path, &plen);
    tu_path(path, sizeof path, dir, "stories260K.greedy48.txt");
    char *greedy = (char *)tu_read_file(path, &glen);
    assert_non_null(prompt);
    assert_non_null(greedy);
    int32_t *ids;
    size_t n;
    assert_int_equal(tok_encode(l.v, prompt, plen, true, false, &ids, &n, NULL, 0), TOK_OK);
    char *s;
    size_t len;
    assert_int_equal(tok_decode(l.v, ids, n, 0, &s, &len, NULL, 0), TOK_OK);
    assert_true(len <= glen);
    assert_memory_equal(s, greedy, len);
    assert_int_equal(s[0], ' ');
    free(s);
    free(ids);
    free(prompt);
    free(greedy);
    unload(&l);
}

/* Deterministic pseudo-random bytes. */
static uint32_t next_rand(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static void test_invalid_utf8(void **state)
{
    char dir[1024];
    if (!vocab_dir(dir, sizeof dir))
        skip();
    const char *names[] = {"ggml-vocab-llama-spm.gguf", "ggml-vocab-llama-bpe.gguf",
                           "ggml-vocab-deepseek-llm.gguf", "ggml-vocab-falcon.gguf"};
    uint32_t seed = 12345;
    for (size_t k = 0; k < 4; k++) {
        loaded l;
        load(&l, dir, names[k]);
        for (int round = 0; round < 200; round++) {
            char buf[64];
            size_t len = next_rand(&seed) % sizeof buf;
            for (size_t i = 0; i < len; i++)
                buf[i] = (char)(next_rand(&seed) & 0xff);
            int32_t *a, *b;
            size_t na, nb;
            assert_int_equal(tok_encode(l.v, buf, len, true, true, &a, &na, NULL, 0), TOK_OK);
            assert_int_equal(tok_encode(l.v, buf, len, true, true, &b, &nb, NULL, 0), TOK_OK);
            assert_int_equal(na, nb);
            assert_memory_equal(a, b, na * sizeof *a);
            char *s;
            size_t sl;
            assert_int_equal(tok_decode(l.v, a, na, TOK_DECODE_SPECIAL, &s, &sl, NULL, 0), TOK_OK);
            free(s);
            free(a);
            free(b);
        }
        unload(&l);
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* 1 MB of one repeated character must not take quadratic time. CPU time,
 * with a loose bound for sanitizer builds; quadratic would be hours. */
static void test_no_quadratic(void **state)
{
    char dir[1024];
    if (!vocab_dir(dir, sizeof dir))
        skip();
    /* MPT has added tokens of 2 to 24 spaces, matched before BPE. */
    const char *names[] = {"ggml-vocab-llama-spm.gguf", "ggml-vocab-llama-bpe.gguf",
                           "ggml-vocab-deepseek-llm.gguf", "ggml-vocab-gpt-2.gguf",
                           "ggml-vocab-mpt.gguf"};
    const char fill[] = {'a', ' ', '\n', '7'};
    size_t len = 1 << 20;
    char *buf = malloc(len);
    assert_non_null(buf);
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        loaded l;
        load(&l, dir, names[k]);
        for (size_t c = 0; c < sizeof fill; c++) {
            memset(buf, fill[c], len);
            double t0 = now();
            int32_t *ids;
            size_t n;
            assert_int_equal(tok_encode(l.v, buf, len, false, false, &ids, &n, NULL, 0), TOK_OK);
            double dt = now() - t0;
            if (dt > 1.0)
                fprintf(stderr, "%s: 1 MB of 0x%02x took %.2f s CPU\n", names[k], fill[c], dt);
            assert_true(dt < 30.0);
            assert_true(n > 0);
            free(ids);
        }
        unload(&l);
    }
    free(buf);
}

static void test_unknown_pre(void **state)
{
    gguf_writer *w = gguf_writer_new(32);
    assert_non_null(w);
    const char *toks[] = {"a", "b", "ab"};
    const char *merges[] = {"a b"};
    assert_int_equal(gguf_writer_str(w, "tokenizer.ggml.model", "gpt2"), GGUF_OK);
    assert_int_equal(gguf_writer_str(w, "tokenizer.ggml.pre", "no-such-pre"), GGUF_OK);
    assert_int_equal(gguf_writer_arr_str(w, "tokenizer.ggml.tokens", toks, 3), GGUF_OK);
    assert_int_equal(gguf_writer_arr_str(w, "tokenizer.ggml.merges", merges, 1), GGUF_OK);
    uint8_t *data;
    size_t size;
    assert_int_equal(gguf_writer_finish(w, &data, &size), GGUF_OK);
    gguf_writer_free(w);
    gguf_file f;
    char err[512];
    assert_int_equal(gguf_open_mem(&f, data, size, "mem", err, sizeof err), GGUF_OK);
    tok_vocab *v;
    assert_int_equal(tok_vocab_load(&v, &f, err, sizeof err), TOK_EUNSUPPORTED);
    assert_null(v);
    assert_non_null(strstr(err, "no-such-pre"));
    assert_non_null(strstr(err, "llama-bpe"));
    assert_non_null(strstr(err, "deepseek-coder"));
    gguf_close(&f);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conformance),
        cmocka_unit_test(test_special_tokens),
        cmocka_unit_test(test_stream_split_character),
        cmocka_unit_test(test_stories),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_no_quadratic),
        cmocka_unit_test(test_unknown_pre),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
