/*
 * The local APIC of a software vCPU: enough of the xAPIC for a guest to
 * identify itself and start its application processors (INIT and
 * STARTUP IPIs through the ICR), with its registers kept in the 1 KiB
 * page layout KVM_GET_LAPIC uses, which is what the "cpu" section
 * carries: a guest migrated between kvm and tcg keeps its APIC ID, SVR,
 * LVTs and ICR.
 *
 * Not modelled (no qmig guest uses them; documented in
 * docs/devel/migration/tcg.md): the APIC timer, fixed-vector IPIs and
 * any interrupt delivery, x2APIC, relocating the APIC base.
 *
 * Threads: the MMIO callbacks run on the vCPU's own thread inside its
 * exec window; an IPI sets the target's TCGCPU.ipi bits and kicks it
 * under the BQL, so a target about to sleep in cpu_wait_kick() (which
 * checks its bits under the BQL) cannot miss it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <unicorn/x86.h>
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "tcg-internal.h"
#include "trace.h"

#define APIC_ID         0x20
#define APIC_LVR        0x30
#define APIC_DFR        0xe0
#define APIC_SVR        0xf0
#define APIC_ICR_LO     0x300
#define APIC_ICR_HI     0x310
#define APIC_LVT_FIRST  0x320
#define APIC_LVT_LAST   0x370
#define APIC_LVT_MASKED 0x10000

#define ICR_MODE(v)       (((v) >> 8) & 7)
#define ICR_MODE_INIT     5
#define ICR_MODE_STARTUP  6
#define ICR_LEVEL_ASSERT  (1u << 14)
#define ICR_TRIGGER_LEVEL (1u << 15)
#define ICR_SHORTHAND(v)  (((v) >> 18) & 3)

static uint32_t apic_get(TCGCPU *tc, unsigned reg)
{
    uint32_t v;

    memcpy(&v, tc->apic_regs + reg, 4);
    return v;
}

static void apic_set(TCGCPU *tc, unsigned reg, uint32_t v)
{
    memcpy(tc->apic_regs + reg, &v, 4);
}

void tcg_apic_reset(TCGCPU *tc)
{
    memset(tc->apic_regs, 0, sizeof(tc->apic_regs));
    apic_set(tc, APIC_ID, (uint32_t)tc->cpu->cpu_index << 24);
    apic_set(tc, APIC_LVR, 0x00050014);     /* integrated, 6 LVT entries */
    apic_set(tc, APIC_DFR, 0xffffffff);
    apic_set(tc, APIC_SVR, 0xff);
    for (unsigned r = APIC_LVT_FIRST; r <= APIC_LVT_LAST; r += 0x10) {
        apic_set(tc, r, APIC_LVT_MASKED);
    }
}

/* Does ICR shorthand/destination @icr_hi select @target? */
static bool apic_ipi_targets(TCGCPU *from, uint32_t icr, uint32_t icr_hi,
                             CPUState *target)
{
    switch (ICR_SHORTHAND(icr)) {
    case 1:
        return target == from->cpu;
    case 2:
        return true;
    case 3:
        return target != from->cpu;
    default:
        return (icr_hi >> 24) == 0xff ||
               (uint32_t)target->cpu_index == (icr_hi >> 24);
    }
}

static void apic_send_ipi(TCGCPU *tc, uint32_t icr)
{
    uint32_t icr_hi = apic_get(tc, APIC_ICR_HI);
    unsigned mode = ICR_MODE(icr);
    CPUState *cpu;

    if (mode == ICR_MODE_INIT && (icr & ICR_TRIGGER_LEVEL) &&
        !(icr & ICR_LEVEL_ASSERT)) {
        return;     /* INIT level de-assert: nothing to do on an xAPIC */
    }
    if (mode != ICR_MODE_INIT && mode != ICR_MODE_STARTUP) {
        trace_tcg_apic_ipi_unsupported(tc->cpu->cpu_index, icr);
        return;
    }
    bql_lock();
    CPU_FOREACH(cpu) {
        TCGCPU *t = tcg_cpu(cpu);

        if (!apic_ipi_targets(tc, icr, icr_hi, cpu)) {
            continue;
        }
        trace_tcg_apic_ipi(tc->cpu->cpu_index, cpu->cpu_index, mode,
                           icr & 0xff);
        if (mode == ICR_MODE_STARTUP) {
            __atomic_store_n(&t->sipi_vector, icr & 0xff, __ATOMIC_RELAXED);
        }
        __atomic_fetch_or(&t->ipi, mode == ICR_MODE_INIT ? TCG_IPI_INIT
                                                         : TCG_IPI_SIPI,
                          __ATOMIC_SEQ_CST);
        cpu_kick(cpu);
    }
    bql_unlock();
}

