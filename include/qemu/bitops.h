/*
 * Bit operations on arrays of unsigned long.
 *
 * Bit N lives in word N / BITS_PER_LONG at position N % BITS_PER_LONG, so
 * a bitmap's layout is host-native (see bitmap_to_le() in bitmap.h for a
 * portable wire form).
 *
 * Two families: the plain helpers (set_bit, clear_bit, ...) are for a
 * bitmap owned by one thread or guarded by a lock; the *_atomic helpers
 * may race with each other on the same word from any number of threads
 * (dirty bits set by several writers while a reader collects them).
 * Mixing a plain write with a concurrent atomic one on the same word
 * loses bits.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_BITOPS_H
#define QEMU_BITOPS_H

#define BITS_PER_BYTE           CHAR_BIT
#define BITS_PER_LONG           (sizeof(unsigned long) * BITS_PER_BYTE)
#define BIT(nr)                 (1UL << (nr))
#define BIT_ULL(nr)             (1ULL << (nr))
#define BIT_MASK(nr)            (1UL << ((nr) % BITS_PER_LONG))
#define BIT_WORD(nr)            ((nr) / BITS_PER_LONG)
#define BITS_TO_LONGS(nr)       DIV_ROUND_UP(nr, BITS_PER_LONG)

static inline void set_bit(unsigned long nr, unsigned long *addr)
{
    addr[BIT_WORD(nr)] |= BIT_MASK(nr);
}

static inline void clear_bit(unsigned long nr, unsigned long *addr)
{
    addr[BIT_WORD(nr)] &= ~BIT_MASK(nr);
}

static inline void change_bit(unsigned long nr, unsigned long *addr)
{
    addr[BIT_WORD(nr)] ^= BIT_MASK(nr);
}

static inline bool test_bit(unsigned long nr, const unsigned long *addr)
{
    return (addr[BIT_WORD(nr)] & BIT_MASK(nr)) != 0;
}

/* Returns the old value of the bit. */
static inline bool test_and_set_bit(unsigned long nr, unsigned long *addr)
{
    unsigned long *p = addr + BIT_WORD(nr);
    unsigned long old = *p;

    *p = old | BIT_MASK(nr);
    return (old & BIT_MASK(nr)) != 0;
}

static inline bool test_and_clear_bit(unsigned long nr, unsigned long *addr)
{
    unsigned long *p = addr + BIT_WORD(nr);
    unsigned long old = *p;

    *p = old & ~BIT_MASK(nr);
    return (old & BIT_MASK(nr)) != 0;
}

/*
 * Atomic variants: sequentially consistent read-modify-writes, so no bit
 * set or cleared by another thread on the same word is ever lost, and a
 * write to guest memory made before set_bit_atomic() is visible to whoever
 * sees the bit.  test_bit_atomic() is a relaxed load (a snapshot).
 */
static inline void set_bit_atomic(unsigned long nr, unsigned long *addr)
{
    __atomic_fetch_or(addr + BIT_WORD(nr), BIT_MASK(nr), __ATOMIC_SEQ_CST);
}

static inline void clear_bit_atomic(unsigned long nr, unsigned long *addr)
{
    __atomic_fetch_and(addr + BIT_WORD(nr), ~BIT_MASK(nr), __ATOMIC_SEQ_CST);
}

static inline bool test_bit_atomic(unsigned long nr,
                                   const unsigned long *addr)
{
    return (__atomic_load_n(addr + BIT_WORD(nr), __ATOMIC_RELAXED) &
            BIT_MASK(nr)) != 0;
}

static inline bool test_and_set_bit_atomic(unsigned long nr,
                                           unsigned long *addr)
{
    unsigned long old = __atomic_fetch_or(addr + BIT_WORD(nr), BIT_MASK(nr),
                                          __ATOMIC_SEQ_CST);
    return (old & BIT_MASK(nr)) != 0;
}

static inline bool test_and_clear_bit_atomic(unsigned long nr,
                                             unsigned long *addr)
{
    unsigned long old = __atomic_fetch_and(addr + BIT_WORD(nr),
                                           ~BIT_MASK(nr), __ATOMIC_SEQ_CST);
    return (old & BIT_MASK(nr)) != 0;
}

/* Index of the lowest / highest set bit of a non-zero word. */
static inline unsigned long ctzl_nonzero(unsigned long w)
{
    return __builtin_ctzl(w);
}

static inline unsigned long fls_nonzero(unsigned long w)
{
    return BITS_PER_LONG - 1 - __builtin_clzl(w);
}

/*
 * Searches over the first @size bits.  Each returns the index of the bit
 * found, or @size when there is none.  @offset >= @size returns @size.
 * Not atomic: a bitmap being changed by other threads gives a snapshot
 * per word.
 */
unsigned long find_next_bit(const unsigned long *addr, unsigned long size,
                            unsigned long offset);
unsigned long find_next_zero_bit(const unsigned long *addr,
                                 unsigned long size, unsigned long offset);
/* Returns @size when no bit is set. */
unsigned long find_last_bit(const unsigned long *addr, unsigned long size);

static inline unsigned long find_first_bit(const unsigned long *addr,
                                           unsigned long size)
{
    return find_next_bit(addr, size, 0);
}

static inline unsigned long find_first_zero_bit(const unsigned long *addr,
                                                unsigned long size)
{
    return find_next_zero_bit(addr, size, 0);
}

#endif /* QEMU_BITOPS_H */
