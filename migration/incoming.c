/*
 * The incoming migration: listen, accept the main channel, and load the
 * stream in its own thread so that the main loop (and every monitor)
 * stays responsive while gigabytes arrive.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "hw/boards.h"
#include "io/channel.h"
#include "system/runstate.h"
#include "migration/misc.h"
#include "channel.h"
#include "migration.h"
#include "options.h"
#include "qemu-file.h"
#include "savevm.h"
#include "return-path.h"
#include "postcopy-ram.h"
#include "postcopy-preempt.h"
#include "multifd.h"
#include "ram.h"
#include "trace.h"

static MigrationIncomingState current_incoming;

MigrationIncomingState *migration_incoming_get_current(void)
{
    return &current_incoming;
}

void migration_incoming_init(void)
{
    g_mutex_init(&current_incoming.error_mutex);
    g_mutex_init(&current_incoming.rp_mutex);
    current_incoming.exit_on_error = true;
}

static void incoming_set_error(MigrationIncomingState *mis, Error *err)
{
    g_mutex_lock(&mis->error_mutex);
    if (!mis->error) {
        mis->error = error_copy(err);
    }
    g_mutex_unlock(&mis->error_mutex);
}

/* Close the main channel (after the return path's last message). */
static void incoming_close_file(MigrationIncomingState *mis)
{
    qemu_file_close(mis->from_src_file, NULL);
    mis->from_src_file = NULL;
}

/* Main thread, BQL: the stream is loaded (or failed). */
static void incoming_finish_bh(void *opaque)
{
    MigrationIncomingState *mis = opaque;
    int state = __atomic_load_n(&mis->state, __ATOMIC_SEQ_CST);
    Error *err = NULL;
    bool start_failed = false;
    bool postcopy_ran;

    if (!mis->thread_created) {
        return;     /* migration_incoming_shutdown() joined it */
    }
    trace_migration_incoming_finish(state);
    qemu_thread_join(&mis->thread);
    mis->thread_created = false;
    multifd_recv_shutdown();    /* its threads may use from_src_file */
    /* Not the state: a package that failed before RUN also ends "END". */
    postcopy_ran = postcopy_incoming_guest_ran();
    /* Wakes any vCPU still blocked on a page that will not come. */
    postcopy_incoming_cleanup();
    if (state != MIGRATION_STATUS_COMPLETED && postcopy_ran) {
        /* The guest ran here with part of its memory: do not go on. */
        vm_stop(RUN_STATE_INTERNAL_ERROR);
    }
    if (state == MIGRATION_STATUS_COMPLETED && postcopy_ran) {
        /* RUN started the guest already; the source waits for this. */
        migration_incoming_rp_shut(mis, false);
        incoming_close_file(mis);
        return;
    }
    if (state != MIGRATION_STATUS_COMPLETED) {
        migration_incoming_rp_shut(mis, true);
        incoming_close_file(mis);
        if (mis->exit_on_error) {
            /* QEMU's default: a destination that failed to load exits. */
            qemu_system_exit_request(1);
        }
        return;
    }
    if (mis->guest_started) {
        /* incoming_start_guest() did it */
        start_failed = mis->start_failed;
        mis->guest_started = false;
    } else {
        /* Leave inmigrate first: there vm_start() only sets autostart. */
        runstate_set(RUN_STATE_PAUSED);
        if (runstate_get_autostart() && !vm_start(&err)) {
            error_report_err(err);
            start_failed = true;
        }
        trace_migration_incoming_started(!start_failed);
    }
    /* The source waits for this (return path) before it lets go. */
    migration_incoming_rp_shut(mis, start_failed);
    incoming_close_file(mis);
}

/*
 * Incoming thread, precopy loaded in full (device state, every page):
 * run the guest now rather than from incoming_finish_bh, which waits for
 * the main loop to come round (several ms on a busy host) and for this
 * thread's join, all inside the downtime.  The BQL is what vm_start()
 * needs; the rest of the finish (return path SHUT, file close, joins)
 * stays in the BH, after the guest runs.  Postcopy started the guest
 * with RUN already.
 */
static void incoming_start_guest(MigrationIncomingState *mis)
{
    Error *err = NULL;

    if (postcopy_incoming_state() >= POSTCOPY_INCOMING_LISTENING) {
        return;
    }
    bql_lock();
    if (runstate_check(RUN_STATE_INMIGRATE)) {
        runstate_set(RUN_STATE_PAUSED);
        mis->start_failed = runstate_get_autostart() && !vm_start(&err);
        if (mis->start_failed) {
            error_report_err(err);
        }
        mis->guest_started = true;
        trace_migration_incoming_started(!mis->start_failed);
    }
    bql_unlock();
}

