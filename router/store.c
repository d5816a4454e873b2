/* The model store: $RHEMA_HOME/models holds the GGUF files and
 * manifest.json, the record of what is installed. Every manifest change is
 * a read-modify-write under an exclusive flock on .manifest.lock, written to
 * a temporary file, fsync'ed and renamed over the old one, so concurrent
 * processes lose no update and a crash leaves the old or the new manifest,
 * never a torn one. */
#include "router/store_internal.h"

#include "net/net.h"

#include <bearssl.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MANIFEST "manifest.json"
#define MANIFEST_MAX (16u << 20)

const char *route_store_status_str(int status)
{
    switch (status) {
    case ROUTE_ERR_NOTFOUND: return "not found";
    case ROUTE_ERR_CHECKSUM: return "checksum mismatch";
    case ROUTE_ERR_NOSPACE: return "not enough disk space";
    case ROUTE_ERR_NET: return "download failed";
    case ROUTE_ERR_MODEL: return "invalid model";
    case ROUTE_ERR_BUSY: return "busy";
    default: return route_status_str(status);
    }
}

static bool chars_ok(const char *s, size_t max, char extra)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max || s[0] == '.' || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!isalnum(ch) && ch != '.' && ch != '_' && ch != '-' && ch != extra)
            return false;
    }
    return true;
}

bool route_store_name_ok(const char *name)
{
    return chars_ok(name, 63, '-');
}

bool route_store_file_ok(const char *file)
{
    return chars_ok(file, 159, '@');
}

bool route_store_hex_ok(const char *hex, char out[65])
{
    if (!hex || strlen(hex) != 64)
        return false;
    for (size_t i = 0; i < 64; i++) {
        if (!isxdigit((unsigned char)hex[i]))
            return false;
        out[i] = (char)tolower((unsigned char)hex[i]);
    }
    out[64] = '\0';
    return true;
}

int route_store_join(char *out, size_t outlen, const char *dir, const char *name, char *err,
                     size_t errlen)
{
    int n = snprintf(out, outlen, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= outlen)
        return route_fail(err, errlen, ROUTE_ERR_ARG, "path too long: %s/%s", dir, name);
    return 0;
}

void route_store_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int route_store_home(char *out, size_t outlen, char *err, size_t errlen)
{
    const char *home = getenv("RHEMA_HOME");
    if (home && *home) {
        route_copy(out, outlen, home);
        return strlen(home) < outlen ? 0 : route_fail(err, errlen, ROUTE_ERR_ARG,
                                                      "$RHEMA_HOME is too long");
    }
    const char *user = getenv("HOME");
    if (!user || !*user)
        return route_fail(err, errlen, ROUTE_ERR_ARG,
                          "neither $RHEMA_HOME nor $HOME is set: cannot place the model store");
    return route_store_join(out, outlen, user, ".rhema", err, errlen);
}

int route_store_open(const char *home, route_store **out, char *err, size_t errlen)
{
    char reg[PATH_MAX];
    if (!out)
        return route_fail(err, errlen, ROUTE_ERR_ARG, "route_store_open: out is NULL");
    *out = NULL;
    route_store *s = calloc(1, sizeof *s);
    if (!s)
        return route_fail(err, errlen, ROUTE_ERR_NOMEM, "out of memory");
    int rc = home ? 0 : route_store_home(s->home, sizeof s->home, err, errlen);
    if (!rc && home)
        rc = strlen(home) < sizeof s->home ? (route_copy(s->home, sizeof s->home, home), 0)
                                           : route_fail(err, errlen, ROUTE_ERR_ARG, "home path too long");
    if (!rc)
        rc = route_store_join(s->models, sizeof s->models, s->home, "models", err, errlen);
    if (!rc)
        rc = route_mkdir_p(s->models, err, errlen);
    if (!rc)
        rc = route_store_join(reg, sizeof reg, s->home, "registry.yaml", err, errlen);
    if (!rc)
        rc = route_catalog_load(reg, &s->catalog, err, errlen);
    if (rc) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void route_store_close(route_store *s)
{
    if (!s)
        return;
    route_catalog_free(s->catalog);
    free(s);
}

const char *route_store_models_dir(const route_store *s)
{
    return s->models;
}

const route_catalog *route_store_catalog(const route_store *s)
{
    return s->catalog;
}

/* ---- locks ---- */

static int lock_file(const char *path, int how, int *fd, char *err, size_t errlen)
{
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0)
        return route_fail(err, errlen, ROUTE_ERR_IO, "cannot open lock %s: %s", path, strerror(errno));
    int r;
    while ((r = flock(*fd, how)) != 0 && errno == EINTR)
        ;
    if (r == 0)
        return 0;
    int e = errno;
    close(*fd);
    *fd = -1;
    if (e == EWOULDBLOCK)
        return ROUTE_ERR_BUSY;
    return route_fail(err, errlen, ROUTE_ERR_IO, "cannot lock %s: %s", path, strerror(e));
}

