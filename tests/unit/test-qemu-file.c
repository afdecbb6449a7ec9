/*
 * Unit tests: QEMUFile over buffer channels and socketpairs.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/socket.h>
#include "io/channel-buffer.h"
#include "io/channel-socket.h"
#include "qemu/thread.h"
#include "migration/qemu-file.h"

/* Write with @fn into a fresh buffer channel; return its bytes. */
static uint8_t *written_by(void (*fn)(QEMUFile *f), size_t *len)
{
    g_autoptr(QIOChannel) ioc = qio_channel_buffer_new(0);
    QEMUFile *f = qemu_file_new_output(ioc);

    fn(f);
    g_assert_cmpint(qemu_fclose(f), ==, 0);
    return qio_channel_buffer_dup_data(ioc, len);
}

/* An input file over a copy of @data. */
static QEMUFile *reader_of(const void *data, size_t len)
{
    g_autoptr(QIOChannel) ioc = qio_channel_buffer_new_data(data, len);

    return qemu_file_new_input(ioc);
}

/* An input file over what a (closed) buffer channel received. */
static QEMUFile *reader_of_channel(QIOChannel *ioc)
{
    size_t len;
    g_autofree uint8_t *data = qio_channel_buffer_dup_data(ioc, &len);

    return reader_of(data, len);
}

static void put_widths(QEMUFile *f)
{
    qemu_put_byte(f, 0xab);
    qemu_put_be16(f, 0x0102);
    qemu_put_be32(f, 0x03040506);
    qemu_put_be64(f, 0x0708090a0b0c0d0eULL);
    qemu_put_buffer(f, (const uint8_t *)"xyz", 3);
    qemu_put_counted_string(f, "ram");
    qemu_put_byte(f, 0x1ff);    /* only the low byte goes out */
}

static void test_big_endian_layout(void)
{
    static const uint8_t expect[] = {
        0xab, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
        0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
        'x', 'y', 'z', 3, 'r', 'a', 'm', 0xff,
    };
    size_t len;
    g_autofree uint8_t *data = written_by(put_widths, &len);

    g_assert_cmpmem(data, len, expect, sizeof(expect));
}

static void test_round_trip(void)
{
    size_t len;
    g_autofree uint8_t *data = written_by(put_widths, &len);
    QEMUFile *f = reader_of(data, len);
    uint8_t buf[3];
    char str[256];

    g_assert_cmpint(qemu_get_byte(f), ==, 0xab);
    g_assert_cmphex(qemu_get_be16(f), ==, 0x0102);
    g_assert_cmphex(qemu_get_be32(f), ==, 0x03040506);
    g_assert_cmphex(qemu_get_be64(f), ==, 0x0708090a0b0c0d0eULL);
    g_assert_cmpuint(qemu_get_buffer(f, buf, 3), ==, 3);
    g_assert_cmpmem(buf, 3, "xyz", 3);
    g_assert_cmpuint(qemu_get_counted_string(f, str), ==, 3);
    g_assert_cmpstr(str, ==, "ram");
    g_assert_cmpint(qemu_get_byte(f), ==, 0xff);
    g_assert_cmpint(qemu_file_get_error(f), ==, 0);
    g_assert_cmpuint(qemu_file_transferred(f), ==, len);
    g_assert_cmpint(qemu_fclose(f), ==, 0);
}

static void test_short_read(void)
{
    QEMUFile *f = reader_of("\x01\x02\x03", 3);
    Error *err = NULL;
    uint8_t buf[4] = { 0xee, 0xee, 0xee, 0xee };

    g_assert_cmpuint(qemu_get_be32(f), ==, 0);
    g_assert_cmpint(qemu_file_get_error(f), ==, -EIO);
    g_assert_cmpint(qemu_file_get_error_obj(f, &err), ==, -EIO);
    g_assert_nonnull(strstr(error_get_pretty(err),
                            "Unexpected end of migration stream"));
    error_free(err);
    /* Sticky: everything after reads as zeros, even bytes still buffered. */
    g_assert_cmpint(qemu_get_byte(f), ==, 0);
    g_assert_cmpuint(qemu_get_buffer(f, buf, 4), ==, 0);
    g_assert_cmpmem(buf, 4, "\0\0\0\0", 4);
    g_assert_cmpint(qemu_fclose(f), ==, -EIO);
}

