/*
 * Dirty bitmap migration: the "dirty-bitmap" live section (QEMU's name,
 * version 1 and record format), active with the dirty-bitmaps capability.
 *
 * Every named bitmap of every drive moves to the drive of the same name
 * (or as block-bitmap-mapping says) on the destination, with its
 * granularity, its enabled and persistent flags and its bits.
 *
 * Records (QEMU's layout).  A record starts with its flags: one byte, or
 * 2 or 4 (QEMU's reader accepts those; so do we).  Bit 0x80 of the first
 * byte says a second byte follows; bit 0x80 of the second says two more
 * follow.  The bytes form one big-endian number whose low 7 bits are the
 * flags below; every other bit but those two markers is a flag nobody
 * defines yet and is refused (QEMU keeps only the last byte and drops
 * the rest unseen), so 0x80 0x01 is EOS and 0x80 0x80 0x00 0x01 too.
 * Then a u8-counted node alias if DEVICE_NAME is set and a u8-counted
 * bitmap alias if BITMAP_NAME is set; a record without them is about the
 * same node/bitmap as the one before.  Then:
 *   START:    be32 granularity, u8 flags (0x01 enabled, 0x02 persistent,
 *             0x04 ignored, others reserved)
 *   BITS:     be64 first sector, be32 sectors (512 bytes each), and unless
 *             ZEROES a be64 buffer size and the serialised bits
 *             (little-endian words, one bit per granule)
 *   COMPLETE: nothing; the bitmap has all its bits
 * and each section's payload ends with a record carrying EOS.
 *
 * When.  The setup phase sends a START per bitmap (the destination
 * creates them then, so a name clash fails the migration early).  QEMU
 * sends the bits during postcopy, or in the stop-and-copy phase when
 * postcopy is off; qmig has no postcopy, so the bits always go in the
 * complete phase, with the VM stopped and the BQL held: every write the
 * guest made during the migration is in them, with no dirty tracking of
 * the bitmaps themselves.  The cost is downtime: one bit per granule
 * (8 KiB for a 4 GiB disk at 64 KiB), which state_pending reports so the
 * downtime estimate counts it.
 *
 * Destination.  Bitmaps are created disabled at START, so block
 * migration writes to the disk in the same stream do not mark them, and
 * only enabled (if they were on the source) in load_cleanup once their
 * COMPLETE arrived; a bitmap whose COMPLETE never came is removed again.
 * An unknown drive, unknown alias or a bitmap that already exists fails
 * the load with a message saying which (QEMU reports these and drops the
 * bitmaps but lets the rest of the migration go on; a destination that
 * silently lacks a backup tool's bitmap is worse than a failed
 * migration, so qmig fails).
 *
 * Threads and locks.  Save hooks run in the migration thread, load hooks
 * in the incoming thread (register.h); their state below belongs to that
 * thread.  Bitmaps are looked up, created, filled and removed only under
 * the BQL (QMP's block-dirty-bitmap-* run under it too).  As in QEMU,
 * every bitmap being migrated is marked busy on both sides from setup
 * (START) to cleanup, so QMP refuses to remove, clear, enable or disable
 * it meanwhile; a pointer kept across a BQL release is still checked
 * again by name before use.
 * The block-bitmap-mapping parameter is immutable once built and
 * reference counted; mapping_lock protects which one is current.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "block/block-backend.h"
#include "block/dirty-bitmap.h"
#include "migration/register.h"
#include "monitor/qmp-commands.h"
#include "qemu-file.h"
#include "options.h"
#include "block-dirty-bitmap.h"
#include "trace.h"

#define DBM_SECTION_VERSION 1

#define DBM_FLAG_EOS            0x01
#define DBM_FLAG_ZEROES         0x02
#define DBM_FLAG_BITMAP_NAME    0x04
#define DBM_FLAG_DEVICE_NAME    0x08
#define DBM_FLAG_START          0x10
#define DBM_FLAG_COMPLETE       0x20
#define DBM_FLAG_BITS           0x40
#define DBM_FLAG_EXTRA          0x80    /* another flags byte follows */
#define DBM_FLAGS_KNOWN         0x7f
/* The extension markers in the 2- and 4-byte forms (see the header). */
#define DBM_FLAGS_MARKERS_2     0x8000U
#define DBM_FLAGS_MARKERS_4     0x80800000U

#define DBM_START_ENABLED       0x01
#define DBM_START_PERSISTENT    0x02
#define DBM_START_RESERVED      0xf8    /* 0x04 (autoload) is ignored */

/* Bitmap bytes per BITS record (QEMU's CHUNK_SIZE). */
#define DBM_CHUNK_BYTES         1024
/* Largest buffer a BITS record may announce (QEMU's bound). */
#define DBM_MAX_BUF             (10 * DBM_CHUNK_BYTES)
/*
 * Bitmaps one load may create: each costs disk/granularity bits, so an
 * endless run of STARTs with new names would grow without bound.  1024
 * (granularity >= 512) keeps the total under a quarter of the disks.
 */
#define DBM_LOAD_MAX_BITMAPS    1024
/* Buffers are padded to this (QEMU aligns them for its zero check). */
#define DBM_BUF_ALIGN           (4 * sizeof(long))

#define DBM_SECTOR_BITS         9
/* QEMU's limits: node names, bitmap names, names on the wire. */
#define DBM_MAX_NODE_NAME       31
#define DBM_MAX_BITMAP_NAME     1023
#define DBM_MAX_ALIAS           255

