/*
 * A software RDMA provider (migration/rdma-provider.h) for the tests:
 * the same operations as a verbs RC queue pair, carried between two
 * processes over a unix stream socket, so that RDMA migration's protocol
 * engine runs for real where no RDMA device exists.  qmig loads it with
 * QMIG_RDMA_PROVIDER=/path/to/libqmig-rdma-soft.so.
 *
 * Addressing: HOST:PORT names the socket
 * $QMIG_RDMA_SOFT_DIR/qmig-rdma-HOST-PORT.sock (default dir /tmp).
 *
 * Wire: frames of { be32 op, be32 len, be64 remote_addr, be32 rkey,
 * be32 pad } and @len bytes.  HELLO carries the private data of connect
 * and accept; SEND fills the oldest posted receive buffer; WRITE copies
 * into registered memory of the receiver.
 *
 * The receiving side (a thread per connection, as a NIC would be) checks
 * every WRITE against the regions registered with remote write: a wrong
 * rkey or a range not inside the region breaks the connection before a
 * byte is written, like a remote access error on a real queue pair.  A
 * SEND longer than the posted buffer breaks it too; one that finds no
 * buffer waits for one (RNR retry) for up to 10 s, then breaks it.  Frames
 * are handled in order, so a SEND completes after the WRITEs before it.
 *
 * Posting is synchronous (the frame is in the socket when post_* returns)
 * and completes at once: the bytes are out of the caller's buffer.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <endian.h>
#include "migration/rdma-provider.h"

enum { SOFT_HELLO = 1, SOFT_SEND = 2, SOFT_WRITE = 3 };
#define SOFT_HDR 24
#define SOFT_MAX_RECV 256
#define SOFT_MAX_CQ 1024

struct QemuRdmaMr {
    struct QemuRdmaMr *next;
    uint8_t *addr;
    size_t len;
    uint32_t key;
    int remote_write;
};

typedef struct SoftRecv {
    uint64_t wr_id;
    uint8_t *buf;
    uint32_t len;
} SoftRecv;

struct QemuRdmaConn {
    int fd;
    int listener;
    char path[108];             /* a listener's socket, unlinked at close */
    pthread_t thread;
    int thread_started;
    pthread_mutex_t lock;       /* everything below */
    pthread_cond_t cond;
    pthread_mutex_t send_lock;  /* one frame at a time on fd */
    QemuRdmaMr *mrs;
    uint32_t next_key;
    SoftRecv recvs[SOFT_MAX_RECV];
    unsigned int recv_head, recv_count;
    QemuRdmaCompletion cq[SOFT_MAX_CQ];
    unsigned int cq_head, cq_count;
    int broken;                 /* negative errno once the link is dead */
    char why[200];
};

static int soft_fail(QemuRdmaError *err, int code, const char *fmt,
                     const char *arg)
{
    err->code = -code;
    snprintf(err->msg, sizeof(err->msg), fmt, arg, strerror(code));
    return -code;
}

static int soft_path(const char *host, const char *port,
                     struct sockaddr_un *sa)
{
    const char *dir = getenv("QMIG_RDMA_SOFT_DIR");

    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    return snprintf(sa->sun_path, sizeof(sa->sun_path),
                    "%s/qmig-rdma-%s-%s.sock", dir ? dir : "/tmp",
                    host && *host ? host : "any", port) <
           (int)sizeof(sa->sun_path) ? 0 : -ENAMETOOLONG;
}

static int soft_io(int fd, void *buf, size_t len, int writing)
{
    uint8_t *p = buf;

    while (len) {
        ssize_t n = writing ? send(fd, p, len, MSG_NOSIGNAL)
                            : recv(fd, p, len, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n < 0 ? -errno : -ECONNRESET;
        }
        p += n;
        len -= n;
    }
    return 0;
}

