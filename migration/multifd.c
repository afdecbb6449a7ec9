/*
 * multifd: the source's send channels and the destination's receive
 * channels (see multifd.h for the design and the wire format).
 *
 * Source.  multifd_send_setup() (migration thread, in the RAM section's
 * setup) connects multifd-channels sockets to the migration URI and
 * starts one "mig/src/send_N" thread per channel; each writes its init
 * message and then waits for work.  The migration thread fills a batch
 * of up to MULTIFD_PAGES_PER_PACKET pages of one RAMBlock and hands it
 * to an idle channel: it waits on channels_ready (one post per idle
 * channel), swaps its batch with the channel's empty one under the
 * channel's mutex and posts the channel's sem.  The channel thread sorts
 * zero pages out (zero-page-detection=multifd), lets the compression
 * backend lay out the data, and writes header + data with one writev.
 * A sync request makes every channel write a SYNC packet; the migration
 * thread waits until all have.
 *
 * Destination.  The first accepted connection is the main channel; the
 * next multifd-channels ones each get a "mig/dst/recv_N" thread that
 * reads and checks the init message (magic, version, UUID, id in range
 * and not seen before), waits until the RAM section's load_setup has
 * cleared guest RAM, then reads packets and writes pages straight into
 * guest RAM.  After a SYNC packet a channel posts sem_sync and waits to
 * be released by the incoming thread, which does so once every channel
 * has arrived (multifd_recv_sync_main, on RAM_SAVE_FLAG_MULTIFD_FLUSH).
 *
 * Failure.  A channel thread that fails records the first error, wakes
 * whoever may wait for it (channels_ready / sem_sync) and exits; the
 * migration thread sees the error at its next hand-off or sync and fails
 * the migration (the guest runs on at the source).  On the destination
 * the main channel is shut down too, so the incoming thread fails at
 * once rather than at the next sync.
 *
 * The end, destination.  Once the main stream is loaded and before the
 * guest may run, the incoming thread stops and joins every channel
 * thread (multifd_recv_finish): after that nothing writes guest RAM but
 * the guest.  The load fails if a channel failed at any time, carried
 * pages after its last SYNC, or passed a different number of sync
 * points than the main stream; ram-load.c also requires the main stream's
 * final RAM_SAVE_FLAG_MULTIFD_FLUSH after the last RAM data, which the
 * source always sends, so every page sent on a channel has landed.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "config-host.h"
#include "qemu/main-loop.h"
#include "qemu/uri.h"
#include "io/channel.h"
#include "io/channel-socket.h"
#include "migration/channel.h"
#include "system/system.h"
#include "migration-stats.h"
#include "migration.h"
#include "qemu-file.h"
#include "tls.h"
#include "multifd.h"
#include "ram-internal.h"
#include "savevm.h"
#include "trace.h"

/* ---- Backends ---- */

static const MultiFDMethods *multifd_ops[MULTIFD_COMPRESSION_ZSTD + 1];

void multifd_register_ops(MultiFDCompression kind, const MultiFDMethods *ops)
{
    assert(kind <= MULTIFD_COMPRESSION_ZSTD);
    multifd_ops[kind] = ops;
}

uint32_t multifd_compression_flag(MultiFDCompression kind)
{
    switch (kind) {
    case MULTIFD_COMPRESSION_ZLIB:
        return MULTIFD_FLAG_ZLIB;
    case MULTIFD_COMPRESSION_ZSTD:
        return MULTIFD_FLAG_ZSTD;
    default:
        return MULTIFD_FLAG_NOCOMP;
    }
}

static const MultiFDMethods *multifd_get_ops(MultiFDCompression kind,
                                             Error **errp)
{
    static bool registered;

    if (!registered) {
        multifd_nocomp_register();
#ifdef CONFIG_ZLIB
        multifd_zlib_register();
#endif
#ifdef CONFIG_ZSTD
        multifd_zstd_register();
#endif
        registered = true;
    }
    if (kind > MULTIFD_COMPRESSION_ZSTD || !multifd_ops[kind]) {
        error_setg(errp, "multifd: compression method %d is not built in",
                   kind);
        return NULL;
    }
    return multifd_ops[kind];
}

/* This VM's UUID (-uuid), zeros without one: both sides must agree. */
static void multifd_local_uuid(uint8_t uuid[16])
{
    memcpy(uuid, qemu_uuid, 16);
}

/* ---- Source ---- */

typedef struct MultiFDPages {
    RAMBlock *block;
    uint32_t num;
    uint64_t offset[MULTIFD_PAGES_PER_PACKET];
} MultiFDPages;

typedef struct MultiFDSendState MultiFDSendState;

typedef struct MultiFDSendParams {
    int id;
    MultiFDSendState *ss;       /* the owner, for the thread */
    QemuThread thread;
    bool thread_created;        /* migration thread */
    QIOChannel *c;              /* written by the thread; shut down by
                                   multifd_send_shutdown */
    QemuSemaphore sem;          /* one post per job, sync or quit */
    QemuSemaphore sem_sync;     /* the SYNC packet is out (or we died) */
    GMutex mutex;
    MultiFDPages *pages;        /* mutex; the thread's while pending_job */
    bool pending_job;           /* mutex */
    bool pending_sync;          /* mutex */
    /* The job is device state, not pages (mutex; the thread's while
       pending_job): */
    bool dev_job;
    uint8_t *dev_data;          /* MULTIFD_MAX_DATA */
    uint32_t dev_len;
    uint32_t dev_instance;
    char dev_idstr[MULTIFD_RAMBLOCK_NAME];
    bool quit;                  /* mutex */
    /* Owned by the channel thread: */
    void *comp;                 /* backend state */
    uint8_t *packet;            /* MULTIFD_HDR_SIZE */
    MultiFDPacketInfo info;
    MultiFDSendJob job;
    struct iovec iov[MULTIFD_PAGES_PER_PACKET + 1];
    uint64_t normal[MULTIFD_PAGES_PER_PACKET];
    uint64_t zero[MULTIFD_PAGES_PER_PACKET];
    uint8_t *window;            /* MULTIFD_PAGES_PER_PACKET pages, lazily */
} MultiFDSendParams;

