/*
 * vfio-user-server: a vfio-user device with Linux VFIO migration uAPI v2
 * semantics, for qmig's tests.  See docs/devel/migration/vfio-user-server.md.
 *
 * The device is a state array ("registers", BAR0) that a device thread
 * keeps changing while the device runs, and a DMA engine that writes a
 * sequence record into a window of guest pages (mapped from the fds of
 * DMA_MAP) on every tick.  Its migration stream carries the state in
 * chunks: PRE_COPY sends every chunk once and then the chunks changed
 * since; STOP_COPY sends what is still dirty and an end record with the
 * state's SHA-256.  The first chunk holds the DMA engine's bookkeeping
 * (window, sequence number, the sequence last written to each page), so a
 * destination device can check, before it first runs, that guest memory
 * holds exactly what the source device wrote there.
 *
 * A second socket (--control) takes one-line text commands from the test:
 * "info", "hash", "dma-check", "fail-transition [FROM:]TO [error]",
 * "quit".
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "hw/vfio/vfio-user-msg.h"

#define DEV_MAGIC       0x3156454453555651ULL   /* "QVUSDEV1" */
#define DMA_MAGIC       0x31414d4453555651ULL   /* "QVUSDMA1" */
#define DMA_PAGE        4096
#define DMA_MAX_PAGES   256
#define MAX_MAPS        64
#define MAX_CONTROL     4
#define CONTROL_LINE    256
#define MAX_XFER        (1024 * 1024)

/* Migration stream records: an 8-byte head, then a body. */
#define REC_HDR     0x53555651u     /* "QVUS": stream head, 16-byte body */
#define REC_CHUNK   0x4b4e4843u     /* "CHNK": index, chunk bytes */
#define REC_END     0x21444e45u     /* "END!": the state's SHA-256 */
#define STREAM_VER  1
#define HASH_LEN    32

/* The first chunk of the state: the DMA engine's bookkeeping. */
typedef struct DevCtl {
    uint64_t magic;
    uint64_t dma_iova;      /* first page of the DMA window */
    uint32_t dma_pages;     /* window size in pages, <= DMA_MAX_PAGES */
    uint32_t dma_next;      /* next page to write */
    uint64_t seq;           /* last sequence number written */
    uint64_t page_seq[DMA_MAX_PAGES];   /* per page; 0: never written */
} DevCtl;

typedef struct DmaMap {
    uint64_t iova, size;
    uint8_t *host;          /* NULL: mapped without an fd */
} DmaMap;

typedef struct Device {
    GMutex lock;            /* protects everything below */
    GCond wake;             /* the device thread's tick and shutdown */
    bool quit;

    /* The state and its migration tracking, by chunk. */
    uint8_t *state;
    size_t state_size, chunk_size, nchunks;
    bool *dirty;            /* to be sent in the current saving stream */
    bool *initial;          /* first PRE_COPY pass, not yet sent */
    size_t cursor;          /* where the next dirty-chunk scan starts */
    uint32_t mig_state;     /* enum vfio_device_mig_state */
    uint64_t mig_flags;     /* VFIO_MIGRATION_* offered */

    /* Saving stream: the record being read out, and where we are. */
    GByteArray *out;
    size_t out_off;
    bool out_ended;         /* END written: reads now return 0 */

    /* Resuming stream: bytes of an incomplete record, and progress. */
    GByteArray *in;
    bool in_header, in_complete;
    char *load_error;

    /* DMA. */
    DmaMap maps[MAX_MAPS];
    unsigned nmaps;
    bool logging;
    uint64_t log_page_size;
    VFIOUserDMALoggingRange log_ranges[16];
    unsigned log_nranges;
    bool logged[DMA_MAX_PAGES];     /* pages written since last report */
    uint64_t dma_writes, dma_skipped;
    bool verify_on_run;             /* after RESUMING: check before running */
    char *verify_result;

    /* Test controls and results. */
    int fail_target;        /* -1 none, -2 any, else the state */
    int fail_from;          /* -1 any, else only a SET from this state */
    bool fail_to_error;
    char saved_hash[HASH_LEN * 2 + 1];
    char loaded_hash[HASH_LEN * 2 + 1];
    uint64_t rng;
    bool always_dirty;      /* PRE_COPY data never runs out */
    unsigned dirty_per_tick;
    unsigned tick_us;
} Device;

static Device dev;
static bool verbose;

#define dbg(...) do { if (verbose) { fprintf(stderr, __VA_ARGS__); } } while (0)

/* ---- state ---- */

static DevCtl *dev_ctl(void)
{
    return (DevCtl *)dev.state;
}

static void state_mark(size_t off, size_t len)
{
    size_t c;

    for (c = off / dev.chunk_size; c <= (off + len - 1) / dev.chunk_size;
         c++) {
        dev.dirty[c] = true;
    }
}

