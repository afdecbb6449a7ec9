/*
 * vfio-user-server: DMA.  Owns the client's DMA maps (DMA_MAP/UNMAP), the
 * DMA engine that writes a sequence record into a window of guest pages
 * on every device tick (and the check that guest memory holds what it
 * last wrote), and the dirty log of those writes (the DMA_LOGGING_*
 * features).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/mman.h>
#include "vu-server.h"

#define DMA_MAGIC       0x31414d4453555651ULL   /* "QVUSDMA1" */

static uint8_t *dma_host(uint64_t iova, uint64_t len)
{
    unsigned i;

    for (i = 0; i < dev.nmaps; i++) {
        DmaMap *m = &dev.maps[i];

        if (m->host && iova >= m->iova && len <= m->size &&
            iova - m->iova <= m->size - len) {
            return m->host + (iova - m->iova);
        }
    }
    return NULL;
}

/* What the device writes into DMA page @page for sequence number @seq. */
static uint64_t dma_word(uint64_t seq, uint32_t page, unsigned w)
{
    switch (w) {
    case 0:
        return DMA_MAGIC;
    case 1:
        return seq;
    case 2:
        return page;
    default:
        return seq * 0x9e3779b97f4a7c15ULL ^ ((uint64_t)page << 32) ^ w;
    }
}

static bool dma_in_log_range(uint64_t iova)
{
    unsigned i;

    for (i = 0; i < dev.log_nranges; i++) {
        VFIOUserDMALoggingRange *r = &dev.log_ranges[i];

        if (iova >= r->iova && iova - r->iova < r->length) {
            return true;
        }
    }
    return false;
}

/*
 * The DMA window's size in pages.  The bookkeeping is device state that a
 * client can write through BAR0 and a migration stream can carry, so it
 * is checked where it is used: a window beyond DMA_MAX_PAGES is no window.
 */
static uint32_t dma_window_pages(void)
{
    DevCtl *ctl = dev_ctl();

    return ctl->dma_pages <= DMA_MAX_PAGES ? ctl->dma_pages : 0;
}

/* One DMA write of the next record; the device is running. */
void dma_tick(void)
{
    DevCtl *ctl = dev_ctl();
    uint32_t pages = dma_window_pages();
    uint32_t page = ctl->dma_next;
    uint64_t iova, *host;
    unsigned w;

    if (!pages) {
        return;
    }
    if (page >= pages) {
        page = 0;
    }
    iova = ctl->dma_iova + (uint64_t)page * DMA_PAGE;
    host = (uint64_t *)dma_host(iova, DMA_PAGE);
    if (!host) {
        dev.dma_skipped++;
        return;
    }
    ctl->seq++;
    for (w = 0; w < DMA_PAGE / 8; w++) {
        host[w] = dma_word(ctl->seq, page, w);
    }
    ctl->page_seq[page] = ctl->seq;
    ctl->dma_next = (page + 1) % pages;
    state_mark(0, sizeof(*ctl));
    dev.dma_writes++;
    if (dev.logging && dma_in_log_range(iova)) {
        dev.logged[page] = true;
    }
}

/*
 * Does guest memory hold what the DMA bookkeeping says was written last?
 * Returns "ok:N" (N pages checked) or what differs; caller frees.
 */
char *dma_check(void)
{
    DevCtl *ctl = dev_ctl();
    unsigned page, checked = 0, w;

    for (page = 0; page < dma_window_pages(); page++) {
        uint64_t seq = ctl->page_seq[page];
        const uint64_t *host;

        if (!seq) {
            continue;
        }
        host = (const uint64_t *)dma_host(ctl->dma_iova +
                                          (uint64_t)page * DMA_PAGE,
                                          DMA_PAGE);
        if (!host) {
            return g_strdup_printf("bad:page=%u:unmapped", page);
        }
        for (w = 0; w < DMA_PAGE / 8; w++) {
            if (host[w] != dma_word(seq, page, w)) {
                return g_strdup_printf("bad:page=%u:seq=%" PRIu64
                                       ":found-seq=%" PRIu64, page, seq,
                                       host[1]);
            }
        }
        checked++;
    }
    return g_strdup_printf("ok:%u", checked);
}

void cmd_dma_map(VFIOUserMsg *m, Reply *r)
{
    VFIOUserDMAMap *map = vfio_user_msg_payload(m, sizeof(*map));
    int fd = vfio_user_msg_take_fd(m, 0);
    DmaMap *d;
    void *host = NULL;

    if (!map || !map->size || map->addr + map->size < map->addr ||
        dev.nmaps == MAX_MAPS) {
        r->err = map && dev.nmaps == MAX_MAPS ? ENOSPC : EINVAL;
        goto out;
    }
    if (fd >= 0) {
        host = mmap(NULL, map->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                    map->offset);
        if (host == MAP_FAILED) {
            r->err = errno;
            goto out;
        }
    }
    d = &dev.maps[dev.nmaps++];
    d->iova = map->addr;
    d->size = map->size;
    d->host = host;
    dbg("vfio-user-server: DMA_MAP 0x%" PRIx64 "+0x%" PRIx64 "%s\n",
        map->addr, map->size, host ? " (fd)" : "");
out:
    if (fd >= 0) {
        close(fd);
    }
}

