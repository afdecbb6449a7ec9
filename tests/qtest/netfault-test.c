/*
 * Network faults between two hosts (docs/devel/migration/network-faults.md).
 *
 * The source and the destination qmig each run in their own network
 * namespace, joined by a veth pair; only the migration traffic crosses
 * it (QMP stays on unix sockets in the shared /tmp).  During a precopy,
 * multifd, postcopy or postcopy-preempt migration the link is
 *   - cut: the veth taken down, or every packet dropped by nftables (a
 *     silent cut: no RST, no FIN);
 *   - lossy: nftables drops a share of the packets both ways;
 *   - a trickle: tc tbf on both ends;
 *   - slow to answer: the source reaches the destination through a
 *     relay in this test that holds every byte back (no netem here).
 * What QEMU promises: under loss, delay or a trickle the migration
 * completes and the destination's guest carries on from the source's;
 * a cut precopy or multifd migration fails on both sides within about
 * x-socket-timeout and the source's guest runs on, memory intact (and
 * migrates again once the link is back); a cut postcopy pauses both
 * sides just as fast, a resume while it is still cut fails as fast, and
 * it recovers (migrate-recover, migrate resume=true) over the restored
 * link; a migration started over a cut link fails in its connect.
 * Every wait is bounded.
 *
 * Needs root (namespaces, nftables, tc); cases skip saying why
 * otherwise.  The namespaces are named after the top-level test process
 * (qmnfPIDs, qmnfPIDd); the parent removes them after each case even
 * when it failed, and at start those of test processes that are gone.
 * One case per fault kind runs by default; the whole matrix with "-m
 * slow" (meson suite 'slow').
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <glib.h>

#include "libqtest.h"
#include "migration-helpers.h"

/* The veth's two ends. */
#define SRC 0
#define DST 1
static const char *const net_ip[2] = { "10.231.0.1", "10.231.0.2" };
/* Destination ports: its first listener, a recovery, a second migration. */
#define PORT_MIGRATE 4444
#define PORT_RECOVER 4445
#define PORT_AGAIN   4446

/* x-socket-timeout in the cut cases that set one (ms). */
#define CUT_TIMEOUT_MS 2000
/*
 * How much later than x-socket-timeout a cut may be noticed: the
 * keepalive interval (1 s here), QMP polling and a loaded 2-core host.
 */
#define CUT_SLACK_S 6
/* The lossy link: this share of packets (%) dropped, each way. */
#define LOSS_PERCENT 10
/* The trickle (tc tbf rate, each way) and the relay's one-way delay. */
#define TRICKLE_RATE "16mbit"
#define DELAY_MS 50
/* How long a trickling migration is watched staying alive (s). */
#define ALIVE_WATCH_S 12
/* The rate guest's working set under a trickle (MiB): seconds at 2 MB/s. */
#define RATE_WSET_MIB 8
/* Precopy slower than the stamp guest dirties: cuts land mid-stream. */
#define SLOW_PRECOPY_BW (8ULL << 20)
#define POSTCOPY_BW (4ULL << 20)

typedef enum {
    MODE_PRECOPY, MODE_MULTIFD, MODE_POSTCOPY, MODE_PREEMPT, MODE__MAX
} Mode;

static const char *const mode_names[MODE__MAX] = {
    "precopy", "multifd", "postcopy", "postcopy-preempt",
};

typedef enum {
    FAULT_CUT_DOWN,     /* ip link set down */
    FAULT_CUT_DROP,     /* nftables drops everything */
    FAULT_LOSS,         /* nftables numgen drops LOSS_PERCENT */
    FAULT_TRICKLE,      /* tc tbf */
    FAULT_DELAY,        /* the relay */
    FAULT__MAX
} Fault;

static const char *const fault_names[FAULT__MAX] = {
    "cut-down", "cut-drop", "loss", "trickle", "delay",
};

typedef struct NetCase {
    char *path;
    Mode mode;
    Fault fault;
    /* x-socket-timeout set on both sides; 0: the default left alone. */
    unsigned int timeout_ms;
    /* Precopy that cannot converge over the fault, then cancelled. */
    bool cancel;
    /* Cut before the migration starts: the connect itself must end. */
    bool cut_first;
} NetCase;

/* ---- commands ------------------------------------------------------------ */

/* Run the shell-split command; false with its stderr in *@why on failure. */
static bool cmd_ok(char **why, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static bool cmd_ok(char **why, const char *fmt, ...)
{
    g_autofree char *cmd = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_auto(GStrv) argv = NULL;
    g_autoptr(GError) gerr = NULL;
    int status = -1;
    va_list ap;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (!g_shell_parse_argv(cmd, NULL, &argv, &gerr) ||
        !g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                      &out, &err, &status, &gerr)) {
        if (why) {
            *why = g_strdup_printf("%s: %s", cmd, gerr->message);
        }
        return false;
    }
    if (!g_spawn_check_wait_status(status, NULL)) {
        if (why) {
            *why = g_strdup_printf("%s: %s", cmd, g_strstrip(err));
        }
        return false;
    }
    return true;
}

