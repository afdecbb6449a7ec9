/*
 * mapped-ram I/O for the "ram" section (docs/devel/migration/mapped-ram.md).
 *
 * Source (migration thread): each block's header goes into the stream
 * after its block-list entry, and the stream then skips the block's
 * bitmap and pages, which stay holes until written.  A dirty page is
 * written at its fixed offset (a page dirtied again is overwritten in
 * place); a zero page is not written and its bit is cleared, so the
 * destination leaves it zero.  The bitmaps are written once, when the
 * save completes, so a file is only loadable after a complete save.
 *
 * Destination (incoming thread): at each block-list entry the header is
 * checked against the block and the file, the bitmap read and checked,
 * and every present page read straight into guest RAM (RAM was made
 * zero in load_setup, so absent pages read as zero).  The stream then
 * resumes after the block's pages.
 *
 * With multifd the pages go through mapped-ram-io.h's channels instead:
 * the source's channels write the pages the migration thread queues
 * (it drains them at every bitmap sync, so that a page queued again in
 * the next round cannot be overtaken by its older copy, and before the
 * bitmaps are written); the destination's channels read the present
 * pages of a block in 512 KiB pieces, drained before the stream goes on.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "io/channel.h"
#include "io/channel-file.h"
#include "options.h"
#include "mapped-ram-io.h"
#include "migration-stats.h"
#include "ram-internal.h"
#include "mapped-ram.h"
#include "trace.h"

/* Pages read per pread on the destination. */
#define RAM_MAPPED_READ_CHUNK (1ULL << 20)

/*
 * Every page write of the single-channel source goes through here (the
 * channels' through mapped_ram_io_run): the one place a different I/O
 * engine (io_uring) would plug in.
 */
static bool ram_mapped_write(QEMUFile *f, const void *buf, size_t len,
                             uint64_t pos)
{
    return qemu_put_buffer_at(f, buf, len, pos) == len;
}

/* The fd of the migration file under @f, for the channels. */
static int ram_mapped_fd(QEMUFile *f, Error **errp)
{
    QIOChannel *ioc = qemu_file_get_ioc(f);

    if (!qio_channel_is_file(ioc)) {
        error_setg(errp, "mapped-ram with multifd needs a file: migration");
        return -1;
    }
    return qio_channel_file_get_fd(ioc);
}

bool ram_mapped_save_start(QEMUFile *f, Error **errp)
{
    int fd;

    if (!migrate_multifd()) {
        return true;
    }
    fd = ram_mapped_fd(f, errp);
    return fd >= 0 &&
           mapped_ram_io_start(fd, migrate_multifd_channels(), true,
                               migrate_direct_io(), migrate_io_uring(), errp);
}

void ram_mapped_sync(void)
{
    /* An error stays in the channels and fails the next queue or drain. */
    if (mapped_ram_io_active()) {
        mapped_ram_io_drain(NULL);
    }
}

void ram_mapped_cleanup(void)
{
    mapped_ram_io_stop();
}

bool ram_mapped_put_header(QEMUFile *f, RAMBlock *rb, RAMSendBlock *b,
                           Error **errp)
{
    uint8_t buf[MAPPED_RAM_HEADER_SIZE];
    MappedRamHeader h;
    uint64_t pos;

    if (!qemu_file_get_offset(f, &pos, errp)) {
        return false;
    }
    if (!mapped_ram_layout(pos, rb->used_length, TARGET_PAGE_SIZE, &h)) {
        error_setg(errp, "mapped-ram: block '%s' does not fit in a file at "
                   "offset %" PRIu64, rb->idstr, pos);
        return false;
    }
    mapped_ram_header_encode(&h, buf);
    qemu_put_buffer(f, buf, sizeof(buf));
    if (b) {
        b->mapped = h;
        b->file_bmap = g_malloc0(mapped_ram_bitmap_size(b->pages));
        /* Decided once per block, not per page: neither changes. */
        b->mapped_by_fd = ram_load_batch_wanted(rb) && !migrate_direct_io();
    }
    trace_ram_mapped_put_header(rb->idstr, h.bitmap_offset, h.pages_offset);
    /* The bitmap and pages are written in place; the stream goes on after. */
    return qemu_file_set_offset(f, h.pages_offset + rb->used_length, errp);
}

