/*
 * Unit tests for Error objects and the trace registry.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"

static bool fail_with(Error **errp, int n)
{
    error_setg(errp, "failure %d", n);
    return false;
}

static void test_setg_and_propagate(void)
{
    Error *local = NULL;
    Error *dst = NULL;

    g_assert_false(fail_with(&local, 1));
    g_assert_cmpstr(error_get_pretty(local), ==, "failure 1");
    error_propagate(&dst, local);
    g_assert_cmpstr(error_get_pretty(dst), ==, "failure 1");

    /* The first error wins; the later one is freed (ASan checks). */
    local = NULL;
    fail_with(&local, 2);
    error_propagate(&dst, local);
    g_assert_cmpstr(error_get_pretty(dst), ==, "failure 1");
    error_free(dst);

    /* NULL errp: the caller does not care. */
    g_assert_false(fail_with(NULL, 3));
}

static void test_errno_and_prepend(void)
{
    Error *err = NULL;

    error_setg_errno(&err, ENOENT, "cannot open '%s'", "x");
    error_prepend(&err, "-drive %s: ", "file=x");
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "-drive file=x: cannot open 'x': No such file or directory");
    g_assert_cmpint(error_get_class(err), ==, ERROR_CLASS_GENERIC_ERROR);
    error_free(err);
}

static void test_class_and_copy(void)
{
    Error *err = NULL;
    Error *copy;

    error_set(&err, ERROR_CLASS_COMMAND_NOT_FOUND, "The command %s has not "
              "been found", "foo");
    copy = error_copy(err);
    error_free(err);
    g_assert_cmpstr(error_class_name(error_get_class(copy)), ==,
                    "CommandNotFound");
    g_assert_cmpstr(error_get_pretty(copy), ==,
                    "The command foo has not been found");
    error_free(copy);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/error/setg-propagate", test_setg_and_propagate);
    g_test_add_func("/error/errno-prepend", test_errno_and_prepend);
    g_test_add_func("/error/class-copy", test_class_and_copy);
    return g_test_run();
}
