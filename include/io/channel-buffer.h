/*
 * Buffer channels: an in-memory byte array, for tests and for building a
 * stream in memory (QEMU's QIOChannelBuffer).  One offset is shared by
 * reads and writes, as in a file: write, seek to 0, then read back.
 * Writes past the end grow the array.  The channel never blocks; reads
 * at the end return 0 (end of stream).  Seekable.  Thread-safe (one
 * internal lock), so a test can write from one thread and inspect from
 * another.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef IO_CHANNEL_BUFFER_H
#define IO_CHANNEL_BUFFER_H

#include "io/channel.h"

/* An empty buffer with room for @capacity bytes before it grows. */
QIOChannel *qio_channel_buffer_new(size_t capacity);
/* A buffer holding a copy of @data, offset 0: ready to be read. */
QIOChannel *qio_channel_buffer_new_data(const void *data, size_t len);
bool qio_channel_is_buffer(QIOChannel *ioc);
/* A copy of the contents (*@len bytes); g_free() it. */
uint8_t *qio_channel_buffer_dup_data(QIOChannel *ioc, size_t *len);
size_t qio_channel_buffer_get_usage(QIOChannel *ioc);
size_t qio_channel_buffer_get_offset(QIOChannel *ioc);
/* Number of write calls that reached the buffer (to check batching). */
uint64_t qio_channel_buffer_get_write_count(QIOChannel *ioc);

#endif
