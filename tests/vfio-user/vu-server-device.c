/*
 * vfio-user-server: the device itself.  Owns the state array (BAR0, whose
 * first chunk is the DMA engine's bookkeeping), the config space, the
 * regions' geometry, the device's start-up values and the device thread
 * that changes the state and drives the DMA engine while the device runs.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "vu-server.h"

#define DEV_MAGIC       0x3156454453555651ULL   /* "QVUSDEV1" */

Device dev;

DevCtl *dev_ctl(void)
{
    return (DevCtl *)dev.state;
}

void state_mark(size_t off, size_t len)
{
    size_t c;

    for (c = off / dev.chunk_size; c <= (off + len - 1) / dev.chunk_size;
         c++) {
        dev.dirty[c] = true;
    }
}

void state_hash(char *hex)
{
    g_autofree char *s = g_compute_checksum_for_data(G_CHECKSUM_SHA256,
                                                     dev.state,
                                                     dev.state_size);

    g_strlcpy(hex, s, HASH_LEN * 2 + 1);
}

void state_hash_raw(uint8_t *out)
{
    GChecksum *c = g_checksum_new(G_CHECKSUM_SHA256);
    gsize len = HASH_LEN;

    g_checksum_update(c, dev.state, dev.state_size);
    g_checksum_get_digest(c, out, &len);
    g_checksum_free(c);
}

static uint64_t rng_next(void)
{
    dev.rng ^= dev.rng << 13;
    dev.rng ^= dev.rng >> 7;
    dev.rng ^= dev.rng << 17;
    return dev.rng;
}

/* What the device thread does to its state on a tick, minus the DMA. */
void state_scribble(unsigned words)
{
    unsigned i;

    for (i = 0; i < words && dev.nchunks > 1; i++) {
        size_t off = dev.chunk_size +
            rng_next() % (dev.state_size - dev.chunk_size - 8);
        uint64_t v = rng_next();

        memcpy(dev.state + off, &v, sizeof(v));
        state_mark(off, sizeof(v));
    }
}

static bool dev_running(void)
{
    return dev.mig_state == VFIO_DEVICE_STATE_RUNNING ||
           dev.mig_state == VFIO_DEVICE_STATE_RUNNING_P2P ||
           dev.mig_state == VFIO_DEVICE_STATE_PRE_COPY ||
           dev.mig_state == VFIO_DEVICE_STATE_PRE_COPY_P2P;
}

/* The device thread: while running, change state and DMA every tick. */
gpointer device_thread(gpointer opaque)
{
    g_mutex_lock(&dev.lock);
    while (!dev.quit) {
        gint64 until = g_get_monotonic_time() + dev.tick_us;

        if (dev_running()) {
            state_scribble(dev.dirty_per_tick);
            dma_tick();
        }
        g_cond_wait_until(&dev.wake, &dev.lock, until);
    }
    g_mutex_unlock(&dev.lock);
    return NULL;
}

/* Config space: a PCI header naming the device; BAR0 is the state. */
#define CONFIG_SIZE 256
static uint8_t config_space[CONFIG_SIZE];

uint64_t region_size(uint32_t index)
{
    switch (index) {
    case VFIO_PCI_BAR0_REGION_INDEX:
        return dev.state_size;
    case VFIO_PCI_CONFIG_REGION_INDEX:
        return CONFIG_SIZE;
    }
    return 0;
}

/* The bytes of region @index at [@off, @off + @count), or NULL. */
uint8_t *region_ptr(uint32_t index, uint64_t off, uint32_t count)
{
    uint64_t size = region_size(index);

    if (!count || count > size || off > size - count) {
        return NULL;
    }
    return index == VFIO_PCI_BAR0_REGION_INDEX ? dev.state + off
                                               : config_space + off;
}

void device_init(uint64_t state_size, uint64_t dma_iova,
                 unsigned dma_pages, bool p2p, bool precopy)
{
    DevCtl *ctl;

    g_mutex_init(&dev.lock);
    g_cond_init(&dev.wake);
    dev.chunk_size = 4096;
    dev.state_size = state_size;
    dev.nchunks = state_size / dev.chunk_size;
    dev.state = g_malloc0(state_size);
    dev.dirty = g_new0(bool, dev.nchunks);
    dev.initial = g_new0(bool, dev.nchunks);
    dev.out = g_byte_array_new();
    dev.in = g_byte_array_new();
    dev.mig_state = VFIO_DEVICE_STATE_RUNNING;
    dev.mig_flags = VFIO_MIGRATION_STOP_COPY |
                    (p2p ? VFIO_MIGRATION_P2P : 0) |
                    (precopy ? VFIO_MIGRATION_PRE_COPY : 0);
    dev.fail_target = -1;
    dev.fail_from = -1;
    ctl = dev_ctl();
    ctl->magic = DEV_MAGIC;
    ctl->dma_iova = dma_iova;
    ctl->dma_pages = dma_pages;
    /* PCI header: vendor 0x1b36 (Red Hat, QEMU's test IDs), device 0x00f0 */
    config_space[0] = 0x36;
    config_space[1] = 0x1b;
    config_space[2] = 0xf0;
    config_space[3] = 0x00;
}

