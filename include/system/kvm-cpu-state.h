/*
 * Migratable KVM state: each vCPU's architectural state and the VM-wide
 * in-kernel devices (PIC, IOAPIC, PIT, kvmclock).
 *
 * The state lives in the kernel.  Saving copies it out with the KVM_GET_*
 * ioctls into userspace structures that VMState descriptions cover;
 * loading checks what arrived and writes it back with KVM_SET_*.  Both
 * run with every vCPU parked (the VM stopped on the source, not yet
 * started on the destination) and the BQL held; the ioctls are issued
 * from the calling thread, which KVM allows for a vCPU that is not
 * inside KVM_RUN.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef SYSTEM_KVM_CPU_STATE_H
#define SYSTEM_KVM_CPU_STATE_H

#include "qapi/error.h"
#include "hw/core/cpu.h"

/*
 * Machine creation, BQL held: register @cpu's state as section "cpu"
 * with instance id cpu_index.  Saving reads it from KVM (pre_save);
 * loading writes it into KVM (post_load).
 */
void kvm_cpu_state_register(CPUState *cpu);

/*
 * BQL held, @cpu parked: read every piece of @cpu's state from KVM into
 * its saved-state buffer (registers, sregs, XSAVE, XCRs, MSRs, LAPIC, MP
 * state, events, debug registers).
 */
bool kvm_cpu_get_state(CPUState *cpu, Error **errp);

/*
 * BQL held, @cpu parked: write the saved-state buffer back into KVM, in
 * the order KVM needs (see kvm-cpu-state.c).
 */
bool kvm_cpu_put_state(CPUState *cpu, Error **errp);

/*
 * kvm_init(), BQL held: register the in-kernel PIC ("i8259", instances 0
 * and 1), IOAPIC ("ioapic"), PIT ("i8254") and clock ("kvmclock").
 */
void kvm_irqchip_state_register(void);

#endif
