/*
 * The QMP server: greeting, capabilities negotiation, one JSON request
 * at a time from the streamer to the dispatcher, replies with "id".
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "config-host.h"
#include "monitor-internal.h"
#include "monitor/qmp-commands.h"
#include "trace.h"

void monitor_qmp_send(Monitor *mon, JsonNode *msg)
{
    g_autofree char *text = qmp_json_to_string(msg, mon->pretty);
    g_autofree char *line = g_strconcat(text, "\n", NULL);

    monitor_write(mon, line, strlen(line));
    trace_monitor_qmp_sent(strlen(line));
}

static void monitor_qmp_send_object(Monitor *mon, JsonObject *obj)
{
    g_autoptr(JsonNode) node = qmp_node_object(obj);

    monitor_qmp_send(mon, node);
}

/* {"major": M, "minor": m, "micro": u} from QMIG_VERSION, QEMU's order. */
JsonObject *qmp_version_object(void)
{
    JsonObject *ver = json_object_new();
    unsigned major = 0, minor = 0, micro = 0;

    sscanf(QMIG_VERSION, "%u.%u.%u", &major, &minor, &micro);
    json_object_set_int_member(ver, "micro", micro);
    json_object_set_int_member(ver, "minor", minor);
    json_object_set_int_member(ver, "major", major);
    return ver;
}

static void monitor_qmp_greet(Monitor *mon)
{
    JsonObject *greeting = json_object_new();
    JsonObject *qmp = json_object_new();
    JsonObject *version = json_object_new();

    json_object_set_object_member(version, "qemu", qmp_version_object());
    json_object_set_string_member(version, "package", "qmig-" QMIG_VERSION);
    json_object_set_object_member(qmp, "version", version);
    json_object_set_array_member(qmp, "capabilities", json_array_new());
    json_object_set_object_member(greeting, "QMP", qmp);
    monitor_qmp_send_object(mon, greeting);
}

static void monitor_qmp_reply(Monitor *mon, JsonNode *ret, Error *err,
                              JsonNode *id)
{
    JsonObject *reply = json_object_new();

    if (err) {
        JsonObject *desc = json_object_new();

        json_object_set_string_member(desc, "class",
                                      error_class_name(error_get_class(err)));
        json_object_set_string_member(desc, "desc", error_get_pretty(err));
        json_object_set_object_member(reply, "error", desc);
    } else {
        json_object_set_member(reply, "return", ret);
    }
    if (id) {
        json_object_set_member(reply, "id", json_node_copy(id));
    }
    monitor_qmp_send_object(mon, reply);
}

/* The streamer has a complete value (or an error) for us. */
static void monitor_qmp_handle(void *opaque, JsonNode *req, Error *err)
{
    Monitor *mon = opaque;
    JsonNode *id = NULL;
    JsonNode *ret = NULL;
    Monitor *old;

    if (req && JSON_NODE_HOLDS_OBJECT(req)) {
        id = json_object_get_member(json_node_get_object(req), "id");
    }
    if (!err) {
        old = monitor_set_cur(mon);
        ret = qmp_dispatch(req, mon->negotiated, &err);
        monitor_set_cur(old);
    } else {
        trace_qmp_parse_error(error_get_pretty(err));
    }
    /* The monitor may have been disconnected by the command; still reply. */
    monitor_qmp_reply(mon, ret, err, id);
    error_free(err);
    if (req) {
        json_node_unref(req);
    }
}

void qmp_qmp_capabilities(JsonObject *args, JsonNode **ret, Error **errp)
{
    Monitor *mon = monitor_cur();
    JsonNode *enable = qmp_arg_node(args, "enable");

    if (!mon || !mon->is_qmp || mon->negotiated) {
        error_set(errp, ERROR_CLASS_COMMAND_NOT_FOUND,
                  "Capabilities negotiation is already complete, command "
                  "ignored");
        return;
    }
    if (enable) {
        JsonArray *caps = json_node_get_array(enable);

        /* QEMU knows "oob"; qmig offers no capability at all. */
        for (guint i = 0; i < json_array_get_length(caps); i++) {
            JsonNode *cap = json_array_get_element(caps, i);

            if (!JSON_NODE_HOLDS_VALUE(cap) ||
                json_node_get_value_type(cap) != G_TYPE_STRING) {
                error_setg(errp, "Invalid parameter type for 'enable[%u]', "
                           "expected: string", i);
                return;
            }
            if (strcmp(json_node_get_string(cap), "oob")) {
                error_setg(errp, "Parameter 'enable[%u]' does not accept "
                           "value '%s'", i, json_node_get_string(cap));
                return;
            }
            error_setg(errp, "Capability 'oob' not available");
            return;
        }
    }
    mon->negotiated = true;
    trace_qmp_negotiated(qemu_chr_label(mon->chr));
}

static int monitor_qmp_can_read(void *opaque)
{
    return 4096;
}

static void monitor_qmp_read(void *opaque, const uint8_t *buf, int size)
{
    Monitor *mon = opaque;

    trace_monitor_qmp_read(size);
    json_streamer_feed(mon->streamer, (const char *)buf, size);
}

static void monitor_qmp_event(void *opaque, ChrEvent event)
{
    Monitor *mon = opaque;

    /* Each connection starts from scratch: greeting, negotiation. */
    json_streamer_reset(mon->streamer);
    mon->negotiated = false;
    mon->connected = event == CHR_EVENT_OPENED;
    trace_monitor_qmp_connection(qemu_chr_label(mon->chr),
                                 mon->connected ? "opened" : "closed");
    if (mon->connected) {
        monitor_qmp_greet(mon);
    }
}

static const ChrFrontendOps monitor_qmp_ops = {
    .can_read = monitor_qmp_can_read,
    .read = monitor_qmp_read,
    .event = monitor_qmp_event,
};

bool monitor_init_qmp(Chardev *chr, bool pretty, Error **errp)
{
    Monitor *mon;

    if (!monitor_chr_available(chr, errp)) {
        return false;
    }
    mon = monitor_new(chr, true);
    mon->pretty = pretty;
    mon->streamer = json_streamer_new(monitor_qmp_handle, mon);
    trace_monitor_init(qemu_chr_label(chr), "qmp");
    qemu_chr_fe_set_handlers(chr, &monitor_qmp_ops, mon);
    return true;
}
