/*
 * Migration capabilities and parameters: QEMU's names, defaults, ranges
 * and error messages.
 *
 * Capabilities and parameters are written only from the main thread with
 * the BQL held; readers in other threads use relaxed atomics, so a
 * parameter changed while a migration runs (max-bandwidth, say) takes
 * effect at the next read.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/option.h"
#include "system/dirty-log.h"
#include "monitor/qmp-commands.h"
#include "migration/misc.h"
#include "system/runstate.h"
#include "options.h"
#include "postcopy-ram.h"
#include "block-dirty-bitmap.h"
#include "tls.h"
#include "migration.h"

static const char *const capability_names[MIGRATION_CAPABILITY__MAX] = {
    [MIGRATION_CAPABILITY_XBZRLE] = "xbzrle",
    [MIGRATION_CAPABILITY_RDMA_PIN_ALL] = "rdma-pin-all",
    [MIGRATION_CAPABILITY_AUTO_CONVERGE] = "auto-converge",
    [MIGRATION_CAPABILITY_ZERO_BLOCKS] = "zero-blocks",
    [MIGRATION_CAPABILITY_EVENTS] = "events",
    [MIGRATION_CAPABILITY_POSTCOPY_RAM] = "postcopy-ram",
    [MIGRATION_CAPABILITY_X_COLO] = "x-colo",
    [MIGRATION_CAPABILITY_RELEASE_RAM] = "release-ram",
    [MIGRATION_CAPABILITY_BLOCK] = "block",
    [MIGRATION_CAPABILITY_RETURN_PATH] = "return-path",
    [MIGRATION_CAPABILITY_PAUSE_BEFORE_SWITCHOVER] = "pause-before-switchover",
    [MIGRATION_CAPABILITY_MULTIFD] = "multifd",
    [MIGRATION_CAPABILITY_DIRTY_BITMAPS] = "dirty-bitmaps",
    [MIGRATION_CAPABILITY_POSTCOPY_BLOCKTIME] = "postcopy-blocktime",
    [MIGRATION_CAPABILITY_LATE_BLOCK_ACTIVATE] = "late-block-activate",
    [MIGRATION_CAPABILITY_X_IGNORE_SHARED] = "x-ignore-shared",
    [MIGRATION_CAPABILITY_VALIDATE_UUID] = "validate-uuid",
    [MIGRATION_CAPABILITY_BACKGROUND_SNAPSHOT] = "background-snapshot",
    [MIGRATION_CAPABILITY_ZERO_COPY_SEND] = "zero-copy-send",
    [MIGRATION_CAPABILITY_POSTCOPY_PREEMPT] = "postcopy-preempt",
    [MIGRATION_CAPABILITY_SWITCHOVER_ACK] = "switchover-ack",
    [MIGRATION_CAPABILITY_DIRTY_LIMIT] = "dirty-limit",
    [MIGRATION_CAPABILITY_MAPPED_RAM] = "mapped-ram",
};

/*
 * Capabilities whose feature exists in this build.  Switching on any other
 * is refused with a message that says so, rather than silently ignored.
 */
static const bool capability_supported[MIGRATION_CAPABILITY__MAX] = {
    [MIGRATION_CAPABILITY_EVENTS] = true,
    [MIGRATION_CAPABILITY_PAUSE_BEFORE_SWITCHOVER] = true,
    [MIGRATION_CAPABILITY_LATE_BLOCK_ACTIVATE] = true,
    [MIGRATION_CAPABILITY_BLOCK] = true,            /* migration/block.c */
    [MIGRATION_CAPABILITY_DIRTY_BITMAPS] = true,    /* block-dirty-bitmap.c */
    [MIGRATION_CAPABILITY_XBZRLE] = true,           /* ram-xbzrle.c */
    [MIGRATION_CAPABILITY_MULTIFD] = true,          /* multifd.c */
    [MIGRATION_CAPABILITY_AUTO_CONVERGE] = true,    /* cpu-throttle.c */
    [MIGRATION_CAPABILITY_RETURN_PATH] = true,      /* return-path.c */
    [MIGRATION_CAPABILITY_POSTCOPY_RAM] = true,     /* postcopy-ram.c */
    [MIGRATION_CAPABILITY_RELEASE_RAM] = true,      /* ram.c, in postcopy */
    [MIGRATION_CAPABILITY_POSTCOPY_PREEMPT] = true, /* postcopy-preempt.c */
    [MIGRATION_CAPABILITY_POSTCOPY_BLOCKTIME] = true, /* postcopy-blocktime.c */
    [MIGRATION_CAPABILITY_DIRTY_LIMIT] = true,      /* system/dirtylimit.c */
    [MIGRATION_CAPABILITY_VALIDATE_UUID] = true,    /* savevm.c */
    [MIGRATION_CAPABILITY_MAPPED_RAM] = true,       /* ram-mapped.c */
    [MIGRATION_CAPABILITY_RDMA_PIN_ALL] = true,     /* rdma.c */
};

