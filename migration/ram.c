/*
 * RAM migration: the "ram" live section (QEMU's format, version 4).
 *
 * Source side.  Setup lists the RAMBlocks (MEM_SIZE record), starts dirty
 * tracking and builds the migration bitmap: one bit per 4 KiB page, set
 * for every page that still has to be sent.  The iterate hook walks the
 * bitmap from where it stopped, sending each dirty page as a ZERO record
 * (page all zero) or a PAGE record (the page by reference).  A sync
 * (state_pending_exact, and the final one with the VM stopped) ORs the
 * pages written since the last sync into the bitmap.
 *
 * Memory the guest never touched.  The first pass does not start from an
 * all-set bitmap: it starts from the pages that are populated (present or
 * swapped in /proc/self/pagemap, plus data ranges of the backing file for
 * fd-backed blocks).  A page that is not populated reads as zero on the
 * source, and the destination makes its copy of guest RAM read as zero in
 * load_setup (it discards whatever the destination VMM itself put there
 * at machine creation), so such a page needs no record at all: a 16 GiB
 * guest with 100 MiB touched costs a page-table walk, not 16 GiB of
 * reads.  Tracking is started before that scan, so a page populated after
 * the scan is a written page and shows up in the dirty log.  A page that
 * is populated but zero is still sent (as ZERO): the destination may have
 * had data there.  Private mappings of a file (mem-path, share=off) read
 * the file where not populated, so those blocks start all set.
 *
 * Destination side.  Every record is checked before it touches memory:
 * known flags only, block known with the same length, offset inside the
 * block.  PAGE data is read straight into guest RAM; ZERO writes only if
 * the page is not zero already, so untouched memory stays unpopulated
 * (shared fd-backed RAM is checked through its file: ram_load_zero_page).
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
 * An XBZRLE record is decoded onto the destination's copy of the page.
 *
 * Postcopy (postcopy-ram.h; the source's side after the switch is in
 * ram-postcopy.c, sharing ram-internal.h).  At the switch the last sync
 * runs and every page still dirty is named in DISCARD commands (the
 * destination may hold an old copy; huge pages go whole).  Then the
 * iterate hook sends the pages the destination asked for (queued by the
 * return-path thread) ahead of the background walk, as plain PAGE/ZERO
 * records; a requested page is sent even if its bit is clear, because a
 * page never populated here has no bit and the destination has none
 * either.  With release-ram each page sent is dropped here.  On the
 * destination, from LISTEN on, the listen thread places pages with
 * postcopy_place_page() instead of writing them (a huge page assembled
 * first, whole).
 *
 * Threads and locks: all save hooks run in the migration thread and all
 * load hooks in the incoming thread (or the postcopy listen thread; see
 * register.h); the walk position is the migration thread's.  The bitmaps
 * are the migration thread's too until the switch; in postcopy every
 * test-and-clear takes bitmap_mutex (a preempt channel's sender will
 * clear bits as well).  The request queue is protected by req_mutex,
 * which the return-path thread takes to add requests.  Only
 * ram_dirty_pages is read by other threads (query-migrate), atomically.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/ioctl.h>
#include <sys/mman.h>
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
#include "ram-load-writer.h"
#include "ram-xbzrle.h"
#include "multifd.h"
#include "postcopy-ram.h"
#include "postcopy-preempt.h"
#include "postcopy-recover.h"
#include "ram-release.h"
#include "savevm.h"
#include "rdma.h"
#include "trace.h"

#define RAM_SECTION_VERSION 4

#define RAM_PAGEMAP_PRESENT (1ULL << 63)
#define RAM_PAGEMAP_SWAPPED (1ULL << 62)
#define RAM_PAGEMAP_BATCH   65536       /* entries per read: 512 KiB */

#define RAM_FLAGS_KNOWN (RAM_SAVE_FLAG_ZERO | RAM_SAVE_FLAG_MEM_SIZE | \
                         RAM_SAVE_FLAG_PAGE | RAM_SAVE_FLAG_EOS | \
                         RAM_SAVE_FLAG_CONTINUE | RAM_SAVE_FLAG_XBZRLE | \
                         RAM_SAVE_FLAG_HOOK | RAM_SAVE_FLAG_MULTIFD_FLUSH)

