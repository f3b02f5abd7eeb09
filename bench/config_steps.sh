#!/usr/bin/env bash
# WORKDIR, ENV, USER and LABEL on a large base: kiln vs docker build (BuildKit, a private
# dockerd) in the same run. Goal: under 10 ms per step on any base, without unpacking the
# stage's root filesystem.
#
# The base is a Debian 12 minbase with gcc plus a node_modules-like tree (BULK_FILES
# files, BULK_MB megabytes), one layer. Each tool first builds `FROM base` + `RUN true`
# once (its base is then unpacked, as after any earlier build on the runner). Then, per
# instruction, the median of RUNS builds (--no-cache) of `FROM base` + N steps, minus the
# median of `FROM base` + `LABEL x=y` alone, over N: the time one step adds. kiln's own
# per-step time of WORKDIR (its `done` events in --progress json) is printed as well.
#
# Usage: bench/config_steps.sh [-r RUNS] [-n STEPS] [-t kiln,docker]. Needs root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

runs=5 steps=20 tools="kiln docker"
while [ $# -gt 0 ]; do
    case $1 in
        -r) runs=$2; shift 2 ;;
        -n) steps=$2; shift 2 ;;
        -t) tools=${2//,/ }; shift 2 ;;
        *) echo "usage: $0 [-r RUNS] [-n STEPS] [-t kiln,docker]" >&2; exit 2 ;;
    esac
done
has() { case " $2 " in *" $1 "*) return 0 ;; esac; return 1; }
bench_deps
for pkg in bc docker.io containerd python3; do
    dpkg -s "$pkg" >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
done
"$here/harness.sh" --prepare-only >/dev/null
debian_tar="$here/.cache/debian12-gcc.tar"
kiln=${KILN:-$here/../target/release/kiln}
[ -x "$kiln" ] || (cd "$here/.." && cargo build --release --locked -q)

work=$(mktemp -d /var/tmp/kiln-bench-config.XXXXXX)
K=("$kiln" --root "$work/k-store")
D=()
cleanup() {
    bench_dockerd_stop "$work"
    rm -rf "$work"
}
trap cleanup EXIT
if has docker "$tools"; then bench_dockerd "$work"; fi

# --- the large base -------------------------------------------------------------------
bulk_files=${BULK_FILES:-40000} bulk_mb=${BULK_MB:-400}
mkdir -p "$work/base"
tar -C "$work/base" -xf "$debian_tar"
python3 - "$work/base/usr/lib/node_modules" "$bulk_files" "$bulk_mb" <<'PY'
import os, sys
root, files, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
small = os.urandom(2048)
big_count = 40
big = (mb * 1024 * 1024 - files * 2048) // big_count
for i in range(files):
    d = os.path.join(root, f"pkg{i // 100}", "lib")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"m{i}.js"), "wb") as f:
        f.write(small)
for i in range(big_count):
    with open(os.path.join(root, f"blob{i}.node"), "wb") as f:
        f.write(os.urandom(max(big, 0)))
PY
tar --numeric-owner -C "$work/base" -cf "$work/base.tar" .
rm -rf "$work/base"
echo "base: $(du -m "$work/base.tar" | cut -f1) MB, $(tar -tf "$work/base.tar" | wc -l) entries" >&2
has kiln "$tools" && "${K[@]}" import "$work/base.tar" big:bench >/dev/null
has docker "$tools" && "${D[@]}" import "$work/base.tar" big:bench >/dev/null
rm -f "$work/base.tar"

# --- Dockerfiles ------------------------------------------------------------------------
dockerfile() { # name: FROM + $steps instructions of that kind
    local d="$work/ctx-$1" i
    mkdir -p "$d"
    {
        echo "FROM big:bench"
        case $1 in
            warm) echo "RUN true" ;;
            none) echo "LABEL x=y" ;;
            workdir) for i in $(seq "$steps"); do echo "WORKDIR /code$i/src"; done ;;
            env) for i in $(seq "$steps"); do echo "ENV VAR$i=value$i"; done ;;
            user) for i in $(seq "$steps"); do echo "USER $((1000 + i))"; done ;;
            label) for i in $(seq "$steps"); do echo "LABEL label$i=value$i"; done ;;
        esac
    } > "$d/Dockerfile"
    echo "$d"
}
build() { # tool dir [flags]
    local tool=$1 dir=$2; shift 2
    case $tool in
        kiln) "${K[@]}" build -q --no-cache "$@" -t out "$dir" ;;
        docker) "${D[@]}" build -q --no-cache --network host "$@" -t out "$dir" ;;
    esac >/dev/null 2>"$work/last.err" || { echo "$tool build of $dir failed:" >&2; cat "$work/last.err" >&2; exit 1; }
}
timed() { local t0 t1; t0=$(date +%s.%N); build "$@"; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
median_of() { local i; for i in "$@"; do echo "$i"; done | median; }

declare -A med
kinds="workdir env user label"
for tool in $tools; do
    build "$tool" "$(dockerfile warm)"
    for kind in none $kinds; do
        dir=$(dockerfile "$kind")
        t=()
        for _ in $(seq "$runs"); do t+=("$(timed "$tool" "$dir")"); done
        med["$tool|$kind"]=$(median_of "${t[@]}")
    done
done

# kiln's own time for each WORKDIR step (its done events), median over all of them.
kiln_workdir_ms=-
if has kiln "$tools"; then
    "${K[@]}" build --no-cache --progress json -t out "$work/ctx-workdir" 2>"$work/workdir.json" >/dev/null
    kiln_workdir_ms=$(python3 - "$work/workdir.json" <<'PY'
import json, sys, statistics
ms = []
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("event") == "done" and " WORKDIR " in e.get("name", ""):
        ms.append(sum(e.get("phases_ms", {}).values()) or e.get("elapsed_ms", 0))
print(f"{statistics.median(ms):.1f}" if ms else "-")
PY
)
fi

per_step() { # tool kind: milliseconds one step adds
    local none=${med["$1|none"]:-} t=${med["$1|$2"]:-}
    [ -n "$none" ] && [ -n "$t" ] || { echo "-"; return; }
    echo "($t - $none) * 1000 / $steps" | bc -l | xargs printf '%.1f'
}
printf '\n%-8s %14s %14s %10s\n' step "kiln ms/step" "docker ms/step" docker/kiln
for kind in $kinds; do
    k=$(per_step kiln "$kind") d=$(per_step docker "$kind")
    r=-
    if [ "$k" != - ] && [ "$d" != - ]; then
        r=$(awk -v d="$d" -v k="$k" 'BEGIN { if (k < 0.1) k = 0.1; printf "%.1fx", d / k }')
    fi
    printf '%-8s %14s %14s %10s\n' "${kind^^}" "$k" "$d" "$r"
done
echo
echo "kiln's WORKDIR steps by its own clock (median of $steps, --progress json): $kiln_workdir_ms ms"
echo "Goal (issue 18): each of these steps under 10 ms on any base."
