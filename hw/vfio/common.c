/*
 * VFIO devices in the machine: each one's "vfio" section, its run-state
 * handler, and its DMA dirty log as a dirty-log listener, whatever the
 * transport (include/hw/vfio/vfio-device.h).
 *
 * IOVA == guest-physical address: transports map every piece of the
 * guest-physical map at its address, so the device's DMA log reports
 * guest-physical pages, translated here to RAMBlock pages.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/bitops.h"
#include "hw/vfio/vfio-device.h"
#include "migration/multifd.h"
#include "migration/options.h"
#include "migration/register.h"
#include "system/dirty-log.h"
#include "system/ramblock.h"
#include "system/runstate.h"
#include "trace.h"

static bool vfio_is_active(void *opaque)
{
    return true;
}

/*
 * As QEMU: no postcopy with a VFIO device.  Once the destination runs,
 * the device would DMA into pages that have not arrived, and nothing
 * faults on a device's access to fetch them.
 */
static bool vfio_save_prepare(void *opaque, Error **errp)
{
    VFIODevice *vdev = opaque;

    if (migrate_postcopy_ram()) {
        error_setg(errp, "%s: VFIO device migration is not supported with "
                   "postcopy (the device could DMA into guest pages that "
                   "have not arrived yet): turn off the postcopy-ram "
                   "capability", vdev->name);
        return false;
    }
    return true;
}

/* The capabilities cannot change while a migration runs: check again. */
static bool vfio_common_save_setup(QEMUFile *f, void *opaque, Error **errp)
{
    return vfio_save_prepare(opaque, errp) &&
           vfio_save_setup(f, opaque, errp);
}

static const SaveVMHandlers vfio_savevm_handlers = {
    .save_prepare = vfio_save_prepare,
    .save_setup = vfio_common_save_setup,
    .save_live_iterate = vfio_save_iterate,
    .save_live_complete_precopy = vfio_save_complete_precopy,
    .state_pending_estimate = vfio_state_pending_estimate,
    .state_pending_exact = vfio_state_pending_exact,
    .save_cleanup = vfio_save_cleanup,
    .is_active = vfio_is_active,
    .load_setup = vfio_load_setup,
    .load_state = vfio_load_state,
    .load_state_buffer = vfio_load_state_buffer,
    .load_cleanup = vfio_load_cleanup,
};

static void vfio_vm_change_state(void *opaque, bool running, RunState state)
{
    vfio_vm_state_change(opaque, running, state == RUN_STATE_FINISH_MIGRATE);
}

/* ---- DMA dirty logging ---- */

static bool vfio_dirty_log_start(void *opaque, Error **errp)
{
    VFIODevice *vdev = opaque;
    GPtrArray *secs = guest_mem_sections();
    g_autofree VFIODMARange *ranges = g_new0(VFIODMARange, secs->len + 1);
    bool ok;

    if (!vdev->ops->dma_logging_start) {
        error_setg(errp, "%s: the device cannot log its DMA writes, so "
                   "pages it writes could not be tracked", vdev->name);
        return false;
    }
    for (guint i = 0; i < secs->len; i++) {
        GuestMemSection *sec = g_ptr_array_index(secs, i);

        ranges[i].iova = sec->gpa;
        ranges[i].length = sec->size;
    }
    g_mutex_lock(&vdev->lock);
    ok = vdev->ops->dma_logging_start(vdev, ranges, secs->len,
                                      TARGET_PAGE_SIZE, errp);
    vdev->dma_logging = ok;
    g_mutex_unlock(&vdev->lock);
    trace_vfio_dirty_log_start(vdev->name, secs->len, ok);
    if (!ok) {
        error_prepend(errp, "%s: starting DMA logging: ", vdev->name);
    }
    return ok;
}

static void vfio_dirty_log_stop(void *opaque)
{
    VFIODevice *vdev = opaque;

    g_mutex_lock(&vdev->lock);
    if (vdev->dma_logging) {
        vdev->ops->dma_logging_stop(vdev);
        vdev->dma_logging = false;
    }
    g_mutex_unlock(&vdev->lock);
    trace_vfio_dirty_log_stop(vdev->name);
}

/* OR the report @words (section-relative pages) into @bitmap at @first. */
static uint64_t vfio_dirty_merge(const uint64_t *words, uint64_t pages,
                                 unsigned long *bitmap, uint64_t first)
{
    uint64_t added = 0;

    for (uint64_t w = 0; w < DIV_ROUND_UP(pages, 64); w++) {
        uint64_t bits = words[w];

        while (bits) {
            uint64_t page = w * 64 + __builtin_ctzll(bits);

            bits &= bits - 1;
            if (page < pages && !test_and_set_bit(first + page, bitmap)) {
                added++;
            }
        }
    }
    return added;
}

