/*
 * VFIO device migration core: the device-state machine and the "vfio"
 * section of the stream (include/hw/vfio/vfio-device.h;
 * docs/devel/migration/vfio.md has the layout and the state diagram).
 *
 * Nothing here knows the transport: it calls VFIODevice.ops with
 * VFIODevice.lock held.  The lock is taken after the BQL where both are
 * held (the VM-stop handler), never the other way round, and it is not
 * held while the stream is written (a slow destination must not stall a
 * main-thread "stop" for longer than one device request).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qapi/error.h"
#include "hw/vfio/vfio-device.h"
#include "hw/vfio/vfio-user-proto.h"
#include "migration/qemu-file.h"
#include "trace.h"

/* ---- the state machine ---- */

/* The names are the uAPI's, shared with the vfio-user code in util/. */
const char *vfio_mig_state_name(VFIOMigState state)
{
    return vfio_user_mig_state_name(state);
}

bool vfio_mig_state_is_saving(VFIOMigState state)
{
    return state == VFIO_MIG_STATE_STOP_COPY ||
           state == VFIO_MIG_STATE_PRE_COPY ||
           state == VFIO_MIG_STATE_PRE_COPY_P2P;
}

static bool vfio_mig_state_is_precopy(VFIOMigState state)
{
    return state == VFIO_MIG_STATE_PRE_COPY ||
           state == VFIO_MIG_STATE_PRE_COPY_P2P;
}

bool vfio_mig_state_supported(VFIOMigState state, uint64_t flags)
{
    bool p2p = flags & VFIO_MIG_CAP_P2P;
    bool pre = flags & VFIO_MIG_CAP_PRE_COPY;

    switch (state) {
    case VFIO_MIG_STATE_RUNNING:
        return true;
    case VFIO_MIG_STATE_STOP:
    case VFIO_MIG_STATE_STOP_COPY:
    case VFIO_MIG_STATE_RESUMING:
        return flags & VFIO_MIG_CAP_STOP_COPY;
    case VFIO_MIG_STATE_RUNNING_P2P:
        return (flags & VFIO_MIG_CAP_STOP_COPY) && p2p;
    case VFIO_MIG_STATE_PRE_COPY:
        return (flags & VFIO_MIG_CAP_STOP_COPY) && pre;
    case VFIO_MIG_STATE_PRE_COPY_P2P:
        return (flags & VFIO_MIG_CAP_STOP_COPY) && pre && p2p;
    default:
        return false;   /* ERROR is never a target */
    }
}

/*
 * The single arcs of the uAPI's FSM.  With P2P offered, RUNNING and STOP
 * (and PRE_COPY and STOP_COPY) are not adjacent: the quiescent P2P state
 * lies between them, and the kernel's own path finder goes through it.
 */
static bool vfio_mig_arc(VFIOMigState from, VFIOMigState to, uint64_t flags)
{
    bool p2p = flags & VFIO_MIG_CAP_P2P;

    if (!vfio_mig_state_supported(from, flags) ||
        !vfio_mig_state_supported(to, flags)) {
        return false;
    }
    switch (from) {
    case VFIO_MIG_STATE_STOP:
        return to == VFIO_MIG_STATE_STOP_COPY ||
               to == VFIO_MIG_STATE_RESUMING ||
               to == (p2p ? VFIO_MIG_STATE_RUNNING_P2P :
                            VFIO_MIG_STATE_RUNNING);
    case VFIO_MIG_STATE_RUNNING:
        return to == VFIO_MIG_STATE_PRE_COPY ||
               to == (p2p ? VFIO_MIG_STATE_RUNNING_P2P :
                            VFIO_MIG_STATE_STOP);
    case VFIO_MIG_STATE_STOP_COPY:
    case VFIO_MIG_STATE_RESUMING:
        return to == VFIO_MIG_STATE_STOP;
    case VFIO_MIG_STATE_RUNNING_P2P:
        return to == VFIO_MIG_STATE_STOP || to == VFIO_MIG_STATE_RUNNING ||
               to == VFIO_MIG_STATE_PRE_COPY_P2P;
    case VFIO_MIG_STATE_PRE_COPY:
        return to == VFIO_MIG_STATE_RUNNING ||
               to == (p2p ? VFIO_MIG_STATE_PRE_COPY_P2P :
                            VFIO_MIG_STATE_STOP_COPY);
    case VFIO_MIG_STATE_PRE_COPY_P2P:
        return to == VFIO_MIG_STATE_PRE_COPY ||
               to == VFIO_MIG_STATE_RUNNING_P2P ||
               to == VFIO_MIG_STATE_STOP_COPY;
    default:
        return false;
    }
}

