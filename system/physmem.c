/*
 * Guest RAM: RAMBlocks and the guest-physical map.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/mman.h>
#include <linux/memfd.h>
#include "qapi/error.h"
#include "system/ramblock.h"
#include "qemu/tsan.h"
#include "trace.h"

/* Both lists are built before any thread starts; read-only afterwards. */
static GPtrArray *ram_blocks;
static GPtrArray *mem_sections;

GPtrArray *ram_block_list(void)
{
    if (!ram_blocks) {
        ram_blocks = g_ptr_array_new();
    }
    return ram_blocks;
}

GPtrArray *guest_mem_sections(void)
{
    if (!mem_sections) {
        mem_sections = g_ptr_array_new();
    }
    return mem_sections;
}

RAMBlock *ram_block_by_name(const char *name)
{
    GPtrArray *blocks = ram_block_list();

    for (guint i = 0; i < blocks->len; i++) {
        RAMBlock *rb = g_ptr_array_index(blocks, i);

        if (!strcmp(rb->idstr, name)) {
            return rb;
        }
    }
    return NULL;
}

uint64_t ram_bytes_total(void)
{
    GPtrArray *blocks = ram_block_list();
    uint64_t total = 0;

    for (guint i = 0; i < blocks->len; i++) {
        total += ((RAMBlock *)g_ptr_array_index(blocks, i))->used_length;
    }
    return total;
}

/* Create the file descriptor a shared backend maps, or -1 for anonymous. */
static int ram_backend_open_fd(const char *name, MemoryBackend *be,
                               uint64_t size, size_t *page_size,
                               Error **errp)
{
    int fd;

    *page_size = getpagesize();
    if (!be || be->kind == RAM_BACKEND_ANON) {
        return -1;
    }
    if (be->kind == RAM_BACKEND_MEMFD) {
        unsigned flags = MFD_CLOEXEC;

        if (be->hugetlb) {
            flags |= MFD_HUGETLB;
            *page_size = be->hugetlbsize ? be->hugetlbsize : 2 * MiB;
            if (be->hugetlbsize) {
                flags |= (unsigned)__builtin_ctzll(be->hugetlbsize) << MFD_HUGE_SHIFT;
            }
        }
        fd = memfd_create(name, flags);
        if (fd < 0) {
            error_setg_errno(errp, errno, "cannot create memfd for '%s'", name);
            return -1;
        }
    } else {
        fd = open(be->mem_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            error_setg_errno(errp, errno, "cannot open mem-path '%s'",
                             be->mem_path);
            return -1;
        }
    }
    if (ftruncate(fd, size) < 0) {
        error_setg_errno(errp, errno, "cannot size memory backend '%s' to "
                         "%" PRIu64 " bytes", name, size);
        close(fd);
        return -1;
    }
    return fd;
}

RAMBlock *ram_block_new(const char *name, uint64_t size,
                        MemoryBackend *backend, Error **errp)
{
    RAMBlock *rb;
    size_t page_size;
    int fd;
    int flags;
    void *host;

    if (strlen(name) >= sizeof(rb->idstr)) {
        error_setg(errp, "RAM block name '%s' is too long", name);
        return NULL;
    }
    if (ram_block_by_name(name)) {
        error_setg(errp, "RAM block '%s' already exists", name);
        return NULL;
    }
    if (size == 0 || size % TARGET_PAGE_SIZE) {
        error_setg(errp, "RAM block '%s': size %" PRIu64 " is not a positive "
                   "multiple of %d", name, size, TARGET_PAGE_SIZE);
        return NULL;
    }
    fd = ram_backend_open_fd(name, backend, size, &page_size, errp);
    if (fd < 0 && backend && backend->kind != RAM_BACKEND_ANON) {
        return NULL;
    }
    if (size % page_size) {
        error_setg(errp, "RAM block '%s': size is not a multiple of the "
                   "backend page size %zu", name, page_size);
        close(fd);
        return NULL;
    }

    /*
     * MAP_NORESERVE: a 64 GiB guest must not need 64 GiB of commit up
     * front; pages are allocated when first touched.
     */
    flags = MAP_NORESERVE;
    if (fd >= 0) {
        flags |= (backend->share ? MAP_SHARED : MAP_PRIVATE);
    } else {
        flags |= MAP_PRIVATE | MAP_ANONYMOUS;
    }
    host = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, fd, 0);
    if (host == MAP_FAILED) {
        error_setg_errno(errp, errno, "cannot map %" PRIu64 " bytes of guest "
                         "RAM for '%s'", size, name);
        if (fd >= 0) {
            close(fd);
        }
        return NULL;
    }
    /* Guest RAM must not end up in core dumps or be merged by default. */
    madvise(host, size, MADV_DONTDUMP);
    if (page_size == (size_t)getpagesize()) {
        madvise(host, size, MADV_HUGEPAGE);
    }

    rb = g_new0(RAMBlock, 1);
    g_strlcpy(rb->idstr, name, sizeof(rb->idstr));
    rb->host = host;
    rb->used_length = size;
    rb->max_length = size;
    rb->page_size = page_size;
    rb->fd = fd;
    rb->shared = fd >= 0 && backend->share;
    rb->soft_dirty = g_new0(unsigned long,
                            DIV_ROUND_UP(size >> TARGET_PAGE_BITS,
                                         sizeof(unsigned long) * 8));
    g_ptr_array_add(ram_block_list(), rb);
    trace_ram_block_new(name, size, page_size, fd);
    return rb;
}

