/*
 * Migration over TLS (migration/tls.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <poll.h>
#include "qemu/main-loop.h"
#include "qemu/thread.h"
#include "qemu/uri.h"
#include "io/channel-socket.h"
#include "io/channel-tls.h"
#include "crypto/tlscreds.h"
#include "options.h"
#include "tls.h"
#include "trace.h"

/* How long a peer may take to shake hands when x-socket-timeout is 0. */
#define MIGRATION_TLS_TIMEOUT_DEFAULT_MS 60000

static unsigned int migration_tls_timeout_ms(void)
{
    unsigned int ms = migrate_socket_timeout();

    return ms ? ms : MIGRATION_TLS_TIMEOUT_DEFAULT_MS;
}

bool migration_tls_check_start(const char *uri, bool incoming,
                               Error **errp)
{
    g_autofree char *id = migrate_tls_creds();
    g_autofree char *hostname = migrate_tls_hostname();
    g_autoptr(QCryptoTLSCreds) creds = NULL;
    g_autoptr(UriAddress) addr = NULL;

    if (!*id) {
        return true;
    }
    /* QEMU's rule: TLS only over a socket it connects or accepts. */
    addr = uri_address_parse(uri, NULL);
    if (!addr || addr->transport != URI_TRANSPORT_SOCKET ||
        addr->socket->type == SOCKET_ADDRESS_TYPE_FD) {
        error_setg(errp, "TLS (tls-creds '%s') needs a tcp:, unix: or vsock: "
                   "migration URI; the %s URI '%s' cannot carry it", id,
                   incoming ? "incoming" : "outgoing", uri);
        return false;
    }
    creds = qcrypto_tls_creds_find(id, errp);
    if (!creds) {
        error_prepend(errp, "tls-creds: ");
        return false;
    }
    if (!qcrypto_tls_creds_check_endpoint(creds, incoming ?
                                          QCRYPTO_TLS_CREDS_ENDPOINT_SERVER :
                                          QCRYPTO_TLS_CREDS_ENDPOINT_CLIENT,
                                          errp)) {
        error_prepend(errp, "tls-creds: ");
        return false;
    }
    if (!incoming && !*hostname &&
        qcrypto_tls_creds_kind(creds) == QCRYPTO_TLS_CREDS_X509 &&
        addr->socket->type != SOCKET_ADDRESS_TYPE_INET) {
        error_setg(errp, "The URI '%s' has no host name to check the "
                   "destination's x509 certificate against: set "
                   "tls-hostname", uri);
        return false;
    }
    return true;
}

/* Wait (bounded) until the socket under @ioc has bytes or an error. */
static bool migration_tls_wait_readable(QIOChannel *ioc, gint64 deadline,
                                        Error **errp)
{
    QIOChannel *master = qio_channel_tls_get_master(ioc);
    struct pollfd pfd = { .events = POLLIN };
    int ret;

    if (!qio_channel_is_socket(master)) {
        return true;
    }
    pfd.fd = qio_channel_socket_get_fd(master);
    do {
        int ms = MAX(0, (deadline - g_get_monotonic_time()) / 1000);

        ret = poll(&pfd, 1, ms);
    } while (ret < 0 && errno == EINTR);
    if (ret == 0) {
        error_setg(errp, "the destination did not confirm the TLS session "
                   "in time");
        return false;
    }
    return true;
}

