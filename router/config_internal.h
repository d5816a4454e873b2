/* Shared by router/config.c (the generic schema walker) and
 * router/config_schema.c (the keys of ai-config.yaml). */
#ifndef RHEMA_ROUTER_CONFIG_INTERNAL_H
#define RHEMA_ROUTER_CONFIG_INTERNAL_H

#include "router/internal.h"

#include <yaml.h>

enum { MAX_CONFIG_BYTES = 1 << 20 };

typedef enum kind {
    K_STR, K_SECRET, K_INT, K_FLOAT, K_BOOL, K_LIST, K_CHOICE, K_STRATEGY, K_METRICS,
    K_COND, K_ACTION, K_SUB
} kind;

enum { F_REQ = 1 };

typedef struct cfg_ctx cfg_ctx;

typedef struct key_spec {
    const char *name;
    kind kind;
    size_t off;  /* the field inside the base struct */
    size_t off2; /* K_LIST: its count; K_ACTION: a bool set when present */
    double lo, hi;
    const char *const *choices; /* K_CHOICE, K_METRICS: NULL-terminated */
    int (*sub)(cfg_ctx *c, const yaml_node_t *node, void *base);
    unsigned flags;
} key_spec;

struct cfg_ctx {
    const char *name;
    yaml_document_t *doc;
    route_config *cfg;
    char *err;
    size_t errlen;
    char path[256];
    size_t settings_cap;
    /* Keys that are valid one level down (with providers/models maps), to
     * say where a misplaced key belongs. */
    const key_spec *misplaced;
    size_t n_misplaced;
    const char *misplaced_where;
};

#define NSPECS(a) (sizeof(a) / sizeof((a)[0]))

/* Spec rows: struct type, field, key name. */
#define STR(st, f, nm) {nm, K_STR, offsetof(st, f), 0, 0, 0, NULL, NULL, 0}
#define INT(st, f, nm, lo, hi) {nm, K_INT, offsetof(st, f), 0, lo, hi, NULL, NULL, 0}
#define FLT(st, f, nm, lo, hi) {nm, K_FLOAT, offsetof(st, f), 0, lo, hi, NULL, NULL, 0}
#define BOOL(st, f, nm) {nm, K_BOOL, offsetof(st, f), 0, 0, 0, NULL, NULL, 0}
#define LIST(st, f, cnt, nm) {nm, K_LIST, offsetof(st, f), offsetof(st, cnt), 0, 0, NULL, NULL, 0}
#define SUB(nm, fn) {nm, K_SUB, 0, 0, 0, 0, NULL, fn, 0}

/* "FILE:LINE:COL: message" into c->err; returns status. */
int route_cfg_at_col(cfg_ctx *c, const yaml_node_t *n, size_t col, int status, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define AT(c, n, ...) route_cfg_at_col((c), (n), (n) ? route_cfg_col_of(n) : 0, __VA_ARGS__)

size_t route_cfg_line_of(const yaml_node_t *n);
size_t route_cfg_col_of(const yaml_node_t *n);
const char *route_cfg_node_kind(const yaml_node_t *n);
const yaml_node_t *route_cfg_node_at(cfg_ctx *c, int idx);
bool route_cfg_is_null(const yaml_node_t *n);
const yaml_node_t *route_cfg_lookup(cfg_ctx *c, const yaml_node_t *map, const char *key, const yaml_node_t **keynode);
char *route_cfg_dupstr(const char *s);
/* Record the value of the key at c->path for `config --show`. */
int route_cfg_set_setting(cfg_ctx *c, const char *value, const char *origin);
/* A secret as --show prints it: its shape, never enough to use. */
void route_cfg_mask(const char *secret, char *buf, size_t n);
void route_cfg_join_list(char **items, size_t count, char *buf, size_t n);
void route_cfg_free_strs(char **v, size_t n);
bool route_cfg_list_has(char **v, size_t n, const char *s);
const route_provider *route_cfg_find_provider(const route_config *cfg, const char *name);
/* Append name to c->path; returns the old length to cut back to. */
size_t route_cfg_push(cfg_ctx *c, const char *fmt, const char *name);
/* Check map's keys against specs and apply each (or its default). */
int route_cfg_walk(cfg_ctx *c, const yaml_node_t *map, const key_spec *specs, size_t n, void *base);

/* Parse text (NULL: walk root with every default) and walk it; expect
 * names what an empty file should have held. Settings go to cfg. */
int route_cfg_load_doc(const char *text, size_t len, const char *name, const char *expect, const key_spec *root, size_t n,
                       void *base, route_config *cfg, char *err, size_t errlen);

extern const char *const route_cfg_perf_metric_names[];

#endif
