/*
 * Unit tests: migration URIs to channels (migration/channel.c and its
 * transports).  Each test listens and connects inside this one process,
 * runs the main loop (BQL held, as in qmig) until the callbacks arrive,
 * then pushes bytes through the channel pair.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include "migration/channel.h"
#include "migration/options.h"
#include "migration/tls.h"
#include "io/channel.h"
#include "io/channel-socket.h"
#include "qemu/main-loop.h"
#include "monitor/monitor.h"

/* ---- monitor stubs: one getfd'ed descriptor, named "migfd" ---- */

static int named_fd = -1;

Monitor *monitor_cur(void)
{
    return NULL;
}

int monitor_fd_param(Monitor *mon, const char *fdname, Error **errp)
{
    char *end;
    long num;

    if (!strcmp(fdname, "migfd") && named_fd >= 0) {
        return dup(named_fd);
    }
    num = strtol(fdname, &end, 10);
    if (!g_ascii_isdigit(fdname[0]) || *end || num > INT_MAX) {
        error_setg(errp, "File descriptor named '%s' has not been found",
                   fdname);
        return -1;
    }
    return num;
}

/* ---- options stub: x-socket-timeout, as a test sets it ---- */

static unsigned int socket_timeout_ms = MIGRATION_SOCKET_TIMEOUT_DEFAULT;

unsigned int migrate_socket_timeout(void)
{
    return socket_timeout_ms;
}

/* ---- TLS stubs: this test runs without tls-creds (tls-test covers it) ---- */

bool migrate_tls(void)
{
    return false;
}

void migration_tls_client_async(QIOChannel *ioc, const SocketAddress *addr,
                                MigrationConnectFunc cb, void *opaque)
{
    g_assert_not_reached();
}

void migration_tls_accept(QIOChannel *ioc, MigrationAcceptFunc cb,
                          void *opaque)
{
    cb(ioc, opaque);
}

/* ---- callback bookkeeping ---- */

static GThread *main_thread;

typedef struct Result {
    bool called;
    int calls;
    QIOChannel *ioc;
    Error *err;
} Result;

static void on_connect(QIOChannel *ioc, Error *err, void *opaque)
{
    Result *r = opaque;

    /* The contract: main loop, main thread, BQL held, exactly once. */
    g_assert_true(bql_locked());
    g_assert_true(g_thread_self() == main_thread);
    g_assert_false(r->called);
    g_assert_true(!ioc != !err);
    r->called = true;
    r->calls++;
    r->ioc = ioc;
    r->err = err;
}

static void on_accept(QIOChannel *ioc, void *opaque)
{
    Result *r = opaque;

    g_assert_true(bql_locked());
    g_assert_true(g_thread_self() == main_thread);
    g_assert_nonnull(ioc);
    r->calls++;
    if (!r->called) {
        r->called = true;
        r->ioc = ioc;
    } else {
        qio_channel_unref(ioc);
    }
}

static gboolean loop_timeout(gpointer opaque)
{
    g_error("timed out waiting for a migration channel callback");
    return G_SOURCE_REMOVE;
}

/* Run the main loop until every flag is set (at most 10 s). */
static void wait_for(bool *a, bool *b)
{
    guint guard = g_timeout_add_seconds(10, loop_timeout, NULL);

    while (!(*a && (!b || *b))) {
        g_main_context_iteration(NULL, TRUE);
    }
    g_source_remove(guard);
}

static char *tmp_dir;

static char *tmp_path(const char *name)
{
    return g_build_filename(tmp_dir, name, NULL);
}

/* Push a message from @out to @in and check it arrives intact. */
static void check_transfer(QIOChannel *out, QIOChannel *in)
{
    static const char msg[] = "QEVM stream bytes";
    char buf[sizeof(msg)] = "";

    g_assert_cmpint(qio_channel_write_all(out, msg, sizeof(msg),
                                          &error_abort), ==, 0);
    g_assert_cmpint(qio_channel_read_all(in, buf, sizeof(buf),
                                         &error_abort), ==, 0);
    g_assert_cmpstr(buf, ==, msg);
}

