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
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "hw/i386/x86-state.h"
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

/* The state the sections carry (BQL), set to KVM's reset values. */
static X86PICSaved tcg_pic[X86_PIC_NR_CHIPS];
static X86IOAPICSaved tcg_ioapic;
static X86PITSaved tcg_pit;
static bool tcg_irqchip_ready;

static void tcg_irqchip_reset(void)
{
    memset(tcg_pic, 0, sizeof(tcg_pic));
    tcg_pic[0].elcr_mask = 0xf8;    /* IRQs 0-2 are edge only */
    tcg_pic[1].elcr_mask = 0xde;    /* IRQs 8 and 13 are edge only */
    memset(&tcg_ioapic, 0, sizeof(tcg_ioapic));
    tcg_ioapic.base_address = X86_IOAPIC_BASE;
    for (int i = 0; i < X86_IOAPIC_NUM_PINS; i++) {
        tcg_ioapic.redirtbl[i] = 1u << 16;      /* masked */
    }
    memset(&tcg_pit, 0, sizeof(tcg_pit));
    for (int i = 0; i < X86_PIT_NR_CHANNELS; i++) {
        tcg_pit.ch[i].count = X86_PIT_MAX_COUNT;
        tcg_pit.ch[i].mode = X86_PIT_MODE_UNSET;
        tcg_pit.ch[i].gate = i != 2;
    }
    tcg_irqchip_ready = true;
}

static void *tcg_irqchip_part(X86IrqchipPart part, size_t *size)
{
    if (!tcg_irqchip_ready) {
        tcg_irqchip_reset();
    }
    switch (part) {
    case X86_IRQCHIP_PIC_MASTER:
    case X86_IRQCHIP_PIC_SLAVE:
        *size = sizeof(X86PICSaved);
        return &tcg_pic[part == X86_IRQCHIP_PIC_SLAVE];
    case X86_IRQCHIP_IOAPIC:
        *size = sizeof(tcg_ioapic);
        return &tcg_ioapic;
    case X86_IRQCHIP_PIT:
        *size = sizeof(tcg_pit);
        return &tcg_pit;
    case X86_IRQCHIP_CLOCK:
        break;
    }
    *size = 0;
    return NULL;
}

bool tcg_irqchip_get(X86IrqchipPart part, void *state, Error **errp)
{
    size_t size;
    void *p = tcg_irqchip_part(part, &size);

    assert(bql_locked());
    if (part == X86_IRQCHIP_CLOCK) {
        /* No paravirtual clock here: the host's monotonic time, in ns. */
        ((X86ClockSaved *)state)->clock = g_get_monotonic_time() * 1000;
        return true;
    }
    memcpy(state, p, size);
    if (part == X86_IRQCHIP_PIC_MASTER || part == X86_IRQCHIP_PIC_SLAVE) {
        unsigned shift = part == X86_IRQCHIP_PIC_SLAVE ? 8 : 0;

        ((X86PICSaved *)state)->irr |= (tcg_irq_levels >> shift) & 0xff;
    }
    return true;
}

bool tcg_irqchip_put(X86IrqchipPart part, const void *state, Error **errp)
{
    size_t size;
    void *p = tcg_irqchip_part(part, &size);

    assert(bql_locked());
    if (p) {
        memcpy(p, state, size);     /* already checked by the section */
    }
    return true;
}
