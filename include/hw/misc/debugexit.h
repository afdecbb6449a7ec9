/*
 * isa-debug-exit: a guest write of V ends the process with status
 * (V << 1) | 1, so a test guest can report pass/fail.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_MISC_DEBUGEXIT_H
#define HW_MISC_DEBUGEXIT_H

#define ISA_DEBUG_EXIT_IOBASE 0x501     /* QEMU's defaults */
#define ISA_DEBUG_EXIT_IOSIZE 2

/* Machine creation (BQL): the caller checked the ports are free. */
void isa_debug_exit_init(uint16_t iobase, uint16_t iosize);

#endif
