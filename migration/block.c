/*
 * Block migration: the "block" live section (QEMU's format, version 1).
 *
 * With the `block` capability (or "migrate" blk=true), every writable disk
 * moves inside the migration stream, as QEMU's block migration did before
 * it was removed in favour of NBD mirroring.
 *
 * Source.  Setup gives each disk an anonymous dirty bitmap of one bit per
 * 1 MiB chunk, then records which chunks hold data (SEEK_DATA/SEEK_HOLE,
 * blk_block_status), in that order: a chunk that gets data after its scan
 * was written, so its dirty bit is set.  The bulk phase walks every disk
 * chunk by chunk:
 *   - a chunk that held no data at setup goes as a ZERO_BLOCK record (a
 *     header, no payload); its dirty bit is left alone, so a write made
 *     since setup is sent by the dirty phase after it;
 *   - a data chunk has its dirty bit taken first, then is read: a guest
 *     write after the take sets the bit again (blk_pwrite marks after the
 *     data is in the file) and the chunk goes again later.  If it reads
 *     as zeros it goes as ZERO_BLOCK, else as 1 MiB of data.
 * Then dirty phases re-send every chunk whose bit
 * bdrv_dirty_bitmap_test_and_reset() reports, until the dirty data fits
 * the downtime with RAM's (state_pending_* counts dirty bytes plus the
 * data bulk has not reached, so the migration thread's threshold includes
 * the disks).  Completion, with the VM stopped, sends every dirty chunk.
 * The source disk is only ever read: cancel or failure leaves it as the
 * guest wrote it.
 *
 * Destination.  Every record is checked before it touches a disk: flags
 * known and combined sensibly, device known by name and writable, offset
 * inside the disk.  Data is written with blk_pwrite, ZERO_BLOCK with
 * blk_pwrite_zeroes (which punches a hole), so a sparse source stays
 * sparse and stale data on a reused destination image is overwritten.
 *
 * Wire format.  Each record starts with be64 (sector << 9 | flags):
 *   DEVICE_BLOCK (0x01): u8 name length, name, 1 MiB of data (always the
 *       full chunk; the part past the end of the disk is padding);
 *   DEVICE_BLOCK | ZERO_BLOCK (0x09): name, no data;
 *   PROGRESS (0x04): the "sector" field is the bulk phase's percentage;
 *   EOS (0x02): end of this section's payload.
 * qmig adds one record kind, DEVICE_SIZE (0x10): name, then be64 disk
 * size in bytes, sent for every disk in the SECTION_START payload, so a
 * destination disk smaller than the source's is refused before any data
 * moves (QEMU's stream has no such record and fails mid-way instead).
 *
 * Threads and locks: the save hooks run in the migration thread (see
 * register.h) and own BlkMigState; the load hooks run in the incoming
 * thread and own BlkMigLoadState.  Dirty bits are protected by the
 * bitmap's own lock (dirty-bitmap.h).  The progress counters are read by
 * query-migrate in the main thread, atomically.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/bitmap.h"
#include "block/block-backend.h"
#include "block/dirty-bitmap.h"
#include "migration/register.h"
#include "qemu-file.h"
#include "migration-stats.h"
#include "options.h"
#include "block.h"
#include "trace.h"

#define BLK_MIG_SECTION_VERSION 1

#define BLK_MIG_SECTOR_BITS 9
#define BLK_MIG_CHUNK (1ULL << 20)      /* bytes per record and dirty bit */

#define BLK_MIG_FLAG_DEVICE_BLOCK 0x01
#define BLK_MIG_FLAG_EOS          0x02
#define BLK_MIG_FLAG_PROGRESS     0x04
#define BLK_MIG_FLAG_ZERO_BLOCK   0x08
#define BLK_MIG_FLAG_DEVICE_SIZE  0x10  /* qmig: disk size, at setup */
#define BLK_MIG_FLAGS_MASK ((1ULL << BLK_MIG_SECTOR_BITS) - 1)
#define BLK_MIG_FLAGS_KNOWN (BLK_MIG_FLAG_DEVICE_BLOCK | BLK_MIG_FLAG_EOS | \
                             BLK_MIG_FLAG_PROGRESS | \
                             BLK_MIG_FLAG_ZERO_BLOCK | \
                             BLK_MIG_FLAG_DEVICE_SIZE)

