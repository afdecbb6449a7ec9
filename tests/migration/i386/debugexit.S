/*
 * debugexit: write 'D' to COM1, then write the value at byte offset 0x1f8
 * (a patchable 32-bit word, default 0x21) to the isa-debug-exit device at
 * its default port 0xf4.  A VMM with that device exits with status
 * (value << 1) | 1, i.e. 67 for the default.  If nothing is mapped there
 * the guest halts, and the test notices the VMM still running.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

    .equ    DEBUG_EXIT_PORT, 0xf4
    .equ    EXIT_VALUE_OFFSET, 0x1f8

    .include "pmode.inc"

pm_start:
    movw    $COM1, %dx
    movb    $'D', %al
    outb    %al, %dx
    movl    exit_value, %eax
    outl    %eax, $DEBUG_EXIT_PORT
1:
    cli
    hlt
    jmp     1b

    .org    EXIT_VALUE_OFFSET
exit_value:
    .long   0x21

    .org    510
    .byte   0x55, 0xaa
