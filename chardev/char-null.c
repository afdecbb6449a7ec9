/*
 * Null back end: swallows output, never has input.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "chardev-internal.h"

static bool char_null_open(Chardev *chr, QemuOpts *opts, Error **errp)
{
    chr->be_open = true;
    return true;
}

static int char_null_write(Chardev *chr, const uint8_t *buf, int len)
{
    return len;
}

static ssize_t char_null_read(Chardev *chr, uint8_t *buf, size_t len)
{
    return 0;
}

static void char_null_disconnect(Chardev *chr)
{
}

const ChardevClass char_null_class = {
    .kind = "null",
    .instance_size = sizeof(Chardev),
    .open = char_null_open,
    .write = char_null_write,
    .read = char_null_read,
    .disconnect = char_null_disconnect,
};
