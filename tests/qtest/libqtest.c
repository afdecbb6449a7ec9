/*
 * libqtest: run a VMM process and drive it over QMP (see libqtest.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <glib/gstdio.h>

#include "libqtest.h"

#define QTEST_MAX_QMP 8
#define QTEST_MAX_FDS 16

struct QTestQMP {
    int fd;
    GString *buf;           /* bytes read but not yet parsed */
    GQueue events;          /* JsonNode *, oldest first */
    JsonNode *greeting;
    char *path;
    bool eof;               /* the server closed the connection */
    QTestState *owner;      /* whose VMM serves it */
};

struct QTestState {
    char *tmpdir;
    GHashTable *paths;      /* name -> "tmpdir/name" */
    pid_t pid;              /* 0 once reaped */
    int wstatus;
    QTestQMP *qmp[QTEST_MAX_QMP];
    int n_qmp;
    char *accel;            /* first -accel name, "default" without one */
    bool is_qemu;           /* the binary is QEMU, not qmig */
    bool guest_noted;       /* qtest_note_guest_ran() done for this VM */
};

/* ---- environment ------------------------------------------------------ */

int qtest_timeout_s(void)
{
    const char *t = g_getenv("QTEST_TIMEOUT");
    int v = t ? atoi(t) : 0;

    return v > 0 ? v : 30;
}

const char *qtest_vmm_binary(void)
{
    const char *b = g_getenv("QTEST_QMIG_BINARY");

    if (!b || !*b) {
        b = g_getenv("QTEST_QEMU_BINARY");
    }
    if (!b || !*b) {
        g_error("set QTEST_QMIG_BINARY (or QTEST_QEMU_BINARY) to the VMM");
    }
    return b;
}

void qtest_main_init(int *argc, char ***argv)
{
    /* Room for the option and the NULL that ends argv; kept for good. */
    char **args = g_new0(char *, *argc + 2);

    memcpy(args, *argv, sizeof(char *) * *argc);
    args[(*argc)++] = (char *)"--keep-going";
    *argv = args;
    g_test_init(argc, argv, NULL);
    qtest_vmm_binary();
}

bool qtest_vmm_is_qemu(const char *binary)
{
    g_autofree char *base = g_path_get_basename(binary);

    return g_str_has_prefix(base, "qemu-system");
}

bool qtest_kvm_available(void)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

    if (fd < 0) {
        return false;
    }
    close(fd);
    return true;
}

const char *qtest_accel(void)
{
    static const char *accel;

    if (!accel) {
        const char *env = g_getenv("QTEST_ACCEL");

        accel = env && *env ? env : qtest_kvm_available() ? "kvm" : "tcg";
    }
    return accel;
}

/* Does the accelerator spec @spec ("kvm,dirty-ring-size=N") name @name? */
static bool accel_spec_is(const char *spec, const char *name)
{
    size_t n = strlen(name);

    return !strncmp(spec, name, n) && (spec[n] == '\0' || spec[n] == ',');
}

bool qtest_accel_is(const char *name)
{
    return accel_spec_is(qtest_accel(), name);
}

bool qtest_accel_in_run(const char *name)
{
    const char *list = g_getenv("QTEST_ACCELS");
    g_auto(GStrv) names = NULL;
    int i;

    if (!list || !*list) {
        return g_str_equal(name, "tcg") ||
               (g_str_equal(name, "kvm") && qtest_kvm_available());
    }
    names = g_strsplit(list, ",", -1);
    for (i = 0; names[i]; i++) {
        if (g_str_equal(g_strstrip(names[i]), name)) {
            return true;
        }
    }
    return false;
}

bool qtest_skip_without_accel(void)
{
    if (qtest_accel_is("kvm") && !qtest_kvm_available()) {
        g_test_skip("QTEST_ACCEL=kvm but /dev/kvm is not usable here (run "
                    "with QTEST_ACCEL=tcg)");
        return true;
    }
    return false;
}

bool qtest_skip_unless_kvm(const char *what)
{
    g_autofree char *why = NULL;

    if (qtest_skip_without_accel()) {
        return true;
    }
    if (qtest_accel_is("kvm")) {
        return false;
    }
    why = g_strdup_printf("needs %s; running under %s", what, qtest_accel());
    g_test_skip(why);
    return true;
}

const char *qtest_guest_image(const char *env_name)
{
    const char *p = g_getenv(env_name);

    if (!p || !*p || !g_file_test(p, G_FILE_TEST_IS_REGULAR)) {
        g_autofree char *msg = p && *p ?
            g_strdup_printf("guest image %s (env %s) not built", p, env_name) :
            g_strdup_printf("no guest image: env %s is not set", env_name);
        g_test_skip(msg);
        return NULL;
    }
    return p;
}

