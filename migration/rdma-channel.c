/*
 * The "rdma" QIOChannel and the rdma: transport (connect, listen).
 *
 * The channel carries the QEMUFile's bytes in QEMU_FILE control messages
 * of the connection's RDMAContext (rdma.c), which it owns: writev cuts
 * the bytes into messages, readv hands out the payload of one message at
 * a time and fails on any other message type.  It is a QIOChannel kind
 * defined outside io/ (hence io/channel-internal.h here) because its
 * state is migration's RDMA connection.
 *
 * Threads: as every QIOChannel (io/channel-internal.h); a connection
 * has one reader or one writer at a time here (no return path over
 * RDMA), shutdown from any thread.  Connecting runs in a worker thread;
 * accepting in the main loop when the provider's listen fd is readable.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <glib-unix.h>
#include "io/channel-internal.h"
#include "qemu/main-loop.h"
#include "qemu/thread.h"
#include "rdma-internal.h"
#include "options.h"
#include "qemu-file.h"
#include "trace.h"

typedef struct QIOChannelRDMA {
    QIOChannel parent;
    RDMAContext *r;
} QIOChannelRDMA;

static const QIOChannelOps qio_channel_rdma_ops;

static RDMAContext *qio_channel_rdma_ctx(QIOChannel *ioc)
{
    return ((QIOChannelRDMA *)ioc)->r;
}

/* The next QEMU_FILE message with a payload becomes the current one. */
static bool qio_channel_rdma_next(RDMAContext *r, Error **errp)
{
    while (r->cur_slot < 0) {
        const uint8_t *data;
        uint32_t type, repeat, len;
        int slot;

        if (!rdma_recv_next(r, RDMA_CONTROL_QEMU_FILE, &slot, &type, &repeat,
                            &data, &len, errp)) {
            return false;
        }
        if (!len) {
            if (!rdma_recv_release(r, slot, errp)) {
                return false;
            }
            continue;
        }
        r->cur_slot = slot;
        r->cur_off = 0;
        r->cur_len = len;
    }
    return true;
}

static ssize_t qio_channel_rdma_readv(QIOChannel *ioc,
                                      const struct iovec *iov, size_t niov,
                                      int **fds, size_t *nfds, int flags,
                                      Error **errp)
{
    RDMAContext *r = qio_channel_rdma_ctx(ioc);
    const uint8_t *msg;
    ssize_t done = 0;

    if (!qio_channel_rdma_next(r, errp)) {
        return -1;
    }
    msg = r->recv_buf + (size_t)r->cur_slot * RDMA_CONTROL_BUF_SIZE +
          RDMA_HEADER_SIZE;
    for (size_t i = 0; i < niov && r->cur_off < r->cur_len; i++) {
        size_t n = MIN(iov[i].iov_len, r->cur_len - r->cur_off);

        memcpy(iov[i].iov_base, msg + r->cur_off, n);
        r->cur_off += n;
        done += n;
    }
    if (r->cur_off == r->cur_len) {
        int slot = r->cur_slot;

        r->cur_slot = -1;
        if (!rdma_recv_release(r, slot, errp)) {
            return -1;
        }
    }
    return done;
}

static ssize_t qio_channel_rdma_writev(QIOChannel *ioc,
                                       const struct iovec *iov, size_t niov,
                                       int *fds, size_t nfds, int flags,
                                       Error **errp)
{
    RDMAContext *r = qio_channel_rdma_ctx(ioc);
    size_t i = 0, off = 0;
    ssize_t total = 0;

    while (i < niov) {
        uint32_t len = 0;
        int slot;
        uint8_t *p = rdma_send_begin(r, &slot, errp);

        if (!p) {
            return -1;
        }
        while (i < niov && len < RDMA_CONTROL_MAX_PAYLOAD) {
            size_t n = MIN(iov[i].iov_len - off,
                           RDMA_CONTROL_MAX_PAYLOAD - len);

            memcpy(p + len, (const uint8_t *)iov[i].iov_base + off, n);
            len += n;
            off += n;
            if (off == iov[i].iov_len) {
                i++;
                off = 0;
            }
        }
        if (!rdma_send_commit(r, slot, RDMA_CONTROL_QEMU_FILE, 0, len,
                              errp)) {
            return -1;
        }
        total += len;
    }
    return total;
}

static int qio_channel_rdma_close(QIOChannel *ioc, Error **errp)
{
    RDMAContext *r = qio_channel_rdma_ctx(ioc);

    /* What was sent must arrive before the connection goes. */
    if (r->source) {
        rdma_context_drain(r);
    }
    return 0;
}

static int qio_channel_rdma_shutdown(QIOChannel *ioc, QIOChannelShutdown how,
                                     Error **errp)
{
    rdma_context_shutdown(qio_channel_rdma_ctx(ioc));
    return 0;
}

