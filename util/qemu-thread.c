/*
 * Threads, events and semaphores.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/thread.h"
#include "trace.h"

static bool name_threads;

void qemu_thread_naming(bool enable)
{
    name_threads = enable;
}

void qemu_thread_create(QemuThread *thread, const char *name,
                        void *(*start_routine)(void *), void *arg, int mode)
{
    sigset_t all, old;
    pthread_attr_t attr;
    int err;

    pthread_attr_init(&attr);
    if (mode == QEMU_THREAD_DETACHED) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    }
    /* The new thread inherits this mask: all signals blocked. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(&thread->thread, &attr, start_routine, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (err) {
        fprintf(stderr, "qmig: cannot create thread %s: %s\n", name,
                strerror(err));
        abort();
    }
    if (name_threads && name) {
        char short_name[16];

        /* The kernel keeps 15 characters. */
        g_strlcpy(short_name, name, sizeof(short_name));
        pthread_setname_np(thread->thread, short_name);
    }
    trace_qemu_thread_create(name ? name : "?");
}

void *qemu_thread_join(QemuThread *thread)
{
    void *ret = NULL;
    int err = pthread_join(thread->thread, &ret);

    assert(err == 0);
    return ret;
}

void qemu_thread_get_self(QemuThread *thread)
{
    thread->thread = pthread_self();
}

bool qemu_thread_is_self(QemuThread *thread)
{
    return pthread_equal(pthread_self(), thread->thread);
}

void qemu_event_init(QemuEvent *ev, bool init)
{
    g_mutex_init(&ev->lock);
    g_cond_init(&ev->cond);
    ev->set = init;
}

void qemu_event_destroy(QemuEvent *ev)
{
    g_mutex_clear(&ev->lock);
    g_cond_clear(&ev->cond);
}

void qemu_event_set(QemuEvent *ev)
{
    g_mutex_lock(&ev->lock);
    ev->set = true;
    g_cond_broadcast(&ev->cond);
    g_mutex_unlock(&ev->lock);
}

void qemu_event_reset(QemuEvent *ev)
{
    g_mutex_lock(&ev->lock);
    ev->set = false;
    g_mutex_unlock(&ev->lock);
}

void qemu_event_wait(QemuEvent *ev)
{
    g_mutex_lock(&ev->lock);
    while (!ev->set) {
        g_cond_wait(&ev->cond, &ev->lock);
    }
    g_mutex_unlock(&ev->lock);
}

bool qemu_event_timedwait(QemuEvent *ev, int64_t timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + timeout_ms * 1000;
    bool ok = true;

    g_mutex_lock(&ev->lock);
    while (!ev->set && ok) {
        ok = g_cond_wait_until(&ev->cond, &ev->lock, deadline);
    }
    ok = ev->set;
    g_mutex_unlock(&ev->lock);
    return ok;
}

void qemu_sem_init(QemuSemaphore *sem, unsigned init)
{
    g_mutex_init(&sem->lock);
    g_cond_init(&sem->cond);
    sem->count = init;
}

void qemu_sem_destroy(QemuSemaphore *sem)
{
    g_mutex_clear(&sem->lock);
    g_cond_clear(&sem->cond);
}

void qemu_sem_post(QemuSemaphore *sem)
{
    g_mutex_lock(&sem->lock);
    sem->count++;
    g_cond_signal(&sem->cond);
    g_mutex_unlock(&sem->lock);
}

void qemu_sem_wait(QemuSemaphore *sem)
{
    g_mutex_lock(&sem->lock);
    while (sem->count == 0) {
        g_cond_wait(&sem->cond, &sem->lock);
    }
    sem->count--;
    g_mutex_unlock(&sem->lock);
}

bool qemu_sem_timedwait(QemuSemaphore *sem, int64_t timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + timeout_ms * 1000;
    bool ok = true;

    g_mutex_lock(&sem->lock);
    while (sem->count == 0 && ok) {
        ok = g_cond_wait_until(&sem->cond, &sem->lock, deadline);
    }
    ok = sem->count > 0;
    if (ok) {
        sem->count--;
    }
    g_mutex_unlock(&sem->lock);
    return ok;
}