/* Breadth-first over the 8 states: the first step of a shortest path. */
VFIOMigState vfio_mig_next_state(VFIOMigState cur, VFIOMigState target,
                                 uint64_t flags)
{
    VFIOMigState first[VFIO_MIG_STATE__MAX];
    bool seen[VFIO_MIG_STATE__MAX] = { false };
    VFIOMigState queue[VFIO_MIG_STATE__MAX];
    unsigned head = 0, tail = 0;

    if ((unsigned)cur >= VFIO_MIG_STATE__MAX || cur == target ||
        !vfio_mig_state_supported(target, flags)) {
        return VFIO_MIG_STATE_ERROR;
    }
    seen[cur] = true;
    queue[tail++] = cur;
    while (head < tail) {
        VFIOMigState s = queue[head++];

        for (int n = 0; n < VFIO_MIG_STATE__MAX; n++) {
            if (seen[n] || !vfio_mig_arc(s, n, flags)) {
                continue;
            }
            seen[n] = true;
            first[n] = s == cur ? (VFIOMigState)n : first[s];
            if (n == (int)target) {
                return first[n];
            }
            queue[tail++] = n;
        }
    }
    return VFIO_MIG_STATE_ERROR;
}

/* ---- state changes on a device ---- */

void vfio_device_init_common(VFIODevice *vdev)
{
    g_mutex_init(&vdev->lock);
    g_mutex_init(&vdev->mf_lock);
    g_cond_init(&vdev->mf_cond);
    vdev->state = VFIO_MIG_STATE_RUNNING;
}

void vfio_device_finalize(VFIODevice *vdev)
{
    g_mutex_clear(&vdev->lock);
    g_mutex_clear(&vdev->mf_lock);
    g_cond_clear(&vdev->mf_cond);
    g_clear_pointer(&vdev->mig_error, error_free);
    g_free(vdev->config);
    g_free(vdev->name);
}

void vfio_mig_set_error_locked(VFIODevice *vdev, Error *err)
{
    if (vdev->mig_error) {
        error_free(err);
    } else {
        vdev->mig_error = err;
    }
}

static bool vfio_mig_walk(VFIODevice *vdev, VFIOMigState target,
                          Error **errp)
{
    /* A path is at most 4 arcs; a device that keeps moving is broken. */
    for (int steps = 0; vdev->state != target; steps++) {
        VFIOMigState next = vfio_mig_next_state(vdev->state, target,
                                                vdev->mig_flags);

        if (next == VFIO_MIG_STATE_ERROR || steps >= VFIO_MIG_STATE__MAX) {
            error_setg(errp, "%s: no device state transition from %s to %s",
                       vdev->name, vfio_mig_state_name(vdev->state),
                       vfio_mig_state_name(target));
            return false;
        }
        trace_vfio_mig_arc(vdev->name, vfio_mig_state_name(vdev->state),
                           vfio_mig_state_name(next));
        if (!vdev->ops->set_state(vdev, next, errp)) {
            error_prepend(errp, "%s: device state %s -> %s failed: ",
                          vdev->name, vfio_mig_state_name(vdev->state),
                          vfio_mig_state_name(next));
            return false;
        }
        vdev->state = next;
    }
    return true;
}

/* After a failed arc: where the device is now, ERROR if unknown. */
static void vfio_mig_refresh_state(VFIODevice *vdev)
{
    VFIOMigState s = VFIO_MIG_STATE_ERROR;
    Error *err = NULL;

    if (!vdev->ops->get_state || !vdev->ops->get_state(vdev, &s, &err) ||
        (unsigned)s >= VFIO_MIG_STATE__MAX) {
        error_free(err);
        s = VFIO_MIG_STATE_ERROR;
    }
    vdev->state = s;
}

static void vfio_mig_reset(VFIODevice *vdev)
{
    Error *err = NULL;

    if (vdev->ops->reset && vdev->ops->reset(vdev, &err)) {
        vdev->state = VFIO_MIG_STATE_RUNNING;
        trace_vfio_mig_reset(vdev->name, "ok");
        return;
    }
    trace_vfio_mig_reset(vdev->name, err ? error_get_pretty(err) : "none");
    error_free(err);
    vdev->state = VFIO_MIG_STATE_ERROR;
}

bool vfio_mig_set_state_locked(VFIODevice *vdev, VFIOMigState target,
                               VFIOMigState recover, Error **errp)
{
    Error *err = NULL;

    if (vfio_mig_walk(vdev, target, errp)) {
        return true;
    }
    vfio_mig_refresh_state(vdev);
    if (recover != VFIO_MIG_STATE_ERROR &&
        vdev->state != VFIO_MIG_STATE_ERROR &&
        vfio_mig_walk(vdev, recover, &err)) {
        trace_vfio_mig_recovered(vdev->name, vfio_mig_state_name(recover));
        return false;
    }
    error_free(err);
    vfio_mig_refresh_state(vdev);
    /* Unknown or ERROR: only a reset brings it back (to RUNNING). */
    vfio_mig_reset(vdev);
    return false;
}

bool vfio_mig_set_state(VFIODevice *vdev, VFIOMigState target,
                        VFIOMigState recover, Error **errp)
{
    bool ok;

    g_mutex_lock(&vdev->lock);
    ok = vfio_mig_set_state_locked(vdev, target, recover, errp);
    g_mutex_unlock(&vdev->lock);
    return ok;
}

/* ---- source: the section ---- */

