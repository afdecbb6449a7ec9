/*
 * Real-mode guest for cpu-state-check: counts in EBX and ESI, reports
 * each count with OUT to port 0x500 and reads back count + 1 with IN; a
 * wrong IN result is reported on 0x501, ESI != EBX on 0x502.  (SSE is
 * left out: this host's nested KVM cannot emulate it in real mode.)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
    .code16
    .globl _start
_start:
    cli
    xorw    %ax, %ax
    movw    %ax, %ds
    movw    %ax, %ss
    movw    $0x7000, %sp
    xorl    %ebx, %ebx
    xorl    %esi, %esi
    movw    $0x500, %dx
loop:
    incl    %ebx
    incl    %esi
    movl    %ebx, %eax
    outl    %eax, %dx
    inl     %dx, %eax
    decl    %eax
    cmpl    %ebx, %eax
    jne     fail_in
    movl    %esi, %ecx
    cmpl    %ebx, %ecx
    jne     fail_xmm
    movl    %ebx, 0x600
    jmp     loop
fail_in:
    movw    $0x501, %dx
    outl    %eax, %dx
    jmp     stop
fail_xmm:
    movl    %ecx, %eax
    movw    $0x502, %dx
    outl    %eax, %dx
stop:
    hlt
    jmp     stop
