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
} FuzzSeed;

static const FuzzSeed fuzz_seeds[] = {
    { "empty-ram",      0, 0, 0, 0, true },
    { "devices-only",   1, 0, 0, 0, false },
    { "few-pages",      1, 3, 0, 0, false },
    { "zero-pages",     2, 0, 4, 0, false },
    { "mixed",          3, 4, 3, 0, false },
    { "dirty-rounds",   4, 2, 1, 3, false },
    { "scattered",      5, 6, 2, 1, false },
};

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

/* Save one complete stream; returns its bytes. */
static GBytes *fuzz_seed_save(const FuzzSeed *seed, Error **errp)
{
    QIOChannel *ioc = qio_channel_buffer_new(64 * KiB);
    QEMUFile *f = qemu_file_new_output(ioc);
    uint8_t *data;
    size_t len;
    bool ok;

    fuzz_devices_set_state(seed->device_variant);
    fuzz_seed_fill_ram(seed);
    qemu_savevm_state_header(f);
    ok = qemu_savevm_state_setup(f, errp);
    if (ok) {
        fuzz_seed_iterate(f, seed);
        bql_lock();
        ok = qemu_savevm_state_complete_precopy(f, errp);
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
    g_autofree char *path = NULL;
    g_autoptr(GError) gerr = NULL;
    const uint8_t *data;
    size_t len;

    if (!bytes) {
        return false;
    }
    data = g_bytes_get_data(bytes, &len);
    if (!seed->keep_vmdesc) {
        len = fuzz_seed_strip_vmdesc(data, len);
    }
    if (!fuzz_load_stream(data, len, errp)) {
        error_prepend(errp, "seed '%s' does not load back: ", seed->name);
        return false;
    }
    path = g_strdup_printf("%s/%s.bin", dir, seed->name);
    if (!g_file_set_contents(path, (const char *)data, len, &gerr)) {
        error_setg(errp, "cannot write seed %s: %s", path, gerr->message);
        return false;
    }
    printf("seed %-14s %6zu bytes\n", seed->name, len);
    return true;
}

bool fuzz_make_seeds(const char *dir, Error **errp)
{
    if (g_mkdir_with_parents(dir, 0755) < 0) {
        error_setg_errno(errp, errno, "cannot create seed directory %s",
                         dir);
        return false;
    }
    fuzz_target_init();
    for (size_t i = 0; i < G_N_ELEMENTS(fuzz_seeds); i++) {
        if (!fuzz_seed_write(dir, &fuzz_seeds[i], errp)) {
            return false;
        }
    }
    return true;
}
