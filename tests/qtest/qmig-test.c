/*
 * Foundation qtests: one qmig process, real guests (under qtest_accel():
 * kvm, or tcg where there is no KVM), QMP/HMP, command line.  Every case
 * runs unchanged against QEMU (QTEST_QEMU_BINARY with QTEST_QMIG_BINARY
 * unset), which is how the harness itself is checked.
 *
 * Guests (tests/migration/i386) come from the environment:
 * QTEST_GUEST_STAMP, QTEST_GUEST_FILL, QTEST_GUEST_SMP,
 * QTEST_GUEST_TRIPLE, QTEST_GUEST_DEBUGEXIT.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <glib.h>

#include "libqtest.h"
#include "stamp-check.h"

#define STAMP_SIZE (STAMP_END - STAMP_START)

/* Skip (return true) unless the run's accelerator is usable here. */
static bool skip_without_accel(void)
{
    return qtest_skip_without_accel();
}

static bool is_qemu(void)
{
    return qtest_vmm_is_qemu(qtest_vmm_binary());
}

/* A VM running the stamp guest, with @extra options; NULL if skipped. */
static QTestState *start_stamp(const char *extra)
{
    const char *img;

    if (skip_without_accel()) {
        return NULL;
    }
    img = qtest_guest_image("QTEST_GUEST_STAMP");
    if (!img) {
        return NULL;
    }
    return qtest_initf("-accel %s -m 150M -drive file=%s,format=raw %s",
                       qtest_accel(), img, extra ? extra : "");
}

/*
 * A VM held in prelaunch (-S) for monitor tests; NULL if skipped.  It
 * gets the stamp image because qmig, having no BIOS, refuses to start
 * without a boot disk.
 */
static QTestState *start_paused_n(int n_qmp, const char *extra)
{
    g_autofree char *args = NULL;
    const char *img;
    QTestState *s;

    if (skip_without_accel()) {
        return NULL;
    }
    img = qtest_guest_image("QTEST_GUEST_STAMP");
    if (!img) {
        return NULL;
    }
    s = qtest_new();
    args = g_strdup_printf("-accel %s -m 64M -S -drive file=%s,format=raw "
                           "-serial file:%s %s", qtest_accel(), img,
                           qtest_serial_path(s),
                           extra ? extra : "");
    qtest_start(s, qtest_vmm_binary(), n_qmp, args);
    return s;
}

static void wait_serial_or_fail(QTestState *s, char c, size_t n)
{
    if (!qtest_wait_serial(s, qtest_serial_path(s), c, n,
                           qtest_timeout_s())) {
        g_autofree char *err = qtest_stderr(s);
        g_error("serial output never had %zu '%c' (has %zu); stderr:\n%s",
                n, c, qtest_file_count_char(qtest_serial_path(s), c), err);
    }
}

static void pmemsave(QTestState *s, uint64_t addr, uint64_t size,
                     const char *path)
{
    qtest_qmp_assert_success(s, "{\"execute\": \"pmemsave\", \"arguments\": "
                             "{\"val\": %" G_GUINT64_FORMAT ", \"size\": %"
                             G_GUINT64_FORMAT ", \"filename\": \"%s\"}}",
                             addr, size, path);
}

static void assert_stamp_file(const char *path)
{
    g_autofree char *why = NULL;
    struct stat st;

    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_cmpuint(st.st_size, ==, STAMP_SIZE);
    if (!stamp_check_file(path, STAMP_START, &why)) {
        g_error("stamp invariant broken: %s", why);
    }
}

static void stop_and_wait(QTestState *s)
{
    qtest_qmp_assert_success(s, "{\"execute\": \"stop\"}");
    json_node_unref(qtest_qmp_eventwait(s, "STOP"));
    qtest_assert_status(s, "paused");
}

static void cont_and_wait(QTestState *s)
{
    qtest_qmp_assert_success(s, "{\"execute\": \"cont\"}");
    json_node_unref(qtest_qmp_eventwait(s, "RESUME"));
    qtest_assert_status(s, "running");
}

/* ---- the stamp guest ---------------------------------------------------- */

static void test_stamp_runs(void)
{
    QTestState *s = start_stamp(NULL);

    if (!s) {
        return;
    }
    wait_serial_or_fail(s, 'B', 3);
    qtest_assert_status(s, "running");
    qtest_quit(s);
}

