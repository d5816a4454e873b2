/* The generic part of loading .rhema/ai-config.yaml: a schema walk over the
 * libyaml document tree, so every value keeps its line and column for
 * messages and for `config --show`. */
#include "router/config_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ------------------------------------------------------------- messages */

size_t route_cfg_line_of(const yaml_node_t *n) { return n->start_mark.line + 1; }
size_t route_cfg_col_of(const yaml_node_t *n) { return n->start_mark.column + 1; }

/* The column of byte i of a one-line scalar (a quote comes first). */
size_t route_cfg_col_in(const yaml_node_t *n, size_t i)
{
    bool quoted = n->type == YAML_SCALAR_NODE && (n->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                                                 n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE);
    return route_cfg_col_of(n) + (quoted ? 1 : 0) + i;
}

int route_cfg_at_col(cfg_ctx *c, const yaml_node_t *n, size_t col, int status, const char *fmt, ...)
{
    if (!c->err || !c->errlen) return status;
    int k = n ? snprintf(c->err, c->errlen, "%s:%zu:%zu: ", c->name, route_cfg_line_of(n), col)
              : snprintf(c->err, c->errlen, "%s: ", c->name);
    if (k < 0 || (size_t)k >= c->errlen) return status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + k, c->errlen - (size_t)k, fmt, ap);
    va_end(ap);
    return status;
}

const char *route_cfg_node_kind(const yaml_node_t *n)
{
    return n->type == YAML_MAPPING_NODE ? "a mapping" : n->type == YAML_SEQUENCE_NODE ? "a list" : "a value";
}

const yaml_node_t *route_cfg_node_at(cfg_ctx *c, int idx) { return yaml_document_get_node(c->doc, idx); }

bool route_cfg_is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
    const char *s = (const char *)n->data.scalar.value;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null");
}

/* The value node of key in map (NULL when absent); *keynode gets the key. */
const yaml_node_t *route_cfg_lookup(cfg_ctx *c, const yaml_node_t *map, const char *key, const yaml_node_t **keynode)
{
    if (!map || map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = route_cfg_node_at(c, p->key);
        if (k && k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key)) {
            if (keynode) *keynode = k;
            return route_cfg_node_at(c, p->value);
        }
    }
    return NULL;
}

/* ------------------------------------------------------------- settings */

char *route_cfg_dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

int route_cfg_set_setting(cfg_ctx *c, const char *value, const char *origin)
{
    route_config *cfg = c->cfg;
    route_setting *s = NULL;
    for (size_t i = 0; i < cfg->n_settings; i++)
        if (!strcmp(cfg->settings[i].key, c->path)) s = &cfg->settings[i];
    if (!s) {
        route_setting *ns = route_grow(cfg->settings, cfg->n_settings, &c->settings_cap, sizeof *ns, 64);
        if (!ns) return ROUTE_ERR_NOMEM;
        cfg->settings = ns;
        s = &cfg->settings[cfg->n_settings++];
        *s = (route_setting){route_cfg_dupstr(c->path), NULL, NULL};
    }
    free(s->value);
    free(s->origin);
    s->value = route_cfg_dupstr(value);
    s->origin = route_cfg_dupstr(origin);
    return s->key && s->value && s->origin ? ROUTE_OK : ROUTE_ERR_NOMEM;
}

/* Secrets show their shape, never enough to use. */
void route_cfg_mask(const char *secret, char *buf, size_t n)
{
    size_t len = strlen(secret);
    if (!len) snprintf(buf, n, "(empty)");
    else if (len < 16) snprintf(buf, n, "****");
    else snprintf(buf, n, "%.3s****%s", secret, secret + len - 4);
}

