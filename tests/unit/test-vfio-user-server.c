/*
 * The vfio-user test device server (tests/vfio-user/vfio-user-server.c),
 * driven over its real sockets by a client written here: negotiation and
 * regions, the migration state machine (legal and illegal arcs, injected
 * failures), a migration between two server processes with guest memory
 * in memfds copied by dirty log, exact DMA dirty logging, and a hostile
 * client.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/mman.h>
#include <sys/socket.h>
#include "hw/vfio/vfio-user-msg.h"
#include "../vfio-user/vu-server-ctl.h"

#define WAIT_S      20
#define RAM_SIZE    (4 * MiB)
#define DMA_IOVA    0x100000
#define DMA_PAGES   64
#define PAGE        4096

typedef struct Server {
    VuServer *vu;       /* the process and its control socket */
    int sock;           /* the vfio-user connection */
    uint16_t next_id;
} Server;

static void server_start(Server *s, const char *extra)
{
    memset(s, 0, sizeof(*s));
    s->vu = vu_server_start(extra, WAIT_S);
    s->sock = vu_connect_unix(s->vu->sock_path);
}

static char *ctl(Server *s, const char *cmd)
{
    return vu_server_cmd(s->vu, cmd);
}

static char *ctl_info(Server *s, const char *key)
{
    return vu_server_info(s->vu, key);
}

static void server_stop(Server *s)
{
    vu_server_stop(s->vu);
    close(s->sock);
}

/*
 * One command and its reply: returns 0 or the reply's errno; the reply's
 * payload (if any) goes to @reply, which the caller clears.
 */
static int xfer_fds(Server *s, uint16_t cmd, const void *payload, size_t len,
                    const int *fds, unsigned nfds, VFIOUserMsg *reply)
{
    VFIOUserHdr hdr = { .id = ++s->next_id, .command = cmd };
    VFIOUserMsg local;
    VFIOUserMsg *m = reply ? reply : &local;
    int err;

    g_assert_true(vfio_user_send(s->sock, &hdr, payload, len, fds, nfds,
                                 &error_abort));
    g_assert_cmpint(vfio_user_recv(s->sock, m, 2 * MiB, 0, &error_abort),
                    ==, 1);
    g_assert_true(vfio_user_hdr_is_reply(&m->hdr));
    g_assert_cmpuint(m->hdr.id, ==, hdr.id);
    g_assert_cmpuint(m->hdr.command, ==, cmd);
    err = m->hdr.flags & VFIO_USER_F_ERROR ? m->hdr.error_reply : 0;
    if (!reply) {
        vfio_user_msg_clear(&local);
    }
    return err;
}

static int xfer(Server *s, uint16_t cmd, const void *payload, size_t len,
                VFIOUserMsg *reply)
{
    return xfer_fds(s, cmd, payload, len, NULL, 0, reply);
}

static void negotiate(Server *s)
{
    VFIOUserVersion v = { .major = 0, .minor = 1 };
    VFIOUserMsg m;

    g_assert_cmpint(xfer(s, VFIO_USER_VERSION, &v, sizeof(v), &m), ==, 0);
    g_assert_cmpuint(m.len, >, sizeof(v));
    g_assert_nonnull(strstr((char *)m.payload + sizeof(v),
                            "\"max_data_xfer_size\""));
    g_assert_cmpuint(m.payload[m.len - 1], ==, 0);
    vfio_user_msg_clear(&m);
}

/* DEVICE_FEATURE with @flags and @data; the GET reply's data to @out. */
static int feature(Server *s, uint32_t flags, const void *data, size_t len,
                   void *out, size_t out_len)
{
    g_autofree VFIOUserDeviceFeature *f = g_malloc0(sizeof(*f) + len +
                                                    out_len);
    VFIOUserMsg m;
    int err;

    f->argsz = sizeof(*f) + MAX(len, out_len);
    f->flags = flags;
    if (len) {
        memcpy(f->data, data, len);
    }
    err = xfer(s, VFIO_USER_DEVICE_FEATURE, f, sizeof(*f) + len, &m);
    if (!err && out) {
        g_assert_cmpuint(m.len, ==, sizeof(*f) + out_len);
        memcpy(out, m.payload + sizeof(*f), out_len);
    }
    vfio_user_msg_clear(&m);
    return err;
}

