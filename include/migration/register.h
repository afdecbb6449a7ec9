/*
 * How a subsystem takes part in migration: live handlers (RAM, block,
 * dirty bitmaps) or a plain device state description (vmstate_register).
 *
 * Registration happens at machine creation, before any migration, with
 * the BQL held; the list is read-only while a migration runs.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_REGISTER_H
#define MIGRATION_REGISTER_H

#include "qapi/error.h"

typedef struct QEMUFile QEMUFile;
typedef struct VMStateDescription VMStateDescription;

/*
 * Hooks of a live section.  Thread and lock for each hook are part of the
 * contract: "migration thread" is the source's outgoing thread, "incoming
 * thread" the destination's loader.  None of them may block on the main
 * loop.
 */
typedef struct SaveVMHandlers {
    /*
     * Source, main loop, BQL held, when `migrate` is issued, before any
     * connection: refuse a migration this section cannot take part in
     * (e.g. a capability it does not support), so that the command
     * itself fails, as QEMU's does.
     */
    bool (*save_prepare)(void *opaque, Error **errp);
    /*
     * Source, migration thread, no BQL: write the SECTION_START payload
     * (RAM: block list) and start tracking changes (dirty logging).
     */
    bool (*save_setup)(QEMUFile *f, void *opaque, Error **errp);
    /*
     * Source, migration thread, no BQL: send data until the rate limit
     * is hit or there is nothing left now.  Returns 1 when everything
     * known dirty has been sent, 0 if more remains, -errno on failure.
     */
    int (*save_live_iterate)(QEMUFile *f, void *opaque);
    /*
     * Source, migration thread, VM stopped, BQL held: send everything
     * that is left (final dirty sync included).
     */
    bool (*save_live_complete_precopy)(QEMUFile *f, void *opaque,
                                       Error **errp);
    /*
     * Source, migration thread, no BQL: bytes still to send.  _estimate
     * is cheap (no sync); _exact synchronises the dirty log first.
     */
    void (*state_pending_estimate)(void *opaque, uint64_t *must_precopy,
                                   uint64_t *can_postcopy);
    void (*state_pending_exact)(void *opaque, uint64_t *must_precopy,
                                uint64_t *can_postcopy);
    /*
     * Postcopy (optional; a section without it completes before the
     * switch).  Source, migration thread, VM stopped, BQL held, at the
     * switch: last sync, and commands the destination needs before
     * LISTEN (RAM: DISCARD).  Afterwards save_live_iterate keeps being
     * called (no BQL) until it returns 1, then save_live_complete_postcopy
     * (no BQL) writes the SECTION_END payload.
     */
    bool (*save_postcopy_prepare)(QEMUFile *f, void *opaque, Error **errp);
    bool (*save_live_complete_postcopy)(QEMUFile *f, void *opaque,
                                        Error **errp);
    /* Source, migration thread (or main thread on cancel), no BQL. */
    void (*save_cleanup)(void *opaque);
    /* Source: whether this section takes part at all (e.g. block cap). */
    bool (*is_active)(void *opaque);

    /* Destination, incoming thread, no BQL: before the first section. */
    bool (*load_setup)(QEMUFile *f, void *opaque, Error **errp);
    /*
     * Destination, incoming thread, no BQL: read one START/PART/END
     * payload.  Everything read from @f is hostile until checked.
     */
    bool (*load_state)(QEMUFile *f, void *opaque, int version_id,
                       Error **errp);
    /*
     * Destination, a multifd receive thread, no BQL: one buffer of the
     * section's device state that came over a multifd channel (buffers
     * of one section arrive on any channel, in any order).  Optional.
     */
    bool (*load_state_buffer)(void *opaque, const uint8_t *buf, size_t len,
                              Error **errp);
    /* Destination, incoming thread, no BQL: after EOF or failure. */
    void (*load_cleanup)(void *opaque);
} SaveVMHandlers;

/*
 * Register a live section named @idstr.  Returns the section entry's
 * index, or -1 if the name/instance pair is taken.
 */
int register_savevm_live(const char *idstr, uint32_t instance_id,
                         int version_id, const SaveVMHandlers *ops,
                         void *opaque);

/*
 * Register device state: saved as a SECTION_FULL under the BQL with the
 * VM stopped, loaded under the BQL.  @instance_id distinguishes several
 * devices of the same kind (e.g. CPUs by index).
 */
int vmstate_register(uint32_t instance_id, const VMStateDescription *vmsd,
                     void *opaque);
void vmstate_unregister(const VMStateDescription *vmsd, void *opaque);

#endif
