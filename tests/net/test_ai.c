/* OpenAI and Anthropic chat calls against canned answers from a local
 * scripted server: bodies sent, answers and streams parsed, usage, and
 * every failure kind (the API key never shows in messages). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/net.h"
#include "tests/net/testserver.h"

#define KEY "sk-test-0123456789abcdef"

static ts_server srv;

static const struct canned {
    const char *prefix;
    const char *answer;
} canned[] = {
    {"/oa-ok/", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n"
     "{\"id\":\"chatcmpl-1\",\"model\":\"gpt-test\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
     "\"content\":\"Hi \\u00e9!\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":12,"
     "\"completion_tokens\":3,\"total_tokens\":15}}"},
    {"/oa-stream/", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
     "data: {\"id\":\"c2\",\"model\":\"gpt-test\",\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
     "data: {\"id\":\"c2\",\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"
     ": keep-alive\n\n"
     "data: {\"id\":\"c2\",\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":null}]}\r\n\r\n"
     "data: {\"id\":\"c2\",\"choices\":[{\"delta\":{},\"finish_reason\":\"length\"}]}\n\n"
     "data: {\"id\":\"c2\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\n"
     "data: [DONE]\n\n"},
    {"/oa-cut/", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
     "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"},
    {"/oa-401/", "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n"
     "{\"error\":{\"message\":\"Incorrect API key provided: " KEY ". You can find your API key at "
     "https://platform.openai.com.\",\"type\":\"invalid_request_error\",\"code\":\"invalid_api_key\"}}"},
    {"/oa-429/", "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: %zu\r\n\r\n"
     "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}"},
    {"/oa-503/", "HTTP/1.1 503 Service Unavailable\r\nContent-Length: %zu\r\n\r\nupstream overloaded"},
    {"/oa-400/", "HTTP/1.1 400 Bad Request\r\nContent-Length: %zu\r\n\r\n"
     "{\"error\":{\"message\":\"Your request was rejected by our safety system\",\"type\":\"invalid_request_error\","
     "\"code\":\"content_policy_violation\"}}"},
    {"/oa-404/", "HTTP/1.1 404 Not Found\r\nContent-Length: %zu\r\n\r\n"
     "{\"error\":{\"message\":\"The model `nope` does not exist\",\"type\":\"invalid_request_error\","
     "\"code\":\"model_not_found\"}}"},
    {"/oa-filter/", "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n"
     "{\"choices\":[{\"message\":{\"content\":\"partial\"},\"finish_reason\":\"content_filter\"}]}"},
    {"/oa-filter-stream/", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
     "data: {\"choices\":[{\"delta\":{\"content\":\"par\"}}]}\n\n"
     "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"content_filter\"}]}\n\ndata: [DONE]\n\n"},
    {"/oa-junk/", "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n{\"choices\":[}"},
    {"/an-ok/", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n"
     "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-test\",\"content\":["
     "{\"type\":\"text\",\"text\":\"Hello\"},{\"type\":\"text\",\"text\":\" there\"}],\"stop_reason\":\"end_turn\","
     "\"usage\":{\"input_tokens\":20,\"output_tokens\":4}}"},
    {"/an-stream/", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
     "Transfer-Encoding: chunked\r\n\r\n"
     "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_2\",\"model\":"
     "\"claude-test\",\"content\":[],\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n"
     "event: ping\ndata: {\"type\": \"ping\"}\n\n"
     "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
     "\"delta\":{\"type\":\"text_delta\",\"text\":\"Bon\"}}\n\n"
     "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
     "\"delta\":{\"type\":\"text_delta\",\"text\":\"jour\"}}\n\n"
     "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},"
     "\"usage\":{\"output_tokens\":9}}\n\n"
     "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"},
    {"/an-529/", "HTTP/1.1 529 Overloaded\r\nContent-Length: %zu\r\n\r\n"
     "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}"},
    {"/an-midstream/", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
     "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\","
     "\"text\":\"Hi\"}}\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
     "\"message\":\"Overloaded\"}}\n\n"},
    {"/an-refusal/", "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n"
     "{\"content\":[],\"stop_reason\":\"refusal\",\"usage\":{\"input_tokens\":3,\"output_tokens\":0}}"},
    {"/an-403/", "HTTP/1.1 403 Forbidden\r\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\nContent-Length: %zu\r\n\r\n"
     "{\"type\":\"error\",\"error\":{\"type\":\"permission_error\",\"message\":\"no access\"}}"},
};

static bool reply(int fd, const char *head, const char *path, const char *body, void *user)
{
    if (!strncmp(path, "/slow/", 6)) {
        poll(NULL, 0, 1500);
        return false;
    }
    for (size_t i = 0; i < sizeof canned / sizeof canned[0]; i++) {
        if (strncmp(path, canned[i].prefix, strlen(canned[i].prefix)) != 0)
            continue;
        const char *a = canned[i].answer, *cl = strstr(a, "%zu"), *body0 = strstr(a, "\r\n\r\n") + 4;
        char out[8192];
        int n = cl ? snprintf(out, sizeof out, a, strlen(body0)) : snprintf(out, sizeof out, "%s", a);
        if (strstr(a, "Transfer-Encoding: chunked")) {
            /* One chunk per event. */
            n = (int)(body0 - a);
            memcpy(out, a, (size_t)n);
            for (const char *e = body0; *e;) {
                const char *end = strstr(e, "\n\n");
                size_t len = end ? (size_t)(end + 2 - e) : strlen(e);
                n += snprintf(out + n, sizeof out - (size_t)n, "%zx\r\n%.*s\r\n", len, (int)len, e);
                e += len;
            }
            n += snprintf(out + n, sizeof out - (size_t)n, "0\r\n\r\n");
        }
        ts_write(fd, out, (size_t)n);
        return strstr(a, "Connection: close") == NULL;
    }
    ts_write(fd, "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n", 41);
    return true;
}

