/*
 * Unit tests for the accelerator-neutral x86 state sections
 * (hw/i386/x86-cpu-state.c, x86-irqchip-state.c): a fake accelerator is
 * installed as current_accel; its get hooks give known states, which go
 * through the real VMState code into a buffer and back, and its put hooks
 * record what they received.  Hostile streams (values no accelerator can
 * take) must fail with an error that says what is wrong, and never reach
 * a put hook.  The byte length of a "cpu" section is pinned, so that an
 * accidental change of the wire format shows.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/main-loop.h"
#include "io/channel-buffer.h"
#include "migration/register.h"
#include "migration/vmstate.h"
#include "system/accel-ops.h"
#include "hw/i386/x86-state.h"

/* Stands for the section footer that follows the fields in a stream. */
#define TRAILER 0x7e

/* ------------------------------------------------------------------ */
/* The registry: vmstate_register() as the machine would call it.     */

typedef struct Entry {
    uint32_t instance;
    const VMStateDescription *vmsd;
    void *opaque;
} Entry;

static Entry entries[16];
static int nr_entries;

int vmstate_register(uint32_t instance_id, const VMStateDescription *vmsd,
                     void *opaque)
{
    g_assert_cmpint(nr_entries, <, G_N_ELEMENTS(entries));
    for (int i = 0; i < nr_entries; i++) {
        if (entries[i].instance == instance_id &&
            !strcmp(entries[i].vmsd->name, vmsd->name)) {
            return -1;
        }
    }
    entries[nr_entries] = (Entry){ instance_id, vmsd, opaque };
    return nr_entries++;
}

static Entry *entry_find(const char *name, uint32_t instance)
{
    for (int i = 0; i < nr_entries; i++) {
        if (entries[i].instance == instance &&
            !strcmp(entries[i].vmsd->name, name)) {
            return &entries[i];
        }
    }
    g_error("section %s/%u is not registered", name, instance);
}

/* ------------------------------------------------------------------ */
/* The fake accelerator                                               */

static X86CPUSaved *fake_cpu_src;       /* what cpu_get_state gives */
static X86CPUSaved *fake_cpu_got;       /* what cpu_put_state got last */
static int fake_cpu_gets, fake_cpu_puts;

static void *fake_chip_src[X86_IRQCHIP_CLOCK + 1];
static void *fake_chip_got[X86_IRQCHIP_CLOCK + 1];
static int fake_chip_puts[X86_IRQCHIP_CLOCK + 1];

static size_t part_size(X86IrqchipPart part)
{
    switch (part) {
    case X86_IRQCHIP_PIC_MASTER:
    case X86_IRQCHIP_PIC_SLAVE:
        return sizeof(X86PICSaved);
    case X86_IRQCHIP_IOAPIC:
        return sizeof(X86IOAPICSaved);
    case X86_IRQCHIP_PIT:
        return sizeof(X86PITSaved);
    case X86_IRQCHIP_CLOCK:
        return sizeof(X86ClockSaved);
    }
    g_assert_not_reached();
}

static bool fake_cpu_get_state(CPUState *cpu, X86CPUSaved *st, Error **errp)
{
    CPUState *keep = st->cpu;

    g_assert(cpu == st->cpu);
    memcpy(st, fake_cpu_src, sizeof(*st));
    st->cpu = keep;
    fake_cpu_gets++;
    return true;
}

static bool fake_cpu_put_state(CPUState *cpu, const X86CPUSaved *st,
                               Error **errp)
{
    g_assert(cpu == st->cpu);
    memcpy(fake_cpu_got, st, sizeof(*st));
    fake_cpu_puts++;
    return true;
}

static bool fake_irqchip_get(X86IrqchipPart part, void *state, Error **errp)
{
    memcpy(state, fake_chip_src[part], part_size(part));
    return true;
}

static bool fake_irqchip_put(X86IrqchipPart part, const void *state,
                             Error **errp)
{
    memcpy(fake_chip_got[part], state, part_size(part));
    fake_chip_puts[part]++;
    return true;
}

static const AccelOps fake_accel_ops = {
    .name = "fake",
    .cpu_get_state = fake_cpu_get_state,
    .cpu_put_state = fake_cpu_put_state,
    .irqchip_get = fake_irqchip_get,
    .irqchip_put = fake_irqchip_put,
};

static int total_puts(void)
{
    int n = fake_cpu_puts;

    for (int i = 0; i <= X86_IRQCHIP_CLOCK; i++) {
        n += fake_chip_puts[i];
    }
    return n;
}

/* ------------------------------------------------------------------ */
/* Save and load over a buffer channel                                */

/* The fields of @e, then TRAILER; NULL (with @errp set) if saving fails. */
static uint8_t *save_entry(Entry *e, size_t *len, Error **errp)
{
    QIOChannel *ioc = qio_channel_buffer_new(4096);
    QEMUFile *f = qemu_file_new_output(ioc);
    bool ok = vmstate_save_state(f, e->vmsd, e->opaque, NULL, errp);
    uint8_t *data = NULL;

    qemu_put_byte(f, TRAILER);
    g_assert_cmpint(qemu_fclose(f), ==, 0);
    if (ok) {
        data = qio_channel_buffer_dup_data(ioc, len);
    }
    qio_channel_unref(ioc);
    return data;
}

