/*
 * multifd with zlib (multifd-compression=zlib, multifd-zlib-level).
 *
 * One deflate stream per channel for the whole migration, as QEMU: each
 * packet's pages are deflated in order and the packet ends with a sync
 * flush, so the receiver inflates it completely with the data it has.
 * Each page is copied first so that the guest cannot change it while
 * deflate reads it.  Corrupt or oversized input is an error naming the
 * page, never a write outside the announced pages.
 *
 * Hooks run in their channel's thread on that channel's state only.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <zlib.h>
#include "io/channel.h"
#include "multifd.h"

typedef struct MultiFDZlib {
    z_stream zs;
    bool zs_ready;
    uint8_t *buf;               /* MULTIFD_MAX_DATA: compressed data */
    uint8_t page[TARGET_PAGE_SIZE];
} MultiFDZlib;

static bool zlib_send_setup(void **state, Error **errp)
{
    MultiFDZlib *z = g_new0(MultiFDZlib, 1);

    *state = z;
    if (deflateInit(&z->zs, migrate_multifd_zlib_level()) != Z_OK) {
        error_setg(errp, "multifd zlib: deflate init failed: %s",
                   z->zs.msg ? z->zs.msg : "unknown error");
        return false;
    }
    z->zs_ready = true;
    z->buf = g_malloc(MULTIFD_MAX_DATA);
    return true;
}

static void zlib_send_cleanup(void *state)
{
    MultiFDZlib *z = state;

    if (z->zs_ready) {
        deflateEnd(&z->zs);
    }
    g_free(z->buf);
    g_free(z);
}

static bool zlib_send_prepare(void *state, MultiFDSendJob *job, Error **errp)
{
    MultiFDZlib *z = state;
    z_stream *zs = &z->zs;

    zs->next_out = z->buf;
    zs->avail_out = MULTIFD_MAX_DATA;
    for (uint32_t i = 0; i < job->normal_num; i++) {
        bool last = i == job->normal_num - 1;
        int ret;

        memcpy(z->page, multifd_send_page_data(job, job->normal[i]),
               TARGET_PAGE_SIZE);
        zs->next_in = z->page;
        zs->avail_in = TARGET_PAGE_SIZE;
        do {
            ret = deflate(zs, last ? Z_SYNC_FLUSH : Z_NO_FLUSH);
        } while (ret == Z_OK && zs->avail_in && zs->avail_out);
        if (ret != Z_OK || zs->avail_in) {
            error_setg(errp, "multifd zlib: deflate failed for page %u of "
                       "block %s (%d)", i, job->block->idstr, ret);
            return false;
        }
    }
    job->iov[job->iovs_num].iov_base = z->buf;
    job->next_packet_size = MULTIFD_MAX_DATA - zs->avail_out;
    job->iov[job->iovs_num].iov_len = job->next_packet_size;
    job->iovs_num++;
    job->flags = MULTIFD_FLAG_ZLIB;
    return true;
}

static bool zlib_recv_setup(void **state, Error **errp)
{
    MultiFDZlib *z = g_new0(MultiFDZlib, 1);

    *state = z;
    if (inflateInit(&z->zs) != Z_OK) {
        error_setg(errp, "multifd zlib: inflate init failed: %s",
                   z->zs.msg ? z->zs.msg : "unknown error");
        return false;
    }
    z->zs_ready = true;
    z->buf = g_malloc(MULTIFD_MAX_DATA);
    return true;
}

static void zlib_recv_cleanup(void *state)
{
    MultiFDZlib *z = state;

    if (z->zs_ready) {
        inflateEnd(&z->zs);
    }
    g_free(z->buf);
    g_free(z);
}

/* Inflate exactly one page into @out. */
static bool zlib_inflate_page(z_stream *zs, uint8_t *out, Error **errp)
{
    zs->next_out = out;
    zs->avail_out = TARGET_PAGE_SIZE;
    while (zs->avail_out) {
        int ret = inflate(zs, Z_SYNC_FLUSH);

        if (ret == Z_BUF_ERROR || (ret == Z_OK && !zs->avail_in &&
                                   zs->avail_out)) {
            error_setg(errp, "multifd zlib: the data ends inside a page");
            return false;
        }
        if (ret != Z_OK) {
            error_setg(errp, "multifd zlib: corrupt data: %s (%d)",
                       zs->msg ? zs->msg : "inflate failed", ret);
            return false;
        }
    }
    return true;
}

static bool zlib_recv(void *state, MultiFDRecvJob *job, Error **errp)
{
    MultiFDZlib *z = state;
    z_stream *zs = &z->zs;
    uint8_t extra;

    if (qio_channel_read_all(job->c, (char *)z->buf, job->next_packet_size,
                             errp) < 0) {
        return false;
    }
    zs->next_in = z->buf;
    zs->avail_in = job->next_packet_size;
    for (uint32_t i = 0; i < job->normal_num; i++) {
        if (!zlib_inflate_page(zs, job->block->host + job->normal[i], errp)) {
            error_prepend(errp, "page %u of %u, block %s: ", i,
                          job->normal_num, job->block->idstr);
            return false;
        }
    }
    /* What is left must be flush markers, not more page data. */
    while (zs->avail_in) {
        int ret;

        zs->next_out = &extra;
        zs->avail_out = 1;
        ret = inflate(zs, Z_SYNC_FLUSH);
        if (ret != Z_OK || !zs->avail_out) {
            error_setg(errp, "multifd zlib: packet holds more data than its "
                       "%u pages", job->normal_num);
            return false;
        }
    }
    return true;
}

static const MultiFDMethods multifd_zlib_ops = {
    .send_setup = zlib_send_setup,
    .send_cleanup = zlib_send_cleanup,
    .send_prepare = zlib_send_prepare,
    .recv_setup = zlib_recv_setup,
    .recv_cleanup = zlib_recv_cleanup,
    .recv = zlib_recv,
};

void multifd_zlib_register(void)
{
    multifd_register_ops(MULTIFD_COMPRESSION_ZLIB, &multifd_zlib_ops);
}
