/*
 * Unit tests for util/bitmap.c and the bitops.h helpers.
 *
 * Most checks compare against a plain bool-per-bit reference model over
 * random ranges, so word-boundary arithmetic (first/last word masks,
 * ranges inside one word, ranges spanning many) is covered by volume.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/bitmap.h"

#define NBITS 1000       /* deliberately not a multiple of BITS_PER_LONG */

static void check_model(const unsigned long *map, const bool *model,
                        unsigned long nbits)
{
    unsigned long i;

    for (i = 0; i < nbits; i++) {
        if (test_bit(i, map) != model[i]) {
            g_error("bit %lu: bitmap %d, model %d", i, test_bit(i, map),
                    model[i]);
        }
    }
}

static void random_range(GRand *r, unsigned long nbits, unsigned long *start,
                         unsigned long *nr)
{
    *start = g_rand_int_range(r, 0, nbits);
    /* Mostly short ranges, sometimes long ones crossing several words. */
    if (g_rand_boolean(r)) {
        *nr = g_rand_int_range(r, 0, MIN(nbits - *start, 3 * BITS_PER_LONG)
                               + 1);
    } else {
        *nr = g_rand_int_range(r, 0, nbits - *start + 1);
    }
}

static void test_single_bits(void)
{
    unsigned long *map = bitmap_new(NBITS);

    g_assert_true(bitmap_empty(map, NBITS));
    set_bit(0, map);
    set_bit(63, map);
    set_bit(64, map);
    set_bit(NBITS - 1, map);
    g_assert_true(test_bit(63, map) && test_bit(64, map));
    g_assert_false(test_bit(62, map) || test_bit(65, map));
    g_assert_cmpuint(bitmap_count_one(map, NBITS), ==, 4);

    g_assert_true(test_and_clear_bit(63, map));
    g_assert_false(test_and_clear_bit(63, map));
    g_assert_false(test_and_set_bit(5, map));
    g_assert_true(test_and_set_bit(5, map));
    change_bit(5, map);
    g_assert_false(test_bit(5, map));

    set_bit_atomic(100, map);
    g_assert_true(test_bit_atomic(100, map));
    g_assert_true(test_and_clear_bit_atomic(100, map));
    g_assert_false(test_and_set_bit_atomic(100, map));
    clear_bit_atomic(100, map);
    g_assert_false(test_bit(100, map));
    clear_bit(0, map);
    g_assert_cmpuint(bitmap_count_one(map, NBITS), ==, 2);
    g_free(map);
}

static void test_ranges_random(void)
{
    GRand *r = g_rand_new_with_seed(0x5eed);
    unsigned long *map = bitmap_new(NBITS);
    bool model[NBITS] = { false };
    int iter;

    for (iter = 0; iter < 3000; iter++) {
        unsigned long start, nr, i, count = 0;
        int op = g_rand_int_range(r, 0, 5);
        bool any = false, got;

        random_range(r, NBITS, &start, &nr);
        for (i = start; i < start + nr; i++) {
            any |= model[i];
        }
        switch (op) {
        case 0:
            bitmap_set(map, start, nr);
            break;
        case 1:
            bitmap_clear(map, start, nr);
            break;
        case 2:
            bitmap_set_atomic(map, start, nr);
            break;
        case 3:
            got = bitmap_test_and_clear_atomic(map, start, nr);
            g_assert_cmpint(got, ==, any);
            break;
        case 4:
            got = bitmap_test_and_clear(map, start, nr);
            g_assert_cmpint(got, ==, any);
            break;
        }
        for (i = start; i < start + nr; i++) {
            model[i] = (op == 0 || op == 2);
        }

        random_range(r, NBITS, &start, &nr);
        for (i = start; i < start + nr; i++) {
            count += model[i];
        }
        g_assert_cmpuint(bitmap_count_one_with_offset(map, start, nr), ==,
                         count);
        if (iter % 50 == 0) {
            check_model(map, model, NBITS);
        }
    }
    check_model(map, model, NBITS);
    g_free(map);
    g_rand_free(r);
}

