/* Host name resolution without the C library's NSS.
 *
 * A statically linked glibc program cannot load the NSS modules that
 * getaddrinfo() relies on (or loads ones from another glibc version), so the
 * static rhema binary resolves names itself: IP literals, the hosts file,
 * then A and AAAA queries over UDP to the name servers in resolv.conf
 * (RFC 1035), with the search list for names without a dot.
 *
 * RHEMA_HOSTS_FILE and RHEMA_RESOLV_CONF name other files in place of
 * /etc/hosts and /etc/resolv.conf (tests use them). */
#include "net/net_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_NS 3
#define MAX_SEARCH 6
#define DNS_PORT 53

typedef struct resolv {
    struct sockaddr_storage ns[MAX_NS];
    socklen_t ns_len[MAX_NS];
    int n_ns;
    char search[MAX_SEARCH][256];
    int n_search;
} resolv;

typedef struct results {
    net_addr *out;
    size_t max, n;
    int port;
} results;

static void add_addr(results *r, int family, const void *ip)
{
    if (r->n >= r->max)
        return;
    net_addr *a = &r->out[r->n];
    memset(a, 0, sizeof *a);
    if (family == AF_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)&a->ss;
        s->sin_family = AF_INET;
        s->sin_port = htons((uint16_t)r->port);
        memcpy(&s->sin_addr, ip, 4);
        a->len = sizeof *s;
    } else {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&a->ss;
        s->sin6_family = AF_INET6;
        s->sin6_port = htons((uint16_t)r->port);
        memcpy(&s->sin6_addr, ip, 16);
        a->len = sizeof *s;
    }
    for (size_t i = 0; i < r->n; i++)
        if (r->out[i].len == a->len && !memcmp(&r->out[i].ss, &a->ss, a->len))
            return;  /* the hosts file may list an address twice */
    r->n++;
}

/* An IPv4 or IPv6 literal ("[::1]" as URLs write it too). */
static bool add_literal(results *r, const char *host)
{
    unsigned char ip[16];
    char buf[64];
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof buf) {
        memcpy(buf, host + 1, n - 2);
        buf[n - 2] = 0;
        host = buf;
    }
    if (inet_pton(AF_INET, host, ip) == 1) {
        add_addr(r, AF_INET, ip);
        return true;
    }
    if (inet_pton(AF_INET6, host, ip) == 1) {
        add_addr(r, AF_INET6, ip);
        return true;
    }
    return false;
}

static const char *path_or(const char *env, const char *dflt)
{
    const char *p = getenv(env);
    return p && *p ? p : dflt;
}

/* Whitespace-separated words of a config line, comments removed. */
static int split_words(char *line, char **w, int max)
{
    int n = 0;
    line[strcspn(line, "#;\n")] = 0;
    for (char *save, *t = strtok_r(line, " \t\r", &save); t && n < max; t = strtok_r(NULL, " \t\r", &save))
        w[n++] = t;
    return n;
}

static void lookup_hosts(results *r, const char *host)
{
    FILE *fp = fopen(path_or("RHEMA_HOSTS_FILE", "/etc/hosts"), "re");
    char line[1024], *w[16];
    if (!fp)
        return;
    while (fgets(line, sizeof line, fp)) {
        int n = split_words(line, w, 16);
        for (int i = 1; i < n; i++)
            if (!strcasecmp(w[i], host)) {
                add_literal(r, w[0]);
                break;
            }
    }
    fclose(fp);
}

