/*
 * vCPU state for migration: KVM_GET_* into a userspace copy, VMState
 * section "cpu" (instance id = cpu_index) over that copy, KVM_SET_* on
 * the destination.
 *
 * When it runs: the source saves with the VM stopped (every vCPU parked,
 * out of KVM_RUN) from the migration thread with the BQL held; the
 * destination loads from the incoming thread with the BQL held while its
 * vCPU threads are parked and have never run.  KVM accepts vCPU ioctls
 * from any thread of the process as long as the vCPU is not in KVM_RUN
 * (each ioctl takes the vCPU mutex and loads the vCPU on the calling
 * CPU), so nothing here needs the vCPU's own thread.
 *
 * One exception needs care: after a KVM_EXIT_IO or KVM_EXIT_MMIO the
 * instruction is only finished by the next KVM_RUN (an IN's result
 * reaches RAX then).  A vCPU parked right after such an exit would lose
 * that, so the save first re-enters KVM_RUN with immediate_exit set,
 * which completes the access and returns without running guest code.
 *
 * The copy (KVMCPUSaved) is protected by the BQL.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/ioctl.h>
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "migration/register.h"
#include "migration/vmstate.h"
#include "system/kvm.h"
#include "system/kvm-cpu-state.h"
#include "kvm-internal.h"
#include "trace.h"

#define KVM_CPU_NR_GPRS   16
#define KVM_CPU_NR_SEGS   8     /* cs ds es fs gs ss tr ldt */
#define KVM_CPU_MAX_XCRS  16    /* KVM_MAX_XCRS */
#define KVM_CPU_MAX_MSRS  64
/*
 * Room for the XSAVE area: KVM_CAP_XSAVE2 reports the size the host
 * needs (4 KiB without AMX, about 11 KiB with it).
 */
#define KVM_CPU_XSAVE_MAX (32 * 1024)

/* Subsections seen while loading (KVMCPUSaved.loaded). */
#define KVM_CPU_LOADED_PDPTRS    0x1
#define KVM_CPU_LOADED_XCRS      0x2
#define KVM_CPU_LOADED_DEBUGREGS 0x4

#define KVM_CPU_EVENT_FLAGS \
    (KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR | \
     KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM | \
     KVM_VCPUEVENT_VALID_PAYLOAD | KVM_VCPUEVENT_VALID_TRIPLE_FAULT)

typedef struct KVMCPUSeg {
    uint64_t base;
    uint32_t limit;
    uint16_t selector;
    uint8_t type, present, dpl, db, s, l, g, avl, unusable;
} KVMCPUSeg;

/* One MSR or XCR: index and value. */
typedef struct KVMCPUReg {
    uint32_t index;
    uint64_t value;
} KVMCPUReg;

typedef struct KVMCPUSaved {
    CPUState *cpu;

    /* KVM_GET_REGS: rax rbx rcx rdx rsi rdi rsp rbp r8..r15 */
    uint64_t gprs[KVM_CPU_NR_GPRS];
    uint64_t rip, rflags;

    /* KVM_GET_SREGS(2) */
    KVMCPUSeg segs[KVM_CPU_NR_SEGS];
    uint64_t gdt_base, idt_base;
    uint16_t gdt_limit, idt_limit;
    uint64_t cr0, cr2, cr3, cr4, cr8, efer, apic_base;
    bool pdptrs_valid;              /* subsection "cpu/pdptrs" */
    uint64_t pdptrs[4];

    /* KVM_GET_XSAVE(2): the raw area, its length as KVM gave it */
    uint32_t xsave_len;
    uint8_t xsave[KVM_CPU_XSAVE_MAX];

    /* KVM_GET_XCRS (subsection "cpu/xcrs") */
    uint32_t nr_xcrs;
    KVMCPUReg xcrs[KVM_CPU_MAX_XCRS];

    /* KVM_GET_MSRS: the MSRs of kvm_cpu_msr_list KVM supports */
    uint32_t nr_msrs;
    KVMCPUReg msrs[KVM_CPU_MAX_MSRS];

    /* KVM_GET_LAPIC */
    uint8_t lapic[KVM_APIC_REG_SIZE];

    /* KVM_GET_MP_STATE */
    uint32_t mp_state;

    /* KVM_GET_VCPU_EVENTS */
    uint32_t ev_flags;
    uint8_t exc_injected, exc_nr, exc_has_error_code, exc_pending;
    uint32_t exc_error_code;
    uint8_t exc_has_payload;
    uint64_t exc_payload;
    uint8_t irq_injected, irq_nr, irq_soft, irq_shadow;
    uint8_t nmi_injected, nmi_pending, nmi_masked;
    uint32_t sipi_vector;
    uint8_t smm, smi_pending, smm_inside_nmi, latched_init;
    uint8_t triple_fault_pending;

    /* KVM_GET_DEBUGREGS (subsection "cpu/debugregs") */
    bool has_debugregs;
    uint64_t db[4], dr6, dr7;

    /* Loading only: KVM_CPU_LOADED_* of the subsections that arrived. */
    uint32_t loaded;
} KVMCPUSaved;

/*
 * The MSRs that migrate, version 1 of the list: what QEMU migrates for a
 * guest without PMU, MCE or nested virtualisation.  EFER and the APIC
 * base travel in sregs.  Entries are only ever appended (with a new
 * section version); an MSR this KVM cannot read is skipped on save, and
 * the stream says which ones were saved.  The destination accepts only
 * indices from this list.
 */