void route_cfg_join_list(char **items, size_t count, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = 0;
    k += (size_t)snprintf(buf, n, "[");
    for (size_t i = 0; i < count && k < n; i++) k += (size_t)snprintf(buf + k, n - k, "%s%s", i ? ", " : "", items[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

const char *const route_cfg_perf_metric_names[] = {"response_time", "accuracy", "cost", NULL};

static void format_value(const key_spec *s, void *base, char *buf, size_t n)
{
    char *f = (char *)base + s->off;
    switch (s->kind) {
    case K_STR:
    case K_CHOICE: snprintf(buf, n, "%s", *(char **)f && **(char **)f ? *(char **)f : "(none)"); break;
    case K_SECRET: route_cfg_mask(*(char **)f ? *(char **)f : "", buf, n); break;
    case K_INT: snprintf(buf, n, "%ld", *(long *)f); break;
    case K_FLOAT: snprintf(buf, n, "%g", *(double *)f); break;
    case K_BOOL: snprintf(buf, n, "%s", *(bool *)f ? "true" : "false"); break;
    case K_LIST: route_cfg_join_list(*(char ***)f, *(size_t *)((char *)base + s->off2), buf, n); break;
    case K_STRATEGY: snprintf(buf, n, "%s", route_strategy_name(*(route_strategy *)f)); break;
    case K_METRICS: {
        char *names[3];
        size_t k = 0;
        for (unsigned b = 0; b < 3; b++)
            if (*(unsigned *)f & (1u << b)) names[k++] = (char *)route_cfg_perf_metric_names[b];
        route_cfg_join_list(names, k, buf, n);
        break;
    }
    case K_COND: snprintf(buf, n, "%s", *(char **)f ? *(char **)f : "(none)"); break;
    case K_ACTION: {
        const route_action *a = (const route_action *)f;
        if (s->off2 && !*(bool *)((char *)base + s->off2)) snprintf(buf, n, "(none)");
        else if (a->target == ROUTE_TO_HYBRID) snprintf(buf, n, "hybrid processing");
        else snprintf(buf, n, "%s%s%s%s%s", route_target_name(a->target), a->provider ? " " : "",
                      a->provider ? a->provider : "", a->model ? " " : "", a->model ? a->model : "");
        break;
    }
    case K_SUB: buf[0] = 0; break;
    }
}

/* ------------------------------------------------------- scalar values */

static bool valid_env_name(const char *s, size_t n)
{
    if (!n || !(s[0] == '_' || (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z'))) return false;
    for (size_t i = 1; i < n; i++)
        if (!(s[i] == '_' || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

static bool sb_add(sbuf *b, const char *s, size_t n)
{
    if (n > SIZE_MAX / 2 - b->len - 1) return false;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *np = realloc(b->p, cap);
        if (!np) return false;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return true;
}

/* The scalar's text with ${NAME} and ${NAME:-default} expanded; via names
 * the variables used so --show can say where a value came from. */
static int scalar_text(cfg_ctx *c, const yaml_node_t *n, char **out, char *via, size_t vialen)
{
    if (n->type != YAML_SCALAR_NODE) return AT(c, n, ROUTE_ERR_CONFIG, "'%s' must be a single value, not %s", c->path, route_cfg_node_kind(n));
    const char *s = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    if (strlen(s) != len) return AT(c, n, ROUTE_ERR_CONFIG, "'%s' contains a NUL byte", c->path);
    sbuf b = {0};
    size_t vk = 0;
    via[0] = 0;
    if (!sb_add(&b, "", 0)) return ROUTE_ERR_NOMEM;
    for (size_t i = 0; i < len;) {
        if (s[i] != '$' || i + 1 >= len || s[i + 1] != '{') {
            if (!sb_add(&b, s + i, 1)) goto nomem;
            i++;
            continue;
        }
        const char *close = memchr(s + i + 2, '}', len - i - 2);
        const char *body = s + i + 2;
        size_t blen = close ? (size_t)(close - body) : 0;
        const char *dflt = close ? strstr(body, ":-") : NULL;
        size_t nlen = dflt && dflt < close ? (size_t)(dflt - body) : blen;
        if (!close || !valid_env_name(body, nlen)) {
            free(b.p);
            return route_cfg_at_col(c, n, route_cfg_col_in(n, i), ROUTE_ERR_CONFIG,
                          "malformed variable in '%s': expected ${NAME} or ${NAME:-default}", c->path);
        }
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(nlen < 127 ? nlen : 127), body);
        const char *v = getenv(name);
        bool has_dflt = dflt && dflt < close;
        if ((!v || !*v) && has_dflt) {
            if (!sb_add(&b, dflt + 2, (size_t)(close - dflt - 2))) goto nomem;
        } else if (v && !sb_add(&b, v, strlen(v))) {
            goto nomem;
        }
        if (vk < vialen)
            vk += (size_t)snprintf(via + vk, vialen - vk, "%s$%s%s", vk ? ", " : "", name,
                                   v ? "" : has_dflt ? " (unset, default used)" : " (unset)");
        i = (size_t)(close - s) + 1;
    }
    *out = b.p;
    return ROUTE_OK;
nomem:
    free(b.p);
    return ROUTE_ERR_NOMEM;
}

static void origin_of(cfg_ctx *c, const yaml_node_t *n, const char *via, char *buf, size_t len)
{
    if (via[0]) snprintf(buf, len, "%s:%zu:%zu via %s", c->name, route_cfg_line_of(n), route_cfg_col_of(n), via);
    else snprintf(buf, len, "%s:%zu:%zu", c->name, route_cfg_line_of(n), route_cfg_col_of(n));
}

static int parse_number(cfg_ctx *c, const key_spec *s, const yaml_node_t *n, const char *text, double *v)
{
    char *end;
    errno = 0;
    double d = strtod(text, &end);
    bool ok = end != text && !*end && errno == 0 && isfinite(d);
    if (ok && s->kind == K_INT) ok = d == floor(d);
    if (!ok || d < s->lo || d > s->hi)
        return AT(c, n, ROUTE_ERR_CONFIG, "'%s' must be %s between %g and %g, got '%s'", c->path,
                  s->kind == K_INT ? "a whole number" : "a number", s->lo, s->hi, text);
    *v = d;
    return ROUTE_OK;
}

static int parse_bool(cfg_ctx *c, const yaml_node_t *n, const char *text, bool *v)
{
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    for (size_t i = 0; i < 3; i++) {
        if (!strcasecmp(text, yes[i])) return *v = true, ROUTE_OK;
        if (!strcasecmp(text, no[i])) return *v = false, ROUTE_OK;
    }
    return AT(c, n, ROUTE_ERR_CONFIG, "'%s' must be true or false, got '%s'", c->path, text);
}

static int choice_index(cfg_ctx *c, const yaml_node_t *n, const char *const *choices, const char *text, size_t *idx)
{
    size_t count = 0;
    for (; choices[count]; count++)
        if (!strcasecmp(text, choices[count])) return *idx = count, ROUTE_OK;
    const char *near = route_nearest(text, choices, count);
    char list[256];
    route_cfg_join_list((char **)choices, count, list, sizeof list);
    if (near) return AT(c, n, ROUTE_ERR_CONFIG, "'%s' has unknown value '%s'; did you mean '%s'?", c->path, text, near);
    return AT(c, n, ROUTE_ERR_CONFIG, "'%s' has unknown value '%s'; expected one of %s", c->path, text, list);
}

/* ------------------------------------------------------- rules in config */

void route_cfg_free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

bool route_cfg_list_has(char **v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i], s)) return true;
    return false;
}

const route_provider *route_cfg_find_provider(const route_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_providers; i++)
        if (!strcmp(cfg->providers[i].name, name)) return &cfg->providers[i];
    return NULL;
}

/* Point at word inside the action text for "unknown model" messages. */
static int action_ref_error(cfg_ctx *c, const yaml_node_t *n, const char *text, const char *word, const char *what,
                            const char *near)
{
    const char *p = strstr(text, word);
    size_t col = route_cfg_col_in(n, p ? (size_t)(p - text) : 0);
    if (near) return route_cfg_at_col(c, n, col, ROUTE_ERR_RULE, "%s: unknown %s '%s'; did you mean '%s'?", c->path, what, word, near);
    return route_cfg_at_col(c, n, col, ROUTE_ERR_RULE, "%s: unknown %s '%s'", c->path, what, word);
}

/* Check that an action names configured models and fill in its provider. */
static int resolve_action(cfg_ctx *c, const yaml_node_t *n, const char *text, route_action *a)
{
    route_config *cfg = c->cfg;
    if (a->target == ROUTE_TO_EMBEDDED && a->model) {
        const char *names[64];
        size_t k = 0;
        for (size_t i = 0; i < cfg->n_models; i++) {
            if (!strcmp(cfg->models[i].name, a->model)) return ROUTE_OK;
            if (k < 64) names[k++] = cfg->models[i].name;
        }
        return action_ref_error(c, n, text, a->model, "embedded model", route_nearest(a->model, names, k));
    }
    if (a->target == ROUTE_TO_EMBEDDED) return ROUTE_OK;
    if (!cfg->n_providers)
        return route_cfg_at_col(c, n, route_cfg_col_in(n, 0), ROUTE_ERR_RULE, "%s: %s but ai_service.external configures no provider", c->path,
                                a->target == ROUTE_TO_HYBRID ? "hybrid processing needs an external model" : "uses an external model");
    if (a->target == ROUTE_TO_HYBRID) return ROUTE_OK;
    const char *names[64];
    size_t k = 0;
    if (a->provider) {
        const route_provider *p = route_cfg_find_provider(cfg, a->provider);
        for (size_t i = 0; !p && i < cfg->n_providers && k < 64; i++) names[k++] = cfg->providers[i].name;
        if (!p) return action_ref_error(c, n, text, a->provider, "provider", route_nearest(a->provider, names, k));
        if (a->model && !route_cfg_list_has(p->models, p->n_models, a->model))
            return action_ref_error(c, n, text, a->model, "model for this provider",
                                    route_nearest(a->model, (const char *const *)p->models, p->n_models));
        return ROUTE_OK;
    }
    if (!a->model) return ROUTE_OK;
    for (size_t i = 0; i < cfg->n_providers; i++) {
        const route_provider *p = &cfg->providers[i];
        if (route_cfg_list_has(p->models, p->n_models, a->model)) {
            a->provider = route_cfg_dupstr(p->name);
            return a->provider ? ROUTE_OK : ROUTE_ERR_NOMEM;
        }
        for (size_t j = 0; j < p->n_models && k < 64; j++) names[k++] = p->models[j];
    }
    return action_ref_error(c, n, text, a->model, "external model (no provider lists it)", route_nearest(a->model, names, k));
}

/* --------------------------------------------------------------- apply */

typedef struct str_list {
    char **items;
    size_t n;
} str_list;

static int set_list(cfg_ctx *c, const key_spec *s, const yaml_node_t *v, void *base)
{
    char ***list = (char ***)((char *)base + s->off);
    size_t *count = (size_t *)((char *)base + s->off2);
    if (route_cfg_is_null(v)) return ROUTE_OK;
    if (v->type != YAML_SEQUENCE_NODE)
        return AT(c, v, ROUTE_ERR_CONFIG, "'%s' must be a list ([a, b] or '- a' lines), not %s", c->path, route_cfg_node_kind(v));
    route_cfg_free_strs(*list, *count);
    *list = NULL;
    *count = 0;
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (!n) return ROUTE_OK;
    *list = calloc(n, sizeof **list);
    if (!*list) return ROUTE_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *item = route_cfg_node_at(c, v->data.sequence.items.start[i]);
        char via[160];
        int rc = scalar_text(c, item, &(*list)[i], via, sizeof via);
        if (rc) return rc;
        *count = i + 1;
        if (!(*list)[i][0]) return AT(c, item, ROUTE_ERR_CONFIG, "'%s' has an empty item", c->path);
        size_t idx;
        if (s->choices && (rc = choice_index(c, item, s->choices, (*list)[i], &idx))) return rc;
    }
    return ROUTE_OK;
}

static int apply_scalar(cfg_ctx *c, const key_spec *s, const yaml_node_t *v, void *base, char *text)
{
    char *f = (char *)base + s->off;
    double d;
    size_t idx;
    int rc = ROUTE_OK;
    switch (s->kind) {
    case K_STR:
    case K_SECRET:
        free(*(char **)f);
        *(char **)f = text;
        return ROUTE_OK;
    case K_CHOICE:
        if ((rc = choice_index(c, v, s->choices, text, &idx))) break;
        free(*(char **)f);
        *(char **)f = text;
        return ROUTE_OK;
    case K_INT:
        if (!(rc = parse_number(c, s, v, text, &d))) *(long *)f = (long)d;
        break;
    case K_FLOAT:
        if (!(rc = parse_number(c, s, v, text, &d))) *(double *)f = d;
        break;
    case K_BOOL: rc = parse_bool(c, v, text, (bool *)f); break;
    case K_STRATEGY: {
        static const char *const names[] = {"hybrid", "cost", "latency", "quality", "local_only", "external_only", NULL};
        if (!(rc = choice_index(c, v, names, text, &idx))) *(route_strategy *)f = (route_strategy)idx;
        break;
    }
    case K_COND: {
        route_rule *r = base;
        size_t ecol = 0;
        char msg[200];
        rc = route_expr_compile(text, &r->expr, &ecol, msg, sizeof msg);
        if (rc) {
            rc = route_cfg_at_col(c, v, route_cfg_col_in(v, ecol), rc, "%s: %s", c->path, msg);
            break;
        }
        free(r->condition);
        r->condition = text;
        return ROUTE_OK;
    }
    case K_ACTION: {
        route_action *a = (route_action *)f;
        size_t ecol = 0;
        char msg[200];
        route_action_free(a);
        if ((rc = route_action_parse(text, a, &ecol, msg, sizeof msg))) {
            rc = route_cfg_at_col(c, v, route_cfg_col_in(v, ecol), rc, "%s: %s", c->path, msg);
            break;
        }
        if ((rc = resolve_action(c, v, text, a))) break;
        if (s->off2) *(bool *)((char *)base + s->off2) = true;
        break;
    }
    default: break;
    }
    free(text);
    return rc;
}

static int apply(cfg_ctx *c, const key_spec *s, const yaml_node_t *v, void *base)
{
    char origin[320], via[160] = "", shown[1024];
    int rc;
    if (s->kind == K_SUB) return s->sub(c, v, base);
    if (s->kind == K_LIST) {
        rc = set_list(c, s, v, base);
    } else if (s->kind == K_METRICS) {
        /* Parsed as a list, kept as bits. */
        str_list l = {0};
        key_spec tmp = {.kind = K_LIST, .off = offsetof(str_list, items), .off2 = offsetof(str_list, n),
                        .choices = s->choices};
        rc = set_list(c, &tmp, v, &l);
        unsigned bits = 0;
        for (size_t i = 0; !rc && i < l.n; i++)
            for (unsigned b = 0; route_cfg_perf_metric_names[b]; b++)
                if (!strcasecmp(l.items[i], route_cfg_perf_metric_names[b])) bits |= 1u << b;
        route_cfg_free_strs(l.items, l.n);
        *(unsigned *)((char *)base + s->off) = bits;
    } else {
        char *text = NULL;
        if ((rc = scalar_text(c, v, &text, via, sizeof via))) return rc;
        rc = apply_scalar(c, s, v, base, text);
    }
    if (rc) return rc;
    format_value(s, base, shown, sizeof shown);
    origin_of(c, v, via, origin, sizeof origin);
    return route_cfg_set_setting(c, shown, origin);
}

/* ---------------------------------------------------------------- walk */

size_t route_cfg_push(cfg_ctx *c, const char *fmt, const char *name)
{
    size_t old = strlen(c->path);
    snprintf(c->path + old, sizeof c->path - old, fmt, old ? "." : "", name);
    return old;
}

static int unknown_key(cfg_ctx *c, const yaml_node_t *k, const char *name, const key_spec *specs, size_t n)
{
    for (size_t i = 0; i < c->n_misplaced; i++)
        if (!strcmp(c->misplaced[i].name, name))
            return AT(c, k, ROUTE_ERR_CONFIG, "key '%s' in %s belongs under %s when that map is used", name,
                      c->path, c->misplaced_where);
    const char *names[64];
    size_t count = 0;
    for (size_t i = 0; i < n && count < 64; i++) names[count++] = specs[i].name;
    const char *near = route_nearest(name, names, count);
    if (near) return AT(c, k, ROUTE_ERR_CONFIG, "unknown key '%s' in %s; did you mean '%s'?", name, c->path[0] ? c->path : "the top level", near);
    char list[512];
    route_cfg_join_list((char **)names, count, list, sizeof list);
    return AT(c, k, ROUTE_ERR_CONFIG, "unknown key '%s' in %s; expected one of %s", name, c->path[0] ? c->path : "the top level", list);
}

static int check_keys(cfg_ctx *c, const yaml_node_t *map, const key_spec *specs, size_t n)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = route_cfg_node_at(c, p->key);
        if (k->type != YAML_SCALAR_NODE) return AT(c, k, ROUTE_ERR_CONFIG, "keys in %s must be plain names", c->path);
        const char *name = (const char *)k->data.scalar.value;
        size_t i = 0;
        while (i < n && strcmp(specs[i].name, name)) i++;
        if (i == n) return unknown_key(c, k, name, specs, n);
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            const yaml_node_t *prev = route_cfg_node_at(c, q->key);
            if (prev->type == YAML_SCALAR_NODE && !strcmp((const char *)prev->data.scalar.value, name))
                return AT(c, k, ROUTE_ERR_CONFIG, "duplicate key '%s' in %s (first at line %zu)", name, c->path, route_cfg_line_of(prev));
        }
    }
    return ROUTE_OK;
}