/* The same, failing the test. */
#define CMD(...) do { \
        g_autofree char *why_ = NULL; \
        if (!cmd_ok(&why_, __VA_ARGS__)) { \
            g_error("%s", why_); \
        } \
    } while (0)

/* ---- the two hosts -------------------------------------------------------- */

typedef struct Net {
    char *ns[2];        /* namespace names, also the veth ends' names */
    char *rules;        /* nftables rule file, while loaded */
} Net;

/* Named after the top-level test process: the one that cleans up. */
static void net_names(Net *n, pid_t owner)
{
    n->ns[SRC] = g_strdup_printf("qmnf%ds", (int)owner);
    n->ns[DST] = g_strdup_printf("qmnf%dd", (int)owner);
}

static void net_names_free(Net *n)
{
    g_free(n->ns[SRC]);
    g_free(n->ns[DST]);
}

/* Remove both namespaces (and with them the veth, rules and qdiscs). */
static void net_remove(pid_t owner)
{
    Net n;

    net_names(&n, owner);
    cmd_ok(NULL, "ip netns delete %s", n.ns[SRC]);
    cmd_ok(NULL, "ip netns delete %s", n.ns[DST]);
    net_names_free(&n);
}

/*
 * The top-level test process: it names the namespaces and removes them
 * after each case.  A case's subprocess dies with it (PDEATHSIG).
 */
static pid_t net_owner;

static void net_up(Net *n)
{
    memset(n, 0, sizeof(*n));
    net_names(n, net_owner);
    net_remove(net_owner);
    CMD("ip netns add %s", n->ns[SRC]);
    CMD("ip netns add %s", n->ns[DST]);
    CMD("ip link add %s netns %s type veth peer name %s netns %s",
        n->ns[SRC], n->ns[SRC], n->ns[DST], n->ns[DST]);
    for (int i = SRC; i <= DST; i++) {
        CMD("ip -n %s addr add %s/24 dev %s", n->ns[i], net_ip[i], n->ns[i]);
        CMD("ip -n %s link set dev %s up", n->ns[i], n->ns[i]);
        CMD("ip -n %s link set dev lo up", n->ns[i]);
    }
}

static void net_down(Net *n)
{
    net_remove(net_owner);
    if (n->rules) {
        unlink(n->rules);
        g_free(n->rules);
    }
    net_names_free(n);
}

/* Start what @start starts inside namespace @ns (QTEST_VMM_WRAPPER). */
static void net_enter_for_start(Net *n, int side)
{
    g_autofree char *w = g_strdup_printf("ip netns exec %s", n->ns[side]);

    g_setenv("QTEST_VMM_WRAPPER", w, TRUE);
}

static void net_leave_for_start(void)
{
    g_unsetenv("QTEST_VMM_WRAPPER");
}

/* Load nftables rules in the source's namespace on its veth end. */
static void net_nft(Net *n, const char *verdict)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *text = g_strdup_printf(
        "table inet qmnf {\n"
        "  chain in {\n"
        "    type filter hook input priority 0;\n"
        "    iifname \"%s\" %s\n"
        "  }\n"
        "  chain out {\n"
        "    type filter hook output priority 0;\n"
        "    oifname \"%s\" %s\n"
        "  }\n"
        "}\n", n->ns[SRC], verdict, n->ns[SRC], verdict);
    int fd = g_file_open_tmp("qmnf-XXXXXX.nft", &n->rules, &err);

    g_assert_no_error(err);
    close(fd);
    g_assert_true(g_file_set_contents(n->rules, text, -1, NULL));
    CMD("ip netns exec %s nft -f %s", n->ns[SRC], n->rules);
}

static void net_nft_remove(Net *n)
{
    CMD("ip netns exec %s nft delete table inet qmnf", n->ns[SRC]);
    unlink(n->rules);
    g_clear_pointer(&n->rules, g_free);
}

/* Apply @f (all but the delay, which is the relay's). */
static void net_fault(Net *n, Fault f)
{
    g_autofree char *loss = NULL;

    g_test_message("link: %s", fault_names[f]);
    switch (f) {
    case FAULT_CUT_DOWN:
        CMD("ip -n %s link set dev %s down", n->ns[SRC], n->ns[SRC]);
        break;
    case FAULT_CUT_DROP:
        net_nft(n, "drop");
        break;
    case FAULT_LOSS:
        loss = g_strdup_printf("numgen random mod 100 < %d drop",
                               LOSS_PERCENT);
        net_nft(n, loss);
        break;
    case FAULT_TRICKLE:
        for (int i = SRC; i <= DST; i++) {
            CMD("tc -n %s qdisc add dev %s root tbf rate %s burst 32kb "
                "latency 200ms", n->ns[i], n->ns[i], TRICKLE_RATE);
        }
        break;
    case FAULT_DELAY:
    case FAULT__MAX:
        g_assert_not_reached();
    }
}

