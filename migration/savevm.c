/*
 * Stream framing and the list of migration participants.
 *
 * The source writes, in order: header (magic, version), configuration
 * (machine type), SECTION_START of each live section, SECTION_PARTs while
 * iterating, then with the VM stopped the SECTION_ENDs, one SECTION_FULL
 * per device, EOF and the vmdesc JSON.  Every section ends with a footer
 * the reader checks.  The destination reads it back and trusts nothing:
 * every id, name, version and length is checked before use.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <json-glib/json-glib.h>
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "qemu/uuid.h"
#include "hw/boards.h"
#include "migration/register.h"
#include "migration/vmstate.h"
#include "qemu-file.h"
#include "savevm.h"
#include "options.h"
#include "return-path.h"
#include "postcopy-ram.h"
#include "postcopy-recover.h"
#include "io/channel-buffer.h"
#include "system/system.h"
#include "trace.h"

/* Bounds on what a hostile stream may make us allocate or skip. */
#define MAX_VMDESC_LEN  (64 * MiB)

typedef struct SaveStateEntry {
    char idstr[256];
    uint32_t instance_id;
    uint32_t section_id;
    int version_id;
    const SaveVMHandlers *ops;          /* live sections */
    const VMStateDescription *vmsd;     /* device state */
    void *opaque;
} SaveStateEntry;

/*
 * The participants, in registration order (which is the stream's order).
 * Changed only at machine creation under the BQL, before any migration;
 * read-only while a migration thread runs.
 */
static GPtrArray *savevm_handlers;
static uint32_t next_section_id;
/*
 * Source, migration thread: past the switch to postcopy, only sections
 * with a postcopy path (save_postcopy_prepare) iterate and complete.
 */
static bool savevm_in_postcopy;
/*
 * The device description of the last precopy completion, kept past it:
 * freeing its tree is not needed before the destination can run, so
 * qemu_savevm_state_cleanup() does it, after the downtime.  Migration
 * thread.
 */
static JsonBuilder *savevm_vmdesc_sent;

static GPtrArray *savevm_list(void)
{
    if (!savevm_handlers) {
        savevm_handlers = g_ptr_array_new_with_free_func(g_free);
    }
    return savevm_handlers;
}

/*
 * The entry named by @len bytes at @name: compared as counted bytes, as
 * the stream carries it (a name read from the stream is refused if it
 * holds a NUL before it gets here, see loadvm_section_start()).
 */
static SaveStateEntry *savevm_find_counted(const char *name, size_t len,
                                          uint32_t instance_id)
{
    GPtrArray *list = savevm_list();

    for (guint i = 0; i < list->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(list, i);

        if (strlen(se->idstr) == len && !memcmp(se->idstr, name, len) &&
            se->instance_id == instance_id) {
            return se;
        }
    }
    return NULL;
}

static SaveStateEntry *savevm_find(const char *idstr, uint32_t instance_id)
{
    return savevm_find_counted(idstr, strlen(idstr), instance_id);
}

static SaveStateEntry *savevm_add(const char *idstr, uint32_t instance_id,
                                  int version_id)
{
    SaveStateEntry *se;

    if (strlen(idstr) > 255 || savevm_find(idstr, instance_id)) {
        return NULL;
    }
    se = g_new0(SaveStateEntry, 1);
    g_strlcpy(se->idstr, idstr, sizeof(se->idstr));
    se->instance_id = instance_id;
    se->version_id = version_id;
    se->section_id = next_section_id++;
    g_ptr_array_add(savevm_list(), se);
    return se;
}

int register_savevm_live(const char *idstr, uint32_t instance_id,
                         int version_id, const SaveVMHandlers *ops,
                         void *opaque)
{
    SaveStateEntry *se = savevm_add(idstr, instance_id, version_id);

    if (!se) {
        return -1;
    }
    se->ops = ops;
    se->opaque = opaque;
    return se->section_id;
}

int vmstate_register(uint32_t instance_id, const VMStateDescription *vmsd,
                     void *opaque)
{
    SaveStateEntry *se = savevm_add(vmsd->name, instance_id,
                                    vmsd->version_id);

    if (!se) {
        return -1;
    }
    se->vmsd = vmsd;
    se->opaque = opaque;
    return se->section_id;
}

void vmstate_unregister(const VMStateDescription *vmsd, void *opaque)
{
    GPtrArray *list = savevm_list();

    for (guint i = 0; i < list->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(list, i);

        if (se->vmsd == vmsd && se->opaque == opaque) {
            g_ptr_array_remove_index(list, i);
            return;
        }
    }
}

static bool se_is_live(SaveStateEntry *se)
{
    return se->ops && (!se->ops->is_active || se->ops->is_active(se->opaque));
}

static bool se_has_postcopy(SaveStateEntry *se)
{
    return se->ops->save_postcopy_prepare != NULL;
}

/* ---- source ---- */

static void save_section_header(QEMUFile *f, SaveStateEntry *se,
                                uint8_t type)
{
    qemu_put_byte(f, type);
    qemu_put_be32(f, se->section_id);
    if (type == QEMU_VM_SECTION_START || type == QEMU_VM_SECTION_FULL) {
        qemu_put_counted_string(f, se->idstr);
        qemu_put_be32(f, se->instance_id);
        qemu_put_be32(f, se->version_id);
    }
    trace_savevm_section_start(se->idstr, se->section_id, type);
}

static void save_section_footer(QEMUFile *f, SaveStateEntry *se)
{
    qemu_put_byte(f, QEMU_VM_SECTION_FOOTER);
    qemu_put_be32(f, se->section_id);
}

