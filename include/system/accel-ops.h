/*
 * The accelerator interface: what the machine, the vCPU code and the state
 * sections need from whatever runs guest code (accel/kvm/ with /dev/kvm,
 * accel/tcg/ on a software CPU).  Nothing outside accel/ calls an
 * accelerator directly; it goes through current_accel.
 *
 * -accel qtest has no accelerator: current_accel is NULL, no vCPU exists
 * and dirty tracking sees only the VMM's own writes (system/dirty-log.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef SYSTEM_ACCEL_OPS_H
#define SYSTEM_ACCEL_OPS_H

#include "qapi/error.h"
#include "hw/core/cpu.h"
#include "system/ramblock.h"

typedef struct MachineState MachineState;
typedef struct DirtyLogOps DirtyLogOps;
typedef struct X86CPUSaved X86CPUSaved;

/* The VM-wide interrupt controller and timer state sections. */
typedef enum X86IrqchipPart {
    X86_IRQCHIP_PIC_MASTER,     /* struct kvm_pic_state */
    X86_IRQCHIP_PIC_SLAVE,      /* struct kvm_pic_state */
    X86_IRQCHIP_IOAPIC,         /* X86IOAPICSaved */
    X86_IRQCHIP_PIT,            /* X86PITSaved */
    X86_IRQCHIP_CLOCK,          /* X86ClockSaved */
} X86IrqchipPart;

/*
 * One accelerator.  Which thread and lock each hook runs under is given
 * with it; "parked" means every vCPU thread is out of guest code and
 * waits for resume_all_vcpus().
 */
typedef struct AccelOps {
    const char *name;           /* "kvm", "tcg": -accel and query-kvm */

    /* main(), main thread, BQL: create the VM and its platform devices. */
    bool (*init)(MachineState *ms, Error **errp);
    /* machine creation, BQL: make a guest-physical RAM section visible. */
    bool (*set_user_memory)(GuestMemSection *section, Error **errp);
    /* machine creation, BQL: create vCPU @index (its thread not started). */
    CPUState *(*create_vcpu)(int index, Error **errp);
    /* machine creation, BQL: boot vCPU state, real mode at CS:IP = 0:@ip. */
    bool (*cpu_reset_realmode)(CPUState *cpu, uint16_t ip, Error **errp);
    /* machine creation, BQL: start the vCPU threads, each parked. */
    void (*start_vcpus)(void);
    /* any thread, any lock: make @cpu leave guest code soon. */
    void (*kick)(CPUState *cpu);
    /* BQL: drive ISA interrupt line @irq to @level. */
    void (*set_irq)(int irq, int level);

    /*
     * Migration (source: migration thread; destination: incoming thread),
     * BQL, @cpu parked: copy @cpu's architectural state into @st, or
     * write @st (already checked for sanity) into @cpu.  Both accelerators
     * read and write the same X86CPUSaved, which is what makes one stream
     * serve both (hw/i386/x86-cpu-state.c).
     */
    bool (*cpu_get_state)(CPUState *cpu, X86CPUSaved *st, Error **errp);
    bool (*cpu_put_state)(CPUState *cpu, const X86CPUSaved *st,
                          Error **errp);
    /* Same threads and lock, every vCPU parked: the irqchip/PIT/clock. */
    bool (*irqchip_get)(X86IrqchipPart part, void *state, Error **errp);
    bool (*irqchip_put)(X86IrqchipPart part, const void *state,
                        Error **errp);

    /* Dirty page tracking for migration (include/system/dirty-log.h). */
    const DirtyLogOps *dirty_log;
} AccelOps;

/* Set once by accel_init() before the machine is built; NULL for qtest. */
extern const AccelOps *current_accel;

extern const AccelOps kvm_accel_ops;
extern const AccelOps tcg_accel_ops;

/* Is @ops the running accelerator? */
static inline bool accel_is(const AccelOps *ops)
{
    return current_accel == ops;
}

/* main(), BQL: make @ops the accelerator and initialise it. */
bool accel_init(const AccelOps *ops, MachineState *ms, Error **errp);

#endif
