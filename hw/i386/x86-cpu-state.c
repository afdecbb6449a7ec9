/*
 * vCPU state for migration, whatever the accelerator: section "cpu"
 * (instance id = cpu_index) over an X86CPUSaved per vCPU.
 *
 * Saving asks the accelerator for the state (cpu_get_state in pre_save)
 * and sends the copy; loading receives the copy, refuses what no
 * accelerator could take, and hands it over (cpu_put_state in
 * post_load).  Because KVM and the software CPU fill and accept the same
 * X86CPUSaved, one stream serves kvm->kvm, kvm->tcg, tcg->kvm and
 * tcg->tcg.  The wire format is that of the section as first defined in
 * accel/kvm/: changing a field here changes the stream.
 *
 * When it runs: the source saves with the VM stopped from the migration
 * thread, the destination loads from the incoming thread with its vCPUs
 * parked, both with the BQL held.  The copies are protected by the BQL.
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

const uint32_t x86_cpu_msr_list[] = {
    X86_MSR_IA32_SYSENTER_CS, X86_MSR_IA32_SYSENTER_ESP,
    X86_MSR_IA32_SYSENTER_EIP,
    X86_MSR_STAR, X86_MSR_LSTAR, X86_MSR_CSTAR, X86_MSR_SYSCALL_MASK,
    X86_MSR_KERNEL_GS_BASE, X86_MSR_TSC_AUX,
    X86_MSR_IA32_TSC, X86_MSR_IA32_TSC_ADJUST, X86_MSR_IA32_TSC_DEADLINE,
    X86_MSR_IA32_MISC_ENABLE, X86_MSR_IA32_CR_PAT,
    X86_MSR_IA32_FEATURE_CONTROL, X86_MSR_IA32_SPEC_CTRL, X86_MSR_IA32_XSS,
    X86_MSR_MTRR_DEF_TYPE,
    X86_MSR_MTRR_FIX64K_00000, X86_MSR_MTRR_FIX16K_80000,
    X86_MSR_MTRR_FIX16K_A0000,
    X86_MSR_MTRR_FIX4K_C0000 + 0, X86_MSR_MTRR_FIX4K_C0000 + 1,
    X86_MSR_MTRR_FIX4K_C0000 + 2, X86_MSR_MTRR_FIX4K_C0000 + 3,
    X86_MSR_MTRR_FIX4K_C0000 + 4, X86_MSR_MTRR_FIX4K_C0000 + 5,
    X86_MSR_MTRR_FIX4K_C0000 + 6, X86_MSR_MTRR_FIX4K_C0000 + 7,
    X86_MSR_MTRR_PHYS_BASE0 + 0, X86_MSR_MTRR_PHYS_BASE0 + 1,
    X86_MSR_MTRR_PHYS_BASE0 + 2, X86_MSR_MTRR_PHYS_BASE0 + 3,
    X86_MSR_MTRR_PHYS_BASE0 + 4, X86_MSR_MTRR_PHYS_BASE0 + 5,
    X86_MSR_MTRR_PHYS_BASE0 + 6, X86_MSR_MTRR_PHYS_BASE0 + 7,
    X86_MSR_MTRR_PHYS_BASE0 + 8, X86_MSR_MTRR_PHYS_BASE0 + 9,
    X86_MSR_MTRR_PHYS_BASE0 + 10, X86_MSR_MTRR_PHYS_BASE0 + 11,
    X86_MSR_MTRR_PHYS_BASE0 + 12, X86_MSR_MTRR_PHYS_BASE0 + 13,
    X86_MSR_MTRR_PHYS_BASE0 + 14, X86_MSR_MTRR_PHYS_BASE0 + 15,
    X86_MSR_KVM_WALL_CLOCK, X86_MSR_KVM_SYSTEM_TIME,
    X86_MSR_KVM_WALL_CLOCK_NEW, X86_MSR_KVM_SYSTEM_TIME_NEW,
    X86_MSR_KVM_ASYNC_PF_EN, X86_MSR_KVM_STEAL_TIME, X86_MSR_KVM_PV_EOI_EN,
};

const size_t x86_cpu_msr_list_len = G_N_ELEMENTS(x86_cpu_msr_list);

/* A source saves each listed MSR at most once: the list must fit. */
G_STATIC_ASSERT(G_N_ELEMENTS(x86_cpu_msr_list) <= X86_CPU_MAX_MSRS);

