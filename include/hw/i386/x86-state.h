/*
 * The migratable x86 machine state that lives in the accelerator: each
 * vCPU's architectural state (section "cpu") and the VM-wide interrupt
 * controllers, timer and clock (sections "i8259", "ioapic", "i8254",
 * "kvmclock").
 *
 * The structures below are what the sections carry, independent of the
 * accelerator: hw/i386/x86-cpu-state.c and x86-irqchip-state.c describe
 * them to VMState, check what a stream brings, and ask the running
 * accelerator (current_accel, include/system/accel-ops.h) to fill them on
 * save (cpu_get_state, irqchip_get) and to take them over on load
 * (cpu_put_state, irqchip_put).  The layout of the values follows KVM's
 * ioctl structures, because KVM was first; an accelerator without KVM
 * converts to and from them, which is what lets a guest move between a
 * KVM host and a software CPU in either direction.
 *
 * The saved copies are protected by the BQL: they are only touched by
 * the save and load paths (BQL held, every vCPU parked).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_I386_X86_STATE_H
#define HW_I386_X86_STATE_H

/*
 * struct kvm_pic_state and the KVM constants the checks below are
 * asserted against.  The header ships with the kernel headers of every
 * Linux host, with or without /dev/kvm; nothing here needs KVM to run.
 */
#include <linux/kvm.h>
#include "qapi/error.h"
#include "hw/core/cpu.h"

/* ---------------------------------------------------------------------
 * vCPU state: section "cpu", instance id = cpu_index, version 1.
 */

#define X86_CPU_NR_GPRS     16
#define X86_APIC_REG_SIZE   0x400   /* as KVM_APIC_REG_SIZE */
#define X86_CPU_NR_SEGS     8
#define X86_CPU_MAX_XCRS    16      /* as KVM_MAX_XCRS */
#define X86_CPU_MAX_MSRS    64
/*
 * Room for the XSAVE area.  KVM_CAP_XSAVE2 reports what the host needs:
 * 4 KiB without AMX, about 11 KiB with it.
 */
#define X86_CPU_XSAVE_MAX   (32 * 1024)
/*
 * The smallest area a stream may carry: the fixed 4 KiB of the original
 * KVM_GET_XSAVE (struct kvm_xsave).  A smaller real area (the legacy
 * region and header alone are 576 bytes) is sent zero-padded to this.
 */
#define X86_CPU_XSAVE_MIN   4096
/* Offsets inside the XSAVE area (Intel SDM vol. 1, "XSAVE Area"). */
#define X86_XSAVE_LEGACY_SIZE   512     /* the FXSAVE image: x87, SSE */
#define X86_XSAVE_HEADER_OFFSET 512     /* XSTATE_BV at +0, XCOMP_BV at +8 */
#define X86_XSAVE_HEADER_SIZE   64
#define X86_XSAVE_EXT_OFFSET    576     /* AVX (YMM_Hi128) in standard form */

/* Index order of X86CPUSaved.segs (the order of struct kvm_sregs). */
enum {
    X86_SEG_CS,
    X86_SEG_DS,
    X86_SEG_ES,
    X86_SEG_FS,
    X86_SEG_GS,
    X86_SEG_SS,
    X86_SEG_TR,
    X86_SEG_LDT,
};

/* Index order of X86CPUSaved.gprs (the order of struct kvm_regs). */
enum {
    X86_GPR_RAX, X86_GPR_RBX, X86_GPR_RCX, X86_GPR_RDX,
    X86_GPR_RSI, X86_GPR_RDI, X86_GPR_RSP, X86_GPR_RBP,
    X86_GPR_R8, X86_GPR_R9, X86_GPR_R10, X86_GPR_R11,
    X86_GPR_R12, X86_GPR_R13, X86_GPR_R14, X86_GPR_R15,
};

/* The subsections that arrived while loading (X86CPUSaved.loaded). */
#define X86_CPU_LOADED_PDPTRS    0x1
#define X86_CPU_LOADED_XCRS      0x2
#define X86_CPU_LOADED_DEBUGREGS 0x4

