/* OpenAI-compatible chat completions: request body, answers, stream chunks. */
#include "net/ai_internal.h"

#include <stdio.h>
#include <string.h>

static void build(const net_chat_req *req, net_jw *w)
{
    net_jw_obj_begin(w);
    net_jw_key(w, "model");
    net_jw_str(w, req->model);
    net_ai_write_messages(w, req, false);
    if (req->max_tokens > 0) {
        net_jw_key(w, "max_tokens");
        net_jw_int(w, req->max_tokens);
    }
    net_ai_write_options(w, req);
    if (req->stream) {
        /* Ask for a last chunk carrying the token usage. */
        net_jw_key(w, "stream_options");
        net_jw_obj_begin(w);
        net_jw_key(w, "include_usage");
        net_jw_bool(w, true);
        net_jw_obj_end(w);
    }
    net_jw_obj_end(w);
}

static void auth(const net_chat_req *req, char *key_line, size_t n, const char **extra)
{
    if (req->api_key && *req->api_key)
        snprintf(key_line, n, "Authorization: Bearer %s", req->api_key);
    extra[0] = NULL;
}

static void error_info(const net_json *root, char *type, size_t tn, char *msg, size_t mn)
{
    const net_json *e = net_json_get(root, "error");
    /* Some compatible servers put a plain string in "error". */
    if (net_json_str(e, NULL)) {
        snprintf(msg, mn, "%s", net_json_str(e, NULL));
        return;
    }
    net_ai_copy(e, "message", msg, mn);
    net_ai_copy(e, "code", type, tn);
    if (!*type)
        net_ai_copy(e, "type", type, tn);
}

static void finish(ai_call *call, const net_json *choice)
{
    net_ai_copy(choice, "finish_reason", call->res->finish_reason, sizeof call->res->finish_reason);
}

static int parse_full(ai_call *call, const net_json *root)
{
    net_ai_copy(root, "id", call->res->id, sizeof call->res->id);
    net_ai_copy(root, "model", call->res->model, sizeof call->res->model);
    net_ai_usage(net_json_get(root, "usage"), "prompt_tokens", "completion_tokens", call->res);
    const net_json *choice = net_json_path(root, "/choices/0");
    if (!choice)
        return net_ai_fail(call, NET_AI_PROTOCOL, "answer has no choices");
    finish(call, choice);
    size_t n;
    const char *text = net_json_str(net_json_path(choice, "/message/content"), &n);
    if (text)
        return net_ai_text(call, text, n);
    const char *refusal = net_json_str(net_json_path(choice, "/message/refusal"), NULL);
    if (refusal)
        return net_ai_fail(call, NET_AI_CONTENT_FILTERED, "refused: %.200s", refusal);
    return NET_OK;
}

static int on_event(ai_call *call, const net_sse_event *ev, const net_json *root)
{
    if (!root) {
        if (strcmp(ev->data, "[DONE]") == 0) {
            call->done = true;
            return NET_OK;
        }
        return net_ai_fail(call, NET_AI_PROTOCOL, "stream event is not JSON: %.60s", ev->data);
    }
    if (net_json_get(root, "error")) {
        char type[64] = "", msg[200] = "";
        error_info(root, type, sizeof type, msg, sizeof msg);
        net_ai_error k = net_ai_kind_for_type(type);
        return net_ai_fail(call, k ? k : NET_AI_PROTOCOL, "error in the stream: %s", msg);
    }
    if (!call->res->id[0])
        net_ai_copy(root, "id", call->res->id, sizeof call->res->id);
    if (!call->res->model[0])
        net_ai_copy(root, "model", call->res->model, sizeof call->res->model);
    const net_json *usage = net_json_get(root, "usage");
    if (net_json_typeof(usage) == NET_JSON_OBJECT)
        net_ai_usage(usage, "prompt_tokens", "completion_tokens", call->res);
    const net_json *choice = net_json_path(root, "/choices/0");
    if (!choice)
        return NET_OK;
    if (net_json_str(net_json_get(choice, "finish_reason"), NULL))
        finish(call, choice);
    size_t n;
    const char *text = net_json_str(net_json_path(choice, "/delta/content"), &n);
    return text && n ? net_ai_text(call, text, n) : NET_OK;
}

const ai_provider net_ai_openai = {"openai", "https://api.openai.com/v1", "/chat/completions",
                                   build, auth, parse_full, on_event, error_info};
