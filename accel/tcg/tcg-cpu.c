/*
 * Software vCPU threads: the run loop, the exec token, kicks, port I/O,
 * HLT and faults the guest cannot handle.
 *
 * Each vCPU thread ("CPU N/TCG") holds the BQL except in its exec window,
 * where it runs its engine.  Only one engine executes at a time: the
 * holder of the exec token.  The token is a ticket lock, so vCPUs take
 * turns in order; a vCPU that has waited a slice (TCG_SLICE_US) asks the
 * holder to stop, which bounds how long one vCPU can starve another.
 * With one vCPU the token costs one uncontended mutex round trip per
 * exec window.
 *
 * Kicks: tcg_cpu_kick() sets TCGCPU.exit_request; the block hook, which
 * runs before every translation block, sees it and calls uc_emu_stop().
 * Unicorn 2.0.1 corrupts the guest when stopped anywhere else (a stop
 * taken after a store inside a block replays the block's earlier
 * stores), so nothing else stops an engine.  The hook also counts
 * blocks, which tcg_cpu_wait_boundary() uses to know that every store a
 * vCPU had begun has landed (dirty tracking, tcg-dirty.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <unicorn/x86.h>
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "hw/ioport.h"
#include "system/cpus.h"
#include "system/runstate.h"
#include "tcg-internal.h"
#include "trace.h"

/* How long a vCPU waits for the token before asking the holder to stop. */
#define TCG_SLICE_US 2000

typedef enum TCGExecResult {
    TCG_EXEC_AGAIN,     /* kicked or halted: re-check flags, maybe run */
    TCG_EXEC_PARK,      /* the guest cannot go on: park this vCPU */
} TCGExecResult;

/* The exec token: protected by tcg_token_lock. */
static GMutex tcg_token_lock;
static GCond tcg_token_cond;
static uint64_t tcg_token_next;     /* the next ticket to hand out */
static uint64_t tcg_token_serving;  /* the ticket that may run */
static TCGCPU *tcg_token_holder;

static void tcg_cpu_request_exit(TCGCPU *tc)
{
    __atomic_store_n(&tc->exit_request, 1, __ATOMIC_SEQ_CST);
}

void tcg_token_take(TCGCPU *tc)
{
    gint64 deadline = g_get_monotonic_time() + TCG_SLICE_US;
    uint64_t ticket;

    g_mutex_lock(&tcg_token_lock);
    ticket = tcg_token_next++;
    while (tcg_token_serving != ticket) {
        if (!tcg_token_holder) {
            /* Handed over, not yet taken: the taker broadcasts. */
            g_cond_wait(&tcg_token_cond, &tcg_token_lock);
            deadline = g_get_monotonic_time() + TCG_SLICE_US;
        } else if (!g_cond_wait_until(&tcg_token_cond, &tcg_token_lock,
                                      deadline) && tcg_token_holder) {
            /* Waited a whole slice: the holder's turn is over. */
            trace_tcg_token_preempt(tc->cpu->cpu_index,
                                    tcg_token_holder->cpu->cpu_index);
            tcg_cpu_request_exit(tcg_token_holder);
            deadline = g_get_monotonic_time() + TCG_SLICE_US;
        }
    }
    tcg_token_holder = tc;
    trace_tcg_token_take(tc->cpu->cpu_index, ticket);
    /* Waiters in the untimed wait above start their slice clock now. */
    g_cond_broadcast(&tcg_token_cond);
    g_mutex_unlock(&tcg_token_lock);
}

void tcg_token_put(void)
{
    g_mutex_lock(&tcg_token_lock);
    trace_tcg_token_put(tcg_token_holder ? tcg_token_holder->cpu->cpu_index
                                         : -1, tcg_token_serving);
    tcg_token_holder = NULL;
    tcg_token_serving++;
    g_cond_broadcast(&tcg_token_cond);
    g_mutex_unlock(&tcg_token_lock);
}

void tcg_cpu_kick(CPUState *cpu)
{
    tcg_cpu_request_exit(tcg_cpu(cpu));
}

/* ---------------------------------------------------------------------
 * Hooks, called by the engine on the vCPU thread inside its exec window.
 */

