/*
 * KVM accelerator interface used by the machine and the vCPU code.
 * Migration's dirty tracking reaches KVM only through kvm_dirty_log_ops
 * (include/system/dirty-log.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef SYSTEM_KVM_H
#define SYSTEM_KVM_H

#include "qapi/error.h"
#include "hw/core/cpu.h"
#include "system/ramblock.h"
#include "system/dirty-log.h"

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
 * Dirty page tracking (accel/kvm/kvm-dirty.c): the DirtyLogOps that
 * kvm_accel_ops.dirty_log points to.  Nothing outside accel/ calls it
 * directly: migration, calc-dirty-rate and the dirty limit go through
 * system/dirty-log.c (include/system/dirty-log.h), which also adds the
 * VMM's own writes.  With the dirty ring on (-accel kvm,dirty-ring-size=N)
 * it reads the per-vCPU rings instead of KVM's bitmap and offers the
 * per-vCPU hooks (kvm-dirty-ring.c).
 */
extern const DirtyLogOps kvm_dirty_log_ops;

/*
 * KVM-only control of the dirty ring for a ring reader that does not own
 * the dirty log: the dirty-limit thread (system/dirtylimit.c), which runs
 * only where dirty_log_per_vcpu() is true, i.e. with KVM's ring.  The
 * rings only fill while the slots log.
 * kvm_dirty_ring_logging_get/put: any thread (the BQL is taken unless
 * held): keep the slots' logging on, also while no migration or
 * measurement holds the log (the log's stop leaves it on while pinned);
 * no-ops without the ring.  kvm_dirty_ring_take_overflow_unowned: has a
 * ring lost entries while no one owned the log?  Clears that flag;
 * kvm_dirty_ring_rearm() (BQL) then write-protects every page again so
 * that the pages whose entries were lost are reported at their next write.
 */
void kvm_dirty_ring_logging_get(void);
void kvm_dirty_ring_logging_put(void);
bool kvm_dirty_ring_take_overflow_unowned(void);
void kvm_dirty_ring_rearm(void);
/* Entries per vCPU ring (-accel kvm,dirty-ring-size), 0 without it. */
uint32_t kvm_dirty_ring_size(void);

/* Is the calling thread the vCPU thread of @cpu? */
bool qemu_cpu_is_self(CPUState *cpu);

#endif
