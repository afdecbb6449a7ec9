/*
 * Postcopy blocktime and page-request latency (see postcopy-blocktime.h).
 *
 * Locking: PostcopyBlocktime is protected by bt.lock, except "active" and
 * "busy", which are atomic so that placing a page costs nothing when no
 * vCPU waits and no request is outstanding.  A fault is recorded and then
 * its page's received bit re-checked under the lock, and a placement sets
 * the bit before taking the lock: whichever comes second sees the other.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <linux/userfaultfd.h>
#include "qemu/bitmap.h"
#include "hw/core/cpu.h"
#include "options.h"
#include "postcopy-ram.h"
#include "postcopy-preempt.h"
#include "postcopy-blocktime.h"
#include "trace.h"

/* Latency samples kept for the percentiles (8 MiB at most). */
#define BLOCKTIME_MAX_SAMPLES   (1u << 20)

typedef struct BlocktimeVcpu {
    int tid;
    uint64_t page;              /* page it waits for; 0: not waiting */
    int64_t since_ns;
    uint64_t total_ns;
} BlocktimeVcpu;

typedef struct PostcopyBlocktime {
    GMutex lock;
    bool active;                /* atomic: accounting on (LISTEN..finish) */
    bool had;                   /* lock: numbers to report */
    int busy;                   /* atomic: waiting vCPUs + open requests */
    BlocktimeVcpu *vcpus;
    int nr_vcpus;
    int blocked;                /* vCPUs waiting now */
    int64_t all_since_ns;       /* when the last of them started waiting */
    uint64_t total_ns;          /* all vCPUs waiting */
    GHashTable *requests;       /* page -> request time (ns), as pointers */
    uint64_t *samples;          /* latencies, ns */
    size_t nr_samples;
    uint64_t lat_sum_ns;
    uint64_t lat_count;
} PostcopyBlocktime;

static PostcopyBlocktime bt;

static inline int64_t bt_now(void)
{
    return get_clock_ns();
}

uint64_t postcopy_blocktime_uffd_features(void)
{
    return migrate_capability(MIGRATION_CAPABILITY_POSTCOPY_BLOCKTIME) ?
           UFFD_FEATURE_THREAD_ID : 0;
}

void postcopy_blocktime_setup(void)
{
    CPUState *cpu;

    g_mutex_lock(&bt.lock);
    g_free(bt.vcpus);
    g_free(bt.samples);
    if (bt.requests) {
        g_hash_table_destroy(bt.requests);
    }
    memset((char *)&bt + offsetof(PostcopyBlocktime, active), 0,
           sizeof(bt) - offsetof(PostcopyBlocktime, active));
    if (migrate_capability(MIGRATION_CAPABILITY_POSTCOPY_BLOCKTIME)) {
        bt.nr_vcpus = cpu_list->len;
        bt.vcpus = g_new0(BlocktimeVcpu, bt.nr_vcpus);
        CPU_FOREACH(cpu) {
            bt.vcpus[cpu->cpu_index].tid =
                __atomic_load_n(&cpu->thread_id, __ATOMIC_ACQUIRE);
        }
        bt.requests = g_hash_table_new(g_direct_hash, g_direct_equal);
        bt.samples = g_new(uint64_t, BLOCKTIME_MAX_SAMPLES);
        bt.had = true;
        __atomic_store_n(&bt.active, true, __ATOMIC_RELEASE);
    }
    g_mutex_unlock(&bt.lock);
}

/* Lock held: vCPU @v stops waiting at @now. */
static void bt_unblock(BlocktimeVcpu *v, int64_t now)
{
    v->total_ns += now - v->since_ns;
    if (bt.blocked == bt.nr_vcpus) {
        bt.total_ns += now - bt.all_since_ns;
    }
    bt.blocked--;
    v->page = 0;
    __atomic_fetch_sub(&bt.busy, 1, __ATOMIC_RELAXED);
    trace_postcopy_blocktime_unblock(v - bt.vcpus, v->total_ns);
}

void postcopy_blocktime_fault(uint64_t page, uint32_t tid,
                              const unsigned long *received, uint64_t bit)
{
    BlocktimeVcpu *v = NULL;
    int64_t now;

    if (!__atomic_load_n(&bt.active, __ATOMIC_ACQUIRE)) {
        return;
    }
    g_mutex_lock(&bt.lock);
    for (int i = 0; i < bt.nr_vcpus; i++) {
        if (bt.vcpus[i].tid == (int)tid) {
            v = &bt.vcpus[i];
            break;
        }
    }
    if (!v || v->page == page) {
        /* Not a vCPU (a device model, the monitor), or a repeat. */
        g_mutex_unlock(&bt.lock);
        return;
    }
    now = bt_now();
    if (v->page) {
        bt_unblock(v, now);     /* it runs again, so that wait is over */
    }
    v->page = page;
    v->since_ns = now;
    __atomic_fetch_add(&bt.busy, 1, __ATOMIC_RELAXED);
    if (++bt.blocked == bt.nr_vcpus) {
        bt.all_since_ns = now;
    }
    trace_postcopy_blocktime_fault(v - bt.vcpus, page);
    if (test_bit_atomic(bit, received)) {
        bt_unblock(v, now);     /* placed before we got here */
    }
    g_mutex_unlock(&bt.lock);
}

