/*
 * UUID text <-> bytes (include/qemu/uuid.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/uuid.h"

/* Where the dashes go in the 36-character text. */
static bool uuid_is_dash_pos(int i)
{
    return i == 8 || i == 13 || i == 18 || i == 23;
}

bool qemu_uuid_parse(const char *str, uint8_t out[UUID_LEN])
{
    uint8_t buf[UUID_LEN] = { 0 };
    int n = 0;

    if (!str || strlen(str) != UUID_STR_LEN - 1) {
        return false;
    }
    for (int i = 0; i < UUID_STR_LEN - 1; i++) {
        int v;

        if (uuid_is_dash_pos(i)) {
            if (str[i] != '-') {
                return false;
            }
            continue;
        }
        v = g_ascii_xdigit_value(str[i]);
        if (v < 0) {
            return false;
        }
        buf[n / 2] |= n % 2 ? v : v << 4;
        n++;
    }
    memcpy(out, buf, UUID_LEN);
    return true;
}

void qemu_uuid_unparse(const uint8_t uuid[UUID_LEN], char out[UUID_STR_LEN])
{
    static const char hex[] = "0123456789abcdef";
    int n = 0;

    for (int i = 0; i < UUID_STR_LEN - 1; i++) {
        if (uuid_is_dash_pos(i)) {
            out[i] = '-';
            continue;
        }
        out[i] = hex[n % 2 ? uuid[n / 2] & 0xf : uuid[n / 2] >> 4];
        n++;
    }
    out[UUID_STR_LEN - 1] = '\0';
}