/* Load @data into @e; the load must end right before the trailer. */
static bool load_entry(Entry *e, const uint8_t *data, size_t len,
                       Error **errp)
{
    QIOChannel *ioc = qio_channel_buffer_new_data(data, len);
    QEMUFile *f = qemu_file_new_input(ioc);
    bool ok = vmstate_load_state(f, e->vmsd, e->opaque, e->vmsd->version_id,
                                 errp);

    if (ok && (qemu_get_byte(f) != TRAILER || qemu_file_get_error(f))) {
        error_setg(errp, "the load did not end right before the trailer");
        ok = false;
    }
    qemu_fclose(f);
    qio_channel_unref(ioc);
    return ok;
}

/* The load of @data must fail, mention @needle, and call no put hook. */
static void load_refused(Entry *e, const uint8_t *data, size_t len,
                         const char *needle)
{
    int puts = total_puts();
    Error *err = NULL;

    g_assert_false(load_entry(e, data, len, &err));
    g_assert_nonnull(err);
    if (!strstr(error_get_pretty(err), needle)) {
        g_error("error '%s' does not mention '%s'", error_get_pretty(err),
                needle);
    }
    if (g_test_verbose()) {
        g_test_message("refused: %s", error_get_pretty(err));
    }
    error_free(err);
    g_assert_cmpint(total_puts(), ==, puts);
}

/* Saving @e must fail and mention @needle. */
static void save_refused(Entry *e, const char *needle)
{
    Error *err = NULL;
    size_t len;

    g_assert_null(save_entry(e, &len, &err));
    g_assert_nonnull(err);
    if (!strstr(error_get_pretty(err), needle)) {
        g_error("error '%s' does not mention '%s'", error_get_pretty(err),
                needle);
    }
    error_free(err);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
}

/* ------------------------------------------------------------------ */
/* Known states                                                       */

#define TEST_CPU_INDEX  3
#define TEST_XSAVE_LEN  (X86_CPU_XSAVE_MIN + 64)
#define TEST_NR_MSRS    5

static CPUState test_cpu = { .cpu_index = TEST_CPU_INDEX };

/* A state with every part set to something recognisable. */
static void cpu_fill(X86CPUSaved *st, bool subsections)
{
    static const uint32_t msrs[TEST_NR_MSRS] = {
        X86_MSR_IA32_SYSENTER_CS, X86_MSR_LSTAR, X86_MSR_IA32_TSC,
        X86_MSR_IA32_TSC_DEADLINE, X86_MSR_KVM_SYSTEM_TIME_NEW,
    };

    memset(st, 0, sizeof(*st));
    for (int i = 0; i < X86_CPU_NR_GPRS; i++) {
        st->gprs[i] = 0x1111111111111111ULL * (i + 1);
    }
    st->rip = 0xffffffff81000123ULL;
    st->rflags = 0x246;
    for (int i = 0; i < X86_CPU_NR_SEGS; i++) {
        st->segs[i] = (X86Seg) {
            .base = 0x1000ULL * i, .limit = 0xfffff - i, .selector = 8 * i,
            .type = 0xb, .present = 1, .dpl = i & 3, .db = 1, .s = 1,
            .l = i == X86_SEG_CS, .g = 1, .avl = 0, .unusable = i == 7,
        };
    }
    st->gdt_base = 0xfffffe0000001000ULL;
    st->gdt_limit = 0x7f;
    st->idt_base = 0xfffffe0000000000ULL;
    st->idt_limit = 0xfff;
    st->cr0 = 0x80050033;
    st->cr2 = 0x7f0000001000ULL;
    st->cr3 = 0x1234000;
    st->cr4 = 0x3506f0;
    st->cr8 = 2;
    st->efer = 0xd01;
    st->apic_base = 0xfee00900;
    st->xsave_len = TEST_XSAVE_LEN;
    for (uint32_t i = 0; i < st->xsave_len; i++) {
        st->xsave[i] = i * 7 + 1;
    }
    st->nr_msrs = TEST_NR_MSRS;
    for (int i = 0; i < TEST_NR_MSRS; i++) {
        st->msrs[i] = (X86Reg){ msrs[i], 0xabcd000000000000ULL + i };
    }
    for (int i = 0; i < X86_APIC_REG_SIZE; i++) {
        st->lapic[i] = i ^ 0x5a;
    }
    st->mp_state = X86_MP_STATE_HALTED;
    st->ev_flags = X86_EVENT_VALID_SIPI_VECTOR | X86_EVENT_VALID_SHADOW |
                   X86_EVENT_VALID_PAYLOAD;
    st->exc_injected = 1;
    st->exc_nr = 14;
    st->exc_has_error_code = 1;
    st->exc_pending = 0;
    st->exc_error_code = 0x6;
    st->exc_has_payload = 1;
    st->exc_payload = 0xdead000;
    st->irq_injected = 1;
    st->irq_nr = 0x30;
    st->irq_soft = 0;
    st->irq_shadow = 1;
    st->nmi_injected = 0;
    st->nmi_pending = 1;
    st->nmi_masked = 1;
    st->sipi_vector = 0x9a;
    st->smm = 0;
    st->smi_pending = 1;
    st->smm_inside_nmi = 0;
    st->latched_init = 1;
    st->triple_fault_pending = 0;
    if (subsections) {
        st->pdptrs_valid = true;
        for (int i = 0; i < 4; i++) {
            st->pdptrs[i] = 0x2000001ULL + 0x1000 * i;
        }
        st->nr_xcrs = 1;
        st->xcrs[0] = (X86Reg){ 0, 0x7 };
        st->has_debugregs = true;
        for (int i = 0; i < 4; i++) {
            st->db[i] = 0x400000 + i;
        }
        st->dr6 = 0xffff0ff0;
        st->dr7 = 0x401;
    }
}

