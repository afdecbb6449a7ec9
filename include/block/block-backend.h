/*
 * Disk images attached with -drive (raw files).
 *
 * Locking: the drive list is built by main() before any thread starts and
 * is read-only afterwards.  I/O on a BlockBackend is positional
 * (pread/pwrite) and safe from any thread.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BLOCK_BLOCK_BACKEND_H
#define BLOCK_BLOCK_BACKEND_H

#include "qapi/error.h"
#include "qemu/option.h"

typedef struct BlockBackend BlockBackend;

/* -drive file=PATH,format=raw[,if=...][,id=...][,snapshot=on][,readonly=on] */
BlockBackend *drive_new(QemuOpts *opts, Error **errp);
/* The N-th -drive given (0 is the boot disk), or NULL. */
BlockBackend *blk_by_index(int index);
BlockBackend *blk_by_name(const char *id);
int blk_count(void);
const char *blk_name(BlockBackend *blk);
const char *blk_filename(BlockBackend *blk);
uint64_t blk_getlength(BlockBackend *blk);
/* Returns bytes read/written or -errno; short only at end of image. */
int64_t blk_pread(BlockBackend *blk, uint64_t offset, void *buf,
                  uint64_t len);
int64_t blk_pwrite(BlockBackend *blk, uint64_t offset, const void *buf,
                   uint64_t len);
void blk_close_all(void);

#endif