static int qio_channel_rdma_poll_fd(QIOChannel *ioc, GIOCondition direction)
{
    return -1;      /* readv/writev wait in the provider's poll */
}

static void qio_channel_rdma_finalize(QIOChannel *ioc)
{
    rdma_context_free(qio_channel_rdma_ctx(ioc));
}

static const QIOChannelOps qio_channel_rdma_ops = {
    .type_name = "rdma",
    .io_readv = qio_channel_rdma_readv,
    .io_writev = qio_channel_rdma_writev,
    .io_close = qio_channel_rdma_close,
    .io_shutdown = qio_channel_rdma_shutdown,
    .io_poll_fd = qio_channel_rdma_poll_fd,
    .io_finalize = qio_channel_rdma_finalize,
};

QIOChannel *qio_channel_rdma_new(RDMAContext *r)
{
    QIOChannelRDMA *rioc = g_new0(QIOChannelRDMA, 1);

    qio_channel_init(&rioc->parent, &qio_channel_rdma_ops);
    qio_channel_set_feature(&rioc->parent, QIO_CHANNEL_FEATURE_SHUTDOWN);
    rioc->r = r;
    return &rioc->parent;
}

RDMAContext *rdma_context_of(QEMUFile *f)
{
    QIOChannel *ioc = f ? qemu_file_get_ioc(f) : NULL;

    return ioc && qio_channel_is_kind(ioc, &qio_channel_rdma_ops)
           ? qio_channel_rdma_ctx(ioc) : NULL;
}

/* ---- the transport ---- */

static void rdma_caps_put(uint8_t *p, uint32_t flags)
{
    uint32_t v = GUINT32_TO_BE(RDMA_CONTROL_VERSION_CURRENT);

    memcpy(p, &v, 4);
    v = GUINT32_TO_BE(flags);
    memcpy(p + 4, &v, 4);
}

/* The peer's capability flags from its private data; false if unusable. */
static bool rdma_caps_get(const uint8_t *p, size_t len, uint32_t *flags,
                          Error **errp)
{
    uint32_t version;

    if (len < RDMA_CAPS_SIZE) {
        error_setg(errp, "RDMA peer sent %zu bytes of capabilities, not %d",
                   len, RDMA_CAPS_SIZE);
        return false;
    }
    memcpy(&version, p, 4);
    memcpy(flags, p + 4, 4);
    version = GUINT32_FROM_BE(version);
    *flags = GUINT32_FROM_BE(*flags);
    if (version != RDMA_CONTROL_VERSION_CURRENT) {
        error_setg(errp, "RDMA peer speaks control protocol version %u, "
                   "this side %d", version, RDMA_CONTROL_VERSION_CURRENT);
        return false;
    }
    return true;
}

bool rdma_transport_check(Error **errp)
{
    const QemuRdmaProvider *ops = rdma_provider_get(errp);
    QemuRdmaError e = { 0 };

    if (!ops) {
        return false;
    }
    if (ops->probe(&e) < 0) {
        rdma_error_set(errp, &e, "RDMA migration needs an RDMA device and "
                       "none is usable");
        return false;
    }
    return true;
}

typedef struct RDMAConnect {
    char *host, *port;
    bool pin_all;               /* asked for */
    MigrationConnectFunc cb;
    void *opaque;
    QIOChannel *ioc;            /* the result... */
    Error *err;                 /* ...or why not */
} RDMAConnect;

/* Main loop, BQL: hand the result over. */
static void rdma_connect_done(void *opaque)
{
    RDMAConnect *c = opaque;

    trace_rdma_connect_done(c->host, c->port, c->err ?
                            error_get_pretty(c->err) : "");
    if (c->ioc) {
        qio_channel_set_name(c->ioc, "migration-rdma-outgoing");
    }
    c->cb(c->ioc, c->err, c->opaque);
    g_free(c->host);
    g_free(c->port);
    g_free(c);
}

