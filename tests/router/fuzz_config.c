/* libFuzzer: any bytes as ai-config.yaml, then as a rule condition; a
 * config that loads also routes and runs a few requests. */
#include "router/internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A backend that answers with low confidence every other call. */
static int answer(void *user, const route_call *call, route_reply *reply, char *err, size_t errlen)
{
    reply->text = strdup(call->prompt);
    reply->in_tokens = strlen(call->prompt);
    reply->out_tokens = 3;
    reply->confidence = call->target == ROUTE_TO_EMBEDDED ? 0.5 : -1;
    return reply->text == NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    route_config *cfg = NULL;
    if (route_config_load_mem((const char *)data, size, "fuzz.yaml", &cfg, err, sizeof err) == ROUTE_OK) {
        static const char *const prompts[] = {"hi", "write a function, then explain why step by step? password: hunter22",
                                              "Prove step by step, analyze and compare the designs of this context"};
        route_state st = {.spent_today = 5, .embedded_ms = 4000, .external_ms = 100, .embedded_accuracy = 0.5};
        for (size_t i = 0; i < 3; i++) {
            route_request rq = {.prompt = prompts[i], .context_tokens = i * 1500};
            route_decision d;
            if (route_decide(cfg, &rq, i ? &st : NULL, &d, err, sizeof err) == ROUTE_OK) {
                route_backends b = {answer, i == 1 ? NULL : answer, NULL};
                route_runtime rt = {0};
                route_result res;
                route_execute(cfg, &rq, &d, &b, &rt, &res, err, sizeof err);
                route_result_free(&res);
            }
        }
        route_config_free(cfg);
    }
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    route_expr *e = NULL;
    size_t col;
    if (route_expr_compile(text, &e, &col, err, sizeof err) == ROUTE_OK) {
        route_facts f = {text, 100, 0, 0.5, false};
        route_expr_eval(e, &f);
        route_expr_free(e);
    }
    route_action a;
    if (route_action_parse(text, &a, &col, err, sizeof err) == ROUTE_OK) route_action_free(&a);
    char what[128];
    route_privacy_scan(NULL, text, what, sizeof what);
    free(text);
    return 0;
}
