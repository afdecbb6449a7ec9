/*
 * QIOChannel: the generic layer.  Argument checks, the "all" loops that
 * wait for a blocked channel, reference counting and trace points live
 * here; each kind implements only its QIOChannelOps hooks.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <poll.h>
#include "io/channel.h"
#include "channel-internal.h"
#include "trace.h"

void qio_channel_init(QIOChannel *ioc, const QIOChannelOps *ops)
{
    assert(ops->io_readv && ops->io_writev && ops->io_close);
    ioc->ops = ops;
    ioc->refcount = 1;
    ioc->blocking = true;
    trace_qio_channel_new(ioc, ops->type_name);
}

QIOChannel *qio_channel_ref(QIOChannel *ioc)
{
    __atomic_fetch_add(&ioc->refcount, 1, __ATOMIC_RELAXED);
    return ioc;
}

void qio_channel_unref(QIOChannel *ioc)
{
    if (!ioc) {
        return;
    }
    if (__atomic_sub_fetch(&ioc->refcount, 1, __ATOMIC_ACQ_REL) > 0) {
        return;
    }
    trace_qio_channel_finalize(ioc, ioc->name ? ioc->name : "");
    qio_channel_close(ioc, NULL);
    if (ioc->ops->io_finalize) {
        ioc->ops->io_finalize(ioc);
    }
    g_free(ioc->name);
    g_free(ioc);
}

void qio_channel_set_name(QIOChannel *ioc, const char *name)
{
    g_free(ioc->name);
    ioc->name = g_strdup(name);
}

const char *qio_channel_get_name(QIOChannel *ioc)
{
    return ioc->name ? ioc->name : ioc->ops->type_name;
}

const char *qio_channel_get_type(QIOChannel *ioc)
{
    return ioc->ops->type_name;
}

bool qio_channel_has_feature(QIOChannel *ioc, QIOChannelFeature feature)
{
    return ioc->features & (1u << feature);
}

void qio_channel_set_feature(QIOChannel *ioc, QIOChannelFeature feature)
{
    ioc->features |= 1u << feature;
}

static bool qio_channel_check_open(QIOChannel *ioc, Error **errp)
{
    if (__atomic_load_n(&ioc->closed, __ATOMIC_ACQUIRE)) {
        error_setg(errp, "Channel '%s' is closed", qio_channel_get_name(ioc));
        return false;
    }
    return true;
}

static bool qio_channel_check_fds(QIOChannel *ioc, bool want_fds,
                                  Error **errp)
{
    if (want_fds &&
        !qio_channel_has_feature(ioc, QIO_CHANNEL_FEATURE_FD_PASS)) {
        error_setg(errp, "Channel '%s' does not support file descriptor "
                   "passing", qio_channel_get_name(ioc));
        return false;
    }
    return true;
}

ssize_t qio_channel_readv_full(QIOChannel *ioc, const struct iovec *iov,
                               size_t niov, int **fds, size_t *nfds,
                               int flags, Error **errp)
{
    ssize_t ret;

    if (fds) {
        *fds = NULL;
        *nfds = 0;
    }
    if (!qio_channel_check_open(ioc, errp) ||
        !qio_channel_check_fds(ioc, fds != NULL, errp)) {
        return -1;
    }
    ret = ioc->ops->io_readv(ioc, iov, niov, fds, nfds, flags, errp);
    trace_qio_channel_readv(ioc, niov, ret);
    return ret;
}

ssize_t qio_channel_writev_full(QIOChannel *ioc, const struct iovec *iov,
                                size_t niov, int *fds, size_t nfds,
                                int flags, Error **errp)
{
    ssize_t ret;

    if (!qio_channel_check_open(ioc, errp) ||
        !qio_channel_check_fds(ioc, nfds > 0, errp)) {
        return -1;
    }
    if ((flags & QIO_CHANNEL_WRITE_FLAG_ZERO_COPY) &&
        !qio_channel_has_feature(ioc, QIO_CHANNEL_FEATURE_WRITE_ZERO_COPY)) {
        error_setg(errp, "Channel '%s' does not support zero-copy writes",
                   qio_channel_get_name(ioc));
        return -1;
    }
    ret = ioc->ops->io_writev(ioc, iov, niov, fds, nfds, flags, errp);
    trace_qio_channel_writev(ioc, niov, ret);
    return ret;
}

ssize_t qio_channel_readv(QIOChannel *ioc, const struct iovec *iov,
                          size_t niov, Error **errp)
{
    return qio_channel_readv_full(ioc, iov, niov, NULL, NULL, 0, errp);
}

ssize_t qio_channel_writev(QIOChannel *ioc, const struct iovec *iov,
                           size_t niov, Error **errp)
{
    return qio_channel_writev_full(ioc, iov, niov, NULL, 0, 0, errp);
}

ssize_t qio_channel_read(QIOChannel *ioc, void *buf, size_t buflen,
                         Error **errp)
{
    struct iovec iov = { .iov_base = buf, .iov_len = buflen };

    return qio_channel_readv(ioc, &iov, 1, errp);
}

ssize_t qio_channel_write(QIOChannel *ioc, const void *buf, size_t buflen,
                          Error **errp)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = buflen };

    return qio_channel_writev(ioc, &iov, 1, errp);
}

/* Drop @bytes from the front of the (writable copy of the) vector. */
static void iov_advance(struct iovec **iov, size_t *niov, size_t bytes)
{
    while (*niov && bytes >= (*iov)->iov_len) {
        bytes -= (*iov)->iov_len;
        (*iov)++;
        (*niov)--;
    }
    if (*niov) {
        (*iov)->iov_base = (char *)(*iov)->iov_base + bytes;
        (*iov)->iov_len -= bytes;
    }
}

