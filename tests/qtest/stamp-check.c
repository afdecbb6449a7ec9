/*
 * The stamp guest's memory invariant (see stamp-check.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <glib.h>

#include "stamp-check.h"

bool stamp_check_buf(const uint8_t *buf, size_t len, uint64_t base,
                     char **why)
{
    size_t npages = len / STAMP_PAGE_SIZE;
    uint64_t drop_at = 0;
    bool dropped = false;
    size_t i;

    if (len % STAMP_PAGE_SIZE || base % STAMP_PAGE_SIZE || npages == 0) {
        if (why) {
            *why = g_strdup_printf("dump of 0x%zx bytes at 0x%"
                                   G_GINT64_MODIFIER "x is not a non-empty "
                                   "run of whole pages", len, (guint64)base);
        }
        return false;
    }
    for (i = 1; i < npages; i++) {
        uint8_t prev = buf[(i - 1) * STAMP_PAGE_SIZE];
        uint8_t cur = buf[i * STAMP_PAGE_SIZE];
        uint64_t addr = base + (uint64_t)i * STAMP_PAGE_SIZE;

        if (cur == prev) {
            continue;
        }
        if ((uint8_t)(cur + 1) != prev) {
            if (why) {
                *why = g_strdup_printf(
                    "page 0x%" G_GINT64_MODIFIER "x holds 0x%02x after "
                    "0x%02x: neither equal nor one less", (guint64)addr,
                    cur, prev);
            }
            return false;
        }
        if (dropped) {
            if (why) {
                *why = g_strdup_printf(
                    "second step down at page 0x%" G_GINT64_MODIFIER "x "
                    "(0x%02x after 0x%02x); the first was at 0x%"
                    G_GINT64_MODIFIER "x", (guint64)addr, cur, prev,
                    (guint64)drop_at);
            }
            return false;
        }
        dropped = true;
        drop_at = addr;
    }
    return true;
}

bool stamp_check_file(const char *path, uint64_t base, char **why)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GMappedFile) map = g_mapped_file_new(path, FALSE, &err);

    if (!map) {
        if (why) {
            *why = g_strdup_printf("cannot read memory dump: %s",
                                   err->message);
        }
        return false;
    }
    return stamp_check_buf((const uint8_t *)g_mapped_file_get_contents(map),
                           g_mapped_file_get_length(map), base, why);
}
