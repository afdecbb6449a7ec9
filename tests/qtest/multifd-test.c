/*
 * multifd qtests: the stamp guest migrated with the multifd capability
 * over 1, 2 and 4 channels (unix and tcp), with zlib and zstd, with zero
 * pages detected in the channel threads, and with the destination killed
 * mid-way (the source must fail cleanly and keep its guest).  Every
 * successful case ends with the destination checks of
 * migration-helpers.c (the guest runs on and keeps its invariant).
 *
 * Runs against qmig (QTEST_QMIG_BINARY, set by meson) or QEMU.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib.h>

#include "migration-helpers.h"

/* So slow that the migration is still active when we cut it. */
#define CRAWL_BW (4ULL << 20)

typedef struct MultiFDCase {
    int channels;
    bool tcp;
    const char *compression;        /* multifd-compression */
    const char *zero_detection;     /* NULL: the default (multifd) */
    const char *extra;              /* VM arguments */
    const char *dst_extra;          /* the destination's, if different */
} MultiFDCase;

static void set_multifd(QTestState *s, const MultiFDCase *c)
{
    mig_set_capability(s, "multifd", true);
    mig_set_parameter(s, "multifd-channels", c->channels);
    qtest_qmp_assert_success(s, "{\"execute\": \"migrate-set-parameters\", "
                             "\"arguments\": {\"multifd-compression\": "
                             "\"%s\"}}", c->compression);
    if (c->zero_detection) {
        qtest_qmp_assert_success(s, "{\"execute\": "
                                 "\"migrate-set-parameters\", "
                                 "\"arguments\": {\"zero-page-detection\": "
                                 "\"%s\"}}", c->zero_detection);
    }
}

/* Start the destination listening with multifd; returns the URI. */
static char *listen_dest(QTestState *src, QTestState *dst,
                         const MultiFDCase *c)
{
    g_autofree char *port = NULL;

    set_multifd(dst, c);
    if (!c->tcp) {
        char *uri = g_strdup_printf("unix:%s", qtest_path(src, "mig.sock"));

        mig_incoming(dst, uri, false);
        return uri;
    }
    mig_incoming(dst, "tcp:127.0.0.1:0", false);
    port = mig_dest_tcp_port(dst);
    return g_strdup_printf("tcp:127.0.0.1:%s", port);
}

/*
 * Migrate with @c, check the destination; returns the source's final
 * query-migrate.
 */
static JsonNode *run_case(const MultiFDCase *c)
{
    QTestState *src = mig_start_source(c->extra);
    QTestState *dst = mig_start_dest("defer", c->dst_extra ? c->dst_extra
                                                           : c->extra);
    g_autofree char *uri = listen_dest(src, dst, c);
    JsonNode *info;

    set_multifd(src, c);
    mig_migrate_and_check(src, dst, uri, false);
    info = mig_query(src);
    mig_quit_clean(src);
    mig_quit_clean(dst);
    return info;
}

/* Uncompressed: the channels carried the pages, the main stream little. */
static void check_plain(JsonNode *info)
{
    int64_t normal = mig_ram_counter(info, "normal");
    int64_t mfd = mig_ram_counter(info, "multifd-bytes");

    g_assert_cmpint(normal, >, (50 << 20) / 4096);
    g_assert_cmpint(mfd, >=, normal * 4096);
    g_assert_cmpint(mig_ram_counter(info, "transferred"), >=, mfd);
    g_assert_cmpint(mig_ram_counter(info, "remaining"), ==, 0);
}

static void run_plain(int channels, bool tcp)
{
    MultiFDCase c = { .channels = channels, .tcp = tcp,
                      .compression = "none" };
    g_autoptr(JsonNode) info = run_case(&c);

    check_plain(info);
}

