/*
 * Return-path qtests: the destination confirms the load on the main
 * connection, and the source lets its guest go only then.
 *
 * - precopy with return-path completes and the destination's guest holds
 *   the stamp invariant;
 * - a destination that fails at the very end (the source has a second
 *   vCPU whose "cpu" section the destination does not know) makes the
 *   source fail and run its guest on, memory intact;
 * - the contrast, made deterministic with this process as a destination
 *   that takes the whole stream and hangs up without a word: without the
 *   capability the source says completed (its guest is gone), with it
 *   the source fails and its guest runs on;
 * - a destination that answers with a bad message (an unknown type, a
 *   postcopy request, a SHUT or PONG of the wrong length, SHUT 0 before
 *   the final PONG, SHUT 1, a hang-up) fails the migration cleanly, the
 *   error saying what was wrong; a file: URI is refused.
 *
 * precopy, dest-fails and unconfirmed-without run against QEMU too
 * (QTEST_QMIG_BINARY naming qemu-system-x86_64; the suite's
 * return-path-qemu-compat), where the same behaviour is expected.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <glib.h>

#include "migration-helpers.h"

/* The destination failed its load and exited (with an error, no crash). */
static void check_dest_exited(QTestState *dst)
{
    int status;

    if (!qtest_wait_exit(dst, qtest_timeout_s(), &status)) {
        g_error("the destination did not exit after its load failed");
    }
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), !=, 0);
    /* It never ran the half-loaded guest. */
    g_assert_cmpuint(qtest_file_count_char(qtest_serial_path(dst), 'B'), ==,
                     0);
    mig_quit_clean(dst);
}

static void test_precopy(void)
{
    QTestState *dst = NULL;
    g_autofree char *uri = NULL;
    QTestState *src = mig_start_pair(NULL, NULL, &dst, &uri);

    mig_set_capability_both(src, dst, "return-path", true);
    mig_set_unlimited(src);
    mig_migrate(src, uri);
    mig_wait_completed(src);
    mig_check_dest_and_quit(src, dst, true);
}

/*
 * The source has two vCPUs, the destination one: the destination fails
 * on the second "cpu" section, after all RAM has arrived.  The source
 * fails too and runs its guest on.  (Without the return path the source
 * may or may not notice, depending on whether its last bytes were still
 * in flight when the destination hung up: see test_unconfirmed for the
 * deterministic contrast.)
 */
static void test_dest_fails(void)
{
    static const char *const failed[] = { "failed", NULL };
    QTestState *dst = NULL;
    g_autofree char *uri = NULL;
    QTestState *src = mig_start_pair("-smp 2", "-smp 1", &dst, &uri);
    g_autofree char *st = NULL;
    g_autoptr(JsonNode) info = NULL;

    mig_set_capability_both(src, dst, "return-path", true);
    mig_set_unlimited(src);
    mig_migrate(src, uri);
    st = mig_wait_status(src, failed);
    check_dest_exited(dst);
    /* (QEMU 7.2 fails this way without an error-desc.) */
    if (!mig_is_qemu()) {
        info = mig_query(src);
        g_test_message("source error-desc: %s", mig_error_desc(info));
        g_assert_nonnull(strstr(mig_error_desc(info),
                                "The destination failed to load"));
    }
    mig_check_source_survived(src);
    mig_quit_clean(src);
}

/* ---- a fake destination answering with a bad message (qmig only) ---- */

typedef struct BadMessage {
    const char *name;
    uint8_t bytes[8];
    size_t len;
    const char *error;      /* expected in the source's error-desc */
    bool hang_up;           /* close the connection after the bytes */
} BadMessage;

static const BadMessage bad_messages[] = {
    { "unknown-type", { 0x00, 0x09, 0x00, 0x00 }, 4,
      "Received invalid message 0x0009" },
    { "invalid-zero", { 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 0 }, 8,
      "Received invalid message 0x0000" },
    { "req-pages", { 0x00, 0x04, 0x00, 0x0c }, 4, "postcopy" },
    { "shut-short", { 0x00, 0x01, 0x00, 0x02, 0, 0 }, 6,
      "SHUT has length 2, expected 4" },
    { "pong-long", { 0x00, 0x02, 0x00, 0x08 }, 4,
      "PONG has length 8, expected 4" },
    { "shut-failed", { 0x00, 0x01, 0x00, 0x04, 0, 0, 0, 1 }, 8,
      "reported status 1" },
    /* "Loaded" before the final PING could even have been sent. */
    { "shut-early", { 0x00, 0x01, 0x00, 0x04, 0, 0, 0, 0 }, 8,
      "without acknowledging the end" },
    /*
     * A destination that dies: the return path or the stream breaks,
     * whichever the source notices first.
     */
    { "hang-up", { 0 }, 0, NULL, true },
};

