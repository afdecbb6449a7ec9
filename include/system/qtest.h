/*
 * The qtest protocol (QEMU's): a line-based socket protocol that lets a
 * test read and write guest memory and I/O ports directly.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef SYSTEM_QTEST_H
#define SYSTEM_QTEST_H

#include "qapi/error.h"

/* -qtest SPEC: a chardev spec, usually "unix:PATH" (qmig connects). */
bool qtest_server_init(const char *spec, Error **errp);

#endif
