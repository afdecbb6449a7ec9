/*
 * vfio-user-server's internals, shared by its files (tests drive the
 * server through vu-server-ctl.h, not this).  Who owns what:
 *
 *   vfio-user-server.c     main, the sockets' poll loop, the vfio-user
 *                          commands and their dispatch (DEVICE_FEATURE too)
 *   vu-server-device.c     the device: its state array (BAR0), config
 *                          space, regions, the device thread
 *   vu-server-dma.c        DMA maps, the DMA engine, the dirty log
 *   vu-server-migration.c  the uAPI v2 state machine, the saving and
 *                          resuming streams, the migration features
 *   vu-server-control.c    the test's control socket (text commands)
 *
 * There is one device, `dev`; everything in it is protected by dev.lock,
 * which the functions declared here expect their caller to hold unless
 * they say otherwise.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef TESTS_VFIO_USER_VU_SERVER_H
#define TESTS_VFIO_USER_VU_SERVER_H

#include "hw/vfio/vfio-user-msg.h"

#define DMA_PAGE        4096
#define DMA_MAX_PAGES   256
#define MAX_MAPS        64
#define CONTROL_LINE    256
#define MAX_XFER        (1024 * 1024)
#define HASH_LEN        32

/* The first chunk of the state: the DMA engine's bookkeeping. */
typedef struct DevCtl {
    uint64_t magic;
    uint64_t dma_iova;      /* first page of the DMA window */
    uint32_t dma_pages;     /* window size in pages, <= DMA_MAX_PAGES */
    uint32_t dma_next;      /* next page to write */
    uint64_t seq;           /* last sequence number written */
    uint64_t page_seq[DMA_MAX_PAGES];   /* per page; 0: never written */
} DevCtl;

typedef struct DmaMap {
    uint64_t iova, size;
    uint8_t *host;          /* NULL: mapped without an fd */
} DmaMap;

typedef struct Device {
    GMutex lock;            /* protects everything below */
    GCond wake;             /* the device thread's tick and shutdown */
    bool quit;

    /* The state and its migration tracking, by chunk. */
    uint8_t *state;
    size_t state_size, chunk_size, nchunks;
    bool *dirty;            /* to be sent in the current saving stream */
    bool *initial;          /* first PRE_COPY pass, not yet sent */
    size_t cursor;          /* where the next dirty-chunk scan starts */
    uint32_t mig_state;     /* enum vfio_device_mig_state */
    uint64_t mig_flags;     /* VFIO_MIGRATION_* offered */

    /* Saving stream: the record being read out, and where we are. */
    GByteArray *out;
    size_t out_off;
    bool out_ended;         /* END written: reads now return 0 */

    /* Resuming stream: bytes of an incomplete record, and progress. */
    GByteArray *in;
    bool in_header, in_complete;
    char *load_error;

    /* DMA. */
    DmaMap maps[MAX_MAPS];
    unsigned nmaps;
    bool logging;
    uint64_t log_page_size;
    VFIOUserDMALoggingRange log_ranges[16];
    unsigned log_nranges;
    bool logged[DMA_MAX_PAGES];     /* pages written since last report */
    uint64_t dma_writes, dma_skipped;
    bool verify_on_run;             /* after RESUMING: check before running */
    char *verify_result;

    /* Test controls and results. */
    int fail_target;        /* -1 none, -2 any, else the state */
    int fail_from;          /* -1 any, else only a SET from this state */
    bool fail_to_error;
    char saved_hash[HASH_LEN * 2 + 1];
    char loaded_hash[HASH_LEN * 2 + 1];
    uint64_t rng;
    bool always_dirty;      /* PRE_COPY data never runs out */
    unsigned dirty_per_tick;
    unsigned tick_us;
} Device;

/* What a vfio-user command answers: a payload or an errno. */
typedef struct Reply {
    void *data;             /* owned, or NULL */
    size_t len;
    int err;
} Reply;

/* A control connection and the line it is sending. */
typedef struct Control {
    int fd;
    char buf[CONTROL_LINE];
    size_t len;
} Control;

extern Device dev;
extern gboolean verbose;

#define dbg(...) do { if (verbose) { fprintf(stderr, __VA_ARGS__); } } while (0)

/* vfio-user-server.c: replies. */
void reply_data(Reply *r, const void *data, size_t len);
void feature_reply(Reply *r, const VFIOUserDeviceFeature *f,
                   const void *data, size_t len);

/* vu-server-device.c */
void device_init(uint64_t state_size, uint64_t dma_iova,
                 unsigned dma_pages, bool p2p, bool precopy);
/* The device thread (takes dev.lock itself). */
gpointer device_thread(gpointer opaque);
DevCtl *dev_ctl(void);
void state_mark(size_t off, size_t len);
void state_hash(char *hex);
void state_hash_raw(uint8_t *out);
void state_scribble(unsigned words);
uint64_t region_size(uint32_t index);
uint8_t *region_ptr(uint32_t index, uint64_t off, uint32_t count);

/* vu-server-dma.c */
void dma_tick(void);
char *dma_check(void);
void cmd_dma_map(VFIOUserMsg *m, Reply *r);
void cmd_dma_unmap(VFIOUserMsg *m, Reply *r);
int feat_logging_start(VFIOUserDeviceFeature *f, size_t dlen, Reply *r);
int feat_logging_stop(VFIOUserDeviceFeature *f, bool get, Reply *r);
int feat_logging_report(VFIOUserDeviceFeature *f, size_t dlen, Reply *r);
/* The client left: drop its maps and the dirty log (takes dev.lock). */
void dma_client_gone(void);

/* vu-server-migration.c */
void mig_reset(void);
int feat_migration(VFIOUserDeviceFeature *f, bool get, Reply *r);
int feat_mig_state(VFIOUserDeviceFeature *f, size_t dlen, bool get,
                   Reply *r);
int feat_data_size(VFIOUserDeviceFeature *f, bool get, Reply *r);
int feat_precopy_info(VFIOUserDeviceFeature *f, bool get, Reply *r);
void cmd_mig_read(VFIOUserMsg *m, Reply *r);
void cmd_mig_write(VFIOUserMsg *m, Reply *r);

/* vu-server-control.c: false when @c is to be closed (takes dev.lock). */
bool control_read(Control *c, bool *quit);

#endif
