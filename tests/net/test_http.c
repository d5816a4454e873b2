/* HTTP/1.1 response parser and SSE parser, fed in pieces of every size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/net.h"

typedef struct result {
    int rc;          /* NET_HTTP_DONE or the error */
    int status;
    bool keep_alive, chunked;
    int64_t content_length;
    char body[4096];
    size_t body_len;
    char ctype[64];
    char err[256];
    size_t rest;     /* bytes left after DONE */
} result;

/* Parse text fed in pieces of step bytes; eof: report the close at the end. */
static void run(const char *text, size_t n, size_t step, bool eof, uint64_t max_body, result *res)
{
    net_http_resp r;
    net_http_resp_init(&r);
    r.max_body_bytes = max_body;
    r.max_header_bytes = 1024;
    memset(res, 0, sizeof *res);
    size_t at = 0, avail = 0;  /* text[at, avail) has been "received" */
    for (;;) {
        size_t used;
        const char *body;
        size_t blen;
        int rc = net_http_resp_feed(&r, text + at, avail - at, &used, &body, &blen, res->err, sizeof res->err);
        at += used;
        if (rc == NET_HTTP_HEADERS) {
            res->status = r.status;
            const char *ct = net_http_resp_header(&r, "content-type");
            snprintf(res->ctype, sizeof res->ctype, "%s", ct ? ct : "");
        } else if (rc == NET_HTTP_BODY) {
            assert_true(res->body_len + blen <= sizeof res->body);
            memcpy(res->body + res->body_len, body, blen);
            res->body_len += blen;
        } else if (rc == NET_HTTP_MORE) {
            assert_int_equal(at, avail);
            if (avail == n) {
                rc = eof ? net_http_resp_eof(&r, res->err, sizeof res->err) : NET_E_STATE;
                res->rc = rc;
                break;
            }
            avail = avail + step < n ? avail + step : n;
        } else {
            res->rc = rc;
            break;
        }
    }
    res->keep_alive = r.keep_alive;
    res->chunked = r.chunked;
    res->content_length = r.content_length;
    res->rest = n - at;
    net_http_resp_free(&r);
}

static void check_all_steps(const char *text, bool eof, int want_rc, int status, const char *body,
                            const char *msg)
{
    size_t n = strlen(text);
    for (size_t step = 1; step <= n; step = step < 8 ? step + 1 : step * 2) {
        result res;
        run(text, n, step, eof, 0, &res);
        if (res.rc != want_rc)
            fail_msg("step %zu: rc %d want %d (%s) for %.60s", step, res.rc, want_rc, res.err, text);
        if (want_rc == NET_HTTP_DONE) {
            assert_int_equal(res.status, status);
            assert_int_equal(res.body_len, strlen(body));
            assert_memory_equal(res.body, body, res.body_len);
        } else if (!strstr(res.err, msg)) {
            fail_msg("message \"%s\" lacks \"%s\"", res.err, msg);
        }
    }
}

static void test_framing(void **state)
{
    check_all_steps("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhello",
                    false, NET_HTTP_DONE, 200, "hello", NULL);
    check_all_steps("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "5;ext=1\r\nhello\r\nA\r\n, world!!!\r\n0\r\nX-Trailer: y\r\n\r\n",
                    false, NET_HTTP_DONE, 200, "hello, world!!!", NULL);
    /* Bare LF line ends are tolerated. */
    check_all_steps("HTTP/1.1 404 Not Found\nContent-Length: 2\n\nno", false, NET_HTTP_DONE, 404, "no", NULL);
    check_all_steps("HTTP/1.0 200 OK\r\n\r\nuntil the end", true, NET_HTTP_DONE, 200, "until the end", NULL);
    check_all_steps("HTTP/1.1 204 No Content\r\n\r\n", false, NET_HTTP_DONE, 204, "", NULL);
    check_all_steps("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
                    false, NET_HTTP_DONE, 201, "", NULL);
    check_all_steps("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 99\r\n\r\n"
                    "3\r\nabc\r\n0\r\n\r\n", false, NET_HTTP_DONE, 200, "abc", NULL);

    result res;
    const char *ka = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\n";
    run(ka, strlen(ka), 100, false, 0, &res);
    assert_int_equal(res.rc, NET_HTTP_DONE);
    assert_true(res.keep_alive);
    assert_int_equal(res.rest, 17);  /* the next response is left alone */
    assert_string_equal(res.ctype, "");
    const char *close = "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n";
    run(close, strlen(close), 100, false, 0, &res);
    assert_false(res.keep_alive);
    const char *ct = "HTTP/1.1 200 OK\r\ncontent-TYPE:  text/event-stream \t\r\nContent-Length: 0\r\n\r\n";
    run(ct, strlen(ct), 3, false, 0, &res);
    assert_string_equal(res.ctype, "text/event-stream");
}

