/*
 * -device: the device models a user can add by name.
 *
 * Each -device arrives as QemuOpts with the implied key "driver".  Only
 * ISA devices on fixed ports exist here, so creation is: check the
 * properties, check the ports are free, register.  Runs at machine
 * creation in the main thread with the BQL held.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "hw/ioport.h"
#include "hw/i386/pc.h"
#include "hw/misc/debugexit.h"
#include "hw/block/qmig-disk.h"
#include "hw/vfio/vfio-pci.h"
#include "trace.h"

typedef struct DeviceModel {
    const char *name;
    const char *const *props;    /* accepted keys besides driver and id */
    bool (*create)(QemuOpts *opts, Error **errp);
} DeviceModel;

typedef struct PropCheck {
    const DeviceModel *dm;
    const char *unknown;        /* first key the model does not have */
} PropCheck;

static bool device_has_prop(const DeviceModel *dm, const char *key)
{
    if (!strcmp(key, "driver") || !strcmp(key, "id")) {
        return true;
    }
    for (const char *const *p = dm->props; *p; p++) {
        if (!strcmp(*p, key)) {
            return true;
        }
    }
    return false;
}

static void device_check_one(const char *key, const char *value,
                             void *opaque)
{
    PropCheck *pc = opaque;

    if (!pc->unknown && !device_has_prop(pc->dm, key)) {
        pc->unknown = key;
    }
}

static bool device_check_props(const DeviceModel *dm, QemuOpts *opts,
                               Error **errp)
{
    PropCheck pc = { .dm = dm };

    qemu_opts_foreach(opts, device_check_one, &pc);
    if (pc.unknown) {
        error_setg(errp, "Property '%s.%s' not found", dm->name, pc.unknown);
        return false;
    }
    return true;
}

/* Reserve [base, base+len) for @what, or say who already has it. */
static bool device_check_ports(const char *what, uint64_t base, uint64_t len,
                               Error **errp)
{
    const char *owner;

    if (len == 0 || base > 0xffff || base + len > 0x10000) {
        error_setg(errp, "%s: I/O range 0x%" PRIx64 "+0x%" PRIx64
                   " does not fit in the 64 KiB port space", what, base, len);
        return false;
    }
    owner = portio_find_owner(base, len);
    if (owner) {
        error_setg(errp, "%s: I/O ports 0x%" PRIx64 "-0x%" PRIx64
                   " are already used by %s", what, base, base + len - 1,
                   owner);
        return false;
    }
    return true;
}

static bool isa_debug_exit_create(QemuOpts *opts, Error **errp)
{
    uint64_t iobase, iosize;

    if (!qemu_opt_get_number(opts, "iobase", ISA_DEBUG_EXIT_IOBASE, &iobase,
                             errp) ||
        !qemu_opt_get_number(opts, "iosize", ISA_DEBUG_EXIT_IOSIZE, &iosize,
                             errp) ||
        !device_check_ports("isa-debug-exit", iobase, iosize, errp)) {
        return false;
    }
    isa_debug_exit_init(iobase, iosize);
    return true;
}

static const char *const isa_debug_exit_props[] = { "iobase", "iosize", NULL };

static bool qmig_disk_create(QemuOpts *opts, Error **errp)
{
    const char *drive = qemu_opt_get(opts, "drive");
    BlockBackend *blk;
    uint64_t iobase;

    if (!drive) {
        error_setg(errp, "qmig-disk: drive property not set");
        return false;
    }
    blk = blk_by_name(drive);
    if (!blk) {
        error_setg(errp, "Property 'qmig-disk.drive' can't find value '%s'",
                   drive);
        return false;
    }
    if (!qemu_opt_get_number(opts, "iobase", QMIG_DISK_IOBASE, &iobase,
                             errp) ||
        !device_check_ports("qmig-disk", iobase, QMIG_DISK_IOSIZE, errp)) {
        return false;
    }
    return qmig_disk_init(blk, iobase, qemu_opt_get(opts, "id"), errp);
}

