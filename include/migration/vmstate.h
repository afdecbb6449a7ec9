/*
 * VMState: declarative descriptions of device and CPU state, and their
 * serialisation into the migration stream (QEMU's concepts and names).
 *
 * A device describes its state as a VMStateDescription: a name, a
 * version, a table of fields (each a member of the device's struct, found
 * by offset) and optional subsections.  vmstate_save_state() writes the
 * fields in table order, big-endian, with no framing of their own (the
 * section that carries them says which description and version they
 * follow); then every subsection whose needed() hook says so:
 *
 *     0x05 (QEMU_VM_SUBSECTION), u8 name length, name, be32 version,
 *     the subsection's fields and its own subsections.
 *
 * vmstate_load_state() reads the same, checking versions, subsection
 * names and every count read from the stream against the destination's
 * own sizes: bad input gives an Error that names the description and
 * field, never a write outside the described struct, and leaves the
 * struct's described fields as they were before the load.  Subsection
 * names are compared as counted bytes; one that holds a NUL is refused.
 *
 * Versions: a field added in version N is declared with the _V macro
 * (version N); it is saved when the description's version is >= N and
 * loaded when the stream's version is >= N.  Fields are never removed:
 * a field that is no longer used becomes VMSTATE_UNUSED (its bytes are
 * still written, as zeros, and skipped on load).
 *
 * Subsection names must start with their parent's name ("cpu/xsave" under
 * "cpu"): that is how a loader inside a nested struct tells its own
 * subsections from its parent's, which follow in the stream.
 *
 * Threading: save and load run in whichever thread owns the QEMUFile
 * (migration or incoming thread), with the BQL held when @opaque is
 * device state that other threads touch; hooks run in that same context.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_VMSTATE_H
#define MIGRATION_VMSTATE_H

#include <json-glib/json-glib.h>
#include "qapi/error.h"
#include "migration/qemu-file.h"

#define QEMU_VM_SUBSECTION 0x05

typedef struct VMStateInfo VMStateInfo;
typedef struct VMStateField VMStateField;
typedef struct VMStateDescription VMStateDescription;

/*
 * How one element of a given type is put and got.  @pv points at the
 * element, @size is the field's element size.  put writes exactly @size
 * bytes for every info in vmstate-types.c (the VMDESC sizes rely on it).
 * Stream errors are sticky in @f and checked by the caller; get and put
 * return false only for errors of their own (a value out of range).
 */
struct VMStateInfo {
    const char *name;       /* type name in the VMDESC JSON: "uint32"... */
    bool (*get)(QEMUFile *f, void *pv, size_t size,
                const VMStateField *field, Error **errp);
    bool (*put)(QEMUFile *f, void *pv, size_t size,
                const VMStateField *field, Error **errp);
};

typedef enum VMStateFlags {
    VMS_SINGLE        = 0x001,  /* one element at offset */
    VMS_ARRAY         = 0x002,  /* num elements */
    VMS_STRUCT        = 0x004,  /* elements are structs described by vmsd */
    /*
     * Variable arrays: the element count is another field of the same
     * struct (at num_offset, of the named type), saved before this one;
     * num is the capacity of the embedded array, never exceeded.
     */
    VMS_VARRAY_UINT8  = 0x010,
    VMS_VARRAY_UINT16 = 0x020,
    VMS_VARRAY_UINT32 = 0x040,
    VMS_VARRAY_INT32  = 0x080,
} VMStateFlags;

#define VMS_VARRAY_ANY \
    (VMS_VARRAY_UINT8 | VMS_VARRAY_UINT16 | VMS_VARRAY_UINT32 | \
     VMS_VARRAY_INT32)

struct VMStateField {
    const char *name;           /* NULL ends the table */
    size_t offset;              /* of the first element in the struct */
    size_t size;                /* bytes per element */
    int num;                    /* VMS_ARRAY: count; VMS_VARRAY_*: capacity */
    size_t num_offset;          /* VMS_VARRAY_*: offset of the count */
    const VMStateInfo *info;    /* element type (not for VMS_STRUCT) */
    int flags;                  /* VMStateFlags */
    const VMStateDescription *vmsd; /* VMS_STRUCT: the elements' layout */
    int version_id;             /* first version that has this field */
    /* If set, decides presence instead of version_id (QEMU's _TEST). */
    bool (*field_exists)(void *opaque, int version_id);
};

