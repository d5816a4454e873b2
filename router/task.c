/* Task files for `rhema ai tasks route --task`, read with the same schema
 * walker as the configuration so mistakes get the same positioned
 * messages. */
#include "router/config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_TASK_BYTES = 1 << 20, MAX_CONTEXT_BYTES = 16 << 20 };

/* Append the context files (relative to the task file) to t->context. */
static int read_context(const char *task_path, route_task *t, char *err, size_t errlen)
{
    char dir[4096];
    route_dirname(task_path, dir, sizeof dir);
    size_t total = t->context ? strlen(t->context) : 0;
    for (size_t i = 0; i < t->n_context_files; i++) {
        const char *f = t->context_files[i];
        char path[8192];
        snprintf(path, sizeof path, "%s%s%s", f[0] == '/' ? "" : dir, f[0] == '/' ? "" : "/", f);
        char *text;
        size_t len;
        int rc = route_read_file(path, MAX_CONTEXT_BYTES - total, &text, &len, err, errlen);
        if (rc) return rc;
        char *joined = realloc(t->context, total + len + 2);
        if (!joined) {
            free(text);
            return route_fail(err, errlen, ROUTE_ERR_NOMEM, "out of memory");
        }
        t->context = joined;
        if (total) joined[total++] = '\n';
        memcpy(joined + total, text, len + 1);
        total += len;
        free(text);
    }
    return ROUTE_OK;
}

int route_task_load(const char *path, route_task *out, char *err, size_t errlen)
{
    static const key_spec specs[] = {
        {"prompt", K_STR, offsetof(route_task, prompt), 0, 0, 0, NULL, NULL, F_REQ},
        STR(route_task, context, "context"),
        LIST(route_task, context_files, n_context_files, "context_files"),
        BOOL(route_task, is_private, "private"),
        INT(route_task, max_output_tokens, "max_output_tokens", 1, 10000000),
    };
    if (!path || !out) return route_fail(err, errlen, ROUTE_ERR_ARG, "route_task_load: missing path or task");
    memset(out, 0, sizeof *out);
    char *text;
    size_t len;
    int rc = route_read_file(path, MAX_TASK_BYTES, &text, &len, err, errlen);
    if (rc) return rc;
    /* The walker records settings; a task has no use for them. */
    route_config *scratch = calloc(1, sizeof *scratch);
    if (!scratch) rc = route_fail(err, errlen, ROUTE_ERR_NOMEM, "out of memory");
    if (!rc) rc = route_cfg_load_doc(text, len, path, "'prompt:'", specs, NSPECS(specs), out, scratch, err, errlen);
    route_config_free(scratch);
    free(text);
    if (!rc) rc = read_context(path, out, err, errlen);
    if (rc) route_task_free(out);
    return rc;
}

void route_task_free(route_task *t)
{
    if (!t) return;
    free(t->prompt);
    free(t->context);
    route_cfg_free_strs(t->context_files, t->n_context_files);
    memset(t, 0, sizeof *t);
}
