/*
 * State shared by the files of accel/kvm/ (not part of the interface).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ACCEL_KVM_INTERNAL_H
#define ACCEL_KVM_INTERNAL_H

#include <linux/kvm.h>
#include "hw/core/cpu.h"
#include "system/ramblock.h"

/* The signal that kicks a vCPU out of KVM_RUN. */
#define SIG_IPI SIGUSR1

/*
 * One KVM memory slot.  The table is built at machine creation (main
 * thread, before the vCPUs start); afterwards only @flags changes, when
 * migration turns dirty logging on or off (BQL).
 */
typedef struct KVMSlot {
    int slot;
    uint64_t gpa;
    uint64_t size;
    void *host;
    uint32_t flags;             /* BQL: KVM_MEM_* */
    GuestMemSection *section;
} KVMSlot;

/* The VM.  Written by kvm_init() only; read-only afterwards. */
typedef struct KVMState {
    int fd;                     /* /dev/kvm */
    int vmfd;
    int vcpu_mmap_size;
    int nr_slots_max;
    GPtrArray *slots;           /* KVMSlot *, by slot id */
    bool manual_dirty_log;      /* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 on */
    uint32_t dirty_ring_size;   /* entries per vCPU; 0 = bitmap */
    struct kvm_cpuid2 *supported_cpuid;
} KVMState;

extern KVMState *kvm_state;

/* Per-vCPU state of the accelerator (CPUState.arch). */
typedef struct KVMCPU {
    /*
     * Set (atomically) by cpu_kick() from any thread before it signals
     * the vCPU thread; cleared by the vCPU thread when it leaves
     * kvm_cpu_exec().  Closes the race between checking for work and
     * entering KVM_RUN.
     */
    int exit_request;
    struct kvm_dirty_gfn *dirty_gfns;   /* the vCPU's dirty ring, or NULL */
    uint32_t dirty_fetch;       /* kvm-dirty-ring.c ring_lock: next entry */
    uint32_t dirty_reap_start;  /* ring_lock: dirty_fetch when the current
                                 * reap began on this ring */
    uint64_t dirty_pages;       /* ring_lock (write), atomic (read): total
                                 * entries harvested from this ring */
} KVMCPU;

static inline KVMCPU *kvm_cpu(CPUState *cpu)
{
    return cpu->arch;
}

/* Thin ioctl wrappers: the result, or -errno. */
int kvm_ioctl(KVMState *s, unsigned long type, ...);
int kvm_vm_ioctl(KVMState *s, unsigned long type, ...);
int kvm_vcpu_ioctl(CPUState *cpu, unsigned long type, ...);
int kvm_check_extension(KVMState *s, unsigned int extension);

/* kvm-vcpu.c: log the registers of @cpu with error_report(). */
void kvm_vcpu_dump_regs(CPUState *cpu);

/*
 * kvm-dirty.c: OR @nbits bits of @src into @dst from bit @dst_start;
 * returns how many bits of @dst went from 0 to 1.
 */
uint64_t kvm_dirty_or_bits(unsigned long *dst, uint64_t dst_start,
                           const unsigned long *src, uint64_t nbits);

/*
 * kvm-dirty-ring.c, used by kvm-dirty.c while the dirty ring is on.
 * log_start (after the slots' logging is on): allocate the per-slot
 * bitmaps harvests record into; log_stop: harvest what is left, free them.
 * sync_slot: move @slot's recorded pages into @bitmap at bit @first (the
 * slot's first page in its block) after a kvm_dirty_ring_reap().
 */
void kvm_dirty_ring_log_start(void);
void kvm_dirty_ring_log_stop(void);
uint64_t kvm_dirty_ring_sync_slot(KVMSlot *slot, unsigned long *bitmap,
                                  uint64_t first);
/*
 * kvm-dirty-ring.c, migration thread: has a ring overflowed (entries lost)
 * since the last call?  Clears the flag.  kvm_dirty_ring_mark_all() then
 * records every page of every slot as written.
 */
bool kvm_dirty_ring_take_overflow(void);
void kvm_dirty_ring_mark_all(void);
/*
 * kvm-dirty-ring.c, the per-vCPU hooks of kvm_dirty_log_ops.
 * kvm_dirty_ring_reap: any thread, no BQL needed, vCPUs may run: harvest
 * every vCPU's ring now (recording the pages for the next sync while
 * logging is on) and let KVM recycle the entries.  Returns the entries
 * harvested; 0 without the ring.  kvm_dirty_ring_vcpu_pages: entries
 * harvested from @cpu's ring so far (a running total; pages it dirtied,
 * each counted once per harvest).
 */
bool kvm_dirty_ring_enabled(void);
uint64_t kvm_dirty_ring_reap(void);
uint64_t kvm_dirty_ring_vcpu_pages(CPUState *cpu);
/* kvm-dirty-ring.c: does the dirty-limit thread keep the slots logging? */
bool kvm_dirty_ring_logging_pinned(void);
/* kvm-dirty-ring.c: vCPU thread, no BQL, after KVM_EXIT_DIRTY_RING_FULL. */
void kvm_dirty_ring_handle_full(CPUState *cpu);

/*
 * kvm-cpu-state.c, machine creation, BQL: find which MSRs of
 * x86_cpu_msr_list this KVM can read and write back (once, on the first
 * vCPU created, before it runs); kvm_cpu_get_state() saves only those.
 */
void kvm_cpu_probe_msrs(CPUState *cpu);

/* kvm-cpu.c: install the SIG_IPI handler (once, from kvm_init()). */
bool kvm_init_kick_signal(Error **errp);

#endif
