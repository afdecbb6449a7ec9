/*
 * Unicorn engines: creation, guest memory, the helper stub, real-mode
 * reset.
 *
 * Every vCPU has its own engine, opened in UC_MODE_32 whatever mode the
 * guest is in: Unicorn's 16-bit mode computes the start IP from the CS
 * selector and truncates it, which breaks a resume after the guest's far
 * jump to protected mode, while in 32-bit mode the address given to
 * uc_emu_start() is used as EIP and the guest's own CR0.PE and CS
 * descriptor decide how instructions decode.
 *
 * Unicorn's register writes of CR0/CR3/CR4 only store the value (mode
 * flags and TLB stay as they were), so control registers are loaded by
 * running MOV-to-CR instructions from a stub page mapped above guest RAM,
 * on a fresh engine, which starts in flat 32-bit mode.
 *
 * Runs at machine creation (main thread, BQL) or when the CPU state is
 * loaded (BQL, vCPU parked).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/mman.h>
#include <unicorn/x86.h>
#include "qapi/error.h"
#include "tcg-internal.h"
#include "trace.h"

/*
 * mov %edx,%cr3; mov %ecx,%cr4; mov %eax,%cr0; hlt -- in the order a
 * guest enabling paging would use.
 */
static const uint8_t tcg_stub_code[] = {
    0x0f, 0x22, 0xda,
    0x0f, 0x22, 0xe1,
    0x0f, 0x22, 0xc0,
    0xf4,
};

/* One page, read-only, shared by every engine (never written). */
static uint8_t *tcg_stub_page;


static bool tcg_check(uc_err err, TCGCPU *tc, const char *what,
                      Error **errp)
{
    if (err != UC_ERR_OK) {
        error_setg(errp, "vCPU %d: %s failed: %s", tc->cpu->cpu_index, what,
                   uc_strerror(err));
        return false;
    }
    return true;
}

/*
 * Below 4 GiB, what is neither RAM, the APIC page nor the stub reads as
 * an open bus (all ones) and drops writes, as under KVM (whose exits for
 * unclaimed MMIO do the same), instead of faulting the guest.
 */
static uint64_t tcg_open_bus_read(uc_engine *uc, uint64_t offset,
                                  unsigned size, void *opaque)
{
    return UINT64_MAX;
}

static void tcg_open_bus_write(uc_engine *uc, uint64_t offset,
                               unsigned size, uint64_t value, void *opaque)
{
}

static bool tcg_engine_map_hole(TCGCPU *tc, uint64_t start, uint64_t end,
                                Error **errp)
{
    if (start >= end) {
        return true;
    }
    return tcg_check(uc_mmio_map(tc->uc, start, end - start,
                                 tcg_open_bus_read, tc, tcg_open_bus_write,
                                 tc),
                     tc, "mapping the open bus", errp);
}

/* Everything below 4 GiB that no RAM section covers. */
static bool tcg_engine_map_holes(TCGCPU *tc, Error **errp)
{
    GPtrArray *secs = guest_mem_sections();
    uint64_t low_end = 0;

    for (guint i = 0; i < secs->len; i++) {
        GuestMemSection *s = g_ptr_array_index(secs, i);

        if (s->gpa == low_end) {
            low_end = s->gpa + s->size;
        }
    }
    return tcg_engine_map_hole(tc, MIN(low_end, TCG_APIC_BASE),
                               TCG_APIC_BASE, errp) &&
           tcg_engine_map_hole(tc, TCG_APIC_BASE + TCG_APIC_SIZE,
                               TCG_STUB_ADDR, errp);
}