static int set_state(Server *s, uint32_t state)
{
    VFIOUserFeatureMigState st = { .device_state = state, .data_fd = -1 };

    return feature(s, VFIO_DEVICE_FEATURE_SET |
                   VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &st, sizeof(st),
                   NULL, 0);
}

static uint32_t get_state(Server *s)
{
    VFIOUserFeatureMigState st;

    g_assert_cmpint(feature(s, VFIO_DEVICE_FEATURE_GET |
                            VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, NULL, 0,
                            &st, sizeof(st)), ==, 0);
    g_assert_cmpint(st.data_fd, ==, -1);
    return st.device_state;
}

static void test_negotiate_regions(void)
{
    VFIOUserDeviceInfo info = { .argsz = sizeof(info) };
    VFIOUserRegionInfo ri = { .argsz = sizeof(ri),
                              .index = VFIO_PCI_BAR0_REGION_INDEX };
    /*
     * Structures ending in a flexible array go in byte buffers: clang
     * refuses them inside other structures.
     */
    uint8_t wrbuf[sizeof(VFIOUserRegionRW) + 8];
    VFIOUserRegionRW *wr = (VFIOUserRegionRW *)wrbuf;
    VFIOUserRegionRW rd = { .offset = 8192, .region = 0, .count = 8 };
    VFIOUserRegionRW bad = { .offset = UINT64_MAX - 2, .region = 0,
                             .count = 8 };
    Server s;
    VFIOUserMsg m;

    *wr = (VFIOUserRegionRW) { .offset = 8192,
                               .region = VFIO_PCI_BAR0_REGION_INDEX,
                               .count = 8 };
    memcpy(wr->data, "abcdefg", 8);
    server_start(&s, "");
    /* Nothing before VERSION. */
    g_assert_cmpint(xfer(&s, VFIO_USER_DEVICE_GET_INFO, &info, sizeof(info),
                         NULL), ==, EINVAL);
    negotiate(&s);
    g_assert_cmpint(xfer(&s, VFIO_USER_DEVICE_GET_INFO, &info, sizeof(info),
                         &m), ==, 0);
    g_assert_cmpuint(((VFIOUserDeviceInfo *)m.payload)->num_regions, ==,
                     VFIO_PCI_NUM_REGIONS);
    vfio_user_msg_clear(&m);
    g_assert_cmpint(xfer(&s, VFIO_USER_DEVICE_GET_REGION_INFO, &ri,
                         sizeof(ri), &m), ==, 0);
    g_assert_cmpuint(((VFIOUserRegionInfo *)m.payload)->size, ==, MiB);
    vfio_user_msg_clear(&m);

    g_assert_cmpint(xfer(&s, VFIO_USER_REGION_WRITE, wrbuf, sizeof(wrbuf),
                         NULL), ==, 0);
    g_assert_cmpint(xfer(&s, VFIO_USER_REGION_READ, &rd, sizeof(rd), &m),
                    ==, 0);
    g_assert_cmpuint(m.len, ==, sizeof(rd) + 8);
    g_assert_cmpmem(m.payload + sizeof(rd), 8, "abcdefg", 8);
    vfio_user_msg_clear(&m);
    /* An offset that would wrap around is refused, not wrapped. */
    g_assert_cmpint(xfer(&s, VFIO_USER_REGION_READ, &bad, sizeof(bad), NULL),
                    ==, EINVAL);
    /* A write whose data is shorter than its count. */
    wr->count = 64;
    g_assert_cmpint(xfer(&s, VFIO_USER_REGION_WRITE, wrbuf, sizeof(wrbuf),
                         NULL), ==, EINVAL);
    server_stop(&s);
}