static bool files_equal(const char *a, const char *b)
{
    g_autoptr(GMappedFile) ma = g_mapped_file_new(a, FALSE, NULL);
    g_autoptr(GMappedFile) mb = g_mapped_file_new(b, FALSE, NULL);

    g_assert(ma && mb);
    return g_mapped_file_get_length(ma) == g_mapped_file_get_length(mb) &&
           memcmp(g_mapped_file_get_contents(ma),
                  g_mapped_file_get_contents(mb),
                  g_mapped_file_get_length(ma)) == 0;
}

static void test_stop_cont_pmemsave(void)
{
    QTestState *s = start_stamp(NULL);
    const char *d1, *d2;
    size_t nb;

    if (!s) {
        return;
    }
    d1 = qtest_path(s, "dump1.bin");
    d2 = qtest_path(s, "dump2.bin");
    wait_serial_or_fail(s, 'B', 1);
    stop_and_wait(s);
    pmemsave(s, STAMP_START, STAMP_SIZE, d1);
    assert_stamp_file(d1);
    nb = qtest_file_count_char(qtest_serial_path(s), 'B');

    /*
     * A paused guest must not touch memory: a later dump must be the
     * same.  The delay is the observation window, not synchronisation; a
     * running stamp guest changes some page within microseconds.
     */
    g_usleep(200 * 1000);
    pmemsave(s, STAMP_START, STAMP_SIZE, d2);
    g_assert_true(files_equal(d1, d2));
    g_assert_cmpuint(qtest_file_count_char(qtest_serial_path(s), 'B'), ==,
                     nb);
    qtest_assert_status(s, "paused");

    cont_and_wait(s);
    wait_serial_or_fail(s, 'B', nb + 2);
    /* The guest ran on: memory changed, still consistent once stopped. */
    stop_and_wait(s);
    pmemsave(s, STAMP_START, STAMP_SIZE, d2);
    assert_stamp_file(d2);
    g_assert_false(files_equal(d1, d2));
    qtest_quit(s);
}

static void test_prelaunch(void)
{
    QTestState *s = start_stamp("-S");
    bool running = true;
    g_autofree char *st = NULL;

    if (!s) {
        return;
    }
    st = qtest_query_status(s, &running);
    g_assert_cmpstr(st, ==, "prelaunch");
    g_assert_false(running);
    /* Observation window: a started guest prints 'B' well within it. */
    g_assert_false(qtest_wait_serial(s, qtest_serial_path(s), 'B', 1, 1));
    cont_and_wait(s);
    wait_serial_or_fail(s, 'B', 2);
    qtest_quit(s);
}

/* ---- command line ------------------------------------------------------- */

static void assert_run_fails(const char *args, const char *needle)
{
    QTestRun r;

    qtest_run_expect_exit(qtest_vmm_binary(), args, &r);
    if (r.status == -1 || !WIFEXITED(r.status) ||
        WEXITSTATUS(r.status) == 0) {
        g_error("'%s' should exit with an error (status 0x%x), stderr:\n%s",
                args, r.status, r.err);
    }
    if (!strstr(r.err, needle)) {
        g_error("'%s': stderr does not name '%s':\n%s", args, needle, r.err);
    }
    qtest_run_free(&r);
}

static void test_cmdline_unknown_option(void)
{
    assert_run_fails("-display none -frobnicate", "-frobnicate");
}

static void test_cmdline_bad_memory(void)
{
    assert_run_fails("-display none -m foo", "foo");
}

static void test_cmdline_missing_drive(void)
{
    g_autofree char *args = NULL;

    if (skip_without_accel()) {
        return;
    }
    args = g_strdup_printf("-display none -accel %s -m 64M "
                           "-drive file=/nonexistent/qtest.img,format=raw",
                           qtest_accel());
    assert_run_fails(args, "/nonexistent/qtest.img");
}

static void test_cmdline_bad_serial(void)
{
    assert_run_fails("-display none -serial bogus:x", "bogus");
}

