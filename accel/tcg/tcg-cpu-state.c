/*
 * Software vCPU state for migration: a Unicorn engine to and from the
 * accelerator-neutral X86CPUSaved that KVM fills too, so that one "cpu"
 * section serves both accelerators (hw/i386/x86-cpu-state.c).
 *
 * Threads: BQL held, every vCPU parked (outside its exec window), from
 * the migration thread (save) or the incoming thread (load).
 *
 * Unicorn 2.0.1's API gives segment selectors but not the hidden part of
 * the segment registers (base, limit, attributes).  Saving derives them
 * the way the CPU did when the guest loaded the selector: from the GDT or
 * LDT in protected mode, selector * 16 in real mode.  Loading writes
 * control registers through the helper stub of a fresh engine, then
 * reloads each segment by selector, which makes the engine read the
 * descriptor from guest memory.  What this cannot carry (written down in
 * docs/devel/migration/tcg.md): a descriptor changed in memory after the
 * segment was loaded ("unreal mode"), the interrupt shadow, an exception
 * in delivery, and MSRs Unicorn does not model (KVM's paravirtual ones,
 * which are dropped on load).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <unicorn/x86.h>
#include "qapi/error.h"
#include "hw/i386/x86-state.h"
#include "tcg-internal.h"
#include "trace.h"

#define X86_MSR_EFER        0xc0000080
#define APIC_BASE_ENABLE    (1u << 11)
#define APIC_BASE_BSP       (1u << 8)
#define CR0_PE              1u

static const int tcg_gpr_ids[] = {
    [X86_GPR_RAX] = UC_X86_REG_EAX, [X86_GPR_RBX] = UC_X86_REG_EBX,
    [X86_GPR_RCX] = UC_X86_REG_ECX, [X86_GPR_RDX] = UC_X86_REG_EDX,
    [X86_GPR_RSI] = UC_X86_REG_ESI, [X86_GPR_RDI] = UC_X86_REG_EDI,
    [X86_GPR_RSP] = UC_X86_REG_ESP, [X86_GPR_RBP] = UC_X86_REG_EBP,
};

/* In the order a guest's loads must be replayed: CS first. */
static const struct { int seg; int id; } tcg_seg_ids[] = {
    { X86_SEG_CS, UC_X86_REG_CS }, { X86_SEG_SS, UC_X86_REG_SS },
    { X86_SEG_DS, UC_X86_REG_DS }, { X86_SEG_ES, UC_X86_REG_ES },
    { X86_SEG_FS, UC_X86_REG_FS }, { X86_SEG_GS, UC_X86_REG_GS },
};

/* MSRs Unicorn keeps; the others of x86_cpu_msr_list are KVM's. */
static const uint32_t tcg_msrs[] = {
    X86_MSR_IA32_SYSENTER_CS, X86_MSR_IA32_SYSENTER_ESP,
    X86_MSR_IA32_SYSENTER_EIP, X86_MSR_IA32_CR_PAT,
};

static uint64_t tcg_reg(TCGCPU *tc, int id)
{
    uint64_t v = 0;

    uc_reg_read(tc->uc, id, &v);
    return v;
}

static uint64_t tcg_msr(TCGCPU *tc, uint32_t index)
{
    uc_x86_msr msr = { .rid = index };

    uc_reg_read(tc->uc, UC_X86_REG_MSR, &msr);
    return msr.value;
}