static void state_hash(char *hex)
{
    g_autofree char *s = g_compute_checksum_for_data(G_CHECKSUM_SHA256,
                                                     dev.state,
                                                     dev.state_size);

    g_strlcpy(hex, s, HASH_LEN * 2 + 1);
}

static void state_hash_raw(uint8_t *out)
{
    GChecksum *c = g_checksum_new(G_CHECKSUM_SHA256);
    gsize len = HASH_LEN;

    g_checksum_update(c, dev.state, dev.state_size);
    g_checksum_get_digest(c, out, &len);
    g_checksum_free(c);
}

static uint64_t rng_next(void)
{
    dev.rng ^= dev.rng << 13;
    dev.rng ^= dev.rng >> 7;
    dev.rng ^= dev.rng << 17;
    return dev.rng;
}

static bool is_precopy(uint32_t s)
{
    return s == VFIO_DEVICE_STATE_PRE_COPY ||
           s == VFIO_DEVICE_STATE_PRE_COPY_P2P;
}

/* What the device thread does to its state on a tick, minus the DMA. */
static void state_scribble(unsigned words)
{
    unsigned i;

    for (i = 0; i < words && dev.nchunks > 1; i++) {
        size_t off = dev.chunk_size +
            rng_next() % (dev.state_size - dev.chunk_size - 8);
        uint64_t v = rng_next();

        memcpy(dev.state + off, &v, sizeof(v));
        state_mark(off, sizeof(v));
    }
}

/* ---- DMA ---- */

static uint8_t *dma_host(uint64_t iova, uint64_t len)
{
    unsigned i;

    for (i = 0; i < dev.nmaps; i++) {
        DmaMap *m = &dev.maps[i];

        if (m->host && iova >= m->iova && len <= m->size &&
            iova - m->iova <= m->size - len) {
            return m->host + (iova - m->iova);
        }
    }
    return NULL;
}

/* What the device writes into DMA page @page for sequence number @seq. */
static uint64_t dma_word(uint64_t seq, uint32_t page, unsigned w)
{
    switch (w) {
    case 0:
        return DMA_MAGIC;
    case 1:
        return seq;
    case 2:
        return page;
    default:
        return seq * 0x9e3779b97f4a7c15ULL ^ ((uint64_t)page << 32) ^ w;
    }
}

static bool dma_in_log_range(uint64_t iova)
{
    unsigned i;

    for (i = 0; i < dev.log_nranges; i++) {
        VFIOUserDMALoggingRange *r = &dev.log_ranges[i];

        if (iova >= r->iova && iova - r->iova < r->length) {
            return true;
        }
    }
    return false;
}

/*
 * The DMA window's size in pages.  The bookkeeping is device state that a
 * client can write through BAR0 and a migration stream can carry, so it
 * is checked where it is used: a window beyond DMA_MAX_PAGES is no window.
 */
static uint32_t dma_window_pages(void)
{
    DevCtl *ctl = dev_ctl();

    return ctl->dma_pages <= DMA_MAX_PAGES ? ctl->dma_pages : 0;
}

/* One DMA write of the next record; the device is running. */
static void dma_tick(void)
{
    DevCtl *ctl = dev_ctl();
    uint32_t pages = dma_window_pages();
    uint32_t page = ctl->dma_next;
    uint64_t iova, *host;
    unsigned w;

    if (!pages) {
        return;
    }
    if (page >= pages) {
        page = 0;
    }
    iova = ctl->dma_iova + (uint64_t)page * DMA_PAGE;
    host = (uint64_t *)dma_host(iova, DMA_PAGE);
    if (!host) {
        dev.dma_skipped++;
        return;
    }
    ctl->seq++;
    for (w = 0; w < DMA_PAGE / 8; w++) {
        host[w] = dma_word(ctl->seq, page, w);
    }
    ctl->page_seq[page] = ctl->seq;
    ctl->dma_next = (page + 1) % pages;
    state_mark(0, sizeof(*ctl));
    dev.dma_writes++;
    if (dev.logging && dma_in_log_range(iova)) {
        dev.logged[page] = true;
    }
}

/*
 * Does guest memory hold what the DMA bookkeeping says was written last?
 * Returns "ok:N" (N pages checked) or what differs; caller frees.
 */
static char *dma_check(void)
{
    DevCtl *ctl = dev_ctl();
    unsigned page, checked = 0, w;

    for (page = 0; page < dma_window_pages(); page++) {
        uint64_t seq = ctl->page_seq[page];
        const uint64_t *host;

        if (!seq) {
            continue;
        }
        host = (const uint64_t *)dma_host(ctl->dma_iova +
                                          (uint64_t)page * DMA_PAGE,
                                          DMA_PAGE);
        if (!host) {
            return g_strdup_printf("bad:page=%u:unmapped", page);
        }
        for (w = 0; w < DMA_PAGE / 8; w++) {
            if (host[w] != dma_word(seq, page, w)) {
                return g_strdup_printf("bad:page=%u:seq=%" PRIu64
                                       ":found-seq=%" PRIu64, page, seq,
                                       host[1]);
            }
        }
        checked++;
    }
    return g_strdup_printf("ok:%u", checked);
}

