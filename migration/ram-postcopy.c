/*
 * RAM migration, source side after the postcopy switch
 * (docs/devel/migration/postcopy.md): DISCARD at the switch (whole host
 * pages), requested pages with their follow-on, the background walk
 * under max-postcopy-bandwidth, the postcopy-preempt sender's pages,
 * release-ram, and recovery's RECV_BITMAP reload.  Split from ram.c,
 * whose header comment describes the section as a whole.
 *
 * Threads and locks: the migration thread runs the hooks and the walk;
 * the return-path thread queues requests (req_mutex) and reloads bitmaps
 * (bitmap_mutex); the preempt sender ("mig/src/preempt") sends requests
 * on its channel.  After the switch every bitmap test-and-clear and the
 * walk position are under bitmap_mutex.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/mman.h>
#include "qapi/error.h"
#include "qemu/bitmap.h"
#include "system/ramblock.h"
#include "qemu-file.h"
#include "migration-stats.h"
#include "options.h"
#include "ram.h"
#include "ram-internal.h"
#include "postcopy-ram.h"
#include "postcopy-preempt.h"
#include "postcopy-recover.h"
#include "ram-release.h"
#include "savevm.h"
#include "trace.h"

/* Target pages per host page of @b (1 unless huge pages). */
static uint64_t ram_host_page_pages(const RAMSendBlock *b)
{
    return b->rb->page_size >> TARGET_PAGE_BITS;
}

/*
 * Send the host page of @b holding target page @page in postcopy if any
 * of it is dirty, or anyway with @force (a requested page); the number
 * of target pages sent.  The destination places a host page whole (one
 * UFFDIO_COPY: a huge page cannot be filled piecewise), so a huge page
 * always goes whole and in order on one channel, clean parts included.
 */
static uint64_t ram_postcopy_send_one(QEMUFile *f, RAMSaveState *st,
                                      RAMSendBlock *b, uint64_t page,
                                      bool force)
{
    uint64_t n = ram_host_page_pages(b);
    uint64_t first = page - page % n;
    uint64_t dirty = 0;
    bool again = true;

    g_mutex_lock(&st->bitmap_mutex);
    for (uint64_t i = first; i < first + n; i++) {
        dirty += test_and_clear_bit(i, b->bmap);
    }
    for (uint64_t i = first; b->sent && (dirty || force) && i < first + n;
         i++) {
        again &= test_and_set_bit(i, b->sent);
    }
    g_mutex_unlock(&st->bitmap_mutex);
    if (dirty) {
        stat64_add(&ram_dirty_pages, -dirty);
    } else if (!force || (b->sent && again)) {
        return 0;
    }
    for (uint64_t i = first; i < first + n; i++) {
        ram_send_page(f, st, b, i);
    }
    if (migrate_release_ram()) {
        /* Dropped once the destination is known to hold it (whole). */
        ram_release_track(b->rb, first << TARGET_PAGE_BITS,
                          f != st->preempt_f);
    }
    trace_ram_postcopy_send_host_page(b->rb->idstr,
                                      first << TARGET_PAGE_BITS, n, dirty);
    return n;
}

/*
 * After a requested page, the background walk goes on just after it
 * (QEMU does the same): a guest that touched one page is likely to touch
 * the ones that follow next, and pages the walk brings before the guest
 * touches them cost no request and no blocked vCPU.  The walk position
 * is under bitmap_mutex in postcopy (the preempt sender moves it too).
 */
static void ram_postcopy_follow(RAMSaveState *st, const RAMRequest *req)
{
    g_mutex_lock(&st->bitmap_mutex);
    st->cur = req->block - st->blocks;
    st->cur_page = req->first + req->npages;
    g_mutex_unlock(&st->bitmap_mutex);
}

/*
 * The follow-on of a request: the next RAM_POSTCOPY_FOLLOW_ON_PAGES
 * target pages still to send, right behind the requested page on the
 * same channel and outside the rate limit (they count against it), as
 * the background walk would send them if the limit allowed.  Without
 * it, a guest that touches pages in order outruns a rate-limited walk
 * and asks for nearly every page (docs/devel/migration/benchmarks.md,
 * postcopy-latency).  Small pages only: a huge page is locality enough.
 */
