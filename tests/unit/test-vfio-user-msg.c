/*
 * vfio-user message framing: round trips with fds, and a hostile peer's
 * headers (sizes that would overflow, oversize payloads, too many fds,
 * truncated messages) refused with the fds closed.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/socket.h>
#include <sys/mman.h>
#include "hw/vfio/vfio-user-msg.h"

static void make_pair(int sv[2])
{
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                    ==, 0);
}

static bool fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

static unsigned count_open_fds(void)
{
    GDir *dir = g_dir_open("/proc/self/fd", 0, NULL);
    unsigned n = 0;

    g_assert_nonnull(dir);
    while (g_dir_read_name(dir)) {
        n++;
    }
    g_dir_close(dir);
    return n;
}

static void test_round_trip(void)
{
    VFIOUserHdr hdr = { .id = 7, .command = VFIO_USER_DMA_MAP };
    VFIOUserDMAMap map = { .argsz = sizeof(map), .addr = 0x1000,
                           .size = 4096 };
    VFIOUserMsg msg;
    int sv[2], memfd, got;

    make_pair(sv);
    memfd = memfd_create("t", MFD_CLOEXEC);
    g_assert_cmpint(memfd, >=, 0);
    g_assert_cmpint(ftruncate(memfd, 4096), ==, 0);
    g_assert_true(vfio_user_send(sv[0], &hdr, &map, sizeof(map), &memfd, 1,
                                 &error_abort));
    g_assert_cmpint(vfio_user_recv(sv[1], &msg, 64, 1, &error_abort), ==, 1);
    g_assert_cmpuint(msg.hdr.id, ==, 7);
    g_assert_cmpuint(msg.hdr.command, ==, VFIO_USER_DMA_MAP);
    g_assert_cmpuint(msg.hdr.size, ==, sizeof(VFIOUserHdr) + sizeof(map));
    g_assert_cmpuint(msg.len, ==, sizeof(map));
    g_assert_cmpint(memcmp(msg.payload, &map, sizeof(map)), ==, 0);
    g_assert_cmpuint(msg.nfds, ==, 1);
    got = vfio_user_msg_take_fd(&msg, 0);
    g_assert_cmpint(got, >=, 0);
    g_assert_cmpint(vfio_user_msg_take_fd(&msg, 0), ==, -1);
    vfio_user_msg_clear(&msg);
    /* Taken: clearing the message must not have closed it. */
    g_assert_true(fd_is_open(got));

    /* A reply echoes the id and command. */
    g_assert_true(vfio_user_send_error(sv[1], &hdr, ENOTTY, &error_abort));
    g_assert_cmpint(vfio_user_recv(sv[0], &msg, 0, 0, &error_abort), ==, 1);
    g_assert_true(vfio_user_hdr_is_reply(&msg.hdr));
    g_assert_true(msg.hdr.flags & VFIO_USER_F_ERROR);
    g_assert_cmpuint(msg.hdr.error_reply, ==, ENOTTY);
    g_assert_cmpuint(msg.hdr.id, ==, 7);
    vfio_user_msg_clear(&msg);

    /* End of stream between messages is clean. */
    close(sv[0]);
    g_assert_cmpint(vfio_user_recv(sv[1], &msg, 64, 1, &error_abort), ==, 0);
    close(sv[1]);
    close(memfd);
    close(got);
}

/* Write a raw header (a hostile peer) and expect the receiver to refuse. */
static void expect_refused(uint32_t size, const void *extra, size_t extra_len,
                           size_t max_payload)
{
    VFIOUserHdr raw = { .id = 1, .command = VFIO_USER_REGION_WRITE,
                        .size = size };
    Error *err = NULL;
    VFIOUserMsg msg;
    int sv[2];

    make_pair(sv);
    g_assert_cmpint(write(sv[0], &raw, sizeof(raw)), ==, sizeof(raw));
    if (extra_len) {
        g_assert_cmpint(write(sv[0], extra, extra_len), ==, extra_len);
    }
    close(sv[0]);
    g_assert_cmpint(vfio_user_recv(sv[1], &msg, max_payload, 1, &err), ==, -1);
    g_assert_nonnull(err);
    g_assert_null(msg.payload);
    error_free(err);
    close(sv[1]);
}

