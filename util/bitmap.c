/*
 * Bitmaps and bit searches (see include/qemu/bitmap.h, bitops.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/bitmap.h"

unsigned long *bitmap_new(unsigned long nbits)
{
    return g_malloc0(bitmap_bytes(nbits));
}

unsigned long *bitmap_try_new(unsigned long nbits)
{
    return g_try_malloc0(bitmap_bytes(nbits));
}

unsigned long *bitmap_zero_extend(unsigned long *old,
                                  unsigned long old_nbits,
                                  unsigned long new_nbits)
{
    unsigned long *map = g_realloc(old, bitmap_bytes(new_nbits));

    if (new_nbits > old_nbits) {
        bitmap_clear(map, old_nbits, new_nbits - old_nbits);
    }
    return map;
}

/*
 * Word-by-word walk over the range [start, start + nr): calls @fn with the
 * word and the mask of the range's bits in it.  Keeps the edge-word
 * arithmetic in one place for every range operation below.
 */
typedef bool (*BitmapWordFn)(unsigned long *word, unsigned long mask,
                             void *opaque);

static void bitmap_for_each_word(unsigned long *map, unsigned long start,
                                 unsigned long nr, BitmapWordFn fn,
                                 void *opaque)
{
    unsigned long end, first, last, w;

    if (nr == 0) {
        return;
    }
    end = start + nr;
    first = BIT_WORD(start);
    last = BIT_WORD(end - 1);
    for (w = first; w <= last; w++) {
        unsigned long mask = ~0UL;

        if (w == first) {
            mask &= BITMAP_FIRST_WORD_MASK(start);
        }
        if (w == last) {
            mask &= BITMAP_LAST_WORD_MASK(end);
        }
        if (!fn(&map[w], mask, opaque)) {
            return;
        }
    }
}

static bool word_set(unsigned long *word, unsigned long mask, void *opaque)
{
    *word |= mask;
    return true;
}

static bool word_clear(unsigned long *word, unsigned long mask, void *opaque)
{
    *word &= ~mask;
    return true;
}

static bool word_set_atomic(unsigned long *word, unsigned long mask,
                            void *opaque)
{
    __atomic_fetch_or(word, mask, __ATOMIC_SEQ_CST);
    return true;
}

static bool word_test_and_clear(unsigned long *word, unsigned long mask,
                                void *opaque)
{
    bool *any = opaque;

    *any |= (*word & mask) != 0;
    *word &= ~mask;
    return true;
}

static bool word_test_and_clear_atomic(unsigned long *word,
                                       unsigned long mask, void *opaque)
{
    bool *any = opaque;
    unsigned long old = __atomic_fetch_and(word, ~mask, __ATOMIC_SEQ_CST);

    *any |= (old & mask) != 0;
    return true;
}

static bool word_count(unsigned long *word, unsigned long mask, void *opaque)
{
    unsigned long *count = opaque;

    *count += __builtin_popcountl(*word & mask);
    return true;
}

void bitmap_set(unsigned long *map, unsigned long start, unsigned long nr)
{
    bitmap_for_each_word(map, start, nr, word_set, NULL);
}

void bitmap_clear(unsigned long *map, unsigned long start, unsigned long nr)
{
    bitmap_for_each_word(map, start, nr, word_clear, NULL);
}

void bitmap_set_atomic(unsigned long *map, unsigned long start,
                       unsigned long nr)
{
    bitmap_for_each_word(map, start, nr, word_set_atomic, NULL);
}

bool bitmap_test_and_clear_atomic(unsigned long *map, unsigned long start,
                                  unsigned long nr)
{
    bool any = false;

    bitmap_for_each_word(map, start, nr, word_test_and_clear_atomic, &any);
    return any;
}

bool bitmap_test_and_clear(unsigned long *map, unsigned long start,
                           unsigned long nr)
{
    bool any = false;

    bitmap_for_each_word(map, start, nr, word_test_and_clear, &any);
    return any;
}

unsigned long bitmap_count_one_with_offset(const unsigned long *map,
                                           unsigned long offset,
                                           unsigned long nbits)
{
    unsigned long count = 0;

    /* word_count only reads through the pointer. */
    bitmap_for_each_word((unsigned long *)map, offset, nbits, word_count,
                         &count);
    return count;
}

unsigned long bitmap_count_one(const unsigned long *map, unsigned long nbits)
{
    return bitmap_count_one_with_offset(map, 0, nbits);
}

void bitmap_zero(unsigned long *dst, unsigned long nbits)
{
    memset(dst, 0, bitmap_bytes(nbits));
}

void bitmap_fill(unsigned long *dst, unsigned long nbits)
{
    /* Leave the bits past @nbits clear, as bitmap.h promises. */
    bitmap_zero(dst, nbits);
    bitmap_set(dst, 0, nbits);
}