static gint64 deadline_after(int timeout_s)
{
    return g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
}

/* Milliseconds left before @deadline, at least 0. */
static int ms_left(gint64 deadline)
{
    gint64 left = deadline - g_get_monotonic_time();

    return left > 0 ? (int)((left + 999) / 1000) : 0;
}

/* ---- files ------------------------------------------------------------ */

QTestState *qtest_new(void)
{
    QTestState *s = g_new0(QTestState, 1);
    g_autoptr(GError) err = NULL;

    s->tmpdir = g_dir_make_tmp("qtest-XXXXXX", &err);
    g_assert_no_error(err);
    s->paths = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    return s;
}

const char *qtest_path(QTestState *s, const char *name)
{
    char *p = g_hash_table_lookup(s->paths, name);

    if (!p) {
        p = g_build_filename(s->tmpdir, name, NULL);
        g_hash_table_insert(s->paths, g_strdup(name), p);
    }
    return p;
}

const char *qtest_serial_path(QTestState *s)
{
    return qtest_path(s, "serial.txt");
}

/* The temporary directory is flat: remove its files, then itself. */
static void remove_tmpdir(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;

    if (!d) {
        return;
    }
    while ((name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, name, NULL);
        g_unlink(p);
    }
    g_dir_close(d);
    g_rmdir(dir);
}

char *qtest_stderr(QTestState *s)
{
    char *text = NULL;

    if (!g_file_get_contents(qtest_path(s, "stderr.txt"), &text, NULL,
                             NULL)) {
        text = g_strdup("");
    }
    return text;
}

/* ---- process ---------------------------------------------------------- */

/*
 * fork + exec @argv with stdout/stderr redirected to the given files.
 * The child dies with the test (PDEATHSIG) and gets its own process group
 * so a terminal's ^C does not reach it twice.
 */
static pid_t spawn(char **argv, const char *out_path, const char *err_path)
{
    int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    pid_t parent = getpid();
    pid_t pid;

    g_assert(out >= 0 && err >= 0);
    pid = fork();
    g_assert(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(127);
        }
        dup2(devnull, STDIN_FILENO);
        dup2(out, STDOUT_FILENO);
        dup2(err, STDERR_FILENO);
        execvp(argv[0], argv);
        dprintf(STDERR_FILENO, "libqtest: exec %s: %s\n", argv[0],
                strerror(errno));
        _exit(127);
    }
    close(out);
    close(err);
    return pid;
}

/*
 * spawn() under $QTEST_VMM_WRAPPER when it is set: its words (split like
 * a shell would) come before @argv, as in "ip netns exec NS qmig ...".
 * The wrapper must exec the VMM in its own process, so the pid, the
 * PDEATHSIG and the exit status stay the VMM's.
 */
static pid_t spawn_wrapped(char **argv, const char *out_path,
                           const char *err_path)
{
    const char *wrapper = g_getenv("QTEST_VMM_WRAPPER");
    g_autoptr(GPtrArray) all = NULL;
    g_auto(GStrv) words = NULL;
    g_autoptr(GError) err = NULL;

    if (!wrapper || !*wrapper) {
        return spawn(argv, out_path, err_path);
    }
    if (!g_shell_parse_argv(wrapper, NULL, &words, &err)) {
        g_error("bad QTEST_VMM_WRAPPER '%s': %s", wrapper, err->message);
    }
    all = g_ptr_array_new();
    for (int i = 0; words[i]; i++) {
        g_ptr_array_add(all, words[i]);
    }
    for (int i = 0; argv[i]; i++) {
        g_ptr_array_add(all, argv[i]);
    }
    g_ptr_array_add(all, NULL);
    return spawn((char **)all->pdata, out_path, err_path);
}

/* Reap @pid within @timeout_ms (0: just poll); -1 while it still runs. */
static bool reap(pid_t pid, int timeout_ms, int *wstatus)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    for (;;) {
        pid_t r = waitpid(pid, wstatus, WNOHANG);

        if (r == pid) {
            return true;
        }
        g_assert(r == 0);
        if (g_get_monotonic_time() >= deadline) {
            return false;
        }
        g_usleep(5 * 1000);
    }
}

bool qtest_exited(QTestState *s)
{
    if (s->pid && reap(s->pid, 0, &s->wstatus)) {
        s->pid = 0;
    }
    return s->pid == 0;
}

bool qtest_wait_exit(QTestState *s, int timeout_s, int *status)
{
    if (s->pid && reap(s->pid, timeout_s * 1000, &s->wstatus)) {
        s->pid = 0;
    }
    if (s->pid) {
        return false;
    }
    if (status) {
        *status = s->wstatus;
    }
    return true;
}

