/*
 * RDMA migration (rdma:HOST:PORT) qtests with the stamp guest.
 *
 * No RDMA device exists on the machines this runs on, so qmig loads the
 * software provider (tests/rdma/soft-provider.c, QMIG_RDMA_PROVIDER):
 * the protocol engine (control channel with credits, block list, chunk
 * registration, RDMA WRITE into registered guest RAM) runs for real
 * between two qmig processes, over a unix socket instead of a wire.
 * QTEST_RDMA_PROVIDER=verbs runs the same cases on the built-in verbs
 * provider with a real device (rdma_rxe or a NIC; QTEST_RDMA_HOST names
 * the address bound to it): docs/devel/migration/rdma.md.
 *
 * Successful cases end with the destination's stamp invariant and pass
 * counter checks (mig_check_dest).  Fault cases: cancel and a killed
 * destination leave the source running with its memory intact; a
 * destination fed bad control messages, or asked to take pages outside
 * its guest RAM, fails cleanly.  Refusals: no
 * provider/device, postcopy and multifd with rdma.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <glib.h>

#include "migration-helpers.h"
#include "../../migration/rdma-provider.h"

static bool rdma_verbs(void)
{
    return !g_strcmp0(g_getenv("QTEST_RDMA_PROVIDER"), "verbs");
}

static char *rdma_soft_dir;

/* At exit: the sockets a killed VMM left behind, then the directory. */
static void rdma_soft_dir_remove(void)
{
    g_autoptr(GDir) d = g_dir_open(rdma_soft_dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(rdma_soft_dir, name, NULL);

        unlink(path);
    }
    rmdir(rdma_soft_dir);
}

/*
 * Point the VMMs started from now on at the provider of this run and
 * return an rdma: URI of their own; NULL (test skipped) without one.
 */
static char *rdma_uri(void)
{
    const char *soft = g_getenv("QTEST_RDMA_SOFT_PROVIDER");
    const char *host = g_getenv("QTEST_RDMA_HOST");

    if (rdma_verbs()) {
        g_unsetenv(QEMU_RDMA_PROVIDER_ENV);
        return g_strdup_printf("rdma:%s:%d", host ? host : "127.0.0.1",
                               20000 + getpid() % 20000);
    }
    if (!soft || access(soft, R_OK)) {
        g_test_skip("no RDMA provider: QTEST_RDMA_SOFT_PROVIDER unset");
        return NULL;
    }
    if (!rdma_soft_dir) {
        rdma_soft_dir = g_dir_make_tmp("rdma-test-XXXXXX", NULL);
        g_assert_nonnull(rdma_soft_dir);
        atexit(rdma_soft_dir_remove);
    }
    g_setenv(QEMU_RDMA_PROVIDER_ENV, soft, true);
    g_setenv("QMIG_RDMA_SOFT_DIR", rdma_soft_dir, true);
    return g_strdup_printf("rdma:127.0.0.1:%d", 20000 + getpid() % 20000);
}

/*
 * Migrate unthrottled (to @uri, or with @channels naming the same address
 * as the channels argument does), then the destination's checks and the
 * source's counters.
 */
static void migrate_and_check(QTestState *src, QTestState *dst,
                              const char *uri, bool channels)
{
    g_autoptr(JsonNode) info = NULL;

    mig_set_unlimited(src);
    if (channels) {
        g_auto(GStrv) part = g_strsplit(uri, ":", 3);

        qtest_qmp_assert_success(src, "{\"execute\": \"migrate\", "
                                 "\"arguments\": {\"channels\": [{"
                                 "\"channel-type\": \"main\", \"addr\": {"
                                 "\"transport\": \"rdma\", \"host\": \"%s\", "
                                 "\"port\": \"%s\"}}]}}", part[1], part[2]);
    } else {
        mig_migrate(src, uri);
    }
    mig_complete_and_check(src, dst, false);
    info = mig_query(src);
    /* The guest's pages went by WRITE: tens of MiB of them. */
    g_assert_cmpint(mig_ram_counter(info, "normal"), >=, 20000);
}

