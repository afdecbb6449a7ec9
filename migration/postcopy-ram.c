/*
 * Postcopy RAM, destination side (see postcopy-ram.h and
 * docs/devel/migration/postcopy.md).
 *
 * Threads and locks:
 * - the incoming thread handles ADVISE, DISCARD, LISTEN and RUN (no BQL);
 * - "mig/dst/fault" reads the userfaultfd and sends page requests on the
 *   return path (MigrationIncomingState.to_src_file under rp_mutex); it
 *   never takes the BQL and never blocks on guest memory;
 * - "mig/dst/listen" loads the main stream after the package and places
 *   pages with UFFDIO_COPY / UFFDIO_ZEROPAGE (no BQL).
 * The received bitmaps are written with atomic bit operations (listen
 * thread, precopy loads, DISCARD) and read by the fault thread; the
 * requested bitmaps are the fault thread's to set.  Everything else in
 * PostcopyIncoming is set up by the incoming thread before the threads
 * start and torn down after they are joined.  The requested bitmaps are
 * set by the fault thread and read by the listen thread when a
 * recovered postcopy asks again (pc_resend_requests): atomic bits too.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/userfaultfd.h>
#include "qapi/error.h"
#include "qemu/bitmap.h"
#include "qemu/main-loop.h"
#include "qemu/thread.h"
#include "system/ramblock.h"
#include "system/runstate.h"
#include "migration.h"
#include "options.h"
#include "qemu-file.h"
#include "savevm.h"
#include "return-path.h"
#include "ram.h"
#include "postcopy-ram.h"
#include "postcopy-preempt.h"
#include "postcopy-blocktime.h"
#include "postcopy-recover.h"
#include "trace.h"

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

/* Per RAMBlock, in ram_block_list() order. */
typedef struct PostcopyBlock {
    RAMBlock *rb;
    unsigned long *received;    /* atomic bits, one per target page */
    unsigned long *requested;   /* atomic bits: set by the fault thread */
} PostcopyBlock;

typedef struct PostcopyIncoming {
    int state;                  /* atomic: PostcopyIncomingState */
    int uffd;                   /* -1 when closed */
    int quit_fd;                /* eventfd: tells the fault thread to end */
    PostcopyBlock *blocks;
    guint nr_blocks;
    QemuThread fault_thread;
    bool fault_thread_created;
    QemuThread listen_thread;
    bool listen_thread_created;
    QEMUFile *from_src;         /* the listen thread's until joined */
    bool listen_ok;             /* listen thread's result, read after join */
    bool listen_failed;         /* atomic: it ended with an error */
    bool guest_ran;             /* atomic: RUN was taken (the guest ran) */
    Error *listen_error;
    uint64_t pages_requested;   /* atomic */
    /*
     * Recovery: the paused listen thread waits on pause_cond for a new
     * main channel (new_main, from migrate-recover's accept in the main
     * thread) or for the end (pause_exit).  Protected by pause_lock.
     */
    GMutex pause_lock;
    GCond pause_cond;
    bool paused;
    bool pause_exit;
    QEMUFile *new_main;
} PostcopyIncoming;

static PostcopyIncoming pc_in = { .uffd = -1, .quit_fd = -1 };

static void pc_set_state(PostcopyIncomingState s)
{
    trace_postcopy_incoming_state(s);
    __atomic_store_n(&pc_in.state, s, __ATOMIC_SEQ_CST);
}

PostcopyIncomingState postcopy_incoming_state(void)
{
    return __atomic_load_n(&pc_in.state, __ATOMIC_SEQ_CST);
}

bool postcopy_incoming_guest_ran(void)
{
    return __atomic_load_n(&pc_in.guest_ran, __ATOMIC_SEQ_CST);
}

uint64_t postcopy_incoming_pages_requested(void)
{
    return __atomic_load_n(&pc_in.pages_requested, __ATOMIC_RELAXED);
}

uint64_t postcopy_pagesize_summary(void)
{
    GPtrArray *blocks = ram_block_list();
    uint64_t summary = 0;

    for (guint i = 0; i < blocks->len; i++) {
        summary |= ((RAMBlock *)g_ptr_array_index(blocks, i))->page_size;
    }
    return summary;
}

