/*
 * VM-wide in-kernel device state for migration, KVM's side: the two 8259
 * PICs, the IOAPIC, the 8254 PIT and the KVM clock, copied between KVM
 * and the accelerator-neutral structures of hw/i386/x86-state.h.  The
 * sections and the checks of loaded values are in
 * hw/i386/x86-irqchip-state.c, which calls kvm_irqchip_get() and
 * kvm_irqchip_put() through current_accel.
 *
 * Both run with every vCPU parked and the BQL held (see
 * include/system/accel-ops.h); they keep no state of their own.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "hw/i386/x86-state.h"
#include "system/accel-ops.h"
#include "system/kvm.h"
#include "system/kvm-cpu-state.h"
#include "kvm-internal.h"
#include "trace.h"

/* The shared definitions follow the kernel's. */
G_STATIC_ASSERT(X86_IOAPIC_NUM_PINS == KVM_IOAPIC_NUM_PINS);
G_STATIC_ASSERT(X86_PIC_NR_CHIPS == KVM_IRQCHIP_PIC_SLAVE + 1);
G_STATIC_ASSERT(X86_PIT_FLAGS_HPET_LEGACY == KVM_PIT_FLAGS_HPET_LEGACY);
G_STATIC_ASSERT(X86_PIT_FLAGS_SPEAKER_DATA_ON ==
                KVM_PIT_FLAGS_SPEAKER_DATA_ON);
G_STATIC_ASSERT(X86_PIT_FLAGS_ALL ==
                (KVM_PIT_FLAGS_HPET_LEGACY | KVM_PIT_FLAGS_SPEAKER_DATA_ON));
G_STATIC_ASSERT(sizeof(((struct kvm_pit_state2 *)0)->channels) /
                sizeof(struct kvm_pit_channel_state) == X86_PIT_NR_CHANNELS);

static bool kvm_irqchip_check(int ret, const char *what, Error **errp)
{
    if (ret < 0) {
        error_setg_errno(errp, -ret, "%s failed", what);
        return false;
    }
    return true;
}

bool kvm_has_adjust_clock(void)
{
    return kvm_state &&
           kvm_check_extension(kvm_state, KVM_CAP_ADJUST_CLOCK) > 0;
}

/* ---------------------------------------------------------------------
 * PIC: X86PICSaved is the kernel's struct kvm_pic_state.
 */

static bool kvm_pic_get(int chip_id, X86PICSaved *s, Error **errp)
{
    struct kvm_irqchip chip = { .chip_id = chip_id };

    trace_kvm_irqchip_get("PIC");
    if (!kvm_irqchip_check(kvm_vm_ioctl(kvm_state, KVM_GET_IRQCHIP, &chip),
                           "KVM_GET_IRQCHIP (PIC)", errp)) {
        return false;
    }
    *s = chip.chip.pic;
    return true;
}

static bool kvm_pic_put(int chip_id, const X86PICSaved *s, Error **errp)
{
    struct kvm_irqchip chip = { .chip_id = chip_id };

    chip.chip.pic = *s;
    trace_kvm_irqchip_put("PIC");
    return kvm_irqchip_check(kvm_vm_ioctl(kvm_state, KVM_SET_IRQCHIP, &chip),
                             "KVM_SET_IRQCHIP (PIC)", errp);
}

/* ---------------------------------------------------------------------
 * IOAPIC
 */

static bool kvm_ioapic_get(X86IOAPICSaved *s, Error **errp)
{
    struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
    struct kvm_ioapic_state *k = &chip.chip.ioapic;

    trace_kvm_irqchip_get("IOAPIC");
    if (!kvm_irqchip_check(kvm_vm_ioctl(kvm_state, KVM_GET_IRQCHIP, &chip),
                           "KVM_GET_IRQCHIP (IOAPIC)", errp)) {
        return false;
    }
    s->base_address = k->base_address;
    s->ioregsel = k->ioregsel;
    s->id = k->id;
    s->irr = k->irr;
    for (int i = 0; i < X86_IOAPIC_NUM_PINS; i++) {
        s->redirtbl[i] = k->redirtbl[i].bits;
    }
    return true;
}

static bool kvm_ioapic_put(const X86IOAPICSaved *s, Error **errp)
{
    struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
    struct kvm_ioapic_state *k = &chip.chip.ioapic;

    k->base_address = s->base_address;
    k->ioregsel = s->ioregsel;
    k->id = s->id;
    k->irr = s->irr;
    for (int i = 0; i < X86_IOAPIC_NUM_PINS; i++) {
        k->redirtbl[i].bits = s->redirtbl[i];
    }
    trace_kvm_irqchip_put("IOAPIC");
    return kvm_irqchip_check(kvm_vm_ioctl(kvm_state, KVM_SET_IRQCHIP, &chip),
                             "KVM_SET_IRQCHIP (IOAPIC)", errp);
}