static bool dev_running(void)
{
    return dev.mig_state == VFIO_DEVICE_STATE_RUNNING ||
           dev.mig_state == VFIO_DEVICE_STATE_RUNNING_P2P ||
           dev.mig_state == VFIO_DEVICE_STATE_PRE_COPY ||
           dev.mig_state == VFIO_DEVICE_STATE_PRE_COPY_P2P;
}

/* The device thread: while running, change state and DMA every tick. */
static gpointer device_thread(gpointer opaque)
{
    g_mutex_lock(&dev.lock);
    while (!dev.quit) {
        gint64 until = g_get_monotonic_time() + dev.tick_us;

        if (dev_running()) {
            state_scribble(dev.dirty_per_tick);
            dma_tick();
        }
        g_cond_wait_until(&dev.wake, &dev.lock, until);
    }
    g_mutex_unlock(&dev.lock);
    return NULL;
}

/* ---- migration stream ---- */

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

/* ---- vfio-user commands ---- */

typedef struct Reply {
    void *data;             /* owned, or NULL */
    size_t len;
    int err;
} Reply;

static void reply_data(Reply *r, const void *data, size_t len)
{
    r->data = g_memdup2(data, len);
    r->len = len;
}

static void cmd_version(VFIOUserMsg *m, Reply *r)
{
    g_autofree char *caps = g_strdup_printf(
        "{\"" VFIO_USER_CAP "\":{\"" VFIO_USER_CAP_MAX_FDS "\":%d,"
        "\"" VFIO_USER_CAP_MAX_XFER "\":%d,\"" VFIO_USER_CAP_PGSIZES "\":%d,"
        "\"" VFIO_USER_CAP_MAP_MAX "\":%d,\"" VFIO_USER_CAP_MIGR "\":{"
        "\"" VFIO_USER_CAP_PGSIZE "\":%d,\"" VFIO_USER_CAP_MAX_BITMAP
        "\":%d}}}", VFIO_USER_MSG_MAX_FDS, MAX_XFER, DMA_PAGE, MAX_MAPS,
        DMA_PAGE, MAX_XFER);
    VFIOUserVersion *v = vfio_user_msg_payload(m, sizeof(*v));
    size_t len = sizeof(*v) + strlen(caps) + 1;
    VFIOUserVersion *out;

    if (!v || v->major != VFIO_USER_MAJOR_VER) {
        r->err = ENOTSUP;
        return;
    }
    out = g_malloc0(len);
    out->major = VFIO_USER_MAJOR_VER;
    out->minor = MIN(v->minor, VFIO_USER_MINOR_VER);
    memcpy(out->caps, caps, strlen(caps) + 1);
    r->data = out;
    r->len = len;
}

static void cmd_dma_map(VFIOUserMsg *m, Reply *r)
{
    VFIOUserDMAMap *map = vfio_user_msg_payload(m, sizeof(*map));
    int fd = vfio_user_msg_take_fd(m, 0);
    DmaMap *d;
    void *host = NULL;

    if (!map || !map->size || map->addr + map->size < map->addr ||
        dev.nmaps == MAX_MAPS) {
        r->err = map && dev.nmaps == MAX_MAPS ? ENOSPC : EINVAL;
        goto out;
    }
    if (fd >= 0) {
        host = mmap(NULL, map->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                    map->offset);
        if (host == MAP_FAILED) {
            r->err = errno;
            goto out;
        }
    }
    d = &dev.maps[dev.nmaps++];
    d->iova = map->addr;
    d->size = map->size;
    d->host = host;
    dbg("vfio-user-server: DMA_MAP 0x%" PRIx64 "+0x%" PRIx64 "%s\n",
        map->addr, map->size, host ? " (fd)" : "");
out:
    if (fd >= 0) {
        close(fd);
    }
}

static void unmap_one(unsigned i)
{
    if (dev.maps[i].host) {
        munmap(dev.maps[i].host, dev.maps[i].size);
    }
    dev.maps[i] = dev.maps[--dev.nmaps];
}

static void cmd_dma_unmap(VFIOUserMsg *m, Reply *r)
{
    VFIOUserDMAUnmap *u = vfio_user_msg_payload(m, sizeof(*u));
    unsigned i;

    if (!u || (u->flags & VFIO_USER_F_DMA_UNMAP_GET_DIRTY_BITMAP)) {
        r->err = u ? ENOTSUP : EINVAL;
        return;
    }
    if (u->flags & VFIO_USER_F_DMA_UNMAP_ALL) {
        while (dev.nmaps) {
            unmap_one(0);
        }
        reply_data(r, u, sizeof(*u));
        return;
    }
    for (i = 0; i < dev.nmaps; i++) {
        if (dev.maps[i].iova == u->addr && dev.maps[i].size == u->size) {
            unmap_one(i);
            reply_data(r, u, sizeof(*u));
            return;
        }
    }
    r->err = ENOENT;
}

