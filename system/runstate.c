/*
 * Run state, start/stop, and shutdown requests.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "hw/core/cpu.h"
#include "monitor/monitor.h"
#include "system/runstate.h"
#include "migration/misc.h"
#include "trace.h"

static const char *const runstate_names[RUN_STATE__MAX] = {
    [RUN_STATE_DEBUG] = "debug",
    [RUN_STATE_INMIGRATE] = "inmigrate",
    [RUN_STATE_INTERNAL_ERROR] = "internal-error",
    [RUN_STATE_IO_ERROR] = "io-error",
    [RUN_STATE_PAUSED] = "paused",
    [RUN_STATE_POSTMIGRATE] = "postmigrate",
    [RUN_STATE_PRELAUNCH] = "prelaunch",
    [RUN_STATE_FINISH_MIGRATE] = "finish-migrate",
    [RUN_STATE_RESTORE_VM] = "restore-vm",
    [RUN_STATE_RUNNING] = "running",
    [RUN_STATE_SAVE_VM] = "save-vm",
    [RUN_STATE_SHUTDOWN] = "shutdown",
    [RUN_STATE_SUSPENDED] = "suspended",
    [RUN_STATE_WATCHDOG] = "watchdog",
    [RUN_STATE_GUEST_PANICKED] = "guest-panicked",
    [RUN_STATE_COLO] = "colo",
};

static const char *const shutdown_cause_names[SHUTDOWN_CAUSE__MAX] = {
    [SHUTDOWN_CAUSE_NONE] = "none",
    [SHUTDOWN_CAUSE_HOST_ERROR] = "host-error",
    [SHUTDOWN_CAUSE_HOST_QMP_QUIT] = "host-qmp-quit",
    [SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET] = "host-qmp-system-reset",
    [SHUTDOWN_CAUSE_HOST_SIGNAL] = "host-signal",
    [SHUTDOWN_CAUSE_HOST_UI] = "host-ui",
    [SHUTDOWN_CAUSE_GUEST_SHUTDOWN] = "guest-shutdown",
    [SHUTDOWN_CAUSE_GUEST_RESET] = "guest-reset",
    [SHUTDOWN_CAUSE_GUEST_PANIC] = "guest-panic",
    [SHUTDOWN_CAUSE_SUBSYSTEM_RESET] = "subsystem-reset",
    [SHUTDOWN_CAUSE_SNAPSHOT_LOAD] = "snapshot-load",
};

static RunState current_run_state = RUN_STATE_PRELAUNCH;   /* BQL */
static bool no_shutdown;                                    /* set by main() */
/* Start the guest when an incoming migration completes (BQL). */
static bool autostart = true;
static int exit_status;                                     /* BQL */
/* A shutdown is in progress: later requests are dropped (atomic). */
static bool shutdown_pending;

const char *runstate_name(RunState state)
{
    assert(state < RUN_STATE__MAX);
    return runstate_names[state];
}

const char *shutdown_cause_name(ShutdownCause cause)
{
    assert(cause < SHUTDOWN_CAUSE__MAX);
    return shutdown_cause_names[cause];
}

RunState runstate_get(void)
{
    return current_run_state;
}

bool runstate_check(RunState state)
{
    return current_run_state == state;
}

bool runstate_is_running(void)
{
    return current_run_state == RUN_STATE_RUNNING;
}

void runstate_set(RunState new_state)
{
    assert(new_state < RUN_STATE__MAX);
    trace_runstate_set(runstate_name(current_run_state),
                       runstate_name(new_state));
    current_run_state = new_state;
}

void runstate_set_autostart(bool enable)
{
    autostart = enable;
}

bool runstate_get_autostart(void)
{
    return autostart;
}

void runstate_set_no_shutdown(bool enable)
{
    no_shutdown = enable;
}

int runstate_exit_status(void)
{
    return exit_status;
}

typedef struct VMChangeStateEntry {
    VMChangeStateHandler *cb;
    void *opaque;
} VMChangeStateEntry;

/* Filled at machine creation, read-only afterwards; BQL. */
static GArray *vm_change_state_handlers;

void qemu_add_vm_change_state_handler(VMChangeStateHandler *cb,
                                      void *opaque)
{
    VMChangeStateEntry e = { .cb = cb, .opaque = opaque };

    if (!vm_change_state_handlers) {
        vm_change_state_handlers = g_array_new(false, false, sizeof(e));
    }
    g_array_append_val(vm_change_state_handlers, e);
}

