/*
 * vfio-user-server: migration.  Owns the device's migration state machine
 * (Linux VFIO uAPI v2: the kernel's step table, the states this device
 * offers, the test's injected failures), the saving stream (PRE_COPY:
 * every chunk once, then the chunks changed since; STOP_COPY: what is
 * still dirty and an end record with the state's SHA-256), the resuming
 * stream's parser, and the migration features and MIG_DATA commands that
 * expose them.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "vu-server.h"

/* Migration stream records: an 8-byte head, then a body. */
#define REC_HDR     0x53555651u     /* "QVUS": stream head, 16-byte body */
#define REC_CHUNK   0x4b4e4843u     /* "CHNK": index, chunk bytes */
#define REC_END     0x21444e45u     /* "END!": the state's SHA-256 */
#define STREAM_VER  1

static bool is_precopy(uint32_t s)
{
    return s == VFIO_DEVICE_STATE_PRE_COPY ||
           s == VFIO_DEVICE_STATE_PRE_COPY_P2P;
}

/* ---- the migration stream ---- */

static size_t chunk_rec_size(void)
{
    return 8 + dev.chunk_size;
}

static void out_put(uint32_t tag, uint32_t arg, const void *body, size_t len)
{
    g_byte_array_append(dev.out, (const guint8 *)&tag, 4);
    g_byte_array_append(dev.out, (const guint8 *)&arg, 4);
    g_byte_array_append(dev.out, body, len);
}

/* Start a saving stream; @all: every chunk is to be sent. */
static void save_begin(bool all, bool precopy)
{
    struct {
        uint32_t version, chunk_size;
        uint64_t state_size;
    } head = { STREAM_VER, dev.chunk_size, dev.state_size };
    size_t c;

    g_byte_array_set_size(dev.out, 0);
    dev.out_off = 0;
    dev.out_ended = false;
    for (c = 0; c < dev.nchunks; c++) {
        if (all) {
            dev.dirty[c] = true;
        }
        dev.initial[c] = precopy;
    }
    out_put(REC_HDR, 0, &head, sizeof(head));
}

/* Queue the next record; false when there is nothing to send now. */
static bool save_next_record(void)
{
    size_t i, c;

    /*
     * --always-dirty: the device changes its state at least as fast as
     * it is read, as a busy device may; its precopy data never runs out.
     */
    if (dev.always_dirty && is_precopy(dev.mig_state)) {
        state_scribble(1);
    }

    /* Round robin, so chunks changed often do not starve the others. */
    for (i = 0; i < dev.nchunks; i++) {
        c = (dev.cursor + i) % dev.nchunks;
        if (dev.dirty[c]) {
            dev.cursor = c + 1;
            dev.dirty[c] = false;
            dev.initial[c] = false;
            out_put(REC_CHUNK, c, dev.state + c * dev.chunk_size,
                    dev.chunk_size);
            return true;
        }
    }
    if (dev.mig_state == VFIO_DEVICE_STATE_STOP_COPY && !dev.out_ended) {
        uint8_t hash[HASH_LEN];

        state_hash_raw(hash);
        state_hash(dev.saved_hash);
        out_put(REC_END, HASH_LEN, hash, HASH_LEN);
        dev.out_ended = true;
        return true;
    }
    return false;
}

/* Copy up to @max bytes of the saving stream into @buf. */
static size_t save_read(uint8_t *buf, size_t max)
{
    size_t done = 0;

    while (done < max) {
        size_t avail = dev.out->len - dev.out_off, n;

        if (!avail) {
            g_byte_array_set_size(dev.out, 0);
            dev.out_off = 0;
            if (!save_next_record()) {
                break;
            }
            continue;
        }
        n = MIN(avail, max - done);
        memcpy(buf + done, dev.out->data + dev.out_off, n);
        dev.out_off += n;
        done += n;
    }
    return done;
}

static size_t count_chunks(const bool *set, const bool *minus)
{
    size_t c, n = 0;

    for (c = 0; c < dev.nchunks; c++) {
        n += set[c] && !(minus && minus[c]);
    }
    return n;
}

static void load_begin(void)
{
    g_byte_array_set_size(dev.in, 0);
    dev.in_header = false;
    dev.in_complete = false;
    g_clear_pointer(&dev.load_error, g_free);
}