struct MultiFDSendState {
    MultiFDSendParams *params;
    int count;
    MultiFDPages *pages;            /* migration thread: being filled */
    int next;                       /* migration thread: round robin */
    QemuSemaphore channels_ready;   /* one post per idle channel */
    uint64_t packet_num;            /* atomic */
    QEMUFile *f;                    /* main channel, for the rate limit */
    const MultiFDMethods *ops;
    MultiFDCompression comp;
    ZeroPageDetection zpd;
    bool failed;                    /* atomic; error_mutex for error */
    GMutex error_mutex;
    Error *error;
};

/*
 * Created and freed by the migration thread; send_lock guards the
 * pointer and the channels' @c for multifd_send_cancel (main thread).
 */
static MultiFDSendState *send_state;
static GMutex send_lock;
static char *multifd_uri;              /* BQL; read once a migration runs */

void multifd_send_set_uri(const char *uri)
{
    g_free(multifd_uri);
    multifd_uri = g_strdup(uri);
}

static void multifd_send_set_error(MultiFDSendState *ss, Error *err)
{
    g_mutex_lock(&ss->error_mutex);
    if (!ss->error) {
        ss->error = err;
        err = NULL;
    }
    g_mutex_unlock(&ss->error_mutex);
    error_free(err);
    __atomic_store_n(&ss->failed, true, __ATOMIC_SEQ_CST);
}

static bool multifd_send_check_error(MultiFDSendState *ss, Error **errp)
{
    if (!__atomic_load_n(&ss->failed, __ATOMIC_SEQ_CST)) {
        return true;
    }
    g_mutex_lock(&ss->error_mutex);
    if (ss->error) {
        error_propagate(errp, error_copy(ss->error));
    } else {
        error_setg(errp, "multifd: a send channel failed");
    }
    g_mutex_unlock(&ss->error_mutex);
    return false;
}

/*
 * Channel thread: read the batch's pages of shared fd-backed RAM from the
 * block's file in one pread when they lie close together, rather than
 * touching them through the mapping (a page fault each the first time;
 * see ram-window.h).  The pages' bits were cleared before they were
 * queued, so a later read only sees newer data, as the mapping would.
 */
static void multifd_send_read_window(MultiFDSendParams *p)
{
    MultiFDPages *pages = p->pages;
    MultiFDSendJob *job = &p->job;
    uint64_t lo = UINT64_MAX, hi = 0, len, done = 0;

    if (pages->block->fd < 0 || !pages->block->shared || !pages->num) {
        return;
    }
    for (uint32_t i = 0; i < pages->num; i++) {
        lo = MIN(lo, pages->offset[i]);
        hi = MAX(hi, pages->offset[i]);
    }
    len = hi - lo + TARGET_PAGE_SIZE;
    /* Sparse (mostly copying pages nobody sends) or too far apart: map. */
    if (len > (uint64_t)MULTIFD_PAGES_PER_PACKET * TARGET_PAGE_SIZE ||
        len > 2ULL * pages->num * TARGET_PAGE_SIZE) {
        return;
    }
    if (!p->window) {
        p->window = g_aligned_alloc(MULTIFD_PAGES_PER_PACKET,
                                    TARGET_PAGE_SIZE, TARGET_PAGE_SIZE);
    }
    while (done < len) {
        ssize_t r = pread(pages->block->fd, p->window + done, len - done,
                          lo + done);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return;             /* the mapping has the same bytes */
        }
        done += r;
    }
    job->window = p->window;
    job->window_start = lo;
    job->window_len = len;
}

/* Channel thread: split the batch into normal and zero pages. */
static void multifd_send_classify(MultiFDSendState *ss, MultiFDSendParams *p)
{
    MultiFDPages *pages = p->pages;
    MultiFDSendJob *job = &p->job;

    job->block = pages->block;
    multifd_send_read_window(p);
    for (uint32_t i = 0; i < pages->num; i++) {
        uint64_t off = pages->offset[i];

        if (ss->zpd == ZERO_PAGE_DETECTION_MULTIFD &&
            ram_page_is_zero(multifd_send_page_data(job, off))) {
            job->zero[job->zero_num++] = off;
        } else {
            job->normal[job->normal_num++] = off;
        }
    }
}

/* Channel thread: one packet (the batch in p->pages, or a SYNC). */
static bool multifd_send_packet(MultiFDSendState *ss, MultiFDSendParams *p,
                                bool sync, Error **errp)
{
    MultiFDSendJob *job = &p->job;
    MultiFDPacketInfo *info = &p->info;
    uint64_t total;

    memset(job, 0, sizeof(*job));
    job->iov = p->iov;
    job->iovs_num = 1;
    job->normal = p->normal;
    job->zero = p->zero;
    job->flags = multifd_compression_flag(ss->comp);
    if (!sync) {
        multifd_send_classify(ss, p);
        if (job->normal_num && !ss->ops->send_prepare(p->comp, job, errp)) {
            return false;
        }
    }
    info->flags = job->flags | (sync ? MULTIFD_FLAG_SYNC : 0);
    info->normal_num = job->normal_num;
    info->zero_num = job->zero_num;
    info->next_packet_size = job->next_packet_size;
    info->packet_num = __atomic_fetch_add(&ss->packet_num, 1,
                                          __ATOMIC_RELAXED);
    g_strlcpy(info->ramblock, job->block ? job->block->idstr : "",
              sizeof(info->ramblock));
    memcpy(info->offset, job->normal, job->normal_num * 8);
    memcpy(info->offset + job->normal_num, job->zero, job->zero_num * 8);
    multifd_packet_encode(info, p->packet);
    p->iov[0].iov_base = p->packet;
    p->iov[0].iov_len = MULTIFD_HDR_SIZE;
    if (qio_channel_writev_all(p->c, p->iov, job->iovs_num, errp) < 0) {
        error_prepend(errp, "multifd channel %d: ", p->id);
        return false;
    }
    total = MULTIFD_HDR_SIZE + job->next_packet_size;
    stat64_add(&mig_stats.multifd_bytes, total);
    stat64_add(&mig_stats.transferred, total);
    stat64_add(&mig_stats.normal_pages, job->normal_num);
    stat64_add(&mig_stats.zero_pages, job->zero_num);
    qemu_file_acct_rate_limit(ss->f, total);
    trace_multifd_send(p->id, info->packet_num, job->normal_num,
                       job->zero_num, job->next_packet_size, sync);
    return true;
}