static void *rdma_connect_thread(void *opaque)
{
    RDMAConnect *c = opaque;
    const QemuRdmaProvider *ops = rdma_provider_get(&c->err);
    uint8_t priv[RDMA_CAPS_SIZE], reply[QEMU_RDMA_PRIVATE_MAX];
    size_t reply_len = sizeof(reply);
    g_autofree char *peer = g_strdup_printf("%s:%s", c->host, c->port);
    QemuRdmaError e = { 0 };
    QemuRdmaConn *conn;
    RDMAContext *r;
    uint32_t flags;

    if (!ops) {
        goto out;
    }
    rdma_caps_put(priv, c->pin_all ? RDMA_CAPABILITY_PIN_ALL : 0);
    conn = ops->connect(c->host, c->port, priv, sizeof(priv), reply,
                        &reply_len, &e);
    if (!conn) {
        g_autofree char *what = g_strdup_printf("RDMA connection to %s "
                                                "failed", peer);
        rdma_error_set(&c->err, &e, what);
        goto out;
    }
    if (!rdma_caps_get(reply, reply_len, &flags, &c->err)) {
        ops->close(conn);
        goto out;
    }
    r = rdma_context_new(ops, conn, true,
                         c->pin_all && (flags & RDMA_CAPABILITY_PIN_ALL),
                         peer, &c->err);
    if (r) {
        c->ioc = qio_channel_rdma_new(r);
    }
out:
    main_loop_schedule(rdma_connect_done, c);
    return NULL;
}

void rdma_start_outgoing(const InetSocketAddress *addr,
                         MigrationConnectFunc cb, void *opaque)
{
    RDMAConnect *c = g_new0(RDMAConnect, 1);
    QemuThread thread;

    c->host = g_strdup(addr->host);
    c->port = g_strdup(addr->port);
    c->pin_all = migrate_capability(MIGRATION_CAPABILITY_RDMA_PIN_ALL);
    c->cb = cb;
    c->opaque = opaque;
    trace_rdma_connect(c->host, c->port, c->pin_all);
    qemu_thread_create(&thread, "mig/src/rdma-conn", rdma_connect_thread, c,
                       QEMU_THREAD_DETACHED);
}

struct RDMAListener {
    const QemuRdmaProvider *ops;
    QemuRdmaConn *conn;
    guint watch;
    char *uri;
    MigrationAcceptFunc cb;
    void *opaque;
};

/* Main loop, BQL: a connection is waiting. */
static gboolean rdma_listener_accept(int fd, GIOCondition cond,
                                     void *opaque)
{
    RDMAListener *l = opaque;
    uint8_t peer[QEMU_RDMA_PRIVATE_MAX], reply[RDMA_CAPS_SIZE];
    size_t peer_len = sizeof(peer);
    QemuRdmaError e = { 0 };
    Error *err = NULL;
    QemuRdmaConn *conn;
    RDMAContext *r;
    uint32_t flags;

    /* This side can pin everything: the source decides. */
    rdma_caps_put(reply, RDMA_CAPABILITY_PIN_ALL);
    conn = l->ops->accept(l->conn, peer, &peer_len, reply, sizeof(reply),
                          &e);
    if (!conn) {
        rdma_error_set(&err, &e, "Could not accept an RDMA connection");
        error_report_err(err);
        return G_SOURCE_CONTINUE;
    }
    if (!rdma_caps_get(peer, peer_len, &flags, &err)) {
        error_report_err(err);
        l->ops->close(conn);
        return G_SOURCE_CONTINUE;
    }
    r = rdma_context_new(l->ops, conn, false,
                         flags & RDMA_CAPABILITY_PIN_ALL, l->uri + 5, &err);
    if (!r) {
        error_report_err(err);
        return G_SOURCE_CONTINUE;
    }
    trace_rdma_accept(l->uri, r->pin_all);
    l->cb(qio_channel_rdma_new(r), l->opaque);
    return G_SOURCE_CONTINUE;
}

RDMAListener *rdma_start_incoming(const InetSocketAddress *addr,
                                  MigrationAcceptFunc cb, void *opaque,
                                  Error **errp)
{
    const QemuRdmaProvider *ops;
    QemuRdmaError e = { 0 };
    RDMAListener *l;
    QemuRdmaConn *conn;

    if (!rdma_transport_check(errp)) {
        return NULL;
    }
    ops = rdma_provider_get(errp);
    conn = ops->listen(addr->host, addr->port, &e);
    if (!conn) {
        g_autofree char *what = g_strdup_printf("Could not listen for RDMA "
                                                "on %s:%s", addr->host,
                                                addr->port);
        rdma_error_set(errp, &e, what);
        return NULL;
    }
    l = g_new0(RDMAListener, 1);
    l->ops = ops;
    l->conn = conn;
    l->cb = cb;
    l->opaque = opaque;
    l->uri = g_strdup_printf("rdma:%s:%s", addr->host, addr->port);
    l->watch = g_unix_fd_add(ops->listen_fd(conn), G_IO_IN,
                             rdma_listener_accept, l);
    trace_rdma_listen(l->uri);
    return l;
}

char *rdma_listener_uri(RDMAListener *l)
{
    return g_strdup(l->uri);
}

void rdma_listener_close(RDMAListener *l)
{
    if (!l) {
        return;
    }
    g_source_remove(l->watch);
    l->ops->close(l->conn);
    g_free(l->uri);
    g_free(l);
}
