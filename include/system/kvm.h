/*
 * KVM accelerator interface used by the machine, the vCPU code and (later)
 * migration's dirty tracking.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef SYSTEM_KVM_H
#define SYSTEM_KVM_H

#include "qapi/error.h"
#include "hw/core/cpu.h"
#include "system/ramblock.h"

/* -accel kvm[,dirty-ring-size=N,...] options, as parsed by main(). */
typedef struct KVMConfig {
    uint32_t dirty_ring_size;   /* 0 = dirty bitmap */
} KVMConfig;

/* Open /dev/kvm and create the VM (with in-kernel irqchip and PIT). */
bool kvm_init(const KVMConfig *cfg, Error **errp);
bool kvm_enabled(void);
/* Register a guest-physical section as a KVM memory slot. */
bool kvm_set_user_memory(GuestMemSection *section, Error **errp);
/* Create vCPU @index (not started). */
CPUState *kvm_create_vcpu(int index, Error **errp);
/* Set the boot vCPU's real-mode start state: CS:IP = 0:@ip, no BIOS. */
bool kvm_cpu_reset_realmode(CPUState *cpu, uint16_t ip, Error **errp);
/* Start the vCPU threads (each parks until resume_all_vcpus()). */
void kvm_start_vcpus(void);

/* Any thread: make @cpu leave KVM_RUN soon (signal + immediate_exit). */
void kvm_cpu_kick(CPUState *cpu);
/* BQL held: drive ISA interrupt line @irq of the in-kernel irqchip. */
void kvm_set_irq(int irq, int level);

/*
 * BQL held: turn dirty logging (KVM_MEM_LOG_DIRTY_PAGES) on or off for
 * KVM memory slot @slot (GuestMemSection.slot).
 */
bool kvm_slot_set_dirty_logging(int slot, bool enable, Error **errp);
/* Is KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 enabled (dirty log needs clearing)? */
bool kvm_manual_dirty_log_protect(void);

/*
 * Dirty page tracking for migration (accel/kvm/kvm-dirty.c).  Without KVM
 * (-accel qtest) start/stop do nothing and sync reports soft dirty bits
 * only.
 *
 * kvm_dirty_log_start: turn dirty logging on for every memory slot; takes
 * the BQL unless the caller holds it.  Pages written from then on are
 * reported by kvm_dirty_log_sync().
 */
bool kvm_dirty_log_start(Error **errp);
/* Turn dirty logging off again (BQL taken unless held). */
void kvm_dirty_log_stop(void);
/*
 * Migration thread, no BQL, vCPUs may run: OR the pages of @rb written
 * since the last sync (guest writes from KVM's log, VMM writes from the
 * block's soft dirty bits) into @bitmap (one bit per 4 KiB page of @rb,
 * block-relative) and re-arm tracking for exactly those pages.  Returns
 * how many bits of @bitmap went from 0 to 1.  A slot whose log cannot be
 * read counts as all dirty (reported with error_report).
 */
uint64_t kvm_dirty_log_sync(RAMBlock *rb, unsigned long *bitmap);

/*
 * The KVM dirty ring (accel/kvm/kvm-dirty-ring.c), on with
 * -accel kvm,dirty-ring-size=N.  When it is on, kvm_dirty_log_* above read
 * the rings instead of KVM's bitmap.
 *
 * kvm_dirty_ring_reap: any thread, no BQL needed, vCPUs may run: harvest
 * every vCPU's ring now (recording the pages for the next
 * kvm_dirty_log_sync() while logging is on) and let KVM recycle the
 * entries.  Returns the entries harvested; 0 without the ring.
 * kvm_dirty_ring_vcpu_pages: entries harvested from @cpu's ring so far (a
 * running total; pages it dirtied, each counted once per harvest).
 */
bool kvm_dirty_ring_enabled(void);
uint64_t kvm_dirty_ring_reap(void);
uint64_t kvm_dirty_ring_vcpu_pages(CPUState *cpu);

/*
 * For a ring reader that does not own the dirty log (the dirty-limit
 * thread, system/dirtylimit.c): the rings only fill while the slots log.
 * kvm_dirty_ring_logging_get/put: any thread (the BQL is taken unless
 * held): keep the slots' logging on, also while no migration or
 * measurement holds the log (kvm_dirty_log_stop leaves it on while
 * pinned).  kvm_dirty_ring_take_overflow_unowned: has a ring lost entries
 * while no one owned the log?  Clears that flag; kvm_dirty_ring_rearm()
 * (BQL) then write-protects every page again so that the pages whose
 * entries were lost are reported at their next write.
 */
void kvm_dirty_ring_logging_get(void);
void kvm_dirty_ring_logging_put(void);
bool kvm_dirty_ring_logging_pinned(void);
bool kvm_dirty_ring_take_overflow_unowned(void);
void kvm_dirty_ring_rearm(void);
/* Entries per vCPU ring (-accel kvm,dirty-ring-size), 0 without it. */
uint32_t kvm_dirty_ring_size(void);

/* Is the calling thread the vCPU thread of @cpu? */
bool qemu_cpu_is_self(CPUState *cpu);

#endif
