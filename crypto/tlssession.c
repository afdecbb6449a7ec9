/*
 * A GnuTLS session from a tls-creds-* object (include/crypto/tlssession.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <gnutls/x509.h>
#include "authz/authz.h"
#include "crypto/tlssession.h"
#include "tlscreds-internal.h"

struct QCryptoTLSSession {
    QCryptoTLSCreds *creds;         /* a reference */
    gnutls_session_t handle;
    char *hostname;                 /* client: what the cert must match */
    char *authzid;                  /* server: who may connect */
    char *peername;                 /* set by the checks */
    QCryptoTLSSessionPush push;
    QCryptoTLSSessionPull pull;
    void *opaque;
};

/* QEMU's defaults: PSK and anonymous key exchanges are opt-in in GnuTLS. */
static const char *const priority_extra[] = {
    [QCRYPTO_TLS_CREDS_ANON] = ":+ANON-ECDH:+ANON-DH",
    [QCRYPTO_TLS_CREDS_PSK] = ":+ECDHE-PSK:+DHE-PSK:+PSK",
    [QCRYPTO_TLS_CREDS_X509] = "",
};

/*
 * NORMAL's ciphers, AES-GCM first.  A TLS 1.3 external PSK is bound to
 * SHA-256, which rules out NORMAL's first choice (AES-256-GCM-SHA384):
 * GnuTLS then took CHACHA20-POLY1305, several times slower than AES-GCM
 * where the CPU has AES instructions.
 */
#define PRIORITY_PSK_DEFAULT "NORMAL:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:" \
    "+CHACHA20-POLY1305:+AES-128-CCM:+AES-256-CCM:+AES-256-CBC:+AES-128-CBC"

static ssize_t session_push(gnutls_transport_ptr_t ptr, const giovec_t *iov,
                            int niov)
{
    QCryptoTLSSession *sess = ptr;

    /* giovec_t is struct iovec (GnuTLS defines it so on POSIX). */
    return sess->push((const struct iovec *)iov, niov, sess->opaque);
}

static ssize_t session_pull(gnutls_transport_ptr_t ptr, void *buf,
                            size_t len)
{
    QCryptoTLSSession *sess = ptr;

    return sess->pull(buf, len, sess->opaque);
}

static bool session_set_creds(QCryptoTLSSession *sess, bool server,
                              Error **errp)
{
    QCryptoTLSCreds *c = sess->creds;
    int ret;

    switch (c->kind) {
    case QCRYPTO_TLS_CREDS_ANON:
        ret = gnutls_credentials_set(sess->handle, GNUTLS_CRD_ANON,
                                     server ? (void *)c->u.anon_server
                                            : (void *)c->u.anon_client);
        break;
    case QCRYPTO_TLS_CREDS_PSK:
        ret = gnutls_credentials_set(sess->handle, GNUTLS_CRD_PSK,
                                     server ? (void *)c->u.psk_server
                                            : (void *)c->u.psk_client);
        break;
    default:
        ret = gnutls_credentials_set(sess->handle, GNUTLS_CRD_CERTIFICATE,
                                     c->u.x509);
        if (ret >= 0 && server && c->verify_peer) {
            gnutls_certificate_server_set_request(sess->handle,
                                                  GNUTLS_CERT_REQUIRE);
        }
        break;
    }
    if (ret < 0) {
        error_setg(errp, "TLS credentials '%s' cannot be used: %s",
                   c->parent.id, gnutls_strerror(ret));
        return false;
    }
    return true;
}

