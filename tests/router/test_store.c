/* Model store: catalogue and registry, air-gapped installs from the fixture
 * models, downloads through a scripted fetcher (resume, digests, 404, full
 * disk check), update with rollback, remove, concurrent manifest writers. */
#include "router/router.h"
#include "router/store_internal.h"
#include "tests/testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SMALL "stories260K.gguf"
#define TINY "llama-tiny-q4_0.gguf"
#define URL "https://models.test/"

static char home[256];
static char err[1024];

static const char *fixture(const char *name)
{
    static char buf[4][1024];
    static int k;
    const char *d = tu_fixtures();
    if (!d)
        return NULL;
    k = (k + 1) % 4;
    if (!strcmp(name, "vocab"))
        return tu_path(buf[k], sizeof buf[k], d, "vocab/ggml-vocab-deepseek-coder.gguf");
    char sub[512];
    snprintf(sub, sizeof sub, "models/%s", name);
    return tu_path(buf[k], sizeof buf[k], d, sub);
}

#define NEED_FIXTURES() do { if (!tu_fixtures()) skip(); } while (0)

static void rm_rf(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
    (void)state;
    assert_non_null(tu_temp_dir(home, sizeof home, "rhema-store"));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rm_rf(home);
    return 0;
}

static void write_registry(const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/registry.yaml", home);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static route_store *open_store(void)
{
    route_store *s = NULL;
    int rc = route_store_open(home, &s, err, sizeof err);
    if (rc)
        fail_msg("route_store_open: %s", err);
    return s;
}

/* Files in the models folder other than the manifest and lock files. */
static int count_model_files(route_store *s, const char *suffix)
{
    DIR *d = opendir(route_store_models_dir(s));
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name), sl = strlen(suffix);
        if (de->d_name[0] != '.' && l >= sl && !strcmp(de->d_name + l - sl, suffix))
            n++;
    }
    closedir(d);
    return n;
}

/* ---- a scripted fetcher serving fixture files ---- */

typedef struct fake {
    uint64_t cut_at;      /* break the connection once past this offset (0: never) */
    int cuts;             /* how many times to break */
    bool ignore_range;    /* answer 200 with the whole file to a Range */
    char publish[65];     /* digest to publish */
    int calls;
    uint64_t offsets[16];
} fake;

static int fake_fetch(void *self, const char *url, uint64_t offset, const route_fetch_sink *sink,
                      char *e, size_t elen)
{
    fake *f = self;
    if (f->calls < 16)
        f->offsets[f->calls] = offset;
    f->calls++;
    route_fetch_head h = {200, -1, false, ""};
    memcpy(h.sha256, f->publish, sizeof h.sha256);
    if (strncmp(url, URL, strlen(URL)) || !fixture(url + strlen(URL))) {
        h.status = 404;
        return sink->head(sink->ctx, &h, e, elen);
    }
    size_t size;
    uint8_t *data = tu_read_file(fixture(url + strlen(URL)), &size);
    if (!data) {
        h.status = 404;
        return sink->head(sink->ctx, &h, e, elen);
    }
    h.total = (int64_t)size;
    uint64_t at = 0;
    if (offset && !f->ignore_range) {
        h.status = 206;
        h.partial = true;
        at = offset;
    }
    int rc = sink->head(sink->ctx, &h, e, elen);
    while (!rc && at < size) {
        size_t n = size - at < 65536 ? size - at : 65536;
        if (f->cuts > 0 && f->cut_at > at && f->cut_at < at + n) {
            n = f->cut_at - at;
            rc = sink->data(sink->ctx, data + at, n, e, elen);
            f->cuts--;
            if (!rc) {
                snprintf(e, elen, "connection reset");
                rc = ROUTE_ERR_NET;
            }
            break;
        }
        rc = sink->data(sink->ctx, data + at, n, e, elen);
        at += n;
    }
    free(data);
    return rc;
}

