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
/* Iterate in -drive order: blk_next(NULL) is the first, NULL ends. */
BlockBackend *blk_next(BlockBackend *blk);
const char *blk_name(BlockBackend *blk);
const char *blk_filename(BlockBackend *blk);
uint64_t blk_getlength(BlockBackend *blk);
/* Returns bytes read/written or -errno; short only at end of image. */
int64_t blk_pread(BlockBackend *blk, uint64_t offset, void *buf,
                  uint64_t len);
int64_t blk_pwrite(BlockBackend *blk, uint64_t offset, const void *buf,
                   uint64_t len);
void blk_close_all(void);
/*
 * The disk qmig boots from: index=0 if given, else the first -drive that
 * is not if=none (if=none drives belong to a -device, as in QEMU).
 */
BlockBackend *blk_boot_disk(void);

/*
 * Allocation status at @offset: *@allocated is whether data is stored
 * there (SEEK_DATA/SEEK_HOLE on the image; a hole reads as zeros), *@pnum
 * how many bytes from @offset share that status (up to the end of the
 * image).  Any thread.
 */
bool blk_block_status(BlockBackend *blk, uint64_t offset, bool *allocated,
                      uint64_t *pnum, Error **errp);
/*
 * Make [offset, offset+len) read as zeros, as a hole where the file system
 * can (fallocate PUNCH_HOLE|KEEP_SIZE), else by writing zeros.  Marks
 * dirty bitmaps like a write.  Returns 0 or -errno.
 */
int blk_pwrite_zeroes(BlockBackend *blk, uint64_t offset, uint64_t len);
int blk_flush(BlockBackend *blk);
bool blk_is_read_only(BlockBackend *blk);

/*
 * The guest device a drive is attached to (one per drive), for
 * query-block and to refuse a second device on the same drive.  Machine
 * creation only (main thread, before vCPUs run).
 */
bool blk_attach_dev(BlockBackend *blk, const char *dev, Error **errp);
/* The device name, or NULL when no device uses the drive. */
const char *blk_get_attached_dev(BlockBackend *blk);

#endif
