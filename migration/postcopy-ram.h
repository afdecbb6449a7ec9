/*
 * Postcopy RAM (docs/devel/migration/postcopy.md).
 *
 * The source switches to postcopy on migrate-start-postcopy: it stops the
 * guest, tells the destination which pages it holds stale (DISCARD),
 * sends the device state in one PACKAGED command (LISTEN, devices, RUN)
 * and then keeps sending the remaining pages while the guest already runs
 * on the destination.  The destination registers guest RAM with
 * userfaultfd at LISTEN: a touch of a page not there yet blocks in the
 * kernel, the "mig/dst/fault" thread asks the source for it on the return
 * path, and the "mig/dst/listen" thread places arriving pages atomically
 * (UFFDIO_COPY / UFFDIO_ZEROPAGE) while the incoming thread loads the
 * package and starts the guest.
 *
 * This header is the destination's side plus the command numbers and the
 * wire helpers both sides share.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_POSTCOPY_RAM_H
#define MIGRATION_POSTCOPY_RAM_H

#include "qapi/error.h"

typedef struct QEMUFile QEMUFile;
typedef struct RAMBlock RAMBlock;

/* QEMU_VM_COMMAND numbers (QEMU's enum qemu_vm_cmd), after return-path.h. */
#define MIG_CMD_POSTCOPY_ADVISE     3   /* be64 page-size summary, be64 TPS */
#define MIG_CMD_POSTCOPY_LISTEN     4   /* no payload */
#define MIG_CMD_POSTCOPY_RUN        5   /* no payload */
#define MIG_CMD_POSTCOPY_RAM_DISCARD 6  /* see postcopy_discard_parse() */
#define MIG_CMD_PACKAGED            7   /* be32 length, then that many bytes */

/* QEMU's bound on a package (MAX_VM_CMD_PACKAGED_SIZE). */
#define POSTCOPY_PACKAGED_MAX       (1u << 24)
/* DISCARD: version byte QEMU writes, and ranges per command it sends. */
#define POSTCOPY_DISCARD_VERSION    0
#define POSTCOPY_DISCARD_MAX_RANGES 12

/* Where the destination is (QEMU's PostcopyState), in stream order. */
typedef enum PostcopyIncomingState {
    POSTCOPY_INCOMING_NONE,
    POSTCOPY_INCOMING_ADVISE,       /* ADVISE received, uffd usable */
    POSTCOPY_INCOMING_DISCARD,      /* DISCARDs being received */
    POSTCOPY_INCOMING_LISTENING,    /* RAM registered, listen thread runs */
    POSTCOPY_INCOMING_RUNNING,      /* RUN received: the guest runs here */
    POSTCOPY_INCOMING_END,          /* listen thread reached EOF (or failed) */
} PostcopyIncomingState;

/* ---- both sides ---- */

/* OR of every RAMBlock's page size (QEMU's ram_pagesize_summary). */
uint64_t postcopy_pagesize_summary(void);

/*
 * Parse one DISCARD payload of @len bytes (QEMU's layout: u8 version 0,
 * u8 name length, the name, a NUL byte, then be64 start / be64 length
 * pairs in bytes).  Calls @fn for each range after checking the block is
 * known and the range is page aligned and inside its used length; stops
 * at the first error.  Pure parsing plus @fn: unit-testable.
 */
typedef bool (*PostcopyDiscardFn)(RAMBlock *rb, uint64_t start,
                                  uint64_t length, void *opaque,
                                  Error **errp);
bool postcopy_discard_parse(const uint8_t *buf, size_t len,
                            PostcopyDiscardFn fn, void *opaque,
                            Error **errp);

/* Can this host do postcopy (a usable userfaultfd)?  Any thread. */
bool postcopy_ram_supported_by_host(Error **errp);

/* ---- destination: the commands (incoming thread, no BQL) ---- */

/* The current PostcopyIncomingState (any thread). */
PostcopyIncomingState postcopy_incoming_state(void);
/*
 * Whether RUN was taken, so the guest ran here on partial memory (until
 * postcopy_incoming_cleanup()).  Not the state: a package that fails
 * before RUN also leaves it POSTCOPY_INCOMING_END.
 */
bool postcopy_incoming_guest_ran(void);
bool postcopy_incoming_advise(QEMUFile *f, uint16_t len, Error **errp);
bool postcopy_incoming_discard(QEMUFile *f, uint16_t len, Error **errp);
/*
 * LISTEN: register guest RAM with userfaultfd, start the fault thread and
 * the listen thread, which loads the rest of @main (the main stream) with
 * qemu_loadvm_state_listen().
 */
bool postcopy_incoming_listen(QEMUFile *main, uint16_t len, Error **errp);
/* RUN: start the guest (in the main loop, under the BQL). */
bool postcopy_incoming_run(uint16_t len, Error **errp);
/*
 * Incoming thread, after the package: wait for the listen thread; true
 * if it reached the stream's EOF.  Unregisters RAM and stops the fault
 * thread on success; on failure RAM stays registered until cleanup.
 */
bool postcopy_incoming_wait(Error **errp);
/*
 * Any thread, after the incoming thread ended (or at exit): close the
 * userfaultfd (waking any thread still blocked on a missing page), free
 * the bitmaps, state back to NONE.
 */
void postcopy_incoming_cleanup(void);

/* ---- destination: recovery (postcopy-recover.h) ---- */

/*
 * migrate-recover accepted @f (main thread, BQL): hand it to the paused
 * listen thread, which goes on reading from it.  False if the listen
 * thread is not paused (@f stays the caller's).
 */
bool postcopy_incoming_recover_channel(QEMUFile *f, Error **errp);
/* At exit (main thread): a paused listen thread gives up and ends. */
void postcopy_incoming_pause_exit(void);
/* At a shutdown request (main thread): wake vCPUs blocked on pages. */
void postcopy_incoming_release_vcpus(void);
/* Listen thread: CMD_RECV_BITMAP and CMD_POSTCOPY_RESUME. */
bool postcopy_incoming_recv_bitmap(QEMUFile *f, uint16_t len, Error **errp);
bool postcopy_incoming_resume(uint16_t len, Error **errp);

/* ---- destination: pages (listen thread; later a preempt thread) ---- */

/*
 * Place one host page at @offset of @rb atomically: the rb->page_size
 * bytes @data, or zeros when @data is NULL (small pages only: hugetlbfs
 * has no UFFDIO_ZEROPAGE, the caller copies a zeroed huge page).  A page
 * already there (EEXIST) is fine.  Marks its target pages received.
 */
bool postcopy_place_page(RAMBlock *rb, uint64_t offset, const void *data,
                         Error **errp);
/* Precopy loads (incoming thread): page @offset of @rb has arrived. */
void postcopy_mark_received(RAMBlock *rb, uint64_t offset);
/* Pages the fault thread asked the source for (query-migrate). */
uint64_t postcopy_incoming_pages_requested(void);

#endif
