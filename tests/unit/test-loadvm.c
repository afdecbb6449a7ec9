/*
 * The stream loader (migration/savevm.c) on hand-made streams: where
 * each kind of section and command may come (main stream, postcopy
 * package, after RUN), section names as counted bytes, and the version
 * PART and END sections are loaded with.
 *
 * Postcopy is a stand-in here: LISTEN and RUN only change a state, and
 * "waiting for the listen thread" loads the rest of the main stream in
 * this thread (qemu_loadvm_state_listen(), as the listen thread would).
 * The real thing runs in tests/qtest/loadvm-test.c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "hw/boards.h"
#include "qemu/uuid.h"
#include "system/system.h"
#include "io/channel-buffer.h"
#include "migration/register.h"
#include "migration/vmstate.h"
#include "../../migration/options.h"
#include "../../migration/savevm.h"
#include "../../migration/return-path.h"
#include "../../migration/postcopy-ram.h"
#include "../../migration/postcopy-recover.h"
#include "../qtest/stream-bytes.h"

#define MACHINE "pc-i440fx"

/* ---- stand-ins for what savevm.c calls ---- */

static PostcopyIncomingState stub_pc_state;
static QEMUFile *stub_main;

const char *machine_type_name(void)
{
    return MACHINE;
}

/* -uuid and the validate-uuid capability (set per case). */
uint8_t qemu_uuid[16];
bool qemu_uuid_set;
static bool stub_validate_uuid;

bool migrate_validate_uuid(void)
{
    return stub_validate_uuid;
}

/* mapped-ram, the one capability the configuration checks (per case). */
static bool stub_mapped_ram;

bool migrate_capability(MigrationCapability cap)
{
    return cap == MIGRATION_CAPABILITY_MAPPED_RAM && stub_mapped_ram;
}

const char *migration_capability_name(MigrationCapability cap)
{
    return cap == MIGRATION_CAPABILITY_MAPPED_RAM ? "mapped-ram" : "other";
}

int migration_capability_lookup(const char *name)
{
    return !strcmp(name, "mapped-ram") ? MIGRATION_CAPABILITY_MAPPED_RAM :
           !strcmp(name, "xbzrle") ? MIGRATION_CAPABILITY_XBZRLE : -1;
}

void migration_rp_send_end_ping(QEMUFile *f)
{
}

bool migration_incoming_rp_open(QEMUFile *from_src, uint16_t len,
                                Error **errp)
{
    return true;
}

bool migration_incoming_rp_ping(QEMUFile *from_src, uint16_t len,
                                Error **errp)
{
    qemu_get_be32(from_src);
    return qemu_file_get_error_obj(from_src, errp) == 0;
}

uint64_t postcopy_pagesize_summary(void)
{
    return 4096;
}

PostcopyIncomingState postcopy_incoming_state(void)
{
    return stub_pc_state;
}

bool postcopy_incoming_advise(QEMUFile *f, uint16_t len, Error **errp)
{
    qemu_file_skip(f, len);
    stub_pc_state = POSTCOPY_INCOMING_ADVISE;
    return true;
}

bool postcopy_incoming_discard(QEMUFile *f, uint16_t len, Error **errp)
{
    qemu_file_skip(f, len);
    return true;
}

bool postcopy_incoming_listen(QEMUFile *main, uint16_t len, Error **errp)
{
    stub_main = main;
    stub_pc_state = POSTCOPY_INCOMING_LISTENING;
    return true;
}

bool postcopy_incoming_run(uint16_t len, Error **errp)
{
    stub_pc_state = POSTCOPY_INCOMING_RUNNING;
    return true;
}

bool postcopy_incoming_resume(uint16_t len, Error **errp)
{
    return true;
}

bool postcopy_incoming_recv_bitmap(QEMUFile *f, uint16_t len, Error **errp)
{
    qemu_file_skip(f, len);
    return true;
}

/* The listen thread's work, done here. */
bool postcopy_incoming_wait(Error **errp)
{
    bool ok = qemu_loadvm_state_listen(stub_main, errp);

    stub_pc_state = POSTCOPY_INCOMING_END;
    return ok;
}

/* ---- the participants ---- */

#define LIVE_VERSION 3

/* Versions "live" was loaded with, in order. */
static GArray *live_versions;

static bool live_load_state(QEMUFile *f, void *opaque, int version_id,
                            Error **errp)
{
    g_array_append_val(live_versions, version_id);
    if (qemu_get_be32(f) != 0x11223344) {
        error_setg(errp, "live: bad marker");
        return false;
    }
    return true;
}

