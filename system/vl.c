/*
 * The command line (a QEMU-compatible subset) and process start-up.
 *
 * Parsing only records what was asked for (VLConfig); qemu_init() then
 * builds things in dependency order: tracing, objects, chardevs, drives,
 * the machine, monitors, and finally the run state.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <glib-unix.h>
#include "config-host.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "qemu/option.h"
#include "qemu/sockets.h"
#include "qemu/thread.h"
#include "qemu/trace-core.h"
#include "authz/authz.h"
#include "block/block-backend.h"
#include "crypto/tlscreds.h"
#include "qom/object.h"
#include "chardev/char.h"
#include "hw/boards.h"
#include "hw/core/cpu.h"
#include "migration/misc.h"
#include "monitor/monitor.h"
#include "system/runstate.h"
#include "system/system.h"
#include "system/qtest.h"
#include "system/vl.h"
#include "vl-internal.h"
#include "trace.h"

const char *qemu_name;
uint8_t qemu_uuid[16];
bool qemu_uuid_set;

static VLConfig vl;
static MachineState machine;
MachineState *current_machine;

static void qemu_init_signals(void);

/* "fd:NAME" socket addresses name descriptors given to the monitor. */
static int vl_resolve_fd(const char *name, Error **errp)
{
    return monitor_fd_param(monitor_cur(), name, errp);
}

/* The kinds -object and object-add build. */
static void qemu_register_object_types(void)
{
    memory_backend_register_types();
    qcrypto_tls_creds_register_types();
    authz_register_types();
}

/* Build every -object in order. */
static void qemu_create_objects(void)
{
    qemu_register_object_types();
    for (guint i = 0; i < vl.objects->len; i++) {
        const char *arg = g_ptr_array_index(vl.objects, i);
        Error *err = NULL;

        if (!object_add_from_cmdline(arg, &err)) {
            error_prepend(&err, "-object %s: ", arg);
            error_report_err(err);
            exit(1);
        }
    }
}

static void qemu_create_chardevs(void)
{
    for (guint i = 0; i < vl.chardevs->len; i++) {
        const char *arg = g_ptr_array_index(vl.chardevs, i);
        Error *err = NULL;
        g_autoptr(QemuOpts) opts = qemu_chr_parse_opts(arg, &err);

        if (!opts || !qemu_chr_new_from_opts(opts, &err)) {
            error_prepend(&err, "-chardev %s: ", arg);
            error_report_err(err);
            exit(1);
        }
    }
}

static void qemu_create_drives(void)
{
    for (guint i = 0; i < vl.drives->len; i++) {
        const char *arg = g_ptr_array_index(vl.drives, i);
        g_autoptr(QemuOpts) opts = qemu_opts_parse(arg, "file", &error_fatal);
        Error *err = NULL;

        if (!drive_new(opts, &err)) {
            error_prepend(&err, "-drive %s: ", arg);
            error_report_err(err);
            exit(1);
        }
    }
}

static void qemu_create_serials(void)
{
    int port = 0;

    for (guint i = 0; i < vl.serials->len; i++) {
        const char *spec = g_ptr_array_index(vl.serials, i);
        g_autofree char *label = g_strdup_printf("serial%u", i);
        Error *err = NULL;

        if (!strcmp(spec, "none")) {
            continue;
        }
        if (port >= MAX_SERIAL_PORTS) {
            error_report("-serial %s: too many serial ports (at most %d)",
                         spec, MAX_SERIAL_PORTS);
            exit(1);
        }
        machine.serial[port] = qemu_chr_new(label, spec, &err);
        if (!machine.serial[port]) {
            error_prepend(&err, "-serial %s: ", spec);
            error_report_err(err);
            exit(1);
        }
        port++;
    }
}

static void qemu_create_monitors(void)
{
    for (guint i = 0; i < vl.monitors->len; i++) {
        VLMonitor *m = g_ptr_array_index(vl.monitors, i);
        g_autofree char *label = g_strdup_printf("compat_monitor%u", i);
        Error *err = NULL;
        Chardev *chr;
        bool ok;

        if (m->mon_opts) {
            g_autoptr(QemuOpts) opts = qemu_opts_parse(m->spec, "chardev",
                                                       &error_fatal);

            ok = monitor_init_opts(opts, &err);
        } else {
            if (!strcmp(m->spec, "none")) {
                continue;
            }
            chr = qemu_chr_new(label, m->spec, &err);
            ok = chr && (m->qmp ? monitor_init_qmp(chr, m->pretty, &err)
                                : monitor_init_hmp(chr, &err));
        }
        if (!ok) {
            error_prepend(&err, "%s %s: ", m->option, m->spec);
            error_report_err(err);
            exit(1);
        }
    }
}

static void qemu_write_pidfile(void)
{
    g_autofree char *pid = NULL;
    g_autoptr(GError) gerr = NULL;

    if (!vl.pidfile) {
        return;
    }
    pid = g_strdup_printf("%d\n", (int)getpid());
    if (!g_file_set_contents(vl.pidfile, pid, -1, &gerr)) {
        error_report("cannot create PID file: %s", gerr->message);
        exit(1);
    }
}

