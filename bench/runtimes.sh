#!/usr/bin/env bash
# Per-step overhead of each RUN runtime, side by side in the same run: 20 x `RUN true` on a
# busybox base with the embedded runtime and with --runtime crun, runc and runsc (gVisor,
# ptrace platform), median of RUNS builds each (default 3). The overhead is
# (build with 20 RUN steps - the same build without them) / 20; it is printed for the
# default private network (slirp4netns per step) and for RUN --network=none.
# Usage: bench/runtimes.sh [RUNS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
runs=${1:-3}
bench_deps
for pkg in bc runc crun runsc slirp4netns; do
    dpkg -s "$pkg" >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
done
kiln=${KILN:-$here/../target/release/kiln}
[ -x "$kiln" ] || (cd "$here/.." && cargo build --release --locked -q)

work=$(mktemp -d /var/tmp/kiln-bench-runtimes.XXXXXX)
mount -t tmpfs -o size=1g kiln-bench "$work"
cleanup() {
    umount -R "$work" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
bench_busybox_tar "$work"
mkdir -p "$work/ctx"
"$kiln" --root "$work/store" import "$work/busybox.tar" busybox:bench >/dev/null
echo "FROM busybox:bench" > "$work/Dockerfile.base"
{ echo "FROM busybox:bench"; for i in $(seq 20); do echo "RUN true"; done; } > "$work/Dockerfile.net"
{ echo "FROM busybox:bench"; for i in $(seq 20); do echo "RUN --network=none true"; done; } > "$work/Dockerfile.none"

median_of() { # args: kiln build flags...
    local t=()
    # The build must succeed, or its time means nothing.
    "$kiln" --root "$work/store" build --no-cache -q "$@" "$work/ctx" >/dev/null
    for _ in $(seq "$runs"); do
        t+=("$(seconds_of "$kiln" --root "$work/store" build --no-cache -q "$@" "$work/ctx")")
    done
    printf '%s\n' "${t[@]}" | median
}

base=$(median_of -f "$work/Dockerfile.base")
printf 'per-step overhead of RUN true (median of %s builds of 20 steps, minus a build without them: %.0f ms)\n' "$runs" "$(echo "$base * 1000" | bc -l)"
printf '%-10s %18s %18s\n' runtime "private network" "--network=none"
for rt in embedded crun runc runsc; do
    flags=()
    [ "$rt" = embedded ] || flags=(--runtime "$rt")
    [ "$rt" = runsc ] && flags+=(--runtime-flag=--platform=ptrace)
    net=$(median_of -f "$work/Dockerfile.net" "${flags[@]}")
    none=$(median_of -f "$work/Dockerfile.none" "${flags[@]}")
    printf '%-10s %15.1f ms %15.1f ms\n' "$rt" \
        "$(echo "($net - $base) * 1000 / 20" | bc -l)" "$(echo "($none - $base) * 1000 / 20" | bc -l)"
done