void ram_mapped_send_page(QEMUFile *f, RAMSaveState *st, RAMSendBlock *b,
                          uint64_t offset, const uint8_t *data, bool zero)
{
    uint64_t page = offset >> TARGET_PAGE_BITS;

    /* A page that was written before and is zero now reads as zero. */
    mapped_ram_bitmap_assign(b->file_bmap, page, !zero);
    if (zero) {
        stat64_add(&mig_stats.zero_pages, 1);
        return;
    }
    if (mapped_ram_io_active()) {
        Error *err = NULL;

        /*
         * Not from @data: it may be the read window, refilled before a
         * channel gets to the page.  Shared fd-backed RAM goes from its
         * file by sendfile (no fault, no user copy), else the mapping.
         */
        bool ok = b->mapped_by_fd ?
            mapped_ram_io_queue_from_fd(b->rb->fd, offset, TARGET_PAGE_SIZE,
                                        b->mapped.pages_offset + offset,
                                        &err) :
            mapped_ram_io_queue(b->rb->host + offset, TARGET_PAGE_SIZE,
                                b->mapped.pages_offset + offset, &err);

        if (!ok) {
            qemu_file_set_error_obj(f, -EIO, err);
            return;
        }
        /* The bandwidth estimate counts these with the main stream's. */
        stat64_add(&mig_stats.multifd_bytes, TARGET_PAGE_SIZE);
    } else if (!ram_mapped_write(f, data, TARGET_PAGE_SIZE,
                                 b->mapped.pages_offset + offset)) {
        return;
    }
    stat64_add(&mig_stats.normal_pages, 1);
    ram_account(st, TARGET_PAGE_SIZE);
    /* max-bandwidth holds for the pages too, not only the stream. */
    qemu_file_acct_rate_limit(f, TARGET_PAGE_SIZE);
}

bool ram_mapped_put_bitmaps(QEMUFile *f, RAMSaveState *st, Error **errp)
{
    /* A bitmap never claims a page that is not in the file yet. */
    if (mapped_ram_io_active() && !mapped_ram_io_drain(errp)) {
        error_prepend(errp, "mapped-ram: writing the pages failed: ");
        return false;
    }
    for (guint i = 0; i < st->nr_blocks; i++) {
        RAMSendBlock *b = &st->blocks[i];
        uint64_t size = mapped_ram_bitmap_size(b->pages);

        if (b->file_bmap &&
            !ram_mapped_write(f, b->file_bmap, size, b->mapped.bitmap_offset)) {
            break;
        }
    }
    if (qemu_file_get_error_obj(f, errp)) {
        error_prepend(errp, "mapped-ram: could not write the page bitmaps: ");
        return false;
    }
    return true;
}

/* The size of the file under @f (a seekable channel). */
static bool ram_mapped_file_size(QEMUFile *f, uint64_t *size, Error **errp)
{
    off_t end = qio_channel_io_seek(qemu_file_get_ioc(f), 0, SEEK_END, errp);

    if (end < 0) {
        return false;
    }
    *size = end;
    return true;
}

/*
 * Load @len bytes of @rb at @off from file offset @pos: by the channels
 * if there are, else here; into shared fd-backed RAM through @bounce
 * and pwrite (no page fault, no zeroing of a fresh page), else straight
 * into guest memory.
 */
static bool ram_mapped_load_piece(QEMUFile *f, RAMBlock *rb, uint64_t off,
                                  size_t len, uint64_t pos, uint8_t *bounce,
                                  Error **errp)
{
    bool by_fd = ram_load_batch_wanted(rb);
    bool ok;

    if (mapped_ram_io_active()) {
        ok = by_fd ? mapped_ram_io_queue_to_fd(rb->fd, off, len, pos, errp)
                   : mapped_ram_io_queue(rb->host + off, len, pos, errp);
        if (!ok) {
            error_prepend(errp, "block '%s': ", rb->idstr);
        }
        return ok;
    }
    if (qemu_get_buffer_at(f, by_fd ? bounce : rb->host + off, len,
                           pos) != len) {
        qemu_file_get_error_obj(f, errp);
        error_prepend(errp, "mapped-ram: block '%s', pages at 0x%" PRIx64
                      ": ", rb->idstr, off);
        return false;
    }
    return !by_fd || ram_load_pwrite(rb, bounce, len, off, errp);
}