static PostcopyBlock *pc_block(const RAMBlock *rb)
{
    for (guint i = 0; i < pc_in.nr_blocks; i++) {
        if (pc_in.blocks[i].rb == rb) {
            return &pc_in.blocks[i];
        }
    }
    return NULL;
}

void postcopy_mark_received(RAMBlock *rb, uint64_t offset)
{
    PostcopyBlock *b = pc_in.blocks ? pc_block(rb) : NULL;

    if (b) {
        set_bit_atomic(offset >> TARGET_PAGE_BITS, b->received);
    }
}

/* ---- commands ---- */

/* A userfaultfd with the API handshake done; -1 with @errp on failure. */
static int pc_uffd_open(Error **errp)
{
    struct uffdio_api api = { .api = UFFD_API };
    int fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);

    if (fd < 0 && (errno == EPERM || errno == ENOSYS)) {
        /* Without the syscall's privilege, the device may be usable. */
        int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);

        if (dev >= 0) {
            fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
            close(dev);
        }
    }
    if (fd < 0) {
        error_setg_errno(errp, errno, "Postcopy is not supported: cannot "
                         "open a userfaultfd (check the kernel's "
                         "vm.unprivileged_userfaultfd or /dev/userfaultfd "
                         "permissions)");
        return -1;
    }
    /* Missing faults on shared memory and hugetlbfs (memfd backends). */
    api.features = UFFD_FEATURE_MISSING_SHMEM |
                   UFFD_FEATURE_MISSING_HUGETLBFS |
                   postcopy_blocktime_uffd_features();
    if (ioctl(fd, UFFDIO_API, &api) < 0) {
        error_setg_errno(errp, errno, "Postcopy is not supported: the "
                         "userfaultfd API handshake (UFFDIO_API with "
                         "MISSING_SHMEM and MISSING_HUGETLBFS) failed");
        close(fd);
        return -1;
    }
    return fd;
}

bool postcopy_ram_supported_by_host(Error **errp)
{
    int fd = pc_uffd_open(errp);

    if (fd < 0) {
        return false;
    }
    close(fd);
    return true;
}

static bool pc_alloc_blocks(Error **errp)
{
    GPtrArray *blocks = ram_block_list();

    pc_in.blocks = g_new0(PostcopyBlock, blocks->len);
    pc_in.nr_blocks = blocks->len;
    for (guint i = 0; i < blocks->len; i++) {
        RAMBlock *rb = g_ptr_array_index(blocks, i);
        uint64_t pages = rb->used_length >> TARGET_PAGE_BITS;

        pc_in.blocks[i].rb = rb;
        pc_in.blocks[i].received = bitmap_try_new(pages);
        pc_in.blocks[i].requested = bitmap_try_new(pages);
        if (!pc_in.blocks[i].received || !pc_in.blocks[i].requested) {
            error_setg(errp, "Cannot allocate the postcopy bitmaps of RAM "
                       "block '%s'", rb->idstr);
            return false;
        }
    }
    return true;
}

/* ADVISE: QEMU's rules on the payload length versus our capability. */
bool postcopy_incoming_advise(QEMUFile *f, uint16_t len, Error **errp)
{
    uint64_t remote_summary, remote_tps;
    GPtrArray *blocks = ram_block_list();

    if (postcopy_incoming_state() != POSTCOPY_INCOMING_NONE) {
        error_setg(errp, "CMD_POSTCOPY_ADVISE in wrong postcopy state (%d)",
                   postcopy_incoming_state());
        return false;
    }
    if (len == 0) {
        if (migrate_postcopy_ram()) {
            error_setg(errp, "RAM postcopy is enabled but have 0 byte "
                       "advise");
            return false;
        }
        return true;
    }
    if (len != 16) {
        error_setg(errp, "CMD_POSTCOPY_ADVISE invalid length (%u)", len);
        return false;
    }
    remote_summary = qemu_get_be64(f);
    remote_tps = qemu_get_be64(f);
    if (qemu_file_get_error_obj(f, errp)) {
        return false;
    }
    if (!migrate_postcopy_ram()) {
        error_setg(errp, "RAM postcopy is disabled but have 16 byte advise");
        return false;
    }
    if (remote_summary != postcopy_pagesize_summary()) {
        error_setg(errp, "Postcopy needs matching RAM page sizes (s=%" PRIx64
                   " d=%" PRIx64 ")", remote_summary,
                   postcopy_pagesize_summary());
        return false;
    }
    if (remote_tps != TARGET_PAGE_SIZE) {
        error_setg(errp, "Postcopy needs matching target page sizes (s=%"
                   PRIu64 " d=%d)", remote_tps, TARGET_PAGE_SIZE);
        return false;
    }
    for (guint i = 0; i < blocks->len; i++) {
        RAMBlock *rb = g_ptr_array_index(blocks, i);

        /* Host pages are assembled from whole target pages. */
        if (rb->page_size < TARGET_PAGE_SIZE ||
            rb->page_size % TARGET_PAGE_SIZE) {
            error_setg(errp, "Postcopy of RAM block '%s' with %zu-byte pages "
                       "is not supported (target pages are %d bytes)",
                       rb->idstr, rb->page_size, TARGET_PAGE_SIZE);
            return false;
        }
    }
    if (!postcopy_preempt_incoming_check(errp)) {
        return false;
    }
    pc_in.uffd = pc_uffd_open(errp);
    if (pc_in.uffd < 0 || !pc_alloc_blocks(errp)) {
        return false;
    }
    pc_set_state(POSTCOPY_INCOMING_ADVISE);
    return true;
}

