/*
 * VFIO migration over vfio-user: the stamp guest plus a vfio-user device
 * (tests/vfio-user/vfio-user-server) migrate together.
 *
 * The source device changes its internal state and writes a sequence
 * record into 64 guest pages by DMA every 500 us while it runs, so its
 * precopy data must be re-sent and its DMA dirty log merged into RAM's.
 * Each successful case checks that
 *   - the destination device loaded exactly the source's state (the
 *     SHA-256 of the state the source sent at STOP_COPY's end equals the
 *     one the destination holds after RESUMING, and the source's now);
 *   - the device wrote by DMA while the migration ran, and the pages it
 *     wrote last hold those records in the destination's guest memory
 *     (the destination device checks this before it first runs);
 *   - the guest's stamp invariant holds on the destination, which runs on.
 * Cases: precopy; precopy with multifd channels and the device's
 * switchover state over them (x-migration-multifd-transfer=on); postcopy, which QEMU refuses for
 * VFIO devices ("VFIO migration is not supported with postcopy
 * migration") and so must be refused here with the guest running on; a
 * device that fails its transition to STOP_COPY, or to PRE_COPY, fails
 * the migration and the source guest and device run on; a destination
 * device that fails RESUMING -> STOP fails the load, the destination
 * exits without running the guest, and over the return path the source
 * guest and device run on.
 *
 * Skips (with the reason) where the VMM has no vfio-user-pci device.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>
#include <sys/wait.h>
#include <glib.h>

#include "migration-helpers.h"
#include "../vfio-user/vu-server-ctl.h"

/* The device's DMA window: above the stamp range, inside the 150 MiB. */
#define DMA_IOVA    0x07000000ULL
#define DMA_PAGES   64

/* Why every case skips, or NULL when the VMM has vfio-user-pci. */
static const char *skip_reason;

typedef struct VuPair {
    VuServer *src_dev, *dst_dev;
    QTestState *src, *dst;
    char *uri;
} VuPair;

/*
 * Memory the device server can map, and the device on its socket with
 * the device properties @props (may be NULL).
 */
static char *vu_machine_args(VuServer *dev, const char *props)
{
    return g_strdup_printf("-object memory-backend-memfd,id=mem0,size=150M,"
                           "share=on -machine memory-backend=mem0 "
                           "-device vfio-user-pci,id=vu0,socket=%s%s%s",
                           dev->sock_path, props ? "," : "",
                           props ? props : "");
}

/*
 * A source device that runs and DMAs (@busy: its precopy data never runs
 * out), a plain destination, two VMMs.
 */
static void vu_pair_start_dev(VuPair *p, const char *props, bool busy)
{
    g_autofree char *src_args = NULL, *dst_args = NULL;
    /*
     * Under ThreadSanitizer the source VMM moves a few MB/s: a device as
     * busy as elsewhere would take most of that and the migration would
     * not finish within the bounds.
     */
    int tick_us = g_getenv("QTEST_TSAN") ? 5000 : 500;
    g_autofree char *dev_args = g_strdup_printf(
        "--dma-iova %llu --dma-pages %d --tick-us %d --dirty-per-tick 2%s",
        DMA_IOVA, DMA_PAGES, tick_us, busy ? " --always-dirty" : "");

    p->src_dev = vu_server_start(dev_args, qtest_timeout_s());
    p->dst_dev = vu_server_start(NULL, qtest_timeout_s());
    src_args = vu_machine_args(p->src_dev, props);
    dst_args = vu_machine_args(p->dst_dev, props);
    p->src = mig_start_pair(src_args, dst_args, &p->dst, &p->uri);
    /* The device is mapped and writing into guest memory. */
    vu_server_wait_u64(p->src_dev, "dma-writes", DMA_PAGES,
                       qtest_timeout_s());
}

static void vu_pair_start_props(VuPair *p, const char *props)
{
    vu_pair_start_dev(p, props, false);
}

static void vu_pair_start(VuPair *p)
{
    vu_pair_start_props(p, NULL);
}

static void vu_pair_stop_servers(VuPair *p)
{
    vu_server_stop(p->src_dev);
    vu_server_stop(p->dst_dev);
    g_free(p->uri);
}

/* query-migrate's "vfio": {"transferred": N}, or -1 without it. */
static int64_t mig_info_vfio_transferred(JsonNode *info)
{
    JsonObject *o = json_node_get_object(info);
    JsonObject *vfio;

    if (!json_object_has_member(o, "vfio")) {
        return -1;
    }
    vfio = json_object_get_object_member(o, "vfio");
    return json_object_has_member(vfio, "transferred") ?
           json_object_get_int_member(vfio, "transferred") : -1;
}

