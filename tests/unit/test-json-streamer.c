/*
 * JSON stream framing (monitor/json-streamer.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "monitor/json-streamer.h"

/* What the streamer emitted: one string per value, "ERR: msg" for errors. */
typedef struct Collected {
    GPtrArray *items;
} Collected;

static void collect(void *opaque, JsonNode *value, Error *err)
{
    Collected *c = opaque;

    g_assert((value == NULL) != (err == NULL));
    if (err) {
        g_ptr_array_add(c->items, g_strdup_printf("ERR: %s",
                                                  error_get_pretty(err)));
        error_free(err);
    } else {
        g_ptr_array_add(c->items, json_to_string(value, FALSE));
        json_node_unref(value);
    }
}

static JsonStreamer *setup(Collected *c)
{
    c->items = g_ptr_array_new_with_free_func(g_free);
    return json_streamer_new(collect, c);
}

static void teardown(JsonStreamer *js, Collected *c)
{
    json_streamer_free(js);
    g_ptr_array_free(c->items, TRUE);
}

static const char *item(Collected *c, guint i)
{
    g_assert_cmpuint(i, <, c->items->len);
    return g_ptr_array_index(c->items, i);
}

static void feed_str(JsonStreamer *js, const char *s)
{
    json_streamer_feed(js, s, strlen(s));
}

static void test_simple(void)
{
    Collected c;
    JsonStreamer *js = setup(&c);

    feed_str(js, "{\"execute\": \"stop\"}{\"a\":[1,2,{\"b\":null}]}\n");
    g_assert_cmpuint(c.items->len, ==, 2);
    g_assert_cmpstr(item(&c, 0), ==, "{\"execute\":\"stop\"}");
    g_assert_cmpstr(item(&c, 1), ==, "{\"a\":[1,2,{\"b\":null}]}");
    teardown(js, &c);
}

/* Every split of the input into two chunks gives the same values. */
static void test_split_everywhere(void)
{
    const char *in = "{\"execute\":\"x\",\"arguments\":{\"s\":\"}{\\\"]\","
                     "\"l\":[[],{}]}} [1, \"two\"]\n  {\"id\": 3}";
    size_t len = strlen(in);

    for (size_t cut = 0; cut <= len; cut++) {
        Collected c;
        JsonStreamer *js = setup(&c);

        json_streamer_feed(js, in, cut);
        json_streamer_feed(js, in + cut, len - cut);
        g_assert_cmpuint(c.items->len, ==, 3);
        g_assert_cmpstr(item(&c, 0), ==,
                        "{\"execute\":\"x\",\"arguments\":"
                        "{\"s\":\"}{\\\"]\",\"l\":[[],{}]}}");
        g_assert_cmpstr(item(&c, 1), ==, "[1,\"two\"]");
        g_assert_cmpstr(item(&c, 2), ==, "{\"id\":3}");
        teardown(js, &c);
    }
}

/* One byte at a time, escapes in strings included. */
static void test_bytewise_escapes(void)
{
    const char *in = "{\"k\": \"a\\\\\", \"q\": \"\\\"{[\"}";
    Collected c;
    JsonStreamer *js = setup(&c);

    for (const char *p = in; *p; p++) {
        json_streamer_feed(js, p, 1);
        g_assert_cmpuint(c.items->len, ==, p[1] ? 0 : 1);
    }
    g_assert_cmpstr(item(&c, 0), ==, "{\"k\":\"a\\\\\",\"q\":\"\\\"{[\"}");
    teardown(js, &c);
}

static void test_garbage_then_valid(void)
{
    Collected c;
    JsonStreamer *js = setup(&c);

    feed_str(js, "{\"a\": tru}\n{\"b\": 1}");
    g_assert_cmpuint(c.items->len, ==, 2);
    g_assert_true(g_str_has_prefix(item(&c, 0), "ERR: JSON parse error, "));
    g_assert_cmpstr(item(&c, 1), ==, "{\"b\":1}");

    feed_str(js, "}{\"c\": 2}");
    g_assert_cmpuint(c.items->len, ==, 4);
    g_assert_cmpstr(item(&c, 2), ==, "ERR: JSON parse error, stray '}'");
    g_assert_cmpstr(item(&c, 3), ==, "{\"c\":2}");
    teardown(js, &c);
}

