/*
 * Postcopy preempt channel and blocktime qtests.
 *
 * - postcopy-preempt + postcopy-blocktime on both sides, the stamp guest
 *   over a link too slow for precopy, the switch asked for through HMP's
 *   migrate_start_postcopy: the migration completes, the destination
 *   placed pages that came over the preempt channel
 *   (x-postcopy-preempt-pages), reports postcopy-blocktime,
 *   postcopy-vcpu-blocktime (one entry per vCPU, some time blocked) and
 *   postcopy-latency, and its guest carried on from the source's state;
 * - the same with release-ram (a requested page re-sent on the preempt
 *   channel must never overtake the real one with released, zero, data)
 *   and without blocktime: no blocktime fields on the destination;
 * - plain postcopy (one channel) of shared memfd RAM, with blocktime;
 * - preempt on one side only: the migration fails before the switch with
 *   a message naming the preempt channel (on the side that has it), and
 *   the source's guest runs on.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <glib.h>
#include <string.h>

#include "libqtest.h"
#include "migration-helpers.h"

#define SLOW_PRECOPY_BW     (8ULL << 20)    /* 150 MiB cannot go in time */
#define POSTCOPY_BW         (32ULL << 20)   /* background takes seconds */

static const char *const to_postcopy[] = { "postcopy-active", "completed",
                                           NULL };
static const char *const failed[] = { "failed", NULL };

static void set_caps(QTestState *s, bool preempt, bool blocktime)
{
    mig_set_capability(s, "postcopy-ram", true);
    mig_set_capability(s, "postcopy-preempt", preempt);
    mig_set_capability(s, "postcopy-blocktime", blocktime);
}

/* Switch with HMP's migrate_start_postcopy once precopy runs. */
static void start_postcopy_hmp(QTestState *src)
{
    static const char *const active[] = { "active", NULL };
    g_autofree char *st = mig_wait_status(src, active);
    g_autofree char *out = NULL;

    mig_wait_more_passes(src, 1);
    out = qtest_hmp(src, "migrate_start_postcopy");
    g_assert_cmpstr(out, ==, "");
    g_free(mig_wait_status(src, to_postcopy));
}

static int64_t vcpu_blocktime_sum(JsonNode *info, guint *n)
{
    JsonObject *o = json_node_get_object(info);
    JsonArray *a;
    int64_t sum = 0;

    g_assert_true(json_object_has_member(o, "postcopy-vcpu-blocktime"));
    a = json_object_get_array_member(o, "postcopy-vcpu-blocktime");
    *n = json_array_get_length(a);
    for (guint i = 0; i < *n; i++) {
        sum += json_array_get_int_element(a, i);
    }
    return sum;
}

static void run_preempt(bool preempt, bool release_ram, bool blocktime,
                        const char *extra)
{
    QTestState *src = mig_start_source(extra);
    g_autofree char *uri = g_strdup_printf("unix:%s",
                                           qtest_path(src, "mig.sock"));
    QTestState *dst = mig_start_dest(uri, extra);
    g_autoptr(JsonNode) info = NULL;
    g_autoptr(JsonNode) dinfo = NULL;
    g_autoptr(GBytes) src_mem = NULL;
    int64_t preempt_pages;

    set_caps(src, preempt, false);
    set_caps(dst, preempt, blocktime);
    mig_set_capability(src, "release-ram", release_ram);
    mig_set_parameter(src, "max-bandwidth", SLOW_PRECOPY_BW);
    mig_set_parameter(src, "max-postcopy-bandwidth", POSTCOPY_BW);
    mig_migrate(src, uri);
    start_postcopy_hmp(src);
    mig_wait_completed(src);
    info = mig_query(src);
    g_assert_cmpint(mig_ram_counter(info, "postcopy-requests"), >, 0);
    mig_wait_running(dst);
    g_free(mig_wait_status(dst, (const char *const[]){ "completed", NULL }));
    dinfo = mig_query(dst);
    preempt_pages = mig_info_int(dinfo, "x-postcopy-preempt-pages");
    g_test_message("requests %" G_GINT64_FORMAT ", pages requested %"
                   G_GINT64_FORMAT ", placed from the preempt channel %"
                   G_GINT64_FORMAT, mig_ram_counter(info, "postcopy-requests"),
                   mig_info_int(dinfo, "x-postcopy-pages-requested"),
                   preempt_pages);
    if (preempt) {
        g_assert_cmpint(preempt_pages, >, 0);
    } else {
        g_assert_cmpint(preempt_pages, ==, -1);     /* no such channel */
    }
    g_assert_cmpint(mig_info_int(dinfo, "x-postcopy-pages-requested"), >, 0);
    if (blocktime) {
        guint n = 0;
        int64_t sum = vcpu_blocktime_sum(dinfo, &n);
        g_autofree char *hmp = qtest_hmp(dst, "info migrate");

        g_test_message("blocktime %" G_GINT64_FORMAT " ms, vCPUs %"
                       G_GINT64_FORMAT " ms, latency avg %" G_GINT64_FORMAT
                       " ns p50 %" G_GINT64_FORMAT " p99 %" G_GINT64_FORMAT,
                       mig_info_int(dinfo, "postcopy-blocktime"), sum,
                       mig_info_int(dinfo, "postcopy-latency"),
                       mig_info_int(dinfo, "x-postcopy-latency-p50"),
                       mig_info_int(dinfo, "x-postcopy-latency-p99"));
        g_assert_cmpuint(n, ==, 1);
        g_assert_cmpint(sum, >, 0);
        /* One vCPU: all of them blocked is that one blocked. */
        g_assert_cmpint(mig_info_int(dinfo, "postcopy-blocktime"), ==, sum);
        g_assert_cmpint(mig_info_int(dinfo, "postcopy-latency"), >, 0);
        g_assert_cmpint(mig_info_int(dinfo, "x-postcopy-latency-p99"), >=,
                        mig_info_int(dinfo, "x-postcopy-latency-p50"));
        g_assert_nonnull(strstr(hmp, "postcopy blocktime: "));
        g_assert_nonnull(strstr(hmp, "postcopy vCPU blocktime: ["));
    } else {
        g_assert_cmpint(mig_info_int(dinfo, "postcopy-blocktime"), ==, -1);
        g_assert_false(json_object_has_member(json_node_get_object(dinfo),
                                              "postcopy-vcpu-blocktime"));
    }
    if (release_ram) {
        mig_check_dest(dst, NULL, false);
    } else {
        src_mem = mig_stamp_memory(src);
        mig_check_dest(dst, src_mem, false);
    }
    mig_quit_clean(src);
    mig_quit_clean(dst);
}

