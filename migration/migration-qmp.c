/*
 * QMP commands of the migration subsystem (main thread, BQL held).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "monitor/qmp-commands.h"
#include "qemu/uri.h"
#include "migration/misc.h"
#include "migration/qmp-cmds.h"
#include "channel.h"
#include "channel-qmp.h"
#include "migration.h"
#include "migration-stats.h"
#include "options.h"
#include "ram.h"
#include "postcopy-blocktime.h"
#include "ram-xbzrle.h"
#include "block.h"
#include "cpu-throttle.h"
#include "system/dirtylimit.h"
#include "hw/vfio/vfio-device.h"

/*
 * "uri" or "channels" (QEMU 8.2+), exactly one, as a URI (caller frees);
 * QEMU's messages otherwise.
 */
static char *migrate_get_uri(JsonObject *args, const char *cmd, Error **errp)
{
    bool has_uri = qmp_arg_has(args, "uri");
    bool has_channels = qmp_arg_has(args, "channels");

    if (has_uri && has_channels) {
        error_setg(errp, "'uri' and 'channels' arguments are mutually "
                   "exclusive; exactly one of the two should be present in "
                   "'%s' qmp command", cmd);
        return NULL;
    }
    if (has_channels) {
        return migrate_channels_to_uri(
            json_node_get_array(qmp_arg_node(args, "channels")), cmd, errp);
    }
    if (!has_uri) {
        error_setg(errp, "neither 'uri' or 'channels' argument are "
                   "specified in '%s' qmp command", cmd);
        return NULL;
    }
    return g_strdup(qmp_arg_str(args, "uri", NULL));
}

void qmp_migrate(JsonObject *args, JsonNode **ret, Error **errp)
{
    g_autofree char *uri = migrate_get_uri(args, "migrate", errp);

    if (!uri) {
        return;
    }
    if (qmp_arg_bool(args, "resume", false)) {
        /* Postcopy recovery: reconnect a postcopy-paused migration. */
        migrate_resume(uri, errp);
        return;
    }
    if (migration_is_running()) {
        /* Leave the running migration's blk= alone. */
        error_setg(errp, "There's a migration process in progress");
        return;
    }
    /*
     * blk=true: the disks go in this migration's stream.  inc=true (QEMU:
     * share the base image, copy only the top) means the same here: raw
     * images have no backing file, and holes are never copied anyway.
     */
    blk_mig_set_requested(qmp_arg_bool(args, "blk", false) ||
                          qmp_arg_bool(args, "inc", false));
    migrate_start_outgoing(uri, errp);
}

void qmp_migrate_incoming(JsonObject *args, JsonNode **ret, Error **errp)
{
    g_autofree char *uri = migrate_get_uri(args, "migrate-incoming", errp);

    if (!uri) {
        return;
    }
    migrate_start_incoming(uri, qmp_arg_bool(args, "exit-on-error", true),
                           errp);
}

void qmp_migrate_cancel(JsonObject *args, JsonNode **ret, Error **errp)
{
    migrate_cancel(errp);
}

void qmp_migrate_continue(JsonObject *args, JsonNode **ret, Error **errp)
{
    const char *state = qmp_arg_str(args, "state", "");

    if (strcmp(state, "pre-switchover")) {
        /* QEMU accepts any status name; only pre-switchover ever waits. */
        for (int i = 0; i < MIGRATION_STATUS__MAX; i++) {
            if (!strcmp(state, migration_status_name(i))) {
                migrate_continue(i, errp);
                return;
            }
        }
        error_setg(errp, "Parameter 'state' does not accept value '%s'",
                   state);
        return;
    }
    migrate_continue(MIGRATION_STATUS_PRE_SWITCHOVER, errp);
}

void qmp_migrate_set_capabilities(JsonObject *args, JsonNode **ret,
                                  Error **errp)
{
    migrate_set_capabilities_json(
        json_node_get_array(qmp_arg_node(args, "capabilities")), errp);
}

void qmp_query_migrate_capabilities(JsonObject *args, JsonNode **ret,
                                    Error **errp)
{
    *ret = migrate_query_capabilities_json();
}

void qmp_migrate_set_parameters(JsonObject *args, JsonNode **ret,
                                Error **errp)
{
    migrate_set_parameters_json(args, errp);
}

void qmp_query_migrate_parameters(JsonObject *args, JsonNode **ret,
                                  Error **errp)
{
    *ret = migrate_query_parameters_json();
}

void qmp_migrate_pause(JsonObject *args, JsonNode **ret, Error **errp)
{
    migrate_pause(errp);
}

void qmp_migrate_recover(JsonObject *args, JsonNode **ret, Error **errp)
{
    migrate_recover(qmp_arg_str(args, "uri", ""), errp);
}

void qmp_migrate_start_postcopy(JsonObject *args, JsonNode **ret,
                                Error **errp)
{
    migrate_start_postcopy(errp);
}