static void cmd_get_info(VFIOUserMsg *m, Reply *r)
{
    VFIOUserDeviceInfo info = {
        .argsz = sizeof(info),
        .flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET,
        .num_regions = VFIO_PCI_NUM_REGIONS,
        .num_irqs = VFIO_PCI_NUM_IRQS,
    };

    if (!vfio_user_msg_payload(m, sizeof(info))) {
        r->err = EINVAL;
        return;
    }
    reply_data(r, &info, sizeof(info));
}

/* Config space: a PCI header naming the device; BAR0 is the state. */
#define CONFIG_SIZE 256
static uint8_t config_space[CONFIG_SIZE];

static uint64_t region_size(uint32_t index)
{
    switch (index) {
    case VFIO_PCI_BAR0_REGION_INDEX:
        return dev.state_size;
    case VFIO_PCI_CONFIG_REGION_INDEX:
        return CONFIG_SIZE;
    }
    return 0;
}

static void cmd_region_info(VFIOUserMsg *m, Reply *r)
{
    VFIOUserRegionInfo *in = vfio_user_msg_payload(m, sizeof(*in));
    VFIOUserRegionInfo info;

    if (!in || in->index >= VFIO_PCI_NUM_REGIONS) {
        r->err = EINVAL;
        return;
    }
    info = (VFIOUserRegionInfo) {
        .argsz = sizeof(info),
        .index = in->index,
        .size = region_size(in->index),
    };
    if (info.size) {
        info.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
    }
    reply_data(r, &info, sizeof(info));
}

/* The bytes of region @index at [@off, @off + @count), or NULL. */
static uint8_t *region_ptr(uint32_t index, uint64_t off, uint32_t count)
{
    uint64_t size = region_size(index);

    if (!count || count > size || off > size - count) {
        return NULL;
    }
    return index == VFIO_PCI_BAR0_REGION_INDEX ? dev.state + off
                                               : config_space + off;
}

static void cmd_region_rw(VFIOUserMsg *m, Reply *r, bool write)
{
    VFIOUserRegionRW *rw = vfio_user_msg_payload(m, sizeof(*rw));
    uint8_t *p;

    if (!rw || rw->count > MAX_XFER ||
        (write && m->len - sizeof(*rw) < rw->count)) {
        r->err = EINVAL;
        return;
    }
    p = region_ptr(rw->region, rw->offset, rw->count);
    if (!p) {
        r->err = EINVAL;
        return;
    }
    if (write) {
        if (rw->region == VFIO_PCI_BAR0_REGION_INDEX) {
            memcpy(p, rw->data, rw->count);
            state_mark(rw->offset, rw->count);
        }
        reply_data(r, rw, sizeof(*rw));
        return;
    }
    r->len = sizeof(*rw) + rw->count;
    r->data = g_malloc(r->len);
    memcpy(r->data, rw, sizeof(*rw));
    memcpy((uint8_t *)r->data + sizeof(*rw), p, rw->count);
}

static void cmd_reset(Reply *r)
{
    dev.mig_state = VFIO_DEVICE_STATE_RUNNING;
    dev.logging = false;
    g_byte_array_set_size(dev.out, 0);
    dev.out_off = 0;
    load_begin();
    g_cond_signal(&dev.wake);
}

/* ---- DEVICE_FEATURE ---- */

static void feature_reply(Reply *r, const VFIOUserDeviceFeature *f,
                          const void *data, size_t len)
{
    VFIOUserDeviceFeature *out = g_malloc(sizeof(*out) + len);

    out->argsz = sizeof(*out) + len;
    out->flags = f->flags;
    if (len) {
        memcpy(out->data, data, len);
    }
    r->data = out;
    r->len = sizeof(*out) + len;
}

static int feat_migration(VFIOUserDeviceFeature *f, bool get, Reply *r)
{
    VFIOUserFeatureMigration mig = { .flags = dev.mig_flags };

    if (!get) {
        return EINVAL;
    }
    feature_reply(r, f, &mig, sizeof(mig));
    return 0;
}

