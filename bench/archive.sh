#!/usr/bin/env bash
# imagectl save/load benchmark (issue 8), against skopeo on the same image,
# in the same run. Reported, never asserted:
#  - imagectl save (docker-archive, layers decompressed) + imagectl load
#    into an empty store, vs skopeo copy oci:... docker-archive:... +
#    skopeo copy docker-archive:... oci:...;
#  - the same with --format oci-archive (blobs as stored) vs skopeo's
#    oci-archive both ways.
# The image (~300 MB of files in 5 layers, half random half text, plus
# busybox) is built offline with umoci, as bench/unpack.sh does.
# Usage: bench/archive.sh   (root; IMAGECTL=path to use a prebuilt binary;
# BIG_MB=300 LAYERS=5 RUNS=3 to change the sizes)
set -euo pipefail
cd "$(dirname "$0")/.."

BIG_MB=${BIG_MB:-300}
LAYERS=${LAYERS:-5}
RUNS=${RUNS:-3}
for t in umoci skopeo; do
    command -v $t >/dev/null || { echo "$t missing: apt-get install $t" >&2; exit 1; }
done
if [ -z "${IMAGECTL:-}" ]; then
    # Optimised but without the workspace's fat LTO (only slows the build):
    # sha256, inflate and tar copying are 10x slower unoptimised.
    CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
        cargo build --release -p imagectl -q
    IMAGECTL=target/release/imagectl
fi

work=$(mktemp -d /var/tmp/imagectl-bench-archive.XXXXXX)
trap 'rm -rf "$work"' EXIT
store=$work/store
ictl() { timeout 600 "$IMAGECTL" --root "$1" "${@:2}"; }
now_ns() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "building a ~$BIG_MB MB image in $LAYERS layers in $work..."
umoci init --layout "$work/oci"
umoci new --image "$work/oci:big"
b=$work/build
umoci unpack --image "$work/oci:big" "$b" >/dev/null
mkdir -p "$b/rootfs/bin" "$b/rootfs/etc"
cp /bin/busybox "$b/rootfs/bin/busybox"
ln -s busybox "$b/rootfs/bin/sh"
echo 'root:x:0:0:root:/root:/bin/sh' >"$b/rootfs/etc/passwd"
per=$(( BIG_MB / LAYERS )); files=200
for i in $(seq 1 "$LAYERS"); do
    d=$b/rootfs/data/l$i; kb=$(( per * 1024 / files ))
    mkdir -p "$d"
    for f in $(seq 1 $files); do
        if [ $((f % 2)) -eq 0 ]; then
            head -c "${kb}K" /dev/urandom >"$d/$f"
        else
            { yes "layer $i file $f some text that compresses" || true; } | head -c "${kb}K" >"$d/$f"
        fi
    done
    umoci repack --refresh-bundle --image "$work/oci:big" "$b" >/dev/null
done
rm -rf "$b"
ictl "$store" images >/dev/null
timeout 600 skopeo copy --quiet "oci:$work/oci:big" "oci:$store:docker.io/library/big:latest"
ictl "$store" images

# One timed step: prints ms; the command's output is discarded.
step() { local t0 t1; sync; t0=$(now_ns); "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }; t1=$(now_ns); ms "$t0" "$t1"; }

i_save_d() { ictl "$store" save -o "$work/i.tar" big; }
i_load_d() { ictl "$work/s-$1" load -i "$work/i.tar"; }
s_save_d() { timeout 600 skopeo copy -q "oci:$work/oci:big" "docker-archive:$work/s.tar:big:latest"; }
s_load_d() { timeout 600 skopeo copy -q "docker-archive:$work/s.tar" "oci:$work/so-$1:big"; }
i_save_o() { ictl "$store" save --format oci-archive -o "$work/io.tar" big; }
i_load_o() { ictl "$work/t-$1" load -i "$work/io.tar"; }
s_save_o() { timeout 600 skopeo copy -q "oci:$work/oci:big" "oci-archive:$work/so.tar:latest"; }
s_load_o() { timeout 600 skopeo copy -q "oci-archive:$work/so.tar:latest" "oci:$work/sso-$1:big"; }

declare -A T
for r in $(seq 1 "$RUNS"); do
    for f in i_save_d i_load_d s_save_d s_load_d i_save_o i_load_o s_save_o s_load_o; do
        T[$f]+="$(step $f "$r") "
    done
    rm -rf "$work"/s-* "$work"/so-* "$work"/t-* "$work"/sso-* "$work"/*.tar
done
med() { printf '%s\n' ${T[$1]} | median; }
size=$(du -sm "$store/blobs" | awk '{print $1}')
echo
echo "save + load of a $BIG_MB MB / $LAYERS-layer image (stored gzip: $size MB), median of $RUNS, ms:"
printf '  %-16s %8s %8s %8s\n' "" save load total
printf '  %-16s %8d %8d %8d\n' "imagectl docker" "$(med i_save_d)" "$(med i_load_d)" $(( $(med i_save_d) + $(med i_load_d) ))
printf '  %-16s %8d %8d %8d\n' "skopeo docker" "$(med s_save_d)" "$(med s_load_d)" $(( $(med s_save_d) + $(med s_load_d) ))
printf '  %-16s %8d %8d %8d\n' "imagectl oci" "$(med i_save_o)" "$(med i_load_o)" $(( $(med i_save_o) + $(med i_load_o) ))
printf '  %-16s %8d %8d %8d\n' "skopeo oci" "$(med s_save_o)" "$(med s_load_o)" $(( $(med s_save_o) + $(med s_load_o) ))
echo "(skopeo docker load = docker-archive -> oci layout, which recompresses each layer with gzip;"
echo " imagectl load keeps docker-archive layers uncompressed, as they come)"
