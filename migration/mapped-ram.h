/*
 * mapped-ram: RAM at fixed offsets of a "file:" migration
 * (docs/devel/migration/mapped-ram.md).
 *
 * After each RAM block's entry in the RAM block list the stream holds a
 * header (all fields big-endian): version, page size, the file offset of
 * the block's bitmap of present pages and the file offset of its pages.
 * Page N of the block lives at pages_offset + N * page size; the bitmap
 * (little-endian 64-bit words, bit N: page N is in the file) is written
 * when the save completes.  The stream goes on after the block's pages.
 *
 * The parsing half checks everything a hostile file could lie about; it
 * is pure (no I/O) so that tests/unit/test-mapped-ram.c drives it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_MAPPED_RAM_H
#define MIGRATION_MAPPED_RAM_H

#include "qapi/error.h"

#define MAPPED_RAM_VERSION      1
#define MAPPED_RAM_HEADER_SIZE  28      /* be32 + 3 * be64, packed */
/* Pages start on this boundary: O_DIRECT-friendly, as QEMU's layout. */
#define MAPPED_RAM_ALIGN        (1ULL << 20)

typedef struct MappedRamHeader {
    uint32_t version;
    uint64_t page_size;
    uint64_t bitmap_offset;     /* absolute file offset */
    uint64_t pages_offset;      /* absolute file offset */
} MappedRamHeader;

/* Bytes of the bitmap for @npages pages (whole 64-bit words). */
uint64_t mapped_ram_bitmap_size(uint64_t npages);
/*
 * The layout of a block of @length bytes whose header is written at
 * file offset @header_pos; false if the offsets would overflow.
 */
bool mapped_ram_layout(uint64_t header_pos, uint64_t length,
                       uint64_t page_size, MappedRamHeader *h);
void mapped_ram_header_encode(const MappedRamHeader *h,
                              uint8_t buf[MAPPED_RAM_HEADER_SIZE]);
void mapped_ram_header_decode(const uint8_t buf[MAPPED_RAM_HEADER_SIZE],
                              MappedRamHeader *h);
/*
 * Check the header of block @name (@length bytes) read at @header_pos of
 * a file of @file_size bytes: known version, our page size, bitmap and
 * pages after the header, not overlapping, inside the file.
 */
bool mapped_ram_header_check(const MappedRamHeader *h, const char *name,
                             uint64_t header_pos, uint64_t length,
                             uint64_t page_size, uint64_t file_size,
                             Error **errp);
/* Is page @page set in the file-format bitmap @bmap? */
bool mapped_ram_bitmap_test(const uint8_t *bmap, uint64_t page);
/* Refuse a bitmap (@npages pages) with bits set past the block's end. */
bool mapped_ram_bitmap_check(const uint8_t *bmap, uint64_t npages,
                             const char *name, Error **errp);
/* Set or clear bit @page of a file-format bitmap. */
void mapped_ram_bitmap_assign(uint8_t *bmap, uint64_t page, bool on);
/*
 * The next run of set bits at or after @from below @npages: its first
 * page in *@start and its length returned (0: none left).
 */
uint64_t mapped_ram_bitmap_next_run(const uint8_t *bmap, uint64_t npages,
                                    uint64_t from, uint64_t *start);

#endif
