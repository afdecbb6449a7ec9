/*
 * Dirty page rate measurement: QMP calc-dirty-rate / query-dirty-rate.
 *
 * calc-dirty-rate starts one measurement thread ("mig/dirtyrate") and
 * returns; query-dirty-rate reports its state (unstarted, measuring,
 * measured) and, once measured, the rate in MB/s (MiB, as QEMU).
 *
 * Modes (QEMU's names):
 *  - page-sampling: hash sample-pages pages per GiB of each RAMBlock,
 *    picked at random, wait calc-time, hash them again; the share that
 *    changed, scaled to the block, is the estimate.  It costs nothing
 *    while the guest runs, and cannot see a page rewritten with the same
 *    contents.
 *  - dirty-bitmap: the dirty log, the same one migration uses
 *    (dirty_log_start/sync/stop, system/dirty-log.c), with any
 *    accelerator: exact, counts each page written in the window once, and
 *    costs the guest a write fault per page under KVM.  The log has one
 *    owner: refused while a migration runs, and migration is refused
 *    while it measures (dirtyrate_dirty_log_in_use).
 *  - dirty-ring (only where the accelerator counts per vCPU,
 *    dirty_log_per_vcpu(): KVM with -accel kvm,dirty-ring-size=N): the
 *    same log read through the per-vCPU rings; each vCPU's harvested
 *    entries over the window give its own rate (reported as
 *    vcpu-dirty-rate), their sum the total.  A page counts once per
 *    vCPU that wrote it and once more each time a harvest re-armed it (a
 *    ring that filled up), as in QEMU.  It shares the log's single-owner
 *    rule with dirty-bitmap.
 *
 * Either way the result counts distinct pages: a guest that rewrites a
 * working set of W MiB faster than once per calc-time shows W / calc-time.
 *
 * Threads and locks: the QMP handlers run in the main thread with the
 * BQL; the thread reads guest RAM without any lock (a racy read only
 * changes a hash).  dirtyrate_lock protects the result fields below;
 * dirtyrate_status is atomic so a new request can be refused without it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <zlib.h>
#include "qapi/error.h"
#include "qemu/bitmap.h"
#include "qemu/thread.h"
#include "hw/core/cpu.h"
#include "system/dirty-log.h"
#include "system/ramblock.h"
#include "migration/dirtyrate.h"
#include "migration/misc.h"
#include "migration.h"
#include "trace.h"

#define DIRTYRATE_DEFAULT_SAMPLE_PAGES  512     /* per GiB, as QEMU */
#define DIRTYRATE_MIN_SAMPLE_PAGES      128
#define DIRTYRATE_MAX_SAMPLE_PAGES      4096
#define DIRTYRATE_MIN_CALC_MS           50
#define DIRTYRATE_MAX_CALC_MS           60000

typedef enum DirtyRateStatus {
    DIRTY_RATE_STATUS_UNSTARTED,
    DIRTY_RATE_STATUS_MEASURING,
    DIRTY_RATE_STATUS_MEASURED,
} DirtyRateStatus;

typedef enum DirtyRateMode {
    DIRTY_RATE_MODE_PAGE_SAMPLING,
    DIRTY_RATE_MODE_DIRTY_BITMAP,
    DIRTY_RATE_MODE_DIRTY_RING,
} DirtyRateMode;

static const char *const status_names[] = {
    "unstarted", "measuring", "measured", NULL
};
static const char *const mode_names[] = {
    "page-sampling", "dirty-bitmap", "dirty-ring", NULL
};
static const char *const unit_names[] = { "second", "millisecond", NULL };

/* One request, as given to calc-dirty-rate. */
typedef struct DirtyRateConfig {
    DirtyRateMode mode;
    int64_t calc_time;          /* in calc_unit */
    int calc_unit;              /* index in unit_names */
    int64_t calc_ms;
    int64_t sample_pages;       /* per GiB */
} DirtyRateConfig;

