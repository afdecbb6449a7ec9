/*
 * The destination's write stage: a thread that writes received batches
 * of pages into shared fd-backed RAM (see ram-load-writer.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/thread.h"
#include "ram-internal.h"
#include "ram-load-writer.h"
#include "trace.h"

typedef struct RAMLoadWriter {
    RAMLoadBatch batch[2];      /* incoming thread fills batch[cur] */
    unsigned int cur;           /* incoming thread only */
    bool started;               /* incoming thread only */
    QemuThread thread;
    GMutex lock;
    GCond cond;                 /* @queued changed, or @quit set */
    /*
     * The batch with the writer (NULL: idle), cleared only once it is
     * written; protected by lock.
     */
    RAMLoadBatch *queued;
    bool quit;                  /* protected by lock */
    Error *err;                 /* the first failed write; lock */
} RAMLoadWriter;

/* Static, so its GMutex and GCond need no init. */
static RAMLoadWriter ram_load_writer;

bool ram_load_batch_write(RAMLoadBatch *b, Error **errp)
{
    unsigned int i = 0;
    bool ok = true;

    while (i < b->n && ok) {
        unsigned int j = i + 1;

        while (j < b->n &&
               b->offset[j] == b->offset[j - 1] + TARGET_PAGE_SIZE) {
            j++;
        }
        ok = ram_load_pwrite(b->rb, b->buf + (i << TARGET_PAGE_BITS),
                             (size_t)(j - i) << TARGET_PAGE_BITS,
                             b->offset[i], errp);
        i = j;
    }
    b->n = 0;
    return ok;
}

static void *ram_load_writer_thread(void *opaque)
{
    RAMLoadWriter *w = opaque;

    g_mutex_lock(&w->lock);
    for (;;) {
        RAMLoadBatch *b;
        Error *err = NULL;
        bool ok;

        while (!w->queued && !w->quit) {
            g_cond_wait(&w->cond, &w->lock);
        }
        if (!w->queued) {
            break;
        }
        b = w->queued;
        g_mutex_unlock(&w->lock);
        trace_ram_load_writer_write(b->n);
        ok = ram_load_batch_write(b, &err);
        g_mutex_lock(&w->lock);
        if (!ok && !w->err) {
            w->err = err;
        } else {
            error_free(err);
        }
        w->queued = NULL;
        g_cond_broadcast(&w->cond);
    }
    g_mutex_unlock(&w->lock);
    return NULL;
}

RAMLoadBatch *ram_load_writer_batch(void)
{
    RAMLoadWriter *w = &ram_load_writer;
    RAMLoadBatch *b = &w->batch[w->cur];

    if (!b->buf) {
        b->buf = g_malloc(RAM_LOAD_BATCH_PAGES * TARGET_PAGE_SIZE);
    }
    return b;
}

/* Wait until the writer is idle; false (with its error) if a write failed. */
static bool ram_load_writer_idle(RAMLoadWriter *w, Error **errp)
{
    bool ok;

    g_mutex_lock(&w->lock);
    while (w->queued) {
        g_cond_wait(&w->cond, &w->lock);
    }
    ok = !w->err;
    if (!ok) {
        error_propagate(errp, error_copy(w->err));
    }
    g_mutex_unlock(&w->lock);
    return ok;
}

bool ram_load_writer_submit(Error **errp)
{
    RAMLoadWriter *w = &ram_load_writer;
    RAMLoadBatch *b = &w->batch[w->cur];

    if (!b->n) {
        return ram_load_writer_idle(w, errp);
    }
    if (!w->started) {
        w->quit = false;
        qemu_thread_create(&w->thread, "mig/dst/write",
                           ram_load_writer_thread, w, QEMU_THREAD_JOINABLE);
        w->started = true;
    }
    /* The other batch is free once the writer is idle. */
    if (!ram_load_writer_idle(w, errp)) {
        b->n = 0;
        return false;
    }
    g_mutex_lock(&w->lock);
    w->queued = b;
    g_cond_broadcast(&w->cond);
    g_mutex_unlock(&w->lock);
    w->cur ^= 1;
    return true;
}

bool ram_load_writer_wait(Error **errp)
{
    return ram_load_writer_submit(errp) &&
           ram_load_writer_idle(&ram_load_writer, errp);
}

void ram_load_writer_cleanup(void)
{
    RAMLoadWriter *w = &ram_load_writer;

    if (w->started) {
        g_mutex_lock(&w->lock);
        w->quit = true;
        g_cond_broadcast(&w->cond);
        g_mutex_unlock(&w->lock);
        /* It writes what it holds, then sees @quit. */
        qemu_thread_join(&w->thread);
        error_free(w->err);
        w->err = NULL;
        w->started = false;
    }
    for (int i = 0; i < 2; i++) {
        g_free(w->batch[i].buf);
        w->batch[i].buf = NULL;
        w->batch[i].n = 0;
    }
    w->cur = 0;
}
