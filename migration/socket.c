/*
 * Migration over tcp:, unix: and vsock: sockets.
 *
 * Outgoing connects in a worker thread (qio_channel_socket_connect_async)
 * so that a slow DNS lookup or a peer that accepts late never stalls the
 * main loop; incoming listens with a QIONetListener watched by the main
 * loop.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "migration/channel-internal.h"
#include "io/channel-socket.h"
#include "options.h"
#include "tls.h"
#include "trace.h"

bool migration_channel_set_peer_timeout(QIOChannel *ioc, Error **errp)
{
    unsigned int ms = migrate_socket_timeout();

    if (!qio_channel_is_socket(ioc)) {
        return true;
    }
    trace_migration_channel_set_peer_timeout(qio_channel_get_name(ioc), ms);
    return qio_channel_socket_set_peer_timeout(ioc, ms, errp) == 0;
}

#define MIGRATION_UNIX_SNDBUF (4 * MiB)

bool migration_channel_set_send_buffer(QIOChannel *ioc, Error **errp)
{
    if (!qio_channel_is_socket(ioc)) {
        return true;
    }
    return qio_channel_socket_set_unix_send_buffer(ioc, MIGRATION_UNIX_SNDBUF,
                                                   errp) == 0;
}

uint64_t migration_channel_queued_bytes(QIOChannel *ioc)
{
    return qio_channel_is_socket(ioc) ? qio_channel_socket_get_send_queue(ioc)
                                      : 0;
}

typedef struct MigrationSocketConnect {
    MigrationConnectFunc cb;
    void *opaque;
    SocketAddress *addr;        /* the TLS host name comes from it */
} MigrationSocketConnect;

static void migration_socket_connect_free(gpointer opaque)
{
    MigrationSocketConnect *conn = opaque;

    socket_address_free(conn->addr);
    g_free(conn);
}

/* Main loop, BQL held: the worker thread is done with @ioc. */
static void migration_socket_connected(QIOChannel *ioc, Error *err,
                                       void *opaque)
{
    MigrationSocketConnect *conn = opaque;
    Error *local_err = NULL;

    trace_migration_socket_connected(err ? error_get_pretty(err) : "");
    if (err) {
        /* @err belongs to our caller; the callee must own its copy. */
        error_setg(&local_err, "%s", error_get_pretty(err));
        qio_channel_unref(ioc);
        conn->cb(NULL, local_err, conn->opaque);
        return;
    }
    qio_channel_set_name(ioc, "migration-socket-outgoing");
    /* The stream is written in large bursts: never hold back the tail. */
    qio_channel_set_delay(ioc, false);
    if (!migration_channel_set_send_buffer(ioc, &local_err)) {
        qio_channel_unref(ioc);
        conn->cb(NULL, local_err, conn->opaque);
        return;
    }
    if (migrate_tls()) {
        /* The handshake blocks: a worker thread, then @cb. */
        migration_tls_client_async(ioc, conn->addr, conn->cb, conn->opaque);
        return;
    }
    conn->cb(ioc, NULL, conn->opaque);
}

void migration_socket_connect(const SocketAddress *addr,
                              MigrationConnectFunc cb, void *opaque)
{
    MigrationSocketConnect *conn = g_new0(MigrationSocketConnect, 1);
    g_autofree char *str = socket_address_to_string(addr);
    QIOChannel *ioc = qio_channel_socket_new();

    trace_migration_socket_connect(str);
    conn->cb = cb;
    conn->opaque = opaque;
    conn->addr = socket_address_copy(addr);
    qio_channel_set_name(ioc, "migration-socket-outgoing");
    /* Not connected yet: cannot fail; the connect applies it. */
    migration_channel_set_peer_timeout(ioc, &error_abort);
    /* Our reference to @ioc travels to migration_socket_connected(). */
    qio_channel_socket_connect_async(ioc, addr, migration_socket_connected,
                                     conn, migration_socket_connect_free);
}

typedef struct MigrationSocketAccept {
    MigrationAcceptFunc cb;
    void *opaque;
} MigrationSocketAccept;

/* Main loop, BQL held. */
static void migration_socket_accepted(QIONetListener *listener,
                                      QIOChannel *client, void *opaque)
{
    MigrationSocketAccept *acc = opaque;
    Error *err = NULL;

    trace_migration_socket_accepted();
    qio_channel_set_name(client, "migration-socket-incoming");
    /*
     * Every incoming channel (main, multifd, preempt, a recovery) comes
     * through here.  Without the bound a cut link would leave it reading
     * for ~15 minutes; drop the client rather than run it unbounded.
     */
    if (!migration_channel_set_peer_timeout(client, &err)) {
        error_report("migration: refusing an incoming connection: %s",
                     error_get_pretty(err));
        error_free(err);
        return;
    }
    /*
     * The listener only lends @client; the callback gets its own ref,
     * after the TLS handshake (in a thread) when tls-creds is set.
     */
    migration_tls_accept(qio_channel_ref(client), acc->cb, acc->opaque);
}

QIONetListener *migration_socket_listen(const SocketAddress *addr,
                                        MigrationAcceptFunc cb, void *opaque,
                                        Error **errp)
{
    g_autoptr(QIONetListener) listener = qio_net_listener_new();
    MigrationSocketAccept *acc;

    qio_net_listener_set_name(listener, "migration-socket-listener");
    if (qio_net_listener_open_sync(listener, addr, MIGRATION_LISTEN_BACKLOG,
                                   errp) < 0) {
        return NULL;
    }
    acc = g_new0(MigrationSocketAccept, 1);
    acc->cb = cb;
    acc->opaque = opaque;
    qio_net_listener_set_client_func(listener, migration_socket_accepted,
                                     acc, g_free);
    return g_steal_pointer(&listener);
}

char *migration_socket_listen_uri(QIONetListener *listener, Error **errp)
{
    g_autoptr(SocketAddress) local = NULL;

    if (qio_net_listener_num_channels(listener) == 0) {
        error_setg(errp, "The migration listener has no socket");
        return NULL;
    }
    local = qio_channel_socket_get_local_address(
        qio_net_listener_get_channel(listener, 0), errp);
    return local ? socket_address_to_string(local) : NULL;
}
