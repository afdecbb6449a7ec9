/*
 * Postcopy qtests (postcopy-ram, release-ram, migrate-start-postcopy).
 *
 * - the stamp guest over a link too slow for precopy to finish: after
 *   migrate-start-postcopy the migration completes, the destination
 *   asked for pages (postcopy-requests on the source), its guest holds
 *   the stamp invariant and carried on counting from the source's state;
 *   the source stays stopped;
 * - a rate guest that does not converge finishes by postcopy;
 * - migrate-start-postcopy without the capability is QEMU's error and the
 *   migration goes on to complete as precopy;
 * - hostile input: a destination given a DISCARD outside RAM, and a
 *   source given a page request outside RAM, fail with a message (and
 *   the source's guest runs on: it never switched);
 * - release-ram: the same as the first, and the source's memory reads
 *   as zero where pages were released.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "libqtest.h"
#include "migration-helpers.h"

#define SLOW_PRECOPY_BW     (8ULL << 20)    /* 150 MiB cannot go in time */
#define POSTCOPY_BW         (32ULL << 20)   /* background takes seconds */
#define STAMP_START         0x00100000ULL
#define STAMP_SIZE          (99ULL << 20)
#define RATE_WSET_MIB       32

static const char *const to_postcopy[] = { "postcopy-active", "completed",
                                           NULL };

/* Wait until precopy runs, then switch. */
static void start_postcopy(QTestState *src)
{
    static const char *const active[] = { "active", NULL };
    g_autofree char *st = mig_wait_status(src, active);

    mig_wait_more_passes(src, 1);
    qtest_qmp_assert_success(src, "{\"execute\": \"migrate-start-postcopy\"}");
    g_free(mig_wait_status(src, to_postcopy));
}

/* The common case; @release_ram on the source. */
static void run_postcopy(bool release_ram)
{
    QTestState *dst = NULL;
    g_autofree char *uri = NULL;
    QTestState *src = mig_start_pair(NULL, NULL, &dst, &uri);
    g_autoptr(JsonNode) info = NULL;
    int64_t requests;

    mig_set_capability_both(src, dst, "postcopy-ram", true);
    if (release_ram) {
        mig_set_capability(src, "release-ram", true);
    }
    mig_set_parameter(src, "max-bandwidth", SLOW_PRECOPY_BW);
    mig_set_parameter(src, "max-postcopy-bandwidth", POSTCOPY_BW);
    mig_migrate(src, uri);
    start_postcopy(src);
    mig_wait_completed(src);
    info = mig_query(src);
    requests = mig_ram_counter(info, "postcopy-requests");
    g_test_message("postcopy-requests %" G_GINT64_FORMAT ", postcopy-bytes %"
                   G_GINT64_FORMAT, requests,
                   mig_ram_counter(info, "postcopy-bytes"));
    g_assert_cmpint(requests, >, 0);
    g_assert_cmpint(mig_ram_counter(info, "postcopy-bytes"), >, 0);
    qtest_assert_status(src, "postmigrate");
    if (release_ram) {
        /* Released pages read as zero here; the guest had stamped them. */
        g_autofree char *dump = g_strdup_printf("%s", qtest_path(src,
                                                                 "src.mem"));
        g_autofree char *data = NULL;
        gsize len = 0;
        size_t zero = 0;
        static const uint8_t zpage[4096];

        qtest_qmp_assert_success(src, "{\"execute\": \"pmemsave\", "
                                 "\"arguments\": {\"val\": %llu, \"size\": "
                                 "%llu, \"filename\": \"%s\"}}",
                                 STAMP_START, STAMP_SIZE, dump);
        g_assert_true(g_file_get_contents(dump, &data, &len, NULL));
        for (gsize off = 0; off + 4096 <= len; off += 4096) {
            zero += !memcmp(data + off, zpage, 4096);
        }
        g_test_message("%zu zero pages on the source after release-ram",
                       zero);
        g_assert_cmpuint(zero, >, 0);
        unlink(dump);
    }
    mig_check_dest_and_quit(src, dst, !release_ram);
}

static void test_postcopy(void)
{
    run_postcopy(false);
}

static void test_release_ram(void)
{
    run_postcopy(true);
}