static void net_restore(Net *n, Fault f)
{
    g_test_message("link: %s undone", fault_names[f]);
    switch (f) {
    case FAULT_CUT_DOWN:
        CMD("ip -n %s link set dev %s up", n->ns[SRC], n->ns[SRC]);
        break;
    case FAULT_CUT_DROP:
    case FAULT_LOSS:
        net_nft_remove(n);
        break;
    case FAULT_TRICKLE:
        for (int i = SRC; i <= DST; i++) {
            CMD("tc -n %s qdisc del dev %s root", n->ns[i], n->ns[i]);
        }
        break;
    case FAULT_DELAY:
    case FAULT__MAX:
        g_assert_not_reached();
    }
}

/* ---- a delaying relay ------------------------------------------------------ */

/*
 * A TCP relay between the namespaces: it listens in the source's (on
 * the source's veth address) and connects on to the destination from
 * the destination's namespace, so the traffic still crosses the veth.
 * Every chunk it reads is written DELAY_MS later, in order, each way;
 * at most RELAY_MAX_QUEUED bytes wait per direction.
 */
#define RELAY_MAX_QUEUED (8 << 20)

typedef struct RelayChunk {
    gint64 due;             /* monotonic time to write it */
    size_t len;             /* 0: the end of the stream */
    char data[];
} RelayChunk;

typedef struct RelayDir {
    int from, to;
    GAsyncQueue *queue;     /* RelayChunk * */
    GMutex lock;
    GCond room;             /* signalled when queued drops */
    size_t queued;          /* protected by @lock */
} RelayDir;

typedef struct Relay {
    int listen_fd;          /* bound in the source's namespace */
    int port;
    int dst_ns_fd;
    char *target_ip;
    int target_port;
    pthread_t thread;
} Relay;

static void *relay_reader(void *opaque)
{
    RelayDir *d = opaque;

    for (;;) {
        char buf[65536];
        ssize_t n = read(d->from, buf, sizeof(buf));
        RelayChunk *c;

        if (n < 0 && errno == EINTR) {
            continue;
        }
        n = MAX(n, 0);
        c = g_malloc(sizeof(*c) + n);
        c->due = g_get_monotonic_time() + DELAY_MS * 1000;
        c->len = n;
        memcpy(c->data, buf, n);
        g_mutex_lock(&d->lock);
        while (d->queued > RELAY_MAX_QUEUED) {
            g_cond_wait(&d->room, &d->lock);
        }
        d->queued += n;
        g_mutex_unlock(&d->lock);
        g_async_queue_push(d->queue, c);
        if (!n) {
            return NULL;
        }
    }
}

static void *relay_writer(void *opaque)
{
    RelayDir *d = opaque;
    bool broken = false;

    for (;;) {
        RelayChunk *c = g_async_queue_pop(d->queue);
        gint64 wait = c->due - g_get_monotonic_time();
        size_t len = c->len;

        /* The delay itself: this chunk is due that much later. */
        if (wait > 0 && len) {
            g_usleep(wait);
        }
        for (size_t done = 0; !broken && done < len;) {
            ssize_t w = send(d->to, c->data + done, len - done,
                             MSG_NOSIGNAL);

            if (w < 0 && errno == EINTR) {
                continue;
            }
            if (w <= 0) {
                /* The far side is gone: stop reading this way too. */
                broken = true;
                shutdown(d->from, SHUT_RDWR);
                break;
            }
            done += w;
        }
        g_free(c);
        g_mutex_lock(&d->lock);
        d->queued -= len;
        g_cond_signal(&d->room);
        g_mutex_unlock(&d->lock);
        if (!len) {
            shutdown(d->to, SHUT_WR);
            return NULL;
        }
    }
}

static void relay_dir_start(int from, int to)
{
    RelayDir *d = g_new0(RelayDir, 1);
    pthread_t t;

    d->from = from;
    d->to = to;
    d->queue = g_async_queue_new();
    g_mutex_init(&d->lock);
    g_cond_init(&d->room);
    /* They live until the test process ends. */
    g_assert_cmpint(pthread_create(&t, NULL, relay_reader, d), ==, 0);
    pthread_detach(t);
    g_assert_cmpint(pthread_create(&t, NULL, relay_writer, d), ==, 0);
    pthread_detach(t);
}

static int tcp_socket_to(const char *ip, int port, bool listen_there)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(inet_pton(AF_INET, ip, &a.sin_addr), ==, 1);
    if (listen_there) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        g_assert_cmpint(bind(fd, (struct sockaddr *)&a, sizeof(a)), ==, 0);
        g_assert_cmpint(listen(fd, 16), ==, 0);
    } else if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Accepts in the source's namespace, connects from the destination's. */
static void *relay_thread(void *opaque)
{
    Relay *r = opaque;

    /* Only this thread moves: the rest of the test stays where it was. */
    g_assert_cmpint(setns(r->dst_ns_fd, CLONE_NEWNET), ==, 0);
    for (;;) {
        int a = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        int b;

        if (a < 0) {
            if (errno == EINTR) {
                continue;
            }
            return NULL;
        }
        b = tcp_socket_to(r->target_ip, r->target_port, false);
        if (b < 0) {
            close(a);
            continue;
        }
        relay_dir_start(a, b);
        relay_dir_start(b, a);
    }
}

