/* The usage ledger: concurrent writers lose nothing, torn records are
 * skipped and never damage the next one, writers killed with SIGKILL leave
 * a readable file, and the cost analysis adds up. */
#include "router/router.h"
#include "tests/router/routeutil.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static char err[1024];

static void test_roundtrip(void **state)
{
    char path[256];
    tu_ledger(path, sizeof path, "rhema-ledger");
    route_usage a = tu_usage(1000, ROUTE_TO_EXTERNAL, "openai", "gpt-4o", 12, 34, 0.25);
    route_usage b = tu_usage(2000, ROUTE_TO_EMBEDDED, "", "weird name\twith\nbreaks", 5, 6, 0);
    route_usage c = tu_usage(3000, ROUTE_TO_HYBRID, "acme", "acme-1", 7, 8, -1);
    tu_append(path, &a);
    tu_append(path, &b);
    tu_append(path, &c);
    size_t bad = 9;
    tu_tally t = tu_read(path, 1500, &bad);
    assert_int_equal(t.n, 2);
    assert_int_equal(t.in_tokens, 12);
    assert_int_equal(bad, 0);
    char missing[300];
    snprintf(missing, sizeof missing, "%s.none", path);
    t = tu_read(missing, 0, NULL);
    assert_int_equal(t.n, 0);
}

static void test_torn_record(void **state)
{
    char path[256];
    tu_ledger(path, sizeof path, "rhema-ledger");
    route_usage a = tu_usage(100, ROUTE_TO_EXTERNAL, "openai", "gpt-4o", 1, 1, 0.5);
    tu_append(path, &a);
    /* A crash in the middle of a record: half a line, no newline. */
    FILE *f = fopen(path, "a");
    fputs("R1 101 external openai gpt-4o 1", f);
    fclose(f);
    tu_append(path, &a);
    /* A flipped byte inside a complete record is caught by the check. */
    f = fopen(path, "a");
    fputs("R1 102 external openai gpt-4o 1 1 9.000000000 00000000\n", f);
    fclose(f);
    size_t bad = 0;
    tu_tally t = tu_read(path, 0, &bad);
    assert_int_equal(t.n, 2);
    assert_true(t.cost == 1.0);
    assert_int_equal(bad, 2);
    double spent;
    assert_int_equal(route_ledger_spent_today(path, 100 + 3600, &spent, err, sizeof err), ROUTE_OK);
    assert_true(spent == 1.0);
}

enum { WRITERS = 6, PER_WRITER = 150 };

