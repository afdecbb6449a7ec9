/*
 * The KVM dirty ring (-accel kvm,dirty-ring-size=N): precopy with the ring
 * (the stamp invariant on the destination), calc-dirty-rate in dirty-ring
 * mode (with the per-vCPU rates), and the dirty-limit capability's rules
 * (the limiter itself: dirty-limit-test.c).  The ring is KVM's: under tcg
 * the cases that use it skip, and one more checks that tcg refuses every
 * ring feature saying so.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <glib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "libqtest.h"
#include "migration-helpers.h"

#define RATE_WSET_MIB   32
/* Slower than the stamp guest dirties memory: it cannot converge. */
#define PRECOPY_BW      (64ULL << 20)
/* Dirty syncs (rounds read from the rings) before the cap is lifted. */
#define PRECOPY_SYNCS   4

/*
 * Precopy with the ring harvesting the dirty pages: the stamp guest
 * rewrites its pages faster than the capped link sends them, so several
 * dirty rounds come from the rings before the switchover, and every page
 * written must reach the destination.
 */
static void test_precopy(void)
{
    QTestState *src = mig_start_guest(MIG_ACCEL_RING,
                                      qtest_guest_image("QTEST_GUEST_STAMP"),
                                      NULL);
    g_autofree char *uri = g_strdup_printf("unix:%s",
                                           qtest_path(src, "mig.sock"));
    QTestState *dst = mig_start_dest(uri, NULL);
    g_autoptr(JsonNode) info = NULL;

    mig_set_parameter(src, "max-bandwidth", PRECOPY_BW);
    mig_migrate(src, uri);
    /* Several dirty rounds from the rings, then let it converge. */
    mig_wait_dirty_syncs(src, PRECOPY_SYNCS);
    mig_set_unlimited(src);
    mig_wait_completed(src);
    qtest_assert_status(src, "postmigrate");
    info = mig_query(src);
    g_assert_cmpint(mig_ram_counter(info, "dirty-sync-count"), >,
                    PRECOPY_SYNCS);
    mig_check_dest_and_quit(src, dst, true);
}

/* calc-dirty-rate in dirty-ring mode: the total and each vCPU's share. */
static void test_dirty_rate(void)
{
    g_autofree char *image = mig_rate_image(RATE_WSET_MIB, 10);
    QTestState *s = mig_start_guest(MIG_ACCEL_RING, image, NULL);
    gint64 deadline = g_get_monotonic_time() +
                      qtest_timeout_s() * G_USEC_PER_SEC;
    JsonNode *ret = NULL;
    JsonObject *o;
    JsonArray *vcpus;
    JsonObject *v;

    qtest_qmp_assert_error(s, "page-sampling",
                           "{\"execute\": \"calc-dirty-rate\", "
                           "\"arguments\": {\"calc-time\": 1, \"mode\": "
                           "\"dirty-ring\", \"sample-pages\": 512}}");
    qtest_qmp_assert_success(s, "{\"execute\": \"calc-dirty-rate\", "
                             "\"arguments\": {\"calc-time\": 1, "
                             "\"mode\": \"dirty-ring\"}}");
    for (;;) {
        ret = qtest_qmp_assert_success_ref(
            s, "{\"execute\": \"query-dirty-rate\"}");
        o = json_node_get_object(ret);
        g_assert_cmpstr(json_object_get_string_member(o, "mode"), ==,
                        "dirty-ring");
        if (!strcmp(json_object_get_string_member(o, "status"),
                    "measured")) {
            break;
        }
        json_node_unref(ret);
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(100 * 1000);
    }
    g_assert_cmpint(json_object_get_int_member(o, "sample-pages"), ==, 0);
    vcpus = json_object_get_array_member(o, "vcpu-dirty-rate");
    g_assert_nonnull(vcpus);
    g_assert_cmpuint(json_array_get_length(vcpus), ==, 1);
    v = json_array_get_object_element(vcpus, 0);
    g_assert_cmpint(json_object_get_int_member(v, "id"), ==, 0);
    /* One vCPU: it is the whole rate; the guest rewrites 32 MiB often. */
    g_assert_cmpint(json_object_get_int_member(v, "dirty-rate"), ==,
                    json_object_get_int_member(o, "dirty-rate"));
    g_test_message("dirty-ring: %" G_GINT64_FORMAT " MB/s",
                   json_object_get_int_member(o, "dirty-rate"));
    g_assert_cmpint(json_object_get_int_member(o, "dirty-rate"), >=,
                    RATE_WSET_MIB / 2);
    json_node_unref(ret);
    /* With the ring, dirty-limit only has QEMU's other rule to meet. */
    mig_set_capability(s, "auto-converge", true);
    qtest_qmp_assert_error(s, "dirty-limit conflicts with auto-converge",
                           "{\"execute\": \"migrate-set-capabilities\", "
                           "\"arguments\": {\"capabilities\": "
                           "[{\"capability\": \"dirty-limit\", \"state\": "
                           "true}]}}");
    mig_set_capability(s, "auto-converge", false);
    mig_set_capability(s, "dirty-limit", true);
    mig_quit_clean(s);
    unlink(image);
}

