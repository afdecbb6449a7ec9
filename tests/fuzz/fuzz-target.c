/*
 * The destination the migration fuzzer loads into (see fuzz-target.h).
 *
 * The destination is qmig's own (fuzz-qmig.c: the pc machine, its real
 * RAM, CPU, irqchip, UART, qmig-disk, block and dirty-bitmap sections);
 * each input's first byte selects the migration capabilities the
 * destination runs with (FUZZ_CAP_*), the rest is the stream.
 *
 * Devices.  On top of the machine's, the harness registers two devices
 * of its own, whose descriptions use every shape the loader
 * handles: versioned fields (and minimum versions), subsections with
 * needed() and nested subsections, subsections inside a nested struct,
 * variable arrays counted by u8/u16/i32/u32 fields, struct arrays,
 * UINT32_EQUAL, buffers, unused bytes, field_exists tests, and post_load
 * hooks that reject inconsistent state.  The device structs are heap
 * objects, so ASan's redzones catch a write past any of them.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/mman.h>
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "io/channel-socket.h"
#include "migration/qemu-file.h"
#include "migration/register.h"
#include "migration/vmstate.h"
#include "migration/ram.h"
#include "migration/savevm.h"
#include "system/runstate.h"
#include "block/block-backend.h"
#include "block/dirty-bitmap.h"
#include "../../migration/migration.h"
#include "../../migration/multifd.h"
#include "../../migration/postcopy-ram.h"
#include "../../migration/return-path.h"
#include "fuzz-common.h"
#include "fuzz-target.h"

#define FUZZ_UART_FIFO      16
#define FUZZ_DEV_MAGIC      0x51464d5a      /* "QFMZ" */
#define FUZZ_DEV_REGS       8
#define FUZZ_DEV_QUEUES     4
#define FUZZ_DEV_FILTERS    4
#define FUZZ_QUEUE_LEN      256
#define FUZZ_QUEUE_EXT      0x1             /* FuzzQueue.flags */
#define FUZZ_MSIX_VECTORS   64

/* ---- A 16550-like UART: flat registers, a FIFO, two subsections ---- */

typedef struct FuzzUart {
    uint16_t divider;
    uint8_t ier, iir, lcr, mcr, lsr, msr, scr, fcr;
    bool thr_ipending;
    uint32_t rx_head;
    uint32_t rx_count;
    uint8_t rx[FUZZ_UART_FIFO];
    uint64_t timeout_ns;            /* "fuzz-uart/timeout" */
    uint8_t tx_count;               /* "fuzz-uart/tx" */
    uint8_t tx[FUZZ_UART_FIFO];
    uint8_t last_rx;                /* derived in post_load */
} FuzzUart;

static bool fuzz_uart_timeout_needed(void *opaque)
{
    return ((FuzzUart *)opaque)->timeout_ns != 0;
}

static bool fuzz_uart_tx_needed(void *opaque)
{
    return ((FuzzUart *)opaque)->tx_count != 0;
}

static const VMStateDescription fuzz_uart_timeout_vmsd = {
    .name = "fuzz-uart/timeout",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = fuzz_uart_timeout_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(timeout_ns, FuzzUart),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription fuzz_uart_tx_vmsd = {
    .name = "fuzz-uart/tx",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = fuzz_uart_tx_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT8(tx_count, FuzzUart),
        VMSTATE_VARRAY_UINT8(tx, FuzzUart, tx_count, 0, vmstate_info_uint8,
                             uint8_t),
        VMSTATE_END_OF_LIST()
    },
};

/* Derived state is recomputed by post_load; forget the old value. */
static bool fuzz_uart_pre_load(void *opaque, Error **errp)
{
    ((FuzzUart *)opaque)->last_rx = 0;
    return true;
}

/*
 * The check a real device must make before it trusts indices from the
 * stream; then it uses them, so a missing check would show up as an
 * out-of-bounds read of rx[].
 */
