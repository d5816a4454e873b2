/* The model catalogue: built-in known models plus user entries from
 * $RHEMA_HOME/registry.yaml. */
#include "router/store_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define HF "https://huggingface.co/"

/* Sizes are the approximate download sizes the repositories list (used for
 * the free-space check before a download starts; the server's length then
 * governs). No sha256 is built in: Hugging Face publishes each LFS file's
 * digest in its ETag, which the download verifies against. */
static const route_catalog_entry builtin[] = {
    {"qwen2.5-0.5b-instruct", "Qwen2.5 0.5B Instruct: smallest capable instruct model, "
     "the default for simple local tasks", "qwen2", "Q4_K_M", "embedded", "apache-2.0", "1",
     HF "Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/qwen2.5-0.5b-instruct-q4_k_m.gguf", "",
     491000000ull, 32768, false},
    {"smollm2-360m-instruct", "SmolLM2 360M Instruct: tiny English instruct model",
     "llama", "Q8_0", "embedded", "apache-2.0", "1",
     HF "HuggingFaceTB/SmolLM2-360M-Instruct-GGUF/resolve/main/smollm2-360m-instruct-q8_0.gguf",
     "", 386000000ull, 8192, false},
    {"llama-3.2-1b-instruct", "Llama 3.2 1B Instruct: small multilingual instruct model",
     "llama", "Q4_K_M", "embedded", "llama3.2", "1",
     HF "bartowski/Llama-3.2-1B-Instruct-GGUF/resolve/main/Llama-3.2-1B-Instruct-Q4_K_M.gguf",
     "", 808000000ull, 131072, false},
    {"tinyllama-1.1b-chat", "TinyLlama 1.1B Chat v1.0", "llama", "Q4_K_M", "embedded",
     "apache-2.0", "1",
     HF "TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF/resolve/main/tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf",
     "", 669000000ull, 2048, false},
    {"phi-3-mini", "Phi-3 mini 4k Instruct: strong 3.8B reasoning model", "phi3", "Q4_K_M",
     "chat", "mit", "1",
     HF "microsoft/Phi-3-mini-4k-instruct-gguf/resolve/main/Phi-3-mini-4k-instruct-q4.gguf", "",
     2390000000ull, 4096, false},
    {"phi-2", "Phi-2 2.7B: small general and code model", "phi2", "Q4_K_M", "code", "mit", "1",
     HF "TheBloke/phi-2-GGUF/resolve/main/phi-2.Q4_K_M.gguf", "", 1790000000ull, 2048, false},
    {"codellama-7b", "Code Llama 7B: code completion and generation", "llama", "Q4_K_M", "code",
     "llama2", "1", HF "TheBloke/CodeLlama-7B-GGUF/resolve/main/codellama-7b.Q4_K_M.gguf", "",
     4080000000ull, 16384, false},
    {"llama-2-7b", "Llama 2 7B Chat: general chat", "llama", "Q4_K_M", "chat", "llama2", "1",
     HF "TheBloke/Llama-2-7B-Chat-GGUF/resolve/main/llama-2-7b-chat.Q4_K_M.gguf", "",
     4080000000ull, 4096, false},
};

#define BUILTIN_DEFAULT "qwen2.5-0.5b-instruct"
#define N_BUILTIN (sizeof builtin / sizeof builtin[0])

struct route_catalog {
    route_catalog_entry *e;
    size_t n;
    const char *dflt;
    char **strs; /* strings owned for registry entries */
    size_t n_strs, cap_strs;
};

static const char *keep(route_catalog *c, const char *s, size_t len)
{
    char **p = route_grow(c->strs, c->n_strs, &c->cap_strs, sizeof *p, 32);
    if (!p)
        return NULL;
    c->strs = p;
    char *d = strndup(s, len);
    if (d)
        c->strs[c->n_strs++] = d;
    return d;
}

/* ---- registry.yaml ---- */

typedef struct reg {
    route_catalog *c;
    yaml_document_t doc;
    const char *path;
    char *err;
    size_t errlen;
} reg;