int route_store_lock_model(route_store *s, const char *name, int *fd, char *err, size_t errlen)
{
    char path[PATH_MAX], base[96];
    snprintf(base, sizeof base, ".%s.lock", name);
    int rc = route_store_join(path, sizeof path, s->models, base, err, errlen);
    if (!rc)
        rc = lock_file(path, LOCK_EX | LOCK_NB, fd, err, errlen);
    if (rc == ROUTE_ERR_BUSY)
        route_fail(err, errlen, rc, "another rhema process is installing, updating or removing %s",
                   name);
    return rc;
}

static int lock_manifest(route_store *s, int how, int *fd, char *err, size_t errlen)
{
    char path[PATH_MAX];
    int rc = route_store_join(path, sizeof path, s->models, ".manifest.lock", err, errlen);
    return rc ? rc : lock_file(path, how, fd, err, errlen);
}

/* ---- manifest ---- */

typedef struct mlist {
    route_installed *v;
    size_t n;
} mlist;

static void copy_str(const net_json *o, const char *key, char *dst, size_t n)
{
    route_copy(dst, n, net_json_get_str(o, key, ""));
}

static int parse_record(const net_json *o, route_installed *m)
{
    memset(m, 0, sizeof *m);
    copy_str(o, "name", m->name, sizeof m->name);
    copy_str(o, "version", m->version, sizeof m->version);
    copy_str(o, "file", m->file, sizeof m->file);
    copy_str(o, "sha256", m->sha256, sizeof m->sha256);
    copy_str(o, "source", m->source, sizeof m->source);
    copy_str(o, "verified", m->verified, sizeof m->verified);
    int64_t size = net_json_get_int(o, "size", -1);
    m->installed_at = net_json_get_int(o, "installed_at", 0);
    m->size = size < 0 ? 0 : (uint64_t)size;
    /* The file name is joined to the models folder: refuse anything that
     * could point elsewhere. */
    return route_store_name_ok(m->name) && route_store_file_ok(m->file) && size >= 0 ? 0 : -1;
}

static int read_manifest(route_store *s, mlist *l, char *err, size_t errlen)
{
    char path[PATH_MAX];
    l->v = NULL;
    l->n = 0;
    int rc = route_store_join(path, sizeof path, s->models, MANIFEST, err, errlen);
    if (rc)
        return rc;
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? 0 : route_fail(err, errlen, ROUTE_ERR_IO, "cannot read %s: %s",
                                                 path, strerror(errno));
    net_buf b;
    net_buf_init(&b);
    b.max = MANIFEST_MAX;
    char chunk[8192];
    size_t got;
    while (!rc && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = net_buf_append(&b, chunk, got);
    if (!rc && ferror(f))
        rc = -1;
    fclose(f);
    net_json_doc *doc = NULL;
    char jerr[200] = "read error or larger than 16 MiB";
    if (!rc)
        rc = net_json_parse_doc(b.data ? b.data : "", b.len, &doc, jerr, sizeof jerr);
    net_buf_free(&b);
    const net_json *models = rc ? NULL : net_json_get(net_json_root(doc), "models");
    if (!rc && net_json_typeof(models) != NET_JSON_ARRAY) {
        snprintf(jerr, sizeof jerr, "no \"models\" array");
        rc = -1;
    }
    size_t n = rc ? 0 : net_json_count(models);
    l->v = n ? calloc(n, sizeof *l->v) : NULL;
    if (n && !l->v)
        rc = -1;
    for (const net_json *m = rc ? NULL : net_json_first(models); m; m = net_json_next(m)) {
        if (parse_record(m, &l->v[l->n]) == 0)
            l->n++;
    }
    net_json_free(doc);
    if (rc) {
        free(l->v);
        l->v = NULL;
        return route_fail(err, errlen, ROUTE_ERR_IO, "%s is damaged (%s): move it aside and "
                          "reinstall the models", path, jerr);
    }
    return 0;
}

static void write_record(net_jw *w, const route_installed *m)
{
    net_jw_obj_begin(w);
    net_jw_key(w, "name");
    net_jw_str(w, m->name);
    net_jw_key(w, "version");
    net_jw_str(w, m->version);
    net_jw_key(w, "file");
    net_jw_str(w, m->file);
    net_jw_key(w, "sha256");
    net_jw_str(w, m->sha256);
    net_jw_key(w, "size");
    net_jw_int(w, (int64_t)m->size);
    net_jw_key(w, "installed_at");
    net_jw_int(w, m->installed_at);
    net_jw_key(w, "source");
    net_jw_str(w, m->source);
    net_jw_key(w, "verified");
    net_jw_str(w, m->verified);
    net_jw_obj_end(w);
}

static int write_manifest(route_store *s, const mlist *l, char *err, size_t errlen)
{
    char path[PATH_MAX], tmp[PATH_MAX + 32];
    int rc = route_store_join(path, sizeof path, s->models, MANIFEST, err, errlen);
    if (rc)
        return rc;
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    net_buf b;
    net_jw w;
    net_buf_init(&b);
    net_jw_init(&w, &b);
    net_jw_obj_begin(&w);
    net_jw_key(&w, "format");
    net_jw_int(&w, 1);
    net_jw_key(&w, "models");
    net_jw_arr_begin(&w);
    for (size_t i = 0; i < l->n; i++)
        write_record(&w, &l->v[i]);
    net_jw_arr_end(&w);
    net_jw_obj_end(&w);
    char jerr[160];
    if (net_jw_finish(&w, jerr, sizeof jerr) || net_buf_puts(&b, "\n")) {
        net_buf_free(&b);
        return route_fail(err, errlen, ROUTE_ERR_IO, "cannot write the manifest: %s", jerr);
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || route_write_all(fd, b.data, b.len) || fsync(fd)) {
        rc = route_fail(err, errlen, errno == ENOSPC ? ROUTE_ERR_NOSPACE : ROUTE_ERR_IO,
                        "cannot write %s: %s", tmp, strerror(errno));
    }
    if (fd >= 0 && close(fd) && !rc)
        rc = route_fail(err, errlen, ROUTE_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, path))
        rc = route_fail(err, errlen, ROUTE_ERR_IO, "cannot replace %s: %s", path, strerror(errno));
    if (rc)
        unlink(tmp);
    else
        route_store_sync_dir(s->models);
    net_buf_free(&b);
    return rc;
}