/* The iterate hook returns to the migration loop at least this often. */
#define BLK_MIG_ITERATE_MAX_NS (50 * 1000 * 1000)

/* One disk being sent. */
typedef struct BlkMigDisk {
    BlockBackend *blk;
    BdrvDirtyBitmap *dirty;     /* writes since setup, 1 MiB per bit */
    uint64_t length;            /* bytes, fixed */
    uint64_t chunks;
    unsigned long *data;        /* chunks that held data at setup */
    uint64_t bulk_next;         /* next chunk of the bulk phase */
    uint64_t dirty_next;        /* byte offset where the dirty walk resumes */
} BlkMigDisk;

/* Source state, between save_setup and save_cleanup: migration thread. */
typedef struct BlkMigState {
    BlkMigDisk *disks;
    guint nr_disks;
    bool bulk_done;
    uint64_t bulk_left;         /* data bytes the bulk phase has not sent */
    uint64_t bulk_chunks_done;  /* for PROGRESS records */
    uint64_t bulk_chunks_total;
    int last_progress;          /* percentage last sent */
    uint8_t *buf;               /* one chunk */
} BlkMigState;

/* Destination: sizes the source announced, by device name. */
typedef struct BlkMigLoadState {
    GHashTable *src_sizes;      /* name -> uint64_t * */
    uint8_t *buf;
} BlkMigLoadState;

static BlkMigState *blk_mig_state;
static BlkMigLoadState blk_mig_load;

/* "migrate" blk=true for the migration being started; BQL. */
static bool blk_mig_requested;

/* Progress of the current or last outgoing migration; atomic. */
static bool blk_mig_ran;
static uint64_t blk_mig_transferred;
static uint64_t blk_mig_remaining;
static uint64_t blk_mig_total;

void blk_mig_set_requested(bool on)
{
    blk_mig_requested = on;
    /* A new migration: its progress starts from nothing. */
    __atomic_store_n(&blk_mig_ran, false, __ATOMIC_RELAXED);
}

bool blk_mig_progress(uint64_t *transferred, uint64_t *remaining,
                      uint64_t *total)
{
    if (!__atomic_load_n(&blk_mig_ran, __ATOMIC_RELAXED)) {
        return false;
    }
    *transferred = stat64_get(&blk_mig_transferred);
    *remaining = stat64_get(&blk_mig_remaining);
    *total = stat64_get(&blk_mig_total);
    return true;
}

static bool blk_mig_is_active(void *opaque)
{
    return migrate_block() || blk_mig_requested;
}

/* ---- Source: accounting ---- */

static void blk_mig_account(size_t bytes)
{
    stat64_add(&blk_mig_transferred, bytes);
    /* QEMU's ram "transferred" counts every byte of the stream. */
    stat64_add(&mig_stats.transferred, bytes);
}

/* Bytes still to send: data bulk has not reached, plus dirty chunks. */
static uint64_t blk_mig_pending(BlkMigState *st)
{
    uint64_t pending = st->bulk_left;

    for (guint i = 0; i < st->nr_disks; i++) {
        pending += bdrv_get_dirty_count(st->disks[i].dirty);
    }
    stat64_set(&blk_mig_remaining, pending);
    return pending;
}

/* ---- Source: records ---- */

static bool blk_mig_is_zero(const uint8_t *buf, size_t len)
{
    const uint64_t *w = (const uint64_t *)buf;

    /* len is a multiple of 64 (the chunk); stop at the first non-zero. */
    for (size_t i = 0; i < len / 8; i += 8) {
        if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] |
            w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7]) {
            return false;
        }
    }
    return true;
}

static size_t blk_mig_put_header(QEMUFile *f, BlkMigDisk *d, uint64_t offset,
                                 uint64_t flags)
{
    const char *name = blk_name(d->blk);

    qemu_put_be64(f, (offset >> BLK_MIG_SECTOR_BITS) << BLK_MIG_SECTOR_BITS |
                  flags);
    qemu_put_counted_string(f, name);
    return 8 + 1 + strlen(name);
}

