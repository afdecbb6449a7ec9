/*
 * XBZRLE for the RAM section (migration/ram-xbzrle.c): the branch of
 * ram.c's page send path that encodes a page against the copy of it
 * last sent (kept in the page cache), the matching load path, and the
 * "xbzrle-cache" counters of query-migrate.
 *
 * Record (STREAM.md): header with RAM_SAVE_FLAG_XBZRLE, then one byte
 * ENCODING_FLAG_XBZRLE, be16 encoded length, the encoded bytes.
 *
 * Threads: the save functions run in the migration thread, which alone
 * owns the cache; the load function in the incoming thread; the
 * counters are atomics that query-migrate reads from the main thread.
 * A new xbzrle-cache-size set by migrate-set-parameters (main thread)
 * is picked up by the migration thread between two pages
 * (ram_xbzrle_apply_resize), so the cache never changes under it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_RAM_XBZRLE_H
#define MIGRATION_RAM_XBZRLE_H

#include "qapi/error.h"

typedef struct QEMUFile QEMUFile;

#define ENCODING_FLAG_XBZRLE 0x01

/* What query-migrate reports as "xbzrle-cache". */
typedef struct RamXbzrleStats {
    uint64_t cache_size;        /* bytes: the cache in use, else the param */
    uint64_t bytes;             /* bytes sent for XBZRLE pages + overflows */
    uint64_t pages;             /* pages sent XBZRLE-encoded */
    uint64_t cache_miss;        /* pages not found in the cache */
    uint64_t overflow;          /* encodings not smaller than the page */
    double cache_miss_rate;     /* misses / pages looked up, last period */
    double encoding_rate;       /* page bytes / encoded bytes, last period */
} RamXbzrleStats;

/* Any thread. */
void ram_xbzrle_get_stats(RamXbzrleStats *out);

/* ---- Source: migration thread ---- */

/*
 * At save_setup: zero the counters and, with the xbzrle capability (and
 * multifd off, as QEMU), allocate the cache of xbzrle-cache-size bytes.
 */
bool ram_xbzrle_setup(Error **errp);
void ram_xbzrle_cleanup(void);
/*
 * Called at each dirty bitmap sync: from the first one on, pages are
 * cached and encoded (QEMU does not use XBZRLE in the first pass, where
 * nearly every page is sent once); updates the period rates.
 */
void ram_xbzrle_sync(void);
/* Is XBZRLE in use for the next page (set up and started)? */
bool ram_xbzrle_enabled(void);
/* Adopt a changed xbzrle-cache-size, between two pages. */
void ram_xbzrle_apply_resize(void);

typedef enum RamXbzrleResult {
    RAM_XBZRLE_UNCHANGED,   /* the destination has it already: send none */
    RAM_XBZRLE_ENCODED,     /* send an XBZRLE record of the delta */
    RAM_XBZRLE_PLAIN,       /* send a PAGE record of the page at *data */
} RamXbzrleResult;

/*
 * Decide how page @offset of block number @block, at @host, goes.
 * ENCODED: *@data / *@len is the delta (valid until the next call).
 * PLAIN: *@data is the page to send; unless @last_stage it may be the
 * cache's copy, which changes later, so it must be sent by copy.
 * @last_stage (VM stopped, final pass) leaves the cache alone.
 */
RamXbzrleResult ram_xbzrle_save_page(uint64_t block, uint64_t offset,
                                     const uint8_t *host, bool last_stage,
                                     const uint8_t **data, int *len);
/* An ENCODED record of @bytes (header included) was written. */
void ram_xbzrle_record_sent(size_t bytes);
/* Page (@block, @offset) was sent as ZERO: make the cache agree. */
void ram_xbzrle_zero_page(uint64_t block, uint64_t offset, bool last_stage);
/* Write the XBZRLE record body (after the header); returns its bytes. */
size_t ram_xbzrle_put_body(QEMUFile *f, const uint8_t *data, int len);

/* ---- Destination: incoming thread ---- */

/*
 * Read the body of an XBZRLE record and apply it to the page at @host.
 * False with @errp set on a bad encoding flag, an encoded length over a
 * page, a truncated record or malformed data; the page is then left as
 * it was.
 */
bool ram_xbzrle_load(QEMUFile *f, uint8_t *host, Error **errp);

#endif
