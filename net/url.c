/* http(s) URL splitting and resolving redirect targets. */
#include "net/net_internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

int net_url_parse(const char *url, net_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!url)
        return net_errf(err, errlen, NET_E_ARG, "URL: NULL");
    const char *p;
    if (strncasecmp(url, "https://", 8) == 0) {
        out->https = true;
        p = url + 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        p = url + 7;
    } else {
        return net_errf(err, errlen, NET_E_ARG, "URL \"%.80s\": only http:// and https:// are supported", url);
    }
    size_t auth = strcspn(p, "/?#");
    const char *end = p + auth;
    if (memchr(p, '@', auth))
        return net_errf(err, errlen, NET_E_ARG, "URL: user:password@ in URLs is not supported");
    const char *hs = p, *he, *portp = NULL;
    if (*p == '[') {
        hs = p + 1;
        he = memchr(hs, ']', (size_t)(end - hs));
        if (!he)
            return net_errf(err, errlen, NET_E_ARG, "URL \"%.80s\": unclosed '[' in host", url);
        if (he + 1 < end && he[1] != ':')
            return net_errf(err, errlen, NET_E_ARG, "URL \"%.80s\": junk after ']'", url);
        portp = he + 1 < end ? he + 2 : NULL;
    } else {
        he = memchr(p, ':', auth);
        if (he)
            portp = he + 1;
        else
            he = end;
    }
    size_t hl = (size_t)(he - hs);
    if (hl == 0 || hl >= sizeof out->host)
        return net_errf(err, errlen, NET_E_ARG, "URL \"%.80s\": %s host", url, hl ? "too long a" : "missing");
    memcpy(out->host, hs, hl);
    for (size_t i = 0; i < hl; i++)
        if ((unsigned char)out->host[i] <= ' ' || out->host[i] == 0x7F)
            return net_errf(err, errlen, NET_E_ARG, "URL \"%.80s\": bad character in host", url);
    out->port = out->https ? 443 : 80;
    if (portp) {
        long port = 0;
        if (portp == end)
            return net_errf(err, errlen, NET_E_ARG, "URL \"%.80s\": empty port", url);
        for (const char *q = portp; q < end; q++) {
            if (*q < '0' || *q > '9' || (port = port * 10 + (*q - '0')) > 65535)
                return net_errf(err, errlen, NET_E_ARG, "URL \"%.80s\": bad port", url);
        }
        if (port == 0)
            return net_errf(err, errlen, NET_E_ARG, "URL \"%.80s\": bad port", url);
        out->port = (int)port;
    }
    /* The fragment is never sent; a query without a path gets "/". */
    size_t pl = strcspn(end, "#");
    int n = snprintf(out->path, sizeof out->path, "%s%.*s", *end == '/' ? "" : "/", (int)pl, end);
    if (n < 0 || (size_t)n >= sizeof out->path)
        return net_errf(err, errlen, NET_E_ARG, "URL: path longer than %zu bytes", sizeof out->path - 1);
    for (const char *q = out->path; *q; q++)
        if ((unsigned char)*q <= ' ' || *q == 0x7F)
            return net_errf(err, errlen, NET_E_ARG, "URL \"%.80s\": space or control character in path", url);
    return NET_OK;
}

/* "host:port" with brackets for IPv6 and without a default port. */
void net_url_authority(const net_url *u, char *out, size_t n)
{
    bool v6 = strchr(u->host, ':') != NULL;
    bool dflt = u->port == (u->https ? 443 : 80);
    char port[8] = "";
    if (!dflt)
        snprintf(port, sizeof port, ":%d", u->port);
    snprintf(out, n, "%s%s%s%s", v6 ? "[" : "", u->host, v6 ? "]" : "", port);
}

int net_url_resolve(const net_url *base, const char *loc, net_url *out, char *err, size_t errlen)
{
    if (strncasecmp(loc, "http://", 7) == 0 || strncasecmp(loc, "https://", 8) == 0)
        return net_url_parse(loc, out, err, errlen);
    char abs[2400], auth[300];
    net_url_authority(base, auth, sizeof auth);
    const char *scheme = base->https ? "https" : "http";
    if (loc[0] == '/' && loc[1] == '/') {
        snprintf(abs, sizeof abs, "%s:%s", scheme, loc);
    } else if (loc[0] == '/') {
        snprintf(abs, sizeof abs, "%s://%s%s", scheme, auth, loc);
    } else {
        /* Relative to the base path's folder (no "../" folding). */
        size_t dir = strcspn(base->path, "?");
        while (dir > 0 && base->path[dir - 1] != '/')
            dir--;
        snprintf(abs, sizeof abs, "%s://%s%.*s%s", scheme, auth, (int)dir, base->path, loc);
    }
    return net_url_parse(abs, out, err, errlen);
}