pid_t qtest_pid(QTestState *s)
{
    return s->pid;
}

static void fail_with_stderr(QTestState *s, const char *what)
{
    g_autofree char *err = qtest_stderr(s);

    g_error("%s; child stderr:\n%s", what, err);
}

/* Connect to the unix socket @path, retrying while it is not there yet. */
static int connect_retry(QTestState *s, const char *path)
{
    gint64 deadline = deadline_after(qtest_timeout_s());
    struct sockaddr_un addr = { .sun_family = AF_UNIX };

    g_assert(strlen(path) < sizeof(addr.sun_path));
    strcpy(addr.sun_path, path);
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        g_assert(fd >= 0);
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
            return fd;
        }
        close(fd);
        if (qtest_exited(s)) {
            fail_with_stderr(s, "VMM exited before its QMP socket listened");
        }
        if (g_get_monotonic_time() > deadline) {
            fail_with_stderr(s, "timed out connecting to the QMP socket");
        }
        g_usleep(10 * 1000);
    }
}

void qtest_start(QTestState *s, const char *binary, int n_qmp,
                 const char *args)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) split = NULL;
    g_autoptr(GError) err = NULL;
    int i;

    g_assert(n_qmp >= 0 && n_qmp <= QTEST_MAX_QMP);
    g_assert(!s->pid);
    if (!g_shell_parse_argv(args && *args ? args : "true", NULL, &split,
                            &err)) {
        g_error("bad test command line '%s': %s", args, err->message);
    }
    g_ptr_array_add(argv, g_strdup(binary));
    if (args && *args) {
        for (i = 0; split[i]; i++) {
            g_ptr_array_add(argv, g_strdup(split[i]));
        }
    }
    g_ptr_array_add(argv, g_strdup("-display"));
    g_ptr_array_add(argv, g_strdup("none"));
    for (i = 0; i < n_qmp; i++) {
        g_autofree char *name = g_strdup_printf("qmp%d.sock", i);

        g_ptr_array_add(argv, g_strdup("-qmp"));
        g_ptr_array_add(argv, g_strdup_printf("unix:%s,server=on,wait=off",
                                              qtest_path(s, name)));
    }
    g_ptr_array_add(argv, NULL);

    if (g_test_verbose()) {
        g_autofree char *line = g_strjoinv(" ", (char **)argv->pdata);
        g_test_message("starting: %s", line);
    }
    s->is_qemu = qtest_vmm_is_qemu(binary);
    g_free(s->accel);
    s->accel = g_strdup("default");
    for (i = 1; i + 1 < (int)argv->len - 1; i++) {
        if (g_str_equal(g_ptr_array_index(argv, i), "-accel")) {
            const char *spec = g_ptr_array_index(argv, i + 1);

            g_free(s->accel);
            s->accel = g_strndup(spec, strcspn(spec, ","));
            break;
        }
    }
    s->pid = spawn_wrapped((char **)argv->pdata, qtest_path(s, "stdout.txt"),
                           qtest_path(s, "stderr.txt"));

    for (i = 0; i < n_qmp; i++) {
        g_autofree char *name = g_strdup_printf("qmp%d.sock", i);
        QTestQMP *q = qtest_qmp_connect(s, qtest_path(s, name));
        JsonNode *rsp = qmp_cmd(q, "{\"execute\": \"qmp_capabilities\"}");

        if (qmp_rsp_is_error(rsp)) {
            g_autofree char *txt = qmp_to_string(rsp);
            g_error("qmp_capabilities refused: %s", txt);
        }
        json_node_unref(rsp);
        s->qmp[s->n_qmp++] = q;
    }
}

QTestState *qtest_initf(const char *fmt, ...)
{
    QTestState *s = qtest_new();
    g_autofree char *extra = NULL;
    g_autofree char *args = NULL;
    va_list ap;

    va_start(ap, fmt);
    extra = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    args = g_strdup_printf("-serial file:%s %s", qtest_serial_path(s),
                           extra);
    qtest_start(s, qtest_vmm_binary(), 1, args);
    return s;
}

/*
 * A VMM built with ThreadSanitizer (build-tsan) reports a race on its
 * stderr and, with TSAN_OPTIONS=halt_on_error=1, exits with status 66.
 * Neither need reach the test's assertions: the race may happen while
 * the VMM quits, or in a VMM the test expects to fail.  So every VMM's
 * stderr is checked when its QTestState goes, and a report fails the
 * running test case, with the report in the log.
 */
