/*
 * VMState save and load (see include/migration/vmstate.h for the format
 * and the rules).
 *
 * Error messages name where the problem is as "DESC.FIELD: ", nesting
 * outwards, e.g. "cpu.segs: seg.flags: invalid bool value 7 ...".
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "migration/vmstate.h"
#include "trace.h"

#define VMSTATE_MAX_NAME 255    /* subsection names travel as u8 + bytes */

bool vmstate_section_needed(const VMStateDescription *vmsd, void *opaque)
{
    return !vmsd->needed || vmsd->needed(opaque);
}

static bool vmstate_field_exists(const VMStateField *field, void *opaque,
                                 int version_id)
{
    if (field->field_exists) {
        return field->field_exists(opaque, version_id);
    }
    return field->version_id <= version_id;
}

/*
 * The number of elements @field has in @opaque; for a variable array the
 * count field's value, which on load came from the stream and so is
 * checked against the array's capacity.  -1 with @errp set if it is out
 * of range.
 */
static int vmstate_n_elems(const VMStateField *field, void *opaque,
                           Error **errp)
{
    const char *p = (const char *)opaque + field->num_offset;
    int64_t n;

    if (field->flags & VMS_ARRAY) {
        return field->num;
    }
    switch (field->flags & VMS_VARRAY_ANY) {
    case 0:
        return 1;
    case VMS_VARRAY_UINT8:
        n = *(const uint8_t *)p;
        break;
    case VMS_VARRAY_UINT16:
        n = *(const uint16_t *)p;
        break;
    case VMS_VARRAY_UINT32:
        n = *(const uint32_t *)p;
        break;
    case VMS_VARRAY_INT32:
        n = *(const int32_t *)p;
        break;
    default:
        g_assert_not_reached();
    }
    if (n < 0 || n > field->num) {
        error_setg(errp, "element count %" PRId64 " is out of range "
                   "(0 to %d)", n, field->num);
        return -1;
    }
    return n;
}

/* Turn the stream's sticky error into @errp; false if there is one. */
static bool vmstate_check_file(QEMUFile *f, Error **errp)
{
    Error *err = NULL;
    int ret = qemu_file_get_error_obj(f, &err);

    if (ret == 0) {
        return true;
    }
    if (err) {
        error_propagate(errp, err);
    } else {
        error_setg_errno(errp, -ret, "stream error");
    }
    return false;
}

/*
 * Check a hook's result: true (the caller fails) if it failed, with its
 * error prefixed.  A hook that fails without an Error still fails.
 */
static bool vmstate_hook_failed(bool ok, Error *err, Error **errp,
                                const VMStateDescription *vmsd,
                                const char *hook)
{
    if (ok) {
        error_free(err);
        return false;
    }
    if (!err) {
        error_setg(&err, "failed");
    }
    error_prepend(&err, "%s: %s: ", vmsd->name, hook);
    error_propagate(errp, err);
    return true;
}

/* ---------------------------------------------------------------------
 * Saving
 */

static bool vmstate_save_vmsd(QEMUFile *f, const VMStateDescription *vmsd,
                              void *opaque, JsonBuilder *vmdesc,
                              uint64_t *written, Error **errp);

/*
 * A field's name in the VMDESC: QEMU's analyzer keys values by name, so
 * a name used by several fields (say, "unused") gets "[k]" appended, k
 * counting its earlier uses.
 */
static char *vmsd_desc_field_name(const VMStateDescription *vmsd,
                                  const VMStateField *field)
{
    const VMStateField *f;
    int uses = 0, before = 0;

    for (f = vmsd->fields; f->name; f++) {
        if (strcmp(f->name, field->name) == 0) {
            before += f < field;
            uses++;
        }
    }
    if (uses > 1) {
        return g_strdup_printf("%s[%d]", field->name, before);
    }
    return g_strdup(field->name);
}

/*
 * Open the description of one field (or, for structs, one element): an
 * object with "name", then "array_len" for a scalar array described once
 * or "index" for one element of a struct array, and "type".
 */