/* ---- block-bitmap-mapping ---------------------------------------------- */

typedef struct BitmapAlias {
    char *name;
    char *alias;
    int persistent;         /* transform.persistent: 0, 1, or -1 if absent */
} BitmapAlias;

typedef struct NodeAlias {
    char *node_name;        /* a drive id here */
    char *alias;
    GPtrArray *bitmaps;     /* BitmapAlias */
} NodeAlias;

struct BitmapMigMapping {
    gatomicrefcount ref;
    GPtrArray *nodes;       /* NodeAlias */
    JsonNode *value;        /* as given, for query-migrate-parameters */
};

static GMutex mapping_lock;
static BitmapMigMapping *current_mapping;   /* protected by mapping_lock */

static void bitmap_alias_free(gpointer p)
{
    BitmapAlias *ba = p;

    g_free(ba->name);
    g_free(ba->alias);
    g_free(ba);
}

static void node_alias_free(gpointer p)
{
    NodeAlias *na = p;

    g_free(na->node_name);
    g_free(na->alias);
    g_ptr_array_unref(na->bitmaps);
    g_free(na);
}

void dirty_bitmap_mig_mapping_unref(BitmapMigMapping *mapping)
{
    if (mapping && g_atomic_ref_count_dec(&mapping->ref)) {
        g_ptr_array_unref(mapping->nodes);
        json_node_unref(mapping->value);
        g_free(mapping);
    }
}

static BitmapMigMapping *mapping_get(void)
{
    BitmapMigMapping *mapping;

    g_mutex_lock(&mapping_lock);
    mapping = current_mapping;
    if (mapping) {
        g_atomic_ref_count_inc(&mapping->ref);
    }
    g_mutex_unlock(&mapping_lock);
    return mapping;
}

void dirty_bitmap_mig_mapping_set(BitmapMigMapping *mapping)
{
    BitmapMigMapping *old;

    g_mutex_lock(&mapping_lock);
    old = current_mapping;
    current_mapping = mapping;
    g_mutex_unlock(&mapping_lock);
    dirty_bitmap_mig_mapping_unref(old);
}

JsonNode *dirty_bitmap_mig_mapping_query(void)
{
    g_autoptr(BitmapMigMapping) mapping = mapping_get();

    return mapping ? json_node_copy(mapping->value) : NULL;
}

static const NodeAlias *mapping_node(const BitmapMigMapping *m,
                                     const char *key, bool by_alias)
{
    for (guint i = 0; i < m->nodes->len; i++) {
        const NodeAlias *na = g_ptr_array_index(m->nodes, i);

        if (!strcmp(by_alias ? na->alias : na->node_name, key)) {
            return na;
        }
    }
    return NULL;
}

static const BitmapAlias *mapping_bitmap(const NodeAlias *na,
                                         const char *key, bool by_alias)
{
    for (guint i = 0; i < na->bitmaps->len; i++) {
        const BitmapAlias *ba = g_ptr_array_index(na->bitmaps, i);

        if (!strcmp(by_alias ? ba->alias : ba->name, key)) {
            return ba;
        }
    }
    return NULL;
}

/* QEMU's id_wellformed(): a letter, then letters, digits, '-', '.', '_'. */
static bool alias_wellformed(const char *id)
{
    if (!g_ascii_isalpha(id[0])) {
        return false;
    }
    for (const char *p = id + 1; *p; p++) {
        if (!g_ascii_isalnum(*p) && !strchr("-._", *p)) {
            return false;
        }
    }
    return true;
}

/* Check and convert element @i of the parameter (an object). */
static JsonObject *mapping_element(JsonArray *arr, guint i,
                                   const char *what, const char *schema,
                                   Error **errp)
{
    JsonNode *node = json_array_get_element(arr, i);
    g_autofree char *prefix = g_strdup_printf("%s[%u].", what, i);

    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        error_setg(errp, "Invalid parameter type for '%s[%u]', expected: "
                   "object", what, i);
        return NULL;
    }
    if (!qmp_check_object(json_node_get_object(node), schema, prefix,
                          errp)) {
        return NULL;
    }
    return json_node_get_object(node);
}

static bool mapping_parse_bitmap(NodeAlias *na, JsonArray *arr, guint i,
                                 const char *what, Error **errp)
{
    JsonObject *o = mapping_element(arr, i, what,
                                    "name:str,alias:str,*transform:object",
                                    errp);
    BitmapAlias *ba;

    if (!o) {
        return false;
    }
    ba = g_new0(BitmapAlias, 1);
    ba->name = g_strdup(json_object_get_string_member(o, "name"));
    ba->alias = g_strdup(json_object_get_string_member(o, "alias"));
    ba->persistent = -1;
    g_ptr_array_add(na->bitmaps, ba);
    if (json_object_has_member(o, "transform")) {
        g_autofree char *prefix = g_strdup_printf("%s[%u].transform.", what,
                                                  i);
        JsonObject *t = json_object_get_object_member(o, "transform");

        if (!qmp_check_object(t, "*persistent:bool", prefix, errp)) {
            return false;
        }
        if (json_object_has_member(t, "persistent")) {
            ba->persistent = json_object_get_boolean_member(t, "persistent");
        }
    }
    if (strlen(ba->alias) > DBM_MAX_ALIAS) {
        error_setg(errp, "The bitmap alias '%s' is longer than %d bytes",
                   ba->alias, DBM_MAX_ALIAS);
        return false;
    }
    if (strlen(ba->name) > DBM_MAX_BITMAP_NAME) {
        error_setg(errp, "The bitmap name '%s' is longer than %d bytes",
                   ba->name, DBM_MAX_BITMAP_NAME);
        return false;
    }
    if (mapping_bitmap(na, ba->name, false) != ba) {
        error_setg(errp, "The bitmap '%s'/'%s' is mapped twice",
                   na->node_name, ba->name);
        return false;
    }
    if (mapping_bitmap(na, ba->alias, true) != ba) {
        error_setg(errp, "The bitmap alias '%s'/'%s' is used twice",
                   na->alias, ba->alias);
        return false;
    }
    return true;
}