/*
 * Destination: PAGE data for fd-backed shared RAM (memfd, or a file with
 * share=on) is gathered here and written into the file with pwrite, not
 * through the mapping.  The first write through the mapping takes a page
 * fault, and the kernel zeroes a fresh page that the copy then
 * overwrites; pwrite allocates and fills the page in one go, with no
 * fault and no zeroing (fill-4G in docs/devel/migration/benchmarks.md).
 * The batches, and the writer thread that writes one while the next is
 * received, are in ram-load-writer.h.
 */

/*
 * Destination, postcopy: one channel's host page being assembled.  A
 * host page is placed whole with one UFFDIO_COPY, so the target pages of
 * a huge page are gathered here first (they arrive in order, on one
 * channel).  The listen thread and the preempt thread each have one: a
 * page requested on the preempt channel is placed while the main
 * channel's huge page is still half read, which then goes on.
 */
typedef struct RAMPostcopyTmp {
    uint8_t *buf;               /* host page being filled */
    size_t size;                /* of buf */
    RAMBlock *rb;               /* block of the page being filled */
    uint64_t offset;            /* its host page */
    uint64_t next;              /* target pages of it already there */
} RAMPostcopyTmp;

/*
 * Destination state: between load_setup and load_cleanup.  One thread
 * owns it at a time: the incoming thread up to LISTEN, then the postcopy
 * listen thread (savevm.c keeps RAM sections out of the package, which
 * the incoming thread loads meanwhile).  @owner records who loads and
 * refuses a second thread rather than let two share last_block and the
 * huge-page buffer (docs/devel/migration/locking.md).
 */
typedef struct RAMLoadState {
    uintptr_t owner;            /* atomic: ram_load_self() of the loader */
    RAMBlock *last_block;       /* block of the previous page record */
    bool postcopy;              /* from LISTEN: place pages atomically */
    RAMPostcopyTmp postcopy_tmp;    /* the listen thread's */
    /*
     * multifd: the last RAM section ended with a MULTIFD_FLUSH after its
     * last RAM data (kept past load_cleanup for the incoming thread).
     */
    bool multifd_synced;
    /* rdma: the blocks of the source's MEM_SIZE list, in its order. */
    GPtrArray *listed;
} RAMLoadState;

RAMSaveState *ram_save_state;
static RAMLoadState ram_load_state_s;
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
static bool ram_block_is_ignored(RAMBlock *rb)
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
static uint64_t ram_block_gpa(RAMBlock *rb)
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

static bool ram_postcopy_page_size_sent(RAMBlock *rb)
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

/*
 * multifd (multifd.h): normal pages go to the channel threads, which
 * detect zero pages themselves unless zero-page-detection is legacy.
 */
static bool ram_multifd_on(void)
{
    return migrate_multifd_sockets();
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

/*
 * All-zero test over one page, written so the compiler vectorises the
 * inner OR; it stops at the first non-zero 64-byte group.
 */
static bool ram_page_is_zero(const uint8_t *p)
{
    const uint64_t *w = (const uint64_t *)p;

    for (size_t i = 0; i < TARGET_PAGE_SIZE / 8; i += 8) {
        if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] |
            w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7]) {
            return false;
        }
    }
    return true;
}

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

/* ---- Destination ---- */

/*
 * Make the destination's guest RAM read as zero: the source sends no
 * record for pages it never populated.  Anything here was written by
 * this VMM at machine creation and is replaced by the source's state.
 */
static bool ram_discard_block(RAMBlock *rb, Error **errp)
{
    int ret;

    if (ram_block_is_ignored(rb)) {
        return true;    /* the same file on both sides: keep it */
    }
    if (rb->fd >= 0 && rb->shared) {
        ret = fallocate(rb->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                        0, rb->used_length);
    } else {
        ret = madvise(rb->host, rb->used_length, MADV_DONTNEED);
    }
    if (ret < 0) {
        error_setg_errno(errp, errno, "Could not clear guest RAM block '%s' "
                         "before loading it", rb->idstr);
        return false;
    }
    return true;
}