static void read_resolv(resolv *rc)
{
    FILE *fp = fopen(path_or("RHEMA_RESOLV_CONF", "/etc/resolv.conf"), "re");
    char line[1024], *w[8];
    memset(rc, 0, sizeof *rc);
    if (fp) {
        while (fgets(line, sizeof line, fp)) {
            int n = split_words(line, w, 8);
            if (n >= 2 && !strcmp(w[0], "nameserver") && rc->n_ns < MAX_NS) {
                net_addr a;
                results one = {&a, 1, 0, DNS_PORT};
                w[1][strcspn(w[1], "%")] = 0;  /* link-local scope: not kept */
                if (add_literal(&one, w[1]) && one.n) {
                    rc->ns[rc->n_ns] = a.ss;
                    rc->ns_len[rc->n_ns++] = a.len;
                }
            } else if (n >= 2 && (!strcmp(w[0], "search") || !strcmp(w[0], "domain"))) {
                rc->n_search = 0;
                for (int i = 1; i < n && rc->n_search < MAX_SEARCH; i++)
                    snprintf(rc->search[rc->n_search++], sizeof rc->search[0], "%s", w[i]);
            }
        }
        fclose(fp);
    }
    if (rc->n_ns == 0) {
        /* resolv.conf(5): no name server listed means the local one. */
        net_addr a;
        results one = {&a, 1, 0, DNS_PORT};
        add_literal(&one, "127.0.0.1");
        rc->ns[0] = a.ss;
        rc->ns_len[0] = a.len;
        rc->n_ns = 1;
    }
}

/* A query for name of the given type into q; its length, or 0 when the
 * name cannot be encoded. */
static size_t build_query(uint8_t *q, size_t cap, uint16_t id, const char *name, uint16_t type)
{
    size_t n = 12, len = strlen(name);
    if (len == 0 || len > 253 || cap < len + 2 + 12 + 4)
        return 0;
    memset(q, 0, 12);
    q[0] = (uint8_t)(id >> 8), q[1] = (uint8_t)id;
    q[2] = 0x01;  /* recursion desired */
    q[5] = 1;     /* one question */
    for (const char *p = name; *p;) {
        size_t l = strcspn(p, ".");
        if (l == 0 || l > 63)
            return 0;
        q[n++] = (uint8_t)l;
        memcpy(q + n, p, l);
        n += l;
        p += l;
        if (*p == '.')
            p++;
    }
    q[n++] = 0;
    q[n++] = (uint8_t)(type >> 8), q[n++] = (uint8_t)type;
    q[n++] = 0, q[n++] = 1;  /* class IN */
    return n;
}

/* Offset just past the (possibly compressed) name at off, or 0 if malformed. */
static size_t skip_name(const uint8_t *m, size_t len, size_t off)
{
    for (int labels = 0; off < len && labels < 128; labels++) {
        uint8_t l = m[off];
        if (l == 0)
            return off + 1;
        if ((l & 0xC0) == 0xC0)
            return off + 2 <= len ? off + 2 : 0;
        if (l & 0xC0)
            return 0;
        off += 1u + l;
    }
    return 0;
}

/* Parse one answer. Returns 1 when it answers query id (addresses added),
 * 0 to ignore it, or a negative rcode-based status with *why set. */
