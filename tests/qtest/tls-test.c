/*
 * Migration over TLS: the stamp guest migrated with tls-creds-psk,
 * tls-creds-x509 and tls-creds-anon objects, over unix and tcp, with
 * multifd (4 channels), postcopy-preempt and a postcopy recovery; the
 * failures (wrong PSK, wrong host name, anonymous client where a
 * certificate is required, tls-authz refusing) fail the source with an
 * error naming the cause, its guest runs on, and the destination still
 * takes a correct source afterwards.  A forwarding proxy checks that no
 * stream byte crosses in the clear (and, as the control, that it does
 * without TLS).
 *
 * The certificates are made per run with certtool (gnutls-bin) in a
 * temporary directory; without certtool the x509 cases skip.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "migration-helpers.h"

/* Slow enough for postcopy to start while precopy runs. */
#define SLOW_PRECOPY_BW (8ULL << 20)
#define POSTCOPY_BW     (4ULL << 20)

#define TLS_DOWNTIME_MS 5000

static char *tls_dir;           /* the run's credentials, made in main() */
static bool have_certs;         /* certtool made the x509 files */

static const char *const failed[] = { "failed", NULL };
static const char *const pc_active[] = { "postcopy-active", NULL };
static const char *const paused[] = { "postcopy-paused", NULL };

/* ---- credentials ------------------------------------------------------ */

static void write_file(const char *dir, const char *name, const char *text)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);

    g_assert_true(g_file_set_contents(path, text, -1, NULL));
}

static bool run_certtool(const char *dir, const char *args)
{
    g_autofree char *cmd = g_strdup_printf("cd '%s' && certtool %s "
                                           ">/dev/null 2>&1", dir, args);

    return system(cmd) == 0;
}

/* A CA, a server certificate (qmig.example, 127.0.0.1), a client one. */
static bool make_certs(const char *dir)
{
    g_autofree char *srv = g_build_filename(dir, "x509-server", NULL);
    g_autofree char *cli = g_build_filename(dir, "x509-client", NULL);
    g_autofree char *gen = g_build_filename(dir, "gen", NULL);
    g_autofree char *cmd = NULL;

    g_mkdir(srv, 0700);
    g_mkdir(cli, 0700);
    g_mkdir(gen, 0700);
    write_file(gen, "ca.tmpl", "cn = qmig test CA\nca\ncert_signing_key\n"
               "expiration_days = 2\n");
    write_file(gen, "server.tmpl", "cn = qmig-server\norganization = qmig\n"
               "dns_name = qmig.example\nip_address = 127.0.0.1\n"
               "tls_www_server\nencryption_key\nsigning_key\n"
               "expiration_days = 2\n");
    write_file(gen, "client.tmpl", "cn = qmig-client\norganization = qmig\n"
               "tls_www_client\nencryption_key\nsigning_key\n"
               "expiration_days = 2\n");
    if (!run_certtool(gen, "--generate-privkey --key-type=ecdsa "
                      "--outfile ca-key.pem") ||
        !run_certtool(gen, "--generate-self-signed --load-privkey ca-key.pem "
                      "--template ca.tmpl --outfile ca-cert.pem")) {
        return false;
    }
    for (int i = 0; i < 2; i++) {
        const char *who = i ? "client" : "server";

        cmd = g_strdup_printf("--generate-privkey --key-type=ecdsa "
                              "--outfile %s-key.pem", who);
        if (!run_certtool(gen, cmd)) {
            return false;
        }
        g_free(cmd);
        cmd = g_strdup_printf("--generate-certificate --load-privkey "
                              "%s-key.pem --load-ca-certificate ca-cert.pem "
                              "--load-ca-privkey ca-key.pem --template "
                              "%s.tmpl --outfile %s-cert.pem", who, who, who);
        if (!run_certtool(gen, cmd)) {
            return false;
        }
        g_free(cmd);
        cmd = NULL;
    }
    cmd = g_strdup_printf("cp '%s'/ca-cert.pem '%s'/server-*.pem '%s' && "
                          "cp '%s'/ca-cert.pem '%s'/client-*.pem '%s'",
                          gen, gen, srv, gen, gen, cli);
    return system(cmd) == 0;
}

