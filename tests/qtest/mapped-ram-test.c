/*
 * The mapped-ram capability (docs/devel/migration/mapped-ram.md): save
 * the stamp guest to a file with RAM at fixed offsets, restore it into a
 * new process that runs on, and the ways a save or a restore must fail.
 *
 *   /mapped-ram/save-restore        save, restore, the guest runs on
 *   /mapped-ram/multifd/{1,4}       the same with multifd channels
 *                                   writing and reading the pages
 *   /mapped-ram/shared-source[-multifd] the source's RAM a shared memfd:
 *                                   pages read from its fd (read window)
 *   /mapped-ram/cmdline-incoming    restore with -incoming file:PATH and
 *                                   -global migration.mapped-ram=on
 *   /mapped-ram/direct-io           the same with O_DIRECT channels
 *   /mapped-ram/direct-io-refused   a file system without O_DIRECT
 *                                   (ramfs; root): a clear error
 *   /mapped-ram/offset              file:PATH,offset=N keeps the prefix
 *   /mapped-ram/holes               the file is sparse: pages never
 *                                   written and zero pages are holes
 *   /mapped-ram/bandwidth           max-bandwidth limits the page writes
 *   /mapped-ram/refused             other URIs and capabilities refused
 *   /mapped-ram/corrupt             truncated file, bad header fields, a
 *                                   file from another RAM size, a
 *                                   destination without mapped-ram:
 *                                   clear error, it never runs
 *   /mapped-ram/full-disk[-multifd] ENOSPC on save (a small tmpfs in a
 *                                   private mount namespace; root): the
 *                                   source guest runs on
 *   /mapped-ram/io-uring/{4,direct,full-disk}
 *                                   qmig's x-io-uring: the channels' I/O
 *                                   through io_uring, restore into
 *                                   memfd RAM (linked read/write
 *                                   pieces), O_DIRECT, and ENOSPC
 *                                   reported through the syscall redo
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib.h>
#include "migration-helpers.h"

#define GUEST_MIB 150
/* The stamp guest writes [1 MiB, 100 MiB) of its RAM. */
#define STAMP_MIB 99
#define HDR_SIZE 28

static char *tmp_file(const char *what)
{
    return g_strdup_printf("%s/mapped-ram-%s-%d.bin", g_get_tmp_dir(), what,
                           getpid());
}

/* multifd channels of the cases below (0: no multifd); direct-io. */
static int channels;
static bool direct_io;
/* qmig's x-io-uring on both sides. */
static bool io_uring;

/* mapped-ram and this case's multifd and direct-io settings on @s. */
static void set_mapped_ram(QTestState *s)
{
    mig_set_capability(s, "mapped-ram", true);
    if (channels) {
        mig_set_capability(s, "multifd", true);
        mig_set_parameter(s, "multifd-channels", channels);
    }
    if (direct_io) {
        qtest_qmp_assert_success(s, "{\"execute\": \"migrate-set-parameters\","
                                 " \"arguments\": {\"direct-io\": true}}");
    }
    if (io_uring) {
        qtest_qmp_assert_success(s, "{\"execute\": \"migrate-set-parameters\","
                                 " \"arguments\": {\"x-io-uring\": true}}");
    }
}

/*
 * Save a fresh stamp source to @uri with mapped-ram; its memory at the
 * switchover comes back in *@src_mem.
 */
/* Extra source options (shared fd-backed RAM: the read window). */
static const char *src_extra;

static void save(const char *uri, GBytes **src_mem)
{
    QTestState *src = mig_start_source(src_extra);

    set_mapped_ram(src);
    mig_set_unlimited(src);
    mig_migrate(src, uri);
    mig_wait_completed(src);
    qtest_assert_status(src, "postmigrate");
    if (channels) {
        g_autoptr(JsonNode) info = mig_query(src);

        /* The stamped pages went through the channels, not the stream. */
        g_assert_cmpint(mig_ram_counter(info, "multifd-bytes"), >=,
                        (int64_t)STAMP_MIB << 20);
    }
    *src_mem = mig_stamp_memory(src);
    mig_quit_clean(src);
}

