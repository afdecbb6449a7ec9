/*
 * What crypto/tlssession.c needs from a credentials object.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef CRYPTO_TLSCREDS_INTERNAL_H
#define CRYPTO_TLSCREDS_INTERNAL_H

#include <gnutls/gnutls.h>
#include "qom/object.h"
#include "crypto/tlscreds.h"

/* Immutable once created. */
struct QCryptoTLSCreds {
    UserObject parent;
    QCryptoTLSCredsKind kind;
    QCryptoTLSCredsEndpoint endpoint;
    bool verify_peer;
    char *dir;
    char *priority;                 /* NULL: the kind's default */
    char *username;                 /* PSK client: the identity sent */
    gnutls_dh_params_t dh_params;   /* NULL unless dh-params.pem */
    union {
        gnutls_anon_server_credentials_t anon_server;
        gnutls_anon_client_credentials_t anon_client;
        gnutls_psk_server_credentials_t psk_server;
        gnutls_psk_client_credentials_t psk_client;
        gnutls_certificate_credentials_t x509;
    } u;
};

#endif
