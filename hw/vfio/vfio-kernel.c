/*
 * vfio-pci: a host PCI device bound to the kernel's vfio-pci driver, as
 * the transport of the VFIO migration core (Linux VFIO migration uAPI
 * v2, <linux/vfio.h> plus hw/vfio/vfio-compat.h for what Debian 12's
 * copy lacks).
 *
 * Set-up (legacy group/container interface, which every VFIO kernel
 * has): the device's IOMMU group from sysfs, a type1v2 container, the
 * device fd, and every piece of the guest-physical map mapped for DMA at
 * its guest-physical address.  Migration: VFIO_DEVICE_FEATURE on the
 * device fd (MIGRATION, MIG_DEVICE_STATE, MIG_DATA_SIZE, DMA_LOGGING_*),
 * read()/write() on the data fd a state change returns, and
 * VFIO_MIG_GET_PRECOPY_INFO on that fd.
 *
 * Built and reviewed against the uAPI but not exercised on this project's
 * machines: their kernels have no VFIO.  Without /dev/vfio, creation
 * fails at once with an error saying so.
 *
 * Locking: the caller holds VFIODevice.lock (every ops hook).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/ioctl.h>
#include "qapi/error.h"
#include "hw/vfio/vfio-compat.h"
#include "hw/vfio/vfio-device.h"
#include "hw/vfio/vfio-pci.h"
#include "system/ramblock.h"
#include "trace.h"

typedef struct VFIOKernelDevice {
    VFIODevice vdev;
    int container;
    int group;
    int device;
    int data_fd;            /* the open data session, or -1 */
} VFIOKernelDevice;

static VFIOKernelDevice *vfio_kernel(VFIODevice *vdev)
{
    return vdev->opaque;
}

/*
 * VFIO_DEVICE_FEATURE with @flags and @len bytes of @data, which is
 * overwritten with what the kernel left there (a GET's result; the
 * data_fd a MIG_DEVICE_STATE SET returns).
 */
static int vfio_kernel_feature(VFIOKernelDevice *kd, uint32_t flags,
                               void *data, size_t len)
{
    size_t sz = sizeof(struct vfio_device_feature) + len;
    g_autofree uint64_t *buf = g_malloc0(DIV_ROUND_UP(sz, 8) * 8);
    struct vfio_device_feature *f = (struct vfio_device_feature *)buf;

    f->argsz = sz;
    f->flags = flags;
    if (len) {
        memcpy(f->data, data, len);
    }
    if (ioctl(kd->device, VFIO_DEVICE_FEATURE, f) < 0) {
        return -errno;
    }
    if (len) {
        memcpy(data, f->data, len);
    }
    return 0;
}

static bool vfio_kernel_get_migration_flags(VFIODevice *vdev,
                                            uint64_t *flags, Error **errp)
{
    struct vfio_device_feature_migration m = { 0 };
    int ret = vfio_kernel_feature(vfio_kernel(vdev),
                                  VFIO_DEVICE_FEATURE_GET |
                                  VFIO_DEVICE_FEATURE_MIGRATION,
                                  &m, sizeof(m));

    /* ENOTTY/EINVAL: a device without migration; it still works. */
    *flags = ret < 0 ? 0 : m.flags;
    return true;
}

static void vfio_kernel_close_data(VFIOKernelDevice *kd)
{
    if (kd->data_fd >= 0) {
        close(kd->data_fd);
        kd->data_fd = -1;
    }
}

static bool vfio_kernel_set_state(VFIODevice *vdev, VFIOMigState state,
                                  Error **errp)
{
    VFIOKernelDevice *kd = vfio_kernel(vdev);
    struct vfio_device_feature_mig_state s = {
        .device_state = state, .data_fd = -1,
    };
    int ret = vfio_kernel_feature(kd, VFIO_DEVICE_FEATURE_SET |
                                  VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
                                  &s, sizeof(s));

    if (ret < 0) {
        error_setg_errno(errp, -ret, "VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE");
        return false;
    }
    if (s.data_fd >= 0) {
        /* A new session (STOP->STOP_COPY, RUNNING->PRE_COPY, RESUMING). */
        vfio_kernel_close_data(kd);
        kd->data_fd = s.data_fd;
    } else if (!vfio_mig_state_is_saving(state) &&
               state != VFIO_MIG_STATE_RESUMING) {
        /* Leaving a saving or resuming state ended the session. */
        vfio_kernel_close_data(kd);
    }
    trace_vfio_kernel_set_state(vdev->name, vfio_mig_state_name(state),
                                kd->data_fd);
    return true;
}

