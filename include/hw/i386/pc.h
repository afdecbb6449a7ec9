/*
 * The x86 machine's internals shared between hw/i386 files.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_I386_PC_H
#define HW_I386_PC_H

#include "hw/boards.h"

/* RAM below 4 GiB ends here; the rest is mapped from 4 GiB up. */
#define PC_LOWMEM_END  (3 * GiB)
#define PC_HIGHMEM_START (4 * GiB)
#define PC_BOOT_SECTOR_ADDR 0x7c00
#define PC_BOOT_SECTOR_SIZE 512

/*
 * Machine creation (BQL): create the devices listed with -device
 * (ms->device_opts), in order.  Fails on an unknown driver or property.
 */
bool pc_devices_create(MachineState *ms, Error **errp);

#endif
