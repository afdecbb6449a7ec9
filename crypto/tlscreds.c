/*
 * tls-creds-anon, tls-creds-psk and tls-creds-x509 (include/crypto/tlscreds.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <gnutls/x509.h>
#include "tlscreds-internal.h"

static const char *const creds_type_names[] = {
    [QCRYPTO_TLS_CREDS_ANON] = "tls-creds-anon",
    [QCRYPTO_TLS_CREDS_PSK] = "tls-creds-psk",
    [QCRYPTO_TLS_CREDS_X509] = "tls-creds-x509",
};

#define CREDS_NAME(c) creds_type_names[(c)->kind], (c)->parent.id

static void tls_global_init(void)
{
    static gsize done;

    if (g_once_init_enter(&done)) {
        gnutls_global_init();
        g_once_init_leave(&done, 1);
    }
}

static char *creds_file(QCryptoTLSCreds *creds, const char *name)
{
    return g_build_filename(creds->dir, name, NULL);
}

/*
 * Read one PEM file of the object's directory.  A missing optional file
 * gives *data NULL and true.
 */
static bool creds_load_file(QCryptoTLSCreds *creds, const char *id,
                            const char *kind, const char *name,
                            bool required, gnutls_datum_t *data,
                            Error **errp)
{
    g_autofree char *path = creds_file(creds, name);
    GError *gerr = NULL;
    gsize len;
    char *buf;

    data->data = NULL;
    data->size = 0;
    if (!required && access(path, F_OK) != 0) {
        return true;
    }
    if (!g_file_get_contents(path, &buf, &len, &gerr)) {
        error_setg(errp, "%s '%s': cannot read %s: %s", kind, id, path,
                   gerr->message);
        g_error_free(gerr);
        return false;
    }
    data->data = (unsigned char *)buf;
    data->size = len;
    return true;
}

static bool creds_load_dh(QCryptoTLSCreds *creds, const char *id,
                          const char *kind, Error **errp)
{
    g_autofree char *path = NULL;
    gnutls_datum_t data;
    int ret;

    if (!creds->dir) {
        return true;
    }
    if (!creds_load_file(creds, id, kind, "dh-params.pem", false, &data,
                         errp)) {
        return false;
    }
    if (!data.data) {
        return true;    /* GnuTLS picks known parameters (RFC 7919) */
    }
    gnutls_dh_params_init(&creds->dh_params);
    ret = gnutls_dh_params_import_pkcs3(creds->dh_params, &data,
                                        GNUTLS_X509_FMT_PEM);
    g_free(data.data);
    if (ret < 0) {
        path = creds_file(creds, "dh-params.pem");
        error_setg(errp, "%s '%s': %s is not valid PKCS#3 DH parameters: %s",
                   kind, id, path, gnutls_strerror(ret));
        return false;
    }
    return true;
}

/* ---- anon ---- */

static bool creds_anon_load(QCryptoTLSCreds *creds, const char *id,
                            Error **errp)
{
    const char *kind = creds_type_names[QCRYPTO_TLS_CREDS_ANON];

    if (creds->endpoint == QCRYPTO_TLS_CREDS_ENDPOINT_CLIENT) {
        gnutls_anon_allocate_client_credentials(&creds->u.anon_client);
        return true;
    }
    gnutls_anon_allocate_server_credentials(&creds->u.anon_server);
    if (!creds_load_dh(creds, id, kind, errp)) {
        return false;
    }
    if (creds->dh_params) {
        gnutls_anon_set_server_dh_params(creds->u.anon_server,
                                         creds->dh_params);
    } else {
        gnutls_anon_set_server_known_dh_params(creds->u.anon_server,
                                               GNUTLS_SEC_PARAM_MEDIUM);
    }
    return true;
}

/* ---- psk ---- */

/* The hex key of @username in keys.psk ("username:hexkey" lines). */
static char *creds_psk_lookup(const char *text, const char *username)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    size_t ulen = strlen(username);

    for (int i = 0; lines[i]; i++) {
        char *line = g_strstrip(lines[i]);

        if (!strncmp(line, username, ulen) && line[ulen] == ':') {
            return g_strdup(line + ulen + 1);
        }
    }
    return NULL;
}