#define RAM_POSTCOPY_FOLLOW_ON_PAGES 32     /* 128 KiB */

static void ram_postcopy_follow_on(QEMUFile *f, RAMSaveState *st,
                                   const RAMRequest *req)
{
    RAMSendBlock *b = req->block;
    uint64_t p = req->first + req->npages;
    uint64_t end = MIN(p + RAM_POSTCOPY_FOLLOW_ON_PAGES, b->pages);
    uint64_t sent = 0;

    if (ram_host_page_pages(b) != 1) {
        return;
    }
    for (; p < end && !qemu_file_get_error(f); p++) {
        sent += ram_postcopy_send_one(f, st, b, p, false);
    }
    if (sent) {
        qemu_fflush(f);
    }
}

/* Send every host page of @req; the number of target pages sent. */
static uint64_t ram_postcopy_send_request(QEMUFile *f, RAMSaveState *st,
                                          const RAMRequest *req)
{
    uint64_t n = ram_host_page_pages(req->block);
    uint64_t pages = 0;

    trace_ram_postcopy_send_request(req->block->rb->idstr,
                                    req->first << TARGET_PAGE_BITS,
                                    req->npages);
    /* Requests are host-page aligned (ram_request_check). */
    for (uint64_t i = 0; i < req->npages; i += n) {
        pages += ram_postcopy_send_one(f, st, req->block, req->first + i,
                                       true);
    }
    ram_postcopy_follow(st, req);
    /* A vCPU waits for it: do not leave it in the buffer. */
    qemu_fflush(f);
    ram_postcopy_follow_on(f, st, req);
    return pages;
}

/* The oldest queued request, or NULL (req_mutex held). */
static RAMRequest *ram_request_pop(RAMSaveState *st)
{
    RAMRequest *req = g_queue_pop_head(&st->requests);

    if (req) {
        st->requested_pages -= req->npages;
    }
    return req;
}

/* Send the oldest queued request; false if there is none. */
static bool ram_postcopy_send_requested(QEMUFile *f, RAMSaveState *st)
{
    RAMRequest *req;

    g_mutex_lock(&st->req_mutex);
    req = ram_request_pop(st);
    g_mutex_unlock(&st->req_mutex);
    if (!req) {
        return false;
    }
    ram_postcopy_send_request(f, st, req);
    g_free(req);
    return true;
}

/*
 * Postcopy's iterate: requested pages whenever there are some, the
 * background walk while the rate limit allows; true once every page has
 * been sent.
 */
bool ram_postcopy_iterate(QEMUFile *f, RAMSaveState *st)
{
    int64_t start = get_clock_ns();
    uint64_t sent = 0;

    while (!qemu_file_get_error(f)) {
        RAMSendBlock *b;
        uint64_t page;
        bool found;

        /* With postcopy-preempt, requests go on their own channel. */
        if (!st->preempt_f && ram_postcopy_send_requested(f, st)) {
            continue;
        }
        if (qemu_file_rate_limit(f)) {
            /*
             * Out before the pause: a vCPU may wait for what is in the
             * buffer (with release-ram a page sent here is not sent
             * again on request, and a huge page's tail is 2 MiB late).
             */
            qemu_fflush(f);
            break;
        }
        g_mutex_lock(&st->bitmap_mutex);
        found = ram_next_dirty(st, &b, &page);
        g_mutex_unlock(&st->bitmap_mutex);
        if (!found) {
            return true;
        }
        ram_postcopy_send_one(f, st, b, page, false);
        if (ram_release_batch_full()) {
            break;      /* release-ram: PING before more is held back */
        }
        if (++sent % RAM_ITERATE_CLOCK_EVERY == 0 &&
            get_clock_ns() - start > RAM_ITERATE_MAX_NS) {
            break;
        }
    }
    return false;
}

void ram_postcopy_wait_request(int64_t ms)
{
    RAMSaveState *st = ram_save_state;

    if (!st) {
        return;
    }
    if (st->preempt_f) {
        g_usleep(ms * 1000);    /* requests are the preempt sender's */
        return;
    }
    g_mutex_lock(&st->req_mutex);
    if (g_queue_is_empty(&st->requests)) {
        g_cond_wait_until(&st->req_cond, &st->req_mutex,
                          g_get_monotonic_time() + ms * 1000);
    }
    g_mutex_unlock(&st->req_mutex);
}

