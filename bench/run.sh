#!/usr/bin/env bash
# RUN steps, kiln vs buildah in the same run (median of RUNS builds each, default 3):
#  1. 20 x `RUN true` on a busybox base: per-step overhead;
#  2. one RUN writing 20,000 files / 200 MB, and the same RUN removing them again at its end:
#     the difference is the time to commit the step's changes as a layer.
# Prints medians, ratios and kiln's peak memory. Usage: bench/run.sh [RUNS]
# KILN_BASELINE=PATH (another kiln binary, e.g. a build of an earlier commit) adds its
# 20 x `RUN true` time in the same run, to compare per-step overhead across changes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
runs=${1:-3}
bench_deps
command -v bc >/dev/null || apt-get install -y -qq bc >/dev/null
kiln=${KILN:-$here/../target/release/kiln}
[ -x "$kiln" ] || (cd "$here/.." && cargo build --release --locked -q)

work=$(mktemp -d /var/tmp/kiln-bench-run.XXXXXX)
# Both stores on a tmpfs, as in a CI pod with a memory-backed volume: on ext4, creating many
# files right after deleting many is slow in the kernel (inode allocation skips recently
# freed inodes), which would measure the filesystem rather than the tools.
mount -t tmpfs -o size=4g kiln-bench "$work"
B=(buildah --root "$work/b-root" --runroot "$work/b-run" --storage-driver overlay)
cleanup() {
    "${B[@]}" rm -a >/dev/null 2>&1 || true
    "${B[@]}" rmi -af >/dev/null 2>&1 || true
    umount -R "$work/b-root" 2>/dev/null || true
    umount -R "$work" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
bench_busybox_tar "$work"
mkdir -p "$work/ctx"
"$kiln" --root "$work/k-store" import "$work/busybox.tar" busybox:bench >/dev/null
c=$("${B[@]}" from scratch)
"${B[@]}" add "$c" "$work/busybox.tar" / >/dev/null
"${B[@]}" commit -q "$c" busybox:bench >/dev/null
"${B[@]}" rm "$c" >/dev/null

{ echo "FROM busybox:bench"; for i in $(seq 20); do echo "RUN true"; done; } > "$work/Dockerfile.true"
write='s=$(head -c 10240 /dev/zero | tr "\0" a); i=0; while [ $i -lt 200 ]; do mkdir -p /data/d$i; j=0; while [ $j -lt 100 ]; do printf %s "$s" > /data/d$i/f$j; j=$((j+1)); done; i=$((i+1)); done'
printf 'FROM busybox:bench\nRUN %s\n' "$write" > "$work/Dockerfile.files"
# The same work, but the step removes what it wrote: its layer is empty. The difference
# between the two builds is the cost of committing 20,000 files / 200 MB.
printf 'FROM busybox:bench\nRUN %s; rm -rf /data\n' "$write" > "$work/Dockerfile.files-rm"

# chroot isolation (no OCI runtime needed here) only allows the host network.
BA=(bud --isolation chroot --layers=false -q)
measure() { # name tag dockerfile
    local k=() b=()
    for i in $(seq "$runs"); do
        # Each build must succeed, or its time means nothing.
        "$kiln" --root "$work/k-store" build --no-cache -q -f "$3" -t "$2:check" "$work/ctx" >/dev/null
        "${B[@]}" "${BA[@]}" -f "$3" -t "$2:check" "$work/ctx" >/dev/null
        k+=("$(seconds_of "$kiln" --root "$work/k-store" build --no-cache -q -f "$3" -t "$2:$i" "$work/ctx")")
        b+=("$(seconds_of "${B[@]}" "${BA[@]}" -f "$3" -t "$2:$i" "$work/ctx")")
    done
    local km bm
    km=$(printf '%s\n' "${k[@]}" | median)
    bm=$(printf '%s\n' "${b[@]}" | median)
    printf '%-28s kiln %6.2f s   buildah %6.2f s   buildah/kiln %.2fx\n' "$1" "$km" "$bm" "$(echo "$bm / $km" | bc -l)"
    echo "$km $bm"
}
echo "RUN benchmarks, $runs builds each (kiln: overlay, sandboxed; buildah: --isolation chroot, overlay)"
out1=$(measure "20 x RUN true" run-true "$work/Dockerfile.true"); echo "$out1" | head -1
read -r k1 b1 <<<"$(echo "$out1" | tail -1)"
printf '  per-step overhead: kiln %.1f ms, buildah %.1f ms\n' "$(echo "$k1 * 1000 / 20" | bc -l)" "$(echo "$b1 * 1000 / 20" | bc -l)"
if [ -n "${KILN_BASELINE:-}" ]; then
    "$KILN_BASELINE" --root "$work/base-store" import "$work/busybox.tar" busybox:bench >/dev/null
    base=()
    for i in $(seq "$runs"); do
        "$KILN_BASELINE" --root "$work/base-store" build --no-cache -q -f "$work/Dockerfile.true" -t "base:check" "$work/ctx" >/dev/null
        base+=("$(seconds_of "$KILN_BASELINE" --root "$work/base-store" build --no-cache -q -f "$work/Dockerfile.true" -t "base:$i" "$work/ctx")")
    done
    k0=$(printf '%s\n' "${base[@]}" | median)
    printf '  per-step overhead: baseline %s %.1f ms, this kiln %.1f ms (%+.0f%%)\n' "$KILN_BASELINE" \
        "$(echo "$k0 * 1000 / 20" | bc -l)" "$(echo "$k1 * 1000 / 20" | bc -l)" "$(echo "($k1 - $k0) * 100 / $k0" | bc -l)"
fi
out2=$(measure "20,000 files / 200 MB" run-files "$work/Dockerfile.files"); echo "$out2" | head -1
read -r k2 b2 <<<"$(echo "$out2" | tail -1)"
out3=$(measure "same, removed in the step" run-files-rm "$work/Dockerfile.files-rm"); echo "$out3" | head -1
read -r k3 b3 <<<"$(echo "$out3" | tail -1)"
kc=$(echo "$k2 - $k3" | bc -l); bc_=$(echo "$b2 - $b3" | bc -l)
printf '  commit of 20,000 files / 200 MB (difference of the two): kiln %.2f s, buildah %.2f s, buildah/kiln %.2fx\n' \
    "$kc" "$bc_" "$(echo "$bc_ / $kc" | bc -l)"
peak=$( { /usr/bin/time -v "$kiln" --root "$work/k-store" build --no-cache -q -f "$work/Dockerfile.files" -t peak "$work/ctx" >/dev/null; } 2>&1 \
    | awk -F': ' '/Maximum resident set size/ {print $2}')
printf '  kiln peak memory: %.1f MiB\n' "$(echo "$peak / 1024" | bc -l)"
