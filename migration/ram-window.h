/*
 * The source's read window (precopy, migration thread only).
 *
 * Touching guest RAM through its mapping for the first time costs a page
 * fault per 4 KiB page, which on a host with shadow paging (a nested or
 * paravirtualised one) is most of the source's time.  Shared fd-backed
 * RAM (memory-backend-file/memfd, share=on) is the same page cache as the
 * file, so a run of dirty pages is read with one pread() into a bounce
 * buffer, zero-checked there and sent by reference from it.
 *
 * Dirty tracking stays exact: a page is read before its bit is cleared,
 * and a guest write after the read is in the dirty log, which only a
 * bitmap sync folds into the migration bitmap; the window is dropped at
 * every sync, so no page read before a sync is sent after it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_RAM_WINDOW_H
#define MIGRATION_RAM_WINDOW_H

#include "ram-internal.h"

#define RAM_WINDOW_PAGES 256            /* 1 MiB */

typedef struct RAMReadWindow {
    RAMSendBlock *b;            /* NULL: empty */
    uint64_t first;             /* page of b in buf[0] */
    uint64_t npages;
    uint8_t *buf;               /* RAM_WINDOW_PAGES pages, lazily */
    bool failed;                /* a read failed: the mapping from now on */
} RAMReadWindow;

/*
 * The bytes of page @page of @b (its bit already cleared) from the
 * window, refilled if the page is outside it and enough of the pages
 * after it are dirty (after flushing @f, which may hold the old window's
 * pages by reference); NULL to read the page through the mapping.  The
 * result stays valid until the next refill or ram_window_free().
 */
const uint8_t *ram_window_page(QEMUFile *f, RAMReadWindow *w,
                               RAMSendBlock *b, uint64_t page);
/* Forget the window's pages (a bitmap sync, the end of a send loop). */
void ram_window_drop(RAMReadWindow *w);
void ram_window_free(RAMReadWindow *w);

#endif
