/*
 * QMP events.  qapi_event_send() may run on any thread (vCPU, migration):
 * it timestamps the event, queues it under event_lock, and the main
 * thread writes the queue to every QMP monitor past negotiation.  Called
 * from the main loop itself, the queue is flushed at once, so that an
 * event a command causes precedes the command's reply, as in QEMU.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/main-loop.h"
#include "monitor-internal.h"
#include "monitor/qmp-commands.h"
#include "trace.h"

static GMutex event_lock;
static GQueue event_queue = G_QUEUE_INIT;  /* JsonNode *; event_lock */
static bool flush_scheduled;                /* event_lock */

static void monitor_events_flush_bh(void *opaque)
{
    monitor_events_flush();
}

void monitor_events_flush(void)
{
    for (;;) {
        JsonNode *event;

        g_mutex_lock(&event_lock);
        flush_scheduled = false;
        event = g_queue_pop_head(&event_queue);
        g_mutex_unlock(&event_lock);
        if (!event) {
            return;
        }
        for (guint i = 0; monitor_list && i < monitor_list->len; i++) {
            Monitor *mon = g_ptr_array_index(monitor_list, i);

            if (mon->is_qmp && mon->connected && mon->negotiated) {
                monitor_qmp_send(mon, event);
            }
        }
        json_node_unref(event);
    }
}

void qapi_event_send(const char *name, JsonObject *data)
{
    int64_t now = get_clock_realtime_us();
    JsonObject *event = json_object_new();
    JsonObject *stamp = json_object_new();
    bool schedule;

    json_object_set_int_member(stamp, "seconds", now / 1000000);
    json_object_set_int_member(stamp, "microseconds", now % 1000000);
    json_object_set_object_member(event, "timestamp", stamp);
    json_object_set_string_member(event, "event", name);
    if (data) {
        json_object_set_object_member(event, "data", data);
    }
    trace_monitor_event(name);

    g_mutex_lock(&event_lock);
    g_queue_push_tail(&event_queue, qmp_node_object(event));
    schedule = !flush_scheduled;
    flush_scheduled = true;
    g_mutex_unlock(&event_lock);

    if (g_main_context_is_owner(g_main_context_default()) && bql_locked()) {
        monitor_events_flush();
    } else if (schedule) {
        main_loop_schedule(monitor_events_flush_bh, NULL);
    }
}
