/*
 * The VFIO migration core without a transport: the state-arc walker, the
 * vfio section's framing, what a hostile section does to the loader, and
 * the failure path of a device that refuses a transition.
 *
 * The device here is a table of VFIODeviceOps over a byte array that
 * accepts only single FSM arcs (so a walker that skips an intermediate
 * state fails), and can be told to fail one arc.  The real transports are
 * exercised end to end by tests/qtest/vfio-user-test.c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "hw/vfio/vfio-device.h"
#include "io/channel-buffer.h"
#include "migration/qemu-file.h"

/* ---- a device in memory ---- */

typedef struct TestDev {
    VFIODevice vdev;
    GByteArray *state;          /* the device's internal state */
    GByteArray *loaded;         /* what RESUMING received */
    size_t read_pos;            /* position in the saving session */
    size_t precopy_len;         /* bytes offered in PRE_COPY */
    VFIOMigState fail_to;       /* arc into this state fails (0: none) */
    bool fail_to_error;         /* ... leaving the device in ERROR */
    bool reject_on_stop;        /* RESUMING -> STOP rejects the data */
    unsigned arcs;
    unsigned resets;
    GString *path;              /* every state entered, comma-separated */
    /*
     * Writes from a thread other than @loading_thread (multifd's loader)
     * happened; and one of @loading_thread's came after such a write.
     */
    GThread *loading_thread;
    bool other_wrote;
    bool loading_after_other;
} TestDev;

static TestDev *test_dev(VFIODevice *vdev)
{
    return vdev->opaque;
}

static bool td_flags(VFIODevice *vdev, uint64_t *flags, Error **errp)
{
    *flags = vdev->mig_flags;
    return true;
}

static bool td_set_state(VFIODevice *vdev, VFIOMigState s, Error **errp)
{
    TestDev *td = test_dev(vdev);
    VFIOMigState cur = vdev->state;

    /* One arc only: the next step towards @s must be @s itself. */
    if (vfio_mig_next_state(cur, s, vdev->mig_flags) != s) {
        error_setg(errp, "not a single arc: %s -> %s",
                   vfio_mig_state_name(cur), vfio_mig_state_name(s));
        return false;
    }
    if (td->fail_to == s) {
        if (td->fail_to_error) {
            vdev->state = VFIO_MIG_STATE_ERROR;
        }
        error_setg(errp, "injected failure entering %s",
                   vfio_mig_state_name(s));
        return false;
    }
    if (cur == VFIO_MIG_STATE_RESUMING && td->reject_on_stop) {
        error_setg(errp, "device data rejected");
        return false;
    }
    if (cur == VFIO_MIG_STATE_RESUMING) {
        g_byte_array_set_size(td->state, 0);
        g_byte_array_append(td->state, td->loaded->data, td->loaded->len);
    }
    if (s == VFIO_MIG_STATE_RESUMING) {
        g_byte_array_set_size(td->loaded, 0);
    }
    /* PRE_COPY offers a prefix; STOP_COPY then the whole state again. */
    if (vfio_mig_state_is_saving(s)) {
        td->read_pos = 0;
    }
    td->arcs++;
    g_string_append_printf(td->path, "%s%s", td->path->len ? "," : "",
                           vfio_mig_state_name(s));
    return true;
}

static bool td_get_state(VFIODevice *vdev, VFIOMigState *s, Error **errp)
{
    TestDev *td = test_dev(vdev);

    /* After an injected failure the device stays where it was, or ERROR. */
    *s = td->fail_to_error ? VFIO_MIG_STATE_ERROR : vdev->state;
    return true;
}

static bool td_reset(VFIODevice *vdev, Error **errp)
{
    test_dev(vdev)->resets++;
    test_dev(vdev)->fail_to_error = false;
    return true;
}

static ssize_t td_read(VFIODevice *vdev, void *buf, size_t len,
                       Error **errp)
{
    TestDev *td = test_dev(vdev);
    size_t end = vdev->state == VFIO_MIG_STATE_STOP_COPY ?
                 td->state->len : MIN(td->precopy_len, td->state->len);
    size_t n = MIN(len, end - MIN(td->read_pos, end));

    g_assert_true(vfio_mig_state_is_saving(vdev->state));
    memcpy(buf, td->state->data + td->read_pos, n);
    td->read_pos += n;
    return n;
}

static bool td_write(VFIODevice *vdev, const void *buf, size_t len,
                     Error **errp)
{
    TestDev *td = test_dev(vdev);

    g_assert_cmpint(vdev->state, ==, VFIO_MIG_STATE_RESUMING);
    g_byte_array_append(td->loaded, buf, len);
    if (td->loading_thread && g_thread_self() != td->loading_thread) {
        td->other_wrote = true;
    } else if (td->other_wrote) {
        td->loading_after_other = true;
    }
    return true;
}

