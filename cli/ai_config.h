/* Shared by the `rhema ai` commands that read .rhema/ai-config.yaml. */
#ifndef RHEMA_CLI_AI_CONFIG_H
#define RHEMA_CLI_AI_CONFIG_H

#include "cli/cli.h"
#include "net/net.h"
#include "router/router.h"

/* Find (--config, $RHEMA_AI_CONFIG, ./.rhema, ~/.rhema) and load the
 * configuration; prints the error and returns CLI_EXIT_FAIL on failure. */
int cli_ai_config_load(const char *explicit_path, route_config **cfg);

/* Check --period (day, week or month), load the configuration and find its
 * ledger; [*since, *now] is the period. On failure prints why and returns
 * the exit code. */
int cli_ai_ledger_open(const cli_cmd *cmd, const char *config, const char *period, route_config **cfg, char *ledger,
                       size_t ledgerlen, int64_t *since, int64_t *now);

/* --config, as every command that reads the ledger spells it. */
#define CLI_OPT_LEDGER_CONFIG(var) \
    {"config", 'c', CLI_STR, &(var), "FILE  ai-config.yaml; the ledger is .rhema/ai/usage.log beside it"}

/* Print err, free *cfg and return CLI_EXIT_FAIL: a ledger command's failure. */
int cli_ai_ledger_failed(route_config **cfg, const char *err);

/* Load the configuration and aggregate its ledger over the last --period
 * (day, week or month); on failure prints why and returns the exit code. */
int cli_ai_ledger_report(const cli_cmd *cmd, const char *config, const char *period, route_config **cfg,
                         route_cost_report *r, char *ledger, size_t ledgerlen);

/* A JSON document for stdout: write it through cli_ai_json_begin's writer,
 * then cli_ai_json_print prints it (or the writer's error) and frees it. */
typedef struct cli_json {
    net_buf out;
    net_jw w;
} cli_json;

net_jw *cli_ai_json_begin(cli_json *doc);
int cli_ai_json_print(cli_json *doc);

/* "key": "value" / "key": number, for the JSON printers. */
void cli_ai_json_kv(net_jw *w, const char *key, const char *value);
void cli_ai_json_kd(net_jw *w, const char *key, double value);
void cli_ai_json_ki(net_jw *w, const char *key, int64_t value);
void cli_ai_json_kb(net_jw *w, const char *key, bool value);

/* "key": text with invalid UTF-8 replaced (NULL: null). */
void cli_ai_json_text(net_jw *w, const char *key, const char *text);

#endif