static size_t iov_total(const struct iovec *iov, size_t niov)
{
    size_t total = 0;

    for (size_t i = 0; i < niov; i++) {
        total += iov[i].iov_len;
    }
    return total;
}

int qio_channel_readv_all_eof(QIOChannel *ioc, const struct iovec *iov,
                              size_t niov, Error **errp)
{
    g_autofree struct iovec *copy = g_memdup2(iov, niov * sizeof(*iov));
    struct iovec *cur = copy;
    size_t left = iov_total(iov, niov);
    bool partial = false;

    while (left) {
        ssize_t len = qio_channel_readv(ioc, cur, niov, errp);

        if (len == QIO_CHANNEL_ERR_BLOCK) {
            qio_channel_wait(ioc, G_IO_IN);
            continue;
        }
        if (len < 0) {
            return -1;
        }
        if (len == 0) {
            if (partial) {
                error_setg(errp, "Unexpected end-of-file on channel '%s' "
                           "before all data were read",
                           qio_channel_get_name(ioc));
                return -1;
            }
            return 0;
        }
        partial = true;
        left -= len;
        iov_advance(&cur, &niov, len);
    }
    return 1;
}

int qio_channel_readv_all(QIOChannel *ioc, const struct iovec *iov,
                          size_t niov, Error **errp)
{
    int ret = qio_channel_readv_all_eof(ioc, iov, niov, errp);

    if (ret == 0) {
        error_setg(errp, "Unexpected end-of-file on channel '%s' before "
                   "all data were read", qio_channel_get_name(ioc));
        return -1;
    }
    return ret < 0 ? -1 : 0;
}

int qio_channel_read_all_eof(QIOChannel *ioc, void *buf, size_t buflen,
                             Error **errp)
{
    struct iovec iov = { .iov_base = buf, .iov_len = buflen };

    return qio_channel_readv_all_eof(ioc, &iov, 1, errp);
}

