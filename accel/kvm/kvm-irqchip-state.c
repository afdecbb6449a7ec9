/*
 * VM-wide in-kernel device state for migration: the two 8259 PICs, the
 * IOAPIC, the 8254 PIT and the KVM clock, one section each.
 *
 * Like the vCPU state (kvm-cpu-state.c), the state lives in KVM and is
 * copied out in pre_save and written back in post_load, with every vCPU
 * parked and the BQL held.  The copies below are protected by the BQL.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "migration/register.h"
#include "migration/vmstate.h"
#include "system/kvm.h"
#include "system/kvm-cpu-state.h"
#include "kvm-internal.h"
#include "trace.h"

#define KVM_IOAPIC_BASE     0xfec00000ULL   /* where KVM's IOAPIC sits */
#define KVM_PIC_NR_CHIPS    2               /* KVM_IRQCHIP_PIC_MASTER/SLAVE */
#define KVM_PIT_NR_CHANNELS 3
#define KVM_PIT_MAX_MODE    5
#define KVM_PIT_MODE_UNSET  0xff    /* KVM's value before the first load */
#define KVM_PIT_MAX_RW      4   /* RW_STATE_WORD1, the last state */
#define KVM_PIT_FLAGS \
    (KVM_PIT_FLAGS_HPET_LEGACY | KVM_PIT_FLAGS_SPEAKER_DATA_ON)

static bool kvm_irqchip_check(int ret, const char *what, Error **errp)
{
    if (ret < 0) {
        error_setg_errno(errp, -ret, "%s failed", what);
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------------
 * PIC: the kernel's struct kvm_pic_state, field by field.
 */

static struct kvm_pic_state kvm_pic_saved[KVM_PIC_NR_CHIPS];

static int kvm_pic_chip(void *opaque)
{
    return (struct kvm_pic_state *)opaque - kvm_pic_saved;
}

static bool kvm_pic_pre_save(void *opaque, Error **errp)
{
    struct kvm_irqchip chip = { .chip_id = kvm_pic_chip(opaque) };

    trace_kvm_irqchip_get("PIC");
    if (!kvm_irqchip_check(kvm_vm_ioctl(kvm_state, KVM_GET_IRQCHIP, &chip),
                           "KVM_GET_IRQCHIP (PIC)", errp)) {
        return false;
    }
    *(struct kvm_pic_state *)opaque = chip.chip.pic;
    return true;
}

static bool kvm_pic_post_load(void *opaque, int version_id, Error **errp)
{
    struct kvm_pic_state *s = opaque;
    struct kvm_irqchip chip = { .chip_id = kvm_pic_chip(opaque) };

    /* The kernel's state machine knows 4 init states and 8 priorities. */
    if (s->init_state > 3 || s->priority_add > 7 || s->read_reg_select > 1) {
        error_setg(errp, "PIC %d: invalid state (init_state %u, "
                   "priority_add %u, read_reg_select %u)", chip.chip_id,
                   s->init_state, s->priority_add, s->read_reg_select);
        return false;
    }
    chip.chip.pic = *s;
    trace_kvm_irqchip_put("PIC");
    return kvm_irqchip_check(kvm_vm_ioctl(kvm_state, KVM_SET_IRQCHIP, &chip),
                             "KVM_SET_IRQCHIP (PIC)", errp);
}

static const VMStateDescription vmstate_kvm_pic = {
    .name = "i8259",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = kvm_pic_pre_save,
    .post_load = kvm_pic_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT8(last_irr, struct kvm_pic_state),
        VMSTATE_UINT8(irr, struct kvm_pic_state),
        VMSTATE_UINT8(imr, struct kvm_pic_state),
        VMSTATE_UINT8(isr, struct kvm_pic_state),
        VMSTATE_UINT8(priority_add, struct kvm_pic_state),
        VMSTATE_UINT8(irq_base, struct kvm_pic_state),
        VMSTATE_UINT8(read_reg_select, struct kvm_pic_state),
        VMSTATE_UINT8(poll, struct kvm_pic_state),
        VMSTATE_UINT8(special_mask, struct kvm_pic_state),
        VMSTATE_UINT8(init_state, struct kvm_pic_state),
        VMSTATE_UINT8(auto_eoi, struct kvm_pic_state),
        VMSTATE_UINT8(rotate_on_auto_eoi, struct kvm_pic_state),
        VMSTATE_UINT8(special_fully_nested_mode, struct kvm_pic_state),
        VMSTATE_UINT8(init4, struct kvm_pic_state),
        VMSTATE_UINT8(elcr, struct kvm_pic_state),
        VMSTATE_UINT8(elcr_mask, struct kvm_pic_state),
        VMSTATE_END_OF_LIST()
    },
};

/* ---------------------------------------------------------------------
 * IOAPIC
 */

typedef struct KVMIOAPICSaved {
    uint64_t base_address;
    uint32_t ioregsel, id, irr;
    uint64_t redirtbl[KVM_IOAPIC_NUM_PINS];
} KVMIOAPICSaved;

static KVMIOAPICSaved kvm_ioapic_saved;

static bool kvm_ioapic_pre_save(void *opaque, Error **errp)
{
    KVMIOAPICSaved *s = opaque;
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
    for (int i = 0; i < KVM_IOAPIC_NUM_PINS; i++) {
        s->redirtbl[i] = k->redirtbl[i].bits;
    }
    return true;
}

static bool kvm_ioapic_post_load(void *opaque, int version_id, Error **errp)
{
    KVMIOAPICSaved *s = opaque;
    struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
    struct kvm_ioapic_state *k = &chip.chip.ioapic;

    /* KVM maps its IOAPIC at creation; loading cannot move it. */
    if (s->base_address != KVM_IOAPIC_BASE) {
        error_setg(errp, "IOAPIC at 0x%" PRIx64 ": only 0x%llx is supported",
                   s->base_address, KVM_IOAPIC_BASE);
        return false;
    }
    k->base_address = s->base_address;
    k->ioregsel = s->ioregsel;
    k->id = s->id;
    k->irr = s->irr;
    for (int i = 0; i < KVM_IOAPIC_NUM_PINS; i++) {
        k->redirtbl[i].bits = s->redirtbl[i];
    }
    trace_kvm_irqchip_put("IOAPIC");
    return kvm_irqchip_check(kvm_vm_ioctl(kvm_state, KVM_SET_IRQCHIP, &chip),
                             "KVM_SET_IRQCHIP (IOAPIC)", errp);
}

static const VMStateDescription vmstate_kvm_ioapic = {
    .name = "ioapic",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = kvm_ioapic_pre_save,
    .post_load = kvm_ioapic_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(base_address, KVMIOAPICSaved),
        VMSTATE_UINT32(ioregsel, KVMIOAPICSaved),
        VMSTATE_UINT32(id, KVMIOAPICSaved),
        VMSTATE_UINT32(irr, KVMIOAPICSaved),
        VMSTATE_UINT64_ARRAY(redirtbl, KVMIOAPICSaved, KVM_IOAPIC_NUM_PINS),
        VMSTATE_END_OF_LIST()
    },
};

