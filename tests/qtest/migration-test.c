/*
 * Migration qtests: two VMM processes, the stamp guest running under the
 * run's accelerator (qtest_accel(): kvm, or tcg), a precopy migration
 * driven over QMP, then the stamp invariant checked on the destination
 * after its guest has run on.  Fault cases check that the source keeps
 * its guest and that a destination fed bad input fails cleanly.  Where
 * the run covers both kvm and tcg, two more cases migrate from one
 * accelerator to the other: one stream format serves both.
 *
 * Runs against qmig (QTEST_QMIG_BINARY, set by meson) or, for comparison,
 * against QEMU (QTEST_QMIG_BINARY=qemu-system-x86_64).  Quick cases run by
 * default; "-m slow" adds the slow ones ("-p /migration/slow" alone).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <glib.h>

#include "migration-helpers.h"
#include "stamp-check.h"

/* A bandwidth at which 100 MiB of dirty pages never fit in 300 ms. */
#define SLOW_BW (64ULL << 20)

/* ---- transports --------------------------------------------------------- */

static void test_unix(void)
{
    QTestState *dst = NULL;
    g_autofree char *uri = NULL;
    QTestState *src = mig_start_pair(NULL, NULL, &dst, &uri);
    g_autoptr(JsonNode) info = NULL;

    mig_migrate_and_check(src, dst, uri, false);
    /* The counters a user reads must be there and plausible. */
    info = mig_query(src);
    g_assert_cmpint(mig_ram_counter(info, "transferred"), >=, 99 << 20);
    g_assert_cmpint(mig_ram_counter(info, "total"), >=, 150 << 20);
    g_assert_cmpint(mig_ram_counter(info, "remaining"), ==, 0);
    g_assert_cmpint(mig_ram_counter(info, "dirty-sync-count"), >=, 2);
    g_assert_cmpint(mig_info_int(info, "total-time"), >, 0);
    g_assert_cmpint(mig_info_int(info, "downtime"), >=, 0);
    mig_quit_clean(src);
    mig_quit_clean(dst);
}

/*
 * Four vCPUs, the APs never started (waiting for INIT/SIPI): their state
 * travels too and must load on the destination, which runs on.
 */
static void test_smp(void)
{
    QTestState *dst = NULL;
    g_autofree char *uri = NULL;
    QTestState *src = mig_start_pair("-smp 4", "-smp 4", &dst, &uri);

    mig_migrate_and_check(src, dst, uri, false);
    mig_quit_clean(src);
    mig_quit_clean(dst);
}

/* Shared file-backed RAM: [100 MiB, 150 MiB), which the guest never writes. */
#define SHARED_TAIL_START (100ULL << 20)
#define SHARED_RAM_SIZE (150ULL << 20)

/* Options making the file @path (150 MiB, share=on) RAM block @id. */
static char *shared_file_ram(const char *id, const char *path)
{
    return g_strdup_printf("-object memory-backend-file,id=%s,size=150M,"
                           "mem-path=%s,share=on -machine memory-backend=%s",
                           id, path, id);
}

/* The word the file holds at the start of each page of the tail. */
static uint64_t shared_tail_word(uint64_t offset)
{
    return 0x5348415245440000ULL ^ offset;     /* "SHARED" */
}

/*
 * The source's guest RAM is a memory-backend-file (share=on) whose file
 * was written before the VM started: the source reads its dirty pages
 * from the file (the read window, migration/ram-window.c), the guest
 * writes the stamp area through the mapping at the same time.  The
 * destination must get the stamp invariant and the file's own bytes in
 * the part of RAM the guest never touched.
 */
