/* The real backends behind route_execute: the local engine for embedded
 * calls and the net providers for external ones. The router stays free of
 * both; only the CLI ties them together. */
#include "cli/ai_backends.h"
#include "cli/cli.h"

#include "engine/engine.h"
#include "kernels/kernels.h"
#include "tokenizer/tokenizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum { DEFAULT_MAX_OUTPUT = 256 };

typedef struct text_sink {
    net_buf buf;
    int failed;
} text_sink;

static int collect(void *ud, int32_t token, const char *text, size_t len)
{
    text_sink *s = ud;
    if (len && net_buf_append(&s->buf, text, len) != NET_OK) s->failed = 1;
    return s->failed;
}

/* The user message rendered with the model's chat template, as tokens. */
static int chat_tokens(const eng_model *m, const tok_vocab *v, const char *prompt, eng_chat_tmpl *tmpl, int32_t **ids,
                       size_t *n, char *err, size_t errlen)
{
    char *text = NULL;
    eng_chat_msg msg = {"user", prompt};
    if (eng_chat_template_detect(eng_model_file(m), tmpl, err, errlen) != ENG_OK ||
        eng_chat_render(*tmpl, &msg, 1, true, &text, err, errlen) != ENG_OK)
        return 1;
    int rc = tok_encode(v, text, strlen(text), true, true, ids, n, err, errlen) != TOK_OK;
    free(text);
    return rc;
}

static int run_engine(const route_call *call, const cli_ai_backend_state *st, route_reply *reply, char *err,
                      size_t errlen)
{
    eng_model *m = st->model;
    tok_vocab *v = NULL;
    eng_ctx *c = NULL;
    eng_sampler *s = NULL;
    int32_t *ids = NULL;
    size_t n = 0, n_out = 0;
    eng_chat_tmpl tmpl = ENG_CHAT_CHATML;
    eng_gen_stats stats = {0};
    text_sink sink = {0};
    net_buf_init(&sink.buf);
    eng_ctx_params cp = eng_ctx_default_params();
    cp.n_ctx = (uint32_t)call->model_cfg->max_context_length;
    cp.n_threads = st->n_threads ? st->n_threads : kern_physical_cores();
    cp.cpu = st->cpu;
    eng_sampler_params sp = eng_sampler_default_params();
    sp.seed = (uint64_t)time(NULL);
    int rc = tok_vocab_load(&v, eng_model_file(m), err, errlen) != TOK_OK ||
             eng_ctx_new(&c, m, &cp, err, errlen) != ENG_OK ||
             eng_sampler_new(&s, &sp, eng_model_hparams(m)->n_vocab, err, errlen) != ENG_OK ||
             chat_tokens(m, v, call->prompt, &tmpl, &ids, &n, err, errlen);
    if (!rc) {
        const char *stops[1] = {eng_chat_end_of_turn(tmpl)};
        long max = call->max_output_tokens > 0 ? call->max_output_tokens : DEFAULT_MAX_OUTPUT;
        eng_gen_params gp = {(uint32_t)max, stops, stops[0] ? 1 : 0, true, &stats};
        rc = eng_generate(c, s, v, ids, n, &gp, collect, &sink, &n_out, err, errlen) != ENG_OK || sink.failed;
    }
    if (!rc) {
        reply->text = strndup(sink.buf.data ? sink.buf.data : "", sink.buf.len);
        reply->in_tokens = n;
        reply->out_tokens = n_out;
        /* What the router judges a draft by: the model's own certainty
         * (temperature 1, whatever the sampler did) and whether the answer
         * was cut off rather than ended. */
        reply->has_logprob = stats.n_tokens > 0 && isfinite(stats.sum_logprob);
        reply->mean_logprob = reply->has_logprob ? stats.sum_logprob / (double)stats.n_tokens : 0.0;
        reply->truncated = stats.stop == ENG_STOP_MAX_TOKENS || stats.stop == ENG_STOP_CONTEXT;
        rc = !reply->text;
    }
    net_buf_free(&sink.buf);
    free(ids);
    eng_sampler_free(s);
    eng_ctx_free(c);
    tok_vocab_free(v);
    return rc;
}

/* The file of an embedded model: its model_path in the config, else
 * $RHEMA_MODEL, else the store's installed model of that name (the
 * catalogue's default for the built-in "default"). */
static int model_file(const route_model *mc, char *out, size_t n, char *err, size_t errlen)
{
    const char *env = getenv("RHEMA_MODEL");
    route_store *s;
    char name[256];
    if (mc->model_path[0] || (env && *env)) {
        snprintf(out, n, "%s", mc->model_path[0] ? mc->model_path : env);
        return 0;
    }
    snprintf(name, sizeof name, "%s", mc->name);
    if (!strcmp(mc->name, "default")) {
        if (route_store_open(NULL, &s, err, errlen))
            return 1;
        snprintf(name, sizeof name, "%s", route_catalog_default(route_store_catalog(s)));
        route_store_close(s);
    }
    if (!cli_model_file(name, out, n, err, errlen))
        return 0;
    snprintf(err, errlen,
             "no file for embedded model '%s': install it (rhema ai models install --model %s), "
             "set RHEMA_MODEL=/path/to/model.gguf, or set ai_service.embedded.model_path",
             name, name);
    return 1;
}