static void result_clear(Result *r)
{
    if (r->ioc) {
        qio_channel_unref(r->ioc);
    }
    error_free(r->err);
    memset(r, 0, sizeof(*r));
}

/* Listen on @uri, connect to where it is bound, exchange bytes. */
static void socket_roundtrip(const char *uri, const char *prefix)
{
    Result src = { 0 }, dst = { 0 };
    g_autofree char *bound = NULL;

    g_assert_true(migration_channel_listen(uri, on_accept, &dst,
                                           &error_abort));
    bound = migration_channel_listen_uri();
    g_assert_nonnull(bound);
    g_assert_true(g_str_has_prefix(bound, prefix));
    g_assert_true(migration_channel_connect(bound, on_connect, &src,
                                            &error_abort));
    /* Nothing is delivered before the main loop runs. */
    g_assert_false(src.called);
    wait_for(&src.called, &dst.called);
    g_assert_null(src.err);
    g_assert_cmpstr(qio_channel_get_type(src.ioc), ==, "socket");
    g_assert_cmpstr(qio_channel_get_name(src.ioc), ==,
                    "migration-socket-outgoing");
    g_assert_cmpstr(qio_channel_get_name(dst.ioc), ==,
                    "migration-socket-incoming");
    check_transfer(src.ioc, dst.ioc);
    check_transfer(dst.ioc, src.ioc);     /* the return path direction */
    migration_channel_listen_stop();
    g_assert_null(migration_channel_listen_uri());
    result_clear(&src);
    result_clear(&dst);
}

static void test_tcp(void)
{
    g_autofree char *bound = NULL;
    const char *colon;

    socket_roundtrip("tcp:127.0.0.1:0", "tcp:127.0.0.1:");
    /* Port 0 must have been resolved to the real one. */
    g_assert_true(migration_channel_listen("tcp:127.0.0.1:0", on_accept,
                                           NULL, &error_abort));
    bound = migration_channel_listen_uri();
    colon = strrchr(bound, ':');
    g_assert_cmpint(atoi(colon + 1), >, 0);
    migration_channel_listen_stop();
}

static int sockopt_int(QIOChannel *ioc, int level, int opt)
{
    int val = -1;
    socklen_t len = sizeof(val);

    g_assert_cmpint(getsockopt(qio_channel_socket_get_fd(ioc), level, opt,
                               &val, &len), ==, 0);
    return val;
}

/*
 * Both ends of a tcp: migration channel carry the silent-peer bound of
 * x-socket-timeout: TCP_USER_TIMEOUT, and keepalive probing from half of
 * it on, every tenth, so an idle connection to a vanished peer fails
 * about when the timeout says (network-faults.md).
 */
static void check_peer_timeout(QIOChannel *ioc, unsigned int ms, int idle,
                               int intvl, int cnt)
{
    g_assert_cmpint(sockopt_int(ioc, IPPROTO_TCP, TCP_USER_TIMEOUT), ==, ms);
    g_assert_cmpint(sockopt_int(ioc, SOL_SOCKET, SO_KEEPALIVE), ==, !!ms);
    if (ms) {
        g_assert_cmpint(sockopt_int(ioc, IPPROTO_TCP, TCP_KEEPIDLE), ==,
                        idle);
        g_assert_cmpint(sockopt_int(ioc, IPPROTO_TCP, TCP_KEEPINTVL), ==,
                        intvl);
        g_assert_cmpint(sockopt_int(ioc, IPPROTO_TCP, TCP_KEEPCNT), ==, cnt);
    }
}

