/*
 * The return path (see return-path.h).
 *
 * Source: the migration thread opens it after the header and, at the
 * end, waits for the "mig/src/rp" thread, which reads one message at a
 * time (be16 type, be16 length, payload) from the main connection until
 * SHUT, a bad message or a broken connection.  Every length is checked
 * before the payload is read; postcopy's page requests (REQ_PAGES_ID,
 * REQ_PAGES) are checked here and queued by ram.c, and refused without
 * postcopy-ram.  On any failure the rp thread poisons and shuts down
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
#include "ram.h"
#include "postcopy-recover.h"
#include "ram-release.h"
#include "return-path.h"
#include "trace.h"

/* The payload size of SHUT and PONG; of REQ_PAGES (start, length). */
#define RP_U32_LEN 4
#define RP_REQ_LEN 12

static uint32_t rp_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | p[2] << 8 | p[3];
}

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
    /*
     * Postcopy recovery: the rp thread posts @sem on RESUME_ACK (after
     * setting @resumed) and when it ends (after setting @ended), so the
     * migration thread waiting for the handshake always wakes.
     */
    QemuSemaphore sem;
    bool resumed;           /* atomic */
    bool ended;             /* atomic; rp->error is final once set */
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

/*
 * REQ_PAGES_ID (be64 start, be32 length, u8 name length, name) or
 * REQ_PAGES (the same without the name: the block of the last _ID).
 * ram.c checks the block and range and queues the pages.
 */
static bool rp_handle_req_pages(MigrationRP *rp, uint16_t type, uint16_t len,
                                Error **errp)
{
    uint8_t buf[RP_REQ_LEN + 1 + 256];
    size_t expected = RP_REQ_LEN + (type == MIG_RP_MSG_REQ_PAGES_ID ? 1 : 0);
    char name[256];
    uint64_t start;
    uint32_t length;

    if (len < expected || len > sizeof(buf)) {
        error_setg(errp, "RP: %s with length %u expecting %zu",
                   rp_msg_names[type], len, expected);
        return false;
    }
    qemu_get_buffer(rp->from_dst, buf, len);
    if (qemu_file_get_error_obj(rp->from_dst, errp)) {
        error_prepend(errp, "reading return path message %s: ",
                      rp_msg_names[type]);
        return false;
    }
    if (type == MIG_RP_MSG_REQ_PAGES_ID) {
        expected += buf[RP_REQ_LEN];
        memcpy(name, buf + RP_REQ_LEN + 1, buf[RP_REQ_LEN]);
        name[buf[RP_REQ_LEN]] = '\0';
    }
    if (len != expected) {
        error_setg(errp, "RP: %s with length %u expecting %zu",
                   rp_msg_names[type], len, expected);
        return false;
    }
    start = ((uint64_t)rp_be32(buf) << 32) | rp_be32(buf + 4);
    length = rp_be32(buf + 8);
    trace_migration_rp_req_pages(type == MIG_RP_MSG_REQ_PAGES_ID ? name : "",
                                 start, length);
    return ram_save_queue_pages(type == MIG_RP_MSG_REQ_PAGES_ID ? name : NULL,
                                start, length, errp);
}

/* Postcopy recovery: a message's payload, at most @max bytes, into @buf. */
static bool rp_read_payload(MigrationRP *rp, uint16_t type, uint16_t len,
                            uint8_t *buf, size_t max, Error **errp)
{
    if (len > max) {
        error_setg(errp, "Return path message %s has length %u, at most %zu "
                   "expected", rp_msg_names[type], len, max);
        return false;
    }
    qemu_get_buffer(rp->from_dst, buf, len);
    if (qemu_file_get_error_obj(rp->from_dst, errp)) {
        error_prepend(errp, "reading return path message %s: ",
                      rp_msg_names[type]);
        return false;
    }
    return true;
}

/* RECV_BITMAP: the name, then (outside the length) the bitmap itself. */
static bool rp_handle_recv_bitmap(MigrationRP *rp, uint16_t len,
                                  Error **errp)
{
    uint8_t buf[256];
    char name[256];

    if (!rp_read_payload(rp, MIG_RP_MSG_RECV_BITMAP, len, buf, sizeof(buf),
                         errp) ||
        !postcopy_recv_bitmap_parse_name(buf, len, "RP: RECV_BITMAP", name,
                                         errp)) {
        return false;
    }
    trace_migration_rp_recv_bitmap(name);
    return ram_postcopy_reload_bitmap(name, rp->from_dst, errp);
}

