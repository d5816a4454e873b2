/* Local provider limits shared across processes: the per-minute token
 * bucket, its state file surviving damage, several processes drawing from
 * one bucket, and concurrency slots released when their holder exits. */
#include "router/router.h"
#include "tests/testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static char err[1024];
static char dir[256];

static int make_dir(void **state)
{
    char tmpl[200];
    if (!tu_temp_dir(tmpl, sizeof tmpl, "rhema-limits")) return -1;
    snprintf(dir, sizeof dir, "%s/limits", tmpl);
    return 0;
}

static int remove_dir(void **state)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%.*s'", (int)(strrchr(dir, '/') - dir), dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int64_t take(const char *provider, long per_minute, int64_t now)
{
    int64_t wait = -1;
    assert_int_equal(route_rate_take(dir, provider, per_minute, now, &wait, err, sizeof err), ROUTE_OK);
    return wait;
}

static void test_bucket(void **state)
{
    assert_int_equal(take("openai", 2, 1000), 0);
    assert_int_equal(take("openai", 2, 1000), 0);
    assert_int_equal(take("openai", 2, 1000), 30000); /* one refills every 30 s */
    assert_int_equal(take("openai", 2, 16000), 15000);
    assert_int_equal(take("anthropic", 2, 16000), 0); /* buckets are per provider */
    assert_int_equal(take("openai", 2, 31000), 0);
    assert_int_equal(take("openai", 2, 31000), 30000);
    assert_int_equal(take("openai", 0, 31000), 0); /* 0: no limit */
    assert_int_equal(take("openai", 2, 500000), 0); /* refills to the limit, not beyond */
    assert_int_equal(take("openai", 2, 500000), 0);
    assert_true(take("openai", 2, 500000) > 0);
    assert_true(take("openai", 2, 1000) > 0); /* a clock that moved back refills nothing */
    int64_t w;
    assert_int_equal(route_rate_take(dir, "bad name", 2, 0, &w, err, sizeof err), ROUTE_ERR_ARG);
}

static void test_damaged_state(void **state)
{
    assert_int_equal(take("openai", 1, 1000), 0);
    assert_true(take("openai", 1, 1000) > 0);
    char path[512];
    snprintf(path, sizeof path, "%s/rate", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("openai 0.0 12x\nanthropic nan 5\ngarbage", f);
    fclose(f);
    assert_int_equal(take("openai", 1, 1000), 0); /* its line is unreadable: a full bucket */
    assert_true(take("openai", 1, 1000) > 0);
    assert_int_equal(take("anthropic", 1, 1000), 0);
}

/* Four processes draw 10 each from one bucket of 20: exactly 20 pass. */
static void test_processes_share_the_bucket(void **state)
{
    enum { KIDS = 4 };
    pid_t pids[KIDS];
    for (int k = 0; k < KIDS; k++) {
        pids[k] = fork();
        assert_true(pids[k] >= 0);
        if (pids[k] == 0) {
            int passed = 0;
            for (int i = 0; i < 10; i++) {
                int64_t wait;
                if (route_rate_take(dir, "openai", 20, 5000, &wait, NULL, 0)) _exit(100);
                passed += wait == 0;
            }
            _exit(passed);
        }
    }
    int total = 0;
    for (int k = 0; k < KIDS; k++) {
        int st;
        assert_int_equal(waitpid(pids[k], &st, 0), pids[k]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) <= 10);
        total += WEXITSTATUS(st);
    }
    assert_int_equal(total, 20);
}

static void test_slots(void **state)
{
    int a, b, c;
    assert_int_equal(route_slot_take(dir, "openai", 2, &a, err, sizeof err), ROUTE_OK);
    assert_int_equal(route_slot_take(dir, "openai", 2, &b, err, sizeof err), ROUTE_OK);
    assert_true(a >= 0 && b >= 0);
    assert_int_equal(route_slot_take(dir, "openai", 2, &c, err, sizeof err), ROUTE_OK);
    assert_int_equal(c, -1); /* both busy */
    route_slot_release(a);
    assert_int_equal(route_slot_take(dir, "openai", 2, &c, err, sizeof err), ROUTE_OK);
    assert_true(c >= 0);
    route_slot_release(b);
    route_slot_release(c);
    /* A holder that dies without releasing frees its slot. */
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int s;
        close(pipefd[0]);
        route_slot_take(dir, "openai", 1, &s, NULL, 0);
        char ok = s >= 0 ? 'y' : 'n';
        (void)!write(pipefd[1], &ok, 1);
        pause();
        _exit(0);
    }
    close(pipefd[1]);
    char ok = 0;
    assert_int_equal(read(pipefd[0], &ok, 1), 1);
    assert_int_equal(ok, 'y');
    assert_int_equal(route_slot_take(dir, "openai", 1, &c, err, sizeof err), ROUTE_OK);
    assert_int_equal(c, -1);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(pipefd[0]);
    assert_int_equal(route_slot_take(dir, "openai", 1, &c, err, sizeof err), ROUTE_OK);
    assert_true(c >= 0);
    route_slot_release(c);
}

static void test_explain(void **state)
{
    static const char yaml[] = "ai_service:\n  external:\n    base_url: https://api.openai.com\n    models: [gpt-4o]\n"
                               "    rate_limit_per_minute: 1\n    max_concurrent_requests: 1\n"
                               "  routing: {routing_strategy: external_only}\n";
    route_config *cfg;
    assert_int_equal(route_config_load_mem(yaml, sizeof yaml - 1, "t.yaml", &cfg, err, sizeof err), ROUTE_OK);
    route_request rq = {.prompt = "hi"};
    route_decision d;
    assert_int_equal(route_decide(cfg, &rq, NULL, &d, err, sizeof err), ROUTE_OK);
    size_t n = d.n_why;
    assert_int_equal(route_limits_explain(cfg, dir, 1000, 0, &d, err, sizeof err), ROUTE_OK);
    assert_int_equal(d.n_why, n); /* nothing used yet: no folder is even created */
    assert_int_equal(access(dir, F_OK), -1);
    assert_int_equal(take("openai", 1, 1000), 0);
    int slot;
    assert_int_equal(route_slot_take(dir, "openai", 1, &slot, err, sizeof err), ROUTE_OK);
    assert_int_equal(route_limits_explain(cfg, dir, 58000, 0, &d, err, sizeof err), ROUTE_OK);
    assert_int_equal(d.n_why, n + 2);
    assert_string_equal(d.why[n], "local limit: openai is at its 1 requests a minute (rate_limit_per_minute) for 3.0 s "
                                  "more -> the request waits for it");
    assert_string_equal(d.why[n + 1], "local limit: all 1 concurrent requests to openai (max_concurrent_requests) are "
                                      "busy -> the request waits up to 5.0 s for one, then goes to the fallback");
    route_slot_release(slot);
    assert_int_equal(take("openai", 1, 58000), 3000); /* the peek took nothing */
    route_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bucket, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_damaged_state, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_processes_share_the_bucket, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_slots, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_explain, make_dir, remove_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
