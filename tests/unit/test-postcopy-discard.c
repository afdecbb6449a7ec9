/*
 * Unit tests for postcopy_discard_parse() (migration/postcopy-discard.c):
 * the CMD_POSTCOPY_RAM_DISCARD payload (u8 version, u8 name length, the
 * name, a NUL, then be64 start / be64 length pairs).
 *
 * RAMBlocks are built by hand (the parser only reads idstr, page_size and
 * used_length): this file provides ram_block_by_name() over them.  Every
 * payload is parsed from an exact-size heap copy so that ASan flags any
 * read past its end.  The mutation test feeds a few thousand corrupted
 * payloads (fixed seed) and checks that every range handed to the
 * callback lies inside its block.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "system/ramblock.h"
#include "migration/postcopy-ram.h"

#define PAGE        4096ull
#define HUGE_PAGE   (2ull << 20)
#define RAM_PAGES   64
#define MUTATIONS   5000

/*
 * "pc.ram": 4 KiB pages, a used length shorter than its maximum (the
 * parser must bound ranges by the used length).  "mem1": 2 MiB pages.
 * LONG_NAME: long enough (17 bytes or more) that a payload of just the
 * header passes the minimum-length check.
 */
#define LONG_NAME "memory-backend-ram0"
static RAMBlock test_blocks[3] = {
    {
        .idstr = "pc.ram",
        .used_length = RAM_PAGES * PAGE,
        .max_length = 2 * RAM_PAGES * PAGE,
        .page_size = PAGE,
        .fd = -1,
    },
    {
        .idstr = "mem1",
        .used_length = 4 * HUGE_PAGE,
        .max_length = 4 * HUGE_PAGE,
        .page_size = HUGE_PAGE,
        .fd = -1,
    },
    {
        .idstr = LONG_NAME,
        .used_length = PAGE,
        .max_length = PAGE,
        .page_size = PAGE,
        .fd = -1,
    },
};
#define PC_RAM  (&test_blocks[0])
#define MEM1    (&test_blocks[1])

RAMBlock *ram_block_by_name(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(test_blocks); i++) {
        if (!strcmp(test_blocks[i].idstr, name)) {
            return &test_blocks[i];
        }
    }
    return NULL;
}

/* ---- building payloads ---- */

static void put_u8(GByteArray *s, uint8_t v)
{
    g_byte_array_append(s, &v, 1);
}

static void put_be64(GByteArray *s, uint64_t v)
{
    for (int shift = 56; shift >= 0; shift -= 8) {
        put_u8(s, v >> shift);
    }
}

/* Version 0, the counted name and its NUL: the header before the ranges. */
static GByteArray *payload_new(const char *name)
{
    GByteArray *s = g_byte_array_new();
    size_t len = strlen(name);

    g_assert_cmpuint(len, <=, 255);
    put_u8(s, POSTCOPY_DISCARD_VERSION);
    put_u8(s, len);
    g_byte_array_append(s, (const guint8 *)name, len);
    put_u8(s, 0);
    return s;
}

static void put_range(GByteArray *s, uint64_t start, uint64_t length)
{
    put_be64(s, start);
    put_be64(s, length);
}

/* ---- parsing and recording ---- */

typedef struct Range {
    RAMBlock *rb;
    uint64_t start;
    uint64_t length;
} Range;

typedef struct Recorder {
    GArray *ranges;     /* of Range */
    int fail_at;        /* index of the range the callback refuses, or -1 */
} Recorder;

/*
 * Record one range; the parser promised it is page aligned, non-empty and
 * inside the block's used length, so check that here, for every caller
 * (the mutation test relies on it).
 */
static bool record_range(RAMBlock *rb, uint64_t start, uint64_t length,
                         void *opaque, Error **errp)
{
    Recorder *r = opaque;
    Range range = { rb, start, length };

    g_assert_true(rb >= test_blocks &&
                  rb < test_blocks + G_N_ELEMENTS(test_blocks));
    g_assert_cmpuint(length, >, 0);
    g_assert_cmpuint(start % rb->page_size, ==, 0);
    g_assert_cmpuint(length % rb->page_size, ==, 0);
    g_assert_cmpuint(start, <, rb->used_length);
    g_assert_cmpuint(length, <=, rb->used_length - start);
    if (r->fail_at == (int)r->ranges->len) {
        error_setg(errp, "test callback refuses range %u", r->ranges->len);
        return false;
    }
    g_array_append_val(r->ranges, range);
    return true;
}