/*
 * Hooks.  All optional; a hook that fails sets @errp and the save or load
 * fails with its message (prefixed with the description's name).
 *   pre_save:  bring @opaque up to date before its fields are read.
 *   post_save: undo what pre_save did (runs even if saving failed later).
 *   pre_load:  prepare @opaque before fields are written into it.
 *   post_load: check the loaded values and derive other state; gets the
 *              stream's version.  The place to reject inconsistent input:
 *              if it (or anything after it) fails, the described fields
 *              are put back as they were (vmstate_load_state()).
 *   needed:    for a subsection: whether to send it (no hook: always).
 */
struct VMStateDescription {
    const char *name;
    bool unmigratable;          /* saving fails: state cannot be migrated */
    int version_id;
    int minimum_version_id;
    bool (*pre_save)(void *opaque, Error **errp);
    void (*post_save)(void *opaque);
    bool (*pre_load)(void *opaque, Error **errp);
    bool (*post_load)(void *opaque, int version_id, Error **errp);
    bool (*needed)(void *opaque);
    const VMStateField *fields;
    const VMStateDescription * const *subsections; /* NULL-terminated */
};

extern const VMStateInfo vmstate_info_bool;
extern const VMStateInfo vmstate_info_int8;
extern const VMStateInfo vmstate_info_int16;
extern const VMStateInfo vmstate_info_int32;
extern const VMStateInfo vmstate_info_int64;
extern const VMStateInfo vmstate_info_uint8;
extern const VMStateInfo vmstate_info_uint16;
extern const VMStateInfo vmstate_info_uint32;
extern const VMStateInfo vmstate_info_uint64;
extern const VMStateInfo vmstate_info_uint32_equal;
extern const VMStateInfo vmstate_info_buffer;
extern const VMStateInfo vmstate_info_unused_buffer;

/*
 * Compile-time type checks for the field macros: a field declared with
 * the wrong type (or a pointer where an array is expected) fails to build
 * instead of being saved with the wrong size.
 */
#define VMSTATE_BUILD_CHECK(cond) \
    (0 * sizeof(struct { int vmstate_type_check : (cond) ? 1 : -1; }))
#define vmstate_typeof_field(_state, _field) typeof(((_state *)0)->_field)
#define vmstate_field_count(_state, _field) \
    (sizeof(((_state *)0)->_field) / sizeof(((_state *)0)->_field[0]))

#define vmstate_offset_value(_state, _field, _type) \
    (offsetof(_state, _field) + VMSTATE_BUILD_CHECK( \
        __builtin_types_compatible_p(_type, \
                                     vmstate_typeof_field(_state, _field))))
#define vmstate_offset_array(_state, _field, _type, _num) \
    (offsetof(_state, _field) + VMSTATE_BUILD_CHECK( \
        __builtin_types_compatible_p(_type[_num], \
                                     vmstate_typeof_field(_state, _field))))
/* An embedded array of any length whose elements are _type. */
#define vmstate_offset_varray(_state, _field, _type) \
    vmstate_offset_array(_state, _field, _type, \
                         vmstate_field_count(_state, _field))

#define VMSTATE_SINGLE_TEST(_field, _state, _test, _version, _info, _type) { \
    .name         = #_field,                                              \
    .version_id   = (_version),                                           \
    .field_exists = (_test),                                              \
    .size         = sizeof(_type),                                        \
    .info         = &(_info),                                             \
    .flags        = VMS_SINGLE,                                           \
    .offset       = vmstate_offset_value(_state, _field, _type),          \
}

#define VMSTATE_SINGLE(_field, _state, _version, _info, _type) \
    VMSTATE_SINGLE_TEST(_field, _state, NULL, _version, _info, _type)

#define VMSTATE_ARRAY(_field, _state, _num, _version, _info, _type) {     \
    .name       = #_field,                                                \
    .version_id = (_version),                                             \
    .num        = (_num),                                                 \
    .size       = sizeof(_type),                                          \
    .info       = &(_info),                                               \
    .flags      = VMS_ARRAY,                                              \
    .offset     = vmstate_offset_array(_state, _field, _type, _num),      \
}

