/*
 * QMP/HMP for disks and dirty bitmaps: query-block, block-dirty-bitmap-*,
 * x-debug-block-dirty-bitmap-sha256, HMP "info block".
 *
 * Every drive is also its own block node: node-name == drive id, so the
 * "node" argument of the bitmap commands takes a drive id.  "persistent"
 * bitmaps are accepted and reported (and migrated), but a raw image has
 * nowhere to store them, so they do not outlive the process.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "block/qmp-block.h"
#include "trace.h"

/* QEMU's default for images without clusters (raw). */
#define BLOCK_DEFAULT_BITMAP_GRANULARITY (64 * 1024)

BlockBackend *block_lookup_node(const char *node, Error **errp)
{
    BlockBackend *blk = blk_by_name(node);

    if (!blk) {
        error_set(errp, ERROR_CLASS_DEVICE_NOT_FOUND,
                  "Cannot find device='%s' nor node-name='%s'", node, node);
    }
    return blk;
}

BdrvDirtyBitmap *block_dirty_bitmap_lookup(const char *node,
                                           const char *name,
                                           BlockBackend **pblk, Error **errp)
{
    BlockBackend *blk = block_lookup_node(node, errp);
    BdrvDirtyBitmap *bitmap;

    if (!blk) {
        return NULL;
    }
    bitmap = bdrv_find_dirty_bitmap(blk, name);
    if (!bitmap) {
        error_setg(errp, "Dirty bitmap '%s' not found", name);
        return NULL;
    }
    if (pblk) {
        *pblk = blk;
    }
    return bitmap;
}

static JsonObject *block_bitmap_info(BdrvDirtyBitmap *bitmap)
{
    JsonObject *info = json_object_new();

    json_object_set_string_member(info, "name",
                                  bdrv_dirty_bitmap_name(bitmap));
    json_object_set_boolean_member(info, "recording",
                                   bdrv_dirty_bitmap_enabled(bitmap));
    json_object_set_boolean_member(info, "persistent",
                                   bdrv_dirty_bitmap_persistent(bitmap));
    json_object_set_boolean_member(info, "busy",
                                   bdrv_dirty_bitmap_busy(bitmap));
    json_object_set_int_member(info, "granularity",
                               bdrv_dirty_bitmap_granularity(bitmap));
    json_object_set_int_member(info, "count", bdrv_get_dirty_count(bitmap));
    return info;
}

static JsonArray *block_bitmaps_info(BlockBackend *blk)
{
    g_autoptr(GPtrArray) list = bdrv_dirty_bitmap_list(blk);
    JsonArray *arr = json_array_new();

    for (guint i = 0; i < list->len; i++) {
        json_array_add_object_element(arr,
            block_bitmap_info(g_ptr_array_index(list, i)));
    }
    return arr;
}

/* Bytes the image takes on the host (st_blocks), or -1. */
static int64_t block_actual_size(BlockBackend *blk)
{
    struct stat st;

    if (stat(blk_filename(blk), &st) < 0) {
        return -1;
    }
    return (int64_t)st.st_blocks * 512;
}

static JsonObject *block_image_info(BlockBackend *blk)
{
    JsonObject *image = json_object_new();
    int64_t actual = block_actual_size(blk);

    json_object_set_string_member(image, "filename", blk_filename(blk));
    json_object_set_string_member(image, "format", "raw");
    json_object_set_int_member(image, "virtual-size", blk_getlength(blk));
    if (actual >= 0) {
        json_object_set_int_member(image, "actual-size", actual);
    }
    json_object_set_boolean_member(image, "dirty-flag", false);
    return image;
}