/*
 * The configuration section is QEMU's "configuration" vmstate: the
 * machine type (written by hand, below) and then its subsections.  Of
 * QEMU's subsections only "configuration/uuid" applies to qmig: with the
 * validate-uuid capability and a -uuid, the source sends its UUID, and a
 * destination with a -uuid refuses a stream from another VM.  With
 * mapped-ram on, "configuration/capabilities" lists it (as QEMU does for
 * the capabilities that change the stream's format), and the destination
 * refuses a stream whose list differs from its own setting either way:
 * a mapped-ram file read as a plain stream, or the reverse, would be
 * misparsed.  (QEMU's target-page-bits subsection is never needed on
 * x86, so it never appears.)
 */
typedef struct SaveConfig {
    uint8_t uuid[UUID_LEN];
    uint32_t caps_count;
    uint32_t caps[MIGRATION_CAPABILITY__MAX];
} SaveConfig;

/* The capabilities source and destination must agree on. */
static const MigrationCapability config_checked_caps[] = {
    MIGRATION_CAPABILITY_MAPPED_RAM,
};

static bool config_uuid_needed(void *opaque)
{
    return qemu_uuid_set && migrate_validate_uuid();
}

static bool config_uuid_pre_save(void *opaque, Error **errp)
{
    SaveConfig *c = opaque;

    memcpy(c->uuid, qemu_uuid, UUID_LEN);
    return true;
}

static bool config_uuid_post_load(void *opaque, int version_id,
                                  Error **errp)
{
    SaveConfig *c = opaque;
    char src[UUID_STR_LEN], local[UUID_STR_LEN];

    qemu_uuid_unparse(c->uuid, src);
    trace_loadvm_config_uuid(src, qemu_uuid_set);
    if (!qemu_uuid_set) {
        /* As QEMU: a destination without -uuid cannot tell; it loads. */
        warn_report("UUID is received %s, but local uuid isn't set", src);
        return true;
    }
    if (memcmp(c->uuid, qemu_uuid, UUID_LEN)) {
        qemu_uuid_unparse(qemu_uuid, local);
        error_setg(errp, "UUID received is %s and local is %s", src, local);
        return false;
    }
    return true;
}

static bool config_caps_needed(void *opaque)
{
    for (size_t i = 0; i < G_N_ELEMENTS(config_checked_caps); i++) {
        if (migrate_capability(config_checked_caps[i])) {
            return true;
        }
    }
    return false;
}

static bool config_caps_pre_save(void *opaque, Error **errp)
{
    SaveConfig *c = opaque;

    c->caps_count = 0;
    for (size_t i = 0; i < G_N_ELEMENTS(config_checked_caps); i++) {
        if (migrate_capability(config_checked_caps[i])) {
            c->caps[c->caps_count++] = config_checked_caps[i];
        }
    }
    return true;
}

static bool config_caps_pre_load(void *opaque, Error **errp)
{
    SaveConfig *c = opaque;

    c->caps_count = 0;
    return true;
}

/* A capability: its name as a u8-counted string (QEMU's "capability"). */
static bool config_cap_put(QEMUFile *f, void *pv, size_t size,
                           const VMStateField *field, Error **errp)
{
    qemu_put_counted_string(f, migration_capability_name(*(uint32_t *)pv));
    return true;
}

static bool config_cap_get(QEMUFile *f, void *pv, size_t size,
                           const VMStateField *field, Error **errp)
{
    char name[256];
    int cap;

    qemu_get_counted_string(f, name);
    if (qemu_file_get_error(f)) {
        return true;    /* the caller reports the stream's error */
    }
    cap = migration_capability_lookup(name);
    if (cap < 0) {
        error_setg(errp, "Received unknown capability '%s'", name);
        return false;
    }
    *(uint32_t *)pv = cap;
    return true;
}

static const VMStateInfo vmstate_info_config_cap = {
    .name = "capability",
    .get = config_cap_get,
    .put = config_cap_put,
};

static const VMStateDescription vmstate_config_caps = {
    .name = "configuration/capabilities",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = config_caps_needed,
    .pre_save = config_caps_pre_save,
    .pre_load = config_caps_pre_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(caps_count, SaveConfig),
        VMSTATE_VARRAY_UINT32(caps, SaveConfig, caps_count, 1,
                              vmstate_info_config_cap, uint32_t),
        VMSTATE_END_OF_LIST()
    },
};

/* After the configuration: the checked capabilities match ours. */
static bool config_caps_check(const SaveConfig *c, Error **errp)
{
    for (size_t i = 0; i < G_N_ELEMENTS(config_checked_caps); i++) {
        MigrationCapability cap = config_checked_caps[i];
        bool theirs = false;

        for (uint32_t j = 0; j < c->caps_count; j++) {
            theirs |= c->caps[j] == cap;
        }
        if (theirs != migrate_capability(cap)) {
            error_setg(errp, "Capability %s is %s here, but the stream was "
                       "saved with it %s", migration_capability_name(cap),
                       theirs ? "off" : "on", theirs ? "on" : "off");
            return false;
        }
    }
    return true;
}

static const VMStateDescription vmstate_config_uuid = {
    .name = "configuration/uuid",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = config_uuid_needed,
    .pre_save = config_uuid_pre_save,
    .post_load = config_uuid_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT8_ARRAY(uuid, SaveConfig, UUID_LEN),
        VMSTATE_END_OF_LIST()
    },
};

/* Only the subsections: the machine type field is handled by hand. */
static const VMStateDescription vmstate_config = {
    .name = "configuration",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * const []) {
        &vmstate_config_uuid,
        &vmstate_config_caps,
        NULL
    },
};

