/*
 * Helpers for the migration qtests: start a source running the stamp
 * guest and a destination waiting for it, drive migration over QMP with
 * QEMU's commands, wait for a migration status, check the stamp
 * invariant on a VM's memory.
 *
 * Everything here speaks QEMU's QMP surface only, so the same tests run
 * against qmig (QTEST_QMIG_BINARY) and QEMU (QTEST_QMIG_BINARY or
 * QTEST_QEMU_BINARY naming qemu-system-x86_64) for comparison.
 *
 * Status waits poll query-migrate (every MIG_POLL_MS) rather than rely on
 * MIGRATION events, which QEMU only sends with the "events" capability.
 * Each wait is bounded by qtest_timeout_s() and fails the test with the
 * last reply when it runs out.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef TESTS_QTEST_MIGRATION_HELPERS_H
#define TESTS_QTEST_MIGRATION_HELPERS_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "libqtest.h"

#define MIG_POLL_MS 10
/* A bandwidth no link here reaches: "unlimited" (QEMU's max is INT64). */
#define MIG_BW_UNLIMITED (100ULL << 30)
/* So slow that a migration of the stamp guest stays active for seconds. */
#define MIG_CRAWL_BW (4ULL << 20)
/*
 * -accel for a VM with the KVM dirty ring (its cases are added with
 * mig_add_case_kvm, so they skip under any other accelerator).
 */
#define MIG_ACCEL_RING "kvm,dirty-ring-size=4096"
/* The skip reasons of those cases. */
#define MIG_NEEDS_RING "KVM's dirty ring"
#define MIG_NEEDS_DIRTY_LIMIT "KVM's dirty ring (the dirty limit uses it)"
/* The rate guest's working set starts here; its pass counter (le32). */
#define MIG_RATE_START 0x00100000ULL
#define MIG_RATE_PASSES 0x6000

/* ---- VMs ---------------------------------------------------------------- */

/*
 * True (and the test skipped with the reason) when the accelerator of the
 * run (qtest_accel()) is not usable here or the stamp guest is not built.
 */
bool mig_skip_without_accel_or_guest(void);
/* Is the binary under test QEMU rather than qmig? */
bool mig_is_qemu(void);
/*
 * QEMU older than @major.@minor?  Always false for qmig, which follows
 * QEMU's current behaviour.  Asks @s with query-version.
 */
bool mig_qemu_older_than(QTestState *s, int major, int minor);

/*
 * The machine every migration test runs (150 MiB, no default devices):
 * "-accel @accel", the boot disk @image and @extra options (caller frees).
 * @accel is qtest_accel() unless a case needs a particular one.
 */
char *mig_machine_args(const char *accel, const char *image,
                       const char *extra);
/*
 * Start that machine and wait for the guest's first 'B' (the stamp and
 * rate guests print one per pass), so it is known to run.
 */
QTestState *mig_start_guest(const char *accel, const char *image,
                            const char *extra);
/*
 * Start a VM running the stamp guest (150 MiB, -accel qtest_accel()) with
 * @extra options and wait for its first 'B', so the guest is known to run
 * before migration.
 */
QTestState *mig_start_source(const char *extra);
/*
 * Start a destination for the stamp guest: the same machine options plus
 * "-incoming @incoming" (a URI or "defer") and @extra.
 */
QTestState *mig_start_dest(const char *incoming, const char *extra);
/*
 * Does a failed incoming migration end the destination process?  QEMU
 * before 9.1 always exits; later QEMU and qmig keep running when
 * migrate-incoming is given exit-on-error=false (see mig_incoming).
 */
bool mig_dest_exits_on_error(QTestState *dst);
/*
 * The usual pair: a stamp source with @src_extra, and a destination with
 * @dst_extra listening on "unix:" a socket in the source's directory.
 * Returns the source; *@dst and *@uri (caller frees) are set.
 */
QTestState *mig_start_pair(const char *src_extra, const char *dst_extra,
                           QTestState **dst, char **uri);

/* ---- commands ----------------------------------------------------------- */

void mig_set_capability(QTestState *s, const char *cap, bool on);
/* The same on @src and, unless NULL, on @dst (caps both sides agree on). */
void mig_set_capability_both(QTestState *src, QTestState *dst,
                             const char *cap, bool on);