static void precopy(bool pin_all)
{
    g_autofree char *uri = rdma_uri();
    QTestState *src, *dst;

    if (!uri) {
        return;
    }
    src = mig_start_source(NULL);
    dst = mig_start_dest(uri, NULL);
    if (pin_all) {
        mig_set_capability(src, "rdma-pin-all", true);
    }
    /* The channels argument, once: it is the same URI underneath. */
    migrate_and_check(src, dst, uri, pin_all);
    mig_quit_clean(src);
    mig_quit_clean(dst);
}

static void test_precopy(void)
{
    precopy(false);
}

static void test_pin_all(void)
{
    precopy(true);
}

/* One qtest protocol request on @fd, whose reply must start "OK". */
static void qtest_cmd(int fd, FILE *in, const char *req)
{
    char line[256];

    g_assert_cmpint(write(fd, req, strlen(req)), ==, (ssize_t)strlen(req));
    g_assert_nonnull(fgets(line, sizeof(line), in));
    if (!g_str_has_prefix(line, "OK")) {
        g_error("qtest '%s' answered '%s'", req, line);
    }
}

/* The byte every byte of guest page @gpa of @s holds (all the same). */
static uint8_t page_byte(QTestState *s, uint64_t gpa)
{
    g_autoptr(GBytes) b = mig_pmemsave(s, gpa, 4096);
    const uint8_t *p = g_bytes_get_data(b, NULL);

    for (size_t i = 1; i < 4096; i++) {
        g_assert_cmpuint(p[i], ==, p[0]);
    }
    return p[0];
}

/*
 * A page the first pass wrote by RDMA WRITE (0x5a), zeroed before the
 * next pass: it must go again (its chunk was written, so a zero page is
 * no longer skipped) and arrive zero.  The guest never touches it (above
 * the stamp range); qtest writes it, which the dirty log sees.
 */
