/*
 * What the command line asked for (system/vl-args.c fills it in).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef SYSTEM_VL_INTERNAL_H
#define SYSTEM_VL_INTERNAL_H

#include "hw/boards.h"

typedef struct VLMonitor {
    const char *option;     /* "-qmp", "-monitor", "-mon" (for messages) */
    char *spec;
    bool qmp;
    bool pretty;
    bool mon_opts;          /* -mon chardev=ID,mode=... */
} VLMonitor;

typedef struct VLConfig {
    GPtrArray *accels;      /* char *, in the order given */
    char *machine_type;
    char *memory_backend;
    uint64_t ram_size;
    bool ram_size_given;    /* -m was on the command line */
    unsigned smp_cpus;
    char *name;
    bool debug_threads;
    bool start_paused;
    bool nographic;
    bool nodefaults;
    bool no_shutdown;
    bool daemonize;
    char *pidfile;
    char *incoming;
    char *qtest;
    char *qtest_log;        /* -qtest-log FILE */
    GPtrArray *drives;      /* char * option strings */
    GPtrArray *serials;
    GPtrArray *chardevs;
    GPtrArray *objects;
    GPtrArray *monitors;    /* VLMonitor * */
    GPtrArray *trace_opts;
    GPtrArray *globals;     /* -global DRIVER.PROP=VALUE strings */
    GPtrArray *device_opts; /* QemuOpts * */
} VLConfig;

void vl_config_init(VLConfig *vl);
/* Exits with a message naming the option on any error. */
void vl_parse_args(VLConfig *vl, int argc, char **argv);
/* Pick the first -accel that can work here; exits if none. */
void vl_choose_accel(VLConfig *vl, MachineState *ms);
/* -daemonize: fork; the parent exits once the child reports readiness. */
void vl_daemonize_start(void);
void vl_daemonize_finish(void);
/* Things started after the monitors (the qtest server). */
void vl_start_extras(VLConfig *vl);

#endif