static uint64_t apic_mmio_read(uc_engine *uc, uint64_t offset, unsigned size,
                               void *opaque)
{
    TCGCPU *tc = opaque;

    if (offset >= TCG_APIC_REG_SIZE) {
        return 0;
    }
    return apic_get(tc, offset & ~3u) >> ((offset & 3) * 8);
}

static void apic_mmio_write(uc_engine *uc, uint64_t offset, unsigned size,
                            uint64_t value, void *opaque)
{
    TCGCPU *tc = opaque;
    unsigned reg = offset & ~0xfu;

    /* Registers are 32 bits on 16-byte boundaries; ID and LVR read-only. */
    if (offset >= TCG_APIC_REG_SIZE || (offset & 0xf) || size != 4 ||
        reg == APIC_LVR) {
        return;
    }
    apic_set(tc, reg, value);
    if (reg == APIC_ICR_LO) {
        /* It takes the BQL: a boundary for dirty-log syncs. */
        tcg_cpu_boundary_enter(tc);
        apic_send_ipi(tc, value);
        tcg_cpu_boundary_leave(tc);
        /* Delivery is immediate: the "send pending" bit never shows. */
        apic_set(tc, reg, value & ~(1u << 12));
    }
}

bool tcg_apic_map(TCGCPU *tc, Error **errp)
{
    uc_err err = uc_mmio_map(tc->uc, TCG_APIC_BASE, TCG_APIC_SIZE,
                             apic_mmio_read, tc, apic_mmio_write, tc);

    if (err != UC_ERR_OK) {
        error_setg(errp, "vCPU %d: could not map the local APIC: %s",
                   tc->cpu->cpu_index, uc_strerror(err));
        return false;
    }
    return true;
}

/*
 * STARTUP in wait-for-SIPI: real mode at vector * 4 KiB.  The engine is
 * the one made at machine creation (Unicorn's uc_open is not safe while
 * another engine runs), which has not run guest code before its SIPI.
 */
static bool tcg_apic_startup(TCGCPU *tc, uint8_t vector)
{
    Error *err = NULL;
    bool ok;

    /*
     * Running the reset stub takes the exec token, whose holder may be
     * waiting for the BQL in a port I/O hook: drop the BQL meanwhile.
     * Nobody else touches this engine then: only its own thread and the
     * CPU state hooks, which run with every vCPU parked.
     */
    bql_unlock();
    ok = tcg_engine_reset_real(tc, (uint16_t)vector << 8, 0, &err);
    bql_lock();
    if (!ok) {
        error_report_err(err);
        tc->shutdown = true;
        return false;
    }
    tc->mp_state = TCG_MP_RUNNABLE;
    return true;
}

bool tcg_apic_take_ipis(TCGCPU *tc)
{
    uint32_t bits = __atomic_exchange_n(&tc->ipi, 0, __ATOMIC_SEQ_CST);

    if (tc->shutdown) {
        return false;
    }
    if (bits & TCG_IPI_INIT) {
        tc->mp_state = TCG_MP_INIT_RECEIVED;
    }
    if ((bits & TCG_IPI_SIPI) && tc->mp_state == TCG_MP_INIT_RECEIVED) {
        return tcg_apic_startup(tc, __atomic_load_n(&tc->sipi_vector,
                                                    __ATOMIC_RELAXED));
    }
    return true;
}
