/*
 * Loading Unicorn in a namespace of its own.
 *
 * libunicorn.so.2 is QEMU's code built as a library, and it exports the
 * QEMU helper names it uses internally: qemu_thread_create,
 * qemu_system_shutdown_request, bitmap_set_atomic, find_next_bit, g_malloc
 * and some 30,000 more.  qmig defines several of the same names.  Linked
 * normally, the dynamic linker makes the library's own internal calls
 * land in qmig's functions (the executable comes first in the lookup
 * order), which have other signatures and semantics: seen as rare hangs
 * and crashes of SMP guests.  So the library is opened with
 * RTLD_DEEPBIND (its references resolve inside it first) and RTLD_LOCAL
 * (nothing of it is visible to qmig), and the few entry points qmig uses
 * are defined here, with Unicorn's own prototypes, as calls through
 * pointers looked up once.
 *
 * tcg_unicorn_load() runs in main() before any engine exists; the
 * pointers are read-only afterwards.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <dlfcn.h>
#include "qapi/error.h"
#include "tcg-internal.h"

#define TCG_UNICORN_SONAME "libunicorn.so.2"

/*
 * The sanitizer runtimes (AddressSanitizer, ThreadSanitizer) refuse
 * RTLD_DEEPBIND: their dlopen interceptor aborts the process.  Without it
 * the library's references still cannot reach qmig's functions (an
 * executable exports only what the shared libraries it was linked with
 * use, and Unicorn is not one of them); they may reach glib's versions of
 * the glib names Unicorn bundles, which is how a normally linked Unicorn
 * runs anyway.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TCG_UNICORN_DLFLAGS (RTLD_NOW | RTLD_LOCAL)
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TCG_UNICORN_DLFLAGS (RTLD_NOW | RTLD_LOCAL)
#endif
#endif
#ifndef TCG_UNICORN_DLFLAGS
#define TCG_UNICORN_DLFLAGS (RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND)
#endif

static struct {
    unsigned (*version)(unsigned *, unsigned *);
    uc_err (*open)(uc_arch, uc_mode, uc_engine **);
    uc_err (*close)(uc_engine *);
    uc_err (*ctl)(uc_engine *, uc_control_type, ...);
    const char *(*strerror)(uc_err);
    uc_err (*reg_write)(uc_engine *, int, const void *);
    uc_err (*reg_read)(uc_engine *, int, void *);
    uc_err (*mem_read)(uc_engine *, uint64_t, void *, size_t);
    uc_err (*emu_start)(uc_engine *, uint64_t, uint64_t, uint64_t, size_t);
    uc_err (*emu_stop)(uc_engine *);
    uc_err (*hook_add)(uc_engine *, uc_hook *, int, void *, void *,
                       uint64_t, uint64_t, ...);
    uc_err (*hook_del)(uc_engine *, uc_hook);
    uc_err (*mem_map_ptr)(uc_engine *, uint64_t, size_t, uint32_t, void *);
    uc_err (*mmio_map)(uc_engine *, uint64_t, size_t, uc_cb_mmio_read_t,
                       void *, uc_cb_mmio_write_t, void *);
} uc_fn;

static const struct {
    const char *name;
    void **slot;
} tcg_unicorn_syms[] = {
#define SYM(n) { "uc_" #n, (void **)&uc_fn.n }
    SYM(version), SYM(open), SYM(close), SYM(ctl), SYM(strerror),
    SYM(reg_write), SYM(reg_read), SYM(mem_read), SYM(emu_start),
    SYM(emu_stop), SYM(hook_add), SYM(hook_del), SYM(mem_map_ptr),
    SYM(mmio_map),
#undef SYM
};

bool tcg_unicorn_load(Error **errp)
{
    void *lib;

    if (uc_fn.open) {
        return true;
    }
    lib = dlopen(TCG_UNICORN_SONAME, TCG_UNICORN_DLFLAGS);
    if (!lib) {
        error_setg(errp, "could not load the CPU emulator library: %s "
                   "(install libunicorn2)", dlerror());
        return false;
    }
    for (size_t i = 0; i < ARRAY_SIZE(tcg_unicorn_syms); i++) {
        *tcg_unicorn_syms[i].slot = dlsym(lib, tcg_unicorn_syms[i].name);
        if (!*tcg_unicorn_syms[i].slot) {
            error_setg(errp, "%s lacks %s", TCG_UNICORN_SONAME,
                       tcg_unicorn_syms[i].name);
            dlclose(lib);
            uc_fn.open = NULL;
            return false;
        }
    }
    return true;
}

unsigned int uc_version(unsigned int *major, unsigned int *minor)
{
    return uc_fn.version(major, minor);
}

uc_err uc_open(uc_arch arch, uc_mode mode, uc_engine **uc)
{
    return uc_fn.open(arch, mode, uc);
}

uc_err uc_close(uc_engine *uc)
{
    return uc_fn.close(uc);
}

/* The control word says how many arguments follow (bits 26-29). */
uc_err uc_ctl(uc_engine *uc, uc_control_type control, ...)
{
    unsigned nr = ((unsigned)control >> 26) & 0xf;
    uintptr_t a[2] = { 0, 0 };
    va_list ap;

    assert(nr <= ARRAY_SIZE(a));
    va_start(ap, control);
    for (unsigned i = 0; i < nr; i++) {
        a[i] = va_arg(ap, uintptr_t);
    }
    va_end(ap);
    return uc_fn.ctl(uc, control, a[0], a[1]);
}

