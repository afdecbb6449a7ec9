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

bool memory_backend_add(QemuOpts *opts, const char *type, Error **errp)
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
