#!/bin/sh
# Bounded run of one fuzz target (meson tests fuzz-TARGET-smoke).
#
#   fuzz-smoke.sh FUZZER DICT CRASHERS_DIR ARTIFACT_DIR TARGET
#
# 1. Generates the target's seed corpus with the real save/encode code.
# 2. Replays every CRASHERS_DIR/TARGET-*.bin: inputs that once crashed
#    it and must not any more.  3. Fuzzes for FUZZ_TIME seconds (default
#    15) from the seeds.  A crash, leak, sanitizer report or timeout
#    fails the test; the input is kept as ARTIFACT_DIR/fuzz-TARGET-crash-*
#    (or leak-*, timeout-*).
#
# SPDX-License-Identifier: GPL-2.0-or-later
set -eu

fuzzer=$1
dict=$2
crashers=$3
artifacts=$4
target=$5
time=${FUZZ_TIME:-15}

# libqemuutil and libqemuio are not built with -fno-sanitize-recover:
# make their UBSan reports fatal too (meson test sets this already).
: "${UBSAN_OPTIONS:=halt_on_error=1:abort_on_error=1:print_stacktrace=1}"
export UBSAN_OPTIONS

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

"$fuzzer" --make-seeds="$work/seeds" > "$work/seeds.log" ||
    { cat "$work/seeds.log"; exit 1; }
echo "$(ls "$work/seeds" | wc -l) seeds"

for f in "$crashers/$target"-*.bin; do
    [ -e "$f" ] || continue
    echo "replaying $f"
    "$fuzzer" -runs=1 "$f"
done

mkdir "$work/corpus"
# -close_fd_mask=2: the destination reports each rejected input on
# stderr; libFuzzer's own report still goes out.
"$fuzzer" -max_total_time="$time" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -dict="$dict" -close_fd_mask=2 \
    -artifact_prefix="$artifacts/fuzz-$target-" \
    -print_final_stats=1 "$work/corpus" "$work/seeds"