/* -global: only migration properties, by their QEMU names and values. */
static void test_cmdline_bad_global(void)
{
    const char *img = qtest_guest_image("QTEST_GUEST_STAMP");
    static const char *const bad[][2] = {
        { "migration.nosuch=1", "Property 'migration.nosuch' not found" },
        { "migration.mapped-ram=maybe", "expects on or off, not 'maybe'" },
        { "migration.multifd-channels=0", "multifd-channels" },
        /* Capability rules apply as with migrate-set-capabilities. */
        { "migration.x-xbzrle=on -global migration.mapped-ram=on",
          "Mapped-ram migration is incompatible with xbzrle" },
    };

    assert_run_fails("-display none -global foo.bar=1",
                     "expected migration.PROP=VALUE");
    if (!img) {
        return;
    }
    /* Applied once the machine exists: give it one. */
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *args = g_strdup_printf(
            "-display none -accel qtest -m 64M -drive file=%s,format=raw "
            "-global %s", img, bad[i][0]);

        assert_run_fails(args, bad[i][1]);
    }
}

/*
 * Accelerator choice, QEMU's spellings: an unknown name, an accelerator
 * qmig does not have, tcg's thread=multi, and kvm without /dev/kvm are
 * errors that name what was asked for and why.
 */
static void test_cmdline_accel_errors(void)
{
    const char *img = qtest_guest_image("QTEST_GUEST_STAMP");
    g_autofree char *kvm = NULL;

    assert_run_fails("-display none -accel nosuch", "nosuch");
    assert_run_fails("-display none -accel xen", "xen (not built into qmig)");
    assert_run_fails("-display none -accel tcg,thread=multi",
                     "thread=multi");
    if (img && !qtest_kvm_available()) {
        kvm = g_strdup_printf("-display none -accel kvm -m 64M "
                              "-drive file=%s,format=raw", img);
        assert_run_fails(kvm, "kvm (/dev/kvm: ");
    }
}

/*
 * -accel kvm -accel tcg: the first that works here runs the guest, and
 * query-kvm says which (enabled only under KVM; present with /dev/kvm).
 */
static void test_accel_fallback(void)
{
    const char *img = qtest_guest_image("QTEST_GUEST_STAMP");
    QTestState *s;
    JsonNode *rsp;
    JsonObject *ret;

    if (!img) {
        return;
    }
    s = qtest_initf("-accel kvm -accel tcg -m 150M "
                    "-drive file=%s,format=raw", img);
    rsp = qtest_qmp(s, "{'execute': 'query-kvm'}");
    ret = json_object_get_object_member(json_node_get_object(rsp), "return");
    g_assert_cmpint(json_object_get_boolean_member(ret, "enabled"), ==,
                    qtest_kvm_available());
    g_assert_cmpint(json_object_get_boolean_member(ret, "present"), ==,
                    qtest_kvm_available());
    qtest_set_accel(s, json_object_get_boolean_member(ret, "enabled") ?
                       "kvm" : "tcg");
    json_node_unref(rsp);
    wait_serial_or_fail(s, 'B', 2);
    qtest_quit(s);
}

static void test_cmdline_version(void)
{
    QTestRun r;
    g_autofree char *lower = NULL;

    qtest_run_expect_exit(qtest_vmm_binary(), "-version", &r);
    g_assert_true(r.status != -1 && WIFEXITED(r.status));
    g_assert_cmpint(WEXITSTATUS(r.status), ==, 0);
    lower = g_ascii_strdown(r.out, -1);
    g_assert_nonnull(strstr(lower, "version"));
    g_assert_true(g_regex_match_simple("[0-9]+\\.[0-9]+\\.[0-9]+", r.out,
                                       0, 0));
    qtest_run_free(&r);
}

static void test_cmdline_help(void)
{
    QTestRun r;

    qtest_run_expect_exit(qtest_vmm_binary(), "-help", &r);
    g_assert_true(r.status != -1 && WIFEXITED(r.status));
    g_assert_cmpint(WEXITSTATUS(r.status), ==, 0);
    /* A QEMU-compatible command line documents at least these. */
    g_assert_nonnull(strstr(r.out, "-m "));
    g_assert_nonnull(strstr(r.out, "-qmp"));
    g_assert_nonnull(strstr(r.out, "-incoming"));
    qtest_run_free(&r);
}

/* ---- QMP ---------------------------------------------------------------- */

/*
 * Send @text, expect an error whose desc contains @needle (and whose
 * class is @cls when not NULL), then check the monitor still answers.
 */
static void expect_qmp_error(QTestState *s, const char *text,
                             const char *cls, const char *needle)
{
    QTestQMP *q = qtest_qmp_conn(s, 0);
    JsonNode *rsp;
    const char *desc;

    qmp_send_raw(q, text, NULL, 0);
    rsp = qmp_receive(q);
    desc = qmp_rsp_error_desc(rsp);
    if (!desc || !strstr(desc, needle) ||
        (cls && g_strcmp0(qmp_rsp_error_class(rsp), cls))) {
        g_autofree char *txt = qmp_to_string(rsp);
        g_error("input %s: expected %s error naming '%s', got %s", text,
                cls ? cls : "an", needle, txt);
    }
    json_node_unref(rsp);
    qtest_assert_status(s, "prelaunch");
}

