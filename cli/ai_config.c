/* Helpers shared by the `rhema ai` commands built on the router. */
#include "cli/ai_config.h"

#include "cli/cli.h"

#include <stdio.h>

int cli_ai_config_load(const char *explicit_path, route_config **cfg)
{
    char path[4096], err[1024];
    if (route_config_find(explicit_path, path, sizeof path, err, sizeof err) ||
        route_config_load(path[0] ? path : NULL, cfg, err, sizeof err)) {
        fprintf(stderr, "rhema: %s\n", err);
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

int cli_ai_json_print(net_jw *w, net_buf *out)
{
    char err[256];
    int rc = net_jw_finish(w, err, sizeof err);
    if (rc == 0) printf("%s\n", out->data);
    else fprintf(stderr, "rhema: cannot write JSON: %s\n", err);
    net_buf_free(out);
    return rc ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

void cli_ai_json_kv(net_jw *w, const char *key, const char *value)
{
    net_jw_key(w, key);
    if (value) net_jw_str(w, value);
    else net_jw_null(w);
}

void cli_ai_json_kd(net_jw *w, const char *key, double value)
{
    net_jw_key(w, key);
    net_jw_double(w, value);
}