static void check_sanitizer_report(QTestState *s)
{
    g_autofree char *err = qtest_stderr(s);

    if (strstr(err, "WARNING: ThreadSanitizer") ||
        strstr(err, "ERROR: ThreadSanitizer")) {
        /* stderr: a case run in a subprocess passes on only that. */
        g_printerr("ThreadSanitizer report in the VMM's stderr:\n%s", err);
        g_test_fail();
    }
}

int qtest_quit(QTestState *s)
{
    int status = 0;
    int i;

    if (!qtest_exited(s) && s->n_qmp > 0) {
        /* The reply may race with the exit: send and do not wait for it. */
        qmp_send_raw(s->qmp[0], "{\"execute\": \"quit\"}", NULL, 0);
    }
    if (!qtest_wait_exit(s, qtest_timeout_s(), &status)) {
        g_test_message("VMM did not exit after quit; killing it");
        kill(s->pid, SIGKILL);
        qtest_wait_exit(s, qtest_timeout_s(), &status);
    }
    for (i = 0; i < s->n_qmp; i++) {
        qtest_qmp_close(s->qmp[i]);
    }
    check_sanitizer_report(s);
    remove_tmpdir(s->tmpdir);
    g_hash_table_destroy(s->paths);
    g_free(s->tmpdir);
    g_free(s->accel);
    g_free(s);
    return status;
}

void qtest_run_expect_exit(const char *binary, const char *args,
                           QTestRun *r)
{
    QTestState *s = qtest_new();
    g_autofree char *cmd = g_strdup_printf("%s %s", binary, args);
    g_auto(GStrv) argv = NULL;
    g_autoptr(GError) err = NULL;

    if (!g_shell_parse_argv(cmd, NULL, &argv, &err)) {
        g_error("bad test command line '%s': %s", cmd, err->message);
    }
    s->pid = spawn(argv, qtest_path(s, "stdout.txt"),
                   qtest_path(s, "stderr.txt"));
    r->status = -1;
    if (!qtest_wait_exit(s, qtest_timeout_s(), &r->status)) {
        kill(s->pid, SIGKILL);
        qtest_wait_exit(s, qtest_timeout_s(), NULL);
        r->status = -1;
    }
    if (!g_file_get_contents(qtest_path(s, "stdout.txt"), &r->out, NULL,
                             NULL)) {
        r->out = g_strdup("");
    }
    r->err = qtest_stderr(s);
    qtest_quit(s);
}

void qtest_run_free(QTestRun *r)
{
    g_free(r->out);
    g_free(r->err);
    r->out = r->err = NULL;
}

/* ---- QMP framing ------------------------------------------------------- */

/*
 * Length of the first complete JSON value at the start of @buf (after
 * leading white space), or 0 if more bytes are needed.  Only objects and
 * arrays need tracking: a QMP server sends nothing else at top level, and
 * anything else is handed to the parser once a newline ends it, so the
 * parser reports it.
 */
static size_t json_value_len(const char *buf, size_t len)
{
    size_t i = 0;
    int depth = 0;
    bool in_str = false, esc = false;

    while (i < len && g_ascii_isspace(buf[i])) {
        i++;
    }
    if (i < len && buf[i] != '{' && buf[i] != '[') {
        const char *nl = memchr(buf + i, '\n', len - i);
        return nl ? (size_t)(nl - buf) + 1 : 0;
    }
    for (; i < len; i++) {
        char c = buf[i];

        if (in_str) {
            if (esc) {
                esc = false;
            } else if (c == '\\') {
                esc = true;
            } else if (c == '"') {
                in_str = false;
            }
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth == 0) {
                return i + 1;
            }
        }
    }
    return 0;
}

/* Parse the next message in q->buf, or NULL if incomplete. */
static JsonNode *qmp_take_message(QTestQMP *q)
{
    size_t n = json_value_len(q->buf->str, q->buf->len);
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(GError) err = NULL;
    JsonNode *node;

    if (!n) {
        return NULL;
    }
    parser = json_parser_new();
    if (!json_parser_load_from_data(parser, q->buf->str, n, &err)) {
        g_error("QMP server sent unparseable JSON (%s): %.*s", err->message,
                (int)n, q->buf->str);
    }
    g_string_erase(q->buf, 0, n);
    node = json_parser_steal_root(parser);
    if (!node || !JSON_NODE_HOLDS_OBJECT(node)) {
        g_error("QMP server sent a non-object message");
    }
    return node;
}

/*
 * Read more bytes into q->buf, waiting at most until @deadline.  Returns
 * false on timeout or end of file (q->eof); fails the test on error.
 */
