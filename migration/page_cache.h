/*
 * The XBZRLE page cache: the copy of each page as it was last sent, so
 * the next sending of that page can be encoded as a delta against it.
 *
 * A fixed-size, direct-mapped table of page-sized entries keyed by
 * (block, offset).  Each entry carries the generation (dirty sync count)
 * it was last used in; a slot holding another page is only taken over
 * once that page has gone PAGE_CACHE_LIFETIME generations unused, so
 * pages the guest keeps rewriting stay cached.  Entry data is allocated
 * on first use: a large cache costs memory only for the pages it holds.
 *
 * Not thread-safe: one thread (the migration thread) owns a cache; a
 * resize requested from elsewhere is handed over to that thread (see
 * ram-xbzrle.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_PAGE_CACHE_H
#define MIGRATION_PAGE_CACHE_H

#include "qapi/error.h"

/* Generations an entry stays protected from being replaced by another. */
#define PAGE_CACHE_LIFETIME 2

typedef struct PageCache PageCache;

/*
 * A cache of @size_bytes (a power of two, at least @page_size, which is
 * a power of two too): size_bytes / page_size entries.  NULL with @errp
 * set on a bad size or when the table cannot be allocated.
 */
PageCache *page_cache_new(uint64_t size_bytes, size_t page_size,
                          Error **errp);
void page_cache_free(PageCache *c);

/* Capacity in bytes (entries × page size) and in entries. */
uint64_t page_cache_size(const PageCache *c);
uint64_t page_cache_max_entries(const PageCache *c);
/* Entries holding a page. */
uint64_t page_cache_used_entries(const PageCache *c);

/*
 * The cached copy of page (@block, @offset), writable (page_size bytes),
 * or NULL when not cached.  A hit marks the entry as used in generation
 * @age.
 */
uint8_t *page_cache_lookup(PageCache *c, uint64_t block, uint64_t offset,
                           uint64_t age);

/*
 * Store a copy of @data as page (@block, @offset), used in generation
 * @age, and return the cached copy.  NULL when the slot belongs to
 * another page used less than PAGE_CACHE_LIFETIME generations ago, or
 * when memory for the entry cannot be had: the page is not cached then
 * (and any older copy of it is gone, as it shared the slot).
 */
uint8_t *page_cache_insert(PageCache *c, uint64_t block, uint64_t offset,
                           const uint8_t *data, uint64_t age);

/*
 * A cache of @size_bytes holding the entries of @c that fit (where two
 * collide, the more recently used wins).  On success @c is freed; on
 * failure (bad size, no memory) NULL is returned with @errp set and @c
 * is left as it was.
 */
PageCache *page_cache_resize(PageCache *c, uint64_t size_bytes,
                             Error **errp);

#endif
