/*
 * KVM: the VM file descriptor, in-kernel devices and memory slots.
 *
 * The VM is created once by machine_init() (main thread, BQL held) with
 * the in-kernel irqchip (PIC, IOAPIC, LAPICs) and PIT, so HLT, timer and
 * interrupt delivery never leave the kernel.  Guest RAM is registered as
 * one KVM memory slot per guest-physical section; the slot table is kept
 * so that migration can switch dirty logging on per slot.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/ioctl.h>
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "system/kvm.h"
#include "kvm-internal.h"
#include "trace.h"

/* Where QEMU puts the EPT identity map and the real-mode TSS: below 4 GiB,
 * above the 3 GiB RAM hole start, clear of the IOAPIC/LAPIC pages. */
#define KVM_IDENTITY_MAP_ADDR 0xfeffc000ULL
#define KVM_TSS_ADDR          0xfeffd000ULL

KVMState *kvm_state;

static int kvm_ioctl_va(int fd, unsigned long type, va_list ap)
{
    void *arg = va_arg(ap, void *);
    int ret = RETRY_ON_EINTR(ioctl(fd, type, arg));

    return ret < 0 ? -errno : ret;
}

int kvm_ioctl(KVMState *s, unsigned long type, ...)
{
    va_list ap;
    int ret;

    va_start(ap, type);
    ret = kvm_ioctl_va(s->fd, type, ap);
    va_end(ap);
    return ret;
}

int kvm_vm_ioctl(KVMState *s, unsigned long type, ...)
{
    va_list ap;
    int ret;

    va_start(ap, type);
    ret = kvm_ioctl_va(s->vmfd, type, ap);
    va_end(ap);
    return ret;
}

int kvm_vcpu_ioctl(CPUState *cpu, unsigned long type, ...)
{
    va_list ap;
    int ret;

    va_start(ap, type);
    ret = kvm_ioctl_va(cpu->kvm_fd, type, ap);
    va_end(ap);
    return ret;
}

int kvm_check_extension(KVMState *s, unsigned int extension)
{
    int fd = s->vmfd >= 0 ? s->vmfd : s->fd;
    int ret = ioctl(fd, KVM_CHECK_EXTENSION, (unsigned long)extension);

    return ret < 0 ? 0 : ret;
}

bool kvm_enabled(void)
{
    return kvm_state != NULL;
}

static bool kvm_open_vm(KVMState *s, Error **errp)
{
    int ret;

    s->fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (s->fd < 0) {
        error_setg_errno(errp, errno, "Could not access KVM kernel module");
        return false;
    }
    ret = kvm_ioctl(s, KVM_GET_API_VERSION, 0);
    if (ret != KVM_API_VERSION) {
        error_setg(errp, "KVM API version %d is not supported (qmig needs %d)",
                   ret, KVM_API_VERSION);
        return false;
    }
    s->vmfd = kvm_ioctl(s, KVM_CREATE_VM, 0);
    if (s->vmfd < 0) {
        error_setg_errno(errp, -s->vmfd, "Could not create the KVM VM "
                         "(KVM_CREATE_VM)");
        s->vmfd = -1;
        return false;
    }
    return true;
}

static bool kvm_check_caps(KVMState *s, Error **errp)
{
    static const struct {
        unsigned int cap;
        const char *name;
    } required[] = {
        { KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
        { KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
        { KVM_CAP_PIT2, "KVM_CAP_PIT2" },
        { KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
        { KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR" },
        { KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
        { KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
        { KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(required); i++) {
        if (!kvm_check_extension(s, required[i].cap)) {
            error_setg(errp, "KVM kernel module lacks %s, which qmig needs",
                       required[i].name);
            return false;
        }
    }
    s->nr_slots_max = kvm_check_extension(s, KVM_CAP_NR_MEMSLOTS);
    if (s->nr_slots_max <= 0) {
        s->nr_slots_max = 32;   /* the historical minimum */
    }
    s->vcpu_mmap_size = kvm_ioctl(s, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (s->vcpu_mmap_size < (int)sizeof(struct kvm_run)) {
        error_setg(errp, "KVM_GET_VCPU_MMAP_SIZE returned %d",
                   s->vcpu_mmap_size);
        return false;
    }
    return true;
}

/* Real-mode support pages and the in-kernel PIC/IOAPIC/LAPIC and PIT. */
static bool kvm_create_platform(KVMState *s, Error **errp)
{
    uint64_t identity = KVM_IDENTITY_MAP_ADDR;
    struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
    int ret;

    ret = kvm_vm_ioctl(s, KVM_SET_IDENTITY_MAP_ADDR, &identity);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "KVM_SET_IDENTITY_MAP_ADDR failed");
        return false;
    }
    ret = ioctl(s->vmfd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR);
    if (ret < 0) {
        error_setg_errno(errp, errno, "KVM_SET_TSS_ADDR failed");
        return false;
    }
    ret = kvm_vm_ioctl(s, KVM_CREATE_IRQCHIP, NULL);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not create the in-kernel irqchip "
                         "(KVM_CREATE_IRQCHIP)");
        return false;
    }
    ret = kvm_vm_ioctl(s, KVM_CREATE_PIT2, &pit);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not create the in-kernel PIT "
                         "(KVM_CREATE_PIT2)");
        return false;
    }
    return true;
}

/*
 * Dirty tracking set-up that must precede vCPU creation.  Manual dirty
 * log protection only changes what KVM_GET_DIRTY_LOG does, so enabling it
 * now is harmless while every slot has logging off.
 */
static bool kvm_setup_dirty_tracking(KVMState *s, const KVMConfig *cfg,
                                     Error **errp)
{
    int caps = kvm_check_extension(s, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);

    if (caps & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE) {
        struct kvm_enable_cap cap = {
            .cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
            .args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE,
        };

        s->manual_dirty_log = kvm_vm_ioctl(s, KVM_ENABLE_CAP, &cap) == 0;
    }
    if (cfg && cfg->dirty_ring_size) {
        uint64_t bytes = (uint64_t)cfg->dirty_ring_size *
                         sizeof(struct kvm_dirty_gfn);
        int max = kvm_check_extension(s, KVM_CAP_DIRTY_LOG_RING);
        struct kvm_enable_cap cap = {
            .cap = KVM_CAP_DIRTY_LOG_RING,
            .args[0] = bytes,
        };
        int ret;

        if (max <= 0) {
            error_setg(errp, "dirty-ring-size: this KVM has no dirty ring "
                       "(KVM_CAP_DIRTY_LOG_RING)");
            return false;
        }
        if (bytes > (uint64_t)max) {
            error_setg(errp, "dirty-ring-size %" PRIu32 " is larger than "
                       "KVM's maximum of %zu entries", cfg->dirty_ring_size,
                       max / sizeof(struct kvm_dirty_gfn));
            return false;
        }
        ret = kvm_vm_ioctl(s, KVM_ENABLE_CAP, &cap);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not enable the KVM dirty "
                             "ring of %" PRIu32 " entries",
                             cfg->dirty_ring_size);
            return false;
        }
        s->dirty_ring_size = cfg->dirty_ring_size;
    }
    trace_kvm_dirty_tracking(s->manual_dirty_log, s->dirty_ring_size);
    return true;
}

