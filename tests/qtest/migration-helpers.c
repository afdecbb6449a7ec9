/*
 * Helpers for the migration qtests (see migration-helpers.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib.h>

#include "migration-helpers.h"
#include "stamp-check.h"

#define STAMP_SIZE (STAMP_END - STAMP_START)

/* ---- VMs ---------------------------------------------------------------- */

bool mig_skip_without_accel_or_guest(void)
{
    if (qtest_skip_without_accel()) {
        return true;
    }
    return qtest_guest_image("QTEST_GUEST_STAMP") == NULL;
}

bool mig_is_qemu(void)
{
    return qtest_vmm_is_qemu(qtest_vmm_binary());
}

bool mig_qemu_older_than(QTestState *s, int major, int minor)
{
    JsonNode *ret;
    JsonObject *v;
    int64_t ma, mi;

    if (!mig_is_qemu()) {
        return false;
    }
    ret = qtest_qmp_assert_success_ref(s, "{\"execute\": \"query-version\"}");
    v = json_object_get_object_member(json_node_get_object(ret), "qemu");
    ma = json_object_get_int_member(v, "major");
    mi = json_object_get_int_member(v, "minor");
    json_node_unref(ret);
    return ma < major || (ma == major && mi < minor);
}

char *mig_machine_args(const char *accel, const char *image,
                       const char *extra)
{
    return g_strdup_printf("-accel %s -m 150M -nodefaults "
                           "-drive file=%s,format=raw %s", accel, image,
                           extra ? extra : "");
}

/* The machine both sides must agree on. */
static char *stamp_machine_args(const char *extra)
{
    return mig_machine_args(qtest_accel(),
                            qtest_guest_image("QTEST_GUEST_STAMP"), extra);
}

static void wait_serial_or_fail(QTestState *s, char c, size_t n)
{
    if (!qtest_wait_serial(s, qtest_serial_path(s), c, n,
                           qtest_timeout_s())) {
        g_autofree char *why = qtest_exit_reason(s, 0);
        g_error("serial output never had %zu '%c' (has %zu): %s",
                n, c, qtest_file_count_char(qtest_serial_path(s), c), why);
    }
}

QTestState *mig_start_guest(const char *accel, const char *image,
                            const char *extra)
{
    g_autofree char *args = mig_machine_args(accel, image, extra);
    QTestState *s = qtest_initf("%s", args);

    wait_serial_or_fail(s, 'B', 1);
    return s;
}

QTestState *mig_start_source(const char *extra)
{
    return mig_start_guest(qtest_accel(),
                           qtest_guest_image("QTEST_GUEST_STAMP"), extra);
}

QTestState *mig_start_dest(const char *incoming, const char *extra)
{
    g_autofree char *more = g_strdup_printf("-incoming %s %s", incoming,
                                            extra ? extra : "");
    g_autofree char *args = stamp_machine_args(more);

    return qtest_initf("%s", args);
}

bool mig_dest_exits_on_error(QTestState *dst)
{
    /* exit-on-error appeared in QEMU 9.1. */
    return mig_qemu_older_than(dst, 9, 1);
}

QTestState *mig_start_pair(const char *src_extra, const char *dst_extra,
                           QTestState **dst, char **uri)
{
    QTestState *src = mig_start_source(src_extra);

    *uri = g_strdup_printf("unix:%s", qtest_path(src, "mig.sock"));
    *dst = mig_start_dest(*uri, dst_extra);
    return src;
}

/* ---- commands ----------------------------------------------------------- */

void mig_set_capability(QTestState *s, const char *cap, bool on)
{
    qtest_qmp_assert_success(s, "{\"execute\": \"migrate-set-capabilities\", "
                             "\"arguments\": {\"capabilities\": [{"
                             "\"capability\": \"%s\", \"state\": %s}]}}",
                             cap, on ? "true" : "false");
}

void mig_set_capability_both(QTestState *src, QTestState *dst,
                             const char *cap, bool on)
{
    mig_set_capability(src, cap, on);
    if (dst) {
        mig_set_capability(dst, cap, on);
    }
}

void mig_set_parameter(QTestState *s, const char *name, uint64_t value)
{
    qtest_qmp_assert_success(s, "{\"execute\": \"migrate-set-parameters\", "
                             "\"arguments\": {\"%s\": %" G_GUINT64_FORMAT
                             "}}", name, value);
}

