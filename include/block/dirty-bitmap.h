/*
 * Block dirty bitmaps: which parts of a disk were written since a point in
 * time, at a chosen granularity.  Named bitmaps belong to users (backup
 * tools: block-dirty-bitmap-add/-remove/-clear) and can be migrated
 * (the dirty-bitmaps capability); anonymous ones are internal (block
 * migration tracks the writes made while it copies).
 *
 * Locking: each BlockBackend has one "dirty bitmap mutex" protecting its
 * list of bitmaps and all their bits.  blk_pwrite()/blk_pwrite_zeroes()
 * (any thread: a vCPU thread in the disk device, the incoming thread)
 * set the written range in every enabled bitmap under it; the functions
 * below take it themselves.  Never held across I/O or the BQL.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BLOCK_DIRTY_BITMAP_H
#define BLOCK_DIRTY_BITMAP_H

#include "qapi/error.h"
#include "block/block-backend.h"

typedef struct BdrvDirtyBitmap BdrvDirtyBitmap;

/*
 * Create a bitmap of @granularity bytes per bit (a power of two, 512 B to
 * 2 GiB; QEMU's default is 64 KiB) covering the whole disk.  @name NULL:
 * anonymous (internal, never listed or migrated).  A duplicate name or
 * bad granularity fails with QEMU's messages.
 */
BdrvDirtyBitmap *bdrv_create_dirty_bitmap(BlockBackend *blk,
                                          uint32_t granularity,
                                          const char *name, Error **errp);
void bdrv_release_dirty_bitmap(BdrvDirtyBitmap *bitmap);
BdrvDirtyBitmap *bdrv_find_dirty_bitmap(BlockBackend *blk, const char *name);
/* Named bitmaps of @blk (a new array of borrowed pointers). */
GPtrArray *bdrv_dirty_bitmap_list(BlockBackend *blk);

const char *bdrv_dirty_bitmap_name(const BdrvDirtyBitmap *bitmap);
BlockBackend *bdrv_dirty_bitmap_blk(const BdrvDirtyBitmap *bitmap);
uint32_t bdrv_dirty_bitmap_granularity(const BdrvDirtyBitmap *bitmap);
uint64_t bdrv_dirty_bitmap_size(const BdrvDirtyBitmap *bitmap); /* bytes */
bool bdrv_dirty_bitmap_enabled(const BdrvDirtyBitmap *bitmap);
void bdrv_dirty_bitmap_set_enabled(BdrvDirtyBitmap *bitmap, bool enabled);
bool bdrv_dirty_bitmap_persistent(const BdrvDirtyBitmap *bitmap);
void bdrv_dirty_bitmap_set_persistent(BdrvDirtyBitmap *bitmap, bool on);
/*
 * Busy: an operation (dirty-bitmap migration) owns the bitmap; the QMP
 * commands that change or remove it refuse with QEMU's message, and
 * query-block shows "busy": true.
 */
bool bdrv_dirty_bitmap_busy(const BdrvDirtyBitmap *bitmap);
void bdrv_dirty_bitmap_set_busy(BdrvDirtyBitmap *bitmap, bool busy);
/* Sets *@errp ("Bitmap 'X' is currently in use ...") when busy. */
bool bdrv_dirty_bitmap_check_not_busy(const BdrvDirtyBitmap *bitmap,
                                      Error **errp);

/* Byte ranges, rounded out to the granularity. */
void bdrv_set_dirty_bitmap(BdrvDirtyBitmap *bitmap, uint64_t offset,
                           uint64_t bytes);
void bdrv_reset_dirty_bitmap(BdrvDirtyBitmap *bitmap, uint64_t offset,
                             uint64_t bytes);
void bdrv_clear_dirty_bitmap(BdrvDirtyBitmap *bitmap);
bool bdrv_dirty_bitmap_get(BdrvDirtyBitmap *bitmap, uint64_t offset);
/*
 * Atomically: return whether any bit of [offset, offset+bytes) is set,
 * and clear them (block migration takes a chunk's dirtiness this way, so
 * a write racing with the copy is seen next round).
 */
bool bdrv_dirty_bitmap_test_and_reset(BdrvDirtyBitmap *bitmap,
                                      uint64_t offset, uint64_t bytes);
/* First dirty byte offset in [offset, end), or -1. */
int64_t bdrv_dirty_bitmap_next_dirty(BdrvDirtyBitmap *bitmap,
                                     uint64_t offset, uint64_t end);
/* Dirty bytes (set bits × granularity, capped at the disk size). */
uint64_t bdrv_get_dirty_count(BdrvDirtyBitmap *bitmap);

/*
 * Serialisation of the bits covering [offset, offset+bytes) (offset and
 * bytes multiples of granularity × 8 × sizeof(long) except at the end),
 * little-endian, for migration.
 */
uint64_t bdrv_dirty_bitmap_serialization_size(BdrvDirtyBitmap *bitmap,
                                              uint64_t offset,
                                              uint64_t bytes);
void bdrv_dirty_bitmap_serialize_part(BdrvDirtyBitmap *bitmap, uint8_t *buf,
                                      uint64_t offset, uint64_t bytes);
void bdrv_dirty_bitmap_deserialize_part(BdrvDirtyBitmap *bitmap,
                                        const uint8_t *buf, uint64_t offset,
                                        uint64_t bytes);
/* SHA-256 of the serialised bitmap, hex (x-debug-block-dirty-bitmap-sha256). */
char *bdrv_dirty_bitmap_sha256(BdrvDirtyBitmap *bitmap);

/* Called by blk_pwrite()/blk_pwrite_zeroes(): mark every enabled bitmap. */
void blk_dirty_bitmaps_mark(BlockBackend *blk, uint64_t offset,
                            uint64_t bytes);

#endif
