/*
 * One TLS session over a transport the caller provides (push/pull
 * callbacks), from a credentials object: the handshake, the peer checks
 * QEMU makes, and record I/O.
 *
 * Checks after the handshake: a client with x509 credentials verifies
 * the server's certificate chain (verify-peer) and that it matches
 * @hostname; a server with x509 and verify-peer requires and verifies a
 * client certificate.  A server with @authzid asks that authorization
 * object about the peer's identity (certificate DN or PSK username).
 *
 * Threads: the handshake in one thread; afterwards one thread may read
 * while another writes (GnuTLS allows it), as QIOChannel's contract asks.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef CRYPTO_TLSSESSION_H
#define CRYPTO_TLSSESSION_H

#include <sys/uio.h>
#include "crypto/tlscreds.h"

typedef struct QCryptoTLSSession QCryptoTLSSession;

/*
 * Transport callbacks: bytes moved, 0 at end of stream, or -1 with errno
 * (EAGAIN when a non-blocking transport would block).
 */
typedef ssize_t (*QCryptoTLSSessionPush)(const struct iovec *iov, int niov,
                                         void *opaque);
typedef ssize_t (*QCryptoTLSSessionPull)(void *buf, size_t len,
                                         void *opaque);

/* @creds must be for @endpoint; the session holds a reference. */
QCryptoTLSSession *qcrypto_tls_session_new(QCryptoTLSCreds *creds,
                                           const char *hostname,
                                           const char *authzid,
                                           QCryptoTLSCredsEndpoint endpoint,
                                           Error **errp);
void qcrypto_tls_session_free(QCryptoTLSSession *sess);
void qcrypto_tls_session_set_callbacks(QCryptoTLSSession *sess,
                                       QCryptoTLSSessionPush push,
                                       QCryptoTLSSessionPull pull,
                                       void *opaque);

/*
 * Advance the handshake: 1 when it is complete and the peer checks
 * passed, 0 when the transport would block (wait for
 * qcrypto_tls_session_get_direction()), -1 with @errp on failure (which
 * the peer learns through an alert where TLS allows).
 */
int qcrypto_tls_session_handshake(QCryptoTLSSession *sess, Error **errp);
/* G_IO_IN or G_IO_OUT: what a handshake returning 0 waits for. */
int qcrypto_tls_session_get_direction(QCryptoTLSSession *sess);
/* "(TLS1.3)-(ECDHE-SECP256R1)-(AES-256-GCM)" and so on (caller frees). */
char *qcrypto_tls_session_get_desc(QCryptoTLSSession *sess);
/* The peer's identity (DN or PSK username) once checked, or NULL. */
const char *qcrypto_tls_session_get_peer_name(QCryptoTLSSession *sess);

/*
 * Record I/O: bytes moved, 0 at end of stream (read), -EAGAIN when the
 * transport would block, -1 with @errp.
 */
ssize_t qcrypto_tls_session_read(QCryptoTLSSession *sess, void *buf,
                                 size_t len, Error **errp);
ssize_t qcrypto_tls_session_write(QCryptoTLSSession *sess, const void *buf,
                                  size_t len, Error **errp);
/*
 * Blocking transports only: send all of @iov corked into full records
 * (small pieces share a record); the total, or -1 with @errp.
 */
ssize_t qcrypto_tls_session_writev_all(QCryptoTLSSession *sess,
                                       const struct iovec *iov, size_t niov,
                                       Error **errp);
/* Tell the peer why we drop it (a fatal alert), best effort. */
void qcrypto_tls_session_reject(QCryptoTLSSession *sess, bool access);

#endif
