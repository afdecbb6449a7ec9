/*
 * Migration URIs: "tcp:HOST:PORT", "unix:PATH", "vsock:CID:PORT",
 * "fd:NAME", "exec:COMMAND", "file:PATH[,offset=N]", "rdma:HOST:PORT".
 * One parser so that QMP migrate, migrate-incoming, -incoming and the
 * tests all accept (and refuse) the same strings with the same messages.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_URI_H
#define QEMU_URI_H

#include "qemu/sockets.h"

typedef enum UriTransport {
    URI_TRANSPORT_SOCKET,   /* tcp, unix, vsock, fd */
    URI_TRANSPORT_EXEC,
    URI_TRANSPORT_FILE,
    URI_TRANSPORT_RDMA,
} UriTransport;

typedef struct UriAddress {
    UriTransport transport;
    SocketAddress *socket;  /* SOCKET; RDMA (always inet) */
    char *exec_cmd;         /* EXEC: run by /bin/sh -c */
    char *file_path;        /* FILE */
    uint64_t file_offset;   /* FILE: where the stream starts */
} UriAddress;

/* NULL with @errp set (naming the URI and what is wrong) on bad input. */
UriAddress *uri_address_parse(const char *uri, Error **errp);
void uri_address_free(UriAddress *addr);
/* The canonical string form, parseable again. */
char *uri_address_to_string(const UriAddress *addr);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(UriAddress, uri_address_free)

#endif
