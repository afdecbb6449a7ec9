/*
 * The RDMA provider on rdma-core: librdmacm for addressing and connection
 * setup, libibverbs for memory registration, one RC queue pair and one
 * completion queue per connection (rdma-provider.h says which thread
 * calls each hook).
 *
 * Waiting: poll() sleeps on the completion channel's fd and on an
 * eventfd that shutdown() signals, so a cancel wakes a blocked poll at
 * once from any thread.  Connection events (disconnect) are not waited
 * for: a dead peer shows up as failed or flushed work requests.
 *
 * Built and reviewed against rdma-core 44; no RDMA device exists on the
 * machines this project is tested on (docs/devel/migration/rdma.md).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>
#include "rdma-provider.h"

#define VERBS_QUEUE_DEPTH 128
#define VERBS_CQ_SIZE (VERBS_QUEUE_DEPTH * 3)
#define VERBS_RESOLVE_MS 5000

struct QemuRdmaConn {
    struct rdma_event_channel *ec;
    struct rdma_cm_id *id;
    struct ibv_pd *pd;
    struct ibv_comp_channel *cc;
    struct ibv_cq *cq;
    int wake_fd;                /* eventfd: shutdown() */
    bool shut;                  /* atomic */
    bool listener;
};

static int verbs_fail(QemuRdmaError *err, int code, const char *what)
{
    err->code = code < 0 ? code : -code;
    snprintf(err->msg, sizeof(err->msg), "%s: %s", what,
             strerror(-err->code));
    return err->code;
}

static int verbs_probe(QemuRdmaError *err)
{
    int n = 0;
    struct ibv_device **list = ibv_get_device_list(&n);

    if (list) {
        ibv_free_device_list(list);
    }
    if (n <= 0) {
        err->code = -ENODEV;
        snprintf(err->msg, sizeof(err->msg), "no RDMA device found "
                 "(ibv_get_device_list lists none: no InfiniBand/RoCE/iWARP "
                 "adapter, and no soft-RoCE rdma_rxe link configured)");
        return -ENODEV;
    }
    return 0;
}

/* The next CM event, which must be @want; its private data copied out. */
static int verbs_wait_event(QemuRdmaConn *c, enum rdma_cm_event_type want,
                            struct rdma_cm_id **id, void *priv,
                            size_t *priv_len, QemuRdmaError *err)
{
    struct rdma_cm_event *ev;
    int status;

    if (rdma_get_cm_event(c->ec, &ev) < 0) {
        return verbs_fail(err, errno, "rdma_get_cm_event");
    }
    if (ev->event != want) {
        err->code = -ECONNREFUSED;
        snprintf(err->msg, sizeof(err->msg), "RDMA connection manager "
                 "event %s, expected %s (status %d)",
                 rdma_event_str(ev->event), rdma_event_str(want),
                 ev->status);
        rdma_ack_cm_event(ev);
        return err->code;
    }
    status = ev->status;
    if (id) {
        *id = ev->id;
    }
    if (priv_len) {
        size_t n = MIN(*priv_len, ev->param.conn.private_data_len);

        if (ev->param.conn.private_data) {
            memcpy(priv, ev->param.conn.private_data, n);
        } else {
            n = 0;
        }
        *priv_len = n;
    }
    rdma_ack_cm_event(ev);
    if (status) {
        return verbs_fail(err, status, rdma_event_str(want));
    }
    return 0;
}

/* Protection domain, completion queue and RC queue pair on @id. */
static int verbs_setup_qp(QemuRdmaConn *c, struct rdma_cm_id *id,
                          QemuRdmaError *err)
{
    struct ibv_qp_init_attr attr = { 0 };

    c->pd = ibv_alloc_pd(id->verbs);
    c->cc = c->pd ? ibv_create_comp_channel(id->verbs) : NULL;
    c->cq = c->cc ? ibv_create_cq(id->verbs, VERBS_CQ_SIZE, NULL, c->cc, 0)
                  : NULL;
    if (!c->cq || ibv_req_notify_cq(c->cq, 0)) {
        return verbs_fail(err, errno ? errno : ENOMEM,
                          "Could not create the RDMA completion queue");
    }
    attr.cap.max_send_wr = VERBS_QUEUE_DEPTH;
    attr.cap.max_recv_wr = VERBS_QUEUE_DEPTH;
    attr.cap.max_send_sge = 1;
    attr.cap.max_recv_sge = 1;
    attr.send_cq = c->cq;
    attr.recv_cq = c->cq;
    attr.qp_type = IBV_QPT_RC;
    if (rdma_create_qp(id, c->pd, &attr) < 0) {
        return verbs_fail(err, errno, "rdma_create_qp");
    }
    c->id = id;
    return 0;
}

