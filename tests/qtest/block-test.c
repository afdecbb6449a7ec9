/*
 * Disks without migration: the qmig-disk device (driven through the
 * qtest protocol), query-block / info block, the block-dirty-bitmap-*
 * commands, and the disk guest with its checker.
 *
 * qmig only: qmig-disk does not exist in QEMU.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include "libqtest.h"
#include "disk-check.h"
#include "stamp-check.h"

#define IOBASE 0x510
#define DISK_BYTES (8 * 1024 * 1024)

/* A zero-filled sparse image of @size bytes at @path. */
static void make_image(const char *path, uint64_t size)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, size), ==, 0);
    close(fd);
}

/*
 * qmig boots from the first -drive even under -accel qtest, and if=none
 * does not exempt a drive from that: give every VM a boot sector first.
 */
static char *boot_drive(void)
{
    const char *guest = qtest_guest_image("QTEST_GUEST_DISK");

    return guest ? g_strdup_printf("-drive file=%s,format=raw,snapshot=on",
                                   guest) : NULL;
}

static bool skip_qemu(void)
{
    if (qtest_vmm_is_qemu(qtest_vmm_binary())) {
        g_test_skip("qmig-disk exists only in qmig");
        return true;
    }
    return false;
}

/* ---- the device, through the qtest protocol -------------------------- */

typedef struct QtestConn {
    QTestState *s;
    char *dir;
    char *sock;
    int lfd;
    int fd;
    FILE *in;
} QtestConn;

