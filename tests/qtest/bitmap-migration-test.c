/*
 * Dirty bitmap migration qtests: bitmaps of two granularities (one
 * persistent, one disabled) on a qmig-disk, written before and during a
 * migration with the dirty-bitmaps capability; the destination must end
 * with the same bitmaps (x-debug-block-dirty-bitmap-sha256, granularity,
 * persistent, recording via query-block).  Plus block-bitmap-mapping
 * renames, the refusals (bad bitmap names, bad mappings, a bitmap that
 * already exists on the destination).
 *
 * Disk writes come from the test itself through the qtest protocol
 * (-qtest next to the run's -accel): outl to the qmig-disk registers
 * copies guest RAM to the disk at exactly the sectors a case chooses, at
 * exactly the moment it chooses (e.g. while the migration is active), so
 * the expected dirty counts are known.  The stamp guest runs meanwhile.
 *
 * qmig only: QEMU has no qmig-disk.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "migration-helpers.h"

#define DISK_SIZE   (16 << 20)
#define DISK_IOBASE 0x510
/* Guest RAM the device copies from: below the stamp guest's 1 MiB. */
#define DISK_BUF    0x80000
#define SLOW_BW     (4ULL << 20)

/* One VM with a qmig-disk "disk0" and a qtest channel to drive it. */
typedef struct DiskVM {
    QTestState *qts;
    char *dir;          /* holds the image and the qtest socket */
    int qfd;
    FILE *qin;
} DiskVM;

static bool skip_unless_qmig(void)
{
    if (mig_skip_without_accel_or_guest()) {
        return true;
    }
    if (mig_is_qemu()) {
        g_test_skip("qmig-disk is qmig's device: skipped under QEMU");
        return true;
    }
    return false;
}

/*
 * Start a stamp VM with a sparse 16 MiB disk0 and a qtest channel;
 * @incoming NULL for a source, else the destination's -incoming.
 */
static DiskVM *disk_vm_start_args(const char *incoming, const char *more)
{
    DiskVM *vm = g_new0(DiskVM, 1);
    g_autofree char *img = NULL;
    g_autofree char *sock = NULL;
    g_autofree char *extra = NULL;
    int lfd;
    FILE *f;

    vm->dir = g_dir_make_tmp("qmig-bitmap-XXXXXX", NULL);
    img = g_build_filename(vm->dir, "disk.img", NULL);
    sock = g_build_filename(vm->dir, "qtest.sock", NULL);
    f = fopen(img, "w");
    g_assert_nonnull(f);
    g_assert_cmpint(ftruncate(fileno(f), DISK_SIZE), ==, 0);
    fclose(f);
    lfd = qtest_unix_listen(sock);
    extra = g_strdup_printf("-drive file=%s,format=raw,if=none,id=disk0 "
                            "-device qmig-disk,drive=disk0 -qtest unix:%s %s",
                            img, sock, more ? more : "");
    vm->qts = incoming ? mig_start_dest(incoming, extra)
                       : mig_start_source(extra);
    vm->qfd = accept(lfd, NULL, NULL);
    g_assert_cmpint(vm->qfd, >=, 0);
    close(lfd);
    vm->qin = fdopen(dup(vm->qfd), "r");
    return vm;
}

static DiskVM *disk_vm_start(const char *incoming)
{
    return disk_vm_start_args(incoming, NULL);
}

static void disk_vm_quit(DiskVM *vm)
{
    g_autofree char *img = g_build_filename(vm->dir, "disk.img", NULL);
    g_autofree char *sock = g_build_filename(vm->dir, "qtest.sock", NULL);

    mig_quit_clean(vm->qts);
    fclose(vm->qin);
    close(vm->qfd);
    g_unlink(img);
    g_unlink(sock);
    g_rmdir(vm->dir);
    g_free(vm->dir);
    g_free(vm);
}