/* Source: the destination's verdict on our identity (migration/tls.h). */
static bool migration_tls_read_verdict(QIOChannel *ioc, Error **errp)
{
    gint64 deadline = g_get_monotonic_time() +
                      (gint64)migration_tls_timeout_ms() * 1000;
    uint8_t verdict = 0;
    Error *err = NULL;
    ssize_t n;

    /* GnuTLS may hold the byte already: try before polling the socket. */
    qio_channel_set_blocking(ioc, false, NULL);
    for (;;) {
        n = qio_channel_read(ioc, &verdict, 1, &err);
        if (n != QIO_CHANNEL_ERR_BLOCK) {
            break;
        }
        if (!migration_tls_wait_readable(ioc, deadline, errp)) {
            qio_channel_set_blocking(ioc, true, NULL);
            return false;
        }
    }
    qio_channel_set_blocking(ioc, true, NULL);
    if (n == 1 && verdict == MIGRATION_TLS_ACCEPTED) {
        return true;
    }
    if (n < 0) {
        error_setg(errp, "the destination refused the TLS session (%s)",
                   error_get_pretty(err));
        error_free(err);
    } else {
        error_setg(errp, "the destination closed the connection after the "
                   "TLS handshake (it refused our credentials or identity)");
    }
    return false;
}

QIOChannel *migration_tls_client(QIOChannel *ioc, const SocketAddress *addr,
                                 Error **errp)
{
    g_autofree char *id = migrate_tls_creds();
    g_autofree char *hostname = migrate_tls_hostname();
    g_autoptr(QCryptoTLSCreds) creds = NULL;
    QIOChannel *tioc;

    if (!*id) {
        return ioc;
    }
    if (!*hostname && addr->type == SOCKET_ADDRESS_TYPE_INET) {
        g_free(hostname);
        hostname = g_strdup(addr->u.inet.host);
    }
    trace_migration_tls_client(qio_channel_get_name(ioc), id, hostname);
    creds = qcrypto_tls_creds_find(id, errp);
    tioc = creds ? qio_channel_tls_new_client(ioc, creds,
                                              *hostname ? hostname : NULL,
                                              errp) : NULL;
    if (!tioc) {
        qio_channel_unref(ioc);
        return NULL;
    }
    qio_channel_set_name(tioc, qio_channel_get_name(ioc));
    qio_channel_unref(ioc);
    if (!qio_channel_tls_handshake(tioc, migration_tls_timeout_ms(), errp) ||
        !migration_tls_read_verdict(tioc, errp)) {
        error_prepend(errp, "TLS (tls-creds '%s'%s%s%s) with the destination "
                      "failed: ", id, *hostname ? ", host name '" : "",
                      hostname, *hostname ? "'" : "");
        qio_channel_unref(tioc);
        return NULL;
    }
    return tioc;
}

/* ---- source, asynchronous ---- */

typedef struct MigrationTLSConnect {
    QIOChannel *ioc;            /* in: plain; out: TLS or NULL */
    QIOChannel *plain;          /* a reference, for a cancel to shut */
    SocketAddress *addr;
    Error *err;
    MigrationConnectFunc cb;
    void *opaque;
} MigrationTLSConnect;

/* Handshakes in flight (main thread only, BQL). */
static GSList *pending_connects;
/* A cancel came before the connect finished (main thread only). */
static bool connects_cancelled;

void migration_tls_reset_connects(void)
{
    connects_cancelled = false;
}

void migration_tls_cancel_connects(void)
{
    connects_cancelled = true;
    for (GSList *l = pending_connects; l; l = l->next) {
        MigrationTLSConnect *c = l->data;

        /* The handshake thread wakes up and fails at once. */
        qio_channel_shutdown(c->plain, QIO_CHANNEL_SHUTDOWN_BOTH, NULL);
    }
}

/* Main loop, BQL held: the handshake thread is done. */
static void migration_tls_client_done(void *opaque)
{
    MigrationTLSConnect *c = opaque;

    pending_connects = g_slist_remove(pending_connects, c);
    qio_channel_unref(c->plain);
    c->cb(c->ioc, c->err, c->opaque);
    socket_address_free(c->addr);
    g_free(c);
}

static void *migration_tls_client_thread(void *opaque)
{
    MigrationTLSConnect *c = opaque;

    c->ioc = migration_tls_client(c->ioc, c->addr, &c->err);
    main_loop_schedule(migration_tls_client_done, c);
    return NULL;
}