static bool ram_load_setup(QEMUFile *f, void *opaque, Error **errp)
{
    GPtrArray *blocks = ram_block_list();

    ram_load_state_s.last_block = NULL;
    ram_load_state_s.multifd_synced = false;
    for (guint i = 0; i < blocks->len; i++) {
        if (!ram_discard_block(g_ptr_array_index(blocks, i), errp)) {
            return false;
        }
    }
    if (ram_multifd_on()) {
        multifd_recv_ram_ready();   /* channels may write guest RAM now */
    }
    return true;
}

void ram_postcopy_incoming_start(void)
{
    ram_load_state_s.postcopy = true;
    /* The listen thread, started next, takes the RAM loader over. */
    __atomic_store_n(&ram_load_state_s.owner, 0, __ATOMIC_SEQ_CST);
}

/* A token for the calling thread: the address of a per-thread variable. */
static uintptr_t ram_load_self(void)
{
    static __thread char token;

    return (uintptr_t)&token;
}

/* The first thread to load RAM owns the state; any other is refused. */
static bool ram_load_claim(Error **errp)
{
    uintptr_t expected = 0, self = ram_load_self();

    if (__atomic_compare_exchange_n(&ram_load_state_s.owner, &expected, self,
                                    false, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST) ||
        expected == self) {
        return true;
    }
    error_setg(errp, "RAM section loaded by two threads at once (the "
               "incoming and the postcopy listen thread): refused");
    return false;
}

static void ram_load_cleanup(void *opaque)
{
    ram_mapped_cleanup();
    __atomic_store_n(&ram_load_state_s.owner, 0, __ATOMIC_SEQ_CST);
    ram_load_state_s.postcopy = false;
    g_free(ram_load_state_s.postcopy_tmp.buf);
    memset(&ram_load_state_s.postcopy_tmp, 0, sizeof(RAMPostcopyTmp));
    ram_load_state_s.last_block = NULL;
    ram_load_writer_cleanup();
    g_clear_pointer(&ram_load_state_s.listed, g_ptr_array_unref);
}

/* One entry of the MEM_SIZE block list; *@left counts down the total. */
static bool ram_load_block_entry(QEMUFile *f, uint64_t *left, Error **errp)
{
    char id[256];
    RAMBlock *rb;
    uint64_t length;

    qemu_get_counted_string(f, id);
    length = qemu_get_be64(f);
    if (qemu_file_get_error(f)) {
        error_setg(errp, "RAM block list is truncated");
        return false;
    }
    rb = ram_block_by_name(id);
    if (!rb) {
        error_setg(errp, "Unknown ramblock \"%s\", cannot accept migration",
                   id);
        return false;
    }
    if (length != rb->used_length) {
        error_setg_errno(errp, EINVAL, "Length mismatch: %s: 0x%" PRIx64
                         " in != 0x%" PRIx64, id, length, rb->used_length);
        return false;
    }
    if (length > *left) {
        error_setg(errp, "RAM block list: block '%s' (0x%" PRIx64 " bytes) "
                   "exceeds the announced total", id, length);
        return false;
    }
    *left -= length;
    g_ptr_array_add(ram_load_state_s.listed, rb);
    if (ram_postcopy_page_size_sent(rb)) {
        uint64_t psize = qemu_get_be64(f);

        if (psize != rb->page_size) {
            error_setg(errp, "Mismatched RAM page size %s (local) %zu != %"
                       PRIu64, id, rb->page_size, psize);
            return false;
        }
    }
    if (migrate_capability(MIGRATION_CAPABILITY_X_IGNORE_SHARED)) {
        uint64_t gpa = qemu_get_be64(f);

        if (ram_block_is_ignored(rb) && gpa != ram_block_gpa(rb)) {
            error_setg(errp, "Mismatched GPAs for block %s: 0x%" PRIx64
                       " != 0x%" PRIx64, id, ram_block_gpa(rb), gpa);
            return false;
        }
    }
    return !migrate_mapped_ram() || ram_mapped_load_block(f, rb, errp);
}

static bool ram_load_block_list(QEMUFile *f, uint64_t total, Error **errp)
{
    uint64_t left = total;

    if (!ram_load_state_s.listed) {
        ram_load_state_s.listed = g_ptr_array_new();
    }
    g_ptr_array_set_size(ram_load_state_s.listed, 0);
    while (left) {
        if (!ram_load_block_entry(f, &left, errp)) {
            return false;
        }
    }
    return true;
}

