#!/usr/bin/env bash
# imagectl unpack benchmarks (issue 7), against umoci unpack of the same
# image, in the same run. Reported, never asserted:
#  a. a second bundle from a stored image (layer cache warm): imagectl
#     mounts an overlay over the cached layers, so the cost should not
#     depend on image size; shown for a ~5 MB and a ~300 MB image;
#  b. a cold unpack (empty layer cache) of the ~300 MB, 5-layer image:
#     imagectl overlay (extract each layer once into the cache), imagectl
#     --copy (apply every layer onto one directory), umoci unpack.
# Images are built offline with umoci (busybox from /bin/busybox plus
# generated files), copied into a temp imagectl store with skopeo.
# Usage: bench/unpack.sh   (root; IMAGECTL=path to use a prebuilt binary;
# BIG_MB=300 LAYERS=5 RUNS=10 to change the sizes)
set -euo pipefail
cd "$(dirname "$0")/.."

BIG_MB=${BIG_MB:-300}
LAYERS=${LAYERS:-5}
RUNS=${RUNS:-10}
for t in umoci skopeo; do
    command -v $t >/dev/null || { echo "$t missing: apt-get install $t" >&2; exit 1; }
done
if [ -z "${IMAGECTL:-}" ]; then
    # An optimised build without the workspace's fat LTO (which only slows
    # the build here): sha256 and inflate dominate a cold unpack and are
    # 10x slower unoptimised.
    CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
        cargo build --release -p imagectl -q
    IMAGECTL=target/release/imagectl
fi

# On disk, not tmpfs: the cache and bundles live where a store would.
work=$(mktemp -d /var/tmp/imagectl-bench.XXXXXX)
cleanup() {
    { grep " $work/" /proc/self/mountinfo || true; } | awk '{print $5}' | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
store=$work/store
ictl() { timeout 600 "$IMAGECTL" --root "$store" "$@"; }

now_ns() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }

# build_image TAG MB LAYERS: busybox in the first layer, then MB of files
# (half random, half text: some compress, some do not) over LAYERS layers.
build_image() {
    local tag=$1 mb=$2 n=$3 b=$work/build-$1 i
    umoci new --image "$work/oci:$tag"
    umoci unpack --image "$work/oci:$tag" "$b" >/dev/null
    mkdir -p "$b/rootfs/bin" "$b/rootfs/etc" "$b/rootfs/tmp"
    cp /bin/busybox "$b/rootfs/bin/busybox"
    ln -s busybox "$b/rootfs/bin/sh"; ln -s busybox "$b/rootfs/bin/true"
    echo 'root:x:0:0:root:/root:/bin/sh' >"$b/rootfs/etc/passwd"
    local per=$(( mb / n )) files=200
    for i in $(seq 1 "$n"); do
        local d=$b/rootfs/data/l$i kb=$(( per * 1024 / files )) f
        mkdir -p "$d"
        for f in $(seq 1 $files); do
            if [ $((f % 2)) -eq 0 ]; then
                head -c "${kb}K" /dev/urandom >"$d/$f"
            else
                { yes "layer $i file $f some text that compresses" || true; } | head -c "${kb}K" >"$d/$f"
            fi
        done
        umoci repack --refresh-bundle --image "$work/oci:$tag" "$b" >/dev/null
    done
    umoci config --image "$work/oci:$tag" --config.cmd /bin/true >/dev/null
    rm -rf "$b"
    timeout 600 skopeo copy --quiet "oci:$work/oci:$tag" "oci:$store:docker.io/library/$tag:latest"
}

echo "building images in $work (small ~5 MB, big ~$BIG_MB MB in $LAYERS layers)..."
umoci init --layout "$work/oci"
"$IMAGECTL" --root "$store" images >/dev/null
build_image small 4 1
build_image big "$BIG_MB" "$LAYERS"
ictl images

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# a. second bundle
echo
echo "a. a bundle from a stored image, layer cache warm (median of $RUNS, ms):"
for tag in small big; do
    ictl unpack "$tag" "$work/warm-$tag" 2>/dev/null
    ictl unpack --remove "$work/warm-$tag"
    times=()
    for r in $(seq 1 "$RUNS"); do
        t0=$(now_ns); ictl unpack "$tag" "$work/b-$tag-$r" 2>/dev/null; t1=$(now_ns)
        times+=("$(ms "$t0" "$t1")")
        ictl unpack --remove "$work/b-$tag-$r"
    done
    imed=$(printf '%s\n' "${times[@]}" | median)
    utimes=()
    for r in $(seq 1 3); do
        t0=$(now_ns); timeout 600 umoci unpack --image "$work/oci:$tag" "$work/u-$tag-$r" >/dev/null; t1=$(now_ns)
        utimes+=("$(ms "$t0" "$t1")")
        rm -rf "$work/u-$tag-$r"
    done
    umed=$(printf '%s\n' "${utimes[@]}" | median)
    size=$(du -sm "$store/layers/sha256" | awk '{print $1}')
    printf '  %-6s imagectl (overlay) %5d   umoci unpack (median of 3) %6d   [cache now %s MB]\n' \
        "$tag" "$imed" "$umed" "$size"
done

# b. cold unpack of the big image
echo
echo "b. cold unpack of the big image (empty layer cache, page cache dropped, ms):"
rm -rf "$store/layers/sha256"
cold_ov() { ictl unpack big "$work/cold-ov"; }
cold_cp() { ictl unpack --copy big "$work/cold-cp"; }
cold_um() { timeout 600 umoci unpack --image "$work/oci:big" "$work/cold-um"; }
for f in cold_ov cold_cp cold_um; do
    sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
    t0=$(now_ns); $f >/dev/null 2>"$work/$f.err" || { echo "$f failed: $(cat "$work/$f.err")" >&2; exit 1; }; t1=$(now_ns)
    case $f in
        cold_ov) label="imagectl (overlay, fills cache)";;
        cold_cp) label="imagectl --copy";;
        cold_um) label="umoci unpack";;
    esac
    printf '  %-34s %6d\n' "$label" "$(ms "$t0" "$t1")"
done
du -sm "$work/cold-cp/rootfs" "$work/cold-um/rootfs" | sed 's/^/  rootfs MB: /'
ictl unpack --remove "$work/cold-ov"
ictl unpack --remove "$work/cold-cp"