#define MSR_IA32_TSC                0x00000010
#define MSR_KVM_WALL_CLOCK          0x00000011
#define MSR_KVM_SYSTEM_TIME         0x00000012
#define MSR_IA32_FEATURE_CONTROL    0x0000003a
#define MSR_IA32_TSC_ADJUST         0x0000003b
#define MSR_IA32_SPEC_CTRL          0x00000048
#define MSR_IA32_SYSENTER_CS        0x00000174
#define MSR_IA32_SYSENTER_ESP       0x00000175
#define MSR_IA32_SYSENTER_EIP       0x00000176
#define MSR_IA32_MISC_ENABLE        0x000001a0
#define MSR_MTRR_PHYS_BASE0         0x00000200  /* base/mask pairs to 0x20f */
#define MSR_MTRR_FIX64K_00000       0x00000250
#define MSR_MTRR_FIX16K_80000       0x00000258
#define MSR_MTRR_FIX16K_A0000       0x00000259
#define MSR_MTRR_FIX4K_C0000        0x00000268  /* to 0x26f */
#define MSR_IA32_CR_PAT             0x00000277
#define MSR_MTRR_DEF_TYPE           0x000002ff
#define MSR_IA32_TSC_DEADLINE       0x000006e0
#define MSR_IA32_XSS                0x00000da0
#define MSR_EFER_STAR               0xc0000081
#define MSR_LSTAR                   0xc0000082
#define MSR_CSTAR                   0xc0000083
#define MSR_SYSCALL_MASK            0xc0000084
#define MSR_KERNEL_GS_BASE          0xc0000102
#define MSR_TSC_AUX                 0xc0000103
#define MSR_KVM_WALL_CLOCK_NEW      0x4b564d00
#define MSR_KVM_SYSTEM_TIME_NEW     0x4b564d01
#define MSR_KVM_ASYNC_PF_EN         0x4b564d02
#define MSR_KVM_STEAL_TIME          0x4b564d03
#define MSR_KVM_PV_EOI_EN           0x4b564d04

static const uint32_t kvm_cpu_msr_list[] = {
    MSR_IA32_SYSENTER_CS, MSR_IA32_SYSENTER_ESP, MSR_IA32_SYSENTER_EIP,
    MSR_EFER_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SYSCALL_MASK,
    MSR_KERNEL_GS_BASE, MSR_TSC_AUX,
    MSR_IA32_TSC, MSR_IA32_TSC_ADJUST, MSR_IA32_TSC_DEADLINE,
    MSR_IA32_MISC_ENABLE, MSR_IA32_CR_PAT, MSR_IA32_FEATURE_CONTROL,
    MSR_IA32_SPEC_CTRL, MSR_IA32_XSS,
    MSR_MTRR_DEF_TYPE,
    MSR_MTRR_FIX64K_00000, MSR_MTRR_FIX16K_80000, MSR_MTRR_FIX16K_A0000,
    MSR_MTRR_FIX4K_C0000 + 0, MSR_MTRR_FIX4K_C0000 + 1,
    MSR_MTRR_FIX4K_C0000 + 2, MSR_MTRR_FIX4K_C0000 + 3,
    MSR_MTRR_FIX4K_C0000 + 4, MSR_MTRR_FIX4K_C0000 + 5,
    MSR_MTRR_FIX4K_C0000 + 6, MSR_MTRR_FIX4K_C0000 + 7,
    MSR_MTRR_PHYS_BASE0 + 0, MSR_MTRR_PHYS_BASE0 + 1,
    MSR_MTRR_PHYS_BASE0 + 2, MSR_MTRR_PHYS_BASE0 + 3,
    MSR_MTRR_PHYS_BASE0 + 4, MSR_MTRR_PHYS_BASE0 + 5,
    MSR_MTRR_PHYS_BASE0 + 6, MSR_MTRR_PHYS_BASE0 + 7,
    MSR_MTRR_PHYS_BASE0 + 8, MSR_MTRR_PHYS_BASE0 + 9,
    MSR_MTRR_PHYS_BASE0 + 10, MSR_MTRR_PHYS_BASE0 + 11,
    MSR_MTRR_PHYS_BASE0 + 12, MSR_MTRR_PHYS_BASE0 + 13,
    MSR_MTRR_PHYS_BASE0 + 14, MSR_MTRR_PHYS_BASE0 + 15,
    MSR_KVM_WALL_CLOCK, MSR_KVM_SYSTEM_TIME,
    MSR_KVM_WALL_CLOCK_NEW, MSR_KVM_SYSTEM_TIME_NEW,
    MSR_KVM_ASYNC_PF_EN, MSR_KVM_STEAL_TIME, MSR_KVM_PV_EOI_EN,
};

G_STATIC_ASSERT(G_N_ELEMENTS(kvm_cpu_msr_list) <= KVM_CPU_MAX_MSRS);

/*
 * Which entries of kvm_cpu_msr_list migrate on this KVM, found once when
 * the first vCPU is registered (BQL; its CPUID set, not yet run): those
 * KVM lets us read and write back.  KVM_GET_MSR_INDEX_LIST is not enough
 * on its own: KVM emulates MSRs it does not list (the MTRRs), and reads
 * some whose writes the vCPU's CPUID forbids (XSS without XSAVES), which
 * would only make the destination fail.  The trace says which were
 * skipped and whether KVM listed them.
 */
static bool kvm_cpu_msr_supported[ARRAY_SIZE(kvm_cpu_msr_list)];
static bool kvm_cpu_msrs_probed;

/* The saved state of each vCPU, by cpu_index (BQL). */
static GPtrArray *kvm_cpu_saved;

static KVMCPUSaved *kvm_cpu_saved_get(CPUState *cpu)
{
    KVMCPUSaved *st = NULL;

    if (kvm_cpu_saved && (guint)cpu->cpu_index < kvm_cpu_saved->len) {
        st = g_ptr_array_index(kvm_cpu_saved, cpu->cpu_index);
    }
    assert(st);     /* kvm_cpu_state_register() ran at vCPU creation */
    return st;
}

static bool kvm_cpu_check(int ret, CPUState *cpu, const char *what,
                          Error **errp)
{
    if (ret < 0) {
        error_setg_errno(errp, -ret, "%s on vCPU %d failed", what,
                         cpu->cpu_index);
        return false;
    }
    return true;
}

static bool kvm_cpu_msr_known(uint32_t index)
{
    for (size_t i = 0; i < ARRAY_SIZE(kvm_cpu_msr_list); i++) {
        if (kvm_cpu_msr_list[i] == index) {
            return true;
        }
    }
    return false;
}

/* ---------------------------------------------------------------------
 * MSRs
 */

static struct kvm_msrs *kvm_msrs_new(uint32_t n)
{
    struct kvm_msrs *m = g_malloc0(sizeof(*m) + n * sizeof(m->entries[0]));

    m->nmsrs = n;
    return m;
}

