/*
 * Command channels.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "io/channel-command.h"
#include "channel-internal.h"
#include "trace.h"

/* How long close waits for a child that keeps running after EOF. */
#define QIO_CHANNEL_COMMAND_GRACE_MS 10000
#define QIO_CHANNEL_COMMAND_KILL_MS 1000

typedef struct QIOChannelCommand {
    QIOChannel parent;
    char *cmd;          /* immutable */
    int readfd;         /* child's stdout, or -1; -1 after close */
    int writefd;        /* child's stdin, or -1; -1 after close */
    /*
     * Protected by lock: shutdown (any thread) signals the child while
     * close (owner) may be reaping it, and a reaped pid may be reused.
     */
    GMutex lock;
    pid_t pid;          /* 0 once reaped */
} QIOChannelCommand;

static const QIOChannelOps qio_channel_command_ops;

static QIOChannelCommand *qio_channel_command(QIOChannel *ioc)
{
    assert(qio_channel_is_kind(ioc, &qio_channel_command_ops));
    return (QIOChannelCommand *)ioc;
}

bool qio_channel_is_command(QIOChannel *ioc)
{
    return qio_channel_is_kind(ioc, &qio_channel_command_ops);
}

pid_t qio_channel_command_get_pid(QIOChannel *ioc)
{
    QIOChannelCommand *cioc = qio_channel_command(ioc);
    pid_t pid;

    g_mutex_lock(&cioc->lock);
    pid = cioc->pid;
    g_mutex_unlock(&cioc->lock);
    return pid;
}

/* Runs in the child between fork and exec: async-signal-safe only. */
static void qio_channel_command_child_setup(gpointer data)
{
    setpgid(0, 0);
}

QIOChannel *qio_channel_command_new_spawn(const char *cmd, int flags,
                                          Error **errp)
{
    int mode = flags & O_ACCMODE;
    bool want_read = mode == O_RDONLY || mode == O_RDWR;
    bool want_write = mode == O_WRONLY || mode == O_RDWR;
    const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    int in = -1, out = -1;
    GPid pid;
    g_autoptr(GError) gerr = NULL;
    QIOChannelCommand *cioc;

    /*
     * A child that exits early makes our next write fail with EPIPE; the
     * default SIGPIPE action would kill the whole process instead (qmig's
     * main() ignores it too; tests may not).
     */
    signal(SIGPIPE, SIG_IGN);
    if (!g_spawn_async_with_pipes(NULL, (char **)argv, NULL,
                                  G_SPAWN_DO_NOT_REAP_CHILD |
                                  (want_read ? 0 : G_SPAWN_STDOUT_TO_DEV_NULL),
                                  qio_channel_command_child_setup, NULL, &pid,
                                  want_write ? &in : NULL,
                                  want_read ? &out : NULL, NULL, &gerr)) {
        error_setg(errp, "Unable to run command '%s': %s", cmd,
                   gerr->message);
        return NULL;
    }
    cioc = g_new0(QIOChannelCommand, 1);
    qio_channel_init(&cioc->parent, &qio_channel_command_ops);
    g_mutex_init(&cioc->lock);
    cioc->cmd = g_strdup(cmd);
    cioc->pid = pid;
    cioc->readfd = out;
    cioc->writefd = in;
    if (out >= 0) {
        fcntl(out, F_SETFD, FD_CLOEXEC);
    }
    if (in >= 0) {
        fcntl(in, F_SETFD, FD_CLOEXEC);
    }
    qio_channel_set_feature(&cioc->parent, QIO_CHANNEL_FEATURE_SHUTDOWN);
    trace_qio_channel_command_spawn(cioc, cmd, pid);
    return &cioc->parent;
}

static ssize_t qio_channel_command_readv(QIOChannel *ioc,
                                         const struct iovec *iov, size_t niov,
                                         int **fds, size_t *nfds, int flags,
                                         Error **errp)
{
    QIOChannelCommand *cioc = qio_channel_command(ioc);
    ssize_t ret;

    if (cioc->readfd < 0) {
        error_setg(errp, "Command channel '%s' was not opened for reading",
                   qio_channel_get_name(ioc));
        return -1;
    }
    ret = RETRY_ON_EINTR(readv(cioc->readfd, iov, niov));
    if (ret < 0) {
        if (errno == EAGAIN) {
            return QIO_CHANNEL_ERR_BLOCK;
        }
        error_setg_errno(errp, errno, "Unable to read from command '%s'",
                         cioc->cmd);
        return -1;
    }
    return ret;
}

static ssize_t qio_channel_command_writev(QIOChannel *ioc,
                                          const struct iovec *iov,
                                          size_t niov, int *fds, size_t nfds,
                                          int flags, Error **errp)
{
    QIOChannelCommand *cioc = qio_channel_command(ioc);
    ssize_t ret;

    if (cioc->writefd < 0) {
        error_setg(errp, "Command channel '%s' was not opened for writing",
                   qio_channel_get_name(ioc));
        return -1;
    }
    /* A child that exited gives EPIPE (SIGPIPE is ignored, see spawn). */
    ret = RETRY_ON_EINTR(writev(cioc->writefd, iov, niov));
    if (ret < 0) {
        if (errno == EAGAIN) {
            return QIO_CHANNEL_ERR_BLOCK;
        }
        error_setg_errno(errp, errno, "Unable to write to command '%s'",
                         cioc->cmd);
        return -1;
    }
    return ret;
}

