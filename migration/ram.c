/*
 * RAM migration: the "ram" live section (QEMU's format, version 4), the
 * source side and the section's registration.  The destination side,
 * which loads the section, is ram-load.c; the source after the postcopy
 * switch is ram-postcopy.c.
 *
 * Setup lists the RAMBlocks (MEM_SIZE record), starts dirty tracking and
 * builds the migration bitmap: one bit per 4 KiB page, set for every page
 * that still has to be sent.  The iterate hook walks the bitmap from
 * where it stopped, sending each dirty page as a ZERO record (page all
 * zero) or a PAGE record (the page by reference).  A sync
 * (state_pending_exact, and the final one with the VM stopped) ORs the
 * pages written since the last sync into the bitmap.
 *
 * Memory the guest never touched.  The first pass does not start from an
 * all-set bitmap: it starts from the pages that are populated (present or
 * swapped in /proc/self/pagemap, plus data ranges of the backing file for
 * fd-backed blocks).  A page that is not populated reads as zero on the
 * source, and the destination makes its copy of guest RAM read as zero in
 * load_setup (ram-load.c: it discards whatever the destination VMM
 * itself put there at machine creation), so such a page needs no record
 * at all: a 16 GiB guest with 100 MiB touched costs a page-table walk,
 * not 16 GiB of reads.  Tracking is started before that scan, so a page
 * populated after the scan is a written page and shows up in the dirty
 * log.  A page that is populated but zero is still sent (as ZERO): the
 * destination may have had data there.  Private mappings of a file
 * (mem-path, share=off) read the file where not populated, so those
 * blocks start all set.
 *
 * RDMA (an rdma: main channel, rdma.h): the page walks sit between a
 * HOOK record and REGISTER_FINISHED; a page goes by RDMA WRITE into the
 * destination's registered RAM instead of as a record, or not at all when
 * it is zero and its 1 MiB chunk was never written in this migration.
 *
 * XBZRLE (the xbzrle capability, multifd off): from the first dirty sync
 * on, a non-zero page goes through ram-xbzrle.c, which sends it as a
 * delta against the copy last sent when it has one, and otherwise has
 * it sent plainly, by copy (its cache copy must match what was sent).
 *
 * Postcopy (postcopy-ram.h; the source's side after the switch is in
 * ram-postcopy.c, sharing ram-internal.h).  At the switch the last sync
 * runs and every page still dirty is named in DISCARD commands (the
 * destination may hold an old copy; huge pages go whole).  Then the
 * iterate hook sends the pages the destination asked for (queued by the
 * return-path thread) ahead of the background walk, as plain PAGE/ZERO
 * records; a requested page is sent even if its bit is clear, because a
 * page never populated here has no bit and the destination has none
 * either.  With release-ram each page sent is dropped here.
 *
 * Threads and locks: all save hooks run in the migration thread (the
 * load hooks' threads: ram-load.c); the walk position is the migration
 * thread's.  The bitmaps are the migration thread's too until the
 * switch; in postcopy every test-and-clear takes bitmap_mutex (a preempt
 * channel's sender will clear bits as well).  The request queue is
 * protected by req_mutex, which the return-path thread takes to add
 * requests.  Only ram_dirty_pages is read by other threads
 * (query-migrate), atomically.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include "qapi/error.h"
#include "qemu/bitmap.h"
#include "system/ramblock.h"
#include "system/dirty-log.h"
#include "migration/register.h"
#include "qemu-file.h"
#include "migration-stats.h"
#include "options.h"
#include "ram.h"
#include "ram-internal.h"
#include "ram-window.h"
#include "ram-xbzrle.h"
#include "multifd.h"
#include "postcopy-preempt.h"
#include "postcopy-recover.h"
#include "ram-release.h"
#include "savevm.h"
#include "rdma.h"
#include "trace.h"

#define RAM_PAGEMAP_PRESENT (1ULL << 63)
#define RAM_PAGEMAP_SWAPPED (1ULL << 62)
#define RAM_PAGEMAP_BATCH   65536       /* entries per read: 512 KiB */

