/*
 * Unit tests for migration/mapped-ram.c: the mapped-ram header and
 * bitmap checks on hostile input (offsets outside the file or block,
 * overlapping regions, overflowing sums, bits past the block's end).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "migration/mapped-ram.h"

#define PAGE 4096ULL
#define BLOCK (64 * PAGE)               /* 64 pages: an 8-byte bitmap */
#define HDR_POS 100ULL

/* A valid layout at HDR_POS and the size of the file that holds it. */
static MappedRamHeader good(uint64_t *file_size)
{
    MappedRamHeader h;

    g_assert_true(mapped_ram_layout(HDR_POS, BLOCK, PAGE, &h));
    *file_size = h.pages_offset + BLOCK + 17;   /* device state after */
    return h;
}

/* Check @h, expecting failure with @needle in the message (NULL: ok). */
static void expect(const MappedRamHeader *h, uint64_t file_size,
                   const char *needle)
{
    Error *err = NULL;
    bool ok = mapped_ram_header_check(h, "pc.ram", HDR_POS, BLOCK, PAGE,
                                      file_size, &err);

    if (!needle) {
        g_assert_null(err);
        g_assert_true(ok);
        return;
    }
    g_assert_false(ok);
    g_assert_nonnull(err);
    if (!strstr(error_get_pretty(err), needle)) {
        g_test_message("error: %s", error_get_pretty(err));
        g_assert_not_reached();
    }
    g_assert_nonnull(strstr(error_get_pretty(err), "pc.ram"));
    error_free(err);
}

static void test_layout(void)
{
    MappedRamHeader h;
    uint64_t size;

    h = good(&size);
    g_assert_cmpuint(h.version, ==, MAPPED_RAM_VERSION);
    g_assert_cmpuint(h.bitmap_offset, ==, HDR_POS + MAPPED_RAM_HEADER_SIZE);
    g_assert_cmpuint(h.pages_offset, ==, MAPPED_RAM_ALIGN);
    g_assert_cmpuint(mapped_ram_bitmap_size(1), ==, 8);
    g_assert_cmpuint(mapped_ram_bitmap_size(64), ==, 8);
    g_assert_cmpuint(mapped_ram_bitmap_size(65), ==, 16);
    /* Pages right at the boundary when the bitmap ends on it. */
    g_assert_true(mapped_ram_layout(MAPPED_RAM_ALIGN - 36, BLOCK, PAGE, &h));
    g_assert_cmpuint(h.pages_offset, ==, MAPPED_RAM_ALIGN);
    g_assert_false(mapped_ram_layout(UINT64_MAX - 10, BLOCK, PAGE, &h));
    g_assert_false(mapped_ram_layout(0, UINT64_MAX - PAGE + 1, PAGE, &h));
    expect(&(MappedRamHeader){0}, 0, "version");
    h = good(&size);
    expect(&h, size, NULL);
    expect(&h, h.pages_offset + BLOCK, NULL);
}

static void test_encode_decode(void)
{
    MappedRamHeader h = {
        .version = 1, .page_size = 4096,
        .bitmap_offset = 0x0102030405060708ULL, .pages_offset = 0x100000,
    }, back;
    uint8_t buf[MAPPED_RAM_HEADER_SIZE];
    static const uint8_t want[MAPPED_RAM_HEADER_SIZE] = {
        0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x10, 0,
        1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0x10, 0, 0,
    };

    mapped_ram_header_encode(&h, buf);
    g_assert_cmpmem(buf, sizeof(buf), want, sizeof(want));
    mapped_ram_header_decode(buf, &back);
    g_assert_cmpuint(back.version, ==, h.version);
    g_assert_cmpuint(back.page_size, ==, h.page_size);
    g_assert_cmphex(back.bitmap_offset, ==, h.bitmap_offset);
    g_assert_cmphex(back.pages_offset, ==, h.pages_offset);
}

static void test_bad_fields(void)
{
    MappedRamHeader h;
    uint64_t size;

    h = good(&size);
    h.version = 2;
    expect(&h, size, "version 2");
    h = good(&size);
    h.page_size = 65536;
    expect(&h, size, "page size 65536");
    h = good(&size);
    h.page_size = 0;
    expect(&h, size, "page size 0");
}

