/*
 * -object memory-backend-{ram,memfd,file}: named guest memory that the
 * machine uses instead of private anonymous RAM (-machine memory-backend=).
 * Shared memory (share=on) is what postcopy's MINOR faults and local
 * migration without copying need.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/option.h"
#include "system/ramblock.h"
#include "qom/object.h"
#include "hw/boards.h"

/* Built by main() before any thread starts; read-only afterwards. */
static GPtrArray *backends;

MemoryBackend *memory_backend_find(const char *id)
{
    for (guint i = 0; backends && i < backends->len; i++) {
        MemoryBackend *be = g_ptr_array_index(backends, i);

        if (!strcmp(be->id, id)) {
            return be;
        }
    }
    return NULL;
}

static bool memory_backend_kind(const char *type, RAMBackendKind *kind,
                                Error **errp)
{
    if (!strcmp(type, "memory-backend-ram")) {
        *kind = RAM_BACKEND_ANON;
    } else if (!strcmp(type, "memory-backend-memfd")) {
        *kind = RAM_BACKEND_MEMFD;
    } else if (!strcmp(type, "memory-backend-file")) {
        *kind = RAM_BACKEND_FILE;
    } else {
        error_setg(errp, "invalid object type: %s", type);
        return false;
    }
    return true;
}

static bool memory_backend_add(QemuOpts *opts, const char *type,
                               Error **errp)
{
    static const char *const keys[] = {
        "qom-type", "id", "size", "share", "mem-path", "hugetlb",
        "hugetlbsize", "prealloc", "merge", "dump", "seal", "x-use-canonical-path-for-ramblock-id",
        NULL
    };
    g_autofree MemoryBackend *be = g_new0(MemoryBackend, 1);
    const char *id = qemu_opt_get(opts, "id");
    bool share_default;

    if (!memory_backend_kind(type, &be->kind, errp)) {
        return false;
    }
    if (!qemu_opts_check_keys(opts, keys, type, errp)) {
        return false;
    }
    if (!id || !*id) {
        error_setg(errp, "%s: parameter 'id' is missing", type);
        return false;
    }
    if (memory_backend_find(id)) {
        error_setg(errp, "attempt to add duplicate property '%s' to object "
                   "(type 'container')", id);
        return false;
    }
    if (!qemu_opt_has(opts, "size")) {
        error_setg(errp, "%s: parameter 'size' is missing", type);
        return false;
    }
    if (!qemu_opt_get_size(opts, "size", 0, &be->size, errp)) {
        return false;
    }
    if (be->size == 0) {
        error_setg(errp, "%s '%s': can't create backend with size 0", type, id);
        return false;
    }
    /* QEMU: memfd is shared by default, the others private. */
    share_default = be->kind == RAM_BACKEND_MEMFD;
    if (!qemu_opt_get_bool(opts, "share", share_default, &be->share, errp) ||
        !qemu_opt_get_bool(opts, "hugetlb", false, &be->hugetlb, errp) ||
        !qemu_opt_get_size(opts, "hugetlbsize", 0, &be->hugetlbsize, errp)) {
        return false;
    }
    if (be->kind == RAM_BACKEND_FILE) {
        const char *path = qemu_opt_get(opts, "mem-path");

        if (!path) {
            error_setg(errp, "%s: parameter 'mem-path' is missing", type);
            return false;
        }
        be->mem_path = g_strdup(path);
    }
    be->id = g_strdup(id);
    if (!backends) {
        backends = g_ptr_array_new();
    }
    g_ptr_array_add(backends, g_steal_pointer(&be));
    return true;
}

/*
 * The object registry's view: properties arrive as JSON members (strings
 * from -object), which become the option string the parser above reads.
 */
static void memory_backend_opt_append(JsonObject *props, const char *key,
                                      JsonNode *node, gpointer opaque)
{
    GString *s = opaque;
    g_autofree char *value = NULL;
    g_auto(GStrv) parts = NULL;

    if (JSON_NODE_HOLDS_VALUE(node) &&
        json_node_get_value_type(node) == G_TYPE_BOOLEAN) {
        value = g_strdup(json_node_get_boolean(node) ? "on" : "off");
    } else if (JSON_NODE_HOLDS_VALUE(node) &&
               json_node_get_value_type(node) == G_TYPE_INT64) {
        value = g_strdup_printf("%" PRId64, json_node_get_int(node));
    } else if (JSON_NODE_HOLDS_VALUE(node) &&
               json_node_get_value_type(node) == G_TYPE_STRING) {
        value = g_strdup(json_node_get_string(node));
    } else {
        value = g_strdup("");   /* refused by the typed getters */
    }
    parts = g_strsplit(value, ",", -1);
    g_free(value);
    value = g_strjoinv(",,", parts);
    g_string_append_printf(s, ",%s=%s", key, value);
}

typedef struct MemoryBackendObject {
    UserObject parent;
} MemoryBackendObject;

static const UserObjectType memory_backend_types[];

static UserObject *memory_backend_create(const UserObjectType *type,
                                         const char *id, JsonObject *props,
                                         Error **errp)
{
    g_autoptr(GString) s = g_string_new(NULL);
    g_autoptr(QemuOpts) opts = NULL;
    MemoryBackendObject *mbo;

    /*
     * The machine takes its RAM from backends when it is built, and
     * migration threads look them up (read-only): none may come later.
     */
    if (current_machine) {
        error_setg(errp, "%s '%s': memory backends can only be created "
                   "with -object on the command line", type->name, id);
        return NULL;
    }
    g_string_append_printf(s, "qom-type=%s,id=%s", type->name, id);
    json_object_foreach_member(props, memory_backend_opt_append, s);
    opts = qemu_opts_parse(s->str, NULL, errp);
    if (!opts || !memory_backend_add(opts, type->name, errp)) {
        return NULL;
    }
    mbo = g_new0(MemoryBackendObject, 1);
    return &mbo->parent;
}

static UserObject *memory_backend_ram_create(const char *id,
                                             JsonObject *props, Error **errp)
{
    return memory_backend_create(&memory_backend_types[0], id, props, errp);
}

static UserObject *memory_backend_memfd_create(const char *id,
                                               JsonObject *props,
                                               Error **errp)
{
    return memory_backend_create(&memory_backend_types[1], id, props, errp);
}

static UserObject *memory_backend_file_create(const char *id,
                                              JsonObject *props, Error **errp)
{
    return memory_backend_create(&memory_backend_types[2], id, props, errp);
}

static void memory_backend_object_finalize(UserObject *obj)
{
    g_free(obj);
}

static const UserObjectType memory_backend_types[] = {
    { "memory-backend-ram", memory_backend_ram_create,
      memory_backend_object_finalize, true },
    { "memory-backend-memfd", memory_backend_memfd_create,
      memory_backend_object_finalize, true },
    { "memory-backend-file", memory_backend_file_create,
      memory_backend_object_finalize, true },
};

void memory_backend_register_types(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(memory_backend_types); i++) {
        object_register_type(&memory_backend_types[i]);
    }
}
