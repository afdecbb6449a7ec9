/*
 * Hostile incoming streams: a destination (-accel qtest, no CPU, a COM1
 * to poke at with the qtest protocol) is fed crafted postcopy streams on
 * its migration socket by this process.
 *
 * - a device section after RUN (the package held LISTEN and RUN, then the
 *   main stream carries SECTION_FULL "serial" with a receive-FIFO head out
 *   of range): refused before anything is loaded; a content error after
 *   the guest ran stops it (internal-error, status failed, error-desc),
 *   it does not pause for a recovery that cannot fix the stream; a read
 *   of the UART afterwards is harmless (before: the bad head stayed in
 *   the device and the read indexed far outside its FIFO);
 * - the same section inside the package, before RUN: its post_load
 *   refuses it and the device keeps its old values (all-or-nothing
 *   loads); the guest never ran, so the destination fails as a precopy
 *   does, runstate inmigrate (before: internal-error);
 * - a command the package may not hold (ADVISE): the same plain failure;
 * - a RAM section inside the package (which would let the incoming and
 *   listen threads share the RAM loader): refused, naming the rule;
 * - a bad RAM record after RUN (where RAM may come): also a content
 *   error, failed and stopped; while a channel that ends after RUN
 *   pauses postcopy with the guest running, for migrate-recover.
 *
 * These test qmig's own rules on stream contents; they need userfaultfd
 * (else SKIP) but no guest image or accelerator.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <linux/userfaultfd.h>

#include "libqtest.h"
#include "migration-helpers.h"
#include "stream-bytes.h"

#define VM_EOF          0x00
#define VM_SECTION_START 0x01
#define VM_SECTION_FULL 0x04
#define VM_CONFIGURATION 0x07
#define VM_COMMAND      0x08
#define VM_FOOTER       0x7e
#define CMD_OPEN_RP     1
#define CMD_ADVISE      3
#define CMD_LISTEN      4
#define CMD_RUN         5
#define CMD_PACKAGED    7
#define RAM_FLAG_EOS    0x10
#define UART_RBR        0x3f8

/* A destination with its qtest connection and migration socket. */
typedef struct Dest {
    QTestState *s;
    int qtest_fd;
    FILE *qtest_in;
    int mig_fd;
} Dest;

static bool uffd_usable(void)
{
    int fd = syscall(__NR_userfaultfd, O_CLOEXEC);

    if (fd < 0) {
        int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);

        if (dev < 0) {
            return false;
        }
        fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC);
        close(dev);
    }
    if (fd < 0) {
        return false;
    }
    close(fd);
    return true;
}

static bool skip_without_uffd(void)
{
    if (qtest_vmm_is_qemu(qtest_vmm_binary())) {
        g_test_skip("tests qmig's own loader rules");
        return true;
    }
    if (!uffd_usable()) {
        g_test_skip("needs userfaultfd (vm.unprivileged_userfaultfd=1 or "
                    "access to /dev/userfaultfd)");
        return true;
    }
    return false;
}

/* ---- stream bytes ---- */

/* Header, configuration, OPEN_RETURN_PATH, ADVISE for 4 KiB pages. */
static void put_postcopy_head(GByteArray *a)
{
    put_be32(a, 0x5145564d);
    put_be32(a, 3);
    put_u8(a, VM_CONFIGURATION);
    put_be32(a, strlen("pc-i440fx"));
    g_byte_array_append(a, (const uint8_t *)"pc-i440fx", 9);
    put_cmd(a, CMD_OPEN_RP, 0);
    put_cmd(a, CMD_ADVISE, 16);
    put_be64(a, 4096);
    put_be64(a, 4096);
}

/*
 * SECTION_FULL "serial" instance 0 (COM1) version 1: an idle UART whose
 * FIFO holds one byte at @rx_head, which the destination must refuse
 * unless it is below 16.
 */
static void put_serial_full(GByteArray *a, uint32_t section_id,
                            uint32_t rx_head)
{
    put_u8(a, VM_SECTION_FULL);
    put_be32(a, section_id);
    put_counted(a, "serial", 6);
    put_be32(a, 0);
    put_be32(a, 1);
    put_be16(a, 12);            /* divider */
    put_u8(a, 0);               /* ier */
    put_u8(a, 0x01);            /* iir: no interrupt */
    put_u8(a, 0x03);            /* lcr: 8N1, DLAB clear */
    put_u8(a, 0);               /* mcr */
    put_u8(a, 0x61);            /* lsr: DR, THRE, TEMT */
    put_u8(a, 0);               /* msr */
    put_u8(a, 0);               /* scr */
    put_u8(a, 0);               /* fcr */
    put_u8(a, 0);               /* thr_ipending */
    put_u8(a, 0);               /* irq_level */
    put_be32(a, rx_head);
    put_be32(a, 1);             /* rx_count */
    for (int i = 0; i < 16; i++) {
        put_u8(a, 'x');
    }
    put_u8(a, VM_FOOTER);
    put_be32(a, section_id);
}