QCryptoTLSSession *qcrypto_tls_session_new(QCryptoTLSCreds *creds,
                                           const char *hostname,
                                           const char *authzid,
                                           QCryptoTLSCredsEndpoint endpoint,
                                           Error **errp)
{
    bool server = endpoint == QCRYPTO_TLS_CREDS_ENDPOINT_SERVER;
    QCryptoTLSSession *sess;
    g_autofree char *prio = NULL;
    const char *err_pos = NULL;
    int ret;

    if (!qcrypto_tls_creds_check_endpoint(creds, endpoint, errp)) {
        return NULL;
    }
    sess = g_new0(QCryptoTLSSession, 1);
    object_ref(&creds->parent);
    sess->creds = creds;
    sess->hostname = g_strdup(hostname);
    sess->authzid = g_strdup(authzid);
    ret = gnutls_init(&sess->handle, (server ? GNUTLS_SERVER : GNUTLS_CLIENT)
                      | GNUTLS_NO_TICKETS);
    if (ret < 0) {
        error_setg(errp, "Cannot start a TLS session: %s",
                   gnutls_strerror(ret));
        qcrypto_tls_session_free(sess);
        return NULL;
    }
    prio = g_strdup_printf("%s%s", creds->priority ? creds->priority
                           : creds->kind == QCRYPTO_TLS_CREDS_PSK ?
                           PRIORITY_PSK_DEFAULT : "NORMAL",
                           priority_extra[creds->kind]);
    ret = gnutls_priority_set_direct(sess->handle, prio, &err_pos);
    if (ret < 0) {
        error_setg(errp, "%s '%s': unusable TLS priority string '%s' (at "
                   "'%s'): %s", creds->parent.type->name, creds->parent.id,
                   prio, err_pos ? err_pos : "", gnutls_strerror(ret));
        qcrypto_tls_session_free(sess);
        return NULL;
    }
    if (!session_set_creds(sess, server, errp)) {
        qcrypto_tls_session_free(sess);
        return NULL;
    }
    /*
     * A client checks the server's certificate (and host name) inside
     * the handshake: refused, it never sends its Finished, so the server
     * fails too instead of taking the connection for a migration.
     */
    if (!server && creds->kind == QCRYPTO_TLS_CREDS_X509 &&
        creds->verify_peer) {
        gnutls_session_set_verify_cert(sess->handle, sess->hostname, 0);
    }
    gnutls_transport_set_ptr(sess->handle, sess);
    gnutls_transport_set_vec_push_function(sess->handle, session_push);
    gnutls_transport_set_pull_function(sess->handle, session_pull);
    return sess;
}

void qcrypto_tls_session_free(QCryptoTLSSession *sess)
{
    if (!sess) {
        return;
    }
    if (sess->handle) {
        gnutls_deinit(sess->handle);
    }
    qcrypto_tls_creds_unref(sess->creds);
    g_free(sess->hostname);
    g_free(sess->authzid);
    g_free(sess->peername);
    g_free(sess);
}

void qcrypto_tls_session_set_callbacks(QCryptoTLSSession *sess,
                                       QCryptoTLSSessionPush push,
                                       QCryptoTLSSessionPull pull,
                                       void *opaque)
{
    sess->push = push;
    sess->pull = pull;
    sess->opaque = opaque;
}

/* An error from GnuTLS, with the peer's alert when it sent one. */
static void session_error(QCryptoTLSSession *sess, int ret, const char *what,
                          Error **errp)
{
    if (ret == GNUTLS_E_FATAL_ALERT_RECEIVED ||
        ret == GNUTLS_E_WARNING_ALERT_RECEIVED) {
        error_setg(errp, "%s: the peer sent the TLS alert '%s'", what,
                   gnutls_alert_get_name(gnutls_alert_get(sess->handle)));
    } else {
        error_setg(errp, "%s: %s", what, gnutls_strerror(ret));
    }
}

static gnutls_x509_crt_t session_peer_cert(QCryptoTLSSession *sess,
                                           Error **errp)
{
    const gnutls_datum_t *certs;
    unsigned int n = 0;
    gnutls_x509_crt_t cert;

    certs = gnutls_certificate_get_peers(sess->handle, &n);
    if (!certs || n == 0) {
        error_setg(errp, "The TLS peer sent no certificate");
        return NULL;
    }
    gnutls_x509_crt_init(&cert);
    if (gnutls_x509_crt_import(cert, &certs[0], GNUTLS_X509_FMT_DER) < 0) {
        gnutls_x509_crt_deinit(cert);
        error_setg(errp, "The TLS peer's certificate cannot be parsed");
        return NULL;
    }
    return cert;
}

