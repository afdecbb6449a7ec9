/*
 * Unit tests for migration/page_cache.c: the XBZRLE cache.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "migration/page_cache.h"

#define PAGE 4096

static void fill(uint8_t *p, uint8_t v)
{
    memset(p, v, PAGE);
}

static void test_bad_sizes(void)
{
    Error *err = NULL;

    g_assert_null(page_cache_new(PAGE / 2, PAGE, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "power of two"));
    error_free(err);
    err = NULL;
    g_assert_null(page_cache_new(3 * PAGE, PAGE, &err));
    g_assert_nonnull(err);
    error_free(err);
    err = NULL;
    g_assert_null(page_cache_new(0, PAGE, &err));
    g_assert_nonnull(err);
    error_free(err);
    err = NULL;
    g_assert_null(page_cache_new(16 * PAGE, 1000, &err));
    g_assert_nonnull(err);
    error_free(err);
}

static void test_insert_lookup(void)
{
    PageCache *c = page_cache_new(16 * PAGE, PAGE, &error_abort);
    uint8_t page[PAGE];
    uint8_t *got;

    g_assert_cmpuint(page_cache_size(c), ==, 16 * PAGE);
    g_assert_cmpuint(page_cache_max_entries(c), ==, 16);
    g_assert_cmpuint(page_cache_used_entries(c), ==, 0);
    g_assert_null(page_cache_lookup(c, 0, 0, 1));

    fill(page, 0x11);
    got = page_cache_insert(c, 0, 3 * PAGE, page, 1);
    g_assert_nonnull(got);
    g_assert_true(got != page);             /* a copy */
    fill(page, 0x22);                       /* the copy does not follow */
    g_assert_true(page_cache_lookup(c, 0, 3 * PAGE, 1) == got);
    g_assert_cmpint(got[0], ==, 0x11);
    g_assert_cmpint(got[PAGE - 1], ==, 0x11);
    /* Same offset in another block: another key. */
    g_assert_null(page_cache_lookup(c, 1, 3 * PAGE, 1));
    g_assert_null(page_cache_lookup(c, 0, 4 * PAGE, 1));

    /* Re-inserting the same key updates it in place. */
    g_assert_true(page_cache_insert(c, 0, 3 * PAGE, page, 2) == got);
    g_assert_cmpint(got[100], ==, 0x22);
    g_assert_cmpuint(page_cache_used_entries(c), ==, 1);
    page_cache_free(c);
}

/* Two pages with the same slot: index and index + 16 in a 16-entry cache. */
static void test_collision_ages(void)
{
    PageCache *c = page_cache_new(16 * PAGE, PAGE, &error_abort);
    uint8_t a[PAGE], b[PAGE];

    fill(a, 0xaa);
    fill(b, 0xbb);
    g_assert_nonnull(page_cache_insert(c, 0, 5 * PAGE, a, 10));
    /* Used in generation 10: not replaced in 10 or 11. */
    g_assert_null(page_cache_insert(c, 0, 21 * PAGE, b, 10));
    g_assert_null(page_cache_insert(c, 0, 21 * PAGE, b, 11));
    g_assert_nonnull(page_cache_lookup(c, 0, 5 * PAGE, 11));
    /* The lookup refreshed it to 11: still protected in 12. */
    g_assert_null(page_cache_insert(c, 0, 21 * PAGE, b, 12));
    /* Two generations unused: the other page takes the slot. */
    g_assert_nonnull(page_cache_insert(c, 0, 21 * PAGE, b, 13));
    g_assert_null(page_cache_lookup(c, 0, 5 * PAGE, 13));
    g_assert_cmpint(page_cache_lookup(c, 0, 21 * PAGE, 13)[7], ==, 0xbb);
    g_assert_cmpuint(page_cache_used_entries(c), ==, 1);
    page_cache_free(c);
}

/* Blocks are spread: page 0 of many blocks does not share one slot. */
static void test_blocks_spread(void)
{
    PageCache *c = page_cache_new(64 * PAGE, PAGE, &error_abort);
    uint8_t p[PAGE];
    int cached = 0;

    fill(p, 1);
    for (uint64_t blk = 0; blk < 8; blk++) {
        cached += page_cache_insert(c, blk, 0, p, 1) != NULL;
    }
    g_assert_cmpint(cached, >, 1);
    page_cache_free(c);
}

