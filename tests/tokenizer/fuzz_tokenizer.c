/* libFuzzer harness for the tokenizer.
 *
 * Input: byte 0 picks a vocabulary, byte 1 holds flags, the rest is text.
 * The vocabularies are the fixtures under $RHEMA_FIXTURES/vocab (when set)
 * plus a tiny built-in SPM and BPE vocab; the last choice instead loads
 * the rest of the input as a GGUF file and tokenizes with whatever
 * vocabulary it declares. Checked: no crash or sanitizer report; streaming
 * decode equals whole decode; byte-level vocabularies give valid UTF-8 text
 * back exactly; ids outside the vocabulary are refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

#define MAX_VOCABS 16

/* Loaded once per process (a harness may keep state; the library not). */
static gguf_file files[MAX_VOCABS];
static tok_vocab *vocabs[MAX_VOCABS];
static bool exact[MAX_VOCABS]; /* byte-level with every byte: text round-trips */
static size_t n_vocabs;
static uint8_t *builtin_data[2];

/* Whether the byte-level vocab has a token for every byte (some, like
 * Falcon's, lack a few control bytes, which are then dropped). */
static bool has_all_bytes(const tok_vocab *v)
{
    unsigned extra = 0;
    for (unsigned b = 0; b < 256; b++) {
        bool keep = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        unsigned cp = keep ? b : 0x100 + extra++;
        char u[2] = {(char)(cp < 0x80 ? cp : 0xC0 | cp >> 6), (char)(0x80 | (cp & 0x3F))};
        if (tok_find(v, u, cp < 0x80 ? 1 : 2) < 0)
            return false;
    }
    return true;
}

static void add_file(const char *path)
{
    char err[256];
    if (n_vocabs == MAX_VOCABS || gguf_open(&files[n_vocabs], path, err, sizeof err) != GGUF_OK)
        return;
    if (tok_vocab_load(&vocabs[n_vocabs], &files[n_vocabs], err, sizeof err) != TOK_OK) {
        gguf_close(&files[n_vocabs]);
        return;
    }
    exact[n_vocabs] = tok_vocab_kind(vocabs[n_vocabs]) == TOK_KIND_BPE &&
                      has_all_bytes(vocabs[n_vocabs]);
    n_vocabs++;
}