GuestMemSection *guest_mem_map(uint64_t gpa, RAMBlock *block,
                               uint64_t offset, uint64_t size)
{
    GuestMemSection *s = g_new0(GuestMemSection, 1);

    assert(offset + size <= block->used_length);
    s->gpa = gpa;
    s->size = size;
    s->block = block;
    s->offset = offset;
    s->slot = -1;
    g_ptr_array_add(guest_mem_sections(), s);
    trace_guest_mem_map(gpa, size, block->idstr, offset);
    return s;
}

static GuestMemSection *guest_mem_find(uint64_t gpa)
{
    GPtrArray *secs = guest_mem_sections();

    for (guint i = 0; i < secs->len; i++) {
        GuestMemSection *s = g_ptr_array_index(secs, i);

        if (gpa >= s->gpa && gpa - s->gpa < s->size) {
            return s;
        }
    }
    return NULL;
}

void *guest_mem_host_ptr(uint64_t gpa, uint64_t len, RAMBlock **block,
                         uint64_t *offset)
{
    GuestMemSection *s = guest_mem_find(gpa);

    if (!s || len > s->size - (gpa - s->gpa)) {
        return NULL;
    }
    if (block) {
        *block = s->block;
    }
    if (offset) {
        *offset = s->offset + (gpa - s->gpa);
    }
    return s->block->host + s->offset + (gpa - s->gpa);
}

/* Check that the whole range is RAM before touching any of it. */
static bool guest_mem_check(uint64_t gpa, uint64_t len, Error **errp)
{
    uint64_t addr = gpa;
    uint64_t left = len;

    if (gpa + len < gpa) {
        error_setg(errp, "address range 0x%" PRIx64 "+0x%" PRIx64
                   " wraps around", gpa, len);
        return false;
    }
    while (left) {
        GuestMemSection *s = guest_mem_find(addr);
        uint64_t chunk;

        if (!s) {
            error_setg(errp, "guest physical address 0x%" PRIx64
                       " is not RAM", addr);
            return false;
        }
        chunk = MIN(left, s->size - (addr - s->gpa));
        addr += chunk;
        left -= chunk;
    }
    return true;
}

static bool guest_mem_rw(uint64_t gpa, void *buf, uint64_t len,
                         bool is_write, Error **errp)
{
    uint8_t *p = buf;

    if (!guest_mem_check(gpa, len, errp)) {
        return false;
    }
    /*
     * Guest RAM is written without host locks by vCPUs and, on a
     * destination, by migration channels receiving into it: a monitor or
     * qtest access sees whatever is there, as on real hardware.
     */
    while (len) {
        GuestMemSection *s = guest_mem_find(gpa);
        uint64_t off = s->offset + (gpa - s->gpa);
        uint64_t chunk = MIN(len, s->size - (gpa - s->gpa));

        tsan_ignore_begin();
        if (is_write) {
            memcpy(s->block->host + off, p, chunk);
        } else {
            memcpy(p, s->block->host + off, chunk);
        }
        tsan_ignore_end();
        if (is_write) {
            ram_block_set_soft_dirty(s->block, off, chunk);
        }
        gpa += chunk;
        p += chunk;
        len -= chunk;
    }
    return true;
}

bool guest_mem_read(uint64_t gpa, void *buf, uint64_t len, Error **errp)
{
    return guest_mem_rw(gpa, buf, len, false, errp);
}

bool guest_mem_write(uint64_t gpa, const void *buf, uint64_t len,
                     Error **errp)
{
    return guest_mem_rw(gpa, (void *)buf, len, true, errp);
}

void ram_block_set_soft_dirty(RAMBlock *block, uint64_t offset, uint64_t len)
{
    const unsigned bits = sizeof(unsigned long) * 8;
    uint64_t first, last;

    if (!len) {
        return;
    }
    first = offset >> TARGET_PAGE_BITS;
    last = (offset + len - 1) >> TARGET_PAGE_BITS;
    for (uint64_t page = first; page <= last; page++) {
        __atomic_fetch_or(&block->soft_dirty[page / bits],
                          1UL << (page % bits), __ATOMIC_RELAXED);
    }
}