/* The checks of a completed migration, then both VMMs quit. */
static void vu_check_migrated(VuPair *p, uint64_t seq_before)
{
    g_autofree char *saved = vu_server_info(p->src_dev, "saved-hash");
    g_autofree char *src_hash = vu_server_info(p->src_dev, "hash");
    g_autofree char *loaded = vu_server_info(p->dst_dev, "loaded-hash");
    g_autofree char *src_state = vu_server_info(p->src_dev, "state");
    g_autofree char *check = NULL, *dst_state = NULL;
    g_autoptr(JsonNode) info = mig_query(p->src);
    uint64_t seq_after = vu_server_info_u64(p->src_dev, "seq");

    g_test_message("device: %" G_GUINT64_FORMAT " DMA records written "
                   "during the migration; state %s", seq_after - seq_before,
                   saved);
    g_assert_cmpstr(src_state, ==, "STOP");
    g_assert_cmpstr(saved, !=, "none");
    g_assert_cmpstr(saved, ==, src_hash);
    g_assert_cmpstr(loaded, ==, saved);
    g_assert_cmpuint(seq_after, >, seq_before);
    /* QEMU's VfioStats: the bytes of device data the source sent. */
    g_assert_cmpint(mig_info_vfio_transferred(info), >=, 1 << 20);

    mig_wait_running(p->dst);
    check = vu_server_info(p->dst_dev, "resume-check");
    dst_state = vu_server_info(p->dst_dev, "state");
    g_test_message("destination device before it ran: %s", check);
    g_assert_true(g_str_has_prefix(check, "ok:"));
    g_assert_cmpuint(g_ascii_strtoull(check + 3, NULL, 10), ==, DMA_PAGES);
    g_assert_cmpstr(dst_state, ==, "RUNNING");
    mig_check_dest_and_quit(p->src, p->dst, true);
}

static void run_precopy(bool multifd, bool busy)
{
    VuPair p;
    uint64_t seq;

    /* Multifd: the switchover device state goes over the channels. */
    vu_pair_start_dev(&p, multifd ? "x-migration-multifd-transfer=on" : NULL,
                      busy);
    if (multifd) {
        mig_set_capability_both(p.src, p.dst, "multifd", true);
        mig_set_parameter(p.src, "multifd-channels", 4);
        mig_set_parameter(p.dst, "multifd-channels", 4);
    }
    mig_set_unlimited(p.src);
    seq = vu_server_info_u64(p.src_dev, "seq");
    mig_migrate(p.src, p.uri);
    mig_wait_completed(p.src);
    vu_check_migrated(&p, seq);
    vu_pair_stop_servers(&p);
}

static void test_precopy(void)
{
    run_precopy(false, false);
}

static void test_multifd(void)
{
    run_precopy(true, false);
}

/*
 * A device whose precopy data never runs dry must not keep the migration
 * from RAM: each iteration takes a bounded amount of device data (QEMU's
 * takes one buffer), RAM converges and the switchover sends the rest.
 */
static void test_busy_device(void)
{
    run_precopy(false, true);
}

/* Neither the guest nor the device may notice the refused migration. */
static void vu_assert_runs_on(VuPair *p)
{
    g_autofree char *state = NULL;

    mig_assert_running(p->src);
    mig_wait_more_passes(p->src, 1);
    state = vu_server_info(p->src_dev, "state");
    g_assert_cmpstr(state, ==, "RUNNING");
    vu_server_wait_u64(p->src_dev, "dma-writes",
                       vu_server_info_u64(p->src_dev, "dma-writes") + 4,
                       qtest_timeout_s());
}

/*
 * QEMU refuses postcopy-ram with a VFIO device when the migration is
 * started (a device cannot wait for pages that have not arrived yet).
 */
static void test_postcopy_refused(void)
{
    g_autoptr(JsonNode) rsp = NULL;
    g_autofree char *status = NULL;
    VuPair p;

    vu_pair_start(&p);
    mig_set_capability_both(p.src, p.dst, "postcopy-ram", true);
    rsp = qtest_qmp(p.src, "{\"execute\": \"migrate\", \"arguments\": "
                    "{\"uri\": \"%s\"}}", p.uri);
    /* The command itself fails, before any connection, as QEMU's does. */
    g_assert_true(qmp_rsp_is_error(rsp));
    g_test_message("migrate: %s", qmp_rsp_error_desc(rsp));
    g_assert_nonnull(strstr(qmp_rsp_error_desc(rsp), "postcopy"));
    /* Refused before it began: no migration ran, nothing failed. */
    status = mig_status(p.src);
    g_assert_cmpstr(status, ==, "none");
    vu_assert_runs_on(&p);
    mig_quit_clean(p.src);
    qtest_quit(p.dst);
    vu_pair_stop_servers(&p);
}