/* Walk map against specs, in spec order so later sections can check
 * references to earlier ones; absent keys keep their defaults and are
 * recorded as such. */
int route_cfg_walk(cfg_ctx *c, const yaml_node_t *map, const key_spec *specs, size_t n, void *base)
{
    if (map && route_cfg_is_null(map)) map = NULL;
    if (map && map->type != YAML_MAPPING_NODE)
        return AT(c, map, ROUTE_ERR_CONFIG, "'%s' must be a mapping of keys, not %s", c->path[0] ? c->path : "the file", route_cfg_node_kind(map));
    int rc = map ? check_keys(c, map, specs, n) : ROUTE_OK;
    c->misplaced = NULL;
    c->n_misplaced = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        const yaml_node_t *v = route_cfg_lookup(c, map, specs[i].name, NULL);
        size_t old = route_cfg_push(c, "%s%s", specs[i].name);
        if (v) {
            rc = apply(c, &specs[i], v, base);
        } else if (map && (specs[i].flags & F_REQ)) {
            c->path[old] = 0;
            rc = AT(c, map, ROUTE_ERR_CONFIG, "missing required key '%s' in %s", specs[i].name, c->path[0] ? c->path : "the file");
        } else if (specs[i].kind == K_SUB) {
            rc = specs[i].sub(c, NULL, base);
        } else {
            char shown[1024];
            format_value(&specs[i], base, shown, sizeof shown);
            rc = route_cfg_set_setting(c, shown, "default");
        }
        c->path[old] = 0;
    }
    return rc;
}


