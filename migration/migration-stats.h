/*
 * Migration counters (the "ram" object of query-migrate and friends).
 *
 * Every field is a 64-bit counter updated with relaxed atomics from the
 * migration, multifd and return-path threads and read by query-migrate
 * in the main thread: no lock, each value is individually consistent.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_MIGRATION_STATS_H
#define MIGRATION_MIGRATION_STATS_H

typedef struct MigrationAtomicStats {
    uint64_t dirty_bytes_last_sync; /* dirty bytes found by the last sync */
    uint64_t dirty_pages_rate;      /* pages dirtied per second, last period */
    uint64_t dirty_sync_count;      /* bitmap synchronisations */
    uint64_t dirty_sync_missed_zero_copy;
    uint64_t downtime_bytes;        /* sent with the VM stopped */
    uint64_t multifd_bytes;         /* sent on multifd channels */
    uint64_t normal_pages;          /* full pages sent */
    uint64_t postcopy_bytes;        /* sent in postcopy */
    uint64_t postcopy_requests;     /* page requests received */
    uint64_t precopy_bytes;         /* sent in precopy, VM running */
    uint64_t qemu_file_transferred; /* bytes written on the main channel */
    uint64_t rdma_bytes;
    uint64_t transferred;           /* all bytes, all channels */
    uint64_t zero_pages;            /* pages sent as ZERO records */
} MigrationAtomicStats;

extern MigrationAtomicStats mig_stats;

static inline void stat64_add(uint64_t *s, uint64_t v)
{
    __atomic_fetch_add(s, v, __ATOMIC_RELAXED);
}

static inline uint64_t stat64_get(const uint64_t *s)
{
    return __atomic_load_n(s, __ATOMIC_RELAXED);
}

static inline void stat64_set(uint64_t *s, uint64_t v)
{
    __atomic_store_n(s, v, __ATOMIC_RELAXED);
}

/* Zero every counter (at the start of each migration). */
void mig_stats_reset(void);
/*
 * A dirty bitmap sync finished: with the events capability, emit
 * MIGRATION_PASS (QEMU's event, "pass" = dirty-sync-count).  Any thread.
 */
void migration_pass_done(uint64_t pass);

#endif
