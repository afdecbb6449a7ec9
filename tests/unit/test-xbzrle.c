/*
 * Unit tests for migration/xbzrle.c.
 *
 * Buffers are exact-size heap allocations so that ASan catches any access
 * past a page or an output buffer.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "migration/xbzrle.h"

#define PAGE 4096

static uint8_t *random_page(GRand *r)
{
    uint8_t *p = g_malloc(PAGE);
    int i;

    for (i = 0; i < PAGE; i++) {
        p[i] = g_rand_int(r);
    }
    return p;
}

/* Edits of several shapes: single bytes, spans, word-crossing spans. */
static void random_edits(GRand *r, uint8_t *page, int nedits)
{
    int e;

    for (e = 0; e < nedits; e++) {
        int off = g_rand_int_range(r, 0, PAGE);
        int len = g_rand_boolean(r) ? 1 : g_rand_int_range(r, 1, 200);
        int i;

        for (i = off; i < MIN(off + len, PAGE); i++) {
            /* Sometimes write the same value: an edit that changes nothing. */
            page[i] = g_rand_int_range(r, 0, 8) ? (uint8_t)g_rand_int(r)
                                                : page[i];
        }
    }
}

static void test_identical(void)
{
    GRand *r = g_rand_new_with_seed(1);
    uint8_t *old = random_page(r);
    uint8_t *copy = g_memdup2(old, PAGE);
    uint8_t *enc = g_malloc(PAGE);

    g_assert_cmpint(xbzrle_encode_buffer(old, copy, PAGE, enc, PAGE), ==, 0);
    /* Decoding an empty delta covers nothing and changes nothing. */
    g_assert_cmpint(xbzrle_decode_buffer(enc, 0, copy, PAGE, &error_abort),
                    ==, 0);
    g_assert_cmpmem(copy, PAGE, old, PAGE);
    g_free(old);
    g_free(copy);
    g_free(enc);
    g_rand_free(r);
}

static void test_known_encodings(void)
{
    uint8_t *old = g_malloc0(PAGE), *new = g_malloc0(PAGE);
    uint8_t *enc = g_malloc(PAGE);
    int len;

    new[5] = 0xaa;
    len = xbzrle_encode_buffer(old, new, PAGE, enc, PAGE);
    g_assert_cmpmem(enc, len, ((uint8_t[]){ 5, 1, 0xaa }), 3);

    memset(new, 0, PAGE);
    new[0] = 0x11;
    len = xbzrle_encode_buffer(old, new, PAGE, enc, PAGE);
    g_assert_cmpmem(enc, len, ((uint8_t[]){ 0, 1, 0x11 }), 3);

    /* 200 unchanged bytes need a two-byte ULEB128 count (0xc8 0x01). */
    memset(new, 0, PAGE);
    new[200] = 0x22;
    new[PAGE - 1] = 0x33;
    len = xbzrle_encode_buffer(old, new, PAGE, enc, PAGE);
    g_assert_cmpmem(enc, len,
                    ((uint8_t[]){ 0xc8, 0x01, 1, 0x22,
                                  0xb6, 0x1e, 1, 0x33 }), 8);

    /* A lone unchanged byte between changes is carried in the run. */
    memset(new, 0, PAGE);
    new[10] = 1;
    new[12] = 2;
    len = xbzrle_encode_buffer(old, new, PAGE, enc, PAGE);
    g_assert_cmpmem(enc, len, ((uint8_t[]){ 10, 3, 1, 0, 2 }), 5);

    g_free(old);
    g_free(new);
    g_free(enc);
}

static void test_round_trips(void)
{
    GRand *r = g_rand_new_with_seed(0xb12);
    int iter, encoded = 0;

    for (iter = 0; iter < 2000; iter++) {
        uint8_t *old = random_page(r);
        uint8_t *new = g_memdup2(old, PAGE);
        uint8_t *dst = g_memdup2(old, PAGE);
        uint8_t *enc = g_malloc(PAGE);
        int nedits = g_rand_int_range(r, 0, 1 + (iter % 40));
        int len, covered;

        random_edits(r, new, nedits);
        len = xbzrle_encode_buffer(old, new, PAGE, enc, PAGE);
        g_assert_cmpint(len, >=, -1);
        g_assert_cmpint(len, <, PAGE);
        if (memcmp(old, new, PAGE) == 0) {
            g_assert_cmpint(len, ==, 0);
        } else if (nedits <= 4) {
            /* At most 4 * 200 changed bytes always encode smaller. */
            g_assert_cmpint(len, >, 0);
        }
        if (len > 0) {
            encoded++;
            covered = xbzrle_decode_buffer(enc, len, dst, PAGE, &error_abort);
            g_assert_cmpint(covered, >, 0);
            g_assert_cmpint(covered, <=, PAGE);
            g_assert_cmpmem(dst, PAGE, new, PAGE);
            /* Every byte past the covered end must be unchanged. */
            g_assert_cmpmem(old + covered, PAGE - covered,
                            new + covered, PAGE - covered);
        }
        g_free(old);
        g_free(new);
        g_free(dst);
        g_free(enc);
    }
    g_assert_cmpint(encoded, >, 1000);
    g_rand_free(r);
}

static void test_all_changed_overflows(void)
{
    uint8_t *old = g_malloc0(PAGE), *new = g_malloc(PAGE);
    uint8_t *big = g_malloc(2 * PAGE);

    memset(new, 0xff, PAGE);
    /* Not smaller than the page: -1 even with room to spare. */
    g_assert_cmpint(xbzrle_encode_buffer(old, new, PAGE, big, 2 * PAGE), ==,
                    -1);
    g_assert_cmpint(xbzrle_encode_buffer(old, new, PAGE, big, PAGE), ==, -1);
    g_free(old);
    g_free(new);
    g_free(big);
}