static void test_errors(void **state)
{
    check_all_steps("HTTP/2 200\r\n\r\n", false, NET_E_SYNTAX, 0, NULL, "is not HTTP/1.0 or HTTP/1.1");
    check_all_steps("HTTP/1.1 20 OK\r\n\r\n", false, NET_E_SYNTAX, 0, NULL, "not three digits");
    check_all_steps("HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n", false, NET_E_SYNTAX, 0, NULL,
                    "malformed header line \"Bad Header: x\"");
    check_all_steps("HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n", false, NET_E_SYNTAX, 0, NULL, "line folding");
    check_all_steps("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", false, NET_E_SYNTAX, 0, NULL,
                    "Content-Length \"1x\" is not a number");
    check_all_steps("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", false, NET_E_SYNTAX,
                    0, NULL, "conflicting Content-Length");
    check_all_steps("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", false, NET_E_SYNTAX, 0,
                    NULL, "too large");
    check_all_steps("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, NET_E_SYNTAX, 0, NULL,
                    "bad chunk size line \"zz\"");
    check_all_steps("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n", false, NET_E_SYNTAX, 0,
                    NULL, "chunk data not followed by CRLF");
    check_all_steps("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF\r\n", false,
                    NET_E_SYNTAX, 0, NULL, "chunk size");
    check_all_steps("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", true, NET_E_SYNTAX, 0, NULL,
                    "closed before the end of the body (5 bytes received)");
    check_all_steps("HTTP/1.1 200 OK\r\nContent", true, NET_E_SYNTAX, 0, NULL, "closed inside the headers");
    check_all_steps("", true, NET_E_SYNTAX, 0, NULL, "closed before any response");
    check_all_steps("HTTP/1.1 200 OK\r\nX: a\x01z\r\n\r\n", false, NET_E_SYNTAX, 0, NULL, "control character 0x01");

    char big[2048];
    snprintf(big, sizeof big, "HTTP/1.1 200 OK\r\nX: %01500d\r\n\r\n", 0);
    check_all_steps(big, false, NET_E_LIMIT, 0, NULL, "exceed 1024 bytes");

    result res;
    const char *cl = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
    run(cl, strlen(cl), 7, false, 50, &res);
    assert_int_equal(res.rc, NET_E_LIMIT);
    assert_non_null(strstr(res.err, "body of 100 bytes exceeds the limit of 50"));
    const char *ch = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n0123456789abcdef0123456789abcdef\r\n"
                     "20\r\n0123456789abcdef0123456789abcdef\r\n0\r\n\r\n";
    run(ch, strlen(ch), 5, false, 50, &res);
    assert_int_equal(res.rc, NET_E_LIMIT);
    assert_non_null(strstr(res.err, "body exceeds the limit of 50 bytes"));
    run(ch, strlen(ch), 5, false, 64, &res);
    assert_int_equal(res.rc, NET_HTTP_DONE);
    assert_int_equal(res.body_len, 64);
}

static void test_head_and_reuse(void **state)
{
    net_http_resp r;
    net_http_resp_init(&r);
    r.no_body = true;
    const char *t = "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n";
    size_t used;
    const char *body;
    size_t blen;
    assert_int_equal(net_http_resp_feed(&r, t, strlen(t), &used, &body, &blen, NULL, 0), NET_HTTP_HEADERS);
    assert_int_equal(r.content_length, 1234);
    assert_int_equal(net_http_resp_feed(&r, t, 0, &used, &body, &blen, NULL, 0), NET_HTTP_DONE);
    net_http_resp_reset(&r);
    assert_true(r.no_body);
    r.no_body = false;
    const char *u = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    assert_int_equal(net_http_resp_feed(&r, u, strlen(u), &used, &body, &blen, NULL, 0), NET_HTTP_HEADERS);
    assert_int_equal(net_http_resp_feed(&r, u + used, strlen(u) - used, &used, &body, &blen, NULL, 0), NET_HTTP_BODY);
    assert_int_equal(blen, 2);
    assert_int_equal(net_http_resp_feed(&r, "", 0, &used, &body, &blen, NULL, 0), NET_HTTP_DONE);
    net_http_resp_free(&r);
}

/* SSE: feed in pieces, collect "event=data" joined by '|'. */
static int sse_all(const char *text, size_t step, char *out, size_t cap, char *err)
{
    net_sse s;
    net_sse_init(&s);
    s.max_event = 64;
    size_t n = strlen(text), o = 0;
    out[0] = '\0';
    int rc = 0;
    for (size_t at = 0; at < n;) {
        size_t piece = n - at < step ? n - at : step, used;
        net_sse_event ev;
        rc = net_sse_feed(&s, text + at, piece, &used, &ev, err, 256);
        if (rc < 0)
            break;
        if (rc == 1)
            o += (size_t)snprintf(out + o, cap - o, "%s=%s#%s|", ev.event, ev.data, ev.id);
        at += used;
    }
    long retry = s.retry_ms;
    net_sse_free(&s);
    return rc < 0 ? rc : (int)retry;
}

static void test_sse(void **state)
{
    char out[1024], err[256];
    const char *stream =
        "\xEF\xBB\xBF: comment\r\n"
        "data: {\"a\":1}\r\n\r\n"
        "event: ping\ndata\n\n"
        "id: 7\rdata:x\rdata:  y\r\r"
        "retry: 1500\nretry: x\n"
        "event: skipped-no-data\n\n"
        "data: [DONE]\n\n"
        "data: unterminated";
    for (size_t step = 1; step <= strlen(stream); step++) {
        int rc = sse_all(stream, step, out, sizeof out, err);
        assert_int_equal(rc, 1500);
        assert_string_equal(out, "message={\"a\":1}#|ping=#|message=x\n y#7|message=[DONE]#7|");
    }
    assert_int_equal(sse_all("data: 0123456789012345678901234567890123456789012345678901234567890123456789\n\n",
                             8, out, sizeof out, err), NET_E_LIMIT);
    assert_non_null(strstr(err, "SSE: line longer than 64 bytes"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_head_and_reuse),
        cmocka_unit_test(test_sse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
