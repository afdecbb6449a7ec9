/*
 * Unit tests: socket channels (socketpair, unix, tcp), fd passing,
 * shutdown, asynchronous connect and QIONetListener.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/socket.h>
#include "io/channel-socket.h"
#include "io/net-listener.h"
#include "qemu/thread.h"

static void make_pair(QIOChannel **a, QIOChannel **b)
{
    int sv[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    *a = qio_channel_socket_new_fd(sv[0], &error_abort);
    *b = qio_channel_socket_new_fd(sv[1], &error_abort);
}

/* Send a few bytes each way and check they arrive intact. */
static void check_exchange(QIOChannel *a, QIOChannel *b)
{
    char a_out[] = "ping", b_out[] = "pong!";
    char buf[8] = { 0 };
    struct iovec iov[2] = {
        { .iov_base = a_out, .iov_len = 2 },
        { .iov_base = a_out + 2, .iov_len = 2 },
    };

    g_assert_cmpint(qio_channel_writev_all(a, iov, 2, &error_abort), ==, 0);
    g_assert_cmpint(qio_channel_read_all(b, buf, 4, &error_abort), ==, 0);
    g_assert_cmpstr(buf, ==, "ping");
    g_assert_cmpint(qio_channel_write_all(b, b_out, 5, &error_abort), ==, 0);
    g_assert_cmpint(qio_channel_read_all(a, buf, 5, &error_abort), ==, 0);
    g_assert_cmpstr(buf, ==, "pong!");
}

static void test_socketpair(void)
{
    QIOChannel *a, *b;

    make_pair(&a, &b);
    g_assert_true(qio_channel_is_socket(a));
    g_assert_true(qio_channel_has_feature(a, QIO_CHANNEL_FEATURE_FD_PASS));
    g_assert_true(qio_channel_has_feature(a, QIO_CHANNEL_FEATURE_SHUTDOWN));
    g_assert_false(qio_channel_has_feature(a, QIO_CHANNEL_FEATURE_LISTEN));
    g_assert_false(qio_channel_has_feature(a, QIO_CHANNEL_FEATURE_SEEKABLE));
    check_exchange(a, b);
    /* The peer closing is a clean end of stream. */
    qio_channel_unref(b);
    {
        char c;

        g_assert_cmpint(qio_channel_read(a, &c, 1, &error_abort), ==, 0);
    }
    qio_channel_unref(a);
}

static void test_not_a_socket(void)
{
    int fds[2];
    Error *err = NULL;

    g_assert_cmpint(pipe(fds), ==, 0);
    g_assert_null(qio_channel_socket_new_fd(fds[0], &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "not a socket"));
    error_free(err);
    close(fds[1]);
}

static void test_write_to_closed_peer(void)
{
    QIOChannel *a, *b;
    g_autofree char *big = g_malloc0(1 * MiB);
    Error *err = NULL;

    make_pair(&a, &b);
    qio_channel_unref(b);
    /* EPIPE as an error, never a SIGPIPE that kills the process. */
    g_assert_cmpint(qio_channel_write_all(a, big, 1 * MiB, &err), ==, -1);
    g_assert_nonnull(strstr(error_get_pretty(err), g_strerror(EPIPE)));
    error_free(err);
    qio_channel_unref(a);
}

/* Listen on @str, connect, accept; exchange data both ways. */
static void check_listen_connect(const char *str, char **local)
{
    g_autoptr(SocketAddress) addr = socket_parse(str, &error_abort);
    g_autoptr(SocketAddress) bound = NULL;
    QIOChannel *lioc = qio_channel_socket_new();
    QIOChannel *cioc = qio_channel_socket_new();
    QIOChannel *sioc;

    g_assert_cmpint(qio_channel_socket_listen_sync(lioc, addr, 1,
                                                   &error_abort), ==, 0);
    g_assert_true(qio_channel_has_feature(lioc, QIO_CHANNEL_FEATURE_LISTEN));
    bound = qio_channel_socket_get_local_address(lioc, &error_abort);
    *local = socket_address_to_string(bound);
    g_assert_cmpint(qio_channel_socket_connect_sync(cioc, bound,
                                                    &error_abort), ==, 0);
    sioc = qio_channel_socket_accept(lioc, &error_abort);
    check_exchange(cioc, sioc);
    qio_channel_unref(sioc);
    qio_channel_unref(cioc);
    qio_channel_unref(lioc);
}

