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
 * The number of complete passes is kept as a little-endian 32-bit word at
 * STAMP_PASSES, zeroed at boot.  A migrated guest continues counting from
 * where the source stopped; one that was restarted from its boot sector
 * (CPU state lost) starts again from zero, which the memory invariant
 * alone would not reveal once the new guest has run a full pass.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

    .equ    STAMP_START, 0x00100000
    .equ    STAMP_END, 0x06400000
    .equ    PAGE_SIZE, 4096
    .equ    STAMP_PASSES, 0x00006000

    .include "pmode.inc"

pm_start:
    movw    $COM1, %dx
    movl    $0, STAMP_PASSES
pass:
    movl    $STAMP_START, %eax
1:
    incb    (%eax)
    addl    $PAGE_SIZE, %eax
    cmpl    $STAMP_END, %eax
    jb      1b
    incl    STAMP_PASSES
    movb    $'B', %al
    outb    %al, %dx
    jmp     pass

    .org    510
    .byte   0x55, 0xaa