/* keys.psk directories: "psk" (the right key), "psk-other" (another). */
static void make_psk(const char *dir)
{
    static const char *const names[] = { "psk", "psk-other" };
    static const char *const keys[] = {
        "qemu:9d7c35e1c47a8b0f5d0b38c3b6aa7e51"
        "25b4d2e2e8e8a1ac3e6e5a1f0c2b4d11\n",
        "qemu:11111111111111111111111111111111"
        "11111111111111111111111111111111\n",
    };

    for (int i = 0; i < 2; i++) {
        g_autofree char *d = g_build_filename(dir, names[i], NULL);

        g_mkdir(d, 0700);
        write_file(d, "keys.psk", keys[i]);
    }
}

static void skip_without_certs(void)
{
    g_test_skip("certtool (gnutls-bin) is missing or failed: no x509 "
                "certificates");
}

/* An x509 case: run where certtool made the certificates, else skipped. */
static void add_x509_case(const char *path, void (*fn)(void))
{
    if (have_certs) {
        mig_add_case(path, fn, false);
    } else {
        g_test_add_func(path, skip_without_certs);
    }
}

/* -object arguments for credentials of @kind from subdirectory @sub. */
static char *creds_arg(const char *kind, const char *sub, bool server)
{
    if (!sub) {
        return g_strdup_printf("-object tls-creds-%s,id=tls0,endpoint=%s",
                               kind, server ? "server" : "client");
    }
    return g_strdup_printf("-object tls-creds-%s,id=tls0,endpoint=%s,"
                           "dir=%s/%s", kind, server ? "server" : "client",
                           tls_dir, sub);
}

static void set_str_param(QTestState *s, const char *name, const char *v)
{
    qtest_qmp_assert_success(s, "{\"execute\": \"migrate-set-parameters\", "
                             "\"arguments\": {\"%s\": \"%s\"}}", name, v);
}

/* ---- a forwarding proxy that looks at the bytes ----------------------- */

/*
 * Every connection to @path is forwarded to @target; the source's bytes
 * are scanned for what a clear stream always holds: its header and the
 * stamp guest's pages (one counter byte, then 4095 zero bytes).  Each
 * direction of each connection has a thread of its own: a single thread
 * blocked writing one channel to the destination could not carry another
 * channel the destination waits for (multifd), and the migration stalled.
 */
#define PROXY_MAX_CONN 16

typedef struct Proxy Proxy;

typedef struct ProxyConn {
    Proxy *px;
    int a, b;                   /* source side, destination side */
    pthread_t fwd[2];           /* a to b (scanned), b to a */
    size_t zero_run;            /* the a-to-b thread's */
    uint8_t tail[7];            /* the last bytes, for a magic split */
    size_t tail_len;
} ProxyConn;

struct Proxy {
    char *path;
    char *target;
    int listen_fd;
    int stop_pipe[2];
    pthread_t thread;           /* accepts connections */
    ProxyConn conns[PROXY_MAX_CONN];
    int nconn;                  /* the accepting thread's until joined */
    pthread_mutex_t lock;       /* protects the counters below */
    uint64_t bytes;             /* source to destination */
    int magic_seen;             /* stream header occurrences */
    int zero_runs;              /* runs of >= 4000 zero bytes */
};

/*
 * The stream header: "QEVM" and version 3.  Eight bytes, so that random
 * cipher text matches it with odds of 2^-64 a position (four bytes would
 * match now and then in a few hundred MiB).
 */
static const uint8_t stream_magic[8] = { 'Q', 'E', 'V', 'M', 0, 0, 0, 3 };
#define MAGIC_TAIL (sizeof(stream_magic) - 1)

/* The a-to-b thread of @c; takes px->lock for the counters. */
static void proxy_scan(Proxy *px, ProxyConn *c, const uint8_t *buf,
                       size_t n)
{
    size_t total = c->tail_len + n;
    g_autofree uint8_t *joined = g_malloc(total);

    pthread_mutex_lock(&px->lock);
    /* The magic may straddle two reads: keep the last bytes. */
    memcpy(joined, c->tail, c->tail_len);
    memcpy(joined + c->tail_len, buf, n);
    for (size_t i = 0; i + sizeof(stream_magic) <= total; i++) {
        px->magic_seen += !memcmp(joined + i, stream_magic,
                                  sizeof(stream_magic));
    }
    c->tail_len = MIN(MAGIC_TAIL, total);
    memcpy(c->tail, joined + total - c->tail_len, c->tail_len);
    for (size_t i = 0; i < n; i++) {
        if (buf[i]) {
            c->zero_run = 0;
        } else if (++c->zero_run == 4000) {
            px->zero_runs++;
        }
    }
    px->bytes += n;
    pthread_mutex_unlock(&px->lock);
}