static void unmap_one(unsigned i)
{
    if (dev.maps[i].host) {
        munmap(dev.maps[i].host, dev.maps[i].size);
    }
    dev.maps[i] = dev.maps[--dev.nmaps];
}

void cmd_dma_unmap(VFIOUserMsg *m, Reply *r)
{
    VFIOUserDMAUnmap *u = vfio_user_msg_payload(m, sizeof(*u));
    unsigned i;

    if (!u || (u->flags & VFIO_USER_F_DMA_UNMAP_GET_DIRTY_BITMAP)) {
        r->err = u ? ENOTSUP : EINVAL;
        return;
    }
    if (u->flags & VFIO_USER_F_DMA_UNMAP_ALL) {
        while (dev.nmaps) {
            unmap_one(0);
        }
        reply_data(r, u, sizeof(*u));
        return;
    }
    for (i = 0; i < dev.nmaps; i++) {
        if (dev.maps[i].iova == u->addr && dev.maps[i].size == u->size) {
            unmap_one(i);
            reply_data(r, u, sizeof(*u));
            return;
        }
    }
    r->err = ENOENT;
}

int feat_logging_start(VFIOUserDeviceFeature *f, size_t dlen, Reply *r)
{
    VFIOUserDMALoggingControl ctl;
    size_t need;

    if (dlen < sizeof(ctl)) {
        return EINVAL;
    }
    memcpy(&ctl, f->data, sizeof(ctl));
    need = sizeof(ctl) + (size_t)ctl.num_ranges * sizeof(ctl.ranges[0]);
    if (dev.logging) {
        return EBUSY;
    }
    if (!ctl.num_ranges || ctl.num_ranges > G_N_ELEMENTS(dev.log_ranges) ||
        dlen < need || !ctl.page_size ||
        (ctl.page_size & (ctl.page_size - 1))) {
        return EINVAL;
    }
    memcpy(dev.log_ranges, f->data + sizeof(ctl),
           ctl.num_ranges * sizeof(ctl.ranges[0]));
    dev.log_nranges = ctl.num_ranges;
    dev.log_page_size = DMA_PAGE;
    memset(dev.logged, 0, sizeof(dev.logged));
    dev.logging = true;
    feature_reply(r, f, NULL, 0);
    return 0;
}

int feat_logging_report(VFIOUserDeviceFeature *f, size_t dlen, Reply *r)
{
    VFIOUserDMALoggingReport rep;
    VFIOUserDMALoggingReport *out;
    DevCtl *ctl = dev_ctl();
    uint64_t nbits, bytes, *bitmap;
    unsigned page;

    if (!dev.logging) {
        return EINVAL;
    }
    if (dlen < sizeof(rep)) {
        return EINVAL;
    }
    memcpy(&rep, f->data, sizeof(rep));
    if (!rep.page_size || (rep.page_size & (rep.page_size - 1)) ||
        !rep.length || rep.iova + rep.length < rep.iova) {
        return EINVAL;
    }
    nbits = DIV_ROUND_UP(rep.length, rep.page_size);
    bytes = DIV_ROUND_UP(nbits, 64) * 8;
    if (bytes > MAX_XFER || f->argsz < sizeof(*f) + sizeof(rep) + bytes) {
        return EINVAL;
    }
    out = g_malloc0(sizeof(*out) + bytes);
    *out = rep;
    bitmap = (uint64_t *)out->bitmap;
    for (page = 0; page < dma_window_pages(); page++) {
        uint64_t iova = ctl->dma_iova + (uint64_t)page * DMA_PAGE;
        uint64_t bit;

        if (!dev.logged[page] || iova < rep.iova ||
            iova - rep.iova >= rep.length) {
            continue;
        }
        /* A 4 KiB page may span several report pages if they are small. */
        for (bit = (iova - rep.iova) / rep.page_size;
             bit < nbits && bit * rep.page_size < iova - rep.iova + DMA_PAGE;
             bit++) {
            bitmap[bit / 64] |= 1ULL << (bit % 64);
        }
        dev.logged[page] = false;
    }
    feature_reply(r, f, out, sizeof(*out) + bytes);
    g_free(out);
    return 0;
}

int feat_logging_stop(VFIOUserDeviceFeature *f, bool get, Reply *r)
{
    if (get || !dev.logging) {
        return EINVAL;
    }
    dev.logging = false;
    feature_reply(r, f, NULL, 0);
    return 0;
}

void dma_client_gone(void)
{
    g_mutex_lock(&dev.lock);
    while (dev.nmaps) {
        unmap_one(0);
    }
    dev.logging = false;
    g_mutex_unlock(&dev.lock);
}
