/*
 * The XBZRLE page cache (interface and rules in page_cache.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "page_cache.h"
#include "trace.h"

typedef struct PageCacheEntry {
    uint64_t block;
    uint64_t offset;
    uint64_t age;           /* generation of the last use */
    uint8_t *data;          /* NULL: the slot is empty */
} PageCacheEntry;

struct PageCache {
    PageCacheEntry *slots;
    uint64_t nr_slots;      /* a power of two */
    uint64_t used;          /* slots with data */
    size_t page_size;
};

static bool is_pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

PageCache *page_cache_new(uint64_t size_bytes, size_t page_size,
                          Error **errp)
{
    PageCache *c;
    uint64_t n;

    if (!is_pow2(page_size)) {
        error_setg(errp, "XBZRLE cache: page size %zu is not a power of two",
                   page_size);
        return NULL;
    }
    if (size_bytes < page_size || !is_pow2(size_bytes)) {
        error_setg(errp, "XBZRLE cache size %" PRIu64 " must be a power of "
                   "two no less than the page size (%zu)", size_bytes,
                   page_size);
        return NULL;
    }
    n = size_bytes / page_size;
    if (n > SIZE_MAX / sizeof(PageCacheEntry)) {
        error_setg(errp, "XBZRLE cache size %" PRIu64 " is too large",
                   size_bytes);
        return NULL;
    }
    c = g_new0(PageCache, 1);
    c->slots = g_try_new0(PageCacheEntry, n);
    if (!c->slots) {
        error_setg(errp, "Failed to allocate an XBZRLE cache of %" PRIu64
                   " bytes (%" PRIu64 " entries)", size_bytes, n);
        g_free(c);
        return NULL;
    }
    c->nr_slots = n;
    c->page_size = page_size;
    trace_page_cache_new(size_bytes, n);
    return c;
}

void page_cache_free(PageCache *c)
{
    if (!c) {
        return;
    }
    for (uint64_t i = 0; i < c->nr_slots; i++) {
        g_free(c->slots[i].data);
    }
    g_free(c->slots);
    g_free(c);
}

uint64_t page_cache_size(const PageCache *c)
{
    return c->nr_slots * c->page_size;
}

uint64_t page_cache_max_entries(const PageCache *c)
{
    return c->nr_slots;
}

uint64_t page_cache_used_entries(const PageCache *c)
{
    return c->used;
}

/*
 * The slot of a page: its index within the block, offset by a
 * multiplicative hash of the block so that the first pages of every
 * block do not all fight over the first slots.
 */
static PageCacheEntry *page_cache_slot(const PageCache *c, uint64_t block,
                                       uint64_t offset)
{
    uint64_t idx = offset / c->page_size + block * 0x9e3779b97f4a7c15ULL;

    return &c->slots[idx & (c->nr_slots - 1)];
}

static bool entry_holds(const PageCacheEntry *e, uint64_t block,
                        uint64_t offset)
{
    return e->data && e->block == block && e->offset == offset;
}

uint8_t *page_cache_lookup(PageCache *c, uint64_t block, uint64_t offset,
                           uint64_t age)
{
    PageCacheEntry *e = page_cache_slot(c, block, offset);

    if (!entry_holds(e, block, offset)) {
        return NULL;
    }
    e->age = age;
    return e->data;
}

uint8_t *page_cache_insert(PageCache *c, uint64_t block, uint64_t offset,
                           const uint8_t *data, uint64_t age)
{
    PageCacheEntry *e = page_cache_slot(c, block, offset);

    if (e->data && !entry_holds(e, block, offset) &&
        e->age + PAGE_CACHE_LIFETIME > age) {
        return NULL;    /* another page, still in use: keep it */
    }
    if (!e->data) {
        e->data = g_try_malloc(c->page_size);
        if (!e->data) {
            return NULL;
        }
        c->used++;
    }
    memcpy(e->data, data, c->page_size);
    e->block = block;
    e->offset = offset;
    e->age = age;
    return e->data;
}

/* Move entry @e (with data) into @to, unless a fresher entry is there. */
static void page_cache_move(PageCache *to, PageCacheEntry *e)
{
    PageCacheEntry *d = page_cache_slot(to, e->block, e->offset);

    if (d->data && d->age >= e->age) {
        g_free(e->data);
    } else {
        if (d->data) {
            g_free(d->data);
        } else {
            to->used++;
        }
        *d = *e;
    }
    e->data = NULL;
}

PageCache *page_cache_resize(PageCache *c, uint64_t size_bytes,
                             Error **errp)
{
    PageCache *n = page_cache_new(size_bytes, c->page_size, errp);

    if (!n) {
        return NULL;
    }
    for (uint64_t i = 0; i < c->nr_slots; i++) {
        if (c->slots[i].data) {
            page_cache_move(n, &c->slots[i]);
        }
    }
    trace_page_cache_resize(page_cache_size(c), size_bytes, n->used);
    page_cache_free(c);
    return n;
}