static QemuRdmaConn *verbs_conn_new(bool listener)
{
    QemuRdmaConn *c = g_new0(QemuRdmaConn, 1);

    c->listener = listener;
    c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    c->ec = rdma_create_event_channel();
    return c;
}

static void verbs_close(QemuRdmaConn *c)
{
    if (c->id && c->id->qp) {
        rdma_disconnect(c->id);
        rdma_destroy_qp(c->id);
    }
    if (c->cq) {
        ibv_destroy_cq(c->cq);
    }
    if (c->cc) {
        ibv_destroy_comp_channel(c->cc);
    }
    if (c->pd) {
        ibv_dealloc_pd(c->pd);
    }
    if (c->id) {
        rdma_destroy_id(c->id);
    }
    if (c->ec) {
        rdma_destroy_event_channel(c->ec);
    }
    if (c->wake_fd >= 0) {
        close(c->wake_fd);
    }
    g_free(c);
}

static struct rdma_addrinfo *verbs_resolve(const char *host,
                                           const char *port, bool passive,
                                           QemuRdmaError *err)
{
    struct rdma_addrinfo hints = { 0 }, *res = NULL;
    int ret;

    hints.ai_port_space = RDMA_PS_TCP;
    hints.ai_flags = passive ? RAI_PASSIVE : 0;
    ret = rdma_getaddrinfo(host && *host ? host : NULL, port, &hints, &res);
    if (ret) {
        err->code = -EHOSTUNREACH;
        snprintf(err->msg, sizeof(err->msg), "could not resolve %s:%s: %s",
                 host, port, gai_strerror(ret));
        return NULL;
    }
    return res;
}

static QemuRdmaConn *verbs_listen(const char *host, const char *port,
                                  QemuRdmaError *err)
{
    QemuRdmaConn *c = verbs_conn_new(true);
    struct rdma_addrinfo *ai = verbs_resolve(host, port, true, err);

    if (!ai || !c->ec) {
        if (!err->code) {
            verbs_fail(err, errno, "rdma_create_event_channel");
        }
        goto fail;
    }
    if (rdma_create_id(c->ec, &c->id, NULL, RDMA_PS_TCP) < 0 ||
        rdma_bind_addr(c->id, ai->ai_src_addr) < 0 ||
        rdma_listen(c->id, 4) < 0) {
        verbs_fail(err, errno, "Could not listen with the RDMA connection "
                   "manager");
        goto fail;
    }
    rdma_freeaddrinfo(ai);
    return c;
fail:
    if (ai) {
        rdma_freeaddrinfo(ai);
    }
    verbs_close(c);
    return NULL;
}

static int verbs_listen_fd(QemuRdmaConn *l)
{
    return l->ec->fd;
}

static QemuRdmaConn *verbs_accept(QemuRdmaConn *l, void *peer_priv,
                                  size_t *peer_len, const void *reply,
                                  size_t reply_len, QemuRdmaError *err)
{
    struct rdma_conn_param param = { 0 };
    struct rdma_cm_id *id;
    QemuRdmaConn *c;

    if (verbs_wait_event(l, RDMA_CM_EVENT_CONNECT_REQUEST, &id, peer_priv,
                         peer_len, err) < 0) {
        return NULL;
    }
    c = verbs_conn_new(false);
    /* The new id reports its events on the connection's own channel. */
    if (!c->ec || rdma_migrate_id(id, c->ec) < 0) {
        verbs_fail(err, errno, "rdma_migrate_id");
        rdma_reject(id, NULL, 0);
        rdma_destroy_id(id);
        verbs_close(c);
        return NULL;
    }
    if (verbs_setup_qp(c, id, err) < 0) {
        rdma_reject(id, NULL, 0);
        if (!c->id) {
            rdma_destroy_id(id);
        }
        verbs_close(c);
        return NULL;
    }
    param.private_data = reply;
    param.private_data_len = reply_len;
    param.responder_resources = 1;
    param.rnr_retry_count = 7;      /* receivers are posted just after */
    if (rdma_accept(id, &param) < 0) {
        verbs_fail(err, errno, "rdma_accept");
        verbs_close(c);
        return NULL;
    }
    if (verbs_wait_event(c, RDMA_CM_EVENT_ESTABLISHED, NULL, NULL, NULL,
                         err) < 0) {
        verbs_close(c);
        return NULL;
    }
    return c;
}