static void recorder_init(Recorder *r)
{
    r->ranges = g_array_new(false, false, sizeof(Range));
    r->fail_at = -1;
}

/* Parse @len bytes of @data from an exact-size heap copy. */
static bool parse(const uint8_t *data, size_t len, Recorder *r, Error **errp)
{
    g_autofree uint8_t *copy = len ? g_memdup2(data, len) : NULL;

    return postcopy_discard_parse(copy, len, record_range, r, errp);
}

static void check_range(GArray *ranges, guint i, RAMBlock *rb,
                        uint64_t start, uint64_t length)
{
    Range *got;

    g_assert_cmpuint(i, <, ranges->len);
    got = &g_array_index(ranges, Range, i);
    g_assert_true(got->rb == rb);
    g_assert_cmphex(got->start, ==, start);
    g_assert_cmphex(got->length, ==, length);
}

/* Parse @s, expecting success; returns the recorded ranges. */
static GArray *parse_ok(GByteArray *s)
{
    Recorder r;

    recorder_init(&r);
    g_assert_true(parse(s->data, s->len, &r, &error_abort));
    return r.ranges;
}

/*
 * Parse @s, expecting failure with an error containing @what, before any
 * range reached the callback.
 */
static void parse_fails(GByteArray *s, const char *what)
{
    Recorder r;
    Error *err = NULL;

    recorder_init(&r);
    g_assert_false(parse(s->data, s->len, &r, &err));
    g_assert_nonnull(err);
    if (!strstr(error_get_pretty(err), what)) {
        g_error("error '%s' lacks '%s'", error_get_pretty(err), what);
    }
    g_assert_cmpuint(r.ranges->len, ==, 0);
    error_free(err);
    g_array_free(r.ranges, true);
}

/* A payload for @name holding the one range [@start, @start + @length). */
static void one_range_fails(const char *name, uint64_t start,
                            uint64_t length, const char *what)
{
    g_autoptr(GByteArray) s = payload_new(name);

    put_range(s, start, length);
    parse_fails(s, what);
}

/* ---- valid payloads ---- */

static void test_one_range(void)
{
    g_autoptr(GByteArray) s = payload_new("pc.ram");
    g_autoptr(GArray) got = NULL;

    put_range(s, 3 * PAGE, 5 * PAGE);
    got = parse_ok(s);
    g_assert_cmpuint(got->len, ==, 1);
    check_range(got, 0, PC_RAM, 3 * PAGE, 5 * PAGE);
}

/* QEMU's batch of 12, then far more (only the u16 length bounds it). */
static void test_many_ranges(void)
{
    static const guint counts[] = { POSTCOPY_DISCARD_MAX_RANGES, 200 };

    for (size_t c = 0; c < G_N_ELEMENTS(counts); c++) {
        g_autoptr(GByteArray) s = payload_new("pc.ram");
        g_autoptr(GArray) got = NULL;

        for (guint i = 0; i < counts[c]; i++) {
            put_range(s, (i % RAM_PAGES) * PAGE, PAGE);
        }
        got = parse_ok(s);
        g_assert_cmpuint(got->len, ==, counts[c]);
        for (guint i = 0; i < counts[c]; i++) {
            check_range(got, i, PC_RAM, (i % RAM_PAGES) * PAGE, PAGE);
        }
    }
}

/* The last page, the whole block, and a range ending exactly at the end. */
static void test_block_edges(void)
{
    g_autoptr(GByteArray) s = payload_new("pc.ram");
    g_autoptr(GArray) got = NULL;

    put_range(s, (RAM_PAGES - 1) * PAGE, PAGE);
    put_range(s, 0, RAM_PAGES * PAGE);
    put_range(s, 10 * PAGE, (RAM_PAGES - 10) * PAGE);
    got = parse_ok(s);
    g_assert_cmpuint(got->len, ==, 3);
    check_range(got, 0, PC_RAM, (RAM_PAGES - 1) * PAGE, PAGE);
    check_range(got, 1, PC_RAM, 0, RAM_PAGES * PAGE);
    check_range(got, 2, PC_RAM, 10 * PAGE, (RAM_PAGES - 10) * PAGE);
}

