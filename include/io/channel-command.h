/*
 * Command channels: "exec:" migration.  The command runs as
 * "/bin/sh -c CMD" in its own process group; the channel writes to its
 * stdin and/or reads its stdout through pipes.
 *
 * Closing the channel closes the pipes and reaps the child: a child that
 * exits non-zero or dies of a signal makes qio_channel_close() fail with
 * an error naming the command.  A child still running 10 s after its
 * pipes closed is sent SIGTERM (then SIGKILL).  qio_channel_shutdown()
 * sends SIGTERM to the child's process group at once, which unblocks a
 * thread stuck reading or writing (QIO_CHANNEL_FEATURE_SHUTDOWN).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef IO_CHANNEL_COMMAND_H
#define IO_CHANNEL_COMMAND_H

#include "io/channel.h"

/*
 * Spawn @cmd.  @flags: O_RDONLY (read its stdout; its stdin is
 * /dev/null), O_WRONLY (write its stdin; its stdout is /dev/null) or
 * O_RDWR (both).  The child's stderr is ours.  NULL on error.
 */
QIOChannel *qio_channel_command_new_spawn(const char *cmd, int flags,
                                          Error **errp);
bool qio_channel_is_command(QIOChannel *ioc);
/* The child's pid (0 once reaped). */
pid_t qio_channel_command_get_pid(QIOChannel *ioc);

#endif
