/*
 * The return path (see return-path.h).
 *
 * Source: the migration thread opens it after the header and, at the
 * end, waits for the "mig/src/rp" thread, which reads one message at a
 * time (be16 type, be16 length, payload) from the main connection until
 * SHUT, a bad message or a broken connection.  Every length is checked
 * before the payload is read; postcopy's messages are refused until
 * postcopy exists.  On any failure the rp thread poisons and shuts down
 * the main stream, so a migration thread blocked in a write or still
 * iterating stops at once, and the migration fails with the rp thread's
 * message.
 *
 * Destination: the incoming thread opens a writer on its connection when
 * OPEN_RETURN_PATH arrives and answers each PING with PONG; the main
 * thread sends SHUT once the load is over (and the guest started).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/thread.h"
#include "io/channel.h"
#include "migration.h"
#include "options.h"
#include "qemu-file.h"
#include "savevm.h"
#include "return-path.h"
#include "trace.h"

/* The payload size of SHUT and PONG. */
#define RP_U32_LEN 4

struct MigrationRP {
    QemuThread thread;
    /*
     * The main stream.  The rp thread only poisons and shuts it down on
     * failure; the migration thread closes it after joining the rp thread.
     */
    QEMUFile *to_dst;
    QEMUFile *from_dst;     /* the rp thread's until joined */
    /* Written by the rp thread, read by the migration thread after join. */
    Error *error;
    bool end_acked;         /* PONG for MIG_RP_PING_END received */
    bool shut_ok;           /* SHUT 0 received after end_acked */
    bool dest_failed;       /* SHUT with a failure status received */
};

static const char *const rp_msg_names[MIG_RP_MSG_MAX] = {
    [MIG_RP_MSG_INVALID] = "INVALID",
    [MIG_RP_MSG_SHUT] = "SHUT",
    [MIG_RP_MSG_PONG] = "PONG",
    [MIG_RP_MSG_REQ_PAGES_ID] = "REQ_PAGES_ID",
    [MIG_RP_MSG_REQ_PAGES] = "REQ_PAGES",
    [MIG_RP_MSG_RECV_BITMAP] = "RECV_BITMAP",
    [MIG_RP_MSG_RESUME_ACK] = "RESUME_ACK",
    [MIG_RP_MSG_SWITCHOVER_ACK] = "SWITCHOVER_ACK",
};

/* ---- source ---- */

static void rp_send_command(QEMUFile *f, uint16_t cmd, uint16_t len)
{
    trace_migration_rp_send_command(cmd, len);
    qemu_put_byte(f, QEMU_VM_COMMAND);
    qemu_put_be16(f, cmd);
    qemu_put_be16(f, len);
}

static void rp_send_ping(QEMUFile *f, uint32_t value)
{
    rp_send_command(f, MIG_CMD_PING, RP_U32_LEN);
    qemu_put_be32(f, value);
}

/* The payload of a SHUT or PONG; false (and why) if it is not there. */
static bool rp_read_u32(MigrationRP *rp, uint16_t type, uint16_t len,
                        uint32_t *value, Error **errp)
{
    if (len != RP_U32_LEN) {
        error_setg(errp, "Return path message %s has length %u, expected %u",
                   rp_msg_names[type], len, RP_U32_LEN);
        return false;
    }
    *value = qemu_get_be32(rp->from_dst);
    if (qemu_file_get_error_obj(rp->from_dst, errp)) {
        error_prepend(errp, "reading return path message %s: ",
                      rp_msg_names[type]);
        return false;
    }
    return true;
}

/* SHUT: the destination's verdict; ends the thread either way. */
static void rp_handle_shut(MigrationRP *rp, uint32_t status, Error **errp)
{
    trace_migration_rp_shut(status);
    if (status) {
        rp->dest_failed = true;
        error_setg(errp, "The destination failed to load the migration "
                   "(it reported status %u on the return path)", status);
    } else if (!rp->end_acked) {
        error_setg(errp, "The destination reported success without "
                   "acknowledging the end of the migration stream");
    } else {
        rp->shut_ok = true;
    }
}

