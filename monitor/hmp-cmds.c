/*
 * HMP commands and their table.  Handlers call the QMP handlers through
 * qmp_call() (one implementation per command) and format the result the
 * way QEMU's HMP does.  Adding a command: one table line + a handler.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "monitor-internal.h"
#include "monitor/qmp-commands.h"
#include "qom/object.h"

JsonNode *hmp_qmp(Monitor *mon, const char *name, JsonObject *args)
{
    JsonNode *ret = NULL;
    Error *err = NULL;

    if (!qmp_call(name, args, &ret, &err)) {
        monitor_printf(mon, "Error: %s\n", error_get_pretty(err));
        error_free(err);
        return NULL;
    }
    return ret ? ret : qmp_node_object(json_object_new());
}

bool hmp_qmp_run(Monitor *mon, const char *name, JsonObject *args)
{
    JsonNode *ret = hmp_qmp(mon, name, args);

    if (!ret) {
        return false;
    }
    json_node_unref(ret);
    return true;
}

static void hmp_help(Monitor *mon, int argc, char **argv)
{
    const HmpCommand *cmd;

    if (argc < 2) {
        hmp_help_list(mon, false);
        return;
    }
    if (!strcmp(argv[1], "info")) {
        hmp_help_list(mon, true);
        return;
    }
    cmd = hmp_lookup(argv[1], false);
    if (!cmd) {
        monitor_printf(mon, "unknown command: '%s'\n", argv[1]);
        return;
    }
    monitor_printf(mon, "%s%s%s -- %s\n", cmd->name,
                   cmd->params[0] ? " " : "", cmd->params, cmd->help);
}

static void hmp_info(Monitor *mon, int argc, char **argv)
{
    /* "info" alone; "info NAME" is dispatched to the info tables. */
    hmp_help_list(mon, true);
}

static void hmp_stop(Monitor *mon, int argc, char **argv)
{
    hmp_qmp_run(mon, "stop", NULL);
}

static void hmp_cont(Monitor *mon, int argc, char **argv)
{
    hmp_qmp_run(mon, "cont", NULL);
}

static void hmp_quit(Monitor *mon, int argc, char **argv)
{
    hmp_qmp_run(mon, "quit", NULL);
}

/* object_add TYPE,id=ID,key=value,... (as -object) */
static void hmp_object_add(Monitor *mon, int argc, char **argv)
{
    Error *err = NULL;

    if (!object_add_from_cmdline(argv[1], &err)) {
        monitor_printf(mon, "Error: %s\n", error_get_pretty(err));
        error_free(err);
    }
}

static void hmp_object_del(Monitor *mon, int argc, char **argv)
{
    JsonObject *args = json_object_new();

    json_object_set_string_member(args, "id", argv[1]);
    hmp_qmp_run(mon, "object-del", args);
}

static bool hmp_parse_int(Monitor *mon, const char *what, const char *str,
                          int64_t *val)
{
    uint64_t u;

    if (qemu_strtoi64(str, val)) {
        return true;
    }
    /* Addresses above INT64_MAX, given in hex. */
    if (qemu_strtou64(str, &u)) {
        *val = (int64_t)u;
        return true;
    }
    monitor_printf(mon, "invalid %s '%s'\n", what, str);
    return false;
}

/* pmemsave/memsave ADDR SIZE FILE */
static void hmp_memsave_common(Monitor *mon, char **argv, const char *name)
{
    JsonObject *args;
    int64_t addr, size;

    if (!hmp_parse_int(mon, "address", argv[1], &addr) ||
        !hmp_parse_int(mon, "size", argv[2], &size)) {
        return;
    }
    args = json_object_new();
    json_object_set_int_member(args, "val", addr);
    json_object_set_int_member(args, "size", size);
    json_object_set_string_member(args, "filename", argv[3]);
    hmp_qmp_run(mon, name, args);
}

static void hmp_pmemsave(Monitor *mon, int argc, char **argv)
{
    hmp_memsave_common(mon, argv, "pmemsave");
}

static void hmp_memsave(Monitor *mon, int argc, char **argv)
{
    hmp_memsave_common(mon, argv, "memsave");
}

/* ---- info ---- */