static int ns_fd(const char *ns)
{
    g_autofree char *path = g_strdup_printf("/run/netns/%s", ns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    g_assert_cmpint(fd, >=, 0);
    return fd;
}

/* Start a relay to the destination at @port; its own port is r->port. */
static void relay_start(Relay *r, Net *n, int port)
{
    int here = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    int src = ns_fd(n->ns[SRC]);
    struct sockaddr_in a;
    socklen_t len = sizeof(a);

    g_assert_cmpint(here, >=, 0);
    g_assert_cmpint(setns(src, CLONE_NEWNET), ==, 0);
    r->listen_fd = tcp_socket_to(net_ip[SRC], 0, true);
    g_assert_cmpint(setns(here, CLONE_NEWNET), ==, 0);
    close(here);
    close(src);
    g_assert_cmpint(getsockname(r->listen_fd, (struct sockaddr *)&a, &len),
                    ==, 0);
    r->port = ntohs(a.sin_port);
    r->dst_ns_fd = ns_fd(n->ns[DST]);
    r->target_ip = g_strdup(net_ip[DST]);
    r->target_port = port;
    g_assert_cmpint(pthread_create(&r->thread, NULL, relay_thread, r), ==, 0);
    g_test_message("relay: %s:%d -> %s:%d, %d ms each way", net_ip[SRC],
                   r->port, net_ip[DST], port, DELAY_MS);
}

/* ---- the migration -------------------------------------------------------- */

typedef struct Run {
    const NetCase *c;
    Net net;
    QTestState *src, *dst;
    char *image;        /* the rate guest's, under a trickle */
    char *uri;          /* where the source migrates */
    Relay relay;
} Run;

static bool run_is_postcopy(const Run *r)
{
    return r->c->mode == MODE_POSTCOPY || r->c->mode == MODE_PREEMPT;
}

/*
 * The stamp guest dirties ~99 MiB faster than a lossy, trickling or
 * relayed link moves it, so precopy over those would chase it forever:
 * they migrate the rate guest's small working set instead.  Postcopy
 * finishes whatever the dirty rate, so it keeps the stamp guest but
 * under a trickle (99 MiB at 2 MB/s is too long a wait).
 */
static bool run_uses_rate_guest(const Run *r)
{
    Fault f = r->c->fault;

    if (r->c->cancel || f == FAULT_CUT_DOWN || f == FAULT_CUT_DROP) {
        return false;
    }
    return f == FAULT_TRICKLE || !run_is_postcopy(r);
}

static char *dst_uri(int port)
{
    return g_strdup_printf("tcp:%s:%d", net_ip[DST], port);
}

static QTestState *start_dest(Run *r, int port)
{
    g_autofree char *uri = dst_uri(port);
    g_autofree char *args = NULL;
    QTestState *dst;

    net_enter_for_start(&r->net, DST);
    if (r->image) {
        args = mig_machine_args(qtest_accel(), r->image, "-incoming defer");
        dst = qtest_initf("%s", args);
    } else {
        dst = mig_start_dest("defer", NULL);
    }
    net_leave_for_start();
    return dst;
}

/* Capabilities and x-socket-timeout on @s, then listen when @dst_port. */
static void setup_side(Run *r, QTestState *s, int dst_port)
{
    if (r->c->timeout_ms) {
        mig_set_parameter(s, "x-socket-timeout", r->c->timeout_ms);
    }
    switch (r->c->mode) {
    case MODE_MULTIFD:
        mig_set_capability(s, "multifd", true);
        mig_set_parameter(s, "multifd-channels", 2);
        break;
    case MODE_PREEMPT:
        mig_set_capability(s, "postcopy-ram", true);
        mig_set_capability(s, "postcopy-preempt", true);
        break;
    case MODE_POSTCOPY:
        mig_set_capability(s, "postcopy-ram", true);
        break;
    default:
        break;
    }
    if (dst_port) {
        g_autofree char *uri = dst_uri(dst_port);

        mig_incoming(s, uri, true);
    }
}

static void run_start(Run *r, const NetCase *c)
{
    memset(r, 0, sizeof(*r));
    r->c = c;
    net_up(&r->net);
    if (run_uses_rate_guest(r)) {
        r->image = mig_rate_image(RATE_WSET_MIB, 0);
    }
    net_enter_for_start(&r->net, SRC);
    r->src = r->image ? mig_start_guest(qtest_accel(), r->image, NULL)
                      : mig_start_source(NULL);
    net_leave_for_start();
    r->dst = start_dest(r, PORT_MIGRATE);
    setup_side(r, r->src, 0);
    setup_side(r, r->dst, PORT_MIGRATE);
    if (c->fault == FAULT_DELAY) {
        relay_start(&r->relay, &r->net, PORT_MIGRATE);
        r->uri = g_strdup_printf("tcp:%s:%d", net_ip[SRC], r->relay.port);
    } else {
        r->uri = dst_uri(PORT_MIGRATE);
    }
}

static void run_end(Run *r)
{
    if (r->src) {
        mig_quit_clean(r->src);
    }
    if (r->dst) {
        mig_quit_clean(r->dst);
    }
    if (r->image) {
        unlink(r->image);
        g_free(r->image);
    }
    g_free(r->uri);
    net_down(&r->net);
}

/* Postcopy modes: into postcopy once precopy runs; both sides there. */
static void switch_to_postcopy(Run *r)
{
    static const char *const active[] = { "active", NULL };
    static const char *const pc_active[] = { "postcopy-active", NULL };

    g_free(mig_wait_status(r->src, active));
    mig_wait_more_passes(r->src, 1);
    qtest_qmp_assert_success(r->src,
                             "{\"execute\": \"migrate-start-postcopy\"}");
    g_free(mig_wait_status(r->src, pc_active));
    g_free(mig_wait_status(r->dst, pc_active));
    mig_wait_running(r->dst);
}

/* Completed on both sides, the destination's guest the source's. */
static void finish_completed(Run *r)
{
    static const char *const completed[] = { "completed", NULL };
    g_autoptr(GBytes) src_mem = NULL;
    g_autoptr(JsonNode) info = NULL;

    mig_wait_completed(r->src);
    g_free(mig_wait_status(r->dst, completed));
    info = mig_query(r->src);
    g_test_message("%s completed: %" G_GINT64_FORMAT " ms, %"
                   G_GINT64_FORMAT " bytes, downtime %" G_GINT64_FORMAT
                   " ms", r->uri, mig_info_int(info, "total-time"),
                   mig_ram_counter(info, "transferred"),
                   mig_info_int(info, "downtime"));
    if (r->image) {
        mig_check_rate_dest(r->dst, RATE_WSET_MIB);
    } else {
        src_mem = mig_stamp_memory(r->src);
        mig_check_dest(r->dst, src_mem, false);
    }
}

/*
 * Loss, a trickle, delay: the migration runs under the fault from its
 * first byte to its last and completes, x-socket-timeout left at its
 * default: a slow or lossy link is no dead one.
 */
static void test_degraded(const NetCase *c)
{
    Run r;

    run_start(&r, c);
    if (c->fault != FAULT_DELAY) {
        net_fault(&r.net, c->fault);
    }
    /* Postcopy modes: a precopy that cannot finish first, then postcopy. */
    mig_set_parameter(r.src, "max-bandwidth", run_is_postcopy(&r) ?
                      SLOW_PRECOPY_BW : MIG_BW_UNLIMITED);
    /*
     * A trickle or a lossy link moves the rate guest's working set in
     * seconds: let the switchover take that long rather than chase its
     * dirtying forever.
     */
    mig_set_parameter(r.src, "downtime-limit",
                      c->fault == FAULT_DELAY ? 300 : 20000);
    mig_migrate(r.src, r.uri);
    if (run_is_postcopy(&r)) {
        switch_to_postcopy(&r);
    }
    finish_completed(&r);
    if (c->fault != FAULT_DELAY) {
        net_restore(&r.net, c->fault);
    }
    run_end(&r);
}

/*
 * The stamp guest over a trickle: precopy cannot converge, but it keeps
 * moving (the link is slow, not dead: x-socket-timeout at its default
 * never fires) and migrate_cancel ends it at once, the source's guest
 * running on intact.
 */
static void test_cancel_degraded(const NetCase *c)
{
    static const char *const cancelled[] = { "cancelled", NULL };
    static const char *const failed[] = { "failed", NULL };
    int64_t before = -1, after = -1;
    gint64 asked, start;
    Run r;

    run_start(&r, c);
    net_fault(&r.net, c->fault);
    mig_start_crawl(r.src, r.uri, MIG_BW_UNLIMITED);
    /*
     * Watch it for longer than x-socket-timeout's default: it must stay
     * active and keep moving (a slow link is not a dead one).
     */
    start = g_get_monotonic_time();
    while (g_get_monotonic_time() - start < ALIVE_WATCH_S * G_USEC_PER_SEC) {
        g_autoptr(JsonNode) info = mig_query(r.src);
        g_autofree char *st = mig_status(r.src);
        int64_t now = mig_ram_counter(info, "transferred");

        g_assert_cmpstr(st, ==, "active");
        before = before < 0 ? now : before;
        after = now;
        g_usleep(100 * 1000);   /* a poll period, not a synchronisation */
    }
    g_test_message("trickle: %" G_GINT64_FORMAT " bytes in %d s",
                   after - before, ALIVE_WATCH_S);
    g_assert_cmpint(after, >, before);
    asked = g_get_monotonic_time();
    qtest_qmp_assert_success(r.src, "{\"execute\": \"migrate_cancel\"}");
    g_free(mig_wait_status(r.src, cancelled));
    g_test_message("cancelled in %.1f s",
                   (g_get_monotonic_time() - asked) / 1e6);
    g_assert_cmpint(g_get_monotonic_time() - asked, <,
                    CUT_SLACK_S * G_USEC_PER_SEC);
    mig_check_source_survived(r.src);
    g_free(mig_wait_status(r.dst, failed));
    net_restore(&r.net, c->fault);
    run_end(&r);
}

/* The timeout a cut must be noticed within, as set or by default. */
static int cut_bound_s(const NetCase *c)
{
    unsigned int ms = c->timeout_ms ? c->timeout_ms
                                    : 10000 /* the documented default */;

    return ms / 1000 + CUT_SLACK_S;
}

/* Wait for @want on @s and check it came within the cut's bound. */
static void wait_noticed(const NetCase *c, QTestState *s, const char *side,
                         const char *const *want, gint64 cut_at)
{
    g_autofree char *st = mig_wait_status(s, want);
    double took = (g_get_monotonic_time() - cut_at) / 1e6;

    g_test_message("%s: %s %.1f s after the cut (bound %d s)", side, st,
                   took, cut_bound_s(c));
    if (took > cut_bound_s(c)) {
        g_error("%s noticed the cut after %.1f s, more than x-socket-timeout "
                "allows (%d s)", side, took, cut_bound_s(c));
    }
}

/*
 * A cut precopy or multifd migration fails on both sides within the
 * bound; the source's guest runs on intact, and once the link is back
 * it migrates to a fresh destination.
 */
static void test_cut_precopy(const NetCase *c)
{
    static const char *const failed[] = { "failed", NULL };
    g_autoptr(JsonNode) info = NULL;
    bool running = true;
    g_autofree char *dst_st = NULL;
    Run r;
    gint64 cut_at;

    run_start(&r, c);
    if (c->cut_first) {
        net_fault(&r.net, c->fault);
        cut_at = g_get_monotonic_time();
        mig_migrate(r.src, r.uri);
    } else {
        mig_start_crawl(r.src, r.uri, MIG_CRAWL_BW);
        net_fault(&r.net, c->fault);
        cut_at = g_get_monotonic_time();
    }
    wait_noticed(c, r.src, "source", failed, cut_at);
    /* Cut before the connect: the destination never heard of it. */
    if (!c->cut_first) {
        wait_noticed(c, r.dst, "destination", failed, cut_at);
    }
    info = mig_query(r.src);
    g_test_message("source error: %s", mig_error_desc(info));
    dst_st = qtest_query_status(r.dst, &running);
    g_assert_false(running);
    g_assert_cmpuint(qtest_file_count_char(qtest_serial_path(r.dst), 'B'),
                     ==, 0);
    mig_check_source_survived(r.src);
    mig_quit_clean(r.dst);

    net_restore(&r.net, c->fault);
    r.dst = start_dest(&r, PORT_AGAIN);
    setup_side(&r, r.dst, PORT_AGAIN);
    g_free(r.uri);
    r.uri = dst_uri(PORT_AGAIN);
    mig_set_parameter(r.src, "max-bandwidth", MIG_BW_UNLIMITED);
    mig_migrate(r.src, r.uri);
    finish_completed(&r);
    run_end(&r);
}

static void resume(QTestState *src, const char *uri)
{
    qtest_qmp_assert_success(src, "{\"execute\": \"migrate\", "
                             "\"arguments\": {\"uri\": \"%s\", "
                             "\"resume\": true}}", uri);
}

/*
 * A resume clears the paused migration's error and sets its own if it
 * fails: wait for postcopy-paused with an error again, within the bound.
 */
static void wait_resume_failed(const NetCase *c, QTestState *src,
                               gint64 asked)
{
    for (;;) {
        g_autoptr(JsonNode) info = mig_query(src);
        g_autofree char *st = mig_status(src);
        JsonObject *o = json_node_get_object(info);
        double took = (g_get_monotonic_time() - asked) / 1e6;

        if (g_str_equal(st, "postcopy-paused") &&
            json_object_has_member(o, "error-desc")) {
            g_test_message("resume over the cut link failed after %.1f s: "
                           "%s", took, mig_error_desc(info));
            return;
        }
        if (took > cut_bound_s(c)) {
            g_autofree char *txt = qmp_to_string(info);
            g_error("a resume over the cut link still runs after %.1f s "
                    "(bound %d s): %s", took, cut_bound_s(c), txt);
        }
        g_usleep(MIG_POLL_MS * 1000);
    }
}

/*
 * A cut postcopy migration pauses both sides within the bound (the
 * source's guest stopped, the destination's running), then recovers
 * over the restored link and completes.
 */
static void test_cut_postcopy(const NetCase *c)
{
    static const char *const paused[] = { "postcopy-paused", NULL };
    g_autofree char *recover = dst_uri(PORT_RECOVER);
    bool running = true;
    g_autofree char *st = NULL;
    Run r;
    gint64 cut_at;

    run_start(&r, c);
    mig_set_parameter(r.src, "max-bandwidth", SLOW_PRECOPY_BW);
    mig_set_parameter(r.src, "max-postcopy-bandwidth", POSTCOPY_BW);
    mig_migrate(r.src, r.uri);
    switch_to_postcopy(&r);
    net_fault(&r.net, c->fault);
    cut_at = g_get_monotonic_time();
    wait_noticed(c, r.src, "source", paused, cut_at);
    wait_noticed(c, r.dst, "destination", paused, cut_at);
    st = qtest_query_status(r.src, &running);
    g_assert_false(running);
    mig_assert_running(r.dst);

    qtest_qmp_assert_success(r.dst, "{\"execute\": \"migrate-recover\", "
                             "\"arguments\": {\"uri\": \"%s\"}}", recover);
    /* A resume over the still-cut link fails in time and stays paused. */
    cut_at = g_get_monotonic_time();
    resume(r.src, recover);
    wait_resume_failed(c, r.src, cut_at);
    net_restore(&r.net, c->fault);
    mig_set_parameter(r.src, "max-postcopy-bandwidth", 0);
    resume(r.src, recover);
    finish_completed(&r);
    run_end(&r);
}

static void run_net_case(const NetCase *c)
{
    switch (c->fault) {
    case FAULT_CUT_DOWN:
    case FAULT_CUT_DROP:
        if (c->mode == MODE_POSTCOPY || c->mode == MODE_PREEMPT) {
            test_cut_postcopy(c);
        } else {
            test_cut_precopy(c);
        }
        return;
    default:
        if (c->cancel) {
            test_cancel_degraded(c);
        } else {
            test_degraded(c);
        }
        return;
    }
}

/* ---- the parameter (no namespaces) ---------------------------------------- */

static int64_t query_timeout(QTestState *s)
{
    g_autoptr(JsonNode) ret = qtest_qmp_assert_success_ref(
        s, "{\"execute\": \"query-migrate-parameters\"}");

    return json_object_get_int_member(json_node_get_object(ret),
                                      "x-socket-timeout");
}

static void test_parameter(const NetCase *c)
{
    QTestState *s = qtest_initf("-accel qtest -m 16M -nodefaults");
    g_autofree char *hmp = NULL;

    g_assert_cmpint(query_timeout(s), ==, 10000);
    mig_set_parameter(s, "x-socket-timeout", 2500);
    g_assert_cmpint(query_timeout(s), ==, 2500);
    mig_set_parameter(s, "x-socket-timeout", 0);
    g_assert_cmpint(query_timeout(s), ==, 0);
    qtest_qmp_assert_error(s, "Parameter 'x-socket-timeout' expects a value "
                           "between 0 and 3600000 ms",
                           "{\"execute\": \"migrate-set-parameters\", "
                           "\"arguments\": {\"x-socket-timeout\": 3600001}}");
    qtest_qmp_assert_error(s, "x-socket-timeout",
                           "{\"execute\": \"migrate-set-parameters\", "
                           "\"arguments\": {\"x-socket-timeout\": -1}}");
    g_assert_cmpint(query_timeout(s), ==, 0);
    g_free(qtest_hmp(s, "migrate_set_parameter x-socket-timeout 4000"));
    g_assert_cmpint(query_timeout(s), ==, 4000);
    hmp = qtest_hmp(s, "info migrate_parameters");
    g_assert_nonnull(strstr(hmp, "x-socket-timeout: 4000"));
    mig_quit_clean(s);
}

/* ---- cases ---------------------------------------------------------------- */

/* Can this process make namespaces, and are the tools there? */
static const char *net_unusable(const NetCase *c)
{
    static char *why;
    static bool probed;

    if (!probed) {
        g_autofree char *err = NULL;
        g_autofree char *probe = g_strdup_printf("qmnf%dp", (int)getpid());

        probed = true;
        if (geteuid() != 0) {
            why = g_strdup_printf("needs root to create network namespaces "
                                  "(running as uid %d)", (int)geteuid());
        } else if (!cmd_ok(&err, "ip netns add %s", probe)) {
            why = g_strdup_printf("cannot create a network namespace: %s",
                                  err);
        } else {
            cmd_ok(NULL, "ip netns delete %s", probe);
        }
    }
    if (why) {
        return why;
    }
    if ((c->fault == FAULT_CUT_DROP || c->fault == FAULT_LOSS) &&
        !g_find_program_in_path("nft")) {
        return "needs nft (nftables) to drop packets";
    }
    if (c->fault == FAULT_TRICKLE && !g_find_program_in_path("tc")) {
        return "needs tc (iproute2) for the token bucket";
    }
    return NULL;
}

/* Namespaces left by test processes that are gone (killed, not failed). */
static void net_remove_stale(void)
{
    g_autofree char *out = NULL;
    g_auto(GStrv) lines = NULL;
    const char *argv[] = { "ip", "netns", "list", NULL };

    if (geteuid() != 0 ||
        !g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH |
                      G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL,
                      NULL, NULL)) {
        return;
    }
    lines = g_strsplit(out, "\n", -1);
    for (int i = 0; lines[i]; i++) {
        int pid = 0;
        char side = 0;

        if (sscanf(lines[i], "qmnf%d%c", &pid, &side) == 2 && pid > 0 &&
            (side == 's' || side == 'd') && kill(pid, 0) < 0 &&
            errno == ESRCH) {
            net_remove(pid);
        }
    }
}

