/* libFuzzer: any bytes as $RHEMA_HOME/registry.yaml (first byte even) or
 * as models/manifest.json (odd): opening, listing and looking up must
 * give a result or a message, never a crash. */
#include "router/router.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void put(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
}

static char home[64];

/* Leave no temporary home behind when the run ends. */
static void cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
    if (system(cmd) != 0)
        return;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char reg[128], man[128], err[512];
    if (!home[0]) {
        snprintf(home, sizeof home, "/tmp/rhema-fuzz-store-XXXXXX");
        if (!mkdtemp(home))
            abort();
        snprintf(man, sizeof man, "%s/models", home);
        if (mkdir(man, 0755))
            abort();
        atexit(cleanup);
    }
    snprintf(reg, sizeof reg, "%s/registry.yaml", home);
    snprintf(man, sizeof man, "%s/models/manifest.json", home);
    remove(reg);
    remove(man);
    if (size == 0)
        return 0;
    put(data[0] & 1 ? man : reg, data + 1, size - 1);
    route_store *s = NULL;
    if (route_store_open(home, &s, err, sizeof err) == ROUTE_OK) {
        const route_catalog *c = route_store_catalog(s);
        for (size_t i = 0; i < route_catalog_count(c); i++)
            route_catalog_find(c, route_catalog_get(c, i)->name, NULL);
        route_installed *v = NULL, m;
        size_t n = 0;
        if (route_store_list(s, &v, &n, err, sizeof err) == ROUTE_OK && n)
            route_store_get(s, v[0].name, &m, err, sizeof err);
        free(v);
        route_store_close(s);
    }
    return 0;
}
