/*
 * libFuzzer target "preempt": the postcopy preempt channel, receive side.
 *
 * Each input is what the source writes on the preempt channel: RAM
 * records (page, zero page, each complete, block names on the first
 * record of a block), PING records, and EOS.  The harness plays a whole
 * postcopy destination: postcopy-ram and postcopy-preempt on, the input
 * handed to the real postcopy_preempt_incoming_channel()
 * (migration/postcopy-preempt.c) on one end of a socketpair, and a fixed
 * main stream, saved at start-up by the real save path (fuzz-seeds.c:
 * ADVISE, pages, PACKAGED with LISTEN, devices and RUN, then postcopy
 * pages, EOF) loaded by qemu_loadvm_state().  At LISTEN the real
 * "mig/dst/preempt" thread starts reading the input and places pages
 * with userfaultfd alongside the listen thread; the end of the main
 * stream waits for it (postcopy_incoming_wait).  Then the destination is
 * torn down as incoming_finish_bh() does.
 *
 * Seeds ("--make-seeds=DIR"): records laid out as ram.c's postcopy
 * sender writes them on this channel (qmig's source writes them with
 * the same record writer as the main stream's pages).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/socket.h>
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "io/channel-buffer.h"
#include "io/channel-socket.h"
#include "migration/qemu-file.h"
#include "migration/savevm.h"
#include "migration/ram.h"
#include "../../migration/migration.h"
#include "../../migration/postcopy-preempt.h"
#include "fuzz-common.h"
#include "fuzz-target.h"

#define FUZZ_PREEMPT_CAPS   (FUZZ_CAP_POSTCOPY_RAM | FUZZ_CAP_POSTCOPY_PREEMPT)

static GBytes *fuzz_main_stream;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *stream;
    size_t len;
    Error *err = NULL;
    bool ok;
    int sv[2];

    fuzz_socketpair_feed(sv, data, size);
    stream = g_bytes_get_data(fuzz_main_stream, &len);
    /*
     * The channel is accepted (and acknowledged) before the main stream
     * arrives, as the source connects it before ADVISE.
     */
    bql_lock();
    fuzz_qmig_set_caps(FUZZ_PREEMPT_CAPS);
    postcopy_preempt_incoming_channel(qio_channel_socket_new_fd(sv[0],
                                                                &error_abort));
    bql_unlock();
    ok = fuzz_load_stream_caps(FUZZ_PREEMPT_CAPS, stream + 1, len - 1, &err);
    fuzz_check_error(ok, err);
    close(sv[1]);
    return 0;
}

/* ---- Seeds ---- */

static void put_be64(GByteArray *out, uint64_t v)
{
    uint64_t be = GUINT64_TO_BE(v);

    g_byte_array_append(out, (const uint8_t *)&be, 8);
}

static void fuzz_seed_record(GByteArray *out, uint64_t offset,
                             uint64_t flags, bool first, uint8_t fill)
{
    uint8_t page[4096];

    put_be64(out, offset | flags | (first ? 0 : RAM_SAVE_FLAG_CONTINUE));
    if (first) {
        uint8_t n = strlen(FUZZ_RAM_NAME);

        g_byte_array_append(out, &n, 1);
        g_byte_array_append(out, (const uint8_t *)FUZZ_RAM_NAME, n);
    }
    if (flags & RAM_SAVE_FLAG_ZERO) {
        g_byte_array_append(out, (const uint8_t *)"", 1);
    } else {
        memset(page, fill, sizeof(page));
        g_byte_array_append(out, page, sizeof(page));
    }
}

static bool fuzz_preempt_make_seeds(const char *dir, Error **errp)
{
    g_autoptr(GByteArray) pages = g_byte_array_new();
    g_autoptr(GByteArray) mixed = g_byte_array_new();
    g_autoptr(GByteArray) ping = g_byte_array_new();
    g_autoptr(GByteArray) eos = g_byte_array_new();

    put_be64(eos, RAM_SAVE_FLAG_EOS);

    fuzz_seed_record(pages, 0x10000, RAM_SAVE_FLAG_PAGE, true, 0x11);
    fuzz_seed_record(pages, 0x11000, RAM_SAVE_FLAG_PAGE, false, 0x22);
    fuzz_seed_record(pages, 0x1ff000, RAM_SAVE_FLAG_PAGE, false, 0x33);
    put_be64(pages, RAM_SAVE_FLAG_EOS);

    fuzz_seed_record(mixed, 0x20000, RAM_SAVE_FLAG_ZERO, true, 0);
    fuzz_seed_record(mixed, 0x21000, RAM_SAVE_FLAG_PAGE, false, 0x44);
    fuzz_seed_record(mixed, 0x0, RAM_SAVE_FLAG_PAGE, true, 0x55);
    put_be64(mixed, RAM_SAVE_FLAG_EOS);

    fuzz_seed_record(ping, 0x30000, RAM_SAVE_FLAG_PAGE, true, 0x66);
    put_be64(ping, RAM_SAVE_FLAG_HOOK);
    g_byte_array_append(ping, (const uint8_t *)"\0\0\0\x07", 4);
    put_be64(ping, RAM_SAVE_FLAG_EOS);

    return fuzz_write_seed(dir, "eos", eos->data, eos->len, errp) &&
           fuzz_write_seed(dir, "pages", pages->data, pages->len, errp) &&
           fuzz_write_seed(dir, "mixed", mixed->data, mixed->len, errp) &&
           fuzz_write_seed(dir, "ping", ping->data, ping->len, errp);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    Error *err = NULL;

    fuzz_target_init();
    fuzz_main_stream = fuzz_seed_postcopy_stream(FUZZ_CAP_POSTCOPY_RAM,
                                                 &err);
    if (!fuzz_main_stream) {
        error_report_err(err);
        exit(1);
    }
    fuzz_handle_make_seeds(*argc, *argv, fuzz_preempt_make_seeds);
    return 0;
}
