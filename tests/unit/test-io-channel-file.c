/*
 * Unit tests: file channels (regular files and pipes).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "io/channel-file.h"

static char *tmp_file(char **dir)
{
    *dir = g_dir_make_tmp("qmig-io-XXXXXX", NULL);
    return g_build_filename(*dir, "file", NULL);
}

static void test_file_stream_and_seek(void)
{
    g_autofree char *dir = NULL;
    g_autofree char *path = tmp_file(&dir);
    QIOChannel *ioc;
    char buf[16] = { 0 };

    ioc = qio_channel_file_new_path(path, O_RDWR | O_CREAT | O_TRUNC, 0600,
                                    &error_abort);
    g_assert_true(qio_channel_is_file(ioc));
    g_assert_true(qio_channel_has_feature(ioc, QIO_CHANNEL_FEATURE_SEEKABLE));
    g_assert_cmpint(qio_channel_write_all(ioc, "0123456789", 10,
                                          &error_abort), ==, 0);
    g_assert_cmpint(qio_channel_io_seek(ioc, 3, SEEK_SET, &error_abort),
                    ==, 3);
    g_assert_cmpint(qio_channel_read_all(ioc, buf, 4, &error_abort), ==, 0);
    g_assert_cmpstr(buf, ==, "3456");
    g_assert_cmpint(qio_channel_io_seek(ioc, 0, SEEK_END, &error_abort),
                    ==, 10);
    g_assert_cmpint(qio_channel_read(ioc, buf, 4, &error_abort), ==, 0);
    qio_channel_unref(ioc);
    g_assert_cmpint(unlink(path), ==, 0);
    g_assert_cmpint(rmdir(dir), ==, 0);
}

static void test_file_pread_pwrite(void)
{
    g_autofree char *dir = NULL;
    g_autofree char *path = tmp_file(&dir);
    QIOChannel *ioc;
    g_autofree char *contents = NULL;
    gsize len;
    char buf[8] = { 0 };
    struct iovec iov[2] = {
        { .iov_base = (void *)"ab", .iov_len = 2 },
        { .iov_base = (void *)"cd", .iov_len = 2 },
    };

    ioc = qio_channel_file_new_path(path, O_RDWR | O_CREAT | O_TRUNC, 0600,
                                    &error_abort);
    /* Positioned writes, out of order, do not move the stream offset. */
    g_assert_cmpint(qio_channel_pwritev(ioc, iov, 2, 4096, &error_abort),
                    ==, 4);
    g_assert_cmpint(qio_channel_pwrite(ioc, "XY", 2, 10, &error_abort),
                    ==, 2);
    g_assert_cmpint(qio_channel_io_seek(ioc, 0, SEEK_CUR, &error_abort),
                    ==, 0);
    g_assert_cmpint(qio_channel_pread(ioc, buf, 4, 4096, &error_abort),
                    ==, 4);
    g_assert_cmpstr(buf, ==, "abcd");
    /* Past the end: a short read. */
    g_assert_cmpint(qio_channel_pread(ioc, buf, 8, 4098, &error_abort),
                    ==, 2);
    qio_channel_unref(ioc);

    g_assert_true(g_file_get_contents(path, &contents, &len, NULL));
    g_assert_cmpuint(len, ==, 4100);
    g_assert_cmpmem(contents + 10, 2, "XY", 2);
    g_assert_cmpint(unlink(path), ==, 0);
    g_assert_cmpint(rmdir(dir), ==, 0);
}

static void test_file_open_error(void)
{
    Error *err = NULL;

    g_assert_null(qio_channel_file_new_path("/nonexistent/dir/f", O_RDONLY,
                                            0, &err));
    g_assert_nonnull(strstr(error_get_pretty(err),
                            "Unable to open file '/nonexistent/dir/f'"));
    g_assert_nonnull(strstr(error_get_pretty(err), g_strerror(ENOENT)));
    error_free(err);
}

static gboolean pipe_readable(QIOChannel *ioc, GIOCondition cond,
                              void *opaque)
{
    *(bool *)opaque = true;
    return G_SOURCE_REMOVE;
}

static void test_pipe(void)
{
    int fds[2];
    QIOChannel *r, *w;
    Error *err = NULL;
    char buf[4] = { 0 };
    bool fired = false;
    GMainContext *ctx = g_main_context_new();

    g_assert_cmpint(pipe(fds), ==, 0);
    r = qio_channel_file_new_fd(fds[0]);
    w = qio_channel_file_new_fd(fds[1]);
    g_assert_false(qio_channel_has_feature(r, QIO_CHANNEL_FEATURE_SEEKABLE));
    g_assert_cmpint(qio_channel_pread(r, buf, 1, 0, &err), ==, -1);
    g_assert_nonnull(strstr(error_get_pretty(err), "not seekable"));
    g_clear_pointer(&err, error_free);

    /* Non-blocking: would block, then a watch sees the data arrive. */
    qio_channel_set_blocking(r, false, &error_abort);
    g_assert_cmpint(qio_channel_read(r, buf, 1, &error_abort), ==,
                    QIO_CHANNEL_ERR_BLOCK);
    qio_channel_add_watch_full(r, G_IO_IN, pipe_readable, &fired, NULL, ctx);
    qio_channel_write_all(w, "abc", 3, &error_abort);
    while (!fired) {
        g_main_context_iteration(ctx, TRUE);
    }
    /* read_all on a non-blocking channel waits as needed. */
    g_assert_cmpint(qio_channel_read_all(r, buf, 3, &error_abort), ==, 0);
    g_assert_cmpstr(buf, ==, "abc");
    qio_channel_unref(w);
    g_assert_cmpint(qio_channel_read(r, buf, 1, &error_abort), ==, 0);
    g_assert_cmpint(qio_channel_shutdown(r, QIO_CHANNEL_SHUTDOWN_BOTH, &err),
                    ==, -1);
    error_free(err);
    qio_channel_unref(r);
    g_main_context_unref(ctx);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/io/file/stream-and-seek", test_file_stream_and_seek);
    g_test_add_func("/io/file/pread-pwrite", test_file_pread_pwrite);
    g_test_add_func("/io/file/open-error", test_file_open_error);
    g_test_add_func("/io/file/pipe", test_pipe);
    return g_test_run();
}