static void test_preempt_blocktime(void)
{
    run_preempt(true, false, true, NULL);
}

static void test_preempt_release_ram(void)
{
    run_preempt(true, true, false, NULL);
}

/* Shared memfd RAM: userfaultfd with MISSING_SHMEM, one channel. */
static void test_memfd_shared(void)
{
    run_preempt(false, false, true,
                "-object memory-backend-memfd,id=ram0,size=150M,share=on "
                "-machine memory-backend=ram0");
}

/* Preempt on one side only: a clean failure before the guest moves. */
static void run_mismatch(bool on_source)
{
    QTestState *src = mig_start_source(NULL);
    g_autofree char *uri = g_strdup_printf("unix:%s",
                                           qtest_path(src, "mig.sock"));
    QTestState *dst = mig_start_dest("defer", NULL);
    g_autoptr(JsonNode) info = NULL;
    const char *desc;

    set_caps(src, on_source, false);
    set_caps(dst, !on_source, false);
    mig_incoming(dst, uri, true);
    mig_migrate(src, uri);
    g_free(mig_wait_status(src, failed));
    info = mig_query(src);
    desc = json_object_get_string_member(json_node_get_object(info),
                                         "error-desc");
    g_test_message("source: %s", desc);
    if (on_source) {
        /* Otherwise the source only learns that the destination failed. */
        g_assert_nonnull(strstr(desc, "preempt channel"));
    }
    mig_assert_running(src);
    if (!on_source) {
        g_autoptr(JsonNode) dinfo = NULL;

        g_free(mig_wait_status(dst, failed));
        dinfo = mig_query(dst);
        desc = json_object_get_string_member(json_node_get_object(dinfo),
                                             "error-desc");
        g_test_message("destination: %s", desc);
        g_assert_nonnull(strstr(desc, "did not open the preempt channel"));
    }
    mig_check_stamp(src, true);
    mig_quit_clean(src);
    qtest_quit(dst);
}

static void test_mismatch_source(void)
{
    run_mismatch(true);
}

static void test_mismatch_dest(void)
{
    run_mismatch(false);
}

int main(int argc, char **argv)
{
    qtest_main_init(&argc, &argv);
    mig_add_case("/postcopy-preempt/blocktime", test_preempt_blocktime,
                 false);
    mig_add_case("/postcopy-preempt/release-ram", test_preempt_release_ram,
                 false);
    mig_add_case("/postcopy-preempt/memfd-shared", test_memfd_shared, false);
    mig_add_case("/postcopy-preempt/mismatch-source", test_mismatch_source,
                 false);
    mig_add_case("/postcopy-preempt/mismatch-dest", test_mismatch_dest,
                 false);
    return g_test_run();
}
