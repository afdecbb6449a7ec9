/*
 * mapped-ram channel threads (see mapped-ram-io.h).
 *
 * A batch holds up to MRIO_BATCH transfers; the queuing thread fills one
 * and hands it over when it is full (in entries or bytes), or on a
 * drain.  Batches circulate between the free list and the to-do queue,
 * 2 per channel, so the queuing thread waits when all channels are busy
 * and never allocates per page.  A channel thread groups consecutive
 * entries whose file ranges touch into one preadv/pwritev
 * (mapped_ram_io_run: the one place a different I/O engine such as
 * io_uring would plug in).
 *
 * Locking: io->lock protects todo, free, busy, quit and err; io->cond
 * is broadcast on every change of them.  cur belongs to the queuing
 * thread; fds and threads are set before the threads start.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/sendfile.h>
#include <sys/uio.h>
#include "qemu/thread.h"
#include "mapped-ram-io.h"
#include "mapped-ram-io-internal.h"
#include "trace.h"

#define MRIO_MAX_CHANNELS 255

typedef struct MappedRamChannel {
    struct MappedRamIO *io;
    QemuThread thread;
    int fd;
    uint8_t *bounce;            /* MRIO_BOUNCE bytes, for file targets */
    /* With x-io-uring: the ring, used by the channel's thread only. */
    MappedRamUring *uring;
} MappedRamChannel;

typedef struct MappedRamIO {
    GMutex lock;
    GCond cond;
    GQueue todo;                /* lock: batches to do, oldest first */
    GQueue free;                /* lock: empty batches */
    unsigned int busy;          /* lock: batches being done */
    bool quit;                  /* lock */
    Error *err;                 /* lock: the first error */
    MappedRamBatch *cur;        /* the queuing thread's */
    bool writing;
    unsigned int nchan;         /* channels allocated */
    unsigned int nfds;          /* channels with an fd */
    unsigned int nthreads;      /* channels with a thread */
    MappedRamChannel *chan;
} MappedRamIO;

static MappedRamIO *mapped_ram_io;

bool mapped_ram_io_vec(int fd, bool writing, struct iovec *iov, int cnt,
                       uint64_t pos, Error **errp)
{
    while (cnt) {
        ssize_t n = writing ? pwritev(fd, iov, cnt, pos)
                            : preadv(fd, iov, cnt, pos);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            error_setg_errno(errp, errno, "mapped-ram: cannot %s the "
                             "migration file at offset %" PRIu64,
                             writing ? "write" : "read", pos);
            return false;
        }
        if (n == 0) {
            error_setg(errp, "mapped-ram: the migration file ends at offset "
                       "%" PRIu64 ", inside the RAM pages", pos);
            return false;
        }
        pos += n;
        while (cnt && (size_t)n >= iov->iov_len) {
            n -= iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt) {
            iov->iov_base = (uint8_t *)iov->iov_base + n;
            iov->iov_len -= n;
        }
    }
    return true;
}

/*
 * Read @len bytes at @pos of the migration file into @dst_fd at
 * @dst_pos, through @bounce: writing a fresh page of shared memory with
 * pwrite costs no page fault and no zeroing, reading into its mapping
 * does.
 */
bool mapped_ram_io_copy(int fd, uint8_t *bounce, size_t len, uint64_t pos,
                        int dst_fd, uint64_t dst_pos, Error **errp)
{
    while (len) {
        size_t n = MIN(len, MRIO_BOUNCE);
        struct iovec iov = { .iov_base = bounce, .iov_len = n };
        size_t done = 0;

        if (!mapped_ram_io_vec(fd, false, &iov, 1, pos, errp)) {
            return false;
        }
        while (done < n) {
            ssize_t w = pwrite(dst_fd, bounce + done, n - done,
                               dst_pos + done);

            if (w < 0 && errno == EINTR) {
                continue;
            }
            if (w <= 0) {
                error_setg_errno(errp, w < 0 ? errno : EIO, "mapped-ram: "
                                 "cannot write guest RAM at 0x%" PRIx64,
                                 dst_pos + done);
                return false;
            }
            done += w;
        }
        len -= n;
        pos += n;
        dst_pos += n;
    }
    return true;
}