/* Body length of record @tag, or 0 if the tag is not valid here. */
static size_t load_body_len(uint32_t tag)
{
    switch (tag) {
    case REC_HDR:
        return dev.in_header ? 0 : 16;
    case REC_CHUNK:
        return dev.in_header && !dev.in_complete ? dev.chunk_size : 0;
    case REC_END:
        return dev.in_header && !dev.in_complete ? HASH_LEN : 0;
    }
    return 0;
}

/* Apply one whole record; false with dev.load_error set if it is bad. */
static bool load_record(uint32_t tag, uint32_t arg, const uint8_t *body)
{
    uint8_t hash[HASH_LEN];
    uint32_t ver, csize;
    uint64_t ssize;

    switch (tag) {
    case REC_HDR:
        memcpy(&ver, body, 4);
        memcpy(&csize, body + 4, 4);
        memcpy(&ssize, body + 8, 8);
        if (ver != STREAM_VER || csize != dev.chunk_size ||
            ssize != dev.state_size) {
            dev.load_error = g_strdup_printf("stream v%u chunk %u state %"
                                             PRIu64 " does not match this "
                                             "device", ver, csize, ssize);
            return false;
        }
        dev.in_header = true;
        return true;
    case REC_CHUNK:
        if (arg >= dev.nchunks) {
            dev.load_error = g_strdup_printf("chunk %u out of range", arg);
            return false;
        }
        memcpy(dev.state + (size_t)arg * dev.chunk_size, body,
               dev.chunk_size);
        return true;
    default:
        state_hash_raw(hash);
        if (memcmp(hash, body, HASH_LEN)) {
            dev.load_error = g_strdup("state hash differs from the source's");
            return false;
        }
        dev.in_complete = true;
        return true;
    }
}

/* Feed migration data in RESUMING; false once the stream is bad. */
static bool load_write(const uint8_t *data, size_t len)
{
    size_t used = 0;

    if (dev.load_error) {
        return false;
    }
    g_byte_array_append(dev.in, data, len);
    while (dev.in->len - used >= 8) {
        uint32_t tag, arg;
        size_t body;

        memcpy(&tag, dev.in->data + used, 4);
        memcpy(&arg, dev.in->data + used + 4, 4);
        body = load_body_len(tag);
        if (!body) {
            dev.load_error = g_strdup_printf("unexpected record 0x%08x", tag);
            return false;
        }
        if (dev.in->len - used - 8 < body) {
            break;
        }
        if (!load_record(tag, arg, dev.in->data + used + 8)) {
            return false;
        }
        used += 8 + body;
    }
    g_byte_array_remove_range(dev.in, 0, used);
    return true;
}

/* ---- the migration state machine ---- */

#define S(x) VFIO_DEVICE_STATE_##x

/*
 * The kernel's step table (drivers/vfio/vfio_main.c's semantics): the
 * next state on the way from [cur] to [target].  Steps through a state
 * the device does not offer are skipped by walking on from there.
 */