static void test_state_machine(void)
{
    VFIOUserFeatureMigration mig;
    VFIOUserMigData rd = { .argsz = sizeof(rd) + 64, .size = 64 };
    Server s;

    server_start(&s, "");
    negotiate(&s);
    g_assert_cmpint(feature(&s, VFIO_DEVICE_FEATURE_GET |
                            VFIO_DEVICE_FEATURE_MIGRATION, NULL, 0,
                            &mig, sizeof(mig)), ==, 0);
    g_assert_cmphex(mig.flags, ==, VFIO_MIGRATION_STOP_COPY |
                    VFIO_MIGRATION_P2P | VFIO_MIGRATION_PRE_COPY);
    g_assert_cmpuint(get_state(&s), ==, VFIO_DEVICE_STATE_RUNNING);

    /* No data outside the saving states. */
    g_assert_cmpint(xfer(&s, VFIO_USER_MIG_DATA_READ, &rd, sizeof(rd), NULL),
                    ==, EINVAL);
    /* ERROR and unknown states are never targets. */
    g_assert_cmpint(set_state(&s, VFIO_DEVICE_STATE_ERROR), ==, EINVAL);
    g_assert_cmpint(set_state(&s, 8), ==, EINVAL);

    /* A combined arc walks the steps: RUNNING -> STOP_COPY. */
    g_assert_cmpint(set_state(&s, VFIO_DEVICE_STATE_STOP_COPY), ==, 0);
    g_assert_cmpuint(get_state(&s), ==, VFIO_DEVICE_STATE_STOP_COPY);
    /* STOP_COPY cannot go to PRE_COPY. */
    g_assert_cmpint(set_state(&s, VFIO_DEVICE_STATE_PRE_COPY), ==, EINVAL);
    g_assert_cmpuint(get_state(&s), ==, VFIO_DEVICE_STATE_STOP_COPY);
    g_assert_cmpint(set_state(&s, VFIO_DEVICE_STATE_RESUMING), ==, 0);
    /* Nor RESUMING; and an empty stream cannot be completed. */
    g_assert_cmpint(set_state(&s, VFIO_DEVICE_STATE_PRE_COPY_P2P), ==,
                    EINVAL);
    g_assert_cmpint(set_state(&s, VFIO_DEVICE_STATE_STOP), ==, EINVAL);
    g_assert_cmpuint(get_state(&s), ==, VFIO_DEVICE_STATE_RESUMING);
    server_stop(&s);

    /* Without P2P, the P2P states are not targets and steps skip them. */
    server_start(&s, "--no-p2p");
    negotiate(&s);
    g_assert_cmpint(set_state(&s, VFIO_DEVICE_STATE_RUNNING_P2P), ==,
                    EINVAL);
    g_assert_cmpint(set_state(&s, VFIO_DEVICE_STATE_PRE_COPY), ==, 0);
    g_assert_cmpint(set_state(&s, VFIO_DEVICE_STATE_STOP_COPY), ==, 0);
    g_assert_cmpint(set_state(&s, VFIO_DEVICE_STATE_RUNNING), ==, 0);
    server_stop(&s);
}

static void test_fail_transition(void)
{
    g_autofree char *r1 = NULL, *r2 = NULL, *r3 = NULL;
    Server s;

    server_start(&s, "");
    negotiate(&s);
    r1 = ctl(&s, "fail-transition STOP_COPY");
    g_assert_cmpstr(r1, ==, "ok");
    g_assert_cmpint(set_state(&s, VFIO_DEVICE_STATE_PRE_COPY), ==, 0);
    g_assert_cmpint(set_state(&s, VFIO_DEVICE_STATE_STOP_COPY), ==, EIO);
    /* The failed arc left the device where it was; it runs on. */
    g_assert_cmpuint(get_state(&s), ==, VFIO_DEVICE_STATE_PRE_COPY);
    g_assert_cmpint(set_state(&s, VFIO_DEVICE_STATE_RUNNING), ==, 0);

    /* Only the arc named fails: FROM:TO. */
    r3 = ctl(&s, "fail-transition RESUMING:STOP");
    g_assert_cmpstr(r3, ==, "ok");
    g_assert_cmpint(set_state(&s, VFIO_DEVICE_STATE_STOP), ==, 0);
    g_assert_cmpint(set_state(&s, VFIO_DEVICE_STATE_RESUMING), ==, 0);
    g_assert_cmpint(set_state(&s, VFIO_DEVICE_STATE_STOP), ==, EIO);
    g_assert_cmpuint(get_state(&s), ==, VFIO_DEVICE_STATE_RESUMING);
    g_assert_cmpint(xfer(&s, VFIO_USER_DEVICE_RESET, NULL, 0, NULL), ==, 0);

    /* A failure into ERROR needs a reset. */
    r2 = ctl(&s, "fail-transition any error");
    g_assert_cmpstr(r2, ==, "ok");
    g_assert_cmpint(set_state(&s, VFIO_DEVICE_STATE_STOP), ==, EIO);
    g_assert_cmpuint(get_state(&s), ==, VFIO_DEVICE_STATE_ERROR);
    g_assert_cmpint(set_state(&s, VFIO_DEVICE_STATE_RUNNING), ==, EINVAL);
    g_assert_cmpint(xfer(&s, VFIO_USER_DEVICE_RESET, NULL, 0, NULL), ==, 0);
    g_assert_cmpuint(get_state(&s), ==, VFIO_DEVICE_STATE_RUNNING);
    server_stop(&s);
}