static bool session_check_x509(QCryptoTLSSession *sess, bool server,
                               Error **errp)
{
    gnutls_x509_crt_t cert;
    gnutls_datum_t dn = { 0 };
    unsigned int status = 0;
    int ret;

    if (sess->creds->verify_peer) {
        ret = gnutls_certificate_verify_peers2(sess->handle, &status);
        if (ret < 0 || status) {
            gnutls_datum_t why = { 0 };

            if (ret >= 0) {
                gnutls_certificate_verification_status_print(
                    status, GNUTLS_CRT_X509, &why, 0);
            }
            error_setg(errp, "The TLS peer's certificate is not trusted by "
                       "'%s': %s", sess->creds->parent.id,
                       ret < 0 ? gnutls_strerror(ret) : (char *)why.data);
            gnutls_free(why.data);
            return false;
        }
    }
    if (server && !sess->creds->verify_peer) {
        return true;    /* no client certificate was asked for */
    }
    cert = session_peer_cert(sess, errp);
    if (!cert) {
        return false;
    }
    if (!server && sess->hostname &&
        !gnutls_x509_crt_check_hostname(cert, sess->hostname)) {
        error_setg(errp, "The TLS certificate of the peer does not match the "
                   "host name '%s'", sess->hostname);
        gnutls_x509_crt_deinit(cert);
        return false;
    }
    if (gnutls_x509_crt_get_dn2(cert, &dn) >= 0) {
        sess->peername = g_strndup((char *)dn.data, dn.size);
        gnutls_free(dn.data);
    }
    gnutls_x509_crt_deinit(cert);
    return true;
}

/* The checks QEMU makes once the handshake is done. */
static bool session_check_peer(QCryptoTLSSession *sess, Error **errp)
{
    bool server = sess->creds->endpoint == QCRYPTO_TLS_CREDS_ENDPOINT_SERVER;

    switch (sess->creds->kind) {
    case QCRYPTO_TLS_CREDS_X509:
        if (!session_check_x509(sess, server, errp)) {
            qcrypto_tls_session_reject(sess, false);
            return false;
        }
        break;
    case QCRYPTO_TLS_CREDS_PSK:
        if (server) {
            sess->peername = g_strdup(
                gnutls_psk_server_get_username(sess->handle));
        }
        break;
    case QCRYPTO_TLS_CREDS_ANON:
        break;
    }
    if (server && sess->authzid) {
        if (!sess->peername) {
            error_setg(errp, "tls-authz '%s' needs the peer's identity, but "
                       "'%s' (%s) provides none", sess->authzid,
                       sess->creds->parent.id, sess->creds->parent.type->name);
            qcrypto_tls_session_reject(sess, true);
            return false;
        }
        if (!authz_is_allowed(sess->authzid, sess->peername, errp)) {
            qcrypto_tls_session_reject(sess, true);
            return false;
        }
    }
    return true;
}

/*
 * What a client's failed handshake says, with what to check for its kind
 * of credentials (the peer's alert alone rarely tells).
 */
static char *session_failure_what(QCryptoTLSSession *sess)
{
    if (sess->creds->endpoint != QCRYPTO_TLS_CREDS_ENDPOINT_CLIENT) {
        return g_strdup("TLS handshake failed");
    }
    switch (sess->creds->kind) {
    case QCRYPTO_TLS_CREDS_PSK:
        return g_strdup_printf("TLS handshake failed (is the pre-shared key "
                               "of user '%s' the same on both sides?)",
                               sess->creds->username);
    case QCRYPTO_TLS_CREDS_ANON:
        return g_strdup("TLS handshake failed (anonymous credentials: does "
                        "the peer take anonymous clients, or want a "
                        "certificate?)");
    default:
        return g_strdup("TLS handshake failed");
    }
}

/* The client's in-handshake certificate check failed: say why. */
static void session_verify_error(QCryptoTLSSession *sess, Error **errp)
{
    unsigned int status = gnutls_session_get_verify_cert_status(sess->handle);
    gnutls_datum_t why = { 0 };

    if (status & GNUTLS_CERT_UNEXPECTED_OWNER) {
        error_setg(errp, "The TLS certificate of the peer does not match the "
                   "host name '%s'", sess->hostname);
        return;
    }
    gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509,
                                                 &why, 0);
    error_setg(errp, "The TLS peer's certificate is not trusted by '%s': %s",
               sess->creds->parent.id, why.data ? (char *)why.data : "?");
    gnutls_free(why.data);
}

