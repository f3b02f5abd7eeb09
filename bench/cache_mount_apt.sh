#!/usr/bin/env bash
# RUN --mount=type=cache with apt: the same `apt-get install` step built twice with
# --no-cache on a debootstrapped Debian 12 base; the second build reuses the package lists
# and .debs in the cache mounts, so it downloads nothing. Prints both times, the ratio, and
# checks that the step's layer holds no /var/cache/apt or /var/lib/apt/lists content.
# Usage: bench/cache_mount_apt.sh   (needs network access to the Debian mirror)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
for pkg in bc debootstrap; do
    dpkg -s "$pkg" >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
done
kiln=${KILN:-$here/../target/release/kiln}
[ -x "$kiln" ] || (cd "$here/.." && cargo build --release --locked -q)
mirror=${KILN_TEST_DEBIAN_MIRROR:-http://deb.debian.org/debian}

work=$(mktemp -d /var/tmp/kiln-bench-apt.XXXXXX)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
# The tests' cached debootstrap tarball when there is one.
base=$here/../target/kiln-test-cache/debian-bookworm-minbase.tar
if [ ! -f "$base" ]; then
    debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >/dev/null
    tar --numeric-owner --xattrs -C "$work/rootfs" -cf "$work/debian.tar" .
    base=$work/debian.tar
fi
"$kiln" --root "$work/store" import "$base" debian:bench >/dev/null
mkdir -p "$work/ctx"
cat > "$work/ctx/Dockerfile" <<'DOCKERFILE'
FROM debian:bench
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    apt-get update -q && apt-get install -y -q --no-install-recommends curl >/dev/null && ls /var/cache/apt/archives/*.deb | wc -l
DOCKERFILE
first=$(seconds_of "$kiln" --root "$work/store" build --no-cache -q -t apt:1 "$work/ctx")
second=$(seconds_of "$kiln" --root "$work/store" build --no-cache -q -t apt:2 "$work/ctx")
printf 'apt-get install curl with cache mounts: first build %.2f s, second build %.2f s (%.2fx faster)\n' \
    "$first" "$second" "$(echo "$first / $second" | bc -l)"
debs=$(find "$work/store/cache-mounts" -name '*.deb' | wc -l)
echo "  .deb files kept in the cache mounts: $debs"
layer=$("$kiln" --root "$work/store" inspect apt:2 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["RootFS"]["Layers"][-1].split(":")[1])')
leaked=$(tar -tf "$work/store/blobs/sha256/$layer" | grep -cE '^(\./)?var/(cache/apt|lib/apt/lists)/.' || true)
echo "  entries under /var/cache/apt and /var/lib/apt/lists in the step's layer: $leaked"
[ "$leaked" -eq 0 ] && [ "$debs" -gt 0 ]
