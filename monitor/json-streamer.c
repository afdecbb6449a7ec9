/*
 * JSON stream framing.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "json-streamer.h"

typedef enum JsonStreamerState {
    JS_START,       /* between values */
    JS_VALUE,       /* inside an object or array */
    JS_SCALAR,      /* a top-level number or keyword */
    JS_STRING,      /* a top-level string */
    JS_RECOVER,     /* after a limit error: drop input up to a newline */
} JsonStreamerState;

struct JsonStreamer {
    JsonStreamerEmit *emit;
    void *opaque;
    size_t max_size;
    unsigned max_depth;
    JsonStreamerState state;
    GString *buf;           /* the value so far */
    unsigned depth;         /* open braces + brackets (JS_VALUE) */
    bool in_string;         /* inside "..." within a value */
    bool escape;            /* the previous byte in a string was '\' */
};

JsonStreamer *json_streamer_new(JsonStreamerEmit *emit, void *opaque)
{
    JsonStreamer *js = g_new0(JsonStreamer, 1);

    js->emit = emit;
    js->opaque = opaque;
    js->max_size = JSON_STREAMER_MAX_SIZE;
    js->max_depth = JSON_STREAMER_MAX_DEPTH;
    js->buf = g_string_new(NULL);
    return js;
}

void json_streamer_set_limits(JsonStreamer *js, size_t max_size,
                              unsigned max_depth)
{
    js->max_size = max_size;
    js->max_depth = max_depth;
}

void json_streamer_reset(JsonStreamer *js)
{
    g_string_truncate(js->buf, 0);
    js->state = JS_START;
    js->depth = 0;
    js->in_string = js->escape = false;
}

void json_streamer_free(JsonStreamer *js)
{
    if (js) {
        g_string_free(js->buf, TRUE);
        g_free(js);
    }
}

static void json_streamer_error(JsonStreamer *js, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);

static void json_streamer_error(JsonStreamer *js, const char *fmt, ...)
{
    Error *err = NULL;
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    error_setg(&err, "%s", msg);
    js->emit(js->opaque, NULL, err);
}

/* json-glib says "<data>:1:7: Parse error: ..."; keep what follows. */
static const char *json_glib_message(const char *msg)
{
    const char *p = strstr(msg, "Parse error: ");

    return p ? p + strlen("Parse error: ") : msg;
}

/* Parse the collected value and hand it over; back to JS_START. */
static void json_streamer_emit(JsonStreamer *js)
{
    g_autoptr(JsonParser) parser = json_parser_new_immutable();
    g_autoptr(GError) gerr = NULL;

    if (!json_parser_load_from_data(parser, js->buf->str, js->buf->len,
                                    &gerr)) {
        json_streamer_error(js, "JSON parse error, %s",
                            json_glib_message(gerr->message));
    } else if (!json_parser_get_root(parser)) {
        json_streamer_error(js, "JSON parse error, expecting value");
    } else {
        js->emit(js->opaque, json_parser_steal_root(parser), NULL);
    }
    json_streamer_reset(js);
}

static bool json_is_delimiter(char c)
{
    return g_ascii_isspace(c) || strchr("{}[]\",:", c);
}

/* JS_START: what does @c begin? */
static void json_streamer_start(JsonStreamer *js, char c)
{
    if (g_ascii_isspace(c)) {
        return;
    }
    if (c == '}' || c == ']') {
        json_streamer_error(js, "JSON parse error, stray '%c'", c);
        return;
    }
    g_string_append_c(js->buf, c);
    if (c == '{' || c == '[') {
        js->state = JS_VALUE;
        js->depth = 1;
    } else if (c == '"') {
        js->state = JS_STRING;
    } else if (c == ',' || c == ':') {
        json_streamer_emit(js);     /* a value on its own: an error */
    } else {
        js->state = JS_SCALAR;
    }
}

/* A byte inside a string: true when it closed the string. */
static bool json_streamer_string_byte(JsonStreamer *js, char c)
{
    if (js->escape) {
        js->escape = false;
    } else if (c == '\\') {
        js->escape = true;
    } else if (c == '"') {
        return true;
    }
    return false;
}

/* JS_VALUE: track nesting until the top-level value closes. */
static void json_streamer_value_byte(JsonStreamer *js, char c)
{
    g_string_append_c(js->buf, c);
    if (js->in_string) {
        js->in_string = !json_streamer_string_byte(js, c);
        return;
    }
    switch (c) {
    case '"':
        js->in_string = true;
        break;
    case '{':
    case '[':
        if (++js->depth > js->max_depth) {
            json_streamer_error(js, "JSON nesting depth limit exceeded");
            json_streamer_reset(js);
            js->state = JS_RECOVER;
        }
        break;
    case '}':
    case ']':
        if (--js->depth == 0) {
            json_streamer_emit(js);
        }
        break;
    }
}

static void json_streamer_byte(JsonStreamer *js, char c)
{
    switch (js->state) {
    case JS_START:
        json_streamer_start(js, c);
        break;
    case JS_VALUE:
        json_streamer_value_byte(js, c);
        break;
    case JS_STRING:
        g_string_append_c(js->buf, c);
        if (json_streamer_string_byte(js, c)) {
            json_streamer_emit(js);
        }
        break;
    case JS_SCALAR:
        if (json_is_delimiter(c)) {
            json_streamer_emit(js);
            json_streamer_start(js, c);
        } else {
            g_string_append_c(js->buf, c);
        }
        break;
    case JS_RECOVER:
        if (c == '\n') {
            js->state = JS_START;
        }
        break;
    }
}

void json_streamer_feed(JsonStreamer *js, const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if ((uint8_t)buf[i] == 0xff) {
            /* The client asks for a clean slate (QEMU's resync byte). */
            json_streamer_reset(js);
            continue;
        }
        json_streamer_byte(js, buf[i]);
        if (js->buf->len > js->max_size) {
            json_streamer_error(js, "JSON token size limit exceeded");
            json_streamer_reset(js);
            js->state = JS_RECOVER;
        }
    }
}

void json_streamer_flush(JsonStreamer *js)
{
    if (js->state == JS_SCALAR) {
        json_streamer_emit(js);
    } else if (js->state == JS_VALUE || js->state == JS_STRING) {
        json_streamer_error(js, "JSON parse error, unexpected end of input");
    }
    json_streamer_reset(js);
}