static char *sha_of(const char *path)
{
    static char hex[65];
    assert_int_equal(route_store_sha256_file(path, hex, err, sizeof err), 0);
    return hex;
}

/* ---- catalogue ---- */

static void test_catalog_builtin(void **state)
{
    (void)state;
    route_catalog *c;
    const char *near;
    assert_int_equal(route_catalog_load(NULL, &c, err, sizeof err), 0);
    assert_true(route_catalog_count(c) >= 8);
    assert_string_equal(route_catalog_default(c), "qwen2.5-0.5b-instruct");
    const char *names[] = {"codellama-7b", "phi-2", "llama-2-7b", "qwen2.5-0.5b-instruct",
                           "smollm2-360m-instruct", "llama-3.2-1b-instruct", "tinyllama-1.1b-chat",
                           "phi-3-mini"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const route_catalog_entry *e = route_catalog_find(c, names[i], NULL);
        assert_non_null(e);
        assert_true(!strncmp(e->url, "https://huggingface.co/", 23));
        assert_true(e->size > 0 && e->context_length > 0);
    }
    assert_null(route_catalog_find(c, "codelama-7b", &near));
    assert_string_equal(near, "codellama-7b");
    route_catalog_free(c);
}

static void test_catalog_registry(void **state)
{
    (void)state;
    route_store *s;
    write_registry("default: mine\n"
                   "models:\n"
                   "  - name: mine\n"
                   "    url: https://example.test/mine.gguf\n"
                   "    sha256: " "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789\n"
                   "    size: 1234\n"
                   "    context_length: 2048\n"
                   "    version: '2'\n"
                   "  - name: phi-2\n"
                   "    url: https://mirror.test/phi-2.gguf\n");
    s = open_store();
    const route_catalog *c = route_store_catalog(s);
    const route_catalog_entry *e = route_catalog_find(c, "mine", NULL);
    assert_non_null(e);
    assert_true(e->user);
    assert_string_equal(e->version, "2");
    assert_int_equal(e->size, 1234);
    assert_string_equal(e->sha256, "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
    assert_string_equal(route_catalog_default(c), "mine");
    assert_string_equal(route_catalog_find(c, "phi-2", NULL)->url, "https://mirror.test/phi-2.gguf");
    route_store_close(s);

    static const struct { const char *yaml, *msg; } bad[] = {
        {"models:\n  - name: x\n    ur1: https://a\n", ":3:5: unknown key 'ur1' (did you mean 'url'?)"},
        {"models:\n  - name: ../x\n", "may only hold"},
        {"models:\n  - name: x\n    sha256: abc\n", "64 hex digits"},
        {"models:\n  - name: x\n    size: -1\n", "whole number"},
        {"models: [\n", "registry.yaml:2:1:"},
        {"default: nosuch\n", "is not a model in the catalogue"},
        {"models:\n  - name: x\n    url: ftp://a\n", "must start with https://"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_registry(bad[i].yaml);
        route_store *t = NULL;
        assert_true(route_store_open(home, &t, err, sizeof err) < 0);
        assert_null(t);
        if (!strstr(err, bad[i].msg))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].msg);
    }
}

/* ---- air-gapped installs ---- */

