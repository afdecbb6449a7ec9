/*
 * RDMA migration: the control channel (SEND/RECV with credits) and the
 * RAM protocol (block list, chunk registration, RDMA WRITE of pages).
 * Every verbs operation goes through the provider (rdma-provider.h).
 *
 * Control channel.  Each side posts RDMA_CONTROL_DEPTH receive buffers
 * of RDMA_CONTROL_BUF_SIZE bytes and starts with as many credits: one
 * SEND per credit.  A consumed buffer is posted again and its credit is
 * returned in the "credits" header word of the next message the side
 * sends, or in a READY message once half the depth is owed.  So a SEND
 * never finds the peer without a buffer.
 *
 * RAM.  The source writes pages with RDMA WRITE into the destination's
 * registered guest RAM, merging neighbouring pages of one 1 MiB chunk.
 * The destination registers a chunk when asked (REGISTER_REQUEST) or
 * every block at once (rdma-pin-all); the source registers its own
 * memory the same way.  A zero page of a chunk this migration never
 * wrote is skipped: the destination discarded its RAM at load_setup,
 * so it reads as zero there already.  Once a chunk was written, every
 * page of it goes by WRITE, so a later zero page can never be overtaken
 * by an older write.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/bitmap.h"
#include "rdma-internal.h"
#include "qemu-file.h"
#include "migration-stats.h"
#include "trace.h"

#define RDMA_WRID_SEND  (1ULL << 32)
#define RDMA_WRID_RECV  (2ULL << 32)
#define RDMA_WRID_WRITE (3ULL << 32)
#define RDMA_WRID_KIND(id) ((id) & ~0xffffffffULL)
#define RDMA_WRID_SLOT(id) ((uint32_t)(id))

static const char *const rdma_control_names[RDMA_CONTROL__MAX] = {
    [RDMA_CONTROL_NONE] = "NONE",
    [RDMA_CONTROL_ERROR] = "ERROR",
    [RDMA_CONTROL_READY] = "READY",
    [RDMA_CONTROL_QEMU_FILE] = "QEMU FILE",
    [RDMA_CONTROL_RAM_BLOCKS_REQUEST] = "RAM BLOCKS REQUEST",
    [RDMA_CONTROL_RAM_BLOCKS_RESULT] = "RAM BLOCKS RESULT",
    [RDMA_CONTROL_COMPRESS] = "COMPRESS",
    [RDMA_CONTROL_REGISTER_REQUEST] = "REGISTER REQUEST",
    [RDMA_CONTROL_REGISTER_RESULT] = "REGISTER RESULT",
    [RDMA_CONTROL_REGISTER_FINISHED] = "REGISTER FINISHED",
    [RDMA_CONTROL_UNREGISTER_REQUEST] = "UNREGISTER REQUEST",
    [RDMA_CONTROL_UNREGISTER_FINISHED] = "UNREGISTER FINISHED",
};

const char *rdma_control_name(uint32_t type)
{
    return type < RDMA_CONTROL__MAX ? rdma_control_names[type] : "unknown";
}

/* ---- the context ---- */

static bool rdma_post_recv_slot(RDMAContext *r, int slot, Error **errp)
{
    QemuRdmaError e = { 0 };

    if (r->ops->post_recv(r->conn, RDMA_WRID_RECV | slot,
                          r->recv_buf + (size_t)slot * RDMA_CONTROL_BUF_SIZE,
                          RDMA_CONTROL_BUF_SIZE, r->recv_lkey, &e) < 0) {
        rdma_error_set(errp, &e, "Could not post an RDMA receive buffer");
        return false;
    }
    return true;
}

