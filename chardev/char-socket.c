/*
 * Socket back end: unix (path=) or tcp (host=, port=), listening
 * (server=on) or connecting.  One peer at a time: while a client is
 * connected the listening socket is not polled; when it leaves, the next
 * one is accepted.  A server with wait=on accepts its first client before
 * startup goes on, as QEMU does.  File descriptors sent with SCM_RIGHTS
 * are kept for qemu_chr_fe_get_msgfd().
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <glib-unix.h>
#include "chardev-internal.h"
#include "trace.h"

/* Most descriptors accepted with one message (QEMU's limit too). */
#define SOCKET_MAX_FDS 16

typedef struct SocketChardev {
    Chardev parent;
    bool is_unix;
    bool is_server;
    bool nodelay;
    char *addr_str;         /* "unix:PATH" / "tcp:HOST:PORT", for messages */
    char *unix_path;        /* server: removed again at exit */
    int listen_fd;          /* main thread; -1 for clients */
    guint listen_watch;     /* main thread */
    /* Written by the main thread under chr_write_lock; read by writers. */
    int client_fd;
    /* Main thread: descriptors received and not yet taken, oldest first. */
    int msgfds[SOCKET_MAX_FDS];
    int msgfds_num;
} SocketChardev;

static SocketChardev *socket_chardev(Chardev *chr)
{
    return container_of(chr, SocketChardev, parent);
}

static void socket_drop_msgfds(SocketChardev *s)
{
    for (int i = 0; i < s->msgfds_num; i++) {
        close(s->msgfds[i]);
    }
    s->msgfds_num = 0;
}

static gboolean socket_accept_ready(gint fd, GIOCondition cond,
                                    gpointer opaque);

static void socket_listen_watch(SocketChardev *s, bool on)
{
    if (s->listen_watch) {
        g_source_remove(s->listen_watch);
        s->listen_watch = 0;
    }
    if (on && s->listen_fd >= 0) {
        s->listen_watch = g_unix_fd_add(s->listen_fd, G_IO_IN,
                                        socket_accept_ready, s);
    }
}

static void socket_set_client(SocketChardev *s, int fd)
{
    if (!s->is_unix && s->nodelay) {
        int on = 1;

        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    }
    g_mutex_lock(&s->parent.chr_write_lock);
    s->client_fd = fd;
    g_mutex_unlock(&s->parent.chr_write_lock);
    trace_chardev_socket_connected(s->parent.label, s->addr_str);
    socket_listen_watch(s, false);
    qemu_chr_set_input_fd(&s->parent, fd);
    qemu_chr_be_event(&s->parent, CHR_EVENT_OPENED);
}

static gboolean socket_accept_ready(gint fd, GIOCondition cond,
                                    gpointer opaque)
{
    SocketChardev *s = opaque;
    int client = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

    if (client < 0) {
        /* A client that gave up before we got to it: keep listening. */
        return G_SOURCE_CONTINUE;
    }
    s->listen_watch = 0;
    socket_set_client(s, client);
    return G_SOURCE_REMOVE;
}

static void char_socket_disconnect(Chardev *chr)
{
    SocketChardev *s = socket_chardev(chr);
    int fd = s->client_fd;

    if (fd < 0) {
        return;
    }
    qemu_chr_set_input_fd(chr, -1);
    /* Wake a writer blocked in send() before taking its lock. */
    shutdown(fd, SHUT_RDWR);
    g_mutex_lock(&chr->chr_write_lock);
    s->client_fd = -1;
    g_mutex_unlock(&chr->chr_write_lock);
    close(fd);
    socket_drop_msgfds(s);
    trace_chardev_socket_disconnected(chr->label);
    qemu_chr_be_event(chr, CHR_EVENT_CLOSED);
    socket_listen_watch(s, s->is_server);
}

static ssize_t char_socket_read(Chardev *chr, uint8_t *buf, size_t len)
{
    SocketChardev *s = socket_chardev(chr);
    union {
        char buf[CMSG_SPACE(sizeof(int) * SOCKET_MAX_FDS)];
        struct cmsghdr align;
    } control;
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = control.buf, .msg_controllen = sizeof(control.buf),
    };
    ssize_t n = recvmsg(s->client_fd, &msg,
                        MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

    if (n < 0) {
        return -errno;
    }
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c;
         c = CMSG_NXTHDR(&msg, c)) {
        int nfds;

        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        /* New descriptors replace any the front end did not take. */
        socket_drop_msgfds(s);
        nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        memcpy(s->msgfds, CMSG_DATA(c), nfds * sizeof(int));
        s->msgfds_num = nfds;
        trace_chardev_socket_msgfds(chr->label, nfds);
    }
    return n;
}

static int char_socket_get_msgfd(Chardev *chr)
{
    SocketChardev *s = socket_chardev(chr);
    int fd;

    if (!s->msgfds_num) {
        return -1;
    }
    fd = s->msgfds[0];
    s->msgfds_num--;
    memmove(s->msgfds, s->msgfds + 1, s->msgfds_num * sizeof(int));
    return fd;
}

static int char_socket_write(Chardev *chr, const uint8_t *buf, int len)
{
    SocketChardev *s = socket_chardev(chr);

    if (s->client_fd < 0) {
        return len;     /* nobody listening: drop it, as QEMU does */
    }
    return qemu_chr_fd_write_all(s->client_fd, true, buf, len);
}

/* ---- opening ---- */