static void qtest_conn_start(QtestConn *c, const char *extra)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_autofree char *args = NULL;
    g_autofree char *boot = boot_drive();

    c->dir = g_dir_make_tmp("qmig-block-XXXXXX", NULL);
    c->sock = g_build_filename(c->dir, "qtest.sock", NULL);
    c->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    g_strlcpy(sa.sun_path, c->sock, sizeof(sa.sun_path));
    g_assert_cmpint(bind(c->lfd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_assert_cmpint(listen(c->lfd, 1), ==, 0);
    args = g_strdup_printf("-accel qtest -m 16M -qtest unix:%s %s %s",
                           c->sock, boot, extra);
    c->s = qtest_new();
    qtest_start(c->s, qtest_vmm_binary(), 1, args);
    c->fd = accept(c->lfd, NULL, NULL);
    g_assert_cmpint(c->fd, >=, 0);
    c->in = fdopen(dup(c->fd), "r");
}

static void qtest_conn_stop(QtestConn *c)
{
    fclose(c->in);
    close(c->fd);
    close(c->lfd);
    qtest_quit(c->s);
    unlink(c->sock);
    rmdir(c->dir);
    g_free(c->sock);
    g_free(c->dir);
}

/* One qtest request (printf-formatted), its reply line. */
static char *qreq(QtestConn *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static char *qreq(QtestConn *c, const char *fmt, ...)
{
    g_autofree char *req = NULL;
    char line[4096];
    va_list ap;

    va_start(ap, fmt);
    req = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_assert_cmpint(write(c->fd, req, strlen(req)), ==, (ssize_t)strlen(req));
    g_assert_nonnull(fgets(line, sizeof(line), c->in));
    g_strchomp(line);
    return g_strdup(line);
}

static void reg_write(QtestConn *c, unsigned reg, uint32_t val)
{
    g_autofree char *r = qreq(c, "outl 0x%x 0x%x\n", IOBASE + reg, val);

    g_assert_cmpstr(r, ==, "OK");
}

static uint32_t reg_read(QtestConn *c, unsigned reg)
{
    g_autofree char *r = qreq(c, "inl 0x%x\n", IOBASE + reg);

    g_assert_true(g_str_has_prefix(r, "OK "));
    return strtoul(r + 3, NULL, 0);
}

/* Run one command; returns the status register. */
static uint32_t disk_cmd(QtestConn *c, uint32_t cmd, uint32_t lba,
                         uint32_t count, uint32_t addr)
{
    reg_write(c, 0, lba);
    reg_write(c, 4, count);
    reg_write(c, 8, addr);
    reg_write(c, 12, cmd);
    return reg_read(c, 16);
}

static void test_device_io(void)
{
    QtestConn c;
    g_autofree char *dir = g_dir_make_tmp("qmig-img-XXXXXX", NULL);
    g_autofree char *img = g_build_filename(dir, "d.img", NULL);
    g_autofree char *ro = g_build_filename(dir, "ro.img", NULL);
    g_autofree char *extra = NULL;
    g_autofree char *r = NULL;
    uint8_t sector[1024];
    FILE *f;

    if (skip_qemu() || !qtest_guest_image("QTEST_GUEST_DISK")) {
        return;
    }
    make_image(img, DISK_BYTES + 300);      /* a partial last sector */
    make_image(ro, 4096);
    extra = g_strdup_printf("-drive file=%s,format=raw,if=none,id=d0 "
                            "-device qmig-disk,drive=d0,id=disk0 "
                            "-drive file=%s,format=raw,if=none,id=r0,"
                            "readonly=on "
                            "-device qmig-disk,drive=r0,iobase=0x600",
                            img, ro);
    qtest_conn_start(&c, extra);

    g_assert_cmpuint(reg_read(&c, 20), ==, DISK_BYTES / 512);
    g_assert_cmpuint(reg_read(&c, 16), ==, 0);

    /* RAM -> disk, two sectors at LBA 5. */
    r = qreq(&c, "memset 0x100000 512 0xab\n");
    g_clear_pointer(&r, g_free);
    r = qreq(&c, "memset 0x100200 512 0xcd\n");
    g_clear_pointer(&r, g_free);
    g_assert_cmpuint(disk_cmd(&c, 2, 5, 2, 0x100000), ==, 0);
    f = fopen(img, "rb");
    g_assert_nonnull(f);
    g_assert_cmpint(fseek(f, 5 * 512, SEEK_SET), ==, 0);
    g_assert_cmpuint(fread(sector, 1, 1024, f), ==, 1024);
    fclose(f);
    g_assert_cmphex(sector[0], ==, 0xab);
    g_assert_cmphex(sector[511], ==, 0xab);
    g_assert_cmphex(sector[512], ==, 0xcd);
    g_assert_cmphex(sector[1023], ==, 0xcd);

    /* Disk -> RAM elsewhere, and read back over the qtest protocol. */
    g_assert_cmpuint(disk_cmd(&c, 1, 6, 1, 0x300000), ==, 0);
    r = qreq(&c, "read 0x300000 4\n");
    g_assert_cmpstr(r, ==, "OK 0xcdcdcdcd");
    g_clear_pointer(&r, g_free);
    r = qreq(&c, "read 0x2ffffe 2\n");
    g_assert_cmpstr(r, ==, "OK 0x0000");
    g_clear_pointer(&r, g_free);

    /* The registers read back; the command register reads as zero. */
    g_assert_cmpuint(reg_read(&c, 0), ==, 6);
    g_assert_cmpuint(reg_read(&c, 4), ==, 1);
    g_assert_cmphex(reg_read(&c, 8), ==, 0x300000);
    g_assert_cmpuint(reg_read(&c, 12), ==, 0);

    /* Errors: status 1, and nothing changes on the disk or in RAM. */
    g_assert_cmpuint(disk_cmd(&c, 2, DISK_BYTES / 512 - 1, 2, 0x100000),
                     ==, 1);                        /* past the end */
    g_assert_cmpuint(disk_cmd(&c, 1, 0xffffffff, 1, 0x100000), ==, 1);
    g_assert_cmpuint(disk_cmd(&c, 7, 0, 1, 0x100000), ==, 1);   /* bad cmd */
    g_assert_cmpuint(disk_cmd(&c, 1, 0, 8193, 0x100000), ==, 1); /* too big */
    g_assert_cmpuint(disk_cmd(&c, 1, 5, 1, 0xfffffe00), ==, 1); /* not RAM */
    g_assert_cmpuint(disk_cmd(&c, 2, 5, 1, 0xfffffe00), ==, 1);
    /* Success clears the status again. */
    g_assert_cmpuint(disk_cmd(&c, 1, 0, 0, 0x100000), ==, 0);
    f = fopen(img, "rb");
    g_assert_cmpint(fseek(f, 5 * 512, SEEK_SET), ==, 0);
    g_assert_cmpuint(fread(sector, 1, 512, f), ==, 512);
    fclose(f);
    g_assert_cmphex(sector[0], ==, 0xab);

    /* The read-only drive reads but refuses writes. */
    reg_write(&c, 0x600 - IOBASE + 8, 0x100000);
    reg_write(&c, 0x600 - IOBASE + 4, 1);
    reg_write(&c, 0x600 - IOBASE + 12, 1);
    g_assert_cmpuint(reg_read(&c, 0x600 - IOBASE + 16), ==, 0);
    reg_write(&c, 0x600 - IOBASE + 12, 2);
    g_assert_cmpuint(reg_read(&c, 0x600 - IOBASE + 16), ==, 1);
    g_assert_cmpuint(reg_read(&c, 0x600 - IOBASE + 20), ==, 8);

    qtest_conn_stop(&c);
    unlink(img);
    unlink(ro);
    rmdir(dir);
}

static void expect_start_error(const char *args, const char *msg)
{
    QTestRun r;

    qtest_run_expect_exit(qtest_vmm_binary(), args, &r);
    g_assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1);
    if (!strstr(r.err, msg)) {
        g_error("expected '%s' in: %s", msg, r.err);
    }
    qtest_run_free(&r);
}

static void test_device_errors(void)
{
    g_autofree char *dir = g_dir_make_tmp("qmig-img-XXXXXX", NULL);
    g_autofree char *img = g_build_filename(dir, "d.img", NULL);
    g_autofree char *a = NULL, *b = NULL, *d = NULL, *e = NULL;
    g_autofree char *boot = boot_drive();

    if (skip_qemu() || !boot) {
        return;
    }
    make_image(img, 4096);
    expect_start_error("-accel qtest -display none -device qmig-disk",
                       "drive property not set");
    expect_start_error("-accel qtest -display none "
                       "-device qmig-disk,drive=nope",
                       "can't find value 'nope'");
    a = g_strdup_printf("-accel qtest -display none %s "
                        "-drive file=%s,format=raw,if=none,id=d0 "
                        "-device qmig-disk,drive=d0 "
                        "-device qmig-disk,drive=d0,iobase=0x600", boot, img);
    expect_start_error(a, "already in use");
    b = g_strdup_printf("-accel qtest -display none %s "
                        "-drive file=%s,format=raw,if=none,id=d0 "
                        "-device qmig-disk,drive=d0,bogus=1", boot, img);
    expect_start_error(b, "Property 'qmig-disk.bogus' not found");
    d = g_strdup_printf("-accel qtest -display none %s "
                        "-drive file=%s,format=raw,if=none,id=d0 "
                        "-device qmig-disk,drive=d0,iobase=0x3f0", boot, img);
    expect_start_error(d, "already used by");
    e = g_strdup_printf("-accel qtest -display none %s "
                        "-drive file=%s,format=raw,if=none,id=d0 "
                        "-device qmig-disk,drive=d0,iobase=0xfff0", boot, img);
    expect_start_error(e, "does not fit");
    unlink(img);
    rmdir(dir);
}

/* ---- QMP --------------------------------------------------------------- */

static QTestState *start_two_drives(char **img)
{
    QTestState *s = qtest_new();
    g_autofree char *args = NULL;
    g_autofree char *boot = boot_drive();

    *img = g_strdup(qtest_path(s, "data.img"));
    make_image(*img, DISK_BYTES);
    args = g_strdup_printf("-accel qtest -m 16M %s "
                           "-drive file=%s,format=raw,if=none,id=d0 "
                           "-device qmig-disk,drive=d0,id=disk0 "
                           "-drive file=%s,format=raw,if=none,id=spare,"
                           "readonly=on -serial file:%s",
                           boot, *img, *img, qtest_serial_path(s));
    qtest_start(s, qtest_vmm_binary(), 1, args);
    return s;
}

/* @rsp: query-block's return value. */
static JsonObject *block_info(JsonNode *rsp, const char *dev)
{
    JsonArray *arr = json_node_get_array(rsp);

    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonObject *o = json_array_get_object_element(arr, i);

        if (!strcmp(json_object_get_string_member(o, "device"), dev)) {
            return o;
        }
    }
    g_error("device %s not in query-block", dev);
}