static uint64_t vfio_dirty_log_sync(void *opaque, RAMBlock *rb,
                                    unsigned long *bitmap)
{
    VFIODevice *vdev = opaque;
    GPtrArray *secs = guest_mem_sections();
    uint64_t added = 0;

    g_mutex_lock(&vdev->lock);
    for (guint i = 0; vdev->dma_logging && i < secs->len; i++) {
        GuestMemSection *sec = g_ptr_array_index(secs, i);
        uint64_t pages = sec->size >> TARGET_PAGE_BITS;
        uint64_t first = sec->offset >> TARGET_PAGE_BITS;
        g_autofree uint64_t *words = NULL;
        Error *err = NULL;

        if (sec->block != rb) {
            continue;
        }
        words = g_new0(uint64_t, DIV_ROUND_UP(pages, 64));
        if (!vdev->ops->dma_logging_report(vdev, sec->gpa, sec->size,
                                           TARGET_PAGE_SIZE, words, &err)) {
            /*
             * The log is lost: count the whole range as written (nothing
             * the device wrote is missed) and fail the migration, which
             * could not converge on a device that cannot report.
             */
            memset(words, 0xff, DIV_ROUND_UP(pages, 64) * 8);
            error_prepend(&err, "%s: DMA logging report: ", vdev->name);
            vfio_mig_set_error_locked(vdev, err);
        }
        added += vfio_dirty_merge(words, pages, bitmap, first);
    }
    g_mutex_unlock(&vdev->lock);
    trace_vfio_dirty_log_sync(vdev->name, rb->idstr, added);
    return added;
}

/* ---- multifd device state ---- */

static char *vfio_idstr(VFIODevice *vdev)
{
    return g_strdup_printf("%s/vfio", vdev->name);
}

/*
 * Whether this migration has multifd channels for device state: the
 * capability over sockets (mapped-ram's file channels carry pages only).
 * Asked at setup, maybe before RAM has connected them.
 */
static bool vfio_mf_send_active(VFIODevice *vdev)
{
    return migrate_multifd_sockets();
}

static bool vfio_mf_send_buffer(VFIODevice *vdev, const void *buf,
                                size_t len, Error **errp)
{
    g_autofree char *idstr = vfio_idstr(vdev);

    return multifd_queue_device_state(idstr, 0, buf, len, errp);
}

static bool vfio_mf_send_flush(VFIODevice *vdev, Error **errp)
{
    return multifd_send_wait_idle(errp);
}

static bool vfio_mf_recv_active(VFIODevice *vdev)
{
    return migrate_multifd();
}

static bool vfio_mf_recv_failed(VFIODevice *vdev)
{
    return multifd_recv_failed();
}

static const VFIOMultifdOps vfio_multifd_ops = {
    .send_active = vfio_mf_send_active,
    .send_buffer = vfio_mf_send_buffer,
    .send_flush = vfio_mf_send_flush,
    .recv_active = vfio_mf_recv_active,
    .recv_failed = vfio_mf_recv_failed,
};

/* Every registered device; filled at machine creation, then read-only. */
static GPtrArray *vfio_devices;

bool vfio_migration_info(uint64_t *transferred)
{
    bool any = false;

    *transferred = 0;
    for (guint i = 0; vfio_devices && i < vfio_devices->len; i++) {
        VFIODevice *vdev = g_ptr_array_index(vfio_devices, i);

        if (vdev->mig_flags & VFIO_MIG_CAP_STOP_COPY) {
            any = true;
            *transferred += __atomic_load_n(&vdev->bytes_saved,
                                            __ATOMIC_RELAXED);
        }
    }
    return any;
}

bool vfio_device_register(VFIODevice *vdev, Error **errp)
{
    g_autofree char *idstr = vfio_idstr(vdev);
    DirtyLogListener l = {
        .log_start = vfio_dirty_log_start,
        .log_stop = vfio_dirty_log_stop,
        .log_sync = vfio_dirty_log_sync,
        .opaque = vdev,
    };

    if (strlen(idstr) > 255) {
        error_setg(errp, "%s: device id too long", vdev->name);
        return false;
    }
    if (register_savevm_live(idstr, 0, 1, &vfio_savevm_handlers, vdev) < 0) {
        error_setg(errp, "Duplicate device id '%s'", vdev->name);
        return false;
    }
    vdev->mf = &vfio_multifd_ops;
    if (!vfio_devices) {
        vfio_devices = g_ptr_array_new();
    }
    g_ptr_array_add(vfio_devices, vdev);
    qemu_add_vm_change_state_handler(vfio_vm_change_state, vdev);
    dirty_log_listener_register(&l);
    trace_vfio_device_register(vdev->name, vdev->mig_flags);
    return true;
}
