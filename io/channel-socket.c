/*
 * Socket channels.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include "io/channel-socket.h"
#include "channel-internal.h"
#include "qemu/thread.h"
#include "qemu/main-loop.h"
#include "trace.h"

/* At most this many fds in one message (the kernel allows 253). */
#define QIO_CHANNEL_SOCKET_MAX_FDS 32

typedef struct QIOChannelSocket {
    QIOChannel parent;
    /*
     * Set by connect/listen (the async connect worker owns the channel
     * until its callback runs) and cleared by close; read by the I/O
     * hooks of the reader and writer threads, which never overlap close.
     */
    int fd;
    char *unlink_path;  /* the unix socket file we created by listening */
    /*
     * qio_channel_socket_set_peer_timeout() before connecting: applied
     * by the connect (same ownership as @fd).
     */
    bool peer_timeout_pending;
    unsigned int peer_timeout_ms;
} QIOChannelSocket;

static const QIOChannelOps qio_channel_socket_ops;

static QIOChannelSocket *qio_channel_socket(QIOChannel *ioc)
{
    assert(qio_channel_is_kind(ioc, &qio_channel_socket_ops));
    return (QIOChannelSocket *)ioc;
}

bool qio_channel_is_socket(QIOChannel *ioc)
{
    return qio_channel_is_kind(ioc, &qio_channel_socket_ops);
}

QIOChannel *qio_channel_socket_new(void)
{
    QIOChannelSocket *sioc = g_new0(QIOChannelSocket, 1);

    qio_channel_init(&sioc->parent, &qio_channel_socket_ops);
    sioc->fd = -1;
    return &sioc->parent;
}

/* Take ownership of a connected or listening @fd and learn what it is. */
static int qio_channel_socket_set_fd(QIOChannelSocket *sioc, int fd,
                                     Error **errp)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int listening = 0;
    socklen_t optlen = sizeof(listening);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        error_setg_errno(errp, errno, "File descriptor %d is not a socket",
                         fd);
        close(fd);
        return -1;
    }
    sioc->fd = fd;
    qio_channel_set_feature(&sioc->parent, QIO_CHANNEL_FEATURE_SHUTDOWN);
    if (ss.ss_family == AF_UNIX) {
        qio_channel_set_feature(&sioc->parent, QIO_CHANNEL_FEATURE_FD_PASS);
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &optlen) == 0 &&
        listening) {
        qio_channel_set_feature(&sioc->parent, QIO_CHANNEL_FEATURE_LISTEN);
    }
    return 0;
}

QIOChannel *qio_channel_socket_new_fd(int fd, Error **errp)
{
    QIOChannel *ioc = qio_channel_socket_new();

    if (qio_channel_socket_set_fd(qio_channel_socket(ioc), fd, errp) < 0) {
        qio_channel_unref(ioc);
        return NULL;
    }
    trace_qio_channel_socket_new_fd(ioc, fd);
    return ioc;
}

int qio_channel_socket_connect_sync(QIOChannel *ioc,
                                    const SocketAddress *addr, Error **errp)
{
    QIOChannelSocket *sioc = qio_channel_socket(ioc);
    g_autofree char *str = socket_address_to_string(addr);
    int fd;

    trace_qio_channel_socket_connect_sync(ioc, str);
    if (sioc->fd >= 0) {
        error_setg(errp, "Socket channel '%s' is already connected",
                   qio_channel_get_name(ioc));
        return -1;
    }
    fd = socket_connect_timeout(addr, sioc->peer_timeout_pending ?
                                sioc->peer_timeout_ms : 0, errp);
    if (fd < 0) {
        return -1;
    }
    if (addr->type == SOCKET_ADDRESS_TYPE_INET) {
        /* Migration writes in big batches and wants them out at once. */
        socket_set_nodelay(fd, true);
    }
    if (qio_channel_socket_set_fd(sioc, fd, errp) < 0) {
        return -1;
    }
    if (sioc->peer_timeout_pending) {
        sioc->peer_timeout_pending = false;
        return qio_channel_socket_set_peer_timeout(ioc, sioc->peer_timeout_ms,
                                                   errp);
    }
    return 0;
}