static void test_short_buffer_zero_fill(void)
{
    QEMUFile *f = reader_of("ab", 2);
    uint8_t buf[6];

    memset(buf, 0xee, sizeof(buf));
    g_assert_cmpuint(qemu_get_buffer(f, buf, 6), ==, 2);
    g_assert_cmpmem(buf, 6, "ab\0\0\0\0", 6);
    g_assert_cmpint(qemu_file_get_error(f), ==, -EIO);
    qemu_fclose(f);
}

static void test_error_sticks(void)
{
    g_autoptr(QIOChannel) ioc = qio_channel_buffer_new(0);
    QEMUFile *f = qemu_file_new_output(ioc);
    Error *err = NULL;

    qemu_put_be32(f, 1);
    qemu_fflush(f);
    error_setg(&err, "device said no");
    qemu_file_set_error_obj(f, -EINVAL, err);
    qemu_file_set_error(f, -EIO);       /* ignored: not the first */
    g_assert_cmpint(qemu_file_get_error(f), ==, -EINVAL);
    qemu_put_be32(f, 2);                /* a no-op now */
    qemu_fflush(f);
    g_assert_cmpuint(qio_channel_buffer_get_usage(ioc), ==, 4);
    g_assert_true(qemu_file_rate_limit(f));
    g_assert_cmpint(qemu_file_close(f, &err), ==, -EINVAL);
    g_assert_cmpstr(error_get_pretty(err), ==, "device said no");
    error_free(err);
}

static void test_error_without_object(void)
{
    g_autoptr(QIOChannel) ioc = qio_channel_buffer_new(0);
    QEMUFile *f = qemu_file_new_output(ioc);
    Error *err = NULL;

    qemu_file_set_error(f, 0);          /* 0 is not an error */
    g_assert_cmpint(qemu_file_get_error(f), ==, 0);
    g_assert_cmpint(qemu_file_get_error_obj(f, &err), ==, 0);
    g_assert_null(err);
    qemu_file_set_error(f, -ENOSPC);
    g_assert_cmpint(qemu_file_get_error_obj(f, &err), ==, -ENOSPC);
    g_assert_nonnull(strstr(error_get_pretty(err), g_strerror(ENOSPC)));
    error_free(err);
    qemu_fclose(f);
}

/*
 * qemu_put_buffer_async() queues the caller's memory, not a copy: what
 * goes out is the buffer's content at flush time.  The migration code
 * relies on this for guest pages (no copy) and must therefore resend a
 * page the guest dirtied after it was queued - it does, because the
 * page's dirty bit is set again.
 */
static void test_async_by_reference(void)
{
    g_autoptr(QIOChannel) ioc = qio_channel_buffer_new(0);
    QEMUFile *f = qemu_file_new_output(ioc);
    uint8_t page[8] = "AAAAAAA";
    size_t len;
    g_autofree uint8_t *data = NULL;

    qemu_put_byte(f, '<');
    qemu_put_buffer_async(f, page, 7);
    qemu_put_byte(f, '>');
    memcpy(page, "BBBBBBB", 7);         /* changed before the flush */
    g_assert_cmpuint(qio_channel_buffer_get_usage(ioc), ==, 0);
    qemu_fflush(f);
    data = qio_channel_buffer_dup_data(ioc, &len);
    g_assert_cmpmem(data, len, "<BBBBBBB>", 9);
    /* Headers and the page went out in one writev. */
    g_assert_cmpuint(qio_channel_buffer_get_write_count(ioc), ==, 1);
    g_assert_cmpuint(qemu_file_transferred(f), ==, 9);
    qemu_fclose(f);
}

