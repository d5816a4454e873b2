/* The command table: one line per command, kept in `rhema --help` order. */
#include "cli/cli.h"

extern const cli_cmd cli_cmd_models_inspect;
extern const cli_cmd cli_cmd_models_validate;
extern const cli_cmd cli_cmd_run;
extern const cli_cmd cli_cmd_logits;
extern const cli_cmd cli_cmd_tokenize;

const cli_cmd *const cli_commands[] = {
    &cli_cmd_models_inspect,
    &cli_cmd_models_validate,
    &cli_cmd_run,
    &cli_cmd_logits,
    &cli_cmd_tokenize,
};

const size_t cli_n_commands = sizeof cli_commands / sizeof cli_commands[0];
