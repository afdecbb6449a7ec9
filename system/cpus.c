/*
 * vCPU list and pause/resume.
 *
 * The run state machine (system/runstate.c) decides when the guest runs;
 * this file makes the vCPU threads follow: pause_all_vcpus() asks each
 * vCPU to stop, kicks it out of KVM_RUN and waits until every thread has
 * parked; resume_all_vcpus() releases them.  The flags live in CPUState
 * and are protected by the BQL; the conditions below use the BQL as
 * their mutex, so a flag change and its wake-up cannot be missed.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/syscall.h>
#include "qemu/main-loop.h"
#include "hw/core/cpu.h"
#include "system/cpus.h"
#include "system/accel-ops.h"
#include "trace.h"

/* Read-only after machine creation; the array itself exists from start-up. */
GPtrArray *cpu_list;

/* Signalled when a vCPU thread has started (BQL). */
static GCond cpu_created_cond;
/* Signalled when a vCPU parks after a pause request (BQL). */
static GCond cpu_pause_cond;
/* Signalled when parked vCPUs should re-check their flags (BQL). */
static GCond cpu_halt_cond;

static __thread CPUState *current_cpu;

/*
 * CPU_FOREACH dereferences cpu_list; an empty list must exist even for
 * -accel qtest and before the machine is built.
 */
static void __attribute__((constructor)) cpu_list_init(void)
{
    cpu_list = g_ptr_array_new();
}

void cpu_list_add(CPUState *cpu)
{
    cpu->stopped = true;
    g_ptr_array_add(cpu_list, cpu);
}

CPUState *qemu_get_cpu(int index)
{
    if (index < 0 || (guint)index >= cpu_list->len) {
        return NULL;
    }
    return g_ptr_array_index(cpu_list, index);
}

CPUState *current_cpu_get(void)
{
    return current_cpu;
}

void cpu_thread_begin(CPUState *cpu)
{
    assert(bql_locked());
    current_cpu = cpu;
    __atomic_store_n(&cpu->thread_id, (int)syscall(SYS_gettid),
                     __ATOMIC_RELEASE);
    cpu->created = true;
    g_cond_broadcast(&cpu_created_cond);
}

void cpus_start_threads(const char *accel, void *(*fn)(void *))
{
    CPUState *cpu;

    assert(bql_locked());
    CPU_FOREACH(cpu) {
        g_autofree char *name = NULL;

        if (cpu->thread_started) {
            continue;
        }
        name = g_strdup_printf("CPU %d/%s", cpu->cpu_index, accel);
        qemu_thread_create(&cpu->thread, name, fn, cpu,
                           QEMU_THREAD_JOINABLE);
        __atomic_store_n(&cpu->thread_started, true, __ATOMIC_RELEASE);
        cpu_wait_created(cpu);
    }
}

void cpu_wait_created(CPUState *cpu)
{
    while (!cpu->created) {
        g_cond_wait(&cpu_created_cond, bql_mutex());
    }
}

bool cpu_can_run(CPUState *cpu)
{
    return !cpu->stop && !cpu->stopped && !cpu->exit_thread;
}

/* BQL held: turn a pending pause request into the parked state. */
static void cpu_handle_stop_request(CPUState *cpu)
{
    if (cpu->stop) {
        cpu->stop = false;
        cpu->stopped = true;
        trace_cpu_stopped(cpu->cpu_index);
        g_cond_broadcast(&cpu_pause_cond);
    }
}

void cpu_throttle_sleep_request(CPUState *cpu, uint64_t ns)
{
    __atomic_store_n(&cpu->throttle_sleep_ns, ns, __ATOMIC_SEQ_CST);
    if (ns) {
        cpu_kick(cpu);
    }
}

/*
 * BQL held: take a pending throttle sleep.  The wait drops the BQL; kicks
 * (which broadcast cpu_halt_cond) wake it so a pause request or exit is
 * seen at once, any other wake-up just waits on until the deadline.
 */
static void cpu_throttle_sleep(CPUState *cpu)
{
    uint64_t ns = __atomic_exchange_n(&cpu->throttle_sleep_ns, 0,
                                      __ATOMIC_SEQ_CST);
    gint64 deadline;

    if (!ns) {
        return;
    }
    trace_cpu_throttle_sleep(cpu->cpu_index, ns);
    deadline = g_get_monotonic_time() + ns / 1000;
    while (!cpu->stop && !cpu->stopped && !cpu->exit_thread &&
           g_cond_wait_until(&cpu_halt_cond, bql_mutex(), deadline)) {
        /* woken: re-check the flags */
    }
}

void cpu_wait_io_event(CPUState *cpu)
{
    assert(bql_locked());
    cpu_throttle_sleep(cpu);
    for (;;) {
        cpu_handle_stop_request(cpu);
        if (cpu->exit_thread || !cpu->stopped) {
            return;
        }
        g_cond_wait(&cpu_halt_cond, bql_mutex());
    }
}

void cpu_wait_kick(CPUState *cpu)
{
    assert(bql_locked());
    if (!cpu->stop && !cpu->exit_thread) {
        g_cond_wait(&cpu_halt_cond, bql_mutex());
    }
}

void cpu_park_self(CPUState *cpu)
{
    trace_cpu_park_self(cpu->cpu_index);
    cpu->stop = true;
    cpu_handle_stop_request(cpu);
}

void cpu_kick(CPUState *cpu)
{
    trace_cpu_kick(cpu->cpu_index);
    g_cond_broadcast(&cpu_halt_cond);
    if (current_accel) {
        current_accel->kick(cpu);
    }
}

bool all_vcpus_paused(void)
{
    CPUState *cpu;

    CPU_FOREACH(cpu) {
        if (!cpu->stopped) {
            return false;
        }
    }
    return true;
}

void pause_all_vcpus(void)
{
    CPUState *cpu;

    assert(bql_locked());
    trace_cpu_pause_all(cpu_list->len);
    CPU_FOREACH(cpu) {
        if (cpu == current_cpu) {
            /* A vCPU pausing the VM parks itself: nobody else can. */
            cpu->stop = true;
            cpu_handle_stop_request(cpu);
        } else if (!cpu->stopped) {
            cpu->stop = true;
            cpu_kick(cpu);
        }
    }
    while (!all_vcpus_paused()) {
        g_cond_wait(&cpu_pause_cond, bql_mutex());
    }
    trace_cpu_pause_all_done();
}

void resume_all_vcpus(void)
{
    CPUState *cpu;

    assert(bql_locked());
    trace_cpu_resume_all(cpu_list->len);
    CPU_FOREACH(cpu) {
        cpu->stop = false;
        cpu->stopped = false;
        cpu_kick(cpu);
    }
}