const char *uc_strerror(uc_err code)
{
    return uc_fn.strerror ? uc_fn.strerror(code) : "Unicorn not loaded";
}

uc_err uc_reg_write(uc_engine *uc, int regid, const void *value)
{
    return uc_fn.reg_write(uc, regid, value);
}

uc_err uc_reg_read(uc_engine *uc, int regid, void *value)
{
    return uc_fn.reg_read(uc, regid, value);
}

uc_err uc_mem_read(uc_engine *uc, uint64_t address, void *bytes, size_t size)
{
    return uc_fn.mem_read(uc, address, bytes, size);
}

uc_err uc_emu_start(uc_engine *uc, uint64_t begin, uint64_t until,
                    uint64_t timeout, size_t count)
{
    return uc_fn.emu_start(uc, begin, until, timeout, count);
}

uc_err uc_emu_stop(uc_engine *uc)
{
    return uc_fn.emu_stop(uc);
}

/* UC_HOOK_INSN hooks take the instruction id as one more argument. */
uc_err uc_hook_add(uc_engine *uc, uc_hook *hh, int type, void *callback,
                   void *user_data, uint64_t begin, uint64_t end, ...)
{
    va_list ap;
    int insn;

    if (!(type & UC_HOOK_INSN)) {
        return uc_fn.hook_add(uc, hh, type, callback, user_data, begin, end);
    }
    va_start(ap, end);
    insn = va_arg(ap, int);
    va_end(ap);
    return uc_fn.hook_add(uc, hh, type, callback, user_data, begin, end,
                          insn);
}

uc_err uc_hook_del(uc_engine *uc, uc_hook hh)
{
    return uc_fn.hook_del(uc, hh);
}

uc_err uc_mem_map_ptr(uc_engine *uc, uint64_t address, size_t size,
                      uint32_t perms, void *ptr)
{
    return uc_fn.mem_map_ptr(uc, address, size, perms, ptr);
}

uc_err uc_mmio_map(uc_engine *uc, uint64_t address, size_t size,
                   uc_cb_mmio_read_t read_cb, void *user_data_read,
                   uc_cb_mmio_write_t write_cb, void *user_data_write)
{
    return uc_fn.mmio_map(uc, address, size, read_cb, user_data_read,
                          write_cb, user_data_write);
}
