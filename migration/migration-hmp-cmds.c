/*
 * HMP commands of the migration subsystem.  Each one calls the QMP
 * command of the same meaning (one implementation) and prints the result
 * the way QEMU's HMP does.  Main thread, BQL held.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/option.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "monitor/qmp-commands.h"

static void hmp_print_ram(Monitor *mon, JsonObject *ram)
{
    static const char *const fields[][2] = {
        { "transferred", "transferred ram" },
        { "remaining", "remaining ram" },
        { "total", "total ram" },
        { "duplicate", "duplicate" },
        { "normal", "normal" },
        { "normal-bytes", "normal bytes" },
        { "dirty-sync-count", "dirty sync count" },
        { "dirty-pages-rate", "dirty pages rate" },
        { "page-size", "page size" },
        { "multifd-bytes", "multifd bytes" },
        { "pages-per-second", "pages-per-second" },
        { "precopy-bytes", "precopy ram" },
        { "downtime-bytes", "downtime ram" },
        { "postcopy-bytes", "postcopy ram" },
        { "postcopy-requests", "postcopy request count" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        if (json_object_has_member(ram, fields[i][0])) {
            int64_t v = json_object_get_int_member(ram, fields[i][0]);
            bool kib = g_str_has_suffix(fields[i][0], "bytes") ||
                       !strcmp(fields[i][0], "transferred") ||
                       !strcmp(fields[i][0], "remaining") ||
                       !strcmp(fields[i][0], "total");

            if (kib && strcmp(fields[i][0], "normal-bytes")) {
                monitor_printf(mon, "%s: %" PRId64 " kbytes\n", fields[i][1],
                               v >> 10);
            } else {
                monitor_printf(mon, "%s: %" PRId64 "\n", fields[i][1], v);
            }
        }
    }
    monitor_printf(mon, "throughput: %0.2f mbps\n",
                   json_object_get_double_member(ram, "mbps"));
}

static void hmp_print_disk(Monitor *mon, JsonObject *disk)
{
    monitor_printf(mon, "transferred disk: %" PRId64 " kbytes\n",
                   json_object_get_int_member(disk, "transferred") >> 10);
    monitor_printf(mon, "remaining disk: %" PRId64 " kbytes\n",
                   json_object_get_int_member(disk, "remaining") >> 10);
    monitor_printf(mon, "total disk: %" PRId64 " kbytes\n",
                   json_object_get_int_member(disk, "total") >> 10);
}

/* QEMU's wording for the "xbzrle-cache" member. */
static void hmp_print_xbzrle(Monitor *mon, JsonObject *x)
{
    monitor_printf(mon, "cache size: %" PRId64 " bytes\n",
                   json_object_get_int_member(x, "cache-size"));
    monitor_printf(mon, "xbzrle transferred: %" PRId64 " kbytes\n",
                   json_object_get_int_member(x, "bytes") >> 10);
    monitor_printf(mon, "xbzrle pages: %" PRId64 " pages\n",
                   json_object_get_int_member(x, "pages"));
    monitor_printf(mon, "xbzrle cache miss: %" PRId64 " pages\n",
                   json_object_get_int_member(x, "cache-miss"));
    monitor_printf(mon, "xbzrle cache miss rate: %0.2f\n",
                   json_object_get_double_member(x, "cache-miss-rate"));
    monitor_printf(mon, "xbzrle encoding rate: %0.2f\n",
                   json_object_get_double_member(x, "encoding-rate"));
    monitor_printf(mon, "xbzrle overflow: %" PRId64 "\n",
                   json_object_get_int_member(x, "overflow"));
}

/* The destination's postcopy-blocktime figures (ms; latency in ns). */
static void hmp_print_blocktime(Monitor *mon, JsonObject *info)
{
    JsonArray *a = json_object_get_array_member(info,
                                                "postcopy-vcpu-blocktime");
    g_autoptr(GString) list = g_string_new("");

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        g_string_append_printf(list, "%s%" PRId64, i ? ", " : "",
                               json_array_get_int_element(a, i));
    }
    monitor_printf(mon, "postcopy blocktime: %" PRId64 " ms\n",
                   json_object_get_int_member(info, "postcopy-blocktime"));
    monitor_printf(mon, "postcopy vCPU blocktime: [%s] ms\n", list->str);
    monitor_printf(mon, "postcopy request latency: avg %" PRId64 " ns, p50 %"
                   PRId64 " ns, p99 %" PRId64 " ns\n",
                   json_object_get_int_member(info, "postcopy-latency"),
                   json_object_get_int_member(info, "x-postcopy-latency-p50"),
                   json_object_get_int_member(info,
                                              "x-postcopy-latency-p99"));
}

