/*
 * Unit tests: command channels ("exec:" migration).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "io/channel-command.h"
#include "qemu/thread.h"

/* Data through "cat" and back: both pipes, in order, nothing lost. */
static void test_cat_round_trip(void)
{
    QIOChannel *ioc = qio_channel_command_new_spawn("cat", O_RDWR,
                                                    &error_abort);
    size_t n = 4096;
    g_autofree uint8_t *out = g_malloc(n);
    g_autofree uint8_t *in = g_malloc(n);

    for (size_t i = 0; i < n; i++) {
        out[i] = i * 13;
    }
    g_assert_true(qio_channel_is_command(ioc));
    g_assert_cmpint(qio_channel_command_get_pid(ioc), >, 0);
    /* Less than a pipe's capacity each way, so no deadlock without threads. */
    g_assert_cmpint(qio_channel_write_all(ioc, out, n, &error_abort), ==, 0);
    g_assert_cmpint(qio_channel_read_all(ioc, in, n, &error_abort), ==, 0);
    g_assert_cmpmem(in, n, out, n);
    /* cat sees EOF at close, exits 0: close succeeds. */
    g_assert_cmpint(qio_channel_close(ioc, &error_abort), ==, 0);
    g_assert_cmpint(qio_channel_command_get_pid(ioc), ==, 0);
    qio_channel_unref(ioc);
}

static void test_read_only(void)
{
    QIOChannel *ioc = qio_channel_command_new_spawn("printf 'abc'", O_RDONLY,
                                                    &error_abort);
    char buf[8] = { 0 };
    Error *err = NULL;

    g_assert_cmpint(qio_channel_read_all_eof(ioc, buf, 3, &error_abort),
                    ==, 1);
    g_assert_cmpstr(buf, ==, "abc");
    g_assert_cmpint(qio_channel_read(ioc, buf, 1, &error_abort), ==, 0);
    g_assert_cmpint(qio_channel_write(ioc, "x", 1, &err), ==, -1);
    g_assert_nonnull(strstr(error_get_pretty(err), "not opened for writing"));
    error_free(err);
    qio_channel_unref(ioc);
}

static void check_close_error(const char *cmd, const char *msg)
{
    QIOChannel *ioc = qio_channel_command_new_spawn(cmd, O_RDONLY,
                                                    &error_abort);
    char c;
    Error *err = NULL;

    /* Output ends when the command does. */
    g_assert_cmpint(qio_channel_read(ioc, &c, 1, &error_abort), ==, 0);
    g_assert_cmpint(qio_channel_close(ioc, &err), ==, -1);
    if (!strstr(error_get_pretty(err), msg)) {
        g_error("'%s': got '%s', expected '%s'", cmd, error_get_pretty(err),
                msg);
    }
    g_assert_nonnull(strstr(error_get_pretty(err), cmd));
    error_free(err);
    qio_channel_unref(ioc);
}

static void test_failing_command(void)
{
    check_close_error("exit 3", "exited with status 3");
    check_close_error("/nonexistent/program", "exited with status 127");
    check_close_error("kill -9 $$", "killed by signal 9");
}

/* A child that exited: writes fail with EPIPE, the process survives. */
static void test_write_after_exit(void)
{
    QIOChannel *ioc = qio_channel_command_new_spawn("exit 0", O_WRONLY,
                                                    &error_abort);
    g_autofree uint8_t *big = g_malloc0(1 * MiB);
    Error *err = NULL;

    g_assert_cmpint(qio_channel_write_all(ioc, big, 1 * MiB, &err), ==, -1);
    g_assert_nonnull(strstr(error_get_pretty(err), g_strerror(EPIPE)));
    error_free(err);
    g_assert_cmpint(qio_channel_close(ioc, &error_abort), ==, 0);
    qio_channel_unref(ioc);
}

typedef struct Reader {
    QIOChannel *ioc;
    ssize_t ret;
} Reader;

static void *reader_thread(void *opaque)
{
    Reader *r = opaque;
    char c;

    r->ret = qio_channel_read(r->ioc, &c, 1, NULL);
    return NULL;
}

/* Shutdown kills the command, which unblocks a reader. */
static void test_shutdown(void)
{
    QIOChannel *ioc = qio_channel_command_new_spawn("sleep 100", O_RDONLY,
                                                    &error_abort);
    Reader r = { .ioc = ioc, .ret = 1 };
    QemuThread thread;
    Error *err = NULL;

    g_assert_true(qio_channel_has_feature(ioc, QIO_CHANNEL_FEATURE_SHUTDOWN));
    qemu_thread_create(&thread, "reader", reader_thread, &r,
                       QEMU_THREAD_JOINABLE);
    g_assert_cmpint(qio_channel_shutdown(ioc, QIO_CHANNEL_SHUTDOWN_BOTH,
                                         &error_abort), ==, 0);
    qemu_thread_join(&thread);
    g_assert_cmpint(r.ret, ==, 0);
    g_assert_cmpint(qio_channel_close(ioc, &err), ==, -1);
    g_assert_nonnull(strstr(error_get_pretty(err), "killed by signal"));
    error_free(err);
    qio_channel_unref(ioc);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/io/command/cat-round-trip", test_cat_round_trip);
    g_test_add_func("/io/command/read-only", test_read_only);
    g_test_add_func("/io/command/failing", test_failing_command);
    g_test_add_func("/io/command/write-after-exit", test_write_after_exit);
    g_test_add_func("/io/command/shutdown", test_shutdown);
    return g_test_run();
}