/* Every migrated field of @a and @b is equal. */
static void cpu_assert_equal(const X86CPUSaved *a, const X86CPUSaved *b)
{
    g_assert(!memcmp(a->gprs, b->gprs, sizeof(a->gprs)));
    g_assert_cmphex(a->rip, ==, b->rip);
    g_assert_cmphex(a->rflags, ==, b->rflags);
    for (int i = 0; i < X86_CPU_NR_SEGS; i++) {
        const X86Seg *x = &a->segs[i], *y = &b->segs[i];

        g_assert_cmphex(x->base, ==, y->base);
        g_assert_cmphex(x->limit, ==, y->limit);
        g_assert_cmphex(x->selector, ==, y->selector);
        g_assert_cmpuint(x->type, ==, y->type);
        g_assert_cmpuint(x->present, ==, y->present);
        g_assert_cmpuint(x->dpl, ==, y->dpl);
        g_assert_cmpuint(x->db, ==, y->db);
        g_assert_cmpuint(x->s, ==, y->s);
        g_assert_cmpuint(x->l, ==, y->l);
        g_assert_cmpuint(x->g, ==, y->g);
        g_assert_cmpuint(x->avl, ==, y->avl);
        g_assert_cmpuint(x->unusable, ==, y->unusable);
    }
    g_assert_cmphex(a->gdt_base, ==, b->gdt_base);
    g_assert_cmphex(a->gdt_limit, ==, b->gdt_limit);
    g_assert_cmphex(a->idt_base, ==, b->idt_base);
    g_assert_cmphex(a->idt_limit, ==, b->idt_limit);
    g_assert_cmphex(a->cr0, ==, b->cr0);
    g_assert_cmphex(a->cr2, ==, b->cr2);
    g_assert_cmphex(a->cr3, ==, b->cr3);
    g_assert_cmphex(a->cr4, ==, b->cr4);
    g_assert_cmphex(a->cr8, ==, b->cr8);
    g_assert_cmphex(a->efer, ==, b->efer);
    g_assert_cmphex(a->apic_base, ==, b->apic_base);
    g_assert_cmpint(a->pdptrs_valid, ==, b->pdptrs_valid);
    if (a->pdptrs_valid) {
        g_assert(!memcmp(a->pdptrs, b->pdptrs, sizeof(a->pdptrs)));
    }
    g_assert_cmpuint(a->xsave_len, ==, b->xsave_len);
    g_assert(!memcmp(a->xsave, b->xsave, a->xsave_len));
    g_assert_cmpuint(a->nr_xcrs, ==, b->nr_xcrs);
    for (uint32_t i = 0; i < a->nr_xcrs; i++) {
        g_assert_cmphex(a->xcrs[i].index, ==, b->xcrs[i].index);
        g_assert_cmphex(a->xcrs[i].value, ==, b->xcrs[i].value);
    }
    g_assert_cmpuint(a->nr_msrs, ==, b->nr_msrs);
    for (uint32_t i = 0; i < a->nr_msrs; i++) {
        g_assert_cmphex(a->msrs[i].index, ==, b->msrs[i].index);
        g_assert_cmphex(a->msrs[i].value, ==, b->msrs[i].value);
    }
    g_assert(!memcmp(a->lapic, b->lapic, sizeof(a->lapic)));
    g_assert_cmpuint(a->mp_state, ==, b->mp_state);
    g_assert_cmphex(a->ev_flags, ==, b->ev_flags);
    g_assert_cmpuint(a->exc_injected, ==, b->exc_injected);
    g_assert_cmpuint(a->exc_nr, ==, b->exc_nr);
    g_assert_cmpuint(a->exc_has_error_code, ==, b->exc_has_error_code);
    g_assert_cmpuint(a->exc_pending, ==, b->exc_pending);
    g_assert_cmphex(a->exc_error_code, ==, b->exc_error_code);
    g_assert_cmpuint(a->exc_has_payload, ==, b->exc_has_payload);
    g_assert_cmphex(a->exc_payload, ==, b->exc_payload);
    g_assert_cmpuint(a->irq_injected, ==, b->irq_injected);
    g_assert_cmpuint(a->irq_nr, ==, b->irq_nr);
    g_assert_cmpuint(a->irq_soft, ==, b->irq_soft);
    g_assert_cmpuint(a->irq_shadow, ==, b->irq_shadow);
    g_assert_cmpuint(a->nmi_injected, ==, b->nmi_injected);
    g_assert_cmpuint(a->nmi_pending, ==, b->nmi_pending);
    g_assert_cmpuint(a->nmi_masked, ==, b->nmi_masked);
    g_assert_cmphex(a->sipi_vector, ==, b->sipi_vector);
    g_assert_cmpuint(a->smm, ==, b->smm);
    g_assert_cmpuint(a->smi_pending, ==, b->smi_pending);
    g_assert_cmpuint(a->smm_inside_nmi, ==, b->smm_inside_nmi);
    g_assert_cmpuint(a->latched_init, ==, b->latched_init);
    g_assert_cmpuint(a->triple_fault_pending, ==, b->triple_fault_pending);
    g_assert_cmpint(a->has_debugregs, ==, b->has_debugregs);
    if (a->has_debugregs) {
        g_assert(!memcmp(a->db, b->db, sizeof(a->db)));
        g_assert_cmphex(a->dr6, ==, b->dr6);
        g_assert_cmphex(a->dr7, ==, b->dr7);
    }
}