static bool td_precopy_info(VFIODevice *vdev, uint64_t *init,
                            uint64_t *dirty, Error **errp)
{
    TestDev *td = test_dev(vdev);

    *init = td->precopy_len - MIN(td->read_pos, td->precopy_len);
    *dirty = 0;
    return true;
}

static const VFIODeviceOps td_ops = {
    .get_migration_flags = td_flags,
    .set_state = td_set_state,
    .get_state = td_get_state,
    .reset = td_reset,
    .read_data = td_read,
    .write_data = td_write,
    .get_precopy_info = td_precopy_info,
};

static TestDev *td_new(uint64_t flags, size_t state_len, uint8_t seed)
{
    TestDev *td = g_new0(TestDev, 1);

    td->vdev.name = g_strdup("dev0");
    td->vdev.ops = &td_ops;
    td->vdev.opaque = td;
    td->vdev.mig_flags = flags;
    td->vdev.config = (uint8_t *)g_strdup("test-device v1");
    td->vdev.config_len = strlen("test-device v1");
    vfio_device_init_common(&td->vdev);
    td->state = g_byte_array_new();
    td->loaded = g_byte_array_new();
    td->path = g_string_new("");
    for (size_t i = 0; i < state_len; i++) {
        uint8_t b = seed + i * 7 + (i >> 12);

        g_byte_array_append(td->state, &b, 1);
    }
    return td;
}

static void td_free(TestDev *td)
{
    vfio_device_finalize(&td->vdev);
    g_byte_array_unref(td->state);
    g_byte_array_unref(td->loaded);
    g_string_free(td->path, true);
    g_free(td);
}

/* ---- the walker ---- */

/* The states a walk from @from to @to enters, comma-separated. */
static char *walk(VFIOMigState from, VFIOMigState to, uint64_t flags)
{
    GString *s = g_string_new("");

    for (int i = 0; from != to && i < 10; i++) {
        from = vfio_mig_next_state(from, to, flags);
        g_string_append_printf(s, "%s%s", s->len ? "," : "",
                               vfio_mig_state_name(from));
        if (from == VFIO_MIG_STATE_ERROR) {
            break;
        }
    }
    return g_string_free(s, false);
}

static void check_walk(VFIOMigState from, VFIOMigState to, uint64_t flags,
                       const char *want)
{
    g_autofree char *got = walk(from, to, flags);

    g_assert_cmpstr(got, ==, want);
}

#define SC VFIO_MIG_CAP_STOP_COPY
#define P2P VFIO_MIG_CAP_P2P
#define PRE VFIO_MIG_CAP_PRE_COPY

static void test_arcs(void)
{
    /* Plain STOP_COPY devices: RUNNING and STOP are adjacent. */
    check_walk(VFIO_MIG_STATE_RUNNING, VFIO_MIG_STATE_STOP_COPY, SC,
               "STOP,STOP_COPY");
    check_walk(VFIO_MIG_STATE_STOP_COPY, VFIO_MIG_STATE_RESUMING, SC,
               "STOP,RESUMING");
    check_walk(VFIO_MIG_STATE_RESUMING, VFIO_MIG_STATE_RUNNING, SC,
               "STOP,RUNNING");
    /* With P2P the quiescent state lies between them. */
    check_walk(VFIO_MIG_STATE_RUNNING, VFIO_MIG_STATE_STOP, SC | P2P,
               "RUNNING_P2P,STOP");
    check_walk(VFIO_MIG_STATE_RESUMING, VFIO_MIG_STATE_RUNNING, SC | P2P,
               "STOP,RUNNING_P2P,RUNNING");
    /* PRE_COPY goes straight to STOP_COPY, or through PRE_COPY_P2P. */
    check_walk(VFIO_MIG_STATE_RUNNING, VFIO_MIG_STATE_PRE_COPY, SC | PRE,
               "PRE_COPY");
    check_walk(VFIO_MIG_STATE_PRE_COPY, VFIO_MIG_STATE_STOP_COPY, SC | PRE,
               "STOP_COPY");
    check_walk(VFIO_MIG_STATE_PRE_COPY, VFIO_MIG_STATE_STOP_COPY,
               SC | PRE | P2P, "PRE_COPY_P2P,STOP_COPY");
    check_walk(VFIO_MIG_STATE_PRE_COPY, VFIO_MIG_STATE_RUNNING, SC | PRE,
               "RUNNING");
    /* A state the device does not offer is never a target nor a step. */
    check_walk(VFIO_MIG_STATE_RUNNING, VFIO_MIG_STATE_PRE_COPY, SC,
               "ERROR");
    check_walk(VFIO_MIG_STATE_RUNNING, VFIO_MIG_STATE_RUNNING_P2P, SC,
               "ERROR");
    check_walk(VFIO_MIG_STATE_RUNNING, VFIO_MIG_STATE_STOP, 0, "ERROR");
    check_walk(VFIO_MIG_STATE_RUNNING, VFIO_MIG_STATE_ERROR, SC, "ERROR");
    /* ERROR has no way out but a reset. */
    check_walk(VFIO_MIG_STATE_ERROR, VFIO_MIG_STATE_RUNNING, SC, "ERROR");
}

