/*
 * Unit tests: the buffer and null channels, and the generic QIOChannel
 * layer they exercise (argument checks, *_all loops, watches).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "io/channel-buffer.h"
#include "io/channel-null.h"

static void test_buffer_write_seek_read(void)
{
    g_autoptr(QIOChannel) ioc = qio_channel_buffer_new(4);
    char a[] = "hello ", b[] = "world";
    struct iovec iov[2] = {
        { .iov_base = a, .iov_len = 6 },
        { .iov_base = b, .iov_len = 5 },
    };
    char out[16] = { 0 };

    g_assert_cmpint(qio_channel_writev(ioc, iov, 2, &error_abort), ==, 11);
    g_assert_cmpuint(qio_channel_buffer_get_usage(ioc), ==, 11);
    g_assert_cmpuint(qio_channel_buffer_get_offset(ioc), ==, 11);
    /* Shared offset: reading now sees the end. */
    g_assert_cmpint(qio_channel_read(ioc, out, sizeof(out), &error_abort),
                    ==, 0);
    g_assert_cmpint(qio_channel_io_seek(ioc, 0, SEEK_SET, &error_abort),
                    ==, 0);
    g_assert_cmpint(qio_channel_read_all(ioc, out, 11, &error_abort), ==, 0);
    g_assert_cmpstr(out, ==, "hello world");
    g_assert_cmpint(qio_channel_io_seek(ioc, -5, SEEK_END, &error_abort),
                    ==, 6);
    memset(out, 0, sizeof(out));
    g_assert_cmpint(qio_channel_read(ioc, out, 3, &error_abort), ==, 3);
    g_assert_cmpstr(out, ==, "wor");
}

static void test_buffer_read_all_short(void)
{
    g_autoptr(QIOChannel) ioc = qio_channel_buffer_new_data("abc", 3);
    Error *err = NULL;
    char out[8];

    qio_channel_set_name(ioc, "short-test");
    g_assert_cmpint(qio_channel_read_all(ioc, out, 8, &err), ==, -1);
    g_assert_nonnull(strstr(error_get_pretty(err), "end-of-file"));
    g_assert_nonnull(strstr(error_get_pretty(err), "short-test"));
    error_free(err);

    /* At the very end, the _eof variant reports a clean end of stream. */
    g_assert_cmpint(qio_channel_read_all_eof(ioc, out, 8, &error_abort),
                    ==, 0);
}

static void test_buffer_pread_pwrite(void)
{
    g_autoptr(QIOChannel) ioc = qio_channel_buffer_new(0);
    uint8_t out[8];

    g_assert_true(qio_channel_has_feature(ioc, QIO_CHANNEL_FEATURE_SEEKABLE));
    g_assert_cmpint(qio_channel_pwrite(ioc, "XY", 2, 4, &error_abort),
                    ==, 2);
    /* The hole before offset 4 reads as zeros; pwrite leaves the offset. */
    g_assert_cmpuint(qio_channel_buffer_get_usage(ioc), ==, 6);
    g_assert_cmpuint(qio_channel_buffer_get_offset(ioc), ==, 0);
    g_assert_cmpint(qio_channel_pread(ioc, out, 8, 0, &error_abort), ==, 6);
    g_assert_cmpmem(out, 6, "\0\0\0\0XY", 6);
    g_assert_cmpint(qio_channel_pread(ioc, out, 8, 100, &error_abort), ==, 0);
}

static void test_buffer_bad_seek(void)
{
    g_autoptr(QIOChannel) ioc = qio_channel_buffer_new(0);
    Error *err = NULL;

    g_assert_cmpint(qio_channel_io_seek(ioc, -1, SEEK_SET, &err), ==, -1);
    g_assert_nonnull(strstr(error_get_pretty(err), "Invalid seek"));
    error_free(err);
}

