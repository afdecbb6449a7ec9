/*
 * multifd wire format on hostile input: the packet header decoder and
 * offset check, the init message, and the zlib/zstd backends' receive
 * side fed corrupt, truncated and oversized data (a clear error, never a
 * write beyond the announced pages).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "config-host.h"
#include "io/channel.h"
#include "io/channel-buffer.h"
#include "migration/multifd.h"

/* ---- stand-ins for the parts of qmig the backends call ---- */

static const MultiFDMethods *registered[MULTIFD_COMPRESSION_ZSTD + 1];

void multifd_register_ops(MultiFDCompression kind, const MultiFDMethods *ops)
{
    registered[kind] = ops;
}

int migrate_multifd_zlib_level(void)
{
    return 1;
}

int migrate_multifd_zstd_level(void)
{
    return 1;
}

/* ---- header ---- */

static void good_info(MultiFDPacketInfo *info)
{
    memset(info, 0, sizeof(*info));
    info->flags = MULTIFD_FLAG_NOCOMP;
    info->normal_num = 3;
    info->zero_num = 2;
    info->next_packet_size = 3 * TARGET_PAGE_SIZE;
    info->packet_num = 42;
    strcpy(info->ramblock, "pc.ram");
    for (int i = 0; i < 5; i++) {
        info->offset[i] = (uint64_t)i * TARGET_PAGE_SIZE;
    }
}

static void test_roundtrip(void)
{
    MultiFDPacketInfo in, out;
    uint8_t buf[MULTIFD_HDR_SIZE];
    Error *err = NULL;

    good_info(&in);
    multifd_packet_encode(&in, buf);
    g_assert_true(multifd_packet_decode(buf, &out, &err));
    g_assert_null(err);
    g_assert_cmpuint(out.normal_num, ==, 3);
    g_assert_cmpuint(out.zero_num, ==, 2);
    g_assert_cmpuint(out.pages_alloc, ==, MULTIFD_PAGES_PER_PACKET);
    g_assert_cmpuint(out.packet_num, ==, 42);
    g_assert_cmpstr(out.ramblock, ==, "pc.ram");
    g_assert_cmpmem(out.offset, 5 * 8, in.offset, 5 * 8);
    g_assert_true(multifd_packet_check_offsets(&out, 1 << 20, &err));
    /* Big endian on the wire, as QEMU: the magic reads 11 22 33 44. */
    g_assert_cmpuint(buf[0], ==, 0x11);
    g_assert_cmpuint(buf[3], ==, 0x44);
}

static void put32(uint8_t *buf, size_t off, uint32_t v)
{
    v = GUINT32_TO_BE(v);
    memcpy(buf + off, &v, 4);
}

/* Decoding @buf must fail with a message containing @what. */
static void expect_bad(const uint8_t *buf, const char *what)
{
    MultiFDPacketInfo out;
    Error *err = NULL;

    g_assert_false(multifd_packet_decode(buf, &out, &err));
    g_assert_nonnull(err);
    if (!strstr(error_get_pretty(err), what)) {
        g_error("error '%s' does not mention '%s'", error_get_pretty(err),
                what);
    }
    error_free(err);
}

