/*
 * Socket addresses and the syscalls around them: parse "tcp:HOST:PORT",
 * "unix:PATH", "vsock:CID:PORT" and "fd:NAME", then listen or connect.
 * IPv4 and IPv6 both go through getaddrinfo(); "[::1]:PORT" brackets an
 * IPv6 literal.  All fds are created close-on-exec and blocking.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_SOCKETS_H
#define QEMU_SOCKETS_H

#include <sys/socket.h>
#include "qapi/error.h"

typedef enum SocketAddressType {
    SOCKET_ADDRESS_TYPE_INET,
    SOCKET_ADDRESS_TYPE_UNIX,
    SOCKET_ADDRESS_TYPE_VSOCK,
    SOCKET_ADDRESS_TYPE_FD,
} SocketAddressType;

typedef struct InetSocketAddress {
    char *host;     /* "" listens on every address; connect needs a host */
    char *port;     /* decimal, 0..65535 ("0": the kernel picks, listen only) */
    bool ipv4;      /* restrict to IPv4 (",ipv4=on") */
    bool ipv6;      /* restrict to IPv6 (",ipv6=on") */
} InetSocketAddress;

typedef struct UnixSocketAddress {
    char *path;
} UnixSocketAddress;

typedef struct VsockSocketAddress {
    char *cid;
    char *port;
} VsockSocketAddress;

typedef struct FdSocketAddress {
    char *str;      /* a name given with getfd, or a decimal fd number */
} FdSocketAddress;

typedef struct SocketAddress {
    SocketAddressType type;
    union {
        InetSocketAddress inet;
        UnixSocketAddress q_unix;
        VsockSocketAddress vsock;
        FdSocketAddress fd;
    } u;
} SocketAddress;

/*
 * Parse "tcp:HOST:PORT" (or "HOST:PORT"), "unix:PATH", "vsock:CID:PORT",
 * "fd:NAME".  tcp takes options ",ipv4=on|off" and ",ipv6=on|off".
 * Returns NULL with @errp set on bad input (the message names the part).
 */
SocketAddress *socket_parse(const char *str, Error **errp);
/* "HOST:PORT" alone (the part after "tcp:"). */
bool inet_parse(InetSocketAddress *addr, const char *str, Error **errp);
void socket_address_free(SocketAddress *addr);
SocketAddress *socket_address_copy(const SocketAddress *addr);
/* Back to the form socket_parse() reads ("tcp:[::1]:4444"). */
char *socket_address_to_string(const SocketAddress *addr);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SocketAddress, socket_address_free)

/*
 * "fd:NAME" addresses: the monitor's getfd table lives above this layer,
 * so whoever owns it registers a resolver.  Without one (unit tests) only
 * decimal fd numbers work.  The resolver returns a new fd the caller owns,
 * or -1 with @errp set.
 */
typedef int (*SocketFdResolver)(const char *name, Error **errp);
void socket_set_fd_resolver(SocketFdResolver resolver);
/* Resolve @name to an fd the caller owns (numbers are dup'ed). */
int socket_get_fd(const char *name, Error **errp);

/* Blocking connect; returns a connected fd or -1. */
int socket_connect(const SocketAddress *addr, Error **errp);
/*
 * The same, a tcp handshake left unanswered failing after about
 * @user_timeout_ms (TCP_USER_TIMEOUT set before connect(); 0: the
 * kernel's SYN retries, about two minutes).  Other types ignore it.
 */
int socket_connect_timeout(const SocketAddress *addr,
                           unsigned int user_timeout_ms, Error **errp);
/*
 * Bind and listen with a backlog of @num; returns the listening fd or -1.
 * A tcp port of 0 lets the kernel pick: ask socket_local_address().  A
 * stale unix socket file at PATH is removed first.
 */
int socket_listen(const SocketAddress *addr, int num, Error **errp);
/* Accept one client (blocking unless @fd is non-blocking); -1 on error. */
int socket_accept(int fd, Error **errp);

SocketAddress *socket_local_address(int fd, Error **errp);
SocketAddress *socket_remote_address(int fd, Error **errp);
/* Convert a struct sockaddr to a SocketAddress. */
SocketAddress *socket_sockaddr_to_address(const struct sockaddr *sa,
                                          socklen_t salen, Error **errp);

/* setsockopt helpers; errors are ignored (not every socket supports them). */
void socket_set_nodelay(int fd, bool nodelay);
int socket_set_cloexec(int fd);

#endif