/* X86CPUSaved.mp_state: the KVM_MP_STATE_* values x86 uses. */
#define X86_MP_STATE_RUNNABLE       0   /* running, or may run */
#define X86_MP_STATE_UNINITIALIZED  1   /* an AP waiting for INIT */
#define X86_MP_STATE_INIT_RECEIVED  2   /* got INIT, waits for a SIPI */
#define X86_MP_STATE_HALTED         3   /* HLT, woken by an interrupt */
#define X86_MP_STATE_SIPI_RECEIVED  4   /* SIPI taken, starts at its vector */

/*
 * X86CPUSaved.ev_flags: which optional parts of the event state are
 * valid (the KVM_VCPUEVENT_VALID_* bits).
 */
#define X86_EVENT_VALID_NMI_PENDING  0x01   /* nmi_pending */
#define X86_EVENT_VALID_SIPI_VECTOR  0x02   /* sipi_vector */
#define X86_EVENT_VALID_SHADOW       0x04   /* irq_shadow */
#define X86_EVENT_VALID_SMM          0x08   /* smm, smi_*, latched_init */
#define X86_EVENT_VALID_PAYLOAD      0x10   /* exc_pending, exc_*payload */
#define X86_EVENT_VALID_TRIPLE_FAULT 0x20   /* triple_fault_pending */
#define X86_EVENT_VALID_ALL          0x3f

/* One segment register, as in struct kvm_segment. */
typedef struct X86Seg {
    uint64_t base;
    uint32_t limit;             /* in bytes (already scaled by g) */
    uint16_t selector;
    /*
     * The descriptor's attribute bits, one per byte: type (4 bits), s
     * (code/data, not system), dpl, present, avl, l (64-bit code), db
     * (default operand size), g (granularity); unusable is the VMX
     * "segment unusable" bit (a null selector loaded in protected mode).
     */
    uint8_t type, present, dpl, db, s, l, g, avl, unusable;
} X86Seg;

/* One MSR or XCR: its index (ECX of RDMSR/XGETBV) and its value. */
typedef struct X86Reg {
    uint32_t index;
    uint64_t value;
} X86Reg;

/*
 * The architectural state of one vCPU.  Fields are listed in the order
 * the section carries them; what KVM ioctl each group matches is noted.
 */