static int feat_mig_state(VFIOUserDeviceFeature *f, size_t dlen, bool get,
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

static int feat_data_size(VFIOUserDeviceFeature *f, bool get, Reply *r)
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

static int feat_precopy_info(VFIOUserDeviceFeature *f, bool get, Reply *r)
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

static int feat_logging_start(VFIOUserDeviceFeature *f, size_t dlen,
                              Reply *r)
{
    VFIOUserDMALoggingControl ctl;
    size_t need;

    if (dlen < sizeof(ctl)) {
        return EINVAL;
    }
    memcpy(&ctl, f->data, sizeof(ctl));
    need = sizeof(ctl) + (size_t)ctl.num_ranges * sizeof(ctl.ranges[0]);
    if (dev.logging) {
        return EBUSY;
    }
    if (!ctl.num_ranges || ctl.num_ranges > G_N_ELEMENTS(dev.log_ranges) ||
        dlen < need || !ctl.page_size ||
        (ctl.page_size & (ctl.page_size - 1))) {
        return EINVAL;
    }
    memcpy(dev.log_ranges, f->data + sizeof(ctl),
           ctl.num_ranges * sizeof(ctl.ranges[0]));
    dev.log_nranges = ctl.num_ranges;
    dev.log_page_size = DMA_PAGE;
    memset(dev.logged, 0, sizeof(dev.logged));
    dev.logging = true;
    feature_reply(r, f, NULL, 0);
    return 0;
}

static int feat_logging_report(VFIOUserDeviceFeature *f, size_t dlen,
                               Reply *r)
{
    VFIOUserDMALoggingReport rep;
    VFIOUserDMALoggingReport *out;
    DevCtl *ctl = dev_ctl();
    uint64_t nbits, bytes, *bitmap;
    unsigned page;

    if (!dev.logging) {
        return EINVAL;
    }
    if (dlen < sizeof(rep)) {
        return EINVAL;
    }
    memcpy(&rep, f->data, sizeof(rep));
    if (!rep.page_size || (rep.page_size & (rep.page_size - 1)) ||
        !rep.length || rep.iova + rep.length < rep.iova) {
        return EINVAL;
    }
    nbits = DIV_ROUND_UP(rep.length, rep.page_size);
    bytes = DIV_ROUND_UP(nbits, 64) * 8;
    if (bytes > MAX_XFER || f->argsz < sizeof(*f) + sizeof(rep) + bytes) {
        return EINVAL;
    }
    out = g_malloc0(sizeof(*out) + bytes);
    *out = rep;
    bitmap = (uint64_t *)out->bitmap;
    for (page = 0; page < dma_window_pages(); page++) {
        uint64_t iova = ctl->dma_iova + (uint64_t)page * DMA_PAGE;
        uint64_t bit;

        if (!dev.logged[page] || iova < rep.iova ||
            iova - rep.iova >= rep.length) {
            continue;
        }
        /* A 4 KiB page may span several report pages if they are small. */
        for (bit = (iova - rep.iova) / rep.page_size;
             bit < nbits && bit * rep.page_size < iova - rep.iova + DMA_PAGE;
             bit++) {
            bitmap[bit / 64] |= 1ULL << (bit % 64);
        }
        dev.logged[page] = false;
    }
    feature_reply(r, f, out, sizeof(*out) + bytes);
    g_free(out);
    return 0;
}

static void cmd_feature(VFIOUserMsg *m, Reply *r)
{
    VFIOUserDeviceFeature *f = vfio_user_msg_payload(m, sizeof(*f));
    uint32_t op, index;
    size_t dlen;
    bool get;

    if (!f) {
        r->err = EINVAL;
        return;
    }
    dlen = m->len - sizeof(*f);
    index = f->flags & VFIO_DEVICE_FEATURE_MASK;
    op = f->flags & (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET |
                     VFIO_DEVICE_FEATURE_PROBE);
    get = op & VFIO_DEVICE_FEATURE_GET;
    if ((f->flags & ~(VFIO_DEVICE_FEATURE_MASK | op)) || !op ||
        ((op & VFIO_DEVICE_FEATURE_GET) && (op & VFIO_DEVICE_FEATURE_SET))) {
        r->err = EINVAL;
        return;
    }
    if (op & VFIO_DEVICE_FEATURE_PROBE) {
        bool known = index == VFIO_DEVICE_FEATURE_MIGRATION ||
            index == VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE ||
            index == VFIO_DEVICE_FEATURE_MIG_DATA_SIZE ||
            index == VFIO_DEVICE_FEATURE_DMA_LOGGING_START ||
            index == VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP ||
            index == VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT ||
            index == VFIO_USER_DEVICE_FEATURE_PRECOPY_INFO;

        if (!known) {
            r->err = ENOTTY;
        } else {
            feature_reply(r, f, NULL, 0);
        }
        return;
    }
    switch (index) {
    case VFIO_DEVICE_FEATURE_MIGRATION:
        r->err = feat_migration(f, get, r);
        break;
    case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE:
        r->err = feat_mig_state(f, dlen, get, r);
        break;
    case VFIO_DEVICE_FEATURE_MIG_DATA_SIZE:
        r->err = feat_data_size(f, get, r);
        break;
    case VFIO_USER_DEVICE_FEATURE_PRECOPY_INFO:
        r->err = feat_precopy_info(f, get, r);
        break;
    case VFIO_DEVICE_FEATURE_DMA_LOGGING_START:
        r->err = get ? EINVAL : feat_logging_start(f, dlen, r);
        break;
    case VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP:
        if (get || !dev.logging) {
            r->err = EINVAL;
        } else {
            dev.logging = false;
            feature_reply(r, f, NULL, 0);
        }
        break;
    case VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT:
        r->err = get ? feat_logging_report(f, dlen, r) : EINVAL;
        break;
    default:
        r->err = ENOTTY;
    }
}

/* ---- MIG_DATA ---- */

static void cmd_mig_read(VFIOUserMsg *m, Reply *r)
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

static void cmd_mig_write(VFIOUserMsg *m, Reply *r)
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

/* Handle one command under the lock; false: drop the client. */
static bool handle_command(int sock, VFIOUserMsg *m, bool *versioned)
{
    Reply r = { 0 };
    Error *err = NULL;
    bool ok;

    if (vfio_user_hdr_is_reply(&m->hdr)) {
        return false;       /* this server sends no commands */
    }
    g_mutex_lock(&dev.lock);
    if (!*versioned && m->hdr.command != VFIO_USER_VERSION) {
        r.err = EINVAL;
    } else {
        switch (m->hdr.command) {
        case VFIO_USER_VERSION:
            cmd_version(m, &r);
            *versioned = !r.err;
            break;
        case VFIO_USER_DMA_MAP:
            cmd_dma_map(m, &r);
            break;
        case VFIO_USER_DMA_UNMAP:
            cmd_dma_unmap(m, &r);
            break;
        case VFIO_USER_DEVICE_GET_INFO:
            cmd_get_info(m, &r);
            break;
        case VFIO_USER_DEVICE_GET_REGION_INFO:
            cmd_region_info(m, &r);
            break;
        case VFIO_USER_REGION_READ:
        case VFIO_USER_REGION_WRITE:
            cmd_region_rw(m, &r, m->hdr.command == VFIO_USER_REGION_WRITE);
            break;
        case VFIO_USER_DEVICE_RESET:
            cmd_reset(&r);
            break;
        case VFIO_USER_DEVICE_FEATURE:
            cmd_feature(m, &r);
            break;
        case VFIO_USER_MIG_DATA_READ:
            cmd_mig_read(m, &r);
            break;
        case VFIO_USER_MIG_DATA_WRITE:
            cmd_mig_write(m, &r);
            break;
        default:
            r.err = ENOTSUP;
        }
    }
    g_mutex_unlock(&dev.lock);
    if (m->hdr.flags & VFIO_USER_F_NO_REPLY) {
        ok = true;
    } else if (r.err) {
        ok = vfio_user_send_error(sock, &m->hdr, r.err, &err);
    } else {
        ok = vfio_user_send_reply(sock, &m->hdr, r.data, r.len, &err);
    }
    if (!ok) {
        dbg("vfio-user-server: %s\n", error_get_pretty(err));
        error_free(err);
    }
    g_free(r.data);
    return ok;
}

static void client_gone(void)
{
    g_mutex_lock(&dev.lock);
    while (dev.nmaps) {
        unmap_one(0);
    }
    dev.logging = false;
    g_mutex_unlock(&dev.lock);
}

/* ---- control socket ---- */

static int parse_state(const char *name)
{
    uint32_t s;

    for (s = 0; s < VFIO_DEVICE_NUM_STATES; s++) {
        if (!g_ascii_strcasecmp(name, vfio_user_mig_state_name(s))) {
            return s;
        }
    }
    return g_str_equal(name, "any") ? -2 : -1;
}

static char *control_info(void)
{
    char hash[HASH_LEN * 2 + 1];

    state_hash(hash);
    return g_strdup_printf(
        "state=%s hash=%s saved-hash=%s loaded-hash=%s seq=%" PRIu64
        " dma-writes=%" PRIu64 " dma-skipped=%" PRIu64 " logging=%s "
        "maps=%u resume-check=%s",
        vfio_user_mig_state_name(dev.mig_state), hash,
        dev.saved_hash[0] ? dev.saved_hash : "none",
        dev.loaded_hash[0] ? dev.loaded_hash : "none", dev_ctl()->seq,
        dev.dma_writes, dev.dma_skipped, dev.logging ? "on" : "off",
        dev.nmaps, dev.verify_result ? dev.verify_result : "none");
}

/* Answer one control line; sets *quit for "quit". */
static char *control_command(const char *line, bool *quit)
{
    g_auto(GStrv) argv = g_strsplit(line, " ", 3);
    char hash[HASH_LEN * 2 + 1];
    int target;

    if (g_str_equal(argv[0], "info")) {
        return control_info();
    }
    if (g_str_equal(argv[0], "hash")) {
        state_hash(hash);
        return g_strdup(hash);
    }
    if (g_str_equal(argv[0], "dma-check")) {
        return dma_check();
    }
    if (g_str_equal(argv[0], "fail-transition") && argv[1]) {
        /* [FROM:]TO: only a SET to TO (made while in FROM) fails. */
        char *colon = strchr(argv[1], ':');
        int from = -1;

        if (colon) {
            *colon = '\0';
            from = parse_state(argv[1]);
            if (from < 0) {
                return g_strdup("error: unknown state");
            }
        }
        target = parse_state(colon ? colon + 1 : argv[1]);
        if (target == -1) {
            return g_strdup("error: unknown state");
        }
        dev.fail_target = target;
        dev.fail_from = from;
        dev.fail_to_error = argv[2] && g_str_equal(argv[2], "error");
        return g_strdup("ok");
    }
    if (g_str_equal(argv[0], "quit")) {
        *quit = true;
        return g_strdup("ok");
    }
    return g_strdup("error: unknown command");
}

typedef struct Control {
    int fd;
    char buf[CONTROL_LINE];
    size_t len;
} Control;

/* Read what is there; answer whole lines.  False: close it. */
static bool control_read(Control *c, bool *quit)
{
    ssize_t n = RETRY_ON_EINTR(read(c->fd, c->buf + c->len,
                                    sizeof(c->buf) - c->len));
    char *nl;

    if (n <= 0) {
        return false;
    }
    c->len += n;
    while ((nl = memchr(c->buf, '\n', c->len))) {
        g_autofree char *answer = NULL;
        g_autofree char *reply = NULL;

        *nl = '\0';
        g_mutex_lock(&dev.lock);
        answer = control_command(c->buf, quit);
        g_mutex_unlock(&dev.lock);
        reply = g_strconcat(answer, "\n", NULL);
        if (write(c->fd, reply, strlen(reply)) != strlen(reply)) {
            return false;
        }
        c->len -= nl + 1 - c->buf;
        memmove(c->buf, nl + 1, c->len);
    }
    return c->len < sizeof(c->buf);     /* a line too long: drop it */
}

/* ---- main loop ---- */

static int listen_unix(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "vfio-user-server: socket path too long: %s\n", path);
        exit(1);
    }
    strcpy(sa.sun_path, path);
    unlink(path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fd, 4) < 0) {
        fprintf(stderr, "vfio-user-server: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    return fd;
}

static void serve(int lsock, int lctl)
{
    Control ctl[MAX_CONTROL];
    unsigned nctl = 0, i;
    int client = -1;
    bool versioned = false, quit = false;

    while (!quit) {
        struct pollfd p[3 + MAX_CONTROL];
        unsigned np = 0;

        p[np++] = (struct pollfd) { .fd = lsock, .events = POLLIN };
        p[np++] = (struct pollfd) { .fd = lctl, .events = POLLIN };
        p[np++] = (struct pollfd) { .fd = client, .events = POLLIN };
        for (i = 0; i < nctl; i++) {
            p[np++] = (struct pollfd) { .fd = ctl[i].fd, .events = POLLIN };
        }
        if (RETRY_ON_EINTR(poll(p, np, -1)) < 0) {
            break;
        }
        if (p[0].revents) {
            int fd = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);

            if (fd >= 0 && client >= 0) {
                close(fd);          /* one client at a time */
            } else if (fd >= 0) {
                client = fd;
                versioned = false;
            }
        }
        if (p[1].revents) {
            int fd = accept4(lctl, NULL, NULL, SOCK_CLOEXEC);

            if (fd >= 0 && nctl < MAX_CONTROL) {
                ctl[nctl++] = (Control) { .fd = fd };
            } else if (fd >= 0) {
                close(fd);
            }
        }
        if (client >= 0 && p[2].revents) {
            VFIOUserMsg m;
            Error *err = NULL;
            int ret = vfio_user_recv(client, &m, MAX_XFER + 4096,
                                     VFIO_USER_MSG_MAX_FDS, &err);

            if (ret <= 0 || !handle_command(client, &m, &versioned)) {
                if (ret < 0) {
                    fprintf(stderr, "vfio-user-server: %s\n",
                            error_get_pretty(err));
                    error_free(err);
                }
                close(client);
                client = -1;
                client_gone();
            }
            if (ret > 0) {
                vfio_user_msg_clear(&m);
            }
        }
        for (i = 3; i < np; i++) {
            Control *c = &ctl[i - 3];

            if (p[i].revents && !control_read(c, &quit)) {
                close(c->fd);
                c->fd = -1;
            }
        }
        for (i = 0; i < nctl;) {
            if (ctl[i].fd < 0) {
                ctl[i] = ctl[--nctl];
            } else {
                i++;
            }
        }
    }
    if (client >= 0) {
        close(client);
    }
    for (i = 0; i < nctl; i++) {
        close(ctl[i].fd);
    }
}

