/*
 * Linux VFIO uAPI definitions that older <linux/vfio.h> copies lack.
 *
 * Debian 12's linux-libc-dev (6.1 headers) has migration uAPI v2 and the
 * DMA logging features, but not the PRE_COPY extension (Linux 6.2) nor
 * VFIO_DEVICE_FEATURE_MIG_DATA_SIZE.  The values below are the kernel's
 * uAPI values; every block is guarded so that newer headers win.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_VFIO_VFIO_COMPAT_H
#define HW_VFIO_VFIO_COMPAT_H

#include <stdint.h>
#include <linux/types.h>
#include <linux/ioctl.h>
#include <linux/vfio.h>

/*
 * The PRE_COPY states, the PRE_COPY migration flag and the precopy-info
 * ioctl were added together; VFIO_MIG_GET_PRECOPY_INFO is the one of
 * them that is a macro in every header that has any of them (the states
 * are enumerators, which #ifndef cannot see).
 */
#ifndef VFIO_MIG_GET_PRECOPY_INFO
#define VFIO_DEVICE_STATE_PRE_COPY      6
#define VFIO_DEVICE_STATE_PRE_COPY_P2P  7

/* Argument of VFIO_MIG_GET_PRECOPY_INFO, an ioctl on the data fd. */
struct vfio_precopy_info {
    __u32 argsz;
    __u32 flags;
    __aligned_u64 initial_bytes;
    __aligned_u64 dirty_bytes;
};

#define VFIO_MIG_GET_PRECOPY_INFO _IO(VFIO_TYPE, VFIO_BASE + 21)
#endif

#ifndef VFIO_MIGRATION_PRE_COPY
#define VFIO_MIGRATION_PRE_COPY (1 << 2)
#endif

/* The number of states, ERROR included (the enum has no such member). */
#define VFIO_DEVICE_NUM_STATES (VFIO_DEVICE_STATE_PRE_COPY_P2P + 1)

#ifndef VFIO_DEVICE_FEATURE_MIG_DATA_SIZE
/* GET: how many bytes STOP_COPY would produce if entered now. */
struct vfio_device_feature_mig_data_size {
    __aligned_u64 stop_copy_length;
};

#define VFIO_DEVICE_FEATURE_MIG_DATA_SIZE 9
#endif

#endif /* HW_VFIO_VFIO_COMPAT_H */
