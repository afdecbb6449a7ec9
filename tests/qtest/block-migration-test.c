/*
 * Block migration qtests: disks move inside the migration stream (the
 * `block` capability, or "migrate" with blk=true).
 *
 * Each case gives the source a raw image with known contents and the
 * destination an image of its own, migrates, and compares the two files
 * byte for byte over the source's size.  Also checked: holes stay holes
 * (st_blocks), the "disk" progress of query-migrate and HMP, cancel then
 * migrate again, a destination disk smaller than the source's or missing
 * refused with a clear error while the source guest runs on, and (when
 * the disk guest is built) a guest writing its disk during migration.
 *
 * qmig only: QEMU dropped block migration in 9.1.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "disk-check.h"
#include "migration-helpers.h"

#define MiB ((uint64_t)1 << 20)
#define DISK_SIZE (64 * MiB)
/* Slow enough that the bulk phase of 32 MiB takes seconds. */
#define CRAWL_BW (4 * MiB)

/* ---- images ------------------------------------------------------------- */

typedef struct TestDir {
    char *path;
} TestDir;

static TestDir *test_dir_new(void)
{
    TestDir *d = g_new0(TestDir, 1);
    g_autoptr(GError) err = NULL;

    d->path = g_dir_make_tmp("blkmig-XXXXXX", &err);
    g_assert_no_error(err);
    return d;
}

static char *test_dir_file(TestDir *d, const char *name)
{
    return g_build_filename(d->path, name, NULL);
}

static void test_dir_free(TestDir *d)
{
    g_autoptr(GDir) dir = g_dir_open(d->path, 0, NULL);
    const char *name;

    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *p = g_build_filename(d->path, name, NULL);

        g_unlink(p);
    }
    g_rmdir(d->path);
    g_free(d->path);
    g_free(d);
}

/* A sparse file of @size bytes. */
static void make_sparse(const char *path, uint64_t size)
{
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, size), ==, 0);
    close(fd);
}

/* Write 1 MiB of data unique to (@salt, @mib) at MiB number @mib. */
static void write_stripe(const char *path, uint64_t mib, uint32_t salt)
{
    g_autofree uint32_t *buf = g_new(uint32_t, MiB / 4);
    int fd = open(path, O_WRONLY);

    g_assert_cmpint(fd, >=, 0);
    for (size_t i = 0; i < MiB / 4; i++) {
        buf[i] = (uint32_t)(mib * 2654435761u) ^ (uint32_t)i ^ salt;
    }
    g_assert_cmpint(pwrite(fd, buf, MiB, mib * MiB), ==, (ssize_t)MiB);
    close(fd);
}

/* Allocate 1 MiB of zeros (data on disk that reads as zero). */
static void write_zero_stripe(const char *path, uint64_t mib)
{
    g_autofree uint8_t *buf = g_malloc0(MiB);
    int fd = open(path, O_WRONLY);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pwrite(fd, buf, MiB, mib * MiB), ==, (ssize_t)MiB);
    g_assert_cmpint(fsync(fd), ==, 0);
    close(fd);
}

/*
 * The source image of most cases: @stripes (a power of two up to 32) data
 * MiB spread evenly, at MiB 1, 1 + 64 / @stripes...; MiB 0 is a hole.
 */
static void make_source_image(const char *path, int stripes, uint32_t salt)
{
    uint64_t spacing = DISK_SIZE / MiB / stripes;

    make_sparse(path, DISK_SIZE);
    for (int i = 0; i < stripes; i++) {
        write_stripe(path, i * spacing + 1, salt);
    }
}

/*
 * Blocks allocated to @path, once written back: before writeback a file
 * the test just wrote may not yet count the extent-tree block the
 * filesystem adds for it, and the count would grow later by itself.
 */
static uint64_t allocated_bytes(const char *path)
{
    struct stat st;
    int fd = open(path, O_RDONLY);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(fsync(fd), ==, 0);
    g_assert_cmpint(fstat(fd, &st), ==, 0);
    close(fd);
    return (uint64_t)st.st_blocks * 512;
}

/* The first @len bytes of @a and @b are equal. */
static void assert_same_contents(const char *a, const char *b, uint64_t len)
{
    g_autofree char *da = NULL, *db = NULL;
    gsize la, lb;

    g_assert_true(g_file_get_contents(a, &da, &la, NULL));
    g_assert_true(g_file_get_contents(b, &db, &lb, NULL));
    g_assert_cmpuint(la, >=, len);
    g_assert_cmpuint(lb, >=, len);
    for (uint64_t off = 0; off < len; off += MiB) {
        if (memcmp(da + off, db + off, MIN(MiB, len - off))) {
            g_error("%s and %s differ in MiB %" G_GUINT64_FORMAT, a, b,
                    off / MiB);
        }
    }
}

