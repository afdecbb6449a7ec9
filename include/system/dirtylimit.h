/*
 * Per-vCPU dirty page rate limit (system/dirtylimit.c): QEMU's
 * set-vcpu-dirty-limit / cancel-vcpu-dirty-limit / query-vcpu-dirty-limit
 * and the migration capability dirty-limit.  Needs the KVM dirty ring
 * (-accel kvm,dirty-ring-size=N): each vCPU's rate is read from its own
 * ring.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef SYSTEM_DIRTYLIMIT_H
#define SYSTEM_DIRTYLIMIT_H

#include <stdbool.h>
#include <stdint.h>
#include "monitor/qmp-commands.h"

/* Main thread, BQL held (listed in monitor/qmp-commands.c). */
QmpHandler qmp_set_vcpu_dirty_limit;
QmpHandler qmp_cancel_vcpu_dirty_limit;
QmpHandler qmp_query_vcpu_dirty_limit;

/* Any thread: is at least one vCPU limited (the limiter thread runs)? */
bool dirtylimit_in_service(void);

/*
 * Migration thread (takes the BQL): limit every vCPU to @quota_mb MB/s,
 * on behalf of the running migration (capability dirty-limit).  A limit
 * already in place at the same quota is left as it is.
 */
void dirtylimit_migration_apply(uint64_t quota_mb);
/*
 * Any thread (takes the BQL unless held): end the limits that
 * dirtylimit_migration_apply() set, if any; the migration is over.
 */
void dirtylimit_migration_cancel(void);

/*
 * For query-migrate, any thread, 0 while not in service:
 * dirtylimit_ring_full_time_us: how long a vCPU dirtying at the highest
 * rate seen since the limits began takes to fill its ring (QEMU's
 * dirty-limit-ring-full-time);
 * dirtylimit_throttle_time_us: the longest sleep a limited vCPU gets per
 * such ring-full round (dirty-limit-throttle-time-per-round).
 */
uint64_t dirtylimit_ring_full_time_us(void);
uint64_t dirtylimit_throttle_time_us(void);

#endif
