/*
 * KVM dirty ring (-accel kvm,dirty-ring-size=N): harvesting the per-vCPU
 * rings into per-slot bitmaps for migration and the per-vCPU dirty rates.
 *
 * With the ring on, KVM does not keep a dirty bitmap (KVM_GET_DIRTY_LOG
 * fails): each vCPU pushes a struct kvm_dirty_gfn (slot, page offset) into
 * its own ring, mapped at KVM_DIRTY_LOG_PAGE_OFFSET of the vCPU fd, the
 * first time it writes a page of a slot that has KVM_MEM_LOG_DIRTY_PAGES.
 * The protocol (Documentation/virt/kvm/api.rst, KVM_CAP_DIRTY_LOG_RING):
 *  - an entry is ours once its flags have KVM_DIRTY_GFN_F_DIRTY, read with
 *    acquire semantics (KVM publishes it with a release);
 *  - after recording it we set the flags to KVM_DIRTY_GFN_F_RESET (store
 *    release), handing the slot back;
 *  - KVM_RESET_DIRTY_RINGS then makes KVM recycle every RESET entry of
 *    every ring and write-protect those pages again, so the next write to
 *    one of them is pushed anew;
 *  - we read each ring in order from our own fetch index; the first entry
 *    that is neither DIRTY nor RESET ends the harvest of that ring (a
 *    RESET one is ours, left by a reset that stopped early: a signal
 *    makes KVM_RESET_DIRTY_RINGS return -EINTR part way).
 * A ring that fills up (less than KVM's reserve left) makes KVM_RUN return
 * KVM_EXIT_DIRTY_RING_FULL; the vCPU thread then harvests itself
 * (kvm_dirty_ring_reap) before entering the guest again.
 *
 * Overflow.  Some hosts push past the reserve anyway (a 6.18 PVM host
 * does, from the instruction emulator in its exit handler; the kernel
 * logs "WARNING ... kvm_dirty_ring_push" once), overwriting entries not
 * yet harvested.  Three things follow, and each is handled here: the
 * overwritten entries' pages are never reported and, because only the
 * reset of an entry write-protects its page again, stay writable with
 * later writes unreported too (ring_overflowed: the next sync re-arms
 * logging and calls every page written, see kvm-dirty.c); KVM's reset
 * stops at an overwritten entry (kvm_dirty_ring_rewind); and KVM's
 * indexes run ahead of ours by the entries lost, leaving a run of empty
 * entries before its next pushes (kvm_dirty_ring_skip_gap).  Without
 * these the ring fell out of step: a vCPU looped on
 * KVM_EXIT_DIRTY_RING_FULL with nothing to harvest, and pages written
 * during the migration were missing on the destination.
 *
 * Entries from a write that the CPU still buffers (Intel PML) reach the
 * ring at that vCPU's next exit; a sync can miss them, the next one sees
 * them, and the final sync runs with every vCPU out of KVM_RUN, so
 * migration loses no page.
 *
 * Threads and locks: ring_lock serialises harvests (migration thread,
 * vCPU threads on a full ring, the dirty-limit and dirty-rate threads), and
 * protects the fetch indexes and the per-slot bitmaps.  No one holding it
 * waits for the BQL or for a vCPU, so a vCPU thread may take it from its
 * run loop (without the BQL) and never deadlocks.  The per-vCPU counters
 * are written under ring_lock and read atomically without it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/bitmap.h"
#include "qemu/main-loop.h"
#include "hw/core/cpu.h"
#include "system/kvm.h"
#include "kvm-internal.h"
#include "trace.h"

static GMutex ring_lock;
/* ring_lock: one bitmap per slot (by slot id) while logging is on, or NULL */
static unsigned long **ring_bitmaps;
static guint ring_nr_bitmaps;           /* ring_lock */
/*
 * ring_lock: a ring may have overflowed since kvm_dirty_ring_take_overflow.
 * KVM is meant to stop a vCPU with KVM_EXIT_DIRTY_RING_FULL while its
 * ring still has room, but some hosts push on regardless (seen on a
 * 6.18 PVM host: "WARNING ... kvm_dirty_ring_push" from instruction
 * emulation in the exit handler), overwriting entries we never saw.
 */
static bool ring_overflowed;
/*
 * BQL: users that need the slots' logging on without owning the dirty
 * log (the dirty-limit thread).  While there are any, the slots log even
 * when no migration or measurement holds the log.
 */
static unsigned ring_logging_users;     /* BQL (write), atomic (read) */

bool kvm_dirty_ring_enabled(void)
{
    return kvm_state && kvm_state->dirty_ring_size;
}