bool x86_cpu_msr_migratable(uint32_t index)
{
    for (size_t i = 0; i < G_N_ELEMENTS(x86_cpu_msr_list); i++) {
        if (x86_cpu_msr_list[i] == index) {
            return true;
        }
    }
    return false;
}

bool x86_cpu_check_state(const X86CPUSaved *st, Error **errp)
{
    /*
     * VMState already bounds every count by its array; these bounds are
     * the ones an accelerator needs on top.
     */
    if (st->xsave_len < X86_CPU_XSAVE_MIN ||
        st->xsave_len > X86_CPU_XSAVE_MAX) {
        error_setg(errp, "XSAVE area of %" PRIu32 " bytes: it must have "
                   "%d to %d", st->xsave_len, X86_CPU_XSAVE_MIN,
                   X86_CPU_XSAVE_MAX);
        return false;
    }
    if (st->nr_xcrs > X86_CPU_MAX_XCRS) {
        error_setg(errp, "%" PRIu32 " XCRs: at most %d are supported",
                   st->nr_xcrs, X86_CPU_MAX_XCRS);
        return false;
    }
    if (st->nr_msrs > X86_CPU_MAX_MSRS) {
        error_setg(errp, "%" PRIu32 " MSRs: at most %d are supported",
                   st->nr_msrs, X86_CPU_MAX_MSRS);
        return false;
    }
    for (uint32_t i = 0; i < st->nr_msrs; i++) {
        if (!x86_cpu_msr_migratable(st->msrs[i].index)) {
            error_setg(errp, "MSR 0x%" PRIx32 " is not one qmig migrates",
                       st->msrs[i].index);
            return false;
        }
    }
    if (st->mp_state > X86_MP_STATE_SIPI_RECEIVED) {
        error_setg(errp, "unknown MP state %" PRIu32 " (an x86 vCPU has 0 "
                   "to %d)", st->mp_state, X86_MP_STATE_SIPI_RECEIVED);
        return false;
    }
    if (st->ev_flags & ~X86_EVENT_VALID_ALL) {
        error_setg(errp, "unknown vCPU event flags 0x%" PRIx32,
                   st->ev_flags & ~X86_EVENT_VALID_ALL);
        return false;
    }
    if (st->exc_nr >= 32) {
        error_setg(errp, "exception vector %u is not an exception",
                   st->exc_nr);
        return false;
    }
    return true;
}

/* Is there an accelerator that moves vCPU state? */
static bool x86_cpu_accel_ok(CPUState *cpu, const char *what, Error **errp)
{
    if (!current_accel || !current_accel->cpu_get_state ||
        !current_accel->cpu_put_state) {
        error_setg(errp, "Cannot %s the state of vCPU %d: the accelerator "
                   "%s does not support it", what, cpu->cpu_index,
                   current_accel ? current_accel->name : "(none)");
        return false;
    }
    return true;
}

static bool x86_cpu_pre_save(void *opaque, Error **errp)
{
    X86CPUSaved *st = opaque;
    CPUState *cpu = st->cpu;

    assert(bql_locked());
    if (!x86_cpu_accel_ok(cpu, "save", errp) ||
        !current_accel->cpu_get_state(cpu, st, errp)) {
        return false;
    }
    /* Refuse to send what the destination would refuse, with a reason. */
    if (!x86_cpu_check_state(st, errp)) {
        error_prepend(errp, "vCPU %d: the %s accelerator gave an "
                      "unmigratable state: ", cpu->cpu_index,
                      current_accel->name);
        return false;
    }
    trace_x86_cpu_state_save(cpu->cpu_index, st->rip, st->mp_state,
                             st->nr_msrs, st->xsave_len);
    return true;
}

static bool x86_cpu_pre_load(void *opaque, Error **errp)
{
    X86CPUSaved *st = opaque;

    st->loaded = 0;
    return true;
}

/*
 * Destination, BQL held, vCPUs parked: check what arrived, then hand it
 * to the accelerator.  Subsections that did not arrive leave their part
 * unset.
 */
