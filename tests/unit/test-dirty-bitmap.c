/*
 * Block dirty bitmaps (block/dirty-bitmap.c) and the BlockBackend calls
 * that feed them (blk_pwrite, blk_pwrite_zeroes, blk_block_status).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/option.h"
#include "qemu/thread.h"
#include "block/block-backend.h"
#include "block/dirty-bitmap.h"

#define DISK_SIZE (4 * 1024 * 1024 + 512 * 3)   /* not granule-aligned */
#define GRAN 65536

static char *image_path;
static int drive_counter;

/* A fresh sparse raw image and its backend. */
static BlockBackend *test_drive(uint64_t size)
{
    g_autofree char *spec = NULL;
    g_autoptr(QemuOpts) opts = NULL;
    BlockBackend *blk;
    int fd;

    g_free(image_path);
    image_path = g_strdup_printf("%s/test-dirty-bitmap-%d-%d.img",
                                 g_get_tmp_dir(), getpid(), drive_counter);
    fd = open(image_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, size), ==, 0);
    close(fd);
    spec = g_strdup_printf("file=%s,format=raw,if=none,id=d%d", image_path,
                           drive_counter++);
    opts = qemu_opts_parse(spec, NULL, &error_abort);
    blk = drive_new(opts, &error_abort);
    g_assert_nonnull(blk);
    return blk;
}

static void test_done(void)
{
    blk_close_all();
    unlink(image_path);
}

