/*
 * vfio-user-pci: a VFIO device served by another process over a unix
 * socket (the vfio-user protocol, include/hw/vfio/vfio-user-proto.h),
 * as the transport of the VFIO migration core.
 *
 * Set-up at machine creation: connect, VERSION (limits of both sides),
 * DEVICE_GET_INFO, the device's migration flags, and DMA_MAP of every
 * piece of the guest-physical map with its RAMBlock's fd, so the server
 * DMAs straight into guest RAM (which must therefore be fd-backed and
 * shared).  Migration: DEVICE_FEATURE (MIG_DEVICE_STATE, DMA_LOGGING_*,
 * MIG_DATA_SIZE, the precopy-info extension), MIG_DATA_READ / _WRITE.
 *
 * One request at a time: the caller holds VFIODevice.lock (the core does
 * for every ops hook; set-up runs before anything else can).  Every wait
 * for a reply is bounded by a receive timeout on the socket.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/socket.h>
#include <sys/un.h>
#include <json-glib/json-glib.h>
#include "qapi/error.h"
#include "hw/vfio/vfio-device.h"
#include "hw/vfio/vfio-pci.h"
#include "hw/vfio/vfio-user-msg.h"
#include "system/ramblock.h"
#include "trace.h"

/* How long a reply may take before the device counts as gone. */
#define VFIO_USER_REPLY_TIMEOUT_S   30
/* What we accept in one message besides data: headers, small structs. */
#define VFIO_USER_SMALL_PAYLOAD     4096
/* Our limits, announced in VERSION. */
#define VFIO_USER_CLIENT_MAX_XFER   (1024 * 1024)
#define VFIO_USER_CLIENT_MAX_BITMAP (1024 * 1024)

typedef struct VFIOUserClient {
    VFIODevice vdev;
    int sock;
    uint16_t next_id;
    /* The server's limits from VERSION. */
    uint64_t max_xfer;
    uint64_t max_fds;
    uint64_t max_bitmap;
    VFIOUserDeviceInfo info;
    bool has_precopy_info;      /* the qmig precopy-info extension */
    bool has_data_size;         /* VFIO_DEVICE_FEATURE_MIG_DATA_SIZE */
} VFIOUserClient;

static VFIOUserClient *vfio_user_client(VFIODevice *vdev)
{
    return vdev->opaque;
}

/*
 * Send a command and wait for its reply into @reply (cleared by the
 * caller).  Commands from the server meanwhile are refused: we map guest
 * RAM with fds, so it has no reason to send DMA_READ/DMA_WRITE.
 */
static bool vfio_user_request(VFIOUserClient *c, uint16_t cmd,
                              const void *payload, size_t len,
                              const int *fds, unsigned nfds,
                              size_t max_reply, VFIOUserMsg *reply,
                              Error **errp)
{
    VFIOUserHdr hdr = { .id = c->next_id++, .command = cmd };

    if (c->sock < 0) {
        error_setg(errp, "the vfio-user server connection is closed");
        return false;
    }
    trace_vfio_user_request(c->vdev.name, vfio_user_command_name(cmd), len);
    if (!vfio_user_send(c->sock, &hdr, payload, len, fds, nfds, errp)) {
        goto broken;
    }
    for (;;) {
        int r = vfio_user_recv(c->sock, reply, max_reply, 0, errp);

        if (r <= 0) {
            if (r == 0) {
                error_setg(errp, "the vfio-user server closed the "
                           "connection");
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                error_prepend(errp, "no reply within %d s: ",
                              VFIO_USER_REPLY_TIMEOUT_S);
            }
            goto broken;
        }
        if (!vfio_user_hdr_is_reply(&reply->hdr)) {
            vfio_user_send_error(c->sock, &reply->hdr, EINVAL, NULL);
            vfio_user_msg_clear(reply);
            continue;
        }
        if (reply->hdr.id != hdr.id || reply->hdr.command != cmd) {
            error_setg(errp, "reply %u/%s does not answer request %u/%s",
                       reply->hdr.id,
                       vfio_user_command_name(reply->hdr.command), hdr.id,
                       vfio_user_command_name(cmd));
            goto broken;
        }
        break;
    }
    if (reply->hdr.flags & VFIO_USER_F_ERROR) {
        int err = reply->hdr.error_reply;

        error_setg_errno(errp, err > 0 && err < 4096 ? err : EIO,
                         "vfio-user %s failed", vfio_user_command_name(cmd));
        return false;
    }
    return true;

broken:
    /* The stream lost its framing: nothing further can be trusted. */
    error_prepend(errp, "vfio-user %s: ", vfio_user_command_name(cmd));
    close(c->sock);
    c->sock = -1;
    return false;
}