static void blk_mig_send_zero(QEMUFile *f, BlkMigDisk *d, uint64_t offset)
{
    blk_mig_account(blk_mig_put_header(f, d, offset,
                                       BLK_MIG_FLAG_DEVICE_BLOCK |
                                       BLK_MIG_FLAG_ZERO_BLOCK));
}

/*
 * Read chunk @offset of @d and send it (as ZERO_BLOCK if it reads as
 * zeros).  On a read error the stream gets the error and false returns.
 */
static bool blk_mig_send_chunk(QEMUFile *f, BlkMigState *st, BlkMigDisk *d,
                               uint64_t offset)
{
    uint64_t len = MIN(BLK_MIG_CHUNK, d->length - offset);
    int64_t ret = blk_pread(d->blk, offset, st->buf, len);
    size_t bytes;

    if (ret < 0 || (uint64_t)ret != len) {
        Error *err = NULL;

        error_setg_errno(&err, ret < 0 ? -ret : EIO, "Error reading %" PRIu64
                         " bytes at offset %" PRIu64 " of block device '%s'",
                         len, offset, blk_name(d->blk));
        qemu_file_set_error_obj(f, ret < 0 ? ret : -EIO, err);
        return false;
    }
    /* The wire always carries the whole chunk: pad the disk's tail. */
    memset(st->buf + len, 0, BLK_MIG_CHUNK - len);
    if (blk_mig_is_zero(st->buf, BLK_MIG_CHUNK)) {
        blk_mig_send_zero(f, d, offset);
        trace_blk_mig_send(blk_name(d->blk), offset, true);
        return true;
    }
    bytes = blk_mig_put_header(f, d, offset, BLK_MIG_FLAG_DEVICE_BLOCK);
    qemu_put_buffer(f, st->buf, BLK_MIG_CHUNK);
    blk_mig_account(bytes + BLK_MIG_CHUNK);
    trace_blk_mig_send(blk_name(d->blk), offset, false);
    return true;
}

static void blk_mig_put_progress(QEMUFile *f, BlkMigState *st, int percent)
{
    if (percent == st->last_progress) {
        return;
    }
    st->last_progress = percent;
    qemu_put_be64(f, (uint64_t)percent << BLK_MIG_SECTOR_BITS |
                  BLK_MIG_FLAG_PROGRESS);
    blk_mig_account(8);
}

static void blk_mig_put_eos(QEMUFile *f)
{
    qemu_put_be64(f, BLK_MIG_FLAG_EOS);
    blk_mig_account(8);
}

/* ---- Source: bulk and dirty phases ---- */

/* The next chunk of the bulk phase, or false when it is over. */
static bool blk_mig_bulk_next(BlkMigState *st, BlkMigDisk **dp,
                              uint64_t *chunk)
{
    for (guint i = 0; i < st->nr_disks; i++) {
        BlkMigDisk *d = &st->disks[i];

        if (d->bulk_next < d->chunks) {
            *dp = d;
            *chunk = d->bulk_next++;
            return true;
        }
    }
    return false;
}

static bool blk_mig_bulk_one(QEMUFile *f, BlkMigState *st, BlkMigDisk *d,
                             uint64_t chunk)
{
    uint64_t offset = chunk * BLK_MIG_CHUNK;
    bool ok = true;

    if (!test_bit(chunk, d->data)) {
        /* A hole at setup; a later write is in the dirty bitmap. */
        blk_mig_send_zero(f, d, offset);
        trace_blk_mig_send(blk_name(d->blk), offset, true);
    } else {
        /* Take the bit before reading: a racing write sets it again. */
        bdrv_dirty_bitmap_test_and_reset(d->dirty, offset, BLK_MIG_CHUNK);
        ok = blk_mig_send_chunk(f, st, d, offset);
        st->bulk_left -= MIN(st->bulk_left,
                             MIN(BLK_MIG_CHUNK, d->length - offset));
    }
    st->bulk_chunks_done++;
    blk_mig_put_progress(f, st, st->bulk_chunks_done * 100 /
                                MAX(st->bulk_chunks_total, 1));
    return ok;
}

