/*
 * The disk guest's disk invariant (tests/migration/i386/disk.S).
 *
 * The guest writes sectors 0..N-1 (N = min(disk sectors, 8192)) in
 * ascending order over and over, pass number gen in each: le32 gen,
 * le32 sector number, then 126 le32 words gen ^ (sector << 16) ^
 * 0x5a5a5a5a.  A sector never written is all zeros (gen 0).  In any
 * consistent stopped copy, walking the sectors upward, each sector's gen
 * equals the previous one's except at most once, where it is exactly one
 * less (mod 2^32): the sector the guest was about to write.  A lost or
 * stale write, a sector delivered to the wrong place or torn breaks it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef TESTS_QTEST_DISK_CHECK_H
#define TESTS_QTEST_DISK_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DISK_CHECK_SECTOR_SIZE 512
#define DISK_CHECK_MAX_SECTORS 8192
#define DISK_CHECK_FILL_MAGIC 0x5a5a5a5aU

typedef struct DiskCheckInfo {
    uint64_t sectors;       /* sectors checked (N) */
    uint32_t gen;           /* gen of sector 0: the pass being written */
    uint64_t boundary;      /* first sector of the older pass, or N */
} DiskCheckInfo;

/* The filler word of @sector written in pass @gen. */
uint32_t disk_check_filler(uint32_t gen, uint64_t sector);
/* Sectors the guest writes on a disk of @image_bytes. */
uint64_t disk_check_sectors(uint64_t image_bytes);

/*
 * Check the first disk_check_sectors(@len) sectors of @buf (the image
 * from offset 0).  On a violation return false and, if @why is not NULL,
 * a message naming the first offending sector and its values (caller
 * g_free()s it).  @info may be NULL.
 */
bool disk_check_buf(const uint8_t *buf, size_t len, DiskCheckInfo *info,
                    char **why);
/* Same on an image file. */
bool disk_check_file(const char *path, DiskCheckInfo *info, char **why);

#endif
