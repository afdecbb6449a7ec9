/*
 * QEMUFile: the buffered, big-endian migration stream (see qemu-file.h).
 *
 * Writing: small puts are copied into a 32 KiB buffer; every put also
 * appends an iovec entry (merged with the previous one when contiguous),
 * so qemu_put_buffer_async() can queue guest pages by reference next to
 * copied headers, in order, and one writev sends them all.  The iovec is
 * flushed when the buffer or the iovec array is full, or on qemu_fflush().
 *
 * Reading: the buffer is refilled from the channel on demand; bytes not
 * yet consumed are moved to its front first, so a peek of up to 32 KiB
 * always fits.  Large reads bypass the buffer.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "io/channel.h"
#include "qemu-file.h"
#include "trace.h"

#define MAX_IOV_SIZE 64
/* The migration thread's rate-limit period (QEMU's BUFFER_DELAY). */
#define RATE_LIMIT_PERIOD_NS (100 * 1000 * 1000)
#define RATE_LIMIT_PERIODS_PER_SECOND 10

struct QEMUFile {
    QIOChannel *ioc;            /* a reference; immutable */
    bool is_writable;           /* immutable */
    /*
     * A return path borrows its partner's channel: closing it drops the
     * reference but leaves the channel open for the partner (immutable).
     */
    bool borrows_channel;

    /* The owner thread only (see "Threading" in qemu-file.h). */
    uint8_t buf[QEMU_FILE_BUF_SIZE];
    size_t buf_index;           /* writer: bytes used; reader: next byte */
    size_t buf_size;            /* reader: bytes valid in buf */
    struct iovec iov[MAX_IOV_SIZE];
    unsigned int iovcnt;
    int64_t rate_period_start;  /* get_clock_ns() when this period began */

    uint64_t transferred;       /* atomic: bytes through the channel */
    uint64_t rate_limit_max;    /* atomic: bytes per period, 0: none */
    uint64_t rate_limit_used;   /* atomic: bytes this period */

    /*
     * The sticky error: protected by lock, and last_error is also read
     * lock-free (atomically) on every I/O call.  cond wakes
     * qemu_file_rate_limit_wait() when an error is set.
     */
    GMutex lock;
    GCond cond;
    int last_error;
    Error *last_error_obj;
};

static QEMUFile *qemu_file_new(QIOChannel *ioc, bool is_writable)
{
    QEMUFile *f = g_new0(QEMUFile, 1);

    f->ioc = qio_channel_ref(ioc);
    f->is_writable = is_writable;
    f->rate_period_start = get_clock_ns();
    g_mutex_init(&f->lock);
    g_cond_init(&f->cond);
    return f;
}

QEMUFile *qemu_file_new_output(QIOChannel *ioc)
{
    return qemu_file_new(ioc, true);
}

QEMUFile *qemu_file_new_input(QIOChannel *ioc)
{
    return qemu_file_new(ioc, false);
}

QEMUFile *qemu_file_get_return_path(QEMUFile *f)
{
    QEMUFile *rp = qemu_file_new(f->ioc, !f->is_writable);

    rp->borrows_channel = true;
    return rp;
}

QIOChannel *qemu_file_get_ioc(QEMUFile *f)
{
    return f->ioc;
}

bool qemu_file_is_writable(QEMUFile *f)
{
    return f->is_writable;
}

/* Error handling */

int qemu_file_get_error(QEMUFile *f)
{
    return __atomic_load_n(&f->last_error, __ATOMIC_ACQUIRE);
}

int qemu_file_get_error_obj(QEMUFile *f, Error **errp)
{
    int ret;

    g_mutex_lock(&f->lock);
    ret = f->last_error;
    if (ret && errp) {
        if (f->last_error_obj) {
            *errp = error_copy(f->last_error_obj);
        } else {
            error_setg_errno(errp, -ret, "Migration stream failed");
        }
    }
    g_mutex_unlock(&f->lock);
    return ret;
}

void qemu_file_set_error_obj(QEMUFile *f, int ret, Error *err)
{
    if (!ret) {
        error_free(err);
        return;
    }
    g_mutex_lock(&f->lock);
    if (f->last_error) {
        /* The first error explains the failure; later ones are fallout. */
        error_free(err);
    } else {
        trace_qemu_file_set_error(f, ret, err ? error_get_pretty(err) : "");
        f->last_error_obj = err;
        __atomic_store_n(&f->last_error, ret, __ATOMIC_RELEASE);
        g_cond_broadcast(&f->cond);
    }
    g_mutex_unlock(&f->lock);
}

