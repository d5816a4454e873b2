/* --model NAME|PATH: a GGUF file, or a model installed in the store. */
#include "cli/cli.h"
#include "router/router.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int cli_model_file(const char *arg, char *out, size_t n, char *err, size_t errlen)
{
    struct stat st;
    route_store *s;
    route_installed m;
    if (stat(arg, &st) == 0 || strchr(arg, '/')) {
        snprintf(out, n, "%s", arg);
        return 0;
    }
    int rc = route_store_open(NULL, &s, err, errlen);
    if (rc)
        return rc;
    rc = route_store_get(s, arg, &m, NULL, 0);
    if (rc)
        snprintf(err, errlen, "no file %s, and no installed model of that name (see 'rhema ai models list')",
                 arg);
    else
        rc = route_store_path(s, &m, out, n, err, errlen);
    route_store_close(s);
    return rc;
}