/* Every pair of states, every flag set: each step is one legal arc. */
static void test_arcs_exhaustive(void)
{
    for (uint64_t flags = SC; flags <= (SC | P2P | PRE); flags += 1) {
        if (!(flags & SC)) {
            continue;
        }
        for (int a = 1; a < VFIO_MIG_STATE__MAX; a++) {
            for (int b = 1; b < VFIO_MIG_STATE__MAX; b++) {
                VFIOMigState s = a;
                int steps = 0;

                if (!vfio_mig_state_supported(a, flags) ||
                    !vfio_mig_state_supported(b, flags)) {
                    continue;
                }
                while (s != (VFIOMigState)b) {
                    VFIOMigState n = vfio_mig_next_state(s, b, flags);

                    g_assert_cmpint(n, !=, VFIO_MIG_STATE_ERROR);
                    g_assert_true(vfio_mig_state_supported(n, flags));
                    /* A single arc: its own next step is itself. */
                    g_assert_cmpint(vfio_mig_next_state(s, n, flags), ==, n);
                    s = n;
                    g_assert_cmpint(++steps, <=, 4);
                }
            }
        }
    }
}

/* The device sees the intermediate states, one arc per call. */
static void test_set_state_walks(void)
{
    TestDev *td = td_new(SC | P2P, 0, 0);

    g_assert_true(vfio_mig_set_state(&td->vdev, VFIO_MIG_STATE_STOP_COPY,
                                     VFIO_MIG_STATE_RUNNING, &error_abort));
    g_assert_cmpstr(td->path->str, ==, "RUNNING_P2P,STOP,STOP_COPY");
    g_assert_cmpint(td->vdev.state, ==, VFIO_MIG_STATE_STOP_COPY);
    td_free(td);
}

/* A failed arc: back to the recovery state, or reset if that fails. */
static void test_set_state_recovers(void)
{
    TestDev *td = td_new(SC, 0, 0);
    Error *err = NULL;

    td->fail_to = VFIO_MIG_STATE_STOP_COPY;
    g_assert_false(vfio_mig_set_state(&td->vdev, VFIO_MIG_STATE_STOP_COPY,
                                      VFIO_MIG_STATE_RUNNING, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "STOP -> STOP_COPY"));
    error_free(err);
    err = NULL;
    g_assert_cmpint(td->vdev.state, ==, VFIO_MIG_STATE_RUNNING);
    g_assert_cmpint(td->resets, ==, 0);

    /* Left in ERROR: only a reset helps, and it is done. */
    td->fail_to_error = true;
    g_assert_false(vfio_mig_set_state(&td->vdev, VFIO_MIG_STATE_STOP_COPY,
                                      VFIO_MIG_STATE_RUNNING, &err));
    error_free(err);
    g_assert_cmpint(td->resets, ==, 1);
    g_assert_cmpint(td->vdev.state, ==, VFIO_MIG_STATE_RUNNING);
    td_free(td);
}

/* ---- the section ---- */

static QEMUFile *out_file(QIOChannel **ioc)
{
    *ioc = qio_channel_buffer_new(4096);
    return qemu_file_new_output(*ioc);
}

static GByteArray *out_bytes(QEMUFile *f, QIOChannel *ioc)
{
    size_t len;
    uint8_t *data;

    qemu_fflush(f);
    data = qio_channel_buffer_dup_data(ioc, &len);
    qemu_fclose(f);
    qio_channel_unref(ioc);
    return g_byte_array_new_take(data, len);
}

/*
 * A whole migration of @src's section: setup, iterations while running
 * (precopy), the VM stop at switchover, completion, cleanup.  Returns
 * the section payloads, concatenated (each ends with END_OF_STATE).
 */
static GByteArray *save_all(TestDev *src)
{
    QIOChannel *ioc;
    QEMUFile *f = out_file(&ioc);
    uint64_t must = 0, can = 0;

    g_assert_true(vfio_save_setup(f, &src->vdev, &error_abort));
    vfio_state_pending_exact(&src->vdev, &must, &can);
    g_assert_cmpuint(must, ==, src->precopy_len);
    while (vfio_save_iterate(f, &src->vdev) == 0) {
        /* rate limit off: one call drains it */
    }
    must = 0;
    vfio_state_pending_exact(&src->vdev, &must, &can);
    g_assert_cmpuint(must, ==, 0);
    vfio_vm_state_change(&src->vdev, false, true);
    g_assert_cmpint(src->vdev.state, ==, VFIO_MIG_STATE_STOP_COPY);
    g_assert_true(vfio_save_complete_precopy(f, &src->vdev, &error_abort));
    vfio_save_cleanup(&src->vdev);
    return out_bytes(f, ioc);
}

