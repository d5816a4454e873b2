/* Helpers shared by the router's test programs: configurations, ledger
 * records and what a ledger holds. Apart from tests/testutil.h because
 * they need the router library, which the other modules' tests don't link. */
#ifndef RHEMA_TESTS_ROUTEUTIL_H
#define RHEMA_TESTS_ROUTEUTIL_H

#include "router/router.h"

/* The configuration in yaml (named t.yaml) into *cfg: 0, or -1 with the
 * error on stderr; fits a cmocka setup. */
int tu_config(const char *yaml, route_config **cfg);

/* path = a new empty folder /tmp/PREFIX-XXXXXX + /.rhema/ai/usage.log, the
 * ledger's place beside a project's configuration (fails the test when the
 * folder cannot be made). */
void tu_ledger(char *path, size_t n, const char *prefix);

/* A record answered at t; a cost below 0 is unknown. */
route_usage tu_usage(int64_t t, route_target target, const char *provider, const char *model, uint64_t in,
                     uint64_t out, double cost);

/* Append u to the ledger at path; fails the test on error. */
void tu_append(const char *path, const route_usage *u);

/* What the ledger's records since a time add up to. */
typedef struct tu_tally {
    size_t n, failed;
    size_t measured; /* records with a load time or memory */
    uint64_t in_tokens;
    double cost, load_ms;
    uint64_t peak_rss, model_bytes, kv_bytes; /* the last measured record's */
} tu_tally;

/* Read the ledger at path from since; *bad (may be NULL) counts damaged
 * lines. Fails the test on error. */
tu_tally tu_read(const char *path, int64_t since, size_t *bad);

#endif