static QemuRdmaConn *verbs_connect(const char *host, const char *port,
                                   const void *priv, size_t priv_len,
                                   void *reply, size_t *reply_len,
                                   QemuRdmaError *err)
{
    QemuRdmaConn *c = verbs_conn_new(false);
    struct rdma_addrinfo *ai = verbs_resolve(host, port, false, err);
    struct rdma_conn_param param = { 0 };
    struct rdma_cm_id *id = NULL;

    if (!ai || !c->ec) {
        if (!err->code) {
            verbs_fail(err, errno, "rdma_create_event_channel");
        }
        goto fail;
    }
    if (rdma_create_id(c->ec, &id, NULL, RDMA_PS_TCP) < 0) {
        verbs_fail(err, errno, "rdma_create_id");
        goto fail;
    }
    c->id = id;
    if (rdma_resolve_addr(id, NULL, ai->ai_dst_addr, VERBS_RESOLVE_MS) < 0 ||
        verbs_wait_event(c, RDMA_CM_EVENT_ADDR_RESOLVED, NULL, NULL, NULL,
                         err) < 0 ||
        rdma_resolve_route(id, VERBS_RESOLVE_MS) < 0 ||
        verbs_wait_event(c, RDMA_CM_EVENT_ROUTE_RESOLVED, NULL, NULL, NULL,
                         err) < 0) {
        if (!err->code) {
            verbs_fail(err, errno, "Could not resolve the RDMA route");
        }
        goto fail;
    }
    c->id = NULL;       /* verbs_setup_qp sets it with the queue pair */
    if (verbs_setup_qp(c, id, err) < 0) {
        c->id = id;
        goto fail;
    }
    param.private_data = priv;
    param.private_data_len = priv_len;
    param.initiator_depth = 1;
    param.retry_count = 5;
    param.rnr_retry_count = 7;
    if (rdma_connect(id, &param) < 0) {
        verbs_fail(err, errno, "rdma_connect");
        goto fail;
    }
    if (verbs_wait_event(c, RDMA_CM_EVENT_ESTABLISHED, NULL, reply,
                         reply_len, err) < 0) {
        goto fail;
    }
    rdma_freeaddrinfo(ai);
    return c;
fail:
    if (ai) {
        rdma_freeaddrinfo(ai);
    }
    verbs_close(c);
    return NULL;
}

static QemuRdmaMr *verbs_reg_mr(QemuRdmaConn *c, void *addr, size_t len,
                                bool remote_write, uint32_t *lkey,
                                uint32_t *rkey, QemuRdmaError *err)
{
    int access = IBV_ACCESS_LOCAL_WRITE |
                 (remote_write ? IBV_ACCESS_REMOTE_WRITE : 0);
    struct ibv_mr *mr = ibv_reg_mr(c->pd, addr, len, access);

    if (!mr) {
        verbs_fail(err, errno, "ibv_reg_mr");
        return NULL;
    }
    *lkey = mr->lkey;
    *rkey = mr->rkey;
    return (QemuRdmaMr *)mr;
}

static void verbs_dereg_mr(QemuRdmaConn *c, QemuRdmaMr *mr)
{
    ibv_dereg_mr((struct ibv_mr *)mr);
}

static int verbs_post(QemuRdmaConn *c, uint64_t wr_id,
                      enum ibv_wr_opcode op, const void *buf, uint32_t len,
                      uint32_t lkey, uint64_t raddr, uint32_t rkey,
                      QemuRdmaError *err)
{
    struct ibv_sge sge = {
        .addr = (uintptr_t)buf, .length = len, .lkey = lkey,
    };
    struct ibv_send_wr wr = { 0 }, *bad;
    int ret;

    wr.wr_id = wr_id;
    wr.opcode = op;
    wr.send_flags = IBV_SEND_SIGNALED;
    wr.sg_list = &sge;
    wr.num_sge = 1;
    wr.wr.rdma.remote_addr = raddr;
    wr.wr.rdma.rkey = rkey;
    ret = ibv_post_send(c->id->qp, &wr, &bad);
    return ret ? verbs_fail(err, ret, "ibv_post_send") : 0;
}

static int verbs_post_send(QemuRdmaConn *c, uint64_t wr_id, const void *buf,
                           uint32_t len, uint32_t lkey, QemuRdmaError *err)
{
    return verbs_post(c, wr_id, IBV_WR_SEND, buf, len, lkey, 0, 0, err);
}

