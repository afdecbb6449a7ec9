/*
 * vCPU thread life cycle, shared by system/cpus.c (pause/resume, the
 * vCPU list) and the accelerator's vCPU threads (accel/kvm/kvm-cpu.c).
 *
 * A vCPU thread holds the BQL except while it is inside KVM_RUN, so the
 * stop/stopped/exit_thread flags of CPUState are read and written under
 * the BQL and the conditions below use the BQL as their mutex.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef SYSTEM_CPUS_H
#define SYSTEM_CPUS_H

#include "hw/core/cpu.h"

/* Machine creation (BQL): append @cpu to cpu_list; it starts parked. */
void cpu_list_add(CPUState *cpu);

/* vCPU thread, BQL held: register as the thread of @cpu, signal creation. */
void cpu_thread_begin(CPUState *cpu);
/*
 * vCPU thread, BQL held: may @cpu enter the guest now?  False while a
 * pause is requested or in force, or when the thread must exit.
 */
bool cpu_can_run(CPUState *cpu);
/*
 * vCPU thread, BQL held: acknowledge a pause request (stop -> stopped)
 * and sleep until the vCPU may run again or must exit.
 */
void cpu_wait_io_event(CPUState *cpu);
/*
 * vCPU thread, BQL held: sleep until the next cpu_kick() of any vCPU (a
 * halted software vCPU waiting for an interrupt or INIT/SIPI).  The
 * kicker must change what the sleeper re-checks under the BQL, or the
 * wake-up can be missed.
 */
void cpu_wait_kick(CPUState *cpu);
/*
 * vCPU thread, BQL held: stop this vCPU on its own (triple fault, an
 * error KVM cannot handle).  It stays parked until resume_all_vcpus().
 */
void cpu_park_self(CPUState *cpu);

/*
 * Any thread: ask @cpu's thread to sleep @ns outside KVM_RUN, without the
 * BQL, and kick it (0 withdraws a request not yet taken).  The sleep is
 * taken in cpu_wait_io_event() and ends early on a pause request or
 * thread exit.  For CPU throttling (migration/cpu-throttle.c).
 */
void cpu_throttle_sleep_request(CPUState *cpu, uint64_t ns);

/*
 * Machine creation, BQL held: start a thread running @fn(cpu) for every
 * vCPU that has none yet, named "CPU <index>/<@accel>", and wait until
 * each has called cpu_thread_begin().
 */
void cpus_start_threads(const char *accel, void *(*fn)(void *));

/* Main thread, BQL held, machine creation: wait until @cpu's thread runs. */
void cpu_wait_created(CPUState *cpu);

#endif