static bool creds_psk_load(QCryptoTLSCreds *creds, const char *id,
                           const char *username, Error **errp)
{
    const char *kind = creds_type_names[QCRYPTO_TLS_CREDS_PSK];
    g_autofree char *path = NULL;
    g_autofree char *hex = NULL;
    gnutls_datum_t data, key;
    int ret;

    if (!creds->dir) {
        error_setg(errp, "%s '%s': parameter 'dir' is missing (the "
                   "directory holding keys.psk)", kind, id);
        return false;
    }
    path = creds_file(creds, "keys.psk");
    if (!creds_load_file(creds, id, kind, "keys.psk", true, &data, errp)) {
        return false;
    }
    if (creds->endpoint == QCRYPTO_TLS_CREDS_ENDPOINT_SERVER) {
        g_free(data.data);
        gnutls_psk_allocate_server_credentials(&creds->u.psk_server);
        ret = gnutls_psk_set_server_credentials_file(creds->u.psk_server,
                                                     path);
        if (ret < 0) {
            error_setg(errp, "%s '%s': cannot use %s: %s", kind, id, path,
                       gnutls_strerror(ret));
            return false;
        }
        if (!creds_load_dh(creds, id, kind, errp)) {
            return false;
        }
        if (creds->dh_params) {
            gnutls_psk_set_server_dh_params(creds->u.psk_server,
                                            creds->dh_params);
        } else {
            gnutls_psk_set_server_known_dh_params(creds->u.psk_server,
                                                  GNUTLS_SEC_PARAM_MEDIUM);
        }
        return true;
    }
    hex = creds_psk_lookup((const char *)data.data, username);
    g_free(data.data);
    if (!hex || !*hex) {
        error_setg(errp, "%s '%s': %s has no key for username '%s'", kind,
                   id, path, username);
        return false;
    }
    gnutls_psk_allocate_client_credentials(&creds->u.psk_client);
    key.data = (unsigned char *)hex;
    key.size = strlen(hex);
    ret = gnutls_psk_set_client_credentials(creds->u.psk_client, username,
                                            &key, GNUTLS_PSK_KEY_HEX);
    if (ret < 0) {
        error_setg(errp, "%s '%s': the key of '%s' in %s is not valid hex: "
                   "%s", kind, id, username, path, gnutls_strerror(ret));
        return false;
    }
    return true;
}

/* ---- x509 ---- */

/* Load @name as a list of certificates; *n 0 when an optional one is absent. */
static bool creds_x509_load_certs(QCryptoTLSCreds *creds, const char *id,
                                  const char *name, bool required,
                                  gnutls_x509_crt_t **certs, unsigned int *n,
                                  Error **errp)
{
    const char *kind = creds_type_names[QCRYPTO_TLS_CREDS_X509];
    g_autofree char *path = creds_file(creds, name);
    gnutls_datum_t data;
    int ret;

    *certs = NULL;
    *n = 0;
    if (!creds_load_file(creds, id, kind, name, required, &data, errp)) {
        return false;
    }
    if (!data.data) {
        return true;
    }
    ret = gnutls_x509_crt_list_import2(certs, n, &data, GNUTLS_X509_FMT_PEM,
                                       0);
    g_free(data.data);
    if (ret < 0 || *n == 0) {
        error_setg(errp, "%s '%s': %s holds no PEM certificate: %s", kind,
                   id, path, ret < 0 ? gnutls_strerror(ret) : "empty");
        return false;
    }
    return true;
}

static void creds_x509_free_certs(gnutls_x509_crt_t *certs, unsigned int n)
{
    for (unsigned int i = 0; i < n; i++) {
        gnutls_x509_crt_deinit(certs[i]);
    }
    gnutls_free(certs);
}

