/*
 * Character devices: the back ends that the serial port and the monitors
 * talk through (file, stdio, null, socket unix/tcp, server or client).
 *
 * Threading: back ends live in the main loop; input handlers
 * (can_read/read/event) run in the main thread under the BQL.
 * qemu_chr_write() may be called from any thread (the UART writes from a
 * vCPU thread under the BQL, monitors from the main loop); each Chardev
 * serialises writes with its own lock ("chr_write_lock").
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef CHARDEV_CHAR_H
#define CHARDEV_CHAR_H

#include "qapi/error.h"
#include "qemu/option.h"

typedef struct Chardev Chardev;

typedef enum ChrEvent {
    CHR_EVENT_OPENED,       /* a client connected (or a file opened) */
    CHR_EVENT_CLOSED,       /* the client went away */
} ChrEvent;

typedef struct ChrFrontendOps {
    /* Main thread, BQL: how many bytes the front end can take now. */
    int (*can_read)(void *opaque);
    /* Main thread, BQL: bytes arrived. */
    void (*read)(void *opaque, const uint8_t *buf, int size);
    /* Main thread, BQL: open/close of the connection. */
    void (*event)(void *opaque, ChrEvent event);
} ChrFrontendOps;

/*
 * -chardev BACKEND,id=ID,...: file (path=), stdio, null, socket
 * (path= or host=/port=, server=on|off, wait=on|off).
 */
Chardev *qemu_chr_new_from_opts(QemuOpts *opts, Error **errp);
/*
 * Parse a -chardev argument ("socket,id=x,path=p,server,nowait") into the
 * options qemu_chr_new_from_opts() takes: the first element is the
 * "backend" key, and QEMU's legacy bare flags are accepted ("server" =
 * server=on, "nowait" = wait=off, "noX" = X=off).
 */
QemuOpts *qemu_chr_parse_opts(const char *str, Error **errp);
/*
 * The short forms of -serial/-qmp/-monitor: "file:PATH", "stdio", "null",
 * "none", "chardev:ID" (an existing one), "unix:PATH[,server=on,wait=off]",
 * "tcp:HOST:PORT[,server=on,wait=off]".  @label names the new chardev.
 * "none" returns NULL without setting an error (no device wanted).
 */
Chardev *qemu_chr_new(const char *label, const char *spec, Error **errp);
Chardev *qemu_chr_find(const char *id);
const char *qemu_chr_label(Chardev *chr);

/* Attach the (single) front end; NULL ops detach it. */
void qemu_chr_fe_set_handlers(Chardev *chr, const ChrFrontendOps *ops,
                              void *opaque);
/*
 * Main thread: the front end has room again after can_read() said 0;
 * input resumes at once (otherwise it is retried every few ms).
 */
void qemu_chr_fe_accept_input(Chardev *chr);
/* Any thread: write everything (blocking briefly if needed); <0 on error. */
int qemu_chr_write_all(Chardev *chr, const uint8_t *buf, int len);
/*
 * Main thread: take the file descriptor that arrived as SCM_RIGHTS with
 * the most recent read, or -1.  The caller owns it.
 */
int qemu_chr_fe_get_msgfd(Chardev *chr);
/* Main thread: drop the current client connection (socket back ends). */
void qemu_chr_fe_disconnect(Chardev *chr);

/* Close every chardev at exit (flushes files); after monitor_cleanup(). */
void qemu_chr_cleanup(void);

#endif