static int reg_fail(reg *r, const yaml_node_t *n, const char *fmt, const char *what)
{
    char msg[256];
    snprintf(msg, sizeof msg, fmt, what);
    return route_fail(r->err, r->errlen, ROUTE_ERR_CONFIG, "%s:%lu:%lu: %s", r->path,
                      (unsigned long)n->start_mark.line + 1, (unsigned long)n->start_mark.column + 1,
                      msg);
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int parse_u64(reg *r, const yaml_node_t *n, const char *key, uint64_t max, uint64_t *out)
{
    const char *s = scalar(n);
    char *end;
    errno = 0;
    unsigned long long v = s && *s >= '0' && *s <= '9' ? strtoull(s, &end, 10) : 0;
    if (!s || *s < '0' || *s > '9' || *end || errno || v > max)
        return reg_fail(r, n, "'%s' must be a whole number in range", key);
    *out = v;
    return 0;
}

static const char *const entry_keys[] = {
    "name", "description", "architecture", "quantization", "use_case", "license",
    "version", "url", "sha256", "size", "context_length",
};
#define N_ENTRY_KEYS (sizeof entry_keys / sizeof entry_keys[0])

/* Point the string field for key at a kept copy of the value. */
static int set_field(reg *r, route_catalog_entry *e, size_t k, const yaml_node_t *v)
{
    const char **fields[] = {&e->name, &e->description, &e->architecture, &e->quantization,
                             &e->use_case, &e->license, &e->version, &e->url, &e->sha256};
    const char *s = scalar(v);
    if (!s)
        return reg_fail(r, v, "'%s' must be a string", entry_keys[k]);
    const char *d = keep(r->c, s, v->data.scalar.length);
    if (!d)
        return route_fail(r->err, r->errlen, ROUTE_ERR_NOMEM, "out of memory reading %s", r->path);
    *fields[k] = d;
    return 0;
}

static int check_entry(reg *r, const yaml_node_t *n, route_catalog_entry *e)
{
    char hex[65];
    if (!e->name[0])
        return reg_fail(r, n, "a model entry needs a %s", "name");
    if (!route_store_name_ok(e->name))
        return reg_fail(r, n, "model name '%s' may only hold letters, digits, '.', '_' and '-'",
                        e->name);
    if (!route_store_name_ok(e->version))
        return reg_fail(r, n, "version '%s' may only hold letters, digits, '.', '_' and '-'",
                        e->version);
    if (e->url[0] && strncmp(e->url, "https://", 8) && strncmp(e->url, "http://", 7))
        return reg_fail(r, n, "url '%s' must start with https:// or http://", e->url);
    if (e->sha256[0]) {
        if (!route_store_hex_ok(e->sha256, hex))
            return reg_fail(r, n, "sha256 '%s' must be 64 hex digits", e->sha256);
        e->sha256 = keep(r->c, hex, 64);
        if (!e->sha256)
            return route_fail(r->err, r->errlen, ROUTE_ERR_NOMEM, "out of memory");
    }
    return 0;
}

static int parse_entry(reg *r, yaml_node_t *n, route_catalog_entry *e)
{
    static const char empty[] = "";
    *e = (route_catalog_entry){empty, empty, empty, empty, empty, empty, "1", empty, empty,
                               0, 0, true};
    if (n->type != YAML_MAPPING_NODE)
        return reg_fail(r, n, "a model entry must be a mapping (name: ..., url: ...)%s", "");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(&r->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(&r->doc, p->value);
        const char *key = scalar(kn);
        size_t k = 0;
        while (key && k < N_ENTRY_KEYS && strcmp(key, entry_keys[k]))
            k++;
        if (!key || k == N_ENTRY_KEYS) {
            const char *near = key ? route_nearest(key, entry_keys, N_ENTRY_KEYS) : NULL;
            char what[160];
            snprintf(what, sizeof what, "%.60s'%s%s%s", key ? key : "?", near ? " (did you mean '" : "",
                     near ? near : "", near ? "'?)" : "");
            return reg_fail(r, kn, "unknown key '%s", what);
        }
        int rc = 0;
        uint64_t v;
        if (!strcmp(key, "size")) {
            rc = parse_u64(r, vn, key, UINT64_MAX / 2, &v);
            e->size = v;
        } else if (!strcmp(key, "context_length")) {
            rc = parse_u64(r, vn, key, UINT32_MAX, &v);
            e->context_length = (uint32_t)v;
        } else {
            rc = set_field(r, e, k, vn);
        }
        if (rc)
            return rc;
    }
    return check_entry(r, n, e);
}

/* Add or replace (same name) an entry. */
static int put_entry(route_catalog *c, const route_catalog_entry *e)
{
    for (size_t i = 0; i < c->n; i++) {
        if (!strcmp(c->e[i].name, e->name)) {
            c->e[i] = *e;
            return 0;
        }
    }
    route_catalog_entry *p = realloc(c->e, (c->n + 1) * sizeof *p);
    if (!p)
        return ROUTE_ERR_NOMEM;
    c->e = p;
    c->e[c->n++] = *e;
    return 0;
}

static int parse_models(reg *r, yaml_node_t *list)
{
    if (list->type != YAML_SEQUENCE_NODE)
        return reg_fail(r, list, "'models' must be a list of model entries%s", "");
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top;
         it++) {
        route_catalog_entry e;
        yaml_node_t *n = yaml_document_get_node(&r->doc, *it);
        int rc = parse_entry(r, n, &e);
        if (rc)
            return rc;
        if (put_entry(r->c, &e))
            return route_fail(r->err, r->errlen, ROUTE_ERR_NOMEM, "out of memory");
    }
    return 0;
}

