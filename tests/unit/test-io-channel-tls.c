/*
 * Unit tests: the TLS channel over a socketpair with PSK and anonymous
 * credentials (x509 runs with real certificates in tests/qtest/tls-test):
 * data both ways at once (the return path's pattern), a wrong key and an
 * identity tls-authz refuses failing both handshakes, a silent peer
 * timing the handshake out, and no clear text on the socket.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/socket.h>
#include <glib/gstdio.h>
#include "authz/authz.h"
#include "crypto/tlscreds.h"
#include "io/channel-socket.h"
#include "io/channel-tls.h"
#include "qom/object.h"

#define PSK_RIGHT "qemu:0123456789abcdef0123456789abcdef\n"
#define PSK_WRONG "qemu:fedcba9876543210fedcba9876543210\n"

static char *tmp_dir;

static void make_psk_dir(const char *name, const char *line)
{
    g_autofree char *dir = g_build_filename(tmp_dir, name, NULL);
    g_autofree char *file = g_build_filename(dir, "keys.psk", NULL);

    g_mkdir(dir, 0700);
    g_assert_true(g_file_set_contents(file, line, -1, NULL));
}

static QCryptoTLSCreds *add_creds(const char *id, const char *kind,
                                  const char *endpoint, const char *sub)
{
    g_autofree char *arg = sub ?
        g_strdup_printf("tls-creds-%s,id=%s,endpoint=%s,dir=%s/%s", kind, id,
                        endpoint, tmp_dir, sub) :
        g_strdup_printf("tls-creds-%s,id=%s,endpoint=%s", kind, id,
                        endpoint);

    UserObject *existing = object_find_ref(id);

    /* Cases share objects: made by the first that needs each. */
    if (existing) {
        object_unref(existing);
    } else {
        g_assert_true(object_add_from_cmdline(arg, &error_abort));
    }
    return qcrypto_tls_creds_find(id, &error_abort);
}

typedef struct Side {
    QIOChannel *ioc;
    bool ok;
    Error *err;
    unsigned int timeout_ms;
} Side;

static gpointer handshake_thread(gpointer opaque)
{
    Side *s = opaque;

    s->ok = qio_channel_tls_handshake(s->ioc, s->timeout_ms, &s->err);
    return NULL;
}

/* Both handshakes, concurrently; returns whether both succeeded. */
static bool handshake_pair(Side *cli, Side *srv)
{
    GThread *t = g_thread_new("srv", handshake_thread, srv);

    handshake_thread(cli);
    g_thread_join(t);
    return cli->ok && srv->ok;
}

static void make_tls_pair(QCryptoTLSCreds *cc, QCryptoTLSCreds *sc,
                          const char *authz, Side *cli, Side *srv,
                          int *raw_fd)
{
    int sv[2];
    QIOChannel *a, *b;

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    if (raw_fd) {
        *raw_fd = dup(sv[1]);
    }
    a = qio_channel_socket_new_fd(sv[0], &error_abort);
    b = qio_channel_socket_new_fd(sv[1], &error_abort);
    *cli = (Side){ .timeout_ms = 5000 };
    *srv = (Side){ .timeout_ms = 5000 };
    cli->ioc = qio_channel_tls_new_client(a, cc, NULL, &error_abort);
    srv->ioc = qio_channel_tls_new_server(b, sc, authz, &error_abort);
    qio_channel_unref(a);
    qio_channel_unref(b);
}

/*
 * A pair over credentials of @kind: the client's from @cli_id/@cli_sub,
 * the server's ("<kind>s") from @srv_sub; the sessions keep the objects.
 */
static void start_pair(const char *kind, const char *cli_id,
                       const char *cli_sub, const char *srv_sub,
                       const char *authz, Side *cli, Side *srv, int *spy)
{
    g_autofree char *srv_id = g_strdup_printf("%ss", kind);
    g_autoptr(QCryptoTLSCreds) cc = add_creds(cli_id, kind, "client",
                                              cli_sub);
    g_autoptr(QCryptoTLSCreds) sc = add_creds(srv_id, kind, "server",
                                              srv_sub);

    make_tls_pair(cc, sc, authz, cli, srv, spy);
}

static void free_sides(Side *cli, Side *srv)
{
    qio_channel_unref(cli->ioc);
    qio_channel_unref(srv->ioc);
    error_free(cli->err);
    error_free(srv->err);
}

#define BIG (4 << 20)

typedef struct Flow {
    QIOChannel *ioc;
    bool write;
    uint8_t *buf;
} Flow;