/* Channel thread: one device state packet (the job in p->dev_*). */
static bool multifd_send_device_packet(MultiFDSendState *ss,
                                       MultiFDSendParams *p, Error **errp)
{
    MultiFDPacketInfo *info = &p->info;
    struct iovec iov[2];
    uint64_t total = MULTIFD_HDR_SIZE + p->dev_len;

    memset(info, 0, sizeof(*info));
    /* The channel's compression bits, which the receiver checks. */
    info->flags = multifd_compression_flag(ss->comp) |
                  MULTIFD_FLAG_DEVICE_STATE;
    info->instance_id = p->dev_instance;
    info->next_packet_size = p->dev_len;
    info->packet_num = __atomic_fetch_add(&ss->packet_num, 1,
                                          __ATOMIC_RELAXED);
    g_strlcpy(info->ramblock, p->dev_idstr, sizeof(info->ramblock));
    multifd_packet_encode(info, p->packet);
    iov[0].iov_base = p->packet;
    iov[0].iov_len = MULTIFD_HDR_SIZE;
    iov[1].iov_base = p->dev_data;
    iov[1].iov_len = p->dev_len;
    if (qio_channel_writev_all(p->c, iov, 2, errp) < 0) {
        error_prepend(errp, "multifd channel %d: ", p->id);
        return false;
    }
    stat64_add(&mig_stats.multifd_bytes, total);
    stat64_add(&mig_stats.transferred, total);
    qemu_file_acct_rate_limit(ss->f, total);
    trace_multifd_send_device_state(p->id, info->packet_num, p->dev_idstr,
                                    p->dev_len);
    return true;
}

static bool multifd_send_hello(MultiFDSendState *ss, MultiFDSendParams *p,
                               Error **errp)
{
    uint8_t msg[MULTIFD_INIT_SIZE];
    uint8_t uuid[16];

    multifd_local_uuid(uuid);
    multifd_init_encode(uuid, p->id, msg);
    if (qio_channel_write_all(p->c, (char *)msg, sizeof(msg), errp) < 0) {
        error_prepend(errp, "multifd channel %d: could not send the init "
                      "message: ", p->id);
        return false;
    }
    stat64_add(&mig_stats.multifd_bytes, sizeof(msg));
    stat64_add(&mig_stats.transferred, sizeof(msg));
    return ss->ops->send_setup(&p->comp, errp);
}

/* What to do next: 1 job, 2 sync, 0 quit; -1 spurious wake. */
static int multifd_send_next(MultiFDSendParams *p)
{
    int what = -1;

    g_mutex_lock(&p->mutex);
    if (p->quit) {
        what = 0;
    } else if (p->pending_job) {
        what = 1;
    } else if (p->pending_sync) {
        what = 2;
    }
    g_mutex_unlock(&p->mutex);
    return what;
}

static void *multifd_send_thread(void *opaque)
{
    MultiFDSendParams *p = opaque;
    MultiFDSendState *ss = p->ss;
    Error *err = NULL;

    if (!multifd_send_hello(ss, p, &err)) {
        goto out;
    }
    qemu_sem_post(&ss->channels_ready);
    for (;;) {
        int what;

        qemu_sem_wait(&p->sem);
        what = multifd_send_next(p);
        if (what == 0) {
            break;
        } else if (what < 0) {
            continue;
        }
        if (what == 1 && p->dev_job ?
            !multifd_send_device_packet(ss, p, &err) :
            !multifd_send_packet(ss, p, what == 2, &err)) {
            goto out;
        }
        g_mutex_lock(&p->mutex);
        if (what == 1) {
            p->pending_job = false;
            p->dev_job = false;
            p->pages->num = 0;
        } else {
            p->pending_sync = false;
        }
        g_mutex_unlock(&p->mutex);
        qemu_sem_post(what == 1 ? &ss->channels_ready : &p->sem_sync);
    }
out:
    if (err) {
        trace_multifd_send_error(p->id, error_get_pretty(err));
        multifd_send_set_error(ss, err);
    }
    /* Whoever waits for this channel must wake and see the error. */
    qemu_sem_post(&p->sem_sync);
    qemu_sem_post(&ss->channels_ready);
    if (p->comp) {
        ss->ops->send_cleanup(p->comp);
        p->comp = NULL;
    }
    return NULL;
}

/* TLS over the connected channel @p->c (this thread shakes hands). */
static bool multifd_send_channel_tls(MultiFDSendParams *p,
                                     const SocketAddress *addr, Error **errp)
{
    QIOChannel *tioc = migration_tls_client(qio_channel_ref(p->c), addr,
                                            errp);
    QIOChannel *plain;

    if (!tioc) {
        error_prepend(errp, "multifd channel %d: ", p->id);
        return false;
    }
    g_mutex_lock(&send_lock);
    plain = p->c;
    p->c = tioc;
    g_mutex_unlock(&send_lock);
    qio_channel_unref(plain);
    return true;
}