/* Next dirty chunk of @d at or after its walk position, or -1. */
static int64_t blk_mig_next_dirty(BlkMigDisk *d)
{
    int64_t off = bdrv_dirty_bitmap_next_dirty(d->dirty, d->dirty_next,
                                               d->length);

    if (off < 0 && d->dirty_next) {
        d->dirty_next = 0;      /* wrap around once */
        off = bdrv_dirty_bitmap_next_dirty(d->dirty, 0, d->length);
    }
    return off;
}

/*
 * Send one dirty chunk of any disk.  *@sent tells whether there was one;
 * false on a read error.
 */
static bool blk_mig_dirty_one(QEMUFile *f, BlkMigState *st, bool *sent)
{
    *sent = false;
    for (guint i = 0; i < st->nr_disks; i++) {
        BlkMigDisk *d = &st->disks[i];
        int64_t off = blk_mig_next_dirty(d);

        if (off < 0) {
            continue;
        }
        off = QEMU_ALIGN_DOWN(off, BLK_MIG_CHUNK);
        d->dirty_next = off + BLK_MIG_CHUNK;
        *sent = true;
        if (!bdrv_dirty_bitmap_test_and_reset(d->dirty, off, BLK_MIG_CHUNK)) {
            return true;        /* taken meanwhile: nothing to do */
        }
        return blk_mig_send_chunk(f, st, d, off);
    }
    return true;
}

/*
 * Send bulk chunks, then dirty ones, until there is nothing left (returns
 * 1), the rate limit or time budget says stop (@limited; 0), or an error
 * (-errno, set on @f).
 */
static int blk_mig_send(QEMUFile *f, BlkMigState *st, bool limited)
{
    int64_t start = get_clock_ns();

    for (;;) {
        BlkMigDisk *d;
        uint64_t chunk;
        bool ok, sent = true;

        if (limited && (qemu_file_rate_limit(f) ||
                        get_clock_ns() - start > BLK_MIG_ITERATE_MAX_NS)) {
            return 0;
        }
        if (!st->bulk_done && blk_mig_bulk_next(st, &d, &chunk)) {
            ok = blk_mig_bulk_one(f, st, d, chunk);
        } else {
            if (!st->bulk_done) {
                st->bulk_done = true;
                st->bulk_left = 0;
                trace_blk_mig_bulk_done(stat64_get(&blk_mig_transferred));
            }
            ok = blk_mig_dirty_one(f, st, &sent);
        }
        if (!ok || qemu_file_get_error(f)) {
            return qemu_file_get_error(f) ?: -EIO;
        }
        if (!sent) {
            return 1;
        }
    }
}

/* ---- Source: hooks ---- */

/* Mark the chunks of @d that hold data now. */
static bool blk_mig_scan_data(BlkMigDisk *d, Error **errp)
{
    uint64_t offset = 0;

    while (offset < d->length) {
        bool allocated;
        uint64_t pnum;

        if (!blk_block_status(d->blk, offset, &allocated, &pnum, errp)) {
            return false;
        }
        if (!pnum) {
            pnum = d->length - offset;      /* never loop forever */
            allocated = true;
        }
        if (allocated) {
            uint64_t first = offset / BLK_MIG_CHUNK;
            uint64_t last = DIV_ROUND_UP(offset + pnum, BLK_MIG_CHUNK);

            bitmap_set(d->data, first, last - first);
        }
        offset += pnum;
    }
    return true;
}

static void blk_mig_state_free(BlkMigState *st)
{
    for (guint i = 0; i < st->nr_disks; i++) {
        if (st->disks[i].dirty) {
            bdrv_release_dirty_bitmap(st->disks[i].dirty);
        }
        g_free(st->disks[i].data);
    }
    g_free(st->disks);
    g_free(st->buf);
    g_free(st);
}

