/*
 * The "channels" argument of migrate and migrate-incoming.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_CHANNEL_QMP_H
#define MIGRATION_CHANNEL_QMP_H

#include <json-glib/json-glib.h>
#include "qapi/error.h"

/*
 * The MigrationChannel list @channels of command @cmd ("migrate",
 * "migrate-incoming") as a migration URI (caller frees); NULL with
 * QEMU's error for a bad list.  Main thread.
 */
char *migrate_channels_to_uri(JsonArray *channels, const char *cmd,
                              Error **errp);

#endif
