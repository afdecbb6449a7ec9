/*
 * Threads.  Every thread qmig starts goes through qemu_thread_create() so
 * that it gets a name (visible in /proc and gdb with -name debug-threads=on)
 * and starts with all signals blocked: asynchronous signals go to the main
 * thread, and vCPU threads unblock only their kick signal.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_THREAD_H
#define QEMU_THREAD_H

#include <pthread.h>

typedef struct QemuThread {
    pthread_t thread;
} QemuThread;

#define QEMU_THREAD_JOINABLE 0
#define QEMU_THREAD_DETACHED 1

void qemu_thread_create(QemuThread *thread, const char *name,
                        void *(*start_routine)(void *), void *arg, int mode);
void *qemu_thread_join(QemuThread *thread);
void qemu_thread_get_self(QemuThread *thread);
bool qemu_thread_is_self(QemuThread *thread);
/* -name debug-threads=on: name threads after what they do. */
void qemu_thread_naming(bool enable);

/* A one-shot or resettable event (QEMU's QemuEvent), for thread hand-offs. */
typedef struct QemuEvent {
    GMutex lock;
    GCond cond;
    bool set;       /* protected by lock */
} QemuEvent;

void qemu_event_init(QemuEvent *ev, bool init);
void qemu_event_destroy(QemuEvent *ev);
void qemu_event_set(QemuEvent *ev);
void qemu_event_reset(QemuEvent *ev);
void qemu_event_wait(QemuEvent *ev);
/* Returns false on timeout. */
bool qemu_event_timedwait(QemuEvent *ev, int64_t timeout_ms);

/* A counting semaphore (QEMU's QemuSemaphore). */
typedef struct QemuSemaphore {
    GMutex lock;
    GCond cond;
    unsigned count;  /* protected by lock */
} QemuSemaphore;

void qemu_sem_init(QemuSemaphore *sem, unsigned init);
void qemu_sem_destroy(QemuSemaphore *sem);
void qemu_sem_post(QemuSemaphore *sem);
void qemu_sem_wait(QemuSemaphore *sem);
/* Returns false on timeout. */
bool qemu_sem_timedwait(QemuSemaphore *sem, int64_t timeout_ms);

#endif
