/*
 * Seed corpus for the migration fuzzer, written by the real save path.
 *
 * A stream saved by qmig from a real guest is megabytes of pages; the
 * fuzzer learns nothing more from the thousandth page than from the
 * first.  Instead each seed is a complete precopy stream saved in this
 * process, through the same registrations the fuzzer loads into, from a
 * 2 MiB "pc.ram" holding a handful of non-zero (and some zero) pages:
 * header, configuration, the "ram" SECTION_START (block list), PARTs
 * from iteration (with pages dirtied between passes so that several
 * PARTs carry records, CONTINUE flags included), the END, the device
 * SECTION_FULLs with their subsections, EOF and the vmdesc.  Every seed
 * must load back cleanly; the generator checks that, so a seed corpus
 * that the loader rejects (a format drift between save and load) fails
 * loudly instead of quietly fuzzing only the error paths.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/mman.h>
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "io/channel-buffer.h"
#include "migration/qemu-file.h"
#include "migration/savevm.h"
#include "monitor/qmp-commands.h"
#include "block/block-backend.h"
#include "../../migration/return-path.h"
#include "fuzz-common.h"
#include "fuzz-target.h"

#define PAGE TARGET_PAGE_SIZE

/* What one seed contains. */
typedef struct FuzzSeed {
    const char *name;
    unsigned device_variant;
    unsigned nonzero_pages;     /* written before setup */
    unsigned zero_pages;        /* populated, but all zeros (ZERO records) */
    unsigned dirty_rounds;      /* iterations with pages dirtied between */
    bool keep_vmdesc;           /* else the trailing vmdesc is cut off */
    unsigned caps;              /* FUZZ_CAP_*: both ends, and byte 0 */
} FuzzSeed;

static const FuzzSeed fuzz_seeds[] = {
    { "empty-ram",      0, 0, 0, 0, true },
    { "devices-only",   1, 0, 0, 0, false },
    { "few-pages",      1, 3, 0, 0, false },
    { "zero-pages",     2, 0, 4, 0, false },
    { "mixed",          3, 4, 3, 0, false },
    { "dirty-rounds",   4, 2, 1, 3, false },
    { "scattered",      5, 6, 2, 1, false },
    { "xbzrle",         1, 5, 1, 3, false, FUZZ_CAP_XBZRLE },
    { "block",          2, 2, 0, 1, false, FUZZ_CAP_BLOCK },
    { "dirty-bitmaps",  3, 2, 0, 0, false, FUZZ_CAP_DIRTY_BITMAPS },
    { "return-path",    1, 2, 1, 0, false, FUZZ_CAP_RETURN_PATH },
    { "release-ram",    1, 3, 0, 1, false, FUZZ_CAP_RELEASE_RAM },
    { "postcopy",       4, 4, 1, 1, false, FUZZ_CAP_POSTCOPY_RAM },
    { "postcopy-xbzrle", 2, 3, 0, 2, false,
      FUZZ_CAP_POSTCOPY_RAM | FUZZ_CAP_XBZRLE },
    { "everything",     5, 4, 2, 2, true,
      FUZZ_CAP_XBZRLE | FUZZ_CAP_BLOCK | FUZZ_CAP_DIRTY_BITMAPS |
      FUZZ_CAP_POSTCOPY_RAM },
};

/* Disk sectors with data, and a dirty bitmap, for block and bitmaps. */
static void fuzz_seed_block_state(const FuzzSeed *seed)
{
    BlockBackend *blk = blk_by_name(FUZZ_DISK_ID);
    JsonObject *args = json_object_new();     /* qmp_call's */
    JsonNode *ret = NULL;
    Error *err = NULL;
    uint8_t buf[512];

    for (int i = 0; i < 4; i++) {
        memset(buf, 0x40 + i, sizeof(buf));
        blk_pwrite(blk, i * 16 * KiB, buf, sizeof(buf));
    }
    json_object_set_string_member(args, "node", FUZZ_DISK_ID);
    json_object_set_string_member(args, "name", "fuzz-bitmap");
    json_object_set_boolean_member(args, "persistent", false);
    bql_lock();
    /* The last load-back's destination reset removed it. */
    qmp_call("block-dirty-bitmap-add", args, &ret, &err);
    bql_unlock();
    error_free(err);
    if (ret) {
        json_node_unref(ret);
    }
}

