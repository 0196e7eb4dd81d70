#!/usr/bin/env bash
# Builds every cargo-fuzz target (fuzz/, nightly toolchain) and runs each for the given number
# of seconds (default 20) from its committed seed corpus; fails on the first crash, leaving the
# input in fuzz/artifacts/<target>/. New inputs go to a scratch directory, never to the seeds.
#
#     bash tests/fuzz.sh [seconds per target]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-20}"
# Safe Rust's crashes are panics (including integer overflow, checked in these builds), which
# need no sanitizer; without AddressSanitizer each target runs more inputs in its time.
flags=(--sanitizer none)
cargo +nightly fuzz build "${flags[@]}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
targets=$(cargo +nightly fuzz list)
for target in $targets; do
    mkdir -p "$scratch/$target"
    echo "== $target (${seconds}s)"
    log="$scratch/$target.log"
    if ! cargo +nightly fuzz run "${flags[@]}" "$target" "$scratch/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        echo "fuzz target $target crashed (input in fuzz/artifacts/$target/)" >&2
        exit 1
    fi
    # libFuzzer's last status line (coverage, features, corpus) and its final statistics.
    grep -E '^#[0-9]+' "$log" | tail -n 1 || true
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" || true
done
# The plain closing line CI reads: each target that ran its time without a crash passed.
echo "fuzz: $(echo "$targets" | wc -w) passed, 0 failed"
