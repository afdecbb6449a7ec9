/*
 * The software accelerator (-accel tcg): Unicorn 2 engines as vCPUs.
 *
 * QEMU calls its software CPU "TCG"; qmig keeps the name and the
 * command-line spelling, and builds on Unicorn (a library that packages
 * QEMU's TCG with a C API) instead of a CPU emulator of its own.  The
 * machine around the vCPUs is the same as under KVM: the same RAMBlocks
 * (each engine maps the host memory directly, so migration reads and
 * writes the very bytes the guest sees), the same port I/O devices, the
 * same migration sections.  What KVM keeps in the kernel (LAPIC, PIC,
 * IOAPIC, PIT, clock) is kept here (tcg-apic.c, tcg-irqchip.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "hw/boards.h"
#include "system/accel-ops.h"
#include "system/cpus.h"
#include "system/dirty-log.h"
#include "tcg-internal.h"
#include "trace.h"

extern const DirtyLogOps tcg_dirty_log_ops;

static bool tcg_vcpus_created;

static bool tcg_init(MachineState *ms, Error **errp)
{
    unsigned major, minor;

    if (!tcg_unicorn_load(errp)) {
        return false;
    }
    uc_version(&major, &minor);
    if (major < 2) {
        error_setg(errp, "Unicorn %u.%u is too old: qmig needs 2.0 or newer",
                   major, minor);
        return false;
    }
    trace_tcg_init(major, minor);
    return true;
}

/* Engines map every section when they are created, which comes later. */
static bool tcg_set_user_memory(GuestMemSection *section, Error **errp)
{
    if (tcg_vcpus_created) {
        error_setg(errp, "tcg: guest RAM cannot be added after the vCPUs");
        return false;
    }
    return true;
}

static CPUState *tcg_create_vcpu(int index, Error **errp)
{
    CPUState *cpu = g_new0(CPUState, 1);
    TCGCPU *tc = g_new0(TCGCPU, 1);

    cpu->cpu_index = index;
    cpu->kvm_fd = -1;
    cpu->arch = tc;
    tc->cpu = cpu;
    tc->mp_state = index ? TCG_MP_UNINITIALIZED : TCG_MP_RUNNABLE;
    tcg_apic_reset(tc);
    /*
     * An AP waits for INIT/SIPI in the state RESET leaves (real mode), as
     * under KVM: that is what its "cpu" section carries until then, and a
     * fresh engine's flat 32-bit mode with null segments could not be
     * loaded back.  The BSP is reset by the machine.
     */
    if (!tcg_engine_new(tc, errp) ||
        (index && !tcg_engine_reset_real(tc, 0, 0, errp))) {
        tcg_engine_free(tc);
        g_free(tc);
        g_free(cpu);
        return NULL;
    }
    tcg_vcpus_created = true;
    cpu_list_add(cpu);
    return cpu;
}

static bool tcg_cpu_reset_realmode(CPUState *cpu, uint16_t ip, Error **errp)
{
    return tcg_engine_reset_real(tcg_cpu(cpu), 0, ip, errp);
}

/*
 * No device of qmig's machine raises an interrupt a guest has enabled
 * (the guests run with IF=0 and poll the UART), so the software PIC only
 * keeps the line levels for the "i8259" sections' IRR.
 */
static void tcg_set_irq(int irq, int level)
{
    tcg_irqchip_set_irq(irq, level);
}

const AccelOps tcg_accel_ops = {
    .name = "tcg",
    .init = tcg_init,
    .set_user_memory = tcg_set_user_memory,
    .create_vcpu = tcg_create_vcpu,
    .cpu_reset_realmode = tcg_cpu_reset_realmode,
    .start_vcpus = tcg_start_vcpus,
    .kick = tcg_cpu_kick,
    .set_irq = tcg_set_irq,
    .cpu_get_state = tcg_cpu_get_state,
    .cpu_put_state = tcg_cpu_put_state,
    .irqchip_get = tcg_irqchip_get,
    .irqchip_put = tcg_irqchip_put,
    .dirty_log = &tcg_dirty_log_ops,
};
