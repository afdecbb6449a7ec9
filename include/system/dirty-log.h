/*
 * Dirty page tracking, accelerator-neutral: what migration, calc-dirty-rate
 * and the dirty-limit thread use.  QEMU's memory listeners
 * (log_start/log_sync/log_stop) are the model.  system/dirty-log.c
 * dispatches to current_accel->dirty_log and always adds the RAMBlocks'
 * soft dirty bits (writes made by the VMM itself: qtest, device DMA, block
 * reads into RAM), so with no accelerator (-accel qtest) those are tracked.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef SYSTEM_DIRTY_LOG_H
#define SYSTEM_DIRTY_LOG_H

#include "qapi/error.h"
#include "hw/core/cpu.h"
#include "system/ramblock.h"

/*
 * What an accelerator provides.  Hooks the accelerator cannot support are
 * NULL (the per-vCPU ones: only KVM's dirty ring counts per vCPU).
 */
typedef struct DirtyLogOps {
    /*
     * Migration thread or main thread; takes the BQL itself unless the
     * caller holds it.  Track guest writes from now on.
     */
    bool (*start)(Error **errp);
    /* Same threads: stop tracking. */
    void (*stop)(void);
    /*
     * Migration thread (or calc-dirty-rate's thread), no BQL, vCPUs may
     * run: OR into @bitmap (one bit per 4 KiB page of @rb, block-relative)
     * every page of @rb the guest wrote since the last sync, and re-arm
     * tracking for them.  A write that completes after the call returns is
     * reported by the next one.  Returns how many bits went from 0 to 1.
     */
    uint64_t (*sync)(RAMBlock *rb, unsigned long *bitmap);

    /* Per-vCPU counting (KVM's dirty ring); NULL where not offered. */
    bool (*per_vcpu_enabled)(void);         /* any thread */
    uint64_t (*per_vcpu_reap)(void);        /* any thread, no BQL */
    uint64_t (*vcpu_pages)(CPUState *cpu);  /* any thread */
} DirtyLogOps;

/*
 * Writes into guest RAM that neither the accelerator nor the VMM sees:
 * DMA by devices outside the process (VFIO), which log it themselves.
 * QEMU's memory listener with log_global_start/log_sync/log_global_stop
 * is the model.  A listener is registered at machine creation (BQL);
 * its hooks run in the threads and with the locks of dirty_log_start,
 * dirty_log_stop and dirty_log_sync.
 */
typedef struct DirtyLogListener {
    /* Start logging; a failure fails dirty_log_start(). */
    bool (*log_start)(void *opaque, Error **errp);
    void (*log_stop)(void *opaque);
    /*
     * OR into @bitmap (block-relative, 4 KiB pages) what was written in
     * @rb since the last sync; returns the bits that went from 0 to 1.
     */
    uint64_t (*log_sync)(void *opaque, RAMBlock *rb, unsigned long *bitmap);
    void *opaque;
} DirtyLogListener;

void dirty_log_listener_register(const DirtyLogListener *l);

/* Start tracking (BQL taken unless held).  Nested starts are refused. */
bool dirty_log_start(Error **errp);
void dirty_log_stop(void);
/*
 * Guest writes since the last sync (the accelerator's) plus the VMM's own
 * (soft dirty bits), ORed into @bitmap; returns the bits newly set.
 */
uint64_t dirty_log_sync(RAMBlock *rb, unsigned long *bitmap);

/*
 * Per-vCPU dirty page counts: true only where the accelerator counts
 * pages per vCPU (KVM with -accel kvm,dirty-ring-size=N).
 * dirty_log_vcpu_reap() harvests now (0 without it);
 * dirty_log_vcpu_pages() is @cpu's running total.
 */
bool dirty_log_per_vcpu(void);
uint64_t dirty_log_vcpu_reap(void);
uint64_t dirty_log_vcpu_pages(CPUState *cpu);

/* The name of the running accelerator, for error messages ("tcg"...). */
const char *dirty_log_accel_name(void);

#endif