/* The device fails its arc to @state: the migration fails, all runs on. */
static void run_fail_transition(const char *state)
{
    static const char *const failed[] = { "failed", NULL };
    g_autofree char *cmd = g_strdup_printf("fail-transition %s", state);
    g_autofree char *ok = NULL, *st = NULL;
    g_autoptr(JsonNode) info = NULL;
    VuPair p;

    vu_pair_start(&p);
    ok = vu_server_cmd(p.src_dev, cmd);
    g_assert_cmpstr(ok, ==, "ok");
    mig_set_unlimited(p.src);
    mig_migrate(p.src, p.uri);
    st = mig_wait_status(p.src, failed);
    info = mig_query(p.src);
    g_test_message("migration failed: %s", mig_error_desc(info));
    g_assert_nonnull(strstr(mig_error_desc(info), "vu0"));
    vu_assert_runs_on(&p);
    mig_quit_clean(p.src);
    qtest_quit(p.dst);
    vu_pair_stop_servers(&p);
}

static void test_fail_stop_copy(void)
{
    run_fail_transition("STOP_COPY");
}

static void test_fail_pre_copy(void)
{
    run_fail_transition("PRE_COPY");
}

/*
 * The destination device refuses RESUMING -> STOP (as one given bad data
 * would): the destination's load fails and it exits without running the
 * guest; over the return path the source learns it and runs on.
 */
static void test_dest_load_fails(void)
{
    static const char *const failed[] = { "failed", NULL };
    g_autofree char *ok = NULL, *st = NULL, *loaded = NULL;
    g_autoptr(JsonNode) info = NULL;
    VuPair p;
    int status;

    vu_pair_start(&p);
    ok = vu_server_cmd(p.dst_dev, "fail-transition RESUMING:STOP");
    g_assert_cmpstr(ok, ==, "ok");
    mig_set_capability_both(p.src, p.dst, "return-path", true);
    mig_set_unlimited(p.src);
    mig_migrate(p.src, p.uri);
    st = mig_wait_status(p.src, failed);
    info = mig_query(p.src);
    g_test_message("migration failed: %s", mig_error_desc(info));
    g_assert_nonnull(strstr(mig_error_desc(info),
                            "The destination failed to load"));
    if (!qtest_wait_exit(p.dst, qtest_timeout_s(), &status)) {
        g_error("the destination did not exit after its load failed");
    }
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), !=, 0);
    g_assert_cmpuint(qtest_file_count_char(qtest_serial_path(p.dst), 'B'),
                     ==, 0);
    /* The device never completed a load. */
    loaded = vu_server_info(p.dst_dev, "loaded-hash");
    g_assert_cmpstr(loaded, ==, "none");
    vu_assert_runs_on(&p);
    mig_quit_clean(p.src);
    mig_quit_clean(p.dst);
    vu_pair_stop_servers(&p);
}

/* ---- registration ---- */

static void skip_case(gconstpointer reason)
{
    g_test_skip(reason);
}

/* Does the VMM under test list vfio-user-pci in -device help? */
static const char *probe_skip_reason(void)
{
    const char *argv[] = { qtest_vmm_binary(), "-device", "help", NULL };
    g_autofree char *out = NULL;

    if (!vu_server_binary()) {
        return "VFIO_USER_SERVER (the test device server) is not set";
    }
    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL,
                      NULL, NULL, &out, NULL, NULL, NULL) ||
        !strstr(out, "\"vfio-user-pci\"")) {
        return "the VMM under test has no vfio-user-pci device";
    }
    return NULL;
}

/* Register @fn as @path, or as a skip saying @why when that is set. */
static void vu_add_case_unless(const char *path, void (*fn)(void),
                               const char *why)
{
    if (skip_reason || why) {
        g_test_add_data_func(path, skip_reason ? skip_reason : why,
                             skip_case);
    } else {
        mig_add_case(path, fn, false);
    }
}

static void vu_add_case(const char *path, void (*fn)(void))
{
    vu_add_case_unless(path, fn, NULL);
}

int main(int argc, char **argv)
{
    qtest_main_init(&argc, &argv);
    skip_reason = probe_skip_reason();
    vu_add_case("/vfio-user/precopy", test_precopy);
    vu_add_case("/vfio-user/multifd", test_multifd);
    /* Its 1 MiB per iteration outruns an instrumented VMM's RAM. */
    vu_add_case_unless("/vfio-user/busy-device", test_busy_device,
                       g_getenv("QTEST_TSAN") ?
                       "a device that never runs dry does not converge in "
                       "bounded time against a ThreadSanitizer VMM" : NULL);
    vu_add_case("/vfio-user/postcopy-refused", test_postcopy_refused);
    vu_add_case("/vfio-user/fail-stop-copy", test_fail_stop_copy);
    vu_add_case("/vfio-user/fail-pre-copy", test_fail_pre_copy);
    vu_add_case("/vfio-user/dest-load-fails", test_dest_load_fails);
    return g_test_run();
}
