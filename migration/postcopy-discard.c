/*
 * Postcopy DISCARD payload parsing (see postcopy_discard_parse() in
 * postcopy-ram.h).  Kept apart from postcopy-ram.c so that it needs
 * nothing but the RAMBlock lookup: tests/unit/test-postcopy-discard.c
 * links it alone.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "system/ramblock.h"
#include "postcopy-ram.h"

static uint64_t pc_be64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

bool postcopy_discard_parse(const uint8_t *buf, size_t len,
                            PostcopyDiscardFn fn, void *opaque,
                            Error **errp)
{
    char name[256];
    size_t name_len, pos;
    RAMBlock *rb;

    /* version, name length, at least a 1-byte name, NUL, one range */
    if (len < 2 + 1 + 1 + 16) {
        error_setg(errp, "CMD_POSTCOPY_RAM_DISCARD invalid length (%zu)", len);
        return false;
    }
    if (buf[0] != POSTCOPY_DISCARD_VERSION) {
        error_setg(errp, "CMD_POSTCOPY_RAM_DISCARD invalid version (%d)",
                   buf[0]);
        return false;
    }
    name_len = buf[1];
    if (2 + name_len + 1 > len) {
        error_setg(errp, "CMD_POSTCOPY_RAM_DISCARD block name of %zu bytes "
                   "overruns the %zu-byte payload", name_len, len);
        return false;
    }
    memcpy(name, buf + 2, name_len);
    name[name_len] = '\0';
    pos = 2 + name_len;
    if (buf[pos] != '\0') {
        error_setg(errp, "CMD_POSTCOPY_RAM_DISCARD missing nil (%d)",
                   buf[pos]);
        return false;
    }
    pos++;
    if ((len - pos) % 16 || len == pos) {
        error_setg(errp, "CMD_POSTCOPY_RAM_DISCARD invalid length (%zu)", len);
        return false;
    }
    rb = ram_block_by_name(name);
    if (!rb) {
        error_setg(errp, "CMD_POSTCOPY_RAM_DISCARD names unknown RAM block "
                   "'%s'", name);
        return false;
    }
    for (; pos < len; pos += 16) {
        uint64_t start = pc_be64(buf + pos);
        uint64_t length = pc_be64(buf + pos + 8);

        if (!length || (start | length) & (rb->page_size - 1) ||
            start >= rb->used_length || length > rb->used_length - start) {
            error_setg(errp, "CMD_POSTCOPY_RAM_DISCARD range start 0x%" PRIx64
                       " length 0x%" PRIx64 " is not a page-aligned range "
                       "inside RAM block '%s' (used length 0x%" PRIx64 ")",
                       start, length, name, rb->used_length);
            return false;
        }
        if (!fn(rb, start, length, opaque, errp)) {
            return false;
        }
    }
    return true;
}