static void test_shared_file(void)
{
    g_autofree char *path = g_strdup_printf("%s/migration-shared-%d.bin",
                                            g_get_tmp_dir(), getpid());
    g_autofree char *src_extra = shared_file_ram("ram0", path);
    const char *dst_extra = "-object memory-backend-memfd,id=ram0,"
                            "size=150M -machine memory-backend=ram0";
    g_autofree uint64_t *page = g_malloc0(STAMP_PAGE_SIZE);
    g_autofree char *dump = NULL;
    g_autofree char *data = NULL;
    g_autofree char *uri = NULL;
    QTestState *src, *dst = NULL;
    gsize len = 0;
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, SHARED_RAM_SIZE), ==, 0);
    for (uint64_t off = SHARED_TAIL_START; off < SHARED_RAM_SIZE;
         off += STAMP_PAGE_SIZE) {
        page[0] = page[STAMP_PAGE_SIZE / 8 - 1] = shared_tail_word(off);
        g_assert_cmpint(pwrite(fd, page, STAMP_PAGE_SIZE, off), ==,
                        STAMP_PAGE_SIZE);
    }
    close(fd);
    src = mig_start_pair(src_extra, dst_extra, &dst, &uri);
    mig_migrate_and_check(src, dst, uri, false);
    unlink(path);

    dump = g_strdup(qtest_path(dst, "tail.bin"));
    qtest_qmp_assert_success(dst, "{\"execute\": \"pmemsave\", \"arguments\": "
                             "{\"val\": %llu, \"size\": %llu, "
                             "\"filename\": \"%s\"}}",
                             (unsigned long long)SHARED_TAIL_START,
                             (unsigned long long)(SHARED_RAM_SIZE -
                                                  SHARED_TAIL_START), dump);
    g_assert_true(g_file_get_contents(dump, &data, &len, NULL));
    unlink(dump);
    g_assert_cmpuint(len, ==, SHARED_RAM_SIZE - SHARED_TAIL_START);
    for (uint64_t i = 0; i < len; i += STAMP_PAGE_SIZE) {
        uint64_t want = shared_tail_word(SHARED_TAIL_START + i);
        uint64_t first, last;

        memcpy(&first, data + i, 8);
        memcpy(&last, data + i + STAMP_PAGE_SIZE - 8, 8);
        if (first != want || last != want) {
            g_error("destination page at 0x%llx holds 0x%llx..0x%llx, the "
                    "source's file 0x%llx",
                    (unsigned long long)(SHARED_TAIL_START + i),
                    (unsigned long long)first, (unsigned long long)last,
                    (unsigned long long)want);
        }
    }
    mig_quit_clean(src);
    mig_quit_clean(dst);
}

static void test_tcp(void)
{
    QTestState *src = mig_start_source(NULL);
    QTestState *dst = mig_start_dest("defer", NULL);
    g_autofree char *port = NULL;
    g_autofree char *uri = NULL;

    mig_incoming(dst, "tcp:127.0.0.1:0", false);
    port = mig_dest_tcp_port(dst);
    g_assert_cmpstr(port, !=, "0");
    uri = g_strdup_printf("tcp:127.0.0.1:%s", port);
    mig_migrate_and_check(src, dst, uri, false);
    mig_quit_clean(src);
    mig_quit_clean(dst);
}

static void test_fd(void)
{
    QTestState *src = mig_start_source(NULL);
    QTestState *dst = mig_start_dest("defer", NULL);
    int sv[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                    ==, 0);
    mig_getfd(dst, sv[1], "mig-in");
    mig_incoming(dst, "fd:mig-in", false);
    mig_getfd(src, sv[0], "mig-out");
    /* Only the VMMs hold the ends now: EOF reaches each as it should. */
    close(sv[0]);
    close(sv[1]);
    mig_migrate_and_check(src, dst, "fd:mig-out", false);
    mig_quit_clean(src);
    mig_quit_clean(dst);
}

/*
 * Migrate a fresh source into @uri_out (a file); returns the stream and,
 * in *@src_mem, the source's memory at the switchover.
 */
static GBytes *save_stream(QTestState *src, const char *uri_out,
                           const char *path, GBytes **src_mem)
{
    char *data = NULL;
    gsize len = 0;

    mig_set_unlimited(src);
    mig_migrate(src, uri_out);
    mig_wait_completed(src);
    qtest_assert_status(src, "postmigrate");
    *src_mem = mig_stamp_memory(src);
    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    /* QEMU's framing: magic "QEVM", then version 3, big endian. */
    g_assert_cmpuint(len, >, 99 << 20);
    g_assert_cmpmem(data, 8, "QEVM\0\0\0\3", 8);
    return g_bytes_new_take(data, len);
}

