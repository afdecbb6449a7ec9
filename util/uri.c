/*
 * Migration URI parsing.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/uri.h"
#include "qemu/option.h"

static UriAddress *uri_parse_file(const char *rest, const char *uri,
                                  Error **errp)
{
    const char *comma = strrchr(rest, ',');
    UriAddress *addr;
    uint64_t offset = 0;

    if (comma && g_str_has_prefix(comma + 1, "offset=")) {
        if (!qemu_strtosz(comma + 1 + strlen("offset="), &offset)) {
            error_setg(errp, "Migration URI '%s': invalid offset '%s' "
                       "(expected a size such as 4096 or 1M)", uri,
                       comma + 1 + strlen("offset="));
            return NULL;
        }
    } else {
        comma = NULL;
    }
    if (comma == rest || !*rest) {
        error_setg(errp, "Migration URI '%s' lacks a file name", uri);
        return NULL;
    }
    addr = g_new0(UriAddress, 1);
    addr->transport = URI_TRANSPORT_FILE;
    addr->file_path = comma ? g_strndup(rest, comma - rest) : g_strdup(rest);
    addr->file_offset = offset;
    return addr;
}

static UriAddress *uri_parse_socket(const char *str, bool rdma,
                                    Error **errp)
{
    UriAddress *addr;
    SocketAddress *sock = socket_parse(str, errp);

    if (!sock) {
        return NULL;
    }
    addr = g_new0(UriAddress, 1);
    addr->transport = rdma ? URI_TRANSPORT_RDMA : URI_TRANSPORT_SOCKET;
    addr->socket = sock;
    return addr;
}

UriAddress *uri_address_parse(const char *uri, Error **errp)
{
    const char *colon = strchr(uri, ':');
    g_autofree char *scheme = NULL;
    const char *rest;

    if (!colon || colon == uri) {
        error_setg(errp, "Migration URI '%s' lacks a scheme (expected "
                   "tcp:, unix:, vsock:, fd:, exec:, file: or rdma:)", uri);
        return NULL;
    }
    scheme = g_strndup(uri, colon - uri);
    rest = colon + 1;
    if (!strcmp(scheme, "tcp") || !strcmp(scheme, "unix") ||
        !strcmp(scheme, "vsock") || !strcmp(scheme, "fd")) {
        return uri_parse_socket(uri, false, errp);
    }
    if (!strcmp(scheme, "rdma")) {
        g_autofree char *tcp = g_strdup_printf("tcp:%s", rest);

        return uri_parse_socket(tcp, true, errp);
    }
    if (!strcmp(scheme, "exec")) {
        UriAddress *addr;

        if (!*rest) {
            error_setg(errp, "Migration URI '%s' lacks a command", uri);
            return NULL;
        }
        addr = g_new0(UriAddress, 1);
        addr->transport = URI_TRANSPORT_EXEC;
        addr->exec_cmd = g_strdup(rest);
        return addr;
    }
    if (!strcmp(scheme, "file")) {
        return uri_parse_file(rest, uri, errp);
    }
    error_setg(errp, "Migration URI '%s': unknown scheme '%s' (expected "
               "tcp, unix, vsock, fd, exec, file or rdma)", uri, scheme);
    return NULL;
}

void uri_address_free(UriAddress *addr)
{
    if (!addr) {
        return;
    }
    socket_address_free(addr->socket);
    g_free(addr->exec_cmd);
    g_free(addr->file_path);
    g_free(addr);
}

char *uri_address_to_string(const UriAddress *addr)
{
    switch (addr->transport) {
    case URI_TRANSPORT_SOCKET:
        return socket_address_to_string(addr->socket);
    case URI_TRANSPORT_RDMA: {
        g_autofree char *tcp = socket_address_to_string(addr->socket);

        /* "tcp:HOST:PORT" -> "rdma:HOST:PORT" */
        return g_strdup_printf("rdma:%s", tcp + 4);
    }
    case URI_TRANSPORT_EXEC:
        return g_strdup_printf("exec:%s", addr->exec_cmd);
    case URI_TRANSPORT_FILE:
        return addr->file_offset
            ? g_strdup_printf("file:%s,offset=%" PRIu64, addr->file_path,
                              addr->file_offset)
            : g_strdup_printf("file:%s", addr->file_path);
    }
    g_assert_not_reached();
}
