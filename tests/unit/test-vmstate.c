/*
 * Unit tests for migration/vmstate.c and vmstate-types.c: exact wire
 * bytes, round trips, versions, subsections (nested and not), bounds on
 * counts read from the stream, hooks, the VMDESC JSON, and bad input
 * (truncated, corrupt, random) that must fail cleanly.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "migration/vmstate.h"
#include "io/channel-buffer.h"

/*
 * Streams built by the tests end with this byte, standing for the section
 * footer that follows device data in a real stream: the loader must stop
 * right before it.
 */
#define TRAILER 0x7e

/* ------------------------------------------------------------------ */
/* Helpers                                                            */

static uint8_t *save_bytes(const VMStateDescription *vmsd, void *opaque,
                           JsonBuilder *vmdesc, size_t *len, Error **errp)
{
    QIOChannel *ioc = qio_channel_buffer_new(4096);
    QEMUFile *f = qemu_file_new_output(ioc);
    bool ok = vmstate_save_state(f, vmsd, opaque, vmdesc, errp);
    uint8_t *data = NULL;

    qemu_put_byte(f, TRAILER);
    g_assert_cmpint(qemu_fclose(f), ==, 0);
    if (ok) {
        data = qio_channel_buffer_dup_data(ioc, len);
    }
    qio_channel_unref(ioc);
    return data;
}

static uint8_t *save_ok(const VMStateDescription *vmsd, void *opaque,
                        size_t *len)
{
    return save_bytes(vmsd, opaque, NULL, len, &error_abort);
}

/* Load @data, which must be followed by exactly the trailer. */
static bool load_bytes(const uint8_t *data, size_t len,
                       const VMStateDescription *vmsd, void *opaque,
                       int version_id, Error **errp)
{
    QIOChannel *ioc = qio_channel_buffer_new_data(data, len);
    QEMUFile *f = qemu_file_new_input(ioc);
    bool ok = vmstate_load_state(f, vmsd, opaque, version_id, errp);

    /* Loading must stop exactly before the trailer. */
    if (ok && (qemu_get_byte(f) != TRAILER || qemu_file_get_error(f))) {
        error_setg(errp, "the load did not end right before the trailer");
        ok = false;
    }
    qemu_fclose(f);
    qio_channel_unref(ioc);
    return ok;
}

/* Expect a load failure whose message contains @needle. */
static void load_fails(const uint8_t *data, size_t len,
                       const VMStateDescription *vmsd, void *opaque,
                       int version_id, const char *needle)
{
    Error *err = NULL;

    g_assert_false(load_bytes(data, len, vmsd, opaque, version_id, &err));
    g_assert_nonnull(err);
    if (!strstr(error_get_pretty(err), needle)) {
        g_error("error '%s' does not mention '%s'", error_get_pretty(err),
                needle);
    }
    error_free(err);
}

/* Compare members one by one: struct padding is not state. */
#define ASSERT_SAME(x, y, m) \
    g_assert_cmpmem(&(x)->m, sizeof((x)->m), &(y)->m, sizeof((y)->m))

/* ------------------------------------------------------------------ */
/* Exact wire format                                                  */

typedef struct Simple {
    uint8_t a;
    uint16_t b;
    uint32_t c;
    uint64_t d;
    int32_t e;
    int64_t e64;
    bool f;
    uint8_t buf[3];
    uint16_t g;         /* in subsection "simple/sub" when non-zero */
} Simple;

static bool simple_sub_needed(void *opaque)
{
    return ((Simple *)opaque)->g != 0;
}

static const VMStateDescription vmstate_simple_sub = {
    .name = "simple/sub",
    .version_id = 3,
    .minimum_version_id = 1,
    .needed = simple_sub_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT16(g, Simple),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_simple = {
    .name = "simple",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT8(a, Simple),
        VMSTATE_UINT16(b, Simple),
        VMSTATE_UINT32(c, Simple),
        VMSTATE_UINT64(d, Simple),
        VMSTATE_INT32(e, Simple),
        VMSTATE_INT64(e64, Simple),
        VMSTATE_BOOL(f, Simple),
        VMSTATE_BUFFER(buf, Simple),
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * const []) {
        &vmstate_simple_sub,
        NULL
    },
};

static const uint8_t simple_wire[] = {
    0x11,
    0x22, 0x33,
    0x44, 0x55, 0x66, 0x77,
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
    0xff, 0xff, 0xff, 0xfe,                             /* -2 */
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfd,     /* -3 */
    0x01,
    'x', 'y', 'z',
};

static const uint8_t simple_sub_wire[] = {
    QEMU_VM_SUBSECTION, 10, 's', 'i', 'm', 'p', 'l', 'e', '/', 's', 'u', 'b',
    0x00, 0x00, 0x00, 0x03,
    0xbe, 0xef,
};

static Simple simple_value(void)
{
    return (Simple) {
        .a = 0x11, .b = 0x2233, .c = 0x44556677, .d = 0x0102030405060708ULL,
        .e = -2, .e64 = -3, .f = true, .buf = { 'x', 'y', 'z' },
    };
}

static void assert_simple_eq(const Simple *x, const Simple *y)
{
    ASSERT_SAME(x, y, a);
    ASSERT_SAME(x, y, b);
    ASSERT_SAME(x, y, c);
    ASSERT_SAME(x, y, d);
    ASSERT_SAME(x, y, e);
    ASSERT_SAME(x, y, e64);
    ASSERT_SAME(x, y, f);
    ASSERT_SAME(x, y, buf);
    ASSERT_SAME(x, y, g);
}