static void vmsd_desc_field_start(JsonBuilder *vmdesc,
                                  const VMStateDescription *vmsd,
                                  const VMStateField *field, int index, int n)
{
    g_autofree char *name = NULL;

    if (!vmdesc) {
        return;
    }
    name = vmsd_desc_field_name(vmsd, field);
    json_builder_begin_object(vmdesc);
    json_builder_set_member_name(vmdesc, "name");
    json_builder_add_string_value(vmdesc, name);
    if (n > 1) {
        if (field->flags & VMS_STRUCT) {
            json_builder_set_member_name(vmdesc, "index");
            json_builder_add_int_value(vmdesc, index);
        } else {
            json_builder_set_member_name(vmdesc, "array_len");
            json_builder_add_int_value(vmdesc, n);
        }
    }
    json_builder_set_member_name(vmdesc, "type");
    json_builder_add_string_value(vmdesc, field->flags & VMS_STRUCT ?
                                  "struct" : field->info->name);
}

static void vmsd_desc_field_end(JsonBuilder *vmdesc, uint64_t size)
{
    if (!vmdesc) {
        return;
    }
    json_builder_set_member_name(vmdesc, "size");
    json_builder_add_int_value(vmdesc, size);
    json_builder_end_object(vmdesc);
}

static bool vmstate_save_struct_field(QEMUFile *f,
                                      const VMStateDescription *vmsd,
                                      const VMStateField *field, char *base,
                                      int n, JsonBuilder *vmdesc,
                                      uint64_t *written, Error **errp)
{
    int i;

    for (i = 0; i < n; i++) {
        uint64_t before = *written;

        vmsd_desc_field_start(vmdesc, vmsd, field, i, n);
        if (vmdesc) {
            json_builder_set_member_name(vmdesc, "struct");
            json_builder_begin_object(vmdesc);
        }
        if (!vmstate_save_vmsd(f, field->vmsd, base + i * field->size,
                               vmdesc, written, errp)) {
            return false;
        }
        if (vmdesc) {
            json_builder_end_object(vmdesc);
        }
        vmsd_desc_field_end(vmdesc, *written - before);
    }
    return true;
}

static bool vmstate_save_field(QEMUFile *f, const VMStateDescription *vmsd,
                               const VMStateField *field, void *opaque,
                               JsonBuilder *vmdesc, uint64_t *written,
                               Error **errp)
{
    char *base = (char *)opaque + field->offset;
    int i, n = vmstate_n_elems(field, opaque, errp);

    if (n < 0) {
        return false;
    }
    if (field->flags & VMS_STRUCT) {
        return vmstate_save_struct_field(f, vmsd, field, base, n, vmdesc,
                                         written, errp);
    }
    if (n == 0) {
        return true;
    }
    /* Scalars and scalar arrays are described once: QEMU's compression. */
    vmsd_desc_field_start(vmdesc, vmsd, field, 0, n);
    for (i = 0; i < n; i++) {
        if (!field->info->put(f, base + i * field->size, field->size, field,
                              errp)) {
            return false;
        }
    }
    *written += (uint64_t)n * field->size;
    vmsd_desc_field_end(vmdesc, field->size);
    return true;
}

static bool vmstate_save_fields(QEMUFile *f, const VMStateDescription *vmsd,
                                void *opaque, JsonBuilder *vmdesc,
                                uint64_t *written, Error **errp)
{
    const VMStateField *field;

    if (vmdesc) {
        json_builder_set_member_name(vmdesc, "fields");
        json_builder_begin_array(vmdesc);
    }
    for (field = vmsd->fields; field && field->name; field++) {
        if (!vmstate_field_exists(field, opaque, vmsd->version_id)) {
            continue;
        }
        if (!vmstate_save_field(f, vmsd, field, opaque, vmdesc, written,
                                errp) ||
            !vmstate_check_file(f, errp)) {
            error_prepend(errp, "%s.%s: ", vmsd->name, field->name);
            return false;
        }
    }
    if (vmdesc) {
        json_builder_end_array(vmdesc);
    }
    return true;
}

static bool vmstate_subsection_name_ok(const VMStateDescription *vmsd,
                                       const VMStateDescription *sub,
                                       Error **errp)
{
    size_t plen = strlen(vmsd->name), len = strlen(sub->name);

    if (len > VMSTATE_MAX_NAME || len <= plen ||
        strncmp(sub->name, vmsd->name, plen) != 0) {
        error_setg(errp, "%s: subsection '%s' must be named '%s' plus a "
                   "suffix, at most %d bytes in all", vmsd->name, sub->name,
                   vmsd->name, VMSTATE_MAX_NAME);
        return false;
    }
    return true;
}

