/*
 * Per-vCPU dirty page rate limit (QEMU's "dirty limit").
 *
 * set-vcpu-dirty-limit gives one vCPU, or every vCPU, a quota in MB/s
 * (MiB, as QEMU); the migration capability dirty-limit gives every vCPU
 * vcpu-dirty-limit once the auto-converge trigger fires.  A limited vCPU
 * is slowed down by making it sleep outside KVM_RUN for a share of the
 * wall time (cpu_throttle_sleep_request, system/cpus.c), the same
 * mechanism auto-converge uses, but with a share of its own per vCPU.
 *
 * It needs a dirty page count per vCPU, which only KVM's dirty ring keeps
 * (-accel kvm,dirty-ring-size=N): set-vcpu-dirty-limit and the dirty-limit
 * capability are refused, and cancel does nothing, unless
 * dirty_log_per_vcpu() says the accelerator counts per vCPU, so the
 * limiter only ever starts with KVM's ring (dirtylimit_start asserts it).
 * The counts come through the accelerator-neutral dirty log
 * (dirty_log_vcpu_reap/pages, include/system/dirty-log.h).  Keeping the
 * rings filling while no migration owns the log (see below) is a matter
 * of how KVM's ring works, not of dirty tracking, so those stay KVM calls
 * (kvm_dirty_ring_logging_get...), all behind that check, and no-ops
 * without KVM's ring.  Routing them through DirtyLogOps would add four
 * KVM-shaped hooks with a single implementation.
 *
 * The limiter thread ("dirtylimit") runs while at least one vCPU is
 * limited.  Every DIRTYLIMIT_TICK_MS it
 *  - harvests the KVM dirty rings (dirty_log_vcpu_reap): often enough
 *    that a ring never fills between harvests, which matters on hosts
 *    that overwrite entries past a full ring (see kvm-dirty-ring.c);
 *  - asks each limited vCPU to sleep (1 - run_share) of the tick, so it
 *    runs run_share of the wall time.
 * Every period (x-vcpu-dirty-limit-period ms) it computes each vCPU's
 * dirty rate from the entries harvested from its ring over the period
 * (dirty_log_vcpu_pages: pages written, each counted once per
 * harvest) and corrects the vCPU's run share.
 *
 * The controller is a multiplicative proportional controller on the run
 * share: a vCPU that dirties memory as fast as it runs has a rate
 * proportional to its run share, so the share that meets the quota is
 * run_share * quota / current.  That is applied in one step (growth at
 * most doubled per period, the share kept in [DIRTYLIMIT_RUN_MIN, 1]);
 * a rate within DIRTYLIMIT_TOLERANCE of the quota leaves the share alone,
 * and a vCPU that dirtied nothing gets its share doubled.  QEMU instead
 * adds or removes sleep per ring-full round in fixed or linear steps;
 * the outcome (the rate converges to the quota) is the same.
 *
 * The slots must log for the rings to fill: the limiter pins logging
 * (kvm_dirty_ring_logging_get) whether or not a migration holds the log.
 * A ring that lost entries while no one owned the log is re-armed from
 * the main loop (kvm_dirty_ring_rearm); a migration re-arms on its own.
 *
 * Locks: the BQL serialises every change of service (set, cancel, the
 * migration's apply and cancel), so starting and joining the thread
 * happen under it; the thread never takes the BQL.  dl_lock protects the
 * per-vCPU state the thread shares with the QMP handlers.  Order: BQL,
 * then dl_lock, then the ring's lock (dirty_log_vcpu_reap).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "qemu/thread.h"
#include "hw/core/cpu.h"
#include "system/cpus.h"
#include "system/dirty-log.h"
#include "system/kvm.h"
#include "system/ramblock.h"
#include "system/dirtylimit.h"
#include "migration/misc.h"
#include "migration/options.h"
#include "trace.h"

#define DIRTYLIMIT_TICK_MS          10
#define DIRTYLIMIT_RUN_MIN          0.01    /* sleep at most 99% */
#define DIRTYLIMIT_TOLERANCE_PCT    5
#define DIRTYLIMIT_TOLERANCE_MB     1

typedef struct DirtyLimitVcpu {
    bool enabled;
    uint64_t quota;         /* MB/s; 0 when not limited */
    int64_t current;        /* MB/s over the last period */
    double run_share;       /* of the wall time the vCPU may run, (0, 1] */
    uint64_t pages_start;   /* its ring count when the period began */
} DirtyLimitVcpu;