static int setup(void **state)
{
    return ts_start(&srv, reply, NULL);
}

static int teardown(void **state)
{
    ts_stop(&srv);
    return 0;
}

typedef struct outcome {
    int rc;
    net_chat_result res;
    char err[512];
    char deltas[256];
} outcome;

static int collect(void *user, const char *text, size_t len)
{
    char *d = user;
    size_t n = strlen(d);
    snprintf(d + n, 256 - n, "%.*s|", (int)len, text);
    return 0;
}

static void chat(net_provider p, const char *scenario, bool stream, outcome *o)
{
    net_client_opts opts = {.io_timeout_ms = 300, .no_env_proxy = true};
    net_client *c;
    assert_int_equal(net_client_new(&opts, &c, NULL, 0), NET_OK);
    char base[200];
    snprintf(base, sizeof base, "http://127.0.0.1:%d/%s/", srv.port, scenario);
    const net_chat_msg msgs[] = {{"system", "Be brief."}, {"user", "Say \"hi\"\n"}};
    net_chat_req req;
    net_chat_req_init(&req);
    req.provider = p;
    req.base_url = base;
    req.api_key = KEY;
    req.model = "test-model";
    req.messages = msgs;
    req.n_messages = 2;
    req.max_tokens = 64;
    req.stream = stream;
    memset(o, 0, sizeof *o);
    if (stream) {
        req.on_delta = collect;
        req.user = o->deltas;
    }
    o->rc = net_chat(c, &req, &o->res, o->err, sizeof o->err);
    assert_null(strstr(o->err, KEY));
    assert_null(strstr(o->err, "0123456789abcdef"));
    net_client_free(c);
}

static void expect_fail(net_provider p, const char *scenario, bool stream, net_ai_error kind, const char *msg)
{
    outcome o;
    chat(p, scenario, stream, &o);
    if (o.rc == NET_OK || o.res.kind != kind || !strstr(o.err, msg))
        fail_msg("%s: rc %d kind %s err \"%s\"; want %s \"%s\"", scenario, o.rc, net_ai_error_name(o.res.kind), o.err,
                 net_ai_error_name(kind), msg);
    net_chat_result_free(&o.res);
}

static void expect_answer(const outcome *o, const char *text, const char *finish, int64_t in, int64_t out)
{
    if (o->rc != NET_OK)
        fail_msg("%s", o->err);
    assert_string_equal(o->res.text, text);
    assert_string_equal(o->res.finish_reason, finish);
    assert_int_equal(o->res.input_tokens, in);
    assert_int_equal(o->res.output_tokens, out);
}

static void test_openai(void **state)
{
    outcome o;
    chat(NET_PROVIDER_OPENAI, "oa-ok", false, &o);
    expect_answer(&o, "Hi \xC3\xA9!", "stop", 12, 3);
    assert_string_equal(o.res.model, "gpt-test");
    assert_string_equal(o.res.id, "chatcmpl-1");
    net_chat_result_free(&o.res);
    char last[8192];
    ts_last_request(&srv, last, sizeof last);
    assert_non_null(strstr(last, "POST /oa-ok/chat/completions HTTP/1.1\r\n"));
    assert_non_null(strstr(last, "Authorization: Bearer " KEY "\r\n"));
    assert_non_null(strstr(last, "\r\n\r\n{\"model\":\"test-model\",\"messages\":[{\"role\":\"system\",\"content\":"
                                 "\"Be brief.\"},{\"role\":\"user\",\"content\":\"Say \\\"hi\\\"\\n\"}],"
                                 "\"max_tokens\":64}"));

    chat(NET_PROVIDER_OPENAI, "oa-stream", true, &o);
    expect_answer(&o, "Hello", "length", 5, 2);
    assert_string_equal(o.deltas, "Hel|lo|");
    net_chat_result_free(&o.res);
    ts_last_request(&srv, last, sizeof last);
    assert_non_null(strstr(last, "\"stream\":true,\"stream_options\":{\"include_usage\":true}"));

    expect_fail(NET_PROVIDER_OPENAI, "oa-cut", true, NET_AI_PROTOCOL, "stream ended before the answer was complete");
    expect_fail(NET_PROVIDER_OPENAI, "oa-401", false, NET_AI_AUTH,
                "openai: auth (HTTP 401): Incorrect API key provided: [redacted]. You can find");
    expect_fail(NET_PROVIDER_OPENAI, "oa-429", true, NET_AI_RATE_LIMITED,
                "rate-limited (HTTP 429, retry after 7 s): Rate limit reached");
    chat(NET_PROVIDER_OPENAI, "oa-429", false, &o);
    assert_int_equal(o.res.retry_after_s, 7);
    assert_int_equal(o.res.http_status, 429);
    net_chat_result_free(&o.res);
    expect_fail(NET_PROVIDER_OPENAI, "oa-503", false, NET_AI_OVERLOADED, "overloaded (HTTP 503): upstream overloaded");
    expect_fail(NET_PROVIDER_OPENAI, "oa-400", false, NET_AI_CONTENT_FILTERED, "rejected by our safety system");
    expect_fail(NET_PROVIDER_OPENAI, "oa-404", false, NET_AI_BAD_REQUEST, "bad-request (HTTP 404): The model `nope`");
    expect_fail(NET_PROVIDER_OPENAI, "oa-filter", false, NET_AI_CONTENT_FILTERED, "content filter");
    expect_fail(NET_PROVIDER_OPENAI, "oa-filter-stream", true, NET_AI_CONTENT_FILTERED, "content filter");
    expect_fail(NET_PROVIDER_OPENAI, "oa-junk", false, NET_AI_PROTOCOL, "answer is not valid JSON: JSON line 1");
    expect_fail(NET_PROVIDER_OPENAI, "slow", false, NET_AI_TIMEOUT, "timed out after 300 ms");
}

