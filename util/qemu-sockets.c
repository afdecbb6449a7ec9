/*
 * Socket addresses: parsing, printing, listen, connect, accept.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/un.h>
#include <linux/vm_sockets.h>
#include "qemu/sockets.h"
#include "qemu/option.h"

/* Written once at start-up by the monitor, before any fd: URI is used. */
static SocketFdResolver fd_resolver;

/* A decimal number in [0, @max] with nothing around it. */
static bool parse_decimal(const char *str, uint64_t max, uint64_t *val)
{
    char *end;

    if (!*str || !g_ascii_isdigit(*str)) {
        return false;
    }
    errno = 0;
    *val = g_ascii_strtoull(str, &end, 10);
    return !errno && !*end && *val <= max;
}

static bool inet_parse_options(InetSocketAddress *addr, char **opts,
                               const char *str, Error **errp)
{
    for (; *opts; opts++) {
        g_auto(GStrv) kv = g_strsplit(*opts, "=", 2);
        bool on = true;
        bool *field;

        if (!strcmp(kv[0], "ipv4")) {
            field = &addr->ipv4;
        } else if (!strcmp(kv[0], "ipv6")) {
            field = &addr->ipv6;
        } else {
            error_setg(errp, "Unknown option '%s' in socket address '%s'",
                       kv[0], str);
            return false;
        }
        if (kv[1] && !qemu_parse_bool(kv[1], &on)) {
            error_setg(errp, "Option '%s' in socket address '%s' must be "
                       "on or off, not '%s'", kv[0], str, kv[1]);
            return false;
        }
        *field = on;
    }
    if (addr->ipv4 && addr->ipv6) {
        /* Both on is what no option means. */
        addr->ipv4 = addr->ipv6 = false;
    }
    return true;
}

bool inet_parse(InetSocketAddress *addr, const char *str, Error **errp)
{
    g_auto(GStrv) parts = g_strsplit(str, ",", -1);
    const char *hp = parts[0] ? parts[0] : "";
    const char *port;
    uint64_t portnum;
    g_autofree char *host = NULL;

    memset(addr, 0, sizeof(*addr));
    if (hp[0] == '[') {
        const char *close = strchr(hp, ']');

        if (!close || close[1] != ':') {
            error_setg(errp, "Socket address '%s': an IPv6 address must be "
                       "written [ADDR]:PORT", str);
            return false;
        }
        host = g_strndup(hp + 1, close - hp - 1);
        port = close + 2;
    } else {
        const char *colon = strchr(hp, ':');

        if (!colon) {
            error_setg(errp, "Socket address '%s' lacks a port (expected "
                       "HOST:PORT)", str);
            return false;
        }
        host = g_strndup(hp, colon - hp);
        port = colon + 1;
        if (strchr(port, ':')) {
            error_setg(errp, "Socket address '%s': an IPv6 address must be "
                       "in brackets, as in [::1]:4444", str);
            return false;
        }
    }
    if (!parse_decimal(port, 65535, &portnum)) {
        error_setg(errp, "Socket address '%s': invalid port '%s' (expected "
                   "a number from 0 to 65535)", str, port);
        return false;
    }
    if (!inet_parse_options(addr, parts[0] ? parts + 1 : parts, str, errp)) {
        return false;
    }
    addr->host = g_steal_pointer(&host);
    addr->port = g_strdup_printf("%" PRIu64, portnum);
    return true;
}