/*
 * An embedded array _field of which the first N elements are live, N
 * being the value of _field_num (of type _num_type, flag _num_flag).
 */
#define VMSTATE_VARRAY_OF(_field, _state, _field_num, _num_type, _num_flag, \
                          _version, _info, _type) {                         \
    .name       = #_field,                                                  \
    .version_id = (_version),                                               \
    .num        = vmstate_field_count(_state, _field),                      \
    .num_offset = vmstate_offset_value(_state, _field_num, _num_type),      \
    .size       = sizeof(_type),                                            \
    .info       = &(_info),                                                 \
    .flags      = (_num_flag),                                              \
    .offset     = vmstate_offset_varray(_state, _field, _type),             \
}

#define VMSTATE_VARRAY_UINT8(_field, _state, _field_num, _version, _info, \
                             _type) \
    VMSTATE_VARRAY_OF(_field, _state, _field_num, uint8_t, \
                      VMS_VARRAY_UINT8, _version, _info, _type)
#define VMSTATE_VARRAY_UINT16(_field, _state, _field_num, _version, _info, \
                              _type) \
    VMSTATE_VARRAY_OF(_field, _state, _field_num, uint16_t, \
                      VMS_VARRAY_UINT16, _version, _info, _type)
#define VMSTATE_VARRAY_UINT32(_field, _state, _field_num, _version, _info, \
                              _type) \
    VMSTATE_VARRAY_OF(_field, _state, _field_num, uint32_t, \
                      VMS_VARRAY_UINT32, _version, _info, _type)
#define VMSTATE_VARRAY_INT32(_field, _state, _field_num, _version, _info, \
                             _type) \
    VMSTATE_VARRAY_OF(_field, _state, _field_num, int32_t, \
                      VMS_VARRAY_INT32, _version, _info, _type)

/* Structs: _vmsd describes one element of type _type. */
#define VMSTATE_STRUCT_TEST(_field, _state, _test, _version, _vmsd, _type) { \
    .name         = #_field,                                               \
    .version_id   = (_version),                                            \
    .field_exists = (_test),                                               \
    .vmsd         = &(_vmsd),                                              \
    .size         = sizeof(_type),                                         \
    .flags        = VMS_STRUCT,                                            \
    .offset       = vmstate_offset_value(_state, _field, _type),           \
}
#define VMSTATE_STRUCT(_field, _state, _version, _vmsd, _type) \
    VMSTATE_STRUCT_TEST(_field, _state, NULL, _version, _vmsd, _type)

#define VMSTATE_STRUCT_ARRAY(_field, _state, _num, _version, _vmsd, _type) { \
    .name       = #_field,                                                   \
    .version_id = (_version),                                                \
    .num        = (_num),                                                    \
    .vmsd       = &(_vmsd),                                                  \
    .size       = sizeof(_type),                                             \
    .flags      = VMS_STRUCT | VMS_ARRAY,                                    \
    .offset     = vmstate_offset_array(_state, _field, _type, _num),         \
}

#define VMSTATE_STRUCT_VARRAY_OF(_field, _state, _field_num, _num_type,     \
                                 _num_flag, _version, _vmsd, _type) {       \
    .name       = #_field,                                                  \
    .version_id = (_version),                                               \
    .num        = vmstate_field_count(_state, _field),                      \
    .num_offset = vmstate_offset_value(_state, _field_num, _num_type),      \
    .vmsd       = &(_vmsd),                                                 \
    .size       = sizeof(_type),                                            \
    .flags      = VMS_STRUCT | (_num_flag),                                 \
    .offset     = vmstate_offset_varray(_state, _field, _type),             \
}
#define VMSTATE_STRUCT_VARRAY_UINT8(_field, _state, _field_num, _version, \
                                    _vmsd, _type) \
    VMSTATE_STRUCT_VARRAY_OF(_field, _state, _field_num, uint8_t, \
                             VMS_VARRAY_UINT8, _version, _vmsd, _type)