static double mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* What the ledger keeps of a local call: the load it needed (0: the model
 * was open already), the process's peak resident memory after it, the
 * mapped model file and the KV cache run_engine allocated for it. */
static void measure(const route_call *call, const eng_model *m, double load_ms, route_reply *reply)
{
    const eng_hparams *hp = eng_model_hparams(m);
    uint64_t el = eng_ctx_default_params().kv_type == ENG_KV_F16 ? 2 : 4;
    struct rusage ru;
    reply->load_ms = load_ms;
    reply->model_bytes = eng_model_file(m)->size;
    reply->kv_bytes = 2 * (uint64_t)hp->n_layer * (uint64_t)call->model_cfg->max_context_length * hp->n_head_kv * hp->head_dim * el;
    if (getrusage(RUSAGE_SELF, &ru) == 0 && ru.ru_maxrss > 0) reply->peak_rss = (uint64_t)ru.ru_maxrss * 1024;
}

static int embedded_call(void *user, const route_call *call, route_reply *reply, char *err, size_t errlen)
{
    cli_ai_backend_state *st = user;
    char path[sizeof st->model_path];
    double load_ms = 0;
    if (model_file(call->model_cfg, path, sizeof path, err, errlen))
        return 1;
    /* Keep the model open for a second call in the same run (hybrid, fallback). */
    if (!st->model || strcmp(st->model_path, path)) {
        eng_model_free(st->model);
        st->model = NULL;
        double t0 = mono_ms();
        if (eng_model_open(&st->model, path, err, errlen) != ENG_OK) return 1;
        load_ms = mono_ms() - t0;
        if (load_ms < 0.1) load_ms = 0.1; /* a load, however fast, is not "already open" */
        snprintf(st->model_path, sizeof st->model_path, "%s", path);
    }
    int rc = run_engine(call, st, reply, err, errlen);
    if (!rc) measure(call, st->model, load_ms, reply);
    return rc;
}

static int external_call(void *user, const route_call *call, route_reply *reply, char *err, size_t errlen)
{
    cli_ai_backend_state *st = user;
    const route_provider *p = call->provider_cfg;
    net_chat_req req;
    net_chat_req_init(&req);
    /* Providers other than the two built in speak the OpenAI protocol. */
    if (net_provider_parse(p->name, &req.provider) != NET_OK) req.provider = NET_PROVIDER_OPENAI;
    char base[2048];
    size_t blen = strlen(p->base_url);
    bool bare_openai = req.provider == NET_PROVIDER_OPENAI && strstr(p->base_url, "api.openai.com") &&
                       (blen < 3 || strcmp(p->base_url + blen - 3, "/v1"));
    snprintf(base, sizeof base, "%s%s", p->base_url, bare_openai ? "/v1" : "");
    net_chat_msg msg = {"user", call->prompt};
    req.base_url = base;
    req.api_key = p->api_key;
    req.model = call->model;
    req.messages = &msg;
    req.n_messages = 1;
    req.max_tokens = call->max_output_tokens > 0 ? (int)call->max_output_tokens : 0;
    const char *ca = p->ca_file ? p->ca_file : "";
    if (st->client && (strcmp(st->client_ca, ca) || st->client_timeout_s != p->timeout_seconds)) {
        net_client_free(st->client);
        st->client = NULL;
    }
    net_client_opts co = {.ca_file = *ca ? ca : NULL, .io_timeout_ms = (int)p->timeout_seconds * 1000};
    if (!st->client) {
        if (net_client_new(&co, &st->client, err, errlen) != NET_OK) return 1;
        snprintf(st->client_ca, sizeof st->client_ca, "%s", ca);
        st->client_timeout_s = p->timeout_seconds;
    }
    net_chat_result res;
    int rc = net_chat(st->client, &req, &res, err, errlen);
    if (rc == NET_OK) {
        reply->text = res.text;
        res.text = NULL;
        reply->in_tokens = res.input_tokens > 0 ? (uint64_t)res.input_tokens : 0;
        reply->out_tokens = res.output_tokens > 0 ? (uint64_t)res.output_tokens : 0;
    } else {
        /* The router retries these with backoff, honouring Retry-After. */
        reply->transient = res.kind == NET_AI_RATE_LIMITED || res.kind == NET_AI_OVERLOADED || res.kind == NET_AI_TIMEOUT;
        reply->retry_after_ms = res.retry_after_s > 0 ? (long)res.retry_after_s * 1000 : 0;
    }
    net_chat_result_free(&res);
    return rc != NET_OK;
}

void cli_ai_backends_init(route_backends *b, cli_ai_backend_state *st)
{
    memset(st, 0, sizeof *st);
    *b = (route_backends){embedded_call, external_call, st};
}

void cli_ai_backends_free(cli_ai_backend_state *st)
{
    eng_model_free(st->model);
    net_client_free(st->client);
    memset(st, 0, sizeof *st);
}