/* Read and act on one message; false when the thread should end. */
static bool rp_handle_one(MigrationRP *rp, Error **errp)
{
    uint16_t type = qemu_get_be16(rp->from_dst);
    uint16_t len = qemu_get_be16(rp->from_dst);
    uint32_t value;

    if (qemu_file_get_error_obj(rp->from_dst, errp)) {
        error_prepend(errp, "The return path broke before the destination "
                      "reported the result of the load: ");
        return false;
    }
    trace_migration_rp_message(type, len);
    if (type == MIG_RP_MSG_INVALID || type >= MIG_RP_MSG_MAX) {
        error_setg(errp, "Received invalid message 0x%04x length 0x%04x on "
                   "the return path", type, len);
        return false;
    }
    if (type != MIG_RP_MSG_SHUT && type != MIG_RP_MSG_PONG) {
        error_setg(errp, "Return path message %s (0x%04x, length %u) is for "
                   "postcopy or switchover-ack, which this qmig build does "
                   "not support yet", rp_msg_names[type], type, len);
        return false;
    }
    if (!rp_read_u32(rp, type, len, &value, errp)) {
        return false;
    }
    if (type == MIG_RP_MSG_PONG) {
        trace_migration_rp_pong(value);
        if (value == MIG_RP_PING_END) {
            rp->end_acked = true;
        }
        return true;
    }
    rp_handle_shut(rp, value, errp);
    return false;
}

static void *rp_thread(void *opaque)
{
    MigrationRP *rp = opaque;
    Error *err = NULL;

    trace_migration_rp_thread_start();
    while (rp_handle_one(rp, &err)) {
        /* one message at a time */
    }
    if (err) {
        /*
         * Stop the migration thread: the error it finds on its stream is
         * this one, and a write blocked on a dead destination returns.
         */
        qemu_file_set_error_obj(rp->to_dst, -EIO, error_copy(err));
        qemu_file_shutdown(rp->to_dst);
        rp->error = err;
    }
    trace_migration_rp_thread_end(rp->shut_ok);
    return NULL;
}

bool migration_rp_start(MigrationState *s, QEMUFile *f, Error **errp)
{
    MigrationRP *rp;

    if (!migrate_return_path()) {
        return true;
    }
    assert(!s->rp);
    rp = g_new0(MigrationRP, 1);
    rp->to_dst = f;
    rp->from_dst = qemu_file_get_return_path(f);
    rp_send_command(f, MIG_CMD_OPEN_RETURN_PATH, 0);
    /* As QEMU does: an early round trip makes a broken path show at once. */
    rp_send_ping(f, MIG_RP_PING_OPEN);
    qemu_fflush(f);
    if (qemu_file_get_error_obj(f, errp)) {
        qemu_fclose(rp->from_dst);
        g_free(rp);
        return false;
    }
    qemu_thread_create(&rp->thread, "mig/src/rp", rp_thread, rp,
                       QEMU_THREAD_JOINABLE);
    s->rp = rp;
    return true;
}

void migration_rp_send_end_ping(QEMUFile *f)
{
    if (migrate_get_current()->rp) {
        rp_send_ping(f, MIG_RP_PING_END);
    }
}

/*
 * The migration failed here; if the destination said why it failed too
 * (often the cause, e.g. a write that broke because it hung up), add
 * that to @err unless @err already carries it (the rp thread's own error
 * poisons the stream, so the migration thread may have failed on it).
 */
static void rp_add_dest_verdict(MigrationRP *rp, Error **err)
{
    const char *mine = error_get_pretty(rp->error);
    Error *both = NULL;

    if (!rp->dest_failed || !*err || strstr(error_get_pretty(*err), mine)) {
        return;
    }
    error_setg(&both, "%s; and on the return path: %s",
               error_get_pretty(*err), mine);
    error_free(*err);
    *err = both;
}