static void test_install_file_list_remove(void **state)
{
    (void)state;
    NEED_FIXTURES();
    route_store *s = open_store();
    route_installed m;
    route_install_opts o = {.file = fixture(SMALL)};
    assert_int_equal(route_store_install(s, "stories", &o, &m, err, sizeof err), 0);
    assert_string_equal(m.version, "custom");
    assert_string_equal(m.sha256, sha_of(fixture(SMALL)));
    assert_string_equal(m.verified, "none");
    o = (route_install_opts){.file = fixture(TINY), .sha256 = sha_of(fixture(TINY))};
    assert_int_equal(route_store_install(s, "qwen2.5-0.5b-instruct", &o, &m, err, sizeof err), 0);
    assert_string_equal(m.verified, "given");
    assert_string_equal(m.version, "1");

    route_installed *v;
    size_t n;
    assert_int_equal(route_store_list(s, &v, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].name, "qwen2.5-0.5b-instruct");
    assert_string_equal(v[1].name, "stories");
    assert_true(v[0].present && v[1].present);
    free(v);
    assert_int_equal(count_model_files(s, ".part"), 0);
    assert_int_equal(route_store_verify(s, "stories", err, sizeof err), 0);

    char path[1024];
    assert_int_equal(route_store_get(s, "stories", &m, err, sizeof err), 0);
    assert_int_equal(route_store_path(s, &m, path, sizeof path, err, sizeof err), 0);
    route_model_check_info info;
    assert_int_equal(route_model_check(path, &info, err, sizeof err), 0);
    assert_string_equal(info.arch, "llama");

    /* A flipped byte on disk is caught. */
    FILE *f = fopen(path, "r+b");
    fseek(f, -1, SEEK_END);
    int ch = fgetc(f);
    fseek(f, -1, SEEK_END);
    fputc(ch ^ 1, f);
    fclose(f);
    assert_int_equal(route_store_verify(s, "stories", err, sizeof err), ROUTE_ERR_CHECKSUM);

    assert_int_equal(route_store_remove(s, "stories", err, sizeof err), 0);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(route_store_get(s, "stories", &m, err, sizeof err), ROUTE_ERR_NOTFOUND);
    assert_int_equal(route_store_remove(s, "stories", err, sizeof err), ROUTE_ERR_NOTFOUND);
    assert_int_equal(count_model_files(s, ".gguf"), 1);
    route_store_close(s);
}