static bool vfio_kernel_get_state(VFIODevice *vdev, VFIOMigState *state,
                                  Error **errp)
{
    struct vfio_device_feature_mig_state s = { 0 };
    int ret = vfio_kernel_feature(vfio_kernel(vdev),
                                  VFIO_DEVICE_FEATURE_GET |
                                  VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
                                  &s, sizeof(s));

    if (ret < 0) {
        error_setg_errno(errp, -ret, "VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE");
        return false;
    }
    *state = s.device_state < VFIO_MIG_STATE__MAX ? s.device_state :
             VFIO_MIG_STATE_ERROR;
    return true;
}

static bool vfio_kernel_reset(VFIODevice *vdev, Error **errp)
{
    VFIOKernelDevice *kd = vfio_kernel(vdev);

    vfio_kernel_close_data(kd);
    if (ioctl(kd->device, VFIO_DEVICE_RESET) < 0) {
        error_setg_errno(errp, errno, "VFIO_DEVICE_RESET");
        return false;
    }
    return true;
}

static ssize_t vfio_kernel_read_data(VFIODevice *vdev, void *buf,
                                     size_t len, Error **errp)
{
    VFIOKernelDevice *kd = vfio_kernel(vdev);
    ssize_t n;

    if (kd->data_fd < 0) {
        error_setg(errp, "no device data session is open");
        return -1;
    }
    do {
        n = read(kd->data_fd, buf, len);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno == ENOMSG) {
        return 0;   /* PRE_COPY: nothing more for now */
    }
    if (n < 0) {
        error_setg_errno(errp, errno, "reading device data");
    }
    return n;
}

static bool vfio_kernel_write_data(VFIODevice *vdev, const void *buf,
                                   size_t len, Error **errp)
{
    VFIOKernelDevice *kd = vfio_kernel(vdev);

    if (kd->data_fd < 0) {
        error_setg(errp, "no device data session is open");
        return false;
    }
    for (size_t done = 0; done < len; ) {
        ssize_t n = write(kd->data_fd, (const uint8_t *)buf + done,
                          len - done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            error_setg_errno(errp, n < 0 ? errno : EIO,
                             "writing device data");
            return false;
        }
        done += n;
    }
    return true;
}

static bool vfio_kernel_get_precopy_info(VFIODevice *vdev, uint64_t *initial,
                                         uint64_t *dirty, Error **errp)
{
    VFIOKernelDevice *kd = vfio_kernel(vdev);
    struct vfio_precopy_info info = { .argsz = sizeof(info) };

    if (kd->data_fd < 0 ||
        ioctl(kd->data_fd, VFIO_MIG_GET_PRECOPY_INFO, &info) < 0) {
        error_setg_errno(errp, kd->data_fd < 0 ? EBADF : errno,
                         "VFIO_MIG_GET_PRECOPY_INFO");
        return false;
    }
    *initial = info.initial_bytes;
    *dirty = info.dirty_bytes;
    return true;
}

static bool vfio_kernel_get_stop_copy_size(VFIODevice *vdev, uint64_t *bytes,
                                           Error **errp)
{
    struct vfio_device_feature_mig_data_size ds = { 0 };
    int ret = vfio_kernel_feature(vfio_kernel(vdev),
                                  VFIO_DEVICE_FEATURE_GET |
                                  VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
                                  &ds, sizeof(ds));

    if (ret < 0) {
        error_setg_errno(errp, -ret, "VFIO_DEVICE_FEATURE_MIG_DATA_SIZE");
        return false;
    }
    *bytes = ds.stop_copy_length;
    return true;
}

static bool vfio_kernel_dma_logging_start(VFIODevice *vdev,
                                          const VFIODMARange *ranges,
                                          unsigned nr, uint64_t page_size,
                                          Error **errp)
{
    g_autofree struct vfio_device_feature_dma_logging_range *r =
        g_new0(struct vfio_device_feature_dma_logging_range, nr);
    struct vfio_device_feature_dma_logging_control ctl = {
        .page_size = page_size,
        .num_ranges = nr,
        .ranges = (uintptr_t)r,
    };
    int ret;

    for (unsigned i = 0; i < nr; i++) {
        r[i].iova = ranges[i].iova;
        r[i].length = ranges[i].length;
    }
    ret = vfio_kernel_feature(vfio_kernel(vdev), VFIO_DEVICE_FEATURE_SET |
                              VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
                              &ctl, sizeof(ctl));
    if (ret < 0) {
        error_setg_errno(errp, -ret, "VFIO_DEVICE_FEATURE_DMA_LOGGING_START");
        return false;
    }
    return true;
}