/*
 * Make the registered copy hold nothing of the source's, as on a
 * destination: whatever put receives must have come from the stream.
 * The subsection flags are set, so that only their absence from the
 * stream can clear them.
 */
static void cpu_scribble(X86CPUSaved *st)
{
    CPUState *cpu = st->cpu;

    memset(st, 0xa5, sizeof(*st));
    st->cpu = cpu;
    st->pdptrs_valid = true;
    st->has_debugregs = true;
}

/*
 * The bytes of a "cpu" section, from its field list: what
 * tests/kvm/cpu-state-check.c reads at fixed offsets and what a KVM
 * destination of the first version of this section expects.
 */
#define SEG_BYTES       (8 + 4 + 2 + 9)         /* base limit selector ... */
#define REG_BYTES       (4 + 8)                 /* index, value */
#define CPU_XSAVE_LEN_OFFSET \
    (X86_CPU_NR_GPRS * 8 + 8 + 8 +              /* gprs rip rflags */ \
     X86_CPU_NR_SEGS * SEG_BYTES +              /* segs */ \
     8 + 2 + 8 + 2 +                            /* gdt, idt */ \
     7 * 8)                                     /* cr0-cr8 efer apic_base */
#define CPU_TAIL_BYTES \
    (4 + 4 +                                    /* mp_state ev_flags */ \
     4 + 4 + 1 + 8 +                            /* exception */ \
     4 + 3 + 4 +                                /* irq nmi sipi_vector */ \
     4 + 1)                                     /* smi, triple fault */
#define CPU_SECTION_BYTES(xsave_len, nr_msrs) \
    (CPU_XSAVE_LEN_OFFSET + 4 + (xsave_len) + 4 + (nr_msrs) * REG_BYTES + \
     X86_APIC_REG_SIZE + CPU_TAIL_BYTES)
/* Each subsection: 0x05, name length, name, be32 version, fields. */
#define SUBSECTION_BYTES(name, fields) (1 + 1 + strlen(name) + 4 + (fields))

G_STATIC_ASSERT(CPU_XSAVE_LEN_OFFSET == 404);
G_STATIC_ASSERT(CPU_SECTION_BYTES(0, 0) == 1477);