/* The hidden part of a segment loaded from descriptor @d. */
static void tcg_seg_from_desc(X86Seg *s, uint64_t d)
{
    s->limit = (d & 0xffff) | ((d >> 32) & 0xf0000);
    s->g = (d >> 55) & 1;
    if (s->g) {
        s->limit = (s->limit << 12) | 0xfff;
    }
    s->base = ((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000);
    s->type = (d >> 40) & 0xf;
    s->s = (d >> 44) & 1;
    s->dpl = (d >> 45) & 3;
    s->present = (d >> 47) & 1;
    s->avl = (d >> 52) & 1;
    s->l = (d >> 53) & 1;
    s->db = (d >> 54) & 1;
    if (s->s) {
        s->type |= 1;   /* loading a code/data segment marks it accessed */
    }
}

static void tcg_get_seg(TCGCPU *tc, bool pmode, int id, X86Seg *s)
{
    uint64_t desc;

    memset(s, 0, sizeof(*s));
    s->selector = tcg_reg(tc, id);
    if (!pmode) {
        s->base = (uint64_t)s->selector << 4;
        s->limit = 0xffff;
        s->present = s->s = 1;
        s->type = id == UC_X86_REG_CS ? 0xb : 0x3;
    } else if (tcg_engine_read_desc(tc, s->selector, &desc)) {
        tcg_seg_from_desc(s, desc);
    } else {
        s->unusable = 1;    /* a null selector */
    }
}

/* TR and LDTR come with their hidden part through uc_x86_mmr. */
static void tcg_get_sys_seg(TCGCPU *tc, int id, X86Seg *s, uint8_t type)
{
    uc_x86_mmr m = { 0 };

    uc_reg_read(tc->uc, id, &m);
    memset(s, 0, sizeof(*s));
    s->selector = m.selector;
    s->base = m.base;
    s->limit = m.limit;
    if (!m.flags) {
        /* Never loaded: what the CPU holds after RESET. */
        s->limit = 0xffff;
        s->type = type;
        s->present = 1;
        return;
    }
    s->type = (m.flags >> 8) & 0xf;
    s->s = (m.flags >> 12) & 1;
    s->dpl = (m.flags >> 13) & 3;
    s->present = (m.flags >> 15) & 1;
    s->avl = (m.flags >> 20) & 1;
    s->l = (m.flags >> 21) & 1;
    s->db = (m.flags >> 22) & 1;
    s->g = (m.flags >> 23) & 1;
}

static void tcg_get_segs(TCGCPU *tc, X86CPUSaved *st)
{
    uc_x86_mmr dt = { 0 };
    bool pmode = st->cr0 & CR0_PE;

    for (size_t i = 0; i < ARRAY_SIZE(tcg_seg_ids); i++) {
        tcg_get_seg(tc, pmode, tcg_seg_ids[i].id,
                    &st->segs[tcg_seg_ids[i].seg]);
    }
    tcg_get_sys_seg(tc, UC_X86_REG_TR, &st->segs[X86_SEG_TR], 0xb);
    tcg_get_sys_seg(tc, UC_X86_REG_LDTR, &st->segs[X86_SEG_LDT], 0x2);
    uc_reg_read(tc->uc, UC_X86_REG_GDTR, &dt);
    st->gdt_base = dt.base;
    st->gdt_limit = dt.limit;
    uc_reg_read(tc->uc, UC_X86_REG_IDTR, &dt);
    st->idt_base = dt.base;
    st->idt_limit = dt.limit;
}

/* x87 and SSE state as an XSAVE area (FXSAVE image + header). */
static void tcg_get_fpu(TCGCPU *tc, X86CPUSaved *st)
{
    uint8_t *x = st->xsave;
    uint16_t fcw = tcg_reg(tc, UC_X86_REG_FPCW);
    uint16_t fsw = tcg_reg(tc, UC_X86_REG_FPSW);
    uint16_t tags = tcg_reg(tc, UC_X86_REG_FPTAG);
    uint32_t mxcsr = tcg_reg(tc, UC_X86_REG_MXCSR);
    uint32_t mxcsr_mask = 0xffff;
    uint64_t xstate_bv = 3;     /* x87 and SSE */
    uint8_t ftw = 0;

    st->xsave_len = X86_CPU_XSAVE_MIN;
    memset(x, 0, st->xsave_len);
    for (int i = 0; i < 8; i++) {
        /* The abridged tag: 1 unless the full tag says "empty" (3). */
        ftw |= (((tags >> (2 * i)) & 3) != 3) << i;
        uc_reg_read(tc->uc, UC_X86_REG_ST0 + i, x + 32 + 16 * i);
        uc_reg_read(tc->uc, UC_X86_REG_XMM0 + i, x + 160 + 16 * i);
    }
    memcpy(x + 0, &fcw, 2);
    memcpy(x + 2, &fsw, 2);
    x[4] = ftw;
    memcpy(x + 24, &mxcsr, 4);
    memcpy(x + 28, &mxcsr_mask, 4);
    memcpy(x + X86_XSAVE_HEADER_OFFSET, &xstate_bv, 8);
}

static void tcg_get_msrs(TCGCPU *tc, X86CPUSaved *st)
{
    st->nr_msrs = 0;
    for (size_t i = 0; i < ARRAY_SIZE(tcg_msrs); i++) {
        st->msrs[st->nr_msrs++] = (X86Reg) {
            .index = tcg_msrs[i], .value = tcg_msr(tc, tcg_msrs[i]),
        };
    }
}

bool tcg_cpu_get_state(CPUState *cpu, X86CPUSaved *st, Error **errp)
{
    TCGCPU *tc = tcg_cpu(cpu);
    uint32_t tpr;

    memset(st->gprs, 0, sizeof(st->gprs));
    for (int i = 0; i <= X86_GPR_RBP; i++) {
        st->gprs[i] = tcg_reg(tc, tcg_gpr_ids[i]);
    }
    st->rip = tcg_reg(tc, UC_X86_REG_EIP);
    st->rflags = tcg_reg(tc, UC_X86_REG_EFLAGS);
    st->cr0 = tcg_reg(tc, UC_X86_REG_CR0);
    st->cr2 = tcg_reg(tc, UC_X86_REG_CR2);
    st->cr3 = tcg_reg(tc, UC_X86_REG_CR3);
    st->cr4 = tcg_reg(tc, UC_X86_REG_CR4);
    st->efer = tcg_msr(tc, X86_MSR_EFER);
    memcpy(&tpr, tc->apic_regs + 0x80, 4);
    st->cr8 = (tpr >> 4) & 0xf;
    st->apic_base = TCG_APIC_BASE | APIC_BASE_ENABLE |
                    (cpu->cpu_index ? 0 : APIC_BASE_BSP);
    st->pdptrs_valid = false;
    tcg_get_segs(tc, st);
    tcg_get_fpu(tc, st);
    st->nr_xcrs = 0;
    tcg_get_msrs(tc, st);
    memcpy(st->lapic, tc->apic_regs, sizeof(st->lapic));
    st->mp_state = tc->mp_state;
    st->ev_flags = 0;
    st->exc_injected = st->exc_pending = st->irq_injected = 0;
    st->nmi_injected = st->nmi_pending = st->nmi_masked = 0;
    st->sipi_vector = tc->sipi_vector;
    st->has_debugregs = true;
    for (int i = 0; i < 4; i++) {
        st->db[i] = tcg_reg(tc, UC_X86_REG_DR0 + i);
    }
    st->dr6 = tcg_reg(tc, UC_X86_REG_DR6);
    st->dr7 = tcg_reg(tc, UC_X86_REG_DR7);
    trace_tcg_cpu_get_state(cpu->cpu_index, st->rip, st->cr0, st->mp_state);
    return true;
}

/* ------------------------------------------------------------------- */

static bool tcg_put_segs(TCGCPU *tc, const X86CPUSaved *st, Error **errp)
{
    uc_x86_mmr dt = { .base = st->gdt_base, .limit = st->gdt_limit };

    uc_reg_write(tc->uc, UC_X86_REG_GDTR, &dt);
    dt = (uc_x86_mmr) { .base = st->idt_base, .limit = st->idt_limit };
    uc_reg_write(tc->uc, UC_X86_REG_IDTR, &dt);
    for (int i = 0; i < 2; i++) {
        const X86Seg *s = &st->segs[i ? X86_SEG_LDT : X86_SEG_TR];
        uc_x86_mmr m = {
            .selector = s->selector, .base = s->base, .limit = s->limit,
            .flags = (s->type << 8) | (s->s << 12) | (s->dpl << 13) |
                     (s->present << 15) | (s->avl << 20) | (s->l << 21) |
                     (s->db << 22) | (s->g << 23),
        };

        uc_reg_write(tc->uc, i ? UC_X86_REG_LDTR : UC_X86_REG_TR, &m);
    }
    for (size_t i = 0; i < ARRAY_SIZE(tcg_seg_ids); i++) {
        uint16_t sel = st->segs[tcg_seg_ids[i].seg].selector;
        uc_err err = uc_reg_write(tc->uc, tcg_seg_ids[i].id, &sel);

        if (err != UC_ERR_OK) {
            error_setg(errp, "vCPU %d: could not load segment %zu with "
                       "selector 0x%x: %s", tc->cpu->cpu_index, i, sel,
                       uc_strerror(err));
            return false;
        }
    }
    return true;
}

static void tcg_put_fpu(TCGCPU *tc, const X86CPUSaved *st)
{
    const uint8_t *x = st->xsave;
    uint16_t fcw, fsw, tags = 0;
    uint32_t mxcsr;

    memcpy(&fcw, x + 0, 2);
    memcpy(&fsw, x + 2, 2);
    memcpy(&mxcsr, x + 24, 4);
    for (int i = 0; i < 8; i++) {
        /* Full tags from the abridged ones: valid or empty. */
        tags |= ((x[4] >> i) & 1 ? 0 : 3) << (2 * i);
        uc_reg_write(tc->uc, UC_X86_REG_ST0 + i, x + 32 + 16 * i);
        uc_reg_write(tc->uc, UC_X86_REG_XMM0 + i, x + 160 + 16 * i);
    }
    uc_reg_write(tc->uc, UC_X86_REG_FPCW, &fcw);
    uc_reg_write(tc->uc, UC_X86_REG_FPSW, &fsw);
    uc_reg_write(tc->uc, UC_X86_REG_FPTAG, &tags);
    uc_reg_write(tc->uc, UC_X86_REG_MXCSR, &mxcsr);
}

static void tcg_put_msrs(TCGCPU *tc, const X86CPUSaved *st)
{
    uc_x86_msr efer = { .rid = X86_MSR_EFER, .value = st->efer };

    uc_reg_write(tc->uc, UC_X86_REG_MSR, &efer);
    for (uint32_t i = 0; i < st->nr_msrs; i++) {
        for (size_t j = 0; j < ARRAY_SIZE(tcg_msrs); j++) {
            if (st->msrs[i].index == tcg_msrs[j]) {
                uc_x86_msr m = { .rid = st->msrs[i].index,
                                 .value = st->msrs[i].value };

                uc_reg_write(tc->uc, UC_X86_REG_MSR, &m);
            }
        }
    }
}

static void tcg_put_regs(TCGCPU *tc, const X86CPUSaved *st)
{
    uint64_t cr2 = st->cr2, eip = st->rip, eflags = st->rflags;

    for (int i = 0; i <= X86_GPR_RBP; i++) {
        uint32_t v = st->gprs[i];

        uc_reg_write(tc->uc, tcg_gpr_ids[i], &v);
    }
    uc_reg_write(tc->uc, UC_X86_REG_CR2, &cr2);
    for (int i = 0; i < 4 && st->has_debugregs; i++) {
        uc_reg_write(tc->uc, UC_X86_REG_DR0 + i, &st->db[i]);
    }
    if (st->has_debugregs) {
        uc_reg_write(tc->uc, UC_X86_REG_DR6, &st->dr6);
        uc_reg_write(tc->uc, UC_X86_REG_DR7, &st->dr7);
    }
    uc_reg_write(tc->uc, UC_X86_REG_EFLAGS, &eflags);
    uc_reg_write(tc->uc, UC_X86_REG_EIP, &eip);
}

/* Refuse what a 32-bit software vCPU cannot run, before touching it. */
static bool tcg_put_check(CPUState *cpu, const X86CPUSaved *st,
                          Error **errp)
{
    if (st->efer & (1u << 10)) {    /* EFER.LMA: long mode active */
        error_setg(errp, "vCPU %d: the guest runs in 64-bit long mode, "
                   "which qmig's software vCPUs (32-bit) cannot run",
                   cpu->cpu_index);
        return false;
    }
    for (int i = X86_GPR_R8; i <= X86_GPR_R15; i++) {
        if (st->gprs[i] || (st->gprs[i - 8] >> 32)) {
            error_setg(errp, "vCPU %d: 64-bit register state (r8-r15 or "
                       "upper halves) cannot be loaded into a 32-bit "
                       "software vCPU", cpu->cpu_index);
            return false;
        }
    }
    return true;
}

bool tcg_cpu_put_state(CPUState *cpu, const X86CPUSaved *st, Error **errp)
{
    TCGCPU *tc = tcg_cpu(cpu);

    if (!tcg_put_check(cpu, st, errp)) {
        return false;
    }
    /* A fresh engine runs the CR stub in flat 32-bit mode. */
    tcg_engine_free(tc);
    if (!tcg_engine_new(tc, errp) ||
        !tcg_engine_load_crs(tc, st->cr0, st->cr3, st->cr4, errp) ||
        !tcg_put_segs(tc, st, errp)) {
        return false;
    }
    tcg_put_fpu(tc, st);
    tcg_put_msrs(tc, st);
    tcg_put_regs(tc, st);
    memcpy(tc->apic_regs, st->lapic, sizeof(tc->apic_regs));
    tc->mp_state = st->mp_state;
    tc->sipi_vector = st->sipi_vector;
    trace_tcg_cpu_put_state(cpu->cpu_index, st->rip, st->cr0, st->mp_state);
    return true;
}