uint64_t mig_downtime_ms(void)
{
    const char *env = g_getenv("QTEST_MIG_DOWNTIME_MS");

    return env && *env ? g_ascii_strtoull(env, NULL, 10) : 300;
}

void mig_set_unlimited(QTestState *s)
{
    mig_set_parameter(s, "max-bandwidth", MIG_BW_UNLIMITED);
    mig_set_parameter(s, "downtime-limit", mig_downtime_ms());
}

void mig_migrate(QTestState *s, const char *uri)
{
    qtest_qmp_assert_success(s, "{\"execute\": \"migrate\", "
                             "\"arguments\": {\"uri\": \"%s\"}}", uri);
}

void mig_incoming(QTestState *dst, const char *uri, bool keep_alive)
{
    if (keep_alive && !mig_dest_exits_on_error(dst)) {
        qtest_qmp_assert_success(dst, "{\"execute\": \"migrate-incoming\", "
                                 "\"arguments\": {\"uri\": \"%s\", "
                                 "\"exit-on-error\": false}}", uri);
    } else {
        qtest_qmp_assert_success(dst, "{\"execute\": \"migrate-incoming\", "
                                 "\"arguments\": {\"uri\": \"%s\"}}", uri);
    }
}

void mig_getfd(QTestState *s, int fd, const char *name)
{
    JsonNode *rsp = qtest_qmp_fds(s, &fd, 1, "{\"execute\": \"getfd\", "
                                  "\"arguments\": {\"fdname\": \"%s\"}}",
                                  name);

    if (qmp_rsp_is_error(rsp)) {
        g_error("getfd %s refused: %s", name, qmp_rsp_error_desc(rsp));
    }
    json_node_unref(rsp);
}

/* ---- status ------------------------------------------------------------ */

JsonNode *mig_query(QTestState *s)
{
    if (qtest_exited(s)) {
        g_autofree char *why = qtest_exit_reason(s, 0);
        g_error("VMM gone while a migration was observed: %s", why);
    }
    return qtest_qmp_assert_success_ref(s, "{\"execute\": \"query-migrate\"}");
}

char *mig_dest_tcp_port(QTestState *dst)
{
    g_autoptr(JsonNode) info = mig_query(dst);
    JsonObject *o = json_node_get_object(info);
    JsonArray *addrs;
    JsonObject *a;
    JsonNode *port;

    if (!json_object_has_member(o, "socket-address")) {
        g_autofree char *txt = qmp_to_string(info);
        g_error("destination listening on tcp port 0 reports no "
                "socket-address in query-migrate: %s", txt);
    }
    addrs = json_object_get_array_member(o, "socket-address");
    g_assert_cmpuint(json_array_get_length(addrs), >=, 1);
    a = json_array_get_object_element(addrs, 0);
    g_assert_cmpstr(json_object_get_string_member(a, "type"), ==, "inet");
    port = json_object_get_member(a, "port");
    /* QEMU's SocketAddress carries the port as a string. */
    if (json_node_get_value_type(port) == G_TYPE_STRING) {
        return g_strdup(json_node_get_string(port));
    }
    return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(port));
}

void mig_check_analyzer(const char *path, const char *const *needles)
{
    const char *script = g_getenv("QTEST_ANALYZE_MIGRATION");
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    int status = -1;
    const char *argv[] = { "python3", script, "-f", path, NULL };

    if (!script || mig_is_qemu()) {
        return;
    }
    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH,
                               NULL, NULL, &out, &err, &status, NULL));
    if (!g_spawn_check_wait_status(status, NULL)) {
        g_error("analyze-migration failed on %s:\n%s\n%s", path, err, out);
    }
    for (; *needles; needles++) {
        if (!strstr(out, *needles)) {
            g_error("analyze-migration's output for %s lacks %s:\n%s", path,
                    *needles, out);
        }
    }
}

static const char *info_str(JsonNode *info, const char *name)
{
    JsonObject *o = json_node_get_object(info);

    return json_object_has_member(o, name) ?
        json_object_get_string_member(o, name) : NULL;
}

char *mig_status(QTestState *s)
{
    g_autoptr(JsonNode) info = mig_query(s);
    const char *st = info_str(info, "status");

    return g_strdup(st ? st : "none");
}

