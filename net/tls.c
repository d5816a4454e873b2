/* TLS 1.2 client sessions on BearSSL, trust anchors from PEM bundles, and
 * BearSSL's error codes in words. */
#include "net/net_internal.h"

#include <bearssl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- trust anchors ---- */

static void buf_sink(void *ctx, const void *src, size_t len)
{
    net_buf *b = ctx;
    /* A failed append is noticed through the size check afterwards. */
    if (net_buf_append(b, src, len) < 0)
        b->max = 1;
}

static void *dup_bytes(net_arena *a, const void *p, size_t n)
{
    void *d = net_arena_alloc(a, n ? n : 1);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

/* Add the certificate der[n] as a trust anchor; false when it cannot be
 * used (unsupported key type or not decodable). */
static int add_anchor(net_trust *t, size_t *cap, const net_buf *der, bool *usable)
{
    net_buf dn;
    net_buf_init(&dn);
    br_x509_decoder_context dc;
    br_x509_decoder_init(&dc, buf_sink, &dn);
    br_x509_decoder_push(&dc, der->data, der->len);
    const br_x509_pkey *pk = br_x509_decoder_get_pkey(&dc);
    *usable = pk != NULL && dn.max == 0;
    int rc = NET_OK;
    if (*usable) {
        if (t->n == *cap) {
            size_t nc = *cap ? *cap * 2 : 64;
            void *na = realloc(t->anchors, nc * sizeof(br_x509_trust_anchor));
            if (!na)
                rc = NET_E_NOMEM;
            else {
                t->anchors = na;
                *cap = nc;
            }
        }
        br_x509_trust_anchor ta = {.flags = br_x509_decoder_isCA(&dc) ? BR_X509_TA_CA : 0};
        ta.dn.data = dup_bytes(&t->arena, dn.data, dn.len);
        ta.dn.len = dn.len;
        ta.pkey.key_type = pk->key_type;
        bool copied;
        if (pk->key_type == BR_KEYTYPE_RSA) {
            br_rsa_public_key *k = &ta.pkey.key.rsa;
            k->n = dup_bytes(&t->arena, pk->key.rsa.n, pk->key.rsa.nlen);
            k->nlen = pk->key.rsa.nlen;
            k->e = dup_bytes(&t->arena, pk->key.rsa.e, pk->key.rsa.elen);
            k->elen = pk->key.rsa.elen;
            copied = k->n && k->e;
        } else {
            br_ec_public_key *k = &ta.pkey.key.ec;
            k->curve = pk->key.ec.curve;
            k->q = dup_bytes(&t->arena, pk->key.ec.q, pk->key.ec.qlen);
            k->qlen = pk->key.ec.qlen;
            copied = k->q != NULL;
        }
        if (rc == NET_OK && (!ta.dn.data || !copied))
            rc = NET_E_NOMEM;
        if (rc == NET_OK)
            ((br_x509_trust_anchor *)t->anchors)[t->n++] = ta;
    }
    net_buf_free(&dn);
    return rc;
}

int net_trust_load(net_trust *t, const char *path, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    net_arena_init(&t->arena, NULL, 0);
    FILE *f = fopen(path, "rb");
    if (!f)
        return net_errf(err, errlen, NET_E_CA, "CA file %s: %s", path, strerror(errno));
    net_buf text;
    net_buf_init(&text);
    char chunk[8192];
    size_t k;
    int rc = NET_OK;
    while (rc == NET_OK && (k = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = net_buf_append(&text, chunk, k);
    bool rerr = ferror(f);
    fclose(f);
    if (rc == NET_OK && rerr)
        rc = net_errf(err, errlen, NET_E_CA, "CA file %s: read error", path);
    else if (rc < 0)
        rc = net_errf(err, errlen, rc, "CA file %s: out of memory", path);
    /* The decoder finishes a line only at its end: make sure there is one. */
    if (rc == NET_OK)
        rc = net_buf_append(&text, "\n", 1);

    br_pem_decoder_context pc;
    br_pem_decoder_init(&pc);
    net_buf der;
    net_buf_init(&der);
    bool in_cert = false;
    size_t off = 0, cap = 0, objects = 0, skipped = 0;
    while (rc == NET_OK && off < text.len) {
        off += br_pem_decoder_push(&pc, text.data + off, text.len - off);
        int ev = br_pem_decoder_event(&pc);
        if (ev == BR_PEM_BEGIN_OBJ) {
            const char *name = br_pem_decoder_name(&pc);
            in_cert = strcmp(name, "CERTIFICATE") == 0 || strcmp(name, "X509 CERTIFICATE") == 0 ||
                      strcmp(name, "TRUSTED CERTIFICATE") == 0;
            der.len = 0;
            der.max = 0;
            br_pem_decoder_setdest(&pc, buf_sink, &der);
        } else if (ev == BR_PEM_END_OBJ && in_cert) {
            bool usable;
            objects++;
            if (der.max)
                rc = NET_E_NOMEM;
            else
                rc = add_anchor(t, &cap, &der, &usable);
            skipped += rc == NET_OK && !usable;
            if (rc < 0)
                net_errf(err, errlen, rc, "CA file %s: out of memory", path);
            in_cert = false;
        } else if (ev == BR_PEM_ERROR) {
            size_t line = 1;
            for (size_t i = 0; i < off && i < text.len; i++)
                line += text.data[i] == '\n';
            rc = net_errf(err, errlen, NET_E_CA, "CA file %s: malformed PEM near line %zu", path, line);
        }
    }
    net_buf_free(&der);
    net_buf_free(&text);
    if (rc == NET_OK && t->n == 0)
        rc = net_errf(err, errlen, NET_E_CA, "CA file %s: no usable certificate (%zu found, %zu undecodable)", path,
                      objects, skipped);
    if (rc < 0)
        net_trust_free(t);
    return rc;
}

void net_trust_free(net_trust *t)
{
    free(t->anchors);
    t->anchors = NULL;
    t->n = 0;
    net_arena_free(&t->arena);
}

/* ---- sessions ---- */

struct net_tls {
    br_ssl_client_context cc;
    br_x509_minimal_context xc;
    int fd;
    int timeout_ms;         /* current wait limit (handshake, then I/O) */
    int io_err;             /* our socket failure, when that ended the engine */
    bool peer_closed;       /* TCP end of stream */
    char io_msg[160];
    char host[256];
    unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
};

static const char *alert_name(int a)
{
    switch (a) {
    case 40: return "handshake_failure";
    case 42: return "bad_certificate";
    case 43: return "unsupported_certificate";
    case 45: return "certificate_expired";
    case 46: return "certificate_unknown";
    case 47: return "illegal_parameter";
    case 48: return "unknown_ca";
    case 50: return "decode_error";
    case 70: return "protocol_version";
    case 71: return "insufficient_security";
    case 80: return "internal_error";
    case 112: return "unrecognized_name";
    default: return "alert";
    }
}

/* BearSSL's last error in words, with the host. */
static int tls_error(net_tls *t, char *err, size_t errlen)
{
    int e = br_ssl_engine_last_error(&t->cc.eng);
    const char *h = t->host;
    if (t->io_err)
        return net_errf(err, errlen, t->io_err, "TLS with %s: %s", h, t->io_msg);
    switch (e) {
    case BR_ERR_X509_EXPIRED:
        return net_errf(err, errlen, NET_E_TLS, "TLS with %s: certificate expired or not yet valid", h);
    case BR_ERR_X509_BAD_SERVER_NAME:
        return net_errf(err, errlen, NET_E_TLS, "TLS with %s: wrong host: the certificate is not for %s", h, h);
    case BR_ERR_X509_NOT_TRUSTED:
        return net_errf(err, errlen, NET_E_TLS,
                        "TLS with %s: unknown CA: the certificate chain ends at an untrusted or self-signed "
                        "certificate", h);
    case BR_ERR_X509_NOT_CA:
    case BR_ERR_X509_DN_MISMATCH:
        return net_errf(err, errlen, NET_E_TLS, "TLS with %s: broken certificate chain (error %d)", h, e);
    case BR_ERR_X509_BAD_SIGNATURE:
        return net_errf(err, errlen, NET_E_TLS, "TLS with %s: certificate signature does not verify", h);
    case BR_ERR_X509_WEAK_PUBLIC_KEY:
        return net_errf(err, errlen, NET_E_TLS, "TLS with %s: certificate key too weak", h);
    case BR_ERR_X509_FORBIDDEN_KEY_USAGE:
        return net_errf(err, errlen, NET_E_TLS, "TLS with %s: certificate key usage forbids TLS server use", h);
    case BR_ERR_UNSUPPORTED_VERSION:
    case BR_ERR_BAD_VERSION:
        return net_errf(err, errlen, NET_E_TLS, "TLS with %s: handshake failure: server does not speak TLS 1.2", h);
    case BR_ERR_BAD_CIPHER_SUITE:
        return net_errf(err, errlen, NET_E_TLS, "TLS with %s: handshake failure: no common cipher suite", h);
    default:
        break;
    }
    if (e >= BR_ERR_RECV_FATAL_ALERT && e < BR_ERR_SEND_FATAL_ALERT)
        return net_errf(err, errlen, NET_E_TLS, "TLS with %s: handshake failure: server sent alert %d (%s)", h,
                        e - BR_ERR_RECV_FATAL_ALERT, alert_name(e - BR_ERR_RECV_FATAL_ALERT));
    if (e >= BR_ERR_SEND_FATAL_ALERT)
        return net_errf(err, errlen, NET_E_TLS, "TLS with %s: handshake failure: we sent alert %d (%s)", h,
                        e - BR_ERR_SEND_FATAL_ALERT, alert_name(e - BR_ERR_SEND_FATAL_ALERT));
    if (e >= BR_ERR_X509_OK && e < 64)
        return net_errf(err, errlen, NET_E_TLS, "TLS with %s: certificate validation failed (BearSSL X.509 error %d)",
                        h, e);
    if (t->peer_closed)
        return net_errf(err, errlen, NET_E_IO, "TLS with %s: connection closed by the peer", h);
    return net_errf(err, errlen, NET_E_TLS, "TLS with %s: handshake failure (BearSSL error %d)", h, e);
}

/* Our socket failed (timeout, reset): that is the session's error. */
static int io_failed(net_tls *t, int rc, char *err, size_t errlen)
{
    t->io_err = rc;
    br_ssl_engine_close(&t->cc.eng);
    return tls_error(t, err, errlen);
}

/* Drive the engine until one of the wanted states (BR_SSL_SENDAPP or
 * BR_SSL_RECVAPP) is reached. Returns 0, 1 when the session is closed
 * cleanly, or an error. */
static int run_until(net_tls *t, unsigned want, char *err, size_t errlen)
{
    br_ssl_engine_context *eng = &t->cc.eng;
    for (;;) {
        unsigned st = br_ssl_engine_current_state(eng);
        if (st & BR_SSL_CLOSED)
            return br_ssl_engine_last_error(eng) == BR_ERR_OK && !t->io_err ? 1 : tls_error(t, err, errlen);
        if (st & BR_SSL_SENDREC) {
            size_t len;
            unsigned char *buf = br_ssl_engine_sendrec_buf(eng, &len);
            int rc = net_fd_send(t->fd, buf, len, t->timeout_ms, t->io_msg, sizeof t->io_msg);
            if (rc < 0)
                return io_failed(t, rc, err, errlen);
            br_ssl_engine_sendrec_ack(eng, len);
            continue;
        }
        if (st & want)
            return 0;
        if (st & BR_SSL_RECVAPP)  /* data to read while we wanted to write */
            return net_errf(err, errlen, NET_E_STATE, "TLS with %s: unexpected data from the server", t->host);
        if (st & BR_SSL_RECVREC) {
            size_t len, got;
            unsigned char *buf = br_ssl_engine_recvrec_buf(eng, &len);
            int rc = net_fd_recv(t->fd, buf, len, &got, t->timeout_ms, t->io_msg, sizeof t->io_msg);
            if (rc == NET_OK && got == 0) {
                t->peer_closed = true;
                return 1;
            }
            if (rc < 0)
                return io_failed(t, rc, err, errlen);
            br_ssl_engine_recvrec_ack(eng, got);
            continue;
        }
        /* Nothing to do but flush a partial record. */
        br_ssl_engine_flush(eng, 0);
    }
}

int net_tls_start(int fd, const char *host, const net_trust *trust, int handshake_timeout_ms, int io_timeout_ms,
                  net_tls **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!trust || !trust->n)
        return net_errf(err, errlen, NET_E_CA, "TLS with %s: no trust anchors loaded", host);
    net_tls *t = calloc(1, sizeof *t);
    if (!t)
        return net_errf(err, errlen, NET_E_NOMEM, "out of memory");
    t->fd = fd;
    t->timeout_ms = handshake_timeout_ms;
    snprintf(t->host, sizeof t->host, "%s", host);
    br_ssl_client_init_full(&t->cc, &t->xc, trust->anchors, trust->n);
    br_ssl_engine_set_versions(&t->cc.eng, BR_TLS12, BR_TLS12);
    br_ssl_engine_set_buffer(&t->cc.eng, t->iobuf, sizeof t->iobuf, 1);
    /* The host name goes out as SNI and is what the certificate must name. */
    if (!br_ssl_client_reset(&t->cc, t->host, 0)) {
        int rc = tls_error(t, err, errlen);
        free(t);
        return rc;
    }
    int rc = run_until(t, BR_SSL_SENDAPP, err, errlen);
    if (rc == 1)
        rc = t->peer_closed ? net_errf(err, errlen, NET_E_TLS, "TLS with %s: handshake failure: connection closed "
                                       "by the server", host)
                            : tls_error(t, err, errlen);
    if (rc < 0) {
        free(t);
        return rc;
    }
    t->timeout_ms = io_timeout_ms;
    *out = t;
    return NET_OK;
}

int net_tls_write(net_tls *t, const void *p, size_t n, char *err, size_t errlen)
{
    const unsigned char *s = p;
    br_ssl_engine_context *eng = &t->cc.eng;
    while (n) {
        int rc = run_until(t, BR_SSL_SENDAPP, err, errlen);
        if (rc == 1)
            return net_errf(err, errlen, NET_E_IO, "TLS with %s: connection closed while sending", t->host);
        if (rc < 0)
            return rc;
        size_t len;
        unsigned char *buf = br_ssl_engine_sendapp_buf(eng, &len);
        size_t k = len < n ? len : n;
        memcpy(buf, s, k);
        br_ssl_engine_sendapp_ack(eng, k);
        s += k;
        n -= k;
    }
    br_ssl_engine_flush(eng, 0);
    int rc = run_until(t, BR_SSL_SENDAPP | BR_SSL_RECVAPP, err, errlen);
    return rc == 1 ? net_errf(err, errlen, NET_E_IO, "TLS with %s: connection closed while sending", t->host) : rc;
}

int net_tls_read(net_tls *t, void *p, size_t n, size_t *got, char *err, size_t errlen)
{
    *got = 0;
    int rc = run_until(t, BR_SSL_RECVAPP, err, errlen);
    if (rc != 0)
        return rc == 1 ? NET_OK : rc;  /* closed: *got == 0 */
    size_t len;
    unsigned char *buf = br_ssl_engine_recvapp_buf(&t->cc.eng, &len);
    size_t k = len < n ? len : n;
    memcpy(p, buf, k);
    br_ssl_engine_recvapp_ack(&t->cc.eng, k);
    *got = k;
    return NET_OK;
}

void net_tls_end(net_tls *t)
{
    /* No close_notify round trip: the socket is closed right after and a
     * slow peer must not hold us up. */
    free(t);
}