/* KVM_GET_MSR_INDEX_LIST: the first call says how many there are. */
static struct kvm_msr_list *kvm_msr_index_list(void)
{
    struct kvm_msr_list probe = { .nmsrs = 0 };
    struct kvm_msr_list *list;
    int ret = kvm_ioctl(kvm_state, KVM_GET_MSR_INDEX_LIST, &probe);

    if (ret < 0 && ret != -E2BIG) {
        return NULL;
    }
    list = g_malloc0(sizeof(*list) + probe.nmsrs * sizeof(list->indices[0]));
    list->nmsrs = probe.nmsrs;
    if (kvm_ioctl(kvm_state, KVM_GET_MSR_INDEX_LIST, list) < 0) {
        g_free(list);
        return NULL;
    }
    return list;
}

/*
 * Can @index be read and written back unchanged?  Rewriting the TSC
 * would disturb KVM's TSC synchronisation, and every KVM has it.
 */
static bool kvm_msr_migratable(CPUState *cpu, uint32_t index)
{
    g_autofree struct kvm_msrs *m = kvm_msrs_new(1);

    if (index == MSR_IA32_TSC) {
        return true;
    }
    m->entries[0].index = index;
    if (kvm_vcpu_ioctl(cpu, KVM_GET_MSRS, m) != 1) {
        return false;
    }
    return kvm_vcpu_ioctl(cpu, KVM_SET_MSRS, m) == 1;
}

static void kvm_cpu_probe_msrs(CPUState *cpu)
{
    g_autofree struct kvm_msr_list *list = NULL;

    if (kvm_cpu_msrs_probed) {
        return;
    }
    list = kvm_msr_index_list();
    for (size_t i = 0; i < ARRAY_SIZE(kvm_cpu_msr_list); i++) {
        bool listed = false, ok;

        for (uint32_t j = 0; list && j < list->nmsrs && !listed; j++) {
            listed = list->indices[j] == kvm_cpu_msr_list[i];
        }
        ok = kvm_msr_migratable(cpu, kvm_cpu_msr_list[i]);
        kvm_cpu_msr_supported[i] = ok;
        if (!ok) {
            trace_kvm_cpu_msr_skipped(kvm_cpu_msr_list[i], listed);
        }
    }
    kvm_cpu_msrs_probed = true;
}

static bool kvm_cpu_get_msrs(CPUState *cpu, KVMCPUSaved *st, Error **errp)
{
    g_autofree struct kvm_msrs *m = kvm_msrs_new(KVM_CPU_MAX_MSRS);
    uint32_t n = 0;
    int ret;

    assert(kvm_cpu_msrs_probed);
    for (size_t i = 0; i < ARRAY_SIZE(kvm_cpu_msr_list); i++) {
        if (kvm_cpu_msr_supported[i]) {
            m->entries[n++].index = kvm_cpu_msr_list[i];
        }
    }
    m->nmsrs = n;
    ret = kvm_vcpu_ioctl(cpu, KVM_GET_MSRS, m);
    if (ret < 0) {
        return kvm_cpu_check(ret, cpu, "KVM_GET_MSRS", errp);
    }
    if ((uint32_t)ret != n) {
        error_setg(errp, "KVM_GET_MSRS on vCPU %d could not read MSR 0x%x",
                   cpu->cpu_index, m->entries[ret].index);
        return false;
    }
    st->nr_msrs = n;
    for (uint32_t i = 0; i < n; i++) {
        st->msrs[i].index = m->entries[i].index;
        st->msrs[i].value = m->entries[i].data;
    }
    return true;
}

/*
 * Write the saved MSRs: all but the TSC deadline (@deadline false), or
 * only the TSC deadline, which KVM ignores unless the LAPIC timer is
 * already in TSC-deadline mode, so it goes after KVM_SET_LAPIC.
 */
