/*
 * Migration to and from a file (file:PATH[,offset=N]).
 *
 * As in QEMU, the source neither truncates the file to nothing nor keeps
 * what follows the offset: the bytes before @offset belong to someone
 * else (a container format wrapping the stream), everything from @offset
 * on is ours and is replaced.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "migration/channel-internal.h"
#include "io/channel-file.h"
#include "trace.h"

static bool migration_file_seek(QIOChannel *ioc, const char *path,
                                uint64_t offset, Error **errp)
{
    if (offset && qio_channel_io_seek(ioc, offset, SEEK_SET, errp) < 0) {
        error_prepend(errp, "Cannot seek migration file '%s' to offset %"
                      PRIu64 ": ", path, offset);
        return false;
    }
    return true;
}

static QIOChannel *migration_file_create(const char *path, uint64_t offset,
                                         Error **errp)
{
    g_autoptr(QIOChannel) ioc = NULL;

    ioc = qio_channel_file_new_path(path, O_CREAT | O_WRONLY, 0600, errp);
    if (!ioc) {
        return NULL;
    }
    if (ftruncate(qio_channel_file_get_fd(ioc), offset) < 0) {
        error_setg_errno(errp, errno, "Cannot truncate migration file '%s' "
                         "to offset %" PRIu64, path, offset);
        return NULL;
    }
    if (!migration_file_seek(ioc, path, offset, errp)) {
        return NULL;
    }
    qio_channel_set_name(ioc, "migration-file-outgoing");
    return g_steal_pointer(&ioc);
}

static QIOChannel *migration_file_read(const char *path, uint64_t offset,
                                       Error **errp)
{
    g_autoptr(QIOChannel) ioc = NULL;

    ioc = qio_channel_file_new_path(path, O_RDONLY, 0, errp);
    if (!ioc || !migration_file_seek(ioc, path, offset, errp)) {
        return NULL;
    }
    qio_channel_set_name(ioc, "migration-file-incoming");
    return g_steal_pointer(&ioc);
}

QIOChannel *migration_file_open(const char *path, uint64_t offset,
                                bool outgoing, Error **errp)
{
    trace_migration_file_open(path, offset, outgoing);
    if (offset > INT64_MAX) {
        error_setg(errp, "Offset %" PRIu64 " in migration file '%s' is too "
                   "large", offset, path);
        return NULL;
    }
    return outgoing ? migration_file_create(path, offset, errp)
                    : migration_file_read(path, offset, errp);
}
