/*
 * The source's read window: precopy reads runs of dirty pages of shared
 * fd-backed RAM with one pread() into a bounce buffer instead of touching
 * them through the RAM's mapping (see ram-window.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/bitmap.h"
#include "ram-window.h"
#include "trace.h"

/* Whether @b's pages can be read from its fd. */
static bool ram_window_block_ok(RAMSendBlock *b)
{
    return b->rb->fd >= 0 && b->rb->shared;
}

void ram_window_drop(RAMReadWindow *w)
{
    w->b = NULL;
    w->npages = 0;
}

void ram_window_free(RAMReadWindow *w)
{
    ram_window_drop(w);
    g_aligned_free(w->buf);
    w->buf = NULL;
}

/*
 * Read pages [@page, @page + @n) of @b into the window; false (window
 * empty) if the file did not give them all.
 */
static bool ram_window_read(RAMReadWindow *w, RAMSendBlock *b, uint64_t page,
                            uint64_t n)
{
    size_t len = n << TARGET_PAGE_BITS;
    off_t pos = page << TARGET_PAGE_BITS;
    size_t done = 0;

    ram_window_drop(w);
    if (!w->buf) {
        w->buf = g_aligned_alloc(RAM_WINDOW_PAGES, TARGET_PAGE_SIZE,
                                 TARGET_PAGE_SIZE);
    }
    while (done < len) {
        ssize_t r = pread(b->rb->fd, w->buf + done, len - done, pos + done);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            /* A file shorter than its mapping, or unreadable: map it. */
            trace_ram_window_read_failed(b->rb->idstr, page, r < 0 ? errno : 0);
            w->failed = true;
            return false;
        }
        done += r;
    }
    w->b = b;
    w->first = page;
    w->npages = n;
    trace_ram_window_read(b->rb->idstr, page, n);
    return true;
}

const uint8_t *ram_window_page(QEMUFile *f, RAMReadWindow *w,
                               RAMSendBlock *b, uint64_t page)
{
    uint64_t n, dirty;

    if (w->b == b && page >= w->first && page < w->first + w->npages) {
        return w->buf + ((page - w->first) << TARGET_PAGE_BITS);
    }
    if (w->failed || !ram_window_block_ok(b)) {
        return NULL;
    }
    n = MIN(RAM_WINDOW_PAGES, b->pages - page);
    /* @page's own bit is already clear: it counts as one to send. */
    dirty = 1 + (n > 1 ? bitmap_count_one_with_offset(b->bmap, page + 1,
                                                      n - 1) : 0);
    if (dirty * 2 < n) {
        /* Sparse: a whole window read would be mostly wasted copying. */
        return NULL;
    }
    /* Pages of the old window may still be queued by reference. */
    qemu_fflush(f);
    if (qemu_file_get_error(f) || !ram_window_read(w, b, page, n)) {
        return NULL;
    }
    return w->buf;
}