/* HMP reports the finished migration the way QEMU's does. */
static void check_hmp_info_migrate(QTestState *src)
{
    g_autofree char *out = NULL;

    if (mig_is_qemu()) {
        return;
    }
    out = qtest_hmp(src, "info migrate");
    if (!strstr(out, "Migration status: completed") ||
        !strstr(out, "total time:") || !strstr(out, "transferred ram:")) {
        g_error("HMP info migrate printed:\n%s", out);
    }
}

/*
 * scripts/analyze-migration reads the saved stream: every section's footer
 * checks out, RAM is listed by block, and the CPU's state is decoded from
 * the vmdesc.
 */
static void check_analyzer(const char *path)
{
    static const char *const needles[] = { "\"pc.ram\"", "\"cpu (", NULL };

    mig_check_analyzer(path, needles);
}

static void test_exec(void)
{
    QTestState *src = mig_start_source(NULL);
    /* Outside the source's directory, which goes when the source quits. */
    g_autofree char *path = g_strdup_printf("%s/mig-exec-%d.bin",
                                            g_get_tmp_dir(), getpid());
    g_autofree char *out = g_strdup_printf("exec:cat > %s", path);
    g_autofree char *in = g_strdup_printf("'exec:cat %s'", path);
    g_autoptr(GBytes) src_mem = NULL;
    g_autoptr(GBytes) stream = save_stream(src, out, path, &src_mem);
    QTestState *dst;

    check_hmp_info_migrate(src);
    mig_quit_clean(src);
    check_analyzer(path);
    dst = mig_start_dest(in, NULL);
    mig_check_dest(dst, src_mem, false);
    unlink(path);
    mig_quit_clean(dst);
}

static void test_file(void)
{
    QTestState *src = mig_start_source(NULL);
    QTestState *dst;
    g_autofree char *path = g_strdup_printf("%s/mig-file-%d.bin",
                                            g_get_tmp_dir(), getpid());
    g_autofree char *uri = g_strdup_printf("file:%s", path);
    g_autoptr(GBytes) src_mem = NULL;
    g_autoptr(GBytes) stream = save_stream(src, uri, path, &src_mem);

    mig_quit_clean(src);
    dst = mig_start_dest("defer", NULL);
    mig_incoming(dst, uri, false);
    mig_check_dest(dst, src_mem, false);
    unlink(path);
    mig_quit_clean(dst);
}

/* ---- faults ------------------------------------------------------------ */

/* A later migration of @src to a fresh destination works. */
static void migrate_again(QTestState *src, const char *sock_name)
{
    g_autofree char *uri = g_strdup_printf("unix:%s",
                                           qtest_path(src, sock_name));
    QTestState *dst = mig_start_dest(uri, NULL);

    mig_migrate_and_check(src, dst, uri, false);
    mig_quit_clean(dst);
}

static void test_cancel(void)
{
    static const char *const cancelled[] = { "cancelled", NULL };
    static const char *const failed[] = { "failed", NULL };
    QTestState *src = mig_start_source(NULL);
    g_autofree char *uri = g_strdup_printf("unix:%s",
                                           qtest_path(src, "mig.sock"));
    QTestState *dst = mig_start_dest("defer", NULL);
    /* Asked now: such a destination exits when its stream breaks off. */
    bool dst_exits = mig_dest_exits_on_error(dst);
    g_autofree char *st = NULL;

    mig_incoming(dst, uri, true);
    mig_start_crawl(src, uri, MIG_CRAWL_BW);
    qtest_qmp_assert_success(src, "{\"execute\": \"migrate_cancel\"}");
    st = mig_wait_status(src, cancelled);
    mig_check_source_survived(src);
    /*
     * The destination saw its stream end early: it fails and stays up
     * (an old QEMU exits instead), never crashes (mig_quit_clean) and
     * never runs the half-loaded guest.
     */
    if (!dst_exits) {
        g_autofree char *dst_mig = mig_wait_status(dst, failed);
        bool running = true;
        g_autofree char *dst_st = qtest_query_status(dst, &running);

        g_assert_false(running);
    }
    g_assert_cmpuint(qtest_file_count_char(qtest_serial_path(dst), 'B'), ==,
                     0);
    mig_quit_clean(dst);
    migrate_again(src, "mig2.sock");
    mig_quit_clean(src);
}