/*
 * DEVICE_FEATURE with @flags (index and GET/SET/PROBE) and @data; a GET
 * copies exactly @out_len bytes of the reply's data to @out.
 */
static bool vfio_user_feature(VFIOUserClient *c, uint32_t flags,
                              const void *data, size_t data_len, void *out,
                              size_t out_len, Error **errp)
{
    size_t len = sizeof(VFIOUserDeviceFeature) + data_len;
    g_autofree VFIOUserDeviceFeature *req = g_malloc0(len);
    VFIOUserMsg reply = { 0 };
    VFIOUserDeviceFeature *rf;
    bool ok;

    req->argsz = sizeof(*req) + MAX(data_len, out_len);
    req->flags = flags;
    if (data_len) {
        memcpy(req->data, data, data_len);
    }
    ok = vfio_user_request(c, VFIO_USER_DEVICE_FEATURE, req, len, NULL, 0,
                           sizeof(*rf) + out_len + VFIO_USER_SMALL_PAYLOAD,
                           &reply, errp);
    if (ok && out_len) {
        rf = vfio_user_msg_payload(&reply, sizeof(*rf) + out_len);
        if (!rf) {
            error_setg(errp, "vfio-user DEVICE_FEATURE 0x%x: reply of %zu "
                       "bytes, expected %zu", flags, reply.len,
                       sizeof(*rf) + out_len);
            ok = false;
        } else {
            memcpy(out, rf->data, out_len);
        }
    }
    vfio_user_msg_clear(&reply);
    return ok;
}

/* ---- VFIODeviceOps ---- */

static bool vfio_user_get_migration_flags(VFIODevice *vdev, uint64_t *flags,
                                          Error **errp)
{
    VFIOUserFeatureMigration m;
    Error *err = NULL;

    if (!vfio_user_feature(vfio_user_client(vdev),
                           VFIO_DEVICE_FEATURE_GET |
                           VFIO_DEVICE_FEATURE_MIGRATION,
                           NULL, 0, &m, sizeof(m), &err)) {
        /* No migration feature: the device just cannot migrate. */
        trace_vfio_user_no_migration(vdev->name, error_get_pretty(err));
        error_free(err);
        *flags = 0;
        return true;
    }
    *flags = m.flags;
    return true;
}

static bool vfio_user_set_state(VFIODevice *vdev, VFIOMigState state,
                                Error **errp)
{
    VFIOUserFeatureMigState s = { .device_state = state, .data_fd = -1 };

    return vfio_user_feature(vfio_user_client(vdev),
                             VFIO_DEVICE_FEATURE_SET |
                             VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
                             &s, sizeof(s), NULL, 0, errp);
}

static bool vfio_user_get_state(VFIODevice *vdev, VFIOMigState *state,
                                Error **errp)
{
    VFIOUserFeatureMigState s;

    if (!vfio_user_feature(vfio_user_client(vdev),
                           VFIO_DEVICE_FEATURE_GET |
                           VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
                           NULL, 0, &s, sizeof(s), errp)) {
        return false;
    }
    *state = s.device_state < VFIO_MIG_STATE__MAX ? s.device_state :
             VFIO_MIG_STATE_ERROR;
    return true;
}

static bool vfio_user_reset(VFIODevice *vdev, Error **errp)
{
    VFIOUserMsg reply = { 0 };
    bool ok = vfio_user_request(vfio_user_client(vdev),
                                VFIO_USER_DEVICE_RESET, NULL, 0, NULL, 0,
                                VFIO_USER_SMALL_PAYLOAD, &reply, errp);

    vfio_user_msg_clear(&reply);
    return ok;
}