/* Listen on @uri and connect a channel pair to where it is bound. */
static void connect_pair(const char *uri, Result *src, Result *dst)
{
    g_autofree char *bound = NULL;

    g_assert_true(migration_channel_listen(uri, on_accept, dst,
                                           &error_abort));
    bound = migration_channel_listen_uri();
    g_assert_true(migration_channel_connect(bound, on_connect, src,
                                            &error_abort));
    wait_for(&src->called, &dst->called);
    g_assert_null(src->err);
}

static void tcp_peer_timeout_case(unsigned int ms, int idle, int intvl,
                                  int cnt)
{
    Result src = { 0 }, dst = { 0 };

    socket_timeout_ms = ms;
    connect_pair("tcp:127.0.0.1:0", &src, &dst);
    check_peer_timeout(src.ioc, ms, idle, intvl, cnt);
    check_peer_timeout(dst.ioc, ms, idle, intvl, cnt);
    check_transfer(src.ioc, dst.ioc);
    migration_channel_listen_stop();
    result_clear(&src);
    result_clear(&dst);
    socket_timeout_ms = MIGRATION_SOCKET_TIMEOUT_DEFAULT;
}

static void test_tcp_peer_timeout(void)
{
    /* The default: 10 s; probes from 5 s on, every second. */
    tcp_peer_timeout_case(MIGRATION_SOCKET_TIMEOUT_DEFAULT, 5, 1, 5);
    tcp_peer_timeout_case(2000, 1, 1, 1);
    tcp_peer_timeout_case(60000, 30, 6, 5);
    /* 0: the kernel's defaults, no keepalive. */
    tcp_peer_timeout_case(0, 0, 0, 0);
}

/* A unix socket's peer is on this host: nothing to bound, nothing set. */
static void test_unix_no_peer_timeout(void)
{
    g_autofree char *path = tmp_path("timeout.sock");
    g_autofree char *uri = g_strdup_printf("unix:%s", path);
    Result src = { 0 }, dst = { 0 };

    connect_pair(uri, &src, &dst);
    g_assert_cmpint(sockopt_int(src.ioc, SOL_SOCKET, SO_KEEPALIVE), ==, 0);
    g_assert_cmpint(sockopt_int(dst.ioc, SOL_SOCKET, SO_KEEPALIVE), ==, 0);
    migration_channel_listen_stop();
    result_clear(&src);
    result_clear(&dst);
}

static void test_unix(void)
{
    g_autofree char *path = tmp_path("mig.sock");
    g_autofree char *uri = g_strdup_printf("unix:%s", path);

    socket_roundtrip(uri, uri);
    /* And again on the same path, as a second migrate-incoming would. */
    socket_roundtrip(uri, uri);
}

/* Several connections queue up on one listener (multifd channels). */
static void test_tcp_many(void)
{
    Result src[8] = { 0 }, dst = { 0 };
    g_autofree char *bound = NULL;

    g_assert_true(migration_channel_listen("tcp:127.0.0.1:0", on_accept,
                                           &dst, &error_abort));
    bound = migration_channel_listen_uri();
    for (int i = 0; i < ARRAY_SIZE(src); i++) {
        g_assert_true(migration_channel_connect(bound, on_connect, &src[i],
                                                &error_abort));
    }
    for (int i = 0; i < ARRAY_SIZE(src); i++) {
        wait_for(&src[i].called, NULL);
        g_assert_null(src[i].err);
    }
    while (dst.calls < ARRAY_SIZE(src)) {
        g_main_context_iteration(NULL, TRUE);
    }
    migration_channel_listen_stop();
    for (int i = 0; i < ARRAY_SIZE(src); i++) {
        result_clear(&src[i]);
    }
    result_clear(&dst);
}

static void test_listen_twice(void)
{
    g_autofree char *path = tmp_path("twice.sock");
    g_autofree char *uri = g_strdup_printf("unix:%s", path);
    Error *err = NULL;

    g_assert_true(migration_channel_listen(uri, on_accept, NULL,
                                           &error_abort));
    g_assert_false(migration_channel_listen("tcp:127.0.0.1:0", on_accept,
                                            NULL, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "already"));
    error_free(err);
    migration_channel_listen_stop();
}

