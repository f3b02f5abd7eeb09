#!/usr/bin/env bash
# kiln vs buildah vs docker build (BuildKit, a private dockerd), same contexts, same run.
#
# Contexts: apt install, multi-stage C build, 20,000-file COPY, a large context mostly
# excluded by .dockerignore, 30 mixed small steps, 20 x RUN true, and a two-stage
# Dockerfile with two independent 2-second RUNs.
# Measures (median of RUNS builds each):
#   cold     every step runs (kiln --no-cache, buildah --layers --no-cache, docker --no-cache)
#   cached   rebuild of an unchanged context
#   change   rebuild after one source file changed (a new content each time)
#   parallel the two-stage Dockerfile, cold (kiln runs independent stages at once)
# Prints a table of medians and ratios (tool time / kiln time: > 1 means kiln is faster).
#
# Usage: bench/harness.sh [-r RUNS] [-c ctx1,ctx2,...] [-m cold,cached,change,parallel]
#                         [-t kiln,buildah,docker] [--prepare-only]
# Contexts: apt cbuild copy20k bigctx mixed30 runtrue. Needs root. Base images: busybox
# (from busybox-static) and a Debian 12 minbase with gcc, made once with debootstrap and
# cached in bench/.cache/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

runs=3
contexts="apt cbuild copy20k bigctx mixed30 runtrue"
measures="cold cached change parallel"
tools="kiln buildah docker"
prepare_only=0
while [ $# -gt 0 ]; do
    case $1 in
        -r) runs=$2; shift 2 ;;
        -c) contexts=${2//,/ }; shift 2 ;;
        -m) measures=${2//,/ }; shift 2 ;;
        -t) tools=${2//,/ }; shift 2 ;;
        --prepare-only) prepare_only=1; shift ;;
        *) echo "usage: $0 [-r RUNS] [-c CONTEXTS] [-m MEASURES] [-t TOOLS] [--prepare-only]" >&2; exit 2 ;;
    esac
done
has() { case " $2 " in *" $1 "*) return 0 ;; esac; return 1; }

bench_deps
for pkg in bc debootstrap docker.io containerd; do
    dpkg -s "$pkg" >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
done

# --- the Debian base (debootstrap once, cached) -------------------------------------
cache="$here/.cache"
mkdir -p "$cache"
debian_tar="$cache/debian12-gcc.tar"
if [ ! -s "$debian_tar" ]; then
    echo "making the Debian 12 base (debootstrap minbase + gcc; cached in $debian_tar) ..." >&2
    mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
    d=$(mktemp -d /var/tmp/kiln-bench-debootstrap.XXXXXX)
    debootstrap --variant=minbase --include=gcc,libc6-dev bookworm "$d/root" "$mirror" >"$d/log" 2>&1 \
        || { tail -20 "$d/log" >&2; rm -rf "$d"; exit 1; }
    rm -rf "$d/root/var/cache/apt/archives/"*.deb "$d/root/var/lib/apt/lists/"*
    tar --numeric-owner -C "$d/root" -cf "$debian_tar.tmp" .
    mv "$debian_tar.tmp" "$debian_tar"
    rm -rf "$d"
fi
[ "$prepare_only" = 1 ] && { echo "prepared: $debian_tar"; exit 0; }

kiln=${KILN:-$here/../target/release/kiln}
[ -x "$kiln" ] || (cd "$here/.." && cargo build --release --locked -q)