/* Whether the destinations below set mapped-ram (a mismatch case). */
static bool dest_plain;

/* A destination loading @uri with mapped-ram. */
static QTestState *start_restore(const char *uri, const char *extra,
                                 bool keep_alive)
{
    QTestState *dst = mig_start_dest("defer", extra);

    if (!dest_plain) {
        set_mapped_ram(dst);
    }
    mig_incoming(dst, uri, keep_alive);
    return dst;
}

/*
 * The restoring destination's extra options: shared memfd RAM takes the
 * destination's pwrite path (through a bounce buffer), anonymous RAM the
 * read straight into guest memory.
 */
#define DEST_MEMFD "-object memory-backend-memfd,id=pc.ram,size=150M,share=on " \
                   "-machine memory-backend=pc.ram"
static const char *dest_extra;

static void restore_and_check(const char *uri, GBytes *src_mem)
{
    QTestState *dst = start_restore(uri, dest_extra, false);

    /* The invariant holds and the pass counter goes on from the source's. */
    mig_check_dest(dst, src_mem, true);
    mig_assert_running(dst);
    mig_quit_clean(dst);
}

/* Where pc.ram's mapped-ram header is in @data (after its list entry). */
static size_t find_header(const uint8_t *data, size_t len)
{
    static const uint8_t entry[] = { 6, 'p', 'c', '.', 'r', 'a', 'm',
                                     0, 0, 0, 0,
                                     (GUEST_MIB << 20) >> 24 & 0xff,
                                     (GUEST_MIB << 20) >> 16 & 0xff, 0, 0 };
    const uint8_t *p = memmem(data, len, entry, sizeof(entry));

    g_assert_nonnull(p);
    return p - data + sizeof(entry);
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = v & 0xff;
        v >>= 8;
    }
}

/* Check the layout of the file at @path (from offset @base on). */
static void check_layout(const char *path, uint64_t base)
{
    g_autofree char *data = NULL;
    gsize len;
    size_t hdr;
    uint64_t bitmap_offset, pages_offset, present = 0;

    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    g_assert_cmpmem(data + base, 8, "QEVM\0\0\0\3", 8);
    hdr = find_header((uint8_t *)data, len);
    /* version 1, 4 KiB pages, bitmap right after, pages on 1 MiB. */
    g_assert_cmpmem(data + hdr, 12, "\0\0\0\1\0\0\0\0\0\0\x10\0", 12);
    bitmap_offset = get_be64((uint8_t *)data + hdr + 12);
    pages_offset = get_be64((uint8_t *)data + hdr + 20);
    g_assert_cmpuint(bitmap_offset, ==, hdr + HDR_SIZE);
    g_assert_cmpuint(pages_offset % (1 << 20), ==, 0);
    g_assert_cmpuint(pages_offset + (GUEST_MIB << 20), <, len);
    for (uint64_t i = 0; i < (GUEST_MIB << 20) / 4096 / 8; i++) {
        present += __builtin_popcount((uint8_t)data[bitmap_offset + i]);
    }
    /* The stamped pages, the guest's code, little else. */
    g_assert_cmpuint(present, >=, (STAMP_MIB << 20) / 4096);
    g_assert_cmpuint(present, <, ((STAMP_MIB + 2) << 20) / 4096);
    /* A stamped page sits at its offset: its first word is its stamp. */
    g_assert_cmpuint(*(uint64_t *)(data + pages_offset + (2 << 20)), !=, 0);
}

/*
 * Save to a file (at @offset, after a prefix that must survive), check
 * its layout, restore it.
 */
