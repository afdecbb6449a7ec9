/*
 * Process-wide settings from the command line.
 *
 * Written by main() before any thread starts; read-only afterwards.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef SYSTEM_SYSTEM_H
#define SYSTEM_SYSTEM_H

extern const char *qemu_name;       /* -name NAME, or NULL */
extern uint8_t qemu_uuid[16];       /* -uuid's bytes, zeros without one */
extern bool qemu_uuid_set;          /* -uuid was given */

#endif
