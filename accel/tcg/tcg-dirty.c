/*
 * Dirty page tracking for the software accelerator.
 *
 * Every engine has a UC_HOOK_MEM_WRITE hook from its creation; while
 * logging is on it sets the page's bit in a per-RAMBlock bitmap of this
 * file, otherwise it returns at once.  Measured on this project's hosts
 * (docs/devel/migration/tcg.md): no write missed, a few per cent of guest
 * speed; the alternatives (userfaultfd write-protect, mprotect) cost
 * 14-31 us per first write of a page per round, and Linux soft-dirty is
 * compiled out of these kernels.  The hook is not added and removed with
 * logging because Unicorn only applies a hook change to new translations,
 * and its translation flush resets (memsets) its whole code buffer: over a
 * second and up to 1 GiB of RSS.
 *
 * The hook runs *before* the store it reports.  A sync therefore takes
 * the bits first and then waits until every executing vCPU has entered a
 * new translation block (tcg_cpu_wait_boundary): by then every store
 * whose bit it took has landed, so the page migration reads next is not
 * older than the bit says.  A store whose hook runs after the take sets
 * its bit again for the next sync.  Start waits for a boundary too, after
 * turning logging on, so no store that saw logging off lands after
 * start() returned.
 *
 * The hook gets the guest's linear address.  Without paging that is the
 * physical address; a guest seen with paging on makes every page count as
 * dirty at each sync from then on (correct, slower; no qmig guest pages).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <unicorn/x86.h>
#include "qapi/error.h"
#include "qemu/bitmap.h"
#include "qemu/main-loop.h"
#include "system/dirty-log.h"
#include "tcg-internal.h"
#include "trace.h"

typedef struct TCGDirtySection {
    uint64_t gpa, size;
    uint64_t first_page;        /* the section's first page in its block */
    unsigned long *bits;        /* its block's bitmap */
} TCGDirtySection;

/*
 * Built by the first start() (BQL) and kept: the map does not change
 * after machine creation.  Published to the vCPU threads by the store of
 * tcg_dirty_logging that follows it: the write hook, which runs without
 * the BQL, reads the map only after an acquire load saw logging on.
 * Bits are set by write hooks on any vCPU thread and taken by sync, both
 * with atomics.
 */
static TCGDirtySection *tcg_dirty_secs;
static guint tcg_dirty_nr_secs;
static GHashTable *tcg_dirty_bitmaps;       /* RAMBlock * -> bitmap */

/*
 * Atomic: the hooks record (written under the BQL by start/stop; a
 * release store after the map is built, read with acquire).
 */
static bool tcg_dirty_logging;
/* Atomic: some vCPU ran with paging on while logging. */
static bool tcg_dirty_paging;

static void tcg_dirty_build_map(void)
{
    GPtrArray *secs = guest_mem_sections();

    tcg_dirty_bitmaps = g_hash_table_new_full(NULL, NULL, NULL, g_free);
    tcg_dirty_secs = g_new0(TCGDirtySection, secs->len);
    for (guint i = 0; i < secs->len; i++) {
        GuestMemSection *s = g_ptr_array_index(secs, i);
        unsigned long *bits = g_hash_table_lookup(tcg_dirty_bitmaps,
                                                  s->block);

        if (!bits) {
            bits = bitmap_new(s->block->used_length >> TARGET_PAGE_BITS);
            g_hash_table_insert(tcg_dirty_bitmaps, s->block, bits);
        }
        tcg_dirty_secs[i] = (TCGDirtySection) {
            .gpa = s->gpa, .size = s->size,
            .first_page = s->offset >> TARGET_PAGE_BITS, .bits = bits,
        };
    }
    tcg_dirty_nr_secs = secs->len;
}

static void tcg_dirty_mark(uint64_t gpa)
{
    for (guint i = 0; i < tcg_dirty_nr_secs; i++) {
        TCGDirtySection *s = &tcg_dirty_secs[i];

        if (gpa - s->gpa < s->size) {
            uint64_t page = s->first_page + ((gpa - s->gpa) >>
                                             TARGET_PAGE_BITS);
            unsigned long *w = &s->bits[BIT_WORD(page)];
            unsigned long mask = BIT_MASK(page);

            /* Most stores hit a page already marked: read first. */
            if (!(__atomic_load_n(w, __ATOMIC_RELAXED) & mask)) {
                __atomic_fetch_or(w, mask, __ATOMIC_RELAXED);
            }
            return;
        }
    }
}