static ssize_t vfio_user_read_data(VFIODevice *vdev, void *buf, size_t len,
                                   Error **errp)
{
    VFIOUserClient *c = vfio_user_client(vdev);
    VFIOUserMigData req = {
        .argsz = sizeof(req) + MIN(len, c->max_xfer),
        .size = MIN(len, c->max_xfer),
    };
    VFIOUserMsg reply = { 0 };
    VFIOUserMigData *rd;
    ssize_t n = -1;

    if (!vfio_user_request(c, VFIO_USER_MIG_DATA_READ, &req, sizeof(req),
                           NULL, 0, sizeof(*rd) + req.size, &reply, errp)) {
        goto out;
    }
    rd = vfio_user_msg_payload(&reply, sizeof(*rd));
    if (!rd || rd->size > req.size || reply.len != sizeof(*rd) + rd->size) {
        error_setg(errp, "vfio-user MIG_DATA_READ: malformed reply (%zu "
                   "bytes for a read of %u)", reply.len, req.size);
        goto out;
    }
    memcpy(buf, rd->data, rd->size);
    n = rd->size;
out:
    vfio_user_msg_clear(&reply);
    return n;
}

static bool vfio_user_write_data(VFIODevice *vdev, const void *buf,
                                 size_t len, Error **errp)
{
    VFIOUserClient *c = vfio_user_client(vdev);
    size_t max = MIN(c->max_xfer, VFIO_USER_CLIENT_MAX_XFER);
    g_autofree VFIOUserMigData *req = g_malloc(sizeof(*req) + max);

    for (size_t done = 0; done < len; ) {
        size_t n = MIN(len - done, max);
        VFIOUserMsg reply = { 0 };
        bool ok;

        req->argsz = sizeof(*req) + n;
        req->size = n;
        memcpy(req->data, (const uint8_t *)buf + done, n);
        ok = vfio_user_request(c, VFIO_USER_MIG_DATA_WRITE, req,
                               sizeof(*req) + n, NULL, 0,
                               VFIO_USER_SMALL_PAYLOAD, &reply, errp);
        vfio_user_msg_clear(&reply);
        if (!ok) {
            return false;
        }
        done += n;
    }
    return true;
}

static bool vfio_user_get_precopy_info(VFIODevice *vdev, uint64_t *initial,
                                       uint64_t *dirty, Error **errp)
{
    VFIOUserClient *c = vfio_user_client(vdev);
    VFIOUserFeaturePrecopyInfo pi;

    if (!c->has_precopy_info) {
        *initial = *dirty = 0;  /* sized by reading it instead */
        return true;
    }
    if (!vfio_user_feature(c, VFIO_DEVICE_FEATURE_GET |
                           VFIO_USER_DEVICE_FEATURE_PRECOPY_INFO,
                           NULL, 0, &pi, sizeof(pi), errp)) {
        return false;
    }
    *initial = pi.initial_bytes;
    *dirty = pi.dirty_bytes;
    return true;
}

static bool vfio_user_get_stop_copy_size(VFIODevice *vdev, uint64_t *bytes,
                                         Error **errp)
{
    VFIOUserClient *c = vfio_user_client(vdev);
    VFIOUserFeatureMigDataSize ds;

    if (!c->has_data_size) {
        *bytes = 0;
        return true;
    }
    if (!vfio_user_feature(c, VFIO_DEVICE_FEATURE_GET |
                           VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
                           NULL, 0, &ds, sizeof(ds), errp)) {
        return false;
    }
    *bytes = ds.stop_copy_length;
    return true;
}

static bool vfio_user_dma_logging_start(VFIODevice *vdev,
                                        const VFIODMARange *ranges,
                                        unsigned nr, uint64_t page_size,
                                        Error **errp)
{
    size_t len = sizeof(VFIOUserDMALoggingControl) +
                 nr * sizeof(VFIOUserDMALoggingRange);
    g_autofree VFIOUserDMALoggingControl *ctl = g_malloc0(len);

    ctl->page_size = page_size;
    ctl->num_ranges = nr;
    for (unsigned i = 0; i < nr; i++) {
        ctl->ranges[i].iova = ranges[i].iova;
        ctl->ranges[i].length = ranges[i].length;
    }
    return vfio_user_feature(vfio_user_client(vdev),
                             VFIO_DEVICE_FEATURE_SET |
                             VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
                             ctl, len, NULL, 0, errp);
}

static void vfio_user_dma_logging_stop(VFIODevice *vdev)
{
    Error *err = NULL;

    if (!vfio_user_feature(vfio_user_client(vdev),
                           VFIO_DEVICE_FEATURE_SET |
                           VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
                           NULL, 0, NULL, 0, &err)) {
        warn_report("%s: stopping DMA logging: %s", vdev->name,
                    error_get_pretty(err));
        error_free(err);
    }
}