#define VMSTATE_STRUCT_VARRAY_UINT32(_field, _state, _field_num, _version, \
                                     _vmsd, _type) \
    VMSTATE_STRUCT_VARRAY_OF(_field, _state, _field_num, uint32_t, \
                             VMS_VARRAY_UINT32, _version, _vmsd, _type)
#define VMSTATE_STRUCT_VARRAY_INT32(_field, _state, _field_num, _version, \
                                    _vmsd, _type) \
    VMSTATE_STRUCT_VARRAY_OF(_field, _state, _field_num, int32_t, \
                             VMS_VARRAY_INT32, _version, _vmsd, _type)

/* An opaque byte array, saved whole (uint8_t _field[N]). */
#define VMSTATE_BUFFER_V(_field, _state, _version) {                      \
    .name       = #_field,                                                \
    .version_id = (_version),                                             \
    .size       = sizeof(((_state *)0)->_field),                          \
    .info       = &vmstate_info_buffer,                                   \
    .flags      = VMS_SINGLE,                                             \
    .offset     = vmstate_offset_varray(_state, _field, uint8_t),         \
}
#define VMSTATE_BUFFER(_field, _state) VMSTATE_BUFFER_V(_field, _state, 0)

/* _size bytes that no longer mean anything: zeros out, skipped in. */
#define VMSTATE_UNUSED_V(_version, _size) {                               \
    .name       = "unused",                                               \
    .version_id = (_version),                                             \
    .size       = (_size),                                                \
    .info       = &vmstate_info_unused_buffer,                            \
    .flags      = VMS_SINGLE,                                             \
}
#define VMSTATE_UNUSED(_size) VMSTATE_UNUSED_V(0, _size)

#define VMSTATE_END_OF_LIST() { .name = NULL }

/* Scalars */
#define VMSTATE_BOOL_V(_f, _s, _v) \
    VMSTATE_SINGLE(_f, _s, _v, vmstate_info_bool, bool)
#define VMSTATE_INT8_V(_f, _s, _v) \
    VMSTATE_SINGLE(_f, _s, _v, vmstate_info_int8, int8_t)
#define VMSTATE_INT16_V(_f, _s, _v) \
    VMSTATE_SINGLE(_f, _s, _v, vmstate_info_int16, int16_t)
#define VMSTATE_INT32_V(_f, _s, _v) \
    VMSTATE_SINGLE(_f, _s, _v, vmstate_info_int32, int32_t)
#define VMSTATE_INT64_V(_f, _s, _v) \
    VMSTATE_SINGLE(_f, _s, _v, vmstate_info_int64, int64_t)
#define VMSTATE_UINT8_V(_f, _s, _v) \
    VMSTATE_SINGLE(_f, _s, _v, vmstate_info_uint8, uint8_t)
#define VMSTATE_UINT16_V(_f, _s, _v) \
    VMSTATE_SINGLE(_f, _s, _v, vmstate_info_uint16, uint16_t)
#define VMSTATE_UINT32_V(_f, _s, _v) \
    VMSTATE_SINGLE(_f, _s, _v, vmstate_info_uint32, uint32_t)
#define VMSTATE_UINT64_V(_f, _s, _v) \
    VMSTATE_SINGLE(_f, _s, _v, vmstate_info_uint64, uint64_t)

#define VMSTATE_BOOL(_f, _s)   VMSTATE_BOOL_V(_f, _s, 0)
#define VMSTATE_INT8(_f, _s)   VMSTATE_INT8_V(_f, _s, 0)
#define VMSTATE_INT16(_f, _s)  VMSTATE_INT16_V(_f, _s, 0)
#define VMSTATE_INT32(_f, _s)  VMSTATE_INT32_V(_f, _s, 0)
#define VMSTATE_INT64(_f, _s)  VMSTATE_INT64_V(_f, _s, 0)
#define VMSTATE_UINT8(_f, _s)  VMSTATE_UINT8_V(_f, _s, 0)
#define VMSTATE_UINT16(_f, _s) VMSTATE_UINT16_V(_f, _s, 0)
#define VMSTATE_UINT32(_f, _s) VMSTATE_UINT32_V(_f, _s, 0)
#define VMSTATE_UINT64(_f, _s) VMSTATE_UINT64_V(_f, _s, 0)