/*
 * Incoming thread, precopy loaded: with multifd, every page of every
 * channel has landed (the final sync) and no channel thread is left to
 * write guest RAM, before the guest may run.
 */
static bool incoming_multifd_end(Error **errp)
{
    if (!migrate_multifd_sockets()) {
        return true;
    }
    return ram_load_multifd_check_end(errp) && multifd_recv_finish(errp);
}

static void *incoming_thread(void *opaque)
{
    MigrationIncomingState *mis = opaque;
    Error *err = NULL;
    int state;
    bool ok;

    migrate_set_state(&mis->state, MIGRATION_STATUS_SETUP,
                      MIGRATION_STATUS_ACTIVE);
    ok = qemu_loadvm_state(mis->from_src_file, &err) &&
         incoming_multifd_end(&err);
    if (ok) {
        incoming_start_guest(mis);
    }
    __atomic_store_n(&mis->total_time,
                     migration_clock_ms() - mis->start_time,
                     __ATOMIC_RELAXED);
    /* From LISTEN on, the state is postcopy-active (postcopy-ram.c). */
    state = __atomic_load_n(&mis->state, __ATOMIC_SEQ_CST);
    if (ok) {
        migrate_set_state(&mis->state, state, MIGRATION_STATUS_COMPLETED);
    } else {
        error_prepend(&err, "load of migration failed: ");
        incoming_set_error(mis, err);
        error_report_err(err);
        migrate_set_state(&mis->state, state, MIGRATION_STATUS_FAILED);
    }
    main_loop_schedule(incoming_finish_bh, mis);
    return NULL;
}

/*
 * migrate-recover's channel (main thread, BQL): it replaces the broken
 * main channel; the paused listen thread goes on reading from it.  The
 * state is postcopy-recover before the listen thread sees the channel:
 * the source's RECV_BITMAP may already be on its way.
 */
/*
 * postcopy-preempt recovery: the listener stays open after the new main
 * channel for the new preempt channel (main thread, BQL).
 */
static bool incoming_recover_awaits_preempt;

static void incoming_accept_recovery(MigrationIncomingState *mis,
                                     QIOChannel *ioc)
{
    QEMUFile *old = mis->from_src_file;
    QEMUFile *f;
    Error *err = NULL;

    if (migrate_postcopy_preempt()) {
        incoming_recover_awaits_preempt = true;
    } else {
        migration_channel_listen_stop();
        mis->listening = false;
    }
    qio_channel_set_name(ioc, "migration-incoming");
    f = qemu_file_new_input(ioc);
    qio_channel_unref(ioc);
    trace_postcopy_incoming_recover_channel();
    migrate_set_state(&mis->state, MIGRATION_STATUS_POSTCOPY_PAUSED,
                      MIGRATION_STATUS_POSTCOPY_RECOVER_SETUP);
    /* The old file stays the paused listen thread's; it closes it. */
    mis->from_src_file = f;
    migration_incoming_rp_reopen(mis, f);
    migrate_set_state(&mis->state, MIGRATION_STATUS_POSTCOPY_RECOVER_SETUP,
                      MIGRATION_STATUS_POSTCOPY_RECOVER);
    if (!postcopy_incoming_recover_channel(f, &err)) {
        error_report_err(err);
        migration_incoming_rp_drop(mis);
        mis->from_src_file = old;
        qemu_fclose(f);
        migrate_set_state(&mis->state, MIGRATION_STATUS_POSTCOPY_RECOVER,
                          MIGRATION_STATUS_POSTCOPY_PAUSED);
    }
}

static void incoming_accept(QIOChannel *ioc, void *opaque)
{
    MigrationIncomingState *mis = opaque;

    if (mis->thread_created &&
        __atomic_load_n(&mis->state, __ATOMIC_SEQ_CST) ==
        MIGRATION_STATUS_POSTCOPY_PAUSED) {
        incoming_accept_recovery(mis, ioc);
        return;
    }
    if ((mis->thread_created || mis->from_src_file) &&
        migrate_postcopy_preempt()) {
        /* The second connection is the postcopy preempt channel. */
        migration_channel_listen_stop();
        mis->listening = false;
        incoming_recover_awaits_preempt = false;
        postcopy_preempt_incoming_channel(ioc);
        return;
    }
    if (mis->thread_created || mis->from_src_file) {
        /*
         * multifd: the source connects its channels after the main one;
         * the init message names each (checked in its recv thread).
         * Without multifd, extras are refused.
         */
        multifd_recv_new_channel(ioc);
        if (multifd_recv_all_channels() && mis->listening) {
            migration_channel_listen_stop();
            mis->listening = false;
        }
        return;
    }
    if (migrate_multifd_sockets()) {
        multifd_recv_setup();   /* keep listening for the channels */
    } else if (migrate_postcopy_preempt()) {
        /* keep listening for the preempt channel */
    } else {
        migration_channel_listen_stop();
        mis->listening = false;
    }
    qio_channel_set_name(ioc, "migration-incoming");
    mis->from_src_file = qemu_file_new_input(ioc);
    qio_channel_unref(ioc);
    mis->start_time = migration_clock_ms();
    trace_migration_incoming_accept();
    mis->thread_created = true;
    qemu_thread_create(&mis->thread, "mig/dst/main", incoming_thread, mis,
                       QEMU_THREAD_JOINABLE);
}

