/*
 * The QMP command table: one entry per command, read by the dispatcher,
 * query-commands and HMP (which calls QMP handlers through qmp_call()).
 *
 * Adding a command is one line in monitor/qmp-commands.c plus a handler:
 *
 *     { "pmemsave", qmp_pmemsave, "val:int,size:int,filename:str" },
 *
 * Argument schema: comma-separated NAME:TYPE, a leading '*' marks an
 * optional argument.  TYPE is one of str, bool, int (int64), uint64,
 * number (int or float), object, array, any.  The item "**" lets any
 * other members through, for handlers that check them themselves
 * (migrate-set-parameters).  The dispatcher checks the
 * arguments against it with QEMU's error messages before the handler
 * runs, so handlers may read them with the accessors below without
 * checking types again.  Nested values (array elements, objects) are
 * the handler's to check; qmp_check_object() does it with the same
 * schema syntax and messages.
 *
 * Threading: handlers run in the main thread with the BQL held.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MONITOR_QMP_COMMANDS_H
#define MONITOR_QMP_COMMANDS_H

#include <json-glib/json-glib.h>
#include "qapi/error.h"

/*
 * Run a command.  On success leave *@ret NULL (the reply is "{}") or set
 * it to the return value (owned by the caller).  On failure set *@errp.
 */
typedef void QmpHandler(JsonObject *args, JsonNode **ret, Error **errp);

typedef enum QmpCommandFlags {
    QMP_CMD_NONE = 0,
    /* Allowed before capabilities negotiation (qmp_capabilities only). */
    QMP_CMD_NEGOTIATION = 1 << 0,
} QmpCommandFlags;

typedef struct QmpCommand {
    const char *name;
    QmpHandler *handler;
    const char *args;       /* argument schema, "" for none */
    unsigned flags;         /* QmpCommandFlags */
    const char *help;       /* one line, for HMP help and docs */
} QmpCommand;

/* The table, terminated by an entry with a NULL name. */
extern const QmpCommand qmp_commands[];

const QmpCommand *qmp_find_command(const char *name);
/* Abort if an entry's schema does not parse (a programming error). */
void qmp_commands_validate(void);

/* Check @args (may be NULL: none given) against @cmd's schema. */
bool qmp_check_args(const QmpCommand *cmd, JsonObject *args, Error **errp);
/*
 * Check @obj against @schema; member names in messages are prefixed
 * with @prefix ("capabilities[0]." gives "capabilities[0].state").
 */
bool qmp_check_object(JsonObject *obj, const char *schema,
                      const char *prefix, Error **errp);
/*
 * Look @name up, check @args (consumed; may be NULL) and run it: the path
 * HMP handlers take to reach the one implementation of a command.
 */
bool qmp_call(const char *name, JsonObject *args, JsonNode **ret,
              Error **errp);

/* Accessors for checked arguments; @def when absent. */
bool qmp_arg_has(JsonObject *args, const char *name);
const char *qmp_arg_str(JsonObject *args, const char *name,
                        const char *def);
bool qmp_arg_bool(JsonObject *args, const char *name, bool def);
int64_t qmp_arg_int(JsonObject *args, const char *name, int64_t def);
double qmp_arg_number(JsonObject *args, const char *name, double def);
JsonNode *qmp_arg_node(JsonObject *args, const char *name);

/* Return-value builders: wrap an object/array/string into *@ret. */
JsonNode *qmp_node_object(JsonObject *obj);     /* consumes @obj */
JsonNode *qmp_node_array(JsonArray *arr);       /* consumes @arr */
JsonNode *qmp_node_string(const char *str);

/* Session commands (monitor/qmp-cmds.c, monitor/qmp.c). */
QmpHandler qmp_qmp_capabilities;
QmpHandler qmp_query_version;
QmpHandler qmp_query_commands;
QmpHandler qmp_query_name;
QmpHandler qmp_query_uuid;
QmpHandler qmp_object_add;
QmpHandler qmp_object_del;
QmpHandler qmp_query_objects;
QmpHandler qmp_qom_list;
QmpHandler qmp_query_status;
QmpHandler qmp_query_kvm;
QmpHandler qmp_query_cpus_fast;
QmpHandler qmp_stop;
QmpHandler qmp_cont;
QmpHandler qmp_quit;
QmpHandler qmp_getfd;
QmpHandler qmp_closefd;
QmpHandler qmp_human_monitor_command;
/* Memory inspection (monitor/qmp-cmds.c). */
QmpHandler qmp_pmemsave;
QmpHandler qmp_memsave;

#endif
