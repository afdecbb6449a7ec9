/*
 * isa-debug-exit.
 *
 * Runs under the BQL (port I/O dispatch).  The exit itself goes through
 * the run state code, which is thread-safe, so the main loop ends the
 * process cleanly (flushing chardevs) instead of exiting from a vCPU.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "hw/ioport.h"
#include "hw/misc/debugexit.h"
#include "system/runstate.h"
#include "trace.h"

static void debug_exit_write(void *opaque, uint16_t offset, uint32_t val,
                             unsigned size)
{
    int status = (int)((val << 1) | 1);

    trace_debug_exit(val, status);
    qemu_system_exit_request(status);
}

static const PortIOOps debug_exit_ops = {
    .write = debug_exit_write,
};

void isa_debug_exit_init(uint16_t iobase, uint16_t iosize)
{
    portio_register("isa-debug-exit", iobase, iosize, &debug_exit_ops, NULL);
}