static GMutex dl_lock;
static GCond dl_cond;                   /* wakes the thread: quit */
/* dl_lock (contents); allocated and freed with the BQL and dl_lock held */
static DirtyLimitVcpu *dl_vcpus;
static guint dl_nvcpus;                 /* as dl_vcpus */
static guint dl_nlimited;               /* dl_lock */
static bool dl_quit;                    /* dl_lock */
static QemuThread dl_thread;            /* BQL */
static bool dl_running;                 /* BQL (write), atomic (read) */
static bool dl_by_migration;            /* BQL: the limits are migration's */
static uint64_t dl_migration_quota;     /* BQL */
static bool dl_rearm_pending;           /* atomic */
static uint64_t dl_ring_full_us;        /* atomic */
static uint64_t dl_throttle_us;         /* atomic */
/* dl_lock: the highest rate of a limited vCPU since the limiter started */
static uint64_t dl_max_rate;

bool dirtylimit_in_service(void)
{
    return __atomic_load_n(&dl_running, __ATOMIC_SEQ_CST);
}

uint64_t dirtylimit_ring_full_time_us(void)
{
    return __atomic_load_n(&dl_ring_full_us, __ATOMIC_RELAXED);
}

uint64_t dirtylimit_throttle_time_us(void)
{
    return __atomic_load_n(&dl_throttle_us, __ATOMIC_RELAXED);
}

/* ---- the thread ---- */

/* Main loop, via main_loop_schedule: a ring lost entries, re-arm. */
static void dirtylimit_rearm_bh(void *opaque)
{
    bool took_bql = !bql_locked();

    if (took_bql) {
        bql_lock();
    }
    __atomic_store_n(&dl_rearm_pending, false, __ATOMIC_SEQ_CST);
    if (dirtylimit_in_service()) {
        kvm_dirty_ring_rearm();
    }
    if (took_bql) {
        bql_unlock();
    }
}

static void dirtylimit_harvest(void)
{
    dirty_log_vcpu_reap();
    if (kvm_dirty_ring_take_overflow_unowned() &&
        !__atomic_exchange_n(&dl_rearm_pending, true, __ATOMIC_SEQ_CST)) {
        main_loop_schedule(dirtylimit_rearm_bh, NULL);
    }
}

/* dl_lock held: correct @v's run share from its last rate. */
static void dirtylimit_control(int index, DirtyLimitVcpu *v)
{
    uint64_t quota = v->quota;
    uint64_t current = v->current;
    uint64_t tolerance = MAX(DIRTYLIMIT_TOLERANCE_MB,
                             quota * DIRTYLIMIT_TOLERANCE_PCT / 100);
    double run = v->run_share;
    double next;

    if (current == 0) {
        next = run * 2;
    } else if (current + tolerance >= quota && current <= quota + tolerance) {
        return;
    } else {
        next = run * quota / current;
    }
    next = MIN(next, run * 2);
    next = MAX(DIRTYLIMIT_RUN_MIN, MIN(next, 1.0));
    v->run_share = next;
    trace_dirtylimit_adjust(index, quota, current, (int)(run * 1000),
                            (int)(next * 1000));
}

/*
 * dl_lock held: the period is over: each vCPU's rate over @elapsed_us,
 * then the controller and the figures for query-migrate.
 */
static void dirtylimit_period_end(int64_t elapsed_us)
{
    uint64_t ring_bytes = (uint64_t)kvm_dirty_ring_size() << TARGET_PAGE_BITS;
    double max_sleep_ratio = 0;
    uint64_t full_us = 0;

    for (guint i = 0; i < dl_nvcpus; i++) {
        DirtyLimitVcpu *v = &dl_vcpus[i];
        uint64_t pages = dirty_log_vcpu_pages(qemu_get_cpu(i));
        uint64_t bytes = (pages - v->pages_start) << TARGET_PAGE_BITS;

        v->pages_start = pages;
        v->current = (int64_t)((double)bytes * G_USEC_PER_SEC / elapsed_us /
                               (1 << 20));
        if (!v->enabled) {
            continue;
        }
        dirtylimit_control(i, v);
        dl_max_rate = MAX(dl_max_rate, (uint64_t)v->current);
        max_sleep_ratio = MAX(max_sleep_ratio,
                              (1 - v->run_share) / v->run_share);
    }
    /*
     * As QEMU: the ring-full time at the highest rate seen (the vCPU
     * unthrottled), so the figure reads as "per round of a full ring".
     */
    if (dl_max_rate) {
        full_us = ring_bytes * G_USEC_PER_SEC / (dl_max_rate << 20);
    }
    __atomic_store_n(&dl_ring_full_us, full_us, __ATOMIC_RELAXED);
    __atomic_store_n(&dl_throttle_us, (uint64_t)(full_us * max_sleep_ratio),
                     __ATOMIC_RELAXED);
}

