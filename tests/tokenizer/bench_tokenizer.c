/* Tokenizer throughput: bench_tokenizer VOCAB.gguf MB FILE...
 * Concatenates the files, repeats them up to MB megabytes, encodes the
 * whole text once and prints MB/s per CPU second on one thread. Byte-level
 * vocabularies are also decoded and compared with the input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gguf/gguf.h"
#include "tests/testutil.h"
#include "tokenizer/tokenizer.h"

/* CPU time of this thread: on a shared machine wall time mostly measures
 * the other processes. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s VOCAB.gguf MB FILE...\n", argv[0]);
        return 2;
    }
    size_t want = (size_t)(atof(argv[2]) * 1e6);
    size_t cap = 0, len = 0;
    char *src = NULL;
    for (int i = 3; i < argc; i++) {
        size_t n;
        uint8_t *d = tu_read_file(argv[i], &n);
        if (!d) {
            fprintf(stderr, "cannot read %s\n", argv[i]);
            return 1;
        }
        char *p = realloc(src, cap + n);
        if (!p)
            return 1;
        src = p;
        memcpy(src + cap, d, n);
        cap += n;
        free(d);
    }
    if (cap == 0)
        return 1;
    char *text = malloc(want + cap);
    if (!text)
        return 1;
    while (len < want) {
        memcpy(text + len, src, cap);
        len += cap;
    }

    gguf_file f;
    tok_vocab *v;
    char err[512];
    if (gguf_open(&f, argv[1], err, sizeof err) != GGUF_OK ||
        tok_vocab_load(&v, &f, err, sizeof err) != TOK_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int32_t *ids;
    size_t n;
    double t0 = now();
    if (tok_encode(v, text, len, false, false, &ids, &n, err, sizeof err) != TOK_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double dt = now() - t0;
    printf("%s: %.1f MB -> %zu tokens in %.3f s CPU: %.1f MB/s\n", argv[1], len / 1e6, n, dt,
           len / 1e6 / dt);
    if (tok_vocab_kind(v) == TOK_KIND_BPE) {
        char *back;
        size_t blen;
        t0 = now();
        if (tok_decode(v, ids, n, 0, &back, &blen, err, sizeof err) != TOK_OK)
            return 1;
        dt = now() - t0;
        printf("  decode %.1f MB/s, round trip %s\n", len / 1e6 / dt,
               blen == len && memcmp(back, text, len) == 0 ? "exact" : "DIFFERS");
        free(back);
    }
    free(ids);
    tok_vocab_free(v);
    gguf_close(&f);
    free(text);
    free(src);
    return 0;
}
