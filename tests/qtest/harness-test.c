/*
 * The surface QEMU's test harnesses and libvirt drive besides migration
 * itself, each with real guests:
 *   -uuid, query-uuid and the validate-uuid capability (a destination
 *   refuses a stream from another VM);
 *   migrate / migrate-incoming with the "channels" argument (QEMU 8.2+);
 *   -qmp, -chardev socket and -qtest in client mode (the test listens);
 *   exit statuses (SIGTERM: 0; a failed incoming migration: 1);
 *   -name ...,debug-threads=on (migration thread names in /proc).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <string.h>
#include "migration-helpers.h"

#define UUID_SRC "6b8e4f0a-3c2d-4e1f-9a8b-7c6d5e4f3a2b"
#define UUID_OTHER "6b8e4f0a-3c2d-4e1f-9a8b-7c6d5e4f3a2c"
/* A slow link: the migration stays active while a case looks at it. */
#define CRAWL_BW (4ULL << 20)

/* Migrate @src to @dst's @uri (or the channels in @channels) and check. */
static void migrate_and_check(QTestState *src, QTestState *dst,
                              const char *uri, const char *channels)
{
    mig_set_unlimited(src);
    if (channels) {
        qtest_qmp_assert_success(src, "{\"execute\": \"migrate\", "
                                 "\"arguments\": {\"channels\": [%s]}}",
                                 channels);
    } else {
        mig_migrate(src, uri);
    }
    mig_complete_and_check(src, dst, false);
}

static char *query_uuid(QTestState *s)
{
    g_autoptr(JsonNode) rsp = qtest_qmp(s, "{\"execute\": \"query-uuid\"}");
    JsonNode *ret = qmp_rsp_member(rsp, "return");

    g_assert_nonnull(ret);
    return g_strdup(json_object_get_string_member(json_node_get_object(ret),
                                                  "UUID"));
}

/* ---- -uuid and validate-uuid --------------------------------------------- */

/* query-uuid: -uuid in canonical lower case, zeros without one. */
static void test_uuid_query(void)
{
    QTestState *s = qtest_initf("-accel qtest -m 16M -uuid %s",
                                "6B8E4F0A-3C2D-4E1F-9A8B-7C6D5E4F3A2B");
    QTestState *plain = qtest_initf("-accel qtest -m 16M");
    g_autofree char *u = query_uuid(s);
    g_autofree char *z = query_uuid(plain);
    g_autofree char *hmp = qtest_hmp(s, "info uuid");
    QTestRun r;

    g_assert_cmpstr(u, ==, UUID_SRC);
    g_assert_cmpstr(z, ==, "00000000-0000-0000-0000-000000000000");
    g_assert_true(g_str_has_prefix(hmp, UUID_SRC "\n") ||
                  g_str_has_prefix(hmp, UUID_SRC "\r\n"));
    qtest_quit(s);
    qtest_quit(plain);
    qtest_run_expect_exit(qtest_vmm_binary(),
                          "-accel qtest -m 16M -uuid 6b8e4f0a-zz", &r);
    g_assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1);
    g_assert_nonnull(strstr(r.err, "UUID"));
    qtest_run_free(&r);
}

/* The same UUID on both sides, validate-uuid on: it migrates. */
static void test_uuid_match(void)
{
    QTestState *dst = NULL;
    g_autofree char *uri = NULL;
    QTestState *src = mig_start_pair("-uuid " UUID_SRC, "-uuid " UUID_SRC,
                                     &dst, &uri);

    mig_set_capability_both(src, dst, "validate-uuid", true);
    migrate_and_check(src, dst, uri, NULL);
    mig_quit_clean(src);
    mig_quit_clean(dst);
}

/*
 * Another VM's UUID: the destination refuses the stream with both UUIDs
 * in its message and, as -incoming URI implies exit-on-error, exits with
 * status 1; the source fails and its guest runs on.
 */
