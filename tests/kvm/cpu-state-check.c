/*
 * Stand-alone check of the vCPU/irqchip VMState (hw/i386/x86-*-state.c)
 * over KVM's state hooks (built and run by cpu-state-check.sh, or by
 * meson, which skips it without /dev/kvm).  A 2-vCPU VM runs
 * cpu-state-guest.S; we pause it, save every registered section, clobber
 * vCPU 0 (registers, segments, the x87/SSE area), load the sections back
 * and resume.  The guest must continue exactly: its counts (EBX, ESI) go
 * on from where they stopped and an IN interrupted by the pause still
 * delivers its result.  Corrupted streams must be refused with an error.
 *
 * Usage: cpu-state-check GUEST.BIN [TRACE-PATTERN [noload]]
 * ("noload" skips the load: the check must then fail, as a control.)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/kvm.h>
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "hw/boards.h"
#include "hw/ioport.h"
#include "io/channel-buffer.h"
#include "migration/register.h"
#include "migration/vmstate.h"
#include "migration/qemu-file.h"
#include "hw/i386/x86-state.h"
#include "system/accel-ops.h"
#include "system/cpus.h"
#include "system/kvm.h"
#include "system/kvm-cpu-state.h"
#include "system/ramblock.h"
#include "system/runstate.h"
#include "qemu/trace-core.h"

/* ---- stubs for what the machine and savevm would provide ---- */
MachineState *current_machine;
void qemu_system_shutdown_request(ShutdownCause cause)
{
    fprintf(stderr, "guest shutdown request %d\n", cause);
}
void qemu_system_internal_error_request(void)
{
    fprintf(stderr, "internal error request\n");
}

typedef struct Entry {
    uint32_t instance;
    const VMStateDescription *vmsd;
    void *opaque;
    uint8_t *data;
    size_t len;
} Entry;
static Entry entries[16];
static int nr_entries;

int vmstate_register(uint32_t instance_id, const VMStateDescription *vmsd,
                     void *opaque)
{
    entries[nr_entries] = (Entry){ instance_id, vmsd, opaque };
    return nr_entries++;
}

/* ---- the probe port ---- */
static bool no_load;
static uint32_t last_out, first_after, fail_code, fail_val, resumed;

static uint32_t probe_read(void *opaque, uint16_t offset, unsigned size)
{
    return last_out + 1;
}

static void probe_write(void *opaque, uint16_t offset, uint32_t val,
                        unsigned size)
{
    if (offset) {
        fail_code = offset;
        fail_val = val;
        return;
    }
    if (resumed && !first_after) {
        first_after = val;
    }
    last_out = val;
}

static const PortIOOps probe_ops = { .read = probe_read, .write = probe_write };

static uint32_t counter(void)
{
    uint32_t v;

    bql_lock();
    v = last_out;
    bql_unlock();
    return v;
}

static void wait_progress(uint32_t from, uint32_t n)
{
    for (int i = 0; i < 2000 && counter() < from + n && !fail_code; i++) {
        g_usleep(5000);
    }
}

static bool save_entry(Entry *e, Error **errp)
{
    QIOChannel *ioc = qio_channel_buffer_new(4096);
    QEMUFile *f = qemu_file_new_output(ioc);
    bool ok = vmstate_save_state(f, e->vmsd, e->opaque, NULL, errp);

    qemu_fflush(f);
    g_free(e->data);
    e->data = qio_channel_buffer_dup_data(ioc, &e->len);
    qemu_fclose(f);
    qio_channel_unref(ioc);
    return ok;
}

static bool load_bytes(Entry *e, const uint8_t *data, size_t len,
                       Error **errp)
{
    /* A section footer follows the fields in a stream: the loader's
     * subsection peek needs a byte to look at. */
    g_autofree uint8_t *framed = g_malloc0(len + 5);
    QIOChannel *ioc;

    memcpy(framed, data, len);
    framed[len] = 0x7e;
    ioc = qio_channel_buffer_new_data(framed, len + 5);
    QEMUFile *f = qemu_file_new_input(ioc);
    bool ok = vmstate_load_state(f, e->vmsd, e->opaque, e->vmsd->version_id,
                                 errp);

    qemu_fclose(f);
    qio_channel_unref(ioc);
    return ok;
}

static void clobber_cpu(CPUState *cpu)
{
    struct kvm_xsave xs;

    if (!kvm_cpu_reset_realmode(cpu, 0x7c00, &error_abort)) {
        abort();
    }
    ioctl(cpu->kvm_fd, KVM_GET_XSAVE, &xs);
    memset((uint8_t *)xs.region, 0, 512);     /* x87/SSE legacy area */
    ((uint16_t *)xs.region)[0] = 0x37f;       /* FCW default */
    ioctl(cpu->kvm_fd, KVM_SET_XSAVE, &xs);
}