static bool capabilities[MIGRATION_CAPABILITY__MAX];   /* atomic */

typedef enum ParamKind {
    PARAM_INT,      /* integer in [min, max] */
    PARAM_BOOL,
    PARAM_ENUM,     /* one of choices[], stored as its index */
    PARAM_STR,      /* a string (tls-*), kept in param_strs */
} ParamKind;

typedef struct ParamDef {
    const char *name;
    ParamKind kind;
    uint64_t min, max, def;
    const char *const *choices;
    const char *range_msg;  /* QEMU's wording of the allowed range */
} ParamDef;

static const char *const compression_choices[] = { "none", "zlib", "zstd", NULL };
static const char *const zero_page_choices[] = { "none", "legacy", "multifd", NULL };
static const char *const mode_choices[] = { "normal", "cpr-reboot", NULL };

enum {
    P_ANNOUNCE_INITIAL, P_ANNOUNCE_MAX, P_ANNOUNCE_ROUNDS, P_ANNOUNCE_STEP,
    P_THROTTLE_TRIGGER, P_CPU_THROTTLE_INITIAL, P_CPU_THROTTLE_INCREMENT,
    P_CPU_THROTTLE_TAILSLOW, P_TLS_CREDS, P_TLS_HOSTNAME, P_TLS_AUTHZ,
    P_MAX_BANDWIDTH, P_AVAIL_SWITCHOVER_BW, P_DOWNTIME_LIMIT,
    P_X_CHECKPOINT_DELAY, P_MULTIFD_CHANNELS, P_XBZRLE_CACHE_SIZE,
    P_MAX_POSTCOPY_BW, P_MAX_CPU_THROTTLE, P_MULTIFD_COMPRESSION,
    P_MULTIFD_ZLIB_LEVEL, P_MULTIFD_ZSTD_LEVEL, P_X_VCPU_DIRTY_LIMIT_PERIOD,
    P_VCPU_DIRTY_LIMIT, P_MODE, P_ZERO_PAGE_DETECTION, P_DIRECT_IO,
    P_X_SOCKET_TIMEOUT, P_X_IO_URING, P__MAX
};

