/*
 * File channels: a regular file, pipe or character device behind an fd.
 * Seekable (QIO_CHANNEL_FEATURE_SEEKABLE) when the fd is a regular file or
 * block device, for "file:" migration with offsets (preadv/pwritev).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef IO_CHANNEL_FILE_H
#define IO_CHANNEL_FILE_H

#include "io/channel.h"

/* Wrap @fd; the channel owns it (closes it when closed). */
QIOChannel *qio_channel_file_new_fd(int fd);
/* open(@path, @flags, @mode) and wrap the result; NULL on error. */
QIOChannel *qio_channel_file_new_path(const char *path, int flags,
                                      mode_t mode, Error **errp);
bool qio_channel_is_file(QIOChannel *ioc);
/* The fd (still owned by the channel), or -1 once closed. */
int qio_channel_file_get_fd(QIOChannel *ioc);

#endif
