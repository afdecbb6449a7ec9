/*
 * Command-line parsing: QEMU's spellings for the options a migration user
 * and QEMU's own tests pass.  An unknown or malformed option is an error
 * that names it, and exits with status 1, as QEMU does.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "config-host.h"
#include "qapi/error.h"
#include "qemu/option.h"
#include "qemu/uuid.h"
#include "system/runstate.h"
#include "system/system.h"
#include "vl-internal.h"

typedef enum VLOpt {
    OPT_ACCEL, OPT_ENABLE_KVM, OPT_MACHINE, OPT_M, OPT_SMP, OPT_NAME,
    OPT_DISPLAY, OPT_NODEFAULTS, OPT_NOGRAPHIC, OPT_S, OPT_DRIVE, OPT_SERIAL,
    OPT_CHARDEV, OPT_MON, OPT_QMP, OPT_QMP_PRETTY, OPT_MONITOR, OPT_INCOMING,
    OPT_OBJECT, OPT_QTEST, OPT_TRACE, OPT_PIDFILE, OPT_DAEMONIZE, OPT_VERSION,
    OPT_HELP, OPT_DEVICE, OPT_NO_SHUTDOWN, OPT_NO_REBOOT, OPT_CPU, OPT_UUID,
    OPT_VGA, OPT_NET, OPT_NIC, OPT_BOOT, OPT_NO_USER_CONFIG, OPT_QTEST_LOG,
    OPT_AUDIO, OPT_AUDIODEV, OPT_GLOBAL,
} VLOpt;

typedef struct VLOptDef {
    const char *name;
    VLOpt opt;
    const char *arg;        /* NULL: takes no argument */
    const char *help;
} VLOptDef;

static const VLOptDef vl_opts[] = {
    { "accel", OPT_ACCEL, "kvm[,dirty-ring-size=N]|tcg|qtest",
      "accelerator; several: the first that works" },
    { "enable-kvm", OPT_ENABLE_KVM, NULL, "same as -accel kvm" },
    { "machine", OPT_MACHINE, "[type=]pc|q35|x86[,memory-backend=ID]",
      "the x86 machine (pc and q35 are aliases)" },
    { "M", OPT_MACHINE, "TYPE", "same as -machine" },
    { "m", OPT_M, "[size=]SIZE", "guest RAM (bare number: MiB)" },
    { "smp", OPT_SMP, "[cpus=]N", "number of vCPUs" },
    { "name", OPT_NAME, "[guest=]NAME[,debug-threads=on]", "VM name" },
    { "display", OPT_DISPLAY, "none", "only 'none' exists" },
    { "nodefaults", OPT_NODEFAULTS, NULL, "no default devices" },
    { "nographic", OPT_NOGRAPHIC, NULL, "no display; serial on stdio" },
    { "S", OPT_S, NULL, "do not start the vCPUs (prelaunch)" },
    { "drive", OPT_DRIVE, "file=PATH,format=raw[,if=..][,id=..][,snapshot=on]",
      "a raw disk image; the first one is booted" },
    { "serial", OPT_SERIAL, "file:PATH|stdio|null|none|chardev:ID|unix:..|tcp:..",
      "a 16550 UART (COM1 first)" },
    { "chardev", OPT_CHARDEV, "BACKEND,id=ID[,...]",
      "character device: file, stdio, null, socket" },
    { "mon", OPT_MON, "[chardev=]ID[,mode=control|readline][,pretty=on]",
      "a monitor on a chardev" },
    { "qmp", OPT_QMP, "DEV", "a QMP monitor (e.g. unix:PATH,server=on,wait=off)" },
    { "qmp-pretty", OPT_QMP_PRETTY, "DEV", "a QMP monitor with indented JSON" },
    { "monitor", OPT_MONITOR, "DEV", "an HMP monitor" },
    { "incoming", OPT_INCOMING, "URI|defer", "wait for an incoming migration" },
    { "global", OPT_GLOBAL, "migration.PROP=VALUE",
      "a migration capability (e.g. mapped-ram=on) or parameter, set "
      "before -incoming starts" },
    { "object", OPT_OBJECT, "TYPE,id=ID[,PROP=VALUE...] or JSON: memory-backend-{ram,memfd,file}, tls-creds-{psk,x509,anon}, authz-{simple,list}",
      "a user-created object (memory backend, TLS credentials, authorization)" },
    { "qtest", OPT_QTEST, "unix:PATH", "the qtest protocol on a socket" },
    { "qtest-log", OPT_QTEST_LOG, "FILE", "log the qtest requests and replies" },
    { "trace", OPT_TRACE, "[enable=]PATTERN|events=FILE",
      "enable trace points (to stderr)" },
    { "pidfile", OPT_PIDFILE, "FILE", "write the process id to FILE" },
    { "daemonize", OPT_DAEMONIZE, NULL, "detach once started" },
    { "version", OPT_VERSION, NULL, "print the version and exit" },
    { "help", OPT_HELP, NULL, "print this help and exit" },
    { "h", OPT_HELP, NULL, "same as -help" },
    { "device", OPT_DEVICE, "isa-debug-exit[,iobase=A][,iosize=N]",
      "add a device" },
    { "no-shutdown", OPT_NO_SHUTDOWN, NULL,
      "on guest shutdown, stop the VM instead of exiting" },
    { "no-reboot", OPT_NO_REBOOT, NULL, "exit instead of rebooting (default)" },
    { "cpu", OPT_CPU, "host|max|qemu64|...", "accepted; KVM's host CPUID is used" },
    { "uuid", OPT_UUID, "UUID", "the VM's UUID" },
    { "vga", OPT_VGA, "none", "only 'none' exists" },
    { "net", OPT_NET, "none", "only 'none' exists" },
    { "nic", OPT_NIC, "none", "only 'none' exists" },
    { "audio", OPT_AUDIO, "none", "only 'none' exists" },
    { "audiodev", OPT_AUDIODEV, "none,id=ID", "only 'none' exists" },
    { "boot", OPT_BOOT, "...", "accepted and ignored: the first drive boots" },
    { "no-user-config", OPT_NO_USER_CONFIG, NULL, "accepted; there is none" },
};

