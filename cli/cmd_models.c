/* rhema ai models inspect | validate */
#include "cli/cli.h"
#include "gguf/gguf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Print a metadata string with control characters and quotes escaped,
 * cut after max bytes (the rest counted). */
static void put_escaped(FILE *out, gguf_str s, uint64_t max)
{
    uint64_t n = s.len < max ? s.len : max;
    for (uint64_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch == '\n')
            fputs("\\n", out);
        else if (ch == '\t')
            fputs("\\t", out);
        else if (ch < 0x20 || ch == 0x7f)
            fprintf(out, "\\u%04x", ch);
        else
            fputc(ch, out);
    }
    if (s.len > max)
        fprintf(out, "... (%" PRIu64 " bytes)", s.len);
}

static void put_scalar(FILE *out, const gguf_kv *kv)
{
    switch (kv->type) {
    case GGUF_V_UINT8: case GGUF_V_UINT16: case GGUF_V_UINT32: case GGUF_V_UINT64:
        fprintf(out, "%" PRIu64, kv->v.u);
        break;
    case GGUF_V_INT8: case GGUF_V_INT16: case GGUF_V_INT32: case GGUF_V_INT64:
        fprintf(out, "%" PRId64, kv->v.i);
        break;
    case GGUF_V_FLOAT32: case GGUF_V_FLOAT64:
        fprintf(out, "%.9g", kv->v.f);
        break;
    case GGUF_V_BOOL:
        fputs(kv->v.b ? "true" : "false", out);
        break;
    case GGUF_V_STRING:
        fputc('"', out);
        put_escaped(out, kv->v.s, 160);
        fputc('"', out);
        break;
    }
}

/* Arrays: the element type and count, then the first few elements. */
static void put_array(FILE *out, const gguf_kv *kv)
{
    uint64_t n = kv->v.arr.n, show = n < 6 ? n : 6;
    uint32_t et = kv->v.arr.type;
    fprintf(out, "[%s x %" PRIu64 "]", gguf_vtype_name(et), n);
    if (et == GGUF_V_ARRAY || n == 0)
        return;
    fputs(" [", out);
    for (uint64_t i = 0; i < show; i++) {
        if (i)
            fputs(", ", out);
        if (et == GGUF_V_STRING) {
            fputc('"', out);
            put_escaped(out, gguf_arr_str(kv, i), 40);
            fputc('"', out);
        } else if (et == GGUF_V_FLOAT32 || et == GGUF_V_FLOAT64) {
            fprintf(out, "%g", gguf_arr_float(kv, i));
        } else if (et == GGUF_V_UINT64) {
            fprintf(out, "%" PRIu64, (uint64_t)gguf_arr_int(kv, i));
        } else {
            fprintf(out, "%" PRId64, gguf_arr_int(kv, i));
        }
    }
    fputs(n > show ? ", ...]" : "]", out);
}

static void human_count(char *buf, size_t n, uint64_t v)
{
    if (v >= 1000000000ull)
        snprintf(buf, n, "%.2f B", v / 1e9);
    else if (v >= 1000000ull)
        snprintf(buf, n, "%.2f M", v / 1e6);
    else if (v >= 1000ull)
        snprintf(buf, n, "%.1f K", v / 1e3);
    else
        snprintf(buf, n, "%" PRIu64, v);
}

static void human_bytes(char *buf, size_t n, uint64_t v)
{
    if (v >= (1ull << 30))
        snprintf(buf, n, "%.2f GiB", v / (double)(1ull << 30));
    else if (v >= (1ull << 20))
        snprintf(buf, n, "%.2f MiB", v / (double)(1ull << 20));
    else if (v >= (1ull << 10))
        snprintf(buf, n, "%.1f KiB", v / 1024.0);
    else
        snprintf(buf, n, "%" PRIu64 " B", v);
}

/* The value of "<arch>.<suffix>", or NULL. */
static const gguf_kv *arch_key(const gguf_file *f, gguf_str arch, const char *suffix)
{
    char key[160];
    snprintf(key, sizeof key, "%.*s.%s", (int)(arch.len > 64 ? 64 : arch.len), arch.ptr, suffix);
    return gguf_find(f, key);
}

