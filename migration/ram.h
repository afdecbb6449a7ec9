/*
 * RAM migration (migration/ram.c, the source and the section's hooks;
 * migration/ram-load.c, the destination): the "ram" live section,
 * version 4.
 *
 * Source: the migration thread walks a dirty bitmap per RAMBlock (the
 * accelerator's dirty log plus the blocks' soft dirty bits, both from
 * dirty_log_sync(), system/dirty-log.c), sending each dirty page as
 * a ZERO record (all-zero page) or a PAGE record (sent by reference with
 * qemu_put_buffer_async).  Destination: the incoming thread checks every
 * record (block known, offset + page within used length, flags known)
 * and writes the page straight into guest memory, no BQL.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_RAM_H
#define MIGRATION_RAM_H

#include "qapi/error.h"

/* RAM record flags (low bits of the be64 offset word; QEMU's values). */
#define RAM_SAVE_FLAG_FULL          0x01    /* obsolete; rejected */
#define RAM_SAVE_FLAG_ZERO          0x02
#define RAM_SAVE_FLAG_MEM_SIZE      0x04
#define RAM_SAVE_FLAG_PAGE          0x08
#define RAM_SAVE_FLAG_EOS           0x10
#define RAM_SAVE_FLAG_CONTINUE      0x20
#define RAM_SAVE_FLAG_XBZRLE        0x40
#define RAM_SAVE_FLAG_HOOK          0x80    /* RDMA */
#define RAM_SAVE_FLAG_COMPRESS_PAGE 0x100   /* obsolete; rejected */
#define RAM_SAVE_FLAG_MULTIFD_FLUSH 0x200

/* Register the "ram" section with savevm (called once at start-up). */
void ram_mig_init(void);
/* Bytes of RAM still dirty (for query-migrate "remaining"). */
uint64_t ram_bytes_remaining(void);
uint64_t ram_bytes_total_migratable(void);
/* How long the last dirty-bitmap sync took (ns), for the downtime budget. */
uint64_t ram_last_sync_ns(void);

/*
 * Postcopy, source, return-path thread: queue a page request (@rbname
 * NULL: the block of the last named request) after checking the block
 * is known and the range page aligned and inside it.
 */
bool ram_save_queue_pages(const char *rbname, uint64_t start, uint64_t len,
                          Error **errp);
/* Postcopy, source, migration thread: sleep until a request or @ms pass. */
void ram_postcopy_wait_request(int64_t ms);
/*
 * Postcopy recovery, source (docs/devel/migration/postcopy.md):
 * ram_postcopy_resume_prepare() (migration thread, new stream) sends
 * RECV_BITMAP for every block; ram_postcopy_reload_bitmap() (return-path
 * thread) reads one answer from @from_dst and rebuilds that block's
 * to-send bitmap; ram_postcopy_resume_check() says whether every block
 * was answered.
 */
typedef struct QEMUFile QEMUFile;
bool ram_postcopy_resume_prepare(QEMUFile *f, Error **errp);
bool ram_postcopy_reload_bitmap(const char *name, QEMUFile *from_dst,
                                Error **errp);
bool ram_postcopy_resume_check(Error **errp);
/*
 * Migration thread, after RESUME_ACK: release-ram settles the pages held
 * back (ram-release.h), and the preempt sender starts on its new channel.
 */
void ram_postcopy_resume_done(void);
/* Postcopy, destination, at LISTEN: page records are placed from now on. */
void ram_postcopy_incoming_start(void);
/*
 * postcopy-preempt, source, the "mig/src/preempt" thread: wait for a
 * queued request (or *@quit), send its pages on @f and flush; *@pages is
 * how many were sent.  False once *@quit is set and nothing is queued.
 * ram_postcopy_preempt_wake() wakes it (after setting *@quit).
 */
bool ram_postcopy_preempt_send(QEMUFile *f, const bool *quit,
                               uint64_t *pages);
void ram_postcopy_preempt_wake(void);
/*
 * postcopy-preempt, destination, the "mig/dst/preempt" thread: place the
 * page records of @f (own block context) up to its EOS; *@pages counts
 * them (atomic).
 */
bool ram_load_postcopy_channel(QEMUFile *f, uint64_t *pages, Error **errp);
/*
 * multifd, destination, incoming thread once the stream is loaded: did
 * the last RAM section end with a MULTIFD_FLUSH after its last RAM data
 * (as the source always sends)?  Else an error: channel pages of the
 * last round could still be on their way.
 */
bool ram_load_multifd_check_end(Error **errp);

#endif