void qemu_file_set_error(QEMUFile *f, int ret)
{
    qemu_file_set_error_obj(f, ret, NULL);
}

/* Set -@err with a message: for failures this file detects itself. */
static void qemu_file_fail(QEMUFile *f, int err, const char *fmt, ...)
    QEMU_PRINTF_FMT(3, 4);
static void qemu_file_fail(QEMUFile *f, int err, const char *fmt, ...)
{
    Error *local_err = NULL;
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    error_setg(&local_err, "%s", msg);
    qemu_file_set_error_obj(f, -err, local_err);
}

int qemu_file_shutdown(QEMUFile *f)
{
    trace_qemu_file_shutdown(f);
    /*
     * Error first: a thread that wakes up from the shutdown must find
     * the stream failed, never mistake the wake-up for success.
     */
    qemu_file_fail(f, EIO, "Migration stream was shut down");
    if (!qio_channel_has_feature(f->ioc, QIO_CHANNEL_FEATURE_SHUTDOWN)) {
        return -ENOSYS;
    }
    if (qio_channel_shutdown(f->ioc, QIO_CHANNEL_SHUTDOWN_BOTH, NULL) < 0) {
        return -EIO;
    }
    return 0;
}

/* Writing */

static bool qemu_file_check_writable(QEMUFile *f)
{
    if (unlikely(!f->is_writable)) {
        qemu_file_fail(f, EINVAL, "Write to a migration stream opened for "
                       "reading");
        return false;
    }
    return !qemu_file_get_error(f);
}

void qemu_fflush(QEMUFile *f)
{
    Error *local_err = NULL;
    size_t bytes = 0;

    if (!f->is_writable) {
        return;
    }
    if (f->iovcnt && !qemu_file_get_error(f)) {
        for (unsigned int i = 0; i < f->iovcnt; i++) {
            bytes += f->iov[i].iov_len;
        }
        trace_qemu_file_fflush(f, bytes, f->iovcnt);
        if (qio_channel_writev_all(f->ioc, f->iov, f->iovcnt,
                                   &local_err) < 0) {
            qemu_file_set_error_obj(f, -EIO, local_err);
        } else {
            __atomic_fetch_add(&f->transferred, bytes, __ATOMIC_RELAXED);
        }
    }
    f->buf_index = 0;
    f->iovcnt = 0;
}

static void qemu_file_rate_account(QEMUFile *f, size_t len)
{
    __atomic_fetch_add(&f->rate_limit_used, len, __ATOMIC_RELAXED);
}

void qemu_file_acct_rate_limit(QEMUFile *f, uint64_t len)
{
    qemu_file_rate_account(f, len);
}

/* Queue @len bytes at @buf; returns true if that flushed the file. */
static bool qemu_file_add_to_iovec(QEMUFile *f, const uint8_t *buf,
                                   size_t len)
{
    struct iovec *last = f->iovcnt ? &f->iov[f->iovcnt - 1] : NULL;

    if (last && (uint8_t *)last->iov_base + last->iov_len == buf) {
        last->iov_len += len;
    } else {
        f->iov[f->iovcnt].iov_base = (uint8_t *)buf;
        f->iov[f->iovcnt].iov_len = len;
        f->iovcnt++;
    }
    if (f->iovcnt == MAX_IOV_SIZE) {
        qemu_fflush(f);
        return true;
    }
    return false;
}

/* Queue @len bytes just copied to buf[buf_index]. */
static void qemu_file_add_buf_to_iovec(QEMUFile *f, size_t len)
{
    if (!qemu_file_add_to_iovec(f, f->buf + f->buf_index, len)) {
        f->buf_index += len;
        if (f->buf_index == QEMU_FILE_BUF_SIZE) {
            qemu_fflush(f);
        }
    }
}

void qemu_put_buffer(QEMUFile *f, const uint8_t *buf, size_t size)
{
    if (!qemu_file_check_writable(f)) {
        return;
    }
    qemu_file_rate_account(f, size);
    while (size && !qemu_file_get_error(f)) {
        size_t l = MIN(QEMU_FILE_BUF_SIZE - f->buf_index, size);

        memcpy(f->buf + f->buf_index, buf, l);
        qemu_file_add_buf_to_iovec(f, l);
        buf += l;
        size -= l;
    }
}

