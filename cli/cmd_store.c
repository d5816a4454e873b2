/* rhema ai models list | install | update | remove: the local model store
 * in $RHEMA_HOME/models (default ~/.rhema/models). */
#include "cli/ai_config.h"
#include "cli/cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int store_open(route_store **s)
{
    char err[1024];
    if (route_store_open(NULL, s, err, sizeof err)) {
        fprintf(stderr, "rhema: %s\n", err);
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

static void mib(char *buf, size_t n, uint64_t v)
{
    if (v >= (1ull << 30))
        snprintf(buf, n, "%.2f GiB", v / (double)(1ull << 30));
    else
        snprintf(buf, n, "%.1f MiB", v / (double)(1ull << 20));
}

/* ---- progress: a bar on a terminal, a line per 10% otherwise ---- */

typedef struct progress {
    bool tty;
    double start, last;
    uint64_t start_bytes;
    int last_decile;
    bool drawn;
} progress;

static double secs(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void on_progress(void *user, uint64_t done, uint64_t total)
{
    progress *p = user;
    double now = secs();
    if (p->start == 0) {
        p->start = p->last = now;
        p->start_bytes = done; /* a resumed download starts part-way */
    }
    double rate = now > p->start ? (done - p->start_bytes) / (now - p->start) : 0;
    char a[32], b[32], r[32];
    mib(a, sizeof a, done);
    mib(b, sizeof b, total);
    mib(r, sizeof r, (uint64_t)rate);
    if (p->tty) {
        if (now - p->last < 0.2 && done != total)
            return;
        p->last = now;
        int pct = total ? (int)(done * 100 / total) : 0, fill = pct * 30 / 100;
        char bar[31];
        memset(bar, '#', (size_t)fill);
        memset(bar + fill, ' ', (size_t)(30 - fill));
        bar[30] = '\0';
        double eta = rate > 0 && total > done ? (total - done) / rate : 0;
        fprintf(stderr, "\r%3d%% [%s] %s / %s  %s/s  ETA %d:%02d ", pct, bar, a, total ? b : "?", r,
                (int)eta / 60, (int)eta % 60);
        p->drawn = true;
        return;
    }
    /* Unknown length: a line per 64 MiB instead of per 10%. */
    int step = total ? (int)(done * 10 / total) : (int)(done >> 26);
    if (step > p->last_decile) {
        p->last_decile = step;
        if (total)
            fprintf(stderr, "  %d%%  %s of %s  (%s/s)\n", step * 10, a, b, r);
        else
            fprintf(stderr, "  %s  (%s/s)\n", a, r);
    }
}

static void progress_end(progress *p)
{
    if (p->drawn)
        fputc('\n', stderr);
}

/* ---- list ---- */

static const route_installed *find_inst(const route_installed *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].name, name))
            return &v[i];
    return NULL;
}

static void json_entry(net_jw *w, const route_store *s, const route_catalog_entry *e,
                       const route_installed *m, const char *dflt)
{
    char path[4096];
    net_jw_obj_begin(w);
    cli_ai_json_kv(w, "name", e ? e->name : m->name);
    cli_ai_json_kb(w, "default", e && !strcmp(e->name, dflt));
    if (e) {
        cli_ai_json_kv(w, "description", e->description);
        cli_ai_json_kv(w, "architecture", e->architecture);
        cli_ai_json_kv(w, "quantization", e->quantization);
        cli_ai_json_kv(w, "use_case", e->use_case);
        cli_ai_json_kv(w, "license", e->license);
        cli_ai_json_kv(w, "version", e->version);
        cli_ai_json_kv(w, "url", e->url);
        cli_ai_json_kv(w, "sha256", e->sha256[0] ? e->sha256 : NULL);
        cli_ai_json_ki(w, "size", (int64_t)e->size);
        cli_ai_json_ki(w, "context_length", e->context_length);
        cli_ai_json_kb(w, "from_registry", e->user);
    }
    net_jw_key(w, "installed");
    if (!m) {
        net_jw_null(w);
    } else {
        net_jw_obj_begin(w);
        cli_ai_json_kv(w, "version", m->version);
        route_store_path(s, m, path, sizeof path, NULL, 0);
        cli_ai_json_kv(w, "path", path);
        cli_ai_json_kv(w, "sha256", m->sha256);
        cli_ai_json_kv(w, "verified_by", m->verified);
        cli_ai_json_kv(w, "source", m->source);
        cli_ai_json_ki(w, "size", (int64_t)m->size);
        cli_ai_json_ki(w, "installed_at", m->installed_at);
        cli_ai_json_kb(w, "present", m->present);
        cli_ai_json_kb(w, "update_available", e && strcmp(e->version, m->version) != 0);
        net_jw_obj_end(w);
    }
    net_jw_obj_end(w);
}

