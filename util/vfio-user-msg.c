/*
 * vfio-user message framing over an AF_UNIX stream socket.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/socket.h>
#include <sys/uio.h>
#include "hw/vfio/vfio-user-msg.h"
#include "trace.h"

static const char *const command_names[VFIO_USER_MAX] = {
    [VFIO_USER_VERSION] = "VERSION",
    [VFIO_USER_DMA_MAP] = "DMA_MAP",
    [VFIO_USER_DMA_UNMAP] = "DMA_UNMAP",
    [VFIO_USER_DEVICE_GET_INFO] = "DEVICE_GET_INFO",
    [VFIO_USER_DEVICE_GET_REGION_INFO] = "DEVICE_GET_REGION_INFO",
    [VFIO_USER_DEVICE_GET_REGION_IO_FDS] = "DEVICE_GET_REGION_IO_FDS",
    [VFIO_USER_DEVICE_GET_IRQ_INFO] = "DEVICE_GET_IRQ_INFO",
    [VFIO_USER_DEVICE_SET_IRQS] = "DEVICE_SET_IRQS",
    [VFIO_USER_REGION_READ] = "REGION_READ",
    [VFIO_USER_REGION_WRITE] = "REGION_WRITE",
    [VFIO_USER_DMA_READ] = "DMA_READ",
    [VFIO_USER_DMA_WRITE] = "DMA_WRITE",
    [VFIO_USER_DEVICE_RESET] = "DEVICE_RESET",
    [VFIO_USER_REGION_WRITE_MULTI] = "REGION_WRITE_MULTI",
    [VFIO_USER_DEVICE_FEATURE] = "DEVICE_FEATURE",
    [VFIO_USER_MIG_DATA_READ] = "MIG_DATA_READ",
    [VFIO_USER_MIG_DATA_WRITE] = "MIG_DATA_WRITE",
};

const char *vfio_user_command_name(uint32_t command)
{
    if (command < VFIO_USER_MAX && command_names[command]) {
        return command_names[command];
    }
    return "?";
}

const char *vfio_user_mig_state_name(uint32_t state)
{
    static const char *const names[VFIO_DEVICE_NUM_STATES] = {
        [VFIO_DEVICE_STATE_ERROR] = "ERROR",
        [VFIO_DEVICE_STATE_STOP] = "STOP",
        [VFIO_DEVICE_STATE_RUNNING] = "RUNNING",
        [VFIO_DEVICE_STATE_STOP_COPY] = "STOP_COPY",
        [VFIO_DEVICE_STATE_RESUMING] = "RESUMING",
        [VFIO_DEVICE_STATE_RUNNING_P2P] = "RUNNING_P2P",
        [VFIO_DEVICE_STATE_PRE_COPY] = "PRE_COPY",
        [VFIO_DEVICE_STATE_PRE_COPY_P2P] = "PRE_COPY_P2P",
    };

    return state < VFIO_DEVICE_NUM_STATES ? names[state] : "?";
}

bool vfio_user_send(int sock, VFIOUserHdr *hdr, const void *payload,
                    size_t len, const int *fds, unsigned nfds,
                    Error **errp)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * VFIO_USER_MSG_MAX_FDS)];
        struct cmsghdr align;
    } control;
    struct iovec iov[2];
    struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
    size_t total, done = 0;

    if (len > UINT32_MAX - sizeof(*hdr)) {
        error_setg(errp, "vfio-user: message of %zu bytes is too large", len);
        return false;
    }
    if (nfds > VFIO_USER_MSG_MAX_FDS) {
        error_setg(errp, "vfio-user: %u fds in one message, at most %d",
                   nfds, VFIO_USER_MSG_MAX_FDS);
        return false;
    }
    hdr->size = sizeof(*hdr) + len;
    total = hdr->size;
    trace_vfio_user_msg_send(hdr->id, vfio_user_command_name(hdr->command),
                             hdr->flags, hdr->size, nfds);
    if (nfds) {
        struct cmsghdr *cm;

        memset(&control, 0, sizeof(control));
        mh.msg_control = control.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
    }
    while (done < total) {
        ssize_t n;

        /* Rebuild the iovec from @done so partial writes resume right. */
        if (done < sizeof(*hdr)) {
            iov[0].iov_base = (char *)hdr + done;
            iov[0].iov_len = sizeof(*hdr) - done;
            iov[1].iov_base = (void *)payload;
            iov[1].iov_len = len;
            mh.msg_iov = iov;
            mh.msg_iovlen = len ? 2 : 1;
        } else {
            iov[0].iov_base = (char *)payload + (done - sizeof(*hdr));
            iov[0].iov_len = total - done;
            mh.msg_iov = iov;
            mh.msg_iovlen = 1;
        }
        n = RETRY_ON_EINTR(sendmsg(sock, &mh, MSG_NOSIGNAL));
        if (n < 0) {
            error_setg_errno(errp, errno, "vfio-user: cannot send %s",
                             vfio_user_command_name(hdr->command));
            return false;
        }
        done += n;
        /* The fds went with the first bytes. */
        mh.msg_control = NULL;
        mh.msg_controllen = 0;
    }
    return true;
}

bool vfio_user_send_reply(int sock, const VFIOUserHdr *req,
                          const void *payload, size_t len, Error **errp)
{
    VFIOUserHdr hdr = {
        .id = req->id,
        .command = req->command,
        .flags = VFIO_USER_F_TYPE_REPLY,
    };

    return vfio_user_send(sock, &hdr, payload, len, NULL, 0, errp);
}

