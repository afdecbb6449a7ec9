/*
 * The transports behind migration/channel.c, one file each: socket.c
 * (tcp/unix/vsock), fd.c, exec.c, file.c.  channel.c parses the URI and
 * owns the listener state and the "call back from the main loop" part;
 * the transports only open channels.
 *
 * Threading: every function here runs in the main thread with the BQL
 * held; callbacks they arrange run from the main loop, also under the BQL.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_CHANNEL_INTERNAL_H
#define MIGRATION_CHANNEL_INTERNAL_H

#include "migration/channel.h"
#include "qemu/sockets.h"
#include "io/net-listener.h"

/*
 * Enough queued connections for the main channel plus every multifd
 * channel (at most 255) and the postcopy preempt channel, which the source
 * opens in a burst before the destination has accepted any.
 */
#define MIGRATION_LISTEN_BACKLOG 256

/*
 * Connect to a tcp/unix/vsock address from a worker thread; @cb runs in
 * the main loop with the connected channel or the failure.
 */
void migration_socket_connect(const SocketAddress *addr,
                              MigrationConnectFunc cb, void *opaque);
/*
 * Listen on @addr; every accepted client goes to @cb from the main loop.
 * Returns the listener (one reference, owned by the caller) or NULL.
 */
QIONetListener *migration_socket_listen(const SocketAddress *addr,
                                        MigrationAcceptFunc cb, void *opaque,
                                        Error **errp);
/* The address @listener is bound to (port resolved), as a URI. */
char *migration_socket_listen_uri(QIONetListener *listener, Error **errp);

/*
 * fd:NAME|N: the fd given to the current monitor with getfd (or the
 * number), wrapped as a socket or file channel according to its type.
 */
QIOChannel *migration_fd_open(const char *name, bool outgoing, Error **errp);

/* exec:CMD: outgoing writes the command's stdin, incoming reads stdout. */
QIOChannel *migration_exec_open(const char *cmd, bool outgoing,
                                Error **errp);

/*
 * file:PATH,offset=N: outgoing creates the file (mode 0600), cuts it to
 * @offset and writes from there; incoming opens it read-only at @offset.
 */
QIOChannel *migration_file_open(const char *path, uint64_t offset,
                                bool outgoing, Error **errp);

#endif
