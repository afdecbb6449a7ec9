/*
 * Port I/O dispatch for the x86 machine.
 *
 * Devices register a range of ports with an ops table.  Every hook runs
 * with the BQL held: called from a vCPU thread on a KVM_EXIT_IO, or from
 * the main thread (qtest outb/inb).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_IOPORT_H
#define HW_IOPORT_H

typedef struct PortIOOps {
    /* @offset is relative to the registered base; @size is 1, 2 or 4. */
    uint32_t (*read)(void *opaque, uint16_t offset, unsigned size);
    void (*write)(void *opaque, uint16_t offset, uint32_t val, unsigned size);
} PortIOOps;

void portio_register(const char *name, uint16_t base, uint16_t len,
                     const PortIOOps *ops, void *opaque);
/* Machine creation: the device owning a port in [base, base+len), or NULL. */
const char *portio_find_owner(uint16_t base, uint32_t len);
/* BQL held.  Unclaimed reads return all ones; unclaimed writes are dropped. */
uint32_t portio_read(uint16_t port, unsigned size);
void portio_write(uint16_t port, uint32_t val, unsigned size);

#endif