# --- work dir, stores, the private dockerd ------------------------------------------
work=$(mktemp -d /var/tmp/kiln-bench-harness.XXXXXX)
# All stores on one tmpfs, as in a CI pod with a memory-backed volume.
mount -t tmpfs -o size=12g kiln-bench "$work"
K=("$kiln" --root "$work/k-store")
B=(buildah --root "$work/b-root" --runroot "$work/b-run" --storage-driver overlay)
D=()
cleanup() {
    bench_dockerd_stop "$work"
    "${B[@]}" rm -a >/dev/null 2>&1 || true
    "${B[@]}" rmi -af >/dev/null 2>&1 || true
    umount -R "$work/b-root" 2>/dev/null || true
    umount -R "$work" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

if has docker "$tools"; then bench_dockerd "$work"; fi

bench_busybox_tar "$work"
import_base() { # tarball name
    "${K[@]}" import "$1" "$2" >/dev/null
    if has buildah "$tools"; then
        local c
        c=$("${B[@]}" from scratch)
        "${B[@]}" add "$c" "$1" / >/dev/null
        "${B[@]}" commit -q "$c" "$2" >/dev/null
        "${B[@]}" rm "$c" >/dev/null
    fi
    if has docker "$tools"; then "${D[@]}" import "$1" "$2" >/dev/null; fi
}
import_base "$work/busybox.tar" busybox:bench
if has apt "$contexts" || has cbuild "$contexts"; then import_base "$debian_tar" debian:bench; fi

# --- contexts -----------------------------------------------------------------------
ctx() { mkdir -p "$work/ctx/$1"; echo "$work/ctx/$1"; }
# change_file: the file each "change" rebuild rewrites, per context.
declare -A change_file
c=$(ctx apt)
cat > "$c/Dockerfile" <<'EOF'
FROM debian:bench
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends jq >/dev/null && rm -rf /var/lib/apt/lists/*
COPY app.json /app.json
RUN jq . /app.json > /app.pretty
EOF
echo '{"version": 0}' > "$c/app.json"; change_file[apt]=app.json

c=$(ctx cbuild)
cat > "$c/Dockerfile" <<'EOF'
FROM debian:bench AS build
WORKDIR /src
COPY util.c util.h ./
RUN gcc -O2 -c util.c -o util.o
COPY main.c ./
RUN gcc -O2 -static main.c util.o -o /hello && /hello
FROM busybox:bench
COPY --from=build /hello /usr/local/bin/hello
CMD ["hello"]
EOF
printf 'int twice(int x);\n' > "$c/util.h"
printf '#include "util.h"\nint twice(int x) { return 2 * x; }\n' > "$c/util.c"
printf '#include <stdio.h>\n#include "util.h"\nint main(void) { printf("%%d\\n", twice(21)); return 0; }\n' > "$c/main.c"
change_file[cbuild]=main.c

c=$(ctx copy20k)
printf 'FROM busybox:bench\nCOPY files /files\nRUN ls /files/d0 | wc -l\n' > "$c/Dockerfile"
for i in $(seq 0 199); do
    mkdir -p "$c/files/d$i"
    for j in $(seq 0 99); do echo "file $i $j" > "$c/files/d$i/f$j"; done
done
change_file[copy20k]=files/d7/f7

c=$(ctx bigctx)
printf 'FROM busybox:bench\nCOPY . /app\nRUN ls -R /app | wc -l\n' > "$c/Dockerfile"
printf 'node_modules\n*.bin\n.git\nbuild/\n' > "$c/.dockerignore"
mkdir -p "$c/src" "$c/node_modules" "$c/build" "$c/.git/objects"
for i in $(seq 0 49); do echo "source $i" > "$c/src/s$i.js"; done
for i in $(seq 0 39); do head -c 5M /dev/urandom > "$c/blob$i.bin"; done
for i in $(seq 0 2999); do mkdir -p "$c/node_modules/m$((i % 300))"; echo "module $i" > "$c/node_modules/m$((i % 300))/i$i.js"; done
for i in $(seq 0 999); do echo "object $i" > "$c/.git/objects/o$i"; done
change_file[bigctx]=src/s3.js

c=$(ctx mixed30)
{
    echo "FROM busybox:bench"
    for i in $(seq 1 6); do
        echo "ENV STEP$i=value$i"
        echo "COPY f$i.txt /data/f$i.txt"
        echo "RUN cat /data/f$i.txt > /data/out$i"
        echo "WORKDIR /w$i"
        echo "LABEL step$i=yes"
    done
} > "$c/Dockerfile"
for i in $(seq 1 6); do echo "content $i" > "$c/f$i.txt"; done
change_file[mixed30]=f4.txt

c=$(ctx runtrue)
{ echo "FROM busybox:bench"; for _ in $(seq 20); do echo "RUN true"; done; } > "$c/Dockerfile"

c=$(ctx parallel)
cat > "$c/Dockerfile" <<'EOF'
FROM busybox:bench AS left
RUN sleep 2 && echo left > /left
FROM busybox:bench AS right
RUN sleep 2 && echo right > /right
FROM busybox:bench
COPY --from=left /left /left
COPY --from=right /right /right
EOF

# --- building -----------------------------------------------------------------------
# build TOOL CTX [extra flags]: one build; fails the harness if the build fails.
build() {
    local tool=$1 dir=$2; shift 2
    case $tool in
        kiln) "${K[@]}" build -q "$@" -t "bench-$(basename "$dir")" "$dir" ;;
        buildah) "${B[@]}" bud --isolation chroot --layers -q "$@" -t "bench-$(basename "$dir")" "$dir" ;;
        docker) "${D[@]}" build -q --network host "$@" -t "bench-$(basename "$dir")" "$dir" ;;
    esac >/dev/null 2>"$work/last.err" || { echo "$tool build of $dir failed:" >&2; cat "$work/last.err" >&2; exit 1; }
}
timed() { # prints seconds
    local t0 t1
    t0=$(date +%s.%N); build "$@"; t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
}
# Each cold build must not reuse anything: kiln and buildah have --no-cache, docker too
# (BuildKit still keeps its base image).
median_of() { printf '%s\n' "$@" | median; }

declare -A result
record() { result["$1|$2|$3"]=$4; } # ctx measure tool seconds

measure_ctx() { # name
    local name=$1 dir="$work/ctx/$1" tool i times
    for tool in $tools; do
        if has cold "$measures"; then
            times=()
            for i in $(seq "$runs"); do times+=("$(timed "$tool" "$dir" --no-cache)"); done
            record "$name" cold "$tool" "$(median_of "${times[@]}")"
        fi
        if has cached "$measures"; then
            build "$tool" "$dir"
            times=()
            for i in $(seq "$runs"); do times+=("$(timed "$tool" "$dir")"); done
            record "$name" cached "$tool" "$(median_of "${times[@]}")"
        fi
        if has change "$measures" && [ -n "${change_file[$name]:-}" ]; then
            local f="$dir/${change_file[$name]}" orig
            orig=$(cat "$f")
            build "$tool" "$dir"
            times=()
            for i in $(seq "$runs"); do
                case $f in
                    *.json) printf '{"version": %d, "tool": "%s"}\n' "$i" "$tool" > "$f" ;;
                    *.c) printf '%s\n/* change %s %d */\n' "$orig" "$tool" "$i" > "$f" ;;
                    *) printf '%s\nchange %s %d\n' "$orig" "$tool" "$i" > "$f" ;;
                esac
                times+=("$(timed "$tool" "$dir")")
            done
            printf '%s\n' "$orig" > "$f"
            record "$name" change "$tool" "$(median_of "${times[@]}")"
        fi
    done
}