/* ---------------------------------------------------------------------
 * PIT.  count_load_time is not kept: KVM_SET_PIT2 reloads every
 * channel's count and sets it to "now" itself.
 */

static bool kvm_pit_get(X86PITSaved *s, Error **errp)
{
    struct kvm_pit_state2 k;

    trace_kvm_irqchip_get("PIT");
    if (!kvm_irqchip_check(kvm_vm_ioctl(kvm_state, KVM_GET_PIT2, &k),
                           "KVM_GET_PIT2", errp)) {
        return false;
    }
    for (int i = 0; i < X86_PIT_NR_CHANNELS; i++) {
        const struct kvm_pit_channel_state *c = &k.channels[i];

        s->ch[i] = (X86PITChannel) {
            .count = c->count, .latched_count = c->latched_count,
            .count_latched = c->count_latched,
            .status_latched = c->status_latched, .status = c->status,
            .read_state = c->read_state, .write_state = c->write_state,
            .write_latch = c->write_latch, .rw_mode = c->rw_mode,
            .mode = c->mode, .bcd = c->bcd, .gate = c->gate,
        };
    }
    s->flags = k.flags;
    return true;
}

static bool kvm_pit_put(const X86PITSaved *s, Error **errp)
{
    struct kvm_pit_state2 k;

    memset(&k, 0, sizeof(k));
    for (int i = 0; i < X86_PIT_NR_CHANNELS; i++) {
        const X86PITChannel *c = &s->ch[i];

        k.channels[i] = (struct kvm_pit_channel_state) {
            .count = c->count, .latched_count = c->latched_count,
            .count_latched = c->count_latched,
            .status_latched = c->status_latched, .status = c->status,
            .read_state = c->read_state, .write_state = c->write_state,
            .write_latch = c->write_latch, .rw_mode = c->rw_mode,
            .mode = c->mode, .bcd = c->bcd, .gate = c->gate,
        };
    }
    k.flags = s->flags;
    trace_kvm_irqchip_put("PIT");
    return kvm_irqchip_check(kvm_vm_ioctl(kvm_state, KVM_SET_PIT2, &k),
                             "KVM_SET_PIT2", errp);
}

/* ---------------------------------------------------------------------
 * KVM clock
 */

static bool kvm_clock_get(X86ClockSaved *s, Error **errp)
{
    struct kvm_clock_data data;

    memset(&data, 0, sizeof(data));
    if (!kvm_irqchip_check(kvm_vm_ioctl(kvm_state, KVM_GET_CLOCK, &data),
                           "KVM_GET_CLOCK", errp)) {
        return false;
    }
    s->clock = data.clock;
    trace_kvm_clock_get(s->clock, data.flags);
    return true;
}

static bool kvm_clock_put(const X86ClockSaved *s, Error **errp)
{
    struct kvm_clock_data data;

    memset(&data, 0, sizeof(data));
    data.clock = s->clock;
    trace_kvm_clock_put(s->clock);
    return kvm_irqchip_check(kvm_vm_ioctl(kvm_state, KVM_SET_CLOCK, &data),
                             "KVM_SET_CLOCK", errp);
}

/* ---------------------------------------------------------------------
 * The AccelOps hooks
 */

bool kvm_irqchip_get(X86IrqchipPart part, void *state, Error **errp)
{
    switch (part) {
    case X86_IRQCHIP_PIC_MASTER:
        return kvm_pic_get(KVM_IRQCHIP_PIC_MASTER, state, errp);
    case X86_IRQCHIP_PIC_SLAVE:
        return kvm_pic_get(KVM_IRQCHIP_PIC_SLAVE, state, errp);
    case X86_IRQCHIP_IOAPIC:
        return kvm_ioapic_get(state, errp);
    case X86_IRQCHIP_PIT:
        return kvm_pit_get(state, errp);
    case X86_IRQCHIP_CLOCK:
        return kvm_clock_get(state, errp);
    }
    g_assert_not_reached();
}

bool kvm_irqchip_put(X86IrqchipPart part, const void *state, Error **errp)
{
    switch (part) {
    case X86_IRQCHIP_PIC_MASTER:
        return kvm_pic_put(KVM_IRQCHIP_PIC_MASTER, state, errp);
    case X86_IRQCHIP_PIC_SLAVE:
        return kvm_pic_put(KVM_IRQCHIP_PIC_SLAVE, state, errp);
    case X86_IRQCHIP_IOAPIC:
        return kvm_ioapic_put(state, errp);
    case X86_IRQCHIP_PIT:
        return kvm_pit_put(state, errp);
    case X86_IRQCHIP_CLOCK:
        return kvm_clock_put(state, errp);
    }
    g_assert_not_reached();
}