static const uint8_t fsm_next[VFIO_DEVICE_NUM_STATES][VFIO_DEVICE_NUM_STATES] = {
    [S(STOP)] = {
        [S(STOP)] = S(STOP), [S(RUNNING)] = S(RUNNING_P2P),
        [S(PRE_COPY)] = S(RUNNING_P2P), [S(PRE_COPY_P2P)] = S(RUNNING_P2P),
        [S(STOP_COPY)] = S(STOP_COPY), [S(RESUMING)] = S(RESUMING),
        [S(RUNNING_P2P)] = S(RUNNING_P2P), [S(ERROR)] = S(ERROR),
    },
    [S(RUNNING)] = {
        [S(STOP)] = S(RUNNING_P2P), [S(RUNNING)] = S(RUNNING),
        [S(PRE_COPY)] = S(PRE_COPY), [S(PRE_COPY_P2P)] = S(PRE_COPY),
        [S(STOP_COPY)] = S(RUNNING_P2P), [S(RESUMING)] = S(RUNNING_P2P),
        [S(RUNNING_P2P)] = S(RUNNING_P2P), [S(ERROR)] = S(ERROR),
    },
    [S(PRE_COPY)] = {
        [S(STOP)] = S(RUNNING), [S(RUNNING)] = S(RUNNING),
        [S(PRE_COPY)] = S(PRE_COPY), [S(PRE_COPY_P2P)] = S(PRE_COPY_P2P),
        [S(STOP_COPY)] = S(PRE_COPY_P2P), [S(RESUMING)] = S(RUNNING),
        [S(RUNNING_P2P)] = S(RUNNING), [S(ERROR)] = S(ERROR),
    },
    [S(PRE_COPY_P2P)] = {
        [S(STOP)] = S(RUNNING_P2P), [S(RUNNING)] = S(RUNNING_P2P),
        [S(PRE_COPY)] = S(PRE_COPY), [S(PRE_COPY_P2P)] = S(PRE_COPY_P2P),
        [S(STOP_COPY)] = S(STOP_COPY), [S(RESUMING)] = S(RUNNING_P2P),
        [S(RUNNING_P2P)] = S(RUNNING_P2P), [S(ERROR)] = S(ERROR),
    },
    [S(STOP_COPY)] = {
        [S(STOP)] = S(STOP), [S(RUNNING)] = S(STOP),
        [S(PRE_COPY)] = S(ERROR), [S(PRE_COPY_P2P)] = S(ERROR),
        [S(STOP_COPY)] = S(STOP_COPY), [S(RESUMING)] = S(STOP),
        [S(RUNNING_P2P)] = S(STOP), [S(ERROR)] = S(ERROR),
    },
    [S(RESUMING)] = {
        [S(STOP)] = S(STOP), [S(RUNNING)] = S(STOP),
        [S(PRE_COPY)] = S(ERROR), [S(PRE_COPY_P2P)] = S(ERROR),
        [S(STOP_COPY)] = S(STOP), [S(RESUMING)] = S(RESUMING),
        [S(RUNNING_P2P)] = S(STOP), [S(ERROR)] = S(ERROR),
    },
    [S(RUNNING_P2P)] = {
        [S(STOP)] = S(STOP), [S(RUNNING)] = S(RUNNING),
        [S(PRE_COPY)] = S(RUNNING), [S(PRE_COPY_P2P)] = S(PRE_COPY_P2P),
        [S(STOP_COPY)] = S(STOP), [S(RESUMING)] = S(STOP),
        [S(RUNNING_P2P)] = S(RUNNING_P2P), [S(ERROR)] = S(ERROR),
    },
    [S(ERROR)] = { 0 },
};

static bool state_offered(uint32_t s)
{
    bool p2p = dev.mig_flags & VFIO_MIGRATION_P2P;
    bool pre = dev.mig_flags & VFIO_MIGRATION_PRE_COPY;

    switch (s) {
    case S(RUNNING_P2P):
        return p2p;
    case S(PRE_COPY):
        return pre;
    case S(PRE_COPY_P2P):
        return pre && p2p;
    default:
        return s < VFIO_DEVICE_NUM_STATES;
    }
}

/* One direct arc; returns an errno or 0.  The state is updated on 0. */
static int fsm_step(uint32_t from, uint32_t to)
{
    if (from == S(RESUMING) && to == S(STOP)) {
        if (!dev.in_complete) {
            dbg("vfio-user-server: RESUMING->STOP refused: %s\n",
                dev.load_error ? dev.load_error : "stream incomplete");
            return EINVAL;
        }
        state_hash(dev.loaded_hash);
        dev.verify_on_run = true;
    }
    if (to == S(STOP_COPY) && !is_precopy(from)) {
        save_begin(true, false);
    }
    if (is_precopy(to) && !is_precopy(from)) {
        save_begin(true, true);
    }
    if (to == S(RESUMING)) {
        load_begin();
    }
    if ((to == S(RUNNING) || to == S(RUNNING_P2P)) && dev.verify_on_run) {
        g_free(dev.verify_result);
        dev.verify_result = dma_check();
        dev.verify_on_run = false;
    }
    dev.mig_state = to;
    g_cond_signal(&dev.wake);
    return 0;
}

/* Walk from the current state to @target; returns an errno or 0. */
static int fsm_set(uint32_t target)
{
    if (target >= VFIO_DEVICE_NUM_STATES || target == S(ERROR) ||
        !state_offered(target) || dev.mig_state == S(ERROR)) {
        return EINVAL;
    }
    if ((dev.fail_target == -2 || dev.fail_target == (int)target) &&
        (dev.fail_from == -1 || dev.fail_from == (int)dev.mig_state)) {
        dev.fail_target = -1;
        if (dev.fail_to_error) {
            dev.mig_state = S(ERROR);
        }
        return EIO;
    }
    while (dev.mig_state != target) {
        uint32_t next = fsm_next[dev.mig_state][target];
        int err;

        while (next != S(ERROR) && next != target && !state_offered(next)) {
            next = fsm_next[next][target];
        }
        if (next == S(ERROR)) {
            return EINVAL;
        }
        err = fsm_step(dev.mig_state, next);
        if (err) {
            return err;
        }
    }
    return 0;
}