/* A range operation must not touch bits outside the range. */
static void test_range_edges(void)
{
    unsigned long starts[] = { 0, 1, 63, 64, 65, 127, 128, 500 };
    unsigned long lens[] = { 0, 1, 2, 63, 64, 65, 128, 129, 300 };
    unsigned int s, l;

    for (s = 0; s < ARRAY_SIZE(starts); s++) {
        for (l = 0; l < ARRAY_SIZE(lens); l++) {
            unsigned long start = starts[s], nr = lens[l];
            unsigned long *map = bitmap_new(NBITS);

            bitmap_set(map, start, nr);
            g_assert_cmpuint(bitmap_count_one(map, NBITS), ==, nr);
            if (nr) {
                g_assert_cmpuint(find_first_bit(map, NBITS), ==, start);
                g_assert_cmpuint(find_last_bit(map, NBITS), ==,
                                 start + nr - 1);
                g_assert_cmpuint(find_next_zero_bit(map, NBITS, start), ==,
                                 start + nr);
            } else {
                g_assert_cmpuint(find_first_bit(map, NBITS), ==, NBITS);
            }

            bitmap_fill(map, NBITS);
            bitmap_clear(map, start, nr);
            g_assert_cmpuint(bitmap_count_one(map, NBITS), ==, NBITS - nr);
            if (nr) {
                g_assert_cmpuint(find_first_zero_bit(map, NBITS), ==, start);
                g_assert_cmpuint(find_next_bit(map, NBITS, start), ==,
                                 start + nr == NBITS ? NBITS : start + nr);
            }
            g_free(map);
        }
    }
}

static void test_find_random(void)
{
    GRand *r = g_rand_new_with_seed(42);
    unsigned long *map = bitmap_new(NBITS);
    int iter;

    for (iter = 0; iter < 200; iter++) {
        unsigned long i, off, expect_set, expect_zero, size;

        bitmap_zero(map, NBITS);
        /* Sparse maps make long searches across empty words. */
        for (i = 0; i < NBITS; i++) {
            if (g_rand_int_range(r, 0, 100) < (iter % 10) * 3) {
                set_bit(i, map);
            }
        }
        size = g_rand_int_range(r, 0, NBITS + 1);
        off = g_rand_int_range(r, 0, NBITS + 10);
        for (expect_set = off; expect_set < size; expect_set++) {
            if (test_bit(expect_set, map)) {
                break;
            }
        }
        for (expect_zero = off; expect_zero < size; expect_zero++) {
            if (!test_bit(expect_zero, map)) {
                break;
            }
        }
        g_assert_cmpuint(find_next_bit(map, size, off), ==,
                         off >= size ? size : expect_set);
        g_assert_cmpuint(find_next_zero_bit(map, size, off), ==,
                         off >= size ? size : expect_zero);
    }
    g_free(map);
    g_rand_free(r);
}

/* Bits past @size in the last word are ignored by searches and counts. */
static void test_tail_bits_ignored(void)
{
    unsigned long map[2] = { 0, ~0UL };
    unsigned long size = BITS_PER_LONG + 3;

    map[1] = ~0UL << 3;     /* only bits beyond size are set */
    g_assert_cmpuint(find_first_bit(map, size), ==, size);
    g_assert_cmpuint(find_last_bit(map, size), ==, size);
    g_assert_cmpuint(bitmap_count_one(map, size), ==, 0);
    g_assert_true(bitmap_empty(map, size));
    map[0] = ~0UL;
    map[1] = 7;
    g_assert_true(bitmap_full(map, size));
    g_assert_cmpuint(find_first_zero_bit(map, size), ==, size);
    map[1] = 3;
    g_assert_false(bitmap_full(map, size));
    g_assert_cmpuint(find_first_zero_bit(map, size), ==, BITS_PER_LONG + 2);
}

