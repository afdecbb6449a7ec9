/*
 * Machine-level qtests that need nothing but qmig: shared memory backends
 * and the qtest protocol (-qtest).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <glib.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "libqtest.h"
#include "stamp-check.h"

static void pmemsave(QTestState *s, uint64_t addr, uint64_t size,
                     const char *file)
{
    qtest_qmp_assert_success(s, "{'execute': 'pmemsave', 'arguments': "
                             "{'val': %" G_GUINT64_FORMAT ", 'size': %"
                             G_GUINT64_FORMAT ", 'filename': '%s'}}",
                             addr, size, file);
}

/* Guest RAM from a shared memfd: the guest runs in it, the map shows it. */
static void test_memfd_backend(void)
{
    const char *img = qtest_guest_image("QTEST_GUEST_STAMP");
    g_autofree char *maps = NULL;
    g_autofree char *maps_path = NULL;
    g_autofree char *why = NULL;
    QTestState *s;

    if (!img || qtest_skip_without_accel()) {
        return;
    }
    s = qtest_initf("-accel %s -drive file=%s,format=raw "
                    "-object memory-backend-memfd,id=mem0,size=150M,share=on "
                    "-machine memory-backend=mem0", qtest_accel(), img);
    g_assert_true(qtest_wait_serial(s, qtest_serial_path(s), 'B', 3,
                                    qtest_timeout_s()));
    maps_path = g_strdup_printf("/proc/%d/maps", (int)qtest_pid(s));
    g_assert_true(g_file_get_contents(maps_path, &maps, NULL, NULL));
    /* A shared mapping of the memfd named after the backend. */
    g_assert_nonnull(strstr(maps, "/memfd:mem0"));
    qtest_qmp_assert_success(s, "{'execute': 'stop'}");
    pmemsave(s, STAMP_START, STAMP_END - STAMP_START,
             qtest_path(s, "dump.bin"));
    g_assert_true(stamp_check_file(qtest_path(s, "dump.bin"), STAMP_START,
                                   &why));
    qtest_quit(s);
}

/* A backend whose size disagrees with -m is refused with a clear error. */
static void test_backend_size_mismatch(void)
{
    const char *img = qtest_guest_image("QTEST_GUEST_STAMP");
    g_autofree char *args = NULL;
    QTestRun r;

    if (!img) {
        g_test_skip("needs the stamp guest");
        return;
    }
    args = g_strdup_printf("-accel qtest -m 64M -drive file=%s,format=raw "
                           "-object memory-backend-memfd,id=m,size=32M "
                           "-machine memory-backend=m -display none", img);
    qtest_run_expect_exit(qtest_vmm_binary(), args, &r);
    g_assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1);
    g_assert_nonnull(strstr(r.err, "m"));
    g_assert_nonnull(strstr(r.err, "size"));
    qtest_run_free(&r);
}

/* One qtest request, one reply line. */
static char *qtest_req(int fd, FILE *in, const char *req)
{
    char line[4096];

    g_assert_cmpint(write(fd, req, strlen(req)), ==, (ssize_t)strlen(req));
    g_assert_nonnull(fgets(line, sizeof(line), in));
    g_strchomp(line);
    return g_strdup(line);
}

static void assert_reply(int fd, FILE *in, const char *req, const char *want)
{
    g_autofree char *got = qtest_req(fd, in, req);

    if (!g_str_has_prefix(got, want)) {
        g_error("qtest '%s' answered '%s', expected '%s...'", req, got, want);
    }
}

static void test_qtest_protocol(void)
{
    g_autofree char *dir = g_dir_make_tmp("qmig-qtest-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "qtest.sock", NULL);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    g_autofree char *args = NULL;
    QTestState *s;
    FILE *in;
    int fd;

    g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
    g_assert_cmpint(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_assert_cmpint(listen(lfd, 1), ==, 0);
    /* As in QEMU's libqtest: the test listens, the VMM connects. */
    args = g_strdup_printf("-accel qtest -m 16M -qtest unix:%s", path);
    s = qtest_new();
    qtest_start(s, qtest_vmm_binary(), 1, args);
    fd = accept(lfd, NULL, NULL);
    g_assert_cmpint(fd, >=, 0);
    in = fdopen(dup(fd), "r");

    assert_reply(fd, in, "writeb 0x100000 0x5a\n", "OK");
    assert_reply(fd, in, "readb 0x100000\n", "OK 0x000000000000005a");
    assert_reply(fd, in, "writel 0x100004 0xdeadbeef\n", "OK");
    assert_reply(fd, in, "readq 0x100000\n", "OK 0xdeadbeef0000005a");
    assert_reply(fd, in, "write 0x200000 3 0x010203\n", "OK");
    assert_reply(fd, in, "read 0x200000 3\n", "OK 0x010203");
    assert_reply(fd, in, "memset 0x200000 2 0xff\n", "OK");
    assert_reply(fd, in, "b64read 0x200000 3\n", "OK //8D");
    assert_reply(fd, in, "outb 0x92 0x2\n", "OK");
    assert_reply(fd, in, "inb 0x92\n", "OK 0x0002");
    assert_reply(fd, in, "endianness\n", "OK little");
    /* Bad requests fail clearly; nothing is written outside RAM. */
    assert_reply(fd, in, "readb 0xffffffff0\n", "FAIL");
    assert_reply(fd, in, "write 0xfffff0 32 0x00\n", "FAIL");
    assert_reply(fd, in, "write 0x1000 2 0xzz00\n", "FAIL");
    assert_reply(fd, in, "frobnicate 1 2\n", "FAIL");
    /* The monitor sees what qtest wrote. */
    pmemsave(s, 0x100000, 8, qtest_path(s, "q.bin"));
    {
        g_autofree char *buf = NULL;
        gsize len;

        g_assert_true(g_file_get_contents(qtest_path(s, "q.bin"), &buf, &len,
                                          NULL));
        g_assert_cmpuint(len, ==, 8);
        g_assert_cmpint((guint8)buf[0], ==, 0x5a);
        g_assert_cmpint((guint8)buf[7], ==, 0xde);
    }
    fclose(in);
    close(fd);
    close(lfd);
    qtest_quit(s);
    unlink(path);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (qtest_vmm_is_qemu(qtest_vmm_binary())) {
        g_test_message("these cases test qmig itself");
    }
    g_test_add_func("/machine/memfd-backend", test_memfd_backend);
    g_test_add_func("/machine/backend-size-mismatch",
                    test_backend_size_mismatch);
    g_test_add_func("/machine/qtest-protocol", test_qtest_protocol);
    return g_test_run();
}