static bool creds_x509_check_times(gnutls_x509_crt_t cert, const char *id,
                                   const char *path, Error **errp)
{
    time_t now = time(NULL);

    if (gnutls_x509_crt_get_activation_time(cert) > now) {
        error_setg(errp, "tls-creds-x509 '%s': the certificate in %s is not "
                   "valid yet (activation time in the future)", id, path);
        return false;
    }
    if (gnutls_x509_crt_get_expiration_time(cert) < now) {
        error_setg(errp, "tls-creds-x509 '%s': the certificate in %s has "
                   "expired", id, path);
        return false;
    }
    return true;
}

/*
 * sanity-check=on: catch at load time what would only fail a handshake
 * later: expired or future certificates, a CA that is not a CA, our
 * certificate not signed by the CA.
 */
static bool creds_x509_sanity(QCryptoTLSCreds *creds, const char *id,
                              const char *cert_name, Error **errp)
{
    gnutls_x509_crt_t *cas = NULL, *certs = NULL;
    unsigned int ncas = 0, ncerts = 0, verify = 0;
    g_autofree char *ca_path = creds_file(creds, "ca-cert.pem");
    g_autofree char *cert_path = creds_file(creds, cert_name);
    bool ok = false;
    unsigned int crit;

    if (!creds_x509_load_certs(creds, id, "ca-cert.pem", false, &cas, &ncas,
                               errp) ||
        !creds_x509_load_certs(creds, id, cert_name, false, &certs, &ncerts,
                               errp)) {
        goto out;
    }
    for (unsigned int i = 0; i < ncas; i++) {
        if (!creds_x509_check_times(cas[i], id, ca_path, errp)) {
            goto out;
        }
        if (gnutls_x509_crt_get_basic_constraints(cas[i], &crit, NULL,
                                                  NULL) != 1) {
            error_setg(errp, "tls-creds-x509 '%s': the certificate in %s is "
                       "not a CA (basic constraints CA:FALSE or absent)",
                       id, ca_path);
            goto out;
        }
    }
    if (ncerts) {
        if (!creds_x509_check_times(certs[0], id, cert_path, errp)) {
            goto out;
        }
        if (ncas && (gnutls_x509_crt_list_verify(certs, ncerts, cas, ncas,
                                                 NULL, 0, 0, &verify) < 0 ||
                     verify)) {
            error_setg(errp, "tls-creds-x509 '%s': the certificate in %s is "
                       "not signed by the CA in %s", id, cert_path, ca_path);
            goto out;
        }
    }
    ok = true;
out:
    creds_x509_free_certs(cas, ncas);
    creds_x509_free_certs(certs, ncerts);
    return ok;
}

static bool creds_x509_load(QCryptoTLSCreds *creds, const char *id,
                            bool sanity, Error **errp)
{
    const char *kind = creds_type_names[QCRYPTO_TLS_CREDS_X509];
    bool server = creds->endpoint == QCRYPTO_TLS_CREDS_ENDPOINT_SERVER;
    const char *cert_name = server ? "server-cert.pem" : "client-cert.pem";
    const char *key_name = server ? "server-key.pem" : "client-key.pem";
    g_autofree char *ca = NULL, *cert = NULL, *key = NULL;
    bool need_ca = !server || creds->verify_peer;
    int ret;

    if (!creds->dir) {
        error_setg(errp, "%s '%s': parameter 'dir' is missing (the "
                   "directory holding ca-cert.pem and the certificates)",
                   kind, id);
        return false;
    }
    ca = creds_file(creds, "ca-cert.pem");
    cert = creds_file(creds, cert_name);
    key = creds_file(creds, key_name);
    if (need_ca && access(ca, R_OK) != 0) {
        error_setg(errp, "%s '%s': cannot read %s: %s", kind, id, ca,
                   g_strerror(errno));
        return false;
    }
    /* A client's certificate is optional; the server's is not. */
    if (server || access(cert, F_OK) == 0 || access(key, F_OK) == 0) {
        for (int i = 0; i < 2; i++) {
            const char *p = i ? key : cert;

            if (access(p, R_OK) != 0) {
                error_setg(errp, "%s '%s': cannot read %s: %s", kind, id, p,
                           g_strerror(errno));
                return false;
            }
        }
    } else {
        g_clear_pointer(&cert, g_free);
    }
    if (sanity && !creds_x509_sanity(creds, id, cert_name, errp)) {
        return false;
    }
    gnutls_certificate_allocate_credentials(&creds->u.x509);
    if (access(ca, F_OK) == 0) {
        ret = gnutls_certificate_set_x509_trust_file(creds->u.x509, ca,
                                                     GNUTLS_X509_FMT_PEM);
        if (ret < 1) {
            error_setg(errp, "%s '%s': %s holds no usable CA certificate%s%s",
                       kind, id, ca, ret < 0 ? ": " : "",
                       ret < 0 ? gnutls_strerror(ret) : "");
            return false;
        }
    }
    if (cert) {
        ret = gnutls_certificate_set_x509_key_file(creds->u.x509, cert, key,
                                                   GNUTLS_X509_FMT_PEM);
        if (ret < 0) {
            error_setg(errp, "%s '%s': cannot use the certificate %s with "
                       "the key %s: %s", kind, id, cert, key,
                       gnutls_strerror(ret));
            return false;
        }
    }
    if (server) {
        if (!creds_load_dh(creds, id, kind, errp)) {
            return false;
        }
        if (creds->dh_params) {
            gnutls_certificate_set_dh_params(creds->u.x509,
                                             creds->dh_params);
        } else {
            gnutls_certificate_set_known_dh_params(creds->u.x509,
                                                   GNUTLS_SEC_PARAM_MEDIUM);
        }
    }
    return true;
}