static bool load_all(TestDev *dst, GByteArray *a, unsigned sections,
                     Error **errp)
{
    QIOChannel *ioc = qio_channel_buffer_new_data(a->data, a->len);
    QEMUFile *f = qemu_file_new_input(ioc);
    bool ok;

    qio_channel_unref(ioc);
    ok = vfio_load_setup(f, &dst->vdev, errp);
    for (unsigned i = 0; ok && i < sections; i++) {
        ok = vfio_load_state(f, &dst->vdev, 1, errp);
    }
    vfio_load_cleanup(&dst->vdev);
    qemu_fclose(f);
    return ok;
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

/* Walk the records and check the framing QEMU's layout prescribes. */
static void check_framing(GByteArray *a, size_t want_data)
{
    size_t pos = 0, data = 0;
    unsigned ends = 0, setups = 0, configs = 0;

    while (pos < a->len) {
        uint64_t flag = get_be64(a->data + pos);

        pos += 8;
        switch (flag) {
        case VFIO_MIG_FLAG_END_OF_STATE:
            ends++;
            break;
        case VFIO_MIG_FLAG_DEV_SETUP_STATE:
            g_assert_cmpuint(pos, ==, 8);   /* the very first record */
            setups++;
            break;
        case VFIO_MIG_FLAG_DEV_DATA_STATE: {
            uint64_t len = get_be64(a->data + pos);

            g_assert_cmpuint(len, >, 0);
            g_assert_cmpuint(len, <=, VFIO_MIG_DATA_CHUNK);
            pos += 8 + len;
            data += len;
            break;
        }
        case VFIO_MIG_FLAG_DEV_CONFIG_STATE:
            pos += 4 + strlen("test-device v1");
            configs++;
            /* Last: only END_OF_STATE follows. */
            g_assert_cmpuint(pos + 8, ==, a->len);
            break;
        default:
            g_error("unexpected record 0x%" PRIx64 " at %zu", flag, pos - 8);
        }
    }
    g_assert_cmpuint(pos, ==, a->len);
    g_assert_cmpuint(setups, ==, 1);
    g_assert_cmpuint(configs, ==, 1);
    g_assert_cmpuint(ends, >=, 3);     /* setup, >= 1 iteration, complete */
    g_assert_cmpuint(data, ==, want_data);
}

/* A section per call of the loader: setup, iterations, complete. */
static unsigned count_sections(GByteArray *a)
{
    unsigned n = 0;

    for (size_t pos = 0; pos + 8 <= a->len; ) {
        uint64_t flag = get_be64(a->data + pos);

        pos += 8;
        if (flag == VFIO_MIG_FLAG_END_OF_STATE) {
            n++;
        } else if (flag == VFIO_MIG_FLAG_DEV_DATA_STATE) {
            pos += 8 + get_be64(a->data + pos);
        } else if (flag == VFIO_MIG_FLAG_DEV_CONFIG_STATE) {
            pos += 4 + strlen("test-device v1");
        } else if (flag == VFIO_MIG_FLAG_DEV_MULTIFD_STATE) {
            pos += 4;
        }
    }
    return n;
}

static void test_roundtrip(uint64_t flags, size_t len, size_t precopy)
{
    TestDev *src = td_new(flags, len, 3);
    TestDev *dst = td_new(flags, 0, 0);
    g_autoptr(GByteArray) a = NULL;

    src->precopy_len = precopy;
    a = save_all(src);
    /* Precopy bytes once, and the whole state again at stop-copy. */
    check_framing(a, precopy + len);
    g_assert_cmpint(src->vdev.state, ==, VFIO_MIG_STATE_STOP);
    g_assert_true(load_all(dst, a, count_sections(a), &error_abort));
    g_assert_cmpint(dst->vdev.state, ==, VFIO_MIG_STATE_STOP);
    g_assert_cmpmem(dst->loaded->data, dst->loaded->len - len,
                    src->state->data, precopy);
    g_assert_cmpmem(dst->state->data, dst->state->len,
                    dst->loaded->data, dst->loaded->len);
    /* The guest runs on the destination: the device too. */
    vfio_vm_state_change(&dst->vdev, true, false);
    g_assert_cmpint(dst->vdev.state, ==, VFIO_MIG_STATE_RUNNING);
    td_free(src);
    td_free(dst);
}

static void test_roundtrip_stop_copy(void)
{
    test_roundtrip(SC, 3 * VFIO_MIG_DATA_CHUNK + 123, 0);
}

static void test_roundtrip_precopy(void)
{
    test_roundtrip(SC | PRE | P2P, 2 * VFIO_MIG_DATA_CHUNK + 5,
                   VFIO_MIG_DATA_CHUNK + 17);
}

/* ---- hostile sections ---- */

static void put_be64(GByteArray *a, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        uint8_t b = v >> (i * 8);

        g_byte_array_append(a, &b, 1);
    }
}

static void put_be32(GByteArray *a, uint32_t v)
{
    for (int i = 3; i >= 0; i--) {
        uint8_t b = v >> (i * 8);

        g_byte_array_append(a, &b, 1);
    }
}