void mig_set_parameter(QTestState *s, const char *name, uint64_t value);
/*
 * The downtime-limit (ms) of a run that must converge: QEMU's 300, or
 * QTEST_MIG_DOWNTIME_MS where the source is slowed down, as a
 * ThreadSanitizer build of qmig is against a guest that is not (tcg:
 * Unicorn is not instrumented), so that it still converges.
 */
uint64_t mig_downtime_ms(void);
/* migrate-set-parameters for an unthrottled run with mig_downtime_ms(). */
void mig_set_unlimited(QTestState *s);
/* "migrate" to @uri; fails the test if the command is refused. */
void mig_migrate(QTestState *s, const char *uri);
/*
 * migrate-incoming @uri on a "-incoming defer" destination; with
 * @keep_alive, exit-on-error=false is passed (unless the VMM is a QEMU
 * that does not know it).
 */
void mig_incoming(QTestState *dst, const char *uri, bool keep_alive);
/* Send a getfd for @fd named @name over SCM_RIGHTS. */
void mig_getfd(QTestState *s, int fd, const char *name);
/*
 * Poll until query-migrate's "ram" member @name on @s exceeds @min; fails
 * the test on timeout.
 */
void mig_wait_ram_counter_above(QTestState *s, const char *name,
                                int64_t min);
/*
 * "migrate" @src to @uri at @bw bytes/s; return once the migration is
 * active and mid-stream (over 1 MiB of RAM sent), not just connected.
 */
void mig_start_crawl(QTestState *src, const char *uri, uint64_t bw);

/* ---- status ------------------------------------------------------------ */

/* query-migrate's return object (caller unrefs). */
JsonNode *mig_query(QTestState *s);
/*
 * The port a destination listening on tcp port 0 got, from its
 * query-migrate "socket-address" (caller frees).
 */
char *mig_dest_tcp_port(QTestState *dst);
/* query-migrate "status", "none" when absent (caller frees). */
char *mig_status(QTestState *s);
/* query-migrate "ram" member @name, or -1 when absent. */
int64_t mig_ram_counter(JsonNode *info, const char *name);
/* An integer member of the query-migrate reply, or -1. */
int64_t mig_info_int(JsonNode *info, const char *name);
/*
 * Poll until query-migrate status is one of the NULL-terminated @want
 * list; fails the test on timeout, or when a terminal state (completed,
 * failed, cancelled) not in @want is reached.  Returns the status
 * (caller frees).
 */
char *mig_wait_status(QTestState *s, const char *const *want);
/*
 * Wait for completed (on failed, fail the test showing error-desc), then
 * for the run state to leave finish-migrate.
 */
void mig_wait_completed(QTestState *src);
/*
 * Poll until @s's migration has synced its dirty pages @n times; fails
 * the test on timeout or when it leaves setup/active.
 */
void mig_wait_dirty_syncs(QTestState *s, int64_t n);
/*
 * "error-desc" of a failed migration's query-migrate reply @info (owned
 * by @info); fails the test, showing the reply, when it has none.
 */
const char *mig_error_desc(JsonNode *info);
/* Poll until query-status says "running" (the destination resumed). */
void mig_wait_running(QTestState *s);

/*
 * Run scripts/analyze-migration (QTEST_ANALYZE_MIGRATION; nothing without
 * it, or under QEMU) on the stream saved in @path: it must succeed and its
 * output hold each string of the NULL-terminated @needles.
 */
void mig_check_analyzer(const char *path, const char *const *needles);

/* ---- guest checks ------------------------------------------------------- */

/* Wait for @n more 'B' on @s's serial than it has now. */
void mig_wait_more_passes(QTestState *s, size_t n);
/*
 * Stop @s (if running), pmemsave [1 MiB, 100 MiB), check the stamp
 * invariant and return that memory (caller unrefs).
 */
GBytes *mig_stamp_memory(QTestState *s);
/* @size bytes of @s's guest memory at @addr, by pmemsave (caller unrefs). */
GBytes *mig_pmemsave(QTestState *s, uint64_t addr, uint64_t size);
/* The same, dropping the memory; with @resume, cont @s afterwards. */
void mig_check_stamp(QTestState *s, bool resume);
/*
 * The end of every successful case: the destination's guest runs on
 * (more passes after the switchover), then its memory holds the stamp
 * invariant and, given the source's memory at the switchover @src_mem
 * (from mig_stamp_memory on the stopped source), every page moved on
 * from the source's value by as many passes as the destination made.
 * With @resume it runs on afterwards (for another hop).
 */
