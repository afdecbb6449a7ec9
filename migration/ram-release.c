/*
 * release-ram acknowledgement (see ram-release.h).
 *
 * Why not release at once: a page dropped right after it was written to
 * the socket is lost if the link breaks before the destination read it;
 * recovery then sends the dropped (zero) copy.  Holding pages back until
 * a PONG costs at most a batch plus what is in flight, and the guest's
 * memory is whole again for the recovery.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/mman.h>
#include "qemu-file.h"
#include "return-path.h"
#include "savevm.h"
#include "ram.h"
#include "ram-release.h"
#include "trace.h"

typedef struct RAMReleasePage {
    RAMBlock *rb;
    uint64_t offset;            /* of the host page */
} RAMReleasePage;

typedef struct RAMReleaseBatch {
    uint32_t id;                /* its PING's value */
    GArray *pages;              /* RAMReleasePage */
} RAMReleaseBatch;

typedef struct RAMReleaseState {
    GMutex lock;                /* everything below */
    GArray *open;               /* main channel, since the last PING */
    uint64_t open_bytes;
    GArray *preempt;            /* preempt channel, since its last PING */
    /* RAMReleaseBatch, oldest first: main channel's, preempt channel's. */
    GQueue pending;
    GQueue pending_preempt;
    uint32_t seq;
} RAMReleaseState;

static RAMReleaseState rr;

/* Drop a host page (this guest never runs again on the source). */
static void ram_release_page(RAMBlock *rb, uint64_t offset)
{
    int ret;

    if (rb->fd >= 0 && rb->shared) {
        ret = fallocate(rb->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                        offset, rb->page_size);
    } else {
        ret = madvise(rb->host + offset, rb->page_size, MADV_DONTNEED);
    }
    if (ret < 0) {
        trace_ram_release_page_failed(rb->idstr, offset, errno);
    }
}

static GArray *ram_release_array(GArray **a)
{
    if (!*a) {
        *a = g_array_new(false, false, sizeof(RAMReleasePage));
    }
    return *a;
}

void ram_release_track(RAMBlock *rb, uint64_t offset, bool main_channel)
{
    RAMReleasePage p = { .rb = rb, .offset = offset };

    g_mutex_lock(&rr.lock);
    if (main_channel) {
        g_array_append_val(ram_release_array(&rr.open), p);
        rr.open_bytes += rb->page_size;
    } else {
        g_array_append_val(ram_release_array(&rr.preempt), p);
    }
    g_mutex_unlock(&rr.lock);
}

bool ram_release_batch_full(void)
{
    bool full;

    g_mutex_lock(&rr.lock);
    full = rr.open_bytes >= RAM_RELEASE_BATCH_BYTES;
    g_mutex_unlock(&rr.lock);
    return full;
}

/* Close @a (lock held) as a batch on @q; its PING value, 0 if empty. */
static uint32_t ram_release_close(GArray **a, GQueue *q, uint32_t kind)
{
    RAMReleaseBatch *b;

    if (!*a || !(*a)->len) {
        return 0;
    }
    b = g_new(RAMReleaseBatch, 1);
    b->id = RAM_RELEASE_PING_BASE | kind | (rr.seq++ & RAM_RELEASE_PING_SEQ);
    b->pages = *a;
    *a = NULL;
    g_queue_push_tail(q, b);
    trace_ram_release_ping(b->id, b->pages->len);
    return b->id;
}

void ram_release_ping_preempt(QEMUFile *f)
{
    uint32_t id;

    g_mutex_lock(&rr.lock);
    id = ram_release_close(&rr.preempt, &rr.pending_preempt,
                           RAM_RELEASE_PING_PREEMPT);
    g_mutex_unlock(&rr.lock);
    if (id) {
        qemu_put_be64(f, RAM_SAVE_FLAG_HOOK);
        qemu_put_be32(f, id);
        qemu_fflush(f);
    }
}