/* Many non-contiguous async buffers (more than the iovec holds), in order. */
static void test_async_many(void)
{
    g_autoptr(QIOChannel) ioc = qio_channel_buffer_new(0);
    QEMUFile *f = qemu_file_new_output(ioc);
    enum { N = 200, PAGE = 64 };
    g_autofree uint8_t *pages = g_malloc(N * PAGE * 2);
    g_autofree uint8_t *expect = g_malloc(N * (PAGE + 2));
    size_t len, pos = 0;
    g_autofree uint8_t *data = NULL;

    for (int i = 0; i < N; i++) {
        /* Every other slot, so no two pages are contiguous. */
        uint8_t *p = pages + i * PAGE * 2;

        memset(p, i, PAGE);
        qemu_put_be16(f, i);
        qemu_put_buffer_async(f, p, PAGE);
        expect[pos++] = i >> 8;
        expect[pos++] = i;
        memcpy(expect + pos, p, PAGE);
        pos += PAGE;
    }
    g_assert_cmpint(qemu_fclose(f), ==, 0);
    data = qio_channel_buffer_dup_data(ioc, &len);
    g_assert_cmpmem(data, len, expect, pos);
}

/* More than the file's buffer, written and read back in both styles. */
static void test_large_buffer(void)
{
    g_autoptr(QIOChannel) ioc = qio_channel_buffer_new(0);
    QEMUFile *f = qemu_file_new_output(ioc);
    size_t n = QEMU_FILE_BUF_SIZE + 44 * KiB + 17;
    g_autofree uint8_t *src = g_malloc(n);
    g_autofree uint8_t *dst = g_malloc(n);

    for (size_t i = 0; i < n; i++) {
        src[i] = i * 7 + (i >> 9);
    }
    qemu_put_byte(f, 0x5a);
    qemu_put_buffer(f, src, n);
    qemu_put_buffer(f, src, n);
    qemu_fflush(f);
    g_assert_cmpuint(qemu_file_transferred(f), ==, 2 * n + 1);
    qemu_fclose(f);

    f = reader_of_channel(ioc);
    g_assert_cmpint(qemu_get_byte(f), ==, 0x5a);
    /* One big read (partly direct into dst)... */
    g_assert_cmpuint(qemu_get_buffer(f, dst, n), ==, n);
    g_assert_cmpmem(dst, n, src, n);
    /* ...and the same again in odd-sized pieces through the buffer. */
    memset(dst, 0, n);
    for (size_t off = 0; off < n; off += 1000) {
        size_t l = MIN(1000, n - off);

        g_assert_cmpuint(qemu_get_buffer(f, dst + off, l), ==, l);
    }
    g_assert_cmpmem(dst, n, src, n);
    g_assert_cmpint(qemu_file_get_error(f), ==, 0);
    qemu_fclose(f);
}

static void test_counted_string(void)
{
    g_autoptr(QIOChannel) ioc = qio_channel_buffer_new(0);
    QEMUFile *f = qemu_file_new_output(ioc);
    char max[256], too_long[257], out[256];
    Error *err = NULL;

    memset(max, 'm', 255);
    max[255] = 0;
    memset(too_long, 't', 256);
    too_long[256] = 0;
    qemu_put_counted_string(f, "");
    qemu_put_counted_string(f, max);
    qemu_fflush(f);
    g_assert_cmpint(qemu_file_get_error(f), ==, 0);
    qemu_put_counted_string(f, too_long);
    g_assert_cmpint(qemu_file_get_error_obj(f, &err), ==, -EINVAL);
    g_assert_nonnull(strstr(error_get_pretty(err), "too long"));
    error_free(err);
    qemu_fclose(f);

    f = reader_of_channel(ioc);
    g_assert_cmpuint(qemu_get_counted_string(f, out), ==, 0);
    g_assert_cmpstr(out, ==, "");
    g_assert_cmpuint(qemu_get_counted_string(f, out), ==, 255);
    g_assert_cmpstr(out, ==, max);
    g_assert_cmpint(qemu_file_get_error(f), ==, 0);
    qemu_fclose(f);

    /* A length byte promising more than the stream holds. */
    f = reader_of("\x05" "ab", 3);
    g_assert_cmpuint(qemu_get_counted_string(f, out), ==, 0);
    g_assert_cmpstr(out, ==, "ab");
    g_assert_cmpint(qemu_file_get_error(f), ==, -EIO);
    qemu_fclose(f);
}

