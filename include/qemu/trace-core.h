/*
 * Run-time side of trace points (see scripts/tracetool.py).
 *
 * Every event starts disabled; -trace PATTERN (or trace_enable_events())
 * enables those whose name matches a glob.  An enabled event prints one
 * line "PID@SECONDS.MICROSECONDS:name message" to stderr, QEMU's "log"
 * backend format.  The enabled flag is read without a lock from any
 * thread: a relaxed atomic, so a trace point costs one load when off.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_TRACE_CORE_H
#define QEMU_TRACE_CORE_H

#include "qapi/error.h"

typedef struct TraceEvent {
    const char *name;
    bool enabled;       /* atomic; written by trace_enable_events() */
} TraceEvent;

static inline bool qatomic_read_bool(const bool *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

void trace_event_register_group(TraceEvent **events);
void trace_event_print(TraceEvent *ev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Enable (or, with a leading '-', disable) every event whose name matches
 * the glob @pattern.  Returns the number of events changed.
 */
int trace_enable_events(const char *pattern);
/* Parse a -trace argument: "PATTERN", "enable=PATTERN", "events=FILE". */
bool trace_opt_parse(const char *optarg, Error **errp);
/* Call @fn for every registered event (for -trace help and tests). */
void trace_event_foreach(void (*fn)(TraceEvent *ev, void *opaque),
                         void *opaque);

#endif