/* Track writes, then find the data, for one disk. */
static bool blk_mig_disk_init(BlkMigState *st, BlkMigDisk *d,
                              BlockBackend *blk, Error **errp)
{
    d->blk = blk;
    d->length = blk_getlength(blk);
    d->chunks = DIV_ROUND_UP(d->length, BLK_MIG_CHUNK);
    d->data = bitmap_try_new(d->chunks);
    if (!d->data) {
        error_setg(errp, "Cannot allocate the chunk map of block device "
                   "'%s'", blk_name(blk));
        return false;
    }
    d->dirty = bdrv_create_dirty_bitmap(blk, BLK_MIG_CHUNK, NULL, errp);
    if (!d->dirty || !blk_mig_scan_data(d, errp)) {
        error_prepend(errp, "Block device '%s': ", blk_name(blk));
        return false;
    }
    for (uint64_t c = find_first_bit(d->data, d->chunks); c < d->chunks;
         c = find_next_bit(d->data, d->chunks, c + 1)) {
        st->bulk_left += MIN(BLK_MIG_CHUNK, d->length - c * BLK_MIG_CHUNK);
    }
    st->bulk_chunks_total += d->chunks;
    return true;
}

static void blk_mig_put_sizes(QEMUFile *f, BlkMigState *st)
{
    for (guint i = 0; i < st->nr_disks; i++) {
        BlkMigDisk *d = &st->disks[i];

        blk_mig_account(blk_mig_put_header(f, d, 0,
                                           BLK_MIG_FLAG_DEVICE_SIZE));
        qemu_put_be64(f, d->length);
        blk_mig_account(8);
    }
}

static bool blk_mig_save_setup(QEMUFile *f, void *opaque, Error **errp)
{
    BlkMigState *st = g_new0(BlkMigState, 1);
    uint64_t total = 0;

    assert(!blk_mig_state);
    st->disks = g_new0(BlkMigDisk, MAX(blk_count(), 1));
    st->buf = g_malloc(BLK_MIG_CHUNK);
    st->last_progress = -1;
    stat64_set(&blk_mig_transferred, 0);
    for (int i = 0; i < blk_count(); i++) {
        BlockBackend *blk = blk_by_index(i);

        /* QEMU skips read-only and empty disks: nothing to move. */
        if (!blk || blk_is_read_only(blk) || !blk_getlength(blk)) {
            continue;
        }
        if (!blk_mig_disk_init(st, &st->disks[st->nr_disks++], blk, errp)) {
            blk_mig_state_free(st);
            return false;
        }
        total += blk_getlength(blk);
    }
    blk_mig_state = st;
    stat64_set(&blk_mig_total, total);
    blk_mig_pending(st);
    __atomic_store_n(&blk_mig_ran, true, __ATOMIC_RELAXED);

    blk_mig_put_sizes(f, st);
    blk_mig_put_eos(f);
    qemu_fflush(f);
    if (qemu_file_get_error_obj(f, errp)) {
        error_prepend(errp, "Could not send the block device list: ");
        return false;
    }
    trace_blk_mig_save_setup(st->nr_disks, total, st->bulk_left);
    return true;
}

static int blk_mig_save_iterate(QEMUFile *f, void *opaque)
{
    BlkMigState *st = blk_mig_state;
    int ret;

    if (!st) {
        return -EINVAL;
    }
    ret = blk_mig_send(f, st, true);
    blk_mig_pending(st);
    if (ret < 0) {
        return ret;
    }
    blk_mig_put_eos(f);
    return qemu_file_get_error(f) ?: ret;
}

static bool blk_mig_save_complete(QEMUFile *f, void *opaque, Error **errp)
{
    BlkMigState *st = blk_mig_state;

    if (!st) {
        error_setg(errp, "Block migration was not set up");
        return false;
    }
    /* The VM is stopped: nothing dirties the disks any more. */
    if (blk_mig_send(f, st, false) < 0) {
        qemu_file_get_error_obj(f, errp);
        error_prepend(errp, "Could not send the last dirty disk chunks: ");
        return false;
    }
    blk_mig_put_progress(f, st, 100);
    blk_mig_put_eos(f);
    qemu_fflush(f);
    blk_mig_pending(st);
    if (qemu_file_get_error_obj(f, errp)) {
        error_prepend(errp, "Could not send the last dirty disk chunks: ");
        return false;
    }
    trace_blk_mig_save_complete(stat64_get(&blk_mig_transferred));
    return true;
}