int qio_channel_read_all(QIOChannel *ioc, void *buf, size_t buflen,
                         Error **errp)
{
    struct iovec iov = { .iov_base = buf, .iov_len = buflen };

    return qio_channel_readv_all(ioc, &iov, 1, errp);
}

int qio_channel_writev_full_all(QIOChannel *ioc, const struct iovec *iov,
                                size_t niov, int *fds, size_t nfds,
                                int flags, Error **errp)
{
    g_autofree struct iovec *copy = g_memdup2(iov, niov * sizeof(*iov));
    struct iovec *cur = copy;
    size_t left = iov_total(iov, niov);

    /* Even an empty write must deliver the fds. */
    while (left || nfds) {
        ssize_t len = qio_channel_writev_full(ioc, cur, niov, fds, nfds,
                                              flags, errp);

        if (len == QIO_CHANNEL_ERR_BLOCK) {
            qio_channel_wait(ioc, G_IO_OUT);
            continue;
        }
        if (len < 0) {
            return -1;
        }
        /* The fds travel with the first chunk only. */
        fds = NULL;
        nfds = 0;
        left -= len;
        iov_advance(&cur, &niov, len);
    }
    return 0;
}

int qio_channel_writev_all(QIOChannel *ioc, const struct iovec *iov,
                           size_t niov, Error **errp)
{
    return qio_channel_writev_full_all(ioc, iov, niov, NULL, 0, 0, errp);
}

int qio_channel_write_all(QIOChannel *ioc, const void *buf, size_t buflen,
                          Error **errp)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = buflen };

    return qio_channel_writev_all(ioc, &iov, 1, errp);
}

static bool qio_channel_check_seekable(QIOChannel *ioc, bool has_hook,
                                       Error **errp)
{
    if (!qio_channel_check_open(ioc, errp)) {
        return false;
    }
    if (!has_hook ||
        !qio_channel_has_feature(ioc, QIO_CHANNEL_FEATURE_SEEKABLE)) {
        error_setg(errp, "Channel '%s' is not seekable",
                   qio_channel_get_name(ioc));
        return false;
    }
    return true;
}

ssize_t qio_channel_preadv(QIOChannel *ioc, const struct iovec *iov,
                           size_t niov, off_t offset, Error **errp)
{
    if (!qio_channel_check_seekable(ioc, ioc->ops->io_preadv, errp)) {
        return -1;
    }
    trace_qio_channel_preadv(ioc, niov, (int64_t)offset);
    return ioc->ops->io_preadv(ioc, iov, niov, offset, errp);
}

ssize_t qio_channel_pwritev(QIOChannel *ioc, const struct iovec *iov,
                            size_t niov, off_t offset, Error **errp)
{
    if (!qio_channel_check_seekable(ioc, ioc->ops->io_pwritev, errp)) {
        return -1;
    }
    trace_qio_channel_pwritev(ioc, niov, (int64_t)offset);
    return ioc->ops->io_pwritev(ioc, iov, niov, offset, errp);
}

ssize_t qio_channel_pread(QIOChannel *ioc, void *buf, size_t buflen,
                          off_t offset, Error **errp)
{
    struct iovec iov = { .iov_base = buf, .iov_len = buflen };

    return qio_channel_preadv(ioc, &iov, 1, offset, errp);
}

ssize_t qio_channel_pwrite(QIOChannel *ioc, const void *buf, size_t buflen,
                           off_t offset, Error **errp)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = buflen };

    return qio_channel_pwritev(ioc, &iov, 1, offset, errp);
}

off_t qio_channel_io_seek(QIOChannel *ioc, off_t offset, int whence,
                          Error **errp)
{
    if (!qio_channel_check_seekable(ioc, ioc->ops->io_seek, errp)) {
        return -1;
    }
    return ioc->ops->io_seek(ioc, offset, whence, errp);
}