static void test_peek_skip(void)
{
    uint8_t data[100];
    QEMUFile *f;
    uint8_t *p = NULL;
    Error *err = NULL;

    for (int i = 0; i < 100; i++) {
        data[i] = i;
    }
    f = reader_of(data, sizeof(data));
    g_assert_cmpint(qemu_peek_byte(f, 0), ==, 0);
    g_assert_cmpint(qemu_peek_byte(f, 5), ==, 5);
    g_assert_cmpuint(qemu_peek_buffer(f, &p, 10, 20), ==, 10);
    g_assert_cmpint(p[0], ==, 20);
    g_assert_cmpint(p[9], ==, 29);
    qemu_file_skip(f, 3);
    g_assert_cmpint(qemu_get_byte(f), ==, 3);
    /* Near the end: peek returns what there is. */
    g_assert_cmpuint(qemu_peek_buffer(f, &p, 10, 90), ==, 6);
    g_assert_cmpint(p[0], ==, 94);
    qemu_fclose(f);

    f = reader_of(data, sizeof(data));
    g_assert_cmpuint(qemu_peek_buffer(f, &p, QEMU_FILE_BUF_SIZE, 1), ==, 0);
    g_assert_cmpint(qemu_file_get_error_obj(f, &err), ==, -EINVAL);
    g_assert_nonnull(strstr(error_get_pretty(err), "exceeds"));
    error_free(err);
    qemu_fclose(f);
}

static void test_get_buffer_in_place(void)
{
    size_t n = QEMU_FILE_BUF_SIZE + 8 * KiB;
    g_autofree uint8_t *data = g_malloc(n + 8);
    g_autofree uint8_t *mine = g_malloc(n);
    uint8_t *p = mine;
    QEMUFile *f;

    for (size_t i = 0; i < n + 8; i++) {
        data[i] = i % 251;
    }
    f = reader_of(data, n + 8);
    /* Small: points into the file's own buffer, no copy. */
    g_assert_cmpuint(qemu_get_buffer_in_place(f, &p, 8), ==, 8);
    g_assert_true(p != mine);
    g_assert_cmpmem(p, 8, data, 8);
    /* Bigger than the buffer: copied into the caller's memory. */
    p = mine;
    g_assert_cmpuint(qemu_get_buffer_in_place(f, &p, n), ==, n);
    g_assert_true(p == mine);
    g_assert_cmpmem(mine, n, data + 8, n);
    qemu_fclose(f);
}

static void test_wrong_direction(void)
{
    QEMUFile *f = reader_of("abcd", 4);
    g_autoptr(QIOChannel) ioc = qio_channel_buffer_new(0);
    QEMUFile *out = qemu_file_new_output(ioc);
    Error *err = NULL;

    qemu_put_byte(f, 1);
    g_assert_cmpint(qemu_file_get_error_obj(f, &err), ==, -EINVAL);
    g_assert_nonnull(strstr(error_get_pretty(err), "opened for reading"));
    g_clear_pointer(&err, error_free);
    g_assert_cmpint(qemu_get_byte(out), ==, 0);
    g_assert_cmpint(qemu_file_get_error_obj(out, &err), ==, -EINVAL);
    g_assert_nonnull(strstr(error_get_pretty(err), "opened for writing"));
    error_free(err);
    qemu_fclose(f);
    qemu_fclose(out);
}

