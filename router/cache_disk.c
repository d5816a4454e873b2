/* The answer cache shared across processes: one file per key in
 * .rhema/ai/cache/, named by a 64-bit FNV-1a hash of the key,
 *   RHC1 CREATED_MS KEY_LEN TEXT_LEN CHECK\n KEY TEXT
 * where CHECK hashes everything before it and KEY and TEXT. Files only ever appear by rename, so a
 * reader sees a whole old or whole new entry; the full key is stored and
 * compared, so a hash collision is a miss, never a wrong answer. Freshness
 * is judged on read against the TTL configured now, not the one in force
 * when the answer was written. */
#include "router/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

enum { MAX_ENTRY = 64 << 20, HEADER_MAX = 96 };

static const int64_t PRUNE_EVERY_MS = 3600 * 1000, TEMP_STALE_MS = 600 * 1000;

static uint64_t fnv64(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static const uint64_t FNV64_BASIS = 14695981039346656037ull;

static uint64_t check_of(const char *head, size_t hlen, const char *key, size_t klen, const char *text, size_t tlen)
{
    return fnv64(fnv64(fnv64(FNV64_BASIS, head, hlen), key, klen), text, tlen);
}

static int entry_path(const char *dir, const char *key, char *out, size_t outlen, char *err, size_t errlen)
{
    int n = snprintf(out, outlen, "%s/%016" PRIx64 ".ans", dir, fnv64(FNV64_BASIS, key, strlen(key)));
    if (n < 0 || (size_t)n >= outlen) return route_fail(err, errlen, ROUTE_ERR_ARG, "%s: cache path too long", dir);
    return ROUTE_OK;
}

int route_cache_dir(const route_config *cfg, char *out, size_t outlen, char *err, size_t errlen)
{
    return route_ai_dir(cfg, "cache", out, outlen, err, errlen);
}

/* A decimal field followed by sep; false when malformed. */
static bool field(const char **p, char sep, uint64_t *v)
{
    const char *s = *p;
    uint64_t x = 0;
    if (*s < '0' || *s > '9') return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (x > (UINT64_MAX - 9) / 10) return false;
        x = x * 10 + (uint64_t)(*s - '0');
    }
    if (*s != sep) return false;
    *p = s + 1;
    *v = x;
    return true;
}

/* Validate a whole entry; on success *text points into buf. */
static bool parse_entry(char *buf, size_t len, const char *key, int64_t now_ms, int64_t ttl_ms, char **text)
{
    if (len < 5 || memcmp(buf, "RHC1 ", 5)) return false;
    const char *nl = memchr(buf, '\n', len < HEADER_MAX ? len : HEADER_MAX);
    if (!nl) return false;
    const char *p = buf + 5;
    uint64_t created, klen, tlen;
    if (!field(&p, ' ', &created) || !field(&p, ' ', &klen) || !field(&p, ' ', &tlen)) return false;
    char *end;
    errno = 0;
    uint64_t check = strtoull(p, &end, 16);
    if (errno || end != nl || nl - p != 16) return false;
    size_t head = (size_t)(nl - buf) + 1;
    if (klen > len - head || tlen != len - head - klen) return false;
    const char *k = buf + head, *t = k + klen;
    if (check != check_of(buf, (size_t)(p - buf), k, (size_t)klen, t, (size_t)tlen) || memchr(t, 0, (size_t)tlen)) return false;
    if (klen != strlen(key) || memcmp(k, key, (size_t)klen)) return false; /* another key with the same hash */
    if (created > (uint64_t)INT64_MAX || (int64_t)created > now_ms || now_ms - (int64_t)created >= ttl_ms) return false;
    *text = (char *)t;
    return true;
}

int route_cache_load(const char *dir, const char *key, int64_t now_ms, int64_t ttl_ms, char **text, char *err,
                     size_t errlen)
{
    if (!dir || !key || !text) return route_fail(err, errlen, ROUTE_ERR_ARG, "route_cache_load: missing argument");
    *text = NULL;
    char path[4096], *buf, *t;
    size_t len;
    int rc = entry_path(dir, key, path, sizeof path, err, errlen);
    if (rc || ttl_ms <= 0) return rc;
    if (route_read_file(path, MAX_ENTRY, &buf, &len, NULL, 0)) return ROUTE_OK;
    if (parse_entry(buf, len, key, now_ms, ttl_ms, &t)) {
        size_t tlen = len - (size_t)(t - buf);
        memmove(buf, t, tlen);
        buf[tlen] = 0;
        *text = buf;
        return ROUTE_OK;
    }
    free(buf);
    return ROUTE_OK;
}

/* mkdir -p the parent, then the cache folder itself private to the user:
 * prompts can be private. */
