/*
 * smp: bring up the application processors and check they run.
 *
 * The boot processor enters protected mode, software-enables its local
 * APIC, and sends INIT then two STARTUP IPIs to all other CPUs (ICR
 * destination shorthand "all excluding self") through the xAPIC MMIO page
 * at 0xfee00000.  The STARTUP vector points the APs at a copy of
 * ap_trampoline placed at 0x8000 (vector 0x08; the boot sector itself is
 * not page aligned).  Each AP writes 'A' to COM1, then atomically bumps a
 * counter at 0x9000 and halts.  The BSP waits for the counter to become
 * non-zero and then writes 'S', so "A" before "S" on the serial line means
 * an AP really ran.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

    .equ    APIC_BASE, 0xfee00000
    .equ    APIC_SVR, APIC_BASE + 0xf0
    .equ    APIC_ICR_LO, APIC_BASE + 0x300
    .equ    APIC_ICR_HI, APIC_BASE + 0x310
    .equ    ICR_INIT_OTHERS, 0x000c4500     /* INIT, assert, all-but-self */
    .equ    ICR_SIPI_OTHERS, 0x000c4600     /* STARTUP, all-but-self */
    .equ    ICR_BUSY, 0x1000
    .equ    TRAMPOLINE, 0x8000
    .equ    AP_COUNT, 0x9000

    .include "pmode.inc"

pm_start:
    movl    $0, AP_COUNT

    /* Copy the AP entry code to its page-aligned home. */
    movl    $ap_trampoline, %esi
    movl    $TRAMPOLINE, %edi
    movl    $(ap_trampoline_end - ap_trampoline), %ecx
    rep movsb

    orl     $0x100, APIC_SVR        /* APIC software enable */
    movl    $0, APIC_ICR_HI
    movl    $ICR_INIT_OTHERS, %eax
    call    send_ipi
    call    delay
    movl    $(ICR_SIPI_OTHERS | (TRAMPOLINE >> 12)), %eax
    call    send_ipi
    call    delay
    movl    $(ICR_SIPI_OTHERS | (TRAMPOLINE >> 12)), %eax
    call    send_ipi

1:
    pause
    cmpl    $0, AP_COUNT
    je      1b

    movw    $COM1, %dx
    movb    $'S', %al
    outb    %al, %dx
2:
    cli
    hlt
    jmp     2b

/* Write the ICR (%eax) and wait for the delivery status to clear. */
send_ipi:
    movl    %eax, APIC_ICR_LO
1:
    testl   $ICR_BUSY, APIC_ICR_LO
    jnz     1b
    ret

/* The INIT/SIPI spacing real hardware wants; harmless under KVM. */
delay:
    movl    $0x100000, %ecx
1:
    pause
    loop    1b
    ret

/*
 * AP entry, copied to 0x8000: real mode, CS=0x0800, IP=0.  Only
 * position-independent code and absolute data addresses (DS=0) here.
 */
    .code16
ap_trampoline:
    cli
    xorw    %ax, %ax
    movw    %ax, %ds
    movw    $COM1, %dx
    movb    $'A', %al
    outb    %al, %dx
    lock incl AP_COUNT
1:
    hlt
    jmp     1b
ap_trampoline_end:

    .org    510
    .byte   0x55, 0xaa
