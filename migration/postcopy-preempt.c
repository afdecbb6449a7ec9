/*
 * Postcopy preempt channel (see postcopy-preempt.h).
 *
 * Why the channel is opened at the start and not at the switch (QEMU >= 8
 * does the same; STREAM.md's first draft said "at postcopy start"): a
 * connection that fails, or a destination without the capability, then
 * fails the migration while the guest still runs on the source, and the
 * switch (the guest's downtime) does not wait for a connect.  The
 * destination tells the channels apart by order: the first connection is
 * the main channel, the next one (postcopy and multifd exclude each
 * other) is this one.
 *
 * Why a thread of its own sends the requested pages, not the return-path
 * thread: the rp thread must keep reading the destination's messages
 * (requests, PONG, SHUT) while a page is written, and a write blocked by a
 * full socket would stall them.
 *
 * Threads and locks:
 * - source: PreemptSource is the migration thread's, except that while
 *   "mig/src/preempt" runs the channel (f) is that thread's; quit is
 *   atomic and the thread is woken through ram.c's request condition;
 * - destination: PreemptDest.f is set by the main loop and read by the
 *   incoming thread under lock; from LISTEN (or POSTCOPY_RESUME) until the
 *   join it is the "mig/dst/preempt" thread's (cleanup only shuts it
 *   down, which is allowed from any thread); ok/err are read after the
 *   join.
 *
 * Recovery: a paused migration has no preempt channel on either side.
 * The source's pause closes it (postcopy_preempt_cleanup(), from the
 * migration thread) and the destination's listen thread closes its end
 * before it reports postcopy-paused, so a recovery's second connection
 * always finds the slot free.  On resume the source connects the new
 * channel before the RECV_BITMAP handshake and restarts its sender after
 * RESUME_ACK; the destination restarts its thread at POSTCOPY_RESUME.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/socket.h>
#include "qapi/error.h"
#include "qemu/uri.h"
#include "qemu/thread.h"
#include "io/channel.h"
#include "io/channel-socket.h"
#include "io/channel-tls.h"
#include "migration/channel.h"
#include "migration.h"
#include "options.h"
#include "qemu-file.h"
#include "ram.h"
#include "ram-release.h"
#include "return-path.h"
#include "postcopy-preempt.h"
#include "tls.h"
#include "trace.h"

/* How long the source waits for the destination's acknowledgement. */
#define PREEMPT_ACK_TIMEOUT_S   10

typedef struct PreemptSource {
    char *uri;                  /* main thread, before the migration */
    QEMUFile *f;                /* see the header comment */
    QemuThread thread;
    bool thread_created;        /* migration thread */
    bool quit;                  /* atomic */
    uint64_t pages_sent;        /* atomic */
} PreemptSource;

typedef struct PreemptDest {
    GMutex lock;                /* f, while no thread runs */
    QEMUFile *f;
    QemuThread thread;
    bool thread_created;        /* incoming thread / cleanup */
    bool ok;                    /* after the join */
    Error *err;                 /* after the join */
    uint64_t pages;             /* atomic */
} PreemptDest;

static PreemptSource pp_src;
static PreemptDest pp_dst;

/* ---- source ---- */

void postcopy_preempt_set_uri(const char *uri)
{
    g_free(pp_src.uri);
    pp_src.uri = g_strdup(uri);
    __atomic_store_n(&pp_src.pages_sent, 0, __ATOMIC_RELAXED);
}

void postcopy_preempt_set_resume_uri(const char *uri)
{
    /* Same migration: the page count goes on. */
    g_free(pp_src.uri);
    pp_src.uri = g_strdup(uri);
}

static QIOChannel *pp_connect_socket(Error **errp)
{
    g_autoptr(UriAddress) addr = uri_address_parse(pp_src.uri ? pp_src.uri
                                                   : "", errp);
    QIOChannel *ioc;

    if (!addr) {
        return NULL;
    }
    if (addr->transport != URI_TRANSPORT_SOCKET ||
        addr->socket->type == SOCKET_ADDRESS_TYPE_FD) {
        error_setg(errp, "Postcopy preempt needs a tcp: or unix: migration "
                   "URI, not '%s'", pp_src.uri);
        return NULL;
    }
    ioc = qio_channel_socket_new();
    qio_channel_set_name(ioc, "migration-preempt-outgoing");
    /* Bounds the handshake too; applied by the connect. */
    if (!migration_channel_set_peer_timeout(ioc, errp) ||
        qio_channel_socket_connect_sync(ioc, addr->socket, errp) < 0 ||
        !migration_channel_set_send_buffer(ioc, errp)) {
        qio_channel_unref(ioc);
        return NULL;
    }
    /* TLS like the main channel (this thread shakes hands). */
    return migration_tls_client(ioc, addr->socket, errp);
}

