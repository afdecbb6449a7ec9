/*
 * fill: write pseudo-random bytes to [1 MiB, N MiB), write 'F' to COM1,
 * then halt forever with interrupts off.
 *
 * The data come from a 32-bit xorshift generator (shifts 13, 17, 5; seed
 * 0x2545f491), one 32-bit word per store, so pages neither compress nor
 * look like zero pages: the guest for raw-throughput measurements.
 *
 * N is patchable: the little-endian 32-bit word at byte offset 0x1f8 (504)
 * of the image is the end of the filled range in MiB (default 100).  It
 * must be in [2, 4095]; the guest runs in 32-bit protected mode without
 * paging, so only the first 4 GiB of the address space can be reached,
 * and a range that reaches into a hole without RAM is the caller's bug.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

    .equ    FILL_START, 0x00100000
    .equ    FILL_N_OFFSET, 0x1f8
    .equ    FILL_N_DEFAULT, 100

    .include "pmode.inc"

pm_start:
    movl    fill_end_mib, %ecx
    shll    $20, %ecx               /* end address */
    movl    $FILL_START, %edi
    movl    $0x2545f491, %eax       /* xorshift32 state, never zero */
1:
    movl    %eax, %ebx
    shll    $13, %ebx
    xorl    %ebx, %eax
    movl    %eax, %ebx
    shrl    $17, %ebx
    xorl    %ebx, %eax
    movl    %eax, %ebx
    shll    $5, %ebx
    xorl    %ebx, %eax
    movl    %eax, (%edi)
    addl    $4, %edi
    cmpl    %ecx, %edi
    jb      1b

    movw    $COM1, %dx
    movb    $'F', %al
    outb    %al, %dx
2:
    cli
    hlt
    jmp     2b

    .org    FILL_N_OFFSET
fill_end_mib:
    .long   FILL_N_DEFAULT

    .org    510
    .byte   0x55, 0xaa
