/*
 * QIOChannel: one byte stream (a socket, a file, a pipe pair to a child
 * process, an in-memory buffer) behind one API, so that the migration code
 * never cares which transport a URI picked.
 *
 * A channel is an opaque, reference-counted object.  The constructors of
 * each kind (channel-socket.h, channel-file.h, channel-command.h,
 * channel-buffer.h, channel-null.h) return a QIOChannel with one reference.
 *
 * Blocking: a channel starts in blocking mode.  In non-blocking mode the
 * plain read/write calls return QIO_CHANNEL_ERR_BLOCK instead of waiting;
 * the *_all variants always wait (with poll() on the channel's fd) until
 * everything has been transferred, whatever the mode.
 *
 * Threading: a channel may be read by one thread and written by another at
 * the same time (the migration return path does this on one socket), but
 * two threads must not read (or write) concurrently.  qio_channel_shutdown()
 * may be called from any thread to unblock the others; close and unref
 * belong to the owner once the other threads are done.  Reference counting
 * is atomic.
 *
 * Errors: every call that can fail takes "Error **errp" last and returns a
 * negative value (-1, or QIO_CHANNEL_ERR_BLOCK) on failure.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef IO_CHANNEL_H
#define IO_CHANNEL_H

#include <sys/uio.h>
#include "qapi/error.h"

typedef struct QIOChannel QIOChannel;

/* Returned by the non-"all" calls when a non-blocking channel would block. */
#define QIO_CHANNEL_ERR_BLOCK -2

typedef enum QIOChannelFeature {
    QIO_CHANNEL_FEATURE_FD_PASS,        /* SCM_RIGHTS over a unix socket */
    QIO_CHANNEL_FEATURE_SHUTDOWN,       /* qio_channel_shutdown() works */
    QIO_CHANNEL_FEATURE_LISTEN,         /* a listening socket */
    QIO_CHANNEL_FEATURE_SEEKABLE,       /* preadv/pwritev/seek work */
    QIO_CHANNEL_FEATURE_WRITE_ZERO_COPY,/* MSG_ZEROCOPY sends */
} QIOChannelFeature;

typedef enum QIOChannelShutdown {
    QIO_CHANNEL_SHUTDOWN_READ = 1,
    QIO_CHANNEL_SHUTDOWN_WRITE = 2,
    QIO_CHANNEL_SHUTDOWN_BOTH = 3,
} QIOChannelShutdown;

/* readv_full flags */
#define QIO_CHANNEL_READ_FLAG_MSG_PEEK 0x1
/* writev_full flags */
#define QIO_CHANNEL_WRITE_FLAG_ZERO_COPY 0x1

/* A watch callback; return G_SOURCE_REMOVE to drop the watch. */
typedef gboolean (*QIOChannelFunc)(QIOChannel *ioc, GIOCondition condition,
                                   void *opaque);

QIOChannel *qio_channel_ref(QIOChannel *ioc);
/* Drops a reference; the last one closes the channel (if open) and frees it. */
void qio_channel_unref(QIOChannel *ioc);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QIOChannel, qio_channel_unref)

/* A name for trace points and error messages ("migration-socket-outgoing"). */
void qio_channel_set_name(QIOChannel *ioc, const char *name);
const char *qio_channel_get_name(QIOChannel *ioc);
/* The kind: "socket", "file", "command", "buffer", "null". */
const char *qio_channel_get_type(QIOChannel *ioc);

bool qio_channel_has_feature(QIOChannel *ioc, QIOChannelFeature feature);
void qio_channel_set_feature(QIOChannel *ioc, QIOChannelFeature feature);

/*
 * Scatter/gather I/O with file descriptor passing.  Reading: *@fds is set
 * to a g_new'd array of received fds (*@nfds of them; the caller owns
 * them), or NULL.  Both return the bytes transferred (0 on read means end
 * of stream), QIO_CHANNEL_ERR_BLOCK, or -1 with @errp set.  Passing fds on
 * a channel without QIO_CHANNEL_FEATURE_FD_PASS is an error.
 */
ssize_t qio_channel_readv_full(QIOChannel *ioc, const struct iovec *iov,
                               size_t niov, int **fds, size_t *nfds,
                               int flags, Error **errp);
ssize_t qio_channel_writev_full(QIOChannel *ioc, const struct iovec *iov,
                                size_t niov, int *fds, size_t nfds,
                                int flags, Error **errp);
