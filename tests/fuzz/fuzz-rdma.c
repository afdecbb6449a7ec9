/*
 * libFuzzer target "rdma": the destination of an RDMA migration as the
 * source's SENDs reach it.
 *
 * Input: byte 0 bit 0 says whether the source asked for rdma-pin-all;
 * the rest is a sequence of messages, each a be16 length and that many
 * bytes, delivered in order as received SENDs (control header included)
 * into the receive buffers the engine posted.  A provider in this file
 * (the same interface as the verbs and software providers) plays the
 * wire; the engine (migration/rdma.c), the "rdma" channel and the real
 * loader run on top of it: the QEMU_FILE messages carry the stream, a
 * HOOK record hands over to registration (RAM_BLOCKS_REQUEST,
 * REGISTER_REQUEST, COMPRESS, REGISTER_FINISHED).
 *
 * Checked beyond "no crash, no leak, an error message on failure": every
 * region the engine registers for the peer's WRITEs lies inside guest
 * RAM (the provider aborts otherwise), and the destination never posts a
 * WRITE of its own.
 *
 * Seeds ("--make-seeds=DIR"): hand-built sessions in the layout of
 * docs/devel/migration/rdma.md, with and without pin-all and COMPRESS;
 * each must load completely before it is written.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "io/channel.h"
#include "../../migration/rdma-internal.h"
#include "fuzz-common.h"
#include "fuzz-target.h"

#define FUZZ_RDMA_RECVS 64

struct QemuRdmaMr {
    uint8_t *addr;
    size_t len;
};

struct QemuRdmaConn {
    const uint8_t *in;
    size_t left;
    struct {
        uint64_t wr_id;
        uint8_t *buf;
        uint32_t len;
    } recv[FUZZ_RDMA_RECVS];
    unsigned recv_head, recv_count;
    uint64_t sends_done[FUZZ_RDMA_RECVS];
    unsigned nsends;
};

static QemuRdmaConn fuzz_conn;

static int fuzz_rdma_probe(QemuRdmaError *err)
{
    return 0;
}

static QemuRdmaMr *fuzz_rdma_reg_mr(QemuRdmaConn *c, void *addr, size_t len,
                                    bool remote_write, uint32_t *lkey,
                                    uint32_t *rkey, QemuRdmaError *err)
{
    RAMBlock *rb = fuzz_target_ram();
    QemuRdmaMr *mr = g_new0(QemuRdmaMr, 1);

    if (remote_write &&
        ((uint8_t *)addr < rb->host || len > rb->used_length ||
         (uint8_t *)addr - rb->host > rb->used_length - len)) {
        fprintf(stderr, "rdma: registered %zu bytes at %p for remote "
                "write, outside guest RAM\n", len, addr);
        abort();
    }
    mr->addr = addr;
    mr->len = len;
    *lkey = *rkey = 0x100;
    return mr;
}

static void fuzz_rdma_dereg_mr(QemuRdmaConn *c, QemuRdmaMr *mr)
{
    g_free(mr);
}

static int fuzz_rdma_post_send(QemuRdmaConn *c, uint64_t wr_id,
                               const void *buf, uint32_t len, uint32_t lkey,
                               QemuRdmaError *err)
{
    if (c->nsends == FUZZ_RDMA_RECVS) {
        err->code = -ENOSPC;
        snprintf(err->msg, sizeof(err->msg), "send queue full");
        return err->code;
    }
    c->sends_done[c->nsends++] = wr_id;
    return 0;
}

static int fuzz_rdma_post_recv(QemuRdmaConn *c, uint64_t wr_id, void *buf,
                               uint32_t len, uint32_t lkey,
                               QemuRdmaError *err)
{
    unsigned i = (c->recv_head + c->recv_count) % FUZZ_RDMA_RECVS;

    assert(c->recv_count < FUZZ_RDMA_RECVS);
    c->recv[i].wr_id = wr_id;
    c->recv[i].buf = buf;
    c->recv[i].len = len;
    c->recv_count++;
    return 0;
}

static int fuzz_rdma_post_write(QemuRdmaConn *c, uint64_t wr_id,
                                const void *buf, uint32_t len, uint32_t lkey,
                                uint64_t raddr, uint32_t rkey,
                                QemuRdmaError *err)
{
    fprintf(stderr, "rdma: the destination posted an RDMA WRITE\n");
    abort();
}

/* Send completions first, then the next input message as a RECV. */
static int fuzz_rdma_poll(QemuRdmaConn *c, QemuRdmaCompletion *wc, int max,
                          int timeout_ms, QemuRdmaError *err)
{
    uint16_t len;

    if (c->nsends) {
        int n = MIN((int)c->nsends, max);

        for (int i = 0; i < n; i++) {
            wc[i] = (QemuRdmaCompletion){ .wr_id = c->sends_done[i],
                                          .op = QEMU_RDMA_WC_SEND };
        }
        memmove(c->sends_done, c->sends_done + n,
                (c->nsends - n) * sizeof(c->sends_done[0]));
        c->nsends -= n;
        return n;
    }
    if (c->left < 2 || !c->recv_count) {
        err->code = -ECONNRESET;
        snprintf(err->msg, sizeof(err->msg), c->recv_count ? "end of input"
                 : "SEND with no receive buffer posted");
        return err->code;
    }
    len = c->in[0] << 8 | c->in[1];
    c->in += 2;
    c->left -= 2;
    len = MIN(len, c->left);
    wc[0] = (QemuRdmaCompletion){ .wr_id = c->recv[c->recv_head].wr_id,
                                  .op = QEMU_RDMA_WC_RECV,
                                  .byte_len = len };
    if (len > c->recv[c->recv_head].len) {
        wc[0].status = -EMSGSIZE;
    } else {
        memcpy(c->recv[c->recv_head].buf, c->in, len);
    }
    c->in += len;
    c->left -= len;
    c->recv_head = (c->recv_head + 1) % FUZZ_RDMA_RECVS;
    c->recv_count--;
    return 1;
}