static void test_cpu_round_trip(void)
{
    Entry *e = entry_find("cpu", TEST_CPU_INDEX);
    X86CPUSaved *st = e->opaque;
    g_autofree X86CPUSaved *src = g_new0(X86CPUSaved, 1);
    g_autofree X86CPUSaved *got = g_new0(X86CPUSaved, 1);
    g_autofree uint8_t *data = NULL;
    size_t len, off;
    int gets = fake_cpu_gets, puts = fake_cpu_puts;

    g_assert(st->cpu == &test_cpu);
    cpu_fill(src, true);
    fake_cpu_src = src;
    fake_cpu_got = got;
    data = save_entry(e, &len, &error_abort);
    g_assert_cmpint(fake_cpu_gets, ==, gets + 1);

    /* The wire format, pinned: fields, then the three subsections. */
    g_assert_cmpuint(len - 1, ==,
                     CPU_SECTION_BYTES(TEST_XSAVE_LEN, TEST_NR_MSRS) +
                     SUBSECTION_BYTES("cpu/pdptrs", 4 * 8) +
                     SUBSECTION_BYTES("cpu/xcrs", 4 + REG_BYTES) +
                     SUBSECTION_BYTES("cpu/debugregs", 6 * 8));
    g_assert_cmpuint(len - 1, ==, 5842);
    g_assert_cmpuint(get_be32(data + CPU_XSAVE_LEN_OFFSET), ==,
                     TEST_XSAVE_LEN);
    off = CPU_XSAVE_LEN_OFFSET + 4 + TEST_XSAVE_LEN;
    g_assert_cmpuint(get_be32(data + off), ==, TEST_NR_MSRS);
    g_assert_cmphex(get_be32(data + off + 4), ==, X86_MSR_IA32_SYSENTER_CS);
    off = CPU_SECTION_BYTES(TEST_XSAVE_LEN, TEST_NR_MSRS);
    g_assert_cmpuint(data[off], ==, QEMU_VM_SUBSECTION);
    g_assert_cmpuint(data[off + 1], ==, strlen("cpu/pdptrs"));
    g_assert(!memcmp(data + off + 2, "cpu/pdptrs", strlen("cpu/pdptrs")));
    g_assert_cmpuint(data[len - 1], ==, TRAILER);

    cpu_scribble(st);
    g_assert_true(load_entry(e, data, len, &error_abort));
    g_assert_cmpint(fake_cpu_puts, ==, puts + 1);
    cpu_assert_equal(got, src);
    g_assert(got->cpu == &test_cpu);
}

/* Without the optional parts, no subsection is sent and none is set. */
static void test_cpu_no_subsections(void)
{
    Entry *e = entry_find("cpu", TEST_CPU_INDEX);
    g_autofree X86CPUSaved *src = g_new0(X86CPUSaved, 1);
    g_autofree X86CPUSaved *got = g_new0(X86CPUSaved, 1);
    g_autofree uint8_t *data = NULL;
    size_t len;

    cpu_fill(src, false);
    fake_cpu_src = src;
    fake_cpu_got = got;
    data = save_entry(e, &len, &error_abort);
    g_assert_cmpuint(len - 1, ==,
                     CPU_SECTION_BYTES(TEST_XSAVE_LEN, TEST_NR_MSRS));
    cpu_scribble(e->opaque);
    g_assert_true(load_entry(e, data, len, &error_abort));
    g_assert_false(got->pdptrs_valid);
    g_assert_false(got->has_debugregs);
    g_assert_cmpuint(got->nr_xcrs, ==, 0);
    cpu_assert_equal(got, src);
}

/* A saved "cpu" section of the known state (no subsections). */
static uint8_t *cpu_saved_bytes(size_t *len)
{
    static X86CPUSaved src, got;

    cpu_fill(&src, false);
    fake_cpu_src = &src;
    fake_cpu_got = &got;
    return save_entry(entry_find("cpu", TEST_CPU_INDEX), len, &error_abort);
}

/* Offset of the MSR count in cpu_saved_bytes(). */
#define CPU_NR_MSRS_OFFSET (CPU_XSAVE_LEN_OFFSET + 4 + TEST_XSAVE_LEN)
/* Offset of mp_state, ev_flags and exc_nr in cpu_saved_bytes(). */
#define CPU_MP_STATE_OFFSET \
    (CPU_NR_MSRS_OFFSET + 4 + TEST_NR_MSRS * REG_BYTES + X86_APIC_REG_SIZE)
#define CPU_EV_FLAGS_OFFSET (CPU_MP_STATE_OFFSET + 4)
#define CPU_EXC_NR_OFFSET   (CPU_EV_FLAGS_OFFSET + 4 + 1)

/* Corrupt one be32 of a valid section; loading it must be refused. */
static void cpu_refused_be32(size_t off, uint32_t val, const char *needle)
{
    size_t len;
    g_autofree uint8_t *data = cpu_saved_bytes(&len);

    put_be32(data + off, val);
    load_refused(entry_find("cpu", TEST_CPU_INDEX), data, len, needle);
}

static void test_cpu_bad_counts(void)
{
    /* Beyond the buffers: VMState's own bound stops them. */
    cpu_refused_be32(CPU_XSAVE_LEN_OFFSET, X86_CPU_XSAVE_MAX + 1,
                     "cpu.xsave: element count 32769 is out of range");
    cpu_refused_be32(CPU_XSAVE_LEN_OFFSET, 0x100000, "out of range");
    cpu_refused_be32(CPU_NR_MSRS_OFFSET, X86_CPU_MAX_MSRS + 1,
                     "cpu.msrs: element count 65 is out of range");
    cpu_refused_be32(CPU_NR_MSRS_OFFSET, 0xffffffff, "out of range");
}

/*
 * An XSAVE area shorter than the format allows, in an otherwise
 * well-formed section: the bytes before it, the new length, the first
 * @xlen bytes of the area, the rest.
 */