static int dirtyrate_status;            /* atomic: DirtyRateStatus */
static bool dirtyrate_log_in_use;       /* BQL (set), atomic (cleared) */
static GMutex dirtyrate_lock;
static DirtyRateConfig dirtyrate_config;        /* dirtyrate_lock */
static int64_t dirtyrate_start_time;            /* dirtyrate_lock: s */
static int64_t dirtyrate_result_mb;             /* dirtyrate_lock */
/* dirtyrate_lock: dirty-ring mode's MB/s per vCPU (by index), or NULL */
static GArray *dirtyrate_vcpu_mb;

bool dirtyrate_dirty_log_in_use(void)
{
    return __atomic_load_n(&dirtyrate_log_in_use, __ATOMIC_SEQ_CST);
}

static int name_lookup(const char *const *names, const char *s)
{
    for (int i = 0; names[i]; i++) {
        if (!strcmp(names[i], s)) {
            return i;
        }
    }
    return -1;
}

/* ---- page-sampling ---- */

typedef struct DirtyRateSample {
    RAMBlock *rb;
    uint64_t offset;
    uLong crc;
} DirtyRateSample;

static uLong dirtyrate_hash_page(const DirtyRateSample *s)
{
    return crc32(0, s->rb->host + s->offset, TARGET_PAGE_SIZE);
}

/* Pick and hash the samples of every block (each block's share). */
static GArray *dirtyrate_sample(int64_t per_gib, uint64_t *sampled_bytes)
{
    GPtrArray *blocks = ram_block_list();
    GArray *samples = g_array_new(FALSE, FALSE, sizeof(DirtyRateSample));

    *sampled_bytes = 0;
    for (guint i = 0; i < blocks->len; i++) {
        RAMBlock *rb = g_ptr_array_index(blocks, i);
        uint64_t pages = rb->used_length >> TARGET_PAGE_BITS;
        uint64_t n = MAX(1, (rb->used_length * per_gib) >> 30);

        if (!pages) {
            continue;
        }
        n = MIN(n, pages);
        for (uint64_t k = 0; k < n; k++) {
            DirtyRateSample s = {
                .rb = rb,
                .offset = ((uint64_t)g_random_int() * 65536 +
                           g_random_int_range(0, 65536)) % pages *
                          TARGET_PAGE_SIZE,
            };

            s.crc = dirtyrate_hash_page(&s);
            g_array_append_val(samples, s);
        }
        *sampled_bytes += rb->used_length;
    }
    return samples;
}

/*
 * Dirty bytes estimated from the samples that changed.  Each block's
 * samples stand for the whole block; blocks have samples in proportion to
 * their size, so the overall share of changed samples scales to the total.
 */
static uint64_t dirtyrate_sample_compare(GArray *samples,
                                         uint64_t sampled_bytes)
{
    uint64_t changed = 0;

    for (guint i = 0; i < samples->len; i++) {
        DirtyRateSample *s = &g_array_index(samples, DirtyRateSample, i);

        if (dirtyrate_hash_page(s) != s->crc) {
            changed++;
        }
    }
    if (!samples->len) {
        return 0;
    }
    return (uint64_t)((double)changed / samples->len * sampled_bytes);
}

/* ---- dirty-bitmap ---- */

/* Bitmaps for every block; the sync into them drops earlier writes. */
static unsigned long **dirtyrate_log_bitmaps(GPtrArray *blocks)
{
    unsigned long **maps = g_new0(unsigned long *, blocks->len);

    for (guint i = 0; i < blocks->len; i++) {
        RAMBlock *rb = g_ptr_array_index(blocks, i);

        maps[i] = bitmap_new(rb->used_length >> TARGET_PAGE_BITS);
        dirty_log_sync(rb, maps[i]);
    }
    return maps;
}

