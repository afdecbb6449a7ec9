/*
 * XBZRLE for the RAM section (interface and threads in ram-xbzrle.h).
 *
 * Invariant that makes the deltas right: while XBZRLE is in use, the
 * cached copy of a page is exactly what the destination holds for it.
 * So every way a page leaves while started updates its entry: an
 * encoded page and an overflow store the copy that was encoded (taken
 * once, as the guest may write the page meanwhile, and the plain page is
 * then sent from that copy); a miss inserts the page and sends the
 * inserted copy; a zero page stores zeros.  A page whose slot another
 * page holds is simply not cached.  The final pass (VM stopped) needs
 * no cache updates: nothing is sent after it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "system/ramblock.h"
#include "qemu-file.h"
#include "migration-stats.h"
#include "options.h"
#include "page_cache.h"
#include "ram-xbzrle.h"
#include "xbzrle.h"
#include "trace.h"

/* Migration thread only, between setup and cleanup. */
typedef struct RamXbzrleState {
    PageCache *cache;
    bool started;               /* from the first dirty sync on */
    uint64_t failed_size;       /* a resize to this size failed: no retry */
    uint8_t *current;           /* the page as encoded (a stable copy) */
    uint8_t *encoded;           /* the delta */
    uint8_t zero_page[TARGET_PAGE_SIZE];
    /* Counter values at the start of the rate period. */
    uint64_t prev_looked, prev_miss, prev_pages, prev_bytes;
} RamXbzrleState;

/* Counters: written by the migration thread, read anywhere (atomic). */
typedef struct RamXbzrleCounters {
    uint64_t cache_bytes;       /* size of the cache in use, 0: none */
    uint64_t bytes;
    uint64_t pages;
    uint64_t cache_miss;
    uint64_t overflow;
    uint64_t looked;            /* non-zero pages looked up in the cache */
    double cache_miss_rate;
    double encoding_rate;
} RamXbzrleCounters;

static RamXbzrleState *xs;
static RamXbzrleCounters xc;

static void store_double(double *p, double v)
{
    __atomic_store(p, &v, __ATOMIC_RELAXED);
}

static double load_double(double *p)
{
    double v;

    __atomic_load(p, &v, __ATOMIC_RELAXED);
    return v;
}

void ram_xbzrle_get_stats(RamXbzrleStats *out)
{
    out->cache_size = stat64_get(&xc.cache_bytes);
    if (!out->cache_size) {
        out->cache_size = migrate_xbzrle_cache_size();
    }
    out->bytes = stat64_get(&xc.bytes);
    out->pages = stat64_get(&xc.pages);
    out->cache_miss = stat64_get(&xc.cache_miss);
    out->overflow = stat64_get(&xc.overflow);
    out->cache_miss_rate = load_double(&xc.cache_miss_rate);
    out->encoding_rate = load_double(&xc.encoding_rate);
}

/* ---- Source ---- */

static void ram_xbzrle_reset_counters(void)
{
    stat64_set(&xc.cache_bytes, 0);
    stat64_set(&xc.bytes, 0);
    stat64_set(&xc.pages, 0);
    stat64_set(&xc.cache_miss, 0);
    stat64_set(&xc.overflow, 0);
    stat64_set(&xc.looked, 0);
    store_double(&xc.cache_miss_rate, 0);
    store_double(&xc.encoding_rate, 0);
}

bool ram_xbzrle_setup(Error **errp)
{
    PageCache *cache;

    assert(!xs);
    ram_xbzrle_reset_counters();
    if (!migrate_capability(MIGRATION_CAPABILITY_XBZRLE) ||
        migrate_capability(MIGRATION_CAPABILITY_MULTIFD)) {
        return true;
    }
    cache = page_cache_new(migrate_xbzrle_cache_size(), TARGET_PAGE_SIZE,
                           errp);
    if (!cache) {
        error_prepend(errp, "Error creating cache: ");
        return false;
    }
    xs = g_new0(RamXbzrleState, 1);
    xs->cache = cache;
    xs->current = g_malloc(TARGET_PAGE_SIZE);
    xs->encoded = g_malloc(TARGET_PAGE_SIZE);
    stat64_set(&xc.cache_bytes, page_cache_size(cache));
    trace_ram_xbzrle_setup(page_cache_size(cache));
    return true;
}

void ram_xbzrle_cleanup(void)
{
    if (!xs) {
        return;
    }
    page_cache_free(xs->cache);
    g_free(xs->current);
    g_free(xs->encoded);
    g_free(xs);
    xs = NULL;
    stat64_set(&xc.cache_bytes, 0);
}

bool ram_xbzrle_enabled(void)
{
    return xs && xs->started;
}

/*
 * Rates over the period since the previous sync, as QEMU defines them,
 * except that a period with no page looked up (or none encoded) leaves
 * the miss rate (or the encoding rate) as it was rather than zeroing it:
 * the last periods before completion are often a handful of pages.
 */
static void ram_xbzrle_update_rates(void)
{
    uint64_t looked = stat64_get(&xc.looked) - xs->prev_looked;
    uint64_t miss = stat64_get(&xc.cache_miss) - xs->prev_miss;
    uint64_t pages = stat64_get(&xc.pages) - xs->prev_pages;
    uint64_t bytes = stat64_get(&xc.bytes) - xs->prev_bytes;

    if (looked) {
        store_double(&xc.cache_miss_rate, (double)miss / looked);
    }
    if (pages && bytes) {
        store_double(&xc.encoding_rate,
                     (double)pages * TARGET_PAGE_SIZE / bytes);
    }
    xs->prev_looked += looked;
    xs->prev_miss += miss;
    xs->prev_pages += pages;
    xs->prev_bytes += bytes;
    trace_ram_xbzrle_rates(load_double(&xc.cache_miss_rate),
                           load_double(&xc.encoding_rate));
}

