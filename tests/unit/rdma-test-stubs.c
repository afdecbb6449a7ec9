/*
 * Stand-ins for RDMA migration (migration/rdma.h) in the unit tests that
 * link ram.c, ram-load.c or channel.c without the RDMA transport: no
 * stream is ever on an RDMA connection here, and an rdma: URI is refused
 * as on a host with no provider.  The transport itself is tested by
 * tests/qtest/rdma-test.c over the software provider.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "migration/rdma.h"

RDMAContext *rdma_context_of(QEMUFile *f)
{
    return NULL;
}

bool rdma_ram_setup(RDMAContext *r, Error **errp)
{
    g_assert_not_reached();
}

int rdma_ram_save_page(RDMAContext *r, RAMBlock *rb, uint64_t offset,
                       bool zero, Error **errp)
{
    g_assert_not_reached();
}

bool rdma_ram_finish(RDMAContext *r, Error **errp)
{
    g_assert_not_reached();
}

bool rdma_load_hook(RDMAContext *r, GPtrArray *blocks, Error **errp)
{
    g_assert_not_reached();
}

bool rdma_transport_check(Error **errp)
{
    error_setg(errp, "RDMA migration is not linked into this unit test");
    return false;
}

void rdma_start_outgoing(const InetSocketAddress *addr,
                         MigrationConnectFunc cb, void *opaque)
{
    g_assert_not_reached();
}

RDMAListener *rdma_start_incoming(const InetSocketAddress *addr,
                                  MigrationAcceptFunc cb, void *opaque,
                                  Error **errp)
{
    g_assert_not_reached();
}

char *rdma_listener_uri(RDMAListener *l)
{
    g_assert_not_reached();
}

void rdma_listener_close(RDMAListener *l)
{
}