/* Device state packets: the name and size travel, nothing else. */
static void test_device_state(void)
{
    MultiFDPacketInfo in = { 0 }, out;
    uint8_t good[MULTIFD_HDR_SIZE], buf[MULTIFD_HDR_SIZE];
    Error *err = NULL;

    in.flags = MULTIFD_FLAG_NOCOMP | MULTIFD_FLAG_DEVICE_STATE;
    in.instance_id = 7;
    in.next_packet_size = 1000;
    in.packet_num = 9;
    strcpy(in.ramblock, "vf0/vfio");
    multifd_packet_encode(&in, good);
    g_assert_true(multifd_packet_decode(good, &out, &err));
    g_assert_cmpuint(out.flags, ==, in.flags);
    g_assert_cmpuint(out.instance_id, ==, 7);
    g_assert_cmpuint(out.next_packet_size, ==, 1000);
    g_assert_cmpuint(out.normal_num + out.zero_num, ==, 0);
    g_assert_cmpstr(out.ramblock, ==, "vf0/vfio");

    memcpy(buf, good, sizeof(buf));
    put32(buf, 20, 0);
    expect_bad(buf, "device state packet of 0 bytes");
    memcpy(buf, good, sizeof(buf));
    put32(buf, 20, MULTIFD_MAX_DATA + 1);
    expect_bad(buf, "device state packet of");
    memcpy(buf, good, sizeof(buf));
    put32(buf, 8, MULTIFD_FLAG_DEVICE_STATE | MULTIFD_FLAG_SYNC);
    expect_bad(buf, "with SYNC");
    memcpy(buf, good, sizeof(buf));
    memset(buf + 64, 'x', MULTIFD_RAMBLOCK_NAME);
    expect_bad(buf, "terminated device name");
    memcpy(buf, good, sizeof(buf));
    memset(buf + 64, 0, MULTIFD_RAMBLOCK_NAME);
    expect_bad(buf, "terminated device name");
}

static void test_bad_headers(void)
{
    MultiFDPacketInfo in;
    uint8_t good[MULTIFD_HDR_SIZE], buf[MULTIFD_HDR_SIZE];

    good_info(&in);
    multifd_packet_encode(&in, good);

    memcpy(buf, good, sizeof(buf));
    put32(buf, 0, 0xdeadbeef);
    expect_bad(buf, "magic");
    memcpy(buf, good, sizeof(buf));
    put32(buf, 4, 2);
    expect_bad(buf, "version");
    memcpy(buf, good, sizeof(buf));
    put32(buf, 8, 0x80);
    expect_bad(buf, "flags");
    memcpy(buf, good, sizeof(buf));
    put32(buf, 12, MULTIFD_PAGES_PER_PACKET + 1);
    expect_bad(buf, "size");
    memcpy(buf, good, sizeof(buf));
    put32(buf, 16, MULTIFD_PAGES_PER_PACKET + 1);
    expect_bad(buf, "normal pages");
    memcpy(buf, good, sizeof(buf));
    put32(buf, 32, MULTIFD_PAGES_PER_PACKET - 2);   /* 3 + 126 > 128 */
    expect_bad(buf, "zero pages");
    memcpy(buf, good, sizeof(buf));
    put32(buf, 32, 0xffffffff);                     /* no wrap-around */
    expect_bad(buf, "zero pages");
    memcpy(buf, good, sizeof(buf));
    put32(buf, 20, MULTIFD_MAX_DATA + 1);
    expect_bad(buf, "maximum");
    memcpy(buf, good, sizeof(buf));
    put32(buf, 20, 2 * TARGET_PAGE_SIZE);           /* 3 pages announced */
    expect_bad(buf, "uncompressed");
    memcpy(buf, good, sizeof(buf));
    memset(buf + 64, 'x', MULTIFD_RAMBLOCK_NAME);
    expect_bad(buf, "unterminated");
    memcpy(buf, good, sizeof(buf));
    memset(buf + 64, 0, MULTIFD_RAMBLOCK_NAME);
    expect_bad(buf, "no RAMBlock");
}

static void test_bad_offsets(void)
{
    MultiFDPacketInfo info;
    Error *err = NULL;

    good_info(&info);
    info.offset[1] = 100;                   /* not aligned */
    g_assert_false(multifd_packet_check_offsets(&info, 1 << 20, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "aligned"));
    g_clear_pointer(&err, error_free);

    good_info(&info);
    info.offset[4] = 1 << 20;               /* one past the end */
    g_assert_false(multifd_packet_check_offsets(&info, 1 << 20, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "outside"));
    g_clear_pointer(&err, error_free);

    good_info(&info);
    info.offset[0] = UINT64_MAX & ~(uint64_t)(TARGET_PAGE_SIZE - 1);
    g_assert_false(multifd_packet_check_offsets(&info, 1 << 20, &err));
    g_clear_pointer(&err, error_free);

    good_info(&info);                       /* a block smaller than a page */
    g_assert_false(multifd_packet_check_offsets(&info, 100, &err));
    g_clear_pointer(&err, error_free);
}