RAMSaveState *ram_save_state;
/* Pages set in the migration bitmaps; atomic (query-migrate reads it). */
uint64_t ram_dirty_pages;
/* Duration of the last ram_bitmap_sync(), ns; atomic. */
static uint64_t ram_sync_ns;

static uint64_t ram_pages(const RAMBlock *rb)
{
    return rb->used_length >> TARGET_PAGE_BITS;
}

/*
 * x-ignore-shared: a block the destination maps from the same file is
 * not sent (QEMU: shared and backed by a named file, not a memfd).
 */
bool ram_block_is_ignored(RAMBlock *rb)
{
    MemoryBackend *be;

    if (!migrate_capability(MIGRATION_CAPABILITY_X_IGNORE_SHARED) ||
        !rb->shared || rb->fd < 0) {
        return false;
    }
    be = memory_backend_find(rb->idstr);
    return be && be->kind == RAM_BACKEND_FILE;
}

/* Guest-physical address of the block's start (0 if not mapped there). */
uint64_t ram_block_gpa(RAMBlock *rb)
{
    GPtrArray *secs = guest_mem_sections();

    for (guint i = 0; i < secs->len; i++) {
        GuestMemSection *s = g_ptr_array_index(secs, i);

        if (s->block == rb && s->offset == 0) {
            return s->gpa;
        }
    }
    return 0;
}

bool ram_postcopy_page_size_sent(RAMBlock *rb)
{
    return migrate_postcopy_ram() && rb->page_size != (size_t)getpagesize();
}

uint64_t ram_bytes_total_migratable(void)
{
    GPtrArray *blocks = ram_block_list();
    uint64_t total = 0;

    for (guint i = 0; i < blocks->len; i++) {
        RAMBlock *rb = g_ptr_array_index(blocks, i);

        if (!ram_block_is_ignored(rb)) {
            total += rb->used_length;
        }
    }
    return total;
}

uint64_t ram_last_sync_ns(void)
{
    return __atomic_load_n(&ram_sync_ns, __ATOMIC_RELAXED);
}

uint64_t ram_bytes_remaining(void)
{
    return stat64_get(&ram_dirty_pages) << TARGET_PAGE_BITS;
}

/* ---- Finding the populated pages of a block (first pass) ---- */

/*
 * PAGEMAP_SCAN (Linux 6.7): the kernel reports runs of pages in given
 * categories, skipping empty page tables, so a mostly untouched 16 GiB
 * block costs about as much as its populated part.  The uapi definitions
 * (linux/fs.h) are spelled out for older headers.
 */
#ifndef PAGEMAP_SCAN
struct page_region {
    uint64_t start;
    uint64_t end;
    uint64_t categories;
};

struct pm_scan_arg {
    uint64_t size;
    uint64_t flags;
    uint64_t start;
    uint64_t end;
    uint64_t walk_end;
    uint64_t vec;
    uint64_t vec_len;
    uint64_t max_pages;
    uint64_t category_inverted;
    uint64_t category_mask;
    uint64_t category_anyof_mask;
    uint64_t return_mask;
};

#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#endif

#define RAM_SCAN_REGIONS 4096

/* Returns false if the kernel has no PAGEMAP_SCAN (or it failed). */
static bool ram_scan_pagemap_ioctl(int fd, RAMBlock *rb, unsigned long *bmap)
{
    uint64_t base = (uintptr_t)rb->host;
    uint64_t end = base + rb->used_length;
    g_autofree struct page_region *vec = g_new(struct page_region,
                                               RAM_SCAN_REGIONS);
    struct pm_scan_arg arg = {
        .size = sizeof(arg),
        .start = base,
        .end = end,
        .vec = (uintptr_t)vec,
        .vec_len = RAM_SCAN_REGIONS,
        .category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
        .return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
    };

    while (arg.start < end) {
        int n = ioctl(fd, PAGEMAP_SCAN, &arg);

        if (n < 0 || arg.walk_end <= arg.start || arg.walk_end > end) {
            return false;
        }
        for (int i = 0; i < n; i++) {
            uint64_t first = (vec[i].start - base) >> TARGET_PAGE_BITS;
            uint64_t last = DIV_ROUND_UP(vec[i].end - base, TARGET_PAGE_SIZE);

            if (vec[i].start < base || vec[i].end > end ||
                vec[i].end <= vec[i].start) {
                return false;
            }
            bitmap_set(bmap, first, last - first);
        }
        arg.start = arg.walk_end;
    }
    return true;
}

