/*
 * mapped-ram channels on io_uring (the x-io-uring parameter; see
 * docs/devel/migration/mapped-ram.md "I/O engines" for when it pays).
 *
 * The thread engine does a batch one syscall at a time; here a channel
 * thread puts the whole batch in its ring and waits for all of it: each
 * run of entries contiguous in the file is one READV/WRITEV, and a read
 * into a file (fd-backed guest RAM) is split into pieces, each a READ
 * into its own part of the bounce buffer linked to the WRITE that
 * copies it on, so that several pieces are in flight at once.  A batch
 * bigger than the ring or the bounce goes in waves.
 *
 * Errors: the ring only says how many bytes each operation moved.  An
 * operation that moved fewer than asked (a short transfer, an error, a
 * write cancelled because its read was short) is redone from its start
 * with the plain syscalls of mapped-ram-io.c after the wave, which
 * either finish it or fail with the errno and offset in the message.
 * Positional transfers of the same bytes are idempotent, so a redo
 * never corrupts what the ring already did.
 *
 * Threads: the thread starting the channels makes a ring per channel;
 * from then on only that channel's thread uses it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "config-host.h"
#include "mapped-ram-io-internal.h"
#include "trace.h"

#ifdef CONFIG_LINUX_IO_URING
#include <liburing.h>

#define MRU_DEPTH 64
/* A piece of a read into a file: what one READ+WRITE pair moves. */
#define MRU_PIECE (256 * 1024)

typedef struct MappedRamUringOp {
    struct iovec *iov;          /* readv/writev: the batch's iovecs */
    int cnt;                    /* their number; 0 for a piece */
    uint64_t pos;               /* file offset */
    size_t len;                 /* bytes asked */
    uint8_t *buf;               /* a piece: its part of the bounce */
    int dst_fd;
    uint64_t dst_pos;
    bool failed;                /* moved fewer than @len bytes */
} MappedRamUringOp;

struct MappedRamUring {
    struct io_uring ring;
    MappedRamUringOp ops[MRU_DEPTH];
    unsigned int nops;
    size_t bounce_used;
};

MappedRamUring *mapped_ram_uring_new(Error **errp)
{
    MappedRamUring *r = g_new0(MappedRamUring, 1);
    /* A piece takes two entries, so the ring holds every op's SQEs. */
    int ret = io_uring_queue_init(2 * MRU_DEPTH, &r->ring, 0);

    if (ret < 0) {
        error_setg_errno(errp, -ret, "io_uring: cannot set up a ring");
        g_free(r);
        return NULL;
    }
    return r;
}

void mapped_ram_uring_free(MappedRamUring *r)
{
    if (r) {
        io_uring_queue_exit(&r->ring);
        g_free(r);
    }
}

static MappedRamUringOp *mapped_ram_uring_op(MappedRamUring *r)
{
    MappedRamUringOp *op = &r->ops[r->nops];

    *op = (MappedRamUringOp){ .dst_fd = -1 };
    return op;
}

/* Queue entries [i, j) of @b, contiguous in the file, as one op. */
static void mapped_ram_uring_vec_op(MappedRamUring *r, int fd, bool writing,
                                    MappedRamBatch *b, unsigned int i,
                                    unsigned int j)
{
    MappedRamUringOp *op = mapped_ram_uring_op(r);
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

    op->iov = &b->iov[i];
    op->cnt = j - i;
    op->pos = b->pos[i];
    for (unsigned int k = i; k < j; k++) {
        op->len += b->iov[k].iov_len;
    }
    if (writing) {
        io_uring_prep_writev(sqe, fd, op->iov, op->cnt, op->pos);
    } else {
        io_uring_prep_readv(sqe, fd, op->iov, op->cnt, op->pos);
    }
    io_uring_sqe_set_data64(sqe, r->nops++);
}

/* Queue a piece: READ into the bounce, linked to its WRITE into dst_fd. */
static void mapped_ram_uring_piece_op(MappedRamUring *r, int fd,
                                      uint8_t *bounce, size_t len,
                                      uint64_t pos, int dst_fd,
                                      uint64_t dst_pos)
{
    MappedRamUringOp *op = mapped_ram_uring_op(r);
    struct io_uring_sqe *rd = io_uring_get_sqe(&r->ring);
    struct io_uring_sqe *wr = io_uring_get_sqe(&r->ring);

    op->buf = bounce + r->bounce_used;
    op->len = len;
    op->pos = pos;
    op->dst_fd = dst_fd;
    op->dst_pos = dst_pos;
    r->bounce_used += len;
    io_uring_prep_read(rd, fd, op->buf, len, pos);
    rd->flags |= IOSQE_IO_LINK;
    io_uring_sqe_set_data64(rd, r->nops);
    io_uring_prep_write(wr, dst_fd, op->buf, len, dst_pos);
    io_uring_sqe_set_data64(wr, r->nops++);
}