/* Read each run of present pages of @rb into guest RAM. */
static bool ram_mapped_load_pages(QEMUFile *f, RAMBlock *rb,
                                  const MappedRamHeader *h,
                                  const uint8_t *bmap, uint64_t npages,
                                  Error **errp)
{
    uint64_t page = 0, start, run, loaded = 0;
    uint64_t chunk = RAM_MAPPED_READ_CHUNK >> TARGET_PAGE_BITS;
    g_autofree uint8_t *bounce = g_malloc(RAM_MAPPED_READ_CHUNK);

    while ((run = mapped_ram_bitmap_next_run(bmap, npages, page, &start))) {
        for (uint64_t p = start; p < start + run; p += chunk) {
            uint64_t n = MIN(chunk, start + run - p);
            size_t len = n << TARGET_PAGE_BITS;
            uint64_t off = p << TARGET_PAGE_BITS;

            if (!ram_mapped_load_piece(f, rb, off, len,
                                       h->pages_offset + off, bounce, errp)) {
                return false;
            }
        }
        loaded += run;
        page = start + run;
    }
    if (mapped_ram_io_active() && !mapped_ram_io_drain(errp)) {
        error_prepend(errp, "block '%s': ", rb->idstr);
        return false;
    }
    trace_ram_mapped_load_block(rb->idstr, loaded);
    return true;
}

/* Destination: the channels, started at the first block. */
static bool ram_mapped_load_start(QEMUFile *f, Error **errp)
{
    int fd;

    if (!migrate_multifd() || mapped_ram_io_active()) {
        return true;
    }
    fd = ram_mapped_fd(f, errp);
    return fd >= 0 &&
           mapped_ram_io_start(fd, migrate_multifd_channels(), false,
                               migrate_direct_io(), migrate_io_uring(), errp);
}

bool ram_mapped_load_block(QEMUFile *f, RAMBlock *rb, Error **errp)
{
    uint8_t buf[MAPPED_RAM_HEADER_SIZE];
    uint64_t npages = rb->used_length >> TARGET_PAGE_BITS;
    uint64_t pos, file_size, bmap_size = mapped_ram_bitmap_size(npages);
    g_autofree uint8_t *bmap = NULL;
    MappedRamHeader h;

    if (!qemu_file_get_offset(f, &pos, errp)) {
        return false;
    }
    if (qemu_get_buffer(f, buf, sizeof(buf)) != sizeof(buf)) {
        error_setg(errp, "mapped-ram: block '%s': the header is truncated",
                   rb->idstr);
        return false;
    }
    mapped_ram_header_decode(buf, &h);
    if (!ram_mapped_file_size(f, &file_size, errp) ||
        !mapped_ram_header_check(&h, rb->idstr, pos, rb->used_length,
                                 TARGET_PAGE_SIZE, file_size, errp)) {
        return false;
    }
    bmap = g_try_malloc(bmap_size);
    if (!bmap) {
        error_setg(errp, "mapped-ram: cannot allocate the bitmap of block "
                   "'%s'", rb->idstr);
        return false;
    }
    if (qemu_get_buffer_at(f, bmap, bmap_size, h.bitmap_offset) != bmap_size) {
        qemu_file_get_error_obj(f, errp);
        error_prepend(errp, "mapped-ram: block '%s': bitmap: ", rb->idstr);
        return false;
    }
    if (!mapped_ram_bitmap_check(bmap, npages, rb->idstr, errp) ||
        !ram_mapped_load_start(f, errp) ||
        !ram_mapped_load_pages(f, rb, &h, bmap, npages, errp)) {
        return false;
    }
    return qemu_file_set_offset(f, h.pages_offset + rb->used_length, errp);
}
