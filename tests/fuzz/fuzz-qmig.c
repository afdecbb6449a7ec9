/*
 * A machine-less qmig core for the libFuzzer harnesses (see fuzz-qmig.h).
 *
 * Guest RAM guard.  ASan does not see accesses to mmap'ed memory (its
 * shadow marks all of it addressable), so a loader that wrote a page past
 * the end of guest RAM would corrupt whatever mapping lay next to it.
 * The block's mapping is therefore moved (mremap: still the mapping
 * ram_block_new() made) into the middle of a PROT_NONE reservation with
 * FUZZ_GUARD_SIZE of inaccessible address space on each side; any access
 * there faults and ASan's SEGV handler reports it.  Reserved address
 * space costs no memory.
 *
 * The "fuzz" accelerator.  -accel qtest has none, so the machine
 * registers no CPU and no irqchip sections.  The harness installs one
 * after the machine is built: it has no vCPU thread; it hands out and
 * takes back vCPU and interrupt-controller state from plain buffers (as
 * KVM's ioctls would from the kernel), so the real sections of
 * hw/i386/x86-cpu-state.c and x86-irqchip-state.c save and load through
 * their real checks.  What the real accelerators do with a loaded state
 * (KVM's ioctls, the TCG engine's registers) is not exercised here.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/mman.h>
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "system/vl.h"
#include "system/accel-ops.h"
#include "hw/i386/x86-state.h"
#include "../../migration/options.h"
#include "fuzz-qmig.h"

#define FUZZ_GUARD_SIZE     (256 * MiB)

static RAMBlock *fuzz_ram;
static char *fuzz_tmpdir;

/* ---- The fuzz accelerator ---- */

/* The state "inside" the accelerator: what a save reads, a load writes. */
static X86CPUSaved *fuzz_cpu_state;
static struct kvm_pic_state fuzz_pic[2];
static X86IOAPICSaved fuzz_ioapic;
static X86PITSaved fuzz_pit;
static X86ClockSaved fuzz_clock;
static CPUState fuzz_cpu;

void fuzz_qmig_accel_reset(void)
{
    X86CPUSaved *st = fuzz_cpu_state;

    /* Real mode at the boot sector, with every subsection's state. */
    memset(st, 0, sizeof(*st));
    st->cpu = &fuzz_cpu;
    st->rip = 0x7c00;
    st->rflags = 0x2;
    st->cr0 = 0x60000010;
    st->apic_base = 0xfee00900;
    st->xsave_len = X86_CPU_XSAVE_MIN;
    st->nr_xcrs = 1;
    st->xcrs[0].value = 1;
    st->pdptrs_valid = true;
    st->has_debugregs = true;
    st->dr6 = 0xffff0ff0;
    st->dr7 = 0x400;
    /* A PC after its BIOS: PICs initialised, IOAPIC masked, PIT mode 2. */
    memset(fuzz_pic, 0, sizeof(fuzz_pic));
    fuzz_pic[0].irq_base = 0x08;
    fuzz_pic[1].irq_base = 0x70;
    fuzz_pic[0].imr = 0xb8;
    memset(&fuzz_ioapic, 0, sizeof(fuzz_ioapic));
    fuzz_ioapic.base_address = X86_IOAPIC_BASE;
    for (int i = 0; i < X86_IOAPIC_NUM_PINS; i++) {
        fuzz_ioapic.redirtbl[i] = 1ULL << 16 | (0x20 + i);
    }
    memset(&fuzz_pit, 0, sizeof(fuzz_pit));
    for (int i = 0; i < X86_PIT_NR_CHANNELS; i++) {
        fuzz_pit.ch[i].count = X86_PIT_MAX_COUNT;
        fuzz_pit.ch[i].mode = i ? X86_PIT_MODE_UNSET : 2;
        fuzz_pit.ch[i].rw_mode = 3;
        fuzz_pit.ch[i].read_state = fuzz_pit.ch[i].write_state = 3;
        fuzz_pit.ch[i].gate = i != 2;
    }
    fuzz_clock.clock = 1000000;
}