/* Guest RAM: a memfd mapped here and handed to the server by DMA_MAP. */
typedef struct Ram {
    int fd;
    uint8_t *host;
} Ram;

static void ram_map(Server *s, Ram *ram)
{
    VFIOUserDMAMap map = {
        .argsz = sizeof(map),
        .flags = VFIO_USER_F_DMA_REGION_READ | VFIO_USER_F_DMA_REGION_WRITE,
        .addr = 0, .size = RAM_SIZE,
    };

    ram->fd = memfd_create("guest-ram", MFD_CLOEXEC);
    g_assert_cmpint(ftruncate(ram->fd, RAM_SIZE), ==, 0);
    ram->host = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
                     ram->fd, 0);
    g_assert_true(ram->host != MAP_FAILED);
    g_assert_cmpint(xfer_fds(s, VFIO_USER_DMA_MAP, &map, sizeof(map),
                             &ram->fd, 1, NULL), ==, 0);
}

static void ram_free(Ram *ram)
{
    munmap(ram->host, RAM_SIZE);
    close(ram->fd);
}

static void logging_start(Server *s)
{
    uint8_t buf[sizeof(VFIOUserDMALoggingControl) +
                sizeof(VFIOUserDMALoggingRange)];
    VFIOUserDMALoggingControl *c = (VFIOUserDMALoggingControl *)buf;

    *c = (VFIOUserDMALoggingControl) { .page_size = PAGE, .num_ranges = 1 };
    c->ranges[0] = (VFIOUserDMALoggingRange) { 0, RAM_SIZE };
    g_assert_cmpint(feature(s, VFIO_DEVICE_FEATURE_SET |
                            VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
                            buf, sizeof(buf), NULL, 0), ==, 0);
}

/* Read and clear the DMA log over all of RAM at @page_size. */
static uint64_t *logging_report(Server *s, uint64_t page_size)
{
    uint64_t nbits = RAM_SIZE / page_size;
    size_t bytes = DIV_ROUND_UP(nbits, 64) * 8;
    VFIOUserDMALoggingReport rep = { 0, RAM_SIZE, page_size };
    g_autofree uint8_t *out = g_malloc(sizeof(rep) + bytes);
    uint64_t *bitmap = g_malloc(bytes);

    g_assert_cmpint(feature(s, VFIO_DEVICE_FEATURE_GET |
                            VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
                            &rep, sizeof(rep), out, sizeof(rep) + bytes),
                    ==, 0);
    memcpy(bitmap, out + sizeof(rep), bytes);
    return bitmap;
}

static bool bit_set(const uint64_t *bm, uint64_t i)
{
    return bm[i / 64] & (1ULL << (i % 64));
}

/* Wait until the device has done @n more DMA writes. */
static void wait_dma_writes(Server *s, uint64_t n)
{
    vu_server_wait_u64(s->vu, "dma-writes",
                       vu_server_info_u64(s->vu, "dma-writes") + n, WAIT_S);
}