void qemu_put_buffer_async(QEMUFile *f, const uint8_t *buf, size_t size)
{
    if (!qemu_file_check_writable(f) || !size) {
        return;
    }
    qemu_file_rate_account(f, size);
    qemu_file_add_to_iovec(f, buf, size);
}

void qemu_put_byte(QEMUFile *f, int v)
{
    if (!qemu_file_check_writable(f)) {
        return;
    }
    qemu_file_rate_account(f, 1);
    f->buf[f->buf_index] = v;
    qemu_file_add_buf_to_iovec(f, 1);
}

void qemu_put_be16(QEMUFile *f, unsigned int v)
{
    uint8_t b[2] = { v >> 8, v };

    qemu_put_buffer(f, b, sizeof(b));
}

void qemu_put_be32(QEMUFile *f, unsigned int v)
{
    uint8_t b[4] = { v >> 24, v >> 16, v >> 8, v };

    qemu_put_buffer(f, b, sizeof(b));
}

void qemu_put_be64(QEMUFile *f, uint64_t v)
{
    qemu_put_be32(f, v >> 32);
    qemu_put_be32(f, v);
}

void qemu_put_counted_string(QEMUFile *f, const char *str)
{
    size_t len = strlen(str);

    if (len > 255) {
        qemu_file_fail(f, EINVAL, "String '%.32s...' is too long for the "
                       "migration stream (%zu bytes, at most 255)", str, len);
        return;
    }
    qemu_put_byte(f, len);
    qemu_put_buffer(f, (const uint8_t *)str, len);
}

size_t qemu_put_buffer_at(QEMUFile *f, const uint8_t *buf, size_t len,
                          off_t pos)
{
    Error *local_err = NULL;
    size_t done = 0;

    if (!qemu_file_check_writable(f)) {
        return 0;
    }
    while (done < len) {
        ssize_t n = qio_channel_pwrite(f->ioc, buf + done, len - done,
                                       pos + done, &local_err);

        if (n <= 0) {
            if (!local_err) {
                error_setg(&local_err, "Short write at offset %" PRId64
                           " of the migration file", (int64_t)(pos + done));
            }
            qemu_file_set_error_obj(f, -EIO, local_err);
            break;
        }
        done += n;
    }
    __atomic_fetch_add(&f->transferred, done, __ATOMIC_RELAXED);
    return done;
}

/* Reading */

static bool qemu_file_check_readable(QEMUFile *f)
{
    if (unlikely(f->is_writable)) {
        qemu_file_fail(f, EINVAL, "Read from a migration stream opened for "
                       "writing");
        return false;
    }
    return !qemu_file_get_error(f);
}

/*
 * Read at most @len bytes into @dst, waiting if the channel is
 * non-blocking.  Returns the count, or 0 with the error set (including
 * at end of stream: the caller only reads when it needs more).
 */
static size_t qemu_file_channel_read(QEMUFile *f, uint8_t *dst, size_t len)
{
    Error *local_err = NULL;
    ssize_t n;

    do {
        n = qio_channel_read(f->ioc, dst, len, &local_err);
        if (n == QIO_CHANNEL_ERR_BLOCK) {
            qio_channel_wait(f->ioc, G_IO_IN);
        }
    } while (n == QIO_CHANNEL_ERR_BLOCK);

    if (n > 0) {
        __atomic_fetch_add(&f->transferred, n, __ATOMIC_RELAXED);
        return n;
    }
    if (n == 0) {
        qemu_file_fail(f, EIO, "Unexpected end of migration stream (after "
                       "%" PRIu64 " bytes)", qemu_file_transferred(f));
    } else {
        qemu_file_set_error_obj(f, -EIO, local_err);
    }
    return 0;
}

/* Move pending bytes to the front and read more after them. */
static size_t qemu_fill_buffer(QEMUFile *f)
{
    size_t pending = f->buf_size - f->buf_index;
    size_t n;

    assert(pending < QEMU_FILE_BUF_SIZE);
    if (pending && f->buf_index) {
        memmove(f->buf, f->buf + f->buf_index, pending);
    }
    f->buf_index = 0;
    f->buf_size = pending;
    n = qemu_file_channel_read(f, f->buf + pending, QEMU_FILE_BUF_SIZE - pending);
    trace_qemu_file_fill_buffer(f, pending, n);
    f->buf_size += n;
    return n;
}