static void test_resize(void)
{
    PageCache *c = page_cache_new(8 * PAGE, PAGE, &error_abort);
    PageCache *n;
    Error *err = NULL;
    uint8_t p[PAGE];

    for (int i = 0; i < 8; i++) {
        fill(p, i + 1);
        g_assert_nonnull(page_cache_insert(c, 0, i * PAGE, p, i));
    }
    /* A bad size fails and leaves the old cache usable. */
    g_assert_null(page_cache_resize(c, 5 * PAGE, &err));
    g_assert_nonnull(err);
    error_free(err);
    g_assert_cmpint(page_cache_lookup(c, 0, 2 * PAGE, 9)[0], ==, 3);

    /* Growing keeps everything. */
    n = page_cache_resize(c, 64 * PAGE, &error_abort);
    g_assert_cmpuint(page_cache_size(n), ==, 64 * PAGE);
    g_assert_cmpuint(page_cache_used_entries(n), ==, 8);
    for (int i = 0; i < 8; i++) {
        uint8_t *d = page_cache_lookup(n, 0, i * PAGE, 10);

        g_assert_nonnull(d);
        g_assert_cmpint(d[PAGE - 1], ==, i + 1);
    }

    /* Shrinking to 2 entries: pages 0,2,4,6 and 1,3,5,7 collide. */
    c = page_cache_resize(n, 2 * PAGE, &error_abort);
    g_assert_cmpuint(page_cache_max_entries(c), ==, 2);
    g_assert_cmpuint(page_cache_used_entries(c), ==, 2);
    for (int i = 0; i < 8; i++) {
        uint8_t *d = page_cache_lookup(c, 0, i * PAGE, 10);

        if (d) {
            g_assert_cmpint(d[0], ==, i + 1);
        }
    }
    page_cache_free(c);
}

/* Where two entries collide on a resize, the more recently used wins. */
static void test_resize_keeps_newest(void)
{
    PageCache *c = page_cache_new(4 * PAGE, PAGE, &error_abort);
    uint8_t p[PAGE];

    fill(p, 0x01);
    page_cache_insert(c, 0, 0, p, 1);
    fill(p, 0x02);
    page_cache_insert(c, 0, 1 * PAGE, p, 5);
    c = page_cache_resize(c, PAGE, &error_abort);
    g_assert_null(page_cache_lookup(c, 0, 0, 6));
    g_assert_cmpint(page_cache_lookup(c, 0, PAGE, 6)[0], ==, 0x02);
    page_cache_free(c);
}

/* Many random operations against a model of what must be cached. */
static void test_random_model(void)
{
    GRand *r = g_rand_new_with_seed(1234);
    PageCache *c = page_cache_new(32 * PAGE, PAGE, &error_abort);
    GHashTable *model = g_hash_table_new(g_int64_hash, g_int64_equal);
    static gint64 keys[4 * 256];
    uint8_t p[PAGE];

    for (int i = 0; i < 4 * 256; i++) {
        keys[i] = i;
    }
    for (int op = 0; op < 20000; op++) {
        int k = g_rand_int_range(r, 0, 4 * 256);
        uint64_t blk = k / 256, off = (uint64_t)(k % 256) * PAGE;
        uint64_t age = op / 500;
        uint8_t *d;

        if (op % 3000 == 2999) {
            uint64_t sizes[] = { 4, 16, 64, 128 };

            c = page_cache_resize(c, sizes[g_rand_int_range(r, 0, 4)] * PAGE,
                                  &error_abort);
            continue;
        }
        if (g_rand_boolean(r)) {
            fill(p, g_rand_int(r));
            d = page_cache_insert(c, blk, off, p, age);
            if (d) {
                g_assert_cmpmem(d, PAGE, p, PAGE);
                g_hash_table_insert(model, &keys[k],
                                    GINT_TO_POINTER(p[0] + 1));
            }
        } else {
            d = page_cache_lookup(c, blk, off, age);
            if (d) {
                /* Whatever is cached for a key is its last insert. */
                gpointer v = g_hash_table_lookup(model, &keys[k]);

                g_assert_nonnull(v);
                g_assert_cmpint(d[0], ==, GPOINTER_TO_INT(v) - 1);
                g_assert_cmpint(d[PAGE - 1], ==, d[0]);
            }
        }
        g_assert_cmpuint(page_cache_used_entries(c), <=,
                         page_cache_max_entries(c));
    }
    page_cache_free(c);
    g_hash_table_destroy(model);
    g_rand_free(r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/page-cache/bad-sizes", test_bad_sizes);
    g_test_add_func("/page-cache/insert-lookup", test_insert_lookup);
    g_test_add_func("/page-cache/collision-ages", test_collision_ages);
    g_test_add_func("/page-cache/blocks-spread", test_blocks_spread);
    g_test_add_func("/page-cache/resize", test_resize);
    g_test_add_func("/page-cache/resize-keeps-newest",
                    test_resize_keeps_newest);
    g_test_add_func("/page-cache/random-model", test_random_model);
    return g_test_run();
}