RDMAContext *rdma_context_new(const QemuRdmaProvider *ops,
                              QemuRdmaConn *conn, bool source, bool pin_all,
                              const char *peer, Error **errp)
{
    size_t size = (size_t)RDMA_CONTROL_DEPTH * RDMA_CONTROL_BUF_SIZE;
    RDMAContext *r = g_new0(RDMAContext, 1);
    QemuRdmaError e = { 0 };
    uint32_t rkey;

    r->ops = ops;
    r->conn = conn;
    r->source = source;
    r->pin_all = pin_all;
    r->peer = g_strdup(peer);
    r->cur_slot = -1;
    r->credits = RDMA_CONTROL_DEPTH;
    r->send_buf = g_malloc0(size);
    r->recv_buf = g_malloc0(size);
    r->send_mr = ops->reg_mr(conn, r->send_buf, size, false, &r->send_lkey,
                             &rkey, &e);
    if (r->send_mr) {
        r->recv_mr = ops->reg_mr(conn, r->recv_buf, size, false,
                                 &r->recv_lkey, &rkey, &e);
    }
    if (!r->send_mr || !r->recv_mr) {
        rdma_error_set(errp, &e, "Could not register the RDMA control "
                       "buffers");
        rdma_context_free(r);
        return NULL;
    }
    for (int i = 0; i < RDMA_CONTROL_DEPTH; i++) {
        if (!rdma_post_recv_slot(r, i, errp)) {
            rdma_context_free(r);
            return NULL;
        }
    }
    trace_rdma_context_new(peer, source, pin_all, ops->name);
    return r;
}

static void rdma_blocks_free(RDMAContext *r)
{
    for (guint i = 0; i < r->nblocks; i++) {
        RDMABlock *b = &r->blocks[i];
        uint64_t n = r->pin_all ? 1 : b->nchunks;

        for (uint64_t c = 0; b->mr && c < n; c++) {
            if (b->mr[c]) {
                r->ops->dereg_mr(r->conn, b->mr[c]);
            }
        }
        g_free(b->mr);
        g_free(b->lkey);
        g_free(b->rkey_local);
        g_free(b->remote_addr);
        g_free(b->remote_rkeys);
        g_free(b->written);
    }
    g_free(r->blocks);
    r->blocks = NULL;
    r->nblocks = 0;
}

void rdma_context_free(RDMAContext *r)
{
    if (!r) {
        return;
    }
    trace_rdma_context_free(r->peer, r->bytes_written);
    /* Closing the connection first: no transfer touches memory after. */
    if (r->conn) {
        r->ops->shutdown(r->conn);
    }
    rdma_blocks_free(r);
    if (r->send_mr) {
        r->ops->dereg_mr(r->conn, r->send_mr);
    }
    if (r->recv_mr) {
        r->ops->dereg_mr(r->conn, r->recv_mr);
    }
    if (r->conn) {
        r->ops->close(r->conn);
    }
    g_free(r->send_buf);
    g_free(r->recv_buf);
    g_free(r->peer);
    g_free(r);
}

void rdma_context_shutdown(RDMAContext *r)
{
    __atomic_store_n(&r->shut, true, __ATOMIC_SEQ_CST);
    r->ops->shutdown(r->conn);
}

/* ---- completions ---- */

