/*
 * triple: write 'T' to COM1, then triple-fault the CPU.
 *
 * With an IDT of limit 0 no exception can be delivered: the ud2 raises a
 * #GP while looking up vector 6 (#UD), the #GP a double fault, and the double
 * fault a shutdown (triple fault), which the VMM reports as a guest reset.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

    .include "pmode.inc"

pm_start:
    movw    $COM1, %dx
    movb    $'T', %al
    outb    %al, %dx
    lidtl   null_idt
    ud2
1:
    hlt                             /* not reached */
    jmp     1b

null_idt:
    .word   0
    .long   0

    .org    510
    .byte   0x55, 0xaa
