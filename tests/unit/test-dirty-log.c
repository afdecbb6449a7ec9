/*
 * Unit tests for system/dirty-log.c: dispatch to the running
 * accelerator's DirtyLogOps (a fake one here, installed as current_accel
 * through a fake AccelOps), the soft dirty bits folded in for every
 * accelerator and without one, the single-owner rule, and the per-vCPU
 * functions where the hooks are missing.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/bitmap.h"
#include "system/accel-ops.h"
#include "system/dirty-log.h"

#define BLOCK_PAGES 200         /* more than three words of bits */

/* What the fake accelerator saw and what it will report. */
typedef struct FakeAccel {
    unsigned starts, stops, syncs;
    bool fail_start;
    RAMBlock *last_rb;
    unsigned long *last_bitmap;
    GArray *guest_pages;        /* uint64_t: written since the last sync */
    bool per_vcpu_on;
    uint64_t reaped;
} FakeAccel;

static FakeAccel fake;

static bool fake_start(Error **errp)
{
    fake.starts++;
    if (fake.fail_start) {
        error_setg(errp, "fake start refused");
        return false;
    }
    return true;
}

static void fake_stop(void)
{
    fake.stops++;
}

/* As an accelerator must: OR the guest's pages in, count 0 -> 1 only. */
static uint64_t fake_sync(RAMBlock *rb, unsigned long *bitmap)
{
    uint64_t added = 0;

    fake.syncs++;
    fake.last_rb = rb;
    fake.last_bitmap = bitmap;
    for (guint i = 0; i < fake.guest_pages->len; i++) {
        added += !test_and_set_bit(g_array_index(fake.guest_pages, uint64_t,
                                                 i), bitmap);
    }
    g_array_set_size(fake.guest_pages, 0);
    return added;
}

static bool fake_per_vcpu_enabled(void)
{
    return fake.per_vcpu_on;
}

static uint64_t fake_per_vcpu_reap(void)
{
    return ++fake.reaped;
}

static uint64_t fake_vcpu_pages(CPUState *cpu)
{
    g_assert_null(cpu);
    return 1000 + fake.reaped;
}

/* Tracking only, like the software accelerator. */
static const DirtyLogOps fake_ops = {
    .start = fake_start,
    .stop = fake_stop,
    .sync = fake_sync,
};

/* Tracking and per-vCPU counting, like KVM with the dirty ring. */
static const DirtyLogOps fake_ring_ops = {
    .start = fake_start,
    .stop = fake_stop,
    .sync = fake_sync,
    .per_vcpu_enabled = fake_per_vcpu_enabled,
    .per_vcpu_reap = fake_per_vcpu_reap,
    .vcpu_pages = fake_vcpu_pages,
};

static const AccelOps fake_accel = {
    .name = "fake",
    .dirty_log = &fake_ops,
};

static const AccelOps fake_ring_accel = {
    .name = "fake-ring",
    .dirty_log = &fake_ring_ops,
};

static const AccelOps fake_no_log_accel = {
    .name = "fake-no-log",
};

/* A fresh block (the real ram_block_new) and a clean fake. */
static RAMBlock *setup(const AccelOps *accel)
{
    static unsigned n;
    g_autofree char *name = g_strdup_printf("test-ram-%u", n++);
    RAMBlock *rb = ram_block_new(name, BLOCK_PAGES * TARGET_PAGE_SIZE, NULL,
                                 &error_abort);

    if (fake.guest_pages) {
        g_array_free(fake.guest_pages, TRUE);
    }
    memset(&fake, 0, sizeof(fake));
    fake.guest_pages = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    current_accel = accel;
    return rb;
}

static void guest_writes(uint64_t page)
{
    g_array_append_val(fake.guest_pages, page);
}

static void vmm_writes(RAMBlock *rb, uint64_t page)
{
    ram_block_set_soft_dirty(rb, page * TARGET_PAGE_SIZE, 1);
}

static bool soft_dirty_empty(RAMBlock *rb)
{
    return bitmap_empty(rb->soft_dirty, BLOCK_PAGES);
}

