/* Option parsing shared by every command, with "did you mean" hints. */
#include "cli/cli.h"

#include "kernels/kernels.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t cli_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return la > lb ? la : lb;
    size_t prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof *prev);
    }
    return prev[lb];
}

int cli_usage_error(const cli_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "rhema %s: ", cmd->path);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: rhema %s %s\n(see 'rhema %s --help')\n", cmd->path, cmd->args, cmd->path);
    return CLI_EXIT_USAGE;
}

static void print_help(const cli_cmd *cmd, const cli_opt *opts, size_t nopts)
{
    printf("usage: rhema %s %s\n\n%c%s\n", cmd->path, cmd->args, toupper((unsigned char)cmd->summary[0]),
           cmd->summary[0] ? cmd->summary + 1 : "");
    printf("\noptions:\n");
    for (size_t i = 0; i < nopts; i++) {
        char left[96];
        const char *help = opts[i].help ? opts[i].help : "";
        const char *gap = strstr(help, "  ");
        int meta = (opts[i].kind != CLI_FLAG && gap) ? (int)(gap - help) : 0;
        if (opts[i].short_name)
            snprintf(left, sizeof left, "-%c, --%s%s%.*s", opts[i].short_name, opts[i].name,
                     meta ? " " : "", meta, help);
        else
            snprintf(left, sizeof left, "    --%s%s%.*s", opts[i].name, meta ? " " : "", meta, help);
        printf("  %-28s %s\n", left, meta ? gap + 2 : help);
    }
    printf("  %-28s %s\n", "-h, --help", "show this help");
}

static const cli_opt *find_long(const cli_opt *opts, size_t nopts, const char *name, size_t len)
{
    for (size_t i = 0; i < nopts; i++)
        if (strlen(opts[i].name) == len && !strncmp(opts[i].name, name, len))
            return &opts[i];
    return NULL;
}

static int unknown_option(const cli_cmd *cmd, const cli_opt *opts, size_t nopts, const char *arg)
{
    char name[65];
    const char *best = NULL;
    size_t bestd = (size_t)-1;
    snprintf(name, sizeof name, "%.*s", (int)strcspn(arg, "="), arg);
    for (size_t i = 0; i < nopts; i++) {
        size_t d = cli_edit_distance(name, opts[i].name);
        if (d < bestd)
            bestd = d, best = opts[i].name;
    }
    if (best && bestd <= 1 + strlen(name) / 3)
        return cli_usage_error(cmd, "unknown option '--%s'; did you mean '--%s'?", name, best);
    return cli_usage_error(cmd, "unknown option '--%s'", name);
}

static int set_value(const cli_cmd *cmd, const cli_opt *o, const char *v)
{
    char *end;
    switch (o->kind) {
    case CLI_FLAG:
        *(bool *)o->out = true;
        return 0;
    case CLI_STR:
        *(const char **)o->out = v;
        return 0;
    case CLI_INT: {
        errno = 0;
        long n = strtol(v, &end, 10);
        if (errno || end == v || *end)
            return cli_usage_error(cmd, "option --%s expects an integer, got '%s'", o->name, v);
        *(long *)o->out = n;
        return 0;
    }
    case CLI_FLOAT: {
        errno = 0;
        double d = strtod(v, &end);
        if (errno || end == v || *end || d != d)
            return cli_usage_error(cmd, "option --%s expects a number, got '%s'", o->name, v);
        *(double *)o->out = d;
        return 0;
    }
    }
    return 0;
}

int cli_parse(const cli_cmd *cmd, int argc, char **argv, const cli_opt *opts, size_t nopts,
              char **pos, int maxpos, int *npos)
{
    int np = 0;
    bool only_pos = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const cli_opt *o = NULL;
        const char *val = NULL;
        if (!only_pos && !strcmp(a, "--")) {
            only_pos = true;
            continue;
        }
        if (!only_pos && (!strcmp(a, "--help") || !strcmp(a, "-h"))) {
            print_help(cmd, opts, nopts);
            return CLI_EXIT_HELP;
        }
        if (!only_pos && a[0] == '-' && a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            o = find_long(opts, nopts, name, eq ? (size_t)(eq - name) : strlen(name));
            if (!o)
                return unknown_option(cmd, opts, nopts, name);
            if (eq) {
                if (o->kind == CLI_FLAG)
                    return cli_usage_error(cmd, "option --%s takes no value", o->name);
                val = eq + 1;
            }
        } else if (!only_pos && a[0] == '-' && a[1]) {
            for (size_t k = 0; k < nopts && !o; k++)
                if (opts[k].short_name == a[1])
                    o = &opts[k];
            if (!o)
                return cli_usage_error(cmd, "unknown option '-%c'", a[1]);
            if (a[2]) {
                if (o->kind == CLI_FLAG)
                    return cli_usage_error(cmd, "option -%c takes no value", a[1]);
                val = a + 2;
            }
        } else {
            if (np >= maxpos)
                return cli_usage_error(cmd, "unexpected argument '%s'", a);
            pos[np++] = argv[i];
            continue;
        }
        if (o->kind != CLI_FLAG && !val) {
            if (i + 1 >= argc)
                return cli_usage_error(cmd, "option --%s needs a value", o->name);
            val = argv[++i];
        }
        int rc = set_value(cmd, o, val);
        if (rc)
            return rc;
    }
    if (npos)
        *npos = np;
    return 0;
}

int cli_threads(const cli_cmd *cmd, long *threads)
{
    if (*threads == 0)
        *threads = kern_physical_cores();
    if (*threads < 1 || *threads > 256)
        return cli_usage_error(cmd, "--threads must be between 1 and 256");
    return CLI_EXIT_OK;
}

int cli_kernels(const cli_cmd *cmd, const char *name, kern_cpu *cpu)
{
    char err[512];
    kern_cpu_detect(cpu);
    if (name && kern_cpu_select_name(cpu, name, err, sizeof err) != KERN_OK)
        return cli_usage_error(cmd, "--kernels: %s", err);
    return CLI_EXIT_OK;
}
