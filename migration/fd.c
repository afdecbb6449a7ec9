/*
 * Migration over a file descriptor passed in advance (fd:NAME with getfd,
 * or fd:N inherited from whoever started us).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "migration/channel-internal.h"
#include "monitor/monitor.h"
#include "io/channel-file.h"
#include "io/channel-socket.h"
#include "trace.h"

/*
 * A socket gets a socket channel (shutdown works, so a stuck migration can
 * be cancelled); a pipe or regular file gets a file channel.
 */
static QIOChannel *migration_fd_wrap(int fd, const char *name, Error **errp)
{
    struct stat st;

    if (fstat(fd, &st) < 0) {
        error_setg_errno(errp, errno, "Cannot use file descriptor '%s'",
                         name);
        close(fd);
        return NULL;
    }
    if (S_ISSOCK(st.st_mode)) {
        QIOChannel *ioc = qio_channel_socket_new_fd(fd, errp);

        /* A TCP socket handed over gets the same silent-peer bound. */
        if (ioc && (!migration_channel_set_peer_timeout(ioc, errp) ||
                    !migration_channel_set_send_buffer(ioc, errp))) {
            qio_channel_unref(ioc);
            return NULL;
        }
        return ioc;
    }
    return qio_channel_file_new_fd(fd);
}

QIOChannel *migration_fd_open(const char *name, bool outgoing, Error **errp)
{
    QIOChannel *ioc;
    int fd;

    fd = monitor_fd_param(monitor_cur(), name, errp);
    trace_migration_fd_open(name, fd, outgoing);
    if (fd < 0) {
        return NULL;
    }
    ioc = migration_fd_wrap(fd, name, errp);
    if (!ioc) {
        return NULL;
    }
    qio_channel_set_name(ioc, outgoing ? "migration-fd-outgoing"
                                       : "migration-fd-incoming");
    return ioc;
}