int qcrypto_tls_session_handshake(QCryptoTLSSession *sess, Error **errp)
{
    int ret = gnutls_handshake(sess->handle);

    if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED) {
        return 0;
    }
    if (ret == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
        session_verify_error(sess, errp);
        return -1;
    }
    if (ret < 0) {
        /* GnuTLS leaves telling the peer to us: it would wait otherwise. */
        if (ret != GNUTLS_E_FATAL_ALERT_RECEIVED) {
            gnutls_alert_send_appropriate(sess->handle, ret);
        }
        g_autofree char *what = session_failure_what(sess);

        session_error(sess, ret, what, errp);
        return -1;
    }
    return session_check_peer(sess, errp) ? 1 : -1;
}

int qcrypto_tls_session_get_direction(QCryptoTLSSession *sess)
{
    return gnutls_record_get_direction(sess->handle) ? G_IO_OUT : G_IO_IN;
}

char *qcrypto_tls_session_get_desc(QCryptoTLSSession *sess)
{
    char *desc = gnutls_session_get_desc(sess->handle);
    char *copy = g_strdup(desc ? desc : "");

    gnutls_free(desc);
    return copy;
}

const char *qcrypto_tls_session_get_peer_name(QCryptoTLSSession *sess)
{
    return sess->peername;
}

ssize_t qcrypto_tls_session_read(QCryptoTLSSession *sess, void *buf,
                                 size_t len, Error **errp)
{
    ssize_t ret;

    do {
        ret = gnutls_record_recv(sess->handle, buf, len);
    } while (ret == GNUTLS_E_INTERRUPTED);
    if (ret == GNUTLS_E_AGAIN) {
        return -EAGAIN;
    }
    /*
     * A peer that closes without close_notify ends the stream: the
     * migration stream has its own end markers, so nothing is cut short
     * unnoticed.
     */
    if (ret == GNUTLS_E_PREMATURE_TERMINATION) {
        return 0;
    }
    if (ret < 0) {
        session_error(sess, ret, "TLS read failed", errp);
        return -1;
    }
    return ret;
}

ssize_t qcrypto_tls_session_write(QCryptoTLSSession *sess, const void *buf,
                                  size_t len, Error **errp)
{
    ssize_t ret;

    do {
        ret = gnutls_record_send(sess->handle, buf, len);
    } while (ret == GNUTLS_E_INTERRUPTED);
    if (ret == GNUTLS_E_AGAIN) {
        return -EAGAIN;
    }
    if (ret < 0) {
        session_error(sess, ret, "TLS write failed", errp);
        return -1;
    }
    return ret;
}

ssize_t qcrypto_tls_session_writev_all(QCryptoTLSSession *sess,
                                       const struct iovec *iov, size_t niov,
                                       Error **errp)
{
    ssize_t total = 0;
    int ret;

    gnutls_record_cork(sess->handle);
    for (size_t i = 0; i < niov; i++) {
        const char *p = iov[i].iov_base;
        size_t left = iov[i].iov_len;

        while (left) {
            ssize_t n = qcrypto_tls_session_write(sess, p, left, errp);

            if (n < 0) {
                if (n == -EAGAIN) {
                    error_setg(errp, "TLS write would block on a blocking "
                               "transport");
                }
                /* Drop what is corked: the stream is broken anyway. */
                gnutls_record_uncork(sess->handle, 0);
                return -1;
            }
            p += n;
            left -= n;
            total += n;
        }
    }
    do {
        ret = gnutls_record_uncork(sess->handle, GNUTLS_RECORD_WAIT);
    } while (ret == GNUTLS_E_INTERRUPTED || ret == GNUTLS_E_AGAIN);
    if (ret < 0) {
        session_error(sess, ret, "TLS write failed", errp);
        return -1;
    }
    return total;
}

void qcrypto_tls_session_reject(QCryptoTLSSession *sess, bool access)
{
    gnutls_alert_send(sess->handle, GNUTLS_AL_FATAL,
                      access ? GNUTLS_A_ACCESS_DENIED
                             : GNUTLS_A_BAD_CERTIFICATE);
}