/* One payload names one block; two payloads reach two blocks. */
static void test_two_blocks(void)
{
    g_autoptr(GByteArray) a = payload_new("pc.ram");
    g_autoptr(GByteArray) b = payload_new("mem1");
    g_autoptr(GArray) got_a = NULL;
    g_autoptr(GArray) got_b = NULL;

    put_range(a, 7 * PAGE, PAGE);
    put_range(b, HUGE_PAGE, 2 * HUGE_PAGE);
    put_range(b, 3 * HUGE_PAGE, HUGE_PAGE);
    got_a = parse_ok(a);
    got_b = parse_ok(b);
    g_assert_cmpuint(got_a->len, ==, 1);
    check_range(got_a, 0, PC_RAM, 7 * PAGE, PAGE);
    g_assert_cmpuint(got_b->len, ==, 2);
    check_range(got_b, 0, MEM1, HUGE_PAGE, 2 * HUGE_PAGE);
    check_range(got_b, 1, MEM1, 3 * HUGE_PAGE, HUGE_PAGE);
}

/*
 * Ranges go to the callback in order and the first bad one stops the
 * parse: the ones before it were already applied (as in QEMU).
 */
static void test_stops_at_first_error(void)
{
    g_autoptr(GByteArray) s = payload_new("pc.ram");
    Recorder r;
    Error *err = NULL;

    put_range(s, 0, PAGE);
    put_range(s, RAM_PAGES * PAGE, PAGE);
    put_range(s, 2 * PAGE, PAGE);
    recorder_init(&r);
    g_assert_false(parse(s->data, s->len, &r, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "range start 0x40000"));
    g_assert_cmpuint(r.ranges->len, ==, 1);
    check_range(r.ranges, 0, PC_RAM, 0, PAGE);
    error_free(err);
    g_array_free(r.ranges, true);
}

