/*
 * vCPU state for migration, KVM's side: KVM_GET_* into an X86CPUSaved on
 * the source, KVM_SET_* from one on the destination.  The section that
 * carries it ("cpu") and the checks of what a stream brings are the
 * accelerator's business no more: hw/i386/x86-cpu-state.c calls
 * kvm_cpu_get_state() and kvm_cpu_put_state() through current_accel.
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
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/ioctl.h>
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "hw/i386/x86-state.h"
#include "system/kvm.h"
#include "system/kvm-cpu-state.h"
#include "kvm-internal.h"
#include "trace.h"

/*
 * The stream's layout and values are KVM's: the shared definitions must
 * not drift from the kernel's.
 */
G_STATIC_ASSERT(X86_APIC_REG_SIZE == KVM_APIC_REG_SIZE);
G_STATIC_ASSERT(X86_CPU_MAX_XCRS == KVM_MAX_XCRS);
G_STATIC_ASSERT(X86_CPU_XSAVE_MIN == sizeof(struct kvm_xsave));
G_STATIC_ASSERT(X86_MP_STATE_RUNNABLE == KVM_MP_STATE_RUNNABLE);
G_STATIC_ASSERT(X86_MP_STATE_UNINITIALIZED == KVM_MP_STATE_UNINITIALIZED);
G_STATIC_ASSERT(X86_MP_STATE_INIT_RECEIVED == KVM_MP_STATE_INIT_RECEIVED);
G_STATIC_ASSERT(X86_MP_STATE_HALTED == KVM_MP_STATE_HALTED);
G_STATIC_ASSERT(X86_MP_STATE_SIPI_RECEIVED == KVM_MP_STATE_SIPI_RECEIVED);
G_STATIC_ASSERT(X86_EVENT_VALID_NMI_PENDING ==
                KVM_VCPUEVENT_VALID_NMI_PENDING);
G_STATIC_ASSERT(X86_EVENT_VALID_SIPI_VECTOR ==
                KVM_VCPUEVENT_VALID_SIPI_VECTOR);
G_STATIC_ASSERT(X86_EVENT_VALID_SHADOW == KVM_VCPUEVENT_VALID_SHADOW);
G_STATIC_ASSERT(X86_EVENT_VALID_SMM == KVM_VCPUEVENT_VALID_SMM);
G_STATIC_ASSERT(X86_EVENT_VALID_PAYLOAD == KVM_VCPUEVENT_VALID_PAYLOAD);
G_STATIC_ASSERT(X86_EVENT_VALID_TRIPLE_FAULT ==
                KVM_VCPUEVENT_VALID_TRIPLE_FAULT);
G_STATIC_ASSERT(X86_EVENT_VALID_ALL ==
                (KVM_VCPUEVENT_VALID_NMI_PENDING |
                 KVM_VCPUEVENT_VALID_SIPI_VECTOR |
                 KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM |
                 KVM_VCPUEVENT_VALID_PAYLOAD |
                 KVM_VCPUEVENT_VALID_TRIPLE_FAULT));

/*
 * Which entries of x86_cpu_msr_list migrate on this KVM, found once when
 * the first vCPU is created (BQL; its CPUID set, not yet run): those
 * KVM lets us read and write back.  KVM_GET_MSR_INDEX_LIST is not enough
 * on its own: KVM emulates MSRs it does not list (the MTRRs), and reads
 * some whose writes the vCPU's CPUID forbids (XSS without XSAVES), which
 * would only make the destination fail.  The trace says which were
 * skipped and whether KVM listed them.
 */
static bool kvm_cpu_msr_supported[X86_CPU_MAX_MSRS];    /* BQL */
static bool kvm_cpu_msrs_probed;                        /* BQL */

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

    if (index == X86_MSR_IA32_TSC) {
        return true;
    }
    m->entries[0].index = index;
    if (kvm_vcpu_ioctl(cpu, KVM_GET_MSRS, m) != 1) {
        return false;
    }
    return kvm_vcpu_ioctl(cpu, KVM_SET_MSRS, m) == 1;
}

