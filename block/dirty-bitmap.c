/*
 * Block dirty bitmaps (include/block/dirty-bitmap.h).
 *
 * A bitmap is a flat array of bits, one per @granularity bytes of the
 * disk.  Every bit of every bitmap of a BlockBackend, and the backend's
 * list of bitmaps, is protected by the backend's dirty_bitmap_mutex, so
 * plain (non-atomic) bit operations suffice: a writer marking a range
 * and block migration taking a chunk's bits never interleave inside one
 * word.  The mutex is a leaf lock held only for bit arithmetic.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/bitmap.h"
#include "block/dirty-bitmap.h"
#include "block-int.h"
#include "trace.h"

/* QEMU's limits (BDRV_BITMAP_MAX_NAME_SIZE, the granularity range). */
#define DIRTY_BITMAP_MAX_NAME_SIZE 1023
#define DIRTY_BITMAP_MIN_GRANULARITY 512u
#define DIRTY_BITMAP_MAX_GRANULARITY (1u << 31)

struct BdrvDirtyBitmap {
    BlockBackend *blk;          /* fixed at creation */
    char *name;                 /* NULL: anonymous; fixed at creation */
    uint32_t granularity;       /* bytes per bit; fixed */
    unsigned shift;             /* log2(granularity) */
    uint64_t size;              /* bytes covered (the disk length); fixed */
    unsigned long nbits;        /* fixed */
    unsigned long *bits;        /* protected by blk->dirty_bitmap_mutex */
    bool enabled;               /* protected by blk->dirty_bitmap_mutex */
    bool persistent;            /* protected by blk->dirty_bitmap_mutex */
    bool busy;                  /* protected by blk->dirty_bitmap_mutex */
};

static void bitmap_lock(const BdrvDirtyBitmap *bitmap)
{
    g_mutex_lock(&bitmap->blk->dirty_bitmap_mutex);
}

static void bitmap_unlock(const BdrvDirtyBitmap *bitmap)
{
    g_mutex_unlock(&bitmap->blk->dirty_bitmap_mutex);
}

static bool dirty_bitmap_check_name(BlockBackend *blk, const char *name,
                                    Error **errp)
{
    if (!*name) {
        error_setg(errp, "Bitmap name cannot be empty");
        return false;
    }
    if (strlen(name) > DIRTY_BITMAP_MAX_NAME_SIZE) {
        error_setg(errp, "Bitmap name is too long");
        return false;
    }
    if (bdrv_find_dirty_bitmap(blk, name)) {
        error_setg(errp, "Bitmap already exists: %s", name);
        return false;
    }
    return true;
}

BdrvDirtyBitmap *bdrv_create_dirty_bitmap(BlockBackend *blk,
                                          uint32_t granularity,
                                          const char *name, Error **errp)
{
    BdrvDirtyBitmap *bitmap;
    uint64_t size = blk_getlength(blk);
    uint64_t nbits;

    if (granularity < DIRTY_BITMAP_MIN_GRANULARITY ||
        granularity > DIRTY_BITMAP_MAX_GRANULARITY ||
        (granularity & (granularity - 1))) {
        error_setg(errp, "Granularity must be power of 2, and at least 512");
        return NULL;
    }
    if (name && !dirty_bitmap_check_name(blk, name, errp)) {
        return NULL;
    }
    nbits = DIV_ROUND_UP(size, granularity);
    bitmap = g_new0(BdrvDirtyBitmap, 1);
    bitmap->bits = bitmap_try_new(nbits);
    if (nbits && !bitmap->bits) {
        error_setg(errp, "Could not allocate a dirty bitmap of %" PRIu64
                   " bits for '%s'", nbits, blk_name(blk));
        g_free(bitmap);
        return NULL;
    }
    bitmap->blk = blk;
    bitmap->name = g_strdup(name);
    bitmap->granularity = granularity;
    bitmap->shift = __builtin_ctz(granularity);
    bitmap->size = size;
    bitmap->nbits = nbits;
    bitmap->enabled = true;

    g_mutex_lock(&blk->dirty_bitmap_mutex);
    /*
     * The name check above ran unlocked; names are only added from the
     * main thread (QMP, the incoming bitmap loader under the BQL), so it
     * still holds.
     */
    blk->dirty_bitmaps = g_list_append(blk->dirty_bitmaps, bitmap);
    g_mutex_unlock(&blk->dirty_bitmap_mutex);
    trace_bdrv_create_dirty_bitmap(blk_name(blk), name ? name : "",
                                   granularity);
    return bitmap;
}

