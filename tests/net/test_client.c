/* HTTP client over plain TCP against a scripted server thread on
 * 127.0.0.1: keep-alive reuse, redirects, Range, chunked bodies, limits,
 * streaming, timeouts, and credentials not following cross-host redirects. */
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

static ts_server srv;

static bool reply(int fd, const char *head, const char *path, const char *body, void *user)
{
    char buf[200000], hv[256];
    int n = 0;
    if (!strcmp(path, "/hello")) {
        n = snprintf(buf, sizeof buf, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
    } else if (!strcmp(path, "/chunked")) {
        n = snprintf(buf, sizeof buf, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "4\r\nchun\r\n3\r\nked\r\n0\r\n\r\n");
    } else if (!strncmp(path, "/redir/", 7)) {
        int k = atoi(path + 7);
        n = k ? snprintf(buf, sizeof buf, "HTTP/1.1 302 Found\r\nLocation: %d\r\nContent-Length: 3\r\n\r\nabc", k - 1)
              : snprintf(buf, sizeof buf, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone");
    } else if (!strcmp(path, "/see-other")) {
        n = snprintf(buf, sizeof buf, "HTTP/1.1 303 See Other\r\nLocation: /method\r\nContent-Length: 0\r\n\r\n");
    } else if (!strcmp(path, "/method")) {
        n = snprintf(buf, sizeof buf, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%.*s",
                     strcspn(head, " "), (int)strcspn(head, " "), head);
    } else if (!strcmp(path, "/cross")) {
        n = snprintf(buf, sizeof buf, "HTTP/1.1 301 Moved\r\nLocation: http://localhost:%d/auth\r\n"
                     "Content-Length: 0\r\n\r\n", srv.port);
    } else if (!strcmp(path, "/auth") || !strcmp(path, "/range")) {
        ts_header(head, path[1] == 'a' ? "Authorization" : "Range", hv, sizeof hv);
        n = snprintf(buf, sizeof buf, "HTTP/1.1 %s\r\nContent-Length: %zu\r\n\r\n%s",
                     path[1] == 'a' ? "200 OK" : "206 Partial Content", strlen(hv), hv);
    } else if (!strcmp(path, "/big")) {
        n = snprintf(buf, sizeof buf, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
        memset(buf + n, 'x', 100000);
        n += 100000;
    } else if (!strcmp(path, "/close")) {
        n = snprintf(buf, sizeof buf, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close");
    } else if (!strcmp(path, "/loop")) {
        n = snprintf(buf, sizeof buf, "HTTP/1.1 307 Again\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n");
    } else if (!strcmp(path, "/slow")) {
        poll(NULL, 0, 1500);
        return false;
    } else {
        n = snprintf(buf, sizeof buf, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    }
    ts_write(fd, buf, (size_t)n);
    return strcmp(path, "/close") != 0;
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

static net_client *client(uint64_t max_body)
{
    net_client_opts o = {.io_timeout_ms = 300, .connect_timeout_ms = 2000, .no_env_proxy = true,
                         .max_body_bytes = max_body};
    net_client *c;
    char err[256];
    assert_int_equal(net_client_new(&o, &c, err, sizeof err), NET_OK);
    return c;
}

/* GET (or POST with body) path; returns the status or the error code. */
static int fetch(net_client *c, const char *path, const char *body, const char *const *headers, char *out,
                 size_t cap, char *err)
{
    char url[300];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", srv.port, path);
    net_request req;
    net_request_init(&req);
    req.url = url;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    req.headers = headers;
    if (!strcmp(path, "/range")) {
        req.range_start = 100;
        req.range_end = 199;
    }
    net_response *r;
    int rc = net_request_send(c, &req, &r, err, 256);
    if (rc < 0)
        return rc;
    size_t len;
    const char *b = net_response_body(r, &len);
    snprintf(out, cap, "%.*s", (int)len, b);
    int st = net_response_status(r);
    net_response_free(r);
    return st;
}

static int accepted(void)
{
    return ts_accepted(&srv);
}

static void test_keep_alive_and_bodies(void **state)
{
    net_client *c = client(0);
    char out[256], err[256];
    int before = accepted();
    int st = fetch(c, "/hello", NULL, NULL, out, sizeof out, err);
    if (st != 200)
        fail_msg("%d %s", st, err);
    assert_string_equal(out, "hello");
    assert_int_equal(fetch(c, "/chunked", NULL, NULL, out, sizeof out, err), 200);
    assert_string_equal(out, "chunked");
    assert_int_equal(fetch(c, "/range", NULL, NULL, out, sizeof out, err), 206);
    assert_string_equal(out, "bytes=100-199");
    assert_int_equal(fetch(c, "/nothing", NULL, NULL, out, sizeof out, err), 404);
    assert_int_equal(accepted() - before, 1);  /* all on one connection */
    assert_int_equal(fetch(c, "/close", NULL, NULL, out, sizeof out, err), 200);
    assert_string_equal(out, "until close");
    assert_int_equal(fetch(c, "/hello", NULL, NULL, out, sizeof out, err), 200);
    assert_int_equal(accepted() - before, 2);
    net_client_free(c);
}

static void test_redirects(void **state)
{
    net_client *c = client(0);
    char out[256], err[256];
    assert_int_equal(fetch(c, "/redir/3", NULL, NULL, out, sizeof out, err), 200);
    assert_string_equal(out, "done");
    assert_int_equal(fetch(c, "/redir/9", NULL, NULL, out, sizeof out, err), NET_E_HTTP);
    assert_non_null(strstr(err, "127.0.0.1: more than 5 redirects"));
    assert_int_equal(fetch(c, "/loop", NULL, NULL, out, sizeof out, err), NET_E_HTTP);
    /* 303 turns a POST into a GET without the body. */
    assert_int_equal(fetch(c, "/see-other", "{\"a\":1}", NULL, out, sizeof out, err), 200);
    assert_string_equal(out, "GET");
    assert_int_equal(fetch(c, "/method", "{}", NULL, out, sizeof out, err), 200);
    assert_string_equal(out, "POST");
    char last[8192];
    ts_last_request(&srv, last, sizeof last);
    assert_non_null(strstr(last, "Content-Length: 2\r\n\r\n{}"));
    /* The API key reaches the same host but not another one. */
    const char *hdrs[] = {"Authorization: Bearer sk-secret", NULL};
    assert_int_equal(fetch(c, "/auth", NULL, hdrs, out, sizeof out, err), 200);
    assert_string_equal(out, "Bearer sk-secret");
    assert_int_equal(fetch(c, "/cross", NULL, hdrs, out, sizeof out, err), 200);
    assert_string_equal(out, "none");
    net_client_free(c);
}

static int stop_after_first(void *user, const net_http_resp *head, const char *data, size_t len)
{
    (*(size_t *)user) += len;
    return head->status == 200 && *(size_t *)user >= 1000;
}

static void test_limits_and_errors(void **state)
{
    char out[256], err[256];
    net_client *c = client(50000);
    assert_int_equal(fetch(c, "/big", NULL, NULL, out, sizeof out, err), NET_E_LIMIT);
    assert_non_null(strstr(err, "body of 100000 bytes exceeds the limit of 50000"));
    assert_int_equal(fetch(c, "/slow", NULL, NULL, out, sizeof out, err), NET_E_TIMEOUT);
    assert_non_null(strstr(err, "timed out after 300 ms"));
    const char *bad[] = {"X-Injected: a\r\nEvil: b", NULL};
    assert_int_equal(fetch(c, "/hello", NULL, bad, out, sizeof out, err), NET_E_ARG);
    assert_int_equal(fetch(c, "/hello", NULL, NULL, out, sizeof out, err), 200);
    net_client_free(c);

    c = client(0);
    char url[100];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/big", srv.port);
    net_request req;
    net_request_init(&req);
    req.url = url;
    size_t seen = 0;
    req.on_body = stop_after_first;
    req.user = &seen;
    net_response *r;
    assert_int_equal(net_request_send(c, &req, &r, err, sizeof err), NET_E_STATE);
    assert_non_null(strstr(err, "stopped by the caller"));
    assert_true(seen >= 1000 && seen < 100000);
    req.on_body = NULL;
    assert_int_equal(net_request_send(c, &req, &r, err, sizeof err), NET_OK);
    size_t len;
    net_response_body(r, &len);
    assert_int_equal(len, 100000);
    assert_string_equal(net_response_url(r), url);
    net_response_free(r);
    net_client_free(c);
}

static void test_urls(void **state)
{
    net_url u;
    char err[256];
    assert_int_equal(net_url_parse("https://api.openai.com/v1/chat?x=1#frag", &u, err, sizeof err), NET_OK);
    assert_true(u.https);
    assert_string_equal(u.host, "api.openai.com");
    assert_int_equal(u.port, 443);
    assert_string_equal(u.path, "/v1/chat?x=1");
    assert_int_equal(net_url_parse("http://[::1]:8080", &u, err, sizeof err), NET_OK);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 8080);
    assert_string_equal(u.path, "/");
    assert_int_equal(net_url_parse("ftp://x/", &u, err, sizeof err), NET_E_ARG);
    assert_int_equal(net_url_parse("http://host:99999/", &u, err, sizeof err), NET_E_ARG);
    assert_int_equal(net_url_parse("http://u:p@host/", &u, err, sizeof err), NET_E_ARG);
    assert_int_equal(net_url_parse("http:///x", &u, err, sizeof err), NET_E_ARG);
    assert_int_equal(net_url_parse("http://h/a b", &u, err, sizeof err), NET_E_ARG);
    assert_string_equal(net_status_name(NET_E_TIMEOUT), "timeout");
    assert_string_equal(net_status_name(NET_E_DNS), "dns");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keep_alive_and_bodies),
        cmocka_unit_test(test_redirects),
        cmocka_unit_test(test_limits_and_errors),
        cmocka_unit_test(test_urls),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