/* Set the bits of pages present or swapped according to pagemap. */
static bool ram_scan_pagemap(RAMBlock *rb, unsigned long *bmap)
{
    uint64_t pages = ram_pages(rb);
    uint64_t first = (uintptr_t)rb->host >> TARGET_PAGE_BITS;
    uint64_t *buf;
    bool ok = true;
    int fd;

    fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    if (ram_scan_pagemap_ioctl(fd, rb, bmap)) {
        close(fd);
        return true;
    }
    /* Older kernels: read one 64-bit entry per page. */
    buf = g_new(uint64_t, RAM_PAGEMAP_BATCH);
    for (uint64_t done = 0; done < pages && ok;) {
        uint64_t n = MIN(pages - done, RAM_PAGEMAP_BATCH);
        ssize_t len = pread(fd, buf, n * sizeof(uint64_t),
                            (first + done) * sizeof(uint64_t));

        if (len != (ssize_t)(n * sizeof(uint64_t))) {
            ok = false;
            break;
        }
        for (uint64_t i = 0; i < n; i++) {
            if (buf[i] & (RAM_PAGEMAP_PRESENT | RAM_PAGEMAP_SWAPPED)) {
                set_bit(done + i, bmap);
            }
        }
        done += n;
    }
    g_free(buf);
    close(fd);
    return ok;
}

/* Set the bits of pages that hold data in the block's backing file. */
static bool ram_scan_file_data(RAMBlock *rb, unsigned long *bmap)
{
    off_t end = rb->used_length;
    off_t pos = 0;

    while (pos < end) {
        off_t data = lseek(rb->fd, pos, SEEK_DATA);
        off_t hole;

        if (data < 0) {
            return errno == ENXIO;      /* no data after pos */
        }
        if (data >= end) {
            break;
        }
        hole = lseek(rb->fd, data, SEEK_HOLE);
        if (hole < 0) {
            return false;
        }
        hole = MIN(hole, end);
        bitmap_set(bmap, data >> TARGET_PAGE_BITS,
                   DIV_ROUND_UP(hole, TARGET_PAGE_SIZE) -
                   (data >> TARGET_PAGE_BITS));
        pos = hole;
    }
    return true;
}

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

/* memfd (not hugetlb) or a file on tmpfs. */
static bool ram_block_is_shmem(RAMBlock *rb)
{
    struct statfs sfs;

    return rb->fd >= 0 && fstatfs(rb->fd, &sfs) == 0 &&
           sfs.f_type == TMPFS_MAGIC;
}

/*
 * Shared shmem: a page mapped in the block is a page of the file, so the
 * file's data ranges are all there is to find (pagemap adds nothing).  A
 * file allocated in full (st_blocks) needs no walk at all: the walk
 * costs ~35 ms per 4 GiB of data, setup time the guest waits through.
 */
static bool ram_scan_shmem(RAMBlock *rb, unsigned long *bmap)
{
    struct stat st;

    if (fstat(rb->fd, &st) == 0 && (uint64_t)st.st_size == rb->used_length &&
        (uint64_t)st.st_blocks * 512 >= rb->used_length) {
        bitmap_set(bmap, 0, ram_pages(rb));
        return true;
    }
    return ram_scan_file_data(rb, bmap);
}

/*
 * Mark the pages of @rb that the first pass must look at.  Where the
 * kernel cannot tell, every page.
 */
static void ram_mark_populated(RAMBlock *rb, unsigned long *bmap)
{
    uint64_t pages = ram_pages(rb);
    bool ok;

    if (rb->fd >= 0 && !rb->shared) {
        ok = false;     /* unpopulated pages read the file, not zeros */
    } else if (ram_block_is_shmem(rb)) {
        ok = ram_scan_shmem(rb, bmap);
    } else {
        ok = ram_scan_pagemap(rb, bmap) &&
             (rb->fd < 0 || ram_scan_file_data(rb, bmap));
    }
    if (!ok) {
        bitmap_set(bmap, 0, pages);
    }
    trace_ram_mark_populated(rb->idstr, pages, bitmap_count_one(bmap, pages),
                             ok);
}