/* Drop one range the source says we hold stale (it sends it again). */
static bool pc_discard_range(RAMBlock *rb, uint64_t start, uint64_t length,
                             void *opaque, Error **errp)
{
    PostcopyBlock *b = pc_block(rb);
    int ret;

    trace_postcopy_discard_range(rb->idstr, start, length);
    if (rb->fd >= 0 && rb->shared) {
        ret = fallocate(rb->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                        start, length);
    } else {
        ret = madvise(rb->host + start, length, MADV_DONTNEED);
    }
    if (ret < 0) {
        error_setg_errno(errp, errno, "Could not discard 0x%" PRIx64
                         " bytes at 0x%" PRIx64 " of RAM block '%s'",
                         length, start, rb->idstr);
        return false;
    }
    bitmap_clear(b->received, start >> TARGET_PAGE_BITS,
                 length >> TARGET_PAGE_BITS);
    return true;
}

bool postcopy_incoming_discard(QEMUFile *f, uint16_t len, Error **errp)
{
    PostcopyIncomingState st = postcopy_incoming_state();
    g_autofree uint8_t *buf = g_malloc(len ? len : 1);

    if (st != POSTCOPY_INCOMING_ADVISE && st != POSTCOPY_INCOMING_DISCARD) {
        error_setg(errp, "CMD_POSTCOPY_RAM_DISCARD in wrong postcopy state "
                   "(%d)", st);
        return false;
    }
    if (qemu_get_buffer(f, buf, len) != len) {
        qemu_file_get_error_obj(f, errp);
        if (errp && !*errp) {
            error_setg(errp, "CMD_POSTCOPY_RAM_DISCARD is truncated");
        }
        return false;
    }
    pc_set_state(POSTCOPY_INCOMING_DISCARD);
    return postcopy_discard_parse(buf, len, pc_discard_range, NULL, errp);
}

/* ---- the fault thread ---- */

/* Ask for the page holding @addr unless it is here or already asked. */
static void pc_fault_request(uint64_t addr, uint32_t tid)
{
    MigrationIncomingState *mis = migration_incoming_get_current();
    PostcopyBlock *b = NULL;
    uint64_t offset, page;

    for (guint i = 0; i < pc_in.nr_blocks; i++) {
        RAMBlock *rb = pc_in.blocks[i].rb;

        if (addr >= (uintptr_t)rb->host &&
            addr < (uintptr_t)rb->host + rb->used_length) {
            b = &pc_in.blocks[i];
            break;
        }
    }
    if (!b) {
        error_report("postcopy: fault at 0x%" PRIx64 " outside guest RAM",
                     addr);
        return;
    }
    /*
     * A host page is asked for, placed and tracked as a whole (a huge
     * page is one UFFDIO_COPY): its first target page's bits stand for
     * it in the requested bitmap, and all of its received bits are set
     * together.
     */
    offset = QEMU_ALIGN_DOWN(addr - (uintptr_t)b->rb->host,
                             b->rb->page_size);
    page = offset >> TARGET_PAGE_BITS;
    trace_postcopy_fault(b->rb->idstr, offset);
    if (test_bit_atomic(page, b->received)) {
        /* Placed since the fault was queued: make sure it is awake. */
        struct uffdio_range r = {
            .start = (uintptr_t)b->rb->host + offset,
            .len = b->rb->page_size,
        };

        ioctl(pc_in.uffd, UFFDIO_WAKE, &r);
        return;
    }
    postcopy_blocktime_fault((uintptr_t)b->rb->host + offset, tid,
                             b->received, page);
    if (test_and_set_bit_atomic(page, b->requested)) {
        return;     /* another thread faulted on it: already asked */
    }
    __atomic_fetch_add(&pc_in.pages_requested, 1, __ATOMIC_RELAXED);
    postcopy_blocktime_requested((uintptr_t)b->rb->host + offset);
    /* The writer leaves the name out when the block did not change. */
    migration_incoming_rp_req_pages(mis, b->rb->idstr, offset,
                                    b->rb->page_size);
}

