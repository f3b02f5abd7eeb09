#!/usr/bin/env bash
# Check that two kiln binaries parse and lint alike: stdout, stderr and exit status of
# `kiln parse FILE`, `kiln lint FILE` and `kiln lint --format json FILE` on every Dockerfile
# under tests/ and crates/*/tests, and on the generated shapes of bench/parse.sh.
# Usage: bench/lint_same.sh OLD_KILN NEW_KILN [INSTRUCTIONS]   (INSTRUCTIONS: shape size, 10000)
# Prints each difference; exit status 0 when there is none, 1 otherwise, 2 on bad usage.
set -euo pipefail
if [ $# -lt 2 ] || [ ! -x "$1" ] || [ ! -x "$2" ]; then
    echo "usage: bench/lint_same.sh OLD_KILN NEW_KILN [INSTRUCTIONS] (both executable)" >&2
    exit 2
fi
old=$(realpath "$1")
new=$(realpath "$2")
cd "$(dirname "$0")/.."
N=${3:-10000}
. bench/parse_shapes.sh

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/shapes"
for shape in $SHAPES; do "gen_$shape" > "$work/shapes/$shape.Dockerfile"; done

# outcome BIN OUT CMD ARGS...: stdout, stderr and exit status of BIN CMD ARGS... into OUT.*
outcome() {
    local bin=$1 out=$2 status=0
    shift 2
    "$bin" "$@" >"$out.stdout" 2>"$out.stderr" || status=$?
    echo "$status" >"$out.status"
}

files=0 runs=0 diffs=0
while IFS= read -r -d '' file; do
    files=$((files + 1))
    for cmd in "parse" "lint" "lint --format json"; do
        runs=$((runs + 1))
        # shellcheck disable=SC2086 # cmd is split into words on purpose
        outcome "$old" "$work/old" $cmd "$file"
        # shellcheck disable=SC2086
        outcome "$new" "$work/new" $cmd "$file"
        for part in stdout stderr status; do
            if ! cmp -s "$work/old.$part" "$work/new.$part"; then
                diffs=$((diffs + 1))
                echo "DIFFERENT $part: kiln $cmd $file"
                diff "$work/old.$part" "$work/new.$part" | head -10 || true
            fi
        done
    done
done < <(find tests crates/*/tests "$work/shapes" -type f -iname '*dockerfile*' -print0 | sort -z)

echo "$files files, $runs commands each run by both binaries, $diffs differences"
[ "$diffs" -eq 0 ]