static void put_config(GByteArray *a, const char *cfg)
{
    put_be64(a, VFIO_MIG_FLAG_DEV_CONFIG_STATE);
    put_be32(a, strlen(cfg));
    g_byte_array_append(a, (const uint8_t *)cfg, strlen(cfg));
}

static void load_fails(GByteArray *a, const char *needle)
{
    TestDev *dst = td_new(SC, 0, 0);
    Error *err = NULL;

    g_assert_false(load_all(dst, a, 1, &err));
    g_assert_nonnull(err);
    if (!strstr(error_get_pretty(err), needle)) {
        g_error("error '%s' does not mention '%s'", error_get_pretty(err),
                needle);
    }
    error_free(err);
    /* Nothing past the bad record reached the device. */
    g_assert_cmpuint(dst->loaded->len, <=, 16);
    td_free(dst);
}

static void test_hostile(void)
{
    g_autoptr(GByteArray) a = g_byte_array_new();
    uint8_t junk[16] = { 1, 2, 3 };

    /* A chunk longer than any sender writes, and a zero one. */
    put_be64(a, VFIO_MIG_FLAG_DEV_DATA_STATE);
    put_be64(a, UINT64_MAX);
    load_fails(a, "data chunk of 18446744073709551615 bytes");
    g_byte_array_set_size(a, 0);
    put_be64(a, VFIO_MIG_FLAG_DEV_DATA_STATE);
    put_be64(a, VFIO_MIG_DATA_CHUNK + 1);
    load_fails(a, "(1 to 1048576)");
    g_byte_array_set_size(a, 0);
    put_be64(a, VFIO_MIG_FLAG_DEV_DATA_STATE);
    put_be64(a, 0);
    load_fails(a, "data chunk of 0 bytes");

    /* A chunk that says more than the stream holds. */
    g_byte_array_set_size(a, 0);
    put_be64(a, VFIO_MIG_FLAG_DEV_DATA_STATE);
    put_be64(a, 4096);
    g_byte_array_append(a, junk, sizeof(junk));
    load_fails(a, "");

    /* Unknown record, truncated flag. */
    g_byte_array_set_size(a, 0);
    put_be64(a, 0xffffffffef100099ULL);
    load_fails(a, "unknown record 0xffffffffef100099");
    g_byte_array_set_size(a, 0);
    g_byte_array_append(a, junk, 5);
    load_fails(a, "");

    /* Config: too large, another device, twice, data after it. */
    g_byte_array_set_size(a, 0);
    put_be64(a, VFIO_MIG_FLAG_DEV_CONFIG_STATE);
    put_be32(a, 0xffffffff);
    load_fails(a, "config record of 4294967295 bytes");
    g_byte_array_set_size(a, 0);
    put_config(a, "other-device v9");
    load_fails(a, "not the same kind");
    g_byte_array_set_size(a, 0);
    put_config(a, "test-device v1");
    put_config(a, "test-device v1");
    load_fails(a, "second config record");
    g_byte_array_set_size(a, 0);
    put_config(a, "test-device v1");
    put_be64(a, VFIO_MIG_FLAG_DEV_DATA_STATE);
    put_be64(a, sizeof(junk));
    g_byte_array_append(a, junk, sizeof(junk));
    load_fails(a, "after the end of the device state");
}

/* The device rejects what it was given: the load fails, no guest runs. */
static void test_load_rejected(void)
{
    TestDev *dst = td_new(SC, 0, 0);
    g_autoptr(GByteArray) a = g_byte_array_new();
    Error *err = NULL;

    put_be64(a, VFIO_MIG_FLAG_DEV_DATA_STATE);
    put_be64(a, 4);
    g_byte_array_append(a, (const uint8_t *)"abcd", 4);
    put_config(a, "test-device v1");
    put_be64(a, VFIO_MIG_FLAG_END_OF_STATE);
    dst->reject_on_stop = true;
    g_assert_false(load_all(dst, a, 1, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "device data rejected"));
    error_free(err);
    td_free(dst);
}

/*
 * The device refuses STOP_COPY at switchover: the migration fails at
 * completion, and when the source's VM runs again so does the device.
 */
static void test_switchover_failure(void)
{
    TestDev *src = td_new(SC | PRE, 4096, 1);
    QIOChannel *ioc;
    QEMUFile *f = out_file(&ioc);
    Error *err = NULL;

    src->precopy_len = 100;
    g_assert_true(vfio_save_setup(f, &src->vdev, &error_abort));
    g_assert_cmpint(vfio_save_iterate(f, &src->vdev), ==, 1);
    src->fail_to = VFIO_MIG_STATE_STOP_COPY;
    vfio_vm_state_change(&src->vdev, false, true);
    /* Recovered to STOP, like the VM. */
    g_assert_cmpint(src->vdev.state, ==, VFIO_MIG_STATE_STOP);
    g_assert_false(vfio_save_complete_precopy(f, &src->vdev, &err));
    g_assert_nonnull(strstr(error_get_pretty(err),
                            "injected failure entering STOP_COPY"));
    error_free(err);
    vfio_save_cleanup(&src->vdev);
    vfio_vm_state_change(&src->vdev, true, false);
    g_assert_cmpint(src->vdev.state, ==, VFIO_MIG_STATE_RUNNING);
    g_byte_array_unref(out_bytes(f, ioc));
    td_free(src);
}