static bool kvm_cpu_put_msrs(CPUState *cpu, KVMCPUSaved *st, bool deadline,
                             Error **errp)
{
    g_autofree struct kvm_msrs *m = kvm_msrs_new(KVM_CPU_MAX_MSRS);
    uint32_t n = 0;
    int ret;

    for (uint32_t i = 0; i < st->nr_msrs; i++) {
        if ((st->msrs[i].index == MSR_IA32_TSC_DEADLINE) == deadline) {
            m->entries[n].index = st->msrs[i].index;
            m->entries[n].data = st->msrs[i].value;
            n++;
        }
    }
    if (!n) {
        return true;
    }
    m->nmsrs = n;
    ret = kvm_vcpu_ioctl(cpu, KVM_SET_MSRS, m);
    if (ret < 0) {
        return kvm_cpu_check(ret, cpu, "KVM_SET_MSRS", errp);
    }
    if ((uint32_t)ret != n) {
        error_setg(errp, "KVM on vCPU %d refused MSR 0x%x = 0x%llx",
                   cpu->cpu_index, m->entries[ret].index,
                   m->entries[ret].data);
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------------
 * Registers and segments
 */

static void kvm_cpu_regs_from(KVMCPUSaved *st, const struct kvm_regs *r)
{
    const uint64_t g[KVM_CPU_NR_GPRS] = {
        r->rax, r->rbx, r->rcx, r->rdx, r->rsi, r->rdi, r->rsp, r->rbp,
        r->r8, r->r9, r->r10, r->r11, r->r12, r->r13, r->r14, r->r15,
    };

    memcpy(st->gprs, g, sizeof(g));
    st->rip = r->rip;
    st->rflags = r->rflags;
}

static void kvm_cpu_regs_to(const KVMCPUSaved *st, struct kvm_regs *r)
{
    const uint64_t *g = st->gprs;

    r->rax = g[0]; r->rbx = g[1]; r->rcx = g[2]; r->rdx = g[3];
    r->rsi = g[4]; r->rdi = g[5]; r->rsp = g[6]; r->rbp = g[7];
    r->r8 = g[8]; r->r9 = g[9]; r->r10 = g[10]; r->r11 = g[11];
    r->r12 = g[12]; r->r13 = g[13]; r->r14 = g[14]; r->r15 = g[15];
    r->rip = st->rip;
    r->rflags = st->rflags;
}

static void kvm_seg_from(KVMCPUSeg *d, const struct kvm_segment *s)
{
    d->base = s->base;
    d->limit = s->limit;
    d->selector = s->selector;
    d->type = s->type;
    d->present = s->present;
    d->dpl = s->dpl;
    d->db = s->db;
    d->s = s->s;
    d->l = s->l;
    d->g = s->g;
    d->avl = s->avl;
    d->unusable = s->unusable;
}

static void kvm_seg_to(struct kvm_segment *d, const KVMCPUSeg *s)
{
    memset(d, 0, sizeof(*d));
    d->base = s->base;
    d->limit = s->limit;
    d->selector = s->selector;
    d->type = s->type;
    d->present = s->present;
    d->dpl = s->dpl;
    d->db = s->db;
    d->s = s->s;
    d->l = s->l;
    d->g = s->g;
    d->avl = s->avl;
    d->unusable = s->unusable;
}

/*
 * struct kvm_sregs and struct kvm_sregs2 share everything we keep; the
 * macros copy it between them and KVMCPUSaved.
 */
#define KVM_SREGS_FROM(st, sr) do {                                        \
    struct kvm_segment *segs_[KVM_CPU_NR_SEGS] = {                         \
        &(sr)->cs, &(sr)->ds, &(sr)->es, &(sr)->fs,                        \
        &(sr)->gs, &(sr)->ss, &(sr)->tr, &(sr)->ldt,                       \
    };                                                                     \
    for (int i_ = 0; i_ < KVM_CPU_NR_SEGS; i_++) {                         \
        kvm_seg_from(&(st)->segs[i_], segs_[i_]);                          \
    }                                                                      \
    (st)->gdt_base = (sr)->gdt.base;                                       \
    (st)->gdt_limit = (sr)->gdt.limit;                                     \
    (st)->idt_base = (sr)->idt.base;                                       \
    (st)->idt_limit = (sr)->idt.limit;                                     \
    (st)->cr0 = (sr)->cr0;                                                 \
    (st)->cr2 = (sr)->cr2;                                                 \
    (st)->cr3 = (sr)->cr3;                                                 \
    (st)->cr4 = (sr)->cr4;                                                 \
    (st)->cr8 = (sr)->cr8;                                                 \
    (st)->efer = (sr)->efer;                                               \
    (st)->apic_base = (sr)->apic_base;                                     \
} while (0)

#define KVM_SREGS_TO(sr, st) do {                                          \
    struct kvm_segment *segs_[KVM_CPU_NR_SEGS] = {                         \
        &(sr)->cs, &(sr)->ds, &(sr)->es, &(sr)->fs,                        \
        &(sr)->gs, &(sr)->ss, &(sr)->tr, &(sr)->ldt,                       \
    };                                                                     \
    for (int i_ = 0; i_ < KVM_CPU_NR_SEGS; i_++) {                         \
        kvm_seg_to(segs_[i_], &(st)->segs[i_]);                            \
    }                                                                      \
    (sr)->gdt.base = (st)->gdt_base;                                       \
    (sr)->gdt.limit = (st)->gdt_limit;                                     \
    (sr)->idt.base = (st)->idt_base;                                       \
    (sr)->idt.limit = (st)->idt_limit;                                     \
    (sr)->cr0 = (st)->cr0;                                                 \
    (sr)->cr2 = (st)->cr2;                                                 \
    (sr)->cr3 = (st)->cr3;                                                 \
    (sr)->cr4 = (st)->cr4;                                                 \
    (sr)->cr8 = (st)->cr8;                                                 \
    (sr)->efer = (st)->efer;                                               \
    (sr)->apic_base = (st)->apic_base;                                     \
} while (0)

static bool kvm_have_sregs2(void)
{
    return kvm_check_extension(kvm_state, KVM_CAP_SREGS2) > 0;
}

/*
 * SREGS2 adds the PAE PDPTRs, which a PAE guest may have loaded from
 * memory it has since changed.  Plain SREGS carries a pending interrupt
 * bitmap too, but the events (KVM_GET_VCPU_EVENTS) already hold it.
 */
static bool kvm_cpu_get_sregs(CPUState *cpu, KVMCPUSaved *st, Error **errp)
{
    if (kvm_have_sregs2()) {
        struct kvm_sregs2 sr;
        int ret = kvm_vcpu_ioctl(cpu, KVM_GET_SREGS2, &sr);

        if (!kvm_cpu_check(ret, cpu, "KVM_GET_SREGS2", errp)) {
            return false;
        }
        KVM_SREGS_FROM(st, &sr);
        st->pdptrs_valid = sr.flags & KVM_SREGS2_FLAGS_PDPTRS_VALID;
        for (int i = 0; i < 4; i++) {
            st->pdptrs[i] = st->pdptrs_valid ? sr.pdptrs[i] : 0;
        }
    } else {
        struct kvm_sregs sr;
        int ret = kvm_vcpu_ioctl(cpu, KVM_GET_SREGS, &sr);

        if (!kvm_cpu_check(ret, cpu, "KVM_GET_SREGS", errp)) {
            return false;
        }
        KVM_SREGS_FROM(st, &sr);
        st->pdptrs_valid = false;
    }
    return true;
}

static bool kvm_cpu_put_sregs(CPUState *cpu, KVMCPUSaved *st, Error **errp)
{
    if (kvm_have_sregs2()) {
        struct kvm_sregs2 sr;

        memset(&sr, 0, sizeof(sr));
        KVM_SREGS_TO(&sr, st);
        if (st->pdptrs_valid) {
            sr.flags = KVM_SREGS2_FLAGS_PDPTRS_VALID;
            for (int i = 0; i < 4; i++) {
                sr.pdptrs[i] = st->pdptrs[i];
            }
        }
        return kvm_cpu_check(kvm_vcpu_ioctl(cpu, KVM_SET_SREGS2, &sr), cpu,
                             "KVM_SET_SREGS2", errp);
    } else {
        struct kvm_sregs sr;

        /* No PDPTRs here: KVM reloads them from guest memory (CR3). */
        memset(&sr, 0, sizeof(sr));
        KVM_SREGS_TO(&sr, st);
        return kvm_cpu_check(kvm_vcpu_ioctl(cpu, KVM_SET_SREGS, &sr), cpu,
                             "KVM_SET_SREGS", errp);
    }
}