static void *pc_fault_thread(void *opaque)
{
    struct pollfd fds[2] = {
        { .fd = pc_in.uffd, .events = POLLIN },
        { .fd = pc_in.quit_fd, .events = POLLIN },
    };

    trace_postcopy_fault_thread(true);
    for (;;) {
        struct uffd_msg msg;
        ssize_t n;

        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            error_report("postcopy fault thread: poll: %s", strerror(errno));
            break;
        }
        if (fds[1].revents) {
            break;
        }
        n = read(pc_in.uffd, &msg, sizeof(msg));
        if (n != sizeof(msg)) {
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                continue;
            }
            error_report("postcopy fault thread: reading the userfaultfd: "
                         "%s", n < 0 ? strerror(errno) : "short read");
            break;
        }
        if (msg.event == UFFD_EVENT_PAGEFAULT) {
            pc_fault_request(msg.arg.pagefault.address,
                             msg.arg.pagefault.feat.ptid);
        }
    }
    trace_postcopy_fault_thread(false);
    return NULL;
}

/* ---- LISTEN, the listen thread, RUN ---- */

static bool pc_register_ram(Error **errp)
{
    for (guint i = 0; i < pc_in.nr_blocks; i++) {
        RAMBlock *rb = pc_in.blocks[i].rb;
        struct uffdio_register reg = {
            .range = { .start = (uintptr_t)rb->host, .len = rb->used_length },
            .mode = UFFDIO_REGISTER_MODE_MISSING,
        };
        uint64_t need = (1ULL << _UFFDIO_COPY) | (1ULL << _UFFDIO_WAKE);

        if (ioctl(pc_in.uffd, UFFDIO_REGISTER, &reg) < 0) {
            error_setg_errno(errp, errno, "Postcopy: cannot register RAM "
                             "block '%s' with userfaultfd", rb->idstr);
            return false;
        }
        if ((reg.ioctls & need) != need) {
            error_setg(errp, "Postcopy: userfaultfd cannot copy pages into "
                       "RAM block '%s' (ioctls 0x%" PRIx64 ")", rb->idstr,
                       (uint64_t)reg.ioctls);
            return false;
        }
        trace_postcopy_register(rb->idstr, rb->used_length);
    }
    return true;
}

static void pc_unregister_ram(void)
{
    for (guint i = 0; i < pc_in.nr_blocks; i++) {
        RAMBlock *rb = pc_in.blocks[i].rb;
        struct uffdio_range r = {
            .start = (uintptr_t)rb->host, .len = rb->used_length,
        };

        ioctl(pc_in.uffd, UFFDIO_UNREGISTER, &r);
    }
}

/* ---- recovery (docs/devel/migration/postcopy.md "Recovery") ---- */

/*
 * Listen thread: the main stream broke (@err says how) after the guest
 * started here.  Go postcopy-paused: the guest runs on, vCPUs that touch
 * a missing page wait in the kernel (RAM stays registered, the fault
 * thread keeps what it asked for), until migrate-recover brings a new
 * channel.  True with pc_in.from_src replaced; false (nothing changed)
 * when recovery is not possible or the process exits.
 */