static bool vmstate_save_subsections(QEMUFile *f,
                                     const VMStateDescription *vmsd,
                                     void *opaque, JsonBuilder *vmdesc,
                                     uint64_t *written, Error **errp)
{
    const VMStateDescription * const *sub;
    bool any = false;

    for (sub = vmsd->subsections; sub && *sub; sub++) {
        size_t len;

        if (!vmstate_section_needed(*sub, opaque)) {
            continue;
        }
        if (!vmstate_subsection_name_ok(vmsd, *sub, errp)) {
            return false;
        }
        trace_vmstate_subsection_save((*sub)->name);
        if (vmdesc && !any) {
            json_builder_set_member_name(vmdesc, "subsections");
            json_builder_begin_array(vmdesc);
        }
        any = true;
        len = strlen((*sub)->name);
        qemu_put_byte(f, QEMU_VM_SUBSECTION);
        qemu_put_byte(f, len);
        qemu_put_buffer(f, (const uint8_t *)(*sub)->name, len);
        qemu_put_be32(f, (*sub)->version_id);
        *written += 1 + 1 + len + 4;
        if (vmdesc) {
            json_builder_begin_object(vmdesc);
        }
        if (!vmstate_save_vmsd(f, *sub, opaque, vmdesc, written, errp)) {
            return false;
        }
        if (vmdesc) {
            json_builder_end_object(vmdesc);
        }
    }
    if (vmdesc && any) {
        json_builder_end_array(vmdesc);
    }
    return true;
}

static bool vmstate_save_vmsd(QEMUFile *f, const VMStateDescription *vmsd,
                              void *opaque, JsonBuilder *vmdesc,
                              uint64_t *written, Error **errp)
{
    Error *err = NULL;
    bool ok;

    trace_vmstate_save_state(vmsd->name, vmsd->version_id);
    if (vmsd->unmigratable) {
        error_setg(errp, "State blocked by non-migratable device '%s'",
                   vmsd->name);
        return false;
    }
    if (vmsd->pre_save) {
        ok = vmsd->pre_save(opaque, &err);
        if (vmstate_hook_failed(ok, err, errp, vmsd, "pre_save")) {
            return false;
        }
    }
    if (vmdesc) {
        json_builder_set_member_name(vmdesc, "vmsd_name");
        json_builder_add_string_value(vmdesc, vmsd->name);
        json_builder_set_member_name(vmdesc, "version");
        json_builder_add_int_value(vmdesc, vmsd->version_id);
    }
    ok = vmstate_save_fields(f, vmsd, opaque, vmdesc, written, errp) &&
         vmstate_save_subsections(f, vmsd, opaque, vmdesc, written, errp);
    if (vmsd->post_save) {
        vmsd->post_save(opaque);
    }
    return ok;
}

bool vmstate_save_state(QEMUFile *f, const VMStateDescription *vmsd,
                        void *opaque, JsonBuilder *vmdesc, Error **errp)
{
    uint64_t written = 0;

    return vmstate_save_vmsd(f, vmsd, opaque, vmdesc, &written, errp);
}

/* ---------------------------------------------------------------------
 * Loading
 */

static bool vmstate_load_vmsd(QEMUFile *f, const VMStateDescription *vmsd,
                              void *opaque, int version_id, bool nested,
                              Error **errp);

static bool vmstate_load_field(QEMUFile *f, const VMStateField *field,
                               void *opaque, Error **errp)
{
    char *base = (char *)opaque + field->offset;
    int i, n = vmstate_n_elems(field, opaque, errp);

    if (n < 0) {
        return false;
    }
    for (i = 0; i < n; i++) {
        void *elem = base + i * field->size;

        if (field->flags & VMS_STRUCT) {
            /*
             * A struct's own version is not in the stream: both sides
             * must agree on it through the version of the enclosing
             * description.  Stop at the first short read rather than
             * parse the rest of the array from zeros.
             */
            if (!vmstate_load_vmsd(f, field->vmsd, elem,
                                   field->vmsd->version_id, true, errp) ||
                !vmstate_check_file(f, errp)) {
                return false;
            }
        } else if (!field->info->get(f, elem, field->size, field, errp)) {
            return false;
        }
    }
    /* Scalars after a short read are zeros: harmless, reported here. */
    return vmstate_check_file(f, errp);
}