/* SECTION_START "ram" with no pages: just EOS. */
static void put_ram_start(GByteArray *a, uint32_t section_id)
{
    put_u8(a, VM_SECTION_START);
    put_be32(a, section_id);
    put_counted(a, "ram", 3);
    put_be32(a, 0);
    put_be32(a, 4);
    put_be64(a, RAM_FLAG_EOS);
    put_u8(a, VM_FOOTER);
    put_be32(a, section_id);
}

/* ---- the destination ---- */

static void dest_start(Dest *d)
{
    g_autofree char *qsock = NULL;
    g_autofree char *msock = NULL;
    g_autofree char *uri = NULL;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int lfd;

    d->s = qtest_new();
    qsock = g_strdup(qtest_path(d->s, "qtest.sock"));
    msock = g_strdup(qtest_path(d->s, "mig.sock"));
    lfd = qtest_unix_listen(qsock);
    {
        g_autofree char *args = g_strdup_printf(
            "-serial file:%s -accel qtest -m 16M -qtest unix:%s "
            "-incoming defer", qtest_serial_path(d->s), qsock);

        qtest_start(d->s, qtest_vmm_binary(), 1, args);
    }
    d->qtest_fd = accept(lfd, NULL, NULL);
    g_assert_cmpint(d->qtest_fd, >=, 0);
    close(lfd);
    d->qtest_in = fdopen(dup(d->qtest_fd), "r");

    mig_set_capability(d->s, "postcopy-ram", true);
    uri = g_strdup_printf("unix:%s", msock);
    mig_incoming(d->s, uri, true);
    d->mig_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    g_strlcpy(sa.sun_path, msock, sizeof(sa.sun_path));
    g_assert_cmpint(connect(d->mig_fd, (struct sockaddr *)&sa, sizeof(sa)),
                    ==, 0);
}

static void dest_send(Dest *d, GByteArray *a)
{
    g_assert_cmpint(write(d->mig_fd, a->data, a->len), ==, (ssize_t)a->len);
}

/* inb of @port over the qtest protocol; fails if the VMM died. */
static char *dest_inb(Dest *d, uint16_t port)
{
    g_autofree char *req = g_strdup_printf("inb 0x%x\n", port);
    char line[256];

    g_assert_cmpint(write(d->qtest_fd, req, strlen(req)), ==,
                    (ssize_t)strlen(req));
    if (!fgets(line, sizeof(line), d->qtest_in)) {
        g_autofree char *why = qtest_exit_reason(d->s, 5);

        g_error("the destination died on 'inb 0x%x': %s", port, why);
    }
    g_strchomp(line);
    return g_strdup(line);
}

static void dest_stop(Dest *d)
{
    close(d->mig_fd);
    fclose(d->qtest_in);
    close(d->qtest_fd);
    mig_quit_clean(d->s);
}

/*
 * Wait for the end (or a pause), touch the UART as the guest would, then
 * check: failed, error-desc has @needle, runstate @runstate.
 */
static void dest_check_failed(Dest *d, const char *needle,
                              const char *runstate)
{
    static const char *const end[] = { "failed", "postcopy-paused",
                                       "completed", NULL };
    g_autofree char *st = mig_wait_status(d->s, end);
    g_autofree char *rbr = dest_inb(d, UART_RBR);
    g_autofree char *rs = qtest_query_status(d->s, NULL);
    g_autoptr(JsonNode) info = mig_query(d->s);

    g_test_message("status %s, runstate %s, UART read: %s", st, rs, rbr);
    g_assert_cmpstr(st, ==, "failed");
    g_test_message("error-desc: %s", mig_error_desc(info));
    g_assert_cmpstr(rs, ==, runstate);
    g_assert_nonnull(strstr(mig_error_desc(info), needle));
    g_assert_true(g_str_has_prefix(rbr, "OK "));
}

/*
 * A destination whose guest runs: the stream so far is the head, a RAM
 * section with no pages (id 41, for PARTs to continue) and a package of
 * LISTEN and RUN; the listen thread reads on from here.
 */
static void dest_start_running(Dest *d)
{
    g_autoptr(GByteArray) a = g_byte_array_new();
    g_autoptr(GByteArray) pkg = g_byte_array_new();

    dest_start(d);
    put_postcopy_head(a);
    put_ram_start(a, 41);
    put_cmd(pkg, CMD_LISTEN, 0);
    put_cmd(pkg, CMD_RUN, 0);
    put_packaged(a, pkg);
    dest_send(d, a);
    mig_wait_running(d->s);
}