/* Refresh the precopy and stop-copy sizes the pending counts use. */
static void vfio_mig_update_sizes_locked(VFIODevice *vdev)
{
    Error *err = NULL;

    if (vfio_mig_state_is_precopy(vdev->state) &&
        vdev->ops->get_precopy_info &&
        !vdev->ops->get_precopy_info(vdev, &vdev->precopy_init,
                                     &vdev->precopy_dirty, &err)) {
        vfio_mig_set_error_locked(vdev, err);
        err = NULL;
    }
    if (vdev->ops->get_stop_copy_size &&
        !vdev->ops->get_stop_copy_size(vdev, &vdev->stop_copy_size, &err)) {
        /* Only an estimate: a device may not offer it. */
        error_free(err);
        vdev->stop_copy_size = 0;
    }
}

bool vfio_save_setup(QEMUFile *f, void *opaque, Error **errp)
{
    VFIODevice *vdev = opaque;
    bool ok = true;

    if (!(vdev->mig_flags & VFIO_MIG_CAP_STOP_COPY)) {
        error_setg(errp, "%s: the device does not support migration (no "
                   "STOP_COPY state)", vdev->name);
        return false;
    }
    if (vdev->mf_mode == VFIO_MULTIFD_ON &&
        (!vdev->mf || !vdev->mf->send_active(vdev))) {
        error_setg(errp, "%s: x-migration-multifd-transfer=on needs the "
                   "multifd capability (over tcp: or unix:)", vdev->name);
        return false;
    }
    g_mutex_lock(&vdev->lock);
    vdev->mf_send = vdev->mf && vdev->mf_mode != VFIO_MULTIFD_OFF &&
                    vdev->mf->send_active(vdev);
    vdev->saving = true;
    __atomic_store_n(&vdev->bytes_saved, 0, __ATOMIC_RELAXED);
    vdev->precopy_init = vdev->precopy_dirty = vdev->stop_copy_size = 0;
    g_clear_pointer(&vdev->mig_error, error_free);
    qemu_put_be64(f, VFIO_MIG_FLAG_DEV_SETUP_STATE);
    /* A stopped VM keeps its device stopped; only a running one precopies. */
    if ((vdev->mig_flags & VFIO_MIG_CAP_PRE_COPY) &&
        vdev->state == VFIO_MIG_STATE_RUNNING) {
        ok = vfio_mig_set_state_locked(vdev, VFIO_MIG_STATE_PRE_COPY,
                                       VFIO_MIG_STATE_RUNNING, errp);
    }
    if (ok) {
        vfio_mig_update_sizes_locked(vdev);
    }
    trace_vfio_save_setup(vdev->name, vfio_mig_state_name(vdev->state),
                          vdev->precopy_init, vdev->precopy_dirty);
    g_mutex_unlock(&vdev->lock);
    qemu_put_be64(f, VFIO_MIG_FLAG_END_OF_STATE);
    return ok;
}

/* One buffer of switchover data to a multifd channel, as index @idx. */
static bool vfio_save_multifd_buffer(VFIODevice *vdev, uint8_t *buf,
                                     size_t n, uint32_t idx, Error **errp)
{
    stl_be_p(buf, idx);
    stl_be_p(buf + 4, 0);
    trace_vfio_save_multifd_buffer(vdev->name, idx, n);
    return vdev->mf->send_buffer(vdev, buf, VFIO_MIG_MULTIFD_HDR + n, errp);
}

/*
 * At most this many chunks per precopy round, so that a device that
 * produces data as fast as it is read (state that keeps changing) cannot
 * keep the migration thread from the other sections when no rate limit
 * applies.
 */
#define VFIO_MIG_ROUND_CHUNKS 8

/*
 * Move device data into @f as DEV_DATA_STATE chunks until the device has
 * nothing more (1), or on failure (-1).  A precopy round (@budget > 0)
 * also ends (0) at @f's rate limit or once @budget bytes are sent.  With
 * @mf_count, the chunks go to multifd channels instead, counted there.
 * The lock is held for each device read, not for the stream write.
 */
static int vfio_save_chunks(QEMUFile *f, VFIODevice *vdev, uint64_t budget,
                            uint32_t *mf_count, Error **errp)
{
    size_t room = mf_count ? VFIO_MIG_MULTIFD_CHUNK : VFIO_MIG_DATA_CHUNK;
    size_t hdr = mf_count ? VFIO_MIG_MULTIFD_HDR : 0;
    g_autofree uint8_t *mem = g_malloc(hdr + room);
    uint8_t *buf = mem + hdr;

    for (uint64_t sent = 0; ; ) {
        ssize_t n;

        if (budget && (qemu_file_rate_limit(f) || sent >= budget)) {
            return 0;
        }
        g_mutex_lock(&vdev->lock);
        if (vdev->mig_error) {
            error_propagate(errp, error_copy(vdev->mig_error));
            n = -1;
        } else if (!vfio_mig_state_is_saving(vdev->state)) {
            n = 0;      /* stopped by "stop" and resumed: nothing to read */
        } else {
            n = vdev->ops->read_data(vdev, buf, room, errp);
        }
        if (n > 0) {
            __atomic_fetch_add(&vdev->bytes_saved, n, __ATOMIC_RELAXED);
        }
        g_mutex_unlock(&vdev->lock);
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            return 1;
        }
        if ((size_t)n > room) {
            error_setg(errp, "%s: device returned %zd bytes for a %zu byte "
                       "read", vdev->name, n, room);
            return -1;
        }
        if (mf_count) {
            if (*mf_count >= VFIO_MIG_MULTIFD_MAX_BUFFERS - 1 ||
                !vfio_save_multifd_buffer(vdev, mem, n, (*mf_count)++,
                                          errp)) {
                if (errp && !*errp) {
                    error_setg(errp, "%s: device state too large for "
                               "multifd", vdev->name);
                }
                return -1;
            }
            continue;
        }
        trace_vfio_save_chunk(vdev->name, n);
        sent += n;
        qemu_put_be64(f, VFIO_MIG_FLAG_DEV_DATA_STATE);
        qemu_put_be64(f, n);
        qemu_put_buffer(f, buf, n);
        if (qemu_file_get_error_obj(f, errp)) {
            return -1;
        }
    }
}

