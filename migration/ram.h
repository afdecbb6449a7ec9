/*
 * RAM migration (migration/ram.c): the "ram" live section, version 4.
 *
 * Source: the migration thread walks a dirty bitmap per RAMBlock (KVM's
 * dirty log plus the blocks' soft dirty bits), sending each dirty page as
 * a ZERO record (all-zero page) or a PAGE record (sent by reference with
 * qemu_put_buffer_async).  Destination: the incoming thread checks every
 * record (block known, offset + page within used length, flags known)
 * and writes the page straight into guest memory, no BQL.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_RAM_H
#define MIGRATION_RAM_H

#include "qapi/error.h"

/* RAM record flags (low bits of the be64 offset word; QEMU's values). */
#define RAM_SAVE_FLAG_FULL          0x01    /* obsolete; rejected */
#define RAM_SAVE_FLAG_ZERO          0x02
#define RAM_SAVE_FLAG_MEM_SIZE      0x04
#define RAM_SAVE_FLAG_PAGE          0x08
#define RAM_SAVE_FLAG_EOS           0x10
#define RAM_SAVE_FLAG_CONTINUE      0x20
#define RAM_SAVE_FLAG_XBZRLE        0x40
#define RAM_SAVE_FLAG_HOOK          0x80    /* RDMA */
#define RAM_SAVE_FLAG_COMPRESS_PAGE 0x100   /* obsolete; rejected */
#define RAM_SAVE_FLAG_MULTIFD_FLUSH 0x200

/* Register the "ram" section with savevm (called once at start-up). */
void ram_mig_init(void);
/* Bytes of RAM still dirty (for query-migrate "remaining"). */
uint64_t ram_bytes_remaining(void);
uint64_t ram_bytes_total_migratable(void);

#endif