/* One report of at most the server's bitmap size. */
static bool vfio_user_report_piece(VFIOUserClient *c, uint64_t iova,
                                   uint64_t pages, uint64_t page_size,
                                   uint64_t *words, Error **errp)
{
    VFIOUserDMALoggingReport req = {
        .iova = iova, .length = pages * page_size, .page_size = page_size,
    };
    size_t bytes = DIV_ROUND_UP(pages, 64) * 8;
    g_autofree uint8_t *out = g_malloc(sizeof(req) + bytes);
    const uint64_t *got;

    if (!vfio_user_feature(c, VFIO_DEVICE_FEATURE_GET |
                           VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
                           &req, sizeof(req), out, sizeof(req) + bytes,
                           errp)) {
        return false;
    }
    got = (const uint64_t *)(out + sizeof(req));
    for (size_t w = 0; w < bytes / 8; w++) {
        words[w] |= got[w];
    }
    return true;
}

static bool vfio_user_dma_logging_report(VFIODevice *vdev, uint64_t iova,
                                         uint64_t length, uint64_t page_size,
                                         uint64_t *bitmap, Error **errp)
{
    VFIOUserClient *c = vfio_user_client(vdev);
    /* Pieces of whole bitmap words that fit both sides' limits. */
    uint64_t max_pages = MIN(c->max_bitmap, VFIO_USER_CLIENT_MAX_BITMAP) * 8;
    uint64_t pages = length / page_size;

    for (uint64_t done = 0; done < pages; done += max_pages) {
        uint64_t n = MIN(pages - done, max_pages);

        if (!vfio_user_report_piece(c, iova + done * page_size, n,
                                    page_size, bitmap + done / 64, errp)) {
            return false;
        }
    }
    return true;
}

static const VFIODeviceOps vfio_user_ops = {
    .get_migration_flags = vfio_user_get_migration_flags,
    .set_state = vfio_user_set_state,
    .get_state = vfio_user_get_state,
    .reset = vfio_user_reset,
    .read_data = vfio_user_read_data,
    .write_data = vfio_user_write_data,
    .get_precopy_info = vfio_user_get_precopy_info,
    .get_stop_copy_size = vfio_user_get_stop_copy_size,
    .dma_logging_start = vfio_user_dma_logging_start,
    .dma_logging_stop = vfio_user_dma_logging_stop,
    .dma_logging_report = vfio_user_dma_logging_report,
};

/* ---- set-up ---- */

static bool vfio_user_connect(VFIOUserClient *c, const char *path,
                              Error **errp)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    struct timeval tv = { .tv_sec = VFIO_USER_REPLY_TIMEOUT_S };

    if (strlen(path) >= sizeof(sun.sun_path)) {
        error_setg(errp, "socket path '%s' is too long", path);
        return false;
    }
    strcpy(sun.sun_path, path);
    c->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->sock < 0) {
        error_setg_errno(errp, errno, "socket");
        return false;
    }
    if (connect(c->sock, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        error_setg_errno(errp, errno, "cannot connect to the vfio-user "
                         "server at '%s'", path);
        close(c->sock);
        c->sock = -1;
        return false;
    }
    setsockopt(c->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return true;
}

static uint64_t vfio_user_json_u64(JsonObject *o, const char *name,
                                   uint64_t def)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;

    if (!n || json_node_get_value_type(n) != G_TYPE_INT64 ||
        json_node_get_int(n) <= 0) {
        return def;
    }
    return json_node_get_int(n);
}