static JsonObject *query_migrate_ram(MigrationState *s)
{
    JsonObject *ram = json_object_new();
    uint64_t normal = stat64_get(&mig_stats.normal_pages);

    json_object_set_int_member(ram, "transferred",
                               stat64_get(&mig_stats.transferred));
    json_object_set_int_member(ram, "remaining", ram_bytes_remaining());
    json_object_set_int_member(ram, "total", ram_bytes_total_migratable());
    json_object_set_int_member(ram, "duplicate",
                               stat64_get(&mig_stats.zero_pages));
    json_object_set_int_member(ram, "skipped", 0);
    json_object_set_int_member(ram, "normal", normal);
    json_object_set_int_member(ram, "normal-bytes", normal * 4096);
    json_object_set_int_member(ram, "dirty-pages-rate",
                               stat64_get(&mig_stats.dirty_pages_rate));
    json_object_set_double_member(ram, "mbps",
        __atomic_load_n(&s->mbps_x1000, __ATOMIC_RELAXED) / 1000.0);
    json_object_set_int_member(ram, "dirty-sync-count",
                               stat64_get(&mig_stats.dirty_sync_count));
    json_object_set_int_member(ram, "postcopy-requests",
                               stat64_get(&mig_stats.postcopy_requests));
    json_object_set_int_member(ram, "page-size", 4096);
    json_object_set_int_member(ram, "multifd-bytes",
                               stat64_get(&mig_stats.multifd_bytes));
    json_object_set_int_member(ram, "pages-per-second",
        __atomic_load_n(&s->pages_per_second, __ATOMIC_RELAXED));
    json_object_set_int_member(ram, "precopy-bytes",
                               stat64_get(&mig_stats.precopy_bytes));
    json_object_set_int_member(ram, "downtime-bytes",
                               stat64_get(&mig_stats.downtime_bytes));
    json_object_set_int_member(ram, "postcopy-bytes",
                               stat64_get(&mig_stats.postcopy_bytes));
    json_object_set_int_member(ram, "dirty-sync-missed-zero-copy",
        stat64_get(&mig_stats.dirty_sync_missed_zero_copy));
    return ram;
}

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* "disk": only when this migration moves disks (QEMU: blk_mig_active). */
static void query_migrate_disk(JsonObject *info)
{
    uint64_t transferred, remaining, total;
    JsonObject *disk;

    if (!blk_mig_progress(&transferred, &remaining, &total)) {
        return;
    }
    disk = json_object_new();
    json_object_set_int_member(disk, "transferred", transferred);
    json_object_set_int_member(disk, "remaining", remaining);
    json_object_set_int_member(disk, "total", total);
    json_object_set_object_member(info, "disk", disk);
}

/* "xbzrle-cache": whenever the capability is on (QEMU: populate_ram_info). */
static void query_migrate_xbzrle(JsonObject *info)
{
    RamXbzrleStats st;
    JsonObject *x;

    if (!migrate_xbzrle()) {
        return;
    }
    ram_xbzrle_get_stats(&st);
    x = json_object_new();
    json_object_set_int_member(x, "cache-size", st.cache_size);
    json_object_set_int_member(x, "bytes", st.bytes);
    json_object_set_int_member(x, "pages", st.pages);
    json_object_set_int_member(x, "cache-miss", st.cache_miss);
    json_object_set_double_member(x, "cache-miss-rate", st.cache_miss_rate);
    json_object_set_double_member(x, "encoding-rate", st.encoding_rate);
    json_object_set_int_member(x, "overflow", st.overflow);
    json_object_set_object_member(info, "xbzrle-cache", x);
}

/* "vfio": when a VFIO device can migrate (QEMU: populate_vfio_info). */
static void query_migrate_vfio(JsonObject *info)
{
    uint64_t transferred;
    JsonObject *v;

    if (!vfio_migration_info(&transferred)) {
        return;
    }
    v = json_object_new();
    json_object_set_int_member(v, "transferred", transferred);
    json_object_set_object_member(info, "vfio", v);
}