int qio_channel_fd_set_blocking(int fd, bool enabled, Error **errp)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0) {
        error_setg_errno(errp, errno, "Unable to read flags of fd %d", fd);
        return -1;
    }
    flags = enabled ? (flags & ~O_NONBLOCK) : (flags | O_NONBLOCK);
    if (fcntl(fd, F_SETFL, flags) < 0) {
        error_setg_errno(errp, errno, "Unable to make fd %d %s", fd,
                         enabled ? "blocking" : "non-blocking");
        return -1;
    }
    return 0;
}

int qio_channel_set_blocking(QIOChannel *ioc, bool enabled, Error **errp)
{
    if (!qio_channel_check_open(ioc, errp)) {
        return -1;
    }
    if (ioc->ops->io_set_blocking &&
        ioc->ops->io_set_blocking(ioc, enabled, errp) < 0) {
        return -1;
    }
    ioc->blocking = enabled;
    return 0;
}

bool qio_channel_is_blocking(QIOChannel *ioc)
{
    return ioc->blocking;
}

void qio_channel_set_delay(QIOChannel *ioc, bool enabled)
{
    if (ioc->ops->io_set_delay &&
        !__atomic_load_n(&ioc->closed, __ATOMIC_ACQUIRE)) {
        ioc->ops->io_set_delay(ioc, enabled);
    }
}

