/*
 * Stand-ins for the parts of qmig that test-ram-load does not link: the
 * savevm section list (it keeps the handlers so the test can call them),
 * migration options, the counters and memory backends.  Dirty tracking is
 * the real system/dirty-log.c with no accelerator (current_accel NULL, as
 * with -accel qtest): the RAM blocks' soft dirty bits only.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "migration/register.h"
#include "migration/migration-stats.h"
#include "migration/options.h"
#include "migration/multifd.h"
#include "migration/postcopy-ram.h"
#include "migration/postcopy-preempt.h"
#include "migration/savevm.h"
#include "system/ramblock.h"
#include "ram-test-stubs.h"

MigrationAtomicStats mig_stats;

const SaveVMHandlers *ram_test_handlers;
bool ram_test_caps[MIGRATION_CAPABILITY__MAX];

int register_savevm_live(const char *idstr, uint32_t instance_id,
                         int version_id, const SaveVMHandlers *ops,
                         void *opaque)
{
    g_assert_cmpstr(idstr, ==, "ram");
    g_assert_cmpint(version_id, ==, 4);
    ram_test_handlers = ops;
    return 0;
}

void migration_pass_done(uint64_t pass)
{
}

void mig_stats_reset(void)
{
    memset(&mig_stats, 0, sizeof(mig_stats));
}

bool migrate_capability(MigrationCapability cap)
{
    return ram_test_caps[cap];
}

bool migrate_postcopy_ram(void)
{
    return ram_test_caps[MIGRATION_CAPABILITY_POSTCOPY_RAM];
}

bool migrate_mapped_ram(void)
{
    return ram_test_caps[MIGRATION_CAPABILITY_MAPPED_RAM];
}

bool migrate_multifd_sockets(void)
{
    return ram_test_caps[MIGRATION_CAPABILITY_MULTIFD] &&
           !ram_test_caps[MIGRATION_CAPABILITY_MAPPED_RAM];
}

bool migrate_multifd(void)
{
    return ram_test_caps[MIGRATION_CAPABILITY_MULTIFD];
}

bool migrate_direct_io(void)
{
    return false;
}

/* x-io-uring, as a test sets it. */
bool ram_test_io_uring;

bool migrate_io_uring(void)
{
    return ram_test_io_uring;
}

int migrate_multifd_channels(void)
{
    return 2;
}

bool migrate_release_ram(void)
{
    return ram_test_caps[MIGRATION_CAPABILITY_RELEASE_RAM];
}

/* Postcopy is not linked (postcopy-test is the qtest); a test may hook. */
RAMTestPlaceFn *ram_test_place_page;

bool postcopy_place_page(RAMBlock *rb, uint64_t offset, const void *data,
                         Error **errp)
{
    if (ram_test_place_page) {
        return ram_test_place_page(rb, offset, data, errp);
    }
    error_setg(errp, "postcopy is not linked into this unit test");
    return false;
}

void postcopy_mark_received(RAMBlock *rb, uint64_t offset)
{
}

/* postcopy-preempt is not exercised here (postcopy-preempt-test is). */
bool migrate_postcopy_preempt(void)
{
    return ram_test_caps[MIGRATION_CAPABILITY_POSTCOPY_PREEMPT];
}

QEMUFile *postcopy_preempt_file(void)
{
    return NULL;
}

void postcopy_preempt_start(void)
{
}

bool postcopy_preempt_finish(Error **errp)
{
    error_setg(errp, "postcopy preempt is not linked into this unit test");
    return false;
}

void postcopy_preempt_cleanup(void)
{
}

bool postcopy_preempt_incoming_ping(QEMUFile *f, Error **errp)
{
    error_setg(errp, "postcopy preempt is not linked into this unit test");
    return false;
}

void qemu_savevm_send_command(QEMUFile *f, uint16_t cmd, uint16_t len,
                              const uint8_t *data)
{
}

uint64_t ram_test_xbzrle_cache_size = 64 * 1024 * 1024;

uint64_t migrate_xbzrle_cache_size(void)
{
    return __atomic_load_n(&ram_test_xbzrle_cache_size, __ATOMIC_RELAXED);
}

MemoryBackend *memory_backend_find(const char *id)
{
    return NULL;
}

/* multifd (migration/multifd.c): never on in this test. */
ZeroPageDetection migrate_zero_page_detection(void)
{
    return ZERO_PAGE_DETECTION_MULTIFD;
}

bool multifd_send_setup(QEMUFile *f, Error **errp)
{
    g_assert_not_reached();
}

bool multifd_queue_page(RAMBlock *block, uint64_t offset, Error **errp)
{
    g_assert_not_reached();
}

bool multifd_send_sync_main(Error **errp)
{
    g_assert_not_reached();
}

void multifd_send_shutdown(void)
{
}

void multifd_recv_ram_ready(void)
{
}

bool multifd_recv_sync_main(Error **errp)
{
    g_assert_not_reached();
}

/* ---- helpers shared by the RAM section tests ---- */

void put_byte(GByteArray *s, uint8_t v)
{
    g_byte_array_append(s, &v, 1);
}

void put64(GByteArray *s, uint64_t v)
{
    uint8_t b[8];

    for (int i = 0; i < 8; i++) {
        b[i] = v >> (56 - 8 * i);
    }
    g_byte_array_append(s, b, 8);
}

void put_name(GByteArray *s, const char *name)
{
    uint8_t len = strlen(name);

    g_byte_array_append(s, &len, 1);
    g_byte_array_append(s, (const uint8_t *)name, len);
}

void read_all(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;

    while (len) {
        ssize_t n = read(fd, p, len);

        g_assert_cmpint(n, >, 0);
        p += n;
        len -= n;
    }
}

void write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    while (len) {
        ssize_t n = write(fd, p, len);

        g_assert_cmpint(n, >, 0);
        p += n;
        len -= n;
    }
}
