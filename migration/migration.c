/*
 * The outgoing migration: state machine and the migration thread.
 *
 * QMP "migrate" (main thread) connects without blocking the main loop,
 * then the migration thread runs setup, iterates until what is left fits
 * bandwidth × downtime-limit, and completes with the VM stopped.  The
 * BQL is taken only to stop the VM and save device state.  On any
 * failure or cancel the VM runs on at the source.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "io/channel.h"
#include "monitor/monitor.h"
#include "system/runstate.h"
#include "migration/misc.h"
#include "channel.h"
#include "migration.h"
#include "migration-stats.h"
#include "options.h"
#include "qemu-file.h"
#include "ram.h"
#include "ram-release.h"
#include "block.h"
#include "block-dirty-bitmap.h"
#include "savevm.h"
#include "return-path.h"
#include "postcopy-ram.h"
#include "postcopy-preempt.h"
#include "postcopy-recover.h"
#include "multifd.h"
#include "cpu-throttle.h"
#include "tls.h"
#include "migration/dirtyrate.h"
#include "trace.h"

/* How often the thread re-measures bandwidth (and the rate-limit period). */
#define BUFFER_DELAY_MS 100
/* Passes beyond the one that met the limit, at most (see below). */
#define MIGRATION_MAX_EXTRA_PASSES 8

static const char *const status_names[MIGRATION_STATUS__MAX] = {
    [MIGRATION_STATUS_NONE] = "none",
    [MIGRATION_STATUS_SETUP] = "setup",
    [MIGRATION_STATUS_CANCELLING] = "cancelling",
    [MIGRATION_STATUS_CANCELLED] = "cancelled",
    [MIGRATION_STATUS_ACTIVE] = "active",
    [MIGRATION_STATUS_POSTCOPY_DEVICE] = "postcopy-device",
    [MIGRATION_STATUS_POSTCOPY_ACTIVE] = "postcopy-active",
    [MIGRATION_STATUS_POSTCOPY_PAUSED] = "postcopy-paused",
    [MIGRATION_STATUS_POSTCOPY_RECOVER_SETUP] = "postcopy-recover-setup",
    [MIGRATION_STATUS_POSTCOPY_RECOVER] = "postcopy-recover",
    [MIGRATION_STATUS_COMPLETED] = "completed",
    [MIGRATION_STATUS_FAILED] = "failed",
    [MIGRATION_STATUS_COLO] = "colo",
    [MIGRATION_STATUS_PRE_SWITCHOVER] = "pre-switchover",
    [MIGRATION_STATUS_DEVICE] = "device",
    [MIGRATION_STATUS_WAIT_UNPLUG] = "wait-unplug",
};

static MigrationState current_migration;
MigrationAtomicStats mig_stats;

MigrationState *migrate_get_current(void)
{
    return &current_migration;
}

const char *migration_status_name(int status)
{
    assert(status >= 0 && status < MIGRATION_STATUS__MAX);
    return status_names[status];
}

void mig_stats_reset(void)
{
    memset(&mig_stats, 0, sizeof(mig_stats));
}

void migration_pass_done(uint64_t pass)
{
    if (migrate_events()) {
        JsonObject *data = json_object_new();

        json_object_set_int_member(data, "pass", pass);
        qapi_event_send("MIGRATION_PASS", data);
    }
}