static void test_rate_limit(void)
{
    g_autoptr(QIOChannel) ioc = qio_channel_buffer_new(0);
    QEMUFile *f = qemu_file_new_output(ioc);
    g_autofree uint8_t *chunk = g_malloc0(60000);
    int64_t start, period_start;

    /* Unlimited by default. */
    qemu_put_buffer(f, chunk, 60000);
    g_assert_false(qemu_file_rate_limit(f));

    /* 1 MB/s is 100 kB per 100 ms period. */
    qemu_file_set_rate_limit(f, 1000000);
    g_assert_cmpuint(qemu_file_get_rate_limit(f), ==, 1000000);
    period_start = get_clock_ns();
    qemu_file_reset_rate_limit(f);
    qemu_put_buffer(f, chunk, 50000);
    qemu_put_be32(f, 0);
    g_assert_cmpuint(qemu_file_rate_limit_used(f), ==, 50004);
    g_assert_false(qemu_file_rate_limit(f));
    qemu_put_buffer_async(f, chunk, 40000);
    qemu_file_acct_rate_limit(f, 9996);     /* e.g. a multifd channel */
    g_assert_cmpuint(qemu_file_rate_limit_used(f), ==, 100000);
    g_assert_true(qemu_file_rate_limit(f));

    /* Waiting starts a fresh period with an unspent budget. */
    start = get_clock_ns();
    qemu_file_rate_limit_wait(f);
    /* It slept until the 100 ms period ended, and not much longer. */
    g_assert_cmpint(get_clock_ns() - period_start, >=, 100 * 1000 * 1000);
    g_assert_cmpint(get_clock_ns() - start, <, 1000 * 1000 * 1000);
    g_assert_cmpuint(qemu_file_rate_limit_used(f), ==, 0);
    g_assert_false(qemu_file_rate_limit(f));

    /* With an error set, wait returns at once and keeps the counters. */
    qemu_put_buffer(f, chunk, 100);
    qemu_file_set_error(f, -EIO);
    qemu_file_rate_limit_wait(f);
    g_assert_cmpuint(qemu_file_rate_limit_used(f), ==, 100);
    g_assert_true(qemu_file_rate_limit(f));

    /* Back to unlimited. */
    qemu_file_set_rate_limit(f, 0);
    g_assert_cmpuint(qemu_file_get_rate_limit(f), ==, 0);
    qemu_fclose(f);
}

static void test_buffer_at(void)
{
    g_autoptr(QIOChannel) ioc = qio_channel_buffer_new(0);
    QEMUFile *f = qemu_file_new_output(ioc);
    uint8_t out[4];

    g_assert_cmpuint(qemu_put_buffer_at(f, (const uint8_t *)"page", 4, 4096),
                     ==, 4);
    qemu_fclose(f);
    f = reader_of_channel(ioc);
    g_assert_cmpuint(qemu_get_buffer_at(f, out, 4, 4096), ==, 4);
    g_assert_cmpmem(out, 4, "page", 4);
    g_assert_cmpuint(qemu_get_buffer_at(f, out, 4, 4098), ==, 2);
    g_assert_cmpint(qemu_file_get_error(f), ==, -EIO);
    qemu_fclose(f);
}

typedef struct SocketPeer {
    QEMUFile *f;
    size_t n;
    const uint8_t *data;
    uint32_t got;
} SocketPeer;

static void *socket_writer(void *opaque)
{
    SocketPeer *peer = opaque;

    for (size_t i = 0; i < peer->n; i += 4096) {
        qemu_put_be32(peer->f, i);
        qemu_put_buffer_async(peer->f, peer->data + i, 4096);
    }
    qemu_fflush(peer->f);
    return NULL;
}

/* A non-blocking reader waits (poll) for a writer in another thread. */
static void test_socket_nonblocking_reader(void)
{
    int sv[2];
    SocketPeer peer = { .n = 1 * MiB };
    g_autofree uint8_t *data = g_malloc(peer.n);
    g_autofree uint8_t *page = g_malloc(4096);
    QIOChannel *rioc, *wioc;
    QEMUFile *in;
    QemuThread thread;

    for (size_t i = 0; i < peer.n; i++) {
        data[i] = i ^ (i >> 12);
    }
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    rioc = qio_channel_socket_new_fd(sv[0], &error_abort);
    wioc = qio_channel_socket_new_fd(sv[1], &error_abort);
    qio_channel_set_blocking(rioc, false, &error_abort);
    in = qemu_file_new_input(rioc);
    peer.f = qemu_file_new_output(wioc);
    peer.data = data;
    qemu_thread_create(&thread, "writer", socket_writer, &peer,
                       QEMU_THREAD_JOINABLE);
    for (size_t i = 0; i < peer.n; i += 4096) {
        g_assert_cmpuint(qemu_get_be32(in), ==, i);
        g_assert_cmpuint(qemu_get_buffer(in, page, 4096), ==, 4096);
        g_assert_cmpmem(page, 4096, data + i, 4096);
    }
    qemu_thread_join(&thread);
    g_assert_cmpuint(qemu_file_transferred(in), ==, peer.n / 4096 * 4100);
    g_assert_cmpint(qemu_fclose(peer.f), ==, 0);
    g_assert_cmpint(qemu_fclose(in), ==, 0);
    qio_channel_unref(rioc);
    qio_channel_unref(wioc);
}

