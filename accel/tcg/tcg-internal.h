/*
 * State shared by the files of accel/tcg/ (not part of the interface).
 *
 * The software accelerator runs each vCPU in its own Unicorn engine, in
 * its own thread, over the same host mappings of guest RAM that migration
 * reads and writes.  Unicorn engines are not safe to share between
 * threads and do not make locked instructions atomic against each other,
 * so only one engine executes guest code at a time (the "exec token",
 * tcg-cpu.c), as QEMU's single-threaded TCG does.
 *
 * Who may touch a vCPU's engine: its own thread, or a thread that holds
 * the BQL while every vCPU is parked (the CPU state hooks): a vCPU thread
 * takes the BQL back before it looks at its engine again.  Running guest
 * or stub code also needs the exec token.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ACCEL_TCG_INTERNAL_H
#define ACCEL_TCG_INTERNAL_H

#include <unicorn/unicorn.h>
#include "hw/core/cpu.h"
#include "system/ramblock.h"
#include "system/accel-ops.h"

/* Where a real machine's firmware would be: a page of helper code. */
#define TCG_STUB_ADDR       0xfffff000ULL
#define TCG_APIC_BASE       0xfee00000ULL
#define TCG_APIC_SIZE       0x1000
#define TCG_APIC_REG_SIZE   0x400

/* Multiprocessor states, the values KVM_GET_MP_STATE uses. */
enum {
    TCG_MP_RUNNABLE = 0,
    TCG_MP_UNINITIALIZED = 1,
    TCG_MP_INIT_RECEIVED = 2,
    TCG_MP_HALTED = 3,
    TCG_MP_SIPI_RECEIVED = 4,
};

/* Pending inter-processor events (TCGCPU.ipi, atomic bits). */
#define TCG_IPI_INIT        0x1
#define TCG_IPI_SIPI        0x2

typedef struct TCGCPU {
    CPUState *cpu;
    uc_engine *uc;              /* see the header comment for who may use it */
    uc_hook hook_block;
    uc_hook hook_in, hook_out, hook_intr, hook_invalid, hook_unmapped;
    uc_hook hook_write;         /* the dirty-log write hook */

    /*
     * Set (atomic) by tcg_cpu_kick() from any thread; the block hook sees
     * it and stops the engine before the next translation block, the
     * only stop Unicorn 2.0.1 survives without replaying stores.
     * Cleared by the vCPU thread when it leaves its exec window.
     */
    int exit_request;
    /* Atomic: inside uc_emu_start() (guest code may be mid-block). */
    int running;
    /*
     * Atomic: translation blocks entered (and port I/O hooks, which also
     * follow every earlier store), for tcg_cpu_wait_boundary().
     */
    uint64_t blocks;
    /*
     * Atomic: inside a hook that takes the BQL (port I/O, an IPI).  Such
     * a hook follows every earlier store, so the vCPU is at a boundary
     * for as long as this is set, even while it waits for the BQL that a
     * tcg_cpu_wait_boundary() caller may hold.
     */
    int at_boundary;

    /* Engine owner: running the helper stub, which kicks do not stop. */
    bool in_stub;

    /* vCPU thread, or BQL while parked: */
    uint32_t mp_state;          /* TCG_MP_* */
    uint32_t ipi;               /* atomic: TCG_IPI_* waiting */
    uint8_t sipi_vector;        /* atomic with ipi: the last SIPI's vector */
    bool shutdown;              /* the guest cannot go on (triple fault) */

    /* The local APIC: a 1 KiB register page in KVM_GET_LAPIC layout. */
    uint8_t apic_regs[TCG_APIC_REG_SIZE];   /* vCPU thread, or parked+BQL */
} TCGCPU;

static inline TCGCPU *tcg_cpu(CPUState *cpu)
{
    return cpu->arch;
}

/* tcg-unicorn.c, main(): open libunicorn in its own symbol namespace. */
bool tcg_unicorn_load(Error **errp);

/* tcg-engine.c: a fresh engine for @tc (memory mapped, hooks on). */
bool tcg_engine_new(TCGCPU *tc, Error **errp);
void tcg_engine_free(TCGCPU *tc);
/*
 * tcg-engine.c, engine owner: load CR0, CR3, CR4 the way the guest's own
 * MOV to CRn would (Unicorn's register write only stores the value).
 */