int vfio_save_iterate(QEMUFile *f, void *opaque)
{
    VFIODevice *vdev = opaque;
    Error *err = NULL;
    uint64_t budget;
    int ret;

    /*
     * What the device said it had when the round began (QEMU reads about
     * that much per round too): data it produces meanwhile waits for the
     * next round, after the other sections had theirs.
     */
    g_mutex_lock(&vdev->lock);
    budget = vdev->precopy_init + vdev->precopy_dirty;
    g_mutex_unlock(&vdev->lock);
    budget = MIN(MAX(budget, VFIO_MIG_DATA_CHUNK),
                 (uint64_t)VFIO_MIG_ROUND_CHUNKS * VFIO_MIG_DATA_CHUNK);
    ret = vfio_save_chunks(f, vdev, budget, NULL, &err);
    g_mutex_lock(&vdev->lock);
    if (ret >= 0) {
        vfio_mig_update_sizes_locked(vdev);
    }
    if (ret < 0) {
        vfio_mig_set_error_locked(vdev, err);
        err = NULL;
    }
    trace_vfio_save_iterate(vdev->name, ret, vdev->precopy_init,
                            vdev->precopy_dirty);
    g_mutex_unlock(&vdev->lock);
    qemu_put_be64(f, VFIO_MIG_FLAG_END_OF_STATE);
    if (ret < 0) {
        qemu_file_set_error(f, -EIO);
        return -EIO;
    }
    return ret;
}

/*
 * Switchover data over multifd: every buffer queued and written before
 * the main stream says how many there were, so the destination's wait
 * for them ends.
 */
static bool vfio_save_complete_multifd(QEMUFile *f, VFIODevice *vdev,
                                       Error **errp)
{
    uint32_t count = 0;

    /* Flushed first: the destination's loader waits for it. */
    qemu_put_be64(f, VFIO_MIG_FLAG_DEV_MULTIFD_START);
    qemu_fflush(f);
    if (vfio_save_chunks(f, vdev, 0, &count, errp) <= 0 ||
        !vdev->mf->send_flush(vdev, errp)) {
        return false;
    }
    qemu_put_be64(f, VFIO_MIG_FLAG_DEV_MULTIFD_STATE);
    qemu_put_be32(f, count);
    trace_vfio_save_multifd_done(vdev->name, count);
    return true;
}

bool vfio_save_complete_precopy(QEMUFile *f, void *opaque, Error **errp)
{
    VFIODevice *vdev = opaque;
    bool ok = true;

    g_mutex_lock(&vdev->lock);
    if (vdev->mig_error) {
        error_propagate(errp, error_copy(vdev->mig_error));
        ok = false;
    } else if (vdev->state != VFIO_MIG_STATE_STOP_COPY) {
        /* The VM was stopped before the migration: STOP -> STOP_COPY. */
        ok = vfio_mig_set_state_locked(vdev, VFIO_MIG_STATE_STOP_COPY,
                                       VFIO_MIG_STATE_STOP, errp);
    }
    g_mutex_unlock(&vdev->lock);
    if (ok && vdev->mf_send) {
        ok = vfio_save_complete_multifd(f, vdev, errp);
    } else {
        ok = ok && vfio_save_chunks(f, vdev, 0, NULL, errp) > 0;
    }
    if (ok) {
        /* Last: it tells the destination the device data is complete. */
        qemu_put_be64(f, VFIO_MIG_FLAG_DEV_CONFIG_STATE);
        qemu_put_be32(f, vdev->config_len);
        qemu_put_buffer(f, vdev->config, vdev->config_len);
        qemu_put_be64(f, VFIO_MIG_FLAG_END_OF_STATE);
    }
    trace_vfio_save_complete(vdev->name, ok,
                             __atomic_load_n(&vdev->bytes_saved,
                                             __ATOMIC_RELAXED));
    return ok;
}

