/*
 * The HMP server: banner, prompt, line input, and turning a command line
 * into a call of the HMP table's handler.
 *
 * Input is taken a line at a time with backspace editing; there is no
 * history, completion or echo (a terminal on stdio echoes by itself).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "config-host.h"
#include "monitor-internal.h"
#include "trace.h"

/* QEMU's readline buffer holds this many characters. */
#define HMP_LINE_MAX 4095

static void hmp_prompt(Monitor *mon)
{
    monitor_printf(mon, "(qemu) ");
}

/*
 * Split @line into words; "..." quotes a word with spaces, with \" and
 * \\ escapes inside.  NULL (and a message on @mon) on a bad quote.
 */
static GPtrArray *hmp_split(Monitor *mon, const char *line)
{
    g_autoptr(GPtrArray) words = g_ptr_array_new_with_free_func(g_free);
    const char *p = line;

    for (;;) {
        GString *word;

        while (g_ascii_isspace(*p)) {
            p++;
        }
        if (!*p) {
            break;
        }
        word = g_string_new(NULL);
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++) {
                if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) {
                    p++;
                }
                g_string_append_c(word, *p);
            }
            if (*p != '"') {
                monitor_printf(mon, "unterminated string\n");
                g_string_free(word, TRUE);
                return NULL;
            }
            p++;
        } else {
            while (*p && !g_ascii_isspace(*p)) {
                g_string_append_c(word, *p++);
            }
        }
        g_ptr_array_add(words, g_string_free(word, FALSE));
    }
    g_ptr_array_add(words, NULL);
    return g_steal_pointer(&words);
}

const HmpCommand *hmp_find(const HmpCommand *table, const char *name)
{
    for (const HmpCommand *cmd = table; cmd->name; cmd++) {
        g_auto(GStrv) names = g_strsplit(cmd->name, "|", -1);

        for (char **n = names; *n; n++) {
            if (!strcmp(*n, name)) {
                return cmd;
            }
        }
    }
    return NULL;
}

/* Commands are looked up in these tables, in order. */
static const HmpCommand *const hmp_tables[] = {
    hmp_commands, hmp_migration_commands,
};
static const HmpCommand *const hmp_info_tables[] = {
    hmp_info_commands, hmp_migration_info_commands, hmp_block_info_commands,
};

static const HmpCommand *hmp_find_in(const HmpCommand *const *tables,
                                     size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        const HmpCommand *cmd = hmp_find(tables[i], name);

        if (cmd) {
            return cmd;
        }
    }
    return NULL;
}

void hmp_help_list(Monitor *mon, bool info)
{
    const HmpCommand *const *tables = info ? hmp_info_tables : hmp_tables;
    size_t n = info ? ARRAY_SIZE(hmp_info_tables) : ARRAY_SIZE(hmp_tables);

    for (size_t i = 0; i < n; i++) {
        for (const HmpCommand *cmd = tables[i]; cmd->name; cmd++) {
            monitor_printf(mon, "%s%s%s%s -- %s\n", info ? "info " : "",
                           cmd->name, cmd->params[0] ? " " : "",
                           cmd->params, cmd->help);
        }
    }
}

const HmpCommand *hmp_lookup(const char *name, bool info)
{
    return info ? hmp_find_in(hmp_info_tables, ARRAY_SIZE(hmp_info_tables),
                              name)
                : hmp_find_in(hmp_tables, ARRAY_SIZE(hmp_tables), name);
}

void hmp_handle_command(Monitor *mon, const char *cmdline)
{
    g_autoptr(GPtrArray) words = hmp_split(mon, cmdline);
    const HmpCommand *cmd;
    char **argv;
    int argc, first = 0;
    Monitor *old;

    if (!words || words->len == 1) {
        return;
    }
    argv = (char **)words->pdata;
    argc = words->len - 1;
    trace_hmp_command(cmdline);
    if (!strcmp(argv[0], "info") && argc > 1) {
        first = 1;
    }
    cmd = hmp_lookup(argv[first], first);
    if (!cmd) {
        monitor_printf(mon, "unknown command: '%s%s'\n",
                       first ? "info " : "", argv[first]);
        return;
    }
    if (argc - first - 1 < cmd->min_args) {
        monitor_printf(mon, "%s: missing argument; usage: %s %s\n",
                       argv[first], argv[first], cmd->params);
        return;
    }
    if (argc - first - 1 > cmd->max_args) {
        monitor_printf(mon, "%s: extraneous characters at the end of "
                       "line\n", argv[first]);
        return;
    }
    old = monitor_set_cur(mon);
    cmd->handler(mon, argc - first, argv + first);
    monitor_set_cur(old);
}

static int hmp_can_read(void *opaque)
{
    return 4096;
}

static void hmp_read(void *opaque, const uint8_t *buf, int size)
{
    Monitor *mon = opaque;

    for (int i = 0; i < size; i++) {
        uint8_t c = buf[i];

        if (c == '\n' && mon->skip_lf) {
            mon->skip_lf = false;
            continue;
        }
        mon->skip_lf = c == '\r';
        if (c == '\r' || c == '\n') {
            g_autofree char *line = g_strdup(mon->line->str);

            g_string_truncate(mon->line, 0);
            hmp_handle_command(mon, line);
            hmp_prompt(mon);
        } else if (c == 0x7f || c == '\b') {
            if (mon->line->len) {
                g_string_truncate(mon->line, mon->line->len - 1);
            }
        } else if (c >= 0x20 && mon->line->len < HMP_LINE_MAX) {
            g_string_append_c(mon->line, c);
        }
    }
}

static void hmp_event(void *opaque, ChrEvent event)
{
    Monitor *mon = opaque;

    mon->connected = event == CHR_EVENT_OPENED;
    g_string_truncate(mon->line, 0);
    mon->skip_lf = false;
    trace_monitor_hmp_connection(qemu_chr_label(mon->chr),
                                 mon->connected ? "opened" : "closed");
    if (mon->connected) {
        monitor_printf(mon, "qmig %s monitor - type 'help' for more "
                       "information\n", QMIG_VERSION);
        hmp_prompt(mon);
    }
}

static const ChrFrontendOps hmp_ops = {
    .can_read = hmp_can_read,
    .read = hmp_read,
    .event = hmp_event,
};

bool monitor_init_hmp(Chardev *chr, Error **errp)
{
    Monitor *mon;

    if (!monitor_chr_available(chr, errp)) {
        return false;
    }
    mon = monitor_new(chr, false);
    mon->line = g_string_new(NULL);
    trace_monitor_init(qemu_chr_label(chr), "hmp");
    qemu_chr_fe_set_handlers(chr, &hmp_ops, mon);
    return true;
}