static void qemu_setup_machine(void)
{
    Error *err = NULL;

    vl_choose_accel(&vl, &machine);
    machine.type = g_strdup(vl.machine_type ? vl.machine_type : "pc");
    if (!machine_type_valid(machine.type)) {
        error_report("unsupported machine type: \"%s\"; use -machine help "
                     "to list supported machines", machine.type);
        exit(1);
    }
    machine.ram_size = vl.ram_size;
    if (vl.memory_backend && !vl.ram_size_given) {
        /* QEMU: without -m, the backend's size is the RAM size. */
        MemoryBackend *be = memory_backend_find(vl.memory_backend);

        if (be) {
            machine.ram_size = be->size;
        }
    }
    machine.memory_backend = vl.memory_backend;
    machine.smp_cpus = vl.smp_cpus;
    machine.device_opts = vl.device_opts;
    machine.start_paused = vl.start_paused;
    current_machine = &machine;
    if (!machine_init(&machine, &err)) {
        error_report_err(err);
        exit(1);
    }
}

/*
 * -global: only the "migration" driver exists here (QEMU's migration
 * object properties: capabilities and parameters), applied before
 * -incoming starts so that it loads with them.
 */
static void qemu_apply_globals(VLConfig *vl)
{
    for (guint i = 0; i < vl->globals->len; i++) {
        const char *arg = g_ptr_array_index(vl->globals, i);
        const char *eq = strchr(arg, '=');
        g_autofree char *prop = NULL;
        Error *err = NULL;

        /* The syntax was checked when parsing. */
        prop = g_strndup(arg + strlen("migration."),
                         eq - arg - strlen("migration."));
        if (!migrate_global_property(prop, eq + 1, &err)) {
            error_prepend(&err, "-global %s: ", arg);
            error_report_err(err);
            exit(1);
        }
    }
}

void qemu_init(int argc, char **argv)
{
    error_set_progname(g_path_get_basename(argv[0]));
    vl_config_init(&vl);
    vl_parse_args(&vl, argc, argv);

    qemu_thread_naming(vl.debug_threads);
    qemu_name = vl.name;
    for (guint i = 0; i < vl.trace_opts->len; i++) {
        if (!trace_opt_parse(g_ptr_array_index(vl.trace_opts, i),
                             &error_fatal)) {
            exit(1);
        }
    }
    if (vl.daemonize) {
        vl_daemonize_start();
    }

    main_loop_init();
    socket_set_fd_resolver(vl_resolve_fd);
    bql_lock();
    qemu_init_signals();
    qemu_create_objects();
    qemu_create_chardevs();
    qemu_create_drives();
    qemu_create_serials();
    qemu_setup_machine();
    migration_object_init();
    qemu_apply_globals(&vl);
    qemu_create_monitors();
    vl_start_extras(&vl);
    qemu_write_pidfile();

    if (vl.incoming) {
        Error *err = NULL;

        runstate_set(RUN_STATE_INMIGRATE);
        runstate_set_autostart(!vl.start_paused);
        if (!migration_incoming_cmdline(vl.incoming, &err)) {
            error_prepend(&err, "-incoming %s: ", vl.incoming);
            error_report_err(err);
            exit(1);
        }
    } else if (vl.start_paused) {
        runstate_set(RUN_STATE_PRELAUNCH);
    } else {
        vm_start(&error_fatal);
    }
    if (vl.daemonize) {
        vl_daemonize_finish();
    }
}

static gboolean signal_shutdown(gpointer opaque)
{
    qemu_system_shutdown_request(SHUTDOWN_CAUSE_HOST_SIGNAL);
    return G_SOURCE_CONTINUE;
}

static void qemu_init_signals(void)
{
    signal(SIGPIPE, SIG_IGN);
    g_unix_signal_add(SIGINT, signal_shutdown, NULL);
    g_unix_signal_add(SIGTERM, signal_shutdown, NULL);
    g_unix_signal_add(SIGHUP, signal_shutdown, NULL);
}

int qemu_main_loop_and_cleanup(void)
{
    main_loop_run();
    migration_shutdown();
    if (!all_vcpus_paused()) {
        pause_all_vcpus();
    }
    monitor_cleanup();
    qemu_chr_cleanup();
    blk_close_all();
    if (vl.pidfile) {
        unlink(vl.pidfile);
    }
    bql_unlock();
    return runstate_exit_status();
}

void vl_start_extras(VLConfig *cfg)
{
    Error *err = NULL;

    if (cfg->qtest_log && !cfg->qtest) {
        error_report("-qtest-log %s: needs -qtest", cfg->qtest_log);
        exit(1);
    }
    if (cfg->qtest && !qtest_server_init(cfg->qtest, cfg->qtest_log, &err)) {
        error_prepend(&err, "-qtest %s: ", cfg->qtest);
        error_report_err(err);
        exit(1);
    }
}
