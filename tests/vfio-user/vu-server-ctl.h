/*
 * Running tests/vfio-user/vfio-user-server from a test: start it (binary
 * from $VFIO_USER_SERVER), talk to its control socket, stop it.
 *
 * Plain glib and POSIX, so that both the unit tests (qemu/osdep.h) and
 * the qtests (libqtest) link it.  Failures abort the test (g_assert).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef TESTS_VFIO_USER_VU_SERVER_CTL_H
#define TESTS_VFIO_USER_VU_SERVER_CTL_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

typedef struct VuServer {
    GPid pid;
    char *dir;          /* a temporary directory holding both sockets */
    char *sock_path;    /* the vfio-user socket */
    char *ctl_path;     /* the control socket */
    int ctl;            /* connected control socket */
} VuServer;

/* The server binary, or NULL when $VFIO_USER_SERVER is not set. */
const char *vu_server_binary(void);

/*
 * Start a server with @extra arguments (may be NULL) and wait, at most
 * @timeout_s, until it says it is ready; the control socket is connected.
 */
VuServer *vu_server_start(const char *extra, int timeout_s);

/* Connect to a unix socket (the vfio-user socket for a test client). */
int vu_connect_unix(const char *path);

/* Send one control command and return its one-line answer (g_free it). */
char *vu_server_cmd(VuServer *s, const char *cmd);

/* The value of KEY=VALUE in the "info" answer (g_free it). */
char *vu_server_info(VuServer *s, const char *key);
uint64_t vu_server_info_u64(VuServer *s, const char *key);

/*
 * Poll "info" (every millisecond, at most @timeout_s) until @key's
 * decimal value reaches @value.
 */
void vu_server_wait_u64(VuServer *s, const char *key, uint64_t value,
                        int timeout_s);

/* "quit", wait for a clean exit, free @s. */
void vu_server_stop(VuServer *s);

#endif