#undef S

/* ---- commands ---- */

/* DEVICE_RESET: running again, no stream in either direction. */
void mig_reset(void)
{
    dev.mig_state = VFIO_DEVICE_STATE_RUNNING;
    g_byte_array_set_size(dev.out, 0);
    dev.out_off = 0;
    load_begin();
}

int feat_migration(VFIOUserDeviceFeature *f, bool get, Reply *r)
{
    VFIOUserFeatureMigration mig = { .flags = dev.mig_flags };

    if (!get) {
        return EINVAL;
    }
    feature_reply(r, f, &mig, sizeof(mig));
    return 0;
}

int feat_mig_state(VFIOUserDeviceFeature *f, size_t dlen, bool get,
                   Reply *r)
{
    VFIOUserFeatureMigState st;
    int err;

    if (get) {
        st = (VFIOUserFeatureMigState) { dev.mig_state, -1 };
        feature_reply(r, f, &st, sizeof(st));
        return 0;
    }
    if (dlen < sizeof(st)) {
        return EINVAL;
    }
    memcpy(&st, f->data, sizeof(st));
    dbg("vfio-user-server: %s -> %s\n", vfio_user_mig_state_name(dev.mig_state),
        vfio_user_mig_state_name(st.device_state));
    err = fsm_set(st.device_state);
    if (err) {
        return err;
    }
    st.data_fd = -1;
    feature_reply(r, f, &st, sizeof(st));
    return 0;
}

int feat_data_size(VFIOUserDeviceFeature *f, bool get, Reply *r)
{
    bool saving = dev.mig_state == VFIO_DEVICE_STATE_STOP_COPY ||
                  is_precopy(dev.mig_state);
    size_t chunks = saving ? count_chunks(dev.dirty, NULL) : dev.nchunks;
    VFIOUserFeatureMigDataSize sz = {
        .stop_copy_length = 24 + chunks * chunk_rec_size() + 8 + HASH_LEN,
    };

    if (!get) {
        return EINVAL;
    }
    feature_reply(r, f, &sz, sizeof(sz));
    return 0;
}

int feat_precopy_info(VFIOUserDeviceFeature *f, bool get, Reply *r)
{
    VFIOUserFeaturePrecopyInfo info = { .argsz = sizeof(info) };
    size_t pending = dev.out->len - dev.out_off;

    if (!get || !is_precopy(dev.mig_state)) {
        return EINVAL;
    }
    info.initial_bytes = count_chunks(dev.initial, NULL) * chunk_rec_size();
    info.dirty_bytes = count_chunks(dev.dirty, dev.initial) *
                       chunk_rec_size();
    if (info.initial_bytes) {
        info.initial_bytes += pending;
    } else {
        info.dirty_bytes += pending;
    }
    feature_reply(r, f, &info, sizeof(info));
    return 0;
}

void cmd_mig_read(VFIOUserMsg *m, Reply *r)
{
    VFIOUserMigData *req = vfio_user_msg_payload(m, sizeof(*req));
    VFIOUserMigData *out;

    if (!req || req->size > MAX_XFER ||
        !(is_precopy(dev.mig_state) ||
          dev.mig_state == VFIO_DEVICE_STATE_STOP_COPY)) {
        r->err = EINVAL;
        return;
    }
    out = g_malloc(sizeof(*out) + req->size);
    out->size = save_read(out->data, req->size);
    out->argsz = sizeof(*out) + out->size;
    r->data = out;
    r->len = sizeof(*out) + out->size;
}

void cmd_mig_write(VFIOUserMsg *m, Reply *r)
{
    VFIOUserMigData *req = vfio_user_msg_payload(m, sizeof(*req));

    if (!req || dev.mig_state != VFIO_DEVICE_STATE_RESUMING ||
        req->size > MAX_XFER || m->len - sizeof(*req) < req->size) {
        r->err = EINVAL;
        return;
    }
    if (!load_write(req->data, req->size)) {
        dbg("vfio-user-server: bad migration data: %s\n", dev.load_error);
        r->err = EINVAL;
        return;
    }
    reply_data(r, req, sizeof(*req));
}