void qemu_savevm_state_header(QEMUFile *f)
{
    const char *machine = machine_type_name();
    SaveConfig config = { { 0 } };
    Error *err = NULL;

    qemu_put_be32(f, QEMU_VM_FILE_MAGIC);
    qemu_put_be32(f, QEMU_VM_FILE_VERSION);
    /* QEMU's "configuration" vmstate: be32 length + machine type. */
    qemu_put_byte(f, QEMU_VM_CONFIGURATION);
    qemu_put_be32(f, strlen(machine));
    qemu_put_buffer(f, (const uint8_t *)machine, strlen(machine));
    /* Fails only with @f's error, which the caller's next check sees. */
    if (!vmstate_save_state(f, &vmstate_config, &config, NULL, &err)) {
        error_free(err);
    }
}

bool qemu_savevm_state_prepare(Error **errp)
{
    GPtrArray *list = savevm_list();

    for (guint i = 0; i < list->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(list, i);

        if (se->ops && se->ops->save_prepare &&
            !se->ops->save_prepare(se->opaque, errp)) {
            return false;
        }
    }
    return true;
}

bool qemu_savevm_state_setup(QEMUFile *f, Error **errp)
{
    GPtrArray *list = savevm_list();

    for (guint i = 0; i < list->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(list, i);

        if (!se_is_live(se) || !se->ops->save_setup) {
            continue;
        }
        save_section_header(f, se, QEMU_VM_SECTION_START);
        if (!se->ops->save_setup(f, se->opaque, errp)) {
            error_prepend(errp, "%s setup: ", se->idstr);
            return false;
        }
        save_section_footer(f, se);
    }
    qemu_fflush(f);
    return qemu_file_get_error_obj(f, errp) == 0;
}

int qemu_savevm_state_iterate(QEMUFile *f)
{
    GPtrArray *list = savevm_list();
    int all_done = 1;

    for (guint i = 0; i < list->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(list, i);
        int ret;

        if (!se_is_live(se) || !se->ops->save_live_iterate ||
            (savevm_in_postcopy && !se_has_postcopy(se))) {
            continue;
        }
        if (!savevm_in_postcopy && qemu_file_rate_limit(f)) {
            return 0;
        }
        save_section_header(f, se, QEMU_VM_SECTION_PART);
        ret = se->ops->save_live_iterate(f, se->opaque);
        save_section_footer(f, se);
        if (ret < 0) {
            qemu_file_set_error(f, ret);
            return ret;
        }
        if (ret == 0) {
            all_done = 0;
        }
    }
    return qemu_file_get_error(f) ? -EIO : all_done;
}

static void savevm_pending(bool exact, uint64_t *must, uint64_t *can)
{
    GPtrArray *list = savevm_list();

    *must = *can = 0;
    for (guint i = 0; i < list->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(list, i);

        if (!se_is_live(se)) {
            continue;
        }
        if (exact && se->ops->state_pending_exact) {
            se->ops->state_pending_exact(se->opaque, must, can);
        } else if (se->ops->state_pending_estimate) {
            se->ops->state_pending_estimate(se->opaque, must, can);
        }
    }
}

void qemu_savevm_state_pending_estimate(uint64_t *must, uint64_t *can)
{
    savevm_pending(false, must, can);
}

void qemu_savevm_state_pending_exact(uint64_t *must, uint64_t *can)
{
    savevm_pending(true, must, can);
}

static bool savevm_complete_live(QEMUFile *f, Error **errp)
{
    GPtrArray *list = savevm_list();

    for (guint i = 0; i < list->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(list, i);

        if (!se_is_live(se) || !se->ops->save_live_complete_precopy ||
            (savevm_in_postcopy && se_has_postcopy(se))) {
            continue;
        }
        save_section_header(f, se, QEMU_VM_SECTION_END);
        if (!se->ops->save_live_complete_precopy(f, se->opaque, errp)) {
            error_prepend(errp, "%s: ", se->idstr);
            return false;
        }
        save_section_footer(f, se);
    }
    return true;
}

static bool savevm_save_devices(QEMUFile *f, JsonBuilder *vmdesc,
                                Error **errp)
{
    GPtrArray *list = savevm_list();

    for (guint i = 0; i < list->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(list, i);

        if (!se->vmsd) {
            continue;
        }
        save_section_header(f, se, QEMU_VM_SECTION_FULL);
        json_builder_begin_object(vmdesc);
        json_builder_set_member_name(vmdesc, "name");
        json_builder_add_string_value(vmdesc, se->idstr);
        json_builder_set_member_name(vmdesc, "instance_id");
        json_builder_add_int_value(vmdesc, se->instance_id);
        if (!vmstate_save_state(f, se->vmsd, se->opaque, vmdesc, errp)) {
            error_prepend(errp, "saving device '%s': ", se->idstr);
            return false;
        }
        json_builder_end_object(vmdesc);
        save_section_footer(f, se);
    }
    return true;
}

static void savevm_put_vmdesc(QEMUFile *f, JsonBuilder *vmdesc)
{
    g_autoptr(JsonNode) root = json_builder_get_root(vmdesc);
    g_autofree char *text = json_to_string(root, FALSE);
    size_t len = strlen(text);

    qemu_put_byte(f, QEMU_VM_VMDESCRIPTION);
    qemu_put_be32(f, len);
    qemu_put_buffer(f, (const uint8_t *)text, len);
}

