/*
 * Error objects and reporting.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"

struct Error {
    char *msg;
    GString *hint;
    ErrorClass cls;
    const char *src;
    int line;
};

/* Sentinels: only their addresses matter. */
Error *error_fatal;
Error *error_abort;

static const char *progname = "qmig";

void error_set_progname(const char *name)
{
    progname = name;
}

static void error_handle_special(Error **errp, Error *err)
{
    if (errp == &error_abort) {
        fprintf(stderr, "Unexpected error at %s:%d: %s\n",
                err->src, err->line, err->msg);
        abort();
    }
    if (errp == &error_fatal) {
        error_report_err(err);
        exit(1);
    }
}

static void error_setv(Error **errp, const char *src, int line,
                       ErrorClass cls, const char *fmt, va_list ap,
                       const char *suffix)
{
    Error *err;

    if (!errp) {
        return;
    }
    assert(*errp == NULL || errp == &error_abort || errp == &error_fatal);

    err = g_new0(Error, 1);
    err->msg = g_strdup_vprintf(fmt, ap);
    if (suffix) {
        char *full = g_strdup_printf("%s: %s", err->msg, suffix);

        g_free(err->msg);
        err->msg = full;
    }
    err->cls = cls;
    err->src = src;
    err->line = line;

    if (errp == &error_abort || errp == &error_fatal) {
        error_handle_special(errp, err);
    }
    *errp = err;
}

void error_setg_internal(Error **errp, const char *src, int line,
                         const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_setv(errp, src, line, ERROR_CLASS_GENERIC_ERROR, fmt, ap, NULL);
    va_end(ap);
}

void error_setg_errno_internal(Error **errp, const char *src, int line,
                               int os_errno, const char *fmt, ...)
{
    va_list ap;
    int saved = errno;

    va_start(ap, fmt);
    error_setv(errp, src, line, ERROR_CLASS_GENERIC_ERROR, fmt, ap,
               os_errno ? g_strerror(os_errno) : NULL);
    va_end(ap);
    errno = saved;
}

void error_set_class_internal(Error **errp, const char *src, int line,
                              ErrorClass cls, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_setv(errp, src, line, cls, fmt, ap, NULL);
    va_end(ap);
}

void error_propagate(Error **dst_errp, Error *local_err)
{
    if (!local_err) {
        return;
    }
    if (dst_errp == &error_abort || dst_errp == &error_fatal) {
        error_handle_special(dst_errp, local_err);
    }
    if (dst_errp && !*dst_errp) {
        *dst_errp = local_err;
    } else {
        /* Nobody wants it, or the first error wins. */
        error_free(local_err);
    }
}

void error_prepend(Error **errp, const char *fmt, ...)
{
    va_list ap;
    char *prefix;
    char *full;

    if (!errp || !*errp) {
        return;
    }
    va_start(ap, fmt);
    prefix = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    full = g_strconcat(prefix, (*errp)->msg, NULL);
    g_free(prefix);
    g_free((*errp)->msg);
    (*errp)->msg = full;
}

void error_append_hint(Error **errp, const char *fmt, ...)
{
    va_list ap;

    if (!errp || !*errp || errp == &error_abort || errp == &error_fatal) {
        return;
    }
    if (!(*errp)->hint) {
        (*errp)->hint = g_string_new(NULL);
    }
    va_start(ap, fmt);
    g_string_append_vprintf((*errp)->hint, fmt, ap);
    va_end(ap);
}

const char *error_get_pretty(const Error *err)
{
    return err->msg;
}

ErrorClass error_get_class(const Error *err)
{
    return err->cls;
}

const char *error_class_name(ErrorClass cls)
{
    switch (cls) {
    case ERROR_CLASS_COMMAND_NOT_FOUND:
        return "CommandNotFound";
    case ERROR_CLASS_DEVICE_NOT_FOUND:
        return "DeviceNotFound";
    default:
        return "GenericError";
    }
}

Error *error_copy(const Error *err)
{
    Error *copy = g_new0(Error, 1);

    copy->msg = g_strdup(err->msg);
    copy->cls = err->cls;
    copy->src = err->src;
    copy->line = err->line;
    if (err->hint) {
        copy->hint = g_string_new(err->hint->str);
    }
    return copy;
}

void error_free(Error *err)
{
    if (err) {
        g_free(err->msg);
        if (err->hint) {
            g_string_free(err->hint, TRUE);
        }
        g_free(err);
    }
}

void error_free_or_abort(Error **errp)
{
    assert(errp && *errp);
    error_free(*errp);
    *errp = NULL;
}

static void report_vprintf(const char *kind, const char *fmt, va_list ap)
{
    GString *line = g_string_new(NULL);

    g_string_append_printf(line, "%s: %s", progname, kind);
    g_string_append_vprintf(line, fmt, ap);
    g_string_append_c(line, '\n');
    /* One write so that lines from several threads do not interleave. */
    fputs(line->str, stderr);
    fflush(stderr);
    g_string_free(line, TRUE);
}

void error_report_err(Error *err)
{
    error_report("%s", err->msg);
    if (err->hint) {
        fputs(err->hint->str, stderr);
    }
    error_free(err);
}

void error_report(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    report_vprintf("", fmt, ap);
    va_end(ap);
}

void warn_report(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    report_vprintf("warning: ", fmt, ap);
    va_end(ap);
}

void info_report(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    report_vprintf("info: ", fmt, ap);
    va_end(ap);
}
