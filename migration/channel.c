/*
 * Migration URIs to channels: parse the URI, hand it to its transport
 * (socket.c, fd.c, exec.c, file.c, rdma-channel.c) and call back from
 * the main loop.
 *
 * Transports that open synchronously (fd:, exec:, file:) still deliver
 * their channel through an idle callback, so that callers see a single
 * behaviour: migration_channel_connect()/listen() return first, the
 * callback runs later from the main loop under the BQL.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "migration/channel-internal.h"
#include "qemu/uri.h"
#include "io/channel.h"
#include "rdma.h"
#include "trace.h"

/*
 * The destination's listening state.  Main thread only, BQL held; there
 * is at most one incoming migration at a time.
 */
typedef struct MigrationIncomingChannels {
    QIONetListener *listener;   /* tcp/unix/vsock, until listen_stop */
    RDMAListener *rdma;         /* rdma:, until listen_stop */
    char *uri;                  /* where @listener is bound, port resolved */
    guint pending_id;           /* idle source delivering an fd/exec/file
                                   channel, 0 once delivered */
} MigrationIncomingChannels;

static MigrationIncomingChannels incoming;

/* A channel opened at once, on its way to the callback. */
typedef struct MigrationChannelDelivery {
    QIOChannel *ioc;                /* owned until handed to a callback */
    MigrationConnectFunc connect_cb;    /* outgoing */
    MigrationAcceptFunc accept_cb;      /* incoming */
    void *opaque;
} MigrationChannelDelivery;

static const char *const migration_schemes[] = {
    "tcp", "unix", "vsock", "fd", "exec", "file", "rdma",
};

static bool migration_scheme_known(const char *uri)
{
    const char *colon = strchr(uri, ':');

    for (size_t i = 0; colon && i < ARRAY_SIZE(migration_schemes); i++) {
        size_t len = strlen(migration_schemes[i]);

        if (colon - uri == len && !strncmp(uri, migration_schemes[i], len)) {
            return true;
        }
    }
    return false;
}

/* Parse @uri and refuse what this build cannot do; NULL on error. */
static UriAddress *migration_uri_parse(const char *uri, Error **errp)
{
    g_autoptr(UriAddress) addr = NULL;

    if (!migration_scheme_known(uri)) {
        /* QEMU's wording, which management tools look for. */
        error_setg(errp, "unknown migration protocol: %s", uri);
        return NULL;
    }
    addr = uri_address_parse(uri, errp);
    if (!addr) {
        return NULL;
    }
    /* No device, no provider: refused now, not from a callback later. */
    if (addr->transport == URI_TRANSPORT_RDMA &&
        !rdma_transport_check(errp)) {
        error_prepend(errp, "Migration URI '%s': ", uri);
        return NULL;
    }
    return g_steal_pointer(&addr);
}

static bool migration_uri_is_listener(const UriAddress *addr)
{
    return addr->transport == URI_TRANSPORT_SOCKET &&
           addr->socket->type != SOCKET_ADDRESS_TYPE_FD;
}

/* fd:, exec: and file: open their channel at once. */
static QIOChannel *migration_uri_open(const UriAddress *addr, bool outgoing,
                                      Error **errp)
{
    switch (addr->transport) {
    case URI_TRANSPORT_SOCKET:
        assert(addr->socket->type == SOCKET_ADDRESS_TYPE_FD);
        return migration_fd_open(addr->socket->u.fd.str, outgoing, errp);
    case URI_TRANSPORT_EXEC:
        return migration_exec_open(addr->exec_cmd, outgoing, errp);
    case URI_TRANSPORT_FILE:
        return migration_file_open(addr->file_path, addr->file_offset,
                                   outgoing, errp);
    case URI_TRANSPORT_RDMA:
        break;
    }
    g_assert_not_reached();
}

/* Main loop, BQL held. */
static gboolean migration_channel_deliver(gpointer opaque)
{
    MigrationChannelDelivery *d = opaque;
    QIOChannel *ioc = g_steal_pointer(&d->ioc);

    trace_migration_channel_deliver(qio_channel_get_name(ioc));
    if (d->accept_cb) {
        incoming.pending_id = 0;
        d->accept_cb(ioc, d->opaque);
    } else {
        d->connect_cb(ioc, NULL, d->opaque);
    }
    return G_SOURCE_REMOVE;
}

