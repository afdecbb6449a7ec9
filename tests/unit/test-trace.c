/*
 * Unit tests for run-time trace point control.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/thread.h"
#include "qemu/trace-core.h"

static void find_event(TraceEvent *ev, void *opaque)
{
    TraceEvent **found = opaque;

    if (!strcmp(ev->name, "qemu_thread_create")) {
        *found = ev;
    }
}

static TraceEvent *lookup(void)
{
    TraceEvent *ev = NULL;

    trace_event_foreach(find_event, &ev);
    g_assert_nonnull(ev);
    return ev;
}

static void test_enable_pattern(void)
{
    TraceEvent *ev = lookup();

    g_assert_false(ev->enabled);
    g_assert_cmpint(trace_enable_events("qemu_thread_*"), >=, 1);
    g_assert_true(ev->enabled);
    g_assert_cmpint(trace_enable_events("-qemu_thread_create"), ==, 1);
    g_assert_false(ev->enabled);
    g_assert_cmpint(trace_enable_events("no_such_event_*"), ==, 0);
}

static void test_opt_parse(void)
{
    TraceEvent *ev = lookup();
    Error *err = NULL;

    g_assert_true(trace_opt_parse("enable=qemu_thread_create", &error_abort));
    g_assert_true(ev->enabled);
    trace_enable_events("-*");
    g_assert_false(trace_opt_parse("bogus=1", &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "bogus"));
    error_free_or_abort(&err);
    g_assert_false(trace_opt_parse("events=/nonexistent/file", &err));
    error_free_or_abort(&err);
}

static void *noop_thread(void *arg)
{
    return arg;
}

/* An enabled trace point prints its line; run in a subprocess. */
static void test_output(void)
{
    if (g_test_subprocess()) {
        QemuThread t;

        trace_enable_events("qemu_thread_create");
        qemu_thread_create(&t, "tracetest", noop_thread, NULL,
                           QEMU_THREAD_JOINABLE);
        qemu_thread_join(&t);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_passed();
    g_test_trap_assert_stderr("*:qemu_thread_create name tracetest*");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/trace/enable-pattern", test_enable_pattern);
    g_test_add_func("/trace/opt-parse", test_opt_parse);
    g_test_add_func("/trace/output", test_output);
    return g_test_run();
}
