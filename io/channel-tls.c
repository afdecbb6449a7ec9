/*
 * TLS over another QIOChannel (include/io/channel-tls.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <poll.h>
#include "io/channel-tls.h"
#include "crypto/tlssession.h"
#include "channel-internal.h"
#include "trace.h"

typedef struct QIOChannelTLS {
    QIOChannel parent;
    QIOChannel *master;             /* a reference; immutable */
    QCryptoTLSSession *session;     /* immutable after creation */
    bool handshake_done;            /* set once by the handshake thread */
    /*
     * Records a blocking write encrypts, gathered for one write to the
     * master: a 16 KiB record per write would cost a syscall and a wakeup
     * of the reader each.  Only the writing thread touches these.
     */
    bool batching;
    uint8_t *batch;                 /* QIO_CHANNEL_TLS_BATCH bytes */
    size_t batch_len;
    /*
     * Read-ahead: GnuTLS asks for a record's 5-byte header, then for its
     * body, two reads of the master per 16 KiB record; this serves both
     * from one large read.  Only the reading thread touches these.
     */
    uint8_t *rbuf;                  /* QIO_CHANNEL_TLS_BATCH bytes */
    size_t rbuf_pos, rbuf_len;
} QIOChannelTLS;

/* Enough for 16 full records; the master gets at most this per write. */
#define QIO_CHANNEL_TLS_BATCH (256 * 1024)

static const QIOChannelOps qio_channel_tls_ops;

static QIOChannelTLS *qio_channel_tls(QIOChannel *ioc)
{
    assert(qio_channel_is_kind(ioc, &qio_channel_tls_ops));
    return (QIOChannelTLS *)ioc;
}

bool qio_channel_is_tls(QIOChannel *ioc)
{
    return qio_channel_is_kind(ioc, &qio_channel_tls_ops);
}

QIOChannel *qio_channel_tls_get_master(QIOChannel *ioc)
{
    return qio_channel_tls(ioc)->master;
}

const char *qio_channel_tls_get_peer_name(QIOChannel *ioc)
{
    return qcrypto_tls_session_get_peer_name(qio_channel_tls(ioc)->session);
}

/* A master channel's result as GnuTLS's transport wants it (errno). */
static ssize_t qio_channel_tls_transport_ret(ssize_t ret)
{
    if (ret == QIO_CHANNEL_ERR_BLOCK) {
        errno = EAGAIN;
        return -1;
    }
    if (ret < 0) {
        errno = errno && errno != EAGAIN ? errno : EIO;
    }
    return ret;
}

/* Write out the gathered records (blocking master); false on error. */
static bool qio_channel_tls_flush_batch(QIOChannelTLS *tioc, Error **errp)
{
    int ret;

    if (!tioc->batch_len) {
        return true;
    }
    ret = qio_channel_write_all(tioc->master, (char *)tioc->batch,
                                tioc->batch_len, errp);
    trace_qio_channel_tls_flush_batch(tioc, tioc->batch_len, ret == 0);
    tioc->batch_len = 0;
    return ret == 0;
}

/* Gather @iov into the batch, flushing it as it fills. */
static ssize_t qio_channel_tls_push_batch(QIOChannelTLS *tioc,
                                          const struct iovec *iov, int niov)
{
    ssize_t total = 0;

    for (int i = 0; i < niov; i++) {
        const uint8_t *p = iov[i].iov_base;
        size_t left = iov[i].iov_len;

        while (left) {
            size_t n = MIN(left, QIO_CHANNEL_TLS_BATCH - tioc->batch_len);

            memcpy(tioc->batch + tioc->batch_len, p, n);
            tioc->batch_len += n;
            p += n;
            left -= n;
            if (tioc->batch_len == QIO_CHANNEL_TLS_BATCH &&
                !qio_channel_tls_flush_batch(tioc, NULL)) {
                errno = EIO;
                return -1;
            }
        }
        total += iov[i].iov_len;
    }
    return total;
}

/* GnuTLS's transport: the master channel, in whatever mode it is in. */
static ssize_t qio_channel_tls_push(const struct iovec *iov, int niov,
                                    void *opaque)
{
    QIOChannelTLS *tioc = opaque;

    if (tioc->batching) {
        return qio_channel_tls_push_batch(tioc, iov, niov);
    }
    return qio_channel_tls_transport_ret(
        qio_channel_writev(tioc->master, iov, niov, NULL));
}