static void test_wire_format(void)
{
    Simple s = simple_value(), back = { 0 };
    g_autofree uint8_t *data = NULL;
    g_autofree uint8_t *expect = NULL;
    size_t len;

    data = save_ok(&vmstate_simple, &s, &len);
    g_assert_cmpmem(data, len - 1, simple_wire, sizeof(simple_wire));
    g_assert_cmpint(data[len - 1], ==, TRAILER);
    g_assert_true(load_bytes(data, len, &vmstate_simple, &back, 1,
                             &error_abort));
    assert_simple_eq(&back, &s);
    g_free(data);

    /* With the subsection needed, its header and fields follow. */
    s.g = 0xbeef;
    data = save_ok(&vmstate_simple, &s, &len);
    expect = g_malloc(sizeof(simple_wire) + sizeof(simple_sub_wire));
    memcpy(expect, simple_wire, sizeof(simple_wire));
    memcpy(expect + sizeof(simple_wire), simple_sub_wire,
           sizeof(simple_sub_wire));
    g_assert_cmpmem(data, len - 1, expect,
                    sizeof(simple_wire) + sizeof(simple_sub_wire));
    memset(&back, 0, sizeof(back));
    g_assert_true(load_bytes(data, len, &vmstate_simple, &back, 1,
                             &error_abort));
    g_assert_cmpuint(back.g, ==, 0xbeef);
    assert_simple_eq(&back, &s);
}

/* Bytes from an independent writer (not vmstate_save_state) load right. */
static void test_load_handmade(void)
{
    uint8_t data[sizeof(simple_wire) + sizeof(simple_sub_wire) + 1];
    Simple back = { 0 }, expect = simple_value();

    memcpy(data, simple_wire, sizeof(simple_wire));
    memcpy(data + sizeof(simple_wire), simple_sub_wire,
           sizeof(simple_sub_wire));
    data[sizeof(data) - 1] = TRAILER;
    expect.g = 0xbeef;
    g_assert_true(load_bytes(data, sizeof(data), &vmstate_simple, &back, 1,
                             &error_abort));
    assert_simple_eq(&back, &expect);
}

/* ------------------------------------------------------------------ */
/* A device with everything: arrays, structs, variable arrays, nesting  */

typedef struct Inner {
    uint32_t a;
    bool flag;
    uint16_t extra;     /* in subsection "inner/extra" when non-zero */
} Inner;

typedef struct Dev {
    uint8_t arr8[5];
    uint32_t arr32[3];
    uint64_t arr64[2];
    uint16_t arr16[2];
    int32_t arri32[2];
    int64_t arri64[2];
    Inner inner;
    Inner inners[2];
    uint32_t n_items;
    uint16_t items[4];
    uint32_t canary1;
    int32_t n_words;
    uint64_t words[3];
    uint32_t canary2;
    uint8_t n_vinner;
    Inner vinner[3];
    uint32_t canary3;
    uint8_t small;
    int8_t tiny;
    int16_t shorty;
    uint32_t v2_only;   /* added in version 2 */
    uint32_t tested;    /* present only when use_tested */
    bool use_tested;
    uint32_t ncpus;     /* must match on both sides */
    uint64_t sub_val;   /* subsection "dev/sub" when non-zero */
} Dev;

static bool inner_extra_needed(void *opaque)
{
    return ((Inner *)opaque)->extra != 0;
}

static const VMStateDescription vmstate_inner_extra = {
    .name = "inner/extra",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = inner_extra_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT16(extra, Inner),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_inner = {
    .name = "inner",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(a, Inner),
        VMSTATE_BOOL(flag, Inner),
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * const []) {
        &vmstate_inner_extra,
        NULL
    },
};

static bool dev_sub_needed(void *opaque)
{
    return ((Dev *)opaque)->sub_val != 0;
}

static const VMStateDescription vmstate_dev_sub = {
    .name = "dev/sub",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = dev_sub_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(sub_val, Dev),
        VMSTATE_END_OF_LIST()
    },
};

static bool dev_tested_exists(void *opaque, int version_id)
{
    return ((Dev *)opaque)->use_tested;
}

#define DEV_FIELDS                                                       \
    VMSTATE_UINT8_ARRAY(arr8, Dev, 5),                                   \
    VMSTATE_UINT32_ARRAY(arr32, Dev, 3),                                 \
    VMSTATE_UINT64_ARRAY(arr64, Dev, 2),                                 \
    VMSTATE_UINT16_ARRAY(arr16, Dev, 2),                                 \
    VMSTATE_INT32_ARRAY(arri32, Dev, 2),                                 \
    VMSTATE_INT64_ARRAY(arri64, Dev, 2),                                 \
    VMSTATE_STRUCT(inner, Dev, 1, vmstate_inner, Inner),                 \
    VMSTATE_STRUCT_ARRAY(inners, Dev, 2, 1, vmstate_inner, Inner),       \
    VMSTATE_UINT32(n_items, Dev),                                        \
    VMSTATE_VARRAY_UINT32(items, Dev, n_items, 0, vmstate_info_uint16,   \
                          uint16_t),                                     \
    VMSTATE_INT32(n_words, Dev),                                         \
    VMSTATE_VARRAY_INT32(words, Dev, n_words, 0, vmstate_info_uint64,    \
                         uint64_t),                                      \
    VMSTATE_UINT8(n_vinner, Dev),                                        \
    VMSTATE_STRUCT_VARRAY_UINT8(vinner, Dev, n_vinner, 0, vmstate_inner, \
                                Inner),                                  \
    VMSTATE_UNUSED(3),                                                   \
    VMSTATE_UINT8(small, Dev),                                           \
    VMSTATE_INT8(tiny, Dev),                                             \
    VMSTATE_INT16(shorty, Dev),                                          \
    VMSTATE_UNUSED(2),                                                   \
    VMSTATE_BOOL(use_tested, Dev),                                       \
    VMSTATE_UINT32_TEST(tested, Dev, dev_tested_exists),                 \
    VMSTATE_UINT32_EQUAL(ncpus, Dev)

