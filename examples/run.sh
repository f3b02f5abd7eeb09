#!/usr/bin/env bash
# The main job: make a busybox base image, build examples/hello with kiln, save it as an
# oci-archive and a docker-archive, and show the image.
set -euo pipefail
cd "$(dirname "$0")/.."
kiln=target/release/kiln
root=${KILN_ROOT:-$PWD/target/example-store}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/busybox"
for c in sh cat echo ls; do ln -s busybox "$work/rootfs/bin/$c"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n' > "$work/rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$work/rootfs/etc/group"
tar --numeric-owner -C "$work/rootfs" -cf "$work/busybox.tar" .
"$kiln" --root "$root" import "$work/busybox.tar" busybox:example
"$kiln" --root "$root" build -t kiln-example:latest \
    -o type=oci-archive,dest=target/kiln-example.oci.tar \
    -o type=docker-archive,dest=target/kiln-example.docker.tar examples/hello
"$kiln" --root "$root" images
"$kiln" --root "$root" history kiln-example:latest
echo "saved target/kiln-example.oci.tar and target/kiln-example.docker.tar"
echo "run it with: podman load -i target/kiln-example.docker.tar && podman run --rm localhost/kiln-example:latest"
