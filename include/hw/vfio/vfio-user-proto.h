/*
 * The vfio-user wire protocol (version 0.1), as published in QEMU's
 * docs/interop/vfio-user.rst, with the migration commands libvfio-user
 * implements (DEVICE_FEATURE, MIG_DATA_READ, MIG_DATA_WRITE).
 *
 * Every message is a 16-byte header followed by a command-specific
 * payload; all integers are little-endian (both ends run on the same
 * host).  The structures here describe the payload only, not the header,
 * so that a receiver can check a payload's length against exactly the
 * structure it is about to read.  File descriptors (DMA_MAP's memory)
 * travel as SCM_RIGHTS ancillary data with the header.
 *
 * DEVICE_FEATURE carries the Linux VFIO device-feature structures inline
 * (struct vfio_device_feature with its data[] following), with the
 * pointer fields of the kernel's DMA logging structures replaced by data
 * that follows in the same message; see the VFIOUserDMALogging* types.
 *
 * qmig extension: vfio-user has no equivalent of the data fd's
 * VFIO_MIG_GET_PRECOPY_INFO ioctl, so precopy sizing is a device feature
 * in the vendor range (VFIO_USER_DEVICE_FEATURE_PRECOPY_INFO).  Servers
 * that do not know it answer the PROBE with an error, and a client then
 * sizes precopy data by reading it.
 *
 * This header is shared by qmig's client and the test device server
 * (tests/vfio-user/); it only grows.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_VFIO_VFIO_USER_PROTO_H
#define HW_VFIO_VFIO_USER_PROTO_H

#include <stdint.h>
#include "hw/vfio/vfio-compat.h"

#define VFIO_USER_PACKED __attribute__((packed))

/* Protocol version this implementation speaks. */
#define VFIO_USER_MAJOR_VER 0
#define VFIO_USER_MINOR_VER 1

typedef enum VFIOUserCommand {
    VFIO_USER_VERSION                   = 1,
    VFIO_USER_DMA_MAP                   = 2,
    VFIO_USER_DMA_UNMAP                 = 3,
    VFIO_USER_DEVICE_GET_INFO           = 4,
    VFIO_USER_DEVICE_GET_REGION_INFO    = 5,
    VFIO_USER_DEVICE_GET_REGION_IO_FDS  = 6,
    VFIO_USER_DEVICE_GET_IRQ_INFO       = 7,
    VFIO_USER_DEVICE_SET_IRQS           = 8,
    VFIO_USER_REGION_READ               = 9,
    VFIO_USER_REGION_WRITE              = 10,
    VFIO_USER_DMA_READ                  = 11,
    VFIO_USER_DMA_WRITE                 = 12,
    VFIO_USER_DEVICE_RESET              = 13,
    /* 14 was VFIO_USER_DIRTY_PAGES, withdrawn from the spec */
    VFIO_USER_REGION_WRITE_MULTI        = 15,
    VFIO_USER_DEVICE_FEATURE            = 16,
    VFIO_USER_MIG_DATA_READ             = 17,
    VFIO_USER_MIG_DATA_WRITE            = 18,
    VFIO_USER_MAX,
} VFIOUserCommand;

/* Message header: 16 bytes, in front of every command and reply. */
typedef struct VFIOUserHdr {
    uint16_t id;            /* chosen by the sender of a command, echoed */
    uint16_t command;       /* VFIOUserCommand */
    uint32_t size;          /* the whole message, header included */
    uint32_t flags;         /* VFIO_USER_F_* */
    uint32_t error_reply;   /* errno when VFIO_USER_F_ERROR is set */
} VFIO_USER_PACKED VFIOUserHdr;

#define VFIO_USER_F_TYPE_MASK   0xfu
#define VFIO_USER_F_TYPE_CMD    0x0u    /* a command (request) */
#define VFIO_USER_F_TYPE_REPLY  0x1u    /* the reply to command @id */
#define VFIO_USER_F_NO_REPLY    0x10u   /* command: send no reply */
#define VFIO_USER_F_ERROR       0x20u   /* reply: failed, see error_reply */

/*
 * VFIO_USER_VERSION: the client's first message; the server answers with
 * the same layout.  @caps is a NUL-terminated JSON object, optional (the
 * message may end after @minor), of the form
 *   {"capabilities": {"max_msg_fds": N, "max_data_xfer_size": N,
 *                     "pgsizes": N, "max_dma_maps": N,
 *                     "migration": {"pgsize": N, "max_bitmap_size": N}}}
 * Each side honours the other's limits: no message carries more fds than
 * the receiver's max_msg_fds, no READ/WRITE moves more data than its
 * max_data_xfer_size.
 */
typedef struct VFIOUserVersion {
    uint16_t major;
    uint16_t minor;
    char caps[];
} VFIO_USER_PACKED VFIOUserVersion;