/* Wait (bounded) for the destination's ack: it has the capability. */
static bool pp_wait_ack(QIOChannel *ioc, Error **errp)
{
    struct timeval tv = { .tv_sec = PREEMPT_ACK_TIMEOUT_S };
    struct timeval none = { 0 };
    QIOChannel *sock = qio_channel_is_tls(ioc) ?
                       qio_channel_tls_get_master(ioc) : ioc;
    int fd = qio_channel_socket_get_fd(sock);
    uint8_t ack = 0;
    int ret;

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ret = qio_channel_read_all(ioc, &ack, 1, NULL);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
    if (ret < 0 || ack != POSTCOPY_PREEMPT_ACK) {
        error_setg(errp, "Postcopy preempt: the destination did not accept "
                   "the preempt channel (is postcopy-preempt enabled on "
                   "both sides?)");
        return false;
    }
    return true;
}

bool postcopy_preempt_connect(Error **errp)
{
    QIOChannel *ioc;

    if (pp_src.f) {
        error_setg(errp, "Postcopy preempt channel is already open");
        return false;
    }
    ioc = pp_connect_socket(errp);
    if (!ioc || !pp_wait_ack(ioc, errp)) {
        if (ioc) {
            qio_channel_unref(ioc);
        }
        error_prepend(errp, "Could not open the postcopy preempt channel: ");
        return false;
    }
    qio_channel_set_delay(ioc, false);
    pp_src.f = qemu_file_new_output(ioc);
    qio_channel_unref(ioc);
    trace_postcopy_preempt_connected();
    return true;
}

QEMUFile *postcopy_preempt_file(void)
{
    return pp_src.f;
}

static void *pp_send_thread(void *opaque)
{
    uint64_t pages;

    trace_postcopy_preempt_thread("send", true);
    while (ram_postcopy_preempt_send(pp_src.f, &pp_src.quit, &pages)) {
        __atomic_fetch_add(&pp_src.pages_sent, pages, __ATOMIC_RELAXED);
        if (migrate_release_ram()) {
            /* Its pages are dropped once the PONG says they were placed. */
            ram_release_ping_preempt(pp_src.f);
        }
        if (qemu_file_get_error(pp_src.f)) {
            break;
        }
    }
    trace_postcopy_preempt_thread("send", false);
    return NULL;
}

void postcopy_preempt_start(void)
{
    if (!pp_src.f || pp_src.thread_created) {
        return;
    }
    __atomic_store_n(&pp_src.quit, false, __ATOMIC_SEQ_CST);
    pp_src.thread_created = true;
    qemu_thread_create(&pp_src.thread, "mig/src/preempt", pp_send_thread,
                       NULL, QEMU_THREAD_JOINABLE);
}

static void pp_stop_sender(void)
{
    if (!pp_src.thread_created) {
        return;
    }
    __atomic_store_n(&pp_src.quit, true, __ATOMIC_SEQ_CST);
    ram_postcopy_preempt_wake();
    qemu_thread_join(&pp_src.thread);
    pp_src.thread_created = false;
}

bool postcopy_preempt_finish(Error **errp)
{
    if (!pp_src.f) {
        error_setg(errp, "Postcopy preempt channel is not open");
        return false;
    }
    pp_stop_sender();
    qemu_put_be64(pp_src.f, RAM_SAVE_FLAG_EOS);
    qemu_fflush(pp_src.f);
    if (qemu_file_get_error_obj(pp_src.f, errp)) {
        error_prepend(errp, "Postcopy preempt channel failed: ");
        return false;
    }
    return true;
}

void postcopy_preempt_cleanup(void)
{
    if (!pp_src.f) {
        return;
    }
    if (pp_src.thread_created) {
        /* A sender blocked on a full socket must see an error. */
        qemu_file_shutdown(pp_src.f);
        pp_stop_sender();
    }
    qemu_file_close(pp_src.f, NULL);
    pp_src.f = NULL;
}

uint64_t postcopy_preempt_pages_sent(void)
{
    return __atomic_load_n(&pp_src.pages_sent, __ATOMIC_RELAXED);
}

/* ---- destination ---- */