static gpointer flow_thread(gpointer opaque)
{
    Flow *f = opaque;
    struct iovec iov[3] = {
        { f->buf, 8 }, { f->buf + 8, 4096 }, { f->buf + 4104, BIG - 4104 },
    };

    if (f->write) {
        g_assert_cmpint(qio_channel_writev_all(f->ioc, iov, 3, &error_abort),
                        ==, 0);
    } else {
        g_assert_cmpint(qio_channel_read_all(f->ioc, f->buf, BIG,
                                             &error_abort), ==, 0);
    }
    return NULL;
}

static uint8_t *pattern(uint8_t seed)
{
    uint8_t *buf = g_malloc(BIG);

    for (size_t i = 0; i < BIG; i++) {
        buf[i] = (uint8_t)(i * 7 + seed + (i >> 12));
    }
    return buf;
}

/* 4 MiB each way at the same time, each side a reader and a writer. */
static void check_both_ways(Side *cli, Side *srv)
{
    g_autofree uint8_t *c_out = pattern(1), *s_out = pattern(2);
    g_autofree uint8_t *c_in = g_malloc(BIG), *s_in = g_malloc(BIG);
    Flow flows[4] = {
        { cli->ioc, true, c_out }, { srv->ioc, false, s_in },
        { srv->ioc, true, s_out }, { cli->ioc, false, c_in },
    };
    GThread *t[4];

    for (int i = 0; i < 4; i++) {
        t[i] = g_thread_new("flow", flow_thread, &flows[i]);
    }
    for (int i = 0; i < 4; i++) {
        g_thread_join(t[i]);
    }
    g_assert_true(memcmp(c_out, s_in, BIG) == 0);
    g_assert_true(memcmp(s_out, c_in, BIG) == 0);
}

static void test_psk(void)
{
    Side cli, srv;

    start_pair("psk", "pskc", "right", "right", NULL, &cli, &srv, NULL);
    g_assert_true(handshake_pair(&cli, &srv));
    g_assert_cmpstr(qio_channel_tls_get_peer_name(srv.ioc), ==, "qemu");
    check_both_ways(&cli, &srv);
    /* The peer closing without close_notify reads as end of stream. */
    qio_channel_close(cli.ioc, &error_abort);
    {
        char c;

        g_assert_cmpint(qio_channel_read(srv.ioc, &c, 1, &error_abort), ==,
                        0);
    }
    free_sides(&cli, &srv);
}

static void test_anon(void)
{
    Side cli, srv;

    start_pair("anon", "anonc", NULL, NULL, NULL, &cli, &srv, NULL);
    g_assert_true(handshake_pair(&cli, &srv));
    check_both_ways(&cli, &srv);
    free_sides(&cli, &srv);
}

static void test_psk_wrong_key(void)
{
    Side cli, srv;

    start_pair("psk", "pskw", "wrong", "right", NULL, &cli, &srv, NULL);
    g_assert_false(handshake_pair(&cli, &srv));
    g_assert_false(cli.ok);
    g_assert_false(srv.ok);
    /* The server's alert, not a timeout, tells the client at once. */
    g_assert_nonnull(strstr(error_get_pretty(cli.err), "pre-shared key"));
    g_assert_null(strstr(error_get_pretty(cli.err), "timed out"));
    /* Unusable afterwards. */
    g_assert_cmpint(qio_channel_write(cli.ioc, "x", 1, NULL), <, 0);
    free_sides(&cli, &srv);
}

static void test_authz_refused(void)
{
    Side cli, srv;
    char c;

    if (!object_find_ref("nobody")) {
        g_assert_true(object_add_from_cmdline(
            "authz-simple,id=nobody,identity=someone-else", &error_abort));
    }
    start_pair("psk", "pskc", "right", "right", "nobody", &cli, &srv, NULL);
    handshake_pair(&cli, &srv);
    g_assert_false(srv.ok);
    g_assert_nonnull(strstr(error_get_pretty(srv.err), "refuses the "
                            "identity 'qemu'"));
    /* The client hears why (TLS 1.3: after its own handshake ended). */
    if (cli.ok) {
        Error *err = NULL;

        g_assert_cmpint(qio_channel_read(cli.ioc, &c, 1, &err), <, 0);
        g_assert_nonnull(strstr(error_get_pretty(err), "denied"));
        error_free(err);
    }
    free_sides(&cli, &srv);
}

