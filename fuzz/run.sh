#!/usr/bin/env bash
# Run every cargo-fuzz target for SECONDS each (default 180), one after another, and print
# one line per target: runs, execs/s, corpus size and whether it found a crash.
# Usage: fuzz/run.sh [SECONDS] [TARGET...]     (needs `cargo install cargo-fuzz` and nightly;
# FUZZ="env RUSTC_BOOTSTRAP=1 cargo fuzz" uses the stable toolchain instead)
# Crashes are kept in fuzz/artifacts/TARGET/; the corpus grows in fuzz/corpus/TARGET/.
# Exit status: 0 when no target crashed, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")"

SECONDS_EACH=${1:-180}
FUZZ=${FUZZ:-cargo +nightly fuzz}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <($FUZZ list)
fi
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

$FUZZ build >/dev/null 2>&1 || true
fail=0
printf '%-20s %12s %10s %8s  %s\n' target runs "execs/s" corpus result
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    log="$logs/$t.log"
    # One job, so the shared cores stay shared; inputs up to 64 KiB.
    if $FUZZ run "$t" "corpus/$t" -- -max_total_time="$SECONDS_EACH" \
        -max_len=65536 -rss_limit_mb=2048 -timeout=10 >"$log" 2>&1; then
        result=clean
    else
        mkdir -p "artifacts/$t"
        cp "$log" "artifacts/$t/run.log"
        result="CRASH (input and log in fuzz/artifacts/$t/)"
        fail=1
    fi
    done_line=$(grep -E '^Done [0-9]+ runs' "$log" | tail -1)
    runs=$(echo "$done_line" | awk '{print $2}')
    rate=$(grep -oE 'exec/s: [0-9]+' "$log" | tail -1 | awk '{print $2}')
    corpus=$(find "corpus/$t" -type f | wc -l)
    printf '%-20s %12s %10s %8s  %s\n' "$t" "${runs:-?}" "${rate:-?}" "$corpus" "$result"
done
exit "$fail"