size_t qemu_peek_buffer(QEMUFile *f, uint8_t **buf, size_t size,
                        size_t offset)
{
    size_t avail;

    if (!qemu_file_check_readable(f)) {
        return 0;
    }
    if (size > QEMU_FILE_BUF_SIZE || offset > QEMU_FILE_BUF_SIZE - size) {
        qemu_file_fail(f, EINVAL, "Look-ahead of %zu bytes at offset %zu "
                       "exceeds the %d-byte stream buffer", size, offset,
                       (int)QEMU_FILE_BUF_SIZE);
        return 0;
    }
    while (f->buf_size - f->buf_index < offset + size) {
        if (!qemu_fill_buffer(f)) {
            break;
        }
    }
    avail = f->buf_size - f->buf_index;
    if (avail <= offset) {
        return 0;
    }
    *buf = f->buf + f->buf_index + offset;
    return MIN(avail - offset, size);
}

int qemu_peek_byte(QEMUFile *f, int offset)
{
    uint8_t *p;

    if (offset < 0) {
        qemu_file_fail(f, EINVAL, "Negative look-ahead offset %d", offset);
        return 0;
    }
    return qemu_peek_buffer(f, &p, 1, offset) ? *p : 0;
}

void qemu_file_skip(QEMUFile *f, int size)
{
    if (size > 0) {
        f->buf_index += MIN((size_t)size, f->buf_size - f->buf_index);
    }
}

size_t qemu_get_buffer(QEMUFile *f, uint8_t *buf, size_t size)
{
    size_t done = 0;

    while (done < size) {
        uint8_t *src;
        size_t n;

        if (f->buf_index == f->buf_size && size - done >= QEMU_FILE_BUF_SIZE &&
            qemu_file_check_readable(f)) {
            /* Nothing buffered and a big read: skip the extra copy. */
            n = qemu_file_channel_read(f, buf + done, size - done);
        } else {
            n = qemu_peek_buffer(f, &src, MIN(size - done, QEMU_FILE_BUF_SIZE), 0);
            if (n) {
                memcpy(buf + done, src, n);
                qemu_file_skip(f, n);
            }
        }
        if (!n) {
            break;
        }
        done += n;
    }
    /* Never hand back stale bytes: the rest reads as zeros. */
    memset(buf + done, 0, size - done);
    return done;
}

size_t qemu_get_buffer_in_place(QEMUFile *f, uint8_t **buf, size_t size)
{
    if (size <= QEMU_FILE_BUF_SIZE) {
        uint8_t *src;
        size_t n = qemu_peek_buffer(f, &src, size, 0);

        if (n == size) {
            *buf = src;
            qemu_file_skip(f, size);
            return size;
        }
    }
    return qemu_get_buffer(f, *buf, size);
}

int qemu_get_byte(QEMUFile *f)
{
    int v = qemu_peek_byte(f, 0);

    qemu_file_skip(f, 1);
    return v;
}

/* @n big-endian bytes, or 0 if the stream is short or failed. */
static uint64_t qemu_get_be(QEMUFile *f, size_t n)
{
    uint8_t b[8];
    uint64_t v = 0;

    if (qemu_get_buffer(f, b, n) != n) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        v = (v << 8) | b[i];
    }
    return v;
}

unsigned int qemu_get_be16(QEMUFile *f)
{
    return qemu_get_be(f, 2);
}

unsigned int qemu_get_be32(QEMUFile *f)
{
    return qemu_get_be(f, 4);
}

uint64_t qemu_get_be64(QEMUFile *f)
{
    return qemu_get_be(f, 8);
}

size_t qemu_get_counted_string(QEMUFile *f, char buf[256])
{
    size_t len = qemu_get_byte(f);
    size_t got = qemu_get_buffer(f, (uint8_t *)buf, len);

    buf[got] = 0;
    return got == len ? len : 0;
}

size_t qemu_get_buffer_at(QEMUFile *f, uint8_t *buf, size_t len, off_t pos)
{
    Error *local_err = NULL;
    size_t done = 0;

    if (!qemu_file_check_readable(f)) {
        return 0;
    }
    while (done < len) {
        ssize_t n = qio_channel_pread(f->ioc, buf + done, len - done,
                                      pos + done, &local_err);

        if (n <= 0) {
            if (!local_err) {
                error_setg(&local_err, "Unexpected end of migration file "
                           "at offset %" PRId64, (int64_t)(pos + done));
            }
            qemu_file_set_error_obj(f, -EIO, local_err);
            break;
        }
        done += n;
    }
    __atomic_fetch_add(&f->transferred, done, __ATOMIC_RELAXED);
    return done;
}

/* Stream position (mapped-ram) */