static bool x86_cpu_post_load(void *opaque, int version_id, Error **errp)
{
    X86CPUSaved *st = opaque;
    CPUState *cpu = st->cpu;

    assert(bql_locked());
    st->pdptrs_valid = st->loaded & X86_CPU_LOADED_PDPTRS;
    st->has_debugregs = st->loaded & X86_CPU_LOADED_DEBUGREGS;
    if (!(st->loaded & X86_CPU_LOADED_XCRS)) {
        st->nr_xcrs = 0;
    }
    if (!x86_cpu_check_state(st, errp)) {
        return false;
    }
    trace_x86_cpu_state_load(cpu->cpu_index, st->rip, st->mp_state,
                             st->nr_msrs, st->xsave_len);
    return x86_cpu_accel_ok(cpu, "load", errp) &&
           current_accel->cpu_put_state(cpu, st, errp);
}

static bool x86_cpu_pdptrs_needed(void *opaque)
{
    return ((X86CPUSaved *)opaque)->pdptrs_valid;
}

static bool x86_cpu_pdptrs_post_load(void *opaque, int version_id,
                                     Error **errp)
{
    ((X86CPUSaved *)opaque)->loaded |= X86_CPU_LOADED_PDPTRS;
    return true;
}

static bool x86_cpu_xcrs_needed(void *opaque)
{
    return ((X86CPUSaved *)opaque)->nr_xcrs != 0;
}

static bool x86_cpu_xcrs_post_load(void *opaque, int version_id,
                                   Error **errp)
{
    ((X86CPUSaved *)opaque)->loaded |= X86_CPU_LOADED_XCRS;
    return true;
}

static bool x86_cpu_debugregs_needed(void *opaque)
{
    return ((X86CPUSaved *)opaque)->has_debugregs;
}

static bool x86_cpu_debugregs_post_load(void *opaque, int version_id,
                                        Error **errp)
{
    ((X86CPUSaved *)opaque)->loaded |= X86_CPU_LOADED_DEBUGREGS;
    return true;
}