static void test_dispatch(void)
{
    RAMBlock *rb = setup(&fake_accel);
    g_autofree unsigned long *bmap = bitmap_new(BLOCK_PAGES);

    g_assert_cmpstr(dirty_log_accel_name(), ==, "fake");
    /* Before start the accelerator tracks nothing and is not asked. */
    g_assert_cmpuint(dirty_log_sync(rb, bmap), ==, 0);
    g_assert_cmpuint(fake.syncs, ==, 0);

    g_assert_true(dirty_log_start(&error_abort));
    g_assert_cmpuint(fake.starts, ==, 1);
    guest_writes(3);
    guest_writes(130);
    g_assert_cmpuint(dirty_log_sync(rb, bmap), ==, 2);
    g_assert_cmpuint(fake.syncs, ==, 1);
    g_assert_true(fake.last_rb == rb);
    g_assert_true(fake.last_bitmap == bmap);
    g_assert_true(test_bit(3, bmap) && test_bit(130, bmap));
    g_assert_cmpuint(bitmap_count_one(bmap, BLOCK_PAGES), ==, 2);

    dirty_log_stop();
    g_assert_cmpuint(fake.stops, ==, 1);
    /* Stopped: neither a second stop nor a sync reaches it. */
    dirty_log_stop();
    g_assert_cmpuint(fake.stops, ==, 1);
    guest_writes(4);
    g_assert_cmpuint(dirty_log_sync(rb, bmap), ==, 0);
    g_assert_cmpuint(fake.syncs, ==, 1);
}

static void test_soft_dirty_folded_once(void)
{
    RAMBlock *rb = setup(&fake_accel);
    g_autofree unsigned long *bmap = bitmap_new(BLOCK_PAGES);

    g_assert_true(dirty_log_start(&error_abort));
    set_bit(9, bmap);           /* still to send from an earlier pass */
    guest_writes(1);
    guest_writes(5);
    guest_writes(9);
    vmm_writes(rb, 5);          /* also written by the guest */
    vmm_writes(rb, 7);
    vmm_writes(rb, 9);          /* already set in the bitmap */
    vmm_writes(rb, 70);         /* another word */
    vmm_writes(rb, BLOCK_PAGES - 1);

    /* New: 1, 5 (guest), 7, 70, last (VMM); 9 was set already. */
    g_assert_cmpuint(dirty_log_sync(rb, bmap), ==, 5);
    g_assert_cmpuint(bitmap_count_one(bmap, BLOCK_PAGES), ==, 6);
    g_assert_true(test_bit(7, bmap) && test_bit(70, bmap) &&
                  test_bit(BLOCK_PAGES - 1, bmap));
    g_assert_true(soft_dirty_empty(rb));

    /* Taken exactly once: an empty bitmap gets nothing from them now. */
    bitmap_zero(bmap, BLOCK_PAGES);
    g_assert_cmpuint(dirty_log_sync(rb, bmap), ==, 0);
    g_assert_true(bitmap_empty(bmap, BLOCK_PAGES));

    /* A later VMM write is seen by the next sync. */
    vmm_writes(rb, 70);
    g_assert_cmpuint(dirty_log_sync(rb, bmap), ==, 1);
    g_assert_true(test_bit(70, bmap));
    dirty_log_stop();

    /* Soft bits are folded also while tracking is off. */
    vmm_writes(rb, 11);
    g_assert_cmpuint(dirty_log_sync(rb, bmap), ==, 1);
    g_assert_true(test_bit(11, bmap));
    g_assert_true(soft_dirty_empty(rb));
}