static void test_cpu_short_xsave(void)
{
    const uint32_t xlen = X86_XSAVE_LEGACY_SIZE + X86_XSAVE_HEADER_SIZE;
    size_t len;
    g_autofree uint8_t *data = cpu_saved_bytes(&len);
    size_t area = CPU_XSAVE_LEN_OFFSET + 4;
    size_t rest = area + TEST_XSAVE_LEN;
    g_autofree uint8_t *bad = g_malloc(len);

    memcpy(bad, data, area);
    put_be32(bad + CPU_XSAVE_LEN_OFFSET, xlen);
    memcpy(bad + area, data + area, xlen);
    memcpy(bad + area + xlen, data + rest, len - rest);
    load_refused(entry_find("cpu", TEST_CPU_INDEX), bad,
                 len - (TEST_XSAVE_LEN - xlen),
                 "XSAVE area of 576 bytes: it must have 4096 to 32768");
}

static void test_cpu_bad_values(void)
{
    cpu_refused_be32(CPU_NR_MSRS_OFFSET + 4, 0xdead,
                     "MSR 0xdead is not one qmig migrates");
    /* EFER travels in sregs: as an MSR it is foreign. */
    cpu_refused_be32(CPU_NR_MSRS_OFFSET + 4 + 2 * REG_BYTES, 0xc0000080,
                     "MSR 0xc0000080 is not one");
    cpu_refused_be32(CPU_MP_STATE_OFFSET, 99, "unknown MP state 99");
    cpu_refused_be32(CPU_MP_STATE_OFFSET, X86_MP_STATE_SIPI_RECEIVED + 1,
                     "unknown MP state 5");
    cpu_refused_be32(CPU_EV_FLAGS_OFFSET, 0x40,
                     "unknown vCPU event flags 0x40");
}

static void test_cpu_bad_exception(void)
{
    size_t len;
    g_autofree uint8_t *data = cpu_saved_bytes(&len);

    g_assert_cmpuint(data[CPU_EXC_NR_OFFSET], ==, 14);
    data[CPU_EXC_NR_OFFSET] = 32;
    load_refused(entry_find("cpu", TEST_CPU_INDEX), data, len,
                 "exception vector 32 is not an exception");
}

/* The source refuses to send what a destination would refuse. */
static void test_cpu_save_checks(void)
{
    Entry *e = entry_find("cpu", TEST_CPU_INDEX);
    g_autofree X86CPUSaved *src = g_new0(X86CPUSaved, 1);

    cpu_fill(src, true);
    src->msrs[1].index = 0x1234;
    fake_cpu_src = src;
    save_refused(e, "fake accelerator gave an unmigratable state: "
                 "MSR 0x1234");
    cpu_fill(src, true);
    src->xsave_len = 100;
    save_refused(e, "XSAVE area of 100 bytes");
}

/* Without an accelerator that moves vCPU state, saving fails cleanly. */
static void test_cpu_no_accel(void)
{
    Entry *e = entry_find("cpu", TEST_CPU_INDEX);
    AccelOps partial = fake_accel_ops;
    size_t len;
    g_autofree uint8_t *data = cpu_saved_bytes(&len);

    current_accel = NULL;
    save_refused(e, "Cannot save the state of vCPU 3: the accelerator "
                 "(none) does not support it");
    load_refused(e, data, len, "Cannot load the state of vCPU 3");
    partial.cpu_put_state = NULL;
    current_accel = &partial;
    load_refused(e, data, len, "the accelerator fake does not support it");
    current_accel = &fake_accel_ops;
}

/* ------------------------------------------------------------------ */
/* Interrupt controllers, PIT, clock                                  */

static X86PICSaved pic_src[2], pic_got[2];
static X86IOAPICSaved ioapic_src, ioapic_got;
static X86PITSaved pit_src, pit_got;
static X86ClockSaved clock_src, clock_got;

static void chip_fill(void)
{
    for (int i = 0; i < 2; i++) {
        pic_src[i] = (X86PICSaved) {
            .last_irr = 0x01 + i, .irr = 0x10 + i, .imr = 0xb8 + i,
            .isr = 0x04 << i, .priority_add = 3 + i, .irq_base = 0x08 + 0x68 * i,
            .read_reg_select = 1, .poll = 0, .special_mask = i,
            .init_state = i ? 0 : 2, .auto_eoi = i, .rotate_on_auto_eoi = 0,
            .special_fully_nested_mode = 1 - i, .init4 = 1,
            .elcr = 0x0c << i, .elcr_mask = i ? 0xde : 0xf8,
        };
    }
    ioapic_src.base_address = X86_IOAPIC_BASE;
    ioapic_src.ioregsel = 0x10;
    ioapic_src.id = 0x1000000;
    ioapic_src.irr = 0x00800002;
    for (int i = 0; i < X86_IOAPIC_NUM_PINS; i++) {
        ioapic_src.redirtbl[i] = ((uint64_t)i << 56) | 0x10000 | (0x20 + i);
    }
    for (int i = 0; i < X86_PIT_NR_CHANNELS; i++) {
        pit_src.ch[i] = (X86PITChannel) {
            .count = i == 0 ? X86_PIT_MAX_COUNT : 1193 * i,
            .latched_count = 0x1234 + i, .count_latched = i,
            .status_latched = 1, .status = 0x36 + i, .read_state = 3,
            .write_state = 4, .write_latch = 0x9c, .rw_mode = 3,
            .mode = i == 2 ? X86_PIT_MODE_UNSET : 2 + i, .bcd = 0,
            .gate = i != 2,
        };
    }
    pit_src.flags = X86_PIT_FLAGS_SPEAKER_DATA_ON;
    clock_src.clock = 0x123456789abcdefULL;
}

