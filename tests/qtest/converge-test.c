/*
 * Convergence: the rate guest (tests/migration/i386/rate.S), auto-converge
 * and the dirty page rate (calc-dirty-rate / query-dirty-rate).
 *
 * The rate guest rewrites a working set of RATE_WSET_MIB MiB far faster
 * than RATE_BW_MIB MiB/s, the bandwidth the migrations here get, and the
 * working set is well above what fits the downtime limit at that
 * bandwidth: without auto-converge such a migration stays active sync
 * after sync; with it, the throttle climbs until the guest dirties less
 * than the link carries and the migration completes.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "libqtest.h"
#include "migration-helpers.h"

#define RATE_WSET_MIB   32
#define RATE_BW_MIB     32
#define RATE_DOWNTIME   500     /* ms: 16 MiB fit, the working set does not */

static void set_slow_link(QTestState *src)
{
    mig_set_parameter(src, "max-bandwidth", RATE_BW_MIB << 20);
    mig_set_parameter(src, "downtime-limit", RATE_DOWNTIME);
}

static bool has_member(JsonNode *info, const char *name)
{
    return json_object_has_member(json_node_get_object(info), name);
}

/*
 * The flat-out rate guest (a busy host slowing it must not make it
 * converge on its own) and a deferred destination listening on a unix
 * socket, the source's link capped at RATE_BW_MIB.  Returns the source.
 */
static QTestState *start_rate_pair(const char *image, QTestState **dst,
                                   char **uri)
{
    QTestState *src = mig_start_guest(qtest_accel(), image, NULL);
    g_autofree char *dargs = mig_machine_args(qtest_accel(), image,
                                              "-incoming defer");

    *uri = g_strdup_printf("unix:%s", qtest_path(src, "mig.sock"));
    *dst = qtest_initf("%s", dargs);
    mig_incoming(*dst, *uri, true);
    set_slow_link(src);
    return src;
}

/* Without auto-converge the migration never gets there: sync after sync. */
static void test_no_converge(void)
{
    static const char *const cancelled[] = { "cancelled", NULL };
    g_autofree char *image = mig_rate_image(RATE_WSET_MIB, 0);
    g_autofree char *uri = NULL;
    QTestState *dst;
    QTestState *src = start_rate_pair(image, &dst, &uri);
    gint64 deadline = g_get_monotonic_time() +
                      qtest_timeout_s() * G_USEC_PER_SEC;
    g_autofree char *st = NULL;
    int64_t syncs = 0;

    mig_migrate(src, uri);
    while (syncs < 5) {
        JsonNode *info = mig_query(src);
        const char *status = json_object_get_string_member(
            json_node_get_object(info), "status");

        if (strcmp(status, "active") && strcmp(status, "setup")) {
            g_error("a rate guest the link cannot keep up with reached '%s' "
                    "without auto-converge", status);
        }
        g_assert_false(has_member(info, "cpu-throttle-percentage"));
        syncs = mig_ram_counter(info, "dirty-sync-count");
        json_node_unref(info);
        if (g_get_monotonic_time() > deadline) {
            g_error("only %" G_GINT64_FORMAT " dirty syncs in %d s", syncs,
                    qtest_timeout_s());
        }
        g_usleep(100 * 1000);
    }
    qtest_qmp_assert_success(src, "{\"execute\": \"migrate_cancel\"}");
    st = mig_wait_status(src, cancelled);
    mig_assert_running(src);
    mig_quit_clean(dst);
    mig_quit_clean(src);
    unlink(image);
}