static int socket_unix_addr(const char *path, struct sockaddr_un *sun,
                            Error **errp)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun->sun_path)) {
        error_setg(errp, "UNIX socket path '%s' is too long", path);
        return -1;
    }
    strcpy(sun->sun_path, path);
    return 0;
}

static int socket_unix_open(SocketChardev *s, const char *path, Error **errp)
{
    struct sockaddr_un sun;
    int fd;

    if (socket_unix_addr(path, &sun, errp) < 0) {
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Failed to create socket");
        return -1;
    }
    if (s->is_server) {
        /* A stale socket file from an earlier run would make bind fail. */
        unlink(path);
        if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
            error_setg_errno(errp, errno, "Failed to bind socket to %s",
                             path);
            goto fail;
        }
        if (listen(fd, 1) < 0) {
            error_setg_errno(errp, errno, "Failed to listen on socket");
            goto fail;
        }
        s->unix_path = g_strdup(path);
    } else if (RETRY_ON_EINTR(connect(fd, (struct sockaddr *)&sun,
                                      sizeof(sun))) < 0) {
        error_setg_errno(errp, errno, "Failed to connect to '%s'", path);
        goto fail;
    }
    return fd;

fail:
    close(fd);
    return -1;
}

static int socket_tcp_try(SocketChardev *s, struct addrinfo *ai, int *err)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
    int on = 1;

    if (fd < 0) {
        *err = errno;
        return -1;
    }
    if (s->is_server) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            listen(fd, 1) == 0) {
            return fd;
        }
    } else if (RETRY_ON_EINTR(connect(fd, ai->ai_addr,
                                      ai->ai_addrlen)) == 0) {
        return fd;
    }
    *err = errno;
    close(fd);
    return -1;
}

static int socket_tcp_open(SocketChardev *s, const char *host,
                           const char *port, Error **errp)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = s->is_server ? AI_PASSIVE : 0,
    };
    struct addrinfo *res;
    int rc, fd = -1, err = 0;

    if (host && !host[0]) {
        host = s->is_server ? NULL : "localhost";
    }
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc) {
        error_setg(errp, "address resolution failed for %s:%s: %s",
                   host ? host : "", port, gai_strerror(rc));
        return -1;
    }
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket_tcp_try(s, ai, &err);
    }
    freeaddrinfo(res);
    if (fd < 0) {
        error_setg_errno(errp, err, "Failed to %s %s:%s",
                         s->is_server ? "listen on" : "connect to",
                         host ? host : "", port);
    }
    return fd;
}

/* wait=on: block startup until the first client connects (QEMU does). */
static bool socket_wait_first_client(SocketChardev *s, Error **errp)
{
    int fd;

    info_report("QEMU waiting for connection on: disconnected:%s,server=on",
                s->addr_str);
    fd = RETRY_ON_EINTR(accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC));
    if (fd < 0) {
        error_setg_errno(errp, errno, "Failed to accept a connection on %s",
                         s->addr_str);
        return false;
    }
    socket_set_client(s, fd);
    return true;
}

static bool char_socket_open(Chardev *chr, QemuOpts *opts, Error **errp)
{
    SocketChardev *s = socket_chardev(chr);
    const char *path = qemu_opt_get(opts, "path");
    const char *host = qemu_opt_get(opts, "host");
    const char *port = qemu_opt_get(opts, "port");
    bool wait;
    int fd;

    s->listen_fd = s->client_fd = -1;
    if (!qemu_opt_get_bool(opts, "server", false, &s->is_server, errp) ||
        !qemu_opt_get_bool(opts, "wait", true, &wait, errp) ||
        !qemu_opt_get_bool(opts, "nodelay", false, &s->nodelay, errp)) {
        return false;
    }
    if (path && (host || port)) {
        error_setg(errp, "path= and host=/port= are mutually exclusive");
        return false;
    }
    if (!path && !port) {
        error_setg(errp, "socket: need path= (unix) or port= (tcp)");
        return false;
    }
    if (!s->is_server && qemu_opt_has(opts, "wait")) {
        error_setg(errp, "'wait' option is incompatible with "
                   "socket in client connect mode");
        return false;
    }
    s->is_unix = path != NULL;
    s->addr_str = path ? g_strdup_printf("unix:%s", path)
                       : g_strdup_printf("tcp:%s:%s", host ? host : "",
                                         port);
    fd = path ? socket_unix_open(s, path, errp)
              : socket_tcp_open(s, host, port, errp);
    if (fd < 0) {
        g_free(s->addr_str);
        g_free(s->unix_path);
        return false;
    }
    if (!s->is_server) {
        socket_set_client(s, fd);
        return true;
    }
    s->listen_fd = fd;
    if (wait) {
        return socket_wait_first_client(s, errp);
    }
    socket_listen_watch(s, true);
    return true;
}

static void char_socket_finalize(Chardev *chr)
{
    SocketChardev *s = socket_chardev(chr);

    char_socket_disconnect(chr);
    socket_listen_watch(s, false);
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
    }
    if (s->unix_path) {
        unlink(s->unix_path);
    }
    g_free(s->unix_path);
    g_free(s->addr_str);
}

static const char *const char_socket_keys[] = {
    "path", "host", "port", "server", "wait", "nodelay", "ipv4", "ipv6",
    NULL
};

const ChardevClass char_socket_class = {
    .kind = "socket",
    .instance_size = sizeof(SocketChardev),
    .keys = char_socket_keys,
    .open = char_socket_open,
    .write = char_socket_write,
    .read = char_socket_read,
    .disconnect = char_socket_disconnect,
    .get_msgfd = char_socket_get_msgfd,
    .finalize = char_socket_finalize,
};