static void device_init(uint64_t state_size, uint64_t dma_iova,
                        unsigned dma_pages, bool p2p, bool precopy)
{
    DevCtl *ctl;

    g_mutex_init(&dev.lock);
    g_cond_init(&dev.wake);
    dev.chunk_size = 4096;
    dev.state_size = state_size;
    dev.nchunks = state_size / dev.chunk_size;
    dev.state = g_malloc0(state_size);
    dev.dirty = g_new0(bool, dev.nchunks);
    dev.initial = g_new0(bool, dev.nchunks);
    dev.out = g_byte_array_new();
    dev.in = g_byte_array_new();
    dev.mig_state = VFIO_DEVICE_STATE_RUNNING;
    dev.mig_flags = VFIO_MIGRATION_STOP_COPY |
                    (p2p ? VFIO_MIGRATION_P2P : 0) |
                    (precopy ? VFIO_MIGRATION_PRE_COPY : 0);
    dev.fail_target = -1;
    dev.fail_from = -1;
    ctl = dev_ctl();
    ctl->magic = DEV_MAGIC;
    ctl->dma_iova = dma_iova;
    ctl->dma_pages = dma_pages;
    /* PCI header: vendor 0x1b36 (Red Hat, QEMU's test IDs), device 0x00f0 */
    config_space[0] = 0x36;
    config_space[1] = 0x1b;
    config_space[2] = 0xf0;
    config_space[3] = 0x00;
}