static bool pc_pause(Error *err)
{
    MigrationIncomingState *mis = migration_incoming_get_current();
    int state = __atomic_load_n(&mis->state, __ATOMIC_SEQ_CST);
    QEMUFile *old = pc_in.from_src;

    if (postcopy_incoming_state() != POSTCOPY_INCOMING_RUNNING ||
        (state != MIGRATION_STATUS_POSTCOPY_ACTIVE &&
         state != MIGRATION_STATUS_POSTCOPY_RECOVER_SETUP &&
         state != MIGRATION_STATUS_POSTCOPY_RECOVER)) {
        return false;
    }
    g_mutex_lock(&pc_in.pause_lock);
    if (pc_in.pause_exit) {
        g_mutex_unlock(&pc_in.pause_lock);
        return false;
    }
    pc_in.paused = true;
    g_mutex_unlock(&pc_in.pause_lock);
    trace_postcopy_incoming_pause(error_get_pretty(err));
    error_report("postcopy paused on the destination: %s",
                 error_get_pretty(err));
    migration_incoming_rp_drop(mis);
    qemu_file_shutdown(old);
    /* Both channels go before "paused": recovery brings a new pair. */
    postcopy_preempt_incoming_cleanup();
    migrate_set_state(&mis->state, state, MIGRATION_STATUS_POSTCOPY_PAUSED);

    g_mutex_lock(&pc_in.pause_lock);
    while (!pc_in.new_main && !pc_in.pause_exit) {
        g_cond_wait(&pc_in.pause_cond, &pc_in.pause_lock);
    }
    pc_in.paused = false;
    if (!pc_in.new_main) {
        g_mutex_unlock(&pc_in.pause_lock);
        return false;
    }
    pc_in.from_src = pc_in.new_main;
    pc_in.new_main = NULL;
    g_mutex_unlock(&pc_in.pause_lock);
    qemu_loadvm_switch_main_file(pc_in.from_src);
    /* The main thread swapped mis->from_src_file: nobody else has it. */
    qemu_fclose(old);
    trace_postcopy_incoming_recover_channel();
    return true;
}

bool postcopy_incoming_recover_channel(QEMUFile *f, Error **errp)
{
    bool ok;

    g_mutex_lock(&pc_in.pause_lock);
    ok = pc_in.paused && !pc_in.new_main && !pc_in.pause_exit;
    if (ok) {
        pc_in.new_main = f;
        g_cond_signal(&pc_in.pause_cond);
    } else {
        error_setg(errp, "The postcopy listen thread is not paused");
    }
    g_mutex_unlock(&pc_in.pause_lock);
    return ok;
}

void postcopy_incoming_release_vcpus(void)
{
    PostcopyIncomingState st = postcopy_incoming_state();

    /*
     * Unregistering wakes every thread blocked on a missing page; the
     * fd stays open for the threads still using it.
     */
    if (pc_in.uffd >= 0 && st >= POSTCOPY_INCOMING_LISTENING &&
        st < POSTCOPY_INCOMING_END) {
        pc_unregister_ram();
    }
}

void postcopy_incoming_pause_exit(void)
{
    g_mutex_lock(&pc_in.pause_lock);
    pc_in.pause_exit = true;
    g_cond_signal(&pc_in.pause_cond);
    g_mutex_unlock(&pc_in.pause_lock);
}

static bool pc_check_recovering(const char *what, Error **errp)
{
    MigrationIncomingState *mis = migration_incoming_get_current();
    int state = __atomic_load_n(&mis->state, __ATOMIC_SEQ_CST);

    if (state != MIGRATION_STATUS_POSTCOPY_RECOVER) {
        error_setg(errp, "%s in migration state %s (expected "
                   "postcopy-recover)", what, migration_status_name(state));
        return false;
    }
    return true;
}

bool postcopy_incoming_recv_bitmap(QEMUFile *f, uint16_t len, Error **errp)
{
    MigrationIncomingState *mis = migration_incoming_get_current();
    uint8_t buf[256];
    char name[256];
    RAMBlock *rb;
    PostcopyBlock *b;
    g_autofree uint8_t *bitmap = NULL;
    size_t bitmap_len;

    if (len > sizeof(buf)) {
        error_setg(errp, "CMD_RECV_BITMAP with a %u-byte payload (at most "
                   "%zu)", len, sizeof(buf));
        return false;
    }
    if (qemu_get_buffer(f, buf, len) != len) {
        if (!qemu_file_get_error_obj(f, errp)) {
            error_setg(errp, "CMD_RECV_BITMAP is truncated");
        }
        return false;
    }
    if (!postcopy_recv_bitmap_parse_name(buf, len, "CMD_RECV_BITMAP", name,
                                         errp) ||
        !pc_check_recovering("CMD_RECV_BITMAP", errp)) {
        return false;
    }
    rb = ram_block_by_name(name);
    b = rb ? pc_block(rb) : NULL;
    if (!b) {
        error_setg(errp, "CMD_RECV_BITMAP names unknown RAM block '%s'", name);
        return false;
    }
    bitmap = postcopy_recv_bitmap_encode(b->received,
                                         rb->used_length >> TARGET_PAGE_BITS,
                                         &bitmap_len);
    return migration_incoming_rp_recv_bitmap(mis, name, bitmap, bitmap_len,
                                             errp);
}