void tcg_dirty_write_hook(uc_engine *uc, uc_mem_type type, uint64_t addr,
                          int size, int64_t value, void *opaque)
{
    /* Acquire: the map start() built before turning logging on. */
    if (!__atomic_load_n(&tcg_dirty_logging, __ATOMIC_ACQUIRE)) {
        return;
    }
    tcg_dirty_mark(addr);
    if (((addr + size - 1) ^ addr) >> TARGET_PAGE_BITS) {
        tcg_dirty_mark(addr + size - 1);    /* a store across two pages */
    }
}

void tcg_dirty_note_paging(TCGCPU *tc)
{
    uint64_t cr0 = 0;

    assert(bql_locked());
    if (!__atomic_load_n(&tcg_dirty_logging, __ATOMIC_RELAXED)) {
        return;
    }
    uc_reg_read(tc->uc, UC_X86_REG_CR0, &cr0);
    if (cr0 & 0x80000000) {
        __atomic_store_n(&tcg_dirty_paging, true, __ATOMIC_SEQ_CST);
    }
}

static bool tcg_dirty_start(Error **errp)
{
    bool took_bql = !bql_locked();
    int64_t t0 = get_clock_ns();

    if (took_bql) {
        bql_lock();
    }
    if (!tcg_dirty_secs) {
        tcg_dirty_build_map();
    }
    __atomic_store_n(&tcg_dirty_paging, false, __ATOMIC_SEQ_CST);
    __atomic_store_n(&tcg_dirty_logging, true, __ATOMIC_SEQ_CST);
    if (took_bql) {
        bql_unlock();
    }
    /* A store whose hook still saw logging off lands before we return. */
    tcg_cpu_wait_boundary();
    trace_tcg_dirty_start((get_clock_ns() - t0) / 1000);
    return true;
}

static void tcg_dirty_stop(void)
{
    __atomic_store_n(&tcg_dirty_logging, false, __ATOMIC_SEQ_CST);
    trace_tcg_dirty_stop();
}

/* Take @rb's bits into @bitmap (word by word); bits newly set there. */
static uint64_t tcg_dirty_take(unsigned long *bits, unsigned long *bitmap,
                               uint64_t pages)
{
    uint64_t words = BITS_TO_LONGS(pages);
    uint64_t added = 0;

    for (uint64_t i = 0; i < words; i++) {
        unsigned long w;

        if (!__atomic_load_n(&bits[i], __ATOMIC_RELAXED)) {
            continue;
        }
        w = __atomic_exchange_n(&bits[i], 0, __ATOMIC_SEQ_CST);
        added += __builtin_popcountl(w & ~bitmap[i]);
        bitmap[i] |= w;
    }
    return added;
}

static uint64_t tcg_dirty_sync(RAMBlock *rb, unsigned long *bitmap)
{
    uint64_t pages = rb->used_length >> TARGET_PAGE_BITS;
    unsigned long *bits = tcg_dirty_bitmaps ?
                          g_hash_table_lookup(tcg_dirty_bitmaps, rb) : NULL;
    int64_t t0 = get_clock_ns();
    uint64_t added = 0;

    if (bits) {
        added = tcg_dirty_take(bits, bitmap, pages);
    }
    /* Let every store whose bit was just taken land before the caller
     * reads those pages. */
    tcg_cpu_wait_boundary();
    if (__atomic_load_n(&tcg_dirty_paging, __ATOMIC_SEQ_CST)) {
        uint64_t before = bitmap_count_one(bitmap, pages);

        bitmap_set(bitmap, 0, pages);
        added += pages - before;
    }
    trace_tcg_dirty_sync(rb->idstr, added, (get_clock_ns() - t0) / 1000);
    return added;
}

const DirtyLogOps tcg_dirty_log_ops = {
    .start = tcg_dirty_start,
    .stop = tcg_dirty_stop,
    .sync = tcg_dirty_sync,
};
