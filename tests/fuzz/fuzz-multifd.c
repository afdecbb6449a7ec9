/*
 * libFuzzer target "multifd": multifd receive channels.
 *
 * Byte 0 of an input: bits 0-1 the compression the destination expects
 * (0 none, 1 zlib, 2 zstd), bit 2 a second channel.  The rest is what
 * the source writes on the channel(s): the 64-byte init message, then
 * packets (header, page offsets, possibly compressed data).  With two
 * channels the bytes up to the first FUZZ_CHANNEL_SPLIT go to the first.
 * Each channel is a buffer QIOChannel handed to the real
 * multifd_recv_new_channel() (migration/multifd.c), so the real
 * "mig/dst/recv_N" threads read it with the real init and packet checks
 * (multifd-packet.c) and the real nocomp/zlib/zstd receive code, and
 * write pages into guest RAM (guard regions around it).  The harness
 * plays the incoming thread: it meets the channels at every SYNC packet
 * with multifd_recv_sync_main() until they end, then shuts multifd down
 * as incoming_finish_bh() does.
 *
 * Seeds ("--make-seeds=DIR"): the real encoders, multifd_init_encode(),
 * multifd_packet_encode() and each backend's send_prepare (real zlib and
 * zstd compression), over pages of guest RAM.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "io/channel-buffer.h"
#include "../../migration/migration.h"
#include "../../migration/multifd.h"
#include "../../migration/options.h"
#include "fuzz-common.h"
#include "fuzz-qmig.h"

#define FUZZ_CHANNEL_SPLIT  "~CHAN2~~"

static const char *const fuzz_comp_names[] = { "none", "zlib", "zstd" };

/* The backends, as they register (linked with --wrap). */
static const MultiFDMethods *fuzz_ops[MULTIFD_COMPRESSION_ZSTD + 1];
void __wrap_multifd_register_ops(MultiFDCompression kind,
                                 const MultiFDMethods *ops);
void __real_multifd_register_ops(MultiFDCompression kind,
                                 const MultiFDMethods *ops);

void __wrap_multifd_register_ops(MultiFDCompression kind,
                                 const MultiFDMethods *ops)
{
    fuzz_ops[kind] = ops;
    __real_multifd_register_ops(kind, ops);
}