int64_t mig_info_int(JsonNode *info, const char *name)
{
    JsonObject *o = json_node_get_object(info);

    return json_object_has_member(o, name) ?
        json_object_get_int_member(o, name) : -1;
}

int64_t mig_ram_counter(JsonNode *info, const char *name)
{
    JsonObject *o = json_node_get_object(info);
    JsonObject *ram;

    if (!json_object_has_member(o, "ram")) {
        return -1;
    }
    ram = json_object_get_object_member(o, "ram");
    return json_object_has_member(ram, name) ?
        json_object_get_int_member(ram, name) : -1;
}

static bool in_list(const char *st, const char *const *list)
{
    for (; *list; list++) {
        if (g_str_equal(st, *list)) {
            return true;
        }
    }
    return false;
}

static bool is_terminal(const char *st)
{
    return g_str_equal(st, "completed") || g_str_equal(st, "failed") ||
           g_str_equal(st, "cancelled");
}

char *mig_wait_status(QTestState *s, const char *const *want)
{
    gint64 deadline = g_get_monotonic_time() +
                      (gint64)qtest_timeout_s() * G_USEC_PER_SEC;

    for (;;) {
        g_autoptr(JsonNode) info = mig_query(s);
        const char *st = info_str(info, "status");

        st = st ? st : "none";
        if (in_list(st, want)) {
            return g_strdup(st);
        }
        if (is_terminal(st) || g_get_monotonic_time() > deadline) {
            g_autofree char *txt = qmp_to_string(info);
            g_autofree char *w = g_strjoinv("|", (char **)want);
            g_error("migration status %s while waiting for %s%s: %s", st, w,
                    is_terminal(st) ? "" : " (timed out)", txt);
        }
        g_usleep(MIG_POLL_MS * 1000);
    }
}

/* Wait (bounded) until @s's run state is no longer @from. */
static void wait_run_state_leaves(QTestState *s, const char *from)
{
    gint64 deadline = g_get_monotonic_time() +
                      (gint64)qtest_timeout_s() * G_USEC_PER_SEC;

    for (;;) {
        bool running;
        g_autofree char *st = qtest_query_status(s, &running);

        if (strcmp(st, from)) {
            return;
        }
        if (g_get_monotonic_time() > deadline) {
            g_error("run state still %s (timed out)", from);
        }
        g_usleep(MIG_POLL_MS * 1000);
    }
}

void mig_wait_completed(QTestState *src)
{
    static const char *const want[] = { "completed", NULL };
    g_free(mig_wait_status(src, want));
    /*
     * The migration thread reports "completed"; the main loop then joins
     * it and moves the run state on to postmigrate (QEMU too), so a
     * query-status right after can still say finish-migrate.
     */
    wait_run_state_leaves(src, "finish-migrate");
}

void mig_wait_dirty_syncs(QTestState *s, int64_t n)
{
    gint64 deadline = g_get_monotonic_time() +
                      qtest_timeout_s() * G_USEC_PER_SEC;

    for (;;) {
        g_autoptr(JsonNode) info = mig_query(s);
        g_autofree char *status = mig_status(s);

        if (strcmp(status, "setup") && strcmp(status, "active")) {
            g_autofree char *txt = qmp_to_string(info);
            g_error("migration %s while waiting for %" G_GINT64_FORMAT
                    " dirty syncs: %s", status, n, txt);
        }
        if (json_object_has_member(json_node_get_object(info), "ram") &&
            mig_ram_counter(info, "dirty-sync-count") >= n) {
            return;
        }
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(MIG_POLL_MS * 1000);
    }
}

const char *mig_error_desc(JsonNode *info)
{
    const char *desc = info_str(info, "error-desc");

    if (!desc) {
        g_autofree char *txt = qmp_to_string(info);
        g_error("failed migration without error-desc: %s", txt);
    }
    return desc;
}

void mig_wait_ram_counter_above(QTestState *s, const char *name,
                                int64_t min)
{
    gint64 deadline = g_get_monotonic_time() +
                      (gint64)qtest_timeout_s() * G_USEC_PER_SEC;

    for (;;) {
        g_autoptr(JsonNode) info = mig_query(s);

        if (mig_ram_counter(info, name) > min) {
            return;
        }
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(MIG_POLL_MS * 1000);
    }
}

