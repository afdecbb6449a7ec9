/*
 * Error reporting: one Error object carries a human-readable message from
 * where a failure is detected to whoever can report it (a QMP reply, the
 * command line, the migration's error-desc).
 *
 * Conventions (QEMU's): a function that can fail takes "Error **errp" as its
 * last argument and returns bool (true on success), a pointer (NULL on
 * failure) or an int (negative on failure).  errp may be NULL (the caller
 * does not care), &error_fatal (print and exit; only in main()-level code)
 * or &error_abort (a failure is a bug).  An *errp that is already set must
 * not be set again.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QAPI_ERROR_H
#define QAPI_ERROR_H

typedef struct Error Error;

/* Error classes that QMP reports ("class" in an error reply). */
typedef enum ErrorClass {
    ERROR_CLASS_GENERIC_ERROR,
    ERROR_CLASS_COMMAND_NOT_FOUND,
    ERROR_CLASS_DEVICE_NOT_FOUND,
} ErrorClass;

extern Error *error_fatal;
extern Error *error_abort;

void error_setg_internal(Error **errp, const char *src, int line,
                         const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void error_setg_errno_internal(Error **errp, const char *src, int line,
                               int os_errno, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void error_set_class_internal(Error **errp, const char *src, int line,
                              ErrorClass cls, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#define error_setg(errp, ...) \
    error_setg_internal((errp), __FILE__, __LINE__, __VA_ARGS__)
/* Appends ": strerror(os_errno)" to the message. */
#define error_setg_errno(errp, os_errno, ...) \
    error_setg_errno_internal((errp), __FILE__, __LINE__, (os_errno), \
                              __VA_ARGS__)
#define error_set(errp, cls, ...) \
    error_set_class_internal((errp), __FILE__, __LINE__, (cls), __VA_ARGS__)

/* Move @local_err into *@dst_errp (or report/abort/free it as @dst says). */
void error_propagate(Error **dst_errp, Error *local_err);
/* Prefix the message of an already set *@errp. */
void error_prepend(Error **errp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Add a hint printed after the message on the command line. */
void error_append_hint(Error **errp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

const char *error_get_pretty(const Error *err);
ErrorClass error_get_class(const Error *err);
const char *error_class_name(ErrorClass cls);
Error *error_copy(const Error *err);
void error_free(Error *err);
void error_free_or_abort(Error **errp);

/* Print to stderr as "qmig: MESSAGE" (plus the hint), then free. */
void error_report_err(Error *err);
void error_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warn_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void info_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Program name used as the prefix of reports ("qmig" by default). */
void error_set_progname(const char *name);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Error, error_free)

#endif /* QAPI_ERROR_H */
