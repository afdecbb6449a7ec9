/*
 * Sending and receiving vfio-user messages (header, payload, fds) on a
 * connected AF_UNIX stream socket; used by qmig's client and by the test
 * device server alike.
 *
 * The receiver trusts nothing in the header: a message larger than the
 * caller's limit, shorter than a header, or carrying more fds than
 * allowed is an error (the connection is then unusable, as the stream has
 * lost its framing), and no size arithmetic can overflow.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_VFIO_VFIO_USER_MSG_H
#define HW_VFIO_VFIO_USER_MSG_H

#include "hw/vfio/vfio-user-proto.h"
#include "qapi/error.h"

/* The most fds one message may carry here (DMA_MAP needs one). */
#define VFIO_USER_MSG_MAX_FDS 8

typedef struct VFIOUserMsg {
    VFIOUserHdr hdr;
    uint8_t *payload;       /* hdr.size - sizeof(hdr) bytes, or NULL */
    size_t len;             /* payload length */
    int fds[VFIO_USER_MSG_MAX_FDS];
    unsigned nfds;          /* fds received; the owner closes or takes them */
} VFIOUserMsg;

/*
 * Send one message: @hdr's size is filled in from @len; @fds (up to
 * VFIO_USER_MSG_MAX_FDS) go with the first byte.  Partial writes are
 * resumed; EINTR is retried.  Fails if the peer has gone (no SIGPIPE).
 */
bool vfio_user_send(int sock, VFIOUserHdr *hdr, const void *payload,
                    size_t len, const int *fds, unsigned nfds,
                    Error **errp);

/* Send the reply to @req: same id and command, type REPLY. */
bool vfio_user_send_reply(int sock, const VFIOUserHdr *req,
                          const void *payload, size_t len, Error **errp);

/* Send an error reply to @req carrying errno @err (> 0). */
bool vfio_user_send_error(int sock, const VFIOUserHdr *req, int err,
                          Error **errp);

/*
 * Receive one message into @msg (which is reset first).  A payload larger
 * than @max_payload, or more than @max_fds fds, is refused (any fds that
 * came are closed).  Returns 1 for a message, 0 on a clean end of stream
 * before any byte of a message, -1 with @errp set otherwise.
 */
int vfio_user_recv(int sock, VFIOUserMsg *msg, size_t max_payload,
                   unsigned max_fds, Error **errp);

/* Free @msg's payload and close the fds nobody took; @msg is reusable. */
void vfio_user_msg_clear(VFIOUserMsg *msg);

/*
 * Take fd @i out of @msg (the caller owns it now); -1 if there is none.
 */
int vfio_user_msg_take_fd(VFIOUserMsg *msg, unsigned i);

/*
 * The payload as a structure of at least @min bytes, or NULL if the
 * payload is shorter (the caller answers EINVAL).
 */
static inline void *vfio_user_msg_payload(const VFIOUserMsg *msg,
                                          size_t min)
{
    return msg->len >= min ? msg->payload : NULL;
}

/* Whether @hdr is a reply (as opposed to a command). */
static inline bool vfio_user_hdr_is_reply(const VFIOUserHdr *hdr)
{
    return (hdr->flags & VFIO_USER_F_TYPE_MASK) == VFIO_USER_F_TYPE_REPLY;
}

#endif /* HW_VFIO_VFIO_USER_MSG_H */