#define U64MAX UINT64_MAX
static const ParamDef params[P__MAX] = {
    [P_ANNOUNCE_INITIAL] = { "announce-initial", PARAM_INT, 1, 100000, 50 },
    [P_ANNOUNCE_MAX] = { "announce-max", PARAM_INT, 1, 100000, 550 },
    [P_ANNOUNCE_ROUNDS] = { "announce-rounds", PARAM_INT, 1, 1000, 5 },
    [P_ANNOUNCE_STEP] = { "announce-step", PARAM_INT, 1, 10000, 100 },
    [P_THROTTLE_TRIGGER] = { "throttle-trigger-threshold", PARAM_INT, 1, 100,
                             50, NULL, "an integer in the range of 1 to 100" },
    [P_CPU_THROTTLE_INITIAL] = { "cpu-throttle-initial", PARAM_INT, 1, 99,
                                 20, NULL, "an integer in the range of 1 to 99" },
    [P_CPU_THROTTLE_INCREMENT] = { "cpu-throttle-increment", PARAM_INT, 1, 99,
                                   10, NULL, "an integer in the range of 1 to 99" },
    [P_CPU_THROTTLE_TAILSLOW] = { "cpu-throttle-tailslow", PARAM_BOOL, 0, 1, 0 },
    [P_TLS_CREDS] = { "tls-creds", PARAM_STR },
    [P_TLS_HOSTNAME] = { "tls-hostname", PARAM_STR },
    [P_TLS_AUTHZ] = { "tls-authz", PARAM_STR },
    [P_MAX_BANDWIDTH] = { "max-bandwidth", PARAM_INT, 0, U64MAX / 2,
                          134217728, NULL,
                          "an integer in the range of 0 to 9223372036854775807 bytes/second" },
    [P_AVAIL_SWITCHOVER_BW] = { "avail-switchover-bandwidth", PARAM_INT, 0,
                                U64MAX / 2, 0 },
    [P_DOWNTIME_LIMIT] = { "downtime-limit", PARAM_INT, 0, 2000000, 300, NULL,
                           "an integer in the range of 0 to 2000000 ms" },
    [P_X_CHECKPOINT_DELAY] = { "x-checkpoint-delay", PARAM_INT, 0, U64MAX / 2,
                               20000 },
    [P_MULTIFD_CHANNELS] = { "multifd-channels", PARAM_INT, 1, 255, 2, NULL,
                             "a value between 1 and 255" },
    [P_XBZRLE_CACHE_SIZE] = { "xbzrle-cache-size", PARAM_INT, 4096, U64MAX / 2,
                              67108864 },
    [P_MAX_POSTCOPY_BW] = { "max-postcopy-bandwidth", PARAM_INT, 0, U64MAX / 2, 0 },
    [P_MAX_CPU_THROTTLE] = { "max-cpu-throttle", PARAM_INT, 1, 99, 99, NULL,
                             "an integer in the range of 1 to 99" },
    [P_MULTIFD_COMPRESSION] = { "multifd-compression", PARAM_ENUM, 0, 0, 0,
                                compression_choices },
    [P_MULTIFD_ZLIB_LEVEL] = { "multifd-zlib-level", PARAM_INT, 0, 9, 1, NULL,
                               "a value between 0 and 9" },
    [P_MULTIFD_ZSTD_LEVEL] = { "multifd-zstd-level", PARAM_INT, 0, 20, 1, NULL,
                               "a value between 0 and 20" },
    [P_X_VCPU_DIRTY_LIMIT_PERIOD] = { "x-vcpu-dirty-limit-period", PARAM_INT,
                                      1, 1000, 1000, NULL,
                                      "a value between 1 and 1000" },
    [P_VCPU_DIRTY_LIMIT] = { "vcpu-dirty-limit", PARAM_INT, 1, U64MAX / 2, 1,
                             NULL, "an integer greater than or equal to 1" },
    [P_MODE] = { "mode", PARAM_ENUM, 0, 0, 0, mode_choices },
    [P_ZERO_PAGE_DETECTION] = { "zero-page-detection", PARAM_ENUM, 0, 0, 2,
                                zero_page_choices },
    [P_DIRECT_IO] = { "direct-io", PARAM_BOOL, 0, 1, 0 },
    /*
     * qmig's own (QEMU has none): how long a TCP migration socket waits
     * for a silent peer, in ms; 0 keeps the kernel's ~15 minutes.  See
     * docs/devel/migration/network-faults.md for the default's reasons.
     */
    [P_X_SOCKET_TIMEOUT] = { "x-socket-timeout", PARAM_INT, 0,
                             MIGRATION_SOCKET_TIMEOUT_MAX,
                             MIGRATION_SOCKET_TIMEOUT_DEFAULT, NULL,
                             "a value between 0 and 3600000 ms" },
    /*
     * qmig's own: the mapped-ram channels do their I/O through io_uring
     * (docs/devel/migration/mapped-ram.md "I/O engines").
     */
    [P_X_IO_URING] = { "x-io-uring", PARAM_BOOL, 0, 1, 0 },
};

/* Current values; -1 marks "not yet initialised" (atomic). */
static uint64_t param_values[P__MAX];
static bool params_initialised;
/*
 * PARAM_STR values ("" when unset); protected by param_strs_lock, since
 * multifd and preempt threads read tls-creds/tls-hostname when they
 * connect.
 */
static char *param_strs[P__MAX];
static GMutex param_strs_lock;

static char *param_get_str(int p)
{
    char *v;

    g_mutex_lock(&param_strs_lock);
    v = g_strdup(param_strs[p] ? param_strs[p] : "");
    g_mutex_unlock(&param_strs_lock);
    return v;
}

char *migrate_tls_creds(void) { return param_get_str(P_TLS_CREDS); }
char *migrate_tls_hostname(void) { return param_get_str(P_TLS_HOSTNAME); }
char *migrate_tls_authz(void) { return param_get_str(P_TLS_AUTHZ); }

bool migrate_tls(void)
{
    g_autofree char *creds = migrate_tls_creds();

    return *creds != 0;
}

static void params_init(void)
{
    if (!params_initialised) {
        for (int i = 0; i < P__MAX; i++) {
            param_values[i] = params[i].def;
        }
        params_initialised = true;
    }
}

static uint64_t param_get(int p)
{
    params_init();
    return __atomic_load_n(&param_values[p], __ATOMIC_RELAXED);
}

const char *migration_capability_name(MigrationCapability cap)
{
    assert(cap < MIGRATION_CAPABILITY__MAX);
    return capability_names[cap];
}