static void test_install_rejects(void **state)
{
    (void)state;
    NEED_FIXTURES();
    route_store *s = open_store();
    route_installed m;
    route_install_opts o = {.file = fixture(SMALL),
                            .sha256 = "00000000000000000000000000000000000000000000000000000000000000ff"};
    assert_int_equal(route_store_install(s, "stories", &o, &m, err, sizeof err), ROUTE_ERR_CHECKSUM);
    assert_non_null(strstr(err, "nothing was installed"));
    char logits[1024];
    snprintf(logits, sizeof logits, "%s/models/llama-tiny-q4_0.logits", tu_fixtures());
    o = (route_install_opts){.file = logits};
    assert_int_equal(route_store_install(s, "junk", &o, &m, err, sizeof err), ROUTE_ERR_MODEL);
    o = (route_install_opts){.file = "/nonexistent/x.gguf"};
    assert_int_equal(route_store_install(s, "gone", &o, &m, err, sizeof err), ROUTE_ERR_NOTFOUND);
    assert_int_equal(route_store_install(s, "no-such-model", NULL, &m, err, sizeof err),
                     ROUTE_ERR_NOTFOUND);
    assert_int_equal(route_store_install(s, "codelama-7b", NULL, &m, err, sizeof err),
                     ROUTE_ERR_NOTFOUND);
    assert_non_null(strstr(err, "did you mean 'codellama-7b'"));
    o = (route_install_opts){.file = fixture(SMALL)};
    assert_int_equal(route_store_install(s, "../evil", &o, &m, err, sizeof err), ROUTE_ERR_ARG);
    route_installed *v;
    size_t n;
    assert_int_equal(route_store_list(s, &v, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    free(v);
    assert_int_equal(count_model_files(s, ""), 0);
    route_store_close(s);
}

/* ---- downloads through the fetcher ---- */

static void test_download_resume(void **state)
{
    (void)state;
    NEED_FIXTURES();
    write_registry("models:\n  - name: tiny\n    url: " URL TINY "\n");
    route_store *s = open_store();
    fake f = {.cut_at = 300000, .cuts = 1};
    route_fetcher fe = {fake_fetch, &f};
    route_installed m;
    /* One retry inside the call resumes from where the cut happened. */
    route_install_opts o = {.fetcher = &fe};
    assert_int_equal(route_store_install(s, "tiny", &o, &m, err, sizeof err), 0);
    assert_int_equal(f.calls, 2);
    assert_int_equal(f.offsets[1], 300000);
    assert_string_equal(m.sha256, sha_of(fixture(TINY)));
    assert_int_equal(route_store_remove(s, "tiny", err, sizeof err), 0);

    /* Without retries the .part stays, and the next run resumes it. */
    f = (fake){.cut_at = 500000, .cuts = 1};
    o.retries = -1;
    assert_int_equal(route_store_install(s, "tiny", &o, &m, err, sizeof err), ROUTE_ERR_NET);
    assert_non_null(strstr(err, "run the same command again to resume"));
    assert_int_equal(count_model_files(s, ".part"), 1);
    assert_int_equal(route_store_get(s, "tiny", &m, err, sizeof err), ROUTE_ERR_NOTFOUND);
    route_store_close(s);
    s = open_store();
    assert_int_equal(route_store_install(s, "tiny", &o, &m, err, sizeof err), 0);
    assert_int_equal(f.offsets[1], 500000);
    assert_string_equal(m.sha256, sha_of(fixture(TINY)));
    assert_int_equal(count_model_files(s, ".part"), 0);
    assert_int_equal(route_store_remove(s, "tiny", err, sizeof err), 0);

    /* A server that ignores Range: start over, still correct. */
    f = (fake){.cut_at = 100000, .cuts = 1, .ignore_range = true};
    o.retries = 0;
    assert_int_equal(route_store_install(s, "tiny", &o, &m, err, sizeof err), 0);
    assert_string_equal(m.sha256, sha_of(fixture(TINY)));
    route_store_close(s);
}

static void test_download_digests(void **state)
{
    (void)state;
    NEED_FIXTURES();
    write_registry("models:\n  - name: tiny\n    url: " URL TINY "\n"
                   "  - name: missing\n    url: " URL "nope.gguf\n"
                   "  - name: huge\n    url: " URL TINY "\n    size: 1000000000000000000\n");
    route_store *s = open_store();
    fake f = {0};
    route_fetcher fe = {fake_fetch, &f};
    route_installed m;
    route_install_opts o = {.fetcher = &fe};
    memcpy(f.publish, sha_of(fixture(TINY)), 65);
    assert_int_equal(route_store_install(s, "tiny", &o, &m, err, sizeof err), 0);
    assert_string_equal(m.verified, "server");
    assert_int_equal(route_store_remove(s, "tiny", err, sizeof err), 0);

    /* The server publishes another digest than the file: rejected. */
    memcpy(f.publish, sha_of(fixture(SMALL)), 65);
    assert_int_equal(route_store_install(s, "tiny", &o, &m, err, sizeof err), ROUTE_ERR_CHECKSUM);
    /* A given digest that the bytes do not match: rejected too. */
    f.publish[0] = '\0';
    o.sha256 = sha_of(fixture(SMALL));
    assert_int_equal(route_store_install(s, "tiny", &o, &m, err, sizeof err), ROUTE_ERR_CHECKSUM);
    o.sha256 = NULL;
    assert_int_equal(route_store_install(s, "missing", &o, &m, err, sizeof err), ROUTE_ERR_NOTFOUND);
    assert_non_null(strstr(err, "404"));
    f.calls = 0;
    assert_int_equal(route_store_install(s, "huge", &o, &m, err, sizeof err), ROUTE_ERR_NOSPACE);
    assert_int_equal(f.calls, 0);
    assert_non_null(strstr(err, "not enough disk space"));
    assert_int_equal(count_model_files(s, ".gguf") + count_model_files(s, ".part"), 0);
    route_store_close(s);
}

/* ---- update and rollback ---- */

static void test_update_rollback(void **state)
{
    (void)state;
    NEED_FIXTURES();
    write_registry("models:\n  - name: m\n    version: '1'\n    url: " URL TINY "\n");
    route_store *s = open_store();
    fake f = {0};
    route_fetcher fe = {fake_fetch, &f};
    route_installed m, m1;
    bool changed = true;
    route_install_opts o = {.fetcher = &fe};
    assert_int_equal(route_store_install(s, "m", &o, &m1, err, sizeof err), 0);
    assert_int_equal(route_store_update(s, "m", &o, &m, &changed, err, sizeof err), 0);
    assert_false(changed);
    route_store_close(s);

    write_registry("models:\n  - name: m\n    version: '2'\n    url: " URL SMALL "\n");
    s = open_store();
    assert_int_equal(route_store_update(s, "m", &o, &m, &changed, err, sizeof err), 0);
    assert_true(changed);
    assert_string_equal(m.version, "2");
    assert_string_equal(m.sha256, sha_of(fixture(SMALL)));
    char path[1024];
    assert_int_equal(route_store_path(s, &m1, path, sizeof path, err, sizeof err), 0);
    assert_int_equal(access(path, F_OK), -1); /* old version deleted */
    route_store_close(s);

    /* Version 3 is a valid GGUF that does not load: the update fails and
     * version 2 stays installed and intact. */
    write_registry("models:\n  - name: m\n    version: '3'\n    url: " URL "vocab\n");
    s = open_store();
    assert_int_equal(route_store_update(s, "m", &o, &m, &changed, err, sizeof err), ROUTE_ERR_MODEL);
    assert_false(changed);
    assert_non_null(strstr(err, "nothing was changed"));
    assert_int_equal(route_store_get(s, "m", &m, err, sizeof err), 0);
    assert_string_equal(m.version, "2");
    assert_true(m.present);
    assert_int_equal(route_store_verify(s, "m", err, sizeof err), 0);
    assert_int_equal(count_model_files(s, ".gguf"), 1);
    assert_int_equal(count_model_files(s, ".part"), 0);
    assert_int_equal(route_store_update(s, "absent", &o, &m, &changed, err, sizeof err),
                     ROUTE_ERR_NOTFOUND);
    route_store_close(s);
}

/* A second installer of the same model is turned away, not queued. */
static void test_busy(void **state)
{
    (void)state;
    NEED_FIXTURES();
    route_store *s = open_store();
    route_installed m;
    int fd;
    assert_int_equal(route_store_lock_model(s, "stories", &fd, err, sizeof err), 0);
    route_install_opts o = {.file = fixture(SMALL)};
    assert_int_equal(route_store_install(s, "stories", &o, &m, err, sizeof err), ROUTE_ERR_BUSY);
    assert_non_null(strstr(err, "another rhema process"));
    assert_int_equal(route_store_remove(s, "stories", err, sizeof err), ROUTE_ERR_BUSY);
    close(fd);
    assert_int_equal(route_store_install(s, "stories", &o, &m, err, sizeof err), 0);
    route_store_close(s);
}

/* ---- concurrent manifest writers ---- */

static void test_concurrent_writers(void **state)
{
    (void)state;
    NEED_FIXTURES();
    enum { PROCS = 6, EACH = 5 };
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            route_store *s = NULL;
            int bad = route_store_open(home, &s, err, sizeof err) != 0;
            for (int i = 0; i < EACH && !bad; i++) {
                char name[32];
                snprintf(name, sizeof name, "w%d-%d", p, i);
                route_install_opts o = {.file = fixture(SMALL)};
                bad = route_store_install(s, name, &o, NULL, err, sizeof err) != 0;
                if (bad)
                    fprintf(stderr, "%s: %s\n", name, err);
            }
            route_store_close(s);
            _exit(bad);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int st;
        assert_int_equal(waitpid(pids[p], &st, 0), pids[p]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    route_store *s = open_store();
    route_installed *v;
    size_t n;
    assert_int_equal(route_store_list(s, &v, &n, err, sizeof err), 0);
    assert_int_equal(n, PROCS * EACH);
    for (size_t i = 0; i < n; i++)
        assert_true(v[i].present);
    free(v);
    route_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_catalog_builtin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_catalog_registry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_install_file_list_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_install_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_download_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_download_digests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