/* ---- Source: dirty bitmap ---- */

static void ram_dirty_rate_update(RAMSaveState *st, uint64_t added)
{
    int64_t now = get_clock_ns();

    st->rate_pages += added;
    if (now - st->rate_start_ns >= 1000 * 1000 * 1000) {
        stat64_set(&mig_stats.dirty_pages_rate,
                   st->rate_pages * 1000000000ULL /
                   (now - st->rate_start_ns));
        st->rate_pages = 0;
        st->rate_start_ns = now;
    }
}

/* Fold everything written since the last sync into the bitmaps. */
void ram_bitmap_sync(RAMSaveState *st)
{
    int64_t start = get_clock_ns();
    uint64_t added = 0;

    /* The old round's pages land before any of the new one is queued. */
    ram_mapped_sync();
    /* Pages read before the sync must not be sent after it. */
    ram_window_drop(st->window);
    for (guint i = 0; i < st->nr_blocks; i++) {
        added += dirty_log_sync(st->blocks[i].rb, st->blocks[i].bmap);
    }
    stat64_add(&ram_dirty_pages, added);
    stat64_add(&mig_stats.dirty_sync_count, 1);
    stat64_set(&mig_stats.dirty_bytes_last_sync, ram_bytes_remaining());
    ram_xbzrle_sync();
    st->multifd_flush = ram_multifd_on();
    migration_pass_done(stat64_get(&mig_stats.dirty_sync_count));
    ram_dirty_rate_update(st, added);
    __atomic_store_n(&ram_sync_ns, get_clock_ns() - start, __ATOMIC_RELAXED);
    trace_ram_bitmap_sync(added, stat64_get(&ram_dirty_pages));
}

/*
 * Next dirty page at or after the walk position, wrapping around once;
 * false when every bitmap is empty.
 */
bool ram_next_dirty(RAMSaveState *st, RAMSendBlock **sb, uint64_t *page)
{
    for (guint n = 0; n <= st->nr_blocks && st->nr_blocks; n++) {
        RAMSendBlock *b = &st->blocks[st->cur];
        uint64_t p = find_next_bit(b->bmap, b->pages, st->cur_page);

        if (p < b->pages) {
            *sb = b;
            *page = p;
            st->cur_page = p + 1;
            return true;
        }
        st->cur = (st->cur + 1) % st->nr_blocks;
        st->cur_page = 0;
    }
    return false;
}

/* ---- Source: records ---- */

/* Record header: offset | flags, and the block name unless CONTINUE. */
static size_t ram_put_header(QEMUFile *f, RAMSaveState *st, RAMBlock *rb,
                             uint64_t offset, uint64_t flags)
{
    /* Each channel has its own "previous block". */
    RAMBlock **last = f == st->preempt_f ? &st->preempt_last_sent
                                         : &st->last_sent;
    size_t len;

    if (rb == *last) {
        qemu_put_be64(f, offset | flags | RAM_SAVE_FLAG_CONTINUE);
        return 8;
    }
    len = strlen(rb->idstr);
    qemu_put_be64(f, offset | flags);
    qemu_put_counted_string(f, rb->idstr);
    *last = rb;
    return 8 + 1 + len;
}

void ram_account(RAMSaveState *st, size_t bytes)
{
    stat64_add(st->postcopy ? &mig_stats.postcopy_bytes :
               st->vm_stopped ? &mig_stats.downtime_bytes :
               &mig_stats.precopy_bytes, bytes);
    stat64_add(&mig_stats.transferred, bytes);
}

/*
 * The XBZRLE branch for a non-zero page: false if it must go as a PAGE
 * record of *@data instead (by copy unless the VM is stopped).
 */