static void test_uuid_mismatch(void)
{
    static const char *const failed[] = { "failed", NULL };
    QTestState *dst = NULL;
    g_autofree char *uri = NULL;
    QTestState *src = mig_start_pair("-uuid " UUID_SRC, "-uuid " UUID_OTHER,
                                     &dst, &uri);
    g_autofree char *st = NULL;
    g_autofree char *err = NULL;
    int status;

    mig_set_capability(src, "validate-uuid", true);
    mig_set_unlimited(src);
    mig_migrate(src, uri);
    st = mig_wait_status(src, failed);
    mig_assert_running(src);
    mig_wait_more_passes(src, 1);
    if (!qtest_wait_exit(dst, qtest_timeout_s(), &status)) {
        g_error("destination still running after refusing the stream");
    }
    /* exit-on-error: QEMU's status 1. */
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 1);
    err = qtest_stderr(dst);
    if (!strstr(err, "UUID received is " UUID_SRC " and local is "
                UUID_OTHER)) {
        g_error("destination's error does not name both UUIDs: %s", err);
    }
    g_assert_cmpuint(qtest_file_count_char(qtest_serial_path(dst), 'B'), ==,
                     0);
    qtest_quit(dst);
    mig_check_stamp(src, true);
    mig_quit_clean(src);
}

/* ---- the channels argument ----------------------------------------------- */

static void test_channels_unix(void)
{
    QTestState *src = mig_start_source(NULL);
    const char *path = qtest_path(src, "chan.sock");
    g_autofree char *chan = g_strdup_printf(
        "{\"channel-type\": \"main\", \"addr\": {\"transport\": \"socket\", "
        "\"type\": \"unix\", \"path\": \"%s\"}}", path);
    QTestState *dst = mig_start_dest("defer", NULL);

    qtest_qmp_assert_success(dst, "{\"execute\": \"migrate-incoming\", "
                             "\"arguments\": {\"channels\": [%s]}}", chan);
    migrate_and_check(src, dst, NULL, chan);
    mig_quit_clean(src);
    mig_quit_clean(dst);
}

static void test_channels_inet(void)
{
    QTestState *src = mig_start_source(NULL);
    QTestState *dst = mig_start_dest("defer", NULL);
    g_autofree char *port = NULL;
    g_autofree char *chan = NULL;

    qtest_qmp_assert_success(dst, "{\"execute\": \"migrate-incoming\", "
        "\"arguments\": {\"channels\": [{\"channel-type\": \"main\", "
        "\"addr\": {\"transport\": \"socket\", \"type\": \"inet\", "
        "\"host\": \"127.0.0.1\", \"port\": \"0\"}}]}}");
    port = mig_dest_tcp_port(dst);
    g_assert_cmpstr(port, !=, "0");
    chan = g_strdup_printf("{\"channel-type\": \"main\", \"addr\": {"
                           "\"transport\": \"socket\", \"type\": \"inet\", "
                           "\"host\": \"127.0.0.1\", \"port\": \"%s\"}}",
                           port);
    migrate_and_check(src, dst, NULL, chan);
    mig_quit_clean(src);
    mig_quit_clean(dst);
}

/* socket type fd: descriptors passed with getfd, named in the channel. */
static void test_channels_fd(void)
{
    QTestState *src = mig_start_source(NULL);
    QTestState *dst = mig_start_dest("defer", NULL);
    const char *fmt = "{\"channel-type\": \"main\", \"addr\": {"
                      "\"transport\": \"socket\", \"type\": \"fd\", "
                      "\"str\": \"%s\"}}";
    g_autofree char *in = g_strdup_printf(fmt, "mig-in");
    g_autofree char *out = g_strdup_printf(fmt, "mig-out");
    int sv[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                    ==, 0);
    mig_getfd(dst, sv[1], "mig-in");
    qtest_qmp_assert_success(dst, "{\"execute\": \"migrate-incoming\", "
                             "\"arguments\": {\"channels\": [%s]}}", in);
    mig_getfd(src, sv[0], "mig-out");
    /* Only the VMMs hold the ends now: EOF reaches each as it should. */
    close(sv[0]);
    close(sv[1]);
    migrate_and_check(src, dst, NULL, out);
    mig_quit_clean(src);
    mig_quit_clean(dst);
}

/*
 * Save a stamp source through channel @out into @path, check the stream
 * starts at @offset there ("QEVM", QEMU_VM_FILE_MAGIC), then load it on a
 * fresh destination through channel @in and check that guest.  With
 * @uuid, both VMs have it, the source sends it (validate-uuid), and the
 * saved stream shows it.
 */
