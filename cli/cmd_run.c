/* `rhema ai run` (text generation) and `rhema ai logits` (raw logits of a
 * token sequence, in the fixtures' .logits layout). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "engine/engine.h"
#include "kernels/kernels.h"
#include "tokenizer/tokenizer.h"

/* Options shared by both commands: the model, its context and the kernels
 * (cpu: the set --kernels named, else the fastest). */
typedef struct model_opts {
    const char *model, *kernels;
    long threads, ctx, batch;
    bool reference, kv_f32;
    kern_cpu cpu;
} model_opts;

#define MODEL_OPTS_DEFAULT {NULL, NULL, 0, 0, 0, false, false, {0}}

static int check_model_opts(const cli_cmd *cmd, model_opts *mo)
{
    if (!mo->model)
        return cli_usage_error(cmd, "--model NAME|PATH is required");
    int rc = cli_threads(cmd, &mo->threads);
    if (rc)
        return rc;
    if (mo->ctx < 0 || mo->ctx > (1L << 20))
        return cli_usage_error(cmd, "--ctx must be between 0 (the model's) and 1048576");
    if (mo->batch < 0 || mo->batch > (1L << 20))
        return cli_usage_error(cmd, "--batch must be between 0 (the default, 128) and 1048576");
    return cli_kernels(cmd, mo->kernels, &mo->cpu);
}