typedef struct X86CPUSaved {
    CPUState *cpu;              /* set at registration; not migrated */

    /* KVM_GET_REGS: gprs in X86_GPR_* order, RIP, RFLAGS. */
    uint64_t gprs[X86_CPU_NR_GPRS];
    uint64_t rip, rflags;

    /*
     * KVM_GET_SREGS(2): segments in X86_SEG_* order, the descriptor
     * tables, control registers.  cr8 is the TPR (bits 0-3); apic_base
     * is the IA32_APIC_BASE MSR (base address, enable bit 11, BSP bit 8).
     */
    X86Seg segs[X86_CPU_NR_SEGS];
    uint64_t gdt_base, idt_base;
    uint16_t gdt_limit, idt_limit;
    uint64_t cr0, cr2, cr3, cr4, cr8, efer, apic_base;
    /*
     * The four PAE page-directory-pointer entries the CPU holds (loaded
     * from memory at the last CR3 write, which the guest may since have
     * changed); pdptrs_valid false means "reload them from CR3".
     * Subsection "cpu/pdptrs", sent when pdptrs_valid.
     */
    bool pdptrs_valid;
    uint64_t pdptrs[4];

    /*
     * KVM_GET_XSAVE(2): an XSAVE-format area of xsave_len bytes
     * (X86_CPU_XSAVE_MIN to X86_CPU_XSAVE_MAX), standard (uncompacted)
     * form: the 512-byte FXSAVE region (FCW at 0, FSW at 2, abridged FTW
     * at 4, MXCSR at 24, ST0-7 at 32, XMM0-15 at 160), the 64-byte
     * XSAVE header at 512 (XSTATE_BV: which components hold state, the
     * others being in their initial configuration), then each extended
     * component at the offset CPUID leaf 0xd gives (YMM upper halves at
     * 576).  Bytes past what the source had are zero.
     */
    uint32_t xsave_len;
    uint8_t xsave[X86_CPU_XSAVE_MAX];

    /*
     * KVM_GET_XCRS: (index, value) pairs; XCR0 (index 0) is the only one
     * in use.  Subsection "cpu/xcrs", sent when nr_xcrs != 0.
     */
    uint32_t nr_xcrs;
    X86Reg xcrs[X86_CPU_MAX_XCRS];

    /*
     * KVM_GET_MSRS: (index, value) pairs, only indices of x86_cpu_msr_list
     * (below), each at most once; MSRs the source cannot read are
     * simply absent.  EFER and IA32_APIC_BASE travel in sregs instead.
     */
    uint32_t nr_msrs;
    X86Reg msrs[X86_CPU_MAX_MSRS];

    /*
     * KVM_GET_LAPIC: the 1 KiB xAPIC register page, each register a
     * 32-bit little-endian word at its MMIO offset: ID at 0x20 (the APIC
     * ID in bits 24-31), version 0x30, TPR 0x80, LDR 0xd0, DFR 0xe0, SVR
     * 0xf0, ISR 0x100-0x170, TMR 0x180-0x1f0, IRR 0x200-0x270, ESR 0x280,
     * ICR 0x300 (low) and 0x310 (high), the LVT entries 0x320 (timer) to
     * 0x370 (error), the timer's initial count 0x380, current count 0x390
     * and divide configuration 0x3e0.  An x2APIC-mode LAPIC uses the same
     * page (KVM without KVM_CAP_X2APIC_API keeps the ID in bits 24-31).
     */
    uint8_t lapic[X86_APIC_REG_SIZE];

    /* KVM_GET_MP_STATE: an X86_MP_STATE_* value. */
    uint32_t mp_state;

    /*
     * KVM_GET_VCPU_EVENTS: what is being delivered between two
     * instructions.  ev_flags (X86_EVENT_VALID_*) says which optional
     * parts are valid.  exc_*: an exception vector (exc_nr < 32) injected
     * (being delivered) or pending (raised, not yet delivered, with an
     * optional payload: CR2 for #PF, DR6 bits for #DB).  irq_*: an
     * external (or, irq_soft, software) interrupt being injected;
     * irq_shadow: the interrupt shadow after MOV SS (bit 0) or STI
     * (bit 1).  nmi_*: NMI being injected, pending, blocked until IRET.
     * sipi_vector: the vector of a received SIPI.  smm: in system
     * management mode; smi_pending; smm_inside_nmi: the SMI came while
     * NMIs were blocked; latched_init: an INIT held back during SMM.
     * triple_fault_pending: a shutdown the next run must perform.
     */
    uint32_t ev_flags;
    uint8_t exc_injected, exc_nr, exc_has_error_code, exc_pending;
    uint32_t exc_error_code;
    uint8_t exc_has_payload;
    uint64_t exc_payload;
    uint8_t irq_injected, irq_nr, irq_soft, irq_shadow;
    uint8_t nmi_injected, nmi_pending, nmi_masked;
    uint32_t sipi_vector;
    uint8_t smm, smi_pending, smm_inside_nmi, latched_init;
    uint8_t triple_fault_pending;

    /*
     * KVM_GET_DEBUGREGS: DR0-DR3, DR6, DR7.  Subsection "cpu/debugregs",
     * sent when has_debugregs.
     */
    bool has_debugregs;
    uint64_t db[4], dr6, dr7;

    /* Loading only: X86_CPU_LOADED_* of the subsections that arrived. */
    uint32_t loaded;
} X86CPUSaved;

/*
 * The MSRs that may travel in section "cpu" (version 1 of the list):
 * what QEMU migrates for a guest without PMU, MCE or nested
 * virtualisation.  Entries are only ever appended, with a new section
 * version.  An accelerator saves the ones it can read and write back and
 * leaves the others out; a destination refuses any other index.
 */