static void save_then_load(const char *out, const char *in,
                           const char *path, gsize offset, const char *uuid)
{
    static const char *const done[] = { "completed", NULL };
    g_autofree char *extra = uuid ? g_strdup_printf("-uuid %s", uuid) : NULL;
    QTestState *src = mig_start_source(extra);
    g_autoptr(GBytes) src_mem = NULL;
    g_autofree char *st = NULL;
    g_autofree char *data = NULL;
    gsize len;
    QTestState *dst;

    if (uuid) {
        mig_set_capability(src, "validate-uuid", true);
    }
    mig_set_unlimited(src);
    qtest_qmp_assert_success(src, "{\"execute\": \"migrate\", "
                             "\"arguments\": {\"channels\": [%s]}}", out);
    st = mig_wait_status(src, done);
    src_mem = mig_stamp_memory(src);
    mig_quit_clean(src);
    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    g_assert_cmpuint(len, >, offset + 8);
    g_assert_cmpmem(data + offset, 4, "QEVM", 4);
    if (uuid) {
        g_autofree char *want = g_strdup_printf("\"uuid\": \"%s\"", uuid);
        const char *const needles[] = { want, NULL };

        mig_check_analyzer(path, needles);
    }
    dst = mig_start_dest("defer", extra);
    qtest_qmp_assert_success(dst, "{\"execute\": \"migrate-incoming\", "
                             "\"arguments\": {\"channels\": [%s]}}", in);
    mig_check_dest(dst, src_mem, false);
    unlink(path);
    mig_quit_clean(dst);
}

/*
 * file transport with an offset: the stream starts at the offset (the
 * bytes before it are left alone) and loads back from there.
 */
static void test_channels_file(void)
{
    g_autofree char *path = g_strdup_printf("%s/mig-chan-%d.bin",
                                            g_get_tmp_dir(), getpid());
    g_autofree char *chan = g_strdup_printf(
        "{\"channel-type\": \"main\", \"addr\": {\"transport\": \"file\", "
        "\"filename\": \"%s\", \"offset\": 4096}}", path);

    save_then_load(chan, chan, path, 4096, NULL);
}

/*
 * exec transport: an argument list (QEMU runs it without a shell), here
 * with a file name holding a space and a quote, which must reach dd and
 * cat as one word each way.  The VMs have a UUID, sent in the stream.
 */
static void test_channels_exec(void)
{
    g_autofree char *path = g_strdup_printf("%s/mig exec'%d.bin",
                                            g_get_tmp_dir(), getpid());
    g_autofree char *out = g_strdup_printf(
        "{\"channel-type\": \"main\", \"addr\": {\"transport\": \"exec\", "
        "\"args\": [\"dd\", \"of=%s\", \"bs=4M\", \"status=none\"]}}",
        path);
    g_autofree char *in = g_strdup_printf(
        "{\"channel-type\": \"main\", \"addr\": {\"transport\": \"exec\", "
        "\"args\": [\"cat\", \"%s\"]}}", path);

    save_then_load(out, in, path, 0, UUID_SRC);
}