void mig_check_dest(QTestState *dst, GBytes *src_mem, bool resume);
/*
 * A migration started on @src succeeds: wait for completed, the source
 * must be postmigrate, then mig_check_dest() of @dst against the stopped
 * source's memory (with @resume, @dst runs on afterwards).
 */
void mig_complete_and_check(QTestState *src, QTestState *dst, bool resume);
/*
 * Migrate @src to @dst (already listening on @uri) unthrottled
 * (mig_set_unlimited), then mig_complete_and_check().
 */
void mig_migrate_and_check(QTestState *src, QTestState *dst,
                           const char *uri, bool resume);
/*
 * After a migration of @src failed or was cancelled, the source lost
 * nothing: its guest runs on (one more pass), its memory holds the stamp
 * invariant, and it runs again after that check.
 */
void mig_check_source_survived(QTestState *src);
/*
 * The end of a successful stamp migration: mig_check_dest() of @dst (with
 * @compare_src, against the stopped source's memory), then both quit.
 */
void mig_check_dest_and_quit(QTestState *src, QTestState *dst,
                             bool compare_src);
/*
 * The rate guest on a destination: it runs on (two more passes), then,
 * stopped, its working set of @wset_mib MiB holds the stamp invariant.
 */
void mig_check_rate_memory(QTestState *dst, uint32_t wset_mib);
/* The same, and its pass counter went on from the source's. */
void mig_check_rate_dest(QTestState *dst, uint32_t wset_mib);
/* Fail unless @s is alive and its guest is running. */
void mig_assert_running(QTestState *s);
/* qtest_quit(), failing the test if the VMM ended by a signal. */
void mig_quit_clean(QTestState *s);

/* ---- file systems ------------------------------------------------------ */

/*
 * A @fstype file system (with @opts, e.g. "size=32m") at a fresh
 * directory, in a mount namespace of this test process only (the VMMs it
 * starts inherit it); NULL with the reason in *@why (caller frees) when
 * that cannot be done here (not root, no namespaces): skip the case.
 */
char *mig_private_mount(const char *fstype, const char *opts, char **why);
/* Unmount what mig_private_mount() mounted and remove its directory. */
void mig_private_umount(const char *dir);

/* ---- cases -------------------------------------------------------------- */

/*
 * Register @fn as test @path, run in a subprocess so one failure does not
 * hide the others.  @slow cases are registered only with "-m slow" (which
 * runs every case; "-p /migration/slow" narrows it to the slow ones).
 */
void mig_add_case(const char *path, void (*fn)(void), bool slow);
/* The same, skipped when the VMM is a QEMU older than @major.@minor. */
void mig_add_case_qemu_min(const char *path, void (*fn)(void), bool slow,
                           int major, int minor);
/*
 * The same for a case whose @feature only KVM has: under another
 * accelerator it is skipped as "needs @feature; running under ACCEL".
 */
void mig_add_case_kvm(const char *path, void (*fn)(void), bool slow,
                      const char *feature);

/* ---- hand-made streams ------------------------------------------------ */

/* Append big-endian integers and u8-counted strings to @a. */
void mig_put_u8(GByteArray *a, uint8_t v);
void mig_put_be16(GByteArray *a, uint16_t v);
void mig_put_be32(GByteArray *a, uint32_t v);
void mig_put_be64(GByteArray *a, uint64_t v);
void mig_put_counted(GByteArray *a, const char *str);
/* A connected unix socket to @path (a fake source or destination). */
int mig_connect_unix(const char *path);
/* The stream header and configuration of qmig's stamp machine. */
void mig_put_stream_header(GByteArray *a);
/*
 * The "ram" SECTION_START (section @id, instance 0, version 4) and its
 * block list: MEM_SIZE @ram_size, the one block "pc.ram" of that size.
 * The caller goes on with the section's records (EOS, then the footer).
 */
void mig_put_ram_start(GByteArray *a, uint32_t id, uint64_t ram_size);

/*
 * A temporary copy of the rate guest (tests/migration/i386/rate.S) with
 * its working set W (MiB, le32 at 0x1f8) and per-page delay D (le32 at
 * 0x1f4) patched in; the caller unlinks it.
 */
char *mig_rate_image(uint32_t wset_mib, uint32_t delay);

#endif
