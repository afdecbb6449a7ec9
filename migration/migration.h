/*
 * Migration state (private to migration/).
 *
 * Locking (outer first; docs/devel/migration/locking.md):
 *   1. BQL
 *   2. MigrationState.error_mutex: the first error, kept
 *   3. MigrationState.qemu_file_lock: the to_dst_file pointer, so that
 *      cancel (main thread) can shut the file down while the migration
 *      thread uses it
 * "state" fields change only through migrate_set_state() (a CAS).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_MIGRATION_H
#define MIGRATION_MIGRATION_H

#include "qapi/error.h"
#include "qemu/thread.h"

typedef struct QEMUFile QEMUFile;
typedef struct QIOChannel QIOChannel;
typedef struct MigrationRP MigrationRP;

/* QEMU's MigrationStatus, in QEMU's order. */
typedef enum MigrationStatus {
    MIGRATION_STATUS_NONE,
    MIGRATION_STATUS_SETUP,
    MIGRATION_STATUS_CANCELLING,
    MIGRATION_STATUS_CANCELLED,
    MIGRATION_STATUS_ACTIVE,
    MIGRATION_STATUS_POSTCOPY_DEVICE,
    MIGRATION_STATUS_POSTCOPY_ACTIVE,
    MIGRATION_STATUS_POSTCOPY_PAUSED,
    MIGRATION_STATUS_POSTCOPY_RECOVER_SETUP,
    MIGRATION_STATUS_POSTCOPY_RECOVER,
    MIGRATION_STATUS_COMPLETED,
    MIGRATION_STATUS_FAILED,
    MIGRATION_STATUS_COLO,
    MIGRATION_STATUS_PRE_SWITCHOVER,
    MIGRATION_STATUS_DEVICE,
    MIGRATION_STATUS_WAIT_UNPLUG,
    MIGRATION_STATUS__MAX
} MigrationStatus;

const char *migration_status_name(int status);

/* The outgoing side. */
typedef struct MigrationState {
    int state;                      /* atomic; migrate_set_state() */
    QemuThread thread;
    bool thread_created;            /* BQL */

    GMutex qemu_file_lock;
    QEMUFile *to_dst_file;          /* qemu_file_lock */

    GMutex error_mutex;
    Error *error;                   /* error_mutex: the first error */

    /* Times in ms (CLOCK_MONOTONIC); written by the migration thread. */
    int64_t start_time;             /* atomic */
    int64_t setup_time;             /* atomic */
    int64_t total_time;             /* atomic; final */
    int64_t downtime;               /* atomic; final */
    int64_t expected_downtime;      /* atomic */
    uint64_t mbps_x1000;            /* atomic: last measured Mbit/s ×1000 */
    uint64_t pages_per_second;      /* atomic */
    uint64_t threshold_size;        /* migration thread only */

    bool vm_old_running;            /* migration thread: VM ran at stop */
    QemuSemaphore pause_sem;        /* pause-before-switchover */
    /* The return path (return-path.c), or NULL; migration thread only. */
    MigrationRP *rp;
    /* Postcopy: asked by migrate-start-postcopy (atomic, any thread). */
    bool start_postcopy;
    /*
     * The switch to postcopy began: the source's guest must not run again.
     * Migration thread; read by the cleanup BH after the join.
     */
    bool postcopy_started;
    /*
     * Postcopy recovery: the paused migration thread waits on this for
     * migrate resume (state postcopy-recover, a new to_dst_file) or for
     * the exit (postcopy_exit, atomic).
     */
    QemuSemaphore postcopy_pause_sem;
    bool postcopy_exit;
} MigrationState;

/* The incoming side. */
typedef struct MigrationIncomingState {
    int state;                      /* atomic; migrate_set_state() */
    QemuThread thread;
    bool thread_created;            /* BQL */
    QEMUFile *from_src_file;        /* incoming thread */
    bool exit_on_error;             /* BQL; set by migrate-incoming */
    bool listening;                 /* BQL */
    char *uri;                      /* BQL: what we listen on */
    GMutex error_mutex;
    Error *error;                   /* error_mutex */
    int64_t start_time;             /* atomic, ms */
    int64_t total_time;             /* atomic, ms */
    /*
     * The return path's writer (return-path.c): opened by the incoming
     * thread, written by it (PONG) and by the main thread (SHUT).
     */
    GMutex rp_mutex;
    QEMUFile *to_src_file;          /* rp_mutex */
    /* Block of the last REQ_PAGES_ID on to_src_file ("": none); rp_mutex */
    char rp_last_block[256];
    /*
     * Precopy: the incoming thread left inmigrate (and ran the guest,
     * unless -S) itself, without waiting for the main loop; BQL.
     */
    bool guest_started;
    bool start_failed;
} MigrationIncomingState;

MigrationState *migrate_get_current(void);
MigrationIncomingState *migration_incoming_get_current(void);

/*
 * Compare-and-swap @state from @old to @new; on success trace it and (with
 * the events capability) emit the MIGRATION event.  Any thread.
 */
bool migrate_set_state(int *state, int old, int new_state);

/* Record @err (consumed) as the migration's error if it is the first. */
void migrate_set_error(MigrationState *s, const Error *err);
/* Copy of the first error's message, or NULL (caller frees). */
char *migrate_get_error_desc(GMutex *lock, Error *const *err);

/* Main thread, BQL: start outgoing / incoming migrations. */
bool migrate_start_outgoing(const char *uri, Error **errp);
bool migrate_start_incoming(const char *uri, bool exit_on_error,
                            Error **errp);
bool migrate_cancel(Error **errp);
bool migrate_continue(int from_state, Error **errp);
/*
 * Postcopy recovery (main thread, BQL; docs/devel/migration/postcopy.md).
 * migrate_pause: break the link of a postcopy-active or postcopy-recover
 * migration on this side (source, else destination); both sides go
 * postcopy-paused.  migrate_resume: source, postcopy-paused: connect to
 * @uri and resume.  migrate_recover: destination, postcopy-paused:
 * listen on @uri for the source's new channel.
 */
bool migrate_pause(Error **errp);
bool migrate_resume(const char *uri, Error **errp);
bool migrate_recover(const char *uri, Error **errp);
/* migrate_pause's destination half (incoming.c). */
bool migration_incoming_pause(Error **errp);
/* migrate-start-postcopy: the migration thread switches when it sees it. */
bool migrate_start_postcopy(Error **errp);

/* The incoming side's set-up and exit (migration/incoming.c). */
void migration_incoming_init(void);
void migration_incoming_shutdown(void);

/* Milliseconds on the monotonic clock. */
static inline int64_t migration_clock_ms(void)
{
    return get_clock_ns() / 1000000;
}

#endif