#define VMSTATE_UINT32_TEST(_f, _s, _t) \
    VMSTATE_SINGLE_TEST(_f, _s, _t, 0, vmstate_info_uint32, uint32_t)
/* Loading checks that the stream's value equals the destination's. */
#define VMSTATE_UINT32_EQUAL(_f, _s) \
    VMSTATE_SINGLE(_f, _s, 0, vmstate_info_uint32_equal, uint32_t)

/* Fixed arrays */
#define VMSTATE_UINT8_ARRAY_V(_f, _s, _n, _v) \
    VMSTATE_ARRAY(_f, _s, _n, _v, vmstate_info_uint8, uint8_t)
#define VMSTATE_UINT16_ARRAY_V(_f, _s, _n, _v) \
    VMSTATE_ARRAY(_f, _s, _n, _v, vmstate_info_uint16, uint16_t)
#define VMSTATE_UINT32_ARRAY_V(_f, _s, _n, _v) \
    VMSTATE_ARRAY(_f, _s, _n, _v, vmstate_info_uint32, uint32_t)
#define VMSTATE_UINT64_ARRAY_V(_f, _s, _n, _v) \
    VMSTATE_ARRAY(_f, _s, _n, _v, vmstate_info_uint64, uint64_t)
#define VMSTATE_INT32_ARRAY_V(_f, _s, _n, _v) \
    VMSTATE_ARRAY(_f, _s, _n, _v, vmstate_info_int32, int32_t)
#define VMSTATE_INT64_ARRAY_V(_f, _s, _n, _v) \
    VMSTATE_ARRAY(_f, _s, _n, _v, vmstate_info_int64, int64_t)

#define VMSTATE_UINT8_ARRAY(_f, _s, _n)  VMSTATE_UINT8_ARRAY_V(_f, _s, _n, 0)
#define VMSTATE_UINT16_ARRAY(_f, _s, _n) VMSTATE_UINT16_ARRAY_V(_f, _s, _n, 0)
#define VMSTATE_UINT32_ARRAY(_f, _s, _n) VMSTATE_UINT32_ARRAY_V(_f, _s, _n, 0)
#define VMSTATE_UINT64_ARRAY(_f, _s, _n) VMSTATE_UINT64_ARRAY_V(_f, _s, _n, 0)
#define VMSTATE_INT32_ARRAY(_f, _s, _n)  VMSTATE_INT32_ARRAY_V(_f, _s, _n, 0)
#define VMSTATE_INT64_ARRAY(_f, _s, _n)  VMSTATE_INT64_ARRAY_V(_f, _s, _n, 0)

/*
 * Write @opaque's state as described by @vmsd (its version_id) to @f.
 *
 * @vmdesc, if not NULL, is a JsonBuilder positioned inside an object the
 * caller opened (savevm adds "name" and "instance_id" to it); this adds
 * "vmsd_name", "version", "fields" and, when any is sent, "subsections":
 * the description QEMU's analyze-migration.py reads.  After a failure the
 * builder is left unbalanced: discard it.
 *
 * Fails if the description is unmigratable, a hook fails, a value cannot
 * be represented, or @f has an error.
 */
bool vmstate_save_state(QEMUFile *f, const VMStateDescription *vmsd,
                        void *opaque, JsonBuilder *vmdesc, Error **errp);

/*
 * Read state saved with version @version_id of @vmsd into @opaque.
 * Fails, naming the description (and field), on an unsupported version,
 * an unknown or repeated subsection, an out-of-range count or value, a
 * failing hook, or a stream error.  All or nothing: on failure every
 * field @vmsd describes (structs and subsections included) holds again
 * what it held before the call, so a refused value never stays in the
 * device.  Hooks that change anything else must not fail after doing so
 * (post_load: check first, then derive).
 */
bool vmstate_load_state(QEMUFile *f, const VMStateDescription *vmsd,
                        void *opaque, int version_id, Error **errp);

/* Whether a subsection (or section) is to be sent: needed() or no hook. */
bool vmstate_section_needed(const VMStateDescription *vmsd, void *opaque);

#endif /* MIGRATION_VMSTATE_H */