/* After listen_stop, nobody answers on the old address. */
static void test_listen_stop(void)
{
    g_autofree char *path = tmp_path("stop.sock");
    g_autofree char *uri = g_strdup_printf("unix:%s", path);
    Result src = { 0 }, dst = { 0 };

    g_assert_true(migration_channel_listen(uri, on_accept, &dst,
                                           &error_abort));
    migration_channel_listen_stop();
    g_assert_true(migration_channel_connect(uri, on_connect, &src,
                                            &error_abort));
    wait_for(&src.called, NULL);
    g_assert_nonnull(src.err);
    g_assert_false(dst.called);
    result_clear(&src);
}

/* What qmig's destination does: stop listening from the accept callback. */
static void on_accept_stop(QIOChannel *ioc, void *opaque)
{
    on_accept(ioc, opaque);
    migration_channel_listen_stop();
}

static void test_stop_in_callback(void)
{
    static const char *const uris[] = { "tcp:127.0.0.1:0", "exec:true" };

    for (int i = 0; i < ARRAY_SIZE(uris); i++) {
        Result src = { 0 }, dst = { 0 };
        g_autofree char *bound = NULL;

        g_assert_true(migration_channel_listen(uris[i], on_accept_stop,
                                               &dst, &error_abort));
        bound = migration_channel_listen_uri();
        if (bound) {
            g_assert_true(migration_channel_connect(bound, on_connect, &src,
                                                    &error_abort));
            wait_for(&src.called, &dst.called);
            check_transfer(src.ioc, dst.ioc);
        } else {
            wait_for(&dst.called, NULL);
        }
        g_assert_null(migration_channel_listen_uri());
        /* A new listen works at once: nothing is left behind. */
        g_assert_true(migration_channel_listen(uris[i], on_accept, NULL,
                                               &error_abort));
        migration_channel_listen_stop();
        result_clear(&src);
        result_clear(&dst);
    }
}

static void test_connect_refused_unix(void)
{
    g_autofree char *path = tmp_path("nobody.sock");
    g_autofree char *uri = g_strdup_printf("unix:%s", path);
    Result src = { 0 };

    g_assert_true(migration_channel_connect(uri, on_connect, &src,
                                            &error_abort));
    wait_for(&src.called, NULL);
    g_assert_null(src.ioc);
    g_assert_nonnull(src.err);
    g_assert_nonnull(strstr(error_get_pretty(src.err), path));
    g_assert_nonnull(strstr(error_get_pretty(src.err), "No such file"));
    result_clear(&src);
}

static void test_connect_refused_tcp(void)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t len = sizeof(sin);
    g_autofree char *uri = NULL;
    Result src = { 0 };
    int fd;

    /* A port that was free a moment ago: bound, never listened on. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), ==, 0);
    g_assert_cmpint(getsockname(fd, (struct sockaddr *)&sin, &len), ==, 0);
    uri = g_strdup_printf("tcp:127.0.0.1:%d", ntohs(sin.sin_port));
    g_assert_true(migration_channel_connect(uri, on_connect, &src,
                                            &error_abort));
    wait_for(&src.called, NULL);
    close(fd);
    g_assert_nonnull(src.err);
    g_assert_nonnull(strstr(error_get_pretty(src.err), "refused"));
    result_clear(&src);
}

typedef struct Ticker {
    int ticks;
    int server_fd;
    bool accepted;
} Ticker;

/* Accept whatever is queued, once the connect has waited a while. */
static gboolean ticker_tick(gpointer opaque)
{
    Ticker *t = opaque;

    if (++t->ticks == 5) {
        int fd = accept(t->server_fd, NULL, NULL);

        g_assert_cmpint(fd, >=, 0);
        close(fd);
        t->accepted = true;
    }
    return G_SOURCE_CONTINUE;
}

/*
 * The main loop keeps running while a connect is stuck: a unix listener
 * with a full backlog makes connect() block until the server accepts.
 */