static void vfio_state_pending(VFIODevice *vdev, bool exact, uint64_t *must)
{
    uint64_t left;

    g_mutex_lock(&vdev->lock);
    if (exact) {
        vfio_mig_update_sizes_locked(vdev);
    }
    /*
     * What must reach the destination before its guest can run: the
     * precopy data not yet read, or the device's stop-copy estimate if
     * that is larger.  Device state cannot be sent in postcopy.
     */
    left = MAX(vdev->precopy_init + vdev->precopy_dirty,
               vdev->stop_copy_size);
    g_mutex_unlock(&vdev->lock);
    *must += left;
}

void vfio_state_pending_estimate(void *opaque, uint64_t *must,
                                 uint64_t *can)
{
    vfio_state_pending(opaque, false, must);
}

void vfio_state_pending_exact(void *opaque, uint64_t *must, uint64_t *can)
{
    vfio_state_pending(opaque, true, must);
}

void vfio_save_cleanup(void *opaque)
{
    VFIODevice *vdev = opaque;
    Error *err = NULL;
    VFIOMigState target = vdev->state;

    g_mutex_lock(&vdev->lock);
    /* End the data session: a running device runs on, a stopped one stops. */
    if (vfio_mig_state_is_precopy(vdev->state)) {
        target = VFIO_MIG_STATE_RUNNING;
    } else if (vdev->state == VFIO_MIG_STATE_STOP_COPY) {
        target = VFIO_MIG_STATE_STOP;
    }
    if (target != vdev->state &&
        !vfio_mig_set_state_locked(vdev, target, VFIO_MIG_STATE_ERROR,
                                   &err)) {
        warn_report("%s", error_get_pretty(err));
        error_free(err);
    }
    vdev->saving = false;
    vdev->mf_send = false;
    vdev->precopy_init = vdev->precopy_dirty = vdev->stop_copy_size = 0;
    trace_vfio_save_cleanup(vdev->name, vfio_mig_state_name(vdev->state));
    g_mutex_unlock(&vdev->lock);
}

/* ---- destination: switchover data from multifd channels ---- */

/* mf_lock held: the first error wins; everyone waiting wakes. */
static void vfio_mf_fail_locked(VFIODevice *vdev, Error *err)
{
    if (vdev->mf_error) {
        error_free(err);
    } else {
        vdev->mf_error = err;
    }
    g_cond_broadcast(&vdev->mf_cond);
}

/*
 * The loader thread: once the main stream opened the switchover data
 * (DEV_MULTIFD_START, after the device's precopy data), writes buffer
 * mf_next to the device as soon as it is there, until mf_expected have
 * been written, a failure, or quit.  Device
 * writes happen under vdev->lock without mf_lock, so channels keep
 * queueing meanwhile.
 */
static gpointer vfio_mf_loader(gpointer opaque)
{
    VFIODevice *vdev = opaque;

    g_mutex_lock(&vdev->mf_lock);
    for (;;) {
        GByteArray *b;
        Error *err = NULL;
        uint32_t idx;
        bool ok;

        while (!vdev->mf_quit && !vdev->mf_error &&
               vdev->mf_next != vdev->mf_expected &&
               (!vdev->mf_open ||
                !g_hash_table_contains(vdev->mf_bufs,
                                       GUINT_TO_POINTER(vdev->mf_next)))) {
            g_cond_wait(&vdev->mf_cond, &vdev->mf_lock);
        }
        if (vdev->mf_quit || vdev->mf_error ||
            vdev->mf_next == vdev->mf_expected) {
            break;
        }
        g_hash_table_steal_extended(vdev->mf_bufs,
                                    GUINT_TO_POINTER(vdev->mf_next), NULL,
                                    (gpointer *)&b);
        /* Taken: from now on a second copy of it counts as a duplicate. */
        idx = vdev->mf_next++;
        g_mutex_unlock(&vdev->mf_lock);

        g_mutex_lock(&vdev->lock);
        if (vdev->state != VFIO_MIG_STATE_RESUMING || vdev->config_loaded) {
            error_setg(&err, "device data after the end of the device "
                       "state");
            ok = false;
        } else {
            ok = vdev->ops->write_data(vdev, b->data, b->len, &err);
        }
        g_mutex_unlock(&vdev->lock);
        trace_vfio_load_multifd_buffer(vdev->name, idx, b->len, ok);

        g_mutex_lock(&vdev->mf_lock);
        vdev->mf_queued -= b->len;
        g_byte_array_unref(b);
        if (!ok) {
            vfio_mf_fail_locked(vdev, err);
            break;
        }
        vdev->mf_done++;
        g_cond_broadcast(&vdev->mf_cond);
    }
    g_mutex_unlock(&vdev->mf_lock);
    return NULL;
}

static void vfio_mf_start(VFIODevice *vdev)
{
    g_mutex_lock(&vdev->mf_lock);
    vdev->mf_bufs = g_hash_table_new_full(NULL, NULL, NULL,
                                          (GDestroyNotify)g_byte_array_unref);
    vdev->mf_queued = 0;
    vdev->mf_next = vdev->mf_done = 0;
    vdev->mf_expected = UINT32_MAX;
    vdev->mf_quit = false;
    vdev->mf_open = false;
    g_clear_pointer(&vdev->mf_error, error_free);
    vdev->mf_loading = true;
    g_mutex_unlock(&vdev->mf_lock);
    vdev->mf_thread = g_thread_new("vfio-mf-load", vfio_mf_loader, vdev);
}