/*
 * sendfile() writes at the channel's file position: the channel's own
 * open file description (mapped_ram_io_open), so no other thread moves it.
 */
bool mapped_ram_io_sendfile(int fd, uint64_t pos, int ram_fd,
                            uint64_t ram_pos, size_t len, Error **errp)
{
    off_t from = ram_pos;

    if (lseek(fd, pos, SEEK_SET) < 0) {
        error_setg_errno(errp, errno, "mapped-ram: cannot seek the migration "
                         "file to offset %" PRIu64, pos);
        return false;
    }
    while (len) {
        ssize_t n = sendfile(fd, ram_fd, &from, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            error_setg_errno(errp, n < 0 ? errno : EIO, "mapped-ram: cannot "
                             "write the migration file at offset %" PRIu64,
                             pos + (from - ram_pos));
            return false;
        }
        len -= n;
    }
    return true;
}

/* One entry whose RAM side is a file: sent from it, or read into it. */
static bool mapped_ram_io_fd_entry(MappedRamChannel *c, bool writing,
                                   MappedRamBatch *b, unsigned int i,
                                   Error **errp)
{
    if (writing) {
        return mapped_ram_io_sendfile(c->fd, b->pos[i], b->dst_fd[i],
                                      b->dst_pos[i], b->iov[i].iov_len, errp);
    }
    return mapped_ram_io_copy(c->fd, c->bounce, b->iov[i].iov_len, b->pos[i],
                              b->dst_fd[i], b->dst_pos[i], errp);
}

/* Do batch @b: runs of entries contiguous in the file go as one call. */
static bool mapped_ram_io_run(MappedRamChannel *c, bool writing,
                              MappedRamBatch *b, Error **errp)
{
    unsigned int i = 0;
    int fd = c->fd;

    if (c->uring) {
        return mapped_ram_uring_run(c->uring, fd, writing, b, c->bounce,
                                    errp);
    }
    while (i < b->n) {
        unsigned int j = i + 1;
        uint64_t end = b->pos[i] + b->iov[i].iov_len;

        if (b->dst_fd[i] >= 0) {
            if (!mapped_ram_io_fd_entry(c, writing, b, i, errp)) {
                return false;
            }
            i++;
            continue;
        }
        while (j < b->n && j - i < IOV_MAX && b->pos[j] == end &&
               b->dst_fd[j] < 0) {
            end += b->iov[j].iov_len;
            j++;
        }
        trace_mapped_ram_io_run(writing, b->pos[i], end - b->pos[i]);
        if (!mapped_ram_io_vec(fd, writing, &b->iov[i], j - i, b->pos[i],
                               errp)) {
            return false;
        }
        i = j;
    }
    return true;
}

static void *mapped_ram_io_thread(void *opaque)
{
    MappedRamChannel *c = opaque;
    MappedRamIO *io = c->io;

    g_mutex_lock(&io->lock);
    for (;;) {
        MappedRamBatch *b;
        Error *err = NULL;
        bool failed;
        bool ok;

        while (!io->quit && g_queue_is_empty(&io->todo)) {
            g_cond_wait(&io->cond, &io->lock);
        }
        if (io->quit) {
            break;
        }
        b = g_queue_pop_head(&io->todo);
        io->busy++;
        failed = io->err;
        g_mutex_unlock(&io->lock);
        /* After an error the rest is dropped: the migration fails. */
        ok = failed || mapped_ram_io_run(c, io->writing, b, &err);
        g_mutex_lock(&io->lock);
        if (!ok && !io->err) {
            io->err = err;
        } else {
            error_free(err);
        }
        b->n = 0;
        b->bytes = 0;
        g_queue_push_tail(&io->free, b);
        io->busy--;
        g_cond_broadcast(&io->cond);
    }
    g_mutex_unlock(&io->lock);
    return NULL;
}

