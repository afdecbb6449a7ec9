/*
 * The qtest protocol server.
 *
 * Each request is one line; each reply is one line, "OK[ value]" or
 * "FAIL reason".  Supported: readb/readw/readl/readq ADDR, writeb/writew/
 * writel/writeq ADDR VALUE, read ADDR SIZE (reply: 0x + hex), write ADDR
 * SIZE 0xHEX, b64read ADDR SIZE, b64write ADDR SIZE BASE64, memset ADDR
 * SIZE BYTE, inb/inw/inl PORT, outb/outw/outl PORT VALUE, endianness.
 * Guest memory is little-endian (x86).  Writes go through
 * guest_mem_write() so they set the RAM blocks' soft dirty bits and
 * migration sees them.
 *
 * Runs in the main thread under the BQL (chardev handlers).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "chardev/char.h"
#include "hw/ioport.h"
#include "system/qtest.h"
#include "system/ramblock.h"
#include "trace.h"

/* Bounds what one request may read or write (also bounds reply size). */
#define QTEST_MAX_SIZE (64 * MiB)

typedef struct QTestState {
    Chardev *chr;
    GString *inbuf;         /* BQL: the partial request line */
    FILE *log;              /* -qtest-log, or NULL; BQL */
    gint64 start_us;        /* log timestamps count from here */
} QTestState;

static QTestState qtest;

/* One -qtest-log line: @dir 'R' for a request, 'S' for a reply. */
static void qtest_log_line(char dir, const char *line)
{
    if (!qtest.log) {
        return;
    }
    fprintf(qtest.log, "[%c +%f] %s\n", dir,
            (g_get_monotonic_time() - qtest.start_us) / (double)G_USEC_PER_SEC,
            line);
    fflush(qtest.log);
}

static void qtest_reply(const char *fmt, ...) QEMU_PRINTF_FMT(1, 2);

static void qtest_reply(const char *fmt, ...)
{
    g_autoptr(GString) line = g_string_new(NULL);
    va_list ap;

    va_start(ap, fmt);
    g_string_append_vprintf(line, fmt, ap);
    va_end(ap);
    trace_qtest_reply(line->str);
    qtest_log_line('S', line->str);
    g_string_append_c(line, '\n');
    qemu_chr_write_all(qtest.chr, (const uint8_t *)line->str, line->len);
}

static bool qtest_num(const char *s, uint64_t *v)
{
    return s && qemu_strtou64(s, v);
}

static unsigned qtest_width(char suffix)
{
    switch (suffix) {
    case 'b':
        return 1;
    case 'w':
        return 2;
    case 'l':
        return 4;
    case 'q':
        return 8;
    default:
        return 0;
    }
}

/* readX / writeX: little-endian scalars in guest memory. */
static void qtest_mem_scalar(char **w, unsigned width, bool is_write)
{
    uint64_t addr, val = 0;
    Error *err = NULL;

    if (!qtest_num(w[1], &addr) || (is_write && !qtest_num(w[2], &val))) {
        qtest_reply("FAIL bad arguments");
        return;
    }
    if (is_write) {
        uint64_t le = GUINT64_TO_LE(val);

        if (!guest_mem_write(addr, &le, width, &err)) {
            goto fail;
        }
        qtest_reply("OK");
        return;
    }
    if (!guest_mem_read(addr, &val, width, &err)) {
        goto fail;
    }
    qtest_reply("OK 0x%016" PRIx64, GUINT64_FROM_LE(val));
    return;
fail:
    qtest_reply("FAIL %s", error_get_pretty(err));
    error_free(err);
}

static bool qtest_range(char **w, uint64_t *addr, uint64_t *size)
{
    if (!qtest_num(w[1], addr) || !qtest_num(w[2], size) ||
        *size > QTEST_MAX_SIZE) {
        qtest_reply("FAIL bad address or size (at most %" PRId64 " bytes)",
                    (int64_t)QTEST_MAX_SIZE);
        return false;
    }
    return true;
}

static void qtest_mem_read(char **w, bool b64)
{
    uint64_t addr, size;
    g_autofree uint8_t *buf = NULL;
    Error *err = NULL;

    if (!qtest_range(w, &addr, &size)) {
        return;
    }
    buf = g_malloc(size ? size : 1);
    if (!guest_mem_read(addr, buf, size, &err)) {
        qtest_reply("FAIL %s", error_get_pretty(err));
        error_free(err);
        return;
    }
    if (b64) {
        g_autofree char *enc = g_base64_encode(buf, size);

        qtest_reply("OK %s", enc);
    } else {
        g_autoptr(GString) hex = g_string_sized_new(size * 2 + 3);

        g_string_append(hex, "0x");
        for (uint64_t i = 0; i < size; i++) {
            g_string_append_printf(hex, "%02x", buf[i]);
        }
        qtest_reply("OK %s", hex->str);
    }
}

