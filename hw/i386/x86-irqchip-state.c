/*
 * VM-wide interrupt controller, timer and clock state for migration,
 * whatever the accelerator: the two 8259 PICs ("i8259", instances 0 and
 * 1), the IOAPIC ("ioapic"), the 8254 PIT ("i8254") and the guest clock
 * ("kvmclock").
 *
 * Like the vCPU state (x86-cpu-state.c), the devices live in the
 * accelerator: pre_save asks it for a copy (irqchip_get), post_load
 * checks what arrived and hands it over (irqchip_put).  Both run with
 * every vCPU parked and the BQL held; the copies below are protected by
 * the BQL.  The wire format is that of the sections as first defined in
 * accel/kvm/.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "migration/register.h"
#include "migration/vmstate.h"
#include "system/accel-ops.h"
#include "hw/i386/x86-state.h"
#include "trace.h"

static X86PICSaved x86_pic_saved[X86_PIC_NR_CHIPS];
static X86IOAPICSaved x86_ioapic_saved;
static X86PITSaved x86_pit_saved;
static X86ClockSaved x86_clock_saved;
static bool x86_irqchip_registered;

static const char *const x86_irqchip_part_name[] = {
    [X86_IRQCHIP_PIC_MASTER] = "PIC master",
    [X86_IRQCHIP_PIC_SLAVE] = "PIC slave",
    [X86_IRQCHIP_IOAPIC] = "IOAPIC",
    [X86_IRQCHIP_PIT] = "PIT",
    [X86_IRQCHIP_CLOCK] = "clock",
};

static bool x86_irqchip_get(X86IrqchipPart part, void *state, Error **errp)
{
    assert(bql_locked());
    if (!current_accel || !current_accel->irqchip_get) {
        error_setg(errp, "Cannot save the %s: the accelerator %s does not "
                   "support it", x86_irqchip_part_name[part],
                   current_accel ? current_accel->name : "(none)");
        return false;
    }
    trace_x86_irqchip_state_save(x86_irqchip_part_name[part]);
    return current_accel->irqchip_get(part, state, errp);
}

static bool x86_irqchip_put(X86IrqchipPart part, const void *state,
                            Error **errp)
{
    assert(bql_locked());
    if (!current_accel || !current_accel->irqchip_put) {
        error_setg(errp, "Cannot load the %s: the accelerator %s does not "
                   "support it", x86_irqchip_part_name[part],
                   current_accel ? current_accel->name : "(none)");
        return false;
    }
    trace_x86_irqchip_state_load(x86_irqchip_part_name[part]);
    return current_accel->irqchip_put(part, state, errp);
}

/* On save: the accelerator's copy must be one a destination accepts. */
static bool x86_irqchip_saved_ok(X86IrqchipPart part, bool ok, Error **errp)
{
    if (!ok) {
        error_prepend(errp, "the %s accelerator gave an unmigratable %s: ",
                      current_accel->name, x86_irqchip_part_name[part]);
    }
    return ok;
}

/* ---------------------------------------------------------------------
 * PIC
 */

static X86IrqchipPart x86_pic_part(X86PICSaved *s)
{
    return s == &x86_pic_saved[0] ? X86_IRQCHIP_PIC_MASTER
                                  : X86_IRQCHIP_PIC_SLAVE;
}

bool x86_pic_check_state(int chip, const X86PICSaved *s, Error **errp)
{
    /* An 8259 has 4 init states (ICW1 done, then ICW2-4) and 8 levels. */
    if (s->init_state > X86_PIC_MAX_INIT_STATE || s->priority_add > 7 ||
        s->read_reg_select > 1) {
        error_setg(errp, "PIC %d: invalid state (init_state %u, "
                   "priority_add %u, read_reg_select %u)", chip,
                   s->init_state, s->priority_add, s->read_reg_select);
        return false;
    }
    return true;
}

