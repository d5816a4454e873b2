/* libFuzzer: any bytes as ai-config.yaml, then as a rule condition; a
 * config that loads is also used for a routing decision. */
#include "router/internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    route_config *cfg = NULL;
    if (route_config_load_mem((const char *)data, size, "fuzz.yaml", &cfg, err, sizeof err) == ROUTE_OK) {
        route_request rq = {.prompt = "write a function, then explain why step by step? password: hunter22"};
        route_decision d;
        route_decide(cfg, &rq, NULL, &d, err, sizeof err);
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