void vl_config_init(VLConfig *vl)
{
    memset(vl, 0, sizeof(*vl));
    vl->accels = g_ptr_array_new();
    vl->drives = g_ptr_array_new();
    vl->serials = g_ptr_array_new();
    vl->chardevs = g_ptr_array_new();
    vl->objects = g_ptr_array_new();
    vl->monitors = g_ptr_array_new();
    vl->trace_opts = g_ptr_array_new();
    vl->globals = g_ptr_array_new();
    vl->device_opts = g_ptr_array_new();
    vl->ram_size = 128 * MiB;   /* QEMU's default */
    vl->smp_cpus = 1;
}

static void QEMU_NORETURN vl_fail(const char *opt, const char *fmt, ...)
    QEMU_PRINTF_FMT(2, 3);

static void vl_fail(const char *opt, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (opt) {
        error_report("-%s: %s", opt, msg);
    } else {
        error_report("%s", msg);
    }
    exit(1);
}

static QemuOpts *vl_opts_parse(const char *opt, const char *arg,
                               const char *implied)
{
    Error *err = NULL;
    QemuOpts *opts = qemu_opts_parse(arg, implied, &err);

    if (!opts) {
        vl_fail(opt, "%s", error_get_pretty(err));
    }
    return opts;
}

static void vl_check_keys(const char *opt, QemuOpts *opts,
                          const char *const *keys)
{
    Error *err = NULL;

    if (!qemu_opts_check_keys(opts, keys, opt, &err)) {
        error_report_err(err);
        exit(1);
    }
}

static void vl_parse_m(VLConfig *vl, const char *arg)
{
    static const char *const keys[] = { "size", "slots", "maxmem", NULL };
    g_autoptr(QemuOpts) opts = vl_opts_parse("m", arg, "size");
    const char *size = qemu_opt_get(opts, "size");

    vl_check_keys("-m", opts, keys);
    if (!size || !qemu_strtosz_suffix(size, 'M', &vl->ram_size)) {
        vl_fail("m", "invalid RAM size '%s' (examples: 150M, 4G)",
                size ? size : arg);
    }
    if (vl->ram_size < 2 * MiB || vl->ram_size % (4 * KiB)) {
        vl_fail("m", "RAM size %s must be at least 2 MiB and a multiple of "
                "4 KiB", size);
    }
    vl->ram_size_given = true;
}

static void vl_parse_smp(VLConfig *vl, const char *arg)
{
    static const char *const keys[] = {
        "cpus", "sockets", "dies", "cores", "threads", "maxcpus", NULL
    };
    g_autoptr(QemuOpts) opts = vl_opts_parse("smp", arg, "cpus");
    uint64_t cpus;
    Error *err = NULL;

    vl_check_keys("-smp", opts, keys);
    if (!qemu_opt_get_number(opts, "cpus", 1, &cpus, &err)) {
        vl_fail("smp", "%s", error_get_pretty(err));
    }
    if (cpus < 1 || cpus > 255) {
        vl_fail("smp", "CPU count %" PRIu64 " out of range 1..255", cpus);
    }
    vl->smp_cpus = cpus;
}

