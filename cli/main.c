/* rhema: find the command named by the leading words and run it. */
#include "cli/cli.h"
#include "kernels/kernels.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RHEMA_VERSION "0.1.0"

/* Number of leading words of path matched by argv (all of them or 0). */
static int match_words(const char *path, int argc, char **argv)
{
    int n = 0;
    const char *p = path;
    while (*p) {
        size_t len = strcspn(p, " ");
        if (n >= argc || strlen(argv[n]) != len || strncmp(argv[n], p, len))
            return 0;
        n++;
        p += len;
        while (*p == ' ')
            p++;
    }
    return n;
}

/* True when the first nwords of argv are a prefix of path's words. */
static bool is_group(const char *path, int nwords, char **argv)
{
    const char *p = path;
    for (int i = 0; i < nwords; i++) {
        size_t len = strcspn(p, " ");
        if (!len || strlen(argv[i]) != len || strncmp(argv[i], p, len))
            return false;
        p += len;
        while (*p == ' ')
            p++;
    }
    return *p != 0;
}

static void list_commands(FILE *out, int nwords, char **argv)
{
    for (size_t i = 0; i < cli_n_commands; i++) {
        const char *sum = cli_commands[i]->summary;
        if (nwords == 0 || is_group(cli_commands[i]->path, nwords, argv))
            fprintf(out, "  rhema %-26s %c%s\n", cli_commands[i]->path, toupper((unsigned char)sum[0]),
                    sum[0] ? sum + 1 : "");
    }
}

static void usage(FILE *out)
{
    fprintf(out, "rhema %s: a hybrid local/remote LLM engine for developer tooling\n\n"
                 "usage: rhema COMMAND [ARGS...]   ('rhema COMMAND --help' for a command's options)\n\n"
                 "commands:\n", RHEMA_VERSION);
    list_commands(out, 0, NULL);
    fprintf(out, "\n  rhema --version [--verbose]\n");
}

static int version(bool verbose)
{
    printf("rhema %s\n", RHEMA_VERSION);
    if (verbose) {
#if defined(__x86_64__)
        printf("target: x86-64\n");
#elif defined(__aarch64__)
        printf("target: aarch64\n");
#endif
        kern_cpu cpu;
        kern_cpu_detect(&cpu);
        printf("kernels: %s\n", kern_cpu_name(&cpu));
        printf("compiler: %s\n", __VERSION__);
    }
    return CLI_EXIT_OK;
}

/* The command word the user most likely meant, from those valid after the
 * first `depth` words. */
static const char *nearest_word(int depth, char **argv, char *buf, size_t n)
{
    size_t best = (size_t)-1;
    buf[0] = 0;
    for (size_t i = 0; i < cli_n_commands; i++) {
        const char *p = cli_commands[i]->path;
        if (depth && !is_group(p, depth, argv))
            continue;
        for (int k = 0; k < depth; k++) {
            p += strcspn(p, " ");
            while (*p == ' ')
                p++;
        }
        char word[64];
        snprintf(word, sizeof word, "%.*s", (int)strcspn(p, " "), p);
        size_t d = cli_edit_distance(argv[depth], word);
        if (d < best) {
            best = d;
            snprintf(buf, n, "%s", word);
        }
    }
    return best <= 1 + strlen(argv[depth]) / 3 ? buf : NULL;
}

static int unknown_command(int argc, char **argv)
{
    /* The deepest level at which the words still name a group. */
    int depth = 0;
    while (depth < argc) {
        bool any = false;
        for (size_t i = 0; i < cli_n_commands && !any; i++)
            any = is_group(cli_commands[i]->path, depth + 1, argv);
        if (!any)
            break;
        depth++;
    }
    if (depth == argc || argv[depth][0] == '-') {
        if (depth < argc && (!strcmp(argv[depth], "--help") || !strcmp(argv[depth], "-h"))) {
            printf("commands under 'rhema");
            for (int i = 0; i < depth; i++)
                printf(" %s", argv[i]);
            printf("':\n");
            list_commands(stdout, depth, argv);
            return CLI_EXIT_OK;
        }
        fprintf(stderr, "rhema: '");
        for (int i = 0; i < depth; i++)
            fprintf(stderr, "%s%s", i ? " " : "", argv[i]);
        fprintf(stderr, "' needs a subcommand:\n");
        list_commands(stderr, depth, argv);
        return CLI_EXIT_USAGE;
    }
    char buf[64];
    const char *near = nearest_word(depth, argv, buf, sizeof buf);
    fprintf(stderr, "rhema: unknown command '");
    for (int i = 0; i <= depth; i++)
        fprintf(stderr, "%s%s", i ? " " : "", argv[i]);
    if (near) {
        fprintf(stderr, "'; did you mean '");
        for (int i = 0; i < depth; i++)
            fprintf(stderr, "%s ", argv[i]);
        fprintf(stderr, "%s'?\n", near);
    } else {
        fprintf(stderr, "' (see 'rhema --help')\n");
    }
    return CLI_EXIT_USAGE;
}

/* OpenBLAS starts its threads before main and lets them spin for 2^28
 * cycles (about 0.13 s here) before they sleep, and again after each of
 * its calls: a core of this 2-core machine for every short command, and
 * the pool's second thread elbowed after every F32 prompt product. Ask it
 * to let them sleep at once, unless the user chose otherwise; OpenBLAS
 * reads its environment in its own constructor, after this one in the
 * static binary (a shared OpenBLAS starts before it and spins as before). */
__attribute__((constructor(101))) static void blas_sleep_early(void)
{
    setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0);
}

int main(int argc, char **argv)
{
    argc--, argv++;
    if (argc == 0) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h") || !strcmp(argv[0], "help")) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(argv[0], "--version") || !strcmp(argv[0], "-V"))
        return version(argc > 1 && !strcmp(argv[1], "--verbose"));

    const cli_cmd *best = NULL;
    int bestn = 0;
    for (size_t i = 0; i < cli_n_commands; i++) {
        int n = match_words(cli_commands[i]->path, argc, argv);
        if (n > bestn)
            bestn = n, best = cli_commands[i];
    }
    if (!best)
        return unknown_command(argc, argv);
    int rc = best->run(best, argc - bestn, argv + bestn);
    return rc == CLI_EXIT_HELP ? CLI_EXIT_OK : rc;
}