/* Connect channel @p->id to @addr and start its thread. */
static bool multifd_send_channel_start(MultiFDSendParams *p,
                                       const SocketAddress *addr,
                                       Error **errp)
{
    g_autofree char *name = g_strdup_printf("mig/src/send_%d", p->id);
    QIOChannel *c = qio_channel_socket_new();

    qio_channel_set_name(c, "multifd-outgoing");
    g_mutex_lock(&send_lock);
    p->c = c;
    g_mutex_unlock(&send_lock);
    /* Bounds the handshake too; applied by the connect. */
    if (!migration_channel_set_peer_timeout(p->c, errp) ||
        qio_channel_socket_connect_sync(p->c, addr, errp) < 0) {
        error_prepend(errp, "multifd channel %d: could not connect: ",
                      p->id);
        return false;
    }
    qio_channel_set_delay(p->c, false);
    if (!migration_channel_set_send_buffer(p->c, errp)) {
        error_prepend(errp, "multifd channel %d: ", p->id);
        return false;
    }
    if (migrate_tls() && !multifd_send_channel_tls(p, addr, errp)) {
        return false;
    }
    p->thread_created = true;
    qemu_thread_create(&p->thread, name, multifd_send_thread, p,
                       QEMU_THREAD_JOINABLE);
    return true;
}

static SocketAddress *multifd_uri_socket(UriAddress *addr, Error **errp)
{
    if (addr->transport != URI_TRANSPORT_SOCKET ||
        addr->socket->type == SOCKET_ADDRESS_TYPE_FD) {
        error_setg(errp, "Multifd is not supported with URI '%s': it needs "
                   "tcp: or unix:", multifd_uri);
        return NULL;
    }
    return addr->socket;
}

bool multifd_send_setup(QEMUFile *f, Error **errp)
{
    g_autoptr(UriAddress) addr = NULL;
    MultiFDSendState *ss;
    SocketAddress *sa;

    assert(!send_state);
    addr = multifd_uri ? uri_address_parse(multifd_uri, errp) : NULL;
    if (!addr) {
        error_prepend(errp, "multifd: ");
        return false;
    }
    sa = multifd_uri_socket(addr, errp);
    if (!sa) {
        return false;
    }
    ss = g_new0(MultiFDSendState, 1);
    ss->comp = migrate_multifd_compression();
    ss->ops = multifd_get_ops(ss->comp, errp);
    ss->count = migrate_multifd_channels();
    ss->zpd = migrate_zero_page_detection();
    ss->f = f;
    ss->pages = g_new0(MultiFDPages, 1);
    ss->params = g_new0(MultiFDSendParams, ss->count);
    g_mutex_init(&ss->error_mutex);
    qemu_sem_init(&ss->channels_ready, 0);
    for (int i = 0; i < ss->count; i++) {
        MultiFDSendParams *p = &ss->params[i];

        p->id = i;
        p->ss = ss;
        g_mutex_init(&p->mutex);
        qemu_sem_init(&p->sem, 0);
        qemu_sem_init(&p->sem_sync, 0);
        p->pages = g_new0(MultiFDPages, 1);
        p->packet = g_malloc0(MULTIFD_HDR_SIZE);
    }
    g_mutex_lock(&send_lock);
    send_state = ss;
    g_mutex_unlock(&send_lock);
    if (!ss->ops) {
        return false;
    }
    for (int i = 0; i < ss->count; i++) {
        if (!multifd_send_channel_start(&ss->params[i], sa, errp)) {
            return false;   /* save_cleanup calls multifd_send_shutdown */
        }
    }
    trace_multifd_send_setup(ss->count, ss->comp);
    return true;
}

/* Hand the filled batch to an idle channel. */
static bool multifd_send_pages(MultiFDSendState *ss, Error **errp)
{
    if (!multifd_send_check_error(ss, errp)) {
        return false;
    }
    qemu_sem_wait(&ss->channels_ready);
    if (!multifd_send_check_error(ss, errp)) {
        return false;
    }
    for (int i = 0; i < ss->count; i++) {
        int idx = (ss->next + i) % ss->count;
        MultiFDSendParams *p = &ss->params[idx];
        MultiFDPages *tmp;

        g_mutex_lock(&p->mutex);
        if (p->pending_job || p->quit) {
            g_mutex_unlock(&p->mutex);
            continue;
        }
        tmp = p->pages;
        p->pages = ss->pages;
        ss->pages = tmp;
        p->pending_job = true;
        g_mutex_unlock(&p->mutex);
        qemu_sem_post(&p->sem);
        ss->next = idx + 1;
        return true;
    }
    error_setg(errp, "multifd: no idle send channel although one was "
               "announced");
    return false;
}

bool multifd_queue_page(RAMBlock *block, uint64_t offset, Error **errp)
{
    MultiFDSendState *ss = send_state;
    MultiFDPages *pages = ss->pages;

    if (pages->num && pages->block != block) {
        if (!multifd_send_pages(ss, errp)) {
            return false;
        }
        pages = ss->pages;
    }
    pages->block = block;
    pages->offset[pages->num++] = offset;
    if (pages->num == MULTIFD_PAGES_PER_PACKET) {
        return multifd_send_pages(ss, errp);
    }
    return true;
}

