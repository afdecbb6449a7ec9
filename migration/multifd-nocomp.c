/*
 * multifd without compression: the normal pages go out straight from
 * guest memory (one iovec per page) and are read straight into it.
 *
 * Hooks run in their channel's thread; no state, no lock.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "io/channel.h"
#include "multifd.h"

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
        job->iov[job->iovs_num].iov_base = job->block->host + job->normal[i];
        job->iov[job->iovs_num].iov_len = TARGET_PAGE_SIZE;
        job->iovs_num++;
    }
    job->next_packet_size = job->normal_num * TARGET_PAGE_SIZE;
    job->flags = MULTIFD_FLAG_NOCOMP;
    return true;
}

static bool nocomp_recv(void *state, MultiFDRecvJob *job, Error **errp)
{
    struct iovec iov[MULTIFD_PAGES_PER_PACKET];

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
    .recv_setup = nocomp_setup,
    .recv_cleanup = nocomp_cleanup,
    .recv = nocomp_recv,
};

void multifd_nocomp_register(void)
{
    multifd_register_ops(MULTIFD_COMPRESSION_NONE, &multifd_nocomp_ops);
}
