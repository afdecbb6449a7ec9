/*
 * Null channel.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "io/channel-null.h"
#include "channel-internal.h"

static ssize_t qio_channel_null_readv(QIOChannel *ioc,
                                      const struct iovec *iov, size_t niov,
                                      int **fds, size_t *nfds, int flags,
                                      Error **errp)
{
    return 0;
}

static ssize_t qio_channel_null_writev(QIOChannel *ioc,
                                       const struct iovec *iov, size_t niov,
                                       int *fds, size_t nfds, int flags,
                                       Error **errp)
{
    size_t total = 0;

    for (size_t i = 0; i < niov; i++) {
        total += iov[i].iov_len;
    }
    return total;
}

static int qio_channel_null_close(QIOChannel *ioc, Error **errp)
{
    return 0;
}

static const QIOChannelOps qio_channel_null_ops = {
    .type_name = "null",
    .io_readv = qio_channel_null_readv,
    .io_writev = qio_channel_null_writev,
    .io_close = qio_channel_null_close,
};

QIOChannel *qio_channel_null_new(void)
{
    QIOChannel *ioc = g_new0(QIOChannel, 1);

    qio_channel_init(ioc, &qio_channel_null_ops);
    return ioc;
}