static void test_zero_after_write(void)
{
    const uint64_t page = 104ULL << 20;
    g_autofree char *uri = rdma_uri();
    g_autofree char *sock = NULL, *extra = NULL;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_autoptr(GBytes) src_mem = NULL;
    QTestState *src, *dst;
    FILE *in;
    int lfd, fd;

    if (!uri) {
        return;
    }
    sock = g_build_filename(rdma_soft_dir ? rdma_soft_dir : g_get_tmp_dir(),
                            "qtest.sock", NULL);
    g_strlcpy(sa.sun_path, sock, sizeof(sa.sun_path));
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unlink(sock);
    g_assert_cmpint(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_assert_cmpint(listen(lfd, 1), ==, 0);
    extra = g_strdup_printf("-qtest unix:%s", sock);
    src = mig_start_source(extra);
    fd = accept(lfd, NULL, NULL);
    g_assert_cmpint(fd, >=, 0);
    in = fdopen(dup(fd), "r");
    dst = mig_start_dest(uri, NULL);

    qtest_cmd(fd, in, "memset 0x6800000 4096 0x5a\n");
    mig_set_parameter(src, "max-bandwidth", 64ULL << 20);
    mig_migrate(src, uri);
    /* The first pass is over: the page went by WRITE with 0x5a. */
    mig_wait_dirty_syncs(src, 2);
    qtest_cmd(fd, in, "memset 0x6800000 4096 0x00\n");
    mig_set_unlimited(src);
    mig_wait_completed(src);
    g_assert_cmpuint(page_byte(src, page), ==, 0);
    src_mem = mig_stamp_memory(src);
    mig_check_dest(dst, src_mem, false);
    g_assert_cmpuint(page_byte(dst, page), ==, 0);
    fclose(in);
    close(fd);
    close(lfd);
    unlink(sock);
    mig_quit_clean(src);
    mig_quit_clean(dst);
}

static void test_cancel(void)
{
    static const char *const cancelled[] = { "cancelled", NULL };
    static const char *const failed[] = { "failed", NULL };
    g_autofree char *uri = rdma_uri();
    g_autofree char *st = NULL, *dst_st = NULL;
    QTestState *src, *dst;

    if (!uri) {
        return;
    }
    src = mig_start_source(NULL);
    dst = mig_start_dest("defer", NULL);
    mig_incoming(dst, uri, true);
    mig_start_crawl(src, uri, MIG_CRAWL_BW);
    qtest_qmp_assert_success(src, "{\"execute\": \"migrate_cancel\"}");
    st = mig_wait_status(src, cancelled);
    mig_check_source_survived(src);
    dst_st = mig_wait_status(dst, failed);
    g_assert_cmpuint(qtest_file_count_char(qtest_serial_path(dst), 'B'), ==,
                     0);
    mig_quit_clean(dst);
    mig_quit_clean(src);
}

static void test_dest_killed(void)
{
    static const char *const failed[] = { "failed", NULL };
    g_autofree char *uri = rdma_uri();
    g_autofree char *st = NULL;
    QTestState *src, *dst;
    g_autoptr(JsonNode) info = NULL;
    int status;

    if (!uri) {
        return;
    }
    src = mig_start_source(NULL);
    dst = mig_start_dest(uri, NULL);
    mig_start_crawl(src, uri, MIG_CRAWL_BW);
    g_assert_cmpint(kill(qtest_pid(dst), SIGKILL), ==, 0);
    g_assert_true(qtest_wait_exit(dst, qtest_timeout_s(), &status));
    g_assert_true(WIFSIGNALED(status));
    qtest_quit(dst);
    st = mig_wait_status(src, failed);
    info = mig_query(src);
    g_assert_nonnull(strstr(mig_error_desc(info), "RDMA"));
    mig_check_source_survived(src);
    mig_quit_clean(src);
}

/* ---- a hostile source over the same provider ---- */

/* The fake's registered buffer: a send area, then receive buffers. */
#define FAKE_SEND_SIZE 65536
#define FAKE_RECVS 8
#define FAKE_RECV_SIZE 65536
#define FAKE_RECV_AT(i) (FAKE_SEND_SIZE + (i) * FAKE_RECV_SIZE)
#define FAKE_BUF FAKE_RECV_AT(FAKE_RECVS)

typedef struct FakeSource {
    const QemuRdmaProvider *ops;
    QemuRdmaConn *conn;
    uint8_t *buf;
    QemuRdmaMr *mr;
    uint32_t lkey;
} FakeSource;

static bool fake_connect(FakeSource *fs, const char *uri)
{
    const char *soft = g_getenv("QTEST_RDMA_SOFT_PROVIDER");
    g_auto(GStrv) part = g_strsplit(uri, ":", 3);
    uint8_t caps[8] = { 0, 0, 0, 1, 0, 0, 0, 0 }, reply[64];
    size_t reply_len = sizeof(reply);
    QemuRdmaError e = { 0 };
    uint32_t rkey;
    void *h;

    h = dlopen(soft, RTLD_NOW | RTLD_LOCAL);
    g_assert_nonnull(h);
    fs->ops = dlsym(h, QEMU_RDMA_PROVIDER_SYMBOL);
    g_assert_nonnull(fs->ops);
    fs->conn = fs->ops->connect(part[1], part[2], caps, sizeof(caps), reply,
                                &reply_len, &e);
    if (!fs->conn) {
        g_test_message("fake source: %s", e.msg);
        return false;
    }
    g_assert_cmpuint(reply_len, ==, 8);
    fs->buf = g_malloc0(FAKE_BUF);
    fs->mr = fs->ops->reg_mr(fs->conn, fs->buf, FAKE_BUF, false, &fs->lkey,
                             &rkey, &e);
    g_assert_nonnull(fs->mr);
    /* Room for the destination's answers (and its READYs). */
    for (int i = 0; i < FAKE_RECVS; i++) {
        g_assert_cmpint(fs->ops->post_recv(fs->conn, 100 + i,
                                           fs->buf + FAKE_RECV_AT(i),
                                           FAKE_RECV_SIZE, fs->lkey, &e),
                        ==, 0);
    }
    return true;
}

/* One SEND of a control header (be32 len, type, repeat, credits) + @extra. */
static void fake_send(FakeSource *fs, uint32_t len, uint32_t type,
                      uint32_t extra)
{
    uint32_t hdr[4] = { htonl(len), htonl(type), 0, 0 };
    QemuRdmaCompletion wc;
    QemuRdmaError e = { 0 };

    memcpy(fs->buf, hdr, sizeof(hdr));
    g_assert_cmpint(fs->ops->post_send(fs->conn, 1, fs->buf,
                                       sizeof(hdr) + extra, fs->lkey, &e),
                    ==, 0);
    g_assert_cmpint(fs->ops->poll(fs->conn, &wc, 1, 5000, &e), ==, 1);
    g_assert_cmpint(wc.status, ==, 0);
}

/* A whole control message: header, then @len bytes of @payload. */
static void fake_send_msg(FakeSource *fs, uint32_t type, uint32_t repeat,
                          const void *payload, uint32_t len)
{
    uint32_t hdr[4] = { htonl(len), htonl(type), htonl(repeat), 0 };
    QemuRdmaError e = { 0 };

    memcpy(fs->buf, hdr, sizeof(hdr));
    if (len) {
        memcpy(fs->buf + sizeof(hdr), payload, len);
    }
    g_assert_cmpint(fs->ops->post_send(fs->conn, 1, fs->buf,
                                       sizeof(hdr) + len, fs->lkey, &e),
                    ==, 0);
}

/* The next message other than READY: its type, payload (in fs->buf). */
static const uint8_t *fake_recv_msg(FakeSource *fs, uint32_t *type)
{
    QemuRdmaError e = { 0 };

    for (;;) {
        QemuRdmaCompletion wc;
        const uint8_t *p;
        uint32_t v;
        int n = fs->ops->poll(fs->conn, &wc, 1, qtest_timeout_s() * 1000,
                              &e);

        g_assert_cmpint(n, ==, 1);
        g_assert_cmpint(wc.status, ==, 0);
        if (wc.op != QEMU_RDMA_WC_RECV) {
            continue;
        }
        p = fs->buf + FAKE_RECV_AT(wc.wr_id - 100);
        memcpy(&v, p + 4, 4);
        *type = ntohl(v);
        if (*type != 2) {       /* READY */
            return p + 16;
        }
        g_assert_cmpint(fs->ops->post_recv(fs->conn, wc.wr_id, (void *)p,
                                           FAKE_RECV_SIZE, fs->lkey, &e),
                        ==, 0);
    }
}

static uint64_t be64_at(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return GUINT64_FROM_BE(v);
}

static void fake_close(FakeSource *fs)
{
    fs->ops->dereg_mr(fs->conn, fs->mr);
    fs->ops->close(fs->conn);
    g_free(fs->buf);
}

/* The rdma: URI for a hostile source's case, or NULL (skipped). */
static char *hostile_uri(void)
{
    char *uri = rdma_uri();

    if (uri && rdma_verbs()) {
        g_test_skip("the hostile source speaks the software provider only");
        g_clear_pointer(&uri, g_free);
    }
    return uri;
}

/*
 * A destination given bad control messages fails with a message, stays
 * up (exit-on-error=false), never runs the guest and never crashes.
 */
static void test_bad_control(void)
{
    static const char *const failed[] = { "failed", NULL };
    static const struct {
        uint32_t len, type, extra;
        const char *needle;
    } bad[] = {
        { 0, 99, 0, "unknown control message type 99" },
        { 4096, 3, 16, "claims 4096 bytes of payload but carries 16" },
        { 0, 7, 0, "expected control message QEMU FILE, received "
          "REGISTER REQUEST" },
    };
    g_autofree char *uri = hostile_uri();

    if (!uri) {
        return;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        QTestState *dst = mig_start_dest("defer", NULL);
        g_autofree char *st = NULL, *err = NULL;
        g_autoptr(JsonNode) info = NULL;
        FakeSource fs = { 0 };
        bool running = true;
        g_autofree char *rs = NULL;

        mig_incoming(dst, uri, true);
        g_assert_true(fake_connect(&fs, uri));
        fake_send(&fs, bad[i].len, bad[i].type, bad[i].extra);
        st = mig_wait_status(dst, failed);
        info = mig_query(dst);
        err = qtest_stderr(dst);
        if (!strstr(err, bad[i].needle)) {
            g_error("bad control message %zu: stderr lacks '%s': %s", i,
                    bad[i].needle, err);
        }
        rs = qtest_query_status(dst, &running);
        g_assert_false(running);
        g_assert_cmpuint(qtest_file_count_char(qtest_serial_path(dst), 'B'),
                         ==, 0);
        fake_close(&fs);
        mig_quit_clean(dst);
    }
}

/*
 * A hostile source that gets as far as the RAM hook (stream header, the
 * RAM section's block list, HOOK; then RAM_BLOCKS_REQUEST) and asks the
 * destination to register a chunk past its guest RAM, or registers the
 * last chunk properly and WRITEs past its end.  The destination fails
 * with the reason and never writes outside guest RAM (the provider checks
 * every WRITE against the registered region).
 */
static void test_hostile_ram(void)
{
    static const char *const failed[] = { "failed", NULL };
    static const char *const needle[] = {
        "REGISTER REQUEST for chunk 150 (+1) of block 0 is outside guest RAM",
        "remote access error",
    };
    const uint64_t ram_size = 150ULL << 20;
    g_autofree char *uri = hostile_uri();

    if (!uri) {
        return;
    }
    for (int i = 0; i < 2; i++) {
        QTestState *dst = mig_start_dest("defer", NULL);
        g_autoptr(GByteArray) a = g_byte_array_new();
        g_autofree char *st = NULL, *err = NULL, *rs = NULL;
        uint8_t req[24] = { 0 };
        FakeSource fs = { 0 };
        const uint8_t *p;
        uint64_t host, chunk = i ? 149 : 150;
        uint32_t type, rkey;
        bool running = true;
        QemuRdmaError e = { 0 };

        mig_incoming(dst, uri, true);
        g_assert_true(fake_connect(&fs, uri));
        mig_put_stream_header(a);
        mig_put_ram_start(a, 1, ram_size);
        mig_put_be64(a, 0x80);                  /* HOOK */
        fake_send_msg(&fs, 3, 0, a->data, a->len);      /* QEMU_FILE */
        fake_send_msg(&fs, 4, 0, NULL, 0);      /* RAM_BLOCKS_REQUEST */
        p = fake_recv_msg(&fs, &type);
        g_assert_cmpuint(type, ==, 5);          /* RAM_BLOCKS_RESULT */
        g_assert_cmpuint(be64_at(p + 16), ==, ram_size);
        req[7] = chunk;                         /* be64 chunk */
        req[23] = 1;                            /* be64 chunks */
        fake_send_msg(&fs, 7, 1, req, sizeof(req));     /* REGISTER_REQ */
        if (i) {
            p = fake_recv_msg(&fs, &type);
            g_assert_cmpuint(type, ==, 8);      /* REGISTER_RESULT */
            rkey = ntohl(*(const uint32_t *)p);
            host = be64_at(p + 8);
            /* One page past the chunk: past the end of guest RAM. */
            fs.ops->post_write(fs.conn, 2, fs.buf, 4096, fs.lkey,
                               host + (1 << 20), rkey, &e);
        }
        st = mig_wait_status(dst, failed);
        err = qtest_stderr(dst);
        if (!strstr(err, needle[i])) {
            g_error("hostile RAM %d: stderr lacks '%s': %s", i, needle[i],
                    err);
        }
        rs = qtest_query_status(dst, &running);
        g_assert_false(running);
        fake_close(&fs);
        mig_quit_clean(dst);
    }
}

/* ---- refusals ---- */

/* "-incoming rdma:..." with no device: the VMM exits saying why. */
static void check_incoming_cmdline_refused(bool verbs_built)
{
    g_autofree char *args = mig_machine_args(qtest_accel(),
                                             qtest_guest_image(
                                                 "QTEST_GUEST_STAMP"),
                                             "-incoming rdma:127.0.0.1:4444");
    QTestState *s = qtest_new();
    g_autofree char *err = NULL;
    int status;

    qtest_start(s, qtest_vmm_binary(), 0, args);
    g_assert_true(qtest_wait_exit(s, qtest_timeout_s(), &status));
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), !=, 0);
    err = qtest_stderr(s);
    if (!strstr(err, verbs_built ? "no RDMA device" : "not supported")) {
        g_error("-incoming rdma: without a device: unclear error '%s'", err);
    }
    qtest_quit(s);
}

