/* Installing and updating models: every byte goes through a fetcher into
 * NAME@VERSION.gguf.part while it is hashed; the file is renamed into place
 * only after its sha256, its GGUF structure and (for updates) a load check
 * passed. A failed transfer keeps the .part so the next run resumes it. */
#include "router/store_internal.h"

#include "engine/engine.h"
#include "gguf/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define SPACE_MARGIN (16ull << 20) /* room left for the manifest and the rest */
#define DEFAULT_RETRIES 3

/* One staged file on its way into the store. */
typedef struct job {
    route_store *s;
    const route_install_opts *o;
    const char *url;      /* what is fetched (a local path for --file) */
    char part[PATH_MAX];
    int fd;
    br_sha256_context h;
    uint64_t have;        /* bytes in the .part */
    int64_t total;        /* size of the whole file, -1 unknown */
    char expected[65];    /* "" until a digest is known */
    char verified[16];    /* where expected came from */
    bool fatal;           /* retrying cannot help */
} job;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void mib(char *buf, size_t n, uint64_t v)
{
    snprintf(buf, n, "%.1f MiB", v / 1048576.0);
}

static int space_check(job *j, uint64_t need, char *err, size_t errlen)
{
    struct statvfs v;
    if (statvfs(j->s->models, &v) != 0)
        return 0; /* cannot tell: the writes will report a full disk */
    uint64_t avail = v.f_frsize && v.f_bavail > UINT64_MAX / v.f_frsize
                         ? UINT64_MAX : (uint64_t)v.f_bavail * v.f_frsize;
    if (need > UINT64_MAX - SPACE_MARGIN || avail < need + SPACE_MARGIN) {
        char a[32], b[32];
        mib(a, sizeof a, need > UINT64_MAX - SPACE_MARGIN ? need : need + SPACE_MARGIN);
        mib(b, sizeof b, avail);
        j->fatal = true;
        return route_fail(err, errlen, ROUTE_ERR_NOSPACE, "not enough disk space in %s: %s "
                          "needed, %s free", j->s->models, a, b);
    }
    return 0;
}

/* Empty the .part: the server does not resume, or what is there is wrong. */
static int restart(job *j, char *err, size_t errlen)
{
    if (ftruncate(j->fd, 0) || lseek(j->fd, 0, SEEK_SET) < 0)
        return route_fail(err, errlen, ROUTE_ERR_IO, "cannot truncate %s: %s", j->part,
                          strerror(errno));
    br_sha256_init(&j->h);
    j->have = 0;
    return 0;
}

static int on_head(void *ctx, const route_fetch_head *h, char *err, size_t errlen)
{
    job *j = ctx;
    if (h->status == 404 || h->status == 410) {
        j->fatal = true;
        return route_fail(err, errlen, ROUTE_ERR_NOTFOUND, "%s answered %d (not found): the "
                          "model file is not at that URL; check the URL or the registry entry",
                          j->url, h->status);
    }
    if (h->status == 416 && j->have > 0) {
        /* The range starts at or beyond the end: the .part is not a prefix
         * of this file. Start over on the next attempt. */
        int rc = restart(j, err, errlen);
        return rc ? rc : route_fail(err, errlen, ROUTE_ERR_NET, "%s refused to resume (416); "
                                    "starting over", j->url);
    }
    if (h->status != 200 && h->status != 206) {
        j->fatal = h->status < 500;
        return route_fail(err, errlen, ROUTE_ERR_NET, "%s answered HTTP %d", j->url, h->status);
    }
    int rc = 0;
    if (h->status == 200 && j->have > 0)
        rc = restart(j, err, errlen); /* the server ignored the Range */
    if (!rc && h->total >= 0 && j->have > (uint64_t)h->total)
        rc = restart(j, err, errlen);
    if (rc)
        return rc;
    j->total = h->total;
    if (h->sha256[0] && !j->expected[0]) {
        memcpy(j->expected, h->sha256, 65);
        snprintf(j->verified, sizeof j->verified, "server");
    } else if (h->sha256[0] && strcmp(h->sha256, j->expected)) {
        j->fatal = true;
        return route_fail(err, errlen, ROUTE_ERR_CHECKSUM, "%s publishes sha256 %s but the %s "
                          "digest is %s: the file changed upstream or the URL is wrong",
                          j->url, h->sha256, j->verified, j->expected);
    }
    if (h->total >= 0) {
        rc = space_check(j, (uint64_t)h->total - j->have, err, errlen);
        if (rc)
            return rc;
    }
    if (j->o->progress)
        j->o->progress(j->o->progress_user, j->have, h->total < 0 ? 0 : (uint64_t)h->total);
    return 0;
}

