/*
 * VMState element types: how each field type is put into and got from
 * the stream (big-endian, fixed size; names as in QEMU's VMDESC JSON).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "migration/vmstate.h"

/* Integers: one pair of accessors per width, signedness by cast. */

static bool get_u8(QEMUFile *f, void *pv, size_t size,
                   const VMStateField *field, Error **errp)
{
    *(uint8_t *)pv = qemu_get_byte(f);
    return true;
}

static bool put_u8(QEMUFile *f, void *pv, size_t size,
                   const VMStateField *field, Error **errp)
{
    qemu_put_byte(f, *(uint8_t *)pv);
    return true;
}

static bool get_u16(QEMUFile *f, void *pv, size_t size,
                    const VMStateField *field, Error **errp)
{
    *(uint16_t *)pv = qemu_get_be16(f);
    return true;
}

static bool put_u16(QEMUFile *f, void *pv, size_t size,
                    const VMStateField *field, Error **errp)
{
    qemu_put_be16(f, *(uint16_t *)pv);
    return true;
}

static bool get_u32(QEMUFile *f, void *pv, size_t size,
                    const VMStateField *field, Error **errp)
{
    *(uint32_t *)pv = qemu_get_be32(f);
    return true;
}

static bool put_u32(QEMUFile *f, void *pv, size_t size,
                    const VMStateField *field, Error **errp)
{
    qemu_put_be32(f, *(uint32_t *)pv);
    return true;
}

static bool get_u64(QEMUFile *f, void *pv, size_t size,
                    const VMStateField *field, Error **errp)
{
    *(uint64_t *)pv = qemu_get_be64(f);
    return true;
}

static bool put_u64(QEMUFile *f, void *pv, size_t size,
                    const VMStateField *field, Error **errp)
{
    qemu_put_be64(f, *(uint64_t *)pv);
    return true;
}

/*
 * The signed types share the unsigned accessors: same bytes, two's
 * complement, and int8_t/uint8_t etc. have the same size and alignment.
 */
const VMStateInfo vmstate_info_int8 = {
    .name = "int8", .get = get_u8, .put = put_u8,
};
const VMStateInfo vmstate_info_int16 = {
    .name = "int16", .get = get_u16, .put = put_u16,
};
const VMStateInfo vmstate_info_int32 = {
    .name = "int32", .get = get_u32, .put = put_u32,
};
const VMStateInfo vmstate_info_int64 = {
    .name = "int64", .get = get_u64, .put = put_u64,
};
const VMStateInfo vmstate_info_uint8 = {
    .name = "uint8", .get = get_u8, .put = put_u8,
};
const VMStateInfo vmstate_info_uint16 = {
    .name = "uint16", .get = get_u16, .put = put_u16,
};
const VMStateInfo vmstate_info_uint32 = {
    .name = "uint32", .get = get_u32, .put = put_u32,
};
const VMStateInfo vmstate_info_uint64 = {
    .name = "uint64", .get = get_u64, .put = put_u64,
};

/* bool: one byte, 0 or 1; anything else is a corrupt stream. */
static bool get_bool(QEMUFile *f, void *pv, size_t size,
                     const VMStateField *field, Error **errp)
{
    int v = qemu_get_byte(f);

    if (v > 1) {
        error_setg(errp, "invalid bool value %d (expected 0 or 1)", v);
        return false;
    }
    *(bool *)pv = v;
    return true;
}

static bool put_bool(QEMUFile *f, void *pv, size_t size,
                     const VMStateField *field, Error **errp)
{
    qemu_put_byte(f, *(bool *)pv ? 1 : 0);
    return true;
}

const VMStateInfo vmstate_info_bool = {
    .name = "bool", .get = get_bool, .put = put_bool,
};

/*
 * uint32 that must match on both sides (a count of things the machine was
 * built with): loading compares instead of assigning.
 */
static bool get_u32_equal(QEMUFile *f, void *pv, size_t size,
                          const VMStateField *field, Error **errp)
{
    uint32_t v = qemu_get_be32(f);

    if (qemu_file_get_error(f)) {
        return true;            /* the caller reports the stream error */
    }
    if (v != *(uint32_t *)pv) {
        error_setg(errp, "value %" PRIu32 " in the stream differs from "
                   "this side's %" PRIu32, v, *(uint32_t *)pv);
        return false;
    }
    return true;
}

const VMStateInfo vmstate_info_uint32_equal = {
    .name = "uint32 equal", .get = get_u32_equal, .put = put_u32,
};

/* An opaque buffer of @size bytes. */
static bool get_buffer(QEMUFile *f, void *pv, size_t size,
                       const VMStateField *field, Error **errp)
{
    qemu_get_buffer(f, pv, size);
    return true;
}

static bool put_buffer(QEMUFile *f, void *pv, size_t size,
                       const VMStateField *field, Error **errp)
{
    qemu_put_buffer(f, pv, size);
    return true;
}

const VMStateInfo vmstate_info_buffer = {
    .name = "buffer", .get = get_buffer, .put = put_buffer,
};

/* Retired fields: @pv is not used; bytes are zeros out, skipped in. */
static bool get_unused(QEMUFile *f, void *pv, size_t size,
                       const VMStateField *field, Error **errp)
{
    uint8_t scratch[256];

    while (size > 0) {
        size_t n = MIN(size, sizeof(scratch));

        if (qemu_get_buffer(f, scratch, n) < n) {
            break;              /* sticky error: the caller reports it */
        }
        size -= n;
    }
    return true;
}

static bool put_unused(QEMUFile *f, void *pv, size_t size,
                       const VMStateField *field, Error **errp)
{
    static const uint8_t zeros[256];

    while (size > 0) {
        size_t n = MIN(size, sizeof(zeros));

        qemu_put_buffer(f, zeros, n);
        size -= n;
    }
    return true;
}

const VMStateInfo vmstate_info_unused_buffer = {
    .name = "unused_buffer", .get = get_unused, .put = put_unused,
};
