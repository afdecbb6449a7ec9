/*
 * The per-vCPU dirty limit (system/dirtylimit.c): set-vcpu-dirty-limit /
 * query-vcpu-dirty-limit / cancel-vcpu-dirty-limit with the rate guest
 * running, the migration capability dirty-limit making a migration that
 * cannot otherwise converge complete, the errors, and HMP's
 * calc_dirty_rate / info dirty_rate / *_vcpu_dirty_limit.
 *
 * All of it needs the KVM dirty ring (-accel kvm,dirty-ring-size=N): under
 * another accelerator every case skips with that reason, and meson runs
 * this program under tcg only where there is no KVM to run it under.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <glib.h>
#include <string.h>
#include <unistd.h>

#include "libqtest.h"
#include "migration-helpers.h"

#define RATE_WSET_MIB   32
#define LIMIT_MB        16      /* far below what the guest dirties */
#define LIMIT_PERIOD_MS 200     /* x-vcpu-dirty-limit-period */
/* The migration: the rate guest flat out cannot converge at this. */
#define MIG_BW_MIB      32
#define MIG_DOWNTIME    500
#define MIG_LIMIT_MB    8

static void expect_hmp(QTestState *s, const char *cmd, const char *what)
{
    g_autofree char *out = qtest_hmp(s, "%s", cmd);

    if (!strstr(out, what)) {
        g_error("HMP '%s' printed '%s', expected '%s'", cmd, out, what);
    }
}

/* query-vcpu-dirty-limit (caller unrefs). */
static JsonNode *query_limits(QTestState *s)
{
    return qtest_qmp_assert_success_ref(
        s, "{\"execute\": \"query-vcpu-dirty-limit\"}");
}

static guint limit_count(QTestState *s)
{
    g_autoptr(JsonNode) ret = query_limits(s);

    return json_array_get_length(json_node_get_array(ret));
}

/*
 * Poll vCPU 0's current-rate until @done(rate) holds; returns the first
 * non-zero rate seen (the first period, before any correction).
 */
static int64_t wait_rate(QTestState *s, bool (*done)(int64_t), int64_t *last)
{
    gint64 deadline = g_get_monotonic_time() +
                      qtest_timeout_s() * G_USEC_PER_SEC;
    int64_t first = 0;

    for (;;) {
        g_autoptr(JsonNode) ret = query_limits(s);
        JsonArray *a = json_node_get_array(ret);
        JsonObject *v;

        g_assert_cmpuint(json_array_get_length(a), ==, 1);
        v = json_array_get_object_element(a, 0);
        g_assert_cmpint(json_object_get_int_member(v, "cpu-index"), ==, 0);
        g_assert_cmpint(json_object_get_int_member(v, "limit-rate"), ==,
                        LIMIT_MB);
        *last = json_object_get_int_member(v, "current-rate");
        if (!first) {
            first = *last;
        }
        if (first && done(*last)) {
            return first;
        }
        if (g_get_monotonic_time() > deadline) {
            g_error("vCPU 0 dirties %" G_GINT64_FORMAT " MB/s after %d s "
                    "under a %d MB/s limit", *last, qtest_timeout_s(),
                    LIMIT_MB);
        }
        g_usleep(50 * 1000);
    }
}

static bool near_limit(int64_t rate)
{
    return rate > 0 && rate <= LIMIT_MB * 2;
}

/* set / query / cancel with the guest running, QMP and HMP. */
static void test_set_query_cancel(void)
{
    g_autofree char *image = mig_rate_image(RATE_WSET_MIB, 0);
    QTestState *s = mig_start_guest(MIG_ACCEL_RING, image, NULL);
    int64_t first, last;

    g_assert_cmpuint(limit_count(s), ==, 0);
    expect_hmp(s, "info vcpu_dirty_limit", "Dirty page limit not enabled!");
    mig_set_parameter(s, "x-vcpu-dirty-limit-period", LIMIT_PERIOD_MS);
    qtest_qmp_assert_success(s, "{\"execute\": \"set-vcpu-dirty-limit\", "
                             "\"arguments\": {\"cpu-index\": 0, "
                             "\"dirty-rate\": %d}}", LIMIT_MB);
    first = wait_rate(s, near_limit, &last);
    g_test_message("vCPU 0: %" G_GINT64_FORMAT " MB/s unlimited, %"
                   G_GINT64_FORMAT " MB/s limited to %d", first, last,
                   LIMIT_MB);
    /* The guest dirtied well above the limit before it bit. */
    g_assert_cmpint(first, >, LIMIT_MB * 4);
    expect_hmp(s, "info vcpu_dirty_limit", "vcpu[0], limit rate 16 (MB/s)");
    qtest_qmp_assert_success(s, "{\"execute\": \"cancel-vcpu-dirty-limit\", "
                             "\"arguments\": {\"cpu-index\": 0}}");
    g_assert_cmpuint(limit_count(s), ==, 0);

    /* HMP, every vCPU: set, see it, cancel. */
    expect_hmp(s, "set_vcpu_dirty_limit 100", "info vcpu_dirty_limit");
    g_assert_cmpuint(limit_count(s), ==, 1);
    expect_hmp(s, "info vcpu_dirty_limit", "limit rate 100 (MB/s)");
    /* A rate of 0 lifts the limit, as in QEMU. */
    qtest_qmp_assert_success(s, "{\"execute\": \"set-vcpu-dirty-limit\", "
                             "\"arguments\": {\"dirty-rate\": 0}}");
    g_assert_cmpuint(limit_count(s), ==, 0);
    expect_hmp(s, "set_vcpu_dirty_limit 50 0", "info vcpu_dirty_limit");
    expect_hmp(s, "cancel_vcpu_dirty_limit", "info vcpu_dirty_limit");
    expect_hmp(s, "info vcpu_dirty_limit", "Dirty page limit not enabled!");
    mig_assert_running(s);
    mig_quit_clean(s);
    unlink(image);
}

