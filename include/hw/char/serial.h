/*
 * 16550A UART (ISA serial port).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_CHAR_SERIAL_H
#define HW_CHAR_SERIAL_H

#include "chardev/char.h"

typedef struct SerialState SerialState;

/* The PC's COM1..COM4: I/O base and ISA IRQ of port @index (0-3). */
uint16_t serial_isa_iobase(int index);
int serial_isa_irq(int index);

/*
 * Machine creation (BQL): a UART at @iobase (8 ports) raising ISA @irq,
 * transmitting to and receiving from @chr (which may be NULL: output is
 * then dropped and no input arrives).
 */
SerialState *serial_isa_init(const char *name, uint16_t iobase, int irq,
                             Chardev *chr);

#endif