void kvm_cpu_probe_msrs(CPUState *cpu)
{
    g_autofree struct kvm_msr_list *list = NULL;

    assert(bql_locked());
    if (kvm_cpu_msrs_probed) {
        return;
    }
    assert(x86_cpu_msr_list_len <= X86_CPU_MAX_MSRS);
    list = kvm_msr_index_list();
    for (size_t i = 0; i < x86_cpu_msr_list_len; i++) {
        bool listed = false, ok;

        for (uint32_t j = 0; list && j < list->nmsrs && !listed; j++) {
            listed = list->indices[j] == x86_cpu_msr_list[i];
        }
        ok = kvm_msr_migratable(cpu, x86_cpu_msr_list[i]);
        kvm_cpu_msr_supported[i] = ok;
        if (!ok) {
            trace_kvm_cpu_msr_skipped(x86_cpu_msr_list[i], listed);
        }
    }
    kvm_cpu_msrs_probed = true;
}

static bool kvm_cpu_get_msrs(CPUState *cpu, X86CPUSaved *st, Error **errp)
{
    g_autofree struct kvm_msrs *m = kvm_msrs_new(X86_CPU_MAX_MSRS);
    uint32_t n = 0;
    int ret;

    assert(kvm_cpu_msrs_probed);
    for (size_t i = 0; i < x86_cpu_msr_list_len; i++) {
        if (kvm_cpu_msr_supported[i]) {
            m->entries[n++].index = x86_cpu_msr_list[i];
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
static bool kvm_cpu_put_msrs(CPUState *cpu, const X86CPUSaved *st,
                             bool deadline, Error **errp)
{
    g_autofree struct kvm_msrs *m = kvm_msrs_new(X86_CPU_MAX_MSRS);
    uint32_t n = 0;
    int ret;

    for (uint32_t i = 0; i < st->nr_msrs; i++) {
        if ((st->msrs[i].index == X86_MSR_IA32_TSC_DEADLINE) == deadline) {
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

static void kvm_cpu_regs_from(X86CPUSaved *st, const struct kvm_regs *r)
{
    const uint64_t g[X86_CPU_NR_GPRS] = {
        r->rax, r->rbx, r->rcx, r->rdx, r->rsi, r->rdi, r->rsp, r->rbp,
        r->r8, r->r9, r->r10, r->r11, r->r12, r->r13, r->r14, r->r15,
    };

    memcpy(st->gprs, g, sizeof(g));
    st->rip = r->rip;
    st->rflags = r->rflags;
}

static void kvm_cpu_regs_to(const X86CPUSaved *st, struct kvm_regs *r)
{
    const uint64_t *g = st->gprs;

    r->rax = g[0]; r->rbx = g[1]; r->rcx = g[2]; r->rdx = g[3];
    r->rsi = g[4]; r->rdi = g[5]; r->rsp = g[6]; r->rbp = g[7];
    r->r8 = g[8]; r->r9 = g[9]; r->r10 = g[10]; r->r11 = g[11];
    r->r12 = g[12]; r->r13 = g[13]; r->r14 = g[14]; r->r15 = g[15];
    r->rip = st->rip;
    r->rflags = st->rflags;
}

static void kvm_seg_from(X86Seg *d, const struct kvm_segment *s)
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

static void kvm_seg_to(struct kvm_segment *d, const X86Seg *s)
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
 * macros copy it between them and X86CPUSaved.
 */
#define KVM_SREGS_FROM(st, sr) do {                                        \
    struct kvm_segment *segs_[X86_CPU_NR_SEGS] = {                         \
        &(sr)->cs, &(sr)->ds, &(sr)->es, &(sr)->fs,                        \
        &(sr)->gs, &(sr)->ss, &(sr)->tr, &(sr)->ldt,                       \
    };                                                                     \
    for (int i_ = 0; i_ < X86_CPU_NR_SEGS; i_++) {                         \
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
    struct kvm_segment *segs_[X86_CPU_NR_SEGS] = {                         \
        &(sr)->cs, &(sr)->ds, &(sr)->es, &(sr)->fs,                        \
        &(sr)->gs, &(sr)->ss, &(sr)->tr, &(sr)->ldt,                       \
    };                                                                     \
    for (int i_ = 0; i_ < X86_CPU_NR_SEGS; i_++) {                         \
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
static bool kvm_cpu_get_sregs(CPUState *cpu, X86CPUSaved *st, Error **errp)
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

static bool kvm_cpu_put_sregs(CPUState *cpu, const X86CPUSaved *st,
                              Error **errp)
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

static bool kvm_cpu_get_xsave(CPUState *cpu, X86CPUSaved *st, Error **errp)
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
static bool kvm_cpu_put_xsave(CPUState *cpu, const X86CPUSaved *st,
                              Error **errp)
{
    uint32_t size = MAX(kvm_xsave_size(), st->xsave_len);
    g_autofree uint8_t *buf = g_malloc0(size);

    memcpy(buf, st->xsave, st->xsave_len);
    return kvm_cpu_check(kvm_vcpu_ioctl(cpu, KVM_SET_XSAVE, buf), cpu,
                         "KVM_SET_XSAVE", errp);
}

static bool kvm_cpu_get_xcrs(CPUState *cpu, X86CPUSaved *st, Error **errp)
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
    st->nr_xcrs = MIN(x.nr_xcrs, X86_CPU_MAX_XCRS);
    for (uint32_t i = 0; i < st->nr_xcrs; i++) {
        st->xcrs[i].index = x.xcrs[i].xcr;
        st->xcrs[i].value = x.xcrs[i].value;
    }
    return true;
}

static bool kvm_cpu_put_xcrs(CPUState *cpu, const X86CPUSaved *st,
                             Error **errp)
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

static bool kvm_cpu_get_events(CPUState *cpu, X86CPUSaved *st, Error **errp)
{
    struct kvm_vcpu_events ev;
    int ret = kvm_vcpu_ioctl(cpu, KVM_GET_VCPU_EVENTS, &ev);

    if (!kvm_cpu_check(ret, cpu, "KVM_GET_VCPU_EVENTS", errp)) {
        return false;
    }
    /* SIPI_VECTOR is input-only: send the vector back on put. */
    st->ev_flags = (ev.flags & X86_EVENT_VALID_ALL) |
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

static bool kvm_cpu_put_events(CPUState *cpu, const X86CPUSaved *st,
                               Error **errp)
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

static bool kvm_cpu_get_debugregs(CPUState *cpu, X86CPUSaved *st,
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

static bool kvm_cpu_put_debugregs(CPUState *cpu, const X86CPUSaved *st,
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

bool kvm_cpu_get_state(CPUState *cpu, X86CPUSaved *st, Error **errp)
{
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
bool kvm_cpu_put_state(CPUState *cpu, const X86CPUSaved *st, Error **errp)
{
    struct kvm_regs regs;
    struct kvm_lapic_state lapic;
    struct kvm_mp_state mp = { .mp_state = st->mp_state };

    if (!kvm_cpu_parked(cpu, "load", errp)) {
        return false;
    }
    /*
     * x86-cpu-state.c checked the area against the format's bounds; only
     * this host knows whether its CPU has room for every component.
     */
    if (st->xsave_len > kvm_xsave_size()) {
        error_setg(errp, "vCPU %d: XSAVE area of %" PRIu32 " bytes is "
                   "larger than this host's (%" PRIu32 "): the source CPU "
                   "has state this one cannot hold", cpu->cpu_index,
                   st->xsave_len, kvm_xsave_size());
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