bool migrate_start_incoming(const char *uri, bool exit_on_error,
                            Error **errp)
{
    MigrationIncomingState *mis = &current_incoming;

    if (mis->listening || mis->thread_created ||
        mis->state != MIGRATION_STATUS_NONE) {
        error_setg(errp, "The incoming migration has already been started");
        return false;
    }
    if (!runstate_check(RUN_STATE_INMIGRATE)) {
        error_setg(errp, "'-incoming' was not specified on the command line");
        return false;
    }
    if (!migrate_caps_check_for_start(true, uri, errp)) {
        return false;
    }
    mis->exit_on_error = exit_on_error;
    migrate_set_state(&mis->state, MIGRATION_STATUS_NONE,
                      MIGRATION_STATUS_SETUP);
    if (!migration_channel_listen(uri, incoming_accept, mis, errp)) {
        migrate_set_state(&mis->state, MIGRATION_STATUS_SETUP,
                          MIGRATION_STATUS_NONE);
        return false;
    }
    g_free(mis->uri);
    mis->uri = g_strdup(uri);
    mis->listening = true;
    trace_migrate_start_incoming(uri);
    return true;
}

bool migrate_recover(const char *uri, Error **errp)
{
    MigrationIncomingState *mis = &current_incoming;

    if (__atomic_load_n(&mis->state, __ATOMIC_SEQ_CST) !=
        MIGRATION_STATUS_POSTCOPY_PAUSED) {
        error_setg(errp, "Migrate recover can only be run when postcopy is "
                   "paused.");
        return false;
    }
    if (mis->listening && !incoming_recover_awaits_preempt) {
        error_setg(errp, "Migrate recovery is triggered already");
        return false;
    }
    if (mis->listening) {
        /* A recovery whose preempt channel never came: listen anew. */
        migration_channel_listen_stop();
        mis->listening = false;
        incoming_recover_awaits_preempt = false;
    }
    if (!migration_channel_listen(uri, incoming_accept, mis, errp)) {
        return false;
    }
    g_free(mis->uri);
    mis->uri = g_strdup(uri);
    mis->listening = true;
    trace_migrate_recover(uri);
    return true;
}

bool migration_incoming_pause(Error **errp)
{
    MigrationIncomingState *mis = &current_incoming;
    int state = __atomic_load_n(&mis->state, __ATOMIC_SEQ_CST);
    Error *why = NULL;

    if (state != MIGRATION_STATUS_POSTCOPY_ACTIVE &&
        state != MIGRATION_STATUS_POSTCOPY_RECOVER) {
        error_setg(errp, "migrate-pause is currently only supported during "
                   "postcopy-active or postcopy-recover state");
        return false;
    }
    if (!mis->from_src_file) {
        error_setg(errp, "Failed to pause destination migration");
        return false;
    }
    /* The listen thread fails on its stream and pauses. */
    error_setg(&why, "Postcopy migration is paused by the user");
    qemu_file_set_error_obj(mis->from_src_file, -EIO, why);
    qemu_file_shutdown(mis->from_src_file);
    return true;
}

bool migration_incoming_cmdline(const char *uri, Error **errp)
{
    if (!strcmp(uri, "defer")) {
        return true;
    }
    return migrate_start_incoming(uri, true, errp);
}

void migration_shutdown_prepare(void)
{
    if (current_incoming.thread_created) {
        /* The process ends: the guest's memory does not matter any more. */
        postcopy_incoming_release_vcpus();
    }
}

void migration_incoming_shutdown(void)
{
    MigrationIncomingState *mis = &current_incoming;

    if (mis->listening) {
        migration_channel_listen_stop();
        mis->listening = false;
    }
    if (mis->thread_created) {
        /* A paused postcopy ends here: the guest cannot be recovered. */
        postcopy_incoming_pause_exit();
        qemu_file_shutdown(mis->from_src_file);
        multifd_recv_terminate();   /* a sync may wait for channels */
        bql_unlock();
        qemu_thread_join(&mis->thread);
        bql_lock();
        mis->thread_created = false;
    }
    postcopy_incoming_cleanup();
    migration_incoming_rp_shut(mis, true);
    multifd_recv_shutdown();
}