/* dl_lock held: this tick's sleep for every throttled vCPU. */
static void dirtylimit_request_sleeps(void)
{
    for (guint i = 0; i < dl_nvcpus; i++) {
        DirtyLimitVcpu *v = &dl_vcpus[i];

        if (v->enabled && v->run_share < 1.0) {
            cpu_throttle_sleep_request(qemu_get_cpu(i),
                (uint64_t)(DIRTYLIMIT_TICK_MS * 1000000ULL *
                           (1 - v->run_share)));
        }
    }
}

static void *dirtylimit_thread(void *opaque)
{
    gint64 period_start = g_get_monotonic_time();

    g_mutex_lock(&dl_lock);
    while (!dl_quit) {
        gint64 period_us = MAX(DIRTYLIMIT_TICK_MS,
                               migrate_vcpu_dirty_limit_period()) * 1000;
        gint64 now, deadline;

        g_mutex_unlock(&dl_lock);
        dirtylimit_harvest();
        g_mutex_lock(&dl_lock);
        now = g_get_monotonic_time();
        if (now - period_start >= period_us) {
            dirtylimit_period_end(now - period_start);
            period_start = now;
        }
        dirtylimit_request_sleeps();
        deadline = now + DIRTYLIMIT_TICK_MS * 1000;
        while (!dl_quit &&
               g_cond_wait_until(&dl_cond, &dl_lock, deadline)) {
            /* woken early: re-check quit, keep the tick otherwise */
        }
    }
    g_mutex_unlock(&dl_lock);
    return NULL;
}

/* ---- service (BQL held) ---- */

static void dirtylimit_start(void)
{
    guint n = cpu_list->len;

    assert(bql_locked() && !dl_running && dirty_log_per_vcpu());
    kvm_dirty_ring_logging_get();
    /* Entries from before are not this limiter's business. */
    dirty_log_vcpu_reap();
    g_mutex_lock(&dl_lock);
    dl_vcpus = g_new0(DirtyLimitVcpu, n);
    dl_nvcpus = n;
    for (guint i = 0; i < n; i++) {
        dl_vcpus[i].run_share = 1.0;
        dl_vcpus[i].pages_start = dirty_log_vcpu_pages(qemu_get_cpu(i));
    }
    dl_nlimited = 0;
    dl_max_rate = 0;
    dl_quit = false;
    g_mutex_unlock(&dl_lock);
    qemu_thread_create(&dl_thread, "dirtylimit", dirtylimit_thread, NULL,
                       QEMU_THREAD_JOINABLE);
    __atomic_store_n(&dl_running, true, __ATOMIC_SEQ_CST);
    trace_dirtylimit_start(n);
}

static void dirtylimit_stop(void)
{
    CPUState *cpu;

    assert(bql_locked() && dl_running);
    g_mutex_lock(&dl_lock);
    dl_quit = true;
    g_cond_signal(&dl_cond);
    g_mutex_unlock(&dl_lock);
    /* The thread never takes the BQL: joining under it is safe. */
    qemu_thread_join(&dl_thread);
    CPU_FOREACH(cpu) {
        cpu_throttle_sleep_request(cpu, 0);
    }
    g_mutex_lock(&dl_lock);
    g_free(dl_vcpus);
    dl_vcpus = NULL;
    dl_nvcpus = 0;
    dl_nlimited = 0;
    g_mutex_unlock(&dl_lock);
    __atomic_store_n(&dl_running, false, __ATOMIC_SEQ_CST);
    __atomic_store_n(&dl_ring_full_us, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&dl_throttle_us, 0, __ATOMIC_RELAXED);
    dl_by_migration = false;
    kvm_dirty_ring_logging_put();
    trace_dirtylimit_stop();
}

/* dl_lock held: limit vCPU @index to @quota MB/s, or lift it (0). */
static void dirtylimit_set_vcpu(int index, uint64_t quota)
{
    DirtyLimitVcpu *v = &dl_vcpus[index];

    trace_dirtylimit_set_vcpu(index, quota);
    if (quota && !v->enabled) {
        dl_nlimited++;
        v->run_share = 1.0;
    } else if (!quota && v->enabled) {
        dl_nlimited--;
        v->run_share = 1.0;
        cpu_throttle_sleep_request(qemu_get_cpu(index), 0);
    }
    v->enabled = quota != 0;
    v->quota = quota;
}

