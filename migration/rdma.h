/*
 * RDMA migration (rdma:HOST:PORT; docs/devel/migration/rdma.md).
 *
 * The main channel is a QIOChannel of kind "rdma" (rdma-channel.c): the
 * QEMUFile's bytes travel in QEMU_FILE control messages (SENDs), and RAM
 * pages travel by RDMA WRITE straight into the destination's guest RAM.
 * ram.c finds the connection through rdma_context_of() and brackets its
 * page walks with RAM_SAVE_FLAG_HOOK ... REGISTER_FINISHED, during which
 * the destination's incoming thread serves registration requests
 * (ram-load.c).
 *
 * Threads: connect/listen run as channel.c's transports (main thread,
 * BQL; connecting in a worker); the RAM hooks run in the thread that owns
 * the QEMUFile (the migration thread, the incoming thread).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_RDMA_H
#define MIGRATION_RDMA_H

#include "migration/channel.h"
#include "qemu/sockets.h"
#include "system/ramblock.h"

typedef struct RDMAContext RDMAContext;
typedef struct RDMAListener RDMAListener;
typedef struct QEMUFile QEMUFile;

/* ---- transport (channel.c) ---- */

/*
 * Is a provider there and does it have a device?  False with an error
 * saying which is missing; this is what makes "migrate rdma:..." fail at
 * once on a host without RDMA.
 */
bool rdma_transport_check(Error **errp);
/* Connect in a worker thread; @cb runs from the main loop, exactly once. */
void rdma_start_outgoing(const InetSocketAddress *addr,
                         MigrationConnectFunc cb, void *opaque);
/* Listen; each accepted connection goes to @cb from the main loop. */
RDMAListener *rdma_start_incoming(const InetSocketAddress *addr,
                                  MigrationAcceptFunc cb, void *opaque,
                                  Error **errp);
char *rdma_listener_uri(RDMAListener *l);
void rdma_listener_close(RDMAListener *l);

/* ---- RAM (ram.c, ram-load.c) ---- */

/* The RDMA connection under @f, or NULL when @f is not on one. */
RDMAContext *rdma_context_of(QEMUFile *f);

/*
 * Source, inside the RAM section's setup, after a HOOK record that was
 * flushed: exchange the block list (RAM_BLOCKS_REQUEST/RESULT) for the
 * blocks of ram_block_list(), pin everything with rdma-pin-all, and end
 * the hook (REGISTER_FINISHED).
 */
bool rdma_ram_setup(RDMAContext *r, Error **errp);
/*
 * Source, between a flushed HOOK record and rdma_ram_finish(): send page
 * @offset of @rb.  A zero page of a chunk never written in this migration
 * is skipped (the destination's copy reads as zero); anything else goes
 * by RDMA WRITE, merged with its neighbours within a chunk.  Returns 1
 * if written, 0 if skipped, -1 with @errp set.
 */
int rdma_ram_save_page(RDMAContext *r, RAMBlock *rb, uint64_t offset,
                       bool zero, Error **errp);
/* Source: every write posted has landed; REGISTER_FINISHED ends the hook. */
bool rdma_ram_finish(RDMAContext *r, Error **errp);
/*
 * Destination, at a HOOK record: serve control messages (block list,
 * registrations, COMPRESS) until REGISTER_FINISHED.  @blocks are the
 * source's RAM blocks in the order of its MEM_SIZE list.
 */
bool rdma_load_hook(RDMAContext *r, GPtrArray *blocks, Error **errp);

#endif