/* ---------------------------------------------------------------------
 * XSAVE and XCRs
 */

/* Bytes KVM's XSAVE ioctls move on this host (at least struct kvm_xsave). */
static uint32_t kvm_xsave_size(void)
{
    int size = kvm_check_extension(kvm_state, KVM_CAP_XSAVE2);

    return MAX((uint32_t)MAX(size, 0), (uint32_t)sizeof(struct kvm_xsave));
}

static bool kvm_cpu_get_xsave(CPUState *cpu, KVMCPUSaved *st, Error **errp)
{
    uint32_t size = kvm_xsave_size();
    g_autofree struct kvm_xsave *xs = NULL;
    bool v2 = kvm_check_extension(kvm_state, KVM_CAP_XSAVE2) > 0;
    int ret;

    if (size > sizeof(st->xsave)) {
        error_setg(errp, "vCPU %d: the XSAVE area of this host (%" PRIu32
                   " bytes) is larger than qmig can migrate (%zu)",
                   cpu->cpu_index, size, sizeof(st->xsave));
        return false;
    }
    xs = g_malloc0(size);
    ret = kvm_vcpu_ioctl(cpu, v2 ? KVM_GET_XSAVE2 : KVM_GET_XSAVE, xs);
    if (!kvm_cpu_check(ret, cpu, v2 ? "KVM_GET_XSAVE2" : "KVM_GET_XSAVE",
                       errp)) {
        return false;
    }
    memcpy(st->xsave, xs, size);
    st->xsave_len = size;
    return true;
}

/* The source's area, zero-padded to what this host's KVM reads. */
static bool kvm_cpu_put_xsave(CPUState *cpu, KVMCPUSaved *st, Error **errp)
{
    uint32_t size = MAX(kvm_xsave_size(), st->xsave_len);
    g_autofree uint8_t *buf = g_malloc0(size);

    memcpy(buf, st->xsave, st->xsave_len);
    return kvm_cpu_check(kvm_vcpu_ioctl(cpu, KVM_SET_XSAVE, buf), cpu,
                         "KVM_SET_XSAVE", errp);
}

static bool kvm_cpu_get_xcrs(CPUState *cpu, KVMCPUSaved *st, Error **errp)
{
    struct kvm_xcrs x;
    int ret;

    st->nr_xcrs = 0;
    if (!kvm_check_extension(kvm_state, KVM_CAP_XCRS)) {
        return true;
    }
    ret = kvm_vcpu_ioctl(cpu, KVM_GET_XCRS, &x);
    if (!kvm_cpu_check(ret, cpu, "KVM_GET_XCRS", errp)) {
        return false;
    }
    st->nr_xcrs = MIN(x.nr_xcrs, KVM_CPU_MAX_XCRS);
    for (uint32_t i = 0; i < st->nr_xcrs; i++) {
        st->xcrs[i].index = x.xcrs[i].xcr;
        st->xcrs[i].value = x.xcrs[i].value;
    }
    return true;
}

static bool kvm_cpu_put_xcrs(CPUState *cpu, KVMCPUSaved *st, Error **errp)
{
    struct kvm_xcrs x;

    if (!st->nr_xcrs) {
        return true;
    }
    memset(&x, 0, sizeof(x));
    x.nr_xcrs = st->nr_xcrs;
    for (uint32_t i = 0; i < st->nr_xcrs; i++) {
        x.xcrs[i].xcr = st->xcrs[i].index;
        x.xcrs[i].value = st->xcrs[i].value;
    }
    return kvm_cpu_check(kvm_vcpu_ioctl(cpu, KVM_SET_XCRS, &x), cpu,
                         "KVM_SET_XCRS", errp);
}

/* ---------------------------------------------------------------------
 * Events and debug registers
 */

static bool kvm_cpu_get_events(CPUState *cpu, KVMCPUSaved *st, Error **errp)
{
    struct kvm_vcpu_events ev;
    int ret = kvm_vcpu_ioctl(cpu, KVM_GET_VCPU_EVENTS, &ev);

    if (!kvm_cpu_check(ret, cpu, "KVM_GET_VCPU_EVENTS", errp)) {
        return false;
    }
    /* SIPI_VECTOR is input-only: send the vector back on put. */
    st->ev_flags = (ev.flags & KVM_CPU_EVENT_FLAGS) |
                   KVM_VCPUEVENT_VALID_SIPI_VECTOR;
    st->exc_injected = ev.exception.injected;
    st->exc_nr = ev.exception.nr;
    st->exc_has_error_code = ev.exception.has_error_code;
    st->exc_pending = ev.exception.pending;
    st->exc_error_code = ev.exception.error_code;
    st->exc_has_payload = ev.exception_has_payload;
    st->exc_payload = ev.exception_payload;
    st->irq_injected = ev.interrupt.injected;
    st->irq_nr = ev.interrupt.nr;
    st->irq_soft = ev.interrupt.soft;
    st->irq_shadow = ev.interrupt.shadow;
    st->nmi_injected = ev.nmi.injected;
    st->nmi_pending = ev.nmi.pending;
    st->nmi_masked = ev.nmi.masked;
    st->sipi_vector = ev.sipi_vector;
    st->smm = ev.smi.smm;
    st->smi_pending = ev.smi.pending;
    st->smm_inside_nmi = ev.smi.smm_inside_nmi;
    st->latched_init = ev.smi.latched_init;
    st->triple_fault_pending = ev.triple_fault.pending;
    return true;
}