static int make_dir(const char *dir, char *err, size_t errlen)
{
    char parent[4096];
    route_dirname(dir, parent, sizeof parent);
    int rc = route_mkdir_p(parent, err, errlen);
    if (rc) return rc;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return route_fail(err, errlen, ROUTE_ERR_IO, "cannot create folder %s: %s", dir, strerror(errno));
    return ROUTE_OK;
}

static int write_entry(int fd, const char *key, const char *text, int64_t now_ms)
{
    size_t klen = strlen(key), tlen = strlen(text);
    char head[HEADER_MAX];
    int n = snprintf(head, sizeof head, "RHC1 %" PRId64 " %zu %zu ", now_ms, klen, tlen);
    if (n < 0 || (size_t)n + 18 >= sizeof head) return -1;
    n += snprintf(head + n, sizeof head - (size_t)n, "%016" PRIx64 "\n", check_of(head, (size_t)n, key, klen, text, tlen));
    if (route_write_all(fd, head, (size_t)n) || route_write_all(fd, key, klen) || route_write_all(fd, text, tlen))
        return -1;
    return fsync(fd);
}

int route_cache_store(const char *dir, const char *key, const char *text, int64_t now_ms, char *err,
                      size_t errlen)
{
    if (!dir || !key || !text || now_ms < 0)
        return route_fail(err, errlen, ROUTE_ERR_ARG, "route_cache_store: missing argument");
    if (strlen(key) > MAX_ENTRY / 2 || strlen(text) > MAX_ENTRY / 2)
        return route_fail(err, errlen, ROUTE_ERR_ARG, "answer too large to cache");
    char path[4096], tmp[4096 + 16];
    int rc = entry_path(dir, key, path, sizeof path, err, errlen);
    if (rc || (rc = make_dir(dir, err, errlen))) return rc;
    snprintf(tmp, sizeof tmp, "%s.XXXXXX", path);
    int fd = mkstemp(tmp); /* 0600, a name no other writer uses */
    if (fd < 0) return route_fail(err, errlen, ROUTE_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    bool ok = write_entry(fd, key, text, now_ms) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        rc = route_fail(err, errlen, ROUTE_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
    }
    return rc;
}

static int64_t mtime_ms(const struct stat *st) { return (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000; }

/* The creation time in an entry's header, or -1 when it has none. */
static int64_t entry_created(const char *path)
{
    char head[HEADER_MAX + 1];
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t n = fread(head, 1, HEADER_MAX, f);
    fclose(f);
    head[n] = 0;
    uint64_t created;
    const char *p = head + 5;
    if (n < 5 || memcmp(head, "RHC1 ", 5) || !field(&p, ' ', &created) || created > (uint64_t)INT64_MAX) return -1;
    return (int64_t)created;
}

/* Whether a sweep is due; marks it done (the stamp's mtime) when it is. */
static bool sweep_due(const char *dir, int64_t now_ms, bool force)
{
    char stamp[4096 + 16];
    struct stat st;
    snprintf(stamp, sizeof stamp, "%s/.pruned", dir);
    if (!force && stat(stamp, &st) == 0 && now_ms - mtime_ms(&st) < PRUNE_EVERY_MS && mtime_ms(&st) <= now_ms)
        return false;
    int fd = open(stamp, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
        struct timeval tv[2] = {{(time_t)(now_ms / 1000), 0}, {(time_t)(now_ms / 1000), 0}};
        futimes(fd, tv);
        close(fd);
    }
    return true;
}

int route_cache_prune(const char *dir, int64_t now_ms, int64_t max_age_ms, bool force, size_t *removed, char *err,
                      size_t errlen)
{
    if (removed) *removed = 0;
    if (!dir) return route_fail(err, errlen, ROUTE_ERR_ARG, "route_cache_prune: missing folder");
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? ROUTE_OK : route_fail(err, errlen, ROUTE_ERR_IO, "%s: %s", dir, strerror(errno));
    if (!sweep_due(dir, now_ms, force)) {
        closedir(d);
        return ROUTE_OK;
    }
    for (struct dirent *e; (e = readdir(d));) {
        const char *dot = strstr(e->d_name, ".ans");
        if (e->d_name[0] == '.' || !dot) continue;
        char path[4096 + 300];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        bool temp = dot[4] != 0;
        int64_t created = temp ? mtime_ms(&st) : entry_created(path);
        bool stale = temp ? now_ms - created > TEMP_STALE_MS : created < 0 || now_ms - created >= max_age_ms;
        /* A fresh entry renamed over a stale one just now is lost too: only a cache miss. */
        if (stale && unlink(path) == 0 && removed) (*removed)++;
    }
    closedir(d);
    return ROUTE_OK;
}
