/*
 * Null channel: writes are accepted and discarded, reads see end of
 * stream.  For measuring the cost of producing a stream without a sink.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef IO_CHANNEL_NULL_H
#define IO_CHANNEL_NULL_H

#include "io/channel.h"

QIOChannel *qio_channel_null_new(void);

#endif