static void vl_parse_name(VLConfig *vl, const char *arg)
{
    static const char *const keys[] = {
        "guest", "process", "debug-threads", NULL
    };
    g_autoptr(QemuOpts) opts = vl_opts_parse("name", arg, "guest");
    Error *err = NULL;

    vl_check_keys("-name", opts, keys);
    if (!qemu_opt_get_bool(opts, "debug-threads", false, &vl->debug_threads,
                           &err)) {
        vl_fail("name", "%s", error_get_pretty(err));
    }
    g_free(vl->name);
    vl->name = g_strdup(qemu_opt_get(opts, "guest"));
}

static void vl_parse_machine(VLConfig *vl, const char *arg)
{
    static const char *const keys[] = {
        "type", "memory-backend", "accel", "dump-guest-core", "mem-merge",
        "usb", "vmport", "kernel-irqchip", "graphics", NULL
    };
    g_autoptr(QemuOpts) opts = vl_opts_parse("machine", arg, "type");
    const char *v;

    vl_check_keys("-machine", opts, keys);
    if ((v = qemu_opt_get(opts, "type"))) {
        if (!strcmp(v, "help")) {
            printf("Supported machines are:\n"
                   "x86    the qmig x86 machine (no BIOS, boots sector 0)\n"
                   "pc     alias of x86\nq35    alias of x86\n");
            exit(0);
        }
        g_free(vl->machine_type);
        vl->machine_type = g_strdup(v);
    }
    if ((v = qemu_opt_get(opts, "memory-backend"))) {
        g_free(vl->memory_backend);
        vl->memory_backend = g_strdup(v);
    }
    if ((v = qemu_opt_get(opts, "accel"))) {
        /* Old QEMU spelling: accel=kvm:tcg */
        g_auto(GStrv) list = g_strsplit(v, ":", -1);

        for (char **a = list; *a; a++) {
            g_ptr_array_add(vl->accels, g_strdup(*a));
        }
    }
}

static void vl_parse_only_none(const char *opt, const char *arg)
{
    if (strcmp(arg, "none") && !g_str_has_prefix(arg, "none,")) {
        vl_fail(opt, "'%s' is not supported: qmig has no %s other than "
                "'none'", arg, opt);
    }
}

static void vl_add_monitor(VLConfig *vl, const char *option, const char *arg,
                           bool qmp, bool pretty, bool mon_opts)
{
    VLMonitor *m = g_new0(VLMonitor, 1);

    m->option = option;
    m->spec = g_strdup(arg);
    m->qmp = qmp;
    m->pretty = pretty;
    m->mon_opts = mon_opts;
    g_ptr_array_add(vl->monitors, m);
}

static void vl_parse_device(VLConfig *vl, const char *arg)
{
    QemuOpts *opts = vl_opts_parse("device", arg, "driver");

    if (!strcmp(qemu_opt_get(opts, "driver"), "help")) {
        printf("Devices you can add with -device:\n"
               "name \"isa-debug-exit\", bus ISA\n"
               "name \"qmig-disk\", bus ISA\n"
               "name \"vfio-pci\", bus PCI, desc \"VFIO-based PCI device "
               "assignment\"\n"
               "name \"vfio-user-pci\", bus PCI, desc \"VFIO over socket "
               "PCI device assignment\"\n");
        exit(0);
    }
    g_ptr_array_add(vl->device_opts, opts);
}

static void vl_print_help(void)
{
    printf("usage: qmig [options]\n\n"
           "qmig runs one x86 VM under KVM and migrates it; it accepts the\n"
           "QEMU options below with QEMU's spellings (-opt or --opt).\n\n");
    for (size_t i = 0; i < ARRAY_SIZE(vl_opts); i++) {
        g_autofree char *lhs = g_strdup_printf("-%s%s%s", vl_opts[i].name,
                                               vl_opts[i].arg ? " " : "",
                                               vl_opts[i].arg ?: "");
        printf("%-40s %s\n", lhs, vl_opts[i].help);
    }
}

static const VLOptDef *vl_lookup(const char *arg)
{
    const char *name = arg + 1;

    if (name[0] == '-') {
        name++;     /* --opt is the same as -opt */
    }
    for (size_t i = 0; i < ARRAY_SIZE(vl_opts); i++) {
        if (!strcmp(vl_opts[i].name, name)) {
            return &vl_opts[i];
        }
    }
    return NULL;
}

