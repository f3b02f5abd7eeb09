#!/usr/bin/env bash
# --isolation vm against --isolation oci and buildah, in the same run (median of RUNS builds
# each, default 3), on a busybox base with --network none:
#  1. one `RUN true`: under vm this includes booting the stage's guest, so the difference
#     with the oci build of the same Dockerfile is the boot to the first step;
#  2. 20 x `RUN true`: (20 steps - 1 step) / 19 under vm is the per-step overhead inside a
#     running guest (sending the step, the overlay, the sandbox, the changes back).
# Prints medians, the boot time, the per-step overheads and the ratios. The accelerator is
# kiln's choice (`kiln info` says which: KVM where /dev/kvm runs a guest, else TCG).
# Usage: bench/vm.sh [RUNS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
runs=${1:-3}
bench_deps
bash "$here/../scripts/deps.sh" >/dev/null
command -v bc >/dev/null || apt-get install -y -qq bc >/dev/null
kiln=${KILN:-$here/../target/release/kiln}
[ -x "$kiln" ] || (cd "$here/.." && cargo build --release --locked -q)

work=$(mktemp -d /var/tmp/kiln-bench-vm.XXXXXX)
B=(buildah --root "$work/b-root" --runroot "$work/b-run" --storage-driver overlay)
cleanup() {
    "${B[@]}" rm -a >/dev/null 2>&1 || true
    "${B[@]}" rmi -af >/dev/null 2>&1 || true
    umount -R "$work/b-root" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
bench_busybox_tar "$work"
mkdir -p "$work/ctx"
K=("$kiln" --root "$work/k-store")
"${K[@]}" import "$work/busybox.tar" busybox:bench >/dev/null
c=$("${B[@]}" from scratch)
"${B[@]}" add "$c" "$work/busybox.tar" / >/dev/null
"${B[@]}" commit -q "$c" busybox:bench >/dev/null
"${B[@]}" rm "$c" >/dev/null
printf 'FROM busybox:bench\nRUN true\n' > "$work/Dockerfile.one"
{ echo "FROM busybox:bench"; for i in $(seq 20); do echo "RUN true"; done; } > "$work/Dockerfile.twenty"
# The first vm build makes the initramfs and probes the accelerator: not measured.
"${K[@]}" build --isolation vm --network none --no-cache -q -f "$work/Dockerfile.one" -t warm "$work/ctx" >/dev/null

time_of() { # dockerfile tool...
    local f=$1 t=()
    shift
    for i in $(seq "$runs"); do
        # Each build must succeed, or its time means nothing.
        "$@" -f "$f" -t "check:$i" "$work/ctx" >/dev/null
        t+=("$(seconds_of "$@" -f "$f" -t "bench:$i" "$work/ctx")")
    done
    printf '%s\n' "${t[@]}" | median
}
VM=("${K[@]}" build --isolation vm --network none --no-cache -q)
OCI=("${K[@]}" build --network none --no-cache -q)
BA=("${B[@]}" bud --isolation chroot --layers=false -q)
vm1=$(time_of "$work/Dockerfile.one" "${VM[@]}")
oci1=$(time_of "$work/Dockerfile.one" "${OCI[@]}")
vm20=$(time_of "$work/Dockerfile.twenty" "${VM[@]}")
oci20=$(time_of "$work/Dockerfile.twenty" "${OCI[@]}")
ba20=$(time_of "$work/Dockerfile.twenty" "${BA[@]}")
echo "--isolation vm benchmarks, $runs builds each; $("${K[@]}" info | grep '^isolation vm')"
printf '1 x RUN true:   vm %6.2f s   oci %6.2f s\n' "$vm1" "$oci1"
printf '  boot to first step (vm - oci): %.2f s (goal under TCG: <= 3 s)\n' "$(echo "$vm1 - $oci1" | bc -l)"
printf '20 x RUN true:  vm %6.2f s   oci %6.2f s   buildah (chroot) %6.2f s\n' "$vm20" "$oci20" "$ba20"
printf '  per-step overhead in a running guest: %.0f ms (goal under TCG: <= 50 ms); oci %.0f ms; buildah %.0f ms\n' \
    "$(echo "($vm20 - $vm1) * 1000 / 19" | bc -l)" "$(echo "($oci20 - $oci1) * 1000 / 19" | bc -l)" \
    "$(echo "$ba20 * 1000 / 20" | bc -l)"
printf '  vm/oci %.2fx   vm/buildah %.2fx\n' "$(echo "$vm20 / $oci20" | bc -l)" "$(echo "$vm20 / $ba20" | bc -l)"
