/*
 * KVM vCPU threads: the run loop, exit handling and kicks.
 *
 * Each vCPU thread ("CPU N/KVM") holds the BQL except while it is inside
 * KVM_RUN.  It drops the lock to run the guest and takes it back only for
 * exits that reach device models (port I/O) and to park.  HLT, the LAPIC
 * timer and INIT/SIPI are handled by the in-kernel irqchip: a halted vCPU
 * sleeps in the kernel, not here.
 *
 * Kicks: cpu_kick() sets KVMCPU.exit_request, then sends SIG_IPI to the
 * thread.  The handler sets kvm_run->immediate_exit, so a signal that
 * lands just before KVM_RUN still makes it return at once (EINTR), and
 * one that lands inside it interrupts the guest or the in-kernel halt.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/ioctl.h>
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "hw/ioport.h"
#include "system/kvm.h"
#include "system/cpus.h"
#include "system/runstate.h"
#include "kvm-internal.h"
#include "trace.h"

/* What kvm_cpu_exec() wants the thread to do next. */
typedef enum KVMExecResult {
    KVM_EXEC_AGAIN,     /* kicked: re-check the flags, then run again */
    KVM_EXEC_PARK,      /* the guest cannot go on: park this vCPU */
} KVMExecResult;

/* Runs on the vCPU thread that received SIG_IPI, inside or outside KVM_RUN. */
static void kvm_ipi_handler(int sig)
{
    CPUState *cpu = current_cpu_get();

    if (cpu && cpu->kvm_run) {
        __atomic_store_n(&cpu->kvm_run->immediate_exit, 1, __ATOMIC_RELAXED);
    }
}

bool kvm_init_kick_signal(Error **errp)
{
    struct sigaction sa = { .sa_handler = kvm_ipi_handler };

    sigemptyset(&sa.sa_mask);
    if (sigaction(SIG_IPI, &sa, NULL) < 0) {
        error_setg_errno(errp, errno, "Could not install the vCPU kick "
                         "signal handler");
        return false;
    }
    return true;
}

void kvm_cpu_kick(CPUState *cpu)
{
    KVMCPU *kc = kvm_cpu(cpu);

    __atomic_store_n(&kc->exit_request, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&cpu->thread_started, __ATOMIC_ACQUIRE) &&
        !qemu_thread_is_self(&cpu->thread)) {
        pthread_kill(cpu->thread.thread, SIG_IPI);
    }
}

bool qemu_cpu_is_self(CPUState *cpu)
{
    return current_cpu_get() == cpu;
}

/* KVM_EXIT_IO: one access, or a string (rep ins/outs) of @count. */
static void kvm_handle_io(struct kvm_run *run)
{
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    unsigned size = run->io.size;

    bql_lock();
    for (uint32_t i = 0; i < run->io.count; i++, data += size) {
        uint32_t val = 0;

        if (run->io.direction == KVM_EXIT_IO_OUT) {
            memcpy(&val, data, size);
            portio_write(run->io.port, val, size);
        } else {
            val = portio_read(run->io.port, size);
            memcpy(data, &val, size);
        }
    }
    bql_unlock();
}

/*
 * KVM_EXIT_MMIO: no device model claims MMIO (the APICs are in the
 * kernel), so there is no device state to protect and no BQL to take:
 * reads see an open bus, writes are dropped.
 */
static void kvm_handle_mmio(CPUState *cpu, struct kvm_run *run)
{
    uint64_t val = 0;

    if (run->mmio.is_write) {
        memcpy(&val, run->mmio.data, MIN(run->mmio.len, sizeof(val)));
    } else {
        memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
        val = UINT64_MAX;
    }
    trace_kvm_mmio_unassigned(cpu->cpu_index, run->mmio.phys_addr,
                              run->mmio.len, run->mmio.is_write, val);
}

static void kvm_report_internal_error(CPUState *cpu, struct kvm_run *run)
{
    g_autoptr(GString) data = g_string_new(NULL);

    for (uint32_t i = 0; i < run->internal.ndata &&
                         i < ARRAY_SIZE(run->internal.data); i++) {
        g_string_append_printf(data, " 0x%016llx", run->internal.data[i]);
    }
    error_report("KVM internal error on vCPU %d: suberror %u%s%s",
                 cpu->cpu_index, run->internal.suberror,
                 data->len ? ", extra data:" : "", data->str);
    if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) {
        error_report("vCPU %d: KVM could not emulate an instruction "
                     "(guest code in MMIO or an unsupported access)",
                     cpu->cpu_index);
    }
}

static KVMExecResult kvm_guest_failed(CPUState *cpu)
{
    kvm_vcpu_dump_regs(cpu);
    qemu_system_internal_error_request();
    return KVM_EXEC_PARK;
}

static KVMExecResult kvm_handle_system_event(CPUState *cpu,
                                             struct kvm_run *run)
{
    ShutdownCause cause;

