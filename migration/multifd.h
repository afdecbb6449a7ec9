/*
 * multifd: RAM pages over several extra connections (QEMU's design).
 *
 * The source opens multifd-channels connections to the migration URI
 * after the main channel.  Each starts with a 64-byte init message
 * (magic, version, the source UUID, the channel id) and then carries
 * packets: a fixed-size header (flags, page counts, the RAMBlock name and
 * one be64 offset per page) followed by the data of the normal pages,
 * possibly compressed.  Zero pages travel as offsets only.
 *
 * Ordering: at every dirty bitmap sync the migration thread sends a SYNC
 * packet on every channel and RAM_SAVE_FLAG_MULTIFD_FLUSH on the main
 * stream; each destination channel stops after its SYNC packet until the
 * incoming thread, on reading the flush, has seen every channel reach its
 * SYNC.  So all pages of one round land before any page of the next.
 *
 * Threads: "mig/src/send_N" per channel on the source, "mig/dst/recv_N"
 * per channel on the destination.  The migration thread hands a batch of
 * pages to an idle send thread (MultiFDSendParams.mutex + sem); the
 * incoming thread meets the recv threads at sync points (semaphores).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_MULTIFD_H
#define MIGRATION_MULTIFD_H

#include "qapi/error.h"
#include "qemu/thread.h"
#include "system/ramblock.h"
#include "options.h"

typedef struct QEMUFile QEMUFile;
typedef struct QIOChannel QIOChannel;

#define MULTIFD_MAGIC 0x11223344U
#define MULTIFD_VERSION 1
#define MULTIFD_INIT_SIZE 64

#define MULTIFD_FLAG_SYNC (1 << 0)
#define MULTIFD_FLAG_COMPRESSION_MASK (3 << 1)
#define MULTIFD_FLAG_NOCOMP (0 << 1)
#define MULTIFD_FLAG_ZLIB (1 << 1)
#define MULTIFD_FLAG_ZSTD (2 << 1)
/*
 * A packet of device state (QEMU 10's flag value): the header names the
 * device (section idstr and instance id), the data is the device's own
 * buffer, never compressed.
 */
#define MULTIFD_FLAG_DEVICE_STATE (1 << 6)

/* Pages per packet: 512 KiB of data, as QEMU. */
#define MULTIFD_PACKET_SIZE (512 * 1024)
#define MULTIFD_PAGES_PER_PACKET (MULTIFD_PACKET_SIZE / TARGET_PAGE_SIZE)

/* Fixed part of the packet header, before the offsets (multifd-packet.c). */
#define MULTIFD_HDR_FIXED 320
#define MULTIFD_RAMBLOCK_NAME 256
#define MULTIFD_HDR_SIZE (MULTIFD_HDR_FIXED + 8 * MULTIFD_PAGES_PER_PACKET)
/* A compressed data part may exceed the raw pages a little. */
#define MULTIFD_MAX_DATA (2 * MULTIFD_PACKET_SIZE)

/* ---- Packet header (multifd-packet.c; pure code, unit tested) ---- */

typedef struct MultiFDPacketInfo {
    uint32_t flags;
    uint32_t pages_alloc;
    uint32_t normal_num;
    uint32_t zero_num;
    uint32_t next_packet_size;
    uint64_t packet_num;
    /* NUL-terminated; a device state packet: the section's idstr */
    char ramblock[MULTIFD_RAMBLOCK_NAME];
    uint32_t instance_id;       /* device state packets only */
    /* normal_num normal offsets, then zero_num zero offsets */
    uint64_t offset[MULTIFD_PAGES_PER_PACKET];
} MultiFDPacketInfo;

/* Write @info as a MULTIFD_HDR_SIZE header into @buf. */
void multifd_packet_encode(const MultiFDPacketInfo *info, uint8_t *buf);
/*
 * Decode and check a MULTIFD_HDR_SIZE header: magic, version, known
 * flags, counts within the allocation, data size bounded, name
 * terminated.  Offsets are checked against the block separately.
 */
bool multifd_packet_decode(const uint8_t *buf, MultiFDPacketInfo *info,
                           Error **errp);
/* Every offset page-aligned and inside a block of @block_len bytes. */
bool multifd_packet_check_offsets(const MultiFDPacketInfo *info,
                                  uint64_t block_len, Error **errp);

/* The 64-byte init message. */
void multifd_init_encode(const uint8_t uuid[16], uint8_t id, uint8_t *buf);
/* Check magic, version and UUID; the channel id is returned in @id. */
bool multifd_init_decode(const uint8_t *buf, const uint8_t uuid[16],
                         uint8_t *id, Error **errp);

/* ---- Compression backends ---- */