static void *socket_blocked_reader(void *opaque)
{
    SocketPeer *peer = opaque;

    peer->got = qemu_get_be32(peer->f);
    return NULL;
}

/* qemu_file_shutdown() from another thread ends a blocked read. */
static void test_socket_shutdown_unblocks(void)
{
    int sv[2];
    SocketPeer peer = { .got = 1 };
    QIOChannel *rioc, *wioc;
    QemuThread thread;
    Error *err = NULL;

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    rioc = qio_channel_socket_new_fd(sv[0], &error_abort);
    wioc = qio_channel_socket_new_fd(sv[1], &error_abort);
    peer.f = qemu_file_new_input(rioc);
    qemu_thread_create(&thread, "reader", socket_blocked_reader, &peer,
                       QEMU_THREAD_JOINABLE);
    g_assert_cmpint(qemu_file_shutdown(peer.f), ==, 0);
    qemu_thread_join(&thread);
    g_assert_cmpuint(peer.got, ==, 0);
    g_assert_cmpint(qemu_file_get_error_obj(peer.f, &err), ==, -EIO);
    g_assert_nonnull(strstr(error_get_pretty(err), "shut down"));
    error_free(err);
    qemu_fclose(peer.f);
    qio_channel_unref(rioc);
    qio_channel_unref(wioc);
}

static void test_shutdown_unsupported(void)
{
    g_autoptr(QIOChannel) ioc = qio_channel_buffer_new(0);
    QEMUFile *f = qemu_file_new_output(ioc);

    /* The error is set anyway, so writers stop. */
    g_assert_cmpint(qemu_file_shutdown(f), ==, -ENOSYS);
    g_assert_cmpint(qemu_file_get_error(f), ==, -EIO);
    qemu_fclose(f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qemu-file/big-endian-layout", test_big_endian_layout);
    g_test_add_func("/qemu-file/round-trip", test_round_trip);
    g_test_add_func("/qemu-file/short-read", test_short_read);
    g_test_add_func("/qemu-file/short-buffer-zero-fill",
                    test_short_buffer_zero_fill);
    g_test_add_func("/qemu-file/error-sticks", test_error_sticks);
    g_test_add_func("/qemu-file/error-without-object",
                    test_error_without_object);
    g_test_add_func("/qemu-file/async-by-reference", test_async_by_reference);
    g_test_add_func("/qemu-file/async-many", test_async_many);
    g_test_add_func("/qemu-file/large-buffer", test_large_buffer);
    g_test_add_func("/qemu-file/counted-string", test_counted_string);
    g_test_add_func("/qemu-file/peek-skip", test_peek_skip);
    g_test_add_func("/qemu-file/get-buffer-in-place",
                    test_get_buffer_in_place);
    g_test_add_func("/qemu-file/wrong-direction", test_wrong_direction);
    g_test_add_func("/qemu-file/rate-limit", test_rate_limit);
    g_test_add_func("/qemu-file/buffer-at", test_buffer_at);
    g_test_add_func("/qemu-file/socket-nonblocking-reader",
                    test_socket_nonblocking_reader);
    g_test_add_func("/qemu-file/socket-shutdown-unblocks",
                    test_socket_shutdown_unblocks);
    g_test_add_func("/qemu-file/shutdown-unsupported",
                    test_shutdown_unsupported);
    return g_test_run();
}
