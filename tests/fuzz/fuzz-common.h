/*
 * What every fuzz target's entry file shares: the --make-seeds=DIR
 * option (handled in LLVMFuzzerInitialize, never seen by libFuzzer) and
 * a helper to write one seed.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef TESTS_FUZZ_FUZZ_COMMON_H
#define TESTS_FUZZ_FUZZ_COMMON_H

#include "qapi/error.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * If the command line has --make-seeds=DIR: create DIR, call @make and
 * exit (status 0 on success, 1 with the error printed).
 */
void fuzz_handle_make_seeds(int argc, char **argv,
                            bool (*make)(const char *dir, Error **errp));
/* Write @len bytes of @data as DIR/NAME.bin. */
bool fuzz_write_seed(const char *dir, const char *name, const void *data,
                     size_t len, Error **errp);
/*
 * A connection: sv[0] is qmig's end, sv[1] the peer's.  @data is queued
 * on sv[1] (up to FUZZ_SOCK_BUF; the rest is dropped), which is then
 * half-closed: qmig reads @data then EOF, and may write back.
 */
#define FUZZ_SOCK_BUF   (4 * MiB)
void fuzz_socketpair_feed(int sv[2], const uint8_t *data, size_t size);

/* An input that failed must say why; abort() otherwise. */
void fuzz_check_error(bool ok, Error *err);

#endif
