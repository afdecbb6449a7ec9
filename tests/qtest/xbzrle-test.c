/*
 * XBZRLE qtests: the stamp guest migrated with the xbzrle capability.
 *
 * The stamp guest adds 1 to the first byte of every page of its 99 MiB
 * working set on each pass, so once a page is in the XBZRLE cache each
 * later sending of it is a delta of a few bytes.  A capped link keeps the
 * migration iterating through several dirty rounds; the cache starts too
 * small for the working set (most pages miss), is grown with
 * migrate-set-parameters while the migration runs, and the miss rate
 * must fall once the migration thread has adopted the new size.  Every
 * run ends with the stamp invariant checked on the destination.
 *
 * Hostile XBZRLE records are covered by tests/unit/test-ram-xbzrle.c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>
#include <glib.h>

#include "migration-helpers.h"

/* 100 MiB rewritten every pass cannot cross this within 300 ms. */
#define SLOW_BW (64ULL << 20)
#define SMALL_CACHE (16ULL << 20)      /* 4096 pages for ~25000 */
#define BIG_CACHE (256ULL << 20)       /* the whole working set */
#define STAMP_PAGES ((100 - 1) * 256)

static JsonObject *xbzrle_obj(JsonNode *info)
{
    JsonObject *o = json_node_get_object(info);

    if (!json_object_has_member(o, "xbzrle-cache")) {
        g_autofree char *txt = qmp_to_string(info);
        g_error("query-migrate has no xbzrle-cache: %s", txt);
    }
    return json_object_get_object_member(o, "xbzrle-cache");
}

static int64_t xbz_int(JsonNode *info, const char *name)
{
    return json_object_get_int_member(xbzrle_obj(info), name);
}

static double xbz_double(JsonNode *info, const char *name)
{
    JsonNode *n = json_object_get_member(xbzrle_obj(info), name);

    g_assert_nonnull(n);
    if (json_node_get_value_type(n) == G_TYPE_INT64) {
        return json_node_get_int(n);
    }
    return json_node_get_double(n);
}

typedef bool (*XbzPred)(JsonNode *info, gpointer opaque);

/*
 * Poll query-migrate until @pred holds, or (with @or_completed) the
 * migration is completing or completed; until then it must stay active.  Returns the
 * reply that ended the wait (caller unrefs).
 */
static JsonNode *wait_until(QTestState *src, XbzPred pred, gpointer opaque,
                            bool or_completed, const char *what)
{
    gint64 deadline = g_get_monotonic_time() +
                      (gint64)qtest_timeout_s() * G_USEC_PER_SEC;

    for (;;) {
        JsonNode *info = mig_query(src);
        const char *st = json_object_get_string_member(
                             json_node_get_object(info), "status");

        if (or_completed && (g_str_equal(st, "completed") ||
                             g_str_equal(st, "device"))) {
            return info;
        }
        if (!g_str_equal(st, "active")) {
            g_autofree char *txt = qmp_to_string(info);
            g_error("migration left 'active' waiting for %s: %s", what, txt);
        }
        if (pred(info, opaque)) {
            return info;
        }
        if (g_get_monotonic_time() > deadline) {
            g_autofree char *txt = qmp_to_string(info);
            g_error("timed out waiting for %s: %s", what, txt);
        }
        json_node_unref(info);
        g_usleep(50 * 1000);
    }
}

/* XBZRLE pages sent and a full miss-rate period behind us. */
static bool encoding_started(JsonNode *info, gpointer opaque)
{
    return mig_ram_counter(info, "dirty-sync-count") >= 4 &&
           xbz_int(info, "pages") > 0;
}

static bool cache_is_big(JsonNode *info, gpointer opaque)
{
    return xbz_int(info, "cache-size") == (int64_t)BIG_CACHE;
}

/* A sync after the resize whose period was mostly cache hits. */
static bool misses_fell(JsonNode *info, gpointer opaque)
{
    return mig_ram_counter(info, "dirty-sync-count") >
           GPOINTER_TO_INT(opaque) &&
           xbz_double(info, "cache-miss-rate") < 0.5;
}

static void check_hmp(QTestState *src)
{
    g_autofree char *out = qtest_hmp(src, "info migrate");

    g_assert_nonnull(strstr(out, "cache size: "));
    g_assert_nonnull(strstr(out, "xbzrle transferred: "));
    g_assert_nonnull(strstr(out, "xbzrle pages: "));
    g_assert_nonnull(strstr(out, "xbzrle cache miss: "));
    g_assert_nonnull(strstr(out, "xbzrle cache miss rate: "));
    g_assert_nonnull(strstr(out, "xbzrle encoding rate: "));
    g_assert_nonnull(strstr(out, "xbzrle overflow: "));
}

