/*
 * Character devices: the registry, option parsing, the front-end
 * interface and the input loop shared by every back end.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <poll.h>
#include <sys/socket.h>
#include <glib-unix.h>
#include "chardev-internal.h"
#include "trace.h"

/* Largest chunk handed to a front end in one read() callback. */
#define CHR_READ_BUF_LEN 4096
/*
 * When the front end cannot take input, the core stops polling the fd and
 * looks again after this long (or at once on qemu_chr_fe_accept_input()).
 */
#define CHR_READ_RETRY_MS 10

/* label -> Chardev; main thread only. */
static GHashTable *chardevs;

static const ChardevClass *const chardev_classes[] = {
    &char_file_class,
    &char_stdio_class,
    &char_null_class,
    &char_socket_class,
};

static const ChardevClass *chardev_class_find(const char *kind)
{
    for (size_t i = 0; i < ARRAY_SIZE(chardev_classes); i++) {
        if (!strcmp(chardev_classes[i]->kind, kind)) {
            return chardev_classes[i];
        }
    }
    return NULL;
}

Chardev *qemu_chr_find(const char *id)
{
    return chardevs ? g_hash_table_lookup(chardevs, id) : NULL;
}

const char *qemu_chr_label(Chardev *chr)
{
    return chr->label;
}

static bool chardev_check_keys(const ChardevClass *cls, QemuOpts *opts,
                               Error **errp)
{
    g_autoptr(GPtrArray) known = g_ptr_array_new();

    g_ptr_array_add(known, (gpointer)"backend");
    g_ptr_array_add(known, (gpointer)"id");
    for (const char *const *k = cls->keys; k && *k; k++) {
        g_ptr_array_add(known, (gpointer)*k);
    }
    g_ptr_array_add(known, NULL);
    return qemu_opts_check_keys(opts, (const char *const *)known->pdata,
                                cls->kind, errp);
}

static Chardev *chardev_create(const char *label, const ChardevClass *cls,
                               QemuOpts *opts, Error **errp)
{
    Chardev *chr;

    if (qemu_chr_find(label)) {
        error_setg(errp, "chardev '%s' already exists", label);
        return NULL;
    }
    if (!chardev_check_keys(cls, opts, errp)) {
        return NULL;
    }
    chr = g_malloc0(cls->instance_size);
    chr->label = g_strdup(label);
    chr->cls = cls;
    chr->in_fd = -1;
    g_mutex_init(&chr->chr_write_lock);
    if (!cls->open(chr, opts, errp)) {
        error_prepend(errp, "chardev '%s': ", label);
        g_mutex_clear(&chr->chr_write_lock);
        g_free(chr->label);
        g_free(chr);
        return NULL;
    }
    if (!chardevs) {
        chardevs = g_hash_table_new(g_str_hash, g_str_equal);
    }
    g_hash_table_insert(chardevs, chr->label, chr);
    trace_chardev_new(label, cls->kind);
    return chr;
}

Chardev *qemu_chr_new_from_opts(QemuOpts *opts, Error **errp)
{
    const char *kind = qemu_opt_get(opts, "backend");
    const char *id = qemu_opt_get(opts, "id");
    const ChardevClass *cls;

    if (!kind) {
        error_setg(errp, "chardev: \"backend\" is missing");
        return NULL;
    }
    cls = chardev_class_find(kind);
    if (!cls) {
        error_setg(errp, "'%s' is not a valid char driver name", kind);
        return NULL;
    }
    if (!id) {
        error_setg(errp, "Parameter 'id' is missing");
        return NULL;
    }
    return chardev_create(id, cls, opts, errp);
}

/*
 * QEMU still accepts bare flags in option strings: "server" means
 * server=on, "nowait" wait=off, "noX" X=off in general.  qemu_opts_parse()
 * wants key=value, so rewrite them first.  @skip_first leaves the leading
 * element (the implied key) alone.
 */
static char *chardev_expand_flags(const char *str, bool skip_first)
{
    GString *out = g_string_new(NULL);
    const char *p = str;
    bool first = true;

    while (*p || first) {
        const char *start = p;
        g_autofree char *elem = NULL;

        /* Find the element's end, stepping over ",," escapes. */
        while (*p && !(*p == ',' && p[1] != ',')) {
            p += (*p == ',') ? 2 : 1;
        }
        elem = g_strndup(start, p - start);
        if (!first) {
            g_string_append_c(out, ',');
        }
        if ((first && skip_first) || strchr(elem, '=') || !elem[0]) {
            g_string_append(out, elem);
        } else if (!strcmp(elem, "nodelay")) {
            g_string_append(out, "nodelay=on");
        } else if (g_str_has_prefix(elem, "no")) {
            g_string_append_printf(out, "%s=off", elem + 2);
        } else {
            g_string_append_printf(out, "%s=on", elem);
        }
        if (*p == ',') {
            p++;
        }
        first = false;
    }
    return g_string_free(out, FALSE);
}