/*
 * After RESUME_ACK: ask again for every page asked for and not here yet
 * (requests sent on the broken path may be lost).  The requested bitmaps
 * are the fault thread's; a bit it sets while this runs belongs to a
 * request it sends itself on the new path (rp_mutex orders the two).
 */
static uint64_t pc_resend_requests(MigrationIncomingState *mis)
{
    uint64_t n = 0;

    for (guint i = 0; i < pc_in.nr_blocks; i++) {
        PostcopyBlock *b = &pc_in.blocks[i];
        uint64_t pages = b->rb->used_length >> TARGET_PAGE_BITS;

        for (uint64_t p = 0; p < pages; p++) {
            /* A word at a time: most of the bitmap is zero. */
            if (p % BITS_PER_LONG == 0 &&
                !__atomic_load_n(&b->requested[BIT_WORD(p)],
                                 __ATOMIC_RELAXED)) {
                p += BITS_PER_LONG - 1;
                continue;
            }
            if (test_bit_atomic(p, b->requested) &&
                !test_bit_atomic(p, b->received)) {
                /* Set on a host page's first target page only. */
                migration_incoming_rp_req_pages(mis, b->rb->idstr,
                                                p << TARGET_PAGE_BITS,
                                                b->rb->page_size);
                n++;
            }
        }
    }
    return n;
}

bool postcopy_incoming_resume(uint16_t len, Error **errp)
{
    MigrationIncomingState *mis = migration_incoming_get_current();

    if (len != 0) {
        error_setg(errp, "CMD_POSTCOPY_RESUME with a %u-byte payload "
                   "(expected none)", len);
        return false;
    }
    if (!pc_check_recovering("CMD_POSTCOPY_RESUME", errp) ||
        !postcopy_preempt_incoming_resume(errp)) {
        return false;
    }
    if (!migrate_set_state(&mis->state, MIGRATION_STATUS_POSTCOPY_RECOVER,
                           MIGRATION_STATUS_POSTCOPY_ACTIVE)) {
        error_setg(errp, "CMD_POSTCOPY_RESUME raced with a state change");
        return false;
    }
    if (!migration_incoming_rp_resume_ack(mis, errp)) {
        return false;
    }
    trace_postcopy_incoming_resume(pc_resend_requests(mis));
    return true;
}

/*
 * Why the listen thread's load failed.  A channel error (the stream's
 * sticky error: I/O error, EOF, a shutdown, migrate-pause) says nothing
 * about the state loaded so far: a new channel can carry on, so postcopy
 * pauses for recovery.  A content error (the file is fine, what it
 * carried was refused: a section or command not allowed after RUN, a bad
 * record, a failed check) would come again from the same source and
 * leaves the guest no safe way on: the migration fails and the guest is
 * stopped (incoming.c), never run on with half-loaded state.
 */
static bool pc_channel_broke(QEMUFile *f)
{
    return qemu_file_get_error(f) != 0;
}

static void *pc_listen_thread(void *opaque)
{
    Error *err = NULL;

    trace_postcopy_listen_thread(true);
    for (;;) {
        pc_in.listen_ok = qemu_loadvm_state_listen(pc_in.from_src, &err);
        if (pc_in.listen_ok) {
            break;
        }
        if (!pc_channel_broke(pc_in.from_src)) {
            trace_postcopy_listen_content_error(error_get_pretty(err));
            break;
        }
        if (!pc_pause(err)) {
            break;
        }
        error_free(err);
        err = NULL;
    }
    pc_in.listen_error = err;
    if (!pc_in.listen_ok) {
        __atomic_store_n(&pc_in.listen_failed, true, __ATOMIC_SEQ_CST);
        /*
         * The incoming thread may still wait in the package for pages
         * that will never come: wake it the way a closed stream would.
         */
        qemu_file_shutdown(pc_in.from_src);
    }
    trace_postcopy_listen_thread(false);
    return NULL;
}

