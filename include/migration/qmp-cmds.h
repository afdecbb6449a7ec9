/*
 * QMP handlers of the migration subsystem (migration/migration-qmp.c),
 * listed in monitor/qmp-commands.c's table.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_QMP_CMDS_H
#define MIGRATION_QMP_CMDS_H

#include "monitor/qmp-commands.h"

QmpHandler qmp_migrate;
QmpHandler qmp_migrate_incoming;
QmpHandler qmp_migrate_cancel;
QmpHandler qmp_migrate_continue;
QmpHandler qmp_migrate_set_capabilities;
QmpHandler qmp_query_migrate_capabilities;
QmpHandler qmp_migrate_set_parameters;
QmpHandler qmp_query_migrate_parameters;
QmpHandler qmp_query_migrate;
QmpHandler qmp_migrate_start_postcopy;
/* Postcopy recovery. */
QmpHandler qmp_migrate_pause;
QmpHandler qmp_migrate_recover;

#endif