static void fuzz_multifd_params(unsigned comp, unsigned channels)
{
    g_autoptr(JsonObject) p = json_object_new();
    Error *err = NULL;

    json_object_set_int_member(p, "multifd-channels", channels);
    json_object_set_string_member(p, "multifd-compression",
                                  fuzz_comp_names[comp]);
    if (!migrate_set_parameters_json(p, &err)) {
        error_report_err(err);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned comp, channels;
    const uint8_t *split;
    size_t len0;
    Error *err = NULL;

    if (size < 1) {
        return 0;
    }
    comp = data[0] & 3;
    if (comp > 2) {
        return 0;
    }
    channels = data[0] & 4 ? 2 : 1;
    data++;
    size--;
    split = channels == 2 ?
            memmem(data, size, FUZZ_CHANNEL_SPLIT,
                   strlen(FUZZ_CHANNEL_SPLIT)) : NULL;
    len0 = split ? (size_t)(split - data) : size;

    bql_lock();
    fuzz_multifd_params(comp, channels);
    fuzz_qmig_set_caps(FUZZ_CAP_MULTIFD);
    multifd_recv_setup();
    multifd_recv_new_channel(qio_channel_buffer_new_data(data, len0));
    if (channels == 2) {
        size_t skip = split ? len0 + strlen(FUZZ_CHANNEL_SPLIT) : size;

        multifd_recv_new_channel(qio_channel_buffer_new_data(data + skip,
                                                             size - skip));
    }
    bql_unlock();

    /* The incoming thread: RAM is ready, then a sync per SYNC packet. */
    multifd_recv_ram_ready();
    while (multifd_recv_sync_main(&err)) {
        /* every channel reached a SYNC packet: go on */
    }
    /* The channels end with "closed" at their EOF, or their error. */
    fuzz_check_error(false, err);

    bql_lock();
    multifd_recv_shutdown();
    bql_unlock();
    return 0;
}

/* ---- Seeds ---- */

/* One packet: header + data from the real backend's send_prepare. */
static void fuzz_seed_packet(GByteArray *out, unsigned comp, void *state,
                             uint64_t num, const uint64_t *normal,
                             uint32_t nnormal, const uint64_t *zero,
                             uint32_t nzero, bool sync)
{
    MultiFDPacketInfo *info = g_new0(MultiFDPacketInfo, 1);
    struct iovec *iov = g_new0(struct iovec, MULTIFD_PAGES_PER_PACKET + 1);
    g_autofree uint8_t *hdr = g_malloc0(MULTIFD_HDR_SIZE);
    MultiFDSendJob job = {
        .block = fuzz_qmig_ram(),
        .normal_num = nnormal,
        .zero_num = nzero,
        .normal = (uint64_t *)normal,
        .zero = (uint64_t *)zero,
        .iov = iov,
        .iovs_num = 1,
    };

    if (nnormal && !fuzz_ops[comp]->send_prepare(state, &job, &error_abort)) {
        abort();
    }
    info->flags = multifd_compression_flag(comp) |
                  (sync ? MULTIFD_FLAG_SYNC : 0);
    info->normal_num = nnormal;
    info->zero_num = nzero;
    info->next_packet_size = nnormal ? job.next_packet_size : 0;
    info->packet_num = num;
    if (nnormal || nzero) {
        g_strlcpy(info->ramblock, FUZZ_RAM_NAME, sizeof(info->ramblock));
    }
    if (nnormal) {
        memcpy(info->offset, normal, nnormal * 8);
    }
    if (nzero) {
        memcpy(info->offset + nnormal, zero, nzero * 8);
    }
    multifd_packet_encode(info, hdr);
    g_byte_array_append(out, hdr, MULTIFD_HDR_SIZE);
    for (int i = 1; nnormal && i < job.iovs_num; i++) {
        g_byte_array_append(out, iov[i].iov_base, iov[i].iov_len);
    }
    g_free(iov);
    g_free(info);
}

/* A channel: init message, two rounds of packets with a SYNC each. */
static GByteArray *fuzz_seed_channel(unsigned comp, uint8_t id)
{
    static const uint64_t normal[] = { 0, 0x3000, 0x1ff000 };
    static const uint64_t zero[] = { 0x5000, 0x6000 };
    GByteArray *out = g_byte_array_new();
    uint8_t uuid[16] = { 0 };
    uint8_t init[MULTIFD_INIT_SIZE];
    void *state = NULL;

    multifd_init_encode(uuid, id, init);
    g_byte_array_append(out, init, sizeof(init));
    if (!fuzz_ops[comp]->send_setup(&state, &error_abort)) {
        abort();
    }
    fuzz_seed_packet(out, comp, state, id * 10 + 1, normal, 3, zero, 2,
                     false);
    fuzz_seed_packet(out, comp, state, id * 10 + 2, NULL, 0, NULL, 0, true);
    fuzz_seed_packet(out, comp, state, id * 10 + 3, normal + 1, 1, zero, 1,
                     true);
    fuzz_ops[comp]->send_cleanup(state);
    return out;
}

static bool fuzz_make_seeds(const char *dir, Error **errp)
{
    RAMBlock *rb = fuzz_qmig_ram();

    /* Pages with content (compressible and not). */
    for (uint64_t off = 0; off < FUZZ_RAM_SIZE; off += 0x1000) {
        memset(rb->host + off, (uint8_t)(off >> 12), 0x1000);
        rb->host[off + 7] = (uint8_t)(off * 31 >> 12);
    }
    memset(rb->host + 0x5000, 0, 0x2000);
    for (unsigned comp = 0; comp <= 2; comp++) {
        for (unsigned two = 0; two <= 1; two++) {
            g_autoptr(GByteArray) seed = g_byte_array_new();
            g_autoptr(GByteArray) c0 = fuzz_seed_channel(comp, 0);
            g_autofree char *name = g_strdup_printf("%s-%u", 
                                                    fuzz_comp_names[comp],
                                                    two + 1);
            uint8_t head = comp | (two ? 4 : 0);

            if (!fuzz_ops[comp]) {
                continue;   /* not built in */
            }
            g_byte_array_append(seed, &head, 1);
            g_byte_array_append(seed, c0->data, c0->len);
            if (two) {
                g_autoptr(GByteArray) c1 = fuzz_seed_channel(comp, 1);

                g_byte_array_append(seed, (const uint8_t *)FUZZ_CHANNEL_SPLIT,
                                    strlen(FUZZ_CHANNEL_SPLIT));
                g_byte_array_append(seed, c1->data, c1->len);
            }
            if (!fuzz_write_seed(dir, name, seed->data, seed->len, errp)) {
                return false;
            }
        }
    }
    return true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_qmig_init();   /* returns with the BQL held */
    /* multifd.c registers the backends on first use: use it once. */
    multifd_recv_setup();
    multifd_recv_shutdown();
    bql_unlock();
    fuzz_handle_make_seeds(*argc, *argv, fuzz_make_seeds);
    return 0;
}
