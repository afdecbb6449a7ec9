/*
 * File channels.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "io/channel-file.h"
#include "channel-internal.h"
#include "trace.h"

typedef struct QIOChannelFile {
    QIOChannel parent;
    int fd;     /* set at creation, -1 after close (owner thread) */
} QIOChannelFile;

static const QIOChannelOps qio_channel_file_ops;

static QIOChannelFile *qio_channel_file(QIOChannel *ioc)
{
    assert(qio_channel_is_kind(ioc, &qio_channel_file_ops));
    return (QIOChannelFile *)ioc;
}

bool qio_channel_is_file(QIOChannel *ioc)
{
    return qio_channel_is_kind(ioc, &qio_channel_file_ops);
}

QIOChannel *qio_channel_file_new_fd(int fd)
{
    QIOChannelFile *fioc = g_new0(QIOChannelFile, 1);
    struct stat st;

    qio_channel_init(&fioc->parent, &qio_channel_file_ops);
    fioc->fd = fd;
    if (fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
        qio_channel_set_feature(&fioc->parent, QIO_CHANNEL_FEATURE_SEEKABLE);
    }
    trace_qio_channel_file_new(fioc, fd);
    return &fioc->parent;
}

QIOChannel *qio_channel_file_new_path(const char *path, int flags,
                                      mode_t mode, Error **errp)
{
    int fd = open(path, flags | O_CLOEXEC, mode);

    if (fd < 0) {
        error_setg_errno(errp, errno, "Unable to open file '%s'", path);
        return NULL;
    }
    return qio_channel_file_new_fd(fd);
}

int qio_channel_file_get_fd(QIOChannel *ioc)
{
    return qio_channel_file(ioc)->fd;
}

static ssize_t qio_channel_file_readv(QIOChannel *ioc,
                                      const struct iovec *iov, size_t niov,
                                      int **fds, size_t *nfds, int flags,
                                      Error **errp)
{
    ssize_t ret = RETRY_ON_EINTR(readv(qio_channel_file(ioc)->fd, iov, niov));

    if (ret < 0) {
        if (errno == EAGAIN) {
            return QIO_CHANNEL_ERR_BLOCK;
        }
        error_setg_errno(errp, errno, "Unable to read from file '%s'",
                         qio_channel_get_name(ioc));
        return -1;
    }
    return ret;
}

static ssize_t qio_channel_file_writev(QIOChannel *ioc,
                                       const struct iovec *iov, size_t niov,
                                       int *fds, size_t nfds, int flags,
                                       Error **errp)
{
    ssize_t ret = RETRY_ON_EINTR(writev(qio_channel_file(ioc)->fd, iov, niov));

    if (ret < 0) {
        if (errno == EAGAIN) {
            return QIO_CHANNEL_ERR_BLOCK;
        }
        error_setg_errno(errp, errno, "Unable to write to file '%s'",
                         qio_channel_get_name(ioc));
        return -1;
    }
    return ret;
}

static ssize_t qio_channel_file_preadv(QIOChannel *ioc,
                                       const struct iovec *iov, size_t niov,
                                       off_t offset, Error **errp)
{
    ssize_t ret = RETRY_ON_EINTR(preadv(qio_channel_file(ioc)->fd, iov, niov,
                                        offset));

    if (ret < 0) {
        error_setg_errno(errp, errno, "Unable to read file '%s' at offset "
                         "%" PRId64, qio_channel_get_name(ioc),
                         (int64_t)offset);
    }
    return ret < 0 ? -1 : ret;
}

static ssize_t qio_channel_file_pwritev(QIOChannel *ioc,
                                        const struct iovec *iov, size_t niov,
                                        off_t offset, Error **errp)
{
    ssize_t ret = RETRY_ON_EINTR(pwritev(qio_channel_file(ioc)->fd, iov, niov,
                                         offset));

    if (ret < 0) {
        error_setg_errno(errp, errno, "Unable to write file '%s' at offset "
                         "%" PRId64, qio_channel_get_name(ioc),
                         (int64_t)offset);
    }
    return ret < 0 ? -1 : ret;
}

static off_t qio_channel_file_seek(QIOChannel *ioc, off_t offset, int whence,
                                   Error **errp)
{
    off_t ret = lseek(qio_channel_file(ioc)->fd, offset, whence);

    if (ret < 0) {
        error_setg_errno(errp, errno, "Unable to seek file '%s' to offset "
                         "%" PRId64, qio_channel_get_name(ioc),
                         (int64_t)offset);
        return -1;
    }
    return ret;
}

static int qio_channel_file_close(QIOChannel *ioc, Error **errp)
{
    QIOChannelFile *fioc = qio_channel_file(ioc);
    int ret = 0;

    if (fioc->fd >= 0 && close(fioc->fd) < 0) {
        error_setg_errno(errp, errno, "Unable to close file '%s'",
                         qio_channel_get_name(ioc));
        ret = -1;
    }
    fioc->fd = -1;
    return ret;
}

static int qio_channel_file_set_blocking(QIOChannel *ioc, bool enabled,
                                         Error **errp)
{
    return qio_channel_fd_set_blocking(qio_channel_file(ioc)->fd, enabled,
                                       errp);
}

static int qio_channel_file_poll_fd(QIOChannel *ioc, GIOCondition dir)
{
    return qio_channel_file(ioc)->fd;
}

static const QIOChannelOps qio_channel_file_ops = {
    .type_name = "file",
    .io_readv = qio_channel_file_readv,
    .io_writev = qio_channel_file_writev,
    .io_preadv = qio_channel_file_preadv,
    .io_pwritev = qio_channel_file_pwritev,
    .io_seek = qio_channel_file_seek,
    .io_close = qio_channel_file_close,
    .io_set_blocking = qio_channel_file_set_blocking,
    .io_poll_fd = qio_channel_file_poll_fd,
};