static int on_data(void *ctx, const void *p, size_t n, char *err, size_t errlen)
{
    job *j = ctx;
    if (j->total >= 0 && n > (uint64_t)j->total - j->have) {
        j->fatal = false;
        return route_fail(err, errlen, ROUTE_ERR_NET, "%s sent more than the %" PRId64
                          " bytes it announced", j->url, j->total);
    }
    if (route_write_all(j->fd, p, n)) {
        j->fatal = true;
        if (errno == ENOSPC || errno == EDQUOT)
            return route_fail(err, errlen, ROUTE_ERR_NOSPACE, "disk full writing %s after %" PRIu64
                              " bytes: free some space and run the command again to resume",
                              j->part, j->have);
        return route_fail(err, errlen, ROUTE_ERR_IO, "cannot write %s: %s", j->part, strerror(errno));
    }
    br_sha256_update(&j->h, p, n);
    j->have += n;
    if (j->o->progress)
        j->o->progress(j->o->progress_user, j->have, j->total < 0 ? 0 : (uint64_t)j->total);
    return 0;
}

typedef struct file_piece_ctx {
    const route_fetch_sink *sink;
    char *err;
    size_t errlen;
    int rc;
} file_piece_ctx;

static int file_piece(void *ud, const void *p, size_t n)
{
    file_piece_ctx *fp = ud;
    fp->rc = fp->sink->data(fp->sink->ctx, p, n, fp->err, fp->errlen);
    return fp->rc ? 1 : 0;
}

/* A fetcher over a local file, so --file installs take the same path. */
static int file_fetch(void *self, const char *path, uint64_t offset, const route_fetch_sink *sink,
                      char *err, size_t errlen)
{
    (void)self;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        int e = fd < 0 ? errno : EINVAL;
        if (fd >= 0)
            close(fd);
        return route_fail(err, errlen, ROUTE_ERR_NOTFOUND, "cannot read %s: %s", path,
                          e == EINVAL ? "not a regular file" : strerror(e));
    }
    route_fetch_head h = {200, st.st_size, false, ""};
    if (offset > 0 && offset <= (uint64_t)st.st_size && lseek(fd, (off_t)offset, SEEK_SET) >= 0)
        h.status = 206, h.partial = true;
    int rc = sink->head(sink->ctx, &h, err, errlen);
    file_piece_ctx fp = {sink, err, errlen, 0};
    if (!rc && route_store_read_all(fd, file_piece, &fp) == -1)
        rc = route_fail(err, errlen, ROUTE_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    else if (!rc)
        rc = fp.rc;
    close(fd);
    return rc;
}

static int hash_part(void *ud, const void *p, size_t n)
{
    job *j = ud;
    br_sha256_update(&j->h, p, n);
    j->have += n;
    return 0;
}