/* The callback's error is the parser's, and nothing after it runs. */
static void test_callback_error(void)
{
    g_autoptr(GByteArray) s = payload_new("pc.ram");
    Recorder r;
    Error *err = NULL;

    put_range(s, 0, PAGE);
    put_range(s, PAGE, PAGE);
    put_range(s, 2 * PAGE, PAGE);
    recorder_init(&r);
    r.fail_at = 1;
    g_assert_false(parse(s->data, s->len, &r, &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "test callback refuses range 1");
    g_assert_cmpuint(r.ranges->len, ==, 1);
    error_free(err);
    g_array_free(r.ranges, true);
}

/* ---- malformed payloads ---- */

static void test_bad_version(void)
{
    g_autoptr(GByteArray) s = payload_new("pc.ram");

    put_range(s, 0, PAGE);
    s->data[0] = 1;
    parse_fails(s, "invalid version (1)");
    s->data[0] = 0xff;
    parse_fails(s, "invalid version (255)");
}

static void test_too_short(void)
{
    g_autoptr(GByteArray) s = payload_new("pc.ram");
    g_autoptr(GByteArray) l = payload_new(LONG_NAME);

    /* A known block's header and no range is not a valid DISCARD. */
    g_assert_cmpuint(l->len, >=, 20);
    parse_fails(l, "invalid length (22)");
    parse_fails(s, "invalid length (9)");   /* header, no range */
    put_be64(s, 0);
    parse_fails(s, "invalid length (17)");  /* half a range */
    g_byte_array_set_size(s, 0);
    parse_fails(s, "invalid length (0)");
    put_u8(s, 0);
    parse_fails(s, "invalid length (1)");
}

/* The counted name runs past the end (or leaves no room for its NUL). */
static void test_name_overrun(void)
{
    g_autoptr(GByteArray) s = payload_new("pc.ram");

    put_range(s, 0, PAGE);
    s->data[1] = 255;
    parse_fails(s, "block name of 255 bytes overruns the 25-byte payload");
    /* 2 + 23 = 25: the name ends exactly at the end, no NUL fits. */
    s->data[1] = 23;
    parse_fails(s, "block name of 23 bytes overruns the 25-byte payload");
}

static void test_missing_nul(void)
{
    g_autoptr(GByteArray) s = payload_new("pc.ram");
    g_autoptr(GByteArray) t = payload_new("pc.ram");

    put_range(s, 0, PAGE);
    s->data[2 + strlen("pc.ram")] = 'x';
    parse_fails(s, "missing nil (120)");
    /* A shorter count: the byte after it is the name's 'r', not a NUL. */
    put_range(t, 0, PAGE);
    t->data[1] = 3;
    parse_fails(t, "missing nil (114)");
}

static void test_unknown_block(void)
{
    one_range_fails("nosuch", 0, PAGE,
                    "names unknown RAM block 'nosuch'");
    /* A prefix of a real name is not that block. */
    one_range_fails("pc.ra", 0, PAGE, "names unknown RAM block 'pc.ra'");
}

/*
 * A zero-length name: with one range the payload is shorter than the
 * smallest valid one (a 1-byte name); with two it names no block.
 */
static void test_empty_name(void)
{
    g_autoptr(GByteArray) s = payload_new("");

    put_range(s, 0, PAGE);
    parse_fails(s, "invalid length (19)");
    put_range(s, PAGE, PAGE);
    parse_fails(s, "names unknown RAM block ''");
}

/* Bytes beyond the last whole range, 1 to 15 of them. */
static void test_trailing_bytes(void)
{
    for (int extra = 1; extra < 16; extra++) {
        g_autoptr(GByteArray) s = payload_new("pc.ram");
        g_autofree char *what = NULL;

        put_range(s, 0, PAGE);
        for (int i = 0; i < extra; i++) {
            put_u8(s, 0);
        }
        what = g_strdup_printf("invalid length (%u)", s->len);
        parse_fails(s, what);
    }
}

static void test_start_past_end(void)
{
    one_range_fails("pc.ram", RAM_PAGES * PAGE, PAGE,
                    "range start 0x40000 length 0x1000 is not a page-aligned "
                    "range inside RAM block 'pc.ram' (used length 0x40000)");
    /* Inside max_length, but past the used length. */
    one_range_fails("pc.ram", (RAM_PAGES + 1) * PAGE, PAGE,
                    "range start 0x41000 length 0x1000");
    one_range_fails("pc.ram", UINT64_MAX & ~(PAGE - 1), PAGE,
                    "range start 0xfffffffffffff000 length 0x1000");
    one_range_fails("mem1", 4 * HUGE_PAGE, HUGE_PAGE,
                    "range start 0x800000 length 0x200000");
}

static void test_end_past_end(void)
{
    one_range_fails("pc.ram", (RAM_PAGES - 1) * PAGE, 2 * PAGE,
                    "range start 0x3f000 length 0x2000");
    one_range_fails("pc.ram", 0, (RAM_PAGES + 1) * PAGE,
                    "range start 0x0 length 0x41000");
    one_range_fails("mem1", 3 * HUGE_PAGE, 2 * HUGE_PAGE,
                    "range start 0x600000 length 0x400000");
}

/* start + length wraps past 2^64 to land inside the block. */
static void test_wrap_around(void)
{
    uint64_t huge = UINT64_MAX & ~(PAGE - 1);   /* 2^64 - 4 KiB */

    one_range_fails("pc.ram", PAGE, huge,
                    "range start 0x1000 length 0xfffffffffffff000");
    one_range_fails("pc.ram", 2 * PAGE, huge - PAGE,
                    "range start 0x2000 length 0xffffffffffffe000");
    one_range_fails("pc.ram", huge, 2 * PAGE,
                    "range start 0xfffffffffffff000 length 0x2000");
}

static void test_unaligned(void)
{
    one_range_fails("pc.ram", 1, PAGE, "range start 0x1 length 0x1000");
    one_range_fails("pc.ram", PAGE, PAGE + 512,
                    "range start 0x1000 length 0x1200");
    one_range_fails("pc.ram", PAGE, 1, "range start 0x1000 length 0x1");
    /* 4 KiB aligned is not enough on a 2 MiB-page block. */
    one_range_fails("mem1", PAGE, HUGE_PAGE,
                    "range start 0x1000 length 0x200000 is not a "
                    "page-aligned range inside RAM block 'mem1'");
    one_range_fails("mem1", 0, PAGE,
                    "range start 0x0 length 0x1000");
}

/* QEMU's source never sends an empty range; we refuse one. */
static void test_zero_length(void)
{
    one_range_fails("pc.ram", 0, 0, "range start 0x0 length 0x0");
    one_range_fails("pc.ram", (RAM_PAGES - 1) * PAGE, 0,
                    "range start 0x3f000 length 0x0");
}

/* ---- mutations ---- */

/* Values likely to sit on a boundary of some check. */
static uint64_t interesting_u64(GRand *rand)
{
    static const uint64_t v[] = {
        0, 1, PAGE - 1, PAGE, PAGE + 1, HUGE_PAGE, HUGE_PAGE - PAGE,
        RAM_PAGES * PAGE, (RAM_PAGES - 1) * PAGE, (RAM_PAGES + 1) * PAGE,
        2 * RAM_PAGES * PAGE, 4 * HUGE_PAGE, 3 * HUGE_PAGE, 5 * HUGE_PAGE,
        UINT64_MAX, UINT64_MAX & ~(PAGE - 1), UINT64_MAX & ~(HUGE_PAGE - 1),
        1ull << 63, (1ull << 63) - PAGE, UINT32_MAX, 1ull << 32,
    };
    uint64_t x = v[g_rand_int_range(rand, 0, G_N_ELEMENTS(v))];

    /* Sometimes the negation: 2^64 - x wraps a start + length sum. */
    return g_rand_boolean(rand) ? x : -x;
}

/* A valid payload to start from: 1 to 12 ranges of one block. */
static GByteArray *random_valid(GRand *rand)
{
    RAMBlock *rb = &test_blocks[g_rand_int_range(rand, 0, 2)];
    uint64_t pages = rb->used_length / rb->page_size;
    GByteArray *s = payload_new(rb->idstr);
    int n = g_rand_int_range(rand, 1, POSTCOPY_DISCARD_MAX_RANGES + 1);

    for (int i = 0; i < n; i++) {
        uint64_t first = g_rand_int_range(rand, 0, pages);
        uint64_t count = g_rand_int_range(rand, 1, pages - first + 1);

        put_range(s, first * rb->page_size, count * rb->page_size);
    }
    return s;
}

static void put_be64_at(GByteArray *s, size_t pos, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8) {
        s->data[pos + i] = v;
    }
}