static void text_entry(const route_catalog_entry *e, const route_installed *m, const char *dflt)
{
    char size[32], status[96];
    mib(size, sizeof size, m ? m->size : e->size);
    if (!m)
        snprintf(status, sizeof status, "available");
    else if (!m->present)
        snprintf(status, sizeof status, "BROKEN (file missing or resized)");
    else if (e && strcmp(e->version, m->version))
        snprintf(status, sizeof status, "installed v%s, update to v%s", m->version, e->version);
    else
        snprintf(status, sizeof status, "installed");
    printf("%-24s %c %-7s %-7s %11s  %-9s %s\n", e ? e->name : m->name,
           e && !strcmp(e->name, dflt) ? '*' : ' ', m ? m->version : e->version,
           e ? e->quantization : "?", size, e ? e->use_case : "custom", status);
}

static int run_list(const cli_cmd *cmd, int argc, char **argv)
{
    bool json = false, embedded = false;
    const cli_opt opts[] = {
        {"embedded", 0, CLI_FLAG, &embedded, "local GGUF models (the only kind listed here)"},
        CLI_OPT_JSON(json),
    };
    int rc = cli_parse(cmd, argc, argv, opts, 2, NULL, 0, NULL);
    route_store *s;
    if (rc || (rc = store_open(&s)))
        return rc;
    route_installed *v = NULL;
    size_t n = 0;
    char err[1024];
    if (route_store_list(s, &v, &n, err, sizeof err)) {
        fprintf(stderr, "rhema: %s\n", err);
        route_store_close(s);
        return CLI_EXIT_FAIL;
    }
    const route_catalog *c = route_store_catalog(s);
    const char *dflt = route_catalog_default(c);
    cli_json doc;
    net_jw *w = json ? cli_ai_json_begin(&doc) : NULL;
    if (json) {
        net_jw_obj_begin(w);
        cli_ai_json_kv(w, "models_dir", route_store_models_dir(s));
        cli_ai_json_kv(w, "default", dflt);
        net_jw_key(w, "models");
        net_jw_arr_begin(w);
    } else {
        printf("%-24s   %-7s %-7s %11s  %-9s %s\n", "NAME", "VERSION", "QUANT", "SIZE", "USE", "STATUS");
    }
    for (size_t i = 0; i < route_catalog_count(c); i++) {
        const route_catalog_entry *e = route_catalog_get(c, i);
        const route_installed *m = find_inst(v, n, e->name);
        json ? json_entry(w, s, e, m, dflt) : text_entry(e, m, dflt);
    }
    for (size_t i = 0; i < n; i++) {
        if (!route_catalog_find(c, v[i].name, NULL))
            json ? json_entry(w, s, NULL, &v[i], dflt) : text_entry(NULL, &v[i], dflt);
    }
    if (json) {
        net_jw_arr_end(w);
        net_jw_obj_end(w);
        rc = cli_ai_json_print(&doc);
    } else {
        printf("\n* default embedded model; models live in %s\n", route_store_models_dir(s));
    }
    free(v);
    route_store_close(s);
    return rc;
}

/* ---- install / update ---- */

typedef struct fetch_args {
    const char *name, *url, *file, *sha256, *ca_file;
    bool force;
} fetch_args;