static void fuzz_rdma_shutdown(QemuRdmaConn *c)
{
    c->left = 0;
}

static void fuzz_rdma_close(QemuRdmaConn *c)
{
}

static const QemuRdmaProvider fuzz_rdma_provider = {
    .abi = QEMU_RDMA_PROVIDER_ABI,
    .name = "fuzz",
    .probe = fuzz_rdma_probe,
    .reg_mr = fuzz_rdma_reg_mr,
    .dereg_mr = fuzz_rdma_dereg_mr,
    .post_send = fuzz_rdma_post_send,
    .post_recv = fuzz_rdma_post_recv,
    .post_write = fuzz_rdma_post_write,
    .poll = fuzz_rdma_poll,
    .shutdown = fuzz_rdma_shutdown,
    .close = fuzz_rdma_close,
};

/* ---- seeds ---- */

static void seed_msg(GByteArray *a, uint32_t type, uint32_t repeat,
                     const GByteArray *payload)
{
    uint32_t len = payload ? payload->len : 0;
    uint8_t h[18];

    h[0] = (16 + len) >> 8;
    h[1] = 16 + len;
    for (int i = 0; i < 4; i++) {
        uint32_t v = i == 0 ? len : i == 1 ? type : i == 2 ? repeat : 0;

        h[2 + 4 * i] = v >> 24;
        h[3 + 4 * i] = v >> 16;
        h[4 + 4 * i] = v >> 8;
        h[5 + 4 * i] = v;
    }
    g_byte_array_append(a, h, sizeof(h));
    if (len) {
        g_byte_array_append(a, payload->data, len);
    }
}

static void put_be(GByteArray *a, uint64_t v, int bytes)
{
    while (bytes--) {
        uint8_t b = v >> (8 * bytes);

        g_byte_array_append(a, &b, 1);
    }
}

static void put_counted(GByteArray *a, const char *s)
{
    put_be(a, strlen(s), 1);
    g_byte_array_append(a, (const uint8_t *)s, strlen(s));
}

