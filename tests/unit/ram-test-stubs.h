/*
 * What tests/unit/ram-test-stubs.c gives the RAM section tests
 * (test-ram-load, test-ram-xbzrle): handles on the stubs, and helpers.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef TESTS_UNIT_RAM_TEST_STUBS_H
#define TESTS_UNIT_RAM_TEST_STUBS_H

#include "migration/register.h"
#include "migration/options.h"

/* The handlers ram_mig_init() registered. */
extern const SaveVMHandlers *ram_test_handlers;
/* Capabilities migrate_capability() reports (all off by default). */
extern bool ram_test_caps[MIGRATION_CAPABILITY__MAX];
/* What migrate_xbzrle_cache_size() reports (64 MiB unless changed). */
extern uint64_t ram_test_xbzrle_cache_size;
/* When set, postcopy_place_page() calls it instead of failing. */
typedef bool RAMTestPlaceFn(RAMBlock *rb, uint64_t offset, const void *data,
                            Error **errp);
extern RAMTestPlaceFn *ram_test_place_page;

/* Building hand-made streams (big-endian, u8-counted names). */
void put_byte(GByteArray *s, uint8_t v);
void put64(GByteArray *s, uint64_t v);
void put_name(GByteArray *s, const char *name);
/* Whole-buffer pipe I/O for the two-process round trips. */
void read_all(int fd, void *buf, size_t len);
void write_all(int fd, const void *buf, size_t len);

#endif