bool ram_postcopy_preempt_send(QEMUFile *f, const bool *quit,
                               uint64_t *pages)
{
    RAMSaveState *st = ram_save_state;
    RAMRequest *req;

    *pages = 0;
    g_mutex_lock(&st->req_mutex);
    while (g_queue_is_empty(&st->requests) &&
           !__atomic_load_n(quit, __ATOMIC_SEQ_CST)) {
        g_cond_wait(&st->req_cond, &st->req_mutex);
    }
    req = ram_request_pop(st);
    g_mutex_unlock(&st->req_mutex);
    if (!req) {
        return false;   /* told to quit, nothing left */
    }
    *pages = ram_postcopy_send_request(f, st, req);
    g_free(req);
    return true;
}

void ram_postcopy_preempt_wake(void)
{
    RAMSaveState *st = ram_save_state;

    if (st) {
        g_mutex_lock(&st->req_mutex);
        g_cond_broadcast(&st->req_cond);
        g_mutex_unlock(&st->req_mutex);
    }
}

static RAMSendBlock *ram_find_send_block(RAMSaveState *st, const char *name)
{
    for (guint i = 0; i < st->nr_blocks; i++) {
        if (!strcmp(st->blocks[i].rb->idstr, name)) {
            return &st->blocks[i];
        }
    }
    return NULL;
}

/* The checks of one request (req_mutex held); the block, or NULL. */
static RAMSendBlock *ram_request_check(RAMSaveState *st, const char *rbname,
                                       uint64_t start, uint64_t len,
                                       Error **errp)
{
    RAMSendBlock *b;
    uint64_t used;

    if (!rbname) {
        b = st->last_req;
        if (!b) {
            error_setg(errp, "MIG_RP_MSG_REQ_PAGES has no previous block");
            return NULL;
        }
    } else {
        b = ram_find_send_block(st, rbname);
        if (!b) {
            error_setg(errp, "MIG_RP_MSG_REQ_PAGES has no block '%s'",
                       rbname);
            return NULL;
        }
        st->last_req = b;
    }
    used = b->rb->used_length;
    if (!len || (start | len) & (b->rb->page_size - 1)) {
        error_setg(errp, "MIG_RP_MSG_REQ_PAGES: Misaligned page request, "
                   "start: 0x%" PRIx64 " len: 0x%" PRIx64, start, len);
        return NULL;
    }
    if (start >= used || len > used - start) {
        error_setg(errp, "MIG_RP_MSG_REQ_PAGES request overrun, start=0x%"
                   PRIx64 " len=0x%" PRIx64 " blocklen=0x%" PRIx64,
                   start, len, used);
        return NULL;
    }
    return b;
}

/*
 * Room for @npages more requested pages (req_mutex held).  Postcopy: a
 * destination asks for a page it lacks once (its requested bitmap), so
 * it has at most the guest's pages outstanding, twice that after a
 * recovery re-sends them all while the old queue still holds some.  Past
 * that it floods the queue, which would grow without bound.
 */
static bool ram_request_room(RAMSaveState *st, uint64_t npages, Error **errp)
{
    uint64_t max = 0;

    /*
     * Only a destination that runs the guest asks for pages (it faults
     * on them), and it does so after LISTEN, sent after the switch.
     * Before it, nothing would drain the queue until the switch, which
     * may never come: a destination asking then is broken or hostile.
     */
    if (!__atomic_load_n(&st->postcopy, __ATOMIC_ACQUIRE)) {
        error_setg(errp, "MIG_RP_MSG_REQ_PAGES during precopy: the "
                   "destination asked for pages before the postcopy "
                   "switch");
        return false;
    }
    for (guint i = 0; i < st->nr_blocks; i++) {
        max += 2 * st->blocks[i].pages;
    }
    if (npages > max - MIN(st->requested_pages, max)) {
        error_setg(errp, "MIG_RP_MSG_REQ_PAGES: the destination has %" PRIu64
                   " pages requested and not yet sent, and asks for %" PRIu64
                   " more; at most %" PRIu64 " (twice the guest's pages) "
                   "may wait", st->requested_pages, npages, max);
        return false;
    }
    return true;
}

