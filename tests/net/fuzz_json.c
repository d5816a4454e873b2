/* libFuzzer harness for the JSON parser, writer and stream splitter.
 * Invariants: no crash; an accepted document written out parses again and
 * writes out identically; the splitter never fails on what the parser took. */
#include "net/net.h"

#include <stdlib.h>
#include <string.h>

static char *dump(const net_json *v)
{
    net_buf b;
    net_jw w;
    net_buf_init(&b);
    net_jw_init(&w, &b);
    net_jw_value(&w, v);
    if (net_jw_finish(&w, NULL, 0) != NET_OK)
        abort();
    return b.data;
}

static void walk(const net_json *v)
{
    int64_t i;
    double d;
    bool b;
    size_t n;
    net_json_int64(v, &i, NULL, 0);
    net_json_double(v, &d, NULL, 0);
    net_json_bool(v, &b);
    net_json_str(v, &n);
    for (const net_json *c = net_json_first(v); c; c = net_json_next(c)) {
        net_json_key(c, &n);
        walk(c);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    net_json_doc *doc;
    const char *text = (const char *)data;
    if (net_json_parse_doc(text, size, &doc, err, sizeof err) != NET_OK) {
        if (!memchr(err, '\0', sizeof err))
            abort();
        return 0;
    }
    const net_json *root = net_json_root(doc);
    walk(root);
    net_json_path(root, "/a/0/~1");
    char *once = dump(root);
    net_json_doc *doc2;
    if (net_json_parse_doc(once, strlen(once), &doc2, err, sizeof err) != NET_OK)
        abort();
    char *twice = dump(net_json_root(doc2));
    if (strcmp(once, twice) != 0)
        abort();
    free(once);
    free(twice);
    net_json_free(doc2);
    net_json_free(doc);

    /* A valid document is one complete value for the splitter. */
    net_json_split s;
    net_json_split_init(&s, false, 0);
    size_t used;
    int rc = net_json_split_feed(&s, text, size, &used, err, sizeof err);
    if (rc < 0)
        abort();
    net_json_split_free(&s);
    return 0;
}