static void hmp_info_migrate(Monitor *mon, int argc, char **argv)
{
    g_autoptr(JsonNode) ret = hmp_qmp(mon, "query-migrate", NULL);
    static const char *const times[][2] = {
        { "total-time", "total time" },
        { "expected-downtime", "expected downtime" },
        { "downtime", "downtime" },
        { "setup-time", "setup" },
    };
    JsonObject *info;

    if (!ret) {
        return;
    }
    info = json_node_get_object(ret);
    if (!json_object_has_member(info, "status")) {
        return;
    }
    monitor_printf(mon, "Migration status: %s\n",
                   json_object_get_string_member(info, "status"));
    for (size_t i = 0; i < ARRAY_SIZE(times); i++) {
        if (json_object_has_member(info, times[i][0])) {
            monitor_printf(mon, "%s: %" PRId64 " ms\n", times[i][1],
                           json_object_get_int_member(info, times[i][0]));
        }
    }
    if (json_object_has_member(info, "error-desc")) {
        monitor_printf(mon, "Error: %s\n",
                       json_object_get_string_member(info, "error-desc"));
    }
    if (json_object_has_member(info, "ram")) {
        hmp_print_ram(mon, json_object_get_object_member(info, "ram"));
    }
    if (json_object_has_member(info, "disk")) {
        hmp_print_disk(mon, json_object_get_object_member(info, "disk"));
    }
    if (json_object_has_member(info, "xbzrle-cache")) {
        hmp_print_xbzrle(mon, json_object_get_object_member(info,
                                                            "xbzrle-cache"));
    }
    if (json_object_has_member(info, "cpu-throttle-percentage")) {
        monitor_printf(mon, "cpu throttle percentage: %" PRId64 "\n",
                       json_object_get_int_member(info,
                                                  "cpu-throttle-percentage"));
    }
    if (json_object_has_member(info, "dirty-limit-throttle-time-per-round")) {
        monitor_printf(mon, "dirty-limit throttle time: %" PRId64 " us\n",
                       json_object_get_int_member(info,
                           "dirty-limit-throttle-time-per-round"));
    }
    if (json_object_has_member(info, "dirty-limit-ring-full-time")) {
        monitor_printf(mon, "dirty-limit ring full time: %" PRId64 " us\n",
                       json_object_get_int_member(info,
                           "dirty-limit-ring-full-time"));
    }
    if (json_object_has_member(info, "postcopy-blocktime")) {
        hmp_print_blocktime(mon, info);
    }
}

static void hmp_info_migrate_capabilities(Monitor *mon, int argc, char **argv)
{
    g_autoptr(JsonNode) ret = hmp_qmp(mon, "query-migrate-capabilities",
                                      NULL);
    JsonArray *caps;

    if (!ret) {
        return;
    }
    caps = json_node_get_array(ret);
    for (guint i = 0; i < json_array_get_length(caps); i++) {
        JsonObject *c = json_array_get_object_element(caps, i);

        monitor_printf(mon, "%s: %s\n",
                       json_object_get_string_member(c, "capability"),
                       json_object_get_boolean_member(c, "state") ? "on"
                                                                  : "off");
    }
}

static void hmp_info_migrate_parameters(Monitor *mon, int argc, char **argv)
{
    g_autoptr(JsonNode) ret = hmp_qmp(mon, "query-migrate-parameters", NULL);
    g_autoptr(GList) members = NULL;
    JsonObject *params;

    if (!ret) {
        return;
    }
    params = json_node_get_object(ret);
    members = json_object_get_members(params);
    for (GList *l = members; l; l = l->next) {
        JsonNode *v = json_object_get_member(params, l->data);

        if (JSON_NODE_HOLDS_ARRAY(v)) {
            continue;
        }
        if (json_node_get_value_type(v) == G_TYPE_BOOLEAN) {
            monitor_printf(mon, "%s: %s\n", (char *)l->data,
                           json_node_get_boolean(v) ? "on" : "off");
        } else if (json_node_get_value_type(v) == G_TYPE_STRING) {
            monitor_printf(mon, "%s: '%s'\n", (char *)l->data,
                           json_node_get_string(v));
        } else {
            monitor_printf(mon, "%s: %" PRId64 "\n", (char *)l->data,
                           json_node_get_int(v));
        }
    }
}