static bool fuzz_uart_post_load(void *opaque, int version_id, Error **errp)
{
    FuzzUart *s = opaque;

    if (s->rx_head >= FUZZ_UART_FIFO || s->rx_count > FUZZ_UART_FIFO) {
        error_setg(errp, "receive FIFO head %u / count %u out of range",
                   s->rx_head, s->rx_count);
        return false;
    }
    if (s->rx_count) {
        s->last_rx = s->rx[(s->rx_head + s->rx_count - 1) % FUZZ_UART_FIFO];
    }
    return true;
}

static const VMStateDescription fuzz_uart_vmsd = {
    .name = "fuzz-uart",
    .version_id = 3,
    .minimum_version_id = 2,
    .pre_load = fuzz_uart_pre_load,
    .post_load = fuzz_uart_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT16(divider, FuzzUart),
        VMSTATE_UINT8(ier, FuzzUart),
        VMSTATE_UINT8(iir, FuzzUart),
        VMSTATE_UINT8(lcr, FuzzUart),
        VMSTATE_UINT8(mcr, FuzzUart),
        VMSTATE_UINT8(lsr, FuzzUart),
        VMSTATE_UINT8(msr, FuzzUart),
        VMSTATE_UINT8_V(scr, FuzzUart, 3),
        VMSTATE_UINT8(fcr, FuzzUart),
        VMSTATE_BOOL(thr_ipending, FuzzUart),
        VMSTATE_UINT32(rx_head, FuzzUart),
        VMSTATE_UINT32(rx_count, FuzzUart),
        VMSTATE_UINT8_ARRAY(rx, FuzzUart, FUZZ_UART_FIFO),
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * const[]) {
        &fuzz_uart_timeout_vmsd,
        &fuzz_uart_tx_vmsd,
        NULL
    },
};

/* ---- A queue-based device: structs, varrays of every count type ---- */

typedef struct FuzzQueue {
    uint64_t base;
    uint16_t head;
    uint16_t tail;
    uint32_t flags;
    uint32_t ext_size;              /* "fuzz-queue/ext" */
} FuzzQueue;

typedef struct FuzzDev {
    uint32_t magic;
    int32_t nr_regs;
    uint32_t regs[FUZZ_DEV_REGS];
    uint32_t nr_queues;
    FuzzQueue queues[FUZZ_DEV_QUEUES];
    FuzzQueue ctrl;
    FuzzQueue fixed[2];
    uint8_t mac[6];
    int8_t i8;
    int16_t i16;
    int64_t i64;
    bool link_up;
    uint32_t legacy;                /* version 1 only */
    uint16_t nr_filters;            /* version 2 */
    uint64_t filters[FUZZ_DEV_FILTERS];
    bool msix_enabled;              /* "fuzz-dev/msix" */
    uint16_t msix_vectors;
    uint32_t msix_pba[2];
    uint8_t msix_mode;              /* msix version 2 */
    uint64_t msix_mask;             /* "fuzz-dev/msix/mask" */
    uint64_t ring_sum;              /* derived in post_load */
} FuzzDev;

static bool fuzz_queue_ext_needed(void *opaque)
{
    return ((FuzzQueue *)opaque)->flags & FUZZ_QUEUE_EXT;
}

static const VMStateDescription fuzz_queue_ext_vmsd = {
    .name = "fuzz-queue/ext",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = fuzz_queue_ext_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(ext_size, FuzzQueue),
        VMSTATE_END_OF_LIST()
    },
};

static bool fuzz_queue_post_load(void *opaque, int version_id, Error **errp)
{
    FuzzQueue *q = opaque;

    if (q->head >= FUZZ_QUEUE_LEN || q->tail >= FUZZ_QUEUE_LEN) {
        error_setg(errp, "queue index head %u / tail %u out of range",
                   q->head, q->tail);
        return false;
    }
    return true;
}