static const VMStateDescription vmstate_dev = {
    .name = "dev",
    .version_id = 2,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        DEV_FIELDS,
        VMSTATE_UINT32_V(v2_only, Dev, 2),
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * const []) {
        &vmstate_dev_sub,
        NULL
    },
};

/* The same device as an older build (version 1) describes it. */
static const VMStateDescription vmstate_dev_v1 = {
    .name = "dev",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        DEV_FIELDS,
        VMSTATE_END_OF_LIST()
    },
};

static Dev dev_value(void)
{
    Dev d = {
        .arr8 = { 1, 2, 3, 4, 5 },
        .arr32 = { 0xdeadbeef, 7, 8 },
        .arr64 = { 1ULL << 40, 9 },
        .arr16 = { 0xabcd, 0x1234 },
        .arri32 = { -5, 5 },
        .arri64 = { INT64_MIN, INT64_MAX },
        .inner = { .a = 10, .flag = true, .extra = 0x55 },
        .inners = { { .a = 11 }, { .a = 12, .flag = true, .extra = 7 } },
        .n_items = 3, .items = { 100, 200, 300 },
        .canary1 = 0xc1, .canary2 = 0xc2, .canary3 = 0xc3,
        .n_words = 2, .words = { 0x1111, 0x2222 },
        .n_vinner = 2,
        .vinner = { { .a = 21, .extra = 9 }, { .a = 22, .flag = true } },
        .small = 200, .tiny = -100, .shorty = -30000,
        .v2_only = 0x2222,
        .use_tested = true, .tested = 0x7e57,
        .ncpus = 4,
        .sub_val = 0x5555666677778888ULL,
    };
    return d;
}

/* A destination before loading: canaries and ncpus as its own. */
static Dev dev_blank(void)
{
    Dev d = { .canary1 = 0xc1, .canary2 = 0xc2, .canary3 = 0xc3,
              .ncpus = 4 };
    return d;
}

static void assert_inner_eq(const Inner *x, const Inner *y)
{
    ASSERT_SAME(x, y, a);
    ASSERT_SAME(x, y, flag);
    ASSERT_SAME(x, y, extra);
}

static void assert_dev_eq(const Dev *x, const Dev *y)
{
    int i;

    ASSERT_SAME(x, y, arr8);
    ASSERT_SAME(x, y, arr32);
    ASSERT_SAME(x, y, arr64);
    ASSERT_SAME(x, y, arr16);
    ASSERT_SAME(x, y, arri32);
    ASSERT_SAME(x, y, arri64);
    assert_inner_eq(&x->inner, &y->inner);
    for (i = 0; i < 2; i++) {
        assert_inner_eq(&x->inners[i], &y->inners[i]);
    }
    ASSERT_SAME(x, y, n_items);
    ASSERT_SAME(x, y, items);
    ASSERT_SAME(x, y, canary1);
    ASSERT_SAME(x, y, n_words);
    ASSERT_SAME(x, y, words);
    ASSERT_SAME(x, y, canary2);
    ASSERT_SAME(x, y, n_vinner);
    for (i = 0; i < 3; i++) {
        assert_inner_eq(&x->vinner[i], &y->vinner[i]);
    }
    ASSERT_SAME(x, y, canary3);
    ASSERT_SAME(x, y, small);
    ASSERT_SAME(x, y, tiny);
    ASSERT_SAME(x, y, shorty);
    ASSERT_SAME(x, y, v2_only);
    ASSERT_SAME(x, y, tested);
    ASSERT_SAME(x, y, use_tested);
    ASSERT_SAME(x, y, ncpus);
    ASSERT_SAME(x, y, sub_val);
}

static void test_round_trip(void)
{
    Dev s = dev_value(), d = dev_blank();
    g_autofree uint8_t *data = NULL;
    size_t len;

    data = save_ok(&vmstate_dev, &s, &len);
    g_assert_true(load_bytes(data, len, &vmstate_dev, &d, 2, &error_abort));
    assert_dev_eq(&d, &s);
}

/* Elements past a variable array's count are neither sent nor touched. */
static void test_varray_partial(void)
{
    Dev s = dev_value(), d = dev_blank();
    g_autofree uint8_t *data = NULL;
    size_t len, len_full;

    g_free(save_ok(&vmstate_dev, &s, &len_full));
    s.n_items = 1;
    s.n_words = 0;
    s.n_vinner = 0;
    data = save_ok(&vmstate_dev, &s, &len);
    /* 2 u16 items, 2 u64 words and 2 structs (one with a subsection) */
    g_assert_cmpuint(len_full - len, ==,
                     2 * 2 + 2 * 8 + (4 + 1) + (4 + 1 + 1 + 1 + 11 + 4 + 2));
    d.items[1] = 0xeeee;
    d.vinner[0].a = 0xeeee;
    g_assert_true(load_bytes(data, len, &vmstate_dev, &d, 2, &error_abort));
    g_assert_cmpuint(d.items[0], ==, 100);
    g_assert_cmpuint(d.items[1], ==, 0xeeee);
    g_assert_cmpuint(d.vinner[0].a, ==, 0xeeee);
}