static void test_query_block(void)
{
    g_autofree char *img = NULL;
    g_autofree char *hmp = NULL;
    QTestState *s;
    JsonNode *rsp;
    JsonObject *d0, *spare, *ins, *image;

    if (skip_qemu() || !qtest_guest_image("QTEST_GUEST_DISK")) {
        return;
    }
    s = start_two_drives(&img);
    rsp = qtest_qmp_assert_success_ref(s, "{'execute': 'query-block'}");
    g_assert_cmpuint(json_array_get_length(json_node_get_array(rsp)), ==, 3);
    d0 = block_info(rsp, "d0");
    g_assert_cmpstr(json_object_get_string_member(d0, "qdev"), ==, "disk0");
    ins = json_object_get_object_member(d0, "inserted");
    g_assert_cmpstr(json_object_get_string_member(ins, "file"), ==, img);
    g_assert_cmpstr(json_object_get_string_member(ins, "drv"), ==, "raw");
    g_assert_false(json_object_get_boolean_member(ins, "ro"));
    image = json_object_get_object_member(ins, "image");
    g_assert_cmpint(json_object_get_int_member(image, "virtual-size"), ==,
                    DISK_BYTES);
    g_assert_cmpuint(json_array_get_length(
        json_object_get_array_member(ins, "dirty-bitmaps")), ==, 0);
    spare = block_info(rsp, "spare");
    g_assert_false(json_object_has_member(spare, "qdev"));
    g_assert_true(json_object_get_boolean_member(
        json_object_get_object_member(spare, "inserted"), "ro"));
    json_node_unref(rsp);

    hmp = qtest_hmp(s, "info block");
    g_assert_nonnull(strstr(hmp, "d0: "));
    g_assert_nonnull(strstr(hmp, "Attached to:      disk0"));
    g_assert_nonnull(strstr(hmp, "spare: "));
    g_assert_nonnull(strstr(hmp, "read-only"));
    qtest_quit(s);
}

