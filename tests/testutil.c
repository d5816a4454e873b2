#include "tests/testutil.h"

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *tu_fixtures(void)
{
    const char *d = getenv("RHEMA_FIXTURES");
    struct stat st;
    if (!d || !*d)
        d = RHEMA_DEFAULT_FIXTURES;
    if (stat(d, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "SKIP: RHEMA_FIXTURES=%s is not a folder; conformance tests skipped\n", d);
        return NULL;
    }
    return d;
}

char *tu_path(char *buf, size_t n, const char *dir, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

/* Folders to remove at exit, and the process that made them. */
static char *temp_dirs[256];
static size_t n_temp_dirs;
static pid_t temp_owner;

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void remove_temp_dirs(void)
{
    if (getpid() != temp_owner)
        return;
    for (size_t i = 0; i < n_temp_dirs; i++) {
        nftw(temp_dirs[i], remove_one, 16, FTW_DEPTH | FTW_PHYS);
        free(temp_dirs[i]);
    }
    n_temp_dirs = 0;
}

char *tu_temp_dir(char *buf, size_t n, const char *prefix)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, n, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix);
    if (!mkdtemp(buf))
        return NULL;
    if (n_temp_dirs == 0 && temp_owner != getpid()) {
        temp_owner = getpid();
        atexit(remove_temp_dirs);
    }
    if (n_temp_dirs < sizeof temp_dirs / sizeof temp_dirs[0])
        temp_dirs[n_temp_dirs++] = strdup(buf);
    return buf;
}

char *tu_temp_file(char *buf, size_t n, const char *prefix, const char *name)
{
    char dir[256];
    return tu_temp_dir(dir, sizeof dir, prefix) ? tu_path(buf, n, dir, name) : NULL;
}

uint8_t *tu_read_file(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len + 65536 + 1 > cap) {
            cap = (len + 65536 + 1) * 2;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(fp);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, fp);
        len += got;
        if (got == 0)
            break;
    }
    fclose(fp);
    buf[len] = 0;
    *size = len;
    return buf;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t tu_list(const char *dir, const char *suffix, char ***names)
{
    DIR *d = opendir(dir);
    size_t n = 0, cap = 0, sl = strlen(suffix);
    char **v = NULL;
    struct dirent *e;
    if (!d) {
        *names = NULL;
        return 0;
    }
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < sl || strcmp(e->d_name + l - sl, suffix) != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            v = realloc(v, cap * sizeof *v);
        }
        v[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n)
        qsort(v, n, sizeof *v, cmp_names);
    *names = v;
    return n;
}

void tu_free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}
