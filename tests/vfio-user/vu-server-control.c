/*
 * vfio-user-server: the control socket, the test's side door.  Owns the
 * one-line text commands ("info", "hash", "dma-check", "fail-transition
 * [FROM:]TO [error]", "quit") and their answers.  Not to be confused with
 * vu-server-ctl.c, the tests' end of this socket.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "vu-server.h"

static int parse_state(const char *name)
{
    uint32_t s;

    for (s = 0; s < VFIO_DEVICE_NUM_STATES; s++) {
        if (!g_ascii_strcasecmp(name, vfio_user_mig_state_name(s))) {
            return s;
        }
    }
    return g_str_equal(name, "any") ? -2 : -1;
}

static char *control_info(void)
{
    char hash[HASH_LEN * 2 + 1];

    state_hash(hash);
    return g_strdup_printf(
        "state=%s hash=%s saved-hash=%s loaded-hash=%s seq=%" PRIu64
        " dma-writes=%" PRIu64 " dma-skipped=%" PRIu64 " logging=%s "
        "maps=%u resume-check=%s",
        vfio_user_mig_state_name(dev.mig_state), hash,
        dev.saved_hash[0] ? dev.saved_hash : "none",
        dev.loaded_hash[0] ? dev.loaded_hash : "none", dev_ctl()->seq,
        dev.dma_writes, dev.dma_skipped, dev.logging ? "on" : "off",
        dev.nmaps, dev.verify_result ? dev.verify_result : "none");
}

/* Answer one control line; sets *quit for "quit". */
static char *control_command(const char *line, bool *quit)
{
    g_auto(GStrv) argv = g_strsplit(line, " ", 3);
    char hash[HASH_LEN * 2 + 1];
    int target;

    if (g_str_equal(argv[0], "info")) {
        return control_info();
    }
    if (g_str_equal(argv[0], "hash")) {
        state_hash(hash);
        return g_strdup(hash);
    }
    if (g_str_equal(argv[0], "dma-check")) {
        return dma_check();
    }
    if (g_str_equal(argv[0], "fail-transition") && argv[1]) {
        /* [FROM:]TO: only a SET to TO (made while in FROM) fails. */
        char *colon = strchr(argv[1], ':');
        int from = -1;

        if (colon) {
            *colon = '\0';
            from = parse_state(argv[1]);
            if (from < 0) {
                return g_strdup("error: unknown state");
            }
        }
        target = parse_state(colon ? colon + 1 : argv[1]);
        if (target == -1) {
            return g_strdup("error: unknown state");
        }
        dev.fail_target = target;
        dev.fail_from = from;
        dev.fail_to_error = argv[2] && g_str_equal(argv[2], "error");
        return g_strdup("ok");
    }
    if (g_str_equal(argv[0], "quit")) {
        *quit = true;
        return g_strdup("ok");
    }
    return g_strdup("error: unknown command");
}

/* Read what is there; answer whole lines.  False: close it. */
bool control_read(Control *c, bool *quit)
{
    ssize_t n = RETRY_ON_EINTR(read(c->fd, c->buf + c->len,
                                    sizeof(c->buf) - c->len));
    char *nl;

    if (n <= 0) {
        return false;
    }
    c->len += n;
    while ((nl = memchr(c->buf, '\n', c->len))) {
        g_autofree char *answer = NULL;
        g_autofree char *reply = NULL;

        *nl = '\0';
        g_mutex_lock(&dev.lock);
        answer = control_command(c->buf, quit);
        g_mutex_unlock(&dev.lock);
        reply = g_strconcat(answer, "\n", NULL);
        if (write(c->fd, reply, strlen(reply)) != strlen(reply)) {
            return false;
        }
        c->len -= nl + 1 - c->buf;
        memmove(c->buf, nl + 1, c->len);
    }
    return c->len < sizeof(c->buf);     /* a line too long: drop it */
}