/* Bad channel lists: QEMU's messages; the source's guest runs on. */
static void test_channels_bad(void)
{
    static const struct {
        const char *args;
        const char *needle;
    } cases[] = {
        { "\"uri\": \"unix:/nonexistent\", \"channels\": []",
          "mutually exclusive" },
        { "", "neither 'uri' or 'channels'" },
        { "\"channels\": []", "neither 'uri' or 'channels'" },
        { "\"channels\": [{\"channel-type\": \"main\", \"addr\": {"
          "\"transport\": \"file\", \"filename\": \"/x\"}}, "
          "{\"channel-type\": \"main\", \"addr\": {"
          "\"transport\": \"file\", \"filename\": \"/y\"}}]",
          "Channel list has more than one entries" },
        { "\"channels\": [{\"channel-type\": \"cpr\", \"addr\": {"
          "\"transport\": \"file\", \"filename\": \"/x\"}}]",
          "Parameter 'channels[0].channel-type' does not accept value "
          "'cpr'" },
        { "\"channels\": [{\"channel-type\": \"main\"}]",
          "Parameter 'channels[0].addr' is missing" },
        { "\"channels\": [{\"channel-type\": \"main\", \"addr\": {}}]",
          "Parameter 'channels[0].addr.transport' is missing" },
        { "\"channels\": [{\"channel-type\": \"main\", \"addr\": {"
          "\"transport\": \"carrier-pigeon\"}}]",
          "Parameter 'channels[0].addr.transport' does not accept value "
          "'carrier-pigeon'" },
        { "\"channels\": [{\"channel-type\": \"main\", \"addr\": {"
          "\"transport\": \"socket\", \"type\": \"unix\"}}]",
          "Parameter 'channels[0].addr.path' is missing" },
        { "\"channels\": [{\"channel-type\": \"main\", \"addr\": {"
          "\"transport\": \"socket\", \"type\": \"inet\", "
          "\"host\": \"127.0.0.1\", \"port\": 4444}}]",
          "Invalid parameter type for 'channels[0].addr.port'" },
        { "\"channels\": [{\"channel-type\": \"main\", \"addr\": {"
          "\"transport\": \"socket\", \"type\": \"pipe\"}}]",
          "Parameter 'channels[0].addr.type' does not accept value 'pipe'" },
        { "\"channels\": [{\"channel-type\": \"main\", \"addr\": {"
          "\"transport\": \"socket\", \"type\": \"unix\", \"path\": \"/x\", "
          "\"colour\": \"red\"}}]",
          "Parameter 'channels[0].addr.colour' is unexpected" },
        { "\"channels\": [{\"channel-type\": \"main\", \"addr\": {"
          "\"transport\": \"exec\", \"args\": []}}]",
          "channels[0].addr.args" },
        { "\"channels\": [{\"channel-type\": \"main\", \"addr\": {"
          "\"transport\": \"rdma\", \"host\": \"127.0.0.1\", "
          "\"port\": \"4444\"}}]",
          "RDMA" },
        { "\"channels\": [{\"channel-type\": \"main\", \"addr\": {"
          "\"transport\": \"socket\", \"type\": \"fd\", "
          "\"str\": \"nosuchfd\"}}]",
          "nosuchfd" },
    };
    QTestState *src = mig_start_source(NULL);
    QTestState *dst = mig_start_dest("defer", NULL);

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        qtest_qmp_assert_error(src, cases[i].needle,
                               "{\"execute\": \"migrate\", "
                               "\"arguments\": {%s}}", cases[i].args);
        /* migrate-incoming says the same, naming its own command. */
        if (!strstr(cases[i].needle, "neither") &&
            !strstr(cases[i].needle, "mutually")) {
            qtest_qmp_assert_error(dst, cases[i].needle,
                                   "{\"execute\": \"migrate-incoming\", "
                                   "\"arguments\": {%s}}", cases[i].args);
        }
    }
    qtest_qmp_assert_error(dst, "in 'migrate-incoming' qmp command",
                           "{\"execute\": \"migrate-incoming\", "
                           "\"arguments\": {}}");
    mig_assert_running(src);
    mig_wait_more_passes(src, 1);
    mig_check_stamp(src, true);
    /* Nothing was started: a good migration still goes through. */
    {
        g_autofree char *uri = g_strdup_printf("unix:%s",
                                               qtest_path(src, "ok.sock"));

        mig_incoming(dst, uri, false);
        migrate_and_check(src, dst, uri, NULL);
    }
    mig_quit_clean(src);
    mig_quit_clean(dst);
}

/* ---- client-mode sockets ------------------------------------------------- */

/* Negotiate on a client-mode monitor and check it answers. */
static void check_client_monitor(QTestQMP *q)
{
    g_autoptr(JsonNode) caps = qmp_cmd(q, "{\"execute\": "
                                       "\"qmp_capabilities\"}");
    g_autoptr(JsonNode) st = NULL;

    g_assert_false(qmp_rsp_is_error(caps));
    st = qmp_cmd(q, "{\"execute\": \"query-status\"}");
    g_assert_nonnull(qmp_rsp_member(st, "return"));
}

/* "quit" on @q: @s exits with status 0. */
static void quit_on(QTestState *s, QTestQMP *q)
{
    int status;

    qmp_send_raw(q, "{\"execute\": \"quit\"}", NULL, 0);
    g_assert_true(qtest_wait_exit(s, qtest_timeout_s(), &status));
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}

