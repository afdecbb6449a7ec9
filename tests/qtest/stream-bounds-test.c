/*
 * Resource bounds of the destination: an endless valid stream of
 * repeated records must not grow the destination's memory.
 *
 * A fake source (this test) opens the return path and then sends, for a
 * given number of MiB, rounds of: the "ram" SECTION_START again (block
 * list only) under fresh section ids, a "ram" SECTION_PART re-sending the
 * same pages, and PINGs (the PONGs are read and dropped).  Every record
 * is valid and none is ever finished, so a destination that keeps
 * something per record (a section table, a queue) grows with the stream.
 * The check: VmRSS of the destination qmig after the stream, against
 * after a warm-up, grows by less than RSS_SLACK.
 *
 * The default suite sends STREAM_MIB; the 'slow' suite (-m slow) sends
 * STREAM_SLOW_MIB.  qmig only: the stream names qmig's machine type.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <poll.h>
#include <unistd.h>
#include <sys/socket.h>
#include <glib.h>

#include "migration-helpers.h"

#define STREAM_MIB 48
#define STREAM_SLOW_MIB 4096
#define WARMUP_MIB 8
#define RSS_SLACK_KIB (4 * 1024)
#define RAM_SIZE (150ULL << 20)
#define STARTS_PER_ROUND 512
#define PAGES_PER_ROUND 4
#define PINGS_PER_ROUND 4
/* Above any PING counter value (about 280000 for the slow case). */
#define PONG_MARK 0xfeedf00dU

/* The destination under test, for the reason when it stops reading. */
static QTestState *cur_dst;

static void send_all(int fd, GByteArray *a)
{
    for (guint done = 0; done < a->len;) {
        ssize_t n = send(fd, a->data + done, a->len - done, MSG_NOSIGNAL);

        if (n <= 0) {
            g_autoptr(JsonNode) info = mig_query(cur_dst);

            g_error("the destination stopped reading (%s): %s",
                    n < 0 ? g_strerror(errno) : "closed",
                    mig_error_desc(info));
        }
        done += n;
    }
    g_byte_array_set_size(a, 0);
}

/* Read and drop whatever the return path holds (PONGs, 8 bytes each). */
static void drain(int fd)
{
    char buf[8 * 512];

    while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
        continue;
    }
}

/*
 * Read the return path until the PONG for @value: everything sent before
 * its PING has been loaded.  Bounded by qtest_timeout_s().
 */
static void wait_pong(int fd, uint32_t value)
{
    uint8_t want[4] = { value >> 24, value >> 16, value >> 8, value };
    uint8_t last[4] = { 0 };
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    gint64 deadline = g_get_monotonic_time() +
                      (gint64)qtest_timeout_s() * G_USEC_PER_SEC;

    while (memcmp(last, want, 4)) {
        uint8_t b;

        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        if (poll(&pfd, 1, 100) <= 0) {
            continue;
        }
        g_assert_cmpint(recv(fd, &b, 1, 0), ==, 1);
        memmove(last, last + 1, 3);
        last[3] = b;
    }
}

static void put_ram_start(GByteArray *a, uint32_t id)
{
    mig_put_ram_start(a, id, RAM_SIZE);
    mig_put_be64(a, 0x10);                  /* EOS */
    mig_put_u8(a, 0x7e);
    mig_put_be32(a, id);
}

/* A PART of section @id re-sending the same pages at 64 MiB. */
static void put_ram_part(GByteArray *a, uint32_t id)
{
    uint8_t page[4096];

    memset(page, 0x5a, sizeof(page));
    mig_put_u8(a, 0x02);                    /* SECTION_PART */
    mig_put_be32(a, id);
    for (int i = 0; i < PAGES_PER_ROUND; i++) {
        uint64_t off = (64ULL << 20) + i * 4096ULL;

        mig_put_be64(a, off | 0x08 | (i ? 0x20 : 0));   /* PAGE, CONTINUE */
        if (!i) {
            mig_put_counted(a, "pc.ram");
        }
        g_byte_array_append(a, page, sizeof(page));
    }
    mig_put_be64(a, 0x10);
    mig_put_u8(a, 0x7e);
    mig_put_be32(a, id);
}