static void assert_qmp_error(QTestState *s, const char *cmd,
                             const char *want)
{
    JsonNode *rsp = qtest_qmp(s, "%s", cmd);

    g_assert_true(qmp_rsp_is_error(rsp));
    if (!strstr(qmp_rsp_error_desc(rsp), want)) {
        g_error("%s: expected '%s', got '%s'", cmd, want,
                qmp_rsp_error_desc(rsp));
    }
    json_node_unref(rsp);
}

/* The "count" of bitmap @name on d0. */
static int64_t bitmap_count(QTestState *s, const char *name, bool *recording)
{
    JsonNode *rsp = qtest_qmp_assert_success_ref(s,
                                                 "{'execute': 'query-block'}");
    JsonObject *ins = json_object_get_object_member(block_info(rsp, "d0"),
                                                    "inserted");
    JsonArray *bms = json_object_get_array_member(ins, "dirty-bitmaps");
    int64_t count = -1;

    for (guint i = 0; i < json_array_get_length(bms); i++) {
        JsonObject *bm = json_array_get_object_element(bms, i);

        if (!strcmp(json_object_get_string_member(bm, "name"), name)) {
            count = json_object_get_int_member(bm, "count");
            if (recording) {
                *recording = json_object_get_boolean_member(bm, "recording");
            }
        }
    }
    json_node_unref(rsp);
    return count;
}