static bool vmstate_load_fields(QEMUFile *f, const VMStateDescription *vmsd,
                                void *opaque, int version_id, Error **errp)
{
    const VMStateField *field;

    for (field = vmsd->fields; field && field->name; field++) {
        if (!vmstate_field_exists(field, opaque, version_id)) {
            continue;
        }
        trace_vmstate_load_field(vmsd->name, field->name);
        if (!vmstate_load_field(f, field, opaque, errp)) {
            error_prepend(errp, "%s.%s: ", vmsd->name, field->name);
            return false;
        }
    }
    return true;
}

static const VMStateDescription *
vmstate_find_subsection(const VMStateDescription *vmsd, const char *name,
                        size_t len, int *index)
{
    int i;

    for (i = 0; vmsd->subsections && vmsd->subsections[i]; i++) {
        const char *sub = vmsd->subsections[i]->name;

        if (strlen(sub) == len && memcmp(sub, name, len) == 0) {
            *index = i;
            return vmsd->subsections[i];
        }
    }
    return NULL;
}

/*
 * Peek at the next subsection header.  Returns its name's length (1 to
 * 255) with the name in @name if there is one, 0 if the next byte starts
 * something else, -1 on a stream error.  The name may hold a NUL: the
 * caller refuses that.
 */
static int vmstate_peek_subsection(QEMUFile *f, char name[256])
{
    uint8_t *buf;
    int len;

    if (qemu_peek_byte(f, 0) != QEMU_VM_SUBSECTION) {
        return qemu_file_get_error(f) ? -1 : 0;
    }
    len = qemu_peek_byte(f, 1);
    if (qemu_file_get_error(f) ||
        qemu_peek_buffer(f, &buf, len, 2) != (size_t)len) {
        return -1;
    }
    memcpy(name, buf, len);
    name[len] = '\0';
    return len;
}

/*
 * Load the subsections that follow a description's fields.  Inside a
 * nested struct, a header that is not one of ours is left for an outer
 * level (subsections of the enclosing descriptions follow ours); at the
 * top level it is an error, as nothing else may follow.
 */
static bool vmstate_load_subsections(QEMUFile *f,
                                     const VMStateDescription *vmsd,
                                     void *opaque, bool nested, Error **errp)
{
    g_autofree bool *seen = NULL;
    char name[256];
    int n_subs = 0;

    while (vmsd->subsections && vmsd->subsections[n_subs]) {
        n_subs++;
    }
    seen = g_new0(bool, n_subs + 1);
    for (;;) {
        const VMStateDescription *sub;
        int ret = vmstate_peek_subsection(f, name), index, version_id;

        if (ret == 0) {
            return true;
        }
        if (ret < 0) {
            if (vmstate_check_file(f, errp)) {
                error_setg(errp, "%s: truncated subsection header",
                           vmsd->name);
            } else {
                error_prepend(errp, "%s: subsection header: ", vmsd->name);
            }
            return false;
        }
        if (memchr(name, '\0', ret)) {
            error_setg(errp, "%s: subsection name '%s' is followed by a NUL "
                       "byte within its %d-byte length", vmsd->name, name,
                       ret);
            return false;
        }
        sub = vmstate_find_subsection(vmsd, name, ret, &index);
        if (!sub && nested) {
            return true;
        }
        if (!sub) {
            error_setg(errp, "%s: unknown subsection '%s' in the stream",
                       vmsd->name, name);
            return false;
        }
        if (seen[index]) {
            error_setg(errp, "%s: subsection '%s' appears twice",
                       vmsd->name, name);
            return false;
        }
        seen[index] = true;
        qemu_file_skip(f, 2 + ret);
        version_id = qemu_get_be32(f);
        if (!vmstate_check_file(f, errp)) {
            error_prepend(errp, "%s: subsection '%s': ", vmsd->name, name);
            return false;
        }
        trace_vmstate_subsection_load(vmsd->name, name, version_id);
        if (!vmstate_load_vmsd(f, sub, opaque, version_id, true, errp)) {
            return false;
        }
    }
}

