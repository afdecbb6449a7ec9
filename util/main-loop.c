/*
 * The main loop and the BQL.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/main-loop.h"
#include "trace.h"

static GMutex bql;
static __thread bool bql_held;
static bool quit_requested;        /* atomic */

void bql_lock(void)
{
    assert(!bql_held);
    g_mutex_lock(&bql);
    bql_held = true;
}

void bql_unlock(void)
{
    assert(bql_held);
    bql_held = false;
    g_mutex_unlock(&bql);
}

bool bql_locked(void)
{
    return bql_held;
}

GMutex *bql_mutex(void)
{
    return &bql;
}

/* glib's poll, with the BQL dropped while the main thread sleeps. */
static gint main_loop_poll(GPollFD *fds, guint nfds, gint timeout)
{
    gint ret;

    bql_unlock();
    ret = g_poll(fds, nfds, timeout);
    bql_lock();
    return ret;
}

void main_loop_init(void)
{
    g_main_context_set_poll_func(g_main_context_default(), main_loop_poll);
}

void main_loop_run(void)
{
    assert(bql_held);
    while (!__atomic_load_n(&quit_requested, __ATOMIC_ACQUIRE)) {
        g_main_context_iteration(NULL, TRUE);
    }
}

void main_loop_quit(void)
{
    __atomic_store_n(&quit_requested, true, __ATOMIC_RELEASE);
    g_main_context_wakeup(NULL);
}

bool main_loop_should_exit(void)
{
    return __atomic_load_n(&quit_requested, __ATOMIC_ACQUIRE);
}

typedef struct ScheduledCall {
    void (*fn)(void *opaque);
    void *opaque;
} ScheduledCall;

static gboolean scheduled_call_dispatch(gpointer data)
{
    ScheduledCall *call = data;

    trace_main_loop_schedule_dispatch(call->fn);
    call->fn(call->opaque);
    g_free(call);
    return G_SOURCE_REMOVE;
}

void main_loop_schedule(void (*fn)(void *opaque), void *opaque)
{
    ScheduledCall *call = g_new(ScheduledCall, 1);

    call->fn = fn;
    call->opaque = opaque;
    g_idle_add_full(G_PRIORITY_HIGH, scheduled_call_dispatch, call, NULL);
}
