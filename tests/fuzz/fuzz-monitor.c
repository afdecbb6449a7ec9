/*
 * libFuzzer targets "qmp" and "hmp" (this file, built twice with
 * FUZZ_TARGET naming which): the monitors.
 *
 * Each input is the bytes a client sends on one connection.  The harness
 * opens the connection on qmig's real monitor (a "-mon" on a null
 * chardev, fuzz-qmig.c: the greeting, or the HMP banner), feeds the
 * bytes to the monitor's read handler in the chunks its can_read allows
 * (QMP: the JSON streamer, monitor/json-streamer.c, then the dispatcher,
 * monitor/dispatch.c, with argument checks against each command's schema
 * and the command itself; HMP: the line editor and command parser,
 * monitor/hmp.c, and each command, most of which call QMP), closes the
 * connection, and runs what the commands scheduled on the main loop
 * (events, BHs).  Commands run against the machine-less core; the few
 * that cannot run in-process are wrapped (fuzz-wrap.c).  State that
 * commands change (capabilities, parameters, bitmaps, run state) stays
 * for the next input, as it would for the next client.
 *
 * Seeds ("--make-seeds=DIR"): QMP, a session per command in the real
 * command table with arguments made from its schema; HMP, a line per
 * command of the real tables with sample arguments.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "chardev/char.h"
#include "../../chardev/chardev-internal.h"
#include "monitor/qmp-commands.h"
#include "monitor/hmp.h"
#include "fuzz-common.h"
#include "fuzz-qmig.h"

#define FUZZ_IS_QMP (!strcmp(FUZZ_TARGET, "qmp"))

static Chardev *fuzz_chr;

/* Run whatever the commands scheduled (events, BHs), without blocking. */
static void fuzz_run_main_loop(void)
{
    for (int i = 0; i < 64 && g_main_context_iteration(NULL, FALSE); i++) {
        /* bounded: a source that re-arms itself cannot spin us */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bql_lock();
    qemu_chr_be_event(fuzz_chr, CHR_EVENT_OPENED);
    while (size) {
        int n = fuzz_chr->fe_ops->can_read(fuzz_chr->fe_opaque);

        n = MIN((size_t)MAX(n, 1), size);
        fuzz_chr->fe_ops->read(fuzz_chr->fe_opaque, data, n);
        data += n;
        size -= n;
    }
    qemu_chr_be_event(fuzz_chr, CHR_EVENT_CLOSED);
    fuzz_run_main_loop();
    bql_unlock();
    return 0;
}

/* ---- Seeds ---- */

/* A sample value for one schema type ("str", "int", "bool", ...). */
static void fuzz_sample_arg(GString *s, const char *name, const char *type)
{
    if (!strcmp(type, "str")) {
        g_string_append_printf(s, "\"%s\"",
                               !strcmp(name, "node") ? FUZZ_DISK_ID :
                               !strcmp(name, "uri") ? "tcp:127.0.0.1:1" :
                               !strcmp(name, "command-line") ? "info status" :
                               "fuzz");
    } else if (!strcmp(type, "bool")) {
        g_string_append(s, "true");
    } else if (!strcmp(type, "array")) {
        g_string_append(s, "[]");
    } else if (!strcmp(type, "number")) {
        g_string_append(s, "1.5");
    } else {
        g_string_append(s, "4096");
    }
}

/* {"execute": NAME, "arguments": {...}} with every argument of @schema. */
static void fuzz_qmp_request(GString *s, const QmpCommand *cmd, int id)
{
    g_auto(GStrv) specs = g_strsplit(cmd->args, ",", -1);
    bool first = true;

    g_string_append_printf(s, "{\"execute\": \"%s\", \"arguments\": {",
                           cmd->name);
    for (char **p = specs; *p && **p; p++) {
        const char *spec = **p == '*' ? *p + 1 : *p;
        g_auto(GStrv) nt = g_strsplit(spec, ":", 2);

        if (!nt[0] || !nt[1] || !strcmp(nt[0], "*")) {
            continue;   /* "**": the handler checks the members */
        }
        g_string_append_printf(s, "%s\"%s\": ", first ? "" : ", ", nt[0]);
        fuzz_sample_arg(s, nt[0], nt[1]);
        first = false;
    }
    g_string_append_printf(s, "}, \"id\": %d}\n", id);
}

static const char *const fuzz_qmp_sessions[][2] = {
    { "bitmaps",
      "{'execute': 'qmp_capabilities'}\n"
      "{'execute': 'block-dirty-bitmap-add', 'arguments': {'node': 'disk0', "
      "'name': 'b0', 'granularity': 65536}}\n"
      "{'execute': 'x-debug-block-dirty-bitmap-sha256', 'arguments': "
      "{'node': 'disk0', 'name': 'b0'}}\n"
      "{'execute': 'block-dirty-bitmap-disable', 'arguments': "
      "{'node': 'disk0', 'name': 'b0'}}\n"
      "{'execute': 'query-block'}\n"
      "{'execute': 'block-dirty-bitmap-remove', 'arguments': "
      "{'node': 'disk0', 'name': 'b0'}}\n" },
    { "caps-params",
      "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": []}}\n"
      "{\"execute\": \"migrate-set-capabilities\", \"arguments\": "
      "{\"capabilities\": [{\"capability\": \"xbzrle\", \"state\": true}, "
      "{\"capability\": \"postcopy-ram\", \"state\": true}]}}\n"
      "{\"execute\": \"migrate-set-parameters\", \"arguments\": "
      "{\"multifd-channels\": 4, \"multifd-compression\": \"zstd\", "
      "\"max-bandwidth\": 1048576, \"downtime-limit\": 300, "
      "\"block-bitmap-mapping\": [{\"node-name\": \"disk0\", \"alias\": "
      "\"d\", \"bitmaps\": [{\"name\": \"b\", \"alias\": \"b\"}]}]}}\n"
      "{\"execute\": \"query-migrate-parameters\"}\n"
      "{\"execute\": \"query-migrate\", \"id\": [1, {\"a\": null}]}\n" },
    { "hmp-via-qmp",
      "{\"execute\": \"qmp_capabilities\"}\n"
      "{\"execute\": \"human-monitor-command\", \"arguments\": "
      "{\"command-line\": \"info migrate_parameters\"}}\n"
      "{\"execute\": \"stop\"}{\"execute\": \"cont\"}\n"
      "{\"execute\": \"query-status\"}\n" },
    { "syntax",
      "{\"execute\": \"qmp_capabilities\"}\n"
      "[1, 2.5e3, -0, \"\\u00e9\\n\", true, false, null, {}]\n"
      "{\"exec-oob\": \"x\"}\n\"x\" 17 }\n{\"execute\": 42}\n"
      "{\"execute\": \"query-version\", \"arguments\": []}\n" },
};