/* The channel's own open file description of the file behind @fd. */
static int mapped_ram_io_open(int fd, bool writing, bool direct, Error **errp)
{
    g_autofree char *proc = g_strdup_printf("/proc/self/fd/%d", fd);
    g_autofree char *path = g_file_read_link(proc, NULL);
    int flags = (writing ? O_WRONLY : O_RDONLY) | O_CLOEXEC |
                (direct ? O_DIRECT : 0);
    int nfd = open(proc, flags);

    if (nfd < 0 && direct && errno == EINVAL) {
        error_setg(errp, "direct-io: the file system of the migration file "
                   "'%s' does not support O_DIRECT", path ? path : proc);
        return -1;
    }
    if (nfd < 0) {
        error_setg_errno(errp, errno, "mapped-ram: cannot open the "
                         "migration file '%s' for a channel",
                         path ? path : proc);
    }
    return nfd;
}

bool mapped_ram_io_active(void)
{
    return mapped_ram_io;
}

bool mapped_ram_io_start(int fd, unsigned int n, bool writing, bool direct,
                         bool uring, Error **errp)
{
    MappedRamIO *io;

    assert(!mapped_ram_io && n >= 1 && n <= MRIO_MAX_CHANNELS);
    io = g_new0(MappedRamIO, 1);
    g_mutex_init(&io->lock);
    g_cond_init(&io->cond);
    g_queue_init(&io->todo);
    g_queue_init(&io->free);
    io->writing = writing;
    io->chan = g_new0(MappedRamChannel, n);
    io->nchan = n;
    for (unsigned int i = 0; i < n; i++) {
        io->chan[i].io = io;
        /* Aligned: with direct-io the channel reads into it. */
        io->chan[i].bounce = writing ? NULL
                                     : g_aligned_alloc(1, MRIO_BOUNCE, 4096);
        io->chan[i].fd = mapped_ram_io_open(fd, writing, direct, errp);
        if (io->chan[i].fd >= 0 && uring) {
            io->chan[i].uring = mapped_ram_uring_new(errp);
            if (!io->chan[i].uring) {
                error_prepend(errp, "x-io-uring: ");
                close(io->chan[i].fd);
                io->chan[i].fd = -1;
            }
        }
        if (io->chan[i].fd < 0) {
            mapped_ram_io = io;
            mapped_ram_io_stop();
            return false;
        }
        io->nfds = i + 1;
    }
    for (unsigned int i = 0; i < 2 * n; i++) {
        g_queue_push_tail(&io->free, g_new0(MappedRamBatch, 1));
    }
    for (unsigned int i = 0; i < n; i++) {
        g_autofree char *name = g_strdup_printf("mig/%s/mapped_%u",
                                                writing ? "src" : "dst", i);

        qemu_thread_create(&io->chan[i].thread, name, mapped_ram_io_thread,
                           &io->chan[i], QEMU_THREAD_JOINABLE);
        io->nthreads = i + 1;
    }
    mapped_ram_io = io;
    trace_mapped_ram_io_start(n, writing, direct, uring);
    return true;
}

/* Called with the lock held: the first error, copied to @errp. */
static bool mapped_ram_io_check(MappedRamIO *io, Error **errp)
{
    if (io->err) {
        error_propagate(errp, error_copy(io->err));
        return false;
    }
    return true;
}

/* Hand the current batch over, if it has anything. */
static void mapped_ram_io_submit(MappedRamIO *io)
{
    if (!io->cur || !io->cur->n) {
        return;
    }
    g_mutex_lock(&io->lock);
    g_queue_push_tail(&io->todo, io->cur);
    io->cur = NULL;
    g_cond_broadcast(&io->cond);
    g_mutex_unlock(&io->lock);
}

