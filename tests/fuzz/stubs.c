/*
 * What the migration fuzzer cannot link from the tree: the machine (for
 * its type name), the migration state object (migration.c, which brings
 * threads, QMP and events; only the counters and the pass hook are
 * referenced by ram.c), the capabilities (options.c needs the QMP layer;
 * the destination's defaults are all off, so that is what these report).
 * Dirty tracking is the real system/dirty-log.c with no accelerator
 * (current_accel NULL, as with -accel qtest): soft dirty bits only.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "hw/boards.h"
#include "migration/migration-stats.h"
#include "../../migration/options.h"
#include "../../migration/multifd.h"
#include "../../migration/return-path.h"
#include "../../migration/postcopy-ram.h"
#include "../../migration/postcopy-preempt.h"
#include "fuzz-target.h"

MigrationAtomicStats mig_stats;

const char *machine_type_name(void)
{
    return FUZZ_MACHINE_TYPE;
}

void mig_stats_reset(void)
{
    memset(&mig_stats, 0, sizeof(mig_stats));
}

void migration_pass_done(uint64_t pass)
{
}

bool migrate_capability(MigrationCapability cap)
{
    return false;
}

bool migrate_postcopy_ram(void)
{
    return false;
}

bool migrate_postcopy_preempt(void)
{
    return false;
}

bool migrate_release_ram(void)
{
    return false;
}

/*
 * multifd (migration/multifd.c brings channels and threads): off here, so
 * ram.c never calls these on the load path; the save path (seeds) does
 * not either.
 */
ZeroPageDetection migrate_zero_page_detection(void)
{
    return ZERO_PAGE_DETECTION_MULTIFD;
}

uint64_t migrate_xbzrle_cache_size(void)
{
    return 64 * MiB;
}

bool multifd_send_setup(QEMUFile *f, Error **errp)
{
    error_setg(errp, "multifd is not linked into the fuzzer");
    return false;
}

bool multifd_queue_page(RAMBlock *block, uint64_t offset, Error **errp)
{
    error_setg(errp, "multifd is not linked into the fuzzer");
    return false;
}

bool multifd_send_sync_main(Error **errp)
{
    error_setg(errp, "multifd is not linked into the fuzzer");
    return false;
}

void multifd_send_shutdown(void)
{
}

void multifd_recv_ram_ready(void)
{
}

bool multifd_recv_sync_main(Error **errp)
{
    error_setg(errp, "multifd is not linked into the fuzzer");
    return false;
}

/*
 * The return path (return-path.c needs the migration state objects): the
 * fuzzed input is a one-way buffer, so a stream that asks for a return
 * path is refused, as a destination without one would.
 */
void migration_rp_send_end_ping(QEMUFile *f)
{
}

bool migration_incoming_rp_open(QEMUFile *from_src, uint16_t len,
                                Error **errp)
{
    error_setg(errp, "the fuzzer has no return path");
    return false;
}

bool migration_incoming_rp_ping(QEMUFile *from_src, uint16_t len,
                                Error **errp)
{
    error_setg(errp, "CMD_PING received with no return path");
    return false;
}

/*
 * Postcopy (postcopy-ram.c needs userfaultfd, the return path and the
 * migration state): the fuzzer's destination has postcopy-ram off, as
 * by default, so every postcopy command is refused, as it would be
 * there.  postcopy_discard_parse() is covered by its own tests.
 */
static bool fuzz_no_postcopy(const char *what, Error **errp)
{
    error_setg(errp, "%s: postcopy is not enabled on this destination", what);
    return false;
}

PostcopyIncomingState postcopy_incoming_state(void)
{
    return POSTCOPY_INCOMING_NONE;
}

bool postcopy_incoming_advise(QEMUFile *f, uint16_t len, Error **errp)
{
    return fuzz_no_postcopy("CMD_POSTCOPY_ADVISE", errp);
}

bool postcopy_incoming_discard(QEMUFile *f, uint16_t len, Error **errp)
{
    return fuzz_no_postcopy("CMD_POSTCOPY_RAM_DISCARD", errp);
}

bool postcopy_incoming_listen(QEMUFile *main, uint16_t len, Error **errp)
{
    return fuzz_no_postcopy("CMD_POSTCOPY_LISTEN", errp);
}

bool postcopy_incoming_run(uint16_t len, Error **errp)
{
    return fuzz_no_postcopy("CMD_POSTCOPY_RUN", errp);
}

bool postcopy_incoming_recv_bitmap(QEMUFile *f, uint16_t len, Error **errp)
{
    return fuzz_no_postcopy("CMD_RECV_BITMAP", errp);
}

bool postcopy_incoming_resume(uint16_t len, Error **errp)
{
    return fuzz_no_postcopy("CMD_POSTCOPY_RESUME", errp);
}

bool postcopy_incoming_wait(Error **errp)
{
    return fuzz_no_postcopy("postcopy", errp);
}

bool postcopy_place_page(RAMBlock *rb, uint64_t offset, const void *data,
                         Error **errp)
{
    return fuzz_no_postcopy("postcopy page", errp);
}

void postcopy_mark_received(RAMBlock *rb, uint64_t offset)
{
}

uint64_t postcopy_pagesize_summary(void)
{
    return 0;
}

bool postcopy_preempt_incoming_ping(QEMUFile *f, Error **errp)
{
    return fuzz_no_postcopy("preempt channel ping", errp);
}

/* Source side, reached only through handlers the fuzzer never calls. */
QEMUFile *postcopy_preempt_file(void)
{
    return NULL;
}

void postcopy_preempt_start(void)
{
}

bool postcopy_preempt_finish(Error **errp)
{
    return true;
}

void postcopy_preempt_cleanup(void)
{
}