bool migrate_capability(MigrationCapability cap)
{
    return __atomic_load_n(&capabilities[cap], __ATOMIC_RELAXED);
}

bool migrate_xbzrle(void) { return migrate_capability(MIGRATION_CAPABILITY_XBZRLE); }
bool migrate_auto_converge(void) { return migrate_capability(MIGRATION_CAPABILITY_AUTO_CONVERGE); }
bool migrate_postcopy_ram(void) { return migrate_capability(MIGRATION_CAPABILITY_POSTCOPY_RAM); }
bool migrate_postcopy_preempt(void) { return migrate_capability(MIGRATION_CAPABILITY_POSTCOPY_PREEMPT); }
bool migrate_release_ram(void) { return migrate_capability(MIGRATION_CAPABILITY_RELEASE_RAM); }
bool migrate_return_path(void) { return migrate_capability(MIGRATION_CAPABILITY_RETURN_PATH); }
bool migrate_pause_before_switchover(void) { return migrate_capability(MIGRATION_CAPABILITY_PAUSE_BEFORE_SWITCHOVER); }
bool migrate_multifd(void) { return migrate_capability(MIGRATION_CAPABILITY_MULTIFD); }
bool migrate_events(void) { return migrate_capability(MIGRATION_CAPABILITY_EVENTS); }
bool migrate_block(void) { return migrate_capability(MIGRATION_CAPABILITY_BLOCK); }
bool migrate_dirty_bitmaps(void) { return migrate_capability(MIGRATION_CAPABILITY_DIRTY_BITMAPS); }
bool migrate_validate_uuid(void) { return migrate_capability(MIGRATION_CAPABILITY_VALIDATE_UUID); }
bool migrate_zero_copy_send(void) { return migrate_capability(MIGRATION_CAPABILITY_ZERO_COPY_SEND); }
bool migrate_mapped_ram(void) { return migrate_capability(MIGRATION_CAPABILITY_MAPPED_RAM); }

bool migrate_multifd_sockets(void)
{
    return migrate_multifd() && !migrate_mapped_ram();
}

/*
 * As QEMU: O_DIRECT needs the aligned page offsets of mapped-ram, and
 * multifd so that only the channels (aligned page data) use it while the
 * main stream (unaligned) goes through the page cache.
 */
bool migrate_direct_io(void)
{
    return param_get(P_DIRECT_IO) && migrate_mapped_ram() &&
           migrate_multifd();
}
bool migrate_io_uring(void)
{
    return param_get(P_X_IO_URING);
}
bool migrate_dirty_limit(void) { return migrate_capability(MIGRATION_CAPABILITY_DIRTY_LIMIT); }

uint64_t migrate_max_bandwidth(void) { return param_get(P_MAX_BANDWIDTH); }
uint64_t migrate_downtime_limit(void) { return param_get(P_DOWNTIME_LIMIT); }
uint64_t migrate_avail_switchover_bandwidth(void) { return param_get(P_AVAIL_SWITCHOVER_BW); }
uint64_t migrate_max_postcopy_bandwidth(void) { return param_get(P_MAX_POSTCOPY_BW); }
int migrate_multifd_channels(void) { return param_get(P_MULTIFD_CHANNELS); }
MultiFDCompression migrate_multifd_compression(void) { return param_get(P_MULTIFD_COMPRESSION); }
int migrate_multifd_zlib_level(void) { return param_get(P_MULTIFD_ZLIB_LEVEL); }
int migrate_multifd_zstd_level(void) { return param_get(P_MULTIFD_ZSTD_LEVEL); }
uint64_t migrate_xbzrle_cache_size(void) { return param_get(P_XBZRLE_CACHE_SIZE); }
ZeroPageDetection migrate_zero_page_detection(void) { return param_get(P_ZERO_PAGE_DETECTION); }
int migrate_cpu_throttle_initial(void) { return param_get(P_CPU_THROTTLE_INITIAL); }
int migrate_cpu_throttle_increment(void) { return param_get(P_CPU_THROTTLE_INCREMENT); }
bool migrate_cpu_throttle_tailslow(void) { return param_get(P_CPU_THROTTLE_TAILSLOW); }
int migrate_max_cpu_throttle(void) { return param_get(P_MAX_CPU_THROTTLE); }
int migrate_throttle_trigger_threshold(void) { return param_get(P_THROTTLE_TRIGGER); }
uint64_t migrate_vcpu_dirty_limit(void) { return param_get(P_VCPU_DIRTY_LIMIT); }
uint64_t migrate_vcpu_dirty_limit_period(void) { return param_get(P_X_VCPU_DIRTY_LIMIT_PERIOD); }
unsigned int migrate_socket_timeout(void) { return param_get(P_X_SOCKET_TIMEOUT); }