static void hmp_migrate(Monitor *mon, int argc, char **argv)
{
    JsonObject *args = json_object_new();
    int i = 1;

    /* -d (detach) is the only mode: the monitor never blocks. */
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "-d") && strcmp(argv[i], "-r")) {
            monitor_printf(mon, "Error: unknown option '%s'\n", argv[i]);
            json_object_unref(args);
            return;
        }
        if (!strcmp(argv[i], "-r")) {
            json_object_set_boolean_member(args, "resume", true);
        }
        i++;
    }
    if (i != argc - 1) {
        monitor_printf(mon, "Error: usage: migrate [-d] [-r] uri\n");
        json_object_unref(args);
        return;
    }
    json_object_set_string_member(args, "uri", argv[i]);
    hmp_qmp_run(mon, "migrate", args);
}

static void hmp_migrate_incoming(Monitor *mon, int argc, char **argv)
{
    JsonObject *args = json_object_new();

    json_object_set_string_member(args, "uri", argv[1]);
    hmp_qmp_run(mon, "migrate-incoming", args);
}

static void hmp_migrate_cancel(Monitor *mon, int argc, char **argv)
{
    hmp_qmp_run(mon, "migrate_cancel", NULL);
}

static void hmp_migrate_continue(Monitor *mon, int argc, char **argv)
{
    JsonObject *args = json_object_new();

    json_object_set_string_member(args, "state", argv[1]);
    hmp_qmp_run(mon, "migrate-continue", args);
}

static void hmp_migrate_set_capability(Monitor *mon, int argc, char **argv)
{
    JsonObject *args = json_object_new();
    JsonObject *cap = json_object_new();
    JsonArray *caps = json_array_new();
    bool state;

    if (!qemu_parse_bool(argv[2], &state)) {
        monitor_printf(mon, "Error: expected on or off, got '%s'\n", argv[2]);
        json_object_unref(args);
        json_object_unref(cap);
        json_array_unref(caps);
        return;
    }
    json_object_set_string_member(cap, "capability", argv[1]);
    json_object_set_boolean_member(cap, "state", state);
    json_array_add_object_element(caps, cap);
    json_object_set_array_member(args, "capabilities", caps);
    hmp_qmp_run(mon, "migrate-set-capabilities", args);
}

/* HMP gives every value as text: convert by the parameter's QMP type. */
static bool hmp_param_value(Monitor *mon, const char *name, const char *str,
                            JsonObject *args)
{
    g_autoptr(JsonNode) cur = hmp_qmp(mon, "query-migrate-parameters", NULL);
    JsonNode *v = cur ? json_object_get_member(json_node_get_object(cur),
                                               name) : NULL;
    uint64_t n;
    bool b;

    if (!v) {
        monitor_printf(mon, "Error: Invalid parameter '%s'\n", name);
        return false;
    }
    if (json_node_get_value_type(v) == G_TYPE_BOOLEAN) {
        if (!qemu_parse_bool(str, &b)) {
            monitor_printf(mon, "Error: expected on or off, got '%s'\n", str);
            return false;
        }
        json_object_set_boolean_member(args, name, b);
    } else if (json_node_get_value_type(v) == G_TYPE_STRING) {
        json_object_set_string_member(args, name, str);
    } else {
        /* Sizes take suffixes (max-bandwidth 1G); bare numbers stay. */
        if (!qemu_strtosz(str, &n) || n > INT64_MAX) {
            monitor_printf(mon, "Error: Invalid value '%s' for '%s'\n", str,
                           name);
            return false;
        }
        json_object_set_int_member(args, name, n);
    }
    return true;
}

static void hmp_migrate_set_parameter(Monitor *mon, int argc, char **argv)
{
    JsonObject *args = json_object_new();

    if (!hmp_param_value(mon, argv[1], argv[2], args)) {
        json_object_unref(args);
        return;
    }
    hmp_qmp_run(mon, "migrate-set-parameters", args);
}

static void hmp_migrate_simple(Monitor *mon, int argc, char **argv)
{
    /* migrate_start_postcopy, migrate_pause: the QMP name uses dashes. */
    g_autofree char *name = g_strdelimit(g_strdup(argv[0]), "_", '-');

    hmp_qmp_run(mon, name, NULL);
}

static void hmp_migrate_recover(Monitor *mon, int argc, char **argv)
{
    JsonObject *args = json_object_new();

    json_object_set_string_member(args, "uri", argv[1]);
    hmp_qmp_run(mon, "migrate-recover", args);
}

/* ---- dirty rate and dirty limit (QEMU's HMP syntax and output) ---- */