void bdrv_release_dirty_bitmap(BdrvDirtyBitmap *bitmap)
{
    BlockBackend *blk = bitmap->blk;

    trace_bdrv_release_dirty_bitmap(blk_name(blk),
                                    bitmap->name ? bitmap->name : "");
    g_mutex_lock(&blk->dirty_bitmap_mutex);
    blk->dirty_bitmaps = g_list_remove(blk->dirty_bitmaps, bitmap);
    g_mutex_unlock(&blk->dirty_bitmap_mutex);
    g_free(bitmap->bits);
    g_free(bitmap->name);
    g_free(bitmap);
}

void blk_release_dirty_bitmaps(BlockBackend *blk)
{
    while (blk->dirty_bitmaps) {
        bdrv_release_dirty_bitmap(blk->dirty_bitmaps->data);
    }
}

BdrvDirtyBitmap *bdrv_find_dirty_bitmap(BlockBackend *blk, const char *name)
{
    BdrvDirtyBitmap *found = NULL;

    g_mutex_lock(&blk->dirty_bitmap_mutex);
    for (GList *l = blk->dirty_bitmaps; l; l = l->next) {
        BdrvDirtyBitmap *bitmap = l->data;

        if (bitmap->name && !strcmp(bitmap->name, name)) {
            found = bitmap;
            break;
        }
    }
    g_mutex_unlock(&blk->dirty_bitmap_mutex);
    return found;
}

GPtrArray *bdrv_dirty_bitmap_list(BlockBackend *blk)
{
    GPtrArray *list = g_ptr_array_new();

    g_mutex_lock(&blk->dirty_bitmap_mutex);
    for (GList *l = blk->dirty_bitmaps; l; l = l->next) {
        BdrvDirtyBitmap *bitmap = l->data;

        if (bitmap->name) {
            g_ptr_array_add(list, bitmap);
        }
    }
    g_mutex_unlock(&blk->dirty_bitmap_mutex);
    return list;
}

const char *bdrv_dirty_bitmap_name(const BdrvDirtyBitmap *bitmap)
{
    return bitmap->name;
}

BlockBackend *bdrv_dirty_bitmap_blk(const BdrvDirtyBitmap *bitmap)
{
    return bitmap->blk;
}

uint32_t bdrv_dirty_bitmap_granularity(const BdrvDirtyBitmap *bitmap)
{
    return bitmap->granularity;
}

uint64_t bdrv_dirty_bitmap_size(const BdrvDirtyBitmap *bitmap)
{
    return bitmap->size;
}

bool bdrv_dirty_bitmap_enabled(const BdrvDirtyBitmap *bitmap)
{
    bool enabled;

    bitmap_lock(bitmap);
    enabled = bitmap->enabled;
    bitmap_unlock(bitmap);
    return enabled;
}

void bdrv_dirty_bitmap_set_enabled(BdrvDirtyBitmap *bitmap, bool enabled)
{
    bitmap_lock(bitmap);
    bitmap->enabled = enabled;
    bitmap_unlock(bitmap);
}

bool bdrv_dirty_bitmap_persistent(const BdrvDirtyBitmap *bitmap)
{
    bool persistent;

    bitmap_lock(bitmap);
    persistent = bitmap->persistent;
    bitmap_unlock(bitmap);
    return persistent;
}

void bdrv_dirty_bitmap_set_persistent(BdrvDirtyBitmap *bitmap, bool on)
{
    bitmap_lock(bitmap);
    bitmap->persistent = on;
    bitmap_unlock(bitmap);
}

bool bdrv_dirty_bitmap_busy(const BdrvDirtyBitmap *bitmap)
{
    bool busy;

    bitmap_lock(bitmap);
    busy = bitmap->busy;
    bitmap_unlock(bitmap);
    return busy;
}

void bdrv_dirty_bitmap_set_busy(BdrvDirtyBitmap *bitmap, bool busy)
{
    bitmap_lock(bitmap);
    bitmap->busy = busy;
    bitmap_unlock(bitmap);
}