uint32_t kvm_dirty_ring_size(void)
{
    return kvm_state ? kvm_state->dirty_ring_size : 0;
}

void kvm_dirty_ring_log_start(void)
{
    GPtrArray *slots = kvm_state->slots;

    g_mutex_lock(&ring_lock);
    ring_nr_bitmaps = slots->len;
    ring_bitmaps = g_new0(unsigned long *, slots->len);
    for (guint i = 0; i < slots->len; i++) {
        KVMSlot *slot = g_ptr_array_index(slots, i);

        ring_bitmaps[i] = bitmap_new(slot->size >> TARGET_PAGE_BITS);
    }
    g_mutex_unlock(&ring_lock);
}

void kvm_dirty_ring_log_stop(void)
{
    /* Hand back what is left so the rings start empty next time. */
    kvm_dirty_ring_reap();
    g_mutex_lock(&ring_lock);
    for (guint i = 0; i < ring_nr_bitmaps; i++) {
        g_free(ring_bitmaps[i]);
    }
    g_free(ring_bitmaps);
    ring_bitmaps = NULL;
    ring_nr_bitmaps = 0;
    g_mutex_unlock(&ring_lock);
}

/* ring_lock held: record one entry (an entry for no known page is dropped). */
static void kvm_dirty_ring_mark(uint32_t slot_field, uint64_t offset)
{
    uint32_t as_id = slot_field >> 16;
    uint32_t id = slot_field & 0xffff;
    KVMSlot *slot;

    if (as_id || id >= ring_nr_bitmaps) {
        trace_kvm_dirty_ring_bad_entry(slot_field, offset);
        return;
    }
    slot = g_ptr_array_index(kvm_state->slots, id);
    if (offset >= slot->size >> TARGET_PAGE_BITS) {
        trace_kvm_dirty_ring_bad_entry(slot_field, offset);
        return;
    }
    set_bit(offset, ring_bitmaps[id]);
}

/*
 * May @cpu's ring be read as a whole, with no entry being pushed?  On the
 * vCPU's own thread (it is out of KVM_RUN), or with the BQL held while
 * it is parked (it cannot be resumed without the BQL).
 */
static bool kvm_dirty_ring_quiescent(CPUState *cpu)
{
    return current_cpu_get() == cpu || (bql_locked() && cpu->stopped);
}

/*
 * ring_lock held: walk @cpu's ring from the fetch index, recording each
 * DIRTY entry and marking it RESET; an entry already RESET (a reset that
 * did not get that far) is stepped over.  Stops at the first empty one.
 * Returns the entries that now need KVM_RESET_DIRTY_RINGS; *@dirty gets
 * those newly recorded.
 */
static uint32_t kvm_dirty_ring_collect(KVMCPU *kc, uint32_t *dirty)
{
    uint32_t size = kvm_state->dirty_ring_size;
    /* One lap from where this reap began: never past our own entries. */
    uint32_t limit = size - (kc->dirty_fetch - kc->dirty_reap_start);
    uint32_t v;

    for (v = 0; v < limit; v++) {
        struct kvm_dirty_gfn *e = &kc->dirty_gfns[kc->dirty_fetch % size];
        uint32_t flags = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);

        if (flags & KVM_DIRTY_GFN_F_DIRTY) {
            if (ring_bitmaps) {
                kvm_dirty_ring_mark(e->slot, e->offset);
            }
            __atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET,
                             __ATOMIC_RELEASE);
            (*dirty)++;
        } else if (!(flags & KVM_DIRTY_GFN_F_RESET)) {
            break;
        }
        kc->dirty_fetch++;
    }
    if (kc->dirty_fetch - kc->dirty_reap_start == size) {
        /*
         * Every entry was taken: KVM had no room left, and a push into a
         * full ring overwrites an entry (see ring_overflowed).
         */
        ring_overflowed = true;
    }
    return v;
}

/*
 * ring_lock held, @cpu's ring quiescent: after an overflow KVM counts
 * entries that were overwritten and then reset as still pending, so its
 * next pushes land past a run of empty entries that ends our walk.  A
 * DIRTY entry further on proves such a gap: hand the gap back as RESET
 * (KVM's reset walks through it) and go on from there.  In a ring in
 * step no DIRTY entry follows an empty one.
 */
