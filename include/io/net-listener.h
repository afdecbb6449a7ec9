/*
 * QIONetListener: one or more listening sockets watched by the main loop;
 * every accepted client is handed to a callback, in the main thread.
 * This is how "-incoming tcp:..." waits for the source without a thread.
 *
 * Threading: everything here runs in the main thread (under the BQL when
 * the main loop holds it); the reference count is atomic.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef IO_NET_LISTENER_H
#define IO_NET_LISTENER_H

#include "io/channel.h"
#include "qemu/sockets.h"

typedef struct QIONetListener QIONetListener;

/*
 * A new client: @client is a blocking socket channel, borrowed for the
 * call (take a reference to keep it).  The callback may disconnect or
 * unref the listener.
 */
typedef void (*QIONetListenerClientFunc)(QIONetListener *listener,
                                         QIOChannel *client, void *opaque);

QIONetListener *qio_net_listener_new(void);
QIONetListener *qio_net_listener_ref(QIONetListener *listener);
/* The last reference disconnects and frees it. */
void qio_net_listener_unref(QIONetListener *listener);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QIONetListener, qio_net_listener_unref)

void qio_net_listener_set_name(QIONetListener *listener, const char *name);
/* Listen on @addr (backlog @num); 0 or -1.  May be called several times. */
int qio_net_listener_open_sync(QIONetListener *listener,
                               const SocketAddress *addr, int num,
                               Error **errp);
/* Add an already listening socket channel (takes a reference). */
void qio_net_listener_add(QIONetListener *listener, QIOChannel *sioc);
/*
 * Start (or, with @func NULL, stop) handing clients to @func, from
 * watches on @context (NULL: the default main context).  A previous
 * opaque is released with its @notify.
 */
void qio_net_listener_set_client_func_full(QIONetListener *listener,
                                           QIONetListenerClientFunc func,
                                           void *opaque,
                                           GDestroyNotify notify,
                                           GMainContext *context);
void qio_net_listener_set_client_func(QIONetListener *listener,
                                      QIONetListenerClientFunc func,
                                      void *opaque, GDestroyNotify notify);
/*
 * Block until one client arrives and return it (a new reference), or
 * NULL if the listener has no open socket.
 */
QIOChannel *qio_net_listener_wait_client(QIONetListener *listener);
/* Stop watching and close every listening socket. */
void qio_net_listener_disconnect(QIONetListener *listener);
bool qio_net_listener_is_connected(QIONetListener *listener);

size_t qio_net_listener_num_channels(QIONetListener *listener);
/* Borrowed; valid until disconnect. */
QIOChannel *qio_net_listener_get_channel(QIONetListener *listener, size_t i);

#endif