bool multifd_send_sync_main(Error **errp)
{
    MultiFDSendState *ss = send_state;

    if (ss->pages->num && !multifd_send_pages(ss, errp)) {
        return false;
    }
    if (!multifd_send_check_error(ss, errp)) {
        return false;
    }
    for (int i = 0; i < ss->count; i++) {
        MultiFDSendParams *p = &ss->params[i];

        g_mutex_lock(&p->mutex);
        p->pending_sync = true;
        g_mutex_unlock(&p->mutex);
        qemu_sem_post(&p->sem);
    }
    for (int i = 0; i < ss->count; i++) {
        qemu_sem_wait(&ss->params[i].sem_sync);
        if (!multifd_send_check_error(ss, errp)) {
            return false;
        }
    }
    trace_multifd_send_sync(ss->count);
    return true;
}

bool multifd_send_active(void)
{
    return send_state != NULL;
}

/* An idle channel (channels_ready taken by the caller), or NULL. */
static MultiFDSendParams *multifd_send_idle_channel(MultiFDSendState *ss)
{
    for (int i = 0; i < ss->count; i++) {
        int idx = (ss->next + i) % ss->count;
        MultiFDSendParams *p = &ss->params[idx];

        g_mutex_lock(&p->mutex);
        if (!p->pending_job && !p->quit) {
            ss->next = idx + 1;
            return p;       /* mutex held */
        }
        g_mutex_unlock(&p->mutex);
    }
    return NULL;
}

bool multifd_queue_device_state(const char *idstr, uint32_t instance_id,
                                const void *data, size_t len, Error **errp)
{
    MultiFDSendState *ss = send_state;
    MultiFDSendParams *p;

    if (!ss) {
        error_setg(errp, "multifd: no channels to send device state on");
        return false;
    }
    if (!len || len > MULTIFD_MAX_DATA ||
        strlen(idstr) >= MULTIFD_RAMBLOCK_NAME) {
        error_setg(errp, "multifd: device state buffer of %zu bytes for "
                   "'%s' does not fit a packet", len, idstr);
        return false;
    }
    /* Pages still batched go first: their round is older. */
    if (ss->pages->num && !multifd_send_pages(ss, errp)) {
        return false;
    }
    if (!multifd_send_check_error(ss, errp)) {
        return false;
    }
    qemu_sem_wait(&ss->channels_ready);
    if (!multifd_send_check_error(ss, errp)) {
        return false;
    }
    p = multifd_send_idle_channel(ss);
    if (!p) {
        error_setg(errp, "multifd: no idle send channel although one was "
                   "announced");
        return false;
    }
    if (!p->dev_data) {
        p->dev_data = g_malloc(MULTIFD_MAX_DATA);
    }
    memcpy(p->dev_data, data, len);
    p->dev_len = len;
    p->dev_instance = instance_id;
    g_strlcpy(p->dev_idstr, idstr, sizeof(p->dev_idstr));
    p->dev_job = true;
    p->pending_job = true;
    g_mutex_unlock(&p->mutex);
    qemu_sem_post(&p->sem);
    return true;
}

bool multifd_send_wait_idle(Error **errp)
{
    MultiFDSendState *ss = send_state;
    int taken = 0;
    bool ok = true;

    if (!ss) {
        return true;
    }
    /* One channels_ready token per idle channel: hold them all. */
    for (; taken < ss->count; taken++) {
        if (!multifd_send_check_error(ss, errp)) {
            ok = false;
            break;
        }
        qemu_sem_wait(&ss->channels_ready);
    }
    for (int i = 0; i < taken; i++) {
        qemu_sem_post(&ss->channels_ready);
    }
    return ok && multifd_send_check_error(ss, errp);
}

/* Shut every channel down: blocked writes fail.  send_lock held. */
static void multifd_send_shutdown_channels(MultiFDSendState *ss)
{
    for (int i = 0; i < ss->count; i++) {
        if (ss->params[i].c) {
            qio_channel_shutdown(ss->params[i].c, QIO_CHANNEL_SHUTDOWN_BOTH,
                                 NULL);
        }
    }
}

void multifd_send_cancel(void)
{
    g_mutex_lock(&send_lock);
    if (send_state) {
        multifd_send_shutdown_channels(send_state);
    }
    g_mutex_unlock(&send_lock);
}

void multifd_send_shutdown(void)
{
    MultiFDSendState *ss = send_state;

    if (!ss) {
        return;
    }
    /* Unblocks a write into a stalled peer; sent data still arrives. */
    g_mutex_lock(&send_lock);
    multifd_send_shutdown_channels(ss);
    send_state = NULL;
    g_mutex_unlock(&send_lock);
    for (int i = 0; i < ss->count; i++) {
        MultiFDSendParams *p = &ss->params[i];

        g_mutex_lock(&p->mutex);
        p->quit = true;
        g_mutex_unlock(&p->mutex);
        qemu_sem_post(&p->sem);
    }
    for (int i = 0; i < ss->count; i++) {
        MultiFDSendParams *p = &ss->params[i];

        if (p->thread_created) {
            qemu_thread_join(&p->thread);
        }
        if (p->c) {
            qio_channel_close(p->c, NULL);
            qio_channel_unref(p->c);
        }
        qemu_sem_destroy(&p->sem);
        qemu_sem_destroy(&p->sem_sync);
        g_mutex_clear(&p->mutex);
        g_free(p->pages);
        g_free(p->packet);
        g_free(p->dev_data);
        g_aligned_free(p->window);
    }
    qemu_sem_destroy(&ss->channels_ready);
    g_mutex_clear(&ss->error_mutex);
    error_free(ss->error);
    g_free(ss->params);
    g_free(ss->pages);
    g_free(ss);
    trace_multifd_send_shutdown();
}

/* ---- Destination ---- */

