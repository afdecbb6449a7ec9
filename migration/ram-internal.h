/*
 * RAM migration internals shared by ram.c (the "ram" section's source
 * side, precopy), ram-postcopy.c (the source after the postcopy switch:
 * requests, the background walk, DISCARD, recovery) and ram-load.c (the
 * destination), with a few load helpers for multifd and mapped-ram.  Not
 * for other files: the contract with the rest of migration is ram.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_RAM_INTERNAL_H
#define MIGRATION_RAM_INTERNAL_H

#include "qemu-file.h"
#include "system/ramblock.h"
#include "mapped-ram.h"
#include "rdma.h"
#include "options.h"

#define RAM_SECTION_VERSION 4

/*
 * The iterate hook returns to the migration loop at least this often, so
 * that it re-checks cancel, pending bytes and switchover.
 */
#define RAM_ITERATE_MAX_NS (50 * 1000 * 1000)
#define RAM_ITERATE_CLOCK_EVERY 64      /* pages between clock checks */

/* One block being sent. */
typedef struct RAMSendBlock {
    RAMBlock *rb;
    unsigned long *bmap;        /* pages still to send */
    /*
     * release-ram in postcopy: pages sent since the switch (bitmap_mutex).
     * A requested page that is clean and already sent is not sent again:
     * its copy here may be released (zero) and, on the preempt channel,
     * could overtake the real one.
     */
    unsigned long *sent;
    bool reloaded;              /* recovery: RECV_BITMAP seen; bitmap_mutex */
    uint64_t pages;
    /* mapped-ram (migration thread): the layout, the pages in the file. */
    MappedRamHeader mapped;
    uint8_t *file_bmap;         /* NULL without mapped-ram */
    /* mapped-ram with multifd: pages go by sendfile from the RAM's fd. */
    bool mapped_by_fd;
} RAMSendBlock;

/* Source state: between save_setup and save_cleanup; migration thread. */
typedef struct RAMSaveState {
    RAMSendBlock *blocks;       /* blocks whose pages are sent */
    guint nr_blocks;
    guint cur;                  /* walk position: block index... */
    uint64_t cur_page;          /* ...and the next page to look at */
    RAMBlock *last_sent;        /* for RAM_SAVE_FLAG_CONTINUE */
    /* postcopy-preempt: the channel (set at the switch) and its CONTINUE. */
    QEMUFile *preempt_f;
    RAMBlock *preempt_last_sent;    /* the preempt sender's */
    bool vm_stopped;            /* in save_live_complete_precopy */
    int64_t rate_start_ns;      /* dirty_pages_rate period */
    uint64_t rate_pages;        /* pages newly dirtied in the period */
    bool multifd_flush;         /* a bitmap sync since the last flush */
    RDMAContext *rdma;          /* rdma: the main channel's connection */
    bool postcopy;              /* past the switch; migration thread
                                   writes, others read atomically */
    GMutex bitmap_mutex;        /* the bitmaps, in postcopy */
    GMutex req_mutex;           /* requests, last_req; req_cond */
    GCond req_cond;             /* a request was queued */
    GQueue requests;            /* RAMRequest, oldest first */
    uint64_t requested_pages;   /* req_mutex: pages in @requests */
    RAMSendBlock *last_req;     /* block of the last REQ_PAGES_ID */
    /* Recovery: blocks whose RECV_BITMAP arrived; bitmap_mutex. */
    guint bitmaps_reloaded;
    /*
     * Precopy's read window (ram-window.h), used only while ram_send_dirty
     * walks the bitmaps (@window_on); migration thread.
     */
    struct RAMReadWindow *window;
    bool window_on;
} RAMSaveState;

/* One page request from the destination (postcopy). */
typedef struct RAMRequest {
    RAMSendBlock *block;
    uint64_t first;             /* page */
    uint64_t npages;
} RAMRequest;

/* Between save_setup and save_cleanup (read atomically off-thread). */
extern RAMSaveState *ram_save_state;
/* Pages set in the migration bitmaps; stat64 (query-migrate reads it). */
extern uint64_t ram_dirty_pages;