void postcopy_preempt_incoming_channel(QIOChannel *ioc)
{
    uint8_t ack = POSTCOPY_PREEMPT_ACK;
    Error *err = NULL;

    g_mutex_lock(&pp_dst.lock);
    if (pp_dst.f || pp_dst.thread_created) {
        g_mutex_unlock(&pp_dst.lock);
        error_report("Postcopy preempt: refusing a second preempt channel");
        qio_channel_close(ioc, NULL);
        qio_channel_unref(ioc);
        return;
    }
    qio_channel_set_name(ioc, "migration-preempt-incoming");
    if (qio_channel_write_all(ioc, &ack, 1, &err) < 0) {
        g_mutex_unlock(&pp_dst.lock);
        error_report_err(err);
        qio_channel_unref(ioc);
        return;
    }
    pp_dst.f = qemu_file_new_input(ioc);
    qio_channel_unref(ioc);
    g_mutex_unlock(&pp_dst.lock);
    trace_postcopy_preempt_accepted();
}

bool postcopy_preempt_incoming_check(Error **errp)
{
    bool have;

    g_mutex_lock(&pp_dst.lock);
    have = pp_dst.f != NULL;
    g_mutex_unlock(&pp_dst.lock);
    /* A new migration (recovery keeps counting). */
    __atomic_store_n(&pp_dst.pages, 0, __ATOMIC_RELAXED);
    if (migrate_postcopy_preempt() && !have) {
        error_setg(errp, "Postcopy preempt is enabled on the destination, "
                   "but the source did not open the preempt channel "
                   "(enable postcopy-preempt on both sides)");
        return false;
    }
    return true;
}

bool postcopy_preempt_incoming_resume(Error **errp)
{
    bool have;

    if (!migrate_postcopy_preempt()) {
        return true;
    }
    g_mutex_lock(&pp_dst.lock);
    have = pp_dst.f != NULL && !pp_dst.thread_created;
    g_mutex_unlock(&pp_dst.lock);
    if (!have) {
        error_setg(errp, "CMD_POSTCOPY_RESUME before the source opened a "
                   "new postcopy preempt channel");
        return false;
    }
    trace_postcopy_preempt_resume();
    postcopy_preempt_incoming_start();
    return true;
}

static void *pp_recv_thread(void *opaque)
{
    MigrationIncomingState *mis = migration_incoming_get_current();
    Error *err = NULL;

    trace_postcopy_preempt_thread("recv", true);
    pp_dst.ok = ram_load_postcopy_channel(pp_dst.f, &pp_dst.pages, &err);
    if (!pp_dst.ok) {
        error_prepend(&err, "Postcopy preempt channel: ");
        pp_dst.err = err;
        /* The main stream cannot complete without these pages. */
        qemu_file_shutdown(mis->from_src_file);
    }
    trace_postcopy_preempt_thread("recv", false);
    return NULL;
}

void postcopy_preempt_incoming_start(void)
{
    if (!migrate_postcopy_preempt() || !pp_dst.f || pp_dst.thread_created) {
        return;
    }
    pp_dst.ok = false;
    pp_dst.thread_created = true;
    qemu_thread_create(&pp_dst.thread, "mig/dst/preempt", pp_recv_thread,
                       NULL, QEMU_THREAD_JOINABLE);
}

bool postcopy_preempt_incoming_wait(Error **errp)
{
    if (!pp_dst.thread_created) {
        return true;
    }
    qemu_thread_join(&pp_dst.thread);
    pp_dst.thread_created = false;
    if (!pp_dst.ok) {
        error_propagate(errp, pp_dst.err);
        pp_dst.err = NULL;
        return false;
    }
    return true;
}

void postcopy_preempt_incoming_cleanup(void)
{
    QEMUFile *f;

    if (pp_dst.thread_created) {
        qemu_file_shutdown(pp_dst.f);
        qemu_thread_join(&pp_dst.thread);
        pp_dst.thread_created = false;
        error_free(pp_dst.err);
        pp_dst.err = NULL;
    }
    g_mutex_lock(&pp_dst.lock);
    f = pp_dst.f;
    pp_dst.f = NULL;
    g_mutex_unlock(&pp_dst.lock);
    if (f) {
        qemu_file_close(f, NULL);
    }
}

bool postcopy_preempt_incoming_ping(QEMUFile *f, Error **errp)
{
    MigrationIncomingState *mis = migration_incoming_get_current();
    uint32_t value = qemu_get_be32(f);

    if (qemu_file_get_error(f)) {
        error_setg(errp, "the preempt channel's PING record is truncated");
        return false;
    }
    /*
     * Without a return path the migration is pausing anyway; the source
     * settles the batch against RECV_BITMAP at recovery.
     */
    return migration_incoming_rp_pong(mis, value, errp);
}

uint64_t postcopy_preempt_pages_received(void)
{
    return __atomic_load_n(&pp_dst.pages, __ATOMIC_RELAXED);
}