static bool live_postcopy_prepare(QEMUFile *f, void *opaque, Error **errp)
{
    return true;
}

/* A live section with a postcopy path (like "ram")... */
static const SaveVMHandlers live_handlers = {
    .save_postcopy_prepare = live_postcopy_prepare,
    .load_state = live_load_state,
};

/* ...and one without (like "block"). */
static const SaveVMHandlers nopc_handlers = {
    .load_state = live_load_state,
};

typedef struct Dev {
    uint32_t v;
} Dev;

static Dev dev;

static const VMStateDescription vmstate_dev = {
    .name = "dev",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(v, Dev),
        VMSTATE_END_OF_LIST()
    },
};

/* ---- stream bytes ---- */

static void put_header(GByteArray *a)
{
    put_be32(a, QEMU_VM_FILE_MAGIC);
    put_be32(a, QEMU_VM_FILE_VERSION);
    put_u8(a, QEMU_VM_CONFIGURATION);
    put_be32(a, strlen(MACHINE));
    g_byte_array_append(a, (const uint8_t *)MACHINE, strlen(MACHINE));
}

/* START or FULL of @name (@len bytes, NULs allowed) with a u32 body. */
static void put_section_named(GByteArray *a, uint8_t type, uint32_t id,
                              const char *name, size_t len, uint32_t version,
                              uint32_t body)
{
    put_u8(a, type);
    put_be32(a, id);
    put_counted(a, name, len);
    put_be32(a, 0);
    put_be32(a, version);
    put_be32(a, body);
    put_u8(a, QEMU_VM_SECTION_FOOTER);
    put_be32(a, id);
}

static void put_section(GByteArray *a, uint8_t type, uint32_t id,
                        const char *name, uint32_t version, uint32_t body)
{
    put_section_named(a, type, id, name, strlen(name), version, body);
}

/* PART or END of live section @id. */
static void put_part(GByteArray *a, uint8_t type, uint32_t id)
{
    put_u8(a, type);
    put_be32(a, id);
    put_be32(a, 0x11223344);
    put_u8(a, QEMU_VM_SECTION_FOOTER);
    put_be32(a, id);
}

static void put_ping(GByteArray *a)
{
    put_cmd(a, MIG_CMD_PING, 4);
    put_be32(a, 7);
}

/* QEMU's configuration/uuid subsection, right after the machine type. */
static void put_uuid_subsection(GByteArray *a, const char *uuid)
{
    uint8_t bytes[UUID_LEN];
    const char *name = "configuration/uuid";

    g_assert_true(qemu_uuid_parse(uuid, bytes));
    put_u8(a, QEMU_VM_SUBSECTION);
    put_counted(a, name, strlen(name));
    put_be32(a, 1);
    g_byte_array_append(a, bytes, UUID_LEN);
}

/* QEMU's configuration/capabilities subsection listing @names. */
static void put_caps_subsection(GByteArray *a, const char *const *names,
                                uint32_t n)
{
    const char *name = "configuration/capabilities";

    put_u8(a, QEMU_VM_SUBSECTION);
    put_counted(a, name, strlen(name));
    put_be32(a, 1);
    put_be32(a, n);
    for (uint32_t i = 0; i < n; i++) {
        put_counted(a, names[i], strlen(names[i]));
    }
}

/* ---- running the loader ---- */

static bool load(GByteArray *a, Error **errp)
{
    QIOChannel *ioc = qio_channel_buffer_new_data(a->data, a->len);
    QEMUFile *f = qemu_file_new_input(ioc);
    bool ok;

    qio_channel_unref(ioc);
    stub_pc_state = POSTCOPY_INCOMING_NONE;
    stub_main = NULL;
    g_array_set_size(live_versions, 0);
    ok = qemu_loadvm_state(f, errp);
    qemu_fclose(f);
    return ok;
}

static void load_ok(GByteArray *a)
{
    load(a, &error_abort);
}

static void load_fails(GByteArray *a, const char *needle)
{
    Error *err = NULL;

    g_assert_false(load(a, &err));
    g_assert_nonnull(err);
    if (!strstr(error_get_pretty(err), needle)) {
        g_error("error '%s' does not mention '%s'", error_get_pretty(err),
                needle);
    }
    error_free(err);
}

/* ---- cases ---- */