static void test_dirty_log_exact(void)
{
    g_autofree char *extra = g_strdup_printf("--dma-iova %d --dma-pages %d "
                                             "--tick-us 200", DMA_IOVA,
                                             DMA_PAGES);
    g_autofree uint8_t *snap = g_malloc(RAM_SIZE);
    g_autofree uint64_t *bm = NULL, *bm2 = NULL;
    g_autofree char *check = NULL;
    unsigned page, written = 0;
    Server s;
    Ram ram;

    server_start(&s, extra);
    negotiate(&s);
    g_assert_cmpint(set_state(&s, VFIO_DEVICE_STATE_STOP), ==, 0);
    ram_map(&s, &ram);
    /* Not logging yet: a report is an error. */
    {
        VFIOUserDMALoggingReport rep = { 0, RAM_SIZE, PAGE };
        g_assert_cmpint(feature(&s, VFIO_DEVICE_FEATURE_GET |
                                VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
                                &rep, sizeof(rep), NULL, 0), ==, EINVAL);
    }
    logging_start(&s);
    memcpy(snap, ram.host, RAM_SIZE);
    g_assert_cmpint(set_state(&s, VFIO_DEVICE_STATE_RUNNING), ==, 0);
    wait_dma_writes(&s, DMA_PAGES / 2);
    g_assert_cmpint(set_state(&s, VFIO_DEVICE_STATE_STOP), ==, 0);
    bm = logging_report(&s, PAGE);
    /* Reported pages are exactly the pages whose contents changed. */
    for (page = 0; page < RAM_SIZE / PAGE; page++) {
        bool changed = memcmp(snap + page * PAGE, ram.host + page * PAGE,
                              PAGE) != 0;

        g_assert_cmpint(changed, ==, bit_set(bm, page));
        written += changed;
    }
    g_assert_cmpuint(written, >=, DMA_PAGES / 2);
    /* The report cleared the log. */
    bm2 = logging_report(&s, PAGE);
    for (page = 0; page < RAM_SIZE / PAGE; page++) {
        g_assert_false(bit_set(bm2, page));
    }
    g_assert_cmpint(feature(&s, VFIO_DEVICE_FEATURE_SET |
                            VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP, NULL, 0,
                            NULL, 0), ==, 0);
    check = ctl(&s, "dma-check");
    g_assert_true(g_str_has_prefix(check, "ok:"));
    server_stop(&s);
    ram_free(&ram);
}

/*
 * Move what the source has now (at most @max bytes, as a device that
 * keeps running never runs dry) to the destination; returns the bytes.
 */
static size_t pump(Server *src, Server *dst, size_t max)
{
    size_t total = 0;

    while (total < max) {
        VFIOUserMigData rd = { .argsz = sizeof(rd) + 65536, .size = 65536 };
        VFIOUserMsg m;
        VFIOUserMigData *got;

        g_assert_cmpint(xfer(src, VFIO_USER_MIG_DATA_READ, &rd, sizeof(rd),
                             &m), ==, 0);
        got = (VFIOUserMigData *)m.payload;
        g_assert_cmpuint(m.len, ==, sizeof(*got) + got->size);
        if (!got->size) {
            vfio_user_msg_clear(&m);
            return total;
        }
        got->argsz = sizeof(*got) + got->size;
        g_assert_cmpint(xfer(dst, VFIO_USER_MIG_DATA_WRITE, got, m.len,
                             NULL), ==, 0);
        total += got->size;
        vfio_user_msg_clear(&m);
    }
    return total;
}

static void copy_dirty(Server *src, Ram *from, Ram *to)
{
    g_autofree uint64_t *bm = logging_report(src, PAGE);
    unsigned page;

    for (page = 0; page < RAM_SIZE / PAGE; page++) {
        if (bit_set(bm, page)) {
            memcpy(to->host + page * PAGE, from->host + page * PAGE, PAGE);
        }
    }
}

static VFIOUserFeaturePrecopyInfo precopy_info(Server *s)
{
    VFIOUserFeaturePrecopyInfo info;

    g_assert_cmpint(feature(s, VFIO_DEVICE_FEATURE_GET |
                            VFIO_USER_DEVICE_FEATURE_PRECOPY_INFO, NULL, 0,
                            &info, sizeof(info)), ==, 0);
    return info;
}

/*
 * The whole dance a VMM does, with guest RAM "migrated" by copying all of
 * it once and then the pages the dirty log reports.  @drop_last_dirty
 * skips the final copy, as a VMM that ignored the device's dirty log
 * would: the destination device must then see stale DMA pages.
 */
