/* cli: the `rhema` command line. Only this module prints to the terminal
 * and chooses exit codes; everything below returns statuses and messages. */
#ifndef RHEMA_CLI_H
#define RHEMA_CLI_H

#include <stdbool.h>
#include <stddef.h>

/* Exit codes: 0 success, 1 the command ran and failed (invalid model, API
 * error...), 2 bad usage. CLI_EXIT_HELP means "help was printed, stop": a
 * command returns it as it is and main() exits 0. */
enum { CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2, CLI_EXIT_HELP = 64 };

typedef struct cli_cmd {
    const char *path;     /* words after `rhema`: "ai models inspect" */
    const char *args;     /* usage line after the path: "PATH [--json]" */
    const char *summary;  /* one line for listings */
    int (*run)(const struct cli_cmd *cmd, int argc, char **argv);  /* argv[0] is the first argument after the path */
} cli_cmd;

typedef enum cli_kind { CLI_FLAG, CLI_STR, CLI_INT, CLI_FLOAT } cli_kind;

typedef struct cli_opt {
    const char *name;  /* long name without dashes: "model" */
    char short_name;   /* 'n', or 0 */
    cli_kind kind;
    void *out;         /* bool*, const char**, long*, double* */
    const char *help;  /* "PATH  the model file" */
} cli_opt;

/* --json, as every command that can print one JSON object spells it. */
#define CLI_OPT_JSON(var) {"json", 0, CLI_FLAG, &(var), "print one JSON object"}

/* Parse argv against opts (also accepts --name=value, -n VALUE, -nVALUE,
 * `--` and --help/-h). Positional arguments go to pos (at most maxpos, else
 * an error). Returns 0 to go on, or a code the command returns at once:
 * CLI_EXIT_HELP after printing help, CLI_EXIT_USAGE after printing the
 * error (an unknown flag names the nearest known one). */
int cli_parse(const cli_cmd *cmd, int argc, char **argv, const cli_opt *opts, size_t nopts,
              char **pos, int maxpos, int *npos);

/* Print a usage error for cmd (with a hint to --help) and return CLI_EXIT_USAGE. */
int cli_usage_error(const cli_cmd *cmd, const char *fmt, ...);

/* The registered commands, defined in cli/commands.c. */
extern const cli_cmd *const cli_commands[];
extern const size_t cli_n_commands;

/* --model NAME|PATH: an existing file (or any path with a '/') as it is,
 * else the file of the installed model of that name. 0 or a status with
 * a message. */
int cli_model_file(const char *arg, char *out, size_t n, char *err, size_t errlen);

/* --kernels SET: the named kernel set (NULL: the fastest this CPU runs)
 * into cpu, or a usage error naming the sets there are. */
struct kern_cpu;
#define CLI_KERNELS_HELP \
    "SET  portable, avx2, avx512, amx or neon (default: the fastest), or one table of a set by the name " \
    "--version --verbose prints (avx2-fma-prefetch, ...)"
int cli_kernels(const cli_cmd *cmd, const char *name, struct kern_cpu *cpu);

/* --threads N: 0 (not given) becomes the physical cores; outside 1..256 a
 * usage error. */
#define CLI_THREADS_HELP "N  threads (default: the physical cores)"
int cli_threads(const cli_cmd *cmd, long *threads);

/* Levenshtein distance, used for "did you mean". */
size_t cli_edit_distance(const char *a, const char *b);

#endif
