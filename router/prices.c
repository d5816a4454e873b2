/* Model prices in USD per 1M tokens. The built-in table holds the list
 * prices OpenAI and Anthropic publish for their current models; a config's
 * ai_service.pricing overrides any entry. An unknown model has no price:
 * callers must treat that as "cannot check the budget", never as free. */
#include "router/internal.h"

#include <string.h>

static const route_price builtin[] = {
    {"openai", "gpt-5", 1.25, 10.00},
    {"openai", "gpt-5-mini", 0.25, 2.00},
    {"openai", "gpt-5-nano", 0.05, 0.40},
    {"openai", "gpt-4.1", 2.00, 8.00},
    {"openai", "gpt-4.1-mini", 0.40, 1.60},
    {"openai", "gpt-4.1-nano", 0.10, 0.40},
    {"openai", "gpt-4o", 2.50, 10.00},
    {"openai", "gpt-4o-mini", 0.15, 0.60},
    {"openai", "o1", 15.00, 60.00},
    {"openai", "o1-mini", 1.10, 4.40},
    {"openai", "o3", 2.00, 8.00},
    {"openai", "o3-mini", 1.10, 4.40},
    {"openai", "o4-mini", 1.10, 4.40},
    {"openai", "gpt-4-turbo", 10.00, 30.00},
    {"openai", "gpt-4", 30.00, 60.00},
    {"openai", "gpt-3.5-turbo", 0.50, 1.50},
    {"anthropic", "claude-opus-4-5", 5.00, 25.00},
    {"anthropic", "claude-opus-4-1", 15.00, 75.00},
    {"anthropic", "claude-opus-4", 15.00, 75.00},
    {"anthropic", "claude-sonnet-4-5", 3.00, 15.00},
    {"anthropic", "claude-sonnet-4", 3.00, 15.00},
    {"anthropic", "claude-haiku-4-5", 1.00, 5.00},
    {"anthropic", "claude-3-7-sonnet", 3.00, 15.00},
    {"anthropic", "claude-3-5-sonnet", 3.00, 15.00},
    {"anthropic", "claude-3-5-haiku", 0.80, 4.00},
    {"anthropic", "claude-3-opus", 15.00, 75.00},
    {"anthropic", "claude-3-sonnet", 3.00, 15.00},
    {"anthropic", "claude-3-haiku", 0.25, 1.25},
};

const route_price *route_builtin_prices(size_t *n)
{
    if (n) *n = sizeof builtin / sizeof builtin[0];
    return builtin;
}

/* How much of model the entry names: its length when the entry is the
 * model or a prefix followed by a dated/suffixed variant ("gpt-4o" for
 * "gpt-4o-2024-08-06"), else 0. */
static size_t match_len(const char *entry, const char *model)
{
    size_t n = strlen(entry);
    if (strncmp(entry, model, n)) return 0;
    return model[n] == 0 || model[n] == '-' || model[n] == '@' ? n : 0;
}

static const route_price *best_in(const route_price *table, size_t count, const char *provider, const char *model)
{
    const route_price *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < count; i++) {
        if (provider && strcmp(table[i].provider, provider)) continue;
        size_t len = match_len(table[i].model, model);
        if (len > best_len) {
            best_len = len;
            best = &table[i];
        }
    }
    return best;
}

bool route_price_lookup(const route_config *cfg, const char *provider, const char *model, double *in_per_mtok,
                        double *out_per_mtok)
{
    if (!model) return false;
    const route_price *p = cfg ? best_in(cfg->prices, cfg->n_prices, provider, model) : NULL;
    if (!p) p = best_in(builtin, sizeof builtin / sizeof builtin[0], provider, model);
    if (!p) return false;
    if (in_per_mtok) *in_per_mtok = p->input_per_mtok;
    if (out_per_mtok) *out_per_mtok = p->output_per_mtok;
    return true;
}

double route_cost(double in_per_mtok, double out_per_mtok, uint64_t in_tokens, uint64_t out_tokens)
{
    return ((double)in_tokens * in_per_mtok + (double)out_tokens * out_per_mtok) / 1e6;
}
