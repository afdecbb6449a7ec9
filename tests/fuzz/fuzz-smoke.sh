#!/bin/sh
# Bounded run of the migration loader fuzzer (meson test fuzz-loadvm-smoke).
#
#   fuzz-smoke.sh FUZZER DICT CRASHERS_DIR ARTIFACT_DIR
#
# 1. Generates the seed corpus with the real save path (every seed must
#    load back).  2. Replays every file in CRASHERS_DIR: inputs that once
#    crashed the loader and must not any more.  3. Fuzzes for FUZZ_TIME
#    seconds (default 30) from the seeds.  A crash, leak, sanitizer report
#    or timeout fails the test; the input is kept as
#    ARTIFACT_DIR/fuzz-loadvm-crash-* (or leak-*, timeout-*).
#
# SPDX-License-Identifier: GPL-2.0-or-later
set -eu

fuzzer=$1
dict=$2
crashers=$3
artifacts=$4
time=${FUZZ_TIME:-30}

# libqemuutil and libqemuio are not built with -fno-sanitize-recover:
# make their UBSan reports fatal too (meson test sets this already).
: "${UBSAN_OPTIONS:=halt_on_error=1:abort_on_error=1:print_stacktrace=1}"
export UBSAN_OPTIONS

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

"$fuzzer" --make-seeds="$work/seeds"

for f in "$crashers"/*; do
    case $f in
    *.bin)
        echo "replaying $f"
        "$fuzzer" "$f"
        ;;
    esac
done

mkdir "$work/corpus"
"$fuzzer" -max_total_time="$time" -timeout=10 -rss_limit_mb=2048 \
    -dict="$dict" -artifact_prefix="$artifacts/fuzz-loadvm-" \
    -print_final_stats=1 "$work/corpus" "$work/seeds"