/* A working set the link never catches up with, finished by postcopy. */
static void test_rate_guest(void)
{
    g_autofree char *image = mig_rate_image(RATE_WSET_MIB, 0);
    g_autofree char *args = mig_machine_args(qtest_accel(), image, NULL);
    QTestState *src = mig_start_guest(qtest_accel(), image, NULL);
    g_autofree char *uri = g_strdup_printf("unix:%s",
                                           qtest_path(src, "mig.sock"));
    QTestState *dst = qtest_initf("%s -incoming %s", args, uri);

    mig_set_capability_both(src, dst, "postcopy-ram", true);
    mig_set_parameter(src, "max-bandwidth", 32ULL << 20);
    mig_set_parameter(src, "downtime-limit", 100);
    mig_migrate(src, uri);
    start_postcopy(src);
    mig_wait_completed(src);
    g_assert_cmpint(mig_ram_counter(mig_query(src), "postcopy-bytes"), >, 0);
    mig_check_rate_memory(dst, RATE_WSET_MIB);
    mig_quit_clean(src);
    mig_quit_clean(dst);
    unlink(image);
}

/* QEMU's error without the capability; the migration is not disturbed. */
static void test_no_capability(void)
{
    static const char *const active[] = { "active", NULL };
    QTestState *dst = NULL;
    g_autofree char *uri = NULL;
    QTestState *src = mig_start_pair(NULL, NULL, &dst, &uri);
    g_autoptr(JsonNode) rsp = NULL;
    g_autofree char *st = NULL;
    g_autofree char *txt = NULL;

    mig_set_parameter(src, "max-bandwidth", SLOW_PRECOPY_BW);
    mig_migrate(src, uri);
    st = mig_wait_status(src, active);
    rsp = qtest_qmp(src, "{\"execute\": \"migrate-start-postcopy\"}");
    txt = qmp_to_string(rsp);
    g_assert_nonnull(strstr(txt, "Enable postcopy with "
                            "migrate_set_capability before the start of "
                            "migration"));
    g_free(st);
    st = mig_status(src);
    g_assert_cmpstr(st, ==, "active");
    mig_set_unlimited(src);
    mig_wait_completed(src);
    mig_check_dest_and_quit(src, dst, true);
}

/* ---- hostile input ---- */

/* Header, ADVISE (4 KiB pages), one DISCARD of @start/@len in pc.ram. */
static GByteArray *discard_stream(uint64_t start, uint64_t len)
{
    static const char machine[] = "pc-i440fx";
    static const char block[] = "pc.ram";
    GByteArray *a = g_byte_array_new();
    uint8_t b;

    mig_put_be32(a, 0x5145564d);
    mig_put_be32(a, 3);
    b = 0x07;
    g_byte_array_append(a, &b, 1);
    mig_put_be32(a, strlen(machine));
    g_byte_array_append(a, (const uint8_t *)machine, strlen(machine));
    b = 0x08;                                   /* ADVISE */
    g_byte_array_append(a, &b, 1);
    mig_put_be16(a, 3);
    mig_put_be16(a, 16);
    mig_put_be64(a, 4096);
    mig_put_be64(a, 4096);
    g_byte_array_append(a, &b, 1);              /* DISCARD */
    mig_put_be16(a, 6);
    mig_put_be16(a, 3 + strlen(block) + 16);
    b = 0;                                      /* version */
    g_byte_array_append(a, &b, 1);
    b = strlen(block);
    g_byte_array_append(a, &b, 1);
    g_byte_array_append(a, (const uint8_t *)block, strlen(block));
    b = 0;
    g_byte_array_append(a, &b, 1);
    mig_put_be64(a, start);
    mig_put_be64(a, len);
    return a;
}

static void run_bad_discard(uint64_t start, uint64_t len)
{
    static const char *const failed[] = { "failed", NULL };
    QTestState *dst = mig_start_dest("defer", NULL);
    g_autofree char *file = g_strdup_printf("%s", qtest_path(dst, "s.bin"));
    g_autofree char *uri = g_strdup_printf("exec:cat %s", file);
    g_autoptr(GByteArray) stream = discard_stream(start, len);
    g_autoptr(JsonNode) info = NULL;
    g_autofree char *st = NULL;

    g_assert_true(g_file_set_contents(file, (const char *)stream->data,
                                      stream->len, NULL));
    mig_set_capability(dst, "postcopy-ram", true);
    mig_incoming(dst, uri, true);
    st = mig_wait_status(dst, failed);
    info = mig_query(dst);
    g_test_message("destination: %s", mig_error_desc(info));
    g_assert_nonnull(strstr(mig_error_desc(info), "CMD_POSTCOPY_RAM_DISCARD"));
    g_assert_nonnull(strstr(mig_error_desc(info), "pc.ram"));
    unlink(file);
    mig_quit_clean(dst);
}