/* Random headers never crash and never pass with out-of-range counts. */
static void test_random_headers(void)
{
    GRand *r = g_rand_new_with_seed(1234);
    uint8_t good[MULTIFD_HDR_SIZE], buf[MULTIFD_HDR_SIZE];
    MultiFDPacketInfo info;

    good_info(&info);
    multifd_packet_encode(&info, good);
    for (int n = 0; n < 20000; n++) {
        Error *err = NULL;

        memcpy(buf, good, sizeof(buf));
        for (int k = 0; k < 4; k++) {
            /* Mostly the fixed part, where the fields are. */
            int pos = g_rand_int_range(r, 0, k ? 64 : MULTIFD_HDR_SIZE);

            buf[pos] = g_rand_int_range(r, 0, 256);
        }
        if (multifd_packet_decode(buf, &info, &err)) {
            g_assert_cmpuint(info.pages_alloc, <=, MULTIFD_PAGES_PER_PACKET);
            g_assert_cmpuint(info.normal_num + (uint64_t)info.zero_num, <=,
                             info.pages_alloc);
            g_assert_cmpuint(info.next_packet_size, <=, MULTIFD_MAX_DATA);
            g_assert_nonnull(memchr(info.ramblock, 0,
                                    MULTIFD_RAMBLOCK_NAME));
        } else {
            g_assert_nonnull(err);
            error_free(err);
        }
    }
    g_rand_free(r);
}

static void test_init_message(void)
{
    uint8_t uuid[16] = { 1, 2, 3, 4 }, other[16] = { 9 };
    uint8_t msg[MULTIFD_INIT_SIZE];
    Error *err = NULL;
    uint8_t id = 0;

    multifd_init_encode(uuid, 3, msg);
    g_assert_true(multifd_init_decode(msg, uuid, &id, &err));
    g_assert_cmpuint(id, ==, 3);
    g_assert_false(multifd_init_decode(msg, other, &id, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "UUID"));
    g_clear_pointer(&err, error_free);
    msg[0] ^= 0xff;
    g_assert_false(multifd_init_decode(msg, uuid, &id, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "magic"));
    g_clear_pointer(&err, error_free);
    msg[0] ^= 0xff;
    msg[7] = 9;
    g_assert_false(multifd_init_decode(msg, uuid, &id, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "version"));
    g_clear_pointer(&err, error_free);
}

/* ---- compression backends on corrupt input ---- */

#define NPAGES 8

typedef struct Pages {
    RAMBlock rb;
    uint64_t offsets[NPAGES];
} Pages;

static void pages_init(Pages *p, bool fill)
{
    memset(p, 0, sizeof(*p));
    strcpy(p->rb.idstr, "pc.ram");
    /* One guard page after the announced pages: must stay untouched. */
    p->rb.used_length = (NPAGES + 1) * TARGET_PAGE_SIZE;
    p->rb.host = g_malloc0(p->rb.used_length);
    for (int i = 0; i < NPAGES; i++) {
        p->offsets[i] = (uint64_t)i * TARGET_PAGE_SIZE;
        for (int j = 0; fill && j < TARGET_PAGE_SIZE; j += 64) {
            p->rb.host[i * TARGET_PAGE_SIZE + j] = i * 7 + j / 64;
        }
    }
}

/* Compress NPAGES pages of @src with @ops; returns the bytes. */
static GBytes *compress_pages(const MultiFDMethods *ops, Pages *src)
{
    struct iovec iov[MULTIFD_PAGES_PER_PACKET + 1];
    MultiFDSendJob job = {
        .block = &src->rb, .normal_num = NPAGES, .normal = src->offsets,
        .iov = iov, .iovs_num = 1,
    };
    void *state = NULL;
    Error *err = NULL;
    GBytes *out;

    g_assert_true(ops->send_setup(&state, &err));
    g_assert_true(ops->send_prepare(state, &job, &err));
    g_assert_cmpint(job.iovs_num, ==, 2);
    g_assert_cmpuint(job.next_packet_size, ==, iov[1].iov_len);
    out = g_bytes_new(iov[1].iov_base, iov[1].iov_len);
    ops->send_cleanup(state);
    return out;
}