static void test_versions(void)
{
    Dev s = dev_value(), d = dev_blank();
    g_autofree uint8_t *v1 = NULL;
    g_autofree uint8_t *v2 = NULL;
    size_t len1, len2;

    s.sub_val = 0;
    v1 = save_ok(&vmstate_dev_v1, &s, &len1);
    v2 = save_ok(&vmstate_dev, &s, &len2);
    g_assert_cmpuint(len2, ==, len1 + 4);     /* v2_only */

    /* An old stream loads into the new description; v2_only untouched. */
    d.v2_only = 0xaaaa;
    g_assert_true(load_bytes(v1, len1, &vmstate_dev, &d, 1, &error_abort));
    g_assert_cmpuint(d.v2_only, ==, 0xaaaa);
    g_assert_cmpuint(d.ncpus, ==, 4);
    g_assert_cmpuint(d.inners[1].a, ==, 12);

    d = dev_blank();
    g_assert_true(load_bytes(v2, len2, &vmstate_dev, &d, 2, &error_abort));
    g_assert_cmpuint(d.v2_only, ==, 0x2222);

    /* Versions outside [minimum, current] are refused by name. */
    d = dev_blank();
    load_fails(v2, len2, &vmstate_dev_v1, &d, 2,
               "dev: version 2 not supported, expected between 1 and 1");
    load_fails(v2, len2, &vmstate_dev, &d, 3,
               "version 3 not supported, expected between 1 and 2");
    load_fails(v2, len2, &vmstate_dev, &d, 0,
               "version 0 not supported, expected between 1 and 2");
}

static void test_field_exists(void)
{
    Dev s = dev_value(), d = dev_blank();
    g_autofree uint8_t *with = NULL;
    g_autofree uint8_t *without = NULL;
    size_t len_with, len_without;

    with = save_ok(&vmstate_dev, &s, &len_with);
    s.use_tested = false;
    without = save_ok(&vmstate_dev, &s, &len_without);
    g_assert_cmpuint(len_with, ==, len_without + 4);
    d.tested = 0x1234;
    g_assert_true(load_bytes(without, len_without, &vmstate_dev, &d, 2,
                             &error_abort));
    g_assert_cmpuint(d.tested, ==, 0x1234);
}

/* ------------------------------------------------------------------ */
/* Subsections                                                        */

/* The same device on a destination that knows no subsection. */
static const VMStateDescription vmstate_dev_nosub = {
    .name = "dev",
    .version_id = 2,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        DEV_FIELDS,
        VMSTATE_UINT32_V(v2_only, Dev, 2),
        VMSTATE_END_OF_LIST()
    },
};

static void test_subsection_unknown(void)
{
    Dev s = dev_value(), d = dev_blank();
    g_autofree uint8_t *data = NULL;
    size_t len;

    data = save_ok(&vmstate_dev, &s, &len);
    load_fails(data, len, &vmstate_dev_nosub, &d, 2,
               "dev: unknown subsection 'dev/sub'");

    /* Not needed, not sent: then the old destination is fine. */
    s.sub_val = 0;
    g_free(data);
    data = save_ok(&vmstate_dev, &s, &len);
    d = dev_blank();
    g_assert_true(load_bytes(data, len, &vmstate_dev_nosub, &d, 2,
                             &error_abort));
    g_assert_cmpuint(d.inner.extra, ==, 0x55);  /* nested ones still load */
}

static void test_subsection_bad(void)
{
    Simple d = { 0 };
    uint8_t data[sizeof(simple_wire) + 2 * sizeof(simple_sub_wire) + 1];
    size_t base = sizeof(simple_wire), len;

    memcpy(data, simple_wire, base);
    memcpy(data + base, simple_sub_wire, sizeof(simple_sub_wire));
    memcpy(data + base + sizeof(simple_sub_wire), simple_sub_wire,
           sizeof(simple_sub_wire));
    len = base + 2 * sizeof(simple_sub_wire);
    data[len++] = TRAILER;
    load_fails(data, len, &vmstate_simple, &d, 1,
               "subsection 'simple/sub' appears twice");

    /* A subsection version newer than ours. */
    len = base + sizeof(simple_sub_wire);
    data[len++] = TRAILER;
    data[base + 2 + 10 + 3] = 4;
    load_fails(data, len, &vmstate_simple, &d, 1,
               "simple/sub: version 4 not supported, expected between 1 "
               "and 3");
    data[base + 2 + 10 + 3] = 3;

    /* A name that is cut short by the end of the stream. */
    load_fails(data, base + 6, &vmstate_simple, &d, 1, "simple");

    /* A different name of the same length. */
    data[base + 2 + 8] = 'X';
    load_fails(data, len, &vmstate_simple, &d, 1,
               "unknown subsection 'simple/sXb'");
}

/* Subsection names must extend the parent's name: checked when saving. */
static const VMStateDescription vmstate_badname_sub = {
    .name = "other/sub",
    .version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT16(g, Simple),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_badname = {
    .name = "simple",
    .version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT8(a, Simple),
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * const []) {
        &vmstate_badname_sub,
        NULL
    },
};

static void test_subsection_name_rule(void)
{
    Simple s = simple_value();
    Error *err = NULL;
    size_t len;

    g_assert_null(save_bytes(&vmstate_badname, &s, NULL, &len, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "other/sub"));
    error_free(err);
}

/* ------------------------------------------------------------------ */
/* Bounds: counts from the stream never exceed the destination's room  */

/* Offset of the n_items count in the Dev stream. */
static size_t dev_offset_of_n_items(void)
{
    Dev s = dev_value();
    g_autofree uint8_t *data = NULL;
    size_t len, i;

    /* Find the unique marker sequence: n_items (3) then items 100, 200. */
    data = save_ok(&vmstate_dev, &s, &len);
    for (i = 0; i + 8 <= len; i++) {
        if (memcmp(data + i, "\0\0\0\3\0\144\0\310", 8) == 0) {
            return i;
        }
    }
    g_assert_not_reached();
}