static int verbs_post_write(QemuRdmaConn *c, uint64_t wr_id, const void *buf,
                            uint32_t len, uint32_t lkey, uint64_t raddr,
                            uint32_t rkey, QemuRdmaError *err)
{
    return verbs_post(c, wr_id, IBV_WR_RDMA_WRITE, buf, len, lkey, raddr,
                      rkey, err);
}

static int verbs_post_recv(QemuRdmaConn *c, uint64_t wr_id, void *buf,
                           uint32_t len, uint32_t lkey, QemuRdmaError *err)
{
    struct ibv_sge sge = {
        .addr = (uintptr_t)buf, .length = len, .lkey = lkey,
    };
    struct ibv_recv_wr wr = { 0 }, *bad;
    int ret;

    wr.wr_id = wr_id;
    wr.sg_list = &sge;
    wr.num_sge = 1;
    ret = ibv_post_recv(c->id->qp, &wr, &bad);
    return ret ? verbs_fail(err, ret, "ibv_post_recv") : 0;
}

static int verbs_poll(QemuRdmaConn *c, QemuRdmaCompletion *out, int max,
                      int timeout_ms, QemuRdmaError *err)
{
    struct ibv_wc wc[16];
    int n;

    for (;;) {
        struct pollfd pfd[2] = {
            { .fd = c->cc->fd, .events = POLLIN },
            { .fd = c->wake_fd, .events = POLLIN },
        };
        struct ibv_cq *cq;
        void *ctx;

        n = ibv_poll_cq(c->cq, MIN(max, (int)G_N_ELEMENTS(wc)), wc);
        if (n < 0) {
            return verbs_fail(err, EIO, "ibv_poll_cq");
        }
        if (n > 0) {
            break;
        }
        if (__atomic_load_n(&c->shut, __ATOMIC_SEQ_CST)) {
            return verbs_fail(err, ESHUTDOWN, "RDMA connection");
        }
        /* Arm, then look again: a completion may have slipped in. */
        if (ibv_req_notify_cq(c->cq, 0)) {
            return verbs_fail(err, EIO, "ibv_req_notify_cq");
        }
        n = ibv_poll_cq(c->cq, MIN(max, (int)G_N_ELEMENTS(wc)), wc);
        if (n != 0) {
            if (n < 0) {
                return verbs_fail(err, EIO, "ibv_poll_cq");
            }
            break;
        }
        n = poll(pfd, 2, timeout_ms);
        if (n < 0 && errno != EINTR) {
            return verbs_fail(err, errno, "poll");
        }
        if (n == 0) {
            return 0;
        }
        if (pfd[0].revents && ibv_get_cq_event(c->cc, &cq, &ctx) == 0) {
            ibv_ack_cq_events(cq, 1);
        }
    }
    for (int i = 0; i < n; i++) {
        out[i].wr_id = wc[i].wr_id;
        out[i].op = wc[i].opcode == IBV_WC_RECV ? QEMU_RDMA_WC_RECV :
                    wc[i].opcode == IBV_WC_RDMA_WRITE ? QEMU_RDMA_WC_WRITE :
                    QEMU_RDMA_WC_SEND;
        out[i].status = wc[i].status == IBV_WC_SUCCESS ? 0 : -EIO;
        out[i].byte_len = wc[i].byte_len;
        if (wc[i].status != IBV_WC_SUCCESS) {
            snprintf(err->msg, sizeof(err->msg), "work request failed: %s",
                     ibv_wc_status_str(wc[i].status));
        }
    }
    return n;
}

static void verbs_shutdown(QemuRdmaConn *c)
{
    uint64_t one = 1;

    __atomic_store_n(&c->shut, true, __ATOMIC_SEQ_CST);
    if (write(c->wake_fd, &one, sizeof(one)) < 0) {
        /* Already signalled (counter full): poll wakes anyway. */
    }
}

const QemuRdmaProvider qemu_rdma_provider_verbs = {
    .abi = QEMU_RDMA_PROVIDER_ABI,
    .name = "verbs",
    .probe = verbs_probe,
    .listen = verbs_listen,
    .listen_fd = verbs_listen_fd,
    .accept = verbs_accept,
    .connect = verbs_connect,
    .reg_mr = verbs_reg_mr,
    .dereg_mr = verbs_dereg_mr,
    .post_send = verbs_post_send,
    .post_recv = verbs_post_recv,
    .post_write = verbs_post_write,
    .poll = verbs_poll,
    .shutdown = verbs_shutdown,
    .close = verbs_close,
};
