/*
 * Postcopy recovery: RECV_BITMAP's wire layout (see postcopy-recover.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/bitmap.h"
#include "postcopy-recover.h"

bool postcopy_recv_bitmap_parse_name(const uint8_t *buf, size_t len,
                                     const char *what, char *name,
                                     Error **errp)
{
    if (len < 2 || buf[0] == 0 || (size_t)buf[0] + 1 != len) {
        error_setg(errp, "%s: the block name of %zu bytes does not match "
                   "its length byte (%u)", what, len ? len - 1 : 0,
                   len ? buf[0] : 0);
        return false;
    }
    memcpy(name, buf + 1, buf[0]);
    name[buf[0]] = '\0';
    if (strlen(name) != buf[0]) {
        error_setg(errp, "%s: the block name holds a NUL byte", what);
        return false;
    }
    return true;
}

size_t postcopy_recv_bitmap_put_name(const char *name, uint8_t *buf)
{
    size_t n = strlen(name);

    assert(n > 0 && n < 256);
    buf[0] = n;
    memcpy(buf + 1, name, n);
    return n + 1;
}

uint64_t postcopy_recv_bitmap_size(uint64_t pages)
{
    return DIV_ROUND_UP(DIV_ROUND_UP(pages, 8), 8) * 8;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = v >> (56 - 8 * i);
    }
}

uint8_t *postcopy_recv_bitmap_encode(const unsigned long *received,
                                     uint64_t pages, size_t *len)
{
    uint64_t size = postcopy_recv_bitmap_size(pages);
    uint8_t *buf = g_malloc0(size + 16);

    put_be64(buf, size);
    for (uint64_t p = 0; p < pages; p++) {
        if (test_bit(p, received)) {
            buf[8 + p / 8] |= 1u << (p % 8);
        }
    }
    put_be64(buf + 8 + size, POSTCOPY_RECV_BITMAP_ENDING);
    *len = size + 16;
    return buf;
}

bool postcopy_recv_bitmap_check_size(const char *name, uint64_t pages,
                                     uint64_t size, Error **errp)
{
    uint64_t want = postcopy_recv_bitmap_size(pages);

    if (size != want) {
        error_setg(errp, "RECV_BITMAP for ramblock '%s': bitmap size 0x%"
                   PRIx64 " does not match the block's 0x%" PRIx64
                   " (%" PRIu64 " pages)", name, size, want, pages);
        return false;
    }
    return true;
}

bool postcopy_recv_bitmap_decode(const char *name, const uint8_t *le,
                                 uint64_t pages, uint64_t end_mark,
                                 unsigned long *to_send, Error **errp)
{
    if (end_mark != POSTCOPY_RECV_BITMAP_ENDING) {
        error_setg(errp, "RECV_BITMAP for ramblock '%s': end mark incorrect: "
                   "0x%" PRIx64, name, end_mark);
        return false;
    }
    for (uint64_t p = 0; p < pages; p++) {
        if (le[p / 8] & (1u << (p % 8))) {
            clear_bit(p, to_send);
        } else {
            set_bit(p, to_send);
        }
    }
    return true;
}
