/*
 * The main loop and the Big QEMU Lock (BQL).
 *
 * The main thread runs glib's default GMainContext: monitors, chardevs,
 * timers, accepting migration channels, state changes.  It holds the BQL
 * whenever it is not sleeping in poll(), so every main-loop callback runs
 * under the BQL.  Other threads take the BQL only for what needs it
 * (ARCHITECTURE.md, "Threads"): vCPUs for device exits, the migration
 * threads for stopping the VM, CPU state sync and device FULL sections.
 *
 * To run something in the main loop from another thread, use
 * g_idle_add()/g_timeout_add() (thread-safe) or main_loop_schedule().
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef QEMU_MAIN_LOOP_H
#define QEMU_MAIN_LOOP_H

void bql_lock(void);
void bql_unlock(void);
bool bql_locked(void);          /* does the calling thread hold it? */
GMutex *bql_mutex(void);        /* for g_cond_wait() on conditions under the BQL */

/* Install the BQL-dropping poll function on the default context. */
void main_loop_init(void);
/* Run until main_loop_quit(); called by main() with the BQL held. */
void main_loop_run(void);
/* Thread-safe: make main_loop_run() return. */
void main_loop_quit(void);
bool main_loop_should_exit(void);

/* Thread-safe: call @fn(@opaque) once, soon, in the main thread under the BQL. */
void main_loop_schedule(void (*fn)(void *opaque), void *opaque);

#endif
