/* rhema ai service config --show | --update FILE */
#include "cli/ai_config.h"
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

static int show(const route_config *cfg, bool json)
{
    if (json) {
        cli_json doc;
        net_jw *w = cli_ai_json_begin(&doc);
        net_jw_obj_begin(w);
        cli_ai_json_kv(w, "path", cfg->path);
        net_jw_key(w, "settings");
        net_jw_arr_begin(w);
        for (size_t i = 0; i < cfg->n_settings; i++) {
            net_jw_obj_begin(w);
            cli_ai_json_kv(w, "key", cfg->settings[i].key);
            cli_ai_json_kv(w, "value", cfg->settings[i].value);
            cli_ai_json_kv(w, "origin", cfg->settings[i].origin);
            net_jw_obj_end(w);
        }
        net_jw_arr_end(w);
        net_jw_obj_end(w);
        return cli_ai_json_print(&doc);
    }
    printf("configuration: %s\n", cfg->path ? cfg->path : "(none found: built-in defaults, embedded only)");
    size_t width = 0;
    for (size_t i = 0; i < cfg->n_settings; i++)
        if (strlen(cfg->settings[i].key) > width) width = strlen(cfg->settings[i].key);
    for (size_t i = 0; i < cfg->n_settings; i++)
        printf("%-*s = %s  [%s]\n", (int)width, cfg->settings[i].key, cfg->settings[i].value, cfg->settings[i].origin);
    return CLI_EXIT_OK;
}

static int run_config(const cli_cmd *cmd, int argc, char **argv)
{
    bool do_show = false, json = false;
    const char *update = NULL, *config = NULL;
    const cli_opt opts[] = {
        {"show", 's', CLI_FLAG, &do_show, "print every effective value and where it came from (default)"},
        {"update", 'u', CLI_STR, &update, "FILE  validate FILE, then replace the configuration with it atomically"},
        {"config", 'c', CLI_STR, &config, "FILE  the configuration to show or replace (default: search)"},
        {"json", 0, CLI_FLAG, &json, "--show as one JSON object"},
    };
    int rc = cli_parse(cmd, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (rc) return rc;
    char err[1024];
    if (update) {
        char dst[4096];
        /* Replace the file in use; with none, create the project's one. */
        if (config) snprintf(dst, sizeof dst, "%s", config);
        else if (route_config_find(NULL, dst, sizeof dst, err, sizeof err)) dst[0] = 0;
        if (!dst[0]) snprintf(dst, sizeof dst, ".rhema/ai-config.yaml");
        if (route_config_update(update, dst, err, sizeof err)) {
            fprintf(stderr, "rhema: %s\nrhema: %s left unchanged\n", err, dst);
            return CLI_EXIT_FAIL;
        }
        fprintf(stderr, "rhema: %s replaced with %s\n", dst, update);
        if (!do_show) return CLI_EXIT_OK;
        config = dst;
    }
    route_config *cfg;
    if ((rc = cli_ai_config_load(config, &cfg))) return rc;
    rc = show(cfg, json);
    route_config_free(cfg);
    return rc;
}

const cli_cmd cli_cmd_service_config = {"ai service config", "[--show] [--update FILE] [--config FILE] [--json]",
                                        "show the AI configuration (secrets masked, with origins) or replace it",
                                        run_config};