#define X86_MSR_IA32_TSC                0x00000010
#define X86_MSR_KVM_WALL_CLOCK          0x00000011
#define X86_MSR_KVM_SYSTEM_TIME         0x00000012
#define X86_MSR_IA32_FEATURE_CONTROL    0x0000003a
#define X86_MSR_IA32_TSC_ADJUST         0x0000003b
#define X86_MSR_IA32_SPEC_CTRL          0x00000048
#define X86_MSR_IA32_SYSENTER_CS        0x00000174
#define X86_MSR_IA32_SYSENTER_ESP       0x00000175
#define X86_MSR_IA32_SYSENTER_EIP       0x00000176
#define X86_MSR_IA32_MISC_ENABLE        0x000001a0
#define X86_MSR_MTRR_PHYS_BASE0         0x00000200  /* base/mask to 0x20f */
#define X86_MSR_MTRR_FIX64K_00000       0x00000250
#define X86_MSR_MTRR_FIX16K_80000       0x00000258
#define X86_MSR_MTRR_FIX16K_A0000       0x00000259
#define X86_MSR_MTRR_FIX4K_C0000        0x00000268  /* to 0x26f */
#define X86_MSR_IA32_CR_PAT             0x00000277
#define X86_MSR_MTRR_DEF_TYPE           0x000002ff
#define X86_MSR_IA32_TSC_DEADLINE       0x000006e0
#define X86_MSR_IA32_XSS                0x00000da0
#define X86_MSR_STAR                    0xc0000081
#define X86_MSR_LSTAR                   0xc0000082
#define X86_MSR_CSTAR                   0xc0000083
#define X86_MSR_SYSCALL_MASK            0xc0000084
#define X86_MSR_KERNEL_GS_BASE          0xc0000102
#define X86_MSR_TSC_AUX                 0xc0000103
/* KVM's paravirtual MSRs: a guest only uses them when CPUID says KVM. */
#define X86_MSR_KVM_WALL_CLOCK_NEW      0x4b564d00
#define X86_MSR_KVM_SYSTEM_TIME_NEW     0x4b564d01
#define X86_MSR_KVM_ASYNC_PF_EN         0x4b564d02
#define X86_MSR_KVM_STEAL_TIME          0x4b564d03
#define X86_MSR_KVM_PV_EOI_EN           0x4b564d04

/* The list, in the order a source saves them. */
extern const uint32_t x86_cpu_msr_list[];
extern const size_t x86_cpu_msr_list_len;

/* Is @index one of x86_cpu_msr_list? */
bool x86_cpu_msr_migratable(uint32_t index);

/*
 * Would a destination accept @st?  Every value a stream can bring that
 * the accelerators could not take (sizes, MSR indices, MP state, event
 * flags, exception vector) is refused here, before cpu_put_state sees
 * it.  The source runs it too, on what its accelerator produced.
 */
bool x86_cpu_check_state(const X86CPUSaved *st, Error **errp);

/*
 * Machine creation, BQL held, after @cpu exists: register its state as
 * section "cpu" with instance id cpu_index.  Saving asks
 * current_accel->cpu_get_state for it (pre_save); loading checks it and
 * hands it to current_accel->cpu_put_state (post_load).
 */
void x86_cpu_state_register(CPUState *cpu);

/* ---------------------------------------------------------------------
 * VM-wide state: sections "i8259" (instances 0: master, 1: slave),
 * "ioapic", "i8254", "kvmclock" (instance 0), each version 1.
 */

/*
 * One 8259 PIC: struct kvm_pic_state as KVM_GET_IRQCHIP gives it.
 * last_irr: the input lines at the last edge check; irr, imr, isr: the
 * request, mask and in-service registers; priority_add: the IRQ of
 * highest priority (0-7, moved by rotation); irq_base: the vector of IRQ 0 (ICW2);
 * read_reg_select: OCW3 reads ISR (1) or IRR (0); poll: poll command
 * pending; special_mask: special mask mode; init_state: 0 ready, 1-3
 * waiting for ICW2-ICW4; auto_eoi, rotate_on_auto_eoi,
 * special_fully_nested_mode: ICW4/OCW2 modes; init4: ICW4 expected;
 * elcr: the edge/level control register (bit set = level), elcr_mask:
 * its writable bits.
 */
typedef struct kvm_pic_state X86PICSaved;

