/*
 * CPU throttling for auto-converge (migration/cpu-throttle.c).
 *
 * While a throttle of P percent is set, a throttle thread asks every vCPU,
 * once per period, to sleep outside KVM_RUN so that it runs one
 * CPU_THROTTLE_TIMESLICE_MS timeslice and then sleeps P / (100 - P) of
 * it: the vCPU runs (100 - P) percent of the wall time (QEMU's scheme).
 * The sleep itself happens in the vCPU thread (system/cpus.c,
 * cpu_throttle_sleep_request) without the BQL, and a pause request or a
 * thread exit cuts it short.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_CPU_THROTTLE_H
#define MIGRATION_CPU_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

#define CPU_THROTTLE_PCT_MIN 1
#define CPU_THROTTLE_PCT_MAX 99
#define CPU_THROTTLE_TIMESLICE_MS 10

/*
 * Any thread: throttle every vCPU to @pct percent (clamped to
 * [CPU_THROTTLE_PCT_MIN, CPU_THROTTLE_PCT_MAX]), starting the throttle
 * thread if it is not running.
 */
void cpu_throttle_set(int pct);
/* Any thread but the throttle thread: stop throttling, join the thread. */
void cpu_throttle_stop(void);
bool cpu_throttle_active(void);
/* The current percentage, 0 when not throttling. */
int cpu_throttle_get_percentage(void);

/*
 * The auto-converge trigger, QEMU's rule.  Migration thread only.
 *
 * mig_throttle_reset: at the start of each outgoing migration.
 * mig_throttle_sync_done: after each dirty bitmap sync with the VM
 * running, given the bytes that sync newly found dirty.  Once at least a
 * second has passed since the last check, the bytes dirtied over that
 * period are compared with throttle-trigger-threshold percent of the bytes
 * transferred over it; the second time they exceed it (not necessarily in
 * a row) the throttle starts at cpu-throttle-initial, or goes up by
 * cpu-throttle-increment (with cpu-throttle-tailslow, by no more than what
 * should bring the dirty rate down to the threshold), up to
 * max-cpu-throttle.  Only with the auto-converge capability; with
 * dirty-limit instead, the same trigger limits every vCPU to
 * vcpu-dirty-limit MB/s (again at each later trigger if it changed).
 */
void mig_throttle_reset(void);
void mig_throttle_sync_done(uint64_t dirty_bytes);
/*
 * Migration thread, at the end of an outgoing migration (any outcome):
 * stop the auto-converge throttle and lift the limits that the
 * dirty-limit capability set.
 */
void mig_throttle_stop(void);

#endif
