/*
 * The x86 machine: KVM with its in-kernel PIC/IOAPIC/LAPIC/PIT, guest RAM,
 * vCPUs, a few ISA devices on fixed ports, and no firmware: the boot
 * vCPU starts in real mode at 0:0x7c00 on sector 0 of the first drive,
 * which is where a PC BIOS would have put it.
 *
 * Built once by main() (main thread, BQL held) before anything runs.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "block/block-backend.h"
#include "config-host.h"
#include "hw/boards.h"
#include "hw/i386/pc.h"
#include "hw/char/serial.h"
#include "hw/misc/port92.h"
#include "system/accel-ops.h"
#include "system/kvm-cpu-state.h"
#include "hw/i386/x86-state.h"
#include "system/ramblock.h"
#include "trace.h"

/* The xAPIC ID is 8 bits and 0xff is the broadcast ID. */
#define PC_MAX_CPUS 255

/* Machine type families: any of the names maps to the canonical one. */
static const struct {
    const char *prefix;     /* the bare name, or a versioned "NAME-X.Y" */
    const char *canonical;
} pc_machine_types[] = {
    { "pc", "pc-i440fx" },
    { "pc-i440fx", "pc-i440fx" },
    { "q35", "pc-q35" },
    { "pc-q35", "pc-q35" },
    { "x86", "x86" },
};

static const char *pc_machine_canonical(const char *type)
{
    for (size_t i = 0; type && i < ARRAY_SIZE(pc_machine_types); i++) {
        const char *p = pc_machine_types[i].prefix;
        size_t n = strlen(p);

        if (!strcmp(type, p)) {
            return pc_machine_types[i].canonical;
        }
        /* Versioned QEMU names: pc-i440fx-9.2, pc-q35-8.0 ... */
        if (!strncmp(type, p, n) && type[n] == '-' && n > 2 &&
            g_ascii_isdigit(type[n + 1])) {
            return pc_machine_types[i].canonical;
        }
    }
    return NULL;
}

bool machine_type_valid(const char *type)
{
    return pc_machine_canonical(type) != NULL;
}

/*
 * Every type builds the same machine, but as in QEMU the name travels in
 * the migration stream and both ends must agree on the family.
 */
const char *machine_type_name(void)
{
    const char *name = current_machine ?
                       pc_machine_canonical(current_machine->type) : NULL;

    return name ? name : "pc-i440fx";
}

static bool pc_check_config(MachineState *ms, Error **errp)
{
    if (ms->smp_cpus < 1 || ms->smp_cpus > PC_MAX_CPUS) {
        error_setg(errp, "Invalid SMP CPUs %u: machine '%s' supports 1 to %d",
                   ms->smp_cpus, ms->type, PC_MAX_CPUS);
        return false;
    }
    if (!ms->memory_backend &&
        (ms->ram_size == 0 || ms->ram_size % TARGET_PAGE_SIZE)) {
        error_setg(errp, "Invalid RAM size %" PRIu64 ": it must be a "
                   "positive multiple of 4 KiB", ms->ram_size);
        return false;
    }
    return true;
}

/* "pc.ram" of -m bytes, or the block of -machine memory-backend=ID. */
static RAMBlock *pc_ram_block_new(MachineState *ms, Error **errp)
{
    MemoryBackend *be;

    if (!ms->memory_backend) {
        return ram_block_new("pc.ram", ms->ram_size, NULL, errp);
    }
    be = memory_backend_find(ms->memory_backend);
    if (!be) {
        error_setg(errp, "Memory backend '%s' not found (define it with "
                   "-object memory-backend-...,id=%s)", ms->memory_backend,
                   ms->memory_backend);
        return NULL;
    }
    if (be->used) {
        error_setg(errp, "Memory backend '%s' is already in use",
                   be->id);
        return NULL;
    }
    if (be->size != ms->ram_size) {
        error_setg(errp, "Memory backend '%s' has %" PRIu64 " bytes but the "
                   "machine's memory size (-m) is %" PRIu64 " bytes: they "
                   "must be equal", be->id, be->size, ms->ram_size);
        return NULL;
    }
    be->used = true;
    return ram_block_new(be->id, be->size, be, errp);
}

static bool pc_ram_map(RAMBlock *rb, uint64_t gpa, uint64_t offset,
                       uint64_t size, Error **errp)
{
    GuestMemSection *sec = guest_mem_map(gpa, rb, offset, size);

    trace_pc_ram_map(rb->idstr, gpa, offset, size);
    return !current_accel || current_accel->set_user_memory(sec, errp);
}

/* Up to 3 GiB below 4 GiB (the rest is the PCI/APIC hole), the remainder
 * from 4 GiB: the split QEMU's pc machine uses. */