QemuOpts *qemu_chr_parse_opts(const char *str, Error **errp)
{
    g_autofree char *expanded = chardev_expand_flags(str, true);

    return qemu_opts_parse(expanded, "backend", errp);
}

/* "unix:PATH[,opts]" and "tcp:HOST:PORT[,opts]" as socket options. */
static QemuOpts *chardev_socket_short_opts(const char *spec, bool is_unix,
                                           Error **errp)
{
    const char *comma = strchr(spec, ',');
    g_autofree char *addr = comma ? g_strndup(spec, comma - spec)
                                  : g_strdup(spec);
    g_autofree char *rest = chardev_expand_flags(comma ? comma + 1 : "",
                                                 false);
    g_autoptr(GString) s = g_string_new("backend=socket");

    if (is_unix) {
        g_string_append_printf(s, ",path=%s", addr);
    } else {
        char *colon = strrchr(addr, ':');

        if (!colon) {
            error_setg(errp, "tcp: address '%s' lacks a port (HOST:PORT)",
                       addr);
            return NULL;
        }
        *colon = '\0';
        g_string_append_printf(s, ",host=%s,port=%s", addr, colon + 1);
    }
    if (rest[0]) {
        g_string_append_printf(s, ",%s", rest);
    }
    return qemu_opts_parse(s->str, NULL, errp);
}

Chardev *qemu_chr_new(const char *label, const char *spec, Error **errp)
{
    g_autoptr(QemuOpts) opts = NULL;
    const char *kind;

    if (!strcmp(spec, "none")) {
        return NULL;
    }
    if (g_str_has_prefix(spec, "chardev:")) {
        Chardev *chr = qemu_chr_find(spec + 8);

        if (!chr) {
            error_setg(errp, "chardev '%s' not found", spec + 8);
        }
        return chr;
    }
    if (g_str_has_prefix(spec, "file:")) {
        /* The rest is the path, verbatim: escape its commas. */
        g_auto(GStrv) parts = g_strsplit(spec + 5, ",", -1);
        g_autofree char *path = g_strjoinv(",,", parts);
        g_autofree char *s = g_strdup_printf("backend=file,path=%s", path);

        if (!spec[5]) {
            error_setg(errp, "file: needs a path");
            return NULL;
        }
        opts = qemu_opts_parse(s, NULL, errp);
    } else if (g_str_has_prefix(spec, "unix:")) {
        opts = chardev_socket_short_opts(spec + 5, true, errp);
    } else if (g_str_has_prefix(spec, "tcp:")) {
        opts = chardev_socket_short_opts(spec + 4, false, errp);
    } else if (!strcmp(spec, "stdio") || !strcmp(spec, "null")) {
        opts = qemu_opts_parse(spec, "backend", errp);
    } else {
        error_setg(errp, "'%s' is not a valid char driver", spec);
        return NULL;
    }
    if (!opts) {
        return NULL;
    }
    kind = qemu_opt_get(opts, "backend");
    return chardev_create(label, chardev_class_find(kind), opts, errp);
}

/* ---- input ---- */

static gboolean chardev_input_ready(gint fd, GIOCondition cond,
                                    gpointer opaque);

static void chardev_watch_input(Chardev *chr, bool on)
{
    if (chr->in_watch) {
        g_source_remove(chr->in_watch);
        chr->in_watch = 0;
    }
    if (chr->retry_timer) {
        g_source_remove(chr->retry_timer);
        chr->retry_timer = 0;
    }
    if (on && chr->in_fd >= 0 && chr->fe_ops) {
        chr->in_watch = g_unix_fd_add(chr->in_fd,
                                      G_IO_IN | G_IO_HUP | G_IO_ERR,
                                      chardev_input_ready, chr);
    }
}

static gboolean chardev_retry_read(gpointer opaque)
{
    Chardev *chr = opaque;

    chr->retry_timer = 0;
    chardev_watch_input(chr, true);
    return G_SOURCE_REMOVE;
}