bool migration_rp_finish(MigrationState *s, bool abort, Error **errp)
{
    MigrationRP *rp = s->rp;
    bool ok;

    if (!rp) {
        return true;
    }
    trace_migration_rp_finish(abort);
    if (abort) {
        /*
         * End the stream but keep listening: a live destination sees EOF,
         * fails, and says SHUT; a dead one has hung up already.  Where
         * the channel cannot half-close, stop listening too.
         */
        if (qio_channel_shutdown(qemu_file_get_ioc(rp->to_dst),
                                 QIO_CHANNEL_SHUTDOWN_WRITE, NULL) < 0) {
            qemu_file_shutdown(rp->from_dst);
        }
    }
    qemu_thread_join(&rp->thread);
    ok = rp->shut_ok && !abort;
    if (abort && rp->error && errp) {
        rp_add_dest_verdict(rp, errp);
    } else if (!ok && !abort) {
        if (rp->error) {
            error_propagate(errp, rp->error);
            rp->error = NULL;
        } else {
            error_setg(errp, "The return path ended without a result");
        }
    }
    error_free(rp->error);
    qemu_fclose(rp->from_dst);
    g_free(rp);
    s->rp = NULL;
    return ok;
}

/* ---- destination ---- */

static void rp_send_message(QEMUFile *f, MigRPMessageType type,
                            uint32_t value)
{
    trace_migration_incoming_rp_send(rp_msg_names[type], value);
    qemu_put_be16(f, type);
    qemu_put_be16(f, RP_U32_LEN);
    qemu_put_be32(f, value);
    qemu_fflush(f);
}

bool migration_incoming_rp_open(QEMUFile *from_src, uint16_t len,
                                Error **errp)
{
    MigrationIncomingState *mis = migration_incoming_get_current();
    bool ok = true;

    if (len != 0) {
        error_setg(errp, "OPEN_RETURN_PATH command with a %u-byte payload "
                   "(expected none)", len);
        return false;
    }
    g_mutex_lock(&mis->rp_mutex);
    if (mis->to_src_file) {
        error_setg(errp, "OPEN_RETURN_PATH received twice");
        ok = false;
    } else {
        mis->to_src_file = qemu_file_get_return_path(from_src);
    }
    g_mutex_unlock(&mis->rp_mutex);
    return ok;
}

bool migration_incoming_rp_ping(QEMUFile *from_src, uint16_t len,
                                Error **errp)
{
    MigrationIncomingState *mis = migration_incoming_get_current();
    uint32_t value;
    bool ok = true;

    if (len != RP_U32_LEN) {
        error_setg(errp, "PING command with a %u-byte payload (expected %u)",
                   len, RP_U32_LEN);
        return false;
    }
    value = qemu_get_be32(from_src);
    if (qemu_file_get_error_obj(from_src, errp)) {
        return false;
    }
    g_mutex_lock(&mis->rp_mutex);
    if (!mis->to_src_file) {
        error_setg(errp, "CMD_PING (0x%x) received with no return path",
                   value);
        ok = false;
    } else {
        /*
         * A PONG that cannot be sent is not this side's failure: the
         * source, which waits for it, sees its return path break.
         */
        rp_send_message(mis->to_src_file, MIG_RP_MSG_PONG, value);
    }
    g_mutex_unlock(&mis->rp_mutex);
    return ok;
}

void migration_incoming_rp_shut(MigrationIncomingState *mis, bool failed)
{
    QEMUFile *f;

    g_mutex_lock(&mis->rp_mutex);
    f = mis->to_src_file;
    mis->to_src_file = NULL;
    g_mutex_unlock(&mis->rp_mutex);
    if (!f) {
        return;
    }
    rp_send_message(f, MIG_RP_MSG_SHUT, failed ? 1 : 0);
    qemu_fclose(f);
}
