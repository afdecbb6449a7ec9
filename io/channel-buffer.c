/*
 * Buffer channels.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "io/channel-buffer.h"
#include "channel-internal.h"

typedef struct QIOChannelBuffer {
    QIOChannel parent;
    GMutex lock;
    uint8_t *data;          /* protected by lock */
    size_t capacity;        /* protected by lock */
    size_t usage;           /* protected by lock: bytes of valid data */
    size_t offset;          /* protected by lock: next read/write */
    uint64_t writes;        /* protected by lock: write calls */
} QIOChannelBuffer;

static const QIOChannelOps qio_channel_buffer_ops;

static QIOChannelBuffer *qio_channel_buffer(QIOChannel *ioc)
{
    assert(qio_channel_is_kind(ioc, &qio_channel_buffer_ops));
    return (QIOChannelBuffer *)ioc;
}

bool qio_channel_is_buffer(QIOChannel *ioc)
{
    return qio_channel_is_kind(ioc, &qio_channel_buffer_ops);
}

QIOChannel *qio_channel_buffer_new(size_t capacity)
{
    QIOChannelBuffer *bioc = g_new0(QIOChannelBuffer, 1);

    qio_channel_init(&bioc->parent, &qio_channel_buffer_ops);
    g_mutex_init(&bioc->lock);
    bioc->capacity = capacity;
    bioc->data = g_malloc(capacity ? capacity : 1);
    qio_channel_set_feature(&bioc->parent, QIO_CHANNEL_FEATURE_SEEKABLE);
    return &bioc->parent;
}

QIOChannel *qio_channel_buffer_new_data(const void *data, size_t len)
{
    QIOChannel *ioc = qio_channel_buffer_new(len);
    QIOChannelBuffer *bioc = qio_channel_buffer(ioc);

    memcpy(bioc->data, data, len);
    bioc->usage = len;
    return ioc;
}

uint8_t *qio_channel_buffer_dup_data(QIOChannel *ioc, size_t *len)
{
    QIOChannelBuffer *bioc = qio_channel_buffer(ioc);
    uint8_t *copy;

    g_mutex_lock(&bioc->lock);
    copy = g_memdup2(bioc->data, bioc->usage ? bioc->usage : 1);
    *len = bioc->usage;
    g_mutex_unlock(&bioc->lock);
    return copy;
}

static size_t qio_channel_buffer_get_locked(QIOChannel *ioc, size_t *field)
{
    QIOChannelBuffer *bioc = qio_channel_buffer(ioc);
    size_t v;

    g_mutex_lock(&bioc->lock);
    v = *field;
    g_mutex_unlock(&bioc->lock);
    return v;
}

size_t qio_channel_buffer_get_usage(QIOChannel *ioc)
{
    return qio_channel_buffer_get_locked(ioc,
                                         &qio_channel_buffer(ioc)->usage);
}

size_t qio_channel_buffer_get_offset(QIOChannel *ioc)
{
    return qio_channel_buffer_get_locked(ioc,
                                         &qio_channel_buffer(ioc)->offset);
}

uint64_t qio_channel_buffer_get_write_count(QIOChannel *ioc)
{
    QIOChannelBuffer *bioc = qio_channel_buffer(ioc);
    uint64_t v;

    g_mutex_lock(&bioc->lock);
    v = bioc->writes;
    g_mutex_unlock(&bioc->lock);
    return v;
}

/* Copy out from @pos; returns bytes copied.  Lock held. */
static size_t qio_channel_buffer_copy_out(QIOChannelBuffer *bioc,
                                          const struct iovec *iov,
                                          size_t niov, size_t pos)
{
    size_t done = 0;

    for (size_t i = 0; i < niov && pos < bioc->usage; i++) {
        size_t n = MIN(iov[i].iov_len, bioc->usage - pos);

        memcpy(iov[i].iov_base, bioc->data + pos, n);
        pos += n;
        done += n;
    }
    return done;
}

/* Copy in at @pos, growing as needed; returns bytes copied.  Lock held. */
static size_t qio_channel_buffer_copy_in(QIOChannelBuffer *bioc,
                                         const struct iovec *iov,
                                         size_t niov, size_t pos)
{
    size_t total = 0;

    for (size_t i = 0; i < niov; i++) {
        total += iov[i].iov_len;
    }
    if (pos + total > bioc->capacity) {
        bioc->capacity = MAX(bioc->capacity * 2, pos + total);
        bioc->data = g_realloc(bioc->data, bioc->capacity);
    }
    if (pos > bioc->usage) {
        /* A hole after a seek past the end reads as zeros. */
        memset(bioc->data + bioc->usage, 0, pos - bioc->usage);
    }
    for (size_t i = 0; i < niov; i++) {
        memcpy(bioc->data + pos, iov[i].iov_base, iov[i].iov_len);
        pos += iov[i].iov_len;
    }
    bioc->usage = MAX(bioc->usage, pos);
    bioc->writes++;
    return total;
}