static int capability_lookup(const char *name)
{
    for (int i = 0; i < MIGRATION_CAPABILITY__MAX; i++) {
        if (!strcmp(capability_names[i], name)) {
            return i;
        }
    }
    return -1;
}

int migration_capability_lookup(const char *name)
{
    return capability_lookup(name);
}

/*
 * mapped-ram writes each page once at its place: nothing that encodes a
 * page against an older copy, and nothing after the switchover.
 */
static bool mapped_ram_caps_check(const bool *caps, Error **errp)
{
    if (caps[MIGRATION_CAPABILITY_XBZRLE]) {
        error_setg(errp, "Mapped-ram migration is incompatible with xbzrle");
        return false;
    }
    if (caps[MIGRATION_CAPABILITY_POSTCOPY_RAM]) {
        error_setg(errp, "Mapped-ram migration is incompatible with "
                   "postcopy");
        return false;
    }
    if (caps[MIGRATION_CAPABILITY_MULTIFD] &&
        migrate_multifd_compression() != MULTIFD_COMPRESSION_NONE) {
        error_setg(errp, "Mapped-ram only works with multifd-compression "
                   "none");
        return false;
    }
    return true;
}

/*
 * What QEMU refuses with rdma: (xbzrle, multifd, postcopy-ram, with its
 * words), and what qmig's RDMA transport does not carry (a return path,
 * TLS): pages bypass the stream, and the channel is no socket.
 */
static bool rdma_caps_check(const bool *caps, Error **errp)
{
    if (caps[MIGRATION_CAPABILITY_XBZRLE]) {
        error_setg(errp, "RDMA and XBZRLE can't be used together");
        return false;
    }
    if (caps[MIGRATION_CAPABILITY_MULTIFD]) {
        error_setg(errp, "RDMA and multifd can't be used together");
        return false;
    }
    if (caps[MIGRATION_CAPABILITY_POSTCOPY_RAM]) {
        error_setg(errp, "RDMA and postcopy-ram can't be used together");
        return false;
    }
    if (caps[MIGRATION_CAPABILITY_RETURN_PATH]) {
        error_setg(errp, "RDMA migration does not carry a return path in "
                   "this VMM: switch the return-path capability off");
        return false;
    }
    if (migrate_tls()) {
        error_setg(errp, "RDMA migration cannot use TLS: its pages bypass "
                   "the stream");
        return false;
    }
    return true;
}

/* Combinations QEMU refuses, checked on the would-be new set. */
static bool caps_check(const bool *caps, Error **errp)
{
    const char *in_uri = migration_incoming_get_current()->uri;

    /* QEMU checks a destination listening on rdma: here too. */
    if (in_uri && g_str_has_prefix(in_uri, "rdma:") &&
        !rdma_caps_check(caps, errp)) {
        return false;
    }
    if (caps[MIGRATION_CAPABILITY_POSTCOPY_PREEMPT] &&
        !caps[MIGRATION_CAPABILITY_POSTCOPY_RAM]) {
        error_setg(errp, "Postcopy preempt requires postcopy-ram");
        return false;
    }
    if (caps[MIGRATION_CAPABILITY_POSTCOPY_RAM] &&
        caps[MIGRATION_CAPABILITY_X_IGNORE_SHARED]) {
        error_setg(errp, "Postcopy is not compatible with ignore-shared");
        return false;
    }
    if (caps[MIGRATION_CAPABILITY_POSTCOPY_RAM] &&
        caps[MIGRATION_CAPABILITY_MULTIFD]) {
        error_setg(errp, "Postcopy is not yet compatible with multifd");
        return false;
    }
    if (caps[MIGRATION_CAPABILITY_XBZRLE] &&
        caps[MIGRATION_CAPABILITY_MULTIFD] &&
        migrate_multifd_compression() != MULTIFD_COMPRESSION_NONE) {
        error_setg(errp, "Multifd compression is not compatible with xbzrle");
        return false;
    }
    if (caps[MIGRATION_CAPABILITY_MAPPED_RAM] &&
        !mapped_ram_caps_check(caps, errp)) {
        return false;
    }
    if (caps[MIGRATION_CAPABILITY_SWITCHOVER_ACK] &&
        !caps[MIGRATION_CAPABILITY_RETURN_PATH]) {
        error_setg(errp, "Capability 'switchover-ack' requires capability "
                   "'return-path'");
        return false;
    }
    if (caps[MIGRATION_CAPABILITY_DIRTY_LIMIT]) {
        /* QEMU's rules and words: both throttle the vCPUs. */
        if (caps[MIGRATION_CAPABILITY_AUTO_CONVERGE]) {
            error_setg(errp, "dirty-limit conflicts with auto-converge"
                       " either of then available currently");
            return false;
        }
        /*
         * It limits each vCPU from its own dirty page count, which only
         * KVM's dirty ring keeps.
         */
        if (!dirty_log_per_vcpu()) {
            error_setg(errp, "dirty-limit requires KVM with accelerator"
                       " property 'dirty-ring-size' set; the running"
                       " accelerator is %s", dirty_log_accel_name());
            return false;
        }
    }
    for (int i = 0; i < MIGRATION_CAPABILITY__MAX; i++) {
        if (caps[i] && !capability_supported[i]) {
            error_setg(errp, "Capability '%s' is not supported by this qmig "
                       "build yet", capability_names[i]);
            return false;
        }
    }
    return true;
}