bool qemu_file_get_offset(QEMUFile *f, uint64_t *pos, Error **errp)
{
    off_t at;

    qemu_fflush(f);
    if (qemu_file_get_error_obj(f, errp)) {
        return false;
    }
    at = qio_channel_io_seek(f->ioc, 0, SEEK_CUR, errp);
    if (at < 0) {
        return false;
    }
    /* A reader's channel is ahead of the stream by what is buffered. */
    *pos = f->is_writable ? (uint64_t)at
                          : (uint64_t)at - (f->buf_size - f->buf_index);
    return true;
}

bool qemu_file_set_offset(QEMUFile *f, uint64_t pos, Error **errp)
{
    qemu_fflush(f);
    if (qemu_file_get_error_obj(f, errp)) {
        return false;
    }
    if (pos > INT64_MAX) {
        error_setg(errp, "Cannot move the migration stream to offset %"
                   PRIu64, pos);
        return false;
    }
    if (qio_channel_io_seek(f->ioc, pos, SEEK_SET, errp) < 0) {
        return false;
    }
    /* Whatever was read ahead belongs to the old position. */
    f->buf_index = 0;
    f->buf_size = 0;
    return true;
}

/* Counters and rate limiting */

uint64_t qemu_file_transferred(QEMUFile *f)
{
    return __atomic_load_n(&f->transferred, __ATOMIC_RELAXED);
}

void qemu_file_set_rate_limit(QEMUFile *f, uint64_t bytes_per_second)
{
    uint64_t per_period = bytes_per_second / RATE_LIMIT_PERIODS_PER_SECOND;

    /* A tiny non-zero limit still lets a little through each period. */
    if (bytes_per_second && !per_period) {
        per_period = 1;
    }
    __atomic_store_n(&f->rate_limit_max, per_period, __ATOMIC_RELAXED);
}

uint64_t qemu_file_get_rate_limit(QEMUFile *f)
{
    return __atomic_load_n(&f->rate_limit_max, __ATOMIC_RELAXED) *
           RATE_LIMIT_PERIODS_PER_SECOND;
}

void qemu_file_reset_rate_limit(QEMUFile *f)
{
    f->rate_period_start = get_clock_ns();
    __atomic_store_n(&f->rate_limit_used, 0, __ATOMIC_RELAXED);
}

uint64_t qemu_file_rate_limit_used(QEMUFile *f)
{
    return __atomic_load_n(&f->rate_limit_used, __ATOMIC_RELAXED);
}

bool qemu_file_rate_limit(QEMUFile *f)
{
    uint64_t max = __atomic_load_n(&f->rate_limit_max, __ATOMIC_RELAXED);

    /* A failed stream stops the sender's loop as a spent budget does. */
    if (qemu_file_get_error(f)) {
        return true;
    }
    if (!max) {
        return false;
    }
    if (get_clock_ns() - f->rate_period_start >= RATE_LIMIT_PERIOD_NS) {
        qemu_file_reset_rate_limit(f);
    }
    return qemu_file_rate_limit_used(f) >= max;
}

void qemu_file_rate_limit_wait(QEMUFile *f)
{
    int64_t left = f->rate_period_start + RATE_LIMIT_PERIOD_NS -
                   get_clock_ns();
    gint64 deadline = g_get_monotonic_time() + MAX(left, 0) / 1000;

    trace_qemu_file_rate_limit_wait(f, left);
    g_mutex_lock(&f->lock);
    while (!f->last_error && g_get_monotonic_time() < deadline) {
        g_cond_wait_until(&f->cond, &f->lock, deadline);
    }
    g_mutex_unlock(&f->lock);
    if (!qemu_file_get_error(f)) {
        qemu_file_reset_rate_limit(f);
    }
}

/* Closing */

int qemu_file_close(QEMUFile *f, Error **errp)
{
    Error *close_err = NULL;
    int ret;

    qemu_fflush(f);
    ret = qemu_file_get_error_obj(f, errp);
    if (!f->borrows_channel && qio_channel_close(f->ioc, &close_err) < 0) {
        if (!ret) {
            ret = -EIO;
            error_propagate(errp, close_err);
        } else {
            error_free(close_err);
        }
    }
    trace_qemu_file_close(f, ret);
    qio_channel_unref(f->ioc);
    error_free(f->last_error_obj);
    g_cond_clear(&f->cond);
    g_mutex_clear(&f->lock);
    g_free(f);
    return ret;
}

int qemu_fclose(QEMUFile *f)
{
    return qemu_file_close(f, NULL);
}