static void test_connect_does_not_block(void)
{
    g_autofree char *path = tmp_path("slow.sock");
    g_autofree char *uri = g_strdup_printf("unix:%s", path);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    Ticker t = { 0 };
    Result src = { 0 };
    int filler;
    guint timer;

    g_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
    t.server_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    g_assert_cmpint(bind(t.server_fd, (struct sockaddr *)&sun,
                         sizeof(sun)), ==, 0);
    g_assert_cmpint(listen(t.server_fd, 0), ==, 0);
    /* Fill the backlog (0 lets exactly one connection queue). */
    filler = socket(AF_UNIX, SOCK_STREAM, 0);
    g_assert_cmpint(connect(filler, (struct sockaddr *)&sun, sizeof(sun)),
                    ==, 0);

    timer = g_timeout_add(20, ticker_tick, &t);
    g_assert_true(migration_channel_connect(uri, on_connect, &src,
                                            &error_abort));
    wait_for(&src.called, NULL);
    g_source_remove(timer);
    /* The loop ticked while connecting, and the connect needed the accept. */
    g_assert_true(t.accepted);
    g_assert_cmpint(t.ticks, >=, 5);
    g_assert_nonnull(src.ioc);
    result_clear(&src);
    close(filler);
    close(t.server_fd);
    unlink(path);
}

static void test_exec(void)
{
    g_autofree char *out_path = tmp_path("exec.out");
    g_autofree char *out_uri = g_strdup_printf("exec:cat > %s", out_path);
    g_autofree char *contents = NULL;
    Result src = { 0 }, dst = { 0 };
    char buf[16] = "";
    gsize len;

    /* Outgoing: we write the command's stdin. */
    g_assert_true(migration_channel_connect(out_uri, on_connect, &src,
                                            &error_abort));
    wait_for(&src.called, NULL);
    g_assert_cmpstr(qio_channel_get_type(src.ioc), ==, "command");
    g_assert_cmpstr(qio_channel_get_name(src.ioc), ==,
                    "migration-exec-outgoing");
    g_assert_cmpint(qio_channel_write_all(src.ioc, "to-cat", 6,
                                          &error_abort), ==, 0);
    /* Closing reaps the child, so the file is complete afterwards. */
    g_assert_cmpint(qio_channel_close(src.ioc, &error_abort), ==, 0);
    g_assert_true(g_file_get_contents(out_path, &contents, &len, NULL));
    g_assert_cmpmem(contents, len, "to-cat", 6);

    /* Incoming: we read the command's stdout. */
    g_assert_true(migration_channel_listen("exec:printf from-exec",
                                           on_accept, &dst, &error_abort));
    g_assert_null(migration_channel_listen_uri());
    wait_for(&dst.called, NULL);
    g_assert_cmpstr(qio_channel_get_name(dst.ioc), ==,
                    "migration-exec-incoming");
    g_assert_cmpint(qio_channel_read_all(dst.ioc, buf, 9, &error_abort),
                    ==, 0);
    g_assert_cmpstr(buf, ==, "from-exec");
    g_assert_cmpint(qio_channel_read(dst.ioc, buf, 1, &error_abort), ==, 0);
    migration_channel_listen_stop();
    result_clear(&src);
    result_clear(&dst);
}

