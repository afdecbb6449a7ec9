/*
 * Port 0x92, "System Control Port A": fast A20 gate and fast reset.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_MISC_PORT92_H
#define HW_MISC_PORT92_H

/* Machine creation (BQL). */
void port92_init(void);
/* BQL: the A20 gate as the guest last set it. */
bool port92_a20_enabled(void);

#endif