ssize_t qio_channel_readv(QIOChannel *ioc, const struct iovec *iov,
                          size_t niov, Error **errp);
ssize_t qio_channel_writev(QIOChannel *ioc, const struct iovec *iov,
                           size_t niov, Error **errp);
ssize_t qio_channel_read(QIOChannel *ioc, void *buf, size_t buflen,
                         Error **errp);
ssize_t qio_channel_write(QIOChannel *ioc, const void *buf, size_t buflen,
                          Error **errp);

/*
 * Transfer everything, waiting as needed.  The read variants with "_eof"
 * return 0 when the stream ends before any byte was read, 1 when all was
 * read, -1 on error (an end of stream part-way is an error).  The others
 * return 0 on success, -1 on error (for reads, any end of stream).
 */
int qio_channel_readv_all_eof(QIOChannel *ioc, const struct iovec *iov,
                              size_t niov, Error **errp);
int qio_channel_readv_all(QIOChannel *ioc, const struct iovec *iov,
                          size_t niov, Error **errp);
int qio_channel_read_all_eof(QIOChannel *ioc, void *buf, size_t buflen,
                             Error **errp);
int qio_channel_read_all(QIOChannel *ioc, void *buf, size_t buflen,
                         Error **errp);
int qio_channel_writev_all(QIOChannel *ioc, const struct iovec *iov,
                           size_t niov, Error **errp);
/* Like writev_all, sending @fds with the first chunk that goes out. */
int qio_channel_writev_full_all(QIOChannel *ioc, const struct iovec *iov,
                                size_t niov, int *fds, size_t nfds,
                                int flags, Error **errp);
int qio_channel_write_all(QIOChannel *ioc, const void *buf, size_t buflen,
                          Error **errp);

/* Positioned I/O, for QIO_CHANNEL_FEATURE_SEEKABLE channels. */
ssize_t qio_channel_preadv(QIOChannel *ioc, const struct iovec *iov,
                           size_t niov, off_t offset, Error **errp);
ssize_t qio_channel_pwritev(QIOChannel *ioc, const struct iovec *iov,
                            size_t niov, off_t offset, Error **errp);
ssize_t qio_channel_pread(QIOChannel *ioc, void *buf, size_t buflen,
                          off_t offset, Error **errp);
ssize_t qio_channel_pwrite(QIOChannel *ioc, const void *buf, size_t buflen,
                           off_t offset, Error **errp);
/* Returns the new offset, or -1. */
off_t qio_channel_io_seek(QIOChannel *ioc, off_t offset, int whence,
                          Error **errp);

int qio_channel_set_blocking(QIOChannel *ioc, bool enabled, Error **errp);
bool qio_channel_is_blocking(QIOChannel *ioc);
/*
 * @enabled: allow Nagle's algorithm to delay small writes (TCP_NODELAY
 * off); false sends at once.  A no-op for kinds other than tcp sockets.
 */
void qio_channel_set_delay(QIOChannel *ioc, bool enabled);
/* Close the underlying fds; I/O afterwards fails.  Idempotent. */
int qio_channel_close(QIOChannel *ioc, Error **errp);
/* Any thread: make blocked and future I/O in direction @how end. */
int qio_channel_shutdown(QIOChannel *ioc, QIOChannelShutdown how,
                         Error **errp);

/*
 * A GSource that fires when @condition (G_IO_IN and/or G_IO_OUT) holds;
 * attach it to a GMainContext yourself.  The callback type is
 * QIOChannelFunc; the source holds a reference on @ioc.
 */
GSource *qio_channel_create_watch(QIOChannel *ioc, GIOCondition condition);
/* Attach a watch to @context (NULL: the default one); returns its id. */
guint qio_channel_add_watch_full(QIOChannel *ioc, GIOCondition condition,
                                 QIOChannelFunc func, void *opaque,
                                 GDestroyNotify notify,
                                 GMainContext *context);
guint qio_channel_add_watch(QIOChannel *ioc, GIOCondition condition,
                            QIOChannelFunc func, void *opaque,
                            GDestroyNotify notify);

/*
 * Block the calling thread until @condition holds (or the channel hangs
 * up or errs, which the next I/O call will report).  Never touches a
 * GMainContext, so it is safe from any thread.
 */
void qio_channel_wait(QIOChannel *ioc, GIOCondition condition);

#endif /* IO_CHANNEL_H */