static SocketAddress *vsock_parse(const char *rest, const char *str,
                                  Error **errp)
{
    g_auto(GStrv) parts = g_strsplit(rest, ":", -1);
    SocketAddress *addr;
    uint64_t cid, port;

    if (g_strv_length(parts) != 2) {
        error_setg(errp, "Socket address '%s': expected vsock:CID:PORT", str);
        return NULL;
    }
    if (!parse_decimal(parts[0], UINT32_MAX, &cid)) {
        error_setg(errp, "Socket address '%s': invalid vsock CID '%s'",
                   str, parts[0]);
        return NULL;
    }
    if (!parse_decimal(parts[1], UINT32_MAX, &port)) {
        error_setg(errp, "Socket address '%s': invalid vsock port '%s'",
                   str, parts[1]);
        return NULL;
    }
    addr = g_new0(SocketAddress, 1);
    addr->type = SOCKET_ADDRESS_TYPE_VSOCK;
    addr->u.vsock.cid = g_strdup_printf("%" PRIu64, cid);
    addr->u.vsock.port = g_strdup_printf("%" PRIu64, port);
    return addr;
}

SocketAddress *socket_parse(const char *str, Error **errp)
{
    SocketAddress *addr;

    if (g_str_has_prefix(str, "unix:")) {
        const char *path = str + 5;

        if (!*path) {
            error_setg(errp, "Socket address '%s' lacks a path", str);
            return NULL;
        }
        if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            error_setg(errp, "UNIX socket path '%s' is too long (at most "
                       "%zu bytes)", path,
                       sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
            return NULL;
        }
        addr = g_new0(SocketAddress, 1);
        addr->type = SOCKET_ADDRESS_TYPE_UNIX;
        addr->u.q_unix.path = g_strdup(path);
        return addr;
    }
    if (g_str_has_prefix(str, "vsock:")) {
        return vsock_parse(str + 6, str, errp);
    }
    if (g_str_has_prefix(str, "fd:")) {
        if (!str[3]) {
            error_setg(errp, "Socket address '%s' lacks a file descriptor "
                       "name", str);
            return NULL;
        }
        addr = g_new0(SocketAddress, 1);
        addr->type = SOCKET_ADDRESS_TYPE_FD;
        addr->u.fd.str = g_strdup(str + 3);
        return addr;
    }
    addr = g_new0(SocketAddress, 1);
    addr->type = SOCKET_ADDRESS_TYPE_INET;
    if (!inet_parse(&addr->u.inet,
                    g_str_has_prefix(str, "tcp:") ? str + 4 : str, errp)) {
        g_free(addr);
        return NULL;
    }
    return addr;
}

void socket_address_free(SocketAddress *addr)
{
    if (!addr) {
        return;
    }
    switch (addr->type) {
    case SOCKET_ADDRESS_TYPE_INET:
        g_free(addr->u.inet.host);
        g_free(addr->u.inet.port);
        break;
    case SOCKET_ADDRESS_TYPE_UNIX:
        g_free(addr->u.q_unix.path);
        break;
    case SOCKET_ADDRESS_TYPE_VSOCK:
        g_free(addr->u.vsock.cid);
        g_free(addr->u.vsock.port);
        break;
    case SOCKET_ADDRESS_TYPE_FD:
        g_free(addr->u.fd.str);
        break;
    }
    g_free(addr);
}

SocketAddress *socket_address_copy(const SocketAddress *addr)
{
    SocketAddress *copy = g_memdup2(addr, sizeof(*addr));

    switch (addr->type) {
    case SOCKET_ADDRESS_TYPE_INET:
        copy->u.inet.host = g_strdup(addr->u.inet.host);
        copy->u.inet.port = g_strdup(addr->u.inet.port);
        break;
    case SOCKET_ADDRESS_TYPE_UNIX:
        copy->u.q_unix.path = g_strdup(addr->u.q_unix.path);
        break;
    case SOCKET_ADDRESS_TYPE_VSOCK:
        copy->u.vsock.cid = g_strdup(addr->u.vsock.cid);
        copy->u.vsock.port = g_strdup(addr->u.vsock.port);
        break;
    case SOCKET_ADDRESS_TYPE_FD:
        copy->u.fd.str = g_strdup(addr->u.fd.str);
        break;
    }
    return copy;
}

