/*
 * vCPUs.
 *
 * Each vCPU has its own thread running KVM_RUN (accel/kvm).  The thread
 * does not hold the BQL while in the guest; it takes it for exits that
 * reach device models (port I/O, MMIO) and to report that it stopped.
 *
 * Locking: "BQL" fields are protected by the BQL; the pause/resume
 * conditions use the BQL as their mutex.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_CORE_CPU_H
#define HW_CORE_CPU_H

#include "qemu/thread.h"

struct kvm_run;

typedef struct CPUState {
    int cpu_index;
    int kvm_fd;                 /* set at creation; read-only after */
    struct kvm_run *kvm_run;    /* mmap of the vCPU's run area */
    size_t kvm_run_size;
    QemuThread thread;
    bool thread_started;        /* atomic: set once @thread exists */
    bool created;               /* BQL */
    bool stop;                  /* BQL: pause requested */
    bool stopped;               /* BQL: thread is parked, out of KVM_RUN */
    bool exit_thread;           /* BQL: thread should return */
    bool vcpu_dirty;            /* vCPU thread or BQL: registers held in
                                   userspace are newer than KVM's */
    uint64_t throttle_sleep_ns; /* atomic: auto-converge asks the vCPU
                                   thread to sleep this long (0: no) */
    void *arch;                 /* accel/kvm's per-vCPU state */
    int thread_id;              /* atomic: the vCPU thread's Linux tid, set
                                   when it starts (postcopy blocktime maps
                                   faulting threads to vCPUs); 0 before */
} CPUState;

/* All vCPUs, index order (read-only after machine creation). */
extern GPtrArray *cpu_list;
#define CPU_FOREACH(cpu) \
    for (guint _i = 0; _i < cpu_list->len && \
         ((cpu) = g_ptr_array_index(cpu_list, _i), 1); _i++)

CPUState *qemu_get_cpu(int index);
/* The CPUState of the calling vCPU thread, or NULL. */
CPUState *current_cpu_get(void);

/* BQL held: pause every vCPU and wait until all are out of KVM_RUN. */
void pause_all_vcpus(void);
/* BQL held: let every vCPU run. */
void resume_all_vcpus(void);
bool all_vcpus_paused(void);
/* Any thread: force @cpu out of KVM_RUN soon. */
void cpu_kick(CPUState *cpu);

#endif