static void test_nested_start_refused(void)
{
    Error *err = NULL;

    setup(&fake_accel);
    g_assert_true(dirty_log_start(&error_abort));
    g_assert_false(dirty_log_start(&err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(error_get_pretty(err), "already running"));
    error_free(err);
    err = NULL;
    /* The accelerator never saw the refused start. */
    g_assert_cmpuint(fake.starts, ==, 1);
    dirty_log_stop();
    g_assert_cmpuint(fake.stops, ==, 1);

    /* Once stopped it may start again. */
    g_assert_true(dirty_log_start(&error_abort));
    dirty_log_stop();
    g_assert_cmpuint(fake.starts, ==, 2);

    /* The same rule without an accelerator. */
    current_accel = NULL;
    g_assert_true(dirty_log_start(&error_abort));
    g_assert_false(dirty_log_start(&err));
    g_assert_nonnull(err);
    error_free(err);
    dirty_log_stop();
}

static void test_start_failure(void)
{
    RAMBlock *rb = setup(&fake_accel);
    g_autofree unsigned long *bmap = bitmap_new(BLOCK_PAGES);
    Error *err = NULL;

    fake.fail_start = true;
    g_assert_false(dirty_log_start(&err));
    g_assert_nonnull(err);
    g_assert_cmpstr(error_get_pretty(err), ==, "fake start refused");
    error_free(err);
    /* Not running: no stop, no accelerator sync, and a retry may start. */
    dirty_log_stop();
    g_assert_cmpuint(fake.stops, ==, 0);
    guest_writes(2);
    g_assert_cmpuint(dirty_log_sync(rb, bmap), ==, 0);
    g_assert_cmpuint(fake.syncs, ==, 0);
    fake.fail_start = false;
    g_assert_true(dirty_log_start(&error_abort));
    g_assert_cmpuint(dirty_log_sync(rb, bmap), ==, 1);
    dirty_log_stop();
}

static void test_no_accelerator(void)
{
    RAMBlock *rb = setup(NULL);
    g_autofree unsigned long *bmap = bitmap_new(BLOCK_PAGES);

    g_assert_cmpstr(dirty_log_accel_name(), ==, "qtest");
    g_assert_true(dirty_log_start(&error_abort));
    vmm_writes(rb, 0);
    vmm_writes(rb, 64);
    g_assert_cmpuint(dirty_log_sync(rb, bmap), ==, 2);
    g_assert_cmpuint(bitmap_count_one(bmap, BLOCK_PAGES), ==, 2);
    g_assert_true(soft_dirty_empty(rb));
    g_assert_cmpuint(dirty_log_sync(rb, bmap), ==, 0);
    dirty_log_stop();
    g_assert_cmpuint(fake.starts + fake.syncs + fake.stops, ==, 0);

    g_assert_false(dirty_log_per_vcpu());
    g_assert_cmpuint(dirty_log_vcpu_reap(), ==, 0);
    g_assert_cmpuint(dirty_log_vcpu_pages(NULL), ==, 0);
}

/* An accelerator with no DirtyLogOps at all: soft bits only, too. */
static void test_accelerator_without_log(void)
{
    RAMBlock *rb = setup(&fake_no_log_accel);
    g_autofree unsigned long *bmap = bitmap_new(BLOCK_PAGES);

    g_assert_cmpstr(dirty_log_accel_name(), ==, "fake-no-log");
    g_assert_true(dirty_log_start(&error_abort));
    vmm_writes(rb, 33);
    g_assert_cmpuint(dirty_log_sync(rb, bmap), ==, 1);
    dirty_log_stop();
    g_assert_false(dirty_log_per_vcpu());
    g_assert_cmpuint(dirty_log_vcpu_reap(), ==, 0);
}

static void test_per_vcpu(void)
{
    /* Tracking without per-vCPU hooks: nothing per vCPU. */
    setup(&fake_accel);
    g_assert_false(dirty_log_per_vcpu());
    g_assert_cmpuint(dirty_log_vcpu_reap(), ==, 0);
    g_assert_cmpuint(dirty_log_vcpu_pages(NULL), ==, 0);

    /* With the hooks: what per_vcpu_enabled says, and dispatch. */
    setup(&fake_ring_accel);
    g_assert_false(dirty_log_per_vcpu());
    fake.per_vcpu_on = true;
    g_assert_true(dirty_log_per_vcpu());
    g_assert_cmpuint(dirty_log_vcpu_reap(), ==, 1);
    g_assert_cmpuint(dirty_log_vcpu_reap(), ==, 2);
    g_assert_cmpuint(dirty_log_vcpu_pages(NULL), ==, 1002);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/dirty-log/dispatch", test_dispatch);
    g_test_add_func("/dirty-log/soft-dirty-folded-once",
                    test_soft_dirty_folded_once);
    g_test_add_func("/dirty-log/nested-start-refused",
                    test_nested_start_refused);
    g_test_add_func("/dirty-log/start-failure", test_start_failure);
    g_test_add_func("/dirty-log/no-accelerator", test_no_accelerator);
    g_test_add_func("/dirty-log/accelerator-without-log",
                    test_accelerator_without_log);
    g_test_add_func("/dirty-log/per-vcpu", test_per_vcpu);
    return g_test_run();
}
