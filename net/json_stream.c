/* Cutting a stream of JSON values into pieces without parsing them. */
#include "net/net_internal.h"

#include <string.h>

void net_json_split_init(net_json_split *s, bool array_mode, size_t max_value)
{
    memset(s, 0, sizeof *s);
    net_buf_init(&s->value);
    s->value.max = max_value;
    s->array_mode = array_mode;
}

void net_json_split_free(net_json_split *s)
{
    net_buf_free(&s->value);
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Append the value bytes data[from, to); 0 or the error. */
static int keep(net_json_split *s, const char *data, size_t from, size_t to, char *err, size_t errlen)
{
    int rc = net_buf_append(&s->value, data + from, to - from);
    if (rc < 0)
        return net_errf(err, errlen, rc, "JSON stream: value larger than %zu bytes", s->value.max);
    return NET_OK;
}

/* Byte c outside any value: separators, the outer array, or a value start. */
static int between(net_json_split *s, char c, char *err, size_t errlen)
{
    if (is_ws(c))
        return 0;
    if (s->array_mode && !s->in_outer) {
        if (c != '[')
            return net_errf(err, errlen, NET_E_SYNTAX, "JSON stream: expected '[' to open the array, got 0x%02X",
                            (unsigned char)c);
        s->in_outer = true;
        return 0;
    }
    if (s->array_mode && c == ',')
        return 0;
    if (s->array_mode && c == ']') {
        s->in_outer = false;
        return 0;
    }
    if (c == ']' || c == '}' || c == ',' || c == ':')
        return net_errf(err, errlen, NET_E_SYNTAX, "JSON stream: '%c' outside any value", c);
    s->in_value = true;
    s->in_str = c == '"';
    s->scalar = c != '"' && c != '{' && c != '[';
    s->depth = c == '{' || c == '[';
    return 1;
}

/* Byte c inside a value; true when it completes the value. */
static bool inside(net_json_split *s, char c)
{
    if (s->in_str) {
        if (s->esc)
            s->esc = false;
        else if (c == '\\')
            s->esc = true;
        else if (c == '"')
            s->in_str = false;
        return !s->in_str && s->depth == 0;
    }
    if (c == '"')
        s->in_str = true;
    else if (c == '{' || c == '[')
        s->depth++;
    else if (c == '}' || c == ']')
        s->depth--;
    else
        return false;
    return s->depth == 0 && !s->in_str;
}

int net_json_split_feed(net_json_split *s, const char *data, size_t len, size_t *used,
                        char *err, size_t errlen)
{
    if (s->ready) {
        net_buf_consume(&s->value, s->value.len);
        s->ready = false;
    }
    size_t from = 0;
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (!s->in_value) {
            int r = between(s, c, err, errlen);
            if (r < 0)
                return r;
            from = i;
            continue;
        }
        /* A bare number or literal ends at the first byte that cannot be in it. */
        if (s->scalar && (is_ws(c) || c == ',' || c == ']' || c == '}')) {
            *used = i;
            goto done;
        }
        if (!s->scalar && inside(s, c)) {
            *used = i + 1;
            goto done;
        }
    }
    *used = len;
    return s->in_value ? keep(s, data, from, len, err, errlen) : NET_OK;
done:
    s->in_value = false;
    s->ready = true;
    int rc = keep(s, data, from, *used, err, errlen);
    return rc < 0 ? rc : 1;
}