void mig_start_crawl(QTestState *src, const char *uri, uint64_t bw)
{
    static const char *const active[] = { "active", NULL };
    g_autofree char *st = NULL;

    mig_set_parameter(src, "max-bandwidth", bw);
    mig_migrate(src, uri);
    st = mig_wait_status(src, active);
    /* Mid-stream, not just connected: some RAM is on its way. */
    mig_wait_ram_counter_above(src, "transferred", 1 << 20);
}

void mig_wait_running(QTestState *s)
{
    gint64 deadline = g_get_monotonic_time() +
                      (gint64)qtest_timeout_s() * G_USEC_PER_SEC;

    for (;;) {
        bool running = false;
        g_autofree char *st = NULL;

        if (qtest_exited(s)) {
            g_autofree char *why = qtest_exit_reason(s, 0);
            g_error("VMM gone while waiting for its guest to run: %s", why);
        }
        st = qtest_query_status(s, &running);
        if (running) {
            return;
        }
        if (g_get_monotonic_time() > deadline) {
            g_error("guest never ran (query-status says %s)", st);
        }
        g_usleep(MIG_POLL_MS * 1000);
    }
}

/* ---- guest checks ------------------------------------------------------- */

void mig_wait_more_passes(QTestState *s, size_t n)
{
    size_t now = qtest_file_count_char(qtest_serial_path(s), 'B');

    wait_serial_or_fail(s, 'B', now + n);
}

static void stop_and_wait(QTestState *s)
{
    qtest_qmp_assert_success(s, "{\"execute\": \"stop\"}");
    json_node_unref(qtest_qmp_eventwait(s, "STOP"));
}

GBytes *mig_pmemsave(QTestState *s, uint64_t addr, uint64_t size)
{
    /* A fresh name per dump: a VMM may be asked again before unlink. */
    g_autofree char *path = g_strdup_printf("%s.%d",
                                            qtest_path(s, "pmemsave.bin"),
                                            g_random_int_range(0, 1 << 30));
    char *data = NULL;
    gsize len = 0;

    qtest_qmp_assert_success(s, "{\"execute\": \"pmemsave\", \"arguments\": "
                             "{\"val\": %llu, \"size\": %llu, "
                             "\"filename\": \"%s\"}}",
                             (unsigned long long)addr,
                             (unsigned long long)size, path);
    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    unlink(path);
    g_assert_cmpuint(len, ==, size);
    return g_bytes_new_take(data, len);
}

GBytes *mig_stamp_memory(QTestState *s)
{
    g_autofree char *why = NULL;
    bool running = false;
    GBytes *mem;

    g_free(qtest_query_status(s, &running));
    if (running) {
        stop_and_wait(s);
    }
    mem = mig_pmemsave(s, STAMP_START, STAMP_SIZE);
    if (!stamp_check_buf(g_bytes_get_data(mem, NULL), STAMP_SIZE,
                         STAMP_START, &why)) {
        g_error("stamp invariant broken: %s", why);
    }
    return mem;
}

static void cont_and_wait(QTestState *s)
{
    qtest_qmp_assert_success(s, "{\"execute\": \"cont\"}");
    json_node_unref(qtest_qmp_eventwait(s, "RESUME"));
}

void mig_check_stamp(QTestState *s, bool resume)
{
    g_bytes_unref(mig_stamp_memory(s));
    if (resume) {
        cont_and_wait(s);
    }
}

/*
 * The destination resumed the guest exactly where the source stopped it,
 * then made @passes complete passes (it printed that many 'B'): each page
 * was incremented passes - 1, passes or passes + 1 times (the partial
 * passes at either end), whatever the source's values were.  A page that
 * arrived stale, or RAM that never arrived, shows up as another difference.
 */
static void check_dest_follows_source(GBytes *src, GBytes *dst,
                                      size_t passes)
{
    const uint8_t *a = g_bytes_get_data(src, NULL);
    const uint8_t *b = g_bytes_get_data(dst, NULL);
    size_t off;

    g_assert_cmpuint(g_bytes_get_size(src), ==, g_bytes_get_size(dst));
    for (off = 0; off < g_bytes_get_size(src); off += STAMP_PAGE_SIZE) {
        unsigned d = (uint8_t)(b[off] - a[off]);
        unsigned lo = (uint8_t)(passes - 1);

        if ((uint8_t)(d - lo) > 2) {
            g_error("destination page 0x%llx holds %u, the source's held %u: "
                    "%u increments, but the destination guest made %zu "
                    "passes (stale or missing RAM)",
                    (unsigned long long)(STAMP_START + off), b[off], a[off],
                    d, passes);
        }
    }
}