static void test_varray_bounds(void)
{
    Dev s = dev_value(), d;
    g_autofree uint8_t *data = NULL;
    size_t len, at = dev_offset_of_n_items();

    data = save_ok(&vmstate_dev, &s, &len);
    /* A count beyond the array's 4 elements is refused, canary intact. */
    data[at + 3] = 5;
    d = dev_blank();
    load_fails(data, len, &vmstate_dev, &d, 2,
               "dev.items: element count 5 is out of range (0 to 4)");
    g_assert_cmpuint(d.canary1, ==, 0xc1);
    data[at] = 0xff;    /* 0xff000005 */
    load_fails(data, len, &vmstate_dev, &d, 2, "out of range");
    data[at] = 0;
    data[at + 3] = 3;

    /* A negative int32 count. */
    s.n_words = -1;
    g_free(data);
    {
        Error *err = NULL;

        g_assert_null(save_bytes(&vmstate_dev, &s, NULL, &len, &err));
        g_assert_nonnull(strstr(error_get_pretty(err),
                                "dev.words: element count -1 is out of "
                                "range"));
        error_free(err);
    }
    s.n_words = 2;
    data = save_ok(&vmstate_dev, &s, &len);
    /* n_words follows n_items(4) + items(3 * 2). */
    data[at + 10] = 0xff;
    d = dev_blank();
    load_fails(data, len, &vmstate_dev, &d, 2, "dev.words: element count");
    g_assert_cmpuint(d.canary2, ==, 0xc2);
}

/* A struct array's count byte set past its capacity. */
static void test_struct_varray_bounds(void)
{
    Dev s = dev_value(), d = dev_blank();
    g_autofree uint8_t *data = NULL;
    size_t len, at = dev_offset_of_n_items();

    data = save_ok(&vmstate_dev, &s, &len);
    /* n_vinner: after n_items, 3 items, n_words, 2 words */
    at += 4 + 3 * 2 + 4 + 2 * 8;
    g_assert_cmpint(data[at], ==, 2);
    data[at] = 4;
    load_fails(data, len, &vmstate_dev, &d, 2,
               "dev.vinner: element count 4 is out of range (0 to 3)");
    g_assert_cmpuint(d.canary3, ==, 0xc3);
}

/* ------------------------------------------------------------------ */
/* Values and hooks                                                   */

static void test_bad_values(void)
{
    Simple s = simple_value(), d = { 0 };
    g_autofree uint8_t *data = NULL;
    Dev ds = dev_value(), dd = dev_blank();
    g_autofree uint8_t *ddata = NULL;
    size_t len;

    data = save_ok(&vmstate_simple, &s, &len);
    data[27] = 2;       /* the bool */
    load_fails(data, len, &vmstate_simple, &d, 1,
               "simple.f: invalid bool value 2");

    ddata = save_ok(&vmstate_dev, &ds, &len);
    dd.ncpus = 8;
    load_fails(ddata, len, &vmstate_dev, &dd, 2,
               "dev.ncpus: value 4 in the stream differs from this side's 8");
}

typedef struct Hooked {
    uint32_t value;
    uint32_t shadow;        /* what is saved: set by pre_save */
    int pre_save_calls, post_save_calls, pre_load_calls;
    int loaded_version;
    bool fail_pre_save, fail_pre_load, fail_silently;
} Hooked;

static bool hooked_pre_save(void *opaque, Error **errp)
{
    Hooked *h = opaque;

    h->pre_save_calls++;
    if (h->fail_pre_save) {
        error_setg(errp, "cannot save now");
        return false;
    }
    h->shadow = h->value * 2;
    return true;
}

static void hooked_post_save(void *opaque)
{
    ((Hooked *)opaque)->post_save_calls++;
}

static bool hooked_pre_load(void *opaque, Error **errp)
{
    Hooked *h = opaque;

    h->pre_load_calls++;
    if (h->fail_pre_load) {
        error_setg(errp, "not ready");
        return false;
    }
    return true;
}

static bool hooked_post_load(void *opaque, int version_id, Error **errp)
{
    Hooked *h = opaque;

    h->loaded_version = version_id;
    if (h->shadow % 2) {
        if (!h->fail_silently) {
            error_setg(errp, "shadow %u is odd", h->shadow);
        }
        return false;
    }
    h->value = h->shadow / 2;
    return true;
}

static const VMStateDescription vmstate_hooked = {
    .name = "hooked",
    .version_id = 5,
    .minimum_version_id = 3,
    .pre_save = hooked_pre_save,
    .post_save = hooked_post_save,
    .pre_load = hooked_pre_load,
    .post_load = hooked_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(shadow, Hooked),
        VMSTATE_END_OF_LIST()
    },
};