static void test_concurrent_writers(void **state)
{
    char path[256];
    tu_ledger(path, sizeof path, "rhema-ledger");
    pid_t kids[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        kids[w] = fork();
        assert_true(kids[w] >= 0);
        if (kids[w] == 0) {
            for (int i = 0; i < PER_WRITER; i++) {
                route_usage u = tu_usage(5000 + i, ROUTE_TO_EXTERNAL, "openai", "gpt-4o-mini", (uint64_t)w + 1, 1, 0.001);
                if (route_ledger_append(path, &u, err, sizeof err)) _exit(1);
            }
            _exit(0);
        }
    }
    for (int w = 0; w < WRITERS; w++) {
        int status;
        assert_int_equal(waitpid(kids[w], &status, 0), kids[w]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    size_t bad = 0;
    tu_tally t = tu_read(path, 0, &bad);
    assert_int_equal(t.n, WRITERS * PER_WRITER);
    assert_int_equal(bad, 0);
    uint64_t want = 0;
    for (int w = 0; w < WRITERS; w++) want += (uint64_t)(w + 1) * PER_WRITER;
    assert_int_equal(t.in_tokens, want);
}

static void test_kill9_loop(void **state)
{
    char path[256];
    tu_ledger(path, sizeof path, "rhema-ledger");
    size_t acked = 0;
    for (int round = 0; round < 12; round++) {
        int pipefd[2];
        assert_int_equal(pipe(pipefd), 0);
        pid_t kid = fork();
        assert_true(kid >= 0);
        if (kid == 0) {
            close(pipefd[0]);
            for (int i = 0;; i++) {
                route_usage u = tu_usage(7000 + i, ROUTE_TO_EXTERNAL, "anthropic", "claude-3-haiku", 1, 1, 0.0001);
                if (route_ledger_append(path, &u, err, sizeof err)) _exit(1);
                /* Acknowledge only after the append returned (fsync'd). */
                if (write(pipefd[1], "x", 1) != 1) _exit(1);
            }
        }
        close(pipefd[1]);
        struct timespec ts = {0, (long)(1 + round % 5) * 3000000L};
        nanosleep(&ts, NULL);
        kill(kid, SIGKILL);
        waitpid(kid, NULL, 0);
        char buf[4096];
        ssize_t n;
        while ((n = read(pipefd[0], buf, sizeof buf)) > 0) acked += (size_t)n;
        close(pipefd[0]);
    }
    size_t bad = 0;
    tu_tally t = tu_read(path, 0, &bad);
    /* Every acknowledged record is there; at most one torn line per kill. */
    assert_true(t.n >= acked);
    assert_true(bad <= 12);
    route_usage u = tu_usage(9999, ROUTE_TO_EMBEDDED, "", "m", 1, 1, 0);
    tu_append(path, &u);
    tu_tally t2 = tu_read(path, 9999, NULL);
    assert_int_equal(t2.n, 1);
}

static void test_costs_analyze(void **state)
{
    char path[256];
    tu_ledger(path, sizeof path, "rhema-ledger");
    static const char yaml[] = "ai_service:\n  external:\n    base_url: https://api.openai.com\n    models: [gpt-4o]\n";
    route_config *cfg;
    assert_int_equal(tu_config(yaml, &cfg), 0);
    route_usage rows[] = {
        tu_usage(10, ROUTE_TO_EXTERNAL, "openai", "gpt-4o", 1000, 100, 0.0035),
        tu_usage(20, ROUTE_TO_EXTERNAL, "openai", "gpt-4o", 1000, 100, 0.0035),
        tu_usage(30, ROUTE_TO_HYBRID, "openai", "gpt-4o", 500, 50, 0.00175),
        tu_usage(40, ROUTE_TO_EXTERNAL, "acme", "acme-1", 10, 10, -1),
        tu_usage(50, ROUTE_TO_EMBEDDED, "", "phi-2", 1000000, 0, 0),
        tu_usage(5, ROUTE_TO_EXTERNAL, "openai", "gpt-4o", 1, 1, 100), /* before the period */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) tu_append(path, &rows[i]);
    route_cost_report r;
    assert_int_equal(route_costs_analyze(cfg, path, 10, 100, &r, err, sizeof err), ROUTE_OK);
    assert_int_equal(r.n_rows, 4);
    assert_true(r.total_cost > 0.00874 && r.total_cost < 0.00876);
    assert_int_equal(r.local_requests, 1);
    assert_true(r.savings_known);
    assert_true(r.local_savings == 2.5);
    assert_int_equal(r.rows[0].requests, 2);
    assert_string_equal(r.rows[0].model, "gpt-4o");
    assert_int_equal(r.rows[3].target, ROUTE_TO_EMBEDDED);
    bool unpriced = false;
    for (size_t i = 0; i < r.n_rows; i++) unpriced |= r.rows[i].unpriced == 1;
    assert_true(unpriced);
    route_cost_report_free(&r);
    char lp[512];
    assert_int_equal(route_ledger_path(cfg, lp, sizeof lp, err, sizeof err), ROUTE_OK);
    assert_string_equal(lp, "./.rhema/ai/usage.log");
    route_config_free(cfg);
}

static void test_state(void **state)
{
    char path[256];
    tu_ledger(path, sizeof path, "rhema-ledger");
    int64_t now = 1700000000; /* 22:13 UTC */
    route_usage rows[] = {
        tu_usage(now - 100, ROUTE_TO_EMBEDDED, "", "m", 1, 1, 0),
        tu_usage(now - 200, ROUTE_TO_EMBEDDED, "", "m", 1, 1, 0),
        tu_usage(now - 300, ROUTE_TO_EXTERNAL, "openai", "gpt-4o", 1, 1, 0.5),
        tu_usage(now - 85000, ROUTE_TO_EXTERNAL, "openai", "gpt-4o", 1, 1, 0.25), /* yesterday (UTC) */
        tu_usage(now - 90000, ROUTE_TO_EXTERNAL, "openai", "gpt-4o", 1, 1, 0.25), /* older than a day */
    };
    rows[0].ms = 1000;
    rows[1].ms = 3000;
    rows[2].ms = 700;
    rows[3].ms = 900;
    rows[4].ms = 99999;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) tu_append(path, &rows[i]);
    /* An old-format record without a latency still counts its cost. */
    FILE *f = fopen(path, "a");
    fputs("R1 1699999000 external openai gpt-4o 1 1 0.125000000 25d69c2e\n", f);
    fclose(f);
    route_state st = {.embedded_accuracy = 0.9};
    assert_int_equal(route_ledger_state(path, now, &st, err, sizeof err), ROUTE_OK);
    assert_true(st.spent_today == 0.625);
    assert_true(st.embedded_ms == 2000);
    assert_true(st.external_ms == 800);
    assert_true(st.embedded_accuracy == 0.9);
}

/* Cached answers count as requests at no cost with what they saved;
 * failed calls count apart and never as latency; R2 lines still read. */
static void test_cached_and_failed(void **state)
{
    char path[256];
    tu_ledger(path, sizeof path, "rhema-ledger");
    static const char yaml[] = "ai_service:\n  external:\n    base_url: https://api.openai.com\n    models: [gpt-4o]\n";
    route_config *cfg;
    assert_int_equal(tu_config(yaml, &cfg), 0);
    route_usage rows[] = {
        tu_usage(10, ROUTE_TO_EXTERNAL, "openai", "gpt-4o", 1000, 100, 0.0035),
        tu_usage(20, ROUTE_TO_EXTERNAL, "openai", "gpt-4o", 1000, 100, 0),     /* cached */
        tu_usage(30, ROUTE_TO_EMBEDDED, "", "phi-2", 1000000, 0, 0),           /* cached */
        tu_usage(40, ROUTE_TO_EXTERNAL, "openai", "gpt-4o", 0, 0, 0),          /* failed */
    };
    rows[0].ms = 100;
    rows[1].cached = rows[2].cached = true;
    rows[3].failed = true;
    rows[3].ms = 30000;
    for (size_t i = 0; i < 4; i++) tu_append(path, &rows[i]);
    FILE *f = fopen(path, "a");
    fputs("R2 50 embedded - phi-2 10 10 0.000000000 40 7d4f2ad4\n", f); /* a bad checksum: skipped */
    fclose(f);
    route_cost_report r;
    assert_int_equal(route_costs_analyze(cfg, path, 0, 100, &r, err, sizeof err), ROUTE_OK);
    assert_int_equal(r.cached_requests, 2);
    assert_int_equal(r.failed_requests, 1);
    assert_true(r.cached_savings_known);
    assert_true(r.cached_savings > 2.5034 && r.cached_savings < 2.5036); /* gpt-4o's own price + 1M tokens at the reference */
    assert_true(r.total_cost > 0.00349 && r.total_cost < 0.00351);
    assert_int_equal(r.local_requests, 0);
    assert_int_equal(r.bad_lines, 1);
    for (size_t i = 0; i < r.n_rows; i++) {
        if (r.rows[i].target != ROUTE_TO_EXTERNAL) continue;
        assert_int_equal(r.rows[i].requests, 2);
        assert_int_equal(r.rows[i].cached, 1);
        assert_int_equal(r.rows[i].failed, 1);
        assert_int_equal(r.rows[i].in_tokens, 1000);
        assert_int_equal(r.rows[i].timed, 1);
    }
    route_cost_report_free(&r);
    route_state st = {0};
    assert_int_equal(route_ledger_state(path, 100, &st, err, sizeof err), ROUTE_OK);
    assert_true(st.external_ms == 100);
    route_config_free(cfg);
}

static route_config *openai_config(void)
{
    static const char yaml[] = "ai_service:\n  external:\n    base_url: https://api.openai.com\n    models: [gpt-4o]\n";
    route_config *cfg;
    assert_int_equal(tu_config(yaml, &cfg), 0);
    return cfg;
}

static bool near(double a, double b) { return a > b - 1e-9 && a < b + 1e-9; }

/* A month of the medium profile on gpt-4o ($2.5 / $10 per 1M): from the
 * hybrid strategy's tier mix, then from the share the ledger measured. */
static void test_project(void **state)
{
    char path[256];
    tu_ledger(path, sizeof path, "rhema-ledger");
    route_config *cfg = openai_config();
    const route_usage_profile *prof = route_usage_profile_find("medium");
    assert_non_null(prof);
    assert_null(route_usage_profile_find("huge"));
    route_projection pr;
    assert_int_equal(route_costs_project(cfg, path, 100 * 86400, prof, &pr, err, sizeof err), ROUTE_OK);
    assert_false(pr.share_from_ledger);
    assert_true(pr.cost_known);
    assert_string_equal(pr.ref_model, "gpt-4o");
    assert_true(near(pr.monthly_requests, 15000));
    assert_true(near(pr.all_external_usd, 90));     /* 15000 x (800 x 2.5 + 400 x 10) / 1M */
    assert_true(near(pr.routed_usd, 50.25));        /* 15 % external, 35 % hybrid with the draft sent */
    assert_true(near(pr.savings_usd, 39.75));
    for (int i = 0; i < 20; i++) {
        route_usage u = tu_usage(100 * 86400 - 10 - i, i < 5 ? ROUTE_TO_EXTERNAL : ROUTE_TO_EMBEDDED, i < 5 ? "openai" : "",
                              i < 5 ? "gpt-4o" : "phi-2", 10, 10, i < 5 ? 0.001 : 0);
        tu_append(path, &u);
    }
    assert_int_equal(route_costs_project(cfg, path, 100 * 86400, prof, &pr, err, sizeof err), ROUTE_OK);
    assert_true(pr.share_from_ledger);
    assert_int_equal(pr.ledger_requests, 20);
    assert_true(near(pr.external_share, 0.25));
    assert_true(near(pr.routed_usd, 22.5));
    route_config_free(cfg);
}

/* Ten external requests of 1000..10000 prompt tokens costing $0.001..0.010
 * over three days. */
static void test_optimize(void **state)
{
    char path[256];
    tu_ledger(path, sizeof path, "rhema-ledger");
    route_config *cfg = openai_config();
    route_optimize_plan pl;
    assert_int_equal(route_costs_optimize(cfg, path, 0, 10 * 86400, ROUTE_STRAT_HYBRID, &pl, err, sizeof err), ROUTE_OK);
    assert_int_equal(pl.external_requests, 0);
    assert_int_equal(pl.moved_requests, 0);
    assert_int_equal(pl.rec_simple_max_tokens, pl.simple_max_tokens);
    for (int i = 1; i <= 10; i++) {
        int64_t day = i <= 5 ? 0 : i <= 9 ? 1 : 2;
        route_usage u = tu_usage(86400 + day * 86400 + i, ROUTE_TO_EXTERNAL, "openai", "gpt-4o", (uint64_t)i * 1000, 10, i * 0.001);
        tu_append(path, &u);
    }
    route_usage cached = tu_usage(86400, ROUTE_TO_EXTERNAL, "openai", "gpt-4o", 2500, 10, 0);
    cached.cached = true; /* cost nothing: not a request to move */
    tu_append(path, &cached);
    assert_int_equal(route_costs_optimize(cfg, path, 0, 10 * 86400, ROUTE_STRAT_HYBRID, &pl, err, sizeof err), ROUTE_OK);
    assert_int_equal(pl.external_requests, 10);
    assert_true(near(pl.external_usd, 0.055));
    assert_int_equal(pl.rec_simple_max_tokens, 4096 - 512); /* the median, 5000, capped by the context */
    assert_true(near(pl.rec_max_cost_per_request, 0.010));
    assert_true(pl.rec_max_daily_cost >= 0.036 && pl.rec_max_daily_cost <= 0.04);
    assert_int_equal(pl.moved_requests, 3); /* 1000, 2000, 3000 tokens */
    assert_true(near(pl.moved_usd, 0.006));
    assert_true(pl.days > 1.99 && pl.days < 2.01);
    assert_true(pl.monthly_saving_usd > 0.0899 && pl.monthly_saving_usd < 0.0901);
    assert_int_equal(pl.n_why, 3);
    assert_int_equal(route_costs_optimize(cfg, path, 0, 10 * 86400, ROUTE_STRAT_COST, &pl, err, sizeof err), ROUTE_OK);
    assert_true(near(pl.rec_max_cost_per_request, 0.005));
    assert_int_equal(pl.moved_requests, 8); /* 3 by size, 5 dearer than the median */
    assert_true(near(pl.moved_usd, 0.046));
    assert_int_equal(route_costs_optimize(cfg, path, 0, 10, ROUTE_STRAT_LATENCY, &pl, err, sizeof err), ROUTE_ERR_ARG);
    assert_string_equal(err, "optimize supports the hybrid and cost strategies, not latency");
    route_config_free(cfg);
}

static void test_service_stats(void **state)
{
    char path[256];
    tu_ledger(path, sizeof path, "rhema-ledger");
    for (int i = 1; i <= 100; i++) {
        route_usage u = tu_usage(1000 + i, ROUTE_TO_EMBEDDED, "", "phi-2", 10, 20, 0);
        u.ms = i;
        tu_append(path, &u);
    }
    route_usage ext[] = {
        tu_usage(2000, ROUTE_TO_EXTERNAL, "openai", "gpt-4o", 100, 50, 0.01),
        tu_usage(2001, ROUTE_TO_HYBRID, "openai", "gpt-4o", 100, 50, 0.01),
        tu_usage(2002, ROUTE_TO_EXTERNAL, "openai", "gpt-4o", 100, 50, 0),
        tu_usage(2003, ROUTE_TO_EXTERNAL, "openai", "gpt-4o", 0, 0, 0),
        tu_usage(9000, ROUTE_TO_EXTERNAL, "openai", "gpt-4o", 1, 1, 5), /* after the period */
    };
    ext[0].ms = 200;
    ext[1].ms = 400;
    ext[2].cached = true;
    ext[3].failed = true;
    ext[3].ms = 30000;
    for (size_t i = 0; i < 5; i++) tu_append(path, &ext[i]);
    route_service_stats st;
    assert_int_equal(route_service_stats_read(path, 0, 5000, &st, err, sizeof err), ROUTE_OK);
    assert_int_equal(st.embedded.requests, 100);
    assert_int_equal(st.embedded.successes, 100);
    assert_int_equal(st.embedded.timed, 100);
    assert_true(st.embedded.p50_ms == 50 && st.embedded.p95_ms == 95 && st.embedded.p99_ms == 99);
    assert_true(st.embedded.mean_ms == 50.5);
    assert_true(st.embedded.out_tokens_per_s > 395.9 && st.embedded.out_tokens_per_s < 396.1); /* 2000 tokens in 5.05 s */
    assert_int_equal(st.external.requests, 4);
    assert_int_equal(st.external.successes, 3);
    assert_int_equal(st.external.failures, 1);
    assert_int_equal(st.external.cache_hits, 1);
    assert_int_equal(st.external.cache_misses, 3);
    assert_int_equal(st.external.in_tokens, 200);
    assert_true(st.external.cost > 0.0199 && st.external.cost < 0.0201);
    assert_true(st.external.p50_ms == 200 && st.external.p99_ms == 400); /* the failure's 30 s is not a latency */
    assert_int_equal(route_service_stats_read(path, 0, 0, &st, err, sizeof err), ROUTE_OK);
    assert_int_equal(st.embedded.requests + st.external.requests, 0);
}

static void first_line(const char *path, char *out, size_t n)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(out, (int)n, f));
    fclose(f);
}