static void test_bad_discard(void)
{
    run_bad_discard(1ULL << 40, 4096);          /* far outside */
    run_bad_discard(150ULL << 20, 4096);        /* just past the end */
    run_bad_discard((150ULL << 20) - 4096, 8192);  /* straddles the end */
    run_bad_discard(0, UINT64_MAX & ~4095ULL);  /* wraps */
    run_bad_discard(4097, 4096);                /* unaligned */
}

/*
 * A fake destination for @src (postcopy-ram on, precopy crawling): the
 * main channel accepted, its first bytes read, the migration active.
 * Returns the connection; *@lfd is the listener.
 */
static int fake_dest_accept(QTestState *src, int *lfd)
{
    static const char *const active[] = { "active", NULL };
    const char *path = qtest_path(src, "fake.sock");
    g_autofree char *uri = g_strdup_printf("unix:%s", path);
    uint8_t head[8];
    int cfd;

    *lfd = qtest_unix_listen(path);
    mig_set_capability(src, "postcopy-ram", true);
    mig_set_parameter(src, "max-bandwidth", SLOW_PRECOPY_BW);
    mig_migrate(src, uri);
    cfd = accept(*lfd, NULL, NULL);
    g_assert_cmpint(cfd, >=, 0);
    g_assert_cmpint(recv(cfd, head, sizeof(head), MSG_WAITALL), ==,
                    sizeof(head));
    /* Once RAM is set up a request is checked against its blocks. */
    g_free(mig_wait_status(src, active));
    return cfd;
}

/* A REQ_PAGES_ID for @len bytes at @start of pc.ram. */
static void put_req_pages(GByteArray *req, uint64_t start, uint32_t len)
{
    mig_put_be16(req, 3);                       /* REQ_PAGES_ID */
    mig_put_be16(req, 12 + 1 + 6);
    mig_put_be64(req, start);
    mig_put_be32(req, len);
    mig_put_counted(req, "pc.ram");
}

/*
 * The source failed with @want in its error after the fake destination's
 * requests; it never switched: its guest runs on, memory intact.
 */
static void assert_source_refused(QTestState *src, int cfd, int lfd,
                                  const char *want)
{
    static const char *const failed[] = { "failed", NULL };
    g_autofree char *st = mig_wait_status(src, failed);
    g_autoptr(JsonNode) info = mig_query(src);

    g_test_message("source: %s", mig_error_desc(info));
    g_assert_nonnull(strstr(mig_error_desc(info), want));
    close(cfd);
    close(lfd);
    mig_assert_running(src);
    mig_wait_more_passes(src, 1);
    mig_check_stamp(src, true);
    mig_quit_clean(src);
}

/* A fake destination asks for a page outside pc.ram. */
static void test_bad_request(void)
{
    QTestState *src = mig_start_source(NULL);
    g_autoptr(GByteArray) req = g_byte_array_new();
    int lfd;
    int cfd = fake_dest_accept(src, &lfd);

    put_req_pages(req, 1ULL << 40, 4096);
    g_assert_cmpint(write(cfd, req->data, req->len), ==, req->len);
    assert_source_refused(src, cfd, lfd, "request overrun");
}

/*
 * A fake destination floods valid page requests while the source is
 * still in precopy (postcopy-ram on, no switch): nothing would drain
 * them before a switch that may never come, so the source refuses the
 * first one, fails the migration and runs on; its memory does not grow.
 */
static void test_precopy_requests(void)
{
    QTestState *src = mig_start_source(NULL);
    g_autoptr(GByteArray) req = g_byte_array_new();
    int lfd;
    int cfd = fake_dest_accept(src, &lfd);

    for (int i = 0; i < 20000; i++) {
        put_req_pages(req, (uint64_t)(i % 1000) * 4096, 4096);
    }
    /* The source may stop reading at the first: short writes are fine. */
    (void)!send(cfd, req->data, req->len, MSG_NOSIGNAL);
    assert_source_refused(src, cfd, lfd, "during precopy");
}

int main(int argc, char **argv)
{
    qtest_main_init(&argc, &argv);
    mig_add_case("/postcopy/basic", test_postcopy, false);
    mig_add_case("/postcopy/rate-guest", test_rate_guest, false);
    mig_add_case("/postcopy/no-capability", test_no_capability, false);
    mig_add_case("/postcopy/bad-discard", test_bad_discard, false);
    mig_add_case("/postcopy/bad-request", test_bad_request, false);
    mig_add_case("/postcopy/precopy-requests", test_precopy_requests, false);
    mig_add_case("/postcopy/release-ram", test_release_ram, false);
    return g_test_run();
}