static void test_whole_ops(void)
{
    unsigned long *a = bitmap_new(NBITS), *b = bitmap_new(NBITS);
    unsigned long *c = bitmap_new(NBITS);

    bitmap_fill(a, NBITS);
    g_assert_true(bitmap_full(a, NBITS));
    g_assert_cmpuint(bitmap_count_one(a, NBITS), ==, NBITS);
    /* fill leaves the tail of the last word clear */
    g_assert_cmpuint(a[BITS_TO_LONGS(NBITS) - 1] &
                     ~BITMAP_LAST_WORD_MASK(NBITS), ==, 0);

    bitmap_set(b, 10, 100);
    bitmap_and(c, a, b, NBITS);
    g_assert_true(bitmap_equal(c, b, NBITS));
    bitmap_andnot(c, a, b, NBITS);
    g_assert_cmpuint(bitmap_count_one(c, NBITS), ==, NBITS - 100);
    g_assert_false(test_bit(10, c));
    bitmap_or(c, c, b, NBITS);
    g_assert_true(bitmap_full(c, NBITS));
    bitmap_copy(c, b, NBITS);
    g_assert_true(bitmap_equal(c, b, NBITS));
    clear_bit(50, c);
    g_assert_false(bitmap_equal(c, b, NBITS));

    g_free(a);
    g_free(b);
    g_free(c);
}

static void test_zero_extend_and_le(void)
{
    unsigned long *map = bitmap_new(70);
    unsigned long *le, *back;

    bitmap_set(map, 60, 10);
    map = bitmap_zero_extend(map, 70, 300);
    g_assert_cmpuint(bitmap_count_one(map, 300), ==, 10);
    g_assert_cmpuint(find_next_bit(map, 300, 70), ==, 300);

    set_bit(0, map);
    set_bit(299, map);
    le = bitmap_new(300);
    back = bitmap_new(300);
    bitmap_to_le(le, map, 300);
    /* Bit 0 is the low bit of byte 0 on the wire, whatever the host. */
    g_assert_cmpuint(((uint8_t *)le)[0] & 1, ==, 1);
    g_assert_cmpuint(((uint8_t *)le)[299 / 8] >> (299 % 8) & 1, ==, 1);
    bitmap_from_le(back, le, 300);
    g_assert_true(bitmap_equal(back, map, 300));
    g_free(map);
    g_free(le);
    g_free(back);
}

/*
 * Concurrency: several setters hit the same words (interleaved bits) while
 * a collector repeatedly harvests with test-and-clear and copy-and-clear.
 * Every bit is set exactly once, so the harvests must add up to all bits
 * with none twice: a non-atomic read-modify-write would lose some.
 */
#define CONC_BITS   (64 * 1024)
#define CONC_THREADS 4

typedef struct ConcState {
    unsigned long *map;
    gint go;            /* start gate, so the setters really overlap */
    gint done;          /* setters finished (atomic) */
} ConcState;

typedef struct SetterArg {
    ConcState *s;
    int index;
} SetterArg;

static void wait_for_gate(ConcState *s)
{
    while (!g_atomic_int_get(&s->go)) {
        g_thread_yield();
    }
}

static gpointer setter_thread(gpointer opaque)
{
    SetterArg *arg = opaque;
    unsigned long i;

    wait_for_gate(arg->s);
    for (i = arg->index; i < CONC_BITS; i += CONC_THREADS) {
        if (i % 3 == 0) {
            bitmap_set_atomic(arg->s->map, i, 1);
        } else {
            set_bit_atomic(i, arg->s->map);
        }
    }
    g_atomic_int_inc(&arg->s->done);
    return NULL;
}

static void harvest(ConcState *s, unsigned long *seen, unsigned long *tmp,
                    int round)
{
    unsigned long i;

    if (round % 2) {
        bitmap_copy_and_clear_atomic(tmp, s->map, CONC_BITS);
    } else {
        bitmap_zero(tmp, CONC_BITS);
        for (i = 0; i < CONC_BITS; i += 96) {
            unsigned long j;

            for (j = i; j < MIN(i + 96, CONC_BITS); j++) {
                if (test_bit_atomic(j, s->map) &&
                    bitmap_test_and_clear_atomic(s->map, j, 1)) {
                    set_bit(j, tmp);
                }
            }
        }
    }
    for (i = find_first_bit(tmp, CONC_BITS); i < CONC_BITS;
         i = find_next_bit(tmp, CONC_BITS, i + 1)) {
        g_assert_false(test_and_set_bit(i, seen));
    }
}

