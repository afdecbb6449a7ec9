/*
 * Bitmaps of arbitrary length, stored as arrays of unsigned long (see
 * bitops.h for the layout and the single-bit helpers).
 *
 * Used for dirty tracking: one bit per target page of a RAMBlock.  Bits
 * beyond @nbits in the last word are "don't care" for the readers below
 * (every operation masks them), and the writers below never set them.
 *
 * Concurrency: plain operations need the caller's exclusion (one owner or
 * a lock).  bitmap_set_atomic(), bitmap_test_and_clear_atomic() and
 * bitmap_copy_and_clear_atomic() may run concurrently with each other and
 * with set_bit_atomic() on the same bitmap from any thread; no set bit is
 * lost.
 *
 * Allocation is with glib: free a bitmap with g_free().
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_BITMAP_H
#define QEMU_BITMAP_H

#include "qemu/bitops.h"

/* Mask of the bits of the first word of a range starting at @start. */
#define BITMAP_FIRST_WORD_MASK(start) (~0UL << ((start) % BITS_PER_LONG))
/* Mask of the bits below @nbits in its last word (all of it if aligned). */
#define BITMAP_LAST_WORD_MASK(nbits) \
    (~0UL >> ((BITS_PER_LONG - (nbits) % BITS_PER_LONG) % BITS_PER_LONG))

/* A zeroed bitmap of @nbits; aborts on allocation failure (glib). */
unsigned long *bitmap_new(unsigned long nbits);
/* Same, but NULL when the memory cannot be had (large guests). */
unsigned long *bitmap_try_new(unsigned long nbits);
/* Resize @old (NULL allowed) to @new_nbits; new bits are zero. */
unsigned long *bitmap_zero_extend(unsigned long *old,
                                  unsigned long old_nbits,
                                  unsigned long new_nbits);

static inline size_t bitmap_bytes(unsigned long nbits)
{
    return BITS_TO_LONGS(nbits) * sizeof(unsigned long);
}

/* Whole-bitmap operations over the first @nbits bits. */
void bitmap_zero(unsigned long *dst, unsigned long nbits);
void bitmap_fill(unsigned long *dst, unsigned long nbits);
void bitmap_copy(unsigned long *dst, const unsigned long *src,
                 unsigned long nbits);
bool bitmap_empty(const unsigned long *src, unsigned long nbits);
bool bitmap_full(const unsigned long *src, unsigned long nbits);
bool bitmap_equal(const unsigned long *a, const unsigned long *b,
                  unsigned long nbits);
void bitmap_or(unsigned long *dst, const unsigned long *a,
               const unsigned long *b, unsigned long nbits);
void bitmap_and(unsigned long *dst, const unsigned long *a,
                const unsigned long *b, unsigned long nbits);
/* dst = a & ~b */
void bitmap_andnot(unsigned long *dst, const unsigned long *a,
                   const unsigned long *b, unsigned long nbits);

/* Ranges [@start, @start + @nr); @nr may be 0. */
void bitmap_set(unsigned long *map, unsigned long start, unsigned long nr);
void bitmap_clear(unsigned long *map, unsigned long start, unsigned long nr);
/* Set the range with atomic ORs: safe against concurrent setters/clearers. */
void bitmap_set_atomic(unsigned long *map, unsigned long start,
                       unsigned long nr);
/*
 * Atomically clear the range; returns true if any bit in it was set.  A
 * bit set concurrently is either reported here or left set for the next
 * call, never lost.
 */
bool bitmap_test_and_clear_atomic(unsigned long *map, unsigned long start,
                                  unsigned long nr);
/* Non-atomic counterpart. */
bool bitmap_test_and_clear(unsigned long *map, unsigned long start,
                           unsigned long nr);

/* Number of set bits in the first @nbits bits. */
unsigned long bitmap_count_one(const unsigned long *map, unsigned long nbits);
/* Number of set bits in [@offset, @offset + @nbits). */
unsigned long bitmap_count_one_with_offset(const unsigned long *map,
                                           unsigned long offset,
                                           unsigned long nbits);

/*
 * dst = src, src = 0, one word at a time with an atomic exchange: how the
 * dirty-bitmap sync collects bits that other threads keep setting in
 * @src.  @dst must not be shared.
 */
void bitmap_copy_and_clear_atomic(unsigned long *dst, unsigned long *src,
                                  unsigned long nbits);

/*
 * Convert between the host layout and little-endian words of unsigned
 * long size (64-bit on the hosts qmig supports: the layout QEMU's receive
 * bitmap uses on the wire).  @dst and @src may be
 * the same.  Both are BITS_TO_LONGS(nbits) longs.
 */
void bitmap_to_le(unsigned long *dst, const unsigned long *src,
                  unsigned long nbits);
void bitmap_from_le(unsigned long *dst, const unsigned long *src,
                    unsigned long nbits);

#endif /* QEMU_BITMAP_H */