/* The block a ZERO/PAGE record refers to, checked; NULL on error. */
static RAMBlock *ram_load_block_on(QEMUFile *f, uint64_t flags,
                                   RAMBlock **last, Error **errp)
{
    char id[256];
    RAMBlock *rb;

    if (flags & RAM_SAVE_FLAG_CONTINUE) {
        if (!*last) {
            error_setg(errp, "RAM page record continues a block, but no "
                       "block was named before it");
            return NULL;
        }
        return *last;
    }
    qemu_get_counted_string(f, id);
    if (qemu_file_get_error(f)) {
        error_setg(errp, "RAM page record is truncated (block name)");
        return NULL;
    }
    rb = ram_block_by_name(id);
    if (!rb) {
        error_setg(errp, "Can't find block %s (RAM page record)", id);
        return NULL;
    }
    if (ram_block_is_ignored(rb)) {
        error_setg(errp, "block %s should not be migrated !", id);
        return NULL;
    }
    *last = rb;
    return rb;
}

static RAMBlock *ram_load_block(QEMUFile *f, uint64_t flags, Error **errp)
{
    return ram_load_block_on(f, flags, &ram_load_state_s.last_block, errp);
}

/* Host address of page @offset of @rb, or NULL if outside the block. */
static uint8_t *ram_load_host(RAMBlock *rb, uint64_t offset, Error **errp)
{
    if (rb->used_length < TARGET_PAGE_SIZE ||
        offset > rb->used_length - TARGET_PAGE_SIZE) {
        error_setg(errp, "Illegal RAM offset 0x%" PRIx64 " in block %s "
                   "(used length 0x%" PRIx64 ")", offset, rb->idstr,
                   rb->used_length);
        return NULL;
    }
    return rb->host + offset;
}

/*
 * Whether PAGE data for @rb goes through the batch: fd-backed, shared,
 * small pages (hugetlbfs has no write()), and not under postcopy, whose
 * pages are placed with userfaultfd.
 */
bool ram_load_batch_wanted(RAMBlock *rb)
{
    return rb->fd >= 0 && rb->shared &&
           rb->page_size == (size_t)getpagesize() && !migrate_postcopy_ram();
}

/* pwrite @len bytes of @buf at @offset of @rb's file. */
bool ram_load_pwrite(RAMBlock *rb, const uint8_t *buf, size_t len,
                     uint64_t offset, Error **errp)
{
    while (len) {
        ssize_t n = pwrite(rb->fd, buf, len, offset);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            error_setg_errno(errp, n < 0 ? errno : EIO, "Could not write "
                             "RAM block '%s' at 0x%" PRIx64, rb->idstr,
                             offset);
            return false;
        }
        buf += n;
        len -= n;
        offset += n;
    }
    return true;
}

/*
 * Make page @offset of @rb read as zero (a ZERO record), touching only
 * what is not zero already.  Shared fd-backed RAM is read through its
 * file, not its mapping: a read fault on a hole of a shared tmpfs or
 * memfd mapping allocates the page, so every ZERO record would populate
 * RAM meant to stay a hole, and once the file system is full that read
 * is a SIGBUS that kills the destination.  pread of a hole allocates
 * nothing.  Any thread (multifd channels too); pages of @rb queued for
 * the writer thread must have landed.
 */
bool ram_load_zero_page(RAMBlock *rb, uint64_t offset, Error **errp)
{
    static const uint64_t zero[TARGET_PAGE_SIZE / 8];
    uint64_t buf[TARGET_PAGE_SIZE / 8];     /* aligned for the zero test */
    ssize_t n;

    if (!ram_load_batch_wanted(rb)) {
        if (!ram_page_is_zero(rb->host + offset)) {
            memset(rb->host + offset, 0, TARGET_PAGE_SIZE);
        }
        return true;
    }
    do {
        n = pread(rb->fd, buf, TARGET_PAGE_SIZE, offset);
    } while (n < 0 && errno == EINTR);
    if (n != TARGET_PAGE_SIZE) {
        error_setg_errno(errp, n < 0 ? errno : EIO, "Could not read RAM "
                         "block '%s' at 0x%" PRIx64, rb->idstr, offset);
        return false;
    }
    if (ram_page_is_zero((const uint8_t *)buf)) {
        return true;
    }
    trace_ram_load_zero_page_clear(rb->idstr, offset);
    return ram_load_pwrite(rb, (const uint8_t *)zero, TARGET_PAGE_SIZE,
                           offset, errp);
}