static char *bitmap_sha(QTestState *s, const char *name)
{
    JsonNode *rsp = qtest_qmp_assert_success_ref(s,
        "{'execute': 'x-debug-block-dirty-bitmap-sha256', 'arguments': "
        "{'node': 'd0', 'name': '%s'}}", name);
    char *sha = g_strdup(json_object_get_string_member(
        json_node_get_object(rsp), "sha256"));

    json_node_unref(rsp);
    return sha;
}

/* Bitmap contents under writes are exercised with the disk guest below. */
static void test_bitmap_commands(void)
{
    g_autofree char *img = NULL;
    g_autofree char *sha_empty = NULL;
    g_autofree char *long_name = g_strnfill(1024, 'n');
    g_autofree char *cmd = NULL;
    bool recording = false;
    QTestState *s;

    if (skip_qemu() || !qtest_guest_image("QTEST_GUEST_DISK")) {
        return;
    }
    s = start_two_drives(&img);
    qtest_qmp_assert_success(s, "{'execute': 'block-dirty-bitmap-add', "
                             "'arguments': {'node': 'd0', 'name': 'b0'}}");
    qtest_qmp_assert_success(s, "{'execute': 'block-dirty-bitmap-add', "
                             "'arguments': {'node': 'd0', 'name': 'b1', "
                             "'granularity': 512, 'persistent': true, "
                             "'disabled': true}}");
    g_assert_cmpint(bitmap_count(s, "b0", &recording), ==, 0);
    g_assert_true(recording);
    g_assert_cmpint(bitmap_count(s, "b1", &recording), ==, 0);
    g_assert_false(recording);

    /* Bad input: each refused with QEMU's message. */
    assert_qmp_error(s, "{'execute': 'block-dirty-bitmap-add', 'arguments': "
                     "{'node': 'nope', 'name': 'x'}}",
                     "Cannot find device='nope' nor node-name='nope'");
    assert_qmp_error(s, "{'execute': 'block-dirty-bitmap-add', 'arguments': "
                     "{'node': 'd0', 'name': 'b0'}}",
                     "Bitmap already exists: b0");
    assert_qmp_error(s, "{'execute': 'block-dirty-bitmap-add', 'arguments': "
                     "{'node': 'd0', 'name': 'x', 'granularity': 1000}}",
                     "Granularity must be power of 2, and at least 512");
    assert_qmp_error(s, "{'execute': 'block-dirty-bitmap-add', 'arguments': "
                     "{'node': 'd0', 'name': 'x', 'granularity': 256}}",
                     "Granularity must be power of 2");
    assert_qmp_error(s, "{'execute': 'block-dirty-bitmap-add', 'arguments': "
                     "{'node': 'd0', 'name': 'x', 'granularity': -4096}}",
                     "Granularity must be power of 2");
    assert_qmp_error(s, "{'execute': 'block-dirty-bitmap-add', 'arguments': "
                     "{'node': 'd0', 'name': ''}}",
                     "Bitmap name cannot be empty");
    cmd = g_strdup_printf("{'execute': 'block-dirty-bitmap-add', "
                          "'arguments': {'node': 'd0', 'name': '%s'}}",
                          long_name);
    assert_qmp_error(s, cmd, "Bitmap name is too long");
    assert_qmp_error(s, "{'execute': 'block-dirty-bitmap-add', 'arguments': "
                     "{'node': 'd0'}}", "name");
    assert_qmp_error(s, "{'execute': 'block-dirty-bitmap-remove', "
                     "'arguments': {'node': 'd0', 'name': 'zz'}}",
                     "Dirty bitmap 'zz' not found");
    assert_qmp_error(s, "{'execute': 'block-dirty-bitmap-clear', "
                     "'arguments': {'node': 'd1', 'name': 'b0'}}",
                     "Cannot find device='d1'");
    assert_qmp_error(s, "{'execute': 'x-debug-block-dirty-bitmap-sha256', "
                     "'arguments': {'node': 'd0', 'name': 'zz'}}",
                     "Dirty bitmap 'zz' not found");

    /* enable/disable flip "recording"; sha256 of equal empty bitmaps. */
    qtest_qmp_assert_success(s, "{'execute': 'block-dirty-bitmap-enable', "
                             "'arguments': {'node': 'd0', 'name': 'b1'}}");
    bitmap_count(s, "b1", &recording);
    g_assert_true(recording);
    qtest_qmp_assert_success(s, "{'execute': 'block-dirty-bitmap-disable', "
                             "'arguments': {'node': 'd0', 'name': 'b0'}}");
    bitmap_count(s, "b0", &recording);
    g_assert_false(recording);
    sha_empty = bitmap_sha(s, "b0");
    g_assert_cmpuint(strlen(sha_empty), ==, 64);

    qtest_qmp_assert_success(s, "{'execute': 'block-dirty-bitmap-clear', "
                             "'arguments': {'node': 'd0', 'name': 'b0'}}");
    qtest_qmp_assert_success(s, "{'execute': 'block-dirty-bitmap-remove', "
                             "'arguments': {'node': 'd0', 'name': 'b0'}}");
    g_assert_cmpint(bitmap_count(s, "b0", NULL), ==, -1);
    /* The name is free again. */
    qtest_qmp_assert_success(s, "{'execute': 'block-dirty-bitmap-add', "
                             "'arguments': {'node': 'd0', 'name': 'b0'}}");
    qtest_quit(s);
}

