/*
 * KVM dirty page tracking for migration: the per-slot dirty bitmap, and
 * kvm_dirty_log_ops, what system/dirty-log.c dispatches to while KVM is
 * the accelerator (include/system/dirty-log.h).
 *
 * kvm_dirty_start() turns KVM_MEM_LOG_DIRTY_PAGES on for every memory
 * slot.  kvm_dirty_sync() then fetches a slot's bitmap with
 * KVM_GET_DIRTY_LOG and, when manual protection is on (kvm_init enables
 * KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 where offered), hands exactly the
 * fetched bits back with KVM_CLEAR_DIRTY_LOG: KVM write-protects those
 * pages again only then, so a guest write that lands after the fetch sets
 * the bit anew and is seen by the next sync.  Without manual protection
 * KVM_GET_DIRTY_LOG fetches and re-protects in one step.
 *
 * Why not KVM_DIRTY_LOG_INITIALLY_SET: it saves write-protecting the whole
 * slot when logging starts by reporting every page dirty until cleared.
 * Migration's first pass here does not come from the dirty log at all but
 * from the pages that are populated (migration/ram.c), so an all-set
 * initial log would only have to be cleared, page range by page range,
 * for nothing; and write-protecting at start costs in proportion to the
 * pages actually mapped, which is the memory the first pass sends anyway
 * (the kvm_dirty_log_start trace point reports the time it took: 3 to 20
 * ms for a 16 GiB guest with 100 MiB touched, on a busy 2-core host).
 *
 * Threads: start and stop change slot flags, which the BQL protects; they
 * take the BQL if the caller (the migration thread) does not hold it.
 * Sync runs in the migration thread without the BQL while vCPUs run: the
 * slot table does not change after machine creation, the ioctls are safe
 * against running vCPUs, and the scratch bitmaps below belong to the
 * thread that runs the migration (start, sync and stop never overlap).
 *
 * With the dirty ring on (-accel kvm,dirty-ring-size=N) the slots' logging
 * flag is set just the same, but KVM reports writes through the per-vCPU
 * rings instead of the bitmap: sync harvests them (kvm-dirty-ring.c) and
 * takes each slot's recorded pages; no KVM_GET_DIRTY_LOG.  The ring also
 * counts pages per vCPU, which is what the per-vCPU hooks of
 * kvm_dirty_log_ops offer (calc-dirty-rate's dirty-ring mode, dirty limit).
 *
 * Only the guest's writes are reported here: the VMM's own (the RAMBlocks'
 * soft dirty bits) are added by system/dirty-log.c for every accelerator.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/bitmap.h"
#include "qemu/main-loop.h"
#include "system/dirty-log.h"
#include "system/kvm.h"
#include "kvm-internal.h"
#include "trace.h"

/*
 * Scratch bitmaps for KVM_GET_DIRTY_LOG, one per slot (by slot id), sized
 * to KVM's layout (pages rounded up to 64 bits).  Owned by the migration
 * thread between kvm_dirty_start() and kvm_dirty_stop(); NULL
 * while logging is off.
 */
static GPtrArray *kvm_dirty_scratch;

static uint64_t kvm_slot_pages(const KVMSlot *slot)
{
    return slot->size >> TARGET_PAGE_BITS;
}

/* Bytes of KVM's bitmap for a slot: pages rounded up to 64 bits. */
static size_t kvm_slot_bitmap_bytes(const KVMSlot *slot)
{
    return DIV_ROUND_UP(kvm_slot_pages(slot), 64) * 8;
}

/* Set or clear logging on every slot; on failure undo what was done. */
static bool kvm_dirty_log_set_all(bool enable, Error **errp)
{
    GPtrArray *slots = kvm_state->slots;
    bool took_bql = !bql_locked();
    bool ok = true;
    guint i;

    if (took_bql) {
        bql_lock();
    }
    for (i = 0; i < slots->len; i++) {
        KVMSlot *slot = g_ptr_array_index(slots, i);

        if (!kvm_slot_set_dirty_logging(slot->slot, enable, errp)) {
            ok = false;
            break;
        }
    }
    if (!ok) {
        while (i-- > 0) {
            KVMSlot *slot = g_ptr_array_index(slots, i);

            kvm_slot_set_dirty_logging(slot->slot, !enable, NULL);
        }
    }
    if (took_bql) {
        bql_unlock();
    }
    return ok;
}

static bool kvm_dirty_start(Error **errp)
{
    KVMState *s = kvm_state;
    int64_t t0 = get_clock_ns();

    if (!s) {
        /* Only reachable through current_accel, which kvm_init() set up. */
        error_setg(errp, "KVM dirty logging without a KVM VM");
        return false;
    }
    if (kvm_dirty_scratch) {
        error_setg(errp, "KVM dirty logging is already running");
        return false;
    }
    if (s->dirty_ring_size) {
        /* Record harvests from now on: before any slot can push entries. */
        kvm_dirty_ring_log_start();
    }
    if (!kvm_dirty_log_set_all(true, errp)) {
        if (s->dirty_ring_size) {
            kvm_dirty_ring_log_stop();
        }
        error_prepend(errp, "Could not start dirty page tracking: ");
        return false;
    }
    kvm_dirty_scratch = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < s->slots->len; i++) {
        KVMSlot *slot = g_ptr_array_index(s->slots, i);

        g_ptr_array_add(kvm_dirty_scratch,
                        g_malloc0(kvm_slot_bitmap_bytes(slot)));
    }
    trace_kvm_dirty_log_start(s->slots->len, s->manual_dirty_log,
                              (get_clock_ns() - t0) / 1000);
    return true;
}