static void test_unreachable(void)
{
    static const char *const failed[] = { "failed", NULL };
    QTestState *src = mig_start_source(NULL);
    g_autofree char *uri = g_strdup_printf("unix:%s",
                                           qtest_path(src, "nobody.sock"));
    JsonNode *rsp;

    rsp = qtest_qmp(src, "{\"execute\": \"migrate\", \"arguments\": "
                    "{\"uri\": \"%s\"}}", uri);
    if (qmp_rsp_is_error(rsp)) {
        /* Refusing at once is fine, as long as it says why. */
        g_assert_cmpuint(strlen(qmp_rsp_error_desc(rsp)), >, 0);
    } else {
        g_autofree char *st = mig_wait_status(src, failed);
        g_autoptr(JsonNode) info = mig_query(src);
        JsonObject *o = json_node_get_object(info);

        g_assert_true(json_object_has_member(o, "error-desc"));
        g_assert_cmpuint(strlen(json_object_get_string_member(o,
                                                              "error-desc")),
                         >, 0);
    }
    json_node_unref(rsp);
    mig_check_source_survived(src);
    migrate_again(src, "mig.sock");
    mig_quit_clean(src);
}

static void test_dest_killed(void)
{
    static const char *const failed[] = { "failed", NULL };
    QTestState *dst = NULL;
    g_autofree char *uri = NULL;
    QTestState *src = mig_start_pair(NULL, NULL, &dst, &uri);
    g_autofree char *st = NULL;
    int status;

    mig_start_crawl(src, uri, MIG_CRAWL_BW);
    g_assert_cmpint(kill(qtest_pid(dst), SIGKILL), ==, 0);
    g_assert_true(qtest_wait_exit(dst, qtest_timeout_s(), &status));
    g_assert_true(WIFSIGNALED(status));
    qtest_quit(dst);
    st = mig_wait_status(src, failed);
    mig_check_source_survived(src);
    migrate_again(src, "mig2.sock");
    mig_quit_clean(src);
}

/* ---- bad streams ------------------------------------------------------- */

typedef enum {
    BAD_TRUNC_HEADER,       /* the magic and nothing else */
    BAD_TRUNC_HALF,         /* cut in the middle of RAM */
    BAD_MAGIC,              /* not a migration stream */
    BAD_VERSION,            /* a stream version nobody speaks */
    BAD_MIDDLE,             /* 64 KiB of 0xff over page headers */
    BAD__MAX
} BadStream;

static const char *const bad_names[BAD__MAX] = {
    "truncated after the magic", "truncated half-way", "bad magic",
    "bad version", "0xff over 64 KiB in the middle",
};

static GBytes *make_bad(GBytes *good, BadStream kind)
{
    gsize len = g_bytes_get_size(good);
    guint8 *d = g_memdup2(g_bytes_get_data(good, NULL), len);

    switch (kind) {
    case BAD_TRUNC_HEADER:
        len = 4;
        break;
    case BAD_TRUNC_HALF:
        len /= 2;
        break;
    case BAD_MAGIC:
        d[0] ^= 0xff;
        break;
    case BAD_VERSION:
        d[7] = 0x7f;
        break;
    case BAD_MIDDLE:
        memset(d + len / 2, 0xff, 64 * 1024);
        break;
    default:
        g_assert_not_reached();
    }
    return g_bytes_new_take(d, len);
}

/*
 * A destination fed a bad stream fails; its guest never runs.  A QEMU
 * older than 9.1 then exits (with an error, never a crash); qmig and later
 * QEMU, told exit-on-error=false, stay up: status failed, monitor answers.
 */