/*
 * Wait up to @ms for the child to exit, without reaping it (so its pid
 * cannot be reused while shutdown may still signal it).
 */
static bool qio_channel_command_wait_child(pid_t pid, int ms)
{
    int pidfd = syscall(SYS_pidfd_open, pid, 0);
    siginfo_t info;

    if (pidfd >= 0) {
        struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
        int ret;

        while ((ret = poll(&pfd, 1, ms)) < 0 && errno == EINTR) {
            /* retry */
        }
        close(pidfd);
        return ret > 0;
    }
    /* No pidfd (old kernel): wait without a time limit. */
    RETRY_ON_EINTR(waitid(P_PID, pid, &info, WEXITED | WNOWAIT));
    return true;
}

static void qio_channel_command_kill(QIOChannelCommand *cioc, int sig)
{
    g_mutex_lock(&cioc->lock);
    if (cioc->pid) {
        kill(-cioc->pid, sig);
    }
    g_mutex_unlock(&cioc->lock);
}

/* Owner thread: only it reaps, so reading pid here needs no lock. */
static int qio_channel_command_reap(QIOChannelCommand *cioc, Error **errp)
{
    pid_t pid = cioc->pid;
    int status = 0;

    if (!pid) {
        return 0;
    }
    if (!qio_channel_command_wait_child(pid, QIO_CHANNEL_COMMAND_GRACE_MS)) {
        qio_channel_command_kill(cioc, SIGTERM);
        if (!qio_channel_command_wait_child(pid,
                                            QIO_CHANNEL_COMMAND_KILL_MS)) {
            qio_channel_command_kill(cioc, SIGKILL);
        }
    }
    g_mutex_lock(&cioc->lock);
    RETRY_ON_EINTR(waitpid(pid, &status, 0));
    cioc->pid = 0;
    g_mutex_unlock(&cioc->lock);
    trace_qio_channel_command_reap(cioc, pid, status);

    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        return 0;
    }
    if (WIFEXITED(status)) {
        error_setg(errp, "Command '%s' exited with status %d", cioc->cmd,
                   WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        error_setg(errp, "Command '%s' was killed by signal %d (%s)",
                   cioc->cmd, WTERMSIG(status), strsignal(WTERMSIG(status)));
    } else {
        error_setg(errp, "Command '%s' ended abnormally (status 0x%x)",
                   cioc->cmd, status);
    }
    return -1;
}

static int qio_channel_command_close(QIOChannel *ioc, Error **errp)
{
    QIOChannelCommand *cioc = qio_channel_command(ioc);

    /* Closing stdin first lets the child see EOF and finish. */
    if (cioc->writefd >= 0) {
        close(cioc->writefd);
        cioc->writefd = -1;
    }
    if (cioc->readfd >= 0) {
        close(cioc->readfd);
        cioc->readfd = -1;
    }
    return qio_channel_command_reap(cioc, errp);
}

static int qio_channel_command_shutdown(QIOChannel *ioc,
                                        QIOChannelShutdown how, Error **errp)
{
    qio_channel_command_kill(qio_channel_command(ioc), SIGTERM);
    return 0;
}

static int qio_channel_command_set_blocking(QIOChannel *ioc, bool enabled,
                                            Error **errp)
{
    QIOChannelCommand *cioc = qio_channel_command(ioc);

    if (cioc->readfd >= 0 &&
        qio_channel_fd_set_blocking(cioc->readfd, enabled, errp) < 0) {
        return -1;
    }
    if (cioc->writefd >= 0 &&
        qio_channel_fd_set_blocking(cioc->writefd, enabled, errp) < 0) {
        return -1;
    }
    return 0;
}

static int qio_channel_command_poll_fd(QIOChannel *ioc, GIOCondition dir)
{
    QIOChannelCommand *cioc = qio_channel_command(ioc);

    return dir == G_IO_IN ? cioc->readfd : cioc->writefd;
}

static void qio_channel_command_finalize(QIOChannel *ioc)
{
    QIOChannelCommand *cioc = qio_channel_command(ioc);

    g_mutex_clear(&cioc->lock);
    g_free(cioc->cmd);
}

static const QIOChannelOps qio_channel_command_ops = {
    .type_name = "command",
    .io_readv = qio_channel_command_readv,
    .io_writev = qio_channel_command_writev,
    .io_close = qio_channel_command_close,
    .io_shutdown = qio_channel_command_shutdown,
    .io_set_blocking = qio_channel_command_set_blocking,
    .io_poll_fd = qio_channel_command_poll_fd,
    .io_finalize = qio_channel_command_finalize,
};
