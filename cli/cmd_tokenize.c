/* `rhema ai tokenize`: the token ids (or pieces, or count) of a text under a
 * model's vocabulary. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

/* Whole stream into a malloc'd buffer; NULL on a read or memory error. */
static char *read_stream(FILE *fp, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, fp);
        if (n < cap)
            break;
        char *p = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
        if (!p) {
            free(buf);
            return NULL;
        }
        buf = p;
        cap *= 2;
    }
    if (buf && ferror(fp)) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* The text to tokenize: the file ("-" is standard input) or the argument. */
static char *load_text(const char *file, const char *arg, size_t *len)
{
    if (!file) {
        *len = strlen(arg);
        return strdup(arg);
    }
    if (strcmp(file, "-") == 0)
        return read_stream(stdin, len);
    FILE *fp = fopen(file, "rb");
    if (!fp) {
        fprintf(stderr, "rhema: cannot open %s: %s\n", file, strerror(errno));
        return NULL;
    }
    char *text = read_stream(fp, len);
    if (!text)
        fprintf(stderr, "rhema: cannot read %s\n", file);
    fclose(fp);
    return text;
}

/* A piece quoted for the terminal: UTF-8 kept, control and stray bytes
 * escaped. */
static void print_piece(const char *p, size_t len)
{
    putchar('\'');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c == '\\' || c == '\'')
            printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else if (c < 0x80)
            putchar(c);
        else {
            /* Copy a whole valid character; escape anything else. */
            size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
            size_t k = 1;
            while (need && k < need && i + k < len && ((unsigned char)p[i + k] & 0xC0) == 0x80)
                k++;
            if (need && k == need) {
                fwrite(p + i, 1, k, stdout);
                i += k - 1;
            } else {
                printf("\\x%02x", c);
            }
        }
    }
    putchar('\'');
}

static int run_tokenize(const cli_cmd *cmd, int argc, char **argv)
{
    const char *model = NULL, *file = NULL;
    bool no_bos = false, parse_special = false, pieces = false, count = false;
    char *pos[1];
    int npos = 0;
    const cli_opt opts[] = {
        {"model", 'm', CLI_STR, &model, "PATH  the GGUF file whose vocabulary to use"},
        {"no-bos", 0, CLI_FLAG, &no_bos, "do not add the BOS/EOS tokens the vocabulary asks for"},
        {"parse-special", 0, CLI_FLAG, &parse_special,
         "turn special-token text such as <|eot_id|> into that token"},
        {"pieces", 0, CLI_FLAG, &pieces, "print one token per line with its text"},
        {"count", 0, CLI_FLAG, &count, "print only the number of tokens"},
        {"file", 'f', CLI_STR, &file, "F  tokenize the contents of file F (- for stdin)"},
    };
    int rc = cli_parse(cmd, argc, argv, opts, sizeof opts / sizeof opts[0], pos, 1, &npos);
    if (rc)
        return rc;
    if (!model)
        return cli_usage_error(cmd, "--model PATH is required");
    if ((file != NULL) == (npos == 1))
        return cli_usage_error(cmd, "give either TEXT or --file F");
    if (pieces && count)
        return cli_usage_error(cmd, "--pieces and --count exclude each other");

    size_t len;
    char *text = load_text(file, npos ? pos[0] : NULL, &len);
    if (!text)
        return CLI_EXIT_FAIL;
    gguf_file f;
    tok_vocab *v = NULL;
    char err[512];
    int32_t *ids = NULL;
    size_t n = 0;
    char path[4096];
    rc = CLI_EXIT_FAIL;
    if (cli_model_file(model, path, sizeof path, err, sizeof err) ||
        gguf_open(&f, path, err, sizeof err) != GGUF_OK) {
        fprintf(stderr, "rhema: %s\n", err);
        free(text);
        return CLI_EXIT_FAIL;
    }
    if (tok_vocab_load(&v, &f, err, sizeof err) != TOK_OK ||
        tok_encode(v, text, len, !no_bos, parse_special, &ids, &n, err, sizeof err) != TOK_OK) {
        fprintf(stderr, "rhema: %s\n", err);
        goto done;
    }
    if (count) {
        printf("%zu\n", n);
    } else if (pieces) {
        for (size_t i = 0; i < n; i++) {
            const char *p;
            size_t pl;
            tok_piece(v, ids[i], true, &p, &pl);
            printf("%d ", ids[i]);
            print_piece(p, pl);
            putchar('\n');
        }
    } else {
        for (size_t i = 0; i < n; i++)
            printf(i ? " %d" : "%d", ids[i]);
        putchar('\n');
    }
    rc = CLI_EXIT_OK;
done:
    free(ids);
    tok_vocab_free(v);
    gguf_close(&f);
    free(text);
    return rc;
}

const cli_cmd cli_cmd_tokenize = {
    "ai tokenize",
    "--model PATH [--no-bos] [--parse-special] [--pieces] [--count] [--file F | TEXT]",
    "Print the token ids of a text under a model's vocabulary.", run_tokenize};
