/*
 * Monitor internals shared by the files of monitor/.
 *
 * Threading: everything here is main thread + BQL, except the event
 * queue in events.c, which has its own lock.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MONITOR_INTERNAL_H
#define MONITOR_INTERNAL_H

#include "monitor/monitor.h"
#include "monitor/hmp.h"
#include "json-streamer.h"

struct Monitor {
    Chardev *chr;           /* NULL for human-monitor-command's monitor */
    bool is_qmp;
    /* QMP */
    bool pretty;
    bool negotiated;        /* qmp_capabilities done on this connection */
    bool connected;         /* a peer is there (CHR_EVENT_OPENED seen) */
    JsonStreamer *streamer;
    /* HMP */
    GString *line;          /* the input line so far */
    bool skip_lf;           /* last byte ended a line with '\r' */
    GString *capture;       /* human-monitor-command: output goes here */
    /* getfd: name -> fd, owned here */
    GHashTable *fds;
};

/* Every monitor, in creation order (main thread). */
extern GPtrArray *monitor_list;

Monitor *monitor_new(Chardev *chr, bool is_qmp);
void monitor_free(Monitor *mon);
/* Fail if a monitor already uses @chr (one front end per chardev). */
bool monitor_chr_available(Chardev *chr, Error **errp);
/* Make @mon the one commands see in monitor_cur(); returns the old one. */
Monitor *monitor_set_cur(Monitor *mon);
/* Write @str to @mon's chardev (or its capture buffer). */
void monitor_write(Monitor *mon, const char *str, size_t len);

/* qmp.c */
void monitor_qmp_send(Monitor *mon, JsonNode *msg);
/* {"micro", "minor", "major"} of this build, for query-version. */
JsonObject *qmp_version_object(void);

/* dispatch.c: run one request; the reply's return value, or NULL. */
JsonNode *qmp_dispatch(JsonNode *req, bool negotiated, Error **errp);

/* json-writer.c: QEMU's JSON text (": " and ", "; 4-space indents). */
char *qmp_json_to_string(JsonNode *node, bool pretty);

/* events.c: send queued events now (main thread). */
void monitor_events_flush(void);

/* hmp.c: run one command line on @mon. */
void hmp_handle_command(Monitor *mon, const char *cmdline);

/* hmp.c: find @name in @table (aliases included), or NULL. */
const HmpCommand *hmp_find(const HmpCommand *table, const char *name);
/* hmp.c: find @name among all (info) commands, or NULL. */
const HmpCommand *hmp_lookup(const char *name, bool info);
/* hmp.c: print "name params -- help" for every (info) command. */
void hmp_help_list(Monitor *mon, bool info);

#endif