/*
 * Queued pages are written (by the writer thread, in queue order: a page
 * queued twice ends with its last copy) before this returns.
 */
static bool ram_load_batch_flush(Error **errp)
{
    return ram_load_writer_wait(errp);
}

/* Queue a PAGE record's data (@offset checked by the caller). */
static bool ram_load_batch_page(QEMUFile *f, RAMBlock *rb, uint64_t offset,
                                Error **errp)
{
    RAMLoadBatch *b = ram_load_writer_batch();
    uint8_t *slot;

    if (b->n && (b->rb != rb || b->n == RAM_LOAD_BATCH_PAGES)) {
        /* Written while the next batch is received. */
        if (!ram_load_writer_submit(errp)) {
            return false;
        }
        b = ram_load_writer_batch();
    }
    slot = b->buf + ((size_t)b->n << TARGET_PAGE_BITS);
    if (qemu_get_buffer(f, slot, TARGET_PAGE_SIZE) != TARGET_PAGE_SIZE) {
        error_setg(errp, "RAM page 0x%" PRIx64 " of block %s is truncated",
                   offset, rb->idstr);
        return false;
    }
    b->rb = rb;
    b->offset[b->n++] = offset;
    return true;
}

/*
 * Where target page @offset of @rb goes in @tmp; NULL (with @errp) if it
 * does not continue the host page being assembled.  A host page's first
 * target page starts a new one: a stream resumed after recovery starts
 * on a host page boundary, so a half-assembled one is dropped (the
 * source sends it again whole, its received bits being clear).
 */
static uint8_t *ram_postcopy_tmp_slot(RAMPostcopyTmp *tmp, RAMBlock *rb,
                                      uint64_t offset, Error **errp)
{
    uint64_t host = QEMU_ALIGN_DOWN(offset, rb->page_size);
    uint64_t index = (offset - host) >> TARGET_PAGE_BITS;

    if (index == 0) {
        if (tmp->next) {
            trace_ram_postcopy_tmp_dropped(tmp->rb->idstr, tmp->offset,
                                           tmp->next);
        }
        if (tmp->size < rb->page_size) {
            g_free(tmp->buf);
            tmp->buf = g_malloc(rb->page_size);
            tmp->size = rb->page_size;
        }
        tmp->rb = rb;
        tmp->offset = host;
        tmp->next = 0;
    } else if (tmp->rb != rb || tmp->offset != host || tmp->next != index) {
        error_setg(errp, "Postcopy: target page 0x%" PRIx64 " of RAM block "
                   "'%s' does not continue the host page being assembled "
                   "(%zu-byte pages; expected target page %" PRIu64 " of "
                   "0x%" PRIx64 " of '%s')", offset, rb->idstr,
                   rb->page_size, tmp->next, tmp->offset,
                   tmp->rb ? tmp->rb->idstr : "none");
        return NULL;
    }
    return tmp->buf + (index << TARGET_PAGE_BITS);
}

/*
 * Postcopy (listen thread, or the preempt thread with its own @tmp): a
 * host page is placed whole and atomically; the guest may be touching
 * it.  Nothing is read from guest RAM here.
 */
static bool ram_load_page_postcopy(QEMUFile *f, RAMBlock *rb,
                                   uint64_t offset, uint64_t flags,
                                   RAMPostcopyTmp *tmp, Error **errp)
{
    bool small = rb->page_size == TARGET_PAGE_SIZE;
    uint8_t *slot;

    if (flags & RAM_SAVE_FLAG_XBZRLE) {
        error_setg(errp, "XBZRLE record for page 0x%" PRIx64 " of block %s "
                   "during postcopy", offset, rb->idstr);
        return false;
    }
    slot = ram_postcopy_tmp_slot(tmp, rb, offset, errp);
    if (!slot) {
        return false;
    }
    if (flags & RAM_SAVE_FLAG_ZERO) {
        int ch = qemu_get_byte(f);

        if (qemu_file_get_error(f) || ch != 0) {
            error_setg(errp, "RAM zero page record is truncated or not "
                       "zero (%d)", ch);
            return false;
        }
        if (small) {
            return postcopy_place_page(rb, offset, NULL, errp);
        }
        memset(slot, 0, TARGET_PAGE_SIZE);
    } else if (qemu_get_buffer(f, slot, TARGET_PAGE_SIZE) !=
               TARGET_PAGE_SIZE) {
        error_setg(errp, "RAM page 0x%" PRIx64 " of block %s is truncated",
                   offset, rb->idstr);
        return false;
    }
    if (++tmp->next < rb->page_size >> TARGET_PAGE_BITS) {
        return true;    /* the rest of the host page is still to come */
    }
    tmp->next = 0;
    return postcopy_place_page(rb, tmp->offset, tmp->buf, errp);
}