void ram_release_ping(QEMUFile *f)
{
    uint32_t id;
    uint8_t buf[4];

    g_mutex_lock(&rr.lock);
    id = ram_release_close(&rr.open, &rr.pending, 0);
    rr.open_bytes = 0;
    g_mutex_unlock(&rr.lock);
    if (!id) {
        return;
    }
    /* The PONG comes only after every page before it was loaded. */
    buf[0] = id >> 24;
    buf[1] = id >> 16;
    buf[2] = id >> 8;
    buf[3] = id;
    qemu_savevm_send_command(f, MIG_CMD_PING, sizeof(buf), buf);
}

static void ram_release_batch_free(RAMReleaseBatch *b)
{
    g_array_unref(b->pages);
    g_free(b);
}

static gint ram_release_batch_is(gconstpointer a, gconstpointer id)
{
    return ((const RAMReleaseBatch *)a)->id != *(const uint32_t *)id;
}

void ram_release_acked(uint32_t value)
{
    RAMReleaseBatch *b;
    GQueue *q = value & RAM_RELEASE_PING_PREEMPT ? &rr.pending_preempt
                                                 : &rr.pending;
    uint64_t n = 0;

    if (!(value & RAM_RELEASE_PING_BASE)) {
        return;         /* not a release batch's PING */
    }
    g_mutex_lock(&rr.lock);
    /* A PONG of a stream that broke (its batches were settled) is old. */
    if (g_queue_find_custom(q, &value, ram_release_batch_is)) {
        uint32_t id;

        do {
            b = g_queue_pop_head(q);
            for (guint i = 0; i < b->pages->len; i++) {
                RAMReleasePage *p = &g_array_index(b->pages, RAMReleasePage,
                                                   i);

                ram_release_page(p->rb, p->offset);
            }
            n += b->pages->len;
            id = b->id;
            ram_release_batch_free(b);
        } while (id != value);
    }
    g_mutex_unlock(&rr.lock);
    trace_ram_release_acked(value, n);
}

/* Release the pages of @a that the destination holds; count both kinds. */
static void ram_release_settle(GArray *a, bool (*held)(RAMBlock *, uint64_t,
                                                       void *),
                               void *opaque, uint64_t *released,
                               uint64_t *resent)
{
    for (guint i = 0; a && i < a->len; i++) {
        RAMReleasePage *p = &g_array_index(a, RAMReleasePage, i);

        if (held(p->rb, p->offset, opaque)) {
            ram_release_page(p->rb, p->offset);
            (*released)++;
        } else {
            (*resent)++;
        }
    }
}

void ram_release_resume(bool (*held)(RAMBlock *rb, uint64_t offset,
                                     void *opaque), void *opaque)
{
    RAMReleaseBatch *b;
    uint64_t released = 0, resent = 0;

    g_mutex_lock(&rr.lock);
    while ((b = g_queue_pop_head(&rr.pending)) ||
           (b = g_queue_pop_head(&rr.pending_preempt))) {
        ram_release_settle(b->pages, held, opaque, &released, &resent);
        ram_release_batch_free(b);
    }
    ram_release_settle(rr.open, held, opaque, &released, &resent);
    ram_release_settle(rr.preempt, held, opaque, &released, &resent);
    g_clear_pointer(&rr.open, g_array_unref);
    g_clear_pointer(&rr.preempt, g_array_unref);
    rr.open_bytes = 0;
    g_mutex_unlock(&rr.lock);
    trace_ram_release_resume(released, resent);
}

void ram_release_cleanup(void)
{
    RAMReleaseBatch *b;

    g_mutex_lock(&rr.lock);
    while ((b = g_queue_pop_head(&rr.pending)) ||
           (b = g_queue_pop_head(&rr.pending_preempt))) {
        ram_release_batch_free(b);
    }
    g_clear_pointer(&rr.open, g_array_unref);
    g_clear_pointer(&rr.preempt, g_array_unref);
    rr.open_bytes = 0;
    g_mutex_unlock(&rr.lock);
}