bool qemu_savevm_state_complete_precopy(QEMUFile *f, Error **errp)
{
    g_autoptr(JsonBuilder) vmdesc = json_builder_new();

    assert(bql_locked());
    if (!savevm_complete_live(f, errp)) {
        return false;
    }
    json_builder_begin_object(vmdesc);
    json_builder_set_member_name(vmdesc, "page_size");
    json_builder_add_int_value(vmdesc, 4096);
    json_builder_set_member_name(vmdesc, "devices");
    json_builder_begin_array(vmdesc);
    if (!savevm_save_devices(f, vmdesc, errp)) {
        return false;
    }
    json_builder_end_array(vmdesc);
    json_builder_end_object(vmdesc);
    trace_savevm_complete_devices();
    /* With a return path: the destination's PONG says devices loaded. */
    migration_rp_send_end_ping(f);
    qemu_put_byte(f, QEMU_VM_EOF);
    savevm_put_vmdesc(f, vmdesc);
    qemu_fflush(f);
    trace_savevm_complete_flushed();
    g_clear_object(&savevm_vmdesc_sent);
    savevm_vmdesc_sent = g_steal_pointer(&vmdesc);
    return qemu_file_get_error_obj(f, errp) == 0;
}

/* ---- source: commands and the switch to postcopy ---- */

void qemu_savevm_send_command(QEMUFile *f, uint16_t cmd, uint16_t len,
                              const uint8_t *data)
{
    trace_savevm_send_command(cmd, len);
    qemu_put_byte(f, QEMU_VM_COMMAND);
    qemu_put_be16(f, cmd);
    qemu_put_be16(f, len);
    if (len) {
        qemu_put_buffer(f, data, len);
    }
}

void qemu_savevm_send_postcopy_advise(QEMUFile *f)
{
    uint8_t buf[16];
    uint64_t summary = postcopy_pagesize_summary();

    for (int i = 0; i < 8; i++) {
        buf[i] = summary >> (56 - 8 * i);
        buf[8 + i] = (uint64_t)TARGET_PAGE_SIZE >> (56 - 8 * i);
    }
    qemu_savevm_send_command(f, MIG_CMD_POSTCOPY_ADVISE, sizeof(buf), buf);
}

/* LISTEN, every device's FULL section, RUN: what PACKAGED carries. */
static bool savevm_build_package(QEMUFile *pf, Error **errp)
{
    g_autoptr(JsonBuilder) vmdesc = json_builder_new();

    qemu_savevm_send_command(pf, MIG_CMD_POSTCOPY_LISTEN, 0, NULL);
    json_builder_begin_array(vmdesc);   /* not sent: no vmdesc in postcopy */
    if (!savevm_save_devices(pf, vmdesc, errp)) {
        return false;
    }
    json_builder_end_array(vmdesc);
    qemu_savevm_send_command(pf, MIG_CMD_POSTCOPY_RUN, 0, NULL);
    qemu_fflush(pf);
    return qemu_file_get_error_obj(pf, errp) == 0;
}

static bool savevm_send_packaged(QEMUFile *f, Error **errp)
{
    QIOChannel *ioc = qio_channel_buffer_new(64 * KiB);
    QEMUFile *pf = qemu_file_new_output(ioc);
    g_autofree uint8_t *data = NULL;
    uint8_t len_be[4];
    size_t len;
    bool ok = savevm_build_package(pf, errp);

    if (ok) {
        data = qio_channel_buffer_dup_data(ioc, &len);
        if (len > POSTCOPY_PACKAGED_MAX) {
            error_setg(errp, "Unreasonably large packaged state: %zu", len);
            ok = false;
        }
    }
    qemu_fclose(pf);
    qio_channel_unref(ioc);
    if (!ok) {
        return false;
    }
    trace_savevm_send_packaged(len);
    for (int i = 0; i < 4; i++) {
        len_be[i] = len >> (24 - 8 * i);
    }
    qemu_savevm_send_command(f, MIG_CMD_PACKAGED, sizeof(len_be), len_be);
    qemu_put_buffer(f, data, len);
    return true;
}

bool qemu_savevm_state_postcopy_switch(QEMUFile *f, Error **errp)
{
    GPtrArray *list = savevm_list();

    assert(bql_locked());
    savevm_in_postcopy = true;
    /* What cannot go on in postcopy ends now (block, ...). */
    if (!savevm_complete_live(f, errp)) {
        return false;
    }
    for (guint i = 0; i < list->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(list, i);

        if (se_is_live(se) && se_has_postcopy(se) &&
            !se->ops->save_postcopy_prepare(f, se->opaque, errp)) {
            error_prepend(errp, "%s: ", se->idstr);
            return false;
        }
    }
    if (!savevm_send_packaged(f, errp)) {
        return false;
    }
    qemu_fflush(f);
    return qemu_file_get_error_obj(f, errp) == 0;
}

bool qemu_savevm_state_complete_postcopy(QEMUFile *f, Error **errp)
{
    GPtrArray *list = savevm_list();

    for (guint i = 0; i < list->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(list, i);

        if (!se_is_live(se) || !se_has_postcopy(se) ||
            !se->ops->save_live_complete_postcopy) {
            continue;
        }
        save_section_header(f, se, QEMU_VM_SECTION_END);
        if (!se->ops->save_live_complete_postcopy(f, se->opaque, errp)) {
            error_prepend(errp, "%s: ", se->idstr);
            return false;
        }
        save_section_footer(f, se);
    }
    migration_rp_send_end_ping(f);
    qemu_put_byte(f, QEMU_VM_EOF);
    qemu_fflush(f);
    return qemu_file_get_error_obj(f, errp) == 0;
}