static void test_unix_1(void) { run_plain(1, false); }
static void test_unix_2(void) { run_plain(2, false); }
static void test_unix_4(void) { run_plain(4, false); }
static void test_tcp_1(void) { run_plain(1, true); }
static void test_tcp_2(void) { run_plain(2, true); }
static void test_tcp_4(void) { run_plain(4, true); }

static void run_compressed(const char *method)
{
    MultiFDCase c = { .channels = 2, .compression = method };
    g_autoptr(JsonNode) info = run_case(&c);
    int64_t normal = mig_ram_counter(info, "normal");
    int64_t mfd = mig_ram_counter(info, "multifd-bytes");

    g_assert_cmpint(normal, >, (50 << 20) / 4096);
    g_assert_cmpint(mfd, >, 0);
    /*
     * The stamp guest's pages compress: less than the raw pages went.
     * (QEMU 7.2 counts multifd-bytes before compression: qmig only.)
     */
    if (!mig_is_qemu()) {
        g_assert_cmpint(mfd, <, normal * 4096 / 4);
    }
}

/*
 * Run @c with the source's RAM a memory-backend-file of @mib MiB on a new
 * sparse file (share=@share), the destination's a memfd of that size.
 */
static JsonNode *run_file_backed(MultiFDCase *c, int mib, const char *share)
{
    g_autofree char *path = g_strdup_printf("%s/multifd-ram-%d.bin",
                                            g_get_tmp_dir(), getpid());
    g_autofree char *src_args = g_strdup_printf(
        "-m %dM -object memory-backend-file,id=ram0,size=%dM,"
        "mem-path=%s,share=%s -machine memory-backend=ram0",
        mib, mib, path, share);
    g_autofree char *dst_args = g_strdup_printf(
        "-m %dM -object memory-backend-memfd,id=ram0,size=%dM "
        "-machine memory-backend=ram0", mib, mib);
    FILE *f = fopen(path, "w");
    JsonNode *info;

    g_assert_nonnull(f);
    g_assert_cmpint(ftruncate(fileno(f), (off_t)mib << 20), ==, 0);
    fclose(f);
    c->extra = src_args;
    c->dst_extra = dst_args;
    info = run_case(c);
    unlink(path);
    return info;
}

/*
 * Shared file-backed RAM: the source's channels read their pages from
 * the file (one pread per packet), the destination's write them into
 * its memfd with pwrite; the stamp invariant must hold.
 */
static void run_shared(const char *method)
{
    MultiFDCase c = { .channels = 2, .compression = method };
    g_autoptr(JsonNode) info = run_file_backed(&c, 150, "on");

    g_assert_cmpint(mig_ram_counter(info, "normal"), >, (50 << 20) / 4096);
}

static void test_shared_none(void) { run_shared("none"); }
static void test_shared_zstd(void) { run_shared("zstd"); }

static void test_zlib(void) { run_compressed("zlib"); }
static void test_zstd(void) { run_compressed("zstd"); }

/*
 * A 256 MiB guest whose RAM is a private mapping of a sparse file: the
 * source must send every page (unpopulated ones read the file), and all
 * but the stamp guest's working set (~100 MiB) are zero.
 */
#define ZERO_GUEST_PAGES ((256 << 20) / 4096)

static JsonNode *run_zero_case(const char *detection)
{
    MultiFDCase c = {
        .channels = 2, .compression = "none", .zero_detection = detection,
    };

    return run_file_backed(&c, 256, "off");
}

/*
 * Zero pages found by the channel threads (zero-page-detection=multifd):
 * well over 100 MiB of them go as offsets only, without data.
 */
static void test_zero_pages(void)
{
    g_autoptr(JsonNode) info = run_zero_case("multifd");
    int64_t normal = mig_ram_counter(info, "normal");
    int64_t dup = mig_ram_counter(info, "duplicate");

    g_assert_cmpint(dup, >, (100 << 20) / 4096);
    g_assert_cmpint(normal, >, (50 << 20) / 4096);
    g_assert_cmpint(mig_ram_counter(info, "multifd-bytes"), >=,
                    normal * 4096);
    /* Zero pages carried no page data. */
    g_assert_cmpint(mig_ram_counter(info, "multifd-bytes"), <,
                    (normal + dup / 2) * 4096);
}