bool bdrv_dirty_bitmap_check_not_busy(const BdrvDirtyBitmap *bitmap,
                                      Error **errp)
{
    if (bdrv_dirty_bitmap_busy(bitmap)) {
        error_setg(errp, "Bitmap '%s' is currently in use by another "
                   "operation and cannot be used",
                   bitmap->name ? bitmap->name : "");
        return false;
    }
    return true;
}

/*
 * The bits covering [offset, offset + bytes), rounded out to whole
 * granules and clipped to the disk: *start and *nr (0 when outside).
 */
static void dirty_bitmap_range(const BdrvDirtyBitmap *bitmap,
                               uint64_t offset, uint64_t bytes,
                               unsigned long *start, unsigned long *nr)
{
    uint64_t first = offset >> bitmap->shift;
    uint64_t end;

    if (!bytes || first >= bitmap->nbits) {
        *start = 0;
        *nr = 0;
        return;
    }
    /* offset + bytes may wrap for "to the end" callers: clip first. */
    end = bytes > bitmap->size ? bitmap->nbits
        : DIV_ROUND_UP(offset + bytes, (uint64_t)bitmap->granularity);
    end = MIN(end, (uint64_t)bitmap->nbits);
    *start = first;
    *nr = end - first;
}

/* Caller holds the mutex. */
static void dirty_bitmap_set_locked(BdrvDirtyBitmap *bitmap, uint64_t offset,
                                    uint64_t bytes)
{
    unsigned long start, nr;

    dirty_bitmap_range(bitmap, offset, bytes, &start, &nr);
    bitmap_set(bitmap->bits, start, nr);
}

void bdrv_set_dirty_bitmap(BdrvDirtyBitmap *bitmap, uint64_t offset,
                           uint64_t bytes)
{
    bitmap_lock(bitmap);
    dirty_bitmap_set_locked(bitmap, offset, bytes);
    bitmap_unlock(bitmap);
}

void bdrv_reset_dirty_bitmap(BdrvDirtyBitmap *bitmap, uint64_t offset,
                             uint64_t bytes)
{
    unsigned long start, nr;

    dirty_bitmap_range(bitmap, offset, bytes, &start, &nr);
    bitmap_lock(bitmap);
    bitmap_clear(bitmap->bits, start, nr);
    bitmap_unlock(bitmap);
}

void bdrv_clear_dirty_bitmap(BdrvDirtyBitmap *bitmap)
{
    bitmap_lock(bitmap);
    bitmap_zero(bitmap->bits, bitmap->nbits);
    bitmap_unlock(bitmap);
}

bool bdrv_dirty_bitmap_get(BdrvDirtyBitmap *bitmap, uint64_t offset)
{
    uint64_t bit = offset >> bitmap->shift;
    bool set;

    if (bit >= bitmap->nbits) {
        return false;
    }
    bitmap_lock(bitmap);
    set = test_bit(bit, bitmap->bits);
    bitmap_unlock(bitmap);
    return set;
}

bool bdrv_dirty_bitmap_test_and_reset(BdrvDirtyBitmap *bitmap,
                                      uint64_t offset, uint64_t bytes)
{
    unsigned long start, nr;
    bool dirty;

    dirty_bitmap_range(bitmap, offset, bytes, &start, &nr);
    bitmap_lock(bitmap);
    dirty = bitmap_test_and_clear(bitmap->bits, start, nr);
    bitmap_unlock(bitmap);
    return dirty;
}

int64_t bdrv_dirty_bitmap_next_dirty(BdrvDirtyBitmap *bitmap,
                                     uint64_t offset, uint64_t end)
{
    unsigned long start, nr, found;

    if (end <= offset) {
        return -1;
    }
    dirty_bitmap_range(bitmap, offset, end - offset, &start, &nr);
    if (!nr) {
        return -1;
    }
    bitmap_lock(bitmap);
    found = find_next_bit(bitmap->bits, start + nr, start);
    bitmap_unlock(bitmap);
    if (found >= start + nr) {
        return -1;
    }
    /* The first granule may begin before @offset. */
    return MAX((uint64_t)found << bitmap->shift, offset);
}