static uint64_t dirtyrate_log_count(GPtrArray *blocks, unsigned long **maps)
{
    uint64_t dirty = 0;

    for (guint i = 0; i < blocks->len; i++) {
        RAMBlock *rb = g_ptr_array_index(blocks, i);
        uint64_t pages = rb->used_length >> TARGET_PAGE_BITS;

        bitmap_zero(maps[i], pages);
        dirty += dirty_log_sync(rb, maps[i]);
        g_free(maps[i]);
    }
    g_free(maps);
    return dirty * TARGET_PAGE_SIZE;
}

/* ---- dirty-ring ---- */

/* Every vCPU's harvested-entry count so far (harvesting first). */
static GArray *dirtyrate_ring_counts(void)
{
    GArray *counts = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    CPUState *cpu;

    dirty_log_vcpu_reap();
    /* cpu_list is read-only once the machine exists. */
    CPU_FOREACH(cpu) {
        uint64_t n = dirty_log_vcpu_pages(cpu);

        g_array_append_val(counts, n);
    }
    return counts;
}

/*
 * Turn the counts at the start (@before) into MB/s per vCPU over
 * @elapsed_ms, frees @before; returns the total dirty bytes.
 */
static uint64_t dirtyrate_ring_rates(GArray *before, int64_t elapsed_ms,
                                     GArray **rates)
{
    g_autoptr(GArray) after = dirtyrate_ring_counts();
    uint64_t total = 0;

    *rates = g_array_new(FALSE, FALSE, sizeof(int64_t));
    for (guint i = 0; i < after->len && i < before->len; i++) {
        uint64_t bytes = (g_array_index(after, uint64_t, i) -
                          g_array_index(before, uint64_t, i)) <<
                         TARGET_PAGE_BITS;
        int64_t mb = (int64_t)((bytes >> 20) * 1000 / elapsed_ms);

        g_array_append_val(*rates, mb);
        total += bytes;
    }
    g_array_free(before, TRUE);
    return total;
}

/* ---- the thread ---- */

static void *dirtyrate_thread(void *opaque)
{
    DirtyRateConfig cfg;
    GPtrArray *blocks = ram_block_list();
    unsigned long **maps = NULL;
    GArray *samples = NULL, *ring_start = NULL, *vcpu_mb = NULL;
    uint64_t sampled_bytes = 0, dirty;
    int64_t start, elapsed_ms;

    g_mutex_lock(&dirtyrate_lock);
    cfg = dirtyrate_config;
    g_mutex_unlock(&dirtyrate_lock);

    start = get_clock_ns();
    if (cfg.mode == DIRTY_RATE_MODE_DIRTY_BITMAP) {
        maps = dirtyrate_log_bitmaps(blocks);
    } else if (cfg.mode == DIRTY_RATE_MODE_DIRTY_RING) {
        ring_start = dirtyrate_ring_counts();
    } else {
        samples = dirtyrate_sample(cfg.sample_pages, &sampled_bytes);
    }
    /* The measurement window itself, not a synchronisation. */
    g_usleep(cfg.calc_ms * 1000);
    elapsed_ms = MAX(1, (get_clock_ns() - start) / 1000000);
    if (maps || ring_start) {
        dirty = maps ? dirtyrate_log_count(blocks, maps) :
                dirtyrate_ring_rates(ring_start, elapsed_ms, &vcpu_mb);
        dirty_log_stop();
        __atomic_store_n(&dirtyrate_log_in_use, false, __ATOMIC_SEQ_CST);
    } else {
        dirty = dirtyrate_sample_compare(samples, sampled_bytes);
        g_array_free(samples, TRUE);
    }

    g_mutex_lock(&dirtyrate_lock);
    dirtyrate_result_mb = (int64_t)((dirty >> 20) * 1000 / elapsed_ms);
    if (dirtyrate_vcpu_mb) {
        g_array_free(dirtyrate_vcpu_mb, TRUE);
    }
    dirtyrate_vcpu_mb = vcpu_mb;
    g_mutex_unlock(&dirtyrate_lock);
    trace_dirtyrate_done(mode_names[cfg.mode], dirty >> TARGET_PAGE_BITS,
                         dirtyrate_result_mb);
    __atomic_store_n(&dirtyrate_status, DIRTY_RATE_STATUS_MEASURED,
                     __ATOMIC_SEQ_CST);
    return NULL;
}