static bool mapping_parse_node(BitmapMigMapping *m, JsonArray *arr, guint i,
                               Error **errp)
{
    JsonObject *o = mapping_element(arr, i, "block-bitmap-mapping",
                                    "node-name:str,alias:str,bitmaps:array",
                                    errp);
    g_autofree char *what = NULL;
    JsonArray *bitmaps;
    NodeAlias *na;

    if (!o) {
        return false;
    }
    na = g_new0(NodeAlias, 1);
    na->node_name = g_strdup(json_object_get_string_member(o, "node-name"));
    na->alias = g_strdup(json_object_get_string_member(o, "alias"));
    na->bitmaps = g_ptr_array_new_with_free_func(bitmap_alias_free);
    g_ptr_array_add(m->nodes, na);

    if (!alias_wellformed(na->alias)) {
        error_setg(errp, "The node alias '%s' is not well-formed", na->alias);
        return false;
    }
    if (strlen(na->alias) > DBM_MAX_ALIAS) {
        error_setg(errp, "The node alias '%s' is longer than %d bytes",
                   na->alias, DBM_MAX_ALIAS);
        return false;
    }
    if (strlen(na->node_name) > DBM_MAX_NODE_NAME) {
        error_setg(errp, "The node name '%s' is longer than %d bytes",
                   na->node_name, DBM_MAX_NODE_NAME);
        return false;
    }
    if (mapping_node(m, na->node_name, false) != na) {
        error_setg(errp, "The node name '%s' is mapped twice", na->node_name);
        return false;
    }
    if (mapping_node(m, na->alias, true) != na) {
        error_setg(errp, "The node alias '%s' is used twice", na->alias);
        return false;
    }
    /*
     * QEMU accepts nodes that do not exist (yet); qmig's drives are all
     * there from the command line, so a name that matches none is a
     * mistake worth reporting now rather than a bitmap silently left out.
     */
    if (!blk_by_name(na->node_name)) {
        error_setg(errp, "Cannot find device=%s nor node-name=%s",
                   na->node_name, na->node_name);
        return false;
    }
    what = g_strdup_printf("block-bitmap-mapping[%u].bitmaps", i);
    bitmaps = json_object_get_array_member(o, "bitmaps");
    for (guint j = 0; j < json_array_get_length(bitmaps); j++) {
        if (!mapping_parse_bitmap(na, bitmaps, j, what, errp)) {
            return false;
        }
    }
    return true;
}

BitmapMigMapping *dirty_bitmap_mig_mapping_parse(JsonNode *value,
                                                 Error **errp)
{
    g_autoptr(BitmapMigMapping) m = g_new0(BitmapMigMapping, 1);
    JsonArray *arr;

    g_atomic_ref_count_init(&m->ref);
    m->nodes = g_ptr_array_new_with_free_func(node_alias_free);
    m->value = json_node_copy(value);
    if (!JSON_NODE_HOLDS_ARRAY(value)) {
        error_setg(errp, "Invalid parameter type for 'block-bitmap-mapping', "
                   "expected: array");
        return NULL;
    }
    arr = json_node_get_array(value);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        if (!mapping_parse_node(m, arr, i, errp)) {
            return NULL;
        }
    }
    return g_steal_pointer(&m);
}

/* ---- source -------------------------------------------------------------- */

/* One bitmap being sent; fixed at setup. */
typedef struct SaveBitmap {
    BlockBackend *blk;
    BdrvDirtyBitmap *bitmap;    /* busy while listed here */
    char *name;             /* here */
    char *node_alias;       /* on the wire */
    char *bitmap_alias;     /* on the wire */
    uint32_t granularity;
    uint64_t size;          /* bytes of disk covered */
    uint8_t start_flags;    /* DBM_START_* as sent in START */
    bool enabled;           /* at setup: must not change before complete */
} SaveBitmap;

/* Source state: between save_setup and save_cleanup; migration thread. */
typedef struct DBMSaveState {
    GPtrArray *bitmaps;             /* SaveBitmap */
    BlockBackend *prev_blk;         /* of the previous record's header */
    const SaveBitmap *prev_bitmap;
} DBMSaveState;

/* Destination: one bitmap this migration created. */
typedef struct LoadBitmap {
    BlockBackend *blk;
    BdrvDirtyBitmap *bitmap;
    char *name;
    bool enable;            /* START said enabled: enable when loaded */
    bool complete;          /* COMPLETE arrived */
} LoadBitmap;

