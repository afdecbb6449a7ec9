/*
 * Trace point registry and the stderr "log" backend.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/trace-core.h"

/*
 * Groups register from constructors, before main() and before any thread
 * exists, so the list needs no lock; it is read-only afterwards.
 */
static GPtrArray *trace_groups;

void trace_event_register_group(TraceEvent **events)
{
    if (!trace_groups) {
        trace_groups = g_ptr_array_new();
    }
    g_ptr_array_add(trace_groups, events);
}

void trace_event_foreach(void (*fn)(TraceEvent *ev, void *opaque),
                         void *opaque)
{
    for (guint g = 0; trace_groups && g < trace_groups->len; g++) {
        TraceEvent **ev = g_ptr_array_index(trace_groups, g);

        for (; *ev; ev++) {
            fn(*ev, opaque);
        }
    }
}

void trace_event_print(TraceEvent *ev, const char *fmt, ...)
{
    struct timeval tv;
    GString *line = g_string_new(NULL);
    va_list ap;

    gettimeofday(&tv, NULL);
    g_string_printf(line, "%d@%ld.%06ld:%s ", (int)getpid(),
                    (long)tv.tv_sec, (long)tv.tv_usec, ev->name);
    va_start(ap, fmt);
    g_string_append_vprintf(line, fmt, ap);
    va_end(ap);
    g_string_append_c(line, '\n');
    fputs(line->str, stderr);
    g_string_free(line, TRUE);
}

typedef struct EnableCtx {
    const char *pattern;
    bool enable;
    int count;
} EnableCtx;

static void enable_one(TraceEvent *ev, void *opaque)
{
    EnableCtx *ctx = opaque;

    if (g_pattern_match_simple(ctx->pattern, ev->name)) {
        __atomic_store_n(&ev->enabled, ctx->enable, __ATOMIC_RELAXED);
        ctx->count++;
    }
}

int trace_enable_events(const char *pattern)
{
    EnableCtx ctx = { .pattern = pattern, .enable = true };

    if (pattern[0] == '-') {
        ctx.pattern = pattern + 1;
        ctx.enable = false;
    }
    trace_event_foreach(enable_one, &ctx);
    return ctx.count;
}

static bool trace_events_file(const char *path, Error **errp)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GError) gerr = NULL;

    if (!g_file_get_contents(path, &text, NULL, &gerr)) {
        error_setg(errp, "cannot read trace events file: %s", gerr->message);
        return false;
    }
    lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        g_strstrip(*l);
        if (**l && **l != '#') {
            trace_enable_events(*l);
        }
    }
    return true;
}

static void print_name(TraceEvent *ev, void *opaque)
{
    printf("%s\n", ev->name);
}

bool trace_opt_parse(const char *optarg, Error **errp)
{
    g_auto(GStrv) parts = g_strsplit(optarg, ",", -1);

    for (char **p = parts; *p; p++) {
        if (g_str_has_prefix(*p, "enable=")) {
            trace_enable_events(*p + strlen("enable="));
        } else if (g_str_has_prefix(*p, "events=")) {
            if (!trace_events_file(*p + strlen("events="), errp)) {
                return false;
            }
        } else if (g_str_has_prefix(*p, "file=")) {
            error_setg(errp, "-trace file= is not supported: "
                       "trace output goes to stderr");
            return false;
        } else if (!strcmp(*p, "help")) {
            trace_event_foreach(print_name, NULL);
            exit(0);
        } else if (strchr(*p, '=')) {
            error_setg(errp, "-trace: unknown option '%s'", *p);
            return false;
        } else {
            trace_enable_events(*p);
        }
    }
    return true;
}