/* What a send thread is sending now; the backends read it. */
typedef struct MultiFDSendJob {
    RAMBlock *block;
    uint32_t normal_num;
    uint32_t zero_num;
    uint64_t *normal;           /* offsets of normal pages in @block */
    uint64_t *zero;
    /* Filled by send_prepare: the data after the header (iov[0]). */
    struct iovec *iov;          /* MULTIFD_PAGES_PER_PACKET + 1 slots */
    int iovs_num;               /* including the header */
    uint32_t next_packet_size;  /* bytes of data after the header */
    uint32_t flags;             /* compression kind */
    /*
     * Shared fd-backed RAM: the packet's pages as read from the block's
     * file, [window_start, window_start + window_len) of @block (a read,
     * not a first touch of the mapping: see ram-window.h); len 0: none.
     */
    const uint8_t *window;
    uint64_t window_start;
    uint64_t window_len;
} MultiFDSendJob;

/* Where a send hook finds the bytes of the page at offset @off. */
static inline const uint8_t *multifd_send_page_data(const MultiFDSendJob *job,
                                                    uint64_t off)
{
    if (off - job->window_start < job->window_len) {
        return job->window + (off - job->window_start);
    }
    return job->block->host + off;
}

/* What a recv thread is receiving now. */
typedef struct MultiFDRecvJob {
    QIOChannel *c;
    RAMBlock *block;
    uint32_t normal_num;
    const uint64_t *normal;     /* checked offsets */
    uint32_t next_packet_size;  /* checked against MULTIFD_MAX_DATA */
} MultiFDRecvJob;

/*
 * A compression backend.  Every hook runs in its channel's own thread
 * (send hooks in mig/src/send_N, recv hooks in mig/dst/recv_N) and
 * touches only that channel's @state, so no lock is taken.  Setup runs
 * once before the first packet, cleanup once after the last (also after
 * a failed setup).
 */
typedef struct MultiFDMethods {
    bool (*send_setup)(void **state, Error **errp);
    void (*send_cleanup)(void *state);
    /* Fill job->iov[1..] with the data for job->normal, set its size. */
    bool (*send_prepare)(void *state, MultiFDSendJob *job, Error **errp);
    bool (*recv_setup)(void **state, Error **errp);
    void (*recv_cleanup)(void *state);
    /* Read job->next_packet_size bytes and fill the normal pages. */
    bool (*recv)(void *state, MultiFDRecvJob *job, Error **errp);
} MultiFDMethods;

/* Backends register at startup (multifd_register_all). */
void multifd_register_ops(MultiFDCompression kind,
                          const MultiFDMethods *ops);
void multifd_nocomp_register(void);
void multifd_zlib_register(void);
void multifd_zstd_register(void);
uint32_t multifd_compression_flag(MultiFDCompression kind);

/* ---- Source (migration thread unless said otherwise) ---- */

/* Main thread, migrate: remember the URI the channels connect to. */
void multifd_send_set_uri(const char *uri);
/* Connect every channel, send its init message, start its thread. */
bool multifd_send_setup(QEMUFile *f, Error **errp);
/* Queue one page; sends the batch when full or when the block changes. */
bool multifd_queue_page(RAMBlock *block, uint64_t offset, Error **errp);
/* Send what is queued, then a SYNC packet on every channel and wait. */
bool multifd_send_sync_main(Error **errp);
/* Stop the threads and close the channels (after success or failure). */
void multifd_send_shutdown(void);
/* Any thread (migrate_cancel): make blocked channel writes fail now. */
void multifd_send_cancel(void);

/*
 * Device state (a device's switchover data in parallel channels): hand
 * @len bytes (at most MULTIFD_MAX_DATA; copied) for section @idstr
 * instance @instance_id to an idle channel.  Migration thread, after
 * RAM's last sync point.  Fails if multifd is not running.
 */
bool multifd_queue_device_state(const char *idstr, uint32_t instance_id,
                                const void *data, size_t len, Error **errp);
/* Migration thread: wait until every queued packet has been written. */
bool multifd_send_wait_idle(Error **errp);
/* Whether multifd channels are running (multifd_queue_device_state). */
bool multifd_send_active(void);

/* ---- Destination ---- */

/* Main thread, BQL: the main channel arrived. */
void multifd_recv_setup(void);
/* Main thread, BQL: an extra channel (refused beyond the count). */
void multifd_recv_new_channel(QIOChannel *ioc);
/* Main thread, BQL: every expected channel has been accepted. */
bool multifd_recv_all_channels(void);
/* Incoming thread: guest RAM may be written now (after load_setup). */
void multifd_recv_ram_ready(void);
/* Incoming thread: wait until every channel reached its SYNC packet. */
bool multifd_recv_sync_main(Error **errp);
/*
 * Incoming thread, the main stream loaded (precopy): stop and join every
 * channel thread, so that none writes guest RAM once the guest runs;
 * fails if a channel failed, or carried pages or sync points the main
 * stream's sync points do not cover.  Takes the BQL.
 */
bool multifd_recv_finish(Error **errp);
/*
 * Main thread, BQL: wake every multifd wait (channel threads, a sync in
 * the incoming thread) so that the incoming thread can be joined.
 */
void multifd_recv_terminate(void);
/* Any thread: a channel failed, not just closed (a device state wait
   gives up). */
bool multifd_recv_failed(void);
/* Main thread, BQL, incoming thread joined: stop threads, close channels. */
void multifd_recv_shutdown(void);

#endif