/* ---- the disk guest ---------------------------------------------------- */

static QTestState *start_disk_guest(const char *guest, char **img)
{
    QTestState *s = qtest_new();
    g_autofree char *args = NULL;

    *img = g_strdup(qtest_path(s, "data.img"));
    make_image(*img, DISK_BYTES);
    args = g_strdup_printf("-accel %s -m 150M "
                           "-drive file=%s,format=raw,snapshot=on "
                           "-drive file=%s,format=raw,if=none,id=d0 "
                           "-device qmig-disk,drive=d0 -serial file:%s",
                           qtest_accel(), guest, *img, qtest_serial_path(s));
    qtest_start(s, qtest_vmm_binary(), 1, args);
    return s;
}

static void test_disk_guest(void)
{
    const char *guest = qtest_guest_image("QTEST_GUEST_DISK");
    g_autofree char *img = NULL;
    g_autofree char *dump = NULL;
    g_autofree char *why = NULL;
    g_autofree char *sha1 = NULL, *sha2 = NULL;
    DiskCheckInfo info;
    QTestState *s;
    int64_t count;

    if (!guest || skip_qemu()) {
        return;
    }
    if (qtest_skip_without_accel()) {
        return;
    }
    s = start_disk_guest(guest, &img);
    g_assert_true(qtest_wait_serial(s, qtest_serial_path(s), 'D', 1,
                                    qtest_timeout_s()));
    qtest_qmp_assert_success(s, "{'execute': 'block-dirty-bitmap-add', "
                             "'arguments': {'node': 'd0', 'name': 'track', "
                             "'granularity': 65536}}");
    qtest_qmp_assert_success(s, "{'execute': 'block-dirty-bitmap-add', "
                             "'arguments': {'node': 'd0', 'name': 'off', "
                             "'disabled': true}}");
    /* Two more passes: every sector the guest writes was written since. */
    g_assert_true(qtest_wait_serial(s, qtest_serial_path(s), 'D', 3,
                                    qtest_timeout_s()));
    qtest_qmp_assert_success(s, "{'execute': 'stop'}");
    g_assert_cmpuint(qtest_file_count_char(qtest_serial_path(s), 'E'), ==, 0);

    /* The guest writes the first 4 MiB of the 8 MiB disk, nothing else. */
    count = bitmap_count(s, "track", NULL);
    g_assert_cmpint(count, ==, DISK_CHECK_MAX_SECTORS * 512);
    g_assert_cmpint(bitmap_count(s, "off", NULL), ==, 0);
    sha1 = bitmap_sha(s, "track");
    sha2 = bitmap_sha(s, "off");
    g_assert_cmpstr(sha1, !=, sha2);

    /* The stopped image holds the disk invariant, two passes or more. */
    if (!disk_check_file(img, &info, &why)) {
        g_error("disk invariant broken: %s", why);
    }
    g_assert_cmpuint(info.sectors, ==, DISK_CHECK_MAX_SECTORS);
    g_assert_cmpuint(info.gen, >=, 3);

    /* ...and the RAM the stamp invariant. */
    dump = g_strdup(qtest_path(s, "ram.bin"));
    qtest_qmp_assert_success(s, "{'execute': 'pmemsave', 'arguments': "
                             "{'val': %llu, 'size': %llu, 'filename': '%s'}}",
                             STAMP_START, STAMP_END - STAMP_START, dump);
    g_clear_pointer(&why, g_free);
    if (!stamp_check_file(dump, STAMP_START, &why)) {
        g_error("stamp invariant broken: %s", why);
    }
    qtest_quit(s);
}

