/*
 * TLS credentials as user-creatable objects, with QEMU's type and
 * property names (GnuTLS underneath):
 *
 *   tls-creds-anon   endpoint=client|server[,dir=D (dh-params.pem)]
 *   tls-creds-psk    endpoint=...,dir=D (keys.psk: "username:hexkey"
 *                    lines)[,username=U (client; default "qemu")]
 *   tls-creds-x509   endpoint=...,dir=D (ca-cert.pem, server-cert.pem,
 *                    server-key.pem, client-cert.pem, client-key.pem,
 *                    dh-params.pem)[,verify-peer=on|off][,sanity-check=
 *                    on|off][,priority=GNUTLS-PRIORITY-STRING]
 *
 * Every kind takes "priority" and "verify-peer" (which only x509 uses).
 * Files are loaded when the object is created, so a missing or broken
 * file fails -object/object-add, naming the object, the file and the
 * problem.  A loaded object is immutable: sessions in any thread use it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef CRYPTO_TLSCREDS_H
#define CRYPTO_TLSCREDS_H

#include "qapi/error.h"

typedef enum QCryptoTLSCredsEndpoint {
    QCRYPTO_TLS_CREDS_ENDPOINT_CLIENT,
    QCRYPTO_TLS_CREDS_ENDPOINT_SERVER,
} QCryptoTLSCredsEndpoint;

typedef enum QCryptoTLSCredsKind {
    QCRYPTO_TLS_CREDS_ANON,
    QCRYPTO_TLS_CREDS_PSK,
    QCRYPTO_TLS_CREDS_X509,
} QCryptoTLSCredsKind;

typedef struct QCryptoTLSCreds QCryptoTLSCreds;

/* Register the tls-creds-* object types (start-up). */
void qcrypto_tls_creds_register_types(void);

/*
 * A reference to the credentials object @id; fails naming @id if there
 * is none or it is another kind of object.
 */
QCryptoTLSCreds *qcrypto_tls_creds_find(const char *id, Error **errp);
void qcrypto_tls_creds_unref(QCryptoTLSCreds *creds);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QCryptoTLSCreds, qcrypto_tls_creds_unref)

const char *qcrypto_tls_creds_id(QCryptoTLSCreds *creds);
QCryptoTLSCredsKind qcrypto_tls_creds_kind(QCryptoTLSCreds *creds);
/* Fail, naming the object, if it is not for @endpoint. */
bool qcrypto_tls_creds_check_endpoint(QCryptoTLSCreds *creds,
                                      QCryptoTLSCredsEndpoint endpoint,
                                      Error **errp);

#endif
