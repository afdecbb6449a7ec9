/*
 * Postcopy of huge-page RAM (memory-backend-memfd,hugetlb=on).
 *
 * - postcopy: the stamp guest on 2 MiB hugetlb pages; precopy runs
 *   several dirty rounds first (so pages of a huge page are dirty in
 *   part at the switch: the destination refuses a DISCARD that is not
 *   whole huge pages, and a partly dirty huge page it kept would be
 *   stale), then the switch; the migration completes, the destination
 *   asked for pages, and its guest holds the stamp invariant and went
 *   on from the source's state;
 * - the same with postcopy-preempt and blocktime: pages were placed
 *   from the preempt channel while the main channel sent the
 *   background huge pages;
 * - preempt with release-ram: a released huge page must never be sent
 *   again (as zeros) on the preempt channel.
 *
 * The hugetlb pages are reserved by the parent test process when there
 * are not enough free ones (/proc/sys/vm/nr_hugepages, root only) and
 * given back at the end; each case skips when they are not there.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "libqtest.h"
#include "migration-helpers.h"

#define NR_HUGEPAGES        "/proc/sys/vm/nr_hugepages"
#define HUGE_PAGE_KIB       2048
#define GUEST_MIB           150
/* Source and destination, 2 MiB each. */
#define PAGES_NEEDED        (2 * GUEST_MIB * 1024 / HUGE_PAGE_KIB)
#define PRECOPY_BW          (128ULL << 20)  /* a pass takes about 1 s */
#define POSTCOPY_BW         (32ULL << 20)   /* background takes seconds */
#define DIRTY_ROUNDS        3

#define HUGE_RAM "-object memory-backend-memfd,id=ram0,size=150M," \
                 "share=on,hugetlb=on,hugetlbsize=2M " \
                 "-machine memory-backend=ram0"

static const char *const to_postcopy[] = { "postcopy-active", "completed",
                                           NULL };

