/*
 * The stream's framing (STREAM.md): header, configuration, sections,
 * footers, EOF and the vmdesc; and the list of everything that takes
 * part in migration (live sections and device state).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_SAVEVM_H
#define MIGRATION_SAVEVM_H

#include "qapi/error.h"

typedef struct QEMUFile QEMUFile;

#define QEMU_VM_FILE_MAGIC           0x5145564d
#define QEMU_VM_FILE_VERSION         0x00000003

#define QEMU_VM_EOF                  0x00
#define QEMU_VM_SECTION_START        0x01
#define QEMU_VM_SECTION_PART         0x02
#define QEMU_VM_SECTION_END          0x03
#define QEMU_VM_SECTION_FULL         0x04
#define QEMU_VM_SUBSECTION           0x05
#define QEMU_VM_VMDESCRIPTION        0x06
#define QEMU_VM_CONFIGURATION        0x07
#define QEMU_VM_COMMAND              0x08
#define QEMU_VM_SECTION_FOOTER       0x7e

/* Source side; all in the migration thread. */
void qemu_savevm_state_header(QEMUFile *f);
/* Live sections' SECTION_START (no BQL). */
/* Main loop, BQL: every section's save_prepare check, at `migrate`. */
bool qemu_savevm_state_prepare(Error **errp);
bool qemu_savevm_state_setup(QEMUFile *f, Error **errp);
/*
 * One SECTION_PART per live section until the rate limit is hit.
 * Returns 1 when every live section has nothing left now, 0 if more
 * remains, negative on error (the file's error is set).
 */
int qemu_savevm_state_iterate(QEMUFile *f);
void qemu_savevm_state_pending_estimate(uint64_t *must_precopy,
                                        uint64_t *can_postcopy);
void qemu_savevm_state_pending_exact(uint64_t *must_precopy,
                                     uint64_t *can_postcopy);
/*
 * With the VM stopped and the BQL held: SECTION_END of every live section,
 * SECTION_FULL of every device, EOF, then the vmdesc.
 */
bool qemu_savevm_state_complete_precopy(QEMUFile *f, Error **errp);
/* A QEMU_VM_COMMAND with @len bytes of payload @data. */
void qemu_savevm_send_command(QEMUFile *f, uint16_t cmd, uint16_t len,
                              const uint8_t *data);
/* postcopy-ram: POSTCOPY_ADVISE (page-size summary, target page size). */
void qemu_savevm_send_postcopy_advise(QEMUFile *f);
/*
 * The switch to postcopy, VM stopped, BQL held: SECTION_END of every live
 * section without a postcopy path, each postcopy section's prepare hook
 * (RAM: last sync, DISCARDs), then PACKAGED (LISTEN, devices, RUN).
 * From here on qemu_savevm_state_iterate() runs the postcopy sections
 * only, without stopping at the rate limit (the caller paces it).
 */
bool qemu_savevm_state_postcopy_switch(QEMUFile *f, Error **errp);
/* After postcopy iterated everything: SECTION_ENDs, final PING, EOF. */
bool qemu_savevm_state_complete_postcopy(QEMUFile *f, Error **errp);
/* After success, failure or cancel (no BQL needed). */
void qemu_savevm_state_cleanup(void);

/*
 * Destination, incoming thread (no BQL held on entry): read a whole
 * precopy stream up to and including EOF (and skip the vmdesc).  Device
 * sections load under the BQL; live sections without it.
 */
bool qemu_loadvm_state(QEMUFile *f, Error **errp);
/*
 * Postcopy listen thread: go on loading @f (the main stream, after the
 * package) with qemu_loadvm_state()'s section table, up to EOF.
 */
bool qemu_loadvm_state_listen(QEMUFile *f, Error **errp);
/*
 * Postcopy recovery, listen thread: the main stream goes on over @f (a
 * new channel); the section table is kept.
 */
void qemu_loadvm_switch_main_file(QEMUFile *f);
/*
 * A multifd receive thread, no BQL: @len bytes of device state for the
 * section @idstr/@instance_id (its load_state_buffer hook).  Fails if no
 * such section takes device state over multifd.
 */
bool qemu_loadvm_load_state_buffer(const char *idstr, uint32_t instance_id,
                                   const uint8_t *buf, size_t len,
                                   Error **errp);

#endif
