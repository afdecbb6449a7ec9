/*
 * KVM as an accelerator (include/system/accel-ops.h): the ops table that
 * the machine and migration use, over the functions of the other
 * accel/kvm/ files.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "hw/boards.h"
#include "system/accel-ops.h"
#include "system/kvm.h"
#include "system/kvm-cpu-state.h"

static bool kvm_accel_init(MachineState *ms, Error **errp)
{
    return kvm_init(&ms->kvm, errp);
}

const AccelOps kvm_accel_ops = {
    .name = "kvm",
    .init = kvm_accel_init,
    .set_user_memory = kvm_set_user_memory,
    .create_vcpu = kvm_create_vcpu,
    .cpu_reset_realmode = kvm_cpu_reset_realmode,
    .start_vcpus = kvm_start_vcpus,
    .kick = kvm_cpu_kick,
    .set_irq = kvm_set_irq,
    .cpu_get_state = kvm_cpu_get_state,
    .cpu_put_state = kvm_cpu_put_state,
    .irqchip_get = kvm_irqchip_get,
    .irqchip_put = kvm_irqchip_put,
    .dirty_log = &kvm_dirty_log_ops,
};
