/* JSON parser and writer: the JSONTestSuite fixtures plus our own cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/net.h"
#include "tests/testutil.h"

static int parse_str(const char *text, size_t len, const net_json **root, net_arena *a, char *err)
{
    net_arena_init(a, NULL, 0);
    return net_json_parse(a, text, len, 0, root, err, 256);
}

/* Write v back out as compact JSON into a malloc'd string. */
static char *dump(const net_json *v)
{
    net_buf b;
    net_jw w;
    char err[256];
    net_buf_init(&b);
    net_jw_init(&w, &b);
    net_jw_value(&w, v);
    int rc = net_jw_finish(&w, err, sizeof err);
    if (rc != NET_OK)
        fail_msg("writer: %s", err);
    return b.data;
}

static void test_fixtures(void **state)
{
    const char *fx = tu_fixtures();
    if (!fx)
        skip();
    char dir[1024], path[1200];
    tu_path(dir, sizeof dir, fx, "json/test_parsing");
    char **names;
    size_t n = tu_list(dir, ".json", &names);
    assert_true(n > 300);
    size_t ny = 0, nn = 0, ni = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        uint8_t *data = tu_read_file(tu_path(path, sizeof path, dir, names[i]), &len);
        assert_non_null(data);
        net_arena a;
        const net_json *root;
        char err[256] = "";
        int rc = parse_str((const char *)data, len, &root, &a, err);
        if (names[i][0] == 'y' && rc != NET_OK)
            fail_msg("%s refused: %s", names[i], err);
        if (rc == NET_OK) {
            /* Round trip: write, parse again, write again: same text. The
             * deep i_ file once failed here (writer depth below parser's). */
            char *once = dump(root);
            net_arena b;
            const net_json *r2;
            assert_int_equal(parse_str(once, strlen(once), &r2, &b, err), NET_OK);
            char *twice = dump(r2);
            assert_string_equal(once, twice);
            free(once);
            free(twice);
            net_arena_free(&b);
        }
        if (names[i][0] == 'y') {
            ny++;
        } else if (names[i][0] == 'n') {
            if (rc == NET_OK)
                fail_msg("%s accepted", names[i]);
            assert_null(root);
            if (!strstr(err, "line ") || !strstr(err, "column ") || !strstr(err, "(byte "))
                fail_msg("%s: message without a position: %s", names[i], err);
            nn++;
        } else {
            ni++;
        }
        net_arena_free(&a);
        free(data);
    }
    printf("json fixtures: %zu y accepted, %zu n refused, %zu i survived\n", ny, nn, ni);
    tu_free_names(names, n);
}

/* Our own corpus: text, expected status, and a piece of the message. */
static const struct {
    const char *text;
    int rc;
    const char *msg;
} cases[] = {
    {"{}", NET_OK, NULL},
    {" [1, 2.5e-3, -0, true, false, null, \"x\"] ", NET_OK, NULL},
    {"\"\\u00e9\\ud83d\\ude00\"", NET_OK, NULL},
    {"123456789012345678901234567890", NET_OK, NULL},
    {"", NET_E_SYNTAX, "line 1, column 1 (byte 0): empty input"},
    {"   ", NET_E_SYNTAX, "empty input"},
    {"[1,]", NET_E_SYNTAX, "byte 3): trailing comma before ']'"},
    {"{\"a\":1,}", NET_E_SYNTAX, "trailing comma before '}'"},
    {"{\"a\" 1}", NET_E_SYNTAX, "expected ':' after the object key"},
    {"{1:1}", NET_E_SYNTAX, "unexpected '1', expected a string key"},
    {"[1 2]", NET_E_SYNTAX, "expected ',' or ']' after an array element"},
    {"[1,\n  2,\n  x]", NET_E_SYNTAX, "line 3, column 3 (byte 11): unexpected 'x'"},
    {"01", NET_E_SYNTAX, "leading zeros"},
    {"-", NET_E_SYNTAX, "expected a digit after '-'"},
    {"1.", NET_E_SYNTAX, "digit after the decimal point"},
    {"1e+", NET_E_SYNTAX, "digit in the exponent"},
    {".5", NET_E_SYNTAX, "unexpected '.'"},
    {"+1", NET_E_SYNTAX, "unexpected '+'"},
    {"NaN", NET_E_SYNTAX, "unexpected 'N'"},
    {"tru", NET_E_SYNTAX, "invalid literal, expected \"true\""},
    {"true false", NET_E_SYNTAX, "unexpected 'f' after the JSON value"},
    {"\"abc", NET_E_SYNTAX, "(byte 0): unterminated string"},
    {"\"a\tb\"", NET_E_SYNTAX, "control character 0x09"},
    {"\"\\x\"", NET_E_SYNTAX, "invalid escape '\\' followed by 'x'"},
    {"\"\\u12G4\"", NET_E_SYNTAX, "four hex digits"},
    {"\"\\ud800\"", NET_E_UTF8, "high surrogate \\uD800 not followed"},
    {"\"\\ud800\\u0041\"", NET_E_UTF8, "not followed by a low surrogate"},
    {"\"\\udc00\"", NET_E_UTF8, "lone low surrogate \\uDC00"},
    {"\"\xC0\xAF\"", NET_E_UTF8, "invalid UTF-8 sequence starting with byte 0xC0"},
    {"\"\xED\xA0\x80\"", NET_E_UTF8, "invalid UTF-8"},
    {"\"\xF4\x90\x80\x80\"", NET_E_UTF8, "invalid UTF-8"},
    {"\"\xE2\x82\"", NET_E_UTF8, "invalid UTF-8"},
    {"\xEF\xBB\xBF{}", NET_E_SYNTAX, "byte order mark"},
    {"[\x01]", NET_E_SYNTAX, "unexpected byte 0x01"},
    {"/* c */ 1", NET_E_SYNTAX, "unexpected '/'"},
    {"{\"a\":1}}", NET_E_SYNTAX, "unexpected '}' after the JSON value"},
    {"[\"a\"\f]", NET_E_SYNTAX, "unexpected byte 0x0C"},
};

