/* Where the configuration lives, reading it, and replacing it atomically. */
#include "router/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int route_config_find(const char *explicit_path, char *out, size_t outlen, char *err, size_t errlen)
{
    if (!out || !outlen) return route_fail(err, errlen, ROUTE_ERR_ARG, "route_config_find: no output buffer");
    out[0] = 0;
    const char *env = getenv("RHEMA_AI_CONFIG");
    const char *given = explicit_path && *explicit_path ? explicit_path : env && *env ? env : NULL;
    if (given) {
        if (!is_file(given))
            return route_fail(err, errlen, ROUTE_ERR_IO, "%s%s: no such configuration file",
                              given == explicit_path ? "" : "$RHEMA_AI_CONFIG=", given);
        if (strlen(given) >= outlen) return route_fail(err, errlen, ROUTE_ERR_ARG, "%s: path too long", given);
        route_copy(out, outlen, given);
        return ROUTE_OK;
    }
    if (is_file(".rhema/ai-config.yaml")) {
        route_copy(out, outlen, ".rhema/ai-config.yaml");
        return ROUTE_OK;
    }
    const char *home = getenv("HOME");
    char path[4096];
    if (home && *home && (size_t)snprintf(path, sizeof path, "%s/.rhema/ai-config.yaml", home) < sizeof path &&
        is_file(path) && strlen(path) < outlen)
        route_copy(out, outlen, path);
    return ROUTE_OK;
}

int route_config_load(const char *path, route_config **out, char *err, size_t errlen)
{
    if (!path || !*path) return route_config_load_mem(NULL, 0, NULL, out, err, errlen);
    char *text;
    size_t len;
    int rc = route_read_file(path, 1 << 20, &text, &len, err, errlen);
    if (rc) return rc;
    rc = route_config_load_mem(text, len, path, out, err, errlen);
    free(text);
    return rc;
}

int route_config_update(const char *src, const char *dst, char *err, size_t errlen)
{
    if (!src || !dst || !*dst) return route_fail(err, errlen, ROUTE_ERR_ARG, "route_config_update: missing source or destination");
    route_config *cfg;
    int rc = route_config_load(src, &cfg, err, errlen);
    if (rc) return rc;
    route_config_free(cfg);
    char *text;
    size_t len;
    if ((rc = route_read_file(src, 1 << 20, &text, &len, err, errlen))) return rc;
    char dir[4096], tmp[4200];
    route_dirname(dst, dir, sizeof dir);
    if ((rc = route_mkdir_p(dir, err, errlen))) {
        free(text);
        return rc;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", dst, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        free(text);
        return route_fail(err, errlen, ROUTE_ERR_IO, "%s: %s", tmp, strerror(errno));
    }
    /* Readers see the old file or the new one, never a half-written one. */
    bool ok = route_write_all(fd, text, len) == 0 && fsync(fd) == 0;
    int saved = errno;
    ok = close(fd) == 0 && ok;
    free(text);
    if (!ok || rename(tmp, dst) != 0) {
        if (ok) saved = errno;
        unlink(tmp);
        return route_fail(err, errlen, ROUTE_ERR_IO, "cannot replace %s: %s", dst, strerror(saved));
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return ROUTE_OK;
}