/* One qtest request; the reply must start with @want.  Returns it. */
static char *qtest_req(DiskVM *vm, const char *want, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static char *qtest_req(DiskVM *vm, const char *want, const char *fmt, ...)
{
    g_autofree char *req = NULL;
    char line[256];
    va_list ap;

    va_start(ap, fmt);
    req = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_assert_cmpint(write(vm->qfd, req, strlen(req)), ==, strlen(req));
    g_assert_nonnull(fgets(line, sizeof(line), vm->qin));
    if (!g_str_has_prefix(line, want)) {
        g_error("qtest '%s' answered '%s', expected '%s'", req, line, want);
    }
    return g_strdup(line);
}

/* The guest's disk write of @count sectors at @lba (RAM -> disk). */
static void disk_write(DiskVM *vm, uint32_t lba, uint32_t count)
{
    g_autofree char *status = NULL;

    g_free(qtest_req(vm, "OK", "outl 0x%x 0x%x\n", DISK_IOBASE, lba));
    g_free(qtest_req(vm, "OK", "outl 0x%x 0x%x\n", DISK_IOBASE + 4, count));
    g_free(qtest_req(vm, "OK", "outl 0x%x 0x%x\n", DISK_IOBASE + 8,
                     DISK_BUF));
    g_free(qtest_req(vm, "OK", "outl 0x%x 0x2\n", DISK_IOBASE + 12));
    status = qtest_req(vm, "OK 0x", "inl 0x%x\n", DISK_IOBASE + 16);
    /* The status register: 0 when the write went through. */
    g_assert_cmpuint(g_ascii_strtoull(status + 3, NULL, 16), ==, 0);
}

static void bitmap_add(QTestState *s, const char *name, int granularity,
                       bool persistent)
{
    qtest_qmp_assert_success(s, "{'execute': 'block-dirty-bitmap-add', "
                             "'arguments': {'node': 'disk0', 'name': '%s', "
                             "'granularity': %d, 'persistent': %s}}",
                             name, granularity,
                             persistent ? "true" : "false");
}

static char *bitmap_sha(QTestState *s, const char *name)
{
    g_autoptr(JsonNode) rsp = qtest_qmp_assert_success_ref(s,
        "{'execute': 'x-debug-block-dirty-bitmap-sha256', "
        "'arguments': {'node': 'disk0', 'name': '%s'}}", name);
    JsonObject *ret = json_node_get_object(rsp);

    return g_strdup(json_object_get_string_member(ret, "sha256"));
}

/* query-block's entry for bitmap @name of disk0 (a copy), or NULL. */
static JsonObject *bitmap_info(QTestState *s, const char *name)
{
    g_autoptr(JsonNode) rsp = qtest_qmp_assert_success_ref(s,
        "{'execute': 'query-block'}");
    JsonArray *devs = json_node_get_array(rsp);

    for (guint i = 0; i < json_array_get_length(devs); i++) {
        JsonObject *dev = json_array_get_object_element(devs, i);
        JsonObject *ins;
        JsonArray *bms;

        if (strcmp(json_object_get_string_member(dev, "device"), "disk0")) {
            continue;
        }
        ins = json_object_get_object_member(dev, "inserted");
        bms = json_object_get_array_member(ins, "dirty-bitmaps");
        for (guint j = 0; j < json_array_get_length(bms); j++) {
            JsonObject *bm = json_array_get_object_element(bms, j);

            if (!strcmp(json_object_get_string_member(bm, "name"), name)) {
                return json_object_ref(bm);
            }
        }
    }
    return NULL;
}

static int64_t bitmap_count(QTestState *s, const char *name)
{
    g_autoptr(JsonObject) bm = bitmap_info(s, name);

    g_assert_nonnull(bm);
    return json_object_get_int_member(bm, "count");
}

/*
 * @dst_name on @dst is @src_name of @src: same bits (sha256 and count),
 * granularity and recording; persistent as @persistent.
 */
static void assert_same_bitmap(QTestState *src, const char *src_name,
                               QTestState *dst, const char *dst_name,
                               bool persistent)
{
    g_autoptr(JsonObject) a = bitmap_info(src, src_name);
    g_autoptr(JsonObject) b = bitmap_info(dst, dst_name);
    g_autofree char *sha_a = bitmap_sha(src, src_name);
    g_autofree char *sha_b = bitmap_sha(dst, dst_name);

    g_assert_nonnull(a);
    if (!b) {
        g_error("bitmap '%s' missing on the destination", dst_name);
    }
    g_assert_cmpstr(sha_a, ==, sha_b);
    g_assert_cmpint(json_object_get_int_member(a, "count"), ==,
                    json_object_get_int_member(b, "count"));
    g_assert_cmpint(json_object_get_int_member(a, "granularity"), ==,
                    json_object_get_int_member(b, "granularity"));
    g_assert_cmpint(json_object_get_boolean_member(a, "recording"), ==,
                    json_object_get_boolean_member(b, "recording"));
    g_assert_cmpint(json_object_get_boolean_member(b, "persistent"), ==,
                    persistent);
    g_assert_false(json_object_get_boolean_member(b, "busy"));
}

static char *mig_uri(DiskVM *vm)
{
    return g_strdup_printf("unix:%s/mig.sock", vm->dir);
}

/* ---- cases ---------------------------------------------------------------- */

/*
 * Bitmaps of 64 KiB (persistent) and 512 B granularity and a disabled
 * one; writes before and during the migration.  The 512 B bitmap's
 * count proves the write made while the migration ran reached the
 * destination.
 */
/* The guest itself moved intact: stamp invariant and continuity. */
static void check_guest_moved(DiskVM *src, DiskVM *dst)
{
    g_autoptr(GBytes) src_mem = mig_stamp_memory(src->qts);

    mig_check_dest(dst->qts, src_mem, true);
}

static void test_bitmaps_migrate(void)
{
    static const char *const active[] = { "active", NULL };
    DiskVM *src, *dst;
    g_autofree char *uri = NULL;
    g_autofree char *st = NULL;
    g_autoptr(JsonNode) rsp = NULL;
    g_autoptr(JsonObject) busy = NULL;

    if (skip_unless_qmig()) {
        return;
    }
    src = disk_vm_start(NULL);
    uri = mig_uri(src);
    dst = disk_vm_start(uri);
    bitmap_add(src->qts, "b64k", 65536, true);
    bitmap_add(src->qts, "b512", 512, false);
    bitmap_add(src->qts, "off", 4096, false);
    disk_write(src, 0, 8);
    disk_write(src, 2048 + 3, 1);
    qtest_qmp_assert_success(src->qts, "{'execute': "
                             "'block-dirty-bitmap-disable', 'arguments': "
                             "{'node': 'disk0', 'name': 'off'}}");
    disk_write(src, 8192, 16);
    g_assert_cmpint(bitmap_count(src->qts, "b512"), ==, 25 * 512);
    g_assert_cmpint(bitmap_count(src->qts, "off"), ==, 2 * 4096);

    mig_set_capability(src->qts, "dirty-bitmaps", true);
    mig_set_capability(dst->qts, "dirty-bitmaps", true);
    mig_set_parameter(src->qts, "max-bandwidth", SLOW_BW);
    mig_migrate(src->qts, uri);
    st = mig_wait_status(src->qts, active);

    /* While it runs: the guest writes, and the bitmaps are busy. */
    disk_write(src, 20000, 3);
    busy = bitmap_info(src->qts, "b64k");
    g_assert_true(json_object_get_boolean_member(busy, "busy"));
    rsp = qtest_qmp(src->qts, "{'execute': 'block-dirty-bitmap-remove', "
                    "'arguments': {'node': 'disk0', 'name': 'b512'}}");
    g_assert_true(qmp_rsp_is_error(rsp));
    g_assert_nonnull(strstr(qmp_rsp_error_desc(rsp), "in use"));

    mig_set_unlimited(src->qts);
    mig_wait_completed(src->qts);
    mig_wait_running(dst->qts);

    g_assert_cmpint(bitmap_count(dst->qts, "b512"), ==, 28 * 512);
    assert_same_bitmap(src->qts, "b64k", dst->qts, "b64k", true);
    assert_same_bitmap(src->qts, "b512", dst->qts, "b512", false);
    assert_same_bitmap(src->qts, "off", dst->qts, "off", false);
    check_guest_moved(src, dst);
    /* The source's bitmaps are free again. */
    g_clear_pointer(&busy, json_object_unref);
    busy = bitmap_info(src->qts, "b64k");
    g_assert_false(json_object_get_boolean_member(busy, "busy"));

    /* On the destination they record the guest's writes, "off" does not. */
    disk_write(dst, 30000, 1);
    g_assert_cmpint(bitmap_count(dst->qts, "b512"), ==, 29 * 512);
    g_assert_cmpint(bitmap_count(dst->qts, "off"), ==, 2 * 4096);
    disk_vm_quit(src);
    disk_vm_quit(dst);
}

/* block-bitmap-mapping renames on the wire and on the destination. */
static void test_mapping_migrate(void)
{
    DiskVM *src, *dst;
    g_autofree char *uri = NULL;
    g_autoptr(JsonNode) rsp = NULL;
    JsonArray *arr;

    if (skip_unless_qmig()) {
        return;
    }
    src = disk_vm_start(NULL);
    uri = mig_uri(src);
    dst = disk_vm_start(uri);
    bitmap_add(src->qts, "backup", 65536, false);
    bitmap_add(src->qts, "unmapped", 65536, false);
    disk_write(src, 100, 64);
    disk_write(src, 5000, 8);
    qtest_qmp_assert_success(src->qts, "{'execute': 'migrate-set-parameters',"
        " 'arguments': {'block-bitmap-mapping': [{'node-name': 'disk0', "
        "'alias': 'n1', 'bitmaps': [{'name': 'backup', 'alias': 'b1'}]}]}}");
    qtest_qmp_assert_success(dst->qts, "{'execute': 'migrate-set-parameters',"
        " 'arguments': {'block-bitmap-mapping': [{'node-name': 'disk0', "
        "'alias': 'n1', 'bitmaps': [{'name': 'restored', 'alias': 'b1', "
        "'transform': {'persistent': true}}]}]}}");
    rsp = qtest_qmp_assert_success_ref(dst->qts,
        "{'execute': 'query-migrate-parameters'}");
    arr = json_object_get_array_member(json_node_get_object(rsp),
                                       "block-bitmap-mapping");
    g_assert_nonnull(arr);
    g_assert_cmpint(json_array_get_length(arr), ==, 1);

    mig_set_capability(src->qts, "dirty-bitmaps", true);
    mig_set_unlimited(src->qts);
    mig_migrate(src->qts, uri);
    mig_wait_completed(src->qts);
    mig_wait_running(dst->qts);
    assert_same_bitmap(src->qts, "backup", dst->qts, "restored", true);
    /* Unmapped bitmaps stay behind, as in QEMU. */
    g_assert_null(bitmap_info(dst->qts, "unmapped"));
    g_assert_null(bitmap_info(dst->qts, "backup"));
    check_guest_moved(src, dst);
    disk_vm_quit(src);
    disk_vm_quit(dst);
}

/* A bitmap of the same name on the destination fails the migration. */
static void test_dest_bitmap_exists(void)
{
    static const char *const failed[] = { "failed", NULL };
    DiskVM *src, *dst;
    g_autofree char *uri = NULL;
    g_autofree char *st = NULL;
    g_autofree char *dst_st = NULL;
    g_autofree char *err = NULL;
    bool running;

    if (skip_unless_qmig()) {
        return;
    }
    src = disk_vm_start(NULL);
    uri = mig_uri(src);
    dst = disk_vm_start("defer");
    bitmap_add(src->qts, "b", 65536, false);
    bitmap_add(dst->qts, "b", 65536, false);
    mig_incoming(dst->qts, uri, true);
    mig_set_capability(src->qts, "dirty-bitmaps", true);
    mig_set_unlimited(src->qts);
    mig_migrate(src->qts, uri);
    st = mig_wait_status(src->qts, failed);
    dst_st = mig_wait_status(dst->qts, failed);
    err = qtest_stderr(dst->qts);
    g_assert_nonnull(strstr(err, "Bitmap with the same name ('b') already "
                            "exists on destination"));
    g_free(qtest_query_status(dst->qts, &running));
    g_assert_false(running);
    /* The source keeps its guest and its bitmap, no longer busy. */
    mig_assert_running(src->qts);
    qtest_qmp_assert_success(src->qts, "{'execute': "
                             "'block-dirty-bitmap-remove', 'arguments': "
                             "{'node': 'disk0', 'name': 'b'}}");
    disk_vm_quit(src);
    disk_vm_quit(dst);
}

/* A name QEMU cannot put on the wire fails setup, leaving things intact. */
static void test_long_name_refused(void)
{
    static const char *const failed[] = { "failed", NULL };
    DiskVM *src;
    g_autofree char *name = g_strnfill(300, 'x');
    g_autofree char *path = NULL;
    g_autofree char *st = NULL;
    g_autoptr(JsonNode) info = NULL;
    JsonObject *o;

    if (skip_unless_qmig()) {
        return;
    }
    src = disk_vm_start(NULL);
    path = g_build_filename(src->dir, "stream.bin", NULL);
    bitmap_add(src->qts, name, 65536, false);
    mig_set_capability(src->qts, "dirty-bitmaps", true);
    qtest_qmp_assert_success(src->qts, "{'execute': 'migrate', 'arguments': "
                             "{'uri': 'file:%s'}}", path);
    st = mig_wait_status(src->qts, failed);
    info = mig_query(src->qts);
    o = json_node_get_object(info);
    g_assert_nonnull(strstr(json_object_get_string_member(o, "error-desc"),
                            "Name is longer than 255 bytes"));
    mig_assert_running(src->qts);
    qtest_qmp_assert_success(src->qts, "{'execute': "
                             "'block-dirty-bitmap-remove', 'arguments': "
                             "{'node': 'disk0', 'name': '%s'}}", name);
    g_unlink(path);
    disk_vm_quit(src);
}

static void assert_error(QTestState *s, const char *want, const char *fmt,
                         ...) G_GNUC_PRINTF(3, 4);

static void assert_error(QTestState *s, const char *want, const char *fmt,
                         ...)
{
    g_autofree char *cmd = NULL;
    g_autoptr(JsonNode) rsp = NULL;
    va_list ap;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    rsp = qtest_qmp(s, "%s", cmd);
    if (!qmp_rsp_is_error(rsp)) {
        g_error("'%s' succeeded, expected '%s'", cmd, want);
    }
    g_assert_cmpstr(qmp_rsp_error_desc(rsp), ==, want);
}

static void set_mapping_refused(QTestState *s, const char *mapping,
                                const char *want)
{
    assert_error(s, want, "{'execute': 'migrate-set-parameters', "
                 "'arguments': {'block-bitmap-mapping': %s}}", mapping);
}

/* Bad bitmap names and bad block-bitmap-mapping values are refused. */
static void test_bad_names(void)
{
    g_autofree char *n1023 = g_strnfill(1023, 'n');
    g_autofree char *n1024 = g_strnfill(1024, 'n');
    g_autofree char *long_map = NULL;
    g_autofree char *long_err = NULL;
    DiskVM *vm;

    if (skip_unless_qmig()) {
        return;
    }
    vm = disk_vm_start(NULL);
    assert_error(vm->qts, "Bitmap name cannot be empty",
                 "{'execute': 'block-dirty-bitmap-add', 'arguments': "
                 "{'node': 'disk0', 'name': ''}}");
    bitmap_add(vm->qts, "dup", 65536, false);
    assert_error(vm->qts, "Bitmap already exists: dup",
                 "{'execute': 'block-dirty-bitmap-add', 'arguments': "
                 "{'node': 'disk0', 'name': 'dup'}}");
    bitmap_add(vm->qts, n1023, 65536, false);
    assert_error(vm->qts, "Bitmap name is too long",
                 "{'execute': 'block-dirty-bitmap-add', 'arguments': "
                 "{'node': 'disk0', 'name': '%s'}}", n1024);

    set_mapping_refused(vm->qts, "[{'node-name': 'nosuch', 'alias': 'a', "
                        "'bitmaps': []}]",
                        "Cannot find device=nosuch nor node-name=nosuch");
    set_mapping_refused(vm->qts, "[{'node-name': 'disk0', 'alias': 'a', "
                        "'bitmaps': []}, {'node-name': 'drive0', "
                        "'alias': 'a', 'bitmaps': []}]",
                        "The node alias 'a' is used twice");
    set_mapping_refused(vm->qts, "[{'node-name': 'disk0', 'alias': 'a', "
                        "'bitmaps': []}, {'node-name': 'disk0', "
                        "'alias': 'b', 'bitmaps': []}]",
                        "The node name 'disk0' is mapped twice");
    set_mapping_refused(vm->qts, "[{'node-name': 'disk0', 'alias': 'a', "
                        "'bitmaps': [{'name': 'x', 'alias': 'y'}, "
                        "{'name': 'z', 'alias': 'y'}]}]",
                        "The bitmap alias 'a'/'y' is used twice");
    set_mapping_refused(vm->qts, "[{'node-name': 'disk0', 'alias': 'a', "
                        "'bitmaps': [{'name': 'x', 'alias': 'y'}, "
                        "{'name': 'x', 'alias': 'z'}]}]",
                        "The bitmap 'disk0'/'x' is mapped twice");
    set_mapping_refused(vm->qts, "[{'node-name': 'disk0', 'alias': '1a', "
                        "'bitmaps': []}]",
                        "The node alias '1a' is not well-formed");
    set_mapping_refused(vm->qts, "[{'node-name': 'disk0', 'bitmaps': []}]",
                        "Parameter 'block-bitmap-mapping[0].alias' is "
                        "missing");
    long_map = g_strdup_printf("[{'node-name': 'disk0', 'alias': 'a', "
                               "'bitmaps': [{'name': '%s', 'alias': 'y'}]}]",
                               n1024);
    long_err = g_strdup_printf("The bitmap name '%s' is longer than 1023 "
                               "bytes", n1024);
    set_mapping_refused(vm->qts, long_map, long_err);
    disk_vm_quit(vm);
}

/* ---- hand-made streams: the flags forms -------------------------------- */

static void put_bytes(GByteArray *a, const char *bytes, size_t n)
{
    g_byte_array_append(a, (const uint8_t *)bytes, n);
}

/*
 * A stream holding only a "dirty-bitmap" section for bitmap "b0" of
 * disk0: START (64 KiB granules, enabled), BITS (the first 8 granules
 * set), COMPLETE, EOS.  Each record's flags are written as given: @start,
 * @bits, @complete and @eos are the flag bytes of each record (their
 * length in the first byte of each: 1, 2 or 4).
 */
static GByteArray *bitmap_stream(const char *start, const char *bits,
                                 const char *complete, const char *eos)
{
    GByteArray *a = g_byte_array_new();
    uint8_t gran_bytes[32] = { 0xff };      /* 16 MiB / 64 KiB bits */

    mig_put_stream_header(a);
    put_bytes(a, "\x01", 1);                /* SECTION_START */
    mig_put_be32(a, 7);                         /* section id */
    mig_put_counted(a, "dirty-bitmap");
    mig_put_be32(a, 0);                         /* instance */
    mig_put_be32(a, 1);                         /* version */
    put_bytes(a, start + 1, start[0]);      /* START|DEVICE|BITMAP */
    mig_put_counted(a, "disk0");
    mig_put_counted(a, "b0");
    mig_put_be32(a, 65536);
    put_bytes(a, "\x01", 1);                /* enabled */
    put_bytes(a, bits + 1, bits[0]);        /* BITS */
    mig_put_be64(a, 0);                         /* first sector */
    mig_put_be32(a, DISK_SIZE / 512);
    mig_put_be64(a, sizeof(gran_bytes));
    g_byte_array_append(a, gran_bytes, sizeof(gran_bytes));
    put_bytes(a, complete + 1, complete[0]);
    put_bytes(a, eos + 1, eos[0]);
    put_bytes(a, "\x7e", 1);                /* footer */
    mig_put_be32(a, 7);
    put_bytes(a, "\x00", 1);                /* EOF */
    return a;
}

/*
 * Load @stream into a paused destination with disk0 (migrate-incoming
 * from a file); returns it with the final status in *@status.
 */
static DiskVM *load_stream(GByteArray *stream, char **status)
{
    static const char *const done[] = { "completed", "failed", NULL };
    DiskVM *dst = disk_vm_start_args("defer", "-S");
    g_autofree char *file = g_build_filename(dst->dir, "s.bin", NULL);
    g_autofree char *uri = g_strdup_printf("exec:cat %s", file);

    g_assert_true(g_file_set_contents(file, (const char *)stream->data,
                                      stream->len, NULL));
    mig_incoming(dst->qts, uri, true);
    *status = mig_wait_status(dst->qts, done);
    g_unlink(file);
    return dst;
}

/*
 * The 2- and 4-byte flags forms load like the 1-byte one (QEMU's
 * reader takes them; bit 0x80 says more bytes follow).
 */
static void test_flags_forms(void)
{
    g_autoptr(GByteArray) stream = NULL;
    g_autoptr(JsonObject) bm = NULL;
    g_autofree char *st = NULL;
    DiskVM *dst;

    if (skip_unless_qmig()) {
        return;
    }
    stream = bitmap_stream("\x02\x80\x1c", "\x04\x80\x80\x00\x40",
                           "\x02\x80\x20", "\x04\x80\x80\x00\x01");
    dst = load_stream(stream, &st);
    if (strcmp(st, "completed")) {
        g_autoptr(JsonNode) info = mig_query(dst->qts);

        g_error("the load failed: %s", mig_error_desc(info));
    }
    bm = bitmap_info(dst->qts, "b0");
    g_assert_nonnull(bm);
    g_assert_cmpint(json_object_get_int_member(bm, "count"), ==, 8 * 65536);
    g_assert_cmpint(json_object_get_int_member(bm, "granularity"), ==,
                    65536);
    g_assert_true(json_object_get_boolean_member(bm, "recording"));
    disk_vm_quit(dst);
}

/* Bits beyond the defined flags and the markers are refused, by value. */
static void run_bad_flags(const char *start, const char *want)
{
    g_autoptr(GByteArray) stream = bitmap_stream(start, "\x01\x40",
                                                 "\x01\x20", "\x01\x01");
    g_autoptr(JsonNode) info = NULL;
    g_autofree char *st = NULL;
    DiskVM *dst = load_stream(stream, &st);

    g_assert_cmpstr(st, ==, "failed");
    info = mig_query(dst->qts);
    g_test_message("destination: %s", mig_error_desc(info));
    g_assert_nonnull(strstr(mig_error_desc(info), want));
    g_assert_null(bitmap_info(dst->qts, "b0"));
    disk_vm_quit(dst);
}

/*
 * A stream that starts 1025 bitmaps (new names, never completed): each
 * costs memory on the destination, so the load stops at 1024.
 */
static void test_too_many_bitmaps(void)
{
    g_autoptr(GByteArray) a = g_byte_array_new();
    g_autoptr(JsonNode) info = NULL;
    g_autofree char *st = NULL;
    DiskVM *dst;

    if (skip_unless_qmig()) {
        return;
    }
    mig_put_stream_header(a);
    put_bytes(a, "\x01", 1);                /* SECTION_START */
    mig_put_be32(a, 7);
    mig_put_counted(a, "dirty-bitmap");
    mig_put_be32(a, 0);
    mig_put_be32(a, 1);
    for (int i = 0; i <= 1024; i++) {
        g_autofree char *name = g_strdup_printf("b%d", i);

        put_bytes(a, "\x1c", 1);            /* START|DEVICE|BITMAP */
        mig_put_counted(a, "disk0");
        mig_put_counted(a, name);
        mig_put_be32(a, 512);
        put_bytes(a, "\x00", 1);
    }
    put_bytes(a, "\x01\x7e", 2);            /* EOS, footer */
    mig_put_be32(a, 7);
    put_bytes(a, "\x00", 1);
    dst = load_stream(a, &st);
    g_assert_cmpstr(st, ==, "failed");
    info = mig_query(dst->qts);
    g_assert_nonnull(strstr(mig_error_desc(info), "at most 1024 may be "
                            "created"));
    g_assert_null(bitmap_info(dst->qts, "b0"));
    disk_vm_quit(dst);
}

static void test_flags_unknown(void)
{
    if (skip_unless_qmig()) {
        return;
    }
    run_bad_flags("\x02\x81\x1c", "Unknown dirty bitmap migration flags "
                  "0x100 (in the 2-byte flags 0x811c)");
    run_bad_flags("\x04\x80\x80\x00\x9c", "Unknown dirty bitmap "
                  "migration flags 0x80 (in the 4-byte flags 0x8080009c)");
    run_bad_flags("\x04\x80\x80\x10\x1c", "Unknown dirty bitmap "
                  "migration flags 0x1000 (in the 4-byte flags 0x8080101c)");
}

int main(int argc, char **argv)
{
    qtest_main_init(&argc, &argv);

    mig_add_case("/bitmap-migration/names/bad", test_bad_names, false);
    mig_add_case("/bitmap-migration/precopy/contents", test_bitmaps_migrate,
                 false);
    mig_add_case("/bitmap-migration/precopy/mapping", test_mapping_migrate,
                 false);
    mig_add_case("/bitmap-migration/fault/dest-exists",
                 test_dest_bitmap_exists, false);
    mig_add_case("/bitmap-migration/fault/long-name", test_long_name_refused,
                 false);
    mig_add_case("/bitmap-migration/stream/flags-forms", test_flags_forms,
                 false);
    mig_add_case("/bitmap-migration/stream/flags-unknown", test_flags_unknown,
                 false);
    mig_add_case("/bitmap-migration/stream/too-many", test_too_many_bitmaps,
                 false);
    return g_test_run();
}