/*
 * The stamp guest (and the rate guest) counts its passes at
 * STAMP_PASSES_ADDR from boot.  The destination printed only the passes
 * it ran itself, and the source had run at least one before migrating: a
 * count not above the destination's own 'B's means the guest was
 * restarted there (CPU state lost), which the memory checks alone cannot
 * see once a full pass has run.
 */
#define STAMP_PASSES_ADDR MIG_RATE_PASSES

static void check_dest_continued(QTestState *dst)
{
    g_autofree char *path = g_strdup_printf("%s.passes",
                                            qtest_path(dst, "stamp.bin"));
    g_autofree char *data = NULL;
    size_t own = qtest_file_count_char(qtest_serial_path(dst), 'B');
    gsize len = 0;
    uint32_t count;

    qtest_qmp_assert_success(dst, "{\"execute\": \"pmemsave\", "
                             "\"arguments\": {\"val\": %d, \"size\": 4, "
                             "\"filename\": \"%s\"}}", STAMP_PASSES_ADDR,
                             path);
    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    g_assert_cmpuint(len, ==, 4);
    memcpy(&count, data, 4);
    count = GUINT32_FROM_LE(count);
    if (count <= own) {
        g_error("destination guest counted %u passes but printed %zu itself: "
                "it restarted instead of continuing (CPU state lost)",
                count, own);
    }
}

void mig_check_dest(QTestState *dst, GBytes *src_mem, bool resume)
{
    g_autoptr(GBytes) mem = NULL;

    mig_wait_running(dst);
    mig_wait_more_passes(dst, 2);
    mem = mig_stamp_memory(dst);
    check_dest_continued(dst);
    if (src_mem) {
        /* Stopped: the count of passes is final. */
        check_dest_follows_source(src_mem, mem,
                                  qtest_file_count_char(
                                      qtest_serial_path(dst), 'B'));
    }
    if (resume) {
        cont_and_wait(dst);
    }
}

void mig_complete_and_check(QTestState *src, QTestState *dst, bool resume)
{
    g_autoptr(GBytes) src_mem = NULL;

    mig_wait_completed(src);
    qtest_assert_status(src, "postmigrate");
    src_mem = mig_stamp_memory(src);
    mig_check_dest(dst, src_mem, resume);
}

void mig_migrate_and_check(QTestState *src, QTestState *dst,
                           const char *uri, bool resume)
{
    mig_set_unlimited(src);
    mig_migrate(src, uri);
    mig_complete_and_check(src, dst, resume);
}

void mig_check_source_survived(QTestState *src)
{
    mig_assert_running(src);
    mig_wait_more_passes(src, 1);
    mig_check_stamp(src, true);
    mig_assert_running(src);
}

void mig_check_dest_and_quit(QTestState *src, QTestState *dst,
                             bool compare_src)
{
    g_autoptr(GBytes) src_mem = compare_src ? mig_stamp_memory(src) : NULL;

    mig_check_dest(dst, src_mem, false);
    mig_quit_clean(src);
    mig_quit_clean(dst);
}

void mig_check_rate_memory(QTestState *dst, uint32_t wset_mib)
{
    g_autofree char *dump = g_strdup_printf("%s.mem",
                                            qtest_path(dst, "rate"));
    g_autofree char *why = NULL;

    mig_wait_running(dst);
    mig_wait_more_passes(dst, 2);
    stop_and_wait(dst);
    qtest_qmp_assert_success(dst, "{\"execute\": \"pmemsave\", \"arguments\": "
                             "{\"val\": %llu, \"size\": %llu, "
                             "\"filename\": \"%s\"}}",
                             (unsigned long long)MIG_RATE_START,
                             (unsigned long long)wset_mib << 20, dump);
    if (!stamp_check_file(dump, MIG_RATE_START, &why)) {
        g_error("rate guest's working set broken on the destination: %s",
                why);
    }
    unlink(dump);
}

void mig_check_rate_dest(QTestState *dst, uint32_t wset_mib)
{
    mig_check_rate_memory(dst, wset_mib);
    /* Still stopped: its own count of passes is final. */
    check_dest_continued(dst);
}