static const char *const fuzz_hmp_args[][2] = {
    { "help", "migrate" }, { "info", "" }, { "pmemsave", "0 4096 f" },
    { "memsave", "0x1000 512 f" }, { "migrate", "-d tcp:127.0.0.1:1" },
    { "migrate_incoming", "tcp:127.0.0.1:1" },
    { "migrate_continue", "pre-switchover" },
    { "migrate_set_capability", "xbzrle on" },
    { "migrate_set_parameter", "max-bandwidth 32M" },
    { "calc_dirty_rate", "-r 1 256" }, { "set_vcpu_dirty_limit", "10 0" },
    { "cancel_vcpu_dirty_limit", "0" }, { "migrate_recover", "unix:x" },
};

static const char *fuzz_hmp_sample(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(fuzz_hmp_args); i++) {
        if (g_str_has_prefix(name, fuzz_hmp_args[i][0]) &&
            (name[strlen(fuzz_hmp_args[i][0])] == '\0' ||
             name[strlen(fuzz_hmp_args[i][0])] == '|')) {
            return fuzz_hmp_args[i][1];
        }
    }
    return "";
}

static bool fuzz_hmp_table_seeds(const char *dir, const HmpCommand *t,
                                 bool info, Error **errp)
{
    for (; t->name; t++) {
        g_autofree char *first = g_strndup(t->name, strcspn(t->name, "|"));
        g_autofree char *line = g_strdup_printf("%s%s %s\r\nhelp %s\n",
                                                info ? "info " : "", first,
                                                fuzz_hmp_sample(t->name),
                                                first);
        g_autofree char *name = g_strdup_printf("%s%s", info ? "info-" : "",
                                                first);

        if (!fuzz_write_seed(dir, name, line, strlen(line), errp)) {
            return false;
        }
    }
    return true;
}

static bool fuzz_make_seeds(const char *dir, Error **errp)
{
    if (FUZZ_IS_QMP) {
        int id = 0;

        for (const QmpCommand *cmd = qmp_commands; cmd->name; cmd++) {
            g_autoptr(GString) s = g_string_new(
                "{\"execute\": \"qmp_capabilities\"}\n");

            fuzz_qmp_request(s, cmd, ++id);
            if (!fuzz_write_seed(dir, cmd->name, s->str, s->len, errp)) {
                return false;
            }
        }
        for (size_t i = 0; i < G_N_ELEMENTS(fuzz_qmp_sessions); i++) {
            const char *text = fuzz_qmp_sessions[i][1];

            if (!fuzz_write_seed(dir, fuzz_qmp_sessions[i][0], text,
                                 strlen(text), errp)) {
                return false;
            }
        }
        return true;
    }
    return fuzz_hmp_table_seeds(dir, hmp_commands, false, errp) &&
           fuzz_hmp_table_seeds(dir, hmp_migration_commands, false, errp) &&
           fuzz_hmp_table_seeds(dir, hmp_info_commands, true, errp) &&
           fuzz_hmp_table_seeds(dir, hmp_migration_info_commands, true,
                                errp) &&
           fuzz_hmp_table_seeds(dir, hmp_block_info_commands, true, errp);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_qmig_init();   /* returns with the BQL held */
    fuzz_chr = qemu_chr_find(FUZZ_IS_QMP ? FUZZ_QMP_ID : FUZZ_HMP_ID);
    assert(fuzz_chr && fuzz_chr->fe_ops);
    fuzz_run_main_loop();
    bql_unlock();
    fuzz_handle_make_seeds(*argc, *argv, fuzz_make_seeds);
    return 0;
}