/* Device state after RUN: a content error that stops the guest. */
static void run_full_after_run(uint32_t rx_head)
{
    g_autoptr(GByteArray) a = g_byte_array_new();
    Dest d;

    dest_start_running(&d);
    put_serial_full(a, 40, rx_head);
    dest_send(&d, a);
    dest_check_failed(&d, "after CMD_POSTCOPY_RUN", "internal-error");
    dest_stop(&d);
}

static void test_full_after_run(void)
{
    if (skip_without_uffd()) {
        return;
    }
    run_full_after_run(0x7fffffff);     /* SEGV if it stayed in the UART */
    run_full_after_run(64);             /* ASan: heap-buffer-overflow */
}

/*
 * A RAM record the loader refuses, where RAM may come: a content error,
 * so failed and stopped, not paused.
 */
static void test_bad_ram_after_run(void)
{
    g_autoptr(GByteArray) a = g_byte_array_new();
    Dest d;

    if (skip_without_uffd()) {
        return;
    }
    dest_start_running(&d);
    put_u8(a, 0x02);            /* SECTION_PART */
    put_be32(a, 41);
    put_be64(a, 0x400);         /* no such flag */
    put_u8(a, VM_FOOTER);
    put_be32(a, 41);
    dest_send(&d, a);
    dest_check_failed(&d, "Unknown RAM record flags", "internal-error");
    dest_stop(&d);
}

/* The channel breaks after RUN: postcopy pauses, the guest runs on. */
static void test_eof_after_run_pauses(void)
{
    static const char *const paused[] = { "postcopy-paused", NULL };
    g_autofree char *st = NULL;
    g_autofree char *rs = NULL;
    Dest d;

    if (skip_without_uffd()) {
        return;
    }
    dest_start_running(&d);
    close(d.mig_fd);
    st = mig_wait_status(d.s, paused);
    rs = qtest_query_status(d.s, NULL);
    g_assert_cmpstr(rs, ==, "running");
    d.mig_fd = -1;
    fclose(d.qtest_in);
    close(d.qtest_fd);
    mig_quit_clean(d.s);
}

/*
 * A package of LISTEN, what @put_inner adds, RUN: refused before RUN, so
 * the guest never ran; a failed incoming migration (runstate inmigrate),
 * its error-desc containing @needle.
 */
static void run_bad_package(void (*put_inner)(GByteArray *pkg),
                            const char *needle)
{
    g_autoptr(GByteArray) a = g_byte_array_new();
    g_autoptr(GByteArray) pkg = g_byte_array_new();
    Dest d;

    dest_start(&d);
    put_postcopy_head(a);
    put_cmd(pkg, CMD_LISTEN, 0);
    put_inner(pkg);
    put_cmd(pkg, CMD_RUN, 0);
    put_packaged(a, pkg);
    put_u8(a, VM_EOF);
    dest_send(&d, a);
    dest_check_failed(&d, needle, "inmigrate");
    dest_stop(&d);
}

static void put_bad_serial(GByteArray *pkg)
{
    put_serial_full(pkg, 40, 0x7fffffff);
}

static void put_empty_ram(GByteArray *pkg)
{
    put_ram_start(pkg, 41);
}

static void put_advise_cmd(GByteArray *pkg)
{
    put_cmd(pkg, CMD_ADVISE, 0);
}

/*
 * A command the package may not hold, after LISTEN: the guest never ran,
 * so inmigrate (before: internal-error, the failed package's postcopy
 * state END being taken for "ran").
 */
static void test_command_in_package(void)
{
    if (!skip_without_uffd()) {
        run_bad_package(put_advise_cmd, "not allowed in a postcopy package");
    }
}

/* The bad device in the package: its post_load refuses it, all of it. */
static void test_bad_device_in_package(void)
{
    if (!skip_without_uffd()) {
        run_bad_package(put_bad_serial, "receive FIFO head");
    }
}

/* RAM in the package: the rule refuses it before RAM is touched. */
static void test_ram_in_package(void)
{
    if (!skip_without_uffd()) {
        run_bad_package(put_empty_ram, "not allowed in a postcopy package");
    }
}

int main(int argc, char **argv)
{
    qtest_main_init(&argc, &argv);
    g_test_add_func("/loadvm/postcopy/full-after-run", test_full_after_run);
    g_test_add_func("/loadvm/postcopy/bad-device-in-package",
                    test_bad_device_in_package);
    g_test_add_func("/loadvm/postcopy/ram-in-package", test_ram_in_package);
    g_test_add_func("/loadvm/postcopy/command-in-package",
                    test_command_in_package);
    g_test_add_func("/loadvm/postcopy/bad-ram-after-run",
                    test_bad_ram_after_run);
    g_test_add_func("/loadvm/postcopy/eof-after-run-pauses",
                    test_eof_after_run_pauses);
    return g_test_run();
}