static void test_anthropic(void **state)
{
    outcome o;
    chat(NET_PROVIDER_ANTHROPIC, "an-ok", false, &o);
    expect_answer(&o, "Hello there", "end_turn", 20, 4);
    net_chat_result_free(&o.res);
    char last[8192];
    ts_last_request(&srv, last, sizeof last);
    assert_non_null(strstr(last, "POST /an-ok/v1/messages HTTP/1.1\r\n"));
    assert_non_null(strstr(last, "x-api-key: " KEY "\r\n"));
    assert_non_null(strstr(last, "anthropic-version: 2023-06-01\r\n"));
    assert_non_null(strstr(last, "{\"model\":\"test-model\",\"max_tokens\":64,\"system\":[{\"type\":\"text\",\"text\":"
                                 "\"Be brief.\"}],\"messages\":[{\"role\":\"user\",\"content\":\"Say \\\"hi\\\"\\n\"}]}"));

    chat(NET_PROVIDER_ANTHROPIC, "an-stream", true, &o);
    expect_answer(&o, "Bonjour", "max_tokens", 25, 9);
    assert_string_equal(o.deltas, "Bon|jour|");
    assert_string_equal(o.res.model, "claude-test");
    net_chat_result_free(&o.res);

    expect_fail(NET_PROVIDER_ANTHROPIC, "an-529", false, NET_AI_OVERLOADED, "anthropic: overloaded (HTTP 529): Overloaded");
    expect_fail(NET_PROVIDER_ANTHROPIC, "an-midstream", true, NET_AI_OVERLOADED,
                "error in the stream (overloaded_error): Overloaded");
    expect_fail(NET_PROVIDER_ANTHROPIC, "an-refusal", false, NET_AI_CONTENT_FILTERED, "refused");
    expect_fail(NET_PROVIDER_ANTHROPIC, "an-403", false, NET_AI_AUTH, "auth (HTTP 403, retry after 0 s): no access");
}

static void test_offline_and_args(void **state)
{
    net_client *c;
    assert_int_equal(net_client_new(NULL, &c, NULL, 0), NET_OK);
    net_chat_req req;
    net_chat_req_init(&req);
    net_chat_result res;
    char err[256];
    assert_int_equal(net_chat(c, &req, &res, err, sizeof err), NET_E_ARG);
    assert_int_equal(res.kind, NET_AI_BAD_REQUEST);
    /* Port 1 on loopback: nothing listens there. */
    const net_chat_msg m = {"user", "hi"};
    req.base_url = "http://127.0.0.1:1/v1";
    req.model = "m";
    req.messages = &m;
    req.n_messages = 1;
    assert_int_equal(net_chat(c, &req, &res, err, sizeof err), NET_E_CONNECT);
    assert_int_equal(res.kind, NET_AI_OFFLINE);
    assert_non_null(strstr(err, "openai: offline: cannot connect to 127.0.0.1 port 1"));
    net_chat_result_free(&res);
    net_provider p;
    assert_int_equal(net_provider_parse("anthropic", &p), NET_OK);
    assert_int_equal(p, NET_PROVIDER_ANTHROPIC);
    assert_int_equal(net_provider_parse("gemini", &p), NET_E_ARG);
    assert_string_equal(net_ai_error_name(NET_AI_RATE_LIMITED), "rate-limited");
    net_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai),
        cmocka_unit_test(test_anthropic),
        cmocka_unit_test(test_offline_and_args),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