bool postcopy_incoming_listen(QEMUFile *main, uint16_t len, Error **errp)
{
    PostcopyIncomingState st = postcopy_incoming_state();
    MigrationIncomingState *mis = migration_incoming_get_current();

    if (len != 0) {
        error_setg(errp, "CMD_POSTCOPY_LISTEN with a %u-byte payload "
                   "(expected none)", len);
        return false;
    }
    if (st != POSTCOPY_INCOMING_ADVISE && st != POSTCOPY_INCOMING_DISCARD) {
        error_setg(errp, "CMD_POSTCOPY_LISTEN in wrong postcopy state (%d)",
                   st);
        return false;
    }
    g_mutex_lock(&mis->rp_mutex);
    if (!mis->to_src_file) {
        g_mutex_unlock(&mis->rp_mutex);
        error_setg(errp, "Postcopy needs the return path, but the source "
                   "did not open it");
        return false;
    }
    g_mutex_unlock(&mis->rp_mutex);
    pc_in.quit_fd = eventfd(0, EFD_CLOEXEC);
    if (pc_in.quit_fd < 0) {
        error_setg_errno(errp, errno, "Postcopy: cannot create an eventfd");
        return false;
    }
    if (!pc_register_ram(errp)) {
        return false;
    }
    ram_postcopy_incoming_start();
    postcopy_blocktime_setup();
    pc_set_state(POSTCOPY_INCOMING_LISTENING);
    /* QEMU's destination reports postcopy-active from LISTEN on. */
    migrate_set_state(&mis->state, MIGRATION_STATUS_ACTIVE,
                      MIGRATION_STATUS_POSTCOPY_ACTIVE);
    pc_in.fault_thread_created = true;
    qemu_thread_create(&pc_in.fault_thread, "mig/dst/fault",
                       pc_fault_thread, NULL, QEMU_THREAD_JOINABLE);
    pc_in.from_src = main;
    pc_in.listen_thread_created = true;
    qemu_thread_create(&pc_in.listen_thread, "mig/dst/listen",
                       pc_listen_thread, NULL, QEMU_THREAD_JOINABLE);
    postcopy_preempt_incoming_start();
    return true;
}

/* Main thread, BQL: the guest runs here from now on. */
static void pc_run_bh(void *opaque)
{
    Error *err = NULL;

    trace_postcopy_run();
    runstate_set(RUN_STATE_PAUSED);
    if (runstate_get_autostart() && !vm_start(&err)) {
        error_report_err(err);
    }
}

bool postcopy_incoming_run(uint16_t len, Error **errp)
{
    if (len != 0) {
        error_setg(errp, "CMD_POSTCOPY_RUN with a %u-byte payload (expected "
                   "none)", len);
        return false;
    }
    if (postcopy_incoming_state() != POSTCOPY_INCOMING_LISTENING) {
        error_setg(errp, "CMD_POSTCOPY_RUN in wrong postcopy state (%d)",
                   postcopy_incoming_state());
        return false;
    }
    if (__atomic_load_n(&pc_in.listen_failed, __ATOMIC_SEQ_CST)) {
        /* Do not start a guest whose memory can no longer arrive. */
        error_setg(errp, "CMD_POSTCOPY_RUN after the main stream failed");
        return false;
    }
    __atomic_store_n(&pc_in.guest_ran, true, __ATOMIC_SEQ_CST);
    pc_set_state(POSTCOPY_INCOMING_RUNNING);
    main_loop_schedule(pc_run_bh, NULL);
    return true;
}

static void pc_stop_fault_thread(void)
{
    uint64_t one = 1;

    if (!pc_in.fault_thread_created) {
        return;
    }
    if (write(pc_in.quit_fd, &one, sizeof(one)) != sizeof(one)) {
        error_report("postcopy: cannot stop the fault thread: %s",
                     strerror(errno));
        return;
    }
    qemu_thread_join(&pc_in.fault_thread);
    pc_in.fault_thread_created = false;
}