static void save_restore(const char *what, gsize offset)
{
    g_autofree char *path = tmp_file(what);
    g_autofree char *uri = offset ?
        g_strdup_printf("file:%s,offset=%zu", path, offset) :
        g_strdup_printf("file:%s", path);
    g_autofree char *prefix = g_strnfill(offset, 'P');
    g_autoptr(GBytes) src_mem = NULL;
    g_autofree char *data = NULL;
    gsize len;

    g_assert_true(g_file_set_contents(path, prefix, offset, NULL));
    save(uri, &src_mem);
    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    g_assert_cmpmem(data, offset, prefix, offset);
    check_layout(path, offset);
    if (!offset) {
        /* scripts/analyze-migration reads the headers, bitmaps, devices. */
        static const char *const needles[] = {
            "\"mapped_ram\"", "\"present_pages\"", "\"pc.ram\"",
            "\"cpu (", NULL
        };

        mig_check_analyzer(path, needles);
    }
    restore_and_check(uri, src_mem);
    unlink(path);
}

static void test_save_restore(void)
{
    save_restore("save", 0);
}

static void test_offset(void)
{
    dest_extra = DEST_MEMFD;
    save_restore("offset", 8192);
}

static void test_multifd_1(void)
{
    channels = 1;
    save_restore("multifd1", 0);
}

/*
 * The source's RAM in a shared memfd: its pages are read from the fd
 * through the read window (no first-touch fault) for the zero check and,
 * without multifd, the write itself.
 */
static void test_shared_source(void)
{
    src_extra = DEST_MEMFD;
    dest_extra = DEST_MEMFD;
    save_restore("shared", 0);
}

static void test_shared_source_multifd(void)
{
    channels = 4;
    src_extra = DEST_MEMFD;
    dest_extra = DEST_MEMFD;
    save_restore("shared4", 0);
}

static void test_multifd_4(void)
{
    channels = 4;
    dest_extra = DEST_MEMFD;
    save_restore("multifd4", 8192);
}

/*
 * Restore with -incoming file:PATH on the command line, the capabilities
 * given as QEMU's -global migration properties; saved with 4 channels,
 * read with 2 (the file does not depend on the channel count).
 */
static void test_cmdline_incoming(void)
{
    g_autofree char *path = tmp_file("cmdline");
    g_autofree char *uri = g_strdup_printf("file:%s", path);
    g_autoptr(GBytes) src_mem = NULL;
    QTestState *dst;

    channels = 4;
    save(uri, &src_mem);
    dst = mig_start_dest(uri, "-global migration.mapped-ram=on "
                         "-global migration.x-multifd=on "
                         "-global migration.multifd-channels=2");
    mig_check_dest(dst, src_mem, true);
    mig_assert_running(dst);
    mig_quit_clean(dst);
    unlink(path);
}

/*
 * tmp_file() is under g_get_tmp_dir(); a file system there that refuses
 * O_DIRECT makes a direct-io case a skip.
 */
static bool odirect_or_skip(void)
{
    g_autofree char *probe = tmp_file("odirect");
    int fd = open(probe, O_CREAT | O_WRONLY | O_DIRECT, 0600);

    if (fd < 0) {
        g_autofree char *why = g_strdup_printf(
            "the file system of %s refuses O_DIRECT: %s", g_get_tmp_dir(),
            g_strerror(errno));

        unlink(probe);
        g_test_skip(why);
        return false;
    }
    close(fd);
    unlink(probe);
    return true;
}

/* O_DIRECT on the channels. */
static void test_direct_io(void)
{
    if (!odirect_or_skip()) {
        return;
    }
    channels = 2;
    direct_io = true;
    dest_extra = DEST_MEMFD;
    save_restore("direct", 4096);
}

/*
 * max-bandwidth limits the page writes: 99 MiB of stamped pages at
 * 32 MiB/s take at least 3 s (unlimited, well under 1 s here).  The
 * guest is stopped first (a save of a paused VM), so that its dirtying
 * cannot outrun the limit.
 */
static void test_bandwidth(void)
{
    g_autofree char *path = tmp_file("bw");
    g_autofree char *uri = g_strdup_printf("file:%s", path);
    g_autoptr(JsonNode) info = NULL;
    QTestState *src = mig_start_source(NULL);

    set_mapped_ram(src);
    mig_set_unlimited(src);
    mig_set_parameter(src, "max-bandwidth", 32 << 20);
    qtest_qmp_assert_success(src, "{\"execute\": \"stop\"}");
    mig_migrate(src, uri);
    mig_wait_completed(src);
    info = mig_query(src);
    g_assert_cmpint(mig_info_int(info, "total-time"), >=, 3000);
    mig_quit_clean(src);
    unlink(path);
}