/* Open the .part and hash what an earlier run left in it. */
static int open_part(job *j, char *err, size_t errlen)
{
    j->fd = open(j->part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (j->fd < 0)
        return route_fail(err, errlen, ROUTE_ERR_IO, "cannot create %s: %s", j->part, strerror(errno));
    br_sha256_init(&j->h);
    j->have = 0;
    int got = route_store_read_all(j->fd, hash_part, j);
    if (got < 0)
        return restart(j, err, errlen); /* unreadable leftovers: start over */
    return 0;
}

static int transfer(job *j, const route_fetcher *f, char *err, size_t errlen)
{
    route_fetch_sink sink = {on_head, on_data, j};
    int tries = j->o->retries < 0 ? 0 : j->o->retries ? j->o->retries : DEFAULT_RETRIES;
    int rc = 0;
    for (int attempt = 0; attempt <= tries; attempt++) {
        j->fatal = false;
        rc = f->fetch(f->self, j->url, j->have, &sink, err, errlen);
        if (!rc && j->total >= 0 && j->have != (uint64_t)j->total)
            rc = route_fail(err, errlen, ROUTE_ERR_NET, "%s: the transfer ended at byte %" PRIu64
                            " of %" PRId64, j->url, j->have, j->total);
        if (!rc || rc != ROUTE_ERR_NET || j->fatal)
            break;
    }
    if (rc == ROUTE_ERR_NET && j->have > 0) {
        size_t l = err ? strlen(err) : 0;
        if (err && l < errlen)
            snprintf(err + l, errlen - l, "; %" PRIu64 " bytes are kept in %s: run the same "
                     "command again to resume", j->have, j->part);
    }
    return rc;
}

/* After the transfer: digest, structure and check, then into place. */
static int commit(job *j, const char *final, route_check_fn check, void *check_user,
                  char *err, size_t errlen)
{
    char hex[65];
    route_store_hex_digest(&j->h, hex);
    if (fsync(j->fd))
        return route_fail(err, errlen, ROUTE_ERR_IO, "cannot write %s: %s", j->part, strerror(errno));
    if (j->expected[0] && strcmp(hex, j->expected))
        return route_fail(err, errlen, ROUTE_ERR_CHECKSUM, "sha256 of %s is %s but the %s digest "
                          "is %s: the file is corrupt or not the one expected; nothing was "
                          "installed", j->url, hex, j->verified, j->expected);
    gguf_file g;
    char gerr[384];
    if (gguf_open(&g, j->part, gerr, sizeof gerr))
        return route_fail(err, errlen, ROUTE_ERR_MODEL, "%s is not a valid GGUF model (%s); "
                          "nothing was installed", j->url, gerr);
    gguf_close(&g);
    if (check) {
        int rc = check(check_user, j->part, gerr, sizeof gerr);
        if (rc)
            return route_fail(err, errlen, ROUTE_ERR_MODEL, "the new file does not work (%s); "
                              "nothing was changed", gerr);
    }
    if (rename(j->part, final))
        return route_fail(err, errlen, ROUTE_ERR_IO, "cannot move %s into place: %s", j->part,
                          strerror(errno));
    route_store_sync_dir(j->s->models);
    memcpy(j->expected, hex, sizeof hex);
    if (!j->verified[0])
        snprintf(j->verified, sizeof j->verified, "none");
    return 0;
}

/* What to fetch for name: URL (or file), version, expected digest. */
typedef struct plan {
    const char *src;
    bool local;
    const char *version;
    char sha[65];
    char verified[16];
    uint64_t size_hint;
} plan;

static int make_plan(route_store *s, const char *name, const route_install_opts *o, plan *p,
                     char *err, size_t errlen)
{
    const char *near;
    const route_catalog_entry *e = route_catalog_find(s->catalog, name, &near);
    memset(p, 0, sizeof *p);
    if (!route_store_name_ok(name))
        return route_fail(err, errlen, ROUTE_ERR_ARG, "bad model name '%s': use letters, digits, "
                          "'.', '_' and '-' (at most 63)", name ? name : "");
    if (!e && !o->url && !o->file)
        return route_fail(err, errlen, ROUTE_ERR_NOTFOUND, "unknown model '%s'%s%s%s; give --url "
                          "or --file to install a model outside the catalogue", name,
                          near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
    p->local = o->file != NULL;
    p->src = o->file ? o->file : o->url ? o->url : e->url;
    p->version = e ? e->version : "custom";
    p->size_hint = e && !o->file && !o->url ? e->size : 0;
    if (!p->src || !p->src[0])
        return route_fail(err, errlen, ROUTE_ERR_ARG, "%s has no download URL: give --url or --file",
                          name);
    if (!p->local && strncmp(p->src, "https://", 8) && strncmp(p->src, "http://", 7))
        return route_fail(err, errlen, ROUTE_ERR_ARG, "'%s' is not an http(s) URL", p->src);
    if (o->sha256) {
        if (!route_store_hex_ok(o->sha256, p->sha))
            return route_fail(err, errlen, ROUTE_ERR_ARG, "--sha256 must be 64 hex digits");
        snprintf(p->verified, sizeof p->verified, "given");
    } else if (e && e->sha256[0]) {
        memcpy(p->sha, e->sha256, 65);
        snprintf(p->verified, sizeof p->verified, "catalogue");
    }
    return 0;
}

/* Stage, verify and commit one version of name; rec gets the record. */
static int stage(route_store *s, const char *name, const plan *p, const route_install_opts *o,
                 route_check_fn check, void *check_user, route_installed *rec, char *err,
                 size_t errlen)
{
    static const route_fetcher local = {file_fetch, NULL};
    job j = {.s = s, .o = o, .url = p->src, .fd = -1, .total = -1};
    char file[160], final[PATH_MAX];
    memcpy(j.expected, p->sha, sizeof j.expected);
    memcpy(j.verified, p->verified, sizeof j.verified);
    snprintf(file, sizeof file, "%s@%s.gguf", name, p->version);
    int rc = route_store_join(final, sizeof final, s->models, file, err, errlen);
    if (!rc && snprintf(j.part, sizeof j.part, "%s.part", final) >= (int)sizeof j.part)
        rc = route_fail(err, errlen, ROUTE_ERR_ARG, "path too long: %s.part", final);
    const route_fetcher *f = p->local ? &local : o->fetcher;
    if (!rc && !f)
        rc = route_fail(err, errlen, ROUTE_ERR_ARG, "no fetcher given for a download");
    if (!rc)
        rc = open_part(&j, err, errlen);
    if (!rc && p->size_hint > j.have)
        rc = space_check(&j, p->size_hint - j.have, err, errlen);
    if (!rc)
        rc = transfer(&j, f, err, errlen);
    if (!rc)
        rc = commit(&j, final, check, check_user, err, errlen);
    if (j.fd >= 0)
        close(j.fd);
    /* A transfer that broke off or hit a full disk is kept to resume;
     * anything that failed verification is garbage. */
    if (rc && j.part[0] && (j.have == 0 || (rc != ROUTE_ERR_NET && rc != ROUTE_ERR_NOSPACE)))
        unlink(j.part);
    if (rc)
        return rc;
    memset(rec, 0, sizeof *rec);
    route_copy(rec->name, sizeof rec->name, name);
    route_copy(rec->version, sizeof rec->version, p->version);
    route_copy(rec->file, sizeof rec->file, file);
    memcpy(rec->sha256, j.expected, sizeof rec->sha256);
    rec->size = j.have;
    rec->installed_at = (int64_t)time(NULL);
    char abs[PATH_MAX];
    route_copy(rec->source, sizeof rec->source, p->local && realpath(p->src, abs) ? abs : p->src);
    route_copy(rec->verified, sizeof rec->verified, j.verified);
    rec->present = true;
    return route_store_manifest_put(s, rec, err, errlen);
}

int route_store_install(route_store *s, const char *name, const route_install_opts *o,
                        route_installed *out, char *err, size_t errlen)
{
    static const route_install_opts none = {0};
    route_installed rec, cur;
    plan p;
    int lfd;
    o = o ? o : &none;
    int rc = make_plan(s, name, o, &p, err, errlen);
    if (rc)
        return rc;
    rc = route_store_lock_model(s, name, &lfd, err, errlen);
    if (rc)
        return rc;
    rc = route_store_get(s, name, &cur, NULL, 0);
    if (rc == 0 && cur.present && !o->force) {
        rec = cur; /* already there: nothing to do */
    } else {
        rc = stage(s, name, &p, o, o->check, o->check_user, &rec, err, errlen);
        /* A forced install of another version replaces the old file. */
        if (!rc && cur.file[0] && strcmp(cur.file, rec.file)) {
            char old[PATH_MAX];
            if (route_store_path(s, &cur, old, sizeof old, NULL, 0) == 0)
                unlink(old);
        }
    }
    close(lfd);
    if (!rc && out)
        *out = rec;
    return rc;
}

static int default_check(void *user, const char *path, char *err, size_t errlen)
{
    (void)user;
    return route_model_check(path, NULL, err, errlen);
}

int route_store_update(route_store *s, const char *name, const route_install_opts *o,
                       route_installed *out, bool *changed, char *err, size_t errlen)
{
    static const route_install_opts none = {0};
    route_installed cur, rec;
    plan p;
    int lfd;
    o = o ? o : &none;
    if (changed)
        *changed = false;
    int rc = make_plan(s, name, o, &p, err, errlen);
    if (!rc)
        rc = route_store_get(s, name, &cur, err, errlen);
    if (rc)
        return rc;
    bool same = !strcmp(cur.version, p.version) && cur.present;
    if (same && !o->force && !o->url && !o->file) {
        if (out)
            *out = cur;
        return 0;
    }
    rc = route_store_lock_model(s, name, &lfd, err, errlen);
    if (rc)
        return rc;
    rc = stage(s, name, &p, o, o->check ? o->check : default_check, o->check ? o->check_user : NULL,
               &rec, err, errlen);
    /* The manifest now names the new file: the old one can go. */
    if (!rc && strcmp(cur.file, rec.file)) {
        char old[PATH_MAX];
        if (route_store_path(s, &cur, old, sizeof old, NULL, 0) == 0)
            unlink(old);
    }
    close(lfd);
    if (!rc && changed)
        *changed = true;
    if (!rc && out)
        *out = rec;
    return rc;
}

/* ---- load check ---- */

int route_model_check(const char *path, route_model_check_info *info, char *err, size_t errlen)
{
    route_model_check_info tmp;
    info = info ? info : &tmp;
    memset(info, 0, sizeof *info);
    char eerr[384];
    eng_model *m = NULL;
    eng_ctx *c = NULL;
    double t0 = now_ms();
    int rc = eng_model_open(&m, path, eerr, sizeof eerr);
    if (rc)
        return route_fail(err, errlen, ROUTE_ERR_MODEL, "does not load: %s", eerr);
    info->load_ms = now_ms() - t0;
    const eng_hparams *hp = eng_model_hparams(m);
    route_copy(info->arch, sizeof info->arch, hp->arch_name);
    info->n_vocab = hp->n_vocab;
    info->n_layer = hp->n_layer;
    eng_ctx_params cp = eng_ctx_default_params();
    cp.n_ctx = 16; /* one token: keep the KV cache small even for 7B models */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    cp.n_threads = ncpu > 8 ? 8 : ncpu > 1 ? (uint32_t)ncpu : 1;
    rc = eng_ctx_new(&c, m, &cp, eerr, sizeof eerr);
    uint32_t bos = 1;
    gguf_get_u32(eng_model_file(m), "tokenizer.ggml.bos_token_id", &bos, NULL, 0);
    int32_t tok = (int32_t)(bos < hp->n_vocab ? bos : 0);
    t0 = now_ms();
    if (!rc)
        rc = eng_eval(c, &tok, 1, false, eerr, sizeof eerr);
    info->forward_ms = now_ms() - t0;
    const float *lg = rc ? NULL : eng_logits(c, 0);
    uint32_t bad = 0;
    for (uint32_t i = 0; lg && i < hp->n_vocab; i++)
        bad += !isfinite(lg[i]);
    if (rc)
        rc = route_fail(err, errlen, ROUTE_ERR_MODEL, "forward pass failed: %s", eerr);
    else if (!lg || bad)
        rc = route_fail(err, errlen, ROUTE_ERR_MODEL, "forward pass gave %u non-finite logits of %u",
                        bad, hp->n_vocab);
    eng_ctx_free(c);
    eng_model_free(m);
    return rc;
}