#define VFIO_USER_CAP               "capabilities"
#define VFIO_USER_CAP_MAX_FDS       "max_msg_fds"
#define VFIO_USER_CAP_MAX_XFER      "max_data_xfer_size"
#define VFIO_USER_CAP_PGSIZES       "pgsizes"
#define VFIO_USER_CAP_MAP_MAX       "max_dma_maps"
#define VFIO_USER_CAP_MIGR          "migration"
#define VFIO_USER_CAP_PGSIZE        "pgsize"
#define VFIO_USER_CAP_MAX_BITMAP    "max_bitmap_size"

/* Defaults when a capability is absent (from the spec). */
#define VFIO_USER_DEF_MAX_FDS       1
#define VFIO_USER_DEF_MAX_XFER      (1024 * 1024)
#define VFIO_USER_DEF_PGSIZE        4096
#define VFIO_USER_DEF_MAX_MAPS      65535
#define VFIO_USER_DEF_MAX_BITMAP    (256 * 1024 * 1024)

/* The largest VERSION payload either side accepts (the JSON is small). */
#define VFIO_USER_MAX_VERSION_SIZE  4096

/*
 * VFIO_USER_DMA_MAP: the client's memory at @offset of the passed fd
 * appears to the device at IOVA @addr for @size bytes.  Without an fd the
 * region is reachable only through DMA_READ/DMA_WRITE messages.
 */
typedef struct VFIOUserDMAMap {
    uint32_t argsz;
    uint32_t flags;
    uint64_t offset;
    uint64_t addr;
    uint64_t size;
} VFIO_USER_PACKED VFIOUserDMAMap;

#define VFIO_USER_F_DMA_REGION_READ     (1u << 0)
#define VFIO_USER_F_DMA_REGION_WRITE    (1u << 1)

/* VFIO_USER_DMA_UNMAP: remove the mapping that covers exactly the range. */
typedef struct VFIOUserDMAUnmap {
    uint32_t argsz;
    uint32_t flags;
    uint64_t addr;
    uint64_t size;
} VFIO_USER_PACKED VFIOUserDMAUnmap;

#define VFIO_USER_F_DMA_UNMAP_GET_DIRTY_BITMAP  (1u << 0)
#define VFIO_USER_F_DMA_UNMAP_ALL               (1u << 1)

/* VFIO_USER_DEVICE_GET_INFO, request and reply (struct vfio_device_info). */
typedef struct VFIOUserDeviceInfo {
    uint32_t argsz;
    uint32_t flags;         /* VFIO_DEVICE_FLAGS_* */
    uint32_t num_regions;
    uint32_t num_irqs;
} VFIO_USER_PACKED VFIOUserDeviceInfo;

/*
 * VFIO_USER_DEVICE_GET_REGION_INFO, request and reply (struct
 * vfio_region_info).  @offset is meaningful only for a region the server
 * lets the client mmap; otherwise regions are reached by REGION_READ and
 * REGION_WRITE.
 */
typedef struct VFIOUserRegionInfo {
    uint32_t argsz;
    uint32_t flags;         /* VFIO_REGION_INFO_FLAG_* */
    uint32_t index;
    uint32_t cap_offset;
    uint64_t size;
    uint64_t offset;
} VFIO_USER_PACKED VFIOUserRegionInfo;

/*
 * VFIO_USER_REGION_READ / _WRITE: the request of a write and the reply of
 * a read carry @count data bytes; the other two end after @count.
 */
typedef struct VFIOUserRegionRW {
    uint64_t offset;
    uint32_t region;
    uint32_t count;
    uint8_t data[];
} VFIO_USER_PACKED VFIOUserRegionRW;

/*
 * VFIO_USER_DMA_READ / _WRITE: sent by the server to reach client memory
 * that was mapped without an fd; same data rule as VFIOUserRegionRW.
 */
typedef struct VFIOUserDMARW {
    uint64_t offset;        /* the IOVA */
    uint64_t count;
    uint8_t data[];
} VFIO_USER_PACKED VFIOUserDMARW;

/*
 * VFIO_USER_DEVICE_FEATURE: struct vfio_device_feature with its data[]
 * inline.  @flags holds the feature index (VFIO_DEVICE_FEATURE_MASK) and
 * one of GET, SET, PROBE.  A GET's reply carries the feature's data.
 */
typedef struct VFIOUserDeviceFeature {
    uint32_t argsz;
    uint32_t flags;
    uint8_t data[];
} VFIO_USER_PACKED VFIOUserDeviceFeature;

/* Data of VFIO_DEVICE_FEATURE_MIGRATION (GET): VFIO_MIGRATION_* flags. */
typedef struct VFIOUserFeatureMigration {
    uint64_t flags;
} VFIO_USER_PACKED VFIOUserFeatureMigration;