static char *drive_arg(const char *path)
{
    return g_strdup_printf("-drive file=%s,format=raw,if=none,id=disk0",
                           path);
}

/* ---- query-migrate "disk" ----------------------------------------------- */

/*
 * Every writable disk moves, the guest's boot image too (mig_start_*
 * attach it), so "total" is the test disk plus that image.
 */
static int64_t disks_total(void)
{
    struct stat st;

    g_assert_cmpint(stat(qtest_guest_image("QTEST_GUEST_STAMP"), &st), ==,
                    0);
    return DISK_SIZE + st.st_size;
}

/* query-migrate "disk" member @name, or -1 when there is no "disk". */
static int64_t disk_counter(JsonNode *info, const char *name)
{
    JsonObject *o = json_node_get_object(info);
    JsonObject *disk;

    if (!json_object_has_member(o, "disk")) {
        return -1;
    }
    disk = json_object_get_object_member(o, "disk");
    return json_object_has_member(disk, name) ?
           json_object_get_int_member(disk, name) : -1;
}

/* Wait until the source has sent more than @bytes of disk records. */
static void wait_disk_transferred(QTestState *src, int64_t bytes)
{
    gint64 deadline = g_get_monotonic_time() +
                      (gint64)qtest_timeout_s() * G_USEC_PER_SEC;

    for (;;) {
        g_autoptr(JsonNode) info = mig_query(src);
        g_autofree char *st = mig_status(src);

        if (disk_counter(info, "transferred") > bytes) {
            g_assert_cmpint(disk_counter(info, "total"), ==, disks_total());
            g_assert_cmpint(disk_counter(info, "remaining"), >, 0);
            return;
        }
        g_assert_cmpstr(st, !=, "failed");
        g_assert_cmpstr(st, !=, "completed");
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(MIG_POLL_MS * 1000);
    }
}

/* The destination's query-migrate error-desc (caller frees). */
static char *dest_error(QTestState *dst)
{
    static const char *const failed[] = { "failed", NULL };
    g_autofree char *st = mig_wait_status(dst, failed);
    g_autoptr(JsonNode) info = mig_query(dst);
    JsonObject *o = json_node_get_object(info);

    g_assert_true(json_object_has_member(o, "error-desc"));
    return g_strdup(json_object_get_string_member(o, "error-desc"));
}

/* ---- cases -------------------------------------------------------------- */

static void migrate_blk_and_check(QTestState *src, QTestState *dst,
                                  const char *uri, bool blk_flag)
{
    g_autoptr(GBytes) src_mem = NULL;

    mig_set_unlimited(src);
    if (blk_flag) {
        qtest_qmp_assert_success(src, "{\"execute\": \"migrate\", "
                                 "\"arguments\": {\"uri\": \"%s\", "
                                 "\"blk\": true}}", uri);
    } else {
        mig_set_capability(src, "block", true);
        mig_migrate(src, uri);
    }
    mig_wait_completed(src);
    qtest_assert_status(src, "postmigrate");
    src_mem = mig_stamp_memory(src);
    mig_check_dest(dst, src_mem, false);
}

/*
 * 64 MiB image with 8 MiB of data and 1 MiB of allocated zeros, moved by
 * "migrate" blk=true: same contents, the destination stays sparse (the
 * zeros become a hole too), progress adds up.
 */
