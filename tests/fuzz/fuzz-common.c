/*
 * Shared bits of the fuzz targets' entry files (see fuzz-common.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <sys/socket.h>
#include "qapi/error.h"
#include "fuzz-common.h"

#define MAKE_SEEDS_FLAG "--make-seeds="

void fuzz_handle_make_seeds(int argc, char **argv,
                            bool (*make)(const char *dir, Error **errp))
{
    for (int i = 1; i < argc; i++) {
        const char *dir;
        Error *err = NULL;

        if (!g_str_has_prefix(argv[i], MAKE_SEEDS_FLAG)) {
            continue;
        }
        dir = argv[i] + strlen(MAKE_SEEDS_FLAG);
        if (g_mkdir_with_parents(dir, 0755) < 0) {
            fprintf(stderr, "cannot create %s: %s\n", dir, strerror(errno));
            exit(1);
        }
        if (!make(dir, &err)) {
            error_report_err(err);
            exit(1);
        }
        exit(0);
    }
}

bool fuzz_write_seed(const char *dir, const char *name, const void *data,
                     size_t len, Error **errp)
{
    g_autofree char *path = g_strdup_printf("%s/%s.bin", dir, name);
    g_autoptr(GError) gerr = NULL;

    if (!g_file_set_contents(path, data, len, &gerr)) {
        error_setg(errp, "cannot write seed %s: %s", path, gerr->message);
        return false;
    }
    printf("seed %-20s %7zu bytes\n", name, len);
    return true;
}

void fuzz_check_error(bool ok, Error *err)
{
    if (ok) {
        assert(!err);
        return;
    }
    /* Rejecting bad input is the expected outcome: it must say why. */
    if (!err || !*error_get_pretty(err)) {
        fprintf(stderr, "input rejected without an error message\n");
        abort();
    }
    error_free(err);
}

void fuzz_socketpair_feed(int sv[2], const uint8_t *data, size_t size)
{
    int sz = FUZZ_SOCK_BUF;
    size_t done = 0;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        perror("fuzz: socketpair");
        abort();
    }
    for (int i = 0; i < 2; i++) {
        /* Past net.core.wmem_max where allowed (root), else the max. */
        if (setsockopt(sv[i], SOL_SOCKET, SO_SNDBUFFORCE, &sz,
                       sizeof(sz)) < 0) {
            setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
        }
    }
    fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
    while (done < size) {
        ssize_t n = write(sv[1], data + done, size - done);

        if (n <= 0) {
            break;
        }
        done += n;
    }
    shutdown(sv[1], SHUT_WR);
}