typedef struct QIOChannelSocketConnectTask {
    QIOChannel *ioc;            /* a reference, owned by the task */
    SocketAddress *addr;
    QIOChannelSocketConnectFunc func;
    void *opaque;
    GDestroyNotify destroy;
    Error *err;                 /* written by the worker before scheduling */
} QIOChannelSocketConnectTask;

/* Main thread: deliver the result. */
static void qio_channel_socket_connect_complete(void *opaque)
{
    QIOChannelSocketConnectTask *task = opaque;

    trace_qio_channel_socket_connect_complete(
        task->ioc, qio_channel_socket(task->ioc)->fd,
        task->err ? error_get_pretty(task->err) : "");
    task->func(task->ioc, task->err, task->opaque);
    if (task->destroy) {
        task->destroy(task->opaque);
    }
    error_free(task->err);
    socket_address_free(task->addr);
    qio_channel_unref(task->ioc);
    g_free(task);
}

/* Worker thread: the only one touching the channel until completion. */
static void *qio_channel_socket_connect_worker(void *opaque)
{
    QIOChannelSocketConnectTask *task = opaque;

    qio_channel_socket_connect_sync(task->ioc, task->addr, &task->err);
    main_loop_schedule(qio_channel_socket_connect_complete, task);
    return NULL;
}

void qio_channel_socket_connect_async(QIOChannel *ioc,
                                      const SocketAddress *addr,
                                      QIOChannelSocketConnectFunc func,
                                      void *opaque, GDestroyNotify destroy)
{
    QIOChannelSocketConnectTask *task = g_new0(QIOChannelSocketConnectTask, 1);
    g_autofree char *str = socket_address_to_string(addr);
    QemuThread thread;

    qio_channel_socket(ioc);
    trace_qio_channel_socket_connect_async(ioc, str);
    task->ioc = qio_channel_ref(ioc);
    task->addr = socket_address_copy(addr);
    task->func = func;
    task->opaque = opaque;
    task->destroy = destroy;
    qemu_thread_create(&thread, "io-connect",
                       qio_channel_socket_connect_worker, task,
                       QEMU_THREAD_DETACHED);
}

int qio_channel_socket_listen_sync(QIOChannel *ioc,
                                   const SocketAddress *addr, int num,
                                   Error **errp)
{
    QIOChannelSocket *sioc = qio_channel_socket(ioc);
    g_autofree char *str = socket_address_to_string(addr);
    int fd;

    if (sioc->fd >= 0) {
        error_setg(errp, "Socket channel '%s' is already in use",
                   qio_channel_get_name(ioc));
        return -1;
    }
    fd = socket_listen(addr, num, errp);
    trace_qio_channel_socket_listen(ioc, str, fd);
    if (fd < 0) {
        return -1;
    }
    if (qio_channel_socket_set_fd(sioc, fd, errp) < 0) {
        return -1;
    }
    qio_channel_set_feature(ioc, QIO_CHANNEL_FEATURE_LISTEN);
    if (addr->type == SOCKET_ADDRESS_TYPE_UNIX) {
        sioc->unlink_path = g_strdup(addr->u.q_unix.path);
    }
    return 0;
}

QIOChannel *qio_channel_socket_accept(QIOChannel *ioc, Error **errp)
{
    QIOChannelSocket *sioc = qio_channel_socket(ioc);
    QIOChannel *client;
    int fd;

    if (!qio_channel_has_feature(ioc, QIO_CHANNEL_FEATURE_LISTEN)) {
        error_setg(errp, "Socket channel '%s' is not listening",
                   qio_channel_get_name(ioc));
        return NULL;
    }
    fd = socket_accept(sioc->fd, errp);
    trace_qio_channel_socket_accept(ioc, fd);
    if (fd < 0) {
        return NULL;
    }
    /* Clients are blocking whatever the listener is. */
    if (qio_channel_fd_set_blocking(fd, true, errp) < 0) {
        close(fd);
        return NULL;
    }
    socket_set_nodelay(fd, true);
    client = qio_channel_socket_new_fd(fd, errp);
    return client;
}

