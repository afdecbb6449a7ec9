/*
 * libqtest: run a VMM process (qmig, or QEMU for comparison) and drive it
 * over QMP from a glib test program.
 *
 * Every QTestState owns a private temporary directory holding its QMP
 * sockets, the child's stdout/stderr captures and whatever files the test
 * asks for (serial output, memory dumps); qtest_quit() removes it.  When
 * a test aborts it is left behind on purpose, for a post-mortem.
 *
 * The child gets PR_SET_PDEATHSIG(SIGKILL), so an assertion failure in the
 * test never leaves a VM running.  Every blocking wait is bounded by
 * qtest_timeout_s() (env QTEST_TIMEOUT, default 30 seconds) and ends in a
 * test failure that says what was awaited.
 *
 * Not thread-safe: one test thread drives a QTestState.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef TESTS_QTEST_LIBQTEST_H
#define TESTS_QTEST_LIBQTEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <glib.h>
#include <json-glib/json-glib.h>

typedef struct QTestState QTestState;
/* One QMP connection: its own input buffer and queue of unread events. */
typedef struct QTestQMP QTestQMP;

/* ---- environment ------------------------------------------------------ */

/* The binary under test: $QTEST_QMIG_BINARY, else $QTEST_QEMU_BINARY. */
const char *qtest_vmm_binary(void);
/* True when @binary is QEMU (qemu-system-*) rather than qmig. */
bool qtest_vmm_is_qemu(const char *binary);
/* Can this process open /dev/kvm read-write? */
bool qtest_kvm_available(void);
/*
 * The accelerator the guests of this run execute under: $QTEST_ACCEL when
 * set (meson registers each guest-booting program once per accelerator
 * with it), else "kvm" when /dev/kvm can be opened read-write, else "tcg".
 * Every test that boots a guest passes it as "-accel" (also to QEMU).
 */
const char *qtest_accel(void);
/* Is qtest_accel(), up to any ",option", the accelerator @name? */
bool qtest_accel_is(const char *name);
/*
 * Is @name one of the accelerators this test run covers: the comma list
 * $QTEST_ACCELS (meson sets the configured -Dqtest_accels), else kvm when
 * /dev/kvm is usable, and tcg.  Cases that need two accelerators at once
 * (migration between them) are registered only when both are covered.
 */
bool qtest_accel_in_run(const char *name);
/*
 * For a case that boots a guest, called where skips are decided (the
 * parent, not a g_test_trap_subprocess child): true, with the case
 * skipped and the reason given, when qtest_accel() cannot run here (kvm
 * was asked for and /dev/kvm is not usable).
 */
bool qtest_skip_without_accel(void);
/*
 * For a case whose feature only KVM has (the dirty ring, the dirty
 * limit): true, with the case skipped as "needs @what; running under
 * ACCEL", unless qtest_accel() is kvm; also true (and skipped) when it is
 * kvm but /dev/kvm is not usable.
 */
bool qtest_skip_unless_kvm(const char *what);
/* $NAME if it names a file, else g_test_skip() with the reason and NULL. */
const char *qtest_guest_image(const char *env_name);
/* Upper bound in seconds for any single wait (env QTEST_TIMEOUT). */
int qtest_timeout_s(void);
/*
 * main()'s set-up for a qtest program: g_test_init() with "--keep-going"
 * added (every failed case is reported, not just the first), then
 * qtest_vmm_binary(), so a missing variable is a setup error up front.
 */
void qtest_main_init(int *argc, char ***argv);

/* ---- process lifecycle ------------------------------------------------ */

/*
 * Create the state and its temporary directory, but start nothing yet, so
 * a test can name files in it (qtest_path) for its command line.
 */
QTestState *qtest_new(void);
/* "TMPDIR/NAME"; owned by @s, valid until qtest_quit(). */
const char *qtest_path(QTestState *s, const char *name);
/* Path of the serial capture qtest_init() sets up ("serial.txt"). */
const char *qtest_serial_path(QTestState *s);

