/*
 * QMP and HMP commands of the block layer (block/qmp-block.c).
 *
 * Threading: handlers run in the main thread with the BQL held.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BLOCK_QMP_BLOCK_H
#define BLOCK_QMP_BLOCK_H

#include "monitor/qmp-commands.h"
#include "monitor/hmp.h"
#include "block/dirty-bitmap.h"

QmpHandler qmp_query_block;
QmpHandler qmp_block_dirty_bitmap_add;
QmpHandler qmp_block_dirty_bitmap_remove;
QmpHandler qmp_block_dirty_bitmap_clear;
QmpHandler qmp_block_dirty_bitmap_enable;
QmpHandler qmp_block_dirty_bitmap_disable;
QmpHandler qmp_x_debug_block_dirty_bitmap_sha256;

/*
 * Find drive or node @node (qmig's node names are the drive ids), with
 * QEMU's "Cannot find device=... nor node-name=..." error.
 */
BlockBackend *block_lookup_node(const char *node, Error **errp);
/* Find bitmap @name on @node, with QEMU's errors; *@pblk gets the drive. */
BdrvDirtyBitmap *block_dirty_bitmap_lookup(const char *node,
                                           const char *name,
                                           BlockBackend **pblk, Error **errp);

#endif
