/*
 * The VFIO device models -device can create (hw/i386/device.c).  Main
 * thread, BQL, at machine creation, after guest RAM exists (both map it
 * for the device's DMA).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_VFIO_VFIO_PCI_H
#define HW_VFIO_VFIO_PCI_H

#include "qapi/error.h"
#include "hw/vfio/vfio-device.h"

/*
 * -device vfio-user-pci,socket=PATH: a device served over vfio-user.
 * @mf_mode: x-migration-multifd-transfer (both models).
 */
bool vfio_user_pci_create(const char *id, const char *socket_path,
                          VFIOMultifdMode mf_mode, Error **errp);

/*
 * -device vfio-pci,host=BDF or sysfsdev=PATH: a host device bound to the
 * kernel's vfio-pci driver.
 */
bool vfio_kernel_pci_create(const char *id, const char *host,
                            const char *sysfsdev, VFIOMultifdMode mf_mode,
                            Error **errp);

#endif
