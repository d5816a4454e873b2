/* max_daily_cost held across processes: a reservation is taken under the
 * ledger's lock, its call's record settles it, a failed call releases it,
 * and one whose process is gone (SIGKILLed, a reused pid, another boot)
 * or that outlived its bound stops counting. Reports never count it. */
#include "router/router.h"
#include "tests/router/routeutil.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static char err[1024];

/* $1 per output token and nothing for input: a request of --max-tokens 8
 * is estimated at $8, so a $10 day holds one at a time. */
static const char yaml[] = "ai_service:\n"
                           "  external: {provider: openai, base_url: https://api.openai.com, models: [m1], timeout_seconds: 5}\n"
                           "  embedded: {model_type: small, model_path: s.gguf}\n"
                           "  routing:\n"
                           "    routing_strategy: external_only\n"
                           "    cost_thresholds: {max_daily_cost: 10}\n"
                           "  pricing: {openai: {m1: {input_per_million: 0, output_per_million: 1000000}}}\n";

static route_config *cfg;

static int setup(void **state)
{
    return tu_config(yaml, &cfg);
}

static int teardown(void **state)
{
    route_config_free(cfg);
    return 0;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static route_decision decide(const route_state *st)
{
    route_request rq = {.prompt = "hello there", .max_output_tokens = 8};
    route_decision d;
    assert_int_equal(route_decide(cfg, &rq, st, &d, err, sizeof err), ROUTE_OK);
    return d;
}

static bool has_reason(const route_decision *d, const char *text)
{
    for (size_t i = 0; i < d->n_why; i++)
        if (strstr(d->why[i], text)) return true;
    return false;
}

static double held_usd(const char *ledger, int64_t now, size_t *n)
{
    double usd;
    size_t k;
    assert_int_equal(route_budget_held(ledger, now, &usd, &k, err, sizeof err), ROUTE_OK);
    if (n) *n = k;
    return usd;
}

static void reservations_path(const char *ledger, char *out, size_t n)
{
    snprintf(out, n, "%.*s/reservations", (int)(strrchr(ledger, '/') - ledger), ledger);
}

static route_usage answered(double cost)
{
    route_usage u = tu_usage((int64_t)time(NULL), ROUTE_TO_EXTERNAL, "openai", "m1", 11, 5, cost);
    u.ms = 100;
    return u;
}

/* One request holds $8 of $10; a second, decided on stale state, goes
 * local with the reason; the answer's record replaces the hold. */
static void test_reserve_settle(void **state)
{
    char ledger[256];
    tu_ledger(ledger, sizeof ledger, "rhema-budget");
    int64_t now = wall_ms();
    route_decision d1 = decide(NULL), d2 = decide(NULL);
    assert_int_equal(d1.target, ROUTE_TO_EXTERNAL);
    assert_true(d1.cost_known && d1.est_cost == 8);
    route_reservation r1, r2;
    assert_int_equal(route_budget_reserve(cfg, ledger, now, &d1, &r1, err, sizeof err), ROUTE_OK);
    assert_true(r1.held && r1.usd == 8);
    assert_int_equal(d1.target, ROUTE_TO_EXTERNAL);
    assert_true(has_reason(&d1, "budget: $8.000000 held against max_daily_cost $10.0000 (today's spend $0.0000"));
    size_t n;
    assert_true(held_usd(ledger, now, &n) == 8 && n == 1);

    /* The dry run's view: the ledger state knows what is held. */
    route_state st = {0};
    assert_int_equal(route_ledger_state(ledger, now / 1000, &st, err, sizeof err), ROUTE_OK);
    assert_true(st.reserved_today == 8 && st.reservations == 1 && st.spent_today == 0);
    route_decision seen = decide(&st);
    assert_int_equal(seen.target, ROUTE_TO_EMBEDDED);
    assert_true(has_reason(&seen, "held by 1 request in flight"));

    assert_int_equal(route_budget_reserve(cfg, ledger, now, &d2, &r2, err, sizeof err), ROUTE_OK);
    assert_false(r2.held);
    assert_int_equal(d2.target, ROUTE_TO_EMBEDDED);
    assert_true(d2.budget_local && !d2.has_fallback);
    assert_true(has_reason(&d2, "budget: today's spend $0.0000 + $8.0000 held by 1 request in flight + estimate "
                                "$8.000000 exceeds max_daily_cost $10.0000 -> embedded"));

    /* Held money is not spend. */
    route_cost_report rep;
    assert_int_equal(route_costs_analyze(cfg, ledger, 0, now / 1000 + 10, &rep, err, sizeof err), ROUTE_OK);
    assert_true(rep.total_cost == 0 && rep.n_rows == 0);
    route_cost_report_free(&rep);

    route_usage u = answered(5);
    assert_int_equal(route_budget_settle(ledger, &r1, &u, err, sizeof err), ROUTE_OK);
    assert_false(r1.held);
    assert_true(held_usd(ledger, now, &n) == 0 && n == 0);
    double spent;
    assert_int_equal(route_ledger_spent_today(ledger, now / 1000, &spent, err, sizeof err), ROUTE_OK);
    assert_true(spent == 5);
    char path[300];
    reservations_path(ledger, path, sizeof path);
    assert_int_equal(access(path, F_OK), -1); /* nothing held: no file */

    route_decision d3 = decide(NULL);
    route_reservation r3;
    assert_int_equal(route_budget_reserve(cfg, ledger, now, &d3, &r3, err, sizeof err), ROUTE_OK);
    assert_false(r3.held);
    assert_true(has_reason(&d3, "today's spend $5.0000 + estimate $8.000000 exceeds max_daily_cost $10.0000"));
}

/* A failed request releases; local decisions and budgets of 0 hold nothing. */
static void test_release_and_nothing_to_hold(void **state)
{
    char ledger[256];
    tu_ledger(ledger, sizeof ledger, "rhema-budget");
    int64_t now = wall_ms();
    route_decision d = decide(NULL);
    route_reservation r;
    assert_int_equal(route_budget_reserve(cfg, ledger, now, &d, &r, err, sizeof err), ROUTE_OK);
    assert_true(r.held);
    assert_int_equal(route_budget_release(ledger, &r, err, sizeof err), ROUTE_OK);
    assert_false(r.held);
    assert_true(held_usd(ledger, now, NULL) == 0);
    route_decision local = decide(NULL);
    local.target = ROUTE_TO_EMBEDDED;
    assert_int_equal(route_budget_reserve(cfg, ledger, now, &local, &r, err, sizeof err), ROUTE_OK);
    assert_false(r.held);
    cfg->max_daily_cost = 0;
    d = decide(NULL);
    assert_int_equal(route_budget_reserve(cfg, ledger, now, &d, &r, err, sizeof err), ROUTE_OK);
    cfg->max_daily_cost = 10;
    assert_false(r.held);
    assert_int_equal(d.target, ROUTE_TO_EXTERNAL);
    assert_true(held_usd(ledger, now, NULL) == 0);
}

/* A holder killed with SIGKILL mid-call: its hold stops counting at once
 * (even before it is reaped), and the budget is free again. */
static void test_sigkilled_owner(void **state)
{
    char ledger[256];
    tu_ledger(ledger, sizeof ledger, "rhema-budget");
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t kid = fork();
    assert_true(kid >= 0);
    if (kid == 0) {
        /* never outlive a parent whose checks failed before the kill */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        alarm(120);
        close(pipefd[0]);
        route_decision d = decide(NULL);
        route_reservation r;
        if (route_budget_reserve(cfg, ledger, wall_ms(), &d, &r, err, sizeof err) || !r.held) _exit(1);
        if (write(pipefd[1], "x", 1) != 1) _exit(1);
        for (;;) pause();
    }
    close(pipefd[1]);
    char c;
    assert_int_equal(read(pipefd[0], &c, 1), 1);
    close(pipefd[0]);
    size_t n;
    assert_true(held_usd(ledger, wall_ms(), &n) == 8 && n == 1);
    route_decision d = decide(NULL);
    route_reservation r;
    assert_int_equal(route_budget_reserve(cfg, ledger, wall_ms(), &d, &r, err, sizeof err), ROUTE_OK);
    assert_false(r.held); /* the child's $8 leaves no room */
    assert_int_equal(kill(kid, SIGKILL), 0);
    /* Not reaped yet: a zombie holds nothing. Wait until the kernel has it
     * dead (SIGKILL is delivered asynchronously). */
    siginfo_t si;
    assert_int_equal(waitid(P_PID, (id_t)kid, &si, WEXITED | WNOWAIT), 0);
    assert_true(held_usd(ledger, wall_ms(), &n) == 0 && n == 0);
    assert_int_equal(waitpid(kid, NULL, 0), kid);
    d = decide(NULL);
    assert_int_equal(route_budget_reserve(cfg, ledger, wall_ms(), &d, &r, err, sizeof err), ROUTE_OK);
    assert_true(r.held);
    assert_int_equal(route_budget_release(ledger, &r, err, sizeof err), ROUTE_OK);
}

/* Holds older than their bound, of a reused pid or of another boot do not
 * count; renewing moves the bound; a hold that expired and finds no room
 * again is lost for good. */
static void test_expiry_and_identity(void **state)
{
    char ledger[256], path[300];
    tu_ledger(ledger, sizeof ledger, "rhema-budget");
    reservations_path(ledger, path, sizeof path);
    int64_t now = wall_ms(), bound = route_budget_bound_ms(cfg);
    assert_true(bound == 3 * (5000 + ROUTE_MAX_WAIT_MS) + 60000);
    route_decision d = decide(NULL);
    route_reservation r;
    assert_int_equal(route_budget_reserve(cfg, ledger, now, &d, &r, err, sizeof err), ROUTE_OK);
    assert_true(r.held && r.expires_ms == now + bound);
    assert_true(held_usd(ledger, now + bound - 1, NULL) == 8);
    assert_true(held_usd(ledger, now + bound, NULL) == 0);
    char msg[400] = "";
    assert_int_equal(route_budget_hold(cfg, ledger, now + bound / 2, &r, 0, msg, sizeof msg), ROUTE_OK);
    assert_true(r.held && r.expires_ms == now + bound / 2 + bound);
    assert_true(held_usd(ledger, now + bound, NULL) == 8);

    /* This process's own line, as written; then altered copies of it. */
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long pid;
    unsigned long long start;
    char boot[64];
    unsigned seq;
    long long exp;
    double usd;
    assert_int_equal(fscanf(f, "H1 %ld %llu %63s %u %lld %lf", &pid, &start, boot, &seq, &exp, &usd), 6);
    fclose(f);
    assert_int_equal(pid, (long)getpid());
    assert_true(start > 0 && strlen(boot) == 36 && usd == 8);
    pid_t gone = fork();
    if (gone == 0) _exit(0);
    assert_int_equal(waitpid(gone, NULL, 0), gone);
    f = fopen(path, "a");
    fprintf(f, "H1 %ld %llu %s 900 %lld 1.0\n", pid, start + 1, boot, exp);               /* a reused pid */
    fprintf(f, "H1 %ld %llu 00000000-0000-0000-0000-000000000000 901 %lld 1.0\n", pid, start, exp); /* another boot */
    fprintf(f, "H1 %ld 0 %s 902 %lld 1.0\n", (long)gone, boot, exp);                     /* a finished process */
    fprintf(f, "H1 %ld %llu %s 903 %lld 0.5\n", pid, start, boot, exp);                   /* alive: counts */
    fprintf(f, "garbage line\n");
    fclose(f);
    size_t n;
    assert_true(held_usd(ledger, now, &n) == 8.5 && n == 2);

    /* Expired at now + 1.5 bound; meanwhile another hold took $1.5 more. */
    int64_t late = now + 2 * bound;
    assert_true(held_usd(ledger, late, &n) == 0 && n == 0);
    route_reservation other = {0};
    assert_int_equal(route_budget_hold(cfg, ledger, late, &other, 1.5, msg, sizeof msg), ROUTE_OK);
    assert_true(other.held);
    assert_int_equal(route_budget_hold(cfg, ledger, late, &r, 0, msg, sizeof msg), ROUTE_OK);
    assert_true(r.held); /* renewed again: 1.5 + 8 fits in 10 */
    route_reservation third = {0};
    assert_int_equal(route_budget_hold(cfg, ledger, late, &third, 1, msg, sizeof msg), ROUTE_ERR_BUDGET);
    assert_non_null(strstr(msg, "budget: today's spend $0.0000 + $9.5000 held by 2 requests in flight + estimate $1.000000"));
    int64_t later = late + 2 * bound;
    assert_int_equal(route_budget_hold(cfg, ledger, later, &other, 0, msg, sizeof msg), ROUTE_OK);
    assert_int_equal(route_budget_hold(cfg, ledger, later, &third, 1, msg, sizeof msg), ROUTE_OK);
    assert_int_equal(route_budget_hold(cfg, ledger, later, &r, 0, msg, sizeof msg), ROUTE_ERR_BUDGET);
    assert_true(r.lost && !r.held);
    assert_non_null(strstr(msg, "budget: the reservation expired and today's spend"));
    assert_int_equal(route_budget_hold(cfg, ledger, later, &r, 0, msg, sizeof msg), ROUTE_ERR_BUDGET);
    assert_int_equal(route_budget_release(ledger, &other, err, sizeof err), ROUTE_OK);
    assert_int_equal(route_budget_release(ledger, &third, err, sizeof err), ROUTE_OK);
    assert_true(held_usd(ledger, later, NULL) == 0);
}

/* ------------------------------------------------ through route_execute */

typedef struct fake {
    int ext_fail; /* external calls that fail */
    int ext_calls;
} fake;

static int fake_embedded(void *user, const route_call *call, route_reply *reply, char *e, size_t n)
{
    reply->text = strdup("local answer");
    reply->in_tokens = 3;
    reply->out_tokens = 2;
    reply->load_ms = 12.5;
    reply->peak_rss = 4 << 20;
    reply->model_bytes = 1 << 20;
    reply->kv_bytes = 1 << 16;
    return 0;
}

static int fake_external(void *user, const route_call *call, route_reply *reply, char *e, size_t n)
{
    fake *f = user;
    f->ext_calls++;
    if (f->ext_fail) return snprintf(e, n, "HTTP 400"), 1;
    reply->text = strdup("remote answer");
    reply->in_tokens = 11;
    reply->out_tokens = 5;
    return 0;
}

static void test_execute(void **state)
{
    char ledger[256];
    tu_ledger(ledger, sizeof ledger, "rhema-budget");
    fake f = {0};
    route_backends b = {fake_embedded, fake_external, &f};
    route_request rq = {.prompt = "hello there", .max_output_tokens = 8};
    route_reservation r;
    route_runtime rt = {.ledger_path = ledger, .reservation = &r};
    route_result res;

    /* Answered: the $5 record replaces the $8 hold. */
    route_decision d = decide(NULL);
    assert_int_equal(route_budget_reserve(cfg, ledger, wall_ms(), &d, &r, err, sizeof err), ROUTE_OK);
    assert_int_equal(route_execute(cfg, &rq, &d, &b, &rt, &res, err, sizeof err), ROUTE_OK);
    assert_int_equal(res.served_by, ROUTE_TO_EXTERNAL);
    route_result_free(&res);
    assert_false(r.held);
    assert_true(held_usd(ledger, wall_ms(), NULL) == 0);
    tu_tally t = tu_read(ledger, 0, NULL);
    assert_true(t.n == 1 && t.cost == 5);

    /* No room for another $8: local, and the local record keeps the
     * backend's load time and memory. */
    d = decide(NULL);
    assert_int_equal(route_budget_reserve(cfg, ledger, wall_ms(), &d, &r, err, sizeof err), ROUTE_OK);
    assert_int_equal(d.target, ROUTE_TO_EMBEDDED);
    assert_int_equal(route_execute(cfg, &rq, &d, &b, &rt, &res, err, sizeof err), ROUTE_OK);
    assert_int_equal(res.served_by, ROUTE_TO_EMBEDDED);
    route_result_free(&res);
    assert_int_equal(f.ext_calls, 1);
    t = tu_read(ledger, 0, NULL);
    assert_true(t.n == 2 && t.cost == 5 && t.measured == 1);
    assert_true(t.load_ms == 12.5 && t.peak_rss == 4 << 20 && t.model_bytes == 1 << 20 && t.kv_bytes == 1 << 16);

    /* A failed call releases its hold; the local model answers. */
    char fresh[256];
    tu_ledger(fresh, sizeof fresh, "rhema-budget");
    rt.ledger_path = fresh;
    f.ext_fail = 1;
    d = decide(NULL);
    assert_int_equal(route_budget_reserve(cfg, fresh, wall_ms(), &d, &r, err, sizeof err), ROUTE_OK);
    assert_true(r.held);
    assert_int_equal(route_execute(cfg, &rq, &d, &b, &rt, &res, err, sizeof err), ROUTE_OK);
    assert_int_equal(res.served_by, ROUTE_TO_EMBEDDED);
    route_result_free(&res);
    assert_false(r.held);
    assert_true(held_usd(fresh, wall_ms(), NULL) == 0);
    t = tu_read(fresh, 0, NULL);
    assert_true(t.n == 2 && t.failed == 1 && t.cost == 0);

    /* An external call the decision did not hold for (no reservation
     * taken yet) holds its own estimate first; with no room it is passed
     * over like a local limit and the local model answers. */
    f.ext_fail = 0;
    route_reservation mine = {0};
    char msg[300];
    assert_int_equal(route_budget_hold(cfg, fresh, wall_ms(), &mine, 9, msg, sizeof msg), ROUTE_OK);
    r = (route_reservation){0};
    d = decide(NULL);
    int calls = f.ext_calls;
    assert_int_equal(route_execute(cfg, &rq, &d, &b, &rt, &res, err, sizeof err), ROUTE_OK);
    assert_int_equal(res.served_by, ROUTE_TO_EMBEDDED);
    assert_int_equal(f.ext_calls, calls);
    assert_non_null(strstr(res.attempts[0].error, "budget: today's spend $0.0000 + $9.0000 held by 1 request in flight"));
    route_result_free(&res);
    assert_int_equal(route_budget_release(fresh, &mine, err, sizeof err), ROUTE_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reserve_settle),   cmocka_unit_test(test_release_and_nothing_to_hold),
        cmocka_unit_test(test_sigkilled_owner),  cmocka_unit_test(test_expiry_and_identity),
        cmocka_unit_test(test_execute),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