bool migrate_set_state(int *state, int old, int new_state)
{
    if (!__atomic_compare_exchange_n(state, &old, new_state, false,
                                     __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
        return false;
    }
    trace_migrate_set_state(migration_status_name(old),
                            migration_status_name(new_state));
    if (migrate_events()) {
        JsonObject *data = json_object_new();

        json_object_set_string_member(data, "status",
                                      migration_status_name(new_state));
        qapi_event_send("MIGRATION", data);
    }
    return true;
}

static int migration_state(MigrationState *s)
{
    return __atomic_load_n(&s->state, __ATOMIC_SEQ_CST);
}

void migrate_set_error(MigrationState *s, const Error *err)
{
    g_mutex_lock(&s->error_mutex);
    if (!s->error) {
        s->error = error_copy(err);
    }
    g_mutex_unlock(&s->error_mutex);
}

char *migrate_get_error_desc(GMutex *lock, Error *const *err)
{
    char *desc = NULL;

    g_mutex_lock(lock);
    if (*err) {
        desc = g_strdup(error_get_pretty(*err));
    }
    g_mutex_unlock(lock);
    return desc;
}

bool migration_is_running(void)
{
    switch (migration_state(&current_migration)) {
    case MIGRATION_STATUS_SETUP:
    case MIGRATION_STATUS_CANCELLING:
    case MIGRATION_STATUS_ACTIVE:
    case MIGRATION_STATUS_PRE_SWITCHOVER:
    case MIGRATION_STATUS_DEVICE:
    case MIGRATION_STATUS_POSTCOPY_ACTIVE:
    case MIGRATION_STATUS_POSTCOPY_PAUSED:
    case MIGRATION_STATUS_POSTCOPY_RECOVER_SETUP:
    case MIGRATION_STATUS_POSTCOPY_RECOVER:
        return true;
    default:
        return false;
    }
}

void migration_parameters_changed(void)
{
    MigrationState *s = &current_migration;

    g_mutex_lock(&s->qemu_file_lock);
    if (s->to_dst_file && migration_state(s) == MIGRATION_STATUS_ACTIVE) {
        qemu_file_set_rate_limit(s->to_dst_file, migrate_max_bandwidth());
    } else if (s->to_dst_file &&
               migration_state(s) == MIGRATION_STATUS_POSTCOPY_ACTIVE) {
        qemu_file_set_rate_limit(s->to_dst_file,
                                 migrate_max_postcopy_bandwidth());
    }
    g_mutex_unlock(&s->qemu_file_lock);
}

/* ---- the migration thread ---- */

/*
 * Every BUFFER_DELAY_MS: measure what the link carried, derive the
 * switchover threshold and the expected downtime.  The bandwidth is bytes
 * sent over wall time, so time spent scanning for dirty pages counts
 * against it: the threshold is what this thread can actually deliver.
 */
/*
 * Bytes on every channel: the main one, the multifd ones, and the pages
 * RDMA wrote past the stream.
 */
static uint64_t migration_bytes_sent(QEMUFile *f)
{
    return qemu_file_transferred(f) + stat64_get(&mig_stats.multifd_bytes) +
           stat64_get(&mig_stats.rdma_bytes);
}

/*
 * Pending state drained per ms.  Pending counts whole pages, so with
 * multifd compression (far fewer bytes on the wire than the pages they
 * carry) the pages moved measure it, not the bytes sent.
 */
static double migration_drain_rate(uint64_t bytes, uint64_t pages,
                                   int64_t elapsed)
{
    if (migrate_multifd() &&
        migrate_multifd_compression() != MULTIFD_COMPRESSION_NONE) {
        bytes = MAX(bytes, pages * TARGET_PAGE_SIZE);
    }
    return (double)bytes / elapsed;
}

typedef struct IterState {
    int64_t period_start;           /* ms */
    uint64_t period_bytes_start;
    uint64_t period_pages_start;
    double last_drain;              /* previous period's, 0: none yet */
    uint64_t sync_pages_sent;       /* pages sent at the last exact sync */
    bool finish_pass;               /* an extra pass runs: no check yet */
    int extra_passes;
    int64_t extra_start;            /* ms, when the first extra pass began */
} IterState;

/* Pages sent so far (all kinds), to size what a pass re-dirtied. */
static uint64_t migration_pages_sent(void)
{
    return stat64_get(&mig_stats.normal_pages) +
           stat64_get(&mig_stats.zero_pages);
}

/*
 * The dirty set fits the limit; is one more pass worth it before the
 * stop?  @added is what the sync just found re-dirtied among the pages
 * sent since the previous one: the next pass's size relative to the one
 * that ended (q).  With q well below 1 the passes shrink, and faster than
 * geometrically, since a shorter pass gives the guest less time to write.
 * The bound 0.7 is measured: stamp-150M re-dirties about half of a long
 * pass, so at q <= 1/2 hardly a pass ran (8 A/B runs: downtime median 19
 * ms without extra passes, 18 at 1/2, 6 at 0.7 for ~50 ms more total).  Not
 * when the expected downtime is already small (the stop's fixed costs
 * dominate it then), nor once the extra passes took a downtime limit's
 * worth of time: that bounds what this costs in total time.
 */
static bool migration_another_pass(IterState *it, uint64_t pending,
                                   uint64_t added)
{
    uint64_t sent = (migration_pages_sent() - it->sync_pages_sent) *
                    TARGET_PAGE_SIZE;
    double expected_ms = it->last_drain > 0 ? pending / it->last_drain : 0;
    int64_t now = migration_clock_ms();
    bool again;

    if (!it->extra_passes) {
        it->extra_start = now;
    }
    again = it->extra_passes < MIGRATION_MAX_EXTRA_PASSES &&
            now - it->extra_start < migrate_downtime_limit() &&
            expected_ms > migrate_downtime_limit() / 50.0 &&
            sent && added * 10 <= sent * 7;
    trace_migration_another_pass(pending, added, sent, expected_ms, again);
    if (again) {
        it->extra_passes++;
        it->finish_pass = true;
    }
    return again;
}

/*
 * What the stopped phase may spend on pending state, in ms.  Besides the
 * pages it pays fixed costs: the final dirty sync (about as long as the
 * last one), CPU and device state, and the destination's commit before
 * the guest runs there.  A tenth of the limit and the sync time are kept
 * for those, so the measured downtime (source stop to destination run)
 * stays within the limit, not just the part spent sending.
 */
static double migration_downtime_budget_ms(void)
{
    double limit = migrate_downtime_limit();
    double budget = limit - limit / 10 - ram_last_sync_ns() / 1e6;

    return MAX(budget, limit / 2);
}

static void migration_update_counters(MigrationState *s, QEMUFile *f,
                                      IterState *it, uint64_t pending)
{
    int64_t now = migration_clock_ms();
    int64_t elapsed = now - it->period_start;
    uint64_t bytes, pages;
    double bw;                      /* bytes per ms */
    double drain;                   /* pending bytes per ms */
    uint64_t switchover_bw = migrate_avail_switchover_bandwidth();

    if (elapsed < BUFFER_DELAY_MS) {
        return;
    }
    bytes = migration_bytes_sent(f) - it->period_bytes_start;
    pages = stat64_get(&mig_stats.normal_pages) +
            stat64_get(&mig_stats.zero_pages) - it->period_pages_start;
    bw = (double)bytes / elapsed;
    drain = migration_drain_rate(bytes, pages, elapsed);
    if (switchover_bw) {
        s->threshold_size = switchover_bw / 1000.0 * migrate_downtime_limit();
    } else {
        /* The slower of two periods: a rate that drops overshoots. */
        s->threshold_size = (it->last_drain > 0 ? MIN(drain, it->last_drain)
                             : drain) * migration_downtime_budget_ms();
    }
    it->last_drain = drain;
    /* bytes/ms × 8 = kbit/ms = Mbit/s × 1000 */
    __atomic_store_n(&s->mbps_x1000, (uint64_t)(bw * 8.0), __ATOMIC_RELAXED);
    __atomic_store_n(&s->pages_per_second, pages * 1000 / elapsed,
                     __ATOMIC_RELAXED);
    if (drain > 0) {
        __atomic_store_n(&s->expected_downtime, (int64_t)(pending / drain),
                         __ATOMIC_RELAXED);
    }
    trace_migrate_update_counters(bytes, elapsed, s->threshold_size, pending);
    it->period_start = now;
    it->period_bytes_start = migration_bytes_sent(f);
    it->period_pages_start = pages + it->period_pages_start;
}

/* Stop the VM, wait at pre-switchover if asked, then send the rest. */
static bool migration_completion(MigrationState *s, QEMUFile *f,
                                 int64_t *downtime_start, int64_t *sent,
                                 Error **errp)
{
    int state = MIGRATION_STATUS_ACTIVE;
    bool ok;

    bql_lock();
    *downtime_start = migration_clock_ms();
    s->vm_old_running = runstate_is_running();
    vm_stop_force_state(RUN_STATE_FINISH_MIGRATE);
    trace_migration_completion_stopped(migration_clock_ms() - *downtime_start);
    if (migrate_pause_before_switchover()) {
        if (!migrate_set_state(&s->state, state,
                               MIGRATION_STATUS_PRE_SWITCHOVER)) {
            goto cancelled;
        }
        state = MIGRATION_STATUS_PRE_SWITCHOVER;
        bql_unlock();
        qemu_sem_wait(&s->pause_sem);
        bql_lock();
    }
    if (!migrate_set_state(&s->state, state, MIGRATION_STATUS_DEVICE)) {
        goto cancelled;
    }
    /* The downtime phase is not rate limited. */
    qemu_file_set_rate_limit(f, 0);
    ok = qemu_savevm_state_complete_precopy(f, errp);
    /*
     * All sent.  Read the clock before the BQL goes: releasing it may
     * hand this CPU to a waiting main loop for some ms (2-6 ms seen on a
     * busy 2-CPU host) while the destination's guest already runs.
     */
    *sent = migration_clock_ms();
    bql_unlock();
    return ok;

cancelled:
    bql_unlock();
    error_setg(errp, "migration was cancelled");
    return false;
}

/*
 * The iterate loop; returns true when it is time to complete, with
 * *@postcopy set if that is by switching to postcopy.
 */
static bool migration_iterate(MigrationState *s, QEMUFile *f, bool *postcopy,
                              Error **errp)
{
    IterState it = {
        .period_start = migration_clock_ms(),
        .period_bytes_start = migration_bytes_sent(f),
    };

    while (migration_state(s) == MIGRATION_STATUS_ACTIVE) {
        uint64_t must, can;
        int ret;

        if (migrate_postcopy_ram() &&
            __atomic_load_n(&s->start_postcopy, __ATOMIC_ACQUIRE)) {
            *postcopy = true;
            return true;
        }
        qemu_savevm_state_pending_estimate(&must, &can);
        /*
         * What the socket still holds reaches the destination before
         * the last pages do, so it is part of the stopped phase too: with
         * a 4 MiB unix send buffer (or TCP's autotuned one) that is up to
         * 8 MiB, ~10 ms at 1 GB/s.
         */
        must += migration_channel_queued_bytes(qemu_file_get_ioc(f));
        /* An extra pass ends when the RAM it set out to send is sent. */
        if (it.finish_pass && !ram_bytes_remaining()) {
            it.finish_pass = false;
        }
        if (!it.finish_pass && must + can <= s->threshold_size) {
            uint64_t before = must + can;
            uint64_t added;

            /* The exact count syncs the dirty log: what it adds is new. */
            qemu_savevm_state_pending_exact(&must, &can);
            must += migration_channel_queued_bytes(qemu_file_get_ioc(f));
            added = must + can > before ? must + can - before : 0;
            mig_throttle_sync_done(added);
            if (must + can <= s->threshold_size &&
                !migration_another_pass(&it, must + can, added)) {
                return true;
            }
            it.sync_pages_sent = migration_pages_sent();
        }
        ret = qemu_savevm_state_iterate(f);
        if (ret < 0 || qemu_file_get_error(f)) {
            qemu_file_get_error_obj(f, errp);
            if (errp && !*errp) {
                error_setg(errp, "sending RAM failed: %s", g_strerror(-ret));
            }
            return false;
        }
        migration_update_counters(s, f, &it, must + can);
        if (qemu_file_rate_limit(f)) {
            qemu_file_rate_limit_wait(f);
        }
    }
    error_setg(errp, "migration was cancelled");
    return false;
}

/* ---- postcopy (source) ---- */

/*
 * The switch: stop the VM, then (savevm.c) end the sections that cannot
 * go on in postcopy, DISCARD what the destination holds stale, and send
 * the device state in a package that ends with RUN.  From the first
 * step on, a failure leaves the source's guest stopped (postcopy_started):
 * the destination may be running it already.
 */
static bool migration_postcopy_start(MigrationState *s, QEMUFile *f,
                                     int64_t *downtime_start, Error **errp)
{
    bool ok;

    trace_migration_postcopy_start();
    bql_lock();
    if (!migrate_set_state(&s->state, MIGRATION_STATUS_ACTIVE,
                           MIGRATION_STATUS_POSTCOPY_ACTIVE)) {
        bql_unlock();
        error_setg(errp, "migration was cancelled");
        return false;
    }
    *downtime_start = migration_clock_ms();
    s->vm_old_running = runstate_is_running();
    vm_stop_force_state(RUN_STATE_FINISH_MIGRATE);
    s->postcopy_started = true;
    qemu_file_set_rate_limit(f, 0);
    ok = qemu_savevm_state_postcopy_switch(f, errp);
    bql_unlock();
    /* Postcopy's downtime: until the destination can run the guest. */
    __atomic_store_n(&s->downtime, migration_clock_ms() - *downtime_start,
                     __ATOMIC_RELAXED);
    qemu_file_set_rate_limit(f, migrate_max_postcopy_bandwidth());
    return ok;
}

/*
 * After the switch: send the remaining pages (requested ones first) at
 * max-postcopy-bandwidth, then the end of the stream.  No dirty sync:
 * the guest does not run here any more.
 */
static bool migration_postcopy_send(MigrationState *s, QEMUFile *f,
                                    Error **errp)
{
    IterState it = {
        .period_start = migration_clock_ms(),
        .period_bytes_start = migration_bytes_sent(f),
    };

    while (migration_state(s) == MIGRATION_STATUS_POSTCOPY_ACTIVE) {
        int ret = qemu_savevm_state_iterate(f);
        QEMUFile *pf = postcopy_preempt_file();

        if (ret < 0 || qemu_file_get_error(f)) {
            qemu_file_get_error_obj(f, errp);
            if (errp && !*errp) {
                error_setg(errp, "sending RAM in postcopy failed: %s",
                           g_strerror(-ret));
            }
            return false;
        }
        /* Its sender stops on an error; the migration pauses for it. */
        if (pf && qemu_file_get_error_obj(pf, errp)) {
            error_prepend(errp, "postcopy preempt channel: ");
            return false;
        }
        if (ret == 1) {
            return qemu_savevm_state_complete_postcopy(f, errp);
        }
        /* release-ram: what was sent is dropped once this is answered. */
        ram_release_ping(f);
        migration_update_counters(s, f, &it, ram_bytes_remaining());
        if (qemu_file_rate_limit(f)) {
            /* A page request is worth waking up for. */
            ram_postcopy_wait_request(10);
        }
    }
    error_setg(errp, "postcopy was interrupted (state %s)",
               migration_status_name(migration_state(s)));
    return false;
}

static bool migration_in_postcopy(MigrationState *s)
{
    switch (migration_state(s)) {
    case MIGRATION_STATUS_POSTCOPY_ACTIVE:
    case MIGRATION_STATUS_POSTCOPY_PAUSED:
    case MIGRATION_STATUS_POSTCOPY_RECOVER_SETUP:
    case MIGRATION_STATUS_POSTCOPY_RECOVER:
        return true;
    default:
        return false;
    }
}

/* ---- postcopy recovery (source; docs/devel/migration/postcopy.md) ---- */

/* The broken stream and its return path go; the guest state stays. */
static void migration_postcopy_drop_stream(MigrationState *s)
{
    QEMUFile *f;

    g_mutex_lock(&s->qemu_file_lock);
    f = s->to_dst_file;
    s->to_dst_file = NULL;
    g_mutex_unlock(&s->qemu_file_lock);
    if (f) {
        qemu_file_shutdown(f);
    }
    /* Both channels go; resume opens both again. */
    postcopy_preempt_cleanup();
    migration_rp_finish(s, true, NULL);
    if (f) {
        qemu_fclose(f);
    }
}

/*
 * On the new stream (from migrate resume): ask for every block's
 * received bitmap, rebuild what is left to send, and resume.  The rp
 * thread handles the answers and RESUME_ACK (state back to
 * postcopy-active).
 */
static bool migration_postcopy_resume_handshake(MigrationState *s,
                                                Error **errp)
{
    QEMUFile *f;

    g_mutex_lock(&s->qemu_file_lock);
    f = s->to_dst_file;
    g_mutex_unlock(&s->qemu_file_lock);
    if (!f) {
        error_setg(errp, "Postcopy recovery without a new channel");
        return false;
    }
    /*
     * The destination takes the connection after the new main channel as
     * the preempt channel; it is there (acknowledged) before RESUME.
     */
    if (migrate_postcopy_preempt()) {
        if (!postcopy_preempt_connect(errp)) {
            return false;
        }
        trace_postcopy_preempt_reconnect();
    }
    migration_rp_start_resume(s, f);
    if (!ram_postcopy_resume_prepare(f, errp)) {
        return false;
    }
    qemu_savevm_send_command(f, MIG_CMD_POSTCOPY_RESUME, 0, NULL);
    qemu_fflush(f);
    if (qemu_file_get_error_obj(f, errp) ||
        !migration_rp_wait_resumed(s, errp)) {
        return false;
    }
    qemu_file_set_rate_limit(f, migrate_max_postcopy_bandwidth());
    ram_postcopy_resume_done();
    trace_migration_postcopy_resumed();
    return true;
}

/*
 * Postcopy broke (@err, consumed): pause instead of failing.  The guest
 * stays stopped, RAM and the bitmaps are kept, and this thread waits for
 * migrate resume, then does the handshake; a handshake that fails
 * pauses again.  True once postcopy runs again; false (with @errp) if it
 * cannot pause or the process exits.
 */
static bool migration_postcopy_pause(MigrationState *s, Error *err,
                                     Error **errp)
{
    int state = migration_state(s);

    for (;;) {
        if (state != MIGRATION_STATUS_POSTCOPY_ACTIVE &&
            state != MIGRATION_STATUS_POSTCOPY_RECOVER) {
            error_propagate(errp, err);
            return false;
        }
        trace_migration_postcopy_pause(error_get_pretty(err));
        error_report("postcopy paused on the source: %s",
                     error_get_pretty(err));
        migrate_set_error(s, err);
        error_free(err);
        err = NULL;
        migration_postcopy_drop_stream(s);
        migrate_set_state(&s->state, state, MIGRATION_STATUS_POSTCOPY_PAUSED);
        while (!__atomic_load_n(&s->postcopy_exit, __ATOMIC_ACQUIRE) &&
               migration_state(s) != MIGRATION_STATUS_POSTCOPY_RECOVER) {
            qemu_sem_wait(&s->postcopy_pause_sem);
        }
        if (__atomic_load_n(&s->postcopy_exit, __ATOMIC_ACQUIRE)) {
            error_setg(errp, "postcopy was paused when the process exited");
            return false;
        }
        state = MIGRATION_STATUS_POSTCOPY_RECOVER;
        if (migration_postcopy_resume_handshake(s, &err)) {
            return true;
        }
    }
}

static bool migration_postcopy_run(MigrationState *s, Error **errp)
{
    for (;;) {
        QEMUFile *f;
        Error *err = NULL;

        g_mutex_lock(&s->qemu_file_lock);
        f = s->to_dst_file;
        g_mutex_unlock(&s->qemu_file_lock);
        if (migration_postcopy_send(s, f, &err)) {
            return true;
        }
        if (!migration_postcopy_pause(s, err, errp)) {
            return false;
        }
    }
}

static void migrate_resume_connect_done(QIOChannel *ioc, Error *err,
                                        void *opaque)
{
    MigrationState *s = opaque;

    if (err) {
        error_prepend(&err, "postcopy resume: ");
        migrate_set_error(s, err);
        error_report_err(err);
        migrate_set_state(&s->state, MIGRATION_STATUS_POSTCOPY_RECOVER_SETUP,
                          MIGRATION_STATUS_POSTCOPY_PAUSED);
        return;
    }
    g_mutex_lock(&s->qemu_file_lock);
    s->to_dst_file = qemu_file_new_output(ioc);
    qemu_file_set_rate_limit(s->to_dst_file, 0);
    g_mutex_unlock(&s->qemu_file_lock);
    qio_channel_unref(ioc);
    migrate_set_state(&s->state, MIGRATION_STATUS_POSTCOPY_RECOVER_SETUP,
                      MIGRATION_STATUS_POSTCOPY_RECOVER);
    qemu_sem_post(&s->postcopy_pause_sem);
}

bool migrate_resume(const char *uri, Error **errp)
{
    MigrationState *s = &current_migration;
    Error *err = NULL;

    if (migration_state(s) != MIGRATION_STATUS_POSTCOPY_PAUSED) {
        error_setg(errp, "Cannot resume if there is no paused migration");
        return false;
    }
    if (!migrate_set_state(&s->state, MIGRATION_STATUS_POSTCOPY_PAUSED,
                           MIGRATION_STATUS_POSTCOPY_RECOVER_SETUP)) {
        error_setg(errp, "Cannot resume if there is no paused migration");
        return false;
    }
    /* A new attempt: its own error, if any, is the one to report. */
    g_mutex_lock(&s->error_mutex);
    error_free(s->error);
    s->error = NULL;
    g_mutex_unlock(&s->error_mutex);
    trace_migration_postcopy_resume(uri);
    postcopy_preempt_set_resume_uri(uri);
    migration_tls_reset_connects();
    if (!migration_channel_connect(uri, migrate_resume_connect_done, s,
                                   &err)) {
        migrate_set_error(s, err);
        migrate_set_state(&s->state, MIGRATION_STATUS_POSTCOPY_RECOVER_SETUP,
                          MIGRATION_STATUS_POSTCOPY_PAUSED);
        error_propagate(errp, err);
        return false;
    }
    return true;
}

bool migrate_pause(Error **errp)
{
    MigrationState *s = &current_migration;
    int state = migration_state(s);
    Error *why = NULL;

    if (state != MIGRATION_STATUS_POSTCOPY_ACTIVE &&
        state != MIGRATION_STATUS_POSTCOPY_RECOVER) {
        /* Not an outgoing postcopy: maybe this is the destination. */
        return migration_incoming_pause(errp);
    }
    g_mutex_lock(&s->qemu_file_lock);
    if (!s->to_dst_file) {
        g_mutex_unlock(&s->qemu_file_lock);
        error_setg(errp, "Failed to pause source migration");
        return false;
    }
    /* The migration thread (or the rp thread) fails on it and pauses. */
    error_setg(&why, "Postcopy migration is paused by the user");
    qemu_file_set_error_obj(s->to_dst_file, -EIO, why);
    qemu_file_shutdown(s->to_dst_file);
    g_mutex_unlock(&s->qemu_file_lock);
    return true;
}

bool migrate_start_postcopy(Error **errp)
{
    MigrationState *s = &current_migration;

    if (!migrate_postcopy_ram()) {
        error_setg(errp, "Enable postcopy with migrate_set_capability before"
                   " the start of migration");
        return false;
    }
    if (migration_state(s) == MIGRATION_STATUS_NONE) {
        error_setg(errp, "Postcopy must be started after migration has been"
                   " started");
        return false;
    }
    /* As QEMU: not an error once the migration is over (that would race). */
    __atomic_store_n(&s->start_postcopy, true, __ATOMIC_RELEASE);
    return true;
}

/* Close the stream in this thread: an exec: child's exit status counts. */
static bool migration_close_file(MigrationState *s, Error **errp)
{
    QEMUFile *f;

    g_mutex_lock(&s->qemu_file_lock);
    f = s->to_dst_file;
    s->to_dst_file = NULL;
    g_mutex_unlock(&s->qemu_file_lock);
    return qemu_file_close(f, errp) == 0;
}

static void migration_cleanup_bh(void *opaque)
{
    MigrationState *s = opaque;
    int state = migration_state(s);

    if (!s->thread_created) {
        return;     /* migration_shutdown() joined it already */
    }
    qemu_thread_join(&s->thread);
    s->thread_created = false;
    if (state == MIGRATION_STATUS_COMPLETED || s->postcopy_started) {
        /* After the switch the source's memory may be incomplete. */
        runstate_set(RUN_STATE_POSTMIGRATE);
    } else if (s->vm_old_running) {
        /* Failed or cancelled after the VM was stopped: it runs on here. */
        vm_start(NULL);
    } else if (runstate_check(RUN_STATE_FINISH_MIGRATE)) {
        runstate_set(RUN_STATE_PAUSED);
    }
    s->vm_old_running = false;
    trace_migration_cleanup(migration_status_name(state));
}

static void migration_thread_fail(MigrationState *s, Error *err)
{
    int state = migration_state(s);

    if (state == MIGRATION_STATUS_CANCELLING) {
        migrate_set_state(&s->state, state, MIGRATION_STATUS_CANCELLED);
        error_free(err);
        return;
    }
    migrate_set_error(s, err);
    error_report("migration failed: %s", error_get_pretty(err));
    error_free(err);
    migrate_set_state(&s->state, state, MIGRATION_STATUS_FAILED);
}

static void *migration_thread(void *opaque)
{
    MigrationState *s = opaque;
    QEMUFile *f = s->to_dst_file;   /* stays valid until we close it */
    Error *err = NULL;
    int64_t downtime_start = 0, downtime_end, sent = 0;
    bool rp_open = false;
    bool postcopy = false;
    bool ok;

    qemu_savevm_state_header(f);
    ok = migration_rp_start(s, f, &err);
    /* Before ADVISE: the destination checks the channel is there. */
    if (ok && migrate_postcopy_preempt()) {
        ok = postcopy_preempt_connect(&err);
    }
    if (ok && migrate_postcopy_ram()) {
        qemu_savevm_send_postcopy_advise(f);
    }
    ok = ok && qemu_savevm_state_setup(f, &err);
    __atomic_store_n(&s->setup_time, migration_clock_ms() - s->start_time,
                     __ATOMIC_RELAXED);
    if (ok && !migrate_set_state(&s->state, MIGRATION_STATUS_SETUP,
                                 MIGRATION_STATUS_ACTIVE)) {
        error_setg(&err, "migration was cancelled");
        ok = false;
    }
    mig_throttle_reset();
    ok = ok && migration_iterate(s, f, &postcopy, &err);
    if (ok && postcopy) {
        ok = migration_postcopy_start(s, f, &downtime_start, &err) &&
             migration_postcopy_run(s, &err);
        trace_migration_postcopy_done(ok);
    } else if (ok) {
        ok = migration_completion(s, f, &downtime_start, &sent, &err);
    }
    rp_open = s->rp != NULL;
    /*
     * With a return path the guest is the destination's only once it has
     * said so (SHUT 0); until then, a failure restarts it here.
     */
    if (!migration_rp_finish(s, !ok, &err)) {
        ok = false;
    }
    /*
     * The downtime ends here: everything is sent (and, with a return
     * path, the destination runs the guest).  The cleanup below (dirty
     * log off, bitmaps freed: tens of ms for a large guest) is not part
     * of the guest's pause.
     */
    downtime_end = rp_open || !sent ? migration_clock_ms() : sent;
    trace_migration_downtime_end(downtime_end - downtime_start);
    /* Done or failed, the source's guest runs at full speed again. */
    mig_throttle_stop();
    if (ok) {
        qemu_savevm_state_cleanup();
        ok = migration_close_file(s, &err);
    } else {
        g_mutex_lock(&s->qemu_file_lock);
        if (s->to_dst_file) {   /* none after a postcopy pause */
            qemu_file_shutdown(s->to_dst_file);
        }
        g_mutex_unlock(&s->qemu_file_lock);
        qemu_savevm_state_cleanup();
        if (s->to_dst_file) {
            migration_close_file(s, NULL);
        }
    }
    if (ok) {
        int64_t now = migration_clock_ms();

        if (!postcopy) {
            __atomic_store_n(&s->downtime, downtime_end - downtime_start,
                             __ATOMIC_RELAXED);
        }
        __atomic_store_n(&s->total_time, now - s->start_time,
                         __ATOMIC_RELAXED);
        migrate_set_state(&s->state, postcopy ?
                          MIGRATION_STATUS_POSTCOPY_ACTIVE :
                          MIGRATION_STATUS_DEVICE,
                          MIGRATION_STATUS_COMPLETED);
    } else {
        migration_thread_fail(s, err);
    }
    main_loop_schedule(migration_cleanup_bh, s);
    return NULL;
}

/* ---- starting, cancelling (main thread, BQL) ---- */

static void migrate_connect_done(QIOChannel *ioc, Error *err, void *opaque)
{
    MigrationState *s = opaque;

    if (migration_state(s) == MIGRATION_STATUS_CANCELLING) {
        migrate_set_state(&s->state, MIGRATION_STATUS_CANCELLING,
                          MIGRATION_STATUS_CANCELLED);
        if (ioc) {
            qio_channel_unref(ioc);
        }
        error_free(err);
        return;
    }
    if (err) {
        migration_thread_fail(s, err);
        return;
    }
    g_mutex_lock(&s->qemu_file_lock);
    s->to_dst_file = qemu_file_new_output(ioc);
    qemu_file_set_rate_limit(s->to_dst_file, migrate_max_bandwidth());
    g_mutex_unlock(&s->qemu_file_lock);
    qio_channel_unref(ioc);
    s->thread_created = true;
    qemu_thread_create(&s->thread, "mig/src/main", migration_thread, s,
                       QEMU_THREAD_JOINABLE);
}

static bool migrate_check_can_start(MigrationState *s, const char *uri,
                                    Error **errp)
{
    if (migration_is_running() || s->thread_created) {
        error_setg(errp, "There's a migration process in progress");
        return false;
    }
    if (runstate_check(RUN_STATE_INMIGRATE)) {
        error_setg(errp, "Guest is waiting for an incoming migration");
        return false;
    }
    if (dirtyrate_dirty_log_in_use()) {
        error_setg(errp, "calc-dirty-rate is measuring with the dirty log "
                   "(mode dirty-bitmap or dirty-ring); migrate when it is "
                   "done");
        return false;
    }
    if (runstate_check(RUN_STATE_SHUTDOWN) ||
        runstate_check(RUN_STATE_INTERNAL_ERROR)) {
        error_setg(errp, "Guest is in state '%s' and cannot migrate",
                   runstate_name(runstate_get()));
        return false;
    }
    return migrate_caps_check_for_start(false, uri, errp) &&
           qemu_savevm_state_prepare(errp);
}

bool migrate_start_outgoing(const char *uri, Error **errp)
{
    MigrationState *s = &current_migration;
    Error *err = NULL;

    if (!migrate_check_can_start(s, uri, errp)) {
        return false;
    }
    g_mutex_lock(&s->error_mutex);
    error_free(s->error);
    s->error = NULL;
    g_mutex_unlock(&s->error_mutex);
    mig_stats_reset();
    s->setup_time = s->total_time = s->downtime = s->expected_downtime = 0;
    s->mbps_x1000 = s->pages_per_second = 0;
    s->threshold_size = 0;
    s->start_postcopy = false;
    s->postcopy_started = false;
    s->postcopy_exit = false;
    s->start_time = migration_clock_ms();
    __atomic_store_n(&s->state, MIGRATION_STATUS_NONE, __ATOMIC_SEQ_CST);
    migrate_set_state(&s->state, MIGRATION_STATUS_NONE,
                      MIGRATION_STATUS_SETUP);
    trace_migrate_start_outgoing(uri);
    multifd_send_set_uri(uri);
    postcopy_preempt_set_uri(uri);
    migration_tls_reset_connects();
    if (!migration_channel_connect(uri, migrate_connect_done, s, &err)) {
        migrate_set_error(s, err);
        migrate_set_state(&s->state, MIGRATION_STATUS_SETUP,
                          MIGRATION_STATUS_FAILED);
        error_propagate(errp, err);
        return false;
    }
    return true;
}

bool migrate_cancel(Error **errp)
{
    MigrationState *s = &current_migration;
    int old;

    /*
     * As QEMU: once postcopy started the source's guest cannot run again
     * (the destination runs it), so there is nothing to cancel back to.
     */
    if (migration_in_postcopy(s)) {
        error_setg(errp, "Postcopy migration in progress, cannot cancel.");
        return false;
    }
    do {
        old = migration_state(s);
        if (old != MIGRATION_STATUS_SETUP && old != MIGRATION_STATUS_ACTIVE &&
            old != MIGRATION_STATUS_PRE_SWITCHOVER &&
            old != MIGRATION_STATUS_DEVICE) {
            return true;    /* QEMU: cancelling nothing is not an error */
        }
    } while (!migrate_set_state(&s->state, old, MIGRATION_STATUS_CANCELLING));

    g_mutex_lock(&s->qemu_file_lock);
    if (s->to_dst_file) {
        qemu_file_shutdown(s->to_dst_file);
    }
    g_mutex_unlock(&s->qemu_file_lock);
    multifd_send_cancel();  /* a hand-off may wait for a stalled channel */
    migration_tls_cancel_connects();    /* a handshake may wait too */
    if (old == MIGRATION_STATUS_PRE_SWITCHOVER) {
        qemu_sem_post(&s->pause_sem);
    }
    return true;
}

bool migrate_continue(int from_state, Error **errp)
{
    MigrationState *s = &current_migration;

    if (migration_state(s) != from_state) {
        error_setg(errp, "Migration not in expected state: %s",
                   migration_status_name(migration_state(s)));
        return false;
    }
    qemu_sem_post(&s->pause_sem);
    return true;
}

void migration_object_init(void)
{
    MigrationState *s = &current_migration;

    g_mutex_init(&s->qemu_file_lock);
    g_mutex_init(&s->error_mutex);
    qemu_sem_init(&s->pause_sem, 0);
    qemu_sem_init(&s->postcopy_pause_sem, 0);
    migration_incoming_init();
    ram_mig_init();
    blk_mig_init();
    dirty_bitmap_mig_init();
}

void migration_shutdown(void)
{
    MigrationState *s = &current_migration;
    Error *err = NULL;

    migrate_cancel(&err);
    error_free(err);
    /* Postcopy cannot be cancelled, but at exit its stream must end. */
    __atomic_store_n(&s->postcopy_exit, true, __ATOMIC_RELEASE);
    g_mutex_lock(&s->qemu_file_lock);
    if (s->to_dst_file && migration_in_postcopy(s)) {
        qemu_file_shutdown(s->to_dst_file);
    }
    g_mutex_unlock(&s->qemu_file_lock);
    /* A paused postcopy gives up: the process ends. */
    qemu_sem_post(&s->postcopy_pause_sem);
    if (s->thread_created) {
        /* The thread needs no BQL once cancelled; it may schedule a BH. */
        bql_unlock();
        qemu_thread_join(&s->thread);
        bql_lock();
        s->thread_created = false;
    }
    migration_incoming_shutdown();
}