static void migrate(bool drop_last_dirty)
{
    g_autofree char *extra = g_strdup_printf("--dma-iova %d --dma-pages %d "
                                             "--tick-us 200 "
                                             "--dirty-per-tick 4",
                                             DMA_IOVA, DMA_PAGES);
    g_autofree char *saved = NULL, *loaded = NULL, *src_hash = NULL;
    g_autofree char *dst_hash = NULL, *check = NULL;
    VFIOUserFeaturePrecopyInfo info;
    VFIOUserFeatureMigDataSize dsz;
    Server src, dst;
    Ram sram, dram;
    int round;

    server_start(&src, extra);
    server_start(&dst, "");
    negotiate(&src);
    negotiate(&dst);
    ram_map(&src, &sram);
    ram_map(&dst, &dram);

    logging_start(&src);
    wait_dma_writes(&src, 8);
    memcpy(dram.host, sram.host, RAM_SIZE);
    g_assert_cmpint(set_state(&src, VFIO_DEVICE_STATE_PRE_COPY), ==, 0);
    g_assert_cmpint(set_state(&dst, VFIO_DEVICE_STATE_RESUMING), ==, 0);

    info = precopy_info(&src);
    g_assert_cmpuint(info.initial_bytes, >=, MiB);
    for (round = 0; round < 3; round++) {
        g_assert_cmpuint(pump(&src, &dst, 4 * MiB), >, 0);
        info = precopy_info(&src);
        g_assert_cmpuint(info.initial_bytes, ==, 0);
        copy_dirty(&src, &sram, &dram);
        wait_dma_writes(&src, 4);
    }
    /* It kept running: more state and more DMA since the first pass. */
    info = precopy_info(&src);
    g_assert_cmpuint(info.dirty_bytes, >, 0);
    g_assert_cmpint(feature(&src, VFIO_DEVICE_FEATURE_GET |
                            VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, NULL, 0,
                            &dsz, sizeof(dsz)), ==, 0);
    g_assert_cmpuint(dsz.stop_copy_length, <, MiB);

    g_assert_cmpint(set_state(&src, VFIO_DEVICE_STATE_STOP_COPY), ==, 0);
    if (!drop_last_dirty) {
        copy_dirty(&src, &sram, &dram);
    }
    pump(&src, &dst, SIZE_MAX);
    g_assert_cmpint(set_state(&src, VFIO_DEVICE_STATE_STOP), ==, 0);
    g_assert_cmpint(set_state(&dst, VFIO_DEVICE_STATE_STOP), ==, 0);

    saved = ctl_info(&src, "saved-hash");
    src_hash = ctl_info(&src, "hash");
    loaded = ctl_info(&dst, "loaded-hash");
    dst_hash = ctl_info(&dst, "hash");
    g_assert_cmpstr(saved, ==, src_hash);
    g_assert_cmpstr(loaded, ==, saved);
    g_assert_cmpstr(dst_hash, ==, src_hash);

    g_assert_cmpint(set_state(&dst, VFIO_DEVICE_STATE_RUNNING), ==, 0);
    check = ctl_info(&dst, "resume-check");
    if (drop_last_dirty) {
        g_assert_true(g_str_has_prefix(check, "bad:"));
    } else {
        g_assert_true(g_str_has_prefix(check, "ok:"));
        g_assert_cmpstr(check, !=, "ok:0");
    }
    server_stop(&src);
    server_stop(&dst);
    ram_free(&sram);
    ram_free(&dram);
}

static void test_migrate(void)
{
    migrate(false);
}

static void test_migrate_lost_dirty_pages(void)
{
    migrate(true);
}

static void test_bad_stream(void)
{
    /* A stream head record (tag, argument, 16-byte body) of version 9. */
    uint8_t junk[sizeof(VFIOUserMigData) + 24] = { 0 };
    VFIOUserMigData *d = (VFIOUserMigData *)junk;
    uint32_t head[3] = { 0x53555651, 0, 9 };
    Server s;

    d->argsz = sizeof(junk);
    d->size = 24;
    memcpy(d->data, head, sizeof(head));

    server_start(&s, "");
    negotiate(&s);
    g_assert_cmpint(set_state(&s, VFIO_DEVICE_STATE_RESUMING), ==, 0);
    /* A stream head for another device version. */
    g_assert_cmpint(xfer(&s, VFIO_USER_MIG_DATA_WRITE, junk, sizeof(junk),
                         NULL), ==, EINVAL);
    /* Size beyond the data that came. */
    d->size = 4096;
    g_assert_cmpint(xfer(&s, VFIO_USER_MIG_DATA_WRITE, junk, sizeof(junk),
                         NULL), ==, EINVAL);
    g_assert_cmpint(set_state(&s, VFIO_DEVICE_STATE_STOP), ==, EINVAL);
    server_stop(&s);
}

