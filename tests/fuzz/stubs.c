/*
 * What the migration fuzzer cannot link from the tree: the machine (for
 * its type name), the migration state object (migration.c, which brings
 * threads, QMP and events; only the counters and the pass hook are
 * referenced by ram.c), the capabilities (options.c needs the QMP layer;
 * the destination's defaults are all off, so that is what these report)
 * and the KVM VM (there is none: as with -accel qtest, dirty tracking
 * falls back to the RAM blocks' soft dirty bits).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "hw/boards.h"
#include "migration/migration-stats.h"
#include "../../migration/options.h"
#include "system/kvm.h"
#include "../../accel/kvm/kvm-internal.h"
#include "fuzz-target.h"

MigrationAtomicStats mig_stats;
KVMState *kvm_state;            /* NULL: no KVM */

const char *machine_type_name(void)
{
    return FUZZ_MACHINE_TYPE;
}

void mig_stats_reset(void)
{
    memset(&mig_stats, 0, sizeof(mig_stats));
}

void migration_pass_done(uint64_t pass)
{
}

bool migrate_capability(MigrationCapability cap)
{
    return false;
}

bool migrate_postcopy_ram(void)
{
    return false;
}

/* kvm-dirty.c calls these only when kvm_state is set. */
int kvm_vm_ioctl(KVMState *s, unsigned long type, ...)
{
    abort();
}

bool kvm_slot_set_dirty_logging(int slot, bool enable, Error **errp)
{
    abort();
}