static const VMStateDescription fuzz_queue_vmsd = {
    .name = "fuzz-queue",
    .version_id = 1,
    .minimum_version_id = 1,
    .post_load = fuzz_queue_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(base, FuzzQueue),
        VMSTATE_UINT16(head, FuzzQueue),
        VMSTATE_UINT16(tail, FuzzQueue),
        VMSTATE_UINT32(flags, FuzzQueue),
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * const[]) {
        &fuzz_queue_ext_vmsd,
        NULL
    },
};

static bool fuzz_dev_msix_needed(void *opaque)
{
    return ((FuzzDev *)opaque)->msix_enabled;
}

static bool fuzz_dev_mask_needed(void *opaque)
{
    return ((FuzzDev *)opaque)->msix_mask != 0;
}

static const VMStateDescription fuzz_dev_mask_vmsd = {
    .name = "fuzz-dev/msix/mask",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = fuzz_dev_mask_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(msix_mask, FuzzDev),
        VMSTATE_END_OF_LIST()
    },
};

static bool fuzz_dev_msix_post_load(void *opaque, int version_id,
                                    Error **errp)
{
    FuzzDev *d = opaque;

    if (d->msix_vectors > FUZZ_MSIX_VECTORS) {
        error_setg(errp, "%u MSI-X vectors, at most %d", d->msix_vectors,
                   FUZZ_MSIX_VECTORS);
        return false;
    }
    return true;
}

static const VMStateDescription fuzz_dev_msix_vmsd = {
    .name = "fuzz-dev/msix",
    .version_id = 2,
    .minimum_version_id = 1,
    .needed = fuzz_dev_msix_needed,
    .post_load = fuzz_dev_msix_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_BOOL(msix_enabled, FuzzDev),
        VMSTATE_UINT16(msix_vectors, FuzzDev),
        VMSTATE_UINT32_ARRAY(msix_pba, FuzzDev, 2),
        VMSTATE_UINT8_V(msix_mode, FuzzDev, 2),
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * const[]) {
        &fuzz_dev_mask_vmsd,
        NULL
    },
};

static bool fuzz_dev_is_v1(void *opaque, int version_id)
{
    return version_id < 2;
}

/* Uses the loaded counts as a device would: over-reads would show. */
static bool fuzz_dev_post_load(void *opaque, int version_id, Error **errp)
{
    FuzzDev *d = opaque;

    d->ring_sum = 0;
    for (int32_t i = 0; i < d->nr_regs; i++) {
        d->ring_sum += d->regs[i];
    }
    for (uint32_t i = 0; i < d->nr_queues; i++) {
        d->ring_sum += d->queues[i].head + d->queues[i].tail;
    }
    for (uint16_t i = 0; i < d->nr_filters; i++) {
        d->ring_sum ^= d->filters[i];
    }
    return true;
}

static const VMStateDescription fuzz_dev_vmsd = {
    .name = "fuzz-dev",
    .version_id = 2,
    .minimum_version_id = 1,
    .post_load = fuzz_dev_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32_EQUAL(magic, FuzzDev),
        VMSTATE_INT32(nr_regs, FuzzDev),
        VMSTATE_VARRAY_INT32(regs, FuzzDev, nr_regs, 0, vmstate_info_uint32,
                             uint32_t),
        VMSTATE_UINT32(nr_queues, FuzzDev),
        VMSTATE_STRUCT_VARRAY_UINT32(queues, FuzzDev, nr_queues, 0,
                                     fuzz_queue_vmsd, FuzzQueue),
        VMSTATE_STRUCT(ctrl, FuzzDev, 0, fuzz_queue_vmsd, FuzzQueue),
        VMSTATE_STRUCT_ARRAY(fixed, FuzzDev, 2, 0, fuzz_queue_vmsd,
                             FuzzQueue),
        VMSTATE_BUFFER(mac, FuzzDev),
        VMSTATE_UNUSED(4),
        VMSTATE_INT8(i8, FuzzDev),
        VMSTATE_INT16(i16, FuzzDev),
        VMSTATE_INT64(i64, FuzzDev),
        VMSTATE_BOOL(link_up, FuzzDev),
        VMSTATE_UINT32_TEST(legacy, FuzzDev, fuzz_dev_is_v1),
        VMSTATE_UINT16_V(nr_filters, FuzzDev, 2),
        VMSTATE_VARRAY_UINT16(filters, FuzzDev, nr_filters, 2,
                              vmstate_info_uint64, uint64_t),
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * const[]) {
        &fuzz_dev_msix_vmsd,
        NULL
    },
};