/* A whole decimal number in [0, INT64_MAX], or an error on @mon. */
static bool hmp_parse_count(Monitor *mon, const char *str, const char *what,
                            int64_t *out)
{
    char *end;
    gint64 v;

    errno = 0;
    v = g_ascii_strtoll(str, &end, 10);
    if (!*str || *end || errno || v < 0) {
        monitor_printf(mon, "Error: invalid %s '%s'\n", what, str);
        return false;
    }
    *out = v;
    return true;
}

static void hmp_set_vcpu_dirty_limit(Monitor *mon, int argc, char **argv)
{
    JsonObject *args = json_object_new();
    int64_t rate, index;

    if (!hmp_parse_count(mon, argv[1], "dirty_rate", &rate) ||
        (argc > 2 && !hmp_parse_count(mon, argv[2], "cpu_index", &index))) {
        json_object_unref(args);
        return;
    }
    json_object_set_int_member(args, "dirty-rate", rate);
    if (argc > 2) {
        json_object_set_int_member(args, "cpu-index", index);
    }
    if (hmp_qmp_run(mon, "set-vcpu-dirty-limit", args)) {
        monitor_printf(mon, "[Please use 'info vcpu_dirty_limit' to query "
                       "dirty limit for virtual CPU]\n");
    }
}

static void hmp_cancel_vcpu_dirty_limit(Monitor *mon, int argc, char **argv)
{
    JsonObject *args = json_object_new();
    int64_t index;

    if (argc > 1) {
        if (!hmp_parse_count(mon, argv[1], "cpu_index", &index)) {
            json_object_unref(args);
            return;
        }
        json_object_set_int_member(args, "cpu-index", index);
    }
    if (hmp_qmp_run(mon, "cancel-vcpu-dirty-limit", args)) {
        monitor_printf(mon, "[Please use 'info vcpu_dirty_limit' to query "
                       "dirty limit for virtual CPU]\n");
    }
}

static void hmp_info_vcpu_dirty_limit(Monitor *mon, int argc, char **argv)
{
    g_autoptr(JsonNode) ret = hmp_qmp(mon, "query-vcpu-dirty-limit", NULL);
    JsonArray *list;

    if (!ret) {
        return;
    }
    list = json_node_get_array(ret);
    if (!json_array_get_length(list)) {
        monitor_printf(mon, "Dirty page limit not enabled!\n");
        return;
    }
    for (guint i = 0; i < json_array_get_length(list); i++) {
        JsonObject *v = json_array_get_object_element(list, i);

        monitor_printf(mon, "vcpu[%" PRId64 "], limit rate %" PRId64
                       " (MB/s), current rate %" PRId64 " (MB/s)\n",
                       json_object_get_int_member(v, "cpu-index"),
                       json_object_get_int_member(v, "limit-rate"),
                       json_object_get_int_member(v, "current-rate"));
    }
}

/* calc_dirty_rate [-r] [-b] second [sample_pages_per_GB] */
static void hmp_calc_dirty_rate(Monitor *mon, int argc, char **argv)
{
    g_autoptr(JsonObject) args = json_object_new();
    bool ring = false, bitmap = false;
    int64_t sec, pages;
    int i = 1;

    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-r")) {
            ring = true;
        } else if (!strcmp(argv[i], "-b")) {
            bitmap = true;
        } else {
            monitor_printf(mon, "Error: unknown option '%s'\n", argv[i]);
            return;
        }
    }
    if (i >= argc || argc - i > 2) {
        monitor_printf(mon, "Error: usage: calc_dirty_rate [-r] [-b] second "
                       "[sample_pages_per_GB]\n");
        return;
    }
    if (!hmp_parse_count(mon, argv[i], "second", &sec)) {
        return;
    }
    if (!sec) {
        monitor_printf(mon, "Incorrect period length specified!\n");
        return;
    }
    if (ring && bitmap) {
        monitor_printf(mon, "Either dirty ring or dirty bitmap "
                       "can be specified!\n");
        return;
    }
    json_object_set_int_member(args, "calc-time", sec);
    if (i + 1 < argc) {
        if (!hmp_parse_count(mon, argv[i + 1], "sample_pages_per_GB",
                             &pages)) {
            return;
        }
        json_object_set_int_member(args, "sample-pages", pages);
    }
    json_object_set_string_member(args, "mode", bitmap ? "dirty-bitmap" :
                                  ring ? "dirty-ring" : "page-sampling");
    if (hmp_qmp_run(mon, "calc-dirty-rate", json_object_ref(args))) {
        monitor_printf(mon, "Starting dirty rate measurement with period %"
                       PRId64 " seconds\n", sec);
        monitor_printf(mon, "[Please use 'info dirty_rate' to check "
                       "results]\n");
    }
}

