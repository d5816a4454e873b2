/* The command table: one line per command, kept in `rhema --help` order. */
#include "cli/cli.h"

extern const cli_cmd cli_cmd_models_inspect;
extern const cli_cmd cli_cmd_models_validate;
extern const cli_cmd cli_cmd_models_list;
extern const cli_cmd cli_cmd_models_install;
extern const cli_cmd cli_cmd_models_update;
extern const cli_cmd cli_cmd_models_remove;
extern const cli_cmd cli_cmd_run;
extern const cli_cmd cli_cmd_logits;
extern const cli_cmd cli_cmd_tokenize;
extern const cli_cmd cli_cmd_service_config;
extern const cli_cmd cli_cmd_tasks_classify;
extern const cli_cmd cli_cmd_tasks_route;
extern const cli_cmd cli_cmd_tasks_benchmark;
extern const cli_cmd cli_cmd_costs_analyze;
extern const cli_cmd cli_cmd_costs_savings;
extern const cli_cmd cli_cmd_costs_project;
extern const cli_cmd cli_cmd_costs_optimize;
extern const cli_cmd cli_cmd_perf_metrics;
extern const cli_cmd cli_cmd_perf_compare;
extern const cli_cmd cli_cmd_perf_optimize;
extern const cli_cmd cli_cmd_service_status;
extern const cli_cmd cli_cmd_ai_chat;

const cli_cmd *const cli_commands[] = {
    &cli_cmd_models_inspect,
    &cli_cmd_models_validate,
    &cli_cmd_models_list,
    &cli_cmd_models_install,
    &cli_cmd_models_update,
    &cli_cmd_models_remove,
    &cli_cmd_run,
    &cli_cmd_logits,
    &cli_cmd_tokenize,
    &cli_cmd_service_config,
    &cli_cmd_tasks_classify,
    &cli_cmd_tasks_route,
    &cli_cmd_tasks_benchmark,
    &cli_cmd_costs_analyze,
    &cli_cmd_costs_savings,
    &cli_cmd_costs_project,
    &cli_cmd_costs_optimize,
    &cli_cmd_perf_metrics,
    &cli_cmd_perf_compare,
    &cli_cmd_perf_optimize,
    &cli_cmd_service_status,
    &cli_cmd_ai_chat,
};

const size_t cli_n_commands = sizeof cli_commands / sizeof cli_commands[0];
