/*
 * VFIO device migration (Linux VFIO migration uAPI v2), independent of
 * the transport that reaches the device.
 *
 * A VFIODevice is one assigned device.  Its transport (kernel VFIO:
 * ioctls on a device fd; vfio-user: messages on a unix socket) fills in
 * a VFIODeviceOps table; the migration core (hw/vfio/migration.c) drives
 * the device-state machine through it, moves the device's opaque state
 * in the device's "vfio" section of the stream, and merges the device's
 * DMA dirty log into the RAM dirty bitmaps.
 *
 * Locking: every VFIODeviceOps hook is called with VFIODevice.lock held,
 * which serialises the transport (one request at a time on a vfio-user
 * socket; one state change at a time on a kernel device fd).  The hooks
 * are called from these threads:
 *   - main thread, BQL held: realize (get_migration_flags), VM start and
 *     stop (set_state/get_state/reset via the run-state handler);
 *   - migration thread, no BQL except at switchover: set_state,
 *     read_data, get_precopy_info, get_stop_copy_size, dma_logging_*;
 *     at switchover the VM-stop handler runs in this thread with the BQL;
 *   - incoming thread, no BQL: set_state, write_data.
 * No hook takes the BQL or waits for the main loop.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_VFIO_VFIO_DEVICE_H
#define HW_VFIO_VFIO_DEVICE_H

#include "qapi/error.h"

typedef struct QEMUFile QEMUFile;

/*
 * Device migration states: the values of the uAPI's enum
 * vfio_device_mig_state (also what vfio-user's DEVICE_FEATURE carries).
 */
typedef enum VFIOMigState {
    VFIO_MIG_STATE_ERROR = 0,
    VFIO_MIG_STATE_STOP = 1,
    VFIO_MIG_STATE_RUNNING = 2,
    VFIO_MIG_STATE_STOP_COPY = 3,
    VFIO_MIG_STATE_RESUMING = 4,
    VFIO_MIG_STATE_RUNNING_P2P = 5,
    VFIO_MIG_STATE_PRE_COPY = 6,
    VFIO_MIG_STATE_PRE_COPY_P2P = 7,
    VFIO_MIG_STATE__MAX,
} VFIOMigState;

/* What VFIO_DEVICE_FEATURE_MIGRATION reports (VFIO_MIGRATION_* bits). */
#define VFIO_MIG_CAP_STOP_COPY  (1ULL << 0)
#define VFIO_MIG_CAP_P2P        (1ULL << 1)
#define VFIO_MIG_CAP_PRE_COPY   (1ULL << 2)

/*
 * Stream delimiters of a vfio section (the values QEMU uses, so the
 * layout reads the same in both): all-ones high word, 0xef10 magic.
 */
#define VFIO_MIG_FLAG_END_OF_STATE      0xffffffffef100001ULL
#define VFIO_MIG_FLAG_DEV_CONFIG_STATE  0xffffffffef100002ULL
#define VFIO_MIG_FLAG_DEV_SETUP_STATE   0xffffffffef100003ULL
#define VFIO_MIG_FLAG_DEV_DATA_STATE    0xffffffffef100004ULL
/*
 * qmig's own record (not QEMU's): the switchover data went over multifd
 * channels as be32 count buffers; the destination waits for all of them.
 */
#define VFIO_MIG_FLAG_DEV_MULTIFD_STATE 0xffffffffef100010ULL
/*
 * qmig's own record: the switchover data starts going over multifd now.
 * The channels can run ahead of the main stream, so the destination
 * writes none of it to the device before this record, which comes after
 * all the device's precopy data in the main stream.
 */
#define VFIO_MIG_FLAG_DEV_MULTIFD_START 0xffffffffef100011ULL

/* The largest data chunk a sender writes, and a receiver accepts. */
#define VFIO_MIG_DATA_CHUNK     (1024 * 1024)
/*
 * A multifd device state buffer: be32 index, be32 flags (0), then at most
 * VFIO_MIG_MULTIFD_CHUNK bytes of device data (a multifd packet's data
 * is at most 1 MiB).
 */
#define VFIO_MIG_MULTIFD_HDR    8
#define VFIO_MIG_MULTIFD_CHUNK  (512 * 1024)
/* Buffers that arrived ahead of their turn, at most (destination). */
#define VFIO_MIG_MULTIFD_QUEUED (64 * 1024 * 1024)
#define VFIO_MIG_MULTIFD_MAX_BUFFERS (1u << 24)
/* The largest config record (transport identity) accepted. */
#define VFIO_MIG_CONFIG_MAX     4096