static void vfio_mf_stop(VFIODevice *vdev)
{
    if (!vdev->mf_thread) {
        return;
    }
    g_mutex_lock(&vdev->mf_lock);
    vdev->mf_quit = true;
    vdev->mf_loading = false;
    g_cond_broadcast(&vdev->mf_cond);
    g_mutex_unlock(&vdev->mf_lock);
    g_thread_join(vdev->mf_thread);
    vdev->mf_thread = NULL;
    g_mutex_lock(&vdev->mf_lock);
    g_clear_pointer(&vdev->mf_bufs, g_hash_table_unref);
    g_clear_pointer(&vdev->mf_error, error_free);
    g_mutex_unlock(&vdev->mf_lock);
}

bool vfio_load_state_buffer(void *opaque, const uint8_t *buf, size_t len,
                            Error **errp)
{
    VFIODevice *vdev = opaque;
    uint32_t idx, flags;
    Error *err = NULL;

    if (len <= VFIO_MIG_MULTIFD_HDR ||
        len - VFIO_MIG_MULTIFD_HDR > VFIO_MIG_MULTIFD_CHUNK) {
        error_setg(errp, "%s: multifd device state buffer of %zu bytes "
                   "(%d to %d)", vdev->name, len, VFIO_MIG_MULTIFD_HDR + 1,
                   VFIO_MIG_MULTIFD_HDR + VFIO_MIG_MULTIFD_CHUNK);
        return false;
    }
    idx = ldl_be_p(buf);
    flags = ldl_be_p(buf + 4);
    g_mutex_lock(&vdev->mf_lock);
    if (!vdev->mf_loading) {
        error_setg(&err, "%s: device state over multifd, but multifd is "
                   "not on here", vdev->name);
    } else if (flags) {
        error_setg(&err, "%s: multifd buffer %u with unknown flags 0x%x",
                   vdev->name, idx, flags);
    } else if (idx < vdev->mf_next || idx >= VFIO_MIG_MULTIFD_MAX_BUFFERS ||
               idx >= vdev->mf_expected ||
               g_hash_table_contains(vdev->mf_bufs, GUINT_TO_POINTER(idx))) {
        error_setg(&err, "%s: multifd buffer %u is a duplicate or out of "
                   "range", vdev->name, idx);
    } else if (vdev->mf_queued + len > VFIO_MIG_MULTIFD_QUEUED) {
        error_setg(&err, "%s: more than %d bytes of device state queued "
                   "ahead of buffer %u", vdev->name, VFIO_MIG_MULTIFD_QUEUED,
                   vdev->mf_next);
    } else {
        GByteArray *b = g_byte_array_sized_new(len - VFIO_MIG_MULTIFD_HDR);

        g_byte_array_append(b, buf + VFIO_MIG_MULTIFD_HDR,
                            len - VFIO_MIG_MULTIFD_HDR);
        g_hash_table_insert(vdev->mf_bufs, GUINT_TO_POINTER(idx), b);
        vdev->mf_queued += b->len;
        g_cond_broadcast(&vdev->mf_cond);
    }
    if (err && vdev->mf_loading) {
        vfio_mf_fail_locked(vdev, error_copy(err));
    }
    g_mutex_unlock(&vdev->mf_lock);
    if (err) {
        error_propagate(errp, err);
        return false;
    }
    return true;
}

/*
 * DEV_MULTIFD_START: the loader may write the buffers from now on.  Called
 * with vdev->lock held, dropped around mf_lock (never both held).
 */
static bool vfio_load_multifd_open(VFIODevice *vdev, Error **errp)
{
    bool ok;

    if (vdev->config_loaded || vdev->state != VFIO_MIG_STATE_RESUMING) {
        error_setg(errp, "device data after the end of the device state");
        return false;
    }
    g_mutex_unlock(&vdev->lock);
    g_mutex_lock(&vdev->mf_lock);
    ok = vdev->mf_loading;
    if (ok) {
        vdev->mf_open = true;
        g_cond_broadcast(&vdev->mf_cond);
    } else {
        error_setg(errp, "device state over multifd, but multifd is not on "
                   "here");
    }
    g_mutex_unlock(&vdev->mf_lock);
    g_mutex_lock(&vdev->lock);
    return ok;
}

/*
 * DEV_MULTIFD_STATE: @count buffers were sent; wait until the loader has
 * written them all.  Called with vdev->lock held, which the wait drops
 * (the loader needs it).  Bounded: a stall of VFIO_MF_STALL_S without
 * progress, or a failed channel, ends it.
 */
#define VFIO_MF_STALL_S 60