static void test_bad_offsets(void)
{
    MappedRamHeader h;
    uint64_t size;

    /* Bitmap over the header, past the end, wrapping around. */
    h = good(&size);
    h.bitmap_offset = HDR_POS;
    expect(&h, size, "bitmap at offset");
    h = good(&size);
    h.bitmap_offset = size - 4;
    expect(&h, size, "outside the file");
    h = good(&size);
    h.bitmap_offset = UINT64_MAX - 3;
    expect(&h, size, "outside the file");
    /* Pages over the bitmap, past the end, wrapping around. */
    h = good(&size);
    h.pages_offset = h.bitmap_offset + 4;
    expect(&h, size, "overlap");
    h = good(&size);
    h.pages_offset = size - BLOCK + PAGE;
    expect(&h, size, "truncated");
    h = good(&size);
    h.pages_offset = UINT64_MAX - PAGE;
    expect(&h, size, "truncated");
    /* A file cut inside the pages (the device state is gone too). */
    h = good(&size);
    expect(&h, h.pages_offset + BLOCK - 1, "truncated");
    expect(&h, 0, "outside the file");
}

static void test_bitmap(void)
{
    uint8_t bmap[16] = { 0 };
    uint64_t start = 99;
    Error *err = NULL;

    g_assert_cmpuint(mapped_ram_bitmap_next_run(bmap, 100, 0, &start), ==, 0);
    mapped_ram_bitmap_assign(bmap, 3, true);
    mapped_ram_bitmap_assign(bmap, 4, true);
    mapped_ram_bitmap_assign(bmap, 70, true);
    g_assert_true(mapped_ram_bitmap_test(bmap, 70));
    g_assert_cmphex(bmap[0], ==, 0x18);     /* LE word layout: bit 3, 4 */
    g_assert_cmpuint(mapped_ram_bitmap_next_run(bmap, 100, 0, &start), ==, 2);
    g_assert_cmpuint(start, ==, 3);
    g_assert_cmpuint(mapped_ram_bitmap_next_run(bmap, 100, 5, &start), ==, 1);
    g_assert_cmpuint(start, ==, 70);
    g_assert_cmpuint(mapped_ram_bitmap_next_run(bmap, 100, 71, &start), ==, 0);
    /* A run stops at the block's end even if the bits go on. */
    memset(bmap, 0xff, sizeof(bmap));
    g_assert_cmpuint(mapped_ram_bitmap_next_run(bmap, 100, 90, &start), ==, 10);
    /* Bits past the block's pages: refused. */
    g_assert_false(mapped_ram_bitmap_check(bmap, 100, "pc.ram", &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "page 100"));
    error_free(err);
    err = NULL;
    mapped_ram_bitmap_assign(bmap, 127, false);
    for (int p = 100; p < 128; p++) {
        mapped_ram_bitmap_assign(bmap, p, false);
    }
    g_assert_true(mapped_ram_bitmap_check(bmap, 100, "pc.ram", &err));
    mapped_ram_bitmap_assign(bmap, 127, true);
    g_assert_false(mapped_ram_bitmap_check(bmap, 100, "pc.ram", &err));
    error_free(err);
}

/* Every header a byte-flip of a valid one produces is checked safely. */
static void test_flips(void)
{
    MappedRamHeader h, bad;
    uint8_t buf[MAPPED_RAM_HEADER_SIZE];
    uint64_t size;

    h = good(&size);
    mapped_ram_header_encode(&h, buf);
    for (size_t i = 0; i < sizeof(buf); i++) {
        for (int bit = 0; bit < 8; bit++) {
            Error *err = NULL;
            uint64_t bsize = mapped_ram_bitmap_size(BLOCK / PAGE);

            buf[i] ^= 1 << bit;
            mapped_ram_header_decode(buf, &bad);
            if (mapped_ram_header_check(&bad, "pc.ram", HDR_POS, BLOCK, PAGE,
                                        size, &err)) {
                /* Accepted: then every region really is in the file. */
                g_assert_cmpuint(bad.bitmap_offset, >=,
                                 HDR_POS + MAPPED_RAM_HEADER_SIZE);
                g_assert_cmpuint(bad.bitmap_offset + bsize, <=,
                                 bad.pages_offset);
                g_assert_cmpuint(bad.pages_offset + BLOCK, <=, size);
            } else {
                error_free(err);
            }
            buf[i] ^= 1 << bit;
        }
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/mapped-ram/layout", test_layout);
    g_test_add_func("/mapped-ram/encode-decode", test_encode_decode);
    g_test_add_func("/mapped-ram/bad-fields", test_bad_fields);
    g_test_add_func("/mapped-ram/bad-offsets", test_bad_offsets);
    g_test_add_func("/mapped-ram/bitmap", test_bitmap);
    g_test_add_func("/mapped-ram/flips", test_flips);
    return g_test_run();
}