/*
 * A device with more precopy data than one round takes: each iterate
 * call stops after a bounded amount even with no rate limit, so other
 * sections get their turn.
 */
static void test_precopy_round_bounded(void)
{
    TestDev *src = td_new(SC | PRE, 20 * VFIO_MIG_DATA_CHUNK, 1);
    QIOChannel *ioc;
    QEMUFile *f = out_file(&ioc);
    g_autoptr(GByteArray) a = NULL;
    int rounds = 1;

    src->precopy_len = 20 * VFIO_MIG_DATA_CHUNK;
    g_assert_true(vfio_save_setup(f, &src->vdev, &error_abort));
    g_assert_cmpint(vfio_save_iterate(f, &src->vdev), ==, 0);
    g_assert_cmpuint(src->read_pos, <=, 8 * VFIO_MIG_DATA_CHUNK);
    while (vfio_save_iterate(f, &src->vdev) == 0) {
        g_assert_cmpint(++rounds, <, 10);
    }
    g_assert_cmpuint(src->read_pos, ==, src->precopy_len);
    vfio_save_cleanup(&src->vdev);
    a = out_bytes(f, ioc);
    td_free(src);
}

/* A migration that fails in precopy leaves the device running. */
static void test_precopy_cancel(void)
{
    TestDev *src = td_new(SC | PRE, 4096, 1);
    QIOChannel *ioc;
    QEMUFile *f = out_file(&ioc);

    src->precopy_len = 100;
    g_assert_true(vfio_save_setup(f, &src->vdev, &error_abort));
    g_assert_cmpint(src->vdev.state, ==, VFIO_MIG_STATE_PRE_COPY);
    vfio_save_cleanup(&src->vdev);
    g_assert_cmpint(src->vdev.state, ==, VFIO_MIG_STATE_RUNNING);
    g_byte_array_unref(out_bytes(f, ioc));
    td_free(src);
}

/* ---- multifd device state ---- */

/* The "channels": every buffer the source queued, in order. */
static GPtrArray *mf_sent;

static bool mf_active(VFIODevice *vdev)
{
    return true;
}

static bool mf_send(VFIODevice *vdev, const void *buf, size_t len,
                    Error **errp)
{
    g_ptr_array_add(mf_sent, g_byte_array_append(g_byte_array_new(), buf,
                                                 len));
    return true;
}

static bool mf_flush(VFIODevice *vdev, Error **errp)
{
    return true;
}

static bool mf_failed(VFIODevice *vdev)
{
    return false;
}

static const VFIOMultifdOps mf_ops = {
    .send_active = mf_active,
    .send_buffer = mf_send,
    .send_flush = mf_flush,
    .recv_active = mf_active,
    .recv_failed = mf_failed,
};

static bool mf_deliver(TestDev *dst, guint i, Error **errp)
{
    GByteArray *b = g_ptr_array_index(mf_sent, i);

    return vfio_load_state_buffer(&dst->vdev, b->data, b->len, errp);
}

/*
 * Switchover data over "multifd": buffers arrive in reverse order, the
 * device still gets its stream in order, and the main stream's count
 * ends the wait.
 */
