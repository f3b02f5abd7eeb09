#!/usr/bin/env bash
# Time the release `kiln parse FILE` and `kiln lint FILE` (whole process, median of 3) on
# generated 10,000-instruction Dockerfiles of several shapes, against a 0.1 s goal each.
# (longline: 3 instructions of INSTRUCTIONS words each, all on one line.)
# Usage: bench/parse.sh [INSTRUCTIONS]   (CARGO_TARGET_DIR is honoured; KILN=path skips the build)
# Exit status: 0 when every shape meets the goal, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

N=${1:-10000}
GOAL=0.1
if [ -z "${KILN:-}" ]; then
    cargo build --quiet --release -p kiln
    KILN="${CARGO_TARGET_DIR:-target}/release/kiln"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

. bench/parse_shapes.sh

# `kiln lint` exits 1 when it finds something: only the time matters here.
ignore_status() { "$@" || true; }

# seconds_median CMD...: median wall time of 3 runs.
seconds_median() {
    for _ in 1 2 3; do seconds_of ignore_status "$@"; done | median
}

# cpu_median CMD...: median user + system CPU time of 3 runs (steadier than the wall time
# on a shared machine; the goal is on the wall time).
cpu_median() {
    local TIMEFORMAT='%U %S'
    for _ in 1 2 3; do
        { time ignore_status "$@" >/dev/null 2>&1; } 2>&1 | awk '{print $1 + $2}'
    done | median
}

fail=0
printf '%-14s %10s %10s %10s %10s  %s\n' shape "parse (s)" "lint (s)" "parse cpu" "lint cpu" "goal ${GOAL}s wall"
for shape in $SHAPES; do
    file="$work/$shape.Dockerfile"
    "gen_$shape" > "$file"
    if ! "$KILN" parse "$file" >/dev/null 2>"$work/err"; then
        echo "$shape: kiln parse failed:" >&2; head -5 "$work/err" >&2; fail=1; continue
    fi
    p=$(seconds_median "$KILN" parse "$file")
    l=$(seconds_median "$KILN" lint "$file")
    verdict=pass
    if (( $(echo "$p >= $GOAL || $l >= $GOAL" | bc -l) )); then verdict=FAIL; fail=1; fi
    pc=$(cpu_median "$KILN" parse "$file")
    lc=$(cpu_median "$KILN" lint "$file")
    printf '%-14s %10.3f %10.3f %10.3f %10.3f  %s\n' "$shape" "$p" "$l" "$pc" "$lc" "$verdict"
done
exit "$fail"
