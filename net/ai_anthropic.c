/* Anthropic Messages API: request body, answers, stream events. */
#include "net/ai_internal.h"

#include <stdio.h>
#include <string.h>

#define DEFAULT_MAX_TOKENS 1024

static void build(const net_chat_req *req, net_jw *w)
{
    net_jw_obj_begin(w);
    net_jw_key(w, "model");
    net_jw_str(w, req->model);
    net_jw_key(w, "max_tokens");
    net_jw_int(w, req->max_tokens > 0 ? req->max_tokens : DEFAULT_MAX_TOKENS);
    /* System prompts go in a top-level field, not in the messages. */
    bool sys = false;
    for (size_t i = 0; i < req->n_messages; i++) {
        if (strcmp(req->messages[i].role, "system") != 0)
            continue;
        if (!sys) {
            net_jw_key(w, "system");
            net_jw_arr_begin(w);
            sys = true;
        }
        net_jw_obj_begin(w);
        net_jw_key(w, "type");
        net_jw_str(w, "text");
        net_jw_key(w, "text");
        net_jw_str(w, req->messages[i].content);
        net_jw_obj_end(w);
    }
    if (sys)
        net_jw_arr_end(w);
    net_ai_write_messages(w, req, true);
    net_ai_write_options(w, req);
    net_jw_obj_end(w);
}

static void auth(const net_chat_req *req, char *key_line, size_t n, const char **extra)
{
    if (req->api_key && *req->api_key)
        snprintf(key_line, n, "x-api-key: %s", req->api_key);
    extra[0] = "anthropic-version: 2023-06-01";
    extra[1] = NULL;
}

static void error_info(const net_json *root, char *type, size_t tn, char *msg, size_t mn)
{
    const net_json *e = net_json_get(root, "error");
    net_ai_copy(e, "type", type, tn);
    net_ai_copy(e, "message", msg, mn);
}

/* "refusal" means the model declined on safety grounds. */
static int stop_reason(ai_call *call, const net_json *holder)
{
    net_ai_copy(holder, "stop_reason", call->res->finish_reason, sizeof call->res->finish_reason);
    if (strcmp(call->res->finish_reason, "refusal") == 0)
        return net_ai_fail(call, NET_AI_CONTENT_FILTERED, "the model refused (stop_reason refusal)");
    return NET_OK;
}

static int parse_full(ai_call *call, const net_json *root)
{
    net_ai_copy(root, "id", call->res->id, sizeof call->res->id);
    net_ai_copy(root, "model", call->res->model, sizeof call->res->model);
    net_ai_usage(net_json_get(root, "usage"), "input_tokens", "output_tokens", call->res);
    const net_json *content = net_json_get(root, "content");
    if (net_json_typeof(content) != NET_JSON_ARRAY)
        return net_ai_fail(call, NET_AI_PROTOCOL, "answer has no content array");
    for (const net_json *b = net_json_first(content); b; b = net_json_next(b)) {
        size_t n;
        const char *t = net_json_str(net_json_get(b, "text"), &n);
        if (t && strcmp(net_json_get_str(b, "type", ""), "text") == 0 && net_ai_text(call, t, n) < 0)
            return NET_E_API;
    }
    return stop_reason(call, root);
}

static int on_event(ai_call *call, const net_sse_event *ev, const net_json *root)
{
    if (!root)
        return net_ai_fail(call, NET_AI_PROTOCOL, "stream event is not JSON: %.60s", ev->data);
    const char *type = net_json_get_str(root, "type", ev->event);
    if (strcmp(type, "message_start") == 0) {
        const net_json *m = net_json_get(root, "message");
        net_ai_copy(m, "id", call->res->id, sizeof call->res->id);
        net_ai_copy(m, "model", call->res->model, sizeof call->res->model);
        net_ai_usage(net_json_get(m, "usage"), "input_tokens", "output_tokens", call->res);
    } else if (strcmp(type, "content_block_delta") == 0) {
        const net_json *d = net_json_get(root, "delta");
        size_t n;
        const char *t = net_json_str(net_json_get(d, "text"), &n);
        if (t && strcmp(net_json_get_str(d, "type", ""), "text_delta") == 0)
            return net_ai_text(call, t, n);
    } else if (strcmp(type, "message_delta") == 0) {
        net_ai_usage(net_json_get(root, "usage"), "input_tokens", "output_tokens", call->res);
        return stop_reason(call, net_json_get(root, "delta"));
    } else if (strcmp(type, "message_stop") == 0) {
        call->done = true;
    } else if (strcmp(type, "error") == 0) {
        char et[64] = "", msg[200] = "";
        error_info(root, et, sizeof et, msg, sizeof msg);
        net_ai_error k = net_ai_kind_for_type(et);
        return net_ai_fail(call, k ? k : NET_AI_PROTOCOL, "error in the stream (%s): %s", et, msg);
    }
    return NET_OK;
}

const ai_provider net_ai_anthropic = {"anthropic", "https://api.anthropic.com", "/v1/messages",
                                      build, auth, parse_full, on_event, error_info};