bool ram_save_queue_pages(const char *rbname, uint64_t start, uint64_t len,
                          Error **errp)
{
    RAMSaveState *st = __atomic_load_n(&ram_save_state, __ATOMIC_ACQUIRE);
    RAMSendBlock *b;
    RAMRequest *req;

    if (!st) {
        error_setg(errp, "MIG_RP_MSG_REQ_PAGES before RAM migration was "
                   "set up");
        return false;
    }
    stat64_add(&mig_stats.postcopy_requests, 1);
    g_mutex_lock(&st->req_mutex);
    b = ram_request_check(st, rbname, start, len, errp);
    if (b && !ram_request_room(st, len >> TARGET_PAGE_BITS, errp)) {
        b = NULL;
    }
    if (b) {
        req = g_new(RAMRequest, 1);
        req->block = b;
        req->first = start >> TARGET_PAGE_BITS;
        req->npages = len >> TARGET_PAGE_BITS;
        g_queue_push_tail(&st->requests, req);
        st->requested_pages += req->npages;
        g_cond_broadcast(&st->req_cond);
    }
    g_mutex_unlock(&st->req_mutex);
    return b != NULL;
}

/* ---- Source: postcopy recovery ---- */

/* release-ram at resume: the destination has the page (whole host page). */
static bool ram_postcopy_dest_holds(RAMBlock *rb, uint64_t offset,
                                    void *opaque)
{
    RAMSaveState *st = opaque;
    uint64_t first = offset >> TARGET_PAGE_BITS;
    uint64_t n = rb->page_size >> TARGET_PAGE_BITS;

    for (guint i = 0; i < st->nr_blocks; i++) {
        RAMSendBlock *b = &st->blocks[i];

        if (b->rb == rb) {
            /* After the reload, bmap is what the destination lacks. */
            return find_next_bit(b->bmap, first + n, first) >= first + n;
        }
    }
    return false;
}

void ram_postcopy_resume_done(void)
{
    RAMSaveState *st = ram_save_state;

    if (!st) {
        return;
    }
    if (migrate_release_ram()) {
        g_mutex_lock(&st->bitmap_mutex);
        ram_release_resume(ram_postcopy_dest_holds, st);
        g_mutex_unlock(&st->bitmap_mutex);
    }
    if (st->preempt_f) {
        postcopy_preempt_start();
    }
}

bool ram_postcopy_resume_prepare(QEMUFile *f, Error **errp)
{
    RAMSaveState *st = ram_save_state;

    if (!st || !st->postcopy) {
        error_setg(errp, "Postcopy recovery without RAM in postcopy");
        return false;
    }
    /* A new stream: its first record names its block, as does a request. */
    st->last_sent = NULL;
    if (migrate_postcopy_preempt()) {
        /* The new preempt channel (its sender starts after RESUME_ACK). */
        st->preempt_f = postcopy_preempt_file();
        st->preempt_last_sent = NULL;
        if (!st->preempt_f) {
            error_setg(errp, "Postcopy recovery without a new preempt "
                       "channel");
            return false;
        }
    }
    g_mutex_lock(&st->req_mutex);
    st->last_req = NULL;
    g_mutex_unlock(&st->req_mutex);
    g_mutex_lock(&st->bitmap_mutex);
    st->bitmaps_reloaded = 0;
    for (guint i = 0; i < st->nr_blocks; i++) {
        st->blocks[i].reloaded = false;
    }
    g_mutex_unlock(&st->bitmap_mutex);
    for (guint i = 0; i < st->nr_blocks; i++) {
        uint8_t buf[256];
        size_t len = postcopy_recv_bitmap_put_name(st->blocks[i].rb->idstr,
                                                   buf);

        trace_ram_postcopy_recv_bitmap_request(st->blocks[i].rb->idstr);
        qemu_savevm_send_command(f, MIG_CMD_RECV_BITMAP, len, buf);
    }
    qemu_fflush(f);
    return qemu_file_get_error_obj(f, errp) == 0;
}

