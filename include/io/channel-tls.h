/*
 * A QIOChannel that runs TLS over another channel (its "master", usually
 * a connected socket): the migration's main stream, return path, multifd
 * and postcopy preempt channels all use it when tls-creds is set.
 *
 * Create it with the client or server constructor, run
 * qio_channel_tls_handshake() in a thread that may block (never the
 * main loop: a handshake takes round trips and public-key operations),
 * then use it as any channel.  The TLS channel owns a reference to the
 * master; closing or shutting it down acts on the master.
 *
 * Threads: after the handshake, one reader and one writer at a time, as
 * for any channel; shutdown from any thread.  Watches on a TLS channel
 * poll the master's fd, so data GnuTLS has already decrypted does not
 * wake them: readers use blocking I/O or read until QIO_CHANNEL_ERR_BLOCK.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef IO_CHANNEL_TLS_H
#define IO_CHANNEL_TLS_H

#include "io/channel.h"
#include "crypto/tlscreds.h"

/*
 * The client side: with x509 credentials the server's certificate must
 * match @hostname (NULL: no host name check, which only anonymous and
 * PSK credentials accept).
 */
QIOChannel *qio_channel_tls_new_client(QIOChannel *master,
                                       QCryptoTLSCreds *creds,
                                       const char *hostname, Error **errp);
/* The server side; @authzid (or NULL) must allow the client's identity. */
QIOChannel *qio_channel_tls_new_server(QIOChannel *master,
                                       QCryptoTLSCreds *creds,
                                       const char *authzid, Error **errp);

/*
 * Run the handshake and the peer checks in the calling thread, waiting
 * at most @timeout_ms (0: no bound) for the peer.  On failure the peer
 * is told why where TLS allows (an alert) and the channel is unusable.
 */
bool qio_channel_tls_handshake(QIOChannel *ioc, unsigned int timeout_ms,
                               Error **errp);

bool qio_channel_is_tls(QIOChannel *ioc);
/* The wrapped channel (borrowed). */
QIOChannel *qio_channel_tls_get_master(QIOChannel *ioc);
/* The peer's checked identity (x509 DN or PSK username), or NULL. */
const char *qio_channel_tls_get_peer_name(QIOChannel *ioc);

#endif