/* ---- The destination ---- */

static FuzzUart *fuzz_uarts[2];
static FuzzDev *fuzz_dev;

RAMBlock *fuzz_target_ram(void)
{
    return fuzz_qmig_ram();
}

void fuzz_devices_reset(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(fuzz_uarts); i++) {
        memset(fuzz_uarts[i], 0, sizeof(*fuzz_uarts[i]));
        fuzz_uarts[i]->lsr = 0x60;      /* transmitter empty */
    }
    memset(fuzz_dev, 0, sizeof(*fuzz_dev));
    fuzz_dev->magic = FUZZ_DEV_MAGIC;
}

static void fuzz_uart_set_state(FuzzUart *s, unsigned variant)
{
    s->divider = 12 + variant;
    s->ier = 0x0f;
    s->lcr = 0x03;
    s->mcr = 0x0b;
    s->scr = 0x5a;
    s->rx_head = variant % FUZZ_UART_FIFO;
    s->rx_count = (variant * 5) % (FUZZ_UART_FIFO + 1);
    for (int i = 0; i < FUZZ_UART_FIFO; i++) {
        s->rx[i] = 'a' + i;
    }
    s->timeout_ns = variant ? 4000 * variant : 0;
    s->tx_count = variant ? FUZZ_UART_FIFO / variant : 0;
    memset(s->tx, 'T', sizeof(s->tx));
}

static void fuzz_queue_set_state(FuzzQueue *q, unsigned i, bool ext)
{
    q->base = 0x100000 + i * 0x1000;
    q->head = i;
    q->tail = FUZZ_QUEUE_LEN - 1 - i;
    q->flags = ext ? FUZZ_QUEUE_EXT : 0;
    q->ext_size = 4096;
}

void fuzz_devices_set_state(unsigned variant)
{
    FuzzDev *d = fuzz_dev;
    bool full = variant % 2;

    fuzz_devices_reset();
    fuzz_uart_set_state(fuzz_uarts[0], variant);
    fuzz_uart_set_state(fuzz_uarts[1], variant + 1);
    d->nr_regs = full ? FUZZ_DEV_REGS : 3;
    d->nr_queues = full ? FUZZ_DEV_QUEUES : 1;
    for (unsigned i = 0; i < FUZZ_DEV_REGS; i++) {
        d->regs[i] = 0x1000 + i;
    }
    for (unsigned i = 0; i < FUZZ_DEV_QUEUES; i++) {
        fuzz_queue_set_state(&d->queues[i], i, full || i == 0);
    }
    fuzz_queue_set_state(&d->ctrl, 7, true);
    fuzz_queue_set_state(&d->fixed[0], 8, false);
    fuzz_queue_set_state(&d->fixed[1], 9, full);
    memcpy(d->mac, "\x52\x54\x00\x12\x34\x56", sizeof(d->mac));
    d->i8 = -5;
    d->i16 = -300;
    d->i64 = -1;
    d->link_up = true;
    d->nr_filters = full ? FUZZ_DEV_FILTERS : 1;
    for (unsigned i = 0; i < FUZZ_DEV_FILTERS; i++) {
        d->filters[i] = 0xff00ff00ff00ULL + i;
    }
    d->msix_enabled = true;
    d->msix_vectors = full ? FUZZ_MSIX_VECTORS : 2;
    d->msix_pba[0] = 0x3;
    d->msix_mode = 1;
    d->msix_mask = full ? ~0ULL : 0;
}