bool ram_postcopy_reload_bitmap(const char *name, QEMUFile *from_dst,
                                Error **errp)
{
    RAMSaveState *st = __atomic_load_n(&ram_save_state, __ATOMIC_ACQUIRE);
    g_autofree uint8_t *le = NULL;
    g_autofree unsigned long *to_send = NULL;
    RAMSendBlock *b;
    uint64_t size, end_mark, before;

    if (!st || !st->postcopy) {
        error_setg(errp, "RECV_BITMAP for ramblock '%s' while RAM is not in "
                   "postcopy", name);
        return false;
    }
    b = ram_find_send_block(st, name);
    if (!b) {
        error_setg(errp, "RECV_BITMAP for unknown ramblock '%s'", name);
        return false;
    }
    size = qemu_get_be64(from_dst);
    if (qemu_file_get_error_obj(from_dst, errp) ||
        !postcopy_recv_bitmap_check_size(name, b->pages, size, errp)) {
        return false;
    }
    le = g_malloc(size);
    to_send = bitmap_new(b->pages);
    if (qemu_get_buffer(from_dst, le, size) != size) {
        if (!qemu_file_get_error_obj(from_dst, errp)) {
            error_setg(errp, "RECV_BITMAP for ramblock '%s' is truncated",
                       name);
        }
        return false;
    }
    end_mark = qemu_get_be64(from_dst);
    if (qemu_file_get_error_obj(from_dst, errp) ||
        !postcopy_recv_bitmap_decode(name, le, b->pages, end_mark, to_send,
                                     errp)) {
        return false;
    }
    g_mutex_lock(&st->bitmap_mutex);
    if (b->reloaded) {
        g_mutex_unlock(&st->bitmap_mutex);
        error_setg(errp, "RECV_BITMAP for ramblock '%s' arrived twice", name);
        return false;
    }
    /* Everything the destination lacks goes (again): the rest is there. */
    before = bitmap_count_one(b->bmap, b->pages);
    bitmap_copy(b->bmap, to_send, b->pages);
    stat64_add(&ram_dirty_pages, bitmap_count_one(b->bmap, b->pages) -
               before);
    b->reloaded = true;
    st->bitmaps_reloaded++;
    g_mutex_unlock(&st->bitmap_mutex);
    trace_ram_postcopy_recv_bitmap_reloaded(name, size,
                                            bitmap_count_one(to_send,
                                                             b->pages));
    return true;
}

bool ram_postcopy_resume_check(Error **errp)
{
    RAMSaveState *st = __atomic_load_n(&ram_save_state, __ATOMIC_ACQUIRE);
    guint got;

    if (!st) {
        error_setg(errp, "RESUME_ACK while RAM is not migrating");
        return false;
    }
    g_mutex_lock(&st->bitmap_mutex);
    got = st->bitmaps_reloaded;
    g_mutex_unlock(&st->bitmap_mutex);
    if (got != st->nr_blocks) {
        error_setg(errp, "RESUME_ACK after %u of %u RECV_BITMAP answers",
                   got, st->nr_blocks);
        return false;
    }
    return true;
}

/* One DISCARD command for @n ranges (@pairs: start, length in bytes). */
static void ram_send_discard(QEMUFile *f, RAMBlock *rb, const uint64_t *pairs,
                             int n)
{
    size_t name_len = strlen(rb->idstr);
    uint8_t buf[3 + 255 + 16 * POSTCOPY_DISCARD_MAX_RANGES];
    size_t pos = 0;

    buf[pos++] = POSTCOPY_DISCARD_VERSION;
    buf[pos++] = name_len;
    memcpy(buf + pos, rb->idstr, name_len);
    pos += name_len;
    buf[pos++] = '\0';
    for (int i = 0; i < 2 * n; i++, pos += 8) {
        for (int j = 0; j < 8; j++) {
            buf[pos + j] = pairs[i] >> (56 - 8 * j);
        }
    }
    qemu_savevm_send_command(f, MIG_CMD_POSTCOPY_RAM_DISCARD, pos, buf);
}

/*
 * At the switch, for a huge-page block: a host page with any dirty target
 * page becomes dirty as a whole (QEMU's canonicalisation of the discard
 * bitmap).  The destination can only drop and place whole host pages, so
 * a partly dirty huge page is discarded whole and sent again whole.
 */