typedef struct VFIODevice VFIODevice;

/* One IOVA range for DMA logging (guest-physical here: IOVA == GPA). */
typedef struct VFIODMARange {
    uint64_t iova;
    uint64_t length;
} VFIODMARange;

typedef struct VFIODeviceOps {
    /* Realize (main thread, BQL): the VFIO_MIG_CAP_* bits the device has. */
    bool (*get_migration_flags)(VFIODevice *vdev, uint64_t *flags,
                                Error **errp);
    /*
     * Execute ONE arc of the FSM (the core walks combinations itself).
     * Entering a saving state from a non-saving one, or RESUMING, opens
     * the data session read_data/write_data use; leaving them closes it.
     * On failure the device may be anywhere on the arc or in ERROR.
     */
    bool (*set_state)(VFIODevice *vdev, VFIOMigState state, Error **errp);
    bool (*get_state)(VFIODevice *vdev, VFIOMigState *state, Error **errp);
    /* Return the device to RUNNING from any state (ERROR included). */
    bool (*reset)(VFIODevice *vdev, Error **errp);
    /*
     * Saving states: read up to @len bytes of device data.  Returns the
     * bytes read, 0 when there is nothing more now (end of the stream in
     * STOP_COPY, "empty for now" in PRE_COPY), -1 with @errp set.
     */
    ssize_t (*read_data)(VFIODevice *vdev, void *buf, size_t len,
                         Error **errp);
    /* RESUMING: feed all @len bytes to the device. */
    bool (*write_data)(VFIODevice *vdev, const void *buf, size_t len,
                       Error **errp);
    /* PRE_COPY states: VFIO_MIG_GET_PRECOPY_INFO.  Optional. */
    bool (*get_precopy_info)(VFIODevice *vdev, uint64_t *initial_bytes,
                             uint64_t *dirty_bytes, Error **errp);
    /* VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: STOP_COPY estimate.  Optional. */
    bool (*get_stop_copy_size)(VFIODevice *vdev, uint64_t *bytes,
                               Error **errp);
    /* DMA dirty logging (VFIO_DEVICE_FEATURE_DMA_LOGGING_*).  Optional. */
    bool (*dma_logging_start)(VFIODevice *vdev, const VFIODMARange *ranges,
                              unsigned nr_ranges, uint64_t page_size,
                              Error **errp);
    void (*dma_logging_stop)(VFIODevice *vdev);
    /*
     * OR into @bitmap (one bit per @page_size of [iova, iova+length),
     * little-endian u64 words) the pages written since the last report,
     * and clear them in the device's log.
     */
    bool (*dma_logging_report)(VFIODevice *vdev, uint64_t iova,
                               uint64_t length, uint64_t page_size,
                               uint64_t *bitmap, Error **errp);
} VFIODeviceOps;

/* x-migration-multifd-transfer */
typedef enum VFIOMultifdMode {
    VFIO_MULTIFD_AUTO,      /* when the multifd capability is on */
    VFIO_MULTIFD_ON,        /* required: fail without multifd */
    VFIO_MULTIFD_OFF,
} VFIOMultifdMode;

/*
 * How the core reaches multifd (hw/vfio/common.c; tests supply their
 * own).  Source hooks: migration thread.  Destination: incoming thread.
 */
typedef struct VFIOMultifdOps {
    bool (*send_active)(VFIODevice *vdev);
    /* Queue one buffer (copied) on a channel. */
    bool (*send_buffer)(VFIODevice *vdev, const void *buf, size_t len,
                        Error **errp);
    /* Wait until every queued buffer is written. */
    bool (*send_flush)(VFIODevice *vdev, Error **errp);
    bool (*recv_active)(VFIODevice *vdev);
    /* A channel failed: buffers may never come. */
    bool (*recv_failed)(VFIODevice *vdev);
} VFIOMultifdOps;

struct VFIODevice {
    char *name;                 /* fixed at creation: the -device id */
    const VFIODeviceOps *ops;   /* fixed at creation */
    void *opaque;               /* the transport's; fixed at creation */
    uint64_t mig_flags;         /* VFIO_MIG_CAP_*; fixed at creation */
    /* Transport identity written as DEV_CONFIG_STATE; fixed. */
    uint8_t *config;
    uint32_t config_len;

