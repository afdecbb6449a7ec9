/*
 * multifd with zstd (multifd-compression=zstd, multifd-zstd-level).
 *
 * One zstd stream per channel, as QEMU: each packet's pages are fed in
 * order and the packet ends with a flush, so the receiver decodes it
 * completely from the data it has.  Pages are copied before compression
 * so the guest cannot change them mid-read.  Corrupt, short or
 * oversized input is an error, never a write beyond the announced pages.
 *
 * Hooks run in their channel's thread on that channel's state only.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <zstd.h>
#include "io/channel.h"
#include "multifd.h"

typedef struct MultiFDZstd {
    ZSTD_CStream *cs;
    ZSTD_DStream *ds;
    uint8_t *buf;               /* MULTIFD_MAX_DATA: compressed data */
    uint8_t page[TARGET_PAGE_SIZE];
} MultiFDZstd;

static bool zstd_send_setup(void **state, Error **errp)
{
    MultiFDZstd *z = g_new0(MultiFDZstd, 1);
    size_t ret;

    *state = z;
    z->cs = ZSTD_createCStream();
    if (!z->cs) {
        error_setg(errp, "multifd zstd: could not create the compressor");
        return false;
    }
    ret = ZSTD_initCStream(z->cs, migrate_multifd_zstd_level());
    if (ZSTD_isError(ret)) {
        error_setg(errp, "multifd zstd: compressor init failed: %s",
                   ZSTD_getErrorName(ret));
        return false;
    }
    z->buf = g_malloc(MULTIFD_MAX_DATA);
    return true;
}

static void zstd_cleanup(void *state)
{
    MultiFDZstd *z = state;

    ZSTD_freeCStream(z->cs);
    ZSTD_freeDStream(z->ds);
    g_free(z->buf);
    g_free(z);
}

static bool zstd_send_prepare(void *state, MultiFDSendJob *job, Error **errp)
{
    MultiFDZstd *z = state;
    ZSTD_outBuffer out = { z->buf, MULTIFD_MAX_DATA, 0 };

    for (uint32_t i = 0; i < job->normal_num; i++) {
        bool last = i == job->normal_num - 1;
        ZSTD_inBuffer in = { z->page, TARGET_PAGE_SIZE, 0 };
        size_t ret;

        memcpy(z->page, multifd_send_page_data(job, job->normal[i]),
               TARGET_PAGE_SIZE);
        do {
            ret = ZSTD_compressStream2(z->cs, &out, &in,
                                       last ? ZSTD_e_flush : ZSTD_e_continue);
        } while (!ZSTD_isError(ret) && out.pos < out.size &&
                 (in.pos < in.size || (last && ret)));
        if (ZSTD_isError(ret) || in.pos < in.size || (last && ret)) {
            error_setg(errp, "multifd zstd: compression failed for page %u "
                       "of block %s: %s", i, job->block->idstr,
                       ZSTD_isError(ret) ? ZSTD_getErrorName(ret)
                                         : "output buffer full");
            return false;
        }
    }
    job->next_packet_size = out.pos;
    job->iov[job->iovs_num].iov_base = z->buf;
    job->iov[job->iovs_num].iov_len = out.pos;
    job->iovs_num++;
    job->flags = MULTIFD_FLAG_ZSTD;
    return true;
}

static bool zstd_recv_setup(void **state, Error **errp)
{
    MultiFDZstd *z = g_new0(MultiFDZstd, 1);
    size_t ret;

    *state = z;
    z->ds = ZSTD_createDStream();
    if (!z->ds) {
        error_setg(errp, "multifd zstd: could not create the decompressor");
        return false;
    }
    ret = ZSTD_initDStream(z->ds);
    if (ZSTD_isError(ret)) {
        error_setg(errp, "multifd zstd: decompressor init failed: %s",
                   ZSTD_getErrorName(ret));
        return false;
    }
    z->buf = g_malloc(MULTIFD_MAX_DATA);
    return true;
}

/* Decode into @out until it is full; false if the input runs dry. */
static bool zstd_fill(ZSTD_DStream *ds, ZSTD_inBuffer *in,
                      ZSTD_outBuffer *out, Error **errp)
{
    while (out->pos < out->size) {
        size_t in_before = in->pos, out_before = out->pos;
        size_t ret = ZSTD_decompressStream(ds, out, in);

        if (ZSTD_isError(ret)) {
            error_setg(errp, "multifd zstd: corrupt data: %s",
                       ZSTD_getErrorName(ret));
            return false;
        }
        if (in->pos == in_before && out->pos == out_before) {
            error_setg(errp, "multifd zstd: the data ends inside a page");
            return false;
        }
    }
    return true;
}

static bool zstd_recv(void *state, MultiFDRecvJob *job, Error **errp)
{
    MultiFDZstd *z = state;
    ZSTD_inBuffer in = { z->buf, job->next_packet_size, 0 };
    uint8_t extra;

    if (qio_channel_read_all(job->c, (char *)z->buf, job->next_packet_size,
                             errp) < 0) {
        return false;
    }
    for (uint32_t i = 0; i < job->normal_num; i++) {
        ZSTD_outBuffer out = { job->block->host + job->normal[i],
                               TARGET_PAGE_SIZE, 0 };

        if (!zstd_fill(z->ds, &in, &out, errp)) {
            error_prepend(errp, "page %u of %u, block %s: ", i,
                          job->normal_num, job->block->idstr);
            return false;
        }
    }
    /* Consume the rest: it must not decode to more bytes. */
    while (in.pos < in.size) {
        ZSTD_outBuffer out = { &extra, 1, 0 };
        size_t before = in.pos;
        size_t ret = ZSTD_decompressStream(z->ds, &out, &in);

        if (ZSTD_isError(ret) || out.pos || in.pos == before) {
            error_setg(errp, "multifd zstd: packet holds more data than its "
                       "%u pages%s%s", job->normal_num,
                       ZSTD_isError(ret) ? ": " : "",
                       ZSTD_isError(ret) ? ZSTD_getErrorName(ret) : "");
            return false;
        }
    }
    return true;
}

static const MultiFDMethods multifd_zstd_ops = {
    .send_setup = zstd_send_setup,
    .send_cleanup = zstd_cleanup,
    .send_prepare = zstd_send_prepare,
    .recv_setup = zstd_recv_setup,
    .recv_cleanup = zstd_cleanup,
    .recv = zstd_recv,
};

void multifd_zstd_register(void)
{
    multifd_register_ops(MULTIFD_COMPRESSION_ZSTD, &multifd_zstd_ops);
}