static void test_cases(void **state)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        net_arena a;
        const net_json *root;
        char err[256] = "";
        int rc = parse_str(cases[i].text, strlen(cases[i].text), &root, &a, err);
        if (rc != cases[i].rc)
            fail_msg("case %zu %s: rc %d, want %d (%s)", i, cases[i].text, rc, cases[i].rc, err);
        if (cases[i].msg && !strstr(err, cases[i].msg))
            fail_msg("case %zu %s: message \"%s\" lacks \"%s\"", i, cases[i].text, err, cases[i].msg);
        net_arena_free(&a);
    }
}

static void test_embedded_nul_and_depth(void **state)
{
    net_arena a;
    const net_json *root;
    char err[256];
    /* A NUL byte in the input is an error, \u0000 in a string is data. */
    assert_int_equal(parse_str("[1\0]", 4, &root, &a, err), NET_E_SYNTAX);
    assert_non_null(strstr(err, "byte 0x00"));
    net_arena_free(&a);
    assert_int_equal(parse_str("\"a\\u0000b\"", 10, &root, &a, err), NET_OK);
    size_t len;
    const char *s = net_json_str(root, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "a\0b", 4);
    net_arena_free(&a);

    char deep[2001];
    memset(deep, '[', 1000);
    memset(deep + 1000, ']', 1000);
    net_arena_init(&a, NULL, 0);
    assert_int_equal(net_json_parse(&a, deep, 2000, 0, &root, err, sizeof err), NET_E_DEPTH);
    assert_non_null(strstr(err, "nesting deeper than 512"));
    net_arena_free(&a);
    net_arena_init(&a, NULL, 0);
    assert_int_equal(net_json_parse(&a, deep, 2000, 1000, &root, err, sizeof err), NET_OK);
    net_arena_free(&a);
    /* Depth is about nesting, not count: many siblings are fine. */
    net_arena_init(&a, NULL, 0);
    assert_int_equal(net_json_parse(&a, "[[],[],[]]", 10, 2, &root, err, sizeof err), NET_OK);
    assert_int_equal(net_json_parse(&a, "[[[]]]", 6, 2, &root, err, sizeof err), NET_E_DEPTH);
    net_arena_free(&a);
}

/* Found by fuzz_json at its first run: a document as deep as the parser
 * allows must be writable back (the writer's depth limit was 64). */
static void test_fuzz_regressions(void **state)
{
    char deep[2 * NET_JSON_DEFAULT_DEPTH];
    memset(deep, '[', NET_JSON_DEFAULT_DEPTH);
    memset(deep + NET_JSON_DEFAULT_DEPTH, ']', NET_JSON_DEFAULT_DEPTH);
    net_arena a;
    const net_json *root;
    char err[256];
    assert_int_equal(parse_str(deep, sizeof deep, &root, &a, err), NET_OK);
    char *out = dump(root);
    assert_memory_equal(out, deep, sizeof deep);
    free(out);
    net_arena_free(&a);
}

