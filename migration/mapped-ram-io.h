/*
 * mapped-ram with multifd: channel threads doing positional I/O on the
 * migration file (docs/devel/migration/mapped-ram.md).
 *
 * QEMU's mapped-ram multifd channels carry no packets: each channel
 * writes (source) or reads (destination) pages at their fixed offsets
 * in the same file.  Here one thread per channel takes batches of page
 * transfers from a shared queue; every channel has its own open file
 * description of the file (O_DIRECT with direct-io).  The thread that
 * queues (migration thread, or incoming thread) is the only caller of
 * this API; errors are sticky: the first one fails every later call.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_MAPPED_RAM_IO_H
#define MIGRATION_MAPPED_RAM_IO_H

#include "qapi/error.h"

/*
 * Start @n channels on the file open as @fd (reopened per channel for
 * writing or reading, with O_DIRECT when @direct: a file system that
 * refuses O_DIRECT fails here with a message saying so).  With @uring
 * each channel does its batches through its own io_uring; a kernel
 * that refuses rings fails here too.
 */
bool mapped_ram_io_start(int fd, unsigned int n, bool writing, bool direct,
                         bool uring, Error **errp);
bool mapped_ram_io_active(void);
/*
 * Queue a transfer of @len bytes between @host and file offset @pos
 * (with direct-io both must be aligned to the page size).
 */
bool mapped_ram_io_queue(void *host, size_t len, uint64_t pos, Error **errp);
/*
 * Destination: queue a read of @len bytes at file offset @pos into the
 * file @dst_fd at @dst_pos (shared fd-backed guest RAM), through the
 * channel's bounce buffer.
 */
bool mapped_ram_io_queue_to_fd(int dst_fd, uint64_t dst_pos, size_t len,
                               uint64_t pos, Error **errp);
/*
 * Source: queue a write of @len bytes at @ram_pos of the file @ram_fd
 * (shared fd-backed guest RAM) to file offset @pos, by sendfile (not
 * with direct-io: the caller queues by address then).
 */
bool mapped_ram_io_queue_from_fd(int ram_fd, uint64_t ram_pos, size_t len,
                                 uint64_t pos, Error **errp);
/* Hand over what is queued and wait until every transfer is done. */
bool mapped_ram_io_drain(Error **errp);
/* Stop and join the channels (after a drain, or to abandon the work). */
void mapped_ram_io_stop(void);

#endif