static void query_migrate_source(MigrationState *s, JsonObject *info)
{
    int state = __atomic_load_n(&s->state, __ATOMIC_SEQ_CST);
    g_autofree char *desc = NULL;

    json_object_set_string_member(info, "status",
                                  migration_status_name(state));
    switch (state) {
    case MIGRATION_STATUS_ACTIVE:
    case MIGRATION_STATUS_POSTCOPY_ACTIVE:
    case MIGRATION_STATUS_POSTCOPY_PAUSED:
    case MIGRATION_STATUS_POSTCOPY_RECOVER_SETUP:
    case MIGRATION_STATUS_POSTCOPY_RECOVER:
    case MIGRATION_STATUS_CANCELLING:
    case MIGRATION_STATUS_PRE_SWITCHOVER:
    case MIGRATION_STATUS_DEVICE:
        json_object_set_int_member(info, "total-time",
                                   migration_clock_ms() - LOAD(s->start_time));
        json_object_set_int_member(info, "expected-downtime",
                                   LOAD(s->expected_downtime));
        json_object_set_int_member(info, "setup-time", LOAD(s->setup_time));
        json_object_set_object_member(info, "ram", query_migrate_ram(s));
        query_migrate_disk(info);
        query_migrate_xbzrle(info);
        query_migrate_vfio(info);
        /* QEMU: shown while auto-converge throttles the guest. */
        if (cpu_throttle_active()) {
            json_object_set_int_member(info, "cpu-throttle-percentage",
                                       cpu_throttle_get_percentage());
        }
        /* QEMU: shown while the dirty-limit capability limits the vCPUs. */
        if (migrate_dirty_limit() && dirtylimit_in_service()) {
            json_object_set_int_member(info,
                                       "dirty-limit-throttle-time-per-round",
                                       dirtylimit_throttle_time_us());
            json_object_set_int_member(info, "dirty-limit-ring-full-time",
                                       dirtylimit_ring_full_time_us());
        }
        break;
    case MIGRATION_STATUS_COMPLETED:
        json_object_set_int_member(info, "total-time", LOAD(s->total_time));
        json_object_set_int_member(info, "downtime", LOAD(s->downtime));
        json_object_set_int_member(info, "setup-time", LOAD(s->setup_time));
        json_object_set_object_member(info, "ram", query_migrate_ram(s));
        query_migrate_disk(info);
        query_migrate_xbzrle(info);
        query_migrate_vfio(info);
        break;
    case MIGRATION_STATUS_FAILED:
        desc = migrate_get_error_desc(&s->error_mutex, &s->error);
        if (desc) {
            json_object_set_string_member(info, "error-desc", desc);
        }
        break;
    default:
        break;
    }
    /* As QEMU: a paused postcopy says why it paused. */
    if (state == MIGRATION_STATUS_POSTCOPY_PAUSED) {
        desc = migrate_get_error_desc(&s->error_mutex, &s->error);
        if (desc) {
            json_object_set_string_member(info, "error-desc", desc);
        }
    }
}

static JsonArray *query_migrate_socket_address(void)
{
    g_autofree char *uri = migration_channel_listen_uri();
    g_autoptr(Error) err = NULL;
    UriAddress *addr = uri ? uri_address_parse(uri, &err) : NULL;
    JsonArray *arr = json_array_new();
    JsonObject *o;

    if (!addr || addr->transport != URI_TRANSPORT_SOCKET) {
        uri_address_free(addr);
        return arr;
    }
    o = json_object_new();
    if (addr->socket->type == SOCKET_ADDRESS_TYPE_INET) {
        json_object_set_string_member(o, "type", "inet");
        json_object_set_string_member(o, "host", addr->socket->u.inet.host);
        json_object_set_string_member(o, "port", addr->socket->u.inet.port);
    } else if (addr->socket->type == SOCKET_ADDRESS_TYPE_UNIX) {
        json_object_set_string_member(o, "type", "unix");
        json_object_set_string_member(o, "path", addr->socket->u.q_unix.path);
    }
    json_array_add_object_element(arr, o);
    uri_address_free(addr);
    return arr;
}

static void query_migrate_destination(MigrationIncomingState *mis,
                                      JsonObject *info)
{
    int state = __atomic_load_n(&mis->state, __ATOMIC_SEQ_CST);
    g_autofree char *desc = NULL;

    json_object_set_string_member(info, "status",
                                  migration_status_name(state));
    if (mis->listening) {
        json_object_set_array_member(info, "socket-address",
                                     query_migrate_socket_address());
    }
    if (state == MIGRATION_STATUS_COMPLETED) {
        json_object_set_int_member(info, "total-time", LOAD(mis->total_time));
    } else if (state == MIGRATION_STATUS_FAILED) {
        desc = migrate_get_error_desc(&mis->error_mutex, &mis->error);
        if (desc) {
            json_object_set_string_member(info, "error-desc", desc);
        }
    }
    postcopy_blocktime_query(info);     /* postcopy's destination fields */
}

void qmp_query_migrate(JsonObject *args, JsonNode **ret, Error **errp)
{
    MigrationState *s = migrate_get_current();
    MigrationIncomingState *mis = migration_incoming_get_current();
    JsonObject *info = json_object_new();

    if (__atomic_load_n(&s->state, __ATOMIC_SEQ_CST) != MIGRATION_STATUS_NONE) {
        query_migrate_source(s, info);
    } else if (__atomic_load_n(&mis->state, __ATOMIC_SEQ_CST) !=
               MIGRATION_STATUS_NONE) {
        query_migrate_destination(mis, info);
    }
    *ret = qmp_node_object(info);
}