static bool qmp_fill(QTestQMP *q, gint64 deadline)
{
    struct pollfd pfd = { .fd = q->fd, .events = POLLIN };
    char chunk[4096];
    ssize_t n;
    int r;

    do {
        r = poll(&pfd, 1, ms_left(deadline));
    } while (r < 0 && errno == EINTR);
    g_assert(r >= 0);
    if (r == 0 || q->eof) {
        return false;
    }
    do {
        n = read(q->fd, chunk, sizeof(chunk));
    } while (n < 0 && errno == EINTR);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) {
        q->eof = true;
        return false;
    }
    if (n < 0) {
        g_error("reading QMP connection %s: %s", q->path, strerror(errno));
    }
    g_string_append_len(q->buf, chunk, n);
    return true;
}

char *qtest_exit_reason(QTestState *s, int wait_s)
{
    g_autofree char *err = NULL;
    g_autofree char *how = NULL;
    int st;

    if (!qtest_wait_exit(s, wait_s, &st)) {
        how = g_strdup("VMM still running");
    } else if (WIFSIGNALED(st)) {
        how = g_strdup_printf("VMM killed by signal %d (%s)%s", WTERMSIG(st),
                              strsignal(WTERMSIG(st)),
                              WCOREDUMP(st) ? ", core dumped" : "");
    } else {
        how = g_strdup_printf("VMM exited with status %d",
                              WEXITSTATUS(st));
    }
    err = qtest_stderr(s);
    return g_strdup_printf("%s; its stderr:\n%s", how, err);
}

/* For a failed wait on @q: ": " and how its VMM ended, or "". */
static char *vmm_fate(QTestQMP *q)
{
    g_autofree char *r = NULL;

    if (!q->owner) {
        return g_strdup("");
    }
    r = qtest_exit_reason(q->owner, q->eof ? 2 : 0);
    return g_strdup_printf(": %s", r);
}

static bool is_event(JsonNode *msg)
{
    return json_object_has_member(json_node_get_object(msg), "event");
}

JsonNode *qmp_receive(QTestQMP *q)
{
    gint64 deadline = deadline_after(qtest_timeout_s());

    for (;;) {
        JsonNode *msg;

        while ((msg = qmp_take_message(q))) {
            if (!is_event(msg)) {
                return msg;
            }
            g_queue_push_tail(&q->events, msg);
        }
        if (!qmp_fill(q, deadline)) {
            g_autofree char *why = vmm_fate(q);

            g_error("%s waiting for a QMP reply on %s%s",
                    q->eof ? "connection closed" : "timed out", q->path, why);
        }
    }
}

/* Read the greeting of a new connection @fd (named @path in messages). */
static QTestQMP *qmp_open_fd(QTestState *s, int fd, const char *path)
{
    QTestQMP *q = g_new0(QTestQMP, 1);
    gint64 deadline = deadline_after(qtest_timeout_s());

    q->path = g_strdup(path);
    q->owner = s;
    q->buf = g_string_new(NULL);
    g_queue_init(&q->events);
    q->fd = fd;
    while (!(q->greeting = qmp_take_message(q))) {
        if (!qmp_fill(q, deadline)) {
            g_error("no QMP greeting on %s (%s)", path,
                    q->eof ? "closed" : "timeout");
        }
    }
    if (!json_object_has_member(json_node_get_object(q->greeting), "QMP")) {
        g_autofree char *txt = qmp_to_string(q->greeting);
        g_error("first message on %s is not a QMP greeting: %s", path, txt);
    }
    return q;
}

QTestQMP *qtest_qmp_connect(QTestState *s, const char *path)
{
    return qmp_open_fd(s, connect_retry(s, path), path);
}

int qtest_accept(QTestState *s, int listen_fd, const char *what)
{
    gint64 deadline = deadline_after(qtest_timeout_s());
    struct pollfd pfd = { .fd = listen_fd, .events = POLLIN };
    int fd;

    /* Short polls, so that a VMM that exited instead is seen at once. */
    while (poll(&pfd, 1, 50) <= 0) {
        if (qtest_exited(s)) {
            g_autofree char *msg = g_strdup_printf(
                "VMM exited before it connected to %s", what);
            fail_with_stderr(s, msg);
        }
        if (g_get_monotonic_time() > deadline) {
            g_autofree char *msg = g_strdup_printf(
                "timed out waiting for the VMM to connect to %s", what);
            fail_with_stderr(s, msg);
        }
    }
    fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    g_assert_cmpint(fd, >=, 0);
    return fd;
}

QTestQMP *qtest_qmp_accept(QTestState *s, int listen_fd, const char *what)
{
    return qmp_open_fd(s, qtest_accept(s, listen_fd, what), what);
}

void qtest_qmp_close(QTestQMP *q)
{
    if (!q) {
        return;
    }
    close(q->fd);
    g_queue_clear_full(&q->events, (GDestroyNotify)json_node_unref);
    json_node_unref(q->greeting);
    g_string_free(q->buf, TRUE);
    g_free(q->path);
    g_free(q);
}

