#include "tests/router/routeutil.h"
#include "tests/testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static char err[1024];

int tu_config(const char *yaml, route_config **cfg)
{
    if (route_config_load_mem(yaml, strlen(yaml), "t.yaml", cfg, err, sizeof err) == ROUTE_OK) return 0;
    fprintf(stderr, "%s\n", err);
    return -1;
}

void tu_ledger(char *path, size_t n, const char *prefix)
{
    assert_non_null(tu_temp_file(path, n, prefix, ".rhema/ai/usage.log"));
}

route_usage tu_usage(int64_t t, route_target target, const char *provider, const char *model, uint64_t in,
                     uint64_t out, double cost)
{
    route_usage u = {.time = t, .target = target, .in_tokens = in, .out_tokens = out, .cost = cost, .cost_known = cost >= 0};
    snprintf(u.provider, sizeof u.provider, "%s", provider);
    snprintf(u.model, sizeof u.model, "%s", model);
    return u;
}

void tu_append(const char *path, const route_usage *u)
{
    if (route_ledger_append(path, u, err, sizeof err) != ROUTE_OK) fail_msg("appending to %s: %s", path, err);
}

static int add_up(void *user, const route_usage *u)
{
    tu_tally *t = user;
    t->n++;
    t->failed += u->failed;
    t->in_tokens += u->in_tokens;
    t->cost += u->cost;
    if (u->load_ms > 0 || u->peak_rss) {
        t->measured++;
        t->load_ms += u->load_ms;
        t->peak_rss = u->peak_rss;
        t->model_bytes = u->model_bytes;
        t->kv_bytes = u->kv_bytes;
    }
    return 0;
}

tu_tally tu_read(const char *path, int64_t since, size_t *bad)
{
    tu_tally t = {0};
    if (route_ledger_read(path, since, add_up, &t, bad, err, sizeof err) != ROUTE_OK) fail_msg("reading %s: %s", path, err);
    return t;
}