/* PART and END go on in the format their START announced. */
static void test_part_end_version(void)
{
    g_autoptr(GByteArray) a = g_byte_array_new();

    put_header(a);
    put_section(a, QEMU_VM_SECTION_START, 5, "live", 2, 0x11223344);
    put_part(a, QEMU_VM_SECTION_PART, 5);
    put_part(a, QEMU_VM_SECTION_END, 5);
    put_u8(a, QEMU_VM_EOF);
    load_ok(a);
    g_assert_cmpuint(live_versions->len, ==, 3);
    for (guint i = 0; i < live_versions->len; i++) {
        g_assert_cmpint(g_array_index(live_versions, int, i), ==, 2);
    }
}

/* "dev\0" is not "dev": refused by name, nothing loaded. */
static void test_section_name_nul(void)
{
    g_autoptr(GByteArray) a = g_byte_array_new();

    dev.v = 1;
    put_header(a);
    put_section_named(a, QEMU_VM_SECTION_FULL, 5, "dev\0x", 5, 1, 99);
    put_u8(a, QEMU_VM_EOF);
    load_fails(a, "name 'dev' is followed by a NUL byte");
    g_assert_cmpuint(dev.v, ==, 1);

    g_byte_array_set_size(a, 0);
    put_header(a);
    put_section(a, QEMU_VM_SECTION_FULL, 5, "dev", 1, 99);
    put_u8(a, QEMU_VM_EOF);
    load_ok(a);
    g_assert_cmpuint(dev.v, ==, 99);
}

/*
 * The main stream before the package: live START of "live", then a
 * package of LISTEN, @inner (if not NULL), PING, RUN; then @after.
 */
static GByteArray *postcopy_stream(GByteArray *inner, GByteArray *after)
{
    GByteArray *a = g_byte_array_new();
    g_autoptr(GByteArray) pkg = g_byte_array_new();

    put_header(a);
    put_cmd(a, MIG_CMD_POSTCOPY_ADVISE, 16);
    for (int i = 0; i < 16; i++) {
        put_u8(a, 0);
    }
    put_section(a, QEMU_VM_SECTION_START, 5, "live", 1, 0x11223344);
    put_section(a, QEMU_VM_SECTION_START, 6, "nopc", 1, 0x11223344);
    put_cmd(pkg, MIG_CMD_POSTCOPY_LISTEN, 0);
    if (inner) {
        g_byte_array_append(pkg, inner->data, inner->len);
    }
    put_ping(pkg);
    put_cmd(pkg, MIG_CMD_POSTCOPY_RUN, 0);
    put_packaged(a, pkg);
    if (after) {
        g_byte_array_append(a, after->data, after->len);
    }
    return a;
}

static void test_postcopy_allowed(void)
{
    g_autoptr(GByteArray) inner = g_byte_array_new();
    g_autoptr(GByteArray) after = g_byte_array_new();
    g_autoptr(GByteArray) a = NULL;

    put_section(inner, QEMU_VM_SECTION_FULL, 7, "dev", 1, 42);
    put_part(after, QEMU_VM_SECTION_PART, 5);
    put_ping(after);
    put_cmd(after, MIG_CMD_POSTCOPY_RESUME, 0);
    put_part(after, QEMU_VM_SECTION_END, 5);
    put_u8(after, QEMU_VM_EOF);
    a = postcopy_stream(inner, after);
    load_ok(a);
    g_assert_cmpuint(dev.v, ==, 42);
    g_assert_cmpuint(live_versions->len, ==, 4);
}

/* One thing (@put) that may not come in the package or after RUN. */
static void postcopy_refuses(bool in_package, void (*put)(GByteArray *),
                             const char *needle)
{
    g_autoptr(GByteArray) thing = g_byte_array_new();
    g_autoptr(GByteArray) eof = g_byte_array_new();
    g_autoptr(GByteArray) a = NULL;

    put(thing);
    put_u8(eof, QEMU_VM_EOF);
    if (!in_package) {
        g_byte_array_append(thing, eof->data, eof->len);
    }
    a = in_package ? postcopy_stream(thing, eof)
                   : postcopy_stream(NULL, thing);
    load_fails(a, needle);
}

static void put_live_start(GByteArray *a)
{
    put_section(a, QEMU_VM_SECTION_START, 9, "live", 1, 0x11223344);
}

static void put_live_part(GByteArray *a)
{
    put_part(a, QEMU_VM_SECTION_PART, 5);
}

static void put_nopc_part(GByteArray *a)
{
    put_part(a, QEMU_VM_SECTION_PART, 6);
}

