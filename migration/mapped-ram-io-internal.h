/*
 * mapped-ram channels: what the thread engine (mapped-ram-io.c) and the
 * io_uring engine (mapped-ram-uring.c) share.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_MAPPED_RAM_IO_INTERNAL_H
#define MIGRATION_MAPPED_RAM_IO_INTERNAL_H

#include <sys/uio.h>
#include "qapi/error.h"

#define MRIO_BATCH 128
#define MRIO_BATCH_BYTES (512 * 1024)
#define MRIO_BOUNCE (1024 * 1024)

/*
 * Up to MRIO_BATCH transfers that one channel thread does at once.
 * Owned by the queuing thread while it fills it, by one channel thread
 * while it is done, then back on the free list (see mapped-ram-io.c).
 */
typedef struct MappedRamBatch {
    struct iovec iov[MRIO_BATCH];
    uint64_t pos[MRIO_BATCH];
    /*
     * The guest RAM side as a file instead of memory: its fd (else -1)
     * and offset; the destination reads into it, the source sends from
     * it (sendfile: no page fault, no copy through user space).
     */
    int dst_fd[MRIO_BATCH];
    uint64_t dst_pos[MRIO_BATCH];
    unsigned int n;
    size_t bytes;
} MappedRamBatch;

/* One positional transfer of @cnt iovecs at @pos; short ones resumed. */
bool mapped_ram_io_vec(int fd, bool writing, struct iovec *iov, int cnt,
                       uint64_t pos, Error **errp);
/* Send @len bytes at @ram_pos of @ram_fd to @fd at @pos (sendfile). */
bool mapped_ram_io_sendfile(int fd, uint64_t pos, int ram_fd,
                            uint64_t ram_pos, size_t len, Error **errp);
/* Read @len bytes at @pos of @fd into @dst_fd at @dst_pos via @bounce. */
bool mapped_ram_io_copy(int fd, uint8_t *bounce, size_t len, uint64_t pos,
                        int dst_fd, uint64_t dst_pos, Error **errp);

typedef struct MappedRamUring MappedRamUring;

/*
 * A ring for one channel: made by the thread that starts the channels,
 * then used by the channel's thread only.  NULL (and @errp set) where
 * io_uring cannot be used, and always without CONFIG_LINUX_IO_URING.
 */
MappedRamUring *mapped_ram_uring_new(Error **errp);
void mapped_ram_uring_free(MappedRamUring *r);
/*
 * Do batch @b on @fd with several transfers in flight; @bounce
 * (MRIO_BOUNCE bytes) stages the reads into files.  A transfer the
 * ring completes short or with an error is redone with plain syscalls,
 * which finish it or report its error.
 */
bool mapped_ram_uring_run(MappedRamUring *r, int fd, bool writing,
                          MappedRamBatch *b, uint8_t *bounce, Error **errp);

#endif
