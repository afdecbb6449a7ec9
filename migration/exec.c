/*
 * Migration through a shell command (exec:CMD): the source writes the
 * stream to the command's stdin, the destination reads its stdout.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "migration/channel-internal.h"
#include "io/channel-command.h"
#include "trace.h"

QIOChannel *migration_exec_open(const char *cmd, bool outgoing, Error **errp)
{
    QIOChannel *ioc;

    trace_migration_exec_open(cmd, outgoing);
    ioc = qio_channel_command_new_spawn(cmd, outgoing ? O_WRONLY : O_RDONLY,
                                        errp);
    if (!ioc) {
        return NULL;
    }
    qio_channel_set_name(ioc, outgoing ? "migration-exec-outgoing"
                                       : "migration-exec-incoming");
    return ioc;
}