bool ram_load_postcopy_channel(QEMUFile *f, uint64_t *pages, Error **errp)
{
    RAMPostcopyTmp tmp = { 0 };
    RAMBlock *last = NULL;
    bool ok = false;

    for (;;) {
        uint64_t word = qemu_get_be64(f);
        uint64_t flags = word & ~TARGET_PAGE_MASK;
        uint64_t kind = flags & ~(uint64_t)RAM_SAVE_FLAG_CONTINUE;
        RAMBlock *rb;

        if (qemu_file_get_error(f)) {
            error_setg(errp, "the channel ended before its EOS record");
            break;
        }
        if (flags == RAM_SAVE_FLAG_EOS) {
            ok = true;
            break;
        }
        if (flags == RAM_SAVE_FLAG_HOOK) {
            /* release-ram's PING on this channel: all before it is placed. */
            if (!postcopy_preempt_incoming_ping(f, errp)) {
                break;
            }
            continue;
        }
        if (kind != RAM_SAVE_FLAG_ZERO && kind != RAM_SAVE_FLAG_PAGE) {
            error_setg(errp, "unexpected RAM record flags 0x%" PRIx64
                       " (only page, zero page and EOS records)", flags);
            break;
        }
        rb = ram_load_block_on(f, flags, &last, errp);
        if (!rb || !ram_load_host(rb, word & TARGET_PAGE_MASK, errp) ||
            !ram_load_page_postcopy(f, rb, word & TARGET_PAGE_MASK, flags,
                                    &tmp, errp)) {
            break;
        }
        __atomic_fetch_add(pages, 1, __ATOMIC_RELAXED);
    }
    g_free(tmp.buf);
    return ok;
}

static bool ram_load_page(QEMUFile *f, uint64_t offset, uint64_t flags,
                          Error **errp)
{
    RAMBlock *rb = ram_load_block(f, flags, errp);
    uint8_t *host = rb ? ram_load_host(rb, offset, errp) : NULL;

    if (!host) {
        return false;
    }
    if (ram_load_state_s.postcopy) {
        return ram_load_page_postcopy(f, rb, offset, flags,
                                      &ram_load_state_s.postcopy_tmp, errp);
    }
    if (migrate_postcopy_ram()) {
        postcopy_mark_received(rb, offset);
    }
    if (flags & RAM_SAVE_FLAG_ZERO) {
        int ch = qemu_get_byte(f);

        if (qemu_file_get_error(f)) {
            error_setg(errp, "RAM zero page record is truncated");
            return false;
        }
        if (ch != 0) {
            error_setg(errp, "Found a zero page with value %d", ch);
            return false;
        }
        return ram_load_zero_page(rb, offset, errp);
    }
    if (flags & RAM_SAVE_FLAG_XBZRLE) {
        if (!ram_xbzrle_load(f, host, errp)) {
            error_prepend(errp, "RAM page 0x%" PRIx64 " of block %s: ",
                          offset, rb->idstr);
            return false;
        }
        return true;
    }
    if (ram_load_batch_wanted(rb)) {
        return ram_load_batch_page(f, rb, offset, errp);
    }
    if (qemu_get_buffer(f, host, TARGET_PAGE_SIZE) != TARGET_PAGE_SIZE) {
        error_setg(errp, "RAM page 0x%" PRIx64 " of block %s is truncated",
                   offset, rb->idstr);
        return false;
    }
    return true;
}