static bool fuzz_cpu_get_state(CPUState *cpu, X86CPUSaved *st, Error **errp)
{
    CPUState *owner = st->cpu;

    memcpy(st, fuzz_cpu_state, sizeof(*st));
    st->cpu = owner;
    return true;
}

static bool fuzz_cpu_put_state(CPUState *cpu, const X86CPUSaved *st,
                               Error **errp)
{
    memcpy(fuzz_cpu_state, st, sizeof(*st));
    return true;
}

static void *fuzz_irqchip_part(X86IrqchipPart part, size_t *len)
{
    switch (part) {
    case X86_IRQCHIP_PIC_MASTER:
    case X86_IRQCHIP_PIC_SLAVE:
        *len = sizeof(fuzz_pic[0]);
        return &fuzz_pic[part - X86_IRQCHIP_PIC_MASTER];
    case X86_IRQCHIP_IOAPIC:
        *len = sizeof(fuzz_ioapic);
        return &fuzz_ioapic;
    case X86_IRQCHIP_PIT:
        *len = sizeof(fuzz_pit);
        return &fuzz_pit;
    case X86_IRQCHIP_CLOCK:
        *len = sizeof(fuzz_clock);
        return &fuzz_clock;
    }
    g_assert_not_reached();
}

static bool fuzz_irqchip_get(X86IrqchipPart part, void *state, Error **errp)
{
    size_t len;
    void *p = fuzz_irqchip_part(part, &len);

    memcpy(state, p, len);
    return true;
}

static bool fuzz_irqchip_put(X86IrqchipPart part, const void *state,
                             Error **errp)
{
    size_t len;
    void *p = fuzz_irqchip_part(part, &len);

    memcpy(p, state, len);
    return true;
}

static void fuzz_set_irq(int irq, int level)
{
}

static void fuzz_kick(CPUState *cpu)
{
}

static const AccelOps fuzz_accel_ops = {
    .name = "fuzz",
    .kick = fuzz_kick,
    .set_irq = fuzz_set_irq,
    .cpu_get_state = fuzz_cpu_get_state,
    .cpu_put_state = fuzz_cpu_put_state,
    .irqchip_get = fuzz_irqchip_get,
    .irqchip_put = fuzz_irqchip_put,
};

/* ---- Machine ---- */

static void fuzz_ram_add_guards(RAMBlock *rb)
{
    size_t len = rb->max_length;
    uint8_t *resv, *host;

    resv = mmap(NULL, len + 2 * FUZZ_GUARD_SIZE, PROT_NONE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (resv == MAP_FAILED) {
        perror("fuzz: reserving guest RAM with guard pages");
        abort();
    }
    host = mremap(rb->host, len, len, MREMAP_MAYMOVE | MREMAP_FIXED,
                  resv + FUZZ_GUARD_SIZE);
    if (host == MAP_FAILED) {
        perror("fuzz: moving guest RAM between guard pages");
        abort();
    }
    rb->host = host;
}

const char *fuzz_qmig_tmpdir(void)
{
    return fuzz_tmpdir;
}

RAMBlock *fuzz_qmig_ram(void)
{
    return fuzz_ram;
}

/* A scratch raw image for the qmig-disk (removed at exit). */
static char *fuzz_make_disk(void)
{
    g_autoptr(GError) gerr = NULL;
    char *path;
    int fd;

    fuzz_tmpdir = g_dir_make_tmp("qmig-fuzz-XXXXXX", &gerr);
    if (!fuzz_tmpdir) {
        fprintf(stderr, "fuzz: %s\n", gerr->message);
        abort();
    }
    path = g_build_filename(fuzz_tmpdir, "disk.img", NULL);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, FUZZ_DISK_SIZE) < 0) {
        perror("fuzz: creating the scratch disk");
        abort();
    }
    close(fd);
    return path;
}

static void fuzz_qmig_atexit(void)
{
    g_autofree char *disk = g_build_filename(fuzz_tmpdir, "disk.img", NULL);

    unlink(disk);
    rmdir(fuzz_tmpdir);
}