static const char *doc_text =
    "{\"id\": \"chatcmpl-1\", \"n\": 9007199254740993, \"neg\": -9223372036854775808,"
    " \"big\": 9223372036854775808, \"f\": 2.5, \"e\": 1e400, \"t\": true, \"z\": null,"
    " \"a/b\": 1, \"m~n\": 2, \"dup\": 1, \"dup\": 2,"
    " \"choices\": [{\"delta\": {\"content\": \"h\\u00e9\"}}, {\"x\": []}]}";

static void test_getters(void **state)
{
    net_json_doc *doc;
    char err[256];
    assert_int_equal(net_json_parse_doc(doc_text, strlen(doc_text), &doc, err, sizeof err), NET_OK);
    const net_json *r = net_json_root(doc);
    assert_int_equal(net_json_typeof(r), NET_JSON_OBJECT);
    assert_int_equal(net_json_count(r), 13);
    assert_string_equal(net_json_get_str(r, "id", NULL), "chatcmpl-1");
    assert_null(net_json_get_str(r, "n", NULL));

    int64_t i;
    assert_int_equal(net_json_int64(net_json_get(r, "n"), &i, err, sizeof err), NET_OK);
    assert_true(i == 9007199254740993LL);
    assert_string_equal(net_json_num_text(net_json_get(r, "n")), "9007199254740993");
    assert_int_equal(net_json_int64(net_json_get(r, "neg"), &i, err, sizeof err), NET_OK);
    assert_true(i == INT64_MIN);
    assert_int_equal(net_json_int64(net_json_get(r, "big"), &i, err, sizeof err), NET_E_RANGE);
    assert_non_null(strstr(err, "9223372036854775808 is outside the int64 range"));
    assert_int_equal(net_json_int64(net_json_get(r, "f"), &i, err, sizeof err), NET_E_TYPE);
    assert_non_null(strstr(err, "not an integer"));
    assert_int_equal(net_json_int64(net_json_get(r, "id"), &i, err, sizeof err), NET_E_TYPE);
    assert_non_null(strstr(err, "\"id\" is string, expected an integer"));
    assert_int_equal(net_json_get_int(r, "missing", 42), 42);

    double d;
    assert_int_equal(net_json_double(net_json_get(r, "f"), &d, err, sizeof err), NET_OK);
    assert_true(d == 2.5);
    assert_int_equal(net_json_double(net_json_get(r, "e"), &d, err, sizeof err), NET_E_RANGE);
    bool b;
    assert_int_equal(net_json_bool(net_json_get(r, "t"), &b), NET_OK);
    assert_true(b);
    assert_int_equal(net_json_bool(net_json_get(r, "z"), &b), NET_E_TYPE);
    assert_true(net_json_is_null(net_json_get(r, "z")));
    assert_int_equal(net_json_get_int(r, "dup", 0), 1);

    assert_string_equal(net_json_str(net_json_path(r, "/choices/0/delta/content"), NULL), "h\xC3\xA9");
    assert_ptr_equal(net_json_path(r, ""), r);
    assert_int_equal(net_json_get_int(net_json_path(r, "/a~1b") ? r : NULL, "a/b", 0), 1);
    assert_non_null(net_json_path(r, "/m~0n"));
    assert_null(net_json_path(r, "/choices/2"));
    assert_null(net_json_path(r, "/choices/01"));
    assert_null(net_json_path(r, "/choices/-1"));
    assert_null(net_json_path(r, "choices"));
    assert_null(net_json_path(r, "/m~2n"));
    assert_int_equal(net_json_typeof(net_json_path(r, "/choices/1/x")), NET_JSON_ARRAY);

    size_t keys = 0, kl;
    for (const net_json *c = net_json_first(r); c; c = net_json_next(c)) {
        assert_non_null(net_json_key(c, &kl));
        keys++;
    }
    assert_int_equal(keys, 13);
    assert_string_equal(net_json_key(net_json_at(r, 12), NULL), "choices");
    assert_null(net_json_at(r, 13));
    assert_null(net_json_first(net_json_get(r, "f")));
    net_json_free(doc);
    net_json_free(NULL);
}