static void test_holes(void)
{
    g_autofree char *path = tmp_file("holes");
    g_autofree char *uri = g_strdup_printf("file:%s", path);
    g_autoptr(GBytes) src_mem = NULL;
    struct stat st;

    save(uri, &src_mem);
    g_assert_cmpint(stat(path, &st), ==, 0);
    /* The whole of RAM is addressed by the file... */
    g_assert_cmpuint(st.st_size, >, (uint64_t)GUEST_MIB << 20);
    /* ...but only the stamped pages take space (tmpfs or disk blocks). */
    if ((uint64_t)st.st_blocks * 512 >= ((uint64_t)STAMP_MIB + 8) << 20) {
        g_error("%s takes %" PRIu64 " bytes for %u MiB of data: not sparse",
                path, (uint64_t)st.st_blocks * 512, STAMP_MIB);
    }
    unlink(path);
}

static void test_refused(void)
{
    QTestState *src = mig_start_source(NULL);
    g_autofree char *uri = g_strdup_printf("unix:%s",
                                           qtest_path(src, "mig.sock"));
    g_autofree char *file = g_strdup_printf("file:%s",
                                            qtest_path(src, "vm.bin"));

    /* multifd on a file is mapped-ram's; direct-io needs both. */
    mig_set_capability(src, "multifd", true);
    qtest_qmp_assert_error(src, "multifd cannot use",
                           "{\"execute\": \"migrate\", \"arguments\": "
                           "{\"uri\": \"%s\"}}", file);
    mig_set_capability(src, "multifd", false);
    mig_set_capability(src, "mapped-ram", true);
    qtest_qmp_assert_success(src, "{\"execute\": \"migrate-set-parameters\", "
                             "\"arguments\": {\"direct-io\": true}}");
    qtest_qmp_assert_error(src, "direct-io parameter needs",
                           "{\"execute\": \"migrate\", \"arguments\": "
                           "{\"uri\": \"%s\"}}", file);
    qtest_qmp_assert_success(src, "{\"execute\": \"migrate-set-parameters\", "
                             "\"arguments\": {\"direct-io\": false}}");
    qtest_qmp_assert_error(src, "requires a file: URI",
                           "{\"execute\": \"migrate\", \"arguments\": "
                           "{\"uri\": \"%s\"}}", uri);
    qtest_qmp_assert_error(src, "incompatible with xbzrle",
                           "{\"execute\": \"migrate-set-capabilities\", "
                           "\"arguments\": {\"capabilities\": [{\"capability\""
                           ": \"xbzrle\", \"state\": true}]}}");
    qtest_qmp_assert_error(src, "incompatible with postcopy",
                           "{\"execute\": \"migrate-set-capabilities\", "
                           "\"arguments\": {\"capabilities\": [{\"capability\""
                           ": \"postcopy-ram\", \"state\": true}]}}");
    qtest_qmp_assert_success(src, "{\"execute\": \"migrate-set-parameters\", "
                             "\"arguments\": {\"multifd-compression\": "
                             "\"zlib\"}}");
    qtest_qmp_assert_error(src, "multifd-compression none",
                           "{\"execute\": \"migrate-set-capabilities\", "
                           "\"arguments\": {\"capabilities\": [{\"capability\""
                           ": \"multifd\", \"state\": true}]}}");
    /* Nothing started: the guest runs on. */
    mig_assert_running(src);
    mig_quit_clean(src);
}