int qio_channel_socket_get_fd(QIOChannel *ioc)
{
    return qio_channel_socket(ioc)->fd;
}

static SocketAddress *qio_channel_socket_name(QIOChannel *ioc, bool local,
                                              Error **errp)
{
    QIOChannelSocket *sioc = qio_channel_socket(ioc);

    if (sioc->fd < 0) {
        error_setg(errp, "Socket channel '%s' is not connected",
                   qio_channel_get_name(ioc));
        return NULL;
    }
    return local ? socket_local_address(sioc->fd, errp)
                 : socket_remote_address(sioc->fd, errp);
}

SocketAddress *qio_channel_socket_get_local_address(QIOChannel *ioc,
                                                    Error **errp)
{
    return qio_channel_socket_name(ioc, true, errp);
}

SocketAddress *qio_channel_socket_get_remote_address(QIOChannel *ioc,
                                                     Error **errp)
{
    return qio_channel_socket_name(ioc, false, errp);
}

static bool qio_channel_socket_check_fd(QIOChannelSocket *sioc, Error **errp)
{
    if (sioc->fd < 0) {
        error_setg(errp, "Socket channel '%s' is not connected",
                   qio_channel_get_name(&sioc->parent));
        return false;
    }
    return true;
}

/* The Linux keepalive knobs are whole seconds; TCP_KEEPCNT is <= 127. */
#define QIO_KEEPALIVE_MAX_COUNT 127

static int qio_channel_socket_setsockopt(QIOChannel *ioc, int fd, int level,
                                         int opt, const char *name, int val,
                                         Error **errp)
{
    if (setsockopt(fd, level, opt, &val, sizeof(val)) < 0) {
        error_setg_errno(errp, errno, "Unable to set %s=%d on socket '%s'",
                         name, val, qio_channel_get_name(ioc));
        return -1;
    }
    return 0;
}

int qio_channel_socket_set_peer_timeout(QIOChannel *ioc,
                                        unsigned int timeout_ms,
                                        Error **errp)
{
    QIOChannelSocket *sioc = qio_channel_socket(ioc);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    unsigned int timeout_s, idle_s, intvl_s, count;
    int fd = sioc->fd;

    if (fd < 0) {
        /* Not connected yet: the connect applies it, handshake included. */
        sioc->peer_timeout_pending = true;
        sioc->peer_timeout_ms = timeout_ms;
        return 0;
    }
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        error_setg_errno(errp, errno, "Unable to query socket '%s'",
                         qio_channel_get_name(ioc));
        return -1;
    }
    if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) {
        return 0;
    }
    trace_qio_channel_socket_set_peer_timeout(ioc, fd, timeout_ms);
    if (!timeout_ms) {
        return qio_channel_socket_setsockopt(ioc, fd, IPPROTO_TCP,
                                             TCP_USER_TIMEOUT,
                                             "TCP_USER_TIMEOUT", 0, errp) < 0 ||
               qio_channel_socket_setsockopt(ioc, fd, SOL_SOCKET,
                                             SO_KEEPALIVE, "SO_KEEPALIVE",
                                             0, errp) < 0 ? -1 : 0;
    }
    /*
     * Linux ends a connection on the first keepalive probe that finds
     * nothing received for TCP_USER_TIMEOUT, so probing from half the
     * timeout on, about every tenth of it, fails a silent peer within
     * one interval after @timeout_ms.  KEEPCNT gives about the same end
     * where the user timeout does not govern keepalive.
     */
    timeout_s = MAX(timeout_ms / 1000, 1);
    idle_s = MAX(timeout_s / 2, 1);
    intvl_s = MAX(timeout_s / 10, 1);
    count = MIN(MAX((timeout_s - idle_s) / intvl_s, 1),
                QIO_KEEPALIVE_MAX_COUNT);
    if (qio_channel_socket_setsockopt(ioc, fd, IPPROTO_TCP, TCP_USER_TIMEOUT,
                                      "TCP_USER_TIMEOUT", timeout_ms,
                                      errp) < 0 ||
        qio_channel_socket_setsockopt(ioc, fd, IPPROTO_TCP, TCP_KEEPIDLE,
                                      "TCP_KEEPIDLE", idle_s, errp) < 0 ||
        qio_channel_socket_setsockopt(ioc, fd, IPPROTO_TCP, TCP_KEEPINTVL,
                                      "TCP_KEEPINTVL", intvl_s, errp) < 0 ||
        qio_channel_socket_setsockopt(ioc, fd, IPPROTO_TCP, TCP_KEEPCNT,
                                      "TCP_KEEPCNT", count, errp) < 0 ||
        qio_channel_socket_setsockopt(ioc, fd, SOL_SOCKET, SO_KEEPALIVE,
                                      "SO_KEEPALIVE", 1, errp) < 0) {
        return -1;
    }
    return 0;
}

