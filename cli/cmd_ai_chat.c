/* `rhema ai chat`: one prompt to a remote chat API (OpenAI-compatible or
 * Anthropic), the answer on stdout, usage and latency on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "net/net.h"

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Streaming: the answer as it comes; *user gets the time of the first piece. */
static int print_delta(void *user, const char *text, size_t len)
{
    double *first = user;
    if (*first == 0)
        *first = now_ms();
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

static int run_chat(const cli_cmd *cmd, int argc, char **argv)
{
    const char *provider = "openai", *model = NULL, *base_url = NULL, *ca_file = NULL, *system = NULL;
    bool stream = false;
    long max_tokens = 0, timeout_s = 120;
    char *pos[1];
    int npos = 0;
    const cli_opt opts[] = {
        {"provider", 0, CLI_STR, &provider, "NAME  openai (or any OpenAI-compatible server) or anthropic"},
        {"model", 'm', CLI_STR, &model, "NAME  the provider's model name"},
        {"base-url", 0, CLI_STR, &base_url, "URL  API base (default https://api.openai.com/v1 or "
                                            "https://api.anthropic.com)"},
        {"ca-file", 0, CLI_STR, &ca_file, "PEM  trusted CA certificates (default the system bundle)"},
        {"stream", 0, CLI_FLAG, &stream, "print the answer as it is generated"},
        {"max-tokens", 0, CLI_INT, &max_tokens, "N  longest answer in tokens (default: the provider's; "
                                                "anthropic 1024)"},
        {"system", 0, CLI_STR, &system, "TEXT  a system message"},
        {"timeout", 0, CLI_INT, &timeout_s, "S  seconds to wait for data (default 120)"},
    };
    int rc = cli_parse(cmd, argc, argv, opts, sizeof opts / sizeof opts[0], pos, 1, &npos);
    if (rc)
        return rc;
    net_chat_req req;
    net_chat_req_init(&req);
    if (net_provider_parse(provider, &req.provider) != NET_OK)
        return cli_usage_error(cmd, "--provider must be openai or anthropic, not \"%s\"", provider);
    if (!model)
        return cli_usage_error(cmd, "--model NAME is required");
    if (npos != 1)
        return cli_usage_error(cmd, "give the PROMPT");
    if (max_tokens < 0 || max_tokens > 1000000)
        return cli_usage_error(cmd, "--max-tokens must be between 1 and 1000000 (0: the provider's default)");
    if (timeout_s < 1 || timeout_s > 3600)
        return cli_usage_error(cmd, "--timeout must be between 1 and 3600 seconds");
    const char *key_var = req.provider == NET_PROVIDER_ANTHROPIC ? "ANTHROPIC_API_KEY" : "OPENAI_API_KEY";
    const char *key = getenv(key_var);
    /* A custom base URL may be a local server that needs no key. */
    if ((!key || !*key) && !base_url) {
        fprintf(stderr, "rhema: ai chat: set %s (or give --base-url for a server without keys)\n", key_var);
        return CLI_EXIT_FAIL;
    }
    net_chat_msg msgs[2];
    size_t n = 0;
    if (system)
        msgs[n++] = (net_chat_msg){"system", system};
    msgs[n++] = (net_chat_msg){"user", pos[0]};
    req.base_url = base_url;
    req.api_key = key;
    req.model = model;
    req.messages = msgs;
    req.n_messages = n;
    req.max_tokens = (int)max_tokens;
    req.stream = stream;
    req.on_delta = stream ? print_delta : NULL;
    double first_ms = 0;
    req.user = &first_ms;

    net_client_opts co = {.ca_file = ca_file, .io_timeout_ms = (int)timeout_s * 1000};
    net_client *c;
    char err[768];
    if (net_client_new(&co, &c, err, sizeof err) != NET_OK) {
        fprintf(stderr, "rhema: ai chat: %s\n", err);
        return CLI_EXIT_FAIL;
    }
    net_chat_result res;
    double t0 = now_ms();
    rc = net_chat(c, &req, &res, err, sizeof err);
    double total_ms = now_ms() - t0;
    if (rc == NET_OK && !stream)
        fwrite(res.text, 1, res.text_len, stdout);
    if (rc == NET_OK || (stream && res.text_len))
        putchar('\n');
    if (rc == NET_OK) {
        char first[48] = "";
        if (first_ms > 0)
            snprintf(first, sizeof first, ", first text after %.0f ms", first_ms - t0);
        fprintf(stderr, "[%s: %lld input + %lld output tokens, finish %s, %.0f ms%s]\n",
                res.model[0] ? res.model : model, (long long)res.input_tokens, (long long)res.output_tokens,
                res.finish_reason[0] ? res.finish_reason : "?", total_ms, first);
    } else {
        fprintf(stderr, "rhema: ai chat: %s\n", err);
    }
    net_chat_result_free(&res);
    net_client_free(c);
    return rc == NET_OK ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

const cli_cmd cli_cmd_ai_chat = {
    "ai chat",
    "--provider openai|anthropic --model NAME [--base-url URL] [--ca-file PEM] [--stream] [--max-tokens N] "
    "[--system TEXT] [--timeout S] PROMPT",
    "send one prompt to a remote chat API and print the answer",
    run_chat,
};
