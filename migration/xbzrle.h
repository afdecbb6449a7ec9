/*
 * XBZRLE: XOR-based zero run-length encoding of a page against the copy
 * of it sent earlier (QEMU's format, see docs STREAM.md).
 *
 * An encoded page is a sequence of pairs:
 *     ULEB128 u  -- count of unchanged bytes to skip
 *     ULEB128 c  -- count of changed bytes (c >= 1), then those c bytes
 * Only the first pair may have u == 0.  Unchanged bytes after the last
 * changed run are not encoded.  Decoding applies the changes onto the
 * destination's current copy of the page.
 *
 * Pure functions on caller buffers: no state, any thread.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_XBZRLE_H
#define MIGRATION_XBZRLE_H

#include "qapi/error.h"

/*
 * Encode @new_buf against @old_buf (both @slen bytes) into @dst (room for
 * @dlen bytes).  Returns the encoded length; 0 if the pages are
 * identical; -1 if the encoding would not be smaller than the page
 * (@slen) or would not fit in @dlen: send the page plainly then.
 */
int xbzrle_encode_buffer(const uint8_t *old_buf, const uint8_t *new_buf,
                         int slen, uint8_t *dst, int dlen);

/*
 * Apply the @slen encoded bytes at @src to the page at @dst (@dlen bytes).
 * Returns the number of page bytes the encoding covers (the end of its
 * last changed run), or -1 with @errp set if the input is malformed:
 * truncated, a zero-length run where none is allowed, an over-long
 * number, or a run reaching past @dlen.  Never writes outside
 * [dst, dst + dlen); on failure the page is left unchanged.
 */
int xbzrle_decode_buffer(const uint8_t *src, int slen, uint8_t *dst, int dlen,
                         Error **errp);

#endif /* MIGRATION_XBZRLE_H */