/*
 * Mutate @s once; @fields_only limits it to rewriting one start or length
 * field, which keeps the framing intact so more payloads get through.
 */
static void mutate_once(GByteArray *s, GRand *rand, bool fields_only)
{
    guint pos = s->len ? g_rand_int_range(rand, 0, s->len) : 0;
    uint8_t byte = g_rand_int_range(rand, 0, 256);

    switch (fields_only ? 7 : g_rand_int_range(rand, 0, 8)) {
    case 0:     /* flip one bit */
        if (s->len) {
            s->data[pos] ^= 1 << g_rand_int_range(rand, 0, 8);
        }
        break;
    case 1:     /* overwrite one byte */
        if (s->len) {
            s->data[pos] = byte;
        }
        break;
    case 2:     /* the name length */
        if (s->len > 1) {
            s->data[1] = g_rand_boolean(rand) ? byte : s->data[1] + 1;
        }
        break;
    case 3:     /* cut the tail */
        g_byte_array_set_size(s, pos);
        break;
    case 4:     /* insert a byte */
        g_byte_array_set_size(s, s->len + 1);
        memmove(s->data + pos + 1, s->data + pos, s->len - 1 - pos);
        s->data[pos] = byte;
        break;
    case 5:     /* remove a byte */
        if (s->len) {
            g_byte_array_remove_index(s, pos);
        }
        break;
    case 6:     /* a boundary value over some 8 bytes */
        if (s->len >= 8) {
            put_be64_at(s, g_rand_int_range(rand, 0, s->len - 7),
                        interesting_u64(rand));
        }
        break;
    default:    /* one start or length field: near-valid or a boundary */
        if (s->len > 1) {
            size_t first = 2 + s->data[1] + 1;

            if (first + 8 <= s->len) {
                guint field = g_rand_int_range(rand, 0,
                                               (s->len - first) / 8);
                uint64_t v;

                switch (g_rand_int_range(rand, 0, 3)) {
                case 0:
                    v = g_rand_int_range(rand, 0, RAM_PAGES + 2) * PAGE;
                    break;
                case 1:
                    v = g_rand_int_range(rand, 0, 6) * HUGE_PAGE;
                    break;
                default:
                    v = interesting_u64(rand);
                    break;
                }

                put_be64_at(s, first + field * 8, v);
            }
        }
        break;
    }
}