/*
 * Data of VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE: SET moves the device to
 * @device_state (enum vfio_device_mig_state); GET reads it.  @data_fd is
 * unused over vfio-user (-1): migration data moves with MIG_DATA_READ and
 * MIG_DATA_WRITE.
 */
typedef struct VFIOUserFeatureMigState {
    uint32_t device_state;
    int32_t data_fd;
} VFIO_USER_PACKED VFIOUserFeatureMigState;

/* Data of VFIO_DEVICE_FEATURE_MIG_DATA_SIZE (GET). */
typedef struct VFIOUserFeatureMigDataSize {
    uint64_t stop_copy_length;
} VFIO_USER_PACKED VFIOUserFeatureMigDataSize;

/*
 * Data of VFIO_DEVICE_FEATURE_DMA_LOGGING_START (SET): the kernel's
 * struct vfio_device_feature_dma_logging_control with @num_ranges
 * VFIOUserDMALoggingRange following instead of a pointer.
 * DMA_LOGGING_STOP (SET) has no data.
 */
typedef struct VFIOUserDMALoggingRange {
    uint64_t iova;
    uint64_t length;
} VFIO_USER_PACKED VFIOUserDMALoggingRange;

typedef struct VFIOUserDMALoggingControl {
    uint64_t page_size;
    uint32_t num_ranges;
    uint32_t reserved;
    VFIOUserDMALoggingRange ranges[];
} VFIO_USER_PACKED VFIOUserDMALoggingControl;

/*
 * Data of VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT (GET): the request holds
 * the range and the page size; the reply repeats them and appends the
 * bitmap, one bit per @page_size of [@iova, @iova + @length), bit i of
 * 64-bit word i / 64 for page i, read and cleared in one step.  The bitmap
 * is DIV_ROUND_UP(length / page_size, 64) * 8 bytes.
 */
typedef struct VFIOUserDMALoggingReport {
    uint64_t iova;
    uint64_t length;
    uint64_t page_size;
    uint8_t bitmap[];
} VFIO_USER_PACKED VFIOUserDMALoggingReport;

/*
 * qmig extension (vendor feature index): GET returns struct
 * vfio_precopy_info's fields; valid in PRE_COPY and PRE_COPY_P2P only,
 * otherwise the reply is an error with EINVAL as the ioctl's would be.
 */
#define VFIO_USER_DEVICE_FEATURE_PRECOPY_INFO 0x8015

typedef struct VFIOUserFeaturePrecopyInfo {
    uint32_t argsz;
    uint32_t flags;
    uint64_t initial_bytes;
    uint64_t dirty_bytes;
} VFIO_USER_PACKED VFIOUserFeaturePrecopyInfo;

/*
 * VFIO_USER_MIG_DATA_READ: request {argsz, size}: read at most @size
 * bytes (no more than the server's max_data_xfer_size) of the device's
 * migration stream; the reply's @size is what came and @data follows.
 * A reply of size 0 means end of stream in STOP_COPY, and "nothing
 * pending now" in PRE_COPY (the kernel's ENOMSG case).  Valid only in
 * PRE_COPY, PRE_COPY_P2P and STOP_COPY.
 *
 * VFIO_USER_MIG_DATA_WRITE: request {argsz, size, data}; valid only in
 * RESUMING; the reply has no data.
 */
typedef struct VFIOUserMigData {
    uint32_t argsz;
    uint32_t size;
    uint8_t data[];
} VFIO_USER_PACKED VFIOUserMigData;

_Static_assert(sizeof(VFIOUserHdr) == 16, "vfio-user header is 16 bytes");
_Static_assert(sizeof(VFIOUserDMAMap) == 32, "DMA_MAP payload");
_Static_assert(sizeof(VFIOUserDMAUnmap) == 24, "DMA_UNMAP payload");
_Static_assert(sizeof(VFIOUserRegionInfo) == 32, "region info payload");
_Static_assert(sizeof(VFIOUserRegionRW) == 16, "region access payload");
_Static_assert(sizeof(VFIOUserDMARW) == 16, "DMA access payload");
_Static_assert(sizeof(VFIOUserFeatureMigState) == 8, "mig state data");
_Static_assert(sizeof(VFIOUserDMALoggingControl) == 16, "logging control");
_Static_assert(sizeof(VFIOUserDMALoggingReport) == 24, "logging report");
_Static_assert(sizeof(VFIOUserFeaturePrecopyInfo) == 24, "precopy info");

/* A short name for a command, for traces and errors ("?" if unknown). */
const char *vfio_user_command_name(uint32_t command);
/* A short name for a migration state ("?" if unknown). */
const char *vfio_user_mig_state_name(uint32_t state);

#endif /* HW_VFIO_VFIO_USER_PROTO_H */
