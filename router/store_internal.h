/* Shared by the model store's files (store.c, store_install.c, store_net.c,
 * catalog.c) only. */
#ifndef RHEMA_ROUTER_STORE_INTERNAL_H
#define RHEMA_ROUTER_STORE_INTERNAL_H

#include "router/internal.h"

#include <bearssl.h>
#include <limits.h>

struct route_store {
    char home[PATH_MAX];
    char models[PATH_MAX];  /* home/models */
    route_catalog *catalog;
};

/* Model and version names become file names: letters, digits, '.', '_',
 * '-' only, not starting with '.', at most 63 bytes. */
bool route_store_name_ok(const char *name);

/* A file name in the models folder: the same characters plus '@' (which
 * separates name and version), at most 159 bytes. */
bool route_store_file_ok(const char *file);

/* Read fd to its end in 1 MiB pieces, calling fn for each; stops at the
 * first non-zero status of fn and returns it, or -1 (errno set) when a
 * read fails. */
int route_store_read_all(int fd, int (*fn)(void *ud, const void *p, size_t n), void *ud);

/* The digest as 64 lowercase hex digits. */
void route_store_hex_digest(const br_sha256_context *h, char hex[65]);

/* Lowercase 64-digit hex; upper case input is accepted and folded into out. */
bool route_store_hex_ok(const char *hex, char out[65]);

/* dir/name into out; ROUTE_ERR_ARG when it does not fit. */
int route_store_join(char *out, size_t outlen, const char *dir, const char *name, char *err,
                     size_t errlen);

/* Take an exclusive flock on models/.NAME.lock without waiting: ROUTE_ERR_BUSY
 * when another process holds it. *fd gets the descriptor to close. */
int route_store_lock_model(route_store *s, const char *name, int *fd, char *err, size_t errlen);

/* Add or replace rec in the manifest under its lock (atomic rewrite). */
int route_store_manifest_put(route_store *s, const route_installed *rec, char *err, size_t errlen);

/* fsync the folder so a rename in it survives a crash. */
void route_store_sync_dir(const char *dir);

#endif
