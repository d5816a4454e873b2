/* The answer cache on disk: round trip, TTL judged on read, damaged and
 * colliding files read as misses, atomic replacement under several
 * writer processes, and where the folder lives. */
#include "router/router.h"
#include "tests/testutil.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static char err[1024];
static char dir[256];

static int make_dir(void **state)
{
    char tmpl[200];
    if (!tu_temp_dir(tmpl, sizeof tmpl, "rhema-cache")) return -1;
    snprintf(dir, sizeof dir, "%s/ai/cache", tmpl);
    return 0;
}

/* The one entry file in dir. */
static void entry_file(char *out, size_t n)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int found = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".ans")) {
            snprintf(out, n, "%s/%s", dir, e->d_name);
            found++;
        }
    closedir(d);
    assert_int_equal(found, 1);
}

static int remove_dir(void **state)
{
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        char path[512];
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d) closedir(d);
    for (int i = 0; i < 3; i++) {
        rmdir(dir);
        *strrchr(dir, '/') = 0;
    }
    return 0;
}

static char *load(const char *key, int64_t now, int64_t ttl)
{
    char *text = (char *)1;
    assert_int_equal(route_cache_load(dir, key, now, ttl, &text, err, sizeof err), ROUTE_OK);
    return text;
}

static void test_round_trip_and_ttl(void **state)
{
    assert_null(load("k", 1000, 60000)); /* no folder yet: a miss */
    assert_int_equal(route_cache_store(dir, "k", "the answer", 1000, err, sizeof err), ROUTE_OK);
    char *t = load("k", 1000, 60000);
    assert_string_equal(t, "the answer");
    free(t);
    t = load("k", 60999, 60000);
    assert_string_equal(t, "the answer");
    free(t);
    assert_null(load("k", 61000, 60000)); /* expired */
    assert_null(load("k", 2000, 1000));   /* a shorter TTL configured since applies */
    assert_null(load("k", 1000, 0));      /* caching off */
    assert_null(load("k", 999, 60000));   /* written "in the future": clock moved back */
    assert_null(load("other", 1000, 60000));
    assert_int_equal(route_cache_store(dir, "k", "", 5000, err, sizeof err), ROUTE_OK);
    t = load("k", 5000, 60000);
    assert_string_equal(t, ""); /* an empty answer is still an answer */
    free(t);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    char path[512];
    entry_file(path, sizeof path);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void test_damaged_files_are_misses(void **state)
{
    assert_int_equal(route_cache_store(dir, "key", "hello world", 1000, err, sizeof err), ROUTE_OK);
    char path[512];
    entry_file(path, sizeof path);
    size_t len;
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char good[512];
    len = fread(good, 1, sizeof good, f);
    fclose(f);
    assert_true(len > 20);
    /* Every truncation, and a flipped bit at every position, is a miss. */
    for (size_t cut = 0; cut < len; cut++) {
        write_file(path, good, cut);
        assert_null(load("key", 1000, 60000));
    }
    for (size_t i = 0; i < len; i++) {
        char bad[512];
        memcpy(bad, good, len);
        bad[i] ^= 0x01;
        write_file(path, bad, len);
        char *t = load("key", 1000, 60000);
        assert_null(t);
    }
    write_file(path, "RHC1 1000 3 11 00000000000000zz\nkeyhello world", 46);
    assert_null(load("key", 1000, 60000));
    write_file(path, "RHC1 99999999999999999999999 3 11 0000000000000000\n", 51);
    assert_null(load("key", 1000, 60000));
    /* Another key's entry under this key's name (a hash collision). */
    char other[512];
    assert_int_equal(route_cache_store(dir, "kez", "not yours", 1000, err, sizeof err), ROUTE_OK);
    unlink(path);
    entry_file(other, sizeof other);
    assert_int_equal(rename(other, path), 0);
    assert_null(load("key", 1000, 60000));
    /* A store repairs it. */
    assert_int_equal(route_cache_store(dir, "key", "hello again", 1000, err, sizeof err), ROUTE_OK);
    char *t = load("key", 1000, 60000);
    assert_string_equal(t, "hello again");
    free(t);
}

/* Writers in several processes replace the entry while this one reads:
 * every read is a miss or one whole answer, never a mix. */
static void test_concurrent_writers(void **state)
{
    enum { WRITERS = 4, ROUNDS = 60 };
    assert_int_equal(route_cache_store(dir, "shared", "AAAA", 1000, err, sizeof err), ROUTE_OK);
    pid_t pids[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        pids[w] = fork();
        assert_true(pids[w] >= 0);
        if (pids[w] == 0) {
            char text[4096];
            memset(text, 'A' + w, sizeof text - 1);
            text[(size_t)(w + 1) * 1000] = 0;
            for (int i = 0; i < ROUNDS; i++)
                if (route_cache_store(dir, "shared", text, 1000, NULL, 0)) _exit(1);
            _exit(0);
        }
    }
    int reads = 0;
    for (int i = 0; i < ROUNDS * 2; i++) {
        char *t = load("shared", 1000, 60000);
        assert_non_null(t); /* rename never leaves the name missing */
        size_t n = strlen(t);
        for (size_t k = 0; k < n; k++) assert_int_equal(t[k], t[0]);
        assert_true(n == 4 || n == (size_t)(t[0] - 'A' + 1) * 1000);
        free(t);
        reads++;
    }
    for (int w = 0; w < WRITERS; w++) {
        int status;
        assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    assert_int_equal(reads, ROUNDS * 2);
    /* No temporary files left behind. */
    char path[512];
    entry_file(path, sizeof path);
    DIR *d = opendir(dir);
    int files = 0;
    for (struct dirent *e; (e = readdir(d));) files += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(files, 1);
}

/* Writers killed with SIGKILL at any point leave the entry whole (old or
 * new) or absent, never a part; their temporary files are never read. */
static void test_kill9_writers(void **state)
{
    static char big[200000];
    memset(big, 'x', sizeof big - 1);
    for (int round = 0; round < 8; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            for (;;) {
                big[0] = (char)('a' + round);
                route_cache_store(dir, "crash", big, 1000, NULL, 0);
            }
        }
        usleep(2000 + round * 1500);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        char *t = load("crash", 1000, 60000);
        if (t) {
            assert_int_equal(strlen(t), sizeof big - 1);
            assert_true(t[0] >= 'a' && t[0] <= 'a' + round);
            for (size_t i = 1; i < sizeof big - 1; i++) assert_int_equal(t[i], 'x');
            free(t);
        }
    }
}

static void test_prune(void **state)
{
    size_t removed = 99;
    assert_int_equal(route_cache_prune(dir, 0, 1, true, &removed, err, sizeof err), ROUTE_OK); /* no folder yet */
    assert_int_equal(removed, 0);
    assert_int_equal(route_cache_store(dir, "old", "a", 1000, err, sizeof err), ROUTE_OK);
    assert_int_equal(route_cache_store(dir, "new", "b", 50000, err, sizeof err), ROUTE_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/0123456789abcdef.ans", dir);
    write_file(path, "junk", 4);
    snprintf(path, sizeof path, "%s/0123456789abcdef.ans.AbCdEf", dir); /* a crashed writer's, long ago */
    write_file(path, "RHC1 1", 6);
    struct timeval old[2] = {{0, 0}, {0, 0}};
    assert_int_equal(utimes(path, old), 0);
    snprintf(path, sizeof path, "%s/fedcba9876543210.ans.XyZ123", dir); /* a live writer's */
    write_file(path, "RHC1 1", 6);
    int64_t now = (int64_t)time(NULL) * 1000;
    assert_int_equal(route_cache_prune(dir, now, now - 10000, true, &removed, err, sizeof err), ROUTE_OK);
    assert_int_equal(removed, 3);
    char *t = load("new", 50000, 60000);
    assert_string_equal(t, "b");
    free(t);
    assert_null(load("old", 1000, 60000));
    assert_int_equal(access(path, F_OK), 0);
    /* Within the hour nothing is swept again unless forced. */
    assert_int_equal(route_cache_prune(dir, now + 1000, 1, false, &removed, err, sizeof err), ROUTE_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(route_cache_prune(dir, now + 3600 * 1000 + 1, 1, false, &removed, err, sizeof err), ROUTE_OK);
    assert_int_equal(removed, 2); /* "new" is past the age given, the temporary file stale */
}

static void test_folder_beside_config(void **state)
{
    static const char y[] = "ai_service: {}\n";
    route_config *cfg;
    char out[512];
    assert_int_equal(route_config_load_mem(y, sizeof y - 1, "proj/.rhema/ai-config.yaml", &cfg, err, sizeof err), ROUTE_OK);
    free(cfg->path);
    cfg->path = strdup("proj/.rhema/ai-config.yaml");
    assert_int_equal(route_cache_dir(cfg, out, sizeof out, err, sizeof err), ROUTE_OK);
    assert_string_equal(out, "proj/.rhema/ai/cache");
    free(cfg->path);
    cfg->path = strdup("/etc/ai.yaml");
    assert_int_equal(route_cache_dir(cfg, out, sizeof out, err, sizeof err), ROUTE_OK);
    assert_string_equal(out, "/etc/.rhema/ai/cache");
    free(cfg->path);
    cfg->path = NULL;
    assert_int_equal(route_cache_dir(cfg, out, sizeof out, err, sizeof err), ROUTE_OK);
    assert_string_equal(out, ".rhema/ai/cache");
    route_config_free(cfg);
    char *t;
    assert_int_equal(route_cache_load(NULL, "k", 0, 1, &t, err, sizeof err), ROUTE_ERR_ARG);
    assert_int_equal(route_cache_store(dir, NULL, "x", 0, err, sizeof err), ROUTE_ERR_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_and_ttl, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_damaged_files_are_misses, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_kill9_writers, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_prune, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_folder_beside_config, make_dir, remove_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