int qio_channel_socket_set_unix_send_buffer(QIOChannel *ioc, int bytes,
                                            Error **errp)
{
    QIOChannelSocket *sioc = qio_channel_socket(ioc);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (sioc->fd < 0) {
        error_setg(errp, "Socket '%s' is not connected",
                   qio_channel_get_name(ioc));
        return -1;
    }
    if (getsockname(sioc->fd, (struct sockaddr *)&ss, &len) < 0) {
        error_setg_errno(errp, errno, "Unable to query socket '%s'",
                         qio_channel_get_name(ioc));
        return -1;
    }
    if (ss.ss_family != AF_UNIX) {
        return 0;
    }
    trace_qio_channel_socket_set_unix_send_buffer(ioc, sioc->fd, bytes);
    return qio_channel_socket_setsockopt(ioc, sioc->fd, SOL_SOCKET,
                                         SO_SNDBUF, "SO_SNDBUF", bytes,
                                         errp);
}

uint64_t qio_channel_socket_get_send_queue(QIOChannel *ioc)
{
    QIOChannelSocket *sioc = qio_channel_socket(ioc);
    int queued = 0;

    if (sioc->fd < 0 || ioctl(sioc->fd, SIOCOUTQ, &queued) < 0 ||
        queued < 0) {
        return 0;
    }
    return queued;
}

/* Move the SCM_RIGHTS fds of @msg into a g_new'd array. */
static void qio_channel_socket_collect_fds(struct msghdr *msg, int **fds,
                                           size_t *nfds)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        size_t n;

        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        if (!fds) {
            /* Nobody wants them: do not leak them. */
            for (size_t i = 0; i < n; i++) {
                int fd;

                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                close(fd);
            }
            continue;
        }
        *fds = g_renew(int, *fds, *nfds + n);
        memcpy(*fds + *nfds, CMSG_DATA(c), n * sizeof(int));
        *nfds += n;
    }
}

static ssize_t qio_channel_socket_readv(QIOChannel *ioc,
                                        const struct iovec *iov, size_t niov,
                                        int **fds, size_t *nfds, int flags,
                                        Error **errp)
{
    QIOChannelSocket *sioc = qio_channel_socket(ioc);
    union {
        char buf[CMSG_SPACE(sizeof(int) * QIO_CHANNEL_SOCKET_MAX_FDS)];
        struct cmsghdr align;
    } control;
    struct msghdr msg = {
        .msg_iov = (struct iovec *)iov,
        .msg_iovlen = niov,
    };
    int sflags = MSG_CMSG_CLOEXEC;
    ssize_t ret;

    if (!qio_channel_socket_check_fd(sioc, errp)) {
        return -1;
    }
    if (qio_channel_has_feature(ioc, QIO_CHANNEL_FEATURE_FD_PASS)) {
        msg.msg_control = control.buf;
        msg.msg_controllen = sizeof(control.buf);
    }
    if (flags & QIO_CHANNEL_READ_FLAG_MSG_PEEK) {
        sflags |= MSG_PEEK;
    }
    ret = RETRY_ON_EINTR(recvmsg(sioc->fd, &msg, sflags));
    if (ret < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return QIO_CHANNEL_ERR_BLOCK;
        }
        error_setg_errno(errp, errno, "Unable to read from socket '%s'",
                         qio_channel_get_name(ioc));
        return -1;
    }
    if (msg.msg_controllen) {
        qio_channel_socket_collect_fds(&msg, fds, nfds);
    }
    return ret;
}