/* The server's capabilities: absent ones take the spec's defaults. */
static bool vfio_user_parse_caps(VFIOUserClient *c, const char *json,
                                 Error **errp)
{
    g_autoptr(JsonParser) p = json_parser_new();
    JsonObject *caps = NULL, *mig = NULL;
    JsonNode *root;

    c->max_xfer = VFIO_USER_DEF_MAX_XFER;
    c->max_fds = VFIO_USER_DEF_MAX_FDS;
    c->max_bitmap = VFIO_USER_DEF_MAX_BITMAP;
    if (!*json) {
        return true;
    }
    if (!json_parser_load_from_data(p, json, -1, NULL) ||
        !(root = json_parser_get_root(p)) || !JSON_NODE_HOLDS_OBJECT(root)) {
        error_setg(errp, "the server's VERSION capabilities are not a JSON "
                   "object");
        return false;
    }
    if (json_object_has_member(json_node_get_object(root), VFIO_USER_CAP)) {
        caps = json_object_get_object_member(json_node_get_object(root),
                                             VFIO_USER_CAP);
    }
    if (caps && json_object_has_member(caps, VFIO_USER_CAP_MIGR)) {
        mig = json_object_get_object_member(caps, VFIO_USER_CAP_MIGR);
    }
    c->max_xfer = MIN(vfio_user_json_u64(caps, VFIO_USER_CAP_MAX_XFER,
                                         c->max_xfer),
                      VFIO_USER_CLIENT_MAX_XFER);
    c->max_fds = vfio_user_json_u64(caps, VFIO_USER_CAP_MAX_FDS,
                                    c->max_fds);
    c->max_bitmap = MAX(vfio_user_json_u64(mig, VFIO_USER_CAP_MAX_BITMAP,
                                           c->max_bitmap), 8);
    if (vfio_user_json_u64(mig, VFIO_USER_CAP_PGSIZE, TARGET_PAGE_SIZE) !=
        TARGET_PAGE_SIZE) {
        error_setg(errp, "the server logs DMA in pages of %" PRIu64
                   " bytes; qmig needs %d",
                   vfio_user_json_u64(mig, VFIO_USER_CAP_PGSIZE, 0),
                   TARGET_PAGE_SIZE);
        return false;
    }
    return true;
}

static bool vfio_user_version(VFIOUserClient *c, Error **errp)
{
    g_autofree char *caps = g_strdup_printf(
        "{\"%s\":{\"%s\":%d,\"%s\":%d,\"%s\":{\"%s\":%d,\"%s\":%d}}}",
        VFIO_USER_CAP, VFIO_USER_CAP_MAX_FDS, VFIO_USER_MSG_MAX_FDS,
        VFIO_USER_CAP_MAX_XFER, VFIO_USER_CLIENT_MAX_XFER,
        VFIO_USER_CAP_MIGR, VFIO_USER_CAP_PGSIZE, TARGET_PAGE_SIZE,
        VFIO_USER_CAP_MAX_BITMAP, VFIO_USER_CLIENT_MAX_BITMAP);
    size_t len = sizeof(VFIOUserVersion) + strlen(caps) + 1;
    g_autofree VFIOUserVersion *v = g_malloc0(len);
    g_autofree char *theirs = NULL;
    VFIOUserMsg reply = { 0 };
    VFIOUserVersion *rv;
    bool ok;

    v->major = VFIO_USER_MAJOR_VER;
    v->minor = VFIO_USER_MINOR_VER;
    memcpy(v->caps, caps, strlen(caps) + 1);
    if (!vfio_user_request(c, VFIO_USER_VERSION, v, len, NULL, 0,
                           VFIO_USER_MAX_VERSION_SIZE, &reply, errp)) {
        return false;
    }
    rv = vfio_user_msg_payload(&reply, sizeof(*rv));
    if (!rv || rv->major != VFIO_USER_MAJOR_VER) {
        error_setg(errp, "the server speaks vfio-user %d.x, qmig %d.%d",
                   rv ? rv->major : -1, VFIO_USER_MAJOR_VER,
                   VFIO_USER_MINOR_VER);
        vfio_user_msg_clear(&reply);
        return false;
    }
    /* The JSON may be absent, or not NUL-terminated: copy it bounded. */
    theirs = g_strndup(rv->caps, reply.len - sizeof(*rv));
    vfio_user_msg_clear(&reply);
    ok = vfio_user_parse_caps(c, theirs, errp);
    trace_vfio_user_version(c->vdev.name, c->max_xfer, c->max_fds,
                            c->max_bitmap);
    return ok;
}

static bool vfio_user_get_info(VFIOUserClient *c, Error **errp)
{
    VFIOUserDeviceInfo req = { .argsz = sizeof(req) };
    VFIOUserMsg reply = { 0 };
    VFIOUserDeviceInfo *info;
    bool ok = false;

    if (!vfio_user_request(c, VFIO_USER_DEVICE_GET_INFO, &req, sizeof(req),
                           NULL, 0, VFIO_USER_SMALL_PAYLOAD, &reply, errp)) {
        return false;
    }
    info = vfio_user_msg_payload(&reply, sizeof(*info));
    if (!info) {
        error_setg(errp, "DEVICE_GET_INFO: short reply (%zu bytes)",
                   reply.len);
    } else {
        c->info = *info;
        ok = true;
    }
    vfio_user_msg_clear(&reply);
    return ok;
}