/*
 * zero-page-detection=none: every page goes as data, none counts as a
 * zero page (so the count above really comes from the channel threads).
 */
static void test_zero_detection_off(void)
{
    g_autoptr(JsonNode) info = run_zero_case("none");

    g_assert_cmpint(mig_ram_counter(info, "duplicate"), ==, 0);
    g_assert_cmpint(mig_ram_counter(info, "normal"), >=, ZERO_GUEST_PAGES);
    check_plain(info);
}

/* The destination dies mid-way: the source fails and its guest runs on. */
static void test_dest_killed(void)
{
    static const char *const active[] = { "active", NULL };
    static const char *const failed[] = { "failed", NULL };
    MultiFDCase c = { .channels = 2, .compression = "none" };
    QTestState *src = mig_start_source(NULL);
    QTestState *dst = mig_start_dest("defer", NULL);
    g_autofree char *uri = listen_dest(src, dst, &c);
    g_autofree char *st = NULL;
    g_autofree char *st2 = NULL;
    int status;

    set_multifd(src, &c);
    mig_set_parameter(src, "max-bandwidth", CRAWL_BW);
    mig_migrate(src, uri);
    st = mig_wait_status(src, active);
    /* Pages are flowing on the channels, not just connected. */
    mig_wait_ram_counter_above(src, "multifd-bytes", 1 << 20);
    g_assert_cmpint(kill(qtest_pid(dst), SIGKILL), ==, 0);
    g_assert_true(qtest_wait_exit(dst, qtest_timeout_s(), &status));
    qtest_quit(dst);
    /* Unthrottled, the channels hit the dead peer at once. */
    mig_set_parameter(src, "max-bandwidth", MIG_BW_UNLIMITED);
    st2 = mig_wait_status(src, failed);
    mig_assert_running(src);
    mig_wait_more_passes(src, 1);
    mig_check_stamp(src, true);
    mig_quit_clean(src);
}

/* Cancelled mid-way: the channels go down, the guest runs on. */
static void test_cancel(void)
{
    static const char *const active[] = { "active", NULL };
    static const char *const cancelled[] = { "cancelled", NULL };
    MultiFDCase c = { .channels = 4, .compression = "none" };
    QTestState *src = mig_start_source(NULL);
    QTestState *dst = mig_start_dest("defer", NULL);
    g_autofree char *uri = listen_dest(src, dst, &c);
    g_autofree char *st = NULL;
    g_autofree char *st2 = NULL;

    set_multifd(src, &c);
    mig_set_parameter(src, "max-bandwidth", CRAWL_BW);
    mig_migrate(src, uri);
    st = mig_wait_status(src, active);
    qtest_qmp_assert_success(src, "{\"execute\": \"migrate_cancel\"}");
    st2 = mig_wait_status(src, cancelled);
    mig_assert_running(src);
    mig_wait_more_passes(src, 1);
    mig_check_stamp(src, true);
    mig_quit_clean(src);
    qtest_quit(dst);
}

/* fd:, exec: and file: have one channel only: refused up front. */
static void test_refused_uris(void)
{
    static const char *const uris[] = {
        "exec:cat > /dev/null", "fd:nosuchfd", "file:/tmp/multifd-no", NULL
    };
    MultiFDCase c = { .channels = 2, .compression = "none" };
    QTestState *src = mig_start_source(NULL);

    set_multifd(src, &c);
    for (int i = 0; uris[i]; i++) {
        qtest_qmp_assert_error(src, "multi", "{\"execute\": \"migrate\", "
                               "\"arguments\": {\"uri\": \"%s\"}}",
                               uris[i]);
    }
    mig_assert_running(src);
    mig_quit_clean(src);
}

