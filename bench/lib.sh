# Shared helpers for the side-by-side benchmarks (sourced).

# Install what the benchmarks need (Debian; idempotent).
bench_deps() {
    local need=()
    for pkg in buildah busybox-static time tar; do
        dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
    done
    if [ "${#need[@]}" -gt 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
    fi
}

# bench_busybox_tar DIR: a busybox rootfs tarball at DIR/busybox.tar.
bench_busybox_tar() {
    local dir=$1 root="$1/bb"
    mkdir -p "$root/bin" "$root/etc" "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    for c in sh echo cat ls true head tr printf mkdir; do ln -sf busybox "$root/bin/$c"; done
    printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
    printf 'root:x:0:\n' > "$root/etc/group"
    tar --numeric-owner -C "$root" -cf "$dir/busybox.tar" .
}

# seconds_of CMD...: run CMD, print its wall time in seconds.
seconds_of() {
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
}

# median of numbers on stdin
median() {
    sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'
}

# A private dockerd (Debian's docker 20.10: its BuildKit needs no buildx plugin) with its
# files under WORK; sets D (the docker CLI for it) and dockerd_pid. Only docker sees
# DOCKER_CONFIG: buildah would take it for its auth file. bench_dockerd_stop ends it.
bench_dockerd() {
    local work=$1
    D=(env "DOCKER_CONFIG=$work/docker-config" DOCKER_BUILDKIT=1 /usr/bin/docker -H "unix://$work/docker.sock")
    dockerd --data-root "$work/docker" --exec-root "$work/docker-exec" --pidfile "$work/docker.pid" \
        --host "unix://$work/docker.sock" --iptables=false --ip6tables=false --bridge=none \
        --storage-driver overlay2 >"$work/dockerd.log" 2>&1 &
    dockerd_pid=$!
    for _ in $(seq 300); do "${D[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
    "${D[@]}" version >/dev/null 2>&1 || { tail -20 "$work/dockerd.log" >&2; return 1; }
}

# Stop the dockerd bench_dockerd started (if any) and unmount its files under WORK.
bench_dockerd_stop() {
    local work=$1
    if [ -n "${dockerd_pid:-}" ]; then
        kill -TERM "$dockerd_pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
    fi
    umount -R "$work/docker" 2>/dev/null || true
}