/*
 * Corrupt valid payloads at random (fixed seed).  record_range() asserts
 * each range lies in its block; here: an error on every failure (and no
 * crash without an errp), and on success one range per 16 bytes.
 */
static void test_mutations(void)
{
    g_autoptr(GRand) rand = g_rand_new_with_seed(0x5eed0d15);
    guint accepted = 0, rejected = 0;

    for (int iter = 0; iter < MUTATIONS; iter++) {
        g_autoptr(GByteArray) s = random_valid(rand);
        int nmut = g_rand_int_range(rand, 1, 4);
        bool fields_only = iter % 2;
        bool with_errp = iter % 8 != 0;
        Error *err = NULL;
        Recorder r;
        bool ok;

        for (int m = 0; m < nmut; m++) {
            mutate_once(s, rand, fields_only);
        }
        recorder_init(&r);
        ok = parse(s->data, s->len, &r, with_errp ? &err : NULL);
        if (ok) {
            size_t header = 2 + s->data[1] + 1;

            g_assert_null(err);
            g_assert_cmpuint((s->len - header) % 16, ==, 0);
            g_assert_cmpuint(r.ranges->len, ==, (s->len - header) / 16);
            accepted++;
        } else {
            if (with_errp) {
                g_assert_nonnull(err);
                g_assert_true(g_str_has_prefix(error_get_pretty(err),
                                               "CMD_POSTCOPY_RAM_DISCARD"));
                error_free(err);
            }
            rejected++;
        }
        g_array_free(r.ranges, true);
    }
    /* Both outcomes must occur, or the mutations test nothing. */
    g_test_message("%u accepted, %u rejected", accepted, rejected);
    g_assert_cmpuint(accepted, >, MUTATIONS / 20);
    g_assert_cmpuint(rejected, >, MUTATIONS / 2);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/postcopy-discard/valid/one-range", test_one_range);
    g_test_add_func("/postcopy-discard/valid/many-ranges", test_many_ranges);
    g_test_add_func("/postcopy-discard/valid/block-edges", test_block_edges);
    g_test_add_func("/postcopy-discard/valid/two-blocks", test_two_blocks);
    g_test_add_func("/postcopy-discard/valid/stops-at-first-error",
                    test_stops_at_first_error);
    g_test_add_func("/postcopy-discard/valid/callback-error",
                    test_callback_error);
    g_test_add_func("/postcopy-discard/bad/version", test_bad_version);
    g_test_add_func("/postcopy-discard/bad/too-short", test_too_short);
    g_test_add_func("/postcopy-discard/bad/name-overrun", test_name_overrun);
    g_test_add_func("/postcopy-discard/bad/missing-nul", test_missing_nul);
    g_test_add_func("/postcopy-discard/bad/unknown-block", test_unknown_block);
    g_test_add_func("/postcopy-discard/bad/empty-name", test_empty_name);
    g_test_add_func("/postcopy-discard/bad/trailing-bytes",
                    test_trailing_bytes);
    g_test_add_func("/postcopy-discard/bad/start-past-end",
                    test_start_past_end);
    g_test_add_func("/postcopy-discard/bad/end-past-end", test_end_past_end);
    g_test_add_func("/postcopy-discard/bad/wrap-around", test_wrap_around);
    g_test_add_func("/postcopy-discard/bad/unaligned", test_unaligned);
    g_test_add_func("/postcopy-discard/bad/zero-length", test_zero_length);
    g_test_add_func("/postcopy-discard/mutations", test_mutations);
    return g_test_run();
}