static bool x86_pic_pre_save(void *opaque, Error **errp)
{
    X86PICSaved *s = opaque;
    X86IrqchipPart part = x86_pic_part(s);

    return x86_irqchip_get(part, s, errp) &&
           x86_irqchip_saved_ok(part, x86_pic_check_state(s - x86_pic_saved,
                                                          s, errp), errp);
}

static bool x86_pic_post_load(void *opaque, int version_id, Error **errp)
{
    X86PICSaved *s = opaque;

    return x86_pic_check_state(s - x86_pic_saved, s, errp) &&
           x86_irqchip_put(x86_pic_part(s), s, errp);
}

static const VMStateDescription vmstate_x86_pic = {
    .name = "i8259",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = x86_pic_pre_save,
    .post_load = x86_pic_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT8(last_irr, X86PICSaved),
        VMSTATE_UINT8(irr, X86PICSaved),
        VMSTATE_UINT8(imr, X86PICSaved),
        VMSTATE_UINT8(isr, X86PICSaved),
        VMSTATE_UINT8(priority_add, X86PICSaved),
        VMSTATE_UINT8(irq_base, X86PICSaved),
        VMSTATE_UINT8(read_reg_select, X86PICSaved),
        VMSTATE_UINT8(poll, X86PICSaved),
        VMSTATE_UINT8(special_mask, X86PICSaved),
        VMSTATE_UINT8(init_state, X86PICSaved),
        VMSTATE_UINT8(auto_eoi, X86PICSaved),
        VMSTATE_UINT8(rotate_on_auto_eoi, X86PICSaved),
        VMSTATE_UINT8(special_fully_nested_mode, X86PICSaved),
        VMSTATE_UINT8(init4, X86PICSaved),
        VMSTATE_UINT8(elcr, X86PICSaved),
        VMSTATE_UINT8(elcr_mask, X86PICSaved),
        VMSTATE_END_OF_LIST()
    },
};

/* ---------------------------------------------------------------------
 * IOAPIC
 */

bool x86_ioapic_check_state(const X86IOAPICSaved *s, Error **errp)
{
    /*
     * KVM maps its IOAPIC at creation and loading cannot move it; the
     * software machine has it at the same address.
     */
    if (s->base_address != X86_IOAPIC_BASE) {
        error_setg(errp, "IOAPIC at 0x%" PRIx64 ": only 0x%llx is supported",
                   s->base_address, X86_IOAPIC_BASE);
        return false;
    }
    return true;
}

static bool x86_ioapic_pre_save(void *opaque, Error **errp)
{
    X86IOAPICSaved *s = opaque;

    return x86_irqchip_get(X86_IRQCHIP_IOAPIC, s, errp) &&
           x86_irqchip_saved_ok(X86_IRQCHIP_IOAPIC,
                                x86_ioapic_check_state(s, errp), errp);
}

static bool x86_ioapic_post_load(void *opaque, int version_id, Error **errp)
{
    X86IOAPICSaved *s = opaque;

    return x86_ioapic_check_state(s, errp) &&
           x86_irqchip_put(X86_IRQCHIP_IOAPIC, s, errp);
}

static const VMStateDescription vmstate_x86_ioapic = {
    .name = "ioapic",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = x86_ioapic_pre_save,
    .post_load = x86_ioapic_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(base_address, X86IOAPICSaved),
        VMSTATE_UINT32(ioregsel, X86IOAPICSaved),
        VMSTATE_UINT32(id, X86IOAPICSaved),
        VMSTATE_UINT32(irr, X86IOAPICSaved),
        VMSTATE_UINT64_ARRAY(redirtbl, X86IOAPICSaved, X86_IOAPIC_NUM_PINS),
        VMSTATE_END_OF_LIST()
    },
};

/* ---------------------------------------------------------------------
 * PIT
 */