/* Destination state: load_setup to load_cleanup; incoming thread. */
typedef struct DBMLoadState {
    BitmapMigMapping *mapping;      /* NULL: names map to themselves */
    const NodeAlias *node;          /* mapping entry of the current node */
    BlockBackend *blk;              /* the current record's drive... */
    char node_alias[256];
    bool have_bitmap;               /* ...and bitmap, once named */
    char bitmap_alias[256];
    char bitmap_name[DBM_MAX_BITMAP_NAME + 1];
    const BitmapAlias *bmap;        /* mapping entry of the bitmap */
    GPtrArray *bitmaps;             /* LoadBitmap */
} DBMLoadState;

typedef struct DBMState {
    DBMSaveState save;
    DBMLoadState load;
} DBMState;

static DBMState dbm_state;

static void save_bitmap_free(gpointer p)
{
    SaveBitmap *sb = p;

    g_free(sb->name);
    g_free(sb->node_alias);
    g_free(sb->bitmap_alias);
    g_free(sb);
}

static void load_bitmap_free(gpointer p)
{
    LoadBitmap *lb = p;

    g_free(lb->name);
    g_free(lb);
}

static void put_flags(QEMUFile *f, uint32_t flags)
{
    /* Every flag we send fits the one-byte form. */
    assert(!(flags & ~DBM_FLAGS_KNOWN));
    qemu_put_byte(f, flags);
}

static void send_header(QEMUFile *f, DBMSaveState *s, const SaveBitmap *sb,
                        uint32_t flags)
{
    if (sb->blk != s->prev_blk) {
        flags |= DBM_FLAG_DEVICE_NAME;
        s->prev_blk = sb->blk;
    }
    if (sb != s->prev_bitmap) {
        flags |= DBM_FLAG_BITMAP_NAME;
        s->prev_bitmap = sb;
    }
    put_flags(f, flags);
    if (flags & DBM_FLAG_DEVICE_NAME) {
        qemu_put_counted_string(f, sb->node_alias);
    }
    if (flags & DBM_FLAG_BITMAP_NAME) {
        qemu_put_counted_string(f, sb->bitmap_alias);
    }
}

/* Start of a section's payload: name everything again. */
static void send_reset(DBMSaveState *s)
{
    s->prev_blk = NULL;
    s->prev_bitmap = NULL;
}

/*
 * Add the bitmaps of @blk to the list, as @mapping says.  BQL held (the
 * bitmap list and the pointers in it stay valid while we look).
 */
static bool save_add_drive(DBMSaveState *s, BlockBackend *blk,
                           const BitmapMigMapping *mapping, Error **errp)
{
    g_autoptr(GPtrArray) list = bdrv_dirty_bitmap_list(blk);
    const char *drive = blk_name(blk);
    const NodeAlias *na = NULL;

    if (!list->len) {
        return true;
    }
    if (!drive || !*drive) {
        error_setg(errp, "Bitmap '%s' in unnamed node can't be migrated",
                   bdrv_dirty_bitmap_name(g_ptr_array_index(list, 0)));
        return false;
    }
    if (mapping) {
        na = mapping_node(mapping, drive, false);
        if (!na) {
            return true;    /* QEMU: bitmaps of unmapped nodes stay */
        }
    } else if (strlen(drive) > DBM_MAX_ALIAS) {
        error_setg(errp, "Cannot migrate bitmaps on node '%s': Name is "
                   "longer than %d bytes", drive, DBM_MAX_ALIAS);
        return false;
    }
    for (guint i = 0; i < list->len; i++) {
        BdrvDirtyBitmap *bm = g_ptr_array_index(list, i);
        const char *name = bdrv_dirty_bitmap_name(bm);
        const BitmapAlias *ba = na ? mapping_bitmap(na, name, false) : NULL;
        bool persistent = bdrv_dirty_bitmap_persistent(bm);
        SaveBitmap *sb;

        if (na && !ba) {
            continue;       /* QEMU: unmapped bitmaps stay */
        }
        if (!bdrv_dirty_bitmap_check_not_busy(bm, errp)) {
            return false;
        }
        if (!ba && strlen(name) > DBM_MAX_ALIAS) {
            error_setg(errp, "Cannot migrate bitmap '%s' on node '%s': Name "
                       "is longer than %d bytes", name, drive, DBM_MAX_ALIAS);
            return false;
        }
        if (ba && ba->persistent >= 0) {
            persistent = ba->persistent;
        }
        sb = g_new0(SaveBitmap, 1);
        sb->blk = blk;
        sb->bitmap = bm;
        bdrv_dirty_bitmap_set_busy(bm, true);
        sb->name = g_strdup(name);
        sb->node_alias = g_strdup(na ? na->alias : drive);
        sb->bitmap_alias = g_strdup(ba ? ba->alias : name);
        sb->granularity = bdrv_dirty_bitmap_granularity(bm);
        sb->size = bdrv_dirty_bitmap_size(bm);
        sb->enabled = bdrv_dirty_bitmap_enabled(bm);
        sb->start_flags = (sb->enabled ? DBM_START_ENABLED : 0) |
                          (persistent ? DBM_START_PERSISTENT : 0);
        g_ptr_array_add(s->bitmaps, sb);
    }
    return true;
}

static bool save_collect(DBMSaveState *s, Error **errp)
{
    g_autoptr(BitmapMigMapping) mapping = mapping_get();
    bool ok = true;

    bql_lock();
    for (BlockBackend *blk = blk_next(NULL); ok && blk; blk = blk_next(blk)) {
        ok = save_add_drive(s, blk, mapping, errp);
    }
    bql_unlock();
    return ok;
}