/*
 * ram.c, both sides: x-ignore-shared's test (a block not sent, the same
 * file mapped on both sides), the guest-physical address of a block's
 * start, and whether the block list carries @rb's page size (postcopy
 * with host pages other than the system's).
 */
bool ram_block_is_ignored(RAMBlock *rb);
uint64_t ram_block_gpa(RAMBlock *rb);
bool ram_postcopy_page_size_sent(RAMBlock *rb);

/*
 * multifd (multifd.h): normal pages go to the channel threads, which
 * detect zero pages themselves unless zero-page-detection is legacy.
 */
static inline bool ram_multifd_on(void)
{
    return migrate_multifd_sockets();
}

/*
 * All-zero test over one page, written so the compiler vectorises the
 * inner OR; it stops at the first non-zero 64-byte group.  Both sides,
 * and the multifd channels' zero-page detection.
 */
static inline bool ram_page_is_zero(const uint8_t *p)
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

/* ram.c, migration thread (in postcopy: bitmaps under bitmap_mutex). */
void ram_bitmap_sync(RAMSaveState *st);
/*
 * Next dirty page at or after the walk position, wrapping around once;
 * false when every bitmap is empty.
 */
bool ram_next_dirty(RAMSaveState *st, RAMSendBlock **sb, uint64_t *page);
/* Send page @page of @b (its bit already cleared) on @f. */
void ram_send_page(QEMUFile *f, RAMSaveState *st, RAMSendBlock *b,
                   uint64_t page);
void ram_put_eos(QEMUFile *f, RAMSaveState *st);
void ram_account(RAMSaveState *st, size_t bytes);

/*
 * ram-mapped.c, the mapped-ram capability (mapped-ram.h).  Source: the
 * header of @rb after its block-list entry (@b: its send block, NULL if
 * its pages are not sent), a page at its offset (@data: its bytes, read
 * now; @zero: not written, marked absent), the bitmaps at the end.  Destination: header, bitmap
 * and pages of @rb after its block-list entry.
 */
bool ram_mapped_put_header(QEMUFile *f, RAMBlock *rb, RAMSendBlock *b,
                           Error **errp);
void ram_mapped_send_page(QEMUFile *f, RAMSaveState *st, RAMSendBlock *b,
                          uint64_t offset, const uint8_t *data, bool zero);
bool ram_mapped_put_bitmaps(QEMUFile *f, RAMSaveState *st, Error **errp);
bool ram_mapped_load_block(QEMUFile *f, RAMBlock *rb, Error **errp);
/*
 * With multifd: start the channels (source, after the block list), wait
 * for them at a bitmap sync, stop them (source and destination cleanup).
 */
bool ram_mapped_save_start(QEMUFile *f, Error **errp);
void ram_mapped_sync(void);
void ram_mapped_cleanup(void);

/*
 * ram-load.c, destination: whether @rb's pages are best written into its
 * backing file with pwrite (shared fd-backed RAM: no page fault, no
 * zeroing of a fresh page), and that write.
 */
bool ram_load_batch_wanted(RAMBlock *rb);
bool ram_load_pwrite(RAMBlock *rb, const uint8_t *buf, size_t len,
                     uint64_t offset, Error **errp);
/*
 * Make a page read as zero without populating it where it is a hole
 * (ZERO records, multifd zero pages).
 */
bool ram_load_zero_page(RAMBlock *rb, uint64_t offset, Error **errp);

/*
 * ram-load.c: the load hooks, which ram.c registers (incoming thread, or
 * the postcopy listen thread from LISTEN on).
 */
bool ram_load_setup(QEMUFile *f, void *opaque, Error **errp);
bool ram_load_state(QEMUFile *f, void *opaque, int version_id,
                    Error **errp);
void ram_load_cleanup(void *opaque);

/* ram-postcopy.c: the hooks' postcopy halves (migration thread). */
/* Requests, then the walk; true once every page was sent. */
bool ram_postcopy_iterate(QEMUFile *f, RAMSaveState *st);
bool ram_save_postcopy_prepare(QEMUFile *f, void *opaque, Error **errp);
bool ram_save_complete_postcopy(QEMUFile *f, void *opaque, Error **errp);

#endif