/* With it, the throttle shows in query-migrate and the migration ends. */
static void test_auto_converge(void)
{
    static const char *const done[] = { "completed", NULL };
    /*
     * Flat out: the guest must outrun the link until the throttle is
     * high, or the case would pass without auto-converge doing anything.
     */
    g_autofree char *image = mig_rate_image(RATE_WSET_MIB, 0);
    g_autofree char *uri = NULL;
    QTestState *dst;
    QTestState *src = start_rate_pair(image, &dst, &uri);
    g_autofree char *hmp = NULL;
    g_autofree char *st = NULL;
    int64_t max_pct = 0;
    gint64 deadline = g_get_monotonic_time() +
                      qtest_timeout_s() * 2 * G_USEC_PER_SEC;

    mig_set_capability(src, "auto-converge", true);
    /* 60, 80, 99: few steps, so the case stays short. */
    mig_set_parameter(src, "cpu-throttle-initial", 60);
    mig_set_parameter(src, "cpu-throttle-increment", 20);
    mig_migrate(src, uri);
    for (;;) {
        JsonNode *info = mig_query(src);
        const char *status = json_object_get_string_member(
            json_node_get_object(info), "status");

        if (!strcmp(status, "active") &&
            has_member(info, "cpu-throttle-percentage")) {
            int64_t pct = mig_info_int(info, "cpu-throttle-percentage");

            g_assert_cmpint(pct, >=, 1);
            g_assert_cmpint(pct, <=, 99);
            if (pct > max_pct && !hmp) {
                hmp = qtest_hmp(src, "info migrate");
            }
            max_pct = MAX(max_pct, pct);
        }
        if (strcmp(status, "active") && strcmp(status, "setup")) {
            json_node_unref(info);
            break;
        }
        json_node_unref(info);
        if (g_get_monotonic_time() > deadline) {
            g_error("auto-converge did not converge in %d s (throttle "
                    "reached %" G_GINT64_FORMAT "%%)", qtest_timeout_s() * 2,
                    max_pct);
        }
        g_usleep(50 * 1000);
    }
    st = mig_wait_status(src, done);
    g_test_message("converged with the throttle at up to %" G_GINT64_FORMAT
                   "%%", max_pct);
    g_assert_cmpint(max_pct, >=, 60);
    /* HMP shows it too, while it throttles (may race with the end). */
    if (hmp && strstr(hmp, "Migration status: active")) {
        g_assert_nonnull(strstr(hmp, "cpu throttle percentage: "));
    }
    /* The throttle ends with the migration. */
    {
        JsonNode *info = mig_query(src);

        g_assert_false(has_member(info, "cpu-throttle-percentage"));
        json_node_unref(info);
    }
    mig_check_rate_dest(dst, RATE_WSET_MIB);
    mig_quit_clean(dst);
    mig_quit_clean(src);
    unlink(image);
}

/* calc-dirty-rate, wait, return the measured MB/s. */
static int64_t measure(QTestState *s, const char *mode, int64_t sample_pages)
{
    g_autofree char *extra = sample_pages ?
        g_strdup_printf(", \"sample-pages\": %" G_GINT64_FORMAT,
                        sample_pages) : g_strdup("");
    gint64 deadline = g_get_monotonic_time() +
                      qtest_timeout_s() * G_USEC_PER_SEC;
    int64_t rate = -1;

    qtest_qmp_assert_success(s, "{\"execute\": \"calc-dirty-rate\", "
                             "\"arguments\": {\"calc-time\": 1, "
                             "\"mode\": \"%s\"%s}}", mode, extra);
    for (;;) {
        JsonNode *ret = qtest_qmp_assert_success_ref(
            s, "{\"execute\": \"query-dirty-rate\"}");
        JsonObject *o = json_node_get_object(ret);
        const char *status = json_object_get_string_member(o, "status");

        g_assert_cmpstr(json_object_get_string_member(o, "mode"), ==, mode);
        g_assert_cmpint(json_object_get_int_member(o, "calc-time"), ==, 1);
        if (!strcmp(status, "measured")) {
            rate = json_object_get_int_member(o, "dirty-rate");
            g_assert_cmpint(json_object_get_int_member(o, "start-time"), >,
                            0);
            json_node_unref(ret);
            break;
        }
        g_assert_cmpstr(status, ==, "measuring");
        g_assert_false(json_object_has_member(o, "dirty-rate"));
        json_node_unref(ret);
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(100 * 1000);
    }
    g_test_message("%s: %" G_GINT64_FORMAT " MB/s", mode, rate);
    return rate;
}

/*
 * The rate guest, flat out, rewrites its whole working set many times a
 * second even on a loaded host: over one second both modes see about the
 * working set (distinct pages).
 */