JsonNode *qmp_greeting(QTestQMP *q)
{
    return q->greeting;
}

QTestQMP *qtest_qmp_conn(QTestState *s, int n)
{
    g_assert(n >= 0 && n < s->n_qmp);
    return s->qmp[n];
}

void qmp_send_raw(QTestQMP *q, const char *text, const int *fds, int nfds)
{
    size_t len = strlen(text);
    size_t off = 0;

    g_assert(nfds >= 0 && nfds <= QTEST_MAX_FDS);
    while (off < len) {
        struct iovec iov = { .iov_base = (char *)text + off,
                             .iov_len = len - off };
        union {
            char buf[CMSG_SPACE(sizeof(int) * QTEST_MAX_FDS)];
            struct cmsghdr align;
        } u;
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        /* Ancillary data travels with the first byte only. */
        if (nfds > 0 && off == 0) {
            struct cmsghdr *cmsg;

            memset(&u, 0, sizeof(u));
            msg.msg_control = u.buf;
            msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
            cmsg = CMSG_FIRSTHDR(&msg);
            cmsg->cmsg_level = SOL_SOCKET;
            cmsg->cmsg_type = SCM_RIGHTS;
            cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
            memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);
        }
        n = sendmsg(q->fd, &msg, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            int e = errno;
            g_autofree char *why = vmm_fate(q);

            g_error("sending on QMP socket %s: %s%s", q->path, strerror(e),
                    why);
        }
        off += n;
    }
}

JsonNode *qmp_vcmd(QTestQMP *q, const int *fds, int nfds,
                   const char *fmt, va_list ap)
{
    g_autofree char *text = g_strdup_vprintf(fmt, ap);

    qmp_send_raw(q, text, fds, nfds);
    return qmp_receive(q);
}

JsonNode *qmp_cmd(QTestQMP *q, const char *fmt, ...)
{
    va_list ap;
    JsonNode *rsp;

    va_start(ap, fmt);
    rsp = qmp_vcmd(q, NULL, 0, fmt, ap);
    va_end(ap);
    return rsp;
}

static JsonNode *take_queued_event(QTestQMP *q, const char *name)
{
    GList *l;

    for (l = q->events.head; l; l = l->next) {
        JsonObject *o = json_node_get_object(l->data);

        if (g_str_equal(json_object_get_string_member(o, "event"), name)) {
            JsonNode *ev = l->data;
            g_queue_delete_link(&q->events, l);
            return ev;
        }
    }
    return NULL;
}

/* Move every complete message already readable into the event queue. */
static void drain_nonblocking(QTestQMP *q)
{
    JsonNode *msg;

    do {
        while ((msg = qmp_take_message(q))) {
            if (!is_event(msg)) {
                g_autofree char *txt = qmp_to_string(msg);
                g_error("unexpected QMP reply while reading events: %s",
                        txt);
            }
            g_queue_push_tail(&q->events, msg);
        }
    } while (qmp_fill(q, g_get_monotonic_time()));
}

bool qmp_event_seen(QTestQMP *q, const char *name)
{
    GList *l;

    drain_nonblocking(q);
    for (l = q->events.head; l; l = l->next) {
        JsonObject *o = json_node_get_object(l->data);

        if (g_str_equal(json_object_get_string_member(o, "event"), name)) {
            return true;
        }
    }
    return false;
}

JsonNode *qmp_eventwait(QTestQMP *q, const char *name)
{
    gint64 deadline = deadline_after(qtest_timeout_s());

    for (;;) {
        JsonNode *ev = take_queued_event(q, name);
        JsonNode *msg;

        if (ev) {
            return ev;
        }
        while ((msg = qmp_take_message(q))) {
            if (!is_event(msg)) {
                g_autofree char *txt = qmp_to_string(msg);
                g_error("unexpected QMP reply while awaiting %s: %s", name,
                        txt);
            }
            g_queue_push_tail(&q->events, msg);
        }
        ev = take_queued_event(q, name);
        if (ev) {
            return ev;
        }
        if (!qmp_fill(q, deadline)) {
            g_autofree char *why = vmm_fate(q);

            g_error("%s waiting for QMP event %s on %s%s",
                    q->eof ? "connection closed" : "timed out", name,
                    q->path, why);
        }
    }
}

/* ---- connection-0 shorthands ------------------------------------------ */

JsonNode *qtest_qmp(QTestState *s, const char *fmt, ...)
{
    va_list ap;
    JsonNode *rsp;

    va_start(ap, fmt);
    rsp = qmp_vcmd(qtest_qmp_conn(s, 0), NULL, 0, fmt, ap);
    va_end(ap);
    return rsp;
}