bool migrate_set_capabilities_json(JsonArray *list, Error **errp)
{
    bool new_caps[MIGRATION_CAPABILITY__MAX];

    if (migration_is_running()) {
        error_setg(errp, "There's a migration process in progress");
        return false;
    }
    memcpy(new_caps, capabilities, sizeof(new_caps));
    for (guint i = 0; i < json_array_get_length(list); i++) {
        JsonNode *node = json_array_get_element(list, i);
        g_autofree char *prefix = g_strdup_printf("capabilities[%u].", i);
        JsonObject *obj;
        int cap;

        if (!JSON_NODE_HOLDS_OBJECT(node)) {
            error_setg(errp, "Invalid parameter type for 'capabilities[%u]', "
                       "expected: object", i);
            return false;
        }
        obj = json_node_get_object(node);
        if (!qmp_check_object(obj, "capability:str,state:bool", prefix,
                              errp)) {
            return false;
        }
        cap = capability_lookup(json_object_get_string_member(obj,
                                                               "capability"));
        if (cap < 0) {
            error_setg(errp, "Parameter 'capability' does not accept value "
                       "'%s'", json_object_get_string_member(obj,
                                                             "capability"));
            return false;
        }
        new_caps[cap] = json_object_get_boolean_member(obj, "state");
    }
    if (!caps_check(new_caps, errp)) {
        return false;
    }
    /* QEMU's check: only the destination needs userfaultfd. */
    if (new_caps[MIGRATION_CAPABILITY_POSTCOPY_RAM] &&
        !capabilities[MIGRATION_CAPABILITY_POSTCOPY_RAM] &&
        runstate_check(RUN_STATE_INMIGRATE) &&
        !postcopy_ram_supported_by_host(errp)) {
        return false;
    }
    for (int i = 0; i < MIGRATION_CAPABILITY__MAX; i++) {
        __atomic_store_n(&capabilities[i], new_caps[i], __ATOMIC_RELAXED);
    }
    return true;
}

JsonNode *migrate_query_capabilities_json(void)
{
    JsonArray *arr = json_array_new();

    for (int i = 0; i < MIGRATION_CAPABILITY__MAX; i++) {
        JsonObject *o = json_object_new();

        json_object_set_string_member(o, "capability", capability_names[i]);
        json_object_set_boolean_member(o, "state", migrate_capability(i));
        json_array_add_object_element(arr, o);
    }
    return qmp_node_array(arr);
}

static int param_lookup(const char *name)
{
    for (int i = 0; i < P__MAX; i++) {
        if (!strcmp(params[i].name, name)) {
            return i;
        }
    }
    return -1;
}

static int enum_lookup(const char *const *choices, const char *s)
{
    for (int i = 0; choices[i]; i++) {
        if (!strcmp(choices[i], s)) {
            return i;
        }
    }
    return -1;
}

/*
 * Convert and range-check one member; the dispatcher checked its type.
 * A PARAM_STR sets *@str (null, QEMU's way to reset, becomes "").
 */
