/*
 * Socket channels: tcp (IPv4/IPv6), unix (with fd passing) and vsock.
 *
 * A socket channel is created empty with qio_channel_socket_new() and then
 * connected or put into listening state, or wraps an existing socket fd.
 * Features: SHUTDOWN always, FD_PASS on unix sockets, LISTEN on listening
 * sockets.  Writes use MSG_NOSIGNAL: a vanished peer is an EPIPE error,
 * never a SIGPIPE.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef IO_CHANNEL_SOCKET_H
#define IO_CHANNEL_SOCKET_H

#include "io/channel.h"
#include "qemu/sockets.h"

/* An unconnected socket channel (no fd yet). */
QIOChannel *qio_channel_socket_new(void);
/* Wrap a socket fd; the channel owns it from now on, even on failure. */
QIOChannel *qio_channel_socket_new_fd(int fd, Error **errp);
bool qio_channel_is_socket(QIOChannel *ioc);

/* Blocking connect of an unconnected socket channel; 0 or -1. */
int qio_channel_socket_connect_sync(QIOChannel *ioc,
                                    const SocketAddress *addr, Error **errp);

/*
 * Called in the main thread (via main_loop_schedule) when an asynchronous
 * connect ends: @err is NULL on success, else it explains the failure and
 * belongs to the caller of the callback (copy it to keep it).
 */
typedef void (*QIOChannelSocketConnectFunc)(QIOChannel *ioc, Error *err,
                                            void *opaque);
/*
 * Connect from a worker thread so the main loop never blocks on DNS or a
 * slow peer.  Until @func runs, the caller must not use @ioc (the worker
 * owns it; it holds its own reference).  @destroy(@opaque), if given,
 * runs after @func.
 */
void qio_channel_socket_connect_async(QIOChannel *ioc,
                                      const SocketAddress *addr,
                                      QIOChannelSocketConnectFunc func,
                                      void *opaque, GDestroyNotify destroy);

/* Bind and listen (backlog @num); 0 or -1.  Sets FEATURE_LISTEN. */
int qio_channel_socket_listen_sync(QIOChannel *ioc,
                                   const SocketAddress *addr, int num,
                                   Error **errp);
/*
 * Accept one client of a listening channel, as a new blocking socket
 * channel with TCP_NODELAY set; NULL on error (on a non-blocking listener,
 * also when nobody is waiting: the error then says so).
 */
QIOChannel *qio_channel_socket_accept(QIOChannel *ioc, Error **errp);

/*
 * Bound how long a connected TCP channel goes on when its peer has gone
 * silent (a cut link drops packets; no RST or FIN ever arrives): with
 * @timeout_ms > 0, data left unacknowledged for @timeout_ms fails the
 * socket (TCP_USER_TIMEOUT), and an idle connection sends keepalive
 * probes from @timeout_ms / 2 on, so an unanswered one fails it after
 * about @timeout_ms too.  Reads and writes then fail with ETIMEDOUT.
 * @timeout_ms == 0 leaves the kernel's defaults (no keepalive, about 15
 * minutes of retransmissions).  A channel that is not TCP (unix, vsock)
 * is left as it is: its peer is on this host.  Called before the channel
 * is connected, it is remembered and applied by the connect, which then
 * also gives up on an unanswered handshake after about @timeout_ms
 * (instead of the kernel's two minutes of SYN retries).  0 or -1.
 */
int qio_channel_socket_set_peer_timeout(QIOChannel *ioc,
                                        unsigned int timeout_ms,
                                        Error **errp);

/*
 * Set the send buffer (SO_SNDBUF) of a connected unix socket to @bytes
 * (the kernel caps it at net.core.wmem_max).  Any other socket is left
 * as it is: TCP sizes its buffers itself, and an explicit SO_SNDBUF
 * would turn that autotuning off.  0 or -1.
 */
int qio_channel_socket_set_unix_send_buffer(QIOChannel *ioc, int bytes,
                                            Error **errp);

/*
 * Bytes written to a connected stream socket that are still in the
 * kernel (SIOCOUTQ: on a unix socket not yet read by the peer, on TCP
 * not yet acknowledged); 0 when unknown (not connected, or not a socket
 * kind that reports it).
 */
uint64_t qio_channel_socket_get_send_queue(QIOChannel *ioc);

/* The fd, or -1 when not connected/closed; the channel keeps owning it. */
int qio_channel_socket_get_fd(QIOChannel *ioc);
/* getsockname()/getpeername() as a SocketAddress; NULL on error. */
SocketAddress *qio_channel_socket_get_local_address(QIOChannel *ioc,
                                                    Error **errp);
SocketAddress *qio_channel_socket_get_remote_address(QIOChannel *ioc,
                                                     Error **errp);

#endif
