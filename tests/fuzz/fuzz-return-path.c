/*
 * libFuzzer target "return-path": the return path as the source reads it.
 *
 * Byte 0 of an input: bit 0 postcopy-ram (else only return-path) on the
 * source, bit 1 the RAM section's save state set up first (so that page
 * requests and RECV_BITMAP reach ram.c's queue and bitmap code).  The
 * rest is what the destination sends back.  The harness starts the real
 * "mig/src/rp" thread with migration_rp_start() (migration/return-path.c)
 * on the main connection, a socketpair whose other end holds the input
 * and is then half-closed, and ends it with migration_rp_finish() as the
 * migration thread does.  Every message must be rejected with an error
 * or accepted, never crash or leak.
 *
 * Seeds ("--make-seeds=DIR"): written by the destination's real
 * return-path writers (migration_incoming_rp_open/_pong/_req_pages/
 * _recv_bitmap/_resume_ack/_shut) on a socketpair, read back.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/socket.h>
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "io/channel-socket.h"
#include "migration/qemu-file.h"
#include "migration/savevm.h"
#include "../../migration/migration.h"
#include "../../migration/return-path.h"
#include "../../migration/postcopy-recover.h"
#include "fuzz-common.h"
#include "fuzz-qmig.h"

#define FUZZ_RP_POSTCOPY    0x1
#define FUZZ_RP_RAM_STATE   0x2

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    MigrationState *s = migrate_get_current();
    unsigned mode = size ? data[0] : 0;
    Error *err = NULL;
    QIOChannel *ioc;
    QEMUFile *f;
    bool ok;
    int sv[2];

    bql_lock();
    fuzz_qmig_set_caps(mode & FUZZ_RP_POSTCOPY ? FUZZ_CAP_POSTCOPY_RAM :
                       FUZZ_CAP_RETURN_PATH);
    bql_unlock();
    fuzz_socketpair_feed(sv, size ? data + 1 : data, size ? size - 1 : 0);
    ioc = qio_channel_socket_new_fd(sv[0], &error_abort);
    f = qemu_file_new_output(ioc);
    qio_channel_unref(ioc);
    if (mode & FUZZ_RP_RAM_STATE) {
        qemu_savevm_state_header(f);
        qemu_savevm_state_setup(f, &error_abort);
    }
    ok = migration_rp_start(s, f, &err);
    if (ok) {
        ok = migration_rp_finish(s, false, &err);
    }
    fuzz_check_error(ok, err);
    if (mode & FUZZ_RP_RAM_STATE) {
        qemu_savevm_state_cleanup();
    }
    qemu_fclose(f);
    close(sv[1]);
    return 0;
}

/* ---- Seeds ---- */

typedef enum {
    RP_PONG_OPEN, RP_PONG_END, RP_SHUT_OK, RP_SHUT_FAIL, RP_REQ_ID, RP_REQ,
    RP_BITMAP, RP_RESUME_ACK, RP_END
} FuzzRPStep;

static const struct {
    const char *name;
    unsigned mode;
    FuzzRPStep steps[8];
} fuzz_rp_seeds[] = {
    { "success", 0, { RP_PONG_OPEN, RP_PONG_END, RP_SHUT_OK, RP_END } },
    { "failure", 0, { RP_PONG_OPEN, RP_SHUT_FAIL, RP_END } },
    { "requests", FUZZ_RP_POSTCOPY | FUZZ_RP_RAM_STATE,
      { RP_PONG_OPEN, RP_REQ_ID, RP_REQ, RP_REQ_ID, RP_PONG_END, RP_SHUT_OK,
        RP_END } },
    { "recovery", FUZZ_RP_POSTCOPY | FUZZ_RP_RAM_STATE,
      { RP_PONG_OPEN, RP_BITMAP, RP_RESUME_ACK, RP_PONG_END, RP_SHUT_OK,
        RP_END } },
    { "requests-nostate", FUZZ_RP_POSTCOPY,
      { RP_REQ_ID, RP_REQ, RP_SHUT_OK, RP_END } },
};

static void fuzz_rp_step(MigrationIncomingState *mis, FuzzRPStep step)
{
    g_autofree uint8_t *bitmap = NULL;
    size_t len;

    switch (step) {
    case RP_PONG_OPEN:
        migration_incoming_rp_pong(mis, MIG_RP_PING_OPEN, &error_abort);
        break;
    case RP_PONG_END:
        migration_incoming_rp_pong(mis, MIG_RP_PING_END, &error_abort);
        break;
    case RP_SHUT_OK:
    case RP_SHUT_FAIL:
        migration_incoming_rp_shut(mis, step == RP_SHUT_FAIL);
        break;
    case RP_REQ_ID:
        migration_incoming_rp_req_pages(mis, "x-other", 0x2000, 0x1000);
        migration_incoming_rp_req_pages(mis, FUZZ_RAM_NAME, 0x2000, 0x2000);
        break;
    case RP_REQ:
        migration_incoming_rp_req_pages(mis, NULL, 0x8000, 0x1000);
        break;
    case RP_BITMAP:
        len = postcopy_recv_bitmap_size(FUZZ_RAM_SIZE / 4096);
        bitmap = g_malloc0(len);
        memset(bitmap, 0xa5, len - 8);
        migration_incoming_rp_recv_bitmap(mis, FUZZ_RAM_NAME, bitmap, len,
                                          &error_abort);
        break;
    case RP_RESUME_ACK:
        migration_incoming_rp_resume_ack(mis, &error_abort);
        break;
    case RP_END:
        break;
    }
}

static bool fuzz_make_seeds(const char *dir, Error **errp)
{
    MigrationIncomingState *mis = migration_incoming_get_current();

    for (size_t i = 0; i < G_N_ELEMENTS(fuzz_rp_seeds); i++) {
        g_autoptr(GByteArray) out = g_byte_array_new();
        uint8_t buf[4096];
        uint8_t mode = fuzz_rp_seeds[i].mode;
        QIOChannel *ioc;
        QEMUFile *from_src;
        bool shut = false;
        ssize_t n;
        int sv[2];

        fuzz_socketpair_feed(sv, NULL, 0);
        ioc = qio_channel_socket_new_fd(sv[0], &error_abort);
        from_src = qemu_file_new_input(ioc);
        qio_channel_unref(ioc);
        if (!migration_incoming_rp_open(from_src, 0, errp)) {
            return false;
        }
        for (const FuzzRPStep *st = fuzz_rp_seeds[i].steps; *st != RP_END;
             st++) {
            fuzz_rp_step(mis, *st);
            shut |= *st == RP_SHUT_OK || *st == RP_SHUT_FAIL;
        }
        if (!shut) {
            migration_incoming_rp_shut(mis, false);
        }
        qemu_fclose(from_src);
        g_byte_array_append(out, &mode, 1);
        fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
        while ((n = read(sv[1], buf, sizeof(buf))) > 0) {
            g_byte_array_append(out, buf, n);
        }
        close(sv[1]);
        if (!fuzz_write_seed(dir, fuzz_rp_seeds[i].name, out->data,
                             out->len, errp)) {
            return false;
        }
    }
    return true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_qmig_init();
    bql_unlock();
    fuzz_handle_make_seeds(*argc, *argv, fuzz_make_seeds);
    return 0;
}
