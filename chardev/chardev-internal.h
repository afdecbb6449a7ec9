/*
 * Character devices: what the back ends share with the core (char.c).
 *
 * Each back end embeds a Chardev as its first member and describes itself
 * with a ChardevClass.  Input is read by the core from the back end's
 * input file descriptor (see qemu_chr_set_input_fd()); output goes
 * through ChardevClass.write under chr_write_lock.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef CHARDEV_INTERNAL_H
#define CHARDEV_INTERNAL_H

#include "chardev/char.h"

typedef struct ChardevClass {
    const char *kind;               /* "file", "socket", ... */
    size_t instance_size;           /* of the struct embedding Chardev */
    const char *const *keys;        /* accepted option keys, besides id */
    /* Main thread, BQL, before the chardev is registered. */
    bool (*open)(Chardev *chr, QemuOpts *opts, Error **errp);
    /*
     * Any thread, chr_write_lock held: write all of @buf or fail.
     * Returns @len, or -errno.  A back end with nobody connected drops
     * the data and returns @len.
     */
    int (*write)(Chardev *chr, const uint8_t *buf, int len);
    /*
     * Main thread, BQL: read what is available on the input fd into
     * @buf.  Returns the byte count, 0 at end of input, -errno on error
     * (-EAGAIN: nothing after all).
     */
    ssize_t (*read)(Chardev *chr, uint8_t *buf, size_t len);
    /* Main thread, BQL: input ended or the front end dropped the peer. */
    void (*disconnect)(Chardev *chr);
    /* Main thread, BQL: the SCM_RIGHTS fd that came with the last read. */
    int (*get_msgfd)(Chardev *chr);
    /* Main thread, BQL: release everything (chardev being destroyed). */
    void (*finalize)(Chardev *chr);
} ChardevClass;

struct Chardev {
    char *label;
    const ChardevClass *cls;
    /*
     * Serialises writes: the UART writes from vCPU threads, monitors from
     * the main loop.  Back ends also take it around closing the fd that
     * write() uses.
     */
    GMutex chr_write_lock;
    /* The fields below are main thread + BQL only. */
    const ChrFrontendOps *fe_ops;
    void *fe_opaque;
    bool be_open;           /* a peer is there (or a file is open) */
    int in_fd;              /* polled for input; -1: none */
    guint in_watch;         /* g_unix_fd_add source on in_fd, or 0 */
    guint retry_timer;      /* re-poll after the front end was full */
};

extern const ChardevClass char_file_class;
extern const ChardevClass char_stdio_class;
extern const ChardevClass char_null_class;
extern const ChardevClass char_socket_class;

/* Main thread: start (fd >= 0) or stop (-1) reading input from @fd. */
void qemu_chr_set_input_fd(Chardev *chr, int fd);
/* Main thread: a peer connected / went away; tells the front end. */
void qemu_chr_be_event(Chardev *chr, ChrEvent event);
/*
 * Write all of @buf to @fd, waiting for room when it is non-blocking.
 * Returns @len or -errno.  Socket fds use send(MSG_NOSIGNAL).
 */
int qemu_chr_fd_write_all(int fd, bool is_socket, const uint8_t *buf,
                          int len);

#endif
