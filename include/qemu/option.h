/*
 * QEMU-style option strings: "value,key=value,key=value" where the first
 * element may omit its key (the "implied" key), and ",," stands for a
 * literal comma inside a value.  Used by the command line and by HMP.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_OPTION_H
#define QEMU_OPTION_H

#include "qapi/error.h"

typedef struct QemuOpts QemuOpts;

/*
 * Parse @str.  @implied_key names the first element when it has no "=";
 * NULL means every element must be key=value.  A key given twice keeps the
 * last value, as QEMU does.
 */
QemuOpts *qemu_opts_parse(const char *str, const char *implied_key,
                          Error **errp);
void qemu_opts_free(QemuOpts *opts);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QemuOpts, qemu_opts_free)

/* The raw value of @key, or NULL if absent. */
const char *qemu_opt_get(QemuOpts *opts, const char *key);
bool qemu_opt_has(QemuOpts *opts, const char *key);
/* Typed getters: @def when absent; false and *errp set on a bad value. */
bool qemu_opt_get_bool(QemuOpts *opts, const char *key, bool def,
                       bool *out, Error **errp);
bool qemu_opt_get_number(QemuOpts *opts, const char *key, uint64_t def,
                         uint64_t *out, Error **errp);
bool qemu_opt_get_size(QemuOpts *opts, const char *key, uint64_t def,
                       uint64_t *out, Error **errp);
/*
 * Fail naming the first key not in the NULL-terminated @known, as
 * "@what: invalid parameter 'key'".
 */
bool qemu_opts_check_keys(QemuOpts *opts, const char *const *known,
                          const char *what, Error **errp);
/* Iterate in the order given. */
void qemu_opts_foreach(QemuOpts *opts,
                       void (*fn)(const char *key, const char *value,
                                  void *opaque),
                       void *opaque);

/* "on"/"off"/"yes"/"no"/"true"/"false" (QEMU's accepted spellings). */
bool qemu_parse_bool(const char *str, bool *val);
/*
 * A size with an optional suffix (B, K/k, M, G, T, P, E; binary units).
 * @default_suffix applies to a bare number (-m uses 'M').
 */
bool qemu_strtosz_suffix(const char *str, char default_suffix,
                         uint64_t *result);
static inline bool qemu_strtosz(const char *str, uint64_t *result)
{
    return qemu_strtosz_suffix(str, 'B', result);
}
/* A whole number in decimal, 0x hex or 0 octal, no trailing junk. */
bool qemu_strtou64(const char *str, uint64_t *result);
bool qemu_strtoi64(const char *str, int64_t *result);

#endif