static void migration_channel_delivery_free(gpointer opaque)
{
    MigrationChannelDelivery *d = opaque;

    /* Still set only when listen_stop cancelled the delivery. */
    if (d->ioc) {
        qio_channel_unref(d->ioc);
    }
    g_free(d);
}

static guint migration_channel_schedule(MigrationChannelDelivery *d)
{
    return g_idle_add_full(G_PRIORITY_DEFAULT, migration_channel_deliver, d,
                           migration_channel_delivery_free);
}

bool migration_channel_connect(const char *uri, MigrationConnectFunc cb,
                               void *opaque, Error **errp)
{
    g_autoptr(UriAddress) addr = migration_uri_parse(uri, errp);
    MigrationChannelDelivery *d;
    QIOChannel *ioc;

    trace_migration_channel_connect(uri, !!addr);
    if (!addr) {
        return false;
    }
    if (migration_uri_is_listener(addr)) {
        migration_socket_connect(addr->socket, cb, opaque);
        return true;
    }
    if (addr->transport == URI_TRANSPORT_RDMA) {
        rdma_start_outgoing(&addr->socket->u.inet, cb, opaque);
        return true;
    }
    ioc = migration_uri_open(addr, true, errp);
    if (!ioc) {
        return false;
    }
    d = g_new0(MigrationChannelDelivery, 1);
    d->ioc = ioc;
    d->connect_cb = cb;
    d->opaque = opaque;
    migration_channel_schedule(d);
    return true;
}

static bool migration_channel_listen_socket(const UriAddress *addr,
                                            MigrationAcceptFunc cb,
                                            void *opaque, Error **errp)
{
    g_autoptr(QIONetListener) listener = NULL;
    char *bound;

    listener = migration_socket_listen(addr->socket, cb, opaque, errp);
    if (!listener) {
        return false;
    }
    bound = migration_socket_listen_uri(listener, errp);
    if (!bound) {
        return false;
    }
    incoming.listener = g_steal_pointer(&listener);
    incoming.uri = bound;
    return true;
}

bool migration_channel_listen(const char *uri, MigrationAcceptFunc cb,
                              void *opaque, Error **errp)
{
    g_autoptr(UriAddress) addr = NULL;
    MigrationChannelDelivery *d;
    QIOChannel *ioc;

    if (incoming.listener || incoming.rdma || incoming.pending_id) {
        error_setg(errp, "Cannot listen on '%s': an incoming migration "
                   "channel is already open", uri);
        return false;
    }
    addr = migration_uri_parse(uri, errp);
    trace_migration_channel_listen(uri, !!addr);
    if (!addr) {
        return false;
    }
    if (migration_uri_is_listener(addr)) {
        return migration_channel_listen_socket(addr, cb, opaque, errp);
    }
    if (addr->transport == URI_TRANSPORT_RDMA) {
        incoming.rdma = rdma_start_incoming(&addr->socket->u.inet, cb,
                                            opaque, errp);
        if (incoming.rdma) {
            incoming.uri = rdma_listener_uri(incoming.rdma);
        }
        return incoming.rdma != NULL;
    }
    ioc = migration_uri_open(addr, false, errp);
    if (!ioc) {
        return false;
    }
    d = g_new0(MigrationChannelDelivery, 1);
    d->ioc = ioc;
    d->accept_cb = cb;
    d->opaque = opaque;
    incoming.pending_id = migration_channel_schedule(d);
    return true;
}

char *migration_channel_listen_uri(void)
{
    return g_strdup(incoming.uri);
}

void migration_channel_listen_stop(void)
{
    trace_migration_channel_listen_stop(incoming.uri ? incoming.uri : "");
    if (incoming.listener) {
        qio_net_listener_disconnect(incoming.listener);
        qio_net_listener_unref(incoming.listener);
        incoming.listener = NULL;
    }
    g_clear_pointer(&incoming.rdma, rdma_listener_close);
    g_clear_pointer(&incoming.uri, g_free);
    if (incoming.pending_id) {
        g_source_remove(incoming.pending_id);
        incoming.pending_id = 0;
    }
}
