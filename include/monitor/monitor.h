/*
 * Monitors: QMP (JSON) and HMP (text), any number of each.
 *
 * Threading: monitors run in the main loop; command handlers run in the
 * main thread with the BQL held.  qapi_event_send() may be called from any
 * thread: it queues the event and the main loop writes it to every QMP
 * monitor that has finished capabilities negotiation.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MONITOR_MONITOR_H
#define MONITOR_MONITOR_H

#include <json-glib/json-glib.h>
#include "qapi/error.h"
#include "chardev/char.h"

typedef struct Monitor Monitor;

/* -qmp SPEC / -qmp-pretty / -monitor SPEC / -mon chardev=ID,mode=... */
bool monitor_init_qmp(Chardev *chr, bool pretty, Error **errp);
bool monitor_init_hmp(Chardev *chr, Error **errp);
bool monitor_init_opts(QemuOpts *opts, Error **errp);   /* -mon */

/*
 * Any thread: emit event @name with @data (a JSON object, consumed; NULL
 * for none), timestamped now.
 */
void qapi_event_send(const char *name, JsonObject *data);

/* The monitor whose command is being handled (main thread), or NULL. */
Monitor *monitor_cur(void);
/* A file descriptor given to @mon with getfd under @name (dup'ed). */
int monitor_get_fd(Monitor *mon, const char *name, Error **errp);
/* "fd:" URIs: @fdname is a getfd name or a number (QEMU's monitor_fd_param). */
int monitor_fd_param(Monitor *mon, const char *fdname, Error **errp);
/* Print to the HMP monitor being served (for HMP handlers). */
void monitor_printf(Monitor *mon, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void monitor_cleanup(void);

#endif