/* Flags must be known, not obsolete, and one kind (plus CONTINUE). */
static bool ram_load_check_flags(uint64_t flags, Error **errp)
{
    if (flags & (RAM_SAVE_FLAG_FULL | RAM_SAVE_FLAG_COMPRESS_PAGE)) {
        error_setg(errp, "RAM record uses an obsolete flag (flags 0x%" PRIx64
                   ")", flags);
        return false;
    }
    if (flags & ~(uint64_t)RAM_FLAGS_KNOWN) {
        error_setg(errp, "Unknown RAM record flags 0x%" PRIx64,
                   flags & ~(uint64_t)RAM_FLAGS_KNOWN);
        return false;
    }
    switch (flags & ~(uint64_t)RAM_SAVE_FLAG_CONTINUE) {
    case RAM_SAVE_FLAG_MEM_SIZE:
    case RAM_SAVE_FLAG_ZERO:
    case RAM_SAVE_FLAG_PAGE:
    case RAM_SAVE_FLAG_EOS:
    case RAM_SAVE_FLAG_MULTIFD_FLUSH:
    case RAM_SAVE_FLAG_XBZRLE:
        return true;
    case RAM_SAVE_FLAG_HOOK:
        return true;
    default:
        error_setg(errp, "Unknown combination of migration flags: 0x%" PRIx64,
                   flags);
        return false;
    }
}

/* A HOOK record: RDMA registration requests until REGISTER_FINISHED. */
static bool ram_load_rdma_hook(QEMUFile *f, Error **errp)
{
    RDMAContext *r = rdma_context_of(f);

    if (!r) {
        error_setg(errp, "RAM record is an RDMA hook, but this stream does "
                   "not come over RDMA");
        return false;
    }
    return rdma_load_hook(r, ram_load_state_s.listed, errp);
}

static bool ram_load_state(QEMUFile *f, void *opaque, int version_id,
                           Error **errp)
{
    if (version_id != RAM_SECTION_VERSION) {
        error_setg(errp, "RAM section version %d is not supported (only %d)",
                   version_id, RAM_SECTION_VERSION);
        return false;
    }
    if (!ram_load_claim(errp)) {
        return false;
    }
    ram_load_state_s.multifd_synced = false;
    for (;;) {
        uint64_t word = qemu_get_be64(f);
        uint64_t flags = word & ~TARGET_PAGE_MASK;
        uint64_t addr = word & TARGET_PAGE_MASK;
        bool ok;

        if (qemu_file_get_error(f)) {
            error_setg(errp, "RAM section is truncated (no EOS record)");
            return false;
        }
        if (!ram_load_check_flags(flags, errp)) {
            return false;
        }
        /* Queued pages land before any other record is applied. */
        if ((flags & ~(uint64_t)RAM_SAVE_FLAG_CONTINUE) !=
            RAM_SAVE_FLAG_PAGE && !ram_load_batch_flush(errp)) {
            return false;
        }
        switch (flags & ~(uint64_t)RAM_SAVE_FLAG_CONTINUE) {
        case RAM_SAVE_FLAG_MEM_SIZE:
            ok = ram_load_block_list(f, addr, errp);
            break;
        case RAM_SAVE_FLAG_ZERO:
        case RAM_SAVE_FLAG_PAGE:
        case RAM_SAVE_FLAG_XBZRLE:
            ok = ram_load_page(f, addr, flags, errp);
            break;
        case RAM_SAVE_FLAG_HOOK:
            ok = ram_load_rdma_hook(f, errp);
            break;
        case RAM_SAVE_FLAG_MULTIFD_FLUSH:
            /* Every channel's pages of the last round land first. */
            ok = !ram_multifd_on() || multifd_recv_sync_main(errp);
            break;
        default:        /* EOS */
            return true;
        }
        /* Only a flush as the last record before EOS counts. */
        ram_load_state_s.multifd_synced =
            ok && flags == RAM_SAVE_FLAG_MULTIFD_FLUSH;
        if (!ok) {
            trace_ram_load_error(word);
            return false;
        }
    }
}

bool ram_load_multifd_check_end(Error **errp)
{
    if (!ram_load_state_s.multifd_synced) {
        error_setg(errp, "multifd: the stream ended without a final multifd "
                   "sync (RAM_SAVE_FLAG_MULTIFD_FLUSH) after its last RAM "
                   "data: pages sent on the channels may be missing");
        return false;
    }
    return true;
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