static void check_bad_stream_rejected(QTestState *dst, bool exits,
                                      const char *what)
{
    static const char *const failed[] = { "failed", NULL };
    g_autofree char *err = NULL;
    g_autofree char *st = NULL;
    bool running = true;
    int status;

    if (exits) {
        if (!qtest_wait_exit(dst, qtest_timeout_s(), &status)) {
            g_error("%s: destination neither failed nor exited", what);
        }
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), !=, 0);
    } else {
        g_autofree char *mst = mig_wait_status(dst, failed);

        st = qtest_query_status(dst, &running);
        g_assert_false(running);
        if (!g_str_equal(st, "inmigrate") && !g_str_equal(st, "paused")) {
            g_error("%s: destination status %s after a failed load", what, st);
        }
    }
    g_assert_cmpuint(qtest_file_count_char(qtest_serial_path(dst), 'B'), ==,
                     0);
    /* "Clear error": the VMM said something on stderr. */
    err = qtest_stderr(dst);
    if (!*g_strstrip(err)) {
        g_error("%s: the destination failed without a message", what);
    }
    mig_quit_clean(dst);
}

static void test_bad_streams(void)
{
    QTestState *src = mig_start_source(NULL);
    g_autofree char *path = g_strdup(qtest_path(src, "stream.bin"));
    g_autofree char *out = g_strdup_printf("exec:cat > %s", path);
    g_autoptr(GBytes) src_mem = NULL;
    g_autoptr(GBytes) good = save_stream(src, out, path, &src_mem);
    g_autofree char *bad = g_strdup_printf("%s/mig-bad-%d.bin",
                                           g_get_tmp_dir(), getpid());
    int kind;

    mig_quit_clean(src);
    for (kind = 0; kind < BAD__MAX; kind++) {
        g_autoptr(GBytes) b = make_bad(good, kind);
        g_autofree char *uri = g_strdup_printf("exec:cat %s", bad);
        QTestState *dst;
        bool exits;

        g_assert_true(g_file_set_contents(bad, g_bytes_get_data(b, NULL),
                                          g_bytes_get_size(b), NULL));
        dst = mig_start_dest("defer", NULL);
        /* qmig and newer QEMU read files directly too: use both ways. */
        if (kind % 2 && !mig_qemu_older_than(dst, 8, 2)) {
            g_free(uri);
            uri = g_strdup_printf("file:%s", bad);
        }
        /* Asked now: such a destination is gone once the load fails. */
        exits = mig_dest_exits_on_error(dst);
        mig_incoming(dst, uri, true);
        check_bad_stream_rejected(dst, exits, bad_names[kind]);
    }
    unlink(bad);
}

/*
 * Destination RAM on a file system smaller than the guest's 150 MiB: a
 * private tmpfs of @size (mounted first, so that the VMMs started after
 * see it) holding the destination's RAM file (memory-backend-file,
 * share=on: its pages are written by the write stage, ram-load-writer.c).
 * Returns the destination's options and the mount point in *@dir; NULL
 * (the case skipped) under QEMU or where no tmpfs can be mounted.
 */
static char *dest_ram_on_tmpfs(const char *size, char **dir)
{
    g_autofree char *opts = g_strdup_printf("size=%s", size);
    g_autofree char *why = NULL;
    g_autofree char *path = NULL;

    if (mig_is_qemu()) {
        /* It has no write stage: a full tmpfs is a SIGBUS on its mapping. */
        g_test_skip("QEMU stores received pages through the RAM mapping, "
                    "not with pwrite");
        return NULL;
    }
    *dir = mig_private_mount("tmpfs", opts, &why);
    if (!*dir) {
        g_test_skip(why);
        return NULL;
    }
    path = g_strdup_printf("%s/ram", *dir);
    return shared_file_ram("pc.ram", path);
}

/* multifd channels of the two cases below (0: the main channel only). */
static int tmpfs_channels;
static const char *tmpfs_cap;   /* a capability both sides get, or NULL */

/* The same capabilities on both sides; then @dst listens on @uri. */
static void tmpfs_listen(QTestState *src, QTestState *dst, const char *uri,
                         bool keep_alive)
{
    if (tmpfs_channels) {
        mig_set_capability_both(src, dst, "multifd", true);
        mig_set_parameter(src, "multifd-channels", tmpfs_channels);
        mig_set_parameter(dst, "multifd-channels", tmpfs_channels);
    }
    if (tmpfs_cap) {
        mig_set_capability_both(src, dst, tmpfs_cap, true);
    }
    mig_incoming(dst, uri, keep_alive);
}

