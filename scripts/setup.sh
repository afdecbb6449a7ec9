#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Install what building and testing qmig needs (Debian packages, by name)
# when it is missing, then configure and build into build/.  Safe to run
# again: it installs nothing that is already there and reuses build/.
#
#   scripts/setup.sh [--asan] [--fuzz] [--tsan]
#       --asan: also build build-asan/ with AddressSanitizer + UBSan
#       --fuzz: also build build-fuzz/ (clang, libFuzzer, ASan + UBSan)
#       --tsan: also build build-tsan/ with ThreadSanitizer (gcc), whose
#               'tsan' suite runs the migration qtests
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

# Package names for the tools and libraries the build uses, and QEMU: the
# side-by-side peer of the benchmark and of the guest compatibility test;
# iproute2 (ip netns, veth, tc) and nftables for the network fault tests;
# GnuTLS for TLS migration, and its certtool for the TLS tests' certificates.
pkgs="meson ninja-build gcc pkg-config binutils python3 libglib2.0-dev
      libjson-glib-dev zlib1g-dev libzstd-dev liburing-dev libibverbs-dev
      librdmacm-dev libunicorn-dev qemu-system-x86 clang
      libclang-rt-14-dev iproute2 nftables libtsan2 libgnutls28-dev
      gnutls-bin"

missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done
if [ -n "$missing" ]; then
    echo "setup: installing:$missing"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $missing
fi

build() {
    dir=$1; shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@"
    fi
    ninja -C "$dir"
}

build build
for opt in "$@"; do
    case "$opt" in
    --asan)
        build build-asan -Db_sanitize=address,undefined -Db_lundef=false
        ;;
    --tsan)
        build build-tsan -Db_sanitize=thread -Db_lundef=false
        ;;
    --fuzz)
        if [ ! -f build-fuzz/build.ninja ]; then
            CC=clang meson setup build-fuzz -Dfuzzing=true \
                -Db_sanitize=address,undefined -Db_lundef=false
        fi
        # Every fuzz target (tests/fuzz/meson.build), not the rest: the
        # list comes from the build, so a new target cannot be left out.
        ninja -C build-fuzz $(ninja -C build-fuzz -t targets all |
            sed -n 's#^\(tests/fuzz/fuzz-[a-z-]*\): c_LINKER.*#\1#p')
        ;;
    *)
        echo "setup: unknown option $opt" >&2
        exit 2
        ;;
    esac
done
