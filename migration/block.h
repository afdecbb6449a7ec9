/*
 * Block migration (migration/block.c): the "block" live section,
 * version 1, carrying every writable disk in the migration stream (the
 * `block` capability, or "migrate" with blk=true / inc=true).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_BLOCK_H
#define MIGRATION_BLOCK_H

#include "qapi/error.h"

/* Register the "block" section with savevm (once, at start-up). */
void blk_mig_init(void);

/*
 * "migrate" blk=true / inc=true: migrate the disks in this migration
 * even without the block capability.  Main thread, BQL; every "migrate"
 * sets it anew, so it never outlives the migration it was given to.
 */
void blk_mig_set_requested(bool on);

/*
 * Disk progress of the current (or last) outgoing migration, summed over
 * disks: bytes of block records sent, bytes still to send (unsent bulk
 * plus dirty), disk sizes.  False when that migration moved no disks.
 * Any thread.
 */
bool blk_mig_progress(uint64_t *transferred, uint64_t *remaining,
                      uint64_t *total);

#endif