/*
 * The destination's RAM file on a 32 MiB tmpfs: the pwrite of the writer
 * thread "mig/dst/write" (with multifd: of the channel threads) fails
 * with ENOSPC.  The destination fails with
 * that cause in its error, never runs the half-loaded guest and never
 * crashes; the source sees the migration fail and its guest runs on
 * with its memory intact (a migration after a failure: fault/cancel,
 * fault/dest-killed).
 */
static void test_dest_write_error(void)
{
    static const char *const failed[] = { "failed", NULL };
    static const char *const needle = "No space left on device";
    g_autofree char *dir = NULL;
    g_autofree char *dst_extra = dest_ram_on_tmpfs("32m", &dir);
    g_autofree char *uri = NULL;
    g_autofree char *st = NULL;
    QTestState *src, *dst;
    bool exits;

    if (!dst_extra) {
        return;
    }
    src = mig_start_source(NULL);
    uri = g_strdup_printf("unix:%s", qtest_path(src, "mig.sock"));
    dst = mig_start_dest("defer", dst_extra);
    exits = mig_dest_exits_on_error(dst);
    tmpfs_listen(src, dst, uri, true);
    mig_set_unlimited(src);
    mig_migrate(src, uri);
    st = mig_wait_status(src, failed);
    mig_check_source_survived(src);
    if (!exits) {
        g_autofree char *dst_mig = mig_wait_status(dst, failed);
        g_autoptr(JsonNode) info = mig_query(dst);

        g_test_message("destination error-desc: %s", mig_error_desc(info));
        /* The writer's own error, not a later "stream ended" one. */
        if (!strstr(mig_error_desc(info), needle)) {
            g_error("destination error-desc lacks \"%s\": %s", needle,
                    mig_error_desc(info));
        }
    }
    check_bad_stream_rejected(dst, exits, "RAM file on a full tmpfs");
    mig_quit_clean(src);
    mig_private_umount(dir);
}

/*
 * The source's RAM file holds explicit zeros in [100 MiB, 150 MiB): those
 * pages are populated, so they go as ZERO records.  The destination's RAM
 * file is on a 120 MiB tmpfs, room for the stamp area's data but not for
 * all 150 MiB.  A ZERO record for a page that is a hole there must leave
 * it a hole (a read through a shared tmpfs mapping allocates the page; on
 * a full tmpfs that read is a SIGBUS): the migration completes and the
 * destination's guest runs on with the source's memory.
 */
static void dest_zero_pages_sparse(void)
{
    g_autofree char *path = g_strdup_printf("%s/migration-zeros-%d.bin",
                                            g_get_tmp_dir(), getpid());
    g_autofree char *src_extra = shared_file_ram("pc.ram", path);
    g_autofree char *dir = NULL;
    g_autofree char *dst_extra = dest_ram_on_tmpfs("120m", &dir);
    g_autofree uint8_t *zeros = g_malloc0(1 << 20);
    g_autofree char *uri = NULL;
    g_autoptr(JsonNode) info = NULL;
    QTestState *src, *dst;
    int fd;

    if (!dst_extra) {
        return;
    }
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, SHARED_RAM_SIZE), ==, 0);
    for (uint64_t off = SHARED_TAIL_START; off < SHARED_RAM_SIZE;
         off += 1 << 20) {
        g_assert_cmpint(pwrite(fd, zeros, 1 << 20, off), ==, 1 << 20);
    }
    close(fd);
    src = mig_start_source(src_extra);
    uri = g_strdup_printf("unix:%s", qtest_path(src, "mig.sock"));
    dst = mig_start_dest("defer", dst_extra);
    tmpfs_listen(src, dst, uri, false);
    mig_migrate_and_check(src, dst, uri, false);
    unlink(path);
    /* The zeros really went as zero pages (else this proves nothing). */
    info = mig_query(src);
    g_assert_cmpint(mig_ram_counter(info, "duplicate"), >=,
                    (SHARED_RAM_SIZE - SHARED_TAIL_START) / STAMP_PAGE_SIZE);
    mig_quit_clean(src);
    mig_quit_clean(dst);
    mig_private_umount(dir);
}

