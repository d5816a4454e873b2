/* Helpers shared by the `rhema ai` commands built on the router. */
#include "cli/ai_config.h"

#include "cli/cli.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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

int cli_ai_ledger_open(const cli_cmd *cmd, const char *config, const char *period, route_config **cfg, char *ledger,
                       size_t ledgerlen, int64_t *since, int64_t *now)
{
    int64_t days = !strcmp(period, "day") ? 1 : !strcmp(period, "week") ? 7 : !strcmp(period, "month") ? 30 : 0;
    if (!days) return cli_usage_error(cmd, "--period must be day, week or month, not '%s'", period);
    int rc = cli_ai_config_load(config, cfg);
    if (rc) return rc;
    char err[1024];
    *now = (int64_t)time(NULL);
    *since = *now - days * 86400;
    if (route_ledger_path(*cfg, ledger, ledgerlen, err, sizeof err)) return cli_ai_ledger_failed(cfg, err);
    return CLI_EXIT_OK;
}

int cli_ai_ledger_failed(route_config **cfg, const char *err)
{
    fprintf(stderr, "rhema: %s\n", err);
    route_config_free(*cfg);
    *cfg = NULL;
    return CLI_EXIT_FAIL;
}

int cli_ai_ledger_report(const cli_cmd *cmd, const char *config, const char *period, route_config **cfg,
                         route_cost_report *r, char *ledger, size_t ledgerlen)
{
    int64_t since = 0, now = 0;
    char err[1024];
    int rc = cli_ai_ledger_open(cmd, config, period, cfg, ledger, ledgerlen, &since, &now);
    if (rc) return rc;
    if (route_costs_analyze(*cfg, ledger, since, now, r, err, sizeof err)) return cli_ai_ledger_failed(cfg, err);
    return CLI_EXIT_OK;
}

net_jw *cli_ai_json_begin(cli_json *doc)
{
    net_buf_init(&doc->out);
    net_jw_init(&doc->w, &doc->out);
    return &doc->w;
}

int cli_ai_json_print(cli_json *doc)
{
    char err[256];
    int rc = net_jw_finish(&doc->w, err, sizeof err);
    if (rc == 0) printf("%s\n", doc->out.data);
    else fprintf(stderr, "rhema: cannot write JSON: %s\n", err);
    net_buf_free(&doc->out);
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

void cli_ai_json_ki(net_jw *w, const char *key, int64_t value)
{
    net_jw_key(w, key);
    net_jw_int(w, value);
}

void cli_ai_json_kb(net_jw *w, const char *key, bool value)
{
    net_jw_key(w, key);
    net_jw_bool(w, value);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80 ? 1 : (s[0] >> 5) == 6 ? 2 : (s[0] >> 4) == 14 ? 3 : (s[0] >> 3) == 30 ? 4 : 0;
    if (!len || len > n) return 0;
    uint32_t cp = len == 1 ? s[0] : s[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    bool ok = cp >= min[len] && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
    return ok ? len : 0;
}

void cli_ai_json_text(net_jw *w, const char *key, const char *text)
{
    net_jw_key(w, key);
    if (!text) {
        net_jw_null(w);
        return;
    }
    /* Model output may hold broken UTF-8: each bad byte becomes U+FFFD. */
    net_buf b;
    net_buf_init(&b);
    const unsigned char *p = (const unsigned char *)text;
    size_t n = strlen(text);
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq(p + i, n - i);
        net_buf_append(&b, len ? text + i : "\xef\xbf\xbd", len ? len : 3);
        i += len ? len : 1;
    }
    net_jw_strn(w, b.data ? b.data : "", b.len);
    net_buf_free(&b);
}