static void test_sparse(void)
{
    TestDir *td = test_dir_new();
    g_autofree char *simg = test_dir_file(td, "src.img");
    g_autofree char *dimg = test_dir_file(td, "dst.img");
    g_autofree char *sdrive = drive_arg(simg);
    g_autofree char *ddrive = drive_arg(dimg);
    g_autofree char *uri = NULL;
    g_autoptr(JsonNode) info = NULL;
    g_autofree char *hmp = NULL;
    QTestState *src, *dst;

    make_source_image(simg, 8, 0x5eed);
    write_zero_stripe(simg, 40);
    make_sparse(dimg, DISK_SIZE);
    g_assert_cmpuint(allocated_bytes(simg), >=, 9 * MiB);

    src = mig_start_source(sdrive);
    uri = g_strdup_printf("unix:%s", qtest_path(src, "mig.sock"));
    dst = mig_start_dest(uri, ddrive);
    migrate_blk_and_check(src, dst, uri, true);

    assert_same_contents(simg, dimg, DISK_SIZE);
    /* Eight data MiB, not the 64 MiB disk nor the allocated zeros. */
    g_assert_cmpuint(allocated_bytes(dimg), <=, 8 * MiB + 256 * 1024);
    g_assert_cmpuint(allocated_bytes(dimg), >=, 8 * MiB);

    info = mig_query(src);
    g_assert_cmpint(disk_counter(info, "total"), ==, disks_total());
    g_assert_cmpint(disk_counter(info, "remaining"), ==, 0);
    g_assert_cmpint(disk_counter(info, "transferred"), >=, 8 * MiB);
    /*
     * The 9 allocated MiB and the framing: a header per chunk and 8 bytes
     * per iteration round, whose count depends on timing (9 MiB + 8-27 KiB
     * measured); the whole 64 MiB disk would be far above.
     */
    g_assert_cmpint(disk_counter(info, "transferred"), <, 9 * MiB + 65536);
    hmp = qtest_hmp(src, "info migrate");
    g_assert_nonnull(strstr(hmp, "total disk: 65536 kbytes"));
    g_assert_nonnull(strstr(hmp, "remaining disk: 0 kbytes"));
    g_assert_nonnull(strstr(hmp, "transferred disk: "));

    mig_quit_clean(src);
    mig_quit_clean(dst);
    test_dir_free(td);
}

/* Without the capability or blk=true, disks stay out of the stream. */
static void test_off_by_default(void)
{
    TestDir *td = test_dir_new();
    g_autofree char *simg = test_dir_file(td, "src.img");
    g_autofree char *dimg = test_dir_file(td, "dst.img");
    g_autofree char *sdrive = drive_arg(simg);
    g_autofree char *ddrive = drive_arg(dimg);
    g_autofree char *uri = NULL;
    g_autoptr(JsonNode) info = NULL;
    QTestState *src, *dst;

    make_source_image(simg, 2, 1);
    make_sparse(dimg, DISK_SIZE);
    src = mig_start_source(sdrive);
    uri = g_strdup_printf("unix:%s", qtest_path(src, "mig.sock"));
    dst = mig_start_dest(uri, ddrive);
    mig_set_unlimited(src);
    mig_migrate(src, uri);
    mig_wait_completed(src);
    info = mig_query(src);
    g_assert_cmpint(disk_counter(info, "total"), ==, -1);
    g_assert_cmpuint(allocated_bytes(dimg), ==, 0);
    mig_quit_clean(src);
    mig_quit_clean(dst);
    test_dir_free(td);
}

/*
 * Cancel in the middle of the bulk phase: the source guest and disk are
 * untouched; a second migration onto the same (half-written) destination
 * image then gives an exact copy.
 */
static void test_cancel_then_migrate(void)
{
    static const char *const cancelled[] = { "cancelled", NULL };
    TestDir *td = test_dir_new();
    g_autofree char *simg = test_dir_file(td, "src.img");
    g_autofree char *copy = test_dir_file(td, "copy.img");
    g_autofree char *dimg = test_dir_file(td, "dst.img");
    g_autofree char *sdrive = drive_arg(simg);
    g_autofree char *ddrive = drive_arg(dimg);
    g_autofree char *uri = NULL, *uri2 = NULL, *st = NULL;
    uint64_t src_alloc;
    QTestState *src, *dst;

    make_source_image(simg, 32, 0xc0ffee);
    make_source_image(copy, 32, 0xc0ffee);
    /* Stale data where the source has a hole: must not survive. */
    make_sparse(dimg, DISK_SIZE);
    write_stripe(dimg, 0, 0xdead);
    src_alloc = allocated_bytes(simg);

    src = mig_start_source(sdrive);
    uri = g_strdup_printf("unix:%s", qtest_path(src, "mig.sock"));
    dst = mig_start_dest(uri, ddrive);
    mig_set_capability(src, "block", true);
    mig_set_parameter(src, "max-bandwidth", CRAWL_BW);
    mig_migrate(src, uri);
    wait_disk_transferred(src, 2 * MiB);
    qtest_qmp_assert_success(src, "{\"execute\": \"migrate_cancel\"}");
    st = mig_wait_status(src, cancelled);
    mig_assert_running(src);
    mig_wait_more_passes(src, 1);
    mig_check_stamp(src, true);
    assert_same_contents(simg, copy, DISK_SIZE);
    g_assert_cmpuint(allocated_bytes(simg), ==, src_alloc);
    mig_quit_clean(dst);

    uri2 = g_strdup_printf("unix:%s", qtest_path(src, "mig2.sock"));
    dst = mig_start_dest(uri2, ddrive);
    migrate_blk_and_check(src, dst, uri2, false);
    assert_same_contents(simg, dimg, DISK_SIZE);
    assert_same_contents(copy, dimg, DISK_SIZE);
    mig_quit_clean(src);
    mig_quit_clean(dst);
    test_dir_free(td);
}