/* An embedded call's load time and memory ride on an M1 line after its
 * record: the record line itself is what older readers know, a damaged M1
 * line loses only the measurements, and the analysis reports per model. */
static void test_metrics(void **state)
{
    char path[256], plain[256], line[600], line2[600];
    tu_ledger(path, sizeof path, "rhema-ledger");
    tu_ledger(plain, sizeof plain, "rhema-ledger");
    route_usage u = tu_usage(100, ROUTE_TO_EMBEDDED, "", "phi-2", 10, 20, 0);
    u.ms = 900;
    tu_append(plain, &u);
    u.load_ms = 250.5;
    u.peak_rss = 3u << 20;
    u.model_bytes = 2u << 20;
    u.kv_bytes = 1u << 18;
    tu_append(path, &u);
    first_line(plain, line, sizeof line);
    first_line(path, line2, sizeof line2);
    assert_string_equal(line, line2);
    u.load_ms = 0; /* the model was open already: memory only */
    u.peak_rss = 4u << 20;
    u.ms = 100;
    tu_append(path, &u);
    u.load_ms = 749.5;
    u.ms = 2000;
    tu_append(path, &u);
    route_usage x = tu_usage(110, ROUTE_TO_EXTERNAL, "openai", "gpt-4o", 10, 20, 0.01);
    tu_append(path, &x);
    char *text;
    size_t len;
    FILE *f = fopen(path, "r");
    text = calloc(1, 4096);
    len = fread(text, 1, 4095, f);
    fclose(f);
    assert_true(len > 0);
    char check[9];
    memcpy(check, strchr(line, '\n') - 8, 8);
    check[8] = 0;
    char want[64];
    snprintf(want, sizeof want, "\nM1 %s 250.5 3145728 2097152 262144 ", check);
    char *mline = strstr(text, want);
    assert_non_null(mline);
    char orphan[200];
    snprintf(orphan, sizeof orphan, "%.*s", (int)(strchr(mline + 1, '\n') - mline), mline + 1); /* without its newline */
    assert_non_null(strstr(text, " 2097152 262144 ")); /* the second one, with "-" for no load */
    free(text);

    size_t bad = 9;
    tu_tally m = tu_read(path, 0, &bad);
    assert_int_equal(m.n, 4);
    assert_int_equal(m.measured, 3);
    assert_true(m.load_ms == 1000);
    assert_int_equal(bad, 0);

    static const char yaml[] = "ai_service:\n  embedded: {model_type: phi-2}\n";
    route_config *cfg;
    assert_int_equal(tu_config(yaml, &cfg), 0);
    route_cost_report r;
    assert_int_equal(route_costs_analyze(cfg, path, 0, 1000, &r, err, sizeof err), ROUTE_OK);
    const route_cost_row *e = NULL;
    for (size_t i = 0; i < r.n_rows; i++)
        if (r.rows[i].target == ROUTE_TO_EMBEDDED) e = &r.rows[i];
    assert_non_null(e);
    assert_int_equal(e->loads, 2);
    assert_true(e->load_p50_ms == 250.5 && e->load_max_ms == 749.5);
    assert_true(e->peak_rss == 4u << 20 && e->model_bytes == 2u << 20 && e->kv_bytes == 1u << 18);
    assert_true(e->p50_ms == 900);
    route_cost_report_free(&r);
    route_config_free(cfg);

    /* A flipped byte in an M1 line: the record stays, unmeasured; a sound
     * M1 line after a damaged record (another record's) is ignored. */
    tu_ledger(path, sizeof path, "rhema-ledger");
    u.load_ms = 10;
    tu_append(path, &u);
    f = fopen(path, "r+");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    long at = ftell(f);
    fseek(f, at + 3, SEEK_SET);
    fputc('X', f);
    fclose(f);
    f = fopen(path, "a");
    fprintf(f, "R3 120 embedded - phi-2 1 1 0.000000000 5 - 00000000\n%s\n", orphan);
    fclose(f);
    m = tu_read(path, 0, &bad);
    assert_int_equal(m.n, 1);
    assert_int_equal(m.measured, 0);
    assert_int_equal(bad, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_torn_record),
        cmocka_unit_test(test_concurrent_writers), cmocka_unit_test(test_kill9_loop),
        cmocka_unit_test(test_costs_analyze), cmocka_unit_test(test_state), cmocka_unit_test(test_cached_and_failed),
        cmocka_unit_test(test_project), cmocka_unit_test(test_optimize), cmocka_unit_test(test_service_stats),
        cmocka_unit_test(test_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
