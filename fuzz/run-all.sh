#!/usr/bin/env bash
# Runs every fuzz target for an equal share of BUDGET_SECONDS (default 180) and fails on any
# finding (crash, panic, timeout, out-of-memory). Installs cargo-fuzz if it is missing.
#
#   fuzz/run-all.sh [BUDGET_SECONDS]
#
# Only the stable toolchain exists here: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass the nightly
# flags (-Zsanitizer=address) it needs. The committed seeds in fuzz/corpus/<target>/ are
# read-only inputs; new corpus entries go to a scratch directory, findings to
# fuzz/artifacts/<target>/ (printed at the end).
set -euo pipefail

budget=${1:-180}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

targets=(wal_decode segment walk_index open_dir model)
per_target=$(( budget / ${#targets[@]} ))
if (( per_target < 5 )); then per_target=5; fi

cargo fuzz build -O

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
for target in "${targets[@]}"; do
    mkdir -p "$scratch/$target" "artifacts/$target"
    echo "=== fuzzing $target for ${per_target}s"
    # -timeout: one input taking more than 10 s counts as a hang; -rss_limit_mb: the whole
    # process may use 2 GiB, and no single allocation may exceed it.
    if ! cargo fuzz run -O "$target" "$scratch/$target" "corpus/$target" -- \
        -max_total_time="$per_target" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 2>"$scratch/$target.log"; then
        failed+=("$target")
    fi
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$scratch/$target.log" || true
    if grep -qE "ERROR: libFuzzer|panicked at|SUMMARY: AddressSanitizer" "$scratch/$target.log"; then
        grep -E -m5 -A3 "panicked at|ERROR:|SUMMARY" "$scratch/$target.log" || true
        [[ " ${failed[*]} " == *" $target "* ]] || failed+=("$target")
    fi
done

if (( ${#failed[@]} > 0 )); then
    echo "fuzzing found problems in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzzing: no findings"