bool vfio_user_send_error(int sock, const VFIOUserHdr *req, int err,
                          Error **errp)
{
    VFIOUserHdr hdr = {
        .id = req->id,
        .command = req->command,
        .flags = VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR,
        .error_reply = err > 0 ? err : EINVAL,
    };

    return vfio_user_send(sock, &hdr, NULL, 0, NULL, 0, errp);
}

/* Keep the fds of one control message, closing any beyond @max_fds. */
static bool recv_take_fds(struct msghdr *mh, VFIOUserMsg *msg,
                          unsigned max_fds)
{
    bool ok = !(mh->msg_flags & MSG_CTRUNC);
    struct cmsghdr *cm;

    for (cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        size_t n, i;
        int fd;

        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
            cm->cmsg_len < CMSG_LEN(0)) {
            continue;
        }
        n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (i = 0; i < n; i++) {
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (msg->nfds < max_fds && msg->nfds < VFIO_USER_MSG_MAX_FDS) {
                msg->fds[msg->nfds++] = fd;
            } else {
                close(fd);
                ok = false;
            }
        }
    }
    return ok;
}

/*
 * Read exactly @len bytes into @buf, collecting fds on the way.  Returns
 * the number of bytes read (short only at end of stream) or -1.
 */
static ssize_t recv_full(int sock, void *buf, size_t len, VFIOUserMsg *msg,
                         unsigned max_fds, bool *fds_ok)
{
    size_t done = 0;

    while (done < len) {
        union {
            char buf[CMSG_SPACE(sizeof(int) * VFIO_USER_MSG_MAX_FDS)];
            struct cmsghdr align;
        } control;
        struct iovec iov = {
            .iov_base = (char *)buf + done,
            .iov_len = len - done,
        };
        struct msghdr mh = {
            .msg_iov = &iov,
            .msg_iovlen = 1,
            .msg_control = control.buf,
            .msg_controllen = sizeof(control.buf),
        };
        ssize_t n = RETRY_ON_EINTR(recvmsg(sock, &mh, MSG_CMSG_CLOEXEC));

        if (n < 0) {
            return -1;
        }
        if (!recv_take_fds(&mh, msg, max_fds)) {
            *fds_ok = false;
        }
        if (n == 0) {
            break;
        }
        done += n;
    }
    return done;
}

int vfio_user_recv(int sock, VFIOUserMsg *msg, size_t max_payload,
                   unsigned max_fds, Error **errp)
{
    bool fds_ok = true;
    ssize_t n;
    size_t len;

    memset(msg, 0, sizeof(*msg));
    n = recv_full(sock, &msg->hdr, sizeof(msg->hdr), msg, max_fds, &fds_ok);
    if (n < 0) {
        error_setg_errno(errp, errno, "vfio-user: cannot receive");
        goto fail;
    }
    if (n == 0 && fds_ok && !msg->nfds) {
        return 0;
    }
    if (n < sizeof(msg->hdr)) {
        error_setg(errp, "vfio-user: connection closed inside a header");
        goto fail;
    }
    if (!fds_ok) {
        error_setg(errp, "vfio-user: %s carries more than %u fds",
                   vfio_user_command_name(msg->hdr.command), max_fds);
        goto fail;
    }
    if (msg->hdr.size < sizeof(msg->hdr)) {
        error_setg(errp, "vfio-user: message size %" PRIu32
                   " is smaller than its header", msg->hdr.size);
        goto fail;
    }
    len = msg->hdr.size - sizeof(msg->hdr);
    if (len > max_payload) {
        error_setg(errp, "vfio-user: %s of %zu bytes exceeds the limit of "
                   "%zu", vfio_user_command_name(msg->hdr.command), len,
                   max_payload);
        goto fail;
    }
    if (len) {
        msg->payload = g_malloc(len);
        n = recv_full(sock, msg->payload, len, msg, max_fds, &fds_ok);
        if (n < 0) {
            error_setg_errno(errp, errno, "vfio-user: cannot receive");
            goto fail;
        }
        if (n < len) {
            error_setg(errp, "vfio-user: connection closed inside a %s",
                       vfio_user_command_name(msg->hdr.command));
            goto fail;
        }
        if (!fds_ok) {
            error_setg(errp, "vfio-user: fds arrived inside a payload "
                       "beyond the limit of %u", max_fds);
            goto fail;
        }
        msg->len = len;
    }
    trace_vfio_user_msg_recv(msg->hdr.id,
                             vfio_user_command_name(msg->hdr.command),
                             msg->hdr.flags, msg->hdr.size, msg->nfds);
    return 1;

fail:
    vfio_user_msg_clear(msg);
    return -1;
}

int vfio_user_msg_take_fd(VFIOUserMsg *msg, unsigned i)
{
    int fd;

    if (i >= msg->nfds || msg->fds[i] < 0) {
        return -1;
    }
    fd = msg->fds[i];
    msg->fds[i] = -1;
    return fd;
}

void vfio_user_msg_clear(VFIOUserMsg *msg)
{
    unsigned i;

    for (i = 0; i < msg->nfds; i++) {
        if (msg->fds[i] >= 0) {
            close(msg->fds[i]);
        }
    }
    g_free(msg->payload);
    memset(msg, 0, sizeof(*msg));
}
