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
#include "fuzz-qmig.h"

/*
 * Build the destination once per process: qmig's core (fuzz-qmig.c) and
 * the harness's own devices.  Idempotent; returns without the BQL.
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
 * incoming thread would: @data[0] is the FUZZ_CAP_* mask the
 * destination has, the rest the stream.  Returns whether the stream loaded; the error,
 * if any, goes to *@errp.
 */
bool fuzz_load_stream(const uint8_t *data, size_t size, Error **errp);
/* The same with the capabilities (FUZZ_CAP_*) given apart. */
bool fuzz_load_stream_caps(unsigned caps, const uint8_t *stream,
                           size_t len, Error **errp);

/*
 * The same over @ioc (the caller's reference stays the caller's): what
 * fuzz-rdma feeds through an RDMA channel.
 */
typedef struct QIOChannel QIOChannel;
bool fuzz_load_channel(unsigned caps, QIOChannel *ioc, Error **errp);

/* fuzz-seeds.c: write the seed corpus into @dir. */
bool fuzz_make_seeds(const char *dir, Error **errp);
/* fuzz-seeds.c: a postcopy main stream, byte 0 being @caps. */
GBytes *fuzz_seed_postcopy_stream(unsigned caps, Error **errp);

#endif