static void test_fixed_arena(void **state)
{
    /* Parsing into a caller buffer never mallocs; too small is a clean error. */
    _Alignas(16) char mem[4096];
    net_arena a;
    const net_json *root;
    char err[256];
    net_arena_init(&a, mem, sizeof mem);
    assert_int_equal(net_json_parse(&a, doc_text, strlen(doc_text), 0, &root, err, sizeof err), NET_OK);
    assert_true((char *)root >= mem && (char *)root < mem + sizeof mem);
    net_arena_free(&a);
    net_arena_init(&a, mem, 200);
    assert_int_equal(net_json_parse(&a, doc_text, strlen(doc_text), 0, &root, err, sizeof err), NET_E_NOMEM);
    assert_non_null(strstr(err, "out of memory"));
    assert_null(root);
    net_arena_init(&a, mem + 1, 0);
    assert_int_equal(net_json_parse(&a, "1", 1, 0, &root, err, sizeof err), NET_E_NOMEM);
}

static char *write_with(void (*fill)(net_jw *), int *rc, char *err)
{
    net_buf b;
    net_jw w;
    net_buf_init(&b);
    net_jw_init(&w, &b);
    fill(&w);
    *rc = net_jw_finish(&w, err, 256);
    return b.data;
}

static void fill_escapes(net_jw *w)
{
    net_jw_obj_begin(w);
    net_jw_key(w, "s\"");
    net_jw_strn(w, "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f \xC3\xA9\xF0\x9F\x98\x80\0z", 23);
    net_jw_key(w, "n");
    net_jw_arr_begin(w);
    net_jw_int(w, INT64_MIN);
    net_jw_double(w, 0.1);
    net_jw_double(w, 1e300);
    net_jw_double(w, -0.0);
    net_jw_double(w, 10.0);
    net_jw_double(w, -250.0);
    net_jw_double(w, 1e16);
    net_jw_num_text(w, "12345678901234567890123");
    net_jw_bool(w, false);
    net_jw_null(w);
    net_jw_arr_end(w);
    net_jw_key(w, "e");
    net_jw_obj_begin(w);
    net_jw_obj_end(w);
    net_jw_obj_end(w);
}

static void fill_bad_utf8(net_jw *w)
{
    net_jw_arr_begin(w);
    net_jw_str(w, "ok");
    net_jw_str(w, "bad \xC3(");
    net_jw_arr_end(w);
}

static void fill_value_without_key(net_jw *w)
{
    net_jw_obj_begin(w);
    net_jw_int(w, 1);
}

static void fill_mismatch(net_jw *w)
{
    net_jw_arr_begin(w);
    net_jw_obj_end(w);
}

static void fill_two_values(net_jw *w)
{
    net_jw_int(w, 1);
    net_jw_int(w, 2);
}

static void fill_nan(net_jw *w) { net_jw_double(w, NAN); }
static void fill_bad_num(net_jw *w) { net_jw_num_text(w, "01"); }
static void fill_open(net_jw *w) { net_jw_arr_begin(w); }
static void fill_nothing(net_jw *w) { (void)w; }

static void test_writer(void **state)
{
    int rc;
    char err[256];
    char *s = write_with(fill_escapes, &rc, err);
    assert_int_equal(rc, NET_OK);
    assert_string_equal(s,
        "{\"s\\\"\":\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f \xC3\xA9\xF0\x9F\x98\x80\\u0000z\","
        "\"n\":[-9223372036854775808,0.1,1e+300,-0,10,-250,1e+16,12345678901234567890123,false,null],\"e\":{}}");
    /* And it parses back to the same string. */
    net_json_doc *doc;
    assert_int_equal(net_json_parse_doc(s, strlen(s), &doc, err, sizeof err), NET_OK);
    size_t len;
    const char *v = net_json_str(net_json_get(net_json_root(doc), "s\""), &len);
    assert_int_equal(len, 23);
    assert_memory_equal(v, "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f \xC3\xA9\xF0\x9F\x98\x80\0z", 23);
    net_json_free(doc);
    free(s);

    static const struct {
        void (*fill)(net_jw *);
        int rc;
        const char *msg;
    } bad[] = {
        {fill_bad_utf8, NET_E_UTF8, "invalid UTF-8 at byte 4"},
        {fill_value_without_key, NET_E_STATE, "needs a key first"},
        {fill_mismatch, NET_E_STATE, "'}' does not match"},
        {fill_two_values, NET_E_STATE, "after the complete top-level value"},
        {fill_nan, NET_E_RANGE, "NaN has no JSON form"},
        {fill_bad_num, NET_E_SYNTAX, "\"01\" is not a JSON number"},
        {fill_open, NET_E_STATE, "unclosed"},
        {fill_nothing, NET_E_STATE, "nothing written"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        free(write_with(bad[i].fill, &rc, err));
        assert_int_equal(rc, bad[i].rc);
        if (!strstr(err, bad[i].msg))
            fail_msg("writer case %zu: \"%s\" lacks \"%s\"", i, err, bad[i].msg);
    }
}

static void test_doubles_round_trip(void **state)
{
    const double vals[] = {0.1, 1.0 / 3, 5e-324, 1.7976931348623157e308, 123456789.125, -2.5e-7, 100};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        net_buf b;
        net_jw w;
        net_buf_init(&b);
        net_jw_init(&w, &b);
        net_jw_double(&w, vals[i]);
        assert_int_equal(net_jw_finish(&w, NULL, 0), NET_OK);
        net_json_doc *doc;
        assert_int_equal(net_json_parse_doc(b.data, b.len, &doc, NULL, 0), NET_OK);
        double d;
        assert_int_equal(net_json_double(net_json_root(doc), &d, NULL, 0), NET_OK);
        assert_true(d == vals[i]);
        net_json_free(doc);
        net_buf_free(&b);
    }
}

