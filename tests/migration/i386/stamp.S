/*
 * stamp: the migration-test guest.
 *
 * Forever: add 1 to the first byte of every 4 KiB page in [1 MiB, 100 MiB),
 * lowest address first; after each complete pass write 'B' to COM1.
 *
 * Any stopped, consistent copy of its memory therefore satisfies: walking
 * the pages upward, each page's first byte equals the previous page's,
 * except at most one place where it is exactly one less (mod 256) -- the
 * point the guest had reached.  tests/qtest/stamp-check.c checks it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

    .equ    STAMP_START, 0x00100000
    .equ    STAMP_END, 0x06400000
    .equ    PAGE_SIZE, 4096

    .include "pmode.inc"

pm_start:
    movw    $COM1, %dx
pass:
    movl    $STAMP_START, %eax
1:
    incb    (%eax)
    addl    $PAGE_SIZE, %eax
    cmpl    $STAMP_END, %eax
    jb      1b
    movb    $'B', %al
    outb    %al, %dx
    jmp     pass

    .org    510
    .byte   0x55, 0xaa