bool tcg_engine_load_crs(TCGCPU *tc, uint64_t cr0, uint64_t cr3,
                         uint64_t cr4, Error **errp);
/* tcg-engine.c, engine owner: real mode at CS:IP = @cs:@ip, as after INIT. */
bool tcg_engine_reset_real(TCGCPU *tc, uint16_t cs, uint32_t ip,
                           Error **errp);
/* tcg-engine.c: log @tc's main registers with error_report(). */
void tcg_engine_dump_regs(TCGCPU *tc);
/*
 * tcg-engine.c, engine owner: the base of segment @selector as the guest
 * would load it now (real mode: selector * 16; protected mode: from the
 * descriptor in the guest's GDT or LDT, 0 if it cannot be read).
 */
uint64_t tcg_engine_seg_base(TCGCPU *tc, uint16_t selector);
/* Engine owner: the raw descriptor of @selector; false if unreadable. */
bool tcg_engine_read_desc(TCGCPU *tc, uint16_t selector, uint64_t *desc);

/* tcg-cpu.c: the engine hooks (vCPU thread, inside its exec window). */
void tcg_block_hook(uc_engine *uc, uint64_t addr, uint32_t size,
                    void *opaque);
uint32_t tcg_io_in_hook(uc_engine *uc, uint32_t port, int size,
                        void *opaque);
void tcg_io_out_hook(uc_engine *uc, uint32_t port, int size,
                     uint32_t value, void *opaque);
void tcg_intr_hook(uc_engine *uc, uint32_t intno, void *opaque);
bool tcg_invalid_hook(uc_engine *uc, void *opaque);
bool tcg_unmapped_hook(uc_engine *uc, uc_mem_type type, uint64_t addr,
                       int size, int64_t value, void *opaque);

/* tcg-cpu.c */
void tcg_cpu_kick(CPUState *cpu);
/* Any thread, no BQL: run an engine only while holding the exec token. */
void tcg_token_take(TCGCPU *tc);
void tcg_token_put(void);
void tcg_start_vcpus(void);

/* tcg-apic.c: the local APIC's MMIO page, mapped into every engine. */
bool tcg_apic_map(TCGCPU *tc, Error **errp);
void tcg_apic_reset(TCGCPU *tc);
/* vCPU thread: take pending INIT/SIPI; true if the vCPU may run. */
bool tcg_apic_take_ipis(TCGCPU *tc);

/* tcg-irqchip.c, BQL: ISA line @irq is at @level. */
void tcg_irqchip_set_irq(int irq, int level);
/* tcg-irqchip.c, BQL, vCPUs parked: the AccelOps state hooks. */
bool tcg_irqchip_get(X86IrqchipPart part, void *state, Error **errp);
bool tcg_irqchip_put(X86IrqchipPart part, const void *state, Error **errp);
/* tcg-cpu-state.c, BQL, @cpu parked: the AccelOps CPU state hooks. */
bool tcg_cpu_get_state(CPUState *cpu, X86CPUSaved *st, Error **errp);
bool tcg_cpu_put_state(CPUState *cpu, const X86CPUSaved *st, Error **errp);

/*
 * tcg-dirty.c, vCPU thread at exec entry (BQL): while logging, note a
 * guest that turned paging on (its stores then report linear addresses).
 */
void tcg_dirty_note_paging(TCGCPU *tc);
/* tcg-dirty.c: the write hook Unicorn calls before each guest store. */
void tcg_dirty_write_hook(uc_engine *uc, uc_mem_type type, uint64_t addr,
                          int size, int64_t value, void *opaque);

/*
 * tcg-cpu.c, any thread, with or without the BQL: wait until every vCPU
 * that is executing has entered a new translation block, is in a hook
 * that takes the BQL, or has left its exec window, so that every store
 * whose write hook already ran has landed in RAM.
 */
void tcg_cpu_wait_boundary(void);
/*
 * Around the part of a hook that takes the BQL: count a boundary and
 * stay "at a boundary" until done (see TCGCPU.at_boundary).
 */
void tcg_cpu_boundary_enter(TCGCPU *tc);
void tcg_cpu_boundary_leave(TCGCPU *tc);

#endif