static bool vfio_load_multifd_wait(QEMUFile *f, VFIODevice *vdev,
                                   Error **errp)
{
    uint32_t count = qemu_get_be32(f);
    uint32_t last = 0;
    gint64 deadline = g_get_monotonic_time() +
                      VFIO_MF_STALL_S * G_TIME_SPAN_SECOND;
    bool ok = true;

    if (qemu_file_get_error_obj(f, errp)) {
        return false;
    }
    if (vdev->config_loaded || vdev->state != VFIO_MIG_STATE_RESUMING) {
        error_setg(errp, "device data after the end of the device state");
        return false;
    }
    g_mutex_unlock(&vdev->lock);
    g_mutex_lock(&vdev->mf_lock);
    if (!vdev->mf_loading || vdev->mf_expected != UINT32_MAX ||
        count >= VFIO_MIG_MULTIFD_MAX_BUFFERS || count < vdev->mf_next) {
        error_setg(errp, "%u multifd buffers announced, which cannot be "
                   "right here (multifd %s, %u already loaded)", count,
                   vdev->mf_loading ? "on" : "off", vdev->mf_next);
        ok = false;
        goto out;
    }
    vdev->mf_expected = count;
    vdev->mf_open = true;
    g_cond_broadcast(&vdev->mf_cond);
    while (!vdev->mf_error && vdev->mf_done < count) {
        if (vdev->mf->recv_failed(vdev)) {
            error_setg(errp, "a multifd channel failed before the device "
                       "state arrived");
            ok = false;
            goto out;
        }
        if (vdev->mf_done != last) {
            last = vdev->mf_done;
            deadline = g_get_monotonic_time() +
                       VFIO_MF_STALL_S * G_TIME_SPAN_SECOND;
        }
        if (g_get_monotonic_time() > deadline) {
            error_setg(errp, "multifd device state stalled at buffer %u of "
                       "%u for %d s", vdev->mf_done, count, VFIO_MF_STALL_S);
            ok = false;
            goto out;
        }
        g_cond_wait_until(&vdev->mf_cond, &vdev->mf_lock,
                          g_get_monotonic_time() + G_TIME_SPAN_SECOND / 10);
    }
    if (vdev->mf_error) {
        error_propagate(errp, error_copy(vdev->mf_error));
        ok = false;
    }
    trace_vfio_load_multifd_done(vdev->name, count, ok);
out:
    g_mutex_unlock(&vdev->mf_lock);
    g_mutex_lock(&vdev->lock);
    return ok;
}

/* ---- destination ---- */

bool vfio_load_setup(QEMUFile *f, void *opaque, Error **errp)
{
    VFIODevice *vdev = opaque;
    bool ok;

    if (!(vdev->mig_flags & VFIO_MIG_CAP_STOP_COPY)) {
        error_setg(errp, "%s: the device does not support migration (no "
                   "RESUMING state)", vdev->name);
        return false;
    }
    g_mutex_lock(&vdev->lock);
    vdev->config_loaded = false;
    if (vdev->state == VFIO_MIG_STATE_RESUMING ||
        vdev->state == VFIO_MIG_STATE_ERROR) {
        /* A load that failed before: only a reset aborts its session. */
        vfio_mig_reset(vdev);
    }
    ok = vfio_mig_set_state_locked(vdev, VFIO_MIG_STATE_RESUMING,
                                   VFIO_MIG_STATE_ERROR, errp);
    trace_vfio_load_setup(vdev->name, ok);
    g_mutex_unlock(&vdev->lock);
    if (ok && vdev->mf && vdev->mf->recv_active(vdev)) {
        vfio_mf_start(vdev);
    }
    return ok;
}

/* DEV_CONFIG_STATE: the source device must be the same kind as ours. */
static bool vfio_load_config(QEMUFile *f, VFIODevice *vdev, Error **errp)
{
    uint32_t len = qemu_get_be32(f);
    g_autofree uint8_t *buf = NULL;

    if (qemu_file_get_error_obj(f, errp)) {
        return false;
    }
    if (len > VFIO_MIG_CONFIG_MAX) {
        error_setg(errp, "config record of %u bytes (at most %d)", len,
                   VFIO_MIG_CONFIG_MAX);
        return false;
    }
    buf = g_malloc(len + 1);
    if (qemu_get_buffer(f, buf, len) != len) {
        qemu_file_get_error_obj(f, errp);
        if (errp && !*errp) {
            error_setg(errp, "config record truncated");
        }
        return false;
    }
    if (len != vdev->config_len || memcmp(buf, vdev->config, len)) {
        error_setg(errp, "the source device is not the same kind as this "
                   "one (device identity differs)");
        return false;
    }
    if (vdev->config_loaded) {
        error_setg(errp, "second config record");
        return false;
    }
    vdev->config_loaded = true;
    return true;
}

static bool vfio_load_data(QEMUFile *f, VFIODevice *vdev, uint8_t *buf,
                           Error **errp)
{
    uint64_t len = qemu_get_be64(f);

    if (qemu_file_get_error_obj(f, errp)) {
        return false;
    }
    if (len == 0 || len > VFIO_MIG_DATA_CHUNK) {
        error_setg(errp, "data chunk of %" PRIu64 " bytes (1 to %d)", len,
                   VFIO_MIG_DATA_CHUNK);
        return false;
    }
    if (vdev->config_loaded || vdev->state != VFIO_MIG_STATE_RESUMING) {
        error_setg(errp, "device data after the end of the device state");
        return false;
    }
    if (qemu_get_buffer(f, buf, len) != len) {
        qemu_file_get_error_obj(f, errp);
        if (errp && !*errp) {
            error_setg(errp, "data chunk truncated");
        }
        return false;
    }
    trace_vfio_load_chunk(vdev->name, len);
    return vdev->ops->write_data(vdev, buf, len, errp);
}

