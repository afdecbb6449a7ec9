/*
 * The software accelerator's CPU state hooks against a real Unicorn
 * engine: what KVM would hand over (real mode, flat protected mode with
 * KVM's segment encodings, x87/SSE in an XSAVE area, KVM's paravirtual
 * MSRs) must load into a tcg vCPU and read back the same, and what a
 * 32-bit software vCPU cannot run must be refused before anything
 * changes.  This is the half of kvm <-> tcg migration a host without
 * /dev/kvm can check; the qtests migrate between the two where it has.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "hw/boards.h"
#include "hw/i386/x86-state.h"
#include "migration/register.h"
#include "migration/vmstate.h"
#include "system/accel-ops.h"
#include "system/ramblock.h"
#include "system/runstate.h"

#define RAM_SIZE    (2 << 20)
#define GDT_ADDR    0x1000

/* What the machine would provide. */
MachineState *current_machine;

void qemu_system_shutdown_request(ShutdownCause cause)
{
}

void qemu_system_internal_error_request(void)
{
}

/* The sections are not saved here: the hooks are called directly. */
int vmstate_register(uint32_t instance_id, const VMStateDescription *vmsd,
                     void *opaque)
{
    return 0;
}

static CPUState *cpu0;
static bool have_tcg;

/* A GDT with KVM-style flat code (0x08) and data (0x10) descriptors. */
static void setup_machine(void)
{
    static MachineState ms = { .smp_cpus = 1, .accel = ACCEL_TCG };
    static const uint64_t gdt[] = {
        0, 0x00cf9a000000ffffULL, 0x00cf92000000ffffULL,
    };
    RAMBlock *rb;
    Error *err = NULL;

    current_machine = &ms;
    rb = ram_block_new("pc.ram", RAM_SIZE, NULL, &error_abort);
    guest_mem_map(0, rb, 0, RAM_SIZE);
    memcpy(rb->host + GDT_ADDR, gdt, sizeof(gdt));
    bql_lock();
    have_tcg = accel_init(&tcg_accel_ops, &ms, &err);
    if (!have_tcg) {
        g_test_message("no software accelerator: %s", error_get_pretty(err));
        error_free(err);
    } else {
        cpu0 = current_accel->create_vcpu(0, &error_abort);
    }
    bql_unlock();
}

static void seg_set(X86Seg *s, uint16_t sel, uint64_t base, uint32_t limit,
                    uint8_t type, bool code32)
{
    *s = (X86Seg) {
        .selector = sel, .base = base, .limit = limit, .type = type,
        .present = 1, .s = 1, .db = code32, .g = limit > 0xfffff,
    };
}

/* A state as KVM_GET_* gives it for a guest in flat protected mode. */
static void kvm_like_pmode(X86CPUSaved *st)
{
    memset(st, 0, sizeof(*st));
    for (int i = 0; i <= X86_GPR_RBP; i++) {
        st->gprs[i] = 0x11111111u * (i + 1);
    }
    st->rip = 0x7c80;
    st->rflags = 0x46;
    st->cr0 = 0x60000011;
    seg_set(&st->segs[X86_SEG_CS], 0x08, 0, 0xffffffff, 0xb, true);
    for (int i = X86_SEG_DS; i <= X86_SEG_SS; i++) {
        seg_set(&st->segs[i], 0x10, 0, 0xffffffff, 0x3, true);
    }
    st->segs[X86_SEG_TR] = (X86Seg) { .limit = 0xffff, .type = 0xb,
                                      .present = 1 };
    st->segs[X86_SEG_LDT] = (X86Seg) { .limit = 0xffff, .type = 0x2,
                                       .present = 1 };
    st->gdt_base = GDT_ADDR;
    st->gdt_limit = 23;
    st->idt_limit = 0xffff;
    st->xsave_len = X86_CPU_XSAVE_MIN;
    st->xsave[0] = 0x7f;                /* FCW 0x037f */
    st->xsave[1] = 0x03;
    st->xsave[24] = 0x80;               /* MXCSR 0x1f80 */
    st->xsave[25] = 0x1f;
    memset(st->xsave + 160 + 16 * 3, 0xa5, 16);    /* XMM3 */
    st->xsave[X86_XSAVE_HEADER_OFFSET] = 3;
    st->nr_msrs = 2;
    st->msrs[0] = (X86Reg) { X86_MSR_IA32_SYSENTER_CS, 0x10 };
    st->msrs[1] = (X86Reg) { X86_MSR_KVM_SYSTEM_TIME_NEW, 0x1234 };
    st->mp_state = X86_MP_STATE_RUNNABLE;
    st->has_debugregs = true;
    st->dr6 = 0xffff0ff0;
    st->dr7 = 0x400;
}