/* ---- QMP ---- */

static bool dirtyrate_parse(JsonObject *args, DirtyRateConfig *cfg,
                            Error **errp)
{
    const char *mode = qmp_arg_str(args, "mode", "page-sampling");
    const char *unit = qmp_arg_str(args, "calc-time-unit", "second");
    bool has_sample = qmp_arg_has(args, "sample-pages");

    cfg->mode = name_lookup(mode_names, mode);
    if ((int)cfg->mode < 0) {
        error_setg(errp, "Parameter 'mode' does not accept value '%s'", mode);
        return false;
    }
    cfg->calc_unit = name_lookup(unit_names, unit);
    if (cfg->calc_unit < 0) {
        error_setg(errp, "Parameter 'calc-time-unit' does not accept value "
                   "'%s'", unit);
        return false;
    }
    cfg->calc_time = qmp_arg_int(args, "calc-time", 0);
    cfg->calc_ms = cfg->calc_unit ? cfg->calc_time :
                   (cfg->calc_time > DIRTYRATE_MAX_CALC_MS ? -1 :
                    cfg->calc_time * 1000);
    if (cfg->calc_ms < DIRTYRATE_MIN_CALC_MS ||
        cfg->calc_ms > DIRTYRATE_MAX_CALC_MS) {
        error_setg(errp, "Calculation time is out of range [%dms, %dms].",
                   DIRTYRATE_MIN_CALC_MS, DIRTYRATE_MAX_CALC_MS);
        return false;
    }
    if (has_sample && cfg->mode != DIRTY_RATE_MODE_PAGE_SAMPLING) {
        error_setg(errp, "sample-pages is used only in page-sampling mode");
        return false;
    }
    cfg->sample_pages = qmp_arg_int(args, "sample-pages",
                                    DIRTYRATE_DEFAULT_SAMPLE_PAGES);
    if (cfg->sample_pages < DIRTYRATE_MIN_SAMPLE_PAGES ||
        cfg->sample_pages > DIRTYRATE_MAX_SAMPLE_PAGES) {
        error_setg(errp, "sample-pages is out of range[%d, %d].",
                   DIRTYRATE_MIN_SAMPLE_PAGES, DIRTYRATE_MAX_SAMPLE_PAGES);
        return false;
    }
    if (cfg->mode == DIRTY_RATE_MODE_DIRTY_RING && !dirty_log_per_vcpu()) {
        /* QEMU's words, then what it takes and what is running. */
        error_setg(errp, "mode dirty-ring is not enabled, use other method "
                   "instead: it requires KVM with the dirty ring "
                   "(-accel kvm,dirty-ring-size=N); the running accelerator "
                   "is %s", dirty_log_accel_name());
        return false;
    }
    return true;
}

/* dirty-bitmap, dirty-ring: take the dirty log, unless a migration has it. */
static bool dirtyrate_take_log(DirtyRateMode mode, Error **errp)
{
    MigrationState *s = migrate_get_current();

    if (migration_is_running() || s->thread_created) {
        error_setg(errp, "mode %s cannot measure while a migration runs: it "
                   "uses the same dirty log; use page-sampling",
                   mode_names[mode]);
        return false;
    }
    if (!dirty_log_start(errp)) {
        error_prepend(errp, "mode %s: ", mode_names[mode]);
        return false;
    }
    __atomic_store_n(&dirtyrate_log_in_use, true, __ATOMIC_SEQ_CST);
    return true;
}

