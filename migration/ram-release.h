/*
 * release-ram in postcopy, without losing pages across a broken link
 * (docs/devel/migration/postcopy.md "release-ram").
 *
 * The source drops a page it sent only once the destination is known to
 * hold it.  Pages sent on the main channel are collected in a batch; the
 * migration thread closes the batch with a PING on the main channel
 * (between sections) and the batch is released when its PONG arrives:
 * the destination answers a PING only after loading everything before it
 * on that channel.  A PING on one channel says nothing about the other,
 * so pages sent on the preempt channel have their own batches, closed by
 * a PING record on the preempt channel after each request and answered
 * by the destination's preempt thread.  At recovery,
 * every page still held back is released if the destination's received
 * bitmap has it and forgotten otherwise (it goes again, from intact
 * memory).
 *
 * Threads and locks: everything here is protected by one mutex: the
 * senders (migration thread, "mig/src/preempt") add pages, the migration
 * thread pings, the return-path thread releases on PONG.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_RAM_RELEASE_H
#define MIGRATION_RAM_RELEASE_H

#include "system/ramblock.h"

typedef struct QEMUFile QEMUFile;

/* PING values of release batches (QEMU pings 1; qmig's END is lower). */
#define RAM_RELEASE_PING_BASE       0x80000000u
#define RAM_RELEASE_PING_PREEMPT    0x40000000u     /* preempt channel's */
#define RAM_RELEASE_PING_SEQ        0x3fffffffu
/* A batch is closed once it holds this much (the memory held back). */
#define RAM_RELEASE_BATCH_BYTES     (8ULL << 20)

/* Sender threads: the host page of @rb at @offset went on a channel. */
void ram_release_track(RAMBlock *rb, uint64_t offset, bool main_channel);
/* Migration thread: the open batch is full, stop sending and ping. */
bool ram_release_batch_full(void);
/* Migration thread, between sections: close the batch with a PING. */
void ram_release_ping(QEMUFile *f);
/*
 * "mig/src/preempt", after a request: close the preempt channel's batch
 * with a PING record on that channel (flags RAM_SAVE_FLAG_HOOK, be32
 * value), flushed; the destination's preempt thread answers PONG once it
 * placed everything before it.
 */
void ram_release_ping_preempt(QEMUFile *f);
/* Return-path thread, on PONG @value: release its batch and older ones. */
void ram_release_acked(uint32_t value);
/*
 * Migration thread, after RESUME_ACK (the senders stopped): release each
 * page held back that @held says the destination has, forget the rest.
 */
void ram_release_resume(bool (*held)(RAMBlock *rb, uint64_t offset,
                                     void *opaque), void *opaque);
/* Migration thread (RAM cleanup): forget everything, release nothing. */
void ram_release_cleanup(void);

#endif
