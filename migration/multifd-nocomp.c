/*
 * multifd without compression: the normal pages go out straight from
 * guest memory (one iovec per page; for shared fd-backed RAM from the
 * pages the channel read from the file) and are read straight into it
 * (shared fd-backed RAM: into a bounce buffer, then pwrite).
 *
 * Hooks run in their channel's thread; per-channel state, no lock.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "io/channel.h"
#include "multifd.h"
#include "ram-internal.h"

static bool nocomp_setup(void **state, Error **errp)
{
    *state = NULL;
    return true;
}

static void nocomp_cleanup(void *state)
{
}

static bool nocomp_send_prepare(void *state, MultiFDSendJob *job,
                                Error **errp)
{
    for (uint32_t i = 0; i < job->normal_num; i++) {
        job->iov[job->iovs_num].iov_base =
            (uint8_t *)multifd_send_page_data(job, job->normal[i]);
        job->iov[job->iovs_num].iov_len = TARGET_PAGE_SIZE;
        job->iovs_num++;
    }
    job->next_packet_size = job->normal_num * TARGET_PAGE_SIZE;
    job->flags = MULTIFD_FLAG_NOCOMP;
    return true;
}

/* A recv channel's state: its bounce buffer (the channel thread's). */
typedef struct NocompRecv {
    uint8_t *buf;               /* MULTIFD_PAGES_PER_PACKET pages, lazily */
} NocompRecv;

static bool nocomp_recv_setup(void **state, Error **errp)
{
    *state = g_new0(NocompRecv, 1);
    return true;
}

static void nocomp_recv_cleanup(void *state)
{
    NocompRecv *r = state;

    g_free(r->buf);
    g_free(r);
}

/*
 * Shared fd-backed RAM: the packet's pages into a bounce buffer, then
 * written into the block's file with pwrite, one per run of consecutive
 * pages, as the main channel does (ram-load.c): no page fault and no zeroing
 * of a fresh page.
 */
static bool nocomp_recv_pwrite(uint8_t *buf, MultiFDRecvJob *job,
                               Error **errp)
{
    size_t len = (size_t)job->normal_num * TARGET_PAGE_SIZE;
    uint32_t i = 0;

    if (qio_channel_read_all(job->c, (char *)buf, len, errp) < 0) {
        return false;
    }
    while (i < job->normal_num) {
        uint32_t j = i + 1;

        while (j < job->normal_num &&
               job->normal[j] == job->normal[j - 1] + TARGET_PAGE_SIZE) {
            j++;
        }
        if (!ram_load_pwrite(job->block, buf + (size_t)i * TARGET_PAGE_SIZE,
                             (size_t)(j - i) * TARGET_PAGE_SIZE,
                             job->normal[i], errp)) {
            return false;
        }
        i = j;
    }
    return true;
}

static bool nocomp_recv(void *state, MultiFDRecvJob *job, Error **errp)
{
    struct iovec iov[MULTIFD_PAGES_PER_PACKET];
    NocompRecv *r = state;

    if (ram_load_batch_wanted(job->block)) {
        if (!r->buf) {
            r->buf = g_malloc(MULTIFD_PAGES_PER_PACKET * TARGET_PAGE_SIZE);
        }
        return nocomp_recv_pwrite(r->buf, job, errp);
    }

    /* The header check tied next_packet_size to normal_num already. */
    for (uint32_t i = 0; i < job->normal_num; i++) {
        iov[i].iov_base = job->block->host + job->normal[i];
        iov[i].iov_len = TARGET_PAGE_SIZE;
    }
    return qio_channel_readv_all(job->c, iov, job->normal_num, errp) == 0;
}

static const MultiFDMethods multifd_nocomp_ops = {
    .send_setup = nocomp_setup,
    .send_cleanup = nocomp_cleanup,
    .send_prepare = nocomp_send_prepare,
    .recv_setup = nocomp_recv_setup,
    .recv_cleanup = nocomp_recv_cleanup,
    .recv = nocomp_recv,
};

void multifd_nocomp_register(void)
{
    multifd_register_ops(MULTIFD_COMPRESSION_NONE, &multifd_nocomp_ops);
}
