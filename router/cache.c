/* Exact-match answer cache: a key is the whole request (route, provider,
 * model, full prompt), compared byte for byte, so a cached answer is never
 * served for a merely similar question. */
#include "router/internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    char *key;
    char *text;
    int64_t expires_ms;
    uint64_t used; /* for least-recently-used eviction */
} entry;

struct route_cache {
    entry *e;
    size_t n, max;
    uint64_t tick;
};

route_cache *route_cache_new(size_t max_entries)
{
    route_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->max = max_entries ? max_entries : 1;
    if (!(c->e = calloc(c->max, sizeof *c->e))) {
        free(c);
        return NULL;
    }
    return c;
}

void route_cache_free(route_cache *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->e[i].key);
        free(c->e[i].text);
    }
    free(c->e);
    free(c);
}

const char *route_cache_get(route_cache *c, const char *key, int64_t now_ms)
{
    for (size_t i = 0; c && i < c->n; i++) {
        entry *e = &c->e[i];
        if (e->expires_ms > now_ms && !strcmp(e->key, key)) {
            e->used = ++c->tick;
            return e->text;
        }
    }
    return NULL;
}

int route_cache_put(route_cache *c, const char *key, const char *text, int64_t now_ms, int64_t ttl_ms)
{
    if (!c || ttl_ms <= 0) return ROUTE_OK;
    char *k = strdup(key), *t = strdup(text);
    if (!k || !t) {
        free(k);
        free(t);
        return ROUTE_ERR_NOMEM;
    }
    /* Reuse the same key or an expired entry, else grow, else evict the
     * least recently used. */
    size_t slot = SIZE_MAX;
    for (size_t i = 0; i < c->n && slot == SIZE_MAX; i++)
        if (!strcmp(c->e[i].key, key) || c->e[i].expires_ms <= now_ms) slot = i;
    if (slot == SIZE_MAX && c->n < c->max) slot = c->n++;
    if (slot == SIZE_MAX) {
        slot = 0;
        for (size_t i = 1; i < c->n; i++)
            if (c->e[i].used < c->e[slot].used) slot = i;
    }
    entry *e = &c->e[slot];
    free(e->key);
    free(e->text);
    *e = (entry){k, t, now_ms + ttl_ms, ++c->tick};
    return ROUTE_OK;
}