/* Write page @n of guest RAM with a pattern that names it. */
static void fuzz_seed_write_page(uint64_t n, uint8_t fill)
{
    uint8_t buf[PAGE];

    memset(buf, fill, sizeof(buf));
    memcpy(buf, &n, sizeof(n));
    guest_mem_write(n * PAGE, buf, sizeof(buf), &error_abort);
}

/*
 * Lay out guest RAM: discard it all, then write the pages the seed
 * asks for, spread over the block (first and last page included).
 */
static void fuzz_seed_fill_ram(const FuzzSeed *seed)
{
    RAMBlock *rb = fuzz_target_ram();
    uint64_t pages = rb->used_length / PAGE;

    if (madvise(rb->host, rb->used_length, MADV_DONTNEED) < 0) {
        perror("fuzz: madvise");
        abort();
    }
    for (unsigned i = 0; i < seed->nonzero_pages; i++) {
        uint64_t n = i == 0 ? 0 : i == 1 ? pages - 1 : (i * 37) % pages;

        fuzz_seed_write_page(n, 0x10 + i);
    }
    for (unsigned i = 0; i < seed->zero_pages; i++) {
        uint64_t n = 100 + i * 3;

        /* Touch, then clear: populated but zero, so sent as ZERO. */
        fuzz_seed_write_page(n, 0xff);
        memset(rb->host + n * PAGE, 0, PAGE);
    }
}

/* Iterate to completion, dirtying one page before each extra round. */
static void fuzz_seed_iterate(QEMUFile *f, const FuzzSeed *seed)
{
    uint64_t must, can;

    for (unsigned round = 0; round <= seed->dirty_rounds; round++) {
        if (round) {
            fuzz_seed_write_page(200 + round, 0xa0 + round);
            qemu_savevm_state_pending_exact(&must, &can);
        }
        while (qemu_savevm_state_iterate(f) == 0) {
            /* the rate limit is off: each call sends until done */
        }
    }
}

/*
 * The switch to postcopy (DISCARDs, PACKAGED: LISTEN, devices, RUN),
 * pages dirtied after it, then the end.  BQL held.
 */
static bool fuzz_seed_postcopy(QEMUFile *f, const FuzzSeed *seed,
                               Error **errp)
{
    if (!qemu_savevm_state_postcopy_switch(f, errp)) {
        return false;
    }
    fuzz_seed_write_page(300, 0xc3);
    while (qemu_savevm_state_iterate(f) == 0) {
        /* postcopy iterates without a rate limit */
    }
    return qemu_savevm_state_complete_postcopy(f, errp);
}

/* Save one complete stream; returns its bytes. */
static GBytes *fuzz_seed_save(const FuzzSeed *seed, Error **errp)
{
    QIOChannel *ioc = qio_channel_buffer_new(64 * KiB);
    QEMUFile *f = qemu_file_new_output(ioc);
    uint8_t *data;
    size_t len;
    bool ok;

    bql_lock();
    fuzz_qmig_set_caps(seed->caps);
    fuzz_devices_set_state(seed->device_variant);
    bql_unlock();
    fuzz_seed_fill_ram(seed);
    if (seed->caps & (FUZZ_CAP_BLOCK | FUZZ_CAP_DIRTY_BITMAPS)) {
        fuzz_seed_block_state(seed);
    }
    qemu_savevm_state_header(f);
    if (seed->caps & (FUZZ_CAP_RETURN_PATH | FUZZ_CAP_POSTCOPY_RAM)) {
        /* What migration_rp_start() sends (the rp thread is not run). */
        uint8_t ping[4] = { 0, 0, 0, 1 };

        qemu_savevm_send_command(f, MIG_CMD_OPEN_RETURN_PATH, 0, NULL);
        qemu_savevm_send_command(f, MIG_CMD_PING, sizeof(ping), ping);
    }
    ok = qemu_savevm_state_setup(f, errp);
    if (ok && (seed->caps & FUZZ_CAP_POSTCOPY_RAM)) {
        qemu_savevm_send_postcopy_advise(f);
    }
    if (ok) {
        fuzz_seed_iterate(f, seed);
        bql_lock();
        if (seed->caps & FUZZ_CAP_POSTCOPY_RAM) {
            ok = fuzz_seed_postcopy(f, seed, errp);
        } else {
            ok = qemu_savevm_state_complete_precopy(f, errp);
        }
        bql_unlock();
    }
    qemu_savevm_state_cleanup();
    if (qemu_fclose(f) < 0 && ok) {
        error_setg(errp, "seed '%s': the save stream failed", seed->name);
        ok = false;
    }
    data = qio_channel_buffer_dup_data(ioc, &len);
    qio_channel_unref(ioc);
    if (!ok) {
        g_free(data);
        return NULL;
    }
    return g_bytes_new_take(data, len);
}

