/*
 * Session and memory-inspection commands.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "config-host.h"
#include "monitor-internal.h"
#include "monitor/qmp-commands.h"
#include "qemu/uuid.h"
#include "system/system.h"
#include "system/runstate.h"
#include "system/accel-ops.h"
#include "system/ramblock.h"
#include "qom/object.h"
#include "hw/core/cpu.h"

/* Largest piece of guest memory copied through the bounce buffer. */
#define MEMSAVE_CHUNK (64 * 1024)

void qmp_query_version(JsonObject *args, JsonNode **ret, Error **errp)
{
    JsonObject *info = json_object_new();

    json_object_set_object_member(info, "qemu", qmp_version_object());
    json_object_set_string_member(info, "package", "qmig-" QMIG_VERSION);
    *ret = qmp_node_object(info);
}

void qmp_query_commands(JsonObject *args, JsonNode **ret, Error **errp)
{
    JsonArray *list = json_array_new();

    for (const QmpCommand *cmd = qmp_commands; cmd->name; cmd++) {
        JsonObject *entry = json_object_new();

        json_object_set_string_member(entry, "name", cmd->name);
        json_array_add_object_element(list, entry);
    }
    *ret = qmp_node_array(list);
}

void qmp_query_name(JsonObject *args, JsonNode **ret, Error **errp)
{
    JsonObject *info = json_object_new();

    if (qemu_name) {
        json_object_set_string_member(info, "name", qemu_name);
    }
    *ret = qmp_node_object(info);
}

void qmp_query_uuid(JsonObject *args, JsonNode **ret, Error **errp)
{
    JsonObject *info = json_object_new();
    char uuid[UUID_STR_LEN];

    /* QEMU answers the all-zero UUID when -uuid was not given. */
    qemu_uuid_unparse(qemu_uuid, uuid);
    json_object_set_string_member(info, "UUID", uuid);
    *ret = qmp_node_object(info);
}

void qmp_object_add(JsonObject *args, JsonNode **ret, Error **errp)
{
    g_autoptr(JsonObject) props = json_object_new();
    g_autoptr(GList) members = args ? json_object_get_members(args) : NULL;
    const char *type = qmp_arg_str(args, "qom-type", NULL);

    if (!type) {
        error_setg(errp, "Parameter 'qom-type' is missing");
        return;
    }
    /* QEMU's flat form: every other member is a property. */
    for (GList *l = members; l; l = l->next) {
        if (strcmp(l->data, "qom-type") && strcmp(l->data, "id")) {
            json_object_set_member(props, l->data, json_node_copy(
                json_object_get_member(args, l->data)));
        }
    }
    object_add(type, qmp_arg_str(args, "id", NULL), props, errp);
}

void qmp_object_del(JsonObject *args, JsonNode **ret, Error **errp)
{
    object_del(qmp_arg_str(args, "id", ""), errp);
}

void qmp_query_objects(JsonObject *args, JsonNode **ret, Error **errp)
{
    *ret = object_list_json();
}

/* QEMU's view of the same: the children of /objects. */
void qmp_qom_list(JsonObject *args, JsonNode **ret, Error **errp)
{
    const char *path = qmp_arg_str(args, "path", "");
    g_autoptr(JsonNode) objs = NULL;
    JsonArray *list, *out;

    if (strcmp(path, "/objects") && strcmp(path, "/objects/")) {
        error_setg(errp, "Device '%s' not found", path);
        return;
    }
    objs = object_list_json();
    list = json_node_get_array(objs);
    out = json_array_new();
    for (guint i = 0; i < json_array_get_length(list); i++) {
        JsonObject *o = json_array_get_object_element(list, i);
        JsonObject *e = json_object_new();
        g_autofree char *type = g_strdup_printf(
            "child<%s>", json_object_get_string_member(o, "qom-type"));

        json_object_set_string_member(e, "name",
                                      json_object_get_string_member(o, "id"));
        json_object_set_string_member(e, "type", type);
        json_array_add_object_element(out, e);
    }
    *ret = qmp_node_array(out);
}

void qmp_query_status(JsonObject *args, JsonNode **ret, Error **errp)
{
    JsonObject *info = json_object_new();

    json_object_set_string_member(info, "status",
                                  runstate_name(runstate_get()));
    json_object_set_boolean_member(info, "singlestep", false);
    json_object_set_boolean_member(info, "running", runstate_is_running());
    *ret = qmp_node_object(info);
}

void qmp_query_kvm(JsonObject *args, JsonNode **ret, Error **errp)
{
    JsonObject *info = json_object_new();

    /* By name: the monitor needs no symbol of accel/kvm/. */
    json_object_set_boolean_member(info, "enabled", current_accel &&
                                   !strcmp(current_accel->name, "kvm"));
    json_object_set_boolean_member(info, "present",
                                   access("/dev/kvm", R_OK | W_OK) == 0);
    *ret = qmp_node_object(info);
}

/*
 * QEMU also reports "thread-id"; CPUState has no host thread id yet, so
 * it is left out rather than made up.
 */
