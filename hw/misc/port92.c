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
#include "migration/register.h"
#include "migration/vmstate.h"
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

/* Migration: only the A20 bit is ever stored. */
static bool port92_post_load(void *opaque, int version_id, Error **errp)
{
    if (port92_value & ~PORT92_A20) {
        error_setg(errp, "port92: value 0x%02x has bits other than A20",
                   port92_value);
        return false;
    }
    return true;
}

/* The state is the lone byte port92_value: the field sits at offset 0. */
static const VMStateDescription vmstate_port92 = {
    .name = "port92",
    .version_id = 1,
    .minimum_version_id = 1,
    .post_load = port92_post_load,
    .fields = (const VMStateField[]) {
        {
            .name = "outport",
            .offset = 0,
            .size = sizeof(uint8_t),
            .info = &vmstate_info_uint8,
            .flags = VMS_SINGLE,
        },
        VMSTATE_END_OF_LIST()
    },
};

void port92_init(void)
{
    portio_register("port92", 0x92, 1, &port92_ops, NULL);
    vmstate_register(0, &vmstate_port92, &port92_value);
}

bool port92_a20_enabled(void)
{
    return port92_value & PORT92_A20;
}