static void test_multifd_reorder(void)
{
    size_t len = 5 * VFIO_MIG_MULTIFD_CHUNK + 99;
    TestDev *src = td_new(SC, len, 9);
    TestDev *dst = td_new(SC, 0, 0);
    g_autoptr(GByteArray) a = NULL;
    QIOChannel *ioc;
    QEMUFile *f;
    Error *err = NULL;
    unsigned n;

    mf_sent = g_ptr_array_new_with_free_func(
        (GDestroyNotify)g_byte_array_unref);
    src->vdev.mf = dst->vdev.mf = &mf_ops;
    src->vdev.mf_mode = VFIO_MULTIFD_ON;
    f = out_file(&ioc);
    g_assert_true(vfio_save_setup(f, &src->vdev, &error_abort));
    vfio_vm_state_change(&src->vdev, false, true);
    g_assert_true(vfio_save_complete_precopy(f, &src->vdev, &error_abort));
    vfio_save_cleanup(&src->vdev);
    a = out_bytes(f, ioc);
    g_assert_cmpuint(mf_sent->len, ==, 6);

    ioc = qio_channel_buffer_new_data(a->data, a->len);
    f = qemu_file_new_input(ioc);
    qio_channel_unref(ioc);
    g_assert_true(vfio_load_setup(f, &dst->vdev, &error_abort));
    g_assert_true(vfio_load_state(f, &dst->vdev, 1, &error_abort));
    for (guint i = mf_sent->len; i-- > 0; ) {
        g_assert_true(mf_deliver(dst, i, &error_abort));
    }
    /* A duplicate of one still queued or already written is refused. */
    g_assert_false(mf_deliver(dst, 0, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "duplicate"));
    error_free(err);
    err = NULL;
    /* The refusal failed the load: the wait reports it. */
    g_assert_false(vfio_load_state(f, &dst->vdev, 1, &err));
    error_free(err);
    vfio_load_cleanup(&dst->vdev);
    qemu_fclose(f);

    /* Again without the duplicate: everything lands in order. */
    ioc = qio_channel_buffer_new_data(a->data, a->len);
    f = qemu_file_new_input(ioc);
    qio_channel_unref(ioc);
    g_assert_true(vfio_load_setup(f, &dst->vdev, &error_abort));
    g_assert_true(vfio_load_state(f, &dst->vdev, 1, &error_abort));
    for (guint i = mf_sent->len; i-- > 0; ) {
        g_assert_true(mf_deliver(dst, i, &error_abort));
    }
    n = count_sections(a);
    g_assert_cmpuint(n, ==, 2);
    g_assert_true(vfio_load_state(f, &dst->vdev, 1, &error_abort));
    vfio_load_cleanup(&dst->vdev);
    qemu_fclose(f);
    g_assert_cmpint(dst->vdev.state, ==, VFIO_MIG_STATE_STOP);
    g_assert_cmpmem(dst->state->data, dst->state->len, src->state->data,
                    src->state->len);
    g_ptr_array_unref(mf_sent);
    td_free(src);
    td_free(dst);
}

/*
 * The channels outrun the main stream: every switchover buffer is there
 * before the main stream's precopy data is loaded.  The device must still
 * get the precopy data first (the loader waits for DEV_MULTIFD_START).
 */
static void test_multifd_after_precopy(void)
{
    size_t len = 2 * VFIO_MIG_MULTIFD_CHUNK + 7;
    size_t precopy = VFIO_MIG_DATA_CHUNK + 17;
    TestDev *src = td_new(SC | PRE | P2P, len, 5);
    TestDev *dst = td_new(SC | PRE | P2P, 0, 0);
    g_autoptr(GByteArray) a = NULL;
    GByteArray *want;
    unsigned n;
    QIOChannel *ioc;
    QEMUFile *f;

    mf_sent = g_ptr_array_new_with_free_func(
        (GDestroyNotify)g_byte_array_unref);
    src->vdev.mf = dst->vdev.mf = &mf_ops;
    src->vdev.mf_mode = VFIO_MULTIFD_ON;
    src->precopy_len = precopy;
    f = out_file(&ioc);
    g_assert_true(vfio_save_setup(f, &src->vdev, &error_abort));
    while (vfio_save_iterate(f, &src->vdev) == 0) {
        /* rate limit off: one call drains it */
    }
    vfio_vm_state_change(&src->vdev, false, true);
    g_assert_true(vfio_save_complete_precopy(f, &src->vdev, &error_abort));
    vfio_save_cleanup(&src->vdev);
    a = out_bytes(f, ioc);
    g_assert_cmpuint(mf_sent->len, ==, 3);

    ioc = qio_channel_buffer_new_data(a->data, a->len);
    f = qemu_file_new_input(ioc);
    qio_channel_unref(ioc);
    g_assert_true(vfio_load_setup(f, &dst->vdev, &error_abort));
    dst->loading_thread = g_thread_self();
    n = count_sections(a);
    g_assert_cmpuint(n, >=, 2);
    for (guint i = 0; i < mf_sent->len; i++) {
        g_assert_true(mf_deliver(dst, i, &error_abort));
    }
    /*
     * Give a loader that would write too early 100 ms to do it (what is
     * checked is that nothing happens, so there is no event to await).
     */
    g_mutex_lock(&dst->vdev.mf_lock);
    while (!dst->vdev.mf_done) {
        if (!g_cond_wait_until(&dst->vdev.mf_cond, &dst->vdev.mf_lock,
                               g_get_monotonic_time() +
                               100 * G_TIME_SPAN_MILLISECOND)) {
            break;
        }
    }
    g_mutex_unlock(&dst->vdev.mf_lock);
    for (unsigned i = 0; i < n; i++) {
        g_assert_true(vfio_load_state(f, &dst->vdev, 1, &error_abort));
    }
    vfio_load_cleanup(&dst->vdev);
    qemu_fclose(f);
    g_assert_cmpint(dst->vdev.state, ==, VFIO_MIG_STATE_STOP);
    /* The loader wrote, and the main stream's data never came after. */
    g_assert_true(dst->other_wrote);
    g_assert_false(dst->loading_after_other);
    /* The main stream's data records first, then the buffers in order. */
    want = g_byte_array_new();
    for (size_t pos = 0; pos + 8 <= a->len; ) {
        uint64_t flag = get_be64(a->data + pos);

        pos += 8;
        if (flag == VFIO_MIG_FLAG_DEV_DATA_STATE) {
            uint64_t l = get_be64(a->data + pos);

            g_byte_array_append(want, a->data + pos + 8, l);
            pos += 8 + l;
        } else if (flag == VFIO_MIG_FLAG_DEV_CONFIG_STATE) {
            pos += 4 + strlen("test-device v1");
        } else if (flag == VFIO_MIG_FLAG_DEV_MULTIFD_STATE) {
            pos += 4;
        }
    }
    g_assert_cmpuint(want->len, >=, precopy - 10);
    for (guint i = 0; i < mf_sent->len; i++) {
        GByteArray *b = g_ptr_array_index(mf_sent, i);

        g_byte_array_append(want, b->data + VFIO_MIG_MULTIFD_HDR,
                            b->len - VFIO_MIG_MULTIFD_HDR);
    }
    g_assert_cmpmem(dst->loaded->data, dst->loaded->len, want->data,
                    want->len);
    g_byte_array_unref(want);
    g_ptr_array_unref(mf_sent);
    td_free(src);
    td_free(dst);
}