void qemu_savevm_state_cleanup(void)
{
    GPtrArray *list = savevm_list();

    savevm_in_postcopy = false;
    g_clear_object(&savevm_vmdesc_sent);

    for (guint i = 0; i < list->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(list, i);

        if (se->ops && se->ops->save_cleanup) {
            se->ops->save_cleanup(se->opaque);
        }
    }
}

/* ---- destination ---- */

/*
 * Where a load loop reads, which decides what it accepts (stream.md,
 * "What may come where"):
 * - LOAD_MAIN: the main stream up to PACKAGED (precopy: all of it);
 * - LOAD_PACKAGE: inside PACKAGED, run by the incoming thread while the
 *   listen thread already reads the main stream: device state (FULL),
 *   LISTEN, PING, RUN.  No live section: its loader would be shared with
 *   the listen thread (RAM's load state is one per process);
 * - LOAD_POSTCOPY: the main stream after the package, in the listen
 *   thread, the guest running (or about to): PART/END of the sections
 *   with a postcopy path, PING, POSTCOPY_RESUME, RECV_BITMAP, EOF.
 *   Device state cannot be loaded under a running guest.
 */
typedef enum LoadPhase {
    LOAD_MAIN,
    LOAD_PACKAGE,
    LOAD_POSTCOPY,
} LoadPhase;

/* A section announced by START or FULL. */
typedef struct LoadSection {
    SaveStateEntry *se;
    int version;            /* the START's: PART and END follow it */
} LoadSection;

/* Section ids seen in START/FULL, so PART/END can name their entry. */
typedef struct LoadState {
    GHashTable *sections;   /* section id -> LoadSection (owned) */
} LoadState;

static void loadvm_state_init(LoadState *ls)
{
    ls->sections = g_hash_table_new_full(g_direct_hash, g_direct_equal,
                                         NULL, g_free);
}

static const char *loadvm_phase_rule(LoadPhase phase)
{
    switch (phase) {
    case LOAD_PACKAGE:
        return "in a postcopy package (it may hold only device state, "
               "CMD_POSTCOPY_LISTEN, CMD_PING and CMD_POSTCOPY_RUN)";
    case LOAD_POSTCOPY:
        return "after CMD_POSTCOPY_RUN (only the PART and END sections of "
               "live state with a postcopy path, CMD_PING, "
               "CMD_POSTCOPY_RESUME, CMD_RECV_BITMAP and EOF may follow "
               "the package)";
    default:
        return "in the main stream before a postcopy package "
               "(CMD_POSTCOPY_LISTEN and CMD_POSTCOPY_RUN come only in the "
               "package, CMD_POSTCOPY_RESUME and CMD_RECV_BITMAP only after "
               "it)";
    }
}

static const char *loadvm_type_name(uint8_t type)
{
    switch (type) {
    case QEMU_VM_SECTION_START:
        return "SECTION_START";
    case QEMU_VM_SECTION_PART:
        return "SECTION_PART";
    case QEMU_VM_SECTION_END:
        return "SECTION_END";
    case QEMU_VM_SECTION_FULL:
        return "SECTION_FULL";
    default:
        return "EOF";
    }
}

/* Whether a section of @type for @se may come in @phase. */
static bool loadvm_section_allowed(LoadPhase phase, uint8_t type,
                                   SaveStateEntry *se, Error **errp)
{
    bool ok;

    switch (phase) {
    case LOAD_PACKAGE:
        ok = type == QEMU_VM_SECTION_FULL;
        break;
    case LOAD_POSTCOPY:
        ok = (type == QEMU_VM_SECTION_PART || type == QEMU_VM_SECTION_END) &&
             se->ops && se_has_postcopy(se);
        break;
    default:
        ok = true;
    }
    if (!ok) {
        error_setg(errp, "section '%s' (%s) is not allowed %s", se->idstr,
                   loadvm_type_name(type), loadvm_phase_rule(phase));
    }
    return ok;
}

/* Whether this destination handles @cmd at all (somewhere). */
static bool loadvm_command_known(uint16_t cmd)
{
    switch (cmd) {
    case MIG_CMD_OPEN_RETURN_PATH:
    case MIG_CMD_PING:
    case MIG_CMD_POSTCOPY_ADVISE:
    case MIG_CMD_POSTCOPY_LISTEN:
    case MIG_CMD_POSTCOPY_RUN:
    case MIG_CMD_POSTCOPY_RAM_DISCARD:
    case MIG_CMD_PACKAGED:
    case MIG_CMD_POSTCOPY_RESUME:
    case MIG_CMD_RECV_BITMAP:
        return true;
    }
    return false;
}

/* Whether the known command @cmd may come in @phase. */
static bool loadvm_command_allowed(LoadPhase phase, uint16_t cmd,
                                   Error **errp)
{
    bool ok;

    switch (phase) {
    case LOAD_PACKAGE:
        /* QEMU's source sends a PING between the devices and RUN. */
        ok = cmd == MIG_CMD_POSTCOPY_LISTEN || cmd == MIG_CMD_PING ||
             cmd == MIG_CMD_POSTCOPY_RUN;
        break;
    case LOAD_POSTCOPY:
        ok = cmd == MIG_CMD_PING || cmd == MIG_CMD_POSTCOPY_RESUME ||
             cmd == MIG_CMD_RECV_BITMAP;
        break;
    default:
        ok = cmd != MIG_CMD_POSTCOPY_LISTEN && cmd != MIG_CMD_POSTCOPY_RUN &&
             cmd != MIG_CMD_POSTCOPY_RESUME && cmd != MIG_CMD_RECV_BITMAP;
    }
    if (!ok) {
        error_setg(errp, "migration command %u is not allowed %s", cmd,
                   loadvm_phase_rule(phase));
    }
    return ok;
}

