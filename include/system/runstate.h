/*
 * The VM's run state (QEMU's RunState values, reported by query-status)
 * and the start/stop/shutdown requests.
 *
 * Locking: the run state is protected by the BQL; every function here
 * must be called with the BQL held unless its comment says otherwise.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef SYSTEM_RUNSTATE_H
#define SYSTEM_RUNSTATE_H

#include "qapi/error.h"

typedef enum RunState {
    RUN_STATE_DEBUG,
    RUN_STATE_INMIGRATE,
    RUN_STATE_INTERNAL_ERROR,
    RUN_STATE_IO_ERROR,
    RUN_STATE_PAUSED,
    RUN_STATE_POSTMIGRATE,
    RUN_STATE_PRELAUNCH,
    RUN_STATE_FINISH_MIGRATE,
    RUN_STATE_RESTORE_VM,
    RUN_STATE_RUNNING,
    RUN_STATE_SAVE_VM,
    RUN_STATE_SHUTDOWN,
    RUN_STATE_SUSPENDED,
    RUN_STATE_WATCHDOG,
    RUN_STATE_GUEST_PANICKED,
    RUN_STATE_COLO,
    RUN_STATE__MAX
} RunState;

/* QEMU's ShutdownCause, reported in the SHUTDOWN event's "reason". */
typedef enum ShutdownCause {
    SHUTDOWN_CAUSE_NONE,
    SHUTDOWN_CAUSE_HOST_ERROR,
    SHUTDOWN_CAUSE_HOST_QMP_QUIT,
    SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET,
    SHUTDOWN_CAUSE_HOST_SIGNAL,
    SHUTDOWN_CAUSE_HOST_UI,
    SHUTDOWN_CAUSE_GUEST_SHUTDOWN,
    SHUTDOWN_CAUSE_GUEST_RESET,
    SHUTDOWN_CAUSE_GUEST_PANIC,
    SHUTDOWN_CAUSE_SUBSYSTEM_RESET,
    SHUTDOWN_CAUSE_SNAPSHOT_LOAD,
    SHUTDOWN_CAUSE__MAX
} ShutdownCause;

const char *runstate_name(RunState state);
const char *shutdown_cause_name(ShutdownCause cause);
RunState runstate_get(void);
bool runstate_check(RunState state);
bool runstate_is_running(void);
/* Change state (traced); no events, no vCPU action. */
void runstate_set(RunState new_state);

/*
 * Start the vCPUs: state running, RESUME event.  Fails if the VM cannot
 * run (inmigrate, shutdown without a reset, postmigrate...).
 */
bool vm_start(Error **errp);
/* Stop the vCPUs and wait until they are out of KVM_RUN; STOP event. */
void vm_stop(RunState new_state);
/* Like vm_stop() but only changes state if already stopped. */
void vm_stop_force_state(RunState new_state);

/*
 * Called with the BQL held whenever the VM starts (@running, before the
 * vCPUs resume) or stops (after they are paused), in registration order
 * on start and reverse order on stop, as QEMU's VM change state
 * handlers; @state is the new run state.  Device models whose state
 * lives outside the VMM (VFIO devices) stop and start with the vCPUs
 * through these.  Registered at machine creation.
 */
typedef void VMChangeStateHandler(void *opaque, bool running,
                                  RunState state);
void qemu_add_vm_change_state_handler(VMChangeStateHandler *cb,
                                      void *opaque);

/* Thread-safe: ask the main loop to shut down (SHUTDOWN event, exit). */
void qemu_system_shutdown_request(ShutdownCause cause);
/* Thread-safe: the guest asked for an exit with this status (debug-exit). */
void qemu_system_exit_request(int status);
/*
 * Thread-safe: a vCPU hit an error KVM cannot handle (internal error,
 * failed entry): the main loop stops the VM in internal-error state.
 */
void qemu_system_internal_error_request(void);
/*
 * Whether the guest starts once an incoming migration completes: false
 * with -S; "cont"/"stop" while in inmigrate set/clear it (QEMU's
 * autostart).
 */
void runstate_set_autostart(bool enable);
bool runstate_get_autostart(void);
/* -no-shutdown: on a shutdown, stop the VM but keep the process. */
void runstate_set_no_shutdown(bool enable);
/* Exit status main() should return after the main loop ends. */
int runstate_exit_status(void);

#endif
