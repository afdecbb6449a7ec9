/*
 * What every monitor has: the list of monitors, the current monitor,
 * file descriptors received with getfd, output, -mon, cleanup.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "monitor-internal.h"
#include "monitor/qmp-commands.h"
#include "trace.h"

GPtrArray *monitor_list;            /* main thread */
static Monitor *cur_mon;            /* main thread */

static void monitor_fd_close(gpointer p)
{
    close(GPOINTER_TO_INT(p));
}

Monitor *monitor_new(Chardev *chr, bool is_qmp)
{
    Monitor *mon = g_new0(Monitor, 1);

    mon->chr = chr;
    mon->is_qmp = is_qmp;
    mon->fds = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                     monitor_fd_close);
    if (chr) {
        if (!monitor_list) {
            monitor_list = g_ptr_array_new();
            qmp_commands_validate();
        }
        g_ptr_array_add(monitor_list, mon);
    }
    return mon;
}

void monitor_free(Monitor *mon)
{
    if (mon->chr) {
        qemu_chr_fe_set_handlers(mon->chr, NULL, NULL);
        g_ptr_array_remove(monitor_list, mon);
    }
    json_streamer_free(mon->streamer);
    if (mon->line) {
        g_string_free(mon->line, TRUE);
    }
    g_hash_table_destroy(mon->fds);
    g_free(mon);
}

bool monitor_chr_available(Chardev *chr, Error **errp)
{
    for (guint i = 0; monitor_list && i < monitor_list->len; i++) {
        Monitor *mon = g_ptr_array_index(monitor_list, i);

        if (mon->chr == chr) {
            error_setg(errp, "chardev '%s' is already in use by a monitor",
                       qemu_chr_label(chr));
            return false;
        }
    }
    return true;
}

Monitor *monitor_cur(void)
{
    return cur_mon;
}

Monitor *monitor_set_cur(Monitor *mon)
{
    Monitor *old = cur_mon;

    cur_mon = mon;
    return old;
}

void monitor_write(Monitor *mon, const char *str, size_t len)
{
    if (mon->capture) {
        g_string_append_len(mon->capture, str, len);
    } else if (mon->chr) {
        qemu_chr_write_all(mon->chr, (const uint8_t *)str, len);
    }
}

void monitor_printf(Monitor *mon, const char *fmt, ...)
{
    g_autofree char *text = NULL;
    g_autoptr(GString) out = g_string_new(NULL);
    va_list ap;

    if (!mon) {
        return;
    }
    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    /* HMP output uses CRLF line ends, as QEMU's does. */
    for (const char *p = text; *p; p++) {
        if (*p == '\n') {
            g_string_append_c(out, '\r');
        }
        g_string_append_c(out, *p);
    }
    monitor_write(mon, out->str, out->len);
}

/* ---- getfd ---- */

void qmp_getfd(JsonObject *args, JsonNode **ret, Error **errp)
{
    Monitor *mon = monitor_cur();
    const char *name = qmp_arg_str(args, "fdname", NULL);
    int fd = mon && mon->chr ? qemu_chr_fe_get_msgfd(mon->chr) : -1;

    if (fd < 0) {
        error_setg(errp, "No file descriptor supplied via SCM_RIGHTS");
        return;
    }
    if (g_ascii_isdigit(name[0])) {
        close(fd);
        error_setg(errp, "Parameter 'fdname' expects a name not starting "
                   "with a digit");
        return;
    }
    trace_monitor_getfd(name, fd);
    /* A name given twice replaces (and closes) the old descriptor. */
    g_hash_table_insert(mon->fds, g_strdup(name), GINT_TO_POINTER(fd));
}

void qmp_closefd(JsonObject *args, JsonNode **ret, Error **errp)
{
    Monitor *mon = monitor_cur();
    const char *name = qmp_arg_str(args, "fdname", NULL);

    if (!mon || !g_hash_table_remove(mon->fds, name)) {
        error_setg(errp, "File descriptor named '%s' not found", name);
    }
}

int monitor_get_fd(Monitor *mon, const char *name, Error **errp)
{
    gpointer value;
    int fd;

    if (!mon || !g_hash_table_lookup_extended(mon->fds, name, NULL,
                                              &value)) {
        error_setg(errp, "File descriptor named '%s' has not been found",
                   name);
        return -1;
    }
    fd = dup(GPOINTER_TO_INT(value));
    if (fd < 0) {
        error_setg_errno(errp, errno, "Could not duplicate file descriptor "
                         "'%s'", name);
    }
    return fd;
}

int monitor_fd_param(Monitor *mon, const char *fdname, Error **errp)
{
    int64_t num;

    if (!g_ascii_isdigit(fdname[0]) && mon) {
        return monitor_get_fd(mon, fdname, errp);
    }
    if (!qemu_strtoi64(fdname, &num) || num < 0 || num > INT_MAX) {
        error_setg(errp, "Invalid file descriptor number '%s'", fdname);
        return -1;
    }
    return num;
}

/* ---- -mon ---- */

bool monitor_init_opts(QemuOpts *opts, Error **errp)
{
    static const char *const keys[] = {
        "chardev", "mode", "pretty", "id", NULL
    };
    const char *id = qemu_opt_get(opts, "chardev");
    const char *mode = qemu_opt_get(opts, "mode");
    Chardev *chr;
    bool pretty;

    if (!qemu_opts_check_keys(opts, keys, "mon", errp) ||
        !qemu_opt_get_bool(opts, "pretty", false, &pretty, errp)) {
        return false;
    }
    if (!id) {
        error_setg(errp, "Parameter 'chardev' is missing");
        return false;
    }
    chr = qemu_chr_find(id);
    if (!chr) {
        error_setg(errp, "chardev \"%s\" not found", id);
        return false;
    }
    if (!mode || !strcmp(mode, "readline")) {
        if (pretty) {
            error_setg(errp, "'pretty' is not compatible with HMP monitors");
            return false;
        }
        return monitor_init_hmp(chr, errp);
    }
    if (!strcmp(mode, "control")) {
        return monitor_init_qmp(chr, pretty, errp);
    }
    error_setg(errp, "Parameter 'mode' does not accept value '%s'", mode);
    return false;
}

void monitor_cleanup(void)
{
    if (!monitor_list) {
        return;
    }
    /* Events still queued go out before the monitors do. */
    monitor_events_flush();
    while (monitor_list->len) {
        monitor_free(g_ptr_array_index(monitor_list, 0));
    }
    g_ptr_array_free(monitor_list, TRUE);
    monitor_list = NULL;
}
