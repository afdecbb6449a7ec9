/*
 * CPU throttling for auto-converge: the throttle thread and the trigger
 * (which also starts the dirty-limit capability's limits, see
 * system/dirtylimit.c).
 *
 * The throttle thread ("mig/throttle") runs only while a throttle is set.
 * Each period it hands every vCPU a sleep request of
 * TIMESLICE × P / (100 - P) and kicks it; the vCPU thread sleeps that long
 * outside KVM_RUN, without the BQL (system/cpus.c), then runs until the
 * next request.  The period is TIMESLICE × 100 / (100 - P), so each vCPU
 * runs about one timeslice per period and sleeps for P percent of it.
 *
 * Locking: throttle_lock protects throttle_thread_running, throttle_quit
 * and the thread handle; throttle_pct is atomic so query-migrate and the
 * thread read it without the lock.  The trigger state (mig_throttle_*) is
 * owned by the migration thread.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/thread.h"
#include "hw/core/cpu.h"
#include "system/cpus.h"
#include "system/dirtylimit.h"
#include "migration-stats.h"
#include "migration.h"
#include "options.h"
#include "cpu-throttle.h"
#include "trace.h"

static GMutex throttle_lock;
static GCond throttle_cond;                 /* wakes the thread: quit */
static bool throttle_thread_running;        /* throttle_lock */
static bool throttle_quit;                  /* throttle_lock */
static QemuThread throttle_thread;          /* throttle_lock */
static int throttle_pct;                    /* atomic; 0 = off */

static void *cpu_throttle_thread(void *opaque)
{
    g_mutex_lock(&throttle_lock);
    while (!throttle_quit) {
        int pct = __atomic_load_n(&throttle_pct, __ATOMIC_RELAXED);
        uint64_t slice_ns = CPU_THROTTLE_TIMESLICE_MS * 1000000ULL;
        uint64_t sleep_ns = slice_ns * pct / (100 - pct);
        gint64 deadline;
        CPUState *cpu;

        /* cpu_list is read-only once the machine exists. */
        CPU_FOREACH(cpu) {
            cpu_throttle_sleep_request(cpu, sleep_ns);
        }
        trace_cpu_throttle_tick(pct, sleep_ns);
        deadline = g_get_monotonic_time() +
                   (slice_ns + sleep_ns) / 1000;
        while (!throttle_quit &&
               g_cond_wait_until(&throttle_cond, &throttle_lock, deadline)) {
            /* woken early: re-check quit, keep the period otherwise */
        }
    }
    g_mutex_unlock(&throttle_lock);
    return NULL;
}

void cpu_throttle_set(int pct)
{
    pct = MAX(CPU_THROTTLE_PCT_MIN, MIN(pct, CPU_THROTTLE_PCT_MAX));
    __atomic_store_n(&throttle_pct, pct, __ATOMIC_RELAXED);
    trace_cpu_throttle_set(pct);
    g_mutex_lock(&throttle_lock);
    if (!throttle_thread_running) {
        throttle_quit = false;
        throttle_thread_running = true;
        qemu_thread_create(&throttle_thread, "mig/throttle",
                           cpu_throttle_thread, NULL, QEMU_THREAD_JOINABLE);
    }
    g_mutex_unlock(&throttle_lock);
}

void cpu_throttle_stop(void)
{
    CPUState *cpu;
    bool join;

    g_mutex_lock(&throttle_lock);
    join = throttle_thread_running;
    throttle_quit = true;
    throttle_thread_running = false;
    g_cond_signal(&throttle_cond);
    g_mutex_unlock(&throttle_lock);
    if (join) {
        qemu_thread_join(&throttle_thread);
        trace_cpu_throttle_stop();
        /* A request not yet taken would cost one more sleep: drop it. */
        CPU_FOREACH(cpu) {
            cpu_throttle_sleep_request(cpu, 0);
        }
    }
    __atomic_store_n(&throttle_pct, 0, __ATOMIC_RELAXED);
}

bool cpu_throttle_active(void)
{
    return cpu_throttle_get_percentage() > 0;
}

int cpu_throttle_get_percentage(void)
{
    return __atomic_load_n(&throttle_pct, __ATOMIC_RELAXED);
}

/* ---- the auto-converge trigger (migration thread) ---- */

#define MIG_THROTTLE_PERIOD_MS 1000

static int64_t period_start_ms;
static uint64_t period_xfer_start;
static uint64_t period_dirty_bytes;
static unsigned dirty_rate_high_cnt;

void mig_throttle_reset(void)
{
    period_start_ms = migration_clock_ms();
    period_xfer_start = stat64_get(&mig_stats.transferred);
    period_dirty_bytes = 0;
    dirty_rate_high_cnt = 0;
}

/* Start throttling, or throttle harder. */
static void mig_throttle_guest_down(uint64_t dirty, uint64_t threshold)
{
    int now = cpu_throttle_get_percentage();
    int inc = migrate_cpu_throttle_increment();

    if (!cpu_throttle_active()) {
        cpu_throttle_set(migrate_cpu_throttle_initial());
        return;
    }
    if (migrate_cpu_throttle_tailslow()) {
        /*
         * The guest now gets (100 - now)% of the CPU; scaled by how far
         * the dirty rate is above the threshold, that is the share that
         * should just match it.  Step no further than that.
         */
        double run_now = 100 - now;
        double run_ideal = run_now * ((double)threshold / dirty);

        inc = MIN(inc, (int)(run_now - run_ideal));
    }
    cpu_throttle_set(MIN(now + inc, migrate_max_cpu_throttle()));
}

void mig_throttle_sync_done(uint64_t dirty_bytes)
{
    int64_t now = migration_clock_ms();
    uint64_t xfer, threshold;

    period_dirty_bytes += dirty_bytes;
    if (now - period_start_ms < MIG_THROTTLE_PERIOD_MS) {
        return;
    }
    xfer = stat64_get(&mig_stats.transferred) - period_xfer_start;
    threshold = xfer * migrate_throttle_trigger_threshold() / 100;
    trace_mig_throttle_check(period_dirty_bytes, xfer, threshold,
                             dirty_rate_high_cnt);
    if (period_dirty_bytes > threshold && ++dirty_rate_high_cnt >= 2) {
        dirty_rate_high_cnt = 0;
        if (migrate_auto_converge()) {
            mig_throttle_guest_down(period_dirty_bytes, threshold);
        } else if (migrate_dirty_limit()) {
            /* QEMU's rule: the same trigger, then every vCPU is limited. */
            trace_mig_throttle_dirty_limit(migrate_vcpu_dirty_limit());
            dirtylimit_migration_apply(migrate_vcpu_dirty_limit());
        }
    }
    period_start_ms = now;
    period_xfer_start = stat64_get(&mig_stats.transferred);
    period_dirty_bytes = 0;
}

void mig_throttle_stop(void)
{
    cpu_throttle_stop();
    dirtylimit_migration_cancel();
}