static void put_dev_full(GByteArray *a)
{
    put_section(a, QEMU_VM_SECTION_FULL, 9, "dev", 1, 13);
}

static void put_advise(GByteArray *a)
{
    put_cmd(a, MIG_CMD_POSTCOPY_ADVISE, 0);
}

static void put_open_rp(GByteArray *a)
{
    put_cmd(a, MIG_CMD_OPEN_RETURN_PATH, 0);
}

static void put_listen(GByteArray *a)
{
    put_cmd(a, MIG_CMD_POSTCOPY_LISTEN, 0);
}

static void put_second_package(GByteArray *a)
{
    g_autoptr(GByteArray) pkg = g_byte_array_new();

    put_cmd(pkg, MIG_CMD_POSTCOPY_RUN, 0);
    put_packaged(a, pkg);
}

static void put_eof(GByteArray *a)
{
    put_u8(a, QEMU_VM_EOF);
}

static void test_package_rules(void)
{
    static const char pkg[] = "not allowed in a postcopy package";

    postcopy_refuses(true, put_live_start, pkg);
    postcopy_refuses(true, put_live_part, pkg);
    postcopy_refuses(true, put_advise, pkg);
    postcopy_refuses(true, put_open_rp, pkg);
    postcopy_refuses(true, put_second_package, pkg);
    postcopy_refuses(true, put_eof, "ended without CMD_POSTCOPY_RUN");
}

static void test_after_run_rules(void)
{
    static const char run[] = "not allowed after CMD_POSTCOPY_RUN";

    dev.v = 1;
    postcopy_refuses(false, put_dev_full, run);
    g_assert_cmpuint(dev.v, ==, 1);
    postcopy_refuses(false, put_live_start, run);
    postcopy_refuses(false, put_nopc_part, "section 'nopc' (SECTION_PART) "
                     "is not allowed after CMD_POSTCOPY_RUN");
    postcopy_refuses(false, put_advise, run);
    postcopy_refuses(false, put_listen, run);
    postcopy_refuses(false, put_second_package, run);
}

/* LISTEN and RUN belong in a package. */
static void test_main_rules(void)
{
    g_autoptr(GByteArray) a = g_byte_array_new();

    put_header(a);
    put_listen(a);
    load_fails(a, "migration command 4 is not allowed in the main stream");
}

#define UUID_A "4f2c6d1e-8a3b-4c5d-9e0f-112233445566"
#define UUID_B "4f2c6d1e-8a3b-4c5d-9e0f-112233445567"

/* A stream from the VM with this UUID loads; from another one it does not. */
static void test_config_uuid(void)
{
    g_autoptr(GByteArray) a = g_byte_array_new();
    g_autoptr(GByteArray) b = g_byte_array_new();
    g_autoptr(GByteArray) c = g_byte_array_new();

    g_assert_true(qemu_uuid_parse(UUID_A, qemu_uuid));
    qemu_uuid_set = true;
    put_header(a);
    put_uuid_subsection(a, UUID_A);
    put_u8(a, QEMU_VM_EOF);
    load_ok(a);

    put_header(b);
    put_uuid_subsection(b, UUID_B);
    put_u8(b, QEMU_VM_EOF);
    load_fails(b, "UUID received is " UUID_B " and local is " UUID_A);

    /* Without a local -uuid there is nothing to compare: QEMU loads it. */
    qemu_uuid_set = false;
    memset(qemu_uuid, 0, sizeof(qemu_uuid));
    load_ok(b);

    /* A subsection the configuration does not have is refused. */
    put_header(c);
    put_u8(c, QEMU_VM_SUBSECTION);
    put_counted(c, "configuration/bogus", 19);
    put_be32(c, 1);
    put_u8(c, QEMU_VM_EOF);
    load_fails(c, "unknown subsection 'configuration/bogus'");
}

/* Check that qemu_savevm_state_header() writes exactly @want. */
static void check_saved_header(GByteArray *want)
{
    QIOChannel *ioc = qio_channel_buffer_new(256);
    QEMUFile *f = qemu_file_new_output(ioc);
    g_autofree uint8_t *got = NULL;
    size_t len;

    qemu_savevm_state_header(f);
    qemu_fflush(f);
    got = qio_channel_buffer_dup_data(ioc, &len);
    g_assert_cmpmem(got, len, want->data, want->len);
    qemu_fclose(f);
    qio_channel_unref(ioc);
}