static void test_hostile_client(void)
{
    /* DMA_LOGGING_START claiming 4 G ranges and carrying none. */
    uint8_t start[sizeof(VFIOUserDeviceFeature) +
                  sizeof(VFIOUserDMALoggingControl)];
    VFIOUserDeviceFeature *f = (VFIOUserDeviceFeature *)start;
    VFIOUserDMALoggingControl lc = { PAGE, UINT32_MAX, 0 };
    VFIOUserDMAMap wrap = { sizeof(wrap), 0, 0, UINT64_MAX - 4095, 8192 };
    VFIOUserHdr huge = { .id = 1, .command = VFIO_USER_REGION_WRITE,
                         .size = UINT32_MAX };
    g_autofree char *state = NULL, *check = NULL;
    Server s;
    VFIOUserMsg m;

    f->argsz = sizeof(start);
    f->flags = VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_START;
    memcpy(f->data, &lc, sizeof(lc));
    server_start(&s, "");
    negotiate(&s);
    g_assert_cmpint(xfer(&s, VFIO_USER_DEVICE_FEATURE, start, sizeof(start),
                         NULL), ==, EINVAL);
    g_assert_cmpint(xfer(&s, VFIO_USER_DMA_MAP, &wrap, sizeof(wrap), NULL),
                    ==, EINVAL);
    g_assert_cmpint(xfer(&s, VFIO_USER_DMA_MAP, &wrap, 8, NULL), ==, EINVAL);
    g_assert_cmpint(xfer(&s, 99, NULL, 0, NULL), ==, ENOTSUP);

    /*
     * The DMA bookkeeping is device state a client can write (BAR0): a
     * window of 2^32-1 pages and a next page past it must not take the
     * running device outside its tables.
     */
    {
        uint8_t buf[sizeof(VFIOUserRegionRW) + 8];
        VFIOUserRegionRW *rw = (VFIOUserRegionRW *)buf;
        uint32_t huge_window[2] = { UINT32_MAX, UINT32_MAX - 1 };

        *rw = (VFIOUserRegionRW) { .offset = 16, .region = 0, .count = 8 };
        memcpy(rw->data, huge_window, sizeof(huge_window));
        g_assert_cmpint(xfer(&s, VFIO_USER_REGION_WRITE, buf, sizeof(buf),
                             NULL), ==, 0);
        check = ctl(&s, "dma-check");
        g_assert_cmpstr(check, ==, "ok:0");
    }

    /* A header claiming 4 GiB: the server drops the connection... */
    g_assert_cmpint(write(s.sock, &huge, sizeof(huge)), ==, sizeof(huge));
    g_assert_cmpint(vfio_user_recv(s.sock, &m, 64, 0, &error_abort), ==, 0);
    close(s.sock);
    /* ... and serves the next client. */
    s.sock = vu_connect_unix(s.vu->sock_path);
    negotiate(&s);
    state = ctl_info(&s, "state");
    g_assert_cmpstr(state, ==, "RUNNING");
    server_stop(&s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vfio-user-server/negotiate-regions",
                    test_negotiate_regions);
    g_test_add_func("/vfio-user-server/state-machine", test_state_machine);
    g_test_add_func("/vfio-user-server/fail-transition",
                    test_fail_transition);
    g_test_add_func("/vfio-user-server/dirty-log-exact",
                    test_dirty_log_exact);
    g_test_add_func("/vfio-user-server/migrate", test_migrate);
    g_test_add_func("/vfio-user-server/migrate-lost-dirty-pages",
                    test_migrate_lost_dirty_pages);
    g_test_add_func("/vfio-user-server/bad-stream", test_bad_stream);
    g_test_add_func("/vfio-user-server/hostile-client", test_hostile_client);
    return g_test_run();
}