/* The migrated fields of two copies of @part are equal. */
static void chip_assert_equal(X86IrqchipPart part, const void *a,
                              const void *b)
{
    if (part == X86_IRQCHIP_IOAPIC) {
        /* The only one with padding (before redirtbl). */
        const X86IOAPICSaved *x = a, *y = b;

        g_assert_cmphex(x->base_address, ==, y->base_address);
        g_assert_cmphex(x->ioregsel, ==, y->ioregsel);
        g_assert_cmphex(x->id, ==, y->id);
        g_assert_cmphex(x->irr, ==, y->irr);
        g_assert(!memcmp(x->redirtbl, y->redirtbl, sizeof(x->redirtbl)));
        return;
    }
    /* u8 PIC registers; PIT channels of 16 bytes and a u32; a u64. */
    G_STATIC_ASSERT(sizeof(X86PICSaved) == 16);
    G_STATIC_ASSERT(sizeof(X86PITSaved) == 3 * 16 + 4);
    G_STATIC_ASSERT(sizeof(X86ClockSaved) == 8);
    g_assert(!memcmp(a, b, part_size(part)));
}

typedef struct ChipSection {
    const char *name;
    uint32_t instance;
    X86IrqchipPart part;
    size_t bytes;               /* its fields on the wire */
} ChipSection;

static const ChipSection chip_sections[] = {
    { "i8259", 0, X86_IRQCHIP_PIC_MASTER, 16 },
    { "i8259", 1, X86_IRQCHIP_PIC_SLAVE, 16 },
    { "ioapic", 0, X86_IRQCHIP_IOAPIC, 8 + 3 * 4 + 24 * 8 },
    { "i8254", 0, X86_IRQCHIP_PIT, 3 * (4 + 2 + 10) + 4 },
    { "kvmclock", 0, X86_IRQCHIP_CLOCK, 8 },
};

static void test_irqchip_round_trip(void)
{
    chip_fill();
    for (size_t i = 0; i < G_N_ELEMENTS(chip_sections); i++) {
        const ChipSection *c = &chip_sections[i];
        Entry *e = entry_find(c->name, c->instance);
        int puts = fake_chip_puts[c->part];
        g_autofree uint8_t *data = NULL;
        size_t len;

        data = save_entry(e, &len, &error_abort);
        g_assert_cmpuint(len - 1, ==, c->bytes);
        memset(e->opaque, 0xa5, part_size(c->part));
        memset(fake_chip_got[c->part], 0, part_size(c->part));
        g_assert_true(load_entry(e, data, len, &error_abort));
        g_assert_cmpint(fake_chip_puts[c->part], ==, puts + 1);
        chip_assert_equal(c->part, fake_chip_got[c->part],
                          fake_chip_src[c->part]);
    }
    /* The sections carry what the fields say, in order. */
    {
        size_t len;
        g_autofree uint8_t *data =
            save_entry(entry_find("i8259", 1), &len, &error_abort);

        g_assert_cmpuint(data[5], ==, 0x08 + 0x68);     /* irq_base */
        g_assert_cmpuint(data[15], ==, 0xde);           /* elcr_mask */
    }
}

/* Save @name/@instance from the known states, corrupt, expect refusal. */
static void chip_refused(const char *name, uint32_t instance, size_t off,
                         const uint8_t *bytes, size_t n, const char *needle)
{
    Entry *e = entry_find(name, instance);
    size_t len;
    g_autofree uint8_t *data = NULL;

    chip_fill();
    data = save_entry(e, &len, &error_abort);
    g_assert_cmpuint(off + n, <, len);
    memcpy(data + off, bytes, n);
    load_refused(e, data, len, needle);
}