/*
 * The main stream and its LoadState while qemu_loadvm_state() runs: the
 * postcopy listen thread goes on with them (qemu_loadvm_state_listen)
 * while the incoming thread loads the package with a LoadState of its own.
 */
static QEMUFile *loadvm_main_file;
static LoadState *loadvm_main_ls;

static bool loadvm_main_loop(QEMUFile *f, LoadState *ls, LoadPhase phase,
                             bool *quit, Error **errp);

static bool loadvm_check_footer(QEMUFile *f, SaveStateEntry *se,
                                uint32_t section_id, Error **errp)
{
    uint8_t type = qemu_get_byte(f);
    uint32_t id;

    if (qemu_file_get_error_obj(f, errp)) {
        return false;
    }
    if (type != QEMU_VM_SECTION_FOOTER) {
        error_setg(errp, "Missing section footer for %s (read 0x%02x)",
                   se->idstr, type);
        return false;
    }
    id = qemu_get_be32(f);
    if (id != section_id) {
        error_setg(errp, "Mismatched section id in footer for %s - read "
                   "0x%x expected 0x%x", se->idstr, id, section_id);
        return false;
    }
    return qemu_file_get_error_obj(f, errp) == 0;
}

static bool loadvm_header(QEMUFile *f, Error **errp)
{
    const char *local = machine_type_name();
    SaveConfig config = { { 0 } };
    uint32_t magic = qemu_get_be32(f);
    uint32_t version = qemu_get_be32(f);
    char name[256];
    uint32_t len;

    if (qemu_file_get_error_obj(f, errp)) {
        error_prepend(errp, "reading the stream header: ");
        return false;
    }
    if (magic != QEMU_VM_FILE_MAGIC) {
        error_setg(errp, "not a migration stream: magic 0x%08x, expected "
                   "0x%08x", magic, QEMU_VM_FILE_MAGIC);
        return false;
    }
    if (version != QEMU_VM_FILE_VERSION) {
        error_setg(errp, "unsupported migration stream version %u", version);
        return false;
    }
    if (qemu_get_byte(f) != QEMU_VM_CONFIGURATION) {
        error_setg(errp, "Configuration section missing");
        return false;
    }
    len = qemu_get_be32(f);
    if (len >= sizeof(name)) {
        error_setg(errp, "machine type name of %u bytes is too long", len);
        return false;
    }
    qemu_get_buffer(f, (uint8_t *)name, len);
    name[len] = '\0';
    if (qemu_file_get_error_obj(f, errp)) {
        return false;
    }
    if (strcmp(name, local)) {
        error_setg(errp, "Machine type received is '%s' and local is '%s'",
                   name, local);
        return false;
    }
    return vmstate_load_state(f, &vmstate_config, &config,
                              vmstate_config.version_id, errp) &&
           config_caps_check(&config, errp);
}

static gboolean loadvm_section_is(gpointer key, gpointer value,
                                   gpointer se)
{
    return ((LoadSection *)value)->se == se;
}

static SaveStateEntry *loadvm_section_start(QEMUFile *f, LoadState *ls,
                                            LoadPhase phase, uint8_t type,
                                            uint32_t *id_out,
                                            int *version_out, Error **errp)
{
    uint32_t section_id = qemu_get_be32(f);
    char idstr[256];
    size_t len = qemu_get_counted_string(f, idstr);
    uint32_t instance_id, version_id;
    SaveStateEntry *se;
    LoadSection *ent;

    instance_id = qemu_get_be32(f);
    version_id = qemu_get_be32(f);
    if (qemu_file_get_error_obj(f, errp)) {
        return NULL;
    }
    if (memchr(idstr, '\0', len)) {
        /* As a C string it would name another section. */
        error_setg(errp, "savevm section %u: its name '%s' is followed by a "
                   "NUL byte within its %zu-byte length", section_id, idstr,
                   len);
        return NULL;
    }
    trace_loadvm_section_start(idstr, section_id, instance_id, version_id);
    se = savevm_find_counted(idstr, len, instance_id);
    if (!se || (type == QEMU_VM_SECTION_FULL) != (se->vmsd != NULL)) {
        error_setg(errp, "Unknown savevm section or instance '%s' %u. Make "
                   "sure that your current VM setup matches your saved VM "
                   "setup, including any hotplugged devices",
                   idstr, instance_id);
        return NULL;
    }
    if (!loadvm_section_allowed(phase, type, se, errp)) {
        return NULL;
    }
    if (version_id > (uint32_t)se->version_id) {
        error_setg(errp, "savevm: unsupported version %u for '%s' v%d",
                   version_id, idstr, se->version_id);
        return NULL;
    }
    if (g_hash_table_contains(ls->sections, GUINT_TO_POINTER(section_id))) {
        error_setg(errp, "section id %u for '%s' was used before",
                   section_id, idstr);
        return NULL;
    }
    /*
     * One id per section: a section started again under a new id drops
     * its old one, so repeated starts cannot grow the table.
     */
    g_hash_table_foreach_remove(ls->sections, loadvm_section_is, se);
    ent = g_new(LoadSection, 1);
    ent->se = se;
    ent->version = version_id;
    g_hash_table_insert(ls->sections, GUINT_TO_POINTER(section_id), ent);
    *id_out = section_id;
    *version_out = version_id;
    return se;
}