static void ram_chunk_host_pages(RAMSendBlock *b)
{
    uint64_t n = ram_host_page_pages(b);
    uint64_t added = 0;

    if (n == 1) {
        return;
    }
    for (uint64_t p = find_next_bit(b->bmap, b->pages, 0); p < b->pages;
         p = find_next_bit(b->bmap, b->pages, p)) {
        uint64_t first = p - p % n;

        added += n - bitmap_count_one_with_offset(b->bmap, first, n);
        bitmap_set(b->bmap, first, n);
        p = first + n;
    }
    stat64_add(&ram_dirty_pages, added);
    trace_ram_postcopy_chunk_host_pages(b->rb->idstr, added);
}

/* DISCARD every run of dirty pages of @b: the destination's copy is old. */
static uint64_t ram_discard_block_dirty(QEMUFile *f, RAMSendBlock *b)
{
    uint64_t pairs[2 * POSTCOPY_DISCARD_MAX_RANGES];
    uint64_t p = find_next_bit(b->bmap, b->pages, 0);
    uint64_t ranges = 0;
    int n = 0;

    while (p < b->pages) {
        uint64_t end = find_next_zero_bit(b->bmap, b->pages, p);

        pairs[2 * n] = p << TARGET_PAGE_BITS;
        pairs[2 * n + 1] = (end - p) << TARGET_PAGE_BITS;
        ranges++;
        if (++n == POSTCOPY_DISCARD_MAX_RANGES) {
            ram_send_discard(f, b->rb, pairs, n);
            n = 0;
        }
        p = find_next_bit(b->bmap, b->pages, end);
    }
    if (n) {
        ram_send_discard(f, b->rb, pairs, n);
    }
    return ranges;
}

/* At the switch: release-ram's sent bitmaps, the preempt sender. */
static bool ram_postcopy_preempt_prepare(RAMSaveState *st, Error **errp)
{
    for (guint i = 0; migrate_release_ram() && i < st->nr_blocks; i++) {
        st->blocks[i].sent = bitmap_try_new(st->blocks[i].pages);
        if (!st->blocks[i].sent) {
            error_setg(errp, "Cannot allocate the postcopy sent bitmap of "
                       "RAM block '%s'", st->blocks[i].rb->idstr);
            return false;
        }
    }
    if (!migrate_postcopy_preempt()) {
        return true;
    }
    st->preempt_f = postcopy_preempt_file();
    if (!st->preempt_f) {
        error_setg(errp, "Postcopy preempt channel is not open");
        return false;
    }
    st->preempt_last_sent = NULL;
    postcopy_preempt_start();
    return true;
}

bool ram_save_postcopy_prepare(QEMUFile *f, void *opaque, Error **errp)
{
    RAMSaveState *st = ram_save_state;
    uint64_t ranges = 0;

    if (!st) {
        error_setg(errp, "RAM migration was not set up");
        return false;
    }
    st->vm_stopped = true;
    ram_bitmap_sync(st);
    for (guint i = 0; i < st->nr_blocks; i++) {
        ram_chunk_host_pages(&st->blocks[i]);
        ranges += ram_discard_block_dirty(f, &st->blocks[i]);
    }
    /* Page requests are accepted from now on (the return-path thread). */
    __atomic_store_n(&st->postcopy, true, __ATOMIC_RELEASE);
    st->last_sent = NULL;   /* the first postcopy record names its block */
    trace_ram_postcopy_prepare(ranges, ram_bytes_remaining());
    if (qemu_file_get_error_obj(f, errp)) {
        error_prepend(errp, "Could not send the postcopy discards: ");
        return false;
    }
    return ram_postcopy_preempt_prepare(st, errp);
}

bool ram_save_complete_postcopy(QEMUFile *f, void *opaque, Error **errp)
{
    RAMSaveState *st = ram_save_state;

    if (!st) {
        error_setg(errp, "RAM migration was not set up");
        return false;
    }
    /* Its pages, then its EOS, before the main stream's end. */
    if (st->preempt_f && !postcopy_preempt_finish(errp)) {
        return false;
    }
    ram_put_eos(f, st);
    qemu_fflush(f);
    return qemu_file_get_error_obj(f, errp) == 0;
}