/* ---- the object ---- */

static void creds_finalize(UserObject *obj)
{
    QCryptoTLSCreds *creds = (QCryptoTLSCreds *)obj;
    bool server = creds->endpoint == QCRYPTO_TLS_CREDS_ENDPOINT_SERVER;

    switch (creds->kind) {
    case QCRYPTO_TLS_CREDS_ANON:
        if (server && creds->u.anon_server) {
            gnutls_anon_free_server_credentials(creds->u.anon_server);
        } else if (!server && creds->u.anon_client) {
            gnutls_anon_free_client_credentials(creds->u.anon_client);
        }
        break;
    case QCRYPTO_TLS_CREDS_PSK:
        if (server && creds->u.psk_server) {
            gnutls_psk_free_server_credentials(creds->u.psk_server);
        } else if (!server && creds->u.psk_client) {
            gnutls_psk_free_client_credentials(creds->u.psk_client);
        }
        break;
    case QCRYPTO_TLS_CREDS_X509:
        if (creds->u.x509) {
            gnutls_certificate_free_credentials(creds->u.x509);
        }
        break;
    }
    if (creds->dh_params) {
        gnutls_dh_params_deinit(creds->dh_params);
    }
    g_free(creds->dir);
    g_free(creds->priority);
    g_free(creds->username);
    g_free(creds);
}