/* Bad input, with the ring and without. */
static void test_errors(void)
{
    g_autofree char *image = mig_rate_image(RATE_WSET_MIB, 10);
    QTestState *s = mig_start_guest(MIG_ACCEL_RING, image, NULL);
    QTestState *plain;

    qtest_qmp_assert_error(s, "incorrect cpu index specified",
                           "{\"execute\": \"set-vcpu-dirty-limit\", "
                           "\"arguments\": {\"cpu-index\": 1, "
                           "\"dirty-rate\": 10}}");
    qtest_qmp_assert_error(s, "incorrect cpu index specified",
                           "{\"execute\": \"set-vcpu-dirty-limit\", "
                           "\"arguments\": {\"cpu-index\": -1, "
                           "\"dirty-rate\": 10}}");
    qtest_qmp_assert_error(s, "incorrect cpu index specified",
                           "{\"execute\": \"cancel-vcpu-dirty-limit\", "
                           "\"arguments\": {\"cpu-index\": 7}}");
    qtest_qmp_assert_error(s, "dirty-rate",
                           "{\"execute\": \"set-vcpu-dirty-limit\", "
                           "\"arguments\": {\"dirty-rate\": \"fast\"}}");
    qtest_qmp_assert_error(s, "dirty-rate",
                           "{\"execute\": \"set-vcpu-dirty-limit\"}");
    expect_hmp(s, "set_vcpu_dirty_limit fast", "invalid dirty_rate");
    expect_hmp(s, "set_vcpu_dirty_limit 10 3", "incorrect cpu index");
    g_assert_cmpuint(limit_count(s), ==, 0);
    expect_hmp(s, "calc_dirty_rate 0", "Incorrect period length specified!");
    expect_hmp(s, "calc_dirty_rate -r -b 1", "Either dirty ring or dirty "
               "bitmap");
    expect_hmp(s, "calc_dirty_rate -x 1", "unknown option");
    mig_quit_clean(s);
    unlink(image);

    /* No ring: set is refused with QEMU's words, cancel does nothing. */
    plain = mig_start_source(NULL);
    qtest_qmp_assert_error(plain, "dirty-ring-size",
                           "{\"execute\": \"set-vcpu-dirty-limit\", "
                           "\"arguments\": {\"dirty-rate\": 10}}");
    qtest_qmp_assert_success(plain, "{\"execute\": "
                             "\"cancel-vcpu-dirty-limit\"}");
    g_assert_cmpuint(limit_count(plain), ==, 0);
    expect_hmp(plain, "calc_dirty_rate -r 1", "mode dirty-ring is not "
               "enabled");
    mig_quit_clean(plain);
}

/* HMP calc_dirty_rate / info dirty_rate over the ring. */
static void test_hmp_dirty_rate(void)
{
    g_autofree char *image = mig_rate_image(RATE_WSET_MIB, 10);
    QTestState *s = mig_start_guest(MIG_ACCEL_RING, image, NULL);
    gint64 deadline = g_get_monotonic_time() +
                      qtest_timeout_s() * G_USEC_PER_SEC;

    expect_hmp(s, "info dirty_rate", "Status: unstarted");
    expect_hmp(s, "calc_dirty_rate -r 1", "Starting dirty rate measurement "
               "with period 1 seconds");
    for (;;) {
        g_autofree char *out = qtest_hmp(s, "info dirty_rate");

        if (strstr(out, "Status: measured")) {
            g_assert_nonnull(strstr(out, "Mode: dirty-ring"));
            g_assert_nonnull(strstr(out, "vcpu[0], Dirty rate: "));
            g_assert_null(strstr(out, "(not ready)"));
            g_assert_null(strstr(out, "Sample Pages"));
            break;
        }
        g_assert_nonnull(strstr(out, "Dirty rate: (not ready)"));
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(100 * 1000);
    }
    /* page-sampling with an explicit sample count shows it. */
    expect_hmp(s, "calc_dirty_rate 1 256", "Starting dirty rate");
    for (;;) {
        g_autofree char *out = qtest_hmp(s, "info dirty_rate");

        if (strstr(out, "Status: measured")) {
            g_assert_nonnull(strstr(out, "Sample Pages: 256 (per GB)"));
            g_assert_nonnull(strstr(out, "Mode: page-sampling"));
            break;
        }
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(100 * 1000);
    }
    mig_quit_clean(s);
    unlink(image);
}

