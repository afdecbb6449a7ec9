/*
 * Running the vfio-user test device server from a test.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <signal.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <glib/gstdio.h>

#include "vu-server-ctl.h"

#define VU_CTL_TIMEOUT_S 30

const char *vu_server_binary(void)
{
    return g_getenv("VFIO_USER_SERVER");
}

int vu_connect_unix(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpuint(strlen(path), <, sizeof(sa.sun_path));
    strcpy(sa.sun_path, path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        g_error("connect %s: %s", path, g_strerror(errno));
    }
    return fd;
}

/* One line from @fd, within @timeout_s (g_free it). */
static char *read_line(int fd, int timeout_s)
{
    GString *s = g_string_new(NULL);
    gint64 deadline = g_get_monotonic_time() + timeout_s * G_USEC_PER_SEC;

    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        char c;

        if (left <= 0 || poll(&p, 1, left) != 1) {
            g_error("no answer from the vfio-user server in %d s (got "
                    "\"%s\")", timeout_s, s->str);
        }
        if (read(fd, &c, 1) != 1) {
            g_error("the vfio-user server closed its pipe (got \"%s\")",
                    s->str);
        }
        if (c == '\n') {
            return g_string_free(s, FALSE);
        }
        g_string_append_c(s, c);
    }
}

/*
 * In the child: die with the test.  A test that fails on an assertion
 * never reaches vu_server_stop(), and an orphaned server would hold the
 * test's stderr open (and its pipe readers waiting) forever.
 */
static void die_with_parent(gpointer opaque)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

VuServer *vu_server_start(const char *extra, int timeout_s)
{
    VuServer *s = g_new0(VuServer, 1);
    g_autofree char *cmd = NULL;
    g_autofree char *ready = NULL;
    g_auto(GStrv) argv = NULL;
    g_autoptr(GError) err = NULL;
    int out;

    g_assert_nonnull(vu_server_binary());
    s->dir = g_dir_make_tmp("vfio-user-XXXXXX", &err);
    g_assert_no_error(err);
    s->sock_path = g_build_filename(s->dir, "dev.sock", NULL);
    s->ctl_path = g_build_filename(s->dir, "ctl.sock", NULL);
    cmd = g_strdup_printf("%s --socket %s --control %s %s",
                          vu_server_binary(), s->sock_path, s->ctl_path,
                          extra ? extra : "");
    g_assert_true(g_shell_parse_argv(cmd, NULL, &argv, &err));
    g_assert_true(g_spawn_async_with_pipes(NULL, argv, NULL,
                                           G_SPAWN_DO_NOT_REAP_CHILD,
                                           die_with_parent, NULL, &s->pid,
                                           NULL, &out, NULL,
                                           &err));
    ready = read_line(out, timeout_s);
    g_assert_cmpstr(ready, ==, "vfio-user-server: ready");
    close(out);
    s->ctl = vu_connect_unix(s->ctl_path);
    return s;
}

char *vu_server_cmd(VuServer *s, const char *cmd)
{
    g_autofree char *line = g_strconcat(cmd, "\n", NULL);
    size_t len = strlen(line);

    g_assert_cmpint(write(s->ctl, line, len), ==, len);
    return read_line(s->ctl, VU_CTL_TIMEOUT_S);
}

char *vu_server_info(VuServer *s, const char *key)
{
    g_autofree char *info = vu_server_cmd(s, "info");
    g_auto(GStrv) fields = g_strsplit(info, " ", -1);
    size_t klen = strlen(key);

    for (unsigned i = 0; fields[i]; i++) {
        if (!strncmp(fields[i], key, klen) && fields[i][klen] == '=') {
            return g_strdup(fields[i] + klen + 1);
        }
    }
    g_error("no %s in the vfio-user server's info: %s", key, info);
}

uint64_t vu_server_info_u64(VuServer *s, const char *key)
{
    g_autofree char *v = vu_server_info(s, key);

    return g_ascii_strtoull(v, NULL, 10);
}

void vu_server_wait_u64(VuServer *s, const char *key, uint64_t value,
                        int timeout_s)
{
    gint64 deadline = g_get_monotonic_time() + timeout_s * G_USEC_PER_SEC;
    uint64_t now;

    while ((now = vu_server_info_u64(s, key)) < value) {
        if (g_get_monotonic_time() > deadline) {
            g_error("vfio-user server: %s stayed at %" G_GUINT64_FORMAT
                    " (waited for %" G_GUINT64_FORMAT ")", key, now, value);
        }
        g_usleep(1000);
    }
}

void vu_server_stop(VuServer *s)
{
    g_autofree char *ok = vu_server_cmd(s, "quit");
    int status;

    g_assert_cmpstr(ok, ==, "ok");
    g_assert_cmpint(waitpid(s->pid, &status, 0), ==, s->pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
    g_spawn_close_pid(s->pid);
    close(s->ctl);
    g_rmdir(s->dir);
    g_free(s->dir);
    g_free(s->sock_path);
    g_free(s->ctl_path);
    g_free(s);
}