typedef struct MultiFDRecvParams {
    int index;                  /* order of arrival: the thread name */
    int id;                     /* from the init message; -1 before */
    QemuThread thread;
    QIOChannel *c;              /* read by the thread; shut down by
                                   multifd_recv_shutdown */
    QemuSemaphore sem_release;  /* the incoming thread lets it past SYNC */
    bool joined;                /* by multifd_recv_finish (incoming thread;
                                   read after that thread is joined) */
    /* Owned by the channel thread; read by others once it is joined: */
    void *comp;
    uint8_t *packet;            /* MULTIFD_HDR_SIZE */
    MultiFDPacketInfo info;
    uint64_t syncs;             /* SYNC packets received */
    bool unsynced;              /* pages received since the last SYNC */
} MultiFDRecvParams;

typedef struct MultiFDRecvState {
    GPtrArray *conns;           /* BQL: every accepted channel */
    int count;                  /* channels expected */
    const MultiFDMethods *ops;  /* NULL: compression not available */
    uint32_t comp_flag;
    uint8_t uuid[16];
    GMutex mutex;
    bool seen[256];             /* mutex: channel ids claimed */
    QemuSemaphore sem_sync;     /* a channel reached SYNC, or exited */
    QemuEvent ram_ready;        /* guest RAM may be written */
    bool quit;                  /* atomic */
    bool failed;                /* atomic; error_mutex for error */
    GMutex error_mutex;
    Error *error;
    bool fatal;                 /* error_mutex: a channel failed (not EOF) */
    uint64_t syncs;             /* incoming thread: sync points passed */
} MultiFDRecvState;

static MultiFDRecvState *recv_state;   /* BQL to create and free */

/* First error wins; @report: a real failure (not EOF or shutdown). */
static void multifd_recv_set_error(MultiFDRecvState *rs, Error *err,
                                   bool report)
{
    MigrationIncomingState *mis = migration_incoming_get_current();

    g_mutex_lock(&rs->error_mutex);
    if (!rs->error || (report && !rs->fatal)) {
        /* A real failure replaces a "closed": it is the one to show. */
        error_free(rs->error);
        rs->error = error_copy(err);
        rs->fatal = report;
    } else {
        report = false;
    }
    g_mutex_unlock(&rs->error_mutex);
    __atomic_store_n(&rs->failed, true, __ATOMIC_SEQ_CST);
    if (report && !__atomic_load_n(&rs->quit, __ATOMIC_SEQ_CST)) {
        error_report("%s", error_get_pretty(err));
        /*
         * Make the incoming thread fail now, not at the next sync.  The
         * channel's error goes on the main stream first (the first error
         * of a QEMUFile wins): it is the cause the load fails with and
         * error-desc shows, not the shutdown's "was shut down".
         */
        if (mis->from_src_file) {
            qemu_file_set_error_obj(mis->from_src_file, -EIO,
                                    error_copy(err));
            qemu_file_shutdown(mis->from_src_file);
        }
    }
    error_free(err);
}

static bool multifd_recv_hello(MultiFDRecvState *rs, MultiFDRecvParams *p,
                               Error **errp)
{
    uint8_t msg[MULTIFD_INIT_SIZE];
    uint8_t id;
    bool dup;

    if (qio_channel_read_all(p->c, (char *)msg, sizeof(msg), errp) < 0) {
        error_prepend(errp, "multifd: could not read the init message: ");
        return false;
    }
    if (!multifd_init_decode(msg, rs->uuid, &id, errp)) {
        return false;
    }
    if (id >= rs->count) {
        error_setg(errp, "multifd: received channel id %u is greater than "
                   "number of channels %d", id, rs->count);
        return false;
    }
    g_mutex_lock(&rs->mutex);
    dup = rs->seen[id];
    rs->seen[id] = true;
    g_mutex_unlock(&rs->mutex);
    if (dup) {
        error_setg(errp, "multifd: received id '%u' already setup", id);
        return false;
    }
    p->id = id;
    return rs->ops->recv_setup(&p->comp, errp);
}

/* Holes stay holes, shared fd-backed RAM included (ram_load_zero_page). */
static bool multifd_recv_zero_pages(RAMBlock *rb,
                                    const MultiFDPacketInfo *info,
                                    Error **errp)
{
    for (uint32_t i = 0; i < info->zero_num; i++) {
        if (!ram_load_zero_page(rb, info->offset[info->normal_num + i],
                                errp)) {
            return false;
        }
    }
    return true;
}

/* A device state packet: its data goes to the device's section. */
static bool multifd_recv_device_state(MultiFDRecvParams *p, Error **errp)
{
    MultiFDPacketInfo *info = &p->info;
    g_autofree uint8_t *buf = g_malloc(info->next_packet_size);

    trace_multifd_recv_device_state(p->id, info->packet_num, info->ramblock,
                                    info->next_packet_size);
    if (qio_channel_read_all(p->c, (char *)buf, info->next_packet_size,
                             errp) < 0) {
        error_prepend(errp, "multifd channel %d: ", p->id);
        return false;
    }
    if (!qemu_loadvm_load_state_buffer(info->ramblock, info->instance_id,
                                       buf, info->next_packet_size, errp)) {
        error_prepend(errp, "multifd channel %d: ", p->id);
        return false;
    }
    return true;
}

