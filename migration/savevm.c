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
#include "hw/boards.h"
#include "migration/register.h"
#include "migration/vmstate.h"
#include "qemu-file.h"
#include "savevm.h"
#include "return-path.h"
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

static GPtrArray *savevm_list(void)
{
    if (!savevm_handlers) {
        savevm_handlers = g_ptr_array_new_with_free_func(g_free);
    }
    return savevm_handlers;
}

static SaveStateEntry *savevm_find(const char *idstr, uint32_t instance_id)
{
    GPtrArray *list = savevm_list();

    for (guint i = 0; i < list->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(list, i);

        if (!strcmp(se->idstr, idstr) && se->instance_id == instance_id) {
            return se;
        }
    }
    return NULL;
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

void qemu_savevm_state_header(QEMUFile *f)
{
    const char *machine = machine_type_name();

    qemu_put_be32(f, QEMU_VM_FILE_MAGIC);
    qemu_put_be32(f, QEMU_VM_FILE_VERSION);
    /* QEMU's "configuration" vmstate: be32 length + machine type. */
    qemu_put_byte(f, QEMU_VM_CONFIGURATION);
    qemu_put_be32(f, strlen(machine));
    qemu_put_buffer(f, (const uint8_t *)machine, strlen(machine));
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

        if (!se_is_live(se) || !se->ops->save_live_iterate) {
            continue;
        }
        if (qemu_file_rate_limit(f)) {
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

        if (!se_is_live(se) || !se->ops->save_live_complete_precopy) {
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
    /* With a return path: the destination's PONG says devices loaded. */
    migration_rp_send_end_ping(f);
    qemu_put_byte(f, QEMU_VM_EOF);
    savevm_put_vmdesc(f, vmdesc);
    qemu_fflush(f);
    return qemu_file_get_error_obj(f, errp) == 0;
}

void qemu_savevm_state_cleanup(void)
{
    GPtrArray *list = savevm_list();

    for (guint i = 0; i < list->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(list, i);

        if (se->ops && se->ops->save_cleanup) {
            se->ops->save_cleanup(se->opaque);
        }
    }
}

/* ---- destination ---- */

/* Section ids seen in START/FULL, so PART/END can name their entry. */
typedef struct LoadState {
    GHashTable *sections;   /* section id -> SaveStateEntry */
} LoadState;

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
    return true;
}

static SaveStateEntry *loadvm_section_start(QEMUFile *f, LoadState *ls,
                                            uint8_t type, uint32_t *id_out,
                                            int *version_out, Error **errp)
{
    uint32_t section_id = qemu_get_be32(f);
    char idstr[256];
    uint32_t instance_id, version_id;
    SaveStateEntry *se;

    qemu_get_counted_string(f, idstr);
    instance_id = qemu_get_be32(f);
    version_id = qemu_get_be32(f);
    if (qemu_file_get_error_obj(f, errp)) {
        return NULL;
    }
    trace_loadvm_section_start(idstr, section_id, instance_id, version_id);
    se = savevm_find(idstr, instance_id);
    if (!se || (type == QEMU_VM_SECTION_FULL) != (se->vmsd != NULL)) {
        error_setg(errp, "Unknown savevm section or instance '%s' %u. Make "
                   "sure that your current VM setup matches your saved VM "
                   "setup, including any hotplugged devices",
                   idstr, instance_id);
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
    g_hash_table_insert(ls->sections, GUINT_TO_POINTER(section_id), se);
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
                                      uint8_t type, Error **errp)
{
    uint32_t section_id;
    int version;
    SaveStateEntry *se = loadvm_section_start(f, ls, type, &section_id,
                                              &version, errp);

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
                                    Error **errp)
{
    uint32_t section_id = qemu_get_be32(f);
    SaveStateEntry *se;

    if (qemu_file_get_error_obj(f, errp)) {
        return false;
    }
    se = g_hash_table_lookup(ls->sections, GUINT_TO_POINTER(section_id));
    if (!se || !se->ops) {
        error_setg(errp, "Unknown savevm section %u", section_id);
        return false;
    }
    if (!loadvm_live(f, se, se->version_id, errp)) {
        return false;
    }
    return loadvm_check_footer(f, se, section_id, errp);
}

static bool loadvm_process_command(QEMUFile *f, Error **errp)
{
    uint16_t cmd = qemu_get_be16(f);
    uint16_t len = qemu_get_be16(f);

    if (qemu_file_get_error_obj(f, errp)) {
        return false;
    }
    trace_loadvm_process_command(cmd, len);
    switch (cmd) {
    case MIG_CMD_OPEN_RETURN_PATH:
        return migration_incoming_rp_open(f, len, errp);
    case MIG_CMD_PING:
        return migration_incoming_rp_ping(f, len, errp);
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

static bool loadvm_main_loop(QEMUFile *f, LoadState *ls, Error **errp)
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
            ok = loadvm_process_start_full(f, ls, type, errp);
            break;
        case QEMU_VM_SECTION_PART:
        case QEMU_VM_SECTION_END:
            ok = loadvm_process_part_end(f, ls, errp);
            break;
        case QEMU_VM_COMMAND:
            ok = loadvm_process_command(f, errp);
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
    LoadState ls = {
        .sections = g_hash_table_new(g_direct_hash, g_direct_equal),
    };
    bool ok;

    assert(!bql_locked());
    ok = loadvm_header(f, errp) && loadvm_setup(f, errp) &&
         loadvm_main_loop(f, &ls, errp);
    if (ok) {
        loadvm_skip_vmdesc(f);
    }
    loadvm_cleanup();
    g_hash_table_destroy(ls.sections);
    return ok;
}