void postcopy_blocktime_requested(uint64_t page)
{
    if (!__atomic_load_n(&bt.active, __ATOMIC_ACQUIRE)) {
        return;
    }
    g_mutex_lock(&bt.lock);
    if (g_hash_table_insert(bt.requests, (gpointer)(uintptr_t)page,
                            (gpointer)(uintptr_t)bt_now())) {
        __atomic_fetch_add(&bt.busy, 1, __ATOMIC_RELAXED);
    }
    g_mutex_unlock(&bt.lock);
}

/* Lock held: the request for @page (if any) is answered at @now. */
static void bt_request_done(uint64_t page, int64_t now)
{
    gpointer t;
    uint64_t lat;

    if (!g_hash_table_steal_extended(bt.requests, (gpointer)(uintptr_t)page,
                                     NULL, &t)) {
        return;
    }
    __atomic_fetch_sub(&bt.busy, 1, __ATOMIC_RELAXED);
    lat = now - (int64_t)(uintptr_t)t;
    bt.lat_sum_ns += lat;
    bt.lat_count++;
    if (bt.nr_samples < BLOCKTIME_MAX_SAMPLES) {
        bt.samples[bt.nr_samples++] = lat;
    }
}

void postcopy_blocktime_placed(uint64_t page)
{
    int64_t now;

    if (!__atomic_load_n(&bt.active, __ATOMIC_ACQUIRE) ||
        !__atomic_load_n(&bt.busy, __ATOMIC_RELAXED)) {
        return;
    }
    g_mutex_lock(&bt.lock);
    now = bt_now();
    bt_request_done(page, now);
    for (int i = 0; i < bt.nr_vcpus && bt.blocked; i++) {
        if (bt.vcpus[i].page == page) {
            bt_unblock(&bt.vcpus[i], now);
        }
    }
    g_mutex_unlock(&bt.lock);
}

void postcopy_blocktime_finish(void)
{
    int64_t now = bt_now();

    g_mutex_lock(&bt.lock);
    if (bt.active) {
        __atomic_store_n(&bt.active, false, __ATOMIC_RELEASE);
        for (int i = 0; i < bt.nr_vcpus; i++) {
            if (bt.vcpus[i].page) {
                bt_unblock(&bt.vcpus[i], now);
            }
        }
        g_hash_table_remove_all(bt.requests);
        __atomic_store_n(&bt.busy, 0, __ATOMIC_RELAXED);
    }
    g_mutex_unlock(&bt.lock);
}

static int bt_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Lock held: the @pct percentile of the samples (nearest rank). */
static uint64_t bt_percentile(const uint64_t *sorted, size_t n, int pct)
{
    size_t rank = (n * pct + 99) / 100;

    return n ? sorted[rank ? rank - 1 : 0] : 0;
}

void postcopy_blocktime_query(JsonObject *info)
{
    JsonArray *per_vcpu;
    g_autofree uint64_t *sorted = NULL;
    int64_t now = bt_now();
    uint64_t total;

    if (migrate_postcopy_ram()) {
        json_object_set_int_member(info, "x-postcopy-pages-requested",
                                   postcopy_incoming_pages_requested());
    }
    if (migrate_postcopy_preempt()) {
        json_object_set_int_member(info, "x-postcopy-preempt-pages",
                                   postcopy_preempt_pages_received());
    }
    g_mutex_lock(&bt.lock);
    if (!bt.had) {
        g_mutex_unlock(&bt.lock);
        return;
    }
    per_vcpu = json_array_new();
    total = bt.total_ns;
    if (bt.nr_vcpus && bt.blocked == bt.nr_vcpus) {
        total += now - bt.all_since_ns;     /* all waiting right now */
    }
    for (int i = 0; i < bt.nr_vcpus; i++) {
        uint64_t t = bt.vcpus[i].total_ns;

        if (bt.vcpus[i].page) {
            t += now - bt.vcpus[i].since_ns;
        }
        json_array_add_int_element(per_vcpu, t / 1000000);
    }
    json_object_set_int_member(info, "postcopy-blocktime", total / 1000000);
    json_object_set_array_member(info, "postcopy-vcpu-blocktime", per_vcpu);
    json_object_set_int_member(info, "postcopy-latency",
                               bt.lat_count ? bt.lat_sum_ns / bt.lat_count
                                            : 0);
    if (bt.nr_samples) {
        sorted = g_memdup2(bt.samples, bt.nr_samples * sizeof(uint64_t));
        qsort(sorted, bt.nr_samples, sizeof(uint64_t), bt_cmp_u64);
    }
    json_object_set_int_member(info, "x-postcopy-latency-p50",
                               bt_percentile(sorted, bt.nr_samples, 50));
    json_object_set_int_member(info, "x-postcopy-latency-p99",
                               bt_percentile(sorted, bt.nr_samples, 99));
    json_object_set_int_member(info, "x-postcopy-latency-count",
                               bt.lat_count);
    g_mutex_unlock(&bt.lock);
}