/* Check the header in p->packet and load its pages. */
static bool multifd_recv_packet(MultiFDRecvState *rs, MultiFDRecvParams *p,
                                Error **errp)
{
    MultiFDPacketInfo *info = &p->info;
    MultiFDRecvJob job = { .c = p->c };
    RAMBlock *rb;

    if (!multifd_packet_decode(p->packet, info, errp)) {
        return false;
    }
    if ((info->flags & MULTIFD_FLAG_COMPRESSION_MASK) != rs->comp_flag) {
        error_setg(errp, "multifd %d: flags received %x flags expected %x",
                   p->id, info->flags & MULTIFD_FLAG_COMPRESSION_MASK,
                   rs->comp_flag);
        return false;
    }
    if (info->flags & MULTIFD_FLAG_DEVICE_STATE) {
        return multifd_recv_device_state(p, errp);
    }
    trace_multifd_recv(p->id, info->packet_num, info->normal_num,
                       info->zero_num, info->next_packet_size);
    if (!info->normal_num && info->next_packet_size) {
        error_setg(errp, "multifd %d: packet without pages announces %u "
                   "data bytes", p->id, info->next_packet_size);
        return false;
    }
    if (!info->normal_num && !info->zero_num) {
        return true;
    }
    rb = ram_block_by_name(info->ramblock);
    if (!rb) {
        error_setg(errp, "multifd: unknown ramblock \"%s\", cannot accept "
                   "migration", info->ramblock);
        return false;
    }
    if (!multifd_packet_check_offsets(info, rb->used_length, errp)) {
        return false;
    }
    if (info->normal_num) {
        job.block = rb;
        job.normal_num = info->normal_num;
        job.normal = info->offset;
        job.next_packet_size = info->next_packet_size;
        if (!rs->ops->recv(p->comp, &job, errp)) {
            error_prepend(errp, "multifd channel %d: ", p->id);
            return false;
        }
    }
    if (!multifd_recv_zero_pages(rb, info, errp)) {
        error_prepend(errp, "multifd channel %d: ", p->id);
        return false;
    }
    return true;
}

/* Read packets until EOF, an error or shutdown. */
static bool multifd_recv_loop(MultiFDRecvState *rs, MultiFDRecvParams *p,
                              Error **errp)
{
    for (;;) {
        int ret;

        if (__atomic_load_n(&rs->quit, __ATOMIC_SEQ_CST)) {
            return true;
        }
        ret = qio_channel_read_all_eof(p->c, (char *)p->packet,
                                       MULTIFD_HDR_SIZE, errp);
        if (ret == 0) {
            return true;        /* the source closed it: normal at the end */
        }
        if (ret < 0) {
            error_prepend(errp, "multifd channel %d: ", p->id);
            return false;
        }
        if (!multifd_recv_packet(rs, p, errp)) {
            return false;
        }
        if (p->info.normal_num || p->info.zero_num) {
            p->unsynced = true;
        }
        if (p->info.flags & MULTIFD_FLAG_SYNC) {
            p->unsynced = false;
            p->syncs++;
            qemu_sem_post(&rs->sem_sync);
            qemu_sem_wait(&p->sem_release);
        }
    }
}

static void *multifd_recv_thread(void *opaque)
{
    MultiFDRecvParams *p = opaque;
    MultiFDRecvState *rs = recv_state;
    Error *err = NULL;
    bool ok;

    ok = multifd_recv_hello(rs, p, &err);
    if (ok) {
        qemu_event_wait(&rs->ram_ready);
        ok = multifd_recv_loop(rs, p, &err);
    }
    if (!ok) {
        multifd_recv_set_error(rs, err, true);
    } else {
        /* A sync still waiting for this channel can never complete. */
        error_setg(&err, "multifd channel %d was closed", p->id);
        multifd_recv_set_error(rs, err, false);
    }
    qemu_sem_post(&rs->sem_sync);
    if (p->comp) {
        rs->ops->recv_cleanup(p->comp);
        p->comp = NULL;
    }
    return NULL;
}

void multifd_recv_setup(void)
{
    MultiFDRecvState *rs;
    Error *err = NULL;

    assert(!recv_state);
    rs = g_new0(MultiFDRecvState, 1);
    rs->conns = g_ptr_array_new();
    rs->count = migrate_multifd_channels();
    rs->ops = multifd_get_ops(migrate_multifd_compression(), &err);
    rs->comp_flag = multifd_compression_flag(migrate_multifd_compression());
    multifd_local_uuid(rs->uuid);
    g_mutex_init(&rs->mutex);
    g_mutex_init(&rs->error_mutex);
    qemu_sem_init(&rs->sem_sync, 0);
    qemu_event_init(&rs->ram_ready, false);
    recv_state = rs;
    if (err) {
        multifd_recv_set_error(rs, err, false);
    }
    trace_multifd_recv_setup(rs->count);
}

void multifd_recv_new_channel(QIOChannel *ioc)
{
    MultiFDRecvState *rs = recv_state;
    MultiFDRecvParams *p;
    g_autofree char *name = NULL;

    if (!rs || rs->conns->len >= (guint)rs->count || !rs->ops ||
        __atomic_load_n(&rs->quit, __ATOMIC_SEQ_CST)) {
        qio_channel_close(ioc, NULL);
        qio_channel_unref(ioc);
        return;
    }
    p = g_new0(MultiFDRecvParams, 1);
    p->index = rs->conns->len;
    p->id = -1;
    p->c = ioc;
    p->packet = g_malloc0(MULTIFD_HDR_SIZE);
    qemu_sem_init(&p->sem_release, 0);
    qio_channel_set_name(ioc, "multifd-incoming");
    g_ptr_array_add(rs->conns, p);
    name = g_strdup_printf("mig/dst/recv_%d", p->index);
    trace_multifd_recv_new_channel(p->index);
    qemu_thread_create(&p->thread, name, multifd_recv_thread, p,
                       QEMU_THREAD_JOINABLE);
}

bool multifd_recv_all_channels(void)
{
    return recv_state && recv_state->conns->len >= (guint)recv_state->count;
}

void multifd_recv_ram_ready(void)
{
    if (recv_state) {
        qemu_event_set(&recv_state->ram_ready);
    }
}

bool multifd_recv_failed(void)
{
    MultiFDRecvState *rs = recv_state;
    bool fatal;

    if (!rs || !__atomic_load_n(&rs->failed, __ATOMIC_SEQ_CST)) {
        return false;
    }
    /* A channel the source closed at the end is not a failure. */
    g_mutex_lock(&rs->error_mutex);
    fatal = rs->fatal;
    g_mutex_unlock(&rs->error_mutex);
    return fatal;
}