static ssize_t qio_channel_socket_writev(QIOChannel *ioc,
                                         const struct iovec *iov, size_t niov,
                                         int *fds, size_t nfds, int flags,
                                         Error **errp)
{
    QIOChannelSocket *sioc = qio_channel_socket(ioc);
    union {
        char buf[CMSG_SPACE(sizeof(int) * QIO_CHANNEL_SOCKET_MAX_FDS)];
        struct cmsghdr align;
    } control;
    struct msghdr msg = {
        .msg_iov = (struct iovec *)iov,
        .msg_iovlen = niov,
    };
    ssize_t ret;

    if (!qio_channel_socket_check_fd(sioc, errp)) {
        return -1;
    }
    if (nfds) {
        struct cmsghdr *c;

        if (nfds > QIO_CHANNEL_SOCKET_MAX_FDS) {
            error_setg(errp, "Cannot pass %zu file descriptors at once "
                       "(at most %d)", nfds, QIO_CHANNEL_SOCKET_MAX_FDS);
            return -1;
        }
        memset(&control, 0, sizeof(control));
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    ret = RETRY_ON_EINTR(sendmsg(sioc->fd, &msg, MSG_NOSIGNAL));
    if (ret < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return QIO_CHANNEL_ERR_BLOCK;
        }
        error_setg_errno(errp, errno, "Unable to write to socket '%s'",
                         qio_channel_get_name(ioc));
        return -1;
    }
    return ret;
}

static int qio_channel_socket_close(QIOChannel *ioc, Error **errp)
{
    QIOChannelSocket *sioc = qio_channel_socket(ioc);
    int ret = 0;

    if (sioc->fd >= 0 && close(sioc->fd) < 0) {
        error_setg_errno(errp, errno, "Unable to close socket '%s'",
                         qio_channel_get_name(ioc));
        ret = -1;
    }
    sioc->fd = -1;
    if (sioc->unlink_path) {
        unlink(sioc->unlink_path);
        g_clear_pointer(&sioc->unlink_path, g_free);
    }
    return ret;
}

static int qio_channel_socket_shutdown(QIOChannel *ioc,
                                       QIOChannelShutdown how, Error **errp)
{
    QIOChannelSocket *sioc = qio_channel_socket(ioc);
    int mode = how == QIO_CHANNEL_SHUTDOWN_READ ? SHUT_RD :
               how == QIO_CHANNEL_SHUTDOWN_WRITE ? SHUT_WR : SHUT_RDWR;

    if (!qio_channel_socket_check_fd(sioc, errp)) {
        return -1;
    }
    if (shutdown(sioc->fd, mode) < 0) {
        error_setg_errno(errp, errno, "Unable to shut down socket '%s'",
                         qio_channel_get_name(ioc));
        return -1;
    }
    return 0;
}

static int qio_channel_socket_set_blocking(QIOChannel *ioc, bool enabled,
                                           Error **errp)
{
    QIOChannelSocket *sioc = qio_channel_socket(ioc);

    if (!qio_channel_socket_check_fd(sioc, errp)) {
        return -1;
    }
    return qio_channel_fd_set_blocking(sioc->fd, enabled, errp);
}

static void qio_channel_socket_set_delay(QIOChannel *ioc, bool enabled)
{
    QIOChannelSocket *sioc = qio_channel_socket(ioc);

    if (sioc->fd >= 0) {
        socket_set_nodelay(sioc->fd, !enabled);
    }
}

static int qio_channel_socket_poll_fd(QIOChannel *ioc, GIOCondition dir)
{
    return qio_channel_socket(ioc)->fd;
}

static const QIOChannelOps qio_channel_socket_ops = {
    .type_name = "socket",
    .io_readv = qio_channel_socket_readv,
    .io_writev = qio_channel_socket_writev,
    .io_close = qio_channel_socket_close,
    .io_shutdown = qio_channel_socket_shutdown,
    .io_set_blocking = qio_channel_socket_set_blocking,
    .io_set_delay = qio_channel_socket_set_delay,
    .io_poll_fd = qio_channel_socket_poll_fd,
};