static gboolean chardev_input_ready(gint fd, GIOCondition cond,
                                    gpointer opaque)
{
    Chardev *chr = opaque;
    uint8_t buf[CHR_READ_BUF_LEN];
    int room = chr->fe_ops->can_read ?
               chr->fe_ops->can_read(chr->fe_opaque) : (int)sizeof(buf);
    ssize_t n;

    if (room <= 0) {
        /* The front end is full: stop polling until it has room. */
        chr->in_watch = 0;
        chr->retry_timer = g_timeout_add(CHR_READ_RETRY_MS,
                                         chardev_retry_read, chr);
        return G_SOURCE_REMOVE;
    }
    n = chr->cls->read(chr, buf, MIN((size_t)room, sizeof(buf)));
    if (n == -EAGAIN || n == -EINTR) {
        return G_SOURCE_CONTINUE;
    }
    if (n <= 0) {
        trace_chardev_input_end(chr->label, (int)-n);
        chr->in_watch = 0;
        chr->cls->disconnect(chr);
        return G_SOURCE_REMOVE;
    }
    if (chr->fe_ops->read) {
        chr->fe_ops->read(chr->fe_opaque, buf, n);
    }
    return G_SOURCE_CONTINUE;
}

void qemu_chr_set_input_fd(Chardev *chr, int fd)
{
    chr->in_fd = fd;
    chardev_watch_input(chr, fd >= 0);
}

void qemu_chr_be_event(Chardev *chr, ChrEvent event)
{
    chr->be_open = event == CHR_EVENT_OPENED;
    trace_chardev_event(chr->label, event == CHR_EVENT_OPENED ? "opened"
                                                              : "closed");
    if (chr->fe_ops && chr->fe_ops->event) {
        chr->fe_ops->event(chr->fe_opaque, event);
    }
}

/* ---- front-end interface ---- */

void qemu_chr_fe_set_handlers(Chardev *chr, const ChrFrontendOps *ops,
                              void *opaque)
{
    chr->fe_ops = ops;
    chr->fe_opaque = opaque;
    chardev_watch_input(chr, ops != NULL);
    /* A peer that is already there is news to a new front end. */
    if (ops && chr->be_open && ops->event) {
        ops->event(opaque, CHR_EVENT_OPENED);
    }
}

void qemu_chr_fe_accept_input(Chardev *chr)
{
    if (chr->retry_timer) {
        chardev_watch_input(chr, true);
    }
}

int qemu_chr_fe_get_msgfd(Chardev *chr)
{
    return chr->cls->get_msgfd ? chr->cls->get_msgfd(chr) : -1;
}

void qemu_chr_fe_disconnect(Chardev *chr)
{
    if (chr->be_open && chr->cls == &char_socket_class) {
        chardev_watch_input(chr, false);
        chr->cls->disconnect(chr);
    }
}

/* ---- output ---- */

int qemu_chr_fd_write_all(int fd, bool is_socket, const uint8_t *buf,
                          int len)
{
    int done = 0;

    while (done < len) {
        ssize_t n = is_socket ?
            send(fd, buf + done, len - done, MSG_NOSIGNAL) :
            write(fd, buf + done, len - done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = { .fd = fd, .events = POLLOUT };

            RETRY_ON_EINTR(poll(&pfd, 1, -1));
            continue;
        }
        if (n < 0) {
            return -errno;
        }
        done += n;
    }
    return len;
}

int qemu_chr_write_all(Chardev *chr, const uint8_t *buf, int len)
{
    int ret;

    if (len <= 0) {
        return 0;
    }
    g_mutex_lock(&chr->chr_write_lock);
    ret = chr->cls->write(chr, buf, len);
    g_mutex_unlock(&chr->chr_write_lock);
    return ret;
}

/* ---- teardown ---- */

static void chardev_destroy(Chardev *chr)
{
    chardev_watch_input(chr, false);
    /* The front ends are gone by now (monitor_cleanup() runs first). */
    chr->fe_ops = NULL;
    if (chr->cls->finalize) {
        chr->cls->finalize(chr);
    }
    g_mutex_clear(&chr->chr_write_lock);
    g_free(chr->label);
    g_free(chr);
}

void qemu_chr_cleanup(void)
{
    GHashTableIter iter;
    gpointer value;

    if (!chardevs) {
        return;
    }
    g_hash_table_iter_init(&iter, chardevs);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        g_hash_table_iter_remove(&iter);
        chardev_destroy(value);
    }
    g_hash_table_destroy(chardevs);
    chardevs = NULL;
}