static void test_qmp_bad_input(void)
{
    QTestState *s = start_paused_n(1, NULL);
    JsonNode *rsp;

    if (!s) {
        return;
    }
    expect_qmp_error(s, "{\"execute\": \"query-status\",,}\n", NULL, "JSON");
    expect_qmp_error(s, "[1, 2]", NULL, "object");
    expect_qmp_error(s, "{\"arguments\": {}}", NULL, "execute");
    expect_qmp_error(s, "{\"execute\": \"no-such-cmd\"}", "CommandNotFound",
                     "no-such-cmd");
    expect_qmp_error(s, "{\"execute\": \"pmemsave\", \"arguments\": "
                     "{\"val\": 0, \"size\": 4096}}", "GenericError",
                     "filename");
    expect_qmp_error(s, "{\"execute\": \"query-status\", \"arguments\": "
                     "{\"bogus\": 1}}", "GenericError", "bogus");
    expect_qmp_error(s, "{\"execute\": \"pmemsave\", \"arguments\": "
                     "{\"val\": \"x\", \"size\": 1, "
                     "\"filename\": \"/dev/null\"}}", "GenericError", "val");
    expect_qmp_error(s, "{\"execute\": 42}", NULL, "execute");

    /* Replies echo "id", errors included. */
    rsp = qtest_qmp(s, "{\"execute\": \"no-such-cmd\", \"id\": 7}");
    g_assert_true(qmp_rsp_is_error(rsp));
    g_assert_nonnull(qmp_rsp_member(rsp, "id"));
    g_assert_cmpint(json_node_get_int(qmp_rsp_member(rsp, "id")), ==, 7);
    json_node_unref(rsp);
    rsp = qtest_qmp(s, "{\"execute\": \"query-status\", \"id\": \"abc\"}");
    g_assert_cmpstr(json_node_get_string(qmp_rsp_member(rsp, "id")), ==,
                    "abc");
    json_node_unref(rsp);
    qtest_quit(s);
}

static void test_qmp_capabilities_first(void)
{
    g_autofree char *sock = NULL;
    g_autofree char *args = NULL;
    QTestState *s;
    QTestQMP *q;
    JsonNode *rsp;

    if (skip_without_accel()) {
        return;
    }
    /* A second monitor left un-negotiated so the test controls it. */
    s = qtest_new();
    sock = g_strdup(qtest_path(s, "raw.sock"));
    args = g_strdup_printf("-accel %s -m 64M -S -drive file=%s,format=raw "
                           "-qmp unix:%s,server=on,wait=off", qtest_accel(),
                           qtest_guest_image("QTEST_GUEST_STAMP"), sock);
    qtest_start(s, qtest_vmm_binary(), 1, args);
    q = qtest_qmp_connect(s, sock);
    g_assert_nonnull(qmp_rsp_member(qmp_greeting(q), "QMP"));
    rsp = qmp_cmd(q, "{\"execute\": \"query-status\"}");
    g_assert_cmpstr(qmp_rsp_error_class(rsp), ==, "CommandNotFound");
    g_assert_nonnull(strstr(qmp_rsp_error_desc(rsp), "qmp_capabilities"));
    json_node_unref(rsp);
    rsp = qmp_cmd(q, "{\"execute\": \"qmp_capabilities\"}");
    g_assert_false(qmp_rsp_is_error(rsp));
    json_node_unref(rsp);
    rsp = qmp_cmd(q, "{\"execute\": \"query-status\"}");
    g_assert_false(qmp_rsp_is_error(rsp));
    json_node_unref(rsp);
    qtest_qmp_close(q);
    qtest_quit(s);
}

