/*
 * multifd wire format: the init message and the packet header.
 *
 * Header layout (all big endian), MULTIFD_HDR_SIZE bytes:
 *   0 magic u32, 4 version u32, 8 flags u32, 12 pages_alloc u32,
 *   16 normal_pages u32, 20 next_packet_size u32, 24 packet_num u64,
 *   32 zero_pages u32, 36 reserved u32, 40 reserved 3 x u64,
 *   64 ramblock name (256 bytes, NUL padded),
 *   320 offsets: pages_alloc x u64 (normal pages first, then zero pages).
 * The header always has room for MULTIFD_PAGES_PER_PACKET offsets, so a
 * reader knows its size before decoding it.
 *
 * A device state packet (MULTIFD_FLAG_DEVICE_STATE) has the same size:
 *   0 magic, 4 version, 8 flags, 12 instance_id u32, 16 zero u32,
 *   20 next_packet_size u32, 24 packet_num u64, 64 section idstr (256
 *   bytes, NUL padded), the rest zero; then next_packet_size data bytes.
 *
 * Init message, 64 bytes: magic u32, version u32, UUID (16 bytes),
 * channel id u8, then zero padding.
 *
 * Pure code: no threads, no globals; the decoder is fed hostile input in
 * tests/unit/test-multifd-packet.c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "multifd.h"

#define HDR_MAGIC        0
#define HDR_VERSION      4
#define HDR_FLAGS        8
#define HDR_PAGES_ALLOC  12
#define HDR_NORMAL       16
#define HDR_NEXT_SIZE    20
#define HDR_PACKET_NUM   24
#define HDR_ZERO         32
#define HDR_RAMBLOCK     64
#define HDR_INSTANCE     12     /* device state packets */

#define MULTIFD_FLAGS_KNOWN (MULTIFD_FLAG_SYNC | \
                             MULTIFD_FLAG_COMPRESSION_MASK | \
                             MULTIFD_FLAG_DEVICE_STATE)

void multifd_packet_encode(const MultiFDPacketInfo *info, uint8_t *buf)
{
    uint32_t n = info->normal_num + info->zero_num;

    memset(buf, 0, MULTIFD_HDR_SIZE);
    if (info->flags & MULTIFD_FLAG_DEVICE_STATE) {
        stl_be_p(buf + HDR_MAGIC, MULTIFD_MAGIC);
        stl_be_p(buf + HDR_VERSION, MULTIFD_VERSION);
        stl_be_p(buf + HDR_FLAGS, info->flags);
        stl_be_p(buf + HDR_INSTANCE, info->instance_id);
        stl_be_p(buf + HDR_NEXT_SIZE, info->next_packet_size);
        stq_be_p(buf + HDR_PACKET_NUM, info->packet_num);
        g_strlcpy((char *)buf + HDR_RAMBLOCK, info->ramblock,
                  MULTIFD_RAMBLOCK_NAME);
        return;
    }
    stl_be_p(buf + HDR_MAGIC, MULTIFD_MAGIC);
    stl_be_p(buf + HDR_VERSION, MULTIFD_VERSION);
    stl_be_p(buf + HDR_FLAGS, info->flags);
    stl_be_p(buf + HDR_PAGES_ALLOC, MULTIFD_PAGES_PER_PACKET);
    stl_be_p(buf + HDR_NORMAL, info->normal_num);
    stl_be_p(buf + HDR_NEXT_SIZE, info->next_packet_size);
    stq_be_p(buf + HDR_PACKET_NUM, info->packet_num);
    stl_be_p(buf + HDR_ZERO, info->zero_num);
    g_strlcpy((char *)buf + HDR_RAMBLOCK, info->ramblock,
              MULTIFD_RAMBLOCK_NAME);
    for (uint32_t i = 0; i < n && i < MULTIFD_PAGES_PER_PACKET; i++) {
        stq_be_p(buf + MULTIFD_HDR_FIXED + 8 * i, info->offset[i]);
    }
}

static bool multifd_packet_check_counts(const MultiFDPacketInfo *info,
                                        Error **errp)
{
    if (info->pages_alloc > MULTIFD_PAGES_PER_PACKET) {
        error_setg(errp, "multifd: received packet with size %u and "
                   "expected a size of %u", info->pages_alloc,
                   (unsigned)MULTIFD_PAGES_PER_PACKET);
        return false;
    }
    if (info->normal_num > info->pages_alloc) {
        error_setg(errp, "multifd: received packet with %u normal pages "
                   "and expected maximum pages are %u", info->normal_num,
                   info->pages_alloc);
        return false;
    }
    if (info->zero_num > info->pages_alloc - info->normal_num) {
        error_setg(errp, "multifd: received packet with %u zero pages and "
                   "expected maximum zero pages are %u", info->zero_num,
                   info->pages_alloc - info->normal_num);
        return false;
    }
    if (info->next_packet_size > MULTIFD_MAX_DATA) {
        error_setg(errp, "multifd: received packet announcing %u data "
                   "bytes, more than the maximum %u",
                   info->next_packet_size, (unsigned)MULTIFD_MAX_DATA);
        return false;
    }
    if ((info->flags & MULTIFD_FLAG_COMPRESSION_MASK) == MULTIFD_FLAG_NOCOMP &&
        info->next_packet_size !=
        (uint64_t)info->normal_num * TARGET_PAGE_SIZE) {
        error_setg(errp, "multifd: uncompressed packet announces %u data "
                   "bytes for %u pages", info->next_packet_size,
                   info->normal_num);
        return false;
    }
    return true;
}