/* Load @path (a damaged save) and expect a failure naming @needle. */
static void check_rejected(const char *path, const char *extra,
                           const char *needle)
{
    static const char *const failed[] = { "failed", NULL };
    g_autofree char *uri = g_strdup_printf("file:%s", path);
    QTestState *dst = start_restore(uri, extra, true);
    bool exits = mig_dest_exits_on_error(dst);
    g_autofree char *err = NULL;
    bool running = true;

    if (exits) {
        int status;

        g_assert_true(qtest_wait_exit(dst, qtest_timeout_s(), &status));
        g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    } else {
        g_autofree char *mst = mig_wait_status(dst, failed);
        g_autofree char *st = qtest_query_status(dst, &running);

        /* Never a half-loaded guest running. */
        g_assert_false(running);
    }
    g_assert_cmpuint(qtest_file_count_char(qtest_serial_path(dst), 'B'), ==,
                     0);
    err = qtest_stderr(dst);
    if (!strstr(err, needle)) {
        g_error("expected an error with \"%s\", stderr:\n%s", needle, err);
    }
    mig_quit_clean(dst);
}

static void write_variant(const char *path, const char *good, gsize len,
                          size_t at, uint64_t value, gsize new_len)
{
    g_autofree char *copy = g_memdup2(good, len);

    if (at) {
        put_be64((uint8_t *)copy + at, value);
    }
    g_assert_true(g_file_set_contents(path, copy, new_len, NULL));
}

static void test_corrupt(void)
{
    g_autofree char *path = tmp_file("good");
    g_autofree char *bad = tmp_file("bad");
    g_autofree char *uri = g_strdup_printf("file:%s", path);
    g_autoptr(GBytes) src_mem = NULL;
    g_autofree char *data = NULL;
    gsize len;
    size_t hdr;
    uint64_t pages_offset;

    save(uri, &src_mem);
    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    hdr = find_header((uint8_t *)data, len);
    pages_offset = get_be64((uint8_t *)data + hdr + 20);

    /* Cut in the middle of the RAM pages. */
    write_variant(bad, data, len, 0, 0, pages_offset + (50 << 20));
    check_rejected(bad, NULL, "truncated");
    /* Header: unknown version (the be32 lives in the first word). */
    write_variant(bad, data, len, hdr, 2ULL << 32 | 0, len);
    check_rejected(bad, NULL, "version 2");
    /* Bitmap offset past the end of the file. */
    write_variant(bad, data, len, hdr + 12, len + 4096, len);
    check_rejected(bad, NULL, "outside the file");
    /* Bitmap offset wrapping around. */
    write_variant(bad, data, len, hdr + 12, UINT64_MAX - 7, len);
    check_rejected(bad, NULL, "outside the file");
    /* Pages that would run past the end of the file. */
    write_variant(bad, data, len, hdr + 20, len - 4096, len);
    check_rejected(bad, NULL, "truncated or corrupted");
    /* Pages over the bitmap. */
    write_variant(bad, data, len, hdr + 20, hdr + HDR_SIZE + 8, len);
    check_rejected(bad, NULL, "overlap");
    /* A file from a VM with more RAM than this one. */
    check_rejected(path, "-m 200M", "Length mismatch");
    /* Loaded as a plain stream: the configuration says mapped-ram. */
    dest_plain = true;
    check_rejected(path, NULL, "Capability mapped-ram is off here");
    dest_plain = false;
    unlink(bad);
    unlink(path);
}

/*
 * Save into @dir/vm.bin, expect the migration to fail with @needle in
 * its error, and the source guest to run on with its memory intact.
 */
static void check_save_fails(const char *dir, const char *needle)
{
    static const char *const failed[] = { "failed", NULL };
    g_autofree char *uri = g_strdup_printf("file:%s/vm.bin", dir);
    g_autofree char *st = NULL;
    g_autoptr(JsonNode) info = NULL;
    QTestState *src = mig_start_source(NULL);

    set_mapped_ram(src);
    mig_set_unlimited(src);
    mig_migrate(src, uri);
    st = mig_wait_status(src, failed);
    info = mig_query(src);
    if (!strstr(mig_error_desc(info), needle)) {
        g_error("error-desc lacks \"%s\": %s", needle,
                mig_error_desc(info));
    }
    /* The source lost nothing: its guest runs on, memory intact. */
    mig_assert_running(src);
    mig_wait_more_passes(src, 1);
    mig_check_stamp(src, true);
    mig_assert_running(src);
    mig_quit_clean(src);
}