static void test_qmp_many_monitors(void)
{
    g_autofree char *args = NULL;
    const char *img;
    QTestState *s;
    JsonNode *rsp;
    int i;

    if (skip_without_accel()) {
        return;
    }
    img = qtest_guest_image("QTEST_GUEST_STAMP");
    if (!img) {
        return;
    }
    s = qtest_new();
    args = g_strdup_printf("-accel %s -m 150M -drive file=%s,format=raw "
                           "-serial file:%s", qtest_accel(), img,
                           qtest_serial_path(s));
    qtest_start(s, qtest_vmm_binary(), 3, args);
    wait_serial_or_fail(s, 'B', 1);

    /* A stop on monitor 1 reaches all three. */
    rsp = qmp_cmd(qtest_qmp_conn(s, 1), "{\"execute\": \"stop\"}");
    g_assert_false(qmp_rsp_is_error(rsp));
    json_node_unref(rsp);
    for (i = 0; i < 3; i++) {
        json_node_unref(qmp_eventwait(qtest_qmp_conn(s, i), "STOP"));
    }
    rsp = qmp_cmd(qtest_qmp_conn(s, 2), "{\"execute\": \"cont\"}");
    g_assert_false(qmp_rsp_is_error(rsp));
    json_node_unref(rsp);
    for (i = 0; i < 3; i++) {
        json_node_unref(qmp_eventwait(qtest_qmp_conn(s, i), "RESUME"));
    }
    qtest_assert_status(s, "running");
    qtest_quit(s);
}

/* ---- HMP ---------------------------------------------------------------- */

/* Read from @fd into @acc until it contains @needle after @from. */
static void hmp_read_until(int fd, GString *acc, size_t from,
                           const char *needle)
{
    gint64 deadline = g_get_monotonic_time() +
                      (gint64)qtest_timeout_s() * G_USEC_PER_SEC;

    while (!strstr(acc->str + from, needle)) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        char buf[1024];
        ssize_t n;
        int ms = (int)((deadline - g_get_monotonic_time()) / 1000);

        if (ms <= 0 || poll(&pfd, 1, ms) <= 0) {
            g_error("HMP: no '%s' in: %s", needle, acc->str + from);
        }
        n = read(fd, buf, sizeof(buf));
        if (n <= 0) {
            g_error("HMP socket closed before '%s' (got: %s)", needle,
                    acc->str + from);
        }
        g_string_append_len(acc, buf, n);
    }
}

static int unix_connect_retry(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int i;

    g_assert(strlen(path) < sizeof(addr.sun_path));
    strcpy(addr.sun_path, path);
    /* The socket is created before the QMP one, already connected. */
    for (i = 0; i < 100; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
            return fd;
        }
        close(fd);
        g_usleep(20 * 1000);
    }
    g_error("cannot connect to HMP socket %s: %s", path, strerror(errno));
}

/* Send one HMP line on @fd and return everything up to the next prompt. */
static char *hmp_sock_cmd(int fd, GString *acc, const char *line)
{
    size_t from = acc->len;
    g_autofree char *l = g_strdup_printf("%s\n", line);
    char *end;

    /* QEMU echoes the line (with terminal escapes); qmig may not. */
    g_assert_cmpint(write(fd, l, strlen(l)), ==, (ssize_t)strlen(l));
    hmp_read_until(fd, acc, from, "(qemu) ");
    end = strstr(acc->str + from, "(qemu) ");
    return g_strndup(acc->str + from, end - (acc->str + from));
}

static void test_hmp(void)
{
    QTestState *s = start_paused_n(1, NULL);
    g_autofree char *text = NULL;
    g_autofree char *out = NULL;
    g_autofree char *args = NULL;
    g_autoptr(GString) acc = g_string_new(NULL);
    const char *hsock;
    int fd;

    if (!s) {
        return;
    }
    text = qtest_hmp(s, "info status");
    g_assert_nonnull(strstr(text, "VM status: paused (prelaunch)"));
    g_free(text);
    text = qtest_hmp(s, "no-such-command");
    g_assert_nonnull(strstr(text, "no-such-command"));
    qtest_quit(s);

    /* A readline monitor on its own socket. */
    s = qtest_new();
    hsock = qtest_path(s, "hmp.sock");
    args = g_strdup_printf("-accel %s -m 64M -S -drive file=%s,format=raw "
                           "-monitor unix:%s,server=on,wait=off",
                           qtest_accel(),
                           qtest_guest_image("QTEST_GUEST_STAMP"), hsock);
    qtest_start(s, qtest_vmm_binary(), 1, args);
    fd = unix_connect_retry(hsock);
    hmp_read_until(fd, acc, 0, "(qemu) ");
    out = hmp_sock_cmd(fd, acc, "info status");
    g_assert_nonnull(strstr(out, "VM status: paused (prelaunch)"));
    g_free(out);
    out = hmp_sock_cmd(fd, acc, "cont");
    json_node_unref(qtest_qmp_eventwait(s, "RESUME"));
    g_free(out);
    out = hmp_sock_cmd(fd, acc, "info status");
    g_assert_nonnull(strstr(out, "VM status: running"));
    close(fd);
    qtest_quit(s);
}

