/*
 * THE command table.  See include/monitor/qmp-commands.h for the schema
 * syntax; keep entries one line each, grouped by subsystem.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "monitor/qmp-commands.h"
#include "migration/qmp-cmds.h"
#include "migration/dirtyrate.h"
#include "system/dirtylimit.h"
#include "block/qmp-block.h"

const QmpCommand qmp_commands[] = {
    /* session */
    { "qmp_capabilities", qmp_qmp_capabilities, "*enable:array", QMP_CMD_NEGOTIATION, "Enable QMP capabilities" },
    { "query-version", qmp_query_version, "", 0, "Show the version" },
    { "query-commands", qmp_query_commands, "", 0, "List the QMP commands" },
    { "query-name", qmp_query_name, "", 0, "Show the guest name (-name)" },
    { "query-uuid", qmp_query_uuid, "", 0, "Show the VM's UUID (-uuid)" },
    { "object-add", qmp_object_add, "**", 0, "Create an object (qom-type, id and its properties)" },
    { "object-del", qmp_object_del, "id:str", 0, "Delete an object made by -object or object-add" },
    { "query-objects", qmp_query_objects, "", 0, "List the objects made by -object or object-add" },
    { "qom-list", qmp_qom_list, "path:str", 0, "List the children of a QOM path (only /objects)" },
    { "query-status", qmp_query_status, "", 0, "Show the VM run state" },
    { "query-kvm", qmp_query_kvm, "", 0, "Show whether KVM is present and enabled" },
    { "query-cpus-fast", qmp_query_cpus_fast, "", 0, "List the vCPUs" },
    { "stop", qmp_stop, "", 0, "Stop the vCPUs" },
    { "cont", qmp_cont, "", 0, "Resume the vCPUs" },
    { "quit", qmp_quit, "", 0, "Exit" },
    { "getfd", qmp_getfd, "fdname:str", 0, "Receive a file descriptor via SCM_RIGHTS" },
    { "closefd", qmp_closefd, "fdname:str", 0, "Close a file descriptor received with getfd" },
    { "human-monitor-command", qmp_human_monitor_command, "command-line:str,*cpu-index:int", 0, "Run an HMP command" },
    /* memory inspection */
    { "pmemsave", qmp_pmemsave, "val:int,size:int,filename:str", 0, "Save guest-physical memory to a file" },
    { "memsave", qmp_memsave, "val:int,size:int,filename:str,*cpu-index:int", 0, "Save guest-virtual memory to a file" },
    /* migration */
    { "migrate", qmp_migrate, "*uri:str,*channels:array,*detach:bool,*resume:bool,*blk:bool,*inc:bool", 0, "Migrate to a URI" },
    { "migrate-incoming", qmp_migrate_incoming, "*uri:str,*channels:array,*exit-on-error:bool", 0, "Start an incoming migration (-incoming defer)" },
    { "migrate_cancel", qmp_migrate_cancel, "", 0, "Cancel the current migration" },
    { "migrate-continue", qmp_migrate_continue, "state:str", 0, "Continue a migration paused in a state" },
    { "migrate-set-capabilities", qmp_migrate_set_capabilities, "capabilities:array", 0, "Set migration capabilities" },
    { "query-migrate-capabilities", qmp_query_migrate_capabilities, "", 0, "List migration capabilities" },
    { "migrate-set-parameters", qmp_migrate_set_parameters, "**", 0, "Set migration parameters (checked by the handler)" },
    { "query-migrate-parameters", qmp_query_migrate_parameters, "", 0, "List migration parameters" },
    { "query-migrate", qmp_query_migrate, "", 0, "Show migration status and statistics" },
    { "migrate-start-postcopy", qmp_migrate_start_postcopy, "", 0, "Switch to postcopy" },
    { "migrate-pause", qmp_migrate_pause, "", 0, "Pause a postcopy migration" },
    { "migrate-recover", qmp_migrate_recover, "uri:str", 0, "Recover a paused postcopy migration" },
    { "calc-dirty-rate", qmp_calc_dirty_rate, "calc-time:int,*calc-time-unit:str,*sample-pages:int,*mode:str", 0, "Start measuring the guest's dirty page rate" },
    { "query-dirty-rate", qmp_query_dirty_rate, "*calc-time-unit:str", 0, "Show the last dirty page rate measurement" },
    { "set-vcpu-dirty-limit", qmp_set_vcpu_dirty_limit, "*cpu-index:int,dirty-rate:uint64", 0, "Limit a vCPU's (or every vCPU's) dirty page rate (MB/s)" },
    { "cancel-vcpu-dirty-limit", qmp_cancel_vcpu_dirty_limit, "*cpu-index:int", 0, "Lift a vCPU's (or every vCPU's) dirty page rate limit" },
    { "query-vcpu-dirty-limit", qmp_query_vcpu_dirty_limit, "", 0, "List the vCPUs' dirty page rate limits and current rates" },
    /* block (block/qmp-block.c) */
    { "query-block", qmp_query_block, "", 0, "List the block devices" },
    { "block-dirty-bitmap-add", qmp_block_dirty_bitmap_add, "node:str,name:str,*granularity:int,*persistent:bool,*disabled:bool", 0, "Create a dirty bitmap on a block node" },
    { "block-dirty-bitmap-remove", qmp_block_dirty_bitmap_remove, "node:str,name:str", 0, "Remove a dirty bitmap" },
    { "block-dirty-bitmap-clear", qmp_block_dirty_bitmap_clear, "node:str,name:str", 0, "Clear a dirty bitmap" },
    { "block-dirty-bitmap-enable", qmp_block_dirty_bitmap_enable, "node:str,name:str", 0, "Start recording writes in a dirty bitmap" },
    { "block-dirty-bitmap-disable", qmp_block_dirty_bitmap_disable, "node:str,name:str", 0, "Stop recording writes in a dirty bitmap" },
    { "x-debug-block-dirty-bitmap-sha256", qmp_x_debug_block_dirty_bitmap_sha256, "node:str,name:str", 0, "SHA-256 of a dirty bitmap's contents (debugging)" },
    { NULL }
};