static const VMStateDescription vmstate_x86_seg = {
    .name = "cpu/seg",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(base, X86Seg),
        VMSTATE_UINT32(limit, X86Seg),
        VMSTATE_UINT16(selector, X86Seg),
        VMSTATE_UINT8(type, X86Seg),
        VMSTATE_UINT8(present, X86Seg),
        VMSTATE_UINT8(dpl, X86Seg),
        VMSTATE_UINT8(db, X86Seg),
        VMSTATE_UINT8(s, X86Seg),
        VMSTATE_UINT8(l, X86Seg),
        VMSTATE_UINT8(g, X86Seg),
        VMSTATE_UINT8(avl, X86Seg),
        VMSTATE_UINT8(unusable, X86Seg),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_x86_reg = {
    .name = "cpu/reg",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(index, X86Reg),
        VMSTATE_UINT64(value, X86Reg),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_x86_cpu_pdptrs = {
    .name = "cpu/pdptrs",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = x86_cpu_pdptrs_needed,
    .post_load = x86_cpu_pdptrs_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64_ARRAY(pdptrs, X86CPUSaved, 4),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_x86_cpu_xcrs = {
    .name = "cpu/xcrs",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = x86_cpu_xcrs_needed,
    .post_load = x86_cpu_xcrs_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(nr_xcrs, X86CPUSaved),
        VMSTATE_STRUCT_VARRAY_UINT32(xcrs, X86CPUSaved, nr_xcrs, 1,
                                     vmstate_x86_reg, X86Reg),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_x86_cpu_debugregs = {
    .name = "cpu/debugregs",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = x86_cpu_debugregs_needed,
    .post_load = x86_cpu_debugregs_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64_ARRAY(db, X86CPUSaved, 4),
        VMSTATE_UINT64(dr6, X86CPUSaved),
        VMSTATE_UINT64(dr7, X86CPUSaved),
        VMSTATE_END_OF_LIST()
    },
};

/*
 * The field order is the wire format (tests/unit/test-x86-state.c pins
 * its length): only ever append, with a new version.
 */
static const VMStateDescription vmstate_x86_cpu = {
    .name = "cpu",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = x86_cpu_pre_save,
    .pre_load = x86_cpu_pre_load,
    .post_load = x86_cpu_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64_ARRAY(gprs, X86CPUSaved, X86_CPU_NR_GPRS),
        VMSTATE_UINT64(rip, X86CPUSaved),
        VMSTATE_UINT64(rflags, X86CPUSaved),
        VMSTATE_STRUCT_ARRAY(segs, X86CPUSaved, X86_CPU_NR_SEGS, 1,
                             vmstate_x86_seg, X86Seg),
        VMSTATE_UINT64(gdt_base, X86CPUSaved),
        VMSTATE_UINT16(gdt_limit, X86CPUSaved),
        VMSTATE_UINT64(idt_base, X86CPUSaved),
        VMSTATE_UINT16(idt_limit, X86CPUSaved),
        VMSTATE_UINT64(cr0, X86CPUSaved),
        VMSTATE_UINT64(cr2, X86CPUSaved),
        VMSTATE_UINT64(cr3, X86CPUSaved),
        VMSTATE_UINT64(cr4, X86CPUSaved),
        VMSTATE_UINT64(cr8, X86CPUSaved),
        VMSTATE_UINT64(efer, X86CPUSaved),
        VMSTATE_UINT64(apic_base, X86CPUSaved),
        VMSTATE_UINT32(xsave_len, X86CPUSaved),
        VMSTATE_VARRAY_UINT32(xsave, X86CPUSaved, xsave_len, 1,
                              vmstate_info_uint8, uint8_t),
        VMSTATE_UINT32(nr_msrs, X86CPUSaved),
        VMSTATE_STRUCT_VARRAY_UINT32(msrs, X86CPUSaved, nr_msrs, 1,
                                     vmstate_x86_reg, X86Reg),
        VMSTATE_BUFFER(lapic, X86CPUSaved),
        VMSTATE_UINT32(mp_state, X86CPUSaved),
        VMSTATE_UINT32(ev_flags, X86CPUSaved),
        VMSTATE_UINT8(exc_injected, X86CPUSaved),
        VMSTATE_UINT8(exc_nr, X86CPUSaved),
        VMSTATE_UINT8(exc_has_error_code, X86CPUSaved),
        VMSTATE_UINT8(exc_pending, X86CPUSaved),
        VMSTATE_UINT32(exc_error_code, X86CPUSaved),
        VMSTATE_UINT8(exc_has_payload, X86CPUSaved),
        VMSTATE_UINT64(exc_payload, X86CPUSaved),
        VMSTATE_UINT8(irq_injected, X86CPUSaved),
        VMSTATE_UINT8(irq_nr, X86CPUSaved),
        VMSTATE_UINT8(irq_soft, X86CPUSaved),
        VMSTATE_UINT8(irq_shadow, X86CPUSaved),
        VMSTATE_UINT8(nmi_injected, X86CPUSaved),
        VMSTATE_UINT8(nmi_pending, X86CPUSaved),
        VMSTATE_UINT8(nmi_masked, X86CPUSaved),
        VMSTATE_UINT32(sipi_vector, X86CPUSaved),
        VMSTATE_UINT8(smm, X86CPUSaved),
        VMSTATE_UINT8(smi_pending, X86CPUSaved),
        VMSTATE_UINT8(smm_inside_nmi, X86CPUSaved),
        VMSTATE_UINT8(latched_init, X86CPUSaved),
        VMSTATE_UINT8(triple_fault_pending, X86CPUSaved),
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * const []) {
        &vmstate_x86_cpu_pdptrs,
        &vmstate_x86_cpu_xcrs,
        &vmstate_x86_cpu_debugregs,
        NULL
    },
};

void x86_cpu_state_register(CPUState *cpu)
{
    /* About 33 KiB (the XSAVE room), one per vCPU, for the VM's life. */
    X86CPUSaved *st = g_new0(X86CPUSaved, 1);

    assert(bql_locked() && cpu->cpu_index >= 0);
    st->cpu = cpu;
    if (vmstate_register(cpu->cpu_index, &vmstate_x86_cpu, st) < 0) {
        /* Two vCPUs with one index: a bug in machine creation. */
        g_assert_not_reached();
    }
}