int main(int argc, char **argv)
{
    g_autofree char *sock_path = NULL, *ctl_path = NULL;
    gint64 state_kib = 1024, dma_iova = 0, seed = 1;
    gint dma_pages = 0, tick_us = 1000, dirty_per_tick = 1;
    gboolean no_p2p = FALSE, no_precopy = FALSE, always_dirty = FALSE;
    GOptionEntry entries[] = {
        { "socket", 0, 0, G_OPTION_ARG_FILENAME, &sock_path,
          "vfio-user socket to listen on", "PATH" },
        { "control", 0, 0, G_OPTION_ARG_FILENAME, &ctl_path,
          "test control socket to listen on", "PATH" },
        { "state-kib", 0, 0, G_OPTION_ARG_INT64, &state_kib,
          "device state size in KiB (8..65536, default 1024)", "N" },
        { "dma-iova", 0, 0, G_OPTION_ARG_INT64, &dma_iova,
          "first guest address the device writes by DMA", "ADDR" },
        { "dma-pages", 0, 0, G_OPTION_ARG_INT, &dma_pages,
          "pages in the DMA window (0..256, default 0: no DMA)", "N" },
        { "tick-us", 0, 0, G_OPTION_ARG_INT, &tick_us,
          "device tick in microseconds (default 1000)", "US" },
        { "dirty-per-tick", 0, 0, G_OPTION_ARG_INT, &dirty_per_tick,
          "state words changed per tick (default 1)", "N" },
        { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "random seed", "N" },
        { "always-dirty", 0, 0, G_OPTION_ARG_NONE, &always_dirty,
          "change the state on every PRE_COPY read: precopy data never "
          "runs out", NULL },
        { "no-p2p", 0, 0, G_OPTION_ARG_NONE, &no_p2p,
          "do not offer the P2P states", NULL },
        { "no-precopy", 0, 0, G_OPTION_ARG_NONE, &no_precopy,
          "do not offer the PRE_COPY states", NULL },
        { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
          "log commands and transitions to stderr", NULL },
        { NULL }
    };
    g_autoptr(GOptionContext) oc = g_option_context_new(
        "- vfio-user device server for qmig's migration tests");
    g_autoptr(GError) gerr = NULL;
    GThread *thread;
    int lsock, lctl;

    g_option_context_add_main_entries(oc, entries, NULL);
    if (!g_option_context_parse(oc, &argc, &argv, &gerr)) {
        fprintf(stderr, "vfio-user-server: %s\n", gerr->message);
        return 1;
    }
    if (!sock_path || !ctl_path || state_kib < 8 || state_kib > 65536 ||
        dma_pages < 0 || dma_pages > DMA_MAX_PAGES || tick_us <= 0 ||
        dirty_per_tick < 0 || dma_iova % DMA_PAGE) {
        fprintf(stderr, "vfio-user-server: bad arguments (see --help)\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    device_init(state_kib * 1024, dma_iova, dma_pages, !no_p2p, !no_precopy);
    dev.rng = seed ? seed : 1;
    dev.tick_us = tick_us;
    dev.dirty_per_tick = dirty_per_tick;
    dev.always_dirty = always_dirty;
    lsock = listen_unix(sock_path);
    lctl = listen_unix(ctl_path);
    thread = g_thread_new("device", device_thread, NULL);
    printf("vfio-user-server: ready\n");
    fflush(stdout);

    serve(lsock, lctl);

    g_mutex_lock(&dev.lock);
    dev.quit = true;
    g_cond_signal(&dev.wake);
    g_mutex_unlock(&dev.lock);
    g_thread_join(thread);
    client_gone();
    unlink(sock_path);
    unlink(ctl_path);
    return 0;
}