static int parse_answer(const uint8_t *m, size_t len, uint16_t id, results *r, const char **why)
{
    if (len < 12 || ((m[0] << 8) | m[1]) != id || !(m[2] & 0x80))
        return 0;
    int rcode = m[3] & 0x0F;
    if (rcode == 3) {
        *why = "no such host";
        return NET_E_DNS;
    }
    if (rcode != 0) {
        *why = rcode == 2 ? "the name server failed" : "the name server refused the query";
        return NET_E_DNS;
    }
    size_t qd = (size_t)(m[4] << 8 | m[5]), an = (size_t)(m[6] << 8 | m[7]), off = 12;
    for (size_t i = 0; i < qd; i++) {
        if (!(off = skip_name(m, len, off)) || off + 4 > len)
            return 0;
        off += 4;
    }
    for (size_t i = 0; i < an; i++) {
        if (!(off = skip_name(m, len, off)) || off + 10 > len)
            return 1;
        uint16_t type = (uint16_t)(m[off] << 8 | m[off + 1]);
        size_t rdlen = (size_t)(m[off + 8] << 8 | m[off + 9]);
        off += 10;
        if (rdlen > len - off)
            return 1;
        if (type == 1 && rdlen == 4)
            add_addr(r, AF_INET, m + off);
        else if (type == 28 && rdlen == 16)
            add_addr(r, AF_INET6, m + off);
        off += rdlen;
    }
    return 1;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Ask one server for the A and AAAA records of name. */
static int ask(const resolv *rc, int s, const char *name, results *r, long long deadline, const char **why)
{
    uint8_t q[2][300], m[1500];
    uint16_t ids[2];
    size_t ql[2];
    bool done[2] = {false, false};
    int fd = socket(rc->ns[s].ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *why = strerror(errno);
        return NET_E_DNS;
    }
    if (getrandom(ids, sizeof ids, 0) != sizeof ids)
        ids[0] = (uint16_t)mono_ms(), ids[1] = (uint16_t)(ids[0] + 1);
    for (int k = 0; k < 2; k++) {
        ql[k] = build_query(q[k], sizeof q[k], ids[k], name, k == 0 ? 1 : 28);
        if (!ql[k] || sendto(fd, q[k], ql[k], 0, (const struct sockaddr *)&rc->ns[s], rc->ns_len[s]) < 0) {
            *why = ql[k] ? strerror(errno) : "the name is not a valid host name";
            close(fd);
            return NET_E_DNS;
        }
    }
    int rc_status = NET_E_TIMEOUT;
    while (!(done[0] && done[1])) {
        long long left = deadline - mono_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t got = recv(fd, m, sizeof m, 0);
        if (got <= 0)
            continue;
        for (int k = 0; k < 2; k++) {
            if (done[k])
                continue;
            int a = parse_answer(m, (size_t)got, ids[k], r, why);
            if (a != 0)
                done[k] = true;
            if (a < 0)
                rc_status = a;
            else if (a > 0 && rc_status == NET_E_TIMEOUT)
                rc_status = NET_OK;
        }
    }
    close(fd);
    if (rc_status == NET_E_TIMEOUT)
        *why = "no answer from the name server";
    return rc_status;
}

int net_resolve(const char *host, int port, net_addr *out, size_t max, size_t *n, int timeout_ms,
                char *err, size_t errlen)
{
    results r = {out, max, 0, port};
    *n = 0;
    if (add_literal(&r, host)) {
        *n = r.n;
        return NET_OK;
    }
    lookup_hosts(&r, host);
    if (!r.n && !strcasecmp(host, "localhost")) {
        /* RFC 6761: localhost is loopback even without a hosts entry. */
        add_literal(&r, "127.0.0.1");
        add_literal(&r, "::1");
    }
    if (r.n) {
        *n = r.n;
        return NET_OK;
    }
    resolv rc;
    read_resolv(&rc);
    const char *why = "no such host";
    int status = NET_E_DNS;
    long long deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 5000);
    /* Names without a dot go through the search list first. */
    int tries = strchr(host, '.') ? 1 : rc.n_search + 1;
    for (int t = 0; t < tries && !r.n; t++) {
        char name[512];
        if (t < tries - 1)
            snprintf(name, sizeof name, "%s.%s", host, rc.search[t]);
        else
            snprintf(name, sizeof name, "%s", host);
        if (name[0] && name[strlen(name) - 1] == '.')
            name[strlen(name) - 1] = 0;  /* an absolute name */
        for (int s = 0; s < rc.n_ns && !r.n; s++) {
            /* Each server gets an equal share of what time is left. */
            long long now = mono_ms(), share = (deadline - now) / (rc.n_ns - s);
            status = ask(&rc, s, name, &r, now + (share > 0 ? share : 0), &why);
            if (status == NET_E_DNS && !strcmp(why, "no such host"))
                break;  /* an authoritative no: other servers would agree */
        }
    }
    if (r.n) {
        *n = r.n;
        return NET_OK;
    }
    if (status == NET_OK)
        why = "the name has no IPv4 or IPv6 address";
    return net_errf(err, errlen, NET_E_DNS, "cannot resolve host %s: %s", host, why);
}