/* ---- getfd / closefd ---------------------------------------------------- */

/* How many of @pid's open fds refer to the inode of our @fd. */
static int child_fds_on(pid_t pid, int fd)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d/fd", (int)pid);
    g_autofree char *want = NULL;
    struct stat st;
    const char *name;
    GDir *d;
    int n = 0;

    g_assert_cmpint(fstat(fd, &st), ==, 0);
    want = g_strdup_printf("pipe:[%lu]", (unsigned long)st.st_ino);
    d = g_dir_open(dir, 0, NULL);
    g_assert_nonnull(d);
    while ((name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, name, NULL);
        g_autofree char *target = g_file_read_link(p, NULL);

        n += target && g_str_equal(target, want);
    }
    g_dir_close(d);
    return n;
}

static void test_getfd(void)
{
    QTestState *s = start_paused_n(1, NULL);
    JsonNode *rsp;
    int p[2];

    if (!s) {
        return;
    }
    g_assert_cmpint(pipe(p), ==, 0);
    g_assert_cmpint(child_fds_on(qtest_pid(s), p[0]), ==, 0);

    rsp = qtest_qmp_fds(s, &p[0], 1, "{\"execute\": \"getfd\", "
                        "\"arguments\": {\"fdname\": \"fd0\"}}");
    g_assert_false(qmp_rsp_is_error(rsp));
    json_node_unref(rsp);
    g_assert_cmpint(child_fds_on(qtest_pid(s), p[0]), ==, 1);

    /* Without ancillary data there is nothing to name. */
    rsp = qtest_qmp(s, "{\"execute\": \"getfd\", "
                    "\"arguments\": {\"fdname\": \"fd1\"}}");
    g_assert_true(qmp_rsp_is_error(rsp));
    g_assert_nonnull(strstr(qmp_rsp_error_desc(rsp), "SCM_RIGHTS"));
    json_node_unref(rsp);

    qtest_qmp_assert_success(s, "{\"execute\": \"closefd\", "
                             "\"arguments\": {\"fdname\": \"fd0\"}}");
    g_assert_cmpint(child_fds_on(qtest_pid(s), p[0]), ==, 0);
    rsp = qtest_qmp(s, "{\"execute\": \"closefd\", "
                    "\"arguments\": {\"fdname\": \"fd0\"}}");
    g_assert_true(qmp_rsp_is_error(rsp));
    g_assert_nonnull(strstr(qmp_rsp_error_desc(rsp), "fd0"));
    json_node_unref(rsp);
    qtest_assert_status(s, "prelaunch");
    close(p[0]);
    close(p[1]);
    qtest_quit(s);
}

/* ---- other guests ------------------------------------------------------- */

static QTestState *start_guest(const char *env, const char *extra)
{
    const char *img;

    if (skip_without_accel()) {
        return NULL;
    }
    img = qtest_guest_image(env);
    if (!img) {
        return NULL;
    }
    return qtest_initf("-accel %s -m 64M -drive file=%s,format=raw %s",
                       qtest_accel(), img, extra);
}

static void test_smp(void)
{
    QTestState *s = start_guest("QTEST_GUEST_SMP", "-smp 2");
    g_autofree char *serial = NULL;

    if (!s) {
        return;
    }
    wait_serial_or_fail(s, 'S', 1);
    g_assert_true(g_file_get_contents(qtest_serial_path(s), &serial, NULL,
                                      NULL));
    /* The BSP writes 'S' only after an AP has written 'A'. */
    g_assert_cmpstr(serial, ==, "AS");
    qtest_quit(s);
}

