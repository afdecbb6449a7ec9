/*
 * The machine: what main() parsed from the command line, and the one x86
 * machine that builds itself from it (hw/i386/pc.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_BOARDS_H
#define HW_BOARDS_H

#include "qapi/error.h"
#include "qemu/option.h"
#include "chardev/char.h"
#include "system/ramblock.h"
#include "system/kvm.h"

#define MAX_SERIAL_PORTS 4

typedef enum AccelKind {
    ACCEL_KVM,
    ACCEL_TCG,              /* software vCPUs (accel/tcg, Unicorn) */
    ACCEL_QTEST,            /* no vCPU runs; memory only */
} AccelKind;

typedef struct MachineState {
    char *type;             /* as given ("pc", "q35", "x86"...) */
    uint64_t ram_size;      /* -m, bytes */
    char *memory_backend;   /* -machine memory-backend=ID, or NULL */
    unsigned smp_cpus;      /* -smp */
    AccelKind accel;
    KVMConfig kvm;
    Chardev *serial[MAX_SERIAL_PORTS];  /* -serial, in order; NULL = none */
    GPtrArray *device_opts; /* -device, QemuOpts *, in order */
    bool start_paused;      /* -S */
    RAMBlock *ram;          /* set by machine_init() */
} MachineState;

extern MachineState *current_machine;

/* Is @type a machine type name qmig accepts (its own and QEMU's pc/q35)? */
bool machine_type_valid(const char *type);
/* The canonical name reported in the migration configuration section. */
const char *machine_type_name(void);
/*
 * Build the machine: accelerator, RAM, vCPUs (created, parked), devices,
 * boot sector.  Called once by main() with the BQL held.
 */
bool machine_init(MachineState *ms, Error **errp);

#endif
