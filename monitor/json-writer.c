/*
 * JSON text the way QEMU writes it: "key": value with ": " and ", "
 * separators, members in insertion order, every non-ASCII character and
 * control character escaped as \uXXXX; in pretty mode one member per
 * line, indented by four spaces per level.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "monitor-internal.h"

static void json_write_node(GString *out, JsonNode *node, bool pretty,
                            int level);

static void json_write_string(GString *out, const char *str)
{
    const char *p = str;

    g_string_append_c(out, '"');
    while (*p) {
        gunichar c = g_utf8_get_char_validated(p, -1);

        if (c == (gunichar)-1 || c == (gunichar)-2) {
            c = 0xfffd;     /* invalid UTF-8: the replacement character */
            p++;
        } else {
            p = g_utf8_next_char(p);
        }
        switch (c) {
        case '"':
            g_string_append(out, "\\\"");
            break;
        case '\\':
            g_string_append(out, "\\\\");
            break;
        case '\b':
            g_string_append(out, "\\b");
            break;
        case '\f':
            g_string_append(out, "\\f");
            break;
        case '\n':
            g_string_append(out, "\\n");
            break;
        case '\r':
            g_string_append(out, "\\r");
            break;
        case '\t':
            g_string_append(out, "\\t");
            break;
        default:
            if (c >= 0x20 && c < 0x7f) {
                g_string_append_c(out, c);
            } else if (c < 0x10000) {
                g_string_append_printf(out, "\\u%04X", c);
            } else {
                c -= 0x10000;
                g_string_append_printf(out, "\\u%04X\\u%04X",
                                       0xd800 | (c >> 10),
                                       0xdc00 | (c & 0x3ff));
            }
        }
    }
    g_string_append_c(out, '"');
}

static void json_newline(GString *out, bool pretty, int level)
{
    if (pretty) {
        g_string_append_c(out, '\n');
        for (int i = 0; i < level; i++) {
            g_string_append(out, "    ");
        }
    }
}

static void json_write_object(GString *out, JsonObject *obj, bool pretty,
                              int level)
{
    g_autoptr(GList) members = json_object_get_members(obj);

    g_string_append_c(out, '{');
    for (GList *m = members; m; m = m->next) {
        if (m != members) {
            g_string_append(out, pretty ? "," : ", ");
        }
        json_newline(out, pretty, level + 1);
        json_write_string(out, m->data);
        g_string_append(out, ": ");
        json_write_node(out, json_object_get_member(obj, m->data), pretty,
                        level + 1);
    }
    json_newline(out, pretty, level);
    g_string_append_c(out, '}');
}

static void json_write_array(GString *out, JsonArray *arr, bool pretty,
                             int level)
{
    guint len = json_array_get_length(arr);

    g_string_append_c(out, '[');
    for (guint i = 0; i < len; i++) {
        if (i) {
            g_string_append(out, pretty ? "," : ", ");
        }
        json_newline(out, pretty, level + 1);
        json_write_node(out, json_array_get_element(arr, i), pretty,
                        level + 1);
    }
    json_newline(out, pretty, level);
    g_string_append_c(out, ']');
}

static void json_write_value(GString *out, JsonNode *node)
{
    switch (json_node_get_value_type(node)) {
    case G_TYPE_INT64:
        g_string_append_printf(out, "%" PRId64, json_node_get_int(node));
        break;
    case G_TYPE_DOUBLE: {
        char buf[G_ASCII_DTOSTR_BUF_SIZE];

        g_string_append(out, g_ascii_formatd(buf, sizeof(buf), "%.17g",
                                             json_node_get_double(node)));
        break;
    }
    case G_TYPE_BOOLEAN:
        g_string_append(out, json_node_get_boolean(node) ? "true" : "false");
        break;
    case G_TYPE_STRING:
        json_write_string(out, json_node_get_string(node));
        break;
    default:
        g_string_append(out, "null");
    }
}

static void json_write_node(GString *out, JsonNode *node, bool pretty,
                            int level)
{
    switch (JSON_NODE_TYPE(node)) {
    case JSON_NODE_OBJECT:
        json_write_object(out, json_node_get_object(node), pretty, level);
        break;
    case JSON_NODE_ARRAY:
        json_write_array(out, json_node_get_array(node), pretty, level);
        break;
    case JSON_NODE_VALUE:
        json_write_value(out, node);
        break;
    case JSON_NODE_NULL:
        g_string_append(out, "null");
        break;
    }
}

char *qmp_json_to_string(JsonNode *node, bool pretty)
{
    GString *out = g_string_new(NULL);

    json_write_node(out, node, pretty, 0);
    return g_string_free(out, FALSE);
}