static void test_no_device(void)
{
    bool verbs_built = !g_strcmp0(g_getenv("QTEST_RDMA_VERBS_BUILT"), "1");
    QTestState *src, *dst;
    JsonNode *rsp;
    const char *desc;

    if (rdma_verbs()) {
        g_test_skip("a device is expected in this run");
        return;
    }
    /* No provider named: the built-in one, which finds no device here. */
    g_unsetenv(QEMU_RDMA_PROVIDER_ENV);
    src = mig_start_source(NULL);
    rsp = qtest_qmp(src, "{\"execute\": \"migrate\", \"arguments\": "
                    "{\"uri\": \"rdma:127.0.0.1:4444\"}}");
    g_assert_true(qmp_rsp_is_error(rsp));
    desc = qmp_rsp_error_desc(rsp);
    g_test_message("refused: %s", desc);
    /* Built with rdma-core, the verbs provider looks and finds none. */
    if (!strstr(desc, verbs_built ? "no RDMA device" : "not supported")) {
        g_error("migrate rdma: without a device (verbs provider %s): "
                "unclear error '%s'", verbs_built ? "built" : "not built",
                desc);
    }
    json_node_unref(rsp);
    mig_check_source_survived(src);

    dst = mig_start_dest("defer", NULL);
    qtest_qmp_assert_error(dst, verbs_built ? "no RDMA device" :
                           "not supported",
                           "{\"execute\": \"migrate-incoming\", "
                           "\"arguments\": {\"uri\": "
                           "\"rdma:127.0.0.1:4444\"}}");
    mig_quit_clean(dst);
    check_incoming_cmdline_refused(verbs_built);
    mig_quit_clean(src);
}