static int parse_root(reg *r)
{
    yaml_node_t *root = yaml_document_get_root_node(&r->doc);
    if (!root)
        return 0; /* an empty file adds nothing */
    if (root->type != YAML_MAPPING_NODE)
        return reg_fail(r, root, "the registry must be a mapping with 'models:'%s", "");
    const yaml_node_t *dflt = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(&r->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(&r->doc, p->value);
        const char *key = scalar(kn);
        int rc = 0;
        if (key && !strcmp(key, "models"))
            rc = parse_models(r, vn);
        else if (key && !strcmp(key, "default"))
            dflt = vn;
        else
            rc = reg_fail(r, kn, "unknown key '%.60s' (expected 'models' or 'default')",
                          key ? key : "?");
        if (rc)
            return rc;
    }
    if (dflt) {
        const char *name = scalar(dflt);
        if (!name || !route_catalog_find(r->c, name, NULL))
            return reg_fail(r, dflt, "default '%.60s' is not a model in the catalogue",
                            name ? name : "?");
        r->c->dflt = route_catalog_find(r->c, name, NULL)->name;
    }
    return 0;
}

static int load_registry(route_catalog *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        return route_fail(err, errlen, ROUTE_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    }
    reg r = {.c = c, .path = path, .err = err, .errlen = errlen};
    yaml_parser_t parser;
    int rc = 0;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        return route_fail(err, errlen, ROUTE_ERR_NOMEM, "out of memory reading %s", path);
    }
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &r.doc)) {
        rc = route_fail(err, errlen, ROUTE_ERR_SYNTAX, "%s:%lu:%lu: %s", path,
                        (unsigned long)parser.problem_mark.line + 1,
                        (unsigned long)parser.problem_mark.column + 1,
                        parser.problem ? parser.problem : "YAML syntax error");
    } else {
        rc = parse_root(&r);
        yaml_document_delete(&r.doc);
    }
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

int route_catalog_load(const char *registry, route_catalog **out, char *err, size_t errlen)
{
    if (!out)
        return route_fail(err, errlen, ROUTE_ERR_ARG, "route_catalog_load: out is NULL");
    *out = NULL;
    route_catalog *c = calloc(1, sizeof *c);
    if (c)
        c->e = malloc(sizeof builtin);
    if (!c || !c->e) {
        free(c);
        return route_fail(err, errlen, ROUTE_ERR_NOMEM, "out of memory");
    }
    memcpy(c->e, builtin, sizeof builtin);
    c->n = N_BUILTIN;
    c->dflt = BUILTIN_DEFAULT;
    int rc = registry ? load_registry(c, registry, err, errlen) : 0;
    if (rc) {
        route_catalog_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void route_catalog_free(route_catalog *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_strs; i++)
        free(c->strs[i]);
    free(c->strs);
    free(c->e);
    free(c);
}

size_t route_catalog_count(const route_catalog *c)
{
    return c ? c->n : 0;
}

const route_catalog_entry *route_catalog_get(const route_catalog *c, size_t i)
{
    return c && i < c->n ? &c->e[i] : NULL;
}

const route_catalog_entry *route_catalog_find(const route_catalog *c, const char *name,
                                              const char **suggest)
{
    if (suggest)
        *suggest = NULL;
    if (!c || !name)
        return NULL;
    size_t best = (size_t)-1;
    for (size_t i = 0; i < c->n; i++) {
        if (!strcmp(c->e[i].name, name))
            return &c->e[i];
        size_t d = route_edit_distance(name, c->e[i].name);
        if (suggest && d < best && d <= strlen(name) / 3 + 2) {
            best = d;
            *suggest = c->e[i].name;
        }
    }
    return NULL;
}

const char *route_catalog_default(const route_catalog *c)
{
    return c ? c->dflt : BUILTIN_DEFAULT;
}