/* ---- a hand-made source: the destination's end of stream ---- */

#define FAKE_RAM_SIZE (150ULL << 20)        /* the stamp machine's pc.ram */
#define FAKE_HDR_SIZE (320 + 8 * 128)       /* multifd packet header */
#define FAKE_PAGE 4096
/* Two pages the channel writes (the guest never runs: -S or failure). */
#define PAGE_A (120ULL << 20)
#define PAGE_B (121ULL << 20)
#define RAM_FLAG_EOS 0x10
#define RAM_FLAG_MEM_SIZE 0x04
#define RAM_FLAG_MULTIFD_FLUSH 0x200

static void send_bytes(int fd, GByteArray *a)
{
    g_assert_cmpint(send(fd, a->data, a->len, MSG_NOSIGNAL), ==, a->len);
    g_byte_array_set_size(a, 0);
}

/* Header, configuration and the "ram" SECTION_START (block list). */
static void fake_main_start(GByteArray *a)
{
    mig_put_stream_header(a);
    mig_put_ram_start(a, 1, FAKE_RAM_SIZE);
    mig_put_be64(a, RAM_FLAG_EOS);
    mig_put_u8(a, 0x7e);
    mig_put_be32(a, 1);
}


/* The rest of the "ram" SECTION_END after its first records, then EOF. */
static void fake_main_end(GByteArray *a)
{
    mig_put_be64(a, RAM_FLAG_EOS);
    mig_put_u8(a, 0x7e);
    mig_put_be32(a, 1);
    mig_put_u8(a, 0x00);                    /* EOF */
}

/*
 * Send @a, the end of the main stream; no vmdesc follows: the
 * destination peeks for one until the stream ends.
 */
static void fake_main_close(int main_fd, GByteArray *a)
{
    send_bytes(main_fd, a);
    g_assert_cmpint(shutdown(main_fd, SHUT_WR), ==, 0);
}

/* The channel's init message: id 0, no -uuid (zeros). */
static void fake_channel_init(GByteArray *a)
{
    uint8_t pad[64 - 8] = { 0 };

    mig_put_be32(a, 0x11223344);
    mig_put_be32(a, 1);
    g_byte_array_append(a, pad, sizeof(pad));
}

/* One packet: a page of @fill at @offset of pc.ram, or a SYNC (fill 0). */
static void fake_packet(GByteArray *a, uint64_t packet_num, uint64_t offset,
                        uint8_t fill)
{
    uint8_t zeros[FAKE_HDR_SIZE] = { 0 };
    uint8_t page[FAKE_PAGE];
    guint start = a->len;

    mig_put_be32(a, 0x11223344);
    mig_put_be32(a, 1);
    mig_put_be32(a, fill ? 0 : 1);              /* SYNC */
    mig_put_be32(a, 128);                       /* pages_alloc */
    mig_put_be32(a, fill ? 1 : 0);              /* normal pages */
    mig_put_be32(a, fill ? FAKE_PAGE : 0);      /* data bytes */
    mig_put_be64(a, packet_num);
    g_byte_array_append(a, zeros, 64 - 32); /* zero pages, reserved */
    g_assert_cmpuint(a->len - start, ==, 64);
    if (fill) {
        g_byte_array_append(a, (const uint8_t *)"pc.ram", 6);
    }
    g_byte_array_append(a, zeros, start + 320 - a->len);
    if (fill) {
        mig_put_be64(a, offset);
    }
    g_byte_array_append(a, zeros, start + FAKE_HDR_SIZE - a->len);
    if (fill) {
        memset(page, fill, sizeof(page));
        g_byte_array_append(a, page, sizeof(page));
    }
}

/* The channel's init message and page A, then (@sync) a SYNC. */
static void fake_channel_round(int ch, GByteArray *a, bool sync)
{
    fake_channel_init(a);
    fake_packet(a, 0, PAGE_A, 0xa5);
    if (sync) {
        fake_packet(a, 1, 0, 0);
    }
    send_bytes(ch, a);
}