#define X86_PIC_NR_CHIPS    2
#define X86_PIC_MAX_INIT_STATE 3

/* The IOAPIC, KVM's struct kvm_ioapic_state with the registers flat. */
#define X86_IOAPIC_NUM_PINS 24
#define X86_IOAPIC_BASE     0xfec00000ULL   /* the only base supported */

typedef struct X86IOAPICSaved {
    uint64_t base_address;      /* X86_IOAPIC_BASE */
    uint32_t ioregsel;          /* the register window's index (IOREGSEL) */
    uint32_t id;                /* the IOAPIC ID register */
    uint32_t irr;               /* pins asserted and not yet delivered */
    /*
     * The redirection entries: vector bits 0-7, delivery mode 8-10,
     * destination mode 11, delivery status 12, polarity 13, remote IRR
     * 14, trigger mode 15 (1 = level), mask 16, destination 56-63.
     */
    uint64_t redirtbl[X86_IOAPIC_NUM_PINS];
} X86IOAPICSaved;

/*
 * The 8254 PIT: struct kvm_pit_state2 without each channel's
 * count_load_time (host time, meaningless elsewhere: loading restarts
 * every channel's count "now").
 */
#define X86_PIT_NR_CHANNELS 3
#define X86_PIT_MAX_COUNT   0x10000     /* a programmed 0 counts 65536 */
#define X86_PIT_MAX_MODE    5
#define X86_PIT_MODE_UNSET  0xff        /* never programmed since reset */
#define X86_PIT_MAX_RW_MODE 3
#define X86_PIT_MAX_RW_STATE 4
/* X86PITSaved.flags, the KVM_PIT_FLAGS_* bits. */
#define X86_PIT_FLAGS_HPET_LEGACY       0x1 /* the HPET drives IRQ 0 */
#define X86_PIT_FLAGS_SPEAKER_DATA_ON   0x2 /* port 0x61 bit 1 */
#define X86_PIT_FLAGS_ALL               0x3

typedef struct X86PITChannel {
    uint32_t count;             /* reload value, 1 to X86_PIT_MAX_COUNT */
    uint16_t latched_count;     /* value held by a counter latch command */
    uint8_t count_latched;      /* which bytes of it remain to be read */
    uint8_t status_latched;     /* a read-back status is latched */
    uint8_t status;             /* that status byte */
    /*
     * Byte sequencing of reads and writes: 1 LSB only, 2 MSB only, 3
     * LSB then MSB (next byte LSB), 4 same (next byte MSB).
     */
    uint8_t read_state, write_state;
    uint8_t write_latch;        /* the LSB written, waiting for the MSB */
    uint8_t rw_mode;            /* access mode of the control word, 0-3 */
    uint8_t mode;               /* 0-5, or X86_PIT_MODE_UNSET */
    uint8_t bcd;                /* BCD counting */
    uint8_t gate;               /* gate input level */
} X86PITChannel;

typedef struct X86PITSaved {
    X86PITChannel ch[X86_PIT_NR_CHANNELS];
    uint32_t flags;             /* X86_PIT_FLAGS_* */
} X86PITSaved;

/*
 * The guest's kvmclock time base: the nanosecond count KVM_GET_CLOCK
 * reports (what the guest's pvclock reads as system time).  Saved with
 * the VM stopped and restored on load, so a paused guest sees no time
 * pass.
 */
typedef struct X86ClockSaved {
    uint64_t clock;
} X86ClockSaved;

/*
 * Would a destination accept this?  Used on load before irqchip_put,
 * and on save on what irqchip_get produced.
 */
bool x86_pic_check_state(int chip, const X86PICSaved *s, Error **errp);
bool x86_ioapic_check_state(const X86IOAPICSaved *s, Error **errp);
bool x86_pit_check_state(const X86PITSaved *s, Error **errp);

/*
 * Machine creation, BQL held, once: register the PICs, the IOAPIC and the
 * PIT, and the clock when @with_clock (KVM: kvm_has_adjust_clock()).
 * Both ends of a migration must agree on @with_clock: a section the
 * destination did not register fails the load.
 */
void x86_irqchip_state_register(bool with_clock);

#endif
