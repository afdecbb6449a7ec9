/*
 * Accelerator choice (-accel, several allowed: the first that works) and
 * -daemonize.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "config-host.h"
#include "qapi/error.h"
#include "qemu/option.h"
#include "vl-internal.h"

static bool vl_kvm_usable(const char **why)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

    if (fd < 0) {
        *why = g_strerror(errno);
        return false;
    }
    close(fd);
    return true;
}

static bool vl_accel_kvm_opts(const char *spec, KVMConfig *cfg)
{
    static const char *const keys[] = {
        "accel", "dirty-ring-size", "kernel-irqchip", NULL
    };
    g_autoptr(QemuOpts) opts = qemu_opts_parse(spec, "accel", &error_fatal);
    Error *err = NULL;
    uint64_t ring;

    if (!qemu_opts_check_keys(opts, keys, "-accel kvm", &err) ||
        !qemu_opt_get_number(opts, "dirty-ring-size", 0, &ring, &err)) {
        error_report_err(err);
        exit(1);
    }
    if (ring && (ring & (ring - 1))) {
        error_report("-accel kvm: dirty-ring-size %" PRIu64 " must be a "
                     "power of two", ring);
        exit(1);
    }
    cfg->dirty_ring_size = ring;
    return true;
}

/*
 * -accel tcg[,thread=single][,tb-size=N]: QEMU's options.  Unicorn's
 * engines do not make locked instructions atomic against each other, so
 * vCPUs take turns (QEMU's thread=single); thread=multi is refused.
 * tb-size is accepted for QEMU command lines and has no effect (Unicorn
 * sizes its own translation cache).
 */
static void vl_accel_tcg_opts(const char *spec)
{
    static const char *const keys[] = {
        "accel", "thread", "tb-size", "split-wx", NULL
    };
    g_autoptr(QemuOpts) opts = qemu_opts_parse(spec, "accel", &error_fatal);
    Error *err = NULL;
    const char *thread;

    if (!qemu_opts_check_keys(opts, keys, "-accel tcg", &err)) {
        error_report_err(err);
        exit(1);
    }
    thread = qemu_opt_get(opts, "thread");
    if (thread && strcmp(thread, "single")) {
        error_report("-accel tcg,thread=%s: qmig's software vCPUs run one at "
                     "a time (thread=single): the emulator does not make "
                     "locked instructions atomic across vCPUs", thread);
        exit(1);
    }
}

static bool vl_tcg_usable(const char **why)
{
#ifdef CONFIG_TCG
    return true;
#else
    *why = "not built into this qmig: install libunicorn-dev and rebuild";
    return false;
#endif
}

void vl_choose_accel(VLConfig *vl, MachineState *ms)
{
    g_autoptr(GString) tried = g_string_new(NULL);

    if (vl->accels->len == 0) {
        /*
         * Like -accel kvm -accel tcg: the fastest that works here.  (QEMU
         * itself defaults to tcg; a migration host wants KVM when it has
         * it, and a machine without /dev/kvm should still run.)
         */
        if (vl->qtest) {
            g_ptr_array_add(vl->accels, g_strdup("qtest"));
        } else {
            g_ptr_array_add(vl->accels, g_strdup("kvm"));
            g_ptr_array_add(vl->accels, g_strdup("tcg"));
        }
    }
    for (guint i = 0; i < vl->accels->len; i++) {
        const char *spec = g_ptr_array_index(vl->accels, i);
        g_autofree char *name = g_strndup(spec, strcspn(spec, ","));
        const char *why = NULL;

        if (!strcmp(name, "kvm")) {
            vl_accel_kvm_opts(spec, &ms->kvm);
            if (vl_kvm_usable(&why)) {
                ms->accel = ACCEL_KVM;
                return;
            }
            g_string_append_printf(tried, " kvm (/dev/kvm: %s)", why);
        } else if (!strcmp(name, "tcg")) {
            vl_accel_tcg_opts(spec);
            if (vl_tcg_usable(&why)) {
                ms->accel = ACCEL_TCG;
                return;
            }
            g_string_append_printf(tried, " tcg (%s)", why);
        } else if (!strcmp(name, "qtest")) {
            ms->accel = ACCEL_QTEST;
            return;
        } else if (!strcmp(name, "xen") || !strcmp(name, "hvf") ||
                   !strcmp(name, "whpx") || !strcmp(name, "nvmm")) {
            g_string_append_printf(tried, " %s (not built into qmig)", name);
        } else {
            error_report("-accel %s: invalid accelerator %s", spec, name);
            exit(1);
        }
    }
    error_report("no accelerator found; tried:%s", tried->str);
    exit(1);
}

/* Write end of the pipe the parent waits on; -1 when not daemonizing. */
static int daemon_pipe = -1;

void vl_daemonize_start(void)
{
    int fds[2];
    pid_t pid;
    char status = 1;

    if (pipe(fds) < 0) {
        error_report("-daemonize: pipe: %s", g_strerror(errno));
        exit(1);
    }
    pid = fork();
    if (pid < 0) {
        error_report("-daemonize: fork: %s", g_strerror(errno));
        exit(1);
    }
    if (pid > 0) {
        /* Parent: succeed only when the child says it is up. */
        close(fds[1]);
        if (RETRY_ON_EINTR(read(fds[0], &status, 1)) != 1) {
            status = 1;
        }
        _exit(status ? 1 : 0);
    }
    close(fds[0]);
    daemon_pipe = fds[1];
    setsid();
}

void vl_daemonize_finish(void)
{
    char ok = 0;
    int null = open("/dev/null", O_RDWR);

    if (RETRY_ON_EINTR(write(daemon_pipe, &ok, 1)) != 1) {
        exit(1);
    }
    close(daemon_pipe);
    daemon_pipe = -1;
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        close(null);
    }
}
