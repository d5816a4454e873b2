/* rhema ai models inspect | validate */
#include "cli/ai_config.h"
#include "cli/cli.h"
#include "engine/engine.h"
#include "gguf/gguf.h"
#include "net/net.h"
#include "router/router.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* What inspect reports besides the raw tables. */
typedef struct summary {
    gguf_str arch, tok;
    const gguf_kv *ctx;
    uint64_t params, type_n[GGUF_T_COUNT], type_b[GGUF_T_COUNT];
} summary;

static void summarize(const gguf_file *f, summary *m)
{
    memset(m, 0, sizeof *m);
    m->arch = m->tok = (gguf_str){"", 0};
    gguf_get_str(f, "general.architecture", &m->arch, NULL, 0);
    gguf_get_str(f, "tokenizer.ggml.model", &m->tok, NULL, 0);
    m->ctx = m->arch.len ? arch_key(f, m->arch, "context_length") : NULL;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        m->params += f->tensors[i].nelem;
        m->type_n[f->tensors[i].type]++;
        m->type_b[f->tensors[i].type] += f->tensors[i].nbytes;
    }
}

static void print_summary(const gguf_file *f)
{
    summary m;
    char a[32];
    summarize(f, &m);
    gguf_str arch = m.arch, tok = m.tok;
    const uint64_t *type_n = m.type_n, *type_b = m.type_b;
    human_bytes(a, sizeof a, f->size);
    printf("file:           %s (%s, %" PRIu64 " bytes)\n", f->name, a, f->size);
    printf("gguf version:   %u, alignment %u, data at offset %" PRIu64 "\n", f->version,
           f->alignment, f->data_offset);
    printf("architecture:   %.*s\n", (int)arch.len, arch.len ? arch.ptr : "(none)");
    human_count(a, sizeof a, m.params);
    printf("parameters:     %s (%" PRIu64 ")\n", a, m.params);
    if (m.ctx) {
        printf("context length: ");
        put_scalar(stdout, m.ctx);
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

/* ---- JSON ---- */

/* Metadata strings may hold any bytes: invalid UTF-8 becomes U+FFFD. */
static void jw_lossy(net_jw *w, gguf_str s)
{
    net_buf b;
    net_buf_init(&b);
    uint64_t i = 0;
    while (i < s.len) {
        uint64_t ok = gguf_utf8_prefix(s.ptr + i, s.len - i);
        net_buf_append(&b, s.ptr + i, ok);
        i += ok;
        if (i < s.len) {
            net_buf_puts(&b, "\xef\xbf\xbd");
            i++;
        }
    }
    net_jw_strn(w, b.data ? b.data : "", b.len);
    net_buf_free(&b);
}

static void jw_scalar(net_jw *w, const gguf_kv *kv)
{
    switch (kv->type) {
    case GGUF_V_UINT8: case GGUF_V_UINT16: case GGUF_V_UINT32: case GGUF_V_UINT64: {
        char num[32];
        snprintf(num, sizeof num, "%" PRIu64, kv->v.u);
        net_jw_num_text(w, num);
        break;
    }
    case GGUF_V_INT8: case GGUF_V_INT16: case GGUF_V_INT32: case GGUF_V_INT64:
        net_jw_int(w, kv->v.i);
        break;
    case GGUF_V_FLOAT32: case GGUF_V_FLOAT64:
        if (kv->v.f == kv->v.f && kv->v.f - kv->v.f == 0)
            net_jw_double(w, kv->v.f);
        else
            net_jw_null(w);
        break;
    case GGUF_V_BOOL:
        net_jw_bool(w, kv->v.b);
        break;
    case GGUF_V_STRING:
        jw_lossy(w, kv->v.s);
        break;
    }
}

/* Arrays are summarized: element type, count and the first elements. */
static void jw_array(net_jw *w, const gguf_kv *kv)
{
    uint64_t n = kv->v.arr.n, show = n < 16 ? n : 16;
    uint32_t et = kv->v.arr.type;
    net_jw_obj_begin(w);
    net_jw_key(w, "element_type");
    net_jw_str(w, gguf_vtype_name(et));
    net_jw_key(w, "count");
    net_jw_int(w, (int64_t)n);
    if (et != GGUF_V_ARRAY) {
        net_jw_key(w, "head");
        net_jw_arr_begin(w);
        for (uint64_t i = 0; i < show; i++) {
            double d = gguf_arr_float(kv, i);
            if (et == GGUF_V_STRING)
                jw_lossy(w, gguf_arr_str(kv, i));
            else if (et == GGUF_V_FLOAT32 || et == GGUF_V_FLOAT64)
                d == d && d - d == 0 ? net_jw_double(w, d) : net_jw_null(w);
            else
                net_jw_int(w, gguf_arr_int(kv, i));
        }
        net_jw_arr_end(w);
    }
    net_jw_obj_end(w);
}

static int print_json(const gguf_file *f)
{
    summary m;
    net_buf out;
    net_jw w;
    char err[256];
    summarize(f, &m);
    net_buf_init(&out);
    net_jw_init(&w, &out);
    net_jw_obj_begin(&w);
    net_jw_key(&w, "file");
    net_jw_str(&w, f->name);
    cli_ai_json_ki(&w, "size", (int64_t)(f->size));
    cli_ai_json_ki(&w, "version", (int64_t)(f->version));
    cli_ai_json_ki(&w, "alignment", (int64_t)(f->alignment));
    cli_ai_json_ki(&w, "data_offset", (int64_t)(f->data_offset));
    net_jw_key(&w, "architecture");
    m.arch.len ? jw_lossy(&w, m.arch) : (void)net_jw_null(&w);
    cli_ai_json_ki(&w, "parameters", (int64_t)(m.params));
    net_jw_key(&w, "context_length");
    m.ctx ? jw_scalar(&w, m.ctx) : (void)net_jw_null(&w);
    net_jw_key(&w, "tokenizer");
    m.tok.len ? jw_lossy(&w, m.tok) : (void)net_jw_null(&w);
    net_jw_key(&w, "quantization");
    net_jw_arr_begin(&w);
    for (uint32_t t = 0; t < GGUF_T_COUNT; t++) {
        if (!m.type_n[t])
            continue;
        net_jw_obj_begin(&w);
        net_jw_key(&w, "type");
        net_jw_str(&w, gguf_type_info(t)->name);
        cli_ai_json_ki(&w, "tensors", (int64_t)(m.type_n[t]));
        cli_ai_json_ki(&w, "bytes", (int64_t)(m.type_b[t]));
        net_jw_obj_end(&w);
    }
    net_jw_arr_end(&w);
    net_jw_key(&w, "metadata");
    net_jw_obj_begin(&w);
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const gguf_kv *kv = &f->kv[i];
        char *key = strndup(kv->key.ptr, kv->key.len);
        net_jw_key(&w, key ? key : "");
        free(key);
        if (kv->type == GGUF_V_ARRAY)
            jw_array(&w, kv);
        else
            jw_scalar(&w, kv);
    }
    net_jw_obj_end(&w);
    net_jw_key(&w, "tensors");
    net_jw_arr_begin(&w);
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        net_jw_obj_begin(&w);
        net_jw_key(&w, "name");
        net_jw_strn(&w, t->name.ptr, t->name.len);
        net_jw_key(&w, "type");
        net_jw_str(&w, gguf_type_info(t->type)->name);
        net_jw_key(&w, "shape");
        net_jw_arr_begin(&w);
        for (uint32_t d = 0; d < t->n_dims; d++)
            net_jw_int(&w, (int64_t)t->ne[d]);
        net_jw_arr_end(&w);
        cli_ai_json_ki(&w, "offset", (int64_t)(f->data_offset + t->offset));
        cli_ai_json_ki(&w, "bytes", (int64_t)(t->nbytes));
        net_jw_obj_end(&w);
    }
    net_jw_arr_end(&w);
    net_jw_obj_end(&w);
    int rc = net_jw_finish(&w, err, sizeof err);
    if (rc == 0)
        printf("%s\n", out.data);
    else
        fprintf(stderr, "rhema: cannot write JSON for %s: %s\n", f->name, err);
    net_buf_free(&out);
    return rc ? CLI_EXIT_FAIL : CLI_EXIT_OK;
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
    gguf_file f;
    char err[512];
    if (gguf_open(&f, pos[0], err, sizeof err)) {
        fprintf(stderr, "rhema: %s\n", err);
        return CLI_EXIT_FAIL;
    }
    if (json) {
        rc = print_json(&f);
    } else {
        print_summary(&f);
        print_metadata(&f);
        print_tensors(&f);
    }
    gguf_close(&f);
    return rc;
}