/* Hostile multifd buffers: each refused with a reason, none loaded. */
static void test_multifd_hostile(void)
{
    TestDev *dst = td_new(SC, 0, 0);
    uint8_t buf[VFIO_MIG_MULTIFD_HDR + 16] = { 0 };
    g_autoptr(GByteArray) a = g_byte_array_new();
    static const uint8_t none[1];
    QIOChannel *ioc = qio_channel_buffer_new_data(none, 0);
    QEMUFile *f = qemu_file_new_input(ioc);
    Error *err = NULL;
    struct {
        uint32_t idx, flags;
        size_t len;
        const char *needle;
    } cases[] = {
        { 0, 0, VFIO_MIG_MULTIFD_HDR, "buffer of 8 bytes" },
        { 0, 1, sizeof(buf), "unknown flags" },
        { VFIO_MIG_MULTIFD_MAX_BUFFERS, 0, sizeof(buf), "out of range" },
    };

    qio_channel_unref(ioc);
    dst->vdev.mf = &mf_ops;
    /* Not loading: multifd device state is refused outright. */
    g_assert_false(vfio_load_state_buffer(&dst->vdev, buf, sizeof(buf),
                                          &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "not on here"));
    error_free(err);
    g_assert_true(vfio_load_setup(f, &dst->vdev, &error_abort));
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        err = NULL;
        buf[0] = cases[i].idx >> 24;
        buf[1] = cases[i].idx >> 16;
        buf[2] = cases[i].idx >> 8;
        buf[3] = cases[i].idx;
        buf[7] = cases[i].flags;
        g_assert_false(vfio_load_state_buffer(&dst->vdev, buf, cases[i].len,
                                              &err));
        if (!strstr(error_get_pretty(err), cases[i].needle)) {
            g_error("'%s' lacks '%s'", error_get_pretty(err),
                    cases[i].needle);
        }
        error_free(err);
    }
    vfio_load_cleanup(&dst->vdev);
    qemu_fclose(f);
    g_assert_cmpuint(dst->loaded->len, ==, 0);
    /* A count the stream cannot mean. */
    put_be64(a, VFIO_MIG_FLAG_DEV_MULTIFD_STATE);
    put_be32(a, 0xffffffff);
    dst->vdev.mf = NULL;
    load_fails(a, "does not take");
    td_free(dst);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vfio-migration/arcs", test_arcs);
    g_test_add_func("/vfio-migration/arcs-exhaustive", test_arcs_exhaustive);
    g_test_add_func("/vfio-migration/set-state-walks", test_set_state_walks);
    g_test_add_func("/vfio-migration/set-state-recovers",
                    test_set_state_recovers);
    g_test_add_func("/vfio-migration/roundtrip-stop-copy",
                    test_roundtrip_stop_copy);
    g_test_add_func("/vfio-migration/roundtrip-precopy",
                    test_roundtrip_precopy);
    g_test_add_func("/vfio-migration/hostile", test_hostile);
    g_test_add_func("/vfio-migration/load-rejected", test_load_rejected);
    g_test_add_func("/vfio-migration/switchover-failure",
                    test_switchover_failure);
    g_test_add_func("/vfio-migration/precopy-cancel", test_precopy_cancel);
    g_test_add_func("/vfio-migration/precopy-round-bounded",
                    test_precopy_round_bounded);
    g_test_add_func("/vfio-migration/multifd-reorder", test_multifd_reorder);
    g_test_add_func("/vfio-migration/multifd-after-precopy",
                    test_multifd_after_precopy);
    g_test_add_func("/vfio-migration/multifd-hostile", test_multifd_hostile);
    return g_test_run();
}
