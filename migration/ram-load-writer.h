/*
 * The destination's write stage (precopy, shared fd-backed RAM).
 *
 * PAGE data for shared fd-backed RAM is gathered in a batch and written
 * into the RAM's file with pwrite (ram-load.c).  Receiving a batch and writing
 * it are two stages: with the writer thread "mig/dst/write" the incoming
 * thread receives the next batch while the previous one is written, so
 * the socket copy and the write into fresh memory overlap on two CPUs.
 * Two batches take turns; at most one is with the writer at a time.
 *
 * Ordering: a batch is handed over whole, and the incoming thread calls
 * ram_load_writer_wait() before it applies any record other than PAGE
 * (and at the end of the section), so pages land in stream order with
 * respect to every other record.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_RAM_LOAD_WRITER_H
#define MIGRATION_RAM_LOAD_WRITER_H

#include "system/ramblock.h"

#define RAM_LOAD_BATCH_PAGES 256        /* 1 MiB */

typedef struct RAMLoadBatch {
    RAMBlock *rb;               /* block of the queued pages */
    uint8_t *buf;               /* RAM_LOAD_BATCH_PAGES pages, lazily */
    uint64_t offset[RAM_LOAD_BATCH_PAGES];  /* of page i in buf */
    unsigned int n;             /* pages queued */
} RAMLoadBatch;

/*
 * Incoming thread.  The batch to fill (empty, its buffer allocated);
 * NULL never.
 */
RAMLoadBatch *ram_load_writer_batch(void);
/*
 * Hand the current batch (if it holds pages) to the writer thread and
 * switch to the other one, waiting until the writer is done with it;
 * false with @errp if a write failed (that write's error).
 */
bool ram_load_writer_submit(Error **errp);
/* Submit, then wait until every page handed over is written. */
bool ram_load_writer_wait(Error **errp);
/* Stop the thread and free the batches (load cleanup). */
void ram_load_writer_cleanup(void);

/* Write the runs of consecutive pages of @b into its block's file. */
bool ram_load_batch_write(RAMLoadBatch *b, Error **errp);

#endif