static void test_buffer_unsupported(void)
{
    g_autoptr(QIOChannel) ioc = qio_channel_buffer_new(0);
    Error *err = NULL;
    int fd = 0;
    struct iovec iov = { .iov_base = (void *)"x", .iov_len = 1 };

    g_assert_cmpstr(qio_channel_get_type(ioc), ==, "buffer");
    g_assert_cmpint(qio_channel_shutdown(ioc, QIO_CHANNEL_SHUTDOWN_BOTH,
                                         &err), ==, -1);
    g_assert_nonnull(strstr(error_get_pretty(err), "shutdown"));
    g_clear_pointer(&err, error_free);

    g_assert_cmpint(qio_channel_writev_full(ioc, &iov, 1, &fd, 1, 0, &err),
                    ==, -1);
    g_assert_nonnull(strstr(error_get_pretty(err), "descriptor passing"));
    g_clear_pointer(&err, error_free);

    g_assert_cmpint(qio_channel_writev_full(ioc, &iov, 1, NULL, 0,
                                            QIO_CHANNEL_WRITE_FLAG_ZERO_COPY,
                                            &err), ==, -1);
    g_assert_nonnull(strstr(error_get_pretty(err), "zero-copy"));
    g_clear_pointer(&err, error_free);
}

static void test_buffer_closed(void)
{
    g_autoptr(QIOChannel) ioc = qio_channel_buffer_new(0);
    Error *err = NULL;

    qio_channel_set_name(ioc, "closed-one");
    g_assert_cmpint(qio_channel_close(ioc, &error_abort), ==, 0);
    g_assert_cmpint(qio_channel_close(ioc, &error_abort), ==, 0);
    g_assert_cmpint(qio_channel_write(ioc, "x", 1, &err), ==, -1);
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Channel 'closed-one' is closed");
    error_free(err);
}

static gboolean count_watch(QIOChannel *ioc, GIOCondition cond, void *opaque)
{
    int *count = opaque;

    g_assert_true(cond & G_IO_IN);
    return ++*count < 3 ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static void test_buffer_watch(void)
{
    g_autoptr(QIOChannel) ioc = qio_channel_buffer_new(0);
    GMainContext *ctx = g_main_context_new();
    int count = 0;

    /* A channel that never blocks is always ready. */
    qio_channel_add_watch_full(ioc, G_IO_IN, count_watch, &count, NULL, ctx);
    while (count < 3) {
        g_main_context_iteration(ctx, TRUE);
    }
    g_assert_false(g_main_context_iteration(ctx, FALSE));
    g_assert_cmpint(count, ==, 3);
    g_main_context_unref(ctx);
    /* Never blocks, so wait returns at once. */
    qio_channel_wait(ioc, G_IO_IN | G_IO_OUT);
}

static void test_buffer_refcount(void)
{
    QIOChannel *ioc = qio_channel_buffer_new(0);
    size_t len;
    g_autofree uint8_t *data = NULL;

    qio_channel_ref(ioc);
    qio_channel_write_all(ioc, "abc", 3, &error_abort);
    qio_channel_unref(ioc);
    /* Still alive: one reference left. */
    data = qio_channel_buffer_dup_data(ioc, &len);
    g_assert_cmpmem(data, len, "abc", 3);
    g_assert_cmpuint(qio_channel_buffer_get_write_count(ioc), ==, 1);
    qio_channel_unref(ioc);
}

static void test_null(void)
{
    g_autoptr(QIOChannel) ioc = qio_channel_null_new();
    char buf[4];

    g_assert_cmpstr(qio_channel_get_type(ioc), ==, "null");
    g_assert_cmpint(qio_channel_write_all(ioc, "abcd", 4, &error_abort),
                    ==, 0);
    g_assert_cmpint(qio_channel_read(ioc, buf, 4, &error_abort), ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/io/buffer/write-seek-read", test_buffer_write_seek_read);
    g_test_add_func("/io/buffer/read-all-short", test_buffer_read_all_short);
    g_test_add_func("/io/buffer/pread-pwrite", test_buffer_pread_pwrite);
    g_test_add_func("/io/buffer/bad-seek", test_buffer_bad_seek);
    g_test_add_func("/io/buffer/unsupported", test_buffer_unsupported);
    g_test_add_func("/io/buffer/closed", test_buffer_closed);
    g_test_add_func("/io/buffer/watch", test_buffer_watch);
    g_test_add_func("/io/buffer/refcount", test_buffer_refcount);
    g_test_add_func("/io/null", test_null);
    return g_test_run();
}