    /* Serialises every ops call and protects the fields below. */
    GMutex lock;
    VFIOMigState state;         /* last state the device confirmed */
    bool saving;                /* between save_setup and save_cleanup */
    bool dma_logging;           /* DMA logging started by us */
    bool config_loaded;         /* destination: DEV_CONFIG_STATE seen */
    uint64_t precopy_init;      /* last VFIO_MIG_GET_PRECOPY_INFO */
    uint64_t precopy_dirty;
    uint64_t stop_copy_size;    /* last MIG_DATA_SIZE, 0 if unknown */
    /* Device data sent in this migration; atomic (query-migrate). */
    uint64_t bytes_saved;
    /* First failure seen outside a handler that can return it. */
    Error *mig_error;

    /* Multifd device state; fixed at creation. */
    const VFIOMultifdOps *mf;
    VFIOMultifdMode mf_mode;
    bool mf_send;               /* lock: this migration uses multifd */
    /*
     * Destination: buffers from multifd channels wait in mf_bufs until
     * the loader thread writes them to the device in index order.
     * Protected by mf_lock (taken after lock where both are held).
     */
    GMutex mf_lock;
    GCond mf_cond;
    GHashTable *mf_bufs;        /* index -> GByteArray of device data */
    uint64_t mf_queued;         /* bytes in mf_bufs */
    uint32_t mf_next;           /* next index the loader takes */
    uint32_t mf_done;           /* buffers written to the device */
    uint32_t mf_expected;       /* count from the stream; UINT32_MAX */
    bool mf_loading;            /* the loader runs */
    bool mf_open;               /* DEV_MULTIFD_START read: it may write */
    bool mf_quit;
    Error *mf_error;            /* the loader's or a bad buffer's */
    GThread *mf_thread;
};

/* ---- state machine (pure) ---- */

const char *vfio_mig_state_name(VFIOMigState state);
bool vfio_mig_state_is_saving(VFIOMigState state);
/* Whether @flags (VFIO_MIG_CAP_*) make @state usable. */
bool vfio_mig_state_supported(VFIOMigState state, uint64_t flags);
/*
 * The next state on the shortest legal path from @cur to @target for a
 * device with @flags, or VFIO_MIG_STATE_ERROR if there is none.
 */
VFIOMigState vfio_mig_next_state(VFIOMigState cur, VFIOMigState target,
                                 uint64_t flags);

/* ---- device lifecycle and state changes ---- */

/* Initialise @vdev (name, ops, opaque, flags must be set). */
void vfio_device_init_common(VFIODevice *vdev);
void vfio_device_finalize(VFIODevice *vdev);
/*
 * Walk @vdev to @target one arc at a time.  If an arc fails, try to put
 * the device in @recover (VFIO_MIG_STATE_ERROR: reset it to RUNNING),
 * and fail.  Caller holds vdev->lock.
 */
bool vfio_mig_set_state_locked(VFIODevice *vdev, VFIOMigState target,
                               VFIOMigState recover, Error **errp);
bool vfio_mig_set_state(VFIODevice *vdev, VFIOMigState target,
                        VFIOMigState recover, Error **errp);
/* Keep the first error of a path that cannot return one.  Locked. */
void vfio_mig_set_error_locked(VFIODevice *vdev, Error *err);

/* ---- the vfio section (hw/vfio/migration.c; also SaveVMHandlers) ---- */

bool vfio_save_setup(QEMUFile *f, void *opaque, Error **errp);
int vfio_save_iterate(QEMUFile *f, void *opaque);
bool vfio_save_complete_precopy(QEMUFile *f, void *opaque, Error **errp);
void vfio_state_pending_estimate(void *opaque, uint64_t *must,
                                 uint64_t *can);
void vfio_state_pending_exact(void *opaque, uint64_t *must, uint64_t *can);
void vfio_save_cleanup(void *opaque);
bool vfio_load_setup(QEMUFile *f, void *opaque, Error **errp);
bool vfio_load_state(QEMUFile *f, void *opaque, int version_id,
                     Error **errp);
void vfio_load_cleanup(void *opaque);
/* A multifd receive thread: one buffer of switchover data. */
bool vfio_load_state_buffer(void *opaque, const uint8_t *buf, size_t len,
                            Error **errp);
/* Run state: the VM starts (@running) or stops in @finish_migrate. */
void vfio_vm_state_change(VFIODevice *vdev, bool running,
                          bool finish_migrate);

/* ---- machine glue (hw/vfio/common.c) ---- */

/*
 * Register @vdev's migration section, run-state handler and dirty-log
 * listener.  Main thread, BQL, at machine creation.
 */
bool vfio_device_register(VFIODevice *vdev, Error **errp);
/*
 * query-migrate's "vfio": false when no device can migrate; otherwise
 * the device data the current (or last) migration sent.  Any thread.
 */
bool vfio_migration_info(uint64_t *transferred);

#endif