static void test_hooks(void)
{
    Hooked s = { .value = 21 }, d = { 0 };
    g_autofree uint8_t *data = NULL;
    Error *err = NULL;
    size_t len;

    data = save_ok(&vmstate_hooked, &s, &len);
    g_assert_cmpint(s.pre_save_calls, ==, 1);
    g_assert_cmpint(s.post_save_calls, ==, 1);
    g_assert_cmpmem(data, len, "\0\0\0\52\176", 5);
    g_assert_true(load_bytes(data, len, &vmstate_hooked, &d, 4,
                             &error_abort));
    g_assert_cmpint(d.pre_load_calls, ==, 1);
    g_assert_cmpint(d.loaded_version, ==, 4);
    g_assert_cmpuint(d.value, ==, 21);

    /* post_load rejects inconsistent input with its own message. */
    data[3] = 43;
    memset(&d, 0, sizeof(d));
    load_fails(data, len, &vmstate_hooked, &d, 5,
               "hooked: post_load: shadow 43 is odd");
    d.fail_silently = true;
    load_fails(data, len, &vmstate_hooked, &d, 5, "hooked: post_load: failed");

    d.fail_pre_load = true;
    load_fails(data, len, &vmstate_hooked, &d, 5,
               "hooked: pre_load: not ready");

    s.fail_pre_save = true;
    g_assert_null(save_bytes(&vmstate_hooked, &s, NULL, &len, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "hooked: pre_save: cannot save now");
    error_free(err);
}

static const VMStateDescription vmstate_unmigratable = {
    .name = "blocker",
    .unmigratable = true,
    .fields = (const VMStateField[]) {
        VMSTATE_END_OF_LIST()
    },
};

static void test_unmigratable(void)
{
    Error *err = NULL;
    size_t len;
    int dummy = 0;

    g_assert_null(save_bytes(&vmstate_unmigratable, &dummy, NULL, &len,
                             &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "blocker"));
    error_free(err);
}

/* ------------------------------------------------------------------ */
/* Bad streams                                                        */

/* Every truncation of a valid stream fails with an error, never crashes. */
static void test_truncated(void)
{
    Dev s = dev_value();
    g_autofree uint8_t *data = NULL;
    size_t len, cut;

    data = save_ok(&vmstate_dev, &s, &len);
    for (cut = 0; cut < len - 1; cut++) {
        Dev d = dev_blank();
        Error *err = NULL;

        if (load_bytes(data, cut, &vmstate_dev, &d, 2, &err)) {
            g_error("a stream cut at %zu of %zu bytes loaded", cut, len);
        }
        g_assert_nonnull(err);
        error_free(err);
        g_assert_cmpuint(d.canary1, ==, 0xc1);
        g_assert_cmpuint(d.canary2, ==, 0xc2);
        g_assert_cmpuint(d.canary3, ==, 0xc3);
    }
}

/* A destination already holding other values than the stream's. */
static Dev dev_other(void)
{
    Dev d = dev_value();

    d.arr8[0] = 99;
    d.arr64[1] = 77;
    d.inner.a = 1000;
    d.inners[1].extra = 3;
    d.n_items = 1;
    d.items[0] = 4242;
    d.n_words = 0;
    d.vinner[0].a = 555;
    d.small = 1;
    d.v2_only = 0x1234;
    d.sub_val = 42;
    return d;
}

/*
 * All or nothing: a load that fails anywhere (every truncation point,
 * so in fields, structs, arrays and the subsection) leaves every
 * described field as it was.
 */
static void test_all_or_nothing_truncated(void)
{
    Dev s = dev_value(), old = dev_other();
    g_autofree uint8_t *data = NULL;
    size_t len, cut;

    data = save_ok(&vmstate_dev, &s, &len);
    for (cut = 0; cut < len - 1; cut++) {
        Dev d = old;
        Error *err = NULL;

        g_assert_false(load_bytes(data, cut, &vmstate_dev, &d, 2, &err));
        error_free(err);
        assert_dev_eq(&d, &old);
    }
}

typedef struct Guarded {
    uint32_t a;         /* post_load refuses > 10 */
    uint32_t b;         /* in "guarded/sub"; its post_load refuses 0xdead */
    uint32_t derived;   /* not described: what post_load computes */
} Guarded;

static bool guarded_sub_post_load(void *opaque, int version_id,
                                  Error **errp)
{
    if (((Guarded *)opaque)->b == 0xdead) {
        error_setg(errp, "b is dead");
        return false;
    }
    return true;
}

static bool guarded_post_load(void *opaque, int version_id, Error **errp)
{
    Guarded *g = opaque;

    if (g->a > 10) {
        error_setg(errp, "a %u out of range", g->a);
        return false;
    }
    g->derived = g->a * 2;
    return true;
}

static const VMStateDescription vmstate_guarded_sub = {
    .name = "guarded/sub",
    .version_id = 1,
    .minimum_version_id = 1,
    .post_load = guarded_sub_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(b, Guarded),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_guarded = {
    .name = "guarded",
    .version_id = 1,
    .minimum_version_id = 1,
    .post_load = guarded_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(a, Guarded),
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * const []) {
        &vmstate_guarded_sub,
        NULL
    },
};

/* A value post_load refuses does not stay in the device. */
static void test_all_or_nothing_post_load(void)
{
    static const uint8_t bad_a[] = { 0, 0, 0, 99, TRAILER };
    static const uint8_t bad_sub[] = {
        0, 0, 0, 5,
        QEMU_VM_SUBSECTION, 11, 'g', 'u', 'a', 'r', 'd', 'e', 'd', '/', 's',
        'u', 'b', 0, 0, 0, 1,
        0, 0, 0xde, 0xad,
        TRAILER,
    };
    static const uint8_t good[] = {
        0, 0, 0, 5,
        QEMU_VM_SUBSECTION, 11, 'g', 'u', 'a', 'r', 'd', 'e', 'd', '/', 's',
        'u', 'b', 0, 0, 0, 1,
        0, 0, 0, 7,
        TRAILER,
    };
    Guarded g = { .a = 3, .b = 4, .derived = 6 };

    load_fails(bad_a, sizeof(bad_a), &vmstate_guarded, &g, 1,
               "guarded: post_load: a 99 out of range");
    g_assert_cmpuint(g.a, ==, 3);
    /* The subsection fails after the parent's field was written. */
    load_fails(bad_sub, sizeof(bad_sub), &vmstate_guarded, &g, 1,
               "guarded/sub: post_load: b is dead");
    g_assert_cmpuint(g.a, ==, 3);
    g_assert_cmpuint(g.b, ==, 4);
    g_assert_true(load_bytes(good, sizeof(good), &vmstate_guarded, &g, 1,
                             &error_abort));
    g_assert_cmpuint(g.a, ==, 5);
    g_assert_cmpuint(g.b, ==, 7);
    g_assert_cmpuint(g.derived, ==, 10);
}

/*
 * A subsection name with a NUL inside its counted length: as a C string
 * it would be "simple/sub" and the skip by strlen() would leave three
 * bytes of name to be read as the version.  Refused by name.
 */
static void test_subsection_name_nul(void)
{
    static const uint8_t sub[] = {
        QEMU_VM_SUBSECTION, 13, 's', 'i', 'm', 'p', 'l', 'e', '/', 's', 'u',
        'b', 0, 'X', 'Y',
        0x00, 0x00, 0x00, 0x03,
        0xbe, 0xef,
    };
    Simple d = { 0 };
    uint8_t data[sizeof(simple_wire) + sizeof(sub) + 1];

    memcpy(data, simple_wire, sizeof(simple_wire));
    memcpy(data + sizeof(simple_wire), sub, sizeof(sub));
    data[sizeof(data) - 1] = TRAILER;
    load_fails(data, sizeof(data), &vmstate_simple, &d, 1,
               "subsection name 'simple/sub' is followed by a NUL byte");
    g_assert_cmpuint(d.a, ==, 0);   /* and nothing of it stayed */
}

/* Random corruption of a valid stream: fail or succeed, never crash. */
static void test_fuzz(void)
{
    GRand *r = g_rand_new_with_seed(0x7a55);
    Dev s = dev_value();
    g_autofree uint8_t *data = NULL;
    size_t len;
    int iter, failed = 0;

    data = save_ok(&vmstate_dev, &s, &len);
    for (iter = 0; iter < 3000; iter++) {
        g_autofree uint8_t *bad = g_memdup2(data, len);
        Dev d = dev_blank();
        int i, flips = g_rand_int_range(r, 1, 4);

        for (i = 0; i < flips; i++) {
            bad[g_rand_int_range(r, 0, len)] = g_rand_boolean(r) ?
                g_rand_int(r) : QEMU_VM_SUBSECTION;
        }
        if (iter % 3 == 0) {
            /* Pure noise as well. */
            for (i = 0; i < (int)len; i++) {
                bad[i] = g_rand_int(r);
            }
        }
        if (!load_bytes(bad, g_rand_int_range(r, 0, len + 1), &vmstate_dev,
                        &d, 2, NULL)) {
            failed++;
        }
        g_assert_cmpuint(d.canary1, ==, 0xc1);
        g_assert_cmpuint(d.canary2, ==, 0xc2);
        g_assert_cmpuint(d.canary3, ==, 0xc3);
    }
    g_assert_cmpint(failed, >, 1000);
    g_rand_free(r);
}

/* ------------------------------------------------------------------ */
/* VMDESC                                                             */

static JsonNode *vmdesc_of(const VMStateDescription *vmsd, void *opaque)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree uint8_t *data = NULL;
    size_t len;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, vmsd->name);
    json_builder_set_member_name(b, "instance_id");
    json_builder_add_int_value(b, 0);
    data = save_bytes(vmsd, opaque, b, &len, &error_abort);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static JsonObject *field_at(JsonObject *desc, guint i)
{
    return json_array_get_object_element(
        json_object_get_array_member(desc, "fields"), i);
}