static void run_bad_message(const BadMessage *m)
{
    static const char *const failed[] = { "failed", NULL };
    QTestState *src = mig_start_source(NULL);
    const char *path = qtest_path(src, "fake.sock");
    g_autofree char *uri = g_strdup_printf("unix:%s", path);
    int lfd = qtest_unix_listen(path);
    int cfd;
    uint8_t head[8];
    g_autofree char *st = NULL;
    g_autoptr(JsonNode) info = NULL;

    mig_set_capability(src, "return-path", true);
    mig_set_unlimited(src);
    mig_migrate(src, uri);
    cfd = accept(lfd, NULL, NULL);
    g_assert_cmpint(cfd, >=, 0);
    /* The stream has begun (magic, version); then the reply. */
    g_assert_cmpint(recv(cfd, head, sizeof(head), MSG_WAITALL), ==,
                    sizeof(head));
    g_assert_cmpint(write(cfd, m->bytes, m->len), ==, m->len);
    if (m->hang_up) {
        close(cfd);
        cfd = -1;
    }
    /* Reading nothing more: the source must not hang in a write. */
    st = mig_wait_status(src, failed);
    info = mig_query(src);
    g_test_message("%s: %s", m->name, mig_error_desc(info));
    if (m->error) {
        g_assert_nonnull(strstr(mig_error_desc(info), m->error));
    }
    if (cfd >= 0) {
        close(cfd);
    }
    close(lfd);
    mig_check_source_survived(src);
    mig_quit_clean(src);
}

/*
 * A destination that takes the whole stream and then hangs up without a
 * word (as one that fails to load, or dies, at the very end).  Without
 * the return path the source cannot tell: it says completed and its
 * guest is gone.  With it, the source waits for SHUT, sees the return
 * path break instead, fails, and runs its guest on.
 */
static const uint8_t end_of_stream[] = {
    0x08, 0x00, 0x02, 0x00, 0x04, 0x00, 0x45, 0x4e, 0x44,   /* PING END */
    0x00,                                                   /* EOF */
};

/* Read until the source closes, or (@until_end) until its final PING. */
static void take_stream(int fd, bool until_end)
{
    /* The last bytes of the previous read, then this read's. */
    enum { CARRY = sizeof(end_of_stream) - 1, CHUNK = 64 * 1024 };
    static uint8_t buf[CARRY + CHUNK];
    size_t have = 0;
    ssize_t n;

    while ((n = read(fd, buf + have, CHUNK)) > 0) {
        size_t len = have + n;

        if (until_end &&
            memmem(buf, len, end_of_stream, sizeof(end_of_stream))) {
            return;
        }
        have = MIN(len, (size_t)CARRY);
        memmove(buf, buf + len - have, have);
    }
    g_assert_false(until_end);
    g_assert_cmpint(n, ==, 0);
}

static void run_unconfirmed(bool return_path)
{
    static const char *const completed[] = { "completed", NULL };
    static const char *const failed[] = { "failed", NULL };
    QTestState *src = mig_start_source(NULL);
    const char *path = qtest_path(src, "fake.sock");
    g_autofree char *uri = g_strdup_printf("unix:%s", path);
    int lfd = qtest_unix_listen(path);
    g_autofree char *st = NULL;
    g_autoptr(JsonNode) info = NULL;
    int cfd;

    if (return_path) {
        mig_set_capability(src, "return-path", true);
    }
    mig_set_unlimited(src);
    mig_migrate(src, uri);
    cfd = accept(lfd, NULL, NULL);
    g_assert_cmpint(cfd, >=, 0);
    take_stream(cfd, return_path);
    close(cfd);
    close(lfd);
    if (!return_path) {
        st = mig_wait_status(src, completed);
        qtest_assert_status(src, "postmigrate");
        mig_quit_clean(src);
        return;
    }
    st = mig_wait_status(src, failed);
    info = mig_query(src);
    g_test_message("source error-desc: %s", mig_error_desc(info));
    g_assert_nonnull(strstr(mig_error_desc(info), "return path"));
    mig_check_source_survived(src);
    mig_quit_clean(src);
}

static void test_unconfirmed(void)
{
    run_unconfirmed(true);
}

static void test_unconfirmed_without(void)
{
    run_unconfirmed(false);
}

#define BAD_CASE(n) \
    static void test_bad_##n(void) { run_bad_message(&bad_messages[n]); }
BAD_CASE(0)
BAD_CASE(1)
BAD_CASE(2)
BAD_CASE(3)
BAD_CASE(4)
BAD_CASE(5)
BAD_CASE(6)
BAD_CASE(7)
static void (*const bad_cases[])(void) = {
    test_bad_0, test_bad_1, test_bad_2, test_bad_3, test_bad_4, test_bad_5,
    test_bad_6, test_bad_7,
};
G_STATIC_ASSERT(G_N_ELEMENTS(bad_cases) == G_N_ELEMENTS(bad_messages));

/* The capability needs a two-way connection. */
static void test_file_refused(void)
{
    QTestState *src = mig_start_source(NULL);
    g_autofree char *uri = g_strdup_printf("file:%s",
                                           qtest_path(src, "out.bin"));

    mig_set_capability(src, "return-path", true);
    qtest_qmp_assert_error(src, "return-path", "{\"execute\": \"migrate\", "
                           "\"arguments\": {\"uri\": \"%s\"}}", uri);
    mig_assert_running(src);
    mig_quit_clean(src);
}

int main(int argc, char **argv)
{
    qtest_main_init(&argc, &argv);

    mig_add_case("/return-path/precopy", test_precopy, false);
    mig_add_case("/return-path/dest-fails", test_dest_fails, false);
    mig_add_case("/return-path/unconfirmed-without", test_unconfirmed_without,
                 false);
    if (!mig_is_qemu()) {
        mig_add_case("/return-path/unconfirmed", test_unconfirmed, false);
        for (size_t i = 0; i < G_N_ELEMENTS(bad_messages); i++) {
            g_autofree char *p = g_strdup_printf("/return-path/bad-message/%s",
                                                 bad_messages[i].name);

            mig_add_case(p, bad_cases[i], false);
        }
        mig_add_case("/return-path/file-refused", test_file_refused, false);
    }
    return g_test_run();
}