static void test_triple_fault(void)
{
    /*
     * Without a BIOS the guest faults within microseconds: start it
     * paused so the monitor is connected before it runs.
     */
    QTestState *s = start_guest("QTEST_GUEST_TRIPLE",
                                is_qemu() ? "-S -no-reboot" : "-S");
    JsonNode *ev;
    JsonObject *data;
    int status;

    if (!s) {
        return;
    }
    /* The reply to cont must come (before the exit), then SHUTDOWN. */
    qtest_qmp_assert_success(s, "{\"execute\": \"cont\"}");
    ev = qtest_qmp_eventwait(s, "SHUTDOWN");
    data = json_object_get_object_member(json_node_get_object(ev), "data");
    g_assert_nonnull(data);
    g_assert_true(json_object_get_boolean_member(data, "guest"));
    g_assert_cmpstr(json_object_get_string_member(data, "reason"), ==,
                    "guest-reset");
    json_node_unref(ev);
    g_assert_cmpuint(qtest_file_count_char(qtest_serial_path(s), 'T'), ==, 1);
    if (!qtest_wait_exit(s, qtest_timeout_s(), &status)) {
        g_error("VMM still running after the guest's triple fault");
    }
    /* An orderly exit, not a crash. */
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
    qtest_quit(s);
}

static void test_debug_exit(void)
{
    QTestState *s = start_guest("QTEST_GUEST_DEBUGEXIT",
                                "-S -device isa-debug-exit,iobase=0xf4,"
                                "iosize=0x04");
    int status;

    if (!s) {
        return;
    }
    /* The exit may beat the reply (QEMU exits from the vCPU thread). */
    qmp_send_raw(qtest_qmp_conn(s, 0), "{\"execute\": \"cont\"}", NULL, 0);
    if (!qtest_wait_exit(s, qtest_timeout_s(), &status)) {
        g_autofree char *err = qtest_stderr(s);
        g_error("guest wrote 0x21 to isa-debug-exit but the VMM runs on; "
                "serial has %zu 'D'; stderr:\n%s",
                qtest_file_count_char(qtest_serial_path(s), 'D'), err);
    }
    g_assert_cmpuint(qtest_file_count_char(qtest_serial_path(s), 'D'), ==, 1);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, (0x21 << 1) | 1);
    qtest_quit(s);
}

/* Does some line of @text contain both @a and @b? */
static bool line_has_both(const char *text, const char *a, const char *b)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    int i;

    for (i = 0; lines[i]; i++) {
        if (strstr(lines[i], a) && strstr(lines[i], b)) {
            return true;
        }
    }
    return false;
}

static void test_trace(void)
{
    /* A glob, as QEMU accepts; it must not enable vm_state_notify. */
    QTestState *s = start_paused_n(1, "-trace runstate_se*");
    g_autofree char *err = NULL;

    if (!s) {
        return;
    }
    cont_and_wait(s);
    stop_and_wait(s);
    err = qtest_stderr(s);
    if (!line_has_both(err, "runstate_set", "running")) {
        g_error("-trace runstate_se* printed no runstate_set line for the "
                "switch to running on stderr:\n%s", err);
    }
    /* An event the pattern does not match stays off. */
    g_assert_null(strstr(err, "vm_state_notify"));
    qtest_quit(s);
}

/*
 * The fill guest with its end patched to 8 MiB: after 'F' and a stop,
 * [1 MiB, 8 MiB) holds the xorshift32 stream and the next page is still
 * zero, so both the guest and the patch offset are checked.
 */
#define FILL_N_OFFSET 0x1f8
#define FILL_END_MIB 8

static void test_fill(void)
{
    g_autofree char *image = NULL;
    g_autofree char *dump = NULL;
    const char *src, *img_path, *dump_path;
    gsize len, i;
    uint32_t x = 0x2545f491;
    QTestState *s;
    g_autofree char *args = NULL;

    if (skip_without_accel()) {
        return;
    }
    src = qtest_guest_image("QTEST_GUEST_FILL");
    if (!src) {
        return;
    }
    g_assert_true(g_file_get_contents(src, &image, &len, NULL));
    g_assert_cmpuint(len, ==, 512);
    g_assert_cmpuint(image[FILL_N_OFFSET], ==, 100);  /* the default */
    image[FILL_N_OFFSET] = FILL_END_MIB;

    s = qtest_new();
    img_path = qtest_path(s, "fill.img");
    dump_path = qtest_path(s, "fill.bin");
    g_assert_true(g_file_set_contents(img_path, image, len, NULL));
    args = g_strdup_printf("-accel %s -m 64M -drive file=%s,format=raw "
                           "-serial file:%s", qtest_accel(), img_path,
                           qtest_serial_path(s));
    qtest_start(s, qtest_vmm_binary(), 1, args);
    wait_serial_or_fail(s, 'F', 1);
    stop_and_wait(s);
    pmemsave(s, STAMP_START, (FILL_END_MIB << 20) + 4096 - STAMP_START,
             dump_path);
    g_assert_true(g_file_get_contents(dump_path, &dump, &len, NULL));
    g_assert_cmpuint(len, ==, (FILL_END_MIB << 20) + 4096 - STAMP_START);
    for (i = 0; i + 4096 < len; i += 4) {
        uint32_t v;

        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        memcpy(&v, dump + i, 4);
        if (v != x) {
            g_error("fill guest: word at 0x%" G_GINT64_MODIFIER "x is 0x%08x, "
                    "expected 0x%08x", (guint64)(STAMP_START + i), v, x);
        }
    }
    for (; i < len; i++) {
        g_assert_cmpint(dump[i], ==, 0);
    }
    qtest_quit(s);
}