void tcg_block_hook(uc_engine *uc, uint64_t addr, uint32_t size,
                    void *opaque)
{
    TCGCPU *tc = opaque;

    __atomic_store_n(&tc->blocks, tc->blocks + 1, __ATOMIC_RELEASE);
    if (__atomic_load_n(&tc->exit_request, __ATOMIC_RELAXED) &&
        !tc->in_stub) {
        uc_emu_stop(uc);
    }
}

/* Every store before the IN/OUT has landed: as good as a boundary. */
void tcg_cpu_boundary_enter(TCGCPU *tc)
{
    __atomic_store_n(&tc->blocks, tc->blocks + 1, __ATOMIC_RELEASE);
    __atomic_store_n(&tc->at_boundary, 1, __ATOMIC_SEQ_CST);
}

void tcg_cpu_boundary_leave(TCGCPU *tc)
{
    __atomic_store_n(&tc->at_boundary, 0, __ATOMIC_SEQ_CST);
}

uint32_t tcg_io_in_hook(uc_engine *uc, uint32_t port, int size,
                        void *opaque)
{
    uint32_t val;

    tcg_cpu_boundary_enter(opaque);
    bql_lock();
    val = portio_read(port, size);
    bql_unlock();
    tcg_cpu_boundary_leave(opaque);
    trace_tcg_io(((TCGCPU *)opaque)->cpu->cpu_index, port, size, 0, val);
    return val;
}

void tcg_io_out_hook(uc_engine *uc, uint32_t port, int size,
                     uint32_t value, void *opaque)
{
    trace_tcg_io(((TCGCPU *)opaque)->cpu->cpu_index, port, size, 1, value);
    tcg_cpu_boundary_enter(opaque);
    bql_lock();
    portio_write(port, value, size);
    bql_unlock();
    tcg_cpu_boundary_leave(opaque);
}

/*
 * An exception or INT n.  qmig's machine has no interrupt sources the
 * guests enable, and Unicorn never delivers through the guest's IDT/IVT,
 * so an exception the guest did not expect ends like a triple fault does
 * on hardware: the machine resets (QEMU and KVM report the same).  The
 * vector is kept for the log.
 */
void tcg_intr_hook(uc_engine *uc, uint32_t intno, void *opaque)
{
    TCGCPU *tc = opaque;

    trace_tcg_exception(tc->cpu->cpu_index, intno);
    tc->shutdown = true;
    tcg_cpu_request_exit(tc);
    uc_emu_stop(uc);
}

bool tcg_invalid_hook(uc_engine *uc, void *opaque)
{
    TCGCPU *tc = opaque;

    trace_tcg_exception(tc->cpu->cpu_index, 6);     /* #UD */
    tc->shutdown = true;
    return false;
}

/*
 * An access outside guest RAM and the APIC page.  Reads of an open bus
 * return all ones on a PC and writes are dropped; Unicorn cannot return
 * a value from this hook, so the access faults instead: say so clearly.
 */
bool tcg_unmapped_hook(uc_engine *uc, uc_mem_type type, uint64_t addr,
                       int size, int64_t value, void *opaque)
{
    TCGCPU *tc = opaque;

    error_report("vCPU %d: guest %s of %d bytes at unmapped physical "
                 "address 0x%" PRIx64, tc->cpu->cpu_index,
                 type == UC_MEM_WRITE_UNMAPPED ? "write" :
                 type == UC_MEM_FETCH_UNMAPPED ? "instruction fetch" :
                 "read", size, addr);
    return false;
}

/* ---------------------------------------------------------------------
 * The exec window.
 */

/* Did the engine stop on a HLT?  EIP is past it, the byte before is F4. */
static bool tcg_cpu_halted(TCGCPU *tc)
{
    uint64_t eip = 0, cs = 0;
    uint8_t insn = 0;

    uc_reg_read(tc->uc, UC_X86_REG_EIP, &eip);
    uc_reg_read(tc->uc, UC_X86_REG_CS, &cs);
    if (eip == 0) {
        return false;
    }
    return uc_mem_read(tc->uc, tcg_engine_seg_base(tc, cs) + eip - 1,
                       &insn, 1) == UC_ERR_OK && insn == 0xf4;
}