/* A few-token vocabulary of the given model kind, written in memory. */
static void add_builtin(int which)
{
    static const char *const spm_toks[] = {"<unk>", "<s>", "</s>", "<0x0A>", "<0xC3>", "<0xA9>",
                                           "\xe2\x96\x81", "a", "b", "ab", "\342\226\201ab",
                                           "<|special|>"};
    static const float spm_scores[] = {0, 0, 0, 0, 0, 0, -1, -2, -2, -0.5f, -0.1f, 0};
    static const int32_t spm_types[] = {2, 3, 3, 6, 6, 6, 1, 1, 1, 1, 1, 4};
    static const char *const bpe_toks[] = {"a", "b", "\xc4\xa0", "ab", "\304\240ab", "<|e|>"};
    static const char *const bpe_merges[] = {"a b", "\xc4\xa0 ab"};
    static const int32_t bpe_types[] = {1, 1, 1, 1, 1, 3};
    gguf_writer *w = gguf_writer_new(32);
    if (!w)
        return;
    if (which == 0) {
        gguf_writer_str(w, "tokenizer.ggml.model", "llama");
        gguf_writer_arr_str(w, "tokenizer.ggml.tokens", spm_toks, 12);
        gguf_writer_arr(w, "tokenizer.ggml.scores", GGUF_V_FLOAT32, spm_scores, 12);
        gguf_writer_arr(w, "tokenizer.ggml.token_type", GGUF_V_INT32, spm_types, 12);
    } else {
        gguf_writer_str(w, "tokenizer.ggml.model", "gpt2");
        gguf_writer_str(w, "tokenizer.ggml.pre", "llama-bpe");
        gguf_writer_arr_str(w, "tokenizer.ggml.tokens", bpe_toks, 6);
        gguf_writer_arr_str(w, "tokenizer.ggml.merges", bpe_merges, 2);
        gguf_writer_arr(w, "tokenizer.ggml.token_type", GGUF_V_INT32, bpe_types, 6);
    }
    size_t size;
    char err[256];
    if (gguf_writer_finish(w, &builtin_data[which], &size) == GGUF_OK &&
        gguf_open_mem(&files[n_vocabs], builtin_data[which], size, "builtin", err,
                      sizeof err) == GGUF_OK) {
        if (tok_vocab_load(&vocabs[n_vocabs], &files[n_vocabs], err, sizeof err) == TOK_OK)
            n_vocabs++;
        else
            gguf_close(&files[n_vocabs]);
    }
    gguf_writer_free(w);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const names[] = {
        "llama-spm", "llama-bpe", "deepseek-llm", "deepseek-coder", "falcon", "qwen2",
        "starcoder", "gpt-2", "mpt", "phi-3", "refact",
    };
    const char *fx = getenv("RHEMA_FIXTURES");
    for (size_t i = 0; fx && i < sizeof names / sizeof names[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/vocab/ggml-vocab-%s.gguf", fx, names[i]);
        add_file(path);
    }
    add_builtin(0);
    add_builtin(1);
    return 0;
}

static bool valid_utf8(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3
                   : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (len == 0 || len > n - i)
            return false;
        uint32_t cp = len == 1 ? c : c & (0x7F >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

static void check(const tok_vocab *v, bool roundtrip, const uint8_t *text, size_t len,
                  uint8_t flags)
{
    bool add = flags & 1, parse = flags & 2;
    int dflags = (flags & 4) ? TOK_DECODE_SPECIAL : 0;
    int32_t *ids;
    size_t n;
    if (tok_encode(v, (const char *)text, len, add, parse, &ids, &n, NULL, 0) != TOK_OK)
        return;
    char *dec;
    size_t dlen;
    if (tok_decode(v, ids, n, dflags, &dec, &dlen, NULL, 0) != TOK_OK)
        abort(); /* encode's ids are always in range */

    /* Streaming gives the same bytes, never ending inside a character it
     * could still complete. */
    tok_stream st;
    tok_stream_init(&st, dflags);
    size_t cap = tok_max_piece(v) + 4, total = 0;
    char *buf = malloc(cap), *all = malloc(dlen + 4);
    if (!buf || !all)
        abort();
    for (size_t i = 0; i < n; i++) {
        size_t k;
        if (tok_stream_feed(&st, v, ids[i], buf, cap, &k) != TOK_OK || total + k > dlen)
            abort();
        memcpy(all + total, buf, k);
        total += k;
    }
    total += tok_stream_flush(&st, all + total, 4);
    if (total != dlen || memcmp(all, dec, dlen) != 0)
        abort();

    if (roundtrip && !add && (dflags || !parse) && valid_utf8(text, len) &&
        (dlen != len || memcmp(dec, text, len) != 0))
        abort();
    free(buf);
    free(all);
    free(dec);
    free(ids);
}

/* The input's bytes as ids, some out of range: refused, never read. */
static void check_ids(const tok_vocab *v, const uint8_t *data, size_t size)
{
    int32_t ids[64];
    size_t n = 0;
    for (size_t i = 0; i + 1 < size && n < 64; i += 2)
        ids[n++] = (int32_t)((data[i] << 8 | data[i + 1]) % (tok_n_vocab(v) + 2)) - 1;
    char *dec;
    size_t dlen;
    if (tok_decode(v, ids, n, TOK_DECODE_SPECIAL, &dec, &dlen, NULL, 0) == TOK_OK)
        free(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t pick = data[0] % (n_vocabs + 1);
    uint8_t flags = data[1];
    data += 2;
    size -= 2;
    if (pick < n_vocabs) {
        /* An exact-size copy so ASan sees reads past the end. */
        uint8_t *copy = malloc(size ? size : 1);
        if (!copy)
            return 0;
        memcpy(copy, data, size);
        check(vocabs[pick], exact[pick], copy, size, flags);
        check_ids(vocabs[pick], copy, size);
        free(copy);
        return 0;
    }
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    gguf_file f;
    tok_vocab *v;
    if (gguf_open_mem(&f, copy, size, "fuzz.gguf", NULL, 0) == GGUF_OK) {
        if (tok_vocab_load(&v, &f, NULL, 0) == TOK_OK) {
            static const char sample[] = " Hello  world\n\xc3\xa9<s>\xff 123";
            check(v, false, (const uint8_t *)sample, sizeof sample - 1, flags);
            check_ids(v, copy, size);
            tok_vocab_free(v);
        }
        gguf_close(&f);
    }
    free(copy);
    return 0;
}