static void test_dirty_rate_busy(void)
{
    g_autofree char *image = mig_rate_image(RATE_WSET_MIB, 0);
    QTestState *src = mig_start_guest(qtest_accel(), image, NULL);
    JsonNode *ret;
    int64_t rate;

    ret = qtest_qmp_assert_success_ref(src,
                                       "{\"execute\": \"query-dirty-rate\"}");
    g_assert_cmpstr(json_object_get_string_member(json_node_get_object(ret),
                                                  "status"), ==, "unstarted");
    json_node_unref(ret);

    rate = measure(src, "dirty-bitmap", 0);
    g_assert_cmpint(rate, >=, RATE_WSET_MIB / 2);
    g_assert_cmpint(rate, <=, RATE_WSET_MIB + 8);
    rate = measure(src, "page-sampling", 4096);
    g_assert_cmpint(rate, >=, RATE_WSET_MIB / 3);
    g_assert_cmpint(rate, <=, RATE_WSET_MIB * 2);

    qtest_qmp_assert_error(src, "out of range",
                           "{\"execute\": \"calc-dirty-rate\", "
                           "\"arguments\": {\"calc-time\": 0}}");
    qtest_qmp_assert_error(src, "out of range",
                           "{\"execute\": \"calc-dirty-rate\", "
                           "\"arguments\": {\"calc-time\": 1, "
                           "\"sample-pages\": 5}}");
    qtest_qmp_assert_error(src, "page-sampling",
                           "{\"execute\": \"calc-dirty-rate\", "
                           "\"arguments\": {\"calc-time\": 1, \"mode\": "
                           "\"dirty-bitmap\", \"sample-pages\": 512}}");
    qtest_qmp_assert_error(src, "dirty-ring",
                           "{\"execute\": \"calc-dirty-rate\", "
                           "\"arguments\": {\"calc-time\": 1, \"mode\": "
                           "\"dirty-ring\"}}");
    qtest_qmp_assert_error(src, "dirty-ring-size",
                           "{\"execute\": \"migrate-set-capabilities\", "
                           "\"arguments\": {\"capabilities\": "
                           "[{\"capability\": \"dirty-limit\", \"state\": "
                           "true}]}}");
    /* One at a time. */
    qtest_qmp_assert_success(src, "{\"execute\": \"calc-dirty-rate\", "
                             "\"arguments\": {\"calc-time\": 2}}");
    qtest_qmp_assert_error(src, "already being measured",
                           "{\"execute\": \"calc-dirty-rate\", "
                           "\"arguments\": {\"calc-time\": 1}}");
    mig_quit_clean(src);
    unlink(image);
}

/* A guest that halted dirties nothing. */
static void test_dirty_rate_idle(void)
{
    g_autofree char *image = mig_rate_image(RATE_WSET_MIB, 0);
    const char *fill = qtest_guest_image("QTEST_GUEST_FILL");
    g_autofree char *data = NULL;
    gsize len = 0;
    uint32_t two = GUINT32_TO_LE(2);
    QTestState *s;
    g_autofree char *args = NULL;

    /* fill with N = 2: one MiB of stores, then cli; hlt. */
    g_assert_nonnull(fill);
    g_assert_true(g_file_get_contents(fill, &data, &len, NULL));
    memcpy(data + 0x1f8, &two, 4);
    g_assert_true(g_file_set_contents(image, data, len, NULL));
    args = mig_machine_args(qtest_accel(), image, NULL);
    s = qtest_initf("%s", args);
    g_assert_true(qtest_wait_serial(s, qtest_serial_path(s), 'F', 1,
                                    qtest_timeout_s()));
    g_assert_cmpint(measure(s, "dirty-bitmap", 0), ==, 0);
    g_assert_cmpint(measure(s, "page-sampling", 0), ==, 0);
    mig_quit_clean(s);
    unlink(image);
}

int main(int argc, char **argv)
{
    qtest_main_init(&argc, &argv);
    if (!qtest_guest_image("QTEST_GUEST_RATE") && !g_test_subprocess()) {
        g_test_message("QTEST_GUEST_RATE is not set: no rate guest");
    }
    mig_add_case("/converge/dirty-rate/busy", test_dirty_rate_busy, false);
    mig_add_case("/converge/dirty-rate/idle", test_dirty_rate_idle, false);
    mig_add_case("/converge/no-auto-converge", test_no_converge, false);
    mig_add_case("/converge/auto-converge", test_auto_converge, false);
    return g_test_run();
}