static void check_field(JsonObject *field, const char *name, const char *type,
                        gint64 size)
{
    g_assert_cmpstr(json_object_get_string_member(field, "name"), ==, name);
    g_assert_cmpstr(json_object_get_string_member(field, "type"), ==, type);
    g_assert_cmpint(json_object_get_int_member(field, "size"), ==, size);
}

static void test_vmdesc_simple(void)
{
    Simple s = simple_value();
    JsonNode *root;
    JsonObject *o, *sub;
    JsonArray *subs;

    s.g = 1;
    root = vmdesc_of(&vmstate_simple, &s);
    o = json_node_get_object(root);
    g_assert_cmpstr(json_object_get_string_member(o, "name"), ==, "simple");
    g_assert_cmpstr(json_object_get_string_member(o, "vmsd_name"), ==,
                    "simple");
    g_assert_cmpint(json_object_get_int_member(o, "version"), ==, 1);
    g_assert_cmpint(json_object_get_int_member(o, "instance_id"), ==, 0);
    g_assert_cmpuint(json_array_get_length(
                         json_object_get_array_member(o, "fields")), ==, 8);
    check_field(field_at(o, 0), "a", "uint8", 1);
    check_field(field_at(o, 1), "b", "uint16", 2);
    check_field(field_at(o, 2), "c", "uint32", 4);
    check_field(field_at(o, 3), "d", "uint64", 8);
    check_field(field_at(o, 4), "e", "int32", 4);
    check_field(field_at(o, 5), "e64", "int64", 8);
    check_field(field_at(o, 6), "f", "bool", 1);
    check_field(field_at(o, 7), "buf", "buffer", 3);
    g_assert_false(json_object_has_member(field_at(o, 7), "array_len"));

    subs = json_object_get_array_member(o, "subsections");
    g_assert_cmpuint(json_array_get_length(subs), ==, 1);
    sub = json_array_get_object_element(subs, 0);
    g_assert_cmpstr(json_object_get_string_member(sub, "vmsd_name"), ==,
                    "simple/sub");
    g_assert_cmpint(json_object_get_int_member(sub, "version"), ==, 3);
    check_field(field_at(sub, 0), "g", "uint16", 2);
    json_node_unref(root);

    /* No subsection sent, no "subsections" member. */
    s.g = 0;
    root = vmdesc_of(&vmstate_simple, &s);
    g_assert_false(json_object_has_member(json_node_get_object(root),
                                          "subsections"));
    json_node_unref(root);
}