static bool loadvm_full(QEMUFile *f, SaveStateEntry *se, int version,
                        Error **errp)
{
    bool ok;

    /* Device models change only under the BQL. */
    bql_lock();
    ok = vmstate_load_state(f, se->vmsd, se->opaque, version, errp);
    bql_unlock();
    if (!ok) {
        error_prepend(errp, "loading device '%s': ", se->idstr);
    }
    return ok;
}

static bool loadvm_live(QEMUFile *f, SaveStateEntry *se, int version,
                        Error **errp)
{
    if (!se->ops->load_state) {
        error_setg(errp, "section '%s' cannot be loaded", se->idstr);
        return false;
    }
    if (!se->ops->load_state(f, se->opaque, version, errp)) {
        error_prepend(errp, "loading '%s': ", se->idstr);
        return false;
    }
    return true;
}

static bool loadvm_process_start_full(QEMUFile *f, LoadState *ls,
                                      LoadPhase phase, uint8_t type,
                                      Error **errp)
{
    uint32_t section_id;
    int version;
    SaveStateEntry *se = loadvm_section_start(f, ls, phase, type,
                                              &section_id, &version, errp);

    if (!se) {
        return false;
    }
    if (type == QEMU_VM_SECTION_FULL ? !loadvm_full(f, se, version, errp)
                                     : !loadvm_live(f, se, version, errp)) {
        return false;
    }
    return loadvm_check_footer(f, se, section_id, errp);
}

static bool loadvm_process_part_end(QEMUFile *f, LoadState *ls,
                                    LoadPhase phase, uint8_t type,
                                    Error **errp)
{
    uint32_t section_id = qemu_get_be32(f);
    LoadSection *ent;

    if (qemu_file_get_error_obj(f, errp)) {
        return false;
    }
    if (phase == LOAD_PACKAGE) {
        /* Its own table has no live section to continue: say why. */
        error_setg(errp, "%s of section %u is not allowed %s",
                   loadvm_type_name(type), section_id,
                   loadvm_phase_rule(phase));
        return false;
    }
    ent = g_hash_table_lookup(ls->sections, GUINT_TO_POINTER(section_id));
    if (!ent || !ent->se->ops) {
        error_setg(errp, "Unknown savevm section %u", section_id);
        return false;
    }
    trace_loadvm_section_part_end(ent->se->idstr, section_id, ent->version);
    /* The START's version: the source wrote the rest in its format. */
    if (!loadvm_section_allowed(phase, type, ent->se, errp) ||
        !loadvm_live(f, ent->se, ent->version, errp)) {
        return false;
    }
    return loadvm_check_footer(f, ent->se, section_id, errp);
}

/*
 * PACKAGED: be32 length, then a sub-stream (LISTEN, device sections, RUN)
 * read whole into memory and loaded from there, so that the listen
 * thread can read the main stream while the devices load.
 */
static bool loadvm_handle_packaged(QEMUFile *f, uint16_t len, bool *quit,
                                   Error **errp)
{
    LoadState pls;
    g_autofree uint8_t *buf = NULL;
    uint32_t size;
    QIOChannel *ioc;
    QEMUFile *pf;
    bool ok;

    if (len != 4) {
        error_setg(errp, "CMD_PACKAGED with a %u-byte header (expected 4)",
                   len);
        return false;
    }
    size = qemu_get_be32(f);
    if (qemu_file_get_error_obj(f, errp)) {
        return false;
    }
    if (size > POSTCOPY_PACKAGED_MAX) {
        error_setg(errp, "Unreasonably large packaged state: %u", size);
        return false;
    }
    trace_loadvm_handle_packaged(size);
    buf = g_try_malloc(size ? size : 1);
    if (!buf) {
        error_setg(errp, "Cannot allocate %u bytes for the packaged state",
                   size);
        return false;
    }
    if (qemu_get_buffer(f, buf, size) != size) {
        qemu_file_get_error_obj(f, errp);
        if (errp && !*errp) {
            error_setg(errp, "CMD_PACKAGED is truncated");
        }
        return false;
    }
    ioc = qio_channel_buffer_new_data(buf, size);
    pf = qemu_file_new_input(ioc);
    qio_channel_unref(ioc);
    loadvm_state_init(&pls);
    ok = loadvm_main_loop(pf, &pls, LOAD_PACKAGE, quit, errp);
    if (ok && !*quit) {
        error_setg(errp, "Postcopy package ended without CMD_POSTCOPY_RUN");
        ok = false;
    }
    g_hash_table_destroy(pls.sections);
    qemu_fclose(pf);
    return ok;
}

static bool loadvm_process_command(QEMUFile *f, LoadPhase phase, bool *quit,
                                   Error **errp)
{
    uint16_t cmd = qemu_get_be16(f);
    uint16_t len = qemu_get_be16(f);

    if (qemu_file_get_error_obj(f, errp)) {
        return false;
    }
    trace_loadvm_process_command(cmd, len);
    if (loadvm_command_known(cmd) &&
        !loadvm_command_allowed(phase, cmd, errp)) {
        return false;
    }
    switch (cmd) {
    case MIG_CMD_OPEN_RETURN_PATH:
        return migration_incoming_rp_open(f, len, errp);
    case MIG_CMD_PING:
        return migration_incoming_rp_ping(f, len, errp);
    case MIG_CMD_POSTCOPY_ADVISE:
        return postcopy_incoming_advise(f, len, errp);
    case MIG_CMD_POSTCOPY_RAM_DISCARD:
        return postcopy_incoming_discard(f, len, errp);
    case MIG_CMD_POSTCOPY_LISTEN:
        return postcopy_incoming_listen(loadvm_main_file, len, errp);
    case MIG_CMD_POSTCOPY_RUN:
        /* The rest of the main stream is the listen thread's. */
        *quit = postcopy_incoming_run(len, errp);
        return *quit;
    case MIG_CMD_POSTCOPY_RESUME:
        return postcopy_incoming_resume(len, errp);
    case MIG_CMD_RECV_BITMAP:
        return postcopy_incoming_recv_bitmap(f, len, errp);
    case MIG_CMD_PACKAGED:
        return loadvm_handle_packaged(f, len, quit, errp);
    }
    error_setg(errp, "migration command %u (length %u) is not supported by "
               "this destination", cmd, len);
    return false;
}