static bool kvm_cpu_put_events(CPUState *cpu, KVMCPUSaved *st, Error **errp)
{
    struct kvm_vcpu_events ev;

    memset(&ev, 0, sizeof(ev));
    ev.flags = st->ev_flags;
    ev.exception.injected = st->exc_injected;
    ev.exception.nr = st->exc_nr;
    ev.exception.has_error_code = st->exc_has_error_code;
    ev.exception.pending = st->exc_pending;
    ev.exception.error_code = st->exc_error_code;
    ev.exception_has_payload = st->exc_has_payload;
    ev.exception_payload = st->exc_payload;
    ev.interrupt.injected = st->irq_injected;
    ev.interrupt.nr = st->irq_nr;
    ev.interrupt.soft = st->irq_soft;
    ev.interrupt.shadow = st->irq_shadow;
    ev.nmi.injected = st->nmi_injected;
    ev.nmi.pending = st->nmi_pending;
    ev.nmi.masked = st->nmi_masked;
    ev.sipi_vector = st->sipi_vector;
    ev.smi.smm = st->smm;
    ev.smi.pending = st->smi_pending;
    ev.smi.smm_inside_nmi = st->smm_inside_nmi;
    ev.smi.latched_init = st->latched_init;
    ev.triple_fault.pending = st->triple_fault_pending;
    return kvm_cpu_check(kvm_vcpu_ioctl(cpu, KVM_SET_VCPU_EVENTS, &ev), cpu,
                         "KVM_SET_VCPU_EVENTS", errp);
}

static bool kvm_cpu_get_debugregs(CPUState *cpu, KVMCPUSaved *st,
                                  Error **errp)
{
    struct kvm_debugregs d;
    int ret;

    st->has_debugregs = kvm_check_extension(kvm_state, KVM_CAP_DEBUGREGS);
    if (!st->has_debugregs) {
        return true;
    }
    ret = kvm_vcpu_ioctl(cpu, KVM_GET_DEBUGREGS, &d);
    if (!kvm_cpu_check(ret, cpu, "KVM_GET_DEBUGREGS", errp)) {
        return false;
    }
    for (int i = 0; i < 4; i++) {
        st->db[i] = d.db[i];
    }
    st->dr6 = d.dr6;
    st->dr7 = d.dr7;
    return true;
}

static bool kvm_cpu_put_debugregs(CPUState *cpu, KVMCPUSaved *st,
                                  Error **errp)
{
    struct kvm_debugregs d;

    if (!st->has_debugregs) {
        return true;
    }
    memset(&d, 0, sizeof(d));
    for (int i = 0; i < 4; i++) {
        d.db[i] = st->db[i];
    }
    d.dr6 = st->dr6;
    d.dr7 = st->dr7;
    return kvm_cpu_check(kvm_vcpu_ioctl(cpu, KVM_SET_DEBUGREGS, &d), cpu,
                         "KVM_SET_DEBUGREGS", errp);
}

/* ---------------------------------------------------------------------
 * Get and put
 */

/*
 * Finish an I/O or MMIO access whose exit was handled but whose
 * instruction KVM completes only on the next KVM_RUN (see the top of the
 * file).  immediate_exit makes that KVM_RUN return -EINTR right after.
 */
static bool kvm_cpu_complete_pending_io(CPUState *cpu, Error **errp)
{
    struct kvm_run *run = cpu->kvm_run;
    uint32_t reason = run->exit_reason;
    int ret, err;

    if (reason != KVM_EXIT_IO && reason != KVM_EXIT_MMIO) {
        return true;
    }
    trace_kvm_cpu_complete_io(cpu->cpu_index, reason);
    /* Not kvm_vcpu_ioctl(): that retries on EINTR, the expected result. */
    __atomic_store_n(&run->immediate_exit, 1, __ATOMIC_RELAXED);
    ret = ioctl(cpu->kvm_fd, KVM_RUN, 0);
    err = errno;
    __atomic_store_n(&run->immediate_exit, 0, __ATOMIC_RELAXED);
    if (ret < 0 && err != EINTR) {
        error_setg_errno(errp, err, "vCPU %d: could not complete its last "
                         "I/O access before saving its state",
                         cpu->cpu_index);
        return false;
    }
    /* Not an I/O exit any more: a second save must not run it again. */
    run->exit_reason = KVM_EXIT_INTR;
    return true;
}

static bool kvm_cpu_parked(CPUState *cpu, const char *what, Error **errp)
{
    assert(bql_locked());
    if (!cpu->stopped) {
        error_setg(errp, "Cannot %s the state of vCPU %d while it runs",
                   what, cpu->cpu_index);
        return false;
    }
    return true;
}

bool kvm_cpu_get_state(CPUState *cpu, Error **errp)
{
    KVMCPUSaved *st = kvm_cpu_saved_get(cpu);
    struct kvm_regs regs;
    struct kvm_lapic_state lapic;
    struct kvm_mp_state mp;

    if (!kvm_cpu_parked(cpu, "save", errp) ||
        !kvm_cpu_complete_pending_io(cpu, errp) ||
        !kvm_cpu_check(kvm_vcpu_ioctl(cpu, KVM_GET_REGS, &regs), cpu,
                       "KVM_GET_REGS", errp) ||
        !kvm_cpu_get_sregs(cpu, st, errp) ||
        !kvm_cpu_get_xsave(cpu, st, errp) ||
        !kvm_cpu_get_xcrs(cpu, st, errp) ||
        !kvm_cpu_get_msrs(cpu, st, errp) ||
        !kvm_cpu_check(kvm_vcpu_ioctl(cpu, KVM_GET_LAPIC, &lapic), cpu,
                       "KVM_GET_LAPIC", errp) ||
        !kvm_cpu_check(kvm_vcpu_ioctl(cpu, KVM_GET_MP_STATE, &mp), cpu,
                       "KVM_GET_MP_STATE", errp) ||
        !kvm_cpu_get_events(cpu, st, errp) ||
        !kvm_cpu_get_debugregs(cpu, st, errp)) {
        return false;
    }
    kvm_cpu_regs_from(st, &regs);
    memcpy(st->lapic, lapic.regs, sizeof(st->lapic));
    st->mp_state = mp.mp_state;
    trace_kvm_cpu_get_state(cpu->cpu_index, st->rip, st->mp_state,
                            st->nr_msrs, st->xsave_len);
    return true;
}

/*
 * QEMU's order: general registers, XSAVE, XCRs, sregs (EFER, CR4 and
 * the APIC base must precede what depends on them), MSRs; then the LAPIC
 * (its mode comes from the APIC base), the MP state and the events, which
 * both refer to LAPIC state; the TSC deadline once the LAPIC timer is in
 * deadline mode; the debug registers last.
 */