/* ---------------------------------------------------------------------
 * PIT.  count_load_time (host monotonic time of the last count load) is
 * not sent: KVM_SET_PIT2 reloads every channel's count and sets it to
 * "now" itself, so a value from another host (or process) is moot.
 */

typedef struct KVMPITChannel {
    uint32_t count;
    uint16_t latched_count;
    uint8_t count_latched, status_latched, status, read_state, write_state;
    uint8_t write_latch, rw_mode, mode, bcd, gate;
} KVMPITChannel;

typedef struct KVMPITSaved {
    KVMPITChannel ch[KVM_PIT_NR_CHANNELS];
    uint32_t flags;
} KVMPITSaved;

static KVMPITSaved kvm_pit_saved;

static bool kvm_pit_pre_save(void *opaque, Error **errp)
{
    KVMPITSaved *s = opaque;
    struct kvm_pit_state2 k;

    trace_kvm_irqchip_get("PIT");
    if (!kvm_irqchip_check(kvm_vm_ioctl(kvm_state, KVM_GET_PIT2, &k),
                           "KVM_GET_PIT2", errp)) {
        return false;
    }
    for (int i = 0; i < KVM_PIT_NR_CHANNELS; i++) {
        const struct kvm_pit_channel_state *c = &k.channels[i];

        s->ch[i] = (KVMPITChannel) {
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

static bool kvm_pit_check(const KVMPITSaved *s, Error **errp)
{
    if (s->flags & ~KVM_PIT_FLAGS) {
        error_setg(errp, "PIT: unknown flags 0x%" PRIx32,
                   s->flags & ~KVM_PIT_FLAGS);
        return false;
    }
    for (int i = 0; i < KVM_PIT_NR_CHANNELS; i++) {
        const KVMPITChannel *c = &s->ch[i];

        if (c->count > 0x10000 ||
            (c->mode > KVM_PIT_MAX_MODE && c->mode != KVM_PIT_MODE_UNSET) ||
            c->rw_mode > 3 || c->read_state > KVM_PIT_MAX_RW ||
            c->write_state > KVM_PIT_MAX_RW) {
            error_setg(errp, "PIT channel %d: invalid state (count %" PRIu32
                       ", mode %u, rw_mode %u, read_state %u, write_state "
                       "%u)", i, c->count, c->mode, c->rw_mode, c->read_state,
                       c->write_state);
            return false;
        }
    }
    return true;
}

static bool kvm_pit_post_load(void *opaque, int version_id, Error **errp)
{
    KVMPITSaved *s = opaque;
    struct kvm_pit_state2 k;

    if (!kvm_pit_check(s, errp)) {
        return false;
    }
    memset(&k, 0, sizeof(k));
    for (int i = 0; i < KVM_PIT_NR_CHANNELS; i++) {
        const KVMPITChannel *c = &s->ch[i];

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

static const VMStateDescription vmstate_kvm_pit_channel = {
    .name = "i8254/channel",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(count, KVMPITChannel),
        VMSTATE_UINT16(latched_count, KVMPITChannel),
        VMSTATE_UINT8(count_latched, KVMPITChannel),
        VMSTATE_UINT8(status_latched, KVMPITChannel),
        VMSTATE_UINT8(status, KVMPITChannel),
        VMSTATE_UINT8(read_state, KVMPITChannel),
        VMSTATE_UINT8(write_state, KVMPITChannel),
        VMSTATE_UINT8(write_latch, KVMPITChannel),
        VMSTATE_UINT8(rw_mode, KVMPITChannel),
        VMSTATE_UINT8(mode, KVMPITChannel),
        VMSTATE_UINT8(bcd, KVMPITChannel),
        VMSTATE_UINT8(gate, KVMPITChannel),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_kvm_pit = {
    .name = "i8254",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = kvm_pit_pre_save,
    .post_load = kvm_pit_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_STRUCT_ARRAY(ch, KVMPITSaved, KVM_PIT_NR_CHANNELS, 1,
                             vmstate_kvm_pit_channel, KVMPITChannel),
        VMSTATE_UINT32(flags, KVMPITSaved),
        VMSTATE_END_OF_LIST()
    },
};

/* ---------------------------------------------------------------------
 * KVM clock: the guest's kvmclock time base.  Saved with the VM stopped,
 * restored when the destination loads, so the guest sees (almost) no
 * time pass while it was not running.
 */

typedef struct KVMClockSaved {
    uint64_t clock;
} KVMClockSaved;

static KVMClockSaved kvm_clock_saved;

static bool kvm_clock_pre_save(void *opaque, Error **errp)
{
    KVMClockSaved *s = opaque;
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

static bool kvm_clock_post_load(void *opaque, int version_id, Error **errp)
{
    KVMClockSaved *s = opaque;
    struct kvm_clock_data data;

    memset(&data, 0, sizeof(data));
    data.clock = s->clock;
    trace_kvm_clock_put(s->clock);
    return kvm_irqchip_check(kvm_vm_ioctl(kvm_state, KVM_SET_CLOCK, &data),
                             "KVM_SET_CLOCK", errp);
}

static const VMStateDescription vmstate_kvm_clock = {
    .name = "kvmclock",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = kvm_clock_pre_save,
    .post_load = kvm_clock_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(clock, KVMClockSaved),
        VMSTATE_END_OF_LIST()
    },
};

void kvm_irqchip_state_register(void)
{
    assert(bql_locked());
    for (int i = 0; i < KVM_PIC_NR_CHIPS; i++) {
        vmstate_register(i, &vmstate_kvm_pic, &kvm_pic_saved[i]);
    }
    vmstate_register(0, &vmstate_kvm_ioapic, &kvm_ioapic_saved);
    vmstate_register(0, &vmstate_kvm_pit, &kvm_pit_saved);
    if (kvm_check_extension(kvm_state, KVM_CAP_ADJUST_CLOCK)) {
        vmstate_register(0, &vmstate_kvm_clock, &kvm_clock_saved);
    }
}
