/*
 * qmig-disk: the simplest disk a guest can drive, by port I/O.
 *
 *   -device qmig-disk,drive=ID[,iobase=0x510][,id=NAME]
 *
 * 32-bit registers at iobase (aligned 4-byte accesses; other sizes read
 * as all ones and writes of them are ignored):
 *   +0  LBA: first 512-byte sector
 *   +4  sector count (at most QMIG_DISK_MAX_SECTORS per command)
 *   +8  guest-physical address of the buffer
 *   +12 command: write 1 = read disk -> RAM, 2 = write RAM -> disk.  It
 *       runs to completion before the OUT instruction returns.
 *   +16 status (read-only): 0 ok, 1 error (range beyond the disk or
 *       outside guest RAM, I/O error, read-only drive, bad command)
 *   +20 disk size in sectors (read-only; saturates at 0xffffffff)
 *
 * Threading: the registers are touched by port I/O hooks, always under
 * the BQL (vCPU thread or qtest), and by the device's vmstate (BQL too).
 * The copy itself is blk_pread/blk_pwrite (any thread) and
 * guest_mem_read/guest_mem_write (which set RAM soft-dirty bits, so the
 * data read from disk is migrated like any guest write).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_BLOCK_QMIG_DISK_H
#define HW_BLOCK_QMIG_DISK_H

#include "qapi/error.h"
#include "block/block-backend.h"

#define QMIG_DISK_IOBASE 0x510
#define QMIG_DISK_IOSIZE 24

#define QMIG_DISK_REG_LBA 0
#define QMIG_DISK_REG_COUNT 4
#define QMIG_DISK_REG_ADDR 8
#define QMIG_DISK_REG_CMD 12
#define QMIG_DISK_REG_STATUS 16
#define QMIG_DISK_REG_SIZE 20

#define QMIG_DISK_CMD_READ 1
#define QMIG_DISK_CMD_WRITE 2

#define QMIG_DISK_STATUS_OK 0
#define QMIG_DISK_STATUS_ERROR 1

#define QMIG_DISK_SECTOR_SIZE 512
/* 4 MiB: bounds how long one OUT holds the BQL. */
#define QMIG_DISK_MAX_SECTORS 8192

/*
 * Machine creation (main thread, BQL): attach @blk to a new device at
 * @iobase named @id (NULL: a generated name).  The caller has checked
 * that the ports are free.
 */
bool qmig_disk_init(BlockBackend *blk, uint16_t iobase, const char *id,
                    Error **errp);

#endif
