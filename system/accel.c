/*
 * The running accelerator (include/system/accel-ops.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "system/accel-ops.h"
#include "trace.h"

/* Written once by accel_init() in main() before any other thread exists. */
const AccelOps *current_accel;

bool accel_init(const AccelOps *ops, MachineState *ms, Error **errp)
{
    current_accel = ops;
    trace_accel_init(ops->name);
    if (!ops->init(ms, errp)) {
        current_accel = NULL;
        error_prepend(errp, "Could not initialise the %s accelerator: ",
                      ops->name);
        return false;
    }
    return true;
}