static bool ram_send_xbzrle(QEMUFile *f, RAMSaveState *st, RAMSendBlock *b,
                            uint64_t offset, const uint8_t **data)
{
    const uint8_t *host = *data;
    int len = 0;
    size_t bytes;

    switch (ram_xbzrle_save_page(b - st->blocks, offset, host,
                                 st->vm_stopped, data, &len)) {
    case RAM_XBZRLE_UNCHANGED:
        return true;
    case RAM_XBZRLE_ENCODED:
        bytes = ram_put_header(f, st, b->rb, offset, RAM_SAVE_FLAG_XBZRLE);
        bytes += ram_xbzrle_put_body(f, *data, len);
        ram_xbzrle_record_sent(bytes);
        ram_account(st, bytes);
        return true;
    default:
        return false;
    }
}

/*
 * After a bitmap sync, before the next page: every channel's pages of the
 * old round must land before any of the new one (see multifd.h).
 */
static void ram_multifd_flush(QEMUFile *f, RAMSaveState *st)
{
    Error *err = NULL;

    if (!st->multifd_flush) {
        return;
    }
    st->multifd_flush = false;
    if (!multifd_send_sync_main(&err)) {
        qemu_file_set_error_obj(f, -EIO, err);
        return;
    }
    qemu_put_be64(f, RAM_SAVE_FLAG_MULTIFD_FLUSH);
    ram_account(st, 8);
    /*
     * Out now: the destination's channels are parked after their SYNC
     * until it reads this, and our next pages would wait for them.
     */
    qemu_fflush(f);
}

/* multifd: true if the page went to (or failed on) the channels. */
static bool ram_send_page_multifd(QEMUFile *f, RAMSendBlock *b,
                                  uint64_t offset)
{
    Error *err = NULL;

    if (!ram_multifd_on() ||
        (migrate_zero_page_detection() == ZERO_PAGE_DETECTION_LEGACY &&
         ram_page_is_zero(b->rb->host + offset))) {
        return false;
    }
    if (!multifd_queue_page(b->rb, offset, &err)) {
        qemu_file_set_error_obj(f, -EIO, err);
    }
    return true;
}

/*
 * RDMA: the page goes by RDMA WRITE (no record in the stream), or not at
 * all when it is zero and its chunk was never written (rdma.h).
 */
static void ram_send_page_rdma(QEMUFile *f, RAMSaveState *st,
                               RAMSendBlock *b, uint64_t offset)
{
    Error *err = NULL;
    int ret = rdma_ram_save_page(st->rdma, b->rb, offset,
                                 ram_page_is_zero(b->rb->host + offset),
                                 &err);

    if (ret < 0) {
        qemu_file_set_error_obj(f, -EIO, err);
    } else if (ret == 0) {
        stat64_add(&mig_stats.zero_pages, 1);
    } else {
        stat64_add(&mig_stats.normal_pages, 1);
        ram_account(st, TARGET_PAGE_SIZE);
        /* The rate limit applies to what goes by WRITE as well. */
        qemu_file_acct_rate_limit(f, TARGET_PAGE_SIZE);
    }
}

/*
 * RDMA: page walks sit between a HOOK record (flushed: the destination
 * then serves registrations instead of reading the stream) and the
 * REGISTER_FINISHED that rdma_ram_finish() sends once every write landed.
 */
static void ram_rdma_hook_begin(QEMUFile *f, RAMSaveState *st)
{
    if (st->rdma) {
        qemu_put_be64(f, RAM_SAVE_FLAG_HOOK);
        ram_account(st, 8);
        qemu_fflush(f);
    }
}

static void ram_rdma_hook_end(QEMUFile *f, RAMSaveState *st)
{
    Error *err = NULL;

    if (st->rdma && !qemu_file_get_error(f) &&
        !rdma_ram_finish(st->rdma, &err)) {
        qemu_file_set_error_obj(f, -EIO, err);
    }
}