static size_t find_rec(const mlist *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].name, name))
            return i;
    return (size_t)-1;
}

/* Read, change one record (rec NULL: delete name), write back, all under
 * the exclusive lock. *old (may be NULL) gets the record replaced. */
static int manifest_change(route_store *s, const char *name, const route_installed *rec,
                           route_installed *old, bool *had, char *err, size_t errlen)
{
    int fd;
    mlist l;
    int rc = lock_manifest(s, LOCK_EX, &fd, err, errlen);
    if (rc)
        return rc;
    rc = read_manifest(s, &l, err, errlen);
    size_t i = rc ? (size_t)-1 : find_rec(&l, name);
    *had = i != (size_t)-1;
    if (*had && old)
        *old = l.v[i];
    if (!rc && rec && !*had) {
        route_installed *p = realloc(l.v, (l.n + 1) * sizeof *p);
        if (!p)
            rc = route_fail(err, errlen, ROUTE_ERR_NOMEM, "out of memory");
        else
            l.v = p, i = l.n++;
    }
    if (!rc && rec)
        l.v[i] = *rec;
    else if (!rc && *had)
        l.v[i] = l.v[--l.n];
    if (!rc && (rec || *had))
        rc = write_manifest(s, &l, err, errlen);
    free(l.v);
    close(fd);
    return rc;
}

int route_store_manifest_put(route_store *s, const route_installed *rec, char *err, size_t errlen)
{
    bool had;
    return manifest_change(s, rec->name, rec, NULL, &had, err, errlen);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const route_installed *)a)->name, ((const route_installed *)b)->name);
}

static void mark_present(const route_store *s, route_installed *m)
{
    char path[PATH_MAX];
    struct stat st;
    m->present = route_store_path(s, m, path, sizeof path, NULL, 0) == 0 && stat(path, &st) == 0 &&
                 S_ISREG(st.st_mode) && (uint64_t)st.st_size == m->size;
}

int route_store_list(route_store *s, route_installed **out, size_t *n, char *err, size_t errlen)
{
    int fd;
    mlist l;
    *out = NULL;
    *n = 0;
    int rc = lock_manifest(s, LOCK_SH, &fd, err, errlen);
    if (rc)
        return rc;
    rc = read_manifest(s, &l, err, errlen);
    close(fd);
    if (rc)
        return rc;
    if (l.n)
        qsort(l.v, l.n, sizeof *l.v, cmp_name);
    for (size_t i = 0; i < l.n; i++)
        mark_present(s, &l.v[i]);
    *out = l.v;
    *n = l.n;
    return 0;
}

