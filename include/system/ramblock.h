/*
 * Guest RAM: RAMBlocks and the guest-physical map.
 *
 * A RAMBlock is one contiguous host mapping with a name ("pc.ram", or the
 * id of its memory backend), a used length and a page size.  Migration
 * moves RAMBlocks by name.  The x86 machine maps one RAMBlock into guest
 * physical space in up to two pieces (below 3 GiB and from 4 GiB), each a
 * KVM memory slot.
 *
 * Locking: the block list and the guest-physical map change only at
 * machine creation (single-threaded, before vCPUs start) and are read-only
 * afterwards, so readers take no lock.  Per-block software dirty bits
 * (writes made by the VMM, not the guest) are set with atomic bit
 * operations from any thread.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef SYSTEM_RAMBLOCK_H
#define SYSTEM_RAMBLOCK_H

#include "qapi/error.h"
#include "qemu/option.h"

typedef enum RAMBackendKind {
    RAM_BACKEND_ANON,       /* private anonymous memory (the default) */
    RAM_BACKEND_MEMFD,      /* memory-backend-memfd */
    RAM_BACKEND_FILE,       /* memory-backend-file (mem-path=) */
} RAMBackendKind;

/* What -object memory-backend-*,id=ID,... described. */
typedef struct MemoryBackend {
    char *id;
    RAMBackendKind kind;
    uint64_t size;
    bool share;
    char *mem_path;         /* RAM_BACKEND_FILE */
    bool hugetlb;           /* memfd: hugetlb=on */
    uint64_t hugetlbsize;
    bool used;              /* taken by a machine */
} MemoryBackend;

typedef struct RAMBlock {
    char idstr[256];        /* unique name; matched by migration */
    uint8_t *host;          /* mapping of max_length bytes */
    uint64_t used_length;
    uint64_t max_length;
    size_t page_size;       /* host page size backing it */
    int fd;                 /* -1 for anonymous memory */
    bool shared;            /* MAP_SHARED (memfd/file with share=on) */
    /*
     * One bit per target page (4 KiB) written by the VMM itself (qtest,
     * DMA-like device writes, loads into RAM by the VMM).  Set with
     * atomic OR from any thread; read and cleared by dirty tracking
     * (migration bitmap sync) with atomic exchange.
     */
    unsigned long *soft_dirty;
} RAMBlock;

#define TARGET_PAGE_BITS 12
#define TARGET_PAGE_SIZE (1 << TARGET_PAGE_BITS)
#define TARGET_PAGE_MASK (~(uint64_t)(TARGET_PAGE_SIZE - 1))

/* One piece of the guest-physical map: [gpa, gpa+size) -> block+offset. */
typedef struct GuestMemSection {
    uint64_t gpa;
    uint64_t size;
    RAMBlock *block;
    uint64_t offset;        /* within block */
    int slot;               /* KVM memory slot id, or -1 */
} GuestMemSection;

/* Memory backends (-object memory-backend-*): register the object types. */
void memory_backend_register_types(void);
MemoryBackend *memory_backend_find(const char *id);

/*
 * Create a RAMBlock named @name of @size bytes.  @backend may be NULL for
 * private anonymous memory.
 */
RAMBlock *ram_block_new(const char *name, uint64_t size,
                        MemoryBackend *backend, Error **errp);
RAMBlock *ram_block_by_name(const char *name);
/* All blocks, in creation order (GPtrArray of RAMBlock *). */
GPtrArray *ram_block_list(void);
uint64_t ram_bytes_total(void);

/* Add a piece to the guest-physical map; returns the section. */
GuestMemSection *guest_mem_map(uint64_t gpa, RAMBlock *block,
                               uint64_t offset, uint64_t size);
/* All sections (GPtrArray of GuestMemSection *). */
GPtrArray *guest_mem_sections(void);
/*
 * Translate [gpa, gpa+len) to a host pointer if the whole range lies in
 * one section; NULL otherwise.
 */
void *guest_mem_host_ptr(uint64_t gpa, uint64_t len, RAMBlock **block,
                         uint64_t *offset);
/*
 * Copy between guest-physical memory and a buffer, across sections.
 * Writes set soft dirty bits.  Fails (no partial write) if any byte is
 * outside guest RAM.
 */
bool guest_mem_read(uint64_t gpa, void *buf, uint64_t len, Error **errp);
bool guest_mem_write(uint64_t gpa, const void *buf, uint64_t len,
                     Error **errp);

/* Mark [offset, offset+len) of @block written by the VMM. */
void ram_block_set_soft_dirty(RAMBlock *block, uint64_t offset, uint64_t len);

#endif
