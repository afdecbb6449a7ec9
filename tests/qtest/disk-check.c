/*
 * The disk guest's invariant checker (see disk-check.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <glib.h>
#include <string.h>
#include "disk-check.h"

uint64_t disk_check_sectors(uint64_t image_bytes)
{
    return MIN(image_bytes / DISK_CHECK_SECTOR_SIZE,
               (uint64_t)DISK_CHECK_MAX_SECTORS);
}

static uint32_t le32_at(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

uint32_t disk_check_filler(uint32_t gen, uint64_t sector)
{
    return gen ^ ((uint32_t)sector << 16) ^ DISK_CHECK_FILL_MAGIC;
}

/* Is @sec a correct sector @s of some pass?  *gen gets its pass. */
static bool disk_check_sector(const uint8_t *sec, uint64_t s, uint32_t *gen,
                              char **why)
{
    uint32_t g = le32_at(sec);
    uint32_t num = le32_at(sec + 4);

    *gen = g;
    if (g == 0) {
        /* Never written: all zeros. */
        for (int i = 0; i < DISK_CHECK_SECTOR_SIZE; i++) {
            if (sec[i]) {
                *why = g_strdup_printf("sector %" G_GUINT64_FORMAT " has gen "
                                       "0 but byte %d is 0x%02x (an unwritten "
                                       "sector is all zeros)", s, i, sec[i]);
                return false;
            }
        }
        return true;
    }
    if (num != s) {
        *why = g_strdup_printf("sector %" G_GUINT64_FORMAT " (gen %u) holds "
                               "sector number %u", s, g, num);
        return false;
    }
    for (int i = 8; i < DISK_CHECK_SECTOR_SIZE; i += 4) {
        uint32_t want = disk_check_filler(g, s);
        uint32_t got = le32_at(sec + i);

        if (got != want) {
            *why = g_strdup_printf("sector %" G_GUINT64_FORMAT " (gen %u): "
                                   "word at byte %d is 0x%08x, expected "
                                   "0x%08x (torn or corrupted)", s, g, i,
                                   got, want);
            return false;
        }
    }
    return true;
}

bool disk_check_buf(const uint8_t *buf, size_t len, DiskCheckInfo *info,
                    char **why)
{
    uint64_t n = disk_check_sectors(len);
    uint64_t boundary = n;
    uint32_t first = 0, prev = 0;
    char *msg = NULL;

    for (uint64_t s = 0; s < n; s++) {
        uint32_t gen;

        if (!disk_check_sector(buf + s * DISK_CHECK_SECTOR_SIZE, s, &gen,
                               &msg)) {
            goto fail;
        }
        if (s == 0) {
            first = prev = gen;
            continue;
        }
        if (gen == prev) {
            continue;
        }
        if (gen == prev - 1 && boundary == n) {
            boundary = s;
            prev = gen;
            continue;
        }
        msg = g_strdup_printf("sector %" G_GUINT64_FORMAT " has gen %u after "
                              "gen %u%s", s, gen, prev,
                              boundary == n ? "" : " (a second step: a lost "
                              "or stale write)");
        goto fail;
    }
    if (info) {
        info->sectors = n;
        info->gen = first;
        info->boundary = boundary;
    }
    return true;

fail:
    if (why) {
        *why = msg;
    } else {
        g_free(msg);
    }
    return false;
}

bool disk_check_file(const char *path, DiskCheckInfo *info, char **why)
{
    g_autoptr(GError) err = NULL;
    gsize len;

    /* Only the first 4 MiB matter; the image may be much larger. */
    g_autoptr(GMappedFile) map = g_mapped_file_new(path, FALSE, &err);

    if (!map) {
        if (why) {
            *why = g_strdup_printf("%s: %s", path, err->message);
        }
        return false;
    }
    len = g_mapped_file_get_length(map);
    return disk_check_buf((const uint8_t *)g_mapped_file_get_contents(map),
                          len, info, why);
}
