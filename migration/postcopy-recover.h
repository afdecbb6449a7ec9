/*
 * Postcopy recovery: the wire pieces both sides share
 * (docs/devel/migration/postcopy.md "Recovery").
 *
 * After a broken link both sides sit in postcopy-paused.  The source
 * reconnects (migrate resume=true), asks for each RAMBlock's received
 * bitmap with RECV_BITMAP and rebuilds what it still has to send from
 * the answers, then sends POSTCOPY_RESUME; the destination's RESUME_ACK
 * puts both back to postcopy-active.
 *
 * The functions here are pure (buffers in, buffers out), so that hostile
 * payloads can be unit-tested without a VM.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_POSTCOPY_RECOVER_H
#define MIGRATION_POSTCOPY_RECOVER_H

#include "qapi/error.h"

/* QEMU_VM_COMMAND numbers (QEMU's enum qemu_vm_cmd). */
#define MIG_CMD_POSTCOPY_RESUME     9   /* no payload */
#define MIG_CMD_RECV_BITMAP         10  /* u8 name length, name */

/* The value RESUME_ACK carries (QEMU's MIGRATION_RESUME_ACK_VALUE). */
#define POSTCOPY_RESUME_ACK_VALUE   1
/* What follows a received bitmap (QEMU's RAMBLOCK_RECV_BITMAP_ENDING). */
#define POSTCOPY_RECV_BITMAP_ENDING 0x0123456789abcdefULL

/*
 * RECV_BITMAP's payload, on the command and in the return-path message
 * alike: u8 name length (1..255), then the name.  Writes the NUL-ended
 * name into @name (256 bytes); false with @errp naming @what otherwise.
 */
bool postcopy_recv_bitmap_parse_name(const uint8_t *buf, size_t len,
                                     const char *what, char *name,
                                     Error **errp);
/* The payload for @name into @buf (256 bytes); returns its length. */
size_t postcopy_recv_bitmap_put_name(const char *name, uint8_t *buf);

/*
 * The bitmap's bytes on the wire for @pages pages: one bit per page,
 * little-endian bit order within bytes, rounded up to 8 bytes (QEMU's
 * layout, which 32- and 64-bit hosts share).
 */
uint64_t postcopy_recv_bitmap_size(uint64_t pages);
/*
 * The destination's answer after the message header: be64 size, the
 * bitmap bytes of @received (@pages bits), be64 end mark.  Returns a new
 * buffer of *@len bytes.
 */
uint8_t *postcopy_recv_bitmap_encode(const unsigned long *received,
                                     uint64_t pages, size_t *len);
/* Source: is @size the size block @name of @pages pages must have? */
bool postcopy_recv_bitmap_check_size(const char *name, uint64_t pages,
                                     uint64_t size, Error **errp);
/*
 * Source: @le is the bitmap of @pages pages (postcopy_recv_bitmap_size()
 * bytes) and @end_mark what followed it.  Checks the end mark and
 * writes into @to_send (@pages bits) the pages the destination lacks:
 * everything it did not receive.  @to_send is untouched on failure.
 */
bool postcopy_recv_bitmap_decode(const char *name, const uint8_t *le,
                                 uint64_t pages, uint64_t end_mark,
                                 unsigned long *to_send, Error **errp);

#endif