static void blk_mig_state_pending(void *opaque, uint64_t *must_precopy,
                                  uint64_t *can_postcopy)
{
    if (blk_mig_state) {
        *must_precopy += blk_mig_pending(blk_mig_state);
    }
}

static void blk_mig_save_cleanup(void *opaque)
{
    if (!blk_mig_state) {
        return;
    }
    blk_mig_state_free(blk_mig_state);
    blk_mig_state = NULL;
}

/* ---- Destination ---- */

static bool blk_mig_load_setup(QEMUFile *f, void *opaque, Error **errp)
{
    blk_mig_load.src_sizes = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                   g_free, g_free);
    return true;
}

static void blk_mig_load_cleanup(void *opaque)
{
    g_clear_pointer(&blk_mig_load.src_sizes, g_hash_table_destroy);
    g_clear_pointer(&blk_mig_load.buf, g_free);
}

/* The disk a record names, checked writable; NULL on error. */
static BlockBackend *blk_mig_load_device(QEMUFile *f, Error **errp)
{
    char name[256];
    BlockBackend *blk;

    qemu_get_counted_string(f, name);
    if (qemu_file_get_error(f)) {
        error_setg(errp, "Block migration record is truncated (device "
                   "name)");
        return NULL;
    }
    blk = blk_by_name(name);
    if (!blk) {
        error_setg(errp, "Error unknown block device %s", name);
        return NULL;
    }
    if (blk_is_read_only(blk)) {
        error_setg(errp, "Block device %s is read-only on the destination",
                   name);
        return NULL;
    }
    return blk;
}

static bool blk_mig_load_size(QEMUFile *f, Error **errp)
{
    BlockBackend *blk = blk_mig_load_device(f, errp);
    uint64_t src_len;

    if (!blk) {
        return false;
    }
    src_len = qemu_get_be64(f);
    if (qemu_file_get_error(f)) {
        error_setg(errp, "Block migration size record is truncated");
        return false;
    }
    if (blk_getlength(blk) < src_len) {
        error_setg(errp, "Destination block device '%s' is smaller than the "
                   "source's: %" PRIu64 " bytes, the source has %" PRIu64
                   " bytes", blk_name(blk), blk_getlength(blk), src_len);
        return false;
    }
    g_hash_table_insert(blk_mig_load.src_sizes, g_strdup(blk_name(blk)),
                        g_new(uint64_t, 1));
    *(uint64_t *)g_hash_table_lookup(blk_mig_load.src_sizes,
                                     blk_name(blk)) = src_len;
    trace_blk_mig_load_size(blk_name(blk), src_len, blk_getlength(blk));
    return true;
}

/* Where this disk's records must end: the source's size if announced. */
static uint64_t blk_mig_load_limit(BlockBackend *blk)
{
    uint64_t *src_len = blk_mig_load.src_sizes ?
        g_hash_table_lookup(blk_mig_load.src_sizes, blk_name(blk)) : NULL;

    return src_len ? *src_len : blk_getlength(blk);
}

