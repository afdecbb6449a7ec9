/*
 * JSON stream framing: split a byte stream into top-level JSON values.
 *
 * json-glib parses one complete document but cannot tell where a value
 * ends in a stream, so the streamer tracks nesting, strings and escapes,
 * and hands each complete top-level value to json-glib.  Limits follow
 * QEMU (64 MiB per value, nesting depth 1024).  After an error that leaves
 * the position inside a value unknown (a limit was hit) input is dropped
 * up to the next newline; a 0xff byte resets the streamer at once, which
 * is how clients resynchronise with QEMU.
 *
 * Not thread-safe: one owner feeds it (the monitor, in the main thread).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MONITOR_JSON_STREAMER_H
#define MONITOR_JSON_STREAMER_H

#include <json-glib/json-glib.h>
#include "qapi/error.h"

#define JSON_STREAMER_MAX_SIZE (64 * 1024 * 1024)
#define JSON_STREAMER_MAX_DEPTH 1024

typedef struct JsonStreamer JsonStreamer;

/*
 * Called once per top-level value: either @value (owned by the callee)
 * or @err (owned by the callee) is set.  It may feed nothing back into
 * the same streamer, but may destroy its owner only after returning.
 */
typedef void JsonStreamerEmit(void *opaque, JsonNode *value, Error *err);

JsonStreamer *json_streamer_new(JsonStreamerEmit *emit, void *opaque);
/* Tests: smaller limits. */
void json_streamer_set_limits(JsonStreamer *js, size_t max_size,
                              unsigned max_depth);
void json_streamer_feed(JsonStreamer *js, const char *buf, size_t len);
/* End of input: an unfinished value is reported as an error. */
void json_streamer_flush(JsonStreamer *js);
/* Forget any partial value (a new client connected). */
void json_streamer_reset(JsonStreamer *js);
void json_streamer_free(JsonStreamer *js);

#endif
