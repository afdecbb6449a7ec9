/*
 * The stamp guest's memory invariant (tests/migration/i386/stamp.S).
 *
 * The guest adds 1 to the first byte of each 4 KiB page of [1 MiB,
 * 100 MiB) in ascending order, over and over.  In any consistent stopped
 * copy of that range, walking the pages upward, each page's first byte
 * equals the previous page's except at most once, where it is exactly one
 * less (mod 256): the page the guest was about to increment.  A lost dirty
 * page, a stale page or pages delivered out of order break it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef TESTS_QTEST_STAMP_CHECK_H
#define TESTS_QTEST_STAMP_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STAMP_START     0x00100000ULL
#define STAMP_END       0x06400000ULL
#define STAMP_PAGE_SIZE 4096

/*
 * Check @len bytes of guest memory copied from guest physical address
 * @base (page aligned).  On a violation return false and, if @why is not
 * NULL, a message naming the first offending page's guest address and
 * values (caller g_free()s it).
 */
bool stamp_check_buf(const uint8_t *buf, size_t len, uint64_t base,
                     char **why);
/* Same on a file written by pmemsave of [@base, @base + file size). */
bool stamp_check_file(const char *path, uint64_t base, char **why);

#endif