static void test_file(void)
{
    g_autofree char *path = tmp_path("stream.bin");
    g_autofree char *uri0 = g_strdup_printf("file:%s", path);
    g_autofree char *uri_off = g_strdup_printf("file:%s,offset=4", path);
    g_autofree char *contents = NULL;
    Result src = { 0 }, dst = { 0 };
    char buf[8] = "";
    gsize len;

    /* offset 0: whatever was there goes. */
    g_assert_true(g_file_set_contents(path, "old old old old", -1, NULL));
    g_assert_true(migration_channel_connect(uri0, on_connect, &src,
                                            &error_abort));
    wait_for(&src.called, NULL);
    g_assert_cmpstr(qio_channel_get_name(src.ioc), ==,
                    "migration-file-outgoing");
    g_assert_cmpint(qio_channel_write_all(src.ioc, "HEADxxxx", 8,
                                          &error_abort), ==, 0);
    result_clear(&src);
    g_assert_true(g_file_get_contents(path, &contents, &len, NULL));
    g_assert_cmpmem(contents, len, "HEADxxxx", 8);
    g_clear_pointer(&contents, g_free);

    /* offset 4: the bytes before stay, the ones after are replaced. */
    g_assert_true(migration_channel_connect(uri_off, on_connect, &src,
                                            &error_abort));
    wait_for(&src.called, NULL);
    g_assert_cmpint(qio_channel_write_all(src.ioc, "ab", 2, &error_abort),
                    ==, 0);
    result_clear(&src);
    g_assert_true(g_file_get_contents(path, &contents, &len, NULL));
    g_assert_cmpmem(contents, len, "HEADab", 6);

    /* Incoming reads from the offset. */
    g_assert_true(migration_channel_listen(uri_off, on_accept, &dst,
                                           &error_abort));
    wait_for(&dst.called, NULL);
    g_assert_cmpstr(qio_channel_get_name(dst.ioc), ==,
                    "migration-file-incoming");
    g_assert_cmpint(qio_channel_read_all(dst.ioc, buf, 2, &error_abort),
                    ==, 0);
    g_assert_cmpstr(buf, ==, "ab");
    g_assert_cmpint(qio_channel_read(dst.ioc, buf, 1, &error_abort), ==, 0);
    migration_channel_listen_stop();
    result_clear(&dst);
}

static void test_fd(void)
{
    Result src = { 0 }, dst = { 0 };
    g_autofree char *uri = NULL;
    char buf[8] = "";
    int sv[2], pipefd[2];

    /* Outgoing on a socket (by number): a socket channel. */
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    uri = g_strdup_printf("fd:%d", sv[0]);
    g_assert_true(migration_channel_connect(uri, on_connect, &src,
                                            &error_abort));
    wait_for(&src.called, NULL);
    g_assert_cmpstr(qio_channel_get_type(src.ioc), ==, "socket");
    g_assert_cmpstr(qio_channel_get_name(src.ioc), ==,
                    "migration-fd-outgoing");
    g_assert_cmpint(qio_channel_write_all(src.ioc, "sock", 4, &error_abort),
                    ==, 0);
    g_assert_cmpint(read(sv[1], buf, 4), ==, 4);
    g_assert_cmpstr(buf, ==, "sock");
    result_clear(&src);         /* the channel owned sv[0] */
    close(sv[1]);

    /* Incoming on a pipe given with getfd: a file channel. */
    g_assert_cmpint(pipe(pipefd), ==, 0);
    named_fd = pipefd[0];
    g_assert_true(migration_channel_listen("fd:migfd", on_accept, &dst,
                                           &error_abort));
    wait_for(&dst.called, NULL);
    g_assert_cmpstr(qio_channel_get_type(dst.ioc), ==, "file");
    g_assert_cmpstr(qio_channel_get_name(dst.ioc), ==,
                    "migration-fd-incoming");
    g_assert_cmpint(write(pipefd[1], "pipe", 4), ==, 4);
    close(pipefd[1]);
    memset(buf, 0, sizeof(buf));
    g_assert_cmpint(qio_channel_read_all(dst.ioc, buf, 4, &error_abort),
                    ==, 0);
    g_assert_cmpstr(buf, ==, "pipe");
    migration_channel_listen_stop();
    result_clear(&dst);
    close(named_fd);
    named_fd = -1;
}

/* listen_stop before the main loop ran: the channel is never delivered. */
static void test_listen_stop_pending(void)
{
    Result dst = { 0 };

    g_assert_true(migration_channel_listen("exec:true", on_accept, &dst,
                                           &error_abort));
    migration_channel_listen_stop();
    while (g_main_context_iteration(NULL, FALSE)) {
        /* drain */
    }
    g_assert_false(dst.called);
}

