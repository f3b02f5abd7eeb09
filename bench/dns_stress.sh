#!/usr/bin/env bash
# Builds tests/data/dns-stress/Dockerfile (four parallel stages of different lengths that
# resolve and download from deb.debian.org three times each) BUILDS times in a row with
# --no-cache and counts the builds that failed. Any failure is a flake of the build network.
# Usage: bench/dns_stress.sh [BUILDS]   (default 200; needs the Debian mirror)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
builds=${1:-200}
bench_deps
command -v bc >/dev/null || apt-get install -y -qq bc >/dev/null
kiln=${KILN:-$here/../target/release/kiln}
[ -x "$kiln" ] || (cd "$here/.." && cargo build --release --locked -q)
work=$(mktemp -d /var/tmp/kiln-bench-dns.XXXXXX)
trap 'rm -rf "$work"' EXIT
bench_busybox_tar "$work"
mkdir -p "$work/ctx"
cp "$here/../tests/data/dns-stress/Dockerfile" "$work/ctx/Dockerfile"
"$kiln" --root "$work/store" import "$work/busybox.tar" busybox:test >/dev/null
failed=0
t0=$(date +%s.%N)
for i in $(seq "$builds"); do
    if ! "$kiln" --root "$work/store" build -q --no-cache --jobs 4 "$work/ctx" >"$work/out" 2>&1; then
        failed=$((failed + 1))
        echo "build $i failed:" >&2
        tail -5 "$work/out" >&2
    fi
done
t1=$(date +%s.%N)
printf 'dns stress: %d builds, %d failed, %.1f s per build\n' "$builds" "$failed" "$(echo "($t1 - $t0) / $builds" | bc -l)"
[ "$failed" -eq 0 ]