/* RESUME_ACK: every bitmap is in; postcopy goes on. */
static bool rp_handle_resume_ack(MigrationRP *rp, uint16_t len, Error **errp)
{
    MigrationState *s = migrate_get_current();
    uint32_t value;

    if (!rp_read_u32(rp, MIG_RP_MSG_RESUME_ACK, len, &value, errp)) {
        return false;
    }
    trace_migration_rp_resume_ack(value);
    if (value != POSTCOPY_RESUME_ACK_VALUE) {
        error_setg(errp, "illegal resume_ack value %u", value);
        return false;
    }
    if (!ram_postcopy_resume_check(errp)) {
        return false;
    }
    if (!migrate_set_state(&s->state, MIGRATION_STATUS_POSTCOPY_RECOVER,
                           MIGRATION_STATUS_POSTCOPY_ACTIVE)) {
        error_setg(errp, "RESUME_ACK received in state %s",
                   migration_status_name(__atomic_load_n(&s->state,
                                                         __ATOMIC_SEQ_CST)));
        return false;
    }
    __atomic_store_n(&rp->resumed, true, __ATOMIC_RELEASE);
    qemu_sem_post(&rp->sem);
    return true;
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
    if ((type == MIG_RP_MSG_REQ_PAGES_ID || type == MIG_RP_MSG_REQ_PAGES) &&
        migrate_postcopy_ram()) {
        return rp_handle_req_pages(rp, type, len, errp);
    }
    if (type == MIG_RP_MSG_RECV_BITMAP && migrate_postcopy_ram()) {
        return rp_handle_recv_bitmap(rp, len, errp);
    }
    if (type == MIG_RP_MSG_RESUME_ACK && migrate_postcopy_ram()) {
        return rp_handle_resume_ack(rp, len, errp);
    }
    if (type != MIG_RP_MSG_SHUT && type != MIG_RP_MSG_PONG) {
        error_setg(errp, "Return path message %s (0x%04x, length %u) is for "
                   "%s, which %s", rp_msg_names[type], type, len,
                   type <= MIG_RP_MSG_REQ_PAGES ? "postcopy" :
                   "postcopy recovery or switchover-ack",
                   type <= MIG_RP_MSG_REQ_PAGES ?
                   "this migration did not enable (postcopy-ram)" :
                   "this qmig build does not support yet");
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
        ram_release_acked(value);   /* release-ram's batches */
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
    __atomic_store_n(&rp->ended, true, __ATOMIC_RELEASE);
    qemu_sem_post(&rp->sem);
    return NULL;
}

bool migration_rp_start(MigrationState *s, QEMUFile *f, Error **errp)
{
    MigrationRP *rp;

    /* As in QEMU, postcopy-ram opens the return path by itself. */
    if (!migrate_return_path() && !migrate_postcopy_ram()) {
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
    qemu_sem_init(&rp->sem, 0);
    qemu_thread_create(&rp->thread, "mig/src/rp", rp_thread, rp,
                       QEMU_THREAD_JOINABLE);
    s->rp = rp;
    return true;
}

bool migration_rp_start_resume(MigrationState *s, QEMUFile *f)
{
    MigrationRP *rp;

    assert(!s->rp);
    rp = g_new0(MigrationRP, 1);
    rp->to_dst = f;
    rp->from_dst = qemu_file_get_return_path(f);
    qemu_sem_init(&rp->sem, 0);
    qemu_thread_create(&rp->thread, "mig/src/rp", rp_thread, rp,
                       QEMU_THREAD_JOINABLE);
    s->rp = rp;
    return true;
}

bool migration_rp_wait_resumed(MigrationState *s, Error **errp)
{
    MigrationRP *rp = s->rp;

    for (;;) {
        if (__atomic_load_n(&rp->resumed, __ATOMIC_ACQUIRE)) {
            return true;
        }
        if (__atomic_load_n(&rp->ended, __ATOMIC_ACQUIRE)) {
            if (rp->error) {
                error_setg(errp, "%s", error_get_pretty(rp->error));
            } else {
                error_setg(errp, "The return path ended during the postcopy "
                           "recovery handshake");
            }
            return false;
        }
        qemu_sem_wait(&rp->sem);
    }
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
    qemu_sem_destroy(&rp->sem);
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

    if (len != RP_U32_LEN) {
        error_setg(errp, "PING command with a %u-byte payload (expected %u)",
                   len, RP_U32_LEN);
        return false;
    }
    value = qemu_get_be32(from_src);
    if (qemu_file_get_error_obj(from_src, errp)) {
        return false;
    }
    return migration_incoming_rp_pong(mis, value, errp);
}

bool migration_incoming_rp_pong(MigrationIncomingState *mis, uint32_t value,
                                Error **errp)
{
    bool ok = true;

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

void migration_incoming_rp_req_pages(MigrationIncomingState *mis,
                                     const char *rbname, uint64_t start,
                                     uint32_t len)
{
    size_t name_len;

    g_mutex_lock(&mis->rp_mutex);
    /*
     * The name goes only when the block changes on this return path: the
     * decision is taken here, under rp_mutex, because after a postcopy
     * recovery the path is new and several threads send requests.
     */
    if (rbname && !strcmp(rbname, mis->rp_last_block)) {
        rbname = NULL;
    }
    name_len = rbname ? strlen(rbname) : 0;
    if (mis->to_src_file) {
        QEMUFile *f = mis->to_src_file;

        if (rbname) {
            g_strlcpy(mis->rp_last_block, rbname,
                      sizeof(mis->rp_last_block));
        }
        trace_migration_incoming_rp_req_pages(rbname ? rbname : "", start,
                                              len);
        qemu_put_be16(f, rbname ? MIG_RP_MSG_REQ_PAGES_ID :
                                  MIG_RP_MSG_REQ_PAGES);
        qemu_put_be16(f, RP_REQ_LEN + (rbname ? 1 + name_len : 0));
        qemu_put_be64(f, start);
        qemu_put_be32(f, len);
        if (rbname) {
            qemu_put_counted_string(f, rbname);
        }
        qemu_fflush(f);
    }
    g_mutex_unlock(&mis->rp_mutex);
}

/* ---- destination: postcopy recovery ---- */

void migration_incoming_rp_reopen(MigrationIncomingState *mis,
                                  QEMUFile *from_src)
{
    QEMUFile *old;

    g_mutex_lock(&mis->rp_mutex);
    old = mis->to_src_file;
    mis->to_src_file = qemu_file_get_return_path(from_src);
    mis->rp_last_block[0] = '\0';
    g_mutex_unlock(&mis->rp_mutex);
    if (old) {
        qemu_fclose(old);
    }
}

void migration_incoming_rp_drop(MigrationIncomingState *mis)
{
    QEMUFile *f;

    g_mutex_lock(&mis->rp_mutex);
    f = mis->to_src_file;
    mis->to_src_file = NULL;
    mis->rp_last_block[0] = '\0';
    g_mutex_unlock(&mis->rp_mutex);
    if (f) {
        qemu_fclose(f);
    }
}

/* Under rp_mutex: the writer, or an error saying there is none. */
static QEMUFile *rp_writer(MigrationIncomingState *mis, const char *what,
                           Error **errp)
{
    if (!mis->to_src_file) {
        error_setg(errp, "%s: no return path to the source", what);
    }
    return mis->to_src_file;
}

bool migration_incoming_rp_recv_bitmap(MigrationIncomingState *mis,
                                       const char *name,
                                       const uint8_t *bitmap, size_t len,
                                       Error **errp)
{
    uint8_t head[256];
    size_t head_len = postcopy_recv_bitmap_put_name(name, head);
    QEMUFile *f;
    bool ok = false;

    g_mutex_lock(&mis->rp_mutex);
    f = rp_writer(mis, "RECV_BITMAP", errp);
    if (f) {
        trace_migration_incoming_rp_recv_bitmap(name, len);
        qemu_put_be16(f, MIG_RP_MSG_RECV_BITMAP);
        qemu_put_be16(f, head_len);
        qemu_put_buffer(f, head, head_len);
        /* QEMU's layout: the bitmap follows, outside the length. */
        qemu_put_buffer(f, bitmap, len);
        qemu_fflush(f);
        ok = qemu_file_get_error_obj(f, errp) == 0;
    }
    g_mutex_unlock(&mis->rp_mutex);
    return ok;
}

bool migration_incoming_rp_resume_ack(MigrationIncomingState *mis,
                                      Error **errp)
{
    QEMUFile *f;
    bool ok = false;

    g_mutex_lock(&mis->rp_mutex);
    f = rp_writer(mis, "RESUME_ACK", errp);
    if (f) {
        rp_send_message(f, MIG_RP_MSG_RESUME_ACK, POSTCOPY_RESUME_ACK_VALUE);
        ok = qemu_file_get_error_obj(f, errp) == 0;
    }
    g_mutex_unlock(&mis->rp_mutex);
    return ok;
}