static bool dirty_bitmap_save_setup(QEMUFile *f, void *opaque, Error **errp)
{
    DBMSaveState *s = &((DBMState *)opaque)->save;

    g_clear_pointer(&s->bitmaps, g_ptr_array_unref);
    s->bitmaps = g_ptr_array_new_with_free_func(save_bitmap_free);
    if (!save_collect(s, errp)) {
        error_prepend(errp, "Failed to initialize dirty tracking bitmap for "
                      "blocks: ");
        return false;
    }
    send_reset(s);
    for (guint i = 0; i < s->bitmaps->len; i++) {
        const SaveBitmap *sb = g_ptr_array_index(s->bitmaps, i);

        send_header(f, s, sb, DBM_FLAG_START);
        qemu_put_be32(f, sb->granularity);
        qemu_put_byte(f, sb->start_flags);
        trace_dirty_bitmap_save_start(sb->node_alias, sb->bitmap_alias,
                                      sb->granularity, sb->start_flags);
    }
    put_flags(f, DBM_FLAG_EOS);
    return qemu_file_get_error_obj(f, errp) == 0;
}

/*
 * Disk bytes per BITS record: QEMU's 1 KiB of bitmap, but fewer granules
 * when the sector count would not fit its be32 field (granularities of
 * 256 MiB and more), and always whole 64-bit words.
 */
static uint64_t save_chunk_bytes(uint32_t granularity)
{
    uint64_t bits = DBM_CHUNK_BYTES * 8;
    uint64_t max_bits = ((uint64_t)UINT32_MAX << DBM_SECTOR_BITS) /
                        granularity;

    bits = MIN(bits, QEMU_ALIGN_DOWN(max_bits, 64));
    return bits * granularity;
}

static bool buf_is_zero(const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i]) {
            return false;
        }
    }
    return true;
}

static void send_bits(QEMUFile *f, DBMSaveState *s, const SaveBitmap *sb,
                      BdrvDirtyBitmap *bm, uint64_t offset, uint64_t bytes)
{
    uint64_t needed = bdrv_dirty_bitmap_serialization_size(bm, offset,
                                                           bytes);
    uint64_t buf_size = QEMU_ALIGN_UP(needed, DBM_BUF_ALIGN);
    g_autofree uint8_t *buf = g_malloc0(buf_size);
    uint32_t flags = DBM_FLAG_BITS;

    bdrv_dirty_bitmap_serialize_part(bm, buf, offset, bytes);
    if (buf_is_zero(buf, buf_size)) {
        flags |= DBM_FLAG_ZEROES;
    }
    send_header(f, s, sb, flags);
    qemu_put_be64(f, offset >> DBM_SECTOR_BITS);
    qemu_put_be32(f, DIV_ROUND_UP(bytes, 1 << DBM_SECTOR_BITS));
    if (!(flags & DBM_FLAG_ZEROES)) {
        qemu_put_be64(f, buf_size);
        qemu_put_buffer(f, buf, buf_size);
    }
}

/*
 * The bitmap of @sb, checked against what START said.  Busy makes QMP
 * refuse to remove or toggle it, so this only catches a bug; but a
 * wrong bitmap on the destination would go unnoticed, so check.  BQL.
 */
static BdrvDirtyBitmap *save_lookup(const SaveBitmap *sb, Error **errp)
{
    BdrvDirtyBitmap *bm = bdrv_find_dirty_bitmap(sb->blk, sb->name);

    if (bm != sb->bitmap) {
        error_setg(errp, "Bitmap '%s' on node '%s' was removed or replaced "
                   "during migration", sb->name, blk_name(sb->blk));
        return NULL;
    }
    if (bdrv_dirty_bitmap_enabled(bm) != sb->enabled) {
        error_setg(errp, "Bitmap '%s' on node '%s' was %s during migration",
                   sb->name, blk_name(sb->blk),
                   sb->enabled ? "disabled" : "enabled");
        return NULL;
    }
    return bm;
}

/* Migration thread, VM stopped, BQL held. */
static bool dirty_bitmap_save_complete(QEMUFile *f, void *opaque,
                                       Error **errp)
{
    DBMSaveState *s = &((DBMState *)opaque)->save;
    guint n = s->bitmaps ? s->bitmaps->len : 0;
    g_autofree BdrvDirtyBitmap **bms = g_new0(BdrvDirtyBitmap *, n + 1);

    assert(bql_locked());
    for (guint i = 0; i < n; i++) {
        bms[i] = save_lookup(g_ptr_array_index(s->bitmaps, i), errp);
        if (!bms[i]) {
            return false;
        }
    }
    send_reset(s);
    for (guint i = 0; i < n; i++) {
        const SaveBitmap *sb = g_ptr_array_index(s->bitmaps, i);
        uint64_t chunk = save_chunk_bytes(sb->granularity);

        for (uint64_t off = 0; off < sb->size; off += chunk) {
            send_bits(f, s, sb, bms[i], off, MIN(chunk, sb->size - off));
        }
        trace_dirty_bitmap_save_bits(sb->node_alias, sb->bitmap_alias,
                                     bdrv_get_dirty_count(bms[i]));
    }
    for (guint i = 0; i < n; i++) {
        send_header(f, s, g_ptr_array_index(s->bitmaps, i),
                    DBM_FLAG_COMPLETE);
    }
    put_flags(f, DBM_FLAG_EOS);
    return qemu_file_get_error_obj(f, errp) == 0;
}