static void test_vmdesc_dev(void)
{
    Dev s = dev_value();
    JsonNode *root = vmdesc_of(&vmstate_dev, &s);
    JsonObject *o = json_node_get_object(root);
    JsonObject *f, *st;
    JsonArray *fields = json_object_get_array_member(o, "fields");
    guint i, n = json_array_get_length(fields);
    int unused = 0;

    /* Scalar arrays: one entry with array_len, size per element. */
    f = field_at(o, 0);
    check_field(f, "arr8", "uint8", 1);
    g_assert_cmpint(json_object_get_int_member(f, "array_len"), ==, 5);
    f = field_at(o, 1);
    check_field(f, "arr32", "uint32", 4);
    g_assert_cmpint(json_object_get_int_member(f, "array_len"), ==, 3);

    /* A struct: nested description, size includes its subsection. */
    f = field_at(o, 6);
    check_field(f, "inner", "struct", 4 + 1 + (1 + 1 + 11 + 4 + 2));
    g_assert_false(json_object_has_member(f, "index"));
    st = json_object_get_object_member(f, "struct");
    g_assert_cmpstr(json_object_get_string_member(st, "vmsd_name"), ==,
                    "inner");
    g_assert_cmpuint(json_array_get_length(
                         json_object_get_array_member(st, "subsections")),
                     ==, 1);

    /* A struct array: one entry per element with its index. */
    f = field_at(o, 7);
    check_field(f, "inners", "struct", 5);
    g_assert_cmpint(json_object_get_int_member(f, "index"), ==, 0);
    g_assert_false(json_object_has_member(
                       json_object_get_object_member(f, "struct"),
                       "subsections"));
    f = field_at(o, 8);
    check_field(f, "inners", "struct", 5 + 19);
    g_assert_cmpint(json_object_get_int_member(f, "index"), ==, 1);

    /* Variable arrays describe the live elements only. */
    f = field_at(o, 10);
    check_field(f, "items", "uint16", 2);
    g_assert_cmpint(json_object_get_int_member(f, "array_len"), ==, 3);

    /* Repeated names are made unique. */
    for (i = 0; i < n; i++) {
        f = field_at(o, i);
        if (g_str_has_prefix(json_object_get_string_member(f, "name"),
                             "unused")) {
            g_autofree char *expect = g_strdup_printf("unused[%d]", unused);

            g_assert_cmpstr(json_object_get_string_member(f, "name"), ==,
                            expect);
            g_assert_cmpstr(json_object_get_string_member(f, "type"), ==,
                            "unused_buffer");
            unused++;
        }
    }
    g_assert_cmpint(unused, ==, 2);
    json_node_unref(root);
}

/* The description's sizes add up to the bytes actually written. */
static gint64 desc_size(JsonObject *desc)
{
    JsonArray *fields = json_object_get_array_member(desc, "fields");
    gint64 total = 0;
    guint i;

    for (i = 0; i < json_array_get_length(fields); i++) {
        JsonObject *f = json_array_get_object_element(fields, i);
        gint64 n = json_object_has_member(f, "array_len") ?
                   json_object_get_int_member(f, "array_len") : 1;

        total += n * json_object_get_int_member(f, "size");
    }
    if (json_object_has_member(desc, "subsections")) {
        JsonArray *subs = json_object_get_array_member(desc, "subsections");

        for (i = 0; i < json_array_get_length(subs); i++) {
            JsonObject *sub = json_array_get_object_element(subs, i);

            total += 1 + 1 +
                     strlen(json_object_get_string_member(sub, "vmsd_name")) +
                     4 + desc_size(sub);
        }
    }
    return total;
}

static void test_vmdesc_sizes(void)
{
    Dev s = dev_value();
    JsonNode *root = vmdesc_of(&vmstate_dev, &s);
    g_autofree uint8_t *data = NULL;
    size_t len;

    data = save_ok(&vmstate_dev, &s, &len);
    g_assert_cmpint(desc_size(json_node_get_object(root)), ==, len - 1);
    json_node_unref(root);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vmstate/wire-format", test_wire_format);
    g_test_add_func("/vmstate/load-handmade", test_load_handmade);
    g_test_add_func("/vmstate/round-trip", test_round_trip);
    g_test_add_func("/vmstate/all-or-nothing/truncated",
                    test_all_or_nothing_truncated);
    g_test_add_func("/vmstate/all-or-nothing/post-load",
                    test_all_or_nothing_post_load);
    g_test_add_func("/vmstate/subsection-name-nul", test_subsection_name_nul);
    g_test_add_func("/vmstate/varray-partial", test_varray_partial);
    g_test_add_func("/vmstate/versions", test_versions);
    g_test_add_func("/vmstate/field-exists", test_field_exists);
    g_test_add_func("/vmstate/subsection/unknown", test_subsection_unknown);
    g_test_add_func("/vmstate/subsection/bad", test_subsection_bad);
    g_test_add_func("/vmstate/subsection/name-rule",
                    test_subsection_name_rule);
    g_test_add_func("/vmstate/bounds/varray", test_varray_bounds);
    g_test_add_func("/vmstate/bounds/struct-varray",
                    test_struct_varray_bounds);
    g_test_add_func("/vmstate/bad-values", test_bad_values);
    g_test_add_func("/vmstate/hooks", test_hooks);
    g_test_add_func("/vmstate/unmigratable", test_unmigratable);
    g_test_add_func("/vmstate/truncated", test_truncated);
    g_test_add_func("/vmstate/fuzz", test_fuzz);
    g_test_add_func("/vmstate/vmdesc/simple", test_vmdesc_simple);
    g_test_add_func("/vmstate/vmdesc/dev", test_vmdesc_dev);
    g_test_add_func("/vmstate/vmdesc/sizes", test_vmdesc_sizes);
    return g_test_run();
}