/* Map every piece of guest RAM at its guest-physical address. */
static bool vfio_user_dma_map_all(VFIOUserClient *c, Error **errp)
{
    GPtrArray *secs = guest_mem_sections();

    for (guint i = 0; i < secs->len; i++) {
        GuestMemSection *sec = g_ptr_array_index(secs, i);
        VFIOUserDMAMap map = {
            .argsz = sizeof(map),
            .flags = VFIO_USER_F_DMA_REGION_READ |
                     VFIO_USER_F_DMA_REGION_WRITE,
            .offset = sec->offset,
            .addr = sec->gpa,
            .size = sec->size,
        };
        VFIOUserMsg reply = { 0 };
        bool ok;

        if (sec->block->fd < 0 || !sec->block->shared) {
            error_setg(errp, "guest RAM '%s' is not shared with other "
                       "processes, so the device server cannot DMA into it"
                       ": back it with -object memory-backend-memfd,id=ID,"
                       "size=SIZE,share=on (or memory-backend-file with "
                       "share=on) and -machine memory-backend=ID",
                       sec->block->idstr);
            return false;
        }
        ok = vfio_user_request(c, VFIO_USER_DMA_MAP, &map, sizeof(map),
                               &sec->block->fd, 1, VFIO_USER_SMALL_PAYLOAD,
                               &reply, errp);
        vfio_user_msg_clear(&reply);
        trace_vfio_user_dma_map(c->vdev.name, sec->gpa, sec->size, ok);
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* Optional features the server may lack: PROBE them once. */
static bool vfio_user_probe(VFIOUserClient *c, uint32_t feature)
{
    Error *err = NULL;
    bool ok = vfio_user_feature(c, VFIO_DEVICE_FEATURE_PROBE | feature,
                                NULL, 0, NULL, 0, &err);

    error_free(err);
    return ok && c->sock >= 0;
}

bool vfio_user_pci_create(const char *id, const char *socket_path,
                          VFIOMultifdMode mf_mode, Error **errp)
{
    VFIOUserClient *c = g_new0(VFIOUserClient, 1);
    VFIODevice *vdev = &c->vdev;

    c->sock = -1;
    vdev->name = g_strdup(id);
    vdev->ops = &vfio_user_ops;
    vdev->opaque = c;
    vdev->mf_mode = mf_mode;
    vfio_device_init_common(vdev);
    if (!vfio_user_connect(c, socket_path, errp) ||
        !vfio_user_version(c, errp) ||
        !vfio_user_get_info(c, errp) ||
        !vfio_user_get_migration_flags(vdev, &vdev->mig_flags, errp)) {
        goto fail;
    }
    if (vdev->mig_flags & VFIO_MIG_CAP_PRE_COPY) {
        c->has_precopy_info =
            vfio_user_probe(c, VFIO_USER_DEVICE_FEATURE_PRECOPY_INFO);
    }
    c->has_data_size = vfio_user_probe(c, VFIO_DEVICE_FEATURE_MIG_DATA_SIZE);
    if (!vfio_user_dma_map_all(c, errp)) {
        goto fail;
    }
    /* What the destination's device must match (DEV_CONFIG_STATE). */
    vdev->config = (uint8_t *)g_strdup_printf(
        "vfio-user flags=0x%x regions=%u irqs=%u migration=0x%" PRIx64,
        c->info.flags, c->info.num_regions, c->info.num_irqs,
        vdev->mig_flags);
    vdev->config_len = strlen((char *)vdev->config);
    if (!vfio_device_register(vdev, errp)) {
        goto fail;
    }
    trace_vfio_user_created(id, socket_path, vdev->mig_flags,
                            c->has_precopy_info, c->has_data_size);
    return true;

fail:
    error_prepend(errp, "vfio-user-pci '%s': ", id);
    if (c->sock >= 0) {
        close(c->sock);
    }
    vfio_device_finalize(vdev);
    g_free(c);
    return false;
}