static void test_xbzrle_stamp(void)
{
    static const char *const active[] = { "active", NULL };
    QTestState *dst = NULL;
    g_autofree char *uri = NULL;
    QTestState *src = mig_start_pair(NULL, NULL, &dst, &uri);
    g_autofree char *st = NULL;
    g_autoptr(JsonNode) info = NULL;
    g_autoptr(JsonNode) fin = NULL;
    int64_t pages, bytes, syncs;

    mig_set_capability(src, "xbzrle", true);
    mig_set_parameter(src, "xbzrle-cache-size", SMALL_CACHE);
    /*
     * No switchover before the cache was seen at work: a slow
     * (instrumented) source would otherwise converge in its first rounds
     * with a downtime-limit made for it.  The limit is raised below.
     */
    mig_set_parameter(src, "downtime-limit", 1);
    mig_set_parameter(src, "max-bandwidth", SLOW_BW);
    mig_migrate(src, uri);
    st = mig_wait_status(src, active);

    /* Small cache: pages get encoded, but most of them miss. */
    info = wait_until(src, encoding_started, NULL, false,
                      "XBZRLE pages with a small cache");
    g_assert_cmpint(xbz_int(info, "cache-size"), ==, SMALL_CACHE);
    g_assert_cmpfloat(xbz_double(info, "cache-miss-rate"), >, 0.5);
    g_assert_cmpint(xbz_int(info, "cache-miss"), >, 0);
    check_hmp(src);
    g_clear_pointer(&info, json_node_unref);

    /*
     * Grow it while running: the migration thread adopts the new size.
     * Then one round fills it and the next hits: the miss rate falls, and
     * as the deltas are tiny the migration may well converge at once.
     */
    mig_set_parameter(src, "xbzrle-cache-size", BIG_CACHE);
    info = wait_until(src, cache_is_big, NULL, false, "the cache resize");
    syncs = mig_ram_counter(info, "dirty-sync-count");
    g_clear_pointer(&info, json_node_unref);
    /* (QEMU drops the cache on a resize and reports rates differently.) */
    if (!mig_is_qemu()) {
        info = wait_until(src, misses_fell, GINT_TO_POINTER(syncs + 1), true,
                          "cache hits after the resize");
        g_clear_pointer(&info, json_node_unref);
    }
    /* If it has not converged yet: the deltas fit any downtime. */
    if (mig_is_qemu()) {
        /* QEMU 7.2 has no avail-switchover-bandwidth (its tests do this). */
        mig_set_parameter(src, "downtime-limit", 30000);
    } else {
        mig_set_parameter(src, "avail-switchover-bandwidth", 10ULL << 30);
    }
    if (!mig_is_qemu()) {
        mig_set_parameter(src, "downtime-limit", mig_downtime_ms());
    }
    mig_set_parameter(src, "max-bandwidth", MIG_BW_UNLIMITED);
    mig_wait_completed(src);

    /* The last period (hits only) and the whole run. */
    fin = mig_query(src);
    if (!mig_is_qemu()) {
        g_assert_cmpfloat(xbz_double(fin, "cache-miss-rate"), <, 0.5);
        g_assert_cmpfloat(xbz_double(fin, "encoding-rate"), >, 10.0);
    }
    pages = xbz_int(fin, "pages");
    bytes = xbz_int(fin, "bytes");
    g_test_message("xbzrle: %" G_GINT64_FORMAT " pages in %" G_GINT64_FORMAT
                   " bytes, %" G_GINT64_FORMAT " misses, %" G_GINT64_FORMAT
                   " overflows, %" G_GINT64_FORMAT " syncs", pages, bytes,
                   xbz_int(fin, "cache-miss"), xbz_int(fin, "overflow"),
                   mig_ram_counter(fin, "dirty-sync-count"));
    /* qmig waited for a round of hits: the whole working set, encoded. */
    g_assert_cmpint(pages, >=, mig_is_qemu() ? 1 : STAMP_PAGES);
    g_assert_cmpint(bytes, >, 0);
    /* Each delta is a few bytes: far smaller than the pages it stands for. */
    g_assert_cmpint(pages * 4096 / bytes, >, 20);
    g_assert_cmpint(xbz_int(fin, "cache-size"), ==, BIG_CACHE);
    check_hmp(src);

    mig_check_dest_and_quit(src, dst, true);
}

/* QEMU's rules on the capability and the cache size. */
static void test_xbzrle_refusals(void)
{
    QTestState *src = mig_start_source(NULL);
    g_autoptr(JsonNode) info = NULL;

    qtest_qmp_assert_error(src, "power of two",
                           "{\"execute\": \"migrate-set-parameters\", "
                           "\"arguments\": {\"xbzrle-cache-size\": 5000}}");

    if (mig_is_qemu()) {
        /* QEMU 7.2 (the one packaged here) accepts this pair. */
        mig_quit_clean(src);
        return;
    }
    qtest_qmp_assert_success(src, "{\"execute\": \"migrate-set-parameters\", "
                             "\"arguments\": {\"multifd-compression\": "
                             "\"zlib\"}}");
    qtest_qmp_assert_error(src, "Multifd compression is not compatible with "
                           "xbzrle",
                           "{\"execute\": \"migrate-set-capabilities\", "
                           "\"arguments\": {\"capabilities\": ["
                           "{\"capability\": \"xbzrle\", \"state\": true}, "
                           "{\"capability\": \"multifd\", \"state\": true}]}}");

    /* Without a migration, xbzrle-cache follows the capability only. */
    mig_set_capability(src, "xbzrle", true);
    info = mig_query(src);
    g_assert_false(json_object_has_member(json_node_get_object(info),
                                          "xbzrle-cache"));
    mig_quit_clean(src);
}

int main(int argc, char **argv)
{
    qtest_main_init(&argc, &argv);

    mig_add_case("/xbzrle/stamp", test_xbzrle_stamp, false);
    mig_add_case("/xbzrle/refusals", test_xbzrle_refusals, false);
    return g_test_run();
}
