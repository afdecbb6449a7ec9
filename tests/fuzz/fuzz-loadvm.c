/*
 * libFuzzer target "loadvm": the main migration stream.
 *
 * Each input is byte 0, the destination's migration capabilities
 * (FUZZ_CAP_*: xbzrle, postcopy-ram, multifd, block, dirty-bitmaps,
 * return-path, release-ram, validate-uuid), then a whole stream as it
 * would arrive on the main channel.  It goes to qemu_loadvm_state(), the
 * incoming thread's loader, in qmig's own core (fuzz-qmig.c) with every
 * section type registered: RAM, the x86 CPU and irqchip sections, the
 * UART, port 0x92, the qmig-disk, block migration, dirty bitmaps, and
 * the harness's own devices (fuzz-target.c).  With postcopy-ram, ADVISE,
 * DISCARD, PACKAGED/LISTEN (the real listen thread, userfaultfd on guest
 * RAM) and RUN run for real; after each input the destination is torn
 * down as incoming_finish_bh() does.  The loader must reject anything
 * malformed with an Error and never crash, leak, read or write out of
 * bounds, or touch memory outside guest RAM (guard regions).
 *
 * "fuzz-loadvm --make-seeds=DIR" writes the seed corpus (fuzz-seeds.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "fuzz-common.h"
#include "fuzz-target.h"

/* libFuzzer calls this once, before it parses its own flags. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_handle_make_seeds(*argc, *argv, fuzz_make_seeds);
    fuzz_target_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Error *err = NULL;
    bool ok = fuzz_load_stream(data, size, &err);

    fuzz_check_error(ok, err);
    return 0;
}