static void test_create_errors(void)
{
    BlockBackend *blk = test_drive(DISK_SIZE);
    g_autofree char *long_name = g_strnfill(1024, 'x');
    BdrvDirtyBitmap *bm;
    Error *err = NULL;

    g_assert_null(bdrv_create_dirty_bitmap(blk, 4096 + 1, "a", &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "power of 2"));
    g_clear_pointer(&err, error_free);
    g_assert_null(bdrv_create_dirty_bitmap(blk, 256, "a", &err));
    g_clear_pointer(&err, error_free);
    g_assert_null(bdrv_create_dirty_bitmap(blk, GRAN, "", &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "empty"));
    g_clear_pointer(&err, error_free);
    g_assert_null(bdrv_create_dirty_bitmap(blk, GRAN, long_name, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "too long"));
    g_clear_pointer(&err, error_free);

    bm = bdrv_create_dirty_bitmap(blk, GRAN, "a", &error_abort);
    g_assert_null(bdrv_create_dirty_bitmap(blk, GRAN, "a", &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "Bitmap already exists: a");
    g_clear_pointer(&err, error_free);
    g_assert_true(bdrv_find_dirty_bitmap(blk, "a") == bm);
    g_assert_null(bdrv_find_dirty_bitmap(blk, "b"));
    g_assert_cmpstr(bdrv_dirty_bitmap_name(bm), ==, "a");
    g_assert_true(bdrv_dirty_bitmap_blk(bm) == blk);
    g_assert_cmpuint(bdrv_dirty_bitmap_granularity(bm), ==, GRAN);
    g_assert_cmpuint(bdrv_dirty_bitmap_size(bm), ==, DISK_SIZE);
    g_assert_true(bdrv_dirty_bitmap_enabled(bm));
    g_assert_false(bdrv_dirty_bitmap_persistent(bm));
    bdrv_dirty_bitmap_set_persistent(bm, true);
    g_assert_true(bdrv_dirty_bitmap_persistent(bm));
    test_done();
}

static void test_list(void)
{
    BlockBackend *blk = test_drive(DISK_SIZE);
    BdrvDirtyBitmap *a = bdrv_create_dirty_bitmap(blk, GRAN, "a",
                                                  &error_abort);
    BdrvDirtyBitmap *anon = bdrv_create_dirty_bitmap(blk, 512, NULL,
                                                     &error_abort);
    BdrvDirtyBitmap *b = bdrv_create_dirty_bitmap(blk, 4096, "b",
                                                  &error_abort);
    GPtrArray *list = bdrv_dirty_bitmap_list(blk);

    /* Anonymous bitmaps are internal: never listed. */
    g_assert_cmpuint(list->len, ==, 2);
    g_assert_true(g_ptr_array_index(list, 0) == a);
    g_assert_true(g_ptr_array_index(list, 1) == b);
    g_ptr_array_free(list, true);
    bdrv_release_dirty_bitmap(a);
    g_assert_null(bdrv_find_dirty_bitmap(blk, "a"));
    list = bdrv_dirty_bitmap_list(blk);
    g_assert_cmpuint(list->len, ==, 1);
    g_ptr_array_free(list, true);
    bdrv_release_dirty_bitmap(anon);
    test_done();        /* releases b with its backend */
}

static void test_set_reset(void)
{
    BlockBackend *blk = test_drive(DISK_SIZE);
    BdrvDirtyBitmap *bm = bdrv_create_dirty_bitmap(blk, GRAN, "bm",
                                                   &error_abort);

    g_assert_cmpuint(bdrv_get_dirty_count(bm), ==, 0);
    /* One byte dirties its whole granule. */
    bdrv_set_dirty_bitmap(bm, GRAN + 5, 1);
    g_assert_false(bdrv_dirty_bitmap_get(bm, 0));
    g_assert_true(bdrv_dirty_bitmap_get(bm, GRAN));
    g_assert_true(bdrv_dirty_bitmap_get(bm, 2 * GRAN - 1));
    g_assert_false(bdrv_dirty_bitmap_get(bm, 2 * GRAN));
    g_assert_cmpuint(bdrv_get_dirty_count(bm), ==, GRAN);
    /* A range straddling a boundary dirties both granules. */
    bdrv_set_dirty_bitmap(bm, 4 * GRAN - 1, 2);
    g_assert_cmpuint(bdrv_get_dirty_count(bm), ==, 3 * GRAN);
    bdrv_reset_dirty_bitmap(bm, 3 * GRAN, GRAN);
    g_assert_false(bdrv_dirty_bitmap_get(bm, 3 * GRAN));
    g_assert_true(bdrv_dirty_bitmap_get(bm, 4 * GRAN));
    /* The last, partial granule counts only up to the disk size. */
    bdrv_set_dirty_bitmap(bm, DISK_SIZE - 1, 1);
    g_assert_true(bdrv_dirty_bitmap_get(bm, DISK_SIZE - 1));
    g_assert_false(bdrv_dirty_bitmap_get(bm, DISK_SIZE + GRAN));
    bdrv_clear_dirty_bitmap(bm);
    g_assert_cmpuint(bdrv_get_dirty_count(bm), ==, 0);
    bdrv_set_dirty_bitmap(bm, 0, DISK_SIZE);
    g_assert_cmpuint(bdrv_get_dirty_count(bm), ==, DISK_SIZE);
    /* Out of range is ignored, never a crash. */
    bdrv_set_dirty_bitmap(bm, DISK_SIZE * 2, 4096);
    bdrv_reset_dirty_bitmap(bm, UINT64_MAX - 10, 100);
    g_assert_cmpuint(bdrv_get_dirty_count(bm), ==, DISK_SIZE);
    test_done();
}

static void test_test_and_reset_next(void)
{
    BlockBackend *blk = test_drive(DISK_SIZE);
    BdrvDirtyBitmap *bm = bdrv_create_dirty_bitmap(blk, GRAN, "bm",
                                                   &error_abort);

    g_assert_cmpint(bdrv_dirty_bitmap_next_dirty(bm, 0, DISK_SIZE), ==, -1);
    bdrv_set_dirty_bitmap(bm, 10 * GRAN, 1);
    bdrv_set_dirty_bitmap(bm, 40 * GRAN, GRAN);
    g_assert_cmpint(bdrv_dirty_bitmap_next_dirty(bm, 0, DISK_SIZE), ==,
                    10 * GRAN);
    /* Inside a dirty granule: the offset itself. */
    g_assert_cmpint(bdrv_dirty_bitmap_next_dirty(bm, 10 * GRAN + 7,
                                                 DISK_SIZE), ==,
                    10 * GRAN + 7);
    g_assert_cmpint(bdrv_dirty_bitmap_next_dirty(bm, 11 * GRAN, DISK_SIZE),
                    ==, 40 * GRAN);
    g_assert_cmpint(bdrv_dirty_bitmap_next_dirty(bm, 11 * GRAN, 40 * GRAN),
                    ==, -1);
    g_assert_cmpint(bdrv_dirty_bitmap_next_dirty(bm, 5, 5), ==, -1);

    g_assert_false(bdrv_dirty_bitmap_test_and_reset(bm, 0, 10 * GRAN));
    g_assert_true(bdrv_dirty_bitmap_test_and_reset(bm, 0, 16 * GRAN));
    g_assert_false(bdrv_dirty_bitmap_test_and_reset(bm, 0, 16 * GRAN));
    g_assert_false(bdrv_dirty_bitmap_get(bm, 10 * GRAN));
    g_assert_true(bdrv_dirty_bitmap_get(bm, 40 * GRAN));
    g_assert_true(bdrv_dirty_bitmap_test_and_reset(bm, 40 * GRAN, 1));
    g_assert_cmpuint(bdrv_get_dirty_count(bm), ==, 0);
    test_done();
}

static void test_serialize(void)
{
    BlockBackend *blk = test_drive(DISK_SIZE);
    BdrvDirtyBitmap *src = bdrv_create_dirty_bitmap(blk, 512, "src",
                                                    &error_abort);
    BdrvDirtyBitmap *dst = bdrv_create_dirty_bitmap(blk, 512, "dst",
                                                    &error_abort);
    /* One serialisation chunk: 64 bits x 512 B x 8 words. */
    const uint64_t chunk = 512 * 64 * 8;
    uint64_t total = bdrv_dirty_bitmap_serialization_size(src, 0, DISK_SIZE);
    g_autofree uint8_t *buf = g_malloc(total);
    g_autofree char *h1 = NULL, *h2 = NULL;
    uint8_t first[8];

    /* 8195 bits, rounded up to 129 words. */
    g_assert_cmpuint(total, ==, 129 * 8);
    g_assert_cmpuint(bdrv_dirty_bitmap_serialization_size(src, 0, chunk),
                     ==, 64);
    for (uint64_t off = 0; off < DISK_SIZE; off += 512 * 7) {
        bdrv_set_dirty_bitmap(src, off, 1);
    }
    bdrv_set_dirty_bitmap(src, DISK_SIZE - 1, 1);

    /* Little-endian layout: bit N is bit N % 8 of byte N / 8. */
    bdrv_dirty_bitmap_serialize_part(src, first, 0, 64 * 512);
    g_assert_cmphex(first[0], ==, 0x81);       /* bits 0 and 7 */
    g_assert_cmphex(first[1], ==, 0x40);       /* bit 14 */

    /* Round trip in chunks, with the tail short. */
    for (uint64_t off = 0; off < DISK_SIZE; off += chunk) {
        uint64_t n = MIN(chunk, DISK_SIZE - off);
        uint64_t len = bdrv_dirty_bitmap_serialization_size(src, off, n);

        memset(buf, 0xa5, len);
        bdrv_dirty_bitmap_serialize_part(src, buf, off, n);
        bdrv_dirty_bitmap_deserialize_part(dst, buf, off, n);
    }
    g_assert_cmpuint(bdrv_get_dirty_count(dst), ==,
                     bdrv_get_dirty_count(src));
    h1 = bdrv_dirty_bitmap_sha256(src);
    h2 = bdrv_dirty_bitmap_sha256(dst);
    g_assert_cmpstr(h1, ==, h2);
    g_assert_cmpuint(strlen(h1), ==, 64);

    /* Deserialising replaces bits, and never sets bits past the end. */
    memset(buf, 0xff, total);
    bdrv_dirty_bitmap_deserialize_part(dst, buf, 0, DISK_SIZE);
    g_assert_cmpuint(bdrv_get_dirty_count(dst), ==, DISK_SIZE);
    memset(buf, 0, total);
    bdrv_dirty_bitmap_deserialize_part(dst, buf, 0, DISK_SIZE);
    g_assert_cmpuint(bdrv_get_dirty_count(dst), ==, 0);
    test_done();
}

static void test_sha256_empty(void)
{
    BlockBackend *blk = test_drive(DISK_SIZE);
    BdrvDirtyBitmap *a = bdrv_create_dirty_bitmap(blk, GRAN, "a",
                                                  &error_abort);
    BdrvDirtyBitmap *b = bdrv_create_dirty_bitmap(blk, GRAN, "b",
                                                  &error_abort);
    g_autofree char *ha = bdrv_dirty_bitmap_sha256(a);
    g_autofree char *hb = NULL;

    bdrv_set_dirty_bitmap(b, 0, 1);
    hb = bdrv_dirty_bitmap_sha256(b);
    g_assert_cmpstr(ha, !=, hb);
    test_done();
}

static void test_writes_mark(void)
{
    BlockBackend *blk = test_drive(DISK_SIZE);
    BdrvDirtyBitmap *on = bdrv_create_dirty_bitmap(blk, 4096, "on",
                                                   &error_abort);
    BdrvDirtyBitmap *off = bdrv_create_dirty_bitmap(blk, 4096, "off",
                                                    &error_abort);
    uint8_t data[512];

    memset(data, 0x5a, sizeof(data));
    bdrv_dirty_bitmap_set_enabled(off, false);
    g_assert_false(bdrv_dirty_bitmap_enabled(off));
    g_assert_cmpint(blk_pwrite(blk, 8192 + 512, data, sizeof(data)), ==,
                    sizeof(data));
    g_assert_true(bdrv_dirty_bitmap_get(on, 8192));
    g_assert_cmpuint(bdrv_get_dirty_count(on), ==, 4096);
    g_assert_cmpuint(bdrv_get_dirty_count(off), ==, 0);
    g_assert_cmpint(blk_pwrite_zeroes(blk, 65536, 65536), ==, 0);
    g_assert_cmpuint(bdrv_get_dirty_count(on), ==, 4096 + 65536);
    /* A failed write (past the end) marks nothing. */
    g_assert_cmpint(blk_pwrite(blk, DISK_SIZE, data, 1), <, 0);
    g_assert_cmpuint(bdrv_get_dirty_count(on), ==, 4096 + 65536);
    test_done();
}

static void test_block_status(void)
{
    BlockBackend *blk = test_drive(DISK_SIZE);
    g_autofree uint8_t *data = g_malloc(1024 * 1024);
    g_autofree uint8_t *back = g_malloc(1024 * 1024);
    uint64_t pnum, off;
    bool alloc;
    Error *err = NULL;

    g_assert_true(blk_block_status(blk, 0, &alloc, &pnum, &error_abort));
    g_assert_false(alloc);
    g_assert_cmpuint(pnum, ==, DISK_SIZE);

    memset(data, 0x33, 1024 * 1024);
    g_assert_cmpint(blk_pwrite(blk, 1024 * 1024, data, 1024 * 1024), ==,
                    1024 * 1024);
    g_assert_true(blk_block_status(blk, 0, &alloc, &pnum, &error_abort));
    g_assert_false(alloc);
    g_assert_cmpuint(pnum, <=, 1024 * 1024);
    g_assert_true(blk_block_status(blk, 1024 * 1024, &alloc, &pnum,
                                   &error_abort));
    g_assert_true(alloc);
    g_assert_cmpuint(pnum, >=, 1024 * 1024);

    /* Zeroing reads back as zeros, and punches a hole where it can. */
    g_assert_cmpint(blk_pwrite_zeroes(blk, 1024 * 1024, 1024 * 1024), ==, 0);
    g_assert_cmpint(blk_pread(blk, 1024 * 1024, back, 1024 * 1024), ==,
                    1024 * 1024);
    memset(data, 0, 1024 * 1024);
    g_assert_cmpmem(back, 1024 * 1024, data, 1024 * 1024);
    for (off = 0; off < DISK_SIZE; off += pnum) {
        g_assert_true(blk_block_status(blk, off, &alloc, &pnum,
                                       &error_abort));
        g_assert_cmpuint(pnum, >, 0);
        g_assert_cmpuint(off + pnum, <=, DISK_SIZE);
    }
    g_assert_false(blk_block_status(blk, DISK_SIZE, &alloc, &pnum, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "beyond the end"));
    error_free(err);
    g_assert_cmpint(blk_flush(blk), ==, 0);
    g_assert_false(blk_is_read_only(blk));
    test_done();
}

/* Writers on threads while a "migration" thread takes chunks' bits. */
#define MARK_THREADS 4
#define MARK_ROUNDS 20000

typedef struct MarkArgs {
    BlockBackend *blk;
    int id;
    uint8_t *seen;          /* per granule: how many marks were taken */
} MarkArgs;

static void *mark_thread(void *opaque)
{
    MarkArgs *args = opaque;
    uint64_t granules = DISK_SIZE / GRAN;

    for (int i = 0; i < MARK_ROUNDS; i++) {
        uint64_t g = (i * 7 + args->id * 13) % granules;

        blk_dirty_bitmaps_mark(args->blk, g * GRAN + args->id, 100);
    }
    return NULL;
}

static void test_concurrent_marking(void)
{
    BlockBackend *blk = test_drive(DISK_SIZE);
    BdrvDirtyBitmap *track = bdrv_create_dirty_bitmap(blk, GRAN, NULL,
                                                      &error_abort);
    BdrvDirtyBitmap *all = bdrv_create_dirty_bitmap(blk, GRAN, "all",
                                                    &error_abort);
    QemuThread threads[MARK_THREADS];
    MarkArgs args[MARK_THREADS];
    uint64_t granules = DISK_SIZE / GRAN;
    g_autofree bool *taken = g_new0(bool, granules);

    for (int t = 0; t < MARK_THREADS; t++) {
        args[t] = (MarkArgs){ .blk = blk, .id = t };
        qemu_thread_create(&threads[t], "mark", mark_thread, &args[t],
                           QEMU_THREAD_JOINABLE);
    }
    /* Take bits while they are being set, as block migration does. */
    for (int round = 0; round < 200; round++) {
        for (uint64_t g = 0; g < granules; g++) {
            if (bdrv_dirty_bitmap_test_and_reset(track, g * GRAN, GRAN)) {
                taken[g] = true;
            }
        }
    }
    for (int t = 0; t < MARK_THREADS; t++) {
        qemu_thread_join(&threads[t]);
    }
    /* Every granule written is either taken or still dirty: none lost. */
    for (uint64_t g = 0; g < granules; g++) {
        bool written = bdrv_dirty_bitmap_get(all, g * GRAN);
        bool tracked = taken[g] || bdrv_dirty_bitmap_get(track, g * GRAN);

        g_assert_cmpint(written, ==, tracked);
    }
    g_assert_cmpuint(bdrv_get_dirty_count(all), >, 0);
    bdrv_release_dirty_bitmap(track);
    test_done();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/dirty-bitmap/create-errors", test_create_errors);
    g_test_add_func("/dirty-bitmap/list", test_list);
    g_test_add_func("/dirty-bitmap/set-reset", test_set_reset);
    g_test_add_func("/dirty-bitmap/test-and-reset-next",
                    test_test_and_reset_next);
    g_test_add_func("/dirty-bitmap/serialize", test_serialize);
    g_test_add_func("/dirty-bitmap/sha256", test_sha256_empty);
    g_test_add_func("/dirty-bitmap/writes-mark", test_writes_mark);
    g_test_add_func("/dirty-bitmap/block-status", test_block_status);
    g_test_add_func("/dirty-bitmap/concurrent-marking",
                    test_concurrent_marking);
    return g_test_run();
}