bool kvm_cpu_put_state(CPUState *cpu, Error **errp)
{
    KVMCPUSaved *st = kvm_cpu_saved_get(cpu);
    struct kvm_regs regs;
    struct kvm_lapic_state lapic;
    struct kvm_mp_state mp = { .mp_state = st->mp_state };

    if (!kvm_cpu_parked(cpu, "load", errp)) {
        return false;
    }
    memset(&regs, 0, sizeof(regs));
    kvm_cpu_regs_to(st, &regs);
    memcpy(lapic.regs, st->lapic, sizeof(lapic.regs));
    if (!kvm_cpu_check(kvm_vcpu_ioctl(cpu, KVM_SET_REGS, &regs), cpu,
                       "KVM_SET_REGS", errp) ||
        !kvm_cpu_put_xsave(cpu, st, errp) ||
        !kvm_cpu_put_xcrs(cpu, st, errp) ||
        !kvm_cpu_put_sregs(cpu, st, errp) ||
        !kvm_cpu_put_msrs(cpu, st, false, errp) ||
        !kvm_cpu_check(kvm_vcpu_ioctl(cpu, KVM_SET_LAPIC, &lapic), cpu,
                       "KVM_SET_LAPIC", errp) ||
        !kvm_cpu_check(kvm_vcpu_ioctl(cpu, KVM_SET_MP_STATE, &mp), cpu,
                       "KVM_SET_MP_STATE", errp) ||
        !kvm_cpu_put_events(cpu, st, errp) ||
        !kvm_cpu_put_msrs(cpu, st, true, errp) ||
        !kvm_cpu_put_debugregs(cpu, st, errp)) {
        return false;
    }
    trace_kvm_cpu_put_state(cpu->cpu_index, st->rip, st->mp_state,
                            st->nr_msrs);
    return true;
}

/* ---------------------------------------------------------------------
 * VMState
 */

static bool kvm_cpu_pre_save(void *opaque, Error **errp)
{
    KVMCPUSaved *st = opaque;

    return kvm_cpu_get_state(st->cpu, errp);
}

static bool kvm_cpu_pre_load(void *opaque, Error **errp)
{
    KVMCPUSaved *st = opaque;

    st->loaded = 0;
    return true;
}

static bool kvm_cpu_check_loaded(KVMCPUSaved *st, Error **errp)
{
    if (st->xsave_len < sizeof(struct kvm_xsave)) {
        error_setg(errp, "XSAVE area of %" PRIu32 " bytes is shorter than "
                   "KVM's minimum of %zu", st->xsave_len,
                   sizeof(struct kvm_xsave));
        return false;
    }
    if (st->xsave_len > kvm_xsave_size()) {
        error_setg(errp, "XSAVE area of %" PRIu32 " bytes is larger than "
                   "this host's (%" PRIu32 "): the source CPU has state this "
                   "one cannot hold", st->xsave_len, kvm_xsave_size());
        return false;
    }
    for (uint32_t i = 0; i < st->nr_msrs; i++) {
        if (!kvm_cpu_msr_known(st->msrs[i].index)) {
            error_setg(errp, "MSR 0x%" PRIx32 " is not one qmig migrates",
                       st->msrs[i].index);
            return false;
        }
    }
    if (st->mp_state > KVM_MP_STATE_SIPI_RECEIVED) {
        error_setg(errp, "unknown MP state %" PRIu32 " (an x86 vCPU has 0 "
                   "to %d)", st->mp_state, KVM_MP_STATE_SIPI_RECEIVED);
        return false;
    }
    if (st->ev_flags & ~KVM_CPU_EVENT_FLAGS) {
        error_setg(errp, "unknown vCPU event flags 0x%" PRIx32,
                   st->ev_flags & ~KVM_CPU_EVENT_FLAGS);
        return false;
    }
    if (st->exc_nr >= 32) {
        error_setg(errp, "exception vector %u is not an exception",
                   st->exc_nr);
        return false;
    }
    return true;
}

/*
 * Destination, BQL held, vCPUs parked: check what arrived, then write it
 * into KVM.  Subsections that did not arrive leave their part unset.
 */
static bool kvm_cpu_post_load(void *opaque, int version_id, Error **errp)
{
    KVMCPUSaved *st = opaque;

    st->pdptrs_valid = st->loaded & KVM_CPU_LOADED_PDPTRS;
    st->has_debugregs = st->loaded & KVM_CPU_LOADED_DEBUGREGS;
    if (!(st->loaded & KVM_CPU_LOADED_XCRS)) {
        st->nr_xcrs = 0;
    }
    if (!kvm_cpu_check_loaded(st, errp)) {
        return false;
    }
    return kvm_cpu_put_state(st->cpu, errp);
}

static bool kvm_cpu_pdptrs_needed(void *opaque)
{
    return ((KVMCPUSaved *)opaque)->pdptrs_valid;
}

static bool kvm_cpu_pdptrs_post_load(void *opaque, int version_id,
                                     Error **errp)
{
    ((KVMCPUSaved *)opaque)->loaded |= KVM_CPU_LOADED_PDPTRS;
    return true;
}

static bool kvm_cpu_xcrs_needed(void *opaque)
{
    return ((KVMCPUSaved *)opaque)->nr_xcrs != 0;
}

static bool kvm_cpu_xcrs_post_load(void *opaque, int version_id,
                                   Error **errp)
{
    ((KVMCPUSaved *)opaque)->loaded |= KVM_CPU_LOADED_XCRS;
    return true;
}

static bool kvm_cpu_debugregs_needed(void *opaque)
{
    return ((KVMCPUSaved *)opaque)->has_debugregs;
}

static bool kvm_cpu_debugregs_post_load(void *opaque, int version_id,
                                        Error **errp)
{
    ((KVMCPUSaved *)opaque)->loaded |= KVM_CPU_LOADED_DEBUGREGS;
    return true;
}