static int soft_frame(QemuRdmaConn *c, uint32_t op, const void *data,
                      uint32_t len, uint64_t raddr, uint32_t rkey)
{
    uint8_t hdr[SOFT_HDR] = { 0 };
    uint32_t v;
    uint64_t a = htobe64(raddr);
    int ret;

    v = htobe32(op);
    memcpy(hdr, &v, 4);
    v = htobe32(len);
    memcpy(hdr + 4, &v, 4);
    memcpy(hdr + 8, &a, 8);
    v = htobe32(rkey);
    memcpy(hdr + 16, &v, 4);
    pthread_mutex_lock(&c->send_lock);
    ret = soft_io(c->fd, hdr, SOFT_HDR, 1);
    if (!ret && len) {
        ret = soft_io(c->fd, (void *)data, len, 1);
    }
    pthread_mutex_unlock(&c->send_lock);
    return ret;
}

static int soft_read_frame(int fd, uint32_t *op, uint32_t *len,
                           uint64_t *raddr, uint32_t *rkey)
{
    uint8_t hdr[SOFT_HDR];
    uint32_t v;
    int ret = soft_io(fd, hdr, SOFT_HDR, 0);

    if (ret) {
        return ret;
    }
    memcpy(&v, hdr, 4);
    *op = be32toh(v);
    memcpy(&v, hdr + 4, 4);
    *len = be32toh(v);
    memcpy(raddr, hdr + 8, 8);
    *raddr = be64toh(*raddr);
    memcpy(&v, hdr + 16, 4);
    *rkey = be32toh(v);
    return 0;
}

/* Lock held. */
static void soft_complete(QemuRdmaConn *c, uint64_t wr_id, QemuRdmaWcOp op,
                          int status, uint32_t len)
{
    QemuRdmaCompletion *wc;

    if (c->cq_count == SOFT_MAX_CQ) {
        c->broken = -EOVERFLOW;
        snprintf(c->why, sizeof(c->why), "completion queue overflow");
        return;
    }
    wc = &c->cq[(c->cq_head + c->cq_count++) % SOFT_MAX_CQ];
    wc->wr_id = wr_id;
    wc->op = op;
    wc->status = status;
    wc->byte_len = len;
    pthread_cond_broadcast(&c->cond);
}

static void soft_break(QemuRdmaConn *c, int code, const char *why)
{
    pthread_mutex_lock(&c->lock);
    if (!c->broken) {
        c->broken = code;
        snprintf(c->why, sizeof(c->why), "%s", why);
    }
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    shutdown(c->fd, SHUT_RDWR);
}

