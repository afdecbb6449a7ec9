/*
 * HMP command tables.  A subsystem adds HMP commands with a table of
 * HmpCommand (one line each) whose handlers call QMP commands through
 * hmp_qmp(), so that each command has one implementation.
 *
 * Threading: handlers run in the main thread with the BQL held.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MONITOR_HMP_H
#define MONITOR_HMP_H

#include <json-glib/json-glib.h>
#include "monitor/monitor.h"

/* @argv[0] is the command name; the argument count was checked. */
typedef void HmpHandler(Monitor *mon, int argc, char **argv);

typedef struct HmpCommand {
    const char *name;       /* "cont|c": aliases after '|' */
    const char *params;     /* for help: "addr size file" */
    int min_args;
    int max_args;
    HmpHandler *handler;
    const char *help;
} HmpCommand;

/*
 * Run QMP command @name with @args (consumed; may be NULL).  Returns its
 * value ("{}" for commands that return nothing), or NULL after printing
 * "Error: ..." on @mon as QEMU does.  Do not pass a NULL result to
 * json_node_unref(); g_autoptr(JsonNode) is fine.
 */
JsonNode *hmp_qmp(Monitor *mon, const char *name, JsonObject *args);
/* Like hmp_qmp() for commands whose value HMP does not print. */
bool hmp_qmp_run(Monitor *mon, const char *name, JsonObject *args);

/* The tables, each ending with a NULL name (monitor/hmp-cmds.c, ...). */
extern const HmpCommand hmp_commands[];
extern const HmpCommand hmp_info_commands[];
extern const HmpCommand hmp_migration_commands[];
extern const HmpCommand hmp_migration_info_commands[];
extern const HmpCommand hmp_block_info_commands[];      /* block/qmp-block.c */

#endif
