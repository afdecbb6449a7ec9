/*
 * What tests/unit/ram-test-stubs.c exposes to test-ram-load.
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

#endif