static void test_refuse_caps(void)
{
    static const struct {
        const char *cap, *msg;
    } caps[] = {
        { "postcopy-ram", "RDMA and postcopy-ram can't be used together" },
        { "multifd", "RDMA and multifd can't be used together" },
        { "xbzrle", "RDMA and XBZRLE can't be used together" },
    };
    g_autofree char *uri = rdma_uri();
    QTestState *src, *dst;

    if (!uri) {
        return;
    }
    src = mig_start_source(NULL);
    dst = mig_start_dest(uri, NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(caps); i++) {
        mig_set_capability(src, caps[i].cap, true);
        qtest_qmp_assert_error(src, caps[i].msg,
                               "{\"execute\": \"migrate\", \"arguments\": "
                               "{\"uri\": \"%s\"}}", uri);
        mig_set_capability(src, caps[i].cap, false);
        /* A destination listening on rdma: refuses them as QEMU does. */
        qtest_qmp_assert_error(dst, caps[i].msg,
                               "{\"execute\": \"migrate-set-capabilities\", "
                               "\"arguments\": {\"capabilities\": [{"
                               "\"capability\": \"%s\", \"state\": true}]}}",
                               caps[i].cap);
    }
    mig_assert_running(src);
    /* Nothing was left behind: the same pair still migrates. */
    migrate_and_check(src, dst, uri, false);
    mig_quit_clean(src);
    mig_quit_clean(dst);
}

int main(int argc, char **argv)
{
    qtest_main_init(&argc, &argv);

    mig_add_case("/rdma/precopy/plain", test_precopy, false);
    mig_add_case("/rdma/precopy/pin-all", test_pin_all, false);
    mig_add_case("/rdma/precopy/zero-after-write", test_zero_after_write,
                 false);
    mig_add_case("/rdma/fault/cancel", test_cancel, false);
    mig_add_case("/rdma/fault/dest-killed", test_dest_killed, false);
    mig_add_case("/rdma/fault/bad-control", test_bad_control, false);
    mig_add_case("/rdma/fault/hostile-ram", test_hostile_ram, false);
    mig_add_case("/rdma/refuse/no-device", test_no_device, false);
    mig_add_case("/rdma/refuse/caps", test_refuse_caps, false);
    return g_test_run();
}