char *socket_address_to_string(const SocketAddress *addr)
{
    const InetSocketAddress *in = &addr->u.inet;

    switch (addr->type) {
    case SOCKET_ADDRESS_TYPE_INET:
        return g_strdup_printf(strchr(in->host, ':') ? "tcp:[%s]:%s%s"
                                                     : "tcp:%s:%s%s",
                               in->host, in->port,
                               in->ipv4 ? ",ipv4=on" :
                               in->ipv6 ? ",ipv6=on" : "");
    case SOCKET_ADDRESS_TYPE_UNIX:
        return g_strdup_printf("unix:%s", addr->u.q_unix.path);
    case SOCKET_ADDRESS_TYPE_VSOCK:
        return g_strdup_printf("vsock:%s:%s", addr->u.vsock.cid,
                               addr->u.vsock.port);
    case SOCKET_ADDRESS_TYPE_FD:
        return g_strdup_printf("fd:%s", addr->u.fd.str);
    }
    g_assert_not_reached();
}

void socket_set_fd_resolver(SocketFdResolver resolver)
{
    fd_resolver = resolver;
}

int socket_get_fd(const char *name, Error **errp)
{
    uint64_t num;

    if (fd_resolver) {
        return fd_resolver(name, errp);
    }
    if (!parse_decimal(name, INT_MAX, &num)) {
        error_setg(errp, "File descriptor '%s' is not a number and no "
                   "monitor is there to look it up", name);
        return -1;
    }
    if (fcntl((int)num, F_GETFD) < 0) {
        error_setg_errno(errp, errno, "File descriptor %d is not open",
                         (int)num);
        return -1;
    }
    return (int)num;
}

int socket_set_cloexec(int fd)
{
    int flags = fcntl(fd, F_GETFD);

    return flags < 0 ? -1 : fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

void socket_set_nodelay(int fd, bool nodelay)
{
    int v = nodelay;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v));
}

static int fd_check_socket(int fd, const char *name, Error **errp)
{
    int type;
    socklen_t len = sizeof(type);

    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
        error_setg_errno(errp, errno, "File descriptor '%s' is not a socket",
                         name);
        close(fd);
        return -1;
    }
    return fd;
}

static struct addrinfo *inet_resolve(const InetSocketAddress *in,
                                     bool passive, Error **errp)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL;
    int rc;

    hints.ai_family = in->ipv4 ? AF_INET : in->ipv6 ? AF_INET6 : AF_UNSPEC;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    rc = getaddrinfo(*in->host ? in->host : NULL, in->port, &hints, &res);
    if (rc) {
        error_setg(errp, "Address resolution failed for '%s:%s': %s",
                   in->host, in->port, gai_strerror(rc));
        return NULL;
    }
    return res;
}

static int inet_connect(const InetSocketAddress *in,
                        unsigned int user_timeout_ms, Error **errp)
{
    struct addrinfo *res, *ai;
    int fd = -1, saved_errno = 0;

    if (!*in->host) {
        error_setg(errp, "Cannot connect to ':%s': no host given", in->port);
        return -1;
    }
    if (!strcmp(in->port, "0")) {
        error_setg(errp, "Cannot connect to '%s:0': port 0 is only for "
                   "listening", in->host);
        return -1;
    }
    res = inet_resolve(in, false, errp);
    if (!res) {
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            saved_errno = errno;
            continue;
        }
        /* Best effort: without it the kernel's SYN retries bound it. */
        if (user_timeout_ms) {
            setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms,
                       sizeof(user_timeout_ms));
        }
        if (RETRY_ON_EINTR(connect(fd, ai->ai_addr, ai->ai_addrlen)) == 0) {
            break;
        }
        saved_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        error_setg_errno(errp, saved_errno, "Failed to connect to '%s:%s'",
                         in->host, in->port);
    }
    return fd;
}

