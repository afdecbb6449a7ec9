/*
 * qmig-disk: a port-I/O disk (register layout in
 * include/hw/block/qmig-disk.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "hw/ioport.h"
#include "hw/block/qmig-disk.h"
#include "migration/register.h"
#include "migration/vmstate.h"
#include "system/ramblock.h"
#include "trace.h"

/* Bounce buffer size: the copy goes through it a piece at a time. */
#define QMIG_DISK_CHUNK (64 * 1024)

typedef struct QmigDisk {
    BlockBackend *blk;          /* fixed at creation */
    char *name;                 /* fixed at creation */
    /* Registers, protected by the BQL. */
    uint32_t lba;
    uint32_t count;
    uint32_t addr;
    uint32_t status;
} QmigDisk;

/* Devices created so far: their vmstate instance ids. */
static uint32_t qmig_disk_instances;

static uint32_t qmig_disk_size_sectors(QmigDisk *d)
{
    uint64_t sectors = blk_getlength(d->blk) / QMIG_DISK_SECTOR_SIZE;

    return MIN(sectors, (uint64_t)UINT32_MAX);
}

/* One piece of a transfer: @len bytes at disk @offset and RAM @gpa. */
static bool qmig_disk_copy(QmigDisk *d, bool to_disk, uint64_t offset,
                           uint64_t gpa, uint8_t *buf, uint64_t len)
{
    Error *err = NULL;
    int64_t n;

    if (to_disk) {
        if (!guest_mem_read(gpa, buf, len, &err)) {
            goto fail;
        }
        n = blk_pwrite(d->blk, offset, buf, len);
    } else {
        n = blk_pread(d->blk, offset, buf, len);
        if (n == (int64_t)len && !guest_mem_write(gpa, buf, len, &err)) {
            goto fail;
        }
    }
    if (n != (int64_t)len) {
        trace_qmig_disk_io_error(d->name, offset, len,
                                 n < 0 ? strerror(-n) : "short transfer");
        return false;
    }
    return true;

fail:
    trace_qmig_disk_io_error(d->name, offset, len, error_get_pretty(err));
    error_free(err);
    return false;
}

static uint32_t qmig_disk_run(QmigDisk *d, uint32_t cmd)
{
    bool to_disk = cmd == QMIG_DISK_CMD_WRITE;
    uint64_t offset = (uint64_t)d->lba * QMIG_DISK_SECTOR_SIZE;
    uint64_t len = (uint64_t)d->count * QMIG_DISK_SECTOR_SIZE;
    g_autofree uint8_t *buf = NULL;

    trace_qmig_disk_cmd(d->name, cmd, d->lba, d->count, d->addr);
    if (cmd != QMIG_DISK_CMD_READ && cmd != QMIG_DISK_CMD_WRITE) {
        return QMIG_DISK_STATUS_ERROR;
    }
    if (d->count > QMIG_DISK_MAX_SECTORS ||
        (uint64_t)d->lba + d->count > qmig_disk_size_sectors(d) ||
        (to_disk && blk_is_read_only(d->blk))) {
        return QMIG_DISK_STATUS_ERROR;
    }
    buf = g_malloc(MIN(len, QMIG_DISK_CHUNK) + 1);
    for (uint64_t done = 0; done < len; done += QMIG_DISK_CHUNK) {
        uint64_t n = MIN(len - done, QMIG_DISK_CHUNK);

        if (!qmig_disk_copy(d, to_disk, offset + done, d->addr + done, buf,
                            n)) {
            return QMIG_DISK_STATUS_ERROR;
        }
    }
    return QMIG_DISK_STATUS_OK;
}

static uint32_t qmig_disk_read(void *opaque, uint16_t offset, unsigned size)
{
    QmigDisk *d = opaque;

    if (size != 4 || offset % 4) {
        return UINT32_MAX;
    }
    switch (offset) {
    case QMIG_DISK_REG_LBA:
        return d->lba;
    case QMIG_DISK_REG_COUNT:
        return d->count;
    case QMIG_DISK_REG_ADDR:
        return d->addr;
    case QMIG_DISK_REG_STATUS:
        return d->status;
    case QMIG_DISK_REG_SIZE:
        return qmig_disk_size_sectors(d);
    default:
        return 0;       /* the command register reads as zero */
    }
}

static void qmig_disk_write(void *opaque, uint16_t offset, uint32_t val,
                            unsigned size)
{
    QmigDisk *d = opaque;

    if (size != 4 || offset % 4) {
        return;
    }
    switch (offset) {
    case QMIG_DISK_REG_LBA:
        d->lba = val;
        break;
    case QMIG_DISK_REG_COUNT:
        d->count = val;
        break;
    case QMIG_DISK_REG_ADDR:
        d->addr = val;
        break;
    case QMIG_DISK_REG_CMD:
        d->status = qmig_disk_run(d, val);
        break;
    default:
        break;          /* status and size are read-only */
    }
}

static const PortIOOps qmig_disk_ops = {
    .read = qmig_disk_read,
    .write = qmig_disk_write,
};

static bool qmig_disk_post_load(void *opaque, int version_id, Error **errp)
{
    QmigDisk *d = opaque;

    if (d->status > QMIG_DISK_STATUS_ERROR) {
        error_setg(errp, "qmig-disk '%s': invalid status %u in the stream",
                   d->name, d->status);
        return false;
    }
    return true;
}

/*
 * The registers a guest may have set up before the switchover and not yet
 * used; a command never straddles it (it completes under the BQL).
 */
static const VMStateDescription vmstate_qmig_disk = {
    .name = "qmig-disk",
    .version_id = 1,
    .minimum_version_id = 1,
    .post_load = qmig_disk_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(lba, QmigDisk),
        VMSTATE_UINT32(count, QmigDisk),
        VMSTATE_UINT32(addr, QmigDisk),
        VMSTATE_UINT32(status, QmigDisk),
        VMSTATE_END_OF_LIST()
    },
};

bool qmig_disk_init(BlockBackend *blk, uint16_t iobase, const char *id,
                    Error **errp)
{
    QmigDisk *d;
    g_autofree char *name = id ? g_strdup(id)
        : g_strdup_printf("qmig-disk%u", qmig_disk_instances);

    if (!blk_attach_dev(blk, name, errp)) {
        return false;
    }
    d = g_new0(QmigDisk, 1);
    d->blk = blk;
    d->name = g_steal_pointer(&name);
    portio_register("qmig-disk", iobase, QMIG_DISK_IOSIZE, &qmig_disk_ops, d);
    vmstate_register(qmig_disk_instances++, &vmstate_qmig_disk, d);
    trace_qmig_disk_init(d->name, blk_name(blk), iobase,
                         qmig_disk_size_sectors(d));
    return true;
}