static char *qtest_line(int fd, const char *req)
{
    GString *line = g_string_new(NULL);
    char c;

    g_assert_cmpint(write(fd, req, strlen(req)), ==, (ssize_t)strlen(req));
    while (read(fd, &c, 1) == 1 && c != '\n') {
        g_string_append_c(line, c);
    }
    return g_string_free(line, FALSE);
}

/*
 * The test listens, the VMM connects, as QEMU's libqtest and libvirt's
 * reverse-connected monitors expect: -qmp unix:PATH (no server=on),
 * -qmp tcp:HOST:PORT, -chardev socket without server with -mon, and
 * -qtest unix:PATH.  Each works, and all serve one guest at once.
 */
static void test_client_mode(void)
{
    QTestState *s = qtest_new();
    const char *qmp_path = qtest_path(s, "qmp-client.sock");
    const char *mon_path = qtest_path(s, "mon-client.sock");
    const char *qt_path = qtest_path(s, "qtest-client.sock");
    int qmp_l = qtest_unix_listen(qmp_path);
    int mon_l = qtest_unix_listen(mon_path);
    int qt_l = qtest_unix_listen(qt_path);
    int tcp_port, tcp_l = qtest_tcp_listen(&tcp_port);
    g_autofree char *args = g_strdup_printf(
        "-accel qtest -m 16M -qmp unix:%s -qmp tcp:127.0.0.1:%d "
        "-chardev socket,id=mon1,path=%s,server=off "
        "-mon chardev=mon1,mode=control "
        "-qtest unix:%s -qtest-log /dev/fd/2",
        qmp_path, tcp_port, mon_path, qt_path);
    QTestQMP *q[3];
    g_autofree char *r1 = NULL;
    g_autofree char *r2 = NULL;
    g_autofree char *err = NULL;
    int qt;

    qtest_start(s, qtest_vmm_binary(), 0, args);
    q[0] = qtest_qmp_accept(s, qmp_l, "the -qmp unix listener");
    q[1] = qtest_qmp_accept(s, tcp_l, "the -qmp tcp listener");
    q[2] = qtest_qmp_accept(s, mon_l, "the -chardev socket listener");
    qt = qtest_accept(s, qt_l, "the -qtest listener");
    for (int i = 0; i < 3; i++) {
        check_client_monitor(q[i]);
    }
    r1 = qtest_line(qt, "writel 0x1000 0x12345678\n");
    g_assert_cmpstr(r1, ==, "OK");
    r2 = qtest_line(qt, "readl 0x1000\n");
    g_assert_cmpstr(r2, ==, "OK 0x0000000012345678");
    /* QTEST_LOG's way: the log on stderr, as it is. */
    err = qtest_stderr(s);
    if (!strstr(err, "] readl 0x1000\n") ||
        !strstr(err, "] OK 0x0000000012345678\n")) {
        g_error("-qtest-log /dev/fd/2 wrote no log to stderr: %s", err);
    }
    /* Any of them can end it. */
    quit_on(s, q[2]);
    for (int i = 0; i < 3; i++) {
        qtest_qmp_close(q[i]);
    }
    close(qt);
    close(qmp_l);
    close(mon_l);
    close(qt_l);
    close(tcp_l);
    qtest_quit(s);
}

static void assert_qtest(int fd, const char *req, const char *want)
{
    g_autofree char *got = qtest_line(fd, req);

    if (strcmp(got, want)) {
        g_error("qtest '%s' answered '%s', expected '%s'", req, got, want);
    }
}

/*
 * QEMU's libqtest command line, as its qtest_init() builds it: the test
 * listens on two sockets, accepts the qtest one and then the monitor,
 * asks "endianness" and negotiates QMP.  Then the memory commands with
 * QEMU's reply format, a write that would cross the end of RAM (refused,
 * nothing written), QEMU's way of ending it (SIGTERM, status 0) and the
 * -qtest-log of it all.
 */