/*
 * Each case runs in a subprocess, so one failure (g_error aborts) does not
 * hide the others; the parent decides skips, which a subprocess could not
 * report.
 */
typedef struct QmigCase {
    const char *path;
    void (*fn)(void);
    bool vm;                /* runs guest code: needs the run's -accel */
    const char *guest;      /* env var naming the guest image it needs */
} QmigCase;

static const QmigCase cases[] = {
    { "/qmig/stamp/runs", test_stamp_runs, true, "QTEST_GUEST_STAMP" },
    { "/qmig/stamp/stop-cont-pmemsave", test_stop_cont_pmemsave, true,
      "QTEST_GUEST_STAMP" },
    { "/qmig/stamp/prelaunch", test_prelaunch, true, "QTEST_GUEST_STAMP" },
    { "/qmig/cmdline/unknown-option", test_cmdline_unknown_option, false,
      NULL },
    { "/qmig/cmdline/bad-memory", test_cmdline_bad_memory, false, NULL },
    { "/qmig/cmdline/missing-drive", test_cmdline_missing_drive, true, NULL },
    { "/qmig/cmdline/bad-serial", test_cmdline_bad_serial, false, NULL },
    { "/qmig/cmdline/bad-global", test_cmdline_bad_global, false, NULL },
    { "/qmig/cmdline/accel-errors", test_cmdline_accel_errors, false, NULL },
    { "/qmig/cmdline/version", test_cmdline_version, false, NULL },
    { "/qmig/cmdline/help", test_cmdline_help, false, NULL },
    { "/qmig/qmp/bad-input", test_qmp_bad_input, true, "QTEST_GUEST_STAMP" },
    { "/qmig/qmp/capabilities-first", test_qmp_capabilities_first, true,
      "QTEST_GUEST_STAMP" },
    { "/qmig/qmp/many-monitors", test_qmp_many_monitors, true,
      "QTEST_GUEST_STAMP" },
    { "/qmig/qmp/getfd", test_getfd, true, "QTEST_GUEST_STAMP" },
    { "/qmig/hmp", test_hmp, true, "QTEST_GUEST_STAMP" },
    { "/qmig/guest/fill", test_fill, true, "QTEST_GUEST_FILL" },
    { "/qmig/guest/smp", test_smp, true, "QTEST_GUEST_SMP" },
    { "/qmig/guest/triple-fault", test_triple_fault, true,
      "QTEST_GUEST_TRIPLE" },
    { "/qmig/guest/debug-exit", test_debug_exit, true,
      "QTEST_GUEST_DEBUGEXIT" },
    /* Picks its own accelerators: -accel kvm -accel tcg. */
    { "/qmig/guest/accel-fallback", test_accel_fallback, false,
      "QTEST_GUEST_STAMP" },
    { "/qmig/trace", test_trace, true, "QTEST_GUEST_STAMP" },
};

static void run_case(gconstpointer opaque)
{
    const QmigCase *c = opaque;

    if (g_test_subprocess()) {
        c->fn();
        return;
    }
    if (c->vm && qtest_skip_without_accel()) {
        return;
    }
    if (c->guest && !qtest_guest_image(c->guest)) {
        return;             /* skipped, with the reason */
    }
    g_test_trap_subprocess(NULL, (guint64)qtest_timeout_s() * 4 *
                           G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
    if (!g_test_trap_has_passed()) {
        g_test_message("%s failed (see its stderr above)", c->path);
        g_test_fail();
    }
}

int main(int argc, char **argv)
{
    size_t i;

    qtest_main_init(&argc, &argv);
    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_test_add_data_func(cases[i].path, &cases[i], run_case);
    }
    return g_test_run();
}