/*
 * The flat-out rate guest over a 32 MiB/s link does not converge (see
 * converge-test's no-converge case); with dirty-limit it does, the
 * limiter's figures show in query-migrate while it works, and the
 * limits end with the migration.
 */
static void test_migration(void)
{
    static const char *const done[] = { "completed", NULL };
    g_autofree char *image = mig_rate_image(RATE_WSET_MIB, 0);
    QTestState *src = mig_start_guest(MIG_ACCEL_RING, image, NULL);
    g_autofree char *uri = g_strdup_printf("unix:%s",
                                           qtest_path(src, "mig.sock"));
    g_autofree char *dargs = mig_machine_args(MIG_ACCEL_RING, image,
                                              "-incoming defer");
    QTestState *dst = qtest_initf("%s", dargs);
    g_autofree char *hmp = NULL;
    g_autofree char *st = NULL;
    bool seen = false;
    gint64 deadline = g_get_monotonic_time() +
                      qtest_timeout_s() * 2 * G_USEC_PER_SEC;

    mig_incoming(dst, uri, true);
    mig_set_parameter(src, "max-bandwidth", MIG_BW_MIB << 20);
    mig_set_parameter(src, "downtime-limit", MIG_DOWNTIME);
    mig_set_capability(src, "dirty-limit", true);
    mig_set_parameter(src, "vcpu-dirty-limit", MIG_LIMIT_MB);
    mig_set_parameter(src, "x-vcpu-dirty-limit-period", LIMIT_PERIOD_MS);
    mig_migrate(src, uri);
    for (;;) {
        g_autoptr(JsonNode) info = mig_query(src);
        JsonObject *o = json_node_get_object(info);
        const char *status = json_object_get_string_member(o, "status");

        if (!strcmp(status, "active") &&
            json_object_has_member(o, "dirty-limit-ring-full-time")) {
            g_assert_true(json_object_has_member(
                o, "dirty-limit-throttle-time-per-round"));
            g_assert_false(json_object_has_member(
                o, "cpu-throttle-percentage"));
            if (!seen) {
                hmp = qtest_hmp(src, "info migrate");
                /* Manual changes are refused while migration owns them. */
                qtest_qmp_assert_error(src, "while migration is running",
                                       "{\"execute\": "
                                       "\"cancel-vcpu-dirty-limit\"}");
                seen = true;
            }
        }
        if (strcmp(status, "active") && strcmp(status, "setup")) {
            break;
        }
        if (g_get_monotonic_time() > deadline) {
            g_error("dirty-limit did not converge in %d s (limit %s)",
                    qtest_timeout_s() * 2, seen ? "applied" : "never applied");
        }
        g_usleep(50 * 1000);
    }
    st = mig_wait_status(src, done);
    g_assert_true(seen);
    if (strstr(hmp, "Migration status: active")) {
        g_assert_nonnull(strstr(hmp, "dirty-limit ring full time: "));
        g_assert_nonnull(strstr(hmp, "dirty-limit throttle time: "));
    }
    /* The migration's limits end with it. */
    g_assert_cmpuint(limit_count(src), ==, 0);
    mig_check_rate_dest(dst, RATE_WSET_MIB);
    mig_quit_clean(dst);
    mig_quit_clean(src);
    unlink(image);
}

int main(int argc, char **argv)
{
    qtest_main_init(&argc, &argv);
    mig_add_case_kvm("/dirty-limit/set-query-cancel", test_set_query_cancel,
                     false, MIG_NEEDS_DIRTY_LIMIT);
    mig_add_case_kvm("/dirty-limit/errors", test_errors, false,
                     MIG_NEEDS_DIRTY_LIMIT);
    mig_add_case_kvm("/dirty-limit/hmp-dirty-rate", test_hmp_dirty_rate,
                     false, MIG_NEEDS_DIRTY_LIMIT);
    mig_add_case_kvm("/dirty-limit/migration", test_migration, false,
                     MIG_NEEDS_DIRTY_LIMIT);
    return g_test_run();
}