/* Send page @page of @b (its bit already cleared). */
void ram_send_page(QEMUFile *f, RAMSaveState *st, RAMSendBlock *b,
                   uint64_t page)
{
    uint64_t offset = page << TARGET_PAGE_BITS;
    const uint8_t *host = b->rb->host + offset;
    const uint8_t *data = host;
    /* The destination cannot patch a page it does not have yet. */
    bool xbzrle = ram_xbzrle_enabled() && !st->postcopy;
    size_t bytes;

    if (b->file_bmap) {
        /* The zero check faults on a first touch: read from the fd. */
        if (st->window_on) {
            data = ram_window_page(f, st->window, b, page) ?: host;
        }
        ram_mapped_send_page(f, st, b, offset, data, ram_page_is_zero(data));
        return;
    }
    if (st->rdma) {
        ram_send_page_rdma(f, st, b, offset);
        return;
    }
    if (ram_send_page_multifd(f, b, offset)) {
        return;
    }
    if (st->window_on && !xbzrle && !st->postcopy) {
        /* The same bytes, read from the fd: no fault on a first touch. */
        host = ram_window_page(f, st->window, b, page) ?: host;
        data = host;
    }
    if (ram_page_is_zero(host)) {
        bytes = ram_put_header(f, st, b->rb, offset, RAM_SAVE_FLAG_ZERO);
        qemu_put_byte(f, 0);
        bytes += 1;
        stat64_add(&mig_stats.zero_pages, 1);
        if (xbzrle) {
            ram_xbzrle_zero_page(b - st->blocks, offset, st->vm_stopped);
        }
    } else if (xbzrle && ram_send_xbzrle(f, st, b, offset, &data)) {
        return;
    } else if ((xbzrle && !st->vm_stopped) ||
               (st->postcopy && migrate_release_ram())) {
        /* By copy: the cache's copy changes, or release-ram drops it. */
        bytes = ram_put_header(f, st, b->rb, offset, RAM_SAVE_FLAG_PAGE);
        qemu_put_buffer(f, data, TARGET_PAGE_SIZE);
        bytes += TARGET_PAGE_SIZE;
        stat64_add(&mig_stats.normal_pages, 1);
    } else {
        bytes = ram_put_header(f, st, b->rb, offset, RAM_SAVE_FLAG_PAGE);
        /*
         * By reference: if the guest changes the page before the flush,
         * that write is in the dirty log and the page goes again.
         */
        qemu_put_buffer_async(f, host, TARGET_PAGE_SIZE);
        bytes += TARGET_PAGE_SIZE;
        stat64_add(&mig_stats.normal_pages, 1);
    }
    ram_account(st, bytes);
}

/*
 * Send dirty pages until the bitmaps are empty (returns true), or the
 * rate limit or time budget says stop (@limited; returns false).
 */
static bool ram_send_dirty(QEMUFile *f, RAMSaveState *st, bool limited)
{
    int64_t start = get_clock_ns();
    uint64_t sent = 0;

    st->window_on = true;
    for (;;) {
        RAMSendBlock *b;
        uint64_t page;

        if (limited && qemu_file_rate_limit(f)) {
            break;
        }
        ram_xbzrle_apply_resize();     /* between pages: see ram-xbzrle.h */
        if (!ram_next_dirty(st, &b, &page)) {
            st->window_on = false;
            ram_window_drop(st->window);
            trace_ram_send_dirty(sent, true);
            return true;
        }
        clear_bit(page, b->bmap);
        stat64_add(&ram_dirty_pages, -1ULL);
        ram_send_page(f, st, b, page);
        sent++;
        if (qemu_file_get_error(f)) {
            break;
        }
        if (limited && sent % RAM_ITERATE_CLOCK_EVERY == 0 &&
            get_clock_ns() - start > RAM_ITERATE_MAX_NS) {
            break;
        }
    }
    st->window_on = false;
    ram_window_drop(st->window);
    trace_ram_send_dirty(sent, false);
    return false;
}

void ram_put_eos(QEMUFile *f, RAMSaveState *st)
{
    qemu_put_be64(f, RAM_SAVE_FLAG_EOS);
    ram_account(st, 8);
}

/* ---- Source: hooks ---- */

/* The send block of @rb, NULL if its pages are not sent. */
static RAMSendBlock *ram_send_block_of(RAMSaveState *st, RAMBlock *rb)
{
    for (guint i = 0; i < st->nr_blocks; i++) {
        if (st->blocks[i].rb == rb) {
            return &st->blocks[i];
        }
    }
    return NULL;
}

