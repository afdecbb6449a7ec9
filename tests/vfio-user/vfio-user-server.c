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
 * This file owns main(), the poll loop over the sockets and the vfio-user
 * commands (negotiation, regions, reset, the DEVICE_FEATURE dispatch); the
 * device, DMA, migration and the control commands have files of their own,
 * listed in vu-server.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "vu-server.h"

#define MAX_CONTROL     4

gboolean verbose;            /* G_OPTION_ARG_NONE writes a gboolean */

/* ---- vfio-user commands ---- */

void reply_data(Reply *r, const void *data, size_t len)
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
    mig_reset();
    dev.logging = false;
    g_cond_signal(&dev.wake);
}

/* ---- DEVICE_FEATURE ---- */

void feature_reply(Reply *r, const VFIOUserDeviceFeature *f,
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

static bool feature_known(uint32_t index)
{
    return index == VFIO_DEVICE_FEATURE_MIGRATION ||
           index == VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE ||
           index == VFIO_DEVICE_FEATURE_MIG_DATA_SIZE ||
           index == VFIO_DEVICE_FEATURE_DMA_LOGGING_START ||
           index == VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP ||
           index == VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT ||
           index == VFIO_USER_DEVICE_FEATURE_PRECOPY_INFO;
}

/* A GET or SET of feature @index, whose data is @dlen bytes; an errno. */
static int feature_get_set(VFIOUserDeviceFeature *f, uint32_t index,
                           size_t dlen, bool get, Reply *r)
{
    switch (index) {
    case VFIO_DEVICE_FEATURE_MIGRATION:
        return feat_migration(f, get, r);
    case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE:
        return feat_mig_state(f, dlen, get, r);
    case VFIO_DEVICE_FEATURE_MIG_DATA_SIZE:
        return feat_data_size(f, get, r);
    case VFIO_USER_DEVICE_FEATURE_PRECOPY_INFO:
        return feat_precopy_info(f, get, r);
    case VFIO_DEVICE_FEATURE_DMA_LOGGING_START:
        return get ? EINVAL : feat_logging_start(f, dlen, r);
    case VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP:
        return feat_logging_stop(f, get, r);
    case VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT:
        return get ? feat_logging_report(f, dlen, r) : EINVAL;
    default:
        return ENOTTY;
    }
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
    if (!(op & VFIO_DEVICE_FEATURE_PROBE)) {
        r->err = feature_get_set(f, index, dlen, get, r);
    } else if (!feature_known(index)) {
        r->err = ENOTTY;
    } else {
        feature_reply(r, f, NULL, 0);
    }
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

/* What the poll loop serves: one vfio-user client, control connections. */
typedef struct Server {
    int lsock, lctl;        /* listening: vfio-user, control */
    int client;             /* -1: none */
    bool versioned;         /* the client has negotiated (VERSION) */
    Control ctl[MAX_CONTROL];
    unsigned nctl;
    bool quit;              /* "quit" came on a control connection */
} Server;

static void serve_accept_client(Server *s)
{
    int fd = accept4(s->lsock, NULL, NULL, SOCK_CLOEXEC);

    if (fd >= 0 && s->client >= 0) {
        close(fd);          /* one client at a time */
    } else if (fd >= 0) {
        s->client = fd;
        s->versioned = false;
    }
}

static void serve_accept_control(Server *s)
{
    int fd = accept4(s->lctl, NULL, NULL, SOCK_CLOEXEC);

    if (fd >= 0 && s->nctl < MAX_CONTROL) {
        s->ctl[s->nctl++] = (Control) { .fd = fd };
    } else if (fd >= 0) {
        close(fd);
    }
}

/* One message from the client; after an error or EOF it is gone. */
static void serve_client(Server *s)
{
    VFIOUserMsg m;
    Error *err = NULL;
    int ret = vfio_user_recv(s->client, &m, MAX_XFER + 4096,
                             VFIO_USER_MSG_MAX_FDS, &err);

    if (ret <= 0 || !handle_command(s->client, &m, &s->versioned)) {
        if (ret < 0) {
            fprintf(stderr, "vfio-user-server: %s\n", error_get_pretty(err));
            error_free(err);
        }
        close(s->client);
        s->client = -1;
        dma_client_gone();
    }
    if (ret > 0) {
        vfio_user_msg_clear(&m);
    }
}

/*
 * The first @n control connections were polled (@p: their results; one
 * accepted since has none yet): serve those ready, then drop the closed.
 */
static void serve_controls(Server *s, const struct pollfd *p, unsigned n)
{
    unsigned i;

    for (i = 0; i < n; i++) {
        Control *c = &s->ctl[i];

        if (p[i].revents && !control_read(c, &s->quit)) {
            close(c->fd);
            c->fd = -1;
        }
    }
    for (i = 0; i < s->nctl;) {
        if (s->ctl[i].fd < 0) {
            s->ctl[i] = s->ctl[--s->nctl];
        } else {
            i++;
        }
    }
}

static void serve(int lsock, int lctl)
{
    Server s = { .lsock = lsock, .lctl = lctl, .client = -1 };
    unsigned i;

    while (!s.quit) {
        struct pollfd p[3 + MAX_CONTROL];
        unsigned np = 0;

        p[np++] = (struct pollfd) { .fd = lsock, .events = POLLIN };
        p[np++] = (struct pollfd) { .fd = lctl, .events = POLLIN };
        p[np++] = (struct pollfd) { .fd = s.client, .events = POLLIN };
        for (i = 0; i < s.nctl; i++) {
            p[np++] = (struct pollfd) { .fd = s.ctl[i].fd, .events = POLLIN };
        }
        if (RETRY_ON_EINTR(poll(p, np, -1)) < 0) {
            break;
        }
        if (p[0].revents) {
            serve_accept_client(&s);
        }
        if (p[1].revents) {
            serve_accept_control(&s);
        }
        if (s.client >= 0 && p[2].revents) {
            serve_client(&s);
        }
        serve_controls(&s, p + 3, np - 3);
    }
    if (s.client >= 0) {
        close(s.client);
    }
    for (i = 0; i < s.nctl; i++) {
        close(s.ctl[i].fd);
    }
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
    dma_client_gone();
    unlink(sock_path);
    unlink(ctl_path);
    return 0;
}