static void put_get(const X86CPUSaved *in, X86CPUSaved *out)
{
    Error *err = NULL;

    bql_lock();
    if (!current_accel->cpu_put_state(cpu0, in, &err)) {
        g_error("put: %s", error_get_pretty(err));
    }
    memset(out, 0, sizeof(*out));
    g_assert_true(current_accel->cpu_get_state(cpu0, out, &error_abort));
    bql_unlock();
}

static void assert_seg(const X86Seg *a, const X86Seg *b)
{
    g_assert_cmphex(a->selector, ==, b->selector);
    g_assert_cmphex(a->base, ==, b->base);
    g_assert_cmphex(a->limit, ==, b->limit);
    g_assert_cmpuint(a->type, ==, b->type);
    g_assert_cmpuint(a->present, ==, b->present);
    g_assert_cmpuint(a->db, ==, b->db);
    g_assert_cmpuint(a->s, ==, b->s);
}

static void test_pmode_round_trip(void)
{
    X86CPUSaved in, out;

    if (!have_tcg) {
        g_test_skip("Unicorn is not available");
        return;
    }
    kvm_like_pmode(&in);
    put_get(&in, &out);
    for (int i = 0; i <= X86_GPR_RBP; i++) {
        g_assert_cmphex(out.gprs[i], ==, in.gprs[i]);
    }
    g_assert_cmphex(out.rip, ==, in.rip);
    g_assert_cmphex(out.rflags, ==, in.rflags);
    g_assert_cmphex(out.cr0, ==, in.cr0);
    for (int i = X86_SEG_CS; i <= X86_SEG_SS; i++) {
        assert_seg(&out.segs[i], &in.segs[i]);
    }
    assert_seg(&out.segs[X86_SEG_TR], &in.segs[X86_SEG_TR]);
    g_assert_cmphex(out.gdt_base, ==, GDT_ADDR);
    g_assert_cmpuint(out.gdt_limit, ==, 23);
    g_assert_cmpmem(out.xsave + 160 + 48, 16, in.xsave + 160 + 48, 16);
    g_assert_cmpmem(out.xsave, 2, in.xsave, 2);
    g_assert_cmpmem(out.xsave + 24, 4, in.xsave + 24, 4);
    /* SYSENTER_CS is Unicorn's; KVM's paravirtual clock MSR is not. */
    for (uint32_t i = 0; i < out.nr_msrs; i++) {
        g_assert_cmphex(out.msrs[i].index, !=, X86_MSR_KVM_SYSTEM_TIME_NEW);
        if (out.msrs[i].index == X86_MSR_IA32_SYSENTER_CS) {
            g_assert_cmphex(out.msrs[i].value, ==, 0x10);
        }
    }
    g_assert_true(x86_cpu_check_state(&out, &error_abort));
}

static void test_realmode_round_trip(void)
{
    X86CPUSaved in, out;

    if (!have_tcg) {
        g_test_skip("Unicorn is not available");
        return;
    }
    kvm_like_pmode(&in);
    in.cr0 = 0x60000010;
    in.rip = 0x12;
    seg_set(&in.segs[X86_SEG_CS], 0x800, 0x8000, 0xffff, 0xb, false);
    for (int i = X86_SEG_DS; i <= X86_SEG_SS; i++) {
        seg_set(&in.segs[i], 0x70, 0x700, 0xffff, 0x3, false);
    }
    put_get(&in, &out);
    g_assert_cmphex(out.rip, ==, 0x12);
    for (int i = X86_SEG_CS; i <= X86_SEG_SS; i++) {
        assert_seg(&out.segs[i], &in.segs[i]);
    }
}

static void test_refuse_long_mode(void)
{
    X86CPUSaved in, out;
    Error *err = NULL;

    if (!have_tcg) {
        g_test_skip("Unicorn is not available");
        return;
    }
    kvm_like_pmode(&in);
    put_get(&in, &out);
    in.efer = 0x500;        /* LME | LMA */
    in.rip = 0xdead;
    bql_lock();
    g_assert_false(current_accel->cpu_put_state(cpu0, &in, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "long mode"));
    error_free(err);
    err = NULL;
    in.efer = 0;
    in.gprs[X86_GPR_R9] = 1;
    g_assert_false(current_accel->cpu_put_state(cpu0, &in, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "64-bit"));
    error_free(err);
    /* Nothing of the refused states reached the vCPU. */
    g_assert_true(current_accel->cpu_get_state(cpu0, &out, &error_abort));
    g_assert_cmphex(out.rip, ==, 0x7c80);
    bql_unlock();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    setup_machine();
    g_test_add_func("/tcg-state/pmode-round-trip", test_pmode_round_trip);
    g_test_add_func("/tcg-state/realmode-round-trip",
                    test_realmode_round_trip);
    g_test_add_func("/tcg-state/refuse-long-mode", test_refuse_long_mode);
    return g_test_run();
}