static void test_irqchip_bad_values(void)
{
    static const uint8_t seven = 7, eight = 8, two = 2, six = 6, five = 5;
    static const uint8_t base[8] = { 0, 0, 0, 0, 0xfe, 0xe0, 0, 0 };
    static const uint8_t count[4] = { 0, 1, 0, 1 };
    static const uint8_t flags[4] = { 0, 0, 0, 4 };
    /*
     * Offsets inside one "i8254/channel" (16 bytes): count 0, read_state
     * 9, rw_mode 12, mode 13.
     */
    const size_t ch1 = 16;

    chip_refused("i8259", 0, 9, &seven, 1,
                 "PIC 0: invalid state (init_state 7");
    chip_refused("i8259", 1, 9, &seven, 1,
                 "PIC 1: invalid state (init_state 7");
    chip_refused("i8259", 0, 4, &eight, 1, "priority_add 8");
    chip_refused("i8259", 1, 6, &two, 1, "read_reg_select 2");
    chip_refused("ioapic", 0, 0, base, 8,
                 "IOAPIC at 0xfee00000: only 0xfec00000 is supported");
    chip_refused("i8254", 0, ch1 + 13, &six, 1,
                 "PIT channel 1: invalid state (count 1193, mode 6");
    chip_refused("i8254", 0, 0, count, 4,
                 "PIT channel 0: invalid state (count 65537");
    chip_refused("i8254", 0, 2 * ch1 + 12, &five, 1, "rw_mode 5");
    chip_refused("i8254", 0, ch1 + 9, &five, 1, "read_state 5");
    chip_refused("i8254", 0, 3 * ch1, flags, 4, "PIT: unknown flags 0x4");
}

/* An accelerator's bad copy is refused on the source already. */
static void test_irqchip_save_checks(void)
{
    chip_fill();
    pit_src.ch[0].mode = 9;
    save_refused(entry_find("i8254", 0),
                 "fake accelerator gave an unmigratable PIT: PIT channel 0");
    chip_fill();
    pic_src[1].init_state = 7;
    save_refused(entry_find("i8259", 1), "unmigratable PIC slave: PIC 1");
    chip_fill();
    ioapic_src.base_address = 0;
    save_refused(entry_find("ioapic", 0), "unmigratable IOAPIC");
    chip_fill();
}

/* Every section is registered once, under the names of the stream. */
static void test_registration(void)
{
    g_assert_cmpint(nr_entries, ==, 6);
    for (size_t i = 0; i < G_N_ELEMENTS(chip_sections); i++) {
        Entry *e = entry_find(chip_sections[i].name,
                              chip_sections[i].instance);

        g_assert_cmpint(e->vmsd->version_id, ==, 1);
    }
    g_assert_cmpint(entry_find("cpu", TEST_CPU_INDEX)->vmsd->version_id,
                    ==, 1);
    g_assert(entry_find("i8259", 0)->opaque !=
             entry_find("i8259", 1)->opaque);
    g_assert_true(x86_cpu_msr_migratable(X86_MSR_IA32_TSC_DEADLINE));
    g_assert_false(x86_cpu_msr_migratable(0xc0000080));     /* EFER */
    g_assert_cmpuint(x86_cpu_msr_list_len, ==, 52);
    g_assert_cmpuint(x86_cpu_msr_list_len, <=, X86_CPU_MAX_MSRS);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    fake_chip_src[X86_IRQCHIP_PIC_MASTER] = &pic_src[0];
    fake_chip_src[X86_IRQCHIP_PIC_SLAVE] = &pic_src[1];
    fake_chip_src[X86_IRQCHIP_IOAPIC] = &ioapic_src;
    fake_chip_src[X86_IRQCHIP_PIT] = &pit_src;
    fake_chip_src[X86_IRQCHIP_CLOCK] = &clock_src;
    fake_chip_got[X86_IRQCHIP_PIC_MASTER] = &pic_got[0];
    fake_chip_got[X86_IRQCHIP_PIC_SLAVE] = &pic_got[1];
    fake_chip_got[X86_IRQCHIP_IOAPIC] = &ioapic_got;
    fake_chip_got[X86_IRQCHIP_PIT] = &pit_got;
    fake_chip_got[X86_IRQCHIP_CLOCK] = &clock_got;

    /* As the machine does it: BQL held, the accelerator chosen first. */
    bql_lock();
    current_accel = &fake_accel_ops;
    x86_irqchip_state_register(true);
    x86_cpu_state_register(&test_cpu);

    g_test_add_func("/x86-state/registration", test_registration);
    g_test_add_func("/x86-state/cpu/round-trip", test_cpu_round_trip);
    g_test_add_func("/x86-state/cpu/no-subsections",
                    test_cpu_no_subsections);
    g_test_add_func("/x86-state/cpu/bad-counts", test_cpu_bad_counts);
    g_test_add_func("/x86-state/cpu/short-xsave", test_cpu_short_xsave);
    g_test_add_func("/x86-state/cpu/bad-values", test_cpu_bad_values);
    g_test_add_func("/x86-state/cpu/bad-exception", test_cpu_bad_exception);
    g_test_add_func("/x86-state/cpu/save-checks", test_cpu_save_checks);
    g_test_add_func("/x86-state/cpu/no-accel", test_cpu_no_accel);
    g_test_add_func("/x86-state/irqchip/round-trip",
                    test_irqchip_round_trip);
    g_test_add_func("/x86-state/irqchip/bad-values",
                    test_irqchip_bad_values);
    g_test_add_func("/x86-state/irqchip/save-checks",
                    test_irqchip_save_checks);
    return g_test_run();
}