static bool ram_put_block_list(QEMUFile *f, RAMSaveState *st, Error **errp)
{
    GPtrArray *blocks = ram_block_list();

    qemu_put_be64(f, ram_bytes_total() | RAM_SAVE_FLAG_MEM_SIZE);
    for (guint i = 0; i < blocks->len; i++) {
        RAMBlock *rb = g_ptr_array_index(blocks, i);

        qemu_put_counted_string(f, rb->idstr);
        qemu_put_be64(f, rb->used_length);
        if (ram_postcopy_page_size_sent(rb)) {
            qemu_put_be64(f, rb->page_size);
        }
        if (migrate_capability(MIGRATION_CAPABILITY_X_IGNORE_SHARED)) {
            qemu_put_be64(f, ram_block_gpa(rb));
        }
        if (migrate_mapped_ram() &&
            !ram_mapped_put_header(f, rb, ram_send_block_of(st, rb), errp)) {
            return false;
        }
    }
    return true;
}

static void ram_save_state_free(RAMSaveState *st)
{
    g_queue_clear_full(&st->requests, g_free);
    g_mutex_clear(&st->bitmap_mutex);
    g_mutex_clear(&st->req_mutex);
    g_cond_clear(&st->req_cond);
    for (guint i = 0; i < st->nr_blocks; i++) {
        g_free(st->blocks[i].bmap);
        g_free(st->blocks[i].sent);
        g_free(st->blocks[i].file_bmap);
    }
    g_free(st->blocks);
    ram_window_free(st->window);
    g_free(st->window);
    g_free(st);
}

static bool ram_save_setup(QEMUFile *f, void *opaque, Error **errp)
{
    GPtrArray *blocks = ram_block_list();
    RAMSaveState *st;

    assert(!ram_save_state);
    st = g_new0(RAMSaveState, 1);
    st->window = g_new0(RAMReadWindow, 1);
    g_mutex_init(&st->bitmap_mutex);
    g_mutex_init(&st->req_mutex);
    g_cond_init(&st->req_cond);
    g_queue_init(&st->requests);
    st->blocks = g_new0(RAMSendBlock, blocks->len);
    for (guint i = 0; i < blocks->len; i++) {
        RAMBlock *rb = g_ptr_array_index(blocks, i);
        RAMSendBlock *b = &st->blocks[st->nr_blocks];

        if (ram_block_is_ignored(rb)) {
            continue;
        }
        b->rb = rb;
        b->pages = ram_pages(rb);
        b->bmap = bitmap_try_new(b->pages);
        st->nr_blocks++;
        if (!b->bmap) {
            error_setg(errp, "Cannot allocate the migration bitmap of RAM "
                       "block '%s' (%" PRIu64 " pages)", rb->idstr, b->pages);
            ram_save_state_free(st);
            return false;
        }
    }
    /*
     * Tracking first, then the scan: a page that becomes populated after
     * its scan was written, so the dirty log has it.
     */
    if (!ram_xbzrle_setup(errp)) {
        ram_save_state_free(st);
        return false;
    }
    if (!dirty_log_start(errp)) {
        ram_xbzrle_cleanup();
        ram_save_state_free(st);
        return false;
    }
    stat64_set(&ram_dirty_pages, 0);
    for (guint i = 0; i < st->nr_blocks; i++) {
        RAMSendBlock *b = &st->blocks[i];

        /* Drop what was logged before now: the scan covers it. */
        dirty_log_sync(b->rb, b->bmap);
        ram_mark_populated(b->rb, b->bmap);
        stat64_add(&ram_dirty_pages, bitmap_count_one(b->bmap, b->pages));
    }
    st->rate_start_ns = get_clock_ns();
    st->rdma = rdma_context_of(f);
    ram_save_state = st;

    if (!ram_put_block_list(f, st, errp)) {
        error_prepend(errp, "Could not send the RAM block list: ");
        return false;
    }
    ram_rdma_hook_begin(f, st);
    if (st->rdma && !rdma_ram_setup(st->rdma, errp)) {
        error_prepend(errp, "Could not set up RDMA for guest RAM: ");
        return false;
    }
    qemu_put_be64(f, RAM_SAVE_FLAG_EOS);
    qemu_fflush(f);
    if (qemu_file_get_error_obj(f, errp)) {
        error_prepend(errp, "Could not send the RAM block list: ");
        return false;
    }
    if (ram_multifd_on() && !multifd_send_setup(f, errp)) {
        return false;
    }
    if (migrate_mapped_ram() && !ram_mapped_save_start(f, errp)) {
        return false;
    }
    trace_ram_save_setup(st->nr_blocks, ram_bytes_remaining());
    return true;
}