JsonNode *qtest_qmp_fds(QTestState *s, const int *fds, int nfds,
                        const char *fmt, ...)
{
    va_list ap;
    JsonNode *rsp;

    va_start(ap, fmt);
    rsp = qmp_vcmd(qtest_qmp_conn(s, 0), fds, nfds, fmt, ap);
    va_end(ap);
    return rsp;
}

static JsonNode *assert_success(JsonNode *rsp, const char *cmd)
{
    JsonNode *ret = qmp_rsp_member(rsp, "return");

    if (!ret) {
        g_autofree char *txt = qmp_to_string(rsp);
        g_error("command %s failed: %s", cmd, txt);
    }
    ret = json_node_copy(ret);
    json_node_unref(rsp);
    return ret;
}

JsonNode *qtest_qmp_assert_success_ref(QTestState *s, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *cmd = NULL;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return assert_success(qtest_qmp(s, "%s", cmd), cmd);
}

void qtest_qmp_assert_success(QTestState *s, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *cmd = NULL;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    json_node_unref(assert_success(qtest_qmp(s, "%s", cmd), cmd));
}

JsonNode *qtest_qmp_eventwait(QTestState *s, const char *name)
{
    return qmp_eventwait(qtest_qmp_conn(s, 0), name);
}

char *qtest_query_status(QTestState *s, bool *running)
{
    JsonNode *ret = qtest_qmp_assert_success_ref(s,
                        "{\"execute\": \"query-status\"}");
    JsonObject *o = json_node_get_object(ret);
    char *status;

    g_assert(json_object_has_member(o, "status"));
    status = g_strdup(json_object_get_string_member(o, "status"));
    if (running) {
        *running = json_object_get_boolean_member(o, "running");
    }
    json_node_unref(ret);
    return status;
}

void qtest_assert_status(QTestState *s, const char *status)
{
    bool running;
    g_autofree char *st = qtest_query_status(s, &running);

    g_assert_cmpstr(st, ==, status);
    g_assert_cmpint(running, ==, g_str_equal(status, "running"));
}

void qtest_qmp_assert_error(QTestState *s, const char *needle,
                            const char *fmt, ...)
{
    g_autofree char *cmd = NULL;
    g_autoptr(JsonNode) rsp = NULL;
    va_list ap;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    rsp = qtest_qmp(s, "%s", cmd);
    if (!qmp_rsp_is_error(rsp)) {
        g_autofree char *txt = qmp_to_string(rsp);
        g_error("'%s' succeeded (%s), expected an error mentioning '%s'",
                cmd, txt, needle);
    }
    if (!strstr(qmp_rsp_error_desc(rsp), needle)) {
        g_error("'%s' failed with '%s', expected it to mention '%s'", cmd,
                qmp_rsp_error_desc(rsp), needle);
    }
}

char *qtest_hmp(QTestState *s, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *line = NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autofree char *cmd = NULL;
    JsonNode *root, *ret;
    char *text;

    va_start(ap, fmt);
    line = g_strdup_vprintf(fmt, ap);
    va_end(ap);

    /* Build the command with json-glib so the line is escaped properly. */
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "execute");
    json_builder_add_string_value(b, "human-monitor-command");
    json_builder_set_member_name(b, "arguments");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "command-line");
    json_builder_add_string_value(b, line);
    json_builder_end_object(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    cmd = json_generator_to_data(gen, NULL);
    json_node_unref(root);

    ret = assert_success(qtest_qmp(s, "%s", cmd), cmd);
    g_assert(JSON_NODE_HOLDS_VALUE(ret));
    text = g_strdup(json_node_get_string(ret));
    json_node_unref(ret);
    return text;
}

/* ---- replies ----------------------------------------------------------- */

JsonNode *qmp_rsp_member(JsonNode *rsp, const char *name)
{
    JsonObject *o;

    if (!rsp || !JSON_NODE_HOLDS_OBJECT(rsp)) {
        return NULL;
    }
    o = json_node_get_object(rsp);
    return json_object_has_member(o, name) ?
        json_object_get_member(o, name) : NULL;
}

bool qmp_rsp_is_error(JsonNode *rsp)
{
    return qmp_rsp_member(rsp, "error") != NULL;
}

static const char *error_field(JsonNode *rsp, const char *field)
{
    JsonNode *e = qmp_rsp_member(rsp, "error");
    JsonObject *o;

    if (!e || !JSON_NODE_HOLDS_OBJECT(e)) {
        return NULL;
    }
    o = json_node_get_object(e);
    if (!json_object_has_member(o, field)) {
        return NULL;
    }
    return json_object_get_string_member(o, field);
}

const char *qmp_rsp_error_class(JsonNode *rsp)
{
    return error_field(rsp, "class");
}