static const VMStateDescription vmstate_kvm_seg = {
    .name = "cpu/seg",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(base, KVMCPUSeg),
        VMSTATE_UINT32(limit, KVMCPUSeg),
        VMSTATE_UINT16(selector, KVMCPUSeg),
        VMSTATE_UINT8(type, KVMCPUSeg),
        VMSTATE_UINT8(present, KVMCPUSeg),
        VMSTATE_UINT8(dpl, KVMCPUSeg),
        VMSTATE_UINT8(db, KVMCPUSeg),
        VMSTATE_UINT8(s, KVMCPUSeg),
        VMSTATE_UINT8(l, KVMCPUSeg),
        VMSTATE_UINT8(g, KVMCPUSeg),
        VMSTATE_UINT8(avl, KVMCPUSeg),
        VMSTATE_UINT8(unusable, KVMCPUSeg),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_kvm_reg = {
    .name = "cpu/reg",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(index, KVMCPUReg),
        VMSTATE_UINT64(value, KVMCPUReg),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_kvm_cpu_pdptrs = {
    .name = "cpu/pdptrs",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = kvm_cpu_pdptrs_needed,
    .post_load = kvm_cpu_pdptrs_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64_ARRAY(pdptrs, KVMCPUSaved, 4),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_kvm_cpu_xcrs = {
    .name = "cpu/xcrs",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = kvm_cpu_xcrs_needed,
    .post_load = kvm_cpu_xcrs_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(nr_xcrs, KVMCPUSaved),
        VMSTATE_STRUCT_VARRAY_UINT32(xcrs, KVMCPUSaved, nr_xcrs, 1,
                                     vmstate_kvm_reg, KVMCPUReg),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_kvm_cpu_debugregs = {
    .name = "cpu/debugregs",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = kvm_cpu_debugregs_needed,
    .post_load = kvm_cpu_debugregs_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64_ARRAY(db, KVMCPUSaved, 4),
        VMSTATE_UINT64(dr6, KVMCPUSaved),
        VMSTATE_UINT64(dr7, KVMCPUSaved),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_kvm_cpu = {
    .name = "cpu",
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = kvm_cpu_pre_save,
    .pre_load = kvm_cpu_pre_load,
    .post_load = kvm_cpu_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64_ARRAY(gprs, KVMCPUSaved, KVM_CPU_NR_GPRS),
        VMSTATE_UINT64(rip, KVMCPUSaved),
        VMSTATE_UINT64(rflags, KVMCPUSaved),
        VMSTATE_STRUCT_ARRAY(segs, KVMCPUSaved, KVM_CPU_NR_SEGS, 1,
                             vmstate_kvm_seg, KVMCPUSeg),
        VMSTATE_UINT64(gdt_base, KVMCPUSaved),
        VMSTATE_UINT16(gdt_limit, KVMCPUSaved),
        VMSTATE_UINT64(idt_base, KVMCPUSaved),
        VMSTATE_UINT16(idt_limit, KVMCPUSaved),
        VMSTATE_UINT64(cr0, KVMCPUSaved),
        VMSTATE_UINT64(cr2, KVMCPUSaved),
        VMSTATE_UINT64(cr3, KVMCPUSaved),
        VMSTATE_UINT64(cr4, KVMCPUSaved),
        VMSTATE_UINT64(cr8, KVMCPUSaved),
        VMSTATE_UINT64(efer, KVMCPUSaved),
        VMSTATE_UINT64(apic_base, KVMCPUSaved),
        VMSTATE_UINT32(xsave_len, KVMCPUSaved),
        VMSTATE_VARRAY_UINT32(xsave, KVMCPUSaved, xsave_len, 1,
                              vmstate_info_uint8, uint8_t),
        VMSTATE_UINT32(nr_msrs, KVMCPUSaved),
        VMSTATE_STRUCT_VARRAY_UINT32(msrs, KVMCPUSaved, nr_msrs, 1,
                                     vmstate_kvm_reg, KVMCPUReg),
        VMSTATE_BUFFER(lapic, KVMCPUSaved),
        VMSTATE_UINT32(mp_state, KVMCPUSaved),
        VMSTATE_UINT32(ev_flags, KVMCPUSaved),
        VMSTATE_UINT8(exc_injected, KVMCPUSaved),
        VMSTATE_UINT8(exc_nr, KVMCPUSaved),
        VMSTATE_UINT8(exc_has_error_code, KVMCPUSaved),
        VMSTATE_UINT8(exc_pending, KVMCPUSaved),
        VMSTATE_UINT32(exc_error_code, KVMCPUSaved),
        VMSTATE_UINT8(exc_has_payload, KVMCPUSaved),
        VMSTATE_UINT64(exc_payload, KVMCPUSaved),
        VMSTATE_UINT8(irq_injected, KVMCPUSaved),
        VMSTATE_UINT8(irq_nr, KVMCPUSaved),
        VMSTATE_UINT8(irq_soft, KVMCPUSaved),
        VMSTATE_UINT8(irq_shadow, KVMCPUSaved),
        VMSTATE_UINT8(nmi_injected, KVMCPUSaved),
        VMSTATE_UINT8(nmi_pending, KVMCPUSaved),
        VMSTATE_UINT8(nmi_masked, KVMCPUSaved),
        VMSTATE_UINT32(sipi_vector, KVMCPUSaved),
        VMSTATE_UINT8(smm, KVMCPUSaved),
        VMSTATE_UINT8(smi_pending, KVMCPUSaved),
        VMSTATE_UINT8(smm_inside_nmi, KVMCPUSaved),
        VMSTATE_UINT8(latched_init, KVMCPUSaved),
        VMSTATE_UINT8(triple_fault_pending, KVMCPUSaved),
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * const []) {
        &vmstate_kvm_cpu_pdptrs,
        &vmstate_kvm_cpu_xcrs,
        &vmstate_kvm_cpu_debugregs,
        NULL
    },
};

void kvm_cpu_state_register(CPUState *cpu)
{
    KVMCPUSaved *st = g_new0(KVMCPUSaved, 1);

    assert(bql_locked() && cpu->cpu_index >= 0);
    if (!kvm_cpu_saved) {
        kvm_cpu_saved = g_ptr_array_new();
    }
    if ((guint)cpu->cpu_index >= kvm_cpu_saved->len) {
        g_ptr_array_set_size(kvm_cpu_saved, cpu->cpu_index + 1);
    }
    assert(!g_ptr_array_index(kvm_cpu_saved, cpu->cpu_index));
    st->cpu = cpu;
    g_ptr_array_index(kvm_cpu_saved, cpu->cpu_index) = st;
    kvm_cpu_probe_msrs(cpu);
    vmstate_register(cpu->cpu_index, &vmstate_kvm_cpu, st);
}
