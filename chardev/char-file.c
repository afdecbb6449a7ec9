/*
 * File back end: output only, to path= (truncated unless append=on, as
 * QEMU does).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "chardev-internal.h"

typedef struct FileChardev {
    Chardev parent;
    int fd;         /* write-only; written under chr_write_lock */
} FileChardev;

static bool char_file_open(Chardev *chr, QemuOpts *opts, Error **errp)
{
    FileChardev *s = container_of(chr, FileChardev, parent);
    const char *path = qemu_opt_get(opts, "path");
    bool append;
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC;

    if (!path) {
        error_setg(errp, "file: Parameter 'path' is missing");
        return false;
    }
    if (!qemu_opt_get_bool(opts, "append", false, &append, errp)) {
        return false;
    }
    flags |= append ? O_APPEND : O_TRUNC;
    s->fd = RETRY_ON_EINTR(open(path, flags, 0666));
    if (s->fd < 0) {
        error_setg_errno(errp, errno, "Could not open '%s'", path);
        return false;
    }
    chr->be_open = true;
    return true;
}

static int char_file_write(Chardev *chr, const uint8_t *buf, int len)
{
    FileChardev *s = container_of(chr, FileChardev, parent);

    return qemu_chr_fd_write_all(s->fd, false, buf, len);
}

static ssize_t char_file_read(Chardev *chr, uint8_t *buf, size_t len)
{
    return 0;   /* never polled: no input fd */
}

static void char_file_disconnect(Chardev *chr)
{
}

static void char_file_finalize(Chardev *chr)
{
    FileChardev *s = container_of(chr, FileChardev, parent);

    if (s->fd >= 0) {
        fsync(s->fd);
        close(s->fd);
        s->fd = -1;
    }
}

static const char *const char_file_keys[] = { "path", "append", NULL };

const ChardevClass char_file_class = {
    .kind = "file",
    .instance_size = sizeof(FileChardev),
    .keys = char_file_keys,
    .open = char_file_open,
    .write = char_file_write,
    .read = char_file_read,
    .disconnect = char_file_disconnect,
    .finalize = char_file_finalize,
};