static bool vmstate_load_vmsd(QEMUFile *f, const VMStateDescription *vmsd,
                              void *opaque, int version_id, bool nested,
                              Error **errp)
{
    Error *err = NULL;
    bool ok;

    trace_vmstate_load_state(vmsd->name, version_id);
    if (version_id > vmsd->version_id ||
        version_id < vmsd->minimum_version_id) {
        error_setg(errp, "%s: version %d not supported, expected between "
                   "%d and %d", vmsd->name, version_id,
                   vmsd->minimum_version_id, vmsd->version_id);
        return false;
    }
    if (vmsd->pre_load) {
        ok = vmsd->pre_load(opaque, &err);
        if (vmstate_hook_failed(ok, err, errp, vmsd, "pre_load")) {
            return false;
        }
    }
    if (!vmstate_load_fields(f, vmsd, opaque, version_id, errp) ||
        !vmstate_load_subsections(f, vmsd, opaque, nested, errp)) {
        return false;
    }
    if (vmsd->post_load) {
        ok = vmsd->post_load(opaque, version_id, &err);
        if (vmstate_hook_failed(ok, err, errp, vmsd, "post_load")) {
            return false;
        }
    }
    return true;
}

/*
 * All-or-nothing loads: the bytes of every field a description (its
 * structs, its subsections) can write, copied before the load and put
 * back if any part of it fails, so a device never keeps values its
 * post_load refused or half of a section.  Fields are embedded in the
 * struct (no pointers, see vmstate.h), so these ranges are all a load
 * writes; what hooks change elsewhere is theirs to keep consistent.
 */
typedef struct VMStateRange {
    char *addr;
    size_t len;
} VMStateRange;

typedef struct VMStateSnapshot {
    GArray *ranges;         /* VMStateRange, in the order of @bytes */
    GByteArray *bytes;      /* their contents, concatenated */
} VMStateSnapshot;

static void vmstate_snapshot_add(VMStateSnapshot *snap, char *addr,
                                 size_t len)
{
    VMStateRange r = { addr, len };

    if (!len) {
        return;
    }
    g_byte_array_append(snap->bytes, (const guint8 *)addr, len);
    if (snap->ranges->len) {
        VMStateRange *last = &g_array_index(snap->ranges, VMStateRange,
                                            snap->ranges->len - 1);

        if (last->addr + last->len == addr) {
            last->len += len;   /* consecutive fields: one range */
            return;
        }
    }
    g_array_append_val(snap->ranges, r);
}

/* Every field of every version, at its full capacity. */
static void vmstate_snapshot_vmsd(VMStateSnapshot *snap,
                                  const VMStateDescription *vmsd,
                                  char *opaque)
{
    const VMStateField *field;
    const VMStateDescription * const *sub;

    for (field = vmsd->fields; field && field->name; field++) {
        char *base = opaque + field->offset;
        int n = field->flags & (VMS_ARRAY | VMS_VARRAY_ANY) ? field->num : 1;

        if (field->flags & VMS_STRUCT) {
            for (int i = 0; i < n; i++) {
                vmstate_snapshot_vmsd(snap, field->vmsd,
                                      base + (size_t)i * field->size);
            }
        } else if (field->info != &vmstate_info_unused_buffer) {
            vmstate_snapshot_add(snap, base, (size_t)n * field->size);
        }
    }
    for (sub = vmsd->subsections; sub && *sub; sub++) {
        vmstate_snapshot_vmsd(snap, *sub, opaque);
    }
}

static void vmstate_snapshot_restore(VMStateSnapshot *snap)
{
    const guint8 *p = snap->bytes->data;

    for (guint i = 0; i < snap->ranges->len; i++) {
        VMStateRange *r = &g_array_index(snap->ranges, VMStateRange, i);

        memcpy(r->addr, p, r->len);
        p += r->len;
    }
}

bool vmstate_load_state(QEMUFile *f, const VMStateDescription *vmsd,
                        void *opaque, int version_id, Error **errp)
{
    VMStateSnapshot snap = {
        .ranges = g_array_new(FALSE, FALSE, sizeof(VMStateRange)),
        .bytes = g_byte_array_new(),
    };
    bool ok;

    vmstate_snapshot_vmsd(&snap, vmsd, opaque);
    ok = vmstate_load_vmsd(f, vmsd, opaque, version_id, false, errp);
    if (!ok) {
        vmstate_snapshot_restore(&snap);
    }
    trace_vmstate_load_state_end(vmsd->name, ok);
    g_array_free(snap.ranges, TRUE);
    g_byte_array_free(snap.bytes, TRUE);
    return ok;
}
