/*
 * Unit test of the stamp invariant checker on synthetic memory images, so
 * a checker that accepts everything cannot make the qtests pass.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>
#include <glib.h>

#include "stamp-check.h"

#define NPAGES 64

static uint8_t *make_image(uint8_t fill)
{
    uint8_t *buf = g_malloc(NPAGES * STAMP_PAGE_SIZE);
    size_t i;

    /* Only first bytes matter; junk elsewhere must be ignored. */
    for (i = 0; i < NPAGES * STAMP_PAGE_SIZE; i++) {
        buf[i] = (uint8_t)(i * 7 + 3);
    }
    for (i = 0; i < NPAGES; i++) {
        buf[i * STAMP_PAGE_SIZE] = fill;
    }
    return buf;
}

static void set_from(uint8_t *buf, size_t page, uint8_t v)
{
    for (; page < NPAGES; page++) {
        buf[page * STAMP_PAGE_SIZE] = v;
    }
}

static bool check(uint8_t *buf, char **why)
{
    return stamp_check_buf(buf, NPAGES * STAMP_PAGE_SIZE, STAMP_START, why);
}

static void test_uniform(void)
{
    g_autofree uint8_t *buf = make_image(0x42);

    g_assert_true(check(buf, NULL));
}

static void test_one_step(void)
{
    g_autofree uint8_t *buf = make_image(0x42);

    set_from(buf, 17, 0x41);
    g_assert_true(check(buf, NULL));
    /* A step at the wrap: 0x00 then 0xff. */
    set_from(buf, 0, 0x00);
    set_from(buf, 30, 0xff);
    g_assert_true(check(buf, NULL));
    /* A step on the last page. */
    set_from(buf, 0, 9);
    set_from(buf, NPAGES - 1, 8);
    g_assert_true(check(buf, NULL));
}

static void test_two_steps(void)
{
    g_autofree uint8_t *buf = make_image(5);
    g_autofree char *why = NULL;

    set_from(buf, 10, 4);
    set_from(buf, 20, 3);
    g_assert_false(check(buf, &why));
    g_assert_nonnull(strstr(why, "second step down at page 0x114000"));
    g_assert_nonnull(strstr(why, "first was at 0x10a000"));
}

static void test_step_up(void)
{
    g_autofree uint8_t *buf = make_image(5);
    g_autofree char *why = NULL;

    set_from(buf, 3, 6);
    g_assert_false(check(buf, &why));
    g_assert_nonnull(strstr(why, "page 0x103000 holds 0x06 after 0x05"));
}

static void test_stale_page(void)
{
    g_autofree uint8_t *buf = make_image(5);
    g_autofree char *why = NULL;

    /* One page left behind (a lost dirty page): down then up again. */
    buf[40 * STAMP_PAGE_SIZE] = 4;
    g_assert_false(check(buf, &why));
    g_assert_nonnull(strstr(why, "0x129000"));
}

static void test_step_of_two(void)
{
    g_autofree uint8_t *buf = make_image(5);
    g_autofree char *why = NULL;

    set_from(buf, 8, 3);
    g_assert_false(check(buf, &why));
    g_assert_nonnull(strstr(why, "neither equal nor one less"));
}

static void test_bad_length(void)
{
    g_autofree uint8_t *buf = make_image(5);
    g_autofree char *why = NULL;

    g_assert_false(stamp_check_buf(buf, STAMP_PAGE_SIZE + 1, STAMP_START,
                                   &why));
    g_assert_nonnull(strstr(why, "whole pages"));
}

static void test_missing_file(void)
{
    g_autofree char *why = NULL;

    g_assert_false(stamp_check_file("/nonexistent/dump", STAMP_START, &why));
    g_assert_nonnull(strstr(why, "cannot read memory dump"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/stamp-check/uniform", test_uniform);
    g_test_add_func("/stamp-check/one-step", test_one_step);
    g_test_add_func("/stamp-check/two-steps", test_two_steps);
    g_test_add_func("/stamp-check/step-up", test_step_up);
    g_test_add_func("/stamp-check/stale-page", test_stale_page);
    g_test_add_func("/stamp-check/step-of-two", test_step_of_two);
    g_test_add_func("/stamp-check/bad-length", test_bad_length);
    g_test_add_func("/stamp-check/missing-file", test_missing_file);
    return g_test_run();
}