/* Load a corrupted copy of the cpu 0 section; it must fail. */
static void expect_bad(Entry *e, size_t off, uint32_t be32, const char *what)
{
    g_autofree uint8_t *bad = g_memdup2(e->data, e->len);
    Error *err = NULL;

    bad[off] = be32 >> 24; bad[off + 1] = be32 >> 16;
    bad[off + 2] = be32 >> 8; bad[off + 3] = be32;
    if (load_bytes(e, bad, e->len, &err)) {
        fprintf(stderr, "FAIL: %s was accepted\n", what);
        exit(1);
    }
    printf("ok: %s refused: %s\n", what, error_get_pretty(err));
    error_free(err);
}

int main(int argc, char **argv)
{
    MachineState ms = { .smp_cpus = 2, .accel = ACCEL_KVM };
    static RAMBlock rb;
    static GuestMemSection sec;
    g_autofree char *code = NULL;
    size_t code_len;
    CPUState *cpu0;
    uint32_t before;
    Entry *cpue = NULL;

    current_machine = &ms;
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        /* It drives KVM's ioctls itself: no other accelerator will do. */
        printf("SKIP: needs KVM (a white-box check of the KVM vCPU state); "
               "no usable /dev/kvm\n");
        return 77;  /* meson's "skipped" */
    }
    if (argc > 2) {
        trace_enable_events(argv[2]);
    }
    if (argc > 3) {
        no_load = true;
    }
    bql_lock();
    if (!g_file_get_contents(argv[1], &code, &code_len, NULL) ||
        !accel_init(&kvm_accel_ops, &ms, &error_abort)) {
        return 1;
    }
    rb.host = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    rb.used_length = rb.max_length = 1 << 20;
    strcpy(rb.idstr, "ram");
    sec = (GuestMemSection){ .gpa = 0, .size = 1 << 20, .block = &rb };
    kvm_set_user_memory(&sec, &error_abort);
    memcpy(rb.host + 0x7c00, code, code_len);
    portio_register("probe", 0x500, 3, &probe_ops, NULL);
    x86_irqchip_state_register(kvm_has_adjust_clock());
    cpu0 = kvm_create_vcpu(0, &error_abort);
    x86_cpu_state_register(cpu0);
    x86_cpu_state_register(kvm_create_vcpu(1, &error_abort));
    kvm_cpu_reset_realmode(cpu0, 0x7c00, &error_abort);
    kvm_start_vcpus();
    resume_all_vcpus();
    bql_unlock();

    for (int round = 0; round < 20; round++) {
        wait_progress(counter(), 200);
        bql_lock();
        pause_all_vcpus();
        before = last_out;
        for (int i = 0; i < nr_entries; i++) {
            if (!save_entry(&entries[i], &error_abort)) {
                return 1;
            }
            if (!strcmp(entries[i].vmsd->name, "cpu") &&
                entries[i].instance == 0) {
                cpue = &entries[i];
            }
        }
        if (round == 0) {
            uint32_t xlen = ((uint32_t)cpue->data[404] << 24) |
                            (cpue->data[405] << 16) |
                            (cpue->data[406] << 8) | cpue->data[407];
            size_t msrs = 408 + xlen;
            uint32_t nmsr = ((uint32_t)cpue->data[msrs] << 24) |
                            (cpue->data[msrs + 1] << 16) |
                            (cpue->data[msrs + 2] << 8) | cpue->data[msrs + 3];

            for (int i = 0; i < nr_entries; i++) {
                printf("section %s/%u: %zu bytes\n", entries[i].vmsd->name,
                       entries[i].instance, entries[i].len);
            }
            printf("cpu0: xsave %u bytes, %u MSRs\n", xlen, nmsr);
            expect_bad(cpue, 404, 0x100000, "an XSAVE length of 1 MiB");
            expect_bad(cpue, msrs, 1000, "1000 MSRs");
            expect_bad(cpue, msrs + 4, 0xdead, "MSR 0xdead");
            expect_bad(cpue, msrs + 4 + nmsr * 12 + 1024, 99, "MP state 99");
        }
        clobber_cpu(cpu0);
        for (int i = 0; i < nr_entries && !no_load; i++) {
            Error *err = NULL;

            if (!load_bytes(&entries[i], entries[i].data, entries[i].len,
                            &err)) {
                fprintf(stderr, "FAIL: loading %s: %s\n",
                        entries[i].vmsd->name, error_get_pretty(err));
                return 1;
            }
        }
        resumed = 1;
        first_after = 0;
        resume_all_vcpus();
        bql_unlock();
        wait_progress(before, 100);
        if (fail_code) {
            fprintf(stderr, "FAIL round %d: guest reported mismatch on port "
                    "0x%x (value %u) after resuming at %u\n", round,
                    0x500 + fail_code, fail_val, before);
            return 1;
        }
        if (first_after != before + 1) {
            fprintf(stderr, "FAIL round %d: count was %u, continued at %u\n",
                    round, before, first_after);
            return 1;
        }
        printf("round %d: paused at %u, resumed at %u, now %u\n", round,
               before, first_after, counter());
    }
    printf("PASS\n");
    fflush(stdout);
    _exit(0);
}