static void print_summary(const gguf_file *f)
{
    gguf_str arch = {"", 0}, tok = {"", 0};
    uint64_t params = 0, type_n[GGUF_T_COUNT] = {0}, type_b[GGUF_T_COUNT] = {0};
    char a[32], b[32];
    gguf_get_str(f, "general.architecture", &arch, NULL, 0);
    gguf_get_str(f, "tokenizer.ggml.model", &tok, NULL, 0);
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        params += f->tensors[i].nelem;
        type_n[f->tensors[i].type]++;
        type_b[f->tensors[i].type] += f->tensors[i].nbytes;
    }
    human_bytes(a, sizeof a, f->size);
    printf("file:           %s (%s, %" PRIu64 " bytes)\n", f->name, a, f->size);
    printf("gguf version:   %u, alignment %u, data at offset %" PRIu64 "\n", f->version,
           f->alignment, f->data_offset);
    printf("architecture:   %.*s\n", (int)arch.len, arch.len ? arch.ptr : "(none)");
    human_count(a, sizeof a, params);
    printf("parameters:     %s (%" PRIu64 ")\n", a, params);
    const gguf_kv *ctx = arch.len ? arch_key(f, arch, "context_length") : NULL;
    if (ctx) {
        printf("context length: ");
        put_scalar(stdout, ctx);
        printf("\n");
    }
    printf("tokenizer:      %.*s\n", (int)tok.len, tok.len ? tok.ptr : "(none)");
    printf("tensors:        %" PRIu64 "\nmetadata keys:  %" PRIu64 "\n", f->n_tensors, f->n_kv);
    if (f->n_tensors) {
        printf("\nquantization mix:\n");
        for (uint32_t t = 0; t < GGUF_T_COUNT; t++) {
            if (!type_n[t])
                continue;
            human_bytes(a, sizeof a, type_b[t]);
            printf("  %-8s %6" PRIu64 " tensors  %12s\n", gguf_type_info(t)->name, type_n[t], a);
        }
    }
    (void)b;
}

static void print_metadata(const gguf_file *f)
{
    printf("\nmetadata:\n");
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const gguf_kv *kv = &f->kv[i];
        printf("  %-44.*s ", (int)kv->key.len, kv->key.ptr);
        if (kv->type == GGUF_V_ARRAY)
            put_array(stdout, kv);
        else
            put_scalar(stdout, kv);
        printf("\n");
    }
}

static void print_tensors(const gguf_file *f)
{
    printf("\ntensors:\n  %-40s %-8s %-28s %14s %12s\n", "name", "type", "shape", "offset", "bytes");
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        char shape[64];
        int n = 0;
        for (uint32_t d = 0; d < t->n_dims; d++)
            n += snprintf(shape + n, sizeof shape - (size_t)n, "%s%" PRIu64, d ? " x " : "", t->ne[d]);
        printf("  %-40.*s %-8s %-28s %14" PRIu64 " %12" PRIu64 "\n", (int)t->name.len, t->name.ptr,
               gguf_type_info(t->type)->name, shape, f->data_offset + t->offset, t->nbytes);
    }
}

static int run_inspect(const cli_cmd *cmd, int argc, char **argv)
{
    bool json = false;
    char *pos[1];
    int npos = 0;
    const cli_opt opts[] = {
        {"json", 0, CLI_FLAG, &json, "print one JSON object instead of text"},
    };
    int rc = cli_parse(cmd, argc, argv, opts, 1, pos, 1, &npos);
    if (rc)
        return rc;
    if (npos != 1)
        return cli_usage_error(cmd, "expected the path of a GGUF file");
    if (json)
        return cli_usage_error(cmd, "--json is not available yet");
    gguf_file f;
    char err[512];
    if (gguf_open(&f, pos[0], err, sizeof err)) {
        fprintf(stderr, "rhema: %s\n", err);
        return CLI_EXIT_FAIL;
    }
    print_summary(&f);
    print_metadata(&f);
    print_tensors(&f);
    gguf_close(&f);
    return CLI_EXIT_OK;
}

static int run_validate(const cli_cmd *cmd, int argc, char **argv)
{
    const char *model = NULL;
    char *pos[1];
    int npos = 0;
    const cli_opt opts[] = {
        {"model", 'm', CLI_STR, &model, "PATH  the GGUF file to check"},
    };
    int rc = cli_parse(cmd, argc, argv, opts, 1, pos, 1, &npos);
    if (rc)
        return rc;
    if (!model && npos == 1)
        model = pos[0];
    if (!model)
        return cli_usage_error(cmd, "--model PATH is required");
    gguf_file f;
    char err[512];
    if (gguf_open(&f, model, err, sizeof err)) {
        printf("%s: INVALID\n  %s\n", model, err);
        return CLI_EXIT_FAIL;
    }
    printf("%s: valid GGUF v%u, %" PRIu64 " tensors, %" PRIu64 " metadata keys\n", model,
           f.version, f.n_tensors, f.n_kv);
    gguf_close(&f);
    return CLI_EXIT_OK;
}

const cli_cmd cli_cmd_models_inspect = {
    "ai models inspect", "PATH [--json]",
    "Show a GGUF model's architecture, size, quantization mix, metadata and tensors.",
    run_inspect};

const cli_cmd cli_cmd_models_validate = {
    "ai models validate", "--model PATH",
    "Check a GGUF file's structure and tensor shapes; exit 0 when valid, 1 when not.",
    run_validate};