static JsonObject *block_inserted_info(BlockBackend *blk)
{
    JsonObject *ins = json_object_new();
    JsonObject *cache = json_object_new();

    json_object_set_string_member(ins, "file", blk_filename(blk));
    json_object_set_string_member(ins, "node-name", blk_name(blk));
    json_object_set_boolean_member(ins, "ro", blk_is_read_only(blk));
    json_object_set_string_member(ins, "drv", "raw");
    json_object_set_boolean_member(ins, "encrypted", false);
    json_object_set_string_member(ins, "detect_zeroes", "off");
    json_object_set_int_member(ins, "bps", 0);
    json_object_set_int_member(ins, "bps_rd", 0);
    json_object_set_int_member(ins, "bps_wr", 0);
    json_object_set_int_member(ins, "iops", 0);
    json_object_set_int_member(ins, "iops_rd", 0);
    json_object_set_int_member(ins, "iops_wr", 0);
    json_object_set_int_member(ins, "write_threshold", 0);
    json_object_set_boolean_member(cache, "writeback", true);
    json_object_set_boolean_member(cache, "direct", false);
    json_object_set_boolean_member(cache, "no-flush", false);
    json_object_set_object_member(ins, "cache", cache);
    json_object_set_object_member(ins, "image", block_image_info(blk));
    json_object_set_array_member(ins, "dirty-bitmaps",
                                 block_bitmaps_info(blk));
    return ins;
}

void qmp_query_block(JsonObject *args, JsonNode **ret, Error **errp)
{
    JsonArray *list = json_array_new();

    for (BlockBackend *blk = blk_next(NULL); blk; blk = blk_next(blk)) {
        const char *dev = blk_get_attached_dev(blk);
        JsonObject *info = json_object_new();

        json_object_set_string_member(info, "device", blk_name(blk));
        if (dev) {
            json_object_set_string_member(info, "qdev", dev);
        }
        json_object_set_boolean_member(info, "locked", false);
        json_object_set_boolean_member(info, "removable", false);
        json_object_set_string_member(info, "type", "unknown");
        json_object_set_string_member(info, "io-status", "ok");
        json_object_set_object_member(info, "inserted",
                                      block_inserted_info(blk));
        json_array_add_object_element(list, info);
    }
    *ret = qmp_node_array(list);
}

void qmp_block_dirty_bitmap_add(JsonObject *args, JsonNode **ret,
                                Error **errp)
{
    const char *node = qmp_arg_str(args, "node", NULL);
    const char *name = qmp_arg_str(args, "name", NULL);
    int64_t gran = qmp_arg_int(args, "granularity",
                               BLOCK_DEFAULT_BITMAP_GRANULARITY);
    BlockBackend *blk = block_lookup_node(node, errp);
    BdrvDirtyBitmap *bitmap;

    if (!blk) {
        return;
    }
    if (gran < 0 || gran > UINT32_MAX) {
        error_setg(errp, "Granularity must be power of 2, and at least 512");
        return;
    }
    bitmap = bdrv_create_dirty_bitmap(blk, gran, name, errp);
    if (!bitmap) {
        return;
    }
    bdrv_dirty_bitmap_set_persistent(bitmap,
                                     qmp_arg_bool(args, "persistent", false));
    bdrv_dirty_bitmap_set_enabled(bitmap,
                                  !qmp_arg_bool(args, "disabled", false));
}

/* The bitmap named by args "node" and "name", usable (not busy). */
static BdrvDirtyBitmap *block_bitmap_arg(JsonObject *args, Error **errp)
{
    BdrvDirtyBitmap *bitmap =
        block_dirty_bitmap_lookup(qmp_arg_str(args, "node", NULL),
                                  qmp_arg_str(args, "name", NULL), NULL,
                                  errp);

    if (!bitmap || !bdrv_dirty_bitmap_check_not_busy(bitmap, errp)) {
        return NULL;
    }
    return bitmap;
}

void qmp_block_dirty_bitmap_remove(JsonObject *args, JsonNode **ret,
                                   Error **errp)
{
    BdrvDirtyBitmap *bitmap = block_bitmap_arg(args, errp);

    if (bitmap) {
        bdrv_release_dirty_bitmap(bitmap);
    }
}