static void test_unix_listen_connect(void)
{
    g_autofree char *dir = g_dir_make_tmp("qmig-io-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "sock", NULL);
    g_autofree char *str = g_strdup_printf("unix:%s", path);
    g_autofree char *local = NULL;

    check_listen_connect(str, &local);
    g_assert_cmpstr(local, ==, str);
    /* Closing the listener removed the socket file it created. */
    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
    g_assert_cmpint(rmdir(dir), ==, 0);
}

static void test_tcp_listen_connect(void)
{
    g_autofree char *local = NULL;

    check_listen_connect("tcp:127.0.0.1:0", &local);
    g_assert_true(g_str_has_prefix(local, "tcp:127.0.0.1:"));
    g_assert_cmpstr(local, !=, "tcp:127.0.0.1:0");
}

static int sndbuf_of(QIOChannel *ioc)
{
    int val = 0;
    socklen_t len = sizeof(val);

    g_assert_cmpint(getsockopt(qio_channel_socket_get_fd(ioc), SOL_SOCKET,
                               SO_SNDBUF, &val, &len), ==, 0);
    return val;
}

/*
 * A unix socket gets the send buffer asked for (Linux caps the request at
 * net.core.wmem_max and reports twice it); TCP keeps its autotuning; an
 * unconnected channel is an error.
 */
static void test_unix_send_buffer(void)
{
    g_autofree char *max_str = NULL;
    g_autoptr(SocketAddress) addr = socket_parse("tcp:127.0.0.1:0",
                                                 &error_abort);
    g_autoptr(SocketAddress) bound = NULL;
    QIOChannel *a, *b, *lioc, *cioc, *sioc;
    Error *err = NULL;
    int want = 1 << 20, before;

    g_assert_true(g_file_get_contents("/proc/sys/net/core/wmem_max",
                                      &max_str, NULL, NULL));
    make_pair(&a, &b);
    g_assert_cmpint(qio_channel_socket_set_unix_send_buffer(a, want,
                                                            &error_abort),
                    ==, 0);
    g_assert_cmpint(sndbuf_of(a), ==, 2 * MIN(want, atoi(max_str)));
    check_exchange(a, b);
    qio_channel_unref(a);
    qio_channel_unref(b);

    lioc = qio_channel_socket_new();
    cioc = qio_channel_socket_new();
    g_assert_cmpint(qio_channel_socket_set_unix_send_buffer(cioc, want, &err),
                    ==, -1);
    g_assert_nonnull(strstr(error_get_pretty(err), "not connected"));
    error_free(err);
    g_assert_cmpint(qio_channel_socket_listen_sync(lioc, addr, 1,
                                                   &error_abort), ==, 0);
    bound = qio_channel_socket_get_local_address(lioc, &error_abort);
    g_assert_cmpint(qio_channel_socket_connect_sync(cioc, bound,
                                                    &error_abort), ==, 0);
    sioc = qio_channel_socket_accept(lioc, &error_abort);
    before = sndbuf_of(cioc);
    g_assert_cmpint(qio_channel_socket_set_unix_send_buffer(cioc, want,
                                                            &error_abort),
                    ==, 0);
    g_assert_cmpint(sndbuf_of(cioc), ==, before);
    qio_channel_unref(sioc);
    qio_channel_unref(cioc);
    qio_channel_unref(lioc);
}

/* SIOCOUTQ: what one end wrote and the other has not read yet. */
static void test_send_queue(void)
{
    QIOChannel *a, *b;
    char buf[3000];

    make_pair(&a, &b);
    g_assert_cmpuint(qio_channel_socket_get_send_queue(a), ==, 0);
    memset(buf, 'q', sizeof(buf));
    g_assert_cmpint(qio_channel_write_all(a, buf, sizeof(buf), &error_abort),
                    ==, 0);
    /* A unix socket counts its queued buffers with their overhead. */
    g_assert_cmpuint(qio_channel_socket_get_send_queue(a), >=, sizeof(buf));
    g_assert_cmpint(qio_channel_read_all(b, buf, sizeof(buf), &error_abort),
                    ==, 0);
    g_assert_cmpuint(qio_channel_socket_get_send_queue(a), ==, 0);
    qio_channel_unref(a);
    qio_channel_unref(b);
    a = qio_channel_socket_new();
    g_assert_cmpuint(qio_channel_socket_get_send_queue(a), ==, 0);
    qio_channel_unref(a);
}

static void test_tcp6_listen_connect(void)
{
    g_autoptr(SocketAddress) addr = socket_parse("tcp:[::1]:0", &error_abort);
    g_autofree char *local = NULL;
    int fd = socket_listen(addr, 1, NULL);

    if (fd < 0) {
        g_test_skip("no IPv6 loopback here");
        return;
    }
    close(fd);
    check_listen_connect("tcp:[::1]:0", &local);
    g_assert_true(g_str_has_prefix(local, "tcp:[::1]:"));
}

/* A port nobody listens on: bind one, learn it, close it. */
static SocketAddress *unused_tcp_port(void)
{
    g_autoptr(SocketAddress) any = socket_parse("tcp:127.0.0.1:0",
                                                &error_abort);
    int fd = socket_listen(any, 1, &error_abort);
    SocketAddress *addr = socket_local_address(fd, &error_abort);

    close(fd);
    return addr;
}

static void test_connect_refused(void)
{
    g_autoptr(SocketAddress) addr = unused_tcp_port();
    QIOChannel *ioc = qio_channel_socket_new();
    Error *err = NULL;

    g_assert_cmpint(qio_channel_socket_connect_sync(ioc, addr, &err), ==, -1);
    g_assert_nonnull(strstr(error_get_pretty(err), "Failed to connect"));
    g_assert_nonnull(strstr(error_get_pretty(err), addr->u.inet.port));
    g_assert_nonnull(strstr(error_get_pretty(err), g_strerror(ECONNREFUSED)));
    error_free(err);
    g_assert_cmpint(qio_channel_socket_get_fd(ioc), ==, -1);
    qio_channel_unref(ioc);
}

static void test_fd_passing(void)
{
    QIOChannel *a, *b;
    int pipefd[2], *fds = NULL;
    size_t nfds = 0;
    char c = 'x', buf[4] = { 0 };
    struct iovec iov = { .iov_base = &c, .iov_len = 1 };

    make_pair(&a, &b);
    g_assert_cmpint(pipe(pipefd), ==, 0);
    g_assert_cmpint(qio_channel_writev_full_all(a, &iov, 1, &pipefd[1], 1, 0,
                                                &error_abort), ==, 0);
    close(pipefd[1]);
    c = 0;
    g_assert_cmpint(qio_channel_readv_full(b, &iov, 1, &fds, &nfds, 0,
                                           &error_abort), ==, 1);
    g_assert_cmpint(c, ==, 'x');
    g_assert_cmpuint(nfds, ==, 1);
    /* The received fd is the pipe's write end: it works, and it is ours. */
    g_assert_cmpint(write(fds[0], "abc", 3), ==, 3);
    close(fds[0]);
    g_free(fds);
    g_assert_cmpint(read(pipefd[0], buf, 3), ==, 3);
    g_assert_cmpstr(buf, ==, "abc");
    close(pipefd[0]);
    qio_channel_unref(a);
    qio_channel_unref(b);
}

static void test_fd_passing_tcp_refused(void)
{
    g_autoptr(QIONetListener) l = qio_net_listener_new();
    g_autoptr(SocketAddress) addr = socket_parse("tcp:127.0.0.1:0",
                                                 &error_abort);
    g_autoptr(SocketAddress) bound = NULL;
    QIOChannel *c = qio_channel_socket_new();
    Error *err = NULL;
    int fd = 0;
    struct iovec iov = { .iov_base = (void *)"x", .iov_len = 1 };

    qio_net_listener_open_sync(l, addr, 1, &error_abort);
    bound = qio_channel_socket_get_local_address(
        qio_net_listener_get_channel(l, 0), &error_abort);
    qio_channel_socket_connect_sync(c, bound, &error_abort);
    g_assert_false(qio_channel_has_feature(c, QIO_CHANNEL_FEATURE_FD_PASS));
    g_assert_cmpint(qio_channel_writev_full(c, &iov, 1, &fd, 1, 0, &err),
                    ==, -1);
    g_assert_nonnull(strstr(error_get_pretty(err), "descriptor passing"));
    error_free(err);
    qio_channel_unref(c);
}

typedef struct Reader {
    QIOChannel *ioc;
    int ret;
    Error *err;
} Reader;

static void *blocked_reader(void *opaque)
{
    Reader *r = opaque;
    char buf[16];

    r->ret = qio_channel_read_all(r->ioc, buf, sizeof(buf), &r->err);
    return NULL;
}

/* A reader blocked in read is released by a shutdown from this thread. */
static void test_shutdown_unblocks_reader(void)
{
    QIOChannel *a, *b;
    Reader r = { .ret = 1 };
    QemuThread thread;

    make_pair(&a, &b);
    r.ioc = a;
    qemu_thread_create(&thread, "reader", blocked_reader, &r,
                       QEMU_THREAD_JOINABLE);
    /* Some data first, so the reader is part-way when the end comes. */
    qio_channel_write_all(b, "abc", 3, &error_abort);
    g_assert_cmpint(qio_channel_shutdown(a, QIO_CHANNEL_SHUTDOWN_BOTH,
                                         &error_abort), ==, 0);
    qemu_thread_join(&thread);
    g_assert_cmpint(r.ret, ==, -1);
    g_assert_nonnull(r.err);
    error_free(r.err);
    qio_channel_unref(a);
    qio_channel_unref(b);
}

static gboolean readable_cb(QIOChannel *ioc, GIOCondition cond, void *opaque)
{
    bool *fired = opaque;

    g_assert_true(cond & G_IO_IN);
    *fired = true;
    return G_SOURCE_REMOVE;
}

static void test_nonblocking_and_watch(void)
{
    QIOChannel *a, *b;
    GMainContext *ctx = g_main_context_new();
    bool fired = false;
    char c;

    make_pair(&a, &b);
    qio_channel_set_blocking(a, false, &error_abort);
    g_assert_false(qio_channel_is_blocking(a));
    g_assert_cmpint(qio_channel_read(a, &c, 1, &error_abort), ==,
                    QIO_CHANNEL_ERR_BLOCK);
    qio_channel_add_watch_full(a, G_IO_IN, readable_cb, &fired, NULL, ctx);
    g_assert_false(g_main_context_iteration(ctx, FALSE));
    g_assert_false(fired);
    qio_channel_write_all(b, "z", 1, &error_abort);
    while (!fired) {
        g_main_context_iteration(ctx, TRUE);
    }
    g_assert_cmpint(qio_channel_read(a, &c, 1, &error_abort), ==, 1);
    g_assert_cmpint(c, ==, 'z');
    g_main_context_unref(ctx);
    qio_channel_unref(a);
    qio_channel_unref(b);
}

typedef struct AsyncResult {
    bool done;
    bool destroyed;
    char *error;
    QIOChannel *client;     /* accepted by the listener */
} AsyncResult;

static void connect_done(QIOChannel *ioc, Error *err, void *opaque)
{
    AsyncResult *res = opaque;

    res->done = true;
    res->error = err ? g_strdup(error_get_pretty(err)) : NULL;
}

static void connect_destroy(void *opaque)
{
    AsyncResult *res = opaque;

    g_assert_true(res->done);
    res->destroyed = true;
}

static void client_arrived(QIONetListener *l, QIOChannel *client,
                           void *opaque)
{
    AsyncResult *res = opaque;

    res->client = qio_channel_ref(client);
}

static void test_async_connect(void)
{
    g_autoptr(QIONetListener) l = qio_net_listener_new();
    g_autoptr(SocketAddress) addr = socket_parse("tcp:127.0.0.1:0",
                                                 &error_abort);
    g_autoptr(SocketAddress) bound = NULL;
    QIOChannel *ioc = qio_channel_socket_new();
    AsyncResult res = { 0 };

    qio_net_listener_set_name(l, "test-listener");
    qio_net_listener_open_sync(l, addr, 1, &error_abort);
    qio_net_listener_set_client_func(l, client_arrived, &res, NULL);
    bound = qio_channel_socket_get_local_address(
        qio_net_listener_get_channel(l, 0), &error_abort);
    qio_channel_socket_connect_async(ioc, bound, connect_done, &res,
                                     connect_destroy);
    /* Both the completion and the accept come from the main loop. */
    while (!res.destroyed || !res.client) {
        g_main_context_iteration(NULL, TRUE);
    }
    g_assert_null(res.error);
    g_assert_cmpstr(qio_channel_get_name(res.client), ==, "test-listener");
    check_exchange(ioc, res.client);
    qio_net_listener_disconnect(l);
    g_assert_false(qio_net_listener_is_connected(l));
    qio_channel_unref(res.client);
    qio_channel_unref(ioc);
}

static void test_async_connect_refused(void)
{
    g_autoptr(SocketAddress) addr = unused_tcp_port();
    QIOChannel *ioc = qio_channel_socket_new();
    AsyncResult res = { 0 };

    qio_channel_socket_connect_async(ioc, addr, connect_done, &res, NULL);
    while (!res.done) {
        g_main_context_iteration(NULL, TRUE);
    }
    g_assert_nonnull(res.error);
    g_assert_nonnull(strstr(res.error, "Failed to connect to '127.0.0.1:"));
    g_assert_nonnull(strstr(res.error, g_strerror(ECONNREFUSED)));
    g_free(res.error);
    qio_channel_unref(ioc);
}

static void test_listener_wait_client(void)
{
    g_autofree char *dir = g_dir_make_tmp("qmig-io-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "sock", NULL);
    g_autofree char *str = g_strdup_printf("unix:%s", path);
    g_autoptr(SocketAddress) addr = socket_parse(str, &error_abort);
    QIONetListener *l = qio_net_listener_new();
    QIOChannel *c = qio_channel_socket_new();
    QIOChannel *s;

    qio_net_listener_open_sync(l, addr, 1, &error_abort);
    g_assert_cmpuint(qio_net_listener_num_channels(l), ==, 1);
    /* The backlog holds the connection until we accept it. */
    qio_channel_socket_connect_sync(c, addr, &error_abort);
    s = qio_net_listener_wait_client(l);
    g_assert_nonnull(s);
    check_exchange(c, s);
    qio_channel_unref(s);
    qio_channel_unref(c);
    qio_net_listener_unref(l);
    g_assert_cmpint(rmdir(dir), ==, 0);
}

static void test_listen_bad_path(void)
{
    g_autoptr(SocketAddress) addr =
        socket_parse("unix:/nonexistent-dir/x/sock", &error_abort);
    QIOChannel *ioc = qio_channel_socket_new();
    Error *err = NULL;

    g_assert_cmpint(qio_channel_socket_listen_sync(ioc, addr, 1, &err),
                    ==, -1);
    g_assert_nonnull(strstr(error_get_pretty(err),
                            "Failed to listen on '/nonexistent-dir/x/sock'"));
    error_free(err);
    qio_channel_unref(ioc);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/io/socket/socketpair", test_socketpair);
    g_test_add_func("/io/socket/not-a-socket", test_not_a_socket);
    g_test_add_func("/io/socket/write-to-closed-peer",
                    test_write_to_closed_peer);
    g_test_add_func("/io/socket/unix", test_unix_listen_connect);
    g_test_add_func("/io/socket/tcp", test_tcp_listen_connect);
    g_test_add_func("/io/socket/tcp6", test_tcp6_listen_connect);
    g_test_add_func("/io/socket/unix-send-buffer", test_unix_send_buffer);
    g_test_add_func("/io/socket/send-queue", test_send_queue);
    g_test_add_func("/io/socket/connect-refused", test_connect_refused);
    g_test_add_func("/io/socket/fd-passing", test_fd_passing);
    g_test_add_func("/io/socket/fd-passing-tcp", test_fd_passing_tcp_refused);
    g_test_add_func("/io/socket/shutdown-unblocks-reader",
                    test_shutdown_unblocks_reader);
    g_test_add_func("/io/socket/nonblocking-watch",
                    test_nonblocking_and_watch);
    g_test_add_func("/io/socket/async-connect", test_async_connect);
    g_test_add_func("/io/socket/async-connect-refused",
                    test_async_connect_refused);
    g_test_add_func("/io/socket/listener-wait-client",
                    test_listener_wait_client);
    g_test_add_func("/io/socket/listen-bad-path", test_listen_bad_path);
    return g_test_run();
}