static void test_libqtest_cmdline(void)
{
    QTestState *s = qtest_new();
    const char *qt_path = qtest_path(s, "qtest.sock");
    const char *qmp_path = qtest_path(s, "qmp.sock");
    const char *log = qtest_path(s, "qtest.log");
    int qt_l = qtest_unix_listen(qt_path);
    int qmp_l = qtest_unix_listen(qmp_path);
    g_autofree char *args = g_strdup_printf(
        "-qtest unix:%s -qtest-log %s -chardev socket,path=%s,id=char0 "
        "-mon chardev=char0,mode=control -display none -audio none "
        "-m 16M -accel qtest", qt_path, log, qmp_path);
    g_autofree char *logtxt = NULL;
    QTestQMP *q;
    int qt, status;

    qtest_start(s, qtest_vmm_binary(), 0, args);
    qt = qtest_accept(s, qt_l, "the -qtest listener");
    q = qtest_qmp_accept(s, qmp_l, "the monitor listener");
    assert_qtest(qt, "endianness\n", "OK little");
    check_client_monitor(q);

    assert_qtest(qt, "writeb 0x2000 0x11\n", "OK");
    assert_qtest(qt, "writew 0x2002 0x2233\n", "OK");
    assert_qtest(qt, "writel 0x2004 0x44556677\n", "OK");
    assert_qtest(qt, "readb 0x2000\n", "OK 0x0000000000000011");
    assert_qtest(qt, "readw 0x2002\n", "OK 0x0000000000002233");
    assert_qtest(qt, "readl 0x2004\n", "OK 0x0000000044556677");
    assert_qtest(qt, "readq 0x2000\n", "OK 0x4455667722330011");
    assert_qtest(qt, "writeq 0x2008 0x0102030405060708\n", "OK");
    assert_qtest(qt, "read 0x2008 8\n", "OK 0x0807060504030201");
    assert_qtest(qt, "memset 0x2010 4 0xa5\n", "OK");
    assert_qtest(qt, "read 0x2010 5\n", "OK 0xa5a5a5a500");
    assert_qtest(qt, "write 0x2020 3 0xc0ffee\n", "OK");
    assert_qtest(qt, "b64read 0x2020 3\n", "OK wP/u");
    assert_qtest(qt, "b64write 0x2030 2 3q0=\n", "OK");
    assert_qtest(qt, "readw 0x2030\n", "OK 0x000000000000adde");
    /* The last two bytes of RAM, then past its end: refused whole. */
    assert_qtest(qt, "writew 0xfffffe 0x7777\n", "OK");
    {
        g_autofree char *got = qtest_line(qt, "writel 0xfffffe 0x1\n");

        g_assert_true(g_str_has_prefix(got, "FAIL"));
    }
    assert_qtest(qt, "readw 0xfffffe\n", "OK 0x0000000000007777");
    {
        g_autofree char *got = qtest_line(qt, "memset 0x1000000 16 0\n");

        g_assert_true(g_str_has_prefix(got, "FAIL"));
    }

    /* QEMU's qtest_quit(): SIGTERM, and the exit status must be 0. */
    g_assert_cmpint(kill(qtest_pid(s), SIGTERM), ==, 0);
    g_assert_true(qtest_wait_exit(s, qtest_timeout_s(), &status));
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
    g_assert_true(g_file_get_contents(log, &logtxt, NULL, NULL));
    if (!g_regex_match_simple("^\\[R \\+[0-9.]+\\] endianness$", logtxt,
                              G_REGEX_MULTILINE, 0) ||
        !g_regex_match_simple("^\\[S \\+[0-9.]+\\] OK little$", logtxt,
                              G_REGEX_MULTILINE, 0)) {
        g_error("-qtest-log lacks the exchange: %s", logtxt);
    }
    qtest_qmp_close(q);
    close(qt);
    close(qt_l);
    close(qmp_l);
    qtest_quit(s);
}

/* A client-mode monitor with nobody listening: a clear error, status 1. */
static void test_client_mode_refused(void)
{
    g_autofree char *dir = g_dir_make_tmp("qmig-client-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "nobody.sock", NULL);
    g_autofree char *args = g_strdup_printf("-accel qtest -m 16M "
                                            "-qmp unix:%s", path);
    QTestRun r;

    qtest_run_expect_exit(qtest_vmm_binary(), args, &r);
    g_assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1);
    if (!strstr(r.err, path)) {
        g_error("the error does not name the socket: %s", r.err);
    }
    qtest_run_free(&r);
    rmdir(dir);
}

/* ---- exit statuses ------------------------------------------------------- */

