/*
 * Big-endian loads and stores at any alignment, for wire formats built
 * in byte buffers (multifd packets, RDMA control messages, vfio device
 * state buffers).  QEMU's names.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_BSWAP_H
#define QEMU_BSWAP_H

static inline void stl_be_p(void *p, uint32_t v)
{
    v = GUINT32_TO_BE(v);
    memcpy(p, &v, sizeof(v));
}

static inline void stq_be_p(void *p, uint64_t v)
{
    v = GUINT64_TO_BE(v);
    memcpy(p, &v, sizeof(v));
}

static inline uint32_t ldl_be_p(const void *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return GUINT32_FROM_BE(v);
}

static inline uint64_t ldq_be_p(const void *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return GUINT64_FROM_BE(v);
}

#endif