static void fake_close(QTestState *dst, int main_fd, int ch)
{
    close(ch);
    close(main_fd);
    mig_quit_clean(dst);
}

/*
 * A destination for one uncompressed multifd channel (@extra: its
 * options) and the two connections of a fake source to it: *@main
 * first, so it is accepted as the main channel, then *@ch.
 */
static QTestState *fake_dest(const char *extra, int *main_fd, int *ch)
{
    MultiFDCase c = { .channels = 1, .compression = "none" };
    QTestState *dst = mig_start_dest("defer", extra);
    g_autofree char *uri = g_strdup_printf("unix:%s",
                                           qtest_path(dst, "mig.sock"));

    set_multifd(dst, &c);
    mig_incoming(dst, uri, true);
    *main_fd = mig_connect_unix(qtest_path(dst, "mig.sock"));
    *ch = mig_connect_unix(qtest_path(dst, "mig.sock"));
    return dst;
}

/* The hand-made stream names qmig's machine type and RAM block. */
static bool skip_unless_qmig(void)
{
    if (mig_is_qemu()) {
        g_test_skip("the hand-made stream is qmig's (machine, RAM block)");
        return true;
    }
    return false;
}

/* The first byte of guest page @addr on @s. */
static uint8_t guest_byte(QTestState *s, uint64_t addr)
{
    g_autoptr(GBytes) b = mig_pmemsave(s, addr, 1);

    return *(const uint8_t *)g_bytes_get_data(b, NULL);
}

/* Poll until guest page @addr of @s starts with @fill (bounded). */
static void wait_guest_byte(QTestState *s, uint64_t addr, uint8_t fill)
{
    gint64 deadline = g_get_monotonic_time() +
                      (gint64)qtest_timeout_s() * G_USEC_PER_SEC;

    while (guest_byte(s, addr) != fill) {
        if (g_get_monotonic_time() > deadline) {
            g_error("page 0x%llx never got the channel's data",
                    (unsigned long long)addr);
        }
        g_usleep(MIG_POLL_MS * 1000);
    }
}

/* The load failed with @want in its error, and the guest never ran. */
static void assert_load_failed(QTestState *dst, const char *want)
{
    static const char *const failed[] = { "failed", NULL };
    g_autofree char *st = mig_wait_status(dst, failed);
    g_autoptr(JsonNode) info = mig_query(dst);

    g_test_message("destination: %s", mig_error_desc(info));
    g_assert_nonnull(strstr(mig_error_desc(info), want));
    qtest_assert_status(dst, "inmigrate");
}

/*
 * The positive case of the hand-made source: a page, SYNC, the main
 * stream's final flush, EOF.  The load completes with the page, and the
 * destination has shut the channel down before it says so: no channel
 * thread is left to write guest RAM once the guest may run.
 */
static void test_fake_source_ok(void)
{
    static const char *const done[] = { "completed", NULL };
    g_autoptr(GByteArray) a = g_byte_array_new();
    g_autofree char *st = NULL;
    int main_fd, ch;
    QTestState *dst;
    char c;

    if (skip_unless_qmig()) {
        return;
    }
    dst = fake_dest("-S", &main_fd, &ch);
    fake_channel_round(ch, a, true);
    fake_main_start(a);
    mig_put_u8(a, 0x03);                        /* SECTION_END */
    mig_put_be32(a, 1);
    mig_put_be64(a, RAM_FLAG_MULTIFD_FLUSH);
    fake_main_end(a);
    fake_main_close(main_fd, a);
    st = mig_wait_status(dst, done);
    g_assert_cmpint(guest_byte(dst, PAGE_A), ==, 0xa5);
    /* Shut down by the destination already: EOF, not "would block". */
    g_assert_cmpint(recv(ch, &c, 1, MSG_DONTWAIT), ==, 0);
    fake_close(dst, main_fd, ch);
}

