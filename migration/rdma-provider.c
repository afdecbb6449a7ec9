/*
 * Which RDMA provider this process uses (rdma-provider.h): the one named
 * by QMIG_RDMA_PROVIDER (a shared object, loaded once), else the built-in
 * verbs provider when qmig is built with rdma-core, else none.
 *
 * Threading: main thread (the first "rdma:" command loads it); the
 * result never changes afterwards, so other threads read it freely.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <dlfcn.h>
#include "config-host.h"
#include "rdma-internal.h"
#include "trace.h"

void rdma_error_set(Error **errp, const QemuRdmaError *e, const char *what)
{
    if (e->msg[0]) {
        error_setg(errp, "%s: %s", what, e->msg);
    } else if (e->code) {
        error_setg(errp, "%s: %s", what, g_strerror(-e->code));
    } else {
        error_setg(errp, "%s", what);
    }
}

static const QemuRdmaProvider *rdma_provider_load(const char *path,
                                                  Error **errp)
{
    const QemuRdmaProvider *p;
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);

    if (!handle) {
        error_setg(errp, "Could not load the RDMA provider %s=%s: %s",
                   QEMU_RDMA_PROVIDER_ENV, path, dlerror());
        return NULL;
    }
    p = dlsym(handle, QEMU_RDMA_PROVIDER_SYMBOL);
    if (!p || p->abi != QEMU_RDMA_PROVIDER_ABI) {
        error_setg(errp, "The RDMA provider %s exports no '%s' of ABI %d",
                   path, QEMU_RDMA_PROVIDER_SYMBOL, QEMU_RDMA_PROVIDER_ABI);
        dlclose(handle);
        return NULL;
    }
    /* Kept loaded: connections may outlive any one migration. */
    return p;
}

const QemuRdmaProvider *rdma_provider_get(Error **errp)
{
    static const QemuRdmaProvider *provider;
    const char *path = g_getenv(QEMU_RDMA_PROVIDER_ENV);

    if (provider) {
        return provider;
    }
    if (path && *path) {
        provider = rdma_provider_load(path, errp);
    } else {
#ifdef CONFIG_RDMA
        provider = &qemu_rdma_provider_verbs;
#else
        error_setg(errp, "RDMA migration is not supported: this qmig was "
                   "built without rdma-core (libibverbs, librdmacm) and no "
                   "provider is named by %s", QEMU_RDMA_PROVIDER_ENV);
#endif
    }
    if (provider) {
        trace_rdma_provider(provider->name, path ? path : "");
    }
    return provider;
}
