/*
 * RAM migration, destination side: loading the "ram" section (QEMU's
 * format, version 4) that ram.c sends.
 *
 * This file owns the load hooks (load_setup, load_state, load_cleanup;
 * ram.c registers them with the save hooks), the parsing and checking of
 * every record, the application of ZERO, PAGE and XBZRLE records, the
 * batch of PAGE data handed to the writer thread (ram-load-writer.h),
 * postcopy page placement (the listen thread's and the preempt
 * channel's), the RDMA HOOK record, and the check that a multifd stream
 * ended synced.  ram_load_pwrite() and ram_load_zero_page() serve the
 * multifd channels and mapped-ram as well (ram-internal.h).
 *
 * Rules:
 * - Every record is checked before it touches memory: known flags only
 *   (no obsolete flag, one kind per record), block known and with the
 *   same length, offset inside the block.  Bad stream bytes are an error
 *   for the section, never a write outside guest RAM.
 * - The source sends no record for a page it never populated, so
 *   load_setup first makes the destination's guest RAM read as zero:
 *   whatever this VMM wrote at machine creation is discarded.
 * - PAGE data is read straight into guest RAM, except for fd-backed
 *   shared RAM (memfd, or a file with share=on): there it is gathered
 *   in batches and written into the file with pwrite, not through the
 *   mapping.  A first write through the mapping takes a page fault and
 *   the kernel zeroes a fresh page that the copy then overwrites;
 *   pwrite allocates and fills the page at once (fill-4G in
 *   docs/devel/migration/benchmarks.md).  The writer thread writes one
 *   batch while the next is received; queued pages land before any
 *   other record is applied.
 * - A ZERO record writes only if the page is not zero already, so
 *   untouched memory stays unpopulated; fd-backed shared RAM is checked
 *   through its file (ram_load_zero_page).
 * - An XBZRLE record is decoded onto the destination's copy of the page.
 * - Postcopy: from LISTEN on, pages are placed with postcopy_place_page()
 *   instead of being written, a huge page assembled first and placed
 *   whole; nothing is read from guest RAM then.
 *
 * Threads: the load hooks run in the incoming thread, or from LISTEN on
 * in the postcopy listen thread (see register.h); the load state belongs
 * to one of them at a time (ram_load_claim).  The preempt channel's
 * thread has its own huge-page buffer (ram_load_postcopy_channel).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/mman.h>
#include "qapi/error.h"
#include "system/ramblock.h"
#include "qemu-file.h"
#include "options.h"
#include "ram.h"
#include "ram-internal.h"
#include "ram-load-writer.h"
#include "ram-xbzrle.h"
#include "multifd.h"
#include "postcopy-ram.h"
#include "postcopy-preempt.h"
#include "rdma.h"
#include "trace.h"

#define RAM_FLAGS_KNOWN (RAM_SAVE_FLAG_ZERO | RAM_SAVE_FLAG_MEM_SIZE | \
                         RAM_SAVE_FLAG_PAGE | RAM_SAVE_FLAG_EOS | \
                         RAM_SAVE_FLAG_CONTINUE | RAM_SAVE_FLAG_XBZRLE | \
                         RAM_SAVE_FLAG_HOOK | RAM_SAVE_FLAG_MULTIFD_FLUSH)

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

static RAMLoadState ram_load_state_s;

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

bool ram_load_setup(QEMUFile *f, void *opaque, Error **errp)
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

void ram_load_cleanup(void *opaque)
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
 * Whether the load writes @rb through its file rather than its mapping:
 * fd-backed, shared, small pages (hugetlbfs has no write()).  A store
 * through the mapping allocates the page in the file system, and on a
 * full one that store is a SIGBUS that kills the destination; pwrite
 * fails with ENOSPC instead, which fails the load with that cause.
 */
static bool ram_load_by_fd(RAMBlock *rb)
{
    return rb->fd >= 0 && rb->shared &&
           rb->page_size == (size_t)getpagesize();
}

/*
 * Whether PAGE data for @rb goes through the batch: written through its
 * file, and not with postcopy-ram, whose pages are placed with
 * userfaultfd once it starts (until then they are written one by one).
 */
bool ram_load_batch_wanted(RAMBlock *rb)
{
    return ram_load_by_fd(rb) && !migrate_postcopy_ram();
}

/* One PAGE record's data through @rb's file, now (no batch). */
static bool ram_load_page_by_fd(QEMUFile *f, RAMBlock *rb, uint64_t offset,
                                Error **errp)
{
    uint8_t buf[TARGET_PAGE_SIZE];

    if (qemu_get_buffer(f, buf, TARGET_PAGE_SIZE) != TARGET_PAGE_SIZE) {
        error_setg(errp, "RAM page 0x%" PRIx64 " of block %s is truncated",
                   offset, rb->idstr);
        return false;
    }
    return ram_load_pwrite(rb, buf, TARGET_PAGE_SIZE, offset, errp);
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

    if (!ram_load_by_fd(rb)) {
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
    if (ram_load_by_fd(rb)) {
        return ram_load_page_by_fd(f, rb, offset, errp);
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

bool ram_load_state(QEMUFile *f, void *opaque, int version_id,
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

        if (qemu_file_get_error_obj(f, errp)) {
            /*
             * The stream's own error says why: a cut connection, or a
             * multifd channel's failure that shut the stream down.
             */
            error_prepend(errp, "RAM section is truncated (no EOS record): ");
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