/* Without the ring, the ring's features are refused with QEMU's words. */
static void test_refused_without_ring(void)
{
    QTestState *s = mig_start_source(NULL);

    qtest_qmp_assert_error(s, "mode dirty-ring is not enabled",
                           "{\"execute\": \"calc-dirty-rate\", "
                           "\"arguments\": {\"calc-time\": 1, \"mode\": "
                           "\"dirty-ring\"}}");
    qtest_qmp_assert_error(s, "dirty-ring-size",
                           "{\"execute\": \"migrate-set-capabilities\", "
                           "\"arguments\": {\"capabilities\": "
                           "[{\"capability\": \"dirty-limit\", \"state\": "
                           "true}]}}");
    mig_quit_clean(s);
}

/*
 * Under tcg every dirty-ring feature is refused with an error that names
 * the running accelerator, and the ring's -accel property is refused at
 * start-up, rather than any of them failing later or doing nothing.
 */
static void test_refused_under_tcg(void)
{
    const char *image = qtest_guest_image("QTEST_GUEST_STAMP");
    g_autofree char *args = mig_machine_args("tcg,dirty-ring-size=4096",
                                             image, "-display none");
    QTestState *s;
    QTestRun r;

    qtest_run_expect_exit(qtest_vmm_binary(), args, &r);
    if (r.status == -1 || !WIFEXITED(r.status) || !WEXITSTATUS(r.status) ||
        !strstr(r.err, "dirty-ring-size")) {
        g_error("-accel tcg,dirty-ring-size=4096 was not refused at start-up "
                "naming the property (wait status %d); stderr:\n%s",
                r.status, r.err);
    }
    qtest_run_free(&r);

    s = mig_start_guest("tcg", image, NULL);
    qtest_qmp_assert_error(s, "tcg",
                           "{\"execute\": \"calc-dirty-rate\", "
                           "\"arguments\": {\"calc-time\": 1, \"mode\": "
                           "\"dirty-ring\"}}");
    qtest_qmp_assert_error(s, "tcg",
                           "{\"execute\": \"migrate-set-capabilities\", "
                           "\"arguments\": {\"capabilities\": "
                           "[{\"capability\": \"dirty-limit\", \"state\": "
                           "true}]}}");
    qtest_qmp_assert_error(s, "tcg",
                           "{\"execute\": \"set-vcpu-dirty-limit\", "
                           "\"arguments\": {\"dirty-rate\": 10}}");
    /* Nothing was half-applied: the guest runs on, no limit is set. */
    mig_wait_more_passes(s, 1);
    qtest_qmp_assert_success(s, "{\"execute\": \"query-vcpu-dirty-limit\"}");
    mig_quit_clean(s);
}

int main(int argc, char **argv)
{
    qtest_main_init(&argc, &argv);
    mig_add_case_kvm("/dirty-ring/precopy", test_precopy, false,
                     MIG_NEEDS_RING);
    mig_add_case_kvm("/dirty-ring/dirty-rate", test_dirty_rate, false,
                     MIG_NEEDS_RING);
    /* Under every accelerator: the refusals without a ring. */
    mig_add_case("/dirty-ring/refused-without-ring",
                 test_refused_without_ring, false);
    /* The tcg run: its refusals say why (qmig's words, not QEMU's). */
    if (qtest_accel_is("tcg") && !mig_is_qemu()) {
        mig_add_case("/dirty-ring/refused-under-tcg", test_refused_under_tcg,
                     false);
    }
    return g_test_run();
}