static void test_direct_io_refused(void)
{
    g_autofree char *why = NULL;
    g_autofree char *dir = mig_private_mount("ramfs", NULL, &why);

    if (!dir) {
        g_test_skip(why);
        return;
    }
    channels = 2;
    direct_io = true;
    check_save_fails(dir, "does not support O_DIRECT");
    mig_private_umount(dir);
}

/* ENOSPC on a 32 MiB tmpfs, single channel and with 4 channels. */
static void full_disk(int nchan)
{
    g_autofree char *why = NULL;
    g_autofree char *dir = mig_private_mount("tmpfs", "size=32m", &why);

    if (!dir) {
        g_test_skip(why);
        return;
    }
    channels = nchan;
    check_save_fails(dir, "No space left on device");
    mig_private_umount(dir);
}

static void test_full_disk(void)
{
    full_disk(0);
}

static void test_full_disk_multifd(void)
{
    full_disk(4);
}

/* x-io-uring is qmig's own; QEMU has no such parameter. */
static bool io_uring_case(void)
{
    if (mig_is_qemu()) {
        g_test_skip("x-io-uring is a qmig parameter");
        return false;
    }
    io_uring = true;
    channels = 4;
    return true;
}

static void test_io_uring_4(void)
{
    if (io_uring_case()) {
        dest_extra = DEST_MEMFD;
        save_restore("uring4", 8192);
    }
}

static void test_io_uring_direct(void)
{
    if (odirect_or_skip() && io_uring_case()) {
        direct_io = true;
        dest_extra = DEST_MEMFD;
        save_restore("uring-direct", 4096);
    }
}

static void test_io_uring_full_disk(void)
{
    if (io_uring_case()) {
        full_disk(4);
    }
}

int main(int argc, char **argv)
{
    qtest_main_init(&argc, &argv);

    mig_add_case_qemu_min("/mapped-ram/save-restore", test_save_restore,
                          false, 9, 0);
    mig_add_case_qemu_min("/mapped-ram/offset", test_offset, false, 9, 0);
    mig_add_case_qemu_min("/mapped-ram/holes", test_holes, false, 9, 0);
    mig_add_case_qemu_min("/mapped-ram/bandwidth", test_bandwidth, false,
                          9, 0);
    mig_add_case_qemu_min("/mapped-ram/refused", test_refused, false, 9, 0);
    mig_add_case_qemu_min("/mapped-ram/corrupt", test_corrupt, false, 9, 0);
    mig_add_case_qemu_min("/mapped-ram/full-disk", test_full_disk, false,
                          9, 0);
    mig_add_case_qemu_min("/mapped-ram/full-disk-multifd",
                          test_full_disk_multifd, false, 9, 0);
    mig_add_case_qemu_min("/mapped-ram/multifd/1", test_multifd_1, false,
                          9, 0);
    mig_add_case_qemu_min("/mapped-ram/multifd/4", test_multifd_4, false,
                          9, 0);
    mig_add_case_qemu_min("/mapped-ram/shared-source", test_shared_source,
                          false, 9, 0);
    mig_add_case_qemu_min("/mapped-ram/shared-source-multifd",
                          test_shared_source_multifd, false, 9, 0);
    mig_add_case_qemu_min("/mapped-ram/cmdline-incoming",
                          test_cmdline_incoming, false, 9, 0);
    /* direct-io came with QEMU 9.1. */
    mig_add_case_qemu_min("/mapped-ram/direct-io", test_direct_io, false,
                          9, 1);
    mig_add_case_qemu_min("/mapped-ram/direct-io-refused",
                          test_direct_io_refused, false, 9, 1);
    mig_add_case("/mapped-ram/io-uring/4", test_io_uring_4, false);
    mig_add_case("/mapped-ram/io-uring/direct", test_io_uring_direct, false);
    mig_add_case("/mapped-ram/io-uring/full-disk", test_io_uring_full_disk,
                 false);
    return g_test_run();
}