/* SIGTERM: an orderly shutdown, SHUTDOWN host-signal, exit status 0. */
static void test_sigterm(void)
{
    QTestState *s = mig_start_source(NULL);
    g_autoptr(JsonNode) ev = NULL;
    JsonObject *data;
    int status;

    g_assert_cmpint(kill(qtest_pid(s), SIGTERM), ==, 0);
    ev = qtest_qmp_eventwait(s, "SHUTDOWN");
    data = json_object_get_object_member(json_node_get_object(ev), "data");
    g_assert_cmpstr(json_object_get_string_member(data, "reason"), ==,
                    "host-signal");
    g_assert_false(json_object_get_boolean_member(data, "guest"));
    g_assert_true(qtest_wait_exit(s, qtest_timeout_s(), &status));
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
    qtest_quit(s);
}

/* ---- thread names -------------------------------------------------------- */

/*
 * A destination whose incoming migration broke off (-incoming URI: QEMU's
 * exit-on-error) exits by itself, with status 1.
 */
static void dest_exits_failed(QTestState *dst)
{
    int status;

    if (!qtest_wait_exit(dst, qtest_timeout_s(), &status)) {
        g_error("destination still running after its migration failed");
    }
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 1);
    qtest_quit(dst);
}

/* The names of @pid's threads, "|"-separated ("|a|b|"). */
static char *thread_names(pid_t pid)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d/task", (int)pid);
    GDir *d = g_dir_open(dir, 0, NULL);
    GString *names = g_string_new("|");
    const char *tid;

    g_assert_nonnull(d);
    while ((tid = g_dir_read_name(d))) {
        g_autofree char *p = g_strdup_printf("%s/%s/comm", dir, tid);
        g_autofree char *comm = NULL;

        if (g_file_get_contents(p, &comm, NULL, NULL)) {
            g_strchomp(comm);
            g_string_append_printf(names, "%s|", comm);
        }
    }
    g_dir_close(d);
    return g_string_free(names, FALSE);
}

/* Does the "|a|b|" list @names hold every name in @want? */
static bool has_threads(const char *names, const char *const *want)
{
    for (; *want; want++) {
        g_autofree char *key = g_strdup_printf("|%s|", *want);

        if (!strstr(names, key)) {
            return false;
        }
    }
    return true;
}

/*
 * Poll @s's thread names until they hold every name in @want (threads
 * start as their connections come up); returns them (caller frees).
 */
static char *wait_thread_names(QTestState *s, const char *const *want)
{
    gint64 deadline = g_get_monotonic_time() +
                      (gint64)qtest_timeout_s() * G_USEC_PER_SEC;

    for (;;) {
        char *names = thread_names(qtest_pid(s));

        if (has_threads(names, want)) {
            return names;
        }
        if (g_get_monotonic_time() > deadline) {
            g_error("threads not all named: %s", names);
        }
        g_free(names);
        g_usleep(MIG_POLL_MS * 1000);
    }
}

/*
 * A multifd (2 channels) migration with the return path, crawling; the
 * side @named_src says runs with debug-threads=on and must show every
 * thread name in @want while it is active, the other side none named
 * "mig/...".  Then it is cancelled: the source runs on, the destination
 * exits with status 1.
 */
static void run_threads_case(bool named_src, const char *const *want)
{
    static const char *const active[] = { "active", NULL };
    static const char *const cancelled[] = { "cancelled", NULL };
    QTestState *dst = NULL;
    g_autofree char *uri = NULL;
    QTestState *src = mig_start_pair(
        named_src ? "-name src,debug-threads=on" : "-name src",
        named_src ? "-name dst" : "-name dst,debug-threads=on", &dst, &uri);
    QTestState *named = named_src ? src : dst;
    QTestState *plain = named_src ? dst : src;
    g_autofree char *st = NULL;
    g_autofree char *names = NULL;
    g_autofree char *plain_names = NULL;

    mig_set_capability_both(src, dst, "multifd", true);
    mig_set_capability_both(src, dst, "return-path", true);
    mig_set_parameter(src, "multifd-channels", 2);
    mig_set_parameter(dst, "multifd-channels", 2);
    mig_set_parameter(src, "max-bandwidth", CRAWL_BW);
    mig_migrate(src, uri);
    st = mig_wait_status(src, active);
    names = wait_thread_names(named, want);
    /* The vCPU too, as QEMU names it ("CPU 0/KVM", "CPU 0/TCG"). */
    {
        g_autofree char *upper = g_ascii_strup(qtest_accel(), -1);
        g_autofree char *vcpu = g_strdup_printf("CPU 0/%s", upper);
        const char *const cpu_want[] = { vcpu, NULL };

        if (!has_threads(names, cpu_want)) {
            g_error("no thread named '%s': %s", vcpu, names);
        }
    }
    plain_names = thread_names(qtest_pid(plain));
    if (strstr(plain_names, "|mig/") || strstr(plain_names, "|CPU ")) {
        g_error("threads named without debug-threads: %s", plain_names);
    }
    qtest_qmp_assert_success(src, "{\"execute\": \"migrate_cancel\"}");
    g_free(st);
    st = mig_wait_status(src, cancelled);
    mig_assert_running(src);
    dest_exits_failed(dst);
    mig_quit_clean(src);
}