const char *qmp_rsp_error_desc(JsonNode *rsp)
{
    return error_field(rsp, "desc");
}

char *qmp_to_string(JsonNode *node)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();

    json_generator_set_root(gen, node);
    return json_generator_to_data(gen, NULL);
}

/* ---- sockets ----------------------------------------------------------- */

int qtest_unix_listen(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpuint(strlen(path), <, sizeof(addr.sun_path));
    strcpy(addr.sun_path, path);
    unlink(path);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(fd, 1), ==, 0);
    return fd;
}

int qtest_tcp_listen(int *port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    g_assert_cmpint(fd, >=, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_assert_cmpint(listen(fd, 1), ==, 0);
    g_assert_cmpint(getsockname(fd, (struct sockaddr *)&sa, &len), ==, 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* ---- serial ------------------------------------------------------------ */

size_t qtest_file_count_char(const char *path, char c)
{
    g_autofree char *text = NULL;
    gsize len = 0, i, n = 0;

    if (!g_file_get_contents(path, &text, &len, NULL)) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        n += text[i] == c;
    }
    return n;
}

bool qtest_wait_serial(QTestState *s, const char *path, char c,
                       size_t count, int timeout_s)
{
    gint64 deadline = deadline_after(timeout_s);

    for (;;) {
        bool seen = qtest_file_count_char(path, c) >= count;

        if (!seen &&
            (g_get_monotonic_time() > deadline || (s && qtest_exited(s)))) {
            /* One last look: the output may have landed before the exit. */
            seen = qtest_file_count_char(path, c) >= count;
            if (!seen) {
                return false;
            }
        }
        if (seen) {
            if (s && count >= 1 && s->tmpdir &&
                g_str_equal(path, qtest_serial_path(s))) {
                qtest_note_guest_ran(s);
            }
            return true;
        }
        g_usleep(10 * 1000);
    }
}

/* ---- proof that guests ran --------------------------------------------- */

#define GUEST_RAN_ENV "QTEST_GUEST_RAN_LOG"

void qtest_set_accel(QTestState *s, const char *accel)
{
    g_free(s->accel);
    s->accel = g_strdup(accel);
}

void qtest_note_guest_ran(QTestState *s)
{
    const char *log = g_getenv(GUEST_RAN_ENV);
    g_autofree char *line = NULL;
    int fd;

    if (s->guest_noted || !log || !*log) {
        return;
    }
    s->guest_noted = true;
    line = g_strdup_printf("accel=%s vmm=%s\n", s->accel ? s->accel : "none",
                           s->is_qemu ? "qemu" : "qmig");
    /* O_APPEND: children of one program write in turn, lines stay whole. */
    fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        g_test_message("cannot record a running guest in %s: %s", log,
                       strerror(errno));
        return;
    }
    if (write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
        g_test_message("short write recording a running guest in %s", log);
    }
    close(fd);
}

static char *guest_ran_log;

/* The top-level process: one TAP comment per accel/VMM pair seen. */
static void guest_ran_report(void)
{
    g_autofree char *text = NULL;
    g_autoptr(GHashTable) counts = NULL;
    g_auto(GStrv) lines = NULL;
    GHashTableIter it;
    gpointer key, value;
    int i;

    if (!g_file_get_contents(guest_ran_log, &text, NULL, NULL)) {
        return;
    }
    unlink(guest_ran_log);
    counts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    lines = g_strsplit(text, "\n", -1);
    for (i = 0; lines[i]; i++) {
        if (*lines[i]) {
            gpointer n = g_hash_table_lookup(counts, lines[i]);

            g_hash_table_replace(counts, g_strdup(lines[i]),
                                 GINT_TO_POINTER(GPOINTER_TO_INT(n) + 1));
        }
    }
    g_hash_table_iter_init(&it, counts);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        printf("# qmig-guest-ran %s count=%d\n", (char *)key,
               GPOINTER_TO_INT(value));
    }
    fflush(stdout);
}

/*
 * Before main(), in every test program that links libqtest: the process
 * that finds no log named in its environment is the top-level one; it
 * names one for itself and its g_test_trap_subprocess children (they
 * inherit the environment) and reports it at exit.
 */
static void __attribute__((constructor)) guest_ran_init(void)
{
    if (g_getenv(GUEST_RAN_ENV)) {
        return;
    }
    guest_ran_log = g_strdup_printf("%s/qtest-guest-ran-%d-%08x",
                                    g_get_tmp_dir(), (int)getpid(),
                                    g_random_int());
    unlink(guest_ran_log);
    g_setenv(GUEST_RAN_ENV, guest_ran_log, TRUE);
    atexit(guest_ran_report);
}