static void test_dest_write_error_multifd(void)
{
    tmpfs_channels = 2;
    test_dest_write_error();
}

/*
 * postcopy-ram enabled but never started: precopy pages are not batched
 * then, and went through the mapping (a SIGBUS on the full tmpfs).
 */
static void test_dest_write_error_postcopy_ram(void)
{
    tmpfs_cap = "postcopy-ram";
    test_dest_write_error();
}

static void test_dest_zero_pages_sparse(void)
{
    dest_zero_pages_sparse();
}

/* Zero pages found by the channel threads (zero-page-detection=multifd). */
static void test_dest_zero_pages_sparse_multifd(void)
{
    tmpfs_channels = 2;
    dest_zero_pages_sparse();
}

/* ---- features ----------------------------------------------------------- */

static void test_pause_before_switchover(void)
{
    static const char *const pre[] = { "pre-switchover", NULL };
    QTestState *dst = NULL;
    g_autofree char *uri = NULL;
    QTestState *src = mig_start_pair(NULL, NULL, &dst, &uri);
    g_autofree char *st = NULL;
    g_autofree char *dst_st = NULL;
    bool running = true;

    mig_set_capability(src, "pause-before-switchover", true);
    mig_set_unlimited(src);
    mig_migrate(src, uri);
    st = mig_wait_status(src, pre);
    /* Paused at the switchover: neither guest runs. */
    g_free(st);
    st = qtest_query_status(src, &running);
    g_assert_false(running);
    dst_st = qtest_query_status(dst, &running);
    g_assert_false(running);
    g_assert_cmpstr(dst_st, ==, "inmigrate");
    qtest_qmp_assert_success(src, "{\"execute\": \"migrate-continue\", "
                             "\"arguments\": {\"state\": "
                             "\"pre-switchover\"}}");
    mig_wait_completed(src);
    qtest_assert_status(src, "postmigrate");
    mig_check_dest_and_quit(src, dst, true);
}

/*
 * 100 MiB rewritten every pass cannot cross a capped link within 300 ms:
 * the migration iterates (dirty-sync-count grows) without completing.
 * Raising the cap lets it finish.
 */
static void test_bandwidth_limited(void)
{
    static const char *const active[] = { "active", NULL };
    QTestState *dst = NULL;
    g_autofree char *uri = NULL;
    QTestState *src = mig_start_pair(NULL, NULL, &dst, &uri);
    g_autofree char *st = NULL;
    gint64 deadline = g_get_monotonic_time() +
                      (gint64)qtest_timeout_s() * G_USEC_PER_SEC;
    int64_t first = -1;

    mig_set_parameter(src, "downtime-limit", mig_downtime_ms());
    mig_set_parameter(src, "max-bandwidth", SLOW_BW);
    mig_migrate(src, uri);
    st = mig_wait_status(src, active);
    for (;;) {
        g_autoptr(JsonNode) info = mig_query(src);
        const char *s = json_object_get_string_member(
                            json_node_get_object(info), "status");
        int64_t syncs = mig_ram_counter(info, "dirty-sync-count");

        if (!g_str_equal(s, "active")) {
            g_autofree char *txt = qmp_to_string(info);
            g_error("capped migration left 'active': %s", txt);
        }
        if (first < 0) {
            first = syncs;
        } else if (syncs >= first + 2) {
            break;      /* two full passes, still not converged */
        }
        if (g_get_monotonic_time() > deadline) {
            g_autofree char *txt = qmp_to_string(info);
            g_error("capped migration made no progress: %s", txt);
        }
        g_usleep(50 * 1000);
    }
    mig_assert_running(src);
    mig_set_parameter(src, "max-bandwidth", MIG_BW_UNLIMITED);
    mig_wait_completed(src);
    mig_check_dest_and_quit(src, dst, true);
}

