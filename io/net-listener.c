/*
 * QIONetListener: accept clients from the main loop.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <poll.h>
#include "io/net-listener.h"
#include "io/channel-socket.h"
#include "trace.h"

/* All fields: main thread only, except refcount (atomic). */
struct QIONetListener {
    int refcount;
    char *name;
    GPtrArray *sioc;            /* listening QIOChannels, one ref each */
    GArray *watch;              /* guint source ids, parallel to sioc */
    GMainContext *context;      /* where the watches are attached */
    QIONetListenerClientFunc func;
    void *opaque;
    GDestroyNotify notify;
    bool connected;
};

QIONetListener *qio_net_listener_new(void)
{
    QIONetListener *l = g_new0(QIONetListener, 1);

    l->refcount = 1;
    l->sioc = g_ptr_array_new_with_free_func(
        (GDestroyNotify)qio_channel_unref);
    l->watch = g_array_new(false, true, sizeof(guint));
    return l;
}

QIONetListener *qio_net_listener_ref(QIONetListener *listener)
{
    __atomic_fetch_add(&listener->refcount, 1, __ATOMIC_RELAXED);
    return listener;
}

void qio_net_listener_unref(QIONetListener *listener)
{
    if (!listener ||
        __atomic_sub_fetch(&listener->refcount, 1, __ATOMIC_ACQ_REL) > 0) {
        return;
    }
    qio_net_listener_disconnect(listener);
    if (listener->notify) {
        listener->notify(listener->opaque);
    }
    g_ptr_array_unref(listener->sioc);
    g_array_unref(listener->watch);
    g_free(listener->name);
    g_free(listener);
}

void qio_net_listener_set_name(QIONetListener *listener, const char *name)
{
    g_free(listener->name);
    listener->name = g_strdup(name);
    for (guint i = 0; i < listener->sioc->len; i++) {
        qio_channel_set_name(g_ptr_array_index(listener->sioc, i), name);
    }
}

static gboolean qio_net_listener_accept(QIOChannel *ioc, GIOCondition cond,
                                        void *opaque)
{
    QIONetListener *listener = opaque;
    QIOChannel *client;

    /* A spurious wake-up just finds nobody: the listener is non-blocking. */
    client = qio_channel_socket_accept(ioc, NULL);
    if (!client) {
        return G_SOURCE_CONTINUE;
    }
    trace_qio_net_listener_client(listener, client);
    if (listener->name) {
        qio_channel_set_name(client, listener->name);
    }
    qio_net_listener_ref(listener);
    if (listener->func) {
        listener->func(listener, client, listener->opaque);
    }
    qio_channel_unref(client);
    qio_net_listener_unref(listener);
    return G_SOURCE_CONTINUE;
}

static void qio_net_listener_unwatch(QIONetListener *listener)
{
    for (guint i = 0; i < listener->watch->len; i++) {
        guint *id = &g_array_index(listener->watch, guint, i);

        if (*id) {
            GSource *src = g_main_context_find_source_by_id(
                listener->context, *id);

            if (src) {
                g_source_destroy(src);
            }
            *id = 0;
        }
    }
}

static void qio_net_listener_watch(QIONetListener *listener)
{
    if (!listener->func || !listener->connected) {
        return;
    }
    for (guint i = 0; i < listener->sioc->len; i++) {
        guint *id = &g_array_index(listener->watch, guint, i);

        if (!*id) {
            *id = qio_channel_add_watch_full(
                g_ptr_array_index(listener->sioc, i), G_IO_IN,
                qio_net_listener_accept, listener, NULL, listener->context);
        }
    }
}

void qio_net_listener_add(QIONetListener *listener, QIOChannel *sioc)
{
    guint zero = 0;

    if (listener->name) {
        qio_channel_set_name(sioc, listener->name);
    }
    /* Accept from the main loop must never block it. */
    qio_channel_set_blocking(sioc, false, NULL);
    g_ptr_array_add(listener->sioc, qio_channel_ref(sioc));
    g_array_append_val(listener->watch, zero);
    listener->connected = true;
    qio_net_listener_watch(listener);
}

int qio_net_listener_open_sync(QIONetListener *listener,
                               const SocketAddress *addr, int num,
                               Error **errp)
{
    g_autoptr(QIOChannel) sioc = qio_channel_socket_new();
    g_autofree char *str = socket_address_to_string(addr);

    trace_qio_net_listener_open(listener, str);
    if (qio_channel_socket_listen_sync(sioc, addr, num, errp) < 0) {
        return -1;
    }
    qio_net_listener_add(listener, sioc);
    return 0;
}

void qio_net_listener_set_client_func_full(QIONetListener *listener,
                                           QIONetListenerClientFunc func,
                                           void *opaque,
                                           GDestroyNotify notify,
                                           GMainContext *context)
{
    qio_net_listener_unwatch(listener);
    if (listener->notify) {
        listener->notify(listener->opaque);
    }
    listener->func = func;
    listener->opaque = opaque;
    listener->notify = notify;
    listener->context = context;
    qio_net_listener_watch(listener);
}

void qio_net_listener_set_client_func(QIONetListener *listener,
                                      QIONetListenerClientFunc func,
                                      void *opaque, GDestroyNotify notify)
{
    qio_net_listener_set_client_func_full(listener, func, opaque, notify,
                                          NULL);
}

QIOChannel *qio_net_listener_wait_client(QIONetListener *listener)
{
    guint n = listener->sioc->len;
    g_autofree struct pollfd *pfd = g_new0(struct pollfd, n);

    if (!listener->connected || !n) {
        return NULL;
    }
    for (;;) {
        for (guint i = 0; i < n; i++) {
            pfd[i].fd = qio_channel_socket_get_fd(
                g_ptr_array_index(listener->sioc, i));
            pfd[i].events = POLLIN;
        }
        if (poll(pfd, n, -1) < 0 && errno != EINTR) {
            return NULL;
        }
        for (guint i = 0; i < n; i++) {
            if (pfd[i].revents) {
                QIOChannel *client = qio_channel_socket_accept(
                    g_ptr_array_index(listener->sioc, i), NULL);

                if (client) {
                    return client;
                }
            }
        }
    }
}

void qio_net_listener_disconnect(QIONetListener *listener)
{
    if (!listener->connected) {
        return;
    }
    trace_qio_net_listener_disconnect(listener);
    qio_net_listener_unwatch(listener);
    for (guint i = 0; i < listener->sioc->len; i++) {
        qio_channel_close(g_ptr_array_index(listener->sioc, i), NULL);
    }
    listener->connected = false;
}

bool qio_net_listener_is_connected(QIONetListener *listener)
{
    return listener->connected;
}

size_t qio_net_listener_num_channels(QIONetListener *listener)
{
    return listener->sioc->len;
}

QIOChannel *qio_net_listener_get_channel(QIONetListener *listener, size_t i)
{
    assert(i < listener->sioc->len);
    return g_ptr_array_index(listener->sioc, i);
}