/* The checker itself: it must catch what it exists to catch. */
static void test_disk_check(void)
{
    const size_t n = DISK_CHECK_MAX_SECTORS;
    g_autofree uint8_t *buf = g_malloc0(n * 512 + 4096);
    g_autofree char *why = NULL;
    DiskCheckInfo info;

    /* All zeros: a fresh image is valid (gen 0 everywhere). */
    g_assert_true(disk_check_buf(buf, n * 512, &info, NULL));
    g_assert_cmpuint(info.gen, ==, 0);

    /* Pass 5 written up to sector 100, pass 4 after. */
    for (size_t s = 0; s < n; s++) {
        uint32_t gen = s < 100 ? 5 : 4;
        uint8_t *sec = buf + s * 512;

        for (int i = 0; i < 512; i += 4) {
            uint32_t w = i == 0 ? gen : i == 4 ? (uint32_t)s
                         : disk_check_filler(gen, s);

            sec[i] = w;
            sec[i + 1] = w >> 8;
            sec[i + 2] = w >> 16;
            sec[i + 3] = w >> 24;
        }
    }
    g_assert_true(disk_check_buf(buf, n * 512 + 4096, &info, NULL));
    g_assert_cmpuint(info.gen, ==, 5);
    g_assert_cmpuint(info.boundary, ==, 100);
    g_assert_cmpuint(info.sectors, ==, n);

    /* A stale sector (an older pass) after the step: a second step. */
    buf[300 * 512] = 3;
    g_assert_false(disk_check_buf(buf, n * 512, NULL, &why));
    g_assert_nonnull(strstr(why, "sector 300"));
    g_clear_pointer(&why, g_free);
    buf[300 * 512] = 4;
    /* A torn sector. */
    buf[20 * 512 + 300] ^= 1;
    g_assert_false(disk_check_buf(buf, n * 512, NULL, &why));
    g_assert_nonnull(strstr(why, "sector 20"));
    g_clear_pointer(&why, g_free);
    buf[20 * 512 + 300] ^= 1;
    /* A sector in the wrong place. */
    memcpy(buf + 40 * 512, buf + 41 * 512, 512);
    g_assert_false(disk_check_buf(buf, n * 512, NULL, &why));
    g_assert_nonnull(strstr(why, "sector 40"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/block/disk-check", test_disk_check);
    g_test_add_func("/block/device/io", test_device_io);
    g_test_add_func("/block/device/errors", test_device_errors);
    g_test_add_func("/block/query-block", test_query_block);
    g_test_add_func("/block/bitmap/commands", test_bitmap_commands);
    g_test_add_func("/block/disk-guest", test_disk_guest);
    return g_test_run();
}
