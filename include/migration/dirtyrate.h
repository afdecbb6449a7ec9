/*
 * Dirty page rate measurement (migration/dirtyrate.c): QEMU's
 * calc-dirty-rate / query-dirty-rate.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_DIRTYRATE_H
#define MIGRATION_DIRTYRATE_H

#include <stdbool.h>
#include "monitor/qmp-commands.h"

/* Main thread, BQL held (listed in monitor/qmp-commands.c). */
QmpHandler qmp_calc_dirty_rate;
QmpHandler qmp_query_dirty_rate;

/*
 * Does a dirty-bitmap measurement own KVM's dirty log right now?  The log
 * has one owner at a time: an outgoing migration refuses to start while
 * this is true (and calc-dirty-rate refuses while a migration runs).
 * Main thread, BQL held.
 */
bool dirtyrate_dirty_log_in_use(void);

#endif
