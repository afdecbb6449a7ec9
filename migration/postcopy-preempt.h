/*
 * Postcopy preempt channel (the postcopy-preempt capability; see
 * docs/devel/migration/postcopy.md, "Preempt channel").
 *
 * A second connection to the migration URI that carries only the pages
 * the destination asked for, so that a page request never waits behind
 * background pages queued on the main channel.
 *
 * Source: the migration thread connects it before POSTCOPY_ADVISE and
 * waits for the destination's one-byte acknowledgement, so a destination
 * without the capability makes the migration fail before the guest moves.
 * After the switch the "mig/src/preempt" thread sends each queued request
 * (RAM records, each page complete) and flushes; at the end it writes an
 * EOS record.  Destination: the second accepted connection is this
 * channel; from LISTEN on "mig/dst/preempt" loads its records with the
 * same placement function as the listen thread, up to the EOS record.
 *
 * Recovery: a pause closes the channel on both sides; resume connects a
 * new one (after the new main channel, before RECV_BITMAP), and the
 * threads start again at POSTCOPY_RESUME / RESUME_ACK.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_POSTCOPY_PREEMPT_H
#define MIGRATION_POSTCOPY_PREEMPT_H

#include "qapi/error.h"

typedef struct QEMUFile QEMUFile;
typedef struct QIOChannel QIOChannel;

/* The byte the destination writes back on accepting the channel (qmig's). */
#define POSTCOPY_PREEMPT_ACK        0x50

/* ---- source ---- */

/* Main thread, at "migrate": the URI the channel connects to. */
void postcopy_preempt_set_uri(const char *uri);
/* Main thread, at "migrate resume=true": the URI of the new channel. */
void postcopy_preempt_set_resume_uri(const char *uri);
/*
 * Migration thread, before ADVISE, and on resume before RECV_BITMAP:
 * connect and wait for the ack.
 */
bool postcopy_preempt_connect(Error **errp);
/* The connected channel, or NULL (migration thread). */
QEMUFile *postcopy_preempt_file(void);
/* Migration thread, at the switch and after RESUME_ACK: the sender. */
void postcopy_preempt_start(void);
/*
 * Migration thread, once every page was sent: let the sender drain the
 * queue and stop, then write EOS on the channel and flush it.
 */
bool postcopy_preempt_finish(Error **errp);
/*
 * Migration thread (RAM cleanup, and a postcopy pause): stop the sender,
 * close the channel.
 */
void postcopy_preempt_cleanup(void);
/* Pages sent on the channel (any thread). */
uint64_t postcopy_preempt_pages_sent(void);

/* ---- destination ---- */

/* Main loop, BQL: the second accepted connection (a reference we own). */
void postcopy_preempt_incoming_channel(QIOChannel *ioc);
/* Incoming thread, at ADVISE: is the channel there iff the capability is? */
bool postcopy_preempt_incoming_check(Error **errp);
/*
 * Listen thread, at POSTCOPY_RESUME: the source must have opened a new
 * channel (it did before RECV_BITMAP); start its thread.
 */
bool postcopy_preempt_incoming_resume(Error **errp);
/* Incoming thread, at LISTEN: start "mig/dst/preempt". */
void postcopy_preempt_incoming_start(void);
/* After the listen thread reached EOF: wait for the channel's EOS. */
bool postcopy_preempt_incoming_wait(Error **errp);
/*
 * Any thread (the listen thread when postcopy pauses): shut the channel
 * down, join the thread, close it.
 */
void postcopy_preempt_incoming_cleanup(void);
/*
 * "mig/dst/preempt" (ram-load.c's loader): a PING record (qmig's: flags
 * RAM_SAVE_FLAG_HOOK, then be32 value; release-ram) after the pages
 * before it were placed: answer PONG on the return path.
 */
bool postcopy_preempt_incoming_ping(QEMUFile *f, Error **errp);
/* Pages placed from the channel (any thread). */
uint64_t postcopy_preempt_pages_received(void);

#endif