static void test_bad_sizes(void)
{
    char body[8] = { 0 };

    expect_refused(0, NULL, 0, 4096);               /* below the header */
    expect_refused(15, NULL, 0, 4096);
    expect_refused(UINT32_MAX, NULL, 0, 4096);      /* would not fit */
    expect_refused(16 + 4097, NULL, 0, 4096);       /* one over the limit */
    expect_refused(16 + 64, body, sizeof(body), 4096); /* truncated body */
}

static void test_truncated_header(void)
{
    Error *err = NULL;
    VFIOUserMsg msg;
    int sv[2];

    make_pair(sv);
    g_assert_cmpint(write(sv[0], "abc", 3), ==, 3);
    close(sv[0]);
    g_assert_cmpint(vfio_user_recv(sv[1], &msg, 64, 1, &err), ==, -1);
    error_free(err);
    close(sv[1]);
}

static void test_too_many_fds(void)
{
    VFIOUserHdr hdr = { .command = VFIO_USER_DMA_MAP };
    Error *err = NULL;
    VFIOUserMsg msg;
    unsigned before;
    int sv[2], fds[3], i;

    make_pair(sv);
    for (i = 0; i < 3; i++) {
        fds[i] = memfd_create("t", MFD_CLOEXEC);
    }
    before = count_open_fds();
    g_assert_true(vfio_user_send(sv[0], &hdr, NULL, 0, fds, 3,
                                 &error_abort));
    g_assert_cmpint(vfio_user_recv(sv[1], &msg, 64, 1, &err), ==, -1);
    g_assert_nonnull(err);
    error_free(err);
    /* The receiver closed all three copies it was handed. */
    g_assert_cmpuint(count_open_fds(), ==, before);
    for (i = 0; i < 3; i++) {
        close(fds[i]);
    }
    close(sv[0]);
    close(sv[1]);
}

static void test_send_limits(void)
{
    VFIOUserHdr hdr = { .command = VFIO_USER_REGION_WRITE };
    int fds[VFIO_USER_MSG_MAX_FDS + 1] = { 0 };
    Error *err = NULL;

    g_assert_false(vfio_user_send(-1, &hdr, NULL, (size_t)UINT32_MAX, NULL,
                                  0, &err));
    error_free(err);
    err = NULL;
    g_assert_false(vfio_user_send(-1, &hdr, NULL, 0, fds,
                                  VFIO_USER_MSG_MAX_FDS + 1, &err));
    error_free(err);
}

static void test_names(void)
{
    g_assert_cmpstr(vfio_user_command_name(VFIO_USER_MIG_DATA_READ), ==,
                    "MIG_DATA_READ");
    g_assert_cmpstr(vfio_user_command_name(14), ==, "?");
    g_assert_cmpstr(vfio_user_command_name(9999), ==, "?");
    g_assert_cmpstr(vfio_user_mig_state_name(VFIO_DEVICE_STATE_PRE_COPY),
                    ==, "PRE_COPY");
    g_assert_cmpstr(vfio_user_mig_state_name(8), ==, "?");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vfio-user-msg/round-trip", test_round_trip);
    g_test_add_func("/vfio-user-msg/bad-sizes", test_bad_sizes);
    g_test_add_func("/vfio-user-msg/truncated-header", test_truncated_header);
    g_test_add_func("/vfio-user-msg/too-many-fds", test_too_many_fds);
    g_test_add_func("/vfio-user-msg/send-limits", test_send_limits);
    g_test_add_func("/vfio-user-msg/names", test_names);
    return g_test_run();
}
