/*
 * QMP commands the fuzzers must not run as they are (linked with
 * -Wl,--wrap=NAME, so the command table, HMP and human-monitor-command
 * all reach these instead of the real handlers):
 *
 * - migrate, migrate-incoming, migrate-recover: their URI may be
 *   exec:COMMAND (a shell command line from the fuzzer), or a socket
 *   anywhere; and a migration runs in threads across many inputs.
 *   Refused with an error.  The incoming paths have targets of their
 *   own (fuzz-loadvm, fuzz-multifd, fuzz-preempt), the source's return
 *   path fuzz-return-path.  A "channels" list is still turned into its
 *   URI first (migration/channel-qmp.c, which opens nothing), so that its
 *   checks see the fuzzer's input.
 * - quit: would end the fuzzer.  Answers success and does nothing.
 * - pmemsave, memsave: write a file the input names.  They run for
 *   real, into one scratch file of the harness's directory.
 * - calc-dirty-rate: its measuring thread runs for calc-time.  It runs
 *   for real with calc-time cut to 1 ms.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "monitor/qmp-commands.h"
#include "fuzz-qmig.h"
#include "../../migration/channel-qmp.h"

void __wrap_qmp_migrate(JsonObject *args, JsonNode **ret, Error **errp);
void __wrap_qmp_migrate_incoming(JsonObject *args, JsonNode **ret,
                                 Error **errp);
void __wrap_qmp_migrate_recover(JsonObject *args, JsonNode **ret,
                                Error **errp);
void __wrap_qmp_quit(JsonObject *args, JsonNode **ret, Error **errp);
void __wrap_qmp_pmemsave(JsonObject *args, JsonNode **ret, Error **errp);
void __wrap_qmp_memsave(JsonObject *args, JsonNode **ret, Error **errp);
void __wrap_qmp_calc_dirty_rate(JsonObject *args, JsonNode **ret,
                                Error **errp);
void __real_qmp_pmemsave(JsonObject *args, JsonNode **ret, Error **errp);
void __real_qmp_memsave(JsonObject *args, JsonNode **ret, Error **errp);
void __real_qmp_calc_dirty_rate(JsonObject *args, JsonNode **ret,
                                Error **errp);

static void fuzz_refuse(const char *what, Error **errp)
{
    error_setg(errp, "%s is not run by the fuzzer", what);
}

/* Run the channels parser on @args's list, if any; false if it refused. */
static bool fuzz_channels(JsonObject *args, const char *cmd, Error **errp)
{
    g_autofree char *uri = NULL;

    if (!qmp_arg_has(args, "channels")) {
        return true;
    }
    uri = migrate_channels_to_uri(
        json_node_get_array(qmp_arg_node(args, "channels")), cmd, errp);
    return uri != NULL;
}

void __wrap_qmp_migrate(JsonObject *args, JsonNode **ret, Error **errp)
{
    if (fuzz_channels(args, "migrate", errp)) {
        fuzz_refuse("migrate", errp);
    }
}

void __wrap_qmp_migrate_incoming(JsonObject *args, JsonNode **ret,
                                 Error **errp)
{
    if (fuzz_channels(args, "migrate-incoming", errp)) {
        fuzz_refuse("migrate-incoming", errp);
    }
}

void __wrap_qmp_migrate_recover(JsonObject *args, JsonNode **ret,
                                Error **errp)
{
    fuzz_refuse("migrate-recover", errp);
}

void __wrap_qmp_quit(JsonObject *args, JsonNode **ret, Error **errp)
{
}

/* A copy of @args with "filename" pointing into the scratch directory. */
static JsonObject *fuzz_sandbox_filename(JsonObject *args)
{
    g_autofree char *path = g_build_filename(fuzz_qmig_tmpdir(),
                                             "memsave.out", NULL);
    JsonObject *copy = json_object_new();
    GList *members = json_object_get_members(args);

    for (GList *l = members; l; l = l->next) {
        json_object_set_member(copy, l->data,
                               json_object_dup_member(args, l->data));
    }
    g_list_free(members);
    if (json_object_has_member(copy, "filename")) {
        json_object_set_string_member(copy, "filename", path);
    }
    return copy;
}

void __wrap_qmp_pmemsave(JsonObject *args, JsonNode **ret, Error **errp)
{
    g_autoptr(JsonObject) copy = fuzz_sandbox_filename(args);

    __real_qmp_pmemsave(copy, ret, errp);
}

void __wrap_qmp_memsave(JsonObject *args, JsonNode **ret, Error **errp)
{
    g_autoptr(JsonObject) copy = fuzz_sandbox_filename(args);

    __real_qmp_memsave(copy, ret, errp);
}

void __wrap_qmp_calc_dirty_rate(JsonObject *args, JsonNode **ret,
                                Error **errp)
{
    g_autoptr(JsonObject) copy = fuzz_sandbox_filename(args);

    if (json_object_has_member(copy, "calc-time")) {
        json_object_set_int_member(copy, "calc-time", 1);
        json_object_set_string_member(copy, "calc-time-unit", "millisecond");
    }
    __real_qmp_calc_dirty_rate(copy, ret, errp);
}