void bitmap_copy(unsigned long *dst, const unsigned long *src,
                 unsigned long nbits)
{
    memmove(dst, src, bitmap_bytes(nbits));
}

/*
 * Compare the first @nbits bits of @a with @b (or, if @b is NULL, with
 * @fill: all zeros or all ones).
 */
static bool bitmap_matches(const unsigned long *a, const unsigned long *b,
                           unsigned long fill, unsigned long nbits)
{
    unsigned long full = nbits / BITS_PER_LONG;
    unsigned long w;

    for (w = 0; w < full; w++) {
        if (a[w] != (b ? b[w] : fill)) {
            return false;
        }
    }
    if (nbits % BITS_PER_LONG) {
        unsigned long mask = BITMAP_LAST_WORD_MASK(nbits);

        if ((a[w] & mask) != ((b ? b[w] : fill) & mask)) {
            return false;
        }
    }
    return true;
}

bool bitmap_empty(const unsigned long *src, unsigned long nbits)
{
    return bitmap_matches(src, NULL, 0, nbits);
}

bool bitmap_full(const unsigned long *src, unsigned long nbits)
{
    return bitmap_matches(src, NULL, ~0UL, nbits);
}

bool bitmap_equal(const unsigned long *a, const unsigned long *b,
                  unsigned long nbits)
{
    return bitmap_matches(a, b, 0, nbits);
}

void bitmap_or(unsigned long *dst, const unsigned long *a,
               const unsigned long *b, unsigned long nbits)
{
    unsigned long w;

    for (w = 0; w < BITS_TO_LONGS(nbits); w++) {
        dst[w] = a[w] | b[w];
    }
}

void bitmap_and(unsigned long *dst, const unsigned long *a,
                const unsigned long *b, unsigned long nbits)
{
    unsigned long w;

    for (w = 0; w < BITS_TO_LONGS(nbits); w++) {
        dst[w] = a[w] & b[w];
    }
}

void bitmap_andnot(unsigned long *dst, const unsigned long *a,
                   const unsigned long *b, unsigned long nbits)
{
    unsigned long w;

    for (w = 0; w < BITS_TO_LONGS(nbits); w++) {
        dst[w] = a[w] & ~b[w];
    }
}

void bitmap_copy_and_clear_atomic(unsigned long *dst, unsigned long *src,
                                  unsigned long nbits)
{
    unsigned long w;

    for (w = 0; w < BITS_TO_LONGS(nbits); w++) {
        /* Skip the store for clean words: most of a large bitmap is. */
        if (__atomic_load_n(&src[w], __ATOMIC_RELAXED)) {
            dst[w] = __atomic_exchange_n(&src[w], 0, __ATOMIC_SEQ_CST);
        } else {
            dst[w] = 0;
        }
    }
}

void bitmap_to_le(unsigned long *dst, const unsigned long *src,
                  unsigned long nbits)
{
    unsigned long w;

    for (w = 0; w < BITS_TO_LONGS(nbits); w++) {
        dst[w] = GULONG_TO_LE(src[w]);
    }
}

void bitmap_from_le(unsigned long *dst, const unsigned long *src,
                    unsigned long nbits)
{
    unsigned long w;

    for (w = 0; w < BITS_TO_LONGS(nbits); w++) {
        dst[w] = GULONG_FROM_LE(src[w]);
    }
}

/*
 * Common search: the first bit at or after @offset below @size whose
 * value XOR @invert is 1 (invert = ~0 looks for zeros).
 */
static unsigned long find_next(const unsigned long *addr, unsigned long size,
                               unsigned long offset, unsigned long invert)
{
    unsigned long w, found, tmp;

    if (offset >= size) {
        return size;
    }
    w = BIT_WORD(offset);
    tmp = (addr[w] ^ invert) & BITMAP_FIRST_WORD_MASK(offset);
    while (!tmp) {
        w++;
        if (w * BITS_PER_LONG >= size) {
            return size;
        }
        tmp = addr[w] ^ invert;
    }
    found = w * BITS_PER_LONG + ctzl_nonzero(tmp);
    return MIN(found, size);
}

unsigned long find_next_bit(const unsigned long *addr, unsigned long size,
                            unsigned long offset)
{
    return find_next(addr, size, offset, 0);
}

unsigned long find_next_zero_bit(const unsigned long *addr,
                                 unsigned long size, unsigned long offset)
{
    return find_next(addr, size, offset, ~0UL);
}

unsigned long find_last_bit(const unsigned long *addr, unsigned long size)
{
    unsigned long w;

    if (size == 0) {
        return size;
    }
    w = BIT_WORD(size - 1);
    for (;;) {
        unsigned long tmp = addr[w];

        if (w == BIT_WORD(size - 1)) {
            tmp &= BITMAP_LAST_WORD_MASK(size);
        }
        if (tmp) {
            return w * BITS_PER_LONG + fls_nonzero(tmp);
        }
        if (w == 0) {
            return size;
        }
        w--;
    }
}
