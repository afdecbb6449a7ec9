/*
 * Unit tests for QEMU-style option strings and number parsing.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/option.h"

static void test_implied_and_keys(void)
{
    g_autoptr(QemuOpts) opts = qemu_opts_parse("unix:/tmp/a,server=on,wait=off",
                                               "spec", &error_abort);

    g_assert_cmpstr(qemu_opt_get(opts, "spec"), ==, "unix:/tmp/a");
    g_assert_cmpstr(qemu_opt_get(opts, "server"), ==, "on");
    g_assert_cmpstr(qemu_opt_get(opts, "wait"), ==, "off");
    g_assert_null(qemu_opt_get(opts, "missing"));
}

static void test_escaped_comma(void)
{
    g_autoptr(QemuOpts) opts = qemu_opts_parse("file=/tmp/a,,b,format=raw",
                                               NULL, &error_abort);

    g_assert_cmpstr(qemu_opt_get(opts, "file"), ==, "/tmp/a,b");
    g_assert_cmpstr(qemu_opt_get(opts, "format"), ==, "raw");
}

static void test_last_wins(void)
{
    g_autoptr(QemuOpts) opts = qemu_opts_parse("a=1,a=2", NULL, &error_abort);

    g_assert_cmpstr(qemu_opt_get(opts, "a"), ==, "2");
}

static void test_errors(void)
{
    Error *err = NULL;

    g_assert_null(qemu_opts_parse("a=1,b", NULL, &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(error_get_pretty(err), "'b'"));
    error_free_or_abort(&err);

    g_assert_null(qemu_opts_parse("=x", NULL, &err));
    error_free_or_abort(&err);

    g_assert_null(qemu_opts_parse("bare", NULL, &err));
    error_free_or_abort(&err);
}

static void test_check_keys(void)
{
    static const char *const keys[] = { "size", NULL };
    g_autoptr(QemuOpts) opts = qemu_opts_parse("4G,slots=2", "size",
                                               &error_abort);
    Error *err = NULL;

    g_assert_false(qemu_opts_check_keys(opts, keys, "-m", &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "-m: invalid parameter 'slots'");
    error_free(err);
}

static void test_typed_getters(void)
{
    g_autoptr(QemuOpts) opts = qemu_opts_parse("b=yes,n=0x10,s=2M,bad=zz",
                                               NULL, &error_abort);
    bool b;
    uint64_t v;
    Error *err = NULL;

    g_assert_true(qemu_opt_get_bool(opts, "b", false, &b, &error_abort));
    g_assert_true(b);
    g_assert_true(qemu_opt_get_bool(opts, "absent", true, &b, &error_abort));
    g_assert_true(b);
    g_assert_true(qemu_opt_get_number(opts, "n", 0, &v, &error_abort));
    g_assert_cmpuint(v, ==, 16);
    g_assert_true(qemu_opt_get_size(opts, "s", 0, &v, &error_abort));
    g_assert_cmpuint(v, ==, 2 * MiB);
    g_assert_false(qemu_opt_get_bool(opts, "bad", false, &b, &err));
    error_free_or_abort(&err);
    g_assert_false(qemu_opt_get_number(opts, "bad", 0, &v, &err));
    error_free_or_abort(&err);
}

static void test_strtosz(void)
{
    uint64_t v;

    g_assert_true(qemu_strtosz_suffix("150", 'M', &v));
    g_assert_cmpuint(v, ==, 150 * MiB);
    g_assert_true(qemu_strtosz("4G", &v));
    g_assert_cmpuint(v, ==, 4 * GiB);
    g_assert_true(qemu_strtosz("1.5k", &v));
    g_assert_cmpuint(v, ==, 1536);
    g_assert_true(qemu_strtosz("512", &v));
    g_assert_cmpuint(v, ==, 512);
    g_assert_false(qemu_strtosz("", &v));
    g_assert_false(qemu_strtosz("-1", &v));
    g_assert_false(qemu_strtosz("12X", &v));
    g_assert_false(qemu_strtosz("1GG", &v));
    g_assert_false(qemu_strtosz("99999999999E", &v));
    g_assert_false(qemu_strtosz("1.5", &v));
}

static void test_bool_and_ints(void)
{
    bool b;
    uint64_t u;
    int64_t i;

    g_assert_true(qemu_parse_bool("on", &b) && b);
    g_assert_true(qemu_parse_bool("false", &b) && !b);
    g_assert_false(qemu_parse_bool("maybe", &b));
    g_assert_true(qemu_strtou64("0x1f", &u) && u == 31);
    g_assert_false(qemu_strtou64("-3", &u));
    g_assert_false(qemu_strtou64("3x", &u));
    g_assert_true(qemu_strtoi64("-3", &i) && i == -3);
    g_assert_false(qemu_strtoi64(" 3", &i));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/option/implied", test_implied_and_keys);
    g_test_add_func("/option/escaped-comma", test_escaped_comma);
    g_test_add_func("/option/last-wins", test_last_wins);
    g_test_add_func("/option/errors", test_errors);
    g_test_add_func("/option/check-keys", test_check_keys);
    g_test_add_func("/option/typed", test_typed_getters);
    g_test_add_func("/option/strtosz", test_strtosz);
    g_test_add_func("/option/bool-int", test_bool_and_ints);
    return g_test_run();
}