static ssize_t qio_channel_tls_pull(void *buf, size_t len, void *opaque)
{
    QIOChannelTLS *tioc = opaque;
    ssize_t n;

    if (tioc->rbuf_pos == tioc->rbuf_len) {
        if (!tioc->rbuf) {
            tioc->rbuf = g_malloc(QIO_CHANNEL_TLS_BATCH);
        }
        n = qio_channel_read(tioc->master, (char *)tioc->rbuf,
                             QIO_CHANNEL_TLS_BATCH, NULL);
        if (n <= 0) {
            return qio_channel_tls_transport_ret(n);
        }
        tioc->rbuf_pos = 0;
        tioc->rbuf_len = n;
    }
    n = MIN(len, tioc->rbuf_len - tioc->rbuf_pos);
    memcpy(buf, tioc->rbuf + tioc->rbuf_pos, n);
    tioc->rbuf_pos += n;
    return n;
}

static QIOChannel *qio_channel_tls_new(QIOChannel *master,
                                       QCryptoTLSCreds *creds,
                                       const char *hostname,
                                       const char *authzid,
                                       QCryptoTLSCredsEndpoint endpoint,
                                       Error **errp)
{
    QCryptoTLSSession *session;
    QIOChannelTLS *tioc;

    session = qcrypto_tls_session_new(creds, hostname, authzid, endpoint,
                                      errp);
    if (!session) {
        return NULL;
    }
    tioc = g_new0(QIOChannelTLS, 1);
    qio_channel_init(&tioc->parent, &qio_channel_tls_ops);
    tioc->master = qio_channel_ref(master);
    tioc->session = session;
    qcrypto_tls_session_set_callbacks(session, qio_channel_tls_push,
                                      qio_channel_tls_pull, tioc);
    if (qio_channel_has_feature(master, QIO_CHANNEL_FEATURE_SHUTDOWN)) {
        qio_channel_set_feature(&tioc->parent, QIO_CHANNEL_FEATURE_SHUTDOWN);
    }
    trace_qio_channel_tls_new(tioc, master,
                              endpoint == QCRYPTO_TLS_CREDS_ENDPOINT_SERVER,
                              qcrypto_tls_creds_id(creds));
    return &tioc->parent;
}

QIOChannel *qio_channel_tls_new_client(QIOChannel *master,
                                       QCryptoTLSCreds *creds,
                                       const char *hostname, Error **errp)
{
    return qio_channel_tls_new(master, creds, hostname, NULL,
                               QCRYPTO_TLS_CREDS_ENDPOINT_CLIENT, errp);
}

QIOChannel *qio_channel_tls_new_server(QIOChannel *master,
                                       QCryptoTLSCreds *creds,
                                       const char *authzid, Error **errp)
{
    return qio_channel_tls_new(master, creds, NULL, authzid,
                               QCRYPTO_TLS_CREDS_ENDPOINT_SERVER, errp);
}

/* Wait for the master to be ready for @direction until @deadline (ms). */
static bool qio_channel_tls_wait(QIOChannelTLS *tioc, int direction,
                                 gint64 deadline, Error **errp)
{
    QIOChannel *m = tioc->master;
    struct pollfd pfd = {
        .fd = m->ops->io_poll_fd ? m->ops->io_poll_fd(m, direction) : -1,
        .events = direction == G_IO_IN ? POLLIN : POLLOUT,
    };
    int ret;

    if (pfd.fd < 0) {
        return true;
    }
    do {
        int timeout = -1;

        if (deadline) {
            timeout = MAX(0, (deadline - g_get_monotonic_time()) / 1000);
        }
        ret = poll(&pfd, 1, timeout);
    } while (ret < 0 && errno == EINTR);
    if (ret == 0) {
        error_setg(errp, "TLS handshake timed out: the peer did not answer");
        return false;
    }
    return true;
}

bool qio_channel_tls_handshake(QIOChannel *ioc, unsigned int timeout_ms,
                               Error **errp)
{
    QIOChannelTLS *tioc = qio_channel_tls(ioc);
    gint64 deadline = timeout_ms ? g_get_monotonic_time() +
                      (gint64)timeout_ms * 1000 : 0;
    bool was_blocking = qio_channel_is_blocking(tioc->master);
    g_autofree char *desc = NULL;
    bool ok = false;
    int ret;

    /* Non-blocking underneath, so that the wait below can time out. */
    if (qio_channel_set_blocking(tioc->master, false, errp) < 0) {
        return false;
    }
    for (;;) {
        ret = qcrypto_tls_session_handshake(tioc->session, errp);
        if (ret != 0) {
            ok = ret > 0;
            break;
        }
        if (!qio_channel_tls_wait(tioc, qcrypto_tls_session_get_direction(
                                      tioc->session), deadline, errp)) {
            break;
        }
    }
    if (qio_channel_set_blocking(tioc->master, was_blocking,
                                 ok ? errp : NULL) < 0) {
        ok = false;
    }
    tioc->handshake_done = ok;
    /* Once per channel: the negotiated suite is worth the string. */
    desc = qcrypto_tls_session_get_desc(tioc->session);
    trace_qio_channel_tls_handshake(tioc, ok, desc,
        qcrypto_tls_session_get_peer_name(tioc->session) ?: "");
    return ok;
}

