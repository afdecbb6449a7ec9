/*
 * Dirty page tracking, accelerator-neutral (include/system/dirty-log.h).
 *
 * Everything that wants to know which guest pages were written (the RAM
 * section of migration, calc-dirty-rate, the dirty-limit thread) comes
 * here, and this file hands the guest's writes over to whatever runs the
 * guest: current_accel->dirty_log.  The VMM's own writes (qtest, device
 * DMA, data loaded into RAM) never pass through an accelerator, so they
 * are folded in here from the RAMBlocks' soft dirty bits, once, for every
 * accelerator; with no accelerator at all (-accel qtest) they are all
 * there is.
 *
 * One owner: the log has a single reader at a time (a migration or a
 * calc-dirty-rate measurement; each refuses to start while the other
 * runs), because a sync hands the pages it reports to its caller and
 * re-arms them: a second reader would see only what the first left.
 * A nested dirty_log_start() is therefore refused.
 *
 * Threads: start and stop run in the owner's thread (the migration
 * thread, or the main thread for calc-dirty-rate), sync in the thread
 * doing the measuring, without the BQL; they never overlap.
 * dirty_log_active is atomic so that a sync from any thread sees a start
 * or stop that happened before it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/bitmap.h"
#include "system/accel-ops.h"
#include "system/dirty-log.h"
#include "trace.h"

/* atomic: between a successful dirty_log_start() and dirty_log_stop() */
static bool dirty_log_active;

/* Filled at machine creation (BQL), read-only afterwards. */
static GArray *dirty_log_listeners;

void dirty_log_listener_register(const DirtyLogListener *l)
{
    if (!dirty_log_listeners) {
        dirty_log_listeners = g_array_new(false, false, sizeof(*l));
    }
    g_array_append_vals(dirty_log_listeners, l, 1);
}

static guint dirty_log_nr_listeners(void)
{
    return dirty_log_listeners ? dirty_log_listeners->len : 0;
}

static DirtyLogListener *dirty_log_listener(guint i)
{
    return &g_array_index(dirty_log_listeners, DirtyLogListener, i);
}

/* Stop the first @n listeners, last first. */
static void dirty_log_listeners_stop(guint n)
{
    while (n-- > 0) {
        DirtyLogListener *l = dirty_log_listener(n);

        if (l->log_stop) {
            l->log_stop(l->opaque);
        }
    }
}

static bool dirty_log_listeners_start(Error **errp)
{
    for (guint i = 0; i < dirty_log_nr_listeners(); i++) {
        DirtyLogListener *l = dirty_log_listener(i);

        if (l->log_start && !l->log_start(l->opaque, errp)) {
            dirty_log_listeners_stop(i);
            return false;
        }
    }
    return true;
}

/* The running accelerator's hooks; NULL with no accelerator (qtest). */
static const DirtyLogOps *dirty_log_ops(void)
{
    return current_accel ? current_accel->dirty_log : NULL;
}

const char *dirty_log_accel_name(void)
{
    return current_accel ? current_accel->name : "qtest";
}

bool dirty_log_start(Error **errp)
{
    const DirtyLogOps *ops = dirty_log_ops();
    bool expected = false;

    if (!__atomic_compare_exchange_n(&dirty_log_active, &expected, true,
                                     false, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST)) {
        error_setg(errp, "Dirty page tracking is already running");
        return false;
    }
    if (ops && ops->start && !ops->start(errp)) {
        __atomic_store_n(&dirty_log_active, false, __ATOMIC_SEQ_CST);
        return false;
    }
    if (!dirty_log_listeners_start(errp)) {
        if (ops && ops->stop) {
            ops->stop();
        }
        __atomic_store_n(&dirty_log_active, false, __ATOMIC_SEQ_CST);
        return false;
    }
    trace_dirty_log_start(dirty_log_accel_name());
    return true;
}

void dirty_log_stop(void)
{
    const DirtyLogOps *ops = dirty_log_ops();

    if (!__atomic_load_n(&dirty_log_active, __ATOMIC_SEQ_CST)) {
        return;
    }
    dirty_log_listeners_stop(dirty_log_nr_listeners());
    if (ops && ops->stop) {
        ops->stop();
    }
    __atomic_store_n(&dirty_log_active, false, __ATOMIC_SEQ_CST);
    trace_dirty_log_stop(dirty_log_accel_name());
}

/*
 * Move the VMM's own writes (soft dirty bits) of @rb into @bitmap; each
 * bit is taken exactly once (atomic exchange against concurrent setters).
 * Returns the bits of @bitmap that went from 0 to 1.
 */
static uint64_t dirty_log_fold_soft(RAMBlock *rb, unsigned long *bitmap)
{
    uint64_t words = BITS_TO_LONGS(rb->used_length >> TARGET_PAGE_BITS);
    uint64_t added = 0;

    for (uint64_t i = 0; i < words; i++) {
        unsigned long w;

        if (!__atomic_load_n(&rb->soft_dirty[i], __ATOMIC_RELAXED)) {
            continue;   /* the common case: skip the atomic exchange */
        }
        w = __atomic_exchange_n(&rb->soft_dirty[i], 0, __ATOMIC_SEQ_CST);
        added += __builtin_popcountl(w & ~bitmap[i]);
        bitmap[i] |= w;
    }
    return added;
}

uint64_t dirty_log_sync(RAMBlock *rb, unsigned long *bitmap)
{
    const DirtyLogOps *ops = dirty_log_ops();
    uint64_t guest = 0, soft, dev = 0;
    bool active = __atomic_load_n(&dirty_log_active, __ATOMIC_SEQ_CST);

    /*
     * The accelerator is asked only while tracking is on: before its
     * start it tracks nothing, and this spares each one the check.
     */
    if (ops && ops->sync && active) {
        guest = ops->sync(rb, bitmap);
    }
    for (guint i = 0; active && i < dirty_log_nr_listeners(); i++) {
        DirtyLogListener *l = dirty_log_listener(i);

        dev += l->log_sync ? l->log_sync(l->opaque, rb, bitmap) : 0;
    }
    soft = dirty_log_fold_soft(rb, bitmap);
    trace_dirty_log_sync(rb->idstr, guest, soft, dev);
    return guest + soft + dev;
}

bool dirty_log_per_vcpu(void)
{
    const DirtyLogOps *ops = dirty_log_ops();

    return ops && ops->per_vcpu_enabled && ops->per_vcpu_enabled();
}

uint64_t dirty_log_vcpu_reap(void)
{
    const DirtyLogOps *ops = dirty_log_ops();

    return ops && ops->per_vcpu_reap ? ops->per_vcpu_reap() : 0;
}

uint64_t dirty_log_vcpu_pages(CPUState *cpu)
{
    const DirtyLogOps *ops = dirty_log_ops();

    return ops && ops->vcpu_pages ? ops->vcpu_pages(cpu) : 0;
}