/* What the complete phase will send: the serialised bits and headers. */
static void dirty_bitmap_state_pending(void *opaque, uint64_t *must_precopy,
                                       uint64_t *can_postcopy)
{
    DBMSaveState *s = &((DBMState *)opaque)->save;

    for (guint i = 0; s->bitmaps && i < s->bitmaps->len; i++) {
        const SaveBitmap *sb = g_ptr_array_index(s->bitmaps, i);
        uint64_t bits = DIV_ROUND_UP(sb->size, sb->granularity);
        uint64_t records = DIV_ROUND_UP(sb->size,
                                        save_chunk_bytes(sb->granularity));

        *must_precopy += DIV_ROUND_UP(bits, 8) + records * 32;
    }
}

/* Take the BQL unless the caller holds it; returns whether we took it. */
static bool dbm_bql_lock(void)
{
    if (bql_locked()) {
        return false;
    }
    bql_lock();
    return true;
}

static void dirty_bitmap_save_cleanup(void *opaque)
{
    DBMSaveState *s = &((DBMState *)opaque)->save;
    bool took;

    if (!s->bitmaps) {
        return;
    }
    took = dbm_bql_lock();
    for (guint i = 0; i < s->bitmaps->len; i++) {
        SaveBitmap *sb = g_ptr_array_index(s->bitmaps, i);

        bdrv_dirty_bitmap_set_busy(sb->bitmap, false);
    }
    if (took) {
        bql_unlock();
    }
    g_clear_pointer(&s->bitmaps, g_ptr_array_unref);
    send_reset(s);
}

static bool dirty_bitmap_is_active(void *opaque)
{
    return migrate_dirty_bitmaps();
}

/* ---- destination ------------------------------------------------------- */

static bool dirty_bitmap_load_setup(QEMUFile *f, void *opaque, Error **errp)
{
    DBMLoadState *s = &((DBMState *)opaque)->load;

    g_clear_pointer(&s->bitmaps, g_ptr_array_unref);
    dirty_bitmap_mig_mapping_unref(s->mapping);
    memset(s, 0, sizeof(*s));
    s->mapping = mapping_get();
    s->bitmaps = g_ptr_array_new_with_free_func(load_bitmap_free);
    return true;
}

/*
 * A record's flags in the 1-, 2- or 4-byte form, the extension markers
 * taken out; any other bit beyond DBM_FLAGS_KNOWN is refused.
 */
static bool load_flags(QEMUFile *f, uint32_t *flags, Error **errp)
{
    uint32_t v = qemu_get_byte(f);
    uint32_t markers = 0;
    int bytes = 1;

    if (v & DBM_FLAG_EXTRA) {
        v = v << 8 | qemu_get_byte(f);
        markers = DBM_FLAGS_MARKERS_2;
        bytes = 2;
        if (v & DBM_FLAG_EXTRA) {
            v = v << 16 | qemu_get_be16(f);
            markers = DBM_FLAGS_MARKERS_4;
            bytes = 4;
        }
    }
    if (qemu_file_get_error_obj(f, errp)) {
        error_prepend(errp, "Unable to read dirty bitmap migration flags: ");
        return false;
    }
    if (v & ~(markers | DBM_FLAGS_KNOWN)) {
        error_setg(errp, "Unknown dirty bitmap migration flags 0x%x (in the "
                   "%d-byte flags 0x%x)", v & ~(markers | DBM_FLAGS_KNOWN),
                   bytes, v);
        return false;
    }
    *flags = v & DBM_FLAGS_KNOWN;
    return true;
}

/* Bitmap of the current record created by this migration, or NULL. */
static LoadBitmap *load_current(DBMLoadState *s)
{
    for (guint i = 0; s->have_bitmap && i < s->bitmaps->len; i++) {
        LoadBitmap *lb = g_ptr_array_index(s->bitmaps, i);

        if (lb->blk == s->blk && !strcmp(lb->name, s->bitmap_name)) {
            return lb;
        }
    }
    return NULL;
}

static bool load_device_name(QEMUFile *f, DBMLoadState *s, Error **errp)
{
    const char *drive = s->node_alias;

    qemu_get_counted_string(f, s->node_alias);
    if (qemu_file_get_error_obj(f, errp)) {
        error_prepend(errp, "Unable to read node alias string: ");
        return false;
    }
    s->blk = NULL;
    s->have_bitmap = false;
    if (s->mapping) {
        s->node = mapping_node(s->mapping, s->node_alias, true);
        if (!s->node) {
            error_setg(errp, "Unknown node alias '%s'", s->node_alias);
            return false;
        }
        drive = s->node->node_name;
    }
    s->blk = blk_by_name(drive);
    if (!s->blk) {
        error_setg(errp, "Cannot find device=%s nor node-name=%s", drive,
                   drive);
        return false;
    }
    return true;
}

static bool load_bitmap_name(QEMUFile *f, DBMLoadState *s, Error **errp)
{
    const char *name = s->bitmap_alias;

    qemu_get_counted_string(f, s->bitmap_alias);
    if (qemu_file_get_error_obj(f, errp)) {
        error_prepend(errp, "Unable to read bitmap alias string: ");
        return false;
    }
    s->bmap = NULL;
    if (s->mapping) {
        s->bmap = mapping_bitmap(s->node, s->bitmap_alias, true);
        if (!s->bmap) {
            error_setg(errp, "Unknown bitmap alias '%s' on node '%s' (alias "
                       "'%s')", s->bitmap_alias, s->node->node_name,
                       s->node_alias);
            return false;
        }
        name = s->bmap->name;
    }
    g_strlcpy(s->bitmap_name, name, sizeof(s->bitmap_name));
    s->have_bitmap = true;
    return true;
}