static void hmp_info_status(Monitor *mon, int argc, char **argv)
{
    g_autoptr(JsonNode) ret = hmp_qmp(mon, "query-status", NULL);
    JsonObject *info;
    const char *status;
    bool running;

    if (!ret) {
        return;
    }
    info = json_node_get_object(ret);
    status = json_object_get_string_member(info, "status");
    running = json_object_get_boolean_member(info, "running");
    monitor_printf(mon, "VM status: %s", running ? "running" : "paused");
    if (!running && strcmp(status, "paused")) {
        monitor_printf(mon, " (%s)", status);
    }
    monitor_printf(mon, "\n");
}

static void hmp_info_version(Monitor *mon, int argc, char **argv)
{
    g_autoptr(JsonNode) ret = hmp_qmp(mon, "query-version", NULL);
    JsonObject *info, *qemu;

    if (!ret) {
        return;
    }
    info = json_node_get_object(ret);
    qemu = json_object_get_object_member(info, "qemu");
    monitor_printf(mon, "%" PRId64 ".%" PRId64 ".%" PRId64 " (%s)\n",
                   json_object_get_int_member(qemu, "major"),
                   json_object_get_int_member(qemu, "minor"),
                   json_object_get_int_member(qemu, "micro"),
                   json_object_get_string_member(info, "package"));
}

static void hmp_info_name(Monitor *mon, int argc, char **argv)
{
    g_autoptr(JsonNode) ret = hmp_qmp(mon, "query-name", NULL);
    JsonObject *info;

    if (!ret) {
        return;
    }
    info = json_node_get_object(ret);
    if (json_object_has_member(info, "name")) {
        monitor_printf(mon, "%s\n",
                       json_object_get_string_member(info, "name"));
    }
}

static void hmp_info_uuid(Monitor *mon, int argc, char **argv)
{
    g_autoptr(JsonNode) ret = hmp_qmp(mon, "query-uuid", NULL);

    if (ret) {
        monitor_printf(mon, "%s\n", json_object_get_string_member(
                           json_node_get_object(ret), "UUID"));
    }
}

static void hmp_info_kvm(Monitor *mon, int argc, char **argv)
{
    g_autoptr(JsonNode) ret = hmp_qmp(mon, "query-kvm", NULL);
    JsonObject *info;

    if (!ret) {
        return;
    }
    info = json_node_get_object(ret);
    if (json_object_get_boolean_member(info, "present")) {
        monitor_printf(mon, "kvm support: %s\n",
                       json_object_get_boolean_member(info, "enabled") ?
                       "enabled" : "disabled");
    } else {
        monitor_printf(mon, "kvm support: not compiled\n");
    }
}

/* name (aliases after '|'), params, min args, max args, handler, help */
const HmpCommand hmp_commands[] = {
    { "help|?", "[cmd]", 0, 1, hmp_help, "show the help" },
    { "info", "[subcommand]", 0, 0, hmp_info, "show various information about the system state" },
    { "stop|s", "", 0, 0, hmp_stop, "stop emulation" },
    { "cont|c", "", 0, 0, hmp_cont, "resume emulation" },
    { "quit|q", "", 0, 0, hmp_quit, "quit the emulator" },
    { "object_add", "[qom-type=]type,id=str[,prop=value][,...]", 1, 1, hmp_object_add, "create QOM object" },
    { "object_del", "id", 1, 1, hmp_object_del, "destroy QOM object" },
    { "pmemsave", "addr size file", 3, 3, hmp_pmemsave, "save to disk physical memory dump starting at 'addr' of size 'size'" },
    { "memsave", "addr size file", 3, 3, hmp_memsave, "save to disk virtual memory dump starting at 'addr' of size 'size'" },
    { NULL }
};

const HmpCommand hmp_info_commands[] = {
    { "status", "", 0, 0, hmp_info_status, "show the current VM status (running|paused)" },
    { "version", "", 0, 0, hmp_info_version, "show the version of QEMU" },
    { "name", "", 0, 0, hmp_info_name, "show the current VM name" },
    { "uuid", "", 0, 0, hmp_info_uuid, "show the current VM UUID" },
    { "kvm", "", 0, 0, hmp_info_kvm, "show KVM information" },
    { NULL }
};