/* Options that only set a flag or append to a list. */
static bool vl_handle_simple(VLConfig *vl, const VLOptDef *d, const char *a)
{
    switch (d->opt) {
    case OPT_ACCEL:
        g_ptr_array_add(vl->accels, g_strdup(a));
        return true;
    case OPT_ENABLE_KVM:
        g_ptr_array_add(vl->accels, g_strdup("kvm"));
        return true;
    case OPT_NODEFAULTS:
        vl->nodefaults = true;
        return true;
    case OPT_NOGRAPHIC:
        vl->nographic = true;
        return true;
    case OPT_S:
        vl->start_paused = true;
        return true;
    case OPT_DRIVE:
        g_ptr_array_add(vl->drives, g_strdup(a));
        return true;
    case OPT_SERIAL:
        g_ptr_array_add(vl->serials, g_strdup(a));
        return true;
    case OPT_CHARDEV:
        g_ptr_array_add(vl->chardevs, g_strdup(a));
        return true;
    case OPT_OBJECT:
        g_ptr_array_add(vl->objects, g_strdup(a));
        return true;
    case OPT_TRACE:
        g_ptr_array_add(vl->trace_opts, g_strdup(a));
        return true;
    case OPT_GLOBAL:
        /* Applied once the migration object exists (vl.c). */
        if (!g_str_has_prefix(a, "migration.") || !strchr(a, '=')) {
            vl_fail("global", "'%s': expected migration.PROP=VALUE (the "
                    "only driver with properties here)", a);
        }
        g_ptr_array_add(vl->globals, g_strdup(a));
        return true;
    case OPT_DAEMONIZE:
        vl->daemonize = true;
        return true;
    case OPT_NO_SHUTDOWN:
        vl->no_shutdown = true;
        return true;
    case OPT_NO_REBOOT:
    case OPT_CPU:
    case OPT_BOOT:
    case OPT_NO_USER_CONFIG:
        return true;
    default:
        return false;
    }
}

static void vl_handle(VLConfig *vl, const VLOptDef *d, const char *a)
{
    if (vl_handle_simple(vl, d, a)) {
        return;
    }
    switch (d->opt) {
    case OPT_MACHINE:
        vl_parse_machine(vl, a);
        break;
    case OPT_M:
        vl_parse_m(vl, a);
        break;
    case OPT_SMP:
        vl_parse_smp(vl, a);
        break;
    case OPT_NAME:
        vl_parse_name(vl, a);
        break;
    case OPT_DISPLAY:
    case OPT_VGA:
    case OPT_NET:
    case OPT_NIC:
    case OPT_AUDIO:
    case OPT_AUDIODEV:
        vl_parse_only_none(d->name, a);
        break;
    case OPT_MON:
        vl_add_monitor(vl, "-mon", a, false, false, true);
        break;
    case OPT_QMP:
    case OPT_QMP_PRETTY:
        vl_add_monitor(vl, d->opt == OPT_QMP ? "-qmp" : "-qmp-pretty", a,
                       true, d->opt == OPT_QMP_PRETTY, false);
        break;
    case OPT_MONITOR:
        vl_add_monitor(vl, "-monitor", a, false, false, false);
        break;
    case OPT_INCOMING:
        g_free(vl->incoming);
        vl->incoming = g_strdup(a);
        break;
    case OPT_QTEST:
        g_free(vl->qtest);
        vl->qtest = g_strdup(a);
        break;
    case OPT_QTEST_LOG:
        g_free(vl->qtest_log);
        vl->qtest_log = g_strdup(a);
        break;
    case OPT_PIDFILE:
        g_free(vl->pidfile);
        vl->pidfile = g_strdup(a);
        break;
    case OPT_UUID:
        if (!qemu_uuid_parse(a, qemu_uuid)) {
            vl_fail("uuid", "Fail to parse UUID string '%s'", a);
        }
        qemu_uuid_set = true;
        break;
    case OPT_DEVICE:
        vl_parse_device(vl, a);
        break;
    case OPT_VERSION:
        printf("qmig version %s (QEMU-compatible live migration, KVM)\n"
               "Copyright (c) the qmig authors; GPL-2.0-or-later\n",
               QMIG_VERSION);
        exit(0);
    case OPT_HELP:
        vl_print_help();
        exit(0);
    default:
        g_assert_not_reached();
    }
}

static void vl_apply_defaults(VLConfig *vl)
{
    if (vl->serials->len == 0 && !vl->nodefaults) {
        /* QEMU: serial on stdio with -nographic; no display here means null. */
        g_ptr_array_add(vl->serials,
                        g_strdup(vl->nographic ? "stdio" : "null"));
    }
}

void vl_parse_args(VLConfig *vl, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const VLOptDef *d;

        if (arg[0] != '-' || arg[1] == '\0') {
            /* QEMU: a bare argument is the first disk image. */
            g_ptr_array_add(vl->drives,
                            g_strdup_printf("file=%s,format=raw", arg));
            continue;
        }
        d = vl_lookup(arg);
        if (!d) {
            vl_fail(NULL, "%s: invalid option", arg);
        }
        if (d->arg) {
            if (i + 1 >= argc) {
                vl_fail(NULL, "%s: requires an argument", arg);
            }
            vl_handle(vl, d, argv[++i]);
        } else {
            vl_handle(vl, d, NULL);
        }
    }
    vl_apply_defaults(vl);
    runstate_set_no_shutdown(vl->no_shutdown);
}