static void check_bad(const char *uri, bool outgoing, const char *expect)
{
    Error *err = NULL;
    bool ok;

    ok = outgoing ? migration_channel_connect(uri, on_connect, NULL, &err)
                  : migration_channel_listen(uri, on_accept, NULL, &err);
    g_assert_false(ok);
    g_assert_nonnull(err);
    if (!strstr(error_get_pretty(err), expect)) {
        g_error("'%s': got '%s', expected it to contain '%s'", uri,
                error_get_pretty(err), expect);
    }
    error_free(err);
}

static void test_bad_uris(void)
{
    for (int out = 0; out < 2; out++) {
        check_bad("foo:bar", out, "unknown migration protocol: foo:bar");
        check_bad("nocolon", out, "unknown migration protocol: nocolon");
        check_bad("", out, "unknown migration protocol");
        check_bad("rdma:127.0.0.1:4444", out, "RDMA");
        check_bad("tcp:127.0.0.1", out, "127.0.0.1");
        check_bad("tcp:127.0.0.1:99999", out, "99999");
        check_bad("unix:", out, "unix:");
        check_bad("exec:", out, "command");
        check_bad("file:", out, "file name");
        check_bad("file:/nonexistent-dir/x", out, "/nonexistent-dir/x");
        check_bad("file:/tmp/x,offset=lots", out, "lots");
        check_bad("fd:nosuchname", out, "nosuchname");
    }
    /* Listening where it cannot: the address is named. */
    check_bad("unix:/nonexistent-dir/sock", false, "/nonexistent-dir/sock");
    /* Nothing may be left half-open after the failures. */
    g_assert_null(migration_channel_listen_uri());
}

static void remove_tmp_dir(void)
{
    GDir *dir = g_dir_open(tmp_dir, 0, NULL);
    const char *name;

    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *path = tmp_path(name);

        unlink(path);
    }
    if (dir) {
        g_dir_close(dir);
    }
    rmdir(tmp_dir);
    g_free(tmp_dir);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);
    main_thread = g_thread_self();
    tmp_dir = g_dir_make_tmp("test-migration-channel-XXXXXX", NULL);
    g_assert_nonnull(tmp_dir);
    /* Run the loop as qmig does: BQL held, dropped only in poll(). */
    main_loop_init();
    bql_lock();

    g_test_add_func("/migration/channel/tcp", test_tcp);
    g_test_add_func("/migration/channel/tcp-many", test_tcp_many);
    g_test_add_func("/migration/channel/unix", test_unix);
    g_test_add_func("/migration/channel/tcp-peer-timeout",
                    test_tcp_peer_timeout);
    g_test_add_func("/migration/channel/unix-no-peer-timeout",
                    test_unix_no_peer_timeout);
    g_test_add_func("/migration/channel/listen-twice", test_listen_twice);
    g_test_add_func("/migration/channel/listen-stop", test_listen_stop);
    g_test_add_func("/migration/channel/listen-stop-pending",
                    test_listen_stop_pending);
    g_test_add_func("/migration/channel/stop-in-callback",
                    test_stop_in_callback);
    g_test_add_func("/migration/channel/refused-unix",
                    test_connect_refused_unix);
    g_test_add_func("/migration/channel/refused-tcp",
                    test_connect_refused_tcp);
    g_test_add_func("/migration/channel/connect-does-not-block",
                    test_connect_does_not_block);
    g_test_add_func("/migration/channel/exec", test_exec);
    g_test_add_func("/migration/channel/file", test_file);
    g_test_add_func("/migration/channel/fd", test_fd);
    g_test_add_func("/migration/channel/bad-uris", test_bad_uris);
    ret = g_test_run();

    bql_unlock();
    remove_tmp_dir();
    return ret;
}