static void run_case(gconstpointer opaque)
{
    const NetCase *c = opaque;
    const char *why;

    if (g_test_subprocess()) {
        net_owner = getppid();
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != net_owner) {
            g_error("the test process ended before the case started");
        }
        if (c->fault == FAULT__MAX) {
            test_parameter(c);
        } else {
            run_net_case(c);
        }
        return;
    }
    if (mig_skip_without_accel_or_guest()) {
        return;
    }
    if (c->fault != FAULT__MAX) {
        why = net_unusable(c);
        if (why) {
            g_test_skip(why);
            return;
        }
        if (c->fault == FAULT_TRICKLE &&
            !qtest_guest_image("QTEST_GUEST_RATE")) {
            return;
        }
    }
    g_test_trap_subprocess(NULL, (guint64)qtest_timeout_s() * 6 *
                           G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
    /* Whatever happened there: no namespace of ours outlives the case. */
    net_remove(getpid());
    if (!g_test_trap_has_passed()) {
        g_test_message("%s failed (see its stderr above)", c->path);
        g_test_fail();
    }
}

static NetCase *add_case(Mode mode, Fault fault, unsigned int timeout_ms,
                         const char *suffix, bool slow)
{
    NetCase *c;

    /* The subprocess registers every case: it runs one by its path. */
    if (slow && !g_test_slow() && !g_test_subprocess()) {
        return NULL;
    }
    c = g_new0(NetCase, 1);
    c->mode = mode;
    c->fault = fault;
    c->timeout_ms = timeout_ms;
    c->path = fault == FAULT__MAX ? g_strdup("/netfault/x-socket-timeout") :
              g_strdup_printf("/netfault/%s/%s%s", mode_names[mode],
                              fault_names[fault], suffix);
    g_test_add_data_func(c->path, c, run_case);
    return c;
}

