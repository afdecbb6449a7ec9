/*
 * What block-backend.c and dirty-bitmap.c share and nobody else sees.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BLOCK_BLOCK_INT_H
#define BLOCK_BLOCK_INT_H

#include "block/block-backend.h"

struct BlockBackend {
    char *id;
    char *filename;
    int fd;
    int index;              /* index=N, or -1 */
    bool read_only;
    bool snapshot;
    bool if_none;           /* if=none: only a -device attaches it */
    uint64_t length;        /* fixed at open */
    char *attached_dev;     /* set at machine creation, then read-only */

    /*
     * The "dirty bitmap mutex" of include/block/dirty-bitmap.h: a leaf
     * lock, never held across I/O or while taking the BQL.
     */
    GMutex dirty_bitmap_mutex;
    GList *dirty_bitmaps;   /* BdrvDirtyBitmap *; protected by the mutex */
};

/* Release every bitmap of @blk (the backend is going away). */
void blk_release_dirty_bitmaps(BlockBackend *blk);

#endif
