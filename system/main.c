/*
 * qmig: one process, one VM.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "system/vl.h"

int main(int argc, char **argv)
{
    qemu_init(argc, argv);
    return qemu_main_loop_and_cleanup();
}