static uint8_t *qtest_decode(const char *data, bool b64, uint64_t size)
{
    uint8_t *buf;

    if (b64) {
        gsize len;

        buf = g_base64_decode(data, &len);
        if (len != size) {
            g_free(buf);
            return NULL;
        }
        return buf;
    }
    if (g_str_has_prefix(data, "0x")) {
        data += 2;
    }
    if (strlen(data) != size * 2) {
        return NULL;
    }
    buf = g_malloc(size ? size : 1);
    for (uint64_t i = 0; i < size; i++) {
        int hi = g_ascii_xdigit_value(data[2 * i]);
        int lo = g_ascii_xdigit_value(data[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            g_free(buf);
            return NULL;
        }
        buf[i] = hi << 4 | lo;
    }
    return buf;
}

static void qtest_mem_write(char **w, bool b64, bool is_memset)
{
    uint64_t addr, size, byte;
    g_autofree uint8_t *buf = NULL;
    Error *err = NULL;

    if (!qtest_range(w, &addr, &size) || !w[3]) {
        if (w[1] && w[2]) {
            qtest_reply("FAIL missing data");
        }
        return;
    }
    if (is_memset) {
        if (!qtest_num(w[3], &byte)) {
            qtest_reply("FAIL bad byte value");
            return;
        }
        buf = g_malloc(size ? size : 1);
        memset(buf, byte, size);
    } else {
        buf = qtest_decode(w[3], b64, size);
        if (!buf) {
            qtest_reply("FAIL data does not match size %" PRIu64, size);
            return;
        }
    }
    if (!guest_mem_write(addr, buf, size, &err)) {
        qtest_reply("FAIL %s", error_get_pretty(err));
        error_free(err);
        return;
    }
    qtest_reply("OK");
}

static void qtest_pio(char **w, unsigned width, bool is_write)
{
    uint64_t port, val = 0;

    if (!qtest_num(w[1], &port) || port > 0xffff ||
        (is_write && !qtest_num(w[2], &val))) {
        qtest_reply("FAIL bad arguments");
        return;
    }
    if (is_write) {
        portio_write(port, val, width);
        qtest_reply("OK");
    } else {
        qtest_reply("OK 0x%04x", portio_read(port, width));
    }
}

static void qtest_process_command(char **w)
{
    const char *cmd = w[0];
    size_t len = strlen(cmd);
    unsigned width = len ? qtest_width(cmd[len - 1]) : 0;

    trace_qtest_command(cmd);
    if (width && len == 5 && g_str_has_prefix(cmd, "read")) {
        qtest_mem_scalar(w, width, false);
    } else if (width && len == 6 && g_str_has_prefix(cmd, "write")) {
        qtest_mem_scalar(w, width, true);
    } else if (!strcmp(cmd, "read") || !strcmp(cmd, "b64read")) {
        qtest_mem_read(w, cmd[0] == 'b');
    } else if (!strcmp(cmd, "write") || !strcmp(cmd, "b64write")) {
        qtest_mem_write(w, cmd[0] == 'b', false);
    } else if (!strcmp(cmd, "memset")) {
        qtest_mem_write(w, false, true);
    } else if (width && width < 8 && len == 3 && cmd[0] == 'i' &&
               cmd[1] == 'n') {
        qtest_pio(w, width, false);
    } else if (width && width < 8 && len == 4 &&
               g_str_has_prefix(cmd, "out")) {
        qtest_pio(w, width, true);
    } else if (!strcmp(cmd, "endianness")) {
        qtest_reply("OK little");
    } else {
        qtest_reply("FAIL Unknown command '%s'", cmd);
    }
}

static int qtest_can_read(void *opaque)
{
    return 4096;
}

static void qtest_read(void *opaque, const uint8_t *buf, int size)
{
    char *nl;

    g_string_append_len(qtest.inbuf, (const char *)buf, size);
    while ((nl = strchr(qtest.inbuf->str, '\n'))) {
        g_autofree char *line = g_strndup(qtest.inbuf->str,
                                          nl - qtest.inbuf->str);
        g_auto(GStrv) words = NULL;

        g_string_erase(qtest.inbuf, 0, nl - qtest.inbuf->str + 1);
        g_strstrip(line);
        if (!*line) {
            continue;
        }
        qtest_log_line('R', line);
        words = g_strsplit_set(line, " ", -1);
        qtest_process_command(words);
    }
    if (qtest.inbuf->len > 2 * QTEST_MAX_SIZE + 4096) {
        qtest_reply("FAIL request too long");
        g_string_truncate(qtest.inbuf, 0);
    }
}

static void qtest_event(void *opaque, ChrEvent event)
{
    if (event == CHR_EVENT_OPENED) {
        g_string_truncate(qtest.inbuf, 0);
    }
}

static const ChrFrontendOps qtest_chr_ops = {
    .can_read = qtest_can_read,
    .read = qtest_read,
    .event = qtest_event,
};

bool qtest_server_init(const char *spec, const char *log, Error **errp)
{
    if (log && (!strcmp(log, "/dev/fd/2") || !strcmp(log, "/dev/stderr"))) {
        /* Opening it again with "w" would truncate a captured stderr. */
        qtest.log = stderr;
    } else if (log && strcmp(log, "none")) {
        qtest.log = fopen(log, "w");
        if (!qtest.log) {
            error_setg_errno(errp, errno, "-qtest-log %s: cannot open", log);
            return false;
        }
    }
    qtest.start_us = g_get_monotonic_time();
    qtest.chr = qemu_chr_new("qtest", spec, errp);
    if (!qtest.chr) {
        return false;
    }
    qtest.inbuf = g_string_new(NULL);
    qemu_chr_fe_set_handlers(qtest.chr, &qtest_chr_ops, NULL);
    return true;
}