/* A number from /proc/meminfo ("HugePages_Free:" ...), or -1. */
static long meminfo_value(const char *key)
{
    g_autofree char *text = NULL;
    const char *p;

    if (!g_file_get_contents("/proc/meminfo", &text, NULL, NULL)) {
        return -1;
    }
    p = strstr(text, key);
    return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

static long read_nr_hugepages(void)
{
    g_autofree char *text = NULL;

    if (!g_file_get_contents(NR_HUGEPAGES, &text, NULL, NULL)) {
        return -1;
    }
    return strtol(text, NULL, 10);
}

/* In place: g_file_set_contents() would rename a temporary over it. */
static bool write_nr_hugepages(long n)
{
    FILE *f = fopen(NR_HUGEPAGES, "w");
    bool ok;

    if (!f) {
        return false;
    }
    ok = fprintf(f, "%ld\n", n) > 0;
    return fclose(f) == 0 && ok;
}

/*
 * Parent process: make PAGES_NEEDED free 2 MiB pages if it can.  The
 * previous value for restore_hugepages(), or -1 when nothing changed.
 */
static long reserve_hugepages(void)
{
    long free_pages = meminfo_value("HugePages_Free:");
    long prev = read_nr_hugepages();

    if (meminfo_value("Hugepagesize:") != HUGE_PAGE_KIB || prev < 0 ||
        free_pages >= PAGES_NEEDED) {
        return -1;
    }
    if (!write_nr_hugepages(prev + PAGES_NEEDED - free_pages)) {
        return -1;      /* not root: the cases skip */
    }
    return prev;
}

static void restore_hugepages(long prev)
{
    if (prev >= 0 && !write_nr_hugepages(prev)) {
        g_printerr("could not set %s back to %ld\n", NR_HUGEPAGES, prev);
    }
}

/* Why the cases cannot run (caller frees), or NULL. */
static char *hugepages_missing(void)
{
    long free_pages = meminfo_value("HugePages_Free:");
    long size = meminfo_value("Hugepagesize:");

    if (size != HUGE_PAGE_KIB || free_pages < PAGES_NEEDED) {
        return g_strdup_printf("needs %d free %d KiB hugetlb pages, has %ld "
                               "of %ld KiB (reserve them with %s as root)",
                               PAGES_NEEDED, HUGE_PAGE_KIB, free_pages, size,
                               NR_HUGEPAGES);
    }
    return NULL;
}

static void skip_case(gconstpointer why)
{
    g_test_skip(why);
}

static void run_hugepage(bool preempt, bool release_ram)
{
    QTestState *src, *dst;
    g_autofree char *uri = NULL;
    g_autoptr(JsonNode) info = NULL;
    g_autoptr(JsonNode) dinfo = NULL;

    src = mig_start_source(HUGE_RAM);
    uri = g_strdup_printf("unix:%s", qtest_path(src, "mig.sock"));
    dst = mig_start_dest(uri, HUGE_RAM);
    mig_set_capability_both(src, dst, "postcopy-ram", true);
    mig_set_capability_both(src, dst, "postcopy-preempt", preempt);
    mig_set_capability(dst, "postcopy-blocktime", preempt);
    mig_set_capability(src, "release-ram", release_ram);
    /* Never converges: the stamp guest rewrites ~99 MiB all the time. */
    mig_set_parameter(src, "downtime-limit", 1);
    mig_set_parameter(src, "max-bandwidth", PRECOPY_BW);
    mig_set_parameter(src, "max-postcopy-bandwidth", POSTCOPY_BW);
    mig_migrate(src, uri);
    mig_wait_dirty_syncs(src, DIRTY_ROUNDS);
    qtest_qmp_assert_success(src, "{\"execute\": \"migrate-start-postcopy\"}");
    g_free(mig_wait_status(src, to_postcopy));
    mig_wait_completed(src);
    info = mig_query(src);
    g_test_message("source: %" G_GINT64_FORMAT " dirty syncs, %"
                   G_GINT64_FORMAT " page requests",
                   mig_ram_counter(info, "dirty-sync-count"),
                   mig_ram_counter(info, "postcopy-requests"));
    g_assert_cmpint(mig_ram_counter(info, "dirty-sync-count"), >=,
                    DIRTY_ROUNDS);
    g_assert_cmpint(mig_ram_counter(info, "postcopy-requests"), >, 0);
    mig_wait_running(dst);
    mig_wait_completed(dst);
    if (!mig_is_qemu()) {
        dinfo = mig_query(dst);
        g_test_message("destination: %" G_GINT64_FORMAT " pages requested, "
                       "%" G_GINT64_FORMAT " from the preempt channel, "
                       "blocktime %" G_GINT64_FORMAT " ms",
                       mig_info_int(dinfo, "x-postcopy-pages-requested"),
                       mig_info_int(dinfo, "x-postcopy-preempt-pages"),
                       mig_info_int(dinfo, "postcopy-blocktime"));
        g_assert_cmpint(mig_info_int(dinfo, "x-postcopy-pages-requested"),
                        >, 0);
        if (preempt) {
            g_assert_cmpint(mig_info_int(dinfo, "x-postcopy-preempt-pages"),
                            >, 0);
            g_assert_cmpint(mig_info_int(dinfo, "postcopy-blocktime"), >, 0);
        }
    }
    /* release-ram leaves nothing on the source to compare with. */
    mig_check_dest_and_quit(src, dst, !release_ram);
}

static void test_postcopy(void)
{
    run_hugepage(false, false);
}

static void test_preempt(void)
{
    run_hugepage(true, false);
}

static void test_preempt_release_ram(void)
{
    run_hugepage(true, true);
}

static const struct {
    const char *path;
    void (*fn)(void);
} cases[] = {
    { "/postcopy-hugepage/postcopy", test_postcopy },
    { "/postcopy-hugepage/preempt", test_preempt },
    { "/postcopy-hugepage/preempt-release-ram", test_preempt_release_ram },
};

int main(int argc, char **argv)
{
    g_autofree char *why = NULL;
    long prev = -1;
    int ret;

    qtest_main_init(&argc, &argv);
    /*
     * Cases run in subprocesses: the parent reserves the pages for all of
     * them, and skips them itself (a subprocess that skips reads as
     * failed).
     */
    if (!g_test_subprocess()) {
        prev = reserve_hugepages();
        why = hugepages_missing();
    }
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        if (why) {
            g_test_add_data_func(cases[i].path, why, skip_case);
        } else {
            mig_add_case(cases[i].path, cases[i].fn, false);
        }
    }
    ret = g_test_run();
    restore_hugepages(prev);
    return ret;
}
