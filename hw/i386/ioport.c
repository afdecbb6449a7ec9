/*
 * Port I/O dispatch.
 *
 * Devices register ranges at machine creation (main thread, before any
 * vCPU runs); the table is read-only afterwards.  Accesses arrive from
 * vCPU threads (KVM_EXIT_IO) or the qtest protocol, always with the BQL
 * held, which is what serialises the device models.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/main-loop.h"
#include "hw/ioport.h"
#include "trace.h"

typedef struct PortIORange {
    const char *name;
    uint16_t base;
    uint16_t len;
    const PortIOOps *ops;
    void *opaque;
} PortIORange;

/* PortIORange, in registration order; a handful of entries. */
static GArray *portio_ranges;

void portio_register(const char *name, uint16_t base, uint16_t len,
                     const PortIOOps *ops, void *opaque)
{
    PortIORange r = {
        .name = name, .base = base, .len = len, .ops = ops, .opaque = opaque,
    };

    assert(len > 0 && (uint32_t)base + len <= 0x10000);
    /* Callers check for conflicts first (portio_find_owner()). */
    assert(!portio_find_owner(base, len));
    if (!portio_ranges) {
        portio_ranges = g_array_new(false, false, sizeof(PortIORange));
    }
    g_array_append_val(portio_ranges, r);
    trace_portio_register(name, base, len);
}

static PortIORange *portio_lookup(uint32_t base, uint32_t len)
{
    for (guint i = 0; portio_ranges && i < portio_ranges->len; i++) {
        PortIORange *r = &g_array_index(portio_ranges, PortIORange, i);

        if (base < (uint32_t)r->base + r->len && r->base < base + len) {
            return r;
        }
    }
    return NULL;
}

const char *portio_find_owner(uint16_t base, uint32_t len)
{
    PortIORange *r = portio_lookup(base, len);

    return r ? r->name : NULL;
}

static uint32_t portio_size_mask(unsigned size)
{
    return size >= 4 ? UINT32_MAX : (1u << (size * 8)) - 1;
}

uint32_t portio_read(uint16_t port, unsigned size)
{
    PortIORange *r = portio_lookup(port, 1);
    uint32_t val;

    assert(bql_locked());
    if (!r || !r->ops->read) {
        val = portio_size_mask(size);
        trace_portio_unassigned_read(port, size);
        return val;
    }
    val = r->ops->read(r->opaque, port - r->base, size) &
          portio_size_mask(size);
    trace_portio_read(r->name, port, size, val);
    return val;
}

void portio_write(uint16_t port, uint32_t val, unsigned size)
{
    PortIORange *r = portio_lookup(port, 1);

    assert(bql_locked());
    val &= portio_size_mask(size);
    if (!r || !r->ops->write) {
        trace_portio_unassigned_write(port, size, val);
        return;
    }
    trace_portio_write(r->name, port, size, val);
    r->ops->write(r->opaque, port - r->base, val, size);
}