static bool param_parse(int p, JsonNode *node, uint64_t *out, char **str,
                        Error **errp)
{
    const ParamDef *d = &params[p];
    int64_t v;

    switch (d->kind) {
    case PARAM_BOOL:
        *out = json_node_get_boolean(node);
        return true;
    case PARAM_ENUM:
        v = enum_lookup(d->choices, json_node_get_string(node));
        if (v < 0) {
            error_setg(errp, "Parameter '%s' does not accept value '%s'",
                       d->name, json_node_get_string(node));
            return false;
        }
        *out = v;
        return true;
    case PARAM_STR:
        if (JSON_NODE_HOLDS_NULL(node)) {
            g_free(*str);
            *str = g_strdup("");
        } else if (JSON_NODE_HOLDS_VALUE(node) &&
                   json_node_get_value_type(node) == G_TYPE_STRING) {
            g_free(*str);
            *str = g_strdup(json_node_get_string(node));
        } else {
            error_setg(errp, "Invalid parameter type for '%s', expected: "
                       "string", d->name);
            return false;
        }
        *out = 0;
        return true;
    case PARAM_INT:
        v = json_node_get_int(node);
        if (v < 0 || (uint64_t)v < d->min || (uint64_t)v > d->max) {
            error_setg(errp, "Parameter '%s' expects %s", d->name,
                       d->range_msg ? d->range_msg : "a value in range");
            return false;
        }
        if (p == P_XBZRLE_CACHE_SIZE && (v & (v - 1))) {
            error_setg(errp, "Parameter 'xbzrle-cache-size' expects a power "
                       "of two no less than the target page size");
            return false;
        }
        *out = v;
        return true;
    }
    g_assert_not_reached();
}

bool migrate_set_parameters_json(JsonObject *obj, Error **errp)
{
    uint64_t next[P__MAX];
    char *next_strs[P__MAX] = { NULL };
    g_autoptr(GList) members = json_object_get_members(obj);
    g_autoptr(BitmapMigMapping) mapping = NULL;
    bool ok = false;

    params_init();
    memcpy(next, param_values, sizeof(next));
    for (GList *l = members; l; l = l->next) {
        const char *name = l->data;
        int p = param_lookup(name);

        if (!strcmp(name, "block-bitmap-mapping")) {
            /* Checked now, installed with the rest (all or nothing). */
            mapping = dirty_bitmap_mig_mapping_parse(
                json_object_get_member(obj, name), errp);
            if (!mapping) {
                goto out;
            }
            continue;
        }
        if (p < 0) {
            error_setg(errp, "Parameter '%s' is unexpected", name);
            goto out;
        }
        if (!param_parse(p, json_object_get_member(obj, name), &next[p],
                         &next_strs[p], errp)) {
            goto out;
        }
    }
    for (int i = 0; i < P__MAX; i++) {
        __atomic_store_n(&param_values[i], next[i], __ATOMIC_RELAXED);
    }
    g_mutex_lock(&param_strs_lock);
    for (int i = 0; i < P__MAX; i++) {
        if (next_strs[i]) {
            g_free(param_strs[i]);
            param_strs[i] = g_steal_pointer(&next_strs[i]);
        }
    }
    g_mutex_unlock(&param_strs_lock);
    if (mapping) {
        dirty_bitmap_mig_mapping_set(g_steal_pointer(&mapping));
    }
    migration_parameters_changed();
    ok = true;
out:
    for (int i = 0; i < P__MAX; i++) {
        g_free(next_strs[i]);
    }
    return ok;
}

JsonNode *migrate_query_parameters_json(void)
{
    JsonObject *o = json_object_new();
    JsonNode *mapping;

    for (int i = 0; i < P__MAX; i++) {
        const ParamDef *d = &params[i];
        uint64_t v = param_get(i);

        switch (d->kind) {
        case PARAM_BOOL:
            json_object_set_boolean_member(o, d->name, v);
            break;
        case PARAM_ENUM:
            json_object_set_string_member(o, d->name, d->choices[v]);
            break;
        case PARAM_STR: {
            g_autofree char *str = param_get_str(i);

            json_object_set_string_member(o, d->name, str);
            break;
        }
        case PARAM_INT:
            json_object_set_int_member(o, d->name, v);
            break;
        }
    }
    /* QEMU shows it only once set. */
    mapping = dirty_bitmap_mig_mapping_query();
    if (mapping) {
        json_object_set_member(o, "block-bitmap-mapping", mapping);
    }
    return qmp_node_object(o);
}

/* The argument schema of migrate-set-parameters, built from the table. */
const char *migrate_parameters_schema(void)
{
    static char *schema;

    if (!schema) {
        GString *s = g_string_new(NULL);

        for (int i = 0; i < P__MAX; i++) {
            const char *type = params[i].kind == PARAM_INT ? "int" :
                               params[i].kind == PARAM_BOOL ? "bool" :
                               params[i].kind == PARAM_ENUM ? "str" : "any";

            g_string_append_printf(s, "%s*%s:%s", i ? "," : "",
                                   params[i].name, type);
        }
        g_string_append(s, ",*block-bitmap-mapping:array");
        schema = g_string_free(s, FALSE);
    }
    return schema;
}

