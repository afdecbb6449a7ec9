/*
 * ThreadSanitizer builds only: make glib's synchronisation visible.
 *
 * glib is not instrumented, and on Linux its GMutex and GCond are built
 * on futexes rather than pthread mutexes, so ThreadSanitizer (which
 * learns about locks from its pthread interceptors) sees none of qmig's
 * locking: every field "protected by" a GMutex, the BQL included, would
 * be reported as racing.  The same goes for the hand-offs that happen
 * inside glib: a callback queued with g_idle_add_full() from one thread
 * and run by the main loop, and the last g_atomic_ref_count_dec() before
 * a free.
 *
 * So a TSan build links qmig with -Wl,--wrap for those functions (see
 * util/meson.build): qmig's calls land here, tell ThreadSanitizer what
 * the call means with its annotation interface, and call glib's own
 * function (__real_NAME).  glib's internal calls to the same functions
 * are bound inside the library and are not affected; they synchronise
 * glib's own data, whose accesses TSan does not see either.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sanitizer/tsan_interface.h>
#include "qemu/tsan.h"

/* glib's function (__real_NAME) and the one qmig's calls reach. */
#define TSAN_WRAP(ret, name, params) \
    ret __real_##name params;        \
    ret __wrap_##name params;

TSAN_WRAP(void, g_mutex_init, (GMutex *m))
TSAN_WRAP(void, g_mutex_clear, (GMutex *m))
TSAN_WRAP(void, g_mutex_lock, (GMutex *m))
TSAN_WRAP(void, g_mutex_unlock, (GMutex *m))
TSAN_WRAP(gboolean, g_mutex_trylock, (GMutex *m))
TSAN_WRAP(void, g_cond_wait, (GCond *c, GMutex *m))
TSAN_WRAP(gboolean, g_cond_wait_until, (GCond *c, GMutex *m, gint64 end))
TSAN_WRAP(guint, g_idle_add_full, (gint priority, GSourceFunc fn,
                                   gpointer data, GDestroyNotify notify))
TSAN_WRAP(gboolean, g_atomic_ref_count_dec, (gatomicrefcount *rc))

void __wrap_g_mutex_init(GMutex *m)
{
    __real_g_mutex_init(m);
    __tsan_mutex_create(m, 0);
}

void __wrap_g_mutex_clear(GMutex *m)
{
    __tsan_mutex_destroy(m, 0);
    __real_g_mutex_clear(m);
}

void __wrap_g_mutex_lock(GMutex *m)
{
    __tsan_mutex_pre_lock(m, 0);
    __real_g_mutex_lock(m);
    __tsan_mutex_post_lock(m, 0, 0);
}

void __wrap_g_mutex_unlock(GMutex *m)
{
    __tsan_mutex_pre_unlock(m, 0);
    __real_g_mutex_unlock(m);
    __tsan_mutex_post_unlock(m, 0);
}

gboolean __wrap_g_mutex_trylock(GMutex *m)
{
    gboolean ok;

    __tsan_mutex_pre_lock(m, __tsan_mutex_try_lock);
    ok = __real_g_mutex_trylock(m);
    __tsan_mutex_post_lock(m, __tsan_mutex_try_lock |
                           (ok ? 0 : __tsan_mutex_try_lock_failed), 0);
    return ok;
}

/* A condition wait releases @m and takes it again before returning. */
void __wrap_g_cond_wait(GCond *c, GMutex *m)
{
    __tsan_mutex_pre_unlock(m, 0);
    __tsan_mutex_post_unlock(m, 0);
    __real_g_cond_wait(c, m);
    __tsan_mutex_pre_lock(m, 0);
    __tsan_mutex_post_lock(m, 0, 0);
}

gboolean __wrap_g_cond_wait_until(GCond *c, GMutex *m, gint64 end_time)
{
    gboolean ok;

    __tsan_mutex_pre_unlock(m, 0);
    __tsan_mutex_post_unlock(m, 0);
    ok = __real_g_cond_wait_until(c, m, end_time);
    __tsan_mutex_pre_lock(m, 0);
    __tsan_mutex_post_lock(m, 0, 0);
    return ok;
}

/*
 * An idle callback runs in the main loop's thread after everything the
 * queueing thread did before g_idle_add_full(): a release on the shim
 * before queueing, an acquire when it runs (and when it is destroyed
 * unrun, which also happens in another thread).  The GSource glib
 * allocates in the queueing thread is freed in the main loop's, after
 * a hand-off through glib's own lock: its allocation is not recorded
 * (TSan ignores the thread's accesses for the duration of the call).
 */
typedef struct TsanIdle {
    GSourceFunc fn;
    gpointer data;
    GDestroyNotify notify;
} TsanIdle;

static gboolean tsan_idle_dispatch(gpointer opaque)
{
    TsanIdle *t = opaque;

    __tsan_acquire(t);
    return t->fn(t->data);
}

static void tsan_idle_free(gpointer opaque)
{
    TsanIdle *t = opaque;

    __tsan_acquire(t);
    if (t->notify) {
        t->notify(t->data);
    }
    g_free(t);
}

guint __wrap_g_idle_add_full(gint priority, GSourceFunc fn, gpointer data,
                             GDestroyNotify notify)
{
    TsanIdle *t = g_new(TsanIdle, 1);
    guint id;

    t->fn = fn;
    t->data = data;
    t->notify = notify;
    __tsan_release(t);
    tsan_ignore_begin();
    id = __real_g_idle_add_full(priority, tsan_idle_dispatch, t,
                                tsan_idle_free);
    tsan_ignore_end();
    return id;
}

/*
 * Reference counts: every release of a reference happens before the
 * last one, after which the object is freed.
 */
gboolean __wrap_g_atomic_ref_count_dec(gatomicrefcount *rc)
{
    gboolean last;

    __tsan_release(rc);
    last = __real_g_atomic_ref_count_dec(rc);
    if (last) {
        __tsan_acquire(rc);
    }
    return last;
}