void qmp_calc_dirty_rate(JsonObject *args, JsonNode **ret, Error **errp)
{
    DirtyRateConfig cfg;
    QemuThread thread;

    if (__atomic_load_n(&dirtyrate_status, __ATOMIC_SEQ_CST) ==
        DIRTY_RATE_STATUS_MEASURING) {
        error_setg(errp, "the dirty rate is already being measured.");
        return;
    }
    if (!dirtyrate_parse(args, &cfg, errp)) {
        return;
    }
    if (cfg.mode != DIRTY_RATE_MODE_PAGE_SAMPLING &&
        !dirtyrate_take_log(cfg.mode, errp)) {
        return;
    }
    g_mutex_lock(&dirtyrate_lock);
    dirtyrate_config = cfg;
    dirtyrate_start_time = g_get_real_time() / G_USEC_PER_SEC;
    dirtyrate_result_mb = -1;
    g_mutex_unlock(&dirtyrate_lock);
    __atomic_store_n(&dirtyrate_status, DIRTY_RATE_STATUS_MEASURING,
                     __ATOMIC_SEQ_CST);
    trace_dirtyrate_start(mode_names[cfg.mode], cfg.calc_ms,
                          cfg.sample_pages);
    /* Detached: it only sleeps and reads RAM, exit may cut it short. */
    qemu_thread_create(&thread, "mig/dirtyrate", dirtyrate_thread, NULL,
                       QEMU_THREAD_DETACHED);
}

/* QEMU's vcpu-dirty-rate: [{"id": N, "dirty-rate": MB/s}, ...] */
static JsonArray *dirtyrate_vcpu_json(GArray *vcpu_mb)
{
    JsonArray *a = json_array_new();

    for (guint i = 0; i < vcpu_mb->len; i++) {
        JsonObject *v = json_object_new();

        json_object_set_int_member(v, "id", i);
        json_object_set_int_member(v, "dirty-rate",
                                   g_array_index(vcpu_mb, int64_t, i));
        json_array_add_object_element(a, v);
    }
    return a;
}

void qmp_query_dirty_rate(JsonObject *args, JsonNode **ret, Error **errp)
{
    JsonObject *o = json_object_new();
    int status = __atomic_load_n(&dirtyrate_status, __ATOMIC_SEQ_CST);
    DirtyRateConfig cfg;
    JsonArray *vcpus = NULL;
    int64_t start, rate;

    g_mutex_lock(&dirtyrate_lock);
    cfg = dirtyrate_config;
    start = dirtyrate_start_time;
    rate = dirtyrate_result_mb;
    if (status == DIRTY_RATE_STATUS_MEASURED && dirtyrate_vcpu_mb) {
        vcpus = dirtyrate_vcpu_json(dirtyrate_vcpu_mb);
    }
    g_mutex_unlock(&dirtyrate_lock);
    if (status == DIRTY_RATE_STATUS_UNSTARTED) {
        cfg.sample_pages = DIRTYRATE_DEFAULT_SAMPLE_PAGES;
    }
    json_object_set_string_member(o, "status", status_names[status]);
    if (status == DIRTY_RATE_STATUS_MEASURED) {
        json_object_set_int_member(o, "dirty-rate", rate);
    }
    json_object_set_int_member(o, "start-time", start);
    json_object_set_int_member(o, "calc-time", cfg.calc_time);
    json_object_set_string_member(o, "calc-time-unit",
                                  unit_names[cfg.calc_unit]);
    json_object_set_int_member(o, "sample-pages",
                               cfg.mode == DIRTY_RATE_MODE_PAGE_SAMPLING ?
                               cfg.sample_pages : 0);
    json_object_set_string_member(o, "mode", mode_names[cfg.mode]);
    if (vcpus) {
        json_object_set_array_member(o, "vcpu-dirty-rate", vcpus);
    }
    *ret = qmp_node_object(o);
}