void qmp_block_dirty_bitmap_clear(JsonObject *args, JsonNode **ret,
                                  Error **errp)
{
    BdrvDirtyBitmap *bitmap = block_bitmap_arg(args, errp);

    if (bitmap) {
        bdrv_clear_dirty_bitmap(bitmap);
    }
}

void qmp_block_dirty_bitmap_enable(JsonObject *args, JsonNode **ret,
                                   Error **errp)
{
    BdrvDirtyBitmap *bitmap = block_bitmap_arg(args, errp);

    if (bitmap) {
        bdrv_dirty_bitmap_set_enabled(bitmap, true);
    }
}

void qmp_block_dirty_bitmap_disable(JsonObject *args, JsonNode **ret,
                                    Error **errp)
{
    BdrvDirtyBitmap *bitmap = block_bitmap_arg(args, errp);

    if (bitmap) {
        bdrv_dirty_bitmap_set_enabled(bitmap, false);
    }
}

/* Reading a busy bitmap is fine: this is how tests check migrated ones. */
void qmp_x_debug_block_dirty_bitmap_sha256(JsonObject *args, JsonNode **ret,
                                           Error **errp)
{
    BdrvDirtyBitmap *bitmap =
        block_dirty_bitmap_lookup(qmp_arg_str(args, "node", NULL),
                                  qmp_arg_str(args, "name", NULL), NULL,
                                  errp);
    g_autofree char *sha = NULL;
    JsonObject *obj;

    if (!bitmap) {
        return;
    }
    sha = bdrv_dirty_bitmap_sha256(bitmap);
    obj = json_object_new();
    json_object_set_string_member(obj, "sha256", sha);
    *ret = qmp_node_object(obj);
}

static void hmp_info_block_one(Monitor *mon, JsonObject *info)
{
    JsonObject *ins = json_object_get_object_member(info, "inserted");
    JsonArray *bitmaps = json_object_get_array_member(ins, "dirty-bitmaps");

    monitor_printf(mon, "%s: %s (raw%s)\n",
                   json_object_get_string_member(info, "device"),
                   json_object_get_string_member(ins, "file"),
                   json_object_get_boolean_member(ins, "ro")
                   ? ", read-only" : "");
    if (json_object_has_member(info, "qdev")) {
        monitor_printf(mon, "    Attached to:      %s\n",
                       json_object_get_string_member(info, "qdev"));
    }
    monitor_printf(mon, "    Cache mode:       writeback\n");
    for (guint i = 0; i < json_array_get_length(bitmaps); i++) {
        JsonObject *bm = json_array_get_object_element(bitmaps, i);

        monitor_printf(mon, "    Dirty bitmap:     %s (granularity %"
                       PRId64 ", %" PRId64 " dirty bytes%s)\n",
                       json_object_get_string_member(bm, "name"),
                       json_object_get_int_member(bm, "granularity"),
                       json_object_get_int_member(bm, "count"),
                       json_object_get_boolean_member(bm, "recording")
                       ? "" : ", disabled");
    }
}

static void hmp_info_block(Monitor *mon, int argc, char **argv)
{
    g_autoptr(JsonNode) ret = hmp_qmp(mon, "query-block", NULL);
    JsonArray *list;
    bool found = false;

    if (!ret) {
        return;
    }
    list = json_node_get_array(ret);
    for (guint i = 0; i < json_array_get_length(list); i++) {
        JsonObject *info = json_array_get_object_element(list, i);

        if (argc > 1 &&
            strcmp(json_object_get_string_member(info, "device"), argv[1])) {
            continue;
        }
        if (found) {
            monitor_printf(mon, "\n");
        }
        hmp_info_block_one(mon, info);
        found = true;
    }
    if (argc > 1 && !found) {
        monitor_printf(mon, "Device '%s' not found\n", argv[1]);
    }
}

const HmpCommand hmp_block_info_commands[] = {
    { "block", "[device]", 0, 1, hmp_info_block, "show the block devices" },
    { NULL }
};