static int proxy_connect(const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    g_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One direction of a connection: read, scan (a to b), write, until EOF. */
static void *proxy_forward(ProxyConn *c, int from, int to, bool scan)
{
    uint8_t buf[65536];

    for (;;) {
        ssize_t got = read(from, buf, sizeof(buf));

        if (got <= 0) {
            break;
        }
        if (scan) {
            proxy_scan(c->px, c, buf, got);
        }
        for (ssize_t off = 0; off < got;) {
            ssize_t w = write(to, buf + off, got - off);

            if (w <= 0) {
                goto out;
            }
            off += w;
        }
    }
out:
    shutdown(to, SHUT_WR);
    return NULL;
}

static void *proxy_forward_ab(void *opaque)
{
    ProxyConn *c = opaque;

    return proxy_forward(c, c->a, c->b, true);
}

static void *proxy_forward_ba(void *opaque)
{
    ProxyConn *c = opaque;

    return proxy_forward(c, c->b, c->a, false);
}

/* Accept until stopped; each connection gets its two forwarders. */
static void *proxy_thread(void *opaque)
{
    Proxy *px = opaque;

    for (;;) {
        struct pollfd pfd[2] = {
            { .fd = px->stop_pipe[0], .events = POLLIN },
            { .fd = px->listen_fd, .events = POLLIN },
        };
        ProxyConn *c;
        int a, b;

        if (poll(pfd, 2, -1) < 0) {
            continue;
        }
        if (pfd[0].revents) {
            break;
        }
        if (!(pfd[1].revents & POLLIN) || px->nconn == PROXY_MAX_CONN) {
            continue;
        }
        a = accept(px->listen_fd, NULL, NULL);
        b = a >= 0 ? proxy_connect(px->target) : -1;
        if (b < 0) {
            if (a >= 0) {
                close(a);
            }
            continue;
        }
        c = &px->conns[px->nconn++];
        *c = (ProxyConn){ .px = px, .a = a, .b = b };
        g_assert_cmpint(pthread_create(&c->fwd[0], NULL, proxy_forward_ab, c),
                        ==, 0);
        g_assert_cmpint(pthread_create(&c->fwd[1], NULL, proxy_forward_ba, c),
                        ==, 0);
    }
    return NULL;
}

static void proxy_start(Proxy *px, QTestState *s, const char *target)
{
    px->path = g_strdup(qtest_path(s, "proxy.sock"));
    px->target = g_strdup(target);
    px->listen_fd = qtest_unix_listen(px->path);
    px->nconn = 0;
    pthread_mutex_init(&px->lock, NULL);
    g_assert_cmpint(pipe(px->stop_pipe), ==, 0);
    g_assert_cmpint(pthread_create(&px->thread, NULL, proxy_thread, px),
                    ==, 0);
}

static void proxy_stop(Proxy *px)
{
    g_assert_cmpint(write(px->stop_pipe[1], "x", 1), ==, 1);
    pthread_join(px->thread, NULL);
    /* The VMs are gone or going: unblock and join the forwarders. */
    for (int i = 0; i < px->nconn; i++) {
        ProxyConn *c = &px->conns[i];

        shutdown(c->a, SHUT_RDWR);
        shutdown(c->b, SHUT_RDWR);
        pthread_join(c->fwd[0], NULL);
        pthread_join(c->fwd[1], NULL);
        close(c->a);
        close(c->b);
    }
    pthread_mutex_destroy(&px->lock);
    close(px->stop_pipe[0]);
    close(px->stop_pipe[1]);
    close(px->listen_fd);
    g_free(px->path);
    g_free(px->target);
}

/* ---- the cases --------------------------------------------------------- */

typedef struct TLSCase {
    const char *kind;           /* psk, x509, anon; NULL: no TLS */
    const char *src_sub;        /* the source's credentials directory */
    const char *dst_sub;        /* the destination's */
    const char *src_kind;       /* the source's kind if not @kind */
    bool tcp;
    const char *hostname;       /* tls-hostname on the source */
    const char *dst_authz;      /* -object for tls-authz "authz0" */
    int multifd;                /* channels; 0: no multifd */
    const char *fail;           /* expected in the source's error-desc */
} TLSCase;

static char *case_args(const TLSCase *c, bool server)
{
    const char *kind = !server && c->src_kind ? c->src_kind : c->kind;

    if (!kind) {
        return g_strdup("");
    }
    return creds_arg(kind, server ? c->dst_sub : c->src_sub, server);
}

static void case_params(QTestState *s, const TLSCase *c, bool server)
{
    if (c->kind) {
        set_str_param(s, "tls-creds", "tls0");
    }
    if (!server && c->hostname) {
        set_str_param(s, "tls-hostname", c->hostname);
    }
    if (server && c->dst_authz) {
        set_str_param(s, "tls-authz", "authz0");
    }
    if (c->multifd) {
        mig_set_capability(s, "multifd", true);
        mig_set_parameter(s, "multifd-channels", c->multifd);
    }
}

/*
 * Unthrottled, and a downtime limit that converges whatever the load of
 * the machine: these cases are about the channels, not the downtime.
 */
static void set_fast(QTestState *s)
{
    mig_set_unlimited(s);
    mig_set_parameter(s, "downtime-limit", TLS_DOWNTIME_MS);
}

/* The port of a "tcp:127.0.0.1:0" destination, from its query-migrate. */
static char *dest_tcp_uri(QTestState *dst)
{
    g_autoptr(JsonNode) info = mig_query(dst);
    JsonObject *o = json_node_get_object(info);
    JsonObject *a = json_array_get_object_element(
        json_object_get_array_member(o, "socket-address"), 0);
    JsonNode *port = json_object_get_member(a, "port");

    if (json_node_get_value_type(port) == G_TYPE_STRING) {
        return g_strdup_printf("tcp:127.0.0.1:%s", json_node_get_string(port));
    }
    return g_strdup_printf("tcp:127.0.0.1:%" G_GINT64_FORMAT,
                           json_node_get_int(port));
}

/*
 * Migrate with @c.  A failing case checks the source's error and that
 * its guest runs on, then migrates again with the right credentials
 * (a fresh source) to the same, still listening, destination.
 */
static void run_case(const TLSCase *c, Proxy *px)
{
    g_autofree char *src_args = case_args(c, false);
    g_autofree char *dst_args = case_args(c, true);
    g_autofree char *dst_more = g_strdup_printf("%s %s", dst_args,
                                                c->dst_authz ? c->dst_authz
                                                             : "");
    QTestState *src = mig_start_source(src_args);
    QTestState *dst = mig_start_dest("defer", dst_more);
    g_autofree char *uri = NULL;
    g_autoptr(GBytes) src_mem = NULL;

    case_params(dst, c, true);
    if (c->tcp) {
        mig_incoming(dst, "tcp:127.0.0.1:0", true);
        uri = dest_tcp_uri(dst);
    } else {
        /* The destination's directory: it outlives a failed source. */
        uri = g_strdup_printf("unix:%s", qtest_path(dst, "mig.sock"));
        mig_incoming(dst, uri, true);
    }
    case_params(src, c, false);
    set_fast(src);
    if (px) {
        g_autofree char *via = NULL;

        proxy_start(px, src, uri + strlen("unix:"));
        via = g_strdup_printf("unix:%s", px->path);
        mig_migrate(src, via);
    } else {
        mig_migrate(src, uri);
    }
    if (c->fail) {
        g_autoptr(JsonNode) info = NULL;
        const char *desc;
        TLSCase good = *c;

        g_free(mig_wait_status(src, failed));
        info = mig_query(src);
        desc = mig_error_desc(info);
        g_test_message("error-desc: %s", desc);
        g_assert_nonnull(strstr(desc, c->fail));
        /* The source's guest runs on. */
        mig_assert_running(src);
        mig_wait_more_passes(src, 1);
        mig_quit_clean(src);
        /* The destination still listens: a source it accepts now. */
        g_assert_true(!qtest_exited(dst));
        if (c->dst_authz) {
            /* Let the client's certificate in, by a glob on its DN. */
            qtest_qmp_assert_success(dst, "{\"execute\": \"object-del\", "
                                     "\"arguments\": {\"id\": "
                                     "\"authz0\"}}");
            qtest_qmp_assert_success(dst, "{\"execute\": \"object-add\", "
                                     "\"arguments\": {\"qom-type\": "
                                     "\"authz-list\", \"id\": \"authz0\", "
                                     "\"policy\": \"deny\", \"rules\": "
                                     "[{\"match\": \"*CN=qmig-client*\", "
                                     "\"policy\": \"allow\", \"format\": "
                                     "\"glob\"}]}}");
        }
        good.src_sub = c->dst_sub && !strcmp(c->dst_sub, "x509-server") ?
                       "x509-client" : c->dst_sub;
        good.src_kind = NULL;
        good.hostname = c->tcp ? NULL : "qmig.example";
        g_free(src_args);
        src_args = case_args(&good, false);
        src = mig_start_source(src_args);
        good.dst_authz = NULL;
        case_params(src, &good, false);
        set_fast(src);
        mig_migrate(src, uri);
    }
    mig_wait_completed(src);
    src_mem = mig_stamp_memory(src);
    mig_check_dest(dst, src_mem, false);
    mig_quit_clean(src);
    mig_quit_clean(dst);
}

static void test_psk_unix(void)
{
    TLSCase c = { .kind = "psk", .src_sub = "psk", .dst_sub = "psk" };

    run_case(&c, NULL);
}

static void test_psk_mismatch(void)
{
    TLSCase c = { .kind = "psk", .src_sub = "psk-other", .dst_sub = "psk",
                  .fail = "pre-shared key of user 'qemu'" };

    run_case(&c, NULL);
}

static void test_x509_tcp_default_host(void)
{
    TLSCase c = { .kind = "x509", .src_sub = "x509-client",
                  .dst_sub = "x509-server", .tcp = true };

    run_case(&c, NULL);
}

static void test_x509_unix_hostname(void)
{
    TLSCase c = { .kind = "x509", .src_sub = "x509-client",
                  .dst_sub = "x509-server", .hostname = "qmig.example" };

    run_case(&c, NULL);
}

static void test_x509_wrong_host(void)
{
    TLSCase c = { .kind = "x509", .src_sub = "x509-client",
                  .dst_sub = "x509-server", .hostname = "other.example",
                  .fail = "does not match the host name 'other.example'" };

    run_case(&c, NULL);
}

static void test_anon(void)
{
    TLSCase c = { .kind = "anon" };

    run_case(&c, NULL);
}

/* An anonymous client where the destination wants a certificate. */
static void test_anon_rejected(void)
{
    TLSCase c = { .kind = "x509", .src_kind = "anon",
                  .dst_sub = "x509-server",
                  .fail = "anonymous credentials" };

    run_case(&c, NULL);
}

static void test_authz_accept(void)
{
    TLSCase c = { .kind = "psk", .src_sub = "psk", .dst_sub = "psk",
                  .dst_authz = "-object authz-simple,id=authz0,"
                               "identity=qemu" };

    run_case(&c, NULL);
}

static void test_authz_refuse(void)
{
    TLSCase c = { .kind = "x509", .src_sub = "x509-client",
                  .dst_sub = "x509-server", .hostname = "qmig.example",
                  .dst_authz = "-object authz-list,id=authz0,policy=deny",
                  .fail = "Access was denied" };

    run_case(&c, NULL);
}

static void test_multifd_x509(void)
{
    TLSCase c = { .kind = "x509", .src_sub = "x509-client",
                  .dst_sub = "x509-server", .tcp = true, .multifd = 4 };

    run_case(&c, NULL);
}

/* Nothing of the stream is readable on the wire; without TLS it is. */
static void test_no_cleartext(void)
{
    TLSCase tls = { .kind = "psk", .src_sub = "psk", .dst_sub = "psk",
                    .multifd = 2 };
    TLSCase plain = { .multifd = 2 };
    Proxy a = { 0 }, b = { 0 };

    run_case(&plain, &a);
    proxy_stop(&a);
    g_test_message("clear: %" PRIu64 " bytes, %d magic, %d zero runs",
                   a.bytes, a.magic_seen, a.zero_runs);
    /* The control: the scan finds the clear stream. */
    g_assert_cmpint(a.magic_seen, >, 0);
    g_assert_cmpint(a.zero_runs, >, 1000);
    run_case(&tls, &b);
    proxy_stop(&b);
    g_test_message("tls: %" PRIu64 " bytes, %d magic, %d zero runs",
                   b.bytes, b.magic_seen, b.zero_runs);
    g_assert_cmpuint(b.bytes, >, 50 << 20);
    g_assert_cmpint(b.zero_runs, ==, 0);
    g_assert_cmpint(b.magic_seen, ==, 0);
}

/* Postcopy with its preempt channel, both under TLS; then a recovery. */
static void run_postcopy(bool recover)
{
    g_autofree char *src_args = creds_arg("psk", "psk", false);
    g_autofree char *dst_args = creds_arg("psk", "psk", true);
    QTestState *src = mig_start_source(src_args);
    g_autofree char *uri = g_strdup_printf("unix:%s",
                                           qtest_path(src, "mig.sock"));
    QTestState *dst = mig_start_dest("defer", dst_args);
    g_autoptr(GBytes) src_mem = NULL;
    static const char *const active[] = { "active", NULL };

    for (int i = 0; i < 2; i++) {
        QTestState *s = i ? dst : src;

        mig_set_capability(s, "postcopy-ram", true);
        mig_set_capability(s, "postcopy-preempt", true);
        set_str_param(s, "tls-creds", "tls0");
    }
    mig_incoming(dst, uri, false);
    mig_set_parameter(src, "max-bandwidth", SLOW_PRECOPY_BW);
    mig_set_parameter(src, "max-postcopy-bandwidth", POSTCOPY_BW);
    mig_migrate(src, uri);
    g_free(mig_wait_status(src, active));
    qtest_qmp_assert_success(src, "{\"execute\": \"migrate-start-postcopy\"}");
    g_free(mig_wait_status(src, pc_active));
    g_free(mig_wait_status(dst, pc_active));
    mig_wait_running(dst);
    if (recover) {
        g_autofree char *ruri = g_strdup_printf(
            "unix:%s", qtest_path(dst, "recover.sock"));

        qtest_qmp_assert_success(src, "{\"execute\": \"migrate-pause\"}");
        g_free(mig_wait_status(src, paused));
        g_free(mig_wait_status(dst, paused));
        qtest_qmp_assert_success(dst, "{\"execute\": \"migrate-recover\", "
                                 "\"arguments\": {\"uri\": \"%s\"}}", ruri);
        qtest_qmp_assert_success(src, "{\"execute\": \"migrate\", "
                                 "\"arguments\": {\"uri\": \"%s\", "
                                 "\"resume\": true}}", ruri);
        g_free(mig_wait_status(src, pc_active));
    }
    mig_set_parameter(src, "max-postcopy-bandwidth", 0);
    mig_wait_completed(src);
    src_mem = mig_stamp_memory(src);
    mig_check_dest(dst, src_mem, false);
    mig_quit_clean(src);
    mig_quit_clean(dst);
}

static void test_postcopy_preempt(void) { run_postcopy(false); }
static void test_postcopy_recover(void) { run_postcopy(true); }

/* ---- refusals before any connection ------------------------------------ */

static void test_refusals(void)
{
    g_autofree char *src_args = NULL;
    QTestState *s;

    src_args = g_strdup_printf("-object tls-creds-psk,id=tls0,"
                               "endpoint=client,dir=%s/psk -object "
                               "tls-creds-psk,id=tlss,endpoint=server,"
                               "dir=%s/psk", tls_dir, tls_dir);
    s = mig_start_source(src_args);
    /* fd:, exec: and file: cannot carry TLS. */
    set_str_param(s, "tls-creds", "tls0");
    qtest_qmp_assert_error(s, "cannot carry it",
                           "{\"execute\": \"migrate\", \"arguments\": "
                           "{\"uri\": \"exec:cat >/dev/null\"}}");
    qtest_qmp_assert_error(s, "cannot carry it",
                           "{\"execute\": \"migrate\", \"arguments\": "
                           "{\"uri\": \"file:/dev/null\"}}");
    /* Server credentials on the source, and no such object. */
    set_str_param(s, "tls-creds", "tlss");
    qtest_qmp_assert_error(s, "endpoint=client",
                           "{\"execute\": \"migrate\", \"arguments\": "
                           "{\"uri\": \"unix:/nonexistent\"}}");
    set_str_param(s, "tls-creds", "nosuch");
    qtest_qmp_assert_error(s, "No TLS credentials with id 'nosuch'",
                           "{\"execute\": \"migrate\", \"arguments\": "
                           "{\"uri\": \"unix:/nonexistent\"}}");
    /* object-add errors name the object and the file. */
    qtest_qmp_assert_error(s, "keys.psk",
                           "{\"execute\": \"object-add\", \"arguments\": "
                           "{\"qom-type\": \"tls-creds-psk\", \"id\": "
                           "\"bad\", \"endpoint\": \"client\", \"dir\": "
                           "\"/nonexistent\"}}");
    qtest_qmp_assert_error(s, "ca-cert.pem",
                           "{\"execute\": \"object-add\", \"arguments\": "
                           "{\"qom-type\": \"tls-creds-x509\", \"id\": "
                           "\"bad\", \"endpoint\": \"client\", \"dir\": "
                           "\"/nonexistent\"}}");
    qtest_qmp_assert_success(s, "{\"execute\": \"object-add\", "
                             "\"arguments\": {\"qom-type\": "
                             "\"tls-creds-anon\", \"id\": \"anon1\", "
                             "\"endpoint\": \"client\"}}");
    /* The machine's RAM backends are command line only. */
    qtest_qmp_assert_error(s, "only be created with -object",
                           "{\"execute\": \"object-add\", \"arguments\": "
                           "{\"qom-type\": \"memory-backend-ram\", "
                           "\"id\": \"m1\", \"size\": 1048576}}");
    {
        g_autoptr(JsonNode) objs = qtest_qmp_assert_success_ref(
            s, "{\"execute\": \"query-objects\"}");
        g_autoptr(JsonNode) kids = qtest_qmp_assert_success_ref(
            s, "{\"execute\": \"qom-list\", \"arguments\": "
            "{\"path\": \"/objects\"}}");
        g_autofree char *o = qmp_to_string(objs);
        g_autofree char *k = qmp_to_string(kids);

        g_assert_nonnull(strstr(o, "\"anon1\""));
        g_assert_nonnull(strstr(o, "tls-creds-anon"));
        g_assert_nonnull(strstr(k, "child<tls-creds-psk>"));
    }
    qtest_qmp_assert_error(s, "duplicate",
                           "{\"execute\": \"object-add\", \"arguments\": "
                           "{\"qom-type\": \"tls-creds-anon\", \"id\": "
                           "\"anon1\"}}");
    qtest_qmp_assert_success(s, "{\"execute\": \"object-del\", "
                             "\"arguments\": {\"id\": \"anon1\"}}");
    qtest_qmp_assert_error(s, "not found",
                           "{\"execute\": \"object-del\", "
                           "\"arguments\": {\"id\": \"anon1\"}}");
    /* x509 over unix needs tls-hostname (no host in the URI). */
    if (have_certs) {
        g_autofree char *dir = g_strdup_printf("%s/x509-client", tls_dir);

        qtest_qmp_assert_success(s, "{\"execute\": \"object-add\", "
                                 "\"arguments\": {\"qom-type\": "
                                 "\"tls-creds-x509\", \"id\": \"x1\", "
                                 "\"endpoint\": \"client\", \"dir\": "
                                 "\"%s\"}}", dir);
        set_str_param(s, "tls-creds", "x1");
        qtest_qmp_assert_error(s, "set tls-hostname",
                               "{\"execute\": \"migrate\", \"arguments\": "
                               "{\"uri\": \"unix:/nonexistent\"}}");
    }
    /* HMP: the string parameters and object_add/object_del. */
    {
        g_autofree char *r1 = qtest_hmp(s, "migrate_set_parameter "
                                        "tls-hostname qmig.example");
        g_autofree char *r2 = qtest_hmp(s, "info migrate_parameters");
        g_autofree char *r3 = qtest_hmp(s, "object_add tls-creds-anon,"
                                        "id=hmp0,endpoint=server");
        g_autofree char *r4 = qtest_hmp(s, "object_add tls-creds-anon,"
                                        "id=hmp0,endpoint=server");
        g_autofree char *r5 = qtest_hmp(s, "object_del hmp0");

        g_assert_nonnull(strstr(r2, "tls-hostname: 'qmig.example'"));
        g_assert_cmpstr(r3, ==, "");
        g_assert_nonnull(strstr(r4, "duplicate"));
        g_assert_cmpstr(r5, ==, "");
    }
    mig_assert_running(s);
    mig_quit_clean(s);
}

/*
 * migrate_cancel while the destination sits on the TLS handshake: the
 * migration ends at once, not when the handshake times out.
 */
static void test_cancel_handshake(void)
{
    g_autofree char *src_args = creds_arg("psk", "psk", false);
    QTestState *src = mig_start_source(src_args);
    const char *path = qtest_path(src, "silent.sock");
    int lfd = qtest_unix_listen(path);
    int cfd;
    char hello[16];
    gint64 start;

    set_str_param(src, "tls-creds", "tls0");
    /* The handshake's own bound: far beyond what the cancel may take. */
    mig_set_parameter(src, "x-socket-timeout", 60000);
    qtest_qmp_assert_success(src, "{\"execute\": \"migrate\", "
                             "\"arguments\": {\"uri\": \"unix:%s\"}}",
                             path);
    /* The ClientHello arrived: the source waits in its handshake. */
    cfd = accept(lfd, NULL, NULL);
    g_assert_cmpint(cfd, >=, 0);
    g_assert_cmpint(recv(cfd, hello, sizeof(hello), MSG_WAITALL), ==,
                    sizeof(hello));
    start = g_get_monotonic_time();
    qtest_qmp_assert_success(src, "{\"execute\": \"migrate_cancel\"}");
    g_free(mig_wait_status(src, (const char *const[]){ "cancelled",
                                                       NULL }));
    g_assert_cmpint(g_get_monotonic_time() - start, <, 10 * G_USEC_PER_SEC);
    mig_assert_running(src);
    close(cfd);
    close(lfd);
    mig_quit_clean(src);
}

static int remove_entry(const char *path, const struct stat *sb, int flag,
                        struct FTW *ftw)
{
    return remove(path);
}

static void cleanup_dir(void)
{
    if (tls_dir && !getenv("TLS_TEST_KEEP") &&
        nftw(tls_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        g_printerr("could not remove %s\n", tls_dir);
    }
}

int main(int argc, char **argv)
{
    const char *inherited = getenv("QMIG_TLS_TEST_DIR");
    int ret;

    qtest_main_init(&argc, &argv);
    if (mig_skip_without_accel_or_guest()) {
        return g_test_run();
    }
    /*
     * Each case runs in a child (mig_add_case) that re-runs main(): the
     * parent makes the credentials once and removes them at the end,
     * even when a child dies on an assertion.
     */
    if (inherited) {
        tls_dir = g_strdup(inherited);
        have_certs = !!getenv("QMIG_TLS_TEST_CERTS");
    } else {
        g_autofree char *certtool = g_find_program_in_path("certtool");

        tls_dir = g_dir_make_tmp("qmig-tls-XXXXXX", NULL);
        g_assert_nonnull(tls_dir);
        make_psk(tls_dir);
        have_certs = certtool && make_certs(tls_dir);
        g_setenv("QMIG_TLS_TEST_DIR", tls_dir, true);
        if (have_certs) {
            g_setenv("QMIG_TLS_TEST_CERTS", "1", true);
        }
    }
    mig_add_case("/tls/refusals", test_refusals, false);
    mig_add_case("/tls/psk/unix", test_psk_unix, false);
    mig_add_case("/tls/cancel-handshake", test_cancel_handshake, false);
    mig_add_case("/tls/psk/mismatch", test_psk_mismatch, false);
    add_x509_case("/tls/x509/tcp-default-host", test_x509_tcp_default_host);
    add_x509_case("/tls/x509/unix-hostname", test_x509_unix_hostname);
    add_x509_case("/tls/x509/wrong-host", test_x509_wrong_host);
    mig_add_case("/tls/anon/allowed", test_anon, false);
    add_x509_case("/tls/anon/rejected", test_anon_rejected);
    mig_add_case("/tls/authz/accept", test_authz_accept, false);
    add_x509_case("/tls/authz/refuse", test_authz_refuse);
    add_x509_case("/tls/multifd/x509-4", test_multifd_x509);
    mig_add_case("/tls/no-cleartext", test_no_cleartext, false);
    mig_add_case("/tls/postcopy/preempt", test_postcopy_preempt, false);
    mig_add_case("/tls/postcopy/recover", test_postcopy_recover, false);
    ret = g_test_run();
    if (!inherited) {
        cleanup_dir();
    }
    return ret;
}
