/*
 * KVM vCPUs: creation, CPUID and register set-up.
 *
 * All of this runs at machine creation, in the main thread with the BQL
 * held, before the vCPU threads first enter KVM_RUN.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/ioctl.h>
#include <sys/mman.h>
#include "qapi/error.h"
#include "hw/boards.h"
#include "system/kvm.h"
#include "system/cpus.h"
#include "kvm-internal.h"
#include "trace.h"

#define CPUID_1_EDX_HTT       (1u << 28)
#define CPUID_1_ECX_HYPERVISOR (1u << 31)

static unsigned kvm_nr_vcpus(void);
static bool kvm_vcpu_set_cpuid(CPUState *cpu, unsigned nr_cpus,
                               Error **errp);

static bool kvm_vcpu_map_dirty_ring(CPUState *cpu, Error **errp)
{
    KVMState *s = kvm_state;
    size_t bytes = (size_t)s->dirty_ring_size * sizeof(struct kvm_dirty_gfn);
    void *ring;

    if (!s->dirty_ring_size) {
        return true;
    }
    ring = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, cpu->kvm_fd,
                (off_t)getpagesize() * KVM_DIRTY_LOG_PAGE_OFFSET);
    if (ring == MAP_FAILED) {
        error_setg_errno(errp, errno, "Could not map the dirty ring of "
                         "vCPU %d", cpu->cpu_index);
        return false;
    }
    kvm_cpu(cpu)->dirty_gfns = ring;
    return true;
}

/*
 * With the in-kernel irqchip, KVM starts every vCPU but the first in
 * "uninitialized" state: it waits in KVM_RUN for INIT and STARTUP IPIs
 * from the guest.  Say so explicitly rather than rely on the default.
 */
static bool kvm_vcpu_set_initial_mp_state(CPUState *cpu, Error **errp)
{
    struct kvm_mp_state mp = {
        .mp_state = cpu->cpu_index ? KVM_MP_STATE_UNINITIALIZED
                                   : KVM_MP_STATE_RUNNABLE,
    };
    int ret = kvm_vcpu_ioctl(cpu, KVM_SET_MP_STATE, &mp);

    if (ret < 0) {
        error_setg_errno(errp, -ret, "KVM_SET_MP_STATE on vCPU %d failed",
                         cpu->cpu_index);
        return false;
    }
    return true;
}

static void kvm_vcpu_free(CPUState *cpu)
{
    if (cpu->kvm_run && cpu->kvm_run != MAP_FAILED) {
        munmap(cpu->kvm_run, cpu->kvm_run_size);
    }
    if (cpu->kvm_fd >= 0) {
        close(cpu->kvm_fd);
    }
    g_free(cpu->arch);
    g_free(cpu);
}

CPUState *kvm_create_vcpu(int index, Error **errp)
{
    KVMState *s = kvm_state;
    CPUState *cpu = g_new0(CPUState, 1);

    assert(s);
    cpu->cpu_index = index;
    cpu->arch = g_new0(KVMCPU, 1);
    cpu->kvm_fd = kvm_vm_ioctl(s, KVM_CREATE_VCPU, (void *)(uintptr_t)index);
    if (cpu->kvm_fd < 0) {
        error_setg_errno(errp, -cpu->kvm_fd, "Could not create vCPU %d "
                         "(KVM_CREATE_VCPU)", index);
        kvm_vcpu_free(cpu);
        return NULL;
    }
    cpu->kvm_run_size = s->vcpu_mmap_size;
    cpu->kvm_run = mmap(NULL, cpu->kvm_run_size, PROT_READ | PROT_WRITE,
                        MAP_SHARED, cpu->kvm_fd, 0);
    if (cpu->kvm_run == MAP_FAILED) {
        error_setg_errno(errp, errno, "Could not map the run area of vCPU %d",
                         index);
        kvm_vcpu_free(cpu);
        return NULL;
    }
    if (!kvm_vcpu_map_dirty_ring(cpu, errp) ||
        !kvm_vcpu_set_cpuid(cpu, kvm_nr_vcpus(), errp) ||
        !kvm_vcpu_set_initial_mp_state(cpu, errp)) {
        kvm_vcpu_free(cpu);
        return NULL;
    }
    cpu_list_add(cpu);
    /* Which MSRs migrate: asked once, of a vCPU that has not yet run. */
    kvm_cpu_probe_msrs(cpu);
    trace_kvm_create_vcpu(index, cpu->kvm_fd);
    return cpu;
}

/* The -smp count, which CPUID reports as the number of logical CPUs. */
static unsigned kvm_nr_vcpus(void)
{
    return current_machine && current_machine->smp_cpus ?
           current_machine->smp_cpus : 1;
}

/* KVM_GET_SUPPORTED_CPUID, asked once, growing the buffer until it fits. */
static struct kvm_cpuid2 *kvm_supported_cpuid(Error **errp)
{
    KVMState *s = kvm_state;
    int nent = 64;