static UserObject *creds_create(QCryptoTLSCredsKind kind, const char *id,
                                JsonObject *props, Error **errp)
{
    static const char *const keys[] = {
        "endpoint", "dir", "verify-peer", "priority", "username",
        "sanity-check", "loaded", NULL
    };
    const char *type = creds_type_names[kind];
    g_autofree QCryptoTLSCreds *creds = g_new0(QCryptoTLSCreds, 1);
    const char *endpoint = object_prop_str(props, "endpoint");
    const char *username = object_prop_str(props, "username");
    bool sanity, ok;

    tls_global_init();
    creds->kind = kind;
    if (!object_props_check(props, keys, type, id, errp)) {
        return NULL;
    }
    if (!endpoint || !strcmp(endpoint, "client")) {
        creds->endpoint = QCRYPTO_TLS_CREDS_ENDPOINT_CLIENT;
    } else if (!strcmp(endpoint, "server")) {
        creds->endpoint = QCRYPTO_TLS_CREDS_ENDPOINT_SERVER;
    } else {
        error_setg(errp, "%s '%s': property 'endpoint' must be 'client' or "
                   "'server', not '%s'", type, id, endpoint);
        return NULL;
    }
    if ((username && kind != QCRYPTO_TLS_CREDS_PSK) ||
        (json_object_has_member(props, "sanity-check") &&
         kind != QCRYPTO_TLS_CREDS_X509)) {
        error_setg(errp, "%s '%s': property '%s' not found", type, id,
                   username ? "username" : "sanity-check");
        return NULL;
    }
    if (!object_prop_bool(props, "verify-peer", true, &creds->verify_peer,
                          type, id, errp) ||
        !object_prop_bool(props, "sanity-check", true, &sanity, type, id,
                          errp)) {
        return NULL;
    }
    creds->dir = g_strdup(object_prop_str(props, "dir"));
    creds->priority = g_strdup(object_prop_str(props, "priority"));
    creds->username = g_strdup(username ? username : "qemu");
    /* The constructor's own error paths free through finalize. */
    creds->parent.id = (char *)id;
    switch (kind) {
    case QCRYPTO_TLS_CREDS_ANON:
        ok = creds_anon_load(creds, id, errp);
        break;
    case QCRYPTO_TLS_CREDS_PSK:
        ok = creds_psk_load(creds, id, creds->username, errp);
        break;
    default:
        ok = creds_x509_load(creds, id, sanity, errp);
        break;
    }
    creds->parent.id = NULL;
    if (!ok) {
        creds_finalize(&g_steal_pointer(&creds)->parent);
        return NULL;
    }
    return &g_steal_pointer(&creds)->parent;
}

static UserObject *creds_anon_create(const char *id, JsonObject *props,
                                     Error **errp)
{
    return creds_create(QCRYPTO_TLS_CREDS_ANON, id, props, errp);
}

static UserObject *creds_psk_create(const char *id, JsonObject *props,
                                    Error **errp)
{
    return creds_create(QCRYPTO_TLS_CREDS_PSK, id, props, errp);
}

static UserObject *creds_x509_create(const char *id, JsonObject *props,
                                     Error **errp)
{
    return creds_create(QCRYPTO_TLS_CREDS_X509, id, props, errp);
}

static const UserObjectType creds_types[] = {
    { "tls-creds-anon", creds_anon_create, creds_finalize },
    { "tls-creds-psk", creds_psk_create, creds_finalize },
    { "tls-creds-x509", creds_x509_create, creds_finalize },
};

void qcrypto_tls_creds_register_types(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(creds_types); i++) {
        object_register_type(&creds_types[i]);
    }
}

static bool creds_is_creds(UserObject *obj)
{
    return obj->type->finalize == creds_finalize;
}

QCryptoTLSCreds *qcrypto_tls_creds_find(const char *id, Error **errp)
{
    UserObject *obj = object_find_ref(id);

    if (!obj) {
        error_setg(errp, "No TLS credentials with id '%s'", id);
        return NULL;
    }
    if (!creds_is_creds(obj)) {
        error_setg(errp, "Object with id '%s' is a '%s', not TLS "
                   "credentials", id, obj->type->name);
        object_unref(obj);
        return NULL;
    }
    return (QCryptoTLSCreds *)obj;
}

void qcrypto_tls_creds_unref(QCryptoTLSCreds *creds)
{
    if (creds) {
        object_unref(&creds->parent);
    }
}

const char *qcrypto_tls_creds_id(QCryptoTLSCreds *creds)
{
    return creds->parent.id;
}

QCryptoTLSCredsKind qcrypto_tls_creds_kind(QCryptoTLSCreds *creds)
{
    return creds->kind;
}

bool qcrypto_tls_creds_check_endpoint(QCryptoTLSCreds *creds,
                                      QCryptoTLSCredsEndpoint endpoint,
                                      Error **errp)
{
    if (creds->endpoint != endpoint) {
        error_setg(errp, "%s '%s' is for the %s endpoint; this side needs "
                   "endpoint=%s", CREDS_NAME(creds),
                   creds->endpoint == QCRYPTO_TLS_CREDS_ENDPOINT_CLIENT ?
                   "client" : "server",
                   endpoint == QCRYPTO_TLS_CREDS_ENDPOINT_CLIENT ?
                   "client" : "server");
        return false;
    }
    return true;
}