static int inet_listen(const InetSocketAddress *in, int num, Error **errp)
{
    struct addrinfo *res, *ai;
    int fd = -1, saved_errno = 0, on = 1, off = 0;

    res = inet_resolve(in, true, errp);
    if (!res) {
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            saved_errno = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
        if (ai->ai_family == AF_INET6) {
            /* Unless told ipv6=on, "::" also takes IPv4 clients. */
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
                       in->ipv6 ? &on : &off, sizeof(on));
        }
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            listen(fd, num) == 0) {
            break;
        }
        saved_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        error_setg_errno(errp, saved_errno, "Failed to listen on '%s:%s'",
                         in->host, in->port);
    }
    return fd;
}

static bool unix_sockaddr(const char *path, struct sockaddr_un *sun,
                          Error **errp)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun->sun_path)) {
        error_setg(errp, "UNIX socket path '%s' is too long", path);
        return false;
    }
    strcpy(sun->sun_path, path);
    return true;
}

static int unix_connect_listen(const char *path, bool listening, int num,
                               Error **errp)
{
    struct sockaddr_un sun;
    struct stat st;
    int fd;

    if (!unix_sockaddr(path, &sun, errp)) {
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Failed to create a UNIX socket");
        return -1;
    }
    if (!listening) {
        if (RETRY_ON_EINTR(connect(fd, (struct sockaddr *)&sun,
                                   sizeof(sun))) < 0) {
            error_setg_errno(errp, errno, "Failed to connect to '%s'", path);
            close(fd);
            return -1;
        }
        return fd;
    }
    /* A socket file left by a dead process would make bind() fail. */
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        unlink(path);
    }
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
        listen(fd, num) < 0) {
        error_setg_errno(errp, errno, "Failed to listen on '%s'", path);
        close(fd);
        return -1;
    }
    return fd;
}

static int vsock_connect_listen(const VsockSocketAddress *v, bool listening,
                                int num, Error **errp)
{
    struct sockaddr_vm svm = { .svm_family = AF_VSOCK };
    uint64_t cid, port;
    int fd;

    if (!parse_decimal(v->cid, UINT32_MAX, &cid) ||
        !parse_decimal(v->port, UINT32_MAX, &port)) {
        error_setg(errp, "Invalid vsock address '%s:%s'", v->cid, v->port);
        return -1;
    }
    svm.svm_cid = cid;
    svm.svm_port = port;
    fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Failed to create a vsock socket");
        return -1;
    }
    if (listening ? (bind(fd, (struct sockaddr *)&svm, sizeof(svm)) < 0 ||
                     listen(fd, num) < 0)
                  : RETRY_ON_EINTR(connect(fd, (struct sockaddr *)&svm,
                                           sizeof(svm))) < 0) {
        error_setg_errno(errp, errno, "Failed to %s vsock:%s:%s",
                         listening ? "listen on" : "connect to",
                         v->cid, v->port);
        close(fd);
        return -1;
    }
    return fd;
}

int socket_connect(const SocketAddress *addr, Error **errp)
{
    return socket_connect_timeout(addr, 0, errp);
}

int socket_connect_timeout(const SocketAddress *addr,
                           unsigned int user_timeout_ms, Error **errp)
{
    int fd;

    switch (addr->type) {
    case SOCKET_ADDRESS_TYPE_INET:
        fd = inet_connect(&addr->u.inet, user_timeout_ms, errp);
        break;
    case SOCKET_ADDRESS_TYPE_UNIX:
        fd = unix_connect_listen(addr->u.q_unix.path, false, 0, errp);
        break;
    case SOCKET_ADDRESS_TYPE_VSOCK:
        fd = vsock_connect_listen(&addr->u.vsock, false, 0, errp);
        break;
    case SOCKET_ADDRESS_TYPE_FD:
        fd = socket_get_fd(addr->u.fd.str, errp);
        if (fd >= 0) {
            fd = fd_check_socket(fd, addr->u.fd.str, errp);
        }
        break;
    default:
        g_assert_not_reached();
    }
    return fd;
}