static int ram_save_iterate(QEMUFile *f, void *opaque)
{
    RAMSaveState *st = ram_save_state;
    bool done;
    int ret;

    if (!st) {
        return -EINVAL;
    }
    ram_multifd_flush(f, st);
    ram_rdma_hook_begin(f, st);
    done = st->postcopy ? ram_postcopy_iterate(f, st)
                        : ram_send_dirty(f, st, true);
    ram_rdma_hook_end(f, st);
    ram_put_eos(f, st);
    ret = qemu_file_get_error(f);
    if (ret < 0) {
        return ret;
    }
    return done ? 1 : 0;
}

static bool ram_save_complete_precopy(QEMUFile *f, void *opaque,
                                      Error **errp)
{
    RAMSaveState *st = ram_save_state;

    if (!st) {
        error_setg(errp, "RAM migration was not set up");
        return false;
    }
    st->vm_stopped = true;
    ram_bitmap_sync(st);
    trace_ram_save_complete_synced(stat64_get(&ram_dirty_pages));
    ram_multifd_flush(f, st);
    ram_rdma_hook_begin(f, st);
    ram_send_dirty(f, st, false);
    ram_rdma_hook_end(f, st);
    /* The destination waits here until every page has landed. */
    st->multifd_flush = ram_multifd_on();
    ram_multifd_flush(f, st);
    /* Only now does the file say which pages it holds. */
    if (migrate_mapped_ram() && !ram_mapped_put_bitmaps(f, st, errp)) {
        return false;
    }
    ram_put_eos(f, st);
    qemu_fflush(f);
    if (qemu_file_get_error_obj(f, errp)) {
        error_prepend(errp, "Could not send the last dirty RAM pages: ");
        return false;
    }
    trace_ram_save_complete(stat64_get(&mig_stats.normal_pages),
                            stat64_get(&mig_stats.zero_pages));
    return true;
}

static void ram_state_pending_estimate(void *opaque, uint64_t *must_precopy,
                                       uint64_t *can_postcopy)
{
    *must_precopy += ram_bytes_remaining();
}

static void ram_state_pending_exact(void *opaque, uint64_t *must_precopy,
                                    uint64_t *can_postcopy)
{
    if (ram_save_state) {
        ram_bitmap_sync(ram_save_state);
    }
    *must_precopy += ram_bytes_remaining();
}

static void ram_save_cleanup(void *opaque)
{
    multifd_send_shutdown();
    ram_mapped_cleanup();
    postcopy_preempt_cleanup();     /* its sender uses ram_save_state */
    ram_release_cleanup();
    if (!ram_save_state) {
        return;
    }
    dirty_log_stop();
    ram_xbzrle_cleanup();
    ram_save_state_free(ram_save_state);
    ram_save_state = NULL;
    stat64_set(&ram_dirty_pages, 0);
}

static const SaveVMHandlers ram_handlers = {
    .save_setup = ram_save_setup,
    .save_live_iterate = ram_save_iterate,
    .save_live_complete_precopy = ram_save_complete_precopy,
    .state_pending_estimate = ram_state_pending_estimate,
    .state_pending_exact = ram_state_pending_exact,
    .save_postcopy_prepare = ram_save_postcopy_prepare,
    .save_live_complete_postcopy = ram_save_complete_postcopy,
    .save_cleanup = ram_save_cleanup,
    .load_setup = ram_load_setup,
    .load_state = ram_load_state,
    .load_cleanup = ram_load_cleanup,
};

void ram_mig_init(void)
{
    register_savevm_live("ram", 0, RAM_SECTION_VERSION, &ram_handlers, NULL);
}