/* Feed @data (announced as @size bytes) to a fresh receiver. */
static bool decompress(const MultiFDMethods *ops, const void *data,
                       size_t len, uint32_t size, Pages *dst, Error **errp)
{
    QIOChannel *c = qio_channel_buffer_new_data(data, len);
    MultiFDRecvJob job = {
        .c = c, .block = &dst->rb, .normal_num = NPAGES,
        .normal = dst->offsets, .next_packet_size = size,
    };
    void *state = NULL;
    bool ok;

    g_assert_true(ops->recv_setup(&state, errp));
    ok = ops->recv(state, &job, errp);
    ops->recv_cleanup(state);
    qio_channel_unref(c);
    return ok;
}

static void check_backend(MultiFDCompression kind)
{
    const MultiFDMethods *ops;
    g_autoptr(GBytes) z = NULL;
    g_autofree uint8_t *bad = NULL;
    const uint8_t *zd;
    size_t zlen;
    Pages src, dst;
    Error *err = NULL;

    multifd_zlib_register();
    multifd_zstd_register();
    ops = registered[kind];
    g_assert_nonnull(ops);
    pages_init(&src, true);
    z = compress_pages(ops, &src);
    zd = g_bytes_get_data(z, &zlen);
    g_assert_cmpuint(zlen, <, NPAGES * TARGET_PAGE_SIZE);

    /* Intact: the pages come back. */
    pages_init(&dst, false);
    g_assert_true(decompress(ops, zd, zlen, zlen, &dst, &err));
    g_assert_cmpmem(dst.rb.host, NPAGES * TARGET_PAGE_SIZE,
                    src.rb.host, NPAGES * TARGET_PAGE_SIZE);
    g_free(dst.rb.host);

    /* Truncated: the data ends inside a page. */
    pages_init(&dst, false);
    g_assert_false(decompress(ops, zd, zlen / 2, zlen / 2, &dst, &err));
    g_assert_nonnull(err);
    g_clear_pointer(&err, error_free);
    g_free(dst.rb.host);

    /* Announced longer than what arrives: a read error, not a hang. */
    pages_init(&dst, false);
    g_assert_false(decompress(ops, zd, zlen, zlen + 100, &dst, &err));
    g_clear_pointer(&err, error_free);
    g_free(dst.rb.host);

    /* Garbage and bit flips: an error or wrong pages, never a crash. */
    bad = g_memdup2(zd, zlen);
    for (int n = 0; n < 200; n++) {
        memcpy(bad, zd, zlen);
        bad[g_random_int_range(0, zlen)] ^= 1 << g_random_int_range(0, 8);
        if (n % 10 == 0) {
            memset(bad, 0xa5, MIN(zlen, 16));
        }
        pages_init(&dst, false);
        if (!decompress(ops, bad, zlen, zlen, &dst, &err)) {
            g_assert_nonnull(err);
            g_clear_pointer(&err, error_free);
        }
        /* The guard page after the announced ones is never written. */
        for (int i = 0; i < TARGET_PAGE_SIZE; i++) {
            g_assert_cmpuint(dst.rb.host[NPAGES * TARGET_PAGE_SIZE + i], ==,
                             0);
        }
        g_free(dst.rb.host);
    }
    g_free(src.rb.host);
}

static void test_zlib(void)
{
    check_backend(MULTIFD_COMPRESSION_ZLIB);
}

static void test_zstd(void)
{
    check_backend(MULTIFD_COMPRESSION_ZSTD);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/multifd/packet/roundtrip", test_roundtrip);
    g_test_add_func("/multifd/packet/bad-headers", test_bad_headers);
    g_test_add_func("/multifd/packet/device-state", test_device_state);
    g_test_add_func("/multifd/packet/bad-offsets", test_bad_offsets);
    g_test_add_func("/multifd/packet/random", test_random_headers);
    g_test_add_func("/multifd/init", test_init_message);
    g_test_add_func("/multifd/zlib/corrupt", test_zlib);
    g_test_add_func("/multifd/zstd/corrupt", test_zstd);
    return g_test_run();
}