static void kvm_state_free(KVMState *s)
{
    if (s->vmfd >= 0) {
        close(s->vmfd);
    }
    if (s->fd >= 0) {
        close(s->fd);
    }
    g_ptr_array_free(s->slots, true);
    g_free(s);
}

bool kvm_init(const KVMConfig *cfg, Error **errp)
{
    KVMState *s = g_new0(KVMState, 1);

    assert(!kvm_state);
    s->fd = -1;
    s->vmfd = -1;
    s->slots = g_ptr_array_new_with_free_func(g_free);
    if (!kvm_open_vm(s, errp) ||
        !kvm_check_caps(s, errp) ||
        !kvm_create_platform(s, errp) ||
        !kvm_setup_dirty_tracking(s, cfg, errp) ||
        !kvm_init_kick_signal(errp)) {
        kvm_state_free(s);
        return false;
    }
    kvm_state = s;
    trace_kvm_init(s->vmfd, s->nr_slots_max, s->vcpu_mmap_size);
    return true;
}

static int kvm_slot_update(KVMSlot *slot)
{
    struct kvm_userspace_memory_region mem = {
        .slot = slot->slot,
        .flags = slot->flags,
        .guest_phys_addr = slot->gpa,
        .memory_size = slot->size,
        .userspace_addr = (uintptr_t)slot->host,
    };

    trace_kvm_set_user_memory(slot->slot, slot->flags, slot->gpa, slot->size,
                              slot->host);
    return kvm_vm_ioctl(kvm_state, KVM_SET_USER_MEMORY_REGION, &mem);
}

bool kvm_set_user_memory(GuestMemSection *section, Error **errp)
{
    KVMState *s = kvm_state;
    KVMSlot *slot;
    int ret;

    assert(s);
    if ((int)s->slots->len >= s->nr_slots_max) {
        error_setg(errp, "Out of KVM memory slots (KVM allows %d)",
                   s->nr_slots_max);
        return false;
    }
    slot = g_new0(KVMSlot, 1);
    slot->slot = s->slots->len;
    slot->gpa = section->gpa;
    slot->size = section->size;
    slot->host = section->block->host + section->offset;
    slot->section = section;
    ret = kvm_slot_update(slot);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not map guest RAM '%s' at 0x%"
                         PRIx64 " (%" PRIu64 " bytes) into KVM",
                         section->block->idstr, section->gpa, section->size);
        g_free(slot);
        return false;
    }
    g_ptr_array_add(s->slots, slot);
    section->slot = slot->slot;
    return true;
}

bool kvm_slot_set_dirty_logging(int slot_id, bool enable, Error **errp)
{
    KVMSlot *slot;
    uint32_t old;
    int ret;

    if (!kvm_state || slot_id < 0 || (guint)slot_id >= kvm_state->slots->len) {
        error_setg(errp, "No KVM memory slot %d", slot_id);
        return false;
    }
    slot = g_ptr_array_index(kvm_state->slots, slot_id);
    old = slot->flags;
    if (enable) {
        slot->flags |= KVM_MEM_LOG_DIRTY_PAGES;
    } else {
        slot->flags &= ~KVM_MEM_LOG_DIRTY_PAGES;
    }
    if (slot->flags == old) {
        return true;
    }
    ret = kvm_slot_update(slot);
    if (ret < 0) {
        slot->flags = old;
        error_setg_errno(errp, -ret, "Could not %s dirty logging on KVM "
                         "memory slot %d", enable ? "start" : "stop", slot_id);
        return false;
    }
    return true;
}

bool kvm_manual_dirty_log_protect(void)
{
    return kvm_state && kvm_state->manual_dirty_log;
}

void kvm_set_irq(int irq, int level)
{
    struct kvm_irq_level event = { .irq = irq, .level = level };
    int ret;

    trace_kvm_set_irq(irq, level);
    if (!kvm_state) {
        return;     /* -accel qtest: no interrupt controller */
    }
    ret = kvm_vm_ioctl(kvm_state, KVM_IRQ_LINE, &event);
    if (ret < 0) {
        error_report("KVM_IRQ_LINE %d=%d failed: %s", irq, level,
                     g_strerror(-ret));
    }
}