/* A -> B -> A -> B: each hop a fresh process, the guest runs throughout. */
static void test_ping_pong(void)
{
    QTestState *src = mig_start_source(NULL);
    int hop;

    for (hop = 0; hop < 3; hop++) {
        g_autofree char *uri = g_strdup_printf("unix:%s",
                                               qtest_path(src, "mig.sock"));
        QTestState *dst = mig_start_dest(uri, NULL);

        mig_migrate_and_check(src, dst, uri, true);
        mig_quit_clean(src);
        src = dst;
    }
    mig_quit_clean(src);
}

/* ---- across accelerators ---------------------------------------------- */

/*
 * A stamp guest under @src_accel migrates to a destination under
 * @dst_accel and runs on there: the usual ending (its passes go on from
 * the source's count, memory holds the stamp invariant and follows the
 * source's) shows the CPU state and RAM one wrote the other loaded.
 */
static void migrate_across(const char *src_accel, const char *dst_accel)
{
    const char *image = qtest_guest_image("QTEST_GUEST_STAMP");
    QTestState *src = mig_start_guest(src_accel, image, NULL);
    g_autofree char *uri = g_strdup_printf("unix:%s",
                                           qtest_path(src, "mig.sock"));
    g_autofree char *more = g_strdup_printf("-incoming %s", uri);
    g_autofree char *dargs = mig_machine_args(dst_accel, image, more);
    QTestState *dst = qtest_initf("%s", dargs);

    mig_migrate_and_check(src, dst, uri, false);
    mig_quit_clean(src);
    mig_quit_clean(dst);
}

static void test_kvm_to_tcg(void)
{
    migrate_across("kvm", "tcg");
}

static void test_tcg_to_kvm(void)
{
    migrate_across("tcg", "kvm");
}

int main(int argc, char **argv)
{
    qtest_main_init(&argc, &argv);

    mig_add_case("/migration/precopy/unix", test_unix, false);
    mig_add_case("/migration/precopy/tcp", test_tcp, false);
    mig_add_case("/migration/precopy/smp", test_smp, false);
    mig_add_case("/migration/precopy/shared-file", test_shared_file, false);
    mig_add_case("/migration/precopy/fd", test_fd, false);
    mig_add_case("/migration/precopy/exec", test_exec, false);
    /* file: URIs came with QEMU 8.2. */
    mig_add_case_qemu_min("/migration/precopy/file", test_file, false, 8, 2);
    mig_add_case("/migration/precopy/pause-before-switchover",
                 test_pause_before_switchover, false);
    mig_add_case("/migration/fault/cancel", test_cancel, false);
    mig_add_case("/migration/fault/unreachable", test_unreachable, false);
    mig_add_case("/migration/fault/dest-killed", test_dest_killed, false);
    mig_add_case("/migration/fault/bad-streams", test_bad_streams, false);
    mig_add_case("/migration/fault/dest-write-error", test_dest_write_error,
                 false);
    mig_add_case("/migration/fault/dest-write-error-multifd",
                 test_dest_write_error_multifd, false);
    mig_add_case("/migration/fault/dest-write-error-postcopy-ram",
                 test_dest_write_error_postcopy_ram, false);
    mig_add_case("/migration/fault/dest-zero-pages-sparse",
                 test_dest_zero_pages_sparse, false);
    mig_add_case("/migration/fault/dest-zero-pages-sparse-multifd",
                 test_dest_zero_pages_sparse_multifd, false);
    mig_add_case("/migration/slow/bandwidth-limited", test_bandwidth_limited,
                 true);
    mig_add_case("/migration/slow/ping-pong", test_ping_pong, true);
    /*
     * Both accelerators in this run and KVM usable: added to the kvm
     * registration only (meson runs this program once per accelerator),
     * and never against QEMU, whose kvm and tcg CPU models differ.
     */
    if (qtest_accel_is("kvm") && qtest_kvm_available() &&
        qtest_accel_in_run("kvm") && qtest_accel_in_run("tcg") &&
        !mig_is_qemu()) {
        mig_add_case("/migration/accel/kvm-to-tcg", test_kvm_to_tcg, false);
        mig_add_case("/migration/accel/tcg-to-kvm", test_tcg_to_kvm, false);
    }
    return g_test_run();
}
