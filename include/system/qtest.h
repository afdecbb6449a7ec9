/*
 * The qtest protocol (QEMU's): a line-based socket protocol that lets a
 * test read and write guest memory and I/O ports directly.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef SYSTEM_QTEST_H
#define SYSTEM_QTEST_H

#include "qapi/error.h"

/*
 * -qtest SPEC: a chardev spec, usually "unix:PATH" (qmig connects).
 * -qtest-log @log (NULL or "none": no log; /dev/fd/2 is stderr as it
 * is): every request and reply is written to that file as QEMU does,
 * "[R +SECONDS] request" / "[S +SECONDS] reply".
 */
bool qtest_server_init(const char *spec, const char *log, Error **errp);

#endif
