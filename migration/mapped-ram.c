/*
 * mapped-ram: layout arithmetic and checks of the per-block header and
 * bitmap (see mapped-ram.h).  No I/O here: ram.c reads and writes.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "mapped-ram.h"

uint64_t mapped_ram_bitmap_size(uint64_t npages)
{
    return DIV_ROUND_UP(npages, 64) * 8;
}

bool mapped_ram_layout(uint64_t header_pos, uint64_t length,
                       uint64_t page_size, MappedRamHeader *h)
{
    uint64_t bitmap_end;

    h->version = MAPPED_RAM_VERSION;
    h->page_size = page_size;
    h->bitmap_offset = header_pos + MAPPED_RAM_HEADER_SIZE;
    bitmap_end = h->bitmap_offset + mapped_ram_bitmap_size(length / page_size);
    if (header_pos > UINT64_MAX / 2 || length > UINT64_MAX / 4 ||
        bitmap_end > UINT64_MAX / 2) {
        return false;
    }
    h->pages_offset = QEMU_ALIGN_UP(bitmap_end, MAPPED_RAM_ALIGN);
    return h->pages_offset <= UINT64_MAX / 2 - length;
}

static void put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        p[i] = v & 0xff;
        v >>= 8;
    }
}

static uint64_t get_be(const uint8_t *p, int bytes)
{
    uint64_t v = 0;

    for (int i = 0; i < bytes; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

void mapped_ram_header_encode(const MappedRamHeader *h,
                              uint8_t buf[MAPPED_RAM_HEADER_SIZE])
{
    put_be(buf, h->version, 4);
    put_be(buf + 4, h->page_size, 8);
    put_be(buf + 12, h->bitmap_offset, 8);
    put_be(buf + 20, h->pages_offset, 8);
}

void mapped_ram_header_decode(const uint8_t buf[MAPPED_RAM_HEADER_SIZE],
                              MappedRamHeader *h)
{
    h->version = get_be(buf, 4);
    h->page_size = get_be(buf + 4, 8);
    h->bitmap_offset = get_be(buf + 12, 8);
    h->pages_offset = get_be(buf + 20, 8);
}

/* [@start, @start + @len) inside [0, @limit), without overflow. */
static bool range_within(uint64_t start, uint64_t len, uint64_t limit)
{
    return start <= limit && len <= limit - start;
}

bool mapped_ram_header_check(const MappedRamHeader *h, const char *name,
                             uint64_t header_pos, uint64_t length,
                             uint64_t page_size, uint64_t file_size,
                             Error **errp)
{
    uint64_t bitmap_size = mapped_ram_bitmap_size(length / page_size);
    uint64_t header_end = header_pos + MAPPED_RAM_HEADER_SIZE;

    if (h->version != MAPPED_RAM_VERSION) {
        error_setg(errp, "mapped-ram: block '%s': header version %" PRIu32
                   " is not supported (only %d)", name, h->version,
                   MAPPED_RAM_VERSION);
        return false;
    }
    if (h->page_size != page_size) {
        error_setg(errp, "mapped-ram: block '%s': page size %" PRIu64
                   " in the file, %" PRIu64 " here", name, h->page_size,
                   page_size);
        return false;
    }
    if (h->bitmap_offset < header_end ||
        !range_within(h->bitmap_offset, bitmap_size, file_size)) {
        error_setg(errp, "mapped-ram: block '%s': bitmap at offset %" PRIu64
                   " (%" PRIu64 " bytes) is outside the file (%" PRIu64
                   " bytes, header ends at %" PRIu64 ")", name,
                   h->bitmap_offset, bitmap_size, file_size, header_end);
        return false;
    }
    if (h->pages_offset < h->bitmap_offset + bitmap_size) {
        error_setg(errp, "mapped-ram: block '%s': pages at offset %" PRIu64
                   " overlap the header or bitmap (ending at %" PRIu64 ")",
                   name, h->pages_offset, h->bitmap_offset + bitmap_size);
        return false;
    }
    if (!range_within(h->pages_offset, length, file_size)) {
        error_setg(errp, "mapped-ram: block '%s': pages at offset %" PRIu64
                   " (%" PRIu64 " bytes) end past the end of the file (%"
                   PRIu64 " bytes): the file is truncated or corrupted",
                   name, h->pages_offset, length, file_size);
        return false;
    }
    return true;
}

bool mapped_ram_bitmap_test(const uint8_t *bmap, uint64_t page)
{
    return bmap[page / 8] & (1u << (page % 8));
}

void mapped_ram_bitmap_assign(uint8_t *bmap, uint64_t page, bool on)
{
    if (on) {
        bmap[page / 8] |= 1u << (page % 8);
    } else {
        bmap[page / 8] &= ~(1u << (page % 8));
    }
}

bool mapped_ram_bitmap_check(const uint8_t *bmap, uint64_t npages,
                             const char *name, Error **errp)
{
    uint64_t bits = mapped_ram_bitmap_size(npages) * 8;

    for (uint64_t p = npages; p < bits; p++) {
        if (mapped_ram_bitmap_test(bmap, p)) {
            error_setg(errp, "mapped-ram: block '%s': the bitmap marks page %"
                       PRIu64 " present, past the block's %" PRIu64 " pages",
                       name, p, npages);
            return false;
        }
    }
    return true;
}

uint64_t mapped_ram_bitmap_next_run(const uint8_t *bmap, uint64_t npages,
                                    uint64_t from, uint64_t *start)
{
    uint64_t p = from, end;

    /* Whole zero bytes at a time: a mostly-empty bitmap is the norm. */
    while (p < npages && !mapped_ram_bitmap_test(bmap, p)) {
        p = (p % 8 == 0 && !bmap[p / 8]) ? p + 8 : p + 1;
    }
    if (p >= npages) {
        return 0;
    }
    end = p;
    while (end < npages && mapped_ram_bitmap_test(bmap, end)) {
        end++;
    }
    *start = p;
    return end - p;
}