static void vm_state_notify(bool running, RunState state)
{
    guint n = vm_change_state_handlers ? vm_change_state_handlers->len : 0;

    trace_vm_state_notify(running, runstate_name(state));
    for (guint i = 0; i < n; i++) {
        /* Stop in reverse: what started last stops first. */
        VMChangeStateEntry *e = &g_array_index(vm_change_state_handlers,
                                               VMChangeStateEntry,
                                               running ? i : n - 1 - i);

        e->cb(e->opaque, running, state);
    }
}

bool vm_start(Error **errp)
{
    assert(bql_locked());
    if (runstate_is_running()) {
        return true;
    }
    if (runstate_check(RUN_STATE_SHUTDOWN) ||
        runstate_check(RUN_STATE_INTERNAL_ERROR)) {
        error_setg(errp, "Resetting the Virtual Machine is required");
        return false;
    }
    if (runstate_check(RUN_STATE_INMIGRATE)) {
        /* QEMU: "cont" during an incoming migration means "run after". */
        autostart = true;
        return true;
    }
    vm_state_notify(true, RUN_STATE_RUNNING);
    runstate_set(RUN_STATE_RUNNING);
    qapi_event_send("RESUME", NULL);
    resume_all_vcpus();
    return true;
}

void vm_stop(RunState new_state)
{
    assert(bql_locked());
    if (runstate_check(RUN_STATE_INMIGRATE) && new_state == RUN_STATE_PAUSED) {
        /* QEMU: "stop" during an incoming migration means "stay paused". */
        autostart = false;
        return;
    }
    if (!runstate_is_running()) {
        runstate_set(new_state);
        return;
    }
    pause_all_vcpus();
    vm_state_notify(false, new_state);
    runstate_set(new_state);
    qapi_event_send("STOP", NULL);
}

void vm_stop_force_state(RunState new_state)
{
    if (runstate_is_running()) {
        vm_stop(new_state);
    } else {
        runstate_set(new_state);
    }
}

static void shutdown_bh(void *opaque)
{
    ShutdownCause cause = GPOINTER_TO_INT(opaque);
    JsonObject *data = json_object_new();
    bool guest = cause >= SHUTDOWN_CAUSE_GUEST_SHUTDOWN &&
                 cause <= SHUTDOWN_CAUSE_GUEST_PANIC;

    json_object_set_boolean_member(data, "guest", guest);
    json_object_set_string_member(data, "reason", shutdown_cause_name(cause));
    qapi_event_send("SHUTDOWN", data);

    if (guest && no_shutdown) {
        /* -no-shutdown: keep the process (and the monitor) alive. */
        vm_stop(RUN_STATE_SHUTDOWN);
        shutdown_pending = false;
        return;
    }
    /* vCPUs blocked on postcopy pages that may never come cannot pause. */
    migration_shutdown_prepare();
    if (runstate_is_running()) {
        pause_all_vcpus();
    }
    runstate_set(RUN_STATE_SHUTDOWN);
    main_loop_quit();
}

void qemu_system_shutdown_request(ShutdownCause cause)
{
    /*
     * May run on a vCPU thread with or without the BQL; the work happens
     * in the main loop.  Duplicate requests (a guest that keeps faulting)
     * are filtered there.
     */
    trace_qemu_system_shutdown_request(shutdown_cause_name(cause));
    if (!__atomic_exchange_n(&shutdown_pending, true, __ATOMIC_ACQ_REL)) {
        main_loop_schedule(shutdown_bh, GINT_TO_POINTER(cause));
    }
}

static void exit_bh(void *opaque)
{
    exit_status = GPOINTER_TO_INT(opaque);
    migration_shutdown_prepare();
    if (runstate_is_running()) {
        pause_all_vcpus();
    }
    runstate_set(RUN_STATE_SHUTDOWN);
    main_loop_quit();
}

void qemu_system_exit_request(int status)
{
    if (!__atomic_exchange_n(&shutdown_pending, true, __ATOMIC_ACQ_REL)) {
        main_loop_schedule(exit_bh, GINT_TO_POINTER(status));
    }
}

static void internal_error_bh(void *opaque)
{
    if (runstate_is_running()) {
        vm_stop(RUN_STATE_INTERNAL_ERROR);
    }
}

void qemu_system_internal_error_request(void)
{
    main_loop_schedule(internal_error_bh, NULL);
}