/* Submit the wave, reap every completion, mark the short ops. */
static bool mapped_ram_uring_wait(MappedRamUring *r, unsigned int nsqes,
                                  Error **errp)
{
    int ret;

    do {
        ret = io_uring_submit_and_wait(&r->ring, nsqes);
    } while (ret == -EINTR);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "io_uring: cannot submit");
        return false;
    }
    while (nsqes) {
        struct io_uring_cqe *cqe;
        MappedRamUringOp *op;

        ret = io_uring_wait_cqe(&r->ring, &cqe);
        if (ret == -EINTR) {
            continue;
        }
        if (ret < 0) {
            error_setg_errno(errp, -ret, "io_uring: cannot reap");
            return false;
        }
        op = &r->ops[io_uring_cqe_get_data64(cqe)];
        if (cqe->res < 0 || (size_t)cqe->res != op->len) {
            op->failed = true;
        }
        io_uring_cqe_seen(&r->ring, cqe);
        nsqes--;
    }
    return true;
}

/* Redo the ops of the wave that the ring did not finish. */
static bool mapped_ram_uring_redo(MappedRamUring *r, int fd, bool writing,
                                  Error **errp)
{
    for (unsigned int i = 0; i < r->nops; i++) {
        MappedRamUringOp *op = &r->ops[i];

        if (!op->failed) {
            continue;
        }
        trace_mapped_ram_uring_redo(op->pos, op->len);
        if (op->cnt) {
            /* mapped_ram_io_vec advances the iovecs it is given. */
            g_autofree struct iovec *iov = g_memdup2(op->iov,
                                                     op->cnt * sizeof(*iov));

            if (!mapped_ram_io_vec(fd, writing, iov, op->cnt, op->pos,
                                   errp)) {
                return false;
            }
        } else if (!mapped_ram_io_copy(fd, op->buf, op->len, op->pos,
                                       op->dst_fd, op->dst_pos, errp)) {
            return false;
        }
    }
    return true;
}

/* Does the next op fit in this wave (entries, SQEs, bounce)? */
static bool mapped_ram_uring_room(MappedRamUring *r, size_t piece)
{
    return r->nops < MRU_DEPTH &&
           io_uring_sq_space_left(&r->ring) >= 2 &&
           r->bounce_used + piece <= MRIO_BOUNCE;
}

bool mapped_ram_uring_run(MappedRamUring *r, int fd, bool writing,
                          MappedRamBatch *b, uint8_t *bounce, Error **errp)
{
    unsigned int i = 0;
    size_t done = 0;            /* of entry i, when it is read into a file */

    while (i < b->n) {
        unsigned int nsqes = 0;

        r->nops = 0;
        r->bounce_used = 0;
        if (writing && b->dst_fd[i] >= 0) {
            /* sendfile has no ring operation without a pipe: do it here. */
            if (!mapped_ram_io_sendfile(fd, b->pos[i], b->dst_fd[i],
                                        b->dst_pos[i], b->iov[i].iov_len,
                                        errp)) {
                return false;
            }
            i++;
            continue;
        }
        while (i < b->n && b->dst_fd[i] >= 0) {
            size_t piece = MIN(b->iov[i].iov_len - done, MRU_PIECE);

            if (!mapped_ram_uring_room(r, piece)) {
                break;
            }
            mapped_ram_uring_piece_op(r, fd, bounce, piece, b->pos[i] + done,
                                      b->dst_fd[i], b->dst_pos[i] + done);
            nsqes += 2;
            done += piece;
            if (done == b->iov[i].iov_len) {
                i++;
                done = 0;
            }
        }
        while (i < b->n && b->dst_fd[i] < 0 && mapped_ram_uring_room(r, 0)) {
            unsigned int j = i + 1;
            uint64_t end = b->pos[i] + b->iov[i].iov_len;

            while (j < b->n && j - i < IOV_MAX && b->pos[j] == end &&
                   b->dst_fd[j] < 0) {
                end += b->iov[j].iov_len;
                j++;
            }
            mapped_ram_uring_vec_op(r, fd, writing, b, i, j);
            nsqes++;
            i = j;
        }
        trace_mapped_ram_uring_wave(writing, r->nops, nsqes);
        if (!mapped_ram_uring_wait(r, nsqes, errp) ||
            !mapped_ram_uring_redo(r, fd, writing, errp)) {
            return false;
        }
    }
    return true;
}

#else

MappedRamUring *mapped_ram_uring_new(Error **errp)
{
    error_setg(errp, "io_uring: this qmig was built without liburing");
    return NULL;
}

void mapped_ram_uring_free(MappedRamUring *r)
{
}

bool mapped_ram_uring_run(MappedRamUring *r, int fd, bool writing,
                          MappedRamBatch *b, uint8_t *bounce, Error **errp)
{
    g_assert_not_reached();
}

#endif