/* Append one entry to the queuing thread's batch (taking a free one). */
static bool mapped_ram_io_add(void *host, int dst_fd, uint64_t dst_pos,
                              size_t len, uint64_t pos, Error **errp)
{
    MappedRamIO *io = mapped_ram_io;
    MappedRamBatch *b;
    bool ok = true;

    if (!io->cur) {
        g_mutex_lock(&io->lock);
        while (!io->err && g_queue_is_empty(&io->free)) {
            g_cond_wait(&io->cond, &io->lock);
        }
        ok = mapped_ram_io_check(io, errp);
        io->cur = ok ? g_queue_pop_head(&io->free) : NULL;
        g_mutex_unlock(&io->lock);
        if (!ok) {
            return false;
        }
    }
    b = io->cur;
    if (b->n && dst_fd >= 0 && b->dst_fd[b->n - 1] == dst_fd &&
        b->pos[b->n - 1] + b->iov[b->n - 1].iov_len == pos &&
        b->dst_pos[b->n - 1] + b->iov[b->n - 1].iov_len == dst_pos) {
        /* Contiguous on both sides: one sendfile or copy for both. */
        b->iov[b->n - 1].iov_len += len;
        b->bytes += len;
        goto added;
    }
    b->iov[b->n] = (struct iovec){ .iov_base = host, .iov_len = len };
    b->pos[b->n] = pos;
    b->dst_fd[b->n] = dst_fd;
    b->dst_pos[b->n] = dst_pos;
    b->n++;
    b->bytes += len;
added:
    if (b->n == MRIO_BATCH || b->bytes >= MRIO_BATCH_BYTES) {
        mapped_ram_io_submit(io);
    }
    return true;
}

bool mapped_ram_io_queue(void *host, size_t len, uint64_t pos, Error **errp)
{
    return mapped_ram_io_add(host, -1, 0, len, pos, errp);
}

bool mapped_ram_io_queue_to_fd(int dst_fd, uint64_t dst_pos, size_t len,
                               uint64_t pos, Error **errp)
{
    assert(!mapped_ram_io->writing);
    return mapped_ram_io_add(NULL, dst_fd, dst_pos, len, pos, errp);
}

bool mapped_ram_io_queue_from_fd(int ram_fd, uint64_t ram_pos, size_t len,
                                 uint64_t pos, Error **errp)
{
    assert(mapped_ram_io->writing);
    return mapped_ram_io_add(NULL, ram_fd, ram_pos, len, pos, errp);
}

bool mapped_ram_io_drain(Error **errp)
{
    MappedRamIO *io = mapped_ram_io;
    bool ok;

    mapped_ram_io_submit(io);
    g_mutex_lock(&io->lock);
    while (!g_queue_is_empty(&io->todo) || io->busy) {
        g_cond_wait(&io->cond, &io->lock);
    }
    ok = mapped_ram_io_check(io, errp);
    g_mutex_unlock(&io->lock);
    return ok;
}

void mapped_ram_io_stop(void)
{
    MappedRamIO *io = mapped_ram_io;

    if (!io) {
        return;
    }
    mapped_ram_io = NULL;
    g_mutex_lock(&io->lock);
    io->quit = true;
    g_cond_broadcast(&io->cond);
    g_mutex_unlock(&io->lock);
    for (unsigned int i = 0; i < io->nthreads; i++) {
        qemu_thread_join(&io->chan[i].thread);
    }
    g_queue_clear_full(&io->todo, g_free);
    g_queue_clear_full(&io->free, g_free);
    g_free(io->cur);
    for (unsigned int i = 0; i < io->nfds; i++) {
        close(io->chan[i].fd);
        mapped_ram_uring_free(io->chan[i].uring);
    }
    for (unsigned int i = 0; i < io->nchan; i++) {
        g_aligned_free(io->chan[i].bounce);
    }
    error_free(io->err);
    g_mutex_clear(&io->lock);
    g_cond_clear(&io->cond);
    g_free(io->chan);
    g_free(io);
}
