/*
 * What the rest of qmig may call in the migration subsystem.
 *
 * All of these run in the main thread with the BQL held unless noted.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_MISC_H
#define MIGRATION_MISC_H

#include "qapi/error.h"

/* Create the migration state and register RAM; once, after the machine. */
/*
 * -global migration.PROP=VALUE: a capability (its name, or QEMU's
 * property name x-NAME) or a parameter, set before any migration.
 */
bool migrate_global_property(const char *prop, const char *value,
                             Error **errp);
void migration_object_init(void);
/* -incoming URI|defer, after the monitors exist. */
bool migration_incoming_cmdline(const char *uri, Error **errp);
/* At exit: cancel an outgoing migration and wait for its thread. */
void migration_shutdown(void);
/*
 * At a shutdown or exit request, before the vCPUs are paused: a postcopy
 * destination lets go of vCPUs blocked on pages that may never come
 * (postcopy-paused), which could not be paused otherwise.
 */
void migration_shutdown_prepare(void);

/* Any thread: is an outgoing migration between setup and its end? */
bool migration_is_running(void);
/* A parameter changed (max-bandwidth...): apply it to a running one. */
void migration_parameters_changed(void);
/* The argument schema of migrate-set-parameters (migration/options.c). */
const char *migrate_parameters_schema(void);

#endif