int socket_listen(const SocketAddress *addr, int num, Error **errp)
{
    int fd;

    switch (addr->type) {
    case SOCKET_ADDRESS_TYPE_INET:
        fd = inet_listen(&addr->u.inet, num, errp);
        break;
    case SOCKET_ADDRESS_TYPE_UNIX:
        fd = unix_connect_listen(addr->u.q_unix.path, true, num, errp);
        break;
    case SOCKET_ADDRESS_TYPE_VSOCK:
        fd = vsock_connect_listen(&addr->u.vsock, true, num, errp);
        break;
    case SOCKET_ADDRESS_TYPE_FD:
        /* An fd handed over for listening is already bound and listening. */
        fd = socket_get_fd(addr->u.fd.str, errp);
        if (fd >= 0) {
            fd = fd_check_socket(fd, addr->u.fd.str, errp);
        }
        break;
    default:
        g_assert_not_reached();
    }
    return fd;
}

int socket_accept(int fd, Error **errp)
{
    int client = RETRY_ON_EINTR(accept4(fd, NULL, NULL, SOCK_CLOEXEC));

    if (client < 0) {
        error_setg_errno(errp, errno, "Failed to accept a connection");
    }
    return client;
}

SocketAddress *socket_sockaddr_to_address(const struct sockaddr *sa,
                                          socklen_t salen, Error **errp)
{
    SocketAddress *addr = g_new0(SocketAddress, 1);
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
    const struct sockaddr_vm *svm = (const struct sockaddr_vm *)sa;
    int rc;

    switch (sa->sa_family) {
    case AF_INET:
    case AF_INET6:
        rc = getnameinfo(sa, salen, host, sizeof(host), serv, sizeof(serv),
                         NI_NUMERICHOST | NI_NUMERICSERV);
        if (rc) {
            error_setg(errp, "Cannot format socket address: %s",
                       gai_strerror(rc));
            g_free(addr);
            return NULL;
        }
        addr->type = SOCKET_ADDRESS_TYPE_INET;
        addr->u.inet.host = g_strdup(host);
        addr->u.inet.port = g_strdup(serv);
        addr->u.inet.ipv6 = sa->sa_family == AF_INET6;
        addr->u.inet.ipv4 = sa->sa_family == AF_INET;
        return addr;
    case AF_UNIX:
        addr->type = SOCKET_ADDRESS_TYPE_UNIX;
        /* An unnamed (client or socketpair) socket has no path. */
        addr->u.q_unix.path =
            salen > offsetof(struct sockaddr_un, sun_path)
            ? g_strndup(sun->sun_path,
                        salen - offsetof(struct sockaddr_un, sun_path))
            : g_strdup("");
        return addr;
    case AF_VSOCK:
        addr->type = SOCKET_ADDRESS_TYPE_VSOCK;
        addr->u.vsock.cid = g_strdup_printf("%u", svm->svm_cid);
        addr->u.vsock.port = g_strdup_printf("%u", svm->svm_port);
        return addr;
    default:
        error_setg(errp, "Unknown socket address family %d", sa->sa_family);
        g_free(addr);
        return NULL;
    }
}

static SocketAddress *socket_name(int fd, bool local, Error **errp)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int rc;

    rc = local ? getsockname(fd, (struct sockaddr *)&ss, &len)
               : getpeername(fd, (struct sockaddr *)&ss, &len);
    if (rc < 0) {
        error_setg_errno(errp, errno, "Cannot get the %s address of fd %d",
                         local ? "local" : "peer", fd);
        return NULL;
    }
    return socket_sockaddr_to_address((struct sockaddr *)&ss, len, errp);
}

SocketAddress *socket_local_address(int fd, Error **errp)
{
    return socket_name(fd, true, errp);
}

SocketAddress *socket_remote_address(int fd, Error **errp)
{
    return socket_name(fd, false, errp);
}
