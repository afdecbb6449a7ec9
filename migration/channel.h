/*
 * From a migration URI to a connected QIOChannel (migration/channel.c and
 * one file per transport: socket.c, fd.c, exec.c, file.c).
 *
 * URIs: tcp:HOST:PORT, unix:PATH, fd:NAME|N, exec:COMMAND,
 * file:PATH[,offset=N], rdma:HOST:PORT (rdma-channel.c; rdma.md).
 *
 * Threading: everything here runs in the main thread with the BQL held;
 * callbacks are called later from the main loop, also with the BQL held.
 * Connecting and accepting never block the main loop.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_CHANNEL_H
#define MIGRATION_CHANNEL_H

#include "qapi/error.h"

typedef struct QIOChannel QIOChannel;

/*
 * Outgoing: called once with a connected channel (a reference the callee
 * owns) or with an error (@ioc NULL, @err owned by the callee).
 */
typedef void (*MigrationConnectFunc)(QIOChannel *ioc, Error *err,
                                     void *opaque);

/*
 * Start connecting to @uri.  Returns false (and calls nothing) if the URI
 * is malformed or refused at once; otherwise @cb runs later, exactly once.
 */
bool migration_channel_connect(const char *uri, MigrationConnectFunc cb,
                               void *opaque, Error **errp);

/* Incoming: called for each accepted channel (a reference it owns). */
typedef void (*MigrationAcceptFunc)(QIOChannel *ioc, void *opaque);

/*
 * Start listening on @uri (or, for fd:/exec:/file:, open the stream at
 * once and call @cb from the main loop).  For tcp: with port 0 the bound
 * port is what migration_channel_listen_uri() reports afterwards.
 */
bool migration_channel_listen(const char *uri, MigrationAcceptFunc cb,
                              void *opaque, Error **errp);
/* The listening address as a URI (tcp port resolved), or NULL. */
char *migration_channel_listen_uri(void);
/* Stop accepting (after the main channel, or on cancel). */
void migration_channel_listen_stop(void);

/*
 * Bound how long a connected migration channel waits on a silent peer
 * (a cut link drops packets, so no error would come for ~15 minutes):
 * x-socket-timeout applied with qio_channel_socket_set_peer_timeout().
 * Channels connected or accepted here get it already; the extra channels
 * a migration connects itself (multifd, postcopy preempt) call this.
 * Anything but a TCP socket is left alone.
 */
bool migration_channel_set_peer_timeout(QIOChannel *ioc, Error **errp);

/*
 * A connected channel that carries pages (main, multifd, postcopy
 * preempt): a unix socket gets a 4 MiB send buffer.  Its default (about
 * 208 KiB, net.core.wmem_default) holds some fifty pages, so the sending
 * thread and the receiving one took turns instead of running side by
 * side (docs/devel/migration/benchmarks.md, "one stream").  Anything
 * but a unix socket is left alone.
 */
bool migration_channel_set_send_buffer(QIOChannel *ioc, Error **errp);

/*
 * Bytes the source wrote to @ioc that the kernel still holds (0 for a
 * channel that is not a plain socket, TLS included).  Migration thread.
 */
uint64_t migration_channel_queued_bytes(QIOChannel *ioc);

#endif