/* BQL held: set (@quota > 0) or lift one vCPU's limit (@index >= 0) or all. */
static void dirtylimit_change(int index, uint64_t quota)
{
    guint left;

    if (!dl_running) {
        if (!quota) {
            return;
        }
        dirtylimit_start();
    }
    g_mutex_lock(&dl_lock);
    for (guint i = 0; i < dl_nvcpus; i++) {
        if (index < 0 || (guint)index == i) {
            dirtylimit_set_vcpu(i, quota);
        }
    }
    left = dl_nlimited;
    g_mutex_unlock(&dl_lock);
    if (!left) {
        dirtylimit_stop();
    }
}

/* ---- migration ---- */

void dirtylimit_migration_apply(uint64_t quota_mb)
{
    bool took_bql = !bql_locked();

    if (took_bql) {
        bql_lock();
    }
    if (!dl_by_migration || dl_migration_quota != quota_mb) {
        trace_dirtylimit_migration(quota_mb);
        dirtylimit_change(-1, quota_mb);
        dl_by_migration = true;
        dl_migration_quota = quota_mb;
    }
    if (took_bql) {
        bql_unlock();
    }
}

void dirtylimit_migration_cancel(void)
{
    bool took_bql = !bql_locked();

    if (took_bql) {
        bql_lock();
    }
    if (dl_by_migration) {
        trace_dirtylimit_migration(0);
        dirtylimit_change(-1, 0);
        dl_by_migration = false;
    }
    if (took_bql) {
        bql_unlock();
    }
}

/* ---- QMP ---- */

/*
 * QEMU's rule: while a dirty-limit migration has the limits in place,
 * they are the migration's.
 */
static bool dirtylimit_check_allowed(const char *what, Error **errp)
{
    if (migration_is_running() && migrate_dirty_limit() && dl_running) {
        error_setg(errp, "can't %s dirty page rate limit while migration is "
                   "running", what);
        return false;
    }
    return true;
}

/* The optional cpu-index: -1 for every vCPU; false if out of range. */
static bool dirtylimit_cpu_index(JsonObject *args, int *index, Error **errp)
{
    int64_t i = qmp_arg_int(args, "cpu-index", -1);

    *index = -1;
    if (!qmp_arg_has(args, "cpu-index")) {
        return true;
    }
    if (i < 0 || i >= (int64_t)cpu_list->len) {
        error_setg(errp, "incorrect cpu index specified");
        return false;
    }
    *index = i;
    return true;
}

void qmp_cancel_vcpu_dirty_limit(JsonObject *args, JsonNode **ret,
                                 Error **errp)
{
    int index;

    /*
     * As QEMU: without per-vCPU counting no limit can be in place, so
     * there is nothing to cancel, and that is no error.
     */
    if (!dirty_log_per_vcpu()) {
        return;
    }
    if (!dirtylimit_cpu_index(args, &index, errp) ||
        !dirtylimit_check_allowed("cancel", errp)) {
        return;
    }
    dirtylimit_change(index, 0);
}

void qmp_set_vcpu_dirty_limit(JsonObject *args, JsonNode **ret, Error **errp)
{
    int64_t rate = qmp_arg_int(args, "dirty-rate", 0);
    int index;

    if (!dirty_log_per_vcpu()) {
        /* QEMU's words, then what is running instead. */
        error_setg(errp, "dirty page limit feature requires KVM with "
                   "accelerator property 'dirty-ring-size' set; the running "
                   "accelerator is %s", dirty_log_accel_name());
        return;
    }
    if (!dirtylimit_cpu_index(args, &index, errp) ||
        !dirtylimit_check_allowed("set", errp)) {
        return;
    }
    if (rate < 0) {
        error_setg(errp, "Parameter 'dirty-rate' expects uint64");
        return;
    }
    /* A rate of 0 lifts the limit, as QEMU. */
    dirtylimit_change(index, rate);
}

/*
 * As QEMU, also without per-vCPU counting: nothing can be limited then,
 * so the list is empty, which is the truth and no error.
 */
void qmp_query_vcpu_dirty_limit(JsonObject *args, JsonNode **ret,
                                Error **errp)
{
    JsonArray *list = json_array_new();

    g_mutex_lock(&dl_lock);
    for (guint i = 0; dl_vcpus && i < dl_nvcpus; i++) {
        JsonObject *o;

        if (!dl_vcpus[i].enabled) {
            continue;
        }
        o = json_object_new();
        json_object_set_int_member(o, "cpu-index", i);
        json_object_set_int_member(o, "limit-rate", dl_vcpus[i].quota);
        json_object_set_int_member(o, "current-rate", dl_vcpus[i].current);
        json_array_add_object_element(list, o);
    }
    g_mutex_unlock(&dl_lock);
    *ret = qmp_node_array(list);
}