int route_store_get(route_store *s, const char *name, route_installed *out, char *err,
                    size_t errlen)
{
    route_installed *v;
    size_t n;
    int rc = route_store_list(s, &v, &n, err, errlen);
    if (rc)
        return rc;
    mlist l = {v, n};
    size_t i = find_rec(&l, name ? name : "");
    if (i == (size_t)-1)
        rc = route_fail(err, errlen, ROUTE_ERR_NOTFOUND, "%s is not installed (see `rhema ai "
                        "models list`)", name ? name : "(null)");
    else
        *out = v[i];
    free(v);
    return rc;
}

int route_store_path(const route_store *s, const route_installed *m, char *out, size_t outlen,
                     char *err, size_t errlen)
{
    return route_store_join(out, outlen, s->models, m->file, err, errlen);
}

/* Delete NAME@*.gguf.part: partial downloads of any version ('@' cannot
 * occur in a name, so no other model's files match). */
static void remove_parts(route_store *s, const char *name)
{
    char path[PATH_MAX];
    size_t nl = strlen(name);
    DIR *d = opendir(s->models);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l > nl + 10 && !strncmp(de->d_name, name, nl) && de->d_name[nl] == '@' &&
            !strcmp(de->d_name + l - 10, ".gguf.part") &&
            route_store_join(path, sizeof path, s->models, de->d_name, NULL, 0) == 0)
            unlink(path);
    }
    if (d)
        closedir(d);
}

int route_store_remove(route_store *s, const char *name, char *err, size_t errlen)
{
    int lfd;
    bool had;
    route_installed old;
    char path[PATH_MAX];
    if (!route_store_name_ok(name))
        return route_fail(err, errlen, ROUTE_ERR_ARG, "bad model name '%s'", name ? name : "");
    int rc = route_store_lock_model(s, name, &lfd, err, errlen);
    if (rc)
        return rc;
    /* The manifest forgets the model first: a crash then leaves an orphan
     * file, never a record pointing at a deleted one. */
    rc = manifest_change(s, name, NULL, &old, &had, err, errlen);
    if (!rc && had && route_store_path(s, &old, path, sizeof path, NULL, 0) == 0)
        unlink(path);
    if (!rc) {
        remove_parts(s, name);
        route_store_sync_dir(s->models);
    }
    close(lfd);
    if (!rc && !had)
        rc = route_fail(err, errlen, ROUTE_ERR_NOTFOUND, "%s is not installed", name);
    return rc;
}

int route_store_read_all(int fd, int (*fn)(void *ud, const void *p, size_t n), void *ud)
{
    static const size_t bufsz = 1u << 20;
    unsigned char *buf = malloc(bufsz);
    if (!buf) {
        errno = ENOMEM;
        return -1;
    }
    int rc = 0;
    ssize_t got;
    while (!rc && (got = read(fd, buf, bufsz)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        rc = got < 0 ? -1 : fn(ud, buf, (size_t)got);
    }
    int e = errno;
    free(buf);
    errno = e;
    return rc;
}

static int hash_piece(void *ud, const void *p, size_t n)
{
    br_sha256_update(ud, p, n);
    return 0;
}

int route_store_sha256_file(const char *path, char hex[65], char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return route_fail(err, errlen, ROUTE_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    br_sha256_context h;
    br_sha256_init(&h);
    int rc = route_store_read_all(fd, hash_piece, &h);
    int e = errno;
    close(fd);
    if (rc)
        return route_fail(err, errlen, ROUTE_ERR_IO, "cannot read %s: %s", path, strerror(e));
    route_store_hex_digest(&h, hex);
    return 0;
}

void route_store_hex_digest(const br_sha256_context *h, char hex[65])
{
    unsigned char d[32];
    br_sha256_out(h, d);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

int route_store_verify(route_store *s, const char *name, char *err, size_t errlen)
{
    route_installed m;
    char path[PATH_MAX], hex[65];
    int rc = route_store_get(s, name, &m, err, errlen);
    if (!rc)
        rc = route_store_path(s, &m, path, sizeof path, err, errlen);
    if (!rc && !m.present)
        rc = route_fail(err, errlen, ROUTE_ERR_MODEL, "%s is missing or has another size than "
                        "the %" PRIu64 " bytes installed: reinstall it", path, m.size);
    if (!rc)
        rc = route_store_sha256_file(path, hex, err, errlen);
    if (!rc && strcmp(hex, m.sha256))
        rc = route_fail(err, errlen, ROUTE_ERR_CHECKSUM, "%s: sha256 is %s but %s was installed "
                        "with %s: the file changed on disk; reinstall it", path, hex, name, m.sha256);
    return rc;
}
