/*
 * libFuzzer harness for the incoming migration path.
 *
 * Each input is a whole migration stream as a destination would receive
 * it on its channel: it is put into a buffer QIOChannel, wrapped in an
 * input QEMUFile and handed to qemu_loadvm_state(), the incoming
 * thread's loader, with the real "ram" section and the harness's device
 * states registered (fuzz-target.c).  The loader must reject anything
 * malformed with an Error and never crash, leak, read or write out of
 * bounds (ASan, UBSan, LeakSanitizer) or touch memory outside guest RAM
 * (guard pages around the RAM block).
 *
 * Extra mode: "fuzz-loadvm --make-seeds=DIR" writes the seed corpus
 * (fuzz-seeds.c) and exits; libFuzzer never sees that flag.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "fuzz-target.h"

#define MAKE_SEEDS_FLAG "--make-seeds="

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_make_seeds_and_exit(const char *dir)
{
    Error *err = NULL;

    if (!fuzz_make_seeds(dir, &err)) {
        error_report_err(err);
        exit(1);
    }
    exit(0);
}

/* libFuzzer calls this once, before it parses its own flags. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    for (int i = 1; i < *argc; i++) {
        const char *arg = (*argv)[i];

        if (g_str_has_prefix(arg, MAKE_SEEDS_FLAG)) {
            fuzz_make_seeds_and_exit(arg + strlen(MAKE_SEEDS_FLAG));
        }
    }
    fuzz_target_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Error *err = NULL;

    if (!fuzz_load_stream(data, size, &err)) {
        /* Rejecting bad input is the expected outcome: it must say why. */
        if (!err || !*error_get_pretty(err)) {
            fprintf(stderr, "loader failed without an error message\n");
            abort();
        }
        error_free(err);
    } else {
        assert(!err);
    }
    return 0;
}