/*
 * Start a source with a 64 MiB disk (32 MiB of data) migrating slowly to
 * a destination given @ddrive, listening with exit-on-error=false.
 */
static void start_refused(TestDir *td, const char *ddrive, QTestState **srcp,
                          QTestState **dstp, char **simgp)
{
    g_autofree char *simg = test_dir_file(td, "src.img");
    g_autofree char *sdrive = drive_arg(simg);
    g_autofree char *uri = NULL;

    make_source_image(simg, 32, 7);
    *srcp = mig_start_source(sdrive);
    *dstp = mig_start_dest("defer", ddrive);
    uri = g_strdup_printf("unix:%s", qtest_path(*dstp, "mig.sock"));
    mig_incoming(*dstp, uri, true);
    mig_set_capability(*srcp, "block", true);
    mig_set_parameter(*srcp, "max-bandwidth", CRAWL_BW);
    mig_migrate(*srcp, uri);
    *simgp = g_steal_pointer(&simg);
}

/* The source fails (its stream broke) and runs on with its disk intact. */
static void check_source_after_refusal(QTestState *src)
{
    static const char *const failed[] = { "failed", NULL };
    g_autofree char *st = mig_wait_status(src, failed);

    mig_assert_running(src);
    mig_wait_more_passes(src, 1);
    mig_check_stamp(src, true);
}

static void test_dest_too_small(void)
{
    TestDir *td = test_dir_new();
    g_autofree char *dimg = test_dir_file(td, "dst.img");
    g_autofree char *ddrive = drive_arg(dimg);
    g_autofree char *simg = NULL, *err = NULL, *copy = NULL;
    QTestState *src, *dst;

    make_sparse(dimg, DISK_SIZE / 2);
    start_refused(td, ddrive, &src, &dst, &simg);
    err = dest_error(dst);
    g_test_message("destination: %s", err);
    g_assert_nonnull(strstr(err, "disk0"));
    g_assert_nonnull(strstr(err, "smaller"));
    g_assert_nonnull(strstr(err, "33554432"));
    g_assert_nonnull(strstr(err, "67108864"));
    /* Refused before any data: the destination image is untouched. */
    g_assert_cmpuint(allocated_bytes(dimg), ==, 0);
    check_source_after_refusal(src);
    copy = test_dir_file(td, "copy.img");
    make_source_image(copy, 32, 7);
    assert_same_contents(simg, copy, DISK_SIZE);
    mig_quit_clean(src);
    mig_quit_clean(dst);
    test_dir_free(td);
}

static void test_dest_no_disk(void)
{
    TestDir *td = test_dir_new();
    g_autofree char *simg = NULL, *err = NULL;
    QTestState *src, *dst;

    start_refused(td, "", &src, &dst, &simg);
    err = dest_error(dst);
    g_test_message("destination: %s", err);
    g_assert_nonnull(strstr(err, "unknown block device disk0"));
    check_source_after_refusal(src);
    mig_quit_clean(src);
    mig_quit_clean(dst);
    test_dir_free(td);
}

/* ---- the disk guest ------------------------------------------------------ */

/*
 * Machine options for the disk guest (tests/migration/i386/disk.S) with
 * @data as its qmig-disk; the boot image is a snapshot copy, so the
 * build tree's image is never written.
 */
static char *disk_guest_args(const char *data, const char *extra)
{
    return g_strdup_printf("-accel %s -m 150M -nodefaults "
                           "-drive file=%s,format=raw,snapshot=on "
                           "-drive file=%s,format=raw,if=none,id=d0 "
                           "-device qmig-disk,drive=d0 %s", qtest_accel(),
                           qtest_guest_image("QTEST_GUEST_DISK"), data,
                           extra ? extra : "");
}