/*
 * A source that omits the final MULTIFD_FLUSH: the page it sent on the
 * channel may not have landed when the main stream ends, so the
 * destination fails rather than run a guest that may lack it.
 */
static void test_fake_no_final_sync(void)
{
    g_autoptr(GByteArray) a = g_byte_array_new();
    int main_fd, ch;
    QTestState *dst;

    if (skip_unless_qmig()) {
        return;
    }
    dst = fake_dest(NULL, &main_fd, &ch);
    fake_channel_round(ch, a, false);
    fake_main_start(a);
    mig_put_u8(a, 0x03);
    mig_put_be32(a, 1);
    fake_main_end(a);
    fake_main_close(main_fd, a);
    assert_load_failed(dst, "without a final multifd sync");
    fake_close(dst, main_fd, ch);
}

/*
 * A channel that carries a page after its last SYNC (the page lands:
 * the destination's channel thread was released by the flush), then the
 * main stream ends: that page is part of no sync round, the load fails.
 */
static void test_fake_page_after_sync(void)
{
    g_autoptr(GByteArray) a = g_byte_array_new();
    int main_fd, ch;
    QTestState *dst;

    if (skip_unless_qmig()) {
        return;
    }
    dst = fake_dest("-S", &main_fd, &ch);
    fake_channel_round(ch, a, true);
    fake_main_start(a);
    mig_put_u8(a, 0x03);
    mig_put_be32(a, 1);
    mig_put_be64(a, RAM_FLAG_MULTIFD_FLUSH);
    send_bytes(main_fd, a);
    wait_guest_byte(dst, PAGE_A, 0xa5);
    fake_packet(a, 2, PAGE_B, 0xb6);
    send_bytes(ch, a);
    wait_guest_byte(dst, PAGE_B, 0xb6);
    fake_main_end(a);
    fake_main_close(main_fd, a);
    assert_load_failed(dst, "carried pages after its last sync point");
    fake_close(dst, main_fd, ch);
}

int main(int argc, char **argv)
{
    qtest_main_init(&argc, &argv);

    mig_add_case("/multifd/unix/1", test_unix_1, false);
    mig_add_case("/multifd/unix/2", test_unix_2, false);
    mig_add_case("/multifd/unix/4", test_unix_4, false);
    mig_add_case("/multifd/tcp/1", test_tcp_1, false);
    mig_add_case("/multifd/tcp/2", test_tcp_2, false);
    mig_add_case("/multifd/tcp/4", test_tcp_4, false);
    mig_add_case("/multifd/zlib", test_zlib, false);
    mig_add_case("/multifd/shared-file", test_shared_none, false);
    mig_add_case("/multifd/shared-file-zstd", test_shared_zstd, false);
    mig_add_case("/multifd/zstd", test_zstd, false);
    /* zero-page-detection came with QEMU 9.0. */
    mig_add_case_qemu_min("/multifd/zero-pages", test_zero_pages, false,
                          9, 0);
    mig_add_case_qemu_min("/multifd/zero-pages-off", test_zero_detection_off,
                          false, 9, 0);
    mig_add_case("/multifd/fault/dest-killed", test_dest_killed, false);
    mig_add_case("/multifd/fault/cancel", test_cancel, false);
    /* QEMU 7.2 accepts exec: with multifd and fails later. */
    mig_add_case_qemu_min("/multifd/fault/refused-uris", test_refused_uris,
                          false, 9, 0);
    mig_add_case("/multifd/stream/fake-source-ok", test_fake_source_ok,
                 false);
    mig_add_case("/multifd/stream/no-final-sync", test_fake_no_final_sync,
                 false);
    mig_add_case("/multifd/stream/page-after-sync", test_fake_page_after_sync,
                 false);
    return g_test_run();
}