static int open_model(const model_opts *mo, eng_model **m, eng_ctx **c)
{
    char err[512], path[4096];
    *c = NULL;
    if (cli_model_file(mo->model, path, sizeof path, err, sizeof err) ||
        eng_model_open(m, path, err, sizeof err) != ENG_OK) {
        fprintf(stderr, "rhema: %s\n", err);
        return CLI_EXIT_FAIL;
    }
    eng_ctx_params p = eng_ctx_default_params();
    p.n_ctx = (uint32_t)mo->ctx;
    p.n_threads = (uint32_t)mo->threads;
    p.reference = mo->reference;
    p.cpu = &mo->cpu;
    p.kv_type = mo->kv_f32 ? ENG_KV_F32 : ENG_KV_F16;
    p.n_batch = (uint32_t)mo->batch;
    if (eng_ctx_new(c, *m, &p, err, sizeof err) != ENG_OK) {
        fprintf(stderr, "rhema: %s\n", err);
        eng_model_free(*m);
        *m = NULL;
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

static int print_text(void *ud, int32_t token, const char *text, size_t len)
{
    (void)ud;
    (void)token;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

/* The token ids to generate from: the prompt as is, or the chat message
 * rendered with the model's (or the named) template. */
static int build_prompt(const eng_model *m, const tok_vocab *v, const char *prompt, const char *chat,
                        const char *system, const char *tmpl_name, eng_chat_tmpl *tmpl, bool *is_chat,
                        int32_t **ids, size_t *n)
{
    char err[512];
    *is_chat = chat != NULL;
    char *text = NULL;
    if (chat) {
        int st = tmpl_name ? eng_chat_template_by_name(tmpl_name, tmpl, err, sizeof err)
                           : eng_chat_template_detect(eng_model_file(m), tmpl, err, sizeof err);
        if (st != ENG_OK) {
            fprintf(stderr, "rhema: %s\n", err);
            return tmpl_name ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
        }
        eng_chat_msg msgs[2] = {{"system", system}, {"user", chat}};
        size_t first = system ? 0 : 1;
        if (eng_chat_render(*tmpl, msgs + first, 2 - first, true, &text, err, sizeof err) != ENG_OK) {
            fprintf(stderr, "rhema: %s\n", err);
            return CLI_EXIT_FAIL;
        }
    }
    const char *src = chat ? text : prompt;
    int st = tok_encode(v, src, strlen(src), true, chat != NULL, ids, n, err, sizeof err);
    free(text);
    if (st != TOK_OK) {
        fprintf(stderr, "rhema: %s\n", err);
        return CLI_EXIT_FAIL;
    }
    if (*n == 0) {
        fprintf(stderr, "rhema: the prompt gives no tokens\n");
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

static int run_generate(const cli_cmd *cmd, int argc, char **argv)
{
    model_opts mo = MODEL_OPTS_DEFAULT;
    const char *prompt = NULL, *chat = NULL, *system = NULL, *tmpl_name = NULL, *stop = NULL;
    long n_predict = 128, top_k = 40, seed = -1, last_n = 64;
    double temp = 0.8, top_p = 0.95, min_p = 0.05, rep = 1.0, freq = 0.0, pres = 0.0;
    const cli_opt opts[] = {
        {"model", 'm', CLI_STR, &mo.model, "NAME|PATH  an installed model or a GGUF file"},
        {"prompt", 'p', CLI_STR, &prompt, "TEXT  text to continue"},
        {"chat", 0, CLI_STR, &chat, "TEXT  a user message, rendered with the chat template"},
        {"system", 0, CLI_STR, &system, "TEXT  a system message for --chat"},
        {"chat-template", 0, CLI_STR, &tmpl_name, "NAME  chatml, llama2, llama3, mistral, phi3, gemma, zephyr"},
        {"max-tokens", 'n', CLI_INT, &n_predict, "N  tokens to generate at most (default 128)"},
        {"temp", 0, CLI_FLOAT, &temp, "T  temperature; 0 = greedy (default 0.8)"},
        {"top-k", 0, CLI_INT, &top_k, "K  keep the K most likely tokens; 0 = off (default 40)"},
        {"top-p", 0, CLI_FLOAT, &top_p, "P  nucleus sampling; 1 = off (default 0.95)"},
        {"min-p", 0, CLI_FLOAT, &min_p, "P  drop tokens below P x the best; 0 = off (default 0.05)"},
        {"repeat-penalty", 0, CLI_FLOAT, &rep, "F  penalize recent tokens; 1 = off (default)"},
        {"repeat-last-n", 0, CLI_INT, &last_n, "N  tokens the penalties look at (default 64)"},
        {"frequency-penalty", 0, CLI_FLOAT, &freq, "F  subtract F x count of a recent token (default 0)"},
        {"presence-penalty", 0, CLI_FLOAT, &pres, "F  subtract F from every recent token (default 0)"},
        {"seed", 's', CLI_INT, &seed, "S  random seed (default: from the clock)"},
        {"threads", 't', CLI_INT, &mo.threads, CLI_THREADS_HELP},
        {"kernels", 0, CLI_STR, &mo.kernels, CLI_KERNELS_HELP},
        {"ctx", 'c', CLI_INT, &mo.ctx, "N  context length (default: the model's, at most 4096)"},
        {"batch", 'b', CLI_INT, &mo.batch, "N  prompt tokens evaluated together (default 128; fewer use less memory)"},
        {"kv-f32", 0, CLI_FLAG, &mo.kv_f32, "keep the KV cache in F32 (default F16)"},
        {"stop", 0, CLI_STR, &stop, "TEXT  also stop before this text"},
    };
    int npos = 0;
    int rc = cli_parse(cmd, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, &npos);
    if (rc)
        return rc;
    if ((rc = check_model_opts(cmd, &mo)))
        return rc;
    if (!prompt == !chat)
        return cli_usage_error(cmd, "give exactly one of --prompt TEXT and --chat TEXT");
    if (system && !chat)
        return cli_usage_error(cmd, "--system goes with --chat");
    if (n_predict < 0 || top_k < 0 || last_n < 0 || last_n > (1L << 20) || top_k > INT32_MAX)
        return cli_usage_error(cmd, "-n, --top-k and --repeat-last-n must not be negative");
    eng_sampler_params sp = eng_sampler_default_params();
    sp.temp = (float)temp;
    sp.top_k = (uint32_t)top_k;
    sp.top_p = (float)top_p;
    sp.min_p = (float)min_p;
    sp.repeat_penalty = (float)rep;
    sp.repeat_last_n = (uint32_t)last_n;
    sp.freq_penalty = (float)freq;
    sp.presence_penalty = (float)pres;
    sp.seed = seed >= 0 ? (uint64_t)seed : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);

    eng_model *m;
    eng_ctx *c;
    if ((rc = open_model(&mo, &m, &c)))
        return rc;
    char err[512];
    tok_vocab *v = NULL;
    eng_sampler *s = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    eng_chat_tmpl tmpl = ENG_CHAT_CHATML;
    bool is_chat = false;
    if (tok_vocab_load(&v, eng_model_file(m), err, sizeof err) != TOK_OK) {
        fprintf(stderr, "rhema: %s\n", err);
        rc = CLI_EXIT_FAIL;
    } else if (eng_sampler_new(&s, &sp, eng_model_hparams(m)->n_vocab, err, sizeof err) != ENG_OK) {
        fprintf(stderr, "rhema: %s\n", err);
        rc = CLI_EXIT_USAGE;
    } else {
        rc = build_prompt(m, v, prompt, chat, system, tmpl_name, &tmpl, &is_chat, &ids, &n);
    }
    if (rc == CLI_EXIT_OK) {
        const char *stops[2];
        size_t n_stops = 0;
        if (is_chat)
            stops[n_stops++] = eng_chat_end_of_turn(tmpl);
        if (stop && *stop)
            stops[n_stops++] = stop;
        eng_gen_params gp = {(uint32_t)n_predict, stops, n_stops, true, NULL};
        if (n_predict == 0) {
            rc = CLI_EXIT_OK;
        } else if (eng_generate(c, s, v, ids, n, &gp, print_text, NULL, NULL, err, sizeof err) != ENG_OK) {
            fprintf(stderr, "\nrhema: %s\n", err);
            rc = CLI_EXIT_FAIL;
        } else {
            putchar('\n');
        }
    }
    free(ids);
    eng_sampler_free(s);
    tok_vocab_free(v);
    eng_ctx_free(c);
    eng_model_free(m);
    return rc;
}

/* "1 2 3" (spaces or commas) into ids. */
static int parse_tokens(const cli_cmd *cmd, const char *s, int32_t **ids, size_t *n)
{
    size_t cap = strlen(s) / 2 + 1;
    *ids = malloc(cap * sizeof **ids);
    *n = 0;
    if (!*ids) {
        fprintf(stderr, "rhema: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n')
            p++;
        if (!*p)
            break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX || *n == cap)
            return cli_usage_error(cmd, "--tokens: '%.20s' is not a token id", p);
        (*ids)[(*n)++] = (int32_t)v;
        p = end;
    }
    if (*n == 0)
        return cli_usage_error(cmd, "--tokens needs at least one token id");
    return CLI_EXIT_OK;
}

static int write_logits(const char *path, const eng_ctx *c, const int32_t *ids, size_t n, uint32_t n_vocab)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "rhema: %s: %s\n", path, strerror(errno));
        return CLI_EXIT_FAIL;
    }
    int32_t hdr[2] = {(int32_t)n, (int32_t)n_vocab};
    bool ok = fwrite(hdr, 4, 2, f) == 2 && fwrite(ids, 4, n, f) == n;
    for (size_t i = 0; ok && i < n; i++)
        ok = fwrite(eng_logits(c, i), 4, n_vocab, f) == n_vocab;
    if (fclose(f) != 0)
        ok = false;
    if (!ok) {
        fprintf(stderr, "rhema: %s: write failed\n", path);
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

static int run_logits(const cli_cmd *cmd, int argc, char **argv)
{
    model_opts mo = MODEL_OPTS_DEFAULT;
    const char *tokens = NULL, *out = NULL;
    const cli_opt opts[] = {
        {"model", 'm', CLI_STR, &mo.model, "NAME|PATH  an installed model or a GGUF file"},
        {"tokens", 0, CLI_STR, &tokens, "\"ID ID ...\"  token ids, evaluated as one batch from position 0"},
        {"out", 'o', CLI_STR, &out, "FILE  where to write int32 n, int32 n_vocab, ids, float32 logits[n][n_vocab]"},
        {"threads", 't', CLI_INT, &mo.threads, CLI_THREADS_HELP},
        {"kernels", 0, CLI_STR, &mo.kernels, CLI_KERNELS_HELP},
        {"ctx", 'c', CLI_INT, &mo.ctx, "N  context length (default: the model's, at most 4096)"},
        {"batch", 'b', CLI_INT, &mo.batch, "N  prompt tokens evaluated together (default 128; fewer use less memory)"},
        {"reference", 0, CLI_FLAG, &mo.reference, "use the portable reference kernels (the ground truth)"},
    };
    int npos = 0;
    int rc = cli_parse(cmd, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, &npos);
    if (rc)
        return rc;
    if ((rc = check_model_opts(cmd, &mo)))
        return rc;
    if (!tokens || !out)
        return cli_usage_error(cmd, "--tokens and --out are required");
    int32_t *ids = NULL;
    size_t n = 0;
    if ((rc = parse_tokens(cmd, tokens, &ids, &n))) {
        free(ids);
        return rc;
    }
    eng_model *m;
    eng_ctx *c;
    if ((rc = open_model(&mo, &m, &c))) {
        free(ids);
        return rc;
    }
    char err[512];
    if (eng_eval(c, ids, n, true, err, sizeof err) != ENG_OK) {
        fprintf(stderr, "rhema: %s\n", err);
        rc = CLI_EXIT_FAIL;
    } else {
        rc = write_logits(out, c, ids, n, eng_model_hparams(m)->n_vocab);
    }
    free(ids);
    eng_ctx_free(c);
    eng_model_free(m);
    return rc;
}

const cli_cmd cli_cmd_run = {
    "ai run", "--model PATH (--prompt TEXT | --chat TEXT) [-n N] [--temp T] [--top-k K] [--top-p P] "
    "[--min-p P] [--seed S] [--threads N] [--kernels SET] [--ctx N] [--batch N] [--stop TEXT]",
    "Generate text with a local GGUF model and stream it to stdout.", run_generate};

const cli_cmd cli_cmd_logits = {
    "ai logits", "--model PATH --tokens \"ID ID ...\" --out FILE [--threads N] [--kernels SET] [--batch N] [--reference]",
    "Write the logits of every position of a token sequence (the fixtures' .logits layout).",
    run_logits};
