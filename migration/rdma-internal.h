/*
 * RDMA migration internals shared by rdma.c (the control channel and the
 * RAM protocol), rdma-channel.c (the QIOChannel kind, connect, listen)
 * and rdma-provider.c (which provider).  The wire layout is described in
 * docs/devel/migration/rdma.md.
 *
 * Threading: an RDMAContext is used by one thread at a time, the owner
 * of the QEMUFile on it (migration thread on the source, incoming thread
 * on the destination); only rdma_context_shutdown() may run in another
 * thread, concurrently (cancel).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_RDMA_INTERNAL_H
#define MIGRATION_RDMA_INTERNAL_H

#include "rdma.h"
#include "rdma-provider.h"

/* Control message types: QEMU's numbering. */
enum {
    RDMA_CONTROL_NONE = 0,
    RDMA_CONTROL_ERROR,
    RDMA_CONTROL_READY,                 /* credits only */
    RDMA_CONTROL_QEMU_FILE,             /* bytes of the QEMUFile stream */
    RDMA_CONTROL_RAM_BLOCKS_REQUEST,
    RDMA_CONTROL_RAM_BLOCKS_RESULT,
    RDMA_CONTROL_COMPRESS,              /* fill a range with one byte */
    RDMA_CONTROL_REGISTER_REQUEST,
    RDMA_CONTROL_REGISTER_RESULT,
    RDMA_CONTROL_REGISTER_FINISHED,
    RDMA_CONTROL_UNREGISTER_REQUEST,
    RDMA_CONTROL_UNREGISTER_FINISHED,
    RDMA_CONTROL__MAX,
};

/* Connection private data: version and capability flags (be32 each). */
#define RDMA_CONTROL_VERSION_CURRENT 1
#define RDMA_CAPABILITY_PIN_ALL 0x01
#define RDMA_CAPS_SIZE 8

/* Every control message starts with len, type, repeat, credits (be32). */
#define RDMA_HEADER_SIZE 16
#define RDMA_CONTROL_BUF_SIZE (64 * 1024)
#define RDMA_CONTROL_MAX_PAYLOAD (RDMA_CONTROL_BUF_SIZE - RDMA_HEADER_SIZE)
/* Receive buffers posted on each side; the peer's credits. */
#define RDMA_CONTROL_DEPTH 16
/* A READY goes back once this many credits are owed and nothing else. */
#define RDMA_CREDIT_RETURN (RDMA_CONTROL_DEPTH / 2)
/* Registration unit, QEMU's: 1 MiB of a block. */
#define RDMA_CHUNK_SHIFT 20
#define RDMA_CHUNK_SIZE (1ULL << RDMA_CHUNK_SHIFT)
/* RDMA WRITEs in flight before the source waits for completions. */
#define RDMA_MAX_WRITES 64

/* Payload entry sizes (all fields big-endian). */
#define RDMA_REGISTER_SIZE 24       /* chunk u64, block u32, pad, chunks u64 */
#define RDMA_REGISTER_RESULT_SIZE 16    /* rkey u32, pad, host_addr u64 */
#define RDMA_REMOTE_BLOCK_SIZE 32   /* host_addr, offset, length, rkey, pad */
#define RDMA_COMPRESS_SIZE 24       /* value u32, block u32, offset, length */

/* One RAM block as both sides see it after RAM_BLOCKS_RESULT. */
typedef struct RDMABlock {
    RAMBlock *rb;
    uint8_t *host;
    uint64_t length;
    uint64_t nchunks;
    /* Local registrations: per chunk, or [0] for the block (pin-all). */
    QemuRdmaMr **mr;
    uint32_t *lkey;
    uint32_t *rkey_local;       /* destination: the rkey handed out */
    /* Source: where the destination's copy is, per chunk (0: unknown). */
    uint64_t remote_host;       /* pin-all: the block's address */
    uint32_t remote_rkey;       /* pin-all: the block's rkey */
    uint64_t *remote_addr;
    uint32_t *remote_rkeys;
    unsigned long *written;     /* source: chunks written by WRITE */
} RDMABlock;

struct RDMAContext {
    const QemuRdmaProvider *ops;
    QemuRdmaConn *conn;
    bool source;
    bool pin_all;               /* agreed at connect */
    char *peer;                 /* "HOST:PORT", for messages */
    bool shut;                  /* atomic: rdma_context_shutdown() ran */
    bool broken;                /* a failure was seen; no more I/O */

    /* Control channel: registered send and receive buffers. */
    uint8_t *send_buf;          /* RDMA_CONTROL_DEPTH slots */
    QemuRdmaMr *send_mr;
    uint32_t send_lkey;
    bool send_busy[RDMA_CONTROL_DEPTH];
    uint8_t *recv_buf;
    QemuRdmaMr *recv_mr;
    uint32_t recv_lkey;
    int credits;                /* SENDs the peer has buffers for */
    int owed;                   /* buffers reposted, not yet told */
    /* Received, not yet consumed: slot and length, FIFO. */
    uint32_t ready_slot[RDMA_CONTROL_DEPTH];
    uint32_t ready_len[RDMA_CONTROL_DEPTH];
    unsigned int ready_head, ready_count;
    /* The QEMU_FILE message being read (destination's channel). */
    int cur_slot;               /* -1: none */
    uint32_t cur_off, cur_len;

    /* RAM. */
    int writes_in_flight;
    RDMABlock *blocks;
    guint nblocks;
    bool blocks_ready;
    struct {
        RDMABlock *b;           /* NULL: nothing pending */
        uint64_t offset, len;
    } pending;
    uint64_t bytes_written;     /* statistics */
};

/* rdma.c: the context and its control channel. */
RDMAContext *rdma_context_new(const QemuRdmaProvider *ops,
                              QemuRdmaConn *conn, bool source, bool pin_all,
                              const char *peer, Error **errp);
void rdma_context_free(RDMAContext *r);
void rdma_context_shutdown(RDMAContext *r);
/* Wait until every SEND and WRITE posted has completed (bounded). */
void rdma_context_drain(RDMAContext *r);
/* A send slot for a message; fill RDMA_CONTROL_MAX_PAYLOAD at most. */
uint8_t *rdma_send_begin(RDMAContext *r, int *slot, Error **errp);
bool rdma_send_commit(RDMAContext *r, int slot, uint32_t type,
                      uint32_t repeat, uint32_t len, Error **errp);
/*
 * The next received message (@want: its required type, or
 * RDMA_CONTROL_NONE for any): *@slot, its type, repeat and payload.
 * rdma_recv_release() gives the buffer back.
 */
bool rdma_recv_next(RDMAContext *r, uint32_t want, int *slot,
                    uint32_t *type, uint32_t *repeat, const uint8_t **data,
                    uint32_t *len, Error **errp);
bool rdma_recv_release(RDMAContext *r, int slot, Error **errp);
const char *rdma_control_name(uint32_t type);

/* rdma-provider-verbs.c (CONFIG_RDMA). */
extern const QemuRdmaProvider qemu_rdma_provider_verbs;

/* rdma-provider.c: the provider of this process, or NULL and why. */
const QemuRdmaProvider *rdma_provider_get(Error **errp);
/* Message of @e with @what prepended, into @errp. */
void rdma_error_set(Error **errp, const QemuRdmaError *e, const char *what);

/* rdma-channel.c: the channel that owns @r. */
QIOChannel *qio_channel_rdma_new(RDMAContext *r);

#endif
