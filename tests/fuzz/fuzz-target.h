/*
 * The destination the migration fuzzer loads into: a small guest RAM
 * block fenced by inaccessible guard pages, the real "ram" section and
 * a few device states with the shapes real devices use (versions,
 * subsections, variable arrays, nested structs).  Shared by the libFuzzer
 * entry point (fuzz-loadvm.c) and the seed corpus generator
 * (fuzz-seeds.c), which saves through the same registrations.
 *
 * Everything here runs in the fuzzer's single thread.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef TESTS_FUZZ_FUZZ_TARGET_H
#define TESTS_FUZZ_FUZZ_TARGET_H

#include "qapi/error.h"
#include "system/ramblock.h"

/* Guest RAM: one block "pc.ram" mapped at guest-physical 0. */
#define FUZZ_RAM_NAME       "pc.ram"
#define FUZZ_RAM_SIZE       (2 * MiB)

/* The machine type both ends report in the configuration section. */
#define FUZZ_MACHINE_TYPE   "pc-i440fx"

/*
 * Build the destination once per process: RAM (with guard pages),
 * registrations.  Idempotent.
 */
void fuzz_target_init(void);

/* The guest RAM block. */
RAMBlock *fuzz_target_ram(void);

/* Put every device back to its power-on state (before each input). */
void fuzz_devices_reset(void);

/*
 * Give the devices non-default state so that saving them sends every
 * subsection; @variant (0, 1, ...) picks among a few shapes (array fill
 * levels, which subsections are needed).
 */
void fuzz_devices_set_state(unsigned variant);

/*
 * Feed @data to qemu_loadvm_state() over a buffer channel, as the
 * incoming thread would.  Returns whether the stream loaded; the error,
 * if any, goes to *@errp.
 */
bool fuzz_load_stream(const uint8_t *data, size_t size, Error **errp);

/* fuzz-seeds.c: write the seed corpus into @dir (created if missing). */
bool fuzz_make_seeds(const char *dir, Error **errp);

#endif