static void put_command(GByteArray *a, uint16_t cmd, uint16_t len,
                        uint32_t value)
{
    mig_put_u8(a, 0x08);                    /* COMMAND */
    mig_put_be16(a, cmd);
    mig_put_be16(a, len);
    if (len) {
        mig_put_be32(a, value);
    }
}

static long rss_kib(QTestState *s)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status",
                                            (int)qtest_pid(s));
    g_autofree char *text = NULL;
    const char *line;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    line = strstr(text, "VmRSS:");
    g_assert_nonnull(line);
    return strtol(line + 6, NULL, 10);
}

/* Send rounds until @mib MiB went; returns the next section id. */
static uint32_t send_rounds(int fd, uint32_t id, uint64_t mib,
                            uint32_t *ping)
{
    g_autoptr(GByteArray) a = g_byte_array_new();
    uint64_t sent = 0;

    while (sent < (mib << 20)) {
        for (int i = 0; i < STARTS_PER_ROUND; i++) {
            put_ram_start(a, ++id);
        }
        put_ram_part(a, id);
        for (int i = 0; i < PINGS_PER_ROUND; i++) {
            put_command(a, 2, 4, ++*ping);  /* PING */
        }
        sent += a->len;
        send_all(fd, a);
        drain(fd);
    }
    return id;
}

static void run_repeat(uint64_t mib)
{
    static const char *const active[] = { "active", NULL };
    g_autoptr(GByteArray) a = g_byte_array_new();
    g_autofree char *uri = NULL;
    g_autofree char *st = NULL;
    g_autofree char *st2 = NULL;
    QTestState *dst;
    uint32_t id = 0, ping = 0;
    long before, after;
    int fd;

    if (mig_is_qemu()) {
        g_test_skip("the hand-made stream is qmig's (machine, RAM block)");
        return;
    }
    dst = mig_start_dest("defer", "-S");
    cur_dst = dst;
    uri = g_strdup_printf("unix:%s", qtest_path(dst, "mig.sock"));
    mig_incoming(dst, uri, true);
    fd = mig_connect_unix(qtest_path(dst, "mig.sock"));
    mig_put_stream_header(a);
    put_command(a, 1, 0, 0);                /* OPEN_RETURN_PATH */
    send_all(fd, a);
    st = mig_wait_status(dst, active);
    id = send_rounds(fd, id, WARMUP_MIB, &ping);
    put_command(a, 2, 4, PONG_MARK);
    send_all(fd, a);
    wait_pong(fd, PONG_MARK);
    before = rss_kib(dst);
    id = send_rounds(fd, id, mib, &ping);
    put_command(a, 2, 4, PONG_MARK + 1);
    send_all(fd, a);
    wait_pong(fd, PONG_MARK + 1);
    after = rss_kib(dst);
    g_test_message("destination VmRSS %ld KiB after %d MiB, %ld KiB after "
                   "%" PRIu64 " MiB more (%u sections started)", before,
                   WARMUP_MIB, after, mib, id);
    g_assert_cmpint(after - before, <, RSS_SLACK_KIB);
    st2 = mig_status(dst);
    g_assert_cmpstr(st2, ==, "active");
    close(fd);
    mig_quit_clean(dst);
}

static void test_repeat(void)
{
    run_repeat(STREAM_MIB);
}

static void test_repeat_slow(void)
{
    run_repeat(STREAM_SLOW_MIB);
}

int main(int argc, char **argv)
{
    qtest_main_init(&argc, &argv);
    mig_add_case("/stream-bounds/repeat", test_repeat, false);
    mig_add_case("/stream-bounds/slow/repeat", test_repeat_slow, true);
    return g_test_run();
}
