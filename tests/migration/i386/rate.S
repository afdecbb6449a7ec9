/*
 * rate: dirty a working set of W MiB at a chosen rate, forever.
 *
 * Like the stamp guest, it adds 1 to the first byte of every 4 KiB page
 * of [1 MiB, 1 MiB + W MiB), lowest address first, and writes 'B' to COM1
 * after each complete pass; the number of complete passes is kept as a
 * little-endian 32-bit word at RATE_PASSES (0x6000, the stamp guest's
 * address), zeroed at boot.  After each page it spins D times round a
 * two-instruction delay loop, which sets the dirty rate.
 *
 * Invariant (the stamp invariant restricted to the working set): in any
 * stopped, consistent copy of [1 MiB, 1 MiB + W MiB), walking the pages
 * upward, each page's first byte equals the previous page's except at
 * most once, where it is exactly one less (mod 256).  Pages above the
 * working set are never written.  tests/qtest/stamp-check.c checks it
 * given that range.
 *
 * Both knobs are patchable little-endian 32-bit words in the image:
 *   offset 0x1f8 (504): W, the working set in MiB, default 64.  It must
 *                       be in [1, 4094] and fit the guest's RAM: the
 *                       guest runs in 32-bit protected mode without
 *                       paging, and a range reaching a hole is the
 *                       caller's bug.
 *   offset 0x1f4 (500): D, delay-loop iterations after each page,
 *                       default 0 (as fast as the vCPU goes).
 *
 * The dirty rate is 4 KiB per (page cost + D × loop cost).  Measured on
 * this project's nested KVM host (guest code runs at about 1 µs per
 * instruction; passes counted from COM1 over 3 s, no dirty logging):
 *     W = 64, D = 0:     ~230000 pages/s  (~900 MiB/s, ~4.4 µs a page)
 *     W = 16, D = 100:    ~11000 pages/s  (~43 MiB/s)
 *     W = 16, D = 1000:    ~1400 pages/s  (~5 MiB/s)
 * i.e. about 0.9 µs per unit of D.  While dirty logging is on (migration,
 * calc-dirty-rate mode dirty-bitmap) the first write to each page after
 * a sync takes a write-protection fault, which slows D = 0 markedly.  A
 * faster host shifts all of these; measure on the machine at hand (the
 * 'B' rate on COM1 times W is the rate in MiB/s) rather than trust them.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

    .equ    RATE_START, 0x00100000
    .equ    PAGE_SIZE, 4096
    .equ    RATE_PASSES, 0x00006000
    .equ    RATE_D_OFFSET, 0x1f4
    .equ    RATE_W_OFFSET, 0x1f8
    .equ    RATE_W_DEFAULT, 64
    .equ    RATE_D_DEFAULT, 0

    .include "pmode.inc"

pm_start:
    movw    $COM1, %dx
    movl    $0, RATE_PASSES
    movl    rate_wset_mib, %ecx
    shll    $20, %ecx
    addl    $RATE_START, %ecx       /* end of the working set */
    movl    rate_delay, %ebp
pass:
    movl    $RATE_START, %eax
1:
    incb    (%eax)
    movl    %ebp, %esi
    testl   %esi, %esi
    jz      3f
2:
    decl    %esi
    jnz     2b
3:
    addl    $PAGE_SIZE, %eax
    cmpl    %ecx, %eax
    jb      1b
    incl    RATE_PASSES
    movb    $'B', %al
    outb    %al, %dx
    jmp     pass

    .org    RATE_D_OFFSET
rate_delay:
    .long   RATE_D_DEFAULT
    .org    RATE_W_OFFSET
rate_wset_mib:
    .long   RATE_W_DEFAULT

    .org    510
    .byte   0x55, 0xaa
