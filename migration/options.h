/*
 * Migration capabilities and parameters (migration/options.c).
 *
 * Set from the main thread (QMP/HMP, BQL held) only while no migration
 * runs, except the parameters QEMU lets change live (max-bandwidth,
 * downtime-limit, xbzrle-cache-size, max-postcopy-bandwidth,
 * cpu-throttle-*); those are read with relaxed atomics by the migration
 * thread.  Accessors may be called from any thread.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MIGRATION_OPTIONS_H
#define MIGRATION_OPTIONS_H

#include <json-glib/json-glib.h>
#include "qapi/error.h"

typedef enum MigrationCapability {
    MIGRATION_CAPABILITY_XBZRLE,
    MIGRATION_CAPABILITY_RDMA_PIN_ALL,
    MIGRATION_CAPABILITY_AUTO_CONVERGE,
    MIGRATION_CAPABILITY_ZERO_BLOCKS,
    MIGRATION_CAPABILITY_EVENTS,
    MIGRATION_CAPABILITY_POSTCOPY_RAM,
    MIGRATION_CAPABILITY_X_COLO,
    MIGRATION_CAPABILITY_RELEASE_RAM,
    MIGRATION_CAPABILITY_BLOCK,
    MIGRATION_CAPABILITY_RETURN_PATH,
    MIGRATION_CAPABILITY_PAUSE_BEFORE_SWITCHOVER,
    MIGRATION_CAPABILITY_MULTIFD,
    MIGRATION_CAPABILITY_DIRTY_BITMAPS,
    MIGRATION_CAPABILITY_POSTCOPY_BLOCKTIME,
    MIGRATION_CAPABILITY_LATE_BLOCK_ACTIVATE,
    MIGRATION_CAPABILITY_X_IGNORE_SHARED,
    MIGRATION_CAPABILITY_VALIDATE_UUID,
    MIGRATION_CAPABILITY_BACKGROUND_SNAPSHOT,
    MIGRATION_CAPABILITY_ZERO_COPY_SEND,
    MIGRATION_CAPABILITY_POSTCOPY_PREEMPT,
    MIGRATION_CAPABILITY_SWITCHOVER_ACK,
    MIGRATION_CAPABILITY_DIRTY_LIMIT,
    MIGRATION_CAPABILITY_MAPPED_RAM,
    MIGRATION_CAPABILITY__MAX
} MigrationCapability;

typedef enum ZeroPageDetection {
    ZERO_PAGE_DETECTION_NONE,
    ZERO_PAGE_DETECTION_LEGACY,     /* in the migration thread */
    ZERO_PAGE_DETECTION_MULTIFD,    /* in the multifd threads (default) */
} ZeroPageDetection;

typedef enum MultiFDCompression {
    MULTIFD_COMPRESSION_NONE,
    MULTIFD_COMPRESSION_ZLIB,
    MULTIFD_COMPRESSION_ZSTD,
} MultiFDCompression;

const char *migration_capability_name(MigrationCapability cap);
/* The capability called @name, or -1. */
int migration_capability_lookup(const char *name);
bool migrate_capability(MigrationCapability cap);

/* Shorthands used on hot paths. */
bool migrate_xbzrle(void);
bool migrate_auto_converge(void);
bool migrate_postcopy_ram(void);
bool migrate_postcopy_preempt(void);
bool migrate_release_ram(void);
bool migrate_return_path(void);
bool migrate_pause_before_switchover(void);
bool migrate_multifd(void);
bool migrate_events(void);
bool migrate_block(void);
bool migrate_dirty_bitmaps(void);
bool migrate_validate_uuid(void);
bool migrate_zero_copy_send(void);
bool migrate_mapped_ram(void);
/* multifd over its own connections, with packets (not mapped-ram). */
bool migrate_multifd_sockets(void);
/* The direct-io parameter, in effect (mapped-ram and multifd on). */
bool migrate_direct_io(void);
/* The x-io-uring parameter: mapped-ram channels use io_uring. */
bool migrate_io_uring(void);
bool migrate_dirty_limit(void);

uint64_t migrate_max_bandwidth(void);           /* bytes/s, 0 = unlimited */
uint64_t migrate_downtime_limit(void);          /* ms */
uint64_t migrate_avail_switchover_bandwidth(void);
uint64_t migrate_max_postcopy_bandwidth(void);
int migrate_multifd_channels(void);
MultiFDCompression migrate_multifd_compression(void);
int migrate_multifd_zlib_level(void);
int migrate_multifd_zstd_level(void);
uint64_t migrate_xbzrle_cache_size(void);
ZeroPageDetection migrate_zero_page_detection(void);
int migrate_cpu_throttle_initial(void);
int migrate_cpu_throttle_increment(void);
bool migrate_cpu_throttle_tailslow(void);
int migrate_max_cpu_throttle(void);
int migrate_throttle_trigger_threshold(void);
uint64_t migrate_vcpu_dirty_limit(void);        /* MB/s per vCPU */
uint64_t migrate_vcpu_dirty_limit_period(void); /* ms */
/*
 * x-socket-timeout (qmig only): how long, in ms, a TCP migration socket
 * goes on when its peer falls silent before it fails (TCP_USER_TIMEOUT
 * and keepalive, see qio_channel_socket_set_peer_timeout); 0: the
 * kernel's defaults.  Read when each socket is connected or accepted.
 */
#define MIGRATION_SOCKET_TIMEOUT_DEFAULT 10000
#define MIGRATION_SOCKET_TIMEOUT_MAX 3600000
unsigned int migrate_socket_timeout(void);
/*
 * tls-creds, tls-hostname, tls-authz: a copy of the value ("" when unset),
 * for any thread; migrate_tls(): whether tls-creds is set.
 */
char *migrate_tls_creds(void);
char *migrate_tls_hostname(void);
char *migrate_tls_authz(void);
bool migrate_tls(void);

/* QMP: migrate-set-capabilities / query-migrate-capabilities / ... */
bool migrate_set_capabilities_json(JsonArray *caps, Error **errp);
JsonNode *migrate_query_capabilities_json(void);
bool migrate_set_parameters_json(JsonObject *params, Error **errp);
JsonNode *migrate_query_parameters_json(void);
/* Check the combination of capabilities before a migration starts. */
bool migrate_caps_check_for_start(bool incoming, const char *uri,
                                  Error **errp);

#endif
