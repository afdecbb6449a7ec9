/*
 * Unit tests for migration/postcopy-recover.c: RECV_BITMAP's layout
 * (QEMU's: be64 size rounded to 8 bytes, little-endian bits, be64 end
 * mark) and the checks a source makes on a destination's answer.
 * Buffers are exact-size heap copies so ASan sees any overrun.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/bitmap.h"
#include "migration/postcopy-recover.h"

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static void test_size(void)
{
    g_assert_cmpuint(postcopy_recv_bitmap_size(0), ==, 0);
    g_assert_cmpuint(postcopy_recv_bitmap_size(1), ==, 8);
    g_assert_cmpuint(postcopy_recv_bitmap_size(64), ==, 8);
    g_assert_cmpuint(postcopy_recv_bitmap_size(65), ==, 16);
    /* 150 MiB of 4 KiB pages: 38400 bits, 4800 bytes. */
    g_assert_cmpuint(postcopy_recv_bitmap_size(38400), ==, 4800);
}

/* Encode on the "destination", decode on the "source": the complement. */
static void test_round_trip(void)
{
    const uint64_t pages = 1000;
    g_autofree unsigned long *received = bitmap_new(pages);
    g_autofree unsigned long *to_send = bitmap_new(pages);
    g_autofree uint8_t *wire = NULL;
    g_autofree uint8_t *le = NULL;
    uint64_t size = postcopy_recv_bitmap_size(pages);
    size_t len;

    for (uint64_t p = 0; p < pages; p += 3) {
        set_bit(p, received);
    }
    set_bit(pages - 1, received);
    wire = postcopy_recv_bitmap_encode(received, pages, &len);
    g_assert_cmpuint(len, ==, 8 + size + 8);
    g_assert_cmpuint(get_be64(wire), ==, size);
    g_assert_cmpuint(get_be64(wire + 8 + size), ==,
                     POSTCOPY_RECV_BITMAP_ENDING);
    /* Little-endian bit order: page 0 is bit 0 of byte 0, page 3 bit 3. */
    g_assert_cmphex(wire[8], ==, 0x49);
    g_assert_true(postcopy_recv_bitmap_check_size("pc.ram", pages, size,
                                                  &error_abort));
    le = g_memdup2(wire + 8, size);
    g_assert_true(postcopy_recv_bitmap_decode("pc.ram", le, pages,
                                              get_be64(wire + 8 + size),
                                              to_send, &error_abort));
    for (uint64_t p = 0; p < pages; p++) {
        g_assert_cmpint(test_bit(p, to_send), ==, !test_bit(p, received));
    }
}

static void expect_error(Error *err, const char *needle)
{
    g_assert_nonnull(err);
    g_test_message("%s", error_get_pretty(err));
    g_assert_nonnull(strstr(error_get_pretty(err), needle));
    error_free(err);
}

static void test_bad_size(void)
{
    Error *err = NULL;

    g_assert_false(postcopy_recv_bitmap_check_size("pc.ram", 38400, 4792,
                                                   &err));
    expect_error(err, "pc.ram");
    err = NULL;
    g_assert_false(postcopy_recv_bitmap_check_size("pc.ram", 38400,
                                                   UINT64_MAX, &err));
    expect_error(err, "does not match");
}

/* A bad end mark leaves the to-send bitmap as it was. */
static void test_bad_end_mark(void)
{
    const uint64_t pages = 128;
    g_autofree unsigned long *to_send = bitmap_new(pages);
    g_autofree uint8_t *le = g_malloc0(postcopy_recv_bitmap_size(pages));
    Error *err = NULL;

    bitmap_set(to_send, 5, 7);
    g_assert_false(postcopy_recv_bitmap_decode("pc.ram", le, pages,
                                               0xdeadbeefULL, to_send, &err));
    expect_error(err, "end mark incorrect");
    g_assert_cmpuint(bitmap_count_one(to_send, pages), ==, 7);
    g_assert_true(test_bit(5, to_send) && test_bit(11, to_send));
}

static void check_name(const uint8_t *bytes, size_t len, const char *want)
{
    g_autofree uint8_t *buf = g_memdup2(bytes, len ? len : 1);
    char name[256];
    Error *err = NULL;
    bool ok = postcopy_recv_bitmap_parse_name(buf, len, "CMD_RECV_BITMAP",
                                              name, &err);

    if (want) {
        g_assert_true(ok);
        g_assert_cmpstr(name, ==, want);
    } else {
        g_assert_false(ok);
        expect_error(err, "CMD_RECV_BITMAP");
    }
}

static void test_names(void)
{
    uint8_t buf[256];
    char long_name[256];
    size_t len;

    check_name((const uint8_t *)"\x06pc.ram", 7, "pc.ram");
    check_name((const uint8_t *)"", 0, NULL);               /* empty */
    check_name((const uint8_t *)"\x00", 1, NULL);           /* no name */
    check_name((const uint8_t *)"\x07pc.ram", 7, NULL);     /* too short */
    check_name((const uint8_t *)"\x05pc.ram", 7, NULL);     /* too long */
    check_name((const uint8_t *)"\x06pc\0ram", 7, NULL);    /* NUL inside */
    memset(long_name, 'x', 255);
    long_name[255] = '\0';
    len = postcopy_recv_bitmap_put_name(long_name, buf);
    g_assert_cmpuint(len, ==, 256);
    check_name(buf, len, long_name);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/postcopy-recover/size", test_size);
    g_test_add_func("/postcopy-recover/round-trip", test_round_trip);
    g_test_add_func("/postcopy-recover/bad-size", test_bad_size);
    g_test_add_func("/postcopy-recover/bad-end-mark", test_bad_end_mark);
    g_test_add_func("/postcopy-recover/names", test_names);
    return g_test_run();
}
