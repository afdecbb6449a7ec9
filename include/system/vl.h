/*
 * Start-up and shutdown of the qmig process (system/vl.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef SYSTEM_VL_H
#define SYSTEM_VL_H

/* Parse the command line and build the VM; exits on a bad command line. */
void qemu_init(int argc, char **argv);
/* Run the main loop until shutdown; returns the process exit status. */
int qemu_main_loop_and_cleanup(void);

#endif
