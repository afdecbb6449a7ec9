/*
 * Migration over TLS (tls-creds, tls-hostname, tls-authz): every socket
 * channel of a migration (main stream and its return path, each multifd
 * channel, the postcopy preempt channel, a recovery's channels) is
 * wrapped in a TLS QIOChannel before the stream starts on it.
 *
 * The handshake never runs in the main loop: outgoing channels connect
 * and shake hands in a worker thread (or in the multifd/preempt thread
 * that connects), incoming ones in a thread per accepted connection,
 * delivered to the accept callback in the order they were accepted (the
 * first is the main channel).  A connection whose handshake fails is
 * dropped and the listener goes on.
 *
 * After a successful handshake and its checks (certificate, host name,
 * tls-authz), the destination sends one byte, MIGRATION_TLS_ACCEPTED,
 * inside TLS, and the source waits for it: with TLS 1.3 the client's
 * handshake ends before the server has judged the client, and without
 * the byte a refused source would only see a broken pipe later.  A
 * refusal arrives instead as a TLS alert, named in the source's error.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_TLS_H
#define MIGRATION_TLS_H

#include "migration/channel.h"
#include "qemu/sockets.h"

#define MIGRATION_TLS_ACCEPTED 0x01

/*
 * Before a migration starts (main thread): with tls-creds set, the URI
 * must be a tcp:/unix:/vsock: socket, the credentials must exist for
 * this side's endpoint, and x509 over a URI without a host name needs
 * tls-hostname.
 */
bool migration_tls_check_start(const char *uri, bool incoming,
                               Error **errp);

/*
 * Source, in a thread that may block: wrap the connected @ioc (to
 * @addr) as a TLS client, shake hands and wait for the destination's
 * verdict.  Consumes @ioc; returns the TLS channel, or NULL with @errp.
 * Without tls-creds it returns @ioc as is.
 */
QIOChannel *migration_tls_client(QIOChannel *ioc, const SocketAddress *addr,
                                 Error **errp);

/*
 * Source, main loop: hand @ioc (connected to @addr) to a worker thread
 * for the client handshake; @cb runs later in the main loop with the TLS
 * channel or the error.
 */
void migration_tls_client_async(QIOChannel *ioc, const SocketAddress *addr,
                                MigrationConnectFunc cb, void *opaque);

/*
 * migrate_cancel (main loop): end the handshakes of
 * migration_tls_client_async() now rather than at their timeout, and
 * refuse those whose connect is still under way; a new migrate or
 * resume resets that.
 */
void migration_tls_cancel_connects(void);
void migration_tls_reset_connects(void);

/*
 * Destination, main loop: the server handshake for the accepted @ioc
 * (consumed) in a thread; @cb gets the TLS channel from the main loop,
 * in accept order.  Without tls-creds, @cb gets @ioc at once.
 */
void migration_tls_accept(QIOChannel *ioc, MigrationAcceptFunc cb,
                          void *opaque);

#endif