static void test_atomic_concurrency(void)
{
    ConcState s = { .map = bitmap_new(CONC_BITS) };
    unsigned long *seen = bitmap_new(CONC_BITS);
    unsigned long *tmp = bitmap_new(CONC_BITS);
    SetterArg args[CONC_THREADS];
    GThread *threads[CONC_THREADS];
    int i, round = 0;

    for (i = 0; i < CONC_THREADS; i++) {
        args[i] = (SetterArg) { .s = &s, .index = i };
        threads[i] = g_thread_new("setter", setter_thread, &args[i]);
    }
    g_atomic_int_set(&s.go, 1);
    while (g_atomic_int_get(&s.done) < CONC_THREADS) {
        harvest(&s, seen, tmp, round++);
    }
    for (i = 0; i < CONC_THREADS; i++) {
        g_thread_join(threads[i]);
    }
    harvest(&s, seen, tmp, round++);
    g_assert_true(bitmap_empty(s.map, CONC_BITS));
    g_assert_cmpuint(bitmap_count_one(seen, CONC_BITS), ==, CONC_BITS);

    g_free(s.map);
    g_free(seen);
    g_free(tmp);
}

/*
 * Concurrent range setters: 3-bit ranges dealt round-robin to the
 * threads, so all of them work on the same words at once and some ranges
 * cross word boundaries; a collector harvests meanwhile.
 */
#define RANGE_BITS 3

static gpointer range_setter_thread(gpointer opaque)
{
    SetterArg *arg = opaque;
    unsigned long start;

    wait_for_gate(arg->s);
    for (start = arg->index * RANGE_BITS; start < CONC_BITS;
         start += RANGE_BITS * CONC_THREADS) {
        bitmap_set_atomic(arg->s->map, start,
                          MIN(RANGE_BITS, CONC_BITS - start));
    }
    g_atomic_int_inc(&arg->s->done);
    return NULL;
}

static void test_atomic_range_concurrency(void)
{
    ConcState s = { .map = bitmap_new(CONC_BITS) };
    unsigned long *seen = bitmap_new(CONC_BITS);
    unsigned long *tmp = bitmap_new(CONC_BITS);
    SetterArg args[CONC_THREADS];
    GThread *threads[CONC_THREADS];
    int i, round = 0;

    for (i = 0; i < CONC_THREADS; i++) {
        args[i] = (SetterArg) { .s = &s, .index = i };
        threads[i] = g_thread_new("range-setter", range_setter_thread,
                                  &args[i]);
    }
    g_atomic_int_set(&s.go, 1);
    while (g_atomic_int_get(&s.done) < CONC_THREADS) {
        harvest(&s, seen, tmp, round++);
    }
    for (i = 0; i < CONC_THREADS; i++) {
        g_thread_join(threads[i]);
    }
    harvest(&s, seen, tmp, round++);
    g_assert_cmpuint(bitmap_count_one(seen, CONC_BITS), ==, CONC_BITS);
    g_free(s.map);
    g_free(seen);
    g_free(tmp);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/bitmap/single-bits", test_single_bits);
    g_test_add_func("/bitmap/ranges-random", test_ranges_random);
    g_test_add_func("/bitmap/range-edges", test_range_edges);
    g_test_add_func("/bitmap/find-random", test_find_random);
    g_test_add_func("/bitmap/tail-bits-ignored", test_tail_bits_ignored);
    g_test_add_func("/bitmap/whole-ops", test_whole_ops);
    g_test_add_func("/bitmap/zero-extend-le", test_zero_extend_and_le);
    g_test_add_func("/bitmap/atomic-concurrency", test_atomic_concurrency);
    g_test_add_func("/bitmap/atomic-range-concurrency",
                    test_atomic_range_concurrency);
    return g_test_run();
}