/*
 * The end of the last section: the device checks what it was given when
 * it leaves RESUMING, so bad device data fails the migration here, before
 * the guest could run.
 */
static bool vfio_load_finish(VFIODevice *vdev, Error **errp)
{
    if (!vdev->config_loaded || vdev->state != VFIO_MIG_STATE_RESUMING) {
        return true;
    }
    return vfio_mig_set_state_locked(vdev, VFIO_MIG_STATE_STOP,
                                     VFIO_MIG_STATE_ERROR, errp);
}

static bool vfio_load_state_locked(QEMUFile *f, VFIODevice *vdev,
                                   uint8_t *buf, Error **errp)
{
    for (;;) {
        uint64_t flag = qemu_get_be64(f);

        if (qemu_file_get_error_obj(f, errp)) {
            return false;
        }
        trace_vfio_load_flag(vdev->name, flag);
        switch (flag) {
        case VFIO_MIG_FLAG_END_OF_STATE:
            return vfio_load_finish(vdev, errp);
        case VFIO_MIG_FLAG_DEV_SETUP_STATE:
            break;
        case VFIO_MIG_FLAG_DEV_CONFIG_STATE:
            if (!vfio_load_config(f, vdev, errp)) {
                return false;
            }
            break;
        case VFIO_MIG_FLAG_DEV_DATA_STATE:
            if (!vfio_load_data(f, vdev, buf, errp)) {
                return false;
            }
            break;
        case VFIO_MIG_FLAG_DEV_MULTIFD_START:
        case VFIO_MIG_FLAG_DEV_MULTIFD_STATE:
            if (!vdev->mf) {
                error_setg(errp, "device state over multifd, which this "
                           "device does not take");
                return false;
            }
            if (flag == VFIO_MIG_FLAG_DEV_MULTIFD_START ?
                !vfio_load_multifd_open(vdev, errp) :
                !vfio_load_multifd_wait(f, vdev, errp)) {
                return false;
            }
            break;
        default:
            error_setg(errp, "unknown record 0x%" PRIx64, flag);
            return false;
        }
    }
}

bool vfio_load_state(QEMUFile *f, void *opaque, int version_id,
                     Error **errp)
{
    VFIODevice *vdev = opaque;
    g_autofree uint8_t *buf = g_malloc(VFIO_MIG_DATA_CHUNK);
    bool ok;

    if (version_id != 1) {
        error_setg(errp, "%s: vfio section version %d (expected 1)",
                   vdev->name, version_id);
        return false;
    }
    g_mutex_lock(&vdev->lock);
    ok = vfio_load_state_locked(f, vdev, buf, errp);
    g_mutex_unlock(&vdev->lock);
    if (!ok) {
        error_prepend(errp, "%s: ", vdev->name);
    }
    return ok;
}

void vfio_load_cleanup(void *opaque)
{
    VFIODevice *vdev = opaque;

    vfio_mf_stop(vdev);
    /* A failed load leaves RESUMING: the guest must not run, stay put. */
    trace_vfio_load_cleanup(vdev->name, vfio_mig_state_name(vdev->state));
}

/* ---- run state ---- */

void vfio_vm_state_change(VFIODevice *vdev, bool running,
                          bool finish_migrate)
{
    VFIOMigState target, recover;
    Error *err = NULL;

    g_mutex_lock(&vdev->lock);
    if (running) {
        if (vdev->saving && vdev->state == VFIO_MIG_STATE_STOP_COPY) {
            Error *stale = NULL;

            /* Leaving STOP_COPY ends the session the stream carries. */
            error_setg(&stale, "%s: the VM was resumed while the device "
                       "state was being saved", vdev->name);
            vfio_mig_set_error_locked(vdev, stale);
        }
        target = VFIO_MIG_STATE_RUNNING;
        recover = VFIO_MIG_STATE_ERROR;
    } else {
        /* A saving session continues in STOP_COPY, which is stopped too. */
        target = vdev->saving && (finish_migrate ||
                                  vfio_mig_state_is_precopy(vdev->state)) ?
                 VFIO_MIG_STATE_STOP_COPY : VFIO_MIG_STATE_STOP;
        recover = VFIO_MIG_STATE_STOP;
    }
    trace_vfio_vm_state_change(vdev->name, running,
                               vfio_mig_state_name(vdev->state),
                               vfio_mig_state_name(target));
    if (vdev->state != target &&
        !vfio_mig_set_state_locked(vdev, target, recover, &err)) {
        if (vdev->saving) {
            /* The switchover sees it and fails the migration. */
            vfio_mig_set_error_locked(vdev, err);
        } else {
            error_report_err(err);
        }
    }
    g_mutex_unlock(&vdev->lock);
}