bool postcopy_incoming_wait(Error **errp)
{
    if (!pc_in.listen_thread_created) {
        error_setg(errp, "Postcopy package ended without "
                   "CMD_POSTCOPY_LISTEN");
        return false;
    }
    qemu_thread_join(&pc_in.listen_thread);
    pc_in.listen_thread_created = false;
    pc_set_state(POSTCOPY_INCOMING_END);
    if (!pc_in.listen_ok) {
        error_propagate(errp, pc_in.listen_error);
        pc_in.listen_error = NULL;
        return false;
    }
    /* The source ended the preempt channel before the main stream. */
    if (!postcopy_preempt_incoming_wait(errp)) {
        return false;
    }
    postcopy_blocktime_finish();
    /* Every page is here: faults from now on are ordinary. */
    pc_unregister_ram();
    pc_stop_fault_thread();
    return true;
}

void postcopy_incoming_cleanup(void)
{
    if (pc_in.listen_thread_created) {
        qemu_file_shutdown(pc_in.from_src);
        qemu_thread_join(&pc_in.listen_thread);
        pc_in.listen_thread_created = false;
        error_free(pc_in.listen_error);
        pc_in.listen_error = NULL;
    }
    postcopy_preempt_incoming_cleanup();
    pc_stop_fault_thread();
    postcopy_blocktime_finish();
    if (pc_in.uffd >= 0) {
        /* Closing it wakes any thread still blocked on a missing page. */
        close(pc_in.uffd);
        pc_in.uffd = -1;
    }
    if (pc_in.quit_fd >= 0) {
        close(pc_in.quit_fd);
        pc_in.quit_fd = -1;
    }
    for (guint i = 0; i < pc_in.nr_blocks; i++) {
        g_free(pc_in.blocks[i].received);
        g_free(pc_in.blocks[i].requested);
    }
    g_free(pc_in.blocks);
    pc_in.blocks = NULL;
    pc_in.nr_blocks = 0;
    pc_in.from_src = NULL;
    __atomic_store_n(&pc_in.listen_failed, false, __ATOMIC_SEQ_CST);
    __atomic_store_n(&pc_in.guest_ran, false, __ATOMIC_SEQ_CST);
    g_mutex_lock(&pc_in.pause_lock);
    pc_in.pause_exit = false;
    pc_in.new_main = NULL;      /* mis->from_src_file: closed by its owner */
    g_mutex_unlock(&pc_in.pause_lock);
    pc_set_state(POSTCOPY_INCOMING_NONE);
}

/* ---- placing pages ---- */

bool postcopy_place_page(RAMBlock *rb, uint64_t offset, const void *data,
                         Error **errp)
{
    PostcopyBlock *b = pc_block(rb);
    uint64_t host = (uintptr_t)rb->host + offset;
    uint64_t first = offset >> TARGET_PAGE_BITS;
    int ret;

    if (!b || pc_in.uffd < 0) {
        error_setg(errp, "Postcopy page for RAM block '%s' before LISTEN",
                   rb->idstr);
        return false;
    }
    if (offset & (rb->page_size - 1) || (!data &&
                                         rb->page_size != TARGET_PAGE_SIZE)) {
        /* The callers assemble huge pages; this is a bug, not input. */
        error_setg(errp, "Postcopy: page 0x%" PRIx64 " of RAM block '%s' is "
                   "not a whole %zu-byte host page", offset, rb->idstr,
                   rb->page_size);
        return false;
    }
    if (data) {
        /* hugetlbfs has no UFFDIO_ZEROPAGE: zero huge pages come here. */
        struct uffdio_copy c = {
            .dst = host, .src = (uintptr_t)data, .len = rb->page_size,
        };

        ret = ioctl(pc_in.uffd, UFFDIO_COPY, &c);
    } else {
        struct uffdio_zeropage z = {
            .range = { .start = host, .len = TARGET_PAGE_SIZE },
        };

        ret = ioctl(pc_in.uffd, UFFDIO_ZEROPAGE, &z);
    }
    if (ret < 0 && errno != EEXIST) {
        error_setg_errno(errp, errno, "Postcopy: placing page 0x%" PRIx64
                         " of RAM block '%s' failed", offset, rb->idstr);
        return false;
    }
    for (uint64_t i = 0; i < rb->page_size >> TARGET_PAGE_BITS; i++) {
        set_bit_atomic(first + i, b->received);
    }
    postcopy_blocktime_placed(host);
    trace_postcopy_place_page(rb->idstr, offset, data == NULL);
    return true;
}
