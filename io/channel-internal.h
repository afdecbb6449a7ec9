/*
 * QIOChannel internals: the object every kind embeds as its first member
 * and the ops table each kind fills in.  Only io/ includes this, and
 * migration/rdma-channel.c, whose kind is migration's RDMA connection.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef IO_CHANNEL_INTERNAL_H
#define IO_CHANNEL_INTERNAL_H

#include "io/channel.h"

/*
 * Hooks of one channel kind.  channel.c validates arguments (features,
 * closed state) before calling them, so a hook only does the I/O.
 *
 * Threads: io_readv/io_preadv run in the channel's reader thread and
 * io_writev/io_pwritev in its writer thread (possibly at the same time);
 * io_shutdown may run in any thread, concurrently with blocked I/O;
 * io_poll_fd may run in any thread (it only reads an fd set at creation
 * or by connect); the others run in the owner's thread with no I/O in
 * flight.  No hook takes a lock of its own except where noted in the kind.
 */
typedef struct QIOChannelOps {
    const char *type_name;
    /* Required. */
    ssize_t (*io_readv)(QIOChannel *ioc, const struct iovec *iov,
                        size_t niov, int **fds, size_t *nfds, int flags,
                        Error **errp);
    ssize_t (*io_writev)(QIOChannel *ioc, const struct iovec *iov,
                         size_t niov, int *fds, size_t nfds, int flags,
                         Error **errp);
    int (*io_close)(QIOChannel *ioc, Error **errp);
    /* Optional (a missing one fails with "not supported"). */
    ssize_t (*io_preadv)(QIOChannel *ioc, const struct iovec *iov,
                         size_t niov, off_t offset, Error **errp);
    ssize_t (*io_pwritev)(QIOChannel *ioc, const struct iovec *iov,
                          size_t niov, off_t offset, Error **errp);
    off_t (*io_seek)(QIOChannel *ioc, off_t offset, int whence,
                     Error **errp);
    int (*io_shutdown)(QIOChannel *ioc, QIOChannelShutdown how,
                       Error **errp);
    int (*io_set_blocking)(QIOChannel *ioc, bool enabled, Error **errp);
    void (*io_set_delay)(QIOChannel *ioc, bool enabled);
    /*
     * The fd to poll for one direction (G_IO_IN or G_IO_OUT), or -1 when
     * the channel never blocks (the buffer and null kinds): waits return
     * at once and watches fire at every main loop iteration.
     */
    int (*io_poll_fd)(QIOChannel *ioc, GIOCondition direction);
    /* Free the kind's state; the channel is already closed. */
    void (*io_finalize)(QIOChannel *ioc);
} QIOChannelOps;

struct QIOChannel {
    const QIOChannelOps *ops;   /* immutable */
    int refcount;               /* atomic */
    unsigned int features;      /* set up by the owner before sharing */
    char *name;                 /* owner thread only */
    bool blocking;              /* owner thread only (set_blocking) */
    bool closed;                /* atomic; set once by qio_channel_close */
};

/* Initialise @ioc (embedded at offset 0 of the kind's struct). */
void qio_channel_init(QIOChannel *ioc, const QIOChannelOps *ops);
/* True if @ioc is of the kind implemented by @ops. */
static inline bool qio_channel_is_kind(QIOChannel *ioc,
                                       const QIOChannelOps *ops)
{
    return ioc->ops == ops;
}

/* Shared helpers for fd-based kinds. */
int qio_channel_fd_set_blocking(int fd, bool enabled, Error **errp);

#endif