static bool tcg_engine_map_ram(TCGCPU *tc, Error **errp)
{
    GPtrArray *secs = guest_mem_sections();

    for (guint i = 0; i < secs->len; i++) {
        GuestMemSection *s = g_ptr_array_index(secs, i);
        uc_err err = uc_mem_map_ptr(tc->uc, s->gpa, s->size, UC_PROT_ALL,
                                    s->block->host + s->offset);

        if (err != UC_ERR_OK) {
            error_setg(errp, "vCPU %d: could not map guest RAM [0x%" PRIx64
                       ", 0x%" PRIx64 ") into the emulator: %s",
                       tc->cpu->cpu_index, s->gpa, s->gpa + s->size,
                       uc_strerror(err));
            return false;
        }
    }
    if (!tcg_stub_page) {
        tcg_stub_page = mmap(NULL, TARGET_PAGE_SIZE, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (tcg_stub_page == MAP_FAILED) {
            tcg_stub_page = NULL;
            error_setg_errno(errp, errno, "could not allocate the stub page");
            return false;
        }
        memset(tcg_stub_page, 0xf4, TARGET_PAGE_SIZE);  /* hlt */
        memcpy(tcg_stub_page, tcg_stub_code, sizeof(tcg_stub_code));
    }
    return tcg_check(uc_mem_map_ptr(tc->uc, TCG_STUB_ADDR, TARGET_PAGE_SIZE,
                                    UC_PROT_READ | UC_PROT_EXEC,
                                    tcg_stub_page),
                     tc, "mapping the helper stub", errp);
}

static bool tcg_engine_add_hooks(TCGCPU *tc, Error **errp)
{
    uc_engine *uc = tc->uc;

    /* begin > end: the hook covers every address. */
    return tcg_check(uc_hook_add(uc, &tc->hook_block, UC_HOOK_BLOCK,
                                 tcg_block_hook, tc, 1, 0),
                     tc, "adding the block hook", errp) &&
           tcg_check(uc_hook_add(uc, &tc->hook_in, UC_HOOK_INSN,
                                 tcg_io_in_hook, tc, 1, 0, UC_X86_INS_IN),
                     tc, "adding the IN hook", errp) &&
           tcg_check(uc_hook_add(uc, &tc->hook_out, UC_HOOK_INSN,
                                 tcg_io_out_hook, tc, 1, 0, UC_X86_INS_OUT),
                     tc, "adding the OUT hook", errp) &&
           tcg_check(uc_hook_add(uc, &tc->hook_intr, UC_HOOK_INTR,
                                 tcg_intr_hook, tc, 1, 0),
                     tc, "adding the interrupt hook", errp) &&
           tcg_check(uc_hook_add(uc, &tc->hook_invalid, UC_HOOK_INSN_INVALID,
                                 tcg_invalid_hook, tc, 1, 0),
                     tc, "adding the invalid-instruction hook", errp) &&
           tcg_check(uc_hook_add(uc, &tc->hook_write, UC_HOOK_MEM_WRITE,
                                 tcg_dirty_write_hook, tc, 1, 0),
                     tc, "adding the dirty-log write hook", errp) &&
           tcg_check(uc_hook_add(uc, &tc->hook_unmapped,
                                 UC_HOOK_MEM_UNMAPPED, tcg_unmapped_hook,
                                 tc, 1, 0),
                     tc, "adding the unmapped-memory hook", errp);
}

bool tcg_engine_new(TCGCPU *tc, Error **errp)
{
    uc_err err = uc_open(UC_ARCH_X86, UC_MODE_32, &tc->uc);

    if (err != UC_ERR_OK) {
        tc->uc = NULL;
        error_setg(errp, "vCPU %d: could not open a Unicorn x86 engine: %s",
                   tc->cpu->cpu_index, uc_strerror(err));
        return false;
    }
    /* No exit addresses: the engine runs until a hook stops it. */
    if (!tcg_check(uc_ctl_exits_enable(tc->uc), tc, "enabling exits",
                   errp) ||
        !tcg_engine_map_ram(tc, errp) ||
        !tcg_apic_map(tc, errp) ||
        !tcg_engine_map_holes(tc, errp) ||
        !tcg_engine_add_hooks(tc, errp)) {
        tcg_engine_free(tc);
        return false;
    }
    trace_tcg_engine_new(tc->cpu->cpu_index);
    return true;
}

void tcg_engine_free(TCGCPU *tc)
{
    if (tc->uc) {
        uc_close(tc->uc);
        tc->uc = NULL;
    }
}

bool tcg_engine_load_crs(TCGCPU *tc, uint64_t cr0, uint64_t cr3,
                         uint64_t cr4, Error **errp)
{
    uint32_t eax = cr0, ecx = cr4, edx = cr3;
    uint64_t eip = 0;
    uc_err err;

    uc_reg_write(tc->uc, UC_X86_REG_EAX, &eax);
    uc_reg_write(tc->uc, UC_X86_REG_ECX, &ecx);
    uc_reg_write(tc->uc, UC_X86_REG_EDX, &edx);
    tc->in_stub = true;
    tcg_token_take(tc);
    err = uc_emu_start(tc->uc, TCG_STUB_ADDR, 0, 0, 0);
    tcg_token_put();
    tc->in_stub = false;
    uc_reg_read(tc->uc, UC_X86_REG_EIP, &eip);
    if (err != UC_ERR_OK || eip != TCG_STUB_ADDR + sizeof(tcg_stub_code)) {
        error_setg(errp, "vCPU %d: could not load CR0=0x%" PRIx64 " CR3=0x%"
                   PRIx64 " CR4=0x%" PRIx64 " (%s, stopped at 0x%" PRIx64
                   ")", tc->cpu->cpu_index, cr0, cr3, cr4, uc_strerror(err),
                   eip);
        return false;
    }
    /* The stub's registers are the guest's: the caller writes them next. */
    return true;
}

void tcg_engine_dump_regs(TCGCPU *tc)
{
    static const struct { int id; const char *name; } regs[] = {
        { UC_X86_REG_EAX, "EAX" }, { UC_X86_REG_EBX, "EBX" },
        { UC_X86_REG_ECX, "ECX" }, { UC_X86_REG_EDX, "EDX" },
        { UC_X86_REG_ESI, "ESI" }, { UC_X86_REG_EDI, "EDI" },
        { UC_X86_REG_ESP, "ESP" }, { UC_X86_REG_EBP, "EBP" },
        { UC_X86_REG_EIP, "EIP" }, { UC_X86_REG_EFLAGS, "EFLAGS" },
        { UC_X86_REG_CS, "CS" }, { UC_X86_REG_CR0, "CR0" },
    };
    g_autoptr(GString) s = g_string_new(NULL);

    for (size_t i = 0; i < ARRAY_SIZE(regs); i++) {
        uint64_t v = 0;

        uc_reg_read(tc->uc, regs[i].id, &v);
        g_string_append_printf(s, " %s=%08" PRIx64, regs[i].name, v);
    }
    error_report("vCPU %d:%s", tc->cpu->cpu_index, s->str);
}

/* Read the 8-byte descriptor for @selector from the guest's GDT/LDT. */
bool tcg_engine_read_desc(TCGCPU *tc, uint16_t selector, uint64_t *desc)
{
    uc_x86_mmr table = { 0 };
    uint32_t index = selector & ~7u;

    if (selector & 4) {
        uc_reg_read(tc->uc, UC_X86_REG_LDTR, &table);
    } else {
        uc_reg_read(tc->uc, UC_X86_REG_GDTR, &table);
    }
    if (index == 0 && !(selector & 4)) {
        return false;                   /* the null selector */
    }
    if (index + 7 > table.limit) {
        return false;
    }
    return uc_mem_read(tc->uc, table.base + index, desc, 8) == UC_ERR_OK;
}

uint64_t tcg_engine_seg_base(TCGCPU *tc, uint16_t selector)
{
    uint64_t cr0 = 0, desc;

    uc_reg_read(tc->uc, UC_X86_REG_CR0, &cr0);
    if (!(cr0 & 1)) {
        return (uint64_t)selector << 4;
    }
    if (!tcg_engine_read_desc(tc, selector, &desc)) {
        return 0;
    }
    return ((desc >> 16) & 0xffffff) | ((desc >> 32) & 0xff000000);
}

bool tcg_engine_reset_real(TCGCPU *tc, uint16_t cs, uint32_t ip,
                           Error **errp)
{
    static const int zeroed[] = {
        UC_X86_REG_EAX, UC_X86_REG_EBX, UC_X86_REG_ECX, UC_X86_REG_EDX,
        UC_X86_REG_ESI, UC_X86_REG_EDI, UC_X86_REG_ESP, UC_X86_REG_EBP,
        UC_X86_REG_DS, UC_X86_REG_ES, UC_X86_REG_SS, UC_X86_REG_FS,
        UC_X86_REG_GS,
    };
    uc_x86_mmr dt = { .base = 0, .limit = 0xffff };
    uint32_t zero = 0, eflags = 0x2;
    uint64_t eip = ip;
    uint16_t sel = cs;

    /* CR0 as after RESET: caches off, protection and paging off. */
    if (!tcg_engine_load_crs(tc, 0x60000010, 0, 0, errp)) {
        return false;
    }
    uc_reg_write(tc->uc, UC_X86_REG_GDTR, &dt);
    uc_reg_write(tc->uc, UC_X86_REG_IDTR, &dt);
    for (size_t i = 0; i < ARRAY_SIZE(zeroed); i++) {
        uc_reg_write(tc->uc, zeroed[i], &zero);
    }
    /* With CR0.PE clear, a selector write loads base = selector * 16. */
    uc_reg_write(tc->uc, UC_X86_REG_CS, &sel);
    uc_reg_write(tc->uc, UC_X86_REG_EFLAGS, &eflags);
    uc_reg_write(tc->uc, UC_X86_REG_EIP, &eip);
    trace_tcg_engine_reset_real(tc->cpu->cpu_index, cs, ip);
    return true;
}