static void wait_disk_passes(QTestState *s, size_t n)
{
    if (!qtest_wait_serial(s, qtest_serial_path(s), 'D', n,
                           qtest_timeout_s())) {
        g_autofree char *err = qtest_stderr(s);

        g_error("disk guest made fewer than %zu passes ('E' = device "
                "error: %zu); stderr:\n%s", n,
                qtest_file_count_char(qtest_serial_path(s), 'E'), err);
    }
}

static void assert_disk_invariant(const char *path, DiskCheckInfo *info)
{
    g_autofree char *why = NULL;

    if (!disk_check_file(path, info, &why)) {
        g_error("disk invariant broken on %s: %s", path, why);
    }
}

/*
 * The disk guest writes its disk and RAM all through the migration.  The
 * destination starts paused (-S), so at the end both disks are the
 * switchover's: they must be identical, and hold the disk invariant.  The
 * destination then runs on; after its next pass, disk and RAM keep their
 * invariants and the disk has moved on.
 */
static void test_disk_guest(void)
{
    static const char *const completed[] = { "completed", NULL };
    TestDir *td;
    g_autofree char *simg = NULL, *dimg = NULL, *sargs = NULL;
    g_autofree char *dargs = NULL, *uri = NULL, *st = NULL, *more = NULL;
    g_autoptr(JsonNode) info = NULL;
    g_autoptr(GBytes) mem = NULL;
    DiskCheckInfo at_switch, later;
    QTestState *src, *dst;

    if (!qtest_guest_image("QTEST_GUEST_DISK") ||
        mig_skip_without_accel_or_guest()) {
        return;
    }
    td = test_dir_new();
    simg = test_dir_file(td, "src.img");
    dimg = test_dir_file(td, "dst.img");
    make_sparse(simg, DISK_SIZE);
    make_sparse(dimg, DISK_SIZE);
    sargs = disk_guest_args(simg, NULL);
    src = qtest_initf("%s", sargs);
    wait_disk_passes(src, 1);

    uri = g_strdup_printf("unix:%s", qtest_path(src, "mig.sock"));
    more = g_strdup_printf("-S -incoming %s", uri);
    dargs = disk_guest_args(dimg, more);
    dst = qtest_initf("%s", dargs);
    mig_set_unlimited(src);
    mig_set_capability(src, "block", true);
    mig_migrate(src, uri);
    mig_wait_completed(src);
    st = mig_wait_status(dst, completed);
    info = mig_query(src);
    /* Above 4 MiB when chunks the guest rewrote went again (usual). */
    g_printerr("# disk bytes sent: %" G_GINT64_FORMAT " (the guest writes "
               "4 MiB over and over)\n", disk_counter(info, "transferred"));
    g_assert_cmpint(disk_counter(info, "transferred"), >=, 4 * MiB);
    g_assert_cmpint(disk_counter(info, "remaining"), ==, 0);

    assert_same_contents(simg, dimg, DISK_SIZE);
    assert_disk_invariant(dimg, &at_switch);
    g_assert_cmpuint(at_switch.gen, >=, 1);
    mig_check_stamp(src, false);

    qtest_qmp_assert_success(dst, "{\"execute\": \"cont\"}");
    /* Two more 'D': the pass running at the switchover, and a new one. */
    wait_disk_passes(dst, qtest_file_count_char(qtest_serial_path(dst),
                                                'D') + 2);
    mem = mig_stamp_memory(dst);
    assert_disk_invariant(dimg, &later);
    g_assert_cmpuint(later.gen, >, at_switch.gen);

    mig_quit_clean(src);
    mig_quit_clean(dst);
    test_dir_free(td);
}

int main(int argc, char **argv)
{
    qtest_main_init(&argc, &argv);

    if (mig_is_qemu()) {
        g_test_message("block migration is qmig only (QEMU removed it in "
                       "9.1)");
        return 0;
    }
    mig_add_case("/migration/block/sparse", test_sparse, false);
    mig_add_case("/migration/block/off-by-default", test_off_by_default,
                 false);
    mig_add_case("/migration/block/cancel-then-migrate",
                 test_cancel_then_migrate, false);
    mig_add_case("/migration/block/dest-too-small", test_dest_too_small,
                 false);
    mig_add_case("/migration/block/dest-no-disk", test_dest_no_disk, false);
    mig_add_case("/migration/block/disk-guest", test_disk_guest, false);
    return g_test_run();
}