static bool rdma_fail(RDMAContext *r, Error **errp, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static bool rdma_fail(RDMAContext *r, Error **errp, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    r->broken = true;
    error_setg(errp, "RDMA migration with %s: %s", r->peer, msg);
    return false;
}

/* A received buffer: check its header, take its credits, queue it. */
static bool rdma_recv_done(RDMAContext *r, uint32_t slot, uint32_t len,
                           Error **errp)
{
    const uint8_t *p = r->recv_buf + (size_t)slot * RDMA_CONTROL_BUF_SIZE;
    uint32_t plen, type, credits;

    if (slot >= RDMA_CONTROL_DEPTH || len < RDMA_HEADER_SIZE) {
        return rdma_fail(r, errp, "control message of %u bytes is shorter "
                         "than its header", len);
    }
    plen = ldl_be_p(p);
    type = ldl_be_p(p + 4);
    credits = ldl_be_p(p + 12);
    trace_rdma_recv(rdma_control_name(type), plen, credits);
    if (plen > len - RDMA_HEADER_SIZE) {
        return rdma_fail(r, errp, "control message %s claims %u bytes of "
                         "payload but carries %u", rdma_control_name(type),
                         plen, len - RDMA_HEADER_SIZE);
    }
    if (type == RDMA_CONTROL_NONE || type >= RDMA_CONTROL__MAX) {
        return rdma_fail(r, errp, "unknown control message type %u", type);
    }
    if (credits > RDMA_CONTROL_DEPTH - r->credits) {
        return rdma_fail(r, errp, "peer returned %u credits, more than it "
                         "was sent messages", credits);
    }
    r->credits += credits;
    if (type == RDMA_CONTROL_READY) {
        return rdma_recv_release(r, slot, errp);
    }
    assert(r->ready_count < RDMA_CONTROL_DEPTH);
    r->ready_slot[(r->ready_head + r->ready_count) % RDMA_CONTROL_DEPTH] =
        slot;
    r->ready_len[(r->ready_head + r->ready_count) % RDMA_CONTROL_DEPTH] = len;
    r->ready_count++;
    return true;
}

/*
 * Wait up to @ms for completions and handle them: 1 if some were, 0 on
 * timeout, -1 with @errp set.
 */
static int rdma_poll_ms(RDMAContext *r, int ms, Error **errp)
{
    QemuRdmaCompletion wc[16];
    QemuRdmaError e = { 0 };
    int n;

    if (r->broken) {
        rdma_fail(r, errp, "the connection failed earlier");
        return -1;
    }
    if (__atomic_load_n(&r->shut, __ATOMIC_SEQ_CST)) {
        rdma_fail(r, errp, "the connection was shut down");
        return -1;
    }
    n = r->ops->poll(r->conn, wc, G_N_ELEMENTS(wc), ms, &e);
    if (n == 0) {
        return 0;
    }
    if (n < 0) {
        r->broken = true;
        rdma_error_set(errp, &e, "RDMA connection lost");
        error_prepend(errp, "RDMA migration with %s: ", r->peer);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        uint64_t kind = RDMA_WRID_KIND(wc[i].wr_id);
        uint32_t slot = RDMA_WRID_SLOT(wc[i].wr_id);

        if (wc[i].status) {
            return rdma_fail(r, errp, "%s failed: %s", wc[i].op ==
                             QEMU_RDMA_WC_WRITE ? "RDMA WRITE" :
                             wc[i].op == QEMU_RDMA_WC_SEND ? "SEND" : "RECV",
                             g_strerror(-wc[i].status)) ? 1 : -1;
        }
        if (kind == RDMA_WRID_SEND && slot < RDMA_CONTROL_DEPTH) {
            r->send_busy[slot] = false;
        } else if (kind == RDMA_WRID_WRITE) {
            r->writes_in_flight--;
        } else if (kind == RDMA_WRID_RECV) {
            if (!rdma_recv_done(r, slot, wc[i].byte_len, errp)) {
                return -1;
            }
        } else {
            rdma_fail(r, errp, "completion of unknown work request 0x%"
                      PRIx64, wc[i].wr_id);
            return -1;
        }
    }
    return 1;
}

/* Wait (as long as it takes, or until shutdown) for completions. */
static bool rdma_poll(RDMAContext *r, Error **errp)
{
    int ret;

    do {
        ret = rdma_poll_ms(r, 1000, errp);
    } while (ret == 0);
    return ret > 0;
}

void rdma_context_drain(RDMAContext *r)
{
    int64_t deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    Error *err = NULL;
    bool busy;
    int ret = 1;

    do {
        busy = r->writes_in_flight > 0;
        for (int i = 0; i < RDMA_CONTROL_DEPTH; i++) {
            busy |= r->send_busy[i];
        }
        if (busy) {
            ret = rdma_poll_ms(r, 100, &err);
        }
    } while (busy && ret >= 0 && g_get_monotonic_time() < deadline);
    trace_rdma_drain(busy);
    error_free(err);
}

/* ---- messages ---- */

uint8_t *rdma_send_begin(RDMAContext *r, int *slot, Error **errp)
{
    for (;;) {
        if (r->broken) {
            rdma_fail(r, errp, "the connection failed earlier");
            return NULL;
        }
        if (r->credits > 0) {
            for (int i = 0; i < RDMA_CONTROL_DEPTH; i++) {
                if (!r->send_busy[i]) {
                    *slot = i;
                    return r->send_buf + (size_t)i * RDMA_CONTROL_BUF_SIZE +
                           RDMA_HEADER_SIZE;
                }
            }
        }
        if (!rdma_poll(r, errp)) {
            return NULL;
        }
    }
}

bool rdma_send_commit(RDMAContext *r, int slot, uint32_t type,
                      uint32_t repeat, uint32_t len, Error **errp)
{
    uint8_t *p = r->send_buf + (size_t)slot * RDMA_CONTROL_BUF_SIZE;
    QemuRdmaError e = { 0 };

    assert(len <= RDMA_CONTROL_MAX_PAYLOAD && r->credits > 0);
    stl_be_p(p, len);
    stl_be_p(p + 4, type);
    stl_be_p(p + 8, repeat);
    stl_be_p(p + 12, r->owed);
    trace_rdma_send(rdma_control_name(type), len, r->owed, r->credits);
    if (r->ops->post_send(r->conn, RDMA_WRID_SEND | slot, p,
                          RDMA_HEADER_SIZE + len, r->send_lkey, &e) < 0) {
        r->broken = true;
        rdma_error_set(errp, &e, "Could not send an RDMA control message");
        return false;
    }
    r->owed = 0;
    r->credits--;
    r->send_busy[slot] = true;
    return true;
}

/* A message with no payload. */
static bool rdma_send_empty(RDMAContext *r, uint32_t type, Error **errp)
{
    int slot;

    return rdma_send_begin(r, &slot, errp) &&
           rdma_send_commit(r, slot, type, 0, 0, errp);
}

bool rdma_recv_next(RDMAContext *r, uint32_t want, int *slot,
                    uint32_t *type, uint32_t *repeat, const uint8_t **data,
                    uint32_t *len, Error **errp)
{
    const uint8_t *p;

    while (!r->ready_count) {
        if (!rdma_poll(r, errp)) {
            return false;
        }
    }
    *slot = r->ready_slot[r->ready_head];
    r->ready_head = (r->ready_head + 1) % RDMA_CONTROL_DEPTH;
    r->ready_count--;
    p = r->recv_buf + (size_t)*slot * RDMA_CONTROL_BUF_SIZE;
    *len = ldl_be_p(p);
    *type = ldl_be_p(p + 4);
    *repeat = ldl_be_p(p + 8);
    *data = p + RDMA_HEADER_SIZE;
    if (*type == RDMA_CONTROL_ERROR) {
        rdma_recv_release(r, *slot, NULL);
        return rdma_fail(r, errp, "the peer reported an error and gave up");
    }
    if (want != RDMA_CONTROL_NONE && *type != want) {
        rdma_recv_release(r, *slot, NULL);
        return rdma_fail(r, errp, "expected control message %s, received "
                         "%s", rdma_control_name(want),
                         rdma_control_name(*type));
    }
    return true;
}

bool rdma_recv_release(RDMAContext *r, int slot, Error **errp)
{
    if (!rdma_post_recv_slot(r, slot, errp)) {
        r->broken = true;
        return false;
    }
    r->owed++;
    /*
     * Nothing else may go back for a while: return credits explicitly.
     * Only a courtesy: at the end of the stream the source may be gone
     * already, and what it sent is still to be read, so a failure here
     * is left for the next exchange that needs the peer to report.
     */
    if (r->owed >= RDMA_CREDIT_RETURN && r->credits > 1) {
        Error *err = NULL;
        bool broken = r->broken;

        if (!rdma_send_empty(r, RDMA_CONTROL_READY, &err)) {
            trace_rdma_ready_failed(error_get_pretty(err));
            error_free(err);
            r->broken = broken;
        }
    }
    return true;
}

/* ---- RAM: the block list ---- */

static void rdma_blocks_init(RDMAContext *r, RAMBlock **rbs, guint n)
{
    r->blocks = g_new0(RDMABlock, n);
    r->nblocks = n;
    for (guint i = 0; i < n; i++) {
        RDMABlock *b = &r->blocks[i];
        uint64_t nmr;

        b->rb = rbs[i];
        b->host = rbs[i]->host;
        b->length = rbs[i]->used_length;
        b->nchunks = DIV_ROUND_UP(b->length, RDMA_CHUNK_SIZE);
        nmr = r->pin_all ? 1 : b->nchunks;
        b->mr = g_new0(QemuRdmaMr *, nmr);
        b->lkey = g_new0(uint32_t, nmr);
        b->rkey_local = g_new0(uint32_t, nmr);
        if (r->source) {
            b->remote_addr = g_new0(uint64_t, b->nchunks);
            b->remote_rkeys = g_new0(uint32_t, b->nchunks);
            b->written = bitmap_new(b->nchunks);
        }
    }
    r->blocks_ready = true;
}

/* Register chunk @c of @b (or the whole block with pin-all), once. */
static bool rdma_block_register(RDMAContext *r, RDMABlock *b, uint64_t c,
                                Error **errp)
{
    uint64_t idx = r->pin_all ? 0 : c;
    uint64_t start = r->pin_all ? 0 : c << RDMA_CHUNK_SHIFT;
    uint64_t len = r->pin_all ? b->length
                              : MIN(RDMA_CHUNK_SIZE, b->length - start);
    QemuRdmaError e = { 0 };

    if (b->mr[idx]) {
        return true;
    }
    b->mr[idx] = r->ops->reg_mr(r->conn, b->host + start, len, !r->source,
                                &b->lkey[idx], &b->rkey_local[idx], &e);
    if (!b->mr[idx]) {
        g_autofree char *what = g_strdup_printf("Could not register %" PRIu64
                                                " bytes of RAM block '%s' "
                                                "for RDMA", len,
                                                b->rb->idstr);
        rdma_error_set(errp, &e, what);
        r->broken = true;
        return false;
    }
    trace_rdma_register(b->rb->idstr, start, len, b->rkey_local[idx]);
    return true;
}

bool rdma_ram_setup(RDMAContext *r, Error **errp)
{
    GPtrArray *list = ram_block_list();
    const uint8_t *p;
    uint32_t type, repeat, len;
    int slot;

    rdma_blocks_init(r, (RAMBlock **)list->pdata, list->len);
    if (!rdma_send_empty(r, RDMA_CONTROL_RAM_BLOCKS_REQUEST, errp) ||
        !rdma_recv_next(r, RDMA_CONTROL_RAM_BLOCKS_RESULT, &slot, &type,
                        &repeat, &p, &len, errp)) {
        return false;
    }
    if (repeat != r->nblocks || len != repeat * RDMA_REMOTE_BLOCK_SIZE) {
        rdma_recv_release(r, slot, NULL);
        return rdma_fail(r, errp, "the destination lists %u RAM blocks "
                         "(%u bytes), this source has %u", repeat, len,
                         r->nblocks);
    }
    for (guint i = 0; i < r->nblocks; i++, p += RDMA_REMOTE_BLOCK_SIZE) {
        RDMABlock *b = &r->blocks[i];
        uint64_t length = ldq_be_p(p + 16);

        if (length != b->length) {
            rdma_recv_release(r, slot, NULL);
            return rdma_fail(r, errp, "RAM block '%s' is 0x%" PRIx64 " bytes "
                             "here and 0x%" PRIx64 " on the destination",
                             b->rb->idstr, b->length, length);
        }
        b->remote_host = ldq_be_p(p);
        b->remote_rkey = ldl_be_p(p + 24);
    }
    if (!rdma_recv_release(r, slot, errp)) {
        return false;
    }
    for (guint i = 0; r->pin_all && i < r->nblocks; i++) {
        if (!rdma_block_register(r, &r->blocks[i], 0, errp)) {
            return false;
        }
    }
    trace_rdma_ram_setup(r->nblocks, r->pin_all);
    return rdma_send_empty(r, RDMA_CONTROL_REGISTER_FINISHED, errp);
}

/* ---- RAM: source writes ---- */

static RDMABlock *rdma_block_of(RDMAContext *r, RAMBlock *rb)
{
    for (guint i = 0; i < r->nblocks; i++) {
        if (r->blocks[i].rb == rb) {
            return &r->blocks[i];
        }
    }
    return NULL;
}

/* The destination's address and rkey of chunk @c (asked once). */
static bool rdma_remote_chunk(RDMAContext *r, RDMABlock *b, uint64_t c,
                              Error **errp)
{
    const uint8_t *p;
    uint32_t type, repeat, len;
    uint8_t *req;
    int slot;

    if (r->pin_all || b->remote_rkeys[c]) {
        return true;
    }
    req = rdma_send_begin(r, &slot, errp);
    if (!req) {
        return false;
    }
    stq_be_p(req, c);
    stl_be_p(req + 8, b - r->blocks);
    stl_be_p(req + 12, 0);
    stq_be_p(req + 16, 1);
    if (!rdma_send_commit(r, slot, RDMA_CONTROL_REGISTER_REQUEST, 1,
                          RDMA_REGISTER_SIZE, errp) ||
        !rdma_recv_next(r, RDMA_CONTROL_REGISTER_RESULT, &slot, &type,
                        &repeat, &p, &len, errp)) {
        return false;
    }
    if (repeat != 1 || len != RDMA_REGISTER_RESULT_SIZE ||
        !ldl_be_p(p)) {
        rdma_recv_release(r, slot, NULL);
        return rdma_fail(r, errp, "bad REGISTER RESULT for chunk %" PRIu64
                         " of RAM block '%s'", c, b->rb->idstr);
    }
    b->remote_rkeys[c] = ldl_be_p(p);
    b->remote_addr[c] = ldq_be_p(p + 8);
    return rdma_recv_release(r, slot, errp);
}

/* Post the pending merged write. */
static bool rdma_write_flush(RDMAContext *r, Error **errp)
{
    RDMABlock *b = r->pending.b;
    uint64_t off = r->pending.offset, c = off >> RDMA_CHUNK_SHIFT;
    uint64_t raddr;
    uint32_t rkey;
    QemuRdmaError e = { 0 };

    if (!b) {
        return true;
    }
    r->pending.b = NULL;
    if (!rdma_block_register(r, b, c, errp) ||
        !rdma_remote_chunk(r, b, c, errp)) {
        return false;
    }
    if (r->pin_all) {
        raddr = b->remote_host + off;
        rkey = b->remote_rkey;
    } else {
        raddr = b->remote_addr[c] + (off - (c << RDMA_CHUNK_SHIFT));
        rkey = b->remote_rkeys[c];
    }
    while (r->writes_in_flight >= RDMA_MAX_WRITES) {
        if (!rdma_poll(r, errp)) {
            return false;
        }
    }
    trace_rdma_write(b->rb->idstr, off, r->pending.len);
    if (r->ops->post_write(r->conn, RDMA_WRID_WRITE, b->host + off,
                           r->pending.len, b->lkey[r->pin_all ? 0 : c],
                           raddr, rkey, &e) < 0) {
        r->broken = true;
        rdma_error_set(errp, &e, "Could not post an RDMA WRITE");
        return false;
    }
    r->writes_in_flight++;
    r->bytes_written += r->pending.len;
    stat64_add(&mig_stats.rdma_bytes, r->pending.len);
    return true;
}

int rdma_ram_save_page(RDMAContext *r, RAMBlock *rb, uint64_t offset,
                       bool zero, Error **errp)
{
    RDMABlock *b = r->pending.b && r->pending.b->rb == rb ? r->pending.b
                                                          : rdma_block_of(r,
                                                                          rb);
    uint64_t c = offset >> RDMA_CHUNK_SHIFT;

    if (!b || offset + TARGET_PAGE_SIZE > b->length) {
        error_setg(errp, "RDMA: page 0x%" PRIx64 " of RAM block '%s' is not "
                   "in the block list", offset, rb->idstr);
        return -1;
    }
    if (zero && !test_bit(c, b->written)) {
        return 0;
    }
    set_bit(c, b->written);
    if (r->pending.b == b &&
        offset == r->pending.offset + r->pending.len &&
        c == r->pending.offset >> RDMA_CHUNK_SHIFT) {
        r->pending.len += TARGET_PAGE_SIZE;
        return 1;
    }
    if (!rdma_write_flush(r, errp)) {
        return -1;
    }
    r->pending.b = b;
    r->pending.offset = offset;
    r->pending.len = TARGET_PAGE_SIZE;
    return 1;
}

bool rdma_ram_finish(RDMAContext *r, Error **errp)
{
    if (!rdma_write_flush(r, errp)) {
        return false;
    }
    /*
     * FINISHED is delivered after the writes (ordering of one queue
     * pair); waiting for their completions also bounds what is in
     * flight when the VM stops.
     */
    while (r->writes_in_flight) {
        if (!rdma_poll(r, errp)) {
            return false;
        }
    }
    return rdma_send_empty(r, RDMA_CONTROL_REGISTER_FINISHED, errp);
}

/* ---- RAM: destination ---- */

static bool rdma_load_blocks_request(RDMAContext *r, GPtrArray *blocks,
                                     Error **errp)
{
    uint8_t *p;
    int slot;

    if (r->blocks_ready) {
        return rdma_fail(r, errp, "RAM BLOCKS REQUEST received twice");
    }
    if (!blocks || !blocks->len ||
        (size_t)blocks->len * RDMA_REMOTE_BLOCK_SIZE >
        RDMA_CONTROL_MAX_PAYLOAD) {
        return rdma_fail(r, errp, "RAM BLOCKS REQUEST before a usable RAM "
                         "block list");
    }
    rdma_blocks_init(r, (RAMBlock **)blocks->pdata, blocks->len);
    for (guint i = 0; r->pin_all && i < r->nblocks; i++) {
        if (!rdma_block_register(r, &r->blocks[i], 0, errp)) {
            return false;
        }
    }
    p = rdma_send_begin(r, &slot, errp);
    if (!p) {
        return false;
    }
    for (guint i = 0; i < r->nblocks; i++, p += RDMA_REMOTE_BLOCK_SIZE) {
        RDMABlock *b = &r->blocks[i];

        stq_be_p(p, (uintptr_t)b->host);
        stq_be_p(p + 8, 0);
        stq_be_p(p + 16, b->length);
        stl_be_p(p + 24, r->pin_all ? b->rkey_local[0] : 0);
        stl_be_p(p + 28, 0);
    }
    return rdma_send_commit(r, slot, RDMA_CONTROL_RAM_BLOCKS_RESULT,
                            r->nblocks,
                            r->nblocks * RDMA_REMOTE_BLOCK_SIZE, errp);
}

/* REGISTER REQUEST: every entry checked before anything is registered. */
static bool rdma_load_register(RDMAContext *r, const uint8_t *req,
                               uint32_t repeat, uint32_t len, Error **errp)
{
    uint8_t *out;
    int slot;

    if (!r->blocks_ready) {
        return rdma_fail(r, errp, "REGISTER REQUEST before the RAM block "
                         "list");
    }
    if (!repeat || (uint64_t)repeat * RDMA_REGISTER_SIZE != len ||
        (uint64_t)repeat * RDMA_REGISTER_RESULT_SIZE >
        RDMA_CONTROL_MAX_PAYLOAD) {
        return rdma_fail(r, errp, "REGISTER REQUEST with %u entries in %u "
                         "bytes", repeat, len);
    }
    for (uint32_t i = 0; i < repeat; i++) {
        const uint8_t *e = req + (size_t)i * RDMA_REGISTER_SIZE;
        uint64_t chunk = ldq_be_p(e), chunks = ldq_be_p(e + 16);
        uint32_t idx = ldl_be_p(e + 8);

        if (idx >= r->nblocks || chunks != 1 ||
            chunk >= r->blocks[idx].nchunks) {
            return rdma_fail(r, errp, "REGISTER REQUEST for chunk %" PRIu64
                             " (+%" PRIu64 ") of block %u is outside guest "
                             "RAM", chunk, chunks, idx);
        }
    }
    out = rdma_send_begin(r, &slot, errp);
    if (!out) {
        return false;
    }
    for (uint32_t i = 0; i < repeat; i++) {
        const uint8_t *e = req + (size_t)i * RDMA_REGISTER_SIZE;
        uint64_t chunk = ldq_be_p(e);
        RDMABlock *b = &r->blocks[ldl_be_p(e + 8)];
        uint64_t idx = r->pin_all ? 0 : chunk;
        uint64_t start = r->pin_all ? 0 : chunk << RDMA_CHUNK_SHIFT;

        if (!rdma_block_register(r, b, chunk, errp)) {
            return false;
        }
        stl_be_p(out, b->rkey_local[idx]);
        stl_be_p(out + 4, 0);
        stq_be_p(out + 8, (uintptr_t)b->host + start);
        out += RDMA_REGISTER_RESULT_SIZE;
    }
    return rdma_send_commit(r, slot, RDMA_CONTROL_REGISTER_RESULT, repeat,
                            repeat * RDMA_REGISTER_RESULT_SIZE, errp);
}

/* COMPRESS: one page-aligned range of a block filled with @value. */
static bool rdma_load_compress(RDMAContext *r, const uint8_t *p,
                               uint32_t len, Error **errp)
{
    uint32_t value, idx;
    uint64_t offset, length;
    RDMABlock *b;

    if (!r->blocks_ready || len != RDMA_COMPRESS_SIZE) {
        return rdma_fail(r, errp, "COMPRESS of %u bytes before the block "
                         "list or malformed", len);
    }
    value = ldl_be_p(p);
    idx = ldl_be_p(p + 4);
    offset = ldq_be_p(p + 8);
    length = ldq_be_p(p + 16);
    if (idx >= r->nblocks || value > 0xff ||
        (offset | length) & (TARGET_PAGE_SIZE - 1)) {
        return rdma_fail(r, errp, "COMPRESS of block %u offset 0x%" PRIx64
                         " value %u is malformed", idx, offset, value);
    }
    b = &r->blocks[idx];
    if (offset > b->length || length > b->length - offset) {
        return rdma_fail(r, errp, "COMPRESS of 0x%" PRIx64 " bytes at 0x%"
                         PRIx64 " is outside RAM block '%s'", length, offset,
                         b->rb->idstr);
    }
    memset(b->host + offset, value, length);
    return true;
}

bool rdma_load_hook(RDMAContext *r, GPtrArray *blocks, Error **errp)
{
    for (;;) {
        const uint8_t *p;
        uint32_t type, repeat, len;
        bool ok;
        int slot;

        if (!rdma_recv_next(r, RDMA_CONTROL_NONE, &slot, &type, &repeat, &p,
                            &len, errp)) {
            return false;
        }
        trace_rdma_load_hook(rdma_control_name(type), repeat);
        switch (type) {
        case RDMA_CONTROL_RAM_BLOCKS_REQUEST:
            ok = rdma_load_blocks_request(r, blocks, errp);
            break;
        case RDMA_CONTROL_REGISTER_REQUEST:
            ok = rdma_load_register(r, p, repeat, len, errp);
            break;
        case RDMA_CONTROL_COMPRESS:
            ok = rdma_load_compress(r, p, len, errp);
            break;
        case RDMA_CONTROL_REGISTER_FINISHED:
            return rdma_recv_release(r, slot, errp);
        default:
            ok = rdma_fail(r, errp, "unexpected control message %s while "
                           "serving RAM registration",
                           rdma_control_name(type));
            break;
        }
        if (!ok) {
            return false;
        }
        if (!rdma_recv_release(r, slot, errp)) {
            return false;
        }
    }
}
