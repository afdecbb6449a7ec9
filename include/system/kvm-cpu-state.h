/*
 * KVM's side of the migratable x86 state: copying each vCPU's
 * architectural state and the VM-wide in-kernel devices (PIC, IOAPIC,
 * PIT, kvmclock) between the kernel and the accelerator-neutral
 * structures of hw/i386/x86-state.h.  These are KVM's AccelOps hooks
 * (cpu_get_state, cpu_put_state, irqchip_get, irqchip_put); the sections
 * themselves are hw/i386/x86-cpu-state.c and x86-irqchip-state.c.
 *
 * All run with every vCPU parked (the VM stopped on the source, not yet
 * started on the destination) and the BQL held; the ioctls are issued
 * from the calling thread, which KVM allows for a vCPU that is not
 * inside KVM_RUN.  Each returns false with @errp set when an ioctl fails
 * (or, for a put, when this host cannot take the state).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef SYSTEM_KVM_CPU_STATE_H
#define SYSTEM_KVM_CPU_STATE_H

#include "qapi/error.h"
#include "hw/core/cpu.h"
#include "hw/i386/x86-state.h"
#include "system/accel-ops.h"

/*
 * BQL held, @cpu parked: read every piece of @cpu's state from KVM into
 * @st (registers, sregs, XSAVE, XCRs, MSRs, LAPIC, MP state, events,
 * debug registers).  A vCPU stopped right after an I/O exit first
 * completes that instruction (see kvm-cpu-state.c).  @st->cpu and
 * @st->loaded are left alone.
 */
bool kvm_cpu_get_state(CPUState *cpu, X86CPUSaved *st, Error **errp);

/*
 * BQL held, @cpu parked: write @st, already checked by
 * x86_cpu_check_state(), into KVM in the order KVM needs (see
 * kvm-cpu-state.c).  Fails if this host's XSAVE area is smaller than
 * @st's.
 */
bool kvm_cpu_put_state(CPUState *cpu, const X86CPUSaved *st, Error **errp);

/*
 * BQL held, every vCPU parked: copy in-kernel device @part into or out
 * of @state, whose type X86IrqchipPart gives.  The put expects @state
 * already checked (x86_pic_check_state() and the like).
 */
bool kvm_irqchip_get(X86IrqchipPart part, void *state, Error **errp);
bool kvm_irqchip_put(X86IrqchipPart part, const void *state, Error **errp);

/*
 * After kvm_init(): can KVM save and restore its clock (KVM_GET/SET_CLOCK,
 * KVM_CAP_ADJUST_CLOCK)?  The machine registers the "kvmclock" section
 * only then (x86_irqchip_state_register(with_clock)).  False without KVM.
 */
bool kvm_has_adjust_clock(void);

#endif