void mig_assert_running(QTestState *s)
{
    bool running = false;
    g_autofree char *st = NULL;

    if (qtest_exited(s)) {
        g_autofree char *why = qtest_exit_reason(s, 0);
        g_error("guest should be running: %s", why);
    }
    st = qtest_query_status(s, &running);
    if (!running) {
        g_error("guest should be running, query-status says %s", st);
    }
}

void mig_quit_clean(QTestState *s)
{
    int st = qtest_quit(s);

    if (WIFSIGNALED(st)) {
        g_error("VMM died of signal %d (a crash, or killed after it would "
                "not quit)", WTERMSIG(st));
    }
}

/* ---- file systems ------------------------------------------------------ */

char *mig_private_mount(const char *fstype, const char *opts, char **why)
{
    g_autofree char *dir = g_strdup_printf("%s/qmig-mnt-%s-XXXXXX",
                                           g_get_tmp_dir(), fstype);

    if (geteuid() != 0) {
        *why = g_strdup_printf("needs root to mount a private %s", fstype);
        return NULL;
    }
    if (unshare(CLONE_NEWNS) < 0 ||
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        *why = g_strdup_printf("no private mount namespace: %s",
                               g_strerror(errno));
        return NULL;
    }
    if (!g_mkdtemp(dir) || mount(fstype, dir, fstype, 0, opts) < 0) {
        *why = g_strdup_printf("cannot mount a %s: %s", fstype,
                               g_strerror(errno));
        return NULL;
    }
    return g_steal_pointer(&dir);
}

void mig_private_umount(const char *dir)
{
    g_assert_cmpint(umount(dir), ==, 0);
    rmdir(dir);
}

/* ---- cases -------------------------------------------------------------- */

typedef struct MigCase {
    char *path;
    void (*fn)(void);
    int qemu_min;           /* major * 100 + minor; 0: any */
    const char *kvm_feature;    /* only KVM has it: what, for the skip */
} MigCase;

/*
 * What the parent process learns once from a paused VM: does the VMM
 * have a "migrate" command at all (qmig while precopy is being written
 * may not; its cases are then skipped with that reason instead of each
 * failing in a confusing way), and QEMU's version, for cases that need a
 * newer QEMU than the one installed.
 */
static int probe_has_migrate = -1;
static int probe_version;           /* major * 100 + minor */

static void probe_vmm(void)
{
    g_autofree char *args = NULL;
    QTestState *s;
    JsonNode *ret;
    JsonArray *a;
    guint i;

    if (probe_has_migrate >= 0) {
        return;
    }
    args = stamp_machine_args("-S");
    s = qtest_initf("%s", args);
    ret = qtest_qmp_assert_success_ref(s, "{\"execute\": \"query-commands\"}");
    a = json_node_get_array(ret);
    probe_has_migrate = 0;
    for (i = 0; i < json_array_get_length(a); i++) {
        JsonObject *c = json_array_get_object_element(a, i);

        probe_has_migrate |= g_str_equal(json_object_get_string_member(c,
                                                                    "name"),
                                         "migrate");
    }
    json_node_unref(ret);
    probe_version = 10000;
    if (mig_is_qemu()) {
        JsonObject *v;

        ret = qtest_qmp_assert_success_ref(s,
                                           "{\"execute\": \"query-version\"}");
        v = json_object_get_object_member(json_node_get_object(ret), "qemu");
        probe_version = json_object_get_int_member(v, "major") * 100 +
                        json_object_get_int_member(v, "minor");
        json_node_unref(ret);
    }
    qtest_quit(s);
}