void qmp_query_cpus_fast(JsonObject *args, JsonNode **ret, Error **errp)
{
    JsonArray *list = json_array_new();
    CPUState *cpu;

    if (cpu_list) {
        CPU_FOREACH(cpu) {
            JsonObject *info = json_object_new();
            JsonObject *props = json_object_new();
            g_autofree char *path = g_strdup_printf(
                "/machine/unattached/device[%d]", cpu->cpu_index);

            json_object_set_int_member(props, "core-id", 0);
            json_object_set_int_member(props, "thread-id", 0);
            json_object_set_int_member(props, "socket-id", cpu->cpu_index);
            json_object_set_object_member(info, "props", props);
            json_object_set_string_member(info, "qom-path", path);
            json_object_set_int_member(info, "cpu-index", cpu->cpu_index);
            json_object_set_string_member(info, "target", "x86_64");
            json_array_add_object_element(list, info);
        }
    }
    *ret = qmp_node_array(list);
}

void qmp_stop(JsonObject *args, JsonNode **ret, Error **errp)
{
    /* Like QEMU, a VM that is not running keeps its state (prelaunch...). */
    if (runstate_is_running()) {
        vm_stop(RUN_STATE_PAUSED);
    }
}

void qmp_cont(JsonObject *args, JsonNode **ret, Error **errp)
{
    if (runstate_check(RUN_STATE_SHUTDOWN) ||
        runstate_check(RUN_STATE_INTERNAL_ERROR) ||
        runstate_check(RUN_STATE_GUEST_PANICKED)) {
        error_setg(errp, "Resetting the Virtual Machine is required");
        return;
    }
    if (runstate_check(RUN_STATE_SUSPENDED)) {
        return;
    }
    if (runstate_check(RUN_STATE_FINISH_MIGRATE)) {
        error_setg(errp, "Migration is not finalized yet");
        return;
    }
    vm_start(errp);
}

void qmp_quit(JsonObject *args, JsonNode **ret, Error **errp)
{
    /* The reply goes out now; the main loop shuts down afterwards. */
    qemu_system_shutdown_request(SHUTDOWN_CAUSE_HOST_QMP_QUIT);
}

void qmp_human_monitor_command(JsonObject *args, JsonNode **ret,
                               Error **errp)
{
    Monitor *hmp = monitor_new(NULL, false);
    GString *out = g_string_new(NULL);
    Monitor *old = monitor_cur();

    hmp->capture = out;
    hmp_handle_command(hmp, qmp_arg_str(args, "command-line", ""));
    monitor_set_cur(old);
    monitor_free(hmp);
    *ret = qmp_node_string(out->str);
    g_string_free(out, TRUE);
}

static bool memsave_write(int fd, const uint8_t *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n == 0) {
                errno = ENOSPC;
            }
            return false;
        }
        buf += n;
        len -= n;
    }
    return true;
}

/* Copy guest-physical [addr, addr+size) to @filename. */
static void memsave_to_file(uint64_t addr, int64_t size,
                            const char *filename, Error **errp)
{
    g_autofree uint8_t *buf = NULL;
    int fd;

    if (size < 0) {
        error_setg(errp, "Parameter 'size' expects a non-negative size");
        return;
    }
    fd = RETRY_ON_EINTR(open(filename,
                             O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                             0600));
    if (fd < 0) {
        error_setg_errno(errp, errno, "Could not open '%s'", filename);
        return;
    }
    buf = g_malloc(MIN(size, MEMSAVE_CHUNK) + 1);
    for (int64_t done = 0; done < size;) {
        uint64_t len = MIN(size - done, MEMSAVE_CHUNK);

        if (!guest_mem_read(addr + done, buf, len, errp)) {
            error_prepend(errp, "Invalid addr 0x%016" PRIx64 "/size %"
                          PRId64 " specified: ", addr, size);
            break;
        }
        if (!memsave_write(fd, buf, len)) {
            error_setg_errno(errp, errno, "Could not write to '%s'",
                             filename);
            break;
        }
        done += len;
    }
    close(fd);
}

void qmp_pmemsave(JsonObject *args, JsonNode **ret, Error **errp)
{
    memsave_to_file(qmp_arg_int(args, "val", 0), qmp_arg_int(args, "size", 0),
                    qmp_arg_str(args, "filename", NULL), errp);
}

/*
 * memsave takes a guest-virtual address.  qmig's guests run with paging
 * off (real mode, then flat protected mode without CR0.PG), where
 * virtual equals physical, so the address is read as physical.  The CPU
 * named by cpu-index must exist.
 */
void qmp_memsave(JsonObject *args, JsonNode **ret, Error **errp)
{
    int64_t index = qmp_arg_int(args, "cpu-index", 0);

    if (index < 0 || index > INT_MAX || !cpu_list ||
        !qemu_get_cpu(index)) {
        error_setg(errp, "Parameter 'cpu-index' expects a CPU number");
        return;
    }
    qmp_pmemsave(args, ret, errp);
}