static void test_timeout(void)
{
    g_autoptr(QCryptoTLSCreds) cc = add_creds("pskc", "psk", "client",
                                              "right");
    int sv[2];
    QIOChannel *a;
    Side cli = { .timeout_ms = 200 };
    gint64 start = g_get_monotonic_time();

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    a = qio_channel_socket_new_fd(sv[0], &error_abort);
    cli.ioc = qio_channel_tls_new_client(a, cc, NULL, &error_abort);
    qio_channel_unref(a);
    g_assert_false(qio_channel_tls_handshake(cli.ioc, cli.timeout_ms,
                                             &cli.err));
    g_assert_nonnull(strstr(error_get_pretty(cli.err), "timed out"));
    g_assert_cmpint(g_get_monotonic_time() - start, <, 5 * G_USEC_PER_SEC);
    qio_channel_unref(cli.ioc);
    error_free(cli.err);
    close(sv[1]);
}

/* What crosses the socket is not the data written. */
static void test_no_cleartext(void)
{
    static const char secret[] = "a page of guest memory, in clear";
    g_autofree uint8_t *raw = g_malloc0(1 << 16);
    Side cli, srv;
    ssize_t n, total = 0;
    int spy;

    start_pair("psk", "pskc", "right", "right", NULL, &cli, &srv, &spy);
    g_assert_true(handshake_pair(&cli, &srv));
    g_assert_cmpint(qio_channel_write_all(cli.ioc, secret, sizeof(secret),
                                          &error_abort), ==, 0);
    /* Read the record off the socket before the TLS server does. */
    while ((n = recv(spy, raw + total, (1 << 16) - total,
                     MSG_DONTWAIT)) > 0) {
        total += n;
    }
    g_assert_cmpint(total, >, (ssize_t)sizeof(secret));
    g_assert_null(g_strstr_len((char *)raw, total, "guest memory"));
    close(spy);
    free_sides(&cli, &srv);
}

static void test_creds_errors(void)
{
    Error *err = NULL;

    g_assert_false(object_add_from_cmdline(
        "tls-creds-psk,id=e1,endpoint=client,dir=/nonexistent", &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "tls-creds-psk 'e1'"));
    g_assert_nonnull(strstr(error_get_pretty(err), "/nonexistent/keys.psk"));
    g_clear_pointer(&err, error_free);
    g_assert_false(object_add_from_cmdline(
        "tls-creds-x509,id=e2,endpoint=server,dir=/nonexistent", &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "ca-cert.pem"));
    g_clear_pointer(&err, error_free);
    g_assert_false(object_add_from_cmdline(
        "tls-creds-psk,id=e3,endpoint=middle", &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "'client' or 'server'"));
    g_clear_pointer(&err, error_free);
    g_assert_false(object_add_from_cmdline(
        "authz-list,id=e4,policy=maybe", &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "authz-list 'e4'"));
    g_clear_pointer(&err, error_free);
    /* authz-list rules, JSON form: the first match decides. */
    g_assert_true(object_add_from_cmdline(
        "{\"qom-type\": \"authz-list\", \"id\": \"l1\", \"policy\": "
        "\"allow\", \"rules\": [{\"match\": \"bad*\", \"policy\": \"deny\", "
        "\"format\": \"glob\"}, {\"match\": \"exact\", \"policy\": "
        "\"deny\"}]}", &error_abort));
    g_assert_true(authz_is_allowed("l1", "good", &error_abort));
    g_assert_false(authz_is_allowed("l1", "badone", NULL));
    g_assert_false(authz_is_allowed("l1", "exact", NULL));
    g_assert_true(authz_is_allowed("l1", "exactly", &error_abort));
    g_assert_true(object_del("l1", &error_abort));
    g_assert_false(object_del("l1", NULL));
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    tmp_dir = g_dir_make_tmp("qmig-tls-unit-XXXXXX", NULL);
    make_psk_dir("right", PSK_RIGHT);
    make_psk_dir("wrong", PSK_WRONG);
    qcrypto_tls_creds_register_types();
    authz_register_types();
    g_test_add_func("/io/channel/tls/psk", test_psk);
    g_test_add_func("/io/channel/tls/anon", test_anon);
    g_test_add_func("/io/channel/tls/psk-wrong-key", test_psk_wrong_key);
    g_test_add_func("/io/channel/tls/authz-refused", test_authz_refused);
    g_test_add_func("/io/channel/tls/timeout", test_timeout);
    g_test_add_func("/io/channel/tls/no-cleartext", test_no_cleartext);
    g_test_add_func("/io/channel/tls/creds-errors", test_creds_errors);
    ret = g_test_run();
    for (int i = 0; i < 2; i++) {
        g_autofree char *f = g_build_filename(tmp_dir, i ? "wrong" : "right",
                                              "keys.psk", NULL);
        g_autofree char *d = g_path_get_dirname(f);

        g_unlink(f);
        g_rmdir(d);
    }
    g_rmdir(tmp_dir);
    return ret;
}