static uint32_t kvm_dirty_ring_skip_gap(KVMCPU *kc)
{
    uint32_t size = kvm_state->dirty_ring_size;
    uint32_t left = size - (kc->dirty_fetch - kc->dirty_reap_start);

    for (uint32_t j = 1; j < left; j++) {
        struct kvm_dirty_gfn *e =
            &kc->dirty_gfns[(kc->dirty_fetch + j) % size];

        if (__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) &
            KVM_DIRTY_GFN_F_DIRTY) {
            for (uint32_t i = 0; i < j; i++) {
                e = &kc->dirty_gfns[(kc->dirty_fetch + i) % size];
                __atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET,
                                 __ATOMIC_RELEASE);
            }
            trace_kvm_dirty_ring_gap(kc->dirty_fetch, j);
            kc->dirty_fetch += j;
            ring_overflowed = true;
            return j;
        }
    }
    return 0;
}

/* ring_lock held: take @cpu's ring; returns entries to reset. */
static uint32_t kvm_dirty_ring_harvest_vcpu(CPUState *cpu, uint32_t *dirty)
{
    KVMCPU *kc = kvm_cpu(cpu);
    uint32_t n;

    kc->dirty_reap_start = kc->dirty_fetch;
    if (!kc->dirty_gfns) {
        return 0;
    }
    n = kvm_dirty_ring_collect(kc, dirty);
    while (n < kvm_state->dirty_ring_size && kvm_dirty_ring_quiescent(cpu)) {
        uint32_t gap = kvm_dirty_ring_skip_gap(kc);

        if (!gap) {
            break;
        }
        n += gap + kvm_dirty_ring_collect(kc, dirty);
    }
    return n;
}

/*
 * ring_lock held, after a KVM_RESET_DIRTY_RINGS that did not reset every
 * entry we handed back (interrupted by a signal, or an entry overwritten
 * by a push into a full ring): KVM's reset index stopped at the first of
 * them that is not empty.  Go back there, so the next harvest takes an
 * overwritten entry and the next reset gets past the rest.
 */
static void kvm_dirty_ring_rewind(CPUState *cpu)
{
    KVMCPU *kc = kvm_cpu(cpu);
    uint32_t size = kvm_state->dirty_ring_size;

    for (uint32_t i = kc->dirty_reap_start; i != kc->dirty_fetch; i++) {
        struct kvm_dirty_gfn *e = &kc->dirty_gfns[i % size];
        uint32_t flags = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);

        if (flags) {
            if (flags & KVM_DIRTY_GFN_F_DIRTY) {
                ring_overflowed = true;
            }
            trace_kvm_dirty_ring_rewind(cpu->cpu_index, kc->dirty_fetch, i);
            kc->dirty_fetch = i;
            return;
        }
    }
}

uint64_t kvm_dirty_ring_reap(void)
{
    uint64_t total = 0;
    uint64_t handed = 0;
    CPUState *cpu;
    int ret;

    if (!kvm_dirty_ring_enabled()) {
        return 0;
    }
    g_mutex_lock(&ring_lock);
    /* cpu_list is read-only once the machine exists. */
    CPU_FOREACH(cpu) {
        uint32_t dirty = 0;

        handed += kvm_dirty_ring_harvest_vcpu(cpu, &dirty);
        if (dirty) {
            KVMCPU *kc = kvm_cpu(cpu);

            __atomic_store_n(&kc->dirty_pages, kc->dirty_pages + dirty,
                             __ATOMIC_RELAXED);
            total += dirty;
        }
    }
    if (handed) {
        /*
         * Only now does KVM write-protect the pages again, so a page
         * recorded above is sent after its protection is back: a write
         * after that is pushed anew.
         */
        ret = kvm_vm_ioctl(kvm_state, KVM_RESET_DIRTY_RINGS, NULL);
        trace_kvm_dirty_ring_reset(ret, handed);
        if (ret < 0 || (uint64_t)ret < handed) {
            CPU_FOREACH(cpu) {
                kvm_dirty_ring_rewind(cpu);
            }
        }
        if (ret < 0 && ret != -EINTR) {
            error_report("KVM_RESET_DIRTY_RINGS failed: %s", g_strerror(-ret));
        }
    }
    g_mutex_unlock(&ring_lock);
    trace_kvm_dirty_ring_reap(total);
    return total;
}

bool kvm_dirty_ring_take_overflow(void)
{
    bool overflowed;

    g_mutex_lock(&ring_lock);
    overflowed = ring_overflowed;
    ring_overflowed = false;
    g_mutex_unlock(&ring_lock);
    return overflowed;
}

void kvm_dirty_ring_mark_all(void)
{
    g_mutex_lock(&ring_lock);
    for (guint i = 0; ring_bitmaps && i < ring_nr_bitmaps; i++) {
        KVMSlot *slot = g_ptr_array_index(kvm_state->slots, i);

        bitmap_fill(ring_bitmaps[i], slot->size >> TARGET_PAGE_BITS);
    }
    g_mutex_unlock(&ring_lock);
}

