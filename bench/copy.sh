#!/usr/bin/env bash
# COPY of a 20,000-file / 40 MB context into an image: kiln vs buildah in the same run.
# Prints the median wall time of each (RUNS builds each, default 5), the ratio, and kiln's
# peak memory. Usage: bench/copy.sh [RUNS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
runs=${1:-5}
bench_deps
command -v bc >/dev/null || { apt-get install -y -qq bc >/dev/null; }
kiln=${KILN:-$here/../target/release/kiln}
[ -x "$kiln" ] || (cd "$here/.." && cargo build --release --locked -q)

work=$(mktemp -d /var/tmp/kiln-bench-copy.XXXXXX)
cleanup() {
    buildah --root "$work/b-root" --runroot "$work/b-run" --storage-driver vfs rm -a >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
bench_busybox_tar "$work"

# 200 directories x 100 files x 2 KiB = 20,000 files, 40 MB.
ctx="$work/ctx"
mkdir -p "$ctx"
python3 - "$ctx" <<'PY'
import os, sys
root = sys.argv[1]
block = os.urandom(2048)
for d in range(200):
    p = os.path.join(root, f"d{d:03}")
    os.makedirs(p)
    for f in range(100):
        with open(os.path.join(p, f"f{f:03}.bin"), "wb") as fh:
            fh.write(block[f:] + block[:f])
PY
printf 'FROM busybox:bench\nCOPY . /data/\n' > "$work/Dockerfile"

"$kiln" --root "$work/k-store" import "$work/busybox.tar" busybox:bench >/dev/null
B=(buildah --root "$work/b-root" --runroot "$work/b-run" --storage-driver vfs)
c=$("${B[@]}" from scratch)
"${B[@]}" add "$c" "$work/busybox.tar" / >/dev/null
"${B[@]}" commit -q "$c" busybox:bench >/dev/null
"${B[@]}" rm "$c" >/dev/null

kiln_times=() buildah_times=()
for i in $(seq "$runs"); do
    kiln_times+=("$(seconds_of "$kiln" --root "$work/k-store" build --no-cache -q -f "$work/Dockerfile" -t out:$i "$ctx")")
    buildah_times+=("$(seconds_of "${B[@]}" bud --layers=false -q -f "$work/Dockerfile" -t out:$i "$ctx")")
done
peak=$( { /usr/bin/time -v "$kiln" --root "$work/k-store" build --no-cache -q -f "$work/Dockerfile" -t peak "$ctx" >/dev/null; } 2>&1 \
    | awk -F': ' '/Maximum resident set size/ {print $2}')
k=$(printf '%s\n' "${kiln_times[@]}" | median)
b=$(printf '%s\n' "${buildah_times[@]}" | median)
printf 'COPY 20,000 files / 40 MB, %s runs each\n' "$runs"
printf '  kiln     median %6.2f s   (%s)\n' "$k" "${kiln_times[*]}"
printf '  buildah  median %6.2f s   (%s)\n' "$b" "${buildah_times[*]}"
printf '  buildah / kiln = %.2fx   (goal: at least 2x)\n' "$(echo "$b / $k" | bc -l)"
printf '  kiln peak memory: %.1f MiB\n' "$(echo "$peak / 1024" | bc -l)"
