/*
 * The one narrow interface between RDMA migration (migration/rdma*.c)
 * and whatever moves the bytes: every verbs and rdmacm call qmig makes
 * sits behind these hooks.
 *
 * Providers:
 *  - "verbs" (migration/rdma-provider-verbs.c): librdmacm + libibverbs,
 *    an RC queue pair per connection; built with CONFIG_RDMA.
 *  - a provider loaded with dlopen() from the file named by the
 *    environment variable QMIG_RDMA_PROVIDER, which must export
 *    `const QemuRdmaProvider qemu_rdma_provider` with the ABI below.  The
 *    tests' software provider (tests/rdma/soft-provider.c) is one: it
 *    carries the same operations between two processes over a unix
 *    socket.  An environment variable rather than a QMP option: loading
 *    code into the VMM must not be something a monitor client can ask
 *    for; whoever starts the process already controls what it runs.
 *
 * This header is self-contained C (no glib, no qmig types) so that a
 * provider builds as a plain shared object.  Errors come back as a
 * negative errno and a message in a QemuRdmaError.
 *
 * The model is RDMA's reliable connected service:
 *  - memory is registered before use; registration returns an lkey (for
 *    local work requests) and an rkey (for the peer's WRITEs into it);
 *  - post_recv queues a buffer for one incoming SEND; a SEND arriving
 *    with no posted buffer breaks the connection (the engine keeps
 *    credits so that never happens);
 *  - post_write copies local registered memory into the peer's memory
 *    registered with remote write, named by (address, rkey); the
 *    receiving side checks both, and an address outside the region or a
 *    wrong key breaks the connection and never touches memory;
 *  - work requests complete in order per connection, and a SEND is
 *    delivered only after every WRITE posted before it has landed;
 *  - each completion is reported once by poll.
 *
 * Threads (what calls each hook):
 *  - probe, listen, listen_fd, accept: the main thread (BQL held);
 *  - connect: a worker thread ("mig/src/rdma-connect"), may block;
 *  - reg_mr, dereg_mr, post_send, post_recv, post_write, poll: the one
 *    thread that owns the connection at the time (the migration thread
 *    on the source, the incoming thread on the destination), never two
 *    at once;
 *  - shutdown: any thread, concurrently with a blocked poll, which must
 *    then return an error promptly (cancel, a dying VMM);
 *  - close: the owner, once no other thread uses the connection.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_RDMA_PROVIDER_H
#define MIGRATION_RDMA_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QEMU_RDMA_PROVIDER_ABI 1
#define QEMU_RDMA_PROVIDER_SYMBOL "qemu_rdma_provider"
#define QEMU_RDMA_PROVIDER_ENV "QMIG_RDMA_PROVIDER"
/* Largest private data carried by connect/accept (rdmacm's RC limit). */
#define QEMU_RDMA_PRIVATE_MAX 56

typedef struct QemuRdmaError {
    int code;               /* negative errno */
    char msg[256];
} QemuRdmaError;

/* Provider-defined: a listener or a connection; a registered region. */
typedef struct QemuRdmaConn QemuRdmaConn;
typedef struct QemuRdmaMr QemuRdmaMr;

typedef enum QemuRdmaWcOp {
    QEMU_RDMA_WC_SEND,
    QEMU_RDMA_WC_RECV,
    QEMU_RDMA_WC_WRITE,
} QemuRdmaWcOp;

typedef struct QemuRdmaCompletion {
    uint64_t wr_id;         /* as posted */
    QemuRdmaWcOp op;
    int status;             /* 0, or a negative errno (request failed) */
    uint32_t byte_len;      /* RECV: bytes received */
} QemuRdmaCompletion;

typedef struct QemuRdmaProvider {
    uint32_t abi;           /* QEMU_RDMA_PROVIDER_ABI */
    const char *name;
    /* 0 if a device is usable, else -ENODEV (or another) and a message. */
    int (*probe)(QemuRdmaError *err);
    /* Listen on HOST:PORT. */
    QemuRdmaConn *(*listen)(const char *host, const char *port,
                            QemuRdmaError *err);
    /* An fd that polls readable when accept would find a connection. */
    int (*listen_fd)(QemuRdmaConn *listener);
    /*
     * Take one connection: the peer's private data is copied to
     * @peer_priv (*@peer_len in: its size, out: the bytes received), and
     * @reply (@reply_len bytes) goes back to the peer with the accept.
     */
    QemuRdmaConn *(*accept)(QemuRdmaConn *listener, void *peer_priv,
                            size_t *peer_len, const void *reply,
                            size_t reply_len, QemuRdmaError *err);
    /* Connect, sending @priv; the acceptor's reply goes to @reply. */
    QemuRdmaConn *(*connect)(const char *host, const char *port,
                             const void *priv, size_t priv_len,
                             void *reply, size_t *reply_len,
                             QemuRdmaError *err);
    /* Register [@addr, @addr + @len); @remote_write lets the peer WRITE. */
    QemuRdmaMr *(*reg_mr)(QemuRdmaConn *c, void *addr, size_t len,
                          bool remote_write, uint32_t *lkey, uint32_t *rkey,
                          QemuRdmaError *err);
    void (*dereg_mr)(QemuRdmaConn *c, QemuRdmaMr *mr);
    int (*post_send)(QemuRdmaConn *c, uint64_t wr_id, const void *buf,
                     uint32_t len, uint32_t lkey, QemuRdmaError *err);
    int (*post_recv)(QemuRdmaConn *c, uint64_t wr_id, void *buf,
                     uint32_t len, uint32_t lkey, QemuRdmaError *err);
    int (*post_write)(QemuRdmaConn *c, uint64_t wr_id, const void *buf,
                      uint32_t len, uint32_t lkey, uint64_t remote_addr,
                      uint32_t rkey, QemuRdmaError *err);
    /*
     * Up to @max completions into @wc, waiting at most @timeout_ms (-1:
     * no limit) for the first.  Returns how many (0: timed out), or a
     * negative errno once the connection is broken or shut down and no
     * completion is left.
     */
    int (*poll)(QemuRdmaConn *c, QemuRdmaCompletion *wc, int max,
                int timeout_ms, QemuRdmaError *err);
    void (*shutdown)(QemuRdmaConn *c);
    void (*close)(QemuRdmaConn *c);
} QemuRdmaProvider;

#endif
