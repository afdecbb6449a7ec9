#!/bin/sh
# Manual check of the KVM vCPU/irqchip VMState (needs /dev/kvm; not run by
# CI).  Builds cpu-state-check from the objects of a configured qmig build
# and runs it: 20 rounds of pause, save every section, clobber vCPU 0,
# load, resume; the guest must continue exactly where it stopped.
#   tests/kvm/cpu-state-check.sh BUILD_DIR  (meson runs it as the test "cpu-state-check")
# SPDX-License-Identifier: GPL-2.0-or-later
set -e
B=$(cd "$1" && pwd)
S=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
ninja -C "$B" qmig >/dev/null
as --32 -o "$T/guest.o" "$S/tests/kvm/cpu-state-guest.S"
ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o "$T/guest.bin" "$T/guest.o"
P=$(pkg-config --cflags --libs glib-2.0 gio-2.0 json-glib-1.0)
O="$B/qmig.p"
cc -O1 -g -Wall -D_GNU_SOURCE -I"$S" -I"$S/include" -I"$B" \
   -o "$T/check" "$S/tests/kvm/cpu-state-check.c" \
   "$O/accel_kvm_kvm-all.c.o" "$O/accel_kvm_kvm-vcpu.c.o" \
   "$O/accel_kvm_kvm-cpu.c.o" "$O/accel_kvm_kvm-cpu-state.c.o" \
   "$O/accel_kvm_kvm-irqchip-state.c.o" "$O/system_cpus.c.o" \
   "$O/hw_i386_x86-cpu-state.c.o" "$O/hw_i386_x86-irqchip-state.c.o" \
   "$O/system_accel.c.o" \
   "$O/migration_vmstate.c.o" "$O/migration_vmstate-types.c.o" \
   "$O/migration_qemu-file.c.o" "$O/hw_i386_ioport.c.o" \
   -Wl,--whole-archive "$B/libtrace-qmig.a" -Wl,--no-whole-archive \
   "$B/libqemuio.a" "$B/libqemuutil.a" $P -lpthread
"$T/check" "$T/guest.bin" "${2:-none}"