static bool load_start(QEMUFile *f, DBMLoadState *s, Error **errp)
{
    uint32_t granularity = qemu_get_be32(f);
    uint8_t flags = qemu_get_byte(f);
    bool persistent = flags & DBM_START_PERSISTENT;
    BdrvDirtyBitmap *bm;
    LoadBitmap *lb;

    if (qemu_file_get_error_obj(f, errp)) {
        return false;
    }
    if (flags & DBM_START_RESERVED) {
        error_setg(errp, "Unknown flags in migrated dirty bitmap header: %x",
                   flags);
        return false;
    }
    if (s->bitmaps->len >= DBM_LOAD_MAX_BITMAPS) {
        error_setg(errp, "Too many dirty bitmaps in the migration stream: "
                   "at most %d may be created", DBM_LOAD_MAX_BITMAPS);
        return false;
    }
    if (s->bmap && s->bmap->persistent >= 0) {
        persistent = s->bmap->persistent;
    }
    bql_lock();
    if (bdrv_find_dirty_bitmap(s->blk, s->bitmap_name)) {
        bql_unlock();
        error_setg(errp, "Bitmap with the same name ('%s') already exists "
                   "on destination", s->bitmap_name);
        return false;
    }
    bm = bdrv_create_dirty_bitmap(s->blk, granularity, s->bitmap_name, errp);
    if (bm) {
        /* Off until its bits are in: nothing else may mark it. */
        bdrv_dirty_bitmap_set_enabled(bm, false);
        bdrv_dirty_bitmap_set_persistent(bm, persistent);
        bdrv_dirty_bitmap_set_busy(bm, true);
    }
    bql_unlock();
    if (!bm) {
        error_prepend(errp, "Bitmap '%s' on '%s': ", s->bitmap_name,
                      blk_name(s->blk));
        return false;
    }
    lb = g_new0(LoadBitmap, 1);
    lb->blk = s->blk;
    lb->bitmap = bm;
    lb->name = g_strdup(s->bitmap_name);
    lb->enable = flags & DBM_START_ENABLED;
    g_ptr_array_add(s->bitmaps, lb);
    trace_dirty_bitmap_load_start(blk_name(s->blk), s->bitmap_name,
                                  granularity, flags);
    return true;
}

/* The bitmap the record is about: one we created that is still loading. */
static LoadBitmap *load_target(DBMLoadState *s, Error **errp)
{
    LoadBitmap *lb = load_current(s);

    if (!lb || lb->complete) {
        error_setg(errp, "unknown dirty bitmap '%s' for block device '%s'",
                   s->bitmap_name, blk_name(s->blk));
        return NULL;
    }
    return lb;
}

/* Is @lb still the bitmap of that name?  BQL held. */
static bool load_still_there(LoadBitmap *lb, Error **errp)
{
    if (bdrv_find_dirty_bitmap(lb->blk, lb->name) != lb->bitmap) {
        error_setg(errp, "Bitmap '%s' on '%s' was removed during migration",
                   lb->name, blk_name(lb->blk));
        return false;
    }
    return true;
}

/*
 * Check a BITS record's range against the bitmap: whole 64-granule words
 * from the start, ending at the disk's end rounded up to a sector.
 * Returns the byte count to apply (clipped to the disk), or 0.
 */
static uint64_t load_bits_range(LoadBitmap *lb, uint64_t sector,
                                uint32_t nr_sectors, Error **errp)
{
    uint64_t size = bdrv_dirty_bitmap_size(lb->bitmap);
    uint64_t granularity = bdrv_dirty_bitmap_granularity(lb->bitmap);
    uint64_t end_sector = DIV_ROUND_UP(size, 1 << DBM_SECTOR_BITS);
    uint64_t offset = sector << DBM_SECTOR_BITS;

    if (!nr_sectors || sector >= end_sector ||
        nr_sectors > end_sector - sector) {
        error_setg(errp, "Bitmap '%s' chunk of %u sectors at sector %" PRIu64
                   " is outside disk '%s' (%" PRIu64 " bytes)", lb->name,
                   nr_sectors, sector, blk_name(lb->blk), size);
        return 0;
    }
    if (offset % (granularity * 64)) {
        error_setg(errp, "Bitmap '%s' chunk at sector %" PRIu64 " is not "
                   "aligned to its granularity %" PRIu64, lb->name, sector,
                   granularity);
        return 0;
    }
    return MIN((uint64_t)nr_sectors << DBM_SECTOR_BITS, size - offset);
}

static bool load_bits_apply(LoadBitmap *lb, uint64_t offset, uint64_t bytes,
                            const uint8_t *buf, Error **errp)
{
    bool ok;

    bql_lock();
    ok = load_still_there(lb, errp);
    if (ok && buf) {
        bdrv_dirty_bitmap_deserialize_part(lb->bitmap, buf, offset, bytes);
    } else if (ok) {
        bdrv_reset_dirty_bitmap(lb->bitmap, offset, bytes);
    }
    bql_unlock();
    return ok;
}