static void kvm_dirty_stop(void)
{
    Error *err = NULL;

    if (!kvm_state || !kvm_dirty_scratch) {
        return;
    }
    /* The dirty-limit thread may still read the rings: logging stays. */
    if (!kvm_dirty_ring_logging_pinned() &&
        !kvm_dirty_log_set_all(false, &err)) {
        /* Harmless for correctness: the guest only runs a bit slower. */
        error_report_err(err);
    }
    if (kvm_state->dirty_ring_size) {
        kvm_dirty_ring_log_stop();
    }
    g_ptr_array_free(kvm_dirty_scratch, true);
    kvm_dirty_scratch = NULL;
    trace_kvm_dirty_log_stop();
}

uint64_t kvm_dirty_or_bits(unsigned long *dst, uint64_t dst_start,
                           const unsigned long *src, uint64_t nbits)
{
    uint64_t added = 0;

    if (dst_start % BITS_PER_LONG == 0) {
        unsigned long *d = dst + dst_start / BITS_PER_LONG;
        uint64_t words = BITS_TO_LONGS(nbits);

        for (uint64_t i = 0; i < words; i++) {
            unsigned long w = src[i];

            if (i == words - 1) {
                w &= BITMAP_LAST_WORD_MASK(nbits);
            }
            if (w) {
                added += __builtin_popcountl(w & ~d[i]);
                d[i] |= w;
            }
        }
        return added;
    }
    /* A slot that starts mid-word in its block: bit by bit. */
    for (uint64_t b = find_first_bit(src, nbits); b < nbits;
         b = find_next_bit(src, nbits, b + 1)) {
        added += !test_and_set_bit(dst_start + b, dst);
    }
    return added;
}

/* Fetch, re-protect and fold one slot's log; returns pages newly set. */
static uint64_t kvm_dirty_log_sync_slot(KVMSlot *slot, unsigned long *bitmap)
{
    KVMState *s = kvm_state;
    unsigned long *buf = g_ptr_array_index(kvm_dirty_scratch, slot->slot);
    uint64_t pages = kvm_slot_pages(slot);
    uint64_t first = slot->section->offset >> TARGET_PAGE_BITS;
    struct kvm_dirty_log log = { .slot = slot->slot, .dirty_bitmap = buf };
    int ret;

    ret = kvm_vm_ioctl(s, KVM_GET_DIRTY_LOG, &log);
    if (ret < 0) {
        goto fail;
    }
    if (s->manual_dirty_log && !bitmap_empty(buf, pages)) {
        struct kvm_clear_dirty_log clear = {
            .slot = slot->slot,
            .first_page = 0,
            .num_pages = pages,     /* the whole slot: any count is valid */
            .dirty_bitmap = buf,
        };

        ret = kvm_vm_ioctl(s, KVM_CLEAR_DIRTY_LOG, &clear);
        if (ret < 0) {
            goto fail;
        }
    }
    return kvm_dirty_or_bits(bitmap, first, buf, pages);

fail:
    /*
     * Not knowing what the guest wrote must never lose a page: report it
     * and call the whole slot dirty (it is sent again).
     */
    error_report("Could not read the dirty log of KVM memory slot %d: %s; "
                 "treating all of its %" PRIu64 " pages as dirty",
                 slot->slot, g_strerror(-ret), pages);
    bitmap_fill(buf, pages);
    return kvm_dirty_or_bits(bitmap, first, buf, pages);
}

/*
 * A dirty ring overflowed: the pages its lost entries named are unknown,
 * and KVM left them writable (only a reset of their entry protects them
 * again), so later writes to them would never be reported either.  Turn
 * logging off and on, which write-protects every page of every slot,
 * then call every page written: a write before the re-arm is covered by
 * that, one after it is pushed anew.
 */
static void kvm_dirty_ring_recover(void)
{
    Error *err = NULL;

    trace_kvm_dirty_ring_recover();
    if (!kvm_dirty_log_set_all(false, &err) ||
        !kvm_dirty_log_set_all(true, &err)) {
        error_report_err(err);
    }
    kvm_dirty_ring_mark_all();
}

/* Guest writes only; system/dirty-log.c adds the soft dirty bits. */
static uint64_t kvm_dirty_sync(RAMBlock *rb, unsigned long *bitmap)
{
    uint64_t added = 0;

    if (kvm_state && kvm_dirty_scratch) {
        GPtrArray *slots = kvm_state->slots;
        bool ring = kvm_state->dirty_ring_size;

        if (ring) {
            kvm_dirty_ring_reap();
            if (kvm_dirty_ring_take_overflow()) {
                kvm_dirty_ring_recover();
            }
        }
        for (guint i = 0; i < slots->len; i++) {
            KVMSlot *slot = g_ptr_array_index(slots, i);

            if (!slot->section || slot->section->block != rb) {
                continue;
            }
            if (ring) {
                added += kvm_dirty_ring_sync_slot(slot, bitmap,
                                slot->section->offset >> TARGET_PAGE_BITS);
            } else {
                added += kvm_dirty_log_sync_slot(slot, bitmap);
            }
        }
    }
    trace_kvm_dirty_log_sync(rb->idstr, added);
    return added;
}

const DirtyLogOps kvm_dirty_log_ops = {
    .start = kvm_dirty_start,
    .stop = kvm_dirty_stop,
    .sync = kvm_dirty_sync,
    .per_vcpu_enabled = kvm_dirty_ring_enabled,
    .per_vcpu_reap = kvm_dirty_ring_reap,
    .vcpu_pages = kvm_dirty_ring_vcpu_pages,
};