static bool qio_channel_tls_check_ready(QIOChannelTLS *tioc, Error **errp)
{
    if (!tioc->handshake_done) {
        error_setg(errp, "TLS channel used before its handshake succeeded");
        return false;
    }
    return true;
}

static ssize_t qio_channel_tls_readv(QIOChannel *ioc,
                                     const struct iovec *iov, size_t niov,
                                     int **fds, size_t *nfds, int flags,
                                     Error **errp)
{
    QIOChannelTLS *tioc = qio_channel_tls(ioc);
    ssize_t n;

    if (!qio_channel_tls_check_ready(tioc, errp)) {
        return -1;
    }
    if (flags & QIO_CHANNEL_READ_FLAG_MSG_PEEK) {
        error_setg(errp, "TLS channels cannot peek");
        return -1;
    }
    /* One record at most per call: a short read is a valid answer. */
    for (size_t i = 0; i < niov; i++) {
        if (iov[i].iov_len) {
            n = qcrypto_tls_session_read(tioc->session, iov[i].iov_base,
                                         iov[i].iov_len, errp);
            return n == -EAGAIN ? QIO_CHANNEL_ERR_BLOCK : n;
        }
    }
    return 0;
}

static ssize_t qio_channel_tls_writev(QIOChannel *ioc,
                                      const struct iovec *iov, size_t niov,
                                      int *fds, size_t nfds, int flags,
                                      Error **errp)
{
    QIOChannelTLS *tioc = qio_channel_tls(ioc);
    ssize_t n;

    if (!qio_channel_tls_check_ready(tioc, errp)) {
        return -1;
    }
    if (flags & QIO_CHANNEL_WRITE_FLAG_ZERO_COPY) {
        error_setg(errp, "TLS channels cannot send zero-copy");
        return -1;
    }
    if (qio_channel_is_blocking(ioc)) {
        /*
         * Small pieces (page headers) share records with the pages, and
         * the records go out together.
         */
        if (!tioc->batch) {
            tioc->batch = g_malloc(QIO_CHANNEL_TLS_BATCH);
        }
        tioc->batching = true;
        n = qcrypto_tls_session_writev_all(tioc->session, iov, niov, errp);
        tioc->batching = false;
        if (n < 0) {
            tioc->batch_len = 0;
            return -1;
        }
        return qio_channel_tls_flush_batch(tioc, errp) ? n : -1;
    }
    for (size_t i = 0; i < niov; i++) {
        if (iov[i].iov_len) {
            n = qcrypto_tls_session_write(tioc->session, iov[i].iov_base,
                                          iov[i].iov_len, errp);
            return n == -EAGAIN ? QIO_CHANNEL_ERR_BLOCK : n;
        }
    }
    return 0;
}

static int qio_channel_tls_close(QIOChannel *ioc, Error **errp)
{
    /*
     * No close_notify: the peer may be gone, and a blocking alert send
     * could hang the closing thread.  Readers treat the missing
     * close_notify as end of stream (the stream has its own end marker).
     */
    return qio_channel_close(qio_channel_tls(ioc)->master, errp);
}

static int qio_channel_tls_shutdown(QIOChannel *ioc, QIOChannelShutdown how,
                                    Error **errp)
{
    return qio_channel_shutdown(qio_channel_tls(ioc)->master, how, errp);
}

static int qio_channel_tls_set_blocking(QIOChannel *ioc, bool enabled,
                                        Error **errp)
{
    return qio_channel_set_blocking(qio_channel_tls(ioc)->master, enabled,
                                    errp);
}

static void qio_channel_tls_set_delay(QIOChannel *ioc, bool enabled)
{
    qio_channel_set_delay(qio_channel_tls(ioc)->master, enabled);
}

static int qio_channel_tls_poll_fd(QIOChannel *ioc, GIOCondition direction)
{
    QIOChannel *m = qio_channel_tls(ioc)->master;

    return m->ops->io_poll_fd ? m->ops->io_poll_fd(m, direction) : -1;
}

static void qio_channel_tls_finalize(QIOChannel *ioc)
{
    QIOChannelTLS *tioc = qio_channel_tls(ioc);

    qcrypto_tls_session_free(tioc->session);
    qio_channel_unref(tioc->master);
    g_free(tioc->batch);
    g_free(tioc->rbuf);
}

static const QIOChannelOps qio_channel_tls_ops = {
    .type_name = "tls",
    .io_readv = qio_channel_tls_readv,
    .io_writev = qio_channel_tls_writev,
    .io_close = qio_channel_tls_close,
    .io_shutdown = qio_channel_tls_shutdown,
    .io_set_blocking = qio_channel_tls_set_blocking,
    .io_set_delay = qio_channel_tls_set_delay,
    .io_poll_fd = qio_channel_tls_poll_fd,
    .io_finalize = qio_channel_tls_finalize,
};
