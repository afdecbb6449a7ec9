/*
 * The VM-wide interrupt controllers and timer of the software
 * accelerator: state only, in the layout of the sections KVM's in-kernel
 * devices fill (hw/i386/x86-irqchip-state.c), so that a guest migrates
 * between kvm and tcg with its PIC, IOAPIC and PIT programming intact.
 *
 * qmig's guests enable no interrupt and no timer, so nothing here
 * delivers interrupts or counts time: the state a guest programs (through
 * ports that KVM would decode in the kernel) is not decoded either; what
 * the sections carry is the reset state, plus the ISA line levels
 * (docs/devel/migration/tcg.md lists this as a limit).
 *
 * Protected by the BQL.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/main-loop.h"
#include "tcg-internal.h"
#include "trace.h"

/* ISA IRQ line levels, 0-15 (BQL). */
static uint16_t tcg_irq_levels;

void tcg_irqchip_set_irq(int irq, int level)
{
    assert(bql_locked());
    if (irq < 0 || irq > 15) {
        return;
    }
    if (level) {
        tcg_irq_levels |= 1u << irq;
    } else {
        tcg_irq_levels &= ~(1u << irq);
    }
    trace_tcg_set_irq(irq, level);
}