static void vfio_kernel_dma_logging_stop(VFIODevice *vdev)
{
    int ret = vfio_kernel_feature(vfio_kernel(vdev), VFIO_DEVICE_FEATURE_SET |
                                  VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
                                  NULL, 0);

    if (ret < 0) {
        warn_report("%s: VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP: %s",
                    vdev->name, strerror(-ret));
    }
}

static bool vfio_kernel_dma_logging_report(VFIODevice *vdev, uint64_t iova,
                                           uint64_t length,
                                           uint64_t page_size,
                                           uint64_t *bitmap, Error **errp)
{
    struct vfio_device_feature_dma_logging_report rep = {
        .iova = iova,
        .length = length,
        .page_size = page_size,
        .bitmap = (uintptr_t)bitmap,    /* the kernel only sets bits */
    };
    int ret = vfio_kernel_feature(vfio_kernel(vdev), VFIO_DEVICE_FEATURE_GET |
                                  VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
                                  &rep, sizeof(rep));

    if (ret < 0) {
        error_setg_errno(errp, -ret,
                         "VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT");
        return false;
    }
    return true;
}

static const VFIODeviceOps vfio_kernel_ops = {
    .get_migration_flags = vfio_kernel_get_migration_flags,
    .set_state = vfio_kernel_set_state,
    .get_state = vfio_kernel_get_state,
    .reset = vfio_kernel_reset,
    .read_data = vfio_kernel_read_data,
    .write_data = vfio_kernel_write_data,
    .get_precopy_info = vfio_kernel_get_precopy_info,
    .get_stop_copy_size = vfio_kernel_get_stop_copy_size,
    .dma_logging_start = vfio_kernel_dma_logging_start,
    .dma_logging_stop = vfio_kernel_dma_logging_stop,
    .dma_logging_report = vfio_kernel_dma_logging_report,
};

/* ---- set-up ---- */

/* sysfsdev=, or host=[DDDD:]BB:DD.F under /sys/bus/pci/devices. */
static char *vfio_kernel_sysfs_path(const char *host, const char *sysfsdev,
                                    Error **errp)
{
    unsigned dom = 0, bus, slot, fn;
    char tail;

    if (sysfsdev) {
        return g_strdup(sysfsdev);
    }
    if (sscanf(host, "%x:%x:%x.%x%c", &dom, &bus, &slot, &fn, &tail) != 4 &&
        (dom = 0, sscanf(host, "%x:%x.%x%c", &bus, &slot, &fn, &tail) != 3)) {
        error_setg(errp, "host='%s' is not a PCI address "
                   "([domain:]bus:slot.function)", host);
        return NULL;
    }
    if (dom > 0xffff || bus > 0xff || slot > 0x1f || fn > 7) {
        error_setg(errp, "host='%s' is out of range", host);
        return NULL;
    }
    return g_strdup_printf("/sys/bus/pci/devices/%04x:%02x:%02x.%x", dom,
                           bus, slot, fn);
}

static int vfio_kernel_group_id(const char *sysfs, Error **errp)
{
    g_autofree char *link = g_strdup_printf("%s/iommu_group", sysfs);
    g_autofree char *target = g_file_read_link(link, NULL);
    g_autofree char *base = NULL;
    char *end;
    long id;

    if (!target) {
        error_setg_errno(errp, errno, "%s has no IOMMU group (is the IOMMU "
                         "enabled and the device bound to vfio-pci?)",
                         sysfs);
        return -1;
    }
    base = g_path_get_basename(target);
    id = strtol(base, &end, 10);
    if (*end || id < 0 || id > INT_MAX) {
        error_setg(errp, "%s: unexpected IOMMU group '%s'", sysfs, base);
        return -1;
    }
    return id;
}