static bool load_bits(QEMUFile *f, DBMLoadState *s, uint32_t flags,
                      Error **errp)
{
    uint64_t sector = qemu_get_be64(f);
    uint32_t nr_sectors = qemu_get_be32(f);
    g_autofree uint8_t *buf = NULL;
    uint64_t buf_size = 0, needed, bytes;
    LoadBitmap *lb;

    if (!(flags & DBM_FLAG_ZEROES)) {
        buf_size = qemu_get_be64(f);
        if (buf_size > DBM_MAX_BUF) {
            error_setg(errp, "Bitmap migration stream buffer allocation "
                       "request is too large (%" PRIu64 " bytes)", buf_size);
            return false;
        }
        buf = g_malloc(MAX(buf_size, 1));
        qemu_get_buffer(f, buf, buf_size);
    }
    if (qemu_file_get_error_obj(f, errp)) {
        error_prepend(errp, "Failed to read bitmap bits: ");
        return false;
    }
    lb = load_target(s, errp);
    bytes = lb ? load_bits_range(lb, sector, nr_sectors, errp) : 0;
    if (!bytes) {
        return false;
    }
    needed = bdrv_dirty_bitmap_serialization_size(lb->bitmap,
                                                  sector << DBM_SECTOR_BITS,
                                                  bytes);
    if (buf && (buf_size < needed ||
                buf_size > QEMU_ALIGN_UP(needed, DBM_BUF_ALIGN))) {
        error_setg(errp, "Migrated bitmap granularity doesn't match the "
                   "destination bitmap '%s' granularity", lb->name);
        return false;
    }
    return load_bits_apply(lb, sector << DBM_SECTOR_BITS, bytes, buf, errp);
}

static bool load_complete(DBMLoadState *s, Error **errp)
{
    LoadBitmap *lb = load_target(s, errp);

    if (!lb) {
        return false;
    }
    lb->complete = true;
    trace_dirty_bitmap_load_complete(blk_name(lb->blk), lb->name);
    return true;
}

/* The names in a record's header, then what the record is about. */
static bool load_header(QEMUFile *f, DBMLoadState *s, uint32_t flags,
                        Error **errp)
{
    bool needs_bitmap = flags & (DBM_FLAG_START | DBM_FLAG_COMPLETE |
                                 DBM_FLAG_BITS);

    if ((flags & DBM_FLAG_DEVICE_NAME) && !load_device_name(f, s, errp)) {
        return false;
    }
    if ((flags & DBM_FLAG_BITMAP_NAME) && !load_bitmap_name(f, s, errp)) {
        return false;
    }
    if (needs_bitmap && !s->blk) {
        error_setg(errp, "Error: block device name is not set");
        return false;
    }
    if (needs_bitmap && !s->have_bitmap) {
        error_setg(errp, "Error: bitmap name is not set");
        return false;
    }
    return true;
}

static bool dirty_bitmap_load_state(QEMUFile *f, void *opaque,
                                    int version_id, Error **errp)
{
    DBMLoadState *s = &((DBMState *)opaque)->load;
    uint32_t flags;

    if (version_id != DBM_SECTION_VERSION) {
        error_setg(errp, "unsupported dirty-bitmap section version %d",
                   version_id);
        return false;
    }
    do {
        bool ok;

        if (!load_flags(f, &flags, errp)) {
            return false;
        }
        trace_dirty_bitmap_load_record(flags);
        ok = load_header(f, s, flags, errp);
        if (ok && (flags & DBM_FLAG_START)) {
            ok = load_start(f, s, errp);
        } else if (ok && (flags & DBM_FLAG_COMPLETE)) {
            ok = load_complete(s, errp);
        } else if (ok && (flags & DBM_FLAG_BITS)) {
            ok = load_bits(f, s, flags, errp);
        }
        if (!ok) {
            return false;
        }
    } while (!(flags & DBM_FLAG_EOS));
    return true;
}

/*
 * After the whole stream (or a failure): bitmaps that got all their
 * bits start recording if they did on the source; the others go away.
 */
static void dirty_bitmap_load_cleanup(void *opaque)
{
    DBMLoadState *s = &((DBMState *)opaque)->load;

    bql_lock();
    for (guint i = 0; s->bitmaps && i < s->bitmaps->len; i++) {
        LoadBitmap *lb = g_ptr_array_index(s->bitmaps, i);

        if (!load_still_there(lb, NULL)) {
            continue;
        }
        bdrv_dirty_bitmap_set_busy(lb->bitmap, false);
        if (lb->complete) {
            bdrv_dirty_bitmap_set_enabled(lb->bitmap, lb->enable);
        } else {
            bdrv_release_dirty_bitmap(lb->bitmap);
        }
    }
    bql_unlock();
    g_clear_pointer(&s->bitmaps, g_ptr_array_unref);
    g_clear_pointer(&s->mapping, dirty_bitmap_mig_mapping_unref);
}

static const SaveVMHandlers dirty_bitmap_handlers = {
    .save_setup = dirty_bitmap_save_setup,
    .save_live_complete_precopy = dirty_bitmap_save_complete,
    .state_pending_estimate = dirty_bitmap_state_pending,
    .state_pending_exact = dirty_bitmap_state_pending,
    .save_cleanup = dirty_bitmap_save_cleanup,
    .is_active = dirty_bitmap_is_active,
    .load_setup = dirty_bitmap_load_setup,
    .load_state = dirty_bitmap_load_state,
    .load_cleanup = dirty_bitmap_load_cleanup,
};

void dirty_bitmap_mig_init(void)
{
    register_savevm_live("dirty-bitmap", 0, DBM_SECTION_VERSION,
                         &dirty_bitmap_handlers, &dbm_state);
}
