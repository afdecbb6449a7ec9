/*
 * Postcopy blocktime and page-request latency, destination side (the
 * postcopy-blocktime capability; docs/devel/migration/postcopy.md).
 *
 * Blocktime (QEMU's definition): per vCPU, the time it spent waiting for
 * missing pages; overall, the time during which every vCPU was waiting at
 * once.  The fault thread reports each fault with the faulting thread's id
 * (UFFD_FEATURE_THREAD_ID), mapped to a vCPU by CPUState.thread_id; the
 * threads that place pages report each placed page, which ends the wait
 * of every vCPU blocked on it.  Latency: from the request sent to the
 * page placed, for every page the fault thread asked for.
 *
 * Threads: fault/requested from "mig/dst/fault", placed from the listen
 * and preempt threads, setup/finish from the incoming thread (or cleanup),
 * query from the main thread; all under one internal mutex.  The numbers
 * stay readable after the migration ends, until the next setup.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_POSTCOPY_BLOCKTIME_H
#define MIGRATION_POSTCOPY_BLOCKTIME_H

#include <json-glib/json-glib.h>

/* Extra UFFDIO_API features to ask for (THREAD_ID with the capability). */
uint64_t postcopy_blocktime_uffd_features(void);
/* At LISTEN: start accounting if the capability is on; map vCPU threads. */
void postcopy_blocktime_setup(void);
/*
 * Thread @tid faulted on the page at host address @page, which was not
 * placed; bit @bit of @received (atomic) says if it got placed meanwhile.
 */
void postcopy_blocktime_fault(uint64_t page, uint32_t tid,
                              const unsigned long *received, uint64_t bit);
/* The fault thread asked the source for @page now. */
void postcopy_blocktime_requested(uint64_t page);
/* @page was placed (its received bit is already set). */
void postcopy_blocktime_placed(uint64_t page);
/* End of postcopy: close open waits; the numbers stay. */
void postcopy_blocktime_finish(void);
/*
 * query-migrate (destination): postcopy-blocktime, postcopy-vcpu-blocktime
 * (ms, as QEMU), postcopy-latency (average ns, as QEMU 10) and qmig's
 * x-postcopy-latency-p50/-p99/-count (ns, pages), when the capability
 * was on; qmig's x-postcopy-pages-requested (postcopy-ram) and
 * x-postcopy-preempt-pages (pages placed from the preempt channel).
 */
void postcopy_blocktime_query(JsonObject *info);

#endif