/* After EOF the source sends the vmdesc; read it so the source's last
 * write does not fail, but ignore its contents (it is for tools). */
static void loadvm_skip_vmdesc(QEMUFile *f)
{
    uint32_t len;
    uint8_t buf[4096];

    if (qemu_peek_byte(f, 0) != QEMU_VM_VMDESCRIPTION) {
        return;
    }
    qemu_file_skip(f, 1);
    len = qemu_get_be32(f);
    if (len > MAX_VMDESC_LEN) {
        return;
    }
    while (len && !qemu_file_get_error(f)) {
        size_t chunk = MIN(len, sizeof(buf));

        qemu_get_buffer(f, buf, chunk);
        len -= chunk;
    }
}

static bool loadvm_setup(QEMUFile *f, Error **errp)
{
    GPtrArray *list = savevm_list();

    for (guint i = 0; i < list->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(list, i);

        if (se->ops && se->ops->load_setup &&
            !se->ops->load_setup(f, se->opaque, errp)) {
            error_prepend(errp, "%s load setup: ", se->idstr);
            return false;
        }
    }
    return true;
}

static void loadvm_cleanup(void)
{
    GPtrArray *list = savevm_list();

    for (guint i = 0; i < list->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(list, i);

        if (se->ops && se->ops->load_cleanup) {
            se->ops->load_cleanup(se->opaque);
        }
    }
}

/*
 * Sections and commands until EOF, or until a command hands the rest of
 * the stream over (*@quit: postcopy's RUN).  @phase says which of them
 * may come here.
 */
static bool loadvm_main_loop(QEMUFile *f, LoadState *ls, LoadPhase phase,
                             bool *quit, Error **errp)
{
    for (;;) {
        uint8_t type = qemu_get_byte(f);
        bool ok;

        if (qemu_file_get_error_obj(f, errp)) {
            return false;
        }
        trace_loadvm_section_type(type);
        switch (type) {
        case QEMU_VM_EOF:
            return true;
        case QEMU_VM_SECTION_START:
        case QEMU_VM_SECTION_FULL:
            ok = loadvm_process_start_full(f, ls, phase, type, errp);
            break;
        case QEMU_VM_SECTION_PART:
        case QEMU_VM_SECTION_END:
            ok = loadvm_process_part_end(f, ls, phase, type, errp);
            break;
        case QEMU_VM_COMMAND:
            ok = loadvm_process_command(f, phase, quit, errp);
            if (ok && *quit) {
                return true;
            }
            break;
        default:
            error_setg(errp, "Unknown savevm section type %d", type);
            ok = false;
        }
        if (!ok) {
            return false;
        }
    }
}

bool qemu_loadvm_state(QEMUFile *f, Error **errp)
{
    LoadState ls;
    bool quit = false;
    bool ok;

    assert(!bql_locked());
    loadvm_state_init(&ls);
    loadvm_main_file = f;
    loadvm_main_ls = &ls;
    ok = loadvm_header(f, errp) && loadvm_setup(f, errp) &&
         loadvm_main_loop(f, &ls, LOAD_MAIN, &quit, errp);
    if (ok && quit) {
        /* Postcopy: the listen thread reads the rest, up to EOF. */
        ok = postcopy_incoming_wait(errp);
    } else if (ok) {
        trace_loadvm_state_eof();
        loadvm_skip_vmdesc(f);
    } else if (postcopy_incoming_state() >= POSTCOPY_INCOMING_LISTENING) {
        /* Failed in the package: stop the listen thread before cleanup. */
        qemu_file_shutdown(f);
        postcopy_incoming_wait(NULL);
    }
    loadvm_cleanup();
    trace_loadvm_state_cleaned();
    loadvm_main_file = NULL;
    loadvm_main_ls = NULL;
    g_hash_table_destroy(ls.sections);
    return ok;
}

void qemu_loadvm_switch_main_file(QEMUFile *f)
{
    assert(loadvm_main_file && loadvm_main_ls);
    loadvm_main_file = f;
}

bool qemu_loadvm_load_state_buffer(const char *idstr, uint32_t instance_id,
                                   const uint8_t *buf, size_t len,
                                   Error **errp)
{
    /* The list is read-only while a migration runs: no lock. */
    SaveStateEntry *se = savevm_find(idstr, instance_id);

    if (!se || !se->ops || !se->ops->load_state_buffer) {
        error_setg(errp, "device state for '%s' instance %u, which takes "
                   "none over multifd", idstr, instance_id);
        return false;
    }
    return se->ops->load_state_buffer(se->opaque, buf, len, errp);
}

bool qemu_loadvm_state_listen(QEMUFile *f, Error **errp)
{
    bool quit = false;

    assert(f == loadvm_main_file && loadvm_main_ls);
    if (!loadvm_main_loop(f, loadvm_main_ls, LOAD_POSTCOPY, &quit, errp)) {
        return false;
    }
    if (quit) {
        error_setg(errp, "CMD_POSTCOPY_RUN after the package");
        return false;
    }
    return true;
}