typedef struct problems {
    int count;
    net_buf text;
} problems;

static void report_problem(void *ud, const char *problem)
{
    problems *p = ud;
    if (p->count++ == 0)
        net_buf_init(&p->text);
    net_buf_puts(&p->text, "  - ");
    net_buf_puts(&p->text, problem);
    net_buf_puts(&p->text, "\n");
}

/* --model NAME (no such file): the installed model's path into path, after
 * checking its sha256 against the manifest. Returns 0 or an exit code. */
static int resolve_installed(const char *name, char *path, size_t n)
{
    route_store *s;
    route_installed m;
    char err[1024];
    int rc = route_store_open(NULL, &s, err, sizeof err);
    if (!rc)
        rc = route_store_get(s, name, &m, err, sizeof err);
    if (rc == ROUTE_ERR_NOTFOUND)
        snprintf(err, sizeof err, "no file %s, and no installed model of that name (see `rhema ai "
                 "models list`)", name);
    if (!rc)
        rc = route_store_path(s, &m, path, n, err, sizeof err);
    if (!rc) {
        rc = route_store_verify(s, name, err, sizeof err);
        if (!rc)
            printf("%s: installed version %s at %s, sha256 %s matches the manifest\n", name,
                   m.version, path, m.sha256);
    }
    if (rc)
        printf("%s: INVALID\n  - %s\n", name, err);
    route_store_close(s);
    return rc ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

static int run_validate(const cli_cmd *cmd, int argc, char **argv)
{
    const char *model = NULL;
    char resolved[4096];
    char *pos[1];
    int npos = 0;
    const cli_opt opts[] = {
        {"model", 'm', CLI_STR, &model, "NAME|PATH  an installed model or a GGUF file"},
    };
    int rc = cli_parse(cmd, argc, argv, opts, 1, pos, 1, &npos);
    if (rc)
        return rc;
    if (!model && npos == 1)
        model = pos[0];
    if (!model)
        return cli_usage_error(cmd, "--model PATH is required");
    if (access(model, F_OK) != 0 && !strchr(model, '/')) {
        if ((rc = resolve_installed(model, resolved, sizeof resolved)))
            return rc;
        model = resolved;
    }
    gguf_file f;
    char err[512];
    if (gguf_open(&f, model, err, sizeof err)) {
        printf("%s: INVALID\n  - %s\n", model, err);
        return CLI_EXIT_FAIL;
    }
    printf("%s: GGUF v%u, %" PRIu64 " tensors, %" PRIu64 " metadata keys, every tensor in bounds and aligned\n",
           model, f.version, f.n_tensors, f.n_kv);
    problems p = {0};
    int n;
    if (f.n_tensors == 0) {
        /* Vocabulary-only files (as tokenizer tests use) carry no weights:
         * only the tokenizer has to be there. */
        const gguf_kv *toks;
        n = gguf_get_arr(&f, "tokenizer.ggml.tokens", GGUF_V_STRING, &toks, err, sizeof err);
        if (n)
            report_problem(&p, "no tensors and no tokenizer vocabulary: nothing to load");
        else
            printf("%s: vocabulary-only file (%" PRIu64 " tokens): architecture checks skipped\n", model,
                   toks->v.arr.n);
    } else {
        n = eng_check(&f, report_problem, &p);
    }
    bool has_weights = f.n_tensors > 0;
    gguf_close(&f);
    route_model_check_info info;
    if (n == 0 && has_weights) {
        if (route_model_check(model, &info, err, sizeof err)) {
            report_problem(&p, err);
            n = 1;
        } else {
            printf("%s: loads (%s, %u layers, %u tokens) in %.0f ms; one forward pass in %.0f ms, "
                   "logits finite\n", model, info.arch, info.n_layer, info.n_vocab, info.load_ms,
                   info.forward_ms);
        }
    }
    if (n != 0) {
        printf("%s: INVALID (%d problem%s)\n%s", model, p.count, p.count == 1 ? "" : "s",
               p.text.data ? p.text.data : "");
        net_buf_free(&p.text);
        return CLI_EXIT_FAIL;
    }
    printf("%s: valid\n", model);
    return CLI_EXIT_OK;
}

const cli_cmd cli_cmd_models_inspect = {
    "ai models inspect", "PATH [--json]",
    "Show a GGUF model's architecture, size, quantization mix, metadata and tensors.",
    run_inspect};

const cli_cmd cli_cmd_models_validate = {
    "ai models validate", "--model NAME|PATH",
    "Check structure, tensor shapes, sha256 (installed models), load and one forward pass.",
    run_validate};