uint64_t bdrv_get_dirty_count(BdrvDirtyBitmap *bitmap)
{
    uint64_t count;

    bitmap_lock(bitmap);
    count = bitmap_count_one(bitmap->bits, bitmap->nbits);
    bitmap_unlock(bitmap);
    return MIN(count << bitmap->shift, bitmap->size);
}

/* Whole 64-bit words of the serialisation covering the byte range. */
static void dirty_bitmap_words(BdrvDirtyBitmap *bitmap, uint64_t offset,
                               uint64_t bytes, unsigned long *first,
                               unsigned long *count)
{
    unsigned long start, nr;

    dirty_bitmap_range(bitmap, offset, bytes, &start, &nr);
    /* The header's alignment rule: ranges start on a word boundary. */
    assert(start % 64 == 0);
    *first = start / 64;
    *count = DIV_ROUND_UP(nr, 64);
}

uint64_t bdrv_dirty_bitmap_serialization_size(BdrvDirtyBitmap *bitmap,
                                              uint64_t offset,
                                              uint64_t bytes)
{
    unsigned long first, count;

    dirty_bitmap_words(bitmap, offset, bytes, &first, &count);
    return (uint64_t)count * 8;
}

/* The word layout below relies on it (all hosts qmig supports). */
G_STATIC_ASSERT(BITS_PER_LONG == 64);

/* Mask of the bits of word @w that lie on the disk. */
static uint64_t dirty_bitmap_word_mask(BdrvDirtyBitmap *bitmap,
                                       unsigned long w)
{
    unsigned long nwords = BITS_TO_LONGS(bitmap->nbits);

    return w + 1 < nwords ? ~0ull : BITMAP_LAST_WORD_MASK(bitmap->nbits);
}

/*
 * Bits as little-endian 64-bit words: bit N of the range is bit N % 8 of
 * byte N / 8.  Bits past the end of the disk are sent as zeros.
 */
void bdrv_dirty_bitmap_serialize_part(BdrvDirtyBitmap *bitmap, uint8_t *buf,
                                      uint64_t offset, uint64_t bytes)
{
    unsigned long first, count;

    dirty_bitmap_words(bitmap, offset, bytes, &first, &count);
    bitmap_lock(bitmap);
    for (unsigned long i = 0; i < count; i++) {
        uint64_t word = bitmap->bits[first + i] &
                        dirty_bitmap_word_mask(bitmap, first + i);

        word = GUINT64_TO_LE(word);
        memcpy(buf + i * 8, &word, 8);
    }
    bitmap_unlock(bitmap);
}

/* Replaces (not ORs) the bits of the range with @buf's. */
void bdrv_dirty_bitmap_deserialize_part(BdrvDirtyBitmap *bitmap,
                                        const uint8_t *buf, uint64_t offset,
                                        uint64_t bytes)
{
    unsigned long first, count;

    dirty_bitmap_words(bitmap, offset, bytes, &first, &count);
    bitmap_lock(bitmap);
    for (unsigned long i = 0; i < count; i++) {
        uint64_t word;

        memcpy(&word, buf + i * 8, 8);
        /* Bits past the end stay clear: the readers rely on it. */
        bitmap->bits[first + i] = GUINT64_FROM_LE(word) &
                                  dirty_bitmap_word_mask(bitmap, first + i);
    }
    bitmap_unlock(bitmap);
}

char *bdrv_dirty_bitmap_sha256(BdrvDirtyBitmap *bitmap)
{
    uint64_t len = bdrv_dirty_bitmap_serialization_size(bitmap, 0,
                                                        bitmap->size);
    g_autofree uint8_t *buf = g_malloc0(MAX(len, 1));

    bdrv_dirty_bitmap_serialize_part(bitmap, buf, 0, bitmap->size);
    return g_compute_checksum_for_data(G_CHECKSUM_SHA256, buf, len);
}

void blk_dirty_bitmaps_mark(BlockBackend *blk, uint64_t offset,
                            uint64_t bytes)
{
    if (!bytes) {
        return;
    }
    g_mutex_lock(&blk->dirty_bitmap_mutex);
    for (GList *l = blk->dirty_bitmaps; l; l = l->next) {
        BdrvDirtyBitmap *bitmap = l->data;

        if (bitmap->enabled) {
            dirty_bitmap_set_locked(bitmap, offset, bytes);
        }
    }
    g_mutex_unlock(&blk->dirty_bitmap_mutex);
}