static bool blk_mig_load_block(QEMUFile *f, uint64_t sector, uint64_t flags,
                               Error **errp)
{
    BlockBackend *blk = blk_mig_load_device(f, errp);
    uint64_t offset = sector << BLK_MIG_SECTOR_BITS;
    uint64_t limit, len;
    int64_t ret;

    if (!blk) {
        return false;
    }
    limit = blk_mig_load_limit(blk);
    if (offset >= limit || offset % BLK_MIG_CHUNK) {
        error_setg(errp, "Block migration record for %s at sector %" PRIu64
                   " is outside the disk (%" PRIu64 " bytes) or not at a "
                   "chunk boundary", blk_name(blk), sector, limit);
        return false;
    }
    len = MIN(BLK_MIG_CHUNK, limit - offset);
    if (flags & BLK_MIG_FLAG_ZERO_BLOCK) {
        ret = blk_pwrite_zeroes(blk, offset, len);
    } else {
        if (!blk_mig_load.buf) {
            blk_mig_load.buf = g_malloc(BLK_MIG_CHUNK);
        }
        if (qemu_get_buffer(f, blk_mig_load.buf, BLK_MIG_CHUNK) !=
            BLK_MIG_CHUNK) {
            error_setg(errp, "Block migration data for %s at sector %" PRIu64
                       " is truncated", blk_name(blk), sector);
            return false;
        }
        ret = blk_pwrite(blk, offset, blk_mig_load.buf, len);
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Error writing %" PRIu64 " bytes at "
                         "offset %" PRIu64 " of block device %s", len, offset,
                         blk_name(blk));
        return false;
    }
    trace_blk_mig_load_block(blk_name(blk), offset,
                             !!(flags & BLK_MIG_FLAG_ZERO_BLOCK));
    return true;
}

static bool blk_mig_check_flags(uint64_t flags, Error **errp)
{
    if (flags & ~(uint64_t)BLK_MIG_FLAGS_KNOWN) {
        error_setg(errp, "Unknown block migration flags: 0x%" PRIx64, flags);
        return false;
    }
    switch (flags) {
    case BLK_MIG_FLAG_DEVICE_BLOCK:
    case BLK_MIG_FLAG_DEVICE_BLOCK | BLK_MIG_FLAG_ZERO_BLOCK:
    case BLK_MIG_FLAG_PROGRESS:
    case BLK_MIG_FLAG_EOS:
    case BLK_MIG_FLAG_DEVICE_SIZE:
        return true;
    default:
        error_setg(errp, "Unknown combination of block migration flags: "
                   "0x%" PRIx64, flags);
        return false;
    }
}

static bool blk_mig_load_state(QEMUFile *f, void *opaque, int version_id,
                               Error **errp)
{
    if (version_id != BLK_MIG_SECTION_VERSION) {
        error_setg(errp, "block section version %d is not supported (only "
                   "%d)", version_id, BLK_MIG_SECTION_VERSION);
        return false;
    }
    for (;;) {
        uint64_t word = qemu_get_be64(f);
        uint64_t flags = word & BLK_MIG_FLAGS_MASK;
        uint64_t sector = word >> BLK_MIG_SECTOR_BITS;
        bool ok = true;

        if (qemu_file_get_error(f)) {
            error_setg(errp, "Block migration section is truncated (no EOS "
                       "record)");
            return false;
        }
        if (!blk_mig_check_flags(flags, errp)) {
            return false;
        }
        switch (flags & ~(uint64_t)BLK_MIG_FLAG_ZERO_BLOCK) {
        case BLK_MIG_FLAG_DEVICE_BLOCK:
            ok = blk_mig_load_block(f, sector, flags, errp);
            break;
        case BLK_MIG_FLAG_DEVICE_SIZE:
            ok = blk_mig_load_size(f, errp);
            break;
        case BLK_MIG_FLAG_PROGRESS:
            trace_blk_mig_load_progress(sector);
            break;
        default:        /* EOS */
            return true;
        }
        if (!ok) {
            return false;
        }
    }
}

static const SaveVMHandlers blk_mig_handlers = {
    .save_setup = blk_mig_save_setup,
    .save_live_iterate = blk_mig_save_iterate,
    .save_live_complete_precopy = blk_mig_save_complete,
    .state_pending_estimate = blk_mig_state_pending,
    .state_pending_exact = blk_mig_state_pending,
    .save_cleanup = blk_mig_save_cleanup,
    .is_active = blk_mig_is_active,
    .load_setup = blk_mig_load_setup,
    .load_state = blk_mig_load_state,
    .load_cleanup = blk_mig_load_cleanup,
};

void blk_mig_init(void)
{
    register_savevm_live("block", 0, BLK_MIG_SECTION_VERSION,
                         &blk_mig_handlers, NULL);
}
