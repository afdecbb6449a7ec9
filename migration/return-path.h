/*
 * The return path: messages from the destination back to the source on
 * the main connection, read in the other direction (STREAM.md "Return
 * path").  With the return-path capability the source opens it with the
 * OPEN_RETURN_PATH command right after the stream header, and does not
 * declare the migration completed until the destination has answered the
 * final PING and reported SHUT 0; a SHUT with an error, or a return path
 * that breaks first, fails the migration and the source's guest runs on.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_RETURN_PATH_H
#define MIGRATION_RETURN_PATH_H

#include "qapi/error.h"

typedef struct QEMUFile QEMUFile;
typedef struct MigrationState MigrationState;
typedef struct MigrationIncomingState MigrationIncomingState;

/* QEMU_VM_COMMAND numbers (QEMU's enum qemu_vm_cmd). */
#define MIG_CMD_OPEN_RETURN_PATH    1   /* no payload */
#define MIG_CMD_PING                2   /* be32 value, answered by PONG */

/* Return-path message types (QEMU's enum mig_rp_message_type). */
typedef enum MigRPMessageType {
    MIG_RP_MSG_INVALID = 0,
    MIG_RP_MSG_SHUT,                /* be32 status: 0 loaded, else failed */
    MIG_RP_MSG_PONG,                /* be32: the PING's value */
    MIG_RP_MSG_REQ_PAGES_ID,        /* postcopy */
    MIG_RP_MSG_REQ_PAGES,           /* postcopy */
    MIG_RP_MSG_RECV_BITMAP,         /* postcopy recovery */
    MIG_RP_MSG_RESUME_ACK,          /* postcopy recovery */
    MIG_RP_MSG_SWITCHOVER_ACK,      /* switchover-ack */
    MIG_RP_MSG_MAX
} MigRPMessageType;

/* PING values: QEMU pings 1 after opening; qmig also pings after the
 * device sections, so the source knows every device state was loaded. */
#define MIG_RP_PING_OPEN            1
#define MIG_RP_PING_END             0x00454e44  /* "END" */

/* ---- source ---- */

/*
 * Migration thread, after the stream header: with the return-path
 * capability, send OPEN_RETURN_PATH and PING, and start the "mig/src/rp"
 * thread reading the destination's messages on @f's connection.  Without
 * the capability (or postcopy-ram, which implies it), do nothing.  False if the thread could not start.
 */
bool migration_rp_start(MigrationState *s, QEMUFile *f, Error **errp);
/*
 * Migration thread, at the end: wait for the return-path thread and free
 * it.  True without a return path.  Without @abort: true only if the
 * destination acknowledged the final PING and reported SHUT 0; false
 * with @errp saying what the destination said or what broke.  With
 * @abort (the migration already failed, @errp holding why): the stream
 * is half-closed so the destination ends too, and if it reported a
 * failure, *@errp is extended with that; returns false.
 */
bool migration_rp_finish(MigrationState *s, bool abort, Error **errp);
/*
 * Postcopy recovery, migration thread: start the rp thread on the new
 * stream @f (no OPEN_RETURN_PATH: the destination opens its writer when
 * it accepts the channel), then wait until RESUME_ACK was handled (state
 * back to postcopy-active) or the return path failed (@errp says why).
 */
bool migration_rp_start_resume(MigrationState *s, QEMUFile *f);
bool migration_rp_wait_resumed(MigrationState *s, Error **errp);
/* savevm.c: the final PING, after the device sections, before EOF. */
void migration_rp_send_end_ping(QEMUFile *f);

/* ---- destination ---- */

/* Incoming thread: OPEN_RETURN_PATH (payload length @len) on @from_src. */
bool migration_incoming_rp_open(QEMUFile *from_src, uint16_t len,
                                Error **errp);
/*
 * Any destination thread (rp_mutex): PONG @value; false if there is no
 * return path.
 */
bool migration_incoming_rp_pong(MigrationIncomingState *mis, uint32_t value,
                                Error **errp);
/* Incoming thread: a PING (payload length @len): answer PONG. */
bool migration_incoming_rp_ping(QEMUFile *from_src, uint16_t len,
                                Error **errp);
/*
 * Postcopy fault thread (and the listen thread after a recovery): ask
 * the source for [@start, @start + @len) of @rbname.  The message is
 * REQ_PAGES_ID unless @rbname is the block last named on this return
 * path (then REQ_PAGES); a NULL @rbname means that block.  Takes
 * rp_mutex; a closed return path drops it.
 */
void migration_incoming_rp_req_pages(MigrationIncomingState *mis,
                                     const char *rbname, uint64_t start,
                                     uint32_t len);
/*
 * Postcopy recovery.  reopen: the writer on the new main channel
 * @from_src (main thread, BQL); drop: close the broken one without SHUT
 * (listen thread, at the pause).  RECV_BITMAP (@bitmap: the bytes after
 * the header, see postcopy-recover.h) and RESUME_ACK: listen thread;
 * false with @errp if the path is gone or the write failed.
 */
void migration_incoming_rp_reopen(MigrationIncomingState *mis,
                                  QEMUFile *from_src);
void migration_incoming_rp_drop(MigrationIncomingState *mis);
bool migration_incoming_rp_recv_bitmap(MigrationIncomingState *mis,
                                       const char *name,
                                       const uint8_t *bitmap, size_t len,
                                       Error **errp);
bool migration_incoming_rp_resume_ack(MigrationIncomingState *mis,
                                      Error **errp);
/*
 * Main thread, at the end of the incoming migration (loaded and the
 * guest started, or failed): send SHUT (@failed → status 1) if the source
 * opened a return path, then close it.  Before the main file is closed.
 */
void migration_incoming_rp_shut(MigrationIncomingState *mis, bool failed);

#endif