static void hmp_info_dirty_rate(Monitor *mon, int argc, char **argv)
{
    g_autoptr(JsonNode) ret = hmp_qmp(mon, "query-dirty-rate", NULL);
    JsonObject *o;
    const char *mode;

    if (!ret) {
        return;
    }
    o = json_node_get_object(ret);
    mode = json_object_get_string_member(o, "mode");
    monitor_printf(mon, "Status: %s\n",
                   json_object_get_string_member(o, "status"));
    monitor_printf(mon, "Start Time: %" PRId64 " (ms)\n",
                   json_object_get_int_member(o, "start-time"));
    if (!strcmp(mode, "page-sampling")) {
        monitor_printf(mon, "Sample Pages: %" PRId64 " (per GB)\n",
                       json_object_get_int_member(o, "sample-pages"));
    }
    monitor_printf(mon, "Period: %" PRId64 " (sec)\n",
                   json_object_get_int_member(o, "calc-time"));
    monitor_printf(mon, "Mode: %s\n", mode);
    monitor_printf(mon, "Dirty rate: ");
    if (!json_object_has_member(o, "dirty-rate")) {
        monitor_printf(mon, "(not ready)\n");
        return;
    }
    monitor_printf(mon, "%" PRId64 " (MB/s)\n",
                   json_object_get_int_member(o, "dirty-rate"));
    if (json_object_has_member(o, "vcpu-dirty-rate")) {
        JsonArray *v = json_object_get_array_member(o, "vcpu-dirty-rate");

        for (guint k = 0; k < json_array_get_length(v); k++) {
            JsonObject *r = json_array_get_object_element(v, k);

            monitor_printf(mon, "vcpu[%" PRId64 "], Dirty rate: %" PRId64
                           " (MB/s)\n", json_object_get_int_member(r, "id"),
                           json_object_get_int_member(r, "dirty-rate"));
        }
    }
}

const HmpCommand hmp_migration_commands[] = {
    { "migrate", "[-d] [-r] uri", 1, 3, hmp_migrate, "migrate to URI (always detached; -r resumes a paused postcopy)" },
    { "migrate_incoming", "uri", 1, 1, hmp_migrate_incoming, "wait for an incoming migration on URI (needs -incoming defer)" },
    { "migrate_cancel", "", 0, 0, hmp_migrate_cancel, "cancel the current migration" },
    { "migrate_continue", "state", 1, 1, hmp_migrate_continue, "continue a migration paused in STATE (pre-switchover)" },
    { "migrate_set_capability", "capability state", 2, 2, hmp_migrate_set_capability, "switch a migration capability on or off" },
    { "migrate_set_parameter", "parameter value", 2, 2, hmp_migrate_set_parameter, "set a migration parameter" },
    { "migrate_start_postcopy", "", 0, 0, hmp_migrate_simple, "switch a running migration to postcopy" },
    { "migrate_pause", "", 0, 0, hmp_migrate_simple, "pause a postcopy migration (break the link)" },
    { "migrate_recover", "uri", 1, 1, hmp_migrate_recover, "recover a paused postcopy migration on URI" },
    { "calc_dirty_rate", "[-r] [-b] second [sample_pages_per_GB]", 1, 4, hmp_calc_dirty_rate, "start a round of guest dirty rate measurement (-r: dirty ring, -b: dirty bitmap)" },
    { "set_vcpu_dirty_limit", "dirty_rate [cpu_index]", 1, 2, hmp_set_vcpu_dirty_limit, "set dirty page rate limit (MB/s) of a vCPU, or of every vCPU" },
    { "cancel_vcpu_dirty_limit", "[cpu_index]", 0, 1, hmp_cancel_vcpu_dirty_limit, "cancel dirty page rate limit of a vCPU, or of every vCPU" },
    { NULL }
};

const HmpCommand hmp_migration_info_commands[] = {
    { "migrate", "", 0, 0, hmp_info_migrate, "show migration status" },
    { "migrate_capabilities", "", 0, 0, hmp_info_migrate_capabilities, "show current migration capabilities" },
    { "migrate_parameters", "", 0, 0, hmp_info_migrate_parameters, "show current migration parameters" },
    { "dirty_rate", "", 0, 0, hmp_info_dirty_rate, "show dirty rate information" },
    { "vcpu_dirty_limit", "", 0, 0, hmp_info_vcpu_dirty_limit, "show dirty page limit information of all vCPUs" },
    { NULL }
};