/*
 * The vmdesc after EOF is JSON for tools, which the loader skips
 * unparsed: in most seeds it would only dilute the mutations.  It is the
 * stream's tail: 0x06, be32 length, that many bytes.
 */
static size_t fuzz_seed_strip_vmdesc(const uint8_t *data, size_t len)
{
    for (size_t p = len >= 5 ? len - 5 : 0; p > 0; p--) {
        uint32_t n = (uint32_t)data[p + 1] << 24 | data[p + 2] << 16 |
                     data[p + 3] << 8 | data[p + 4];

        if (data[p] == QEMU_VM_VMDESCRIPTION && n == len - p - 5) {
            return p;
        }
    }
    return len;
}

static bool fuzz_seed_write(const char *dir, const FuzzSeed *seed,
                            Error **errp)
{
    g_autoptr(GBytes) bytes = fuzz_seed_save(seed, errp);
    g_autofree uint8_t *data = NULL;
    const uint8_t *stream;
    size_t len;

    if (!bytes) {
        return false;
    }
    stream = g_bytes_get_data(bytes, &len);
    if (!seed->keep_vmdesc) {
        len = fuzz_seed_strip_vmdesc(stream, len);
    }
    /* Byte 0: the capabilities the destination runs with. */
    data = g_malloc(len + 1);
    data[0] = seed->caps;
    memcpy(data + 1, stream, len);
    len++;
    if (!fuzz_load_stream(data, len, errp)) {
        error_prepend(errp, "seed '%s' does not load back: ", seed->name);
        return false;
    }
    return fuzz_write_seed(dir, seed->name, data, len, errp);
}

bool fuzz_make_seeds(const char *dir, Error **errp)
{
    fuzz_target_init();
    for (size_t i = 0; i < G_N_ELEMENTS(fuzz_seeds); i++) {
        if (!fuzz_seed_write(dir, &fuzz_seeds[i], errp)) {
            return false;
        }
    }
    return true;
}

/*
 * The "postcopy" seed's stream with @caps for the destination (byte 0),
 * for the preempt channel's target: a main stream that goes through
 * ADVISE, LISTEN and RUN.
 */
GBytes *fuzz_seed_postcopy_stream(unsigned caps, Error **errp)
{
    FuzzSeed seed = { "preempt-main", 4, 4, 1, 1, false,
                      FUZZ_CAP_POSTCOPY_RAM };
    g_autoptr(GBytes) bytes = NULL;
    const uint8_t *stream;
    uint8_t *data;
    size_t len;

    fuzz_target_init();
    bytes = fuzz_seed_save(&seed, errp);
    if (!bytes) {
        return NULL;
    }
    stream = g_bytes_get_data(bytes, &len);
    len = fuzz_seed_strip_vmdesc(stream, len);
    data = g_malloc(len + 1);
    data[0] = caps;
    memcpy(data + 1, stream, len);
    return g_bytes_new_take(data, len + 1);
}