bool migrate_caps_check_for_start(bool incoming, const char *uri,
                                  Error **errp)
{
    if (g_str_has_prefix(uri, "rdma:") &&
        !rdma_caps_check(capabilities, errp)) {
        return false;
    }
    if (migrate_mapped_ram() && !g_str_has_prefix(uri, "file:")) {
        error_setg(errp, "Mapped-ram migration requires a file: URI");
        return false;
    }
    /* The destination answers on the same connection: not a file. */
    if ((migrate_return_path() || migrate_postcopy_ram()) &&
        g_str_has_prefix(uri, "file:")) {
        error_setg(errp, "The %s capability needs a two-way "
                   "connection; the %s URI '%s' is a file",
                   migrate_return_path() ? "return-path" : "postcopy-ram",
                   incoming ? "incoming" : "outgoing", uri);
        return false;
    }
    /* The preempt channel is a second connection: sockets only. */
    if (migrate_postcopy_preempt() && (g_str_has_prefix(uri, "fd:") ||
                                       g_str_has_prefix(uri, "exec:") ||
                                       g_str_has_prefix(uri, "file:"))) {
        error_setg(errp, "Postcopy preempt needs a tcp: or unix: URI, not "
                   "the %s URI '%s'", incoming ? "incoming" : "outgoing",
                   uri);
        return false;
    }
    if (param_get(P_DIRECT_IO) && !migrate_direct_io()) {
        error_setg(errp, "The direct-io parameter needs the mapped-ram and "
                   "multifd capabilities (only the multifd channels write "
                   "the file with O_DIRECT)");
        return false;
    }
    /*
     * multifd opens more connections to the same address: sockets only;
     * with mapped-ram its channels write the file at the pages' offsets.
     */
    if (migrate_multifd_sockets() && (g_str_has_prefix(uri, "fd:") ||
                                      g_str_has_prefix(uri, "exec:") ||
                                      g_str_has_prefix(uri, "file:"))) {
        error_setg(errp, "Migration requires multi-channel URIs (e.g. tcp): "
                   "multifd cannot use the %s URI '%s'",
                   incoming ? "incoming" : "outgoing", uri);
        return false;
    }
    if (!migration_tls_check_start(uri, incoming, errp)) {
        return false;
    }
    return caps_check(capabilities, errp);
}

/* A capability or parameter as a -global migration property value. */
static JsonNode *global_value(const char *prop, const char *value,
                              bool is_bool, Error **errp)
{
    JsonNode *node = json_node_new(JSON_NODE_VALUE);
    bool b;
    uint64_t n;

    if (is_bool) {
        if (!qemu_parse_bool(value, &b)) {
            error_setg(errp, "Property 'migration.%s' expects on or off, "
                       "not '%s'", prop, value);
            json_node_unref(node);
            return NULL;
        }
        json_node_set_boolean(node, b);
    } else if (qemu_strtou64(value, &n) && n <= INT64_MAX) {
        json_node_set_int(node, n);
    } else {
        json_node_set_string(node, value);
    }
    return node;
}

bool migrate_global_property(const char *prop, const char *value,
                             Error **errp)
{
    /* QEMU names most capabilities x-NAME as properties. */
    const char *name = capability_lookup(prop) < 0 &&
                       g_str_has_prefix(prop, "x-") ? prop + 2 : prop;
    int cap = capability_lookup(name);
    g_autoptr(JsonObject) obj = json_object_new();
    JsonNode *node;

    if (cap >= 0) {
        g_autoptr(JsonArray) list = json_array_new();

        node = global_value(prop, value, true, errp);
        if (!node) {
            return false;
        }
        json_object_set_string_member(obj, "capability", name);
        json_object_set_member(obj, "state", node);
        json_array_add_object_element(list, json_object_ref(obj));
        return migrate_set_capabilities_json(list, errp);
    }
    for (int p = 0; p < P__MAX; p++) {
        if (!strcmp(params[p].name, prop)) {
            node = global_value(prop, value, params[p].kind == PARAM_BOOL,
                                errp);
            if (!node) {
                return false;
            }
            json_object_set_member(obj, prop, node);
            return migrate_set_parameters_json(obj, errp);
        }
    }
    error_setg(errp, "Property 'migration.%s' not found", prop);
    return false;
}
