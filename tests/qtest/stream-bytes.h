/*
 * Big-endian writers for hand-made migration streams in tests (qtests
 * and unit tests that feed a loader crafted bytes).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef TESTS_STREAM_BYTES_H
#define TESTS_STREAM_BYTES_H

#include <stdint.h>
#include <string.h>
#include <glib.h>

static inline void put_u8(GByteArray *a, uint8_t v)
{
    g_byte_array_append(a, &v, 1);
}

static inline void put_be16(GByteArray *a, uint16_t v)
{
    put_u8(a, v >> 8);
    put_u8(a, v);
}

static inline void put_be32(GByteArray *a, uint32_t v)
{
    put_be16(a, v >> 16);
    put_be16(a, v);
}

static inline void put_be64(GByteArray *a, uint64_t v)
{
    put_be32(a, v >> 32);
    put_be32(a, v);
}

/* u8 length and @len bytes of @s (which may hold NULs). */
static inline void put_counted(GByteArray *a, const char *s, size_t len)
{
    put_u8(a, len);
    g_byte_array_append(a, (const uint8_t *)s, len);
}

/* QEMU_VM_COMMAND header: @cmd with @len bytes of payload to follow. */
static inline void put_cmd(GByteArray *a, uint16_t cmd, uint16_t len)
{
    put_u8(a, 0x08);
    put_be16(a, cmd);
    put_be16(a, len);
}

/* CMD_PACKAGED wrapping @pkg. */
static inline void put_packaged(GByteArray *a, GByteArray *pkg)
{
    put_cmd(a, 7, 4);
    put_be32(a, pkg->len);
    g_byte_array_append(a, pkg->data, pkg->len);
}

#endif