void fuzz_qmig_init(void)
{
    g_autofree char *disk = NULL;
    g_autofree char *drive = NULL;
    char *argv[32];
    int argc = 0;

    if (fuzz_ram) {
        return;
    }
    disk = fuzz_make_disk();
    atexit(fuzz_qmig_atexit);
    drive = g_strdup_printf("file=%s,format=raw,if=none,id=" FUZZ_DISK_ID,
                            disk);
    argv[argc++] = (char *)"qmig-fuzz";
    argv[argc++] = (char *)"-machine";
    argv[argc++] = (char *)FUZZ_MACHINE_TYPE;
    argv[argc++] = (char *)"-accel";
    argv[argc++] = (char *)"qtest";
    argv[argc++] = (char *)"-m";
    argv[argc++] = (char *)"2M";
    argv[argc++] = (char *)"-S";
    argv[argc++] = (char *)"-nodefaults";
    argv[argc++] = (char *)"-serial";
    argv[argc++] = (char *)"null";
    argv[argc++] = (char *)"-drive";
    argv[argc++] = drive;
    argv[argc++] = (char *)"-device";
    argv[argc++] = (char *)"qmig-disk,drive=" FUZZ_DISK_ID;
    argv[argc++] = (char *)"-chardev";
    argv[argc++] = (char *)"null,id=" FUZZ_QMP_ID;
    argv[argc++] = (char *)"-mon";
    argv[argc++] = (char *)"chardev=" FUZZ_QMP_ID ",mode=control";
    argv[argc++] = (char *)"-chardev";
    argv[argc++] = (char *)"null,id=" FUZZ_HMP_ID;
    argv[argc++] = (char *)"-mon";
    argv[argc++] = (char *)"chardev=" FUZZ_HMP_ID ",mode=readline";
    argv[argc] = NULL;
    qemu_init(argc, argv);      /* returns with the BQL held */

    fuzz_ram = ram_block_by_name(FUZZ_RAM_NAME);
    assert(fuzz_ram && fuzz_ram->used_length == FUZZ_RAM_SIZE);
    fuzz_ram_add_guards(fuzz_ram);

    fuzz_cpu_state = g_new0(X86CPUSaved, 1);
    fuzz_qmig_accel_reset();
    current_accel = &fuzz_accel_ops;
    fuzz_cpu.cpu_index = 0;
    x86_cpu_state_register(&fuzz_cpu);
    x86_irqchip_state_register(true);
}

static const struct {
    unsigned bit;
    const char *name;
} fuzz_caps[] = {
    { FUZZ_CAP_XBZRLE, "xbzrle" },
    { FUZZ_CAP_POSTCOPY_RAM, "postcopy-ram" },
    { FUZZ_CAP_MULTIFD, "multifd" },
    { FUZZ_CAP_BLOCK, "block" },
    { FUZZ_CAP_DIRTY_BITMAPS, "dirty-bitmaps" },
    { FUZZ_CAP_RETURN_PATH, "return-path" },
    { FUZZ_CAP_RELEASE_RAM, "release-ram" },
    { FUZZ_CAP_VALIDATE_UUID, "validate-uuid" },
    { FUZZ_CAP_POSTCOPY_PREEMPT, "postcopy-preempt" },
};

unsigned fuzz_qmig_set_caps(unsigned caps)
{
    g_autoptr(JsonArray) list = json_array_new();
    Error *err = NULL;
    unsigned now = 0;

    for (size_t i = 0; i < G_N_ELEMENTS(fuzz_caps); i++) {
        JsonObject *o = json_object_new();

        json_object_set_string_member(o, "capability", fuzz_caps[i].name);
        json_object_set_boolean_member(o, "state",
                                       caps & fuzz_caps[i].bit);
        json_array_add_object_element(list, o);
    }
    if (!migrate_set_capabilities_json(list, &err)) {
        error_free(err);
    }
    for (int c = 0; c < MIGRATION_CAPABILITY__MAX; c++) {
        for (size_t i = 0; i < G_N_ELEMENTS(fuzz_caps); i++) {
            if (!strcmp(migration_capability_name(c), fuzz_caps[i].name) &&
                migrate_capability(c)) {
                now |= fuzz_caps[i].bit;
            }
        }
    }
    return now;
}