static void test_locale(void **state)
{
    /* A program that switched to a ',' decimal locale still gets JSON '.'. */
    if (!setlocale(LC_NUMERIC, "de_DE.UTF-8") && !setlocale(LC_NUMERIC, "fr_FR.UTF-8"))
        skip();
    net_buf b;
    net_jw w;
    net_buf_init(&b);
    net_jw_init(&w, &b);
    net_jw_double(&w, 2.5);
    assert_int_equal(net_jw_finish(&w, NULL, 0), NET_OK);
    assert_string_equal(b.data, "2.5");
    net_json_doc *doc;
    assert_int_equal(net_json_parse_doc("0.25", 4, &doc, NULL, 0), NET_OK);
    double d;
    net_json_double(net_json_root(doc), &d, NULL, 0);
    assert_true(d == 0.25);
    net_json_free(doc);
    net_buf_free(&b);
    setlocale(LC_NUMERIC, "C");
}

/* Feed text to a splitter in pieces of step bytes; the values joined by '|'. */
static int split_all(const char *text, bool array_mode, size_t step, char *out, size_t cap, char *err)
{
    net_json_split s;
    net_json_split_init(&s, array_mode, 1000);
    size_t n = strlen(text), o = 0;
    out[0] = '\0';
    int rc = 0;
    for (size_t at = 0; at < n && rc >= 0;) {
        size_t piece = n - at < step ? n - at : step, used;
        rc = net_json_split_feed(&s, text + at, piece, &used, err, 256);
        if (rc == 1)
            o += (size_t)snprintf(out + o, cap - o, "%s|", s.value.data);
        at += rc >= 0 ? used : 0;
    }
    net_json_split_free(&s);
    return rc < 0 ? rc : 0;
}

static void test_split(void **state)
{
    char out[512], err[256];
    for (size_t step = 1; step <= 64; step *= 4) {
        assert_int_equal(split_all("{\"a\":\"}\\\"\"}\n[1,[2]]\n\"s\"\n17\ntrue\n", false, step, out, sizeof out, err), 0);
        assert_string_equal(out, "{\"a\":\"}\\\"\"}|[1,[2]]|\"s\"|17|true|");
        assert_int_equal(split_all(" [ {\"x\":[1]} , 2 ,\"]\" ] ", true, step, out, sizeof out, err), 0);
        assert_string_equal(out, "{\"x\":[1]}|2|\"]\"|");
    }
    assert_int_equal(split_all("}", false, 4, out, sizeof out, err), NET_E_SYNTAX);
    assert_non_null(strstr(err, "'}' outside any value"));
    assert_int_equal(split_all("{}", true, 4, out, sizeof out, err), NET_E_SYNTAX);
    assert_non_null(strstr(err, "expected '['"));
    char big[1100];
    memset(big, '1', sizeof big - 2);
    big[sizeof big - 2] = '\n';
    big[sizeof big - 1] = '\0';
    assert_int_equal(split_all(big, false, 64, out, sizeof out, err), NET_E_LIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_embedded_nul_and_depth),
        cmocka_unit_test(test_fuzz_regressions),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_fixed_arena),
        cmocka_unit_test(test_writer),
        cmocka_unit_test(test_doubles_round_trip),
        cmocka_unit_test(test_locale),
        cmocka_unit_test(test_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
