#!/usr/bin/env bash
# Push and pull of a ~500 MB image (LAYERS layers of incompressible data, gzip) to a local
# docker-registry: kiln vs `skopeo copy`, in the same run. Every push goes to a fresh,
# empty registry (so nothing is skipped or mounted); every pull into an empty store / OCI
# directory. Prints median wall times and the ratios.
# Usage: bench/registry.sh [RUNS]   (env: LAYERS=4, LAYER_MB=125, KILN=path)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
runs=${1:-3}
layers=${LAYERS:-4}
layer_mb=${LAYER_MB:-125}
for pkg in docker-registry skopeo bc python3; do
    dpkg -s "$pkg" >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg"; }
done
kiln=${KILN:-$here/../target/release/kiln}
[ -x "$kiln" ] || (cd "$here/.." && cargo build --release --locked -q)

work=$(mktemp -d /var/tmp/kiln-bench-registry.XXXXXX)
reg_pid=
stop_registry() {
    if [ -n "$reg_pid" ]; then kill "$reg_pid" 2>/dev/null || true; wait "$reg_pid" 2>/dev/null || true; fi
    reg_pid=
}
cleanup() { stop_registry || true; rm -rf "$work"; }
trap cleanup EXIT
# kiln and skopeo read no auth file of the host's (docker-registry itself must not see
# REGISTRY_* variables: it takes them as configuration).
export HOME="$work/home"
mkdir -p "$HOME"
K=(env REGISTRY_AUTH_FILE="$work/auth.json" "$kiln")
S=(env REGISTRY_AUTH_FILE="$work/auth.json" skopeo)

# start_registry NAME: a fresh registry with its own storage; sets $reg (host:port).
start_registry() {
    local dir="$work/reg-$1" port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    mkdir -p "$dir"
    cat > "$dir/config.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: 127.0.0.1:$port
  secret: bench
YML
    docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
    reg_pid=$!
    reg=127.0.0.1:$port
    for _ in $(seq 100); do
        curl -fs "http://$reg/v2/" >/dev/null 2>&1 && return
        sleep 0.1
    done
    echo "docker-registry did not start: $(cat "$dir/log")" >&2; exit 1
}

# The image: an OCI layout with gzip layers of random data (made once).
python3 - "$work/layout" "$layers" "$layer_mb" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
out, n, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs)
def put(data):
    d = hashlib.sha256(data).hexdigest()
    open(os.path.join(blobs, d), "wb").write(data)
    return "sha256:" + d, len(data)
layers, diff_ids = [], []
for i in range(n):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        data = os.urandom(mb << 20)
        info = tarfile.TarInfo(f"data{i}.bin"); info.size = len(data); info.mtime = 0
        t.addfile(info, io.BytesIO(data))
    tar = raw.getvalue()
    diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
    gz = gzip.compress(tar, compresslevel=1, mtime=0)
    d, size = put(gz)
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": size})
config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}, "config": {}}
cd, cs = put(json.dumps(config).encode())
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
            "layers": layers}
md, ms = put(json.dumps(manifest).encode())
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
           "digest": md, "size": ms, "annotations": {"org.opencontainers.image.ref.name": "bench"}}]},
          open(os.path.join(out, "index.json"), "w"))
open(os.path.join(out, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
size_mb=$(du -sm "$work/layout/blobs" | cut -f1)
"$kiln" --root "$work/k-src" load -i "$work/layout" >/dev/null
"$kiln" --root "$work/k-src" tag "$("$kiln" --root "$work/k-src" images -q | head -1)" bench:src >/dev/null

kp=() sp=() kl=() sl=()
for i in $(seq "$runs"); do
    start_registry "k$i"
    kp+=("$(seconds_of "${K[@]}" --root "$work/k-src" push -q bench:src "$reg/bench/img:1")")
    # (untimed) the push is complete and readable
    "${S[@]}" inspect --tls-verify=false "docker://$reg/bench/img:1" >/dev/null
    rm -rf "$work/k-dst"
    kl+=("$(seconds_of "${K[@]}" --root "$work/k-dst" pull -q "$reg/bench/img:1")")
    [ -n "$("${K[@]}" --root "$work/k-dst" images -q)" ] || { echo "kiln pull failed" >&2; exit 1; }
    stop_registry
    start_registry "s$i"
    sp+=("$(seconds_of "${S[@]}" copy --dest-tls-verify=false "oci:$work/layout:bench" "docker://$reg/bench/img:1")")
    rm -rf "$work/s-dst" "$HOME/.local/share/containers/cache"
    sl+=("$(seconds_of "${S[@]}" copy --src-tls-verify=false "docker://$reg/bench/img:1" "oci:$work/s-dst:img")")
    [ -f "$work/s-dst/index.json" ] || { echo "skopeo pull failed" >&2; exit 1; }
    stop_registry
    rm -rf "$work"/reg-*
done
m() { printf '%s\n' "$@" | median; }
kpm=$(m "${kp[@]}") spm=$(m "${sp[@]}") klm=$(m "${kl[@]}") slm=$(m "${sl[@]}")
printf 'Registry push/pull of a %s MB image (%s gzip layers of random data), %s runs each\n' "$size_mb" "$layers" "$runs"
printf '  push  kiln   median %6.2f s   (%s)\n' "$kpm" "${kp[*]}"
printf '  push  skopeo median %6.2f s   (%s)\n' "$spm" "${sp[*]}"
printf '  push  skopeo / kiln = %.2fx   (goal: at least 1x)\n' "$(echo "$spm / $kpm" | bc -l)"
printf '  pull  kiln   median %6.2f s   (%s)\n' "$klm" "${kl[*]}"
printf '  pull  skopeo median %6.2f s   (%s)\n' "$slm" "${sl[*]}"
printf '  pull  skopeo / kiln = %.2fx   (goal: at least 1x)\n' "$(echo "$slm / $klm" | bc -l)"