static void run_case(gconstpointer opaque)
{
    const MigCase *c = opaque;

    if (g_test_subprocess()) {
        c->fn();
        return;
    }
    if (mig_skip_without_accel_or_guest()) {
        return;
    }
    if (c->kvm_feature && qtest_skip_unless_kvm(c->kvm_feature)) {
        return;
    }
    probe_vmm();
    if (!probe_has_migrate) {
        g_test_skip("the VMM under test has no 'migrate' QMP command yet");
        return;
    }
    if (probe_version < c->qemu_min) {
        g_autofree char *why = g_strdup_printf(
            "needs QEMU %d.%d or later, the VMM is QEMU %d.%d",
            c->qemu_min / 100, c->qemu_min % 100, probe_version / 100,
            probe_version % 100);
        g_test_skip(why);
        return;
    }
    /* A case runs a few migrations, each bounded by the timeout. */
    g_test_trap_subprocess(NULL, (guint64)qtest_timeout_s() * 6 *
                           G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
    if (!g_test_trap_has_passed()) {
        g_test_message("%s failed (see its stderr above)", c->path);
        g_test_fail();
    }
}

static MigCase *add_case(const char *path, void (*fn)(void), bool slow)
{
    MigCase *c;

    /*
     * The subprocess re-runs main() with -p PATH but not necessarily the
     * -m mode, so there every case is registered.
     */
    if (slow && !g_test_slow() && !g_test_subprocess()) {
        return NULL;
    }
    c = g_new0(MigCase, 1);
    c->path = g_strdup(path);
    c->fn = fn;
    g_test_add_data_func(c->path, c, run_case);
    return c;
}

void mig_add_case_qemu_min(const char *path, void (*fn)(void), bool slow,
                           int major, int minor)
{
    MigCase *c = add_case(path, fn, slow);

    if (c) {
        c->qemu_min = major * 100 + minor;
    }
}

void mig_add_case(const char *path, void (*fn)(void), bool slow)
{
    add_case(path, fn, slow);
}

void mig_add_case_kvm(const char *path, void (*fn)(void), bool slow,
                      const char *feature)
{
    MigCase *c = add_case(path, fn, slow);

    if (c) {
        c->kvm_feature = feature;
    }
}

/* ---- hand-made streams ------------------------------------------------ */

void mig_put_u8(GByteArray *a, uint8_t v)
{
    g_byte_array_append(a, &v, 1);
}

void mig_put_be16(GByteArray *a, uint16_t v)
{
    uint8_t b[2] = { v >> 8, v };

    g_byte_array_append(a, b, 2);
}

void mig_put_be32(GByteArray *a, uint32_t v)
{
    uint8_t b[4] = { v >> 24, v >> 16, v >> 8, v };

    g_byte_array_append(a, b, 4);
}

void mig_put_be64(GByteArray *a, uint64_t v)
{
    mig_put_be32(a, v >> 32);
    mig_put_be32(a, v);
}

void mig_put_counted(GByteArray *a, const char *str)
{
    mig_put_u8(a, strlen(str));
    g_byte_array_append(a, (const uint8_t *)str, strlen(str));
}

int mig_connect_unix(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    g_assert_cmpint(fd, >=, 0);
    g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
    g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    return fd;
}

void mig_put_stream_header(GByteArray *a)
{
    mig_put_be32(a, 0x5145564d);    /* QEVM */
    mig_put_be32(a, 3);
    mig_put_u8(a, 0x07);            /* CONFIGURATION */
    mig_put_be32(a, strlen("pc-i440fx"));
    g_byte_array_append(a, (const uint8_t *)"pc-i440fx", 9);
}

void mig_put_ram_start(GByteArray *a, uint32_t id, uint64_t ram_size)
{
    mig_put_u8(a, 0x01);                    /* SECTION_START */
    mig_put_be32(a, id);
    mig_put_counted(a, "ram");
    mig_put_be32(a, 0);
    mig_put_be32(a, 4);
    mig_put_be64(a, ram_size | 0x04);       /* MEM_SIZE */
    mig_put_counted(a, "pc.ram");
    mig_put_be64(a, ram_size);
}

#define RATE_D_OFFSET 0x1f4
#define RATE_W_OFFSET 0x1f8

char *mig_rate_image(uint32_t wset_mib, uint32_t delay)
{
    const char *src = qtest_guest_image("QTEST_GUEST_RATE");
    g_autofree char *data = NULL;
    gsize len = 0;
    char *path = NULL;
    int fd;

    g_assert_nonnull(src);
    g_assert_true(g_file_get_contents(src, &data, &len, NULL));
    g_assert_cmpuint(len, ==, 512);
    wset_mib = GUINT32_TO_LE(wset_mib);
    delay = GUINT32_TO_LE(delay);
    memcpy(data + RATE_W_OFFSET, &wset_mib, 4);
    memcpy(data + RATE_D_OFFSET, &delay, 4);
    fd = g_file_open_tmp("qmig-rate-XXXXXX.img", &path, NULL);
    g_assert_cmpint(fd, >=, 0);
    g_assert_true(g_file_set_contents(path, data, len, NULL));
    close(fd);
    return path;
}