echo "kiln bench harness: $runs builds per cell; tools: $tools; $(nproc) CPUs" >&2
for name in $contexts; do
    echo "  $name ..." >&2
    measure_ctx "$name"
done
if has parallel "$measures"; then
    echo "  parallel ..." >&2
    for tool in $tools; do
        times=()
        for i in $(seq "$runs"); do times+=("$(timed "$tool" "$work/ctx/parallel" --no-cache)"); done
        record parallel "cold 2x2s" "$tool" "$(median_of "${times[@]}")"
    done
fi

# --- table --------------------------------------------------------------------------
ratio() { [ -n "$1" ] && [ -n "$2" ] && echo "$2 / $1" | bc -l | xargs printf '%.2fx' || echo "-"; }
secs() { [ -n "$1" ] && printf '%.3f' "$1" || echo "-"; }
printf '\n%-10s %-10s %10s %10s %10s %14s %14s\n' context measure kiln buildah docker buildah/kiln docker/kiln
for name in $contexts parallel; do
    for m in cold cached change "cold 2x2s"; do
        k=${result["$name|$m|kiln"]:-}
        b=${result["$name|$m|buildah"]:-}
        d=${result["$name|$m|docker"]:-}
        [ -z "$k$b$d" ] && continue
        printf '%-10s %-10s %10s %10s %10s %14s %14s\n' "$name" "$m" "$(secs "$k")" "$(secs "$b")" "$(secs "$d")" "$(ratio "$k" "$b")" "$(ratio "$k" "$d")"
    done
done
echo
echo "Goals (issue 6): mixed30 cached: buildah/kiln >= 10x and docker/kiln >= 1x;"
echo "change: buildah/kiln >= 2x; parallel cold 2x2s: kiln about 2 s, not 4 s."