void migration_tls_client_async(QIOChannel *ioc, const SocketAddress *addr,
                                MigrationConnectFunc cb, void *opaque)
{
    MigrationTLSConnect *c;
    QemuThread thread;

    if (connects_cancelled) {
        Error *err = NULL;

        error_setg(&err, "migration cancelled before the TLS handshake");
        qio_channel_unref(ioc);
        cb(NULL, err, opaque);
        return;
    }
    c = g_new0(MigrationTLSConnect, 1);
    c->ioc = ioc;
    c->plain = qio_channel_ref(ioc);
    c->addr = socket_address_copy(addr);
    c->cb = cb;
    c->opaque = opaque;
    pending_connects = g_slist_prepend(pending_connects, c);
    qemu_thread_create(&thread, "mig/src/tls", migration_tls_client_thread,
                       c, QEMU_THREAD_DETACHED);
}

/* ---- destination ---- */

typedef struct MigrationTLSAccept {
    QIOChannel *ioc;            /* TLS channel; NULL once failed */
    Error *err;
    bool done;                  /* main loop only */
    MigrationAcceptFunc cb;
    void *opaque;
} MigrationTLSAccept;

/*
 * Handshakes in accept order, oldest first (main thread, BQL): a channel
 * is delivered only when every earlier one was delivered or dropped, so
 * the main channel is always the first the callback sees.
 */
static GQueue accept_queue = G_QUEUE_INIT;

static void migration_tls_accept_deliver(void)
{
    MigrationTLSAccept *a;

    while ((a = g_queue_peek_head(&accept_queue)) && a->done) {
        g_queue_pop_head(&accept_queue);
        if (a->ioc) {
            a->cb(a->ioc, a->opaque);
        } else {
            /* The listener goes on: a correct source may come next. */
            error_report_err(a->err);
        }
        g_free(a);
    }
}

static void migration_tls_accept_done(void *opaque)
{
    MigrationTLSAccept *a = opaque;

    a->done = true;
    migration_tls_accept_deliver();
}

static void *migration_tls_accept_thread(void *opaque)
{
    MigrationTLSAccept *a = opaque;
    static const uint8_t accepted = MIGRATION_TLS_ACCEPTED;
    bool ok;

    ok = qio_channel_tls_handshake(a->ioc, migration_tls_timeout_ms(),
                                   &a->err) &&
         qio_channel_write_all(a->ioc, &accepted, 1, &a->err) == 0;
    trace_migration_tls_accepted(ok, ok ? "" : error_get_pretty(a->err));
    if (!ok) {
        error_prepend(&a->err, "migration: dropped an incoming connection: ");
        qio_channel_unref(a->ioc);
        a->ioc = NULL;
    }
    main_loop_schedule(migration_tls_accept_done, a);
    return NULL;
}

void migration_tls_accept(QIOChannel *ioc, MigrationAcceptFunc cb,
                          void *opaque)
{
    g_autofree char *id = migrate_tls_creds();
    g_autofree char *authz = migrate_tls_authz();
    g_autoptr(QCryptoTLSCreds) creds = NULL;
    MigrationTLSAccept *a;
    QemuThread thread;
    Error *err = NULL;
    QIOChannel *tioc;

    if (!*id) {
        cb(ioc, opaque);
        return;
    }
    creds = qcrypto_tls_creds_find(id, &err);
    tioc = creds ? qio_channel_tls_new_server(ioc, creds,
                                              *authz ? authz : NULL, &err)
                 : NULL;
    if (!tioc) {
        error_prepend(&err, "migration: refusing an incoming connection: ");
        error_report_err(err);
        qio_channel_unref(ioc);
        return;
    }
    qio_channel_set_name(tioc, qio_channel_get_name(ioc));
    qio_channel_unref(ioc);
    a = g_new0(MigrationTLSAccept, 1);
    a->ioc = tioc;
    a->cb = cb;
    a->opaque = opaque;
    g_queue_push_tail(&accept_queue, a);
    qemu_thread_create(&thread, "mig/dst/tls", migration_tls_accept_thread,
                       a, QEMU_THREAD_DETACHED);
}
