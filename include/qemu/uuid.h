/*
 * UUIDs as 16 bytes in the order they are written (RFC 4122 text order).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_UUID_H
#define QEMU_UUID_H

#define UUID_LEN 16
#define UUID_STR_LEN 37     /* 36 characters and the NUL */

/*
 * Parse "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (hex digits of either case)
 * into @out; false, leaving @out alone, if @str is anything else.
 */
bool qemu_uuid_parse(const char *str, uint8_t out[UUID_LEN]);
/* Write the lower-case text of @uuid into @out. */
void qemu_uuid_unparse(const uint8_t uuid[UUID_LEN], char out[UUID_STR_LEN]);

#endif