/* An output buffer smaller than the encoding: -1, and no write past it. */
static void test_small_output(void)
{
    uint8_t *old = g_malloc0(PAGE), *new = g_malloc0(PAGE);
    uint8_t *enc;
    int full, dlen;

    for (int i = 0; i < PAGE; i += 50) {
        new[i] = 1;
    }
    enc = g_malloc(PAGE);
    full = xbzrle_encode_buffer(old, new, PAGE, enc, PAGE);
    g_assert_cmpint(full, >, 0);
    g_free(enc);
    for (dlen = 0; dlen <= full; dlen++) {
        enc = g_malloc(MAX(dlen, 1));
        g_assert_cmpint(xbzrle_encode_buffer(old, new, PAGE, enc, dlen), ==,
                        dlen == full ? full : -1);
        g_free(enc);
    }
    g_free(old);
    g_free(new);
}

typedef struct BadCase {
    const char *what;
    uint8_t bytes[8];
    int len;
    const char *msg;    /* expected part of the error message */
} BadCase;

static void test_decode_rejects(void)
{
    static const BadCase cases[] = {
        { "count cut short", { 0x80 }, 1, "truncated" },
        { "no changed run", { 5 }, 1, "changed-run count" },
        { "over-long count", { 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 }, 6,
          "over-long" },
        { "empty changed run", { 5, 0 }, 2, "empty changed run" },
        { "empty unchanged run later", { 0, 1, 9, 0, 1, 9 }, 6,
          "empty unchanged run" },
        { "changed bytes missing", { 0, 3, 1, 2 }, 4, "only 2 bytes" },
        { "skip past page", { 0x81, 0x20, 1, 7 }, 4, "goes past" },
        { "write past page", { 0xff, 0x1f, 2, 7, 7 }, 5, "goes past" },
    };
    uint8_t *page = g_malloc(PAGE), *ref = g_malloc(PAGE);
    unsigned int c;

    memset(ref, 0x5a, PAGE);
    for (c = 0; c < ARRAY_SIZE(cases); c++) {
        Error *err = NULL;

        memcpy(page, ref, PAGE);
        g_assert_cmpint(xbzrle_decode_buffer(cases[c].bytes, cases[c].len,
                                             page, PAGE, &err), ==, -1);
        g_assert_nonnull(err);
        if (!strstr(error_get_pretty(err), cases[c].msg)) {
            g_error("%s: message '%s' lacks '%s'", cases[c].what,
                    error_get_pretty(err), cases[c].msg);
        }
        error_free(err);
        /* Validation happens before any write. */
        g_assert_cmpmem(page, PAGE, ref, PAGE);
    }
    /* The last byte of the page can be written; one more cannot. */
    g_assert_cmpint(xbzrle_decode_buffer((uint8_t[]){ 0xff, 0x1f, 1, 7 }, 4,
                                         page, PAGE, &error_abort), ==, PAGE);
    g_assert_cmpint(page[PAGE - 1], ==, 7);
    g_free(page);
    g_free(ref);
}

/*
 * Fuzz: random bytes and mutated valid encodings must decode to -1 or a
 * length within the page; never crash or touch memory past it (ASan).
 */
static void test_decode_fuzz(void)
{
    GRand *r = g_rand_new_with_seed(0xf022);
    uint8_t *old = random_page(r), *new = g_memdup2(old, PAGE);
    uint8_t *valid = g_malloc(PAGE);
    int valid_len, iter, ok = 0;
    int dlens[] = { PAGE, 1, 17, 64 };

    random_edits(r, new, 10);
    valid_len = xbzrle_encode_buffer(old, new, PAGE, valid, PAGE);
    g_assert_cmpint(valid_len, >, 0);

    for (iter = 0; iter < 20000; iter++) {
        int len = g_rand_int_range(r, 0, 64);
        int dlen = dlens[iter % ARRAY_SIZE(dlens)];
        uint8_t *in, *page = g_malloc(dlen);
        int i, ret;

        if (iter % 2 && valid_len > 0) {
            /* Mutate a valid encoding: flip a few bytes, maybe cut it. */
            len = g_rand_int_range(r, 0, valid_len + 1);
            in = g_memdup2(valid, MAX(len, 1));
            for (i = 0; i < 3 && len; i++) {
                in[g_rand_int_range(r, 0, len)] = g_rand_int(r);
            }
        } else {
            in = g_malloc(MAX(len, 1));
            for (i = 0; i < len; i++) {
                /* Small values make plausible counts more often. */
                in[i] = g_rand_boolean(r) ? g_rand_int_range(r, 0, 8)
                                          : (uint8_t)g_rand_int(r);
            }
        }
        memset(page, 0, dlen);
        ret = xbzrle_decode_buffer(in, len, page, dlen, NULL);
        g_assert_cmpint(ret, >=, -1);
        g_assert_cmpint(ret, <=, dlen);
        ok += ret >= 0;
        g_free(in);
        g_free(page);
    }
    /* Both outcomes must have been exercised. */
    g_assert_cmpint(ok, >, 100);
    g_assert_cmpint(ok, <, 19900);
    g_free(old);
    g_free(new);
    g_free(valid);
    g_rand_free(r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/xbzrle/identical", test_identical);
    g_test_add_func("/xbzrle/known-encodings", test_known_encodings);
    g_test_add_func("/xbzrle/round-trips", test_round_trips);
    g_test_add_func("/xbzrle/all-changed-overflows",
                    test_all_changed_overflows);
    g_test_add_func("/xbzrle/small-output", test_small_output);
    g_test_add_func("/xbzrle/decode-rejects", test_decode_rejects);
    g_test_add_func("/xbzrle/decode-fuzz", test_decode_fuzz);
    return g_test_run();
}