static bool vfio_kernel_open(VFIOKernelDevice *kd, const char *sysfs,
                             Error **errp)
{
    struct vfio_group_status status = { .argsz = sizeof(status) };
    g_autofree char *gpath = NULL;
    g_autofree char *bdf = g_path_get_basename(sysfs);
    int gid = vfio_kernel_group_id(sysfs, errp);

    if (gid < 0) {
        return false;
    }
    kd->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
    if (kd->container < 0) {
        error_setg_errno(errp, errno, "/dev/vfio/vfio");
        return false;
    }
    if (ioctl(kd->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION ||
        ioctl(kd->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0) {
        error_setg(errp, "the kernel's VFIO lacks API version %d with a "
                   "type1v2 IOMMU", VFIO_API_VERSION);
        return false;
    }
    gpath = g_strdup_printf("/dev/vfio/%d", gid);
    kd->group = open(gpath, O_RDWR | O_CLOEXEC);
    if (kd->group < 0) {
        error_setg_errno(errp, errno, "%s", gpath);
        return false;
    }
    if (ioctl(kd->group, VFIO_GROUP_GET_STATUS, &status) < 0 ||
        !(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
        error_setg(errp, "IOMMU group %d is not viable: bind every device "
                   "in it to vfio-pci", gid);
        return false;
    }
    if (ioctl(kd->group, VFIO_GROUP_SET_CONTAINER, &kd->container) < 0 ||
        ioctl(kd->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0) {
        error_setg_errno(errp, errno, "attaching IOMMU group %d", gid);
        return false;
    }
    kd->device = ioctl(kd->group, VFIO_GROUP_GET_DEVICE_FD, bdf);
    if (kd->device < 0) {
        error_setg_errno(errp, errno, "getting device %s from group %d",
                         bdf, gid);
        return false;
    }
    return true;
}

static bool vfio_kernel_dma_map_all(VFIOKernelDevice *kd, Error **errp)
{
    GPtrArray *secs = guest_mem_sections();

    for (guint i = 0; i < secs->len; i++) {
        GuestMemSection *sec = g_ptr_array_index(secs, i);
        struct vfio_iommu_type1_dma_map map = {
            .argsz = sizeof(map),
            .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
            .vaddr = (uintptr_t)(sec->block->host + sec->offset),
            .iova = sec->gpa,
            .size = sec->size,
        };

        if (ioctl(kd->container, VFIO_IOMMU_MAP_DMA, &map) < 0) {
            error_setg_errno(errp, errno, "VFIO_IOMMU_MAP_DMA 0x%" PRIx64
                             "+0x%" PRIx64, sec->gpa, sec->size);
            return false;
        }
    }
    return true;
}

static void vfio_kernel_close(VFIOKernelDevice *kd)
{
    vfio_kernel_close_data(kd);
    if (kd->device >= 0) {
        close(kd->device);
    }
    if (kd->group >= 0) {
        close(kd->group);
    }
    if (kd->container >= 0) {
        close(kd->container);
    }
}

bool vfio_kernel_pci_create(const char *id, const char *host,
                            const char *sysfsdev, VFIOMultifdMode mf_mode,
                            Error **errp)
{
    g_autofree char *sysfs = NULL;
    VFIOKernelDevice *kd;
    VFIODevice *vdev;

    if (!host == !sysfsdev) {
        error_setg(errp, "vfio-pci: give exactly one of host= and "
                   "sysfsdev=");
        return false;
    }
    if (access("/dev/vfio", F_OK) < 0) {
        error_setg(errp, "vfio-pci: /dev/vfio does not exist: this host's "
                   "kernel has no VFIO (load the vfio-pci module and bind "
                   "the device to it)");
        return false;
    }
    sysfs = vfio_kernel_sysfs_path(host, sysfsdev, errp);
    if (!sysfs) {
        return false;
    }
    kd = g_new0(VFIOKernelDevice, 1);
    kd->container = kd->group = kd->device = kd->data_fd = -1;
    vdev = &kd->vdev;
    vdev->name = g_strdup(id);
    vdev->ops = &vfio_kernel_ops;
    vdev->opaque = kd;
    vdev->mf_mode = mf_mode;
    vfio_device_init_common(vdev);
    if (!vfio_kernel_open(kd, sysfs, errp) ||
        !vfio_kernel_dma_map_all(kd, errp) ||
        !vfio_kernel_get_migration_flags(vdev, &vdev->mig_flags, errp)) {
        goto fail;
    }
    vdev->config = (uint8_t *)g_strdup_printf("vfio-pci migration=0x%"
                                              PRIx64, vdev->mig_flags);
    vdev->config_len = strlen((char *)vdev->config);
    if (!vfio_device_register(vdev, errp)) {
        goto fail;
    }
    trace_vfio_kernel_created(id, sysfs, vdev->mig_flags);
    return true;

fail:
    error_prepend(errp, "vfio-pci '%s': ", id);
    vfio_kernel_close(kd);
    vfio_device_finalize(vdev);
    g_free(kd);
    return false;
}