static ssize_t qio_channel_buffer_readv(QIOChannel *ioc,
                                        const struct iovec *iov, size_t niov,
                                        int **fds, size_t *nfds, int flags,
                                        Error **errp)
{
    QIOChannelBuffer *bioc = qio_channel_buffer(ioc);
    size_t n;

    g_mutex_lock(&bioc->lock);
    n = qio_channel_buffer_copy_out(bioc, iov, niov, bioc->offset);
    if (!(flags & QIO_CHANNEL_READ_FLAG_MSG_PEEK)) {
        bioc->offset += n;
    }
    g_mutex_unlock(&bioc->lock);
    return n;
}

static ssize_t qio_channel_buffer_writev(QIOChannel *ioc,
                                         const struct iovec *iov, size_t niov,
                                         int *fds, size_t nfds, int flags,
                                         Error **errp)
{
    QIOChannelBuffer *bioc = qio_channel_buffer(ioc);
    size_t n;

    g_mutex_lock(&bioc->lock);
    n = qio_channel_buffer_copy_in(bioc, iov, niov, bioc->offset);
    bioc->offset += n;
    g_mutex_unlock(&bioc->lock);
    return n;
}

static ssize_t qio_channel_buffer_preadv(QIOChannel *ioc,
                                         const struct iovec *iov, size_t niov,
                                         off_t offset, Error **errp)
{
    QIOChannelBuffer *bioc = qio_channel_buffer(ioc);
    size_t n;

    if (offset < 0) {
        error_setg(errp, "Negative offset %" PRId64, (int64_t)offset);
        return -1;
    }
    g_mutex_lock(&bioc->lock);
    n = qio_channel_buffer_copy_out(bioc, iov, niov, offset);
    g_mutex_unlock(&bioc->lock);
    return n;
}

static ssize_t qio_channel_buffer_pwritev(QIOChannel *ioc,
                                          const struct iovec *iov,
                                          size_t niov, off_t offset,
                                          Error **errp)
{
    QIOChannelBuffer *bioc = qio_channel_buffer(ioc);
    size_t n;

    if (offset < 0) {
        error_setg(errp, "Negative offset %" PRId64, (int64_t)offset);
        return -1;
    }
    g_mutex_lock(&bioc->lock);
    n = qio_channel_buffer_copy_in(bioc, iov, niov, offset);
    g_mutex_unlock(&bioc->lock);
    return n;
}

static off_t qio_channel_buffer_seek(QIOChannel *ioc, off_t offset,
                                     int whence, Error **errp)
{
    QIOChannelBuffer *bioc = qio_channel_buffer(ioc);
    int64_t base, pos;

    g_mutex_lock(&bioc->lock);
    base = whence == SEEK_SET ? 0 :
           whence == SEEK_CUR ? (int64_t)bioc->offset :
           whence == SEEK_END ? (int64_t)bioc->usage : -1;
    pos = base + offset;
    if (base < 0 || pos < 0) {
        g_mutex_unlock(&bioc->lock);
        error_setg(errp, "Invalid seek (offset %" PRId64 ", whence %d) on "
                   "buffer channel '%s'", (int64_t)offset, whence,
                   qio_channel_get_name(ioc));
        return -1;
    }
    bioc->offset = pos;
    g_mutex_unlock(&bioc->lock);
    return pos;
}

static int qio_channel_buffer_close(QIOChannel *ioc, Error **errp)
{
    /* The data stays readable through dup_data until the last unref. */
    return 0;
}

static void qio_channel_buffer_finalize(QIOChannel *ioc)
{
    QIOChannelBuffer *bioc = qio_channel_buffer(ioc);

    g_free(bioc->data);
    g_mutex_clear(&bioc->lock);
}

static const QIOChannelOps qio_channel_buffer_ops = {
    .type_name = "buffer",
    .io_readv = qio_channel_buffer_readv,
    .io_writev = qio_channel_buffer_writev,
    .io_preadv = qio_channel_buffer_preadv,
    .io_pwritev = qio_channel_buffer_pwritev,
    .io_seek = qio_channel_buffer_seek,
    .io_close = qio_channel_buffer_close,
    .io_finalize = qio_channel_buffer_finalize,
};