/*
 * Start @binary with @args (split like a shell would, see
 * g_shell_parse_argv) plus "-display none" and @n_qmp QMP sockets
 * "-qmp unix:TMPDIR/qmpN.sock,server=on,wait=off"; connect to each (with
 * bounded retries while the socket does not exist yet), read the greeting
 * and negotiate qmp_capabilities.  With @n_qmp == 0 nothing is connected.
 * Fails the test if the process exits or never listens.
 * With $QTEST_VMM_WRAPPER set (e.g. "ip netns exec NS", to run the VMM
 * in a network namespace), the VMM is started under that command, which
 * must exec it in place; the QMP sockets stay unix sockets in TMPDIR.
 */
void qtest_start(QTestState *s, const char *binary, int n_qmp,
                 const char *args);
/*
 * The usual case: qtest_new(), then qtest_start() of qtest_vmm_binary()
 * with one QMP monitor, "-serial file:TMPDIR/serial.txt" and the
 * printf-formatted arguments.
 */
QTestState *qtest_initf(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

pid_t qtest_pid(QTestState *s);
/*
 * Send "quit" (when a monitor is connected and the child still runs), wait
 * for the exit, SIGKILL after the timeout, remove the temporary directory
 * and free @s.  Returns the wait status of the child.
 */
int qtest_quit(QTestState *s);
/*
 * Wait up to @timeout_s for the child to exit on its own; returns false on
 * timeout, else stores the wait status in *@status.
 */
bool qtest_wait_exit(QTestState *s, int timeout_s, int *status);
/* Has the child exited (reaped)?  Non-blocking. */
bool qtest_exited(QTestState *s);
/* Everything the child wrote to stderr so far (caller frees). */
char *qtest_stderr(QTestState *s);
/*
 * For a failure message: how the child ended ("VMM exited with status
 * 1", "VMM killed by signal 11 (Segmentation fault)", or "VMM still
 * running" when it has not exited within @wait_s seconds) and its stderr
 * (caller frees).  A clean exit with nothing on stderr is what qmig does
 * when its guest shuts down or resets (SHUTDOWN guest-reset).
 */
char *qtest_exit_reason(QTestState *s, int wait_s);

/*
 * Run @binary @args (no QMP, no extra options) to completion with a bounded
 * wait, capturing stdout and stderr.  For command lines that must fail.
 */
typedef struct QTestRun {
    int status;         /* wait status; -1 if it had to be killed */
    char *out;
    char *err;
} QTestRun;
void qtest_run_expect_exit(const char *binary, const char *args,
                           QTestRun *r);
void qtest_run_free(QTestRun *r);

/* ---- QMP --------------------------------------------------------------- */

/* The @n-th QMP connection made by qtest_start (0 is the default one). */
QTestQMP *qtest_qmp_conn(QTestState *s, int n);
/* Connect to any QMP socket (greeting read, capabilities NOT negotiated). */
QTestQMP *qtest_qmp_connect(QTestState *s, const char *path);
/*
 * Client mode (-qmp unix:PATH without server=on, -chardev socket
 * connecting): wait (bounded) for @s to connect to @listen_fd, failing
 * the test with its stderr if it exits or never comes.  Returns the
 * accepted socket; @what names the socket in messages.
 */
int qtest_accept(QTestState *s, int listen_fd, const char *what);
/* The same, then read the QMP greeting (capabilities NOT negotiated). */
QTestQMP *qtest_qmp_accept(QTestState *s, int listen_fd, const char *what);
void qtest_qmp_close(QTestQMP *q);

/* Send raw text on a connection, optionally with fds (SCM_RIGHTS). */
void qmp_send_raw(QTestQMP *q, const char *text, const int *fds, int nfds);
/*
 * Next message that is not an event (events read meanwhile are queued).
 * Fails the test on timeout or EOF.  Caller unrefs.
 */
JsonNode *qmp_receive(QTestQMP *q);
/* Send printf-formatted JSON (double-quoted), return the reply. */
JsonNode *qmp_cmd(QTestQMP *q, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
JsonNode *qmp_vcmd(QTestQMP *q, const int *fds, int nfds,
                   const char *fmt, va_list ap) G_GNUC_PRINTF(4, 0);
/*
 * Wait for event @name on @q (queued ones first; earlier events of other
 * names stay queued).  Returns it (caller unrefs); fails on timeout.
 */
JsonNode *qmp_eventwait(QTestQMP *q, const char *name);
/* Is an event @name already received or readable without blocking? */
bool qmp_event_seen(QTestQMP *q, const char *name);
/* The greeting object the server sent on connect (owned by @q). */
JsonNode *qmp_greeting(QTestQMP *q);

/* Shorthands on connection 0. */
JsonNode *qtest_qmp(QTestState *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
JsonNode *qtest_qmp_fds(QTestState *s, const int *fds, int nfds,
                        const char *fmt, ...) G_GNUC_PRINTF(4, 5);
/* Fails the test unless the reply is a "return"; returns it (unref). */
JsonNode *qtest_qmp_assert_success_ref(QTestState *s, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);
void qtest_qmp_assert_success(QTestState *s, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);
JsonNode *qtest_qmp_eventwait(QTestState *s, const char *name);
/* query-status "status" (caller frees) and "running". */
char *qtest_query_status(QTestState *s, bool *running);
/* Fail unless query-status reports @status. */
void qtest_assert_status(QTestState *s, const char *status);
/* human-monitor-command; returns the text (caller frees). */
char *qtest_hmp(QTestState *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/*
 * Send the printf-formatted command and fail the test unless it is refused
 * with an error whose "desc" contains @needle.
 */
void qtest_qmp_assert_error(QTestState *s, const char *needle,
                            const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* ---- replies ----------------------------------------------------------- */

bool qmp_rsp_is_error(JsonNode *rsp);
/* error "class" / "desc" (owned by @rsp), or NULL when not an error. */
const char *qmp_rsp_error_class(JsonNode *rsp);
const char *qmp_rsp_error_desc(JsonNode *rsp);
/* The object member @name of the top-level object (owned by @rsp). */
JsonNode *qmp_rsp_member(JsonNode *rsp, const char *name);
/* Serialize for failure messages (caller frees). */
char *qmp_to_string(JsonNode *node);

/* ---- sockets ----------------------------------------------------------- */

/*
 * A listening AF_UNIX stream socket at @path (any stale file there is
 * removed first), for a test that plays one end itself.  Fails the test
 * on any error.
 */
int qtest_unix_listen(const char *path);
/* A listening TCP socket on 127.0.0.1, its (free) port in *@port. */
int qtest_tcp_listen(int *port);

/* ---- serial ------------------------------------------------------------ */

/* Occurrences of @c in the file at @path (0 if it does not exist). */
size_t qtest_file_count_char(const char *path, char c);
/*
 * Poll the file at @path (it only grows) until @c occurs @count times.
 * Returns false after @timeout_s, or early if @s's child exits.  A
 * success with @count >= 1 on @s's own serial capture is guest output,
 * so it also counts as qtest_note_guest_ran(@s).
 */
bool qtest_wait_serial(QTestState *s, const char *path, char c,
                       size_t count, int timeout_s);

/*
 * The accelerator @s runs under, for the record qtest_note_guest_ran()
 * keeps, when the command line alone does not say (several -accel: the
 * first that works wins; the test asks query-kvm).
 */
void qtest_set_accel(QTestState *s, const char *accel);
/*
 * Proof for the test summary that guests really ran (a suite whose every
 * guest case skipped must not pass as green).  Call it only on evidence
 * that guest code executed in @s: output the guest itself wrote (qmig has
 * no firmware, so nothing else writes its UARTs).  Each test program
 * closes its TAP output with one comment line per accelerator and VMM,
 *     # qmig-guest-ran accel=tcg vmm=qmig count=N
 * which scripts/test-summary.py looks for.  Cases run in
 * g_test_trap_subprocess children, whose stdout glib swallows, so the
 * children append to a file the top-level process names in the
 * environment ($QTEST_GUEST_RAN_LOG) and reads back at exit.
 */
void qtest_note_guest_ran(QTestState *s);

#endif