int qio_channel_close(QIOChannel *ioc, Error **errp)
{
    bool expected = false;

    if (!__atomic_compare_exchange_n(&ioc->closed, &expected, true, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        return 0;
    }
    trace_qio_channel_close(ioc, qio_channel_get_name(ioc));
    return ioc->ops->io_close(ioc, errp);
}

int qio_channel_shutdown(QIOChannel *ioc, QIOChannelShutdown how,
                         Error **errp)
{
    if (!ioc->ops->io_shutdown ||
        !qio_channel_has_feature(ioc, QIO_CHANNEL_FEATURE_SHUTDOWN)) {
        error_setg(errp, "Channel '%s' does not support shutdown",
                   qio_channel_get_name(ioc));
        return -1;
    }
    if (!qio_channel_check_open(ioc, errp)) {
        return -1;
    }
    trace_qio_channel_shutdown(ioc, how);
    return ioc->ops->io_shutdown(ioc, how, errp);
}

static int qio_channel_poll_fd(QIOChannel *ioc, GIOCondition direction)
{
    if (!ioc->ops->io_poll_fd ||
        __atomic_load_n(&ioc->closed, __ATOMIC_ACQUIRE)) {
        return -1;
    }
    return ioc->ops->io_poll_fd(ioc, direction);
}

void qio_channel_wait(QIOChannel *ioc, GIOCondition condition)
{
    struct pollfd pfd[2];
    nfds_t n = 0;

    if (condition & G_IO_IN) {
        pfd[n].fd = qio_channel_poll_fd(ioc, G_IO_IN);
        pfd[n].events = POLLIN;
        n += pfd[n].fd >= 0;
    }
    if (condition & G_IO_OUT) {
        pfd[n].fd = qio_channel_poll_fd(ioc, G_IO_OUT);
        pfd[n].events = POLLOUT;
        n += pfd[n].fd >= 0;
    }
    if (n == 0) {
        return;     /* never blocks: the next I/O call will say */
    }
    trace_qio_channel_wait_start(ioc, condition);
    /* POLLHUP/POLLERR also wake us: the I/O call then reports them. */
    while (poll(pfd, n, -1) < 0 && errno == EINTR) {
        /* retry */
    }
    trace_qio_channel_wait_end(ioc, condition);
}

/*
 * The watch: a GSource polling the channel's fd for each direction asked,
 * or always ready for kinds that never block.
 */
typedef struct QIOChannelWatch {
    GSource source;
    QIOChannel *ioc;            /* a reference */
    GIOCondition condition;
    gpointer tag[2];            /* g_source_add_unix_fd tags, or NULL */
} QIOChannelWatch;

static GIOCondition qio_channel_watch_revents(QIOChannelWatch *w)
{
    GIOCondition ready = 0;

    if (!w->tag[0] && !w->tag[1]) {
        return w->condition;
    }
    for (int i = 0; i < 2; i++) {
        if (w->tag[i]) {
            ready |= g_source_query_unix_fd(&w->source, w->tag[i]);
        }
    }
    /* Report hang-ups and errors so the callback tries I/O and sees them. */
    return ready & (w->condition | G_IO_HUP | G_IO_ERR);
}

static gboolean qio_channel_watch_prepare(GSource *source, gint *timeout)
{
    QIOChannelWatch *w = (QIOChannelWatch *)source;

    *timeout = -1;
    return !w->tag[0] && !w->tag[1];
}

static gboolean qio_channel_watch_check(GSource *source)
{
    return qio_channel_watch_revents((QIOChannelWatch *)source) != 0;
}

static gboolean qio_channel_watch_dispatch(GSource *source,
                                           GSourceFunc callback,
                                           gpointer user_data)
{
    QIOChannelWatch *w = (QIOChannelWatch *)source;
    /* glib stores every callback as a GSourceFunc; ours is a QIOChannelFunc. */
    QIOChannelFunc func = (QIOChannelFunc)(void (*)(void))callback;

    if (!func) {
        return G_SOURCE_REMOVE;
    }
    return func(w->ioc, qio_channel_watch_revents(w), user_data);
}

static void qio_channel_watch_finalize(GSource *source)
{
    QIOChannelWatch *w = (QIOChannelWatch *)source;

    qio_channel_unref(w->ioc);
}

static GSourceFuncs qio_channel_watch_funcs = {
    .prepare = qio_channel_watch_prepare,
    .check = qio_channel_watch_check,
    .dispatch = qio_channel_watch_dispatch,
    .finalize = qio_channel_watch_finalize,
};

GSource *qio_channel_create_watch(QIOChannel *ioc, GIOCondition condition)
{
    QIOChannelWatch *w;
    int in_fd = -1, out_fd = -1;

    w = (QIOChannelWatch *)g_source_new(&qio_channel_watch_funcs,
                                        sizeof(QIOChannelWatch));
    w->ioc = qio_channel_ref(ioc);
    w->condition = condition;
    if (condition & G_IO_IN) {
        in_fd = qio_channel_poll_fd(ioc, G_IO_IN);
    }
    if (condition & G_IO_OUT) {
        out_fd = qio_channel_poll_fd(ioc, G_IO_OUT);
    }
    if (in_fd >= 0 && in_fd == out_fd) {
        w->tag[0] = g_source_add_unix_fd(&w->source, in_fd,
                                         G_IO_IN | G_IO_OUT);
    } else {
        if (in_fd >= 0) {
            w->tag[0] = g_source_add_unix_fd(&w->source, in_fd, G_IO_IN);
        }
        if (out_fd >= 0) {
            w->tag[1] = g_source_add_unix_fd(&w->source, out_fd, G_IO_OUT);
        }
    }
    g_source_set_name(&w->source, "qio-channel-watch");
    return &w->source;
}

guint qio_channel_add_watch_full(QIOChannel *ioc, GIOCondition condition,
                                 QIOChannelFunc func, void *opaque,
                                 GDestroyNotify notify,
                                 GMainContext *context)
{
    GSource *source = qio_channel_create_watch(ioc, condition);
    guint id;

    g_source_set_callback(source, (GSourceFunc)(void (*)(void))func, opaque,
                          notify);
    id = g_source_attach(source, context);
    g_source_unref(source);
    return id;
}

guint qio_channel_add_watch(QIOChannel *ioc, GIOCondition condition,
                            QIOChannelFunc func, void *opaque,
                            GDestroyNotify notify)
{
    return qio_channel_add_watch_full(ioc, condition, func, opaque, notify,
                                      NULL);
}
