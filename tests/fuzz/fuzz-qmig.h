/*
 * A machine-less qmig core for the libFuzzer harnesses.
 *
 * fuzz_qmig_init() runs qmig's own start-up (qemu_init(), system/vl.c)
 * in the fuzzer's process with a fixed command line: the pc machine
 * under -accel qtest (no vCPU thread), 2 MiB of guest RAM, one UART on a
 * null chardev, a qmig-disk on a scratch raw image, and a QMP and an HMP
 * monitor on null chardevs.  The migration object, the RAM, block and
 * dirty-bitmap sections, the UART's, the disk's and port 0x92's VMStates
 * are qmig's real ones.  On top of that it installs the "fuzz"
 * accelerator, which has no vCPU thread but does take and give vCPU and
 * interrupt-controller state (so the real x86 CPU and irqchip sections
 * are registered and load through their real checks), and moves guest
 * RAM between PROT_NONE guard regions.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef TESTS_FUZZ_FUZZ_QMIG_H
#define TESTS_FUZZ_FUZZ_QMIG_H

#include "qapi/error.h"
#include "system/ramblock.h"

#define FUZZ_RAM_NAME       "pc.ram"
#define FUZZ_RAM_SIZE       (2 * MiB)
#define FUZZ_MACHINE_TYPE   "pc"
#define FUZZ_DISK_SIZE      (64 * KiB)
#define FUZZ_DISK_ID        "disk0"
#define FUZZ_QMP_ID         "fuzz-qmp"
#define FUZZ_HMP_ID         "fuzz-hmp"

/* Start the core once per process (idempotent).  Leaves the BQL held. */
void fuzz_qmig_init(void);

/* A private scratch directory (removed at exit). */
const char *fuzz_qmig_tmpdir(void);

/* The guest RAM block (between guard regions). */
RAMBlock *fuzz_qmig_ram(void);

/*
 * Migration capabilities as a bit mask of FUZZ_CAP_* (what one input
 * byte selects), set through the real migrate-set-capabilities checks;
 * a combination those refuse leaves the previous one.  Returns the mask
 * in force.
 */
enum {
    FUZZ_CAP_XBZRLE         = 1 << 0,
    FUZZ_CAP_POSTCOPY_RAM   = 1 << 1,
    FUZZ_CAP_MULTIFD        = 1 << 2,
    FUZZ_CAP_BLOCK          = 1 << 3,
    FUZZ_CAP_DIRTY_BITMAPS  = 1 << 4,
    FUZZ_CAP_RETURN_PATH    = 1 << 5,
    FUZZ_CAP_RELEASE_RAM    = 1 << 6,
    FUZZ_CAP_VALIDATE_UUID  = 1 << 7,
    FUZZ_CAP_POSTCOPY_PREEMPT = 1 << 8,     /* not in loadvm's byte */
};
unsigned fuzz_qmig_set_caps(unsigned caps);

/* The fuzz accelerator's saved vCPU / irqchip state (reset per input). */
void fuzz_qmig_accel_reset(void);

#endif