static int install_or_update(const cli_cmd *cmd, int argc, char **argv, bool update)
{
    fetch_args a = {0};
    const cli_opt opts[] = {
        {"model", 'm', CLI_STR, &a.name, "NAME  catalogue name (see `rhema ai models list`)"},
        {"url", 0, CLI_STR, &a.url, "URL  download from here instead of the catalogue's URL"},
        {"file", 0, CLI_STR, &a.file, "PATH  install this local GGUF file (no network)"},
        {"sha256", 0, CLI_STR, &a.sha256, "HEX  expected sha256 of the file"},
        {"ca-file", 0, CLI_STR, &a.ca_file, "PEM  trusted CA certificates (default the system bundle)"},
        {"force", 'f', CLI_FLAG, &a.force, "install again even when that version is there"},
    };
    int rc = cli_parse(cmd, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (rc)
        return rc;
    if (!a.name)
        return cli_usage_error(cmd, "--model NAME is required");
    if (a.url && a.file)
        return cli_usage_error(cmd, "give --url or --file, not both");
    route_store *s;
    if ((rc = store_open(&s)))
        return rc;
    char err[2048];
    route_fetcher fetcher = {0};
    if (!a.file && route_store_net_fetcher_new(a.ca_file, &fetcher, err, sizeof err)) {
        fprintf(stderr, "rhema: %s\n", err);
        route_store_close(s);
        return CLI_EXIT_FAIL;
    }
    progress p = {.tty = isatty(2) == 1, .last_decile = -1};
    route_install_opts o = {.url = a.url, .file = a.file, .sha256 = a.sha256,
                            .fetcher = a.file ? NULL : &fetcher, .progress = on_progress,
                            .progress_user = &p, .force = a.force};
    route_installed before, m;
    bool had = route_store_get(s, a.name, &before, NULL, 0) == 0, changed = false;
    fprintf(stderr, "%s %s from %s\n", update ? "updating" : "installing", a.name,
            a.file ? a.file : a.url ? a.url : "the catalogue URL");
    rc = update ? route_store_update(s, a.name, &o, &m, &changed, err, sizeof err)
                : route_store_install(s, a.name, &o, &m, err, sizeof err);
    progress_end(&p);
    if (rc) {
        fprintf(stderr, "rhema: %s: %s\n", route_store_status_str(rc), err);
    } else if (!update && had && before.present && !a.force) {
        const route_catalog_entry *e = route_catalog_find(route_store_catalog(s), a.name, NULL);
        printf("%s %s is already installed", a.name, m.version);
        if (e && strcmp(e->version, m.version))
            printf("; `rhema ai models update --model %s` installs version %s", a.name, e->version);
        printf("\n");
    } else if (update && !changed) {
        printf("%s is up to date (version %s)\n", a.name, m.version);
    } else {
        char path[4096], size[32];
        route_store_path(s, &m, path, sizeof path, NULL, 0);
        mib(size, sizeof size, m.size);
        printf("%s %s %s: %s (%s)\n  sha256 %s (%s)\n", update ? "updated" : "installed", a.name,
               m.version, path, size, m.sha256,
               !strcmp(m.verified, "none") ? "no published digest to compare: recorded only"
                                           : !strcmp(m.verified, "server") ? "matches the server's digest"
                                           : !strcmp(m.verified, "given") ? "matches --sha256"
                                                                          : "matches the catalogue");
    }
    if (!a.file)
        route_store_net_fetcher_free(&fetcher);
    route_store_close(s);
    return rc ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

static int run_install(const cli_cmd *cmd, int argc, char **argv)
{
    return install_or_update(cmd, argc, argv, false);
}

static int run_update(const cli_cmd *cmd, int argc, char **argv)
{
    return install_or_update(cmd, argc, argv, true);
}

/* ---- remove ---- */

/* Why name must not be removed without --force, or NULL: the AI config
 * uses it (by name or by path) or $RHEMA_MODEL names it. */
static const char *in_use(const route_store *s, const char *name, char *why, size_t n)
{
    route_installed m;
    char path[4096], err[1024];
    const char *env = getenv("RHEMA_MODEL");
    if (env && !strcmp(env, name)) {
        snprintf(why, n, "$RHEMA_MODEL names it");
        return why;
    }
    route_config *cfg = NULL;
    if (route_config_find(NULL, path, sizeof path, err, sizeof err) ||
        route_config_load(path[0] ? path : NULL, &cfg, err, sizeof err)) {
        snprintf(why, n, "the AI configuration cannot be read to check whether it uses the model (%s)",
                 err);
        return why;
    }
    bool have_path = route_store_get((route_store *)s, name, &m, NULL, 0) == 0 &&
                     route_store_path(s, &m, path, sizeof path, NULL, 0) == 0;
    const char *hit = NULL;
    for (size_t i = 0; i < cfg->n_models && !hit; i++) {
        const route_model *rm = &cfg->models[i];
        if ((rm->name && !strcmp(rm->name, name)) ||
            (have_path && rm->model_path && !strcmp(rm->model_path, path)))
            hit = rm->name ? rm->name : name;
    }
    if (hit)
        snprintf(why, n, "the AI configuration %s uses it as embedded model '%s'",
                 cfg->path ? cfg->path : "(built-in defaults)", hit);
    route_config_free(cfg);
    return hit ? why : NULL;
}

static int run_remove(const cli_cmd *cmd, int argc, char **argv)
{
    const char *name = NULL;
    bool force = false;
    const cli_opt opts[] = {
        {"model", 'm', CLI_STR, &name, "NAME  the installed model to remove"},
        {"force", 'f', CLI_FLAG, &force, "remove it even when the configuration uses it"},
    };
    int rc = cli_parse(cmd, argc, argv, opts, 2, NULL, 0, NULL);
    if (rc)
        return rc;
    if (!name)
        return cli_usage_error(cmd, "--model NAME is required");
    route_store *s;
    if ((rc = store_open(&s)))
        return rc;
    char err[1024], why[1400];
    if (!force && in_use(s, name, why, sizeof why)) {
        fprintf(stderr, "rhema: not removing %s: %s; use --force to remove it anyway\n", name, why);
        route_store_close(s);
        return CLI_EXIT_FAIL;
    }
    rc = route_store_remove(s, name, err, sizeof err);
    if (rc)
        fprintf(stderr, "rhema: %s\n", err);
    else
        printf("removed %s\n", name);
    route_store_close(s);
    return rc ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

const cli_cmd cli_cmd_models_list = {
    "ai models list", "[--embedded] [--json]",
    "List the catalogue's and the installed local models (size, quantization, version; * default).",
    run_list};

const cli_cmd cli_cmd_models_install = {
    "ai models install", "--model NAME [--url URL | --file PATH] [--sha256 HEX] [--ca-file PEM]",
    "Download (resumable) or copy a GGUF model into the store, verified by sha256.",
    run_install};

const cli_cmd cli_cmd_models_update = {
    "ai models update", "--model NAME [--url URL | --file PATH] [--sha256 HEX]",
    "Install the catalogue's newer version; the old one stays unless the new one loads.",
    run_update};

const cli_cmd cli_cmd_models_remove = {
    "ai models remove", "--model NAME [--force]",
    "Delete an installed model (refused for the configured model unless --force).",
    run_remove};