bool x86_pit_check_state(const X86PITSaved *s, Error **errp)
{
    if (s->flags & ~X86_PIT_FLAGS_ALL) {
        error_setg(errp, "PIT: unknown flags 0x%" PRIx32,
                   s->flags & ~X86_PIT_FLAGS_ALL);
        return false;
    }
    for (int i = 0; i < X86_PIT_NR_CHANNELS; i++) {
        const X86PITChannel *c = &s->ch[i];

        if (c->count > X86_PIT_MAX_COUNT ||
            (c->mode > X86_PIT_MAX_MODE && c->mode != X86_PIT_MODE_UNSET) ||
            c->rw_mode > X86_PIT_MAX_RW_MODE ||
            c->read_state > X86_PIT_MAX_RW_STATE ||
            c->write_state > X86_PIT_MAX_RW_STATE) {
            error_setg(errp, "PIT channel %d: invalid state (count %" PRIu32
                       ", mode %u, rw_mode %u, read_state %u, write_state "
                       "%u)", i, c->count, c->mode, c->rw_mode, c->read_state,
                       c->write_state);
            return false;
        }
    }
    return true;
}

static bool x86_pit_pre_save(void *opaque, Error **errp)
{
    X86PITSaved *s = opaque;

    return x86_irqchip_get(X86_IRQCHIP_PIT, s, errp) &&
           x86_irqchip_saved_ok(X86_IRQCHIP_PIT,
                                x86_pit_check_state(s, errp), errp);
}

static bool x86_pit_post_load(void *opaque, int version_id, Error **errp)
{
    X86PITSaved *s = opaque;

    return x86_pit_check_state(s, errp) &&
           x86_irqchip_put(X86_IRQCHIP_PIT, s, errp);
}

static const VMStateDescription vmstate_x86_pit_channel = {
    .name = "i8254/channel",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(count, X86PITChannel),
        VMSTATE_UINT16(latched_count, X86PITChannel),
        VMSTATE_UINT8(count_latched, X86PITChannel),
        VMSTATE_UINT8(status_latched, X86PITChannel),
        VMSTATE_UINT8(status, X86PITChannel),
        VMSTATE_UINT8(read_state, X86PITChannel),
        VMSTATE_UINT8(write_state, X86PITChannel),
        VMSTATE_UINT8(write_latch, X86PITChannel),
        VMSTATE_UINT8(rw_mode, X86PITChannel),
        VMSTATE_UINT8(mode, X86PITChannel),
        VMSTATE_UINT8(bcd, X86PITChannel),
        VMSTATE_UINT8(gate, X86PITChannel),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_x86_pit = {
    .name = "i8254",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = x86_pit_pre_save,
    .post_load = x86_pit_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_STRUCT_ARRAY(ch, X86PITSaved, X86_PIT_NR_CHANNELS, 1,
                             vmstate_x86_pit_channel, X86PITChannel),
        VMSTATE_UINT32(flags, X86PITSaved),
        VMSTATE_END_OF_LIST()
    },
};

/* ---------------------------------------------------------------------
 * Clock: any 64-bit value is a valid time base.
 */

static bool x86_clock_pre_save(void *opaque, Error **errp)
{
    return x86_irqchip_get(X86_IRQCHIP_CLOCK, opaque, errp);
}

static bool x86_clock_post_load(void *opaque, int version_id, Error **errp)
{
    return x86_irqchip_put(X86_IRQCHIP_CLOCK, opaque, errp);
}

static const VMStateDescription vmstate_x86_clock = {
    .name = "kvmclock",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = x86_clock_pre_save,
    .post_load = x86_clock_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(clock, X86ClockSaved),
        VMSTATE_END_OF_LIST()
    },
};

void x86_irqchip_state_register(bool with_clock)
{
    assert(bql_locked() && !x86_irqchip_registered);
    x86_irqchip_registered = true;
    for (int i = 0; i < X86_PIC_NR_CHIPS; i++) {
        vmstate_register(i, &vmstate_x86_pic, &x86_pic_saved[i]);
    }
    vmstate_register(0, &vmstate_x86_ioapic, &x86_ioapic_saved);
    vmstate_register(0, &vmstate_x86_pit, &x86_pit_saved);
    if (with_clock) {
        vmstate_register(0, &vmstate_x86_clock, &x86_clock_saved);
    }
}