static void test_scalars(void)
{
    Collected c;
    JsonStreamer *js = setup(&c);

    feed_str(js, "42 \"s{\" true{}");
    g_assert_cmpuint(c.items->len, ==, 4);
    g_assert_cmpstr(item(&c, 0), ==, "42");
    g_assert_cmpstr(item(&c, 1), ==, "\"s{\"");
    g_assert_cmpstr(item(&c, 2), ==, "true");
    g_assert_cmpstr(item(&c, 3), ==, "{}");
    feed_str(js, "bogus\n");
    g_assert_cmpuint(c.items->len, ==, 5);
    g_assert_true(g_str_has_prefix(item(&c, 4), "ERR: JSON parse error, "));
    teardown(js, &c);
}

/* 0xff drops a half-sent value and starts afresh. */
static void test_resync_byte(void)
{
    Collected c;
    JsonStreamer *js = setup(&c);

    feed_str(js, "{\"a\": [1, 2");
    feed_str(js, "\xff{\"b\": 2}");
    g_assert_cmpuint(c.items->len, ==, 1);
    g_assert_cmpstr(item(&c, 0), ==, "{\"b\":2}");
    teardown(js, &c);
}

static void test_depth_limit(void)
{
    Collected c;
    JsonStreamer *js = setup(&c);
    g_autoptr(GString) deep = g_string_new(NULL);

    for (int i = 0; i < JSON_STREAMER_MAX_DEPTH; i++) {
        g_string_append_c(deep, '[');
    }
    for (int i = 0; i < JSON_STREAMER_MAX_DEPTH; i++) {
        g_string_append_c(deep, ']');
    }
    /* Exactly the limit is fine ... */
    json_streamer_feed(js, deep->str, deep->len);
    g_assert_cmpuint(c.items->len, ==, 1);
    g_assert_false(g_str_has_prefix(item(&c, 0), "ERR"));
    /* ... one more is refused, and the rest of the line is dropped. */
    g_string_prepend_c(deep, '[');
    g_string_append(deep, "]\n{\"ok\": true}");
    json_streamer_feed(js, deep->str, deep->len);
    g_assert_cmpuint(c.items->len, ==, 3);
    g_assert_cmpstr(item(&c, 1), ==,
                    "ERR: JSON nesting depth limit exceeded");
    g_assert_cmpstr(item(&c, 2), ==, "{\"ok\":true}");
    teardown(js, &c);
}

static void test_size_limit(void)
{
    Collected c;
    JsonStreamer *js = setup(&c);
    g_autoptr(GString) big = g_string_new("{\"s\": \"");

    json_streamer_set_limits(js, 64, 8);
    for (int i = 0; i < 100; i++) {
        g_string_append_c(big, 'x');
    }
    g_string_append(big, "\"}\n{\"small\": 1}");
    json_streamer_feed(js, big->str, big->len);
    g_assert_cmpuint(c.items->len, ==, 2);
    g_assert_cmpstr(item(&c, 0), ==, "ERR: JSON token size limit exceeded");
    g_assert_cmpstr(item(&c, 1), ==, "{\"small\":1}");
    teardown(js, &c);
}

static void test_flush(void)
{
    Collected c;
    JsonStreamer *js = setup(&c);

    feed_str(js, "{\"a\": ");
    json_streamer_flush(js);
    feed_str(js, "7");
    json_streamer_flush(js);
    g_assert_cmpuint(c.items->len, ==, 2);
    g_assert_cmpstr(item(&c, 0), ==,
                    "ERR: JSON parse error, unexpected end of input");
    g_assert_cmpstr(item(&c, 1), ==, "7");
    teardown(js, &c);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/json-streamer/simple", test_simple);
    g_test_add_func("/json-streamer/split-everywhere", test_split_everywhere);
    g_test_add_func("/json-streamer/bytewise-escapes", test_bytewise_escapes);
    g_test_add_func("/json-streamer/garbage-then-valid",
                    test_garbage_then_valid);
    g_test_add_func("/json-streamer/scalars", test_scalars);
    g_test_add_func("/json-streamer/resync-byte", test_resync_byte);
    g_test_add_func("/json-streamer/depth-limit", test_depth_limit);
    g_test_add_func("/json-streamer/size-limit", test_size_limit);
    g_test_add_func("/json-streamer/flush", test_flush);
    return g_test_run();
}