static void test_debug_threads_source(void)
{
    static const char *const want[] = {
        "mig/src/main", "mig/src/send_0", "mig/src/send_1", "mig/src/rp",
        NULL
    };

    run_threads_case(true, want);
}

static void test_debug_threads_dest(void)
{
    static const char *const want[] = {
        "mig/dst/main", "mig/dst/recv_0", "mig/dst/recv_1", NULL
    };

    run_threads_case(false, want);
}

/*
 * Postcopy's destination threads, named while postcopy runs: the fault
 * thread (page requests) and the listen thread (the rest of the stream);
 * then the migration completes and the guest runs on there.
 */
static void test_debug_threads_postcopy(void)
{
    static const char *const active[] = { "active", NULL };
    static const char *const pc[] = { "postcopy-active", NULL };
    static const char *const want[] = {
        "mig/dst/main", "mig/dst/fault", "mig/dst/listen", NULL
    };
    QTestState *dst = NULL;
    g_autofree char *uri = NULL;
    QTestState *src = mig_start_pair(NULL, "-name dst,debug-threads=on",
                                     &dst, &uri);
    g_autofree char *st = NULL;
    g_autofree char *names = NULL;

    mig_set_capability_both(src, dst, "postcopy-ram", true);
    mig_set_parameter(src, "max-bandwidth", CRAWL_BW);
    /* Slow enough that postcopy lasts while the names are read. */
    mig_set_parameter(src, "max-postcopy-bandwidth", CRAWL_BW);
    mig_migrate(src, uri);
    st = mig_wait_status(src, active);
    mig_wait_more_passes(src, 1);
    qtest_qmp_assert_success(src, "{\"execute\": \"migrate-start-postcopy\"}");
    g_free(st);
    st = mig_wait_status(src, pc);
    names = wait_thread_names(dst, want);
    mig_set_parameter(src, "max-postcopy-bandwidth", 0);
    mig_wait_completed(src);
    mig_check_dest_and_quit(src, dst, true);
}

int main(int argc, char **argv)
{
    qtest_main_init(&argc, &argv);
    mig_add_case("/harness/uuid/query", test_uuid_query, false);
    mig_add_case("/harness/uuid/match", test_uuid_match, false);
    mig_add_case("/harness/uuid/mismatch", test_uuid_mismatch, false);
    mig_add_case("/harness/channels/unix", test_channels_unix, false);
    mig_add_case("/harness/channels/inet", test_channels_inet, false);
    mig_add_case("/harness/channels/fd", test_channels_fd, false);
    mig_add_case("/harness/channels/file", test_channels_file, false);
    mig_add_case("/harness/channels/exec", test_channels_exec, false);
    mig_add_case("/harness/channels/bad", test_channels_bad, false);
    mig_add_case("/harness/client-mode/connect", test_client_mode, false);
    mig_add_case("/harness/client-mode/libqtest-cmdline",
                 test_libqtest_cmdline, false);
    mig_add_case("/harness/client-mode/refused", test_client_mode_refused,
                 false);
    mig_add_case("/harness/exit/sigterm", test_sigterm, false);
    mig_add_case("/harness/threads/source", test_debug_threads_source,
                 false);
    mig_add_case("/harness/threads/dest", test_debug_threads_dest, false);
    mig_add_case("/harness/threads/postcopy", test_debug_threads_postcopy,
                 false);
    return g_test_run();
}