static bool multifd_recv_check_error(MultiFDRecvState *rs, Error **errp)
{
    if (!__atomic_load_n(&rs->failed, __ATOMIC_SEQ_CST)) {
        return true;
    }
    g_mutex_lock(&rs->error_mutex);
    error_propagate(errp, error_copy(rs->error));
    g_mutex_unlock(&rs->error_mutex);
    return false;
}

bool multifd_recv_sync_main(Error **errp)
{
    MultiFDRecvState *rs = recv_state;

    if (!rs) {
        error_setg(errp, "multifd: a sync point arrived but no multifd "
                   "channels are set up");
        return false;
    }
    for (int i = 0; i < rs->count; i++) {
        if (!multifd_recv_check_error(rs, errp)) {
            return false;
        }
        qemu_sem_wait(&rs->sem_sync);
        if (!multifd_recv_check_error(rs, errp)) {
            return false;
        }
    }
    /* Every channel is parked after its SYNC packet: let them go on. */
    for (guint i = 0; i < rs->conns->len; i++) {
        MultiFDRecvParams *p = g_ptr_array_index(rs->conns, i);

        qemu_sem_post(&p->sem_release);
    }
    rs->syncs++;
    trace_multifd_recv_sync(rs->count);
    return true;
}

/* Wake and stop every channel thread (quit set).  BQL held. */
static void multifd_recv_kick(MultiFDRecvState *rs)
{
    qemu_event_set(&rs->ram_ready);
    for (guint i = 0; i < rs->conns->len; i++) {
        MultiFDRecvParams *p = g_ptr_array_index(rs->conns, i);

        qio_channel_shutdown(p->c, QIO_CHANNEL_SHUTDOWN_BOTH, NULL);
        qemu_sem_post(&p->sem_release);
    }
}

/* After every channel thread was joined: did each end cleanly? */
static bool multifd_recv_check_end(MultiFDRecvState *rs, GPtrArray *conns,
                                   Error **errp)
{
    g_mutex_lock(&rs->error_mutex);
    if (rs->fatal) {
        error_propagate(errp, error_copy(rs->error));
    }
    g_mutex_unlock(&rs->error_mutex);
    if (errp && *errp) {
        return false;
    }
    if (conns->len < (guint)rs->count) {
        error_setg(errp, "multifd: only %u of %d channels connected",
                   conns->len, rs->count);
        return false;
    }
    for (guint i = 0; i < conns->len; i++) {
        MultiFDRecvParams *p = g_ptr_array_index(conns, i);
        int id = p->id >= 0 ? p->id : p->index;

        if (p->unsynced) {
            error_setg(errp, "multifd channel %d carried pages after its "
                       "last sync point: they were not part of the "
                       "migration the source completed", id);
            return false;
        }
        if (p->syncs != rs->syncs) {
            error_setg(errp, "multifd channel %d passed %" PRIu64 " sync "
                       "points, the main stream %" PRIu64, id, p->syncs,
                       rs->syncs);
            return false;
        }
    }
    return true;
}

bool multifd_recv_finish(Error **errp)
{
    MultiFDRecvState *rs = recv_state;
    g_autoptr(GPtrArray) conns = NULL;

    if (!rs) {
        error_setg(errp, "multifd: no channels were set up");
        return false;
    }
    /* Under the BQL: no channel joins (or is shut down) meanwhile. */
    bql_lock();
    __atomic_store_n(&rs->quit, true, __ATOMIC_SEQ_CST);
    conns = g_ptr_array_copy(rs->conns, NULL, NULL);
    multifd_recv_kick(rs);
    bql_unlock();
    for (guint i = 0; i < conns->len; i++) {
        MultiFDRecvParams *p = g_ptr_array_index(conns, i);

        qemu_thread_join(&p->thread);
        p->joined = true;
    }
    trace_multifd_recv_finish(conns->len, rs->syncs);
    return multifd_recv_check_end(rs, conns, errp);
}

/* Wake everything that may wait: channel threads and a sync. */
void multifd_recv_terminate(void)
{
    MultiFDRecvState *rs = recv_state;

    if (!rs) {
        return;
    }
    __atomic_store_n(&rs->quit, true, __ATOMIC_SEQ_CST);
    multifd_recv_kick(rs);
    if (!multifd_recv_all_channels()) {
        Error *err = NULL;

        /* A sync waiting for channels that never came must give up. */
        error_setg(&err, "multifd: not every channel connected");
        multifd_recv_set_error(rs, err, false);
        for (int i = 0; i < rs->count; i++) {
            qemu_sem_post(&rs->sem_sync);
        }
    }
}

void multifd_recv_shutdown(void)
{
    MultiFDRecvState *rs = recv_state;

    if (!rs) {
        return;
    }
    multifd_recv_terminate();
    for (guint i = 0; i < rs->conns->len; i++) {
        MultiFDRecvParams *p = g_ptr_array_index(rs->conns, i);

        if (!p->joined) {
            qemu_thread_join(&p->thread);
        }
        qio_channel_close(p->c, NULL);
        qio_channel_unref(p->c);
        qemu_sem_destroy(&p->sem_release);
        g_free(p->packet);
        g_free(p);
    }
    g_ptr_array_free(rs->conns, true);
    qemu_sem_destroy(&rs->sem_sync);
    qemu_event_destroy(&rs->ram_ready);
    g_mutex_clear(&rs->mutex);
    g_mutex_clear(&rs->error_mutex);
    error_free(rs->error);
    g_free(rs);
    recv_state = NULL;
    trace_multifd_recv_shutdown();
}
