/*
 * Port 0x92 (System Control Port A).
 *
 * Bit 1 is the fast A20 gate.  KVM gives a guest no way to mask A20, and
 * the guests we run only ever turn it on, so the bit is just remembered
 * and read back.  Bit 0 set pulses the reset line: a reset request.
 *
 * State protected by the BQL (port I/O dispatch).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "hw/ioport.h"
#include "hw/misc/port92.h"
#include "system/runstate.h"
#include "trace.h"

#define PORT92_RESET 0x01
#define PORT92_A20   0x02

static uint8_t port92_value;   /* BQL */

static uint32_t port92_read(void *opaque, uint16_t offset, unsigned size)
{
    trace_port92_read(port92_value);
    return port92_value;
}

static void port92_write(void *opaque, uint16_t offset, uint32_t val,
                         unsigned size)
{
    trace_port92_write(val);
    port92_value = val & PORT92_A20;
    if (val & PORT92_RESET) {
        qemu_system_shutdown_request(SHUTDOWN_CAUSE_GUEST_RESET);
    }
}

static const PortIOOps port92_ops = {
    .read = port92_read,
    .write = port92_write,
};

void port92_init(void)
{
    portio_register("port92", 0x92, 1, &port92_ops, NULL);
}

bool port92_a20_enabled(void)
{
    return port92_value & PORT92_A20;
}
