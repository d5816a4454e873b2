/* route_backends wired to the local engine and the net providers. */
#ifndef RHEMA_CLI_AI_BACKENDS_H
#define RHEMA_CLI_AI_BACKENDS_H

#include "engine/engine.h"
#include "net/net.h"
#include "router/router.h"

typedef struct cli_ai_backend_state {
    eng_model *model; /* the last local model opened, kept for the next call */
    char model_path[4096];
    net_client *client;
    /* What the client was made for: another provider may need another. */
    char client_ca[4096];
    long client_timeout_s;
    /* How the engine runs: threads (0: the physical cores) and the kernel
     * set (NULL: the fastest this CPU runs). */
    unsigned n_threads;
    const kern_cpu *cpu;
} cli_ai_backend_state;

void cli_ai_backends_init(route_backends *b, cli_ai_backend_state *st);
void cli_ai_backends_free(cli_ai_backend_state *st);

#endif