    while (!s->supported_cpuid) {
        struct kvm_cpuid2 *c = g_malloc0(sizeof(*c) +
                                         nent * sizeof(c->entries[0]));
        int ret;

        c->nent = nent;
        ret = kvm_ioctl(s, KVM_GET_SUPPORTED_CPUID, c);
        if (ret == -E2BIG && nent < 4096) {
            g_free(c);
            nent *= 2;
            continue;
        }
        if (ret < 0) {
            g_free(c);
            error_setg_errno(errp, -ret, "KVM_GET_SUPPORTED_CPUID failed");
            return NULL;
        }
        s->supported_cpuid = c;
    }
    return s->supported_cpuid;
}

/*
 * The host's supported CPUID with this vCPU's topology filled in: APIC
 * ID (= cpu_index) in leaf 1 EBX[31:24] and the x2APIC ID in leaves
 * 0xB/0x1F EDX, the logical processor count in leaf 1 EBX[23:16].
 */
static void kvm_cpuid_set_topology(struct kvm_cpuid2 *c, unsigned apic_id,
                                   unsigned nr_cpus)
{
    for (uint32_t i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];

        switch (e->function) {
        case 1:
            e->ebx = (e->ebx & 0xffff) | (apic_id << 24) |
                     (MIN(nr_cpus, 255u) << 16);
            e->ecx |= CPUID_1_ECX_HYPERVISOR;
            if (nr_cpus > 1) {
                e->edx |= CPUID_1_EDX_HTT;
            }
            break;
        case 0xb:
        case 0x1f:
            e->edx = apic_id;
            break;
        default:
            break;
        }
    }
}

static bool kvm_vcpu_set_cpuid(CPUState *cpu, unsigned nr_cpus,
                               Error **errp)
{
    struct kvm_cpuid2 *sup = kvm_supported_cpuid(errp);
    g_autofree struct kvm_cpuid2 *c = NULL;
    size_t len;
    int ret;

    if (!sup) {
        return false;
    }
    len = sizeof(*sup) + sup->nent * sizeof(sup->entries[0]);
    c = g_memdup2(sup, len);
    kvm_cpuid_set_topology(c, cpu->cpu_index, nr_cpus);
    ret = kvm_vcpu_ioctl(cpu, KVM_SET_CPUID2, c);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "KVM_SET_CPUID2 on vCPU %d failed",
                         cpu->cpu_index);
        return false;
    }
    return true;
}

static void kvm_seg_realmode(struct kvm_segment *seg, uint16_t selector)
{
    seg->selector = selector;
    seg->base = (uint64_t)selector << 4;
    seg->limit = 0xffff;
}

bool kvm_cpu_reset_realmode(CPUState *cpu, uint16_t ip, Error **errp)
{
    struct kvm_sregs sregs;
    struct kvm_regs regs = {
        .rip = ip,
        .rflags = 0x2,          /* bit 1 is reserved and reads as one */
        .rsp = ip,              /* a stack just below the boot sector */
        .rdx = 0x80,            /* DL: the boot drive, as a BIOS passes it */
    };
    int ret;

    ret = kvm_vcpu_ioctl(cpu, KVM_GET_SREGS, &sregs);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "KVM_GET_SREGS on vCPU %d failed",
                         cpu->cpu_index);
        return false;
    }
    /* KVM's reset state is the BIOS reset vector; we have no BIOS. */
    kvm_seg_realmode(&sregs.cs, 0);
    kvm_seg_realmode(&sregs.ds, 0);
    kvm_seg_realmode(&sregs.es, 0);
    kvm_seg_realmode(&sregs.ss, 0);
    kvm_seg_realmode(&sregs.fs, 0);
    kvm_seg_realmode(&sregs.gs, 0);
    ret = kvm_vcpu_ioctl(cpu, KVM_SET_SREGS, &sregs);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "KVM_SET_SREGS on vCPU %d failed",
                         cpu->cpu_index);
        return false;
    }
    ret = kvm_vcpu_ioctl(cpu, KVM_SET_REGS, &regs);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "KVM_SET_REGS on vCPU %d failed",
                         cpu->cpu_index);
        return false;
    }
    trace_kvm_cpu_reset_realmode(cpu->cpu_index, ip);
    return true;
}

void kvm_vcpu_dump_regs(CPUState *cpu)
{
    struct kvm_regs r;
    struct kvm_sregs s;

    if (kvm_vcpu_ioctl(cpu, KVM_GET_REGS, &r) < 0 ||
        kvm_vcpu_ioctl(cpu, KVM_GET_SREGS, &s) < 0) {
        error_report("vCPU %d: could not read its registers", cpu->cpu_index);
        return;
    }
    error_report("vCPU %d: RIP=%016llx RFL=%08llx RSP=%016llx RAX=%016llx "
                 "RBX=%016llx RCX=%016llx RDX=%016llx",
                 cpu->cpu_index, r.rip, r.rflags, r.rsp, r.rax, r.rbx, r.rcx,
                 r.rdx);
    error_report("vCPU %d: CS=%04x base %016llx limit %08x DS=%04x SS=%04x "
                 "CR0=%08llx CR3=%08llx CR4=%08llx EFER=%08llx",
                 cpu->cpu_index, s.cs.selector, s.cs.base, s.cs.limit,
                 s.ds.selector, s.ss.selector, s.cr0, s.cr3, s.cr4, s.efer);
}
