/*
 * Dirty bitmap migration (the "dirty-bitmap" live section) and the
 * block-bitmap-mapping parameter it obeys.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_BLOCK_DIRTY_BITMAP_H
#define MIGRATION_BLOCK_DIRTY_BITMAP_H

#include <json-glib/json-glib.h>
#include "qapi/error.h"

/* Register the section; once, from migration_object_init(). */
void dirty_bitmap_mig_init(void);

/*
 * A validated block-bitmap-mapping: immutable and reference counted, so
 * the migration threads can keep the one they started with while QMP
 * installs another.
 */
typedef struct BitmapMigMapping BitmapMigMapping;

/*
 * Main thread, BQL: check @value (the parameter as given to
 * migrate-set-parameters) with QEMU's messages, and that every node it
 * names is a drive of this VM.  Returns a new mapping or NULL.
 */
BitmapMigMapping *dirty_bitmap_mig_mapping_parse(JsonNode *value,
                                                 Error **errp);
void dirty_bitmap_mig_mapping_unref(BitmapMigMapping *mapping);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BitmapMigMapping, dirty_bitmap_mig_mapping_unref)

/* Main thread, BQL: install @mapping (consumed) for later migrations. */
void dirty_bitmap_mig_mapping_set(BitmapMigMapping *mapping);
/*
 * The mapping as query-migrate-parameters shows it (a new node), or NULL
 * while it was never set: then bitmaps keep their names and drive ids.
 */
JsonNode *dirty_bitmap_mig_mapping_query(void);

#endif
