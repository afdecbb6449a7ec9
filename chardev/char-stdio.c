/*
 * stdio back end: input from fd 0, output to fd 1.  Only one chardev may
 * own the terminal, as in QEMU.  The terminal stays in cooked mode, so
 * input arrives a line at a time, which is what HMP wants.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "chardev-internal.h"

static bool stdio_in_use;   /* main thread */

static bool char_stdio_open(Chardev *chr, QemuOpts *opts, Error **errp)
{
    if (stdio_in_use) {
        error_setg(errp, "cannot use stdio by multiple character devices");
        return false;
    }
    stdio_in_use = true;
    chr->be_open = true;
    qemu_chr_set_input_fd(chr, STDIN_FILENO);
    return true;
}

static int char_stdio_write(Chardev *chr, const uint8_t *buf, int len)
{
    return qemu_chr_fd_write_all(STDOUT_FILENO, false, buf, len);
}

static ssize_t char_stdio_read(Chardev *chr, uint8_t *buf, size_t len)
{
    ssize_t n = read(STDIN_FILENO, buf, len);

    return n < 0 ? -errno : n;
}

static void char_stdio_disconnect(Chardev *chr)
{
    /* End of input: stop reading; output keeps working. */
    qemu_chr_set_input_fd(chr, -1);
    qemu_chr_be_event(chr, CHR_EVENT_CLOSED);
}

static void char_stdio_finalize(Chardev *chr)
{
    stdio_in_use = false;
}

const ChardevClass char_stdio_class = {
    .kind = "stdio",
    .instance_size = sizeof(Chardev),
    .open = char_stdio_open,
    .write = char_stdio_write,
    .read = char_stdio_read,
    .disconnect = char_stdio_disconnect,
    .finalize = char_stdio_finalize,
};