int main(int argc, char **argv)
{
    const char *path = g_getenv("PATH");
    NetCase *c;

    /* ip, nft and tc live in sbin, which a non-login PATH may lack. */
    if (path && !strstr(path, "/usr/sbin")) {
        g_autofree char *more = g_strdup_printf("%s:/usr/sbin:/sbin", path);

        g_setenv("PATH", more, TRUE);
    }
    qtest_main_init(&argc, &argv);
    if (!g_test_subprocess()) {
        net_remove_stale();
    }
    add_case(0, FAULT__MAX, 0, "", false);
    /* By default: the silent cut (the bound itself) and one per kind. */
    add_case(MODE_PRECOPY, FAULT_CUT_DROP, CUT_TIMEOUT_MS, "", false);
    add_case(MODE_POSTCOPY, FAULT_CUT_DOWN, CUT_TIMEOUT_MS, "", false);
    add_case(MODE_MULTIFD, FAULT_LOSS, 0, "", false);
    add_case(MODE_PRECOPY, FAULT_TRICKLE, 0, "", false);
    add_case(MODE_PREEMPT, FAULT_DELAY, 0, "", false);
    /* The rest of the matrix. */
    for (Mode m = 0; m < MODE__MAX; m++) {
        for (Fault f = 0; f < FAULT__MAX; f++) {
            bool dflt = (m == MODE_PRECOPY && f == FAULT_CUT_DROP) ||
                        (m == MODE_POSTCOPY && f == FAULT_CUT_DOWN) ||
                        (m == MODE_MULTIFD && f == FAULT_LOSS) ||
                        (m == MODE_PRECOPY && f == FAULT_TRICKLE) ||
                        (m == MODE_PREEMPT && f == FAULT_DELAY);
            bool cut = f == FAULT_CUT_DOWN || f == FAULT_CUT_DROP;

            if (!dflt) {
                add_case(m, f, cut ? CUT_TIMEOUT_MS : 0, "", true);
            }
        }
    }
    /* Connecting over a silently cut link ends in time too. */
    c = add_case(MODE_PRECOPY, FAULT_CUT_DROP, CUT_TIMEOUT_MS,
                 "-before-connect", true);
    if (c) {
        c->cut_first = true;
    }
    /* A precopy that cannot finish over a trickle stays cancellable. */
    c = add_case(MODE_PRECOPY, FAULT_TRICKLE, 0, "-cancel", true);
    if (c) {
        c->cancel = true;
    }
    /* The default x-socket-timeout (10 s) against a silent cut. */
    add_case(MODE_PRECOPY, FAULT_CUT_DROP, 0, "-default-timeout", true);
    add_case(MODE_PREEMPT, FAULT_CUT_DROP, 0, "-default-timeout", true);
    return g_test_run();
}