/* The rest of a device state header: sizes bounded, name terminated. */
static bool multifd_device_packet_decode(const uint8_t *buf,
                                         MultiFDPacketInfo *info,
                                         Error **errp)
{
    info->pages_alloc = info->normal_num = info->zero_num = 0;
    info->instance_id = ldl_be_p(buf + HDR_INSTANCE);
    info->next_packet_size = ldl_be_p(buf + HDR_NEXT_SIZE);
    info->packet_num = ldq_be_p(buf + HDR_PACKET_NUM);
    if (info->flags & MULTIFD_FLAG_SYNC) {
        error_setg(errp, "multifd: a device state packet with SYNC");
        return false;
    }
    if (!info->next_packet_size ||
        info->next_packet_size > MULTIFD_MAX_DATA) {
        error_setg(errp, "multifd: device state packet of %u bytes (1 to "
                   "%u)", info->next_packet_size,
                   (unsigned)MULTIFD_MAX_DATA);
        return false;
    }
    memcpy(info->ramblock, buf + HDR_RAMBLOCK, MULTIFD_RAMBLOCK_NAME);
    if (!memchr(info->ramblock, '\0', MULTIFD_RAMBLOCK_NAME) ||
        !info->ramblock[0]) {
        error_setg(errp, "multifd: device state packet without a "
                   "terminated device name");
        return false;
    }
    return true;
}

bool multifd_packet_decode(const uint8_t *buf, MultiFDPacketInfo *info,
                           Error **errp)
{
    uint32_t magic = ldl_be_p(buf + HDR_MAGIC);
    uint32_t version = ldl_be_p(buf + HDR_VERSION);
    uint32_t n;

    if (magic != MULTIFD_MAGIC) {
        error_setg(errp, "multifd: received packet magic %x and expected "
                   "magic %x", magic, MULTIFD_MAGIC);
        return false;
    }
    if (version != MULTIFD_VERSION) {
        error_setg(errp, "multifd: received packet version %u and expected "
                   "version %u", version, MULTIFD_VERSION);
        return false;
    }
    info->flags = ldl_be_p(buf + HDR_FLAGS);
    if (info->flags & ~(uint32_t)MULTIFD_FLAGS_KNOWN) {
        error_setg(errp, "multifd: received packet with unknown flags 0x%x",
                   info->flags & ~(uint32_t)MULTIFD_FLAGS_KNOWN);
        return false;
    }
    if (info->flags & MULTIFD_FLAG_DEVICE_STATE) {
        return multifd_device_packet_decode(buf, info, errp);
    }
    info->pages_alloc = ldl_be_p(buf + HDR_PAGES_ALLOC);
    info->normal_num = ldl_be_p(buf + HDR_NORMAL);
    info->zero_num = ldl_be_p(buf + HDR_ZERO);
    info->next_packet_size = ldl_be_p(buf + HDR_NEXT_SIZE);
    info->packet_num = ldq_be_p(buf + HDR_PACKET_NUM);
    if (!multifd_packet_check_counts(info, errp)) {
        return false;
    }
    memcpy(info->ramblock, buf + HDR_RAMBLOCK, MULTIFD_RAMBLOCK_NAME);
    if (!memchr(info->ramblock, '\0', MULTIFD_RAMBLOCK_NAME)) {
        error_setg(errp, "multifd: received packet with an unterminated "
                   "RAMBlock name");
        return false;
    }
    n = info->normal_num + info->zero_num;
    if (n && !info->ramblock[0]) {
        error_setg(errp, "multifd: received packet with %u pages but no "
                   "RAMBlock name", n);
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        info->offset[i] = ldq_be_p(buf + MULTIFD_HDR_FIXED + 8 * i);
    }
    return true;
}

bool multifd_packet_check_offsets(const MultiFDPacketInfo *info,
                                  uint64_t block_len, Error **errp)
{
    uint32_t n = info->normal_num + info->zero_num;

    for (uint32_t i = 0; i < n; i++) {
        uint64_t off = info->offset[i];

        if (off & (TARGET_PAGE_SIZE - 1)) {
            error_setg(errp, "multifd: offset 0x%" PRIx64 " in block %s is "
                       "not page aligned", off, info->ramblock);
            return false;
        }
        if (block_len < TARGET_PAGE_SIZE ||
            off > block_len - TARGET_PAGE_SIZE) {
            error_setg(errp, "multifd: offset 0x%" PRIx64 " is outside "
                       "block %s (used length 0x%" PRIx64 ")", off,
                       info->ramblock, block_len);
            return false;
        }
    }
    return true;
}

void multifd_init_encode(const uint8_t uuid[16], uint8_t id, uint8_t *buf)
{
    memset(buf, 0, MULTIFD_INIT_SIZE);
    stl_be_p(buf, MULTIFD_MAGIC);
    stl_be_p(buf + 4, MULTIFD_VERSION);
    memcpy(buf + 8, uuid, 16);
    buf[24] = id;
}

bool multifd_init_decode(const uint8_t *buf, const uint8_t uuid[16],
                         uint8_t *id, Error **errp)
{
    uint32_t magic = ldl_be_p(buf);
    uint32_t version = ldl_be_p(buf + 4);

    if (magic != MULTIFD_MAGIC) {
        error_setg(errp, "multifd: received packet magic %x expected %x",
                   magic, MULTIFD_MAGIC);
        return false;
    }
    if (version != MULTIFD_VERSION) {
        error_setg(errp, "multifd: received packet version %u expected %u",
                   version, MULTIFD_VERSION);
        return false;
    }
    *id = buf[24];
    if (memcmp(buf + 8, uuid, 16)) {
        error_setg(errp, "multifd: received a UUID different from this "
                   "VM's for channel %u", *id);
        return false;
    }
    return true;
}