/* libyaml takes time quadratic in the nesting of [ and { (minutes for a
 * 1 MiB file of brackets); no configuration nests more than a few levels,
 * so refuse deep nesting before parsing. Quoted text and comments are
 * skipped. */
static int check_nesting(const char *text, size_t len, const char *name, char *err, size_t errlen)
{
    enum { MAX_FLOW_DEPTH = 64 };
    size_t line = 1, col = 1, depth = 0;
    char quote = 0;
    for (size_t i = 0; i < len; i++, col++) {
        char ch = text[i];
        if (ch == '\n') {
            line++;
            col = 0;
        } else if (quote) {
            if (ch == '\\' && quote == '"') i++, col++;
            else if (ch == quote) quote = 0;
        } else if (ch == '\'' || ch == '"') {
            quote = ch;
        } else if (ch == '#' && (i == 0 || text[i - 1] == ' ' || text[i - 1] == '\t')) {
            while (i + 1 < len && text[i + 1] != '\n') i++;
        } else if ((ch == '[' || ch == '{') && ++depth > MAX_FLOW_DEPTH) {
            return route_fail(err, errlen, ROUTE_ERR_SYNTAX, "%s:%zu:%zu: [ and { nest deeper than %d levels", name, line, col, MAX_FLOW_DEPTH);
        } else if ((ch == ']' || ch == '}') && depth) {
            depth--;
        }
    }
    return ROUTE_OK;
}

int route_cfg_load_doc(const char *text, size_t len, const char *name, const char *expect, const key_spec *root, size_t n,
                       void *base, route_config *cfg, char *err, size_t errlen)
{
    cfg_ctx c = {.name = name, .cfg = cfg, .err = err, .errlen = errlen};
    if (!text) return route_cfg_walk(&c, NULL, root, n, base);
    int rc = check_nesting(text, len, name, err, errlen);
    if (rc) return rc;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return route_fail(err, errlen, ROUTE_ERR_NOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = route_fail(err, errlen, ROUTE_ERR_SYNTAX, "%s:%zu:%zu: YAML syntax error: %s%s%s", name,
                        parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                        parser.problem ? parser.problem : "malformed", parser.context ? " " : "",
                        parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return rc;
    }
    c.doc = &doc;
    const yaml_node_t *top = yaml_document_get_root_node(&doc);
    if (!top || route_cfg_is_null(top))
        rc = route_fail(err, errlen, ROUTE_ERR_CONFIG, "%s:1:1: the file is empty; expected %s at the top", name, expect);
    else
        rc = route_cfg_walk(&c, top, root, n, base);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}