/* A session: stream to the hook, registrations, the rest of the stream. */
static GByteArray *seed_session(bool pin_all, bool compress)
{
    GByteArray *a = g_byte_array_new();
    g_autoptr(GByteArray) s = g_byte_array_new();
    g_autoptr(GByteArray) p = g_byte_array_new();

    put_be(a, pin_all, 1);
    put_be(s, 0x5145564d, 4);                   /* QEVM */
    put_be(s, 3, 4);
    put_be(s, 0x07, 1);                         /* CONFIGURATION */
    /* "pc" resolves to this name, which the stream carries. */
    put_be(s, strlen("pc-i440fx"), 4);
    g_byte_array_append(s, (const uint8_t *)"pc-i440fx", 9);
    put_be(s, 0x01, 1);                         /* SECTION_START */
    put_be(s, 1, 4);
    put_counted(s, "ram");
    put_be(s, 0, 4);
    put_be(s, 4, 4);
    put_be(s, FUZZ_RAM_SIZE | 0x04, 8);         /* MEM_SIZE */
    put_counted(s, FUZZ_RAM_NAME);
    put_be(s, FUZZ_RAM_SIZE, 8);
    put_be(s, 0x80, 8);                         /* HOOK */
    seed_msg(a, RDMA_CONTROL_QEMU_FILE, 0, s);
    seed_msg(a, RDMA_CONTROL_RAM_BLOCKS_REQUEST, 0, NULL);
    put_be(p, 1, 8);                            /* chunk 1 of block 0 */
    put_be(p, 0, 4);
    put_be(p, 0, 4);
    put_be(p, 1, 8);
    seed_msg(a, RDMA_CONTROL_REGISTER_REQUEST, 1, p);
    if (compress) {
        g_byte_array_set_size(p, 0);
        put_be(p, 0, 4);                        /* value */
        put_be(p, 0, 4);                        /* block */
        put_be(p, 0x1000, 8);
        put_be(p, 0x2000, 8);
        seed_msg(a, RDMA_CONTROL_COMPRESS, 0, p);
    }
    seed_msg(a, RDMA_CONTROL_REGISTER_FINISHED, 0, NULL);
    g_byte_array_set_size(s, 0);
    put_be(s, 0x10, 8);                         /* EOS */
    put_be(s, 0x7e, 1);                         /* footer */
    put_be(s, 1, 4);
    put_be(s, 0x00, 1);                         /* EOF */
    seed_msg(a, RDMA_CONTROL_QEMU_FILE, 0, s);
    return a;
}

/* One input through the engine, the "rdma" channel and the loader. */
static bool fuzz_rdma_load(const uint8_t *data, size_t size, Error **errp)
{
    RDMAContext *r;
    QIOChannel *ioc;
    bool ok;

    memset(&fuzz_conn, 0, sizeof(fuzz_conn));
    fuzz_conn.in = size ? data + 1 : data;
    fuzz_conn.left = size ? size - 1 : 0;
    r = rdma_context_new(&fuzz_rdma_provider, &fuzz_conn, false,
                         size && (data[0] & 1), "fuzz", errp);
    if (!r) {
        return false;
    }
    ioc = qio_channel_rdma_new(r);
    ok = fuzz_load_channel(0, ioc, errp);
    qio_channel_unref(ioc);
    return ok;
}

/* Every seed must load: a layout drift fails here, not silently. */
static bool fuzz_rdma_make_seeds(const char *dir, Error **errp)
{
    fuzz_target_init();
    for (int i = 0; i < 4; i++) {
        g_autoptr(GByteArray) a = seed_session(i & 1, i & 2);
        g_autofree char *name = g_strdup_printf("session-%d", i);

        if (!fuzz_rdma_load(a->data, a->len, errp)) {
            error_prepend(errp, "seed %s does not load: ", name);
            return false;
        }
        if (!fuzz_write_seed(dir, name, a->data, a->len, errp)) {
            return false;
        }
    }
    return true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_handle_make_seeds(*argc, *argv, fuzz_rdma_make_seeds);
    fuzz_target_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Error *err = NULL;
    bool ok = fuzz_rdma_load(data, size, &err);

    fuzz_check_error(ok, err);
    return 0;
}