/* The source writes the subsection only with validate-uuid and -uuid. */
static void test_config_uuid_save(void)
{
    for (int i = 0; i < 4; i++) {
        g_autoptr(GByteArray) want = g_byte_array_new();

        stub_validate_uuid = i & 1;
        qemu_uuid_set = i & 2;
        g_assert_true(qemu_uuid_parse(UUID_A, qemu_uuid));
        put_header(want);
        if (stub_validate_uuid && qemu_uuid_set) {
            put_uuid_subsection(want, UUID_A);
        }
        check_saved_header(want);
    }
    stub_validate_uuid = false;
    qemu_uuid_set = false;
    memset(qemu_uuid, 0, sizeof(qemu_uuid));
}

/* A header with the capabilities subsection listing @names. */
static GByteArray *caps_stream(const char *const *names, uint32_t n)
{
    GByteArray *a = g_byte_array_new();

    put_header(a);
    put_caps_subsection(a, names, n);
    put_u8(a, QEMU_VM_EOF);
    return a;
}

/*
 * mapped-ram changes the RAM section's format: a stream saved with it
 * loads only with it, and the reverse; other names are refused.
 */
static void test_config_caps(void)
{
    static const char *const mapped[] = { "mapped-ram" };
    static const char *const unknown[] = { "no-such-cap" };
    static const char *const other[] = { "xbzrle" };
    g_autoptr(GByteArray) plain = g_byte_array_new();
    g_autoptr(GByteArray) with = caps_stream(mapped, 1);
    g_autoptr(GByteArray) bad = caps_stream(unknown, 1);
    g_autoptr(GByteArray) none = caps_stream(mapped, 0);
    g_autoptr(GByteArray) xbzrle = caps_stream(other, 1);
    g_autoptr(GByteArray) huge = g_byte_array_new();

    put_header(plain);
    put_u8(plain, QEMU_VM_EOF);
    stub_mapped_ram = false;
    load_ok(plain);
    load_ok(none);
    load_ok(xbzrle);
    load_fails(with, "Capability mapped-ram is off here, but the stream was "
               "saved with it on");
    load_fails(bad, "Received unknown capability 'no-such-cap'");
    stub_mapped_ram = true;
    load_ok(with);
    load_fails(plain, "Capability mapped-ram is on here, but the stream was "
               "saved with it off");
    load_fails(none, "saved with it off");
    /* A count past what the configuration can hold. */
    put_header(huge);
    put_caps_subsection(huge, mapped, 1);
    huge->data[huge->len - 1 - strlen("mapped-ram") - 1 - 3] = 0x10;
    put_u8(huge, QEMU_VM_EOF);
    load_fails(huge, "");
    stub_mapped_ram = false;
}

/* The source lists mapped-ram when it is on, and writes nothing else. */
static void test_config_caps_save(void)
{
    static const char *const mapped[] = { "mapped-ram" };

    for (int on = 0; on < 2; on++) {
        g_autoptr(GByteArray) want = g_byte_array_new();

        stub_mapped_ram = on;
        put_header(want);
        if (on) {
            put_caps_subsection(want, mapped, 1);
        }
        check_saved_header(want);
    }
    stub_mapped_ram = false;
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    live_versions = g_array_new(FALSE, FALSE, sizeof(int));
    g_assert_cmpint(register_savevm_live("live", 0, LIVE_VERSION,
                                         &live_handlers, NULL), >=, 0);
    g_assert_cmpint(register_savevm_live("nopc", 0, LIVE_VERSION,
                                         &nopc_handlers, NULL), >=, 0);
    g_assert_cmpint(vmstate_register(0, &vmstate_dev, &dev), >=, 0);
    g_test_add_func("/loadvm/part-end-version", test_part_end_version);
    g_test_add_func("/loadvm/section-name-nul", test_section_name_nul);
    g_test_add_func("/loadvm/postcopy/allowed", test_postcopy_allowed);
    g_test_add_func("/loadvm/postcopy/package-rules", test_package_rules);
    g_test_add_func("/loadvm/postcopy/after-run-rules", test_after_run_rules);
    g_test_add_func("/loadvm/main-rules", test_main_rules);
    g_test_add_func("/loadvm/config/uuid", test_config_uuid);
    g_test_add_func("/loadvm/config/uuid-save", test_config_uuid_save);
    g_test_add_func("/loadvm/config/caps", test_config_caps);
    g_test_add_func("/loadvm/config/caps-save", test_config_caps_save);
    return g_test_run();
}