void fuzz_target_init(void)
{
    if (fuzz_dev) {
        return;
    }
    fuzz_qmig_init();   /* returns with the BQL held */
    for (size_t i = 0; i < G_N_ELEMENTS(fuzz_uarts); i++) {
        fuzz_uarts[i] = g_new0(FuzzUart, 1);
    }
    fuzz_dev = g_new0(FuzzDev, 1);
    fuzz_devices_reset();
    vmstate_register(0, &fuzz_uart_vmsd, fuzz_uarts[0]);
    vmstate_register(1, &fuzz_uart_vmsd, fuzz_uarts[1]);
    vmstate_register(0, &fuzz_dev_vmsd, fuzz_dev);
    /* The incoming thread loads without the BQL. */
    bql_unlock();
}

/* A destination has no bitmap a stream could collide with. */
static void fuzz_bitmaps_reset(void)
{
    BlockBackend *blk = blk_by_name(FUZZ_DISK_ID);
    g_autoptr(GPtrArray) list = bdrv_dirty_bitmap_list(blk);

    for (guint i = 0; i < list->len; i++) {
        BdrvDirtyBitmap *bm = g_ptr_array_index(list, i);

        bdrv_dirty_bitmap_set_busy(bm, false);
        bdrv_release_dirty_bitmap(bm);
    }
}

/* What the destination looks like before a stream arrives. */
static void fuzz_destination_reset(unsigned caps)
{
    bql_lock();
    if (runstate_is_running()) {
        vm_stop(RUN_STATE_PAUSED);
    }
    runstate_set(RUN_STATE_INMIGRATE);
    runstate_set_autostart(false);
    fuzz_qmig_set_caps(caps);
    fuzz_devices_reset();
    fuzz_qmig_accel_reset();
    fuzz_bitmaps_reset();
    if (migrate_multifd()) {
        /*
         * No channel will connect (fuzz-multifd feeds channels): a
         * MULTIFD_FLUSH must fail, not wait for them.
         */
        multifd_recv_setup();
        multifd_recv_terminate();
    }
    bql_unlock();
}

/* What incoming_finish_bh() does after the incoming thread ended. */
static void fuzz_destination_finish(MigrationIncomingState *mis, bool ok)
{
    bql_lock();
    multifd_recv_shutdown();
    postcopy_incoming_cleanup();
    migration_incoming_rp_shut(mis, !ok);
    mis->from_src_file = NULL;
    bql_unlock();
}

bool fuzz_load_stream(const uint8_t *data, size_t size, Error **errp)
{
    return fuzz_load_stream_caps(size ? data[0] : 0, size ? data + 1 : data,
                                 size ? size - 1 : 0, errp);
}

bool fuzz_load_stream_caps(unsigned caps, const uint8_t *stream,
                           size_t len, Error **errp)
{
    QIOChannel *ioc;
    bool ok;
    int sv[2];

    /*
     * A socket, as the destination's: the return path writes back on
     * the same channel (a buffer channel would overwrite the stream).
     */
    fuzz_socketpair_feed(sv, stream, len);
    ioc = qio_channel_socket_new_fd(sv[0], &error_abort);
    ok = fuzz_load_channel(caps, ioc, errp);
    qio_channel_unref(ioc);
    close(sv[1]);
    return ok;
}

bool fuzz_load_channel(unsigned caps, QIOChannel *ioc, Error **errp)
{
    MigrationIncomingState *mis = migration_incoming_get_current();
    QEMUFile *f;
    bool ok;

    fuzz_destination_reset(caps);
    f = qemu_file_new_input(ioc);
    mis->from_src_file = f;
    ok = qemu_loadvm_state(f, errp);
    fuzz_destination_finish(mis, ok);
    qemu_fclose(f);
    return ok;
}