void ram_xbzrle_sync(void)
{
    if (!xs) {
        return;
    }
    ram_xbzrle_update_rates();
    xs->started = true;
}

void ram_xbzrle_apply_resize(void)
{
    uint64_t want;
    Error *err = NULL;
    PageCache *c;

    if (!xs) {
        return;
    }
    want = migrate_xbzrle_cache_size();
    if (want == page_cache_size(xs->cache) || want == xs->failed_size) {
        return;
    }
    c = page_cache_resize(xs->cache, want, &err);
    if (!c) {
        /* Go on with the old cache; cache-size shows the one in use. */
        trace_ram_xbzrle_resize_failed(want, error_get_pretty(err));
        error_report("XBZRLE cache not resized, keeping %" PRIu64
                     " bytes: %s", page_cache_size(xs->cache),
                     error_get_pretty(err));
        error_free(err);
        xs->failed_size = want;
        return;
    }
    xs->cache = c;
    xs->failed_size = 0;
    stat64_set(&xc.cache_bytes, page_cache_size(c));
}

static uint64_t ram_xbzrle_generation(void)
{
    return stat64_get(&mig_stats.dirty_sync_count);
}

/* A miss: cache the page (not in the last stage) and send it plainly. */
static RamXbzrleResult ram_xbzrle_miss(uint64_t block, uint64_t offset,
                                       const uint8_t *host, bool last_stage,
                                       const uint8_t **data)
{
    uint8_t *copy = NULL;

    stat64_add(&xc.cache_miss, 1);
    if (!last_stage) {
        copy = page_cache_insert(xs->cache, block, offset, host,
                                 ram_xbzrle_generation());
    }
    *data = copy ? copy : host;
    return RAM_XBZRLE_PLAIN;
}

RamXbzrleResult ram_xbzrle_save_page(uint64_t block, uint64_t offset,
                                     const uint8_t *host, bool last_stage,
                                     const uint8_t **data, int *len)
{
    uint8_t *cached;
    int n;

    assert(ram_xbzrle_enabled());
    stat64_add(&xc.looked, 1);
    cached = page_cache_lookup(xs->cache, block, offset,
                               ram_xbzrle_generation());
    if (!cached) {
        return ram_xbzrle_miss(block, offset, host, last_stage, data);
    }
    /* One stable copy: encoding reads it twice, the guest may write. */
    memcpy(xs->current, host, TARGET_PAGE_SIZE);
    n = xbzrle_encode_buffer(cached, xs->current, TARGET_PAGE_SIZE,
                             xs->encoded, TARGET_PAGE_SIZE);
    if (n == 0) {
        return RAM_XBZRLE_UNCHANGED;
    }
    if (!last_stage) {
        memcpy(cached, xs->current, TARGET_PAGE_SIZE);
    }
    if (n < 0) {
        trace_ram_xbzrle_overflow(block, offset);
        stat64_add(&xc.overflow, 1);
        stat64_add(&xc.bytes, TARGET_PAGE_SIZE);
        *data = last_stage ? host : cached;
        return RAM_XBZRLE_PLAIN;
    }
    *data = xs->encoded;
    *len = n;
    return RAM_XBZRLE_ENCODED;
}

void ram_xbzrle_record_sent(size_t bytes)
{
    stat64_add(&xc.pages, 1);
    stat64_add(&xc.bytes, bytes);
}

void ram_xbzrle_zero_page(uint64_t block, uint64_t offset, bool last_stage)
{
    assert(ram_xbzrle_enabled());
    if (!last_stage) {
        page_cache_insert(xs->cache, block, offset, xs->zero_page,
                          ram_xbzrle_generation());
    }
}

size_t ram_xbzrle_put_body(QEMUFile *f, const uint8_t *data, int len)
{
    qemu_put_byte(f, ENCODING_FLAG_XBZRLE);
    qemu_put_be16(f, len);
    qemu_put_buffer(f, data, len);
    return 1 + 2 + len;
}

/* ---- Destination ---- */

bool ram_xbzrle_load(QEMUFile *f, uint8_t *host, Error **errp)
{
    uint8_t buf[TARGET_PAGE_SIZE];
    int flag = qemu_get_byte(f);
    unsigned int len = qemu_get_be16(f);

    if (qemu_file_get_error(f)) {
        error_setg(errp, "Failed to load XBZRLE page - record is truncated");
        return false;
    }
    if (flag != ENCODING_FLAG_XBZRLE) {
        error_setg(errp, "Failed to load XBZRLE page - wrong compression! "
                   "(encoding flag 0x%x, expected 0x%x)", flag,
                   ENCODING_FLAG_XBZRLE);
        return false;
    }
    if (len > TARGET_PAGE_SIZE) {
        error_setg(errp, "Failed to load XBZRLE page - len overflow! "
                   "(%u encoded bytes, page is %d)", len, TARGET_PAGE_SIZE);
        return false;
    }
    if (qemu_get_buffer(f, buf, len) != len) {
        error_setg(errp, "Failed to load XBZRLE page - record is truncated "
                   "(%u encoded bytes announced)", len);
        return false;
    }
    if (xbzrle_decode_buffer(buf, len, host, TARGET_PAGE_SIZE, errp) < 0) {
        error_prepend(errp, "Failed to load XBZRLE page - decode error: ");
        return false;
    }
    return true;
}