/* Engine owner: one run until kicked, halted or failed. */
static TCGExecResult tcg_cpu_run(TCGCPU *tc)
{
    while (!__atomic_load_n(&tc->exit_request, __ATOMIC_SEQ_CST)) {
        uint64_t eip = 0;
        uc_err err;

        uc_reg_read(tc->uc, UC_X86_REG_EIP, &eip);
        __atomic_store_n(&tc->running, 1, __ATOMIC_SEQ_CST);
        err = uc_emu_start(tc->uc, eip, 0, 0, 0);
        __atomic_store_n(&tc->running, 0, __ATOMIC_SEQ_CST);
        trace_tcg_exec_stop(tc->cpu->cpu_index, err);
        if (tc->shutdown || err != UC_ERR_OK) {
            return TCG_EXEC_PARK;
        }
        if (__atomic_load_n(&tc->exit_request, __ATOMIC_SEQ_CST)) {
            break;
        }
        if (tcg_cpu_halted(tc)) {
            tc->mp_state = TCG_MP_HALTED;
            break;
        }
        /*
         * Stopped with no kick and no HLT: Unicorn's silent triple fault
         * (an exception while delivering one) ends the same way.
         */
        tc->shutdown = true;
        return TCG_EXEC_PARK;
    }
    return TCG_EXEC_AGAIN;
}

static TCGExecResult tcg_cpu_exec(CPUState *cpu)
{
    TCGCPU *tc = tcg_cpu(cpu);
    TCGExecResult result;

    tcg_dirty_note_paging(tc);
    bql_unlock();
    tcg_token_take(tc);
    result = tcg_cpu_run(tc);
    tcg_token_put();
    __atomic_store_n(&tc->exit_request, 0, __ATOMIC_SEQ_CST);
    bql_lock();
    if (result == TCG_EXEC_PARK) {
        tcg_engine_dump_regs(tc);
        error_report("vCPU %d: the guest faulted with no way to deliver the "
                     "exception (triple fault): resetting", cpu->cpu_index);
        qemu_system_shutdown_request(SHUTDOWN_CAUSE_GUEST_RESET);
    }
    return result;
}

static void *tcg_vcpu_thread_fn(void *opaque)
{
    CPUState *cpu = opaque;
    TCGCPU *tc = tcg_cpu(cpu);

    bql_lock();
    cpu_thread_begin(cpu);
    trace_tcg_vcpu_thread_start(cpu->cpu_index);
    while (!cpu->exit_thread) {
        if (cpu_can_run(cpu)) {
            if (!tcg_apic_take_ipis(tc) || tc->mp_state != TCG_MP_RUNNABLE) {
                /* Halted or waiting for SIPI: sleep until kicked. */
                cpu_wait_kick(cpu);
            } else if (tcg_cpu_exec(cpu) == TCG_EXEC_PARK) {
                cpu_park_self(cpu);
            }
        }
        cpu_wait_io_event(cpu);
    }
    trace_tcg_vcpu_thread_exit(cpu->cpu_index);
    bql_unlock();
    return NULL;
}

void tcg_start_vcpus(void)
{
    cpus_start_threads("TCG", tcg_vcpu_thread_fn);
}

/* ---------------------------------------------------------------------
 * Waiting for vCPUs to leave their exec windows or pass a block boundary.
 */

void tcg_cpu_wait_boundary(void)
{
    CPUState *cpu;

    CPU_FOREACH(cpu) {
        TCGCPU *tc = tcg_cpu(cpu);
        uint64_t seen = __atomic_load_n(&tc->blocks, __ATOMIC_ACQUIRE);

        /*
         * A vCPU in a BQL-taking hook is at a boundary already, and may
         * be waiting for the BQL our caller holds (calc-dirty-rate).
         */
        while (__atomic_load_n(&tc->running, __ATOMIC_ACQUIRE) &&
               !__atomic_load_n(&tc->at_boundary, __ATOMIC_SEQ_CST) &&
               __atomic_load_n(&tc->blocks, __ATOMIC_ACQUIRE) == seen) {
            sched_yield();
        }
    }
}