uint64_t kvm_dirty_ring_sync_slot(KVMSlot *slot, unsigned long *bitmap,
                                  uint64_t first)
{
    uint64_t pages = slot->size >> TARGET_PAGE_BITS;
    uint64_t added = 0;

    g_mutex_lock(&ring_lock);
    if (ring_bitmaps && (guint)slot->slot < ring_nr_bitmaps) {
        unsigned long *acc = ring_bitmaps[slot->slot];

        added = kvm_dirty_or_bits(bitmap, first, acc, pages);
        bitmap_zero(acc, pages);
    }
    g_mutex_unlock(&ring_lock);
    return added;
}

uint64_t kvm_dirty_ring_vcpu_pages(CPUState *cpu)
{
    if (!kvm_dirty_ring_enabled()) {
        return 0;
    }
    return __atomic_load_n(&kvm_cpu(cpu)->dirty_pages, __ATOMIC_RELAXED);
}

void kvm_dirty_ring_handle_full(CPUState *cpu)
{
    uint64_t n;

    /*
     * Harvesting every ring, not just ours, costs little more and spares
     * the other vCPUs the same exit.
     */
    n = kvm_dirty_ring_reap();
    trace_kvm_dirty_ring_full(cpu->cpu_index, n);
}

/* BQL held: turn logging on or off for every slot (errors reported). */
static void kvm_dirty_ring_set_logging(bool enable)
{
    GPtrArray *slots = kvm_state->slots;
    Error *err = NULL;

    for (guint i = 0; i < slots->len; i++) {
        KVMSlot *slot = g_ptr_array_index(slots, i);

        if (!kvm_slot_set_dirty_logging(slot->slot, enable, &err)) {
            error_report_err(err);
            err = NULL;
        }
    }
}

/* ring_lock not held: does a migration or a measurement own the log? */
static bool kvm_dirty_ring_log_owned(void)
{
    bool owned;

    g_mutex_lock(&ring_lock);
    owned = ring_bitmaps != NULL;
    g_mutex_unlock(&ring_lock);
    return owned;
}

void kvm_dirty_ring_logging_get(void)
{
    bool took_bql = !bql_locked();

    if (!kvm_dirty_ring_enabled()) {
        return;     /* no rings to keep filling */
    }
    if (took_bql) {
        bql_lock();
    }
    if (__atomic_fetch_add(&ring_logging_users, 1, __ATOMIC_SEQ_CST) == 0) {
        /* Setting a flag that is already set costs nothing (kvm-all.c). */
        kvm_dirty_ring_set_logging(true);
    }
    trace_kvm_dirty_ring_logging(ring_logging_users);
    if (took_bql) {
        bql_unlock();
    }
}

void kvm_dirty_ring_logging_put(void)
{
    bool took_bql = !bql_locked();

    if (!kvm_dirty_ring_enabled()) {
        return;     /* no rings to keep filling */
    }
    if (took_bql) {
        bql_lock();
    }
    assert(ring_logging_users > 0);
    if (__atomic_sub_fetch(&ring_logging_users, 1, __ATOMIC_SEQ_CST) == 0 &&
        !kvm_dirty_ring_log_owned()) {
        /* Entries still queued are harvested and dropped. */
        kvm_dirty_ring_reap();
        kvm_dirty_ring_set_logging(false);
    }
    trace_kvm_dirty_ring_logging(ring_logging_users);
    if (took_bql) {
        bql_unlock();
    }
}

bool kvm_dirty_ring_logging_pinned(void)
{
    return __atomic_load_n(&ring_logging_users, __ATOMIC_SEQ_CST) > 0;
}

bool kvm_dirty_ring_take_overflow_unowned(void)
{
    bool overflowed = false;

    g_mutex_lock(&ring_lock);
    if (!ring_bitmaps && ring_overflowed) {
        overflowed = true;
        ring_overflowed = false;
    }
    g_mutex_unlock(&ring_lock);
    return overflowed;
}

void kvm_dirty_ring_rearm(void)
{
    assert(bql_locked());
    /*
     * A log owner re-arms on its own sync (kvm-dirty.c); otherwise
     * turning logging off and on write-protects every page again, so the
     * pages whose entries were lost are reported at their next write.
     */
    if (ring_logging_users && !kvm_dirty_ring_log_owned()) {
        trace_kvm_dirty_ring_rearm();
        kvm_dirty_ring_set_logging(false);
        kvm_dirty_ring_set_logging(true);
    }
}