    switch (run->system_event.type) {
    case KVM_SYSTEM_EVENT_SHUTDOWN:
        cause = SHUTDOWN_CAUSE_GUEST_SHUTDOWN;
        break;
    case KVM_SYSTEM_EVENT_RESET:
        cause = SHUTDOWN_CAUSE_GUEST_RESET;
        break;
    case KVM_SYSTEM_EVENT_CRASH:
        cause = SHUTDOWN_CAUSE_GUEST_PANIC;
        break;
    default:
        return KVM_EXEC_AGAIN;
    }
    qemu_system_shutdown_request(cause);
    return KVM_EXEC_PARK;
}

/* Handle one exit; true to go straight back into the guest. */
static bool kvm_handle_exit(CPUState *cpu, KVMExecResult *result)
{
    struct kvm_run *run = cpu->kvm_run;

    trace_kvm_run_exit(cpu->cpu_index, run->exit_reason);
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        trace_kvm_exit_io(cpu->cpu_index, run->io.port, run->io.direction,
                          run->io.size, run->io.count);
        kvm_handle_io(run);
        return true;
    case KVM_EXIT_MMIO:
        kvm_handle_mmio(cpu, run);
        return true;
    case KVM_EXIT_IRQ_WINDOW_OPEN:
    case KVM_EXIT_INTR:
    case KVM_EXIT_HLT:      /* not with the in-kernel irqchip */
        return true;
    case KVM_EXIT_DIRTY_RING_FULL:
        /* KVM will not run this vCPU again until its ring has room. */
        kvm_dirty_ring_handle_full(cpu);
        return true;
    case KVM_EXIT_SHUTDOWN:
        /* A triple fault: a PC resets, and so do we (via the main loop). */
        trace_kvm_exit_shutdown(cpu->cpu_index);
        qemu_system_shutdown_request(SHUTDOWN_CAUSE_GUEST_RESET);
        *result = KVM_EXEC_PARK;
        return false;
    case KVM_EXIT_SYSTEM_EVENT:
        *result = kvm_handle_system_event(cpu, run);
        return *result == KVM_EXEC_AGAIN;
    case KVM_EXIT_INTERNAL_ERROR:
        kvm_report_internal_error(cpu, run);
        *result = kvm_guest_failed(cpu);
        return false;
    case KVM_EXIT_FAIL_ENTRY:
        error_report("KVM failed to enter the guest on vCPU %d: hardware "
                     "entry failure reason 0x%llx", cpu->cpu_index,
                     run->fail_entry.hardware_entry_failure_reason);
        *result = kvm_guest_failed(cpu);
        return false;
    default:
        error_report("KVM: unhandled exit reason %u on vCPU %d",
                     run->exit_reason, cpu->cpu_index);
        *result = kvm_guest_failed(cpu);
        return false;
    }
}

/*
 * BQL held on entry and return; dropped while the guest runs.  Returns
 * when the vCPU was kicked (so the caller re-checks stop/exit flags under
 * the BQL) or when the guest cannot continue.
 */
static KVMExecResult kvm_cpu_exec(CPUState *cpu)
{
    KVMCPU *kc = kvm_cpu(cpu);
    struct kvm_run *run = cpu->kvm_run;
    KVMExecResult result = KVM_EXEC_AGAIN;

    bql_unlock();
    while (!__atomic_load_n(&kc->exit_request, __ATOMIC_SEQ_CST)) {
        int ret = ioctl(cpu->kvm_fd, KVM_RUN, 0);
        int err = errno;

        __atomic_store_n(&run->immediate_exit, 0, __ATOMIC_RELAXED);
        if (ret < 0) {
            if (err == EINTR || err == EAGAIN) {
                trace_kvm_run_eintr(cpu->cpu_index);
                continue;
            }
            error_report("KVM_RUN on vCPU %d failed: %s", cpu->cpu_index,
                         g_strerror(err));
            result = kvm_guest_failed(cpu);
            break;
        }
        if (!kvm_handle_exit(cpu, &result)) {
            break;
        }
    }
    __atomic_store_n(&kc->exit_request, 0, __ATOMIC_SEQ_CST);
    bql_lock();
    return result;
}

static void *kvm_vcpu_thread_fn(void *opaque)
{
    CPUState *cpu = opaque;
    sigset_t set;

    /* qemu_thread_create() blocked every signal; let the kick through. */
    sigemptyset(&set);
    sigaddset(&set, SIG_IPI);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);

    bql_lock();
    cpu_thread_begin(cpu);
    trace_kvm_vcpu_thread_start(cpu->cpu_index);
    while (!cpu->exit_thread) {
        if (cpu_can_run(cpu) && kvm_cpu_exec(cpu) == KVM_EXEC_PARK) {
            cpu_park_self(cpu);
        }
        cpu_wait_io_event(cpu);
    }
    trace_kvm_vcpu_thread_exit(cpu->cpu_index);
    bql_unlock();
    return NULL;
}

void kvm_start_vcpus(void)
{
    cpus_start_threads("KVM", kvm_vcpu_thread_fn);
}