static const char *const qmig_disk_props[] = { "drive", "iobase", NULL };

/* A VFIO device's name: its id=, or the model and a running number. */
static char *vfio_device_id(QemuOpts *opts, const char *model)
{
    static unsigned vfio_devices;
    const char *id = qemu_opt_get(opts, "id");

    return id ? g_strdup(id) : g_strdup_printf("%s.%u", model,
                                               vfio_devices++);
}

/* x-migration-multifd-transfer=on|off|auto (QEMU's OnOffAuto). */
static bool vfio_multifd_mode(QemuOpts *opts, VFIOMultifdMode *mode,
                              Error **errp)
{
    const char *v = qemu_opt_get(opts, "x-migration-multifd-transfer");

    if (!v || !strcmp(v, "auto")) {
        *mode = VFIO_MULTIFD_AUTO;
    } else if (!strcmp(v, "on")) {
        *mode = VFIO_MULTIFD_ON;
    } else if (!strcmp(v, "off")) {
        *mode = VFIO_MULTIFD_OFF;
    } else {
        error_setg(errp, "Parameter 'x-migration-multifd-transfer' does not "
                   "accept value '%s' (on, off or auto)", v);
        return false;
    }
    return true;
}

static bool vfio_user_pci_dev_create(QemuOpts *opts, Error **errp)
{
    const char *path = qemu_opt_get(opts, "socket");
    g_autofree char *id = vfio_device_id(opts, "vfio-user-pci");
    VFIOMultifdMode mode;

    if (!path) {
        error_setg(errp, "vfio-user-pci: socket property not set (the "
                   "vfio-user server's unix socket path)");
        return false;
    }
    return vfio_multifd_mode(opts, &mode, errp) &&
           vfio_user_pci_create(id, path, mode, errp);
}

static const char *const vfio_user_pci_props[] = {
    "socket", "x-migration-multifd-transfer", NULL
};

static bool vfio_pci_dev_create(QemuOpts *opts, Error **errp)
{
    g_autofree char *id = vfio_device_id(opts, "vfio-pci");
    VFIOMultifdMode mode;

    return vfio_multifd_mode(opts, &mode, errp) &&
           vfio_kernel_pci_create(id, qemu_opt_get(opts, "host"),
                                  qemu_opt_get(opts, "sysfsdev"), mode,
                                  errp);
}

static const char *const vfio_pci_props[] = {
    "host", "sysfsdev", "x-migration-multifd-transfer", NULL
};

static const DeviceModel device_models[] = {
    { "isa-debug-exit", isa_debug_exit_props, isa_debug_exit_create },
    { "qmig-disk", qmig_disk_props, qmig_disk_create },
    { "vfio-pci", vfio_pci_props, vfio_pci_dev_create },
    { "vfio-user-pci", vfio_user_pci_props, vfio_user_pci_dev_create },
};

static const DeviceModel *device_model_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(device_models); i++) {
        if (!strcmp(device_models[i].name, name)) {
            return &device_models[i];
        }
    }
    return NULL;
}

static bool device_create(QemuOpts *opts, Error **errp)
{
    const char *driver = qemu_opt_get(opts, "driver");
    const DeviceModel *dm;

    if (!driver || !*driver) {
        error_setg(errp, "-device: Parameter 'driver' is missing");
        return false;
    }
    dm = device_model_find(driver);
    if (!dm) {
        error_setg(errp, "'%s' is not a valid device model name", driver);
        return false;
    }
    trace_pc_device_add(driver);
    return device_check_props(dm, opts, errp) && dm->create(opts, errp);
}

bool pc_devices_create(MachineState *ms, Error **errp)
{
    for (guint i = 0; ms->device_opts && i < ms->device_opts->len; i++) {
        if (!device_create(g_ptr_array_index(ms->device_opts, i), errp)) {
            return false;
        }
    }
    return true;
}