static bool pc_memory_init(MachineState *ms, Error **errp)
{
    RAMBlock *rb = pc_ram_block_new(ms, errp);
    uint64_t low;

    if (!rb) {
        return false;
    }
    ms->ram = rb;
    ms->ram_size = rb->used_length;
    low = MIN(ms->ram_size, PC_LOWMEM_END);
    if (!pc_ram_map(rb, 0, 0, low, errp)) {
        return false;
    }
    if (ms->ram_size > low &&
        !pc_ram_map(rb, PC_HIGHMEM_START, low, ms->ram_size - low, errp)) {
        return false;
    }
    return true;
}

static bool pc_cpus_init(MachineState *ms, Error **errp)
{
    CPUState *bsp = NULL;

    if (!current_accel) {
        return true;    /* -accel qtest: memory only, no vCPU runs */
    }
    for (unsigned i = 0; i < ms->smp_cpus; i++) {
        CPUState *cpu = current_accel->create_vcpu(i, errp);

        if (!cpu) {
            return false;
        }
        x86_cpu_state_register(cpu);
        bsp = bsp ? bsp : cpu;
    }
    return current_accel->cpu_reset_realmode(bsp, PC_BOOT_SECTOR_ADDR, errp);
}

static void pc_serial_init(MachineState *ms)
{
    for (int i = 0; i < MAX_SERIAL_PORTS; i++) {
        if (ms->serial[i]) {
            serial_isa_init(g_strdup_printf("serial%d", i),
                            serial_isa_iobase(i), serial_isa_irq(i),
                            ms->serial[i]);
        }
    }
}

/* What a BIOS would do: sector 0 of the boot disk to 0x7c00. */
static bool pc_boot_sector_load(MachineState *ms, Error **errp)
{
    BlockBackend *blk = blk_boot_disk();
    uint8_t sector[PC_BOOT_SECTOR_SIZE];
    int64_t n;

    if (!blk) {
        if (ms->accel == ACCEL_QTEST) {
            return true;    /* nothing will execute it anyway */
        }
        error_setg(errp, "No boot disk: qmig has no BIOS and boots sector 0 "
                   "of the first drive (add -drive file=IMAGE,format=raw)");
        return false;
    }
    n = blk_pread(blk, 0, sector, sizeof(sector));
    if (n < 0) {
        error_setg_errno(errp, (int)-n, "Could not read the boot sector "
                         "of '%s'", blk_filename(blk));
        return false;
    }
    if (n < (int64_t)sizeof(sector)) {
        error_setg(errp, "Boot disk '%s' is too short: %" PRId64 " bytes, a "
                   "boot sector needs %d", blk_filename(blk), n,
                   PC_BOOT_SECTOR_SIZE);
        return false;
    }
    if (sector[510] != 0x55 || sector[511] != 0xaa) {
        error_setg(errp, "Boot disk '%s' is not bootable: sector 0 does not "
                   "end with the 0x55 0xAA signature", blk_filename(blk));
        return false;
    }
    if (!guest_mem_write(PC_BOOT_SECTOR_ADDR, sector, sizeof(sector), errp)) {
        error_prepend(errp, "Could not load the boot sector: ");
        return false;
    }
    trace_pc_boot_sector(blk_filename(blk));
    return true;
}

static const AccelOps *pc_accel_ops(AccelKind kind)
{
    switch (kind) {
    case ACCEL_KVM:
        return &kvm_accel_ops;
#ifdef CONFIG_TCG
    case ACCEL_TCG:
        return &tcg_accel_ops;
#endif
    default:
        return NULL;    /* qtest: no accelerator, no vCPU */
    }
}

/*
 * The accelerator, and the VM-wide interrupt controller and timer
 * sections, which every accelerator fills the same way.  The clock
 * section is left out only on a KVM host without KVM_CAP_ADJUST_CLOCK.
 */
static bool pc_accel_init(MachineState *ms, Error **errp)
{
    const AccelOps *ops = pc_accel_ops(ms->accel);

    if (!ops) {
        return true;
    }
    if (!accel_init(ops, ms, errp)) {
        return false;
    }
    x86_irqchip_state_register(!accel_is(&kvm_accel_ops) ||
                               kvm_has_adjust_clock());
    return true;
}

bool machine_init(MachineState *ms, Error **errp)
{
    assert(bql_locked());
    if (!pc_check_config(ms, errp)) {
        return false;
    }
    if (!pc_accel_init(ms, errp)) {
        return false;
    }
    if (!pc_memory_init(ms, errp) ||
        !pc_cpus_init(ms, errp)) {
        return false;
    }
    pc_serial_init(ms);
    port92_init();
    if (!pc_devices_create(ms, errp) ||
        !pc_boot_sector_load(ms, errp)) {
        return false;
    }
    if (current_accel) {
        current_accel->start_vcpus();   /* parked until vm_start() */
    }
    return true;
}
