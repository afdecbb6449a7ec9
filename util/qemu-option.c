/*
 * QEMU-style option strings.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/option.h"

typedef struct QemuOpt {
    char *key;
    char *value;
} QemuOpt;

struct QemuOpts {
    GPtrArray *opts;    /* of QemuOpt, in the order given */
};

static void qemu_opt_free(gpointer p)
{
    QemuOpt *opt = p;

    g_free(opt->key);
    g_free(opt->value);
    g_free(opt);
}

/* Read up to the next unescaped ',' into @out; returns the rest. */
static const char *get_element(const char *p, GString *out)
{
    g_string_truncate(out, 0);
    while (*p) {
        if (*p == ',') {
            if (p[1] != ',') {
                return p + 1;
            }
            p++;
        }
        g_string_append_c(out, *p++);
    }
    return p;
}

QemuOpts *qemu_opts_parse(const char *str, const char *implied_key,
                          Error **errp)
{
    QemuOpts *opts = g_new0(QemuOpts, 1);
    g_autoptr(GString) elem = g_string_new(NULL);
    const char *p = str;
    bool first = true;

    opts->opts = g_ptr_array_new_with_free_func(qemu_opt_free);
    while (*p || first) {
        QemuOpt *opt;
        char *eq;

        p = get_element(p, elem);
        eq = strchr(elem->str, '=');
        if (!eq && (!first || !implied_key)) {
            if (!elem->len) {
                if (!*p) {
                    break;
                }
                error_setg(errp, "empty element in '%s'", str);
                goto fail;
            }
            error_setg(errp, "expected key=value, got '%s'", elem->str);
            goto fail;
        }
        opt = g_new0(QemuOpt, 1);
        if (eq) {
            opt->key = g_strndup(elem->str, eq - elem->str);
            opt->value = g_strdup(eq + 1);
            if (!opt->key[0]) {
                qemu_opt_free(opt);
                error_setg(errp, "missing key before '=' in '%s'", str);
                goto fail;
            }
        } else {
            opt->key = g_strdup(implied_key);
            opt->value = g_strdup(elem->str);
        }
        g_ptr_array_add(opts->opts, opt);
        first = false;
    }
    return opts;

fail:
    qemu_opts_free(opts);
    return NULL;
}

void qemu_opts_free(QemuOpts *opts)
{
    if (opts) {
        g_ptr_array_free(opts->opts, TRUE);
        g_free(opts);
    }
}

const char *qemu_opt_get(QemuOpts *opts, const char *key)
{
    /* Last one wins. */
    for (guint i = opts->opts->len; i > 0; i--) {
        QemuOpt *opt = g_ptr_array_index(opts->opts, i - 1);

        if (!strcmp(opt->key, key)) {
            return opt->value;
        }
    }
    return NULL;
}

bool qemu_opt_has(QemuOpts *opts, const char *key)
{
    return qemu_opt_get(opts, key) != NULL;
}

bool qemu_opt_get_bool(QemuOpts *opts, const char *key, bool def,
                       bool *out, Error **errp)
{
    const char *v = qemu_opt_get(opts, key);

    if (!v) {
        *out = def;
        return true;
    }
    if (!qemu_parse_bool(v, out)) {
        error_setg(errp, "parameter '%s' expects 'on' or 'off', got '%s'",
                   key, v);
        return false;
    }
    return true;
}

bool qemu_opt_get_number(QemuOpts *opts, const char *key, uint64_t def,
                         uint64_t *out, Error **errp)
{
    const char *v = qemu_opt_get(opts, key);

    if (!v) {
        *out = def;
        return true;
    }
    if (!qemu_strtou64(v, out)) {
        error_setg(errp, "parameter '%s' expects a number, got '%s'", key, v);
        return false;
    }
    return true;
}

bool qemu_opt_get_size(QemuOpts *opts, const char *key, uint64_t def,
                       uint64_t *out, Error **errp)
{
    const char *v = qemu_opt_get(opts, key);

    if (!v) {
        *out = def;
        return true;
    }
    if (!qemu_strtosz(v, out)) {
        error_setg(errp, "parameter '%s' expects a size, got '%s'", key, v);
        return false;
    }
    return true;
}

bool qemu_opts_check_keys(QemuOpts *opts, const char *const *known,
                          const char *what, Error **errp)
{
    for (guint i = 0; i < opts->opts->len; i++) {
        QemuOpt *opt = g_ptr_array_index(opts->opts, i);

        if (!g_strv_contains(known, opt->key)) {
            error_setg(errp, "%s: invalid parameter '%s'", what, opt->key);
            return false;
        }
    }
    return true;
}

void qemu_opts_foreach(QemuOpts *opts,
                       void (*fn)(const char *key, const char *value,
                                  void *opaque),
                       void *opaque)
{
    for (guint i = 0; i < opts->opts->len; i++) {
        QemuOpt *opt = g_ptr_array_index(opts->opts, i);

        fn(opt->key, opt->value, opaque);
    }
}

bool qemu_parse_bool(const char *str, bool *val)
{
    static const char *const yes[] = { "on", "yes", "true", "y", NULL };
    static const char *const no[] = { "off", "no", "false", "n", NULL };

    if (g_strv_contains(yes, str)) {
        *val = true;
        return true;
    }
    if (g_strv_contains(no, str)) {
        *val = false;
        return true;
    }
    return false;
}

static int suffix_shift(char c)
{
    switch (g_ascii_toupper(c)) {
    case 'B':
        return 0;
    case 'K':
        return 10;
    case 'M':
        return 20;
    case 'G':
        return 30;
    case 'T':
        return 40;
    case 'P':
        return 50;
    case 'E':
        return 60;
    default:
        return -1;
    }
}

bool qemu_strtosz_suffix(const char *str, char default_suffix,
                         uint64_t *result)
{
    char *end;
    double frac = 0;
    uint64_t whole;
    int shift;

    if (!str || !g_ascii_isdigit(*str)) {
        return false;
    }
    errno = 0;
    whole = g_ascii_strtoull(str, &end, 0);
    if (errno) {
        return false;
    }
    if (*end == '.') {
        /* "1.5G": QEMU accepts a fraction when a suffix follows. */
        char *fend;

        frac = g_ascii_strtod(end, &fend);
        if (fend == end + 1) {
            return false;
        }
        end = fend;
    }
    if (*end == '\0') {
        if (frac != 0) {
            return false;
        }
        shift = suffix_shift(default_suffix);
    } else {
        shift = suffix_shift(*end);
        if (shift < 0 || end[1] != '\0') {
            return false;
        }
    }
    if (shift > 0 && whole > (UINT64_MAX >> shift)) {
        return false;
    }
    *result = (whole << shift) + (uint64_t)(frac * (double)(UINT64_C(1) << shift));
    return true;
}

bool qemu_strtou64(const char *str, uint64_t *result)
{
    char *end;

    if (!str || !*str || *str == '-' || g_ascii_isspace(*str)) {
        return false;
    }
    errno = 0;
    *result = g_ascii_strtoull(str, &end, 0);
    return errno == 0 && *end == '\0';
}

bool qemu_strtoi64(const char *str, int64_t *result)
{
    char *end;

    if (!str || !*str || g_ascii_isspace(*str)) {
        return false;
    }
    errno = 0;
    *result = g_ascii_strtoll(str, &end, 0);
    return errno == 0 && *end == '\0';
}