/* A WRITE: checked against a region registered with remote write. */
static int soft_rx_write(QemuRdmaConn *c, uint64_t raddr, uint32_t rkey,
                         uint32_t len)
{
    uint8_t *dst = NULL;
    QemuRdmaMr *mr;

    pthread_mutex_lock(&c->lock);
    for (mr = c->mrs; mr; mr = mr->next) {
        if (mr->key == rkey && mr->remote_write &&
            raddr >= (uintptr_t)mr->addr &&
            len <= mr->len && raddr - (uintptr_t)mr->addr <= mr->len - len) {
            dst = (uint8_t *)(uintptr_t)raddr;
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (!dst) {
        soft_break(c, -EACCES, "remote access error: RDMA WRITE outside "
                   "any region registered for it (bad rkey or range)");
        return -EACCES;
    }
    return soft_io(c->fd, dst, len, 0);
}

static int soft_rx_send(QemuRdmaConn *c, uint32_t len)
{
    SoftRecv r;
    int ret;

    struct timespec deadline;

    /*
     * Receiver not ready: retry as an RC queue pair with an infinite RNR
     * retry count does (rdmacm's rnr_retry_count 7), here up to 10 s.
     * The acceptor posts its buffers just after accept returns.
     */
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    pthread_mutex_lock(&c->lock);
    while (!c->recv_count && !c->broken &&
           pthread_cond_timedwait(&c->cond, &c->lock, &deadline) == 0) {
        /* woken by post_recv or a break */
    }
    if (!c->recv_count || c->recvs[c->recv_head].len < len) {
        pthread_mutex_unlock(&c->lock);
        soft_break(c, -ENOBUFS, c->recv_count ? "SEND longer than the "
                   "posted receive buffer" : "SEND with no receive buffer "
                   "posted (receiver not ready)");
        return -ENOBUFS;
    }
    r = c->recvs[c->recv_head];
    c->recv_head = (c->recv_head + 1) % SOFT_MAX_RECV;
    c->recv_count--;
    pthread_mutex_unlock(&c->lock);
    ret = soft_io(c->fd, r.buf, len, 0);
    if (!ret) {
        pthread_mutex_lock(&c->lock);
        soft_complete(c, r.wr_id, QEMU_RDMA_WC_RECV, 0, len);
        pthread_mutex_unlock(&c->lock);
    }
    return ret;
}

static void *soft_rx_thread(void *opaque)
{
    QemuRdmaConn *c = opaque;

    for (;;) {
        uint32_t op, len, rkey;
        uint64_t raddr;
        int ret = soft_read_frame(c->fd, &op, &len, &raddr, &rkey);

        if (!ret) {
            ret = op == SOFT_WRITE ? soft_rx_write(c, raddr, rkey, len) :
                  op == SOFT_SEND ? soft_rx_send(c, len) : -EPROTO;
        }
        if (ret) {
            soft_break(c, ret, ret == -EPROTO ? "unknown frame" :
                       "connection closed by the peer");
            return NULL;
        }
    }
}

static QemuRdmaConn *soft_conn_new(int fd, int listener)
{
    QemuRdmaConn *c = calloc(1, sizeof(*c));

    c->fd = fd;
    c->listener = listener;
    c->next_key = 0x5000 + (getpid() & 0xfff) * 16;
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->send_lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    return c;
}

static void soft_start(QemuRdmaConn *c)
{
    c->thread_started = !pthread_create(&c->thread, NULL, soft_rx_thread, c);
}

static int soft_probe(QemuRdmaError *err)
{
    return 0;
}

static QemuRdmaConn *soft_listen(const char *host, const char *port,
                                 QemuRdmaError *err)
{
    struct sockaddr_un sa;
    QemuRdmaConn *c;
    int fd;

    if (soft_path(host, port, &sa) < 0) {
        soft_fail(err, ENAMETOOLONG, "soft RDMA: socket path for %s: %s",
                  port);
        return NULL;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unlink(sa.sun_path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fd, 4) < 0) {
        soft_fail(err, errno, "soft RDMA: cannot listen on %s: %s",
                  sa.sun_path);
        if (fd >= 0) {
            close(fd);
        }
        return NULL;
    }
    c = soft_conn_new(fd, 1);
    snprintf(c->path, sizeof(c->path), "%s", sa.sun_path);
    return c;
}

static int soft_listen_fd(QemuRdmaConn *l)
{
    return l->fd;
}

/* The HELLO exchange: read the peer's, or send ours. */
static int soft_hello_read(int fd, void *priv, size_t *len)
{
    uint32_t op, n, rkey;
    uint64_t raddr;
    uint8_t buf[QEMU_RDMA_PRIVATE_MAX];
    int ret = soft_read_frame(fd, &op, &n, &raddr, &rkey);

    if (ret) {
        return ret;
    }
    if (op != SOFT_HELLO || n > sizeof(buf)) {
        return -EPROTO;
    }
    ret = soft_io(fd, buf, n, 0);
    if (!ret) {
        *len = n < *len ? n : *len;
        memcpy(priv, buf, *len);
    }
    return ret;
}

static QemuRdmaConn *soft_accept(QemuRdmaConn *l, void *peer_priv,
                                 size_t *peer_len, const void *reply,
                                 size_t reply_len, QemuRdmaError *err)
{
    int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
    QemuRdmaConn *c;
    int ret;

    if (fd < 0) {
        soft_fail(err, errno, "soft RDMA: accept%s: %s", "");
        return NULL;
    }
    c = soft_conn_new(fd, 0);
    ret = soft_hello_read(fd, peer_priv, peer_len);
    if (!ret) {
        ret = soft_frame(c, SOFT_HELLO, reply, reply_len, 0, 0);
    }
    if (ret) {
        soft_fail(err, -ret, "soft RDMA: connection handshake%s: %s", "");
        close(fd);
        free(c);
        return NULL;
    }
    soft_start(c);
    return c;
}

static QemuRdmaConn *soft_connect(const char *host, const char *port,
                                  const void *priv, size_t priv_len,
                                  void *reply, size_t *reply_len,
                                  QemuRdmaError *err)
{
    struct sockaddr_un sa;
    QemuRdmaConn *c;
    int fd, ret;

    if (soft_path(host, port, &sa) < 0) {
        soft_fail(err, ENAMETOOLONG, "soft RDMA: socket path for %s: %s",
                  port);
        return NULL;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        soft_fail(err, errno, "soft RDMA: no listener at %s: %s",
                  sa.sun_path);
        if (fd >= 0) {
            close(fd);
        }
        return NULL;
    }
    c = soft_conn_new(fd, 0);
    ret = soft_frame(c, SOFT_HELLO, priv, priv_len, 0, 0);
    if (!ret) {
        ret = soft_hello_read(fd, reply, reply_len);
    }
    if (ret) {
        soft_fail(err, -ret, "soft RDMA: connection handshake%s: %s", "");
        close(fd);
        free(c);
        return NULL;
    }
    soft_start(c);
    return c;
}

static QemuRdmaMr *soft_reg_mr(QemuRdmaConn *c, void *addr, size_t len,
                               bool remote_write, uint32_t *lkey,
                               uint32_t *rkey, QemuRdmaError *err)
{
    QemuRdmaMr *mr = calloc(1, sizeof(*mr));

    mr->addr = addr;
    mr->len = len;
    mr->remote_write = remote_write;
    pthread_mutex_lock(&c->lock);
    mr->key = c->next_key++;
    mr->next = c->mrs;
    c->mrs = mr;
    pthread_mutex_unlock(&c->lock);
    *lkey = *rkey = mr->key;
    return mr;
}

static void soft_dereg_mr(QemuRdmaConn *c, QemuRdmaMr *mr)
{
    pthread_mutex_lock(&c->lock);
    for (QemuRdmaMr **p = &c->mrs; *p; p = &(*p)->next) {
        if (*p == mr) {
            *p = mr->next;
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    free(mr);
}

/* The local side of a work request: inside a region with @lkey. */
static int soft_check_local(QemuRdmaConn *c, const void *buf, uint32_t len,
                            uint32_t lkey, QemuRdmaError *err)
{
    uintptr_t a = (uintptr_t)buf;
    int ok = 0;

    pthread_mutex_lock(&c->lock);
    for (QemuRdmaMr *mr = c->mrs; mr && !ok; mr = mr->next) {
        ok = mr->key == lkey && a >= (uintptr_t)mr->addr &&
             len <= mr->len && a - (uintptr_t)mr->addr <= mr->len - len;
    }
    pthread_mutex_unlock(&c->lock);
    return ok ? 0 : soft_fail(err, EFAULT, "soft RDMA: local buffer not "
                              "registered with its lkey%s: %s", "");
}

static int soft_post(QemuRdmaConn *c, uint64_t wr_id, uint32_t op,
                     const void *buf, uint32_t len, uint32_t lkey,
                     uint64_t raddr, uint32_t rkey, QemuRdmaError *err)
{
    int ret = soft_check_local(c, buf, len, lkey, err);

    if (ret) {
        return ret;
    }
    ret = soft_frame(c, op, buf, len, raddr, rkey);
    if (ret) {
        soft_break(c, ret, "connection lost while sending");
        return soft_fail(err, -ret, "soft RDMA: post%s: %s", "");
    }
    pthread_mutex_lock(&c->lock);
    soft_complete(c, wr_id, op == SOFT_SEND ? QEMU_RDMA_WC_SEND
                                            : QEMU_RDMA_WC_WRITE, 0, len);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

static int soft_post_send(QemuRdmaConn *c, uint64_t wr_id, const void *buf,
                          uint32_t len, uint32_t lkey, QemuRdmaError *err)
{
    return soft_post(c, wr_id, SOFT_SEND, buf, len, lkey, 0, 0, err);
}

static int soft_post_write(QemuRdmaConn *c, uint64_t wr_id, const void *buf,
                           uint32_t len, uint32_t lkey, uint64_t raddr,
                           uint32_t rkey, QemuRdmaError *err)
{
    return soft_post(c, wr_id, SOFT_WRITE, buf, len, lkey, raddr, rkey, err);
}

static int soft_post_recv(QemuRdmaConn *c, uint64_t wr_id, void *buf,
                          uint32_t len, uint32_t lkey, QemuRdmaError *err)
{
    int ret = soft_check_local(c, buf, len, lkey, err);

    if (ret) {
        return ret;
    }
    pthread_mutex_lock(&c->lock);
    if (c->recv_count == SOFT_MAX_RECV) {
        pthread_mutex_unlock(&c->lock);
        return soft_fail(err, ENOSPC, "soft RDMA: receive queue full%s: %s",
                         "");
    }
    c->recvs[(c->recv_head + c->recv_count++) % SOFT_MAX_RECV] =
        (SoftRecv){ wr_id, buf, len };
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

static int soft_poll(QemuRdmaConn *c, QemuRdmaCompletion *wc, int max,
                     int timeout_ms, QemuRdmaError *err)
{
    struct timespec deadline;
    int n = 0;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->lock);
    while (!c->cq_count && !c->broken) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&c->cond, &c->lock);
        } else if (pthread_cond_timedwait(&c->cond, &c->lock,
                                          &deadline) == ETIMEDOUT) {
            break;
        }
    }
    while (c->cq_count && n < max) {
        wc[n++] = c->cq[c->cq_head];
        c->cq_head = (c->cq_head + 1) % SOFT_MAX_CQ;
        c->cq_count--;
    }
    if (!n && c->broken) {
        n = c->broken;
        err->code = n;
        snprintf(err->msg, sizeof(err->msg), "soft RDMA: %s", c->why);
    }
    pthread_mutex_unlock(&c->lock);
    return n;
}

static void soft_shutdown(QemuRdmaConn *c)
{
    soft_break(c, -ESHUTDOWN, "connection shut down");
}

static void soft_close(QemuRdmaConn *c)
{
    shutdown(c->fd, SHUT_RDWR);
    if (c->thread_started) {
        pthread_join(c->thread, NULL);
    }
    close(c->fd);
    if (c->listener && c->path[0]) {
        unlink(c->path);
    }
    while (c->mrs) {
        QemuRdmaMr *mr = c->mrs;

        c->mrs = mr->next;
        free(mr);
    }
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->send_lock);
    pthread_cond_destroy(&c->cond);
    free(c);
}

const QemuRdmaProvider qemu_rdma_provider = {
    .abi = QEMU_RDMA_PROVIDER_ABI,
    .name = "soft",
    .probe = soft_probe,
    .listen = soft_listen,
    .listen_fd = soft_listen_fd,
    .accept = soft_accept,
    .connect = soft_connect,
    .reg_mr = soft_reg_mr,
    .dereg_mr = soft_dereg_mr,
    .post_send = soft_post_send,
    .post_recv = soft_post_recv,
    .post_write = soft_post_write,
    .poll = soft_poll,
    .shutdown = soft_shutdown,
    .close = soft_close,
};
